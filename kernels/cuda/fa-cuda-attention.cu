/* fa-cuda-attention.cu: multi-head attention, two ways.
 *
 * Flash (fa_cuda_attention): a block of 128 threads takes 64 queries of one
 * head of one batch element and walks the keys in tiles of 64 through shared
 * memory, keeping per query a running maximum, a running sum and the
 * unnormalised output (the online softmax), so that no n × m matrix exists
 * anywhere. Everything is float32 on CUDA cores (bf16 operands are widened
 * as they are loaded); the scale is folded into the queries.
 *
 * Thread layout: 16 row groups × 8 column groups. Thread (g, c) owns query
 * rows 4g … 4g+3 of the block; of a tile's 64 scores per row it computes
 * columns c, c+8, …, c+56, and of the output it accumulates head dimensions
 * c, c+8, …, c + 8·(head_dim/8 − 1), which is why head_dim must be a
 * multiple of 8 (at most 128: 16 accumulators per row). The eight threads
 * of a row group are eight consecutive lanes of one warp, so the row maxima
 * and sums are three shuffles. Per key tile:
 *   K → shared; scores S = Q·Kᵀ (register tile 4 × 8 per thread);
 *   new maximum, rescale of the running sum and accumulators, P = exp(S −
 *   max) → shared; V → shared (over K, which is no longer read);
 *   accumulators += P·V.
 * Shared-memory rows have odd strides (head_dim + 1) or a stride of 66 for
 * P, which keeps every access of a warp on distinct banks or broadcast.
 * Simple rather than fast: with FA_CUDA_ATTENTION=mma, bf16 with head_dim
 * 64 or 128 on sm_80 and newer goes to the tensor-core kernel of
 * fa-cuda-attention-mma.cu instead (see fa_cuda_attention).
 *
 * Explicit (fa_cuda_attention_logits / _apply): cuBLAS float32 GEMMs per
 * head into a [heads, n, m] logits buffer, the row softmax of
 * fa-cuda-rows.cu in place, then a GEMM with v. For a caller that must see
 * or change the logits, and for head sizes the flash kernel does not take.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "fa-cuda-common.cuh"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

namespace fa_cuda {

/* fa-cuda-attention-mma.cu: the tensor-core kernel, bf16, head_dim 64 or
 * 128, sm_80 and newer, 16-byte aligned operands */
cudaError_t flash_attention_mma_bf16 (const void *q, const void *k, const void *v, void *out,
                                      int64_t batch, int64_t n, int64_t m, int64_t heads,
                                      int64_t head_dim, float scale, cudaStream_t stream);

namespace {

constexpr int kFlashRows = 64;     /* queries per block */
constexpr int kFlashKeys = 64;     /* keys per tile */
constexpr int kFlashThreads = 128; /* 16 row groups × 8 column groups */
constexpr int kFlashGroups = 8;    /* column groups: threads per row group */
constexpr int kFlashRowsPerThread = kFlashRows / (kFlashThreads / kFlashGroups); /* 4 */
constexpr int kFlashKeysPerThread = kFlashKeys / kFlashGroups;                   /* 8 */
constexpr int kFlashMaxHeadDim = 128;
constexpr int kFlashMaxColsPerThread = kFlashMaxHeadDim / kFlashGroups; /* 16 */
constexpr int kFlashProbStride = kFlashKeys + 2;

static_assert (kFlashThreads / kFlashGroups * kFlashRowsPerThread == kFlashRows, "row tiling");
static_assert (kFlashGroups * kFlashKeysPerThread == kFlashKeys, "key tiling");

size_t
flash_shared_bytes (int64_t head_dim)
{
  const size_t ld = (size_t) head_dim + 1;
  return ((size_t) kFlashRows * ld + (size_t) kFlashKeys * ld +
          (size_t) kFlashRows * kFlashProbStride) * sizeof (float);
}

template <typename T>
__global__ void __launch_bounds__ (kFlashThreads)
flash_attention_kernel (const T *__restrict__ q, const T *__restrict__ k, const T *__restrict__ v,
                        T *__restrict__ out, int64_t n, int64_t m, int heads, int head_dim,
                        float scale)
{
  extern __shared__ float smem[];
  const int ld = head_dim + 1;
  float *sq = smem;                /* [kFlashRows][ld], the queries times the scale */
  float *skv = sq + kFlashRows * ld; /* [kFlashKeys][ld]: the tile of K, then of V */
  float *sp = skv + kFlashKeys * ld; /* [kFlashRows][kFlashProbStride]: exp(S − max) */

  const int tid = threadIdx.x;
  const int group = tid / kFlashGroups; /* row group: rows 4·group … 4·group + 3 */
  const int col = tid % kFlashGroups;   /* column group */
  const int cols = head_dim / kFlashGroups;
  const int64_t width = (int64_t) heads * head_dim;
  const int64_t row0 = (int64_t) blockIdx.x * kFlashRows;
  const int64_t head_offset = (int64_t) blockIdx.y * head_dim;
  const T *qb = q + (int64_t) blockIdx.z * n * width + head_offset;
  const T *kb = k + (int64_t) blockIdx.z * m * width + head_offset;
  const T *vb = v + (int64_t) blockIdx.z * m * width + head_offset;
  T *ob = out + (int64_t) blockIdx.z * n * width + head_offset;

  /* Rows past n are zero queries: harmless, and never written back. */
  for (int idx = tid; idx < kFlashRows * head_dim; idx += kFlashThreads)
    {
      const int r = idx / head_dim, d = idx - r * head_dim;
      sq[r * ld + d] = row0 + r < n ? to_f32 (qb[(row0 + r) * width + d]) * scale : 0.0f;
    }

  float acc[kFlashRowsPerThread][kFlashMaxColsPerThread];
  float row_max[kFlashRowsPerThread], row_sum[kFlashRowsPerThread];
#pragma unroll
  for (int i = 0; i < kFlashRowsPerThread; i++)
    {
      row_max[i] = -INFINITY;
      row_sum[i] = 0.0f; /* this thread's columns only; summed over the group at the end */
#pragma unroll
      for (int c = 0; c < kFlashMaxColsPerThread; c++)
        acc[i][c] = 0.0f;
    }

  for (int64_t key0 = 0; key0 < m; key0 += kFlashKeys)
    {
      const int keys = m - key0 < kFlashKeys ? (int) (m - key0) : kFlashKeys;

      /* the previous tile's V and P are read by everyone */
      __syncthreads ();
      for (int idx = tid; idx < kFlashKeys * head_dim; idx += kFlashThreads)
        {
          const int r = idx / head_dim, d = idx - r * head_dim;
          skv[r * ld + d] = r < keys ? to_f32 (kb[(key0 + r) * width + d]) : 0.0f;
        }
      __syncthreads ();

      float s[kFlashRowsPerThread][kFlashKeysPerThread];
#pragma unroll
      for (int i = 0; i < kFlashRowsPerThread; i++)
#pragma unroll
        for (int j = 0; j < kFlashKeysPerThread; j++)
          s[i][j] = 0.0f;
      for (int d = 0; d < head_dim; d++)
        {
          float qv[kFlashRowsPerThread], kv[kFlashKeysPerThread];
#pragma unroll
          for (int i = 0; i < kFlashRowsPerThread; i++)
            qv[i] = sq[(group * kFlashRowsPerThread + i) * ld + d];
#pragma unroll
          for (int j = 0; j < kFlashKeysPerThread; j++)
            kv[j] = skv[(col + kFlashGroups * j) * ld + d];
#pragma unroll
          for (int i = 0; i < kFlashRowsPerThread; i++)
#pragma unroll
            for (int j = 0; j < kFlashKeysPerThread; j++)
              s[i][j] = fmaf (qv[i], kv[j], s[i][j]);
        }

#pragma unroll
      for (int i = 0; i < kFlashRowsPerThread; i++)
        {
          float tile_max = -INFINITY;
#pragma unroll
          for (int j = 0; j < kFlashKeysPerThread; j++)
            {
              if (col + kFlashGroups * j >= keys)
                s[i][j] = -INFINITY;
              tile_max = fmaxf (tile_max, s[i][j]);
            }
          /* column 0 of a tile is always a key, so the group's maximum is
           * finite (for finite inputs) */
#pragma unroll
          for (int offset = 1; offset < kFlashGroups; offset <<= 1)
            tile_max = fmaxf (tile_max, __shfl_xor_sync (0xffffffffu, tile_max, offset));
          const float new_max = fmaxf (row_max[i], tile_max);
          const float correction = expf (row_max[i] - new_max); /* 0 on the first tile */
          row_max[i] = new_max;

          float part = 0.0f;
          float *prow = sp + (group * kFlashRowsPerThread + i) * kFlashProbStride;
#pragma unroll
          for (int j = 0; j < kFlashKeysPerThread; j++)
            {
              const float p = expf (s[i][j] - new_max);
              part += p;
              prow[col + kFlashGroups * j] = p;
            }
          row_sum[i] = row_sum[i] * correction + part;
#pragma unroll
          for (int c = 0; c < kFlashMaxColsPerThread; c++)
            acc[i][c] *= correction;
        }

      /* P complete, K no longer read: V goes where K was */
      __syncthreads ();
      for (int idx = tid; idx < keys * head_dim; idx += kFlashThreads)
        {
          const int r = idx / head_dim, d = idx - r * head_dim;
          skv[r * ld + d] = to_f32 (vb[(key0 + r) * width + d]);
        }
      __syncthreads ();

      for (int key = 0; key < keys; key++)
        {
          float pv[kFlashRowsPerThread];
#pragma unroll
          for (int i = 0; i < kFlashRowsPerThread; i++)
            pv[i] = sp[(group * kFlashRowsPerThread + i) * kFlashProbStride + key];
#pragma unroll
          for (int c = 0; c < kFlashMaxColsPerThread; c++)
            if (c < cols)
              {
                const float vv = skv[key * ld + col + kFlashGroups * c];
#pragma unroll
                for (int i = 0; i < kFlashRowsPerThread; i++)
                  acc[i][c] = fmaf (pv[i], vv, acc[i][c]);
              }
        }
    }

#pragma unroll
  for (int i = 0; i < kFlashRowsPerThread; i++)
    {
      float sum = row_sum[i];
#pragma unroll
      for (int offset = 1; offset < kFlashGroups; offset <<= 1)
        sum += __shfl_xor_sync (0xffffffffu, sum, offset);
      const int64_t row = row0 + group * kFlashRowsPerThread + i;
      if (row < n)
        {
          const float inv = 1.0f / sum;
#pragma unroll
          for (int c = 0; c < kFlashMaxColsPerThread; c++)
            if (c < cols)
              ob[row * width + col + kFlashGroups * c] = from_f32<T> (acc[i][c] * inv);
        }
    }
}

template <typename T>
cudaError_t
launch_flash (const void *q, const void *k, const void *v, void *out, int64_t batch, int64_t n,
              int64_t m, int64_t heads, int64_t head_dim, float scale, cudaStream_t stream)
{
  const size_t shared = flash_shared_bytes (head_dim);
  const int64_t width = heads * head_dim;
  /* above the 48 KiB a block gets unasked (83 KB at head_dim 128: within
   * the opt-in limit of every target, 99 KB on sm_86 and sm_89) */
  cudaError_t status = cudaFuncSetAttribute (flash_attention_kernel<T>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             (int) shared);
  if (status != cudaSuccess)
    return status;

  for (int64_t b0 = 0; b0 < batch; b0 += kMaxGridYZ)
    {
      const int64_t nb = batch - b0 < kMaxGridYZ ? batch - b0 : kMaxGridYZ;
      const dim3 grid ((unsigned) ((n + kFlashRows - 1) / kFlashRows), (unsigned) heads,
                       (unsigned) nb);
      flash_attention_kernel<T><<<grid, kFlashThreads, shared, stream>>> (
        (const T *) q + b0 * n * width, (const T *) k + b0 * m * width,
        (const T *) v + b0 * m * width, (T *) out + b0 * n * width, n, m, (int) heads,
        (int) head_dim, scale);
      status = cudaGetLastError ();
      if (status != cudaSuccess)
        return status;
    }
  return cudaSuccess;
}

/* The tensor-core kernel runs when FA_CUDA_ATTENTION=mma and the device
 * is sm_80 or newer (bf16 mma.sync). It is opt-in until tests/gpu/run.sh
 * (which checks it in a second pass with FA_CUDA_ATTENTION=mma) has passed
 * on a device: it was written and compiled without one, and a wrong
 * attention would give wrong edits without any error. The capability is
 * asked once, for the device current at the first call that gets an
 * answer; the process uses one GPU. */
bool
mma_path_enabled ()
{
  static int capable = -1; /* unknown until a query succeeds */
  const char *choice = getenv ("FA_CUDA_ATTENTION");

  if (choice == nullptr || strcmp (choice, "mma") != 0)
    return false;
  if (capable < 0)
    {
      int device = 0, major = 0;
      if (cudaGetDevice (&device) != cudaSuccess ||
          cudaDeviceGetAttribute (&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess)
        return false;
      capable = major >= 8;
    }
  return capable != 0;
}

bool
explicit_args_ok (int64_t n, int64_t m, int64_t heads, int64_t head_dim)
{
  return n >= 0 && m >= 0 && heads >= 0 && head_dim >= 0 && n <= INT_MAX && m <= INT_MAX &&
         heads <= INT_MAX && head_dim <= INT_MAX && heads * head_dim <= INT_MAX;
}

} /* namespace */
} /* namespace fa_cuda */

using namespace fa_cuda;

extern "C" int
fa_cuda_attention_supports (int64_t head_dim)
{
  return head_dim > 0 && head_dim <= kFlashMaxHeadDim && head_dim % kFlashGroups == 0;
}

extern "C" cudaError_t
fa_cuda_attention (FaDType dtype, const void *q, const void *k, const void *v, void *out,
                   int64_t batch, int64_t n, int64_t m, int64_t heads, int64_t head_dim, float scale,
                   cudaStream_t stream)
{
  if ((dtype != FA_DTYPE_F32 && dtype != FA_DTYPE_BF16) || batch < 0 || n < 0 || m < 0 ||
      heads < 0 || heads > kMaxGridYZ || !fa_cuda_attention_supports (head_dim) ||
      heads * head_dim > INT_MAX || (n + kFlashRows - 1) / kFlashRows > INT_MAX)
    return cudaErrorInvalidValue;
  if (batch == 0 || n == 0 || heads == 0)
    return cudaSuccess;
  if (m == 0) /* a softmax over no keys */
    return cudaErrorInvalidValue;
  /* cp.async moves 16-byte chunks: the rows (head_dim·2 bytes apart) are
   * aligned when the bases are */
  if (dtype == FA_DTYPE_BF16 && (head_dim == 128 || head_dim == 64) && is_aligned (q, 16) &&
      is_aligned (k, 16) && is_aligned (v, 16) && is_aligned (out, 16) && mma_path_enabled ())
    return flash_attention_mma_bf16 (q, k, v, out, batch, n, m, heads, head_dim, scale, stream);
  if (dtype == FA_DTYPE_F32)
    return launch_flash<float> (q, k, v, out, batch, n, m, heads, head_dim, scale, stream);
  return launch_flash<bf16> (q, k, v, out, batch, n, m, heads, head_dim, scale, stream);
}

extern "C" int
fa_cuda_attention_logits (cublasHandle_t blas, cudaStream_t stream, const float *q, const float *k,
                          float *logits, int64_t n, int64_t m, int64_t heads, int64_t head_dim,
                          float scale, FaCudaStatus *status)
{
  const float zero = 0.0f;

  status->call = nullptr;
  status->cuda_error = cudaSuccess;
  status->cublas_status = CUBLAS_STATUS_SUCCESS;

  if (!explicit_args_ok (n, m, heads, head_dim))
    return fail_cuda (status, "fa_cuda_attention_logits (size)", cudaErrorInvalidValue);
  if (n == 0 || m == 0 || heads == 0)
    return 0;
  if (head_dim == 0)
    {
      cudaError_t error = cudaMemsetAsync (logits, 0, (size_t) (heads * n * m) * sizeof (float), stream);
      return error == cudaSuccess ? 0 : fail_cuda (status, "cudaMemsetAsync (logits)", error);
    }

  cublasStatus_t blas_status = cublasSetStream (blas, stream);
  if (blas_status != CUBLAS_STATUS_SUCCESS)
    return fail_cublas (status, "cublasSetStream", blas_status);

  /* Per head, as fa_cuda_linear lays it out: row-major logits_h [n, m] =
   * q_h [n, d] · k_h [m, d]ᵀ is column-major logits_hᵀ (m × n, ld m) =
   * k_h · q_hᵀ, with k_h read column-major as k_hᵀ (d × m, ld width, so
   * op = transpose) and q_h as q_hᵀ (d × n, ld width). */
  const int width = (int) (heads * head_dim);
  for (int64_t h = 0; h < heads; h++)
    {
      blas_status = cublasGemmEx (blas, CUBLAS_OP_T, CUBLAS_OP_N, (int) m, (int) n, (int) head_dim,
                                  &scale, k + h * head_dim, CUDA_R_32F, width,
                                  q + h * head_dim, CUDA_R_32F, width,
                                  &zero, logits + h * n * m, CUDA_R_32F, (int) m,
                                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
      if (blas_status != CUBLAS_STATUS_SUCCESS)
        return fail_cublas (status, "cublasGemmEx (q·kᵀ)", blas_status);
    }
  return 0;
}

extern "C" int
fa_cuda_attention_apply (cublasHandle_t blas, cudaStream_t stream, float *logits, const float *v,
                         float *out, int64_t n, int64_t m, int64_t heads, int64_t head_dim,
                         FaCudaStatus *status)
{
  const float one = 1.0f, zero = 0.0f;

  status->call = nullptr;
  status->cuda_error = cudaSuccess;
  status->cublas_status = CUBLAS_STATUS_SUCCESS;

  if (!explicit_args_ok (n, m, heads, head_dim) || (m == 0 && n > 0 && heads > 0))
    return fail_cuda (status, "fa_cuda_attention_apply (size)", cudaErrorInvalidValue);
  if (n == 0 || heads == 0)
    return 0;

  cudaError_t error = fa_cuda_softmax (FA_DTYPE_F32, logits, logits, heads * n, m, stream);
  if (error != cudaSuccess)
    return fail_cuda (status, "fa_cuda_softmax (logits)", error);
  if (head_dim == 0)
    return 0;

  cublasStatus_t blas_status = cublasSetStream (blas, stream);
  if (blas_status != CUBLAS_STATUS_SUCCESS)
    return fail_cublas (status, "cublasSetStream", blas_status);

  /* Row-major out_h [n, d] (ld width) = p_h [n, m] · v_h [m, d]: column-major
   * out_hᵀ (d × n) = v_hᵀ (d × m: v_h read column-major, ld width) ·
   * p_hᵀ (m × n: p_h read column-major, ld m); no transposes. */
  const int width = (int) (heads * head_dim);
  for (int64_t h = 0; h < heads; h++)
    {
      blas_status = cublasGemmEx (blas, CUBLAS_OP_N, CUBLAS_OP_N, (int) head_dim, (int) n, (int) m,
                                  &one, v + h * head_dim, CUDA_R_32F, width,
                                  logits + h * n * m, CUDA_R_32F, (int) m,
                                  &zero, out + h * head_dim, CUDA_R_32F, width,
                                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
      if (blas_status != CUBLAS_STATUS_SUCCESS)
        return fail_cublas (status, "cublasGemmEx (p·v)", blas_status);
    }
  return 0;
}
