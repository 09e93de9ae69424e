// fa-cuda-flow.cu: the CUDA stages of the dense optical flow. Each kernel
// runs the per-pixel or per-patch function of kernels/cpu/fa-cpu-flow.h
// that its CPU twin loops over: one thread per pixel, or one thread per
// patch for the inverse search (each patch is an independent descent
// reading a few hundred bytes that the L1 cache shares between the
// overlapping neighbours of a warp).
// SPDX-License-Identifier: GPL-3.0-or-later
#include "fa-cuda-common.cuh"
#include "fa-cuda-flow.h"

namespace {

constexpr int kBlockX = 32, kBlockY = 8;

dim3
grid_for (int width, int height)
{
  return dim3 ((unsigned) ((width + kBlockX - 1) / kBlockX),
               (unsigned) ((height + kBlockY - 1) / kBlockY));
}

const dim3 kBlock (kBlockX, kBlockY);

bool
bad_size (int width, int height)
{
  return width <= 0 || height <= 0;
}

__global__ void
grey_kernel (const uint8_t *rgb, float *grey, int width, int height)
{
  int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= width || y >= height)
    return;
  const uint8_t *p = rgb + ((size_t) y * width + x) * 3;
  grey[(size_t) y * width + x] = 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
}

__global__ void
downsample_kernel (const float *src, int sw, float *dst, int dw, int dh)
{
  int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= dw || y >= dh)
    return;
  const float *a = src + (size_t) (2 * y) * sw, *b = a + sw;
  dst[(size_t) y * dw + x] = 0.25f * (a[2 * x] + a[2 * x + 1] + b[2 * x] + b[2 * x + 1]);
}

__global__ void
pad_kernel (const float *src, FaFlowLevel lv, float *ext)
{
  int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= lv.ext_width || y >= lv.height + 2 * lv.border)
    return;
  int sx = fa_flow_clampi (x - lv.border, 0, lv.width - 1);
  int sy = fa_flow_clampi (y - lv.border, 0, lv.height - 1);
  ext[(size_t) y * lv.ext_width + x] = src[(size_t) sy * lv.width + sx];
}

__global__ void
gradient_kernel (const float *img, int width, int height, float *gx, float *gy)
{
  int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= width || y >= height)
    return;
  const float *up = img + (size_t) (y > 0 ? y - 1 : y) * width;
  const float *mid = img + (size_t) y * width;
  const float *down = img + (size_t) (y + 1 < height ? y + 1 : y) * width;
  int l = x > 0 ? x - 1 : x, r = x + 1 < width ? x + 1 : x;
  gx[(size_t) y * width + x] =
    0.125f * ((up[r] - up[l]) + 2.0f * (mid[r] - mid[l]) + (down[r] - down[l]));
  gy[(size_t) y * width + x] =
    0.125f * ((down[l] - up[l]) + 2.0f * (down[x] - up[x]) + (down[r] - up[r]));
}

__global__ void
patch_tensor_kernel (const float *gx, const float *gy, FaFlowLevel lv, float *tensors)
{
  int px = blockIdx.x * blockDim.x + threadIdx.x, py = blockIdx.y * blockDim.y + threadIdx.y;
  if (px >= lv.patches_x || py >= lv.patches_y)
    return;
  fa_flow_patch_tensor_at (gx, gy, &lv, px * lv.stride, py * lv.stride,
                           tensors + (size_t) (py * lv.patches_x + px) * FA_FLOW_TENSOR_SIZE);
}

template <int PS>
__global__ void
patch_first_kernel (const float *i0, const float *gx, const float *gy, const float *ext,
                    FaFlowLevel lv, const float *tensors, const float *flow_u,
                    const float *flow_v, int iterations, float *su, float *sv)
{
  int px = blockIdx.x * blockDim.x + threadIdx.x, py = blockIdx.y * blockDim.y + threadIdx.y;
  if (px >= lv.patches_x || py >= lv.patches_y)
    return;
  fa_flow_patch_first (i0, gx, gy, ext, &lv, PS > 0 ? PS : lv.patch_size, tensors, flow_u,
                       flow_v, iterations, px, py, su, sv);
}

template <int PS>
__global__ void
patch_second_kernel (const float *i0, const float *gx, const float *gy, const float *ext,
                     FaFlowLevel lv, const float *tensors, const float *in_u, const float *in_v,
                     int iterations, float *out_u, float *out_v)
{
  int px = blockIdx.x * blockDim.x + threadIdx.x, py = blockIdx.y * blockDim.y + threadIdx.y;
  if (px >= lv.patches_x || py >= lv.patches_y)
    return;
  fa_flow_patch_second (i0, gx, gy, ext, &lv, PS > 0 ? PS : lv.patch_size, tensors, in_u, in_v,
                        iterations, px, py, out_u, out_v);
}

__global__ void
densify_kernel (const float *i0, const float *ext, FaFlowLevel lv, const float *su,
                const float *sv, float *u, float *v)
{
  int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= lv.width || y >= lv.height)
    return;
  const size_t i = (size_t) y * lv.width + x;
  fa_flow_densify_at (i0, ext, &lv, su, sv, x, y, &u[i], &v[i]);
}

__global__ void
var_warp_kernel (const float *i0, const float *ext, FaFlowLevel lv, const float *u, const float *v,
                 FaFlowVar var)
{
  int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= lv.width || y >= lv.height)
    return;
  const size_t i = (size_t) y * lv.width + x;
  float warped = fa_flow_sample (ext, &lv, (float) x + u[i], (float) y + v[i]);
  var.avg[i] = 0.5f * (i0[i] + warped);
  var.iz[i] = warped - i0[i];
}

__global__ void
var_deriv_kernel (FaFlowLevel lv, const float *u, const float *v, FaFlowVar var)
{
  int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= lv.width || y >= lv.height)
    return;
  const int w = lv.width, h = lv.height;
  const size_t i = (size_t) y * w + x;
  var.ix[i] = fa_flow_dx (var.avg, w, x, y);
  var.iy[i] = fa_flow_dy (var.avg, w, h, x, y);
  var.ixz[i] = fa_flow_dx (var.iz, w, x, y);
  var.iyz[i] = fa_flow_dy (var.iz, w, h, x, y);
  var.du[i] = 0.0f;
  var.dv[i] = 0.0f;
  var.tu[i] = u[i];
  var.tv[i] = v[i];
}

__global__ void
var_deriv2_kernel (FaFlowLevel lv, FaFlowVar var)
{
  int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= lv.width || y >= lv.height)
    return;
  const int w = lv.width, h = lv.height;
  const size_t i = (size_t) y * w + x;
  var.ixx[i] = fa_flow_dx (var.ix, w, x, y);
  var.ixy[i] = fa_flow_dy (var.ix, w, h, x, y);
  var.iyy[i] = fa_flow_dy (var.iy, w, h, x, y);
}

__global__ void
var_smooth_kernel (FaFlowLevel lv, FaFlowVar var, FaFlowVarParams params)
{
  int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= lv.width || y >= lv.height)
    return;
  var.smooth[(size_t) y * lv.width + x] =
    fa_flow_var_smooth_at (var.tu, var.tv, lv.width, lv.height, x, y, &params);
}

__global__ void
var_system_kernel (FaFlowLevel lv, const float *u, const float *v, FaFlowVar var,
                   FaFlowVarParams params)
{
  int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= lv.width || y >= lv.height)
    return;
  fa_flow_var_system_at (&var, u, v, lv.width, lv.height, x, y, &params);
}

// One thread per pixel of the colour: x = 2·tx + ((y + color) & 1).
__global__ void
var_sor_kernel (FaFlowLevel lv, FaFlowVar var, float omega, int color)
{
  int tx = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
  if (y >= lv.height)
    return;
  int x = 2 * tx + ((y + color) & 1);
  if (x >= lv.width)
    return;
  fa_flow_var_sor_at (&var, lv.width, lv.height, x, y, omega);
}

__global__ void
var_update_kernel (int n, float *u, float *v, FaFlowVar var, int final)
{
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    {
      if (final)
        {
          u[i] += var.du[i];
          v[i] += var.dv[i];
        }
      else
        {
          var.tu[i] = u[i] + var.du[i];
          var.tv[i] = v[i] + var.dv[i];
        }
    }
}

__global__ void
resize_kernel (const float *su, const float *sv, int sw, int sh, float *du, float *dv,
               float *interleaved, int dw, int dh, float scale)
{
  int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= dw || y >= dh)
    return;
  float a = fa_flow_resize_at (su, sw, sh, dw, dh, scale, x, y);
  float b = fa_flow_resize_at (sv, sw, sh, dw, dh, scale, x, y);
  const size_t i = (size_t) y * dw + x;
  if (interleaved != nullptr)
    {
      interleaved[2 * i] = a;
      interleaved[2 * i + 1] = b;
    }
  else
    {
      du[i] = a;
      dv[i] = b;
    }
}

cudaError_t
launched ()
{
  return cudaGetLastError ();
}

} // namespace

extern "C" cudaError_t
fa_cuda_flow_grey (const uint8_t *rgb, float *grey, int width, int height, cudaStream_t stream)
{
  if (bad_size (width, height))
    return cudaErrorInvalidValue;
  grey_kernel<<<grid_for (width, height), kBlock, 0, stream>>> (rgb, grey, width, height);
  return launched ();
}

extern "C" cudaError_t
fa_cuda_flow_downsample (const float *src, int sw, float *dst, int dw, int dh, cudaStream_t stream)
{
  if (bad_size (dw, dh) || sw < 2 * dw)
    return cudaErrorInvalidValue;
  downsample_kernel<<<grid_for (dw, dh), kBlock, 0, stream>>> (src, sw, dst, dw, dh);
  return launched ();
}

extern "C" cudaError_t
fa_cuda_flow_pad (const float *src, const FaFlowLevel *lv, float *ext, cudaStream_t stream)
{
  if (bad_size (lv->width, lv->height))
    return cudaErrorInvalidValue;
  pad_kernel<<<grid_for (lv->ext_width, lv->height + 2 * lv->border), kBlock, 0, stream>>> (
    src, *lv, ext);
  return launched ();
}

extern "C" cudaError_t
fa_cuda_flow_gradient (const float *img, int width, int height, float *gx, float *gy,
                       cudaStream_t stream)
{
  if (bad_size (width, height))
    return cudaErrorInvalidValue;
  gradient_kernel<<<grid_for (width, height), kBlock, 0, stream>>> (img, width, height, gx, gy);
  return launched ();
}

extern "C" cudaError_t
fa_cuda_flow_patch_tensor (const float *gx, const float *gy, const FaFlowLevel *lv, float *tensors,
                           cudaStream_t stream)
{
  if (bad_size (lv->patches_x, lv->patches_y))
    return cudaErrorInvalidValue;
  patch_tensor_kernel<<<grid_for (lv->patches_x, lv->patches_y), kBlock, 0, stream>>> (
    gx, gy, *lv, tensors);
  return launched ();
}

extern "C" cudaError_t
fa_cuda_flow_patch_first (const float *i0, const float *gx, const float *gy, const float *ext,
                          const FaFlowLevel *lv, const float *tensors, const float *flow_u,
                          const float *flow_v, int iterations, float *su, float *sv,
                          cudaStream_t stream)
{
  if (bad_size (lv->patches_x, lv->patches_y))
    return cudaErrorInvalidValue;
  dim3 grid = grid_for (lv->patches_x, lv->patches_y);
  // the literal 8 (the presets' size) unrolls the patch loops
  if (lv->patch_size == 8)
    patch_first_kernel<8><<<grid, kBlock, 0, stream>>> (i0, gx, gy, ext, *lv, tensors, flow_u,
                                                         flow_v, iterations, su, sv);
  else
    patch_first_kernel<0><<<grid, kBlock, 0, stream>>> (i0, gx, gy, ext, *lv, tensors, flow_u,
                                                         flow_v, iterations, su, sv);
  return launched ();
}

extern "C" cudaError_t
fa_cuda_flow_patch_second (const float *i0, const float *gx, const float *gy, const float *ext,
                           const FaFlowLevel *lv, const float *tensors, const float *in_u,
                           const float *in_v, int iterations, float *out_u, float *out_v,
                           cudaStream_t stream)
{
  if (bad_size (lv->patches_x, lv->patches_y))
    return cudaErrorInvalidValue;
  dim3 grid = grid_for (lv->patches_x, lv->patches_y);
  if (lv->patch_size == 8)
    patch_second_kernel<8><<<grid, kBlock, 0, stream>>> (i0, gx, gy, ext, *lv, tensors, in_u,
                                                          in_v, iterations, out_u, out_v);
  else
    patch_second_kernel<0><<<grid, kBlock, 0, stream>>> (i0, gx, gy, ext, *lv, tensors, in_u,
                                                          in_v, iterations, out_u, out_v);
  return launched ();
}

extern "C" cudaError_t
fa_cuda_flow_densify (const float *i0, const float *ext, const FaFlowLevel *lv, const float *su,
                      const float *sv, float *u, float *v, cudaStream_t stream)
{
  if (bad_size (lv->width, lv->height) || bad_size (lv->patches_x, lv->patches_y))
    return cudaErrorInvalidValue;
  densify_kernel<<<grid_for (lv->width, lv->height), kBlock, 0, stream>>> (i0, ext, *lv, su, sv,
                                                                            u, v);
  return launched ();
}

extern "C" cudaError_t
fa_cuda_flow_var_warp (const float *i0, const float *ext, const FaFlowLevel *lv, const float *u,
                       const float *v, const FaFlowVar *var, cudaStream_t stream)
{
  if (bad_size (lv->width, lv->height))
    return cudaErrorInvalidValue;
  var_warp_kernel<<<grid_for (lv->width, lv->height), kBlock, 0, stream>>> (i0, ext, *lv, u, v,
                                                                             *var);
  return launched ();
}

extern "C" cudaError_t
fa_cuda_flow_var_deriv (const FaFlowLevel *lv, const float *u, const float *v, const FaFlowVar *var,
                        cudaStream_t stream)
{
  if (bad_size (lv->width, lv->height))
    return cudaErrorInvalidValue;
  var_deriv_kernel<<<grid_for (lv->width, lv->height), kBlock, 0, stream>>> (*lv, u, v, *var);
  return launched ();
}

extern "C" cudaError_t
fa_cuda_flow_var_deriv2 (const FaFlowLevel *lv, const FaFlowVar *var, cudaStream_t stream)
{
  if (bad_size (lv->width, lv->height))
    return cudaErrorInvalidValue;
  var_deriv2_kernel<<<grid_for (lv->width, lv->height), kBlock, 0, stream>>> (*lv, *var);
  return launched ();
}

extern "C" cudaError_t
fa_cuda_flow_var_smooth (const FaFlowLevel *lv, const FaFlowVar *var,
                         const FaFlowVarParams *params, cudaStream_t stream)
{
  if (bad_size (lv->width, lv->height))
    return cudaErrorInvalidValue;
  var_smooth_kernel<<<grid_for (lv->width, lv->height), kBlock, 0, stream>>> (*lv, *var, *params);
  return launched ();
}

extern "C" cudaError_t
fa_cuda_flow_var_system (const FaFlowLevel *lv, const float *u, const float *v,
                         const FaFlowVar *var, const FaFlowVarParams *params, cudaStream_t stream)
{
  if (bad_size (lv->width, lv->height))
    return cudaErrorInvalidValue;
  var_system_kernel<<<grid_for (lv->width, lv->height), kBlock, 0, stream>>> (*lv, u, v, *var,
                                                                               *params);
  return launched ();
}

extern "C" cudaError_t
fa_cuda_flow_var_sor (const FaFlowLevel *lv, const FaFlowVar *var, float omega, int color,
                      cudaStream_t stream)
{
  if (bad_size (lv->width, lv->height) || (color != 0 && color != 1))
    return cudaErrorInvalidValue;
  var_sor_kernel<<<grid_for ((lv->width + 1) / 2, lv->height), kBlock, 0, stream>>> (*lv, *var,
                                                                                      omega, color);
  return launched ();
}

extern "C" cudaError_t
fa_cuda_flow_var_update (const FaFlowLevel *lv, float *u, float *v, const FaFlowVar *var, int final,
                         cudaStream_t stream)
{
  if (bad_size (lv->width, lv->height))
    return cudaErrorInvalidValue;
  int n = lv->width * lv->height;
  var_update_kernel<<<fa_cuda::elementwise_blocks (n), fa_cuda::kElementwiseThreads, 0, stream>>> (
    n, u, v, *var, final);
  return launched ();
}

extern "C" cudaError_t
fa_cuda_flow_resize (const float *su, const float *sv, int sw, int sh, float *du, float *dv,
                     float *interleaved, int dw, int dh, float scale, cudaStream_t stream)
{
  if (bad_size (sw, sh) || bad_size (dw, dh) || (interleaved == nullptr && (du == nullptr || dv == nullptr)))
    return cudaErrorInvalidValue;
  resize_kernel<<<grid_for (dw, dh), kBlock, 0, stream>>> (su, sv, sw, sh, du, dv, interleaved, dw,
                                                            dh, scale);
  return launched ();
}
