/* Checkpoints as sets of tensors: a single file, a sharded set through its
 * index, a diffusers component folder, and conversion on load.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gstdio.h>
#include <gio/gio.h>

#include "fa-backend.h"
#include "fa-error.h"
#include "fa-half.h"
#include "fa-weights.h"
#include "fa-test-util.h"

#define ST_TEST_DIR_TEMPLATE "fa-weights-XXXXXX"
#include "st-test-util.h"

static char *
make_subdir (Fixture *f, const char *name)
{
  char *path = g_build_filename (f->dir, name, NULL);

  g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
  return path;
}

static void
write_text (const char *dir, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  GError *error = NULL;

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

/* Writes f32 tensors of the given lengths, each filled with its index + 1. */
static void
write_f32_file (Fixture *f, const char *dir, const char *file_name, guint n,
                const char *const *names, const gint64 *lengths)
{
  g_autoptr (GPtrArray) tensors = g_ptr_array_new_with_free_func ((GDestroyNotify) fa_tensor_unref);
  g_autofree char *path = g_build_filename (dir, file_name, NULL);
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < n; i++)
    {
      FaTensor *t = fa_tensor_new (f->cpu, FA_DTYPE_F32, 1, &lengths[i], &error);
      g_assert_no_error (error);
      for (gint64 j = 0; j < lengths[i]; j++)
        ((float *) fa_tensor_get_data (t))[j] = (float) (i + 1);
      g_ptr_array_add (tensors, t);
    }
  g_assert_true (fa_safetensors_write (path, n, names, (FaTensor *const *) tensors->pdata, NULL, &error));
  g_assert_no_error (error);
}

static float
load_first_f32 (FaWeights *weights, FaBackend *cpu, const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTensor) t = fa_weights_load (weights, name, cpu, FA_DTYPE_F32, &error);

  g_assert_no_error (error);
  return ((const float *) fa_tensor_get_data (t))[0];
}

/* ---- layouts ---- */

static void
test_single_file (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  write_f32_file (f, f->dir, "model.safetensors", 3, (const char *[]) { "c", "a", "b" },
                  (gint64[]) { 4, 2, 3 });
  g_autofree char *path = g_build_filename (f->dir, "model.safetensors", NULL);
  g_autoptr (FaWeights) weights = fa_weights_open (path, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (fa_weights_get_path (weights), ==, path);
  g_assert_cmpuint (fa_weights_get_n_files (weights), ==, 1);
  g_assert_cmpstr (fa_weights_get_file_path (weights, 0), ==, path);
  g_assert_cmpuint (fa_weights_get_n_tensors (weights), ==, 3);
  g_assert_cmpstr (fa_weights_get_entry (weights, 0)->name, ==, "a");
  g_assert_cmpstr (fa_weights_get_entry (weights, 1)->name, ==, "b");
  g_assert_cmpstr (fa_weights_get_entry (weights, 2)->name, ==, "c");
  g_assert_cmpuint (fa_weights_get_n_parameters (weights), ==, 9);
  g_assert_cmpint (fa_weights_lookup (weights, "c")->shape[0], ==, 4);
  g_assert_null (fa_weights_lookup (weights, "d"));
  g_assert_cmpfloat (load_first_f32 (weights, f->cpu, "c"), ==, 1.0f);
  g_assert_cmpfloat (load_first_f32 (weights, f->cpu, "a"), ==, 2.0f);
}

/* Two shards and their index as transformers writes them; shard 2 also
 * holds a tensor the map does not name, which the set leaves out. */
static char *
write_sharded (Fixture *f, const char *dir, const char *index_name)
{
  write_f32_file (f, dir, "model-00001-of-00002.safetensors", 2,
                  (const char *[]) { "blocks.0.weight", "blocks.0.bias" }, (gint64[]) { 6, 2 });
  write_f32_file (f, dir, "model-00002-of-00002.safetensors", 2,
                  (const char *[]) { "blocks.1.weight", "unlisted" }, (gint64[]) { 5, 7 });
  write_text (dir, index_name,
              "{\"metadata\": {\"total_size\": 52},\n"
              " \"weight_map\": {\n"
              "  \"blocks.1.weight\": \"model-00002-of-00002.safetensors\",\n"
              "  \"blocks.0.weight\": \"model-00001-of-00002.safetensors\",\n"
              "  \"blocks.0.bias\": \"model-00001-of-00002.safetensors\"\n"
              " }}\n");
  return g_build_filename (dir, index_name, NULL);
}

static void
assert_sharded_set (FaWeights *weights, FaBackend *cpu, const char *dir)
{
  g_autofree char *shard1 = g_build_filename (dir, "model-00001-of-00002.safetensors", NULL);
  g_autofree char *shard2 = g_build_filename (dir, "model-00002-of-00002.safetensors", NULL);

  g_assert_cmpuint (fa_weights_get_n_files (weights), ==, 2);
  g_assert_cmpstr (fa_weights_get_file_path (weights, 0), ==, shard1);
  g_assert_cmpstr (fa_weights_get_file_path (weights, 1), ==, shard2);
  g_assert_cmpuint (fa_weights_get_n_tensors (weights), ==, 3);
  g_assert_cmpstr (fa_weights_get_entry (weights, 0)->name, ==, "blocks.0.bias");
  g_assert_cmpstr (fa_weights_get_entry (weights, 1)->name, ==, "blocks.0.weight");
  g_assert_cmpstr (fa_weights_get_entry (weights, 2)->name, ==, "blocks.1.weight");
  g_assert_null (fa_weights_lookup (weights, "unlisted"));
  g_assert_cmpuint (fa_weights_get_n_parameters (weights), ==, 13);
  g_assert_cmpfloat (load_first_f32 (weights, cpu, "blocks.0.weight"), ==, 1.0f);
  g_assert_cmpfloat (load_first_f32 (weights, cpu, "blocks.0.bias"), ==, 2.0f);
  g_assert_cmpfloat (load_first_f32 (weights, cpu, "blocks.1.weight"), ==, 1.0f);
}

static void
test_sharded_index (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *index = write_sharded (f, f->dir, "model.safetensors.index.json");
  g_autoptr (FaWeights) weights = fa_weights_open (index, &error);

  g_assert_no_error (error);
  assert_sharded_set (weights, f->cpu, f->dir);
}

static void
test_sharded_missing_shard (Fixture *f, gconstpointer data)
{
  g_autofree char *index = write_sharded (f, f->dir, "model.safetensors.index.json");
  g_autofree char *shard2 = g_build_filename (f->dir, "model-00002-of-00002.safetensors", NULL);
  GError *error = NULL;

  g_assert_cmpint (g_unlink (shard2), ==, 0);
  g_assert_null (fa_weights_open (index, &error));
  fa_test_assert_error_message (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, shard2);
  g_assert_true (g_str_has_prefix (error->message, index));
  g_error_free (error);
}

static void
test_sharded_name_not_in_shard (Fixture *f, gconstpointer data)
{
  g_autofree char *index = write_sharded (f, f->dir, "model.safetensors.index.json");
  GError *error = NULL;

  /* blocks.0.bias really lives in shard 1 */
  write_text (f->dir, "model.safetensors.index.json",
              "{\"weight_map\": {\"blocks.0.weight\": \"model-00001-of-00002.safetensors\","
              " \"blocks.0.bias\": \"model-00002-of-00002.safetensors\"}}");
  g_assert_null (fa_weights_open (index, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                                "tensor 'blocks.0.bias' is mapped to model-00002-of-00002.safetensors, "
                                "which does not hold it");
  g_error_free (error);
}

static void
test_sharded_bad_index (Fixture *f, gconstpointer data)
{
  g_autofree char *index = write_sharded (f, f->dir, "model.safetensors.index.json");
  GError *error = NULL;

  write_text (f->dir, "model.safetensors.index.json", "{\"metadata\": {}}");
  g_assert_null (fa_weights_open (index, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "no \"weight_map\" object");
  g_clear_error (&error);

  write_text (f->dir, "model.safetensors.index.json", "{\"weight_map\": {\"a\": 3}}");
  g_assert_null (fa_weights_open (index, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                                "weight_map entry for 'a' is not a file name");
  g_clear_error (&error);

  write_text (f->dir, "model.safetensors.index.json", "{\"weight_map\": {");
  g_assert_null (fa_weights_open (index, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "index is not valid JSON");
  g_assert_true (g_str_has_prefix (error->message, index));
  g_clear_error (&error);
}

static void
test_diffusers_folder (Fixture *f, gconstpointer data)
{
  g_autofree char *component = make_subdir (f, "Wan2.1-T2V-1.3B-Diffusers/transformer");
  g_autoptr (GError) error = NULL;

  write_text (component, "config.json", "{\"_class_name\": \"WanTransformer3DModel\"}");
  g_autofree char *index = write_sharded (f, component,
                                          "diffusion_pytorch_model.safetensors.index.json");
  g_autoptr (FaWeights) weights = fa_weights_open (component, &error);

  g_assert_no_error (error);
  g_assert_true (g_file_test (index, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpstr (fa_weights_get_path (weights), ==, component);
  assert_sharded_set (weights, f->cpu, component);
}

static void
test_folder_single_file (Fixture *f, gconstpointer data)
{
  g_autofree char *component = make_subdir (f, "vae");
  g_autoptr (GError) error = NULL;

  write_text (component, "config.json", "{}");
  write_f32_file (f, component, "diffusion_pytorch_model.safetensors", 2,
                  (const char *[]) { "decoder.conv_in.weight", "decoder.conv_in.bias" },
                  (gint64[]) { 8, 4 });
  g_autoptr (FaWeights) weights = fa_weights_open (component, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (fa_weights_get_n_files (weights), ==, 1);
  g_assert_cmpuint (fa_weights_get_n_tensors (weights), ==, 2);
  g_assert_cmpstr (fa_weights_get_entry (weights, 0)->name, ==, "decoder.conv_in.bias");
  g_assert_cmpuint (fa_weights_get_n_parameters (weights), ==, 12);
}

static void
test_folder_several_files (Fixture *f, gconstpointer data)
{
  g_autofree char *component = make_subdir (f, "text_encoder");
  g_autoptr (GError) error = NULL;

  write_f32_file (f, component, "b.safetensors", 1, (const char *[]) { "y" }, (gint64[]) { 3 });
  write_f32_file (f, component, "a.safetensors", 2, (const char *[]) { "z", "x" }, (gint64[]) { 1, 2 });
  g_autoptr (FaWeights) weights = fa_weights_open (component, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (fa_weights_get_n_files (weights), ==, 2);
  g_assert_true (g_str_has_suffix (fa_weights_get_file_path (weights, 0), "a.safetensors"));
  g_assert_cmpuint (fa_weights_get_n_tensors (weights), ==, 3);
  g_assert_cmpstr (fa_weights_get_entry (weights, 0)->name, ==, "x");
  g_assert_cmpstr (fa_weights_get_entry (weights, 1)->name, ==, "y");
  g_assert_cmpstr (fa_weights_get_entry (weights, 2)->name, ==, "z");
  g_clear_pointer (&weights, fa_weights_unref);

  /* the same name twice is a conflict, not a choice */
  write_f32_file (f, component, "c.safetensors", 1, (const char *[]) { "y" }, (gint64[]) { 3 });
  GError *conflict = NULL;
  g_assert_null (fa_weights_open (component, &conflict));
  fa_test_assert_error_message (conflict, FA_ERROR, FA_ERROR_CORRUPT_FILE, "tensor 'y' is in both ");
  g_assert_nonnull (strstr (conflict->message, "b.safetensors"));
  g_assert_nonnull (strstr (conflict->message, "c.safetensors"));
  g_error_free (conflict);
}

static void
test_folder_empty (Fixture *f, gconstpointer data)
{
  g_autofree char *component = make_subdir (f, "scheduler");
  GError *error = NULL;

  g_assert_null (fa_weights_open (component, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_NOT_FOUND, "no .safetensors files in ");
  g_assert_nonnull (strstr (error->message, component));
  g_clear_error (&error);

  /* a config alone is still nothing to load */
  write_text (component, "scheduler_config.json", "{}");
  g_assert_null (fa_weights_open (component, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_NOT_FOUND, "no .safetensors files in ");
  g_clear_error (&error);
}

static void
test_open_missing (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->dir, "absent.safetensors", NULL);
  GError *error = NULL;

  g_assert_null (fa_weights_open (path, &error));
  fa_test_assert_error_message (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, path);
  g_clear_error (&error);
}

/* ---- conversion on load ---- */

/* One tensor of @dtype holding @bytes, placed at an odd offset so that the
 * data is misaligned for every multi-byte dtype, as other writers allow. */
static FaWeights *
open_one (Fixture *f, FaDType dtype, const void *bytes, gsize n_elements)
{
  gsize size = n_elements * fa_dtype_size (dtype);
  g_autofree guint8 *data = g_malloc0 (size + 1);
  g_autoptr (GString) header = g_string_new (NULL);
  g_autoptr (GError) error = NULL;

  g_string_printf (header, "{\"t\":{\"dtype\":\"%s\",\"shape\":[%" G_GSIZE_FORMAT "],"
                   "\"data_offsets\":[1,%" G_GSIZE_FORMAT "]}}",
                   fa_dtype_get_safetensors_name (dtype), n_elements, size + 1);
  /* the data section starts aligned, the tensor one byte in */
  while (header->len % 8 != 0)
    g_string_append_c (header, ' ');
  memcpy (data + 1, bytes, size);
  g_autofree char *path = st_test_write_raw (f->dir, "one.safetensors", header->str, data, size + 1);
  FaWeights *weights = fa_weights_open (path, &error);
  g_assert_no_error (error);
  const FaSafetensorsEntry *entry = fa_weights_lookup (weights, "t");
  if (fa_dtype_size (dtype) > 1)
    g_assert_cmpuint ((guintptr) entry->data % fa_dtype_size (dtype), !=, 0);
  return weights;
}

static FaTensor *
load (FaWeights *weights, FaBackend *backend, FaDType dtype)
{
  g_autoptr (GError) error = NULL;
  FaTensor *t = fa_weights_load (weights, "t", backend, dtype, &error);

  g_assert_no_error (error);
  g_assert_cmpint (t->dtype, ==, dtype);
  g_assert_true (fa_tensor_get_backend (t) == backend);
  return t;
}

/* Bit patterns across the range: normals, subnormals, ±0, ±inf. */
static void
fill_half_patterns (guint16 *h, gsize n)
{
  static const guint16 specials[] = { 0x0000, 0x8000, 0x0001, 0x03ff, 0x3c00, 0xbc00, 0x7bff, 0x7c00, 0xfc00 };

  for (gsize i = 0; i < n; i++)
    h[i] = i < G_N_ELEMENTS (specials) ? specials[i] : (guint16) (i * 7919u);
}

static gboolean
is_nan_half (guint16 h, gboolean bf16)
{
  return bf16 ? (h & 0x7fff) > 0x7f80 : (h & 0x7fff) > 0x7c00;
}

static void
test_load_bf16_to_f32 (Fixture *f, gconstpointer data)
{
  guint16 h[1000];
  fill_half_patterns (h, G_N_ELEMENTS (h));
  g_autoptr (FaWeights) weights = open_one (f, FA_DTYPE_BF16, h, G_N_ELEMENTS (h));
  g_autoptr (FaTensor) t = load (weights, f->cpu, FA_DTYPE_F32);
  const float *y = fa_tensor_get_data (t);

  g_assert_cmpint (fa_tensor_get_numel (t), ==, G_N_ELEMENTS (h));
  for (gsize i = 0; i < G_N_ELEMENTS (h); i++)
    {
      if (is_nan_half (h[i], TRUE))
        g_assert_true (isnan (y[i]));
      else
        /* exact: bf16 is the top half of an f32 */
        g_assert_cmphex (fa_f32_bits (y[i]), ==, (guint32) h[i] << 16);
    }
}

static void
test_load_f16_to_f32 (Fixture *f, gconstpointer data)
{
  guint16 h[1000];
  fill_half_patterns (h, G_N_ELEMENTS (h));
  g_autoptr (FaWeights) weights = open_one (f, FA_DTYPE_F16, h, G_N_ELEMENTS (h));
  g_autoptr (FaTensor) t = load (weights, f->cpu, FA_DTYPE_F32);
  const float *y = fa_tensor_get_data (t);

  g_assert_cmpfloat (y[2], ==, ldexpf (1.0f, -24));
  g_assert_cmpfloat (y[4], ==, 1.0f);
  g_assert_cmpfloat (y[6], ==, 65504.0f);
  g_assert_true (isinf (y[7]) && y[7] > 0);
  for (gsize i = 0; i < G_N_ELEMENTS (h); i++)
    {
      if (is_nan_half (h[i], FALSE))
        g_assert_true (isnan (y[i]));
      else
        {
          /* exact, so converting back gives the same bits */
          g_assert_cmpfloat (y[i], ==, fa_f16_to_f32 (h[i]));
          g_assert_cmphex (fa_f32_to_f16 (y[i]), ==, h[i]);
        }
    }
}

static void
test_load_f32_to_bf16 (Fixture *f, gconstpointer data)
{
  float x[512];

  fa_test_fill_uniform (x, G_N_ELEMENTS (x), 42, -3.0f, 3.0f);
  /* ties: exactly halfway between two bf16 values, both parities */
  x[0] = fa_f32_from_bits (0x3f808000u); /* 1.00390625: rounds down to even 0x3f80 */
  x[1] = fa_f32_from_bits (0x3f818000u); /* rounds up to even 0x3f82 */
  x[2] = fa_f32_from_bits (0x3f80c000u); /* above the tie: rounds up */
  x[3] = 1e-40f;                         /* subnormal */
  x[4] = -0.0f;
  g_autoptr (FaWeights) weights = open_one (f, FA_DTYPE_F32, x, G_N_ELEMENTS (x));
  g_autoptr (FaTensor) t = load (weights, f->cpu, FA_DTYPE_BF16);
  const guint16 *y = fa_tensor_get_data (t);

  g_assert_cmphex (y[0], ==, 0x3f80);
  g_assert_cmphex (y[1], ==, 0x3f82);
  g_assert_cmphex (y[2], ==, 0x3f81);
  g_assert_cmphex (y[4], ==, 0x8000);
  for (gsize i = 0; i < G_N_ELEMENTS (x); i++)
    g_assert_cmphex (y[i], ==, fa_f32_to_bf16 (x[i]));
}

static void
test_load_f8_e4m3 (Fixture *f, gconstpointer data)
{
  static const guint8 bytes[] = { 0x38, 0x7e, 0x01, 0xb8, 0x00, 0x80, 0x08, 0x3c, 0x7f };
  static const float expected[] = { 1.0f, 448.0f, 0x1p-9f, -1.0f, 0.0f, -0.0f, 0x1p-6f, 1.5f, NAN };
  g_autoptr (FaWeights) weights = open_one (f, FA_DTYPE_F8_E4M3, bytes, G_N_ELEMENTS (bytes));
  g_autoptr (FaTensor) as_f32 = load (weights, f->cpu, FA_DTYPE_F32);
  g_autoptr (FaTensor) as_bf16 = load (weights, f->cpu, FA_DTYPE_BF16);
  const float *y = fa_tensor_get_data (as_f32);
  const guint16 *z = fa_tensor_get_data (as_bf16);

  for (gsize i = 0; i < G_N_ELEMENTS (bytes); i++)
    {
      if (isnan (expected[i]))
        {
          g_assert_true (isnan (y[i]));
          g_assert_true (is_nan_half (z[i], TRUE));
          continue;
        }
      g_assert_cmphex (fa_f32_bits (y[i]), ==, fa_f32_bits (expected[i]));
      /* every e4m3 value fits bf16 exactly */
      g_assert_cmphex (z[i], ==, fa_f32_bits (expected[i]) >> 16);
    }
}

static void
test_load_same_dtype (Fixture *f, gconstpointer data)
{
  gint64 ids[5] = { 0, 1, -7, G_GINT64_CONSTANT (1) << 40, 151643 };
  g_autoptr (FaWeights) weights = open_one (f, FA_DTYPE_I64, ids, G_N_ELEMENTS (ids));
  g_autoptr (FaTensor) same = load (weights, f->cpu, FA_DTYPE_I64);
  g_autoptr (FaTensor) narrowed = load (weights, f->cpu, FA_DTYPE_I32);
  const gint32 *n = fa_tensor_get_data (narrowed);

  g_assert_cmpmem (fa_tensor_get_data (same), sizeof ids, ids, sizeof ids);
  g_assert_cmpint (n[0], ==, 0);
  g_assert_cmpint (n[2], ==, -7);
  g_assert_cmpint (n[4], ==, 151643);
}

static void
test_load_rejected (Fixture *f, gconstpointer data)
{
  gint64 ids[2] = { 1, 2 };
  float x[2] = { 1.0f, 2.0f };
  g_autoptr (FaWeights) ints = open_one (f, FA_DTYPE_I64, ids, 2);
  GError *error = NULL;

  g_assert_null (fa_weights_load (ints, "t", f->cpu, FA_DTYPE_F32, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_DTYPE,
                                "tensor 't' is stored as i64 and cannot be loaded as f32");
  g_clear_error (&error);
  g_assert_null (fa_weights_load (ints, "t", f->cpu, FA_DTYPE_U8, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_DTYPE, "stored as i64 and cannot be loaded as u8");
  g_clear_error (&error);

  g_autoptr (FaWeights) floats = open_one (f, FA_DTYPE_F32, x, 2);
  g_assert_null (fa_weights_load (floats, "t", f->cpu, FA_DTYPE_I32, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_DTYPE, "stored as f32 and cannot be loaded as i32");
  g_clear_error (&error);

  g_assert_null (fa_weights_load (floats, "missing.weight", f->cpu, FA_DTYPE_F32, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_NOT_FOUND, "tensor 'missing.weight' is not in ");
  g_assert_nonnull (strstr (error->message, fa_weights_get_path (floats)));
  g_clear_error (&error);
}

static void
test_load_outlives_set (Fixture *f, gconstpointer data)
{
  guint16 h[64];
  fill_half_patterns (h, G_N_ELEMENTS (h));
  FaWeights *weights = open_one (f, FA_DTYPE_BF16, h, G_N_ELEMENTS (h));
  g_autoptr (FaTensor) same = load (weights, f->cpu, FA_DTYPE_BF16);
  g_autoptr (FaTensor) empty = NULL;

  /* what a load returns is a copy, not a view of the mapping */
  fa_weights_unref (weights);
  g_assert_cmpmem (fa_tensor_get_data (same), sizeof h, h, sizeof h);

  g_autofree char *path = st_test_write_raw (f->dir, "empty.safetensors",
                                             "{\"t\":{\"dtype\":\"BF16\",\"shape\":[0,4],\"data_offsets\":[0,0]}}",
                                             "", 0);
  g_autoptr (GError) error = NULL;
  g_autoptr (FaWeights) empty_set = fa_weights_open (path, &error);
  g_assert_no_error (error);
  empty = load (empty_set, f->cpu, FA_DTYPE_F32);
  g_assert_cmpint (empty->ndim, ==, 2);
  g_assert_cmpint (fa_tensor_get_numel (empty), ==, 0);
}

/* The upload path, where a CUDA device exists. */
static void
test_load_to_cuda (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaBackend) cuda = fa_backend_new_cuda (0, &error);

  if (cuda == NULL)
    {
      g_test_skip (error->message);
      return;
    }

  guint16 h[3001];
  fill_half_patterns (h, G_N_ELEMENTS (h));
  for (gsize i = 0; i < G_N_ELEMENTS (h); i++)
    if (is_nan_half (h[i], TRUE))
      h[i] = 0x3f80;
  g_autoptr (FaWeights) weights = open_one (f, FA_DTYPE_BF16, h, G_N_ELEMENTS (h));

  for (int k = 0; k < 2; k++)
    {
      FaDType dtype = k == 0 ? FA_DTYPE_BF16 : FA_DTYPE_F32;
      g_autoptr (FaTensor) on_device = load (weights, cuda, dtype);
      g_assert_true (on_device->device == FA_DEVICE_CUDA);
      g_autoptr (FaTensor) back = fa_tensor_to (on_device, f->cpu, FA_DTYPE_F32, &error);
      g_assert_no_error (error);
      const float *y = fa_tensor_get_data (back);
      for (gsize i = 0; i < G_N_ELEMENTS (h); i++)
        g_assert_cmphex (fa_f32_bits (y[i]), ==, (guint32) h[i] << 16);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  ADD ("/weights/single-file", test_single_file);
  ADD ("/weights/sharded/index", test_sharded_index);
  ADD ("/weights/sharded/missing-shard", test_sharded_missing_shard);
  ADD ("/weights/sharded/name-not-in-shard", test_sharded_name_not_in_shard);
  ADD ("/weights/sharded/bad-index", test_sharded_bad_index);
  ADD ("/weights/folder/diffusers", test_diffusers_folder);
  ADD ("/weights/folder/single-file", test_folder_single_file);
  ADD ("/weights/folder/several-files", test_folder_several_files);
  ADD ("/weights/folder/empty", test_folder_empty);
  ADD ("/weights/open-missing", test_open_missing);

  ADD ("/weights/load/bf16-to-f32", test_load_bf16_to_f32);
  ADD ("/weights/load/f16-to-f32", test_load_f16_to_f32);
  ADD ("/weights/load/f32-to-bf16", test_load_f32_to_bf16);
  ADD ("/weights/load/f8-e4m3", test_load_f8_e4m3);
  ADD ("/weights/load/same-dtype", test_load_same_dtype);
  ADD ("/weights/load/rejected", test_load_rejected);
  ADD ("/weights/load/outlives-set", test_load_outlives_set);
  ADD ("/weights/load/cuda", test_load_to_cuda);

  return g_test_run ();
}
