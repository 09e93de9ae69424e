/* fa-safetensors.h: the safetensors format, read through mmap and written
 * atomically.
 *
 * Opening checks the whole header before anything is used: the header length
 * lies within the file, the JSON is well formed, every dtype is known, every
 * shape and offset pair is sane, the offsets lie within the data and do not
 * overlap, and each byte size equals dtype size × element count. A bad file
 * gives a GError (FA_ERROR_CORRUPT_FILE) naming the file and the first problem.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "fa-tensor.h"

G_BEGIN_DECLS

typedef struct {
  const char *name;
  FaDType dtype;
  int ndim;
  gint64 shape[FA_MAX_DIMS];
  gconstpointer data; /* inside the mapping; valid while the file is open */
  gsize nbytes;
} FaSafetensorsEntry;

typedef struct _FaSafetensors FaSafetensors;

FaSafetensors *fa_safetensors_open (const char *path, GError **error);
FaSafetensors *fa_safetensors_ref (FaSafetensors *file);
void           fa_safetensors_unref (FaSafetensors *file);

const char    *fa_safetensors_get_path (FaSafetensors *file);
/* Entries in header order. */
guint          fa_safetensors_get_n_tensors (FaSafetensors *file);
const FaSafetensorsEntry *fa_safetensors_get_entry (FaSafetensors *file, guint index);
const FaSafetensorsEntry *fa_safetensors_lookup (FaSafetensors *file, const char *name);
/* The "__metadata__" strings; NULL when absent. */
const char    *fa_safetensors_get_metadata (FaSafetensors *file, const char *key);

/* Host tensor viewing the mapped bytes (no copy); it keeps the file open.
 * The bytes are read-only and, since safetensors offsets are arbitrary, may
 * be misaligned for the dtype: a view is for copying and converting (as
 * fa_weights_load does), not for kernels. */
FaTensor      *fa_safetensors_view_tensor (FaSafetensors *file, const FaSafetensorsEntry *entry,
                                           GError **error);

/* Writes @n_tensors host tensors (contiguous; device tensors are copied down)
 * under @names, with optional string @metadata. Written to a temporary file,
 * fsynced, then renamed over @path: a failure never leaves a half file. */
gboolean       fa_safetensors_write (const char *path, guint n_tensors, const char *const *names,
                                     FaTensor *const *tensors, GHashTable *metadata,
                                     GError **error);

/*< private >*/
/* For fa-weights.c, whose index files need the same care: parses @length
 * bytes of JSON that must be one object, after the checks json-glib lacks
 * (UTF-8 without NULs, strict lexing, bounded nesting). Errors are
 * FA_ERROR_CORRUPT_FILE, begin with @path and name @what ("header",
 * "index"). Returns a JsonNode (owned), as a gpointer so that this header
 * does not pull in json-glib. */
gpointer       _fa_safetensors_parse_json (const char *path, const char *what, const char *text,
                                           gsize length, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaSafetensors, fa_safetensors_unref)

G_END_DECLS
