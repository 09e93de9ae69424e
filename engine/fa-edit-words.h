/* fa-edit-words.h: the target tokens J of SAR (spec section 5 and choice 8
 * of tools/reference/docs/edit.md): the pieces of the words the target
 * prompt changes or adds, by a word-level diff of the cleaned prompts, or
 * of words the user picked.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "fa-tokenizer.h"

G_BEGIN_DECLS

/* Word indices (0-based, in the cleaned target split on single spaces) of
 * the target words in a `replace` or `insert` block of the diff against
 * the cleaned source, as Python's difflib.SequenceMatcher(autojunk=False)
 * aligns the two word lists (exact, case-sensitive). Sorted; *@n_words
 * gets the count (0 when the prompts have the same words). The result is
 * never NULL (free it with g_free). */
int     *fa_edit_changed_words (const char *source, const char *target, int *n_words);

/* J: the sorted positions, in the tokenisation of the cleaned @target
 * (truncated to @max_length ids with </s> kept, as the encoder sees it;
 * 0 keeps everything), of every piece of the chosen words. The words are
 * the diff's (above) when @words is NULL, else each string of @words
 * (NULL-terminated) names target words by text after cleaning (every
 * occurrence counts; @source is not read and may be NULL); a word that is
 * not in the target is FA_ERROR_INVALID_ARGUMENT naming it. A string
 * that cleans to several words names that run of consecutive target words.
 * Never </s> or padding; pieces lost to truncation are left out.
 * *@n_tokens gets the count; the result may be empty (SAR then has nothing
 * to do) but is NULL only on error (free it with g_free). */
int     *fa_edit_target_tokens (FaTokenizer *tokenizer, const char *source, const char *target,
                                const char *const *words, guint max_length, int *n_tokens,
                                GError **error);

/* Sets @flags[i] for every target word in each run of consecutive words
 * of @target_words (@n_target of them, as fa_edit_split_words gives) that
 * @word, cleaned and split, names. FALSE when it names none (or cleans to
 * nothing). */
gboolean fa_edit_mark_named_words (const char *word, char **target_words, int n_target,
                                   gboolean *flags);

/* Python's text.split(" "), how the prompts are split into words: every
 * single space separates, so an empty text is one empty word (g_strsplit
 * would give none). *@n_words gets the count. */
char  **fa_edit_split_words (const char *text, int *n_words);

/* The diff itself, for the callers above and for tests: the opcodes of
 * difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes() on
 * the string lists @a (@n_a entries) and @b (@n_b), compared exactly. */
typedef enum {
  FA_EDIT_OP_EQUAL,
  FA_EDIT_OP_REPLACE,
  FA_EDIT_OP_DELETE,
  FA_EDIT_OP_INSERT,
} FaEditOpTag;

typedef struct {
  FaEditOpTag tag;
  int i1, i2; /* a[i1:i2] */
  int j1, j2; /* b[j1:j2] */
} FaEditOpcode;

/* *@n_opcodes gets the count (0 only when both lists are empty); never
 * NULL (free it with g_free). */
FaEditOpcode *fa_edit_diff_opcodes (const char *const *a, int n_a, const char *const *b, int n_b,
                                    int *n_opcodes);

G_END_DECLS
