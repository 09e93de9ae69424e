/* fa-text-encoder.h: a prompt to the context the DiT attends to, the way
 * the Wan pipeline makes it (spec B.4, B.5): cleaned, tokenised to at most
 * @rows ids with </s> kept, encoded by umT5, rows after the real ones zero.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "fa-prompt-cache.h"
#include "fa-tokenizer.h"
#include "fa-umt5.h"

G_BEGIN_DECLS

/* f32 [@rows, d_model] on @model's backend. @cache may be NULL; with one, a
 * prompt already encoded by these weights is read back instead of run, and
 * a new one is stored. *@out_cache_hit (may be NULL) says which. */
FaTensor *fa_encode_prompt (FaTokenizer *tokenizer, FaUmt5 *model, FaPromptCache *cache,
                            const char *prompt, guint rows, gboolean *out_cache_hit,
                            GError **error);

G_END_DECLS
