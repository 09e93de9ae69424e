/* fa-test-hub.h: a fake Hugging Face hub on loopback for the download
 * tests (engine, CLI, app). It serves a folder (the tiny test model) as a
 * model repository at one commit, speaking the part of the hub's protocol
 * that fa-model-download.h describes:
 *
 *   GET /api/models/REPO/revision/REV[?blobs=true]   REV: the commit or "main"
 *       JSON { "id", "sha": COMMIT, "siblings": [ { "rfilename", "size",
 *       "blobId" (git blob SHA-1), "lfs": { "sha256", "size",
 *       "pointerSize": 134 } for LFS files } ] }
 *   GET /REPO/resolve/REV/PATH                       (HEAD too)
 *       regular files: 200 with the body, ETag "\"BLOBID\"",
 *       X-Repo-Commit; LFS files: 302 to http://localhost:PORT/cdn/SHA256
 *       (another host name for the same server, as the hub's CDN is),
 *       X-Linked-Etag, X-Linked-Size, X-Repo-Commit
 *   GET /cdn/SHA256                                  the LFS file's body
 * Every body honours "Range: bytes=A-" and "bytes=A-B" (206 with
 * Content-Range; 416 past the end). Connections close after each answer.
 *
 * LFS files are the .safetensors, .model and files over 100 000 bytes (as
 * the hub's .gitattributes makes them); the others are regular. The
 * listing also names README.md and assets/teaser.png (served from memory)
 * which a download must not fetch.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _FaTestHub FaTestHub;

typedef enum {
  FA_TEST_HUB_NORMAL,
  FA_TEST_HUB_CUT,          /* full Content-Length, then half the body, then the connection closes */
  FA_TEST_HUB_CORRUPT,      /* the right length, one byte changed in the middle; the listing: cut
                             * to half its JSON (with a Content-Length that says so) */
  FA_TEST_HUB_NOT_FOUND,    /* 404 with {"error": "Entry not found"} */
  FA_TEST_HUB_SERVER_ERROR, /* 500 with {"error": "Internal Error"} */
  FA_TEST_HUB_UNAUTHORIZED, /* 401 {"error": "Access to model REPO is restricted…"} */
} FaTestHubFault;

/* One request the server answered. */
typedef struct {
  char *method;
  char *path;           /* as requested, query included */
  char *host;           /* the Host header */
  char *range;          /* the Range header, or NULL */
  char *authorization;  /* the Authorization header, or NULL */
  guint status;         /* what was answered */
} FaTestHubRequest;

/* Serves @folder as @repo_id at @commit (40 hex digits) on 127.0.0.1 at a
 * free port, from threads of its own, until freed. */
FaTestHub  *fa_test_hub_new (const char *folder, const char *repo_id, const char *commit);
void        fa_test_hub_free (FaTestHub *hub);
/* "http://127.0.0.1:PORT" */
const char *fa_test_hub_get_endpoint (FaTestHub *hub);

/* The next @times answers for @path (a repository path such as
 * "vae/diffusion_pytorch_model.safetensors", applied to the body request,
 * i.e. the CDN one for LFS files; or NULL for the listing) carry @fault. */
void        fa_test_hub_set_fault (FaTestHub *hub, const char *path, FaTestHubFault fault, guint times);
/* Answers 401 to any request without "Authorization: Bearer @token" that
 * reaches 127.0.0.1 (the CDN host "localhost" never needs it). NULL: no
 * token needed (the default). */
void        fa_test_hub_require_token (FaTestHub *hub, const char *token);
/* Sleeps @usec between the 16 KiB pieces of every body (0: none), so that
 * a test can cancel in the middle of a file. */
void        fa_test_hub_set_body_delay (FaTestHub *hub, gulong usec);

/* The requests answered so far, in order: a new array of copies
 * (FaTestHubRequest*, freed with the array). */
GPtrArray  *fa_test_hub_get_requests (FaTestHub *hub);
void        fa_test_hub_clear_requests (FaTestHub *hub);
/* How many answered requests had a path starting with @prefix (NULL: all). */
guint       fa_test_hub_count_requests (FaTestHub *hub, const char *prefix);

/* The listing's facts for a test's checks: the sum of the sizes of the
 * files a download must fetch, and the blob name (SHA-256 or SHA-1) of
 * @path. */
guint64     fa_test_hub_get_model_bytes (FaTestHub *hub);
const char *fa_test_hub_get_blob (FaTestHub *hub, const char *path);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaTestHub, fa_test_hub_free)

G_END_DECLS
