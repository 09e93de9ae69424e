/* flowanchor debug tokenize: a prompt through Wan's cleaning and the umT5
 * tokenizer, one line per token.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "flowanchor-tokenize"

#include "config.h"

#include <stdio.h>

#include "fa-cli.h"
#include "fa-tokenizer.h"

/* @text with control characters, backslashes and quotes escaped, in quotes. */
static char *
quote (const char *text)
{
  GString *out = g_string_new ("\"");

  for (const char *p = text; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;
      if (c == '\\' || c == '"')
        g_string_append_printf (out, "\\%c", c);
      else if (c < 0x20 || c == 0x7F)
        g_string_append_printf (out, "\\x%02x", c);
      else
        g_string_append_c (out, (char) c);
    }
  g_string_append_c (out, '"');
  return g_string_free (out, FALSE);
}

int
fa_cli_debug_tokenize (int argc, char **argv)
{
  g_autofree char *tokenizer_path = NULL;
  gboolean no_clean = FALSE;
  gint max_length = 0;
  const GOptionEntry entries[] = {
    { "tokenizer", 't', 0, G_OPTION_ARG_FILENAME, &tokenizer_path, "tokenizer.json, or the folder holding it", "PATH" },
    { "no-clean", 0, 0, G_OPTION_ARG_NONE, &no_clean, "Tokenize the text as given, without Wan's prompt cleaning", NULL },
    { "max-length", 'n', 0, G_OPTION_ARG_INT, &max_length, "Truncate to N tokens, </s> included (0: keep all)", "N" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("TEXT");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (context, "Cleans TEXT as Wan does (HTML entities, whitespace), tokenizes it and\n"
                                         "prints one line per token: index, id, piece, word index, input bytes.");
  if (!g_option_context_parse (context, &argc, &argv, &error) || tokenizer_path == NULL || argc != 2 ||
      max_length < 0)
    {
      if (error != NULL)
        fprintf (stderr, "flowanchor debug tokenize: %s\n", error->message);
      else
        fprintf (stderr, "flowanchor debug tokenize: needs --tokenizer and one TEXT (see --help)\n");
      return FA_CLI_USAGE;
    }

  g_autoptr (FaTokenizer) tokenizer = fa_tokenizer_load (tokenizer_path, &error);
  if (tokenizer == NULL)
    {
      fprintf (stderr, "flowanchor debug tokenize: %s\n", error->message);
      return FA_CLI_FAILED;
    }
  const char *text = argv[1];
  g_autofree char *cleaned = no_clean ? g_strdup (text) : fa_prompt_clean (text);
  g_autoptr (FaTokenization) tokens = fa_tokenizer_encode (tokenizer, cleaned, (guint) max_length, &error);
  if (tokens == NULL)
    {
      fprintf (stderr, "flowanchor debug tokenize: %s\n", error->message);
      return FA_CLI_FAILED;
    }

  g_autofree char *quoted = quote (cleaned);
  printf ("%s: %s\n", no_clean ? "text" : "cleaned", quoted);
  printf ("%u tokens", tokens->n);
  if (tokens->n_untruncated != tokens->n)
    printf (" (%u before truncation)", tokens->n_untruncated);
  printf (", %u words\n", tokens->n_words);
  printf ("index\tid\tpiece\tword\tbytes\n");
  for (guint i = 0; i < tokens->n; i++)
    {
      const char *piece = fa_tokenizer_id_to_piece (tokenizer, tokens->ids[i]);
      g_autofree char *piece_quoted = quote (piece != NULL ? piece : "?");
      printf ("%u\t%d\t%s\t%d\t%u-%u\n", i, tokens->ids[i], piece_quoted, tokens->word_index[i],
              tokens->byte_start[i], tokens->byte_end[i]);
    }
  return FA_CLI_OK;
}
