/* fa-arena.h: one block of device memory for a pass's activations.
 *
 * A forward pass takes its intermediates from an arena sized once, so the
 * inner loop never calls malloc or cudaMalloc; resetting the arena ends the
 * pass. Tensors from an arena must not be used after the reset.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "fa-backend.h"

G_BEGIN_DECLS

typedef struct _FaArena FaArena;

FaArena  *fa_arena_new (FaBackend *backend, const char *name, gsize capacity, GError **error);
FaArena  *fa_arena_ref (FaArena *arena);
void      fa_arena_unref (FaArena *arena);

FaTensor *fa_arena_new_tensor (FaArena *arena, FaDType dtype, int ndim, const gint64 *shape,
                               GError **error);
void      fa_arena_reset (FaArena *arena);

gsize     fa_arena_get_capacity (FaArena *arena);
gsize     fa_arena_get_used (FaArena *arena);
/* The most in use at once since creation. */
gsize     fa_arena_get_peak (FaArena *arena);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaArena, fa_arena_unref)

G_END_DECLS
