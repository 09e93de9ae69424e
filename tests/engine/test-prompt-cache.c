/* The prompt cache: round trips, misses, damaged entries recomputed, keys
 * that separate what they must, and the size bound.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gstdio.h>

#include "fa-backend.h"
#include "fa-prompt-cache.h"
#include "fa-test-util.h"

static FaBackend *cpu;

/* Stand-ins for token ids: one id per byte of @text. */
static char *
key_for (const char *weights, const char *text, guint rows)
{
  gsize n = strlen (text);
  g_autofree gint32 *ids = g_new (gint32, n + 1);
  for (gsize i = 0; i < n; i++)
    ids[i] = (guchar) text[i];
  return fa_prompt_cache_key (weights, ids, n, rows);
}

static FaTensor *
context_of (float value, gint64 rows)
{
  FaTensor *t = fa_tensor_new (cpu, FA_DTYPE_F32, 2, (gint64[]) { rows, 8 }, NULL);
  float *data = fa_tensor_get_data (t);
  for (gint64 i = 0; i < rows * 8; i++)
    data[i] = value + (float) i;
  return t;
}

static void
test_round_trip_and_miss (void)
{
  g_autofree char *dir = fa_test_make_folder ("fa-prompt-cache-XXXXXX");
  g_autoptr (GError) error = NULL;
  g_autoptr (FaPromptCache) cache = fa_prompt_cache_new (dir, 1 << 20, &error);
  g_autofree char *key = key_for ("weights-a", "a red fox", 4);
  g_autoptr (FaTensor) context = context_of (1.0f, 4);

  g_assert_null (fa_prompt_cache_lookup (cache, key, cpu));
  g_assert_true (fa_prompt_cache_store (cache, key, context, &error));
  g_assert_no_error (error);
  g_autoptr (FaTensor) back = fa_prompt_cache_lookup (cache, key, cpu);
  g_assert_nonnull (back);
  g_assert_true (fa_tensor_same_shape (back, context));
  g_assert_cmpmem (fa_tensor_get_data (back), 128, fa_tensor_get_data (context), 128);
  fa_test_remove_tree (dir);
}

static void
test_keys_separate (void)
{
  const gint32 ids[] = { 264, 659, 477, 1 };
  const gint32 other_ids[] = { 264, 659, 478, 1 };
  const gint32 longer_weights_ids[] = { 659, 477, 1 };
  g_autofree char *a = fa_prompt_cache_key ("weights-a", ids, 4, 512);
  g_autofree char *again = fa_prompt_cache_key ("weights-a", ids, 4, 512);
  g_autofree char *b = fa_prompt_cache_key ("weights-b", ids, 4, 512);
  g_autofree char *c = fa_prompt_cache_key ("weights-a", other_ids, 4, 512); /* another tokenizer's ids */
  g_autofree char *d = fa_prompt_cache_key ("weights-a", ids, 4, 256);
  g_autofree char *e = fa_prompt_cache_key ("weights-a", ids, 3, 512);
  /* the field boundary cannot move between weights key and ids */
  g_autofree char *f = fa_prompt_cache_key ("weights-a\x08\x01", longer_weights_ids, 3, 512);

  g_assert_cmpstr (a, ==, again);
  g_assert_cmpuint (strlen (a), ==, 64);
  g_assert_cmpstr (a, !=, b);
  g_assert_cmpstr (a, !=, c);
  g_assert_cmpstr (a, !=, d);
  g_assert_cmpstr (a, !=, e);
  g_assert_cmpstr (a, !=, f);
}

static void
test_damaged_entry_is_recomputed (void)
{
  g_autofree char *dir = fa_test_make_folder ("fa-prompt-cache-XXXXXX");
  g_autoptr (GError) error = NULL;
  g_autoptr (FaPromptCache) cache = fa_prompt_cache_new (dir, 1 << 20, &error);
  g_autofree char *key = key_for ("w", "prompt", 4);
  g_autofree char *name = g_strconcat (key, ".safetensors", NULL);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (FaTensor) context = context_of (2.0f, 4);
  g_autofree char *bytes = NULL;
  gsize length = 0;

  g_assert_true (fa_prompt_cache_store (cache, key, context, &error));
  g_assert_true (g_file_get_contents (path, &bytes, &length, &error));

  /* cut short: a miss, and the entry is gone */
  g_assert_true (g_file_set_contents (path, bytes, length - 10, &error));
  g_assert_null (fa_prompt_cache_lookup (cache, key, cpu));
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));

  /* an entry under the wrong name (another key's content): a miss too */
  g_autofree char *other = key_for ("w", "other prompt", 4);
  g_assert_true (fa_prompt_cache_store (cache, other, context, &error));
  g_autofree char *other_name = g_strconcat (other, ".safetensors", NULL);
  g_autofree char *other_path = g_build_filename (dir, other_name, NULL);
  g_assert_cmpint (g_rename (other_path, path), ==, 0);
  g_assert_null (fa_prompt_cache_lookup (cache, key, cpu));
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));

  /* storing again works */
  g_assert_true (fa_prompt_cache_store (cache, key, context, &error));
  g_autoptr (FaTensor) back = fa_prompt_cache_lookup (cache, key, cpu);
  g_assert_nonnull (back);
  fa_test_remove_tree (dir);
}

static void
test_size_bound_keeps_recent (void)
{
  g_autofree char *dir = fa_test_make_folder ("fa-prompt-cache-XXXXXX");
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTensor) context = context_of (0.0f, 64); /* 2 KiB of data per entry */
  g_autoptr (FaPromptCache) cache = fa_prompt_cache_new (dir, 5000, &error);
  char *keys[3];

  for (int i = 0; i < 3; i++)
    {
      g_autofree char *prompt = g_strdup_printf ("prompt %d", i);
      keys[i] = key_for ("w", prompt, 64);
      g_assert_true (fa_prompt_cache_store (cache, keys[i], context, &error));
      if (i == 1)
        {
          /* touch the first again, so the second is the least recent */
          g_usleep (20000);
          g_autoptr (FaTensor) hit = fa_prompt_cache_lookup (cache, keys[0], cpu);
          g_assert_nonnull (hit);
        }
      g_usleep (20000);
    }

  g_autoptr (FaTensor) first = fa_prompt_cache_lookup (cache, keys[0], cpu);
  g_autoptr (FaTensor) second = fa_prompt_cache_lookup (cache, keys[1], cpu);
  g_autoptr (FaTensor) third = fa_prompt_cache_lookup (cache, keys[2], cpu);
  g_assert_nonnull (first);
  g_assert_null (second);
  g_assert_nonnull (third);
  for (int i = 0; i < 3; i++)
    g_free (keys[i]);
  fa_test_remove_tree (dir);
}

static void
test_unwritable_folder (void)
{
  GError *error = NULL;
  g_assert_null (fa_prompt_cache_new ("/proc/flowanchor-cannot-exist/prompts", 1024, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "cannot create the prompt cache folder"));
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  cpu = fa_backend_new_cpu ();

  g_test_add_func ("/prompt-cache/round-trip-and-miss", test_round_trip_and_miss);
  g_test_add_func ("/prompt-cache/keys-separate", test_keys_separate);
  g_test_add_func ("/prompt-cache/damaged-entry-is-recomputed", test_damaged_entry_is_recomputed);
  g_test_add_func ("/prompt-cache/size-bound-keeps-recent", test_size_bound_keeps_recent);
  g_test_add_func ("/prompt-cache/unwritable-folder", test_unwritable_folder);

  int status = g_test_run ();
  fa_backend_unref (cpu);
  return status;
}
