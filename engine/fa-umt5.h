/* fa-umt5.h: the umT5 encoder (UMT5EncoderModel, spec B.1–B.3) and Wan's
 * use of its output (B.5).
 *
 * Loads the transformers layout (text_encoder/ folder: config.json + shards
 * + index, or one file with the same names, e.g. ComfyUI's
 * umt5_xxl_fp16.safetensors, including the fp8 "scaled" files where their
 * scales are present). Sizes come from config.json or the tensor shapes.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "fa-backend.h"
#include "fa-weights.h"

G_BEGIN_DECLS

typedef struct {
  int vocab_size;
  int d_model;
  int d_kv;
  int num_heads;
  int d_ff;
  int num_layers;
  int num_buckets;  /* relative_attention_num_buckets */
  int max_distance; /* relative_attention_max_distance */
  float eps;
} FaUmt5Config;

typedef struct _FaUmt5 FaUmt5;

FaUmt5 *fa_umt5_load (const char *path, FaBackend *backend, GError **error);
/* Random weights of @config's shapes, for benchmarks. */
FaUmt5 *fa_umt5_new_random (const FaUmt5Config *config, FaBackend *backend, guint32 seed,
                            GError **error);
void    fa_umt5_free (FaUmt5 *model);

const FaUmt5Config *fa_umt5_get_config (FaUmt5 *model);
FaBackend          *fa_umt5_get_backend (FaUmt5 *model);
/* Identifies the weights (files, sizes, modification times, headers)
 * without reading them: the prompt cache's key. */
const char         *fa_umt5_get_weights_key (FaUmt5 *model);
/* umT5-XXL's configuration (spec B.1). */
void                fa_umt5_config_init_xxl (FaUmt5Config *config);

/* last_hidden_state of @n token ids (host memory): f32 [n, d_model] on the
 * backend. Only the real tokens are run: with padded keys masked and the
 * bias depending on distances only, that equals the padded batch's real
 * rows (spec B.3). */
FaTensor *fa_umt5_encode (FaUmt5 *model, const gint32 *ids, guint n, GError **error);

/* The context Wan hands the DiT: f32 [@rows, d_model], the encoder output
 * of the @n ids in the first n rows and exact zeros after (spec B.5).
 * @n ≤ @rows. */
FaTensor *fa_umt5_encode_context (FaUmt5 *model, const gint32 *ids, guint n, guint rows,
                                  GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaUmt5, fa_umt5_free)

G_END_DECLS
