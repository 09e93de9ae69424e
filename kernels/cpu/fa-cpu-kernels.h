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

/* ---- transformer ops ----
 * Heads are packed along the last axis: a [rows, heads·head_dim] matrix holds
 * head j in columns [j·head_dim, (j+1)·head_dim). */

/* Queries per block of fa_cpu_attention_f32. */
#define FA_CPU_ATTENTION_CHUNK 256

/* Floats of scratch fa_cpu_attention_f32 needs: min(n, chunk) · m. */
int64_t fa_cpu_attention_scratch_floats (int64_t n, int64_t m);

/* One batch element, out = softmax(q·kᵀ · scale) · v for every head; q and
 * out [n, heads·head_dim], k and v [m, heads·head_dim]. The queries go in
 * blocks of FA_CPU_ATTENTION_CHUNK, so @scratch holds the logits of one
 * block of one head only. @out must not overlap the inputs. */
void fa_cpu_attention_f32 (const float *q, const float *k, const float *v, float *out, int64_t n,
                           int64_t m, int64_t heads, int64_t head_dim, float scale, float *scratch);

/* The same in two halves, for a caller that wants to see the logits:
 * logits[h, i, j] = scale · q_h[i] · k_h[j]   ([heads, n, m]), then
 * out_h = softmax(logits[h]) · v_h, turning the logits into probabilities. */
void fa_cpu_attention_logits_f32 (const float *q, const float *k, float *logits, int64_t n,
                                  int64_t m, int64_t heads, int64_t head_dim, float scale);
void fa_cpu_attention_apply_f32 (float *logits, const float *v, float *out, int64_t n, int64_t m,
                                 int64_t heads, int64_t head_dim);

/* Rotary embedding on adjacent pairs; x and y [batch, n, heads·head_dim],
 * cos and sin [n, head_dim/2] (the same for every head). y may be x. */
void fa_cpu_rope_f32 (const float *x, const float *cos, const float *sin, float *y, int64_t batch,
                      int64_t n, int64_t heads, int64_t head_dim);

/* y[b,i,:] = x[b,i,:] · (1 + scale[b,:]) + shift[b,:]; x, y [batch, n, dim],
 * scale, shift [batch, dim]. y may be x. */
void fa_cpu_modulate_f32 (const float *x, const float *scale, const float *shift, float *y,
                          int64_t batch, int64_t n, int64_t dim);

/* x[b,i,:] += gate[b,:] · a[b,i,:] (gate NULL: x += a). */
void fa_cpu_gated_add_f32 (float *x, const float *a, const float *gate, int64_t batch, int64_t n,
                           int64_t dim);

/* Video [B, C, F, H, W] (@video_shape) and tokens [B, (F/pt)(H/ph)(W/pw), K]
 * with tokens frame-major; elements of @elem_size bytes, copied as they are.
 * patchify: K = C·pt·ph·pw, patch vector ordered (c, t, y, x);
 * unpatchify: K = pt·ph·pw·C, patch vector ordered (t, y, x, c). */
void fa_cpu_patchify (const void *video, void *tokens, size_t elem_size,
                      const int64_t video_shape[5], const int patch[3]);
void fa_cpu_unpatchify (const void *tokens, void *video, size_t elem_size,
                        const int64_t video_shape[5], const int patch[3]);

/* ---- video ops ---- channels-last frames, see FaConv3dGeometry */

/* The patch vectors of output pixels [p0, p0 + count): cols[p − p0, K]
 * (K = fa_conv3d_patch_size), zeros where the patch leaves the input.
 * @history may be NULL when g->th is 0. */
void fa_cpu_conv3d_im2col_f32 (const float *history, const float *x, const FaConv3dGeometry *g,
                               int64_t p0, int64_t count, float *cols);

/* Floats of scratch fa_cpu_conv3d_f32 needs (0 when no patches are
 * gathered: a 1×1×1 convolution with unit strides and no padding). */
int64_t fa_cpu_conv3d_scratch_floats (const FaConv3dGeometry *g);

/* y[p, o] = bias[o] + cols[p, :] · w[o, :] over all to·ho·wo output
 * pixels, the patches gathered in blocks into @scratch; bias may be NULL. */
void fa_cpu_conv3d_f32 (const float *history, const float *x, const float *w, const float *bias,
                        float *y, const FaConv3dGeometry *g, float *scratch);

/* dst[i…] = src[i…] over @shape (@ndim axes, 1 to 5), strides in elements,
 * elements of @elem_size bytes (1, 2, 4 or 8); no overlap. */
void fa_cpu_copy_strided (const void *src, const int64_t *src_strides, void *dst,
                          const int64_t *dst_strides, const int64_t *shape, int ndim,
                          size_t elem_size);

#ifdef __cplusplus
}
#endif
