/* fa-wan-dit.h: the Wan2.1 diffusion transformer (WanTransformer3DModel,
 * spec wan21-model.md section A).
 *
 * Weights load by their diffusers names from any layout: a diffusers model
 * folder, or one file with the original Wan / ComfyUI names (with or
 * without the model.diffusion_model. prefix), stored as f32, f16, bf16 or
 * f8_e4m3 with per-tensor scales. Sizes come from config.json or from the
 * tensor shapes, never from constants.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "fa-backend.h"
#include "fa-weights.h"

G_BEGIN_DECLS

typedef struct {
  int num_layers;
  int num_heads;
  int head_dim;
  int dim;          /* num_heads · head_dim */
  int ffn_dim;
  int in_channels;
  int out_channels;
  int text_dim;
  int freq_dim;
  int patch[3];     /* t, h, w */
  float eps;
} FaWanDitConfig;

typedef struct _FaWanDit FaWanDit;

/* @path: a diffusers transformer folder, its index.json, or a single
 * checkpoint file. Every expected tensor is checked (present, no extras,
 * right shape) before anything is converted; matrices convert to the
 * backend's compute dtype (f32 on the CPU, bf16 on CUDA), everything else
 * to f32, one tensor at a time from the mapped file. */
FaWanDit   *fa_wan_dit_load (const char *path, FaBackend *backend, GError **error);
/* The same from an already open weight set; @config_json is the path of a
 * config.json, or NULL to infer the sizes from the tensor shapes. */
FaWanDit   *fa_wan_dit_load_weights (FaWeights *weights, const char *config_json, FaBackend *backend,
                                     GError **error);
/* Random weights of @config's shapes, for benchmarks without a checkpoint. */
FaWanDit   *fa_wan_dit_new_random (const FaWanDitConfig *config, FaBackend *backend, guint32 seed,
                                   GError **error);
void        fa_wan_dit_free (FaWanDit *dit);

const FaWanDitConfig *fa_wan_dit_get_config (FaWanDit *dit);
FaBackend  *fa_wan_dit_get_backend (FaWanDit *dit);
/* A weight by its diffusers name (patch_embedding.weight is stored
 * flattened to [dim, in_channels·pt·ph·pw]); NULL when there is none. */
FaTensor   *fa_wan_dit_get_weight (FaWanDit *dit, const char *name);

/* ---- forward ---- */

/* One prompt's conditioning, computed once and reused at every step (spec
 * A.6): the text embedding of all its rows and every block's
 * cross-attention K and V. */
typedef struct _FaWanDitText FaWanDitText;

/* @context: [L, text_dim] or [1, L, text_dim] on the backend's device,
 * padding rows included (Wan pads with zeros to 512 and attends to them). */
FaWanDitText *fa_wan_dit_encode_text (FaWanDit *dit, const FaTensor *context, GError **error);
void          fa_wan_dit_text_free (FaWanDitText *text);

/* Sees intermediate values by the names of the golden taps
 * (tests/data/README.md): "patch_embedding", "time_sinusoid", "temb",
 * "timestep_proj", "text_embedding", "rope_cos", "rope_sin", "blockK.attn1",
 * "blockK.attn2", "blockK.ffn", "blockK", "before_head", "head_input",
 * "proj_out". The tensor is valid only during the call. */
typedef void (*FaWanDitTapFunc) (const char *name, const FaTensor *value, gpointer user_data);

/* Called in every block for one batch element's cross-attention logits
 * [heads, N, text rows] (scaled, before the softmax), which it may change in
 * place: the SAR hook of the edit. */
typedef gboolean (*FaWanDitCrossAttentionFunc) (FaBackend *backend, int layer, FaTensor *logits,
                                                gpointer user_data, GError **error);

typedef struct {
  FaWanDitTapFunc tap;
  gpointer tap_user_data;
  FaWanDitCrossAttentionFunc cross_attention;
  gpointer cross_attention_user_data;
  int cross_attention_batch_index; /* the element the hook sees */
  /* Checked before every block: a cancelled forward stops with
   * G_IO_ERROR_CANCELLED and the next forward runs as usual. */
  GCancellable *cancellable;
} FaWanDitForwardOptions;

/* velocity = DiT(latents, timesteps, texts): @latents and @velocity
 * [B, in_channels, F, H, W] f32 on the backend's device (H, W divisible by
 * the patch); @timesteps B host values (σ·1000, not rounded); @texts B
 * encoded prompts. @options may be NULL. Activations come from an arena
 * sized for the input shape on first use; the peak is logged. */
gboolean fa_wan_dit_forward (FaWanDit *dit, const FaTensor *latents, const float *timesteps,
                             FaWanDitText *const *texts, FaTensor *velocity,
                             const FaWanDitForwardOptions *options, GError **error);

/* Device bytes one forward allocates beyond the weights for @batch
 * elements of @tokens video tokens each with @text_rows rows per prompt:
 * the activation arena, the per-grid and per-step tables and the attention
 * scratch (the hooked element's whole logits included). The encoded
 * prompts are not counted. */
guint64     fa_wan_dit_estimate_bytes (FaWanDit *dit, gint64 batch, gint64 tokens, gint64 text_rows);

/* The configuration of Wan2.1-T2V-1.3B (spec A.1), for --random-weights. */
void        fa_wan_dit_config_init_1_3b (FaWanDitConfig *config);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaWanDit, fa_wan_dit_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaWanDitText, fa_wan_dit_text_free)

G_END_DECLS
