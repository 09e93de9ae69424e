/* fa-cuda-rows.cu: the kernels that reduce over the last axis: layer norm,
 * RMS norm and softmax.
 *
 * One block per row (a grid-stride loop over rows when there are more rows
 * than blocks). The statistics are float32 block reductions of per-thread
 * partial sums, which keeps rows of 8960 well inside the 1e-5 tolerance
 * against float64; the layer norm takes two passes (mean, then the squared
 * deviations) rather than E[x²] − E[x]², which cancels badly when the mean
 * is large against the spread.
 *
 * Each thread visits the same elements in every pass, so when the row fits
 * in shared memory a thread parks its own float32 values there on the first
 * pass and later passes read them back without touching global memory, and
 * without any barrier beyond the reductions'. Rows that do not fit re-read
 * global memory (mostly from L2).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "fa-cuda-common.cuh"

namespace fa_cuda {
namespace {

/* Rows up to this many columns are cached in (dynamic) shared memory: 44 KiB,
 * under the 48 KiB a block gets without opting in, with room for the
 * reduction scratch. */
constexpr int64_t kMaxCachedCols = 11264;
constexpr int kMaxRowThreads = 512;

/* The cache is laid out [V][npack] so that the threads of a warp, which hold
 * consecutive packs, touch consecutive words: no bank conflicts. */
template <typename T, int V, bool CACHE>
__device__ __forceinline__ void
load_row (const T *row, const float *cache, int64_t npack, int64_t p, float (&f)[V])
{
  if constexpr (CACHE)
    {
#pragma unroll
      for (int i = 0; i < V; i++)
        f[i] = cache[i * npack + p];
    }
  else
    load_pack<T, V> (row + p * V, f);
}

template <int V, bool CACHE>
__device__ __forceinline__ void
park_row (float *cache, int64_t npack, int64_t p, const float (&f)[V])
{
  if constexpr (CACHE)
    {
#pragma unroll
      for (int i = 0; i < V; i++)
        cache[i * npack + p] = f[i];
    }
}

template <typename T, int V, bool CACHE>
__global__ void
layer_norm_kernel (const T *x, const T *gamma, const T *beta, T *y, int64_t rows, int64_t cols,
                   float eps)
{
  extern __shared__ float cache[];
  __shared__ float red[32];
  const int64_t npack = cols / V;

  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x)
    {
      const T *xr = x + r * cols;
      T *yr = y + r * cols;

      float sum = 0.0f;
      for (int64_t p = threadIdx.x; p < npack; p += blockDim.x)
        {
          float f[V];
          load_pack<T, V> (xr + p * V, f);
          park_row<V, CACHE> (cache, npack, p, f);
#pragma unroll
          for (int i = 0; i < V; i++)
            sum += f[i];
        }
      const float mean = block_sum (sum, red) / (float) cols;

      float sum_sq = 0.0f;
      for (int64_t p = threadIdx.x; p < npack; p += blockDim.x)
        {
          float f[V];
          load_row<T, V, CACHE> (xr, cache, npack, p, f);
#pragma unroll
          for (int i = 0; i < V; i++)
            {
              const float d = f[i] - mean;
              sum_sq += d * d;
            }
        }
      const float var = block_sum (sum_sq, red) / (float) cols;
      const float inv_std = 1.0f / sqrtf (var + eps);

      for (int64_t p = threadIdx.x; p < npack; p += blockDim.x)
        {
          float f[V];
          load_row<T, V, CACHE> (xr, cache, npack, p, f);
#pragma unroll
          for (int i = 0; i < V; i++)
            f[i] = (f[i] - mean) * inv_std;
          if (gamma != nullptr)
            {
              float g[V];
              load_pack<T, V> (gamma + p * V, g);
#pragma unroll
              for (int i = 0; i < V; i++)
                f[i] *= g[i];
            }
          if (beta != nullptr)
            {
              float b[V];
              load_pack<T, V> (beta + p * V, b);
#pragma unroll
              for (int i = 0; i < V; i++)
                f[i] += b[i];
            }
          store_pack<T, V> (yr + p * V, f);
        }
    }
}

template <typename T, int V, bool CACHE>
__global__ void
rms_norm_kernel (const T *x, const T *gamma, T *y, int64_t rows, int64_t cols, float eps)
{
  extern __shared__ float cache[];
  __shared__ float red[32];
  const int64_t npack = cols / V;

  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x)
    {
      const T *xr = x + r * cols;
      T *yr = y + r * cols;

      float sum_sq = 0.0f;
      for (int64_t p = threadIdx.x; p < npack; p += blockDim.x)
        {
          float f[V];
          load_pack<T, V> (xr + p * V, f);
          park_row<V, CACHE> (cache, npack, p, f);
#pragma unroll
          for (int i = 0; i < V; i++)
            sum_sq += f[i] * f[i];
        }
      const float inv_rms = 1.0f / sqrtf (block_sum (sum_sq, red) / (float) cols + eps);

      for (int64_t p = threadIdx.x; p < npack; p += blockDim.x)
        {
          float f[V];
          load_row<T, V, CACHE> (xr, cache, npack, p, f);
#pragma unroll
          for (int i = 0; i < V; i++)
            f[i] *= inv_rms;
          if (gamma != nullptr)
            {
              float g[V];
              load_pack<T, V> (gamma + p * V, g);
#pragma unroll
              for (int i = 0; i < V; i++)
                f[i] *= g[i];
            }
          store_pack<T, V> (yr + p * V, f);
        }
    }
}

template <typename T, int V, bool CACHE>
__global__ void
softmax_kernel (const T *x, T *y, int64_t rows, int64_t cols)
{
  extern __shared__ float cache[];
  __shared__ float red[32];
  const int64_t npack = cols / V;

  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x)
    {
      const T *xr = x + r * cols;
      T *yr = y + r * cols;

      float max = -INFINITY;
      for (int64_t p = threadIdx.x; p < npack; p += blockDim.x)
        {
          float f[V];
          load_pack<T, V> (xr + p * V, f);
          park_row<V, CACHE> (cache, npack, p, f);
#pragma unroll
          for (int i = 0; i < V; i++)
            max = fmaxf (max, f[i]);
        }
      max = block_max (max, red);

      /* The cache now takes the exponentials, so the last pass only scales. */
      float sum = 0.0f;
      for (int64_t p = threadIdx.x; p < npack; p += blockDim.x)
        {
          float f[V];
          load_row<T, V, CACHE> (xr, cache, npack, p, f);
#pragma unroll
          for (int i = 0; i < V; i++)
            {
              f[i] = expf (f[i] - max);
              sum += f[i];
            }
          park_row<V, CACHE> (cache, npack, p, f);
        }
      const float inv = 1.0f / block_sum (sum, red);

      for (int64_t p = threadIdx.x; p < npack; p += blockDim.x)
        {
          float f[V];
          load_row<T, V, CACHE> (xr, cache, npack, p, f);
#pragma unroll
          for (int i = 0; i < V; i++)
            f[i] = (CACHE ? f[i] : expf (f[i] - max)) * inv;
          store_pack<T, V> (yr + p * V, f);
        }
    }
}

/* ---- launch ---- */

struct RowLaunch
{
  dim3 grid, block;
  size_t shared_bytes;
  bool cache;
};

static RowLaunch
row_launch (int64_t rows, int64_t cols, int v)
{
  RowLaunch l;
  int64_t npack = cols / v;
  int64_t threads = (npack + 31) / 32 * 32;

  if (threads < 32)
    threads = 32;
  if (threads > kMaxRowThreads)
    threads = kMaxRowThreads;
  l.block = dim3 ((unsigned) threads);
  /* More blocks than this only queue up; the row loop covers the rest. */
  l.grid = dim3 ((unsigned) (rows < (1 << 20) ? rows : (1 << 20)));
  l.cache = cols <= kMaxCachedCols;
  l.shared_bytes = l.cache ? (size_t) cols * sizeof (float) : 0;
  return l;
}

static bool
row_args_ok (int64_t rows, int64_t cols)
{
  return rows >= 0 && cols >= 0 && (cols == 0 || rows <= INT64_MAX / cols);
}

/* Packs only when every row starts on a pack boundary and every operand is
 * 16-byte aligned. */
template <typename T>
static bool
row_vectorizable (int64_t cols, const void *a, const void *b, const void *c, const void *d)
{
  constexpr int V = vec_width<T> ();
  return cols % V == 0 && is_aligned (a, 16) && is_aligned (b, 16) && is_aligned (c, 16) &&
         is_aligned (d, 16);
}

template <typename T, int V>
static void
launch_layer_norm_v (const void *x, const void *gamma, const void *beta, void *y, int64_t rows,
                     int64_t cols, float eps, cudaStream_t stream)
{
  RowLaunch l = row_launch (rows, cols, V);
  if (l.cache)
    layer_norm_kernel<T, V, true><<<l.grid, l.block, l.shared_bytes, stream>>> (
      (const T *) x, (const T *) gamma, (const T *) beta, (T *) y, rows, cols, eps);
  else
    layer_norm_kernel<T, V, false><<<l.grid, l.block, 0, stream>>> (
      (const T *) x, (const T *) gamma, (const T *) beta, (T *) y, rows, cols, eps);
}

template <typename T>
static cudaError_t
launch_layer_norm (const void *x, const void *gamma, const void *beta, void *y, int64_t rows,
                   int64_t cols, float eps, cudaStream_t stream)
{
  if (row_vectorizable<T> (cols, x, gamma, beta, y))
    launch_layer_norm_v<T, vec_width<T> ()> (x, gamma, beta, y, rows, cols, eps, stream);
  else
    launch_layer_norm_v<T, 1> (x, gamma, beta, y, rows, cols, eps, stream);
  return cudaGetLastError ();
}

template <typename T, int V>
static void
launch_rms_norm_v (const void *x, const void *gamma, void *y, int64_t rows, int64_t cols,
                   float eps, cudaStream_t stream)
{
  RowLaunch l = row_launch (rows, cols, V);
  if (l.cache)
    rms_norm_kernel<T, V, true><<<l.grid, l.block, l.shared_bytes, stream>>> (
      (const T *) x, (const T *) gamma, (T *) y, rows, cols, eps);
  else
    rms_norm_kernel<T, V, false><<<l.grid, l.block, 0, stream>>> (
      (const T *) x, (const T *) gamma, (T *) y, rows, cols, eps);
}

template <typename T>
static cudaError_t
launch_rms_norm (const void *x, const void *gamma, void *y, int64_t rows, int64_t cols, float eps,
                 cudaStream_t stream)
{
  if (row_vectorizable<T> (cols, x, gamma, y, nullptr))
    launch_rms_norm_v<T, vec_width<T> ()> (x, gamma, y, rows, cols, eps, stream);
  else
    launch_rms_norm_v<T, 1> (x, gamma, y, rows, cols, eps, stream);
  return cudaGetLastError ();
}

template <typename T, int V>
static void
launch_softmax_v (const void *x, void *y, int64_t rows, int64_t cols, cudaStream_t stream)
{
  RowLaunch l = row_launch (rows, cols, V);
  if (l.cache)
    softmax_kernel<T, V, true><<<l.grid, l.block, l.shared_bytes, stream>>> (
      (const T *) x, (T *) y, rows, cols);
  else
    softmax_kernel<T, V, false><<<l.grid, l.block, 0, stream>>> ((const T *) x, (T *) y, rows, cols);
}

template <typename T>
static cudaError_t
launch_softmax (const void *x, void *y, int64_t rows, int64_t cols, cudaStream_t stream)
{
  if (row_vectorizable<T> (cols, x, y, nullptr, nullptr))
    launch_softmax_v<T, vec_width<T> ()> (x, y, rows, cols, stream);
  else
    launch_softmax_v<T, 1> (x, y, rows, cols, stream);
  return cudaGetLastError ();
}

} /* namespace */
} /* namespace fa_cuda */

using namespace fa_cuda;

extern "C" cudaError_t
fa_cuda_layer_norm (FaDType dtype, const void *x, const void *gamma, const void *beta, void *y,
                    int64_t rows, int64_t cols, float eps, cudaStream_t stream)
{
  if ((dtype != FA_DTYPE_F32 && dtype != FA_DTYPE_BF16) || !row_args_ok (rows, cols))
    return cudaErrorInvalidValue;
  if (rows == 0 || cols == 0)
    return cudaSuccess;
  if (dtype == FA_DTYPE_F32)
    return launch_layer_norm<float> (x, gamma, beta, y, rows, cols, eps, stream);
  return launch_layer_norm<bf16> (x, gamma, beta, y, rows, cols, eps, stream);
}

extern "C" cudaError_t
fa_cuda_rms_norm (FaDType dtype, const void *x, const void *gamma, void *y, int64_t rows,
                  int64_t cols, float eps, cudaStream_t stream)
{
  if ((dtype != FA_DTYPE_F32 && dtype != FA_DTYPE_BF16) || !row_args_ok (rows, cols))
    return cudaErrorInvalidValue;
  if (rows == 0 || cols == 0)
    return cudaSuccess;
  if (dtype == FA_DTYPE_F32)
    return launch_rms_norm<float> (x, gamma, y, rows, cols, eps, stream);
  return launch_rms_norm<bf16> (x, gamma, y, rows, cols, eps, stream);
}

extern "C" cudaError_t
fa_cuda_softmax (FaDType dtype, const void *x, void *y, int64_t rows, int64_t cols,
                 cudaStream_t stream)
{
  if ((dtype != FA_DTYPE_F32 && dtype != FA_DTYPE_BF16) || !row_args_ok (rows, cols))
    return cudaErrorInvalidValue;
  if (rows == 0 || cols == 0)
    return cudaSuccess;
  if (dtype == FA_DTYPE_F32)
    return launch_softmax<float> (x, y, rows, cols, stream);
  return launch_softmax<bf16> (x, y, rows, cols, stream);
}
