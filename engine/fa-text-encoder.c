/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-text-encoder"

#include "config.h"

#include "fa-text-encoder.h"

#include "fa-backend.h"

FaTensor *
fa_encode_prompt (FaTokenizer *tokenizer, FaUmt5 *model, FaPromptCache *cache, const char *prompt,
                  guint rows, gboolean *out_cache_hit, GError **error)
{
  g_return_val_if_fail (tokenizer != NULL && model != NULL && prompt != NULL && rows > 0, NULL);

  g_autofree char *cleaned = fa_prompt_clean (prompt);
  if (out_cache_hit != NULL)
    *out_cache_hit = FALSE;

  /* tokenising is cheap, and keying on the ids covers the tokenizer too */
  g_autoptr (FaTokenization) tokens = fa_tokenizer_encode (tokenizer, cleaned, rows, error);
  if (tokens == NULL)
    return NULL;
  g_autofree char *key = cache ? fa_prompt_cache_key (fa_umt5_get_weights_key (model), tokens->ids, tokens->n, rows)
                               : NULL;

  if (cache != NULL)
    {
      FaTensor *cached = fa_prompt_cache_lookup (cache, key, fa_umt5_get_backend (model));
      if (cached != NULL && cached->shape[0] == rows && cached->shape[1] == fa_umt5_get_config (model)->d_model)
        {
          if (out_cache_hit != NULL)
            *out_cache_hit = TRUE;
          return cached;
        }
      g_clear_pointer (&cached, fa_tensor_unref);
    }

  g_autoptr (FaTensor) context = fa_umt5_encode_context (model, tokens->ids, tokens->n, rows, error);
  if (context == NULL)
    return NULL;

  if (cache != NULL)
    {
      /* a cache that cannot be written costs speed, not the result */
      g_autoptr (GError) store_error = NULL;
      if (!fa_prompt_cache_store (cache, key, context, &store_error))
        g_message ("Prompt not cached: %s", store_error->message);
    }
  return g_steal_pointer (&context);
}
