/* fa-tokenizer.h: the Hugging Face tokenizer.json of umT5 (spec B.4): its
 * normalizer chain (SentencePiece precompiled charsmap, Replace, …),
 * Metaspace pre-tokenizer, Unigram model (Viterbi over piece scores,
 * unknown handling, byte fallback when the file enables it) and the
 * post-processor that appends </s>. The structure is read from the file;
 * nothing about the vocabulary is hard-coded.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _FaTokenizer FaTokenizer;

/* @path: a tokenizer.json, or a folder holding one. A malformed file, or a
 * model, normalizer, pre-tokenizer or post-processor type this tokenizer
 * does not implement, is a GError naming it. */
FaTokenizer *fa_tokenizer_load (const char *path, GError **error);
void         fa_tokenizer_free (FaTokenizer *tokenizer);

guint        fa_tokenizer_get_vocab_size (FaTokenizer *tokenizer);
gint32       fa_tokenizer_get_pad_id (FaTokenizer *tokenizer);
gint32       fa_tokenizer_get_eos_id (FaTokenizer *tokenizer);
gint32       fa_tokenizer_get_unk_id (FaTokenizer *tokenizer);
/* The piece of @id ("▁red", "<0x41>", "</s>"), or NULL when out of range. */
const char  *fa_tokenizer_id_to_piece (FaTokenizer *tokenizer, gint32 id);

/* Wan's prompt cleaning before tokenising (spec B.4): HTML entities
 * unescaped twice, whitespace runs (Unicode whitespace) to one space, ends
 * stripped. ftfy's text fixes are not applied (as diffusers without ftfy). */
char        *fa_prompt_clean (const char *text);
/* The same for @length bytes (-1: up to the NUL), which may hold NUL
 * characters; the result's length goes to @out_length (may be NULL).
 * Invalid UTF-8 is read as U+FFFD. */
char        *fa_prompt_clean_len (const char *text, gssize length, gsize *out_length);

typedef struct {
  gint32 *ids;        /* n ids, </s> included */
  guint n;
  guint n_untruncated; /* how many ids there were before truncation */
  /* For each id: the index of the space-separated word of the input text
   * it belongs to (a lone "▁" piece belongs to the word after it), or -1
   * for </s>; and the byte range [start, end) of the input it covers (the
   * "▁" the pre-tokenizer prepends covers nothing; </s> has the empty range
   * at the end of the text; the byte-fallback pieces of a run of
   * characters no piece covers all have the run's range). */
  gint32 *word_index;
  guint32 *byte_start;
  guint32 *byte_end;
  guint n_words;       /* words in the input (split on single spaces, as
                        * Python's text.split(" "): an empty text is one
                        * empty word) */
} FaTokenization;

/* Tokenises @text as given (clean it first with fa_prompt_clean, as Wan
 * does). @max_length > 0 truncates to that many ids with </s> kept last
 * (≤ max_length − 1 pieces + </s>); 0 keeps everything. */
FaTokenization *fa_tokenizer_encode (FaTokenizer *tokenizer, const char *text, guint max_length,
                                     GError **error);
/* The same for @length bytes (-1: up to the NUL), which may hold NUL
 * characters. Text that is not UTF-8 is FA_ERROR_INVALID_ARGUMENT. */
FaTokenization *fa_tokenizer_encode_len (FaTokenizer *tokenizer, const char *text, gssize length,
                                         guint max_length, GError **error);
void            fa_tokenization_free (FaTokenization *tokenization);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaTokenizer, fa_tokenizer_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaTokenization, fa_tokenization_free)

G_END_DECLS
