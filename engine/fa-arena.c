/* fa-arena.c: a bump allocator over one block of backend memory.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-arena"

#include "config.h"

#include "fa-arena.h"

#include "fa-error.h"
#include "fa-tensor-private.h"

/* Keeps every tensor's start aligned for vector loads and cuBLAS. */
#define ARENA_ALIGNMENT 256

struct _FaArena {
  gatomicrefcount ref_count;
  FaBackend *backend;
  char *name;
  guint8 *base;
  gsize capacity;
  gsize used;
  gsize peak;
};

FaArena *
fa_arena_new (FaBackend *backend, const char *name, gsize capacity, GError **error)
{
  g_return_val_if_fail (backend != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);

  capacity = (capacity + ARENA_ALIGNMENT - 1) & ~(gsize) (ARENA_ALIGNMENT - 1);
  gpointer base = fa_backend_alloc (backend, capacity, error);
  if (base == NULL && capacity > 0)
    {
      g_prefix_error (error, "arena '%s': ", name);
      return NULL;
    }

  FaArena *arena = g_new0 (FaArena, 1);
  g_atomic_ref_count_init (&arena->ref_count);
  arena->backend = fa_backend_ref (backend);
  arena->name = g_strdup (name);
  arena->base = base;
  arena->capacity = capacity;
  return arena;
}

FaArena *
fa_arena_ref (FaArena *arena)
{
  g_return_val_if_fail (arena != NULL, NULL);
  g_atomic_ref_count_inc (&arena->ref_count);
  return arena;
}

void
fa_arena_unref (FaArena *arena)
{
  if (arena == NULL || !g_atomic_ref_count_dec (&arena->ref_count))
    return;
  fa_backend_free (arena->backend, arena->base, arena->capacity);
  fa_backend_unref (arena->backend);
  g_free (arena->name);
  g_free (arena);
}

FaTensor *
fa_arena_new_tensor (FaArena *arena, FaDType dtype, int ndim, const gint64 *shape, GError **error)
{
  g_return_val_if_fail (arena != NULL, NULL);

  /* Validate the shape (and get its size) through a zero-cost wrapping. */
  g_autoptr (FaTensor) probe = fa_tensor_new_wrapping (dtype, ndim, shape, NULL, NULL, NULL, error);
  if (probe == NULL)
    return NULL;

  gsize nbytes = fa_tensor_get_nbytes (probe);
  gsize rounded = (nbytes + ARENA_ALIGNMENT - 1) & ~(gsize) (ARENA_ALIGNMENT - 1);
  if (rounded < nbytes || rounded > arena->capacity - arena->used)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_OUT_OF_MEMORY,
                   "arena '%s' is full: %" G_GSIZE_FORMAT " bytes asked, %" G_GSIZE_FORMAT
                   " of %" G_GSIZE_FORMAT " in use",
                   arena->name, nbytes, arena->used, arena->capacity);
      return NULL;
    }

  FaTensor *tensor = _fa_tensor_new_borrowed (arena->backend, dtype, ndim, shape,
                                              arena->base + arena->used,
                                              (GDestroyNotify) fa_arena_unref, fa_arena_ref (arena));
  arena->used += rounded;
  arena->peak = MAX (arena->peak, arena->used);
  return tensor;
}

void
fa_arena_reset (FaArena *arena)
{
  arena->used = 0;
}

gsize
fa_arena_get_capacity (FaArena *arena)
{
  return arena->capacity;
}

gsize
fa_arena_get_used (FaArena *arena)
{
  return arena->used;
}

gsize
fa_arena_get_peak (FaArena *arena)
{
  return arena->peak;
}
