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
