/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-prompt-cache"

#include "config.h"

#include "fa-prompt-cache.h"

#include <errno.h>
#include <string.h>
#include <utime.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "fa-backend.h"
#include "fa-error.h"
#include "fa-safetensors.h"

#define DEFAULT_MAX_BYTES (G_GUINT64_CONSTANT (2) << 30)
#define SUFFIX ".safetensors"

struct _FaPromptCache {
  char *folder;
  guint64 max_bytes;
};

FaPromptCache *
fa_prompt_cache_new (const char *folder, guint64 max_bytes, GError **error)
{
  g_return_val_if_fail (folder != NULL, NULL);

  if (g_mkdir_with_parents (folder, 0700) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "cannot create the prompt cache folder %s: %s", folder, g_strerror (saved));
      return NULL;
    }
  FaPromptCache *cache = g_new0 (FaPromptCache, 1);
  cache->folder = g_strdup (folder);
  cache->max_bytes = max_bytes;
  return cache;
}

FaPromptCache *
fa_prompt_cache_new_default (GError **error)
{
  g_autofree char *folder = g_build_filename (g_get_user_cache_dir (), "flowanchor", "prompts", NULL);
  return fa_prompt_cache_new (folder, DEFAULT_MAX_BYTES, error);
}

void
fa_prompt_cache_free (FaPromptCache *cache)
{
  if (cache == NULL)
    return;
  g_free (cache->folder);
  g_free (cache);
}

const char *
fa_prompt_cache_get_folder (FaPromptCache *cache)
{
  return cache->folder;
}

char *
fa_prompt_cache_key (const char *weights_key, const gint32 *ids, guint n_ids, guint rows)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  char header[64];

  /* lengths keep the fields apart: no two inputs share a byte stream */
  g_snprintf (header, sizeof header, "umt5-context/2 %u %zu %u\n", rows, strlen (weights_key), n_ids);
  g_checksum_update (sum, (const guchar *) header, -1);
  g_checksum_update (sum, (const guchar *) weights_key, -1);
  for (guint i = 0; i < n_ids; i++)
    {
      guint32 id = GUINT32_TO_LE ((guint32) ids[i]);
      g_checksum_update (sum, (const guchar *) &id, sizeof id);
    }
  return g_strdup (g_checksum_get_string (sum));
}

static char *
entry_path (FaPromptCache *cache, const char *key)
{
  g_autofree char *name = g_strconcat (key, SUFFIX, NULL);
  return g_build_filename (cache->folder, name, NULL);
}

static void
discard (const char *path, const char *why)
{
  g_message ("Prompt cache entry %s is unusable (%s); it will be recomputed", path, why);
  g_unlink (path);
}

FaTensor *
fa_prompt_cache_lookup (FaPromptCache *cache, const char *key, FaBackend *backend)
{
  g_autoptr (GError) error = NULL;

  g_return_val_if_fail (cache != NULL && key != NULL && backend != NULL, NULL);

  g_autofree char *path = entry_path (cache, key);
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return NULL;
  g_autoptr (FaSafetensors) file = fa_safetensors_open (path, &error);
  if (file == NULL)
    {
      discard (path, error->message);
      return NULL;
    }
  const FaSafetensorsEntry *entry = fa_safetensors_lookup (file, "context");
  if (entry == NULL || entry->dtype != FA_DTYPE_F32 || entry->ndim != 2 ||
      g_strcmp0 (fa_safetensors_get_metadata (file, "key"), key) != 0)
    {
      discard (path, "not a context of this key");
      return NULL;
    }

  g_autoptr (FaTensor) view = fa_safetensors_view_tensor (file, entry, &error);
  FaTensor *context = view ? fa_tensor_to (view, backend, FA_DTYPE_F32, &error) : NULL;
  if (context == NULL)
    {
      discard (path, error->message);
      return NULL;
    }
  /* a hit makes the entry recent, so trimming keeps it longest */
  g_utime (path, NULL);
  return context;
}

typedef struct {
  char *path;
  guint64 size;
  gint64 mtime;
} Entry;

static void
entry_free (gpointer data)
{
  Entry *entry = data;
  g_free (entry->path);
  g_free (entry);
}

static int
newest_first (gconstpointer a, gconstpointer b)
{
  const Entry *x = *(const Entry *const *) a, *y = *(const Entry *const *) b;
  return (y->mtime > x->mtime) - (y->mtime < x->mtime);
}

/* Deletes the least recently used entries until the folder fits its bound. */
static void
trim (FaPromptCache *cache)
{
  g_autoptr (GDir) dir = g_dir_open (cache->folder, 0, NULL);
  g_autoptr (GPtrArray) entries = g_ptr_array_new_with_free_func (entry_free);
  const char *name;

  if (dir == NULL)
    return;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      GStatBuf st;
      g_autofree char *path = g_build_filename (cache->folder, name, NULL);
      if (!g_str_has_suffix (name, SUFFIX) || g_stat (path, &st) != 0)
        continue;
      Entry *entry = g_new0 (Entry, 1);
      entry->path = g_steal_pointer (&path);
      entry->size = st.st_size;
      entry->mtime = (gint64) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
      g_ptr_array_add (entries, entry);
    }
  g_ptr_array_sort (entries, newest_first);

  guint64 total = 0;
  for (guint i = 0; i < entries->len; i++)
    {
      Entry *entry = entries->pdata[i];
      total += entry->size;
      if (total > cache->max_bytes && i > 0)
        g_unlink (entry->path);
    }
}

gboolean
fa_prompt_cache_store (FaPromptCache *cache, const char *key, const FaTensor *context, GError **error)
{
  const char *names[] = { "context" };
  FaTensor *tensors[] = { (FaTensor *) context };

  g_return_val_if_fail (cache != NULL && key != NULL && context != NULL, FALSE);

  g_autofree char *path = entry_path (cache, key);
  g_autoptr (GHashTable) metadata = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (metadata, "key", (gpointer) key);
  if (!fa_safetensors_write (path, 1, names, tensors, metadata, error))
    return FALSE;
  trim (cache);
  return TRUE;
}
