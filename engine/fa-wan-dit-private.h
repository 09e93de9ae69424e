/* fa-wan-dit-private.h: what the DiT's loader (fa-wan-dit.c) shares with
 * its forward pass (fa-wan-dit-forward.c) and its tests: the model struct,
 * the list of tensors a configuration implies, the name mapping and the
 * configuration readers.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "fa-wan-dit.h"

G_BEGIN_DECLS

struct _FaWanDit {
  FaWanDitConfig config;
  FaBackend *backend;
  GHashTable *weights; /* diffusers name → FaTensor* (owned) */
  /* The forward pass's caches and arena, created on its first call and
   * released with the model through forward_state_free. */
  gpointer forward_state;
  GDestroyNotify forward_state_free;
};

typedef enum {
  FA_WAN_DIT_TENSOR_MATRIX, /* a linear weight or the patch embedding: compute dtype */
  FA_WAN_DIT_TENSOR_BIAS,   /* f32 */
  FA_WAN_DIT_TENSOR_NORM,   /* an RMSNorm / LayerNorm gain: f32 */
  FA_WAN_DIT_TENSOR_TABLE,  /* a scale_shift_table: f32 */
} FaWanDitTensorKind;

typedef struct {
  char *name; /* diffusers name */
  FaWanDitTensorKind kind;
  int ndim;
  gint64 shape[FA_MAX_DIMS]; /* as checkpoints store it: the patch embedding is 5-D */
  gint64 fan_in;             /* input features of a matrix; 0 otherwise */
} FaWanDitTensorSpec;

/* Every tensor @config implies (spec A.2), non-block tensors first, then
 * block by block: FaWanDitTensorSpec*, owned by the array. @config must
 * have passed _fa_wan_dit_config_check. */
GPtrArray *_fa_wan_dit_expected_tensors (const FaWanDitConfig *config);
guint64    _fa_wan_dit_tensor_numel (const FaWanDitTensorSpec *spec);

/* Sizes in range and consistent (dim = heads · head_dim, head_dim even);
 * FA_ERROR_INVALID_ARGUMENT naming the first bad field otherwise. */
gboolean   _fa_wan_dit_config_check (const FaWanDitConfig *config, GError **error);
gboolean   _fa_wan_dit_config_equal (const FaWanDitConfig *a, const FaWanDitConfig *b);

/* A checkpoint's name without the ComfyUI prefix ("model.diffusion_model."
 * or "diffusion_model."), mapped to the diffusers name when @original is
 * set (spec A.3's ordered table, norm2 ↔ norm3 swapped). */
char      *_fa_wan_dit_canonical_name (const char *file_name, gboolean original);
/* The inverse for names of the diffusers layout: the original Wan name. */
char      *_fa_wan_dit_original_name (const char *diffusers_name);

/* The configuration of the DiT in @weights: @config_json (a diffusers or
 * original Wan config.json; NULL for none) where it says, the tensor
 * shapes for the rest; see fa-wan-dit.c for the rules. */
gboolean   _fa_wan_dit_resolve_config (FaWeights *weights, const char *config_json,
                                       FaWanDitConfig *config, GError **error);
/* Everything the shapes say, leaving num_heads and head_dim 0: a tensor's
 * shape cannot tell the head count. */
gboolean   _fa_wan_dit_config_from_shapes (FaWeights *weights, FaWanDitConfig *config,
                                           GError **error);

G_END_DECLS
