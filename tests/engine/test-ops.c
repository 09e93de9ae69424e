/* Every CPU op against the float64 references of fa-reference.h (written
 * independently of kernels/cpu), on random inputs of several shapes including
 * odd sizes.
 * Outputs are poisoned with NaN first, so an element left unwritten fails.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>

#include "fa-backend.h"
#include "fa-error.h"
#include "fa-reference.h"
#include "fa-test-util.h"

#define F32_TOLERANCE 1e-5

static const gint64 row_shapes[][2] = {
  { 1, 1 }, { 1, 7 }, { 3, 5 }, { 17, 33 }, { 4, 1000 }, { 2, 1537 }, { 5, 8960 },
};

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
  g_assert_cmpuint (current, ==, 0); /* every tensor was released */
  fa_backend_unref (fixture->backend);
}

static FaTensor *
new_f32 (Fixture *fixture, int ndim, const gint64 *shape)
{
  g_autoptr (GError) error = NULL;
  FaTensor *t = fa_tensor_new (fixture->backend, FA_DTYPE_F32, ndim, shape, &error);
  g_assert_no_error (error);
  return t;
}

static FaTensor *
new_random (Fixture *fixture, int ndim, const gint64 *shape, guint32 seed, float lo, float hi)
{
  FaTensor *t = new_f32 (fixture, ndim, shape);
  fa_test_fill_uniform (fa_tensor_get_data (t), fa_tensor_get_numel (t), seed, lo, hi);
  return t;
}

static FaTensor *
new_poisoned (Fixture *fixture, int ndim, const gint64 *shape)
{
  FaTensor *t = new_f32 (fixture, ndim, shape);
  fa_test_poison (fa_tensor_get_data (t), fa_tensor_get_numel (t));
  return t;
}

static float *
data (const FaTensor *t)
{
  return fa_tensor_get_data (t);
}

static void
test_linear (Fixture *fixture, gconstpointer unused)
{
  static const gint64 mkn[][3] = {
    { 1, 1, 1 }, { 3, 5, 7 }, { 17, 64, 9 }, { 33, 257, 31 }, { 2, 1536, 3 }, { 64, 96, 128 },
  };

  for (guint s = 0; s < G_N_ELEMENTS (mkn); s++)
    for (int with_bias = 0; with_bias <= 1; with_bias++)
      {
        gint64 m = mkn[s][0], k = mkn[s][1], n = mkn[s][2];
        g_autoptr (GError) error = NULL;
        g_autoptr (FaTensor) x = new_random (fixture, 2, (gint64[]) { m, k }, 1 + s, -1, 1);
        g_autoptr (FaTensor) w = new_random (fixture, 2, (gint64[]) { n, k }, 100 + s, -1, 1);
        g_autoptr (FaTensor) b = new_random (fixture, 1, (gint64[]) { n }, 200 + s, -1, 1);
        g_autoptr (FaTensor) y = new_poisoned (fixture, 2, (gint64[]) { m, n });
        g_autofree double *ref = g_new0 (double, m * n);

        fa_reference_linear (data (x), data (w), with_bias ? data (b) : NULL, ref, m, k, n);
        g_assert_true (fa_op_linear (fixture->backend, x, w, with_bias ? b : NULL, y, &error));
        g_assert_no_error (error);
        fa_test_assert_close (data (y), ref, m * n, F32_TOLERANCE);
      }
}

static void
test_linear_batched_leading_axes (Fixture *fixture, gconstpointer unused)
{
  /* [2, 3, k] · [n, k]ᵀ is the same as the [6, k] product */
  const gint64 k = 11, n = 5;
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTensor) x = new_random (fixture, 3, (gint64[]) { 2, 3, k }, 7, -2, 2);
  g_autoptr (FaTensor) w = new_random (fixture, 2, (gint64[]) { n, k }, 8, -2, 2);
  g_autoptr (FaTensor) y = new_poisoned (fixture, 3, (gint64[]) { 2, 3, n });
  g_autofree double *ref = g_new0 (double, 6 * n);

  fa_reference_linear (data (x), data (w), NULL, ref, 6, k, n);
  g_assert_true (fa_op_linear (fixture->backend, x, w, NULL, y, &error));
  fa_test_assert_close (data (y), ref, 6 * n, F32_TOLERANCE);
}

static void
test_layer_norm (Fixture *fixture, gconstpointer unused)
{
  for (guint s = 0; s < G_N_ELEMENTS (row_shapes); s++)
    for (int affine = 0; affine <= 1; affine++)
      {
        gint64 rows = row_shapes[s][0], cols = row_shapes[s][1];
        g_autoptr (GError) error = NULL;
        /* an offset mean makes a one-pass variance visibly wrong */
        g_autoptr (FaTensor) x = new_random (fixture, 2, row_shapes[s], 10 + s, 2, 5);
        g_autoptr (FaTensor) g = new_random (fixture, 1, &cols, 20 + s, 0.5, 1.5);
        g_autoptr (FaTensor) b = new_random (fixture, 1, &cols, 30 + s, -1, 1);
        g_autoptr (FaTensor) y = new_poisoned (fixture, 2, row_shapes[s]);
        g_autofree double *ref = g_new0 (double, rows * cols);

        fa_reference_layer_norm (data (x), affine ? data (g) : NULL, affine ? data (b) : NULL, ref,
                                 rows, cols, 1e-6);
        g_assert_true (fa_op_layer_norm (fixture->backend, x, affine ? g : NULL, affine ? b : NULL,
                                         y, 1e-6f, &error));
        g_assert_no_error (error);
        if (cols == 1)
          {
            /* a one-element row normalizes to 0 (plus beta): compare absolutely */
            for (gint64 r = 0; r < rows; r++)
              g_assert_cmpfloat_with_epsilon (data (y)[r], ref[r], 1e-6);
          }
        else
          fa_test_assert_close (data (y), ref, rows * cols, F32_TOLERANCE);
      }
}

static void
test_rms_norm (Fixture *fixture, gconstpointer unused)
{
  for (guint s = 0; s < G_N_ELEMENTS (row_shapes); s++)
    for (int with_weight = 0; with_weight <= 1; with_weight++)
      {
        gint64 rows = row_shapes[s][0], cols = row_shapes[s][1];
        g_autoptr (GError) error = NULL;
        g_autoptr (FaTensor) x = new_random (fixture, 2, row_shapes[s], 40 + s, -3, 3);
        g_autoptr (FaTensor) g = new_random (fixture, 1, &cols, 50 + s, 0.5, 1.5);
        g_autoptr (FaTensor) y = new_poisoned (fixture, 2, row_shapes[s]);
        g_autofree double *ref = g_new0 (double, rows * cols);

        fa_reference_rms_norm (data (x), with_weight ? data (g) : NULL, ref, rows, cols, 1e-6);
        g_assert_true (fa_op_rms_norm (fixture->backend, x, with_weight ? g : NULL, y, 1e-6f, &error));
        fa_test_assert_close (data (y), ref, rows * cols, F32_TOLERANCE);
      }
}

static void
check_unary (Fixture *fixture, gboolean (*op) (FaBackend *, const FaTensor *, FaTensor *, GError **),
             double (*reference) (double))
{
  for (guint s = 0; s < G_N_ELEMENTS (row_shapes); s++)
    {
      gint64 n = row_shapes[s][0] * row_shapes[s][1];
      g_autoptr (GError) error = NULL;
      g_autoptr (FaTensor) x = new_random (fixture, 2, row_shapes[s], 60 + s, -8, 8);
      g_autoptr (FaTensor) y = new_poisoned (fixture, 2, row_shapes[s]);
      g_autofree double *ref = g_new0 (double, n);

      for (gint64 i = 0; i < n; i++)
        ref[i] = reference (data (x)[i]);
      g_assert_true (op (fixture->backend, x, y, &error));
      g_assert_no_error (error);
      fa_test_assert_close (data (y), ref, n, F32_TOLERANCE);
    }
}

static void
test_gelu_tanh (Fixture *fixture, gconstpointer unused)
{
  check_unary (fixture, fa_op_gelu_tanh, fa_reference_gelu_tanh);
}

static void
test_silu (Fixture *fixture, gconstpointer unused)
{
  check_unary (fixture, fa_op_silu, fa_reference_silu);
}

static void
test_softmax (Fixture *fixture, gconstpointer unused)
{
  for (guint s = 0; s < G_N_ELEMENTS (row_shapes); s++)
    {
      gint64 rows = row_shapes[s][0], cols = row_shapes[s][1];
      g_autoptr (GError) error = NULL;
      /* large logits: a softmax without the max shift overflows expf */
      g_autoptr (FaTensor) x = new_random (fixture, 2, row_shapes[s], 70 + s, 80, 120);
      g_autoptr (FaTensor) y = new_poisoned (fixture, 2, row_shapes[s]);
      g_autofree double *ref = g_new0 (double, rows * cols);

      fa_reference_softmax (data (x), ref, rows, cols);
      g_assert_true (fa_op_softmax (fixture->backend, x, y, &error));
      fa_test_assert_close (data (y), ref, rows * cols, F32_TOLERANCE);
    }
}

static void
check_binary (Fixture *fixture, gboolean is_add)
{
  static const gint64 a_shape[] = { 3, 4, 7 };

  /* b: the same shape, the trailing two axes, the last axis */
  for (int b_ndim = 3; b_ndim >= 1; b_ndim--)
    {
      const gint64 *b_shape = a_shape + (3 - b_ndim);
      g_autoptr (GError) error = NULL;
      g_autoptr (FaTensor) a = new_random (fixture, 3, a_shape, 80, -2, 2);
      g_autoptr (FaTensor) b = new_random (fixture, b_ndim, b_shape, 81 + b_ndim, -2, 2);
      g_autoptr (FaTensor) y = new_poisoned (fixture, 3, a_shape);
      gint64 n = fa_tensor_get_numel (a), nb = fa_tensor_get_numel (b);
      g_autofree double *ref = g_new0 (double, n);

      (is_add ? fa_reference_add : fa_reference_mul) (data (a), data (b), ref, n, nb);
      g_assert_true ((is_add ? fa_op_add : fa_op_mul) (fixture->backend, a, b, y, &error));
      g_assert_no_error (error);
      fa_test_assert_close (data (y), ref, n, F32_TOLERANCE);
    }
}

static void
test_add (Fixture *fixture, gconstpointer unused)
{
  check_binary (fixture, TRUE);
}

static void
test_mul (Fixture *fixture, gconstpointer unused)
{
  check_binary (fixture, FALSE);
}

static void
test_in_place (Fixture *fixture, gconstpointer unused)
{
  /* y may be x for elementwise ops and norms (a residual add in place) */
  const gint64 shape[] = { 4, 9 };
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTensor) x = new_random (fixture, 2, shape, 90, -1, 1);
  g_autoptr (FaTensor) b = new_random (fixture, 2, shape, 91, -1, 1);
  double ref[36];

  for (int i = 0; i < 36; i++)
    ref[i] = fa_reference_silu ((double) data (x)[i] + data (b)[i]);
  g_assert_true (fa_op_add (fixture->backend, x, b, x, &error));
  g_assert_true (fa_op_silu (fixture->backend, x, x, &error));
  fa_test_assert_close (data (x), ref, 36, F32_TOLERANCE);
}

static void
test_convert (Fixture *fixture, gconstpointer unused)
{
  const gint64 shape[] = { 3, 11 };
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTensor) x = new_random (fixture, 2, shape, 95, -100, 100);
  g_autoptr (FaTensor) half = fa_tensor_new (fixture->backend, FA_DTYPE_BF16, 2, shape, &error);
  g_autoptr (FaTensor) back = new_poisoned (fixture, 2, shape);
  double ref[33];

  for (int i = 0; i < 33; i++)
    ref[i] = data (x)[i];
  g_assert_true (fa_op_convert (fixture->backend, x, half, &error));
  g_assert_true (fa_op_convert (fixture->backend, half, back, &error));
  g_assert_no_error (error);
  /* bf16 keeps 8 significant bits: half an ulp is at most 2^-8 of the value */
  fa_test_assert_close (data (back), ref, 33, 1.0 / 256);
  g_assert_cmpfloat (fa_test_relative_error (data (back), ref, 33), >, 0.0);
}

static void
test_shape_errors (Fixture *fixture, gconstpointer unused)
{
  g_autoptr (FaTensor) x = new_random (fixture, 2, (gint64[]) { 2, 5 }, 1, -1, 1);
  g_autoptr (FaTensor) w = new_random (fixture, 2, (gint64[]) { 3, 4 }, 2, -1, 1);
  g_autoptr (FaTensor) w_ok = new_random (fixture, 2, (gint64[]) { 3, 5 }, 2, -1, 1);
  g_autoptr (FaTensor) bias = new_random (fixture, 1, (gint64[]) { 4 }, 3, -1, 1);
  g_autoptr (FaTensor) y = new_poisoned (fixture, 2, (gint64[]) { 2, 3 });
  g_autoptr (FaTensor) y_wrong = new_poisoned (fixture, 2, (gint64[]) { 2, 4 });
  g_autoptr (FaTensor) gamma = new_random (fixture, 1, (gint64[]) { 4 }, 4, -1, 1);
  g_autoptr (FaTensor) b_wrong = new_random (fixture, 1, (gint64[]) { 2 }, 5, -1, 1);
  g_autoptr (FaTensor) y_x = new_poisoned (fixture, 2, (gint64[]) { 2, 5 });
  GError *error = NULL;

  g_assert_false (fa_op_linear (fixture->backend, x, w, NULL, y, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "does not fit weight [3, 4]");
  g_clear_error (&error);

  g_assert_false (fa_op_linear (fixture->backend, x, w_ok, NULL, y_wrong, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "y has shape [2, 4]");
  g_clear_error (&error);

  g_assert_false (fa_op_linear (fixture->backend, x, w_ok, bias, y, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "bias has shape [4], expected [3]");
  g_clear_error (&error);

  g_assert_false (fa_op_layer_norm (fixture->backend, x, gamma, NULL, y_x, 1e-6f, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "weight has shape [4], expected [5]");
  g_clear_error (&error);

  g_assert_false (fa_op_softmax (fixture->backend, x, y, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "y has shape [2, 3] but x has [2, 5]");
  g_clear_error (&error);

  g_assert_false (fa_op_add (fixture->backend, x, b_wrong, y_x, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "b [2] is neither");
  g_clear_error (&error);
}

static void
test_dtype_and_layout_errors (Fixture *fixture, gconstpointer unused)
{
  const gint64 shape[] = { 4, 6 };
  g_autoptr (FaTensor) x = new_random (fixture, 2, shape, 1, -1, 1);
  g_autoptr (FaTensor) x_bf16 = fa_tensor_new (fixture->backend, FA_DTYPE_BF16, 2, shape, NULL);
  g_autoptr (FaTensor) y_bf16 = fa_tensor_new (fixture->backend, FA_DTYPE_BF16, 2, shape, NULL);
  g_autoptr (FaTensor) y = new_poisoned (fixture, 2, shape);
  g_autoptr (FaTensor) column = fa_tensor_narrow (x, 1, 1, 2, NULL);
  g_autoptr (FaTensor) column_y = new_poisoned (fixture, 2, (gint64[]) { 4, 2 });
  GError *error = NULL;

  g_assert_true (fa_op_convert (fixture->backend, x, x_bf16, &error));
  g_assert_false (fa_op_silu (fixture->backend, x_bf16, y_bf16, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_DTYPE, "computes in f32, but x is bf16");
  g_clear_error (&error);

  g_assert_false (fa_op_silu (fixture->backend, x, y_bf16, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_DTYPE, "y is bf16 but x is f32");
  g_clear_error (&error);

  g_assert_false (fa_op_silu (fixture->backend, column, column_y, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "x is not contiguous");
  g_clear_error (&error);

  g_assert_false (fa_op_linear (fixture->backend, x, y, NULL, x, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);

  /* y starting inside x (not at its start) and y over the weight */
  g_autoptr (FaTensor) buffer = new_random (fixture, 1, (gint64[]) { 40 }, 6, -1, 1);
  g_autoptr (FaTensor) x_part = fa_tensor_narrow (buffer, 0, 0, 10, NULL);
  g_autoptr (FaTensor) x_view = fa_tensor_reshape (x_part, 2, (gint64[]) { 2, 5 }, NULL);
  g_autoptr (FaTensor) y_part = fa_tensor_narrow (buffer, 0, 7, 6, NULL);
  g_autoptr (FaTensor) y_view = fa_tensor_reshape (y_part, 2, (gint64[]) { 2, 3 }, NULL);
  g_autoptr (FaTensor) w_part = fa_tensor_narrow (buffer, 0, 20, 15, NULL);
  g_autoptr (FaTensor) w_view = fa_tensor_reshape (w_part, 2, (gint64[]) { 3, 5 }, NULL);
  g_autoptr (FaTensor) x_alone = new_random (fixture, 2, (gint64[]) { 2, 5 }, 7, -1, 1);
  g_autoptr (FaTensor) w_ok = new_random (fixture, 2, (gint64[]) { 3, 5 }, 8, -1, 1);
  g_autoptr (FaTensor) y_in_w_part = fa_tensor_narrow (buffer, 0, 24, 6, NULL);
  g_autoptr (FaTensor) y_in_w = fa_tensor_reshape (y_in_w_part, 2, (gint64[]) { 2, 3 }, NULL);

  g_assert_false (fa_op_linear (fixture->backend, x_view, w_ok, NULL, y_view, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "linear: y must not overlap x");
  g_clear_error (&error);
  g_assert_false (fa_op_linear (fixture->backend, x_alone, w_view, NULL, y_in_w, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "linear: y must not overlap weight");
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/ops/cpu/linear", test_linear);
  ADD ("/ops/cpu/linear-leading-axes", test_linear_batched_leading_axes);
  ADD ("/ops/cpu/layer-norm", test_layer_norm);
  ADD ("/ops/cpu/rms-norm", test_rms_norm);
  ADD ("/ops/cpu/gelu-tanh", test_gelu_tanh);
  ADD ("/ops/cpu/silu", test_silu);
  ADD ("/ops/cpu/softmax", test_softmax);
  ADD ("/ops/cpu/add", test_add);
  ADD ("/ops/cpu/mul", test_mul);
  ADD ("/ops/cpu/in-place", test_in_place);
  ADD ("/ops/cpu/convert", test_convert);
  ADD ("/ops/errors/shapes", test_shape_errors);
  ADD ("/ops/errors/dtypes-and-layout", test_dtype_and_layout_errors);
#undef ADD

  return g_test_run ();
}
