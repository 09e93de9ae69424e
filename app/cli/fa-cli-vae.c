/* flowanchor debug vae-encode / vae-decode, bench vae: the Wan VAE from the
 * command line.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "flowanchor-vae"

#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fa-cli.h"
#include "fa-error.h"
#include "fa-random.h"
#include "fa-safetensors.h"
#include "fa-wan-vae.h"

#define DEFAULT_TILE_SIZE 256
#define DEFAULT_TILE_OVERLAP 64

/* ---- what the verbs share ---- */

typedef struct {
  gboolean tile;
  int tile_size;
  int tile_overlap;
  gboolean raw;
  gboolean progress;
} VaeRunOptions;

/* A size given without --tile asks for tiling all the same: nobody types
 * --tile-size to have it ignored. */
static gboolean
check_tiling (VaeRunOptions *run, const char **out_message)
{
  if (run->tile_size != 0 || run->tile_overlap != 0)
    run->tile = TRUE;
  if (run->tile_size == 0)
    run->tile_size = DEFAULT_TILE_SIZE;
  if (run->tile_overlap == 0)
    run->tile_overlap = DEFAULT_TILE_OVERLAP;
  if (run->tile_size < 8 || run->tile_size % 8 != 0 || run->tile_overlap < 0 || run->tile_overlap % 8 != 0 ||
      run->tile_overlap >= run->tile_size)
    {
      *out_message = "--tile-size and --tile-overlap must be multiples of 8, the overlap smaller than the tile";
      return FALSE;
    }
  return TRUE;
}

static char *
describe_tiling (const VaeRunOptions *run)
{
  if (!run->tile)
    return g_strdup ("off");
  return g_strdup_printf ("%d-pixel tiles, %d pixels of overlap", run->tile_size, run->tile_overlap);
}

static void
print_progress (guint done, guint total, gpointer user_data)
{
  fprintf (stderr, "%s: chunk %u/%u\n", (const char *) user_data, done, total);
}

static void
fill_options (FaWanVaeOptions *options, const VaeRunOptions *run, const char *stage)
{
  *options = (FaWanVaeOptions) {
    .tile = run->tile,
    .tile_size = run->tile_size,
    .tile_overlap = run->tile_overlap,
    .raw_latents = run->raw,
  };
  /* progress lines are for someone watching, not for a log or a pipe */
  if (run->progress || isatty (fileno (stderr)))
    {
      options->progress = print_progress;
      options->progress_user_data = (gpointer) stage;
    }
}

/* ---- debug vae-encode / vae-decode ---- */

/* The one tensor of @file (or the one named @name) as a host f32 tensor
 * with a batch axis; @out_batched says whether the file had one. */
static FaTensor *
read_input (FaSafetensors *file, const char *name, FaBackend *cpu, gboolean *out_batched, GError **error)
{
  const char *path = fa_safetensors_get_path (file);
  const FaSafetensorsEntry *entry;

  if (name != NULL)
    {
      entry = fa_safetensors_lookup (file, name);
      if (entry == NULL)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND, "%s has no tensor '%s'", path, name);
          return NULL;
        }
    }
  else if (fa_safetensors_get_n_tensors (file) == 1)
    entry = fa_safetensors_get_entry (file, 0);
  else
    {
      g_autoptr (GString) names = g_string_new (NULL);
      guint n = fa_safetensors_get_n_tensors (file);
      for (guint i = 0; i < MIN (n, 5); i++)
        g_string_append_printf (names, "%s%s", i ? ", " : "", fa_safetensors_get_entry (file, i)->name);
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "%s holds %u tensors; name one with --tensor%s%s%s",
                   path, n, n ? " (" : "", names->str, n > 5 ? ", …)" : n ? ")" : "");
      return NULL;
    }

  if (entry->dtype != FA_DTYPE_F32 && entry->dtype != FA_DTYPE_F16 && entry->dtype != FA_DTYPE_BF16)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_DTYPE, "%s: '%s' is %s; the VAE takes f32, f16 or bf16", path,
                   entry->name, fa_dtype_get_name (entry->dtype));
      return NULL;
    }
  if (entry->ndim != 4 && entry->ndim != 5)
    {
      g_autofree char *shape = fa_shape_to_string (entry->ndim, entry->shape);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "%s: '%s' is %s; expected [B, C, T, H, W] or [C, T, H, W]",
                   path, entry->name, shape);
      return NULL;
    }

  g_autoptr (FaTensor) view = fa_safetensors_view_tensor (file, entry, error);
  g_autoptr (FaTensor) values = view ? fa_tensor_to (view, cpu, FA_DTYPE_F32, error) : NULL;
  if (values == NULL)
    return NULL;
  *out_batched = entry->ndim == 5;
  if (entry->ndim == 5)
    return g_steal_pointer (&values);
  gint64 shape[5] = { 1, entry->shape[0], entry->shape[1], entry->shape[2], entry->shape[3] };
  return fa_tensor_reshape (values, 5, shape, error);
}

static gboolean
check_channels (FaSafetensors *file, const FaTensor *input, gint64 channels, const char *what, GError **error)
{
  if (input->shape[1] == channels)
    return TRUE;
  g_autofree char *shape = fa_tensor_shape_to_string (input);
  g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "%s: the input %s has %" G_GINT64_FORMAT " channels; %s has %"
               G_GINT64_FORMAT, fa_safetensors_get_path (file), shape, input->shape[1], what, channels);
  return FALSE;
}

static gboolean
run_debug_vae (gboolean encode, const char *model, const char *in, const char *tensor_name, const char *out,
               const char *device, VaeRunOptions *run, GError **error)
{
  g_autoptr (FaBackend) backend = fa_cli_backend_by_name (device, error);
  /* the model first: a wrong --model should be what the error names */
  g_autoptr (FaWanVae) vae = backend ? fa_wan_vae_load (model, backend, error) : NULL;
  g_autoptr (FaSafetensors) file = vae ? fa_safetensors_open (in, error) : NULL;
  /* the clip and the result live on the host whatever computes, and apart
   * from the compute backend's memory figures */
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  gboolean batched = TRUE;
  g_autoptr (FaTensor) input = file ? read_input (file, tensor_name, cpu, &batched, error) : NULL;
  if (input == NULL)
    return FALSE;

  const FaWanVaeConfig *config = fa_wan_vae_get_config (vae);
  gint64 shape[5] = { input->shape[0], 0, 0, 0, 0 };
  if (encode)
    {
      gint64 grid[3];
      if (!check_channels (file, input, 3, "an RGB clip", error))
        return FALSE;
      if (!fa_wan_vae_latent_shape (vae, input->shape[2], input->shape[3], input->shape[4], grid, error))
        {
          g_prefix_error (error, "%s: ", fa_safetensors_get_path (file));
          return FALSE;
        }
      shape[1] = config->z_dim;
      memcpy (&shape[2], grid, sizeof grid);
    }
  else
    {
      if (!check_channels (file, input, config->z_dim, "this VAE's latent", error))
        return FALSE;
      if (input->shape[0] < 1 || input->shape[2] < 1 || input->shape[3] < 1 || input->shape[4] < 1)
        {
          g_autofree char *empty = fa_tensor_shape_to_string (input);
          g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "%s: the latent %s is empty", fa_safetensors_get_path (file),
                       empty);
          return FALSE;
        }
      shape[1] = 3;
      shape[2] = 1 + 4 * (input->shape[2] - 1);
      shape[3] = 8 * input->shape[3];
      shape[4] = 8 * input->shape[4];
    }

  g_autoptr (FaTensor) output = fa_tensor_new (cpu, FA_DTYPE_F32, 5, shape, error);
  if (output == NULL)
    return FALSE;
  FaWanVaeOptions options;
  fill_options (&options, run, encode ? "encode" : "decode");
  gint64 start = g_get_monotonic_time ();
  if (encode ? !fa_wan_vae_encode (vae, input, output, &options, error)
             : !fa_wan_vae_decode (vae, input, output, &options, error))
    return FALSE;
  double seconds = (g_get_monotonic_time () - start) / 1e6;

  /* the output keeps the input's rank: a file without a batch axis gets
   * one back without */
  g_autoptr (FaTensor) written = batched ? fa_tensor_ref (output) : fa_tensor_reshape (output, 4, &shape[1], error);
  if (written == NULL)
    return FALSE;
  g_autofree char *tiling = describe_tiling (run);
  g_autoptr (GHashTable) metadata = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (metadata, "model", (gpointer) model);
  g_hash_table_insert (metadata, "backend", (gpointer) fa_backend_get_description (backend));
  g_hash_table_insert (metadata, "input", (gpointer) in);
  g_hash_table_insert (metadata, "latents", (gpointer) (run->raw ? "raw (posterior mean)" : "normalised"));
  g_hash_table_insert (metadata, "tiling", tiling);
  const char *names[] = { encode ? "latent" : "video" };
  if (!fa_safetensors_write (out, 1, names, &written, metadata, error))
    return FALSE;

  g_autofree char *in_shape = fa_tensor_shape_to_string (input);
  g_autofree char *out_shape = fa_tensor_shape_to_string (output);
  printf ("%s %s → %s in %.2f s on %s; wrote %s\n", encode ? "encoded" : "decoded", in_shape, out_shape, seconds,
          fa_backend_get_description (backend), out);
  return TRUE;
}

static int
debug_vae (gboolean encode, int argc, char **argv)
{
  const char *verb = encode ? "vae-encode" : "vae-decode";
  g_autofree char *model = NULL, *in = NULL, *out = NULL, *device = NULL, *tensor = NULL;
  VaeRunOptions run = { 0 };
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model,
      "Pipeline folder, vae/ folder or single checkpoint file (diffusers or original names)", "PATH" },
    { "in", 'i', 0, G_OPTION_ARG_FILENAME, &in,
      encode ? "safetensors with the clip [B, 3, T, H, W] or [3, T, H, W], RGB in [−1, 1]"
             : "safetensors with the latent [B, z_dim, n, h, w] or [z_dim, n, h, w]", "FILE" },
    { "tensor", 't', 0, G_OPTION_ARG_STRING, &tensor, "The input tensor's name (default: the file's only tensor)",
      "NAME" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out,
      encode ? "Where to write 'latent'" : "Where to write 'video', clamped to [−1, 1]", "FILE" },
    { "backend", 'b', 0, G_OPTION_ARG_STRING, &device, "cpu, cuda or auto (default)", "NAME" },
    { "raw", 0, 0, G_OPTION_ARG_NONE, &run.raw,
      encode ? "Write the raw posterior mean instead of the normalised latent"
             : "The input is a raw posterior mean, not a normalised latent", NULL },
    { "tile", 0, 0, G_OPTION_ARG_NONE, &run.tile, "Process overlapping spatial tiles (less memory, slightly "
      "different values)", NULL },
    { "tile-size", 0, 0, G_OPTION_ARG_INT, &run.tile_size, "Tile side in pixels, a multiple of 8 (default 256)",
      "N" },
    { "tile-overlap", 0, 0, G_OPTION_ARG_INT, &run.tile_overlap,
      "Pixels neighbouring tiles share, a multiple of 8 (default 64)", "N" },
    { "progress", 0, 0, G_OPTION_ARG_NONE, &run.progress,
      "Report chunks on stderr even when it is not a terminal", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new (verb);
  g_autoptr (GError) error = NULL;
  const char *message = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (context, encode
    ? "Encodes a clip from a file with the Wan VAE (the posterior mean, no sampling)\n"
      "and writes the latent, so the engine can be compared with any other reference.\n"
      "A clip has 1 + 4k frames and a height and width that are multiples of 8."
    : "Decodes a latent from a file with the Wan VAE and writes the clip,\n"
      "so the engine can be compared with any other reference.");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    message = error->message;
  else if (model == NULL || in == NULL || out == NULL)
    message = "--model, --in and --out are needed";
  else if (argc != 1)
    message = "unexpected arguments (see --help)";
  else
    check_tiling (&run, &message);
  if (message != NULL)
    {
      fprintf (stderr, "flowanchor debug %s: %s\n", verb, message);
      return FA_CLI_USAGE;
    }

  if (!run_debug_vae (encode, model, in, tensor, out, device, &run, &error))
    {
      fprintf (stderr, "flowanchor debug %s: %s\n", verb, error->message);
      return FA_CLI_FAILED;
    }
  return FA_CLI_OK;
}

int
fa_cli_debug_vae_encode (int argc, char **argv)
{
  return debug_vae (TRUE, argc, argv);
}

int
fa_cli_debug_vae_decode (int argc, char **argv)
{
  return debug_vae (FALSE, argc, argv);
}

/* ---- bench vae ---- */

/* Smooth drifting waves in [−0.9, 0.9], unlike noise, which a video VAE
 * never sees; the timing hardly depends on the values, but the clip should
 * not push the network into unusual ranges. */
static void
fill_clip (float *values, const gint64 shape[5])
{
  gint64 frames = shape[2], height = shape[3], width = shape[4];

  for (gint64 c = 0; c < 3; c++)
    for (gint64 t = 0; t < frames; t++)
      for (gint64 y = 0; y < height; y++)
        for (gint64 x = 0; x < width; x++)
          {
            double phase = 2 * G_PI * ((1.5 + 0.5 * c) * x / width + (1.0 + 0.3 * c) * y / height) +
                           0.2 * t + 2.1 * c;
            *values++ = (float) (0.9 * sin (phase) * cos (0.7 * phase - 0.05 * t));
          }
}

typedef struct {
  double seconds; /* the median of the timed runs */
  guint64 peak;
} StageFigures;

/* With several runs the first only warms up (allocations, library
 * start-up) and is not timed: one run alone is timed as it is. */
static gboolean
time_stage (FaWanVae *vae, gboolean encode, const FaTensor *input, FaTensor *output, const VaeRunOptions *run,
            int repeat, StageFigures *figures, GError **error)
{
  FaBackend *backend = fa_wan_vae_get_backend (vae);
  FaWanVaeOptions options;
  g_autofree double *seconds = g_new (double, repeat);

  fill_options (&options, run, encode ? "encode" : "decode");
  fa_backend_reset_peak (backend);
  for (int r = repeat > 1 ? -1 : 0; r < repeat; r++)
    {
      gint64 start = g_get_monotonic_time ();
      if (encode ? !fa_wan_vae_encode (vae, input, output, &options, error)
                 : !fa_wan_vae_decode (vae, input, output, &options, error))
        return FALSE;
      if (r >= 0)
        seconds[r] = (g_get_monotonic_time () - start) / 1e6;
    }
  figures->seconds = fa_cli_median (seconds, repeat);
  fa_backend_get_memory (backend, NULL, &figures->peak);
  return TRUE;
}

static void
print_stage (const char *stage, const StageFigures *figures)
{
  g_autofree char *peak = g_format_size_full (figures->peak, G_FORMAT_SIZE_IEC_UNITS);
  printf ("%-8s %10.3f  %s\n", stage, figures->seconds, peak);
}

static gboolean
run_bench_vae (const char *model, int frames, int height, int width, const char *device, gboolean encode_only,
               gboolean decode_only, int repeat, VaeRunOptions *run, GError **error)
{
  g_autoptr (FaBackend) backend = fa_cli_backend_by_name (device, error);
  if (backend == NULL)
    return FALSE;
  gboolean on_cuda = fa_backend_get_device (backend) == FA_DEVICE_CUDA;
  frames = frames ? frames : on_cuda ? 81 : 9;
  height = height ? height : on_cuda ? 480 : 64;
  width = width ? width : on_cuda ? 832 : 96;
  /* before building the model: a mistyped size should not cost a load */
  gint64 grid[3];
  if (!fa_wan_vae_latent_shape (NULL, frames, height, width, grid, error))
    return FALSE;

  g_autoptr (FaWanVae) vae = NULL;
  gint64 start = g_get_monotonic_time ();
  if (model == NULL)
    {
      FaWanVaeConfig c;
      fa_wan_vae_config_init_2_1 (&c);
      vae = fa_wan_vae_new_random (&c, backend, 1234, error);
    }
  else
    vae = fa_wan_vae_load (model, backend, error);
  if (vae == NULL)
    return FALSE;
  double load_seconds = (g_get_monotonic_time () - start) / 1e6;
  guint64 weights_bytes = 0;
  fa_backend_get_memory (backend, &weights_bytes, NULL);

  const FaWanVaeConfig *c = fa_wan_vae_get_config (vae);
  const gint64 clip_shape[5] = { 1, 3, frames, height, width };
  const gint64 latent_shape[5] = { 1, c->z_dim, grid[0], grid[1], grid[2] };
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  g_autoptr (FaTensor) clip = fa_tensor_new (cpu, FA_DTYPE_F32, 5, clip_shape, error);
  g_autoptr (FaTensor) latent = clip ? fa_tensor_new (cpu, FA_DTYPE_F32, 5, latent_shape, error) : NULL;
  g_autoptr (FaTensor) encoded = latent ? fa_tensor_new (cpu, FA_DTYPE_F32, 5, latent_shape, error) : NULL;
  g_autoptr (FaTensor) decoded = encoded ? fa_tensor_new (cpu, FA_DTYPE_F32, 5, clip_shape, error) : NULL;
  if (decoded == NULL)
    return FALSE;
  fill_clip (fa_tensor_get_data (clip), clip_shape);
  /* unit-variance noise: the scale of what a sampler hands the decoder */
  guint64 stream = fa_random_stream (7, "bench vae latent");
  float *noise = fa_tensor_get_data (latent);
  for (gint64 i = 0; i < fa_tensor_get_numel (latent); i++)
    noise[i] = fa_random_normalish (&stream);

  StageFigures encode_figures = { 0 }, decode_figures = { 0 };
  if (!decode_only && !time_stage (vae, TRUE, clip, encoded, run, repeat, &encode_figures, error))
    return FALSE;
  if (!encode_only && !time_stage (vae, FALSE, latent, decoded, run, repeat, &decode_figures, error))
    return FALSE;

  g_autofree char *latent_text = fa_tensor_shape_to_string (latent);
  g_autofree char *tiling = describe_tiling (run);
  g_autofree char *weights_text = g_format_size_full (weights_bytes, G_FORMAT_SIZE_IEC_UNITS);
  printf ("%s\n", fa_backend_get_description (backend));
  printf ("model: %s, base_dim %d, z_dim %d, ready in %.1f s, weights %s\n",
          model == NULL ? "random weights (Wan2.1 VAE shapes)" : model, c->base_dim, c->z_dim, load_seconds,
          weights_text);
  printf ("clip: %d frame%s × %d×%d pixels ↔ latent %s; tiling %s\n", frames, frames == 1 ? "" : "s", height,
          width, latent_text, tiling);
  if (repeat > 1)
    printf ("seconds: median of %d runs after one warm-up run\n", repeat);
  printf ("%-8s %10s  peak %s memory\n", "stage", "seconds", fa_device_get_name (fa_backend_get_device (backend)));
  if (!decode_only)
    print_stage ("encode", &encode_figures);
  if (!encode_only)
    print_stage ("decode", &decode_figures);
  return TRUE;
}

int
fa_cli_bench_vae (int argc, char **argv)
{
  g_autofree char *model = NULL, *device = NULL;
  gboolean random_weights = FALSE, encode_only = FALSE, decode_only = FALSE;
  int frames = 0, height = 0, width = 0, repeat = 1;
  VaeRunOptions run = { 0 };
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model,
      "Pipeline folder, vae/ folder or single checkpoint file", "PATH" },
    { "random-weights", 0, 0, G_OPTION_ARG_NONE, &random_weights, "Random weights of the Wan2.1 VAE's shapes",
      NULL },
    { "frames", 'f', 0, G_OPTION_ARG_INT, &frames, "Clip frames, 1 + 4k (default 81 on CUDA, 9 on the CPU)", "F" },
    { "height", 'H', 0, G_OPTION_ARG_INT, &height, "Clip height in pixels, a multiple of 8 (default 480 / 64)",
      "H" },
    { "width", 'W', 0, G_OPTION_ARG_INT, &width, "Clip width in pixels, a multiple of 8 (default 832 / 96)", "W" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "cpu, cuda or auto (default)", "NAME" },
    { "tile", 0, 0, G_OPTION_ARG_NONE, &run.tile, "Process overlapping spatial tiles", NULL },
    { "tile-size", 0, 0, G_OPTION_ARG_INT, &run.tile_size, "Tile side in pixels, a multiple of 8 (default 256)",
      "N" },
    { "tile-overlap", 0, 0, G_OPTION_ARG_INT, &run.tile_overlap,
      "Pixels neighbouring tiles share, a multiple of 8 (default 64)", "N" },
    { "encode-only", 0, 0, G_OPTION_ARG_NONE, &encode_only, "Time only the encoder", NULL },
    { "decode-only", 0, 0, G_OPTION_ARG_NONE, &decode_only, "Time only the decoder", NULL },
    { "repeat", 'r', 0, G_OPTION_ARG_INT, &repeat,
      "Timed runs per stage; above 1, one warm-up run comes first and the median is shown (default 1)", "R" },
    { "progress", 0, 0, G_OPTION_ARG_NONE, &run.progress,
      "Report chunks on stderr even when it is not a terminal", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("vae");
  g_autoptr (GError) error = NULL;
  const char *message = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (context,
                                "Times the Wan VAE: encoding a smooth test clip and decoding a random\n"
                                "N(0, 1) latent of the matching shape, with the peak device memory of each\n"
                                "stage. The clip is 81 frames × 480×832 on CUDA and 9 frames × 64×96 on the\n"
                                "CPU unless --frames, --height and --width say otherwise. Prints figures;\n"
                                "asserts nothing.");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    message = error->message;
  else if ((model == NULL) == !random_weights)
    message = "give --model PATH or --random-weights";
  else if (encode_only && decode_only)
    message = "--encode-only and --decode-only exclude each other";
  else if (repeat < 1 || frames < 0 || height < 0 || width < 0)
    message = "--repeat must be at least 1, the sizes positive";
  else if (argc != 1)
    message = "unexpected arguments (see --help)";
  else
    check_tiling (&run, &message);
  if (message != NULL)
    {
      fprintf (stderr, "flowanchor bench vae: %s\n", message);
      return FA_CLI_USAGE;
    }

  if (!run_bench_vae (model, frames, height, width, device, encode_only, decode_only, repeat, &run, &error))
    {
      fprintf (stderr, "flowanchor bench vae: %s\n", error->message);
      return FA_CLI_FAILED;
    }
  return FA_CLI_OK;
}
