/* fa-hf-hub.c: HTTP to a Hugging Face hub with libsoup 3.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-hf-hub"

#include "config.h"

#include "fa-hf-hub.h"

#include <string.h>

#define MAX_REDIRECTS 10

struct _FaHfHub {
  SoupSession *session;
  char        *endpoint;
  GUri        *endpoint_uri;
  char        *authorization; /* "Bearer TOKEN", or NULL */
};

FaHfHub *
fa_hf_hub_new (const char *endpoint, const char *token)
{
  FaHfHub *hub = g_new0 (FaHfHub, 1);

  hub->endpoint = g_strdup (endpoint);
  hub->endpoint_uri = g_uri_parse (endpoint, G_URI_FLAGS_NONE, NULL);
  if (token != NULL && *token != '\0')
    hub->authorization = g_strconcat ("Bearer ", token, NULL);
  /* A stalled connection fails after a minute instead of hanging the
   * download; the system proxy comes from GIO's default resolver. */
  hub->session = soup_session_new_with_options ("timeout", 60, "idle-timeout", 60,
                                                "user-agent", "FlowAnchorStudio/" PACKAGE_VERSION, NULL);
  /* Range requests address the bytes of the file itself: a compressed
   * answer would make the offsets of a resumed file wrong. */
  soup_session_remove_feature_by_type (hub->session, SOUP_TYPE_CONTENT_DECODER);
  return hub;
}

void
fa_hf_hub_free (FaHfHub *hub)
{
  if (hub == NULL)
    return;
  g_clear_object (&hub->session);
  g_clear_pointer (&hub->endpoint_uri, g_uri_unref);
  g_free (hub->endpoint);
  g_free (hub->authorization);
  g_free (hub);
}

/* The token goes only where the user's endpoint is: an LFS file's
 * redirect leads to a CDN which must not see it. */
static gboolean
same_origin (GUri *a, GUri *b)
{
  return a != NULL && b != NULL && g_strcmp0 (g_uri_get_scheme (a), g_uri_get_scheme (b)) == 0
         && g_ascii_strcasecmp (g_uri_get_host (a) ? g_uri_get_host (a) : "",
                                g_uri_get_host (b) ? g_uri_get_host (b) : "") == 0
         && g_uri_get_port (a) == g_uri_get_port (b);
}

static gboolean
is_redirect (guint status)
{
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

GInputStream *
fa_hf_hub_get (FaHfHub *hub, const char *url, goffset offset, SoupMessage **message,
               GCancellable *cancellable, GError **error)
{
  g_autofree char *current = g_strdup (url);

  *message = NULL;
  for (guint hop = 0; hop <= MAX_REDIRECTS; hop++)
    {
      g_autoptr (GError) local_error = NULL;
      g_autoptr (GUri) uri = g_uri_parse (current, G_URI_FLAGS_ENCODED, &local_error);
      if (uri == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s: not a valid URL: %s", current,
                       local_error->message);
          return NULL;
        }
      g_autoptr (SoupMessage) msg = soup_message_new_from_uri ("GET", uri);
      if (msg == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s: not an HTTP URL", current);
          return NULL;
        }
      soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
      SoupMessageHeaders *headers = soup_message_get_request_headers (msg);
      if (offset > 0)
        soup_message_headers_set_range (headers, offset, -1);
      if (hub->authorization != NULL && same_origin (uri, hub->endpoint_uri))
        soup_message_headers_replace (headers, "Authorization", hub->authorization);

      g_autoptr (GInputStream) body = soup_session_send (hub->session, msg, cancellable, &local_error);
      if (body == NULL)
        {
          if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            g_propagate_error (error, g_steal_pointer (&local_error));
          else
            g_set_error (error, G_IO_ERROR, local_error->domain == G_IO_ERROR ? local_error->code : G_IO_ERROR_FAILED,
                         "%s: %s", current, local_error->message);
          return NULL;
        }

      guint status = soup_message_get_status (msg);
      const char *location = soup_message_headers_get_one (soup_message_get_response_headers (msg), "Location");
      if (!is_redirect (status) || location == NULL)
        {
          *message = g_steal_pointer (&msg);
          return g_steal_pointer (&body);
        }
      g_input_stream_close (body, NULL, NULL);
      g_autofree char *next = g_uri_resolve_relative (current, location, G_URI_FLAGS_ENCODED, &local_error);
      if (next == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: redirected to an invalid URL “%s”", current,
                       location);
          return NULL;
        }
      g_free (current);
      current = g_steal_pointer (&next);
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: more than %d redirects", url, MAX_REDIRECTS);
  return NULL;
}

GBytes *
fa_hf_hub_get_bytes (FaHfHub *hub, const char *url, const char *what, guint *status, GCancellable *cancellable,
                     GError **error)
{
  g_autoptr (SoupMessage) message = NULL;

  *status = 0;
  g_autoptr (GInputStream) body = fa_hf_hub_get (hub, url, 0, &message, cancellable, error);
  if (body == NULL)
    return NULL;
  if (soup_message_get_status (message) != SOUP_STATUS_OK)
    {
      *status = soup_message_get_status (message);
      fa_hf_hub_status_error (hub, message, url, what, error);
      return NULL;
    }

  g_autoptr (GOutputStream) memory = g_memory_output_stream_new_resizable ();
  if (g_output_stream_splice (memory, body, G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE | G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET,
                              cancellable, error) < 0)
    {
      g_prefix_error (error, "%s: ", url);
      return NULL;
    }
  *status = SOUP_STATUS_OK;
  return g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (memory));
}

gboolean
fa_hf_hub_error_is_transient (const GError *error)
{
  return !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
         && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

void
fa_hf_hub_status_error (FaHfHub *hub, SoupMessage *message, const char *url, const char *what, GError **error)
{
  guint status = soup_message_get_status (message);
  const char *reason = soup_message_get_reason_phrase (message);

  if (reason == NULL || *reason == '\0')
    reason = soup_status_get_phrase (status);
  if (reason == NULL)
    reason = "";

  switch (status)
    {
    case SOUP_STATUS_NOT_FOUND:
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "The hub has no %s (HTTP 404 from %s)", what, url);
      break;
    case SOUP_STATUS_UNAUTHORIZED:
    case SOUP_STATUS_FORBIDDEN:
      if (hub->authorization != NULL)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                     "The hub refused the access token for %s (HTTP %u %s from %s): check the token, "
                     "and that it may read this repository",
                     what, status, reason, url);
      else
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                     "The hub needs an access token for %s (HTTP %u %s from %s): set HF_TOKEN or log in "
                     "with `huggingface-cli login`",
                     what, status, reason, url);
      break;
    default:
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "The hub answered HTTP %u %s for %s (%s)", status, reason,
                   what, url);
      break;
    }
}

gboolean
fa_hf_hub_status_is_transient (guint status)
{
  return status >= 500 || status == SOUP_STATUS_REQUEST_TIMEOUT || status == 429 /* Too Many Requests */;
}

char *
fa_hf_hub_listing_url (FaHfHub *hub, const char *repo_id, const char *revision)
{
  g_autofree char *escaped_revision = g_uri_escape_string (revision, NULL, FALSE);
  g_autofree char *escaped_repo = g_uri_escape_string (repo_id, "/", FALSE);

  return g_strdup_printf ("%s/api/models/%s/revision/%s?blobs=true", hub->endpoint, escaped_repo, escaped_revision);
}

char *
fa_hf_hub_file_url (FaHfHub *hub, const char *repo_id, const char *revision, const char *path)
{
  g_autofree char *escaped_revision = g_uri_escape_string (revision, NULL, FALSE);
  g_autofree char *escaped_repo = g_uri_escape_string (repo_id, "/", FALSE);
  g_autofree char *escaped_path = g_uri_escape_string (path, "/", FALSE);

  return g_strdup_printf ("%s/%s/resolve/%s/%s", hub->endpoint, escaped_repo, escaped_revision, escaped_path);
}
