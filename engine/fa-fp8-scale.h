/* fa-fp8-scale.h: fp8 checkpoints with per-tensor scales, for the loaders
 * (the Wan DiT, the umT5 encoder).
 *
 * A weight W stored as f8 beside a scalar scale s means W = f8(W_q) · s.
 * The scale is recognised under the names ComfyUI and others use:
 * <layer>.scale_weight (ComfyUI's "scaled_fp8" files) and
 * <layer>.weight_scale (its newer quantized files, compressed-tensors);
 * both belong to <layer>.weight. Activation scales (<layer>.scale_input,
 * <layer>.input_scale) only matter to fp8 matrix multiplies, which this
 * engine does not do, and are skipped, as are the "scaled_fp8" marker and
 * the <layer>.comfy_quant descriptors of fp8 formats. These names come from
 * other loaders' code, not from a real checkpoint's header.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "fa-weights.h"

G_BEGIN_DECLS

typedef enum {
  FA_FP8_AUX_NONE,
  FA_FP8_AUX_MARKER,       /* "scaled_fp8": says the file is scaled, nothing more */
  FA_FP8_AUX_WEIGHT_SCALE, /* <layer>.scale_weight or <layer>.weight_scale */
  FA_FP8_AUX_INPUT_SCALE,  /* <layer>.scale_input or <layer>.input_scale */
  FA_FP8_AUX_QUANT_INFO,   /* <layer>.comfy_quant: JSON bytes naming the format */
} FaFp8AuxKind;

/* Whether @name (the name in the file) is a quantization companion, and
 * then (*@out_weight, owned) the name in the file of the weight it belongs
 * to. @bare_name is @name without any prefix the caller strips (the marker
 * is recognised by it). */
FaFp8AuxKind _fa_fp8_classify (const char *name, const char *bare_name, char **out_weight);

/* A <layer>.comfy_quant tensor: UTF-8 JSON {"format": …}; only plain fp8
 * formats dequantize with one scale (FA_ERROR_UNSUPPORTED otherwise).
 * Errors begin with @path. */
gboolean _fa_fp8_check_quant_info (const char *path, const FaSafetensorsEntry *entry, GError **error);

/* A scale (weight or input) must be stored as a float type (FA_ERROR_DTYPE). */
gboolean _fa_fp8_check_scale_dtype (const char *path, const FaSafetensorsEntry *entry, GError **error);

/* A weight scale's value: one element (FA_ERROR_UNSUPPORTED otherwise),
 * finite (FA_ERROR_CORRUPT_FILE otherwise). Read from the mapping, which may
 * be misaligned for its type. */
gboolean _fa_fp8_read_scale (const char *path, const FaSafetensorsEntry *entry, float *out_value,
                             GError **error);

/* Attaches the companion @entry, of @kind, to the weight @weight_name it
 * belongs to: a quant-info tensor and a scale's dtype are checked; a weight
 * scale is read into *@scale_value and recorded in *@scale, a second one
 * being an error. Read now, so that a bad value fails before anything is
 * converted. Errors begin with @path. */
gboolean _fa_fp8_attach (const char *path, const FaSafetensorsEntry *entry, FaFp8AuxKind kind,
                         const char *weight_name, const FaSafetensorsEntry **scale, float *scale_value,
                         GError **error);

/* The tensor @name of @weights times @scale, multiplied in f32 on the host,
 * then converted to @dtype on @backend. *@host_backend is a CPU backend
 * made on first use (or @backend itself when that is the CPU); the caller
 * releases it. */
FaTensor *_fa_fp8_load_scaled (FaWeights *weights, const char *name, float scale, FaBackend *backend,
                               FaBackend **host_backend, FaDType dtype, GError **error);

G_END_DECLS
