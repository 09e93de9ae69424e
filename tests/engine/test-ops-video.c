/* The video ops on the CPU: fa_op_conv3d against the float64 reference of
 * fa-reference.h (a naive loop over the padded, upsampled input, written
 * independently of kernels/cpu), its im2col against a gather from the
 * definition, and fa_op_copy over permuted and narrowed views.
 * Outputs are poisoned with NaN first, so an element left unwritten fails.
 * `test-ops-video -m perf` adds a timing of one VAE-sized convolution.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>

#include "fa-backend.h"
#include "fa-cpu-kernels.h"
#include "fa-error.h"
#include "fa-reference.h"
#include "fa-test-util.h"

#define F32_TOLERANCE 1e-5

typedef struct {
  FaBackend *backend;
} Fixture;

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  fixture->backend = fa_backend_new_cpu ();
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  guint64 current;

  fa_backend_get_memory (fixture->backend, &current, NULL);
  g_assert_cmpuint (current, ==, 0); /* every tensor and every scratch was released */
  fa_backend_unref (fixture->backend);
}

static FaTensor *
new_tensor (Fixture *fixture, FaDType dtype, int ndim, const gint64 *shape)
{
  g_autoptr (GError) error = NULL;
  FaTensor *t = fa_tensor_new (fixture->backend, dtype, ndim, shape, &error);
  g_assert_no_error (error);
  return t;
}

static FaTensor *
new_random (Fixture *fixture, int ndim, const gint64 *shape, guint32 seed)
{
  FaTensor *t = new_tensor (fixture, FA_DTYPE_F32, ndim, shape);
  fa_test_fill_uniform (fa_tensor_get_data (t), fa_tensor_get_numel (t), seed, -1, 1);
  return t;
}

static FaTensor *
new_poisoned (Fixture *fixture, int ndim, const gint64 *shape)
{
  FaTensor *t = new_tensor (fixture, FA_DTYPE_F32, ndim, shape);
  fa_test_poison (fa_tensor_get_data (t), fa_tensor_get_numel (t));
  return t;
}

static float *
data (const FaTensor *t)
{
  return fa_tensor_get_data (t);
}

/* ---- conv3d ---- */

typedef struct {
  const char *name;
  gint64 th, tx, h, w, ci, co;
  int kernel[3], stride[3];
  int pad_front, pad_top, pad_bottom, pad_left, pad_right;
  gboolean upsample;
} ConvCase;

static const ConvCase conv_cases[] = {
  /* Wan's causal 3×3×3: two zero frames in front when nothing came before,
   * the cached frames of the previous chunk otherwise */
  { "causal", 0, 3, 5, 7, 3, 5, { 3, 3, 3 }, { 1, 1, 1 }, 2, 1, 1, 1, 1, FALSE },
  { "causal-history-1", 1, 3, 5, 7, 3, 5, { 3, 3, 3 }, { 1, 1, 1 }, 1, 1, 1, 1, 1, FALSE },
  { "causal-history-2", 2, 3, 5, 7, 3, 5, { 3, 3, 3 }, { 1, 1, 1 }, 0, 1, 1, 1, 1, FALSE },
  { "causal-history-2-one-frame", 2, 1, 4, 6, 8, 4, { 3, 3, 3 }, { 1, 1, 1 }, 0, 1, 1, 1, 1, FALSE },
  { "wide-channels", 0, 2, 4, 4, 64, 48, { 3, 3, 3 }, { 1, 1, 1 }, 2, 1, 1, 1, 1, FALSE },
  /* 1×1×1: the direct linear, then the cases that must not take it */
  { "pointwise", 0, 3, 5, 7, 6, 5, { 1, 1, 1 }, { 1, 1, 1 }, 0, 0, 0, 0, 0, FALSE },
  { "pointwise-history", 2, 3, 5, 7, 6, 5, { 1, 1, 1 }, { 1, 1, 1 }, 0, 0, 0, 0, 0, FALSE },
  { "pointwise-pad-after", 0, 2, 5, 7, 6, 5, { 1, 1, 1 }, { 1, 1, 1 }, 0, 0, 1, 0, 2, FALSE },
  { "pointwise-pad-front", 0, 2, 3, 4, 6, 5, { 1, 1, 1 }, { 1, 1, 1 }, 1, 0, 0, 0, 0, FALSE },
  /* the temporal downsample: (3, 1, 1) stride 2 over a cached frame */
  { "temporal-downsample", 1, 4, 5, 7, 3, 5, { 3, 1, 1 }, { 2, 1, 1 }, 0, 0, 0, 0, 0, FALSE },
  { "temporal-downsample-odd", 0, 5, 5, 7, 3, 5, { 3, 1, 1 }, { 2, 1, 1 }, 0, 0, 0, 0, 0, FALSE },
  /* the spatial downsample: zero row and column after, stride 2 */
  { "spatial-downsample", 0, 2, 6, 8, 3, 5, { 1, 3, 3 }, { 1, 2, 2 }, 0, 0, 1, 0, 1, FALSE },
  { "spatial-downsample-odd", 0, 2, 5, 7, 3, 5, { 1, 3, 3 }, { 1, 2, 2 }, 0, 0, 1, 0, 1, FALSE },
  /* the spatial upsample: nearest ×2, then a padded 3×3 */
  { "upsample", 0, 2, 5, 7, 3, 5, { 1, 3, 3 }, { 1, 1, 1 }, 0, 1, 1, 1, 1, TRUE },
  { "upsample-strided-history", 1, 2, 3, 5, 4, 3, { 2, 3, 3 }, { 1, 2, 2 }, 1, 1, 0, 2, 1, TRUE },
  { "asymmetric", 0, 3, 6, 5, 2, 3, { 2, 3, 1 }, { 1, 1, 2 }, 1, 0, 2, 0, 0, FALSE },
  { "stride-3-big-pad", 1, 4, 7, 6, 3, 2, { 2, 2, 3 }, { 3, 3, 2 }, 2, 3, 2, 2, 3, FALSE },
};

static FaConv3dParams
case_params (const ConvCase *c)
{
  FaConv3dParams params = {
    .kernel = { c->kernel[0], c->kernel[1], c->kernel[2] },
    .stride = { c->stride[0], c->stride[1], c->stride[2] },
    .pad_front = c->pad_front,
    .pad_top = c->pad_top,
    .pad_bottom = c->pad_bottom,
    .pad_left = c->pad_left,
    .pad_right = c->pad_right,
    .upsample = c->upsample,
  };
  return params;
}

static void
case_output_shape (const ConvCase *c, gint64 out[4])
{
  gint64 u = c->upsample ? 2 : 1;

  out[0] = (c->pad_front + c->th + c->tx - c->kernel[0]) / c->stride[0] + 1;
  out[1] = (c->h * u + c->pad_top + c->pad_bottom - c->kernel[1]) / c->stride[1] + 1;
  out[2] = (c->w * u + c->pad_left + c->pad_right - c->kernel[2]) / c->stride[2] + 1;
  out[3] = c->co;
}

static FaConv3dGeometry
case_geometry (const ConvCase *c)
{
  gint64 out[4];

  case_output_shape (c, out);
  FaConv3dGeometry g = {
    .th = c->th, .tx = c->tx, .h = c->h, .w = c->w, .ci = c->ci,
    .to = out[0], .ho = out[1], .wo = out[2], .co = c->co,
    .kt = c->kernel[0], .kh = c->kernel[1], .kw = c->kernel[2],
    .st = c->stride[0], .sh = c->stride[1], .sw = c->stride[2],
    .pad_front = c->pad_front, .pad_top = c->pad_top, .pad_left = c->pad_left,
    .upsample = c->upsample,
  };
  return g;
}

static void
run_conv_case (Fixture *fixture, const ConvCase *c, gboolean with_bias, guint32 seed)
{
  g_autoptr (GError) error = NULL;
  gint64 out[4];

  case_output_shape (c, out);
  g_assert_cmpint (out[0], >=, 1);
  g_assert_cmpint (out[1], >=, 1);
  g_assert_cmpint (out[2], >=, 1);

  g_autoptr (FaTensor) x = new_random (fixture, 4, (gint64[]) { c->tx, c->h, c->w, c->ci }, seed);
  g_autoptr (FaTensor) history = NULL;
  if (c->th > 0)
    history = new_random (fixture, 4, (gint64[]) { c->th, c->h, c->w, c->ci }, seed + 1);
  g_autoptr (FaTensor) weight = new_random (
    fixture, 5, (gint64[]) { c->co, c->kernel[0], c->kernel[1], c->kernel[2], c->ci }, seed + 2);
  g_autoptr (FaTensor) bias = with_bias ? new_random (fixture, 1, &c->co, seed + 3) : NULL;
  g_autoptr (FaTensor) y = new_poisoned (fixture, 4, out);
  gint64 n = fa_tensor_get_numel (y);
  g_autofree double *ref = g_new (double, n);
  FaConv3dParams params = case_params (c);

  fa_reference_conv3d (history != NULL ? data (history) : NULL, data (x), data (weight),
                       bias != NULL ? data (bias) : NULL, ref,
                       (int64_t[]) { c->th, c->tx, c->h, c->w, c->ci }, (int64_t[]) { out[0], out[1], out[2], out[3] },
                       c->kernel, c->stride, (int[]) { c->pad_front, c->pad_top, c->pad_left },
                       c->upsample);
  if (!fa_op_conv3d (fixture->backend, x, history, weight, bias, y, &params, &error))
    g_error ("conv3d case %s: %s", c->name, error->message);
  double err = fa_test_relative_error (data (y), ref, n);
  if (!(err <= F32_TOLERANCE))
    g_error ("conv3d case %s (bias %d): relative error %.3g exceeds %.3g", c->name, with_bias, err,
             F32_TOLERANCE);
}

static void
test_conv3d (Fixture *fixture, gconstpointer unused)
{
  for (guint i = 0; i < G_N_ELEMENTS (conv_cases); i++)
    for (int with_bias = 0; with_bias <= 1; with_bias++)
      run_conv_case (fixture, &conv_cases[i], with_bias, 10 * i + 1);
}

/* Only an unpadded, unstrided 1×1×1 convolution of x alone reads x in
 * place; everything else gathers patches. */
static void
test_conv3d_direct_path (Fixture *fixture, gconstpointer unused)
{
  for (guint i = 0; i < G_N_ELEMENTS (conv_cases); i++)
    {
      FaConv3dGeometry g = case_geometry (&conv_cases[i]);
      gboolean direct = g_str_equal (conv_cases[i].name, "pointwise");
      gint64 floats = fa_cpu_conv3d_scratch_floats (&g);

      if (direct)
        g_assert_cmpint (floats, ==, 0);
      else
        {
          /* one row at least, and never more than all the patches */
          g_assert_cmpint (floats, >=, g.wo * fa_conv3d_patch_size (&g));
          g_assert_cmpint (floats, <=, g.to * g.ho * g.wo * fa_conv3d_patch_size (&g));
        }
    }
}

/* Big enough that the patches are gathered in several blocks: one of many
 * rows that ends in a partial block, and one of a single output row whose
 * patches alone exceed the block budget. */
static void
test_conv3d_blocks (Fixture *fixture, gconstpointer unused)
{
  static const ConvCase big[] = {
    { "many-rows", 2, 4, 64, 64, 32, 8, { 3, 3, 3 }, { 1, 1, 1 }, 0, 1, 1, 1, 1, FALSE },
    { "one-row", 0, 1, 2, 640, 512, 2, { 3, 3, 3 }, { 1, 1, 1 }, 2, 1, 1, 1, 1, FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (big); i++)
    {
      FaConv3dGeometry g = case_geometry (&big[i]);
      gint64 k = fa_conv3d_patch_size (&g), pixels = g.to * g.ho * g.wo;
      gint64 block = fa_cpu_conv3d_scratch_floats (&g) / k;

      g_assert_cmpint (fa_cpu_conv3d_scratch_floats (&g) % k, ==, 0);
      g_assert_cmpint (block % g.wo, ==, 0);
      g_assert_cmpint (block, <, pixels);                 /* at least two blocks */
      g_test_message ("%s: %" G_GINT64_FORMAT " pixels in blocks of %" G_GINT64_FORMAT, big[i].name,
                      pixels, block);
      if (i == 1)
        g_assert_cmpint (block, ==, g.wo);
      run_conv_case (fixture, &big[i], TRUE, 500 + i);
    }
}

/* The gather on its own, from any pixel to any pixel (starting and ending
 * inside rows), against the definition; a copy, so exactly equal. */
static void
test_conv3d_im2col (Fixture *fixture, gconstpointer unused)
{
  for (guint i = 0; i < G_N_ELEMENTS (conv_cases); i++)
    {
      const ConvCase *c = &conv_cases[i];
      FaConv3dGeometry g = case_geometry (c);
      const gint64 k = fa_conv3d_patch_size (&g), pixels = g.to * g.ho * g.wo;
      const gint64 p0 = pixels / 3 + 1, count = MIN (pixels - p0, 2 * g.wo + 3);
      g_autoptr (FaTensor) x = new_random (fixture, 4, (gint64[]) { c->tx, c->h, c->w, c->ci }, 7);
      g_autoptr (FaTensor) history = NULL;
      if (c->th > 0)
        history = new_random (fixture, 4, (gint64[]) { c->th, c->h, c->w, c->ci }, 8);
      const float *hist = history != NULL ? data (history) : NULL;
      /* one patch more than asked for, which must stay untouched */
      g_autofree float *cols = g_new (float, (count + 1) * k);

      fa_test_poison (cols, (count + 1) * k);
      fa_cpu_conv3d_im2col_f32 (hist, data (x), &g, p0, count, cols);
      for (gint64 p = p0; p < p0 + count; p++)
        {
          gint64 t = p / (g.ho * g.wo), r = p / g.wo % g.ho, col = p % g.wo;
          for (int a = 0; a < g.kt; a++)
            for (int b = 0; b < g.kh; b++)
              for (int cc = 0; cc < g.kw; cc++)
                {
                  const float *in = fa_reference_conv3d_pixel (
                    hist, data (x), (int64_t[]) { c->th, c->tx, c->h, c->w, c->ci }, c->upsample,
                    t * g.st + a - g.pad_front, r * g.sh + b - g.pad_top, col * g.sw + cc - g.pad_left);
                  const float *got = cols + (p - p0) * k + ((a * g.kh + b) * g.kw + cc) * g.ci;
                  for (gint64 ch = 0; ch < g.ci; ch++)
                    if (got[ch] != (in != NULL ? in[ch] : 0.0f))
                      g_error ("im2col case %s: pixel %" G_GINT64_FORMAT " tap (%d, %d, %d) channel %"
                               G_GINT64_FORMAT ": %g, expected %g", c->name, p, a, b, cc, ch,
                               got[ch], in != NULL ? in[ch] : 0.0f);
                }
        }
      for (gint64 l = count * k; l < (count + 1) * k; l++)
        g_assert_true (isnan (cols[l]));
    }
}

static void
test_conv3d_errors (Fixture *fixture, gconstpointer unused)
{
  const ConvCase *c = &conv_cases[1]; /* causal 3×3×3, one history frame */
  g_autoptr (FaTensor) x = new_random (fixture, 4, (gint64[]) { c->tx, c->h, c->w, c->ci }, 1);
  g_autoptr (FaTensor) history = new_random (fixture, 4, (gint64[]) { 1, c->h, c->w, c->ci }, 2);
  g_autoptr (FaTensor) weight = new_random (fixture, 5, (gint64[]) { c->co, 3, 3, 3, c->ci }, 3);
  g_autoptr (FaTensor) bias = new_random (fixture, 1, &c->co, 4);
  gint64 out[4];
  case_output_shape (c, out);
  g_autoptr (FaTensor) y = new_poisoned (fixture, 4, out);
  FaConv3dParams params = case_params (c);
  FaBackend *be = fixture->backend;

  /* the valid call, so that each failure below has one cause */
  {
    g_autoptr (GError) error = NULL;
    g_assert_true (fa_op_conv3d (be, x, history, weight, bias, y, &params, &error));
    g_assert_no_error (error);
  }
  {
    g_autoptr (GError) error = NULL;
    g_assert_false (fa_op_conv3d (be, x, history, weight, bias, y, NULL, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "params is NULL");
  }
  {
    g_autoptr (GError) error = NULL;
    FaConv3dParams bad = params;
    bad.stride[1] = 0;
    g_assert_false (fa_op_conv3d (be, x, history, weight, bias, y, &bad, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "at least 1");
  }
  {
    g_autoptr (GError) error = NULL;
    FaConv3dParams bad = params;
    bad.pad_right = -1;
    g_assert_false (fa_op_conv3d (be, x, history, weight, bias, y, &bad, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "negative padding");
  }
  {
    /* y one row short: the message gives both shapes */
    g_autoptr (GError) error = NULL;
    g_autoptr (FaTensor) short_y = new_poisoned (fixture, 4, (gint64[]) { out[0], out[1] - 1, out[2], out[3] });
    g_autofree char *want = g_strdup_printf ("should have shape [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                                             ", %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] but has",
                                             out[0], out[1], out[2], out[3]);
    g_assert_false (fa_op_conv3d (be, x, history, weight, bias, short_y, &params, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, want);
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (FaTensor) w2 = new_random (fixture, 5, (gint64[]) { c->co, 3, 3, 3, c->ci + 1 }, 5);
    g_assert_false (fa_op_conv3d (be, x, history, w2, bias, y, &params, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "weight has shape");
  }
  {
    /* the kernel the weight has is not the one params asks for */
    g_autoptr (GError) error = NULL;
    g_autoptr (FaTensor) w2 = new_random (fixture, 5, (gint64[]) { c->co, 1, 3, 3, c->ci }, 5);
    g_assert_false (fa_op_conv3d (be, x, history, w2, bias, y, &params, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "kernel [3, 3, 3]");
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (FaTensor) h2 = new_random (fixture, 4, (gint64[]) { 1, c->h, c->w + 1, c->ci }, 6);
    g_assert_false (fa_op_conv3d (be, x, h2, weight, bias, y, &params, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "history frames");
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (FaTensor) b2 = new_random (fixture, 1, (gint64[]) { c->co + 1 }, 6);
    g_assert_false (fa_op_conv3d (be, x, history, weight, b2, y, &params, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "bias has shape");
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (FaTensor) x3 = new_random (fixture, 3, (gint64[]) { c->h, c->w, c->ci }, 6);
    g_assert_false (fa_op_conv3d (be, x3, NULL, weight, bias, y, &params, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE,
                                  "expected [frames, height, width, channels]");
  }
  {
    /* a kernel taller than the padded frame */
    g_autoptr (GError) error = NULL;
    g_autoptr (FaTensor) tiny = new_random (fixture, 4, (gint64[]) { c->tx, 1, c->w, c->ci }, 6);
    FaConv3dParams bad = params;
    bad.pad_top = bad.pad_bottom = 0;
    g_assert_false (fa_op_conv3d (be, tiny, NULL, weight, bias, y, &bad, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "does not fit");
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (FaTensor) w16 = new_tensor (fixture, FA_DTYPE_F16, 5, weight->shape);
    memset (fa_tensor_get_data (w16), 0, fa_tensor_get_nbytes (w16));
    g_assert_false (fa_op_conv3d (be, x, history, w16, bias, y, &params, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_DTYPE, "weight is f16");
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (FaTensor) w8 = new_tensor (fixture, FA_DTYPE_BF16, 5, weight->shape);
    g_assert_false (fa_op_conv3d (be, x, history, w8, bias, y, &params, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_DTYPE, "expected f32 or f16");
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (FaTensor) x16 = new_tensor (fixture, FA_DTYPE_F16, 4, x->shape);
    g_assert_false (fa_op_conv3d (be, x16, history, weight, bias, y, &params, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_DTYPE, "x is f16, expected f32");
  }
  {
    /* x seen with its width and height swapped is not contiguous */
    g_autoptr (GError) error = NULL;
    g_autoptr (FaTensor) xt = fa_tensor_permute (x, (int[]) { 0, 2, 1, 3 }, NULL);
    g_autoptr (FaTensor) ht = fa_tensor_permute (history, (int[]) { 0, 2, 1, 3 }, NULL);
    g_autoptr (FaTensor) yt = new_poisoned (fixture, 4, (gint64[]) { out[0], out[2], out[1], out[3] });
    g_assert_false (fa_op_conv3d (be, xt, ht, weight, bias, yt, &params, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "x is not contiguous");
  }
  {
    /* a pointwise convolution whose output is x shifted by one frame */
    g_autoptr (GError) error = NULL;
    g_autoptr (FaTensor) frames = new_random (fixture, 4, (gint64[]) { 4, 5, 7, 4 }, 9);
    g_autoptr (FaTensor) xa = fa_tensor_narrow (frames, 0, 0, 3, NULL);
    g_autoptr (FaTensor) ya = fa_tensor_narrow (frames, 0, 1, 3, NULL);
    g_autoptr (FaTensor) w1 = new_random (fixture, 5, (gint64[]) { 4, 1, 1, 1, 4 }, 10);
    FaConv3dParams pointwise = { .kernel = { 1, 1, 1 }, .stride = { 1, 1, 1 } };
    g_assert_false (fa_op_conv3d (be, xa, NULL, w1, NULL, ya, &pointwise, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "y must not overlap x");
  }
}

/* ---- copy ---- */

/* Element (multi-index @idx) of a view, as an offset in elements. */
static gint64
view_offset (const FaTensor *t, const gint64 *idx)
{
  gint64 offset = 0;

  for (int i = 0; i < t->ndim; i++)
    offset += idx[i] * t->strides[i];
  return offset;
}

/* Steps @idx through @shape, last axis fastest; FALSE after the last. */
static gboolean
next_index (gint64 *idx, const gint64 *shape, int ndim)
{
  for (int i = ndim - 1; i >= 0; i--)
    {
      if (++idx[i] < shape[i])
        return TRUE;
      idx[i] = 0;
    }
  return FALSE;
}

/* dst and src, views of two tensors of @elem_size-byte elements (their
 * data pointers at the views' starts), hold the same elements. */
static void
assert_views_equal (const FaTensor *dst, const FaTensor *src)
{
  const guint8 *d = fa_tensor_get_data (dst), *s = fa_tensor_get_data (src);
  gsize size = fa_dtype_size (src->dtype);
  gint64 idx[FA_MAX_DIMS] = { 0 };

  g_assert_true (fa_tensor_same_shape (dst, src));
  do
    {
      if (memcmp (d + view_offset (dst, idx) * size, s + view_offset (src, idx) * size, size) != 0)
        {
          g_autofree char *at = fa_shape_to_string (src->ndim, idx);
          g_error ("copy: element %s differs", at);
        }
    }
  while (next_index (idx, src->shape, src->ndim));
}

/* Distinct bytes everywhere, so that a misplaced element shows. */
static FaTensor *
new_counting (Fixture *fixture, FaDType dtype, int ndim, const gint64 *shape)
{
  FaTensor *t = new_tensor (fixture, dtype, ndim, shape);
  guint8 *bytes = fa_tensor_get_data (t);

  for (gsize i = 0; i < fa_tensor_get_nbytes (t); i++)
    bytes[i] = (guint8) (i * 131 + i / 251 + 7);
  return t;
}

static void
copy_ok (Fixture *fixture, const FaTensor *src, FaTensor *dst)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (fa_op_copy (fixture->backend, src, dst, &error));
  g_assert_no_error (error);
  assert_views_equal (dst, src);
}

/* Every permutation of a [2, 3, 4, 5] f32 tensor, copied out contiguous
 * and back into a permuted destination. */
static void
test_copy_permute (Fixture *fixture, gconstpointer unused)
{
  const gint64 shape[4] = { 2, 3, 4, 5 };
  g_autoptr (FaTensor) a = new_counting (fixture, FA_DTYPE_F32, 4, shape);
  guint count = 0;

  for (int p0 = 0; p0 < 4; p0++)
    for (int p1 = 0; p1 < 4; p1++)
      for (int p2 = 0; p2 < 4; p2++)
        {
          int p3 = 6 - p0 - p1 - p2;
          if (p0 == p1 || p0 == p2 || p1 == p2 || p3 == p0 || p3 == p1 || p3 == p2)
            continue;
          const int axes[4] = { p0, p1, p2, p3 };
          g_autoptr (FaTensor) view = fa_tensor_permute (a, axes, NULL);
          g_autoptr (FaTensor) out = new_poisoned (fixture, 4, view->shape);
          g_autoptr (FaTensor) back = new_poisoned (fixture, 4, shape);
          g_autoptr (FaTensor) back_view = fa_tensor_permute (back, axes, NULL);

          copy_ok (fixture, view, out);
          /* contiguous into strided: the round trip gives a back */
          copy_ok (fixture, out, back_view);
          g_assert_cmpmem (fa_tensor_get_data (back), fa_tensor_get_nbytes (back),
                           fa_tensor_get_data (a), fa_tensor_get_nbytes (a));
          count++;
        }
  g_assert_cmpuint (count, ==, 24);
}

/* Narrowed on both sides, along the middle and the last axis; what lies
 * outside the destination view is left alone. */
static void
test_copy_narrow (Fixture *fixture, gconstpointer unused)
{
  g_autoptr (FaTensor) a = new_counting (fixture, FA_DTYPE_F32, 3, (gint64[]) { 6, 7, 8 });
  g_autoptr (FaTensor) b = new_poisoned (fixture, 3, (gint64[]) { 6, 4, 10 });
  g_autoptr (FaTensor) src = fa_tensor_narrow (a, 1, 2, 4, NULL);
  g_autoptr (FaTensor) dst = fa_tensor_narrow (b, 2, 1, 8, NULL);

  copy_ok (fixture, src, dst);
  for (gint64 i = 0; i < 6 * 4; i++)
    {
      g_assert_true (isnan (data (b)[i * 10]));
      g_assert_true (isnan (data (b)[i * 10 + 9]));
    }

  /* a narrowed permutation into a narrowed contiguous tensor */
  g_autoptr (FaTensor) t = fa_tensor_permute (a, (int[]) { 2, 0, 1 }, NULL);
  g_autoptr (FaTensor) t_part = fa_tensor_narrow (t, 1, 1, 4, NULL);
  g_autoptr (FaTensor) c = new_poisoned (fixture, 3, (gint64[]) { 8, 5, 7 });
  g_autoptr (FaTensor) c_part = fa_tensor_narrow (c, 1, 1, 4, NULL);
  copy_ok (fixture, t_part, c_part);
  for (gint64 i = 0; i < 8; i++)
    for (gint64 k = 0; k < 7; k++)
      g_assert_true (isnan (data (c)[(i * 5 + 0) * 7 + k]));
}

/* Other element sizes: f16 (2 bytes), u8 and i64, and five axes. */
static void
test_copy_element_sizes (Fixture *fixture, gconstpointer unused)
{
  static const FaDType dtypes[] = { FA_DTYPE_F16, FA_DTYPE_U8, FA_DTYPE_I64, FA_DTYPE_F32 };

  for (guint i = 0; i < G_N_ELEMENTS (dtypes); i++)
    {
      g_autoptr (FaTensor) a = new_counting (fixture, dtypes[i], 3, (gint64[]) { 3, 4, 5 });
      g_autoptr (FaTensor) view = fa_tensor_permute (a, (int[]) { 2, 0, 1 }, NULL);
      g_autoptr (FaTensor) out = new_tensor (fixture, dtypes[i], 3, view->shape);
      copy_ok (fixture, view, out);

      /* five axes, one of them of size 1 */
      const gint64 shape5[5] = { 2, 3, 1, 4, 5 };
      const int axes5[5] = { 4, 2, 0, 3, 1 };
      g_autoptr (FaTensor) a5 = new_counting (fixture, dtypes[i], 5, shape5);
      g_autoptr (FaTensor) view5 = fa_tensor_permute (a5, axes5, NULL);
      g_autoptr (FaTensor) out5 = new_tensor (fixture, dtypes[i], 5, view5->shape);
      copy_ok (fixture, view5, out5);
      g_autoptr (FaTensor) back5 = new_tensor (fixture, dtypes[i], 5, shape5);
      g_autoptr (FaTensor) back5_view = fa_tensor_permute (back5, axes5, NULL);
      copy_ok (fixture, out5, back5_view);
      g_assert_cmpmem (fa_tensor_get_data (back5), fa_tensor_get_nbytes (back5),
                       fa_tensor_get_data (a5), fa_tensor_get_nbytes (a5));
    }
}

static void
test_copy_errors (Fixture *fixture, gconstpointer unused)
{
  g_autoptr (FaTensor) a = new_counting (fixture, FA_DTYPE_F32, 2, (gint64[]) { 4, 6 });
  FaBackend *be = fixture->backend;

  {
    g_autoptr (GError) error = NULL;
    g_autoptr (FaTensor) b = new_tensor (fixture, FA_DTYPE_F16, 2, a->shape);
    g_assert_false (fa_op_copy (be, a, b, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_DTYPE, "dst is f16 but src is f32");
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (FaTensor) b = new_tensor (fixture, FA_DTYPE_F32, 2, (gint64[]) { 6, 4 });
    g_assert_false (fa_op_copy (be, a, b, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "dst has shape [6, 4] but src has [4, 6]");
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (FaTensor) rows_a = fa_tensor_narrow (a, 0, 0, 2, NULL);
    g_autoptr (FaTensor) rows_b = fa_tensor_narrow (a, 0, 1, 2, NULL);
    g_assert_false (fa_op_copy (be, rows_a, rows_b, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "must not overlap");
  }
  {
    /* disjoint rows of one tensor are apart */
    g_autoptr (GError) error = NULL;
    g_autoptr (FaTensor) rows_a = fa_tensor_narrow (a, 0, 0, 2, NULL);
    g_autoptr (FaTensor) rows_b = fa_tensor_narrow (a, 0, 2, 2, NULL);
    g_assert_true (fa_op_copy (be, rows_a, rows_b, &error));
    g_assert_no_error (error);
    assert_views_equal (rows_b, rows_a);
  }
  {
    /* an empty copy succeeds and touches nothing */
    g_autoptr (GError) error = NULL;
    g_autoptr (FaTensor) none_a = fa_tensor_narrow (a, 0, 0, 0, NULL);
    g_autoptr (FaTensor) none_b = fa_tensor_narrow (a, 0, 0, 0, NULL);
    g_assert_true (fa_op_copy (be, none_a, none_b, &error));
    g_assert_no_error (error);
  }
}

/* One VAE-sized convolution (96 → 96 channels, 3×3×3, causal, 4 frames of
 * 64×64), timed; only with -m perf. */
static void
test_conv3d_speed (Fixture *fixture, gconstpointer unused)
{
  const ConvCase c = { "speed", 0, 4, 64, 64, 96, 96, { 3, 3, 3 }, { 1, 1, 1 }, 2, 1, 1, 1, 1, FALSE };
  gint64 out[4];
  case_output_shape (&c, out);
  g_autoptr (FaTensor) x = new_random (fixture, 4, (gint64[]) { c.tx, c.h, c.w, c.ci }, 1);
  g_autoptr (FaTensor) weight = new_random (fixture, 5, (gint64[]) { c.co, 3, 3, 3, c.ci }, 2);
  g_autoptr (FaTensor) bias = new_random (fixture, 1, &c.co, 3);
  g_autoptr (FaTensor) y = new_poisoned (fixture, 4, out);
  FaConv3dParams params = case_params (&c);
  double flops = 2.0 * out[0] * out[1] * out[2] * c.co * 27 * c.ci, best = G_MAXDOUBLE;

  for (int run = 0; run < 4; run++)
    {
      g_autoptr (GError) error = NULL;
      gint64 start = g_get_monotonic_time ();
      g_assert_true (fa_op_conv3d (fixture->backend, x, NULL, weight, bias, y, &params, &error));
      best = MIN (best, (g_get_monotonic_time () - start) / 1e6);
    }
  g_test_message ("conv3d 96->96 3x3x3, 4x64x64: %.1f ms, %.1f GFLOP/s", best * 1e3, flops / best / 1e9);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/ops/cpu/conv3d", test_conv3d);
  ADD ("/ops/cpu/conv3d-direct-path", test_conv3d_direct_path);
  ADD ("/ops/cpu/conv3d-blocks", test_conv3d_blocks);
  ADD ("/ops/cpu/conv3d-im2col", test_conv3d_im2col);
  ADD ("/ops/errors/conv3d", test_conv3d_errors);
  ADD ("/ops/cpu/copy-permute", test_copy_permute);
  ADD ("/ops/cpu/copy-narrow", test_copy_narrow);
  ADD ("/ops/cpu/copy-element-sizes", test_copy_element_sizes);
  ADD ("/ops/errors/copy", test_copy_errors);
  if (g_test_perf ())
    ADD ("/ops/cpu/conv3d-speed", test_conv3d_speed);
#undef ADD

  return g_test_run ();
}
