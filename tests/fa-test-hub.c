/* fa-test-hub.c: the fake Hugging Face hub of fa-test-hub.h, a small
 * HTTP/1.1 server on loopback written with GIO sockets (one thread
 * accepting, one pool thread per connection, one answer per connection).
 * It listens on 127.0.0.1 and, where the machine has it, on ::1 at the same
 * port, so that "localhost" (the CDN host of the redirects) reaches it
 * whichever address the resolver gives first.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-test-hub"

#include "fa-test-hub.h"

#include <json-glib/json-glib.h>
#include <string.h>

/* The hub's .gitattributes makes these LFS files. */
#define LFS_THRESHOLD 100000
#define BODY_PIECE (16 * 1024)
#define MAX_REQUEST_HEAD (16 * 1024)
#define READ_TIMEOUT_S 10

typedef struct {
  char *path;       /* the repository path, '/'-separated */
  GBytes *content;
  gboolean lfs;
  gboolean extra;   /* README.md, assets/: listed, never to be downloaded */
  char *sha256;
  char *blob_id;    /* the git blob SHA-1 (of the pointer file for LFS files) */
  gsize pointer_size;
} HubFile;

typedef struct {
  FaTestHubFault fault;
  guint times;
} Fault;

struct _FaTestHub {
  char *repo_id;
  char *commit;
  char *endpoint;
  guint16 port;

  GPtrArray *files;          /* HubFile*, sorted by path */
  GHashTable *by_path;       /* path → HubFile* */
  GHashTable *by_sha256;     /* sha256 → HubFile* (LFS files) */
  guint64 model_bytes;

  GSocketListener *listener;
  GThread *accept_thread;
  GThreadPool *pool;

  GMutex lock;               /* guards what follows */
  GHashTable *faults;        /* path ("" for the listing) → Fault* */
  char *token;
  gulong body_delay;
  GPtrArray *requests;       /* FaTestHubRequest* */
  GPtrArray *sockets;        /* GSocket* of the connections being answered */
  gboolean stopping;
};

static void
hub_file_free (HubFile *file)
{
  g_free (file->path);
  g_bytes_unref (file->content);
  g_free (file->sha256);
  g_free (file->blob_id);
  g_free (file);
}

static void
request_clear (FaTestHubRequest *request)
{
  g_clear_pointer (&request->method, g_free);
  g_clear_pointer (&request->path, g_free);
  g_clear_pointer (&request->host, g_free);
  g_clear_pointer (&request->range, g_free);
  g_clear_pointer (&request->authorization, g_free);
}

static void
request_free (FaTestHubRequest *request)
{
  request_clear (request);
  g_free (request);
}

static FaTestHubRequest *
request_copy (const FaTestHubRequest *request)
{
  FaTestHubRequest *copy = g_new0 (FaTestHubRequest, 1);

  copy->method = g_strdup (request->method);
  copy->path = g_strdup (request->path);
  copy->host = g_strdup (request->host);
  copy->range = g_strdup (request->range);
  copy->authorization = g_strdup (request->authorization);
  copy->status = request->status;
  return copy;
}

/* git's object name: SHA-1 of "blob SIZE\0" and the content. */
static char *
git_blob_sha1 (const guint8 *data, gsize size)
{
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA1);
  g_autofree char *header = g_strdup_printf ("blob %" G_GSIZE_FORMAT, size);

  g_checksum_update (checksum, (const guint8 *) header, strlen (header) + 1);
  g_checksum_update (checksum, data, size);
  return g_strdup (g_checksum_get_string (checksum));
}

static void
add_file (FaTestHub *hub, const char *path, GBytes *content, gboolean extra)
{
  HubFile *file = g_new0 (HubFile, 1);
  gsize size = 0;
  const guint8 *data = g_bytes_get_data (content, &size);

  file->path = g_strdup (path);
  file->content = g_bytes_ref (content);
  file->extra = extra;
  file->lfs = g_str_has_suffix (path, ".safetensors") || g_str_has_suffix (path, ".model") || size > LFS_THRESHOLD;
  file->sha256 = g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, size);
  if (file->lfs)
    {
      /* The repository holds a pointer file; its git name is the blobId. */
      g_autofree char *pointer = g_strdup_printf ("version https://git-lfs.github.com/spec/v1\n"
                                                  "oid sha256:%s\nsize %" G_GSIZE_FORMAT "\n",
                                                  file->sha256, size);
      file->pointer_size = strlen (pointer);
      file->blob_id = git_blob_sha1 ((const guint8 *) pointer, file->pointer_size);
      g_hash_table_insert (hub->by_sha256, file->sha256, file);
    }
  else
    file->blob_id = git_blob_sha1 (data, size);
  if (!extra)
    hub->model_bytes += size;
  g_ptr_array_add (hub->files, file);
  g_hash_table_insert (hub->by_path, file->path, file);
}

static void
add_folder (FaTestHub *hub, const char *root, const char *relative)
{
  g_autofree char *dir_path = relative != NULL ? g_build_filename (root, relative, NULL) : g_strdup (root);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) dir = g_dir_open (dir_path, 0, &error);
  const char *name;

  if (dir == NULL)
    g_error ("fake hub: %s", error->message);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child_rel = relative != NULL ? g_strconcat (relative, "/", name, NULL) : g_strdup (name);
      g_autofree char *child = g_build_filename (root, child_rel, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        add_folder (hub, root, child_rel);
      else
        {
          g_autofree char *contents = NULL;
          gsize length = 0;

          if (!g_file_get_contents (child, &contents, &length, &error))
            g_error ("fake hub: %s", error->message);
          g_autoptr (GBytes) bytes = g_bytes_new_take (g_steal_pointer (&contents), length);
          add_file (hub, child_rel, bytes, FALSE);
        }
    }
}

static int
compare_files (gconstpointer a, gconstpointer b)
{
  const HubFile *fa = *(HubFile *const *) a;
  const HubFile *fb = *(HubFile *const *) b;

  return strcmp (fa->path, fb->path);
}

/* ---- answering ---- */

typedef struct {
  FaTestHub *hub;
  GSocketConnection *connection;
  GSocket *socket;
  GOutputStream *out;
  FaTestHubRequest request;  /* logged when answered */
  gboolean head;
} Exchange;

static void
log_request (Exchange *ex, guint status)
{
  ex->request.status = status;
  g_mutex_lock (&ex->hub->lock);
  g_ptr_array_add (ex->hub->requests, request_copy (&ex->request));
  g_mutex_unlock (&ex->hub->lock);
}

static const char *
reason_phrase (guint status)
{
  switch (status)
    {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 302: return "Found";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 416: return "Range Not Satisfiable";
    case 500: return "Internal Server Error";
    default: return "Unknown";
    }
}

static gboolean
write_all (Exchange *ex, const void *data, gsize size)
{
  return g_output_stream_write_all (ex->out, data, size, NULL, NULL, NULL);
}

/* Logs the request, then sends the status line, @headers (each ending in
 * CRLF, may be NULL) and the closing ones. */
static gboolean
send_head (Exchange *ex, guint status, guint64 content_length, const char *content_type, const char *headers)
{
  g_autoptr (GString) head = g_string_new (NULL);

  log_request (ex, status);
  g_string_append_printf (head, "HTTP/1.1 %u %s\r\n", status, reason_phrase (status));
  g_string_append_printf (head, "Content-Length: %" G_GUINT64_FORMAT "\r\n", content_length);
  if (content_type != NULL)
    g_string_append_printf (head, "Content-Type: %s\r\n", content_type);
  if (headers != NULL)
    g_string_append (head, headers);
  g_string_append (head, "Connection: close\r\n\r\n");
  return write_all (ex, head->str, head->len);
}

static void
send_json_error (Exchange *ex, guint status, const char *message, const char *error_code)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autofree char *headers = error_code != NULL ? g_strdup_printf ("X-Error-Code: %s\r\n", error_code) : NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "error");
  json_builder_add_string_value (builder, message);
  json_builder_end_object (builder);
  g_autoptr (JsonNode) root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  gsize length = 0;
  g_autofree char *body = json_generator_to_data (generator, &length);

  if (send_head (ex, status, length, "application/json; charset=utf-8", headers) && !ex->head)
    write_all (ex, body, length);
}

/* Takes one count of the fault set for @key ("" for the listing). */
static FaTestHubFault
take_fault (FaTestHub *hub, const char *key)
{
  FaTestHubFault fault = FA_TEST_HUB_NORMAL;

  g_mutex_lock (&hub->lock);
  Fault *entry = g_hash_table_lookup (hub->faults, key);
  if (entry != NULL && entry->times > 0)
    {
      fault = entry->fault;
      if (--entry->times == 0)
        g_hash_table_remove (hub->faults, key);
    }
  g_mutex_unlock (&hub->lock);
  return fault;
}

/* TRUE when @fault was an error status and has been answered. */
static gboolean
answer_error_fault (Exchange *ex, FaTestHubFault fault)
{
  FaTestHub *hub = ex->hub;

  switch (fault)
    {
    case FA_TEST_HUB_NOT_FOUND:
      send_json_error (ex, 404, "Entry not found", "EntryNotFound");
      return TRUE;
    case FA_TEST_HUB_SERVER_ERROR:
      send_json_error (ex, 500, "Internal Error", NULL);
      return TRUE;
    case FA_TEST_HUB_UNAUTHORIZED:
      {
        g_autofree char *message = g_strdup_printf ("Access to model %s is restricted. You must have access "
                                                    "to it and be authenticated to access it. Please log in.",
                                                    hub->repo_id);
        send_json_error (ex, 401, message, "GatedRepo");
        return TRUE;
      }
    case FA_TEST_HUB_NORMAL:
    case FA_TEST_HUB_CUT:
    case FA_TEST_HUB_CORRUPT:
    default:
      return FALSE;
    }
}

/* Parses "bytes=A-" or "bytes=A-B"; FALSE for anything else (then the
 * whole body is sent, as servers do with ranges they do not take). */
static gboolean
parse_range (const char *range, guint64 *first, guint64 *last, gboolean *open_ended)
{
  const char *p;
  char *end = NULL;

  if (range == NULL || !g_str_has_prefix (range, "bytes="))
    return FALSE;
  p = range + strlen ("bytes=");
  if (!g_ascii_isdigit (*p))
    return FALSE;
  *first = g_ascii_strtoull (p, &end, 10);
  if (*end != '-')
    return FALSE;
  p = end + 1;
  while (*p == ' ')
    p++;
  if (*p == '\0')
    {
      *open_ended = TRUE;
      *last = G_MAXUINT64;
      return TRUE;
    }
  if (!g_ascii_isdigit (*p))
    return FALSE;
  *last = g_ascii_strtoull (p, &end, 10);
  while (*end == ' ')
    end++;
  *open_ended = FALSE;
  return *end == '\0' && *last >= *first;
}

/* The body of @file (or its range), with the fault set for its path. */
static void
send_body (Exchange *ex, HubFile *file, const char *extra_headers)
{
  FaTestHub *hub = ex->hub;
  gsize size = 0;
  const guint8 *data = g_bytes_get_data (file->content, &size);
  guint64 first = 0, last = 0;
  gboolean open_ended = FALSE;
  guint status = 200;
  g_autoptr (GString) headers = g_string_new (extra_headers);
  FaTestHubFault fault = FA_TEST_HUB_NORMAL;

  if (!ex->head)
    {
      fault = take_fault (hub, file->path);
      if (answer_error_fault (ex, fault))
        return;
    }

  g_string_append (headers, "Accept-Ranges: bytes\r\n");
  if (parse_range (ex->request.range, &first, &last, &open_ended))
    {
      if (first >= size)
        {
          g_string_append_printf (headers, "Content-Range: bytes */%" G_GSIZE_FORMAT "\r\n", size);
          send_head (ex, 416, 0, NULL, headers->str);
          return;
        }
      if (last >= size)
        last = size - 1;
      status = 206;
      g_string_append_printf (headers, "Content-Range: bytes %" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT
                              "/%" G_GSIZE_FORMAT "\r\n", first, last, size);
    }
  else
    {
      first = 0;
      last = size - 1;
    }
  guint64 length = size == 0 ? 0 : last - first + 1;

  if (!send_head (ex, status, length, "application/octet-stream", headers->str) || ex->head)
    return;

  g_autofree guint8 *corrupted = NULL;
  const guint8 *body = data + first;
  guint64 to_send = length;
  if (fault == FA_TEST_HUB_CORRUPT && length > 0)
    {
      corrupted = g_memdup2 (body, length);
      corrupted[length / 2] ^= 0x5a;
      body = corrupted;
    }
  else if (fault == FA_TEST_HUB_CUT)
    to_send = length / 2;

  for (guint64 sent = 0; sent < to_send;)
    {
      gsize piece = MIN (BODY_PIECE, to_send - sent);
      gulong delay;
      gboolean stopping;

      if (!write_all (ex, body + sent, piece))
        return;
      sent += piece;
      g_mutex_lock (&hub->lock);
      delay = hub->body_delay;
      stopping = hub->stopping;
      g_mutex_unlock (&hub->lock);
      if (stopping)
        return;
      if (delay > 0 && sent < to_send)
        g_usleep (delay);
    }
}

static void
answer_listing (Exchange *ex, const char *rest, const char *query)
{
  FaTestHub *hub = ex->hub;
  g_autofree char *prefix = g_strconcat (hub->repo_id, "/revision/", NULL);
  gboolean blobs = FALSE;

  if (!g_str_has_prefix (rest, prefix))
    {
      send_json_error (ex, 404, "Repository not found", "RepoNotFound");
      return;
    }
  const char *revision = rest + strlen (prefix);
  if (!g_str_equal (revision, hub->commit) && !g_str_equal (revision, "main"))
    {
      g_autofree char *message = g_strdup_printf ("Invalid rev id: %s", revision);
      send_json_error (ex, 404, message, "RevisionNotFound");
      return;
    }

  if (query != NULL)
    {
      g_auto (GStrv) pairs = g_strsplit (query, "&", -1);
      for (guint i = 0; pairs[i] != NULL; i++)
        if (g_str_equal (pairs[i], "blobs=true") || g_str_equal (pairs[i], "blobs=1"))
          blobs = TRUE;
    }

  FaTestHubFault fault = ex->head ? FA_TEST_HUB_NORMAL : take_fault (hub, "");
  if (answer_error_fault (ex, fault))
    return;

  /* As the hub: sizes and hashes only when asked for with blobs=true. */
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "_id");
  json_builder_add_string_value (builder, "0123456789abcdef01234567");
  json_builder_set_member_name (builder, "id");
  json_builder_add_string_value (builder, hub->repo_id);
  json_builder_set_member_name (builder, "modelId");
  json_builder_add_string_value (builder, hub->repo_id);
  json_builder_set_member_name (builder, "private");
  json_builder_add_boolean_value (builder, FALSE);
  json_builder_set_member_name (builder, "gated");
  json_builder_add_boolean_value (builder, FALSE);
  json_builder_set_member_name (builder, "sha");
  json_builder_add_string_value (builder, hub->commit);
  json_builder_set_member_name (builder, "siblings");
  json_builder_begin_array (builder);
  for (guint i = 0; i < hub->files->len; i++)
    {
      HubFile *file = g_ptr_array_index (hub->files, i);

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "rfilename");
      json_builder_add_string_value (builder, file->path);
      if (blobs)
        {
          json_builder_set_member_name (builder, "size");
          json_builder_add_int_value (builder, (gint64) g_bytes_get_size (file->content));
          json_builder_set_member_name (builder, "blobId");
          json_builder_add_string_value (builder, file->blob_id);
          if (file->lfs)
            {
              json_builder_set_member_name (builder, "lfs");
              json_builder_begin_object (builder);
              json_builder_set_member_name (builder, "sha256");
              json_builder_add_string_value (builder, file->sha256);
              json_builder_set_member_name (builder, "size");
              json_builder_add_int_value (builder, (gint64) g_bytes_get_size (file->content));
              json_builder_set_member_name (builder, "pointerSize");
              json_builder_add_int_value (builder, (gint64) file->pointer_size);
              json_builder_end_object (builder);
            }
        }
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);

  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  gsize length = 0;
  g_autofree char *body = json_generator_to_data (generator, &length);
  if (fault == FA_TEST_HUB_CORRUPT)
    length /= 2;

  if (send_head (ex, 200, length, "application/json; charset=utf-8", NULL) && !ex->head)
    write_all (ex, body, length);
}

static void
answer_resolve (Exchange *ex, const char *rest)
{
  FaTestHub *hub = ex->hub;
  g_autofree char *prefix = g_strconcat (hub->repo_id, "/resolve/", NULL);

  if (!g_str_has_prefix (rest, prefix))
    {
      send_json_error (ex, 404, "Repository not found", "RepoNotFound");
      return;
    }
  const char *revision = rest + strlen (prefix);
  const char *slash = strchr (revision, '/');
  g_autofree char *rev = slash != NULL ? g_strndup (revision, slash - revision) : g_strdup (revision);
  if (!g_str_equal (rev, hub->commit) && !g_str_equal (rev, "main"))
    {
      g_autofree char *message = g_strdup_printf ("Invalid rev id: %s", rev);
      send_json_error (ex, 404, message, "RevisionNotFound");
      return;
    }
  HubFile *file = slash != NULL ? g_hash_table_lookup (hub->by_path, slash + 1) : NULL;
  if (file == NULL)
    {
      send_json_error (ex, 404, "Entry not found", "EntryNotFound");
      return;
    }

  if (file->lfs)
    {
      g_autofree char *headers = g_strdup_printf ("Location: http://localhost:%u/cdn/%s\r\n"
                                                  "ETag: \"%s\"\r\n"
                                                  "X-Linked-Etag: \"%s\"\r\n"
                                                  "X-Linked-Size: %" G_GSIZE_FORMAT "\r\n"
                                                  "X-Repo-Commit: %s\r\n",
                                                  hub->port, file->sha256, file->blob_id, file->sha256,
                                                  g_bytes_get_size (file->content), hub->commit);
      send_head (ex, 302, 0, NULL, headers);
      return;
    }
  g_autofree char *headers = g_strdup_printf ("ETag: \"%s\"\r\nX-Repo-Commit: %s\r\n", file->blob_id,
                                              hub->commit);
  send_body (ex, file, headers);
}

static void
answer_cdn (Exchange *ex, const char *sha256)
{
  HubFile *file = g_hash_table_lookup (ex->hub->by_sha256, sha256);

  if (file == NULL)
    {
      send_json_error (ex, 404, "Not found", NULL);
      return;
    }
  g_autofree char *headers = g_strdup_printf ("ETag: \"%s\"\r\n", file->sha256);
  send_body (ex, file, headers);
}

/* Reads the request head (up to the blank line) into @ex->request; FALSE
 * when the peer went away or sent something unreadable. */
static gboolean
read_request (Exchange *ex)
{
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (ex->connection));
  g_autoptr (GString) head = g_string_new (NULL);
  char buffer[4096];

  while (strstr (head->str, "\r\n\r\n") == NULL)
    {
      gssize n;

      if (head->len > MAX_REQUEST_HEAD)
        return FALSE;
      n = g_input_stream_read (in, buffer, sizeof buffer, NULL, NULL);
      if (n <= 0)
        return FALSE;
      g_string_append_len (head, buffer, n);
    }
  *strstr (head->str, "\r\n\r\n") = '\0';

  g_auto (GStrv) lines = g_strsplit (head->str, "\r\n", -1);
  g_auto (GStrv) words = g_strsplit (lines[0], " ", -1);
  if (g_strv_length (words) != 3 || !g_str_has_prefix (words[2], "HTTP/1."))
    return FALSE;
  ex->request.method = g_strdup (words[0]);
  ex->request.path = g_strdup (words[1]);
  for (guint i = 1; lines[i] != NULL; i++)
    {
      const char *colon = strchr (lines[i], ':');

      if (colon == NULL)
        continue;
      g_autofree char *name = g_strndup (lines[i], colon - lines[i]);
      g_autofree char *value = g_strstrip (g_strdup (colon + 1));
      char **slot = NULL;
      if (g_ascii_strcasecmp (name, "Host") == 0)
        slot = &ex->request.host;
      else if (g_ascii_strcasecmp (name, "Range") == 0)
        slot = &ex->request.range;
      else if (g_ascii_strcasecmp (name, "Authorization") == 0)
        slot = &ex->request.authorization;
      if (slot != NULL)
        {
          g_free (*slot);
          *slot = g_steal_pointer (&value);
        }
    }
  return TRUE;
}

static void
answer (Exchange *ex)
{
  FaTestHub *hub = ex->hub;
  gboolean get = g_str_equal (ex->request.method, "GET");

  ex->head = g_str_equal (ex->request.method, "HEAD");
  if (!get && !ex->head)
    {
      send_json_error (ex, 405, "Method not allowed", NULL);
      return;
    }

  /* The token is asked for by the hub's own host only, never by the CDN's. */
  g_mutex_lock (&hub->lock);
  g_autofree char *token = g_strdup (hub->token);
  g_mutex_unlock (&hub->lock);
  if (token != NULL && (ex->request.host == NULL || !g_str_has_prefix (ex->request.host, "localhost")))
    {
      g_autofree char *expected = g_strconcat ("Bearer ", token, NULL);
      if (ex->request.authorization == NULL || !g_str_equal (ex->request.authorization, expected))
        {
          answer_error_fault (ex, FA_TEST_HUB_UNAUTHORIZED);
          return;
        }
    }

  const char *question = strchr (ex->request.path, '?');
  g_autofree char *raw_path = question != NULL ? g_strndup (ex->request.path, question - ex->request.path)
                                               : g_strdup (ex->request.path);
  g_autofree char *path = g_uri_unescape_string (raw_path, NULL);
  const char *query = question != NULL ? question + 1 : NULL;

  if (path == NULL || path[0] != '/')
    send_json_error (ex, 400, "Bad request", NULL);
  else if (g_str_has_prefix (path, "/api/models/"))
    answer_listing (ex, path + strlen ("/api/models/"), query);
  else if (g_str_has_prefix (path, "/cdn/"))
    answer_cdn (ex, path + strlen ("/cdn/"));
  else
    answer_resolve (ex, path + 1);
}

static void
handle_connection (gpointer data, gpointer user_data)
{
  FaTestHub *hub = user_data;
  Exchange ex = { .hub = hub, .connection = data };

  ex.socket = g_socket_connection_get_socket (ex.connection);
  ex.out = g_io_stream_get_output_stream (G_IO_STREAM (ex.connection));
  g_socket_set_timeout (ex.socket, READ_TIMEOUT_S);

  g_mutex_lock (&hub->lock);
  gboolean stopping = hub->stopping;
  if (!stopping)
    g_ptr_array_add (hub->sockets, ex.socket);
  g_mutex_unlock (&hub->lock);

  if (!stopping && read_request (&ex))
    answer (&ex);

  g_mutex_lock (&hub->lock);
  g_ptr_array_remove_fast (hub->sockets, ex.socket);
  g_mutex_unlock (&hub->lock);

  /* Whatever was sent, the connection ends here: a cut body shows as a
   * short read on the client's side. */
  g_socket_shutdown (ex.socket, FALSE, TRUE, NULL);
  g_io_stream_close (G_IO_STREAM (ex.connection), NULL, NULL);
  g_object_unref (ex.connection);
  request_clear (&ex.request);
}

/* Accepts until fa_test_hub_free () sets @stopping and connects once to
 * wake it (a cancellable would do, but GLib 2.74 leaks a source on every
 * cancelled accept over several sockets). */
static gpointer
accept_thread (gpointer data)
{
  FaTestHub *hub = data;

  for (;;)
    {
      g_autoptr (GError) error = NULL;
      GSocketConnection *connection = g_socket_listener_accept (hub->listener, NULL, NULL, &error);
      gboolean stopping;

      g_mutex_lock (&hub->lock);
      stopping = hub->stopping;
      g_mutex_unlock (&hub->lock);
      if (stopping)
        {
          g_clear_object (&connection);
          break;
        }
      if (connection == NULL)
        {
          g_warning ("fake hub: accept: %s", error->message);
          continue;
        }
      if (!g_thread_pool_push (hub->pool, connection, &error))
        {
          g_warning ("fake hub: %s", error->message);
          g_object_unref (connection);
        }
    }
  return NULL;
}

static void
wake_accept_thread (FaTestHub *hub)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) address = g_inet_socket_address_new (loopback, hub->port);
  g_autoptr (GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                             &error);

  if (socket == NULL || !g_socket_connect (socket, address, NULL, &error))
    g_error ("fake hub: cannot reach itself to stop: %s", error->message);
  g_socket_close (socket, NULL);
}

/* A listener on 127.0.0.1 at a free port and on ::1 at the same one when
 * the machine has IPv6 loopback (trying other ports while ::1's is taken). */
static GSocketListener *
listen_loopback (guint16 *port_out)
{
  for (guint attempt = 0; attempt < 20; attempt++)
    {
      g_autoptr (GSocketListener) listener = g_socket_listener_new ();
      g_autoptr (GError) error = NULL;
      g_autoptr (GInetAddress) v4 = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
      g_autoptr (GSocketAddress) address = g_inet_socket_address_new (v4, 0);
      g_autoptr (GSocketAddress) bound = NULL;

      if (!g_socket_listener_add_address (listener, address, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
                                          &bound, &error))
        g_error ("fake hub: cannot listen on 127.0.0.1: %s", error->message);
      guint16 port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));

      g_autoptr (GInetAddress) v6 = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV6);
      g_autoptr (GSocketAddress) address6 = g_inet_socket_address_new (v6, port);
      if (g_socket_listener_add_address (listener, address6, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
                                         NULL, &error)
          || !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
        {
          /* Without IPv6 here, "localhost" is 127.0.0.1 only. */
          *port_out = port;
          return g_steal_pointer (&listener);
        }
      g_socket_listener_close (listener);
    }
  g_error ("fake hub: no port free on both 127.0.0.1 and ::1");
}

FaTestHub *
fa_test_hub_new (const char *folder, const char *repo_id, const char *commit)
{
  FaTestHub *hub = g_new0 (FaTestHub, 1);
  g_autoptr (GError) error = NULL;
  static const char readme[] = "---\nlicense: apache-2.0\n---\n# Wan2.1 (tiny test copy)\n\nNot to be downloaded.\n";
  /* A 1×1 PNG. */
  static const guint8 teaser[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x56, 0xc7, 0x2f, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
  };

  g_return_val_if_fail (folder != NULL && repo_id != NULL && commit != NULL, NULL);

  hub->repo_id = g_strdup (repo_id);
  hub->commit = g_strdup (commit);
  hub->files = g_ptr_array_new_with_free_func ((GDestroyNotify) hub_file_free);
  hub->by_path = g_hash_table_new (g_str_hash, g_str_equal);
  hub->by_sha256 = g_hash_table_new (g_str_hash, g_str_equal);
  hub->faults = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  hub->requests = g_ptr_array_new_with_free_func ((GDestroyNotify) request_free);
  hub->sockets = g_ptr_array_new ();
  g_mutex_init (&hub->lock);

  add_folder (hub, folder, NULL);
  g_autoptr (GBytes) readme_bytes = g_bytes_new_static (readme, sizeof readme - 1);
  g_autoptr (GBytes) teaser_bytes = g_bytes_new_static (teaser, sizeof teaser);
  add_file (hub, "README.md", readme_bytes, TRUE);
  add_file (hub, "assets/teaser.png", teaser_bytes, TRUE);
  g_ptr_array_sort (hub->files, compare_files);

  hub->listener = listen_loopback (&hub->port);
  hub->endpoint = g_strdup_printf ("http://127.0.0.1:%u", hub->port);
  hub->pool = g_thread_pool_new (handle_connection, hub, -1, FALSE, &error);
  g_assert_no_error (error);
  hub->accept_thread = g_thread_new ("fa-test-hub", accept_thread, hub);
  return hub;
}

void
fa_test_hub_free (FaTestHub *hub)
{
  if (hub == NULL)
    return;

  /* Unblock connections still reading or writing, stop accepting, then
   * wait for the connections' threads. */
  g_mutex_lock (&hub->lock);
  hub->stopping = TRUE;
  for (guint i = 0; i < hub->sockets->len; i++)
    g_socket_shutdown (g_ptr_array_index (hub->sockets, i), TRUE, TRUE, NULL);
  g_mutex_unlock (&hub->lock);
  wake_accept_thread (hub);
  g_thread_join (hub->accept_thread);
  g_socket_listener_close (hub->listener);
  g_thread_pool_free (hub->pool, FALSE, TRUE);

  g_object_unref (hub->listener);
  g_hash_table_unref (hub->by_path);
  g_hash_table_unref (hub->by_sha256);
  g_ptr_array_unref (hub->files);
  g_hash_table_unref (hub->faults);
  g_ptr_array_unref (hub->requests);
  g_ptr_array_unref (hub->sockets);
  g_mutex_clear (&hub->lock);
  g_free (hub->token);
  g_free (hub->repo_id);
  g_free (hub->commit);
  g_free (hub->endpoint);
  g_free (hub);
}

const char *
fa_test_hub_get_endpoint (FaTestHub *hub)
{
  return hub->endpoint;
}

void
fa_test_hub_set_fault (FaTestHub *hub, const char *path, FaTestHubFault fault, guint times)
{
  Fault *entry = g_new0 (Fault, 1);

  entry->fault = fault;
  entry->times = times;
  g_mutex_lock (&hub->lock);
  if (path != NULL && !g_hash_table_contains (hub->by_path, path))
    g_critical ("fake hub: no file %s", path);
  if (times == 0 || fault == FA_TEST_HUB_NORMAL)
    {
      g_hash_table_remove (hub->faults, path != NULL ? path : "");
      g_free (entry);
    }
  else
    g_hash_table_replace (hub->faults, g_strdup (path != NULL ? path : ""), entry);
  g_mutex_unlock (&hub->lock);
}

void
fa_test_hub_require_token (FaTestHub *hub, const char *token)
{
  g_mutex_lock (&hub->lock);
  g_free (hub->token);
  hub->token = g_strdup (token);
  g_mutex_unlock (&hub->lock);
}

void
fa_test_hub_set_body_delay (FaTestHub *hub, gulong usec)
{
  g_mutex_lock (&hub->lock);
  hub->body_delay = usec;
  g_mutex_unlock (&hub->lock);
}

GPtrArray *
fa_test_hub_get_requests (FaTestHub *hub)
{
  GPtrArray *copy = g_ptr_array_new_with_free_func ((GDestroyNotify) request_free);

  g_mutex_lock (&hub->lock);
  for (guint i = 0; i < hub->requests->len; i++)
    g_ptr_array_add (copy, request_copy (g_ptr_array_index (hub->requests, i)));
  g_mutex_unlock (&hub->lock);
  return copy;
}

void
fa_test_hub_clear_requests (FaTestHub *hub)
{
  g_mutex_lock (&hub->lock);
  g_ptr_array_set_size (hub->requests, 0);
  g_mutex_unlock (&hub->lock);
}

guint
fa_test_hub_count_requests (FaTestHub *hub, const char *prefix)
{
  guint count = 0;

  g_mutex_lock (&hub->lock);
  for (guint i = 0; i < hub->requests->len; i++)
    {
      FaTestHubRequest *request = g_ptr_array_index (hub->requests, i);

      if (prefix == NULL || g_str_has_prefix (request->path, prefix))
        count++;
    }
  g_mutex_unlock (&hub->lock);
  return count;
}

guint64
fa_test_hub_get_model_bytes (FaTestHub *hub)
{
  return hub->model_bytes;
}

const char *
fa_test_hub_get_blob (FaTestHub *hub, const char *path)
{
  HubFile *file = g_hash_table_lookup (hub->by_path, path);

  g_return_val_if_fail (file != NULL, NULL);
  return file->lfs ? file->sha256 : file->blob_id;
}
