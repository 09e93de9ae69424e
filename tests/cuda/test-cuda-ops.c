/* The CUDA backend, op by op, through the engine API: random inputs of
 * several shapes (odd sizes, rows longer than the shared-memory cache,
 * addresses that defeat the vector path), outputs poisoned with NaN, and each
 * result held against a float64 reference (fa-reference.h) and against the
 * CPU backend. f32 ops must agree to 1e-5, bf16 ops and every linear (bf16
 * operands) to 1e-2, as max|y − ref| / max|ref|; NaN never passes.
 *
 * Without a usable device (CI) every device test is a skip that names the
 * reason; the argument checks that need no device still run.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <gio/gio.h>
#include <math.h>

#include "fa-backend.h"
#include "fa-cpu-kernels.h"
#include "fa-cuda-kernels.h"
#include "fa-error.h"
#include "fa-half.h"
#include "fa-reference.h"
#include "fa-test-util.h"

#define F32_TOLERANCE 1e-5
#define BF16_TOLERANCE 1e-2
/* f32-output linear against a reference fed the same bf16-rounded operands:
 * only the float32 accumulation order differs. */
#define LINEAR_ROUNDED_TOLERANCE 1e-4

static FaBackend *cuda;
static FaBackend *cpu;
static char *cuda_skip_reason;

static const FaDType compute_dtypes[] = { FA_DTYPE_F32, FA_DTYPE_BF16 };

/* [rows, cols]: single elements, odd sizes, the Wan widths (1536, 8960),
 * rows past the 11264-column shared-memory cache (aligned and not), and more
 * rows than the 2^20 blocks of one launch. */
static const gint64 row_shapes[][2] = {
  { 1, 1 }, { 1, 7 }, { 3, 5 }, { 17, 33 }, { 4, 1000 }, { 2, 1537 },
  { 33, 1536 }, { 5, 8960 }, { 3, 12000 }, { 2, 12001 }, { (1 << 20) + 3, 3 },
};

/* The last is past one launch's 8192 × 256 threads even in 8-element packs,
 * so the grid-stride loop goes round. */
static const gint64 flat_sizes[] = { 1, 7, 8, 1000, 1537, 33 * 1536, 100003, 17000003 };

typedef struct {
  int unused;
} Fixture;

static gboolean
require_cuda (void)
{
  if (cuda != NULL)
    return TRUE;
  g_test_skip (cuda_skip_reason);
  return FALSE;
}

/* Each test runs on a CUDA backend of its own (when there is a device), so
 * that the linear's scratch, which a backend keeps and counts until it goes,
 * carries over from no earlier test. */
static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  if (cuda_skip_reason != NULL)
    return;
  cuda = fa_backend_new_cuda (0, &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  if (cuda == NULL)
    return;
  /* The backend frees its own scratch as it goes; anything still counted
   * after that is a device tensor a test did not release, and the unref
   * says so with a warning, which is fatal in a test. */
  g_clear_pointer (&cuda, fa_backend_unref);
}

static double
tolerance_for (FaDType dtype)
{
  return dtype == FA_DTYPE_F32 ? F32_TOLERANCE : BF16_TOLERANCE;
}

/* ---- host data ---- */

static float
round_to (FaDType dtype, float v)
{
  switch (dtype)
    {
    case FA_DTYPE_BF16: return fa_bf16_to_f32 (fa_f32_to_bf16 (v));
    case FA_DTYPE_F16: return fa_f16_to_f32 (fa_f32_to_f16 (v));
    default: return v;
    }
}

/* Uniform values that @dtype holds exactly, so that the reference sees the
 * very numbers the device does. */
static float *
random_values (gsize n, guint32 seed, float lo, float hi, FaDType dtype)
{
  float *v = g_new (float, MAX (n, 1));

  fa_test_fill_uniform (v, n, seed, lo, hi);
  for (gsize i = 0; i < n; i++)
    v[i] = round_to (dtype, v[i]);
  return v;
}

static FaTensor *
host_tensor (const float *values, FaDType dtype, int ndim, const gint64 *shape)
{
  g_autoptr (GError) error = NULL;
  FaTensor *t = fa_tensor_new (cpu, dtype, ndim, shape, &error);
  g_assert_no_error (error);

  g_assert_cmpint (fa_cpu_convert (values, FA_DTYPE_F32, fa_tensor_get_data (t), dtype,
                                   fa_tensor_get_numel (t)), ==, 0);
  return t;
}

static FaTensor *
device_tensor (const float *values, FaDType dtype, int ndim, const gint64 *shape)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTensor) host = host_tensor (values, dtype, ndim, shape);
  FaTensor *t = fa_tensor_new (cuda, dtype, ndim, shape, &error);
  g_assert_no_error (error);
  g_assert_true (fa_tensor_copy (t, host, &error));
  g_assert_no_error (error);
  return t;
}

/* An output whose every element starts as NaN. */
static FaTensor *
poisoned_device_tensor (FaDType dtype, int ndim, const gint64 *shape)
{
  gint64 n = 1;
  for (int i = 0; i < ndim; i++)
    n *= shape[i];
  g_autofree float *nan = g_new (float, MAX (n, 1));
  fa_test_poison (nan, n);
  return device_tensor (nan, dtype, ndim, shape);
}

/* The device tensor's values as float32 (exact for f32, bf16 and f16). */
static float *
download (const FaTensor *t)
{
  g_autoptr (GError) error = NULL;
  gsize n = fa_tensor_get_numel (t);
  g_autoptr (FaTensor) host = fa_tensor_new (cpu, t->dtype, t->ndim, t->shape, &error);
  g_assert_no_error (error);

  g_assert_true (fa_backend_synchronize (cuda, &error));
  g_assert_no_error (error);
  g_assert_true (fa_tensor_copy (host, t, &error));
  g_assert_no_error (error);

  float *values = g_new (float, MAX (n, 1));
  g_assert_cmpint (fa_cpu_convert (fa_tensor_get_data (host), t->dtype, values, FA_DTYPE_F32, n),
                   ==, 0);
  return values;
}

static double *
to_double (const float *v, gsize n)
{
  double *d = g_new (double, MAX (n, 1));
  for (gsize i = 0; i < n; i++)
    d[i] = v[i];
  return d;
}

/* Fails the test (and goes on, so that one run lists every bad case). */
static void
check_close (const char *what, const float *y, const double *ref, gsize n, double tolerance)
{
  double err = fa_test_relative_error (y, ref, n);

  if (!(err <= tolerance))
    g_test_fail_printf ("%s: relative error %.3g exceeds %.3g", what, err, tolerance);
}

/* The same op on the CPU backend, in f32, on the same (rounded) inputs. */
static void
check_against_cpu (const char *what, const float *y, const FaTensor *cpu_y, gsize n,
                   double tolerance)
{
  g_autofree double *ref = to_double (fa_tensor_get_data (cpu_y), n);
  g_autofree char *label = g_strdup_printf ("%s vs CPU backend", what);
  check_close (label, y, ref, n, tolerance);
}

/* ---- tests that need no device ---- */

static void
test_kernel_args (Fixture *fixture, gconstpointer unused)
{
  FaCudaStatus status;

  /* Refused before the device is touched, so these run anywhere. */
  g_assert_cmpint (fa_cuda_gelu_tanh (FA_DTYPE_I32, NULL, NULL, 4, NULL), ==, cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_silu (FA_DTYPE_F16, NULL, NULL, 4, NULL), ==, cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_softmax (FA_DTYPE_F64, NULL, NULL, 2, 3, NULL), ==, cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_layer_norm (FA_DTYPE_U8, NULL, NULL, NULL, NULL, 2, 3, 1e-6f, NULL), ==,
                   cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_layer_norm (FA_DTYPE_F32, NULL, NULL, NULL, NULL, -1, 3, 1e-6f, NULL), ==,
                   cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_rms_norm (FA_DTYPE_I64, NULL, NULL, NULL, 2, 3, 1e-6f, NULL), ==,
                   cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_add (FA_DTYPE_F32, NULL, NULL, NULL, 6, 0, NULL), ==, cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_mul (FA_DTYPE_BOOL, NULL, NULL, NULL, 6, 3, NULL), ==, cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_convert (NULL, FA_DTYPE_F32, NULL, FA_DTYPE_I32, 4, NULL), ==,
                   cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_fill_rows (FA_DTYPE_F16, NULL, FA_DTYPE_F32, NULL, 2, 2, NULL), ==,
                   cudaErrorInvalidValue);

  /* Empty work is no work. */
  g_assert_cmpint (fa_cuda_gelu_tanh (FA_DTYPE_F32, NULL, NULL, 0, NULL), ==, cudaSuccess);
  g_assert_cmpint (fa_cuda_softmax (FA_DTYPE_BF16, NULL, NULL, 0, 7, NULL), ==, cudaSuccess);
  g_assert_cmpint (fa_cuda_add (FA_DTYPE_BF16, NULL, NULL, NULL, 0, 1, NULL), ==, cudaSuccess);

  g_assert_true (fa_cuda_convert_supports (FA_DTYPE_F32));
  g_assert_true (fa_cuda_convert_supports (FA_DTYPE_BF16));
  g_assert_true (fa_cuda_convert_supports (FA_DTYPE_F16));
  g_assert_false (fa_cuda_convert_supports (FA_DTYPE_F8_E4M3));
  g_assert_false (fa_cuda_convert_supports (FA_DTYPE_I32));

  /* Scratch: bf16 copies of the f32 operands, each on a 256-byte boundary. */
  g_assert_cmpuint (fa_cuda_linear_scratch_size (FA_DTYPE_BF16, FA_DTYPE_BF16, 32, 64, 16), ==, 0);
  g_assert_cmpuint (fa_cuda_linear_scratch_size (FA_DTYPE_F32, FA_DTYPE_BF16, 3, 5, 7), ==, 256);
  g_assert_cmpuint (fa_cuda_linear_scratch_size (FA_DTYPE_F32, FA_DTYPE_F32, 32, 64, 16), ==,
                    32 * 64 * 2 + 16 * 64 * 2);

  g_assert_cmpint (fa_cuda_linear (NULL, NULL, FA_DTYPE_I8, NULL, FA_DTYPE_BF16, NULL, FA_DTYPE_F32,
                                   NULL, FA_DTYPE_F32, NULL, 2, 3, 4, NULL, 0, &status), ==, -1);
  g_assert_nonnull (status.call);
  g_assert_cmpint (status.cuda_error, ==, cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_linear (NULL, NULL, FA_DTYPE_F32, NULL, FA_DTYPE_BF16, NULL, FA_DTYPE_F32,
                                   NULL, FA_DTYPE_F32, NULL, 2, 3, 4, NULL, 0, &status), ==, -1);
  g_assert_nonnull (strstr (status.call, "scratch"));
  g_assert_cmpint (fa_cuda_linear (NULL, NULL, FA_DTYPE_BF16, NULL, FA_DTYPE_BF16, NULL, FA_DTYPE_F32,
                                   NULL, FA_DTYPE_F32, NULL, (gint64) G_MAXINT + 1, 3, 4, NULL, 0,
                                   &status), ==, -1);
  g_assert_nonnull (strstr (status.call, "size"));

  /* the transformer ops */
  const int64_t video[5] = { 1, 16, 2, 4, 4 }, odd_video[5] = { 1, 16, 2, 5, 4 };
  const int64_t empty_video[5] = { 1, 16, 0, 4, 4 };
  const int patch[3] = { 1, 2, 2 }, zero_patch[3] = { 0, 2, 2 };
  g_assert_cmpint (fa_cuda_rope (FA_DTYPE_F16, NULL, NULL, NULL, FA_DTYPE_F32, NULL, 1, 2, 3, 4, NULL),
                   ==, cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_rope (FA_DTYPE_F32, NULL, NULL, NULL, FA_DTYPE_F32, NULL, 1, 2, 3, 5, NULL),
                   ==, cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_modulate (FA_DTYPE_F32, NULL, NULL, NULL, FA_DTYPE_I32, NULL, 1, 2, 3, NULL),
                   ==, cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_modulate (FA_DTYPE_F32, NULL, NULL, NULL, FA_DTYPE_F32, NULL, 1, -2, 3, NULL),
                   ==, cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_gated_add (FA_DTYPE_BF16, NULL, FA_DTYPE_F64, NULL, NULL, 1, 2, 3, NULL),
                   ==, cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_patchify (FA_DTYPE_F32, NULL, FA_DTYPE_F32, NULL, odd_video, patch, NULL),
                   ==, cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_unpatchify (FA_DTYPE_F32, NULL, FA_DTYPE_F32, NULL, video, zero_patch, NULL),
                   ==, cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_attention (FA_DTYPE_F16, NULL, NULL, NULL, NULL, 1, 4, 4, 2, 64, 1.0f, NULL),
                   ==, cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_attention (FA_DTYPE_F32, NULL, NULL, NULL, NULL, 1, 4, 4, 2, 12, 1.0f, NULL),
                   ==, cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_attention (FA_DTYPE_BF16, NULL, NULL, NULL, NULL, 1, 4, 0, 2, 64, 1.0f, NULL),
                   ==, cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_attention_logits (NULL, NULL, NULL, NULL, NULL, (gint64) G_MAXINT + 1, 4, 2,
                                             64, 1.0f, &status), ==, -1);
  g_assert_nonnull (strstr (status.call, "size"));
  g_assert_cmpint (fa_cuda_attention_apply (NULL, NULL, NULL, NULL, NULL, 4, 0, 2, 64, &status), ==, -1);
  g_assert_nonnull (strstr (status.call, "size"));

  g_assert_cmpint (fa_cuda_rope (FA_DTYPE_F32, NULL, NULL, NULL, FA_DTYPE_BF16, NULL, 0, 2, 3, 4, NULL),
                   ==, cudaSuccess);
  g_assert_cmpint (fa_cuda_modulate (FA_DTYPE_BF16, NULL, NULL, NULL, FA_DTYPE_F32, NULL, 1, 0, 8, NULL),
                   ==, cudaSuccess);
  g_assert_cmpint (fa_cuda_gated_add (FA_DTYPE_F32, NULL, FA_DTYPE_BF16, NULL, NULL, 1, 5, 0, NULL),
                   ==, cudaSuccess);
  g_assert_cmpint (fa_cuda_patchify (FA_DTYPE_F32, NULL, FA_DTYPE_BF16, NULL, empty_video, patch, NULL),
                   ==, cudaSuccess);
  g_assert_cmpint (fa_cuda_attention (FA_DTYPE_F32, NULL, NULL, NULL, NULL, 1, 0, 0, 2, 64, 1.0f, NULL),
                   ==, cudaSuccess);
  g_assert_cmpint (fa_cuda_attention_logits (NULL, NULL, NULL, NULL, NULL, 0, 4, 2, 64, 1.0f, &status),
                   ==, 0);

  /* the video ops: one output row of patches at least, whole rows up to
   * the budget, all of them at most; none when x is the patch matrix */
  const FaConv3dGeometry conv = {
    .th = 1, .tx = 2, .h = 4, .w = 5, .ci = 3, .to = 3, .ho = 4, .wo = 5, .co = 8,
    .kt = 1, .kh = 3, .kw = 3, .st = 1, .sh = 1, .sw = 1, .pad_top = 1, .pad_left = 1,
  };
  const FaConv3dGeometry pointwise = {
    .tx = 2, .h = 4, .w = 5, .ci = 3, .to = 2, .ho = 4, .wo = 5, .co = 8,
    .kt = 1, .kh = 1, .kw = 1, .st = 1, .sh = 1, .sw = 1,
  };
  const size_t conv_row = 5 * 27 * 4;
  int64_t strides[2] = { 1, 2 }, copy_shape[2] = { 2, 3 }, empty_shape[2] = { 2, 0 };
  g_assert_cmpuint (fa_cuda_conv3d_scratch_size (&conv, FA_DTYPE_F32, 0), ==, conv_row);
  g_assert_cmpuint (fa_cuda_conv3d_scratch_size (&conv, FA_DTYPE_F16, 0), ==, conv_row / 2);
  g_assert_cmpuint (fa_cuda_conv3d_scratch_size (&conv, FA_DTYPE_F32, conv_row - 1), ==, conv_row);
  g_assert_cmpuint (fa_cuda_conv3d_scratch_size (&conv, FA_DTYPE_F32, 3 * conv_row + 7), ==,
                    3 * conv_row);
  g_assert_cmpuint (fa_cuda_conv3d_scratch_size (&conv, FA_DTYPE_F32, 1 << 30), ==, 12 * conv_row);
  g_assert_cmpuint (fa_cuda_conv3d_scratch_size (&conv, FA_DTYPE_BF16, 1 << 30), ==, 0);
  g_assert_cmpuint (fa_cuda_conv3d_scratch_size (&pointwise, FA_DTYPE_F32, 1 << 30), ==, 0);
  g_assert_cmpuint (fa_cuda_conv3d_scratch_size (&pointwise, FA_DTYPE_F16, 0), ==, 5 * 3 * 2);
  g_assert_cmpint (fa_cuda_conv3d (NULL, NULL, NULL, NULL, FA_DTYPE_BF16, NULL, NULL, NULL, &conv,
                                   NULL, 1 << 30, &status), ==, -1);
  g_assert_cmpint (status.cuda_error, ==, cudaErrorInvalidValue);
  g_assert_nonnull (strstr (status.call, "dtype"));
  g_assert_cmpint (fa_cuda_conv3d (NULL, NULL, NULL, NULL, FA_DTYPE_F32, NULL, NULL, NULL, &conv,
                                   NULL, 0, &status), ==, -1);
  g_assert_nonnull (strstr (status.call, "size")); /* history frames but no history */
  g_assert_cmpint (fa_cuda_conv3d (NULL, NULL, (const float *) 16, NULL, FA_DTYPE_F32, NULL, NULL,
                                   NULL, &conv, (void *) 16, conv_row - 1, &status), ==, -1);
  g_assert_nonnull (strstr (status.call, "scratch"));
  g_assert_cmpint (fa_cuda_copy_strided (NULL, strides, NULL, strides, copy_shape, 0, 4, NULL), ==,
                   cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_copy_strided (NULL, strides, NULL, strides, copy_shape, 6, 4, NULL), ==,
                   cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_copy_strided (NULL, strides, NULL, strides, copy_shape, 2, 3, NULL), ==,
                   cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_copy_strided (NULL, strides, NULL, strides, copy_shape, 2, 4, NULL), ==,
                   cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_copy_strided (NULL, strides, NULL, strides, empty_shape, 2, 8, NULL), ==,
                   cudaSuccess);

  g_assert_true (fa_cuda_attention_supports (8));
  g_assert_true (fa_cuda_attention_supports (64));
  g_assert_true (fa_cuda_attention_supports (128));
  g_assert_false (fa_cuda_attention_supports (0));
  g_assert_false (fa_cuda_attention_supports (12));
  g_assert_false (fa_cuda_attention_supports (136));
}

static void
test_new_errors (Fixture *fixture, gconstpointer unused)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaBackend) backend = fa_backend_new_cuda (-1, &error);

  g_assert_null (backend);
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "negative");
  g_clear_error (&error);

  backend = fa_backend_new_cuda (1000, &error);
  g_assert_null (backend);
  g_assert_nonnull (error);
  if (cuda != NULL)
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "out of range");
  else
    g_assert_nonnull (strstr (error->message, "no CUDA device"));
}

static void
test_probe (Fixture *fixture, gconstpointer unused)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name = NULL;
  guint64 total = 0;
  gboolean ok = fa_cuda_probe (0, &name, &total, &error);

  if (cuda != NULL)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
      g_assert_nonnull (name);
      g_assert_cmpuint (strlen (name), >, 0);
      g_assert_cmpuint (total, >, 0);
      g_assert_nonnull (strstr (fa_backend_get_description (cuda), name));
      g_test_message ("probe: %s, %" G_GUINT64_FORMAT " bytes; backend: %s", name, total,
                      fa_backend_get_description (cuda));
    }
  else
    {
      g_assert_false (ok);
      g_assert_nonnull (error);
      g_assert_cmpuint (strlen (error->message), >, 0);
      g_test_message ("probe: %s", error->message);
    }
}

/* ---- ops ---- */

static void
test_linear (Fixture *fixture, gconstpointer unused)
{
  /* {m, k, n}; the last one has leading axes [2, 5]. */
  static const gint64 mkn[][3] = {
    { 1, 1, 1 }, { 3, 5, 7 }, { 17, 64, 9 }, { 33, 257, 31 }, { 2, 1536, 3 },
    { 64, 96, 128 }, { 130, 1537, 65 }, { 10, 40, 24 },
  };

  if (!require_cuda ())
    return;

  for (guint s = 0; s < G_N_ELEMENTS (mkn); s++)
    for (int combo = 0; combo < 16; combo++)
      {
        gint64 m = mkn[s][0], k = mkn[s][1], n = mkn[s][2];
        FaDType xd = compute_dtypes[combo & 1], wd = compute_dtypes[(combo >> 1) & 1];
        FaDType yd = compute_dtypes[(combo >> 2) & 1];
        gboolean with_bias = (combo >> 3) & 1;
        FaDType bd = wd; /* a bias of the weight's dtype, whatever y is */
        gboolean batched = s == G_N_ELEMENTS (mkn) - 1;
        int x_ndim = batched ? 3 : 2;
        gint64 x_shape[3] = { m, k }, y_shape[3] = { m, n };
        g_autoptr (GError) error = NULL;

        if (batched)
          {
            x_shape[0] = 2, x_shape[1] = m / 2, x_shape[2] = k;
            y_shape[0] = 2, y_shape[1] = m / 2, y_shape[2] = n;
          }

        g_autofree float *xv = random_values (m * k, 1 + s, -1, 1, xd);
        g_autofree float *wv = random_values (n * k, 100 + s, -1, 1, wd);
        g_autofree float *bv = random_values (n, 200 + s, -1, 1, bd);
        g_autoptr (FaTensor) x = device_tensor (xv, xd, x_ndim, x_shape);
        g_autoptr (FaTensor) w = device_tensor (wv, wd, 2, (gint64[]) { n, k });
        g_autoptr (FaTensor) b = device_tensor (bv, bd, 1, (gint64[]) { n });
        g_autoptr (FaTensor) y = poisoned_device_tensor (yd, x_ndim, y_shape);

        g_assert_true (fa_op_linear (cuda, x, w, with_bias ? b : NULL, y, &error));
        g_assert_no_error (error);
        g_autofree float *yv = download (y);

        /* Exact operands, and the bf16-rounded ones the GEMM multiplies
         * (the bias as it is). */
        g_autofree double *ref = g_new0 (double, m * n);
        g_autofree double *ref_rounded = g_new0 (double, m * n);
        g_autofree float *xv_rounded = g_new (float, m * k);
        g_autofree float *wv_rounded = g_new (float, n * k);
        for (gint64 i = 0; i < m * k; i++)
          xv_rounded[i] = round_to (FA_DTYPE_BF16, xv[i]);
        for (gint64 i = 0; i < n * k; i++)
          wv_rounded[i] = round_to (FA_DTYPE_BF16, wv[i]);
        fa_reference_linear (xv, wv, with_bias ? bv : NULL, ref, m, k, n);
        fa_reference_linear (xv_rounded, wv_rounded, with_bias ? bv : NULL, ref_rounded, m, k, n);

        g_autofree char *what = g_strdup_printf (
          "linear [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]·[%" G_GINT64_FORMAT "]ᵀ x %s w %s y %s%s",
          m, k, n, fa_dtype_get_name (xd), fa_dtype_get_name (wd), fa_dtype_get_name (yd),
          with_bias ? " + bias" : "");
        check_close (what, yv, ref, m * n, BF16_TOLERANCE);
        if (yd == FA_DTYPE_F32)
          {
            g_autofree char *label = g_strdup_printf ("%s (bf16-rounded operands)", what);
            check_close (label, yv, ref_rounded, m * n, LINEAR_ROUNDED_TOLERANCE);
          }

        g_autoptr (FaTensor) cx = host_tensor (xv, FA_DTYPE_F32, x_ndim, x_shape);
        g_autoptr (FaTensor) cw = host_tensor (wv, FA_DTYPE_F32, 2, (gint64[]) { n, k });
        g_autoptr (FaTensor) cb = host_tensor (bv, FA_DTYPE_F32, 1, (gint64[]) { n });
        g_autoptr (FaTensor) cy = fa_tensor_new (cpu, FA_DTYPE_F32, x_ndim, y_shape, &error);
        g_assert_true (fa_op_linear (cpu, cx, cw, with_bias ? cb : NULL, cy, &error));
        g_assert_no_error (error);
        check_against_cpu (what, yv, cy, m * n, BF16_TOLERANCE);
      }
}

typedef enum { AFFINE_NONE, AFFINE_WEIGHT, AFFINE_BOTH } Affine;

static void
test_layer_norm (Fixture *fixture, gconstpointer unused)
{
  const float eps = 1e-6f;

  if (!require_cuda ())
    return;

  for (guint d = 0; d < G_N_ELEMENTS (compute_dtypes); d++)
    for (guint s = 0; s < G_N_ELEMENTS (row_shapes); s++)
      for (Affine affine = AFFINE_NONE; affine <= AFFINE_BOTH; affine++)
        {
          FaDType dtype = compute_dtypes[d];
          gint64 rows = row_shapes[s][0], cols = row_shapes[s][1], n = rows * cols;
          const gint64 *shape = row_shapes[s];
          g_autoptr (GError) error = NULL;
          /* An offset mean, so that a one-pass variance would show. */
          g_autofree float *xv = random_values (n, 10 + s, -3, 5, dtype);
          g_autofree float *gv = random_values (cols, 20 + s, 0.5f, 1.5f, dtype);
          g_autofree float *bv = random_values (cols, 30 + s, -1, 1, dtype);
          const float *gp = affine >= AFFINE_WEIGHT ? gv : NULL;
          const float *bp = affine == AFFINE_BOTH ? bv : NULL;

          g_autoptr (FaTensor) x = device_tensor (xv, dtype, 2, shape);
          g_autoptr (FaTensor) g = device_tensor (gv, dtype, 1, &cols);
          g_autoptr (FaTensor) b = device_tensor (bv, dtype, 1, &cols);
          g_autoptr (FaTensor) y = poisoned_device_tensor (dtype, 2, shape);
          g_assert_true (fa_op_layer_norm (cuda, x, gp ? g : NULL, bp ? b : NULL, y, eps, &error));
          g_assert_no_error (error);
          g_autofree float *yv = download (y);

          g_autofree double *ref = g_new (double, n);
          fa_reference_layer_norm (xv, gp, bp, ref, rows, cols, eps);
          g_autofree char *what = g_strdup_printf ("layer_norm %s [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] affine %d",
                                                   fa_dtype_get_name (dtype), rows, cols, affine);
          check_close (what, yv, ref, n, tolerance_for (dtype));

          g_autoptr (FaTensor) cx = host_tensor (xv, FA_DTYPE_F32, 2, shape);
          g_autoptr (FaTensor) cg = host_tensor (gv, FA_DTYPE_F32, 1, &cols);
          g_autoptr (FaTensor) cb = host_tensor (bv, FA_DTYPE_F32, 1, &cols);
          g_autoptr (FaTensor) cy = fa_tensor_new (cpu, FA_DTYPE_F32, 2, shape, &error);
          g_assert_true (fa_op_layer_norm (cpu, cx, gp ? cg : NULL, bp ? cb : NULL, cy, eps, &error));
          check_against_cpu (what, yv, cy, n, tolerance_for (dtype));
        }
}

static void
test_rms_norm (Fixture *fixture, gconstpointer unused)
{
  const float eps = 1e-6f;

  if (!require_cuda ())
    return;

  for (guint d = 0; d < G_N_ELEMENTS (compute_dtypes); d++)
    for (guint s = 0; s < G_N_ELEMENTS (row_shapes); s++)
      for (int with_weight = 0; with_weight <= 1; with_weight++)
        {
          FaDType dtype = compute_dtypes[d];
          gint64 rows = row_shapes[s][0], cols = row_shapes[s][1], n = rows * cols;
          const gint64 *shape = row_shapes[s];
          g_autoptr (GError) error = NULL;
          g_autofree float *xv = random_values (n, 40 + s, -2, 3, dtype);
          g_autofree float *gv = random_values (cols, 50 + s, 0.5f, 1.5f, dtype);
          const float *gp = with_weight ? gv : NULL;

          g_autoptr (FaTensor) x = device_tensor (xv, dtype, 2, shape);
          g_autoptr (FaTensor) g = device_tensor (gv, dtype, 1, &cols);
          g_autoptr (FaTensor) y = poisoned_device_tensor (dtype, 2, shape);
          g_assert_true (fa_op_rms_norm (cuda, x, gp ? g : NULL, y, eps, &error));
          g_assert_no_error (error);
          g_autofree float *yv = download (y);

          g_autofree double *ref = g_new (double, n);
          fa_reference_rms_norm (xv, gp, ref, rows, cols, eps);
          g_autofree char *what = g_strdup_printf ("rms_norm %s [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] weight %d",
                                                   fa_dtype_get_name (dtype), rows, cols, with_weight);
          check_close (what, yv, ref, n, tolerance_for (dtype));

          g_autoptr (FaTensor) cx = host_tensor (xv, FA_DTYPE_F32, 2, shape);
          g_autoptr (FaTensor) cg = host_tensor (gv, FA_DTYPE_F32, 1, &cols);
          g_autoptr (FaTensor) cy = fa_tensor_new (cpu, FA_DTYPE_F32, 2, shape, &error);
          g_assert_true (fa_op_rms_norm (cpu, cx, gp ? cg : NULL, cy, eps, &error));
          check_against_cpu (what, yv, cy, n, tolerance_for (dtype));
        }
}

static void
test_softmax (Fixture *fixture, gconstpointer unused)
{
  if (!require_cuda ())
    return;

  for (guint d = 0; d < G_N_ELEMENTS (compute_dtypes); d++)
    for (guint s = 0; s < G_N_ELEMENTS (row_shapes); s++)
      {
        FaDType dtype = compute_dtypes[d];
        gint64 rows = row_shapes[s][0], cols = row_shapes[s][1], n = rows * cols;
        const gint64 *shape = row_shapes[s];
        g_autoptr (GError) error = NULL;
        /* A wide range, so that skipping the max subtraction would overflow. */
        g_autofree float *xv = random_values (n, 60 + s, -30, 90, dtype);

        g_autoptr (FaTensor) x = device_tensor (xv, dtype, 2, shape);
        g_autoptr (FaTensor) y = poisoned_device_tensor (dtype, 2, shape);
        g_assert_true (fa_op_softmax (cuda, x, y, &error));
        g_assert_no_error (error);
        g_autofree float *yv = download (y);

        g_autofree double *ref = g_new (double, n);
        fa_reference_softmax (xv, ref, rows, cols);
        g_autofree char *what = g_strdup_printf ("softmax %s [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]",
                                                 fa_dtype_get_name (dtype), rows, cols);
        check_close (what, yv, ref, n, tolerance_for (dtype));

        g_autoptr (FaTensor) cx = host_tensor (xv, FA_DTYPE_F32, 2, shape);
        g_autoptr (FaTensor) cy = fa_tensor_new (cpu, FA_DTYPE_F32, 2, shape, &error);
        g_assert_true (fa_op_softmax (cpu, cx, cy, &error));
        check_against_cpu (what, yv, cy, n, tolerance_for (dtype));
      }
}

static void
run_unary (gboolean gelu)
{
  const char *name = gelu ? "gelu_tanh" : "silu";

  for (guint d = 0; d < G_N_ELEMENTS (compute_dtypes); d++)
    for (guint s = 0; s < G_N_ELEMENTS (flat_sizes); s++)
      {
        FaDType dtype = compute_dtypes[d];
        gint64 n = flat_sizes[s];
        g_autoptr (GError) error = NULL;
        g_autofree float *xv = random_values (n, 70 + s, gelu ? -6 : -12, gelu ? 6 : 12, dtype);

        g_autoptr (FaTensor) x = device_tensor (xv, dtype, 1, &n);
        g_autoptr (FaTensor) y = poisoned_device_tensor (dtype, 1, &n);
        g_assert_true (gelu ? fa_op_gelu_tanh (cuda, x, y, &error) : fa_op_silu (cuda, x, y, &error));
        g_assert_no_error (error);
        g_autofree float *yv = download (y);

        g_autofree double *ref = g_new (double, n);
        for (gint64 i = 0; i < n; i++)
          ref[i] = gelu ? fa_reference_gelu_tanh (xv[i]) : fa_reference_silu (xv[i]);
        g_autofree char *what = g_strdup_printf ("%s %s [%" G_GINT64_FORMAT "]", name,
                                                 fa_dtype_get_name (dtype), n);
        check_close (what, yv, ref, n, tolerance_for (dtype));

        g_autoptr (FaTensor) cx = host_tensor (xv, FA_DTYPE_F32, 1, &n);
        g_autoptr (FaTensor) cy = fa_tensor_new (cpu, FA_DTYPE_F32, 1, &n, &error);
        g_assert_true (gelu ? fa_op_gelu_tanh (cpu, cx, cy, &error) : fa_op_silu (cpu, cx, cy, &error));
        check_against_cpu (what, yv, cy, n, tolerance_for (dtype));
      }
}

static void
test_gelu_tanh (Fixture *fixture, gconstpointer unused)
{
  if (require_cuda ())
    run_unary (TRUE);
}

static void
test_silu (Fixture *fixture, gconstpointer unused)
{
  if (require_cuda ())
    run_unary (FALSE);
}

/* a's shape and b's shape (b: a's trailing axes, or all of them). */
typedef struct {
  int a_ndim;
  gint64 a_shape[3];
  int b_ndim;
  gint64 b_shape[3];
} BinaryShape;

static const BinaryShape binary_shapes[] = {
  { 1, { 1 }, 1, { 1 } },
  { 1, { 1537 }, 1, { 1537 } },
  { 2, { 3, 7 }, 1, { 7 } },
  { 2, { 7, 1 }, 1, { 1 } },
  { 2, { 33, 1536 }, 1, { 1536 } },
  { 2, { 33, 1536 }, 2, { 33, 1536 } },
  { 3, { 2, 5, 3 }, 2, { 5, 3 } },
  { 3, { 4, 9, 8 }, 2, { 9, 8 } },
  { 2, { 5, 8960 }, 1, { 8960 } },
  { 2, { 3, 100003 }, 1, { 100003 } },
  /* past one launch's threads, in packs and (odd rows) one by one */
  { 2, { 2125, 8000 }, 1, { 8000 } },
  { 2, { 1000, 17001 }, 1, { 17001 } },
};

static void
run_binary (gboolean add)
{
  const char *name = add ? "add" : "mul";

  for (guint d = 0; d < G_N_ELEMENTS (compute_dtypes); d++)
    for (guint s = 0; s < G_N_ELEMENTS (binary_shapes); s++)
      {
        FaDType dtype = compute_dtypes[d];
        const BinaryShape *bs = &binary_shapes[s];
        gint64 n = 1, nb = 1;
        for (int i = 0; i < bs->a_ndim; i++)
          n *= bs->a_shape[i];
        for (int i = 0; i < bs->b_ndim; i++)
          nb *= bs->b_shape[i];
        g_autoptr (GError) error = NULL;
        g_autofree float *av = random_values (n, 80 + s, -2, 2, dtype);
        g_autofree float *bv = random_values (nb, 90 + s, -2, 2, dtype);

        g_autoptr (FaTensor) a = device_tensor (av, dtype, bs->a_ndim, bs->a_shape);
        g_autoptr (FaTensor) b = device_tensor (bv, dtype, bs->b_ndim, bs->b_shape);
        g_autoptr (FaTensor) y = poisoned_device_tensor (dtype, bs->a_ndim, bs->a_shape);
        g_assert_true (add ? fa_op_add (cuda, a, b, y, &error) : fa_op_mul (cuda, a, b, y, &error));
        g_assert_no_error (error);
        g_autofree float *yv = download (y);

        g_autofree double *ref = g_new (double, n);
        (add ? fa_reference_add : fa_reference_mul) (av, bv, ref, n, nb);
        g_autofree char *what = g_strdup_printf ("%s %s n %" G_GINT64_FORMAT " nb %" G_GINT64_FORMAT,
                                                 name, fa_dtype_get_name (dtype), n, nb);
        check_close (what, yv, ref, n, tolerance_for (dtype));

        g_autoptr (FaTensor) ca = host_tensor (av, FA_DTYPE_F32, bs->a_ndim, bs->a_shape);
        g_autoptr (FaTensor) cb = host_tensor (bv, FA_DTYPE_F32, bs->b_ndim, bs->b_shape);
        g_autoptr (FaTensor) cy = fa_tensor_new (cpu, FA_DTYPE_F32, bs->a_ndim, bs->a_shape, &error);
        g_assert_true (add ? fa_op_add (cpu, ca, cb, cy, &error) : fa_op_mul (cpu, ca, cb, cy, &error));
        check_against_cpu (what, yv, cy, n, tolerance_for (dtype));
      }
}

static void
test_add (Fixture *fixture, gconstpointer unused)
{
  if (require_cuda ())
    run_binary (TRUE);
}

static void
test_mul (Fixture *fixture, gconstpointer unused)
{
  if (require_cuda ())
    run_binary (FALSE);
}

/* Values that exercise rounding: ties, subnormals, overflow, signed zero,
 * infinities and NaN, then random ones. */
static float *
conversion_values (gsize n)
{
  static const float special[] = {
    0.0f, -0.0f, 1.0f, -1.0f, INFINITY, -INFINITY, NAN, 65504.0f, 65520.0f, 70000.0f,
    1e-8f, -3e-6f, 6.1e-5f, 1.00390625f /* bf16 tie */, 1.01171875f /* bf16 tie, odd */,
    3.0e38f, -1.17549435e-38f, 1e-40f /* f32 subnormal */, 0.33333334f, 2049.0f,
  };
  float *v = random_values (n, 99, -1000, 1000, FA_DTYPE_F32);

  for (gsize i = 0; i < G_N_ELEMENTS (special) && i < n; i++)
    v[i] = special[i];
  return v;
}

static void
test_convert (Fixture *fixture, gconstpointer unused)
{
  static const FaDType types[] = { FA_DTYPE_F32, FA_DTYPE_BF16, FA_DTYPE_F16 };
  static const gint64 sizes[] = { 1, 7, 20, 1537, 100003 };

  if (!require_cuda ())
    return;

  for (guint from = 0; from < G_N_ELEMENTS (types); from++)
    for (guint to = 0; to < G_N_ELEMENTS (types); to++)
      for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
        {
          gint64 n = sizes[s];
          g_autoptr (GError) error = NULL;
          g_autofree float *values = conversion_values (n);
          /* The source holds what its dtype can (the CPU's rounding). */
          for (gint64 i = 0; i < n; i++)
            values[i] = round_to (types[from], values[i]);

          g_autoptr (FaTensor) x = device_tensor (values, types[from], 1, &n);
          g_autoptr (FaTensor) y = poisoned_device_tensor (types[to], 1, &n);
          g_assert_true (fa_op_convert (cuda, x, y, &error));
          g_assert_no_error (error);
          g_autofree float *yv = download (y);

          /* Bit for bit what fa_cpu_convert gives, NaN only for NaN. */
          gint64 bad = 0;
          for (gint64 i = 0; i < n; i++)
            {
              float want = round_to (types[to], values[i]);
              gboolean same = isnan (want) ? isnan (yv[i])
                                           : fa_f32_bits (want) == fa_f32_bits (yv[i]);
              if (!same && bad++ == 0)
                g_test_message ("convert %s→%s [%" G_GINT64_FORMAT "]: %.9g gave %.9g, expected %.9g",
                                fa_dtype_get_name (types[from]), fa_dtype_get_name (types[to]), i,
                                values[i], yv[i], want);
            }
          if (bad > 0)
            g_test_fail_printf ("convert %s→%s n %" G_GINT64_FORMAT ": %" G_GINT64_FORMAT " elements differ",
                                fa_dtype_get_name (types[from]), fa_dtype_get_name (types[to]), n, bad);
        }
}

/* Views one element into a buffer: every operand address is off the 16-byte
 * grid, so the kernels take their scalar paths on shapes that would
 * otherwise vectorize. */
static FaTensor *
misaligned_device_tensor (const float *values, FaDType dtype, int ndim, const gint64 *shape)
{
  g_autoptr (GError) error = NULL;
  gint64 n = 1;
  for (int i = 0; i < ndim; i++)
    n *= shape[i];
  g_autofree float *padded = g_new0 (float, n + 1);
  memcpy (padded + 1, values, n * sizeof (float));
  gint64 whole = n + 1;
  g_autoptr (FaTensor) buffer = device_tensor (padded, dtype, 1, &whole);
  g_autoptr (FaTensor) tail = fa_tensor_narrow (buffer, 0, 1, n, &error);
  g_assert_no_error (error);
  FaTensor *view = fa_tensor_reshape (tail, ndim, shape, &error);
  g_assert_no_error (error);
  return view;
}

static void
test_misaligned (Fixture *fixture, gconstpointer unused)
{
  const gint64 shape[2] = { 6, 1536 }, n = 6 * 1536, cols = 1536;

  if (!require_cuda ())
    return;

  for (guint d = 0; d < G_N_ELEMENTS (compute_dtypes); d++)
    {
      FaDType dtype = compute_dtypes[d];
      double tolerance = tolerance_for (dtype);
      g_autoptr (GError) error = NULL;
      g_autofree float *xv = random_values (n, 111, -3, 3, dtype);
      g_autofree float *gv = random_values (cols, 112, 0.5f, 1.5f, dtype);
      g_autofree float *nan = g_new (float, n);
      fa_test_poison (nan, n);

      g_autoptr (FaTensor) x = misaligned_device_tensor (xv, dtype, 2, shape);
      g_autoptr (FaTensor) g = misaligned_device_tensor (gv, dtype, 1, &cols);
      g_autoptr (FaTensor) y = misaligned_device_tensor (nan, dtype, 2, shape);
      g_autofree double *ref = g_new (double, n);

      g_assert_true (fa_op_layer_norm (cuda, x, g, g, y, 1e-6f, &error));
      g_assert_no_error (error);
      g_autofree float *ln = download (y);
      fa_reference_layer_norm (xv, gv, gv, ref, shape[0], cols, 1e-6);
      check_close ("misaligned layer_norm", ln, ref, n, tolerance);

      g_assert_true (fa_op_gelu_tanh (cuda, x, y, &error));
      g_assert_no_error (error);
      g_autofree float *ge = download (y);
      for (gint64 i = 0; i < n; i++)
        ref[i] = fa_reference_gelu_tanh (xv[i]);
      check_close ("misaligned gelu_tanh", ge, ref, n, tolerance);

      g_assert_true (fa_op_mul (cuda, x, g, y, &error));
      g_assert_no_error (error);
      g_autofree float *mu = download (y);
      fa_reference_mul (xv, gv, ref, n, cols);
      check_close ("misaligned mul", mu, ref, n, tolerance);

      g_assert_true (fa_op_softmax (cuda, x, y, &error));
      g_assert_no_error (error);
      g_autofree float *sm = download (y);
      fa_reference_softmax (xv, ref, shape[0], cols);
      check_close ("misaligned softmax", sm, ref, n, tolerance);
    }
}

/* y = op(x) with y and x the same tensor. */
static void
test_in_place (Fixture *fixture, gconstpointer unused)
{
  const gint64 shape[2] = { 9, 8960 }, n = 9 * 8960, cols = 8960;

  if (!require_cuda ())
    return;

  for (guint d = 0; d < G_N_ELEMENTS (compute_dtypes); d++)
    {
      FaDType dtype = compute_dtypes[d];
      double tolerance = tolerance_for (dtype);
      g_autoptr (GError) error = NULL;
      g_autofree float *xv = random_values (n, 121, -3, 3, dtype);
      g_autofree float *bv = random_values (cols, 122, -1, 1, dtype);
      g_autofree double *ref = g_new (double, n);

      g_autoptr (FaTensor) x = device_tensor (xv, dtype, 2, shape);
      g_autoptr (FaTensor) b = device_tensor (bv, dtype, 1, &cols);
      g_assert_true (fa_op_layer_norm (cuda, x, NULL, b, x, 1e-6f, &error));
      g_assert_no_error (error);
      g_autofree float *ln = download (x);
      fa_reference_layer_norm (xv, NULL, bv, ref, shape[0], cols, 1e-6);
      check_close ("in-place layer_norm", ln, ref, n, tolerance);

      g_assert_true (fa_op_add (cuda, x, b, x, &error));
      g_assert_no_error (error);
      g_autofree float *ad = download (x);
      fa_reference_add (ln, bv, ref, n, cols);
      check_close ("in-place add", ad, ref, n, tolerance);

      g_assert_true (fa_op_silu (cuda, x, x, &error));
      g_assert_no_error (error);
      g_autofree float *si = download (x);
      for (gint64 i = 0; i < n; i++)
        ref[i] = fa_reference_silu (ad[i]);
      check_close ("in-place silu", si, ref, n, tolerance);

      g_assert_true (fa_op_softmax (cuda, x, x, &error));
      g_assert_no_error (error);
      g_autofree float *sm = download (x);
      fa_reference_softmax (si, ref, shape[0], cols);
      check_close ("in-place softmax", sm, ref, n, tolerance);
    }
}

static void
test_errors (Fixture *fixture, gconstpointer unused)
{
  if (!require_cuda ())
    return;

  g_autoptr (GError) error = NULL;
  const gint64 n = 16;
  g_autofree float *v = random_values (n, 5, -1, 1, FA_DTYPE_F32);

  /* Integer tensors: the ops refuse them, naming the dtype. */
  g_autoptr (FaTensor) xi = device_tensor (v, FA_DTYPE_I32, 1, &n);
  g_autoptr (FaTensor) yi = device_tensor (v, FA_DTYPE_I32, 1, &n);
  g_assert_false (fa_op_gelu_tanh (cuda, xi, yi, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_DTYPE, "i32");
  g_clear_error (&error);
  g_assert_false (fa_op_softmax (cuda, xi, yi, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_DTYPE, "i32");
  g_clear_error (&error);

  /* f16 tensors convert but do not compute. */
  g_autoptr (FaTensor) xh = device_tensor (v, FA_DTYPE_F16, 1, &n);
  g_autoptr (FaTensor) yh = poisoned_device_tensor (FA_DTYPE_F16, 1, &n);
  g_assert_false (fa_op_silu (cuda, xh, yh, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_DTYPE, "f16");
  g_clear_error (&error);

  /* A conversion the device does not do. */
  g_autoptr (FaTensor) xf = device_tensor (v, FA_DTYPE_F32, 1, &n);
  g_assert_false (fa_op_convert (cuda, xf, yi, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_DTYPE, "i32");
  g_clear_error (&error);

  /* ... which fa_tensor_to still manages, through the host. */
  g_autoptr (FaTensor) converted = fa_tensor_to (xf, cuda, FA_DTYPE_I32, &error);
  g_assert_no_error (error);
  g_assert_nonnull (converted);

  /* Far more memory than any GPU has: a clean error with the numbers. */
  const gint64 huge = (gint64) 1 << 50;
  g_autoptr (FaTensor) big = fa_tensor_new (cuda, FA_DTYPE_U8, 1, &huge, &error);
  g_assert_null (big);
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_OUT_OF_MEMORY, "requested");
  g_test_message ("%s", error->message);
  g_clear_error (&error);

  /* The backend is still usable afterwards. */
  g_autoptr (FaTensor) y = poisoned_device_tensor (FA_DTYPE_F32, 1, &n);
  g_assert_true (fa_op_gelu_tanh (cuda, xf, y, &error));
  g_assert_no_error (error);
  g_autofree float *yv = download (y);
  g_autofree double *ref = g_new (double, n);
  for (gint64 i = 0; i < n; i++)
    ref[i] = fa_reference_gelu_tanh (v[i]);
  check_close ("gelu after an out-of-memory error", yv, ref, n, F32_TOLERANCE);
}

static void
test_memory (Fixture *fixture, gconstpointer unused)
{
  guint64 current, peak;
  const gint64 m = 64, k = 256, n = 32;
  g_autoptr (GError) error = NULL;

  if (!require_cuda ())
    return;

  /* A backend of its own, so that no earlier test's scratch is in the count. */
  FaBackend *shared = cuda;
  g_autoptr (FaBackend) fresh = fa_backend_new_cuda (0, &error);
  g_assert_no_error (error);
  cuda = fresh;
  {
    gsize scratch = fa_cuda_linear_scratch_size (FA_DTYPE_F32, FA_DTYPE_F32, m, k, n);
    g_autofree float *xv = random_values (m * k, 1, -1, 1, FA_DTYPE_F32);
    g_autofree float *wv = random_values (n * k, 2, -1, 1, FA_DTYPE_F32);
    g_autoptr (FaTensor) x = device_tensor (xv, FA_DTYPE_F32, 2, (gint64[]) { m, k });
    g_autoptr (FaTensor) w = device_tensor (wv, FA_DTYPE_F32, 2, (gint64[]) { n, k });
    g_autoptr (FaTensor) y = poisoned_device_tensor (FA_DTYPE_F32, 2, (gint64[]) { m, n });
    guint64 tensors = (m * k + n * k + m * n) * 4;

    fa_backend_get_memory (cuda, &current, NULL);
    g_assert_cmpuint (current, ==, tensors);

    /* f32 operands go through the bf16 scratch, which the backend holds and counts */
    g_assert_cmpuint (scratch, >, 0);
    g_assert_true (fa_op_linear (cuda, x, w, NULL, y, &error));
    g_assert_no_error (error);
    g_assert_true (fa_backend_synchronize (cuda, &error));
    fa_backend_get_memory (cuda, &current, &peak);
    g_assert_cmpuint (current, ==, tensors + scratch);
    g_assert_cmpuint (peak, ==, tensors + scratch);
  }
  /* the tensors are gone; the scratch stays until the backend goes, which
   * then finds nothing leaked */
  fa_backend_get_memory (cuda, &current, NULL);
  g_assert_cmpuint (current, ==, fa_cuda_linear_scratch_size (FA_DTYPE_F32, FA_DTYPE_F32, m, k, n));
  cuda = shared;
}

/* ---- transformer ops ---- */

/* f32 attention: flash (online softmax) or cuBLAS f32 GEMMs, against float64
 * with inputs the device holds exactly; only float32 rounding of sums of at
 * most a few hundred terms separates them. */
#define ATTENTION_F32_TOLERANCE 1e-5

typedef struct {
  gint64 batch, n, m, heads, head_dim;
} AttentionShape;

static const AttentionShape attention_shapes[] = {
  { 1, 1, 1, 1, 32 },      /* one query, one key */
  { 2, 7, 13, 2, 64 },     /* partial tiles of both */
  { 1, 300, 512, 3, 128 }, /* several query blocks and key tiles, the widest head */
  { 2, 65, 130, 2, 40 },   /* one row and two keys past a tile */
  { 3, 5, 512, 1, 128 },
  { 1, 130, 64, 3, 8 },    /* the narrowest head the flash kernel takes */
  { 1, 33, 70, 2, 12 },    /* not a multiple of 8: the explicit way */
  { 2, 20, 50, 1, 160 },   /* wider than 128: the explicit way */
};

/* The inputs of one attention case, as the device holds them. */
typedef struct {
  float *q, *k, *v;
  double *ref; /* plain attention, all of the batch */
  gint64 width, nq, nk;
  float scale;
} AttentionData;

static void
attention_data_init (AttentionData *a, const AttentionShape *s, FaDType dtype, guint32 seed)
{
  a->width = s->heads * s->head_dim;
  a->nq = s->batch * s->n * a->width;
  a->nk = s->batch * s->m * a->width;
  a->scale = 1.0f / sqrtf ((float) s->head_dim);
  a->q = random_values (a->nq, seed, -2, 2, dtype);
  a->k = random_values (a->nk, seed + 1, -2, 2, dtype);
  a->v = random_values (a->nk, seed + 2, -1, 1, dtype);
  a->ref = g_new (double, MAX (a->nq, 1));
  g_assert_cmpint (fa_reference_attention (a->q, a->k, a->v, a->ref, s->batch, s->n, s->m,
                                           s->heads, s->head_dim, a->scale), ==, 0);
}

static void
attention_data_clear (AttentionData *a)
{
  g_clear_pointer (&a->q, g_free);
  g_clear_pointer (&a->k, g_free);
  g_clear_pointer (&a->v, g_free);
  g_clear_pointer (&a->ref, g_free);
}

static double
attention_tolerance (FaDType dtype)
{
  return dtype == FA_DTYPE_F32 ? ATTENTION_F32_TOLERANCE : BF16_TOLERANCE;
}

static void
test_attention (Fixture *fixture, gconstpointer unused)
{
  if (!require_cuda ())
    return;

  for (guint d = 0; d < G_N_ELEMENTS (compute_dtypes); d++)
    for (guint i = 0; i < G_N_ELEMENTS (attention_shapes); i++)
      {
        FaDType dtype = compute_dtypes[d];
        const AttentionShape *s = &attention_shapes[i];
        const gint64 q_shape[3] = { s->batch, s->n, s->heads * s->head_dim };
        const gint64 k_shape[3] = { s->batch, s->m, s->heads * s->head_dim };
        g_autoptr (GError) error = NULL;
        AttentionData a;

        attention_data_init (&a, s, dtype, 300 + 10 * i);
        g_autoptr (FaTensor) q = device_tensor (a.q, dtype, 3, q_shape);
        g_autoptr (FaTensor) k = device_tensor (a.k, dtype, 3, k_shape);
        g_autoptr (FaTensor) v = device_tensor (a.v, dtype, 3, k_shape);
        g_autoptr (FaTensor) out = poisoned_device_tensor (dtype, 3, q_shape);
        g_assert_true (fa_op_attention (cuda, q, k, v, out, (int) s->heads, a.scale, NULL, &error));
        g_assert_no_error (error);
        g_autofree float *yv = download (out);

        g_autofree char *what = g_strdup_printf (
          "attention %s [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] keys %" G_GINT64_FORMAT
          " heads %" G_GINT64_FORMAT " × %" G_GINT64_FORMAT " (%s)",
          fa_dtype_get_name (dtype), s->batch, s->n, s->m, s->heads, s->head_dim,
          fa_cuda_attention_supports (s->head_dim) ? "flash" : "explicit");
        check_close (what, yv, a.ref, a.nq, attention_tolerance (dtype));

        g_autoptr (FaTensor) cq = host_tensor (a.q, FA_DTYPE_F32, 3, q_shape);
        g_autoptr (FaTensor) ck = host_tensor (a.k, FA_DTYPE_F32, 3, k_shape);
        g_autoptr (FaTensor) cv = host_tensor (a.v, FA_DTYPE_F32, 3, k_shape);
        g_autoptr (FaTensor) cy = fa_tensor_new (cpu, FA_DTYPE_F32, 3, q_shape, &error);
        g_assert_true (fa_op_attention (cpu, cq, ck, cv, cy, (int) s->heads, a.scale, NULL, &error));
        g_assert_no_error (error);
        check_against_cpu (what, yv, cy, a.nq, attention_tolerance (dtype));
        attention_data_clear (&a);
      }
}

typedef struct {
  int calls;
  gint64 heads, n, m;
  float *seen;          /* the logits as the hook got them */
  FaTensor *bump;       /* [m] on the device: added to every row, or NULL */
  gboolean refuse;
} CudaHook;

static gboolean
cuda_hook (FaBackend *backend, FaTensor *logits, gpointer user_data, GError **error)
{
  CudaHook *hook = user_data;

  g_assert_true (backend == cuda);
  g_assert_cmpint (logits->dtype, ==, FA_DTYPE_F32);
  g_assert_cmpint (logits->device, ==, FA_DEVICE_CUDA);
  g_assert_cmpint (logits->ndim, ==, 3);
  g_assert_cmpint (logits->shape[0], ==, hook->heads);
  g_assert_cmpint (logits->shape[1], ==, hook->n);
  g_assert_cmpint (logits->shape[2], ==, hook->m);
  hook->calls++;
  if (hook->refuse)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "the test hook refuses");
      return FALSE;
    }
  g_free (hook->seen);
  hook->seen = download (logits);
  /* an op of the backend on the logits, queued on its stream */
  return hook->bump == NULL || fa_op_add (backend, logits, hook->bump, logits, error);
}

static void
test_attention_hook (Fixture *fixture, gconstpointer unused)
{
  /* flash for the others (head_dim 128), explicit for the hooked one; and a
   * head size only the explicit way takes */
  static const AttentionShape shapes[] = { { 3, 300, 200, 3, 128 }, { 3, 17, 29, 2, 12 } };
  const gint64 bumped = 5, masked = 0;

  if (!require_cuda ())
    return;

  for (guint d = 0; d < G_N_ELEMENTS (compute_dtypes); d++)
    for (guint si = 0; si < G_N_ELEMENTS (shapes); si++)
      for (int hooked = 0; hooked < 3; hooked++)
        for (int change = 0; change <= 1; change++)
          {
            FaDType dtype = compute_dtypes[d];
            const AttentionShape *s = &shapes[si];
            const gint64 q_shape[3] = { s->batch, s->n, s->heads * s->head_dim };
            const gint64 k_shape[3] = { s->batch, s->m, s->heads * s->head_dim };
            g_autoptr (GError) error = NULL;
            AttentionData a;

            attention_data_init (&a, s, dtype, 700 + 10 * si + hooked);
            g_autofree float *bump_values = g_new0 (float, s->m);
            bump_values[bumped] = 3.0f;
            bump_values[masked] = -INFINITY; /* the key drops out */
            g_autoptr (FaTensor) bump = device_tensor (bump_values, FA_DTYPE_F32, 1, &s->m);
            CudaHook record = { 0, s->heads, s->n, s->m, NULL, change ? bump : NULL, FALSE };
            FaAttentionHook hook = { cuda_hook, &record, hooked };

            g_autoptr (FaTensor) q = device_tensor (a.q, dtype, 3, q_shape);
            g_autoptr (FaTensor) k = device_tensor (a.k, dtype, 3, k_shape);
            g_autoptr (FaTensor) v = device_tensor (a.v, dtype, 3, k_shape);
            g_autoptr (FaTensor) out = poisoned_device_tensor (dtype, 3, q_shape);
            g_assert_true (fa_op_attention (cuda, q, k, v, out, (int) s->heads, a.scale, &hook,
                                            &error));
            g_assert_no_error (error);
            g_assert_cmpint (record.calls, ==, 1);
            g_autofree float *yv = download (out);

            g_autofree char *what = g_strdup_printf (
              "attention hook %s head_dim %" G_GINT64_FORMAT " on batch element %d%s",
              fa_dtype_get_name (dtype), s->head_dim, hooked, change ? " (changed)" : "");
            gint64 nl = s->heads * s->n * s->m, per_batch = s->n * a.width;
            g_autofree double *logits = g_new (double, nl);
            fa_reference_attention_logits (a.q + hooked * per_batch, a.k + hooked * s->m * a.width,
                                           logits, s->n, s->m, s->heads, s->head_dim, a.scale);
            g_autofree char *seen_what = g_strdup_printf ("%s: the logits seen", what);
            /* from the same (device-exact) operands, in f32: close whatever the dtype */
            check_close (seen_what, record.seen, logits, nl, ATTENTION_F32_TOLERANCE);

            for (gint64 b = 0; b < s->batch; b++)
              {
                g_autofree char *label = g_strdup_printf ("%s: element %" G_GINT64_FORMAT, what, b);
                if (b == hooked && change)
                  {
                    g_autofree double *ref = g_new (double, per_batch);
                    for (gint64 row = 0; row < s->heads * s->n; row++)
                      {
                        logits[row * s->m + bumped] += 3.0;
                        logits[row * s->m + masked] = -INFINITY;
                      }
                    g_assert_cmpint (fa_reference_attention_from_logits (
                                       logits, a.v + b * s->m * a.width, ref, s->n, s->m, s->heads,
                                       s->head_dim), ==, 0);
                    check_close (label, yv + b * per_batch, ref, per_batch, attention_tolerance (dtype));
                  }
                else
                  check_close (label, yv + b * per_batch, a.ref + b * per_batch, per_batch,
                               attention_tolerance (dtype));
              }
            g_free (record.seen);
            attention_data_clear (&a);
          }
}

static void
test_attention_hook_error (Fixture *fixture, gconstpointer unused)
{
  const AttentionShape s = { 2, 70, 90, 2, 64 };
  const gint64 q_shape[3] = { s.batch, s.n, s.heads * s.head_dim };
  const gint64 k_shape[3] = { s.batch, s.m, s.heads * s.head_dim };
  GError *error = NULL;
  AttentionData a;

  if (!require_cuda ())
    return;

  attention_data_init (&a, &s, FA_DTYPE_BF16, 900);
  CudaHook record = { 0, s.heads, s.n, s.m, NULL, NULL, TRUE };
  FaAttentionHook hook = { cuda_hook, &record, 1 };
  g_autoptr (FaTensor) q = device_tensor (a.q, FA_DTYPE_BF16, 3, q_shape);
  g_autoptr (FaTensor) k = device_tensor (a.k, FA_DTYPE_BF16, 3, k_shape);
  g_autoptr (FaTensor) v = device_tensor (a.v, FA_DTYPE_BF16, 3, k_shape);
  g_autoptr (FaTensor) out = poisoned_device_tensor (FA_DTYPE_BF16, 3, q_shape);

  g_assert_false (fa_op_attention (cuda, q, k, v, out, (int) s.heads, a.scale, &hook, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpstr (error->message, ==, "the test hook refuses");
  g_assert_cmpint (record.calls, ==, 1);
  g_clear_error (&error);

  /* the backend goes on as before */
  g_assert_true (fa_op_attention (cuda, q, k, v, out, (int) s.heads, a.scale, NULL, &error));
  g_assert_no_error (error);
  g_autofree float *yv = download (out);
  check_close ("attention after a refusing hook", yv, a.ref, a.nq, BF16_TOLERANCE);
  attention_data_clear (&a);
}

static const FaDType convert_pairs[][2] = {
  { FA_DTYPE_F32, FA_DTYPE_F32 }, { FA_DTYPE_F32, FA_DTYPE_BF16 },
  { FA_DTYPE_BF16, FA_DTYPE_F32 }, { FA_DTYPE_BF16, FA_DTYPE_BF16 },
};

/* f32 only when nothing is rounded to bf16 on the way. */
static double
pair_tolerance (FaDType in, FaDType out)
{
  return in == FA_DTYPE_F32 && out == FA_DTYPE_F32 ? F32_TOLERANCE : BF16_TOLERANCE;
}

static void
test_rope (Fixture *fixture, gconstpointer unused)
{
  static const gint64 shapes[][4] = {
    /* batch, n, heads, head_dim */
    { 1, 1, 1, 2 }, { 2, 7, 3, 64 }, { 1, 300, 2, 128 }, { 2, 1560, 12, 128 }, { 2, 9, 1, 6 },
  };

  if (!require_cuda ())
    return;

  for (guint p = 0; p < G_N_ELEMENTS (convert_pairs); p++)
    for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
      for (int in_place = 0; in_place <= (convert_pairs[p][0] == convert_pairs[p][1]); in_place++)
        {
          FaDType xd = convert_pairs[p][0], yd = convert_pairs[p][1];
          gint64 batch = shapes[s][0], n = shapes[s][1], heads = shapes[s][2], dim = shapes[s][3];
          gint64 shape[3] = { batch, n, heads * dim }, count = batch * n * heads * dim;
          gint64 table_shape[2] = { n, dim / 2 };
          g_autoptr (GError) error = NULL;
          g_autofree float *xv = random_values (count, 400 + s, -3, 3, xd);
          g_autofree float *cv = random_values (n * dim / 2, 410 + s, -1, 1, FA_DTYPE_F32);
          g_autofree float *sv = g_new (float, n * dim / 2);
          for (gint64 i = 0; i < n * dim / 2; i++)
            sv[i] = sqrtf (1.0f - cv[i] * cv[i]) * (i % 3 == 0 ? -1.0f : 1.0f);

          g_autoptr (FaTensor) x = device_tensor (xv, xd, 3, shape);
          g_autoptr (FaTensor) c = device_tensor (cv, FA_DTYPE_F32, 2, table_shape);
          g_autoptr (FaTensor) sn = device_tensor (sv, FA_DTYPE_F32, 2, table_shape);
          g_autoptr (FaTensor) y = poisoned_device_tensor (yd, 3, shape);
          FaTensor *out = in_place ? x : y;
          g_assert_true (fa_op_rope (cuda, x, c, sn, out, (int) heads, &error));
          g_assert_no_error (error);
          g_autofree float *yv = download (out);

          g_autofree double *ref = g_new (double, count);
          fa_reference_rope (xv, cv, sv, ref, batch, n, heads, dim);
          g_autofree char *what = g_strdup_printf ("rope %s→%s [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                                                   ", %" G_GINT64_FORMAT "×%" G_GINT64_FORMAT "]%s",
                                                   fa_dtype_get_name (xd), fa_dtype_get_name (yd),
                                                   batch, n, heads, dim, in_place ? " in place" : "");
          check_close (what, yv, ref, count, pair_tolerance (xd, yd));

          g_autoptr (FaTensor) cx = host_tensor (xv, FA_DTYPE_F32, 3, shape);
          g_autoptr (FaTensor) cc = host_tensor (cv, FA_DTYPE_F32, 2, table_shape);
          g_autoptr (FaTensor) cs = host_tensor (sv, FA_DTYPE_F32, 2, table_shape);
          g_autoptr (FaTensor) cy = fa_tensor_new (cpu, FA_DTYPE_F32, 3, shape, &error);
          g_assert_true (fa_op_rope (cpu, cx, cc, cs, cy, (int) heads, &error));
          check_against_cpu (what, yv, cy, count, pair_tolerance (xd, yd));
        }
}

static const gint64 token_shapes[][3] = {
  { 1, 1, 1 }, { 2, 7, 33 }, { 3, 300, 96 }, { 2, 1560, 1536 },
};

static void
test_modulate (Fixture *fixture, gconstpointer unused)
{
  if (!require_cuda ())
    return;

  for (guint p = 0; p < G_N_ELEMENTS (convert_pairs); p++)
    for (guint s = 0; s < G_N_ELEMENTS (token_shapes); s++)
      for (int in_place = 0; in_place <= (convert_pairs[p][0] == convert_pairs[p][1]); in_place++)
        {
          FaDType xd = convert_pairs[p][0], yd = convert_pairs[p][1];
          const gint64 *shape = token_shapes[s];
          gint64 batch = shape[0], dim = shape[2], count = shape[0] * shape[1] * shape[2];
          gint64 table_shape[2] = { batch, dim };
          g_autoptr (GError) error = NULL;
          g_autofree float *xv = random_values (count, 420 + s, -4, 4, xd);
          g_autofree float *scv = random_values (batch * dim, 430 + s, -1, 1, FA_DTYPE_F32);
          g_autofree float *shv = random_values (batch * dim, 440 + s, -1, 1, FA_DTYPE_F32);

          g_autoptr (FaTensor) x = device_tensor (xv, xd, 3, shape);
          g_autoptr (FaTensor) sc = device_tensor (scv, FA_DTYPE_F32, 2, table_shape);
          g_autoptr (FaTensor) sh = device_tensor (shv, FA_DTYPE_F32, 2, table_shape);
          g_autoptr (FaTensor) y = poisoned_device_tensor (yd, 3, shape);
          FaTensor *out = in_place ? x : y;
          g_assert_true (fa_op_modulate (cuda, x, sc, sh, out, &error));
          g_assert_no_error (error);
          g_autofree float *yv = download (out);

          g_autofree double *ref = g_new (double, count);
          fa_reference_modulate (xv, scv, shv, ref, batch, shape[1], dim);
          g_autofree char *what = g_strdup_printf ("modulate %s→%s [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                                                   ", %" G_GINT64_FORMAT "]%s",
                                                   fa_dtype_get_name (xd), fa_dtype_get_name (yd),
                                                   batch, shape[1], dim, in_place ? " in place" : "");
          check_close (what, yv, ref, count, pair_tolerance (xd, yd));

          g_autoptr (FaTensor) cx = host_tensor (xv, FA_DTYPE_F32, 3, shape);
          g_autoptr (FaTensor) csc = host_tensor (scv, FA_DTYPE_F32, 2, table_shape);
          g_autoptr (FaTensor) csh = host_tensor (shv, FA_DTYPE_F32, 2, table_shape);
          g_autoptr (FaTensor) cy = fa_tensor_new (cpu, FA_DTYPE_F32, 3, shape, &error);
          g_assert_true (fa_op_modulate (cpu, cx, csc, csh, cy, &error));
          check_against_cpu (what, yv, cy, count, pair_tolerance (xd, yd));
        }
}

static void
test_gated_add (Fixture *fixture, gconstpointer unused)
{
  if (!require_cuda ())
    return;

  /* x the residual, a the branch: every pair of dtypes, with and without a
   * gate, and a = x */
  for (guint p = 0; p < G_N_ELEMENTS (convert_pairs); p++)
    for (guint s = 0; s < G_N_ELEMENTS (token_shapes); s++)
      for (int variant = 0; variant < 3; variant++)
        {
          FaDType xd = convert_pairs[p][0], ad = convert_pairs[p][1];
          const gint64 *shape = token_shapes[s];
          gint64 batch = shape[0], dim = shape[2], count = shape[0] * shape[1] * shape[2];
          gint64 table_shape[2] = { batch, dim };
          g_autoptr (GError) error = NULL;

          if (variant == 2 && xd != ad)
            continue;
          g_autofree float *xv = random_values (count, 450 + s, -4, 4, xd);
          g_autofree float *av = random_values (count, 460 + s, -2, 2, ad);
          g_autofree float *gv = random_values (batch * dim, 470 + s, -1, 1, FA_DTYPE_F32);
          const float *addend = variant == 2 ? xv : av;
          const float *gate = variant == 1 ? NULL : gv;

          g_autoptr (FaTensor) x = device_tensor (xv, xd, 3, shape);
          g_autoptr (FaTensor) a = device_tensor (av, ad, 3, shape);
          g_autoptr (FaTensor) g = device_tensor (gv, FA_DTYPE_F32, 2, table_shape);
          g_assert_true (fa_op_gated_add (cuda, x, variant == 2 ? x : a, gate ? g : NULL, &error));
          g_assert_no_error (error);
          g_autofree float *yv = download (x);

          g_autofree double *ref = g_new (double, count);
          fa_reference_gated_add (xv, addend, gate, ref, batch, shape[1], dim);
          g_autofree char *what = g_strdup_printf ("gated_add x %s a %s [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                                                   ", %" G_GINT64_FORMAT "] %s",
                                                   fa_dtype_get_name (xd), fa_dtype_get_name (ad),
                                                   batch, shape[1], dim,
                                                   variant == 0 ? "gated" : variant == 1 ? "plain" : "a = x");
          check_close (what, yv, ref, count, pair_tolerance (xd, xd));

          g_autoptr (FaTensor) cx = host_tensor (xv, FA_DTYPE_F32, 3, shape);
          g_autoptr (FaTensor) ca = host_tensor (addend, FA_DTYPE_F32, 3, shape);
          g_autoptr (FaTensor) cg = host_tensor (gv, FA_DTYPE_F32, 2, table_shape);
          g_assert_true (fa_op_gated_add (cpu, cx, variant == 2 ? cx : ca, gate ? cg : NULL, &error));
          check_against_cpu (what, yv, cx, count, pair_tolerance (xd, xd));
        }
}

typedef struct {
  gint64 video[5]; /* B, C, F, H, W */
  int patch[3];
} PatchShape;

static const PatchShape patch_shapes[] = {
  { { 1, 1, 1, 1, 1 }, { 1, 1, 1 } },
  { { 1, 16, 1, 4, 6 }, { 1, 2, 2 } },
  { { 2, 16, 21, 60, 104 }, { 1, 2, 2 } }, /* Wan 480p latents */
  { { 2, 3, 4, 6, 9 }, { 2, 3, 3 } },
  { { 1, 5, 6, 4, 4 }, { 3, 2, 1 } },
};

/* Exact: the values are ones both dtypes hold, and a permutation moves them
 * without arithmetic. */
static void
check_equal (const char *what, const float *y, const double *ref, gint64 n)
{
  for (gint64 i = 0; i < n; i++)
    if (!((double) y[i] == ref[i]))
      {
        g_test_fail_printf ("%s: element %" G_GINT64_FORMAT " is %.9g, expected %.9g", what, i,
                            y[i], ref[i]);
        return;
      }
}

static void
test_patchify (Fixture *fixture, gconstpointer unused)
{
  if (!require_cuda ())
    return;

  for (guint p = 0; p < G_N_ELEMENTS (convert_pairs); p++)
    for (guint i = 0; i < G_N_ELEMENTS (patch_shapes); i++)
      for (int back = 0; back <= 1; back++)
        {
          const PatchShape *s = &patch_shapes[i];
          FaDType from = convert_pairs[p][0], to = convert_pairs[p][1];
          gint64 tokens_n = s->video[2] / s->patch[0] * (s->video[3] / s->patch[1]) *
                            (s->video[4] / s->patch[2]);
          gint64 token_shape[3] = { s->video[0], tokens_n,
                                    s->video[1] * s->patch[0] * s->patch[1] * s->patch[2] };
          gint64 count = token_shape[0] * token_shape[1] * token_shape[2];
          g_autoptr (GError) error = NULL;
          /* bf16 values, which both dtypes hold exactly */
          g_autofree float *values = random_values (count, 480 + i, -1, 1, FA_DTYPE_BF16);
          g_autofree double *ref = g_new (double, count);
          g_autofree float *yv = NULL;

          if (!back)
            {
              g_autoptr (FaTensor) video = device_tensor (values, from, 5, s->video);
              g_autoptr (FaTensor) tokens = poisoned_device_tensor (to, 3, token_shape);
              g_assert_true (fa_op_patchify (cuda, video, tokens, s->patch, &error));
              g_assert_no_error (error);
              yv = download (tokens);
              fa_reference_patchify (values, ref, s->video[0], s->video[1], s->video[2],
                                     s->video[3], s->video[4], s->patch[0], s->patch[1],
                                     s->patch[2]);
            }
          else
            {
              g_autoptr (FaTensor) tokens = device_tensor (values, from, 3, token_shape);
              g_autoptr (FaTensor) video = poisoned_device_tensor (to, 5, s->video);
              g_assert_true (fa_op_unpatchify (cuda, tokens, video, s->patch, &error));
              g_assert_no_error (error);
              yv = download (video);
              fa_reference_unpatchify (values, ref, s->video[0], s->video[1], s->video[2],
                                       s->video[3], s->video[4], s->patch[0], s->patch[1],
                                       s->patch[2]);
            }
          g_autofree char *what = g_strdup_printf (
            "%s %s→%s video [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
            ", %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] patch [%d, %d, %d]",
            back ? "unpatchify" : "patchify", fa_dtype_get_name (from), fa_dtype_get_name (to),
            s->video[0], s->video[1], s->video[2], s->video[3], s->video[4], s->patch[0],
            s->patch[1], s->patch[2]);
          check_equal (what, yv, ref, count);
        }
}

static void
test_transformer_errors (Fixture *fixture, gconstpointer unused)
{
  if (!require_cuda ())
    return;

  const gint64 shape[3] = { 1, 4, 8 }, table_shape[2] = { 1, 8 }, rope_shape[2] = { 4, 2 };
  g_autofree float *v = random_values (32, 5, -1, 1, FA_DTYPE_F32);
  g_autoptr (FaTensor) x16 = device_tensor (v, FA_DTYPE_F16, 3, shape);
  g_autoptr (FaTensor) x = device_tensor (v, FA_DTYPE_F32, 3, shape);
  g_autoptr (FaTensor) y = poisoned_device_tensor (FA_DTYPE_F32, 3, shape);
  g_autoptr (FaTensor) y16 = poisoned_device_tensor (FA_DTYPE_F16, 3, shape);
  g_autoptr (FaTensor) table = device_tensor (v, FA_DTYPE_F32, 2, table_shape);
  g_autoptr (FaTensor) rope = device_tensor (v, FA_DTYPE_F32, 2, rope_shape);
  g_autoptr (FaTensor) host = host_tensor (v, FA_DTYPE_F32, 3, shape);
  GError *error = NULL;

  g_assert_false (fa_op_rope (cuda, x16, rope, rope, y, 2, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_DTYPE, "x is f16");
  g_clear_error (&error);
  g_assert_false (fa_op_modulate (cuda, x, table, table, x16, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_DTYPE, "y is f16");
  g_clear_error (&error);
  g_assert_false (fa_op_gated_add (cuda, x, x16, table, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_DTYPE, "a is f16");
  g_clear_error (&error);
  g_assert_false (fa_op_attention (cuda, x16, x16, x16, y16, 2, 1.0f, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_DTYPE, "not f16");
  g_clear_error (&error);
  g_assert_false (fa_op_attention (cuda, x, x, x, host, 2, 1.0f, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_DEVICE, "attention: out is on cpu");
  g_clear_error (&error);
}

/* ---- video ops ---- */

/* f16 weights: the patches are rounded to f16 too (relative 2⁻¹¹ each),
 * against a CPU convolution in f32 of the same (f16-exact) weights. */
#define CONV3D_F16_TOLERANCE 5e-3
/* What fa-backend-cuda.c lets a convolution's patches take. */
#define CONV3D_BUDGET ((guint64) 256 << 20)

typedef struct {
  const char *name;
  gint64 th, tx, h, w, ci, co;
  int kernel[3], stride[3];
  int pad_front, pad_top, pad_bottom, pad_left, pad_right;
  gboolean upsample;
} ConvCase;

static const ConvCase conv_cases[] = {
  /* the encoder's first convolution: RGB in, causal in time, one frame of history */
  { "causal 3×3×3", 1, 3, 9, 11, 3, 16, { 3, 3, 3 }, { 1, 1, 1 }, 2, 1, 1, 1, 1, FALSE },
  { "causal 3×3×3 wide", 1, 2, 6, 7, 40, 24, { 3, 3, 3 }, { 1, 1, 1 }, 2, 1, 1, 1, 1, FALSE },
  /* x itself is the patch matrix (no gather with f32 weights) */
  { "1×1×1", 0, 4, 6, 10, 32, 48, { 1, 1, 1 }, { 1, 1, 1 }, 0, 0, 0, 0, 0, FALSE },
  /* history frames come first in the output and live elsewhere: gathered */
  { "1×1×1 with history", 2, 3, 5, 4, 16, 8, { 1, 1, 1 }, { 1, 1, 1 }, 0, 0, 0, 0, 0, FALSE },
  /* the temporal downsampling */
  { "(3,1,1) stride (2,1,1)", 1, 4, 5, 6, 12, 12, { 3, 1, 1 }, { 2, 1, 1 }, 0, 0, 0, 0, 0, FALSE },
  /* the spatial downsampling: ZeroPad2d (0, 1, 0, 1), then stride 2 */
  { "(1,3,3) stride 2", 0, 2, 10, 13, 8, 8, { 1, 3, 3 }, { 1, 2, 2 }, 0, 0, 1, 0, 1, FALSE },
  /* the spatial upsampling: nearest ×2, then a 3×3 convolution */
  { "upsample (1,3,3)", 0, 2, 5, 7, 8, 6, { 1, 3, 3 }, { 1, 1, 1 }, 0, 1, 1, 1, 1, TRUE },
  /* patches of 76800 pixels × 1944: several blocks of the 256 MiB budget
   * in f32 and in f16 */
  { "several blocks", 1, 3, 120, 160, 72, 8, { 3, 3, 3 }, { 1, 1, 1 }, 2, 1, 1, 1, 1, FALSE },
};

static void
conv_case_geometry (const ConvCase *c, FaConv3dGeometry *g)
{
  const gint64 u = c->upsample ? 2 : 1;

  memset (g, 0, sizeof *g);
  g->th = c->th, g->tx = c->tx, g->h = c->h, g->w = c->w, g->ci = c->ci, g->co = c->co;
  g->kt = c->kernel[0], g->kh = c->kernel[1], g->kw = c->kernel[2];
  g->st = c->stride[0], g->sh = c->stride[1], g->sw = c->stride[2];
  g->pad_front = c->pad_front, g->pad_top = c->pad_top, g->pad_left = c->pad_left;
  g->upsample = c->upsample;
  g->to = (c->pad_front + c->th + c->tx - c->kernel[0]) / c->stride[0] + 1;
  g->ho = (c->h * u + c->pad_top + c->pad_bottom - c->kernel[1]) / c->stride[1] + 1;
  g->wo = (c->w * u + c->pad_left + c->pad_right - c->kernel[2]) / c->stride[2] + 1;
}

static void
conv_case_params (const ConvCase *c, FaConv3dParams *p)
{
  memset (p, 0, sizeof *p);
  for (int i = 0; i < 3; i++)
    p->kernel[i] = c->kernel[i], p->stride[i] = c->stride[i];
  p->pad_front = c->pad_front, p->pad_top = c->pad_top, p->pad_bottom = c->pad_bottom;
  p->pad_left = c->pad_left, p->pad_right = c->pad_right;
  p->upsample = c->upsample;
}

/* The float64 reference of tests/fa-reference.h for a geometry. */
static void
conv3d_reference (const float *history, const float *x, const float *w, const float *bias,
                  double *y, const FaConv3dGeometry *g)
{
  const int64_t in_shape[5] = { g->th, g->tx, g->h, g->w, g->ci };
  const int64_t out_shape[4] = { g->to, g->ho, g->wo, g->co };
  const int kernel[3] = { g->kt, g->kh, g->kw }, stride[3] = { g->st, g->sh, g->sw };
  const int pad[3] = { g->pad_front, g->pad_top, g->pad_left };

  fa_reference_conv3d (history, x, w, bias, y, in_shape, out_shape, kernel, stride, pad, g->upsample);
}

static void
test_conv3d (Fixture *fixture, gconstpointer unused)
{
  static const FaDType w_dtypes[] = { FA_DTYPE_F32, FA_DTYPE_F16 };

  if (!require_cuda ())
    return;

  for (guint s = 0; s < G_N_ELEMENTS (conv_cases); s++)
    for (guint d = 0; d < G_N_ELEMENTS (w_dtypes); d++)
      for (int with_bias = 0; with_bias <= 1; with_bias++)
        {
          const ConvCase *c = &conv_cases[s];
          FaDType wd = w_dtypes[d];
          FaConv3dGeometry g;
          FaConv3dParams params;
          g_autoptr (GError) error = NULL;
          guint64 before, after;

          conv_case_geometry (c, &g);
          conv_case_params (c, &params);
          /* one big case with a bias is enough */
          if (s == G_N_ELEMENTS (conv_cases) - 1 && !with_bias)
            continue;

          const gint64 k = fa_conv3d_patch_size (&g), frame = c->h * c->w * c->ci;
          const gint64 n = g.to * g.ho * g.wo * g.co;
          const gint64 x_shape[4] = { c->tx, c->h, c->w, c->ci };
          const gint64 h_shape[4] = { MAX (c->th, 1), c->h, c->w, c->ci };
          const gint64 w_shape[5] = { c->co, c->kernel[0], c->kernel[1], c->kernel[2], c->ci };
          const gint64 y_shape[4] = { g.to, g.ho, g.wo, g.co };
          g_autofree float *xv = random_values (c->tx * frame, 600 + s, -2, 2, FA_DTYPE_F32);
          g_autofree float *hv = random_values (MAX (c->th, 1) * frame, 610 + s, -2, 2, FA_DTYPE_F32);
          /* weights the f16 tensor holds exactly: only the patches are rounded */
          g_autofree float *wv = random_values (c->co * k, 620 + s, -0.5f, 0.5f, wd);
          g_autofree float *bv = random_values (c->co, 630 + s, -1, 1, FA_DTYPE_F32);

          g_autoptr (FaTensor) x = device_tensor (xv, FA_DTYPE_F32, 4, x_shape);
          g_autoptr (FaTensor) hist = device_tensor (hv, FA_DTYPE_F32, 4, h_shape);
          g_autoptr (FaTensor) w = device_tensor (wv, wd, 5, w_shape);
          g_autoptr (FaTensor) b = device_tensor (bv, FA_DTYPE_F32, 1, &c->co);
          g_autoptr (FaTensor) y = poisoned_device_tensor (FA_DTYPE_F32, 4, y_shape);

          g_assert_true (fa_backend_synchronize (cuda, &error));
          fa_backend_get_memory (cuda, &before, NULL);
          g_assert_true (fa_op_conv3d (cuda, x, c->th > 0 ? hist : NULL, w, with_bias ? b : NULL,
                                       y, &params, &error));
          g_assert_no_error (error);
          g_autofree float *yv = download (y);
          /* whatever the size, the patches stay within the budget */
          fa_backend_get_memory (cuda, &after, NULL);
          g_assert_cmpuint (after - before, <=, CONV3D_BUDGET);

          g_autofree char *what = g_strdup_printf (
            "conv3d %s w %s%s: [%" G_GINT64_FORMAT "+%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
            ", %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] → [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
            ", %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]",
            c->name, fa_dtype_get_name (wd), with_bias ? " + bias" : "", c->th, c->tx, c->h, c->w,
            c->ci, g.to, g.ho, g.wo, g.co);
          double tolerance = wd == FA_DTYPE_F32 ? F32_TOLERANCE : CONV3D_F16_TOLERANCE;

          g_autofree double *ref = g_new (double, n);
          conv3d_reference (hv, xv, wv, with_bias ? bv : NULL, ref, &g);
          check_close (what, yv, ref, n, tolerance);

          g_autoptr (FaTensor) cx = host_tensor (xv, FA_DTYPE_F32, 4, x_shape);
          g_autoptr (FaTensor) ch = host_tensor (hv, FA_DTYPE_F32, 4, h_shape);
          g_autoptr (FaTensor) cw = host_tensor (wv, FA_DTYPE_F32, 5, w_shape);
          g_autoptr (FaTensor) cb = host_tensor (bv, FA_DTYPE_F32, 1, &c->co);
          g_autoptr (FaTensor) cy = fa_tensor_new (cpu, FA_DTYPE_F32, 4, y_shape, &error);
          g_assert_no_error (error);
          g_assert_true (fa_op_conv3d (cpu, cx, c->th > 0 ? ch : NULL, cw, with_bias ? cb : NULL,
                                       cy, &params, &error));
          g_assert_no_error (error);
          check_against_cpu (what, yv, cy, n, tolerance);
        }
}

/* Activations beyond the f16 range meet f16 weights: the patches saturate
 * at ±65504 instead of becoming ±inf (whose product with a zero weight is
 * NaN), so the result is finite and is the convolution of the clamped
 * input. */
static void
test_conv3d_f16_saturation (Fixture *fixture, gconstpointer unused)
{
  const ConvCase c = { "saturation", 1, 2, 4, 5, 8, 4, { 3, 3, 3 }, { 1, 1, 1 }, 2, 1, 1, 1, 1, FALSE };
  FaConv3dGeometry g;
  FaConv3dParams params;
  g_autoptr (GError) error = NULL;

  if (!require_cuda ())
    return;

  conv_case_geometry (&c, &g);
  conv_case_params (&c, &params);
  const gint64 frame = c.h * c.w * c.ci, k = fa_conv3d_patch_size (&g);
  const gint64 n = g.to * g.ho * g.wo * g.co;
  const gint64 x_shape[4] = { c.tx, c.h, c.w, c.ci }, h_shape[4] = { c.th, c.h, c.w, c.ci };
  const gint64 w_shape[5] = { c.co, 3, 3, 3, c.ci }, y_shape[4] = { g.to, g.ho, g.wo, g.co };
  g_autofree float *xv = random_values (c.tx * frame, 700, -2e5f, 2e5f, FA_DTYPE_F32);
  g_autofree float *hv = random_values (c.th * frame, 701, -2e5f, 2e5f, FA_DTYPE_F32);
  /* some weights exactly zero, where an inf patch would give NaN */
  g_autofree float *wv = random_values (c.co * k, 702, -1, 1, FA_DTYPE_F16);
  for (gint64 i = 0; i < c.co * k; i += 3)
    wv[i] = 0.0f;

  g_autoptr (FaTensor) x = device_tensor (xv, FA_DTYPE_F32, 4, x_shape);
  g_autoptr (FaTensor) hist = device_tensor (hv, FA_DTYPE_F32, 4, h_shape);
  g_autoptr (FaTensor) w = device_tensor (wv, FA_DTYPE_F16, 5, w_shape);
  g_autoptr (FaTensor) y = poisoned_device_tensor (FA_DTYPE_F32, 4, y_shape);
  g_assert_true (fa_op_conv3d (cuda, x, hist, w, NULL, y, &params, &error));
  g_assert_no_error (error);
  g_autofree float *yv = download (y);

  for (gint64 i = 0; i < c.tx * frame; i++)
    xv[i] = CLAMP (xv[i], -65504.0f, 65504.0f);
  for (gint64 i = 0; i < c.th * frame; i++)
    hv[i] = CLAMP (hv[i], -65504.0f, 65504.0f);
  g_autofree double *ref = g_new (double, n);
  conv3d_reference (hv, xv, wv, NULL, ref, &g);
  check_close ("conv3d f16 weights, activations past the f16 range", yv, ref, n,
               CONV3D_F16_TOLERANCE);
}

static void
test_conv3d_errors (Fixture *fixture, gconstpointer unused)
{
  ConvCase c = conv_cases[0];
  FaConv3dGeometry g;
  FaConv3dParams params;
  GError *error = NULL;

  if (!require_cuda ())
    return;

  c.th = 0;

  conv_case_geometry (&c, &g);
  conv_case_params (&c, &params);
  const gint64 k = fa_conv3d_patch_size (&g);
  const gint64 x_shape[4] = { c.tx, c.h, c.w, c.ci };
  const gint64 w_shape[5] = { c.co, 3, 3, 3, c.ci }, y_shape[4] = { g.to, g.ho, g.wo, g.co };
  g_autofree float *xv = random_values (c.tx * c.h * c.w * c.ci, 710, -1, 1, FA_DTYPE_F32);
  g_autofree float *wv = random_values (c.co * k, 711, -1, 1, FA_DTYPE_BF16);
  g_autoptr (FaTensor) x = device_tensor (xv, FA_DTYPE_F32, 4, x_shape);
  g_autoptr (FaTensor) x16 = device_tensor (xv, FA_DTYPE_F16, 4, x_shape);
  g_autoptr (FaTensor) wb = device_tensor (wv, FA_DTYPE_BF16, 5, w_shape);
  g_autoptr (FaTensor) w = device_tensor (wv, FA_DTYPE_F32, 5, w_shape);
  g_autoptr (FaTensor) y = poisoned_device_tensor (FA_DTYPE_F32, 4, y_shape);

  g_assert_false (fa_op_conv3d (cuda, x, NULL, wb, NULL, y, &params, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_DTYPE, "bf16");
  g_clear_error (&error);
  g_assert_false (fa_op_conv3d (cuda, x16, NULL, w, NULL, y, &params, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_DTYPE, "f16");
  g_clear_error (&error);

  /* the backend goes on as before */
  g_assert_true (fa_op_conv3d (cuda, x, NULL, w, NULL, y, &params, &error));
  g_assert_no_error (error);
  g_autofree float *yv = download (y);
  g_autofree double *ref = g_new (double, g.to * g.ho * g.wo * g.co);
  conv3d_reference (NULL, xv, wv, NULL, ref, &g);
  check_close ("conv3d after refused calls", yv, ref, g.to * g.ho * g.wo * g.co, F32_TOLERANCE);
}

/* Raw bytes on the device as @dtype, whatever the dtype. */
static FaTensor *
device_bytes (const guint8 *bytes, FaDType dtype, int ndim, const gint64 *shape)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTensor) host = fa_tensor_new_wrapping (dtype, ndim, shape, (gpointer) bytes, NULL,
                                                      NULL, &error);
  g_assert_no_error (error);
  FaTensor *t = fa_tensor_new (cuda, dtype, ndim, shape, &error);
  g_assert_no_error (error);
  g_assert_true (fa_tensor_copy (t, host, &error));
  g_assert_no_error (error);
  return t;
}

/* Exact: bytes moved, nothing computed. Every element size the kernel
 * takes, a permutation (the VAE's [C, T, H, W] ↔ [T, H, W, C]) and a
 * narrowed-then-permuted view that starts off its storage's beginning. */
static void
test_copy_strided (Fixture *fixture, gconstpointer unused)
{
  static const FaDType dtypes[] = { FA_DTYPE_U8, FA_DTYPE_BF16, FA_DTYPE_F32, FA_DTYPE_I64 };
  static const gint64 shape[4] = { 5, 3, 7, 9 };
  static const int perm[4] = { 1, 2, 3, 0 };

  if (!require_cuda ())
    return;

  for (guint d = 0; d < G_N_ELEMENTS (dtypes); d++)
    for (int narrowed = 0; narrowed <= 1; narrowed++)
      {
        const FaDType dtype = dtypes[d];
        const gsize es = fa_dtype_size (dtype);
        const gint64 count = shape[0] * shape[1] * shape[2] * shape[3];
        g_autoptr (GError) error = NULL;
        g_autoptr (GRand) rand = g_rand_new_with_seed (800 + d);
        g_autofree guint8 *bytes = g_malloc (count * es);

        for (gsize i = 0; i < count * es; i++)
          bytes[i] = (guint8) g_rand_int (rand);
        g_autoptr (FaTensor) src = device_bytes (bytes, dtype, 4, shape);
        g_autoptr (FaTensor) base = narrowed ? fa_tensor_narrow (src, 2, 2, 4, &error)
                                             : fa_tensor_ref (src);
        g_assert_no_error (error);
        g_autoptr (FaTensor) view = fa_tensor_permute (base, perm, &error);
        g_assert_no_error (error);
        g_autoptr (FaTensor) dst = fa_tensor_new (cuda, dtype, view->ndim, view->shape, &error);
        g_assert_no_error (error);

        g_assert_true (fa_op_copy (cuda, view, dst, &error));
        g_assert_no_error (error);

        /* the expected bytes, element by element through the view's strides */
        const gint64 n = fa_tensor_get_numel (view);
        const gint64 offset = ((const guint8 *) fa_tensor_get_data (view) -
                               (const guint8 *) fa_tensor_get_data (src)) / (gint64) es;
        g_autofree guint8 *expected = g_malloc (n * es);
        for (gint64 i = 0; i < n; i++)
          {
            gint64 rest = i, at = offset;
            for (int a = view->ndim - 1; a >= 0; a--)
              {
                at += rest % view->shape[a] * view->strides[a];
                rest /= view->shape[a];
              }
            memcpy (expected + i * es, bytes + at * es, es);
          }

        g_autoptr (FaTensor) host = fa_tensor_new (cpu, dtype, dst->ndim, dst->shape, &error);
        g_assert_no_error (error);
        g_assert_true (fa_backend_synchronize (cuda, &error));
        g_assert_true (fa_tensor_copy (host, dst, &error));
        g_assert_no_error (error);
        if (memcmp (fa_tensor_get_data (host), expected, n * es) != 0)
          g_test_fail_printf ("copy of a %spermuted %s view differs", narrowed ? "narrowed, " : "",
                              fa_dtype_get_name (dtype));
      }
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;

  g_test_init (&argc, &argv, NULL);

  cpu = fa_backend_new_cpu ();
  cuda = fa_backend_new_cuda (0, &error);
  if (cuda == NULL)
    cuda_skip_reason = g_strdup (error->message);
  else
    g_test_message ("testing on %s", fa_backend_get_description (cuda));
  /* the fixture makes one per test */
  g_clear_pointer (&cuda, fa_backend_unref);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/cuda/kernel-args", test_kernel_args);
  ADD ("/cuda/new-errors", test_new_errors);
  ADD ("/cuda/probe", test_probe);
  ADD ("/cuda/linear", test_linear);
  ADD ("/cuda/layer-norm", test_layer_norm);
  ADD ("/cuda/rms-norm", test_rms_norm);
  ADD ("/cuda/softmax", test_softmax);
  ADD ("/cuda/gelu-tanh", test_gelu_tanh);
  ADD ("/cuda/silu", test_silu);
  ADD ("/cuda/add", test_add);
  ADD ("/cuda/mul", test_mul);
  ADD ("/cuda/convert", test_convert);
  ADD ("/cuda/misaligned", test_misaligned);
  ADD ("/cuda/in-place", test_in_place);
  ADD ("/cuda/errors", test_errors);
  ADD ("/cuda/memory", test_memory);
  ADD ("/cuda/attention", test_attention);
  ADD ("/cuda/attention-hook", test_attention_hook);
  ADD ("/cuda/attention-hook-error", test_attention_hook_error);
  ADD ("/cuda/rope", test_rope);
  ADD ("/cuda/modulate", test_modulate);
  ADD ("/cuda/gated-add", test_gated_add);
  ADD ("/cuda/patchify", test_patchify);
  ADD ("/cuda/transformer-errors", test_transformer_errors);
  ADD ("/cuda/conv3d", test_conv3d);
  ADD ("/cuda/conv3d-f16-saturation", test_conv3d_f16_saturation);
  ADD ("/cuda/conv3d-errors", test_conv3d_errors);
  ADD ("/cuda/copy-strided", test_copy_strided);
#undef ADD

  int status = g_test_run ();

  g_clear_pointer (&cuda, fa_backend_unref);
  g_clear_pointer (&cpu, fa_backend_unref);
  g_free (cuda_skip_reason);
  return status;
}
