/* fa-wan-vae.h: the Wan2.1 video VAE (AutoencoderKLWan, spec wan21-model.md
 * section C): clips into latents and back.
 *
 * Weights load by their diffusers names from a diffusers vae/ folder (or the
 * pipeline folder above it), or from one file with the original Wan names
 * (Wan2.1_VAE as safetensors, ComfyUI's wan_2.1_vae.safetensors), stored as
 * f32, f16 or bf16. The VAE computes in f32; on CUDA the convolutions
 * multiply f16 patches by f16 weights with f32 accumulation.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "fa-backend.h"
#include "fa-weights.h"

G_BEGIN_DECLS

#define FA_WAN_VAE_MAX_Z_DIM 64

typedef struct {
  int base_dim;                     /* 96 */
  int z_dim;                        /* 16 */
  int dim_mult[4];                  /* 1, 2, 4, 4 */
  int num_res_blocks;               /* 2 */
  gboolean temporal_downsample[3];  /* FALSE, TRUE, TRUE (the decoder reverses it) */
  float latents_mean[FA_WAN_VAE_MAX_Z_DIM];
  float latents_std[FA_WAN_VAE_MAX_Z_DIM];
} FaWanVaeConfig;

typedef struct _FaWanVae FaWanVae;

/* @path: a diffusers pipeline folder (its vae/), a vae/ folder, or a
 * single checkpoint file (diffusers or original names). Every expected
 * tensor is checked (present, no extras, right shape) before any is
 * converted. */
FaWanVae   *fa_wan_vae_load (const char *path, FaBackend *backend, GError **error);
/* @config_json: the path of the vae's config.json, or NULL to take the
 * sizes from the tensor shapes (and Wan2.1's latent mean and std). */
FaWanVae   *fa_wan_vae_load_weights (FaWeights *weights, const char *config_json,
                                     FaBackend *backend, GError **error);
/* Random weights of @config's shapes, for benchmarks. */
FaWanVae   *fa_wan_vae_new_random (const FaWanVaeConfig *config, FaBackend *backend, guint32 seed,
                                   GError **error);
void        fa_wan_vae_free (FaWanVae *vae);

const FaWanVaeConfig *fa_wan_vae_get_config (FaWanVae *vae);
FaBackend  *fa_wan_vae_get_backend (FaWanVae *vae);
/* Wan2.1's VAE (spec C.1). */
void        fa_wan_vae_config_init_2_1 (FaWanVaeConfig *config);

/* Sees intermediate values of an untiled run: "<module>.chunk<k>" for the
 * modules conv_in, down_blocks.<n>, mid_block, up_blocks.<n>, encoder_out
 * (encoder.conv_out) and post_quant_conv, where chunk k is the k-th call
 * of the encoder (pixel frame 0, then 4 frames each) or the decoder (one
 * latent frame each). @value is a host f32 tensor [1, C, T, H, W], valid
 * during the call only. */
typedef void (*FaWanVaeTapFunc) (const char *name, const FaTensor *value, gpointer user_data);

/* Chunks done out of @total (all tiles together). */
typedef void (*FaWanVaeProgressFunc) (guint done, guint total, gpointer user_data);

typedef struct {
  /* Spatial tiling: overlapping tiles of @tile_size pixels (a multiple of
   * 8; default 256), @tile_overlap pixels shared by neighbours (a
   * multiple of 8; default 64), blended linearly across the overlap. Off by
   * default: tiled output differs slightly from untiled. */
  gboolean tile;
  int tile_size;
  int tile_overlap;
  /* Latents as the VAE itself makes and takes them (the posterior mean μ),
   * instead of normalised with the latent mean and std (what the DiT sees). */
  gboolean raw_latents;
  FaWanVaeTapFunc tap;
  gpointer tap_user_data;
  FaWanVaeProgressFunc progress;
  gpointer progress_user_data;
  GCancellable *cancellable; /* checked before every chunk */
} FaWanVaeOptions;

/* @video: host f32 [B, 3, T, H, W], RGB in [−1, 1], T = 1 + 4k, H and W
 * multiples of 8. @latent: host f32 [B, z_dim, 1 + k, H/8, W/8], the
 * posterior mean (no sampling), normalised unless options->raw_latents.
 * @options may be NULL. */
gboolean fa_wan_vae_encode (FaWanVae *vae, const FaTensor *video, FaTensor *latent,
                            const FaWanVaeOptions *options, GError **error);
/* @latent: host f32 [B, z_dim, n, h, w]; @video: host f32
 * [B, 3, 1 + 4(n − 1), 8h, 8w], clamped to [−1, 1]. */
gboolean fa_wan_vae_decode (FaWanVae *vae, const FaTensor *latent, FaTensor *video,
                            const FaWanVaeOptions *options, GError **error);

/* The latent grid of a clip, or FA_ERROR_SHAPE naming what breaks the
 * rules (frame count not 1 + 4k, a side not a multiple of 8). The rules
 * are those of every Wan2.1 VAE, so @vae may be NULL: a caller can check a
 * clip before loading the model. */
gboolean fa_wan_vae_latent_shape (FaWanVae *vae, gint64 frames, gint64 height, gint64 width,
                                  gint64 out_shape[3], GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaWanVae, fa_wan_vae_free)

G_END_DECLS
