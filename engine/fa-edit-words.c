/* fa-edit-words.c: the target tokens J of SAR (spec section 5, choice 8 of
 * tools/reference/docs/edit.md).
 *
 * The word diff must give exactly the reference's answer, and the
 * reference uses Python's difflib.SequenceMatcher(None, a, b,
 * autojunk=False). That is not a minimal edit script: it takes the longest
 * common run of words (ties: the one starting earliest in a, then earliest
 * in b), then does the same on the pieces left and right of it. Another
 * diff (LCS, Myers) would pick other words on prompts with repeated words,
 * so the algorithm below follows difflib's rules step for step. With no
 * junk function and autojunk off, difflib has no junk and no "popular"
 * elements, so its junk-extension passes never fire.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-edit-words"

#include "config.h"

#include "fa-edit-words.h"

#include <string.h>

#include "fa-error.h"

typedef struct {
  int i, j, size;
} Block;

typedef struct {
  int alo, ahi, blo, bhi;
} Range;

/* Words as small integers, so the matcher compares ints. */
typedef struct {
  const int *a; /* ids of a's words; -1: not a word of b */
  const int *b;
  int n_a, n_b;
  const int *first; /* per id: its first position in b */
  const int *next;  /* per position in b: the next one of the same id, or -1 */
  /* The run lengths of the previous and the current row of a, each entry
   * valid only when its stamp is that row's number: clearing whole rows
   * would cost O(n_b) per word of a. */
  int *len[2];
  gint64 *stamp[2];
  gint64 row;
} Matcher;

/* difflib's find_longest_match: over a[alo:ahi] × b[blo:bhi], for each i
 * in order and each j with b[j] == a[i] in order, the run ending at (i, j)
 * is one longer than the one ending at (i−1, j−1); a run replaces the best
 * only when strictly longer, which gives the earliest-in-a, then
 * earliest-in-b tie-break. */
static Block
find_longest_match (Matcher *m, int alo, int ahi, int blo, int bhi)
{
  Block best = { alo, blo, 0 };

  /* The loop leaves row one past the last row of the previous call; one
   * more makes a gap, so this call's first row reads no run of that row. */
  m->row++;
  for (int i = alo; i < ahi; i++, m->row++)
    {
      const int *prev_len = m->len[(m->row + 1) & 1];
      const gint64 *prev_stamp = m->stamp[(m->row + 1) & 1];
      int *cur_len = m->len[m->row & 1];
      gint64 *cur_stamp = m->stamp[m->row & 1];

      if (m->a[i] < 0)
        continue;
      for (int j = m->first[m->a[i]]; j >= 0; j = m->next[j])
        {
          if (j < blo)
            continue;
          if (j >= bhi)
            break;
          int k = 1;
          if (j > blo && prev_stamp[j - 1] == m->row - 1)
            k = prev_len[j - 1] + 1;
          cur_len[j] = k;
          cur_stamp[j] = m->row;
          if (k > best.size)
            best = (Block) { i - k + 1, j - k + 1, k };
        }
    }

  /* difflib's extension by equal non-junk neighbours; without junk the run
   * found is already maximal, but following it keeps us exact. */
  while (best.i > alo && best.j > blo && m->a[best.i - 1] >= 0
         && m->a[best.i - 1] == m->b[best.j - 1])
    best = (Block) { best.i - 1, best.j - 1, best.size + 1 };
  while (best.i + best.size < ahi && best.j + best.size < bhi && m->a[best.i + best.size] >= 0
         && m->a[best.i + best.size] == m->b[best.j + best.size])
    best.size++;
  return best;
}

static int
compare_blocks (gconstpointer pa, gconstpointer pb)
{
  const Block *x = pa, *y = pb;

  if (x->i != y->i)
    return x->i < y->i ? -1 : 1;
  if (x->j != y->j)
    return x->j < y->j ? -1 : 1;
  return (x->size > y->size) - (x->size < y->size);
}

FaEditOpcode *
fa_edit_diff_opcodes (const char *const *a, int n_a, const char *const *b, int n_b, int *n_opcodes)
{
  g_return_val_if_fail (n_a >= 0 && n_b >= 0, NULL);
  g_return_val_if_fail ((a != NULL || n_a == 0) && (b != NULL || n_b == 0), NULL);
  g_return_val_if_fail (n_opcodes != NULL, NULL);

  g_autoptr (GHashTable) ids = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree int *a_ids = g_new (int, MAX (n_a, 1));
  g_autofree int *b_ids = g_new (int, MAX (n_b, 1));
  g_autofree int *first = g_new (int, MAX (n_b, 1));
  g_autofree int *next = g_new (int, MAX (n_b, 1));
  g_autofree int *len0 = g_new0 (int, MAX (n_b, 1));
  g_autofree int *len1 = g_new0 (int, MAX (n_b, 1));
  g_autofree gint64 *stamp0 = g_new (gint64, MAX (n_b, 1));
  g_autofree gint64 *stamp1 = g_new (gint64, MAX (n_b, 1));
  int n_ids = 0;

  for (int j = 0; j < n_b; j++)
    {
      gpointer value;
      if (g_hash_table_lookup_extended (ids, b[j], NULL, &value))
        b_ids[j] = GPOINTER_TO_INT (value);
      else
        {
          b_ids[j] = n_ids++;
          g_hash_table_insert (ids, (gpointer) b[j], GINT_TO_POINTER (b_ids[j]));
        }
    }
  for (int i = 0; i < n_a; i++)
    {
      gpointer value;
      a_ids[i] = g_hash_table_lookup_extended (ids, a[i], NULL, &value) ? GPOINTER_TO_INT (value)
                                                                        : -1;
    }
  /* difflib's b2j: the positions of each word in b, ascending. */
  for (int id = 0; id < n_ids; id++)
    first[id] = -1;
  for (int j = n_b - 1; j >= 0; j--)
    {
      next[j] = first[b_ids[j]];
      first[b_ids[j]] = j;
    }
  for (int j = 0; j < n_b; j++)
    stamp0[j] = stamp1[j] = G_MININT64;

  Matcher m = {
    .a = a_ids, .b = b_ids, .n_a = n_a, .n_b = n_b, .first = first, .next = next,
    .len = { len0, len1 }, .stamp = { stamp0, stamp1 }, .row = 0,
  };

  /* get_matching_blocks: a work list instead of recursion (as difflib), the
   * blocks sorted at the end, so the order the ranges are taken in does not
   * matter. */
  g_autoptr (GArray) queue = g_array_new (FALSE, FALSE, sizeof (Range));
  g_autoptr (GArray) blocks = g_array_new (FALSE, FALSE, sizeof (Block));
  Range all = { 0, n_a, 0, n_b };
  g_array_append_val (queue, all);
  while (queue->len > 0)
    {
      Range r = g_array_index (queue, Range, queue->len - 1);
      g_array_set_size (queue, queue->len - 1);
      Block x = find_longest_match (&m, r.alo, r.ahi, r.blo, r.bhi);
      if (x.size == 0)
        continue;
      g_array_append_val (blocks, x);
      if (r.alo < x.i && r.blo < x.j)
        {
          Range left = { r.alo, x.i, r.blo, x.j };
          g_array_append_val (queue, left);
        }
      if (x.i + x.size < r.ahi && x.j + x.size < r.bhi)
        {
          Range right = { x.i + x.size, r.ahi, x.j + x.size, r.bhi };
          g_array_append_val (queue, right);
        }
    }
  g_array_sort (blocks, compare_blocks);

  /* Adjacent blocks merged into one, then difflib's closing (n_a, n_b, 0). */
  g_autoptr (GArray) merged = g_array_new (FALSE, FALSE, sizeof (Block));
  Block run = { 0, 0, 0 };
  for (guint k = 0; k < blocks->len; k++)
    {
      Block x = g_array_index (blocks, Block, k);
      if (run.i + run.size == x.i && run.j + run.size == x.j)
        run.size += x.size;
      else
        {
          if (run.size > 0)
            g_array_append_val (merged, run);
          run = x;
        }
    }
  if (run.size > 0)
    g_array_append_val (merged, run);
  Block end = { n_a, n_b, 0 };
  g_array_append_val (merged, end);

  /* get_opcodes: the gap before each block, then the block. */
  /* Reserved, so that no opcodes still gives a non-NULL array. */
  GArray *opcodes = g_array_sized_new (FALSE, FALSE, sizeof (FaEditOpcode), 2 * merged->len);
  int i = 0, j = 0;
  for (guint k = 0; k < merged->len; k++)
    {
      Block x = g_array_index (merged, Block, k);
      if (i < x.i || j < x.j)
        {
          FaEditOpcode op = { FA_EDIT_OP_REPLACE, i, x.i, j, x.j };
          if (i >= x.i)
            op.tag = FA_EDIT_OP_INSERT;
          else if (j >= x.j)
            op.tag = FA_EDIT_OP_DELETE;
          g_array_append_val (opcodes, op);
        }
      i = x.i + x.size;
      j = x.j + x.size;
      if (x.size > 0)
        {
          FaEditOpcode op = { FA_EDIT_OP_EQUAL, x.i, i, x.j, j };
          g_array_append_val (opcodes, op);
        }
    }
  *n_opcodes = (int) opcodes->len;
  return (FaEditOpcode *) g_array_free (opcodes, FALSE);
}

char **
fa_edit_split_words (const char *text, int *n_words)
{
  GPtrArray *words = g_ptr_array_new ();
  const char *start = text;

  for (const char *space; (space = strchr (start, ' ')) != NULL; start = space + 1)
    g_ptr_array_add (words, g_strndup (start, space - start));
  g_ptr_array_add (words, g_strdup (start));
  *n_words = (int) words->len;
  g_ptr_array_add (words, NULL);
  return (char **) g_ptr_array_free (words, FALSE);
}

/* Marks, in @flags (one per word of @target_words), the diff's changed
 * target words; returns how many. */
static int
mark_changed_words (const char *source, char **target_words, int n_target, gboolean *flags)
{
  g_autofree char *clean_source = fa_prompt_clean (source);
  int n_source, n_opcodes, n_changed = 0;
  g_auto (GStrv) source_words = fa_edit_split_words (clean_source, &n_source);
  g_autofree FaEditOpcode *opcodes
      = fa_edit_diff_opcodes ((const char *const *) source_words, n_source,
                              (const char *const *) target_words, n_target, &n_opcodes);

  for (int k = 0; k < n_opcodes; k++)
    if (opcodes[k].tag == FA_EDIT_OP_REPLACE || opcodes[k].tag == FA_EDIT_OP_INSERT)
      for (int w = opcodes[k].j1; w < opcodes[k].j2; w++)
        {
          flags[w] = TRUE;
          n_changed++;
        }
  return n_changed;
}

int *
fa_edit_changed_words (const char *source, const char *target, int *n_words)
{
  g_return_val_if_fail (source != NULL && target != NULL, NULL);
  g_return_val_if_fail (n_words != NULL, NULL);

  g_autofree char *clean_target = fa_prompt_clean (target);
  int n_target;
  g_auto (GStrv) target_words = fa_edit_split_words (clean_target, &n_target);
  g_autofree gboolean *flags = g_new0 (gboolean, n_target);
  int n_changed = mark_changed_words (source, target_words, n_target, flags);
  int *changed = g_new (int, MAX (n_changed, 1));
  int n = 0;

  for (int w = 0; w < n_target; w++)
    if (flags[w])
      changed[n++] = w;
  *n_words = n;
  return changed;
}

gboolean
fa_edit_mark_named_words (const char *word, char **target_words, int n_target, gboolean *flags)
{
  g_autofree char *clean = fa_prompt_clean (word);
  int n_run;
  gboolean found = FALSE;

  if (clean[0] == '\0')
    return FALSE;
  g_auto (GStrv) run = fa_edit_split_words (clean, &n_run);
  for (int start = 0; start + n_run <= n_target; start++)
    {
      int k = 0;
      while (k < n_run && strcmp (run[k], target_words[start + k]) == 0)
        k++;
      if (k < n_run)
        continue;
      for (k = 0; k < n_run; k++)
        flags[start + k] = TRUE;
      found = TRUE;
    }
  return found;
}

/* fa_edit_mark_named_words, with the reason when @word names nothing */
static gboolean
mark_named_words (const char *word, char **target_words, int n_target, gboolean *flags,
                  GError **error)
{
  if (fa_edit_mark_named_words (word, target_words, n_target, flags))
    return TRUE;

  g_autofree char *clean = fa_prompt_clean (word);
  if (clean[0] == '\0')
    g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                 "The word “%s” picked for the edit is empty after cleaning", word);
  else
    g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                 "The word “%s” picked for the edit is not in the target prompt", clean);
  return FALSE;
}

int *
fa_edit_target_tokens (FaTokenizer *tokenizer, const char *source, const char *target,
                       const char *const *words, guint max_length, int *n_tokens, GError **error)
{
  g_return_val_if_fail (tokenizer != NULL, NULL);
  g_return_val_if_fail (target != NULL, NULL);
  g_return_val_if_fail (n_tokens != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (words == NULL && source == NULL)
    {
      g_set_error_literal (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                           "The target tokens need the source prompt or picked words");
      return NULL;
    }

  g_autofree char *clean_target = fa_prompt_clean (target);
  int n_target;
  g_auto (GStrv) target_words = fa_edit_split_words (clean_target, &n_target);
  g_autofree gboolean *flags = g_new0 (gboolean, n_target);

  if (words == NULL)
    mark_changed_words (source, target_words, n_target, flags);
  else
    for (const char *const *word = words; *word != NULL; word++)
      if (!mark_named_words (*word, target_words, n_target, flags, error))
        return NULL;

  g_autoptr (FaTokenization) tokens
      = fa_tokenizer_encode (tokenizer, clean_target, max_length, error);
  if (tokens == NULL)
    return NULL;

  int *positions = g_new (int, MAX (tokens->n, 1));
  int n = 0;
  for (guint p = 0; p < tokens->n; p++)
    {
      gint32 w = tokens->word_index[p];
      /* </s> has no word; an index past our words would be a tokenizer that
       * splits words otherwise than on spaces, and then no word of ours is
       * named by it. */
      if (w >= 0 && w < n_target && flags[w])
        positions[n++] = (int) p;
    }
  *n_tokens = n;
  return positions;
}
