/* fa-cuda-kernels.h: the CUDA kernels, each the twin of a CPU reference in
 * kernels/cpu/fa-cpu-kernels.h.
 *
 * Plain C with no GLib, so that the engine's backend (C, host compiler) and
 * the standalone GPU check (tests/gpu) both call them. Every pointer is device
 * memory, every shape row-major and contiguous. Tensor operands of one call
 * share @dtype, FA_DTYPE_F32 or FA_DTYPE_BF16; arithmetic is always float32,
 * rounded to @dtype once on the final store.
 *
 * The calls are asynchronous on @stream. They return cudaErrorInvalidValue
 * for a dtype or size they do not take (before touching the device, so that
 * argument checks run without one), otherwise the launch's error: a fault
 * inside a kernel shows only at the next synchronization.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "fa-kernel-types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Over the last axis of [rows, cols]: (x − mean)/sqrt(var + eps), biased
 * variance, then ·gamma + beta when given (either may be NULL). */
cudaError_t fa_cuda_layer_norm (FaDType dtype, const void *x, const void *gamma, const void *beta,
                                void *y, int64_t rows, int64_t cols, float eps,
                                cudaStream_t stream);

/* x / sqrt(mean(x²) + eps) · gamma (gamma may be NULL). */
cudaError_t fa_cuda_rms_norm (FaDType dtype, const void *x, const void *gamma, void *y,
                              int64_t rows, int64_t cols, float eps, cudaStream_t stream);

cudaError_t fa_cuda_gelu_tanh (FaDType dtype, const void *x, void *y, int64_t n,
                               cudaStream_t stream);
cudaError_t fa_cuda_silu (FaDType dtype, const void *x, void *y, int64_t n, cudaStream_t stream);

/* Numerically stable softmax over the last axis of [rows, cols]. */
cudaError_t fa_cuda_softmax (FaDType dtype, const void *x, void *y, int64_t rows, int64_t cols,
                             cudaStream_t stream);

/* y[i] = a[i] ∘ b[i mod nb], as fa_cpu_add_f32 / fa_cpu_mul_f32. */
cudaError_t fa_cuda_add (FaDType dtype, const void *a, const void *b, void *y, int64_t n,
                         int64_t nb, cudaStream_t stream);
cudaError_t fa_cuda_mul (FaDType dtype, const void *a, const void *b, void *y, int64_t n,
                         int64_t nb, cudaStream_t stream);

/* Between f32, bf16 and f16, rounding to nearest even (NaN stays NaN).
 * Equal dtypes copy. */
cudaError_t fa_cuda_convert (const void *src, FaDType src_dtype, void *dst, FaDType dst_dtype,
                             int64_t n, cudaStream_t stream);
/* Whether fa_cuda_convert takes this dtype. */
int         fa_cuda_convert_supports (FaDType dtype);

/* y[i, j] = bias[j] for i < rows, j < cols, converting bias_dtype to
 * y_dtype: the linear prefills its output with the bias and lets the GEMM
 * add to it (beta = 1), so that the sum is rounded once. */
cudaError_t fa_cuda_fill_rows (FaDType y_dtype, void *y, FaDType bias_dtype, const void *bias,
                               int64_t rows, int64_t cols, cudaStream_t stream);

/* ---- the linear ----
 * y[m, n] = x[m, k] · w[n, k]ᵀ + bias[n]   (w in PyTorch Linear layout)
 * The GEMM is cuBLAS with bf16 operands and float32 accumulation; f32 x or w
 * are rounded to bf16 into @scratch first. x, w, bias and y are each f32 or
 * bf16, independently; @bias may be NULL. */

/* Bytes of scratch that fa_cuda_linear needs: room for x and w in bf16 when
 * they come as f32. */
size_t fa_cuda_linear_scratch_size (FaDType x_dtype, FaDType w_dtype, int64_t m, int64_t k,
                                    int64_t n);

/* Which call failed, and how: for messages. */
typedef struct {
  const char *call;             /* NULL when nothing failed */
  cudaError_t cuda_error;       /* cudaSuccess when the failure was cuBLAS's */
  cublasStatus_t cublas_status; /* CUBLAS_STATUS_SUCCESS when it was the runtime's */
} FaCudaStatus;

/* Returns 0, or -1 with @status filled in. Binds @blas to @stream. @scratch
 * holds at least fa_cuda_linear_scratch_size() bytes (NULL when that is 0)
 * and must not be in use by other work on another stream. @y must not
 * overlap x or w (it receives the bias before the GEMM reads them). m, k and
 * n must each fit in an int (cuBLAS's 32-bit interface). */
int fa_cuda_linear (cublasHandle_t blas, cudaStream_t stream,
                    FaDType x_dtype, const void *x, FaDType w_dtype, const void *w,
                    FaDType bias_dtype, const void *bias, FaDType y_dtype, void *y,
                    int64_t m, int64_t k, int64_t n,
                    void *scratch, size_t scratch_size, FaCudaStatus *status);

#ifdef __cplusplus
}
#endif
