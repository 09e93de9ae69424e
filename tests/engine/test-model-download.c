/* Downloading the model from the Hugging Face hub (issue 11), against the
 * fake hub of tests/fa-test-hub.h on loopback serving the tiny model: a
 * full download lands in the hub cache's layout (relative links into
 * blobs/ named by hash, content identical, README and assets left alone,
 * a complete model); a cut transfer resumes with a Range request in the
 * same call, and a cancelled one in the next call; a corrupt body is
 * fetched again, and one corrupt every time fails naming the file and
 * leaves nothing behind; 404, 500 and 401 give clear errors; a complete
 * cache (downloaded or made by hand) is used without a request, and a
 * partial one only fetches what is missing; a full disk and a failed write
 * keep the cache sound and resumable; the token goes to the hub's host
 * only; the token and endpoint come from the environment as in
 * huggingface_hub; the asynchronous call reports progress on the caller's
 * context; the progress line.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fa-model-check.h"
#include "fa-model-download.h"
#include "fa-model-find.h"
#include "fa-test-hub.h"
#include "fa-test-util.h"

#define REVISION FA_MODEL_REVISION
#define REPO_FOLDER "models--Wan-AI--Wan2.1-T2V-1.3B-Diffusers"
#define VAE "vae/diffusion_pytorch_model.safetensors"   /* the biggest LFS file (3.7 MB) */
#define SHARD "text_encoder/model-00003-of-00003.safetensors"
#define REGULAR "tokenizer/tokenizer_config.json"
#define WRITE_LIMIT 200000  /* bytes a process may write to one file in the write-failure test */

static char *tiny_dir;      /* tests/data/wan-tiny */
static GPtrArray *tiny_files; /* its files, repository paths */

typedef struct {
  char *dir;
  char *cache;   /* dir/hub */
  char *repo;    /* cache/models--Wan-AI--Wan2.1-T2V-1.3B-Diffusers */
  char *snapshot; /* repo/snapshots/REVISION */
  FaTestHub *hub;
  FaModelDownloadOptions options;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->dir = fa_test_make_folder ("fa-model-download-XXXXXX");
  f->cache = g_build_filename (f->dir, "hub", NULL);
  f->repo = g_build_filename (f->cache, REPO_FOLDER, NULL);
  f->snapshot = g_build_filename (f->repo, "snapshots", REVISION, NULL);
  f->hub = fa_test_hub_new (tiny_dir, FA_MODEL_REPO_ID, REVISION);
  f->options = (FaModelDownloadOptions) {
    .endpoint = fa_test_hub_get_endpoint (f->hub),
    .repo_id = FA_MODEL_REPO_ID,
    .revision = REVISION,
    .cache_dir = f->cache,
    .token = "",
  };
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  fa_test_hub_free (f->hub);
  fa_test_remove_tree (f->dir);
  g_free (f->dir);
  g_free (f->cache);
  g_free (f->repo);
  g_free (f->snapshot);
}

#define ADD(name, func) g_test_add (name, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

static void
list_files (const char *root, const char *relative, GPtrArray *out)
{
  g_autofree char *path = relative != NULL ? g_build_filename (root, relative, NULL) : g_strdup (root);
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = relative != NULL ? g_strconcat (relative, "/", name, NULL) : g_strdup (name);
      g_autofree char *full = g_build_filename (root, child, NULL);

      if (g_file_test (full, G_FILE_TEST_IS_DIR))
        list_files (root, child, out);
      else
        g_ptr_array_add (out, g_steal_pointer (&child));
    }
}

static GBytes *
read_bytes (const char *path)
{
  g_autoptr (GError) error = NULL;
  char *contents = NULL;
  gsize length = 0;

  g_file_get_contents (path, &contents, &length, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (contents, length);
}

static gsize
file_size (const char *path)
{
  GStatBuf st;

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  return (gsize) st.st_size;
}

static char *
blob_path (Fixture *f, const char *file)
{
  return g_build_filename (f->repo, "blobs", fa_test_hub_get_blob (f->hub, file), NULL);
}

static char *
incomplete_path (Fixture *f, const char *file)
{
  g_autofree char *blob = blob_path (f, file);
  return g_strconcat (blob, ".incomplete", NULL);
}

static gboolean
exists_no_follow (const char *path)
{
  GStatBuf st;

  return g_lstat (path, &st) == 0;
}

static gboolean
contains_nocase (const char *text, const char *part)
{
  g_autofree char *lower_text = g_ascii_strdown (text, -1);
  g_autofree char *lower_part = g_ascii_strdown (part, -1);

  return strstr (lower_text, lower_part) != NULL;
}

static void
assert_contains (const char *text, const char *part)
{
  if (text == NULL || strstr (text, part) == NULL)
    g_error ("\"%s\" does not say \"%s\"", text, part);
}

/* @file of the snapshot is a relative link into blobs/ at the blob the
 * hub names, and reads as the tiny model's file. */
static void
assert_linked (Fixture *f, const char *file)
{
  g_autofree char *link = g_build_filename (f->snapshot, file, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *target = g_file_read_link (link, &error);

  g_assert_no_error (error);
  g_assert_false (g_path_is_absolute (target));
  g_autofree char *link_dir = g_path_get_dirname (link);
  g_autofree char *resolved = g_canonicalize_filename (target, link_dir);
  g_autofree char *expected = blob_path (f, file);
  g_assert_cmpstr (resolved, ==, expected);

  g_autofree char *source = g_build_filename (tiny_dir, file, NULL);
  g_autoptr (GBytes) want = read_bytes (source);
  g_autoptr (GBytes) got = read_bytes (link);
  if (!g_bytes_equal (want, got))
    g_error ("%s: %" G_GSIZE_FORMAT " bytes differ from the source's %" G_GSIZE_FORMAT, file,
             g_bytes_get_size (got), g_bytes_get_size (want));
}

static void
assert_no_incomplete (Fixture *f)
{
  g_autofree char *blobs = g_build_filename (f->repo, "blobs", NULL);
  g_autoptr (GDir) dir = g_dir_open (blobs, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, ".incomplete"))
      g_error ("%s left in blobs/", name);
}

/* The whole tiny model is in the cache, as the hub cache holds it. */
static void
assert_snapshot_complete (Fixture *f, const char *folder)
{
  g_assert_cmpstr (folder, ==, f->snapshot);
  for (guint i = 0; i < tiny_files->len; i++)
    assert_linked (f, g_ptr_array_index (tiny_files, i));
  assert_no_incomplete (f);

  FaModelPaths paths = { .folder = (char *) folder };
  g_autoptr (FaModelReport) report = fa_model_check (&paths, NULL);
  g_autofree char *text = fa_model_report_to_string (report);
  g_test_message ("%s", text);
  g_assert_true (report->complete);
}

static char *
resolve_path (const char *file)
{
  return g_strdup_printf ("/%s/resolve/%s/%s", FA_MODEL_REPO_ID, REVISION, file);
}

/* The GET requests that carried @file's body (the CDN's for LFS files). */
static GPtrArray *
body_requests (Fixture *f, const char *file)
{
  GPtrArray *requests = fa_test_hub_get_requests (f->hub);
  g_autofree char *resolve = resolve_path (file);
  g_autofree char *cdn = g_strconcat ("/cdn/", fa_test_hub_get_blob (f->hub, file), NULL);

  for (guint i = requests->len; i-- > 0;)
    {
      FaTestHubRequest *r = g_ptr_array_index (requests, i);
      gboolean body = g_str_equal (r->method, "GET")
                      && ((g_str_equal (r->path, resolve) && r->status != 302) || g_str_equal (r->path, cdn));

      if (!body)
        g_ptr_array_remove_index (requests, i);
    }
  return requests;
}

/* Requests for @file, at the hub or the CDN. */
static guint
count_file_requests (Fixture *f, const char *file)
{
  g_autoptr (GPtrArray) all = fa_test_hub_get_requests (f->hub);
  g_autofree char *resolve = resolve_path (file);
  g_autofree char *cdn = g_strconcat ("/cdn/", fa_test_hub_get_blob (f->hub, file), NULL);
  guint count = 0;

  for (guint i = 0; i < all->len; i++)
    {
      FaTestHubRequest *r = g_ptr_array_index (all, i);
      if (g_str_equal (r->path, resolve) || g_str_equal (r->path, cdn))
        count++;
    }
  return count;
}

static void
log_requests (Fixture *f)
{
  g_autoptr (GPtrArray) all = fa_test_hub_get_requests (f->hub);

  for (guint i = 0; i < all->len; i++)
    {
      FaTestHubRequest *r = g_ptr_array_index (all, i);
      g_test_message ("%s %s (host %s, range %s) -> %u", r->method, r->path, r->host,
                      r->range != NULL ? r->range : "none", r->status);
    }
}

/* "bytes=N-": N, else -1. */
static gint64
range_start (const char *range)
{
  char *end = NULL;

  if (range == NULL || !g_str_has_prefix (range, "bytes="))
    return -1;
  gint64 start = g_ascii_strtoll (range + strlen ("bytes="), &end, 10);
  return g_str_equal (end, "-") ? start : -1;
}

/* ---- progress ---- */

typedef struct {
  guint calls;
  gboolean monotonic;        /* done must never decrease */
  FaModelDownloadStage stage;
  guint64 done;
  guint64 total;
  guint max_n_files;
  /* cancel once this many bytes of @cancel_file are on disk */
  const char *cancel_file;
  guint64 cancel_after;
  GCancellable *cancellable;
  gboolean cancelled;
} Recorder;

static void
record_progress (const FaModelDownloadProgress *p, gpointer user_data)
{
  Recorder *r = user_data;

  if (r->monotonic && r->calls > 0)
    g_assert_cmpuint (p->done, >=, r->done);
  if (p->total > 0)
    g_assert_cmpuint (p->done, <=, p->total);
  if (p->file_size > 0)
    g_assert_cmpuint (p->file_done, <=, p->file_size);
  if (p->file != NULL)
    {
      g_assert_cmpuint (p->file_index, >=, 1);
      g_assert_cmpuint (p->file_index, <=, p->n_files);
    }
  r->calls++;
  r->stage = p->stage;
  r->done = p->done;
  r->total = p->total;
  r->max_n_files = MAX (r->max_n_files, p->n_files);

  if (r->cancel_file != NULL && !r->cancelled && p->stage == FA_MODEL_DOWNLOAD_FETCHING
      && g_strcmp0 (p->file, r->cancel_file) == 0 && p->file_done >= r->cancel_after)
    {
      r->cancelled = TRUE;
      g_cancellable_cancel (r->cancellable);
    }
}

static char *
download (Fixture *f, Recorder *recorder, GCancellable *cancellable, GError **error)
{
  gint64 start = g_get_monotonic_time ();
  char *folder = fa_model_download (&f->options, recorder != NULL ? record_progress : NULL, recorder,
                                    cancellable, error);

  g_test_message ("download: %.0f ms, %u requests%s%s", (g_get_monotonic_time () - start) / 1000.0,
                  fa_test_hub_count_requests (f->hub, NULL), folder == NULL ? ", failed: " : "",
                  folder == NULL && error != NULL && *error != NULL ? (*error)->message : "");
  return folder;
}

static char *
download_ok (Fixture *f, Recorder *recorder)
{
  g_autoptr (GError) error = NULL;
  char *folder = download (f, recorder, NULL, &error);

  if (folder == NULL)
    log_requests (f);
  g_assert_no_error (error);
  g_assert_nonnull (folder);
  return folder;
}

/* ---- a whole download ---- */

static void
test_full (Fixture *f, gconstpointer data)
{
  Recorder recorder = { .monotonic = TRUE };
  g_autofree char *folder = download_ok (f, &recorder);

  assert_snapshot_complete (f, folder);
  g_autofree char *found = fa_hf_snapshot_dir (f->cache, FA_MODEL_REPO_ID, REVISION);
  g_assert_cmpstr (found, ==, folder);

  /* each file once, nothing the engine does not read */
  g_autoptr (GPtrArray) requests = fa_test_hub_get_requests (f->hub);
  g_assert_cmpuint (requests->len, >, tiny_files->len);
  for (guint i = 0; i < requests->len; i++)
    {
      FaTestHubRequest *r = g_ptr_array_index (requests, i);
      g_assert_null (strstr (r->path, "README.md"));
      g_assert_null (strstr (r->path, "assets/"));
      g_assert_null (r->authorization);
      g_assert_cmpuint (r->status, <, 400);
    }
  for (guint i = 0; i < tiny_files->len; i++)
    {
      const char *file = g_ptr_array_index (tiny_files, i);
      g_autoptr (GPtrArray) bodies = body_requests (f, file);
      g_assert_cmpuint (bodies->len, ==, 1);
    }
  g_autofree char *readme = g_build_filename (folder, "README.md", NULL);
  g_autofree char *assets = g_build_filename (folder, "assets", NULL);
  g_assert_false (exists_no_follow (readme));
  g_assert_false (exists_no_follow (assets));

  g_assert_cmpint (recorder.stage, ==, FA_MODEL_DOWNLOAD_DONE);
  g_assert_cmpuint (recorder.total, ==, fa_test_hub_get_model_bytes (f->hub));
  g_assert_cmpuint (recorder.done, ==, recorder.total);
  g_assert_cmpuint (recorder.max_n_files, ==, tiny_files->len);

  guint n_partial = 99;
  guint64 partial_bytes = 99;
  g_assert_false (fa_model_download_find_partial (f->cache, FA_MODEL_REPO_ID, &n_partial, &partial_bytes));
}

/* A branch is resolved by the listing and written to refs/. */
static void
test_branch (Fixture *f, gconstpointer data)
{
  f->options.revision = "main";
  g_autofree char *folder = download_ok (f, NULL);

  assert_snapshot_complete (f, folder);
  g_autofree char *ref = g_build_filename (f->repo, "refs", "main", NULL);
  g_autoptr (GBytes) commit = read_bytes (ref);
  g_autofree char *text = g_strstrip (g_strndup (g_bytes_get_data (commit, NULL), g_bytes_get_size (commit)));
  g_assert_cmpstr (text, ==, REVISION);
  g_autofree char *found = fa_hf_snapshot_dir (f->cache, FA_MODEL_REPO_ID, "main");
  g_assert_cmpstr (found, ==, folder);
}

/* ---- resuming ---- */

static void
test_cut_resumed (Fixture *f, gconstpointer data)
{
  Recorder recorder = { .monotonic = TRUE };

  fa_test_hub_set_fault (f->hub, VAE, FA_TEST_HUB_CUT, 1);
  g_autofree char *folder = download_ok (f, &recorder);
  log_requests (f);
  assert_snapshot_complete (f, folder);

  /* the second request asks for what the first did not bring */
  g_autoptr (GPtrArray) bodies = body_requests (f, VAE);
  g_assert_cmpuint (bodies->len, ==, 2);
  FaTestHubRequest *first = g_ptr_array_index (bodies, 0);
  FaTestHubRequest *second = g_ptr_array_index (bodies, 1);
  g_assert_null (first->range);
  gint64 resumed_at = range_start (second->range);
  g_assert_cmpint (resumed_at, >, 0);
  g_autofree char *source = g_build_filename (tiny_dir, VAE, NULL);
  g_assert_cmpint (resumed_at, <=, (gint64) file_size (source) / 2);
  g_assert_cmpuint (second->status, ==, 206);
  g_assert_cmpuint (recorder.done, ==, fa_test_hub_get_model_bytes (f->hub));
}

static void
test_restart_resumed (Fixture *f, gconstpointer data)
{
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  Recorder recorder = { .monotonic = TRUE, .cancel_file = VAE, .cancel_after = 64 * 1024,
                        .cancellable = cancellable };
  g_autoptr (GError) error = NULL;
  g_autofree char *source = g_build_filename (tiny_dir, VAE, NULL);
  gsize vae_size = file_size (source);

  /* about 2 ms per 16 KiB: the VAE takes half a second */
  fa_test_hub_set_body_delay (f->hub, 2000);
  g_autofree char *failed = download (f, &recorder, cancellable, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (failed);
  g_assert_true (recorder.cancelled);

  g_autofree char *incomplete = incomplete_path (f, VAE);
  gsize partial = file_size (incomplete);
  g_assert_cmpuint (partial, >, 0);
  g_assert_cmpuint (partial, <, vae_size);
  g_autofree char *blob = blob_path (f, VAE);
  g_autofree char *link = g_build_filename (f->snapshot, VAE, NULL);
  g_assert_false (exists_no_follow (blob));
  g_assert_false (exists_no_follow (link));

  guint n_partial = 0;
  guint64 partial_bytes = 0;
  g_assert_true (fa_model_download_find_partial (f->cache, FA_MODEL_REPO_ID, &n_partial, &partial_bytes));
  g_assert_cmpuint (n_partial, ==, 1);
  g_assert_cmpuint (partial_bytes, ==, partial);

  /* what was finished before the cancel is not fetched again */
  g_autoptr (GPtrArray) finished = g_ptr_array_new ();
  for (guint i = 0; i < tiny_files->len; i++)
    {
      const char *file = g_ptr_array_index (tiny_files, i);
      g_autofree char *path = g_build_filename (f->snapshot, file, NULL);
      if (exists_no_follow (path))
        g_ptr_array_add (finished, (gpointer) file);
    }

  fa_test_hub_set_body_delay (f->hub, 0);
  fa_test_hub_clear_requests (f->hub);
  g_autoptr (GCancellable) second_cancellable = g_cancellable_new ();
  Recorder second = { .monotonic = TRUE };
  g_autoptr (GError) second_error = NULL;
  g_autofree char *folder = download (f, &second, second_cancellable, &second_error);
  g_assert_no_error (second_error);
  assert_snapshot_complete (f, folder);

  g_autoptr (GPtrArray) bodies = body_requests (f, VAE);
  g_assert_cmpuint (bodies->len, ==, 1);
  FaTestHubRequest *resumed = g_ptr_array_index (bodies, 0);
  g_assert_cmpint (range_start (resumed->range), ==, (gint64) partial);
  for (guint i = 0; i < finished->len; i++)
    g_assert_cmpuint (count_file_requests (f, g_ptr_array_index (finished, i)), ==, 0);
  g_assert_false (fa_model_download_find_partial (f->cache, FA_MODEL_REPO_ID, &n_partial, &partial_bytes));
}

/* ---- corrupt bodies ---- */

static void
test_corrupt_once (Fixture *f, gconstpointer data)
{
  fa_test_hub_set_fault (f->hub, VAE, FA_TEST_HUB_CORRUPT, 1);
  g_autofree char *folder = download_ok (f, NULL);

  assert_snapshot_complete (f, folder);
  g_autoptr (GPtrArray) bodies = body_requests (f, VAE);
  g_assert_cmpuint (bodies->len, ==, 2);
  /* the bad bytes were thrown away, not resumed from */
  FaTestHubRequest *again = g_ptr_array_index (bodies, 1);
  g_assert_cmpint (range_start (again->range), <=, 0);
}

/* A regular file is checked too, against its git blob name. */
static void
test_corrupt_regular (Fixture *f, gconstpointer data)
{
  fa_test_hub_set_fault (f->hub, REGULAR, FA_TEST_HUB_CORRUPT, 1);
  g_autofree char *folder = download_ok (f, NULL);

  assert_snapshot_complete (f, folder);
  g_autoptr (GPtrArray) bodies = body_requests (f, REGULAR);
  g_assert_cmpuint (bodies->len, ==, 2);
}

static void
test_corrupt_always (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->options.attempts = 2;
  fa_test_hub_set_fault (f->hub, VAE, FA_TEST_HUB_CORRUPT, 10);
  g_autofree char *folder = download (f, NULL, NULL, &error);
  g_assert_null (folder);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
  assert_contains (error->message, VAE);
  if (!contains_nocase (error->message, "checksum") && !contains_nocase (error->message, "sha-256")
      && !contains_nocase (error->message, "sha256"))
    g_error ("\"%s\" does not say that the checksum is wrong", error->message);

  g_autoptr (GPtrArray) bodies = body_requests (f, VAE);
  g_assert_cmpuint (bodies->len, ==, 2);

  g_autofree char *blob = blob_path (f, VAE);
  g_autofree char *incomplete = incomplete_path (f, VAE);
  g_autofree char *link = g_build_filename (f->snapshot, VAE, NULL);
  g_assert_false (exists_no_follow (blob));
  g_assert_false (exists_no_follow (incomplete));
  g_assert_false (exists_no_follow (link));
}

/* ---- HTTP errors ---- */

static void
test_listing_not_found (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  fa_test_hub_set_fault (f->hub, NULL, FA_TEST_HUB_NOT_FOUND, 1);
  g_autofree char *folder = download (f, NULL, NULL, &error);
  g_assert_null (folder);
  fa_test_assert_error_message (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, FA_MODEL_REPO_ID);
  g_assert_cmpuint (fa_test_hub_count_requests (f->hub, "/api/"), ==, 1);
  g_assert_cmpuint (fa_test_hub_count_requests (f->hub, NULL), ==, 1);
}

/* A listing that is not JSON is no transient failure: one request. */
static void
test_listing_corrupt (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  fa_test_hub_set_fault (f->hub, NULL, FA_TEST_HUB_CORRUPT, 1);
  g_autofree char *folder = download (f, NULL, NULL, &error);
  g_assert_null (folder);
  fa_test_assert_error_message (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the listing is not JSON");
  g_assert_cmpuint (fa_test_hub_count_requests (f->hub, NULL), ==, 1);
  g_autofree char *blobs = g_build_filename (f->repo, "blobs", NULL);
  g_assert_false (g_file_test (blobs, G_FILE_TEST_EXISTS));
}

/* A repository name that could climb out of the cache is refused before
 * any request. */
static void
test_bad_repository (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->options.repo_id = "../Wan-AI";
  g_autofree char *folder = download (f, NULL, NULL, &error);
  g_assert_null (folder);
  fa_test_assert_error_message (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "Not a repository");
  g_assert_cmpuint (fa_test_hub_count_requests (f->hub, NULL), ==, 0);
}

static void
test_file_not_found (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  fa_test_hub_set_fault (f->hub, REGULAR, FA_TEST_HUB_NOT_FOUND, 1);
  g_autofree char *folder = download (f, NULL, NULL, &error);
  g_assert_null (folder);
  fa_test_assert_error_message (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, REGULAR);
  g_autofree char *link = g_build_filename (f->snapshot, REGULAR, NULL);
  g_assert_false (exists_no_follow (link));
}

static void
test_file_server_error (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  fa_test_hub_set_fault (f->hub, SHARD, FA_TEST_HUB_SERVER_ERROR, 100);
  g_autofree char *folder = download (f, NULL, NULL, &error);
  g_assert_null (folder);
  fa_test_assert_error_message (error, G_IO_ERROR, G_IO_ERROR_FAILED, "500");
  g_autofree char *link = g_build_filename (f->snapshot, SHARD, NULL);
  g_autofree char *blob = blob_path (f, SHARD);
  g_assert_false (exists_no_follow (link));
  g_assert_false (exists_no_follow (blob));
}

static void
test_listing_server_error (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  fa_test_hub_set_fault (f->hub, NULL, FA_TEST_HUB_SERVER_ERROR, 100);
  g_autofree char *folder = download (f, NULL, NULL, &error);
  g_assert_null (folder);
  fa_test_assert_error_message (error, G_IO_ERROR, G_IO_ERROR_FAILED, "500");
  g_assert_cmpuint (fa_test_hub_count_requests (f->hub, "/api/"), ==, fa_test_hub_count_requests (f->hub, NULL));
  g_assert_false (exists_no_follow (f->snapshot));
}

/* ---- what is already there ---- */

static void
test_cached (Fixture *f, gconstpointer data)
{
  g_autofree char *first = download_ok (f, NULL);

  fa_test_hub_clear_requests (f->hub);
  Recorder recorder = { 0 };
  g_autofree char *second = download_ok (f, &recorder);
  g_assert_cmpstr (second, ==, first);
  g_assert_cmpuint (fa_test_hub_count_requests (f->hub, NULL), ==, 0);
  if (recorder.calls > 0)
    g_assert_cmpint (recorder.stage, ==, FA_MODEL_DOWNLOAD_DONE);
}

/* Files copied by hand under snapshots/, named by refs/main. */
static void
test_cached_by_hand (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < tiny_files->len; i++)
    {
      const char *file = g_ptr_array_index (tiny_files, i);
      g_autofree char *source = g_build_filename (tiny_dir, file, NULL);
      g_autofree char *copy = g_build_filename (f->snapshot, file, NULL);
      g_autofree char *parent = g_path_get_dirname (copy);
      g_autoptr (GBytes) bytes = read_bytes (source);

      g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
      g_file_set_contents (copy, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), &error);
      g_assert_no_error (error);
    }
  g_autofree char *refs = g_build_filename (f->repo, "refs", NULL);
  g_autofree char *ref = g_build_filename (refs, "main", NULL);
  g_assert_cmpint (g_mkdir_with_parents (refs, 0755), ==, 0);
  g_file_set_contents (ref, REVISION, -1, &error);
  g_assert_no_error (error);

  f->options.revision = "main";
  g_autofree char *folder = download_ok (f, NULL);
  g_assert_cmpstr (folder, ==, f->snapshot);
  g_assert_cmpuint (fa_test_hub_count_requests (f->hub, NULL), ==, 0);
}

/* Two files lost from a finished download: only they are fetched. */
static void
test_partial_cache (Fixture *f, gconstpointer data)
{
  static const char *const lost[] = { SHARD, "vae/config.json" };
  g_autofree char *first = download_ok (f, NULL);

  assert_snapshot_complete (f, first);
  for (guint i = 0; i < G_N_ELEMENTS (lost); i++)
    {
      g_autofree char *blob = blob_path (f, lost[i]);
      g_autofree char *link = g_build_filename (f->snapshot, lost[i], NULL);
      g_assert_cmpint (g_unlink (blob), ==, 0);
      g_assert_cmpint (g_unlink (link), ==, 0);
    }
  fa_test_hub_clear_requests (f->hub);
  Recorder recorder = { .monotonic = TRUE };
  g_autofree char *folder = download_ok (f, &recorder);
  log_requests (f);
  assert_snapshot_complete (f, folder);

  g_autoptr (GPtrArray) requests = fa_test_hub_get_requests (f->hub);
  for (guint i = 0; i < requests->len; i++)
    {
      FaTestHubRequest *r = g_ptr_array_index (requests, i);
      gboolean expected = g_str_has_prefix (r->path, "/api/models/");

      for (guint j = 0; j < G_N_ELEMENTS (lost); j++)
        {
          g_autofree char *resolve = resolve_path (lost[j]);
          g_autofree char *cdn = g_strconcat ("/cdn/", fa_test_hub_get_blob (f->hub, lost[j]), NULL);
          expected = expected || g_str_equal (r->path, resolve) || g_str_equal (r->path, cdn);
        }
      if (!expected)
        g_error ("%s fetched again", r->path);
    }
  for (guint j = 0; j < G_N_ELEMENTS (lost); j++)
    {
      g_autoptr (GPtrArray) bodies = body_requests (f, lost[j]);
      g_assert_cmpuint (bodies->len, ==, 1);
    }
  g_assert_cmpuint (recorder.max_n_files, ==, G_N_ELEMENTS (lost));
  g_assert_cmpuint (recorder.done, ==, fa_test_hub_get_model_bytes (f->hub));
}

/* ---- the disk ---- */

static void
test_no_space (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->options.free_bytes = 1000;
  g_autofree char *folder = download (f, NULL, NULL, &error);
  g_assert_null (folder);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_autofree char *needed = g_format_size (fa_test_hub_get_model_bytes (f->hub));
  g_autofree char *free_space = g_format_size (1000);
  assert_contains (error->message, needed);
  assert_contains (error->message, free_space);

  g_autofree char *blobs = g_build_filename (f->repo, "blobs", NULL);
  g_autoptr (GDir) dir = g_dir_open (blobs, 0, NULL);
  if (dir != NULL)
    g_assert_null (g_dir_read_name (dir));
  g_assert_false (exists_no_follow (f->snapshot));
  /* only the listing was asked for */
  g_assert_cmpuint (fa_test_hub_count_requests (f->hub, "/api/"), ==, fa_test_hub_count_requests (f->hub, NULL));
}

static gboolean
names_a_file (const char *message)
{
  for (guint i = 0; i < tiny_files->len; i++)
    if (strstr (message, g_ptr_array_index (tiny_files, i)) != NULL)
      return TRUE;
  return strstr (message, "blobs/") != NULL;
}

/* The cache after a write failed: every blob in place is whole and right,
 * every link reaches one. */
static void
assert_cache_sound (Fixture *f)
{
  for (guint i = 0; i < tiny_files->len; i++)
    {
      const char *file = g_ptr_array_index (tiny_files, i);
      g_autofree char *blob = blob_path (f, file);
      g_autofree char *link = g_build_filename (f->snapshot, file, NULL);

      if (exists_no_follow (blob))
        {
          g_autofree char *source = g_build_filename (tiny_dir, file, NULL);
          g_autoptr (GBytes) want = read_bytes (source);
          g_autoptr (GBytes) got = read_bytes (blob);
          g_assert_cmpuint (g_bytes_get_size (want), <=, WRITE_LIMIT);
          g_assert_true (g_bytes_equal (want, got));
        }
      if (exists_no_follow (link))
        {
          g_assert_true (exists_no_follow (blob));
          assert_linked (f, file);
        }
      g_autofree char *incomplete = incomplete_path (f, file);
      if (exists_no_follow (incomplete))
        g_assert_cmpuint (file_size (incomplete), <=, WRITE_LIMIT);
    }
  /* nothing else under blobs/ */
  g_autofree char *blobs = g_build_filename (f->repo, "blobs", NULL);
  g_autoptr (GDir) dir = g_dir_open (blobs, 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      gboolean known = FALSE;
      for (guint i = 0; i < tiny_files->len && !known; i++)
        {
          const char *blob = fa_test_hub_get_blob (f->hub, g_ptr_array_index (tiny_files, i));
          g_autofree char *partial = g_strconcat (blob, ".incomplete", NULL);
          known = g_str_equal (name, blob) || g_str_equal (name, partial);
        }
      if (!known)
        g_error ("blobs/%s is none of the model's", name);
    }
}

/* A write that fails in the middle of a file (the process may not write
 * more than WRITE_LIMIT bytes to a file, as on a full disk): a clear
 * error, a sound cache, and the next call finishes the download. */
static void
test_write_failure (void)
{
  if (g_test_subprocess ())
    {
      Fixture child = { 0 };
      g_autoptr (GError) error = NULL;
      struct rlimit limit = { WRITE_LIMIT, WRITE_LIMIT };

      child.hub = fa_test_hub_new (tiny_dir, FA_MODEL_REPO_ID, REVISION);
      child.options = (FaModelDownloadOptions) {
        .endpoint = fa_test_hub_get_endpoint (child.hub),
        .repo_id = FA_MODEL_REPO_ID,
        .revision = REVISION,
        .cache_dir = g_getenv ("FA_TEST_DOWNLOAD_CACHE"),
        .token = "",
      };
      signal (SIGXFSZ, SIG_IGN);
      g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &limit), ==, 0);
      g_autofree char *folder = fa_model_download (&child.options, NULL, NULL, NULL, &error);
      if (folder != NULL)
        {
          g_print ("downloaded %s despite the limit\n", folder);
          exit (0);
        }
      g_print ("download failed: %s %d: %s\nnames a file: %s\n", g_quark_to_string (error->domain), error->code,
               error->message, names_a_file (error->message) ? "yes" : "no");
      fa_test_hub_free (child.hub);
      exit (3);
    }

  Fixture fixture;
  Fixture *f = &fixture;
  fixture_set_up (f, NULL);
  g_setenv ("FA_TEST_DOWNLOAD_CACHE", f->cache, TRUE);
  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_unsetenv ("FA_TEST_DOWNLOAD_CACHE");
  g_test_trap_assert_failed ();
  g_test_trap_assert_stdout ("*download failed: *names a file: yes*");

  assert_cache_sound (f);
  /* the file that failed stays as a part, to be resumed */
  guint n_partial = 0;
  guint64 partial_bytes = 0;
  g_assert_true (fa_model_download_find_partial (f->cache, FA_MODEL_REPO_ID, &n_partial, &partial_bytes));
  g_assert_cmpuint (n_partial, ==, 1);
  g_assert_cmpuint (partial_bytes, >, 0);
  g_assert_cmpuint (partial_bytes, <=, WRITE_LIMIT);
  const char *partial_file = NULL;
  for (guint i = 0; i < tiny_files->len; i++)
    {
      g_autofree char *incomplete = incomplete_path (f, g_ptr_array_index (tiny_files, i));
      if (exists_no_follow (incomplete))
        {
          partial_file = g_ptr_array_index (tiny_files, i);
          g_assert_cmpuint (file_size (incomplete), ==, partial_bytes);
        }
    }
  g_assert_nonnull (partial_file);

  Recorder recorder = { .monotonic = TRUE };
  g_autofree char *folder = download_ok (f, &recorder);
  assert_snapshot_complete (f, folder);
  g_assert_cmpuint (recorder.done, ==, fa_test_hub_get_model_bytes (f->hub));
  g_autoptr (GPtrArray) bodies = body_requests (f, partial_file);
  g_assert_cmpuint (bodies->len, ==, 1);
  g_assert_cmpint (range_start (((FaTestHubRequest *) g_ptr_array_index (bodies, 0))->range), ==,
                   (gint64) partial_bytes);
  fixture_tear_down (f, NULL);
}

/* Another process writing a blob holds its lock: the download says so
 * instead of writing the same file. */
static void
test_busy (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *locks = g_build_filename (f->cache, ".locks", REPO_FOLDER, NULL);
  g_autofree char *lock_name = g_strconcat (fa_test_hub_get_blob (f->hub, VAE), ".lock", NULL);
  g_autofree char *lock_path = g_build_filename (locks, lock_name, NULL);

  g_assert_cmpint (g_mkdir_with_parents (locks, 0755), ==, 0);
  int fd = g_open (lock_path, O_CREAT | O_RDWR, 0644);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (flock (fd, LOCK_EX | LOCK_NB), ==, 0);

  g_autofree char *folder = download (f, NULL, NULL, &error);
  g_assert_null (folder);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_BUSY);
  g_autofree char *link = g_build_filename (f->snapshot, VAE, NULL);
  g_assert_false (exists_no_follow (link));

  flock (fd, LOCK_UN);
  close (fd);
  g_clear_error (&error);
  g_autofree char *done = download_ok (f, NULL);
  assert_snapshot_complete (f, done);
}

/* ---- the token ---- */

static void
test_token (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  fa_test_hub_require_token (f->hub, "hf_test");
  g_autofree char *without = download (f, NULL, NULL, &error);
  g_assert_null (without);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  if (!contains_nocase (error->message, "token"))
    g_error ("\"%s\" does not mention a token", error->message);
  g_clear_error (&error);

  f->options.token = "hf_wrong";
  g_autofree char *wrong = download (f, NULL, NULL, &error);
  g_assert_null (wrong);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_clear_error (&error);

  fa_test_hub_clear_requests (f->hub);
  f->options.token = "hf_test";
  g_autofree char *folder = download_ok (f, NULL);
  assert_snapshot_complete (f, folder);

  /* the token went to the hub, never to the CDN */
  g_autoptr (GPtrArray) requests = fa_test_hub_get_requests (f->hub);
  guint to_cdn = 0, to_hub = 0;
  for (guint i = 0; i < requests->len; i++)
    {
      FaTestHubRequest *r = g_ptr_array_index (requests, i);

      g_assert_nonnull (r->host);
      if (g_str_has_prefix (r->host, "localhost"))
        {
          g_assert_null (r->authorization);
          to_cdn++;
        }
      else
        {
          g_assert_true (g_str_has_prefix (r->host, "127.0.0.1"));
          g_assert_cmpstr (r->authorization, ==, "Bearer hf_test");
          to_hub++;
        }
    }
  g_assert_cmpuint (to_cdn, >, 0);
  g_assert_cmpuint (to_hub, >, 0);
}

/* ---- the environment ---- */

static const char *const env_names[] = { "HF_TOKEN", "HF_TOKEN_PATH", "HF_HOME", "HF_ENDPOINT" };

static void
test_environment (Fixture *f, gconstpointer data)
{
  char *saved[G_N_ELEMENTS (env_names)];
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (env_names); i++)
    {
      saved[i] = g_strdup (g_getenv (env_names[i]));
      g_unsetenv (env_names[i]);
    }

  g_autofree char *token_path = g_build_filename (f->dir, "my-token", NULL);
  g_file_set_contents (token_path, "\n  hf_from_path \t\n\n", -1, &error);
  g_assert_no_error (error);
  g_autofree char *home = g_build_filename (f->dir, "hf-home", NULL);
  g_autofree char *home_token = g_build_filename (home, "token", NULL);
  g_assert_cmpint (g_mkdir (home, 0755), ==, 0);
  g_file_set_contents (home_token, "hf_from_home\n", -1, &error);
  g_assert_no_error (error);

  g_setenv ("HF_HOME", home, TRUE);
  g_autofree char *from_home = fa_hf_token ();
  g_assert_cmpstr (from_home, ==, "hf_from_home");

  g_setenv ("HF_TOKEN_PATH", token_path, TRUE);
  g_autofree char *from_path = fa_hf_token ();
  g_assert_cmpstr (from_path, ==, "hf_from_path");

  g_setenv ("HF_TOKEN", " hf_from_env\n", TRUE);
  g_autofree char *from_env = fa_hf_token ();
  g_assert_cmpstr (from_env, ==, "hf_from_env");

  g_setenv ("HF_ENDPOINT", "http://mirror.example:8080/", TRUE);
  g_autofree char *mirror = fa_hf_endpoint ();
  g_assert_cmpstr (mirror, ==, "http://mirror.example:8080");
  g_unsetenv ("HF_ENDPOINT");
  g_autofree char *official = fa_hf_endpoint ();
  g_assert_cmpstr (official, ==, FA_HF_DEFAULT_ENDPOINT);

  /* a NULL endpoint and token in the options come from the environment */
  g_setenv ("HF_ENDPOINT", fa_test_hub_get_endpoint (f->hub), TRUE);
  g_setenv ("HF_TOKEN", "hf_env_token", TRUE);
  fa_test_hub_require_token (f->hub, "hf_env_token");
  f->options.endpoint = NULL;
  f->options.token = NULL;
  g_autofree char *folder = download_ok (f, NULL);
  assert_snapshot_complete (f, folder);

  for (guint i = 0; i < G_N_ELEMENTS (env_names); i++)
    {
      if (saved[i] != NULL)
        g_setenv (env_names[i], saved[i], TRUE);
      else
        g_unsetenv (env_names[i]);
      g_free (saved[i]);
    }
}

/* ---- the asynchronous call ---- */

typedef struct {
  GMainContext *context;
  GThread *thread;
  guint progress_calls;
  FaModelDownloadStage stage;
  int notified;        /* atomic: the last reference may go on the worker thread */
  gboolean finished;
  char *folder;
  GError *error;
} AsyncState;

static void
async_progress (const FaModelDownloadProgress *progress, gpointer user_data)
{
  AsyncState *state = user_data;

  g_assert_true (g_thread_self () == state->thread);
  g_assert_true (g_main_context_is_owner (state->context));
  g_assert_true (g_main_context_get_thread_default () == state->context);
  g_assert_cmpint (g_atomic_int_get (&state->notified), ==, 0);
  state->progress_calls++;
  state->stage = progress->stage;
}

static void
async_notify (gpointer user_data)
{
  AsyncState *state = user_data;

  g_atomic_int_inc (&state->notified);
}

static void
async_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AsyncState *state = user_data;

  g_assert_true (g_thread_self () == state->thread);
  g_assert_true (g_main_context_get_thread_default () == state->context);
  g_assert_false (state->finished);
  state->folder = fa_model_download_finish (result, &state->error);
  state->finished = TRUE;
}

/* Starts the download on @context (pushed as the thread's default) and
 * runs it until the result is in and @user_data was let go. */
static void
run_async (Fixture *f, AsyncState *state, GCancellable *cancellable, gboolean cancel_at_once)
{
  gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;

  g_main_context_push_thread_default (state->context);
  fa_model_download_async (&f->options, async_progress, state, async_notify, cancellable, async_done, state);
  if (cancel_at_once)
    g_cancellable_cancel (cancellable);
  while (!(state->finished && g_atomic_int_get (&state->notified) > 0) && g_get_monotonic_time () < deadline)
    if (!g_main_context_iteration (state->context, FALSE))
      g_usleep (1000);
  /* anything still queued must not call back after the notify */
  while (g_main_context_iteration (state->context, FALSE))
    ;
  g_main_context_pop_thread_default (state->context);

  g_assert_true (state->finished);
  g_assert_cmpint (g_atomic_int_get (&state->notified), ==, 1);
}

static void
test_async (Fixture *f, gconstpointer data)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  AsyncState state = { .context = context, .thread = g_thread_self () };

  run_async (f, &state, NULL, FALSE);
  g_assert_no_error (state.error);
  assert_snapshot_complete (f, state.folder);
  g_assert_cmpuint (state.progress_calls, >, 0);
  g_assert_cmpint (state.stage, ==, FA_MODEL_DOWNLOAD_DONE);
  g_free (state.folder);
}

static void
test_async_cancelled (Fixture *f, gconstpointer data)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  AsyncState state = { .context = context, .thread = g_thread_self () };

  fa_test_hub_set_body_delay (f->hub, 2000);
  run_async (f, &state, cancellable, TRUE);
  g_assert_null (state.folder);
  g_assert_error (state.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&state.error);
  g_autofree char *link = g_build_filename (f->snapshot, VAE, NULL);
  g_assert_false (exists_no_follow (link));
}

/* ---- the progress line ---- */

static void
test_progress_string (void)
{
  FaModelDownloadProgress progress = {
    .stage = FA_MODEL_DOWNLOAD_FETCHING,
    .file = VAE,
    .file_index = 3,
    .n_files = 12,
    .file_done = 1000,
    .file_size = 5000000,
    .done = G_GUINT64_CONSTANT (1234567890),
    .total = FA_MODEL_REVISION_BYTES,
    .bytes_per_second = 45.3e6,
    .seconds_left = 9 * 60 + 30,
  };
  g_autofree char *done = g_format_size (progress.done);
  g_autofree char *total = g_format_size (progress.total);
  g_autofree char *rate = g_format_size ((guint64) progress.bytes_per_second);

  g_autofree char *known = fa_model_download_progress_to_string (&progress);
  g_test_message ("%s", known);
  assert_contains (known, done);
  assert_contains (known, total);
  assert_contains (known, rate);
  assert_contains (known, "/s");
  assert_contains (known, "left");

  progress.bytes_per_second = 0;
  progress.seconds_left = -1;
  g_autofree char *unknown = fa_model_download_progress_to_string (&progress);
  g_test_message ("%s", unknown);
  assert_contains (unknown, done);
  assert_contains (unknown, total);
  g_assert_null (strstr (unknown, "left"));
  g_assert_null (strstr (unknown, "/s"));
}

int
main (int argc, char **argv)
{
  static const char *const proxies[] = { "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
                                         "ALL_PROXY", "no_proxy", "NO_PROXY" };

  /* loopback only, whatever proxy the machine has; and no libproxy, whose
   * C++ exceptions abort under AddressSanitizer in a C program */
  for (guint i = 0; i < G_N_ELEMENTS (proxies); i++)
    g_unsetenv (proxies[i]);
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
  g_test_init (&argc, &argv, NULL);

  const char *srcdir = g_getenv ("FA_TEST_SRCDIR");
  g_assert_nonnull (srcdir);
  tiny_dir = g_build_filename (srcdir, "data", "wan-tiny", NULL);
  tiny_files = g_ptr_array_new_with_free_func (g_free);
  list_files (tiny_dir, NULL, tiny_files);
  g_assert_cmpuint (tiny_files->len, ==, 18);

  ADD ("/model-download/full", test_full);
  ADD ("/model-download/branch", test_branch);
  ADD ("/model-download/cut-resumed", test_cut_resumed);
  ADD ("/model-download/restart-resumed", test_restart_resumed);
  ADD ("/model-download/corrupt-once", test_corrupt_once);
  ADD ("/model-download/corrupt-regular", test_corrupt_regular);
  ADD ("/model-download/corrupt-always", test_corrupt_always);
  ADD ("/model-download/listing-not-found", test_listing_not_found);
  ADD ("/model-download/file-not-found", test_file_not_found);
  ADD ("/model-download/file-server-error", test_file_server_error);
  ADD ("/model-download/listing-server-error", test_listing_server_error);
  ADD ("/model-download/listing-corrupt", test_listing_corrupt);
  ADD ("/model-download/bad-repository", test_bad_repository);
  ADD ("/model-download/cached", test_cached);
  ADD ("/model-download/cached-by-hand", test_cached_by_hand);
  ADD ("/model-download/partial-cache", test_partial_cache);
  ADD ("/model-download/no-space", test_no_space);
  g_test_add_func ("/model-download/write-failure", test_write_failure);
  ADD ("/model-download/busy", test_busy);
  ADD ("/model-download/token", test_token);
  ADD ("/model-download/environment", test_environment);
  ADD ("/model-download/async", test_async);
  ADD ("/model-download/async-cancelled", test_async_cancelled);
  g_test_add_func ("/model-download/progress-string", test_progress_string);

  int status = g_test_run ();
  g_ptr_array_unref (tiny_files);
  g_free (tiny_dir);
  return status;
}
