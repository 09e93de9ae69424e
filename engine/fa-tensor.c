/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-tensor"

#include "config.h"

#include "fa-tensor.h"

#include <string.h>

#include "fa-backend-private.h"
#include "fa-cpu-kernels.h"
#include "fa-error.h"
#include "fa-tensor-private.h"

struct _FaStorage {
  gatomicrefcount ref_count;
  gpointer data;
  gsize size;
  FaDevice device;
  FaBackend *backend;     /* for copies; NULL for wrapped host memory */
  gboolean owned;         /* free data through the backend when the last ref goes */
  GDestroyNotify destroy; /* otherwise, tell the owner */
  gpointer user_data;
};

static void
storage_unref (FaStorage *storage)
{
  if (!g_atomic_ref_count_dec (&storage->ref_count))
    return;
  if (storage->owned)
    fa_backend_free (storage->backend, storage->data, storage->size);
  if (storage->destroy != NULL)
    storage->destroy (storage->user_data);
  g_clear_pointer (&storage->backend, fa_backend_unref);
  g_free (storage);
}

const char *
fa_device_get_name (FaDevice device)
{
  return device == FA_DEVICE_CUDA ? "cuda" : "cpu";
}

static gboolean
check_shape (FaDType dtype, int ndim, const gint64 *shape, gsize *out_nbytes, GError **error)
{
  guint64 numel = 1;

  if ((unsigned) dtype >= FA_DTYPE_COUNT)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_DTYPE, "invalid dtype %d", (int) dtype);
      return FALSE;
    }
  if (ndim < 0 || ndim > FA_MAX_DIMS)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "a tensor has at most %d axes, not %d", FA_MAX_DIMS, ndim);
      return FALSE;
    }
  for (int i = 0; i < ndim; i++)
    {
      if (shape[i] < 0)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "axis %d has negative size %" G_GINT64_FORMAT,
                       i, shape[i]);
          return FALSE;
        }
      if (shape[i] != 0 && numel > G_MAXINT64 / (guint64) shape[i])
        {
          g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "tensor shape overflows 64-bit element count");
          return FALSE;
        }
      numel *= (guint64) shape[i];
    }
  if (numel > G_MAXSIZE / fa_dtype_size (dtype))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "tensor is larger than the address space");
      return FALSE;
    }
  *out_nbytes = (gsize) numel * fa_dtype_size (dtype);
  return TRUE;
}

static FaTensor *
tensor_new_on_storage (FaStorage *storage, FaDType dtype, int ndim, const gint64 *shape)
{
  FaTensor *tensor = g_new0 (FaTensor, 1);
  gint64 stride = 1;

  g_atomic_ref_count_init (&tensor->ref_count);
  tensor->dtype = dtype;
  tensor->ndim = ndim;
  tensor->device = storage->device;
  tensor->storage = storage;
  for (int i = ndim - 1; i >= 0; i--)
    {
      tensor->shape[i] = shape[i];
      tensor->strides[i] = stride;
      stride *= shape[i];
    }
  return tensor;
}

static FaStorage *
storage_new (gpointer data, gsize size, FaDevice device, FaBackend *backend)
{
  FaStorage *storage = g_new0 (FaStorage, 1);

  g_atomic_ref_count_init (&storage->ref_count);
  storage->data = data;
  storage->size = size;
  storage->device = device;
  storage->backend = backend != NULL ? fa_backend_ref (backend) : NULL;
  return storage;
}

FaTensor *
fa_tensor_new (FaBackend *backend, FaDType dtype, int ndim, const gint64 *shape, GError **error)
{
  gsize nbytes;
  gpointer data;

  g_return_val_if_fail (backend != NULL, NULL);
  g_return_val_if_fail (shape != NULL || ndim == 0, NULL);

  if (!check_shape (dtype, ndim, shape, &nbytes, error))
    return NULL;
  data = fa_backend_alloc (backend, nbytes, error);
  if (data == NULL && nbytes > 0)
    return NULL;

  FaStorage *storage = storage_new (data, nbytes, fa_backend_get_device (backend), backend);
  storage->owned = TRUE;
  return tensor_new_on_storage (storage, dtype, ndim, shape);
}

FaTensor *
fa_tensor_new_wrapping (FaDType dtype, int ndim, const gint64 *shape, gpointer data,
                        GDestroyNotify destroy, gpointer user_data, GError **error)
{
  gsize nbytes;

  g_return_val_if_fail (shape != NULL || ndim == 0, NULL);

  if (!check_shape (dtype, ndim, shape, &nbytes, error))
    return NULL;

  FaStorage *storage = storage_new (data, nbytes, FA_DEVICE_CPU, NULL);
  storage->destroy = destroy;
  storage->user_data = user_data;
  return tensor_new_on_storage (storage, dtype, ndim, shape);
}

/* For the arena: a tensor on memory that @backend allocated and someone
 * else frees. */
FaTensor *
_fa_tensor_new_borrowed (FaBackend *backend, FaDType dtype, int ndim, const gint64 *shape,
                         gpointer data, GDestroyNotify destroy, gpointer user_data)
{
  gsize nbytes = 0;

  if (!check_shape (dtype, ndim, shape, &nbytes, NULL))
    return NULL;

  FaStorage *storage = storage_new (data, nbytes, fa_backend_get_device (backend), backend);
  storage->destroy = destroy;
  storage->user_data = user_data;
  return tensor_new_on_storage (storage, dtype, ndim, shape);
}

FaTensor *
fa_tensor_ref (FaTensor *tensor)
{
  g_return_val_if_fail (tensor != NULL, NULL);
  g_atomic_ref_count_inc (&tensor->ref_count);
  return tensor;
}

void
fa_tensor_unref (FaTensor *tensor)
{
  if (tensor == NULL || !g_atomic_ref_count_dec (&tensor->ref_count))
    return;
  storage_unref (tensor->storage);
  g_free (tensor);
}

gint64
fa_tensor_get_numel (const FaTensor *tensor)
{
  gint64 numel = 1;

  for (int i = 0; i < tensor->ndim; i++)
    numel *= tensor->shape[i];
  return numel;
}

gsize
fa_tensor_get_nbytes (const FaTensor *tensor)
{
  return (gsize) fa_tensor_get_numel (tensor) * fa_dtype_size (tensor->dtype);
}

gboolean
fa_tensor_is_contiguous (const FaTensor *tensor)
{
  gint64 expected = 1;

  for (int i = tensor->ndim - 1; i >= 0; i--)
    {
      if (tensor->shape[i] != 1 && tensor->strides[i] != expected)
        return FALSE;
      expected *= tensor->shape[i];
    }
  return TRUE;
}

gpointer
fa_tensor_get_data (const FaTensor *tensor)
{
  if (tensor->storage->data == NULL)
    return NULL;
  return (guint8 *) tensor->storage->data + tensor->offset;
}

FaBackend *
fa_tensor_get_backend (const FaTensor *tensor)
{
  return tensor->storage->backend;
}

gboolean
fa_tensor_same_shape (const FaTensor *a, const FaTensor *b)
{
  if (a->ndim != b->ndim)
    return FALSE;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i])
      return FALSE;
  return TRUE;
}

char *
fa_shape_to_string (int ndim, const gint64 *shape)
{
  GString *s = g_string_new ("[");

  for (int i = 0; i < ndim; i++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i > 0 ? ", " : "", shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

char *
fa_tensor_shape_to_string (const FaTensor *tensor)
{
  return fa_shape_to_string (tensor->ndim, tensor->shape);
}

static FaTensor *
view_new (FaTensor *tensor)
{
  FaTensor *view = g_new0 (FaTensor, 1);

  *view = *tensor;
  g_atomic_ref_count_init (&view->ref_count);
  g_atomic_ref_count_inc (&tensor->storage->ref_count);
  return view;
}

FaTensor *
fa_tensor_reshape (FaTensor *tensor, int ndim, const gint64 *shape, GError **error)
{
  gsize nbytes;

  g_return_val_if_fail (tensor != NULL, NULL);

  if (!check_shape (tensor->dtype, ndim, shape, &nbytes, error))
    return NULL;
  if (!fa_tensor_is_contiguous (tensor))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "only a contiguous tensor can be reshaped");
      return NULL;
    }
  if (nbytes != fa_tensor_get_nbytes (tensor))
    {
      g_autofree char *from = fa_tensor_shape_to_string (tensor);
      g_autofree char *to = fa_shape_to_string (ndim, shape);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "cannot reshape %s to %s: element counts differ", from, to);
      return NULL;
    }

  FaTensor *view = view_new (tensor);
  gint64 stride = 1;
  view->ndim = ndim;
  for (int i = ndim - 1; i >= 0; i--)
    {
      view->shape[i] = shape[i];
      view->strides[i] = stride;
      stride *= shape[i];
    }
  for (int i = ndim; i < FA_MAX_DIMS; i++)
    view->shape[i] = view->strides[i] = 0;
  return view;
}

FaTensor *
fa_tensor_narrow (FaTensor *tensor, int axis, gint64 start, gint64 length, GError **error)
{
  g_return_val_if_fail (tensor != NULL, NULL);

  if (axis < 0 || axis >= tensor->ndim)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "axis %d out of range for a %d-axis tensor",
                   axis, tensor->ndim);
      return NULL;
    }
  if (start < 0 || length < 0 || start > tensor->shape[axis] - length)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "range [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT ") is outside axis %d of size %" G_GINT64_FORMAT,
                   start, start + length, axis, tensor->shape[axis]);
      return NULL;
    }

  FaTensor *view = view_new (tensor);
  view->shape[axis] = length;
  view->offset += (gsize) (start * tensor->strides[axis]) * fa_dtype_size (tensor->dtype);
  return view;
}

FaTensor *
fa_tensor_permute (FaTensor *tensor, const int *axes, GError **error)
{
  gboolean seen[FA_MAX_DIMS] = { FALSE };

  g_return_val_if_fail (tensor != NULL && axes != NULL, NULL);

  for (int i = 0; i < tensor->ndim; i++)
    {
      if (axes[i] < 0 || axes[i] >= tensor->ndim || seen[axes[i]])
        {
          g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                       "permute: axis list is not a permutation of the %d axes (entry %d is %d)",
                       tensor->ndim, i, axes[i]);
          return NULL;
        }
      seen[axes[i]] = TRUE;
    }

  FaTensor *view = view_new (tensor);
  for (int i = 0; i < tensor->ndim; i++)
    {
      view->shape[i] = tensor->shape[axes[i]];
      view->strides[i] = tensor->strides[axes[i]];
    }
  return view;
}

gboolean
fa_tensor_copy (FaTensor *dst, const FaTensor *src, GError **error)
{
  g_return_val_if_fail (dst != NULL && src != NULL, FALSE);

  if (dst->dtype != src->dtype)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_DTYPE, "copy from %s to %s: dtypes differ (use fa_tensor_to)",
                   fa_dtype_get_name (src->dtype), fa_dtype_get_name (dst->dtype));
      return FALSE;
    }
  if (fa_tensor_get_numel (dst) != fa_tensor_get_numel (src))
    {
      g_autofree char *d = fa_tensor_shape_to_string (dst);
      g_autofree char *s = fa_tensor_shape_to_string (src);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "copy from %s to %s: element counts differ", s, d);
      return FALSE;
    }
  if (!fa_tensor_is_contiguous (dst) || !fa_tensor_is_contiguous (src))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "copy needs contiguous tensors");
      return FALSE;
    }

  gsize nbytes = fa_tensor_get_nbytes (src);
  if (nbytes == 0)
    return TRUE;
  if (dst->device == FA_DEVICE_CPU && src->device == FA_DEVICE_CPU)
    {
      memmove (fa_tensor_get_data (dst), fa_tensor_get_data (src), nbytes);
      return TRUE;
    }

  /* The device side's backend moves the bytes. */
  FaBackend *backend = dst->device != FA_DEVICE_CPU ? fa_tensor_get_backend (dst)
                                                    : fa_tensor_get_backend (src);
  return backend->ops->copy (backend, fa_tensor_get_data (dst), dst->device,
                             fa_tensor_get_data (src), src->device, nbytes, error);
}

FaTensor *
fa_tensor_to (const FaTensor *src, FaBackend *backend, FaDType dtype, GError **error)
{
  g_return_val_if_fail (src != NULL && backend != NULL, NULL);

  if (!fa_tensor_is_contiguous (src))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "fa_tensor_to needs a contiguous tensor");
      return NULL;
    }

  g_autoptr (FaTensor) dst = fa_tensor_new (backend, dtype, src->ndim, src->shape, error);
  if (dst == NULL)
    return NULL;
  if (src->dtype == dtype)
    return fa_tensor_copy (dst, src, error) ? g_steal_pointer (&dst) : NULL;

  /* On the same device the backend converts in place of a round trip. */
  if (src->device == dst->device && fa_op_convert (backend, src, dst, NULL))
    return g_steal_pointer (&dst);

  /* Otherwise convert on the host, then move. */
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  g_autoptr (FaTensor) host_src = NULL;
  if (src->device != FA_DEVICE_CPU)
    {
      host_src = fa_tensor_new (cpu, src->dtype, src->ndim, src->shape, error);
      if (host_src == NULL || !fa_tensor_copy (host_src, src, error))
        return NULL;
    }
  const FaTensor *from = host_src != NULL ? host_src : src;
  g_autoptr (FaTensor) host_dst = fa_tensor_new (cpu, dtype, src->ndim, src->shape, error);
  if (host_dst == NULL)
    return NULL;
  if (fa_cpu_convert (fa_tensor_get_data (from), from->dtype, fa_tensor_get_data (host_dst), dtype,
                      fa_tensor_get_numel (from)) != 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_DTYPE, "cannot convert %s to %s",
                   fa_dtype_get_name (from->dtype), fa_dtype_get_name (dtype));
      return NULL;
    }
  if (!fa_tensor_copy (dst, host_dst, error))
    return NULL;
  return g_steal_pointer (&dst);
}
