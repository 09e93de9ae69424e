/* fa-hf-hub.h: talking to a Hugging Face hub (or a mirror) over HTTP with
 * libsoup: the session, redirects that keep the token on the hub's own
 * host, and HTTP statuses turned into errors that say what to do. What
 * fa-model-download.c builds on; engine-private.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef struct _FaHfHub FaHfHub;

/* @endpoint without a trailing slash; @token NULL or "" for none. */
FaHfHub      *fa_hf_hub_new (const char *endpoint, const char *token);
void          fa_hf_hub_free (FaHfHub *hub);

/* GET @url (following up to 10 redirects by hand, the token sent only to
 * the endpoint's scheme, host and port), with "Range: bytes=@offset-" when
 * @offset > 0. Returns the body stream whatever the status; *@message is
 * the last message (its status, headers). NULL with @error set when the
 * request could not be made (network, TLS, a redirect loop, cancelled). */
GInputStream *fa_hf_hub_get (FaHfHub *hub, const char *url, goffset offset, SoupMessage **message,
                             GCancellable *cancellable, GError **error);

/* The whole body of GET @url (small answers: the listing) with status 200,
 * else an error from fa_hf_hub_status_error. *@status gets the answer's
 * HTTP status, or 0 when none came whole (the request failed, the body
 * broke). */
GBytes       *fa_hf_hub_get_bytes (FaHfHub *hub, const char *url, const char *what, guint *status,
                                   GCancellable *cancellable, GError **error);
/* Whether another try could mend a request that failed or a body that
 * broke with @error: not when it was cancelled or the URL is bad. */
gboolean      fa_hf_hub_error_is_transient (const GError *error);

/* The error for a status that is not a success: @what says what was asked
 * for ("the model Wan-AI/… at revision …", "the file vae/…"); 404 →
 * G_IO_ERROR_NOT_FOUND, 401/403 → G_IO_ERROR_PERMISSION_DENIED (with what
 * to do about the token), anything else → G_IO_ERROR_FAILED with the
 * status. Names @url. */
void          fa_hf_hub_status_error (FaHfHub *hub, SoupMessage *message, const char *url, const char *what,
                                      GError **error);
/* Whether another try could succeed after this status (5xx, 408, 429). */
gboolean      fa_hf_hub_status_is_transient (guint status);

/* ENDPOINT/api/models/REPO/revision/REVISION?blobs=true */
char         *fa_hf_hub_listing_url (FaHfHub *hub, const char *repo_id, const char *revision);
/* ENDPOINT/REPO/resolve/REVISION/PATH (PATH's segments escaped) */
char         *fa_hf_hub_file_url (FaHfHub *hub, const char *repo_id, const char *revision, const char *path);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaHfHub, fa_hf_hub_free)

G_END_DECLS
