/* flowanchor: the command-line face of the engine.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "flowanchor"

#include "config.h"

#include <locale.h>
#include <stdio.h>

#include "fa-cli.h"

static const struct {
  const char *name;
  int (*run) (int argc, char **argv);
  const char *summary;
} verbs[] = {
  { "inspect", fa_cli_inspect, "list the tensors of a checkpoint file, sharded set or model folder" },
  { "doctor", fa_cli_doctor, "report backends, GStreamer elements and the model folder" },
  { "model", fa_cli_model, "'model status': where Wan2.1 was found (Hugging Face cache, folders, ComfyUI)\n"
    "            and whether it is complete; 'model download': fetch it from the Hugging Face hub\n"
    "            into its cache (resumable)" },
  { "edit", fa_cli_edit, "edit a clip with FlowAnchor (from options or a project), export it" },
  { "probe", fa_cli_probe, "print what a clip holds: size, rate, duration, rotation, codecs, audio" },
  { "mask", fa_cli_mask, "'mask propagate': carry keyframe masks through a clip by optical flow" },
  { "synth", fa_cli_synth, "write a synthetic test clip with its ground-truth masks" },
  { "bench", fa_cli_bench, "time the engine: 'bench ops', 'bench dit', 'bench t5', 'bench vae', 'bench flow',\n"
    "            'bench edit'" },
  { "debug", fa_cli_debug, "'debug dit' (one DiT forward), 'debug tokenize', 'debug t5' (a prompt's context),\n"
    "            'debug vae-encode', 'debug vae-decode' (a clip to a latent and back)" },
};

static void
print_usage (FILE *stream)
{
  fprintf (stream, "Usage: flowanchor [--version] [--help] VERB [ARGS…]\n\nVerbs:\n");
  for (guint i = 0; i < G_N_ELEMENTS (verbs); i++)
    fprintf (stream, "  %-9s %s\n", verbs[i].name, verbs[i].summary);
  fprintf (stream, "\n'flowanchor VERB --help' describes a verb.\n");
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");

  if (argc < 2)
    {
      print_usage (stderr);
      return FA_CLI_USAGE;
    }
  if (g_str_equal (argv[1], "--version") || g_str_equal (argv[1], "version"))
    {
      printf ("flowanchor %s\n", PACKAGE_VERSION);
      return FA_CLI_OK;
    }
  if (g_str_equal (argv[1], "--help") || g_str_equal (argv[1], "-h") || g_str_equal (argv[1], "help"))
    {
      print_usage (stdout);
      return FA_CLI_OK;
    }
  for (guint i = 0; i < G_N_ELEMENTS (verbs); i++)
    if (g_str_equal (argv[1], verbs[i].name))
      return verbs[i].run (argc - 1, argv + 1);

  fprintf (stderr, "flowanchor: unknown verb '%s'\n\n", argv[1]);
  print_usage (stderr);
  return FA_CLI_USAGE;
}
