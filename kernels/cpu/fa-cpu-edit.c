/* fa-cpu-edit.c: the CPU kernels of the FlowAnchor edit. The per-element
 * arithmetic is in fa-cpu-edit.h, shared with the CUDA kernels; these are
 * the loops.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "fa-cpu-edit.h"

#include <float.h>
#include <string.h>

void
fa_cpu_edit_noise (uint64_t seed, uint32_t step, uint32_t draw, float *out, int64_t start,
                   int64_t n)
{
  int64_t k = start;
  const int64_t end = start + n;

  while (k < end)
    {
      float group[4];
      const int64_t g = k / 4;
      fa_edit_noise_group (seed, step, draw, (uint64_t) g, group);
      for (int64_t lane = k - 4 * g; lane < 4 && k < end; lane++, k++)
        out[k - start] = group[lane];
    }
}

void
fa_cpu_edit_sar (float *logits, int64_t heads, int64_t n, int64_t l, int64_t n_real,
                 const uint8_t *mask, const uint8_t *in_j, float beta1, float beta2)
{
  for (int64_t h = 0; h < heads; h++)
    {
      float *head = logits + h * n * l;

      /* step 1: rows of edited tokens, statistics over the real columns */
      for (int64_t i = 0; i < n; i++)
        {
          if (!mask[i])
            continue;
          float *row = head + i * l;
          float top = row[0], bottom = row[0];
          for (int64_t j = 1; j < n_real; j++)
            {
              top = row[j] > top ? row[j] : top;
              bottom = row[j] < bottom ? row[j] : bottom;
            }
          for (int64_t j = 0; j < n_real; j++)
            row[j] = in_j[j] ? fa_edit_pull_up (row[j], top, beta1)
                             : fa_edit_pull_down (row[j], bottom, beta1);
        }

      /* step 2: target columns, statistics over every token of step 1's
       * output */
      for (int64_t j = 0; j < n_real; j++)
        {
          if (!in_j[j])
            continue;
          float top = head[j], bottom = head[j];
          for (int64_t i = 1; i < n; i++)
            {
              const float a = head[i * l + j];
              top = a > top ? a : top;
              bottom = a < bottom ? a : bottom;
            }
          for (int64_t i = 0; i < n; i++)
            {
              float *a = head + i * l + j;
              *a = mask[i] ? fa_edit_pull_up (*a, top, beta2) : fa_edit_pull_down (*a, bottom, beta2);
            }
        }
    }
}

void
fa_cpu_edit_amm (float *dv, int64_t channels, int64_t plane, float gamma_f)
{
  float lo = FLT_MAX, hi = -FLT_MAX;

  /* two passes over dv: the means are not kept, recomputing one is cheaper
   * than a buffer the size of a latent frame set */
  for (int64_t p = 0; p < plane; p++)
    {
      double sum = 0.0;
      for (int64_t c = 0; c < channels; c++)
        sum += dv[c * plane + p];
      const float mean = (float) (sum / (double) channels);
      lo = mean < lo ? mean : lo;
      hi = mean > hi ? mean : hi;
    }
  const float spread = fa_edit_add (fa_edit_sub (hi, lo), 1e-7f);
  for (int64_t p = 0; p < plane; p++)
    {
      double sum = 0.0;
      for (int64_t c = 0; c < channels; c++)
        sum += dv[c * plane + p];
      const float mean = (float) (sum / (double) channels);
      const float weight = fa_edit_sub (mean, lo) / spread;
      const float factor = fa_edit_add (1.0f, fa_edit_mul (gamma_f, weight));
      for (int64_t c = 0; c < channels; c++)
        dv[c * plane + p] = fa_edit_mul (factor, dv[c * plane + p]);
    }
}

void
fa_cpu_edit_noised (const float *x, const float *z_edit, const float *noise, float sigma,
                    float *z_src, float *z_tar, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    {
      const float s = fa_edit_noised (x[i], noise[i], sigma);
      z_src[i] = s;
      if (z_tar != NULL)
        z_tar[i] = fa_edit_shifted (z_edit[i], s, x[i]);
    }
}

void
fa_cpu_edit_accumulate (const float *velocity, float s_src, float s_tar, float *dv, int first,
                        int64_t n)
{
  const float *su = velocity, *sc = velocity + n, *tu = velocity + 2 * n, *tc = velocity + 3 * n;

  for (int64_t i = 0; i < n; i++)
    {
      const float d = fa_edit_sub (fa_edit_cfg (tu[i], tc[i], s_tar), fa_edit_cfg (su[i], sc[i], s_src));
      dv[i] = first ? d : fa_edit_add (dv[i], d);
    }
}

void
fa_cpu_edit_divide (float *dv, float divisor, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    dv[i] = dv[i] / divisor;
}

void
fa_cpu_edit_euler (float *z, const float *v, float dt, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    z[i] = fa_edit_add (z[i], fa_edit_mul (dt, v[i]));
}

void
fa_cpu_edit_plain (float *z, const float *velocity, float scale, float sigma, float dt,
                   float *estimate, int64_t n)
{
  const float *vu = velocity, *vc = velocity + n;

  for (int64_t i = 0; i < n; i++)
    {
      const float v = fa_edit_cfg (vu[i], vc[i], scale);
      if (estimate != NULL)
        estimate[i] = fa_edit_sub (z[i], fa_edit_mul (sigma, v));
      z[i] = fa_edit_add (z[i], fa_edit_mul (dt, v));
    }
}

void
fa_cpu_edit_blend (float *z, const float *x, const uint8_t *outside, float w, int64_t channels,
                   int64_t plane)
{
  for (int64_t c = 0; c < channels; c++)
    for (int64_t p = 0; p < plane; p++)
      if (outside[p])
        {
          const int64_t i = c * plane + p;
          z[i] = fa_edit_add (z[i], fa_edit_mul (w, fa_edit_sub (x[i], z[i])));
        }
}
