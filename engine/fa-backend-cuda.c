/* fa-backend-cuda.c: the CUDA backend: one device, one stream, one cuBLAS
 * handle; the arithmetic is in kernels/cuda.
 *
 * Every op is queued on the backend's stream and returns without waiting;
 * copies to or from the host wait, because the host side is ordinary
 * (pageable) memory that the caller may reuse as soon as the call returns.
 * A fault inside a kernel therefore shows at the next copy or
 * fa_backend_synchronize(), not at the op that caused it.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-backend-cuda"

#include "config.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <limits.h>
#include <string.h>

#include "fa-backend-private.h"
#include "fa-cuda-kernels.h"
#include "fa-error.h"

/* Ampere: the first generation with bf16 tensor cores, which every GEMM
 * here relies on. */
#define FA_CUDA_MIN_MAJOR 8

typedef struct {
  int device_index;
  cudaStream_t stream;
  cublasHandle_t blas;

  /* Room for f32 linear operands rounded to bf16 and for the patches of a
   * block of convolution outputs. It only grows; the lock keeps two host
   * threads from sharing or resizing it at once, and serializes the cuBLAS
   * handle. */
  GMutex scratch_lock;
  void *scratch;
  gsize scratch_size;
} FaCudaImpl;

static FaCudaImpl *
impl_of (FaBackend *self)
{
  return self->impl;
}

/* ---- errors ---- */

static gboolean
set_cuda_error (GError **error, cudaError_t status, const char *what)
{
  /* A failed runtime call also leaves its code as the thread's "last
   * error"; cleared here so that the next kernel launch, which checks
   * cudaGetLastError(), does not report it again. Sticky errors (a kernel
   * fault) stay regardless. */
  (void) cudaGetLastError ();
  g_set_error (error, FA_ERROR, FA_ERROR_BACKEND, "%s failed: %s (%s)", what,
               cudaGetErrorString (status), cudaGetErrorName (status));
  return FALSE;
}

static gboolean
check_cuda (cudaError_t status, const char *what, GError **error)
{
  return status == cudaSuccess || set_cuda_error (error, status, what);
}

static gboolean
set_cublas_error (GError **error, cublasStatus_t status, const char *what)
{
  g_set_error (error, FA_ERROR, FA_ERROR_BACKEND, "%s failed: %s (%s)", what,
               cublasGetStatusString (status), cublasGetStatusName (status));
  return FALSE;
}

static gboolean
check_kernel (cudaError_t status, const char *op, GError **error)
{
  if (status == cudaSuccess)
    return TRUE;
  g_autofree char *what = g_strdup_printf ("%s: CUDA kernel launch", op);
  return set_cuda_error (error, status, what);
}

/* The runtime's current device is per host thread: every entry point
 * selects the backend's own before touching memory or launching. */
static gboolean
enter (FaBackend *self, GError **error)
{
  return check_cuda (cudaSetDevice (impl_of (self)->device_index), "cudaSetDevice", error);
}

/* ---- dtypes ---- */

static gboolean
is_compute_dtype (FaDType dtype)
{
  return dtype == FA_DTYPE_F32 || dtype == FA_DTYPE_BF16;
}

static gboolean
require_compute_dtype (const char *op, const FaTensor *x, GError **error)
{
  if (is_compute_dtype (x->dtype))
    return TRUE;
  g_set_error (error, FA_ERROR, FA_ERROR_DTYPE,
               "%s: the CUDA backend computes on f32 or bf16 tensors, not %s (convert it first)",
               op, fa_dtype_get_name (x->dtype));
  return FALSE;
}

/* The norms, the activations and the binary ops take one dtype for all
 * their operands; fa_op_* has checked the others against x already, but a
 * backend is cheap to keep honest. */
static gboolean
require_dtype_of_x (const char *op, const char *role, const FaTensor *t, const FaTensor *x,
                    GError **error)
{
  if (t == NULL || t->dtype == x->dtype)
    return TRUE;
  g_set_error (error, FA_ERROR, FA_ERROR_DTYPE, "%s: %s is %s but x is %s", op, role,
               fa_dtype_get_name (t->dtype), fa_dtype_get_name (x->dtype));
  return FALSE;
}

static const void *
data_or_null (const FaTensor *t)
{
  return t != NULL ? fa_tensor_get_data (t) : NULL;
}

/* ---- memory ---- */

static void
set_out_of_memory (GError **error, gsize size, const char *what)
{
  size_t free_bytes = 0, total_bytes = 0;

  (void) cudaGetLastError ();
  if (cudaMemGetInfo (&free_bytes, &total_bytes) != cudaSuccess)
    (void) cudaGetLastError ();
  g_autofree char *size_text = g_format_size_full (size, G_FORMAT_SIZE_IEC_UNITS);
  g_autofree char *free_text = g_format_size_full (free_bytes, G_FORMAT_SIZE_IEC_UNITS);
  g_autofree char *total_text = g_format_size_full (total_bytes, G_FORMAT_SIZE_IEC_UNITS);
  g_set_error (error, FA_ERROR, FA_ERROR_OUT_OF_MEMORY,
               "out of CUDA memory %s: requested %s (%" G_GSIZE_FORMAT " bytes) with %s free of %s",
               what, size_text, size, free_text, total_text);
}

static gpointer
device_alloc (gsize size, const char *what, GError **error)
{
  void *ptr = NULL;
  /* cudaMalloc (0) succeeds with NULL, which callers read as failure. */
  cudaError_t status = cudaMalloc (&ptr, size > 0 ? size : 1);

  if (status == cudaErrorMemoryAllocation)
    {
      set_out_of_memory (error, size, what);
      return NULL;
    }
  if (status != cudaSuccess)
    {
      set_cuda_error (error, status, "cudaMalloc");
      return NULL;
    }
  return ptr;
}

static gpointer
cuda_alloc (FaBackend *self, gsize size, GError **error)
{
  if (!enter (self, error))
    return NULL;
  return device_alloc (size, "for a tensor", error);
}

static void
cuda_free (FaBackend *self, gpointer ptr)
{
  cudaError_t status;

  if (ptr == NULL)
    return;
  /* cudaFree waits for the device's queued work, so memory still in use by
   * a queued kernel is not handed out again under it. */
  if (cudaSetDevice (impl_of (self)->device_index) != cudaSuccess ||
      (status = cudaFree (ptr)) != cudaSuccess)
    {
      status = cudaGetLastError ();
      g_message ("cudaFree failed: %s (%s)", cudaGetErrorString (status), cudaGetErrorName (status));
    }
}

/* The scratch is memory the backend holds: it counts in the current total
 * and the peak until destroy frees it. */
static gboolean
ensure_scratch (FaBackend *self, gsize size, GError **error)
{
  FaCudaImpl *impl = impl_of (self);

  if (size <= impl->scratch_size)
    return TRUE;
  if (impl->scratch != NULL)
    {
      /* Queued GEMMs may still read the old buffer. */
      if (!check_cuda (cudaStreamSynchronize (impl->stream), "cudaStreamSynchronize", error))
        return FALSE;
      if (cudaFree (impl->scratch) != cudaSuccess)
        (void) cudaGetLastError ();
      _fa_backend_count_free (self, impl->scratch_size);
      impl->scratch = NULL;
      impl->scratch_size = 0;
    }
  impl->scratch = device_alloc (size, "for the backend's scratch (linear operands, convolution patches)",
                                error);
  if (impl->scratch == NULL)
    return FALSE;
  impl->scratch_size = size;
  _fa_backend_count_alloc (self, size);
  return TRUE;
}

static gboolean
cuda_copy (FaBackend *self, gpointer dst, FaDevice dst_device, gconstpointer src,
           FaDevice src_device, gsize size, GError **error)
{
  FaCudaImpl *impl = impl_of (self);
  enum cudaMemcpyKind kind;

  if (size == 0)
    return TRUE;
  if (dst_device == FA_DEVICE_CPU && src_device == FA_DEVICE_CPU)
    {
      memmove (dst, src, size);
      return TRUE;
    }
  if (!enter (self, error))
    return FALSE;

  if (dst_device == FA_DEVICE_CUDA && src_device == FA_DEVICE_CUDA)
    kind = cudaMemcpyDeviceToDevice;
  else if (dst_device == FA_DEVICE_CUDA)
    kind = cudaMemcpyHostToDevice;
  else
    kind = cudaMemcpyDeviceToHost;

  if (!check_cuda (cudaMemcpyAsync (dst, src, size, kind, impl->stream), "cudaMemcpyAsync", error))
    return FALSE;
  /* Device to device stays in stream order; anything touching the host
   * waits until the host bytes are no longer needed (or have arrived). */
  if (kind == cudaMemcpyDeviceToDevice)
    return TRUE;
  return check_cuda (cudaStreamSynchronize (impl->stream), "cudaStreamSynchronize (after a copy)",
                     error);
}

static gboolean
cuda_synchronize (FaBackend *self, GError **error)
{
  return enter (self, error) &&
         check_cuda (cudaStreamSynchronize (impl_of (self)->stream), "cudaStreamSynchronize", error);
}

/* ---- ops ---- */

static gboolean
cuda_linear (FaBackend *self, const FaTensor *x, const FaTensor *weight, const FaTensor *bias,
             FaTensor *y, gint64 m, gint64 k, gint64 n, GError **error)
{
  FaCudaImpl *impl = impl_of (self);
  FaCudaStatus status;
  gboolean ok = TRUE;

  if (!is_compute_dtype (x->dtype) || !is_compute_dtype (weight->dtype) ||
      !is_compute_dtype (y->dtype) || (bias != NULL && !is_compute_dtype (bias->dtype)))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_DTYPE,
                   "linear: the CUDA backend takes f32 or bf16 operands; x is %s, weight %s, "
                   "bias %s, y %s",
                   fa_dtype_get_name (x->dtype), fa_dtype_get_name (weight->dtype),
                   bias != NULL ? fa_dtype_get_name (bias->dtype) : "none",
                   fa_dtype_get_name (y->dtype));
      return FALSE;
    }
  if (m > INT_MAX || k > INT_MAX || n > INT_MAX)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "linear: [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] · [%" G_GINT64_FORMAT
                   ", %" G_GINT64_FORMAT "]ᵀ exceeds cuBLAS's 32-bit dimensions",
                   m, k, n, k);
      return FALSE;
    }
  if (!enter (self, error))
    return FALSE;

  gsize scratch_size = fa_cuda_linear_scratch_size (x->dtype, weight->dtype, m, k, n);

  g_mutex_lock (&impl->scratch_lock);
  if (!ensure_scratch (self, scratch_size, error))
    ok = FALSE;
  else if (fa_cuda_linear (impl->blas, impl->stream, x->dtype, fa_tensor_get_data (x),
                           weight->dtype, fa_tensor_get_data (weight),
                           bias != NULL ? bias->dtype : FA_DTYPE_F32, data_or_null (bias),
                           y->dtype, fa_tensor_get_data (y), m, k, n,
                           impl->scratch, impl->scratch_size, &status) != 0)
    {
      g_autofree char *what = g_strdup_printf ("linear: %s", status.call);
      if (status.cuda_error != cudaSuccess)
        set_cuda_error (error, status.cuda_error, what);
      else
        set_cublas_error (error, status.cublas_status, what);
      ok = FALSE;
    }
  g_mutex_unlock (&impl->scratch_lock);

  return ok;
}

static gboolean
cuda_layer_norm (FaBackend *self, const FaTensor *x, const FaTensor *weight, const FaTensor *bias,
                 FaTensor *y, gint64 rows, gint64 cols, float eps, GError **error)
{
  const char *op = "layer_norm";

  if (!require_compute_dtype (op, x, error) || !require_dtype_of_x (op, "weight", weight, x, error) ||
      !require_dtype_of_x (op, "bias", bias, x, error) || !require_dtype_of_x (op, "y", y, x, error) ||
      !enter (self, error))
    return FALSE;
  return check_kernel (fa_cuda_layer_norm (x->dtype, fa_tensor_get_data (x), data_or_null (weight),
                                           data_or_null (bias), fa_tensor_get_data (y), rows, cols,
                                           eps, impl_of (self)->stream),
                       op, error);
}

static gboolean
cuda_rms_norm (FaBackend *self, const FaTensor *x, const FaTensor *weight, FaTensor *y,
               gint64 rows, gint64 cols, float eps, GError **error)
{
  const char *op = "rms_norm";

  if (!require_compute_dtype (op, x, error) || !require_dtype_of_x (op, "weight", weight, x, error) ||
      !require_dtype_of_x (op, "y", y, x, error) || !enter (self, error))
    return FALSE;
  return check_kernel (fa_cuda_rms_norm (x->dtype, fa_tensor_get_data (x), data_or_null (weight),
                                         fa_tensor_get_data (y), rows, cols, eps,
                                         impl_of (self)->stream),
                       op, error);
}

static gboolean
cuda_unary (FaBackend *self, FaUnaryOp unary_op, const FaTensor *x, FaTensor *y, gint64 n,
            GError **error)
{
  const char *op = unary_op == FA_UNARY_GELU_TANH ? "gelu_tanh" : "silu";
  cudaError_t status;

  if (!require_compute_dtype (op, x, error) || !require_dtype_of_x (op, "y", y, x, error) ||
      !enter (self, error))
    return FALSE;
  if (unary_op == FA_UNARY_GELU_TANH)
    status = fa_cuda_gelu_tanh (x->dtype, fa_tensor_get_data (x), fa_tensor_get_data (y), n,
                                impl_of (self)->stream);
  else
    status = fa_cuda_silu (x->dtype, fa_tensor_get_data (x), fa_tensor_get_data (y), n,
                           impl_of (self)->stream);
  return check_kernel (status, op, error);
}

static gboolean
cuda_softmax (FaBackend *self, const FaTensor *x, FaTensor *y, gint64 rows, gint64 cols,
              GError **error)
{
  const char *op = "softmax";

  if (!require_compute_dtype (op, x, error) || !require_dtype_of_x (op, "y", y, x, error) ||
      !enter (self, error))
    return FALSE;
  return check_kernel (fa_cuda_softmax (x->dtype, fa_tensor_get_data (x), fa_tensor_get_data (y),
                                        rows, cols, impl_of (self)->stream),
                       op, error);
}

static gboolean
cuda_binary (FaBackend *self, FaBinaryOp binary_op, const FaTensor *a, const FaTensor *b,
             FaTensor *y, gint64 n, gint64 nb, GError **error)
{
  const char *op = binary_op == FA_BINARY_ADD ? "add" : "mul";
  cudaError_t status;

  if (!require_compute_dtype (op, a, error) || !require_dtype_of_x (op, "b", b, a, error) ||
      !require_dtype_of_x (op, "y", y, a, error) || !enter (self, error))
    return FALSE;
  if (binary_op == FA_BINARY_ADD)
    status = fa_cuda_add (a->dtype, fa_tensor_get_data (a), fa_tensor_get_data (b),
                          fa_tensor_get_data (y), n, nb, impl_of (self)->stream);
  else
    status = fa_cuda_mul (a->dtype, fa_tensor_get_data (a), fa_tensor_get_data (b),
                          fa_tensor_get_data (y), n, nb, impl_of (self)->stream);
  return check_kernel (status, op, error);
}

static gboolean
cuda_convert (FaBackend *self, const FaTensor *x, FaTensor *y, gint64 n, GError **error)
{
  if (!fa_cuda_convert_supports (x->dtype) || !fa_cuda_convert_supports (y->dtype))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_DTYPE,
                   "convert: the CUDA backend converts between f32, bf16 and f16, not %s to %s",
                   fa_dtype_get_name (x->dtype), fa_dtype_get_name (y->dtype));
      return FALSE;
    }
  if (!enter (self, error))
    return FALSE;
  return check_kernel (fa_cuda_convert (fa_tensor_get_data (x), x->dtype, fa_tensor_get_data (y),
                                        y->dtype, n, impl_of (self)->stream),
                       "convert", error);
}

/* ---- transformer ops ---- */

/* Neither side need be f32: these ops convert as they go. */
static gboolean
require_compute_dtypes (const char *op, const char *role_a, const FaTensor *a, const char *role_b,
                        const FaTensor *b, GError **error)
{
  const FaTensor *t = is_compute_dtype (a->dtype) ? b : a;
  const char *role = is_compute_dtype (a->dtype) ? role_b : role_a;

  if (is_compute_dtype (t->dtype))
    return TRUE;
  g_set_error (error, FA_ERROR, FA_ERROR_DTYPE,
               "%s: the CUDA backend computes on f32 or bf16 tensors, but %s is %s (convert it first)",
               op, role, fa_dtype_get_name (t->dtype));
  return FALSE;
}

static gboolean
set_status_error (GError **error, const char *op, const FaCudaStatus *status)
{
  g_autofree char *what = g_strdup_printf ("%s: %s", op, status->call);

  if (status->cuda_error != cudaSuccess)
    return set_cuda_error (error, status->cuda_error, what);
  return set_cublas_error (error, status->cublas_status, what);
}

/* @src, a [rows, cols] block of @dtype, as f32: @src itself when it is f32
 * already, else a converted copy that @holder keeps. */
static gboolean
as_f32 (FaBackend *self, FaDType dtype, const void *src, gint64 rows, gint64 cols,
        FaTensor **holder, const float **out, GError **error)
{
  if (dtype == FA_DTYPE_F32)
    {
      *out = src;
      return TRUE;
    }
  *holder = fa_tensor_new (self, FA_DTYPE_F32, 2, (gint64[]) { rows, cols }, error);
  if (*holder == NULL)
    return FALSE;
  *out = fa_tensor_get_data (*holder);
  return check_kernel (fa_cuda_convert (src, dtype, fa_tensor_get_data (*holder), FA_DTYPE_F32,
                                        rows * cols, impl_of (self)->stream),
                       "attention", error);
}

/* Logits kept within this much per block of queries when nobody needs to
 * see them all. */
#define EXPLICIT_ATTENTION_BUDGET ((gint64) 256 << 20)

/* Batch element @b the explicit way, in f32 through cuBLAS: for the hook
 * (all n queries at once, the logits shown to it) and for head sizes the
 * flash kernel does not take (blocks of queries). */
static gboolean
cuda_attention_explicit (FaBackend *self, const FaTensor *q, const FaTensor *k, const FaTensor *v,
                         FaTensor *out, gint64 b, gint64 n, gint64 m, gint64 heads,
                         gint64 head_dim, float scale, const FaAttentionHook *hook,
                         GError **error)
{
  FaCudaImpl *impl = impl_of (self);
  const char *op = "attention";
  const gint64 width = heads * head_dim;
  const gsize es = fa_dtype_size (q->dtype);
  const char *qb = (const char *) fa_tensor_get_data (q) + (gsize) (b * n * width) * es;
  const char *kb = (const char *) fa_tensor_get_data (k) + (gsize) (b * m * width) * es;
  const char *vb = (const char *) fa_tensor_get_data (v) + (gsize) (b * m * width) * es;
  char *ob = (char *) fa_tensor_get_data (out) + (gsize) (b * n * width) * es;
  g_autoptr (FaTensor) qf = NULL;
  g_autoptr (FaTensor) kf = NULL;
  g_autoptr (FaTensor) vf = NULL;
  g_autoptr (FaTensor) of = NULL;
  g_autoptr (FaTensor) logits = NULL;
  const float *qp, *kp, *vp;
  float *op_out;
  FaCudaStatus status;
  int rc;

  if (!as_f32 (self, q->dtype, qb, n, width, &qf, &qp, error) ||
      !as_f32 (self, k->dtype, kb, m, width, &kf, &kp, error) ||
      !as_f32 (self, v->dtype, vb, m, width, &vf, &vp, error))
    return FALSE;
  if (out->dtype == FA_DTYPE_F32)
    op_out = (float *) ob;
  else
    {
      of = fa_tensor_new (self, FA_DTYPE_F32, 2, (gint64[]) { n, width }, error);
      if (of == NULL)
        return FALSE;
      op_out = fa_tensor_get_data (of);
    }

  gint64 block = n;
  if (hook == NULL)
    block = CLAMP (EXPLICIT_ATTENTION_BUDGET / (heads * m * (gint64) sizeof (float)), 1, n);
  logits = fa_tensor_new (self, FA_DTYPE_F32, 3, (gint64[]) { heads, block, m }, error);
  if (logits == NULL)
    return FALSE;

  for (gint64 r0 = 0; r0 < n; r0 += block)
    {
      gint64 rows = MIN (block, n - r0);

      /* the lock serializes the cuBLAS handle with the linear; it is not
       * held while the hook runs, which may call ops itself */
      g_mutex_lock (&impl->scratch_lock);
      rc = fa_cuda_attention_logits (impl->blas, impl->stream, qp + r0 * width, kp,
                                     fa_tensor_get_data (logits), rows, m, heads, head_dim, scale,
                                     &status);
      g_mutex_unlock (&impl->scratch_lock);
      if (rc != 0)
        return set_status_error (error, op, &status);

      /* the logits are complete when the hook sees them, whatever stream
       * or copy it reads them with; what it changes must be done (or queued
       * on the backend's stream, as the ops do) when it returns */
      if (hook != NULL && (!cuda_synchronize (self, error) ||
                           !_fa_backend_call_attention_hook (self, hook, logits, error)))
        return FALSE;

      g_mutex_lock (&impl->scratch_lock);
      rc = fa_cuda_attention_apply (impl->blas, impl->stream, fa_tensor_get_data (logits), vp,
                                    op_out + r0 * width, rows, m, heads, head_dim, &status);
      g_mutex_unlock (&impl->scratch_lock);
      if (rc != 0)
        return set_status_error (error, op, &status);
    }

  if (of != NULL)
    return check_kernel (fa_cuda_convert (op_out, FA_DTYPE_F32, ob, out->dtype, n * width,
                                          impl->stream),
                         op, error);
  return TRUE;
}

static gboolean
cuda_attention (FaBackend *self, const FaTensor *q, const FaTensor *k, const FaTensor *v,
                FaTensor *out, gint64 batch, gint64 n, gint64 m, gint64 heads, gint64 head_dim,
                float scale, const FaAttentionHook *hook, GError **error)
{
  const char *op = "attention";
  const gint64 width = heads * head_dim;
  const gsize es = fa_dtype_size (q->dtype);
  const gboolean flash = fa_cuda_attention_supports (head_dim);

  if (!require_compute_dtype (op, q, error))
    return FALSE;
  if (n > INT_MAX || m > INT_MAX || width > INT_MAX || heads > 65535)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "attention: %" G_GINT64_FORMAT " queries against %" G_GINT64_FORMAT
                   " keys of width %" G_GINT64_FORMAT " in %" G_GINT64_FORMAT
                   " heads exceed the CUDA kernels' 32-bit sizes",
                   n, m, width, heads);
      return FALSE;
    }
  if (!enter (self, error))
    return FALSE;

  /* Runs of batch elements without a hook go to the flash kernel in one
   * launch; the hooked element (and every element when the head size does
   * not suit the kernel) goes the explicit way. */
  for (gint64 b = 0; b < batch;)
    {
      if (hook != NULL && b == hook->batch_index)
        {
          if (!cuda_attention_explicit (self, q, k, v, out, b, n, m, heads, head_dim, scale, hook,
                                        error))
            return FALSE;
          b++;
          continue;
        }
      gint64 end = hook != NULL && hook->batch_index > b ? hook->batch_index : batch;
      if (flash)
        {
          cudaError_t status = fa_cuda_attention (
            q->dtype, (const char *) fa_tensor_get_data (q) + (gsize) (b * n * width) * es,
            (const char *) fa_tensor_get_data (k) + (gsize) (b * m * width) * es,
            (const char *) fa_tensor_get_data (v) + (gsize) (b * m * width) * es,
            (char *) fa_tensor_get_data (out) + (gsize) (b * n * width) * es, end - b, n, m, heads,
            head_dim, scale, impl_of (self)->stream);
          if (!check_kernel (status, op, error))
            return FALSE;
        }
      else
        for (gint64 e = b; e < end; e++)
          if (!cuda_attention_explicit (self, q, k, v, out, e, n, m, heads, head_dim, scale, NULL,
                                        error))
            return FALSE;
      b = end;
    }
  return TRUE;
}

static gboolean
cuda_rope (FaBackend *self, const FaTensor *x, const FaTensor *cos, const FaTensor *sin, FaTensor *y,
           gint64 batch, gint64 n, gint64 heads, gint64 head_dim, GError **error)
{
  const char *op = "rope";

  if (!require_compute_dtypes (op, "x", x, "y", y, error) || !enter (self, error))
    return FALSE;
  return check_kernel (fa_cuda_rope (x->dtype, fa_tensor_get_data (x), fa_tensor_get_data (cos),
                                     fa_tensor_get_data (sin), y->dtype, fa_tensor_get_data (y),
                                     batch, n, heads, head_dim, impl_of (self)->stream),
                       op, error);
}

static gboolean
cuda_modulate (FaBackend *self, const FaTensor *x, const FaTensor *scale, const FaTensor *shift,
               FaTensor *y, gint64 batch, gint64 n, gint64 dim, GError **error)
{
  const char *op = "modulate";

  if (!require_compute_dtypes (op, "x", x, "y", y, error) || !enter (self, error))
    return FALSE;
  return check_kernel (fa_cuda_modulate (x->dtype, fa_tensor_get_data (x),
                                         fa_tensor_get_data (scale), fa_tensor_get_data (shift),
                                         y->dtype, fa_tensor_get_data (y), batch, n, dim,
                                         impl_of (self)->stream),
                       op, error);
}

static gboolean
cuda_gated_add (FaBackend *self, FaTensor *x, const FaTensor *a, const FaTensor *gate, gint64 batch,
                gint64 n, gint64 dim, GError **error)
{
  const char *op = "gated_add";

  if (!require_compute_dtypes (op, "x", x, "a", a, error) || !enter (self, error))
    return FALSE;
  return check_kernel (fa_cuda_gated_add (x->dtype, fa_tensor_get_data (x), a->dtype,
                                          fa_tensor_get_data (a), data_or_null (gate), batch, n,
                                          dim, impl_of (self)->stream),
                       op, error);
}

static gboolean
cuda_patchify (FaBackend *self, const FaTensor *video, FaTensor *tokens,
               const gint64 video_shape[5], const int patch[3], GError **error)
{
  const char *op = "patchify";
  int64_t shape[5];

  if (!require_compute_dtypes (op, "video", video, "tokens", tokens, error) || !enter (self, error))
    return FALSE;
  for (int i = 0; i < 5; i++)
    shape[i] = video_shape[i];
  return check_kernel (fa_cuda_patchify (video->dtype, fa_tensor_get_data (video), tokens->dtype,
                                         fa_tensor_get_data (tokens), shape, patch,
                                         impl_of (self)->stream),
                       op, error);
}

static gboolean
cuda_unpatchify (FaBackend *self, const FaTensor *tokens, FaTensor *video,
                 const gint64 video_shape[5], const int patch[3], GError **error)
{
  const char *op = "unpatchify";
  int64_t shape[5];

  if (!require_compute_dtypes (op, "tokens", tokens, "video", video, error) || !enter (self, error))
    return FALSE;
  for (int i = 0; i < 5; i++)
    shape[i] = video_shape[i];
  return check_kernel (fa_cuda_unpatchify (tokens->dtype, fa_tensor_get_data (tokens), video->dtype,
                                           fa_tensor_get_data (video), shape, patch,
                                           impl_of (self)->stream),
                       op, error);
}

/* ---- video ops ---- */

/* The most a convolution adds to the memory in use: its patches go in
 * blocks of output pixels that fit this (at least one output row, however
 * wide). */
#define CONV3D_SCRATCH_BUDGET ((gsize) 256 << 20)

static gboolean
require_f32 (const char *op, const char *role, const FaTensor *t, GError **error)
{
  if (t == NULL || t->dtype == FA_DTYPE_F32)
    return TRUE;
  g_set_error (error, FA_ERROR, FA_ERROR_DTYPE,
               "%s: %s is %s, but the CUDA backend convolves f32 activations (convert it first)",
               op, role, fa_dtype_get_name (t->dtype));
  return FALSE;
}

static gboolean
cuda_conv3d (FaBackend *self, const FaTensor *x, const FaTensor *history, const FaTensor *weight,
             const FaTensor *bias, FaTensor *y, const FaConv3dParams *params,
             const gint64 shape[9], GError **error)
{
  FaCudaImpl *impl = impl_of (self);
  const char *op = "conv3d";
  FaCudaStatus status;
  gboolean ok = TRUE;

  if (!require_f32 (op, "x", x, error) || !require_f32 (op, "history", history, error) ||
      !require_f32 (op, "bias", bias, error) || !require_f32 (op, "y", y, error))
    return FALSE;
  if (weight->dtype != FA_DTYPE_F32 && weight->dtype != FA_DTYPE_F16)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_DTYPE,
                   "conv3d: the CUDA backend takes an f32 or f16 weight, not %s (convert it first)",
                   fa_dtype_get_name (weight->dtype));
      return FALSE;
    }

  const FaConv3dGeometry g = {
    .th = shape[0], .tx = shape[1], .h = shape[2], .w = shape[3], .ci = shape[4],
    .to = shape[5], .ho = shape[6], .wo = shape[7], .co = shape[8],
    .kt = params->kernel[0], .kh = params->kernel[1], .kw = params->kernel[2],
    .st = params->stride[0], .sh = params->stride[1], .sw = params->stride[2],
    .pad_front = params->pad_front, .pad_top = params->pad_top, .pad_left = params->pad_left,
    .upsample = params->upsample ? 1 : 0,
  };
  if (fa_conv3d_patch_size (&g) > INT_MAX || g.co > INT_MAX)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "conv3d: a weight of [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                   "] exceeds cuBLAS's 32-bit dimensions",
                   g.co, fa_conv3d_patch_size (&g));
      return FALSE;
    }
  if (!enter (self, error))
    return FALSE;

  gsize scratch_size = fa_cuda_conv3d_scratch_size (&g, weight->dtype, CONV3D_SCRATCH_BUDGET);

  /* A scratch already larger (an earlier linear's or convolution's) costs
   * nothing more and makes the blocks larger. */
  g_mutex_lock (&impl->scratch_lock);
  if (!ensure_scratch (self, scratch_size, error))
    ok = FALSE;
  else if (fa_cuda_conv3d (impl->blas, impl->stream, data_or_null (history),
                           fa_tensor_get_data (x), weight->dtype, fa_tensor_get_data (weight),
                           data_or_null (bias), fa_tensor_get_data (y), &g, impl->scratch,
                           impl->scratch_size, &status) != 0)
    ok = set_status_error (error, op, &status);
  g_mutex_unlock (&impl->scratch_lock);

  return ok;
}

static gboolean
cuda_copy_strided (FaBackend *self, const FaTensor *src, FaTensor *dst, GError **error)
{
  int64_t shape[FA_MAX_DIMS], src_strides[FA_MAX_DIMS], dst_strides[FA_MAX_DIMS];
  gsize elem_size = fa_dtype_size (src->dtype);

  if (elem_size != 1 && elem_size != 2 && elem_size != 4 && elem_size != 8)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_DTYPE,
                   "copy: the CUDA backend copies elements of 1, 2, 4 or 8 bytes, not %s",
                   fa_dtype_get_name (src->dtype));
      return FALSE;
    }
  if (!enter (self, error))
    return FALSE;
  for (int i = 0; i < src->ndim; i++)
    {
      shape[i] = src->shape[i];
      src_strides[i] = src->strides[i];
      dst_strides[i] = dst->strides[i];
    }
  return check_kernel (fa_cuda_copy_strided (fa_tensor_get_data (src), src_strides,
                                             fa_tensor_get_data (dst), dst_strides, shape,
                                             src->ndim, elem_size, impl_of (self)->stream),
                       "copy", error);
}

/* ---- life cycle ---- */

static void
impl_free (FaCudaImpl *impl)
{
  if (cudaSetDevice (impl->device_index) == cudaSuccess)
    {
      if (impl->stream != NULL)
        (void) cudaStreamSynchronize (impl->stream);
      if (impl->scratch != NULL)
        (void) cudaFree (impl->scratch);
      if (impl->blas != NULL)
        (void) cublasDestroy (impl->blas);
      if (impl->stream != NULL)
        (void) cudaStreamDestroy (impl->stream);
    }
  (void) cudaGetLastError ();
  g_mutex_clear (&impl->scratch_lock);
  g_free (impl);
}

static void
cuda_destroy (FaBackend *self)
{
  _fa_backend_count_free (self, impl_of (self)->scratch_size);
  impl_free (impl_of (self));
  self->impl = NULL;
}

static const FaBackendOps cuda_ops = {
  .linear = cuda_linear,
  .layer_norm = cuda_layer_norm,
  .rms_norm = cuda_rms_norm,
  .unary = cuda_unary,
  .softmax = cuda_softmax,
  .binary = cuda_binary,
  .convert = cuda_convert,
  .attention = cuda_attention,
  .rope = cuda_rope,
  .modulate = cuda_modulate,
  .gated_add = cuda_gated_add,
  .patchify = cuda_patchify,
  .unpatchify = cuda_unpatchify,
  .conv3d = cuda_conv3d,
  .copy_strided = cuda_copy_strided,
  .alloc = cuda_alloc,
  .free = cuda_free,
  .copy = cuda_copy,
  .synchronize = cuda_synchronize,
  .destroy = cuda_destroy,
};

/* Whether @device_index names a device this backend can run on; fills
 * @prop when it does. */
static gboolean
check_device (int device_index, struct cudaDeviceProp *prop, GError **error)
{
  int count = 0;
  cudaError_t status;

  if (device_index < 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "CUDA device index %d is negative", device_index);
      return FALSE;
    }

  status = cudaGetDeviceCount (&count);
  if (status == cudaErrorNoDevice || status == cudaErrorInsufficientDriver)
    {
      (void) cudaGetLastError ();
      /* Without any NVIDIA driver the runtime says "insufficient driver";
       * say what that usually means. */
      g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND,
                   "no CUDA device: cudaGetDeviceCount failed: %s (%s)%s",
                   cudaGetErrorString (status), cudaGetErrorName (status),
                   status == cudaErrorInsufficientDriver
                     ? "; the NVIDIA driver is missing or older than this CUDA runtime needs"
                     : "");
      return FALSE;
    }
  if (status != cudaSuccess)
    {
      (void) cudaGetLastError ();
      g_set_error (error, FA_ERROR, FA_ERROR_BACKEND, "no CUDA device: cudaGetDeviceCount failed: %s (%s)",
                   cudaGetErrorString (status), cudaGetErrorName (status));
      return FALSE;
    }
  if (count == 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND, "no CUDA device: the driver reports none");
      return FALSE;
    }
  if (device_index >= count)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "CUDA device index %d is out of range: %d device%s present (0 to %d)",
                   device_index, count, count == 1 ? " is" : "s are", count - 1);
      return FALSE;
    }

  status = cudaGetDeviceProperties (prop, device_index);
  if (status != cudaSuccess)
    return set_cuda_error (error, status, "cudaGetDeviceProperties");
  if (prop->major < FA_CUDA_MIN_MAJOR)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "CUDA device %d (%s) has compute capability %d.%d, but 8.0 or newer is needed "
                   "(bf16 tensor cores)",
                   device_index, prop->name, prop->major, prop->minor);
      return FALSE;
    }
  return TRUE;
}

FaBackend *
_fa_backend_cuda_new (int device_index, GError **error)
{
  struct cudaDeviceProp prop;
  cublasStatus_t blas_status;

  if (!check_device (device_index, &prop, error) ||
      !check_cuda (cudaSetDevice (device_index), "cudaSetDevice", error))
    return NULL;

  FaCudaImpl *impl = g_new0 (FaCudaImpl, 1);
  impl->device_index = device_index;
  g_mutex_init (&impl->scratch_lock);

  /* Non-blocking: the legacy default stream, which other code in the
   * process may use, does not serialize against ours. */
  if (!check_cuda (cudaStreamCreateWithFlags (&impl->stream, cudaStreamNonBlocking),
                   "cudaStreamCreateWithFlags", error))
    {
      impl->stream = NULL;
      impl_free (impl);
      return NULL;
    }
  blas_status = cublasCreate (&impl->blas);
  if (blas_status != CUBLAS_STATUS_SUCCESS)
    {
      impl->blas = NULL;
      set_cublas_error (error, blas_status, "cublasCreate");
      impl_free (impl);
      return NULL;
    }
  blas_status = cublasSetStream (impl->blas, impl->stream);
  if (blas_status != CUBLAS_STATUS_SUCCESS)
    {
      set_cublas_error (error, blas_status, "cublasSetStream");
      impl_free (impl);
      return NULL;
    }

  char *description = g_strdup_printf ("CUDA: %s (sm_%d%d, %.1f GiB)", prop.name, prop.major,
                                       prop.minor, (double) prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
  return _fa_backend_new (&cuda_ops, FA_DEVICE_CUDA, description, impl);
}

gboolean
_fa_backend_cuda_probe (int device_index, char **out_name, guint64 *out_total_bytes,
                        GError **error)
{
  struct cudaDeviceProp prop;

  if (!check_device (device_index, &prop, error))
    return FALSE;
  if (out_name != NULL)
    *out_name = g_strdup (prop.name);
  if (out_total_bytes != NULL)
    *out_total_bytes = prop.totalGlobalMem;
  return TRUE;
}

gboolean
_fa_backend_cuda_enter (FaBackend *backend, gpointer *out_stream, GError **error)
{
  g_return_val_if_fail (backend->ops == &cuda_ops, FALSE);

  if (!enter (backend, error))
    return FALSE;
  *out_stream = impl_of (backend)->stream;
  return TRUE;
}
