/* The Wan DiT forward on the CPU against the diffusers goldens of the tiny
 * model (tests/data/goldens/dit.safetensors): the velocity and every tap
 * within ‖out − ref‖ / ‖ref‖ ≤ 1e-5, from the diffusers folder and from the
 * single-file copy under the original names; the bf16 ComfyUI copy within
 * bf16's error. Also the cross-attention hook and the caches.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>

#include "fa-error.h"
#include "fa-test-util.h"
#include "fa-wan-dit.h"

#define F32_TOLERANCE 1e-5
#define BF16_WEIGHTS_TOLERANCE 1e-2
#define CUDA_BF16_TOLERANCE 1e-2

static FaBackend *cpu;
static FaSafetensors *goldens;

static char *
data_path (const char *relative)
{
  return g_build_filename (g_getenv ("FA_TEST_SRCDIR"), "data", relative, NULL);
}

/* A golden tensor as an f32 tensor of its own (the mapping may be unaligned). */
static FaTensor *
golden (const char *name)
{
  g_autoptr (GError) error = NULL;
  const FaSafetensorsEntry *entry = fa_safetensors_lookup (goldens, name);
  if (entry == NULL)
    g_error ("no golden tensor '%s'", name);
  g_autoptr (FaTensor) view = fa_safetensors_view_tensor (goldens, entry, &error);
  g_assert_no_error (error);
  FaTensor *tensor = fa_tensor_to (view, cpu, entry->dtype == FA_DTYPE_I64 ? FA_DTYPE_I64 : FA_DTYPE_F32, &error);
  g_assert_no_error (error);
  return tensor;
}

static float *
f32 (const FaTensor *tensor)
{
  return fa_tensor_get_data (tensor);
}

static FaWanDit *
load_on (FaBackend *backend, const char *relative, const char *config_relative)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = data_path (relative);
  g_autofree char *config = config_relative ? data_path (config_relative) : NULL;
  FaWanDit *dit;

  if (config == NULL)
    dit = fa_wan_dit_load (path, backend, &error);
  else
    {
      g_autoptr (FaWeights) weights = fa_weights_open (path, &error);
      g_assert_no_error (error);
      dit = fa_wan_dit_load_weights (weights, config, backend, &error);
    }
  g_assert_no_error (error);
  return dit;
}

static FaWanDit *
load (const char *relative, const char *config_relative)
{
  return load_on (cpu, relative, config_relative);
}

/* @tensor on @backend's device. */
static FaTensor *
to_backend (const FaTensor *tensor, FaBackend *backend)
{
  g_autoptr (GError) error = NULL;
  FaTensor *moved = fa_tensor_to (tensor, backend, tensor->dtype, &error);
  g_assert_no_error (error);
  return moved;
}

typedef struct {
  GHashTable *taps; /* name -> GArray of float (concatenated over calls) */
} Taps;

static void
record_tap (const char *name, const FaTensor *value, gpointer user_data)
{
  Taps *taps = user_data;
  GArray *values = g_hash_table_lookup (taps->taps, name);
  if (values == NULL)
    {
      values = g_array_new (FALSE, FALSE, sizeof (float));
      g_hash_table_insert (taps->taps, g_strdup (name), values);
    }
  g_assert_true (value->dtype == FA_DTYPE_F32);
  g_autoptr (FaTensor) host = to_backend (value, cpu); /* device taps come down */
  g_array_append_vals (values, fa_tensor_get_data (host), fa_tensor_get_numel (host));
}

static void
check_close (const char *what, const float *got, const float *want, gsize n, double tolerance)
{
  double error = fa_test_l2_relative_error (got, want, n);
  if (!(error <= tolerance))
    g_error ("%s: relative error %.3g exceeds %.3g", what, error, tolerance);
}

/* Runs case @k through @dit and checks the velocity (and, with @check_taps,
 * every tap) against the goldens. */
static void
run_case (FaWanDit *dit, int k, gboolean check_taps, double tolerance)
{
  g_autoptr (GError) error = NULL;
  char name[128];

  FaBackend *backend = fa_wan_dit_get_backend (dit);
  g_snprintf (name, sizeof name, "case%d.latents", k);
  g_autoptr (FaTensor) host_latents = golden (name);
  g_autoptr (FaTensor) latents = to_backend (host_latents, backend);
  g_snprintf (name, sizeof name, "case%d.timestep", k);
  g_autoptr (FaTensor) timesteps = golden (name);
  g_snprintf (name, sizeof name, "case%d.context", k);
  g_autoptr (FaTensor) host_context = golden (name);
  g_autoptr (FaTensor) context = to_backend (host_context, backend);
  g_snprintf (name, sizeof name, "case%d.velocity", k);
  g_autoptr (FaTensor) want = golden (name);

  gint64 batch = latents->shape[0];
  g_autoptr (FaTensor) poisoned = fa_tensor_new (cpu, FA_DTYPE_F32, 5, latents->shape, &error);
  fa_test_poison (f32 (poisoned), fa_tensor_get_numel (poisoned));
  g_autoptr (FaTensor) velocity = to_backend (poisoned, backend);
  FaWanDitText *texts[8] = { NULL };
  for (gint64 b = 0; b < batch; b++)
    {
      g_autoptr (FaTensor) row = fa_tensor_narrow (context, 0, b, 1, &error);
      texts[b] = fa_wan_dit_encode_text (dit, row, &error);
      g_assert_no_error (error);
    }

  Taps taps = { g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_array_unref) };
  FaWanDitForwardOptions options = { .tap = record_tap, .tap_user_data = &taps };
  g_assert_true (fa_wan_dit_forward (dit, latents, f32 (timesteps), texts, velocity, &options, &error));
  g_assert_no_error (error);

  g_snprintf (name, sizeof name, "case%d velocity", k);
  g_autoptr (FaTensor) got = to_backend (velocity, cpu);
  check_close (name, f32 (got), f32 (want), fa_tensor_get_numel (want), tolerance);

  if (check_taps)
    {
      /* the engine's names for the golden taps; the same layout unless noted */
      const char *const same[] = { "patch_embedding", "time_sinusoid", "temb", "timestep_proj",
                                   "block0.attn1", "block0.attn2", "block0.ffn", "block0",
                                   "before_head", "head_input", "proj_out" };
      for (guint i = 0; i < G_N_ELEMENTS (same); i++)
        {
          g_snprintf (name, sizeof name, "case%d.tap.%s", k, same[i]);
          g_autoptr (FaTensor) ref = golden (name);
          GArray *got = g_hash_table_lookup (taps.taps, same[i]);
          g_assert_nonnull (got);
          g_assert_cmpuint (got->len, ==, fa_tensor_get_numel (ref));
          check_close (name, (float *) got->data, f32 (ref), got->len, tolerance);
        }

      /* RoPE: the engine keeps one value per pair, the golden repeats it
       * for both dimensions of the pair */
      for (int s = 0; s < 2; s++)
        {
          const char *which = s == 0 ? "rope_cos" : "rope_sin";
          g_snprintf (name, sizeof name, "case%d.tap.%s", k, which);
          g_autoptr (FaTensor) ref = golden (name);
          GArray *got = g_hash_table_lookup (taps.taps, which);
          g_assert_cmpuint (got->len * 2, ==, fa_tensor_get_numel (ref));
          g_autofree float *expanded = g_new (float, got->len * 2);
          for (guint i = 0; i < got->len; i++)
            expanded[2 * i] = expanded[2 * i + 1] = g_array_index (got, float, i);
          check_close (name, expanded, f32 (ref), got->len * 2, 1e-6);
        }

      /* the text embedding of every element, in batch order (case0 only) */
      g_snprintf (name, sizeof name, "case%d.tap.text_embedding", k);
      if (fa_safetensors_lookup (goldens, name) != NULL)
        {
          g_autoptr (FaTensor) ref = golden (name);
          GArray *got = g_hash_table_lookup (taps.taps, "text_embedding");
          g_assert_cmpuint (got->len, ==, fa_tensor_get_numel (ref));
          check_close (name, (float *) got->data, f32 (ref), got->len, tolerance);
        }
    }

  g_hash_table_unref (taps.taps);
  for (gint64 b = 0; b < batch; b++)
    fa_wan_dit_text_free (texts[b]);
}

static void
test_goldens_from_folder (void)
{
  g_autoptr (FaWanDit) dit = load ("wan-tiny/transformer", NULL);

  for (int k = 0; k < 4; k++)
    run_case (dit, k, TRUE, F32_TOLERANCE);
}

static void
test_goldens_from_original_file (void)
{
  g_autoptr (FaWanDit) dit = load ("original/wan-tiny-dit.safetensors", "wan-tiny/transformer/config.json");

  for (int k = 0; k < 4; k++)
    run_case (dit, k, TRUE, F32_TOLERANCE);
}

static void
test_goldens_from_comfy_bf16_file (void)
{
  /* bf16 weights: the golden was computed with the f32 originals */
  g_autoptr (FaWanDit) dit = load ("original/wan-tiny-dit-comfy-bf16.safetensors",
                                   "wan-tiny/transformer/config.json");

  for (int k = 0; k < 4; k++)
    run_case (dit, k, FALSE, BF16_WEIGHTS_TOLERANCE);
}

static void
test_goldens_on_cuda (void)
{
  /* bf16 weights and GEMM inputs, f32 elsewhere (spec A.5) */
  g_autoptr (GError) error = NULL;
  g_autoptr (FaBackend) cuda = fa_backend_new_cuda (0, &error);
  if (cuda == NULL)
    {
      g_test_skip (error->message);
      return;
    }
  g_autoptr (FaWanDit) dit = load_on (cuda, "wan-tiny/transformer", NULL);
  for (int k = 0; k < 4; k++)
    run_case (dit, k, TRUE, CUDA_BF16_TOLERANCE);
}

typedef struct {
  int calls;
  int last_layer;
  gint64 shape[3];
  float add_to_first_column;
} HookRecord;

static gboolean
hook (FaBackend *backend, int layer, FaTensor *logits, gpointer user_data, GError **error)
{
  HookRecord *record = user_data;

  g_assert_cmpint (logits->ndim, ==, 3);
  memcpy (record->shape, logits->shape, sizeof record->shape);
  g_assert_cmpint (layer, ==, record->calls); /* once per layer, in order */
  record->calls++;
  record->last_layer = layer;
  float *values = fa_tensor_get_data (logits);
  for (gint64 i = 0; i < logits->shape[0] * logits->shape[1]; i++)
    values[i * logits->shape[2]] += record->add_to_first_column;
  return TRUE;
}

static FaTensor *
forward_case0 (FaWanDit *dit, const FaWanDitForwardOptions *options)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTensor) latents = golden ("case0.latents");
  g_autoptr (FaTensor) timesteps = golden ("case0.timestep");
  g_autoptr (FaTensor) context = golden ("case0.context");
  FaTensor *velocity = fa_tensor_new (cpu, FA_DTYPE_F32, 5, latents->shape, &error);
  FaWanDitText *texts[2];

  for (int b = 0; b < 2; b++)
    {
      g_autoptr (FaTensor) row = fa_tensor_narrow (context, 0, b, 1, &error);
      texts[b] = fa_wan_dit_encode_text (dit, row, &error);
    }
  g_assert_true (fa_wan_dit_forward (dit, latents, f32 (timesteps), texts, velocity, options, &error));
  g_assert_no_error (error);
  for (int b = 0; b < 2; b++)
    fa_wan_dit_text_free (texts[b]);
  return velocity;
}

static void
test_cross_attention_hook (void)
{
  g_autoptr (FaWanDit) dit = load ("wan-tiny/transformer", NULL);
  const FaWanDitConfig *config = fa_wan_dit_get_config (dit);
  g_autoptr (FaTensor) plain = forward_case0 (dit, NULL);
  gint64 half = fa_tensor_get_numel (plain) / 2;

  /* a hook that only looks: same result, called per layer with [heads, N, 512] */
  HookRecord look = { 0 };
  FaWanDitForwardOptions looking = { .cross_attention = hook, .cross_attention_user_data = &look,
                                     .cross_attention_batch_index = 1 };
  g_autoptr (FaTensor) looked = forward_case0 (dit, &looking);
  g_assert_cmpint (look.calls, ==, config->num_layers);
  g_assert_cmpint (look.shape[0], ==, config->num_heads);
  g_assert_cmpint (look.shape[1], ==, 3 * 4 * 6);
  g_assert_cmpint (look.shape[2], ==, 512);
  check_close ("hook that only looks", f32 (looked), f32 (plain), 2 * half, 1e-6);

  /* a hook that raises one text column changes element 1 only */
  HookRecord change = { .add_to_first_column = 5.0f };
  FaWanDitForwardOptions changing = { .cross_attention = hook, .cross_attention_user_data = &change,
                                      .cross_attention_batch_index = 1 };
  g_autoptr (FaTensor) changed = forward_case0 (dit, &changing);
  check_close ("element 0 under a hook on element 1", f32 (changed), f32 (plain), half, 1e-6);
  g_assert_cmpfloat (fa_test_l2_relative_error (f32 (changed) + half, f32 (plain) + half, half), >, 1e-3);
}

static void
test_caches_are_exact (void)
{
  /* the second pass reuses the time conditioning and the arena */
  g_autoptr (FaWanDit) dit = load ("wan-tiny/transformer", NULL);
  g_autoptr (FaTensor) first = forward_case0 (dit, NULL);
  g_autoptr (FaTensor) second = forward_case0 (dit, NULL);
  g_assert_cmpmem (f32 (first), fa_tensor_get_nbytes (first), f32 (second), fa_tensor_get_nbytes (second));

  /* another shape and timestep in between, then back: still the golden */
  run_case (dit, 1, FALSE, F32_TOLERANCE);
  g_autoptr (FaTensor) third = forward_case0 (dit, NULL);
  g_assert_cmpmem (f32 (first), fa_tensor_get_nbytes (first), f32 (third), fa_tensor_get_nbytes (third));
}

static void
test_odd_frequency_width (void)
{
  /* an odd freq_dim leaves one sinusoid entry beyond the cos/sin halves:
   * it must be zero (as diffusers pads), never uninitialised memory */
  FaWanDitConfig config = { .num_layers = 1, .num_heads = 2, .head_dim = 12, .dim = 24, .ffn_dim = 16,
                            .in_channels = 4, .out_channels = 4, .text_dim = 8, .freq_dim = 9,
                            .patch = { 1, 2, 2 }, .eps = 1e-6f };
  g_autoptr (GError) error = NULL;
  g_autoptr (FaWanDit) dit = fa_wan_dit_new_random (&config, cpu, 5, &error);
  g_assert_no_error (error);

  g_autoptr (FaTensor) context = fa_tensor_new (cpu, FA_DTYPE_F32, 2, (gint64[]) { 6, 8 }, NULL);
  memset (f32 (context), 0, fa_tensor_get_nbytes (context));
  g_autoptr (FaWanDitText) text = fa_wan_dit_encode_text (dit, context, &error);
  g_assert_no_error (error);
  FaWanDitText *texts[] = { text, text };
  const float timesteps[] = { 500.0f, 500.0f };
  const gint64 shape[] = { 2, 4, 1, 4, 4 };
  g_autoptr (FaTensor) latents = fa_tensor_new (cpu, FA_DTYPE_F32, 5, shape, NULL);
  fa_test_fill_uniform (f32 (latents), 64, 3, -1, 1);
  memcpy (f32 (latents) + 64, f32 (latents), 64 * sizeof (float)); /* two equal elements */
  g_autoptr (FaTensor) velocity = fa_tensor_new (cpu, FA_DTYPE_F32, 5, shape, NULL);

  Taps taps = { g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_array_unref) };
  FaWanDitForwardOptions options = { .tap = record_tap, .tap_user_data = &taps };
  g_assert_true (fa_wan_dit_forward (dit, latents, timesteps, texts, velocity, &options, &error));
  g_assert_no_error (error);
  GArray *sinusoid = g_hash_table_lookup (taps.taps, "time_sinusoid");
  g_assert_cmpfloat (g_array_index (sinusoid, float, 8), ==, 0.0f);
  g_assert_cmpfloat (g_array_index (sinusoid, float, 17), ==, 0.0f);
  for (int i = 0; i < 128; i++)
    g_assert_true (isfinite (f32 (velocity)[i]));
  g_assert_cmpmem (f32 (velocity), 64 * sizeof (float), f32 (velocity) + 64, 64 * sizeof (float));
  g_hash_table_unref (taps.taps);
}

static void
test_bad_inputs (void)
{
  g_autoptr (FaWanDit) dit = load ("wan-tiny/transformer", NULL);
  g_autoptr (FaTensor) context = golden ("case0.context");
  g_autoptr (FaTensor) row = fa_tensor_narrow (context, 0, 0, 1, NULL);
  g_autoptr (FaWanDitText) text = fa_wan_dit_encode_text (dit, row, NULL);
  FaWanDitText *texts[] = { text };
  const float t = 500.0f;
  GError *error = NULL;

  g_autoptr (FaTensor) odd = fa_tensor_new (cpu, FA_DTYPE_F32, 5, (gint64[]) { 1, 16, 1, 5, 6 }, NULL);
  g_autoptr (FaTensor) odd_out = fa_tensor_new (cpu, FA_DTYPE_F32, 5, (gint64[]) { 1, 16, 1, 5, 6 }, NULL);
  g_assert_false (fa_wan_dit_forward (dit, odd, &t, texts, odd_out, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "divisible by the patch 1×2×2");
  g_clear_error (&error);

  g_autoptr (FaTensor) channels = fa_tensor_new (cpu, FA_DTYPE_F32, 5, (gint64[]) { 1, 4, 1, 4, 4 }, NULL);
  g_assert_false (fa_wan_dit_forward (dit, channels, &t, texts, channels, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "expected f32 [B, 16, F, H, W]");
  g_clear_error (&error);

  g_autoptr (FaTensor) wrong_text = fa_tensor_new (cpu, FA_DTYPE_F32, 2, (gint64[]) { 512, 31 }, NULL);
  g_assert_null (fa_wan_dit_encode_text (dit, wrong_text, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "the DiT takes f32 [rows, 32]");
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;

  g_test_init (&argc, &argv, NULL);
  g_assert_nonnull (g_getenv ("FA_TEST_SRCDIR"));
  cpu = fa_backend_new_cpu ();
  g_autofree char *path = data_path ("goldens/dit.safetensors");
  goldens = fa_safetensors_open (path, &error);
  g_assert_no_error (error);

  g_test_add_func ("/wan-dit/goldens/folder", test_goldens_from_folder);
  g_test_add_func ("/wan-dit/goldens/original-file", test_goldens_from_original_file);
  g_test_add_func ("/wan-dit/goldens/comfy-bf16-file", test_goldens_from_comfy_bf16_file);
  g_test_add_func ("/wan-dit/goldens/cuda", test_goldens_on_cuda);
  g_test_add_func ("/wan-dit/cross-attention-hook", test_cross_attention_hook);
  g_test_add_func ("/wan-dit/caches-are-exact", test_caches_are_exact);
  g_test_add_func ("/wan-dit/odd-frequency-width", test_odd_frequency_width);
  g_test_add_func ("/wan-dit/bad-inputs", test_bad_inputs);

  int status = g_test_run ();
  fa_safetensors_unref (goldens);
  fa_backend_unref (cpu);
  return status;
}
