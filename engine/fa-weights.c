/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-weights"

#include "config.h"

#include "fa-weights.h"

#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>

#include "fa-cpu-kernels.h"
#include "fa-error.h"

/* An index maps a few thousand names; anything near this is not one. */
#define MAX_INDEX_BYTES ((gsize) 64 * 1024 * 1024)

/* Elements converted per step when the stored data is misaligned and has to
 * pass through an aligned buffer first. */
#define BOUNCE_ELEMENTS ((gint64) 1 << 20)

typedef struct {
  const FaSafetensorsEntry *entry;
  FaSafetensors *file; /* borrowed from FaWeights.files */
} Item;

struct _FaWeights {
  gatomicrefcount ref_count;
  char *path;
  GPtrArray *files; /* FaSafetensors*, owned */
  GPtrArray *items; /* Item*, sorted by name */
  GHashTable *by_name; /* name → Item* */
};

static void
fa_weights_free (FaWeights *weights)
{
  g_clear_pointer (&weights->by_name, g_hash_table_unref);
  g_clear_pointer (&weights->items, g_ptr_array_unref);
  g_clear_pointer (&weights->files, g_ptr_array_unref);
  g_free (weights->path);
  g_free (weights);
}

FaWeights *
fa_weights_ref (FaWeights *weights)
{
  g_return_val_if_fail (weights != NULL, NULL);
  g_atomic_ref_count_inc (&weights->ref_count);
  return weights;
}

void
fa_weights_unref (FaWeights *weights)
{
  if (weights != NULL && g_atomic_ref_count_dec (&weights->ref_count))
    fa_weights_free (weights);
}

static FaWeights *
weights_new (const char *path)
{
  FaWeights *weights = g_new0 (FaWeights, 1);

  g_atomic_ref_count_init (&weights->ref_count);
  weights->path = g_strdup (path);
  weights->files = g_ptr_array_new_with_free_func ((GDestroyNotify) fa_safetensors_unref);
  weights->items = g_ptr_array_new_with_free_func (g_free);
  weights->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  return weights;
}

static gboolean
add_item (FaWeights *weights, FaSafetensors *file, const FaSafetensorsEntry *entry,
          GError **error)
{
  Item *previous = g_hash_table_lookup (weights->by_name, entry->name);

  if (previous != NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "tensor '%s' is in both %s and %s",
                   entry->name, fa_safetensors_get_path (previous->file),
                   fa_safetensors_get_path (file));
      return FALSE;
    }

  Item *item = g_new (Item, 1);
  item->entry = entry;
  item->file = file;
  g_ptr_array_add (weights->items, item);
  g_hash_table_insert (weights->by_name, (gpointer) entry->name, item);
  return TRUE;
}

static gboolean
add_whole_file (FaWeights *weights, const char *path, GError **error)
{
  FaSafetensors *file = fa_safetensors_open (path, error);

  if (file == NULL)
    return FALSE;
  g_ptr_array_add (weights->files, file);
  for (guint i = 0; i < fa_safetensors_get_n_tensors (file); i++)
    if (!add_item (weights, file, fa_safetensors_get_entry (file, i), error))
      return FALSE;
  return TRUE;
}

static int
compare_items (gconstpointer a, gconstpointer b)
{
  const Item *x = *(Item *const *) a, *y = *(Item *const *) b;
  return strcmp (x->entry->name, y->entry->name);
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* The index's weight_map is the set: names it maps are looked up in their
 * shard and must be there, and tensors a shard holds beyond the map are
 * left out, as transformers and diffusers leave them out. */
static gboolean
add_index (FaWeights *weights, const char *index_path, GError **error)
{
  g_autoptr (GMappedFile) mapped = g_mapped_file_new (index_path, FALSE, error);
  if (mapped == NULL)
    return FALSE;
  gsize length = g_mapped_file_get_length (mapped);
  if (length > MAX_INDEX_BYTES)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                   "%s: %" G_GSIZE_FORMAT " bytes is too large for a safetensors index",
                   index_path, length);
      return FALSE;
    }
  /* An empty file maps to no contents at all. */
  const char *text = length > 0 ? g_mapped_file_get_contents (mapped) : "";
  g_autoptr (JsonNode) root = _fa_safetensors_parse_json (index_path, "index", text, length, error);
  if (root == NULL)
    return FALSE;

  JsonNode *map_node = NULL;
  if (JSON_NODE_HOLDS_OBJECT (root))
    map_node = json_object_get_member (json_node_get_object (root), "weight_map");
  if (map_node == NULL || !JSON_NODE_HOLDS_OBJECT (map_node))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: no \"weight_map\" object",
                   index_path);
      return FALSE;
    }
  JsonObject *map = json_node_get_object (map_node);

  /* Each distinct shard opens once, in name order so that the file list
   * does not depend on hash order. */
  g_autoptr (GHashTable) shard_files = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GList) names = json_object_get_members (map);
  for (GList *l = names; l != NULL; l = l->next)
    {
      JsonNode *value = json_object_get_member (map, l->data);
      if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING ||
          *json_node_get_string (value) == '\0')
        {
          g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                       "%s: weight_map entry for '%s' is not a file name", index_path,
                       (const char *) l->data);
          return FALSE;
        }
      g_hash_table_add (shard_files, (gpointer) json_node_get_string (value));
    }

  guint n_shards = 0;
  g_autofree const char **shards = (const char **) g_hash_table_get_keys_as_array (shard_files, &n_shards);
  qsort (shards, n_shards, sizeof *shards, compare_strings);

  g_autofree char *dir = g_path_get_dirname (index_path);
  for (guint i = 0; i < n_shards; i++)
    {
      g_autofree char *shard_path = g_build_filename (dir, shards[i], NULL);
      FaSafetensors *file = fa_safetensors_open (shard_path, error);
      if (file == NULL)
        {
          g_prefix_error (error, "%s: ", index_path);
          return FALSE;
        }
      g_ptr_array_add (weights->files, file);
      g_hash_table_insert (shard_files, (gpointer) shards[i], file);
    }

  for (GList *l = names; l != NULL; l = l->next)
    {
      const char *name = l->data;
      const char *shard = json_node_get_string (json_object_get_member (map, name));
      FaSafetensors *file = g_hash_table_lookup (shard_files, shard);
      const FaSafetensorsEntry *entry = fa_safetensors_lookup (file, name);

      if (entry == NULL)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                       "%s: tensor '%s' is mapped to %s, which does not hold it", index_path,
                       name, shard);
          return FALSE;
        }
      if (!add_item (weights, file, entry, error))
        return FALSE;
    }
  return TRUE;
}

/* A diffusers component folder: its index when it has one, else every
 * .safetensors file in it. Variants (*.fp16.safetensors) beside the main
 * file without an index clash on names and are reported, not guessed at. */
static gboolean
add_directory (FaWeights *weights, const char *dir_path, GError **error)
{
  g_autoptr (GDir) dir = g_dir_open (dir_path, 0, error);
  if (dir == NULL)
    return FALSE;

  g_autoptr (GPtrArray) indexes = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      if (name[0] == '.')
        continue;
      if (g_str_has_suffix (name, ".safetensors.index.json"))
        g_ptr_array_add (indexes, g_strdup (name));
      else if (g_str_has_suffix (name, ".safetensors"))
        g_ptr_array_add (files, g_strdup (name));
    }
  g_ptr_array_sort (indexes, compare_strings);
  g_ptr_array_sort (files, compare_strings);

  if (indexes->len > 1)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "%s holds %u safetensors indexes (%s, %s, …); open one of them", dir_path,
                   indexes->len, (const char *) indexes->pdata[0], (const char *) indexes->pdata[1]);
      return FALSE;
    }
  if (indexes->len == 1)
    {
      g_autofree char *index_path = g_build_filename (dir_path, indexes->pdata[0], NULL);
      return add_index (weights, index_path, error);
    }
  if (files->len == 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND, "no .safetensors files in %s", dir_path);
      return FALSE;
    }
  for (guint i = 0; i < files->len; i++)
    {
      g_autofree char *file_path = g_build_filename (dir_path, files->pdata[i], NULL);
      if (!add_whole_file (weights, file_path, error))
        return FALSE;
    }
  return TRUE;
}

FaWeights *
fa_weights_open (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autoptr (FaWeights) weights = weights_new (path);
  gboolean ok;

  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    ok = add_directory (weights, path, error);
  else if (g_str_has_suffix (path, ".json"))
    ok = add_index (weights, path, error);
  else
    ok = add_whole_file (weights, path, error);
  if (!ok)
    return NULL;

  g_ptr_array_sort (weights->items, compare_items);
  return g_steal_pointer (&weights);
}

const char *
fa_weights_get_path (FaWeights *weights)
{
  g_return_val_if_fail (weights != NULL, NULL);
  return weights->path;
}

guint
fa_weights_get_n_files (FaWeights *weights)
{
  g_return_val_if_fail (weights != NULL, 0);
  return weights->files->len;
}

const char *
fa_weights_get_file_path (FaWeights *weights, guint index)
{
  g_return_val_if_fail (weights != NULL, NULL);
  g_return_val_if_fail (index < weights->files->len, NULL);
  return fa_safetensors_get_path (g_ptr_array_index (weights->files, index));
}

guint
fa_weights_get_n_tensors (FaWeights *weights)
{
  g_return_val_if_fail (weights != NULL, 0);
  return weights->items->len;
}

const FaSafetensorsEntry *
fa_weights_get_entry (FaWeights *weights, guint index)
{
  g_return_val_if_fail (weights != NULL, NULL);
  g_return_val_if_fail (index < weights->items->len, NULL);
  return ((Item *) g_ptr_array_index (weights->items, index))->entry;
}

const FaSafetensorsEntry *
fa_weights_lookup (FaWeights *weights, const char *name)
{
  g_return_val_if_fail (weights != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);

  Item *item = g_hash_table_lookup (weights->by_name, name);
  return item != NULL ? item->entry : NULL;
}

static guint64
entry_numel (const FaSafetensorsEntry *entry)
{
  guint64 numel = 1;

  /* Cannot overflow: opening checked numel × dtype size against the file. */
  for (int i = 0; i < entry->ndim; i++)
    numel *= (guint64) entry->shape[i];
  return numel;
}

guint64
fa_weights_get_n_parameters (FaWeights *weights)
{
  guint64 total = 0;

  g_return_val_if_fail (weights != NULL, 0);
  for (guint i = 0; i < weights->items->len; i++)
    total += entry_numel (((Item *) g_ptr_array_index (weights->items, i))->entry);
  return total;
}

static gboolean
can_convert (FaDType from, FaDType to)
{
  if (from == to)
    return TRUE;
  if (fa_dtype_is_float (from) && fa_dtype_is_float (to))
    return TRUE;
  /* Token ids are stored as i64 and used as i32. */
  return from == FA_DTYPE_I64 && to == FA_DTYPE_I32;
}

/* Converts @n elements of mapped data, which safetensors places at any byte
 * offset, into the aligned @dst. The kernels read typed pointers, so
 * misaligned input goes through an aligned buffer a slice at a time. */
static void
convert_mapped (const guint8 *src, FaDType src_dtype, guint8 *dst, FaDType dst_dtype, gint64 n)
{
  gsize src_size = fa_dtype_size (src_dtype);
  gsize dst_size = fa_dtype_size (dst_dtype);

  if (src_dtype == dst_dtype)
    {
      memcpy (dst, src, (gsize) n * src_size);
      return;
    }
  if ((guintptr) src % src_size == 0)
    {
      fa_cpu_convert (src, src_dtype, dst, dst_dtype, n);
      return;
    }

  gint64 step = MIN (n, BOUNCE_ELEMENTS);
  g_autofree guint8 *bounce = g_malloc ((gsize) step * src_size);
  for (gint64 done = 0; done < n; done += step)
    {
      gint64 count = MIN (step, n - done);
      memcpy (bounce, src + (gsize) done * src_size, (gsize) count * src_size);
      fa_cpu_convert (bounce, src_dtype, dst + (gsize) done * dst_size, dst_dtype, count);
    }
}

static void
free_host_buffer (gpointer data)
{
  g_free (data);
}

FaTensor *
fa_weights_load (FaWeights *weights, const char *name, FaBackend *backend, FaDType dtype,
                 GError **error)
{
  g_return_val_if_fail (weights != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (backend != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  Item *item = g_hash_table_lookup (weights->by_name, name);
  if (item == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND, "tensor '%s' is not in %s", name,
                   weights->path);
      return NULL;
    }
  const FaSafetensorsEntry *entry = item->entry;
  if ((unsigned) dtype >= FA_DTYPE_COUNT)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "tensor '%s': invalid dtype %d",
                   name, (int) dtype);
      return NULL;
    }
  if (!can_convert (entry->dtype, dtype))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_DTYPE,
                   "tensor '%s' is stored as %s and cannot be loaded as %s", name,
                   fa_dtype_get_name (entry->dtype), fa_dtype_get_name (dtype));
      return NULL;
    }

  g_autoptr (FaTensor) result = fa_tensor_new (backend, dtype, entry->ndim, entry->shape, error);
  if (result == NULL)
    {
      g_prefix_error (error, "tensor '%s': ", name);
      return NULL;
    }
  gint64 numel = fa_tensor_get_numel (result);
  if (numel == 0)
    return g_steal_pointer (&result);

  if (result->device == FA_DEVICE_CPU)
    {
      convert_mapped (entry->data, entry->dtype, fa_tensor_get_data (result), dtype, numel);
      return g_steal_pointer (&result);
    }

  /* A device takes bytes as they are, so only a conversion needs a host
   * copy; the upload itself copes with any source alignment. */
  g_autoptr (FaTensor) host = NULL;
  if (entry->dtype == dtype)
    host = fa_safetensors_view_tensor (item->file, entry, error);
  else
    {
      guint8 *buffer = g_try_malloc (fa_tensor_get_nbytes (result));
      if (buffer == NULL)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_OUT_OF_MEMORY,
                       "tensor '%s': out of host memory converting %s to %s", name,
                       fa_dtype_get_name (entry->dtype), fa_dtype_get_name (dtype));
          return NULL;
        }
      convert_mapped (entry->data, entry->dtype, buffer, dtype, numel);
      host = fa_tensor_new_wrapping (dtype, entry->ndim, entry->shape, buffer, free_host_buffer,
                                     buffer, error);
      if (host == NULL)
        g_free (buffer);
    }
  if (host == NULL || !fa_tensor_copy (result, host, error))
    {
      g_prefix_error (error, "tensor '%s': ", name);
      return NULL;
    }
  return g_steal_pointer (&result);
}
