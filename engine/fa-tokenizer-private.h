/* fa-tokenizer-private.h: what the tokenizer's source files share: the
 * normalised string with its alignment to the input, the SentencePiece
 * precompiled charsmap, grapheme clusters and the HTML entity table.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A string being normalised: its UTF-8 bytes (NUL bytes allowed, so always
 * with the length) and, for every byte, the byte range [start, end) of the
 * original input it came from. Characters inserted from nothing (the
 * Metaspace prefix) have an empty range at the place they were inserted.
 * @orig_start is where the span of the input this string stands for
 * begins, even when normalisation removed its first characters. */
typedef struct {
  GByteArray *bytes;
  GArray *start; /* guint32 per byte */
  GArray *end;   /* guint32 per byte */
  guint32 orig_start;
} FaNorm;

FaNorm  *_fa_norm_new (guint32 orig_start);
/* The bytes [@from, @to) of @text, each aligned to its own position. */
FaNorm  *_fa_norm_new_from_text (const char *text, gsize from, gsize to);
void     _fa_norm_free (FaNorm *norm);
/* The bytes [@from, @to) of @norm with their alignment. */
FaNorm  *_fa_norm_slice (const FaNorm *norm, guint from, guint to);
static inline guint
_fa_norm_len (const FaNorm *norm)
{
  return norm->bytes->len;
}
static inline const char *
_fa_norm_data (const FaNorm *norm)
{
  /* an empty GByteArray has no data at all */
  return norm->bytes->data != NULL ? (const char *) norm->bytes->data : "";
}
/* Appends @n bytes, all aligned to [@start, @end). */
void     _fa_norm_append (FaNorm *norm, const char *bytes, gsize n, guint32 start, guint32 end);
/* Appends bytes [@from, @to) of @src with their own alignment. */
void     _fa_norm_append_from (FaNorm *norm, const FaNorm *src, guint from, guint to);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaNorm, _fa_norm_free)

/* Length in bytes of the UTF-8 character that starts with @lead (1 for a
 * byte that cannot start one; the text is validated before it gets here). */
static inline guint
_fa_utf8_char_len (guchar lead)
{
  if (lead < 0xC0)
    return 1;
  if (lead < 0xE0)
    return 2;
  if (lead < 0xF0)
    return 3;
  return 4;
}

/* UTF-8 validation that, unlike g_utf8_validate, accepts NUL bytes. */
gboolean _fa_utf8_validate_with_nul (const char *text, gsize length);

/* The end of the extended grapheme cluster (UAX #29) that starts at @from in
 * the valid UTF-8 @text of @length bytes. */
gsize    _fa_grapheme_end (const char *text, gsize length, gsize from);

/* The SentencePiece precompiled charsmap: a darts-clone double array over
 * the UTF-8 of the input sequences, whose values are offsets of
 * NUL-terminated replacements in a string pool. */
typedef struct _FaCharsmap FaCharsmap;

/* @blob: the decoded bytes (uint32 LE trie size, the trie, the pool). On a
 * malformed blob, NULL and a message (no GError, the caller names the file). */
FaCharsmap *_fa_charsmap_new (const guint8 *blob, gsize length, char **message);
void        _fa_charsmap_free (FaCharsmap *charsmap);
/* The replacement for the shortest key that is a prefix of @key[0, @length)
 * (the first common-prefix-search result), or NULL. */
const char *_fa_charsmap_lookup (const FaCharsmap *charsmap, const char *key, gsize length,
                                 gsize *out_length);
/* Applies the charsmap as the tokenizers library does: grapheme cluster by
 * grapheme cluster; a cluster shorter than 6 bytes with a match is replaced
 * whole, anything else character by character. */
FaNorm     *_fa_charsmap_normalize (const FaCharsmap *charsmap, const FaNorm *in);

/* An HTML5 named character reference ("amp;", "copy"), or NULL. */
const char *_fa_html_entity_lookup (const char *name, gsize length);

G_END_DECLS
