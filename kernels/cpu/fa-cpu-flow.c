/* fa-cpu-flow.c: the CPU stages of the dense optical flow. The arithmetic
 * is in fa-cpu-flow.h, shared with the CUDA kernels; these are the loops.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "fa-cpu-flow.h"

/* The buffers of FaFlowVar never overlap, which the compiler cannot see
 * through the struct; without this it gives up vectorising for fear of
 * aliasing. Within one SOR colour no pixel reads another of its colour.
 * (Clang's equivalent warns wherever it still cannot vectorise, which
 * -Werror turns into a failed build; Clang checks aliasing at run time.) */
#if defined(__GNUC__) && !defined(__clang__)
#define NO_ALIASING _Pragma ("GCC ivdep")
#else
#define NO_ALIASING
#endif

#include <string.h>

void
fa_cpu_flow_grey (const uint8_t *rgb, float *grey, int width, int y0, int y1)
{
  for (int y = y0; y < y1; y++)
    {
      const uint8_t *p = rgb + (size_t) y * width * 3;
      float *g = grey + (size_t) y * width;
      for (int x = 0; x < width; x++)
        g[x] = 0.299f * p[3 * x] + 0.587f * p[3 * x + 1] + 0.114f * p[3 * x + 2];
    }
}

void
fa_cpu_flow_downsample (const float *src, int sw, float *dst, int dw, int y0, int y1)
{
  for (int y = y0; y < y1; y++)
    {
      const float *a = src + (size_t) (2 * y) * sw, *b = a + sw;
      float *d = dst + (size_t) y * dw;
      for (int x = 0; x < dw; x++)
        d[x] = 0.25f * (a[2 * x] + a[2 * x + 1] + b[2 * x] + b[2 * x + 1]);
    }
}

void
fa_cpu_flow_pad (const float *src, const FaFlowLevel *lv, float *ext, int y0, int y1)
{
  const int w = lv->width, b = lv->border, ew = lv->ext_width;

  for (int y = y0; y < y1; y++)
    {
      const float *s = src + (size_t) fa_flow_clampi (y - b, 0, lv->height - 1) * w;
      float *e = ext + (size_t) y * ew;
      for (int x = 0; x < b; x++)
        e[x] = s[0];
      memcpy (e + b, s, sizeof (float) * w);
      for (int x = b + w; x < ew; x++)
        e[x] = s[w - 1];
    }
}

void
fa_cpu_flow_gradient (const float *img, int width, int height, float *gx, float *gy, int y0, int y1)
{
  for (int y = y0; y < y1; y++)
    {
      const float *up = img + (size_t) (y > 0 ? y - 1 : y) * width;
      const float *mid = img + (size_t) y * width;
      const float *down = img + (size_t) (y + 1 < height ? y + 1 : y) * width;
      float *ox = gx + (size_t) y * width, *oy = gy + (size_t) y * width;
      for (int x = 0; x < width; x++)
        {
          int l = x > 0 ? x - 1 : x, r = x + 1 < width ? x + 1 : x;
          ox[x] = 0.125f * ((up[r] - up[l]) + 2.0f * (mid[r] - mid[l]) + (down[r] - down[l]));
          oy[x] = 0.125f * ((down[l] - up[l]) + 2.0f * (down[x] - up[x]) + (down[r] - up[r]));
        }
    }
}

void
fa_cpu_flow_patch_tensor (const float *gx, const float *gy, const FaFlowLevel *lv, float *tensors,
                          int y0, int y1)
{
  for (int py = y0; py < y1; py++)
    for (int px = 0; px < lv->patches_x; px++)
      fa_flow_patch_tensor_at (gx, gy, lv, px * lv->stride, py * lv->stride,
                               tensors + (size_t) (py * lv->patches_x + px) * FA_FLOW_TENSOR_SIZE);
}

void
fa_cpu_flow_patch_first (const float *i0, const float *gx, const float *gy, const float *ext,
                         const FaFlowLevel *lv, const float *tensors, const float *flow_u,
                         const float *flow_v, int iterations, float *su, float *sv, int y0, int y1)
{
  /* The literal 8 (the presets' size) lets the compiler unroll the patch. */
  for (int py = y0; py < y1; py++)
    for (int px = 0; px < lv->patches_x; px++)
      if (lv->patch_size == 8)
        fa_flow_patch_first (i0, gx, gy, ext, lv, 8, tensors, flow_u, flow_v, iterations, px, py,
                             su, sv);
      else
        fa_flow_patch_first (i0, gx, gy, ext, lv, lv->patch_size, tensors, flow_u, flow_v,
                             iterations, px, py, su, sv);
}

void
fa_cpu_flow_patch_second (const float *i0, const float *gx, const float *gy, const float *ext,
                          const FaFlowLevel *lv, const float *tensors, const float *in_u,
                          const float *in_v, int iterations, float *out_u, float *out_v, int y0,
                          int y1)
{
  for (int py = y0; py < y1; py++)
    for (int px = 0; px < lv->patches_x; px++)
      if (lv->patch_size == 8)
        fa_flow_patch_second (i0, gx, gy, ext, lv, 8, tensors, in_u, in_v, iterations, px, py,
                              out_u, out_v);
      else
        fa_flow_patch_second (i0, gx, gy, ext, lv, lv->patch_size, tensors, in_u, in_v,
                              iterations, px, py, out_u, out_v);
}

void
fa_cpu_flow_densify (const float *i0, const float *ext, const FaFlowLevel *lv, const float *su,
                     const float *sv, float *u, float *v, float *weight, int y0, int y1)
{
  const int w = lv->width, ps = lv->patch_size, st = lv->stride, ew = lv->ext_width;
  const size_t start = (size_t) y0 * w, end = (size_t) y1 * w;

  for (size_t i = start; i < end; i++)
    u[i] = v[i] = weight[i] = 0.0f;

  /* the patch rows that reach into [y0, y1) */
  int py_first = y0 - ps + 1 > 0 ? (y0 - ps + st) / st : 0;
  int py_last = fa_flow_clampi ((y1 - 1) / st, 0, lv->patches_y - 1);
  for (int py = py_first; py <= py_last; py++)
    {
      const int top = py * st;
      const int r0 = y0 > top ? y0 - top : 0, r1 = y1 - top < ps ? y1 - top : ps;
      for (int px = 0; px < lv->patches_x; px++)
        {
          const int k = py * lv->patches_x + px, left = px * st;
          const float pu = su[k], pv = sv[k];
          float ax, ay;
          const float *p = fa_flow_patch_origin (ext, lv, left, top, pu, pv, &ax, &ay);
          const float w00 = (1.0f - ax) * (1.0f - ay), w01 = ax * (1.0f - ay);
          const float w10 = (1.0f - ax) * ay, w11 = ax * ay;
          for (int r = r0; r < r1; r++)
            {
              const float *a = p + r * ew, *b = a + ew;
              const size_t row = (size_t) (top + r) * w + left;
              const float *z = i0 + row;
              float *ou = u + row, *ov = v + row, *ow = weight + row;
              NO_ALIASING
              for (int c = 0; c < ps; c++)
                {
                  float d = fabsf (w00 * a[c] + w01 * a[c + 1] + w10 * b[c] + w11 * b[c + 1] - z[c]);
                  float wgt = 1.0f / (d > 1.0f ? d : 1.0f);
                  ou[c] += wgt * pu;
                  ov[c] += wgt * pv;
                  ow[c] += wgt;
                }
            }
        }
    }
  /* pixels past the last patch of a row or column take the nearest ones */
  for (int y = y0; y < y1; y++)
    for (int x = 0; x < w; x++)
      {
        const size_t i = (size_t) y * w + x;
        if (weight[i] > 0.0f)
          {
            u[i] /= weight[i];
            v[i] /= weight[i];
          }
        else
          fa_flow_densify_at (i0, ext, lv, su, sv, x, y, &u[i], &v[i]);
      }
}

void
fa_cpu_flow_var_warp (const float *i0, const float *ext, const FaFlowLevel *lv, const float *u,
                      const float *v, const FaFlowVar *var, int y0, int y1)
{
  for (int y = y0; y < y1; y++)
    for (int x = 0; x < lv->width; x++)
      {
        const size_t i = (size_t) y * lv->width + x;
        float warped = fa_flow_sample (ext, lv, (float) x + u[i], (float) y + v[i]);
        var->avg[i] = 0.5f * (i0[i] + warped);
        var->iz[i] = warped - i0[i];
      }
}

void
fa_cpu_flow_var_deriv (const FaFlowLevel *lv, const float *u, const float *v, const FaFlowVar *var,
                       int y0, int y1)
{
  const int w = lv->width, h = lv->height;

  for (int y = y0; y < y1; y++)
    for (int x = 0; x < w; x++)
      {
        const size_t i = (size_t) y * w + x;
        var->ix[i] = fa_flow_dx (var->avg, w, x, y);
        var->iy[i] = fa_flow_dy (var->avg, w, h, x, y);
        var->ixz[i] = fa_flow_dx (var->iz, w, x, y);
        var->iyz[i] = fa_flow_dy (var->iz, w, h, x, y);
        var->du[i] = 0.0f;
        var->dv[i] = 0.0f;
        var->tu[i] = u[i];
        var->tv[i] = v[i];
      }
}

void
fa_cpu_flow_var_deriv2 (const FaFlowLevel *lv, const FaFlowVar *var, int y0, int y1)
{
  const int w = lv->width, h = lv->height;

  for (int y = y0; y < y1; y++)
    for (int x = 0; x < w; x++)
      {
        const size_t i = (size_t) y * w + x;
        var->ixx[i] = fa_flow_dx (var->ix, w, x, y);
        var->ixy[i] = fa_flow_dy (var->ix, w, h, x, y);
        var->iyy[i] = fa_flow_dy (var->iy, w, h, x, y);
      }
}

void
fa_cpu_flow_var_smooth (const FaFlowLevel *lv, const FaFlowVar *var, const FaFlowVarParams *params,
                        int y0, int y1)
{
  const int w = lv->width, h = lv->height;
  const float eps2 = params->epsilon * params->epsilon;

  for (int y = y0; y < y1; y++)
    {
      if (y == h - 1)
        {
          for (int x = 0; x < w; x++)
            var->smooth[(size_t) y * w + x] = fa_flow_var_smooth_at (var->tu, var->tv, w, h, x, y, params);
          continue;
        }
      /* fa_flow_var_smooth_at without the edge tests, but for the last column */
      const float *tu = var->tu + (size_t) y * w, *tv = var->tv + (size_t) y * w;
      float *out = var->smooth + (size_t) y * w;
      NO_ALIASING
      for (int x = 0; x < w - 1; x++)
        {
          float ux = tu[x + 1] - tu[x], vx = tv[x + 1] - tv[x];
          float uy = tu[x + w] - tu[x], vy = tv[x + w] - tv[x];
          out[x] = 0.5f * params->alpha * fa_flow_rsqrt (ux * ux + vx * vx + uy * uy + vy * vy + eps2);
        }
      out[w - 1] = fa_flow_var_smooth_at (var->tu, var->tv, w, h, w - 1, y, params);
    }
}

/* Rows and columns at the frame's edge take the general per-pixel
 * function; the rest the one without edge tests, which vectorises. */
void
fa_cpu_flow_var_system (const FaFlowLevel *lv, const float *u, const float *v, const FaFlowVar *var,
                        const FaFlowVarParams *params, int y0, int y1)
{
  const int w = lv->width, h = lv->height;

  for (int y = y0; y < y1; y++)
    {
      if (y == 0 || y == h - 1 || w < 3)
        {
          for (int x = 0; x < w; x++)
            fa_flow_var_system_at (var, u, v, w, h, x, y, params);
          continue;
        }
      fa_flow_var_system_at (var, u, v, w, h, 0, y, params);
      NO_ALIASING
      for (int x = 1; x < w - 1; x++)
        fa_flow_var_system_inner (var, u, v, w, y * w + x, params);
      fa_flow_var_system_at (var, u, v, w, h, w - 1, y, params);
    }
}

void
fa_cpu_flow_var_sor (const FaFlowLevel *lv, const FaFlowVar *var, float omega, int color, int y0,
                     int y1)
{
  const int w = lv->width, h = lv->height;

  for (int y = y0; y < y1; y++)
    {
      const int first = (y + color) & 1;
      if (y == 0 || y == h - 1 || w < 3)
        {
          for (int x = first; x < w; x += 2)
            fa_flow_var_sor_at (var, w, h, x, y, omega);
          continue;
        }
      int x = first;
      if (x == 0)
        {
          fa_flow_var_sor_at (var, w, h, 0, y, omega);
          x = 2;
        }
      NO_ALIASING
      for (; x < w - 1; x += 2)
        fa_flow_var_sor_inner (var, w, y * w + x, omega);
      if (x == w - 1)
        fa_flow_var_sor_at (var, w, h, x, y, omega);
    }
}

void
fa_cpu_flow_var_update (const FaFlowLevel *lv, float *u, float *v, const FaFlowVar *var, int final,
                        int y0, int y1)
{
  const size_t start = (size_t) y0 * lv->width, end = (size_t) y1 * lv->width;

  if (final)
    for (size_t i = start; i < end; i++)
      {
        u[i] += var->du[i];
        v[i] += var->dv[i];
      }
  else
    for (size_t i = start; i < end; i++)
      {
        var->tu[i] = u[i] + var->du[i];
        var->tv[i] = v[i] + var->dv[i];
      }
}

void
fa_cpu_flow_resize (const float *su, const float *sv, int sw, int sh, float *du, float *dv,
                    float *interleaved, int dw, int dh, float scale, int y0, int y1)
{
  /* fa_flow_resize_at's arithmetic with the row's share computed once */
  const float rx = (float) sw / (float) dw, ry = (float) sh / (float) dh;

  for (int y = y0; y < y1; y++)
    {
      float sy = fa_flow_clampf (((float) y + 0.5f) * ry - 0.5f, 0.0f, (float) (sh - 1));
      int ya = (int) sy, yb = ya + 1 < sh ? ya + 1 : ya;
      float ay = sy - (float) ya;
      const float *ua = su + (size_t) ya * sw, *ub = su + (size_t) yb * sw;
      const float *va = sv + (size_t) ya * sw, *vb = sv + (size_t) yb * sw;
      for (int x = 0; x < dw; x++)
        {
          float sx = fa_flow_clampf (((float) x + 0.5f) * rx - 0.5f, 0.0f, (float) (sw - 1));
          int xa = (int) sx, xb = xa + 1 < sw ? xa + 1 : xa;
          float ax = sx - (float) xa;
          float ut = ua[xa] + ax * (ua[xb] - ua[xa]), ubt = ub[xa] + ax * (ub[xb] - ub[xa]);
          float vt = va[xa] + ax * (va[xb] - va[xa]), vbt = vb[xa] + ax * (vb[xb] - vb[xa]);
          float a = scale * (ut + ay * (ubt - ut)), b = scale * (vt + ay * (vbt - vt));
          const size_t i = (size_t) y * dw + x;
          if (interleaved != NULL)
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
    }
}
