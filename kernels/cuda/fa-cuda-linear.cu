/* fa-cuda-linear.cu: y = x·Wᵀ + bias through cuBLAS, bf16 operands with
 * float32 accumulation (what the Wan reference does in bf16 autocast).
 *
 * Host code only; it lives with the kernels so that the standalone GPU check
 * (tests/gpu) runs the very same GEMM call as the engine.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "fa-cuda-common.cuh"

#include <limits.h>

using fa_cuda::fail_cublas;
using fa_cuda::fail_cuda;

namespace {

/* cuBLAS wants its operands where a 16-byte (better: 256-byte) boundary
 * starts, so each part of the scratch does. */
size_t
round_up_256 (size_t bytes)
{
  return (bytes + 255) & ~(size_t) 255;
}

bool
takes (FaDType dtype)
{
  return dtype == FA_DTYPE_F32 || dtype == FA_DTYPE_BF16;
}

} /* namespace */

extern "C" size_t
fa_cuda_linear_scratch_size (FaDType x_dtype, FaDType w_dtype, int64_t m, int64_t k, int64_t n)
{
  size_t bytes = 0;

  if (m < 0 || k < 0 || n < 0)
    return 0;
  if (x_dtype == FA_DTYPE_F32)
    bytes += round_up_256 ((size_t) m * (size_t) k * 2);
  if (w_dtype == FA_DTYPE_F32)
    bytes += round_up_256 ((size_t) n * (size_t) k * 2);
  return bytes;
}

extern "C" int
fa_cuda_linear (cublasHandle_t blas, cudaStream_t stream,
                FaDType x_dtype, const void *x, FaDType w_dtype, const void *w,
                FaDType bias_dtype, const void *bias, FaDType y_dtype, void *y,
                int64_t m, int64_t k, int64_t n,
                void *scratch, size_t scratch_size, FaCudaStatus *status)
{
  cudaError_t error;

  status->call = nullptr;
  status->cuda_error = cudaSuccess;
  status->cublas_status = CUBLAS_STATUS_SUCCESS;

  if (!takes (x_dtype) || !takes (w_dtype) || !takes (y_dtype) || (bias && !takes (bias_dtype)))
    return fail_cuda (status, "fa_cuda_linear (dtype)", cudaErrorInvalidValue);
  if (m < 0 || k < 0 || n < 0 || m > INT_MAX || k > INT_MAX || n > INT_MAX)
    return fail_cuda (status, "fa_cuda_linear (size)", cudaErrorInvalidValue);
  if (scratch_size < fa_cuda_linear_scratch_size (x_dtype, w_dtype, m, k, n))
    return fail_cuda (status, "fa_cuda_linear (scratch)", cudaErrorInvalidValue);
  if (m == 0 || n == 0)
    return 0;

  /* An empty sum: y is the bias, or zero (all-zero bits in f32 and bf16). */
  if (k == 0)
    {
      if (bias != nullptr)
        error = fa_cuda_fill_rows (y_dtype, y, bias_dtype, bias, m, n, stream);
      else
        error = cudaMemsetAsync (y, 0, (size_t) m * (size_t) n * fa_dtype_size (y_dtype), stream);
      return error == cudaSuccess ? 0 : fail_cuda (status, "fa_cuda_fill_rows", error);
    }

  /* f32 operands are rounded to bf16 (nearest even) first. */
  char *next = (char *) scratch;
  const void *xb = x, *wb = w;
  if (x_dtype == FA_DTYPE_F32)
    {
      error = fa_cuda_convert (x, FA_DTYPE_F32, next, FA_DTYPE_BF16, m * k, stream);
      if (error != cudaSuccess)
        return fail_cuda (status, "fa_cuda_convert (x to bf16)", error);
      xb = next;
      next += round_up_256 ((size_t) m * (size_t) k * 2);
    }
  if (w_dtype == FA_DTYPE_F32)
    {
      error = fa_cuda_convert (w, FA_DTYPE_F32, next, FA_DTYPE_BF16, n * k, stream);
      if (error != cudaSuccess)
        return fail_cuda (status, "fa_cuda_convert (weight to bf16)", error);
      wb = next;
    }

  /* The bias goes into y first and the GEMM adds onto it (beta = 1). With
   * an f32 y the sum is rounded once, as a fused epilogue would; with a
   * bf16 y the bias is rounded to bf16 first, then the sum again (every
   * current caller passes an f32 y). */
  float alpha = 1.0f, beta = 0.0f;
  if (bias != nullptr)
    {
      error = fa_cuda_fill_rows (y_dtype, y, bias_dtype, bias, m, n, stream);
      if (error != cudaSuccess)
        return fail_cuda (status, "fa_cuda_fill_rows (bias)", error);
      beta = 1.0f;
    }

  cublasStatus_t blas_status = cublasSetStream (blas, stream);
  if (blas_status != CUBLAS_STATUS_SUCCESS)
    return fail_cublas (status, "cublasSetStream", blas_status);

  /* cuBLAS is column-major. Row-major y[m, n] is column-major yᵀ (n × m,
   * ld n), and yᵀ = W · xᵀ. Row-major W[n, k] read column-major is Wᵀ
   * (k × n, ld k), so op(A) = transpose; row-major x[m, k] read column-major
   * is already xᵀ (k × m, ld k), so op(B) = none. This "TN" form is also the
   * one cuBLAS runs fastest: both operands are K-contiguous. */
  blas_status = cublasGemmEx (blas, CUBLAS_OP_T, CUBLAS_OP_N,
                              (int) n, (int) m, (int) k,
                              &alpha,
                              wb, CUDA_R_16BF, (int) k,
                              xb, CUDA_R_16BF, (int) k,
                              &beta,
                              y, y_dtype == FA_DTYPE_F32 ? CUDA_R_32F : CUDA_R_16BF, (int) n,
                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  if (blas_status != CUBLAS_STATUS_SUCCESS)
    return fail_cublas (status, "cublasGemmEx", blas_status);
  return 0;
}
