/* fa-cuda-conv.cu: the video VAE's 3-D convolution as patches gathered
 * into a scratch (im2col) and one cuBLAS GEMM per block of output pixels,
 * and the strided copy behind fa_op_copy.
 *
 * The patches of a whole clip fit nowhere (81 frames of 480×832 at K = 27·96
 * are over 300 GB in f32), so the output pixels go in blocks of as many as
 * the caller's scratch holds, each gathered and then multiplied; a block of
 * many pixels keeps each GEMM large enough to run near peak.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "fa-cuda-common.cuh"

#include <limits.h>

namespace fa_cuda {
namespace {

/* ---- the gather ---- */

constexpr int kGatherThreads = 256;
/* The largest finite f16. */
constexpr float kF16Max = 65504.0f;

/* What the gather kernel reads of FaConv3dGeometry, by value. */
struct Gather
{
  const float *history, *x;
  int64_t th, frames;      /* history frames; history + x frames */
  int64_t w, frame_elems;  /* source frame width; h·w·ci */
  int64_t hu, wu;          /* the frame as read: ×2 when upsampling */
  int64_t ho, wo;
  int64_t k;               /* patch length kt·kh·kw·ci (fits an int, checked) */
  int ci, kh, kw;
  int st, sh, sw;
  int pad_front, pad_top, pad_left;
  int up_shift;            /* 1 when upsampling: source = position >> 1 */
};

template <typename T> __device__ __forceinline__ T patch_value (float v);
template <> __device__ __forceinline__ float patch_value<float> (float v) { return v; }
/* Activations past the f16 range become ±65504 rather than ±inf, whose
 * product with a zero weight would be NaN and poison a whole output
 * channel; the comparison is false for NaN, which stays NaN. */
template <>
__device__ __forceinline__ f16
patch_value<f16> (float v)
{
  return __float2half_rn (fabsf (v) > kF16Max ? copysignf (kF16Max, v) : v);
}

/* cols[q, :] = the patch of output pixel p0 + q, for q < count. Threads
 * along x walk one patch vector, whose innermost axis is the input
 * channel, so both the reads (one pixel's channels are contiguous) and the
 * writes coalesce; threads along y take different pixels, which keeps
 * blocks full when the patch is short (the first convolution: K = 27·3). */
template <typename T>
__global__ void
im2col_kernel (Gather g, int64_t p0, int64_t count, T *cols)
{
  const int64_t stride = (int64_t) gridDim.y * blockDim.y;

  for (int64_t q = (int64_t) blockIdx.y * blockDim.y + threadIdx.y; q < count; q += stride)
    {
      const int64_t p = p0 + q;
      const int64_t j = p % g.wo, ti = p / g.wo;
      const int64_t i = ti % g.ho, t = ti / g.ho;
      const int64_t f0 = t * g.st - g.pad_front;
      const int64_t r0 = i * g.sh - g.pad_top;
      const int64_t c0 = j * g.sw - g.pad_left;
      T *out = cols + q * g.k;

      for (int e = threadIdx.x; e < (int) g.k; e += blockDim.x)
        {
          const int tap = e / g.ci, c = e - tap * g.ci;
          const int ab = tap / g.kw, cc = tap - ab * g.kw;
          const int a = ab / g.kh, b = ab - a * g.kh;
          const int64_t f = f0 + a, r = r0 + b, col = c0 + cc;
          float v = 0.0f;

          if (f >= 0 && f < g.frames && r >= 0 && r < g.hu && col >= 0 && col < g.wu)
            {
              const float *frame = f < g.th ? g.history + f * g.frame_elems
                                            : g.x + (f - g.th) * g.frame_elems;
              v = frame[((r >> g.up_shift) * g.w + (col >> g.up_shift)) * g.ci + c];
            }
          out[e] = patch_value<T> (v);
        }
    }
}

template <typename T>
cudaError_t
launch_im2col (const Gather &g, int64_t p0, int64_t count, T *cols, cudaStream_t stream)
{
  /* x as wide as the patch (in warps) up to the block; the rest of the
   * block's threads go to further pixels. */
  const int bx = (int) (g.k >= kGatherThreads ? kGatherThreads : (g.k + 31) / 32 * 32);
  const int by = kGatherThreads / bx;
  int64_t blocks = (count + by - 1) / by;
  if (blocks > kMaxGridYZ)
    blocks = kMaxGridYZ;

  im2col_kernel<T><<<dim3 (1, (unsigned) blocks), dim3 ((unsigned) bx, (unsigned) by), 0, stream>>> (
    g, p0, count, cols);
  return cudaGetLastError ();
}

size_t
patch_elem_size (FaDType w_dtype)
{
  switch (w_dtype)
    {
    case FA_DTYPE_F32: return 4;
    case FA_DTYPE_F16: return 2;
    default: return 0;
    }
}

/* A 1×1×1 convolution that reads every input pixel once, in order: x
 * itself is the patch matrix, and with f32 weights it needs no gather. The
 * history goes through the gather, since it is another buffer. */
bool
is_pointwise (const FaConv3dGeometry *g, FaDType w_dtype)
{
  return w_dtype == FA_DTYPE_F32 && g->kt == 1 && g->kh == 1 && g->kw == 1 && g->st == 1 &&
         g->sh == 1 && g->sw == 1 && g->pad_front == 0 && g->pad_top == 0 && g->pad_left == 0 &&
         !g->upsample && g->th == 0 && g->to == g->tx && g->ho == g->h && g->wo == g->w;
}

bool
geometry_ok (const FaConv3dGeometry *g)
{
  return g->th >= 0 && g->tx >= 0 && g->h >= 0 && g->w >= 0 && g->ci >= 0 && g->to >= 0 &&
         g->ho >= 0 && g->wo >= 0 && g->co >= 0 && g->kt >= 1 && g->kh >= 1 && g->kw >= 1 &&
         g->st >= 1 && g->sh >= 1 && g->sw >= 1 && g->pad_front >= 0 && g->pad_top >= 0 &&
         g->pad_left >= 0 &&
         /* int products below: the patch length and the output size */
         g->ci <= INT_MAX && (int64_t) g->kt * g->kh * g->kw <= INT_MAX &&
         fa_conv3d_patch_size (g) <= INT_MAX && g->co <= INT_MAX &&
         (g->ho == 0 || g->wo <= INT64_MAX / g->ho) &&
         (g->ho * g->wo == 0 || g->to <= INT64_MAX / (g->ho * g->wo)) &&
         (g->h == 0 || g->w <= INT64_MAX / g->h) &&
         (g->h * g->w == 0 || g->ci <= INT64_MAX / (g->h * g->w)) &&
         g->h <= INT64_MAX / 2 && g->w <= INT64_MAX / 2;
}

/* ---- the strided copy ---- */

constexpr int kMaxCopyDims = 5;

struct CopyShape
{
  int64_t shape[kMaxCopyDims];
  int64_t src[kMaxCopyDims];
  int64_t dst[kMaxCopyDims];
  int ndim;
};

/* Element by element, the flat index over @shape (last axis fastest) split
 * into coordinates: the last axis is the contiguous one of at least one
 * side after the host has merged what it can, so a warp moves neighbours. */
template <typename E>
__global__ void
copy_strided_kernel (const E *src, E *dst, CopyShape s, int64_t total)
{
  const int64_t stride = (int64_t) gridDim.x * blockDim.x;

  for (int64_t idx = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += stride)
    {
      int64_t rest = idx, from = 0, to = 0;
#pragma unroll
      for (int d = kMaxCopyDims - 1; d >= 0; d--)
        if (d < s.ndim)
          {
            const int64_t c = rest % s.shape[d];
            rest /= s.shape[d];
            from += c * s.src[d];
            to += c * s.dst[d];
          }
      dst[to] = src[from];
    }
}

template <typename E>
cudaError_t
launch_copy (const void *src, void *dst, const CopyShape &s, int64_t total, cudaStream_t stream)
{
  copy_strided_kernel<E><<<elementwise_blocks (total), kElementwiseThreads, 0, stream>>> (
    (const E *) src, (E *) dst, s, total);
  return cudaGetLastError ();
}

} /* namespace */
} /* namespace fa_cuda */

using namespace fa_cuda;

extern "C" size_t
fa_cuda_conv3d_scratch_size (const FaConv3dGeometry *g, FaDType w_dtype, size_t budget)
{
  const size_t elem = patch_elem_size (w_dtype);

  if (g == nullptr || elem == 0 || !geometry_ok (g) || is_pointwise (g, w_dtype))
    return 0;
  const size_t pixel_bytes = (size_t) fa_conv3d_patch_size (g) * elem;
  const size_t rows = (size_t) g->to * (size_t) g->ho;
  if (pixel_bytes == 0 || g->wo == 0 || rows == 0)
    return 0;
  /* More than any device holds: the allocation fails and says so. */
  if ((size_t) g->wo > SIZE_MAX / pixel_bytes)
    return SIZE_MAX;
  const size_t row_bytes = (size_t) g->wo * pixel_bytes;

  size_t block_rows = budget / row_bytes;
  if (block_rows < 1)
    block_rows = 1;
  if (block_rows > rows)
    block_rows = rows;
  return block_rows * row_bytes;
}

extern "C" int
fa_cuda_conv3d (cublasHandle_t blas, cudaStream_t stream, const float *history, const float *x,
                FaDType w_dtype, const void *w, const float *bias, float *y,
                const FaConv3dGeometry *g, void *scratch, size_t scratch_size,
                FaCudaStatus *status)
{
  cudaError_t error;
  cublasStatus_t blas_status;

  status->call = nullptr;
  status->cuda_error = cudaSuccess;
  status->cublas_status = CUBLAS_STATUS_SUCCESS;

  const size_t elem = patch_elem_size (w_dtype);
  if (elem == 0)
    return fail_cuda (status, "fa_cuda_conv3d (dtype)", cudaErrorInvalidValue);
  if (g == nullptr || !geometry_ok (g) || (g->th > 0 && history == nullptr))
    return fail_cuda (status, "fa_cuda_conv3d (size)", cudaErrorInvalidValue);
  const size_t needed = fa_cuda_conv3d_scratch_size (g, w_dtype, 0);
  if (scratch_size < needed || (needed > 0 && scratch == nullptr))
    return fail_cuda (status, "fa_cuda_conv3d (scratch)", cudaErrorInvalidValue);

  const int64_t pixels = g->to * g->ho * g->wo;
  const int64_t k = fa_conv3d_patch_size (g);
  if (pixels == 0 || g->co == 0)
    return 0;
  if (pixels > INT64_MAX / g->co)
    return fail_cuda (status, "fa_cuda_conv3d (size)", cudaErrorInvalidValue);

  /* No input channels: an empty sum, y is the bias (or zero: all-zero bits). */
  if (k == 0)
    {
      if (bias != nullptr)
        error = fa_cuda_fill_rows (FA_DTYPE_F32, y, FA_DTYPE_F32, bias, pixels, g->co, stream);
      else
        error = cudaMemsetAsync (y, 0, (size_t) pixels * (size_t) g->co * sizeof (float), stream);
      return error == cudaSuccess
               ? 0
               : fail_cuda (status, bias != nullptr ? "fa_cuda_fill_rows" : "cudaMemsetAsync", error);
    }

  /* The bias goes into y first and every GEMM adds onto it (beta = 1), so
   * that each sum is rounded once, as in fa_cuda_linear. */
  float alpha = 1.0f, beta = 0.0f;
  if (bias != nullptr)
    {
      error = fa_cuda_fill_rows (FA_DTYPE_F32, y, FA_DTYPE_F32, bias, pixels, g->co, stream);
      if (error != cudaSuccess)
        return fail_cuda (status, "fa_cuda_fill_rows (bias)", error);
      beta = 1.0f;
    }

  blas_status = cublasSetStream (blas, stream);
  if (blas_status != CUBLAS_STATUS_SUCCESS)
    return fail_cublas (status, "cublasSetStream", blas_status);

  /* As in fa_cuda_linear: row-major y[p, co] is column-major yᵀ (co × p,
   * ld co) = W · colsᵀ, with W[co, K] read column-major as Wᵀ (op =
   * transpose) and cols[p, K] read column-major as colsᵀ (no op). f32
   * weights multiply in strict f32 (PEDANTIC: never TF32, whatever the
   * handle's math mode), f16 ones on the tensor cores with f32
   * accumulation. */
  const cudaDataType_t ab_type = w_dtype == FA_DTYPE_F16 ? CUDA_R_16F : CUDA_R_32F;
  const cublasComputeType_t compute =
    w_dtype == FA_DTYPE_F16 ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_32F_PEDANTIC;

  if (is_pointwise (g, w_dtype))
    {
      /* keep each operand under 2^31 elements: the 32-bit interface's
       * behaviour beyond that is not something to rely on */
      const int64_t widest = k > g->co ? k : g->co;
      const int64_t step = INT_MAX / widest > 0 ? INT_MAX / widest : 1;
      for (int64_t p0 = 0; p0 < pixels; p0 += step)
        {
          const int64_t count = pixels - p0 < step ? pixels - p0 : step;
          blas_status = cublasGemmEx (blas, CUBLAS_OP_T, CUBLAS_OP_N,
                                      (int) g->co, (int) count, (int) k,
                                      &alpha,
                                      w, ab_type, (int) k,
                                      x + p0 * k, ab_type, (int) k,
                                      &beta,
                                      y + p0 * g->co, CUDA_R_32F, (int) g->co,
                                      compute, CUBLAS_GEMM_DEFAULT);
          if (blas_status != CUBLAS_STATUS_SUCCESS)
            return fail_cublas (status, "cublasGemmEx (pointwise)", blas_status);
        }
      return 0;
    }

  int64_t block = (int64_t) (scratch_size / ((size_t) k * elem));
  if (block > pixels)
    block = pixels;
  const int64_t widest = k > g->co ? k : g->co;
  const int64_t most = INT_MAX / widest > 0 ? INT_MAX / widest : 1;
  if (block > most)
    block = most;

  Gather gather;
  gather.history = history;
  gather.x = x;
  gather.th = g->th;
  gather.frames = g->th + g->tx;
  gather.w = g->w;
  gather.frame_elems = g->h * g->w * g->ci;
  gather.up_shift = g->upsample ? 1 : 0;
  gather.hu = g->h << gather.up_shift;
  gather.wu = g->w << gather.up_shift;
  gather.ho = g->ho;
  gather.wo = g->wo;
  gather.k = k;
  gather.ci = (int) g->ci;
  gather.kh = g->kh;
  gather.kw = g->kw;
  gather.st = g->st;
  gather.sh = g->sh;
  gather.sw = g->sw;
  gather.pad_front = g->pad_front;
  gather.pad_top = g->pad_top;
  gather.pad_left = g->pad_left;

  /* The blocks share the scratch; stream order keeps a gather from
   * overwriting patches that the previous block's GEMM still reads. */
  for (int64_t p0 = 0; p0 < pixels; p0 += block)
    {
      const int64_t count = pixels - p0 < block ? pixels - p0 : block;

      if (w_dtype == FA_DTYPE_F16)
        error = launch_im2col<f16> (gather, p0, count, (f16 *) scratch, stream);
      else
        error = launch_im2col<float> (gather, p0, count, (float *) scratch, stream);
      if (error != cudaSuccess)
        return fail_cuda (status, "im2col_kernel", error);

      blas_status = cublasGemmEx (blas, CUBLAS_OP_T, CUBLAS_OP_N,
                                  (int) g->co, (int) count, (int) k,
                                  &alpha,
                                  w, ab_type, (int) k,
                                  scratch, ab_type, (int) k,
                                  &beta,
                                  y + p0 * g->co, CUDA_R_32F, (int) g->co,
                                  compute, CUBLAS_GEMM_DEFAULT);
      if (blas_status != CUBLAS_STATUS_SUCCESS)
        return fail_cublas (status, "cublasGemmEx", blas_status);
    }
  return 0;
}

extern "C" cudaError_t
fa_cuda_copy_strided (const void *src, const int64_t *src_strides, void *dst,
                      const int64_t *dst_strides, const int64_t *shape, int ndim,
                      size_t elem_size, cudaStream_t stream)
{
  CopyShape s;
  int64_t total = 1;

  if (ndim < 1 || ndim > kMaxCopyDims || shape == nullptr || src_strides == nullptr ||
      dst_strides == nullptr || (elem_size != 1 && elem_size != 2 && elem_size != 4 && elem_size != 8))
    return cudaErrorInvalidValue;
  for (int d = 0; d < ndim; d++)
    {
      if (shape[d] < 0)
        return cudaErrorInvalidValue;
      if (shape[d] == 0)
        total = 0;
      else if (total > INT64_MAX / shape[d])
        return cudaErrorInvalidValue;
      else
        total *= shape[d];
    }
  if (total == 0)
    return cudaSuccess;
  if (src == nullptr || dst == nullptr || !is_aligned (src, elem_size) || !is_aligned (dst, elem_size))
    return cudaErrorInvalidValue;

  /* Size-1 axes go, and an axis that continues the next one on both sides
   * merges into it: fewer divisions per element, and a contiguous copy
   * becomes one axis. */
  s.ndim = 0;
  for (int d = 0; d < ndim; d++)
    {
      if (shape[d] == 1)
        continue;
      if (s.ndim > 0)
        {
          const int last = s.ndim - 1;
          if (src_strides[d] * shape[d] == s.src[last] && dst_strides[d] * shape[d] == s.dst[last])
            {
              s.shape[last] *= shape[d];
              s.src[last] = src_strides[d];
              s.dst[last] = dst_strides[d];
              continue;
            }
        }
      s.shape[s.ndim] = shape[d];
      s.src[s.ndim] = src_strides[d];
      s.dst[s.ndim] = dst_strides[d];
      s.ndim++;
    }
  if (s.ndim == 0) /* a single element */
    {
      s.shape[0] = 1;
      s.src[0] = s.dst[0] = 0;
      s.ndim = 1;
    }

  switch (elem_size)
    {
    case 1: return launch_copy<uint8_t> (src, dst, s, total, stream);
    case 2: return launch_copy<uint16_t> (src, dst, s, total, stream);
    case 4: return launch_copy<uint32_t> (src, dst, s, total, stream);
    default: return launch_copy<uint64_t> (src, dst, s, total, stream);
    }
}
