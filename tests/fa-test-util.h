/* fa-test-util.h: what the engine's tests share: seeded random data, NaN
 * poisoning of outputs, relative error against a float64 reference, and
 * checks on error messages.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

/* A fresh folder under the temporary directory ("name-XXXXXX"). */
typedef gboolean (*FaTestCondition) (gpointer data);

/* Runs the default main context until @condition holds; FALSE when it
 * still does not after @seconds. */
static inline gboolean
fa_test_wait_for (FaTestCondition condition, gpointer data, int seconds)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) seconds * G_USEC_PER_SEC;

  while (!condition (data))
    {
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (1000);
    }
  return TRUE;
}

static inline char *
fa_test_make_folder (const char *template_name)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp (template_name, &error);
  g_assert_no_error (error);
  return dir;
}

/* Deletes @path and everything below it (without following links). */
static inline void
fa_test_remove_tree (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
      const char *name;

      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          fa_test_remove_tree (child);
        }
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

/* Deterministic uniform values in [lo, hi). */
static inline void
fa_test_fill_uniform (float *data, gsize n, guint32 seed, float lo, float hi)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);

  for (gsize i = 0; i < n; i++)
    data[i] = (float) g_rand_double_range (rand, lo, hi);
}

/* Outputs start as NaN so that an element a kernel forgets to write fails. */
static inline void
fa_test_poison (float *data, gsize n)
{
  for (gsize i = 0; i < n; i++)
    data[i] = NAN;
}

/* max|y − ref| / max|ref|: scale-aware, and infinite when any y is NaN or
 * infinite (NaN never passes). */
static inline double
fa_test_relative_error (const float *y, const double *ref, gsize n)
{
  double max_diff = 0.0, max_ref = 0.0;

  for (gsize i = 0; i < n; i++)
    {
      if (!isfinite (y[i]) || !isfinite (ref[i]))
        return INFINITY;
      max_diff = fmax (max_diff, fabs ((double) y[i] - ref[i]));
      max_ref = fmax (max_ref, fabs (ref[i]));
    }
  return max_diff / fmax (max_ref, 1e-30);
}

/* ‖y − ref‖₂ / ‖ref‖₂, infinite when any y is NaN or infinite. */
static inline double
fa_test_l2_relative_error (const float *y, const float *ref, gsize n)
{
  double diff = 0.0, norm = 0.0;

  for (gsize i = 0; i < n; i++)
    {
      if (!isfinite (y[i]))
        return INFINITY;
      diff += ((double) y[i] - ref[i]) * ((double) y[i] - ref[i]);
      norm += (double) ref[i] * ref[i];
    }
  return sqrt (diff) / fmax (sqrt (norm), 1e-30);
}

#define fa_test_assert_close(y, ref, n, tol)                                        \
  G_STMT_START {                                                                    \
    double fa_test_err_ = fa_test_relative_error ((y), (ref), (n));                 \
    if (!(fa_test_err_ <= (tol)))                                                   \
      g_error ("%s:%d: relative error %.3g exceeds %.3g", __FILE__, __LINE__,       \
               fa_test_err_, (double) (tol));                                        \
  } G_STMT_END

/* The call failed with @domain/@code and a message containing @fragment. */
#define fa_test_assert_error_message(error, domain, code, fragment)                 \
  G_STMT_START {                                                                    \
    g_assert_error ((error), (domain), (code));                                     \
    if (strstr ((error)->message, (fragment)) == NULL)                              \
      g_error ("%s:%d: error message \"%s\" does not mention \"%s\"", __FILE__,      \
               __LINE__, (error)->message, (fragment));                              \
  } G_STMT_END
