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
#include <stdlib.h>

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

/* ---- transformer ops ----
 * Activations are [batch, tokens, width] with the heads packed along the
 * width: head j in columns [j·head_dim, (j+1)·head_dim). */

/* The pre-softmax logits of one batch element, [heads, n, m]:
 * logits[h, i, j] = scale · Σ_d q[i, h·D + d] · k[j, h·D + d]. */
static inline void
fa_reference_attention_logits (const float *q, const float *k, double *logits, int64_t n, int64_t m,
                               int64_t heads, int64_t head_dim, double scale)
{
  const int64_t width = heads * head_dim;

  for (int64_t h = 0; h < heads; h++)
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < m; j++)
        {
          double dot = 0;
          for (int64_t d = 0; d < head_dim; d++)
            dot += (double) q[i * width + h * head_dim + d] * k[j * width + h * head_dim + d];
          logits[(h * n + i) * m + j] = scale * dot;
        }
}

/* From logits [heads, n, m] of one batch element: out[i, h·D + d] =
 * Σ_j softmax_j(logits[h, i, :]) · v[j, h·D + d]. A logit of −∞ takes its
 * key out. Returns -1 when the scratch for a row cannot be had, else 0. */
static inline int
fa_reference_attention_from_logits (const double *logits, const float *v, double *out, int64_t n,
                                    int64_t m, int64_t heads, int64_t head_dim)
{
  const int64_t width = heads * head_dim;
  double *p = malloc ((size_t) (m > 0 ? m : 1) * sizeof (double));

  if (p == NULL)
    return -1;
  for (int64_t h = 0; h < heads; h++)
    for (int64_t i = 0; i < n; i++)
      {
        const double *row = logits + (h * n + i) * m;
        double max = -INFINITY, sum = 0;
        for (int64_t j = 0; j < m; j++)
          max = fmax (max, row[j]);
        for (int64_t j = 0; j < m; j++)
          sum += p[j] = exp (row[j] - max);
        for (int64_t d = 0; d < head_dim; d++)
          {
            double acc = 0;
            for (int64_t j = 0; j < m; j++)
              acc += p[j] * v[j * width + h * head_dim + d];
            out[i * width + h * head_dim + d] = acc / sum;
          }
      }
  free (p);
  return 0;
}

/* out[b] = softmax(q[b]·k[b]ᵀ · scale) · v[b] per head; q and out [batch, n,
 * heads·head_dim], k and v [batch, m, heads·head_dim]. Returns -1 when the
 * scratch for the logits cannot be had, else 0. */
static inline int
fa_reference_attention (const float *q, const float *k, const float *v, double *out, int64_t batch,
                        int64_t n, int64_t m, int64_t heads, int64_t head_dim, double scale)
{
  const int64_t width = heads * head_dim;
  double *logits = malloc ((size_t) (heads * n * m > 0 ? heads * n * m : 1) * sizeof (double));

  if (logits == NULL)
    return -1;
  for (int64_t b = 0; b < batch; b++)
    {
      fa_reference_attention_logits (q + b * n * width, k + b * m * width, logits, n, m, heads,
                                     head_dim, scale);
      if (fa_reference_attention_from_logits (logits, v + b * m * width, out + b * n * width, n, m,
                                              heads, head_dim) != 0)
        {
          free (logits);
          return -1;
        }
    }
  free (logits);
  return 0;
}

/* Rotation of adjacent pairs: for token i and pair p of every head,
 * (x0, x1) → (x0·cos − x1·sin, x0·sin + x1·cos), with cos and sin
 * [n, head_dim/2]; x and y [batch, n, heads·head_dim]. */
static inline void
fa_reference_rope (const float *x, const float *cos, const float *sin, double *y, int64_t batch,
                   int64_t n, int64_t heads, int64_t head_dim)
{
  const int64_t half = head_dim / 2;

  for (int64_t b = 0; b < batch; b++)
    for (int64_t i = 0; i < n; i++)
      for (int64_t h = 0; h < heads; h++)
        for (int64_t p = 0; p < half; p++)
          {
            int64_t at = ((b * n + i) * heads + h) * head_dim + 2 * p;
            double x0 = x[at], x1 = x[at + 1], c = cos[i * half + p], s = sin[i * half + p];
            y[at] = x0 * c - x1 * s;
            y[at + 1] = x0 * s + x1 * c;
          }
}

/* y[b, i, d] = x[b, i, d] · (1 + scale[b, d]) + shift[b, d]. */
static inline void
fa_reference_modulate (const float *x, const float *scale, const float *shift, double *y,
                       int64_t batch, int64_t n, int64_t dim)
{
  for (int64_t b = 0; b < batch; b++)
    for (int64_t i = 0; i < n; i++)
      for (int64_t d = 0; d < dim; d++)
        y[(b * n + i) * dim + d] =
          (double) x[(b * n + i) * dim + d] * (1.0 + scale[b * dim + d]) + shift[b * dim + d];
}

/* y[b, i, d] = x[b, i, d] + gate[b, d] · a[b, i, d] (gate NULL: + a). */
static inline void
fa_reference_gated_add (const float *x, const float *a, const float *gate, double *y, int64_t batch,
                        int64_t n, int64_t dim)
{
  for (int64_t b = 0; b < batch; b++)
    for (int64_t i = 0; i < n; i++)
      for (int64_t d = 0; d < dim; d++)
        {
          int64_t at = (b * n + i) * dim + d;
          y[at] = (double) x[at] + (gate != NULL ? (double) gate[b * dim + d] : 1.0) * a[at];
        }
}

/* Video [B, C, F, H, W] to tokens [B, (F/pt)(H/ph)(W/pw), C·pt·ph·pw]: for
 * every video element, the token of its patch (frame-major: (f·H' + h)·W' + w)
 * and its place in the patch vector, ordered (c, t, y, x) with x fastest. */
static inline void
fa_reference_patchify (const float *video, double *tokens, int64_t batch, int64_t channels,
                       int64_t frames, int64_t height, int64_t width, int pt, int ph, int pw)
{
  const int64_t grid_h = height / ph, grid_w = width / pw;
  const int64_t n = frames / pt * grid_h * grid_w, token_width = channels * pt * ph * pw;

  for (int64_t b = 0; b < batch; b++)
    for (int64_t c = 0; c < channels; c++)
      for (int64_t f = 0; f < frames; f++)
        for (int64_t y = 0; y < height; y++)
          for (int64_t x = 0; x < width; x++)
            {
              int64_t token = (f / pt * grid_h + y / ph) * grid_w + x / pw;
              int64_t k = ((c * pt + f % pt) * ph + y % ph) * pw + x % pw;
              tokens[(b * n + token) * token_width + k] =
                video[(((b * channels + c) * frames + f) * height + y) * width + x];
            }
}

/* Tokens [B, N, pt·ph·pw·C] back to video [B, C, F, H, W], the patch vector
 * ordered (t, y, x, c) with c fastest. */
static inline void
fa_reference_unpatchify (const float *tokens, double *video, int64_t batch, int64_t channels,
                         int64_t frames, int64_t height, int64_t width, int pt, int ph, int pw)
{
  const int64_t grid_h = height / ph, grid_w = width / pw;
  const int64_t n = frames / pt * grid_h * grid_w, token_width = channels * pt * ph * pw;

  for (int64_t b = 0; b < batch; b++)
    for (int64_t c = 0; c < channels; c++)
      for (int64_t f = 0; f < frames; f++)
        for (int64_t y = 0; y < height; y++)
          for (int64_t x = 0; x < width; x++)
            {
              int64_t token = (f / pt * grid_h + y / ph) * grid_w + x / pw;
              int64_t k = (((f % pt) * ph + y % ph) * pw + x % pw) * channels + c;
              video[(((b * channels + c) * frames + f) * height + y) * width + x] =
                tokens[(b * n + token) * token_width + k];
            }
}

/* The channels of pixel (row, col) of frame f of the 3-D convolution's input
 * as the kernel sees it: @in_shape is { th, tx, h, w, ci }, frames
 * [0, th) are history's and [th, th + tx) x's, and the frame is h·u × w·u
 * (u = 2 when @upsample, each source pixel repeated 2 × 2). NULL outside
 * (the padding). */
static inline const float *
fa_reference_conv3d_pixel (const float *history, const float *x, const int64_t in_shape[5],
                           int upsample, int64_t f, int64_t row, int64_t col)
{
  const int64_t th = in_shape[0], tx = in_shape[1], h = in_shape[2], w = in_shape[3];
  const int64_t ci = in_shape[4], u = upsample ? 2 : 1;

  if (f < 0 || f >= th + tx || row < 0 || row >= h * u || col < 0 || col >= w * u)
    return NULL;
  if (f < th)
    return history + ((f * h + row / u) * w + col / u) * ci;
  return x + (((f - th) * h + row / u) * w + col / u) * ci;
}

/* y[t, i, j, o] = bias[o] + Σ_{a,b,c,k} weight[o, a, b, c, k] ·
 *                 in[t·st + a − pad[0], i·sh + b − pad[1], j·sw + c − pad[2], k]
 * with @in as fa_reference_conv3d_pixel reads it; weight [co, kt, kh, kw, ci],
 * bias [co] or NULL, y [to, ho, wo, co] (@out_shape). The padding after the
 * frame only decides the output size, so it is not needed here. */
static inline void
fa_reference_conv3d (const float *history, const float *x, const float *weight, const float *bias,
                     double *y, const int64_t in_shape[5], const int64_t out_shape[4],
                     const int kernel[3], const int stride[3], const int pad[3], int upsample)
{
  const int64_t ci = in_shape[4];
  const int64_t to = out_shape[0], ho = out_shape[1], wo = out_shape[2], co = out_shape[3];

  for (int64_t t = 0; t < to; t++)
    for (int64_t i = 0; i < ho; i++)
      for (int64_t j = 0; j < wo; j++)
        for (int64_t o = 0; o < co; o++)
          {
            double acc = bias != NULL ? bias[o] : 0.0;
            for (int a = 0; a < kernel[0]; a++)
              for (int b = 0; b < kernel[1]; b++)
                for (int c = 0; c < kernel[2]; c++)
                  {
                    const float *in = fa_reference_conv3d_pixel (
                      history, x, in_shape, upsample, t * stride[0] + a - pad[0],
                      i * stride[1] + b - pad[1], j * stride[2] + c - pad[2]);
                    const float *wr = weight + (((o * kernel[0] + a) * kernel[1] + b) * kernel[2] + c) * ci;
                    if (in == NULL)
                      continue;
                    for (int64_t k = 0; k < ci; k++)
                      acc += (double) wr[k] * in[k];
                  }
            y[((t * ho + i) * wo + j) * co + o] = acc;
          }
}
