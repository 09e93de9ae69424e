/* Tensors, views, copies, conversion between backends' dtypes, the arena and
 * memory accounting.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "fa-arena.h"
#include "fa-backend.h"
#include "fa-error.h"
#include "fa-test-util.h"

static void
test_new_and_strides (void)
{
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTensor) t = fa_tensor_new (cpu, FA_DTYPE_BF16, 5, (gint64[]) { 2, 3, 4, 5, 6 }, &error);

  g_assert_no_error (error);
  g_assert_cmpint (t->ndim, ==, 5);
  g_assert_cmpint (fa_tensor_get_numel (t), ==, 720);
  g_assert_cmpuint (fa_tensor_get_nbytes (t), ==, 1440);
  g_assert_cmpint (t->strides[0], ==, 360);
  g_assert_cmpint (t->strides[4], ==, 1);
  g_assert_true (fa_tensor_is_contiguous (t));
  g_assert_true (t->device == FA_DEVICE_CPU);
  g_assert_true (fa_tensor_get_backend (t) == cpu);
}

static void
test_new_errors (void)
{
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  GError *error = NULL;

  g_assert_null (fa_tensor_new (cpu, FA_DTYPE_F32, 6, (gint64[]) { 1, 1, 1, 1, 1, 1 }, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "at most 5 axes, not 6");
  g_clear_error (&error);

  g_assert_null (fa_tensor_new (cpu, FA_DTYPE_F32, 2, (gint64[]) { 3, -1 }, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "axis 1 has negative size -1");
  g_clear_error (&error);

  g_assert_null (fa_tensor_new (cpu, FA_DTYPE_F32, 3, (gint64[]) { G_MAXINT64 / 2, 4, 4 }, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "overflows");
  g_clear_error (&error);

  /* larger than any machine has: a clean out-of-memory error, no abort */
  g_assert_null (fa_tensor_new (cpu, FA_DTYPE_F32, 1, (gint64[]) { G_GINT64_CONSTANT (1) << 60 }, &error));
  g_assert_nonnull (error);
  g_assert_true (error->code == FA_ERROR_OUT_OF_MEMORY || error->code == FA_ERROR_SHAPE);
  g_clear_error (&error);
}

static void
test_views_share_storage (void)
{
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTensor) t = fa_tensor_new (cpu, FA_DTYPE_F32, 2, (gint64[]) { 4, 6 }, &error);
  float *values = fa_tensor_get_data (t);

  for (int i = 0; i < 24; i++)
    values[i] = (float) i;

  g_autoptr (FaTensor) flat = fa_tensor_reshape (t, 3, (gint64[]) { 2, 2, 6 }, &error);
  g_assert_no_error (error);
  g_assert_true (fa_tensor_get_data (flat) == fa_tensor_get_data (t));

  g_autoptr (FaTensor) rows = fa_tensor_narrow (t, 0, 1, 2, &error);
  g_assert_no_error (error);
  g_assert_true (fa_tensor_is_contiguous (rows));
  g_assert_cmpfloat (((float *) fa_tensor_get_data (rows))[0], ==, 6.0f);

  g_autoptr (FaTensor) cols = fa_tensor_narrow (t, 1, 2, 3, &error);
  g_assert_no_error (error);
  g_assert_false (fa_tensor_is_contiguous (cols));
  g_assert_cmpfloat (((float *) fa_tensor_get_data (cols))[0], ==, 2.0f);
  g_assert_cmpint (cols->strides[0], ==, 6);

  /* writes through a view land in the original */
  ((float *) fa_tensor_get_data (rows))[1] = -1.0f;
  g_assert_cmpfloat (values[7], ==, -1.0f);

  /* the storage outlives the original tensor while a view holds it */
  g_clear_pointer (&t, fa_tensor_unref);
  g_assert_cmpfloat (((float *) fa_tensor_get_data (flat))[7], ==, -1.0f);
}

static void
test_view_errors (void)
{
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  g_autoptr (FaTensor) t = fa_tensor_new (cpu, FA_DTYPE_F32, 2, (gint64[]) { 4, 6 }, NULL);
  g_autoptr (FaTensor) cols = fa_tensor_narrow (t, 1, 0, 3, NULL);
  GError *error = NULL;

  g_assert_null (fa_tensor_reshape (t, 2, (gint64[]) { 5, 5 }, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "cannot reshape [4, 6] to [5, 5]");
  g_clear_error (&error);

  g_assert_null (fa_tensor_reshape (cols, 1, (gint64[]) { 12 }, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "contiguous");
  g_clear_error (&error);

  g_assert_null (fa_tensor_narrow (t, 1, 4, 3, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "range [4, 7) is outside axis 1 of size 6");
  g_clear_error (&error);

  g_assert_null (fa_tensor_narrow (t, 2, 0, 1, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "axis 2 out of range");
  g_clear_error (&error);
}

static void
test_copy_and_to (void)
{
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  g_autoptr (GError) error = NULL;
  const gint64 shape[] = { 3, 7 };
  g_autoptr (FaTensor) src = fa_tensor_new (cpu, FA_DTYPE_F32, 2, shape, &error);
  g_autoptr (FaTensor) dst = fa_tensor_new (cpu, FA_DTYPE_F32, 1, (gint64[]) { 21 }, &error);
  float *s = fa_tensor_get_data (src);

  fa_test_fill_uniform (s, 21, 5, -3, 3);
  g_assert_true (fa_tensor_copy (dst, src, &error));
  g_assert_cmpmem (fa_tensor_get_data (dst), 84, s, 84);

  /* f32 → bf16 → f32 loses only bf16's rounding, and the values match the
   * dtype conversion of the CPU kernels */
  g_autoptr (FaTensor) half = fa_tensor_to (src, cpu, FA_DTYPE_BF16, &error);
  g_assert_no_error (error);
  g_assert_true (half->dtype == FA_DTYPE_BF16);
  g_autoptr (FaTensor) back = fa_tensor_to (half, cpu, FA_DTYPE_F32, &error);
  double ref[21];
  for (int i = 0; i < 21; i++)
    ref[i] = s[i];
  fa_test_assert_close ((float *) fa_tensor_get_data (back), ref, 21, 1.0 / 256);

  GError *bad = NULL;
  g_autoptr (FaTensor) wrong = fa_tensor_new (cpu, FA_DTYPE_F32, 1, (gint64[]) { 20 }, NULL);
  g_assert_false (fa_tensor_copy (wrong, src, &bad));
  fa_test_assert_error_message (bad, FA_ERROR, FA_ERROR_SHAPE, "element counts differ");
  g_clear_error (&bad);
  g_assert_false (fa_tensor_copy (half, src, &bad));
  fa_test_assert_error_message (bad, FA_ERROR, FA_ERROR_DTYPE, "dtypes differ");
  g_clear_error (&bad);
}

static void
count_destroy (gpointer data)
{
  (*(int *) data)++;
}

static void
test_wrapping (void)
{
  float buffer[6] = { 1, 2, 3, 4, 5, 6 };
  int destroyed = 0;
  g_autoptr (GError) error = NULL;
  FaTensor *t = fa_tensor_new_wrapping (FA_DTYPE_F32, 2, (gint64[]) { 2, 3 }, buffer, count_destroy,
                                        &destroyed, &error);

  g_assert_no_error (error);
  g_assert_null (fa_tensor_get_backend (t));
  g_assert_true (fa_tensor_get_data (t) == buffer);
  FaTensor *view = fa_tensor_narrow (t, 0, 1, 1, &error);
  fa_tensor_unref (t);
  g_assert_cmpint (destroyed, ==, 0);
  g_assert_cmpfloat (((float *) fa_tensor_get_data (view))[0], ==, 4.0f);
  fa_tensor_unref (view);
  g_assert_cmpint (destroyed, ==, 1);
}

static gpointer
churn_references (gpointer data)
{
  FaTensor *tensor = data;

  for (int i = 0; i < 50000; i++)
    {
      FaTensor *view = fa_tensor_narrow (tensor, 0, i % 2, 1, NULL);
      fa_tensor_unref (fa_tensor_ref (tensor));
      fa_tensor_unref (view);
    }
  return NULL;
}

static void
test_references_across_threads (void)
{
  /* Tensors made on an engine thread are released on the UI thread: with a
   * plain counter, lost updates would free the storage early or never. */
  float buffer[6] = { 0 };
  int destroyed = 0;
  FaTensor *t = fa_tensor_new_wrapping (FA_DTYPE_F32, 2, (gint64[]) { 2, 3 }, buffer, count_destroy,
                                        &destroyed, NULL);
  GThread *threads[4];

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("churn", churn_references, t);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);

  g_assert_cmpint (destroyed, ==, 0);
  fa_tensor_unref (t);
  g_assert_cmpint (destroyed, ==, 1);
}

static void
test_memory_accounting (void)
{
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  guint64 current, peak;

  FaTensor *a = fa_tensor_new (cpu, FA_DTYPE_F32, 1, (gint64[]) { 1000 }, NULL);
  FaTensor *b = fa_tensor_new (cpu, FA_DTYPE_BF16, 1, (gint64[]) { 1000 }, NULL);
  fa_backend_get_memory (cpu, &current, &peak);
  g_assert_cmpuint (current, ==, 6000);
  g_assert_cmpuint (peak, ==, 6000);

  fa_tensor_unref (a);
  fa_backend_get_memory (cpu, &current, &peak);
  g_assert_cmpuint (current, ==, 2000);
  g_assert_cmpuint (peak, ==, 6000);

  fa_backend_log_stage_memory (cpu, "test stage");
  fa_backend_get_memory (cpu, &current, &peak);
  g_assert_cmpuint (peak, ==, 2000); /* a new stage starts from what is held */
  fa_tensor_unref (b);
  fa_backend_get_memory (cpu, &current, NULL);
  g_assert_cmpuint (current, ==, 0);
}

static void
test_arena (void)
{
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  g_autoptr (GError) error = NULL;
  guint64 current;
  g_autoptr (FaArena) arena = fa_arena_new (cpu, "activations", 4096, &error);

  g_assert_no_error (error);
  fa_backend_get_memory (cpu, &current, NULL);
  g_assert_cmpuint (current, ==, 4096); /* one block, allocated once */

  FaTensor *a = fa_arena_new_tensor (arena, FA_DTYPE_F32, 2, (gint64[]) { 10, 10 }, &error);
  FaTensor *b = fa_arena_new_tensor (arena, FA_DTYPE_BF16, 1, (gint64[]) { 3 }, &error);
  g_assert_no_error (error);
  g_assert_cmpuint ((guintptr) fa_tensor_get_data (a) % 256, ==, 0);
  g_assert_cmpuint ((guintptr) fa_tensor_get_data (b) % 256, ==, 0);
  g_assert_true ((guint8 *) fa_tensor_get_data (b) >= (guint8 *) fa_tensor_get_data (a) + 400);
  g_assert_cmpuint (fa_arena_get_used (arena), ==, 512 + 256);

  /* tensors from the arena add nothing to the backend's count */
  fa_backend_get_memory (cpu, &current, NULL);
  g_assert_cmpuint (current, ==, 4096);

  GError *full = NULL;
  g_assert_null (fa_arena_new_tensor (arena, FA_DTYPE_F32, 1, (gint64[]) { 1024 }, &full));
  fa_test_assert_error_message (full, FA_ERROR, FA_ERROR_OUT_OF_MEMORY, "arena 'activations' is full");
  g_clear_error (&full);

  fa_tensor_unref (a);
  fa_tensor_unref (b);
  fa_arena_reset (arena);
  g_assert_cmpuint (fa_arena_get_used (arena), ==, 0);
  g_assert_cmpuint (fa_arena_get_peak (arena), ==, 768);

  FaTensor *c = fa_arena_new_tensor (arena, FA_DTYPE_F32, 1, (gint64[]) { 1024 }, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fa_arena_get_peak (arena), ==, 4096);

  /* the block stays while a tensor from it lives */
  g_clear_pointer (&arena, fa_arena_unref);
  fa_backend_get_memory (cpu, &current, NULL);
  g_assert_cmpuint (current, ==, 4096);
  fa_tensor_unref (c);
  fa_backend_get_memory (cpu, &current, NULL);
  g_assert_cmpuint (current, ==, 0);
}

static void
test_default_backend_falls_back (void)
{
  /* Without a GPU (CI) the default is the CPU, with a message saying why. */
  g_autoptr (GError) error = NULL;
  g_autoptr (FaBackend) cuda = fa_backend_new_cuda (0, &error);

  if (cuda != NULL)
    {
      g_test_skip ("a CUDA device is present");
      return;
    }
  g_assert_nonnull (error);
  g_assert_cmpstr (error->message, !=, "");

  g_autoptr (FaBackend) backend = fa_backend_new_default ();
  g_assert_true (fa_backend_get_device (backend) == FA_DEVICE_CPU);
  g_assert_true (g_str_has_prefix (fa_backend_get_description (backend), "CPU"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/tensor/new-and-strides", test_new_and_strides);
  g_test_add_func ("/tensor/new-errors", test_new_errors);
  g_test_add_func ("/tensor/views-share-storage", test_views_share_storage);
  g_test_add_func ("/tensor/view-errors", test_view_errors);
  g_test_add_func ("/tensor/copy-and-to", test_copy_and_to);
  g_test_add_func ("/tensor/wrapping", test_wrapping);
  g_test_add_func ("/tensor/references-across-threads", test_references_across_threads);
  g_test_add_func ("/backend/memory-accounting", test_memory_accounting);
  g_test_add_func ("/backend/arena", test_arena);
  g_test_add_func ("/backend/default-falls-back", test_default_backend_falls_back);

  return g_test_run ();
}
