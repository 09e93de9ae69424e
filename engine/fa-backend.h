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

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaBackend, fa_backend_unref)

G_END_DECLS
