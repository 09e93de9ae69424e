/* fa-cuda-transformer.cu: the per-element ops of the DiT blocks: rotary
 * embedding, modulation, the gated residual add, and patchify / unpatchify.
 *
 * All are memory-bound and simple: one grid-stride loop per op, one element
 * (or one rotation pair) per thread and step, float32 arithmetic, each side
 * in its own dtype (f32 or bf16), so that a pass can also convert. Scalar
 * accesses keep them correct for any size and alignment; they are a small
 * part of a DiT step next to the GEMMs and attention.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "fa-cuda-common.cuh"

namespace fa_cuda {
namespace {

template <typename TX, typename TY>
__global__ void
rope_kernel (const TX *x, const float *cos, const float *sin, TY *y, int64_t pairs, int64_t n,
             int64_t head_pairs, int64_t half)
{
  const int64_t stride = (int64_t) gridDim.x * blockDim.x;

  for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < pairs; i += stride)
    {
      /* pair i is elements 2i and 2i+1 of the contiguous tensor */
      const int64_t p = i % half;
      const int64_t token = (i / head_pairs) % n;
      const float c = cos[token * half + p], s = sin[token * half + p];
      const float x0 = to_f32 (x[2 * i]), x1 = to_f32 (x[2 * i + 1]);
      y[2 * i] = from_f32<TY> (x0 * c - x1 * s);
      y[2 * i + 1] = from_f32<TY> (x0 * s + x1 * c);
    }
}

template <typename TX, typename TY>
__global__ void
modulate_kernel (const TX *x, const float *scale, const float *shift, TY *y, int64_t total,
                 int64_t per_batch, int64_t dim)
{
  const int64_t stride = (int64_t) gridDim.x * blockDim.x;

  for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride)
    {
      const int64_t j = (i / per_batch) * dim + i % dim;
      y[i] = from_f32<TY> (to_f32 (x[i]) * (1.0f + scale[j]) + shift[j]);
    }
}

template <typename TX, typename TA>
__global__ void
gated_add_kernel (TX *x, const TA *a, const float *gate, int64_t total, int64_t per_batch,
                  int64_t dim)
{
  const int64_t stride = (int64_t) gridDim.x * blockDim.x;

  for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride)
    {
      const float g = gate != nullptr ? gate[(i / per_batch) * dim + i % dim] : 1.0f;
      x[i] = from_f32<TX> (to_f32 (x[i]) + g * to_f32 (a[i]));
    }
}

struct PatchGeometry
{
  int64_t channels, frames, height, width;
  int64_t pt, ph, pw;
  int64_t gf, gh, gw; /* the grid of patches */
};

/* One thread per token element, so the writes are coalesced. */
template <typename TV, typename TT>
__global__ void
patchify_kernel (const TV *video, TT *tokens, PatchGeometry g, int64_t total)
{
  const int64_t stride = (int64_t) gridDim.x * blockDim.x;
  const int64_t token_width = g.channels * g.pt * g.ph * g.pw;
  const int64_t tokens_per_batch = g.gf * g.gh * g.gw;

  for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride)
    {
      /* (c, t, y, x) with x fastest */
      int64_t k = i % token_width;
      const int64_t rest = i / token_width;
      const int64_t px = k % g.pw;
      k /= g.pw;
      const int64_t py = k % g.ph;
      k /= g.ph;
      const int64_t pt = k % g.pt;
      const int64_t c = k / g.pt;
      /* token n = (f·H' + h)·W' + w */
      const int64_t token = rest % tokens_per_batch;
      const int64_t b = rest / tokens_per_batch;
      const int64_t w = token % g.gw;
      const int64_t h = (token / g.gw) % g.gh;
      const int64_t f = token / (g.gw * g.gh);

      const int64_t src =
        (((b * g.channels + c) * g.frames + f * g.pt + pt) * g.height + h * g.ph + py) * g.width +
        w * g.pw + px;
      tokens[i] = from_f32<TT> (to_f32 (video[src]));
    }
}

/* One thread per video element. */
template <typename TT, typename TV>
__global__ void
unpatchify_kernel (const TT *tokens, TV *video, PatchGeometry g, int64_t total)
{
  const int64_t stride = (int64_t) gridDim.x * blockDim.x;
  const int64_t token_width = g.channels * g.pt * g.ph * g.pw;
  const int64_t tokens_per_batch = g.gf * g.gh * g.gw;

  for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride)
    {
      int64_t rest = i;
      const int64_t xx = rest % g.width;
      rest /= g.width;
      const int64_t yy = rest % g.height;
      rest /= g.height;
      const int64_t ff = rest % g.frames;
      rest /= g.frames;
      const int64_t c = rest % g.channels;
      const int64_t b = rest / g.channels;

      const int64_t token = ((ff / g.pt) * g.gh + yy / g.ph) * g.gw + xx / g.pw;
      /* (t, y, x, c) with c fastest */
      const int64_t k = (((ff % g.pt) * g.ph + yy % g.ph) * g.pw + xx % g.pw) * g.channels + c;
      video[i] = from_f32<TV> (to_f32 (tokens[(b * tokens_per_batch + token) * token_width + k]));
    }
}

bool
takes (FaDType dtype)
{
  return dtype == FA_DTYPE_F32 || dtype == FA_DTYPE_BF16;
}

/* Calls @f with a value of each of the two element types. */
template <typename F>
cudaError_t
dispatch2 (FaDType a, FaDType b, F f)
{
  if (a == FA_DTYPE_F32 && b == FA_DTYPE_F32)
    return f (float (), float ());
  if (a == FA_DTYPE_F32 && b == FA_DTYPE_BF16)
    return f (float (), bf16 ());
  if (a == FA_DTYPE_BF16 && b == FA_DTYPE_F32)
    return f (bf16 (), float ());
  if (a == FA_DTYPE_BF16 && b == FA_DTYPE_BF16)
    return f (bf16 (), bf16 ());
  return cudaErrorInvalidValue;
}

bool
non_negative (int64_t a, int64_t b, int64_t c)
{
  return a >= 0 && b >= 0 && c >= 0;
}

/* Product of the sizes when it fits in an int64_t, else -1. */
int64_t
checked_product (int64_t a, int64_t b, int64_t c)
{
  if (a == 0 || b == 0 || c == 0)
    return 0;
  if (a > INT64_MAX / b || a * b > INT64_MAX / c)
    return -1;
  return a * b * c;
}

bool
geometry (const int64_t video_shape[5], const int patch[3], PatchGeometry *g, int64_t *batch)
{
  if (video_shape == nullptr || patch == nullptr)
    return false;
  for (int i = 0; i < 5; i++)
    if (video_shape[i] < 0)
      return false;
  if (patch[0] <= 0 || patch[1] <= 0 || patch[2] <= 0 || video_shape[2] % patch[0] != 0 ||
      video_shape[3] % patch[1] != 0 || video_shape[4] % patch[2] != 0)
    return false;
  *batch = video_shape[0];
  g->channels = video_shape[1];
  g->frames = video_shape[2];
  g->height = video_shape[3];
  g->width = video_shape[4];
  g->pt = patch[0];
  g->ph = patch[1];
  g->pw = patch[2];
  g->gf = g->frames / g->pt;
  g->gh = g->height / g->ph;
  g->gw = g->width / g->pw;
  return true;
}

} /* namespace */
} /* namespace fa_cuda */

using namespace fa_cuda;

extern "C" cudaError_t
fa_cuda_rope (FaDType x_dtype, const void *x, const float *cos, const float *sin, FaDType y_dtype,
              void *y, int64_t batch, int64_t n, int64_t heads, int64_t head_dim,
              cudaStream_t stream)
{
  if (!takes (x_dtype) || !takes (y_dtype) || !non_negative (batch, n, heads) || head_dim < 0 ||
      head_dim % 2 != 0)
    return cudaErrorInvalidValue;
  const int64_t half = head_dim / 2;
  const int64_t rows = checked_product (batch, n, heads);
  if (rows < 0 || checked_product (rows, head_dim, 1) < 0)
    return cudaErrorInvalidValue;
  const int64_t pairs = rows * half;
  if (pairs == 0)
    return cudaSuccess;
  return dispatch2 (x_dtype, y_dtype, [&] (auto tx, auto ty) {
    using TX = decltype (tx);
    using TY = decltype (ty);
    rope_kernel<TX, TY><<<elementwise_blocks (pairs), kElementwiseThreads, 0, stream>>> (
      (const TX *) x, cos, sin, (TY *) y, pairs, n, heads * half, half);
    return cudaGetLastError ();
  });
}

extern "C" cudaError_t
fa_cuda_modulate (FaDType x_dtype, const void *x, const float *scale, const float *shift,
                  FaDType y_dtype, void *y, int64_t batch, int64_t n, int64_t dim,
                  cudaStream_t stream)
{
  if (!takes (x_dtype) || !takes (y_dtype) || !non_negative (batch, n, dim))
    return cudaErrorInvalidValue;
  const int64_t total = checked_product (batch, n, dim);
  if (total < 0)
    return cudaErrorInvalidValue;
  if (total == 0)
    return cudaSuccess;
  return dispatch2 (x_dtype, y_dtype, [&] (auto tx, auto ty) {
    using TX = decltype (tx);
    using TY = decltype (ty);
    modulate_kernel<TX, TY><<<elementwise_blocks (total), kElementwiseThreads, 0, stream>>> (
      (const TX *) x, scale, shift, (TY *) y, total, n * dim, dim);
    return cudaGetLastError ();
  });
}

extern "C" cudaError_t
fa_cuda_gated_add (FaDType x_dtype, void *x, FaDType a_dtype, const void *a, const float *gate,
                   int64_t batch, int64_t n, int64_t dim, cudaStream_t stream)
{
  if (!takes (x_dtype) || !takes (a_dtype) || !non_negative (batch, n, dim))
    return cudaErrorInvalidValue;
  const int64_t total = checked_product (batch, n, dim);
  if (total < 0)
    return cudaErrorInvalidValue;
  if (total == 0)
    return cudaSuccess;
  return dispatch2 (x_dtype, a_dtype, [&] (auto tx, auto ta) {
    using TX = decltype (tx);
    using TA = decltype (ta);
    gated_add_kernel<TX, TA><<<elementwise_blocks (total), kElementwiseThreads, 0, stream>>> (
      (TX *) x, (const TA *) a, gate, total, n * dim, dim);
    return cudaGetLastError ();
  });
}

extern "C" cudaError_t
fa_cuda_patchify (FaDType video_dtype, const void *video, FaDType tokens_dtype, void *tokens,
                  const int64_t video_shape[5], const int patch[3], cudaStream_t stream)
{
  PatchGeometry g;
  int64_t batch;

  if (!takes (video_dtype) || !takes (tokens_dtype) || !geometry (video_shape, patch, &g, &batch))
    return cudaErrorInvalidValue;
  const int64_t per_batch = checked_product (g.channels, g.frames, g.height);
  if (per_batch < 0)
    return cudaErrorInvalidValue;
  const int64_t total = checked_product (batch, per_batch, g.width);
  if (total < 0)
    return cudaErrorInvalidValue;
  if (total == 0)
    return cudaSuccess;
  return dispatch2 (video_dtype, tokens_dtype, [&] (auto tv, auto tt) {
    using TV = decltype (tv);
    using TT = decltype (tt);
    patchify_kernel<TV, TT><<<elementwise_blocks (total), kElementwiseThreads, 0, stream>>> (
      (const TV *) video, (TT *) tokens, g, total);
    return cudaGetLastError ();
  });
}

extern "C" cudaError_t
fa_cuda_unpatchify (FaDType tokens_dtype, const void *tokens, FaDType video_dtype, void *video,
                    const int64_t video_shape[5], const int patch[3], cudaStream_t stream)
{
  PatchGeometry g;
  int64_t batch;

  if (!takes (video_dtype) || !takes (tokens_dtype) || !geometry (video_shape, patch, &g, &batch))
    return cudaErrorInvalidValue;
  const int64_t per_batch = checked_product (g.channels, g.frames, g.height);
  if (per_batch < 0)
    return cudaErrorInvalidValue;
  const int64_t total = checked_product (batch, per_batch, g.width);
  if (total < 0)
    return cudaErrorInvalidValue;
  if (total == 0)
    return cudaSuccess;
  return dispatch2 (tokens_dtype, video_dtype, [&] (auto tt, auto tv) {
    using TT = decltype (tt);
    using TV = decltype (tv);
    unpatchify_kernel<TT, TV><<<elementwise_blocks (total), kElementwiseThreads, 0, stream>>> (
      (const TT *) tokens, (TV *) video, g, total);
    return cudaGetLastError ();
  });
}
