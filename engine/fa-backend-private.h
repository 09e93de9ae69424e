/* fa-backend-private.h: what a backend implements. The fa_op_* wrappers have
 * already checked shapes, devices and contiguity; an implementation checks
 * only the dtypes it takes.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "config.h"
#include "fa-backend.h"

G_BEGIN_DECLS

typedef enum { FA_UNARY_GELU_TANH, FA_UNARY_SILU } FaUnaryOp;
typedef enum { FA_BINARY_ADD, FA_BINARY_MUL } FaBinaryOp;

typedef struct {
  gboolean (*linear) (FaBackend *self, const FaTensor *x, const FaTensor *weight,
                      const FaTensor *bias, FaTensor *y, gint64 m, gint64 k, gint64 n,
                      GError **error);
  gboolean (*layer_norm) (FaBackend *self, const FaTensor *x, const FaTensor *weight,
                          const FaTensor *bias, FaTensor *y, gint64 rows, gint64 cols,
                          float eps, GError **error);
  gboolean (*rms_norm) (FaBackend *self, const FaTensor *x, const FaTensor *weight,
                        FaTensor *y, gint64 rows, gint64 cols, float eps, GError **error);
  gboolean (*unary) (FaBackend *self, FaUnaryOp op, const FaTensor *x, FaTensor *y, gint64 n,
                     GError **error);
  gboolean (*softmax) (FaBackend *self, const FaTensor *x, FaTensor *y, gint64 rows,
                       gint64 cols, GError **error);
  gboolean (*binary) (FaBackend *self, FaBinaryOp op, const FaTensor *a, const FaTensor *b,
                      FaTensor *y, gint64 n, gint64 nb, GError **error);
  gboolean (*convert) (FaBackend *self, const FaTensor *x, FaTensor *y, gint64 n,
                       GError **error);

  gpointer (*alloc) (FaBackend *self, gsize size, GError **error);
  void     (*free) (FaBackend *self, gpointer ptr);
  /* Byte copies; either side may be host memory. */
  gboolean (*copy) (FaBackend *self, gpointer dst, FaDevice dst_device, gconstpointer src,
                    FaDevice src_device, gsize size, GError **error);
  gboolean (*synchronize) (FaBackend *self, GError **error);
  void     (*destroy) (FaBackend *self);
} FaBackendOps;

struct _FaBackend {
  gatomicrefcount ref_count;
  const FaBackendOps *ops;
  FaDevice device;
  char *description;
  gpointer impl;

  GMutex memory_lock;
  guint64 memory_current;
  guint64 memory_peak;
};

/* For the backend constructors. */
FaBackend *_fa_backend_new (const FaBackendOps *ops, FaDevice device, char *description,
                            gpointer impl);

/* Memory a backend allocates for itself (scratch) is counted like the
 * callers' through these. */
void _fa_backend_count_alloc (FaBackend *backend, gsize size);
void _fa_backend_count_free (FaBackend *backend, gsize size);

#if FA_HAVE_CUDA
FaBackend *_fa_backend_cuda_new (int device_index, GError **error);
gboolean   _fa_backend_cuda_probe (int device_index, char **out_name, guint64 *out_total_bytes,
                                   GError **error);
#endif

G_END_DECLS
