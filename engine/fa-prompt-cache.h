/* fa-prompt-cache.h: encoded prompts on disk, so a repeated prompt costs
 * nothing. Entries are keyed by a hash of the cleaned prompt, the row count
 * and the encoder's weights; the folder has a size bound (least recently
 * used entries go first), and a corrupt entry is deleted and recomputed,
 * never an error.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "fa-tensor.h"

G_BEGIN_DECLS

typedef struct _FaPromptCache FaPromptCache;

/* @folder is created when missing. */
FaPromptCache *fa_prompt_cache_new (const char *folder, guint64 max_bytes, GError **error);
/* $XDG_CACHE_HOME/flowanchor/prompts, 2 GiB. */
FaPromptCache *fa_prompt_cache_new_default (GError **error);
void           fa_prompt_cache_free (FaPromptCache *cache);

const char    *fa_prompt_cache_get_folder (FaPromptCache *cache);

/* SHA-256 of what determines the context: the encoder's weights, the
 * token ids (so another tokenizer gives another key) and the row count. */
char          *fa_prompt_cache_key (const char *weights_key, const gint32 *ids, guint n_ids, guint rows);

/* The cached context as f32 on @backend's device, or NULL when the cache
 * does not hold it (a damaged entry is deleted, with a log line). */
FaTensor      *fa_prompt_cache_lookup (FaPromptCache *cache, const char *key, FaBackend *backend);
/* Writes atomically, then trims the folder to its bound. */
gboolean       fa_prompt_cache_store (FaPromptCache *cache, const char *key, const FaTensor *context,
                                      GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaPromptCache, fa_prompt_cache_free)

G_END_DECLS
