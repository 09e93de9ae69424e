/* The transformer ops of the CPU backend (attention with and without a
 * logits hook, RoPE, modulation, the gated residual add, patchify and
 * unpatchify) against the float64 references of fa-reference.h, on random
 * inputs of several shapes including odd ones (one token, one key, more
 * queries than one attention chunk), plus every argument check.
 * Outputs are poisoned with NaN first, so an element left unwritten fails;
 * f32 results must agree to 1e-5 as max|y − ref| / max|ref|, and the
 * permutations (patchify, unpatchify) exactly.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <gio/gio.h>
#include <math.h>

#include "fa-backend.h"
#include "fa-error.h"
#include "fa-reference.h"
#include "fa-test-util.h"

#define F32_TOLERANCE 1e-5
/* As FA_CPU_ATTENTION_CHUNK in kernels/cpu: queries per block of logits. */
#define ATTENTION_CHUNK 256

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
new_random (Fixture *fixture, int ndim, const gint64 *shape, guint32 seed, float lo, float hi)
{
  FaTensor *t = new_tensor (fixture, FA_DTYPE_F32, ndim, shape);
  fa_test_fill_uniform (fa_tensor_get_data (t), fa_tensor_get_numel (t), seed, lo, hi);
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

/* ---- attention ---- */

typedef struct {
  gint64 batch, n, m, heads, head_dim;
} AttentionShape;

static const AttentionShape attention_shapes[] = {
  { 1, 1, 1, 1, 32 },     /* one query, one key */
  { 1, 7, 13, 2, 64 },
  { 2, 300, 512, 3, 32 }, /* more queries than a chunk */
  { 3, 5, 512, 1, 128 },
  { 1, 300, 13, 2, 128 },
  { 2, 257, 64, 3, 64 },  /* a chunk and one query */
  { 1, 256, 7, 1, 8 },    /* exactly a chunk */
  { 2, 3, 1, 2, 6 },      /* one key: the output is v */
};

typedef struct {
  FaTensor *q, *k, *v, *out;
  double *ref;  /* the reference output, [batch, n, width] */
  gint64 width; /* heads · head_dim */
  float scale;
} AttentionCase;

static void
attention_case_init (AttentionCase *c, Fixture *fixture, const AttentionShape *s, guint32 seed)
{
  c->width = s->heads * s->head_dim;
  c->scale = 1.0f / sqrtf ((float) s->head_dim);
  /* q and k in [−2, 2]: logits with a standard deviation of about 1.3, so
   * that the softmax is neither flat nor one-hot */
  c->q = new_random (fixture, 3, (gint64[]) { s->batch, s->n, c->width }, seed, -2, 2);
  c->k = new_random (fixture, 3, (gint64[]) { s->batch, s->m, c->width }, seed + 1, -2, 2);
  c->v = new_random (fixture, 3, (gint64[]) { s->batch, s->m, c->width }, seed + 2, -1, 1);
  c->out = new_poisoned (fixture, 3, (gint64[]) { s->batch, s->n, c->width });
  c->ref = g_new (double, s->batch * s->n * c->width);
  g_assert_cmpint (fa_reference_attention (data (c->q), data (c->k), data (c->v), c->ref, s->batch,
                                           s->n, s->m, s->heads, s->head_dim, c->scale), ==, 0);
}

static void
attention_case_clear (AttentionCase *c)
{
  g_clear_pointer (&c->q, fa_tensor_unref);
  g_clear_pointer (&c->k, fa_tensor_unref);
  g_clear_pointer (&c->v, fa_tensor_unref);
  g_clear_pointer (&c->out, fa_tensor_unref);
  g_clear_pointer (&c->ref, g_free);
}

static void
test_attention (Fixture *fixture, gconstpointer unused)
{
  for (guint i = 0; i < G_N_ELEMENTS (attention_shapes); i++)
    {
      const AttentionShape *s = &attention_shapes[i];
      g_autoptr (GError) error = NULL;
      AttentionCase c;

      attention_case_init (&c, fixture, s, 10 * i + 1);
      g_assert_true (fa_op_attention (fixture->backend, c.q, c.k, c.v, c.out, (int) s->heads,
                                      c.scale, NULL, &error));
      g_assert_no_error (error);
      fa_test_assert_close (data (c.out), c.ref, s->batch * s->n * c.width, F32_TOLERANCE);
      attention_case_clear (&c);
    }
}

static gboolean
leave_logits (FaBackend *backend, FaTensor *logits, gpointer user_data, GError **error)
{
  return TRUE;
}

/* Without a hook the logits of one chunk of queries of one head exist at a
 * time; with one, the hooked batch element's [heads, n, m] on top. */
static void
test_attention_memory (Fixture *fixture, gconstpointer unused)
{
  const AttentionShape s = { 2, 600, 100, 2, 16 };
  guint64 current, peak;
  AttentionCase c;

  attention_case_init (&c, fixture, &s, 77);
  for (int hooked = 0; hooked <= 1; hooked++)
    {
      g_autoptr (GError) error = NULL;
      FaAttentionHook hook = { NULL, NULL, 1 };
      guint64 logits = hooked ? (guint64) (s.heads * s.n * s.m) * sizeof (float) : 0;

      fa_backend_reset_peak (fixture->backend);
      fa_backend_get_memory (fixture->backend, &current, NULL);
      hook.func = leave_logits;
      g_assert_true (fa_op_attention (fixture->backend, c.q, c.k, c.v, c.out, (int) s.heads,
                                      c.scale, hooked ? &hook : NULL, &error));
      g_assert_no_error (error);
      fa_test_assert_close (data (c.out), c.ref, s.batch * s.n * c.width, F32_TOLERANCE);

      guint64 after;
      fa_backend_get_memory (fixture->backend, &after, &peak);
      g_assert_cmpuint (after, ==, current);
      g_assert_cmpuint (peak - current, ==, ATTENTION_CHUNK * s.m * sizeof (float) + logits);
    }
  attention_case_clear (&c);
}

typedef struct {
  Fixture *fixture;
  int calls;
  gint64 heads, n, m;
  float *seen;           /* a copy of the logits as the hook got them */
  int change;            /* also add to a column and mask another */
  gint64 bumped_column;  /* + kBump in every row of every head */
  gint64 masked_column;  /* −∞: the key drops out */
} HookRecord;

static const float kBump = 3.0f;

static gboolean
record_logits (FaBackend *backend, FaTensor *logits, gpointer user_data, GError **error)
{
  HookRecord *record = user_data;

  g_assert_true (backend == record->fixture->backend);
  g_assert_cmpint (logits->dtype, ==, FA_DTYPE_F32);
  g_assert_cmpint (logits->device, ==, FA_DEVICE_CPU);
  g_assert_cmpint (logits->ndim, ==, 3);
  g_assert_cmpint (logits->shape[0], ==, record->heads);
  g_assert_cmpint (logits->shape[1], ==, record->n);
  g_assert_cmpint (logits->shape[2], ==, record->m);
  g_assert_true (fa_tensor_is_contiguous (logits));

  record->calls++;
  gint64 count = fa_tensor_get_numel (logits);
  g_free (record->seen);
  record->seen = g_memdup2 (fa_tensor_get_data (logits), count * sizeof (float));

  if (record->change)
    {
      float *l = fa_tensor_get_data (logits);
      for (gint64 row = 0; row < record->heads * record->n; row++)
        {
          l[row * record->m + record->bumped_column] += kBump;
          l[row * record->m + record->masked_column] = -INFINITY;
        }
    }
  return TRUE;
}

static void
check_hooked_attention (Fixture *fixture, gboolean change)
{
  const AttentionShape s = { 3, 300, 45, 3, 32 };
  const int hooked = 1;
  g_autoptr (GError) error = NULL;
  HookRecord record = { fixture, 0, s.heads, s.n, s.m, NULL, change, 5, 0 };
  FaAttentionHook hook = { record_logits, &record, hooked };
  AttentionCase c;

  attention_case_init (&c, fixture, &s, 500 + change);
  g_assert_true (fa_op_attention (fixture->backend, c.q, c.k, c.v, c.out, (int) s.heads, c.scale,
                                  &hook, &error));
  g_assert_no_error (error);
  g_assert_cmpint (record.calls, ==, 1);

  /* the hook saw batch element 1's scaled logits */
  gint64 nl = s.heads * s.n * s.m;
  g_autofree double *logits = g_new (double, nl);
  fa_reference_attention_logits (data (c.q) + hooked * s.n * c.width,
                                 data (c.k) + hooked * s.m * c.width, logits, s.n, s.m, s.heads,
                                 s.head_dim, c.scale);
  fa_test_assert_close (record.seen, logits, nl, F32_TOLERANCE);

  /* the other elements are plain attention; the hooked one is attention of
   * the logits as the hook left them */
  gint64 per_batch = s.n * c.width;
  for (gint64 b = 0; b < s.batch; b++)
    {
      if (b == hooked && change)
        {
          g_autofree double *ref = g_new (double, per_batch);
          for (gint64 row = 0; row < s.heads * s.n; row++)
            {
              logits[row * s.m + record.bumped_column] += kBump;
              logits[row * s.m + record.masked_column] = -INFINITY;
            }
          g_assert_cmpint (fa_reference_attention_from_logits (logits, data (c.v) + b * s.m * c.width,
                                                               ref, s.n, s.m, s.heads, s.head_dim),
                           ==, 0);
          fa_test_assert_close (data (c.out) + b * per_batch, ref, per_batch, F32_TOLERANCE);
          /* and it is not what plain attention gives */
          g_assert_cmpfloat (fa_test_relative_error (data (c.out) + b * per_batch,
                                                     c.ref + b * per_batch, per_batch),
                             >, 1e-2);
        }
      else
        fa_test_assert_close (data (c.out) + b * per_batch, c.ref + b * per_batch, per_batch,
                              F32_TOLERANCE);
    }

  g_free (record.seen);
  attention_case_clear (&c);
}

static void
test_attention_hook_sees_logits (Fixture *fixture, gconstpointer unused)
{
  check_hooked_attention (fixture, FALSE);
}

static void
test_attention_hook_changes_logits (Fixture *fixture, gconstpointer unused)
{
  check_hooked_attention (fixture, TRUE);
}

static gboolean
refuse (FaBackend *backend, FaTensor *logits, gpointer user_data, GError **error)
{
  int *calls = user_data;

  (*calls)++;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "the test hook refuses");
  return FALSE;
}

static gboolean
refuse_silently (FaBackend *backend, FaTensor *logits, gpointer user_data, GError **error)
{
  return FALSE;
}

static void
test_attention_hook_error (Fixture *fixture, gconstpointer unused)
{
  /* with the hook on the first and on the last element of the batch */
  for (int hooked = 0; hooked <= 2; hooked += 2)
    {
      const AttentionShape s = { 3, 9, 11, 2, 8 };
      GError *error = NULL;
      int calls = 0;
      FaAttentionHook hook = { refuse, &calls, hooked };
      AttentionCase c;

      attention_case_init (&c, fixture, &s, 600);
      g_assert_false (fa_op_attention (fixture->backend, c.q, c.k, c.v, c.out, (int) s.heads,
                                       c.scale, &hook, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      g_assert_cmpstr (error->message, ==, "the test hook refuses");
      g_assert_cmpint (calls, ==, 1);
      g_clear_error (&error);

      hook.func = refuse_silently;
      g_assert_false (fa_op_attention (fixture->backend, c.q, c.k, c.v, c.out, (int) s.heads,
                                       c.scale, &hook, &error));
      fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                                    "failed without saying why");
      g_clear_error (&error);
      attention_case_clear (&c);
    }
}

/* ---- RoPE ---- */

/* cos and sin [n, half] of angles i·ω_p, ω_p = 10000^(−2p/head_dim), as
 * the Wan tables (positions up to n, and a random offset per pair). */
static void
fill_rope_tables (float *cos_table, float *sin_table, gint64 n, gint64 half, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);

  for (gint64 p = 0; p < half; p++)
    {
      double omega = pow (10000.0, -2.0 * (double) p / (double) (2 * half));
      double offset = g_rand_double_range (rand, -3, 3);
      for (gint64 i = 0; i < n; i++)
        {
          cos_table[i * half + p] = (float) cos (i * omega + offset);
          sin_table[i * half + p] = (float) sin (i * omega + offset);
        }
    }
}

static void
test_rope (Fixture *fixture, gconstpointer unused)
{
  static const gint64 shapes[][4] = {
    /* batch, n, heads, head_dim */
    { 1, 1, 1, 2 }, { 2, 7, 3, 64 }, { 1, 300, 2, 128 }, { 3, 5, 12, 128 }, { 2, 9, 1, 6 },
  };

  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
    for (int in_place = 0; in_place <= 1; in_place++)
      {
        gint64 batch = shapes[s][0], n = shapes[s][1], heads = shapes[s][2], dim = shapes[s][3];
        gint64 shape[3] = { batch, n, heads * dim }, count = batch * n * heads * dim;
        g_autoptr (GError) error = NULL;
        g_autoptr (FaTensor) x = new_random (fixture, 3, shape, 20 + s, -3, 3);
        g_autoptr (FaTensor) y = new_poisoned (fixture, 3, shape);
        g_autoptr (FaTensor) cos_t = new_tensor (fixture, FA_DTYPE_F32, 2, (gint64[]) { n, dim / 2 });
        g_autoptr (FaTensor) sin_t = new_tensor (fixture, FA_DTYPE_F32, 2, (gint64[]) { n, dim / 2 });
        g_autofree double *ref = g_new (double, count);

        fill_rope_tables (data (cos_t), data (sin_t), n, dim / 2, 30 + s);
        fa_reference_rope (data (x), data (cos_t), data (sin_t), ref, batch, n, heads, dim);
        FaTensor *out = in_place ? x : y;
        g_assert_true (fa_op_rope (fixture->backend, x, cos_t, sin_t, out, (int) heads, &error));
        g_assert_no_error (error);
        fa_test_assert_close (data (out), ref, count, F32_TOLERANCE);
      }
}

/* ---- modulation and the gated add ---- */

static const gint64 token_shapes[][3] = {
  { 1, 1, 1 }, { 2, 7, 33 }, { 3, 300, 96 }, { 1, 5, 1536 },
};

static void
test_modulate (Fixture *fixture, gconstpointer unused)
{
  for (guint s = 0; s < G_N_ELEMENTS (token_shapes); s++)
    for (int in_place = 0; in_place <= 1; in_place++)
      {
        const gint64 *shape = token_shapes[s];
        gint64 batch = shape[0], dim = shape[2], count = shape[0] * shape[1] * shape[2];
        g_autoptr (GError) error = NULL;
        g_autoptr (FaTensor) x = new_random (fixture, 3, shape, 40 + s, -4, 4);
        g_autoptr (FaTensor) scale = new_random (fixture, 2, (gint64[]) { batch, dim }, 50 + s, -1, 1);
        g_autoptr (FaTensor) shift = new_random (fixture, 2, (gint64[]) { batch, dim }, 60 + s, -1, 1);
        g_autoptr (FaTensor) y = new_poisoned (fixture, 3, shape);
        g_autofree double *ref = g_new (double, count);

        fa_reference_modulate (data (x), data (scale), data (shift), ref, batch, shape[1], dim);
        FaTensor *out = in_place ? x : y;
        g_assert_true (fa_op_modulate (fixture->backend, x, scale, shift, out, &error));
        g_assert_no_error (error);
        fa_test_assert_close (data (out), ref, count, F32_TOLERANCE);
      }
}

static void
test_gated_add (Fixture *fixture, gconstpointer unused)
{
  for (guint s = 0; s < G_N_ELEMENTS (token_shapes); s++)
    for (int variant = 0; variant < 3; variant++) /* gate, no gate, a = x */
      {
        const gint64 *shape = token_shapes[s];
        gint64 batch = shape[0], dim = shape[2], count = shape[0] * shape[1] * shape[2];
        g_autoptr (GError) error = NULL;
        g_autoptr (FaTensor) x = new_random (fixture, 3, shape, 70 + s, -4, 4);
        g_autoptr (FaTensor) a = new_random (fixture, 3, shape, 80 + s, -2, 2);
        g_autoptr (FaTensor) gate = new_random (fixture, 2, (gint64[]) { batch, dim }, 90 + s, -1, 1);
        g_autofree double *ref = g_new (double, count);
        FaTensor *addend = variant == 2 ? x : a;
        FaTensor *g = variant == 1 ? NULL : gate;

        fa_reference_gated_add (data (x), data (addend), g ? data (g) : NULL, ref, batch, shape[1],
                                dim);
        g_assert_true (fa_op_gated_add (fixture->backend, x, addend, g, &error));
        g_assert_no_error (error);
        fa_test_assert_close (data (x), ref, count, F32_TOLERANCE);
      }
}

/* ---- patchify and unpatchify ---- */

typedef struct {
  gint64 video[5]; /* B, C, F, H, W */
  int patch[3];
} PatchShape;

static const PatchShape patch_shapes[] = {
  { { 1, 1, 1, 1, 1 }, { 1, 1, 1 } },
  { { 1, 16, 1, 4, 6 }, { 1, 2, 2 } },   /* Wan's patch */
  { { 2, 16, 3, 8, 10 }, { 1, 2, 2 } },
  { { 2, 3, 4, 6, 9 }, { 2, 3, 3 } },    /* every patch axis > 1 */
  { { 1, 5, 6, 4, 4 }, { 3, 2, 1 } },
};

static gint64
patch_tokens (const PatchShape *s)
{
  return s->video[2] / s->patch[0] * (s->video[3] / s->patch[1]) * (s->video[4] / s->patch[2]);
}

static gint64
patch_width (const PatchShape *s)
{
  return s->video[1] * s->patch[0] * s->patch[1] * s->patch[2];
}

/* Exact: a permutation moves values, it does not round them. */
static void
assert_equal (const float *y, const double *ref, gint64 n)
{
  for (gint64 i = 0; i < n; i++)
    if (!((double) y[i] == ref[i]))
      g_error ("element %" G_GINT64_FORMAT ": %.9g, expected %.9g", i, y[i], ref[i]);
}

static void
test_patchify (Fixture *fixture, gconstpointer unused)
{
  for (guint i = 0; i < G_N_ELEMENTS (patch_shapes); i++)
    {
      const PatchShape *s = &patch_shapes[i];
      gint64 token_shape[3] = { s->video[0], patch_tokens (s), patch_width (s) };
      gint64 count = token_shape[0] * token_shape[1] * token_shape[2];
      g_autoptr (GError) error = NULL;
      g_autoptr (FaTensor) video = new_random (fixture, 5, s->video, 100 + i, -1, 1);
      g_autoptr (FaTensor) tokens = new_poisoned (fixture, 3, token_shape);
      g_autofree double *ref = g_new (double, count);

      fa_reference_patchify (data (video), ref, s->video[0], s->video[1], s->video[2], s->video[3],
                             s->video[4], s->patch[0], s->patch[1], s->patch[2]);
      g_assert_true (fa_op_patchify (fixture->backend, video, tokens, s->patch, &error));
      g_assert_no_error (error);
      assert_equal (data (tokens), ref, count);

      /* any dtype, as long as both sides share it: bf16 here */
      g_autoptr (FaTensor) video16 = new_tensor (fixture, FA_DTYPE_BF16, 5, s->video);
      g_autoptr (FaTensor) tokens16 = new_tensor (fixture, FA_DTYPE_BF16, 3, token_shape);
      g_autoptr (FaTensor) back = new_poisoned (fixture, 3, token_shape);
      g_autoptr (FaTensor) rounded = new_poisoned (fixture, 5, s->video);
      g_assert_true (fa_op_convert (fixture->backend, video, video16, &error));
      g_assert_true (fa_op_convert (fixture->backend, video16, rounded, &error));
      g_assert_true (fa_op_patchify (fixture->backend, video16, tokens16, s->patch, &error));
      g_assert_true (fa_op_convert (fixture->backend, tokens16, back, &error));
      g_assert_no_error (error);
      fa_reference_patchify (data (rounded), ref, s->video[0], s->video[1], s->video[2],
                             s->video[3], s->video[4], s->patch[0], s->patch[1], s->patch[2]);
      assert_equal (data (back), ref, count);
    }
}

static void
test_unpatchify (Fixture *fixture, gconstpointer unused)
{
  for (guint i = 0; i < G_N_ELEMENTS (patch_shapes); i++)
    {
      const PatchShape *s = &patch_shapes[i];
      gint64 token_shape[3] = { s->video[0], patch_tokens (s), patch_width (s) };
      gint64 count = token_shape[0] * token_shape[1] * token_shape[2];
      g_autoptr (GError) error = NULL;
      g_autoptr (FaTensor) tokens = new_random (fixture, 3, token_shape, 200 + i, -1, 1);
      g_autoptr (FaTensor) video = new_poisoned (fixture, 5, s->video);
      g_autofree double *ref = g_new (double, count);

      fa_reference_unpatchify (data (tokens), ref, s->video[0], s->video[1], s->video[2],
                               s->video[3], s->video[4], s->patch[0], s->patch[1], s->patch[2]);
      g_assert_true (fa_op_unpatchify (fixture->backend, tokens, video, s->patch, &error));
      g_assert_no_error (error);
      assert_equal (data (video), ref, count);
    }
}

/* ---- empty work ---- */

static gboolean
never_called (FaBackend *backend, FaTensor *logits, gpointer user_data, GError **error)
{
  g_assert_not_reached ();
  return FALSE;
}

static void
test_empty (Fixture *fixture, gconstpointer unused)
{
  GError *error = NULL;
  FaAttentionHook hook = { never_called, NULL, 0 };

  /* no queries: nothing to do, whatever the keys */
  {
    g_autoptr (FaTensor) q = new_tensor (fixture, FA_DTYPE_F32, 3, (gint64[]) { 1, 0, 8 });
    g_autoptr (FaTensor) k = new_tensor (fixture, FA_DTYPE_F32, 3, (gint64[]) { 1, 0, 8 });
    g_autoptr (FaTensor) v = new_tensor (fixture, FA_DTYPE_F32, 3, (gint64[]) { 1, 0, 8 });
    g_autoptr (FaTensor) out = new_tensor (fixture, FA_DTYPE_F32, 3, (gint64[]) { 1, 0, 8 });
    g_assert_true (fa_op_attention (fixture->backend, q, k, v, out, 2, 1.0f, &hook, &error));
    g_assert_no_error (error);
  }
  /* queries without keys: undefined, refused */
  {
    g_autoptr (FaTensor) q = new_random (fixture, 3, (gint64[]) { 1, 3, 8 }, 1, -1, 1);
    g_autoptr (FaTensor) k = new_tensor (fixture, FA_DTYPE_F32, 3, (gint64[]) { 1, 0, 8 });
    g_autoptr (FaTensor) v = new_tensor (fixture, FA_DTYPE_F32, 3, (gint64[]) { 1, 0, 8 });
    g_autoptr (FaTensor) out = new_poisoned (fixture, 3, (gint64[]) { 1, 3, 8 });
    g_assert_false (fa_op_attention (fixture->backend, q, k, v, out, 2, 1.0f, NULL, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "hold no tokens");
    g_clear_error (&error);
  }
  /* an empty batch */
  {
    g_autoptr (FaTensor) x = new_tensor (fixture, FA_DTYPE_F32, 3, (gint64[]) { 0, 4, 8 });
    g_autoptr (FaTensor) table = new_tensor (fixture, FA_DTYPE_F32, 2, (gint64[]) { 0, 8 });
    g_autoptr (FaTensor) rope = new_tensor (fixture, FA_DTYPE_F32, 2, (gint64[]) { 4, 2 });
    g_assert_true (fa_op_modulate (fixture->backend, x, table, table, x, &error));
    g_assert_true (fa_op_gated_add (fixture->backend, x, x, table, &error));
    g_assert_true (fa_op_rope (fixture->backend, x, rope, rope, x, 2, &error));
    g_assert_no_error (error);
  }
  /* no frames */
  {
    const int patch[3] = { 1, 2, 2 };
    g_autoptr (FaTensor) video = new_tensor (fixture, FA_DTYPE_F32, 5, (gint64[]) { 1, 16, 0, 4, 4 });
    g_autoptr (FaTensor) tokens = new_tensor (fixture, FA_DTYPE_F32, 3, (gint64[]) { 1, 0, 64 });
    g_assert_true (fa_op_patchify (fixture->backend, video, tokens, patch, &error));
    g_assert_true (fa_op_unpatchify (fixture->backend, tokens, video, patch, &error));
    g_assert_no_error (error);
  }
}

/* ---- argument checks ---- */

#define EXPECT_ERROR(call, code, fragment)                                           \
  G_STMT_START {                                                                     \
    g_assert_false (call);                                                           \
    fa_test_assert_error_message (error, FA_ERROR, code, fragment);                  \
    g_clear_error (&error);                                                          \
  } G_STMT_END

static void
test_attention_errors (Fixture *fixture, gconstpointer unused)
{
  FaBackend *cpu = fixture->backend;
  g_autoptr (FaTensor) q = new_random (fixture, 3, (gint64[]) { 2, 7, 96 }, 1, -1, 1);
  g_autoptr (FaTensor) k = new_random (fixture, 3, (gint64[]) { 2, 5, 96 }, 2, -1, 1);
  g_autoptr (FaTensor) v = new_random (fixture, 3, (gint64[]) { 2, 5, 96 }, 3, -1, 1);
  g_autoptr (FaTensor) out = new_poisoned (fixture, 3, (gint64[]) { 2, 7, 96 });
  g_autoptr (FaTensor) k_narrow = new_random (fixture, 3, (gint64[]) { 2, 5, 64 }, 4, -1, 1);
  g_autoptr (FaTensor) v_short = new_random (fixture, 3, (gint64[]) { 2, 4, 96 }, 5, -1, 1);
  g_autoptr (FaTensor) out_wrong = new_poisoned (fixture, 3, (gint64[]) { 2, 6, 96 });
  g_autoptr (FaTensor) q2 = new_random (fixture, 2, (gint64[]) { 7, 96 }, 6, -1, 1);
  g_autoptr (FaTensor) k16 = new_tensor (fixture, FA_DTYPE_BF16, 3, (gint64[]) { 2, 5, 96 });
  g_autoptr (FaTensor) q16 = new_tensor (fixture, FA_DTYPE_BF16, 3, (gint64[]) { 2, 7, 96 });
  g_autoptr (FaTensor) v16 = new_tensor (fixture, FA_DTYPE_BF16, 3, (gint64[]) { 2, 5, 96 });
  g_autoptr (FaTensor) out16 = new_tensor (fixture, FA_DTYPE_BF16, 3, (gint64[]) { 2, 7, 96 });
  g_autoptr (FaTensor) columns = fa_tensor_narrow (q, 2, 0, 48, NULL);
  g_autoptr (FaTensor) out_columns = new_poisoned (fixture, 3, (gint64[]) { 2, 7, 48 });
  FaAttentionHook far_hook = { never_called, NULL, 2 };
  FaAttentionHook empty_hook = { NULL, NULL, 0 };
  GError *error = NULL;

  EXPECT_ERROR (fa_op_attention (cpu, q, k_narrow, v, out, 4, 1.0f, NULL, &error), FA_ERROR_SHAPE,
                "attention: k has shape [2, 5, 64] but q has [2, 7, 96]");
  EXPECT_ERROR (fa_op_attention (cpu, q, k, v_short, out, 4, 1.0f, NULL, &error), FA_ERROR_SHAPE,
                "attention: v has shape [2, 4, 96] but k has [2, 5, 96]");
  EXPECT_ERROR (fa_op_attention (cpu, q, k, v, out_wrong, 4, 1.0f, NULL, &error), FA_ERROR_SHAPE,
                "attention: out has shape [2, 6, 96] but q has [2, 7, 96]");
  EXPECT_ERROR (fa_op_attention (cpu, q2, k, v, out, 4, 1.0f, NULL, &error), FA_ERROR_SHAPE,
                "attention: q has shape [7, 96], expected [batch, tokens, width]");
  EXPECT_ERROR (fa_op_attention (cpu, q, k, v, out, 5, 1.0f, NULL, &error), FA_ERROR_SHAPE,
                "attention: 5 heads do not divide the width 96 of q");
  EXPECT_ERROR (fa_op_attention (cpu, q, k, v, out, 0, 1.0f, NULL, &error), FA_ERROR_SHAPE,
                "0 heads");
  EXPECT_ERROR (fa_op_attention (cpu, q, k16, v, out, 4, 1.0f, NULL, &error), FA_ERROR_DTYPE,
                "attention: k is bf16 but q is f32");
  EXPECT_ERROR (fa_op_attention (cpu, q16, k16, v16, out16, 4, 1.0f, NULL, &error), FA_ERROR_DTYPE,
                "computes in f32, but q is bf16");
  EXPECT_ERROR (fa_op_attention (cpu, q, k, v, out, 4, 1.0f, &far_hook, &error),
                FA_ERROR_INVALID_ARGUMENT, "batch_index 2 is outside the batch [0, 2)");
  EXPECT_ERROR (fa_op_attention (cpu, q, k, v, out, 4, 1.0f, &empty_hook, &error),
                FA_ERROR_INVALID_ARGUMENT, "the hook has no function");
  EXPECT_ERROR (fa_op_attention (cpu, q, k, v, q, 4, 1.0f, NULL, &error),
                FA_ERROR_INVALID_ARGUMENT, "out must not overlap q");
  EXPECT_ERROR (fa_op_attention (cpu, columns, columns, columns, out_columns, 4, 1.0f, NULL, &error),
                FA_ERROR_SHAPE, "q is not contiguous");
}

static void
test_elementwise_errors (Fixture *fixture, gconstpointer unused)
{
  FaBackend *cpu = fixture->backend;
  g_autoptr (FaTensor) x = new_random (fixture, 3, (gint64[]) { 2, 7, 96 }, 1, -1, 1);
  g_autoptr (FaTensor) y = new_poisoned (fixture, 3, (gint64[]) { 2, 7, 96 });
  g_autoptr (FaTensor) x2 = new_random (fixture, 2, (gint64[]) { 7, 96 }, 2, -1, 1);
  g_autoptr (FaTensor) cos_t = new_random (fixture, 2, (gint64[]) { 7, 16 }, 3, -1, 1);
  g_autoptr (FaTensor) cos_wrong = new_random (fixture, 2, (gint64[]) { 7, 32 }, 4, -1, 1);
  g_autoptr (FaTensor) sin16 = new_tensor (fixture, FA_DTYPE_BF16, 2, (gint64[]) { 7, 16 });
  g_autoptr (FaTensor) table = new_random (fixture, 2, (gint64[]) { 2, 96 }, 5, -1, 1);
  g_autoptr (FaTensor) table_wrong = new_random (fixture, 2, (gint64[]) { 3, 96 }, 6, -1, 1);
  g_autoptr (FaTensor) a_wrong = new_random (fixture, 3, (gint64[]) { 2, 7, 95 }, 7, -1, 1);
  g_autoptr (FaTensor) y16 = new_tensor (fixture, FA_DTYPE_BF16, 3, (gint64[]) { 2, 7, 96 });
  /* two views of one buffer, one element apart */
  g_autoptr (FaTensor) buffer = new_random (fixture, 1, (gint64[]) { 2 * 7 * 96 + 1 }, 8, -1, 1);
  g_autoptr (FaTensor) head = fa_tensor_narrow (buffer, 0, 0, 2 * 7 * 96, NULL);
  g_autoptr (FaTensor) tail = fa_tensor_narrow (buffer, 0, 1, 2 * 7 * 96, NULL);
  g_autoptr (FaTensor) xa = fa_tensor_reshape (head, 3, (gint64[]) { 2, 7, 96 }, NULL);
  g_autoptr (FaTensor) xb = fa_tensor_reshape (tail, 3, (gint64[]) { 2, 7, 96 }, NULL);
  GError *error = NULL;

  /* rope: head_dim 32, pairs 16 */
  EXPECT_ERROR (fa_op_rope (cpu, x, cos_t, cos_t, y, 5, &error), FA_ERROR_SHAPE,
                "rope: 5 heads do not divide the width 96 of x");
  EXPECT_ERROR (fa_op_rope (cpu, x, cos_t, cos_t, y, 32, &error), FA_ERROR_SHAPE,
                "rope: head_dim 3 is odd");
  EXPECT_ERROR (fa_op_rope (cpu, x, cos_wrong, cos_t, y, 3, &error), FA_ERROR_SHAPE,
                "rope: cos has shape [7, 32], expected [7, 16]");
  EXPECT_ERROR (fa_op_rope (cpu, x, cos_t, sin16, y, 3, &error), FA_ERROR_DTYPE,
                "rope: sin is bf16, expected f32");
  EXPECT_ERROR (fa_op_rope (cpu, x2, cos_t, cos_t, y, 3, &error), FA_ERROR_SHAPE,
                "rope: x has shape [7, 96], expected [batch, tokens, width]");
  EXPECT_ERROR (fa_op_rope (cpu, xa, cos_t, cos_t, xb, 3, &error), FA_ERROR_INVALID_ARGUMENT,
                "rope: y overlaps x without being the same tensor");
  EXPECT_ERROR (fa_op_rope (cpu, x, cos_t, cos_t, y16, 3, &error), FA_ERROR_DTYPE,
                "computes in f32, but y is bf16");

  EXPECT_ERROR (fa_op_modulate (cpu, x, table_wrong, table, y, &error), FA_ERROR_SHAPE,
                "modulate: scale has shape [3, 96], expected [2, 96]");
  EXPECT_ERROR (fa_op_modulate (cpu, x, table, table_wrong, y, &error), FA_ERROR_SHAPE,
                "modulate: shift has shape [3, 96], expected [2, 96]");
  EXPECT_ERROR (fa_op_modulate (cpu, x, table, table, a_wrong, &error), FA_ERROR_SHAPE,
                "modulate: y has shape [2, 7, 95] but x has [2, 7, 96]");
  EXPECT_ERROR (fa_op_modulate (cpu, xa, table, table, xb, &error), FA_ERROR_INVALID_ARGUMENT,
                "overlaps x");

  EXPECT_ERROR (fa_op_gated_add (cpu, x, a_wrong, table, &error), FA_ERROR_SHAPE,
                "gated_add: a has shape [2, 7, 95] but x has [2, 7, 96]");
  EXPECT_ERROR (fa_op_gated_add (cpu, x, y, table_wrong, &error), FA_ERROR_SHAPE,
                "gated_add: gate has shape [3, 96], expected [2, 96]");
  EXPECT_ERROR (fa_op_gated_add (cpu, xa, xb, NULL, &error), FA_ERROR_INVALID_ARGUMENT,
                "gated_add: a overlaps x");
  EXPECT_ERROR (fa_op_gated_add (cpu, x, y16, NULL, &error), FA_ERROR_DTYPE,
                "computes in f32, but a is bf16");
}

static void
test_patch_errors (Fixture *fixture, gconstpointer unused)
{
  FaBackend *cpu = fixture->backend;
  const int patch[3] = { 1, 2, 2 }, zero_patch[3] = { 1, 0, 2 };
  g_autoptr (FaTensor) video = new_random (fixture, 5, (gint64[]) { 1, 16, 2, 4, 6 }, 1, -1, 1);
  g_autoptr (FaTensor) odd = new_random (fixture, 5, (gint64[]) { 1, 16, 2, 5, 6 }, 2, -1, 1);
  g_autoptr (FaTensor) video4 = new_random (fixture, 4, (gint64[]) { 16, 2, 4, 6 }, 3, -1, 1);
  g_autoptr (FaTensor) tokens = new_poisoned (fixture, 3, (gint64[]) { 1, 12, 64 });
  g_autoptr (FaTensor) tokens_wrong = new_poisoned (fixture, 3, (gint64[]) { 1, 12, 63 });
  g_autoptr (FaTensor) tokens16 = new_tensor (fixture, FA_DTYPE_BF16, 3, (gint64[]) { 1, 12, 64 });
  GError *error = NULL;

  g_assert_true (fa_op_patchify (cpu, video, tokens, patch, &error));
  g_assert_no_error (error);
  EXPECT_ERROR (fa_op_patchify (cpu, odd, tokens, patch, &error), FA_ERROR_SHAPE,
                "patchify: video [1, 16, 2, 5, 6] does not divide into [1, 2, 2] patches");
  EXPECT_ERROR (fa_op_patchify (cpu, video, tokens_wrong, patch, &error), FA_ERROR_SHAPE,
                "patchify: tokens has shape [1, 12, 63] but video [1, 16, 2, 4, 6] in [1, 2, 2] "
                "patches needs [1, 12, 64]");
  EXPECT_ERROR (fa_op_patchify (cpu, video, tokens, zero_patch, &error), FA_ERROR_INVALID_ARGUMENT,
                "patchify: the patch [1, 0, 2] needs positive sizes");
  EXPECT_ERROR (fa_op_patchify (cpu, video4, tokens, patch, &error), FA_ERROR_SHAPE,
                "patchify: video has shape [16, 2, 4, 6], expected [batch, channels, frames, height, width]");
  EXPECT_ERROR (fa_op_patchify (cpu, video, tokens16, patch, &error), FA_ERROR_DTYPE,
                "patchify: tokens is bf16 but video is f32");
  EXPECT_ERROR (fa_op_unpatchify (cpu, tokens_wrong, video, patch, &error), FA_ERROR_SHAPE,
                "unpatchify: tokens has shape [1, 12, 63]");
  EXPECT_ERROR (fa_op_unpatchify (cpu, tokens, odd, patch, &error), FA_ERROR_SHAPE,
                "unpatchify: video [1, 16, 2, 5, 6] does not divide");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/ops/cpu/attention", test_attention);
  ADD ("/ops/cpu/attention-memory", test_attention_memory);
  ADD ("/ops/cpu/attention-hook-sees-logits", test_attention_hook_sees_logits);
  ADD ("/ops/cpu/attention-hook-changes-logits", test_attention_hook_changes_logits);
  ADD ("/ops/cpu/attention-hook-error", test_attention_hook_error);
  ADD ("/ops/cpu/rope", test_rope);
  ADD ("/ops/cpu/modulate", test_modulate);
  ADD ("/ops/cpu/gated-add", test_gated_add);
  ADD ("/ops/cpu/patchify", test_patchify);
  ADD ("/ops/cpu/unpatchify", test_unpatchify);
  ADD ("/ops/cpu/transformer-empty", test_empty);
  ADD ("/ops/errors/attention", test_attention_errors);
  ADD ("/ops/errors/rope-modulate-gated-add", test_elementwise_errors);
  ADD ("/ops/errors/patchify", test_patch_errors);
#undef ADD

  return g_test_run ();
}
