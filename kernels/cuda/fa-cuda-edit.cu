/* fa-cuda-edit.cu: the CUDA kernels of the FlowAnchor edit: Philox noise,
 * SAR on the cross-attention logits, and the loop's element-wise formulas.
 * The arithmetic is the CPU's (kernels/cpu/fa-cpu-edit.h), so the two
 * differ by nothing but the order of reductions.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "fa-cuda-common.cuh"
#include "fa-cuda-edit.h"

#include "cpu/fa-cpu-edit.h"

using namespace fa_cuda;

namespace {

constexpr int kSarRowsPerBlock = 8; /* one warp per row */
constexpr int kSarColumnThreads = 256;
constexpr int64_t kSarChunkRows = 1024;
constexpr int kSarMaxChunks = 128;

__global__ void
noise_kernel (uint64_t seed, uint32_t step, uint32_t draw, float *out, int64_t n)
{
  const int64_t groups = (n + 3) / 4;
  for (int64_t g = blockIdx.x * (int64_t) blockDim.x + threadIdx.x; g < groups;
       g += (int64_t) gridDim.x * blockDim.x)
    {
      float v[4];
      fa_edit_noise_group (seed, step, draw, (uint64_t) g, v);
      for (int lane = 0; lane < 4 && 4 * g + lane < n; lane++)
        out[4 * g + lane] = v[lane];
    }
}

/* Step 1: a warp per (head, token) row of an edited token. */
__global__ void
sar_rows_kernel (float *logits, int64_t heads, int64_t n, int64_t l, int64_t n_real,
                 const uint8_t *mask, const uint8_t *in_j, float beta1)
{
  const int lane = threadIdx.x & 31;
  const int64_t row = blockIdx.x * (int64_t) kSarRowsPerBlock + (threadIdx.x >> 5);
  if (row >= heads * n || !mask[row % n])
    return;
  float *a = logits + row * l;

  float top = -INFINITY, bottom = INFINITY;
  for (int64_t j = lane; j < n_real; j += 32)
    {
      top = fmaxf (top, a[j]);
      bottom = fminf (bottom, a[j]);
    }
  for (int offset = 16; offset > 0; offset >>= 1)
    {
      top = fmaxf (top, __shfl_xor_sync (0xffffffffu, top, offset));
      bottom = fminf (bottom, __shfl_xor_sync (0xffffffffu, bottom, offset));
    }
  for (int64_t j = lane; j < n_real; j += 32)
    a[j] = in_j[j] ? fa_edit_pull_up (a[j], top, beta1) : fa_edit_pull_down (a[j], bottom, beta1);
}

/* The maximum and minimum of one target column over one chunk of rows,
 * reduced in the block: both into @partial[0..1]. */
__device__ void
column_extremes (const float *head, int64_t l, int64_t j, int64_t r0, int64_t r1, float *partial)
{
  __shared__ float tops[kSarColumnThreads / 32], bottoms[kSarColumnThreads / 32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;

  float top = -INFINITY, bottom = INFINITY;
  for (int64_t i = r0 + threadIdx.x; i < r1; i += blockDim.x)
    {
      const float a = head[i * l + j];
      top = fmaxf (top, a);
      bottom = fminf (bottom, a);
    }
  for (int offset = 16; offset > 0; offset >>= 1)
    {
      top = fmaxf (top, __shfl_xor_sync (0xffffffffu, top, offset));
      bottom = fminf (bottom, __shfl_xor_sync (0xffffffffu, bottom, offset));
    }
  if (lane == 0)
    {
      tops[warp] = top;
      bottoms[warp] = bottom;
    }
  __syncthreads ();
  if (threadIdx.x == 0)
    {
      for (int w = 1; w < (int) (blockDim.x >> 5); w++)
        {
          top = fmaxf (top, tops[w]);
          bottom = fminf (bottom, bottoms[w]);
        }
      partial[0] = top;
      partial[1] = bottom;
    }
}

/* Step 2, first pass: grid (chunks, target columns, heads). */
__global__ void
sar_column_partial_kernel (const float *logits, int64_t n, int64_t l, const int32_t *j_list,
                           int64_t n_j, int64_t chunk_rows, float *scratch)
{
  const int64_t chunk = blockIdx.x, jj = blockIdx.y, h = blockIdx.z;
  const int64_t chunks = gridDim.x;
  const int64_t r0 = chunk * chunk_rows, r1 = min (n, r0 + chunk_rows);

  column_extremes (logits + h * n * l, l, j_list[jj], r0, r1,
                   scratch + ((h * n_j + jj) * chunks + chunk) * 2);
}

/* Step 2, second pass: each block reduces its column's partials, then
 * modulates its chunk of that column. */
__global__ void
sar_column_apply_kernel (float *logits, int64_t n, int64_t l, const uint8_t *mask,
                         const int32_t *j_list, int64_t n_j, int64_t chunk_rows, float beta2,
                         const float *scratch)
{
  __shared__ float extremes[2];
  const int64_t chunk = blockIdx.x, jj = blockIdx.y, h = blockIdx.z;
  const int64_t chunks = gridDim.x;
  const float *partial = scratch + (h * n_j + jj) * chunks * 2;

  if (threadIdx.x == 0)
    {
      float top = partial[0], bottom = partial[1];
      for (int64_t c = 1; c < chunks; c++)
        {
          top = fmaxf (top, partial[2 * c]);
          bottom = fminf (bottom, partial[2 * c + 1]);
        }
      extremes[0] = top;
      extremes[1] = bottom;
    }
  __syncthreads ();
  const float top = extremes[0], bottom = extremes[1];
  const int64_t j = j_list[jj];
  float *head = logits + h * n * l;
  const int64_t r0 = chunk * chunk_rows, r1 = min (n, r0 + chunk_rows);
  for (int64_t i = r0 + threadIdx.x; i < r1; i += blockDim.x)
    {
      float *a = head + i * l + j;
      *a = mask[i] ? fa_edit_pull_up (*a, top, beta2) : fa_edit_pull_down (*a, bottom, beta2);
    }
}

#define FOR_EACH(i, n)                                                                             \
  for (int64_t i = blockIdx.x * (int64_t) blockDim.x + threadIdx.x; i < (n);                        \
       i += (int64_t) gridDim.x * blockDim.x)

__global__ void
noised_kernel (const float *x, const float *z_edit, const float *noise, float sigma, float *z_src,
               float *z_tar, int64_t n)
{
  FOR_EACH (i, n)
    {
      const float s = fa_edit_noised (x[i], noise[i], sigma);
      z_src[i] = s;
      if (z_tar != NULL)
        z_tar[i] = fa_edit_shifted (z_edit[i], s, x[i]);
    }
}

__global__ void
accumulate_kernel (const float *velocity, float s_src, float s_tar, float *dv, int first, int64_t n)
{
  FOR_EACH (i, n)
    {
      const float d = fa_edit_sub (fa_edit_cfg (velocity[2 * n + i], velocity[3 * n + i], s_tar),
                                   fa_edit_cfg (velocity[i], velocity[n + i], s_src));
      dv[i] = first ? d : fa_edit_add (dv[i], d);
    }
}

__global__ void
divide_kernel (float *dv, float divisor, int64_t n)
{
  FOR_EACH (i, n)
    dv[i] = __fdiv_rn (dv[i], divisor);
}

__global__ void
euler_kernel (float *z, const float *v, float dt, int64_t n)
{
  FOR_EACH (i, n)
    z[i] = fa_edit_add (z[i], fa_edit_mul (dt, v[i]));
}

__global__ void
plain_kernel (float *z, const float *velocity, float scale, float sigma, float dt, float *estimate,
              int64_t n)
{
  FOR_EACH (i, n)
    {
      const float v = fa_edit_cfg (velocity[i], velocity[n + i], scale);
      if (estimate != NULL)
        estimate[i] = fa_edit_sub (z[i], fa_edit_mul (sigma, v));
      z[i] = fa_edit_add (z[i], fa_edit_mul (dt, v));
    }
}

__global__ void
blend_kernel (float *z, const float *x, const uint8_t *outside, float w, int64_t channels,
              int64_t plane)
{
  FOR_EACH (i, channels * plane)
    if (outside[i % plane])
      z[i] = fa_edit_add (z[i], fa_edit_mul (w, fa_edit_sub (x[i], z[i])));
}

#undef FOR_EACH

} /* namespace */

extern "C" int
fa_cuda_edit_sar_chunks (int64_t n)
{
  int64_t chunks = (n + kSarChunkRows - 1) / kSarChunkRows;
  return (int) (chunks < 1 ? 1 : chunks > kSarMaxChunks ? kSarMaxChunks : chunks);
}

extern "C" int64_t
fa_cuda_edit_sar_scratch_floats (int64_t heads, int64_t n, int64_t n_j)
{
  return heads * (n_j > 0 ? n_j : 1) * fa_cuda_edit_sar_chunks (n) * 2;
}

extern "C" cudaError_t
fa_cuda_edit_noise (uint64_t seed, uint32_t step, uint32_t draw, float *out, int64_t n,
                    cudaStream_t stream)
{
  noise_kernel<<<elementwise_blocks ((n + 3) / 4), kElementwiseThreads, 0, stream>>> (seed, step, draw,
                                                                                       out, n);
  return cudaGetLastError ();
}

extern "C" cudaError_t
fa_cuda_edit_sar (float *logits, int64_t heads, int64_t n, int64_t l, int64_t n_real,
                  const uint8_t *mask, const uint8_t *in_j, const int32_t *j_list, int64_t n_j,
                  float beta1, float beta2, float *scratch, cudaStream_t stream)
{
  if (n_j == 0 || heads == 0 || n == 0)
    return cudaSuccess;
  if (heads > kMaxGridYZ || n_j > kMaxGridYZ)
    return cudaErrorInvalidValue;

  const int64_t rows = heads * n;
  sar_rows_kernel<<<(unsigned) ((rows + kSarRowsPerBlock - 1) / kSarRowsPerBlock),
                    32 * kSarRowsPerBlock, 0, stream>>> (logits, heads, n, l, n_real, mask, in_j,
                                                         beta1);
  cudaError_t status = cudaGetLastError ();
  if (status != cudaSuccess)
    return status;

  const int chunks = fa_cuda_edit_sar_chunks (n);
  const int64_t chunk_rows = (n + chunks - 1) / chunks;
  const dim3 grid ((unsigned) chunks, (unsigned) n_j, (unsigned) heads);
  sar_column_partial_kernel<<<grid, kSarColumnThreads, 0, stream>>> (logits, n, l, j_list, n_j,
                                                                     chunk_rows, scratch);
  status = cudaGetLastError ();
  if (status != cudaSuccess)
    return status;
  sar_column_apply_kernel<<<grid, kSarColumnThreads, 0, stream>>> (logits, n, l, mask, j_list, n_j,
                                                                   chunk_rows, beta2, scratch);
  return cudaGetLastError ();
}

extern "C" cudaError_t
fa_cuda_edit_noised (const float *x, const float *z_edit, const float *noise, float sigma,
                     float *z_src, float *z_tar, int64_t n, cudaStream_t stream)
{
  noised_kernel<<<elementwise_blocks (n), kElementwiseThreads, 0, stream>>> (x, z_edit, noise, sigma,
                                                                             z_src, z_tar, n);
  return cudaGetLastError ();
}

extern "C" cudaError_t
fa_cuda_edit_accumulate (const float *velocity, float s_src, float s_tar, float *dv, int first,
                         int64_t n, cudaStream_t stream)
{
  accumulate_kernel<<<elementwise_blocks (n), kElementwiseThreads, 0, stream>>> (velocity, s_src,
                                                                                 s_tar, dv, first, n);
  return cudaGetLastError ();
}

extern "C" cudaError_t
fa_cuda_edit_divide (float *dv, float divisor, int64_t n, cudaStream_t stream)
{
  divide_kernel<<<elementwise_blocks (n), kElementwiseThreads, 0, stream>>> (dv, divisor, n);
  return cudaGetLastError ();
}

extern "C" cudaError_t
fa_cuda_edit_euler (float *z, const float *v, float dt, int64_t n, cudaStream_t stream)
{
  euler_kernel<<<elementwise_blocks (n), kElementwiseThreads, 0, stream>>> (z, v, dt, n);
  return cudaGetLastError ();
}

extern "C" cudaError_t
fa_cuda_edit_plain (float *z, const float *velocity, float scale, float sigma, float dt,
                    float *estimate, int64_t n, cudaStream_t stream)
{
  plain_kernel<<<elementwise_blocks (n), kElementwiseThreads, 0, stream>>> (z, velocity, scale, sigma,
                                                                            dt, estimate, n);
  return cudaGetLastError ();
}

extern "C" cudaError_t
fa_cuda_edit_blend (float *z, const float *x, const uint8_t *outside, float w, int64_t channels,
                    int64_t plane, cudaStream_t stream)
{
  blend_kernel<<<elementwise_blocks (channels * plane), kElementwiseThreads, 0, stream>>> (
    z, x, outside, w, channels, plane);
  return cudaGetLastError ();
}
