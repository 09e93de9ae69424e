/* fa-cpu-kernels.h: the float32 CPU reference kernels.
 *
 * Every kernel here is the reference its CUDA twin is tested against, and the
 * implementation behind the engine's CPU backend. Plain C, no GLib.
 * Shapes are row-major and contiguous; the caller has checked them.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "fa-kernel-types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y[m,n] = x[m,k] · w[n,k]ᵀ + bias[n]   (w in PyTorch Linear layout; bias may be NULL) */
void fa_cpu_linear_f32 (const float *x, const float *w, const float *bias, float *y,
                        int64_t m, int64_t k, int64_t n);

/* Over the last axis of [rows, cols]: (x − mean)/sqrt(var + eps), biased variance,
 * then ·gamma + beta when they are given (either may be NULL). */
void fa_cpu_layer_norm_f32 (const float *x, const float *gamma, const float *beta, float *y,
                            int64_t rows, int64_t cols, float eps);

/* x / sqrt(mean(x²) + eps) · gamma (gamma may be NULL). */
void fa_cpu_rms_norm_f32 (const float *x, const float *gamma, float *y,
                          int64_t rows, int64_t cols, float eps);

void fa_cpu_gelu_tanh_f32 (const float *x, float *y, int64_t n);
void fa_cpu_silu_f32 (const float *x, float *y, int64_t n);

/* Numerically stable softmax over the last axis of [rows, cols]. */
void fa_cpu_softmax_f32 (const float *x, float *y, int64_t rows, int64_t cols);

/* y[i] = a[i] ∘ b[i mod nb]: b is either the same size as a or repeats over
 * a's leading axes (a bias row, a per-channel table). */
void fa_cpu_add_f32 (const float *a, const float *b, float *y, int64_t n, int64_t nb);
void fa_cpu_mul_f32 (const float *a, const float *b, float *y, int64_t n, int64_t nb);

/* Element conversion between any two dtypes, with round-to-nearest-even for
 * the narrow floats. Returns 0, or -1 when a dtype is not a known one. */
int fa_cpu_convert (const void *src, FaDType src_dtype, void *dst, FaDType dst_dtype, int64_t n);

#ifdef __cplusplus
}
#endif
