/* The umT5 tokenizer and Wan's prompt cleaning against
 * tests/data/goldens/tokenizer.safetensors (18 strings: cleaning, the ids of
 * the cleaned and of the raw text, the padded 512-token Wan path), the
 * components of tokenizer.json one by one (expected ids from the tokenizers
 * library on variants of the tiny file), word offsets, truncation, and
 * malformed files.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <json-glib/json-glib.h>
#include <string.h>

#include "fa-error.h"
#include "fa-safetensors.h"
#include "fa-test-util.h"
#include "fa-tokenizer.h"

#define N_STRINGS 18
#define TEXT_LEN 512

static char *tokenizer_dir;
static char *golden_path;

static FaTokenizer *
load_tiny (void)
{
  g_autoptr (GError) error = NULL;
  FaTokenizer *tokenizer = fa_tokenizer_load (tokenizer_dir, &error);
  g_assert_no_error (error);
  g_assert_nonnull (tokenizer);
  return tokenizer;
}

static const FaSafetensorsEntry *
golden_entry (FaSafetensors *file, const char *name, FaDType dtype)
{
  const FaSafetensorsEntry *entry = fa_safetensors_lookup (file, name);
  if (entry == NULL)
    g_error ("%s has no tensor %s", golden_path, name);
  g_assert_cmpint (entry->dtype, ==, dtype);
  return entry;
}

/* u8 text.k / clean.k as bytes (may hold NULs), i64 tokens as gint64. */
static const char *
golden_bytes (FaSafetensors *file, const char *prefix, guint k, gsize *length)
{
  g_autofree char *name = g_strdup_printf ("%s.%02u", prefix, k);
  const FaSafetensorsEntry *entry = golden_entry (file, name, FA_DTYPE_U8);
  *length = entry->nbytes;
  return entry->data;
}

static void
assert_ids_equal (const char *what, guint k, const gint32 *ids, guint n, const void *expected_bytes,
                  guint n_expected)
{
  if (n != n_expected)
    g_error ("%s %02u: %u ids, expected %u", what, k, n, n_expected);
  for (guint i = 0; i < n; i++)
    {
      gint64 expected;
      memcpy (&expected, (const guint8 *) expected_bytes + 8 * i, 8);
      if (ids[i] != expected)
        g_error ("%s %02u: id %u is %d, expected %" G_GINT64_FORMAT, what, k, i, ids[i], expected);
    }
}

/* ---- the goldens ---- */

static void
test_golden_clean (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaSafetensors) file = fa_safetensors_open (golden_path, &error);
  g_assert_no_error (error);

  for (guint k = 0; k < N_STRINGS; k++)
    {
      gsize text_length, clean_length, out_length;
      const char *text = golden_bytes (file, "text", k, &text_length);
      const char *clean = golden_bytes (file, "clean", k, &clean_length);
      g_autofree char *out = fa_prompt_clean_len (text_length > 0 ? text : "", (gssize) text_length, &out_length);
      if (out_length != clean_length || memcmp (out, clean, clean_length) != 0)
        g_error ("clean %02u: \"%s\", expected \"%.*s\"", k, out, (int) clean_length, clean);
      if (memchr (text, '\0', text_length) == NULL)
        {
          g_autofree char *plain = g_strndup (text, text_length);
          g_autofree char *out_plain = fa_prompt_clean (plain);
          g_assert_cmpstr (out_plain, ==, out);
        }
    }
}

static void
test_golden_tokens (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaSafetensors) file = fa_safetensors_open (golden_path, &error);
  g_assert_no_error (error);
  g_autoptr (FaTokenizer) tokenizer = load_tiny ();

  for (guint k = 0; k < N_STRINGS; k++)
    {
      gsize clean_length;
      const char *clean = golden_bytes (file, "clean", k, &clean_length);
      g_autofree char *name = g_strdup_printf ("tokens.%02u", k);
      const FaSafetensorsEntry *expected = golden_entry (file, name, FA_DTYPE_I64);

      g_autoptr (FaTokenization) tokens = fa_tokenizer_encode_len (tokenizer, clean_length > 0 ? clean : "",
                                                                   (gssize) clean_length, 0, &error);
      g_assert_no_error (error);
      assert_ids_equal ("tokens", k, tokens->ids, tokens->n, expected->data, (guint) expected->shape[0]);
      g_assert_cmpuint (tokens->n_untruncated, ==, tokens->n);
      g_assert_cmpint (tokens->word_index[tokens->n - 1], ==, -1);
    }
}

static void
test_golden_uncleaned (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaSafetensors) file = fa_safetensors_open (golden_path, &error);
  g_assert_no_error (error);
  g_autoptr (FaTokenizer) tokenizer = load_tiny ();

  for (guint k = 0; k < N_STRINGS; k++)
    {
      gsize text_length;
      const char *text = golden_bytes (file, "text", k, &text_length);
      g_autofree char *name = g_strdup_printf ("tokens_uncleaned.%02u", k);
      const FaSafetensorsEntry *expected = golden_entry (file, name, FA_DTYPE_I64);

      g_autoptr (FaTokenization) tokens = fa_tokenizer_encode_len (tokenizer, text_length > 0 ? text : "",
                                                                   (gssize) text_length, 0, &error);
      g_assert_no_error (error);
      assert_ids_equal ("tokens_uncleaned", k, tokens->ids, tokens->n, expected->data,
                        (guint) expected->shape[0]);
    }
}

/* The Wan path: clean, at most 511 pieces and </s>, pad to 512. */
static void
test_golden_padded (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaSafetensors) file = fa_safetensors_open (golden_path, &error);
  g_assert_no_error (error);
  g_autoptr (FaTokenizer) tokenizer = load_tiny ();
  const FaSafetensorsEntry *ids = golden_entry (file, "ids", FA_DTYPE_I64);
  const FaSafetensorsEntry *mask = golden_entry (file, "mask", FA_DTYPE_I64);
  const FaSafetensorsEntry *n_real = golden_entry (file, "n_real", FA_DTYPE_I64);
  g_assert_cmpint (ids->shape[0], ==, N_STRINGS);
  g_assert_cmpint (ids->shape[1], ==, TEXT_LEN);

  for (guint k = 0; k < N_STRINGS; k++)
    {
      gsize text_length, out_length;
      const char *text = golden_bytes (file, "text", k, &text_length);
      g_autofree char *clean = fa_prompt_clean_len (text_length > 0 ? text : "", (gssize) text_length, &out_length);
      g_autoptr (FaTokenization) tokens = fa_tokenizer_encode_len (tokenizer, clean, (gssize) out_length, TEXT_LEN,
                                                                   &error);
      g_assert_no_error (error);

      gint64 real;
      memcpy (&real, (const guint8 *) n_real->data + 8 * k, 8);
      g_assert_cmpuint (tokens->n, ==, (guint) real);
      g_assert_cmpuint (tokens->n, <=, TEXT_LEN);
      g_assert_cmpint (tokens->ids[tokens->n - 1], ==, fa_tokenizer_get_eos_id (tokenizer));
      g_autofree gint32 *row = g_new (gint32, TEXT_LEN);
      for (guint i = 0; i < TEXT_LEN; i++)
        {
          row[i] = i < tokens->n ? tokens->ids[i] : fa_tokenizer_get_pad_id (tokenizer);
          gint64 m;
          memcpy (&m, (const guint8 *) mask->data + 8 * (k * TEXT_LEN + i), 8);
          g_assert_cmpint (m, ==, i < tokens->n ? 1 : 0);
        }
      assert_ids_equal ("ids", k, row, TEXT_LEN, (const guint8 *) ids->data + 8 * k * TEXT_LEN, TEXT_LEN);

      g_autofree char *name = g_strdup_printf ("tokens.%02u", k);
      g_assert_cmpuint (tokens->n_untruncated, ==, (guint) golden_entry (file, name, FA_DTYPE_I64)->shape[0]);
    }
}

/* ---- the tokenizer's parts ---- */

static void
test_specials (void)
{
  g_autoptr (FaTokenizer) tokenizer = load_tiny ();

  g_assert_cmpuint (fa_tokenizer_get_vocab_size (tokenizer), ==, 1016);
  g_assert_cmpint (fa_tokenizer_get_pad_id (tokenizer), ==, 0);
  g_assert_cmpint (fa_tokenizer_get_eos_id (tokenizer), ==, 1);
  g_assert_cmpint (fa_tokenizer_get_unk_id (tokenizer), ==, 3);
  g_assert_cmpstr (fa_tokenizer_id_to_piece (tokenizer, 0), ==, "<pad>");
  g_assert_cmpstr (fa_tokenizer_id_to_piece (tokenizer, 2), ==, "<s>");
  g_assert_cmpstr (fa_tokenizer_id_to_piece (tokenizer, 4), ==, "<0x00>");
  g_assert_cmpstr (fa_tokenizer_id_to_piece (tokenizer, 259), ==, "<0xFF>");
  g_assert_cmpstr (fa_tokenizer_id_to_piece (tokenizer, 260), ==, "\xe2\x96\x81");
  g_assert_cmpstr (fa_tokenizer_id_to_piece (tokenizer, 1000), ==, "<extra_id_15>");
  g_assert_cmpstr (fa_tokenizer_id_to_piece (tokenizer, 1015), ==, "<extra_id_0>");
  g_assert_null (fa_tokenizer_id_to_piece (tokenizer, 1016));
  g_assert_null (fa_tokenizer_id_to_piece (tokenizer, -1));
}

static void
test_load_paths (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *file_path = g_build_filename (tokenizer_dir, "tokenizer.json", NULL);
  g_autoptr (FaTokenizer) from_dir = load_tiny ();
  g_autoptr (FaTokenizer) from_file = fa_tokenizer_load (file_path, &error);
  g_assert_no_error (error);

  const char *text = "A red fox walks across the snow, 镜头缓慢移动.";
  g_autoptr (FaTokenization) a = fa_tokenizer_encode (from_dir, text, 0, &error);
  g_assert_no_error (error);
  g_autoptr (FaTokenization) b = fa_tokenizer_encode (from_file, text, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (a->ids, a->n * sizeof (gint32), b->ids, b->n * sizeof (gint32));

  g_autofree char *empty_dir = fa_test_make_folder ("fa-tokenizer-XXXXXX");
  g_assert_null (fa_tokenizer_load (empty_dir, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_NOT_FOUND, "tokenizer.json");
  g_clear_error (&error);
  g_autofree char *missing = g_build_filename (empty_dir, "nope.json", NULL);
  g_assert_null (fa_tokenizer_load (missing, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_NOT_FOUND, "nope.json");
  fa_test_remove_tree (empty_dir);
}

/* Model spec B.4 and tests/data/README.md: "a </s> b" gives ▁a ▁ </s> ▁b. */
static void
test_added_tokens (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTokenizer) tokenizer = load_tiny ();
  g_autoptr (FaTokenization) tokens = fa_tokenizer_encode (tokenizer, "a </s> b", 0, &error);
  g_assert_no_error (error);
  const gint32 expected[] = { 264, 260, 1, 324, 1 };
  g_assert_cmpmem (tokens->ids, tokens->n * sizeof (gint32), expected, sizeof expected);
  const gint32 words[] = { 0, 1, 1, 2, -1 };
  g_assert_cmpmem (tokens->word_index, tokens->n * sizeof (gint32), words, sizeof words);
  g_assert_cmpuint (tokens->byte_start[2], ==, 2);
  g_assert_cmpuint (tokens->byte_end[2], ==, 6);
}

/* The edit's target prompt (tools/reference/docs/edit.md): J = the pieces
 * of changed words 1, 2, 3 and 7 = positions 1–8 and 16. */
static void
test_word_offsets (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTokenizer) tokenizer = load_tiny ();
  g_autofree char *clean = fa_prompt_clean ("a shiny  blue cube rolls on the green grass");
  g_assert_cmpstr (clean, ==, "a shiny blue cube rolls on the green grass");
  g_autoptr (FaTokenization) tokens = fa_tokenizer_encode (tokenizer, clean, TEXT_LEN, &error);
  g_assert_no_error (error);

  const gint32 words[] = { 0, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4, 4, 4, 5, 6, 6, 7, 8, 8, 8, -1 };
  g_assert_cmpuint (tokens->n, ==, G_N_ELEMENTS (words));
  g_assert_cmpmem (tokens->word_index, tokens->n * sizeof (gint32), words, sizeof words);
  g_assert_cmpuint (tokens->n_words, ==, 9);

  GString *j = g_string_new (NULL);
  for (guint i = 0; i < tokens->n; i++)
    {
      gint32 w = tokens->word_index[i];
      if (w == 1 || w == 2 || w == 3 || w == 7)
        g_string_append_printf (j, "%u ", i);
    }
  g_assert_cmpstr (j->str, ==, "1 2 3 4 5 6 7 8 16 ");
  g_string_free (j, TRUE);

  /* every piece inside its word's span, extended by the space before it;
   * the pieces tile the text in order */
  g_auto (GStrv) split = g_strsplit (clean, " ", -1);
  guint32 spans[16][2], at = 0;
  for (guint w = 0; split[w] != NULL; w++)
    {
      spans[w][0] = at;
      spans[w][1] = at + (guint32) strlen (split[w]);
      at = spans[w][1] + 1;
    }
  guint32 previous_end = 0;
  for (guint i = 0; i + 1 < tokens->n; i++)
    {
      gint32 w = tokens->word_index[i];
      g_assert_cmpuint (tokens->byte_start[i], ==, previous_end);
      g_assert_cmpuint (tokens->byte_start[i] + (w > 0 ? 1 : 0), >=, spans[w][0]);
      g_assert_cmpuint (tokens->byte_end[i], <=, spans[w][1]);
      g_assert_cmpuint (tokens->byte_end[i], >, tokens->byte_start[i]);
      previous_end = tokens->byte_end[i];
    }
  g_assert_cmpuint (previous_end, ==, strlen (clean));
  g_assert_cmpuint (tokens->byte_start[tokens->n - 1], ==, strlen (clean));

  /* a lone "▁" belongs to the word after it: "rolls" is ▁ r o lls */
  g_assert_cmpstr (fa_tokenizer_id_to_piece (tokenizer, tokens->ids[9]), ==, "\xe2\x96\x81");
  g_assert_cmpint (tokens->word_index[9], ==, 4);

  /* the input as given: the double space is a word of its own ("") */
  g_autoptr (FaTokenization) raw = fa_tokenizer_encode (tokenizer, "a shiny  blue", 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (raw->n_words, ==, 4);
  g_assert_cmpint (raw->word_index[raw->n - 2], ==, 3);
}

static void
test_truncation (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTokenizer) tokenizer = load_tiny ();
  const char *text = "a red fox walks";
  g_autoptr (FaTokenization) all = fa_tokenizer_encode (tokenizer, text, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (all->n, >, 4);

  for (guint max_length = 1; max_length <= all->n + 1; max_length++)
    {
      g_autoptr (FaTokenization) cut = fa_tokenizer_encode (tokenizer, text, max_length, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (cut->n, ==, MIN (max_length, all->n));
      g_assert_cmpuint (cut->n_untruncated, ==, all->n);
      g_assert_cmpmem (cut->ids, (cut->n - 1) * sizeof (gint32), all->ids, (cut->n - 1) * sizeof (gint32));
      g_assert_cmpint (cut->ids[cut->n - 1], ==, 1);
      g_assert_cmpint (cut->word_index[cut->n - 1], ==, -1);
    }

  g_autoptr (FaTokenization) empty = fa_tokenizer_encode (tokenizer, "", TEXT_LEN, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (empty->n, ==, 1);
  g_assert_cmpint (empty->ids[0], ==, 1);
  g_assert_cmpuint (empty->n_words, ==, 1);
}

static void
test_encode_errors (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTokenizer) tokenizer = load_tiny ();

  g_assert_null (fa_tokenizer_encode (tokenizer, "caf\xc3", 0, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "UTF-8");
  g_clear_error (&error);

  /* NUL is a character like any other (byte fallback: <0x00>) */
  g_autoptr (FaTokenization) nul = fa_tokenizer_encode_len (tokenizer, "a\0b", 3, 0, &error);
  g_assert_no_error (error);
  const gint32 expected[] = { 264, 4, 267, 1 };
  g_assert_cmpmem (nul->ids, nul->n * sizeof (gint32), expected, sizeof expected);
}

/* ---- tokenizer.json variants: expected ids from the tokenizers library ---- */

/* The tiny tokenizer.json with @member_path ("pre_tokenizer",
 * "model.byte_fallback") set to @json (NULL: JSON null), written to a
 * temporary file. */
static char *
write_variant (const char *folder, const char *name, const char *member_path, const char *json)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *source = g_build_filename (tokenizer_dir, "tokenizer.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_file (parser, source, &error));
  JsonNode *root = json_parser_get_root (parser);

  JsonNode *value;
  if (json == NULL)
    value = json_node_new (JSON_NODE_NULL);
  else
    {
      g_autoptr (JsonParser) value_parser = json_parser_new ();
      g_assert_true (json_parser_load_from_data (value_parser, json, -1, &error));
      value = json_node_copy (json_parser_get_root (value_parser));
    }

  g_auto (GStrv) parts = g_strsplit (member_path, ".", -1);
  JsonObject *object = json_node_get_object (root);
  for (guint i = 0; parts[i + 1] != NULL; i++)
    object = json_object_get_object_member (object, parts[i]);
  json_object_set_member (object, parts[g_strv_length (parts) - 1], value);

  char *path = g_build_filename (folder, name, NULL);
  g_autofree char *text = json_to_string (root, FALSE);
  g_assert_true (g_file_set_contents (path, text, -1, &error));
  return path;
}

typedef struct {
  const char *member;
  const char *json;
  const char *text;
  gint32 ids[16];
} Variant;

#define METASPACE(scheme, split) \
  "{\"type\": \"Metaspace\", \"replacement\": \"\xe2\x96\x81\", \"prepend_scheme\": \"" scheme "\", \"split\": " split "}"

static const Variant variants[] = {
  { "pre_tokenizer", METASPACE ("first", "true"), "a b", { 264, 324, 1, -1 } },
  { "pre_tokenizer", METASPACE ("first", "true"), "<s>a b", { 2, 270, 324, 1, -1 } },
  { "pre_tokenizer", METASPACE ("first", "true"), "\x07<s>a", { 2, 270, 1, -1 } },
  { "pre_tokenizer", METASPACE ("never", "true"), "a b", { 270, 324, 1, -1 } },
  { "pre_tokenizer", METASPACE ("never", "true"), " a<s>b", { 264, 2, 267, 1, -1 } },
  { "pre_tokenizer", METASPACE ("always", "false"), "a b the cafe", { 264, 324, 260, 266, 292, 270, 308, 265, 1, -1 } },
  /* the spelling before tokenizers 0.15 */
  { "pre_tokenizer", "{\"type\": \"Metaspace\", \"replacement\": \"\xe2\x96\x81\", \"add_prefix_space\": true}",
    "a red fox", { 264, 260, 388, 636, 361, 1, -1 } },
  { "pre_tokenizer", "{\"type\": \"Metaspace\", \"replacement\": \"\xe2\x96\x81\", \"add_prefix_space\": false}",
    "a b", { 270, 324, 1, -1 } },
  /* transformers 5's T5 */
  { "pre_tokenizer", "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"WhitespaceSplit\"}, "
    METASPACE ("always", "true") "]}", "a  </s> b\tc  ", { 264, 1, 324, 292, 1, -1 } },
  /* without byte fallback, runs of unknown characters fuse into one <unk> */
  { "model.byte_fallback", "false", "\xe9\xbe\x98\xf0\xa0\x80\x8b x", { 260, 3, 260, 361, 1, -1 } },
  { "model.byte_fallback", "false", "a\xe9\xbe\x98" "b\xf0\xa0\x80\x8b\xf0\xa0\x80\x8b", { 264, 3, 267, 3, 1, -1 } },
  { "normalizer", NULL, "\xef\xbc\xa1  b\tc", { 260, 243, 192, 165, 260, 324, 13, 290, 1, -1 } },
  { "normalizer", "{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Replace\", \"pattern\": {\"String\": \"fox\"}, "
    "\"content\": \"cat\"}]}", "a red fox foxes", { 264, 260, 388, 292, 312, 292, 312, 322, 1, -1 } },
  { "post_processor", NULL, "a red fox", { 264, 260, 388, 636, 361, -1 } },
};

static void
test_variants (void)
{
  g_autofree char *folder = fa_test_make_folder ("fa-tokenizer-XXXXXX");

  for (guint v = 0; v < G_N_ELEMENTS (variants); v++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *name = g_strdup_printf ("variant-%u.json", v);
      g_autofree char *path = write_variant (folder, name, variants[v].member, variants[v].json);
      g_autoptr (FaTokenizer) tokenizer = fa_tokenizer_load (path, &error);
      g_assert_no_error (error);
      g_autoptr (FaTokenization) tokens = fa_tokenizer_encode (tokenizer, variants[v].text, 0, &error);
      g_assert_no_error (error);
      guint n = 0;
      while (variants[v].ids[n] >= 0)
        n++;
      if (tokens->n != n || memcmp (tokens->ids, variants[v].ids, n * sizeof (gint32)) != 0)
        {
          GString *got = g_string_new (NULL);
          for (guint i = 0; i < tokens->n; i++)
            g_string_append_printf (got, "%d ", tokens->ids[i]);
          g_error ("variant %u (%s) on \"%s\": got %s", v, variants[v].member, variants[v].text, got->str);
        }
    }
  fa_test_remove_tree (folder);
}

/* Added tokens that are normalised (matched in the normaliser's output) or
 * strip the spaces around them. */
static void
test_added_token_options (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *folder = fa_test_make_folder ("fa-tokenizer-XXXXXX");
  g_autofree char *source = g_build_filename (tokenizer_dir, "tokenizer.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_file (parser, source, &error));
  JsonObject *root = json_node_get_object (json_parser_get_root (parser));
  JsonArray *added = json_object_get_array_member (root, "added_tokens");
  for (guint i = 0; i < json_array_get_length (added); i++)
    {
      JsonObject *token = json_array_get_object_element (added, i);
      if (g_str_equal (json_object_get_string_member (token, "content"), "<s>"))
        {
          json_object_set_boolean_member (token, "lstrip", TRUE);
          json_object_set_boolean_member (token, "rstrip", TRUE);
        }
    }
  JsonObject *foo = json_object_new ();
  json_object_set_int_member (foo, "id", 1016);
  json_object_set_string_member (foo, "content", "\xef\xbc\xa6\xef\xbc\xaf\xef\xbc\xaf"); /* ＦＯＯ */
  json_object_set_boolean_member (foo, "normalized", TRUE);
  json_object_set_boolean_member (foo, "special", FALSE);
  json_array_add_object_element (added, foo);
  g_autofree char *path = g_build_filename (folder, "tokenizer.json", NULL);
  g_autofree char *text = json_to_string (json_parser_get_root (parser), FALSE);
  g_assert_true (g_file_set_contents (path, text, -1, &error));

  g_autoptr (FaTokenizer) tokenizer = fa_tokenizer_load (folder, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fa_tokenizer_get_vocab_size (tokenizer), ==, 1017);
  g_assert_cmpstr (fa_tokenizer_id_to_piece (tokenizer, 1016), ==, "\xef\xbc\xa6\xef\xbc\xaf\xef\xbc\xaf");

  static const struct {
    const char *text;
    gint32 ids[8];
  } cases[] = {
    { "a FOO b", { 264, 260, 1016, 324, 1, -1 } },
    { "a\xef\xbc\xa6\xef\xbc\xaf\xef\xbc\xaf" "b", { 264, 1016, 324, 1, -1 } },
    { "a  <s>  b", { 264, 2, 324, 1, -1 } },
  };
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      g_autoptr (FaTokenization) tokens = fa_tokenizer_encode (tokenizer, cases[c].text, 0, &error);
      g_assert_no_error (error);
      guint n = 0;
      while (cases[c].ids[n] >= 0)
        n++;
      g_assert_cmpmem (tokens->ids, tokens->n * sizeof (gint32), cases[c].ids, n * sizeof (gint32));
    }
  fa_test_remove_tree (folder);
}

/* ---- malformed files ---- */

static void
test_malformed (void)
{
  static const struct {
    const char *json;
    gint code; /* FaError */
    const char *fragment;
  } cases[] = {
    { "{\"model\": ", FA_ERROR_CORRUPT_FILE, "not valid JSON" },
    { "not json", FA_ERROR_CORRUPT_FILE, "not a JSON object" },
    { "[1, 2]", FA_ERROR_CORRUPT_FILE, "not a JSON object" },
    { "{\"version\": \"1.0\"}", FA_ERROR_CORRUPT_FILE, "has no model" },
    { "{\"model\": {\"vocab\": []}}", FA_ERROR_CORRUPT_FILE, "model has no type" },
    { "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}", FA_ERROR_UNSUPPORTED, "model type 'BPE'" },
    { "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": []}}", FA_ERROR_CORRUPT_FILE, "model.vocab is empty" },
    { "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": {}}}", FA_ERROR_CORRUPT_FILE, "not an array" },
    { "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", -1.0], [\"b\"]]}}",
      FA_ERROR_CORRUPT_FILE, "model.vocab[1]" },
    { "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", -1.0], [2, -1.0]]}}",
      FA_ERROR_CORRUPT_FILE, "model.vocab[1]" },
    { "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", \"x\"]]}}",
      FA_ERROR_CORRUPT_FILE, "model.vocab[0]" },
    { "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 5, \"vocab\": [[\"a\", -1.0]]}}",
      FA_ERROR_CORRUPT_FILE, "unk_id" },
    { "{\"model\": {\"type\": \"Unigram\", \"unk_id\": -1, \"vocab\": [[\"a\", -1.0]]}}",
      FA_ERROR_CORRUPT_FILE, "unk_id" },
    { "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"byte_fallback\": 1, \"vocab\": [[\"a\", -1.0]]}}",
      FA_ERROR_CORRUPT_FILE, "byte_fallback" },
    { "{\"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"!!!!\"}, "
      "\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", -1.0]]}}",
      FA_ERROR_CORRUPT_FILE, "not base64" },
    { "{\"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"AAAA\"}, "
      "\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", -1.0]]}}",
      FA_ERROR_CORRUPT_FILE, "charsmap" },
    { "{\"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"QAAAAA==\"}, "
      "\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", -1.0]]}}",
      FA_ERROR_CORRUPT_FILE, "charsmap" },
    { "{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"BertNormalizer\"}]}, "
      "\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", -1.0]]}}",
      FA_ERROR_UNSUPPORTED, "'BertNormalizer'" },
    { "{\"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"Regex\": \"(\"}, \"content\": \"\"}, "
      "\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", -1.0]]}}",
      FA_ERROR_UNSUPPORTED, "regular expression" },
    { "{\"normalizer\": {\"type\": \"Replace\", \"content\": \" \"}, "
      "\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", -1.0]]}}",
      FA_ERROR_CORRUPT_FILE, "Replace" },
    { "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, "
      "\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", -1.0]]}}",
      FA_ERROR_UNSUPPORTED, "'ByteLevel'" },
    { "{\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"ab\"}, "
      "\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", -1.0]]}}",
      FA_ERROR_CORRUPT_FILE, "replacement" },
    { "{\"pre_tokenizer\": {\"type\": \"Metaspace\", \"prepend_scheme\": \"sometimes\"}, "
      "\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", -1.0]]}}",
      FA_ERROR_CORRUPT_FILE, "prepend_scheme" },
    { "{\"post_processor\": {\"type\": \"RobertaProcessing\"}, "
      "\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", -1.0]]}}",
      FA_ERROR_UNSUPPORTED, "'RobertaProcessing'" },
    { "{\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"Sequence\": {\"id\": \"A\"}}, "
      "{\"SpecialToken\": {\"id\": \"</s>\"}}], \"special_tokens\": {}}, "
      "\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", -1.0]]}}",
      FA_ERROR_CORRUPT_FILE, "'</s>'" },
    { "{\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"Sequence\": {\"id\": \"A\"}}, "
      "{\"SpecialToken\": {\"id\": \"</s>\"}}], \"special_tokens\": {\"</s>\": {\"ids\": [7]}}}, "
      "\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", -1.0]]}}",
      FA_ERROR_CORRUPT_FILE, "id 7" },
    { "{\"added_tokens\": [{\"id\": 0}], "
      "\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"a\", -1.0]]}}",
      FA_ERROR_CORRUPT_FILE, "added_tokens[0]" },
  };
  g_autofree char *folder = fa_test_make_folder ("fa-tokenizer-XXXXXX");
  g_autofree char *path = g_build_filename (folder, "tokenizer.json", NULL);

  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_true (g_file_set_contents (path, cases[c].json, -1, &error));
      g_autoptr (FaTokenizer) tokenizer = fa_tokenizer_load (folder, &error);
      if (tokenizer != NULL)
        g_error ("case %u loaded: %s", c, cases[c].json);
      fa_test_assert_error_message (error, FA_ERROR, cases[c].code, cases[c].fragment);
      fa_test_assert_error_message (error, FA_ERROR, cases[c].code, "tokenizer.json");
    }

  /* a minimal file loads; text it cannot cover needs an unk_id */
  g_autoptr (GError) error = NULL;
  g_assert_true (g_file_set_contents (path, "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", -1.0]]}}", -1,
                                      &error));
  g_autoptr (FaTokenizer) tokenizer = fa_tokenizer_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (fa_tokenizer_get_unk_id (tokenizer), ==, -1);
  g_assert_cmpint (fa_tokenizer_get_eos_id (tokenizer), ==, -1);
  g_autoptr (FaTokenization) tokens = fa_tokenizer_encode (tokenizer, "aa", 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (tokens->n, ==, 2);
  g_assert_null (fa_tokenizer_encode (tokenizer, "ab", 0, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_UNSUPPORTED, "unk_id");
  fa_test_remove_tree (folder);
}

/* ---- prompt cleaning: Python's html.unescape twice, strip, \s+ ---- */

static void
test_clean (void)
{
  static const struct {
    const char *in, *out;
  } cases[] = {
    { "&amp;lt;", "<" },
    { "&copyright", "\xc2\xa9right" },
    { "&#128;", "\xe2\x82\xac" },
    { "&#0;", "\xef\xbf\xbd" },
    { "&#x110000;", "\xef\xbf\xbd" },
    { "&#xD800;", "\xef\xbf\xbd" },
    { "&#99999999999999999999;", "\xef\xbf\xbd" },
    { "&#1;", "" },
    { "&#x41", "A" },
    { "&#65x", "Ax" },
    { "&unknown; & alone", "&unknown; & alone" },
    { "&lt", "<" },
    { "&ltx", "<x" },
    { "&Amp;&AMP;&AMP", "&Amp;&&" },
    { "&#x;&#;&#", "&#x;&#;&#" },
    { "&NotNestedGreaterGreater;x", "\xe2\xaa\xa2\xcc\xb8x" },
    { "&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;", "&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;" },
    { "&amp;amp;amp;", "&amp;" },
    { "caf&eacute;s", "caf\xc3\xa9s" },
    { "a&#32;&#x20; b", "a b" },
    { "  a \t\n b  ", "a b" },
    { "\x1c" "a\x1c" "b\x1c", "a\x1c" "b" },
    { "a\xc2\x85" "b\xc2\xa0" "c\xe2\x80\xa8" "d\xe3\x80\x80" "e", "a b c d e" },
    { "a\xe2\x80\x8b" "b", "a\xe2\x80\x8b" "b" },
    { "", "" },
    { " \t ", "" },
  };
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      g_autofree char *out = fa_prompt_clean (cases[c].in);
      if (g_strcmp0 (out, cases[c].out) != 0)
        g_error ("clean \"%s\": \"%s\", expected \"%s\"", cases[c].in, out, cases[c].out);
    }

  /* NULs pass through; invalid UTF-8 reads as U+FFFD */
  gsize length;
  g_autofree char *nul = fa_prompt_clean_len (" a\0b ", 5, &length);
  g_assert_cmpmem (nul, length, "a\0b", 3);
  g_autofree char *invalid = fa_prompt_clean ("caf\xc3");
  g_assert_cmpstr (invalid, ==, "caf\xef\xbf\xbd");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  const char *srcdir = g_getenv ("FA_TEST_SRCDIR"); /* tests/, set by meson */
  if (srcdir == NULL)
    srcdir = "tests";
  tokenizer_dir = g_build_filename (srcdir, "data", "wan-tiny", "tokenizer", NULL);
  golden_path = g_build_filename (srcdir, "data", "goldens", "tokenizer.safetensors", NULL);

  g_test_add_func ("/tokenizer/golden/clean", test_golden_clean);
  g_test_add_func ("/tokenizer/golden/tokens", test_golden_tokens);
  g_test_add_func ("/tokenizer/golden/tokens-uncleaned", test_golden_uncleaned);
  g_test_add_func ("/tokenizer/golden/padded", test_golden_padded);
  g_test_add_func ("/tokenizer/specials", test_specials);
  g_test_add_func ("/tokenizer/load-paths", test_load_paths);
  g_test_add_func ("/tokenizer/added-tokens", test_added_tokens);
  g_test_add_func ("/tokenizer/added-token-options", test_added_token_options);
  g_test_add_func ("/tokenizer/word-offsets", test_word_offsets);
  g_test_add_func ("/tokenizer/truncation", test_truncation);
  g_test_add_func ("/tokenizer/encode-errors", test_encode_errors);
  g_test_add_func ("/tokenizer/variants", test_variants);
  g_test_add_func ("/tokenizer/malformed", test_malformed);
  g_test_add_func ("/tokenizer/clean", test_clean);

  int status = g_test_run ();
  g_free (tokenizer_dir);
  g_free (golden_path);
  return status;
}
