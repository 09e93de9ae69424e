/* fa-cuda-elementwise.cu: GELU (tanh), SiLU, broadcast add/mul, dtype
 * conversion and the bias prefill of the linear.
 *
 * One grid-stride kernel shape serves them all: each thread moves 16-byte
 * packs while sizes and addresses allow it, and the last n mod V elements go
 * one per thread, so odd sizes need no second launch.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "fa-cuda-common.cuh"

namespace fa_cuda {
namespace {

/* ---- ops ---- */

struct GeluTanh
{
  __device__ float
  operator() (float v) const
  {
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    return 0.5f * v * (1.0f + tanhf (k * (v + 0.044715f * v * v * v)));
  }
};

struct Silu
{
  /* For v → −∞, expf(−v) overflows to inf and the quotient is −0, the limit. */
  __device__ float operator() (float v) const { return v / (1.0f + expf (-v)); }
};

struct Identity
{
  __device__ float operator() (float v) const { return v; }
};

struct Add
{
  static constexpr bool kUsesA = true;
  __device__ float operator() (float a, float b) const { return a + b; }
};

struct Mul
{
  static constexpr bool kUsesA = true;
  __device__ float operator() (float a, float b) const { return a * b; }
};

/* y = b broadcast: the bias prefill. */
struct TakeB
{
  static constexpr bool kUsesA = false;
  __device__ float operator() (float, float b) const { return b; }
};

/* ---- kernels ---- */

/* y[i] = op(x[i]). x and y may be the same buffer: each element is read and
 * written by one thread, in that order. */
template <typename TX, typename TY, int V, typename Op>
__global__ void
map_kernel (const TX *x, TY *y, int64_t n, Op op)
{
  const int64_t nvec = n / V;
  const int64_t stride = (int64_t) gridDim.x * blockDim.x;
  const int64_t first = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;

  for (int64_t v = first; v < nvec; v += stride)
    {
      float f[V];
      load_pack<TX, V> (x + v * V, f);
#pragma unroll
      for (int i = 0; i < V; i++)
        f[i] = op (f[i]);
      store_pack<TY, V> (y + v * V, f);
    }

  const int64_t tail = n - nvec * V;
  if (first < tail)
    {
      const int64_t i = nvec * V + first;
      y[i] = from_f32<TY> (op (to_f32 (x[i])));
    }
}

/* y[i] = op(a[i], b[i mod nb]). I is the index type: 32-bit when n allows,
 * because a 64-bit modulo costs several times a 32-bit one. Packs are taken
 * only when a pack of a never straddles a period of b (nb mod V = 0, or no
 * broadcast at all). */
template <typename TA, typename TB, typename TY, int V, typename Op, typename I>
__global__ void
broadcast_kernel (const TA *a, const TB *b, TY *y, int64_t n, int64_t nb, Op op)
{
  const int64_t nvec = n / V;
  const int64_t stride = (int64_t) gridDim.x * blockDim.x;
  const int64_t first = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;
  const bool same = nb == n;

  for (int64_t v = first; v < nvec; v += stride)
    {
      const I i = (I) (v * V);
      const I j = same ? i : i % (I) nb;
      float fa[V] = {}, fb[V];
      if constexpr (Op::kUsesA)
        load_pack<TA, V> (a + i, fa);
      load_pack<TB, V> (b + j, fb);
#pragma unroll
      for (int e = 0; e < V; e++)
        fa[e] = op (fa[e], fb[e]);
      store_pack<TY, V> (y + i, fa);
    }

  const int64_t tail = n - nvec * V;
  if (first < tail)
    {
      const I i = (I) (nvec * V + first);
      const I j = same ? i : i % (I) nb;
      float fa = 0.0f;
      if constexpr (Op::kUsesA)
        fa = to_f32 (a[i]);
      y[i] = from_f32<TY> (op (fa, to_f32 (b[j])));
    }
}

/* ---- launchers ---- */

template <typename TX, typename TY, typename Op>
cudaError_t
launch_map (const void *x, void *y, int64_t n, Op op, cudaStream_t stream)
{
  constexpr int V = vec_width<TX> () < vec_width<TY> () ? vec_width<TX> () : vec_width<TY> ();

  if (n <= 0)
    return cudaSuccess;
  if (is_aligned (x, sizeof (TX) * V) && is_aligned (y, sizeof (TY) * V))
    {
      int64_t items = n / V > n % V ? n / V : n % V;
      map_kernel<TX, TY, V, Op><<<elementwise_blocks (items), kElementwiseThreads, 0, stream>>> (
        (const TX *) x, (TY *) y, n, op);
    }
  else
    {
      map_kernel<TX, TY, 1, Op><<<elementwise_blocks (n), kElementwiseThreads, 0, stream>>> (
        (const TX *) x, (TY *) y, n, op);
    }
  return cudaGetLastError ();
}

template <typename TA, typename TB, typename TY, int V, typename Op>
void
launch_broadcast_v (const void *a, const void *b, void *y, int64_t n, int64_t nb, Op op,
                    cudaStream_t stream)
{
  int64_t items = n / V > n % V ? n / V : n % V;
  unsigned blocks = elementwise_blocks (items);

  if (n <= (int64_t) UINT32_MAX)
    broadcast_kernel<TA, TB, TY, V, Op, uint32_t><<<blocks, kElementwiseThreads, 0, stream>>> (
      (const TA *) a, (const TB *) b, (TY *) y, n, nb, op);
  else
    broadcast_kernel<TA, TB, TY, V, Op, int64_t><<<blocks, kElementwiseThreads, 0, stream>>> (
      (const TA *) a, (const TB *) b, (TY *) y, n, nb, op);
}

template <typename TA, typename TB, typename TY, typename Op>
cudaError_t
launch_broadcast (const void *a, const void *b, void *y, int64_t n, int64_t nb, Op op,
                  cudaStream_t stream)
{
  constexpr int V = vec_width<TY> ();

  if (n <= 0)
    return cudaSuccess;
  if (nb <= 0)
    return cudaErrorInvalidValue;
  if ((nb == n || nb % V == 0) && (!Op::kUsesA || is_aligned (a, sizeof (TA) * V)) &&
      is_aligned (b, sizeof (TB) * V) && is_aligned (y, sizeof (TY) * V))
    launch_broadcast_v<TA, TB, TY, V> (a, b, y, n, nb, op, stream);
  else
    launch_broadcast_v<TA, TB, TY, 1> (a, b, y, n, nb, op, stream);
  return cudaGetLastError ();
}

template <typename Op>
cudaError_t
unary (FaDType dtype, const void *x, void *y, int64_t n, cudaStream_t stream)
{
  switch (dtype)
    {
    case FA_DTYPE_F32: return launch_map<float, float> (x, y, n, Op (), stream);
    case FA_DTYPE_BF16: return launch_map<bf16, bf16> (x, y, n, Op (), stream);
    default: return cudaErrorInvalidValue;
    }
}

template <typename Op>
cudaError_t
binary (FaDType dtype, const void *a, const void *b, void *y, int64_t n, int64_t nb,
        cudaStream_t stream)
{
  switch (dtype)
    {
    case FA_DTYPE_F32: return launch_broadcast<float, float, float> (a, b, y, n, nb, Op (), stream);
    case FA_DTYPE_BF16: return launch_broadcast<bf16, bf16, bf16> (a, b, y, n, nb, Op (), stream);
    default: return cudaErrorInvalidValue;
    }
}

template <typename TX>
cudaError_t
convert_from (const void *src, void *dst, FaDType dst_dtype, int64_t n, cudaStream_t stream)
{
  switch (dst_dtype)
    {
    case FA_DTYPE_F32: return launch_map<TX, float> (src, dst, n, Identity (), stream);
    case FA_DTYPE_BF16: return launch_map<TX, bf16> (src, dst, n, Identity (), stream);
    case FA_DTYPE_F16: return launch_map<TX, f16> (src, dst, n, Identity (), stream);
    default: return cudaErrorInvalidValue;
    }
}

template <typename TB>
cudaError_t
fill_rows_from (FaDType y_dtype, void *y, const void *bias, int64_t n, int64_t cols,
                cudaStream_t stream)
{
  switch (y_dtype)
    {
    case FA_DTYPE_F32: return launch_broadcast<float, TB, float> (y, bias, y, n, cols, TakeB (), stream);
    case FA_DTYPE_BF16: return launch_broadcast<bf16, TB, bf16> (y, bias, y, n, cols, TakeB (), stream);
    default: return cudaErrorInvalidValue;
    }
}

} /* namespace */
} /* namespace fa_cuda */

using namespace fa_cuda;

extern "C" cudaError_t
fa_cuda_gelu_tanh (FaDType dtype, const void *x, void *y, int64_t n, cudaStream_t stream)
{
  return unary<GeluTanh> (dtype, x, y, n, stream);
}

extern "C" cudaError_t
fa_cuda_silu (FaDType dtype, const void *x, void *y, int64_t n, cudaStream_t stream)
{
  return unary<Silu> (dtype, x, y, n, stream);
}

extern "C" cudaError_t
fa_cuda_add (FaDType dtype, const void *a, const void *b, void *y, int64_t n, int64_t nb,
             cudaStream_t stream)
{
  return binary<Add> (dtype, a, b, y, n, nb, stream);
}

extern "C" cudaError_t
fa_cuda_mul (FaDType dtype, const void *a, const void *b, void *y, int64_t n, int64_t nb,
             cudaStream_t stream)
{
  return binary<Mul> (dtype, a, b, y, n, nb, stream);
}

extern "C" int
fa_cuda_convert_supports (FaDType dtype)
{
  return dtype == FA_DTYPE_F32 || dtype == FA_DTYPE_BF16 || dtype == FA_DTYPE_F16;
}

extern "C" cudaError_t
fa_cuda_convert (const void *src, FaDType src_dtype, void *dst, FaDType dst_dtype, int64_t n,
                 cudaStream_t stream)
{
  if (!fa_cuda_convert_supports (src_dtype) || !fa_cuda_convert_supports (dst_dtype))
    return cudaErrorInvalidValue;
  if (n <= 0)
    return cudaSuccess;
  if (src_dtype == dst_dtype)
    {
      if (src == dst)
        return cudaSuccess;
      return cudaMemcpyAsync (dst, src, (size_t) n * fa_dtype_size (src_dtype),
                              cudaMemcpyDeviceToDevice, stream);
    }
  switch (src_dtype)
    {
    case FA_DTYPE_F32: return convert_from<float> (src, dst, dst_dtype, n, stream);
    case FA_DTYPE_BF16: return convert_from<bf16> (src, dst, dst_dtype, n, stream);
    case FA_DTYPE_F16: return convert_from<f16> (src, dst, dst_dtype, n, stream);
    default: return cudaErrorInvalidValue;
    }
}

extern "C" cudaError_t
fa_cuda_fill_rows (FaDType y_dtype, void *y, FaDType bias_dtype, const void *bias, int64_t rows,
                   int64_t cols, cudaStream_t stream)
{
  if ((y_dtype != FA_DTYPE_F32 && y_dtype != FA_DTYPE_BF16) ||
      (bias_dtype != FA_DTYPE_F32 && bias_dtype != FA_DTYPE_BF16) || rows < 0 || cols < 0)
    return cudaErrorInvalidValue;
  if (rows == 0 || cols == 0)
    return cudaSuccess;
  if (rows > INT64_MAX / cols)
    return cudaErrorInvalidValue;
  if (bias_dtype == FA_DTYPE_F32)
    return fill_rows_from<float> (y_dtype, y, bias, rows * cols, cols, stream);
  return fill_rows_from<bf16> (y_dtype, y, bias, rows * cols, cols, stream);
}
