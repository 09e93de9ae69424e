/* flowanchor debug dit / bench dit: the Wan DiT from the command line.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "flowanchor-dit"

#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "fa-cli.h"
#include "fa-error.h"
#include "fa-wan-dit.h"

static FaWanDit *
load_model (const char *model, const char *config, FaBackend *backend, GError **error)
{
  if (config == NULL)
    return fa_wan_dit_load (model, backend, error);
  g_autoptr (FaWeights) weights = fa_weights_open (model, error);
  return weights ? fa_wan_dit_load_weights (weights, config, backend, error) : NULL;
}

/* An input tensor, as f32 on @backend. */
static FaTensor *
read_input (FaSafetensors *file, const char *prefix, const char *name, FaBackend *backend, GError **error)
{
  g_autofree char *full = g_strconcat (prefix, name, NULL);
  const FaSafetensorsEntry *entry = fa_safetensors_lookup (file, full);
  if (entry == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND, "%s has no tensor '%s'",
                   fa_safetensors_get_path (file), full);
      return NULL;
    }
  g_autoptr (FaTensor) view = fa_safetensors_view_tensor (file, entry, error);
  return view ? fa_tensor_to (view, backend, FA_DTYPE_F32, error) : NULL;
}

/* ---- debug dit ---- */

static gboolean
run_debug_dit (const char *model, const char *config, const char *inputs, const char *prefix,
               const char *out, const char *device, GError **error)
{
  g_autoptr (FaBackend) backend = fa_cli_backend_by_name (device, error);
  g_autoptr (FaWanDit) dit = backend ? load_model (model, config, backend, error) : NULL;
  g_autoptr (FaSafetensors) file = dit ? fa_safetensors_open (inputs, error) : NULL;
  g_autoptr (FaTensor) latents = file ? read_input (file, prefix, "latents", backend, error) : NULL;
  g_autoptr (FaTensor) context_rows = latents ? read_input (file, prefix, "context", backend, error) : NULL;
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  g_autoptr (FaTensor) timesteps = context_rows ? read_input (file, prefix, "timestep", cpu, error) : NULL;
  if (timesteps == NULL)
    return FALSE;
  if (latents->ndim != 5 || timesteps->ndim != 1 || timesteps->shape[0] != latents->shape[0] ||
      context_rows->ndim != 3 || context_rows->shape[0] != latents->shape[0])
    {
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "inputs must be latents [B,C,F,H,W], timestep [B] and "
                   "context [B,L,text_dim] with one B");
      return FALSE;
    }

  g_autoptr (GPtrArray) texts = g_ptr_array_new_with_free_func ((GDestroyNotify) fa_wan_dit_text_free);
  for (gint64 b = 0; b < latents->shape[0]; b++)
    {
      g_autoptr (FaTensor) row = fa_tensor_narrow (context_rows, 0, b, 1, error);
      FaWanDitText *text = row ? fa_wan_dit_encode_text (dit, row, error) : NULL;
      if (text == NULL)
        return FALSE;
      g_ptr_array_add (texts, text);
    }

  g_autoptr (FaTensor) velocity = fa_tensor_new (backend, FA_DTYPE_F32, 5, latents->shape, error);
  if (velocity == NULL ||
      !fa_wan_dit_forward (dit, latents, fa_tensor_get_data (timesteps), (FaWanDitText *const *) texts->pdata,
                           velocity, NULL, error))
    return FALSE;

  g_autoptr (GHashTable) metadata = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (metadata, "model", (gpointer) model);
  g_hash_table_insert (metadata, "backend", (gpointer) fa_backend_get_description (backend));
  g_hash_table_insert (metadata, "inputs", (gpointer) inputs);
  const char *names[] = { "velocity" };
  return fa_safetensors_write (out, 1, names, &velocity, metadata, error);
}

static int
debug_dit (int argc, char **argv)
{
  g_autofree char *model = NULL, *config = NULL, *inputs = NULL, *out = NULL, *device = NULL, *prefix = NULL;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "Transformer folder, index.json or checkpoint file", "PATH" },
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config, "config.json for a single file (else inferred)", "PATH" },
    { "inputs", 'i', 0, G_OPTION_ARG_FILENAME, &inputs, "safetensors with latents [B,C,F,H,W], timestep [B], context [B,L,text_dim]", "FILE" },
    { "prefix", 'p', 0, G_OPTION_ARG_STRING, &prefix, "Prefix of the input names (e.g. case0.)", "TEXT" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Where to write velocity [B,C,F,H,W]", "FILE" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "cpu, cuda or auto (default)", "NAME" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("dit");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (context, "Runs one DiT forward on inputs from a file and writes the velocity,\n"
                                         "so the engine can be compared with any other reference.");
  if (!g_option_context_parse (context, &argc, &argv, &error) || model == NULL || inputs == NULL || out == NULL)
    {
      fprintf (stderr, "flowanchor debug dit: %s\n", error ? error->message : "--model, --inputs and --out are needed");
      return FA_CLI_USAGE;
    }

  if (!run_debug_dit (model, config, inputs, prefix ? prefix : "", out, device, &error))
    {
      fprintf (stderr, "flowanchor debug dit: %s\n", error->message);
      return FA_CLI_FAILED;
    }
  printf ("wrote %s\n", out);
  return FA_CLI_OK;
}

/* ---- bench dit ---- */

/* FLOP of one forward per batch element (2 per multiply-add), from the
 * model of notes/gpu-performance.md: projections, attention cores, FFN;
 * cross-attention K/V are cached per prompt and left out. */
static double
forward_flop (const FaWanDitConfig *c, gint64 tokens, gint64 text_rows)
{
  double n = tokens, d = c->dim, f = c->ffn_dim, l = text_rows;
  double per_layer = 8 * n * d * d + 4 * n * n * d + 4 * n * d * d + 4 * n * l * d + 4 * n * d * f;
  double patch = (double) c->patch[0] * c->patch[1] * c->patch[2];
  return c->num_layers * per_layer + 2 * n * d * patch * (c->in_channels + c->out_channels);
}

static gboolean
run_bench_dit (const char *model, const char *config, gboolean random_weights, int layers, int frames,
               int height, int width, int batch, const char *device, int repeat, GError **error)
{
  g_autoptr (FaBackend) backend = fa_cli_backend_by_name (device, error);
  if (backend == NULL)
    return FALSE;
  gboolean on_cuda = fa_backend_get_device (backend) == FA_DEVICE_CUDA;
  frames = frames ? frames : on_cuda ? 81 : 5;
  height = height ? height : on_cuda ? 480 : 64;
  width = width ? width : on_cuda ? 832 : 96;
  if ((frames - 1) % 4 != 0 || height % 16 != 0 || width % 16 != 0 || frames < 1)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "frames must be 4k+1 and height, width multiples of 16");
      return FALSE;
    }

  g_autoptr (FaWanDit) dit = NULL;
  gint64 start = g_get_monotonic_time ();
  if (random_weights)
    {
      FaWanDitConfig c;
      fa_wan_dit_config_init_1_3b (&c);
      if (layers > 0)
        c.num_layers = layers;
      dit = fa_wan_dit_new_random (&c, backend, 1234, error);
    }
  else
    dit = load_model (model, config, backend, error);
  if (dit == NULL)
    return FALSE;
  double load_seconds = (g_get_monotonic_time () - start) / 1e6;

  const FaWanDitConfig *c = fa_wan_dit_get_config (dit);
  const gint64 shape[] = { batch, c->in_channels, (frames - 1) / 4 + 1, height / 8, width / 8 };
  const gint64 text_rows = 512;
  gint64 numel = shape[0] * shape[1] * shape[2] * shape[3] * shape[4];
  g_autofree float *host = g_new (float, numel);
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  for (gint64 i = 0; i < numel; i++)
    host[i] = (float) g_rand_double_range (rand, -1, 1);
  g_autofree float *zeros = g_new0 (float, text_rows * c->text_dim);
  g_autoptr (FaTensor) host_latents = fa_tensor_new_wrapping (FA_DTYPE_F32, 5, shape, host, NULL, NULL, error);
  g_autoptr (FaTensor) host_context = fa_tensor_new_wrapping (FA_DTYPE_F32, 2, (gint64[]) { text_rows, c->text_dim },
                                                              zeros, NULL, NULL, error);
  g_autoptr (FaTensor) latents = host_latents ? fa_tensor_to (host_latents, backend, FA_DTYPE_F32, error) : NULL;
  g_autoptr (FaTensor) context_rows = latents ? fa_tensor_to (host_context, backend, FA_DTYPE_F32, error) : NULL;
  g_autoptr (FaTensor) velocity = context_rows ? fa_tensor_new (backend, FA_DTYPE_F32, 5, shape, error) : NULL;
  g_autoptr (FaWanDitText) text = velocity ? fa_wan_dit_encode_text (dit, context_rows, error) : NULL;
  if (text == NULL)
    return FALSE;

  g_autofree FaWanDitText **texts = g_new (FaWanDitText *, batch);
  g_autofree float *timesteps = g_new (float, batch);
  for (int b = 0; b < batch; b++)
    {
      texts[b] = text;
      timesteps[b] = 900.0f - 100.0f * b;
    }

  g_autofree double *seconds = g_new (double, repeat);
  if (!fa_wan_dit_forward (dit, latents, timesteps, texts, velocity, NULL, error))
    return FALSE;
  for (int r = 0; r < repeat; r++)
    {
      start = g_get_monotonic_time ();
      if (!fa_wan_dit_forward (dit, latents, timesteps, texts, velocity, NULL, error))
        return FALSE;
      seconds[r] = (g_get_monotonic_time () - start) / 1e6;
    }
  double median = fa_cli_median (seconds, repeat);

  gint64 tokens = shape[2] * (shape[3] / c->patch[1]) * (shape[4] / c->patch[2]);
  double flop = forward_flop (c, tokens, text_rows) * batch;
  guint64 peak = 0;
  fa_backend_get_memory (backend, NULL, &peak);
  g_autofree char *peak_text = g_format_size_full (peak, G_FORMAT_SIZE_IEC_UNITS);
  printf ("%s\n", fa_backend_get_description (backend));
  printf ("model: %s, %d layers, dim %d, loaded in %.1f s\n", random_weights ? "random weights (1.3B shapes)" : model,
          c->num_layers, c->dim, load_seconds);
  printf ("input: batch %d × %d frames × %d×%d pixels = %" G_GINT64_FORMAT " tokens each\n", batch, frames,
          height, width, tokens);
  printf ("forward: %.1f ms (median of %d), %.3f TFLOP/s, %.3g TFLOP\n", median * 1e3, repeat,
          flop / median / 1e12, flop / 1e12);
  printf ("peak %s memory during a forward: %s (weights, caches and activations)\n",
          fa_device_get_name (fa_backend_get_device (backend)), peak_text);
  return TRUE;
}

static int
bench_dit (int argc, char **argv)
{
  g_autofree char *model = NULL, *config = NULL, *device = NULL;
  gboolean random_weights = FALSE;
  int frames = 0, height = 0, width = 0, batch = 1, repeat = 3, layers = 0;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "Transformer folder, index.json or checkpoint file", "PATH" },
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config, "config.json for a single file", "PATH" },
    { "random-weights", 0, 0, G_OPTION_ARG_NONE, &random_weights, "Random weights of the 1.3B shapes", NULL },
    { "layers", 0, 0, G_OPTION_ARG_INT, &layers, "With --random-weights: fewer blocks than 30 (quick CPU runs)", "N" },
    { "frames", 'f', 0, G_OPTION_ARG_INT, &frames, "Video frames, 4k+1 (default 81 on CUDA, 5 on the CPU)", "F" },
    { "height", 'H', 0, G_OPTION_ARG_INT, &height, "Video height in pixels, a multiple of 16 (default 480 / 64)", "H" },
    { "width", 'W', 0, G_OPTION_ARG_INT, &width, "Video width in pixels, a multiple of 16 (default 832 / 96)", "W" },
    { "batch", 'b', 0, G_OPTION_ARG_INT, &batch, "Batch size (4 = one FlowEdit step)", "B" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "cpu, cuda or auto (default)", "NAME" },
    { "repeat", 'r', 0, G_OPTION_ARG_INT, &repeat, "Timed forwards; the median is shown", "R" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("dit");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (context, "Times DiT forwards: milliseconds per forward, achieved TFLOP/s and\n"
                                         "peak device memory. Prints figures; asserts nothing.");
  if (!g_option_context_parse (context, &argc, &argv, &error) || (model == NULL) == !random_weights ||
      batch < 1 || repeat < 1)
    {
      fprintf (stderr, "flowanchor bench dit: %s\n", error ? error->message : "give --model PATH or --random-weights");
      return FA_CLI_USAGE;
    }

  if (!run_bench_dit (model, config, random_weights, layers, frames, height, width, batch, device, repeat,
                      &error))
    {
      fprintf (stderr, "flowanchor bench dit: %s\n", error->message);
      return FA_CLI_FAILED;
    }
  return FA_CLI_OK;
}

int
fa_cli_debug (int argc, char **argv)
{
  if (argc >= 2 && g_str_equal (argv[1], "dit"))
    return debug_dit (argc - 1, argv + 1);
  if (argc >= 2 && g_str_equal (argv[1], "tokenize"))
    return fa_cli_debug_tokenize (argc - 1, argv + 1);
  if (argc >= 2 && g_str_equal (argv[1], "t5"))
    return fa_cli_debug_t5 (argc - 1, argv + 1);
  if (argc >= 2 && g_str_equal (argv[1], "vae-encode"))
    return fa_cli_debug_vae_encode (argc - 1, argv + 1);
  if (argc >= 2 && g_str_equal (argv[1], "vae-decode"))
    return fa_cli_debug_vae_decode (argc - 1, argv + 1);
  fprintf (stderr, "flowanchor debug: expected 'dit', 'tokenize', 't5', 'vae-encode' or 'vae-decode' "
                   "(flowanchor debug dit --help)\n");
  return FA_CLI_USAGE;
}

int
fa_cli_bench_dit (int argc, char **argv)
{
  return bench_dit (argc, argv);
}
