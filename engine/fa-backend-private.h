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

  /* The transformer ops. Shapes are checked, every size is positive (the
   * wrappers return early on empty work), and the aliasing the wrappers
   * allow is the one the op's documentation allows. */
  /* q [batch, n, heads·head_dim], k and v [batch, m, heads·head_dim]; @hook
   * NULL, or with func set and batch_index in [0, batch). */
  gboolean (*attention) (FaBackend *self, const FaTensor *q, const FaTensor *k, const FaTensor *v,
                         FaTensor *out, gint64 batch, gint64 n, gint64 m, gint64 heads,
                         gint64 head_dim, float scale, const FaAttentionHook *hook,
                         GError **error);
  /* x and y [batch, n, heads·head_dim]; cos and sin [n, head_dim/2] f32. */
  gboolean (*rope) (FaBackend *self, const FaTensor *x, const FaTensor *cos, const FaTensor *sin,
                    FaTensor *y, gint64 batch, gint64 n, gint64 heads, gint64 head_dim,
                    GError **error);
  /* x and y [batch, n, dim]; scale and shift [batch, dim] f32. */
  gboolean (*modulate) (FaBackend *self, const FaTensor *x, const FaTensor *scale,
                        const FaTensor *shift, FaTensor *y, gint64 batch, gint64 n, gint64 dim,
                        GError **error);
  /* x and a [batch, n, dim]; gate NULL or [batch, dim] f32. */
  gboolean (*gated_add) (FaBackend *self, FaTensor *x, const FaTensor *a, const FaTensor *gate,
                         gint64 batch, gint64 n, gint64 dim, GError **error);
  /* @video_shape is [B, C, F, H, W]; tokens [B, N, C·pt·ph·pw] (patchify,
   * patch vector (c, t, y, x)) or [B, N, pt·ph·pw·C] (unpatchify, patch
   * vector (t, y, x, c)). */
  gboolean (*patchify) (FaBackend *self, const FaTensor *video, FaTensor *tokens,
                        const gint64 video_shape[5], const int patch[3], GError **error);
  gboolean (*unpatchify) (FaBackend *self, const FaTensor *tokens, FaTensor *video,
                          const gint64 video_shape[5], const int patch[3], GError **error);

  /* Shapes checked as fa_op_conv3d documents: x [tx, h, w, ci], history
   * NULL or [th, h, w, ci], weight [co, kt, kh, kw, ci], y [to, ho, wo, co];
   * @shape holds { th, tx, h, w, ci, to, ho, wo, co }. */
  gboolean (*conv3d) (FaBackend *self, const FaTensor *x, const FaTensor *history,
                      const FaTensor *weight, const FaTensor *bias, FaTensor *y,
                      const FaConv3dParams *params, const gint64 shape[9], GError **error);
  /* Same shape and dtype, any strides, no overlap; ndim ≥ 1. */
  gboolean (*copy_strided) (FaBackend *self, const FaTensor *src, FaTensor *dst, GError **error);

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

/* Runs an attention hook on @logits; a hook that fails without setting an
 * error gets a generic one. */
gboolean _fa_backend_call_attention_hook (FaBackend *backend, const FaAttentionHook *hook,
                                          FaTensor *logits, GError **error);

#if FA_HAVE_CUDA
FaBackend *_fa_backend_cuda_new (int device_index, GError **error);
gboolean   _fa_backend_cuda_probe (int device_index, char **out_name, guint64 *out_total_bytes,
                                   GError **error);
/* For engine code that launches kernels of its own (the optical flow):
 * selects @backend's device on the calling thread and gives its stream (a
 * cudaStream_t), on which the backend's copies and ops are ordered. */
gboolean   _fa_backend_cuda_enter (FaBackend *backend, gpointer *out_stream, GError **error);
#endif

G_END_DECLS
