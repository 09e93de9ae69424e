/* flowanchor debug t5: a prompt to the Wan context tensor.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "flowanchor-t5"

#include "config.h"

#include <stdio.h>

#include "fa-cli.h"
#include "fa-error.h"
#include "fa-safetensors.h"
#include "fa-text-encoder.h"

#define WAN_TEXT_ROWS 512

/* The encoder folder and the tokenizer beside it: a pipeline root holds
 * text_encoder/ and tokenizer/; a text_encoder/ folder has tokenizer/ as
 * its sibling. */
static void
resolve_paths (const char *model, const char *tokenizer, char **out_model, char **out_tokenizer)
{
  g_autofree char *index = g_build_filename (model, "model_index.json", NULL);

  if (g_file_test (index, G_FILE_TEST_EXISTS))
    {
      *out_model = g_build_filename (model, "text_encoder", NULL);
      *out_tokenizer = tokenizer ? g_strdup (tokenizer) : g_build_filename (model, "tokenizer", NULL);
      return;
    }
  *out_model = g_strdup (model);
  if (tokenizer != NULL)
    *out_tokenizer = g_strdup (tokenizer);
  else
    {
      g_autofree char *parent = g_path_get_dirname (model);
      *out_tokenizer = g_build_filename (parent, "tokenizer", NULL);
    }
}

static gboolean
run_debug_t5 (const char *model_path, const char *tokenizer_path, const char *prompt, const char *out,
              const char *device, gboolean use_cache, GError **error)
{
  g_autoptr (FaBackend) backend = NULL;
  if (device == NULL || g_str_equal (device, "auto"))
    backend = fa_backend_new_default ();
  else if (g_str_equal (device, "cpu"))
    backend = fa_backend_new_cpu ();
  else if (g_str_equal (device, "cuda"))
    backend = fa_backend_new_cuda (0, error);
  else
    g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "unknown device '%s' (cpu, cuda or auto)", device);
  if (backend == NULL)
    return FALSE;

  /* the model first: a wrong --model should be what the error names */
  g_autoptr (FaUmt5) model = fa_umt5_load (model_path, backend, error);
  g_autoptr (FaTokenizer) tokenizer = model ? fa_tokenizer_load (tokenizer_path, error) : NULL;
  g_autoptr (FaPromptCache) cache = tokenizer && use_cache ? fa_prompt_cache_new_default (error) : NULL;
  if (tokenizer == NULL || (use_cache && cache == NULL))
    return FALSE;

  gboolean hit = FALSE;
  gint64 start = g_get_monotonic_time ();
  g_autoptr (FaTensor) context = fa_encode_prompt (tokenizer, model, cache, prompt, WAN_TEXT_ROWS, &hit, error);
  if (context == NULL)
    return FALSE;
  double seconds = (g_get_monotonic_time () - start) / 1e6;

  g_autofree char *cleaned = fa_prompt_clean (prompt);
  g_autoptr (FaTokenization) tokens = fa_tokenizer_encode (tokenizer, cleaned, WAN_TEXT_ROWS, error);
  if (tokens == NULL)
    return FALSE;
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  g_autoptr (FaTensor) ids = fa_tensor_new_wrapping (FA_DTYPE_I32, 1, (gint64[]) { tokens->n }, tokens->ids,
                                                     NULL, NULL, error);
  g_autoptr (FaTensor) host_ids = ids ? fa_tensor_to (ids, cpu, FA_DTYPE_I64, error) : NULL;
  if (host_ids == NULL)
    return FALSE;

  g_autoptr (GHashTable) metadata = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (metadata, "prompt", (gpointer) prompt);
  g_hash_table_insert (metadata, "cleaned_prompt", cleaned);
  g_hash_table_insert (metadata, "model", (gpointer) model_path);
  g_hash_table_insert (metadata, "backend", (gpointer) fa_backend_get_description (backend));
  const char *names[] = { "context", "ids" };
  FaTensor *tensors[] = { context, host_ids };
  if (!fa_safetensors_write (out, 2, names, tensors, metadata, error))
    return FALSE;
  printf ("%u tokens, context of %d rows, %s in %.2f s; wrote %s\n", tokens->n, WAN_TEXT_ROWS,
          hit ? "from the prompt cache" : "encoded", seconds, out);
  return TRUE;
}

int
fa_cli_debug_t5 (int argc, char **argv)
{
  g_autofree char *model = NULL, *tokenizer = NULL, *prompt = NULL, *out = NULL, *device = NULL;
  gboolean no_cache = FALSE;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "text_encoder/ folder, a checkpoint, or a pipeline folder", "PATH" },
    { "tokenizer", 't', 0, G_OPTION_ARG_FILENAME, &tokenizer, "tokenizer/ folder (default: beside the model)", "PATH" },
    { "prompt", 'p', 0, G_OPTION_ARG_STRING, &prompt, "The prompt", "TEXT" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Where to write context [512, d_model] and ids", "FILE" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "cpu, cuda or auto (default)", "NAME" },
    { "no-cache", 0, 0, G_OPTION_ARG_NONE, &no_cache, "Neither read nor write the prompt cache", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("t5");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (context, "Encodes a prompt the way Wan does (cleaned, tokenised to 512 with </s>,\n"
                                         "umT5, rows after the real ones zero) and writes the context tensor.");
  if (!g_option_context_parse (context, &argc, &argv, &error) || model == NULL || prompt == NULL || out == NULL)
    {
      fprintf (stderr, "flowanchor debug t5: %s\n", error ? error->message : "--model, --prompt and --out are needed");
      return FA_CLI_USAGE;
    }

  g_autofree char *model_path = NULL, *tokenizer_path = NULL;
  resolve_paths (model, tokenizer, &model_path, &tokenizer_path);
  if (!run_debug_t5 (model_path, tokenizer_path, prompt, out, device, !no_cache, &error))
    {
      fprintf (stderr, "flowanchor debug t5: %s\n", error->message);
      return FA_CLI_FAILED;
    }
  return FA_CLI_OK;
}
