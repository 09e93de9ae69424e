/* tests/data against its README: every tensor row (file, name, dtype,
 * shape) read back with the engine's safetensors reader, every file listed,
 * every golden's provenance recorded, the model folders open as weight
 * sets, and the folder within its size budget. So the committed data never
 * rots unseen.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gstdio.h>

#include "fa-error.h"
#include "fa-test-util.h"
#include "fa-weights.h"

#define DATA_BUDGET_BYTES (30 * 1000 * 1000)

typedef struct {
  char *file;
  char *tensor;
  char *dtype;
  char *shape;
} Row;

static char *data_dir;
static GPtrArray *rows; /* Row*, in README order */

static void
row_free (gpointer data)
{
  Row *row = data;
  g_free (row->file);
  g_free (row->tensor);
  g_free (row->dtype);
  g_free (row->shape);
  g_free (row);
}

/* The rows of the table under "## Every tensor": | file | tensor | dtype | shape | */
static GPtrArray *
read_rows (const char *readme, GError **error)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents (readme, &text, NULL, error))
    return NULL;

  GPtrArray *result = g_ptr_array_new_with_free_func (row_free);
  const char *table = strstr (text, "\n## Every tensor\n");
  if (table == NULL)
    return result;

  g_auto (GStrv) lines = g_strsplit (table, "\n", -1);
  for (char **line = lines; *line != NULL; line++)
    {
      if (!g_str_has_prefix (*line, "| ") || g_str_has_prefix (*line, "| file |"))
        continue;
      g_auto (GStrv) cells = g_strsplit (*line, "|", -1);
      if (g_strv_length (cells) != 6)
        continue;
      Row *row = g_new0 (Row, 1);
      row->file = g_strdup (g_strstrip (cells[1]));
      row->tensor = g_strdup (g_strstrip (cells[2]));
      row->dtype = g_strdup (g_strstrip (cells[3]));
      row->shape = g_strdup (g_strstrip (cells[4]));
      g_ptr_array_add (result, row);
    }
  return result;
}

static guint
rows_in_file (const char *file)
{
  guint n = 0;
  for (guint i = 0; i < rows->len; i++)
    n += g_str_equal (((Row *) rows->pdata[i])->file, file);
  return n;
}

static void
test_rows_match_files (void)
{
  g_autoptr (GHashTable) opened = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                                         (GDestroyNotify) fa_safetensors_unref);

  g_assert_cmpuint (rows->len, >, 0);
  for (guint i = 0; i < rows->len; i++)
    {
      Row *row = rows->pdata[i];
      FaSafetensors *file = g_hash_table_lookup (opened, row->file);
      if (file == NULL)
        {
          g_autoptr (GError) error = NULL;
          g_autofree char *path = g_build_filename (data_dir, row->file, NULL);
          file = fa_safetensors_open (path, &error);
          g_assert_no_error (error);
          g_hash_table_insert (opened, row->file, file);
          /* the table lists every tensor of the file, no more */
          g_assert_cmpuint (fa_safetensors_get_n_tensors (file), ==, rows_in_file (row->file));
        }

      const FaSafetensorsEntry *entry = fa_safetensors_lookup (file, row->tensor);
      if (entry == NULL)
        g_error ("%s: no tensor '%s'", row->file, row->tensor);
      g_autofree char *shape = fa_shape_to_string (entry->ndim, entry->shape);
      if (!g_str_equal (fa_dtype_get_name (entry->dtype), row->dtype) || !g_str_equal (shape, row->shape))
        g_error ("%s: '%s' is %s %s, README says %s %s", row->file, row->tensor,
                 fa_dtype_get_name (entry->dtype), shape, row->dtype, row->shape);
    }
}

static void
collect_safetensors (const char *dir, const char *relative, GPtrArray *found)
{
  g_autoptr (GDir) handle = g_dir_open (dir, 0, NULL);
  const char *name;

  g_assert_nonnull (handle);
  while ((name = g_dir_read_name (handle)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autofree char *rel = relative ? g_build_filename (relative, name, NULL) : g_strdup (name);
      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        collect_safetensors (path, rel, found);
      else if (g_str_has_suffix (name, ".safetensors"))
        g_ptr_array_add (found, g_steal_pointer (&rel));
    }
}

static void
test_every_file_listed (void)
{
  g_autoptr (GPtrArray) found = g_ptr_array_new_with_free_func (g_free);

  collect_safetensors (data_dir, NULL, found);
  g_assert_cmpuint (found->len, >, 0);
  for (guint i = 0; i < found->len; i++)
    if (rows_in_file (found->pdata[i]) == 0)
      g_error ("%s is in tests/data but not in its README", (char *) found->pdata[i]);
}

static void
test_goldens_record_provenance (void)
{
  g_autoptr (GPtrArray) found = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *goldens = g_build_filename (data_dir, "goldens", NULL);
  const char *const keys[] = { "script", "seed", "torch", "diffusers", "transformers", "tokenizers", "safetensors" };

  collect_safetensors (goldens, NULL, found);
  g_assert_cmpuint (found->len, >, 0);
  for (guint i = 0; i < found->len; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *path = g_build_filename (goldens, found->pdata[i], NULL);
      g_autoptr (FaSafetensors) file = fa_safetensors_open (path, &error);
      g_assert_no_error (error);
      for (guint k = 0; k < G_N_ELEMENTS (keys); k++)
        if (fa_safetensors_get_metadata (file, keys[k]) == NULL)
          g_error ("%s records no '%s'", path, keys[k]);

      /* the script named is the one in tools/reference */
      g_autofree char *script = g_build_filename (data_dir, "..", "..",
                                                  fa_safetensors_get_metadata (file, "script"), NULL);
      g_assert_true (g_file_test (script, G_FILE_TEST_IS_REGULAR));
    }
}

static guint
rows_under (const char *folder)
{
  g_autofree char *prefix = g_strconcat (folder, "/", NULL);
  guint n = 0;
  for (guint i = 0; i < rows->len; i++)
    n += g_str_has_prefix (((Row *) rows->pdata[i])->file, prefix);
  return n;
}

static void
test_model_folders_open_as_sets (void)
{
  const char *const components[] = { "wan-tiny/transformer", "wan-tiny/text_encoder", "wan-tiny/vae" };
  g_autofree char *model_index = g_build_filename (data_dir, "wan-tiny", "model_index.json", NULL);
  g_autofree char *tokenizer = g_build_filename (data_dir, "wan-tiny", "tokenizer", "tokenizer.json", NULL);

  g_assert_true (g_file_test (model_index, G_FILE_TEST_IS_REGULAR));
  g_assert_true (g_file_test (tokenizer, G_FILE_TEST_IS_REGULAR));
  for (guint i = 0; i < G_N_ELEMENTS (components); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *path = g_build_filename (data_dir, components[i], NULL);
      g_autoptr (FaWeights) weights = fa_weights_open (path, &error);
      g_assert_no_error (error);
      /* the set is exactly the tensors its files hold */
      g_assert_cmpuint (fa_weights_get_n_tensors (weights), ==, rows_under (components[i]));
    }

  /* the DiT is sharded, so the index path is exercised */
  g_autofree char *transformer = g_build_filename (data_dir, "wan-tiny", "transformer", NULL);
  g_autoptr (FaWeights) dit = fa_weights_open (transformer, NULL);
  g_assert_cmpuint (fa_weights_get_n_files (dit), >=, 2);
}

static void
test_size_budget (void)
{
  g_autofree char *command = g_strdup_printf ("du -sb %s", data_dir);
  g_autofree char *out = NULL;
  int status = 0;

  g_assert_true (g_spawn_command_line_sync (command, &out, NULL, &status, NULL));
  guint64 bytes = g_ascii_strtoull (out, NULL, 10);
  g_assert_cmpuint (bytes, >, 0);
  g_assert_cmpuint (bytes, <, DATA_BUDGET_BYTES);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;

  g_test_init (&argc, &argv, NULL);
  g_assert_nonnull (g_getenv ("FA_TEST_SRCDIR")); /* set by meson: the tests/ source folder */
  data_dir = g_build_filename (g_getenv ("FA_TEST_SRCDIR"), "data", NULL);
  g_autofree char *readme = g_build_filename (data_dir, "README.md", NULL);
  rows = read_rows (readme, &error);
  g_assert_no_error (error);

  g_test_add_func ("/data/rows-match-files", test_rows_match_files);
  g_test_add_func ("/data/every-file-listed", test_every_file_listed);
  g_test_add_func ("/data/goldens-record-provenance", test_goldens_record_provenance);
  g_test_add_func ("/data/model-folders-open-as-sets", test_model_folders_open_as_sets);
  g_test_add_func ("/data/size-budget", test_size_budget);

  int status = g_test_run ();
  g_ptr_array_unref (rows);
  g_free (data_dir);
  return status;
}
