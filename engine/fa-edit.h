/* fa-edit.h: the FlowAnchor edit (shared/spec/flowanchor-method.md):
 * FlowEdit's inversion-free rectified-flow editing on the Wan DiT, with
 * Spatial-aware Attention Refinement (SAR) in the target-conditional
 * cross-attention and Adaptive Magnitude Modulation (AMM) of the editing
 * direction. Everything here works on latents and encoded prompts; fa-job.h
 * goes from a clip and two prompts to an exported clip.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "fa-backend.h"
#include "fa-wan-dit.h"

G_BEGIN_DECLS

/* ---- parameters ---- */

typedef struct {
  int steps;          /* T: steps of the schedule; 25, [1, 1000] */
  int n_max;          /* steps that run (the first T − n_max are skipped); 23, [1, T] */
  int n_min;          /* last steps that are plain sampling; 0, [0, n_max] */
  int n_avg;          /* noise draws averaged per FlowEdit step; 1, [1, 32] */
  float shift;        /* schedule shift; 5.0, [1, 100] */
  float cfg_source;   /* s_src; 5.0, [0, 50] */
  float cfg_target;   /* s_tar; 10.0, [0, 50] */
  gboolean sar;       /* TRUE */
  float tau;          /* SAR while σ_i ≥ tau; 0.6, [0, 1] */
  float beta1, beta2; /* SAR strengths; 0.3 each, [0, 1] */
  gboolean amm;       /* TRUE */
  float gamma;        /* AMM strength; 1.0, [0, 10] */
  int gamma_frames;   /* F0 of γ_F = γ·ln F / ln F0; 21, [2, 1000] */
  int mask_dilation;  /* pixels, square, before the mask goes to tokens; 2, [0, 64] */
  /* spec section 6, off by default: outside the dilated token mask, after
   * each step, Z_edit = lerp(Z_edit, X_src, w_i), w_i ramping linearly from
   * blend_strength at the first step that runs to 0 at the last. */
  gboolean blend_background;
  float blend_strength;  /* 1.0, [0, 1] */
  guint64 seed;          /* 0 */
} FaEditParams;

void     fa_edit_params_init (FaEditParams *params);
/* FA_ERROR_INVALID_ARGUMENT naming the first parameter out of range, its
 * value and the range. */
gboolean fa_edit_params_check (const FaEditParams *params, GError **error);

/* ---- the pieces, each testable alone ---- */

/* σ_0 … σ_T into @sigmas (@steps + 1 values, the last 0): the shifted
 * flow-matching schedule, evaluated in double and rounded once. */
void     fa_edit_sigmas (int steps, float shift, float *sigmas);

/* The per-frame pixel masks (@n_frames × @height × @width bytes, ≥ 128 =
 * edit) on the DiT's token grid (spec section 4): square dilation by
 * @dilation pixels, latent frame 0 ← pixel frame 0 and f ≥ 1 ← frames
 * 4f−3 … 4f (OR), max-pooled by @pool (16 = VAE stride × patch).
 * @token_mask gets ((n_frames − 1)/4 + 1) × (height/@pool) × (width/@pool)
 * bytes, 1 or 0, in (f, h, w) order. @n_frames is 1 + 4k, the sides
 * multiples of @pool. */
gboolean fa_edit_token_mask (const guint8 *masks, int n_frames, int height, int width, int dilation,
                             int pool, guint8 *token_mask, GError **error);

/* SAR's two steps (spec section 2, choices 5–7 of tools/reference/docs/edit.md)
 * in place on pre-softmax logits [heads, N, L] f32 on @backend's device:
 * @token_mask N bytes (host), @target_tokens n_target column indices < n_real
 * (host), statistics over columns < @n_real; columns ≥ n_real untouched. */
gboolean fa_edit_sar_modulate (FaBackend *backend, FaTensor *logits, const guint8 *token_mask,
                               const int *target_tokens, int n_target, int n_real, float beta1,
                               float beta2, GError **error);

/* AMM (spec section 3) in place on @dv [1, C, F, H, W] host f32:
 * dv ·= 1 + γ_F·C, γ_F = @gamma·ln F / ln @gamma_frames (0 when F = 1). */
gboolean fa_edit_amm (FaTensor *dv, float gamma, int gamma_frames, GError **error);

/* Standard normal noise from Philox4x32-10 keyed by @seed, one independent
 * stream per (@step, @draw): element k of the stream is the same number on
 * every backend (to float rounding of the Box–Muller transform) and does
 * not depend on the tensor's size beyond k. @noise: f32, contiguous, on
 * @backend's device. */
gboolean fa_edit_noise (FaBackend *backend, guint64 seed, int step, int draw, FaTensor *noise,
                        GError **error);

/* ---- the edit loop ---- */

/* Fills @noise ([1, C, F, H, W] f32 on the DiT's device) with draw @draw of
 * step @step: for FlowEdit steps draws 0 … n_avg−1, and draw 0 of the first
 * plain step. The default is fa_edit_noise with the params' seed; tests
 * replay stored noise through it. */
typedef gboolean (*FaEditNoiseFunc) (int step, int draw, FaTensor *noise, gpointer user_data,
                                     GError **error);

/* Sees the loop's values as the goldens name them (tools/reference/docs/edit.md):
 * "dv", "dv_amm", "z" of FlowEdit step @step, "z_init" and "z" of plain
 * steps; @value is f32 [1, C, F, H, W] on the host, valid during the call.
 * FlowEdit steps in which SAR was active also give "sar" (the golden's
 * stepNN.sar flag), right after "dv" and with the same value. */
typedef void (*FaEditTapFunc) (int step, const char *name, const FaTensor *value, gpointer user_data);

/* After every step that ran: @done of @total steps that run, and the
 * current estimate of the edited clean latent (Z_edit, or in the plain
 * phase the Euler estimate z − σ·v) on the host, valid during the call:
 * what a live look decodes. */
typedef void (*FaEditStepFunc) (int done, int total, const FaTensor *estimate, gpointer user_data);

typedef struct {
  FaEditNoiseFunc noise;  /* NULL: fa_edit_noise */
  gpointer noise_user_data;
  FaEditTapFunc tap;
  gpointer tap_user_data;
  FaEditStepFunc step;
  gpointer step_user_data;
  /* Checked between DiT blocks: a cancelled edit stops within one forward
   * with G_IO_ERROR_CANCELLED. */
  GCancellable *cancellable;
} FaEditOptions;

typedef struct {
  /* [1, C, F, H, W] f32 on the host: the normalised source latent */
  const FaTensor *x_source;
  /* the encoded prompts (fa_wan_dit_encode_text): source, target, negative */
  FaWanDitText *source, *target, *negative;
  int target_real_rows;       /* n_real of the target prompt: ids + </s> */
  const int *target_tokens;   /* J (may be empty: SAR is then off) */
  int n_target_tokens;
  const guint8 *token_mask;   /* F·(H/2)·(W/2) bytes of 0/1 (fa_edit_token_mask) */
} FaEditInputs;

/* Runs the edit and writes the edited latent into @result ([1, C, F, H, W]
 * host f32, what the VAE decodes). The four evaluations of a FlowEdit step
 * run as one DiT batch of 4 (source uncond/cond, target uncond/cond), SAR
 * hooked on the target-conditional element. Errors (bad shapes, out of
 * memory, cancel) leave @result unspecified and the DiT usable. */
gboolean fa_edit_run (FaWanDit *dit, const FaEditInputs *inputs, const FaEditParams *params,
                      const FaEditOptions *options, FaTensor *result, GError **error);

/* Device bytes the loop needs beyond the DiT's weights for a latent of
 * @latent_shape ([C, F, H, W]) with @text_rows rows per prompt: the
 * batch-4 activations, the latents of the loop and the three encoded
 * prompts. */
guint64  fa_edit_estimate_bytes (FaWanDit *dit, const gint64 latent_shape[4], int text_rows);

G_END_DECLS
