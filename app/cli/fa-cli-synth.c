/* flowanchor synth: a synthetic test clip with its ground-truth masks, as
 * PNG files and optionally as a video.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "flowanchor-synth"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fa-cli.h"
#include "fa-error.h"
#include "fa-export.h"
#include "fa-png.h"
#include "fa-synthetic.h"

static const struct {
  const char *name;
  FaSynthMotion motion;
} motions[] = {
  { "translate", FA_SYNTH_TRANSLATE },
  { "rotate", FA_SYNTH_ROTATE },
  { "scale", FA_SYNTH_SCALE },
  { "occlude", FA_SYNTH_OCCLUDE },
};

/* A whole decimal number in [lo, hi], nothing else. */
static gboolean
parse_int (const char *text, gint64 lo, gint64 hi, gint64 *out)
{
  char *end = NULL;

  if (text == NULL || *text == '\0' || g_ascii_isspace (*text))
    return FALSE;
  errno = 0;
  gint64 value = g_ascii_strtoll (text, &end, 10);
  if (errno != 0 || *end != '\0' || value < lo || value > hi)
    return FALSE;
  *out = value;
  return TRUE;
}

static int
usage_error (const char *message)
{
  fprintf (stderr, "flowanchor synth: %s (see --help)\n", message);
  return FA_CLI_USAGE;
}

int
fa_cli_synth (int argc, char **argv)
{
  g_autofree char *motion_name = NULL;
  g_autofree char *size = NULL;
  g_autofree char *seed_text = NULL;
  g_autofree char *out_dir = NULL;
  g_autofree char *clip_path = NULL;
  int n_frames = -1, fps = -1;
  const GOptionEntry entries[] = {
    { "motion", 'm', 0, G_OPTION_ARG_STRING, &motion_name, "translate, rotate, scale or occlude", "MOTION" },
    { "size", 's', 0, G_OPTION_ARG_STRING, &size, "Frame size (832x480)", "WxH" },
    { "frames", 'n', 0, G_OPTION_ARG_INT, &n_frames, "Frame count (81)", "N" },
    { "fps", 0, 0, G_OPTION_ARG_INT, &fps, "Frame rate of the clip (16)", "N" },
    { "seed", 0, 0, G_OPTION_ARG_STRING, &seed_text, "Textures and paths (0)", "N" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out_dir, "Folder for frame-NNN.png and mask-NNN.png", "DIR" },
    { "clip", 0, 0, G_OPTION_ARG_FILENAME, &clip_path, "Also write the clip as a video (.mp4 or .webm)", "FILE" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("--motion MOTION --out DIR");
  g_autoptr (GError) error = NULL;
  FaSynthOptions options;

  fa_synth_options_init (&options);
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (context,
                                "Renders a synthetic test clip: textured shapes over a moving textured\n"
                                "background, the tracked shape moving as MOTION says. Writes each frame\n"
                                "(frame-NNN.png) and the tracked shape's exact mask (mask-NNN.png) to DIR,\n"
                                "and with --clip the frames as a video. The same seed gives the same clip.");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return usage_error (error->message);
  if (argc != 1)
    return usage_error ("unexpected arguments");
  if (motion_name == NULL)
    return usage_error ("--motion is required");
  if (out_dir == NULL)
    return usage_error ("--out is required");

  gboolean known = FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (motions); i++)
    if (g_strcmp0 (motion_name, motions[i].name) == 0)
      {
        options.motion = motions[i].motion;
        known = TRUE;
      }
  if (!known)
    {
      g_autofree char *message =
        g_strdup_printf ("unknown --motion '%s'; expected translate, rotate, scale or occlude", motion_name);
      return usage_error (message);
    }
  if (size != NULL && !fa_cli_parse_size (size, G_MAXINT, &options.width, &options.height))
    {
      g_autofree char *message = g_strdup_printf ("--size '%s' is not WIDTHxHEIGHT (e.g. 832x480)", size);
      return usage_error (message);
    }
  if (n_frames != -1)
    options.n_frames = n_frames;
  if (fps != -1)
    options.fps = fps;
  gint64 seed = 0;
  if (seed_text != NULL)
    {
      if (!parse_int (seed_text, 0, G_MAXUINT32, &seed))
        {
          g_autofree char *message = g_strdup_printf ("--seed '%s' is not a whole number in [0, %u]", seed_text,
                                                      G_MAXUINT32);
          return usage_error (message);
        }
      options.seed = (guint32) seed;
    }

  if (g_mkdir_with_parents (out_dir, 0755) != 0)
    {
      int saved = errno;
      fprintf (stderr, "flowanchor synth: cannot create the folder %s: %s\n", out_dir, g_strerror (saved));
      return FA_CLI_FAILED;
    }
  /* a clip that cannot be written should not cost a render first */
  if (clip_path != NULL)
    {
      g_autofree char *clip_dir = g_path_get_dirname (clip_path);
      if (!g_file_test (clip_dir, G_FILE_TEST_IS_DIR))
        {
          fprintf (stderr, "flowanchor synth: cannot write %s: the folder %s does not exist\n", clip_path, clip_dir);
          return FA_CLI_FAILED;
        }
    }

  gint64 start = g_get_monotonic_time ();
  g_autoptr (FaSynthClip) synth = fa_synth_clip_new (&options, &error);
  if (synth == NULL)
    {
      /* the options are what the user typed: bad values are a usage error */
      fprintf (stderr, "flowanchor synth: %s\n", error->message);
      return g_error_matches (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT) ? FA_CLI_USAGE : FA_CLI_FAILED;
    }
  double render_s = (g_get_monotonic_time () - start) / 1e6;

  const FaWorkingClip *clip = fa_synth_clip_get_clip (synth);
  for (int t = 0; t < clip->n_frames; t++)
    {
      char name[32];
      g_snprintf (name, sizeof name, "frame-%03d.png", t);
      g_autofree char *frame_path = g_build_filename (out_dir, name, NULL);
      g_snprintf (name, sizeof name, "mask-%03d.png", t);
      g_autofree char *mask_path = g_build_filename (out_dir, name, NULL);
      if (!fa_png_save (frame_path, fa_working_clip_frame (clip, t), clip->width, clip->height, 3, &error) ||
          !fa_png_save (mask_path, fa_synth_clip_get_mask (synth, t), clip->width, clip->height, 1, &error))
        {
          fprintf (stderr, "flowanchor synth: %s\n", error->message);
          return FA_CLI_FAILED;
        }
    }
  printf ("%d frames of %d×%d (%s, seed %u) rendered in %.2f s, written with their masks to %s\n", clip->n_frames,
          clip->width, clip->height, motion_name, options.seed, render_s, out_dir);

  if (clip_path != NULL)
    {
      FaExportOptions export_options;
      fa_export_options_init (&export_options);
      if (!fa_export (clip, NULL, clip_path, &export_options, NULL, &error))
        {
          fprintf (stderr, "flowanchor synth: %s\n", error->message);
          return FA_CLI_FAILED;
        }
      printf ("clip written to %s\n", clip_path);
    }
  return FA_CLI_OK;
}
