/* fa-umt5-private.h: what the umT5 encoder (fa-umt5.c) shows its tests
 * and tools: the bucket function, the configuration check, a forward with
 * taps, and the switch between the two ways of building the position bias.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "fa-umt5.h"

G_BEGIN_DECLS

/* The bucket of a key @relative_position = j − i positions after query i
 * (negative: before), bidirectional, exactly as transformers'
 * UMT5Attention._relative_position_bucket computes it (spec B.3): half the
 * buckets per direction, the first half of those exact distances, the rest
 * logarithmic up to @max_distance, the log taken in float32. */
int      _fa_umt5_relative_position_bucket (int relative_position, int num_buckets, int max_distance);

/* Every size in range and consistent (num_buckets ≥ 4 and even,
 * max_distance above the exact range, eps in (0, 1));
 * FA_ERROR_INVALID_ARGUMENT naming the first bad field otherwise. */
gboolean _fa_umt5_config_check (const FaUmt5Config *config, GError **error);

/* Sees the residual stream by the names of the golden taps
 * (tests/data/README.md): "embed" (the gathered embedding rows),
 * "layerK.attn" (after block K's self-attention sub-layer), "layerK.out"
 * (after block K). @value is f32 [n, d_model] on the backend, valid only
 * during the call. */
typedef void (*FaUmt5TapFunc) (const char *name, const FaTensor *value, gpointer user_data);

/* fa_umt5_encode with taps (@tap may be NULL). */
FaTensor *_fa_umt5_encode_with_taps (FaUmt5 *model, const gint32 *ids, guint n, FaUmt5TapFunc tap,
                                     gpointer user_data, GError **error);

/* How the [heads, n, n] position bias of a layer is made. The CPU backend
 * fills it on the host from the layer's table (direct); CUDA multiplies the
 * table (split into three bf16 parts, so that the bf16 GEMM reproduces the
 * f32 values exactly) by a one-hot bucket matrix [n·n, 3·buckets] (GEMM).
 * Forcing the GEMM on the CPU tests that path without a GPU. */
void     _fa_umt5_set_bias_by_gemm (FaUmt5 *model, gboolean by_gemm);

G_END_DECLS
