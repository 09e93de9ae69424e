/* fa-cuda-kernels.h: the CUDA kernels, each the twin of a CPU reference in
 * kernels/cpu/fa-cpu-kernels.h.
 *
 * Plain C with no GLib, so that the engine's backend (C, host compiler) and
 * the standalone GPU check (tests/gpu) both call them. Every pointer is device
 * memory, every shape row-major and contiguous. Tensor operands of one call
 * share @dtype, FA_DTYPE_F32 or FA_DTYPE_BF16; arithmetic is always float32,
 * rounded to @dtype once on the final store.
 *
 * The calls are asynchronous on @stream. They return cudaErrorInvalidValue
 * for a dtype or size they do not take (before touching the device, so that
 * argument checks run without one), otherwise the launch's error: a fault
 * inside a kernel shows only at the next synchronization.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "fa-kernel-types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Over the last axis of [rows, cols]: (x − mean)/sqrt(var + eps), biased
 * variance, then ·gamma + beta when given (either may be NULL). */
cudaError_t fa_cuda_layer_norm (FaDType dtype, const void *x, const void *gamma, const void *beta,
                                void *y, int64_t rows, int64_t cols, float eps,
                                cudaStream_t stream);

/* x / sqrt(mean(x²) + eps) · gamma (gamma may be NULL). */
cudaError_t fa_cuda_rms_norm (FaDType dtype, const void *x, const void *gamma, void *y,
                              int64_t rows, int64_t cols, float eps, cudaStream_t stream);

cudaError_t fa_cuda_gelu_tanh (FaDType dtype, const void *x, void *y, int64_t n,
                               cudaStream_t stream);
cudaError_t fa_cuda_silu (FaDType dtype, const void *x, void *y, int64_t n, cudaStream_t stream);

/* Numerically stable softmax over the last axis of [rows, cols]. */
cudaError_t fa_cuda_softmax (FaDType dtype, const void *x, void *y, int64_t rows, int64_t cols,
                             cudaStream_t stream);

/* y[i] = a[i] ∘ b[i mod nb], as fa_cpu_add_f32 / fa_cpu_mul_f32. */
cudaError_t fa_cuda_add (FaDType dtype, const void *a, const void *b, void *y, int64_t n,
                         int64_t nb, cudaStream_t stream);
cudaError_t fa_cuda_mul (FaDType dtype, const void *a, const void *b, void *y, int64_t n,
                         int64_t nb, cudaStream_t stream);

/* Between f32, bf16 and f16, rounding to nearest even (NaN stays NaN).
 * Equal dtypes copy. */
cudaError_t fa_cuda_convert (const void *src, FaDType src_dtype, void *dst, FaDType dst_dtype,
                             int64_t n, cudaStream_t stream);
/* Whether fa_cuda_convert takes this dtype. */
int         fa_cuda_convert_supports (FaDType dtype);

/* y[i, j] = bias[j] for i < rows, j < cols, converting bias_dtype to
 * y_dtype: the linear prefills its output with the bias and lets the GEMM
 * add to it (beta = 1), so that the sum is rounded once. */
cudaError_t fa_cuda_fill_rows (FaDType y_dtype, void *y, FaDType bias_dtype, const void *bias,
                               int64_t rows, int64_t cols, cudaStream_t stream);

/* ---- the linear ----
 * y[m, n] = x[m, k] · w[n, k]ᵀ + bias[n]   (w in PyTorch Linear layout)
 * The GEMM is cuBLAS with bf16 operands and float32 accumulation; f32 x or w
 * are rounded to bf16 into @scratch first. x, w, bias and y are each f32 or
 * bf16, independently; @bias may be NULL. */

/* Bytes of scratch that fa_cuda_linear needs: room for x and w in bf16 when
 * they come as f32. */
size_t fa_cuda_linear_scratch_size (FaDType x_dtype, FaDType w_dtype, int64_t m, int64_t k,
                                    int64_t n);

/* Which call failed, and how: for messages. */
typedef struct {
  const char *call;             /* NULL when nothing failed */
  cudaError_t cuda_error;       /* cudaSuccess when the failure was cuBLAS's */
  cublasStatus_t cublas_status; /* CUBLAS_STATUS_SUCCESS when it was the runtime's */
} FaCudaStatus;

/* Returns 0, or -1 with @status filled in. Binds @blas to @stream. @scratch
 * holds at least fa_cuda_linear_scratch_size() bytes (NULL when that is 0)
 * and must not be in use by other work on another stream. @y must not
 * overlap x or w (it receives the bias before the GEMM reads them). m, k and
 * n must each fit in an int (cuBLAS's 32-bit interface). */
int fa_cuda_linear (cublasHandle_t blas, cudaStream_t stream,
                    FaDType x_dtype, const void *x, FaDType w_dtype, const void *w,
                    FaDType bias_dtype, const void *bias, FaDType y_dtype, void *y,
                    int64_t m, int64_t k, int64_t n,
                    void *scratch, size_t scratch_size, FaCudaStatus *status);

/* ---- transformer ops ----
 * Activations [batch, tokens, width] with the heads packed along the width
 * (head j in columns [j·head_dim, (j+1)·head_dim)). Unlike the ops above,
 * the input and output of these may differ in dtype (each f32 or bf16), so
 * that one pass also converts; the parameter tables (cos, sin, scale, shift,
 * gate) are always f32. In place (y = x) needs equal dtypes. */

/* Rotary embedding on adjacent pairs: for token i and pair p of each head,
 * y[2p] = x[2p]·cos[i,p] − x[2p+1]·sin[i,p], y[2p+1] = x[2p]·sin[i,p] +
 * x[2p+1]·cos[i,p]; cos and sin [n, head_dim/2], head_dim even. */
cudaError_t fa_cuda_rope (FaDType x_dtype, const void *x, const float *cos, const float *sin,
                          FaDType y_dtype, void *y, int64_t batch, int64_t n, int64_t heads,
                          int64_t head_dim, cudaStream_t stream);

/* y[b,i,:] = x[b,i,:]·(1 + scale[b,:]) + shift[b,:]; scale, shift [batch, dim]. */
cudaError_t fa_cuda_modulate (FaDType x_dtype, const void *x, const float *scale,
                              const float *shift, FaDType y_dtype, void *y, int64_t batch,
                              int64_t n, int64_t dim, cudaStream_t stream);

/* x[b,i,:] += gate[b,:]·a[b,i,:] (gate NULL: x += a); a may be x itself. */
cudaError_t fa_cuda_gated_add (FaDType x_dtype, void *x, FaDType a_dtype, const void *a,
                               const float *gate, int64_t batch, int64_t n, int64_t dim,
                               cudaStream_t stream);

/* Video [B, C, F, H, W] (@video_shape) and tokens [B, (F/pt)(H/ph)(W/pw), K],
 * tokens frame-major. patchify: K = C·pt·ph·pw, the patch vector ordered
 * (c, t, y, x); unpatchify: K = pt·ph·pw·C, ordered (t, y, x, c). The two
 * buffers must not overlap. */
cudaError_t fa_cuda_patchify (FaDType video_dtype, const void *video, FaDType tokens_dtype,
                              void *tokens, const int64_t video_shape[5], const int patch[3],
                              cudaStream_t stream);
cudaError_t fa_cuda_unpatchify (FaDType tokens_dtype, const void *tokens, FaDType video_dtype,
                                void *video, const int64_t video_shape[5], const int patch[3],
                                cudaStream_t stream);

/* ---- attention ----
 * out[b] = softmax(q[b]·k[b]ᵀ · scale)·v[b] per head; q and out [batch, n,
 * heads·head_dim], k and v [batch, m, heads·head_dim]; no mask. */

/* Whether fa_cuda_attention takes this head_dim: a multiple of 8, at most
 * 128. */
int fa_cuda_attention_supports (int64_t head_dim);

/* Flash attention: tiles of queries against tiles of keys with an online
 * softmax, float32 throughout, never an n × m matrix in memory. q, k, v and
 * out share @dtype (f32 or bf16); out must not overlap the inputs; m ≥ 1.
 * When the environment sets FA_CUDA_ATTENTION=mma, bf16 at head_dim 64 or
 * 128, on sm_80 or newer, with 16-byte aligned pointers, runs on the
 * tensor cores (mma.sync: bf16 products, fp32 sums and softmax; opt-in
 * until checked on a device); everything else on the float32 CUDA-core
 * kernel. */
cudaError_t fa_cuda_attention (FaDType dtype, const void *q, const void *k, const void *v,
                               void *out, int64_t batch, int64_t n, int64_t m, int64_t heads,
                               int64_t head_dim, float scale, cudaStream_t stream);

/* The explicit form, for one batch element (or a block of its queries), in
 * f32 through cuBLAS: the logits [heads, n, m], then
 * softmax and the product with v (the logits become the probabilities).
 * Return 0, or -1 with @status filled in; bind @blas to @stream. n, m and
 * heads·head_dim must fit in an int. */
int fa_cuda_attention_logits (cublasHandle_t blas, cudaStream_t stream, const float *q,
                              const float *k, float *logits, int64_t n, int64_t m, int64_t heads,
                              int64_t head_dim, float scale, FaCudaStatus *status);
int fa_cuda_attention_apply (cublasHandle_t blas, cudaStream_t stream, float *logits,
                             const float *v, float *out, int64_t n, int64_t m, int64_t heads,
                             int64_t head_dim, FaCudaStatus *status);

/* ---- video ops ---- channels-last frames, see FaConv3dGeometry */

/* The convolution as patches gathered into @scratch (in @w_dtype: f32, or
 * f16 with values beyond its range saturated) and one cuBLAS GEMM per block
 * of output pixels with f32 accumulation (TF32 never). y, x, history and
 * bias are f32; bias may be NULL. The blocks are sized so that the patches
 * fit @scratch_size, which must be at least
 * fa_cuda_conv3d_scratch_size (g, w_dtype, 0) (one block of one output
 * row; 0 for an f32 1×1×1 convolution that reads x directly); fa_cuda_conv3d_scratch_size (g, w_dtype, budget) is what a block
 * of up to @budget bytes needs. Returns 0, or -1 with @status filled in;
 * binds @blas to @stream. */
size_t fa_cuda_conv3d_scratch_size (const FaConv3dGeometry *g, FaDType w_dtype, size_t budget);
int fa_cuda_conv3d (cublasHandle_t blas, cudaStream_t stream, const float *history, const float *x,
                    FaDType w_dtype, const void *w, const float *bias, float *y,
                    const FaConv3dGeometry *g, void *scratch, size_t scratch_size,
                    FaCudaStatus *status);

/* As fa_cpu_copy_strided, on the device. */
cudaError_t fa_cuda_copy_strided (const void *src, const int64_t *src_strides, void *dst,
                                  const int64_t *dst_strides, const int64_t *shape, int ndim,
                                  size_t elem_size, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
