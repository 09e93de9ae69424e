/* The target tokens J of SAR (engine/fa-edit-words.h): the golden J of
 * tests/data/goldens/edit-inputs.safetensors, the word diff on cases whose
 * difflib opcodes are derived by hand below (and on random lists against a
 * brute-force reading of difflib's find_longest_match contract), picked
 * words, and truncation.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <json-glib/json-glib.h>
#include <string.h>

#include "fa-edit-words.h"
#include "fa-error.h"
#include "fa-safetensors.h"
#include "fa-test-util.h"
#include "fa-tokenizer.h"

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

/* A u8 prompt tensor as a string (the prompts hold no NUL). */
static char *
golden_prompt (FaSafetensors *file, const char *name)
{
  const FaSafetensorsEntry *entry = golden_entry (file, name, FA_DTYPE_U8);
  g_assert_null (memchr (entry->data, 0, entry->nbytes));
  return g_strndup (entry->data, entry->nbytes);
}

static gint64
golden_i64 (const FaSafetensorsEntry *entry, gsize k)
{
  gint64 value;
  g_assert_cmpuint (8 * (k + 1), <=, entry->nbytes);
  memcpy (&value, (const guint8 *) entry->data + 8 * k, 8);
  return value;
}

static void
assert_ints (const char *what, const int *got, int n_got, const int *expected, int n_expected)
{
  g_autoptr (GString) text = g_string_new (NULL);
  gboolean same = n_got == n_expected;

  for (int k = 0; same && k < n_got; k++)
    same = got[k] == expected[k];
  if (same)
    return;
  g_string_append_printf (text, "%s: got [", what);
  for (int k = 0; k < n_got; k++)
    g_string_append_printf (text, "%s%d", k ? ", " : "", got[k]);
  g_string_append (text, "], expected [");
  for (int k = 0; k < n_expected; k++)
    g_string_append_printf (text, "%s%d", k ? ", " : "", expected[k]);
  g_string_append (text, "]");
  g_error ("%s", text->str);
}

/* ---- the golden ---- */

static void
test_golden (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaSafetensors) file = fa_safetensors_open (golden_path, &error);
  g_assert_no_error (error);
  g_autoptr (FaTokenizer) tokenizer = load_tiny ();
  g_autofree char *source = golden_prompt (file, "prompt.src");
  g_autofree char *target = golden_prompt (file, "prompt.tar");
  const FaSafetensorsEntry *j_entry = golden_entry (file, "J", FA_DTYPE_I64);
  int n_expected = (int) (j_entry->nbytes / 8);
  g_autofree int *expected = g_new (int, MAX (n_expected, 1));
  for (int k = 0; k < n_expected; k++)
    expected[k] = (int) golden_i64 (j_entry, k);
  g_assert_cmpint (n_expected, >, 0);

  int n_tokens = -1;
  g_autofree int *J = fa_edit_target_tokens (tokenizer, source, target, NULL, TEXT_LEN, &n_tokens,
                                             &error);
  g_assert_no_error (error);
  assert_ints ("golden J", J, n_tokens, expected, n_expected);

  /* The changed words against the generator's metadata (a JSON list). */
  const char *meta = fa_safetensors_get_metadata (file, "changed_target_words");
  g_assert_nonnull (meta);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_data (parser, meta, -1, &error));
  g_assert_no_error (error);
  JsonArray *array = json_node_get_array (json_parser_get_root (parser));
  int n_words_expected = (int) json_array_get_length (array);
  g_autofree int *words_expected = g_new (int, MAX (n_words_expected, 1));
  for (int k = 0; k < n_words_expected; k++)
    words_expected[k] = (int) json_array_get_int_element (array, k);
  int n_words = -1;
  g_autofree int *words = fa_edit_changed_words (source, target, &n_words);
  assert_ints ("golden changed words", words, n_words, words_expected, n_words_expected);

  /* The same words picked by hand give the same J. */
  const char *picked[] = { "shiny", "blue", "cube", "green", NULL };
  g_autofree int *J_picked = fa_edit_target_tokens (tokenizer, NULL, target, picked, TEXT_LEN,
                                                    &n_tokens, &error);
  g_assert_no_error (error);
  assert_ints ("golden J by picked words", J_picked, n_tokens, expected, n_expected);
}

/* A small max_length keeps ≤ max_length − 1 pieces and </s>: J is the
 * golden J less the positions cut off, and never the </s> position. */
static void
test_truncation (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaSafetensors) file = fa_safetensors_open (golden_path, &error);
  g_assert_no_error (error);
  g_autoptr (FaTokenizer) tokenizer = load_tiny ();
  g_autofree char *source = golden_prompt (file, "prompt.src");
  g_autofree char *target = golden_prompt (file, "prompt.tar");
  const FaSafetensorsEntry *j_entry = golden_entry (file, "J", FA_DTYPE_I64);
  const FaSafetensorsEntry *n_real = golden_entry (file, "n_real", FA_DTYPE_I64);
  int n_golden = (int) (j_entry->nbytes / 8);
  int n_real_tar = (int) golden_i64 (n_real, 1);

  for (guint max_length = 0; max_length <= (guint) n_real_tar + 2; max_length++)
    {
      int n_tokens = -1, n_expected = 0;
      g_autofree int *J = fa_edit_target_tokens (tokenizer, source, target, NULL, max_length,
                                                 &n_tokens, &error);
      g_assert_no_error (error);
      g_assert_nonnull (J);
      g_autofree int *expected = g_new (int, n_golden);
      for (int k = 0; k < n_golden; k++)
        {
          int p = (int) golden_i64 (j_entry, k);
          if (max_length == 0 || p < (int) max_length - 1)
            expected[n_expected++] = p;
        }
      g_autofree char *what = g_strdup_printf ("J at max_length %u", max_length);
      assert_ints (what, J, n_tokens, expected, n_expected);
      /* </s> sits last: at min(max_length, n_real) − 1. */
      guint eos = (max_length == 0 ? (guint) n_real_tar : MIN (max_length, (guint) n_real_tar)) - 1;
      for (int k = 0; k < n_tokens; k++)
        g_assert_cmpint (J[k], <, (int) eos);
    }
}

/* ---- the word diff ---- */

static int *
changed (const char *source, const char *target, int *n)
{
  *n = -1;
  int *words = fa_edit_changed_words (source, target, n);
  g_assert_nonnull (words);
  g_assert_cmpint (*n, >=, 0);
  return words;
}

#define ASSERT_CHANGED(source, target, ...)                                              \
  G_STMT_START {                                                                         \
    const int expected_[] = { -1, __VA_ARGS__ };                                         \
    int n_;                                                                              \
    g_autofree int *got_ = changed ((source), (target), &n_);                            \
    assert_ints ("changed words of \"" source "\" → \"" target "\"", got_, n_,           \
                 expected_ + 1, (int) G_N_ELEMENTS (expected_) - 1);                     \
  } G_STMT_END

/* Opcodes as text, "tag i1 i2 j1 j2" joined by "; ", for readable checks. */
static char *
opcodes_text (const char *a_text, const char *b_text)
{
  g_auto (GStrv) a = a_text[0] ? g_strsplit (a_text, " ", -1) : g_new0 (char *, 1);
  g_auto (GStrv) b = b_text[0] ? g_strsplit (b_text, " ", -1) : g_new0 (char *, 1);
  static const char *const names[] = { "equal", "replace", "delete", "insert" };
  int n = -1;
  g_autofree FaEditOpcode *ops = fa_edit_diff_opcodes ((const char *const *) a, g_strv_length (a),
                                                       (const char *const *) b, g_strv_length (b),
                                                       &n);
  GString *text = g_string_new (NULL);

  g_assert_nonnull (ops);
  for (int k = 0; k < n; k++)
    g_string_append_printf (text, "%s%s %d %d %d %d", k ? "; " : "", names[ops[k].tag], ops[k].i1,
                            ops[k].i2, ops[k].j1, ops[k].j2);
  return g_string_free (text, FALSE);
}

#define ASSERT_OPCODES(a, b, expected)                                                   \
  G_STMT_START {                                                                         \
    g_autofree char *got_ = opcodes_text ((a), (b));                                     \
    g_assert_cmpstr (got_, ==, (expected));                                              \
  } G_STMT_END

static void
test_diff_identical (void)
{
  /* One run covers both lists: a single equal block, then the closing
   * (3, 3, 0) gives no gap. */
  ASSERT_OPCODES ("a red ball", "a red ball", "equal 0 3 0 3");
  ASSERT_CHANGED ("a red ball", "a red ball");
  /* Two empty lists: no block at all. */
  ASSERT_OPCODES ("", "", "");
  /* "" and "" are each one empty word (Python's "".split(" ")), equal. */
  ASSERT_CHANGED ("", "");
  /* Cleaning removes whitespace runs and ends before the split, so these
   * are the same three words. */
  ASSERT_CHANGED ("  a   red\tball \n", "a red ball");
  ASSERT_CHANGED ("a red ball", "a red&nbsp;ball");
}

static void
test_diff_insert (void)
{
  /* a = [a, ball], b = [a, red, ball]. Row i=0 "a" matches j=0, run 1:
   * best (0,0,1). Row i=1 "ball" matches j=2; (1,1) was no run, so 1, not
   * longer. Left of (0,0): empty. Right: a[1:2] × b[1:3] gives (1,2,1).
   * Blocks (0,0,1), (1,2,1) are not adjacent (0+1 = 1 but 0+1 ≠ 2). */
  ASSERT_OPCODES ("a ball", "a red ball", "equal 0 1 0 1; insert 1 1 1 2; equal 1 2 2 3");
  ASSERT_CHANGED ("a ball", "a red ball", 1);
  /* Into an empty list: no block; the closing (0, 2, 0) leaves insert. */
  ASSERT_OPCODES ("", "red ball", "insert 0 0 0 2");
  /* Appended at the end: the one run (0,0,3), then the gap to (3,5,0). */
  ASSERT_CHANGED ("a red ball", "a red ball on grass", 3, 4);
}

static void
test_diff_replace (void)
{
  /* a = [a, red, ball, rolls], b = [a, blue, cube, rolls]. Rows: "a" →
   * (0,0,1); "red", "ball" match nothing; "rolls" → j=3, run 1, not longer.
   * Best (0,0,1). Right a[1:4] × b[1:4]: only "rolls" → (3,3,1); its left
   * a[1:3] × b[1:3] has no match. Gap (1..3, 1..3) on both sides: replace. */
  ASSERT_OPCODES ("a red ball rolls", "a blue cube rolls",
                  "equal 0 1 0 1; replace 1 3 1 3; equal 3 4 3 4");
  ASSERT_CHANGED ("a red ball rolls", "a blue cube rolls", 1, 2);
  /* The CPython docstring pair, letter by letter: a = q a b x c d,
   * b = a b y c d f. Rows: "a" → (1,0,1); "b" extends (0,0)'s run of
   * ending at (1,0) to 2 → (1,0,2); "c" → 1, "d" → 2, not longer. Best
   * (1,0,2). Left needs blo < 0: none. Right a[3:6] × b[2:6]: "c" (4,3,1),
   * "d" run 2 → (4,3,2); its left a[3:4] × b[2:3] (x vs y) is empty, its
   * right a[6:6] nothing. Gaps: (0..1, 0..0) delete, (3..4, 2..3)
   * replace, (6..6, 5..6) insert. */
  ASSERT_OPCODES ("q a b x c d", "a b y c d f",
                  "delete 0 1 0 0; equal 1 3 0 2; replace 3 4 2 3; equal 4 6 3 5; insert 6 6 5 6");
}

static void
test_diff_delete (void)
{
  /* a = [a, big, red, ball], b = [a, red, ball]. Rows: "a" → (0,0,1);
   * "big" nothing; "red" → j=1, run 1; "ball" → j=2 extends (2,1)'s run to
   * 2 → best (2,1,2). Left a[0:2] × b[0:1]: "a" → (0,0,1). Gap (1..2,
   * 1..1): delete, which changes no target word. */
  ASSERT_OPCODES ("a big red ball", "a red ball", "equal 0 1 0 1; delete 1 2 1 1; equal 2 4 1 3");
  ASSERT_CHANGED ("a big red ball", "a red ball");
  /* Deleting and inserting: only the inserted word counts. a = [a, big,
   * ball], b = [a, ball, rolls]: "a" → (0,0,1); "ball" j=1, run 1, not
   * longer. Right a[1:3] × b[1:3]: "ball" → (2,1,1); nothing left of it
   * in b (1 < 1 fails), nothing right of it in a (3 < 3 fails). Gaps: delete (1..2, 1..1), insert
   * (3..3, 2..3). */
  ASSERT_OPCODES ("a big ball", "a ball rolls",
                  "equal 0 1 0 1; delete 1 2 1 1; equal 2 3 1 2; insert 3 3 2 3");
  ASSERT_CHANGED ("a big ball", "a ball rolls", 2);
}

static void
test_diff_tie_break (void)
{
  /* a = [x, y], b = [y, x]: two runs of 1. Row i=0 "x" meets j=1 first:
   * best (0,1,1); row i=1 "y" at j=0 is 1, not longer. Left of (0,1):
   * alo < 0 fails; right: b[2:2] empty. So "x" is kept and b's "y" (word
   * 0) is inserted; an LCS diff could as well keep "y" and change word 1. */
  ASSERT_OPCODES ("x y", "y x", "insert 0 0 0 1; equal 0 1 1 2; delete 1 2 2 2");
  ASSERT_CHANGED ("x y", "y x", 0);
  /* The same row, two places in b: a = [red], b = [red, red]. Row 0 meets
   * j=0 first (b2j lists ascend): best (0,0,1); j=1 is not longer. */
  ASSERT_OPCODES ("red", "red red", "equal 0 1 0 1; insert 1 1 1 2");
  ASSERT_CHANGED ("red", "red red", 1);
  /* a = [a, cat, and, a, dog], b = [a, dog, and, a, cat]; b2j: a [0, 3],
   * dog [1], and [2], cat [4]. Row 0 "a": j=0 → 1 (best (0,0,1)), j=3 → 1.
   * Row 1 "cat": j=4 extends (0,3) → 2, best (0,3,2). Row 2 "and": j=2,
   * (1,1) no run → 1. Row 3 "a": j=0 → 1; j=3 extends (2,2) → 2, tie, kept
   * out. Row 4 "dog": j=1 extends (3,0) → 2, tie, kept out. Three runs of
   * 2 ("a cat", "and a", "a dog"); the earliest in a wins: a[0:2] =
   * b[3:5]. Left needs alo < 0; right b[5:5] is empty. So "a dog and" is
   * inserted (words 0..2), not "and a cat". */
  ASSERT_OPCODES ("a cat and a dog", "a dog and a cat",
                  "insert 0 0 0 3; equal 0 2 3 5; delete 2 5 5 5");
  ASSERT_CHANGED ("a cat and a dog", "a dog and a cat", 0, 1, 2);
  /* The longest run wins over an earlier shorter one: a = [a, b, c, a, b,
   * c, d], b = [x, a, b, c, d]. Row 0..2 build (0,1,3); rows 3..6 build
   * (3,1) → 1, 2, 3 (tie, kept out), then "d" at (6,4) extends to 4: best
   * (3,1,4). Left a[0:3] × b[0:1] ("x"): none. So a[0:3] is deleted and
   * b's "x" (word 0) inserted. */
  ASSERT_OPCODES ("a b c a b c d", "x a b c d", "replace 0 3 0 1; equal 3 7 1 5");
  ASSERT_CHANGED ("a b c a b c d", "x a b c d", 0);
}

static void
test_diff_case_and_punctuation (void)
{
  /* Exact, case-sensitive: "Red" ≠ "red". Best (0,0,1) "a"; right
   * a[1:3] × b[1:3]: "ball" (2,2,1); its left (1..2, 1..2) has no match:
   * replace. */
  ASSERT_OPCODES ("a Red ball", "a red ball", "equal 0 1 0 1; replace 1 2 1 2; equal 2 3 2 3");
  ASSERT_CHANGED ("a Red ball", "a red ball", 1);
  /* Punctuation stays on its word: "grass." ≠ "grass". Best (0,0,4);
   * right a[4:5] × b[4:5] has no match: replace word 4. */
  ASSERT_CHANGED ("a ball on the grass", "a ball on the grass.", 4);
  ASSERT_CHANGED ("a ball, on grass", "a ball on grass", 1);
  /* Double spaces: without cleaning b would be [a, "", blue, ball] and the
   * empty word would count as inserted; cleaned it is [a, blue, ball]:
   * best (0,0,1), then "ball" (2,2,1), gap (1..2, 1..2) replace. */
  ASSERT_CHANGED ("a red ball", "a  blue ball", 1);
  ASSERT_CHANGED ("a  red ball", "a red  ball");
}

/* difflib's find_longest_match contract, read literally: among all (i, j,
 * k) with a[i:i+k] = b[j:j+k] inside the ranges, the largest k, then the
 * smallest i, then the smallest j. Brute force, then the same recursion
 * and gap rules as get_matching_blocks and get_opcodes. */
static void
brute_blocks (const int *a, const int *b, int alo, int ahi, int blo, int bhi, GArray *blocks)
{
  int bi = alo, bj = blo, bk = 0;

  for (int i = alo; i < ahi; i++)
    for (int j = blo; j < bhi; j++)
      {
        int k = 0;
        while (i + k < ahi && j + k < bhi && a[i + k] == b[j + k])
          k++;
        if (k > bk || (k == bk && k > 0 && (i < bi || (i == bi && j < bj))))
          bi = i, bj = j, bk = k;
      }
  if (bk == 0)
    return;
  /* Recursion order matches the result order: left, block, right. */
  if (alo < bi && blo < bj)
    brute_blocks (a, b, alo, bi, blo, bj, blocks);
  int block[3] = { bi, bj, bk };
  g_array_append_vals (blocks, block, 3);
  if (bi + bk < ahi && bj + bk < bhi)
    brute_blocks (a, b, bi + bk, ahi, bj + bk, bhi, blocks);
}

static void
test_diff_random (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (8);
  static const char *const alphabet[] = { "a", "b", "c", "d" };

  for (int trial = 0; trial < 3000; trial++)
    {
      int n_a = g_rand_int_range (rand, 0, 12), n_b = g_rand_int_range (rand, 0, 12);
      int n_letters = g_rand_int_range (rand, 1, 5);
      int a[12], b[12];
      const char *a_words[12], *b_words[12];
      for (int i = 0; i < n_a; i++)
        a_words[i] = alphabet[a[i] = g_rand_int_range (rand, 0, n_letters)];
      for (int j = 0; j < n_b; j++)
        b_words[j] = alphabet[b[j] = g_rand_int_range (rand, 0, n_letters)];

      g_autoptr (GArray) blocks = g_array_new (FALSE, FALSE, sizeof (int));
      brute_blocks (a, b, 0, n_a, 0, n_b, blocks);
      /* Without junk, blocks of the recursion are never adjacent, so there
       * is nothing to merge; get_opcodes follows. */
      g_autoptr (GString) expected = g_string_new (NULL);
      int i = 0, j = 0;
      for (guint k = 0; k <= blocks->len / 3; k++)
        {
          int bi = n_a, bj = n_b, bk = 0;
          if (k < blocks->len / 3)
            {
              bi = g_array_index (blocks, int, 3 * k);
              bj = g_array_index (blocks, int, 3 * k + 1);
              bk = g_array_index (blocks, int, 3 * k + 2);
            }
          const char *tag = i < bi && j < bj ? "replace"
                            : i < bi           ? "delete"
                            : j < bj           ? "insert"
                                               : NULL;
          if (tag != NULL)
            g_string_append_printf (expected, "%s%s %d %d %d %d", expected->len ? "; " : "", tag,
                                    i, bi, j, bj);
          i = bi + bk, j = bj + bk;
          if (bk > 0)
            g_string_append_printf (expected, "%sequal %d %d %d %d", expected->len ? "; " : "",
                                    bi, i, bj, j);
        }

      static const char *const names[] = { "equal", "replace", "delete", "insert" };
      int n = -1;
      g_autofree FaEditOpcode *ops = fa_edit_diff_opcodes (a_words, n_a, b_words, n_b, &n);
      g_autoptr (GString) got = g_string_new (NULL);
      for (int k = 0; k < n; k++)
        g_string_append_printf (got, "%s%s %d %d %d %d", k ? "; " : "", names[ops[k].tag],
                                ops[k].i1, ops[k].i2, ops[k].j1, ops[k].j2);
      if (strcmp (got->str, expected->str) != 0)
        g_error ("trial %d: got \"%s\", expected \"%s\"", trial, got->str, expected->str);
    }
}

/* ---- picked words ---- */

/* The pieces at @positions of @text's tokenisation, concatenated, and the
 * other pieces but </s> likewise. */
static void
split_pieces (FaTokenizer *tokenizer, const char *text, const int *positions, int n,
              char **chosen, char **rest)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *clean = fa_prompt_clean (text);
  g_autoptr (FaTokenization) tokens = fa_tokenizer_encode (tokenizer, clean, 0, &error);
  g_assert_no_error (error);
  GString *in = g_string_new (NULL), *out = g_string_new (NULL);
  int k = 0;

  for (guint p = 0; p < tokens->n; p++)
    {
      const char *piece = fa_tokenizer_id_to_piece (tokenizer, tokens->ids[p]);
      if (k < n && positions[k] == (int) p)
        {
          g_string_append (in, piece);
          k++;
        }
      else if (tokens->ids[p] != fa_tokenizer_get_eos_id (tokenizer))
        g_string_append (out, piece);
    }
  g_assert_cmpint (k, ==, n); /* every position is a piece, in order */
  *chosen = g_string_free (in, FALSE);
  *rest = g_string_free (out, FALSE);
}

/* J of @words (NULL-terminated) on @target: its pieces must spell
 * @expected_in, the others @expected_out (words with their "▁"). */
static void
assert_picked (FaTokenizer *tokenizer, const char *target, const char *const *words,
               const char *expected_in, const char *expected_out)
{
  g_autoptr (GError) error = NULL;
  int n = -1;
  g_autofree int *J = fa_edit_target_tokens (tokenizer, NULL, target, words, 0, &n, &error);
  g_assert_no_error (error);
  g_assert_nonnull (J);
  for (int k = 1; k < n; k++)
    g_assert_cmpint (J[k - 1], <, J[k]);
  g_autofree char *in = NULL;
  g_autofree char *out = NULL;
  split_pieces (tokenizer, target, J, n, &in, &out);
  g_assert_cmpstr (in, ==, expected_in);
  g_assert_cmpstr (out, ==, expected_out);
}

static void
test_picked_words (void)
{
  g_autoptr (FaTokenizer) tokenizer = load_tiny ();
  const char *target = "a blue cube and  a blue ball";

  /* Every occurrence counts. */
  assert_picked (tokenizer, target, (const char *[]) { "blue", NULL }, "▁blue▁blue",
                 "▁a▁cube▁and▁a▁ball");
  /* Picked words are cleaned; several words add up. */
  assert_picked (tokenizer, target, (const char *[]) { " cube\t", "ball", NULL }, "▁cube▁ball",
                 "▁a▁blue▁and▁a▁blue");
  /* A phrase names that run of words only. */
  assert_picked (tokenizer, target, (const char *[]) { "blue  ball", NULL }, "▁blue▁ball",
                 "▁a▁blue▁cube▁and▁a");
  /* "a" twice; the same word twice is no different from once. */
  assert_picked (tokenizer, target, (const char *[]) { "a", "a", NULL }, "▁a▁a",
                 "▁blue▁cube▁and▁blue▁ball");
  /* No words: an empty J, not an error. */
  assert_picked (tokenizer, target, (const char *[]) { NULL }, "",
                 "▁a▁blue▁cube▁and▁a▁blue▁ball");
  /* The diff path on the same tokens: only the inserted words. */
  int n = -1;
  g_autoptr (GError) error = NULL;
  g_autofree int *J = fa_edit_target_tokens (tokenizer, "a red cube and a ball", target, NULL, 0,
                                             &n, &error);
  g_assert_no_error (error);
  g_autofree char *in = NULL;
  g_autofree char *out = NULL;
  split_pieces (tokenizer, target, J, n, &in, &out);
  /* a = [a, red, cube, and, a, ball], b = [a, blue, cube, and, a, blue,
   * ball]: best "cube and a" (2,2,3); left a[0:2] × b[0:2] → "a" (0,0,1),
   * then (1..2, 1..2) replace; right a[5:6] × b[5:7] → "ball" (5,6,1),
   * gap (5..5, 5..6) insert. Changed: words 1 and 5, both "blue". */
  g_assert_cmpstr (in, ==, "▁blue▁blue");
  g_assert_cmpstr (out, ==, "▁a▁cube▁and▁a▁ball");
}

static void
test_picked_errors (void)
{
  g_autoptr (FaTokenizer) tokenizer = load_tiny ();
  const char *target = "a blue cube";
  struct {
    const char *words[3];
    const char *fragment;
  } cases[] = {
    { { "green", NULL }, "green" },
    { { "blue", "sphere", NULL }, "sphere" },
    { { "Blue", NULL }, "Blue" },      /* case-sensitive */
    { { "cube.", NULL }, "cube." },    /* punctuation is part of the word */
    { { "cube blue", NULL }, "cube blue" }, /* a phrase must be in order */
    { { "   ", NULL }, "empty" },
  };

  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      g_autoptr (GError) error = NULL;
      int n = -1;
      int *J = fa_edit_target_tokens (tokenizer, "a red cube", target, cases[c].words, 0, &n,
                                      &error);
      g_assert_null (J);
      fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, cases[c].fragment);
    }

  /* Neither a source to diff against nor picked words. */
  g_autoptr (GError) error = NULL;
  int n = -1;
  int *J = fa_edit_target_tokens (tokenizer, NULL, target, NULL, 0, &n, &error);
  g_assert_null (J);
  g_assert_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  const char *srcdir = g_getenv ("FA_TEST_SRCDIR"); /* tests/, set by meson */
  if (srcdir == NULL)
    srcdir = "tests";
  tokenizer_dir = g_build_filename (srcdir, "data", "wan-tiny", "tokenizer", NULL);
  golden_path = g_build_filename (srcdir, "data", "goldens", "edit-inputs.safetensors", NULL);

  g_test_add_func ("/edit-words/golden", test_golden);
  g_test_add_func ("/edit-words/truncation", test_truncation);
  g_test_add_func ("/edit-words/diff/identical", test_diff_identical);
  g_test_add_func ("/edit-words/diff/insert", test_diff_insert);
  g_test_add_func ("/edit-words/diff/replace", test_diff_replace);
  g_test_add_func ("/edit-words/diff/delete", test_diff_delete);
  g_test_add_func ("/edit-words/diff/tie-break", test_diff_tie_break);
  g_test_add_func ("/edit-words/diff/case-and-punctuation", test_diff_case_and_punctuation);
  g_test_add_func ("/edit-words/diff/random", test_diff_random);
  g_test_add_func ("/edit-words/picked", test_picked_words);
  g_test_add_func ("/edit-words/picked-errors", test_picked_errors);

  int status = g_test_run ();
  g_free (tokenizer_dir);
  g_free (golden_path);
  return status;
}
