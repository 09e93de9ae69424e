/* fa-model-download.h: getting Wan2.1-T2V-1.3B-Diffusers from the Hugging
 * Face hub (issue 11, "Download") into the hub cache the Python libraries
 * use, so that diffusers and this app share one copy:
 *
 *   CACHE/models--Wan-AI--Wan2.1-T2V-1.3B-Diffusers/
 *     blobs/BLOB                  a finished file, named by its hash (the
 *                                 SHA-256 for LFS files, the git blob SHA-1
 *                                 for the others, as the hub's ETag)
 *     blobs/BLOB.incomplete       a file being fetched; kept when a download
 *                                 stops, resumed with a Range request
 *     snapshots/COMMIT/PATH       a relative symlink to ../../blobs/BLOB
 *     refs/REF                    the commit of a branch, when one was asked
 *   CACHE/.locks/models--…/BLOB.lock   flock()ed while BLOB is written (the
 *                                 same lock file huggingface_hub takes)
 *
 * The hub's protocol as used here: the listing
 *   GET ENDPOINT/api/models/REPO/revision/REVISION?blobs=true
 * answers JSON { "sha": COMMIT, "siblings": [ { "rfilename", "size",
 * "blobId", "lfs": { "sha256", "size" } (LFS files only) } … ] }; a file is
 *   GET ENDPOINT/REPO/resolve/COMMIT/PATH
 * which may redirect (LFS files go to a CDN; the token is sent only to the
 * endpoint's own host). Only the files the engine reads are fetched
 * (model_index.json, scheduler/, text_encoder/, tokenizer/, transformer/,
 * vae/), not README.md or assets/.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The commit of FA_MODEL_REPO_ID the app downloads: 19 files, 28 928 887 859
 * bytes (fp32 weights). */
#define FA_MODEL_REVISION "0fad780a534b6463e45facd96134c9f345acfa5b"
#define FA_MODEL_REVISION_BYTES G_GUINT64_CONSTANT (28928887859)
#define FA_HF_DEFAULT_ENDPOINT "https://huggingface.co"

typedef struct {
  const char *endpoint;   /* NULL: $HF_ENDPOINT, else FA_HF_DEFAULT_ENDPOINT */
  const char *repo_id;    /* NULL: FA_MODEL_REPO_ID */
  const char *revision;   /* NULL: FA_MODEL_REVISION; a branch ("main") is resolved by the listing */
  const char *cache_dir;  /* NULL: fa_hf_hub_cache_dir () */
  const char *token;      /* NULL: fa_hf_token (); "" sends none */
  guint64     free_bytes; /* 0: ask the cache's filesystem; else the free space to assume (tests) */
  guint       attempts;   /* tries per file after a broken transfer or a checksum failure; 0: 3 */
} FaModelDownloadOptions;

typedef enum {
  FA_MODEL_DOWNLOAD_CHECKING,   /* looking in the cache, listing the repository */
  FA_MODEL_DOWNLOAD_FETCHING,   /* bytes are coming */
  FA_MODEL_DOWNLOAD_VERIFYING,  /* hashing a finished file */
  FA_MODEL_DOWNLOAD_DONE,
} FaModelDownloadStage;

typedef struct {
  FaModelDownloadStage stage;
  const char *file;          /* the repository path in hand, or NULL */
  guint       file_index;    /* 1-based, among the n_files still to fetch */
  guint       n_files;
  guint64     file_done;     /* bytes of this file on disk (resumed ones included) */
  guint64     file_size;
  guint64     done;          /* bytes of the whole model on disk: finished, resumed and fetched */
  guint64     total;         /* bytes of the whole model (the listing's sum) */
  double      bytes_per_second; /* fetched this run, over the last few seconds; 0 until known */
  double      seconds_left;     /* at that rate; < 0 until known */
} FaModelDownloadProgress;

/* Called on the downloading thread, after every chunk written and at every
 * change of stage or file. */
typedef void (*FaModelDownloadProgressFunc) (const FaModelDownloadProgress *progress, gpointer user_data);

/* The token for the hub: $HF_TOKEN, else the file $HF_TOKEN_PATH, else
 * $HF_HOME/token, else ~/.cache/huggingface/token (what `huggingface-cli
 * login` writes); NULL when none. Whitespace trimmed. */
char    *fa_hf_token (void);
/* The endpoint: $HF_ENDPOINT when set, else FA_HF_DEFAULT_ENDPOINT, with
 * no trailing slash. */
char    *fa_hf_endpoint (void);

/* Downloads what is missing and returns the snapshot folder (a diffusers
 * model folder). When the cache already holds a complete snapshot of the
 * revision (a commit, or a ref whose refs/ file names one), it is returned
 * without any network access. Otherwise: the listing (retried after a
 * network error or a 5xx, 408 or 429, like a file); a check that the
 * bytes still to fetch fit in the free space (G_IO_ERROR_NO_SPACE, nothing
 * written); then each missing file, resumed from BLOB.incomplete with a
 * Range request, retried after a broken transfer, hashed and compared
 * with the listing (a mismatch discards the file and fetches it again), and
 * only then renamed to BLOB and linked from the snapshot. Errors name the
 * file or URL: G_IO_ERROR_NOT_FOUND (404), G_IO_ERROR_PERMISSION_DENIED
 * (401/403: a token is needed or refused), G_IO_ERROR_FAILED (other HTTP
 * statuses, checksum failures after the last attempt),
 * G_IO_ERROR_NO_SPACE, G_IO_ERROR_BUSY (another process holds the lock),
 * G_IO_ERROR_CANCELLED. Whatever the error, finished files stay, and the
 * partial file stays as BLOB.incomplete for the next call. */
char    *fa_model_download (const FaModelDownloadOptions *options, FaModelDownloadProgressFunc progress,
                            gpointer user_data, GCancellable *cancellable, GError **error);

/* The same on a worker thread; @progress is called on the thread-default
 * main context of the caller, at most about ten times a second, and soon
 * after every change of stage or file; when changes come faster than that
 * context runs, the latest state wins (a display's needs: a caller that
 * must see every file uses fa_model_download on a thread of its own).
 * @notify frees @user_data after the last call. */
void     fa_model_download_async (const FaModelDownloadOptions *options, FaModelDownloadProgressFunc progress,
                                  gpointer user_data, GDestroyNotify notify, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer callback_data);
char    *fa_model_download_finish (GAsyncResult *result, GError **error);

/* What an earlier download left in @cache_dir (NULL: the hub cache) for
 * @repo_id (NULL: FA_MODEL_REPO_ID): the number of BLOB.incomplete files
 * and their bytes. FALSE when there are none. No network. */
gboolean fa_model_download_find_partial (const char *cache_dir, const char *repo_id, guint *n_files,
                                         guint64 *bytes);

/* "1.2 GB of 28.9 GB, 45.3 MB/s, 9 minutes left" (English; the app has
 * its own translated line). */
char    *fa_model_download_progress_to_string (const FaModelDownloadProgress *progress);

G_END_DECLS
