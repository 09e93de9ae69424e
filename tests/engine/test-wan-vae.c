/* The Wan VAE's encode and decode against the diffusers goldens of the tiny
 * model (tests/data/goldens/vae.safetensors), from the diffusers folder and
 * from the single file under the original names: on the CPU within 1e-5 of
 * max|ref|, on CUDA (f16 patches) within 1e-2; the intermediate taps; the
 * frame rule; tiling against the untiled result; progress and cancelling.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>

#include "fa-error.h"
#include "fa-safetensors.h"
#include "fa-test-util.h"
#include "fa-wan-vae.h"

#define CPU_TOLERANCE 1e-5
#define CUDA_TOLERANCE 1e-2

static FaBackend *cpu;
static FaSafetensors *goldens;

static char *
data_path (const char *relative)
{
  return g_build_filename (g_getenv ("FA_TEST_SRCDIR"), "data", relative, NULL);
}

static FaTensor *
golden (const char *name)
{
  g_autoptr (GError) error = NULL;
  const FaSafetensorsEntry *entry = fa_safetensors_lookup (goldens, name);
  if (entry == NULL)
    g_error ("no golden tensor '%s'", name);
  g_autoptr (FaTensor) view = fa_safetensors_view_tensor (goldens, entry, &error);
  g_assert_no_error (error);
  FaTensor *tensor = fa_tensor_to (view, cpu, FA_DTYPE_F32, &error);
  g_assert_no_error (error);
  return tensor;
}

static FaTensor *
new_host (gint64 b, gint64 c, gint64 t, gint64 h, gint64 w)
{
  g_autoptr (GError) error = NULL;
  FaTensor *tensor = fa_tensor_new (cpu, FA_DTYPE_F32, 5, (gint64[]) { b, c, t, h, w }, &error);
  g_assert_no_error (error);
  fa_test_poison (fa_tensor_get_data (tensor), fa_tensor_get_numel (tensor));
  return tensor;
}

/* max|y − ref| / max|ref|, NaN failing. */
static double
relative_error (const FaTensor *y, const FaTensor *ref)
{
  const float *a = fa_tensor_get_data (y), *b = fa_tensor_get_data (ref);
  const gint64 n = fa_tensor_get_numel (ref);
  double worst = 0.0, scale = 0.0;

  g_assert_true (fa_tensor_same_shape (y, ref));
  for (gint64 i = 0; i < n; i++)
    {
      const double d = fabs ((double) a[i] - (double) b[i]);
      if (isnan (a[i]) || isnan (d))
        return INFINITY;
      worst = MAX (worst, d);
      scale = MAX (scale, fabs ((double) b[i]));
    }
  return worst / scale;
}

static void
assert_close (const char *what, const FaTensor *y, const FaTensor *ref, double tolerance)
{
  const double err = relative_error (y, ref);

  g_test_message ("%s: relative error %.3g", what, err);
  if (!(err <= tolerance))
    g_error ("%s: relative error %.3g above %.3g", what, err, tolerance);
}

static FaWanVae *
load_on (FaBackend *backend, const char *relative)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = data_path (relative);
  FaWanVae *vae = fa_wan_vae_load (path, backend, &error);

  g_assert_no_error (error);
  return vae;
}

static FaTensor *
encode (FaWanVae *vae, const char *video_name, gboolean raw, const FaWanVaeOptions *base)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTensor) video = golden (video_name);
  gint64 grid[3];
  FaWanVaeOptions options = { 0 };

  if (base != NULL)
    options = *base;
  options.raw_latents = raw;
  g_assert_true (fa_wan_vae_latent_shape (vae, video->shape[2], video->shape[3], video->shape[4],
                                          grid, &error));
  FaTensor *latent = new_host (1, fa_wan_vae_get_config (vae)->z_dim, grid[0], grid[1], grid[2]);
  g_assert_true (fa_wan_vae_encode (vae, video, latent, &options, &error));
  g_assert_no_error (error);
  return latent;
}

static FaTensor *
decode (FaWanVae *vae, const FaTensor *latent, const FaWanVaeOptions *options)
{
  g_autoptr (GError) error = NULL;
  FaTensor *video = new_host (1, 3, 1 + 4 * (latent->shape[2] - 1), latent->shape[3] * 8,
                              latent->shape[4] * 8);

  g_assert_true (fa_wan_vae_decode (vae, latent, video, options, &error));
  g_assert_no_error (error);
  return video;
}

static void
check_goldens (FaWanVae *vae, double tolerance)
{
  static const char *const clips[] = { "encode9", "encode1" };

  for (guint i = 0; i < G_N_ELEMENTS (clips); i++)
    {
      g_autofree char *video = g_strconcat (clips[i], ".video", NULL);
      g_autofree char *mean_name = g_strconcat (clips[i], ".mean", NULL);
      g_autofree char *latent_name = g_strconcat (clips[i], ".latent", NULL);
      g_autoptr (FaTensor) mean = encode (vae, video, TRUE, NULL);
      g_autoptr (FaTensor) latent = encode (vae, video, FALSE, NULL);
      g_autoptr (FaTensor) mean_ref = golden (mean_name);
      g_autoptr (FaTensor) latent_ref = golden (latent_name);

      assert_close (mean_name, mean, mean_ref, tolerance);
      assert_close (latent_name, latent, latent_ref, tolerance);
    }

  g_autoptr (FaTensor) latent = golden ("decode.latent");
  g_autoptr (FaTensor) video = decode (vae, latent, NULL);
  g_autoptr (FaTensor) video_ref = golden ("decode.video");
  assert_close ("decode.video", video, video_ref, tolerance);

  /* the raw form takes the VAE's own latent */
  g_autoptr (FaTensor) vae_input = golden ("decode.vae_input");
  FaWanVaeOptions raw = { .raw_latents = TRUE };
  g_autoptr (FaTensor) video_raw = decode (vae, vae_input, &raw);
  assert_close ("decode.video (raw latent)", video_raw, video_ref, tolerance);
}

static void
test_goldens_from_folder (void)
{
  g_autoptr (FaWanVae) vae = load_on (cpu, "wan-tiny/vae");
  check_goldens (vae, CPU_TOLERANCE);
}

static void
test_goldens_from_original_file (void)
{
  g_autoptr (FaWanVae) vae = load_on (cpu, "original/wan-tiny-vae.safetensors");
  check_goldens (vae, CPU_TOLERANCE);
}

static void
test_goldens_on_cuda (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaBackend) cuda = fa_backend_new_cuda (0, &error);
  if (cuda == NULL)
    {
      g_test_skip (error->message);
      return;
    }
  g_autoptr (FaWanVae) vae = load_on (cuda, "wan-tiny");
  check_goldens (vae, CUDA_TOLERANCE);
}

/* ---- taps ---- */

typedef struct {
  GHashTable *seen; /* name → FaTensor* (a host copy) */
} Taps;

static void
collect_tap (const char *name, const FaTensor *value, gpointer user_data)
{
  Taps *taps = user_data;
  g_autoptr (GError) error = NULL;
  FaTensor *copy = fa_tensor_to (value, cpu, FA_DTYPE_F32, &error);

  g_assert_no_error (error);
  g_assert_false (g_hash_table_contains (taps->seen, name));
  g_hash_table_insert (taps->seen, g_strdup (name), copy);
}

static FaTensor *
tap_value (Taps *taps, const char *name)
{
  FaTensor *t = g_hash_table_lookup (taps->seen, name);
  if (t == NULL)
    g_error ("no tap '%s'", name);
  return t;
}

/* Frames [start, start + n) of a golden [1, C, T, H, W] tap. */
static FaTensor *
golden_frames (const char *name, gint64 start, gint64 n)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTensor) all = golden (name);
  g_autoptr (FaTensor) view = fa_tensor_narrow (all, 2, start, n, &error);
  g_autoptr (FaTensor) out = new_host (1, all->shape[1], n, all->shape[3], all->shape[4]);

  g_assert_no_error (error);
  g_assert_true (fa_op_copy (cpu, view, out, &error));
  g_assert_no_error (error);
  return g_steal_pointer (&out);
}

static void
check_tap (Taps *taps, const char *tap, const char *golden_name, gint64 start, gint64 n)
{
  g_autoptr (FaTensor) ref = n > 0 ? golden_frames (golden_name, start, n) : golden (golden_name);
  assert_close (golden_name, tap_value (taps, tap), ref, CPU_TOLERANCE);
}

static void
test_taps (void)
{
  g_autoptr (FaWanVae) vae = load_on (cpu, "wan-tiny");
  Taps taps = { g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) fa_tensor_unref) };
  FaWanVaeOptions options = { .tap = collect_tap, .tap_user_data = &taps };

  g_autoptr (FaTensor) latent = encode (vae, "encode9.video", FALSE, &options);
  g_assert_cmpint (latent->shape[2], ==, 3);
  check_tap (&taps, "conv_in.chunk0", "encode9.tap.conv_in.chunk0", 0, 0);
  check_tap (&taps, "down_blocks.5.chunk1", "encode9.tap.down_blocks.5.chunk1", 0, 0);
  check_tap (&taps, "mid_block.chunk1", "encode9.tap.mid_block.chunk1", 0, 0);
  for (int k = 0; k < 3; k++)
    {
      g_autofree char *name = g_strdup_printf ("encoder_out.chunk%d", k);
      check_tap (&taps, name, "encode9.tap.encoder_out", k, 1);
    }
  g_hash_table_remove_all (taps.seen);

  g_autoptr (FaTensor) decode_latent = golden ("decode.latent");
  g_autoptr (FaTensor) video = decode (vae, decode_latent, &options);
  g_assert_cmpint (video->shape[2], ==, 9);
  for (int k = 0; k < 3; k++)
    {
      g_autofree char *name = g_strdup_printf ("post_quant_conv.chunk%d", k);
      check_tap (&taps, name, "decode.tap.post_quant_conv", k, 1);
    }
  check_tap (&taps, "conv_in.chunk0", "decode.tap.conv_in.chunk0", 0, 0);
  check_tap (&taps, "mid_block.chunk0", "decode.tap.mid_block.chunk0", 0, 0);
  check_tap (&taps, "up_blocks.0.chunk0", "decode.tap.up_blocks.0.chunk0", 0, 0);
  check_tap (&taps, "up_blocks.0.chunk1", "decode.tap.up_blocks.0.chunk1", 0, 0);
  check_tap (&taps, "up_blocks.1.chunk1", "decode.tap.up_blocks.1.chunk1", 0, 0);
  g_hash_table_unref (taps.seen);
}

/* ---- the rules, tiling, progress, cancelling ---- */

static void
test_frame_rule (void)
{
  g_autoptr (FaWanVae) vae = load_on (cpu, "wan-tiny/vae");
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTensor) video = new_host (1, 3, 8, 32, 48);
  g_autoptr (FaTensor) latent = new_host (1, 16, 2, 4, 6);
  gint64 grid[3];

  fa_test_fill_uniform (fa_tensor_get_data (video), fa_tensor_get_numel (video), 1, -1, 1);
  g_assert_false (fa_wan_vae_encode (vae, video, latent, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "1 + 4k");
  g_clear_error (&error);

  g_assert_false (fa_wan_vae_latent_shape (vae, 9, 30, 48, grid, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "multiples of 8");
  g_clear_error (&error);

  g_assert_true (fa_wan_vae_latent_shape (vae, 81, 480, 832, grid, &error));
  g_assert_cmpint (grid[0], ==, 21);
  g_assert_cmpint (grid[1], ==, 60);
  g_assert_cmpint (grid[2], ==, 104);

  /* a latent whose shape does not fit the video */
  g_autoptr (FaTensor) small = new_host (1, 16, 3, 4, 5);
  g_autoptr (FaTensor) nine = golden ("encode9.video");
  g_assert_false (fa_wan_vae_encode (vae, nine, small, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "expected [1, 16, 3, 4, 6]");
  g_clear_error (&error);

  /* the wrong number of latent channels */
  g_autoptr (FaTensor) narrow = new_host (1, 8, 3, 4, 6);
  g_autoptr (FaTensor) out = new_host (1, 3, 9, 32, 48);
  g_assert_false (fa_wan_vae_decode (vae, narrow, out, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "expected 16");
}

/* The clip's columns [x0, x0 + width) encoded alone. */
static FaTensor *
encode_crop (FaWanVae *vae, FaTensor *video, gint64 x0, gint64 width)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTensor) view = fa_tensor_narrow (video, 4, x0, width, &error);
  g_autoptr (FaTensor) crop = new_host (1, 3, video->shape[2], video->shape[3], width);
  FaWanVaeOptions options = { 0 };

  g_assert_no_error (error);
  g_assert_true (fa_op_copy (cpu, view, crop, &error));
  FaTensor *latent = new_host (1, 16, 3, video->shape[3] / 8, width / 8);
  g_assert_true (fa_wan_vae_encode (vae, crop, latent, &options, &error));
  g_assert_no_error (error);
  return latent;
}

static FaTensor *
decode_crop (FaWanVae *vae, FaTensor *latent, gint64 x0, gint64 width)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTensor) view = fa_tensor_narrow (latent, 4, x0, width, &error);
  g_autoptr (FaTensor) crop = new_host (1, 16, latent->shape[2], latent->shape[3], width);

  g_assert_no_error (error);
  g_assert_true (fa_op_copy (cpu, view, crop, &error));
  return decode (vae, crop, NULL);
}

/* @tiled [1, C, T, H, W] against the blend of @left (columns [0, Wl)) and
 * @right (columns [W − Wr, W)), overlapping by @overlap columns, with ramps
 * of @ramp columns. Decoded tiles were clamped before blending, the tiled
 * result after, so there only values strictly inside (−1, 1) compare. */
static void
check_blend (const char *what, const FaTensor *tiled, const FaTensor *left, const FaTensor *right,
             gint64 overlap, gint64 ramp, gboolean clamped)
{
  const gint64 w = tiled->shape[4], wl = left->shape[4], wr = right->shape[4];
  const gint64 rows = tiled->shape[1] * tiled->shape[2] * tiled->shape[3];
  const float *t = fa_tensor_get_data (tiled), *l = fa_tensor_get_data (left), *r = fa_tensor_get_data (right);
  double worst = 0.0;
  gint64 compared = 0;

  g_assert_cmpint (wl + wr - overlap, ==, w);
  for (gint64 row = 0; row < rows; row++)
    for (gint64 x = 0; x < w; x++)
      {
        double num = 0.0, den = 0.0;
        gboolean inside = TRUE;
        if (x < wl)
          {
            const gint64 u = x;
            const double wgt = u >= wl - ramp ? (wl - 1 - u + 0.5) / ramp : 1.0;
            num += wgt * l[row * wl + u];
            den += wgt;
            inside = inside && fabsf (l[row * wl + u]) < 1.0f;
          }
        if (x >= w - wr)
          {
            const gint64 u = x - (w - wr);
            const double wgt = u < ramp ? (u + 0.5) / ramp : 1.0;
            num += wgt * r[row * wr + u];
            den += wgt;
            inside = inside && fabsf (r[row * wr + u]) < 1.0f;
          }
        if (clamped && !inside)
          continue;
        worst = MAX (worst, fabs (num / den - t[row * w + x]));
        compared++;
      }
  g_test_message ("%s: tiled vs blend of separately computed tiles: %.3g over %" G_GINT64_FORMAT " values",
                  what, worst, compared);
  g_assert_cmpint (compared, >, rows * w / 2);
  g_assert_cmpfloat (worst, <, 1e-5);
}

static void
test_bad_tensors (void)
{
  g_autoptr (FaWanVae) vae = load_on (cpu, "wan-tiny/vae");
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTensor) latent = new_host (1, 16, 3, 4, 6);

  /* four channels are not RGB */
  g_autoptr (FaTensor) rgba = new_host (1, 4, 9, 32, 48);
  g_assert_false (fa_wan_vae_encode (vae, rgba, latent, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "4 channels, expected 3");
  g_clear_error (&error);

  /* the clip must be a 5-D f32 host tensor */
  g_autoptr (FaTensor) flat = fa_tensor_new (cpu, FA_DTYPE_F32, 4, (gint64[]) { 3, 9, 32, 48 }, &error);
  g_assert_no_error (error);
  g_assert_false (fa_wan_vae_encode (vae, flat, latent, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "5-D f32 host tensor");
  g_clear_error (&error);

  g_autoptr (FaTensor) half = fa_tensor_new (cpu, FA_DTYPE_F16, 5, (gint64[]) { 1, 3, 9, 32, 48 }, &error);
  g_assert_no_error (error);
  g_assert_false (fa_wan_vae_encode (vae, half, latent, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "not f16");
  g_clear_error (&error);

  /* an empty latent */
  g_autoptr (FaTensor) empty = fa_tensor_new (cpu, FA_DTYPE_F32, 5, (gint64[]) { 1, 16, 0, 4, 6 }, &error);
  g_autoptr (FaTensor) video = new_host (1, 3, 9, 32, 48);
  g_assert_no_error (error);
  g_assert_false (fa_wan_vae_decode (vae, empty, video, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "non-empty");
}

static void
test_tiling (void)
{
  g_autoptr (FaWanVae) vae = load_on (cpu, "wan-tiny/vae");
  g_autoptr (FaTensor) latent = golden ("decode.latent");
  g_autoptr (FaTensor) untiled = decode (vae, latent, NULL);
  g_autoptr (FaTensor) latent_untiled = encode (vae, "encode9.video", FALSE, NULL);

  /* one tile covering the frame is the untiled computation */
  FaWanVaeOptions whole = { .tile = TRUE, .tile_size = 64, .tile_overlap = 16 };
  g_autoptr (FaTensor) one_tile = decode (vae, latent, &whole);
  g_assert_cmpfloat (relative_error (one_tile, untiled), ==, 0.0);

  /* 32 × 48 in tiles of 32 overlapping by 16: two tiles across, each seeing
   * zeros where the untiled pass sees its neighbour; measured, not bounded:
   * the tiny model's receptive field is wider than these tiles */
  FaWanVaeOptions tiles = { .tile = TRUE, .tile_size = 32, .tile_overlap = 16 };
  g_autoptr (FaTensor) tiled = decode (vae, latent, &tiles);
  g_autoptr (FaTensor) latent_tiled = encode (vae, "encode9.video", FALSE, &tiles);
  const double decode_err = relative_error (tiled, untiled);
  const double encode_err = relative_error (latent_tiled, latent_untiled);
  g_test_message ("tiled vs untiled (tiny model, 32-px tiles, 16 px overlap): decode %.3g, encode %.3g",
                  decode_err, encode_err);
  g_assert_cmpfloat (decode_err, >, 0.0);
  g_assert_cmpfloat (encode_err, >, 0.0);

  /* what tiling must be: each tile computed alone, then blended with
   * linear ramps across the overlap */
  g_autoptr (FaTensor) video = golden ("encode9.video");
  g_autoptr (FaTensor) left_latent = encode_crop (vae, video, 0, 32);
  g_autoptr (FaTensor) right_latent = encode_crop (vae, video, 16, 32);
  check_blend ("encode", latent_tiled, left_latent, right_latent, 2, 2, FALSE);

  g_autoptr (FaTensor) left_video = decode_crop (vae, latent, 0, 4);
  g_autoptr (FaTensor) right_video = decode_crop (vae, latent, 2, 4);
  check_blend ("decode", tiled, left_video, right_video, 16, 16, TRUE);

  g_autoptr (GError) error = NULL;
  FaWanVaeOptions bad = { .tile = TRUE, .tile_size = 30, .tile_overlap = 8 };
  g_autoptr (FaTensor) out = new_host (1, 3, 9, 32, 48);
  g_assert_false (fa_wan_vae_decode (vae, latent, out, &bad, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "multiples of 8");
}

typedef struct {
  guint calls, last, total;
  GCancellable *cancel_after_first;
} Progress;

static void
on_progress (guint done, guint total, gpointer user_data)
{
  Progress *p = user_data;

  g_assert_cmpuint (done, ==, p->last + 1);
  p->calls++;
  p->last = done;
  p->total = total;
  if (p->cancel_after_first != NULL)
    g_cancellable_cancel (p->cancel_after_first);
}

static void
test_progress_and_cancel (void)
{
  g_autoptr (FaWanVae) vae = load_on (cpu, "wan-tiny/vae");
  g_autoptr (FaTensor) latent = golden ("decode.latent");
  Progress progress = { 0 };
  FaWanVaeOptions options = { .progress = on_progress, .progress_user_data = &progress };
  g_autoptr (FaTensor) video = decode (vae, latent, &options);

  g_assert_cmpint (video->shape[2], ==, 9);
  g_assert_cmpuint (progress.calls, ==, 3);
  g_assert_cmpuint (progress.total, ==, 3);

  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTensor) out = new_host (1, 3, 9, 32, 48);
  progress = (Progress) { .cancel_after_first = cancellable };
  options.cancellable = cancellable;
  g_assert_false (fa_wan_vae_decode (vae, latent, out, &options, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (progress.calls, ==, 1);
}

static void
test_memory_released (void)
{
  g_autoptr (FaBackend) backend = fa_backend_new_cpu ();
  guint64 current;

  {
    g_autoptr (FaWanVae) vae = load_on (backend, "wan-tiny/vae");
    g_autoptr (FaTensor) latent = golden ("decode.latent");
    g_autoptr (FaTensor) video = decode (vae, latent, NULL);
    g_assert_cmpint (video->shape[2], ==, 9);
  }
  fa_backend_get_memory (backend, &current, NULL);
  g_assert_cmpuint (current, ==, 0);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;

  g_test_init (&argc, &argv, NULL);
  g_assert_nonnull (g_getenv ("FA_TEST_SRCDIR"));
  cpu = fa_backend_new_cpu ();
  g_autofree char *path = data_path ("goldens/vae.safetensors");
  goldens = fa_safetensors_open (path, &error);
  g_assert_no_error (error);

  g_test_add_func ("/wan-vae/goldens/folder", test_goldens_from_folder);
  g_test_add_func ("/wan-vae/goldens/original-file", test_goldens_from_original_file);
  g_test_add_func ("/wan-vae/goldens/cuda", test_goldens_on_cuda);
  g_test_add_func ("/wan-vae/taps", test_taps);
  g_test_add_func ("/wan-vae/frame-rule", test_frame_rule);
  g_test_add_func ("/wan-vae/bad-tensors", test_bad_tensors);
  g_test_add_func ("/wan-vae/tiling", test_tiling);
  g_test_add_func ("/wan-vae/progress-and-cancel", test_progress_and_cancel);
  g_test_add_func ("/wan-vae/memory-released", test_memory_released);

  int status = g_test_run ();
  fa_safetensors_unref (goldens);
  fa_backend_unref (cpu);
  return status;
}
