/* fa-model-download.c: fetching the model into the hub cache, resumable
 * and verified (the layout and protocol are in fa-model-download.h).
 *
 * A file is never visible under its final name until all of it is on
 * disk, synced and hashed: it grows as BLOB.incomplete, and only a rename
 * makes it BLOB, after which the snapshot's symlink is made. A stop at any
 * point leaves finished blobs and at most one partial file per blob, which
 * the next run continues with a Range request.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-model-download"

#include "config.h"

#include "fa-model-download.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fa-file.h"
#include "fa-hf-hub.h"
#include "fa-model-check.h"
#include "fa-model-find.h"

#define CHUNK_BYTES (1 << 20)
#define DEFAULT_ATTEMPTS 3
/* the rate is measured over about this long, so that it follows changes
 * without jumping with every chunk */
#define RATE_WINDOW_US (4 * G_USEC_PER_SEC)

/* The parts of the repository the engine reads (README.md, images and
 * the like are left on the hub). */
static const char *const model_prefixes[] = {
  "scheduler/", "text_encoder/", "tokenizer/", "transformer/", "vae/",
};

typedef struct {
  char   *path;  /* in the repository */
  char   *blob;  /* SHA-256 for LFS files, else the git blob SHA-1 */
  gboolean lfs;
  guint64 size;
} HubFile;

static void
hub_file_free (HubFile *file)
{
  g_free (file->path);
  g_free (file->blob);
  g_free (file);
}

typedef struct {
  const FaModelDownloadOptions *options;
  const char *repo_id;
  const char *revision;
  char       *cache_dir;
  char       *repo;        /* CACHE/models--org--name */
  char       *commit;
  GPtrArray  *files;       /* HubFile*, the model's */
  FaHfHub    *hub;
  guint       attempts;
  GCancellable *cancellable;

  FaModelDownloadProgressFunc progress_func;
  gpointer    progress_data;
  FaModelDownloadProgress progress;
  guint64     fetched;     /* bytes received in this run */
  gint64      rate_since_us;
  guint64     rate_since_bytes;
} Download;

static void
download_clear (Download *d)
{
  g_free (d->cache_dir);
  g_free (d->repo);
  g_free (d->commit);
  g_clear_pointer (&d->files, g_ptr_array_unref);
  g_clear_pointer (&d->hub, fa_hf_hub_free);
}

/* ---- the environment, as huggingface_hub reads it ---- */

static char *
read_token_file (const char *path)
{
  g_autofree char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return NULL;
  g_strstrip (contents);
  return *contents != '\0' ? g_steal_pointer (&contents) : NULL;
}

char *
fa_hf_token (void)
{
  const char *value;

  if ((value = fa_hf_env ("HF_TOKEN")) != NULL)
    {
      g_autofree char *token = g_strstrip (g_strdup (value));
      return *token != '\0' ? g_steal_pointer (&token) : NULL;
    }
  if ((value = fa_hf_env ("HF_TOKEN_PATH")) != NULL)
    return read_token_file (value);

  g_autofree char *home = fa_hf_home_dir ();
  g_autofree char *path = g_build_filename (home, "token", NULL);
  return read_token_file (path);
}

/* @endpoint trimmed, without its trailing slashes: URLs are built as
 * ENDPOINT/… */
static char *
endpoint_base (const char *endpoint)
{
  char *base = g_strstrip (g_strdup (endpoint));
  gsize length = strlen (base);

  while (length > 0 && base[length - 1] == '/')
    base[--length] = '\0';
  return base;
}

char *
fa_hf_endpoint (void)
{
  const char *value = fa_hf_env ("HF_ENDPOINT");

  return endpoint_base (value != NULL ? value : FA_HF_DEFAULT_ENDPOINT);
}

/* ---- progress ---- */

static void
report (Download *d)
{
  if (d->progress_func != NULL)
    d->progress_func (&d->progress, d->progress_data);
}

static void
set_stage (Download *d, FaModelDownloadStage stage, const HubFile *file)
{
  d->progress.stage = stage;
  d->progress.file = file != NULL ? file->path : NULL;
  d->progress.file_size = file != NULL ? file->size : 0;
  report (d);
}

/* @bytes more of the file in hand are on disk, @fetched of them from the network */
static void
add_bytes (Download *d, guint64 bytes, gboolean fetched)
{
  d->progress.file_done += bytes;
  d->progress.done += bytes;
  if (!fetched)
    return;

  gint64 now = g_get_monotonic_time ();
  d->fetched += bytes;
  if (d->rate_since_us == 0)
    {
      d->rate_since_us = now;
      d->rate_since_bytes = d->fetched - bytes;
    }
  gint64 elapsed = now - d->rate_since_us;
  if (elapsed >= G_USEC_PER_SEC / 2)
    {
      double rate = (double) (d->fetched - d->rate_since_bytes) * G_USEC_PER_SEC / (double) elapsed;
      d->progress.bytes_per_second = rate;
      d->progress.seconds_left = rate > 0 ? (double) (d->progress.total - d->progress.done) / rate : -1;
      if (elapsed >= RATE_WINDOW_US)
        {
          /* start the next window at the middle of this one's rate */
          d->rate_since_us = now - elapsed / 2;
          d->rate_since_bytes = d->fetched - (guint64) (rate * (double) (elapsed / 2) / G_USEC_PER_SEC);
        }
    }
  report (d);
}

/* ---- the listing ---- */

static gboolean
is_hex (const char *text, gsize length)
{
  if (text == NULL || strlen (text) != length)
    return FALSE;
  for (gsize i = 0; i < length; i++)
    if (!g_ascii_isxdigit (text[i]))
      return FALSE;
  return TRUE;
}

static gboolean
is_model_file (const char *path)
{
  if (g_str_equal (path, "model_index.json"))
    return TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (model_prefixes); i++)
    if (g_str_has_prefix (path, model_prefixes[i]))
      return TRUE;
  return FALSE;
}

static gboolean
parse_listing (Download *d, GBytes *bytes, const char *url, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local_error = NULL;
  gsize length = 0;
  const char *data = g_bytes_get_data (bytes, &length);

  if (!json_parser_load_from_data (parser, data, (gssize) length, &local_error))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: the listing is not JSON: %s", url,
                   local_error->message);
      return FALSE;
    }
  JsonNode *root = json_parser_get_root (parser);
  JsonObject *object = root != NULL && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  const char *sha = object != NULL ? json_object_get_string_member_with_default (object, "sha", NULL) : NULL;
  JsonArray *siblings = object != NULL && json_object_has_member (object, "siblings")
                            && JSON_NODE_HOLDS_ARRAY (json_object_get_member (object, "siblings"))
                          ? json_object_get_array_member (object, "siblings")
                          : NULL;
  if (!is_hex (sha, 40) || siblings == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s: the listing has no commit (\"sha\") or no file list (\"siblings\")", url);
      return FALSE;
    }
  d->commit = g_ascii_strdown (sha, -1);
  d->files = g_ptr_array_new_with_free_func ((GDestroyNotify) hub_file_free);

  for (guint i = 0; i < json_array_get_length (siblings); i++)
    {
      JsonNode *node = json_array_get_element (siblings, i);
      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      JsonObject *sibling = json_node_get_object (node);
      const char *path = json_object_get_string_member_with_default (sibling, "rfilename", NULL);
      if (path == NULL || !is_model_file (path))
        continue;
      if (!fa_hf_safe_relative_path (path))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: the listing names an unsafe path “%s”", url,
                       path);
          return FALSE;
        }

      JsonObject *lfs = json_object_has_member (sibling, "lfs")
                            && JSON_NODE_HOLDS_OBJECT (json_object_get_member (sibling, "lfs"))
                          ? json_object_get_object_member (sibling, "lfs")
                          : NULL;
      const char *blob = lfs != NULL ? json_object_get_string_member_with_default (lfs, "sha256", NULL)
                                     : json_object_get_string_member_with_default (sibling, "blobId", NULL);
      gint64 size = lfs != NULL ? json_object_get_int_member_with_default (lfs, "size", -1)
                                : json_object_get_int_member_with_default (sibling, "size", -1);
      if (!is_hex (blob, lfs != NULL ? 64 : 40) || size < 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "%s: the listing gives no %s or no size for %s (ask with ?blobs=true)", url,
                       lfs != NULL ? "SHA-256" : "blob id", path);
          return FALSE;
        }
      HubFile *file = g_new0 (HubFile, 1);
      file->path = g_strdup (path);
      file->blob = g_ascii_strdown (blob, -1);
      file->lfs = lfs != NULL;
      file->size = (guint64) size;
      g_ptr_array_add (d->files, file);
    }
  if (d->files->len == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s: the repository at %s has none of the model's files (model_index.json, transformer/, …)",
                   url, d->commit);
      return FALSE;
    }
  return TRUE;
}

static gboolean
wait_before_retry (Download *d, guint attempt)
{
  /* a short pause: a hub that failed this instant often answers the next */
  gint64 until = g_get_monotonic_time () + (gint64) MIN (attempt, 4) * 500 * 1000;
  while (g_get_monotonic_time () < until)
    {
      if (g_cancellable_is_cancelled (d->cancellable))
        return FALSE;
      g_usleep (50 * 1000);
    }
  return TRUE;
}

static gboolean
fetch_listing (Download *d, GError **error)
{
  g_autofree char *url = fa_hf_hub_listing_url (d->hub, d->repo_id, d->revision);
  g_autofree char *what = g_strdup_printf ("model %s at revision %s", d->repo_id, d->revision);

  for (guint attempt = 1;; attempt++)
    {
      g_autoptr (GError) local_error = NULL;
      guint status = 0;
      g_autoptr (GBytes) bytes = fa_hf_hub_get_bytes (d->hub, url, what, &status, d->cancellable, &local_error);
      if (bytes != NULL)
        return parse_listing (d, bytes, url, error);

      gboolean transient = status != 0 ? fa_hf_hub_status_is_transient (status)
                                       : fa_hf_hub_error_is_transient (local_error);
      if (!transient || attempt >= d->attempts || !wait_before_retry (d, attempt))
        {
          if (g_cancellable_set_error_if_cancelled (d->cancellable, error))
            return FALSE;
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      g_info ("listing, try %u of %u failed: %s", attempt, d->attempts, local_error->message);
    }
}

/* ---- the cache ---- */

static char *
blob_path (Download *d, const HubFile *file, const char *suffix)
{
  g_autofree char *name = g_strconcat (file->blob, suffix, NULL);

  return g_build_filename (d->repo, "blobs", name, NULL);
}

static char *
snapshot_path (Download *d, const HubFile *file)
{
  return g_build_filename (d->repo, "snapshots", d->commit, file->path, NULL);
}

static gint64
file_size_or_minus_one (const char *path)
{
  GStatBuf st;

  return g_stat (path, &st) == 0 && S_ISREG (st.st_mode) ? (gint64) st.st_size : -1;
}

/* snapshots/COMMIT/a/b → ../../../blobs/BLOB: relative, as huggingface_hub
 * makes them, so that the cache can be moved whole. */
static gboolean
link_snapshot (Download *d, const HubFile *file, GError **error)
{
  g_autofree char *link = snapshot_path (d, file);
  g_autofree char *folder = g_path_get_dirname (link);
  GString *target = g_string_new ("../../");
  g_autofree char *target_text = NULL;

  for (const char *p = file->path; *p != '\0'; p++)
    if (*p == '/')
      g_string_append (target, "../");
  g_string_append_printf (target, "blobs/%s", file->blob);
  target_text = g_string_free (target, FALSE);

  g_autofree char *existing = g_file_read_link (link, NULL);
  if (existing != NULL && g_str_equal (existing, target_text))
    return TRUE;
  if (g_mkdir_with_parents (folder, 0755) != 0)
    {
      fa_file_set_io_error (error, errno, folder, "cannot create the folder");
      return FALSE;
    }
  g_autofree char *tmp = g_strconcat (link, ".fa-link", NULL);
  g_unlink (tmp);
  if (symlink (target_text, tmp) != 0)
    {
      fa_file_set_io_error (error, errno, tmp, "cannot make the link");
      return FALSE;
    }
  if (g_rename (tmp, link) != 0)
    {
      int saved = errno;
      g_unlink (tmp);
      fa_file_set_io_error (error, saved, link, "cannot make the link");
      return FALSE;
    }
  return TRUE;
}

/* Writes refs/REVISION when the revision is a branch or tag, as the Python
 * libraries do, so that they (and fa_model_find) find the snapshot by name. */
static gboolean
write_ref (Download *d, GError **error)
{
  if (g_ascii_strcasecmp (d->revision, d->commit) == 0 || !fa_hf_safe_relative_path (d->revision))
    return TRUE;

  g_autofree char *path = g_build_filename (d->repo, "refs", d->revision, NULL);
  g_autofree char *folder = g_path_get_dirname (path);
  g_autofree char *tmp = g_strconcat (path, ".fa-tmp", NULL);
  if (g_mkdir_with_parents (folder, 0755) != 0)
    {
      fa_file_set_io_error (error, errno, folder, "cannot create the folder");
      return FALSE;
    }
  int fd = g_open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      fa_file_set_io_error (error, errno, tmp, "cannot create");
      return FALSE;
    }
  gboolean ok = fa_file_write_all (fd, d->commit, strlen (d->commit), tmp, error);
  return fa_file_commit_temp (fd, tmp, path, ok, error);
}

/* Whether @file is in the snapshot already (through its link, or as a
 * plain file a person put there), or as a finished blob that only needs
 * its link. */
static gboolean
file_is_present (Download *d, const HubFile *file, GError **error, gboolean *present)
{
  g_autofree char *link = snapshot_path (d, file);
  g_autofree char *blob = blob_path (d, file, "");

  *present = FALSE;
  if (file_size_or_minus_one (link) == (gint64) file->size)
    {
      *present = TRUE;
      return TRUE;
    }
  if (file_size_or_minus_one (blob) == (gint64) file->size)
    {
      *present = TRUE;
      return link_snapshot (d, file, error);
    }
  return TRUE;
}

/* The free space of the filesystem @path is (or would be) on. */
static guint64
free_space (const char *path)
{
  g_autofree char *existing = g_strdup (path);

  while (!g_file_test (existing, G_FILE_TEST_EXISTS))
    {
      char *parent = g_path_get_dirname (existing);
      gboolean at_top = g_str_equal (parent, existing);
      g_free (existing);
      existing = parent;
      if (at_top)
        break;
    }
  g_autoptr (GFile) folder = g_file_new_for_path (existing);
  g_autoptr (GFileInfo) info = g_file_query_filesystem_info (folder, G_FILE_ATTRIBUTE_FILESYSTEM_FREE, NULL, NULL);
  if (info == NULL || !g_file_info_has_attribute (info, G_FILE_ATTRIBUTE_FILESYSTEM_FREE))
    return G_MAXUINT64;
  return g_file_info_get_attribute_uint64 (info, G_FILE_ATTRIBUTE_FILESYSTEM_FREE);
}

/* ---- one file ---- */

typedef enum {
  FETCH_DONE,
  FETCH_RETRY,    /* a broken transfer or a passing refusal: another try may do */
  FETCH_MISMATCH, /* all the bytes came and their hash is wrong: they were dropped */
  FETCH_FAILED,   /* the error is final */
} FetchResult;

static GChecksum *
new_checksum (const HubFile *file)
{
  GChecksum *checksum = g_checksum_new (file->lfs ? G_CHECKSUM_SHA256 : G_CHECKSUM_SHA1);

  /* a git blob id hashes the object header before the content */
  if (!file->lfs)
    {
      g_autofree char *header = g_strdup_printf ("blob %" G_GUINT64_FORMAT, file->size);
      g_checksum_update (checksum, (const guchar *) header, (gssize) strlen (header) + 1);
    }
  return checksum;
}

/* Hashes the @length bytes already in @fd (a resumed file). */
static gboolean
hash_existing (Download *d, int fd, guint64 length, GChecksum *checksum, const char *path, GError **error)
{
  g_autofree guint8 *buffer = g_malloc (CHUNK_BYTES);
  guint64 offset = 0;

  while (offset < length)
    {
      if (g_cancellable_set_error_if_cancelled (d->cancellable, error))
        return FALSE;
      gssize got = pread (fd, buffer, (size_t) MIN ((guint64) CHUNK_BYTES, length - offset), (off_t) offset);
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        {
          fa_file_set_io_error (error, got < 0 ? errno : EIO, path, "cannot read back the part already fetched");
          return FALSE;
        }
      g_checksum_update (checksum, buffer, got);
      offset += (guint64) got;
    }
  return TRUE;
}

/* One try at @file into @partial (open as @fd): resumes from what is in
 * it, appends what comes, and on a complete body checks the hash. */
static FetchResult
fetch_once (Download *d, const HubFile *file, int fd, const char *partial, const char *url, GError **error)
{
  GStatBuf st;
  if (fstat (fd, &st) != 0)
    {
      fa_file_set_io_error (error, errno, partial, "cannot read");
      return FETCH_FAILED;
    }
  guint64 have = (guint64) st.st_size;
  if (have > file->size)
    {
      /* longer than the file can be: not a part of it */
      if (ftruncate (fd, 0) != 0)
        {
          fa_file_set_io_error (error, errno, partial, "cannot empty");
          return FETCH_FAILED;
        }
      have = 0;
    }

  g_autoptr (GChecksum) checksum = new_checksum (file);
  d->progress.done -= d->progress.file_done;
  d->progress.file_done = 0;
  if (have > 0)
    {
      add_bytes (d, have, FALSE);
      set_stage (d, FA_MODEL_DOWNLOAD_CHECKING, file);
      if (!hash_existing (d, fd, have, checksum, partial, error))
        return FETCH_FAILED;
    }
  set_stage (d, FA_MODEL_DOWNLOAD_FETCHING, file);

  if (have < file->size)
    {
      g_autoptr (GError) local_error = NULL;
      g_autoptr (SoupMessage) message = NULL;
      g_autoptr (GInputStream) body = fa_hf_hub_get (d->hub, url, (goffset) have, &message, d->cancellable,
                                                     &local_error);
      if (body == NULL)
        {
          gboolean transient = fa_hf_hub_error_is_transient (local_error);
          g_propagate_error (error, g_steal_pointer (&local_error));
          return transient ? FETCH_RETRY : FETCH_FAILED;
        }

      guint status = soup_message_get_status (message);
      if (status == SOUP_STATUS_OK && have > 0)
        {
          /* the server sent the whole file instead of the rest */
          if (ftruncate (fd, 0) != 0)
            {
              fa_file_set_io_error (error, errno, partial, "cannot empty");
              return FETCH_FAILED;
            }
          g_clear_pointer (&checksum, g_checksum_free);
          checksum = new_checksum (file);
          d->progress.done -= d->progress.file_done;
          d->progress.file_done = 0;
          have = 0;
        }
      else if (status == SOUP_STATUS_REQUESTED_RANGE_NOT_SATISFIABLE)
        {
          /* the part on disk does not fit the file the hub has */
          if (ftruncate (fd, 0) != 0)
            {
              fa_file_set_io_error (error, errno, partial, "cannot empty");
              return FETCH_FAILED;
            }
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: the hub refused to resume at byte %" G_GUINT64_FORMAT,
                       file->path, have);
          return FETCH_RETRY;
        }
      else if (status == SOUP_STATUS_PARTIAL_CONTENT)
        {
          goffset start = -1, end = -1, total = -1;
          if (!soup_message_headers_get_content_range (soup_message_get_response_headers (message), &start, &end,
                                                       &total)
              || start != (goffset) have)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                           "%s: the hub answered a resume at byte %" G_GUINT64_FORMAT " with other bytes",
                           file->path, have);
              return FETCH_RETRY;
            }
        }
      else if (status != SOUP_STATUS_OK)
        {
          g_autofree char *what = g_strdup_printf ("file %s in %s at %s", file->path, d->repo_id, d->commit);
          fa_hf_hub_status_error (d->hub, message, url, what, error);
          return fa_hf_hub_status_is_transient (status) ? FETCH_RETRY : FETCH_FAILED;
        }

      if (lseek (fd, (off_t) have, SEEK_SET) < 0)
        {
          fa_file_set_io_error (error, errno, partial, "cannot seek");
          return FETCH_FAILED;
        }
      g_autofree guint8 *buffer = g_malloc (CHUNK_BYTES);
      while (have < file->size)
        {
          gssize got = g_input_stream_read (body, buffer, (gsize) MIN ((guint64) CHUNK_BYTES, file->size - have),
                                            d->cancellable, &local_error);
          if (got < 0)
            {
              if (!fa_hf_hub_error_is_transient (local_error))
                {
                  g_propagate_error (error, g_steal_pointer (&local_error));
                  return FETCH_FAILED;
                }
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: the transfer broke at byte %" G_GUINT64_FORMAT
                           " of %" G_GUINT64_FORMAT ": %s", file->path, have, file->size, local_error->message);
              return FETCH_RETRY;
            }
          if (got == 0)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                           "%s: the hub ended the file at byte %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT,
                           file->path, have, file->size);
              return FETCH_RETRY;
            }
          if (!fa_file_write_all (fd, buffer, (gsize) got, partial, error))
            {
              g_prefix_error (error, "Could not store %s: ", file->path);
              return FETCH_FAILED;
            }
          g_checksum_update (checksum, buffer, got);
          have += (guint64) got;
          add_bytes (d, (guint64) got, TRUE);
        }
      g_input_stream_close (body, NULL, NULL);
    }

  set_stage (d, FA_MODEL_DOWNLOAD_VERIFYING, file);
  const char *digest = g_checksum_get_string (checksum);
  if (!g_str_equal (digest, file->blob))
    {
      /* the bytes are wrong somewhere: none of them can be trusted for a resume */
      if (ftruncate (fd, 0) != 0)
        {
          fa_file_set_io_error (error, errno, partial, "cannot empty");
          return FETCH_FAILED;
        }
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "%s: the downloaded file does not match the hub's %s (expected %s, got %s)", file->path,
                   file->lfs ? "SHA-256" : "git blob SHA-1", file->blob, digest);
      return FETCH_MISMATCH;
    }
  return FETCH_DONE;
}

/* Takes the lock huggingface_hub takes for the same blob (a flock on
 * .locks/models--…/BLOB.lock), so that two downloaders never write one
 * partial file at once. The fd, or -1 with @error set. */
static int
lock_blob (Download *d, const HubFile *file, GError **error)
{
  g_autofree char *repo_name = g_path_get_basename (d->repo);
  g_autofree char *folder = g_build_filename (d->cache_dir, ".locks", repo_name, NULL);
  g_autofree char *name = g_strconcat (file->blob, ".lock", NULL);
  g_autofree char *path = g_build_filename (folder, name, NULL);

  if (g_mkdir_with_parents (folder, 0755) != 0)
    {
      fa_file_set_io_error (error, errno, folder, "cannot create the folder");
      return -1;
    }
  int fd = g_open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      fa_file_set_io_error (error, errno, path, "cannot open the lock");
      return -1;
    }
  if (flock (fd, LOCK_EX | LOCK_NB) != 0)
    {
      int saved = errno;
      close (fd);
      if (saved == EWOULDBLOCK)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY,
                     "%s is being downloaded by another program (the lock %s is held)", file->path, path);
      else
        fa_file_set_io_error (error, saved, path, "cannot lock");
      return -1;
    }
  return fd;
}

static gboolean
fetch_file (Download *d, const HubFile *file, GError **error)
{
  g_autofree char *partial = blob_path (d, file, ".incomplete");
  g_autofree char *blob = blob_path (d, file, "");
  g_autofree char *url = fa_hf_hub_file_url (d->hub, d->repo_id, d->commit, file->path);
  g_autofree char *folder = g_path_get_dirname (blob);

  if (g_mkdir_with_parents (folder, 0755) != 0)
    {
      fa_file_set_io_error (error, errno, folder, "cannot create the folder");
      return FALSE;
    }
  int lock = lock_blob (d, file, error);
  if (lock < 0)
    return FALSE;
  int fd = g_open (partial, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      fa_file_set_io_error (error, errno, partial, "cannot create");
      close (lock);
      return FALSE;
    }

  /* the partial file's bytes were counted as done when the plan was made */
  GStatBuf st;
  d->progress.file_done = fstat (fd, &st) == 0 && (guint64) st.st_size <= file->size ? (guint64) st.st_size : 0;
  FetchResult result = FETCH_RETRY;
  guint failures = 0;
  g_autoptr (GError) last_error = NULL;
  while (result == FETCH_RETRY || result == FETCH_MISMATCH)
    {
      guint64 fetched_before = d->fetched;
      g_clear_error (&last_error);
      result = fetch_once (d, file, fd, partial, url, &last_error);
      if (result != FETCH_RETRY && result != FETCH_MISMATCH)
        break;
      /* A transfer that moved forward before it broke is no failure of the
       * hub's: a long file over a poor link may need many such resumes. A
       * bad checksum, or a try that got nothing, counts. */
      gboolean progressed = result == FETCH_RETRY && d->fetched > fetched_before;
      if (!progressed)
        failures++;
      g_info ("%s: %s (%s)", file->path, last_error->message, progressed ? "resuming" : "retrying");
      if (failures >= d->attempts || !wait_before_retry (d, failures))
        {
          result = FETCH_FAILED;
          break;
        }
    }

  gboolean ok = result == FETCH_DONE;
  if (ok)
    {
      /* the blob's name promises its content: only whole, synced bytes get it */
      ok = fa_file_commit_temp (fd, partial, blob, TRUE, error);
      fd = -1;
      ok = ok && link_snapshot (d, file, error);
    }
  else
    {
      if (g_cancellable_is_cancelled (d->cancellable))
        {
          g_clear_error (&last_error);
          g_cancellable_set_error_if_cancelled (d->cancellable, &last_error);
        }
      /* what came stays for the next run, unless nothing did */
      gboolean empty = fstat (fd, &st) == 0 && st.st_size == 0;
      if (fsync (fd) != 0)
        g_debug ("%s: cannot sync: %s", partial, g_strerror (errno));
      close (fd);
      if (empty)
        g_unlink (partial);
      g_propagate_error (error, g_steal_pointer (&last_error));
    }
  close (lock);
  return ok;
}

/* ---- the whole download ---- */

/* A complete snapshot of the revision already in the cache: no network. */
static char *
find_complete_snapshot (Download *d)
{
  g_autofree char *snapshot = fa_hf_snapshot_dir (d->cache_dir, d->repo_id, d->revision);
  if (snapshot == NULL)
    return NULL;
  g_autofree char *index = g_build_filename (snapshot, "model_index.json", NULL);
  if (!g_file_test (index, G_FILE_TEST_IS_REGULAR))
    return NULL;

  FaModelPaths paths = { .folder = snapshot };
  g_autoptr (FaModelReport) report = fa_model_check (&paths, d->cancellable);
  return report->complete ? g_steal_pointer (&snapshot) : NULL;
}

static char *
download (Download *d, GError **error)
{
  set_stage (d, FA_MODEL_DOWNLOAD_CHECKING, NULL);
  char *found = find_complete_snapshot (d);
  if (found != NULL)
    {
      g_debug ("%s at %s is in the cache already: %s", d->repo_id, d->revision, found);
      set_stage (d, FA_MODEL_DOWNLOAD_DONE, NULL);
      return found;
    }
  if (g_cancellable_set_error_if_cancelled (d->cancellable, error))
    return NULL;

  if (!fetch_listing (d, error))
    return NULL;

  /* what is there, what is half there, what is missing */
  g_autoptr (GPtrArray) missing = g_ptr_array_new ();
  guint64 needed = 0;
  gboolean repo_exists = g_file_test (d->repo, G_FILE_TEST_IS_DIR);
  for (guint i = 0; i < d->files->len; i++)
    {
      const HubFile *file = g_ptr_array_index (d->files, i);
      gboolean present = FALSE;

      d->progress.total += file->size;
      if (repo_exists && !file_is_present (d, file, error, &present))
        return NULL;
      if (present)
        {
          d->progress.done += file->size;
          continue;
        }
      g_autofree char *partial = blob_path (d, file, ".incomplete");
      gint64 have = file_size_or_minus_one (partial);
      guint64 resumable = have > 0 && (guint64) have <= file->size ? (guint64) have : 0;
      d->progress.done += resumable;
      needed += file->size - resumable;
      g_ptr_array_add (missing, (gpointer) file);
    }

  guint64 available = d->options->free_bytes != 0 ? d->options->free_bytes : free_space (d->repo);
  if (needed > available)
    {
      g_autofree char *needed_text = g_format_size (needed);
      g_autofree char *available_text = g_format_size (available);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                   "Not enough free space for the model in %s: %s more are needed and only %s are free", d->cache_dir,
                   needed_text, available_text);
      return NULL;
    }

  if (!write_ref (d, error))
    return NULL;

  d->progress.n_files = missing->len;
  for (guint i = 0; i < missing->len; i++)
    {
      const HubFile *file = g_ptr_array_index (missing, i);

      if (g_cancellable_set_error_if_cancelled (d->cancellable, error))
        return NULL;
      d->progress.file_index = i + 1;
      if (!fetch_file (d, file, error))
        return NULL;
    }

  d->progress.file_index = 0;
  set_stage (d, FA_MODEL_DOWNLOAD_DONE, NULL);
  return g_build_filename (d->repo, "snapshots", d->commit, NULL);
}

char *
fa_model_download (const FaModelDownloadOptions *options, FaModelDownloadProgressFunc progress,
                   gpointer user_data, GCancellable *cancellable, GError **error)
{
  static const FaModelDownloadOptions defaults = { NULL };
  Download d = { NULL };
  g_autofree char *endpoint = NULL;
  g_autofree char *token = NULL;

  if (options == NULL)
    options = &defaults;
  d.options = options;
  d.repo_id = options->repo_id != NULL ? options->repo_id : FA_MODEL_REPO_ID;
  d.revision = options->revision != NULL ? options->revision : FA_MODEL_REVISION;
  d.cache_dir = options->cache_dir != NULL ? g_strdup (options->cache_dir) : fa_hf_hub_cache_dir ();
  d.attempts = options->attempts > 0 ? options->attempts : DEFAULT_ATTEMPTS;
  d.cancellable = cancellable;
  d.progress_func = progress;
  d.progress_data = user_data;
  d.progress.seconds_left = -1;

  if (!fa_hf_safe_relative_path (d.repo_id) || strchr (d.revision, '\\') != NULL || *d.revision == '\0')
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "Not a repository and revision: “%s” at “%s”",
                   d.repo_id, d.revision);
      download_clear (&d);
      return NULL;
    }
  d.repo = fa_hf_repo_dir (d.cache_dir, d.repo_id);
  endpoint = options->endpoint != NULL ? endpoint_base (options->endpoint) : fa_hf_endpoint ();
  token = options->token != NULL ? g_strdup (options->token) : fa_hf_token ();
  d.hub = fa_hf_hub_new (endpoint, token);

  char *folder = download (&d, error);
  download_clear (&d);
  return folder;
}

/* ---- on a worker thread, progress on the caller's main context ---- */

typedef struct {
  gatomicrefcount ref;
  GMainContext *context;
  FaModelDownloadOptions options;
  char *strings[5];   /* what options point at */

  GMutex lock;
  FaModelDownloadProgress latest;
  char *latest_file;
  gboolean pending;   /* an idle is on its way with latest */
  gint64 posted_us;

  FaModelDownloadProgressFunc func;
  gpointer user_data;
  GDestroyNotify notify;
} AsyncDownload;

static AsyncDownload *
async_download_ref (AsyncDownload *a)
{
  g_atomic_ref_count_inc (&a->ref);
  return a;
}

static void
async_download_unref (AsyncDownload *a)
{
  if (!g_atomic_ref_count_dec (&a->ref))
    return;
  if (a->notify != NULL)
    a->notify (a->user_data);
  for (guint i = 0; i < G_N_ELEMENTS (a->strings); i++)
    g_free (a->strings[i]);
  g_free (a->latest_file);
  g_mutex_clear (&a->lock);
  g_main_context_unref (a->context);
  g_free (a);
}

static gboolean
deliver_progress (gpointer data)
{
  AsyncDownload *a = data;
  FaModelDownloadProgress progress;
  g_autofree char *file = NULL;

  g_mutex_lock (&a->lock);
  progress = a->latest;
  file = g_strdup (a->latest_file);
  a->pending = FALSE;
  g_mutex_unlock (&a->lock);

  progress.file = file;
  a->func (&progress, a->user_data);
  return G_SOURCE_REMOVE;
}

static void
post_progress (const FaModelDownloadProgress *progress, gpointer data)
{
  AsyncDownload *a = data;
  gint64 now = g_get_monotonic_time ();

  g_mutex_lock (&a->lock);
  gboolean boundary = progress->stage != a->latest.stage || g_strcmp0 (progress->file, a->latest_file) != 0;
  a->latest = *progress;
  if (boundary)
    {
      g_free (a->latest_file);
      a->latest_file = g_strdup (progress->file);
    }
  a->latest.file = NULL;
  if (!a->pending && (boundary || now - a->posted_us >= G_USEC_PER_SEC / 10))
    {
      a->pending = TRUE;
      a->posted_us = now;
      g_autoptr (GSource) source = g_idle_source_new ();
      g_source_set_priority (source, G_PRIORITY_DEFAULT);
      g_source_set_callback (source, deliver_progress, async_download_ref (a),
                             (GDestroyNotify) async_download_unref);
      g_source_set_static_name (source, "[fa] download progress");
      g_source_attach (source, a->context);
    }
  g_mutex_unlock (&a->lock);
}

static void
download_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  AsyncDownload *a = task_data;
  GError *error = NULL;
  char *folder = fa_model_download (&a->options, a->func != NULL ? post_progress : NULL, a, cancellable, &error);

  if (folder != NULL)
    g_task_return_pointer (task, folder, g_free);
  else
    g_task_return_error (task, error);
}

void
fa_model_download_async (const FaModelDownloadOptions *options, FaModelDownloadProgressFunc progress,
                         gpointer user_data, GDestroyNotify notify, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer callback_data)
{
  AsyncDownload *a = g_new0 (AsyncDownload, 1);

  g_atomic_ref_count_init (&a->ref);
  g_mutex_init (&a->lock);
  a->context = g_main_context_ref_thread_default ();
  a->func = progress;
  a->user_data = user_data;
  a->notify = notify;
  a->latest.stage = FA_MODEL_DOWNLOAD_CHECKING;
  a->latest.seconds_left = -1;
  if (options != NULL)
    {
      a->options = *options;
      a->options.endpoint = a->strings[0] = g_strdup (options->endpoint);
      a->options.repo_id = a->strings[1] = g_strdup (options->repo_id);
      a->options.revision = a->strings[2] = g_strdup (options->revision);
      a->options.cache_dir = a->strings[3] = g_strdup (options->cache_dir);
      a->options.token = a->strings[4] = g_strdup (options->token);
    }

  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, callback_data);
  g_task_set_source_tag (task, fa_model_download_async);
  g_task_set_task_data (task, a, (GDestroyNotify) async_download_unref);
  g_task_run_in_thread (task, download_thread);
}

char *
fa_model_download_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == fa_model_download_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- what an earlier run left ---- */

gboolean
fa_model_download_find_partial (const char *cache_dir, const char *repo_id, guint *n_files, guint64 *bytes)
{
  g_autofree char *default_cache = cache_dir == NULL ? fa_hf_hub_cache_dir () : NULL;
  g_autofree char *repo = fa_hf_repo_dir (cache_dir != NULL ? cache_dir : default_cache,
                                          repo_id != NULL ? repo_id : FA_MODEL_REPO_ID);
  g_autofree char *blobs = g_build_filename (repo, "blobs", NULL);
  g_autoptr (GDir) dir = g_dir_open (blobs, 0, NULL);
  const char *name;
  guint count = 0;
  guint64 total = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      if (!g_str_has_suffix (name, ".incomplete"))
        continue;
      g_autofree char *path = g_build_filename (blobs, name, NULL);
      gint64 size = file_size_or_minus_one (path);
      if (size <= 0)
        continue;
      count++;
      total += (guint64) size;
    }
  if (n_files != NULL)
    *n_files = count;
  if (bytes != NULL)
    *bytes = total;
  return count > 0;
}

char *
fa_model_download_progress_to_string (const FaModelDownloadProgress *progress)
{
  g_autofree char *done = g_format_size (progress->done);
  g_autofree char *total = g_format_size (progress->total);
  GString *line = g_string_new (NULL);

  g_string_append_printf (line, "%s of %s", done, total);
  if (progress->bytes_per_second > 0)
    {
      g_autofree char *rate = g_format_size ((guint64) progress->bytes_per_second);
      g_string_append_printf (line, ", %s/s", rate);
    }
  if (progress->seconds_left >= 0)
    {
      guint64 seconds = (guint64) (progress->seconds_left + 0.5);
      if (seconds < 60)
        g_string_append_printf (line, ", %" G_GUINT64_FORMAT " s left", seconds);
      else if (seconds < 3600)
        g_string_append_printf (line, ", %" G_GUINT64_FORMAT " min left", (seconds + 30) / 60);
      else
        g_string_append_printf (line, ", %" G_GUINT64_FORMAT " h %02" G_GUINT64_FORMAT " min left", seconds / 3600,
                                (seconds % 3600) / 60);
    }
  return g_string_free (line, FALSE);
}
