/* fa-backend.h: compute backends (CPU, CUDA) and the ops they run.
 *
 * One op table, two implementations. The fa_op_* functions check shapes,
 * dtypes and devices here, once, and then call the backend, so both
 * backends see only well-formed calls.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "fa-tensor.h"

G_BEGIN_DECLS

FaBackend *fa_backend_new_cpu (void);
/* Fails with a message naming the reason (no CUDA in this build, no device,
 * driver too old, …). */
FaBackend *fa_backend_new_cuda (int device_index, GError **error);
/* CUDA when a device works, else the CPU; logs why CUDA was not taken. */
FaBackend *fa_backend_new_default (void);

FaBackend  *fa_backend_ref (FaBackend *backend);
void        fa_backend_unref (FaBackend *backend);

FaDevice    fa_backend_get_device (FaBackend *backend);
/* "CPU (OpenBLAS …)" or the CUDA device name. */
const char *fa_backend_get_description (FaBackend *backend);
gboolean    fa_backend_synchronize (FaBackend *backend, GError **error);

/* Raw allocations on the backend's device, counted in its statistics. */
gpointer    fa_backend_alloc (FaBackend *backend, gsize size, GError **error);
void        fa_backend_free (FaBackend *backend, gpointer ptr, gsize size);

/* Bytes held now and the most held since creation or the last reset. */
void        fa_backend_get_memory (FaBackend *backend, guint64 *current, guint64 *peak);
void        fa_backend_reset_peak (FaBackend *backend);
/* Logs the peak of the stage that just ended, then starts a new stage. */
void        fa_backend_log_stage_memory (FaBackend *backend, const char *stage);

/* Whether this build has a CUDA backend, and if a device is usable: the
 * device name and memory, or in @error why not. */
gboolean    fa_cuda_probe (int device_index, char **out_name, guint64 *out_total_bytes,
                           GError **error);

/* ---- ops ----
 * Every tensor must be on the backend's device and contiguous. The CPU
 * backend computes in f32; CUDA takes f32 and bf16 (linear multiplies in
 * bf16 with f32 accumulation, everything else computes in f32). */

/* y[..., n] = x[..., k] · weight[n, k]ᵀ + bias[n]; @bias may be NULL. */
gboolean fa_op_linear (FaBackend *backend, const FaTensor *x, const FaTensor *weight,
                       const FaTensor *bias, FaTensor *y, GError **error);
/* Over the last axis; @weight and @bias ([last]) may be NULL (no affine). */
gboolean fa_op_layer_norm (FaBackend *backend, const FaTensor *x, const FaTensor *weight,
                           const FaTensor *bias, FaTensor *y, float eps, GError **error);
gboolean fa_op_rms_norm (FaBackend *backend, const FaTensor *x, const FaTensor *weight,
                         FaTensor *y, float eps, GError **error);
gboolean fa_op_gelu_tanh (FaBackend *backend, const FaTensor *x, FaTensor *y, GError **error);
gboolean fa_op_silu (FaBackend *backend, const FaTensor *x, FaTensor *y, GError **error);
gboolean fa_op_softmax (FaBackend *backend, const FaTensor *x, FaTensor *y, GError **error);
/* @b has @a's shape, or the shape of @a's trailing axes (broadcast over the rest). */
gboolean fa_op_add (FaBackend *backend, const FaTensor *a, const FaTensor *b, FaTensor *y,
                    GError **error);
gboolean fa_op_mul (FaBackend *backend, const FaTensor *a, const FaTensor *b, FaTensor *y,
                    GError **error);
/* Same shape, @y's dtype. */
gboolean fa_op_convert (FaBackend *backend, const FaTensor *x, FaTensor *y, GError **error);

/* ---- transformer ops ----
 * Heads are packed along the last axis, as the projections produce them:
 * a [B, N, heads·head_dim] tensor holds head j in columns
 * [j·head_dim, (j+1)·head_dim). */

/* Called with the pre-softmax logits (already multiplied by the scale) of
 * one batch element, a [heads, N, M] f32 tensor on the backend's device
 * that the hook may change in place. Returning FALSE (with @error set)
 * aborts the op. */
typedef gboolean (*FaAttentionLogitsFunc) (FaBackend *backend, FaTensor *logits, gpointer user_data,
                                           GError **error);

typedef struct {
  FaAttentionLogitsFunc func;
  gpointer user_data;
  int batch_index; /* which batch element's logits the hook sees */
} FaAttentionHook;

/* out[b] = softmax(q[b]·k[b]ᵀ · scale) · v[b] per head; q [B, N, H·D],
 * k and v [B, M, H·D], out [B, N, H·D]; no mask. @hook may be NULL. The
 * softmax statistics are f32 whatever the dtype. */
gboolean fa_op_attention (FaBackend *backend, const FaTensor *q, const FaTensor *k, const FaTensor *v,
                          FaTensor *out, int heads, float scale, const FaAttentionHook *hook,
                          GError **error);

/* Rotary embedding on adjacent pairs, the same table for every head:
 * for token n and pair p of each head,
 *   y[2p]   = x[2p]·cos[n,p] − x[2p+1]·sin[n,p]
 *   y[2p+1] = x[2p]·sin[n,p] + x[2p+1]·cos[n,p]
 * x and y [B, N, H·D]; cos and sin [N, D/2] f32. y may be x. */
gboolean fa_op_rope (FaBackend *backend, const FaTensor *x, const FaTensor *cos, const FaTensor *sin,
                     FaTensor *y, int heads, GError **error);

/* y[b,n,:] = x[b,n,:] · (1 + scale[b,:]) + shift[b,:]; x, y [B, N, D];
 * scale, shift [B, D] f32. y may be x. */
gboolean fa_op_modulate (FaBackend *backend, const FaTensor *x, const FaTensor *scale,
                         const FaTensor *shift, FaTensor *y, GError **error);

/* x[b,n,:] += gate[b,:] · a[b,n,:], or x += a when @gate is NULL; x, a
 * [B, N, D] (x is the f32 residual stream; a may be bf16 on CUDA), gate
 * [B, D] f32. */
gboolean fa_op_gated_add (FaBackend *backend, FaTensor *x, const FaTensor *a, const FaTensor *gate,
                          GError **error);

/* Video [B, C, F, H, W] to tokens [B, (F/pt)·(H/ph)·(W/pw), C·pt·ph·pw]:
 * tokens frame-major (n = (f·H' + h)·W' + w), each patch vector ordered
 * (c, t, y, x) with x fastest: the layout of a Conv3d weight flattened to
 * [out, C·pt·ph·pw]. */
gboolean fa_op_patchify (FaBackend *backend, const FaTensor *video, FaTensor *tokens,
                         const int patch[3], GError **error);
/* Tokens [B, N, pt·ph·pw·C] back to video [B, C, F, H, W], the patch vector
 * ordered (t, y, x, c) with c fastest, as Wan's output head lays it out. */
gboolean fa_op_unpatchify (FaBackend *backend, const FaTensor *tokens, FaTensor *video,
                           const int patch[3], GError **error);

/* ---- video ops (the VAE) ----
 * Video activations are channels-last frames, [T, H, W, C] f32: one
 * pixel's channels are contiguous, so a convolution is a GEMM over
 * gathered patches and a 1×1×1 convolution is a linear. */

typedef struct {
  int kernel[3];  /* kt, kh, kw */
  int stride[3];  /* st, sh, sw */
  int pad_front;  /* zero frames before the first input frame (causal padding) */
  int pad_top, pad_bottom, pad_left, pad_right; /* zero pixels around every frame */
  gboolean upsample; /* read each input frame as if nearest-neighbour upsampled ×2 in H and W */
} FaConv3dParams;

/* A 3-D convolution over the frames of @history (may be NULL: none)
 * followed by those of @x, all [·, H, W, Ci] f32:
 *   y[t, i, j, o] = bias[o] + Σ_{a,b,c,ci} weight[o, a, b, c, ci] ·
 *                   in[t·st + a − pad_front, i·sh + b − pad_top, j·sw + c − pad_left, ci]
 * where `in` is zero outside the frames and the (upsampled) frame. weight
 * [Co, kt, kh, kw, Ci] (PyTorch's [Co, Ci, kt, kh, kw] with the input
 * channels moved last), f32, or f16 on CUDA (the patches are then rounded
 * to f16, saturating at ±65504, and multiplied with f32 accumulation);
 * bias [Co] f32 or NULL; y [To, Ho, Wo, Co] f32 with
 *   To = (pad_front + Th + Tx − kt)/st + 1,
 *   Ho = (H·u + pad_top + pad_bottom − kh)/sh + 1 (u = 2 when upsampling, else 1),
 *   Wo likewise (integer division; every size ≥ 1).
 * y must not overlap x or history. */
gboolean fa_op_conv3d (FaBackend *backend, const FaTensor *x, const FaTensor *history,
                       const FaTensor *weight, const FaTensor *bias, FaTensor *y,
                       const FaConv3dParams *params, GError **error);

/* dst = src element by element, for any strides (views from narrow and
 * permute): same shape and dtype, both on the backend's device; the two
 * must not overlap. */
gboolean fa_op_copy (FaBackend *backend, const FaTensor *src, FaTensor *dst, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaBackend, fa_backend_unref)

G_END_DECLS
