/* fa-cuda-common.cuh: what the CUDA kernel files share: element loads and
 * stores that widen to float32, 16-byte vector packs, warp and block
 * reductions, launch sizing, and the FaCudaStatus failure reports.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <math.h>
#include <stdint.h>

#include "fa-cuda-kernels.h"

namespace fa_cuda {

typedef __nv_bfloat16 bf16;
typedef __half f16;

/* ---- element conversion: arithmetic is float32, storage is T ---- */

__device__ __forceinline__ float to_f32 (float v) { return v; }
__device__ __forceinline__ float to_f32 (bf16 v) { return __bfloat162float (v); }
__device__ __forceinline__ float to_f32 (f16 v) { return __half2float (v); }

template <typename T> __device__ __forceinline__ T from_f32 (float v);
/* Both narrowing conversions round to nearest even and keep NaN a NaN, as
 * fa-half.h does on the CPU. */
template <> __device__ __forceinline__ float from_f32<float> (float v) { return v; }
template <> __device__ __forceinline__ bf16 from_f32<bf16> (float v) { return __float2bfloat16_rn (v); }
template <> __device__ __forceinline__ f16 from_f32<f16> (float v) { return __float2half_rn (v); }

/* ---- vector packs ----
 * V consecutive elements moved as one aligned access; with V·sizeof(T) = 16
 * that is one 128-bit load or store per thread, which is what keeps a
 * memory-bound kernel near the bandwidth. V = 1 is the scalar fallback for
 * sizes or addresses that do not divide. */

template <typename T, int V>
struct alignas (sizeof (T) * V) Pack
{
  T v[V];
};

template <typename T, int V>
__device__ __forceinline__ void
load_pack (const T *p, float (&out)[V])
{
  Pack<T, V> pack = *reinterpret_cast<const Pack<T, V> *> (p);
#pragma unroll
  for (int i = 0; i < V; i++)
    out[i] = to_f32 (pack.v[i]);
}

template <typename T, int V>
__device__ __forceinline__ void
store_pack (T *p, const float (&in)[V])
{
  Pack<T, V> pack;
#pragma unroll
  for (int i = 0; i < V; i++)
    pack.v[i] = from_f32<T> (in[i]);
  *reinterpret_cast<Pack<T, V> *> (p) = pack;
}

/* Elements per 16-byte pack. */
template <typename T>
constexpr int
vec_width ()
{
  return (int) (16 / sizeof (T));
}

static inline bool
is_aligned (const void *p, size_t bytes)
{
  return ((uintptr_t) p % bytes) == 0;
}

/* ---- reductions (blockDim.x is always a multiple of 32) ---- */

__device__ __forceinline__ float
warp_sum (float v)
{
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1)
    v += __shfl_xor_sync (0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float
warp_max (float v)
{
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1)
    v = fmaxf (v, __shfl_xor_sync (0xffffffffu, v, offset));
  return v;
}

/* Every thread gets the block's total. Each warp reduces the per-warp
 * partials itself, which saves the broadcast round trip; the leading barrier
 * keeps a fast warp from overwriting @scratch (32 floats) while a slow one
 * still reads the previous reduction's partials. */
__device__ __forceinline__ float
block_sum (float v, float *scratch)
{
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nwarps = (blockDim.x + 31) >> 5;

  v = warp_sum (v);
  __syncthreads ();
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads ();
  return warp_sum (lane < nwarps ? scratch[lane] : 0.0f);
}

__device__ __forceinline__ float
block_max (float v, float *scratch)
{
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nwarps = (blockDim.x + 31) >> 5;

  v = warp_max (v);
  __syncthreads ();
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads ();
  return warp_max (lane < nwarps ? scratch[lane] : -INFINITY);
}

/* ---- launch sizing ---- */

/* The largest gridDim.y and gridDim.z. */
constexpr int64_t kMaxGridYZ = 65535;
constexpr int kElementwiseThreads = 256;
/* Grid-stride loops cover the rest: enough blocks to fill any current GPU
 * several times over without knowing which one runs. */
constexpr int64_t kMaxElementwiseBlocks = 8192;

static inline unsigned
elementwise_blocks (int64_t work_items)
{
  int64_t blocks = (work_items + kElementwiseThreads - 1) / kElementwiseThreads;
  if (blocks < 1)
    blocks = 1;
  if (blocks > kMaxElementwiseBlocks)
    blocks = kMaxElementwiseBlocks;
  return (unsigned) blocks;
}

/* ---- failures of the calls that report through FaCudaStatus: -1 ---- */

static inline int
fail_cuda (FaCudaStatus *status, const char *call, cudaError_t error)
{
  status->call = call;
  status->cuda_error = error;
  status->cublas_status = CUBLAS_STATUS_SUCCESS;
  return -1;
}

static inline int
fail_cublas (FaCudaStatus *status, const char *call, cublasStatus_t blas_status)
{
  status->call = call;
  status->cuda_error = cudaSuccess;
  status->cublas_status = blas_status;
  return -1;
}

} /* namespace fa_cuda */
