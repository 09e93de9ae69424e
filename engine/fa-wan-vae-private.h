/* fa-wan-vae-private.h: what the VAE's loader (fa-wan-vae.c) shares with
 * its forward passes (fa-wan-vae-forward.c) and its tests.
 *
 * Stored weights are laid out for channels-last convolutions
 * (fa_op_conv3d): every convolution weight, 3-D, 2-D (resample.1) or 1×1
 * (shortcuts, quant convs, the attention's to_qkv and proj), is kept as
 * [Co, kt, kh, kw, Ci] (2-D ones with kt = 1) in the backend's conv dtype
 * (f32 on the CPU, f16 on CUDA); biases and RMS-norm gammas as f32 [C].
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "fa-wan-vae.h"

G_BEGIN_DECLS

struct _FaWanVae {
  FaWanVaeConfig config;
  FaBackend *backend;
  FaDType conv_dtype;  /* dtype of the stored convolution weights */
  GHashTable *weights; /* diffusers name → FaTensor* (owned), laid out as above */
  /* The forward passes' buffers, made on first use and kept with the model. */
  gpointer forward_state;
  GDestroyNotify forward_state_free;
};

typedef enum {
  FA_WAN_VAE_TENSOR_CONV, /* a convolution weight (checkpoint shape 4-D or 5-D) */
  FA_WAN_VAE_TENSOR_BIAS,
  FA_WAN_VAE_TENSOR_GAMMA, /* RMS-norm gamma, [C,1,1,1] or [C,1,1] in checkpoints */
} FaWanVaeTensorKind;

typedef struct {
  char *name; /* diffusers name */
  FaWanVaeTensorKind kind;
  int ndim;
  gint64 shape[FA_MAX_DIMS]; /* as checkpoints store it */
} FaWanVaeTensorSpec;

/* Every tensor @config implies (spec C.5), in module order:
 * FaWanVaeTensorSpec*, owned by the array. */
GPtrArray *_fa_wan_vae_expected_tensors (const FaWanVaeConfig *config);

/* Sizes in range and consistent; FA_ERROR_INVALID_ARGUMENT naming the
 * first bad field otherwise. */
gboolean   _fa_wan_vae_config_check (const FaWanVaeConfig *config, GError **error);

/* A checkpoint name in the original Wan layout mapped to its diffusers name
 * (spec C.5); NULL when the name has no diffusers counterpart. */
char      *_fa_wan_vae_diffusers_name (const char *original_name);
/* The inverse: the original Wan name of a diffusers name. */
char      *_fa_wan_vae_original_name (const char *diffusers_name);

/* The stored (channels-last, f32 [C] for vectors) weight; NULL when there
 * is none. */
FaTensor  *_fa_wan_vae_weight (FaWanVae *vae, const char *name);

/* Channel widths: encoder stage i (0..4) = base_dim · {1, mult[0..3]}; see
 * spec C.3. The decoder's are these reversed. */
int        _fa_wan_vae_encoder_dim (const FaWanVaeConfig *config, int stage);

G_END_DECLS
