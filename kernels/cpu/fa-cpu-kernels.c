/* fa-cpu-kernels.c: float32 CPU reference kernels (OpenBLAS for the GEMM).
 * Row statistics accumulate in double so that long rows (8960 in the Wan FFN)
 * stay within the 1e-5 relative tolerance of the float64 reference.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "fa-cpu-kernels.h"
#include "fa-half.h"

#ifndef FA_CPU_NAIVE_GEMM
#include <cblas.h>
#endif
#include <math.h>

#ifdef FA_CPU_NAIVE_GEMM
/* For tests/gpu/run.sh on machines without OpenBLAS: a plain triple loop,
 * accumulating in double, slow but dependency-free. */
void
fa_cpu_linear_f32 (const float *x, const float *w, const float *bias, float *y,
                   int64_t m, int64_t k, int64_t n)
{
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++)
      {
        double acc = bias != NULL ? bias[j] : 0.0;
        for (int64_t l = 0; l < k; l++)
          acc += (double) x[i * k + l] * w[j * k + l];
        y[i * n + j] = (float) acc;
      }
}
#else
void
fa_cpu_linear_f32 (const float *x, const float *w, const float *bias, float *y,
                   int64_t m, int64_t k, int64_t n)
{
  float beta = 0.0f;

  if (bias != NULL)
    {
      for (int64_t i = 0; i < m; i++)
        memcpy (y + i * n, bias, (size_t) n * sizeof (float));
      beta = 1.0f;
    }
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, (blasint) m, (blasint) n, (blasint) k,
               1.0f, x, (blasint) k, w, (blasint) k, beta, y, (blasint) n);
}
#endif

void
fa_cpu_layer_norm_f32 (const float *x, const float *gamma, const float *beta, float *y,
                       int64_t rows, int64_t cols, float eps)
{
  for (int64_t r = 0; r < rows; r++)
    {
      const float *xr = x + r * cols;
      float *yr = y + r * cols;
      double sum = 0.0, sum_sq = 0.0;

      for (int64_t c = 0; c < cols; c++)
        sum += xr[c];
      double mean = sum / (double) cols;
      for (int64_t c = 0; c < cols; c++)
        {
          double d = xr[c] - mean;
          sum_sq += d * d;
        }
      double inv_std = 1.0 / sqrt (sum_sq / (double) cols + eps);
      for (int64_t c = 0; c < cols; c++)
        {
          double v = (xr[c] - mean) * inv_std;
          if (gamma != NULL)
            v *= gamma[c];
          if (beta != NULL)
            v += beta[c];
          yr[c] = (float) v;
        }
    }
}

void
fa_cpu_rms_norm_f32 (const float *x, const float *gamma, float *y,
                     int64_t rows, int64_t cols, float eps)
{
  for (int64_t r = 0; r < rows; r++)
    {
      const float *xr = x + r * cols;
      float *yr = y + r * cols;
      double sum_sq = 0.0;

      for (int64_t c = 0; c < cols; c++)
        sum_sq += (double) xr[c] * xr[c];
      double inv_rms = 1.0 / sqrt (sum_sq / (double) cols + eps);
      for (int64_t c = 0; c < cols; c++)
        {
          double v = xr[c] * inv_rms;
          yr[c] = (float) (gamma != NULL ? v * gamma[c] : v);
        }
    }
}

void
fa_cpu_gelu_tanh_f32 (const float *x, float *y, int64_t n)
{
  const float k = 0.7978845608028654f; /* sqrt(2/pi) */

  for (int64_t i = 0; i < n; i++)
    {
      float v = x[i];
      y[i] = 0.5f * v * (1.0f + tanhf (k * (v + 0.044715f * v * v * v)));
    }
}

void
fa_cpu_silu_f32 (const float *x, float *y, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    y[i] = x[i] / (1.0f + expf (-x[i]));
}

void
fa_cpu_softmax_f32 (const float *x, float *y, int64_t rows, int64_t cols)
{
  for (int64_t r = 0; r < rows; r++)
    {
      const float *xr = x + r * cols;
      float *yr = y + r * cols;
      float max = -INFINITY;
      double sum = 0.0;

      for (int64_t c = 0; c < cols; c++)
        max = xr[c] > max ? xr[c] : max;
      for (int64_t c = 0; c < cols; c++)
        {
          yr[c] = expf (xr[c] - max);
          sum += yr[c];
        }
      float inv = (float) (1.0 / sum);
      for (int64_t c = 0; c < cols; c++)
        yr[c] *= inv;
    }
}

void
fa_cpu_add_f32 (const float *a, const float *b, float *y, int64_t n, int64_t nb)
{
  for (int64_t i = 0; i < n; i += nb)
    for (int64_t j = 0; j < nb; j++)
      y[i + j] = a[i + j] + b[j];
}

void
fa_cpu_mul_f32 (const float *a, const float *b, float *y, int64_t n, int64_t nb)
{
  for (int64_t i = 0; i < n; i += nb)
    for (int64_t j = 0; j < nb; j++)
      y[i + j] = a[i + j] * b[j];
}

static double
load_as_double (const void *src, FaDType dtype, int64_t i)
{
  switch (dtype)
    {
    case FA_DTYPE_F32: return ((const float *) src)[i];
    case FA_DTYPE_F64: return ((const double *) src)[i];
    case FA_DTYPE_F16: return fa_f16_to_f32 (((const uint16_t *) src)[i]);
    case FA_DTYPE_BF16: return fa_bf16_to_f32 (((const uint16_t *) src)[i]);
    case FA_DTYPE_F8_E4M3: return fa_f8e4m3_to_f32 (((const uint8_t *) src)[i]);
    case FA_DTYPE_F8_E5M2: return fa_f8e5m2_to_f32 (((const uint8_t *) src)[i]);
    case FA_DTYPE_I32: return ((const int32_t *) src)[i];
    case FA_DTYPE_I64: return (double) ((const int64_t *) src)[i];
    case FA_DTYPE_I16: return ((const int16_t *) src)[i];
    case FA_DTYPE_I8: return ((const int8_t *) src)[i];
    case FA_DTYPE_U8: return ((const uint8_t *) src)[i];
    case FA_DTYPE_BOOL: return ((const uint8_t *) src)[i] != 0;
    case FA_DTYPE_COUNT:
    default: return NAN;
    }
}

/* Integers saturate to the target's range; NaN becomes 0. */
static int64_t
saturate_int (double v, double lo, double hi)
{
  if (isnan (v))
    return 0;
  v = nearbyint (v);
  return (int64_t) (v < lo ? lo : v > hi ? hi : v);
}

static void
store_double (void *dst, FaDType dtype, int64_t i, double v)
{
  switch (dtype)
    {
    case FA_DTYPE_F32: ((float *) dst)[i] = (float) v; break;
    case FA_DTYPE_F64: ((double *) dst)[i] = v; break;
    case FA_DTYPE_F16: ((uint16_t *) dst)[i] = fa_f32_to_f16 ((float) v); break;
    case FA_DTYPE_BF16: ((uint16_t *) dst)[i] = fa_f32_to_bf16 ((float) v); break;
    case FA_DTYPE_F8_E4M3: ((uint8_t *) dst)[i] = fa_f32_to_f8e4m3 ((float) v); break;
    case FA_DTYPE_F8_E5M2: ((uint8_t *) dst)[i] = fa_f32_to_f8e5m2 ((float) v); break;
    case FA_DTYPE_I32: ((int32_t *) dst)[i] = (int32_t) saturate_int (v, INT32_MIN, INT32_MAX); break;
    case FA_DTYPE_I64: ((int64_t *) dst)[i] = saturate_int (v, -9.2233720368547748e18, 9.2233720368547748e18 - 1024); break;
    case FA_DTYPE_I16: ((int16_t *) dst)[i] = (int16_t) saturate_int (v, INT16_MIN, INT16_MAX); break;
    case FA_DTYPE_I8: ((int8_t *) dst)[i] = (int8_t) saturate_int (v, INT8_MIN, INT8_MAX); break;
    case FA_DTYPE_U8: ((uint8_t *) dst)[i] = (uint8_t) saturate_int (v, 0, UINT8_MAX); break;
    case FA_DTYPE_BOOL: ((uint8_t *) dst)[i] = v != 0.0; break;
    case FA_DTYPE_COUNT:
    default: break;
    }
}

int
fa_cpu_convert (const void *src, FaDType src_dtype, void *dst, FaDType dst_dtype, int64_t n)
{
  if ((unsigned) src_dtype >= FA_DTYPE_COUNT || (unsigned) dst_dtype >= FA_DTYPE_COUNT)
    return -1;

  if (src_dtype == dst_dtype)
    {
      memmove (dst, src, (size_t) n * fa_dtype_size (src_dtype));
      return 0;
    }
  /* The paths a checkpoint load takes run without the double detour. */
  if (dst_dtype == FA_DTYPE_F32 && src_dtype == FA_DTYPE_BF16)
    {
      for (int64_t i = 0; i < n; i++)
        ((float *) dst)[i] = fa_bf16_to_f32 (((const uint16_t *) src)[i]);
      return 0;
    }
  if (dst_dtype == FA_DTYPE_F32 && src_dtype == FA_DTYPE_F16)
    {
      for (int64_t i = 0; i < n; i++)
        ((float *) dst)[i] = fa_f16_to_f32 (((const uint16_t *) src)[i]);
      return 0;
    }
  if (src_dtype == FA_DTYPE_I64 && dst_dtype == FA_DTYPE_I32)
    {
      /* exact for token ids, which is what i64 tensors hold */
      for (int64_t i = 0; i < n; i++)
        {
          int64_t v = ((const int64_t *) src)[i];
          ((int32_t *) dst)[i] = (int32_t) (v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : v);
        }
      return 0;
    }
  for (int64_t i = 0; i < n; i++)
    store_double (dst, dst_dtype, i, load_as_double (src, src_dtype, i));
  return 0;
}

/* ---- transformer ops ---- */

/* The two products of attention on strided head views:
 * c[i, j] = alpha · Σ_l a[i, l] · b[j, l]   (gemm_nt), and
 * c[i, j] = Σ_l a[i, l] · b[l, j]           (gemm_nn). */
#ifdef FA_CPU_NAIVE_GEMM
static void
gemm_nt (int64_t rows, int64_t cols, int64_t inner, float alpha, const float *a, int64_t lda,
         const float *b, int64_t ldb, float *c, int64_t ldc)
{
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++)
      {
        double acc = 0.0;
        for (int64_t l = 0; l < inner; l++)
          acc += (double) a[i * lda + l] * b[j * ldb + l];
        c[i * ldc + j] = (float) (alpha * acc);
      }
}

static void
gemm_nn (int64_t rows, int64_t cols, int64_t inner, const float *a, int64_t lda, const float *b,
         int64_t ldb, float *c, int64_t ldc)
{
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++)
      {
        double acc = 0.0;
        for (int64_t l = 0; l < inner; l++)
          acc += (double) a[i * lda + l] * b[l * ldb + j];
        c[i * ldc + j] = (float) acc;
      }
}
#else
static void
gemm_nt (int64_t rows, int64_t cols, int64_t inner, float alpha, const float *a, int64_t lda,
         const float *b, int64_t ldb, float *c, int64_t ldc)
{
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, (blasint) rows, (blasint) cols,
               (blasint) inner, alpha, a, (blasint) lda, b, (blasint) ldb, 0.0f, c, (blasint) ldc);
}

static void
gemm_nn (int64_t rows, int64_t cols, int64_t inner, const float *a, int64_t lda, const float *b,
         int64_t ldb, float *c, int64_t ldc)
{
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint) rows, (blasint) cols,
               (blasint) inner, 1.0f, a, (blasint) lda, b, (blasint) ldb, 0.0f, c, (blasint) ldc);
}
#endif

int64_t
fa_cpu_attention_scratch_floats (int64_t n, int64_t m)
{
  return (n < FA_CPU_ATTENTION_CHUNK ? n : FA_CPU_ATTENTION_CHUNK) * m;
}

void
fa_cpu_attention_f32 (const float *q, const float *k, const float *v, float *out, int64_t n,
                      int64_t m, int64_t heads, int64_t head_dim, float scale, float *scratch)
{
  const int64_t width = heads * head_dim;

  for (int64_t h = 0; h < heads; h++)
    for (int64_t r0 = 0; r0 < n; r0 += FA_CPU_ATTENTION_CHUNK)
      {
        int64_t rows = n - r0 < FA_CPU_ATTENTION_CHUNK ? n - r0 : FA_CPU_ATTENTION_CHUNK;
        const float *qh = q + r0 * width + h * head_dim;

        gemm_nt (rows, m, head_dim, scale, qh, width, k + h * head_dim, width, scratch, m);
        fa_cpu_softmax_f32 (scratch, scratch, rows, m);
        gemm_nn (rows, head_dim, m, scratch, m, v + h * head_dim, width,
                 out + r0 * width + h * head_dim, width);
      }
}

void
fa_cpu_attention_logits_f32 (const float *q, const float *k, float *logits, int64_t n, int64_t m,
                             int64_t heads, int64_t head_dim, float scale)
{
  const int64_t width = heads * head_dim;

  for (int64_t h = 0; h < heads; h++)
    gemm_nt (n, m, head_dim, scale, q + h * head_dim, width, k + h * head_dim, width,
             logits + h * n * m, m);
}

void
fa_cpu_attention_apply_f32 (float *logits, const float *v, float *out, int64_t n, int64_t m,
                            int64_t heads, int64_t head_dim)
{
  const int64_t width = heads * head_dim;

  fa_cpu_softmax_f32 (logits, logits, heads * n, m);
  for (int64_t h = 0; h < heads; h++)
    gemm_nn (n, head_dim, m, logits + h * n * m, m, v + h * head_dim, width, out + h * head_dim,
             width);
}

void
fa_cpu_rope_f32 (const float *x, const float *cos, const float *sin, float *y, int64_t batch,
                 int64_t n, int64_t heads, int64_t head_dim)
{
  const int64_t half = head_dim / 2;

  for (int64_t b = 0; b < batch; b++)
    for (int64_t i = 0; i < n; i++)
      {
        const float *c = cos + i * half, *s = sin + i * half;
        for (int64_t h = 0; h < heads; h++)
          {
            int64_t base = ((b * n + i) * heads + h) * head_dim;
            for (int64_t p = 0; p < half; p++)
              {
                float x0 = x[base + 2 * p], x1 = x[base + 2 * p + 1];
                y[base + 2 * p] = x0 * c[p] - x1 * s[p];
                y[base + 2 * p + 1] = x0 * s[p] + x1 * c[p];
              }
          }
      }
}

void
fa_cpu_modulate_f32 (const float *x, const float *scale, const float *shift, float *y,
                     int64_t batch, int64_t n, int64_t dim)
{
  for (int64_t b = 0; b < batch; b++)
    {
      const float *sc = scale + b * dim, *sh = shift + b * dim;
      for (int64_t i = 0; i < n; i++)
        {
          const float *xr = x + (b * n + i) * dim;
          float *yr = y + (b * n + i) * dim;
          for (int64_t d = 0; d < dim; d++)
            yr[d] = xr[d] * (1.0f + sc[d]) + sh[d];
        }
    }
}

void
fa_cpu_gated_add_f32 (float *x, const float *a, const float *gate, int64_t batch, int64_t n,
                      int64_t dim)
{
  for (int64_t b = 0; b < batch; b++)
    for (int64_t i = 0; i < n; i++)
      {
        float *xr = x + (b * n + i) * dim;
        const float *ar = a + (b * n + i) * dim;
        if (gate == NULL)
          for (int64_t d = 0; d < dim; d++)
            xr[d] += ar[d];
        else
          for (int64_t d = 0; d < dim; d++)
            xr[d] += gate[b * dim + d] * ar[d];
      }
}

/* Walks every element of every patch, token by token, and hands
 * (video offset, token offset) pairs to the copy. */
static void
patch_copy (const void *src, void *dst, size_t elem_size, const int64_t video_shape[5],
            const int patch[3], int to_tokens, int channels_last)
{
  const int64_t batch = video_shape[0], channels = video_shape[1], frames = video_shape[2];
  const int64_t height = video_shape[3], width = video_shape[4];
  const int64_t pt = patch[0], ph = patch[1], pw = patch[2];
  const int64_t gf = frames / pt, gh = height / ph, gw = width / pw;
  const int64_t patch_size = pt * ph * pw, token_width = channels * patch_size;
  const char *s = src;
  char *d = dst;

  for (int64_t b = 0; b < batch; b++)
    for (int64_t f = 0; f < gf; f++)
      for (int64_t h = 0; h < gh; h++)
        for (int64_t w = 0; w < gw; w++)
          {
            int64_t token = ((b * gf + f) * gh + h) * gw + w;
            for (int64_t c = 0; c < channels; c++)
              for (int64_t t = 0; t < pt; t++)
                for (int64_t y = 0; y < ph; y++)
                  for (int64_t x = 0; x < pw; x++)
                    {
                      int64_t inner = (t * ph + y) * pw + x;
                      int64_t k = channels_last ? inner * channels + c : c * patch_size + inner;
                      int64_t tok = token * token_width + k;
                      int64_t vid = (((b * channels + c) * frames + f * pt + t) * height + h * ph + y) *
                                      width + w * pw + x;
                      if (to_tokens)
                        memcpy (d + tok * elem_size, s + vid * elem_size, elem_size);
                      else
                        memcpy (d + vid * elem_size, s + tok * elem_size, elem_size);
                    }
          }
}

void
fa_cpu_patchify (const void *video, void *tokens, size_t elem_size, const int64_t video_shape[5],
                 const int patch[3])
{
  patch_copy (video, tokens, elem_size, video_shape, patch, 1, 0);
}

void
fa_cpu_unpatchify (const void *tokens, void *video, size_t elem_size, const int64_t video_shape[5],
                   const int patch[3])
{
  patch_copy (tokens, video, elem_size, video_shape, patch, 0, 1);
}
