/* fa-cpu-edit.h: the kernels of the FlowAnchor edit (engine/fa-edit.c) on
 * the CPU, and the arithmetic they share with their CUDA twins in
 * kernels/cuda/fa-cuda-edit.cu: Philox4x32-10, the Box–Muller transform,
 * and the float32 formulas of the loop, each rounded in the order the
 * reference (tools/reference/flowanchor_ref.py) rounds it.
 *
 * Plain C with no GLib, so that nvcc can compile the shared inline parts.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __CUDACC__
#define FA_EDIT_HD static __host__ __device__ __forceinline__
#else
#define FA_EDIT_HD static inline
#endif

/* One float32 operation each, never fused into a multiply-add: the
 * reference rounds every product and every sum, and nvcc would contract
 * a·b + c otherwise. */
FA_EDIT_HD float
fa_edit_mul (float a, float b)
{
#ifdef __CUDA_ARCH__
  return __fmul_rn (a, b);
#else
  return a * b;
#endif
}

FA_EDIT_HD float
fa_edit_add (float a, float b)
{
#ifdef __CUDA_ARCH__
  return __fadd_rn (a, b);
#else
  return a + b;
#endif
}

FA_EDIT_HD float
fa_edit_sub (float a, float b)
{
#ifdef __CUDA_ARCH__
  return __fsub_rn (a, b);
#else
  return a - b;
#endif
}

/* ---- Philox4x32-10 (Salmon et al., SC'11) ---- */

#define FA_PHILOX_M0 0xD2511F53u
#define FA_PHILOX_M1 0xCD9E8D57u
#define FA_PHILOX_W0 0x9E3779B9u
#define FA_PHILOX_W1 0xBB67AE85u

FA_EDIT_HD void
fa_philox4x32_10 (const uint32_t ctr_in[4], const uint32_t key_in[2], uint32_t out[4])
{
  uint32_t c0 = ctr_in[0], c1 = ctr_in[1], c2 = ctr_in[2], c3 = ctr_in[3];
  uint32_t k0 = key_in[0], k1 = key_in[1];

  for (int round = 0; round < 10; round++)
    {
      if (round > 0)
        {
          k0 += FA_PHILOX_W0;
          k1 += FA_PHILOX_W1;
        }
      const uint64_t p0 = (uint64_t) FA_PHILOX_M0 * c0;
      const uint64_t p1 = (uint64_t) FA_PHILOX_M1 * c2;
      const uint32_t n0 = (uint32_t) (p1 >> 32) ^ c1 ^ k0;
      const uint32_t n2 = (uint32_t) (p0 >> 32) ^ c3 ^ k1;
      c1 = (uint32_t) p1;
      c3 = (uint32_t) p0;
      c0 = n0;
      c2 = n2;
    }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

/* The four normals of group @group (elements 4·group … 4·group + 3) of
 * the stream (@seed, @step, @draw): Philox of the counter (group low,
 * group high, step, draw) under the key (seed low, seed high), its words
 * made uniforms in (0, 1) and paired by Box–Muller, in double so that the
 * CPU and CUDA round the same value once to float. */
FA_EDIT_HD void
fa_edit_noise_group (uint64_t seed, uint32_t step, uint32_t draw, uint64_t group, float out[4])
{
  const uint32_t ctr[4] = { (uint32_t) group, (uint32_t) (group >> 32), step, draw };
  const uint32_t key[2] = { (uint32_t) seed, (uint32_t) (seed >> 32) };
  uint32_t r[4];

  fa_philox4x32_10 (ctr, key, r);
  for (int pair = 0; pair < 2; pair++)
    {
      /* (k + 0.5) / 2³²: never 0, so the logarithm is finite */
      const double u1 = ((double) r[2 * pair] + 0.5) * (1.0 / 4294967296.0);
      const double u2 = ((double) r[2 * pair + 1] + 0.5) * (1.0 / 4294967296.0);
      const double radius = sqrt (-2.0 * log (u1));
      const double angle = 6.283185307179586476925 * u2;
      out[2 * pair] = (float) (radius * cos (angle));
      out[2 * pair + 1] = (float) (radius * sin (angle));
    }
}

/* ---- the loop's formulas, per element ---- */

/* Z_src = (1 − σ)·x + σ·N, with 1 − σ rounded first. */
FA_EDIT_HD float
fa_edit_noised (float x, float noise, float sigma)
{
  return fa_edit_add (fa_edit_mul (fa_edit_sub (1.0f, sigma), x), fa_edit_mul (sigma, noise));
}

/* Z_tar = (Z_edit + Z_src) − x. */
FA_EDIT_HD float
fa_edit_shifted (float z_edit, float z_src, float x)
{
  return fa_edit_sub (fa_edit_add (z_edit, z_src), x);
}

/* V = V_u + s·(V_c − V_u). */
FA_EDIT_HD float
fa_edit_cfg (float v_uncond, float v_cond, float scale)
{
  return fa_edit_add (v_uncond, fa_edit_mul (scale, fa_edit_sub (v_cond, v_uncond)));
}

/* a + β·(top − a): a pull toward the maximum. */
FA_EDIT_HD float
fa_edit_pull_up (float a, float top, float beta)
{
  return fa_edit_add (a, fa_edit_mul (beta, fa_edit_sub (top, a)));
}

/* a − β·(a − bottom): a pull toward the minimum. */
FA_EDIT_HD float
fa_edit_pull_down (float a, float bottom, float beta)
{
  return fa_edit_sub (a, fa_edit_mul (beta, fa_edit_sub (a, bottom)));
}

/* ---- CPU kernels ---- */

/* Elements [start, start + n) of the stream (@seed, @step, @draw). */
void fa_cpu_edit_noise (uint64_t seed, uint32_t step, uint32_t draw, float *out, int64_t start,
                        int64_t n);

/* SAR (spec section 2) in place on @logits [heads, n, l]: @mask n bytes
 * (non-zero: an edited token), @in_j n_real bytes (non-zero: a target
 * column); only columns < n_real are read or written. */
void fa_cpu_edit_sar (float *logits, int64_t heads, int64_t n, int64_t l, int64_t n_real,
                      const uint8_t *mask, const uint8_t *in_j, float beta1, float beta2);

/* AMM (spec section 3) in place on @dv [channels, plane]: the channel mean
 * of every position, its min–max spread C, dv ·= 1 + gamma_f·C. */
void fa_cpu_edit_amm (float *dv, int64_t channels, int64_t plane, float gamma_f);

/* The latents of one FlowEdit draw: @z_src = Z_src and, when @z_tar is not
 * NULL, @z_tar = Z_tar. */
void fa_cpu_edit_noised (const float *x, const float *z_edit, const float *noise, float sigma,
                         float *z_src, float *z_tar, int64_t n);

/* One draw's difference from the batch-4 velocities @velocity [4, n]
 * (source uncond, source cond, target uncond, target cond):
 * d = V(target; s_tar) − V(source; s_src); dv = d when @first, else dv + d. */
void fa_cpu_edit_accumulate (const float *velocity, float s_src, float s_tar, float *dv, int first,
                             int64_t n);

/* dv /= divisor. */
void fa_cpu_edit_divide (float *dv, float divisor, int64_t n);

/* z = z + dt·v. */
void fa_cpu_edit_euler (float *z, const float *v, float dt, int64_t n);

/* A plain step from the batch-2 velocities @velocity [2, n] (uncond,
 * cond): v = V(s), @estimate = z − σ·v (may be NULL), z = z + dt·v. */
void fa_cpu_edit_plain (float *z, const float *velocity, float scale, float sigma, float dt,
                        float *estimate, int64_t n);

/* z = z + w·(x − z) where @outside[p] is set, for every channel of @z and
 * @x [channels, plane]. */
void fa_cpu_edit_blend (float *z, const float *x, const uint8_t *outside, float w,
                        int64_t channels, int64_t plane);

#ifdef __cplusplus
}
#endif
