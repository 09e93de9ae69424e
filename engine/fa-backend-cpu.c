/* fa-backend-cpu.c: the float32 reference backend (kernels/cpu, OpenBLAS).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-backend-cpu"

#include "config.h"

#include <cblas.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fa-backend-private.h"
#include "fa-cpu-kernels.h"
#include "fa-error.h"

/* As cudaMalloc does: arena blocks keep every tensor 256-byte aligned. */
#define CPU_ALIGNMENT 256

static gboolean
require_f32 (const char *op, const FaTensor *x, GError **error)
{
  if (x->dtype != FA_DTYPE_F32)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_DTYPE,
                   "%s: the CPU backend computes in f32, but x is %s (convert it first)", op,
                   fa_dtype_get_name (x->dtype));
      return FALSE;
    }
  return TRUE;
}

static const float *
f32 (const FaTensor *tensor)
{
  return tensor != NULL ? fa_tensor_get_data (tensor) : NULL;
}

static gboolean
cpu_linear (FaBackend *self, const FaTensor *x, const FaTensor *weight, const FaTensor *bias,
            FaTensor *y, gint64 m, gint64 k, gint64 n, GError **error)
{
  if (!require_f32 ("linear", x, error))
    return FALSE;
  if (weight->dtype != FA_DTYPE_F32 || y->dtype != FA_DTYPE_F32 ||
      (bias != NULL && bias->dtype != FA_DTYPE_F32))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_DTYPE,
                   "linear: the CPU backend computes in f32; weight is %s, y is %s",
                   fa_dtype_get_name (weight->dtype), fa_dtype_get_name (y->dtype));
      return FALSE;
    }
  if (m > G_MAXINT32 || k > G_MAXINT32 || n > G_MAXINT32)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED, "linear: a dimension exceeds BLAS's 32-bit range");
      return FALSE;
    }
  fa_cpu_linear_f32 (f32 (x), f32 (weight), f32 (bias), fa_tensor_get_data (y), m, k, n);
  return TRUE;
}

static gboolean
cpu_layer_norm (FaBackend *self, const FaTensor *x, const FaTensor *weight, const FaTensor *bias,
                FaTensor *y, gint64 rows, gint64 cols, float eps, GError **error)
{
  if (!require_f32 ("layer_norm", x, error))
    return FALSE;
  fa_cpu_layer_norm_f32 (f32 (x), f32 (weight), f32 (bias), fa_tensor_get_data (y), rows, cols, eps);
  return TRUE;
}

static gboolean
cpu_rms_norm (FaBackend *self, const FaTensor *x, const FaTensor *weight, FaTensor *y,
              gint64 rows, gint64 cols, float eps, GError **error)
{
  if (!require_f32 ("rms_norm", x, error))
    return FALSE;
  fa_cpu_rms_norm_f32 (f32 (x), f32 (weight), fa_tensor_get_data (y), rows, cols, eps);
  return TRUE;
}

static gboolean
cpu_unary (FaBackend *self, FaUnaryOp op, const FaTensor *x, FaTensor *y, gint64 n, GError **error)
{
  if (!require_f32 (op == FA_UNARY_SILU ? "silu" : "gelu_tanh", x, error))
    return FALSE;
  if (op == FA_UNARY_SILU)
    fa_cpu_silu_f32 (f32 (x), fa_tensor_get_data (y), n);
  else
    fa_cpu_gelu_tanh_f32 (f32 (x), fa_tensor_get_data (y), n);
  return TRUE;
}

static gboolean
cpu_softmax (FaBackend *self, const FaTensor *x, FaTensor *y, gint64 rows, gint64 cols,
             GError **error)
{
  if (!require_f32 ("softmax", x, error))
    return FALSE;
  fa_cpu_softmax_f32 (f32 (x), fa_tensor_get_data (y), rows, cols);
  return TRUE;
}

static gboolean
cpu_binary (FaBackend *self, FaBinaryOp op, const FaTensor *a, const FaTensor *b, FaTensor *y,
            gint64 n, gint64 nb, GError **error)
{
  if (!require_f32 (op == FA_BINARY_ADD ? "add" : "mul", a, error))
    return FALSE;
  if (op == FA_BINARY_ADD)
    fa_cpu_add_f32 (f32 (a), f32 (b), fa_tensor_get_data (y), n, nb);
  else
    fa_cpu_mul_f32 (f32 (a), f32 (b), fa_tensor_get_data (y), n, nb);
  return TRUE;
}

static gboolean
cpu_convert (FaBackend *self, const FaTensor *x, FaTensor *y, gint64 n, GError **error)
{
  if (fa_cpu_convert (fa_tensor_get_data (x), x->dtype, fa_tensor_get_data (y), y->dtype, n) != 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_DTYPE, "convert: cannot convert %s to %s",
                   fa_dtype_get_name (x->dtype), fa_dtype_get_name (y->dtype));
      return FALSE;
    }
  return TRUE;
}

/* Every operand of these ops has been checked against x's (q's) dtype or is
 * an f32 parameter, so x's dtype is the one to check. */
static gboolean
require_all_f32 (const char *op, const char *role_a, const FaTensor *a, const char *role_b,
                 const FaTensor *b, GError **error)
{
  const FaTensor *t = a->dtype != FA_DTYPE_F32 ? a : b;
  const char *role = a->dtype != FA_DTYPE_F32 ? role_a : role_b;

  if (t->dtype == FA_DTYPE_F32)
    return TRUE;
  g_set_error (error, FA_ERROR, FA_ERROR_DTYPE,
               "%s: the CPU backend computes in f32, but %s is %s (convert it first)", op, role,
               fa_dtype_get_name (t->dtype));
  return FALSE;
}

/* The hooked batch element: the whole [heads, n, m] logits, shown to the
 * hook, then softmax and the product with v. */
static gboolean
cpu_attention_hooked (FaBackend *self, const float *q, const float *k, const float *v, float *out,
                      gint64 n, gint64 m, gint64 heads, gint64 head_dim, float scale,
                      const FaAttentionHook *hook, GError **error)
{
  const gint64 shape[3] = { heads, n, m };
  g_autoptr (FaTensor) logits = fa_tensor_new (self, FA_DTYPE_F32, 3, shape, error);

  if (logits == NULL)
    return FALSE;
  fa_cpu_attention_logits_f32 (q, k, fa_tensor_get_data (logits), n, m, heads, head_dim, scale);
  if (!_fa_backend_call_attention_hook (self, hook, logits, error))
    return FALSE;
  fa_cpu_attention_apply_f32 (fa_tensor_get_data (logits), v, out, n, m, heads, head_dim);
  return TRUE;
}

static gboolean
cpu_attention (FaBackend *self, const FaTensor *q, const FaTensor *k, const FaTensor *v,
               FaTensor *out, gint64 batch, gint64 n, gint64 m, gint64 heads, gint64 head_dim,
               float scale, const FaAttentionHook *hook, GError **error)
{
  const gint64 width = heads * head_dim;
  gsize scratch_size = 0;
  float *scratch = NULL;
  gboolean ok = TRUE;

  if (!require_all_f32 ("attention", "q", q, "q", q, error))
    return FALSE;
  if (n > G_MAXINT32 || m > G_MAXINT32 || width > G_MAXINT32)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "attention: %" G_GINT64_FORMAT " queries against %" G_GINT64_FORMAT
                   " keys of width %" G_GINT64_FORMAT " exceed BLAS's 32-bit range",
                   n, m, width);
      return FALSE;
    }

  /* Without a hook only one block of queries of one head has its logits in
   * memory at a time. */
  if (hook == NULL || batch > 1)
    {
      scratch_size = (gsize) fa_cpu_attention_scratch_floats (n, m) * sizeof (float);
      scratch = fa_backend_alloc (self, scratch_size, error);
      if (scratch == NULL)
        return FALSE;
    }

  for (gint64 b = 0; ok && b < batch; b++)
    {
      const float *qb = f32 (q) + b * n * width, *kb = f32 (k) + b * m * width;
      const float *vb = f32 (v) + b * m * width;
      float *ob = (float *) fa_tensor_get_data (out) + b * n * width;

      if (hook != NULL && b == hook->batch_index)
        ok = cpu_attention_hooked (self, qb, kb, vb, ob, n, m, heads, head_dim, scale, hook, error);
      else
        fa_cpu_attention_f32 (qb, kb, vb, ob, n, m, heads, head_dim, scale, scratch);
    }
  fa_backend_free (self, scratch, scratch_size);
  return ok;
}

static gboolean
cpu_rope (FaBackend *self, const FaTensor *x, const FaTensor *cos, const FaTensor *sin, FaTensor *y,
          gint64 batch, gint64 n, gint64 heads, gint64 head_dim, GError **error)
{
  if (!require_all_f32 ("rope", "x", x, "y", y, error))
    return FALSE;
  fa_cpu_rope_f32 (f32 (x), f32 (cos), f32 (sin), fa_tensor_get_data (y), batch, n, heads, head_dim);
  return TRUE;
}

static gboolean
cpu_modulate (FaBackend *self, const FaTensor *x, const FaTensor *scale, const FaTensor *shift,
              FaTensor *y, gint64 batch, gint64 n, gint64 dim, GError **error)
{
  if (!require_all_f32 ("modulate", "x", x, "y", y, error))
    return FALSE;
  fa_cpu_modulate_f32 (f32 (x), f32 (scale), f32 (shift), fa_tensor_get_data (y), batch, n, dim);
  return TRUE;
}

static gboolean
cpu_gated_add (FaBackend *self, FaTensor *x, const FaTensor *a, const FaTensor *gate, gint64 batch,
               gint64 n, gint64 dim, GError **error)
{
  if (!require_all_f32 ("gated_add", "x", x, "a", a, error))
    return FALSE;
  fa_cpu_gated_add_f32 (fa_tensor_get_data (x), f32 (a), f32 (gate), batch, n, dim);
  return TRUE;
}

/* gint64 and int64_t need not be the same type, only the same size. */
static void
copy_shape (const gint64 video_shape[5], int64_t out[5])
{
  for (int i = 0; i < 5; i++)
    out[i] = video_shape[i];
}

/* A permutation: any dtype, as long as both sides have the same. */
static gboolean
require_same_dtype (const char *op, const FaTensor *tokens, const FaTensor *video, GError **error)
{
  if (tokens->dtype == video->dtype)
    return TRUE;
  g_set_error (error, FA_ERROR, FA_ERROR_DTYPE,
               "%s: tokens is %s but video is %s; the CPU backend does not convert here", op,
               fa_dtype_get_name (tokens->dtype), fa_dtype_get_name (video->dtype));
  return FALSE;
}

static gboolean
cpu_patchify (FaBackend *self, const FaTensor *video, FaTensor *tokens, const gint64 video_shape[5],
              const int patch[3], GError **error)
{
  if (!require_same_dtype ("patchify", tokens, video, error))
    return FALSE;

  int64_t shape[5];
  copy_shape (video_shape, shape);
  fa_cpu_patchify (fa_tensor_get_data (video), fa_tensor_get_data (tokens),
                   fa_dtype_size (video->dtype), shape, patch);
  return TRUE;
}

static gboolean
cpu_unpatchify (FaBackend *self, const FaTensor *tokens, FaTensor *video,
                const gint64 video_shape[5], const int patch[3], GError **error)
{
  if (!require_same_dtype ("unpatchify", tokens, video, error))
    return FALSE;

  int64_t shape[5];
  copy_shape (video_shape, shape);
  fa_cpu_unpatchify (fa_tensor_get_data (tokens), fa_tensor_get_data (video),
                     fa_dtype_size (video->dtype), shape, patch);
  return TRUE;
}

static gboolean
cpu_conv3d (FaBackend *self, const FaTensor *x, const FaTensor *history, const FaTensor *weight,
            const FaTensor *bias, FaTensor *y, const FaConv3dParams *params, const gint64 shape[9],
            GError **error)
{
  const FaConv3dGeometry g = {
    .th = shape[0], .tx = shape[1], .h = shape[2], .w = shape[3], .ci = shape[4],
    .to = shape[5], .ho = shape[6], .wo = shape[7], .co = shape[8],
    .kt = params->kernel[0], .kh = params->kernel[1], .kw = params->kernel[2],
    .st = params->stride[0], .sh = params->stride[1], .sw = params->stride[2],
    .pad_front = params->pad_front, .pad_top = params->pad_top, .pad_left = params->pad_left,
    .upsample = params->upsample ? 1 : 0,
  };

  if (weight->dtype != FA_DTYPE_F32)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_DTYPE,
                   "conv3d: the CPU backend computes in f32, but weight is %s (convert it first)",
                   fa_dtype_get_name (weight->dtype));
      return FALSE;
    }
  /* a block's GEMM is at most max(one output row, 8 Mi floats / K) pixels */
  if (fa_conv3d_patch_size (&g) > G_MAXINT32 || g.co > G_MAXINT32 || g.wo > G_MAXINT32)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "conv3d: patches of %" G_GINT64_FORMAT " values, %" G_GINT64_FORMAT
                   " output channels or rows of %" G_GINT64_FORMAT " pixels exceed BLAS's 32-bit range",
                   fa_conv3d_patch_size (&g), g.co, g.wo);
      return FALSE;
    }

  gsize scratch_size = (gsize) fa_cpu_conv3d_scratch_floats (&g) * sizeof (float);
  float *scratch = NULL;
  if (scratch_size > 0 && (scratch = fa_backend_alloc (self, scratch_size, error)) == NULL)
    return FALSE;
  fa_cpu_conv3d_f32 (f32 (history), f32 (x), f32 (weight), f32 (bias),
                     fa_tensor_get_data (y), &g, scratch);
  fa_backend_free (self, scratch, scratch_size);
  return TRUE;
}

static gboolean
cpu_copy_strided (FaBackend *self, const FaTensor *src, FaTensor *dst, GError **error)
{
  int64_t shape[FA_MAX_DIMS], src_strides[FA_MAX_DIMS], dst_strides[FA_MAX_DIMS];

  for (int i = 0; i < src->ndim; i++)
    {
      shape[i] = src->shape[i];
      src_strides[i] = src->strides[i];
      dst_strides[i] = dst->strides[i];
    }
  fa_cpu_copy_strided (fa_tensor_get_data (src), src_strides, fa_tensor_get_data (dst), dst_strides,
                       shape, src->ndim, fa_dtype_size (src->dtype));
  return TRUE;
}

static gpointer
cpu_alloc (FaBackend *self, gsize size, GError **error)
{
  gpointer ptr = NULL;
  gsize rounded = (size + CPU_ALIGNMENT - 1) & ~(gsize) (CPU_ALIGNMENT - 1);

  if (rounded < size || (ptr = aligned_alloc (CPU_ALIGNMENT, rounded)) == NULL)
    {
      g_autofree char *text = g_format_size_full (size, G_FORMAT_SIZE_IEC_UNITS);
      g_set_error (error, FA_ERROR, FA_ERROR_OUT_OF_MEMORY,
                   "out of host memory allocating %s (%" G_GSIZE_FORMAT " bytes)", text, size);
      return NULL;
    }
  return ptr;
}

static void
cpu_free (FaBackend *self, gpointer ptr)
{
  free (ptr);
}

static gboolean
cpu_copy (FaBackend *self, gpointer dst, FaDevice dst_device, gconstpointer src,
          FaDevice src_device, gsize size, GError **error)
{
  memmove (dst, src, size);
  return TRUE;
}

static const FaBackendOps cpu_ops = {
  .linear = cpu_linear,
  .layer_norm = cpu_layer_norm,
  .rms_norm = cpu_rms_norm,
  .unary = cpu_unary,
  .softmax = cpu_softmax,
  .binary = cpu_binary,
  .convert = cpu_convert,
  .attention = cpu_attention,
  .rope = cpu_rope,
  .modulate = cpu_modulate,
  .gated_add = cpu_gated_add,
  .patchify = cpu_patchify,
  .unpatchify = cpu_unpatchify,
  .conv3d = cpu_conv3d,
  .copy_strided = cpu_copy_strided,
  .alloc = cpu_alloc,
  .free = cpu_free,
  .copy = cpu_copy,
};

FaBackend *
fa_backend_new_cpu (void)
{
  char *description = g_strdup_printf ("CPU (float32; %s, %d threads)",
                                       openblas_get_config (),
                                       openblas_get_num_threads ());
  return _fa_backend_new (&cpu_ops, FA_DEVICE_CPU, description, NULL);
}
