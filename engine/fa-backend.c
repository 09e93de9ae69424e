/* fa-backend.c: backend selection, memory accounting, and the fa_op_* entry
 * points that check every call before a backend sees it.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-backend"

#include "config.h"

#include "fa-backend-private.h"

#include "fa-error.h"

FaBackend *
_fa_backend_new (const FaBackendOps *ops, FaDevice device, char *description, gpointer impl)
{
  FaBackend *backend = g_new0 (FaBackend, 1);

  g_atomic_ref_count_init (&backend->ref_count);
  g_mutex_init (&backend->memory_lock);
  backend->ops = ops;
  backend->device = device;
  backend->description = description;
  backend->impl = impl;
  return backend;
}

FaBackend *
fa_backend_ref (FaBackend *backend)
{
  g_return_val_if_fail (backend != NULL, NULL);
  g_atomic_ref_count_inc (&backend->ref_count);
  return backend;
}

void
fa_backend_unref (FaBackend *backend)
{
  if (backend == NULL || !g_atomic_ref_count_dec (&backend->ref_count))
    return;
  /* destroy releases what the backend holds for itself (scratch); what is
   * left was allocated by a caller and never freed */
  if (backend->ops->destroy != NULL)
    backend->ops->destroy (backend);
  if (backend->memory_current != 0)
    g_warning ("%s: %" G_GUINT64_FORMAT " bytes still allocated at destruction",
               backend->description, backend->memory_current);
  g_mutex_clear (&backend->memory_lock);
  g_free (backend->description);
  g_free (backend);
}

FaDevice
fa_backend_get_device (FaBackend *backend)
{
  return backend->device;
}

const char *
fa_backend_get_description (FaBackend *backend)
{
  return backend->description;
}

gboolean
fa_backend_synchronize (FaBackend *backend, GError **error)
{
  return backend->ops->synchronize == NULL || backend->ops->synchronize (backend, error);
}

FaBackend *
fa_backend_new_cuda (int device_index, GError **error)
{
#if FA_HAVE_CUDA
  return _fa_backend_cuda_new (device_index, error);
#else
  g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
               "this build has no CUDA backend (nvcc was not found when it was configured)");
  return NULL;
#endif
}

gboolean
fa_cuda_probe (int device_index, char **out_name, guint64 *out_total_bytes, GError **error)
{
#if FA_HAVE_CUDA
  return _fa_backend_cuda_probe (device_index, out_name, out_total_bytes, error);
#else
  return fa_backend_new_cuda (device_index, error) != NULL;
#endif
}

FaBackend *
fa_backend_new_default (void)
{
  const char *wanted = g_getenv ("FLOWANCHOR_BACKEND");
  g_autoptr (GError) error = NULL;

  if (g_strcmp0 (wanted, "cpu") == 0)
    {
      g_message ("Computing on the CPU: FLOWANCHOR_BACKEND=cpu");
      return fa_backend_new_cpu ();
    }

  FaBackend *cuda = fa_backend_new_cuda (0, &error);
  if (cuda != NULL)
    {
      g_message ("Computing on %s", fa_backend_get_description (cuda));
      return cuda;
    }
  g_message ("CUDA not used (%s); computing on the CPU", error->message);
  return fa_backend_new_cpu ();
}

void
_fa_backend_count_alloc (FaBackend *backend, gsize size)
{
  g_mutex_lock (&backend->memory_lock);
  backend->memory_current += size;
  backend->memory_peak = MAX (backend->memory_peak, backend->memory_current);
  g_mutex_unlock (&backend->memory_lock);
}

void
_fa_backend_count_free (FaBackend *backend, gsize size)
{
  g_mutex_lock (&backend->memory_lock);
  backend->memory_current -= MIN (size, backend->memory_current);
  g_mutex_unlock (&backend->memory_lock);
}

gpointer
fa_backend_alloc (FaBackend *backend, gsize size, GError **error)
{
  gpointer ptr;

  if (size == 0)
    return NULL;
  ptr = backend->ops->alloc (backend, size, error);
  if (ptr != NULL)
    _fa_backend_count_alloc (backend, size);
  return ptr;
}

void
fa_backend_free (FaBackend *backend, gpointer ptr, gsize size)
{
  if (ptr == NULL)
    return;
  backend->ops->free (backend, ptr);
  _fa_backend_count_free (backend, size);
}

void
fa_backend_get_memory (FaBackend *backend, guint64 *current, guint64 *peak)
{
  g_mutex_lock (&backend->memory_lock);
  if (current != NULL)
    *current = backend->memory_current;
  if (peak != NULL)
    *peak = backend->memory_peak;
  g_mutex_unlock (&backend->memory_lock);
}

void
fa_backend_reset_peak (FaBackend *backend)
{
  g_mutex_lock (&backend->memory_lock);
  backend->memory_peak = backend->memory_current;
  g_mutex_unlock (&backend->memory_lock);
}

void
fa_backend_log_stage_memory (FaBackend *backend, const char *stage)
{
  guint64 current, peak;

  fa_backend_get_memory (backend, &current, &peak);
  g_autofree char *peak_text = g_format_size_full (peak, G_FORMAT_SIZE_IEC_UNITS);
  g_autofree char *current_text = g_format_size_full (current, G_FORMAT_SIZE_IEC_UNITS);
  g_info ("%s: peak %s memory %s (%" G_GUINT64_FORMAT " bytes), %s held after it", stage,
          fa_device_get_name (backend->device), peak_text, peak, current_text);
  fa_backend_reset_peak (backend);
}

/* ---- argument checks shared by both backends ---- */

static gboolean
check_operand (FaBackend *backend, const char *op, const char *role, const FaTensor *tensor,
               GError **error)
{
  if (tensor->device != backend->device)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_DEVICE, "%s: %s is on %s but the backend computes on %s",
                   op, role, fa_device_get_name (tensor->device), fa_device_get_name (backend->device));
      return FALSE;
    }
  if (!fa_tensor_is_contiguous (tensor))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "%s: %s is not contiguous", op, role);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_same_dtype (const char *op, const char *role, const FaTensor *tensor, const FaTensor *x,
                  GError **error)
{
  if (tensor->dtype != x->dtype)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_DTYPE, "%s: %s is %s but x is %s", op, role,
                   fa_dtype_get_name (tensor->dtype), fa_dtype_get_name (x->dtype));
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_same_shape (const char *op, const char *role, const FaTensor *tensor, const FaTensor *x,
                  GError **error)
{
  if (!fa_tensor_same_shape (tensor, x))
    {
      g_autofree char *got = fa_tensor_shape_to_string (tensor);
      g_autofree char *want = fa_tensor_shape_to_string (x);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "%s: %s has shape %s but x has %s", op, role,
                   got, want);
      return FALSE;
    }
  return TRUE;
}

/* A per-feature parameter (norm weight, bias): NULL, or [cols] of x's dtype. */
static gboolean
check_vector (FaBackend *backend, const char *op, const char *role, const FaTensor *vector,
              gint64 cols, const FaTensor *x, GError **error)
{
  if (vector == NULL)
    return TRUE;
  if (!check_operand (backend, op, role, vector, error) ||
      !check_same_dtype (op, role, vector, x, error))
    return FALSE;
  if (vector->ndim != 1 || vector->shape[0] != cols)
    {
      g_autofree char *got = fa_tensor_shape_to_string (vector);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "%s: %s has shape %s, expected [%" G_GINT64_FORMAT "]",
                   op, role, got, cols);
      return FALSE;
    }
  return TRUE;
}

/* x and y: same shape and dtype, at least one axis; gives rows × cols. */
static gboolean
check_rows (FaBackend *backend, const char *op, const FaTensor *x, const FaTensor *y,
            gint64 *rows, gint64 *cols, GError **error)
{
  if (!check_operand (backend, op, "x", x, error) || !check_operand (backend, op, "y", y, error) ||
      !check_same_dtype (op, "y", y, x, error) || !check_same_shape (op, "y", y, x, error))
    return FALSE;
  if (x->ndim == 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "%s: x needs at least one axis", op);
      return FALSE;
    }
  *cols = x->shape[x->ndim - 1];
  *rows = *cols == 0 ? 0 : fa_tensor_get_numel (x) / *cols;
  return TRUE;
}

static gboolean check_apart (const char *op, const char *role_b, const FaTensor *b, const char *role_a,
                             const FaTensor *a, GError **error);

gboolean
fa_op_linear (FaBackend *backend, const FaTensor *x, const FaTensor *weight, const FaTensor *bias,
              FaTensor *y, GError **error)
{
  const char *op = "linear";

  g_return_val_if_fail (backend != NULL && x != NULL && weight != NULL && y != NULL, FALSE);

  if (!check_operand (backend, op, "x", x, error) ||
      !check_operand (backend, op, "weight", weight, error) ||
      !check_operand (backend, op, "y", y, error) ||
      (bias != NULL && !check_operand (backend, op, "bias", bias, error)))
    return FALSE;
  if (x->ndim < 1 || weight->ndim != 2 || x->shape[x->ndim - 1] != weight->shape[1])
    {
      g_autofree char *xs = fa_tensor_shape_to_string (x);
      g_autofree char *ws = fa_tensor_shape_to_string (weight);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "linear: x %s does not fit weight %s (expected [..., k] and [n, k])", xs, ws);
      return FALSE;
    }

  gint64 k = weight->shape[1], n = weight->shape[0];
  gint64 m = k == 0 ? 0 : fa_tensor_get_numel (x) / k;
  gboolean y_fits = y->ndim == x->ndim && y->shape[y->ndim - 1] == n;
  for (int i = 0; y_fits && i < x->ndim - 1; i++)
    y_fits = y->shape[i] == x->shape[i];
  if (!y_fits)
    {
      g_autofree char *xs = fa_tensor_shape_to_string (x);
      g_autofree char *ys = fa_tensor_shape_to_string (y);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "linear: y has shape %s but x %s times weight gives [..., %" G_GINT64_FORMAT "]",
                   ys, xs, n);
      return FALSE;
    }
  if (bias != NULL && (bias->ndim != 1 || bias->shape[0] != n))
    {
      g_autofree char *bs = fa_tensor_shape_to_string (bias);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "linear: bias has shape %s, expected [%" G_GINT64_FORMAT "]",
                   bs, n);
      return FALSE;
    }
  if (k == 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "linear: the inner dimension is 0");
      return FALSE;
    }
  /* y is written (the bias first) before x and weight are read */
  if (!check_apart (op, "y", y, "x", x, error) || !check_apart (op, "y", y, "weight", weight, error) ||
      (bias != NULL && !check_apart (op, "y", y, "bias", bias, error)))
    return FALSE;
  if (m == 0 || n == 0)
    return TRUE;
  return backend->ops->linear (backend, x, weight, bias, y, m, k, n, error);
}

gboolean
fa_op_layer_norm (FaBackend *backend, const FaTensor *x, const FaTensor *weight,
                  const FaTensor *bias, FaTensor *y, float eps, GError **error)
{
  gint64 rows, cols;

  g_return_val_if_fail (backend != NULL && x != NULL && y != NULL, FALSE);

  if (!check_rows (backend, "layer_norm", x, y, &rows, &cols, error) ||
      !check_vector (backend, "layer_norm", "weight", weight, cols, x, error) ||
      !check_vector (backend, "layer_norm", "bias", bias, cols, x, error))
    return FALSE;
  if (rows == 0)
    return TRUE;
  return backend->ops->layer_norm (backend, x, weight, bias, y, rows, cols, eps, error);
}

gboolean
fa_op_rms_norm (FaBackend *backend, const FaTensor *x, const FaTensor *weight, FaTensor *y,
                float eps, GError **error)
{
  gint64 rows, cols;

  g_return_val_if_fail (backend != NULL && x != NULL && y != NULL, FALSE);

  if (!check_rows (backend, "rms_norm", x, y, &rows, &cols, error) ||
      !check_vector (backend, "rms_norm", "weight", weight, cols, x, error))
    return FALSE;
  if (rows == 0)
    return TRUE;
  return backend->ops->rms_norm (backend, x, weight, y, rows, cols, eps, error);
}

static gboolean
unary (FaBackend *backend, FaUnaryOp op, const char *name, const FaTensor *x, FaTensor *y,
       GError **error)
{
  gint64 rows, cols;

  g_return_val_if_fail (backend != NULL && x != NULL && y != NULL, FALSE);

  if (!check_rows (backend, name, x, y, &rows, &cols, error))
    return FALSE;
  if (rows == 0)
    return TRUE;
  return backend->ops->unary (backend, op, x, y, rows * cols, error);
}

gboolean
fa_op_gelu_tanh (FaBackend *backend, const FaTensor *x, FaTensor *y, GError **error)
{
  return unary (backend, FA_UNARY_GELU_TANH, "gelu_tanh", x, y, error);
}

gboolean
fa_op_silu (FaBackend *backend, const FaTensor *x, FaTensor *y, GError **error)
{
  return unary (backend, FA_UNARY_SILU, "silu", x, y, error);
}

gboolean
fa_op_softmax (FaBackend *backend, const FaTensor *x, FaTensor *y, GError **error)
{
  gint64 rows, cols;

  g_return_val_if_fail (backend != NULL && x != NULL && y != NULL, FALSE);

  if (!check_rows (backend, "softmax", x, y, &rows, &cols, error))
    return FALSE;
  if (rows == 0)
    return TRUE;
  return backend->ops->softmax (backend, x, y, rows, cols, error);
}

static gboolean
binary (FaBackend *backend, FaBinaryOp op, const char *name, const FaTensor *a, const FaTensor *b,
        FaTensor *y, GError **error)
{
  g_return_val_if_fail (backend != NULL && a != NULL && b != NULL && y != NULL, FALSE);

  if (!check_operand (backend, name, "a", a, error) || !check_operand (backend, name, "b", b, error) ||
      !check_operand (backend, name, "y", y, error) || !check_same_dtype (name, "b", b, a, error) ||
      !check_same_dtype (name, "y", y, a, error) || !check_same_shape (name, "y", y, a, error))
    return FALSE;

  /* b matches a's trailing axes */
  gboolean fits = b->ndim <= a->ndim;
  for (int i = 0; fits && i < b->ndim; i++)
    fits = b->shape[i] == a->shape[a->ndim - b->ndim + i];
  if (!fits)
    {
      g_autofree char *as = fa_tensor_shape_to_string (a);
      g_autofree char *bs = fa_tensor_shape_to_string (b);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "%s: b %s is neither a's shape %s nor the shape of its trailing axes", name, bs, as);
      return FALSE;
    }

  gint64 n = fa_tensor_get_numel (a), nb = fa_tensor_get_numel (b);
  if (n == 0)
    return TRUE;
  return backend->ops->binary (backend, op, a, b, y, n, nb, error);
}

gboolean
fa_op_add (FaBackend *backend, const FaTensor *a, const FaTensor *b, FaTensor *y, GError **error)
{
  return binary (backend, FA_BINARY_ADD, "add", a, b, y, error);
}

gboolean
fa_op_mul (FaBackend *backend, const FaTensor *a, const FaTensor *b, FaTensor *y, GError **error)
{
  return binary (backend, FA_BINARY_MUL, "mul", a, b, y, error);
}

gboolean
fa_op_convert (FaBackend *backend, const FaTensor *x, FaTensor *y, GError **error)
{
  g_return_val_if_fail (backend != NULL && x != NULL && y != NULL, FALSE);

  if (!check_operand (backend, "convert", "x", x, error) ||
      !check_operand (backend, "convert", "y", y, error) ||
      !check_same_shape ("convert", "y", y, x, error))
    return FALSE;
  if (fa_tensor_get_numel (x) == 0)
    return TRUE;
  return backend->ops->convert (backend, x, y, fa_tensor_get_numel (x), error);
}

/* ---- transformer ops ---- */

static gboolean
check_f32_param (const char *op, const char *role, const FaTensor *tensor, GError **error)
{
  if (tensor->dtype != FA_DTYPE_F32)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_DTYPE, "%s: %s is %s, expected f32", op, role,
                   fa_dtype_get_name (tensor->dtype));
      return FALSE;
    }
  return TRUE;
}

/* A [rows, cols] parameter table (modulation, gate, RoPE). */
static gboolean
check_table (const char *op, const char *role, const FaTensor *tensor, gint64 rows, gint64 cols,
             GError **error)
{
  if (tensor->ndim != 2 || tensor->shape[0] != rows || tensor->shape[1] != cols)
    {
      g_autofree char *got = fa_tensor_shape_to_string (tensor);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "%s: %s has shape %s, expected [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]", op,
                   role, got, rows, cols);
      return FALSE;
    }
  return check_f32_param (op, role, tensor, error);
}

/* [batch, tokens, width]: the activations every transformer op takes. */
static gboolean
check_tokens (const char *op, const char *role, const FaTensor *tensor, GError **error)
{
  if (tensor->ndim != 3)
    {
      g_autofree char *got = fa_tensor_shape_to_string (tensor);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "%s: %s has shape %s, expected [batch, tokens, width]", op, role, got);
      return FALSE;
    }
  return TRUE;
}

static gboolean
tensors_overlap (const FaTensor *a, const FaTensor *b)
{
  guintptr a0 = (guintptr) fa_tensor_get_data (a), b0 = (guintptr) fa_tensor_get_data (b);
  gsize an = fa_tensor_get_nbytes (a), bn = fa_tensor_get_nbytes (b);

  return an > 0 && bn > 0 && a0 < b0 + bn && b0 < a0 + an;
}

/* @b must lie apart from @a. */
static gboolean
check_apart (const char *op, const char *role_b, const FaTensor *b, const char *role_a,
             const FaTensor *a, GError **error)
{
  if (!tensors_overlap (a, b))
    return TRUE;
  g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "%s: %s must not overlap %s", op, role_b,
               role_a);
  return FALSE;
}

/* @y is @x itself (an op that may run in place) or lies apart from it. The
 * shapes have been checked equal. */
static gboolean
check_in_place_or_apart (const char *op, const char *role_y, const FaTensor *y, const char *role_x,
                         const FaTensor *x, GError **error)
{
  if (!tensors_overlap (x, y) ||
      (fa_tensor_get_data (x) == fa_tensor_get_data (y) && x->dtype == y->dtype))
    return TRUE;
  g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
               "%s: %s overlaps %s without being the same tensor of the same dtype", op, role_y,
               role_x);
  return FALSE;
}

/* @width split into @heads heads; gives head_dim. */
static gboolean
check_heads (const char *op, const char *role, gint64 width, int heads, gint64 *head_dim,
             GError **error)
{
  if (heads <= 0 || width % heads != 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "%s: %d heads do not divide the width %" G_GINT64_FORMAT " of %s", op, heads, width,
                   role);
      return FALSE;
    }
  *head_dim = width / heads;
  return TRUE;
}

gboolean
_fa_backend_call_attention_hook (FaBackend *backend, const FaAttentionHook *hook, FaTensor *logits,
                                 GError **error)
{
  GError *hook_error = NULL;

  if (hook->func (backend, logits, hook->user_data, &hook_error))
    {
      /* a hook that succeeds has nothing to say */
      g_clear_error (&hook_error);
      return TRUE;
    }
  if (hook_error == NULL)
    g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                 "attention: the logits hook of batch element %d failed without saying why",
                 hook->batch_index);
  else
    g_propagate_error (error, hook_error);
  return FALSE;
}

gboolean
fa_op_attention (FaBackend *backend, const FaTensor *q, const FaTensor *k, const FaTensor *v,
                 FaTensor *out, int heads, float scale, const FaAttentionHook *hook, GError **error)
{
  const char *op = "attention";
  gint64 head_dim;

  g_return_val_if_fail (backend != NULL && q != NULL && k != NULL && v != NULL && out != NULL, FALSE);

  if (!check_operand (backend, op, "q", q, error) || !check_operand (backend, op, "k", k, error) ||
      !check_operand (backend, op, "v", v, error) || !check_operand (backend, op, "out", out, error) ||
      !check_tokens (op, "q", q, error))
    return FALSE;

  gint64 batch = q->shape[0], n = q->shape[1], width = q->shape[2];
  if (k->ndim != 3 || k->shape[0] != batch || k->shape[2] != width)
    {
      g_autofree char *ks = fa_tensor_shape_to_string (k);
      g_autofree char *qs = fa_tensor_shape_to_string (q);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "attention: k has shape %s but q has %s (expected [%" G_GINT64_FORMAT
                   ", tokens, %" G_GINT64_FORMAT "])",
                   ks, qs, batch, width);
      return FALSE;
    }
  if (!fa_tensor_same_shape (v, k))
    {
      g_autofree char *vs = fa_tensor_shape_to_string (v);
      g_autofree char *ks = fa_tensor_shape_to_string (k);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "attention: v has shape %s but k has %s", vs, ks);
      return FALSE;
    }
  if (!fa_tensor_same_shape (out, q))
    {
      g_autofree char *os = fa_tensor_shape_to_string (out);
      g_autofree char *qs = fa_tensor_shape_to_string (q);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "attention: out has shape %s but q has %s", os, qs);
      return FALSE;
    }
  const FaTensor *others[] = { k, v, out };
  const char *roles[] = { "k", "v", "out" };
  for (guint i = 0; i < G_N_ELEMENTS (others); i++)
    if (others[i]->dtype != q->dtype)
      {
        g_set_error (error, FA_ERROR, FA_ERROR_DTYPE, "attention: %s is %s but q is %s", roles[i],
                     fa_dtype_get_name (others[i]->dtype), fa_dtype_get_name (q->dtype));
        return FALSE;
      }
  if (!check_heads (op, "q", width, heads, &head_dim, error))
    return FALSE;
  if (hook != NULL && hook->func == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "attention: the hook has no function");
      return FALSE;
    }
  if (hook != NULL && (hook->batch_index < 0 || hook->batch_index >= batch))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "attention: the hook's batch_index %d is outside the batch [0, %" G_GINT64_FORMAT ")",
                   hook->batch_index, batch);
      return FALSE;
    }
  if (!check_apart (op, "out", out, "q", q, error) || !check_apart (op, "out", out, "k", k, error) ||
      !check_apart (op, "out", out, "v", v, error))
    return FALSE;

  gint64 m = k->shape[1];
  /* nothing to compute (and no logits to show a hook) */
  if (fa_tensor_get_numel (out) == 0)
    return TRUE;
  if (m == 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "attention: k and v hold no tokens, and a softmax over none is undefined");
      return FALSE;
    }
  return backend->ops->attention (backend, q, k, v, out, batch, n, m, heads, head_dim, scale, hook,
                                  error);
}

gboolean
fa_op_rope (FaBackend *backend, const FaTensor *x, const FaTensor *cos, const FaTensor *sin,
            FaTensor *y, int heads, GError **error)
{
  const char *op = "rope";
  gint64 head_dim;

  g_return_val_if_fail (backend != NULL && x != NULL && cos != NULL && sin != NULL && y != NULL, FALSE);

  if (!check_operand (backend, op, "x", x, error) || !check_operand (backend, op, "cos", cos, error) ||
      !check_operand (backend, op, "sin", sin, error) || !check_operand (backend, op, "y", y, error) ||
      !check_tokens (op, "x", x, error) || !check_same_shape (op, "y", y, x, error) ||
      !check_heads (op, "x", x->shape[2], heads, &head_dim, error))
    return FALSE;
  if (head_dim % 2 != 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "rope: head_dim %" G_GINT64_FORMAT " is odd, but the rotation takes pairs", head_dim);
      return FALSE;
    }
  if (!check_table (op, "cos", cos, x->shape[1], head_dim / 2, error) ||
      !check_table (op, "sin", sin, x->shape[1], head_dim / 2, error) ||
      !check_in_place_or_apart (op, "y", y, "x", x, error) ||
      !check_apart (op, "y", y, "cos", cos, error) || !check_apart (op, "y", y, "sin", sin, error))
    return FALSE;
  if (fa_tensor_get_numel (x) == 0)
    return TRUE;
  return backend->ops->rope (backend, x, cos, sin, y, x->shape[0], x->shape[1], heads, head_dim,
                             error);
}

gboolean
fa_op_modulate (FaBackend *backend, const FaTensor *x, const FaTensor *scale, const FaTensor *shift,
                FaTensor *y, GError **error)
{
  const char *op = "modulate";

  g_return_val_if_fail (backend != NULL && x != NULL && scale != NULL && shift != NULL && y != NULL,
                        FALSE);

  if (!check_operand (backend, op, "x", x, error) ||
      !check_operand (backend, op, "scale", scale, error) ||
      !check_operand (backend, op, "shift", shift, error) ||
      !check_operand (backend, op, "y", y, error) || !check_tokens (op, "x", x, error) ||
      !check_same_shape (op, "y", y, x, error) ||
      !check_table (op, "scale", scale, x->shape[0], x->shape[2], error) ||
      !check_table (op, "shift", shift, x->shape[0], x->shape[2], error) ||
      !check_in_place_or_apart (op, "y", y, "x", x, error) ||
      !check_apart (op, "y", y, "scale", scale, error) ||
      !check_apart (op, "y", y, "shift", shift, error))
    return FALSE;
  if (fa_tensor_get_numel (x) == 0)
    return TRUE;
  return backend->ops->modulate (backend, x, scale, shift, y, x->shape[0], x->shape[1], x->shape[2],
                                 error);
}

gboolean
fa_op_gated_add (FaBackend *backend, FaTensor *x, const FaTensor *a, const FaTensor *gate,
                 GError **error)
{
  const char *op = "gated_add";

  g_return_val_if_fail (backend != NULL && x != NULL && a != NULL, FALSE);

  if (!check_operand (backend, op, "x", x, error) || !check_operand (backend, op, "a", a, error) ||
      (gate != NULL && !check_operand (backend, op, "gate", gate, error)) ||
      !check_tokens (op, "x", x, error) || !check_same_shape (op, "a", a, x, error) ||
      (gate != NULL && !check_table (op, "gate", gate, x->shape[0], x->shape[2], error)) ||
      !check_in_place_or_apart (op, "a", a, "x", x, error) ||
      (gate != NULL && !check_apart (op, "gate", gate, "x", x, error)))
    return FALSE;
  if (fa_tensor_get_numel (x) == 0)
    return TRUE;
  return backend->ops->gated_add (backend, x, a, gate, x->shape[0], x->shape[1], x->shape[2], error);
}

/* Video [B, C, F, H, W] cut into patch[0] × patch[1] × patch[2] patches:
 * the shape, and the token count per batch element. */
static gboolean
check_video (const char *op, const FaTensor *video, const int patch[3], gint64 video_shape[5],
             gint64 *tokens, GError **error)
{
  if (patch[0] <= 0 || patch[1] <= 0 || patch[2] <= 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "%s: the patch [%d, %d, %d] needs positive sizes", op, patch[0], patch[1],
                   patch[2]);
      return FALSE;
    }
  if (video->ndim != 5)
    {
      g_autofree char *got = fa_tensor_shape_to_string (video);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "%s: video has shape %s, expected [batch, channels, frames, height, width]", op, got);
      return FALSE;
    }
  if (video->shape[2] % patch[0] != 0 || video->shape[3] % patch[1] != 0 ||
      video->shape[4] % patch[2] != 0)
    {
      g_autofree char *got = fa_tensor_shape_to_string (video);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "%s: video %s does not divide into [%d, %d, %d] patches (frames, height, width)",
                   op, got, patch[0], patch[1], patch[2]);
      return FALSE;
    }
  for (int i = 0; i < 5; i++)
    video_shape[i] = video->shape[i];
  *tokens = video->shape[2] / patch[0] * (video->shape[3] / patch[1]) * (video->shape[4] / patch[2]);
  return TRUE;
}

static gboolean
check_patch_tokens (const char *op, const FaTensor *tokens, const FaTensor *video,
                    const gint64 video_shape[5], gint64 n, const int patch[3], GError **error)
{
  gint64 width = video_shape[1] * patch[0] * patch[1] * patch[2];

  if (tokens->ndim != 3 || tokens->shape[0] != video_shape[0] || tokens->shape[1] != n ||
      tokens->shape[2] != width)
    {
      g_autofree char *ts = fa_tensor_shape_to_string (tokens);
      g_autofree char *vs = fa_tensor_shape_to_string (video);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "%s: tokens has shape %s but video %s in [%d, %d, %d] patches needs [%" G_GINT64_FORMAT
                   ", %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]",
                   op, ts, vs, patch[0], patch[1], patch[2], video_shape[0], n, width);
      return FALSE;
    }
  return TRUE;
}

gboolean
fa_op_patchify (FaBackend *backend, const FaTensor *video, FaTensor *tokens, const int patch[3],
                GError **error)
{
  const char *op = "patchify";
  gint64 video_shape[5], n;

  g_return_val_if_fail (backend != NULL && video != NULL && tokens != NULL && patch != NULL, FALSE);

  if (!check_operand (backend, op, "video", video, error) ||
      !check_operand (backend, op, "tokens", tokens, error) ||
      !check_video (op, video, patch, video_shape, &n, error) ||
      !check_patch_tokens (op, tokens, video, video_shape, n, patch, error) ||
      !check_apart (op, "tokens", tokens, "video", video, error))
    return FALSE;
  if (fa_tensor_get_numel (video) == 0)
    return TRUE;
  return backend->ops->patchify (backend, video, tokens, video_shape, patch, error);
}

gboolean
fa_op_unpatchify (FaBackend *backend, const FaTensor *tokens, FaTensor *video, const int patch[3],
                  GError **error)
{
  const char *op = "unpatchify";
  gint64 video_shape[5], n;

  g_return_val_if_fail (backend != NULL && video != NULL && tokens != NULL && patch != NULL, FALSE);

  if (!check_operand (backend, op, "tokens", tokens, error) ||
      !check_operand (backend, op, "video", video, error) ||
      !check_video (op, video, patch, video_shape, &n, error) ||
      !check_patch_tokens (op, tokens, video, video_shape, n, patch, error) ||
      !check_apart (op, "video", video, "tokens", tokens, error))
    return FALSE;
  if (fa_tensor_get_numel (video) == 0)
    return TRUE;
  return backend->ops->unpatchify (backend, tokens, video, video_shape, patch, error);
}

/* ---- video ops ---- */

/* The device of an operand any strides may describe. */
static gboolean
check_device (FaBackend *backend, const char *op, const char *role, const FaTensor *tensor,
              GError **error)
{
  if (tensor->device == backend->device)
    return TRUE;
  g_set_error (error, FA_ERROR, FA_ERROR_DEVICE, "%s: %s is on %s but the backend computes on %s",
               op, role, fa_device_get_name (tensor->device), fa_device_get_name (backend->device));
  return FALSE;
}

static gboolean
check_conv3d_params (const FaConv3dParams *params, GError **error)
{
  if (params == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "conv3d: params is NULL");
      return FALSE;
    }
  for (int i = 0; i < 3; i++)
    if (params->kernel[i] < 1 || params->stride[i] < 1)
      {
        g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                     "conv3d: kernel [%d, %d, %d] and stride [%d, %d, %d] need sizes of at least 1",
                     params->kernel[0], params->kernel[1], params->kernel[2], params->stride[0],
                     params->stride[1], params->stride[2]);
        return FALSE;
      }
  if (params->pad_front < 0 || params->pad_top < 0 || params->pad_bottom < 0 ||
      params->pad_left < 0 || params->pad_right < 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "conv3d: negative padding (front %d, top %d, bottom %d, left %d, right %d)",
                   params->pad_front, params->pad_top, params->pad_bottom, params->pad_left,
                   params->pad_right);
      return FALSE;
    }
  return TRUE;
}

/* Frames [·, H, W, C]. */
static gboolean
check_frames (const char *role, const FaTensor *tensor, GError **error)
{
  if (tensor->ndim == 4)
    return TRUE;
  g_autofree char *got = fa_tensor_shape_to_string (tensor);
  g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
               "conv3d: %s has shape %s, expected [frames, height, width, channels]", role, got);
  return FALSE;
}

/* One output axis: (size + padding − kernel)/stride + 1, or -1 when the
 * kernel does not fit even once. */
static gint64
conv_output_size (gint64 size, gint64 padding, int kernel, int stride)
{
  gint64 span = size + padding - kernel;

  return span < 0 ? -1 : span / stride + 1;
}

gboolean
fa_op_conv3d (FaBackend *backend, const FaTensor *x, const FaTensor *history,
              const FaTensor *weight, const FaTensor *bias, FaTensor *y,
              const FaConv3dParams *params, GError **error)
{
  const char *op = "conv3d";

  g_return_val_if_fail (backend != NULL && x != NULL && weight != NULL && y != NULL, FALSE);

  if (!check_conv3d_params (params, error))
    return FALSE;
  if (!check_operand (backend, op, "x", x, error) ||
      (history != NULL && !check_operand (backend, op, "history", history, error)) ||
      !check_operand (backend, op, "weight", weight, error) ||
      (bias != NULL && !check_operand (backend, op, "bias", bias, error)) ||
      !check_operand (backend, op, "y", y, error))
    return FALSE;
  if (!check_frames ("x", x, error) || (history != NULL && !check_frames ("history", history, error)) ||
      !check_frames ("y", y, error))
    return FALSE;

  const gint64 tx = x->shape[0], h = x->shape[1], w = x->shape[2], ci = x->shape[3];
  const gint64 th = history != NULL ? history->shape[0] : 0;
  if (history != NULL && (history->shape[1] != h || history->shape[2] != w || history->shape[3] != ci))
    {
      g_autofree char *hs = fa_tensor_shape_to_string (history);
      g_autofree char *xs = fa_tensor_shape_to_string (x);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "conv3d: history frames %s do not match x frames %s (height, width and channels differ)",
                   hs, xs);
      return FALSE;
    }
  if (ci == 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "conv3d: x has no channels");
      return FALSE;
    }

  const int *kernel = params->kernel;
  if (weight->ndim != 5 || weight->shape[1] != kernel[0] || weight->shape[2] != kernel[1] ||
      weight->shape[3] != kernel[2] || weight->shape[4] != ci)
    {
      g_autofree char *ws = fa_tensor_shape_to_string (weight);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "conv3d: weight has shape %s, expected [out, %d, %d, %d, %" G_GINT64_FORMAT
                   "] (kernel [%d, %d, %d], %" G_GINT64_FORMAT " input channels, channels last)",
                   ws, kernel[0], kernel[1], kernel[2], ci, kernel[0], kernel[1], kernel[2], ci);
      return FALSE;
    }
  const gint64 co = weight->shape[0];
  if (bias != NULL && (bias->ndim != 1 || bias->shape[0] != co))
    {
      g_autofree char *bs = fa_tensor_shape_to_string (bias);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "conv3d: bias has shape %s, expected [%" G_GINT64_FORMAT "]", bs, co);
      return FALSE;
    }

  const gint64 u = params->upsample ? 2 : 1;
  const gint64 to = conv_output_size (params->pad_front + th + tx, 0, kernel[0], params->stride[0]);
  const gint64 ho = conv_output_size (h * u, params->pad_top + params->pad_bottom, kernel[1],
                                      params->stride[1]);
  const gint64 wo = conv_output_size (w * u, params->pad_left + params->pad_right, kernel[2],
                                      params->stride[2]);
  if (to < 1 || ho < 1 || wo < 1)
    {
      g_autofree char *xs = fa_tensor_shape_to_string (x);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "conv3d: the kernel [%d, %d, %d] does not fit the padded input (%" G_GINT64_FORMAT
                   " history frames, x %s%s)",
                   kernel[0], kernel[1], kernel[2], th, xs, params->upsample ? ", upsampled ×2" : "");
      return FALSE;
    }
  const gint64 expected[4] = { to, ho, wo, co };
  if (y->shape[0] != to || y->shape[1] != ho || y->shape[2] != wo || y->shape[3] != co)
    {
      g_autofree char *want = fa_shape_to_string (4, expected);
      g_autofree char *got = fa_tensor_shape_to_string (y);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "conv3d: y should have shape %s but has %s", want,
                   got);
      return FALSE;
    }

  if (!check_f32_param (op, "x", x, error) ||
      (history != NULL && !check_f32_param (op, "history", history, error)) ||
      (bias != NULL && !check_f32_param (op, "bias", bias, error)) ||
      !check_f32_param (op, "y", y, error))
    return FALSE;
  /* whether f16 weights are taken is the backend's to say */
  if (weight->dtype != FA_DTYPE_F32 && weight->dtype != FA_DTYPE_F16)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_DTYPE, "conv3d: weight is %s, expected f32 or f16",
                   fa_dtype_get_name (weight->dtype));
      return FALSE;
    }

  /* y is written block by block while the inputs are still being read */
  if (!check_apart (op, "y", y, "x", x, error) ||
      (history != NULL && !check_apart (op, "y", y, "history", history, error)) ||
      !check_apart (op, "y", y, "weight", weight, error) ||
      (bias != NULL && !check_apart (op, "y", y, "bias", bias, error)))
    return FALSE;
  if (co == 0)
    return TRUE;

  const gint64 shape[9] = { th, tx, h, w, ci, to, ho, wo, co };
  if (backend->ops->conv3d == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED, "conv3d: %s has no 3-D convolution",
                   backend->description);
      return FALSE;
    }
  return backend->ops->conv3d (backend, x, history, weight, bias, y, params, shape, error);
}

/* The bytes a view can touch, [*lo, *hi), whatever its strides. */
static void
tensor_span (const FaTensor *tensor, guintptr *lo, guintptr *hi)
{
  gint64 first = 0, last = 0;
  gint64 size = (gint64) fa_dtype_size (tensor->dtype);

  for (int i = 0; i < tensor->ndim; i++)
    {
      gint64 reach = (tensor->shape[i] - 1) * tensor->strides[i];
      if (reach < 0)
        first += reach;
      else
        last += reach;
    }
  *lo = (guintptr) fa_tensor_get_data (tensor) + (guintptr) (first * size);
  *hi = (guintptr) fa_tensor_get_data (tensor) + (guintptr) ((last + 1) * size);
}

gboolean
fa_op_copy (FaBackend *backend, const FaTensor *src, FaTensor *dst, GError **error)
{
  const char *op = "copy";

  g_return_val_if_fail (backend != NULL && src != NULL && dst != NULL, FALSE);

  if (!check_device (backend, op, "src", src, error) || !check_device (backend, op, "dst", dst, error))
    return FALSE;
  if (dst->dtype != src->dtype)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_DTYPE,
                   "copy: dst is %s but src is %s (fa_op_convert converts)",
                   fa_dtype_get_name (dst->dtype), fa_dtype_get_name (src->dtype));
      return FALSE;
    }
  if (!fa_tensor_same_shape (dst, src))
    {
      g_autofree char *ds = fa_tensor_shape_to_string (dst);
      g_autofree char *ss = fa_tensor_shape_to_string (src);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "copy: dst has shape %s but src has %s", ds, ss);
      return FALSE;
    }
  if (fa_tensor_get_numel (src) == 0)
    return TRUE;

  /* By the bytes the two views span: views that interleave without sharing
   * an element (alternate columns of one matrix) are refused too. */
  guintptr src_lo, src_hi, dst_lo, dst_hi;
  tensor_span (src, &src_lo, &src_hi);
  tensor_span (dst, &dst_lo, &dst_hi);
  if (src_lo < dst_hi && dst_lo < src_hi)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "copy: dst must not overlap src");
      return FALSE;
    }

  /* a scalar is one contiguous element */
  if (src->ndim == 0)
    return backend->ops->copy (backend, fa_tensor_get_data (dst), dst->device,
                               fa_tensor_get_data (src), src->device, fa_dtype_size (src->dtype),
                               error);
  if (backend->ops->copy_strided == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED, "copy: %s has no strided copy",
                   backend->description);
      return FALSE;
    }
  return backend->ops->copy_strided (backend, src, dst, error);
}
