/* fa-cpu-flow.h: the stages of the dense optical flow (engine/fa-flow.c),
 * float32 on the CPU, and the per-pixel and per-patch arithmetic that the
 * CUDA twins (kernels/cuda/fa-cuda-flow.cu) share with them.
 *
 * The per-element functions below are compiled by both the C compiler and
 * nvcc, so that a CPU stage and its CUDA kernel differ only in summation
 * order and fused multiply-adds, never in the formula.
 *
 * Conventions: a level is a grey float image (0..255) of width × height,
 * row-major. "ext" is frame 1 of the level with a replicated border of
 * FaFlowLevel.border pixels on every side, which makes a bilinear sample at
 * any clamped position a plain four-tap read. A flow (u, v) at (x, y) says
 * frame0(x, y) ≈ frame1(x + u, y + v).
 *
 * Every CPU stage takes a range of rows [y0, y1) (of pixels, or of patches
 * for the patch stages), so the engine can split a stage between threads.
 * Plain C, no GLib.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Always inlined: a stage's loop then sees the whole per-element body,
 * which is what lets the compiler vectorise it. */
#ifdef __CUDACC__
#define FA_FLOW_FN static inline __host__ __device__
#elif defined(__GNUC__)
#define FA_FLOW_FN static inline __attribute__ ((always_inline))
#else
#define FA_FLOW_FN static inline
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* One pyramid level and its patch grid. */
typedef struct {
  int width, height;
  int patch_size, stride;
  int patches_x, patches_y; /* 1 + (size − patch_size) / stride */
  int border;               /* patch_size + 1: see fa_flow_patch_origin */
  int ext_width;            /* width + 2·border */
} FaFlowLevel;

/* Per-patch precomputation: the inverse of the mean-normalised structure
 * tensor and the sums of the gradients. */
enum { FA_FLOW_TENSOR_I11, FA_FLOW_TENSOR_I12, FA_FLOW_TENSOR_I22, FA_FLOW_TENSOR_GX,
       FA_FLOW_TENSOR_GY, FA_FLOW_TENSOR_SIZE };

/* The variational refinement's buffers, each width × height of the level
 * being refined (the caller plans them for the largest level). */
typedef struct {
  float *ix, *iy, *iz, *ixx, *ixy, *iyy, *ixz, *iyz;
  float *avg;
  float *inv_a11, *a12, *inv_a22, *b1, *b2; /* the diagonal as its reciprocal */
  float *smooth; /* weight of the edges to the right and below */
  float *du, *dv, *tu, *tv;
} FaFlowVar;

typedef struct {
  float alpha, delta, gamma; /* smoothness, brightness and gradient constancy */
  float omega;               /* SOR over-relaxation */
  float zeta, epsilon;       /* normalisation and Charbonnier regularisers */
} FaFlowVarParams;

/* The structure tensor of a flat patch is singular; this much of "gradient
 * energy" per pixel is added to its diagonal so that such a patch simply
 * does not move. Units: (grey levels per pixel)². */
#define FA_FLOW_TENSOR_DAMPING 0.01f
/* A neighbour's vector closer than this (|du| + |dv|, pixels) to the
 * patch's own is not worth trying as a start. */
#define FA_FLOW_CANDIDATE_DISTINCT 0.25f
/* A descent whose step falls below this (pixels²) has converged. */
#define FA_FLOW_STEP_CONVERGED 1e-4f

/* ---- per-element arithmetic (CPU and CUDA) ---- */

FA_FLOW_FN int
fa_flow_clampi (int v, int lo, int hi)
{
  return v < lo ? lo : v > hi ? hi : v;
}

FA_FLOW_FN float
fa_flow_clampf (float v, float lo, float hi)
{
  return v < lo ? lo : v > hi ? hi : v;
}

/* 1/sqrt(x) for x > 0. On the CPU without libm's sqrtf, whose errno path
 * keeps GCC from vectorising any loop that calls it: three Newton steps
 * from the bit-level estimate, which leaves float rounding (relative error
 * about 2e-7). CUDA's rsqrtf is within 2 ulp of that. */
FA_FLOW_FN float
fa_flow_rsqrt (float x)
{
#ifdef __CUDA_ARCH__
  return rsqrtf (x);
#else
  uint32_t bits;
  memcpy (&bits, &x, sizeof bits);
  bits = 0x5f375a86u - (bits >> 1);
  float y;
  memcpy (&y, &bits, sizeof y);
  const float half = 0.5f * x;
  y = y * (1.5f - half * y * y);
  y = y * (1.5f - half * y * y);
  y = y * (1.5f - half * y * y);
  return y;
#endif
}

/* Bilinear sample of the level's frame 1 at (x, y), the position clamped
 * to the frame: the same as sampling with a replicated border anywhere. */
FA_FLOW_FN float
fa_flow_sample (const float *ext, const FaFlowLevel *lv, float x, float y)
{
  x = fa_flow_clampf (x, 0.0f, (float) (lv->width - 1));
  y = fa_flow_clampf (y, 0.0f, (float) (lv->height - 1));
  float fx = floorf (x), fy = floorf (y);
  float ax = x - fx, ay = y - fy;
  const float *p = ext + ((int) fy + lv->border) * lv->ext_width + (int) fx + lv->border;
  float top = p[0] + ax * (p[1] - p[0]);
  float bottom = p[lv->ext_width] + ax * (p[lv->ext_width + 1] - p[lv->ext_width]);
  return top + ay * (bottom - top);
}

/* Where a patch whose top-left pixel is (x0, y0) reads frame 1 for the
 * flow (u, v): the top-left of the shifted patch in ext, and the bilinear
 * fractions. The shifted origin is clamped to [−patch_size, size − 1]:
 * beyond that every tap already lies in the replicated border, so the
 * samples are those of fa_flow_sample at the unclamped positions. */
FA_FLOW_FN const float *
fa_flow_patch_origin (const float *ext, const FaFlowLevel *lv, int x0, int y0, float u, float v,
                      float *ax, float *ay)
{
  float sx = fa_flow_clampf ((float) x0 + u, (float) -lv->patch_size, (float) (lv->width - 1));
  float sy = fa_flow_clampf ((float) y0 + v, (float) -lv->patch_size, (float) (lv->height - 1));
  float fx = floorf (sx), fy = floorf (sy);
  *ax = sx - fx;
  *ay = sy - fy;
  return ext + ((int) fy + lv->border) * lv->ext_width + (int) fx + lv->border;
}

/* The mean-normalised patch distance between frame 0's patch at (x0, y0)
 * and frame 1's at (x0 + u, y0 + v):
 *   Σ (d − mean d)²,  d = I1(x + u) − I0(x),
 * and, when @bx is not NULL, the descent's right-hand side
 *   b = Σ (d − mean d) · ∇I0.
 * @ps is the patch size (a literal 8 lets the compiler unroll). */
FA_FLOW_FN float
fa_flow_patch_cost (const float *i0, const float *gx, const float *gy, const float *ext,
                    const FaFlowLevel *lv, int ps, int x0, int y0, float u, float v,
                    const float *tensor, float *bx, float *by)
{
  float ax, ay;
  const float *p = fa_flow_patch_origin (ext, lv, x0, y0, u, v, &ax, &ay);
  const int ew = lv->ext_width, w = lv->width;
  float w00 = (1.0f - ax) * (1.0f - ay), w01 = ax * (1.0f - ay);
  float w10 = (1.0f - ax) * ay, w11 = ax * ay;
  /* Eight partial sums of each kind, one per column modulo 8: the
   * additions stay in program order per lane, so the compiler may keep
   * the lanes in one vector register without reassociating anything. */
  float lane_d[8] = { 0 }, lane_d2[8] = { 0 }, lane_gx[8] = { 0 }, lane_gy[8] = { 0 };

  for (int r = 0; r < ps; r++)
    {
      const float *a = p + r * ew, *b = a + ew;
      const float *z = i0 + (y0 + r) * w + x0;
      const float *zx = gx + (y0 + r) * w + x0, *zy = gy + (y0 + r) * w + x0;
      for (int c = 0; c < ps; c++)
        {
          float d = w00 * a[c] + w01 * a[c + 1] + w10 * b[c] + w11 * b[c + 1] - z[c];
          lane_d[c & 7] += d;
          lane_d2[c & 7] += d * d;
          lane_gx[c & 7] += d * zx[c];
          lane_gy[c & 7] += d * zy[c];
        }
    }
  float sum_d = 0.0f, sum_d2 = 0.0f, sum_gx = 0.0f, sum_gy = 0.0f;
  for (int k = 0; k < 8; k++)
    {
      sum_d += lane_d[k];
      sum_d2 += lane_d2[k];
      sum_gx += lane_gx[k];
      sum_gy += lane_gy[k];
    }
  const float inv_n = 1.0f / (float) (ps * ps);
  if (bx != NULL)
    {
      *bx = sum_gx - sum_d * tensor[FA_FLOW_TENSOR_GX] * inv_n;
      *by = sum_gy - sum_d * tensor[FA_FLOW_TENSOR_GY] * inv_n;
    }
  return sum_d2 - sum_d * sum_d * inv_n;
}

/* The structure tensor of the patch at (x0, y0) with its mean gradient
 * removed (the Gauss–Newton matrix of the mean-normalised distance),
 * damped and inverted, and the gradient sums. */
FA_FLOW_FN void
fa_flow_patch_tensor_at (const float *gx, const float *gy, const FaFlowLevel *lv, int x0, int y0,
                         float *out)
{
  const int ps = lv->patch_size, w = lv->width;
  float sxx = 0.0f, sxy = 0.0f, syy = 0.0f, sx = 0.0f, sy = 0.0f;

  for (int r = 0; r < ps; r++)
    for (int c = 0; c < ps; c++)
      {
        float a = gx[(y0 + r) * w + x0 + c], b = gy[(y0 + r) * w + x0 + c];
        sxx += a * a;
        sxy += a * b;
        syy += b * b;
        sx += a;
        sy += b;
      }
  const float n = (float) (ps * ps);
  float hxx = sxx - sx * sx / n + FA_FLOW_TENSOR_DAMPING * n;
  float hyy = syy - sy * sy / n + FA_FLOW_TENSOR_DAMPING * n;
  float hxy = sxy - sx * sy / n;
  float det = hxx * hyy - hxy * hxy;
  out[FA_FLOW_TENSOR_I11] = hyy / det;
  out[FA_FLOW_TENSOR_I12] = -hxy / det;
  out[FA_FLOW_TENSOR_I22] = hxx / det;
  out[FA_FLOW_TENSOR_GX] = sx;
  out[FA_FLOW_TENSOR_GY] = sy;
}

/* Inverse-search Gauss–Newton descent of one patch from (*u, *v), at most
 * @iterations steps. A step that makes the distance worse is taken back
 * and ends the descent; a vector that wandered more than a patch size from
 * where it started is dropped (the start is kept). */
FA_FLOW_FN void
fa_flow_patch_descend (const float *i0, const float *gx, const float *gy, const float *ext,
                       const FaFlowLevel *lv, int ps, int x0, int y0, const float *tensor,
                       int iterations, float *u, float *v)
{
  const float u_start = *u, v_start = *v;
  float cu = u_start, cv = v_start, pu = cu, pv = cv;
  float prev = INFINITY;

  for (int t = 0; t < iterations; t++)
    {
      float bx, by;
      float cost = fa_flow_patch_cost (i0, gx, gy, ext, lv, ps, x0, y0, cu, cv, tensor, &bx, &by);
      if (!(cost < prev))
        {
          cu = pu;
          cv = pv;
          break;
        }
      prev = cost;
      pu = cu;
      pv = cv;
      float du = tensor[FA_FLOW_TENSOR_I11] * bx + tensor[FA_FLOW_TENSOR_I12] * by;
      float dv = tensor[FA_FLOW_TENSOR_I12] * bx + tensor[FA_FLOW_TENSOR_I22] * by;
      cu -= du;
      cv -= dv;
      if (du * du + dv * dv < FA_FLOW_STEP_CONVERGED)
        break;
    }
  float eu = cu - u_start, ev = cv - v_start;
  if (eu * eu + ev * ev <= (float) (lv->patch_size * lv->patch_size))
    {
      *u = cu;
      *v = cv;
    }
}

/* The first search pass of patch (px, py): from the dense flow of the
 * level (the coarser level's result) at the patch centre. */
FA_FLOW_FN void
fa_flow_patch_first (const float *i0, const float *gx, const float *gy, const float *ext,
                     const FaFlowLevel *lv, int ps, const float *tensors, const float *flow_u,
                     const float *flow_v, int iterations, int px, int py, float *su, float *sv)
{
  const int k = py * lv->patches_x + px;
  const int x0 = px * lv->stride, y0 = py * lv->stride;
  const int centre = (y0 + lv->patch_size / 2) * lv->width + x0 + lv->patch_size / 2;
  float u = flow_u[centre], v = flow_v[centre];

  fa_flow_patch_descend (i0, gx, gy, ext, lv, ps, x0, y0, tensors + k * FA_FLOW_TENSOR_SIZE,
                         iterations, &u, &v);
  su[k] = u;
  sv[k] = v;
}

/* The second pass: spatial propagation as a parallel step. The patch
 * starts from the best (least distance) of its own first-pass vector and
 * those of its four neighbours, then descends again. */
FA_FLOW_FN void
fa_flow_patch_second (const float *i0, const float *gx, const float *gy, const float *ext,
                      const FaFlowLevel *lv, int ps, const float *tensors, const float *in_u,
                      const float *in_v, int iterations, int px, int py, float *out_u, float *out_v)
{
  const int k = py * lv->patches_x + px;
  const int x0 = px * lv->stride, y0 = py * lv->stride;
  const float *tensor = tensors + k * FA_FLOW_TENSOR_SIZE;
  float u = in_u[k], v = in_v[k];
  float best = fa_flow_patch_cost (i0, gx, gy, ext, lv, ps, x0, y0, u, v, tensor, NULL, NULL);
  const int nx[4] = { px - 1, px + 1, px, px };
  const int ny[4] = { py, py, py - 1, py + 1 };

  for (int n = 0; n < 4; n++)
    {
      if (nx[n] < 0 || nx[n] >= lv->patches_x || ny[n] < 0 || ny[n] >= lv->patches_y)
        continue;
      const int kn = ny[n] * lv->patches_x + nx[n];
      float cu = in_u[kn], cv = in_v[kn];
      /* a vector this close would descend to the same place */
      if (fabsf (cu - u) + fabsf (cv - v) < FA_FLOW_CANDIDATE_DISTINCT)
        continue;
      float cost = fa_flow_patch_cost (i0, gx, gy, ext, lv, ps, x0, y0, cu, cv, tensor, NULL, NULL);
      if (cost < best)
        {
          best = cost;
          u = cu;
          v = cv;
        }
    }
  fa_flow_patch_descend (i0, gx, gy, ext, lv, ps, x0, y0, tensor, iterations, &u, &v);
  out_u[k] = u;
  out_v[k] = v;
}

/* Densification at pixel (x, y): the vectors of every patch that covers
 * it, each weighted by 1 / max(1, |I1(x + u) − I0(x)|). Pixels past the
 * last patch of a row or column take the nearest patches. */
FA_FLOW_FN void
fa_flow_densify_at (const float *i0, const float *ext, const FaFlowLevel *lv, const float *su,
                    const float *sv, int x, int y, float *out_u, float *out_v)
{
  const int ps = lv->patch_size, st = lv->stride;
  int px1 = fa_flow_clampi (x / st, 0, lv->patches_x - 1);
  int px0 = fa_flow_clampi ((x - ps + st) / st, 0, px1);
  int py1 = fa_flow_clampi (y / st, 0, lv->patches_y - 1);
  int py0 = fa_flow_clampi ((y - ps + st) / st, 0, py1);
  const float z = i0[y * lv->width + x];
  float sum_u = 0.0f, sum_v = 0.0f, sum_w = 0.0f;

  /* (x − ps + st)/st is ceil((x − ps + 1)/st) for x − ps + 1 ≥ 0; below
   * that it rounds toward zero, which the clamp to 0 makes right. */
  for (int py = py0; py <= py1; py++)
    for (int px = px0; px <= px1; px++)
      {
        const int k = py * lv->patches_x + px;
        float u = su[k], v = sv[k];
        float d = fabsf (fa_flow_sample (ext, lv, (float) x + u, (float) y + v) - z);
        float wgt = 1.0f / (d > 1.0f ? d : 1.0f);
        sum_u += wgt * u;
        sum_v += wgt * v;
        sum_w += wgt;
      }
  *out_u = sum_u / sum_w;
  *out_v = sum_v / sum_w;
}

/* Bilinear resize of a flow component with pixel centres aligned, each
 * vector multiplied by @scale: the value at (x, y) of the destination. */
FA_FLOW_FN float
fa_flow_resize_at (const float *src, int sw, int sh, int dw, int dh, float scale, int x, int y)
{
  float sx = fa_flow_clampf (((float) x + 0.5f) * (float) sw / (float) dw - 0.5f, 0.0f, (float) (sw - 1));
  float sy = fa_flow_clampf (((float) y + 0.5f) * (float) sh / (float) dh - 0.5f, 0.0f, (float) (sh - 1));
  int x0 = (int) sx, y0 = (int) sy;
  int x1 = x0 + 1 < sw ? x0 + 1 : x0, y1 = y0 + 1 < sh ? y0 + 1 : y0;
  float ax = sx - (float) x0, ay = sy - (float) y0;
  float top = src[y0 * sw + x0] + ax * (src[y0 * sw + x1] - src[y0 * sw + x0]);
  float bottom = src[y1 * sw + x0] + ax * (src[y1 * sw + x1] - src[y1 * sw + x0]);
  return scale * (top + ay * (bottom - top));
}

/* ---- variational refinement, per pixel ----
 * Energy (Brox et al. as DIS uses it): robust (Charbonnier) brightness and
 * gradient constancy, normalised by the gradient magnitude, plus robust
 * first-order smoothness; linearised about the current flow W, the
 * increment dW solves a 2×2-per-pixel system by red–black SOR, and the
 * robust weights are refreshed every fixed-point iteration. */

/* The central difference [−1 0 1] along x or y with a replicated border. */
FA_FLOW_FN float
fa_flow_dx (const float *a, int w, int x, int y)
{
  const float *row = a + y * w;
  return 0.5f * (row[x + 1 < w ? x + 1 : x] - row[x > 0 ? x - 1 : x]);
}

FA_FLOW_FN float
fa_flow_dy (const float *a, int w, int h, int x, int y)
{
  return 0.5f * (a[(y + 1 < h ? y + 1 : y) * w + x] - a[(y > 0 ? y - 1 : y) * w + x]);
}

/* The robust smoothness weight of the edges from (x, y) to its right and
 * lower neighbours, from the forward differences of the current flow. */
FA_FLOW_FN float
fa_flow_var_smooth_at (const float *tu, const float *tv, int w, int h, int x, int y,
                       const FaFlowVarParams *params)
{
  const int i = y * w + x;
  float ux = x + 1 < w ? tu[i + 1] - tu[i] : 0.0f;
  float vx = x + 1 < w ? tv[i + 1] - tv[i] : 0.0f;
  float uy = y + 1 < h ? tu[i + w] - tu[i] : 0.0f;
  float vy = y + 1 < h ? tv[i + w] - tv[i] : 0.0f;
  return 0.5f * params->alpha *
         fa_flow_rsqrt (ux * ux + vx * vx + uy * uy + vy * vy + params->epsilon * params->epsilon);
}

/* The data terms of pixel @i linearised about W + dW: the 2×2 matrix and
 * right-hand side they contribute to the increment's system. */
FA_FLOW_FN void
fa_flow_var_data_at (const FaFlowVar *var, int i, const FaFlowVarParams *params, float *a11,
                     float *a12, float *a22, float *b1, float *b2)
{
  const float zeta2 = params->zeta * params->zeta, eps2 = params->epsilon * params->epsilon;
  const float du = var->du[i], dv = var->dv[i];

  /* brightness constancy, normalised by the gradient magnitude */
  float ix = var->ix[i], iy = var->iy[i], iz = var->iz[i];
  float inv_norm = 1.0f / (ix * ix + iy * iy + zeta2);
  float r = iz + ix * du + iy * dv;
  float wgt = 0.5f * params->delta * inv_norm * fa_flow_rsqrt (r * r * inv_norm + eps2);
  *a11 = wgt * ix * ix + zeta2;
  *a12 = wgt * ix * iy;
  *a22 = wgt * iy * iy + zeta2;
  *b1 = -wgt * iz * ix;
  *b2 = -wgt * iz * iy;

  /* gradient constancy */
  float ixx = var->ixx[i], ixy = var->ixy[i], iyy = var->iyy[i];
  float ixz = var->ixz[i], iyz = var->iyz[i];
  float inv_nx = 1.0f / (ixx * ixx + ixy * ixy + zeta2);
  float inv_ny = 1.0f / (iyy * iyy + ixy * ixy + zeta2);
  float rx = ixz + ixx * du + ixy * dv, ry = iyz + ixy * du + iyy * dv;
  wgt = 0.5f * params->gamma * fa_flow_rsqrt (rx * rx * inv_nx + ry * ry * inv_ny + eps2);
  float wx = wgt * inv_nx, wy = wgt * inv_ny;
  *a11 += wx * ixx * ixx + wy * ixy * ixy;
  *a12 += wx * ixx * ixy + wy * ixy * iyy;
  *a22 += wx * ixy * ixy + wy * iyy * iyy;
  *b1 -= wx * ixx * ixz + wy * ixy * iyz;
  *b2 -= wx * ixy * ixz + wy * iyy * iyz;
}

/* The linear system of pixel (x, y) for the increment: the data terms
 * plus the smoothness edges (those that exist) pulling toward the
 * neighbours' W. The diagonal is stored as its reciprocal, which is what
 * SOR divides by. */
FA_FLOW_FN void
fa_flow_var_system_at (const FaFlowVar *var, const float *u, const float *v, int w, int h, int x,
                       int y, const FaFlowVarParams *params)
{
  const int i = y * w + x;
  float a11, a12, a22, b1, b2;

  fa_flow_var_data_at (var, i, params, &a11, &a12, &a22, &b1, &b2);

  const float *s = var->smooth;
  float sum = 0.0f, pull_u = 0.0f, pull_v = 0.0f;
  if (x + 1 < w)
    {
      sum += s[i];
      pull_u += s[i] * (u[i + 1] - u[i]);
      pull_v += s[i] * (v[i + 1] - v[i]);
    }
  if (x > 0)
    {
      sum += s[i - 1];
      pull_u += s[i - 1] * (u[i - 1] - u[i]);
      pull_v += s[i - 1] * (v[i - 1] - v[i]);
    }
  if (y + 1 < h)
    {
      sum += s[i];
      pull_u += s[i] * (u[i + w] - u[i]);
      pull_v += s[i] * (v[i + w] - v[i]);
    }
  if (y > 0)
    {
      sum += s[i - w];
      pull_u += s[i - w] * (u[i - w] - u[i]);
      pull_v += s[i - w] * (v[i - w] - v[i]);
    }
  var->inv_a11[i] = 1.0f / (a11 + sum);
  var->a12[i] = a12;
  var->inv_a22[i] = 1.0f / (a22 + sum);
  var->b1[i] = b1 + pull_u;
  var->b2[i] = b2 + pull_v;
}

/* The same for a pixel with all four neighbours, without the tests (the
 * CPU's inner loop). */
FA_FLOW_FN void
fa_flow_var_system_inner (const FaFlowVar *var, const float *u, const float *v, int w, int i,
                          const FaFlowVarParams *params)
{
  float a11, a12, a22, b1, b2;

  fa_flow_var_data_at (var, i, params, &a11, &a12, &a22, &b1, &b2);

  const float *s = var->smooth;
  float sr = s[i], sl = s[i - 1], su = s[i - w];
  float sum = 2.0f * sr + sl + su;
  float pull_u = sr * (u[i + 1] + u[i + w] - 2.0f * u[i]) + sl * (u[i - 1] - u[i]) +
                 su * (u[i - w] - u[i]);
  float pull_v = sr * (v[i + 1] + v[i + w] - 2.0f * v[i]) + sl * (v[i - 1] - v[i]) +
                 su * (v[i - w] - v[i]);
  var->inv_a11[i] = 1.0f / (a11 + sum);
  var->a12[i] = a12;
  var->inv_a22[i] = 1.0f / (a22 + sum);
  var->b1[i] = b1 + pull_u;
  var->b2[i] = b2 + pull_v;
}

FA_FLOW_FN void
fa_flow_var_sor_update (const FaFlowVar *var, int i, float su, float sv, float omega)
{
  float *du = var->du, *dv = var->dv;
  float nu = du[i] + omega * ((su + var->b1[i] - var->a12[i] * dv[i]) * var->inv_a11[i] - du[i]);
  du[i] = nu;
  dv[i] = dv[i] + omega * ((sv + var->b2[i] - var->a12[i] * nu) * var->inv_a22[i] - dv[i]);
}

/* One SOR update of pixel (x, y); red–black order makes every pixel of one
 * colour independent of the others of that colour. */
FA_FLOW_FN void
fa_flow_var_sor_at (const FaFlowVar *var, int w, int h, int x, int y, float omega)
{
  const int i = y * w + x;
  const float *s = var->smooth, *du = var->du, *dv = var->dv;
  float su = 0.0f, sv = 0.0f;

  if (x + 1 < w)
    {
      su += s[i] * du[i + 1];
      sv += s[i] * dv[i + 1];
    }
  if (x > 0)
    {
      su += s[i - 1] * du[i - 1];
      sv += s[i - 1] * dv[i - 1];
    }
  if (y + 1 < h)
    {
      su += s[i] * du[i + w];
      sv += s[i] * dv[i + w];
    }
  if (y > 0)
    {
      su += s[i - w] * du[i - w];
      sv += s[i - w] * dv[i - w];
    }
  fa_flow_var_sor_update (var, i, su, sv, omega);
}

FA_FLOW_FN void
fa_flow_var_sor_inner (const FaFlowVar *var, int w, int i, float omega)
{
  const float *s = var->smooth, *du = var->du, *dv = var->dv;
  float sr = s[i], sl = s[i - 1], st = s[i - w];
  float su = sr * (du[i + 1] + du[i + w]) + sl * du[i - 1] + st * du[i - w];
  float sv = sr * (dv[i + 1] + dv[i + w]) + sl * dv[i - 1] + st * dv[i - w];
  fa_flow_var_sor_update (var, i, su, sv, omega);
}

/* ---- the CPU stages ---- */

/* BT.601 luma of packed RGB, 0..255. */
void fa_cpu_flow_grey (const uint8_t *rgb, float *grey, int width, int y0, int y1);
/* dst (dw × ·) = the mean of each 2×2 block of src (sw wide). */
void fa_cpu_flow_downsample (const float *src, int sw, float *dst, int dw, int y0, int y1);
/* Rows [y0, y1) of ext (height + 2·border rows). */
void fa_cpu_flow_pad (const float *src, const FaFlowLevel *lv, float *ext, int y0, int y1);
/* Sobel 3×3 divided by 8 (a smoothed unit derivative), replicated border. */
void fa_cpu_flow_gradient (const float *img, int width, int height, float *gx, float *gy, int y0,
                           int y1);
/* Patch rows [y0, y1): FA_FLOW_TENSOR_SIZE floats per patch. */
void fa_cpu_flow_patch_tensor (const float *gx, const float *gy, const FaFlowLevel *lv,
                               float *tensors, int y0, int y1);
void fa_cpu_flow_patch_first (const float *i0, const float *gx, const float *gy, const float *ext,
                              const FaFlowLevel *lv, const float *tensors, const float *flow_u,
                              const float *flow_v, int iterations, float *su, float *sv, int y0,
                              int y1);
void fa_cpu_flow_patch_second (const float *i0, const float *gx, const float *gy, const float *ext,
                               const FaFlowLevel *lv, const float *tensors, const float *in_u,
                               const float *in_v, int iterations, float *out_u, float *out_v,
                               int y0, int y1);
/* The same sums as fa_flow_densify_at, gathered patch by patch (a patch's
 * samples share their bilinear weights, which vectorises); @weight is
 * scratch of the level's size. */
void fa_cpu_flow_densify (const float *i0, const float *ext, const FaFlowLevel *lv,
                          const float *su, const float *sv, float *u, float *v, float *weight,
                          int y0, int y1);
/* Warps frame 1 by (u, v): var->avg = (I0 + I1w)/2, var->iz = I1w − I0. */
void fa_cpu_flow_var_warp (const float *i0, const float *ext, const FaFlowLevel *lv,
                           const float *u, const float *v, const FaFlowVar *var, int y0, int y1);
/* ix, iy, ixz, iyz; and the increment set to 0, the current flow to (u, v). */
void fa_cpu_flow_var_deriv (const FaFlowLevel *lv, const float *u, const float *v,
                            const FaFlowVar *var, int y0, int y1);
/* ixx, ixy, iyy. */
void fa_cpu_flow_var_deriv2 (const FaFlowLevel *lv, const FaFlowVar *var, int y0, int y1);
void fa_cpu_flow_var_smooth (const FaFlowLevel *lv, const FaFlowVar *var,
                             const FaFlowVarParams *params, int y0, int y1);
void fa_cpu_flow_var_system (const FaFlowLevel *lv, const float *u, const float *v,
                             const FaFlowVar *var, const FaFlowVarParams *params, int y0, int y1);
/* The pixels with (x + y) % 2 == @color. */
void fa_cpu_flow_var_sor (const FaFlowLevel *lv, const FaFlowVar *var, float omega, int color,
                          int y0, int y1);
/* tu = u + du (or, when @final, u += du), likewise v. */
void fa_cpu_flow_var_update (const FaFlowLevel *lv, float *u, float *v, const FaFlowVar *var,
                             int final, int y0, int y1);
/* dst = resize(src) · scale for both components; planar output (du, dv)
 * or, when @interleaved is not NULL, (u, v) pairs into it. */
void fa_cpu_flow_resize (const float *su, const float *sv, int sw, int sh, float *du, float *dv,
                         float *interleaved, int dw, int dh, float scale, int y0, int y1);

#ifdef __cplusplus
}
#endif
