/* fa-tokenizer-charsmap.c: the SentencePiece precompiled charsmap (the
 * "Precompiled" normaliser of tokenizer.json), the aligned string it works
 * on, and the grapheme clusters it is applied by.
 *
 * The charsmap blob is a little-endian uint32 giving the size in bytes of a
 * darts-clone double array, that array (uint32 units), then a pool of
 * NUL-terminated replacement strings. A unit holds a label (bits 0–7, with
 * bit 31 set for value units so that they never match a label), a "has a
 * leaf" flag (bit 8) and the XOR offset of its children (bits 10–31, shifted
 * left by 8 when bit 9 is set); a leaf child's unit holds the value, here
 * the replacement's offset in the pool.
 *
 * How the tokenizers library applies it (and so what the goldens need): it
 * walks the text by extended grapheme cluster; a cluster shorter than 6
 * bytes is looked up whole, and the first common-prefix match (the shortest
 * key that starts the cluster) replaces the whole cluster, so "ẛ" + U+0323
 * becomes "ṡ" (SentencePiece itself takes the longest match and keeps the
 * accent). A longer cluster, or one with no match, goes character by
 * character, each looked up alone.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-tokenizer"

#include "config.h"

#include <string.h>

#include "fa-tokenizer-private.h"

/* ---- the aligned string ---- */

FaNorm *
_fa_norm_new (guint32 orig_start)
{
  FaNorm *norm = g_new0 (FaNorm, 1);
  norm->bytes = g_byte_array_new ();
  norm->start = g_array_new (FALSE, FALSE, sizeof (guint32));
  norm->end = g_array_new (FALSE, FALSE, sizeof (guint32));
  norm->orig_start = orig_start;
  return norm;
}

void
_fa_norm_free (FaNorm *norm)
{
  if (norm == NULL)
    return;
  g_byte_array_unref (norm->bytes);
  g_array_unref (norm->start);
  g_array_unref (norm->end);
  g_free (norm);
}

void
_fa_norm_append (FaNorm *norm, const char *bytes, gsize n, guint32 start, guint32 end)
{
  g_byte_array_append (norm->bytes, (const guint8 *) bytes, (guint) n);
  for (gsize i = 0; i < n; i++)
    {
      g_array_append_val (norm->start, start);
      g_array_append_val (norm->end, end);
    }
}

void
_fa_norm_append_from (FaNorm *norm, const FaNorm *src, guint from, guint to)
{
  g_return_if_fail (from <= to && to <= _fa_norm_len (src));
  if (from == to)
    return;
  g_byte_array_append (norm->bytes, src->bytes->data + from, to - from);
  g_array_append_vals (norm->start, &g_array_index (src->start, guint32, from), to - from);
  g_array_append_vals (norm->end, &g_array_index (src->end, guint32, from), to - from);
}

FaNorm *
_fa_norm_new_from_text (const char *text, gsize from, gsize to)
{
  FaNorm *norm = _fa_norm_new ((guint32) from);

  g_byte_array_append (norm->bytes, (const guint8 *) text + from, (guint) (to - from));
  g_array_set_size (norm->start, (guint) (to - from));
  g_array_set_size (norm->end, (guint) (to - from));
  for (gsize i = from; i < to; i++)
    {
      g_array_index (norm->start, guint32, i - from) = (guint32) i;
      g_array_index (norm->end, guint32, i - from) = (guint32) (i + 1);
    }
  return norm;
}

FaNorm *
_fa_norm_slice (const FaNorm *norm, guint from, guint to)
{
  FaNorm *slice = _fa_norm_new (from < _fa_norm_len (norm) ? g_array_index (norm->start, guint32, from)
                                                          : norm->orig_start);
  _fa_norm_append_from (slice, norm, from, to);
  return slice;
}

gboolean
_fa_utf8_validate_with_nul (const char *text, gsize length)
{
  gsize pos = 0;

  while (pos < length)
    {
      const char *nul = memchr (text + pos, '\0', length - pos);
      gsize chunk_end = nul != NULL ? (gsize) (nul - text) : length;
      if (chunk_end > pos && !g_utf8_validate_len (text + pos, chunk_end - pos, NULL))
        return FALSE;
      pos = chunk_end + 1;
    }
  return TRUE;
}

/* ---- grapheme clusters (UAX #29, extended) ---- */

typedef enum {
  GCB_OTHER,
  GCB_CR,
  GCB_LF,
  GCB_CONTROL,
  GCB_EXTEND,
  GCB_ZWJ,
  GCB_REGIONAL_INDICATOR,
  GCB_PREPEND,
  GCB_SPACING_MARK,
  GCB_L,
  GCB_V,
  GCB_T,
  GCB_LV,
  GCB_LVT,
} Gcb;

static gboolean
is_prepend (gunichar c)
{
  return (c >= 0x0600 && c <= 0x0605) || c == 0x06DD || c == 0x070F || c == 0x0890 || c == 0x0891 ||
         c == 0x08E2 || c == 0x0D4E || c == 0x110BD || c == 0x110CD || c == 0x111C2 || c == 0x111C3 ||
         c == 0x1193F || c == 0x11941 || c == 0x11A3A || (c >= 0x11A84 && c <= 0x11A89) ||
         c == 0x11D46 || c == 0x11F02;
}

/* Spacing marks (Mc) that UAX #29 leaves out of SpacingMark. */
static gboolean
is_spacing_mark_exception (gunichar c)
{
  return c == 0x102B || c == 0x102C || c == 0x1038 || (c >= 0x1062 && c <= 0x1064) ||
         (c >= 0x1067 && c <= 0x106D) || c == 0x1083 || (c >= 0x1087 && c <= 0x108C) || c == 0x108F ||
         (c >= 0x109A && c <= 0x109C) || c == 0x1A61 || c == 0x1A63 || c == 0x1A64 || c == 0xAA7B ||
         c == 0xAA7D || c == 0x11720 || c == 0x11721;
}

/* The Grapheme_Cluster_Break property from GLib's general categories and
 * the few explicit lists of UAX #29. Extended_Pictographic (rule GB11) is
 * not modelled: an emoji ZWJ sequence is then cut after each ZWJ, which
 * changes nothing here since clusters of 6 bytes or more go character by
 * character anyway (every emoji and ZWJ is 3 or 4 bytes). */
static Gcb
gcb_of (gunichar c)
{
  if (c == '\r')
    return GCB_CR;
  if (c == '\n')
    return GCB_LF;
  if (c == 0x200D)
    return GCB_ZWJ;
  if (c == 0x200C || c == 0xFF9E || c == 0xFF9F || (c >= 0x1F3FB && c <= 0x1F3FF) ||
      (c >= 0xE0020 && c <= 0xE007F))
    return GCB_EXTEND;
  if (c >= 0x1F1E6 && c <= 0x1F1FF)
    return GCB_REGIONAL_INDICATOR;
  if (is_prepend (c))
    return GCB_PREPEND;
  if (c == 0x0E33 || c == 0x0EB3)
    return GCB_SPACING_MARK;
  if ((c >= 0x1100 && c <= 0x115F) || (c >= 0xA960 && c <= 0xA97C))
    return GCB_L;
  if ((c >= 0x1160 && c <= 0x11A7) || (c >= 0xD7B0 && c <= 0xD7C6))
    return GCB_V;
  if ((c >= 0x11A8 && c <= 0x11FF) || (c >= 0xD7CB && c <= 0xD7FB))
    return GCB_T;
  if (c >= 0xAC00 && c <= 0xD7A3)
    return (c - 0xAC00) % 28 == 0 ? GCB_LV : GCB_LVT;

  switch (g_unichar_type (c))
    {
    case G_UNICODE_CONTROL:
    case G_UNICODE_FORMAT:
    case G_UNICODE_LINE_SEPARATOR:
    case G_UNICODE_PARAGRAPH_SEPARATOR:
      return GCB_CONTROL;
    case G_UNICODE_NON_SPACING_MARK:
    case G_UNICODE_ENCLOSING_MARK:
      return GCB_EXTEND;
    case G_UNICODE_SPACING_MARK:
      return is_spacing_mark_exception (c) ? GCB_OTHER : GCB_SPACING_MARK;
    default:
      return GCB_OTHER;
    }
}

/* No boundary between @prev and @cur; @n_ri: regional indicators in a row
 * up to and including @prev. */
static gboolean
joins (Gcb prev, Gcb cur, guint n_ri)
{
  if (prev == GCB_CR && cur == GCB_LF)
    return TRUE;
  if (prev == GCB_CR || prev == GCB_LF || prev == GCB_CONTROL)
    return FALSE;
  if (cur == GCB_CR || cur == GCB_LF || cur == GCB_CONTROL)
    return FALSE;
  if (prev == GCB_L && (cur == GCB_L || cur == GCB_V || cur == GCB_LV || cur == GCB_LVT))
    return TRUE;
  if ((prev == GCB_LV || prev == GCB_V) && (cur == GCB_V || cur == GCB_T))
    return TRUE;
  if ((prev == GCB_LVT || prev == GCB_T) && cur == GCB_T)
    return TRUE;
  if (cur == GCB_EXTEND || cur == GCB_ZWJ || cur == GCB_SPACING_MARK)
    return TRUE;
  if (prev == GCB_PREPEND)
    return TRUE;
  if (prev == GCB_REGIONAL_INDICATOR && cur == GCB_REGIONAL_INDICATOR)
    return n_ri % 2 == 1;
  return FALSE;
}

gsize
_fa_grapheme_end (const char *text, gsize length, gsize from)
{
  gsize pos = from;
  Gcb prev = gcb_of (g_utf8_get_char (text + pos));
  guint n_ri = prev == GCB_REGIONAL_INDICATOR ? 1 : 0;

  pos += _fa_utf8_char_len ((guchar) text[pos]);
  while (pos < length)
    {
      Gcb cur = gcb_of (g_utf8_get_char (text + pos));
      if (!joins (prev, cur, n_ri))
        break;
      n_ri = cur == GCB_REGIONAL_INDICATOR ? n_ri + 1 : 0;
      prev = cur;
      pos += _fa_utf8_char_len ((guchar) text[pos]);
    }
  return MIN (pos, length);
}

/* ---- the charsmap ---- */

struct _FaCharsmap {
  guint32 *units;
  guint32 n_units;
  char *pool;
  gsize pool_length;
};

FaCharsmap *
_fa_charsmap_new (const guint8 *blob, gsize length, char **message)
{
  if (length < 4)
    {
      *message = g_strdup_printf ("is %" G_GSIZE_FORMAT " bytes, too short for its header", length);
      return NULL;
    }
  guint32 trie_size;
  memcpy (&trie_size, blob, 4);
  trie_size = GUINT32_FROM_LE (trie_size);
  if (trie_size == 0 || trie_size % 4 != 0 || trie_size > length - 4)
    {
      *message = g_strdup_printf ("gives a trie of %u bytes in a blob of %" G_GSIZE_FORMAT, trie_size, length);
      return NULL;
    }

  FaCharsmap *charsmap = g_new0 (FaCharsmap, 1);
  charsmap->n_units = trie_size / 4;
  charsmap->units = g_new (guint32, charsmap->n_units);
  memcpy (charsmap->units, blob + 4, trie_size);
  for (guint32 i = 0; i < charsmap->n_units; i++)
    charsmap->units[i] = GUINT32_FROM_LE (charsmap->units[i]);
  charsmap->pool_length = length - 4 - trie_size;
  charsmap->pool = g_memdup2 (blob + 4 + trie_size, charsmap->pool_length);
  if (!_fa_utf8_validate_with_nul (charsmap->pool, charsmap->pool_length))
    {
      *message = g_strdup ("has replacement strings that are not UTF-8");
      _fa_charsmap_free (charsmap);
      return NULL;
    }
  return charsmap;
}

void
_fa_charsmap_free (FaCharsmap *charsmap)
{
  if (charsmap == NULL)
    return;
  g_free (charsmap->units);
  g_free (charsmap->pool);
  g_free (charsmap);
}

static inline guint32
unit_offset (guint32 unit)
{
  return (unit >> 10) << ((unit & (1u << 9)) >> 6);
}

const char *
_fa_charsmap_lookup (const FaCharsmap *charsmap, const char *key, gsize length, gsize *out_length)
{
  guint32 pos = unit_offset (charsmap->units[0]);

  for (gsize i = 0; i < length; i++)
    {
      guchar c = (guchar) key[i];
      if (c == 0)
        return NULL;
      pos ^= c;
      if (pos >= charsmap->n_units)
        return NULL;
      guint32 unit = charsmap->units[pos];
      if ((unit & ((1u << 31) | 0xFF)) != c)
        return NULL;
      pos ^= unit_offset (unit);
      if ((unit >> 8) & 1)
        {
          if (pos >= charsmap->n_units)
            return NULL;
          guint32 value = charsmap->units[pos] & ((1u << 31) - 1);
          if (value >= charsmap->pool_length)
            return NULL;
          const char *replacement = charsmap->pool + value;
          gsize n = strnlen (replacement, charsmap->pool_length - value);
          /* an offset into the middle of a character would cut it */
          if (!g_utf8_validate_len (replacement, n, NULL))
            return NULL;
          *out_length = n;
          return replacement;
        }
    }
  return NULL;
}

FaNorm *
_fa_charsmap_normalize (const FaCharsmap *charsmap, const FaNorm *in)
{
  const char *text = _fa_norm_data (in);
  guint length = _fa_norm_len (in);
  FaNorm *out = _fa_norm_new (in->orig_start);
  const guint32 *start = (const guint32 *) (gpointer) in->start->data;
  const guint32 *end = (const guint32 *) (gpointer) in->end->data;
  guint pos = 0;

  while (pos < length)
    {
      guint cluster_end = (guint) _fa_grapheme_end (text, length, pos);
      const char *replacement;
      gsize n;

      if (cluster_end - pos < 6 &&
          (replacement = _fa_charsmap_lookup (charsmap, text + pos, cluster_end - pos, &n)) != NULL)
        {
          _fa_norm_append (out, replacement, n, start[pos], end[cluster_end - 1]);
          pos = cluster_end;
          continue;
        }
      while (pos < cluster_end)
        {
          guint char_end = MIN (pos + _fa_utf8_char_len ((guchar) text[pos]), cluster_end);
          replacement = _fa_charsmap_lookup (charsmap, text + pos, char_end - pos, &n);
          if (replacement != NULL)
            _fa_norm_append (out, replacement, n, start[pos], end[char_end - 1]);
          else
            _fa_norm_append_from (out, in, pos, char_end);
          pos = char_end;
        }
    }
  return out;
}
