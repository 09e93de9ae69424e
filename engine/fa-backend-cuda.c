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

  /* Room for f32 linear operands rounded to bf16. It only grows; the lock
   * keeps two host threads from sharing or resizing it at once. */
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
  impl->scratch = device_alloc (size, "for the linear's bf16 scratch", error);
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
