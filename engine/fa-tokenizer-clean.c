/* fa-tokenizer-clean.c: Wan's prompt cleaning (spec B.4) as diffusers'
 * prompt_clean runs it without ftfy:
 *
 *   text = html.unescape(html.unescape(text)).strip()
 *   text = regex.sub(r"\s+", " ", text).strip()
 *
 * html.unescape: "&" then a decimal or hexadecimal character reference or
 * up to 32 characters of a name (anything but tab, LF, FF, space, "<", "&",
 * "#", ";"), then an optional ";". Numeric references follow Python's
 * rules for invalid code points; a name is looked up with its ";", then
 * its longest prefix (2 characters at least) among the names HTML5 also
 * accepts without one ("&copyright" → "©right"); anything else stays as it
 * is. strip() removes what str.isspace() calls space (which includes
 * U+001C–U+001F); the `regex` module's \s is the White_Space property
 * (which does not), so such characters inside the text stay.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-tokenizer"

#include "config.h"

#include <string.h>

#include "fa-tokenizer-private.h"
#include "fa-tokenizer.h"

/* Python's html._invalid_charrefs: 0x00, CR, and 0x80–0x9F read as
 * windows-1252. */
static const gunichar cp1252[32] = {
  0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
  0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
  0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
  0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

static void
append_unichar (GString *out, gunichar c)
{
  char buffer[8];
  gint n = g_unichar_to_utf8 (c, buffer);
  g_string_append_len (out, buffer, n);
}

/* A numeric character reference to code point @num (saturated at
 * 0x110000), as Python's html._replace_charref. */
static void
append_charref (GString *out, guint32 num)
{
  if (num == 0x00)
    append_unichar (out, 0xFFFD);
  else if (num == 0x0D)
    g_string_append_c (out, '\r');
  else if (num >= 0x80 && num <= 0x9F)
    append_unichar (out, cp1252[num - 0x80]);
  else if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF)
    append_unichar (out, 0xFFFD);
  else if ((num >= 0x01 && num <= 0x08) || num == 0x0B || (num >= 0x0E && num <= 0x1F) ||
           (num >= 0x7F && num <= 0x9F) || (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE)
    ; /* html._invalid_codepoints: dropped */
  else
    append_unichar (out, num);
}

static gboolean
is_name_char (char c)
{
  return c != '\t' && c != '\n' && c != '\f' && c != ' ' && c != '<' && c != '&' && c != '#' && c != ';';
}

/* Tries a reference at text[i] == '&'; returns where the text goes on, or
 * @i when nothing matches there. */
static gsize
unescape_at (GString *out, const char *text, gsize length, gsize i)
{
  gsize j = i + 1;

  if (j < length && text[j] == '#')
    {
      gsize k = j + 1;
      gboolean hex = k + 1 < length && (text[k] == 'x' || text[k] == 'X') && g_ascii_isxdigit (text[k + 1]);
      if (hex)
        k++;
      else if (!(k < length && g_ascii_isdigit (text[k])))
        return i;
      guint32 num = 0;
      for (; k < length && (hex ? g_ascii_isxdigit (text[k]) : g_ascii_isdigit (text[k])); k++)
        {
          guint digit = hex ? (guint) g_ascii_xdigit_value (text[k]) : (guint) (text[k] - '0');
          num = MIN ((guint64) num * (hex ? 16 : 10) + digit, 0x110000);
        }
      if (k < length && text[k] == ';')
        k++;
      append_charref (out, num);
      return k;
    }

  /* [^\t\n\f <&#;]{1,32};? counted in characters */
  gsize k = j;
  guint n_chars = 0;
  while (k < length && n_chars < 32 && is_name_char (text[k]))
    {
      k = MIN (k + _fa_utf8_char_len ((guchar) text[k]), length);
      n_chars++;
    }
  if (n_chars == 0)
    return i;
  if (k < length && text[k] == ';')
    {
      k++;
      n_chars++;
    }

  const char *value = _fa_html_entity_lookup (text + j, k - j);
  if (value != NULL)
    {
      g_string_append (out, value);
      return k;
    }
  /* the longest prefix of at least 2 characters (so without the ";") */
  for (guint x = n_chars - 1; x >= 2; x--)
    {
      const char *prefix_end = g_utf8_offset_to_pointer (text + j, x);
      value = _fa_html_entity_lookup (text + j, (gsize) (prefix_end - (text + j)));
      if (value != NULL)
        {
          g_string_append (out, value);
          g_string_append_len (out, prefix_end, (gssize) (text + k - prefix_end));
          return k;
        }
    }
  g_string_append_len (out, text + i, (gssize) (k - i));
  return k;
}

/* Python's html.unescape. */
static char *
html_unescape (const char *text, gsize length, gsize *out_length)
{
  GString *out = g_string_sized_new (length);
  gsize i = 0;

  while (i < length)
    {
      const char *amp = memchr (text + i, '&', length - i);
      if (amp == NULL)
        {
          g_string_append_len (out, text + i, (gssize) (length - i));
          break;
        }
      gsize a = (gsize) (amp - text);
      g_string_append_len (out, text + i, (gssize) (a - i));
      gsize next = unescape_at (out, text, length, a);
      if (next == a)
        {
          g_string_append_c (out, '&');
          next = a + 1;
        }
      i = next;
    }
  *out_length = out->len;
  return g_string_free (out, FALSE);
}

/* str.isspace() */
static gboolean
is_python_space (gunichar c)
{
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

/* \s of the `regex` module: the White_Space property. */
static gboolean
is_white_space (gunichar c)
{
  return is_python_space (c) && !(c >= 0x1C && c <= 0x1F);
}

/* str.strip(): the byte range [*from, *to) of @text without leading and
 * trailing spaces. */
static void
strip_range (const char *text, gsize length, gsize *from, gsize *to)
{
  gsize a = 0, b = length;

  while (a < b && is_python_space (g_utf8_get_char (text + a)))
    a += _fa_utf8_char_len ((guchar) text[a]);
  while (b > a)
    {
      const char *last = g_utf8_find_prev_char (text + a, text + b);
      if (last == NULL || !is_python_space (g_utf8_get_char (last)))
        break;
      b = (gsize) (last - text);
    }
  *from = a;
  *to = b;
}

/* Valid UTF-8 (NUL bytes kept), invalid sequences as U+FFFD. */
static char *
make_valid (const char *text, gsize length, gsize *out_length)
{
  if (_fa_utf8_validate_with_nul (text, length))
    {
      char *copy = g_malloc (length + 1);
      memcpy (copy, text, length);
      copy[length] = '\0';
      *out_length = length;
      return copy;
    }
  GString *out = g_string_sized_new (length);
  gsize pos = 0;
  while (pos < length)
    {
      const char *nul = memchr (text + pos, '\0', length - pos);
      gsize chunk_end = nul != NULL ? (gsize) (nul - text) : length;
      g_autofree char *valid = g_utf8_make_valid (text + pos, (gssize) (chunk_end - pos));
      g_string_append (out, valid);
      if (nul != NULL)
        g_string_append_c (out, '\0');
      pos = chunk_end + 1;
    }
  *out_length = out->len;
  return g_string_free (out, FALSE);
}

char *
fa_prompt_clean_len (const char *text, gssize length, gsize *out_length)
{
  g_return_val_if_fail (text != NULL || length == 0, NULL);

  gsize n = length < 0 ? strlen (text) : (gsize) length;
  gsize n_valid, n_once, n_twice;
  g_autofree char *valid = make_valid (text != NULL ? text : "", n, &n_valid);
  g_autofree char *once = html_unescape (valid, n_valid, &n_once);
  g_autofree char *twice = html_unescape (once, n_once, &n_twice);

  gsize from, to;
  strip_range (twice, n_twice, &from, &to);

  /* the ends are not space any more, so the runs are all inside and the
   * second strip() has nothing left to do */
  GString *out = g_string_sized_new (to - from);
  gsize pos = from;
  while (pos < to)
    {
      if (is_white_space (g_utf8_get_char (twice + pos)))
        {
          g_string_append_c (out, ' ');
          while (pos < to && is_white_space (g_utf8_get_char (twice + pos)))
            pos += _fa_utf8_char_len ((guchar) twice[pos]);
          continue;
        }
      guint char_length = _fa_utf8_char_len ((guchar) twice[pos]);
      g_string_append_len (out, twice + pos, char_length);
      pos += char_length;
    }
  if (out_length != NULL)
    *out_length = out->len;
  return g_string_free (out, FALSE);
}

char *
fa_prompt_clean (const char *text)
{
  g_return_val_if_fail (text != NULL, NULL);
  return fa_prompt_clean_len (text, -1, NULL);
}
