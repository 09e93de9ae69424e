/* flowanchor bench t5: the umT5 encoder from the command line.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "flowanchor-t5"

#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "fa-cli.h"
#include "fa-error.h"
#include "fa-umt5.h"

/* FLOP of one encode of @n tokens (2 per multiply-add): the projections,
 * the attention cores and the gated FFN. The embedding gather and the
 * position bias (a small GEMM on CUDA) are left out. */
static double
encode_flop (const FaUmt5Config *c, gint64 n)
{
  double d = c->d_model, inner = (double) c->num_heads * c->d_kv, f = c->d_ff, t = (double) n;
  double per_layer = 2 * t * d * inner * 4 + 2 * 2 * t * t * inner + 2 * t * d * f * 3;
  return c->num_layers * per_layer;
}

static gboolean
run_bench_t5 (const char *model_path, gboolean random_weights, int layers, int tokens, const char *device,
              int repeat, GError **error)
{
  g_autoptr (FaBackend) backend = fa_cli_backend_by_name (device, error);
  if (backend == NULL)
    return FALSE;
  gboolean on_cuda = fa_backend_get_device (backend) == FA_DEVICE_CUDA;

  g_autoptr (FaUmt5) model = NULL;
  gint64 start = g_get_monotonic_time ();
  if (random_weights)
    {
      /* the real widths and vocabulary: the embedding is generated row by
       * row when gathered, so its billion values take no memory */
      FaUmt5Config c;
      fa_umt5_config_init_xxl (&c);
      c.num_layers = layers > 0 ? layers : on_cuda ? 24 : 2;
      model = fa_umt5_new_random (&c, backend, 1234, error);
    }
  else
    model = fa_umt5_load (model_path, backend, error);
  if (model == NULL)
    return FALSE;
  double load_seconds = (g_get_monotonic_time () - start) / 1e6;
  const FaUmt5Config *c = fa_umt5_get_config (model);
  guint64 weights_bytes = 0;
  fa_backend_get_memory (backend, &weights_bytes, NULL);

  /* any ids will do; a prompt ends with </s> (id 1) */
  g_autofree gint32 *ids = g_new (gint32, tokens);
  guint32 state = 12345;
  for (int i = 0; i < tokens; i++)
    {
      state = state * 1664525u + 1013904223u;
      ids[i] = (gint32) ((state >> 8) % (guint32) c->vocab_size);
    }
  ids[tokens - 1] = MIN (1, c->vocab_size - 1);

  /* one untimed encode sizes the arena and warms up the libraries */
  g_autoptr (FaTensor) warm = fa_umt5_encode (model, ids, tokens, error);
  if (warm == NULL)
    return FALSE;
  g_autofree double *seconds = g_new (double, repeat);
  for (int r = 0; r < repeat; r++)
    {
      start = g_get_monotonic_time ();
      g_autoptr (FaTensor) out = fa_umt5_encode (model, ids, tokens, error);
      if (out == NULL)
        return FALSE;
      seconds[r] = (g_get_monotonic_time () - start) / 1e6;
    }
  double median = fa_cli_median (seconds, repeat);

  guint64 peak = 0;
  fa_backend_get_memory (backend, NULL, &peak);
  double flop = encode_flop (c, tokens);
  g_autofree char *peak_text = g_format_size_full (peak, G_FORMAT_SIZE_IEC_UNITS);
  g_autofree char *weights_text = g_format_size_full (weights_bytes, G_FORMAT_SIZE_IEC_UNITS);
  printf ("%s\n", fa_backend_get_description (backend));
  printf ("model: %s, %d layers, d_model %d, %d heads × %d, d_ff %d, vocabulary %d, ready in %.1f s\n",
          random_weights ? "random weights (umT5-XXL widths; embedding rows generated per id)" : model_path,
          c->num_layers, c->d_model, c->num_heads, c->d_kv, c->d_ff, c->vocab_size, load_seconds);
  printf ("input: %d tokens\n", tokens);
  printf ("encode: %.1f ms (median of %d), %.3f TFLOP/s, %.3g TFLOP\n", median * 1e3, repeat,
          flop / median / 1e12, flop / 1e12);
  printf ("peak %s memory during an encode: %s (weights %s, the rest activations and scratch)\n",
          fa_device_get_name (fa_backend_get_device (backend)), peak_text, weights_text);
  return TRUE;
}

int
fa_cli_bench_t5 (int argc, char **argv)
{
  g_autofree char *model = NULL, *device = NULL;
  gboolean random_weights = FALSE;
  int layers = 0, tokens = 512, repeat = 3;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model,
      "text_encoder/ folder, index.json, checkpoint or pipeline folder", "PATH" },
    { "random-weights", 0, 0, G_OPTION_ARG_NONE, &random_weights, "Random weights of umT5-XXL's shapes", NULL },
    { "layers", 0, 0, G_OPTION_ARG_INT, &layers,
      "With --random-weights: the layers (default 24 on CUDA, 2 on the CPU)", "N" },
    { "tokens", 'n', 0, G_OPTION_ARG_INT, &tokens, "Prompt length in tokens (default 512, Wan's maximum)", "N" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "cpu, cuda or auto (default)", "NAME" },
    { "repeat", 'r', 0, G_OPTION_ARG_INT, &repeat, "Timed encodes; the median is shown (default 3)", "R" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("t5");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (context, "Times umT5 encodes of one prompt: milliseconds per encode, achieved\n"
                                         "TFLOP/s and peak device memory. Prints figures; asserts nothing.");
  if (!g_option_context_parse (context, &argc, &argv, &error) || (model == NULL) == !random_weights ||
      tokens < 1 || tokens > 16384 || repeat < 1 || layers < 0 || argc != 1)
    {
      fprintf (stderr, "flowanchor bench t5: %s\n",
               error ? error->message : "give --model PATH or --random-weights (tokens in [1, 16384])");
      return FA_CLI_USAGE;
    }

  if (!run_bench_t5 (model, random_weights, layers, tokens, device, repeat, &error))
    {
      fprintf (stderr, "flowanchor bench t5: %s\n", error->message);
      return FA_CLI_FAILED;
    }
  return FA_CLI_OK;
}
