/* fa-weights.h: one named set of tensors from a checkpoint in any layout.
 *
 * Opens a single .safetensors file, a sharded set through its
 * *.safetensors.index.json (weight_map), or a diffusers model folder
 * (transformer/, vae/, text_encoder/: the index or the single file in it),
 * and presents the union as one set. Tensors are converted on load to the
 * dtype a backend asks for.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "fa-backend.h"
#include "fa-safetensors.h"

G_BEGIN_DECLS

typedef struct _FaWeights FaWeights;

FaWeights *fa_weights_open (const char *path, GError **error);
FaWeights *fa_weights_ref (FaWeights *weights);
void       fa_weights_unref (FaWeights *weights);

/* The path given to fa_weights_open, and the shard files behind it. */
const char *fa_weights_get_path (FaWeights *weights);
guint       fa_weights_get_n_files (FaWeights *weights);
const char *fa_weights_get_file_path (FaWeights *weights, guint index);

/* Entries sorted by name. */
guint       fa_weights_get_n_tensors (FaWeights *weights);
const FaSafetensorsEntry *fa_weights_get_entry (FaWeights *weights, guint index);
const FaSafetensorsEntry *fa_weights_lookup (FaWeights *weights, const char *name);
guint64     fa_weights_get_n_parameters (FaWeights *weights);

/* The tensor @name on @backend's device as @dtype. Floats convert among
 * f32/f16/bf16 and from f8_e4m3/f8_e5m2/f64; integers load as themselves or
 * i64→i32. A missing name or an impossible conversion is a GError naming it. */
FaTensor   *fa_weights_load (FaWeights *weights, const char *name, FaBackend *backend,
                             FaDType dtype, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaWeights, fa_weights_unref)

G_END_DECLS
