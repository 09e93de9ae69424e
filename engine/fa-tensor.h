/* fa-tensor.h: n-dimensional tensors (up to 5 axes) on the CPU or a CUDA device.
 *
 * A tensor is a view (dtype, shape, strides, byte offset) onto refcounted
 * storage. Views share storage and cost nothing; data moves between host and
 * device only through the explicit copy functions. References are atomic:
 * a tensor made on an engine thread may be released on the UI thread.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "fa-dtype.h"

G_BEGIN_DECLS

#define FA_MAX_DIMS 5

typedef enum {
  FA_DEVICE_CPU,
  FA_DEVICE_CUDA,
} FaDevice;

typedef struct _FaBackend FaBackend;
typedef struct _FaStorage FaStorage;

typedef struct {
  FaDType dtype;
  int ndim;
  gint64 shape[FA_MAX_DIMS];
  gint64 strides[FA_MAX_DIMS]; /* in elements */
  FaDevice device;

  /*< private >*/
  FaStorage *storage;
  gsize offset; /* bytes into the storage */
  gatomicrefcount ref_count;
} FaTensor;

const char *fa_device_get_name (FaDevice device);

/* Storage allocated by @backend (host memory for the CPU backend, device
 * memory for CUDA), counted in the backend's memory statistics. Contents are
 * undefined. */
FaTensor *fa_tensor_new (FaBackend *backend, FaDType dtype, int ndim, const gint64 *shape,
                         GError **error);

/* Host memory owned by someone else (an mmap'ed file, a static buffer):
 * @destroy runs on @user_data when the last view goes. */
FaTensor *fa_tensor_new_wrapping (FaDType dtype, int ndim, const gint64 *shape, gpointer data,
                                  GDestroyNotify destroy, gpointer user_data, GError **error);

FaTensor *fa_tensor_ref (FaTensor *tensor);
void      fa_tensor_unref (FaTensor *tensor);

gint64    fa_tensor_get_numel (const FaTensor *tensor);
gsize     fa_tensor_get_nbytes (const FaTensor *tensor);
gboolean  fa_tensor_is_contiguous (const FaTensor *tensor);
gpointer  fa_tensor_get_data (const FaTensor *tensor);
/* The backend that owns the storage; NULL for wrapped host memory. */
FaBackend *fa_tensor_get_backend (const FaTensor *tensor);
gboolean  fa_tensor_same_shape (const FaTensor *a, const FaTensor *b);
/* "[2, 3, 5]", for messages. */
char     *fa_tensor_shape_to_string (const FaTensor *tensor);
char     *fa_shape_to_string (int ndim, const gint64 *shape);

/* A contiguous tensor seen with another shape of the same element count. */
FaTensor *fa_tensor_reshape (FaTensor *tensor, int ndim, const gint64 *shape, GError **error);
/* Elements [start, start+length) along @axis; the result may be strided. */
FaTensor *fa_tensor_narrow (FaTensor *tensor, int axis, gint64 start, gint64 length,
                            GError **error);
/* Axis i of the view is axis @axes[i] of @tensor (a permutation of its
 * ndim axes); the result is strided. */
FaTensor *fa_tensor_permute (FaTensor *tensor, const int *axes, GError **error);

/* Same dtype and element count, both contiguous; any direction between host
 * and device. */
gboolean  fa_tensor_copy (FaTensor *dst, const FaTensor *src, GError **error);

/* A new tensor on @backend's device holding @src converted to @dtype. */
FaTensor *fa_tensor_to (const FaTensor *src, FaBackend *backend, FaDType dtype, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaTensor, fa_tensor_unref)

G_END_DECLS
