/* The safetensors reader and writer: round trips for every dtype, metadata,
 * one test per kind of damage a file can have, and the writer's promise
 * never to leave a half-written or temporary file behind.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <unistd.h>
#include <gio/gio.h>

#include "fa-backend.h"
#include "fa-error.h"
#include "fa-safetensors.h"
#include "fa-test-util.h"

#define ST_TEST_DIR_TEMPLATE "fa-safetensors-XXXXXX"
#include "st-test-util.h"

/* Names in @dir that the writer's temporary files would have. */
static guint
count_temp_files (const char *dir_path)
{
  g_autoptr (GDir) dir = g_dir_open (dir_path, 0, NULL);
  const char *name;
  guint n = 0;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    if (strstr (name, ".tmp-") != NULL)
      n++;
  return n;
}

static char *
write_bytes (Fixture *f, const char *name, const void *bytes, gsize size)
{
  char *path = g_build_filename (f->dir, name, NULL);
  GError *error = NULL;

  g_file_set_contents (path, bytes, (gssize) size, &error);
  g_assert_no_error (error);
  return path;
}

/* A file with @header as its JSON, unpadded, and @data_size bytes of data
 * counting up from 0. */
static char *
write_raw (Fixture *f, const char *name, const char *header, gsize data_size)
{
  g_autofree guint8 *data = g_malloc (data_size);

  for (gsize i = 0; i < data_size; i++)
    data[i] = (guint8) i;
  return st_test_write_raw (f->dir, name, header, data, data_size);
}

/* Opening fails as a corrupt file, the message starts with the path and
 * says @fragment. */
static void
assert_open_fails (const char *path, const char *fragment)
{
  GError *error = NULL;
  g_autoptr (FaSafetensors) file = fa_safetensors_open (path, &error);

  g_assert_null (file);
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, fragment);
  if (!g_str_has_prefix (error->message, path))
    g_error ("error message \"%s\" does not start with the path", error->message);
  g_error_free (error);
}

static void
assert_corrupt (Fixture *f, const char *header, gsize data_size, const char *fragment)
{
  g_autofree char *path = write_raw (f, "bad.safetensors", header, data_size);
  assert_open_fails (path, fragment);
}

static FaTensor *
new_patterned (Fixture *f, FaDType dtype, int ndim, const gint64 *shape, guint seed)
{
  g_autoptr (GError) error = NULL;
  FaTensor *t = fa_tensor_new (f->cpu, dtype, ndim, shape, &error);
  guint8 *bytes;

  g_assert_no_error (error);
  bytes = fa_tensor_get_data (t);
  for (gsize i = 0; i < fa_tensor_get_nbytes (t); i++)
    bytes[i] = (guint8) (i * 37u + seed * 11u + 1u);
  return t;
}

static char *
write_tensors (Fixture *f, const char *name, guint n, const char *const *names,
               FaTensor *const *tensors, GHashTable *metadata)
{
  g_autofree char *path = g_build_filename (f->dir, name, NULL);
  g_autoptr (GError) error = NULL;

  g_assert_true (fa_safetensors_write (path, n, names, tensors, metadata, &error));
  g_assert_no_error (error);
  return g_steal_pointer (&path);
}

static void
assert_entry_matches (const FaSafetensorsEntry *entry, const char *name, const FaTensor *t)
{
  g_assert_cmpstr (entry->name, ==, name);
  g_assert_cmpint (entry->dtype, ==, t->dtype);
  g_assert_cmpint (entry->ndim, ==, t->ndim);
  for (int i = 0; i < t->ndim; i++)
    g_assert_cmpint (entry->shape[i], ==, t->shape[i]);
  g_assert_cmpuint (entry->nbytes, ==, fa_tensor_get_nbytes (t));
  if (entry->nbytes > 0)
    g_assert_cmpmem (entry->data, entry->nbytes, fa_tensor_get_data (t), fa_tensor_get_nbytes (t));
}

/* ---- round trips ---- */

static void
test_round_trip (Fixture *f, gconstpointer data)
{
  FaDType dtype = GPOINTER_TO_INT (data);
  g_autoptr (FaTensor) matrix = new_patterned (f, dtype, 2, (gint64[]) { 3, 5 }, 1);
  g_autoptr (FaTensor) vector = new_patterned (f, dtype, 1, (gint64[]) { 7 }, 2);
  g_autoptr (GError) error = NULL;

  /* given out of order: the file holds them sorted */
  const char *names[] = { "z.vector", "a.matrix" };
  FaTensor *tensors[] = { vector, matrix };
  g_autofree char *path = write_tensors (f, "rt.safetensors", 2, names, tensors, NULL);

  FaSafetensors *file = fa_safetensors_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (fa_safetensors_get_path (file), ==, path);
  g_assert_cmpuint (fa_safetensors_get_n_tensors (file), ==, 2);
  const FaSafetensorsEntry *first = fa_safetensors_get_entry (file, 0);
  const FaSafetensorsEntry *second = fa_safetensors_get_entry (file, 1);
  assert_entry_matches (first, "a.matrix", matrix);
  assert_entry_matches (second, "z.vector", vector);
  g_assert_true (fa_safetensors_lookup (file, "z.vector") == second);
  g_assert_null (fa_safetensors_lookup (file, "vector"));
  g_assert_null (fa_safetensors_get_metadata (file, "format"));

  /* contiguous data, the section starting 8-aligned after a padded header */
  g_assert_true ((const guint8 *) second->data == (const guint8 *) first->data + first->nbytes);
  g_autofree char *contents = NULL;
  gsize size;
  g_assert_true (g_file_get_contents (path, &contents, &size, NULL));
  guint64 header_length;
  memcpy (&header_length, contents, 8);
  header_length = GUINT64_FROM_LE (header_length);
  g_assert_cmpuint (header_length % 8, ==, 0);
  g_assert_cmpuint (size, ==, 8 + header_length + first->nbytes + second->nbytes);
  g_autofree char *needle = g_strdup_printf ("\"dtype\":\"%s\"", fa_dtype_get_safetensors_name (dtype));
  g_assert_nonnull (g_strstr_len (contents + 8, (gssize) header_length, needle));

  /* a view shares the mapping and keeps it alive */
  FaTensor *view = fa_safetensors_view_tensor (file, first, &error);
  g_assert_no_error (error);
  g_assert_cmpint (view->dtype, ==, dtype);
  g_assert_cmpint (view->ndim, ==, 2);
  g_assert_cmpint (view->shape[0], ==, 3);
  g_assert_cmpint (view->shape[1], ==, 5);
  g_assert_true (view->device == FA_DEVICE_CPU);
  g_assert_true (fa_tensor_get_data (view) == first->data);
  fa_safetensors_unref (file);
  g_assert_cmpmem (fa_tensor_get_data (view), fa_tensor_get_nbytes (view),
                   fa_tensor_get_data (matrix), fa_tensor_get_nbytes (matrix));

  /* and a view written out again gives the same bytes */
  const char *again_names[] = { "a.matrix" };
  g_autofree char *again = write_tensors (f, "again.safetensors", 1, again_names, &view, NULL);
  fa_tensor_unref (view);
  g_autoptr (FaSafetensors) reopened = fa_safetensors_open (again, &error);
  g_assert_no_error (error);
  assert_entry_matches (fa_safetensors_get_entry (reopened, 0), "a.matrix", matrix);
}

static void
test_round_trip_shapes (Fixture *f, gconstpointer data)
{
  g_autoptr (FaTensor) scalar = new_patterned (f, FA_DTYPE_F32, 0, NULL, 3);
  g_autoptr (FaTensor) empty = new_patterned (f, FA_DTYPE_BF16, 3, (gint64[]) { 4, 0, 2 }, 4);
  g_autoptr (FaTensor) five = new_patterned (f, FA_DTYPE_F16, 5, (gint64[]) { 2, 1, 3, 1, 2 }, 5);
  g_autoptr (GError) error = NULL;
  const char *names[] = { "scalar", "empty", "five" };
  FaTensor *tensors[] = { scalar, empty, five };

  g_autofree char *path = write_tensors (f, "shapes.safetensors", 3, names, tensors, NULL);
  g_autoptr (FaSafetensors) file = fa_safetensors_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fa_safetensors_get_n_tensors (file), ==, 3);
  assert_entry_matches (fa_safetensors_lookup (file, "scalar"), "scalar", scalar);
  assert_entry_matches (fa_safetensors_lookup (file, "empty"), "empty", empty);
  assert_entry_matches (fa_safetensors_lookup (file, "five"), "five", five);
  g_assert_cmpuint (fa_safetensors_lookup (file, "scalar")->nbytes, ==, 4);
  g_assert_cmpuint (fa_safetensors_lookup (file, "empty")->nbytes, ==, 0);

  g_autoptr (FaTensor) view = fa_safetensors_view_tensor (file, fa_safetensors_lookup (file, "empty"), &error);
  g_assert_no_error (error);
  g_assert_cmpint (fa_tensor_get_numel (view), ==, 0);
}

static void
test_round_trip_empty_set (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = write_tensors (f, "none.safetensors", 0, NULL, NULL, NULL);
  g_autoptr (FaSafetensors) file = fa_safetensors_open (path, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (fa_safetensors_get_n_tensors (file), ==, 0);
}

static void
test_metadata (Fixture *f, gconstpointer data)
{
  g_autoptr (FaTensor) t = new_patterned (f, FA_DTYPE_F32, 1, (gint64[]) { 2 }, 6);
  g_autoptr (GHashTable) metadata = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GError) error = NULL;
  const char *names[] = { "t" };

  g_hash_table_insert (metadata, "format", "pt");
  g_hash_table_insert (metadata, "note", "ünïcode, \"quotes\" and\nnewlines");
  g_hash_table_insert (metadata, "empty", "");
  g_autofree char *path = write_tensors (f, "meta.safetensors", 1, names, &t, metadata);

  g_autoptr (FaSafetensors) file = fa_safetensors_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (fa_safetensors_get_metadata (file, "format"), ==, "pt");
  g_assert_cmpstr (fa_safetensors_get_metadata (file, "note"), ==, "ünïcode, \"quotes\" and\nnewlines");
  g_assert_cmpstr (fa_safetensors_get_metadata (file, "empty"), ==, "");
  g_assert_null (fa_safetensors_get_metadata (file, "missing"));
  /* metadata is no tensor */
  g_assert_cmpuint (fa_safetensors_get_n_tensors (file), ==, 1);
  g_assert_null (fa_safetensors_lookup (file, "__metadata__"));
}

/* What other writers do and this one does not: holes, unaligned offsets,
 * an unpadded header, tensors out of offset order. */
static void
test_foreign_layout (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = write_raw (f, "foreign.safetensors",
                                     "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1,9]},"
                                     "\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[12,15]},"
                                     "\"e\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[4,4]},"
                                     "\"__metadata__\":{}}",
                                     20);
  g_autoptr (FaSafetensors) file = fa_safetensors_open (path, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (fa_safetensors_get_n_tensors (file), ==, 3);
  /* header order */
  g_assert_cmpstr (fa_safetensors_get_entry (file, 0)->name, ==, "b");
  g_assert_cmpstr (fa_safetensors_get_entry (file, 1)->name, ==, "a");
  const FaSafetensorsEntry *b = fa_safetensors_lookup (file, "b");
  const FaSafetensorsEntry *a = fa_safetensors_lookup (file, "a");
  g_assert_cmpuint (b->nbytes, ==, 8);
  g_assert_cmpmem (b->data, 8, ((guint8[]) { 1, 2, 3, 4, 5, 6, 7, 8 }), 8);
  g_assert_cmpmem (a->data, 3, ((guint8[]) { 12, 13, 14 }), 3);
  g_assert_true ((const guint8 *) a->data - (const guint8 *) b->data == 11);
  g_assert_null (fa_safetensors_get_metadata (file, "format"));
}

/* ---- damage, one kind per test ---- */

static void
test_corrupt_truncated (Fixture *f, gconstpointer data)
{
  g_autoptr (FaTensor) t = new_patterned (f, FA_DTYPE_F32, 1, (gint64[]) { 4 }, 7);
  g_autoptr (GError) error = NULL;
  const char *names[] = { "weight" };
  g_autofree char *path = write_tensors (f, "cut.safetensors", 1, names, &t, NULL);
  g_autofree char *contents = NULL;
  gsize size;

  /* whole, it opens */
  g_autoptr (FaSafetensors) whole = fa_safetensors_open (path, &error);
  g_assert_no_error (error);
  g_clear_pointer (&whole, fa_safetensors_unref);

  g_assert_true (g_file_get_contents (path, &contents, &size, NULL));
  /* one byte short is enough */
  g_assert_true (g_file_set_contents (path, contents, (gssize) size - 1, NULL));
  assert_open_fails (path, "tensor 'weight' data_offsets [0, 16] lie outside the 15-byte data section");
}

static void
test_corrupt_header_longer_than_file (Fixture *f, gconstpointer data)
{
  guint8 bytes[100] = { 0 };
  guint64 length = GUINT64_TO_LE (4096);

  memcpy (bytes, &length, 8);
  g_autofree char *path = write_bytes (f, "long.safetensors", bytes, sizeof bytes);
  assert_open_fails (path, "header length 4096 is larger than the file (100 bytes)");
}

static void
test_corrupt_header_length_absurd (Fixture *f, gconstpointer data)
{
  /* would wrap to a small number if added to the 8 before comparing */
  guint8 bytes[16] = { 0xf9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}' };
  g_autofree char *path = write_bytes (f, "absurd.safetensors", bytes, sizeof bytes);

  assert_open_fails (path, "header length 18446744073709551609 is larger than the file (16 bytes)");

  /* within the file, but no model has a 100 MB header; the file is sparse,
   * so this costs no disk */
  g_autofree char *big = g_build_filename (f->dir, "big.safetensors", NULL);
  guint64 length = GUINT64_TO_LE (100000001);
  int fd = g_open (big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, &length, 8), ==, 8);
  g_assert_cmpint (ftruncate (fd, 200000000), ==, 0);
  g_assert_cmpint (close (fd), ==, 0);
  assert_open_fails (big, "header length 100000001 exceeds the 100000000-byte limit");
}

static void
test_corrupt_header_length_zero (Fixture *f, gconstpointer data)
{
  guint8 bytes[12] = { 0 };
  g_autofree char *path = write_bytes (f, "zero.safetensors", bytes, sizeof bytes);

  assert_open_fails (path, "header length is 0");
}

static void
test_corrupt_short_file (Fixture *f, gconstpointer data)
{
  g_autofree char *path = write_bytes (f, "short.safetensors", "\x02\0\0\0\0", 5);
  g_autofree char *empty = write_bytes (f, "empty.safetensors", "", 0);

  assert_open_fails (path, "file is 5 bytes, too short for the 8-byte header length");
  assert_open_fails (empty, "file is 0 bytes");
}

static void
test_corrupt_offsets_out_of_range (Fixture *f, gconstpointer data)
{
  assert_corrupt (f, "{\"x\":{\"dtype\":\"F32\",\"shape\":[200],\"data_offsets\":[0,800]}}", 640,
                  "tensor 'x' data_offsets [0, 800] lie outside the 640-byte data section");
}

static void
test_corrupt_offsets_reversed (Fixture *f, gconstpointer data)
{
  assert_corrupt (f, "{\"x\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,4]}}", 16,
                  "tensor 'x' data_offsets [8, 4] begin after they end");
}

static void
test_corrupt_offsets_not_integers (Fixture *f, gconstpointer data)
{
  assert_corrupt (f, "{\"x\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[-4,0]}}", 16,
                  "tensor 'x' has data_offsets that are not two non-negative integers");
  assert_corrupt (f, "{\"x\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4,8]}}", 16,
                  "tensor 'x' has no data_offsets pair (data_offsets is an array)");
}

static void
test_corrupt_overlap (Fixture *f, gconstpointer data)
{
  assert_corrupt (f,
                  "{\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]},"
                  "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                  32, "tensors 'a' and 'b' overlap");
  /* inside a larger one that is not the first by offset */
  assert_corrupt (f,
                  "{\"first\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
                  "\"big\":{\"dtype\":\"U8\",\"shape\":[56],\"data_offsets\":[8,64]},"
                  "\"last\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[64,72]},"
                  "\"small\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[16,24]}}",
                  72, "tensors 'big' and 'small' overlap");
}

static void
test_overlap_empty_allowed (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = write_raw (f, "ok.safetensors",
                                     "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
                                     "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[4,4]}}",
                                     8);
  g_autoptr (FaSafetensors) file = fa_safetensors_open (path, &error);

  /* an empty tensor occupies no bytes, so it cannot collide */
  g_assert_no_error (error);
  g_assert_cmpuint (fa_safetensors_get_n_tensors (file), ==, 2);
}

static void
test_corrupt_bad_json (Fixture *f, gconstpointer data)
{
  assert_corrupt (f, "{\"x\": {\"dtype\": \"F32\",", 0, "header is not valid JSON: ");
  /* json-glib would take a second value, and leak it */
  assert_corrupt (f, "{\"x\": 1} trailing", 0, "header is not valid JSON: more after the object ends at byte 9");
  assert_corrupt (f, "{} {}", 0, "header is not valid JSON: more after the object ends at byte 3");
  /* json-glib takes these; JSON does not */
  assert_corrupt (f, "{'x': {}}", 0, "header is not valid JSON: unexpected ''' at byte 1");
  assert_corrupt (f, "{/* c */}", 0, "header is not valid JSON: unexpected '/' at byte 1");
}

static void
test_corrupt_deep_json (Fixture *f, gconstpointer data)
{
  /* deep enough to overflow a recursive parser's stack */
  gsize depth = 200000;
  g_autoptr (GString) header = g_string_new ("{\"x\":");

  for (gsize i = 0; i < depth; i++)
    g_string_append_c (header, '[');
  for (gsize i = 0; i < depth; i++)
    g_string_append_c (header, ']');
  g_string_append_c (header, '}');
  assert_corrupt (f, header->str, 0, "header is not valid JSON: nested more than 32 levels deep");

  /* brackets inside strings are text, not nesting */
  g_string_assign (header, "{\"__metadata__\":{\"a\":\"");
  for (gsize i = 0; i < 100; i++)
    g_string_append (header, "[{\\\"");
  g_string_append (header, "\"}}");
  g_autofree char *path = write_raw (f, "brackets.safetensors", header->str, 0);
  g_autoptr (GError) error = NULL;
  g_autoptr (FaSafetensors) file = fa_safetensors_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (fa_safetensors_get_metadata (file, "a")), ==, 300);
}

static void
test_corrupt_not_utf8 (Fixture *f, gconstpointer data)
{
  static const char nul_header[] = "{\"x\":\0{}}";
  guint8 bytes[8 + sizeof nul_header - 1];
  guint64 length = GUINT64_TO_LE (sizeof nul_header - 1);

  memcpy (bytes, &length, 8);
  memcpy (bytes + 8, nul_header, sizeof nul_header - 1);
  g_autofree char *path = write_bytes (f, "nul.safetensors", bytes, sizeof bytes);
  assert_open_fails (path, "header is not valid UTF-8");
  assert_corrupt (f, "{\"\xff\":{}}", 0, "header is not valid UTF-8");
}

static void
test_corrupt_not_object (Fixture *f, gconstpointer data)
{
  assert_corrupt (f, "[1, 2]", 0, "header is not a JSON object");
  assert_corrupt (f, " 8", 0, "header is not a JSON object");
  assert_corrupt (f, "   ", 0, "header is empty");
  assert_corrupt (f, "{\"x\": 3}", 0, "tensor 'x' is an integer, not an object");
}

static void
test_corrupt_unknown_dtype (Fixture *f, gconstpointer data)
{
  assert_corrupt (f, "{\"blocks.0.q.weight\":{\"dtype\":\"F7\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                  "tensor 'blocks.0.q.weight' has unknown dtype 'F7'");
  /* the names are case-sensitive, as in the format */
  assert_corrupt (f, "{\"x\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                  "tensor 'x' has unknown dtype 'f32'");
}

static void
test_corrupt_missing_fields (Fixture *f, gconstpointer data)
{
  assert_corrupt (f, "{\"x\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                  "tensor 'x' has no dtype string (dtype is missing)");
  assert_corrupt (f, "{\"x\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                  "tensor 'x' has no dtype string (dtype is an integer)");
  assert_corrupt (f, "{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4,
                  "tensor 'x' has no shape array (shape is missing)");
  assert_corrupt (f, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4,
                  "tensor 'x' has no data_offsets pair (data_offsets is missing)");
}

static void
test_corrupt_size_mismatch (Fixture *f, gconstpointer data)
{
  assert_corrupt (f, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,4],\"data_offsets\":[0,24]}}", 24,
                  "tensor 'x' holds 24 bytes but dtype F32 × shape [2, 4] needs 32");
}

static void
test_corrupt_shape_overflow (Fixture *f, gconstpointer data)
{
  /* 2^62 × 8 elements, or 2^62 × 4 bytes each: both wrap 64 bits */
  assert_corrupt (f, "{\"x\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,8],\"data_offsets\":[0,0]}}",
                  0, "tensor 'x' shape [4611686018427387904, 8] is too large");
  assert_corrupt (f, "{\"x\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}",
                  0, "tensor 'x' shape [4611686018427387904] is too large");
}

static void
test_corrupt_too_many_dims (Fixture *f, gconstpointer data)
{
  assert_corrupt (f, "{\"x\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
                  "tensor 'x' has 6 dimensions; at most 5 supported");
}

static void
test_corrupt_negative_dim (Fixture *f, gconstpointer data)
{
  assert_corrupt (f, "{\"x\":{\"dtype\":\"U8\",\"shape\":[2,-2],\"data_offsets\":[0,4]}}", 4,
                  "tensor 'x' has negative size -2 in dimension 1");
}

static void
test_corrupt_fractional_dim (Fixture *f, gconstpointer data)
{
  assert_corrupt (f, "{\"x\":{\"dtype\":\"U8\",\"shape\":[2.5],\"data_offsets\":[0,2]}}", 2,
                  "tensor 'x' has a fractional number in dimension 0 of its shape");
  assert_corrupt (f, "{\"x\":{\"dtype\":\"U8\",\"shape\":[\"2\"],\"data_offsets\":[0,2]}}", 2,
                  "tensor 'x' has a string in dimension 0 of its shape");
}

static void
test_corrupt_metadata (Fixture *f, gconstpointer data)
{
  assert_corrupt (f, "{\"__metadata__\":{\"format\":\"pt\",\"epoch\":3}}", 0,
                  "__metadata__ value for 'epoch' is an integer, not a string");
  assert_corrupt (f, "{\"__metadata__\":[\"pt\"]}", 0,
                  "__metadata__ is an array, not an object of strings");
}

static void
test_open_missing (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->dir, "nothing-here.safetensors", NULL);
  GError *error = NULL;

  g_assert_null (fa_safetensors_open (path, &error));
  fa_test_assert_error_message (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, path);
  g_clear_error (&error);

  g_assert_null (fa_safetensors_open (f->dir, &error));
  fa_test_assert_error_message (error, G_IO_ERROR, G_IO_ERROR_IS_DIRECTORY, "is a directory");
  g_assert_true (g_str_has_prefix (error->message, f->dir));
  g_clear_error (&error);
}

/* ---- the writer ---- */

static void
test_write_missing_dir (Fixture *f, gconstpointer data)
{
  g_autoptr (FaTensor) t = new_patterned (f, FA_DTYPE_F32, 1, (gint64[]) { 2 }, 8);
  g_autofree char *path = g_build_filename (f->dir, "no-such-dir", "x.safetensors", NULL);
  const char *names[] = { "t" };
  GError *error = NULL;

  g_assert_false (fa_safetensors_write (path, 1, names, &t, NULL, &error));
  fa_test_assert_error_message (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, path);
  g_clear_error (&error);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
}

static void
test_write_replaces (Fixture *f, gconstpointer data)
{
  g_autoptr (FaTensor) old_t = new_patterned (f, FA_DTYPE_F32, 1, (gint64[]) { 4 }, 9);
  g_autoptr (FaTensor) new_t = new_patterned (f, FA_DTYPE_BF16, 2, (gint64[]) { 2, 3 }, 10);
  g_autoptr (GError) error = NULL;
  const char *old_names[] = { "old" };
  const char *new_names[] = { "new" };

  g_autofree char *path = write_tensors (f, "model.safetensors", 1, old_names, &old_t, NULL);
  g_autoptr (FaSafetensors) old_file = fa_safetensors_open (path, &error);
  g_assert_no_error (error);

  g_autofree char *same = write_tensors (f, "model.safetensors", 1, new_names, &new_t, NULL);
  g_assert_cmpstr (same, ==, path);
  g_autoptr (FaSafetensors) new_file = fa_safetensors_open (path, &error);
  g_assert_no_error (error);
  g_assert_null (fa_safetensors_lookup (new_file, "old"));
  assert_entry_matches (fa_safetensors_lookup (new_file, "new"), "new", new_t);

  /* the file was replaced, not rewritten in place: the old mapping still
   * reads the old bytes */
  assert_entry_matches (fa_safetensors_lookup (old_file, "old"), "old", old_t);
  g_assert_cmpuint (count_temp_files (f->dir), ==, 0);
}

static void
test_write_failure_cleans_up (Fixture *f, gconstpointer data)
{
  g_autoptr (FaTensor) t = new_patterned (f, FA_DTYPE_F32, 1, (gint64[]) { 4 }, 11);
  g_autofree char *path = g_build_filename (f->dir, "taken", NULL);
  const char *names[] = { "t" };
  GError *error = NULL;

  /* the temporary file is written in full, then the rename onto a
   * directory fails: the temporary file must go */
  g_assert_cmpint (g_mkdir (path, 0755), ==, 0);
  g_assert_false (fa_safetensors_write (path, 1, names, &t, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_IS_DIRECTORY);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);
  g_assert_cmpuint (count_temp_files (f->dir), ==, 0);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_DIR));
}

static void
test_write_bad_input (Fixture *f, gconstpointer data)
{
  g_autoptr (FaTensor) t = new_patterned (f, FA_DTYPE_F32, 2, (gint64[]) { 4, 6 }, 12);
  g_autoptr (GError) narrow_error = NULL;
  g_autoptr (FaTensor) strided = fa_tensor_narrow (t, 1, 1, 3, &narrow_error);
  g_autofree char *path = g_build_filename (f->dir, "bad.safetensors", NULL);
  GError *error = NULL;

  g_assert_no_error (narrow_error);
  g_assert_false (fa_tensor_is_contiguous (strided));
  g_assert_false (fa_safetensors_write (path, 1, (const char *[]) { "s" }, &strided, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_SHAPE, "tensor 's' is not contiguous");
  g_clear_error (&error);

  g_assert_false (fa_safetensors_write (path, 2, (const char *[]) { "t", "t" },
                                        (FaTensor *[]) { t, t }, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "'t' is given twice");
  g_clear_error (&error);

  g_assert_false (fa_safetensors_write (path, 1, (const char *[]) { "__metadata__" }, &t, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "'__metadata__' cannot name");
  g_clear_error (&error);

  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (count_temp_files (f->dir), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (int dtype = 0; dtype < FA_DTYPE_COUNT; dtype++)
    {
      g_autofree char *name = g_strdup_printf ("/safetensors/round-trip/%s",
                                               fa_dtype_get_name ((FaDType) dtype));
      g_test_add (name, Fixture, GINT_TO_POINTER (dtype), fixture_set_up, test_round_trip,
                  fixture_tear_down);
    }
  ADD ("/safetensors/round-trip/shapes", test_round_trip_shapes);
  ADD ("/safetensors/round-trip/empty-set", test_round_trip_empty_set);
  ADD ("/safetensors/metadata", test_metadata);
  ADD ("/safetensors/foreign-layout", test_foreign_layout);
  ADD ("/safetensors/overlap-empty-allowed", test_overlap_empty_allowed);

  ADD ("/safetensors/corrupt/truncated", test_corrupt_truncated);
  ADD ("/safetensors/corrupt/header-longer-than-file", test_corrupt_header_longer_than_file);
  ADD ("/safetensors/corrupt/header-length-absurd", test_corrupt_header_length_absurd);
  ADD ("/safetensors/corrupt/header-length-zero", test_corrupt_header_length_zero);
  ADD ("/safetensors/corrupt/short-file", test_corrupt_short_file);
  ADD ("/safetensors/corrupt/offsets-out-of-range", test_corrupt_offsets_out_of_range);
  ADD ("/safetensors/corrupt/offsets-reversed", test_corrupt_offsets_reversed);
  ADD ("/safetensors/corrupt/offsets-not-integers", test_corrupt_offsets_not_integers);
  ADD ("/safetensors/corrupt/overlap", test_corrupt_overlap);
  ADD ("/safetensors/corrupt/bad-json", test_corrupt_bad_json);
  ADD ("/safetensors/corrupt/deep-json", test_corrupt_deep_json);
  ADD ("/safetensors/corrupt/not-utf8", test_corrupt_not_utf8);
  ADD ("/safetensors/corrupt/not-object", test_corrupt_not_object);
  ADD ("/safetensors/corrupt/unknown-dtype", test_corrupt_unknown_dtype);
  ADD ("/safetensors/corrupt/missing-fields", test_corrupt_missing_fields);
  ADD ("/safetensors/corrupt/size-mismatch", test_corrupt_size_mismatch);
  ADD ("/safetensors/corrupt/shape-overflow", test_corrupt_shape_overflow);
  ADD ("/safetensors/corrupt/too-many-dims", test_corrupt_too_many_dims);
  ADD ("/safetensors/corrupt/negative-dim", test_corrupt_negative_dim);
  ADD ("/safetensors/corrupt/fractional-dim", test_corrupt_fractional_dim);
  ADD ("/safetensors/corrupt/metadata", test_corrupt_metadata);
  ADD ("/safetensors/open-missing", test_open_missing);

  ADD ("/safetensors/write/missing-dir", test_write_missing_dir);
  ADD ("/safetensors/write/replaces", test_write_replaces);
  ADD ("/safetensors/write/failure-cleans-up", test_write_failure_cleans_up);
  ADD ("/safetensors/write/bad-input", test_write_bad_input);

  return g_test_run ();
}
