/* fa-reference.h: float64 references for the ops, shared by the CPU op tests
 * (tests/engine/test-ops.c), the CUDA op tests (tests/cuda/test-cuda-ops.c)
 * and the standalone GPU check (tests/gpu/test-kernels.c).
 *
 * Written from the definitions of the ops, independently of kernels/, so that
 * a kernel's mistake cannot repeat itself in the value it is held against.
 * Inputs are float32, exactly as the kernels receive them (a test that wants
 * bf16-rounded operands rounds them itself first); every sum and product is
 * taken in double. Plain C with no GLib: test-kernels.c builds with a C
 * compiler alone.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* y[m, n] = x[m, k] · w[n, k]ᵀ, plus bias[n] on every row when @bias is not
 * NULL. */
static inline void
fa_reference_linear (const float *x, const float *w, const float *bias, double *y, int64_t m,
                     int64_t k, int64_t n)
{
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++)
      {
        double acc = bias != NULL ? bias[j] : 0.0;
        for (int64_t l = 0; l < k; l++)
          acc += (double) x[i * k + l] * w[j * k + l];
        y[i * n + j] = acc;
      }
}

/* Each row of x[rows, cols] normalized to mean 0 and (biased) variance 1,
 * (x − mean) / sqrt(var + eps), then ·gamma[cols] and +beta[cols] where
 * those are not NULL. */
static inline void
fa_reference_layer_norm (const float *x, const float *gamma, const float *beta, double *y,
                         int64_t rows, int64_t cols, double eps)
{
  for (int64_t r = 0; r < rows; r++)
    {
      const float *xr = x + r * cols;
      double mean = 0, var = 0;
      for (int64_t c = 0; c < cols; c++)
        mean += xr[c];
      mean /= (double) cols;
      for (int64_t c = 0; c < cols; c++)
        var += (xr[c] - mean) * (xr[c] - mean);
      var /= (double) cols;
      for (int64_t c = 0; c < cols; c++)
        {
          double v = (xr[c] - mean) / sqrt (var + eps);
          if (gamma != NULL)
            v *= gamma[c];
          if (beta != NULL)
            v += beta[c];
          y[r * cols + c] = v;
        }
    }
}

/* Each row of x[rows, cols] divided by its root mean square,
 * x / sqrt(mean(x²) + eps), then ·gamma[cols] where @gamma is not NULL. */
static inline void
fa_reference_rms_norm (const float *x, const float *gamma, double *y, int64_t rows, int64_t cols,
                       double eps)
{
  for (int64_t r = 0; r < rows; r++)
    {
      const float *xr = x + r * cols;
      double sum_sq = 0;
      for (int64_t c = 0; c < cols; c++)
        sum_sq += (double) xr[c] * xr[c];
      double inv = 1.0 / sqrt (sum_sq / (double) cols + eps);
      for (int64_t c = 0; c < cols; c++)
        y[r * cols + c] = xr[c] * inv * (gamma != NULL ? gamma[c] : 1.0);
    }
}

/* Softmax of each row of x[rows, cols], shifted by the row's maximum so that
 * large logits do not overflow. */
static inline void
fa_reference_softmax (const float *x, double *y, int64_t rows, int64_t cols)
{
  for (int64_t r = 0; r < rows; r++)
    {
      const float *xr = x + r * cols;
      double max = -INFINITY, sum = 0;
      for (int64_t c = 0; c < cols; c++)
        max = fmax (max, xr[c]);
      for (int64_t c = 0; c < cols; c++)
        sum += exp (xr[c] - max);
      for (int64_t c = 0; c < cols; c++)
        y[r * cols + c] = exp (xr[c] - max) / sum;
    }
}

/* GELU, tanh approximation: ½v(1 + tanh(√(2/π)(v + 0.044715v³))). */
static inline double
fa_reference_gelu_tanh (double v)
{
  /* π written out: M_PI is not in ISO C */
  return 0.5 * v * (1.0 + tanh (sqrt (2.0 / 3.14159265358979323846) * (v + 0.044715 * v * v * v)));
}

/* SiLU: v·sigmoid(v). */
static inline double
fa_reference_silu (double v)
{
  return v / (1.0 + exp (-v));
}

/* y[i] = a[i] + b[i mod nb]: b the same size as a, or a's trailing axes
 * repeated. */
static inline void
fa_reference_add (const float *a, const float *b, double *y, int64_t n, int64_t nb)
{
  for (int64_t i = 0; i < n; i++)
    y[i] = (double) a[i] + b[i % nb];
}

/* y[i] = a[i] · b[i mod nb], broadcast as for fa_reference_add. */
static inline void
fa_reference_mul (const float *a, const float *b, double *y, int64_t n, int64_t nb)
{
  for (int64_t i = 0; i < n; i++)
    y[i] = (double) a[i] * b[i % nb];
}
