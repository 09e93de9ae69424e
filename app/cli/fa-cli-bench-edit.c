/* flowanchor bench edit: the whole FlowAnchor edit timed stage by stage
 * and step by step, with the peak memory of each stage, on random weights
 * of the real shapes (or a real model folder).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "flowanchor-bench-edit"

#include "config.h"

#include <stdio.h>
#include <string.h>

#include "fa-cli.h"
#include "fa-edit.h"
#include "fa-error.h"
#include "fa-job.h"
#include "fa-random.h"
#include "fa-synthetic.h"

typedef struct {
  gint64 last_us;
  double *step_seconds;
  int n_steps;
} StepTimes;

static void
on_step (int done, int total, const FaTensor *estimate, gpointer user_data)
{
  StepTimes *times = user_data;
  gint64 now = g_get_monotonic_time ();
  if (done >= 1 && done <= total)
    times->step_seconds[done - 1] = (now - times->last_us) / 1e6;
  times->n_steps = done;
  times->last_us = now;
}

static char *
peak_text (FaBackend *backend)
{
  guint64 peak = 0;
  fa_backend_get_memory (backend, NULL, &peak);
  return g_format_size_full (peak, G_FORMAT_SIZE_IEC_UNITS);
}

/* A prompt's context of random rows (rows after @real zero, as Wan pads). */
static FaWanDitText *
random_text (FaWanDit *dit, int rows, int real, guint32 seed, GError **error)
{
  const FaWanDitConfig *c = fa_wan_dit_get_config (dit);
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  const gint64 shape[2] = { rows, c->text_dim };
  g_autoptr (FaTensor) host = fa_tensor_new (cpu, FA_DTYPE_F32, 2, shape, error);
  if (host == NULL)
    return NULL;
  float *data = fa_tensor_get_data (host);
  guint64 state = fa_random_stream (seed, "bench-edit-context");
  for (gint64 i = 0; i < (gint64) rows * c->text_dim; i++)
    data[i] = i < (gint64) real * c->text_dim ? 0.1f * fa_random_normalish (&state) : 0.0f;
  g_autoptr (FaTensor) context = fa_tensor_to (host, fa_wan_dit_get_backend (dit), FA_DTYPE_F32, error);
  return context ? fa_wan_dit_encode_text (dit, context, error) : NULL;
}

static gboolean
run_bench (gboolean random_weights, const char *model_path, int layers, int frames, int height, int width,
           int steps, const char *device, GError **error)
{
  g_autoptr (FaBackend) backend = fa_cli_backend_by_name (device, error);
  if (backend == NULL)
    return FALSE;
  gboolean on_cuda = fa_backend_get_device (backend) == FA_DEVICE_CUDA;
  frames = frames ? frames : on_cuda ? 81 : 5;
  height = height ? height : on_cuda ? 480 : 64;
  width = width ? width : on_cuda ? 832 : 96;
  if (frames < 5 || (frames - 1) % 4 != 0 || height % 16 != 0 || width % 16 != 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "--frames must be 1 + 4k (at least 5), --height and --width multiples of 16");
      return FALSE;
    }

  gint64 start = g_get_monotonic_time ();
  g_autoptr (FaWanDit) dit = NULL;
  g_autoptr (FaWanVae) vae = NULL;
  if (random_weights)
    {
      FaWanDitConfig dc;
      FaWanVaeConfig vc;
      fa_wan_dit_config_init_1_3b (&dc);
      if (layers > 0)
        dc.num_layers = layers;
      fa_wan_vae_config_init_2_1 (&vc);
      dit = fa_wan_dit_new_random (&dc, backend, 1234, error);
      vae = dit ? fa_wan_vae_new_random (&vc, backend, 1234, error) : NULL;
    }
  else
    {
      g_autofree char *dit_path = g_build_filename (model_path, "transformer", NULL);
      g_autofree char *vae_path = g_build_filename (model_path, "vae", NULL);
      dit = fa_wan_dit_load (dit_path, backend, error);
      vae = dit ? fa_wan_vae_load (vae_path, backend, error) : NULL;
    }
  if (vae == NULL)
    return FALSE;
  double load_seconds = (g_get_monotonic_time () - start) / 1e6;
  guint64 weights = 0;
  fa_backend_get_memory (backend, &weights, NULL);

  /* a synthetic clip: real motion for the VAE, and its mask for SAR */
  FaSynthOptions synth_options;
  fa_synth_options_init (&synth_options);
  synth_options.width = width, synth_options.height = height, synth_options.n_frames = frames;
  g_autoptr (FaSynthClip) synth = fa_synth_clip_new (&synth_options, error);
  if (synth == NULL)
    return FALSE;
  const FaWorkingClip *clip = fa_synth_clip_get_clip (synth);
  gsize plane = (gsize) width * height;
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  g_autoptr (FaTensor) video = fa_working_clip_to_video (clip, error);
  if (video == NULL)
    return FALSE;

  gint64 grid[3];
  if (!fa_wan_vae_latent_shape (vae, frames, height, width, grid, error))
    return FALSE;
  const gint64 latent_shape[5] = { 1, fa_wan_vae_get_config (vae)->z_dim, grid[0], grid[1], grid[2] };
  g_autoptr (FaTensor) latent = fa_tensor_new (cpu, FA_DTYPE_F32, 5, latent_shape, error);
  g_autoptr (FaTensor) edited = latent ? fa_tensor_new (cpu, FA_DTYPE_F32, 5, latent_shape, error) : NULL;
  if (edited == NULL)
    return FALSE;

  printf ("%s\n", fa_backend_get_description (backend));
  printf ("model: %s, %d DiT layers, loaded in %.1f s; weights %.2f GiB\n",
          random_weights ? "random weights (Wan2.1-T2V-1.3B shapes)" : model_path,
          fa_wan_dit_get_config (dit)->num_layers, load_seconds, weights / 1073741824.0);
  printf ("clip: %d frames × %d×%d → latent %" G_GINT64_FORMAT "×%" G_GINT64_FORMAT "×%" G_GINT64_FORMAT "\n",
          frames, width, height, grid[0], grid[1], grid[2]);

  /* VAE encode */
  fa_backend_reset_peak (backend);
  start = g_get_monotonic_time ();
  if (!fa_wan_vae_encode (vae, video, latent, NULL, error))
    return FALSE;
  double encode_seconds = (g_get_monotonic_time () - start) / 1e6;
  g_autofree char *encode_peak = peak_text (backend);

  /* the prompts and the masks */
  const int rows = 512;
  g_autoptr (FaWanDitText) source = random_text (dit, rows, 12, 1, error);
  g_autoptr (FaWanDitText) target = source ? random_text (dit, rows, 16, 2, error) : NULL;
  g_autoptr (FaWanDitText) negative = target ? random_text (dit, rows, 100, 3, error) : NULL;
  if (negative == NULL)
    return FALSE;
  g_autofree guint8 *pixel_masks = g_malloc (plane * frames);
  for (int t = 0; t < frames; t++)
    memcpy (pixel_masks + plane * t, fa_synth_clip_get_mask (synth, t), plane);
  g_autofree guint8 *token_mask = g_malloc ((gsize) grid[0] * (height / 16) * (width / 16));
  if (!fa_edit_token_mask (pixel_masks, frames, height, width, 2, 16, token_mask, error))
    return FALSE;
  static const int target_tokens[] = { 1, 2, 3, 7 };

  FaEditParams params;
  fa_edit_params_init (&params);
  params.n_max = MAX (1, steps - (params.steps - params.n_max));
  params.steps = steps;
  FaEditInputs inputs = {
    .x_source = latent, .source = source, .target = target, .negative = negative, .target_real_rows = 16,
    .target_tokens = target_tokens, .n_target_tokens = G_N_ELEMENTS (target_tokens), .token_mask = token_mask,
  };
  g_autofree double *step_seconds = g_new0 (double, steps);
  StepTimes times = { 0, step_seconds, 0 };
  FaEditOptions options = { 0 };
  options.step = on_step;
  options.step_user_data = &times;

  fa_backend_reset_peak (backend);
  start = times.last_us = g_get_monotonic_time ();
  if (!fa_edit_run (dit, &inputs, &params, &options, edited, error))
    return FALSE;
  double edit_seconds = (g_get_monotonic_time () - start) / 1e6;
  g_autofree char *edit_peak = peak_text (backend);

  /* VAE decode */
  fa_backend_reset_peak (backend);
  start = g_get_monotonic_time ();
  if (!fa_wan_vae_decode (vae, edited, video, NULL, error))
    return FALSE;
  double decode_seconds = (g_get_monotonic_time () - start) / 1e6;
  g_autofree char *decode_peak = peak_text (backend);

  printf ("%-14s %10s %14s\n", "stage", "seconds", "peak memory");
  printf ("%-14s %10.2f %14s\n", "VAE encode", encode_seconds, encode_peak);
  printf ("%-14s %10.2f %14s   %d steps of %d run\n", "edit", edit_seconds, edit_peak, times.n_steps, steps);
  printf ("%-14s %10.2f %14s\n", "VAE decode", decode_seconds, decode_peak);
  if (times.n_steps > 0)
    {
      g_autofree double *sorted = g_memdup2 (step_seconds, sizeof (double) * times.n_steps);
      printf ("per step: median %.3f s (first %.3f s, last %.3f s); a FlowEdit step is one DiT forward of batch 4\n",
              fa_cli_median (sorted, times.n_steps), step_seconds[0], step_seconds[times.n_steps - 1]);
    }
  return TRUE;
}

int
fa_cli_bench_edit (int argc, char **argv)
{
  g_autofree char *model = NULL, *device = NULL;
  gboolean random_weights = FALSE;
  int layers = 0, frames = 0, height = 0, width = 0, steps = 25;
  GOptionEntry entries[] = {
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &model, "Wan2.1 pipeline folder (transformer/ and vae/ are used)", "DIR" },
    { "random-weights", 0, 0, G_OPTION_ARG_NONE, &random_weights, "random weights of the real shapes", NULL },
    { "layers", 0, 0, G_OPTION_ARG_INT, &layers, "with --random-weights: fewer DiT blocks than 30", "N" },
    { "frames", 0, 0, G_OPTION_ARG_INT, &frames, "clip frames, 1 + 4k (81 on CUDA, 5 on the CPU)", "N" },
    { "height", 0, 0, G_OPTION_ARG_INT, &height, "pixels (480 on CUDA, 64 on the CPU)", "N" },
    { "width", 0, 0, G_OPTION_ARG_INT, &width, "pixels (832 on CUDA, 96 on the CPU)", "N" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &steps, "schedule steps (25; the first 2 are skipped)", "N" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "cpu, cuda or auto (default)", "NAME" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new (NULL);
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (context, "Times a FlowAnchor edit: VAE encode, every step, VAE decode, and the peak\n"
                                         "memory of each stage.");
  if (!g_option_context_parse (context, &argc, &argv, &error) || (model == NULL) == !random_weights || steps < 3
      || steps > 1000)
    {
      fprintf (stderr, "flowanchor bench edit: %s\n",
               error ? error->message : "give --model DIR or --random-weights, and --steps from 3 to 1000");
      return FA_CLI_USAGE;
    }
  if (!run_bench (random_weights, model, layers, frames, height, width, steps, device, &error))
    {
      fprintf (stderr, "flowanchor bench edit: %s\n", error->message);
      return FA_CLI_FAILED;
    }
  return FA_CLI_OK;
}
