/* fa-project.c: project files (.fanchor).
 *
 * One JSON object (UTF-8, two-space indent, no trailing newline, so that
 * any cut of the file is invalid JSON):
 *
 *   {
 *     "format": "flowanchor-project",
 *     "version": 1,
 *     "clip": { "path": "/abs/clip.mp4", "size": 12345678,
 *               "hash": "<64 lowercase hex: SHA-256 of the size as decimal
 *                        text, the first MiB and the last MiB>" },
 *     "working": { "start_ns": 0, "end_ns": -1, "fps_n": 16, "fps_d": 1,
 *                  "width": 832, "height": 480, "fit": "crop" | "pad",
 *                  "max_frames": 81,
 *                  "range": { "first": 0, "count": 0 } },
 *     "prompts": { "source": "...", "target": "...",
 *                  "words": null | ["w1", ...],
 *                  "history": [ { "source": "...", "target": "..." }, ... ] },
 *     "params": { "steps": 25, "n_max": 23, "n_min": 0, "n_avg": 1,
 *                 "shift": 5.0, "cfg_source": 5.0, "cfg_target": 10.0,
 *                 "sar": true, "tau": 0.6, "beta1": 0.3, "beta2": 0.3,
 *                 "amm": true, "gamma": 1.0, "gamma_frames": 21,
 *                 "mask_dilation": 2, "blend_background": false,
 *                 "blend_strength": 1.0, "seed": 0 },
 *     "keyframes": [ { "frame": 0, "width": 832, "height": 480,
 *                      "png": "<base64 of an 8-bit grey PNG>" }, ... ],
 *     "results": [ { "kind": "preview" | "full", "output": "/abs/out.mp4",
 *                    "source_prompt": "...", "target_prompt": "...",
 *                    "created": <unix seconds>, "params": { as above } }, ... ],
 *     "view": { "zoom": 2.0, "tool": "brush", "overlay": true, "frame": 12 }
 *   }
 *
 * Paths (clip, outputs) are written absolute, so a project file can be
 * copied or moved on its own; a relative path in a hand-edited file is
 * taken relative to the project file's folder. "seed" is an integer up to
 * 2^63 − 1 and a decimal string above. Floats are written as doubles and
 * come back as the same float.
 *
 * "range" (the frames of the working clip the edit covers) came after the
 * first files were written: absent, it is count 0, the whole clip. "view"
 * holds the app's settings as plain JSON values, so that the file stays
 * readable: true/false is a "b", a string an "s", an integer (no fraction
 * or exponent; json-glib writes every double with one, 2.0 as "2.0") an
 * "i", any other number a "d". Asked for as a "d", an "i" is given as a
 * double too, so that a hand-written "zoom": 2 still reads.
 *
 * Reading: "format", "version" and "clip" are required; any other member
 * that is missing keeps its default (so a file hand-written with only a
 * few parameters loads); a member of the wrong type or out of range makes
 * the file corrupt. A version above FA_PROJECT_VERSION is refused before
 * anything else is read, as its meaning may have changed.
 *
 * Forward compatibility: each object read (the top level, clip, working,
 * its range, prompts, params, every history entry, keyframe and result,
 * and a result's params) is kept as parsed; saving starts from a copy of
 * it and overwrites the members this version knows, so unknown members
 * come back unchanged and in their place. Keyframes keep theirs while their frame
 * stays a keyframe, and keep their PNG text while the alpha is unchanged.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-project"

#include "config.h"

#include "fa-png.h"
#include "fa-project.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fa-error.h"
#include "fa-file.h"

#define FORMAT_NAME "flowanchor-project"
/* Far above any real project (a few hundred keyframes of 4096² would be
 * under it); stops a wrong file from being read into memory whole. */
#define MAX_PROJECT_BYTES ((gsize) 256 << 20)
#define HASH_SPAN ((gsize) 1 << 20)
/* libpng's own limit for the keyframe PNGs, as in fa-png.c */
#define MAX_SIDE 16384
/* The range's limits: what one edit takes (fa-document.h says the same) */
#define MIN_RANGE 5
#define MAX_RANGE 81
/* Far above any working clip (fa-clip.c keeps fewer than 5000 frames);
 * keeps the range's times well inside 64 bits. */
#define MAX_RANGE_FIRST 1000000

typedef struct {
  int frame, width, height;
  guint8 *alpha;
  char *png_base64; /* the encoded alpha, made on the first save or kept as read */
  JsonObject *extra; /* the object as read; NULL for one made here */
} Keyframe;

typedef struct {
  FaProjectResult result; /* first: handed out as const FaProjectResult * */
  JsonObject *extra;
} ResultEntry;

struct _FaProject {
  char *clip_path;
  gint64 clip_size;
  char *clip_hash;

  FaWorkingClipOptions working;
  FaEditParams params;

  char *source_prompt, *target_prompt;
  char **target_words;
  /* NULL-terminated, parallel; history_extra holds JsonObject * or NULL */
  GPtrArray *history_sources, *history_targets, *history_extra;

  GPtrArray *keyframes; /* Keyframe *, ascending frames */
  GPtrArray *results;   /* ResultEntry * */

  int range_first, range_count; /* count 0: the whole working clip */
  GHashTable *view; /* char * → GVariant * of type b, i, d or s */

  /* the objects as read, with what this version does not know; NULL when new */
  JsonObject *top, *clip_extra, *working_extra, *range_extra, *prompts_extra, *params_extra;
};

static gssize save_failure_after = -1;

/* ---- field tables: every FaEditParams and FaWorkingClipOptions field by name ---- */

typedef enum {
  FIELD_INT,
  FIELD_INT64,
  FIELD_FLOAT,
  FIELD_BOOL,
  FIELD_UINT64,
} FieldType;

typedef struct {
  const char *name;
  FieldType type;
  gsize offset;
} Field;

#define PARAM(name, type) { #name, type, G_STRUCT_OFFSET (FaEditParams, name) }
static const Field param_fields[] = {
  PARAM (steps, FIELD_INT),
  PARAM (n_max, FIELD_INT),
  PARAM (n_min, FIELD_INT),
  PARAM (n_avg, FIELD_INT),
  PARAM (shift, FIELD_FLOAT),
  PARAM (cfg_source, FIELD_FLOAT),
  PARAM (cfg_target, FIELD_FLOAT),
  PARAM (sar, FIELD_BOOL),
  PARAM (tau, FIELD_FLOAT),
  PARAM (beta1, FIELD_FLOAT),
  PARAM (beta2, FIELD_FLOAT),
  PARAM (amm, FIELD_BOOL),
  PARAM (gamma, FIELD_FLOAT),
  PARAM (gamma_frames, FIELD_INT),
  PARAM (mask_dilation, FIELD_INT),
  PARAM (blend_background, FIELD_BOOL),
  PARAM (blend_strength, FIELD_FLOAT),
  PARAM (seed, FIELD_UINT64),
};
#undef PARAM

/* A field added to FaEditParams must be added to the table above, or it
 * would silently not be saved: this trips when the struct grows. */
#if GLIB_SIZEOF_VOID_P == 8
G_STATIC_ASSERT (sizeof (FaEditParams) == 80);
#endif

/* "fit" is an enum and handled apart; progress fields are not saved. */
#define WORKING(name, type) { #name, type, G_STRUCT_OFFSET (FaWorkingClipOptions, name) }
static const Field working_fields[] = {
  WORKING (start_ns, FIELD_INT64),
  WORKING (end_ns, FIELD_INT64),
  WORKING (fps_n, FIELD_INT),
  WORKING (fps_d, FIELD_INT),
  WORKING (width, FIELD_INT),
  WORKING (height, FIELD_INT),
  WORKING (max_frames, FIELD_INT),
};
#undef WORKING

static const char *const top_known[] = { "format", "version", "clip", "working", "prompts", "params",
                                         "keyframes", "results", "view", NULL };
static const char *const clip_known[] = { "path", "size", "hash", NULL };
static const char *const range_known[] = { "first", "count", NULL };
static const char *const prompts_known[] = { "source", "target", "words", "history", NULL };
static const char *const history_known[] = { "source", "target", NULL };
static const char *const keyframe_known[] = { "frame", "width", "height", "png", NULL };
static const char *const result_known[] = { "kind", "output", "source_prompt", "target_prompt", "created",
                                            "range_first",
                                            "params", NULL };

/* ---- small helpers ---- */

static void
keyframe_free (Keyframe *k)
{
  g_free (k->alpha);
  g_free (k->png_base64);
  g_clear_pointer (&k->extra, json_object_unref);
  g_free (k);
}

static void
result_entry_free (ResultEntry *e)
{
  g_free (e->result.output_path);
  g_free (e->result.source_prompt);
  g_free (e->result.target_prompt);
  g_clear_pointer (&e->extra, json_object_unref);
  g_free (e);
}

static void
extra_free (gpointer object)
{
  if (object != NULL)
    json_object_unref (object);
}

static GPtrArray *
null_terminated_strings (void)
{
  GPtrArray *array = g_ptr_array_new_null_terminated (0, g_free, TRUE);
  return array;
}

static gboolean
str_equal0 (const char *a, const char *b)
{
  return g_strcmp0 (a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static const char *
node_kind (JsonNode *node)
{
  if (node == NULL)
    return "nothing";
  switch (JSON_NODE_TYPE (node))
    {
    case JSON_NODE_OBJECT:
      return "an object";
    case JSON_NODE_ARRAY:
      return "an array";
    case JSON_NODE_NULL:
      return "null";
    case JSON_NODE_VALUE:
      break;
    }
  switch (json_node_get_value_type (node))
    {
    case G_TYPE_STRING:
      return "a string";
    case G_TYPE_INT64:
      return "an integer";
    case G_TYPE_DOUBLE:
      return "a number";
    case G_TYPE_BOOLEAN:
      return "a boolean";
    default:
      return "a value";
    }
}

/* ---- reading members, with errors naming the file and the field ---- */

typedef struct {
  const char *file;  /* the project file */
  const char *where; /* the object's field path: "" at the top, "clip", "keyframes[1]" */
} Place;

static gboolean G_GNUC_PRINTF (4, 5)
corrupt (GError **error, const Place *place, const char *name, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);

  g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: %s%s%s: %s", place->file, place->where,
               place->where[0] != '\0' && name != NULL ? "." : "", name != NULL ? name : "", message);
  return FALSE;
}

static gboolean
wrong_type (GError **error, const Place *place, const char *name, const char *expected, JsonNode *node)
{
  return corrupt (error, place, name, "expected %s, found %s", expected, node_kind (node));
}

static gboolean
node_is (JsonNode *node, GType type)
{
  return node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

/* Missing and not @required: *@out stays as it is. */
static gboolean
get_string (JsonObject *object, const char *name, gboolean required, const Place *place, const char **out,
            GError **error)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL && !required)
    return TRUE;
  if (!node_is (node, G_TYPE_STRING))
    return wrong_type (error, place, name, "a string", node);
  *out = json_node_get_string (node);
  return TRUE;
}

static gboolean
get_int64 (JsonObject *object, const char *name, gboolean required, gint64 min, gint64 max, const Place *place,
           gint64 *out, GError **error)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL && !required)
    return TRUE;
  if (!node_is (node, G_TYPE_INT64))
    return wrong_type (error, place, name, "an integer", node);
  gint64 value = json_node_get_int (node);
  if (value < min || value > max)
    return corrupt (error, place, name, "%" G_GINT64_FORMAT " is outside [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]",
                    value, min, max);
  *out = value;
  return TRUE;
}

/* Missing: NULL without error; present but not an object: an error. */
static gboolean
get_object (JsonObject *object, const char *name, gboolean required, const Place *place, JsonObject **out,
            GError **error)
{
  JsonNode *node = json_object_get_member (object, name);

  *out = NULL;
  if (node == NULL && !required)
    return TRUE;
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return wrong_type (error, place, name, "an object", node);
  *out = json_node_get_object (node);
  return TRUE;
}

static gboolean
get_array (JsonObject *object, const char *name, const Place *place, JsonArray **out, GError **error)
{
  JsonNode *node = json_object_get_member (object, name);

  *out = NULL;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return wrong_type (error, place, name, "an array", node);
  *out = json_node_get_array (node);
  return TRUE;
}

/* Each field of @fields that @object has, into @base; the others keep their value. */
static gboolean
read_fields (JsonObject *object, const Field *fields, gsize n_fields, const Place *place, gpointer base,
             GError **error)
{
  for (gsize i = 0; i < n_fields; i++)
    {
      const Field *f = &fields[i];
      JsonNode *node = json_object_get_member (object, f->name);
      gpointer p = (guint8 *) base + f->offset;
      gint64 i64 = 0;

      if (node == NULL)
        continue;
      switch (f->type)
        {
        case FIELD_INT:
          if (!get_int64 (object, f->name, TRUE, G_MININT, G_MAXINT, place, &i64, error))
            return FALSE;
          *(int *) p = (int) i64;
          break;
        case FIELD_INT64:
          if (!get_int64 (object, f->name, TRUE, G_MININT64, G_MAXINT64, place, &i64, error))
            return FALSE;
          *(gint64 *) p = i64;
          break;
        case FIELD_FLOAT:
          {
            double value;
            if (node_is (node, G_TYPE_DOUBLE))
              value = json_node_get_double (node);
            else if (node_is (node, G_TYPE_INT64))
              value = (double) json_node_get_int (node);
            else
              return wrong_type (error, place, f->name, "a number", node);
            if (!(value >= -FLT_MAX && value <= FLT_MAX))
              return corrupt (error, place, f->name, "%g does not fit a float", value);
            *(float *) p = (float) value;
          }
          break;
        case FIELD_BOOL:
          if (!node_is (node, G_TYPE_BOOLEAN))
            return wrong_type (error, place, f->name, "true or false", node);
          *(gboolean *) p = json_node_get_boolean (node);
          break;
        case FIELD_UINT64:
          if (node_is (node, G_TYPE_STRING))
            {
              guint64 value;
              if (!g_ascii_string_to_unsigned (json_node_get_string (node), 10, 0, G_MAXUINT64, &value, NULL))
                return corrupt (error, place, f->name, "\"%s\" is not a decimal number from 0 to %" G_GUINT64_FORMAT,
                                json_node_get_string (node), G_MAXUINT64);
              *(guint64 *) p = value;
            }
          else
            {
              if (!get_int64 (object, f->name, TRUE, 0, G_MAXINT64, place, &i64, error))
                return FALSE;
              *(guint64 *) p = (guint64) i64;
            }
          break;
        }
    }
  return TRUE;
}

/* ---- writing members ---- */

/* A copy of @extra (NULL: an empty object) in which the members of @known
 * are null placeholders: they keep their place in the file, and what the
 * caller sets replaces them without a deep copy of the old value. */
static JsonObject *
object_from (JsonObject *extra, const char *const *known)
{
  JsonObject *object = json_object_new ();

  if (extra == NULL)
    return object;
  g_autoptr (GList) names = json_object_get_members (extra);
  for (GList *l = names; l != NULL; l = l->next)
    {
      const char *name = l->data;
      if (known != NULL && g_strv_contains (known, name))
        json_object_set_null_member (object, name);
      else
        json_object_set_member (object, name, json_node_copy (json_object_get_member (extra, name)));
    }
  return object;
}

static void
write_fields (JsonObject *object, const Field *fields, gsize n_fields, gconstpointer base)
{
  for (gsize i = 0; i < n_fields; i++)
    {
      const Field *f = &fields[i];
      gconstpointer p = (const guint8 *) base + f->offset;

      switch (f->type)
        {
        case FIELD_INT:
          json_object_set_int_member (object, f->name, *(const int *) p);
          break;
        case FIELD_INT64:
          json_object_set_int_member (object, f->name, *(const gint64 *) p);
          break;
        case FIELD_FLOAT:
          json_object_set_double_member (object, f->name, *(const float *) p);
          break;
        case FIELD_BOOL:
          json_object_set_boolean_member (object, f->name, *(const gboolean *) p != FALSE);
          break;
        case FIELD_UINT64:
          {
            guint64 value = *(const guint64 *) p;
            if (value <= G_MAXINT64)
              json_object_set_int_member (object, f->name, (gint64) value);
            else
              {
                g_autofree char *text = g_strdup_printf ("%" G_GUINT64_FORMAT, value);
                json_object_set_string_member (object, f->name, text);
              }
          }
          break;
        }
    }
}

static JsonObject *
params_to_json (const FaEditParams *params, JsonObject *extra)
{
  g_autofree const char **names = g_new0 (const char *, G_N_ELEMENTS (param_fields) + 1);

  for (gsize i = 0; i < G_N_ELEMENTS (param_fields); i++)
    names[i] = param_fields[i].name;
  JsonObject *object = object_from (extra, names);
  write_fields (object, param_fields, G_N_ELEMENTS (param_fields), params);
  return object;
}

/* ---- keyframe PNGs ---- */

static gboolean
keyframe_encode (Keyframe *k, GError **error)
{
  if (k->png_base64 != NULL)
    return TRUE;

  g_autofree char *what = g_strdup_printf ("the mask of keyframe %d", k->frame);
  g_autoptr (GBytes) bytes = fa_png_encode (k->alpha, k->width, k->height, 1, what, error);
  if (bytes == NULL)
    return FALSE;
  gsize size = 0;
  const guint8 *data = g_bytes_get_data (bytes, &size);
  k->png_base64 = g_base64_encode (data, size);
  return TRUE;
}

/* ---- the clip's size and hash ---- */

static gboolean
read_exact (int fd, guint8 *buffer, gsize size, gint64 offset, const char *path, GError **error)
{
  while (size > 0)
    {
      gssize n = pread (fd, buffer, size, offset);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          fa_file_set_io_error (error, errno, path, "cannot read");
          return FALSE;
        }
      if (n == 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: the file got shorter while it was read", path);
          return FALSE;
        }
      buffer += n;
      size -= (gsize) n;
      offset += n;
    }
  return TRUE;
}

/* SHA-256 of the size as decimal text, the first and the last MiB (they
 * overlap on a clip under 2 MiB, which is fine: the hash only has to be
 * the same for the same bytes). */
static gboolean
hash_clip (const char *path, gint64 *size_out, char **hash_out, GError **error)
{
  int fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0);
  struct stat st;

  if (fd < 0)
    {
      fa_file_set_io_error (error, errno, path, "cannot open the clip");
      return FALSE;
    }
  if (fstat (fd, &st) != 0)
    {
      fa_file_set_io_error (error, errno, path, "cannot read the clip's size");
      close (fd);
      return FALSE;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR, S_ISDIR (st.st_mode) ? G_IO_ERROR_IS_DIRECTORY : G_IO_ERROR_NOT_REGULAR_FILE,
                   "%s: not a file, so not a clip", path);
      close (fd);
      return FALSE;
    }

  gint64 size = st.st_size;
  gsize span = (gsize) MIN ((guint64) size, (guint64) HASH_SPAN);
  g_autofree guint8 *buffer = g_malloc (MAX (span, 1));
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree char *size_text = g_strdup_printf ("%" G_GINT64_FORMAT, size);

  g_checksum_update (checksum, (const guchar *) size_text, (gssize) strlen (size_text));
  gboolean ok = read_exact (fd, buffer, span, 0, path, error);
  if (ok)
    {
      g_checksum_update (checksum, buffer, (gssize) span);
      ok = read_exact (fd, buffer, span, size - (gint64) span, path, error);
    }
  close (fd);
  if (!ok)
    return FALSE;
  g_checksum_update (checksum, buffer, (gssize) span);
  *size_out = size;
  *hash_out = g_strdup (g_checksum_get_string (checksum));
  return TRUE;
}

/* ---- life cycle ---- */

static FaProject *
project_new_empty (void)
{
  FaProject *project = g_new0 (FaProject, 1);

  fa_working_clip_options_init (&project->working);
  fa_edit_params_init (&project->params);
  project->source_prompt = g_strdup ("");
  project->target_prompt = g_strdup ("");
  project->history_sources = null_terminated_strings ();
  project->history_targets = null_terminated_strings ();
  project->history_extra = g_ptr_array_new_with_free_func (extra_free);
  project->keyframes = g_ptr_array_new_with_free_func ((GDestroyNotify) keyframe_free);
  project->results = g_ptr_array_new_with_free_func ((GDestroyNotify) result_entry_free);
  project->view = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_variant_unref);
  return project;
}

FaProject *
fa_project_new (const char *clip_path, GError **error)
{
  g_return_val_if_fail (clip_path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autoptr (FaProject) project = project_new_empty ();
  if (!fa_project_set_clip_path (project, clip_path, error))
    return NULL;
  return g_steal_pointer (&project);
}

void
fa_project_free (FaProject *project)
{
  if (project == NULL)
    return;
  g_free (project->clip_path);
  g_free (project->clip_hash);
  g_free (project->source_prompt);
  g_free (project->target_prompt);
  g_strfreev (project->target_words);
  g_ptr_array_unref (project->history_sources);
  g_ptr_array_unref (project->history_targets);
  g_ptr_array_unref (project->history_extra);
  g_ptr_array_unref (project->keyframes);
  g_ptr_array_unref (project->results);
  g_hash_table_unref (project->view);
  g_clear_pointer (&project->top, json_object_unref);
  g_clear_pointer (&project->clip_extra, json_object_unref);
  g_clear_pointer (&project->working_extra, json_object_unref);
  g_clear_pointer (&project->range_extra, json_object_unref);
  g_clear_pointer (&project->prompts_extra, json_object_unref);
  g_clear_pointer (&project->params_extra, json_object_unref);
  g_free (project);
}

/* ---- loading ---- */

/* The whole file, refusing one above MAX_PROJECT_BYTES before reading it.
 * (O_NONBLOCK in both opens: a FIFO at the path must not hang the caller
 * before fstat says it is no file.) */
static char *
read_bounded (const char *path, gsize *length, GError **error)
{
  int fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0);
  struct stat st;

  if (fd < 0)
    {
      fa_file_set_io_error (error, errno, path, "cannot open the project");
      return NULL;
    }
  if (fstat (fd, &st) != 0)
    {
      fa_file_set_io_error (error, errno, path, "cannot read the project's size");
      close (fd);
      return NULL;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR, S_ISDIR (st.st_mode) ? G_IO_ERROR_IS_DIRECTORY : G_IO_ERROR_NOT_REGULAR_FILE,
                   "%s: not a file, so not a project", path);
      close (fd);
      return NULL;
    }
  if ((guint64) st.st_size > MAX_PROJECT_BYTES)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                   "%s: %" G_GINT64_FORMAT " bytes is more than a project can be (%" G_GSIZE_FORMAT " MiB at most)",
                   path, (gint64) st.st_size, MAX_PROJECT_BYTES >> 20);
      close (fd);
      return NULL;
    }

  gsize size = (gsize) st.st_size;
  char *data = g_malloc (size + 1);
  gboolean ok = read_exact (fd, (guint8 *) data, size, 0, path, error);
  close (fd);
  if (!ok)
    {
      g_free (data);
      return NULL;
    }
  data[size] = '\0';
  *length = size;
  return data;
}

/* A clip or output path as written: relative ones are taken from the
 * project file's folder. */
static char *
absolute_path (const char *path, const char *project_path)
{
  g_autofree char *dir = g_path_get_dirname (project_path);
  g_autofree char *base = g_canonicalize_filename (dir, NULL);

  return g_canonicalize_filename (path, base);
}

static gboolean
load_clip (FaProject *project, JsonObject *top, const char *path, GError **error)
{
  const Place top_place = { path, "" }, place = { path, "clip" };
  JsonObject *clip;
  const char *clip_path = NULL, *hash = NULL;
  gint64 size = 0;

  if (!get_object (top, "clip", TRUE, &top_place, &clip, error) ||
      !get_string (clip, "path", TRUE, &place, &clip_path, error) ||
      !get_int64 (clip, "size", TRUE, 0, G_MAXINT64, &place, &size, error) ||
      !get_string (clip, "hash", TRUE, &place, &hash, error))
    return FALSE;
  if (clip_path[0] == '\0')
    return corrupt (error, &place, "path", "empty");
  if (strlen (hash) != 64 || strspn (hash, "0123456789abcdef") != 64)
    return corrupt (error, &place, "hash", "\"%s\" is not a SHA-256 in lowercase hex", hash);

  project->clip_path = absolute_path (clip_path, path);
  project->clip_size = size;
  project->clip_hash = g_strdup (hash);
  project->clip_extra = json_object_ref (clip);
  return TRUE;
}

static gboolean
range_count_valid (gint64 count)
{
  return count == 0 || (count >= MIN_RANGE && count <= MAX_RANGE && (count - 1) % 4 == 0);
}

static gboolean
load_range (FaProject *project, JsonObject *working, const char *path, GError **error)
{
  const Place working_place = { path, "working" }, place = { path, "working.range" };
  JsonObject *range;
  gint64 first = 0, count = 0;

  if (!get_object (working, "range", FALSE, &working_place, &range, error))
    return FALSE;
  if (range == NULL)
    return TRUE;
  if (!get_int64 (range, "first", FALSE, 0, MAX_RANGE_FIRST, &place, &first, error) ||
      !get_int64 (range, "count", FALSE, 0, MAX_RANGE, &place, &count, error))
    return FALSE;
  if (!range_count_valid (count))
    return corrupt (error, &place, "count", "%" G_GINT64_FORMAT " frames: a range is 1 + 4k frames from %d to %d "
                    "(0: the whole clip)", count, MIN_RANGE, MAX_RANGE);
  project->range_first = count > 0 ? (int) first : 0;
  project->range_count = (int) count;
  project->range_extra = json_object_ref (range);
  return TRUE;
}

static gboolean
load_working (FaProject *project, JsonObject *top, const char *path, GError **error)
{
  const Place top_place = { path, "" }, place = { path, "working" };
  JsonObject *working;
  const char *fit = NULL;

  if (!get_object (top, "working", FALSE, &top_place, &working, error))
    return FALSE;
  if (working == NULL)
    return TRUE;
  if (!read_fields (working, working_fields, G_N_ELEMENTS (working_fields), &place, &project->working, error) ||
      !get_string (working, "fit", FALSE, &place, &fit, error))
    return FALSE;
  if (fit != NULL && strcmp (fit, "crop") == 0)
    project->working.fit = FA_CLIP_FIT_CROP;
  else if (fit != NULL && strcmp (fit, "pad") == 0)
    project->working.fit = FA_CLIP_FIT_PAD;
  else if (fit != NULL)
    return corrupt (error, &place, "fit", "\"%s\" is neither \"crop\" nor \"pad\"", fit);
  if (!load_range (project, working, path, error))
    return FALSE;
  project->working_extra = json_object_ref (working);
  return TRUE;
}

static gboolean
load_params (JsonObject *object, const Place *place, FaEditParams *params, GError **error)
{
  g_autoptr (GError) local_error = NULL;

  fa_edit_params_init (params);
  if (!read_fields (object, param_fields, G_N_ELEMENTS (param_fields), place, params, error))
    return FALSE;
  if (!fa_edit_params_check (params, &local_error))
    return corrupt (error, place, NULL, "%s", local_error->message);
  return TRUE;
}

static gboolean
load_prompts (FaProject *project, JsonObject *top, const char *path, GError **error)
{
  const Place top_place = { path, "" }, place = { path, "prompts" };
  JsonObject *prompts;
  JsonArray *history;
  const char *source = "", *target = "";

  if (!get_object (top, "prompts", FALSE, &top_place, &prompts, error))
    return FALSE;
  if (prompts == NULL)
    return TRUE;
  if (!get_string (prompts, "source", FALSE, &place, &source, error) ||
      !get_string (prompts, "target", FALSE, &place, &target, error))
    return FALSE;
  g_free (project->source_prompt);
  project->source_prompt = g_strdup (source);
  g_free (project->target_prompt);
  project->target_prompt = g_strdup (target);

  JsonNode *words = json_object_get_member (prompts, "words");
  if (words != NULL && !JSON_NODE_HOLDS_NULL (words))
    {
      if (!JSON_NODE_HOLDS_ARRAY (words))
        return wrong_type (error, &place, "words", "an array of strings or null", words);
      JsonArray *array = json_node_get_array (words);
      guint n = json_array_get_length (array);
      g_auto (GStrv) list = g_new0 (char *, n + 1);
      for (guint i = 0; i < n; i++)
        {
          JsonNode *word = json_array_get_element (array, i);
          if (!node_is (word, G_TYPE_STRING))
            {
              g_autofree char *name = g_strdup_printf ("words[%u]", i);
              return wrong_type (error, &place, name, "a string", word);
            }
          list[i] = g_strdup (json_node_get_string (word));
        }
      project->target_words = g_steal_pointer (&list);
    }

  if (!get_array (prompts, "history", &place, &history, error))
    return FALSE;
  for (guint i = 0; history != NULL && i < json_array_get_length (history); i++)
    {
      g_autofree char *where = g_strdup_printf ("prompts.history[%u]", i);
      const Place entry_place = { path, where };
      JsonNode *node = json_array_get_element (history, i);
      const char *s = NULL, *t = NULL;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        {
          g_autofree char *name = g_strdup_printf ("history[%u]", i);
          return wrong_type (error, &place, name, "an object", node);
        }
      JsonObject *entry = json_node_get_object (node);
      if (!get_string (entry, "source", TRUE, &entry_place, &s, error) ||
          !get_string (entry, "target", TRUE, &entry_place, &t, error))
        return FALSE;
      g_ptr_array_add (project->history_sources, g_strdup (s));
      g_ptr_array_add (project->history_targets, g_strdup (t));
      g_ptr_array_add (project->history_extra, json_object_ref (entry));
    }
  project->prompts_extra = json_object_ref (prompts);
  return TRUE;
}

static gboolean
load_keyframes (FaProject *project, JsonObject *top, const char *path, GError **error)
{
  const Place top_place = { path, "" };
  JsonArray *keyframes;

  if (!get_array (top, "keyframes", &top_place, &keyframes, error))
    return FALSE;
  for (guint i = 0; keyframes != NULL && i < json_array_get_length (keyframes); i++)
    {
      g_autofree char *where = g_strdup_printf ("keyframes[%u]", i);
      const Place place = { path, where };
      JsonNode *node = json_array_get_element (keyframes, i);
      gint64 frame = 0, width = 0, height = 0;
      const char *png_text = NULL;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        return wrong_type (error, &place, NULL, "an object", node);
      JsonObject *object = json_node_get_object (node);
      if (!get_int64 (object, "frame", TRUE, 0, G_MAXINT - 1, &place, &frame, error) ||
          !get_int64 (object, "width", TRUE, 1, MAX_SIDE, &place, &width, error) ||
          !get_int64 (object, "height", TRUE, 1, MAX_SIDE, &place, &height, error) ||
          !get_string (object, "png", TRUE, &place, &png_text, error))
        return FALSE;
      /* ascending, so that a frame given twice is noticed here */
      if (project->keyframes->len > 0)
        {
          Keyframe *last = g_ptr_array_index (project->keyframes, project->keyframes->len - 1);
          if (frame <= last->frame)
            return corrupt (error, &place, "frame", "%d comes after %d; keyframes must be in ascending order, each once",
                            (int) frame, last->frame);
        }

      gsize length = strlen (png_text);
      if (length == 0 || length % 4 != 0 ||
          strspn (png_text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != length)
        return corrupt (error, &place, "png", "not base64");
      gsize png_length = 0;
      g_autofree guint8 *png_data = g_base64_decode (png_text, &png_length);
      g_autoptr (GError) png_error = NULL;
      int png_width = 0, png_height = 0, png_channels = 0;
      g_autofree guint8 *alpha = fa_png_decode (png_data, png_length, "the mask", &png_width, &png_height,
                                                &png_channels, &png_error);
      if (alpha == NULL)
        return corrupt (error, &place, "png", "the mask does not decode: %s", png_error->message);
      if (png_channels != 1)
        return corrupt (error, &place, "png", "the mask has %d channels, not one grey channel", png_channels);
      if (png_width != width || png_height != height)
        return corrupt (error, &place, "png", "the mask is %d×%d, not the %d×%d the keyframe says", png_width,
                        png_height, (int) width, (int) height);

      Keyframe *k = g_new0 (Keyframe, 1);
      k->frame = (int) frame;
      k->width = (int) width;
      k->height = (int) height;
      k->alpha = g_steal_pointer (&alpha);
      k->png_base64 = g_strdup (png_text);
      k->extra = json_object_ref (object);
      g_ptr_array_add (project->keyframes, k);
    }
  return TRUE;
}

static gboolean
load_results (FaProject *project, JsonObject *top, const char *path, GError **error)
{
  const Place top_place = { path, "" };
  JsonArray *results;

  if (!get_array (top, "results", &top_place, &results, error))
    return FALSE;
  for (guint i = 0; results != NULL && i < json_array_get_length (results); i++)
    {
      g_autofree char *where = g_strdup_printf ("results[%u]", i);
      g_autofree char *params_where = g_strdup_printf ("results[%u].params", i);
      const Place place = { path, where }, params_place = { path, params_where };
      JsonNode *node = json_array_get_element (results, i);
      const char *kind = NULL, *output = NULL, *source = "", *target = "";
      gint64 created = 0, range_first = 0;
      JsonObject *params;
      FaEditParams p;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        return wrong_type (error, &place, NULL, "an object", node);
      JsonObject *object = json_node_get_object (node);
      if (!get_string (object, "kind", TRUE, &place, &kind, error) ||
          !get_string (object, "output", TRUE, &place, &output, error) ||
          !get_string (object, "source_prompt", FALSE, &place, &source, error) ||
          !get_string (object, "target_prompt", FALSE, &place, &target, error) ||
          !get_int64 (object, "created", FALSE, G_MININT64, G_MAXINT64, &place, &created, error) ||
          !get_int64 (object, "range_first", FALSE, 0, G_MAXINT32, &place, &range_first, error) ||
          !get_object (object, "params", FALSE, &place, &params, error))
        return FALSE;
      if (strcmp (kind, "preview") != 0 && strcmp (kind, "full") != 0)
        return corrupt (error, &place, "kind", "\"%s\" is neither \"preview\" nor \"full\"", kind);
      if (output[0] == '\0')
        return corrupt (error, &place, "output", "empty");
      if (params != NULL)
        {
          if (!load_params (params, &params_place, &p, error))
            return FALSE;
        }
      else
        fa_edit_params_init (&p);

      ResultEntry *e = g_new0 (ResultEntry, 1);
      e->result.kind = strcmp (kind, "full") == 0 ? FA_PROJECT_RESULT_FULL : FA_PROJECT_RESULT_PREVIEW;
      e->result.output_path = absolute_path (output, path);
      e->result.params = p;
      e->result.source_prompt = g_strdup (source);
      e->result.target_prompt = g_strdup (target);
      e->result.created_unix = created;
      e->result.range_first = (int) range_first;
      e->extra = json_object_ref (object);
      g_ptr_array_add (project->results, e);
    }
  return TRUE;
}

static gboolean
load_view (FaProject *project, JsonObject *top, const char *path, GError **error)
{
  const Place top_place = { path, "" }, place = { path, "view" };
  JsonObject *view;

  if (!get_object (top, "view", FALSE, &top_place, &view, error))
    return FALSE;
  if (view == NULL)
    return TRUE;
  g_autoptr (GList) names = json_object_get_members (view);
  for (GList *l = names; l != NULL; l = l->next)
    {
      const char *name = l->data;
      JsonNode *node = json_object_get_member (view, name);
      GVariant *value;

      if (node_is (node, G_TYPE_BOOLEAN))
        value = g_variant_new_boolean (json_node_get_boolean (node));
      else if (node_is (node, G_TYPE_STRING))
        value = g_variant_new_string (json_node_get_string (node));
      else if (node_is (node, G_TYPE_INT64))
        {
          gint64 i = 0;
          if (!get_int64 (view, name, TRUE, G_MININT32, G_MAXINT32, &place, &i, error))
            return FALSE;
          value = g_variant_new_int32 ((gint32) i);
        }
      else if (node_is (node, G_TYPE_DOUBLE))
        {
          double d = json_node_get_double (node);
          if (!isfinite (d))
            return corrupt (error, &place, name, "%g is not a finite number", d);
          value = g_variant_new_double (d);
        }
      else
        return wrong_type (error, &place, name, "true, false, a number or a string", node);
      g_hash_table_replace (project->view, g_strdup (name), g_variant_ref_sink (value));
    }
  return TRUE;
}

FaProject *
fa_project_load (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  gsize length = 0;
  g_autofree char *text = read_bounded (path, &length, error);
  if (text == NULL)
    return NULL;
  if (length == 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: the file is empty, not a project", path);
      return NULL;
    }

  g_autoptr (GError) local_error = NULL;
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, text, (gssize) length, &local_error))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: not valid JSON (damaged or cut short): %s", path,
                   local_error->message);
      return NULL;
    }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: not a FlowAnchor project (the JSON is %s, not an object)",
                   path, node_kind (root));
      return NULL;
    }
  JsonObject *top = json_node_get_object (root);
  const Place top_place = { path, "" };
  const char *format = NULL;
  if (!get_string (top, "format", TRUE, &top_place, &format, NULL) || strcmp (format, FORMAT_NAME) != 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: not a FlowAnchor project (\"format\" is not \"%s\")",
                   path, FORMAT_NAME);
      return NULL;
    }
  gint64 version = 0;
  if (!get_int64 (top, "version", TRUE, 1, G_MAXINT64, &top_place, &version, error))
    return NULL;
  if (version > FA_PROJECT_VERSION)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "%s: the project has version %" G_GINT64_FORMAT ", made by a newer FlowAnchor; "
                   "this build reads versions up to %d",
                   path, version, FA_PROJECT_VERSION);
      return NULL;
    }

  g_autoptr (FaProject) project = project_new_empty ();
  JsonObject *params;
  const Place params_place = { path, "params" };
  if (!load_clip (project, top, path, error) || !load_working (project, top, path, error) ||
      !load_prompts (project, top, path, error) || !get_object (top, "params", FALSE, &top_place, &params, error))
    return NULL;
  if (params != NULL)
    {
      if (!load_params (params, &params_place, &project->params, error))
        return NULL;
      project->params_extra = json_object_ref (params);
    }
  if (!load_keyframes (project, top, path, error) || !load_results (project, top, path, error) ||
      !load_view (project, top, path, error))
    return NULL;
  project->top = json_object_ref (top);
  return g_steal_pointer (&project);
}

/* ---- saving ---- */

static JsonNode *
object_node (JsonObject *object)
{
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_node_take_object (node, object);
  return node;
}

static char *
project_to_json (FaProject *project, gsize *length, GError **error)
{
  JsonObject *top = object_from (project->top, top_known);

  json_object_set_string_member (top, "format", FORMAT_NAME);
  json_object_set_int_member (top, "version", FA_PROJECT_VERSION);

  JsonObject *clip = object_from (project->clip_extra, clip_known);
  json_object_set_string_member (clip, "path", project->clip_path);
  json_object_set_int_member (clip, "size", project->clip_size);
  json_object_set_string_member (clip, "hash", project->clip_hash);
  json_object_set_object_member (top, "clip", clip);

  g_autofree const char **working_known = g_new0 (const char *, G_N_ELEMENTS (working_fields) + 3);
  for (gsize i = 0; i < G_N_ELEMENTS (working_fields); i++)
    working_known[i] = working_fields[i].name;
  working_known[G_N_ELEMENTS (working_fields)] = "fit";
  working_known[G_N_ELEMENTS (working_fields) + 1] = "range";
  JsonObject *working = object_from (project->working_extra, working_known);
  write_fields (working, working_fields, G_N_ELEMENTS (working_fields), &project->working);
  json_object_set_string_member (working, "fit", project->working.fit == FA_CLIP_FIT_PAD ? "pad" : "crop");
  JsonObject *range = object_from (project->range_extra, range_known);
  json_object_set_int_member (range, "first", project->range_first);
  json_object_set_int_member (range, "count", project->range_count);
  json_object_set_object_member (working, "range", range);
  json_object_set_object_member (top, "working", working);

  JsonObject *prompts = object_from (project->prompts_extra, prompts_known);
  json_object_set_string_member (prompts, "source", project->source_prompt);
  json_object_set_string_member (prompts, "target", project->target_prompt);
  if (project->target_words != NULL)
    {
      JsonArray *words = json_array_new ();
      for (char **w = project->target_words; *w != NULL; w++)
        json_array_add_string_element (words, *w);
      json_object_set_array_member (prompts, "words", words);
    }
  else
    json_object_set_null_member (prompts, "words");
  JsonArray *history = json_array_new ();
  for (guint i = 0; i < project->history_extra->len; i++)
    {
      JsonObject *entry = object_from (g_ptr_array_index (project->history_extra, i), history_known);
      json_object_set_string_member (entry, "source", g_ptr_array_index (project->history_sources, i));
      json_object_set_string_member (entry, "target", g_ptr_array_index (project->history_targets, i));
      json_array_add_object_element (history, entry);
    }
  json_object_set_array_member (prompts, "history", history);
  json_object_set_object_member (top, "prompts", prompts);

  json_object_set_object_member (top, "params", params_to_json (&project->params, project->params_extra));

  JsonArray *keyframes = json_array_new ();
  json_object_set_array_member (top, "keyframes", keyframes);
  for (guint i = 0; i < project->keyframes->len; i++)
    {
      Keyframe *k = g_ptr_array_index (project->keyframes, i);
      if (!keyframe_encode (k, error))
        {
          json_object_unref (top);
          return NULL;
        }
      JsonObject *object = object_from (k->extra, keyframe_known);
      json_object_set_int_member (object, "frame", k->frame);
      json_object_set_int_member (object, "width", k->width);
      json_object_set_int_member (object, "height", k->height);
      json_object_set_string_member (object, "png", k->png_base64);
      json_array_add_object_element (keyframes, object);
    }

  JsonArray *results = json_array_new ();
  for (guint i = 0; i < project->results->len; i++)
    {
      ResultEntry *e = g_ptr_array_index (project->results, i);
      JsonObject *object = object_from (e->extra, result_known);
      JsonObject *params_extra = NULL;
      if (e->extra != NULL && json_object_has_member (e->extra, "params") &&
          JSON_NODE_HOLDS_OBJECT (json_object_get_member (e->extra, "params")))
        params_extra = json_object_get_object_member (e->extra, "params");

      json_object_set_string_member (object, "kind", e->result.kind == FA_PROJECT_RESULT_FULL ? "full" : "preview");
      json_object_set_string_member (object, "output", e->result.output_path);
      json_object_set_string_member (object, "source_prompt", e->result.source_prompt);
      json_object_set_string_member (object, "target_prompt", e->result.target_prompt);
      json_object_set_int_member (object, "created", e->result.created_unix);
      json_object_set_int_member (object, "range_first", e->result.range_first);
      json_object_set_object_member (object, "params", params_to_json (&e->result.params, params_extra));
      json_array_add_object_element (results, object);
    }
  json_object_set_array_member (top, "results", results);

  /* in the order of the keys, so that the same view saves to the same bytes */
  JsonObject *view = json_object_new ();
  g_autoptr (GList) view_keys = g_list_sort (g_hash_table_get_keys (project->view), (GCompareFunc) strcmp);
  for (GList *l = view_keys; l != NULL; l = l->next)
    {
      GVariant *value = g_hash_table_lookup (project->view, l->data);
      if (g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
        json_object_set_boolean_member (view, l->data, g_variant_get_boolean (value));
      else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT32))
        json_object_set_int_member (view, l->data, g_variant_get_int32 (value));
      else if (g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE))
        json_object_set_double_member (view, l->data, g_variant_get_double (value));
      else
        json_object_set_string_member (view, l->data, g_variant_get_string (value, NULL));
    }
  json_object_set_object_member (top, "view", view);

  g_autoptr (JsonNode) root = object_node (top);
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  json_generator_set_pretty (generator, TRUE);
  json_generator_set_indent (generator, 2);
  json_generator_set_root (generator, root);
  return json_generator_to_data (generator, length);
}

gboolean
fa_project_save (FaProject *project, const char *path, GError **error)
{
  g_return_val_if_fail (project != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  gsize length = 0;
  g_autofree char *text = project_to_json (project, &length, error);
  if (text == NULL)
    return FALSE;

  g_autofree char *dir = g_path_get_dirname (path);
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s: the folder %s does not exist", path, dir);
      return FALSE;
    }
  /* hidden, so a file browser does not show it for the moment it lives */
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *tmp_path = g_strdup_printf ("%s%c.%s.tmp-XXXXXX", dir, G_DIR_SEPARATOR, base);
  int fd = g_mkstemp_full (tmp_path, O_RDWR | O_CLOEXEC, 0666);
  if (fd < 0)
    {
      fa_file_set_io_error (error, errno, path, "cannot create a temporary file beside it");
      return FALSE;
    }

  gboolean ok;
  gssize fail_after = save_failure_after;
  if (fail_after >= 0 && (gsize) fail_after < length)
    {
      ok = fa_file_write_all (fd, text, (gsize) fail_after, tmp_path, error);
      if (ok)
        {
          fa_file_set_io_error (error, ENOSPC, tmp_path, "cannot write (failure injected for testing)");
          ok = FALSE;
        }
    }
  else
    ok = fa_file_write_all (fd, text, length, tmp_path, error);
  return fa_file_commit_temp (fd, tmp_path, path, ok, error);
}

void
fa_project_set_save_failure_for_testing (gssize after_bytes)
{
  save_failure_after = after_bytes < 0 ? -1 : after_bytes;
}

/* ---- the clip ---- */

FaProjectClipState
fa_project_check_clip (FaProject *project, GError **error)
{
  g_return_val_if_fail (project != NULL, FA_PROJECT_CLIP_MISSING);
  g_return_val_if_fail (error == NULL || *error == NULL, FA_PROJECT_CLIP_MISSING);

  GStatBuf st;
  if (g_stat (project->clip_path, &st) != 0)
    {
      int saved_errno = errno;
      if (saved_errno == ENOENT || saved_errno == ENOTDIR)
        return FA_PROJECT_CLIP_MISSING;
      fa_file_set_io_error (error, saved_errno, project->clip_path, "cannot look at the clip");
      return FA_PROJECT_CLIP_MISSING;
    }
  if (!S_ISREG (st.st_mode) || (gint64) st.st_size != project->clip_size)
    return FA_PROJECT_CLIP_CHANGED;

  gint64 size = 0;
  g_autofree char *hash = NULL;
  if (!hash_clip (project->clip_path, &size, &hash, error))
    return FA_PROJECT_CLIP_MISSING;
  return size == project->clip_size && strcmp (hash, project->clip_hash) == 0 ? FA_PROJECT_CLIP_OK
                                                                               : FA_PROJECT_CLIP_CHANGED;
}

const char *
fa_project_get_clip_path (FaProject *project)
{
  g_return_val_if_fail (project != NULL, NULL);
  return project->clip_path;
}

gboolean
fa_project_set_clip_path (FaProject *project, const char *clip_path, GError **error)
{
  g_return_val_if_fail (project != NULL, FALSE);
  g_return_val_if_fail (clip_path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_autofree char *absolute = g_canonicalize_filename (clip_path, NULL);
  g_autofree char *hash = NULL;
  gint64 size = 0;
  if (!hash_clip (absolute, &size, &hash, error))
    return FALSE;
  g_free (project->clip_path);
  project->clip_path = g_steal_pointer (&absolute);
  g_free (project->clip_hash);
  project->clip_hash = g_steal_pointer (&hash);
  project->clip_size = size;
  return TRUE;
}

/* ---- settings ---- */

void
fa_project_get_working_options (FaProject *project, FaWorkingClipOptions *options)
{
  g_return_if_fail (project != NULL && options != NULL);
  *options = project->working;
}

void
fa_project_set_working_options (FaProject *project, const FaWorkingClipOptions *options)
{
  g_return_if_fail (project != NULL && options != NULL);
  project->working = *options;
  project->working.progress = NULL;
  project->working.progress_user_data = NULL;
}

void
fa_project_get_range (FaProject *project, int *first, int *count)
{
  g_return_if_fail (project != NULL);
  if (first != NULL)
    *first = project->range_first;
  if (count != NULL)
    *count = project->range_count;
}

/* count 0 takes no first frame: it reads back as 0. */
gboolean
fa_project_set_range (FaProject *project, int first, int count, GError **error)
{
  g_return_val_if_fail (project != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!range_count_valid (count))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "a range of %d frames: a range is 1 + 4k frames from %d to %d (0: the whole clip)", count,
                   MIN_RANGE, MAX_RANGE);
      return FALSE;
    }
  if (first < 0 || first > MAX_RANGE_FIRST)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "a range from frame %d: its first frame must lie in [0, %d]", first, MAX_RANGE_FIRST);
      return FALSE;
    }
  project->range_first = count > 0 ? first : 0;
  project->range_count = count;
  return TRUE;
}

/* Working frame @n's time, @start_ns + n · fps_d / fps_n s, with the
 * offset rounded down to the nanosecond as videorate times its output, so
 * that the range decodes onto the same frame times as the whole clip. A
 * start read from a file may be anything: the sum stops at G_MAXINT64. */
static gint64
frame_time_ns (gint64 start_ns, gint64 n, int fps_n, int fps_d)
{
  guint64 offset = gst_util_uint64_scale ((guint64) n, (guint64) fps_d * GST_SECOND, (guint64) fps_n);

  offset = MIN (offset, (guint64) G_MAXINT64);
  if (start_ns > 0 && offset > (guint64) (G_MAXINT64 - start_ns))
    return G_MAXINT64;
  return start_ns + (gint64) offset;
}

void
fa_project_get_range_options (FaProject *project, FaWorkingClipOptions *options)
{
  g_return_if_fail (project != NULL && options != NULL);

  const FaWorkingClipOptions *w = &project->working;
  *options = *w;
  if (project->range_count == 0 || w->fps_n <= 0 || w->fps_d <= 0)
    return;
  options->start_ns = frame_time_ns (w->start_ns, project->range_first, w->fps_n, w->fps_d);
  options->end_ns = frame_time_ns (w->start_ns, (gint64) project->range_first + project->range_count, w->fps_n,
                                   w->fps_d);
  if (w->end_ns >= 0)
    options->end_ns = MIN (options->end_ns, w->end_ns);
  options->max_frames = project->range_count;
}

void
fa_project_get_params (FaProject *project, FaEditParams *params)
{
  g_return_if_fail (project != NULL && params != NULL);
  *params = project->params;
}

gboolean
fa_project_set_params (FaProject *project, const FaEditParams *params, GError **error)
{
  g_return_val_if_fail (project != NULL && params != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!fa_edit_params_check (params, error))
    return FALSE;
  project->params = *params;
  return TRUE;
}

/* ---- prompts ---- */

const char *
fa_project_get_source_prompt (FaProject *project)
{
  g_return_val_if_fail (project != NULL, NULL);
  return project->source_prompt;
}

const char *
fa_project_get_target_prompt (FaProject *project)
{
  g_return_val_if_fail (project != NULL, NULL);
  return project->target_prompt;
}

const char *const *
fa_project_get_target_words (FaProject *project)
{
  g_return_val_if_fail (project != NULL, NULL);
  return (const char *const *) project->target_words;
}

void
fa_project_set_prompts (FaProject *project, const char *source, const char *target, const char *const *words)
{
  g_return_if_fail (project != NULL);

  if (source == NULL)
    source = "";
  if (target == NULL)
    target = "";
  gboolean previous_empty = project->source_prompt[0] == '\0' && project->target_prompt[0] == '\0';
  if (!previous_empty && (!str_equal0 (source, project->source_prompt) || !str_equal0 (target, project->target_prompt)))
    fa_project_remember_prompts (project);
  fa_project_edit_prompts (project, source, target, words);
}

void
fa_project_remember_prompts (FaProject *project)
{
  g_return_if_fail (project != NULL);

  guint n = project->history_sources->len;
  if (project->source_prompt[0] == '\0' && project->target_prompt[0] == '\0')
    return;
  if (n > 0 && str_equal0 (g_ptr_array_index (project->history_sources, n - 1), project->source_prompt) &&
      str_equal0 (g_ptr_array_index (project->history_targets, n - 1), project->target_prompt))
    return;
  g_ptr_array_add (project->history_sources, g_strdup (project->source_prompt));
  g_ptr_array_add (project->history_targets, g_strdup (project->target_prompt));
  g_ptr_array_add (project->history_extra, NULL);
}

void
fa_project_edit_prompts (FaProject *project, const char *source, const char *target, const char *const *words)
{
  g_return_if_fail (project != NULL);

  if (source == NULL)
    source = "";
  if (target == NULL)
    target = "";
  /* @words may point into the current list */
  char **new_words = words != NULL ? g_strdupv ((char **) words) : NULL;
  g_strfreev (project->target_words);
  project->target_words = new_words;
  char *new_source = g_strdup (source), *new_target = g_strdup (target);
  g_free (project->source_prompt);
  g_free (project->target_prompt);
  project->source_prompt = new_source;
  project->target_prompt = new_target;
}

guint
fa_project_get_prompt_history (FaProject *project, const char *const **sources, const char *const **targets)
{
  g_return_val_if_fail (project != NULL, 0);

  /* a null-terminated GPtrArray may have no pdata while empty */
  static const char *const empty[] = { NULL };
  if (sources != NULL)
    *sources = project->history_sources->pdata != NULL ? (const char *const *) project->history_sources->pdata : empty;
  if (targets != NULL)
    *targets = project->history_targets->pdata != NULL ? (const char *const *) project->history_targets->pdata : empty;
  return project->history_sources->len;
}

/* ---- keyframes ---- */

static Keyframe *
find_keyframe (FaProject *project, int frame)
{
  for (guint i = 0; i < project->keyframes->len; i++)
    {
      Keyframe *k = g_ptr_array_index (project->keyframes, i);
      if (k->frame == frame)
        return k;
    }
  return NULL;
}

gboolean
fa_project_set_keyframes (FaProject *project, const FaMaskSet *masks, GError **error)
{
  g_return_val_if_fail (project != NULL && masks != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  int width = fa_mask_set_get_width (masks), height = fa_mask_set_get_height (masks);
  if (width != project->working.width || height != project->working.height)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "the masks are %d×%d, not the project's working size %d×%d", width, height,
                   project->working.width, project->working.height);
      return FALSE;
    }

  int n_frames = fa_mask_set_get_n_frames (masks);
  g_autofree int *frames = g_new (int, MAX (n_frames, 1));
  int n = fa_mask_set_list_keyframes (masks, frames);
  gsize frame_bytes = (gsize) width * (gsize) height;
  GPtrArray *keyframes = g_ptr_array_new_with_free_func ((GDestroyNotify) keyframe_free);

  for (int i = 0; i < n; i++)
    {
      const guint8 *alpha = fa_mask_set_peek_frame (masks, frames[i]);
      Keyframe *old = find_keyframe (project, frames[i]);
      Keyframe *k = g_new0 (Keyframe, 1);

      k->frame = frames[i];
      k->width = width;
      k->height = height;
      k->alpha = g_memdup2 (alpha, frame_bytes);
      if (old != NULL)
        {
          k->extra = old->extra != NULL ? json_object_ref (old->extra) : NULL;
          if (old->width == width && old->height == height && memcmp (old->alpha, alpha, frame_bytes) == 0)
            k->png_base64 = g_strdup (old->png_base64);
        }
      g_ptr_array_add (keyframes, k);
    }
  g_ptr_array_unref (project->keyframes);
  project->keyframes = keyframes;
  return TRUE;
}

gboolean
fa_project_apply_keyframes (FaProject *project, FaMaskSet *masks, GError **error)
{
  g_return_val_if_fail (project != NULL && masks != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  int n_frames = fa_mask_set_get_n_frames (masks);
  int width = fa_mask_set_get_width (masks), height = fa_mask_set_get_height (masks);

  /* all checked before any is set, so a mismatch leaves @masks as it was */
  for (guint i = 0; i < project->keyframes->len; i++)
    {
      Keyframe *k = g_ptr_array_index (project->keyframes, i);
      if (k->width != width || k->height != height)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                       "the project's keyframe %d is %d×%d, the masks are %d×%d", k->frame, k->width, k->height,
                       width, height);
          return FALSE;
        }
      if (k->frame >= n_frames)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                       "the project has a keyframe on frame %d, the masks have frames 0 to %d", k->frame,
                       n_frames - 1);
          return FALSE;
        }
    }
  for (guint i = 0; i < project->keyframes->len; i++)
    {
      Keyframe *k = g_ptr_array_index (project->keyframes, i);
      if (!fa_mask_set_set_keyframe (masks, k->frame, k->alpha, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
fa_project_apply_range_keyframes (FaProject *project, FaMaskSet *masks, GError **error)
{
  g_return_val_if_fail (project != NULL && masks != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (project->range_count == 0)
    return fa_project_apply_keyframes (project, masks, error);

  int n_frames = fa_mask_set_get_n_frames (masks);
  int width = fa_mask_set_get_width (masks), height = fa_mask_set_get_height (masks);
  int first = project->range_first, end = project->range_first + project->range_count;

  /* all checked before any is set, as in fa_project_apply_keyframes */
  for (guint i = 0; i < project->keyframes->len; i++)
    {
      Keyframe *k = g_ptr_array_index (project->keyframes, i);
      if (k->frame < first || k->frame >= end)
        continue;
      if (k->width != width || k->height != height)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                       "the project's keyframe %d is %d×%d, the masks are %d×%d", k->frame, k->width, k->height,
                       width, height);
          return FALSE;
        }
      if (k->frame - first >= n_frames)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                       "the project has a keyframe on frame %d, frame %d of its range, the masks have frames 0 to %d",
                       k->frame, k->frame - first, n_frames - 1);
          return FALSE;
        }
    }
  for (guint i = 0; i < project->keyframes->len; i++)
    {
      Keyframe *k = g_ptr_array_index (project->keyframes, i);
      if (k->frame >= first && k->frame < end && !fa_mask_set_set_keyframe (masks, k->frame - first, k->alpha, error))
        return FALSE;
    }
  return TRUE;
}

guint
fa_project_get_n_keyframes (FaProject *project)
{
  g_return_val_if_fail (project != NULL, 0);
  return project->keyframes->len;
}

/* ---- view ---- */

void
fa_project_set_view_value (FaProject *project, const char *key, GVariant *value)
{
  g_return_if_fail (project != NULL && key != NULL);
  g_return_if_fail (g_utf8_validate (key, -1, NULL));

  if (value == NULL)
    {
      g_hash_table_remove (project->view, key);
      return;
    }
  g_return_if_fail (g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN) ||
                    g_variant_is_of_type (value, G_VARIANT_TYPE_INT32) ||
                    g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE) ||
                    g_variant_is_of_type (value, G_VARIANT_TYPE_STRING));
  /* JSON has no NaN nor infinity: the file would not load again */
  g_return_if_fail (!g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE) || isfinite (g_variant_get_double (value)));
  g_hash_table_replace (project->view, g_strdup (key), g_variant_ref_sink (value));
}

GVariant *
fa_project_get_view_value (FaProject *project, const char *key, const GVariantType *type)
{
  g_return_val_if_fail (project != NULL && key != NULL && type != NULL, NULL);

  GVariant *value = g_hash_table_lookup (project->view, key);
  if (value == NULL)
    return NULL;
  if (g_variant_is_of_type (value, type))
    return g_variant_ref (value);
  if (g_variant_type_equal (type, G_VARIANT_TYPE_DOUBLE) && g_variant_is_of_type (value, G_VARIANT_TYPE_INT32))
    return g_variant_ref_sink (g_variant_new_double (g_variant_get_int32 (value)));
  return NULL;
}

/* ---- results ---- */

void
fa_project_add_result (FaProject *project, const FaProjectResult *result)
{
  g_return_if_fail (project != NULL && result != NULL);
  g_return_if_fail (result->output_path != NULL && result->output_path[0] != '\0');
  g_return_if_fail (result->kind == FA_PROJECT_RESULT_PREVIEW || result->kind == FA_PROJECT_RESULT_FULL);
  /* a result that could not be read back would make the saved file corrupt */
  g_return_if_fail (fa_edit_params_check (&result->params, NULL));

  ResultEntry *e = g_new0 (ResultEntry, 1);
  e->result.kind = result->kind;
  e->result.output_path = g_canonicalize_filename (result->output_path, NULL);
  e->result.params = result->params;
  e->result.source_prompt = g_strdup (result->source_prompt != NULL ? result->source_prompt : "");
  e->result.target_prompt = g_strdup (result->target_prompt != NULL ? result->target_prompt : "");
  e->result.created_unix = result->created_unix;
  e->result.range_first = MAX (result->range_first, 0);
  g_ptr_array_add (project->results, e);
}

guint
fa_project_get_n_results (FaProject *project)
{
  g_return_val_if_fail (project != NULL, 0);
  return project->results->len;
}

const FaProjectResult *
fa_project_get_result (FaProject *project, guint index)
{
  g_return_val_if_fail (project != NULL, NULL);
  g_return_val_if_fail (index < project->results->len, NULL);
  return &((ResultEntry *) g_ptr_array_index (project->results, index))->result;
}

/* ---- the cache folder ---- */

char *
fa_project_cache_folder (const char *project_path)
{
  g_return_val_if_fail (project_path != NULL, NULL);

  if (g_str_has_suffix (project_path, FA_PROJECT_EXTENSION))
    return g_strconcat (project_path, "-cache", NULL);
  return g_strconcat (project_path, FA_PROJECT_EXTENSION "-cache", NULL);
}
