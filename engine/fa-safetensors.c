/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-safetensors"

#include "config.h"

#include "fa-safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "fa-backend.h"
#include "fa-error.h"
#include "fa-file.h"

/* Tensor bytes are used where they lie in the mapping, and safetensors data
 * is little-endian. */
G_STATIC_ASSERT (G_BYTE_ORDER == G_LITTLE_ENDIAN);

/* The reference implementation refuses headers above 100 MB; the biggest real
 * ones are a few MB, so anything beyond is damage, not a model. */
#define MAX_HEADER_BYTES ((guint64) 100 * 1000 * 1000)

/* A safetensors header nests three levels deep. json-glib's parser recurses
 * once per level, so a hostile header of a million '[' would overflow the
 * stack before json-glib could complain. */
#define MAX_JSON_DEPTH 32

struct _FaSafetensors {
  gatomicrefcount ref_count;
  char *path;

  guint8 *map;
  gsize map_size;
  const guint8 *data;    /* the data section, after the header */
  guint64 data_size;

  FaSafetensorsEntry *entries; /* header order; names owned */
  guint n_entries;
  GHashTable *by_name;         /* name → FaSafetensorsEntry* */
  GHashTable *metadata;        /* string → string, or NULL */
};

typedef struct {
  guint index;
  guint64 begin;
  guint64 end;
} Span;

static void
fa_safetensors_free (FaSafetensors *file)
{
  for (guint i = 0; i < file->n_entries; i++)
    g_free ((char *) file->entries[i].name);
  g_free (file->entries);
  g_clear_pointer (&file->by_name, g_hash_table_unref);
  g_clear_pointer (&file->metadata, g_hash_table_unref);
  if (file->map != NULL)
    munmap (file->map, file->map_size);
  g_free (file->path);
  g_free (file);
}

FaSafetensors *
fa_safetensors_ref (FaSafetensors *file)
{
  g_return_val_if_fail (file != NULL, NULL);
  g_atomic_ref_count_inc (&file->ref_count);
  return file;
}

void
fa_safetensors_unref (FaSafetensors *file)
{
  /* Views may drop the last reference from a loader thread. */
  if (file != NULL && g_atomic_ref_count_dec (&file->ref_count))
    fa_safetensors_free (file);
}

static void
corrupt (GError **error, const char *path, const char *format, ...) G_GNUC_PRINTF (3, 4);

static void
corrupt (GError **error, const char *path, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_autofree char *what = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: %s", path, what);
}

static gboolean
is_json_space (char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A strict lexical pass before json-glib sees the text. Besides bounding
 * the depth, it refuses what json-glib would accept but JSON does not:
 * single-quoted strings and comments, which would also hide brackets from a
 * scan that knows only double-quoted strings, and further values after the
 * top-level object, which json-glib 1.6 takes and then leaks. */
static gboolean
check_json_lexing (const char *path, const char *what, const char *text, gsize length,
                   GError **error)
{
  int depth = 0;
  gboolean in_string = FALSE;
  gsize i = 0;

  while (i < length && is_json_space (text[i]))
    i++;
  if (i == length)
    {
      corrupt (error, path, "%s is empty", what);
      return FALSE;
    }
  if (text[i] != '{')
    {
      corrupt (error, path, "%s is not a JSON object", what);
      return FALSE;
    }

  for (; i < length; i++)
    {
      char c = text[i];

      if (in_string)
        {
          if (c == '\\')
            i++;
          else if (c == '"')
            in_string = FALSE;
          continue;
        }
      switch (c)
        {
        case '"':
          in_string = TRUE;
          break;
        case '{':
        case '[':
          if (++depth > MAX_JSON_DEPTH)
            {
              corrupt (error, path, "%s is not valid JSON: nested more than %d levels deep", what,
                       MAX_JSON_DEPTH);
              return FALSE;
            }
          break;
        case '}':
        case ']':
          if (--depth == 0)
            {
              for (i++; i < length; i++)
                if (!is_json_space (text[i]))
                  {
                    corrupt (error, path, "%s is not valid JSON: more after the object ends at byte %"
                             G_GSIZE_FORMAT, what, i);
                    return FALSE;
                  }
              return TRUE;
            }
          break;
        case ' ': case '\t': case '\n': case '\r':
        case ',': case ':': case '-': case '+': case '.':
          break;
        default:
          if (!g_ascii_isalnum (c))
            {
              if (g_ascii_isprint (c))
                corrupt (error, path, "%s is not valid JSON: unexpected '%c' at byte %" G_GSIZE_FORMAT,
                         what, c, i);
              else
                corrupt (error, path, "%s is not valid JSON: unexpected byte 0x%02x at byte %"
                         G_GSIZE_FORMAT, what, (guint) (guchar) c, i);
              return FALSE;
            }
          break;
        }
    }
  /* unterminated: json-glib says where */
  return TRUE;
}

gpointer
_fa_safetensors_parse_json (const char *path, const char *what, const char *text, gsize length,
                            GError **error)
{
  /* g_utf8_validate also refuses NUL bytes, which would cut the text short
   * for json-glib. */
  if (!g_utf8_validate (text, (gssize) length, NULL))
    {
      corrupt (error, path, "%s is not valid UTF-8", what);
      return NULL;
    }
  if (!check_json_lexing (path, what, text, length, error))
    return NULL;

  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) json_error = NULL;
  if (!json_parser_load_from_data (parser, text, (gssize) length, &json_error))
    {
      corrupt (error, path, "%s is not valid JSON: %s", what, json_error->message);
      return NULL;
    }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL)
    {
      corrupt (error, path, "%s is empty", what);
      return NULL;
    }
  return json_node_copy (root);
}

static char *
shape_to_string (int ndim, const gint64 *shape)
{
  GString *s = g_string_new ("[");

  for (int i = 0; i < ndim; i++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i > 0 ? ", " : "", shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

/* A non-negative JSON integer, or FALSE. json-glib wraps integers beyond
 * 64 bits into arbitrary values; those that come out negative are refused
 * here and the rest fail the byte size check. */
static gboolean
get_uint (JsonNode *node, guint64 *out)
{
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  gint64 v = json_node_get_int (node);
  if (v < 0)
    return FALSE;
  *out = (guint64) v;
  return TRUE;
}

static const char *
describe_node (JsonNode *node)
{
  if (node == NULL)
    return "missing";
  switch (JSON_NODE_TYPE (node))
    {
    case JSON_NODE_OBJECT:
      return "an object";
    case JSON_NODE_ARRAY:
      return "an array";
    case JSON_NODE_NULL:
      return "null";
    case JSON_NODE_VALUE:
    default:
      switch (json_node_get_value_type (node))
        {
        case G_TYPE_INT64:
          return "an integer";
        case G_TYPE_DOUBLE:
          return "a fractional number";
        case G_TYPE_BOOLEAN:
          return "a boolean";
        case G_TYPE_STRING:
          return "a string";
        default:
          return "an unexpected value";
        }
    }
}

static gboolean
parse_metadata (FaSafetensors *file, JsonNode *node, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      corrupt (error, file->path, "__metadata__ is %s, not an object of strings", describe_node (node));
      return FALSE;
    }

  JsonObject *object = json_node_get_object (node);
  g_autoptr (GList) keys = json_object_get_members (object);

  file->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (GList *l = keys; l != NULL; l = l->next)
    {
      const char *key = l->data;
      JsonNode *value = json_object_get_member (object, key);

      if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
        {
          corrupt (error, file->path, "__metadata__ value for '%s' is %s, not a string", key,
                   describe_node (value));
          return FALSE;
        }
      g_hash_table_insert (file->metadata, g_strdup (key), g_strdup (json_node_get_string (value)));
    }
  return TRUE;
}

static gboolean
parse_entry (FaSafetensors *file, const char *name, JsonNode *node, FaSafetensorsEntry *entry,
             Span *span, GError **error)
{
  const char *path = file->path;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      corrupt (error, path, "tensor '%s' is %s, not an object", name, describe_node (node));
      return FALSE;
    }
  JsonObject *object = json_node_get_object (node);

  JsonNode *dtype_node = json_object_get_member (object, "dtype");
  if (dtype_node == NULL || !JSON_NODE_HOLDS_VALUE (dtype_node) ||
      json_node_get_value_type (dtype_node) != G_TYPE_STRING)
    {
      corrupt (error, path, "tensor '%s' has no dtype string (dtype is %s)", name,
               describe_node (dtype_node));
      return FALSE;
    }
  const char *dtype_name = json_node_get_string (dtype_node);
  if (!fa_dtype_from_safetensors_name (dtype_name, &entry->dtype))
    {
      corrupt (error, path, "tensor '%s' has unknown dtype '%s'", name, dtype_name);
      return FALSE;
    }

  JsonNode *shape_node = json_object_get_member (object, "shape");
  if (shape_node == NULL || !JSON_NODE_HOLDS_ARRAY (shape_node))
    {
      corrupt (error, path, "tensor '%s' has no shape array (shape is %s)", name,
               describe_node (shape_node));
      return FALSE;
    }
  JsonArray *shape = json_node_get_array (shape_node);
  guint ndim = json_array_get_length (shape);
  if (ndim > FA_MAX_DIMS)
    {
      corrupt (error, path, "tensor '%s' has %u dimensions; at most %d supported", name, ndim,
               FA_MAX_DIMS);
      return FALSE;
    }
  entry->ndim = (int) ndim;

  guint64 numel = 1;
  gboolean overflow = FALSE;
  for (guint i = 0; i < ndim; i++)
    {
      JsonNode *dim_node = json_array_get_element (shape, i);
      guint64 dim;

      if (!get_uint (dim_node, &dim))
        {
          if (JSON_NODE_HOLDS_VALUE (dim_node) && json_node_get_value_type (dim_node) == G_TYPE_INT64)
            corrupt (error, path, "tensor '%s' has negative size %" G_GINT64_FORMAT " in dimension %u",
                     name, json_node_get_int (dim_node), i);
          else
            corrupt (error, path, "tensor '%s' has %s in dimension %u of its shape, not a size",
                     name, describe_node (dim_node), i);
          return FALSE;
        }
      entry->shape[i] = (gint64) dim;
      if (!g_uint64_checked_mul (&numel, numel, dim))
        overflow = TRUE;
    }

  JsonNode *offsets_node = json_object_get_member (object, "data_offsets");
  if (offsets_node == NULL || !JSON_NODE_HOLDS_ARRAY (offsets_node) ||
      json_array_get_length (json_node_get_array (offsets_node)) != 2)
    {
      corrupt (error, path, "tensor '%s' has no data_offsets pair (data_offsets is %s)", name,
               describe_node (offsets_node));
      return FALSE;
    }
  JsonArray *offsets = json_node_get_array (offsets_node);
  guint64 begin, end;
  if (!get_uint (json_array_get_element (offsets, 0), &begin) ||
      !get_uint (json_array_get_element (offsets, 1), &end))
    {
      corrupt (error, path, "tensor '%s' has data_offsets that are not two non-negative integers",
               name);
      return FALSE;
    }
  if (begin > end)
    {
      corrupt (error, path, "tensor '%s' data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
               "] begin after they end", name, begin, end);
      return FALSE;
    }
  if (end > file->data_size)
    {
      corrupt (error, path, "tensor '%s' data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
               "] lie outside the %" G_GUINT64_FORMAT "-byte data section", name, begin, end,
               file->data_size);
      return FALSE;
    }

  guint64 needed;
  if (overflow || !g_uint64_checked_mul (&needed, numel, fa_dtype_size (entry->dtype)))
    {
      g_autofree char *shape_text = shape_to_string (entry->ndim, entry->shape);
      corrupt (error, path, "tensor '%s' shape %s is too large", name, shape_text);
      return FALSE;
    }
  if (end - begin != needed)
    {
      g_autofree char *shape_text = shape_to_string (entry->ndim, entry->shape);
      corrupt (error, path, "tensor '%s' holds %" G_GUINT64_FORMAT " bytes but dtype %s × shape %s needs %"
               G_GUINT64_FORMAT, name, end - begin, dtype_name, shape_text, needed);
      return FALSE;
    }

  entry->data = file->data + begin;
  entry->nbytes = (gsize) needed;
  span->begin = begin;
  span->end = end;
  return TRUE;
}

static int
compare_spans (gconstpointer a, gconstpointer b)
{
  const Span *x = a, *y = b;

  if (x->begin != y->begin)
    return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end)
    return x->end < y->end ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* Holes between tensors are allowed (writers may align), shared bytes are
 * not. Empty tensors occupy nothing and so cannot overlap. */
static gboolean
check_overlaps (FaSafetensors *file, Span *spans, GError **error)
{
  guint n = 0;

  for (guint i = 0; i < file->n_entries; i++)
    if (spans[i].end > spans[i].begin)
      spans[n++] = spans[i];
  if (n < 2)
    return TRUE; /* and @spans may be NULL */
  qsort (spans, n, sizeof *spans, compare_spans);

  guint reach = 0; /* the span reaching furthest so far */
  for (guint i = 1; i < n; i++)
    {
      if (spans[i].begin < spans[reach].end)
        {
          corrupt (error, file->path, "tensors '%s' and '%s' overlap",
                   file->entries[spans[reach].index].name, file->entries[spans[i].index].name);
          return FALSE;
        }
      if (spans[i].end > spans[reach].end)
        reach = i;
    }
  return TRUE;
}

static gboolean
parse_header (FaSafetensors *file, const char *text, gsize length, GError **error)
{
  const char *path = file->path;

  g_autoptr (JsonNode) root = _fa_safetensors_parse_json (path, "header", text, length, error);
  if (root == NULL)
    return FALSE;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      corrupt (error, path, "header is %s, not a JSON object", describe_node (root));
      return FALSE;
    }
  JsonObject *object = json_node_get_object (root);
  g_autoptr (GList) members = json_object_get_members (object);
  guint n_members = g_list_length (members);

  file->entries = g_new0 (FaSafetensorsEntry, n_members);
  file->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree Span *spans = g_new0 (Span, n_members);

  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *name = l->data;
      JsonNode *node = json_object_get_member (object, name);

      if (g_str_equal (name, "__metadata__"))
        {
          if (file->metadata != NULL)
            {
              corrupt (error, path, "__metadata__ appears twice");
              return FALSE;
            }
          if (!parse_metadata (file, node, error))
            return FALSE;
          continue;
        }

      guint index = file->n_entries;
      FaSafetensorsEntry *entry = &file->entries[index];
      if (!parse_entry (file, name, node, entry, &spans[index], error))
        return FALSE;
      /* json-glib keeps the last of repeated keys, but a "\u0000" escape
       * can still make two distinct keys the same C string. */
      if (g_hash_table_contains (file->by_name, name))
        {
          corrupt (error, path, "tensor '%s' appears twice", name);
          return FALSE;
        }
      entry->name = g_strdup (name);
      spans[index].index = index;
      file->n_entries++;
      g_hash_table_insert (file->by_name, (gpointer) entry->name, entry);
    }

  return check_overlaps (file, spans, error);
}

FaSafetensors *
fa_safetensors_open (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* O_NONBLOCK so that a FIFO given by mistake cannot hang the open. */
  int fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0);
  if (fd < 0)
    {
      fa_file_set_io_error (error, errno, path, NULL);
      return NULL;
    }

  struct stat st;
  if (fstat (fd, &st) != 0)
    {
      int saved_errno = errno;
      close (fd);
      fa_file_set_io_error (error, saved_errno, path, NULL);
      return NULL;
    }
  if (S_ISDIR (st.st_mode))
    {
      close (fd);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_IS_DIRECTORY,
                   "%s: is a directory, not a safetensors file", path);
      return NULL;
    }
  if (!S_ISREG (st.st_mode))
    {
      close (fd);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
                   "%s: is not a regular file", path);
      return NULL;
    }

  guint64 file_size = (guint64) st.st_size;
  if (file_size < 8)
    {
      close (fd);
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                   "%s: file is %" G_GUINT64_FORMAT " bytes, too short for the 8-byte header length",
                   path, file_size);
      return NULL;
    }
  if (file_size > G_MAXSIZE)
    {
      close (fd);
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "%s: file is larger than this machine's address space", path);
      return NULL;
    }

  gpointer map = mmap (NULL, (gsize) file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  int saved_errno = errno;
  close (fd);
  if (map == MAP_FAILED)
    {
      fa_file_set_io_error (error, saved_errno, path, "cannot map");
      return NULL;
    }

  g_autoptr (FaSafetensors) file = g_new0 (FaSafetensors, 1);
  g_atomic_ref_count_init (&file->ref_count);
  file->path = g_strdup (path);
  file->map = map;
  file->map_size = (gsize) file_size;

  guint64 header_length;
  memcpy (&header_length, file->map, sizeof header_length);
  header_length = GUINT64_FROM_LE (header_length);
  if (header_length == 0)
    {
      corrupt (error, path, "header length is 0");
      return NULL;
    }
  /* Compared against what is left, so that no sum can wrap. */
  if (header_length > file_size - 8)
    {
      corrupt (error, path, "header length %" G_GUINT64_FORMAT " is larger than the file (%"
               G_GUINT64_FORMAT " bytes)", header_length, file_size);
      return NULL;
    }
  if (header_length > MAX_HEADER_BYTES)
    {
      corrupt (error, path, "header length %" G_GUINT64_FORMAT " exceeds the %" G_GUINT64_FORMAT
               "-byte limit", header_length, MAX_HEADER_BYTES);
      return NULL;
    }
  file->data = file->map + 8 + header_length;
  file->data_size = file_size - 8 - header_length;

  if (!parse_header (file, (const char *) file->map + 8, (gsize) header_length, error))
    return NULL;

  return g_steal_pointer (&file);
}

const char *
fa_safetensors_get_path (FaSafetensors *file)
{
  g_return_val_if_fail (file != NULL, NULL);
  return file->path;
}

guint
fa_safetensors_get_n_tensors (FaSafetensors *file)
{
  g_return_val_if_fail (file != NULL, 0);
  return file->n_entries;
}

const FaSafetensorsEntry *
fa_safetensors_get_entry (FaSafetensors *file, guint index)
{
  g_return_val_if_fail (file != NULL, NULL);
  g_return_val_if_fail (index < file->n_entries, NULL);
  return &file->entries[index];
}

const FaSafetensorsEntry *
fa_safetensors_lookup (FaSafetensors *file, const char *name)
{
  g_return_val_if_fail (file != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  return g_hash_table_lookup (file->by_name, name);
}

const char *
fa_safetensors_get_metadata (FaSafetensors *file, const char *key)
{
  g_return_val_if_fail (file != NULL, NULL);
  g_return_val_if_fail (key != NULL, NULL);
  if (file->metadata == NULL)
    return NULL;
  return g_hash_table_lookup (file->metadata, key);
}

/* The view is read-only (the mapping is PROT_READ) and its data may be
 * unaligned for its dtype, since safetensors offsets are arbitrary: it is
 * for copying and conversion through byte-wise paths, not for kernels. */
FaTensor *
fa_safetensors_view_tensor (FaSafetensors *file, const FaSafetensorsEntry *entry, GError **error)
{
  g_return_val_if_fail (file != NULL, NULL);
  g_return_val_if_fail (entry != NULL, NULL);
  g_return_val_if_fail (entry >= file->entries && entry < file->entries + file->n_entries, NULL);

  FaTensor *tensor = fa_tensor_new_wrapping (entry->dtype, entry->ndim, entry->shape,
                                             (gpointer) entry->data,
                                             (GDestroyNotify) fa_safetensors_unref,
                                             fa_safetensors_ref (file), error);
  if (tensor == NULL)
    fa_safetensors_unref (file);
  return tensor;
}

/* ---- writing ---- */

typedef struct {
  const char *name;
  FaTensor *tensor; /* host, owned */
} WriteItem;

static int
compare_items (gconstpointer a, gconstpointer b)
{
  return strcmp (((const WriteItem *) a)->name, ((const WriteItem *) b)->name);
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static char *
build_header (WriteItem *items, guint n_items, GHashTable *metadata)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  guint64 offset = 0;

  json_builder_begin_object (builder);
  if (metadata != NULL)
    {
      g_autofree const char **keys = (const char **) g_hash_table_get_keys_as_array (metadata, NULL);
      guint n_keys = g_hash_table_size (metadata);

      qsort (keys, n_keys, sizeof *keys, compare_strings);
      json_builder_set_member_name (builder, "__metadata__");
      json_builder_begin_object (builder);
      for (guint i = 0; i < n_keys; i++)
        {
          json_builder_set_member_name (builder, keys[i]);
          json_builder_add_string_value (builder, g_hash_table_lookup (metadata, keys[i]));
        }
      json_builder_end_object (builder);
    }
  for (guint i = 0; i < n_items; i++)
    {
      const FaTensor *tensor = items[i].tensor;
      guint64 nbytes = fa_tensor_get_nbytes (tensor);

      json_builder_set_member_name (builder, items[i].name);
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "dtype");
      json_builder_add_string_value (builder, fa_dtype_get_safetensors_name (tensor->dtype));
      json_builder_set_member_name (builder, "shape");
      json_builder_begin_array (builder);
      for (int d = 0; d < tensor->ndim; d++)
        json_builder_add_int_value (builder, tensor->shape[d]);
      json_builder_end_array (builder);
      json_builder_set_member_name (builder, "data_offsets");
      json_builder_begin_array (builder);
      json_builder_add_int_value (builder, (gint64) offset);
      json_builder_add_int_value (builder, (gint64) (offset + nbytes));
      json_builder_end_array (builder);
      json_builder_end_object (builder);
      offset += nbytes;
    }
  json_builder_end_object (builder);

  g_autoptr (JsonNode) root = json_builder_get_root (builder);
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  json_generator_set_root (generator, root);
  return json_generator_to_data (generator, NULL);
}

static gboolean
check_write_input (guint n_tensors, const char *const *names, FaTensor *const *tensors,
                   GHashTable *metadata, GError **error)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < n_tensors; i++)
    {
      if (names[i] == NULL || tensors[i] == NULL)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "tensor %u has no %s", i,
                       names[i] == NULL ? "name" : "data");
          return FALSE;
        }
      if (!g_utf8_validate (names[i], -1, NULL) || g_str_equal (names[i], "__metadata__"))
        {
          g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                       "'%s' cannot name a tensor in a safetensors file", names[i]);
          return FALSE;
        }
      if (!g_hash_table_add (seen, (gpointer) names[i]))
        {
          g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "tensor name '%s' is given twice",
                       names[i]);
          return FALSE;
        }
      if (!fa_tensor_is_contiguous (tensors[i]))
        {
          g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "tensor '%s' is not contiguous", names[i]);
          return FALSE;
        }
      if ((unsigned) tensors[i]->dtype >= FA_DTYPE_COUNT)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_DTYPE, "tensor '%s' has an invalid dtype", names[i]);
          return FALSE;
        }
    }

  if (metadata != NULL)
    {
      GHashTableIter iter;
      gpointer key, value;

      g_hash_table_iter_init (&iter, metadata);
      while (g_hash_table_iter_next (&iter, &key, &value))
        if (key == NULL || value == NULL || !g_utf8_validate (key, -1, NULL) ||
            !g_utf8_validate (value, -1, NULL))
          {
            g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                         "metadata keys and values must be UTF-8 strings");
            return FALSE;
          }
    }
  return TRUE;
}

static void
write_items_free (WriteItem *items, guint n_items)
{
  for (guint i = 0; i < n_items; i++)
    fa_tensor_unref (items[i].tensor);
  g_free (items);
}

gboolean
fa_safetensors_write (const char *path, guint n_tensors, const char *const *names,
                      FaTensor *const *tensors, GHashTable *metadata, GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (n_tensors == 0 || (names != NULL && tensors != NULL), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_write_input (n_tensors, names, tensors, metadata, error))
    return FALSE;

  /* Every tensor on the host first: a device that fails a copy must fail
   * before the temporary file exists. */
  WriteItem *items = g_new0 (WriteItem, MAX (n_tensors, 1));
  g_autoptr (FaBackend) cpu = NULL;
  for (guint i = 0; i < n_tensors; i++)
    {
      items[i].name = names[i];
      if (tensors[i]->device == FA_DEVICE_CPU)
        items[i].tensor = fa_tensor_ref (tensors[i]);
      else
        {
          if (cpu == NULL)
            cpu = fa_backend_new_cpu ();
          items[i].tensor = fa_tensor_to (tensors[i], cpu, tensors[i]->dtype, error);
          if (items[i].tensor == NULL)
            {
              g_prefix_error (error, "%s: tensor '%s': ", path, names[i]);
              write_items_free (items, i);
              return FALSE;
            }
        }
    }
  qsort (items, n_tensors, sizeof *items, compare_items);

  g_autofree char *json = build_header (items, n_tensors, metadata);
  gsize json_length = strlen (json);
  /* Padding keeps the data section 8-byte aligned when the file is mapped. */
  gsize header_length = (json_length + 7) & ~(gsize) 7;
  g_autofree char *header = g_malloc (8 + header_length);
  guint64 length_le = GUINT64_TO_LE ((guint64) header_length);
  memcpy (header, &length_le, 8);
  memcpy (header + 8, json, json_length);
  memset (header + 8 + json_length, ' ', header_length - json_length);

  g_autofree char *tmp_path = g_strdup_printf ("%s.tmp-XXXXXX", path);
  int fd = g_mkstemp_full (tmp_path, O_RDWR | O_CLOEXEC, 0666);
  if (fd < 0)
    {
      fa_file_set_io_error (error, errno, path, "cannot create a temporary file");
      write_items_free (items, n_tensors);
      return FALSE;
    }

  gboolean ok = fa_file_write_all (fd, header, 8 + header_length, tmp_path, error);
  for (guint i = 0; ok && i < n_tensors; i++)
    {
      gsize nbytes = fa_tensor_get_nbytes (items[i].tensor);
      if (nbytes > 0)
        ok = fa_file_write_all (fd, fa_tensor_get_data (items[i].tensor), nbytes, tmp_path, error);
    }
  write_items_free (items, n_tensors);

  return fa_file_commit_temp (fd, tmp_path, path, ok, error);
}
