/* fa-tokenizer.c: a Hugging Face tokenizer.json with a Unigram model, run
 * as the tokenizers library runs it (spec B.4; tests/data/README.md, "The
 * tiny tokenizer"):
 *
 * 1. Added tokens that are not normalised (umT5's <pad>, </s>, <s>, <unk>,
 *    <extra_id_N>) are found in the raw text first, leftmost and then
 *    longest; each becomes its id and the text between them goes through
 *    the rest on its own.
 * 2. The normaliser (Sequence, Precompiled, Replace, Strip, Lowercase,
 *    Prepend, NFC/NFD/NFKC/NFKD), keeping for every byte the input bytes it
 *    came from; then added tokens that are normalised are found in its
 *    output.
 * 3. The pre-tokeniser (Metaspace, WhitespaceSplit, Sequence) cuts words.
 * 4. Each word is segmented by Viterbi over the piece scores: at each
 *    character, every piece that starts there, in order of length; a
 *    character no piece of its own length covers gets an "unknown" edge
 *    scored min score − 10; later candidates must score strictly higher.
 *    Runs of unknown characters fuse into one unknown string, which becomes
 *    its UTF-8 bytes as <0xXX> pieces when byte_fallback is on (and every
 *    byte has a piece), else the unk id.
 * 5. The TemplateProcessing post-processor's special tokens are put around
 *    the pieces; truncation drops pieces, never those.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-tokenizer"

#include "config.h"

#include "fa-tokenizer.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "fa-error.h"
#include "fa-safetensors.h"
#include "fa-tokenizer-private.h"

#define UNK_PENALTY 10.0

/* ---- the file's parts ---- */

typedef enum {
  NORMALIZER_SEQUENCE,
  NORMALIZER_PRECOMPILED,
  NORMALIZER_REPLACE,
  NORMALIZER_STRIP,
  NORMALIZER_LOWERCASE,
  NORMALIZER_PREPEND,
  NORMALIZER_UNICODE, /* NFC, NFD, NFKC, NFKD */
} NormalizerKind;

typedef struct {
  NormalizerKind kind;
  GPtrArray *children;  /* Sequence: Normalizer* */
  FaCharsmap *charsmap; /* Precompiled; NULL for an empty charsmap */
  GRegex *regex;        /* Replace with a Regex pattern */
  char *pattern;        /* Replace with a String pattern */
  char *content;        /* Replace: the replacement; Prepend: the prefix */
  gboolean left, right; /* Strip */
  GNormalizeMode mode;  /* NFC… */
} Normalizer;

typedef enum {
  PRE_TOKENIZER_SEQUENCE,
  PRE_TOKENIZER_METASPACE,
  PRE_TOKENIZER_WHITESPACE_SPLIT,
} PreTokenizerKind;

typedef enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER } PrependScheme;

typedef struct {
  PreTokenizerKind kind;
  GPtrArray *children; /* Sequence: PreTokenizer* */
  char *replacement;   /* Metaspace */
  PrependScheme prepend_scheme;
  gboolean split;
} PreTokenizer;

typedef struct {
  char *content; /* what is matched: the content, normalised for normalised tokens */
  gsize length;
  gint32 id;
  gboolean single_word, lstrip, rstrip;
} AddedToken;

typedef struct {
  AddedToken *tokens;
  guint n;
  guint8 first_bytes[32]; /* bit set of the patterns' first bytes */
} TokenSet;

struct _FaTokenizer {
  char *path;

  /* Unigram */
  GString *pool; /* every piece, NUL-terminated */
  guint32 *piece_offset;
  guint32 *piece_length;
  double *scores;
  guint n_pieces;
  guint32 *table; /* open addressing, id + 1, 0 = empty */
  guint32 table_mask;
  guint max_piece_length;
  gint32 unk_id;
  gboolean byte_fallback;
  double min_score;
  gint32 byte_ids[256];

  Normalizer *normalizer;
  PreTokenizer *pre_tokenizer;
  TokenSet raw_tokens, normalized_tokens;
  GHashTable *added_by_id; /* id → content, for ids past the vocabulary */

  GArray *prefix_ids, *suffix_ids; /* gint32 */
  const char *metaspace;           /* the Metaspace replacement, if any */
  guint vocab_size;
  gint32 pad_id, eos_id;
};

typedef struct {
  gint32 id;
  guint32 start, end; /* the input bytes it covers */
  guint32 anchor;     /* its word is the one holding input byte @anchor */
} Piece;

static void normalizer_free (Normalizer *normalizer);
static void pre_tokenizer_free (PreTokenizer *pre_tokenizer);

static void
normalizer_free (Normalizer *normalizer)
{
  if (normalizer == NULL)
    return;
  g_clear_pointer (&normalizer->children, g_ptr_array_unref);
  g_clear_pointer (&normalizer->charsmap, _fa_charsmap_free);
  g_clear_pointer (&normalizer->regex, g_regex_unref);
  g_free (normalizer->pattern);
  g_free (normalizer->content);
  g_free (normalizer);
}

static void
pre_tokenizer_free (PreTokenizer *pre_tokenizer)
{
  if (pre_tokenizer == NULL)
    return;
  g_clear_pointer (&pre_tokenizer->children, g_ptr_array_unref);
  g_free (pre_tokenizer->replacement);
  g_free (pre_tokenizer);
}

static void
token_set_clear (TokenSet *set)
{
  for (guint i = 0; i < set->n; i++)
    g_free (set->tokens[i].content);
  g_clear_pointer (&set->tokens, g_free);
  set->n = 0;
}

void
fa_tokenizer_free (FaTokenizer *tokenizer)
{
  if (tokenizer == NULL)
    return;
  g_free (tokenizer->path);
  if (tokenizer->pool != NULL)
    g_string_free (tokenizer->pool, TRUE);
  g_free (tokenizer->piece_offset);
  g_free (tokenizer->piece_length);
  g_free (tokenizer->scores);
  g_free (tokenizer->table);
  normalizer_free (tokenizer->normalizer);
  pre_tokenizer_free (tokenizer->pre_tokenizer);
  token_set_clear (&tokenizer->raw_tokens);
  token_set_clear (&tokenizer->normalized_tokens);
  g_clear_pointer (&tokenizer->added_by_id, g_hash_table_unref);
  g_clear_pointer (&tokenizer->prefix_ids, g_array_unref);
  g_clear_pointer (&tokenizer->suffix_ids, g_array_unref);
  g_free (tokenizer);
}

/* ---- errors and JSON helpers ---- */

G_GNUC_PRINTF (3, 4) static void
corrupt (GError **error, const FaTokenizer *tokenizer, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: %s", tokenizer->path, message);
}

G_GNUC_PRINTF (3, 4) static void
unsupported (GError **error, const FaTokenizer *tokenizer, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED, "%s: %s", tokenizer->path, message);
}

static JsonNode *
member (JsonObject *object, const char *name)
{
  return object != NULL && json_object_has_member (object, name) ? json_object_get_member (object, name)
                                                                  : NULL;
}

static gboolean
is_null (JsonNode *node)
{
  return node == NULL || JSON_NODE_HOLDS_NULL (node);
}

static const char *
get_string (JsonNode *node)
{
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static gboolean
get_int (JsonNode *node, gint64 *out)
{
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  *out = json_node_get_int (node);
  return TRUE;
}

static gboolean
get_number (JsonNode *node, double *out)
{
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  GType type = json_node_get_value_type (node);
  if (type == G_TYPE_DOUBLE)
    *out = json_node_get_double (node);
  else if (type == G_TYPE_INT64)
    *out = (double) json_node_get_int (node);
  else
    return FALSE;
  return TRUE;
}

/* A boolean member, @fallback when absent or null. */
static gboolean
get_bool_member (JsonObject *object, const char *name, gboolean fallback, gboolean *out)
{
  JsonNode *node = member (object, name);
  if (is_null (node))
    {
      *out = fallback;
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return FALSE;
  *out = json_node_get_boolean (node);
  return TRUE;
}

/* The "type" of a component object, or NULL with an error. */
static const char *
component_type (FaTokenizer *tokenizer, JsonNode *node, const char *what, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      corrupt (error, tokenizer, "%s is not an object", what);
      return NULL;
    }
  const char *type = get_string (member (json_node_get_object (node), "type"));
  if (type == NULL)
    corrupt (error, tokenizer, "%s has no type", what);
  return type;
}

/* ---- the piece table ---- */

static inline guint32
hash_step (guint32 hash, guchar byte)
{
  return (hash ^ byte) * 16777619u;
}

#define HASH_SEED 2166136261u

static gint32
lookup_piece_hashed (const FaTokenizer *tokenizer, const char *bytes, gsize length, guint32 hash)
{
  for (guint32 slot = hash & tokenizer->table_mask;; slot = (slot + 1) & tokenizer->table_mask)
    {
      guint32 entry = tokenizer->table[slot];
      if (entry == 0)
        return -1;
      guint32 id = entry - 1;
      if (tokenizer->piece_length[id] == length &&
          memcmp (tokenizer->pool->str + tokenizer->piece_offset[id], bytes, length) == 0)
        return (gint32) id;
    }
}

static gint32
lookup_piece (const FaTokenizer *tokenizer, const char *bytes, gsize length)
{
  guint32 hash = HASH_SEED;
  for (gsize i = 0; i < length; i++)
    hash = hash_step (hash, (guchar) bytes[i]);
  return lookup_piece_hashed (tokenizer, bytes, length, hash);
}

/* Every piece in the table; a piece that appears twice maps to its last
 * id, as the tokenizers library's piece → id map does. */
static void
build_table (FaTokenizer *tokenizer)
{
  guint32 capacity = 16;
  while (capacity < 2 * tokenizer->n_pieces)
    capacity *= 2;
  tokenizer->table = g_new0 (guint32, capacity);
  tokenizer->table_mask = capacity - 1;

  for (guint id = 0; id < tokenizer->n_pieces; id++)
    {
      const char *bytes = tokenizer->pool->str + tokenizer->piece_offset[id];
      guint32 length = tokenizer->piece_length[id];
      guint32 hash = HASH_SEED;
      for (guint32 i = 0; i < length; i++)
        hash = hash_step (hash, (guchar) bytes[i]);
      for (guint32 slot = hash & tokenizer->table_mask;; slot = (slot + 1) & tokenizer->table_mask)
        {
          guint32 entry = tokenizer->table[slot];
          if (entry == 0 || (tokenizer->piece_length[entry - 1] == length &&
                             memcmp (tokenizer->pool->str + tokenizer->piece_offset[entry - 1], bytes,
                                     length) == 0))
            {
              tokenizer->table[slot] = id + 1;
              break;
            }
        }
    }
}

/* ---- loading ---- */

static gboolean
load_model (FaTokenizer *tokenizer, JsonNode *node, GError **error)
{
  if (is_null (node))
    {
      corrupt (error, tokenizer, "has no model");
      return FALSE;
    }
  const char *type = component_type (tokenizer, node, "model", error);
  if (type == NULL)
    return FALSE;
  if (!g_str_equal (type, "Unigram"))
    {
      unsupported (error, tokenizer, "model type '%s' is not supported (only Unigram)", type);
      return FALSE;
    }
  JsonObject *model = json_node_get_object (node);

  JsonNode *vocab_node = member (model, "vocab");
  if (vocab_node == NULL || !JSON_NODE_HOLDS_ARRAY (vocab_node))
    {
      corrupt (error, tokenizer, "model.vocab is not an array");
      return FALSE;
    }
  JsonArray *vocab = json_node_get_array (vocab_node);
  guint n = json_array_get_length (vocab);
  if (n == 0)
    {
      corrupt (error, tokenizer, "model.vocab is empty");
      return FALSE;
    }

  tokenizer->n_pieces = n;
  tokenizer->pool = g_string_sized_new (n * 8);
  tokenizer->piece_offset = g_new (guint32, n);
  tokenizer->piece_length = g_new (guint32, n);
  tokenizer->scores = g_new (double, n);
  tokenizer->min_score = G_MAXDOUBLE;
  for (guint i = 0; i < n; i++)
    {
      JsonNode *entry = json_array_get_element (vocab, i);
      JsonArray *pair = JSON_NODE_HOLDS_ARRAY (entry) ? json_node_get_array (entry) : NULL;
      const char *piece = pair != NULL && json_array_get_length (pair) == 2
                            ? get_string (json_array_get_element (pair, 0)) : NULL;
      double score;
      if (piece == NULL || !get_number (json_array_get_element (pair, 1), &score))
        {
          corrupt (error, tokenizer, "model.vocab[%u] is not a [piece, score] pair", i);
          return FALSE;
        }
      gsize length = strlen (piece);
      if (tokenizer->pool->len + length + 1 > G_MAXUINT32)
        {
          corrupt (error, tokenizer, "model.vocab is too large");
          return FALSE;
        }
      tokenizer->piece_offset[i] = (guint32) tokenizer->pool->len;
      tokenizer->piece_length[i] = (guint32) length;
      g_string_append_len (tokenizer->pool, piece, (gssize) length + 1);
      tokenizer->scores[i] = score;
      tokenizer->min_score = MIN (tokenizer->min_score, score);
      tokenizer->max_piece_length = MAX (tokenizer->max_piece_length, (guint) length);
    }

  JsonNode *unk = member (model, "unk_id");
  tokenizer->unk_id = -1;
  if (!is_null (unk))
    {
      gint64 unk_id;
      if (!get_int (unk, &unk_id) || unk_id < 0 || unk_id >= n)
        {
          corrupt (error, tokenizer, "model.unk_id is not an id of the %u pieces", n);
          return FALSE;
        }
      tokenizer->unk_id = (gint32) unk_id;
    }
  if (!get_bool_member (model, "byte_fallback", FALSE, &tokenizer->byte_fallback))
    {
      corrupt (error, tokenizer, "model.byte_fallback is not a boolean");
      return FALSE;
    }

  build_table (tokenizer);
  for (guint b = 0; b < 256; b++)
    {
      char name[8];
      g_snprintf (name, sizeof name, "<0x%02X>", b);
      tokenizer->byte_ids[b] = lookup_piece (tokenizer, name, strlen (name));
    }
  return TRUE;
}

/* Replace: a String or a Regex pattern (GRegex, whose syntax agrees with
 * the Oniguruma of the tokenizers library on simple patterns such as
 * " {2,}"), and the literal content that replaces each match. */
static gboolean
load_replace (FaTokenizer *tokenizer, JsonObject *object, Normalizer *normalizer, const char *what,
              GError **error)
{
  JsonNode *pattern_node = member (object, "pattern");
  const char *content = get_string (member (object, "content"));
  JsonObject *pattern = pattern_node != NULL && JSON_NODE_HOLDS_OBJECT (pattern_node)
                          ? json_node_get_object (pattern_node) : NULL;
  const char *string = get_string (member (pattern, "String"));
  const char *regex = get_string (member (pattern, "Regex"));
  if (content == NULL || (string == NULL) == (regex == NULL))
    {
      corrupt (error, tokenizer, "%s (Replace) needs a String or Regex pattern and a content", what);
      return FALSE;
    }
  normalizer->content = g_strdup (content);
  if (string != NULL)
    {
      if (*string == '\0')
        {
          corrupt (error, tokenizer, "%s (Replace) has an empty pattern", what);
          return FALSE;
        }
      normalizer->pattern = g_strdup (string);
      return TRUE;
    }
  g_autoptr (GError) regex_error = NULL;
  normalizer->regex = g_regex_new (regex, 0, 0, &regex_error);
  if (normalizer->regex == NULL)
    {
      unsupported (error, tokenizer, "%s (Replace): regular expression '%s' not understood: %s", what, regex,
                   regex_error->message);
      return FALSE;
    }
  return TRUE;
}

static Normalizer *
load_normalizer (FaTokenizer *tokenizer, JsonNode *node, const char *what, guint depth, GError **error)
{
  const char *type = component_type (tokenizer, node, what, error);
  if (type == NULL)
    return NULL;
  JsonObject *object = json_node_get_object (node);
  Normalizer *normalizer = g_new0 (Normalizer, 1);

  if (g_str_equal (type, "Sequence"))
    {
      JsonNode *list = member (object, "normalizers");
      if (list == NULL || !JSON_NODE_HOLDS_ARRAY (list) || depth > 8)
        {
          corrupt (error, tokenizer, "%s (Sequence) has no list of normalizers%s", what,
                   depth > 8 ? " (or is nested too deep)" : "");
          normalizer_free (normalizer);
          return NULL;
        }
      normalizer->kind = NORMALIZER_SEQUENCE;
      normalizer->children = g_ptr_array_new_with_free_func ((GDestroyNotify) normalizer_free);
      JsonArray *array = json_node_get_array (list);
      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          g_autofree char *child_what = g_strdup_printf ("%s.normalizers[%u]", what, i);
          Normalizer *child = load_normalizer (tokenizer, json_array_get_element (array, i), child_what,
                                               depth + 1, error);
          if (child == NULL)
            {
              normalizer_free (normalizer);
              return NULL;
            }
          g_ptr_array_add (normalizer->children, child);
        }
      return normalizer;
    }
  if (g_str_equal (type, "Precompiled"))
    {
      normalizer->kind = NORMALIZER_PRECOMPILED;
      JsonNode *charsmap_node = member (object, "precompiled_charsmap");
      const char *base64 = get_string (charsmap_node);
      if (base64 == NULL && !is_null (charsmap_node))
        {
          corrupt (error, tokenizer, "%s (Precompiled): precompiled_charsmap is not a string", what);
          normalizer_free (normalizer);
          return NULL;
        }
      if (base64 == NULL || *base64 == '\0')
        return normalizer; /* no charsmap: the identity */
      gsize length = strlen (base64);
      gboolean valid = length % 4 == 0;
      for (gsize i = 0; valid && i < length; i++)
        {
          char c = base64[i];
          valid = g_ascii_isalnum (c) || c == '+' || c == '/' || (c == '=' && i + 2 >= length);
        }
      if (!valid)
        {
          corrupt (error, tokenizer, "%s (Precompiled): precompiled_charsmap is not base64", what);
          normalizer_free (normalizer);
          return NULL;
        }
      gsize blob_length;
      g_autofree guint8 *blob = g_base64_decode (base64, &blob_length);
      g_autofree char *message = NULL;
      normalizer->charsmap = _fa_charsmap_new (blob, blob_length, &message);
      if (normalizer->charsmap == NULL)
        {
          corrupt (error, tokenizer, "%s (Precompiled): the charsmap %s", what, message);
          normalizer_free (normalizer);
          return NULL;
        }
      return normalizer;
    }
  if (g_str_equal (type, "Replace"))
    {
      normalizer->kind = NORMALIZER_REPLACE;
      if (!load_replace (tokenizer, object, normalizer, what, error))
        {
          normalizer_free (normalizer);
          return NULL;
        }
      return normalizer;
    }
  if (g_str_equal (type, "Strip"))
    {
      normalizer->kind = NORMALIZER_STRIP;
      if (!get_bool_member (object, "strip_left", TRUE, &normalizer->left) ||
          !get_bool_member (object, "strip_right", TRUE, &normalizer->right))
        {
          corrupt (error, tokenizer, "%s (Strip): strip_left and strip_right must be booleans", what);
          normalizer_free (normalizer);
          return NULL;
        }
      return normalizer;
    }
  if (g_str_equal (type, "Lowercase"))
    {
      normalizer->kind = NORMALIZER_LOWERCASE;
      return normalizer;
    }
  if (g_str_equal (type, "Prepend"))
    {
      const char *prepend = get_string (member (object, "prepend"));
      if (prepend == NULL)
        {
          corrupt (error, tokenizer, "%s (Prepend) has no prepend string", what);
          normalizer_free (normalizer);
          return NULL;
        }
      normalizer->kind = NORMALIZER_PREPEND;
      normalizer->content = g_strdup (prepend);
      return normalizer;
    }
  static const struct {
    const char *name;
    GNormalizeMode mode;
  } forms[] = {
    { "NFC", G_NORMALIZE_NFC }, { "NFD", G_NORMALIZE_NFD },
    { "NFKC", G_NORMALIZE_NFKC }, { "NFKD", G_NORMALIZE_NFKD },
  };
  for (guint i = 0; i < G_N_ELEMENTS (forms); i++)
    if (g_str_equal (type, forms[i].name))
      {
        normalizer->kind = NORMALIZER_UNICODE;
        normalizer->mode = forms[i].mode;
        return normalizer;
      }

  unsupported (error, tokenizer, "%s type '%s' is not supported", what, type);
  normalizer_free (normalizer);
  return NULL;
}

static PreTokenizer *
load_pre_tokenizer (FaTokenizer *tokenizer, JsonNode *node, const char *what, guint depth, GError **error)
{
  const char *type = component_type (tokenizer, node, what, error);
  if (type == NULL)
    return NULL;
  JsonObject *object = json_node_get_object (node);
  PreTokenizer *pre = g_new0 (PreTokenizer, 1);

  if (g_str_equal (type, "Sequence"))
    {
      JsonNode *list = member (object, "pretokenizers");
      if (list == NULL || !JSON_NODE_HOLDS_ARRAY (list) || depth > 8)
        {
          corrupt (error, tokenizer, "%s (Sequence) has no list of pretokenizers%s", what,
                   depth > 8 ? " (or is nested too deep)" : "");
          pre_tokenizer_free (pre);
          return NULL;
        }
      pre->kind = PRE_TOKENIZER_SEQUENCE;
      pre->children = g_ptr_array_new_with_free_func ((GDestroyNotify) pre_tokenizer_free);
      JsonArray *array = json_node_get_array (list);
      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          g_autofree char *child_what = g_strdup_printf ("%s.pretokenizers[%u]", what, i);
          PreTokenizer *child = load_pre_tokenizer (tokenizer, json_array_get_element (array, i), child_what,
                                                    depth + 1, error);
          if (child == NULL)
            {
              pre_tokenizer_free (pre);
              return NULL;
            }
          g_ptr_array_add (pre->children, child);
        }
      return pre;
    }
  if (g_str_equal (type, "WhitespaceSplit"))
    {
      pre->kind = PRE_TOKENIZER_WHITESPACE_SPLIT;
      return pre;
    }
  if (g_str_equal (type, "Metaspace"))
    {
      pre->kind = PRE_TOKENIZER_METASPACE;
      JsonNode *replacement_node = member (object, "replacement");
      const char *replacement = is_null (replacement_node) ? "\xe2\x96\x81" : get_string (replacement_node);
      if (replacement == NULL || g_utf8_strlen (replacement, -1) != 1)
        {
          corrupt (error, tokenizer, "%s (Metaspace): the replacement is not one character", what);
          pre_tokenizer_free (pre);
          return NULL;
        }
      pre->replacement = g_strdup (replacement);

      /* "prepend_scheme" since tokenizers 0.15; before, "add_prefix_space" */
      JsonNode *scheme_node = member (object, "prepend_scheme");
      gboolean add_prefix_space;
      if (!is_null (scheme_node))
        {
          const char *scheme = get_string (scheme_node);
          if (g_strcmp0 (scheme, "always") == 0)
            pre->prepend_scheme = PREPEND_ALWAYS;
          else if (g_strcmp0 (scheme, "first") == 0)
            pre->prepend_scheme = PREPEND_FIRST;
          else if (g_strcmp0 (scheme, "never") == 0)
            pre->prepend_scheme = PREPEND_NEVER;
          else
            {
              corrupt (error, tokenizer, "%s (Metaspace): prepend_scheme is not always, first or never", what);
              pre_tokenizer_free (pre);
              return NULL;
            }
        }
      else if (get_bool_member (object, "add_prefix_space", TRUE, &add_prefix_space))
        pre->prepend_scheme = add_prefix_space ? PREPEND_ALWAYS : PREPEND_NEVER;
      else
        {
          corrupt (error, tokenizer, "%s (Metaspace): add_prefix_space is not a boolean", what);
          pre_tokenizer_free (pre);
          return NULL;
        }
      if (!get_bool_member (object, "split", TRUE, &pre->split))
        {
          corrupt (error, tokenizer, "%s (Metaspace): split is not a boolean", what);
          pre_tokenizer_free (pre);
          return NULL;
        }
      return pre;
    }

  unsupported (error, tokenizer, "%s type '%s' is not supported", what, type);
  pre_tokenizer_free (pre);
  return NULL;
}

/* The ids of special token @name of a TemplateProcessing. */
static gboolean
append_template_special (FaTokenizer *tokenizer, JsonObject *specials, const char *name, GArray *ids,
                         GError **error)
{
  JsonNode *node = member (specials, name);
  JsonNode *ids_node = node != NULL && JSON_NODE_HOLDS_OBJECT (node)
                         ? member (json_node_get_object (node), "ids") : NULL;
  if (ids_node == NULL || !JSON_NODE_HOLDS_ARRAY (ids_node))
    {
      corrupt (error, tokenizer, "post_processor: special token '%s' has no ids", name);
      return FALSE;
    }
  JsonArray *array = json_node_get_array (ids_node);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      gint64 id;
      if (!get_int (json_array_get_element (array, i), &id) || id < 0 || id > G_MAXINT32)
        {
          corrupt (error, tokenizer, "post_processor: special token '%s' has a bad id", name);
          return FALSE;
        }
      gint32 id32 = (gint32) id;
      g_array_append_val (ids, id32);
    }
  return TRUE;
}

static gboolean
load_post_processor (FaTokenizer *tokenizer, JsonNode *node, GError **error)
{
  tokenizer->prefix_ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  tokenizer->suffix_ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  if (is_null (node))
    return TRUE;
  const char *type = component_type (tokenizer, node, "post_processor", error);
  if (type == NULL)
    return FALSE;
  if (!g_str_equal (type, "TemplateProcessing"))
    {
      unsupported (error, tokenizer, "post_processor type '%s' is not supported", type);
      return FALSE;
    }
  JsonObject *object = json_node_get_object (node);
  JsonNode *single = member (object, "single");
  JsonNode *specials_node = member (object, "special_tokens");
  JsonObject *specials = specials_node != NULL && JSON_NODE_HOLDS_OBJECT (specials_node)
                           ? json_node_get_object (specials_node) : NULL;
  if (single == NULL || !JSON_NODE_HOLDS_ARRAY (single))
    {
      corrupt (error, tokenizer, "post_processor (TemplateProcessing) has no single template");
      return FALSE;
    }

  JsonArray *items = json_node_get_array (single);
  gboolean seen_sequence = FALSE;
  for (guint i = 0; i < json_array_get_length (items); i++)
    {
      JsonNode *item_node = json_array_get_element (items, i);
      JsonObject *item = JSON_NODE_HOLDS_OBJECT (item_node) ? json_node_get_object (item_node) : NULL;
      JsonNode *sequence = member (item, "Sequence");
      JsonNode *special = member (item, "SpecialToken");
      if (sequence != NULL && JSON_NODE_HOLDS_OBJECT (sequence))
        {
          const char *id = get_string (member (json_node_get_object (sequence), "id"));
          if (g_strcmp0 (id, "A") != 0 || seen_sequence)
            {
              unsupported (error, tokenizer, "post_processor: a single template other than one $A");
              return FALSE;
            }
          seen_sequence = TRUE;
        }
      else if (special != NULL && JSON_NODE_HOLDS_OBJECT (special))
        {
          const char *id = get_string (member (json_node_get_object (special), "id"));
          if (id == NULL ||
              !append_template_special (tokenizer, specials, id,
                                        seen_sequence ? tokenizer->suffix_ids : tokenizer->prefix_ids, error))
            {
              if (id == NULL)
                corrupt (error, tokenizer, "post_processor: a SpecialToken without an id");
              return FALSE;
            }
        }
      else
        {
          corrupt (error, tokenizer, "post_processor: single[%u] is neither a Sequence nor a SpecialToken", i);
          return FALSE;
        }
    }
  if (!seen_sequence)
    {
      unsupported (error, tokenizer, "post_processor: a single template without $A");
      return FALSE;
    }
  return TRUE;
}

static FaNorm *normalize (const Normalizer *normalizer, FaNorm *in);

static int
compare_added (gconstpointer a, gconstpointer b)
{
  const AddedToken *x = a, *y = b;
  return x->id < y->id ? -1 : x->id > y->id;
}

static gboolean
load_added_tokens (FaTokenizer *tokenizer, JsonNode *node, GError **error)
{
  tokenizer->added_by_id = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  if (is_null (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    {
      corrupt (error, tokenizer, "added_tokens is not an array");
      return FALSE;
    }
  JsonArray *array = json_node_get_array (node);
  guint n = json_array_get_length (array);
  g_autoptr (GArray) raw = g_array_new (FALSE, TRUE, sizeof (AddedToken));
  g_autoptr (GArray) normalized = g_array_new (FALSE, TRUE, sizeof (AddedToken));

  for (guint i = 0; i < n; i++)
    {
      JsonNode *entry = json_array_get_element (array, i);
      JsonObject *object = JSON_NODE_HOLDS_OBJECT (entry) ? json_node_get_object (entry) : NULL;
      const char *content = get_string (member (object, "content"));
      gint64 id;
      AddedToken token = { 0 };
      gboolean is_normalized = FALSE;
      if (content == NULL || !get_int (member (object, "id"), &id) || id < 0 || id > G_MAXINT32 - 1 ||
          !get_bool_member (object, "single_word", FALSE, &token.single_word) ||
          !get_bool_member (object, "lstrip", FALSE, &token.lstrip) ||
          !get_bool_member (object, "rstrip", FALSE, &token.rstrip) ||
          !get_bool_member (object, "normalized", TRUE, &is_normalized))
        {
          corrupt (error, tokenizer, "added_tokens[%u] is not a token with an id and a content", i);
          return FALSE;
        }
      token.id = (gint32) id;
      if ((guint) token.id >= tokenizer->n_pieces)
        g_hash_table_insert (tokenizer->added_by_id, GINT_TO_POINTER (token.id), g_strdup (content));
      tokenizer->vocab_size = MAX (tokenizer->vocab_size, (guint) token.id + 1);
      if (*content == '\0')
        continue;

      if (is_normalized)
        {
          /* matched in the normalised text, as its normalised form */
          FaNorm *norm = _fa_norm_new_from_text (content, 0, strlen (content));
          if (tokenizer->normalizer != NULL)
            norm = normalize (tokenizer->normalizer, norm);
          token.length = _fa_norm_len (norm);
          token.content = g_strndup (_fa_norm_data (norm), token.length);
          _fa_norm_free (norm);
          if (token.length == 0)
            {
              g_free (token.content);
              continue;
            }
          g_array_append_val (normalized, token);
        }
      else
        {
          token.content = g_strdup (content);
          token.length = strlen (content);
          g_array_append_val (raw, token);
        }
    }

  TokenSet *sets[] = { &tokenizer->raw_tokens, &tokenizer->normalized_tokens };
  GArray *arrays[] = { raw, normalized };
  for (guint s = 0; s < 2; s++)
    {
      g_array_sort (arrays[s], compare_added);
      sets[s]->n = arrays[s]->len;
      sets[s]->tokens = (AddedToken *) (gpointer) g_array_free (g_steal_pointer (&arrays[s]), FALSE);
      for (guint i = 0; i < sets[s]->n; i++)
        {
          guchar first = (guchar) sets[s]->tokens[i].content[0];
          sets[s]->first_bytes[first / 8] |= (guint8) (1u << (first % 8));
        }
    }
  raw = NULL;
  normalized = NULL;
  return TRUE;
}

static gint32
special_id (FaTokenizer *tokenizer, const char *content)
{
  for (guint i = 0; i < tokenizer->raw_tokens.n; i++)
    if (g_str_equal (tokenizer->raw_tokens.tokens[i].content, content))
      return tokenizer->raw_tokens.tokens[i].id;
  return lookup_piece (tokenizer, content, strlen (content));
}

static const char *
find_metaspace (const PreTokenizer *pre)
{
  if (pre == NULL)
    return NULL;
  if (pre->kind == PRE_TOKENIZER_METASPACE)
    return pre->replacement;
  for (guint i = 0; pre->kind == PRE_TOKENIZER_SEQUENCE && i < pre->children->len; i++)
    {
      const char *found = find_metaspace (g_ptr_array_index (pre->children, i));
      if (found != NULL)
        return found;
    }
  return NULL;
}

static char *
resolve_path (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    return g_build_filename (path, "tokenizer.json", NULL);
  return g_strdup (path);
}

FaTokenizer *
fa_tokenizer_load (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autoptr (FaTokenizer) tokenizer = g_new0 (FaTokenizer, 1);
  tokenizer->path = resolve_path (path);
  tokenizer->unk_id = -1;

  if (!g_file_test (tokenizer->path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND, "%s: no such tokenizer file", tokenizer->path);
      return NULL;
    }
  g_autofree char *text = NULL;
  gsize length;
  if (!g_file_get_contents (tokenizer->path, &text, &length, error))
    return NULL;
  g_autoptr (JsonNode) root = _fa_safetensors_parse_json (tokenizer->path, "tokenizer.json", text, length,
                                                          error);
  if (root == NULL)
    return NULL;
  g_clear_pointer (&text, g_free);
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      corrupt (error, tokenizer, "tokenizer.json is not a JSON object");
      return NULL;
    }
  JsonObject *object = json_node_get_object (root);

  if (!load_model (tokenizer, member (object, "model"), error))
    return NULL;
  tokenizer->vocab_size = tokenizer->n_pieces;

  JsonNode *node = member (object, "normalizer");
  if (!is_null (node) && (tokenizer->normalizer = load_normalizer (tokenizer, node, "normalizer", 0, error)) == NULL)
    return NULL;
  node = member (object, "pre_tokenizer");
  if (!is_null (node) &&
      (tokenizer->pre_tokenizer = load_pre_tokenizer (tokenizer, node, "pre_tokenizer", 0, error)) == NULL)
    return NULL;
  tokenizer->metaspace = find_metaspace (tokenizer->pre_tokenizer);
  if (!load_added_tokens (tokenizer, member (object, "added_tokens"), error) ||
      !load_post_processor (tokenizer, member (object, "post_processor"), error))
    return NULL;

  for (guint i = 0; i < tokenizer->prefix_ids->len + tokenizer->suffix_ids->len; i++)
    {
      gint32 id = i < tokenizer->prefix_ids->len
                    ? g_array_index (tokenizer->prefix_ids, gint32, i)
                    : g_array_index (tokenizer->suffix_ids, gint32, i - tokenizer->prefix_ids->len);
      if ((guint) id >= tokenizer->vocab_size)
        {
          corrupt (error, tokenizer, "post_processor: special token id %d is not in the vocabulary", id);
          return NULL;
        }
    }

  /* pad: the file's padding settings, else <pad>; eos: the last token the
   * template appends, else </s> */
  tokenizer->pad_id = special_id (tokenizer, "<pad>");
  JsonNode *padding = member (object, "padding");
  gint64 pad_id;
  if (padding != NULL && JSON_NODE_HOLDS_OBJECT (padding) &&
      get_int (member (json_node_get_object (padding), "pad_id"), &pad_id) && pad_id >= 0 &&
      pad_id < tokenizer->vocab_size)
    tokenizer->pad_id = (gint32) pad_id;
  tokenizer->eos_id = tokenizer->suffix_ids->len > 0
                        ? g_array_index (tokenizer->suffix_ids, gint32, tokenizer->suffix_ids->len - 1)
                        : special_id (tokenizer, "</s>");
  return g_steal_pointer (&tokenizer);
}

guint
fa_tokenizer_get_vocab_size (FaTokenizer *tokenizer)
{
  g_return_val_if_fail (tokenizer != NULL, 0);
  return tokenizer->vocab_size;
}

gint32
fa_tokenizer_get_pad_id (FaTokenizer *tokenizer)
{
  g_return_val_if_fail (tokenizer != NULL, -1);
  return tokenizer->pad_id;
}

gint32
fa_tokenizer_get_eos_id (FaTokenizer *tokenizer)
{
  g_return_val_if_fail (tokenizer != NULL, -1);
  return tokenizer->eos_id;
}

gint32
fa_tokenizer_get_unk_id (FaTokenizer *tokenizer)
{
  g_return_val_if_fail (tokenizer != NULL, -1);
  return tokenizer->unk_id;
}

const char *
fa_tokenizer_id_to_piece (FaTokenizer *tokenizer, gint32 id)
{
  g_return_val_if_fail (tokenizer != NULL, NULL);
  if (id < 0)
    return NULL;
  if ((guint) id < tokenizer->n_pieces)
    return tokenizer->pool->str + tokenizer->piece_offset[id];
  return g_hash_table_lookup (tokenizer->added_by_id, GINT_TO_POINTER (id));
}

/* ---- normalisation ---- */

/* Rust's char::is_whitespace: the White_Space property. */
static gboolean
is_white_space (gunichar c)
{
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

static FaNorm *
replace (const Normalizer *normalizer, FaNorm *in)
{
  const char *text = _fa_norm_data (in);
  guint length = _fa_norm_len (in);
  FaNorm *out = _fa_norm_new (in->orig_start);
  gsize content_length = strlen (normalizer->content);
  guint pos = 0;

  /* [from, to) of each match, in order, not overlapping */
  g_autoptr (GArray) matches = g_array_new (FALSE, FALSE, sizeof (guint) * 2);
  if (normalizer->regex != NULL)
    {
      g_autoptr (GMatchInfo) info = NULL;
      g_regex_match_full (normalizer->regex, text, length, 0, 0, &info, NULL);
      while (g_match_info_matches (info))
        {
          gint from, to;
          g_match_info_fetch_pos (info, 0, &from, &to);
          if (to > from)
            {
              guint range[2] = { (guint) from, (guint) to };
              g_array_append_val (matches, range);
            }
          g_match_info_next (info, NULL);
        }
    }
  else
    {
      gsize pattern_length = strlen (normalizer->pattern);
      for (guint i = 0; i + pattern_length <= length;)
        if (memcmp (text + i, normalizer->pattern, pattern_length) == 0)
          {
            guint range[2] = { i, (guint) (i + pattern_length) };
            g_array_append_val (matches, range);
            i += (guint) pattern_length;
          }
        else
          i++;
    }

  for (guint m = 0; m < matches->len; m++)
    {
      const guint *range = &g_array_index (matches, guint, 2 * m);
      _fa_norm_append_from (out, in, pos, range[0]);
      _fa_norm_append (out, normalizer->content, content_length, g_array_index (in->start, guint32, range[0]),
                       g_array_index (in->end, guint32, range[1] - 1));
      pos = range[1];
    }
  _fa_norm_append_from (out, in, pos, length);
  return out;
}

static char *
map_text (const Normalizer *normalizer, const char *text, gsize length)
{
  return normalizer->kind == NORMALIZER_LOWERCASE ? g_utf8_strdown (text, (gssize) length)
                                                  : g_utf8_normalize (text, (gssize) length, normalizer->mode);
}

/* Appends @in's bytes [from, to) mapped, all aligned to their whole range,
 * or as they are when the mapping changes nothing. */
static void
append_mapped (FaNorm *out, const FaNorm *in, guint from, guint to, const char *mapped)
{
  gsize n = strlen (mapped);
  if (n == to - from && memcmp (mapped, _fa_norm_data (in) + from, n) == 0)
    _fa_norm_append_from (out, in, from, to);
  else
    _fa_norm_append (out, mapped, n, g_array_index (in->start, guint32, from),
                     g_array_index (in->end, guint32, to - 1));
}

/* Lowercase, character by character; or a Unicode normal form, by chunks
 * of grapheme clusters: a cluster joins the chunk before it while the two
 * do not normalise apart (compatibility jamo compose with the cluster
 * before them, for one). NUL characters, which GLib cannot take, stay. */
static FaNorm *
map_units (const Normalizer *normalizer, FaNorm *in)
{
  const char *text = _fa_norm_data (in);
  guint length = _fa_norm_len (in);
  FaNorm *out = _fa_norm_new (in->orig_start);
  guint chunk_start = 0;
  g_autofree char *chunk_mapped = NULL;

  for (guint pos = 0; pos < length;)
    {
      guint unit_end = normalizer->kind == NORMALIZER_LOWERCASE
                         ? pos + _fa_utf8_char_len ((guchar) text[pos])
                         : (guint) _fa_grapheme_end (text, length, pos);
      unit_end = MIN (unit_end, length);
      if (text[pos] == '\0')
        {
          if (chunk_mapped != NULL)
            append_mapped (out, in, chunk_start, pos, chunk_mapped);
          g_clear_pointer (&chunk_mapped, g_free);
          _fa_norm_append_from (out, in, pos, unit_end);
          chunk_start = pos = unit_end;
          continue;
        }
      g_autofree char *unit_mapped = map_text (normalizer, text + pos, unit_end - pos);
      if (unit_mapped == NULL)
        unit_mapped = g_strndup (text + pos, unit_end - pos);
      if (chunk_mapped != NULL && normalizer->kind != NORMALIZER_LOWERCASE)
        {
          g_autofree char *joint = map_text (normalizer, text + chunk_start, unit_end - chunk_start);
          g_autofree char *apart = g_strconcat (chunk_mapped, unit_mapped, NULL);
          if (joint != NULL && !g_str_equal (joint, apart))
            {
              g_free (chunk_mapped);
              chunk_mapped = g_steal_pointer (&joint);
              pos = unit_end;
              continue;
            }
        }
      if (chunk_mapped != NULL)
        append_mapped (out, in, chunk_start, pos, chunk_mapped);
      g_free (chunk_mapped);
      chunk_mapped = g_steal_pointer (&unit_mapped);
      chunk_start = pos;
      pos = unit_end;
    }
  if (chunk_mapped != NULL)
    append_mapped (out, in, chunk_start, length, chunk_mapped);
  return out;
}

/* Takes @in; returns the normalised string. */
static FaNorm *
normalize (const Normalizer *normalizer, FaNorm *in)
{
  FaNorm *out = NULL;
  guint length = _fa_norm_len (in);

  switch (normalizer->kind)
    {
    case NORMALIZER_SEQUENCE:
      for (guint i = 0; i < normalizer->children->len; i++)
        in = normalize (g_ptr_array_index (normalizer->children, i), in);
      return in;
    case NORMALIZER_PRECOMPILED:
      if (normalizer->charsmap == NULL)
        return in;
      out = _fa_charsmap_normalize (normalizer->charsmap, in);
      break;
    case NORMALIZER_REPLACE:
      out = replace (normalizer, in);
      break;
    case NORMALIZER_STRIP:
      {
        const char *text = _fa_norm_data (in);
        guint from = 0, to = length;
        while (normalizer->left && from < to && is_white_space (g_utf8_get_char (text + from)))
          from += _fa_utf8_char_len ((guchar) text[from]);
        while (normalizer->right && to > from)
          {
            const char *last = g_utf8_find_prev_char (text + from, text + to);
            if (last == NULL || !is_white_space (g_utf8_get_char (last)))
              break;
            to = (guint) (last - text);
          }
        out = _fa_norm_new (in->orig_start);
        _fa_norm_append_from (out, in, from, to);
        break;
      }
    case NORMALIZER_PREPEND:
      if (length == 0)
        return in;
      out = _fa_norm_new (in->orig_start);
      _fa_norm_append (out, normalizer->content, strlen (normalizer->content),
                       g_array_index (in->start, guint32, 0), g_array_index (in->start, guint32, 0));
      _fa_norm_append_from (out, in, 0, length);
      break;
    case NORMALIZER_LOWERCASE:
    case NORMALIZER_UNICODE:
      out = map_units (normalizer, in);
      break;
    default:
      g_assert_not_reached ();
    }
  _fa_norm_free (in);
  return out;
}

/* ---- added tokens ---- */

static gboolean
is_word_char (gunichar c)
{
  return g_unichar_isalnum (c) || c == '_';
}

/* Splits @norm at the matches of @set, leftmost first, then longest (with
 * the single_word, lstrip and rstrip options): the text between them goes
 * to @segments as FaNorm*, and each match to @matched as a piece, with a
 * NULL in @segments where it stands. */
static void
split_added (const TokenSet *set, const FaNorm *norm, GPtrArray *segments, GArray *matched)
{
  const char *text = _fa_norm_data (norm);
  guint length = _fa_norm_len (norm);
  guint segment_start = 0;
  guint pos = 0;

  while (pos < length)
    {
      guchar first = (guchar) text[pos];
      const AddedToken *best = NULL;
      if (set->first_bytes[first / 8] & (1u << (first % 8)))
        for (guint i = 0; i < set->n; i++)
          {
            const AddedToken *token = &set->tokens[i];
            if (token->length <= length - pos && memcmp (text + pos, token->content, token->length) == 0 &&
                (best == NULL || token->length > best->length))
              best = token;
          }
      if (best == NULL)
        {
          pos++;
          continue;
        }
      guint start = pos, stop = pos + (guint) best->length;
      if (best->single_word)
        {
          const char *before = start > 0 ? g_utf8_find_prev_char (text, text + start) : NULL;
          if ((before != NULL && is_word_char (g_utf8_get_char (before))) ||
              (stop < length && is_word_char (g_utf8_get_char (text + stop))))
            {
              pos = stop;
              continue;
            }
        }
      if (best->lstrip)
        while (start > segment_start)
          {
            const char *before = g_utf8_find_prev_char (text, text + start);
            if (before == NULL || !is_white_space (g_utf8_get_char (before)))
              break;
            start = (guint) (before - text);
          }
      if (best->rstrip)
        while (stop < length && is_white_space (g_utf8_get_char (text + stop)))
          stop += _fa_utf8_char_len ((guchar) text[stop]);

      if (start > segment_start)
        g_ptr_array_add (segments, _fa_norm_slice (norm, segment_start, start));
      g_ptr_array_add (segments, NULL);
      Piece piece = {
        best->id,
        g_array_index (norm->start, guint32, start),
        g_array_index (norm->end, guint32, stop - 1),
        g_array_index (norm->end, guint32, stop - 1),
      };
      /* its first character that is not a space */
      for (guint i = start; i < stop; i += _fa_utf8_char_len ((guchar) text[i]))
        if (!is_white_space (g_utf8_get_char (text + i)))
          {
            piece.anchor = g_array_index (norm->start, guint32, i);
            break;
          }
      g_array_append_val (matched, piece);
      segment_start = pos = stop;
    }
  if (segment_start < length || (segment_start == 0 && segments->len == 0))
    g_ptr_array_add (segments, _fa_norm_slice (norm, segment_start, length));
}

/* ---- pre-tokenisation ---- */

static void
metaspace (const PreTokenizer *pre, FaNorm *word, GPtrArray *out)
{
  const char *text = _fa_norm_data (word);
  guint length = _fa_norm_len (word);
  gsize rep_length = strlen (pre->replacement);
  if (length == 0)
    return;

  g_autoptr (FaNorm) replaced = _fa_norm_new (word->orig_start);
  gboolean prepend = pre->prepend_scheme == PREPEND_ALWAYS ||
                     (pre->prepend_scheme == PREPEND_FIRST && word->orig_start == 0);
  for (guint i = 0; i < length; i++)
    if (text[i] == ' ')
      {
        if (i == 0)
          prepend = FALSE;
        _fa_norm_append (replaced, pre->replacement, rep_length, g_array_index (word->start, guint32, i),
                         g_array_index (word->end, guint32, i));
      }
    else
      _fa_norm_append_from (replaced, word, i, i + 1);
  if (prepend && length >= rep_length && memcmp (text, pre->replacement, rep_length) == 0)
    prepend = FALSE;
  if (prepend)
    {
      FaNorm *with_prefix = _fa_norm_new (word->orig_start);
      guint32 at = g_array_index (word->start, guint32, 0);
      _fa_norm_append (with_prefix, pre->replacement, rep_length, at, at);
      _fa_norm_append_from (with_prefix, replaced, 0, _fa_norm_len (replaced));
      _fa_norm_free (replaced);
      replaced = with_prefix;
    }

  if (!pre->split)
    {
      g_ptr_array_add (out, g_steal_pointer (&replaced));
      return;
    }
  /* cut before every replacement character, which starts the next word */
  const char *r = _fa_norm_data (replaced);
  guint n = _fa_norm_len (replaced), from = 0;
  for (guint i = 0; i < n; i += _fa_utf8_char_len ((guchar) r[i]))
    if (i > from && i + rep_length <= n && memcmp (r + i, pre->replacement, rep_length) == 0)
      {
        g_ptr_array_add (out, _fa_norm_slice (replaced, from, i));
        from = i;
      }
  if (from < n)
    g_ptr_array_add (out, _fa_norm_slice (replaced, from, n));
}

static void
whitespace_split (FaNorm *word, GPtrArray *out)
{
  const char *text = _fa_norm_data (word);
  guint length = _fa_norm_len (word);
  guint from = 0;

  for (guint i = 0; i < length;)
    {
      guint next = MIN (i + _fa_utf8_char_len ((guchar) text[i]), length);
      if (is_white_space (g_utf8_get_char (text + i)))
        {
          if (i > from)
            g_ptr_array_add (out, _fa_norm_slice (word, from, i));
          from = next;
        }
      i = next;
    }
  if (length > from)
    g_ptr_array_add (out, _fa_norm_slice (word, from, length));
}

/* Takes @words (FaNorm*, owning) and returns the pre-tokenised words. */
static GPtrArray *
pre_tokenize (const PreTokenizer *pre, GPtrArray *words)
{
  if (pre->kind == PRE_TOKENIZER_SEQUENCE)
    {
      for (guint i = 0; i < pre->children->len; i++)
        words = pre_tokenize (g_ptr_array_index (pre->children, i), words);
      return words;
    }
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) _fa_norm_free);
  for (guint i = 0; i < words->len; i++)
    {
      FaNorm *word = g_ptr_array_index (words, i);
      if (pre->kind == PRE_TOKENIZER_METASPACE)
        metaspace (pre, word, out);
      else
        whitespace_split (word, out);
    }
  g_ptr_array_unref (words);
  return out;
}

/* ---- the Unigram model ---- */

typedef struct {
  double score;
  gint32 id;
  gint32 from; /* -1: not reached */
} Node;

/* The piece of @word's bytes [from, to): its input range, and as the
 * anchor of its word the input of its first character that is neither a
 * space nor the Metaspace "▁" (so "▁i" from " ▁ i", whose "▁" the charsmap
 * made a space, is the word of "i"), else (a lone "▁") the input just
 * after it. */
static Piece
make_piece (const FaTokenizer *tokenizer, const FaNorm *word, guint from, guint to, gint32 id)
{
  const char *text = _fa_norm_data (word);
  const guint32 *start = (const guint32 *) (gpointer) word->start->data;
  const guint32 *end = (const guint32 *) (gpointer) word->end->data;
  gsize meta_length = tokenizer->metaspace != NULL ? strlen (tokenizer->metaspace) : 0;
  Piece piece = { id, start[from], MAX (end[to - 1], start[from]), MAX (end[to - 1], start[from]) };

  for (guint i = from; i < to; i += _fa_utf8_char_len ((guchar) text[i]))
    {
      if (text[i] == ' ' ||
          (meta_length > 0 && i + meta_length <= to && memcmp (text + i, tokenizer->metaspace, meta_length) == 0))
        continue;
      piece.anchor = end[i] > start[i] ? end[i] - 1 : start[i];
      break;
    }
  return piece;
}

static gboolean
emit_unknown (FaTokenizer *tokenizer, const FaNorm *word, guint from, guint to, GArray *pieces, GError **error)
{
  const guchar *text = (const guchar *) _fa_norm_data (word);
  Piece piece = make_piece (tokenizer, word, from, to, tokenizer->unk_id);

  if (tokenizer->byte_fallback)
    {
      gboolean all = TRUE;
      for (guint i = from; i < to && all; i++)
        all = tokenizer->byte_ids[text[i]] >= 0;
      if (all)
        {
          for (guint i = from; i < to; i++)
            {
              piece.id = tokenizer->byte_ids[text[i]];
              g_array_append_val (pieces, piece);
            }
          return TRUE;
        }
    }
  if (tokenizer->unk_id < 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "%s: the text has characters no piece covers and the model has no unk_id", tokenizer->path);
      return FALSE;
    }
  g_array_append_val (pieces, piece);
  return TRUE;
}

static gboolean
unigram (FaTokenizer *tokenizer, const FaNorm *word, GArray *pieces, GError **error)
{
  const char *text = _fa_norm_data (word);
  guint size = _fa_norm_len (word);
  double unk_score = tokenizer->min_score - UNK_PENALTY;
  g_autofree Node *nodes = g_new (Node, size + 1);

  for (guint i = 0; i <= size; i++)
    nodes[i] = (Node) { 0.0, -1, -1 };
  for (guint from = 0; from < size;)
    {
      double here = nodes[from].score;
      guint char_length = MIN (_fa_utf8_char_len ((guchar) text[from]), size - from);
      gboolean has_single = FALSE;
      guint32 hash = HASH_SEED;
      guint limit = MIN (size, from + tokenizer->max_piece_length);

      for (guint to = from; to < limit;)
        {
          guint next = MIN (to + _fa_utf8_char_len ((guchar) text[to]), limit);
          for (; to < next; to++)
            hash = hash_step (hash, (guchar) text[to]);
          gint32 id = lookup_piece_hashed (tokenizer, text + from, next - from, hash);
          if (id >= 0)
            {
              double candidate = here + tokenizer->scores[id];
              if (nodes[next].from < 0 || candidate > nodes[next].score)
                nodes[next] = (Node) { candidate, id, (gint32) from };
              if (next - from == char_length)
                has_single = TRUE;
            }
        }
      if (!has_single)
        {
          double candidate = here + unk_score;
          guint next = from + char_length;
          if (nodes[next].from < 0 || candidate > nodes[next].score)
            nodes[next] = (Node) { candidate, tokenizer->unk_id, (gint32) from };
        }
      from += char_length;
    }

  /* back from the end; unknown edges fuse with their unknown neighbours */
  g_autoptr (GArray) reversed = g_array_new (FALSE, FALSE, sizeof (guint) * 2);
  guint unknown_to = 0;
  gboolean in_unknown = FALSE;
  for (guint to = size; to > 0;)
    {
      const Node *node = &nodes[to];
      guint from = (guint) node->from;
      if (node->id == tokenizer->unk_id && node->id >= 0)
        {
          if (!in_unknown)
            unknown_to = to;
          in_unknown = TRUE;
        }
      else
        {
          if (in_unknown)
            {
              guint range[2] = { to, unknown_to };
              g_array_append_val (reversed, range);
              in_unknown = FALSE;
            }
          guint range[2] = { from, to };
          g_array_append_val (reversed, range);
        }
      to = from;
    }
  if (in_unknown)
    {
      guint range[2] = { 0, unknown_to };
      g_array_append_val (reversed, range);
    }

  for (guint k = reversed->len; k-- > 0;)
    {
      const guint *range = &g_array_index (reversed, guint, 2 * k);
      gint32 id = lookup_piece (tokenizer, text + range[0], range[1] - range[0]);
      if (id < 0)
        {
          if (!emit_unknown (tokenizer, word, range[0], range[1], pieces, error))
            return FALSE;
          continue;
        }
      Piece piece = make_piece (tokenizer, word, range[0], range[1], id);
      g_array_append_val (pieces, piece);
    }
  return TRUE;
}

/* ---- encoding ---- */

/* One stretch of input between raw added tokens: normalise, split on the
 * normalised added tokens, pre-tokenise, segment. */
static gboolean
encode_segment (FaTokenizer *tokenizer, FaNorm *segment, GArray *pieces, GError **error)
{
  g_autoptr (FaNorm) norm = tokenizer->normalizer != NULL ? normalize (tokenizer->normalizer, segment) : segment;
  if (_fa_norm_len (norm) == 0)
    return TRUE;

  g_autoptr (GPtrArray) parts = g_ptr_array_new_with_free_func ((GDestroyNotify) _fa_norm_free);
  g_autoptr (GArray) matched = g_array_new (FALSE, FALSE, sizeof (Piece));
  if (tokenizer->normalized_tokens.n > 0)
    split_added (&tokenizer->normalized_tokens, norm, parts, matched);
  else /* whole, so that it still begins where the input did (prepend_scheme first) */
    g_ptr_array_add (parts, g_steal_pointer (&norm));

  guint n_matched = 0;
  for (guint p = 0; p < parts->len; p++)
    {
      FaNorm *part = g_ptr_array_index (parts, p);
      if (part == NULL)
        {
          g_array_append_val (pieces, g_array_index (matched, Piece, n_matched));
          n_matched++;
          continue;
        }
      if (_fa_norm_len (part) == 0)
        continue;
      g_autoptr (GPtrArray) words = g_ptr_array_new_with_free_func ((GDestroyNotify) _fa_norm_free);
      g_ptr_array_add (words, g_steal_pointer (&g_ptr_array_index (parts, p)));
      if (tokenizer->pre_tokenizer != NULL)
        words = pre_tokenize (tokenizer->pre_tokenizer, g_steal_pointer (&words));
      for (guint w = 0; w < words->len; w++)
        if (_fa_norm_len (g_ptr_array_index (words, w)) > 0 &&
            !unigram (tokenizer, g_ptr_array_index (words, w), pieces, error))
          return FALSE;
    }
  return TRUE;
}

FaTokenization *
fa_tokenizer_encode_len (FaTokenizer *tokenizer, const char *text, gssize length, guint max_length,
                         GError **error)
{
  g_return_val_if_fail (tokenizer != NULL, NULL);
  g_return_val_if_fail (text != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (text == NULL)
    text = "";
  gsize n = length < 0 ? strlen (text) : (gsize) length;
  if (n >= G_MAXUINT32)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "text of %" G_GSIZE_FORMAT " bytes is too long", n);
      return NULL;
    }
  if (!_fa_utf8_validate_with_nul (text, n))
    {
      g_set_error_literal (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "the text is not valid UTF-8");
      return NULL;
    }
  guint n_special = tokenizer->prefix_ids->len + tokenizer->suffix_ids->len;
  if (max_length > 0 && max_length < n_special)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "max_length %u leaves no room for the %u special tokens", max_length, n_special);
      return NULL;
    }

  /* the raw added tokens, then each stretch between them */
  g_autoptr (GArray) pieces = g_array_new (FALSE, FALSE, sizeof (Piece));
  g_autoptr (FaNorm) whole = _fa_norm_new_from_text (text, 0, n);
  g_autoptr (GPtrArray) segments = g_ptr_array_new_with_free_func ((GDestroyNotify) _fa_norm_free);
  g_autoptr (GArray) matched = g_array_new (FALSE, FALSE, sizeof (Piece));
  split_added (&tokenizer->raw_tokens, whole, segments, matched);
  guint n_matched = 0;
  for (guint s = 0; s < segments->len; s++)
    {
      FaNorm *segment = g_steal_pointer (&g_ptr_array_index (segments, s));
      if (segment == NULL)
        {
          g_array_append_val (pieces, g_array_index (matched, Piece, n_matched));
          n_matched++;
        }
      else if (!encode_segment (tokenizer, segment, pieces, error))
        return NULL;
    }

  guint n_pieces = pieces->len;
  if (max_length > 0)
    n_pieces = MIN (n_pieces, max_length - n_special);

  FaTokenization *result = g_new0 (FaTokenization, 1);
  result->n = n_pieces + n_special;
  result->n_untruncated = pieces->len + n_special;
  result->ids = g_new (gint32, result->n);
  result->word_index = g_new (gint32, result->n);
  result->byte_start = g_new (guint32, result->n);
  result->byte_end = g_new (guint32, result->n);

  g_autofree guint32 *spaces_before = g_new (guint32, n + 1);
  spaces_before[0] = 0;
  for (gsize i = 0; i < n; i++)
    spaces_before[i + 1] = spaces_before[i] + (text[i] == ' ');
  result->n_words = spaces_before[n] + 1;

  guint k = 0;
  for (guint i = 0; i < tokenizer->prefix_ids->len; i++, k++)
    {
      result->ids[k] = g_array_index (tokenizer->prefix_ids, gint32, i);
      result->word_index[k] = -1;
      result->byte_start[k] = result->byte_end[k] = 0;
    }
  for (guint i = 0; i < n_pieces; i++, k++)
    {
      const Piece *piece = &g_array_index (pieces, Piece, i);
      result->ids[k] = piece->id;
      result->byte_start[k] = piece->start;
      result->byte_end[k] = MAX (piece->end, piece->start);
      result->word_index[k] = (gint32) spaces_before[MIN (piece->anchor, (guint32) n)];
    }
  for (guint i = 0; i < tokenizer->suffix_ids->len; i++, k++)
    {
      result->ids[k] = g_array_index (tokenizer->suffix_ids, gint32, i);
      result->word_index[k] = -1;
      result->byte_start[k] = result->byte_end[k] = (guint32) n;
    }
  return result;
}

FaTokenization *
fa_tokenizer_encode (FaTokenizer *tokenizer, const char *text, guint max_length, GError **error)
{
  return fa_tokenizer_encode_len (tokenizer, text, -1, max_length, error);
}

void
fa_tokenization_free (FaTokenization *tokenization)
{
  if (tokenization == NULL)
    return;
  g_free (tokenization->ids);
  g_free (tokenization->word_index);
  g_free (tokenization->byte_start);
  g_free (tokenization->byte_end);
  g_free (tokenization);
}
