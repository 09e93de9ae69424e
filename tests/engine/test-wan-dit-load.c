/* The Wan DiT loader: the tiny model of tests/data in its three layouts
 * (sharded diffusers folder, original names in fp32, ComfyUI names in
 * bf16) gives the same tensors; bad checkpoints fail before anything is
 * converted, naming the tensor; configurations come from config.json or
 * the shapes; fp8 weights with per-tensor scales dequantize; random
 * weights have the configured shapes.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gstdio.h>
#include <math.h>

#include "fa-error.h"
#include "fa-half.h"
#include "fa-test-util.h"
#include "fa-wan-dit-private.h"

#define TINY_TENSORS 69
#define TINY_PARAMETERS 145024

static char *data_dir;     /* tests/data */
static char *tiny_dir;     /* tests/data/wan-tiny/transformer */
static char *tiny_config;  /* its config.json */
static char *tiny_index;
static char *original_path;
static char *comfy_path;

/* ---- fixture: a temporary folder and a CPU backend ---- */

typedef struct {
  char *dir;
  FaBackend *cpu;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  GError *error = NULL;

  f->dir = g_dir_make_tmp ("fa-wan-dit-XXXXXX", &error);
  g_assert_no_error (error);
  f->cpu = fa_backend_new_cpu ();
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  fa_test_remove_tree (f->dir);
  g_free (f->dir);
  fa_backend_unref (f->cpu);
}

#define ADD(name, func) g_test_add (name, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

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

static void
copy_file (const char *from, const char *dir, const char *name)
{
  g_autofree char *text = NULL;
  gsize length = 0;
  GError *error = NULL;

  g_file_get_contents (from, &text, &length, &error);
  g_assert_no_error (error);
  g_autofree char *to = g_build_filename (dir, name, NULL);
  g_file_set_contents (to, text, (gssize) length, &error);
  g_assert_no_error (error);
}

/* ---- sets of host tensors, to write variants of the tiny model ---- */

typedef struct {
  GPtrArray *names;   /* char*, owned */
  GPtrArray *tensors; /* FaTensor*, owned */
} TensorSet;

static TensorSet *
tensor_set_new (void)
{
  TensorSet *set = g_new0 (TensorSet, 1);

  set->names = g_ptr_array_new_with_free_func (g_free);
  set->tensors = g_ptr_array_new_with_free_func ((GDestroyNotify) fa_tensor_unref);
  return set;
}

static void
tensor_set_free (TensorSet *set)
{
  g_ptr_array_unref (set->names);
  g_ptr_array_unref (set->tensors);
  g_free (set);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TensorSet, tensor_set_free)

/* Takes @tensor. */
static void
tensor_set_add (TensorSet *set, const char *name, FaTensor *tensor)
{
  g_ptr_array_add (set->names, g_strdup (name));
  g_ptr_array_add (set->tensors, tensor);
}

static guint
tensor_set_find (TensorSet *set, const char *name)
{
  for (guint i = 0; i < set->names->len; i++)
    if (g_str_equal (set->names->pdata[i], name))
      return i;
  g_error ("no tensor '%s' in the set", name);
  return 0;
}

static void
tensor_set_remove (TensorSet *set, const char *name)
{
  guint i = tensor_set_find (set, name);

  g_ptr_array_remove_index (set->names, i);
  g_ptr_array_remove_index (set->tensors, i);
}

/* Takes @tensor. */
static void
tensor_set_replace (TensorSet *set, const char *name, FaTensor *tensor)
{
  guint i = tensor_set_find (set, name);

  fa_tensor_unref (set->tensors->pdata[i]);
  set->tensors->pdata[i] = tensor;
}

static void
tensor_set_rename (TensorSet *set, const char *name, const char *new_name)
{
  guint i = tensor_set_find (set, name);

  g_free (set->names->pdata[i]);
  set->names->pdata[i] = g_strdup (new_name);
}

static FaTensor *
tensor_set_get (TensorSet *set, const char *name)
{
  return set->tensors->pdata[tensor_set_find (set, name)];
}

/* Every tensor of @path, as stored. */
static TensorSet *
tensor_set_read (const char *path, FaBackend *cpu)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaWeights) weights = fa_weights_open (path, &error);
  g_assert_no_error (error);

  TensorSet *set = tensor_set_new ();
  for (guint i = 0; i < fa_weights_get_n_tensors (weights); i++)
    {
      const FaSafetensorsEntry *entry = fa_weights_get_entry (weights, i);
      FaTensor *tensor = fa_weights_load (weights, entry->name, cpu, entry->dtype, &error);
      g_assert_no_error (error);
      tensor_set_add (set, entry->name, tensor);
    }
  return set;
}

static char *
tensor_set_write (TensorSet *set, const char *dir, const char *file_name)
{
  char *path = g_build_filename (dir, file_name, NULL);
  g_autoptr (GError) error = NULL;

  fa_safetensors_write (path, set->names->len, (const char *const *) set->names->pdata,
                        (FaTensor *const *) set->tensors->pdata, NULL, &error);
  g_assert_no_error (error);
  return path;
}

static FaTensor *
new_tensor (FaBackend *cpu, FaDType dtype, int ndim, const gint64 *shape)
{
  g_autoptr (GError) error = NULL;
  FaTensor *tensor = fa_tensor_new (cpu, dtype, ndim, shape, &error);

  g_assert_no_error (error);
  if (fa_tensor_get_nbytes (tensor) > 0) /* an empty tensor has no data pointer */
    memset (fa_tensor_get_data (tensor), 0, fa_tensor_get_nbytes (tensor));
  return tensor;
}

static FaTensor *
new_f32_filled (FaBackend *cpu, int ndim, const gint64 *shape, float value)
{
  FaTensor *tensor = new_tensor (cpu, FA_DTYPE_F32, ndim, shape);
  float *data = fa_tensor_get_data (tensor);

  for (gint64 i = 0; i < fa_tensor_get_numel (tensor); i++)
    data[i] = value;
  return tensor;
}

/* ---- checks ---- */

static void
tiny_config_init (FaWanDitConfig *config)
{
  *config = (FaWanDitConfig) {
    .num_layers = 2,
    .num_heads = 2,
    .head_dim = 32,
    .dim = 64,
    .ffn_dim = 64,
    .in_channels = 16,
    .out_channels = 16,
    .text_dim = 32,
    .freq_dim = 256,
    .patch = { 1, 2, 2 },
    .eps = 1e-6f,
  };
}

static void
assert_config_equal (const FaWanDitConfig *a, const FaWanDitConfig *b)
{
  g_assert_cmpint (a->num_layers, ==, b->num_layers);
  g_assert_cmpint (a->num_heads, ==, b->num_heads);
  g_assert_cmpint (a->head_dim, ==, b->head_dim);
  g_assert_cmpint (a->dim, ==, b->dim);
  g_assert_cmpint (a->ffn_dim, ==, b->ffn_dim);
  g_assert_cmpint (a->in_channels, ==, b->in_channels);
  g_assert_cmpint (a->out_channels, ==, b->out_channels);
  g_assert_cmpint (a->text_dim, ==, b->text_dim);
  g_assert_cmpint (a->freq_dim, ==, b->freq_dim);
  for (int i = 0; i < 3; i++)
    g_assert_cmpint (a->patch[i], ==, b->patch[i]);
  g_assert_cmpfloat (a->eps, ==, b->eps);
  g_assert_true (_fa_wan_dit_config_equal (a, b));
}

/* The model holds exactly the expected tensors, in the expected shapes
 * (the patch embedding flattened) and dtypes. */
static void
assert_model_shapes (FaWanDit *dit)
{
  const FaWanDitConfig *config = fa_wan_dit_get_config (dit);
  g_autoptr (GPtrArray) specs = _fa_wan_dit_expected_tensors (config);
  gboolean cuda = fa_backend_get_device (fa_wan_dit_get_backend (dit)) == FA_DEVICE_CUDA;

  g_assert_cmpuint (g_hash_table_size (dit->weights), ==, specs->len);
  for (guint i = 0; i < specs->len; i++)
    {
      const FaWanDitTensorSpec *spec = specs->pdata[i];
      FaTensor *tensor = fa_wan_dit_get_weight (dit, spec->name);
      if (tensor == NULL)
        g_error ("no weight '%s'", spec->name);
      g_assert_cmpint (tensor->dtype, ==,
                       cuda && spec->kind == FA_WAN_DIT_TENSOR_MATRIX ? FA_DTYPE_BF16 : FA_DTYPE_F32);
      g_assert_true (fa_tensor_is_contiguous (tensor));
      if (spec->ndim == 5)
        {
          g_assert_cmpint (tensor->ndim, ==, 2);
          g_assert_cmpint (tensor->shape[0], ==, spec->shape[0]);
          g_assert_cmpint (tensor->shape[1], ==,
                           spec->shape[1] * spec->shape[2] * spec->shape[3] * spec->shape[4]);
        }
      else
        {
          g_assert_cmpint (tensor->ndim, ==, spec->ndim);
          for (int d = 0; d < spec->ndim; d++)
            g_assert_cmpint (tensor->shape[d], ==, spec->shape[d]);
        }
    }
}

static FaTensor *
host_copy (FaTensor *tensor, FaBackend *cpu, FaDType dtype)
{
  g_autoptr (GError) error = NULL;
  FaTensor *host = fa_tensor_to (tensor, cpu, dtype, &error);

  g_assert_no_error (error);
  return host;
}

typedef enum {
  SAME_BITS,
  ROUNDED_TO_BF16, /* b holds a's values rounded to bf16 */
} Comparison;

/* Every tensor of @b against @a's, element by element. */
static void
assert_same_weights (FaWanDit *a, FaWanDit *b, Comparison comparison, FaBackend *cpu)
{
  g_autoptr (GPtrArray) specs = _fa_wan_dit_expected_tensors (fa_wan_dit_get_config (a));

  g_assert_cmpuint (g_hash_table_size (b->weights), ==, specs->len);
  for (guint i = 0; i < specs->len; i++)
    {
      const FaWanDitTensorSpec *spec = specs->pdata[i];
      g_autoptr (FaTensor) ta = host_copy (fa_wan_dit_get_weight (a, spec->name), cpu, FA_DTYPE_F32);
      g_autoptr (FaTensor) tb = host_copy (fa_wan_dit_get_weight (b, spec->name), cpu, FA_DTYPE_F32);
      g_assert_true (fa_tensor_same_shape (ta, tb));
      const float *x = fa_tensor_get_data (ta), *y = fa_tensor_get_data (tb);
      for (gint64 j = 0; j < fa_tensor_get_numel (ta); j++)
        {
          float want = comparison == ROUNDED_TO_BF16 ? fa_bf16_to_f32 (fa_f32_to_bf16 (x[j])) : x[j];
          if (fa_f32_bits (want) != fa_f32_bits (y[j]))
            g_error ("'%s'[%" G_GINT64_FORMAT "]: %.9g, expected %.9g", spec->name, j, (double) y[j],
                     (double) want);
        }
    }
}

static FaWanDit *
load_ok (const char *path, FaBackend *backend)
{
  g_autoptr (GError) error = NULL;
  FaWanDit *dit = fa_wan_dit_load (path, backend, &error);

  g_assert_no_error (error);
  g_assert_nonnull (dit);
  return dit;
}

static FaWanDit *
load_weights_ok (const char *path, const char *config_json, FaBackend *backend)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaWeights) weights = fa_weights_open (path, &error);
  g_assert_no_error (error);
  FaWanDit *dit = fa_wan_dit_load_weights (weights, config_json, backend, &error);
  g_assert_no_error (error);
  g_assert_nonnull (dit);
  return dit;
}

/* fa_wan_dit_load of @path fails with @code and a message holding every
 * fragment. */
#define assert_load_fails(path, cpu, code, ...)                                           \
  G_STMT_START {                                                                          \
    g_autoptr (GError) error_ = NULL;                                                     \
    g_autoptr (FaWanDit) dit_ = fa_wan_dit_load ((path), (cpu), &error_);                 \
    g_assert_null (dit_);                                                                 \
    g_assert_nonnull (error_);                                                            \
    g_test_message ("%s", error_->message);                                               \
    const char *fragments_[] = { __VA_ARGS__ };                                           \
    for (guint k_ = 0; k_ < G_N_ELEMENTS (fragments_); k_++)                              \
      fa_test_assert_error_message (error_, FA_ERROR, (code), fragments_[k_]);            \
  } G_STMT_END

/* A folder @name holding @set as model.safetensors and, when
 * @with_config, the tiny model's config.json. */
static char *
write_model_folder (Fixture *f, const char *name, TensorSet *set, gboolean with_config)
{
  char *dir = make_subdir (f, name);

  g_free (tensor_set_write (set, dir, "model.safetensors"));
  if (with_config)
    copy_file (tiny_config, dir, "config.json");
  return dir;
}

/* ---- the three layouts of the tiny model ---- */

static void
test_load_folder (Fixture *f, gconstpointer data)
{
  g_autoptr (FaWanDit) dit = load_ok (tiny_dir, f->cpu);
  FaWanDitConfig expected;

  tiny_config_init (&expected);
  assert_config_equal (fa_wan_dit_get_config (dit), &expected);
  g_assert_true (fa_wan_dit_get_backend (dit) == f->cpu);
  assert_model_shapes (dit);
  g_assert_cmpuint (g_hash_table_size (dit->weights), ==, TINY_TENSORS);
  g_assert_null (fa_wan_dit_get_weight (dit, "blocks.0.norm3.weight"));
  g_assert_null (fa_wan_dit_get_weight (dit, "blocks.0.self_attn.q.weight"));

  g_autoptr (GPtrArray) specs = _fa_wan_dit_expected_tensors (&expected);
  guint64 parameters = 0;
  for (guint i = 0; i < specs->len; i++)
    parameters += _fa_wan_dit_tensor_numel (specs->pdata[i]);
  g_assert_cmpuint (parameters, ==, TINY_PARAMETERS);

  /* the values are the file's, the patch embedding only flattened */
  g_autoptr (TensorSet) set = tensor_set_read (tiny_dir, f->cpu);
  for (guint i = 0; i < set->names->len; i++)
    {
      FaTensor *stored = set->tensors->pdata[i];
      FaTensor *loaded = fa_wan_dit_get_weight (dit, set->names->pdata[i]);
      g_assert_nonnull (loaded);
      g_assert_cmpint (fa_tensor_get_numel (loaded), ==, fa_tensor_get_numel (stored));
      g_assert_cmpmem (fa_tensor_get_data (loaded), fa_tensor_get_nbytes (loaded),
                       fa_tensor_get_data (stored), fa_tensor_get_nbytes (stored));
    }
}

static void
test_load_index_and_pipeline (Fixture *f, gconstpointer data)
{
  g_autoptr (FaWanDit) folder = load_ok (tiny_dir, f->cpu);
  g_autoptr (FaWanDit) index = load_ok (tiny_index, f->cpu);
  g_autofree char *pipeline_dir = g_build_filename (data_dir, "wan-tiny", NULL);
  g_autoptr (FaWanDit) pipeline = load_ok (pipeline_dir, f->cpu);
  g_autoptr (FaWanDit) explicit_config = load_weights_ok (tiny_dir, tiny_config, f->cpu);

  assert_config_equal (fa_wan_dit_get_config (index), fa_wan_dit_get_config (folder));
  assert_same_weights (folder, index, SAME_BITS, f->cpu);
  assert_same_weights (folder, pipeline, SAME_BITS, f->cpu);
  assert_same_weights (folder, explicit_config, SAME_BITS, f->cpu);
}

static void
test_load_original (Fixture *f, gconstpointer data)
{
  g_autoptr (FaWanDit) folder = load_ok (tiny_dir, f->cpu);
  g_autoptr (FaWanDit) original = load_weights_ok (original_path, tiny_config, f->cpu);

  assert_config_equal (fa_wan_dit_get_config (original), fa_wan_dit_get_config (folder));
  assert_model_shapes (original);

  g_autoptr (GError) error = NULL;
  g_autoptr (FaWeights) weights = fa_weights_open (original_path, &error);
  g_assert_no_error (error);
  FaWanDitConfig resolved;
  g_assert_true (_fa_wan_dit_resolve_config (weights, tiny_config, &resolved, &error));
  g_assert_no_error (error);
  assert_config_equal (&resolved, fa_wan_dit_get_config (folder));
  assert_same_weights (folder, original, SAME_BITS, f->cpu);
}

static void
test_load_comfy_bf16 (Fixture *f, gconstpointer data)
{
  g_autoptr (FaWanDit) folder = load_ok (tiny_dir, f->cpu);
  g_autoptr (FaWanDit) comfy = load_weights_ok (comfy_path, tiny_config, f->cpu);

  assert_config_equal (fa_wan_dit_get_config (comfy), fa_wan_dit_get_config (folder));
  assert_model_shapes (comfy);
  assert_same_weights (folder, comfy, ROUNDED_TO_BF16, f->cpu);
}

/* On CUDA matrices are bf16 and the rest f32. */
static void
test_load_cuda (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaBackend) cuda = fa_backend_new_cuda (0, &error);

  if (cuda == NULL)
    {
      g_test_skip (error->message);
      return;
    }
  g_autoptr (FaWanDit) folder = load_ok (tiny_dir, f->cpu);
  g_autoptr (FaWanDit) on_device = load_ok (tiny_dir, cuda);
  assert_model_shapes (on_device);

  g_autoptr (GPtrArray) specs = _fa_wan_dit_expected_tensors (fa_wan_dit_get_config (folder));
  for (guint i = 0; i < specs->len; i++)
    {
      const FaWanDitTensorSpec *spec = specs->pdata[i];
      FaTensor *device = fa_wan_dit_get_weight (on_device, spec->name);
      g_autoptr (FaTensor) host = host_copy (device, f->cpu, device->dtype);
      const float *ref = fa_tensor_get_data (fa_wan_dit_get_weight (folder, spec->name));
      for (gint64 j = 0; j < fa_tensor_get_numel (host); j++)
        if (device->dtype == FA_DTYPE_BF16)
          g_assert_cmphex (((const guint16 *) fa_tensor_get_data (host))[j], ==, fa_f32_to_bf16 (ref[j]));
        else
          g_assert_cmphex (fa_f32_bits (((const float *) fa_tensor_get_data (host))[j]), ==,
                           fa_f32_bits (ref[j]));
    }
}

/* ---- names ---- */

static void
test_names (Fixture *f, gconstpointer data)
{
  static const struct {
    const char *file, *diffusers;
  } original[] = {
    { "patch_embedding.weight", "patch_embedding.weight" },
    { "time_embedding.0.weight", "condition_embedder.time_embedder.linear_1.weight" },
    { "time_embedding.2.bias", "condition_embedder.time_embedder.linear_2.bias" },
    { "text_embedding.0.weight", "condition_embedder.text_embedder.linear_1.weight" },
    { "text_embedding.2.bias", "condition_embedder.text_embedder.linear_2.bias" },
    { "time_projection.1.weight", "condition_embedder.time_proj.weight" },
    { "head.head.weight", "proj_out.weight" },
    { "head.modulation", "scale_shift_table" },
    { "blocks.7.modulation", "blocks.7.scale_shift_table" },
    { "blocks.0.self_attn.q.weight", "blocks.0.attn1.to_q.weight" },
    { "blocks.0.self_attn.k.bias", "blocks.0.attn1.to_k.bias" },
    { "blocks.0.self_attn.v.weight", "blocks.0.attn1.to_v.weight" },
    { "blocks.0.self_attn.o.weight", "blocks.0.attn1.to_out.0.weight" },
    { "blocks.0.self_attn.norm_q.weight", "blocks.0.attn1.norm_q.weight" },
    { "blocks.0.self_attn.norm_k.weight", "blocks.0.attn1.norm_k.weight" },
    { "blocks.12.cross_attn.q.weight", "blocks.12.attn2.to_q.weight" },
    { "blocks.12.cross_attn.o.bias", "blocks.12.attn2.to_out.0.bias" },
    { "blocks.12.cross_attn.norm_k.weight", "blocks.12.attn2.norm_k.weight" },
    { "blocks.3.norm3.weight", "blocks.3.norm2.weight" },
    { "blocks.3.norm3.bias", "blocks.3.norm2.bias" },
    { "blocks.3.norm2.weight", "blocks.3.norm3.weight" },
    { "blocks.2.ffn.0.weight", "blocks.2.ffn.net.0.proj.weight" },
    { "blocks.2.ffn.2.bias", "blocks.2.ffn.net.2.bias" },
    { "blocks.20.ffn.2.weight", "blocks.20.ffn.net.2.weight" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (original); i++)
    {
      g_autofree char *plain = _fa_wan_dit_canonical_name (original[i].file, TRUE);
      g_autofree char *comfy_name = g_strconcat ("model.diffusion_model.", original[i].file, NULL);
      g_autofree char *comfy = _fa_wan_dit_canonical_name (comfy_name, TRUE);
      g_autofree char *short_name = g_strconcat ("diffusion_model.", original[i].file, NULL);
      g_autofree char *short_prefix = _fa_wan_dit_canonical_name (short_name, TRUE);
      g_assert_cmpstr (plain, ==, original[i].diffusers);
      g_assert_cmpstr (comfy, ==, original[i].diffusers);
      g_assert_cmpstr (short_prefix, ==, original[i].diffusers);
      g_autofree char *back = _fa_wan_dit_original_name (original[i].diffusers);
      g_assert_cmpstr (back, ==, original[i].file);
    }

  /* diffusers names are kept (norm2 stays norm2), prefixes still go */
  g_autofree char *kept = _fa_wan_dit_canonical_name ("blocks.0.norm2.weight", FALSE);
  g_assert_cmpstr (kept, ==, "blocks.0.norm2.weight");
  g_autofree char *stripped = _fa_wan_dit_canonical_name ("model.diffusion_model.proj_out.bias", FALSE);
  g_assert_cmpstr (stripped, ==, "proj_out.bias");

  /* every name of the 1.3B model maps back and forth */
  FaWanDitConfig config;
  fa_wan_dit_config_init_1_3b (&config);
  g_autoptr (GPtrArray) specs = _fa_wan_dit_expected_tensors (&config);
  for (guint i = 0; i < specs->len; i++)
    {
      const char *name = ((FaWanDitTensorSpec *) specs->pdata[i])->name;
      g_autofree char *file = _fa_wan_dit_original_name (name);
      g_autofree char *again = _fa_wan_dit_canonical_name (file, TRUE);
      g_assert_cmpstr (again, ==, name);
    }

  /* the tiny original file holds exactly the mapped names */
  FaWanDitConfig tiny;
  tiny_config_init (&tiny);
  g_autoptr (GPtrArray) tiny_specs = _fa_wan_dit_expected_tensors (&tiny);
  g_autoptr (GError) error = NULL;
  g_autoptr (FaWeights) weights = fa_weights_open (original_path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fa_weights_get_n_tensors (weights), ==, tiny_specs->len);
  for (guint i = 0; i < tiny_specs->len; i++)
    {
      g_autofree char *file = _fa_wan_dit_original_name (((FaWanDitTensorSpec *) tiny_specs->pdata[i])->name);
      if (fa_weights_lookup (weights, file) == NULL)
        g_error ("%s has no '%s'", original_path, file);
    }
}

/* ---- configuration ---- */

static void
test_expected_1_3b (Fixture *f, gconstpointer data)
{
  FaWanDitConfig config;
  fa_wan_dit_config_init_1_3b (&config);
  g_autoptr (GError) error = NULL;

  g_assert_true (_fa_wan_dit_config_check (&config, &error));
  g_assert_no_error (error);
  g_assert_cmpint (config.num_layers, ==, 30);
  g_assert_cmpint (config.dim, ==, 1536);
  g_assert_cmpint (config.num_heads * config.head_dim, ==, 1536);
  g_assert_cmpint (config.ffn_dim, ==, 8960);
  g_assert_cmpint (config.text_dim, ==, 4096);
  g_assert_cmpfloat (config.eps, ==, 1e-6f);

  g_autoptr (GPtrArray) specs = _fa_wan_dit_expected_tensors (&config);
  g_assert_cmpuint (specs->len, ==, 825);
  guint64 parameters = 0, block0 = 0;
  for (guint i = 0; i < specs->len; i++)
    {
      const FaWanDitTensorSpec *spec = specs->pdata[i];
      parameters += _fa_wan_dit_tensor_numel (spec);
      if (g_str_has_prefix (spec->name, "blocks.0."))
        block0 += _fa_wan_dit_tensor_numel (spec);
    }
  g_assert_cmpuint (parameters, ==, G_GUINT64_CONSTANT (1418996800));
  g_assert_cmpuint (block0, ==, 46440704);

  static const struct {
    const char *name;
    int ndim;
    gint64 shape[5];
  } samples[] = {
    { "patch_embedding.weight", 5, { 1536, 16, 1, 2, 2 } },
    { "condition_embedder.time_embedder.linear_1.weight", 2, { 1536, 256 } },
    { "condition_embedder.time_proj.weight", 2, { 9216, 1536 } },
    { "condition_embedder.text_embedder.linear_1.weight", 2, { 1536, 4096 } },
    { "proj_out.weight", 2, { 64, 1536 } },
    { "scale_shift_table", 3, { 1, 2, 1536 } },
    { "blocks.29.scale_shift_table", 3, { 1, 6, 1536 } },
    { "blocks.29.ffn.net.0.proj.weight", 2, { 8960, 1536 } },
    { "blocks.29.ffn.net.2.weight", 2, { 1536, 8960 } },
    { "blocks.29.norm2.bias", 1, { 1536 } },
  };
  for (guint s = 0; s < G_N_ELEMENTS (samples); s++)
    {
      gboolean found = FALSE;
      for (guint i = 0; i < specs->len && !found; i++)
        {
          const FaWanDitTensorSpec *spec = specs->pdata[i];
          if (!g_str_equal (spec->name, samples[s].name))
            continue;
          found = TRUE;
          g_assert_cmpint (spec->ndim, ==, samples[s].ndim);
          for (int d = 0; d < spec->ndim; d++)
            g_assert_cmpint (spec->shape[d], ==, samples[s].shape[d]);
        }
      g_assert_true (found);
    }
}

static void
test_config_check (Fixture *f, gconstpointer data)
{
  FaWanDitConfig config;
  g_autoptr (GError) error = NULL;

  tiny_config_init (&config);
  config.dim = 65;
  g_assert_false (_fa_wan_dit_config_check (&config, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "num_heads 2 × head_dim 32");
  g_clear_error (&error);

  tiny_config_init (&config);
  config.num_layers = 0;
  g_autoptr (FaWanDit) dit = fa_wan_dit_new_random (&config, f->cpu, 1, &error);
  g_assert_null (dit);
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "num_layers is 0");
}

/* What the shapes say of the tiny model in every layout: everything but
 * the heads, and without a config the head rule refuses a width of 64. */
static void
test_infer_tiny (Fixture *f, gconstpointer data)
{
  const char *paths[] = { tiny_dir, original_path, comfy_path };
  FaWanDitConfig expected;

  tiny_config_init (&expected);
  expected.num_heads = expected.head_dim = 0;
  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (FaWeights) weights = fa_weights_open (paths[i], &error);
      g_assert_no_error (error);
      FaWanDitConfig inferred;
      g_assert_true (_fa_wan_dit_config_from_shapes (weights, &inferred, &error));
      g_assert_no_error (error);
      assert_config_equal (&inferred, &expected);

      g_autoptr (FaWanDit) dit = fa_wan_dit_load_weights (weights, NULL, f->cpu, &error);
      g_assert_null (dit);
      fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                                    "cannot infer the number of attention heads");
      fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_UNSUPPORTED, "width 64");
      fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_UNSUPPORTED, "config.json");
    }

  /* no config.json beside the single file, so fa_wan_dit_load infers too */
  assert_load_fails (original_path, f->cpu, FA_ERROR_UNSUPPORTED,
                     "cannot infer the number of attention heads", "wan-tiny-dit.safetensors");

  /* a folder without config.json */
  g_autofree char *dir = make_subdir (f, "no-config");
  for (int i = 1; i <= 3; i++)
    {
      g_autofree char *name = g_strdup_printf ("diffusion_pytorch_model-%05d-of-00003.safetensors", i);
      g_autofree char *from = g_build_filename (tiny_dir, name, NULL);
      copy_file (from, dir, name);
    }
  copy_file (tiny_index, dir, "diffusion_pytorch_model.safetensors.index.json");
  assert_load_fails (dir, f->cpu, FA_ERROR_UNSUPPORTED, "cannot infer the number of attention heads",
                     "no config.json");
}

/* A small random model with heads of 128 loads from its shapes alone, in
 * both layouts. */
static void
test_infer_head_dim_128 (Fixture *f, gconstpointer data)
{
  FaWanDitConfig config = {
    .num_layers = 3, .num_heads = 1, .head_dim = 128, .dim = 128, .ffn_dim = 96,
    .in_channels = 4, .out_channels = 8, .text_dim = 24, .freq_dim = 32,
    .patch = { 1, 2, 2 }, .eps = 1e-6f,
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (FaWanDit) random = fa_wan_dit_new_random (&config, f->cpu, 42, &error);
  g_assert_no_error (error);

  g_autoptr (GPtrArray) specs = _fa_wan_dit_expected_tensors (&config);
  g_autoptr (TensorSet) diffusers = tensor_set_new ();
  g_autoptr (TensorSet) comfy = tensor_set_new ();
  for (guint i = 0; i < specs->len; i++)
    {
      const FaWanDitTensorSpec *spec = specs->pdata[i];
      FaTensor *weight = fa_wan_dit_get_weight (random, spec->name);
      /* back to the checkpoint's shape (the patch embedding is 5-D) */
      FaTensor *stored = fa_tensor_reshape (weight, spec->ndim, spec->shape, &error);
      g_assert_no_error (error);
      g_autofree char *original = _fa_wan_dit_original_name (spec->name);
      g_autofree char *prefixed = g_strconcat ("model.diffusion_model.", original, NULL);
      tensor_set_add (diffusers, spec->name, fa_tensor_ref (stored));
      tensor_set_add (comfy, prefixed, stored);
    }
  g_autofree char *folder = write_model_folder (f, "diffusers", diffusers, FALSE);
  g_autofree char *comfy_dir = make_subdir (f, "comfy");
  g_autofree char *comfy_file = tensor_set_write (comfy, comfy_dir, "wan_dit.safetensors");
  /* a stray config.json of another model beside a single file is ignored */
  write_text (comfy_dir, "config.json", "{\"_class_name\": \"AutoencoderKLWan\", \"z_dim\": 16}");

  g_autoptr (FaWanDit) from_folder = load_ok (folder, f->cpu);
  g_autoptr (FaWanDit) from_comfy = load_ok (comfy_file, f->cpu);
  assert_config_equal (fa_wan_dit_get_config (from_folder), &config);
  assert_config_equal (fa_wan_dit_get_config (from_comfy), &config);
  assert_same_weights (random, from_folder, SAME_BITS, f->cpu);
  assert_same_weights (random, from_comfy, SAME_BITS, f->cpu);

  /* the same stray file in a folder is an error */
  write_text (folder, "config.json", "{\"_class_name\": \"AutoencoderKLWan\", \"z_dim\": 16}");
  assert_load_fails (folder, f->cpu, FA_ERROR_INVALID_ARGUMENT, "AutoencoderKLWan", "not a Wan DiT");
}

/* The original repository's config.json (its key names, no patch_size or
 * text_dim) beside the single file. */
static void
test_config_original_keys (Fixture *f, gconstpointer data)
{
  g_autofree char *dir = make_subdir (f, "original");
  copy_file (original_path, dir, "diffusion_pytorch_model.safetensors");
  write_text (dir, "config.json",
              "{\"_class_name\": \"WanModel\", \"_diffusers_version\": \"0.30.0\", \"dim\": 64, "
              "\"eps\": 1e-06, \"ffn_dim\": 64, \"freq_dim\": 256, \"in_dim\": 16, "
              "\"model_type\": \"t2v\", \"num_heads\": 2, \"num_layers\": 2, \"out_dim\": 16, "
              "\"text_len\": 512}");
  g_autofree char *file = g_build_filename (dir, "diffusion_pytorch_model.safetensors", NULL);
  g_autoptr (FaWanDit) folder = load_ok (tiny_dir, f->cpu);
  g_autoptr (FaWanDit) dit = load_ok (file, f->cpu);
  FaWanDitConfig expected;

  tiny_config_init (&expected);
  assert_config_equal (fa_wan_dit_get_config (dit), &expected);
  assert_same_weights (folder, dit, SAME_BITS, f->cpu);

  /* only the head count: the head dim follows from the width */
  write_text (dir, "config.json", "{\"num_heads\": 2}");
  g_autoptr (FaWanDit) heads_only = load_ok (file, f->cpu);
  assert_config_equal (fa_wan_dit_get_config (heads_only), &expected);

  /* a config that disagrees with the tensors */
  write_text (dir, "config.json", "{\"num_heads\": 2, \"num_layers\": 3}");
  assert_load_fails (file, f->cpu, FA_ERROR_NOT_FOUND, "'blocks.2.modulation'",
                     "(blocks.2.scale_shift_table) [1, 6, 64]", "and 26 more");
  write_text (dir, "config.json", "{\"num_heads\": 2, \"ffn_dim\": 128}");
  assert_load_fails (file, f->cpu, FA_ERROR_CORRUPT_FILE, "'blocks.0.ffn.0.weight'",
                     "(blocks.0.ffn.net.0.proj.weight)", "shape [64, 64], expected [128, 64]");
  write_text (dir, "config.json", "{\"num_heads\": 3}");
  assert_load_fails (file, f->cpu, FA_ERROR_CORRUPT_FILE, "width 64 is not a multiple of the head count 3");

  /* features the engine does not have */
  write_text (dir, "config.json", "{\"num_heads\": 2, \"model_type\": \"i2v\"}");
  assert_load_fails (file, f->cpu, FA_ERROR_UNSUPPORTED, "model_type 'i2v'");
  write_text (dir, "config.json", "{\"num_attention_heads\": 2, \"image_dim\": 1280}");
  assert_load_fails (file, f->cpu, FA_ERROR_UNSUPPORTED, "image_dim");
  write_text (dir, "config.json", "{\"num_attention_heads\": 2, \"qk_norm\": \"rms_norm\"}");
  assert_load_fails (file, f->cpu, FA_ERROR_UNSUPPORTED, "qk_norm");

  /* broken files */
  write_text (dir, "config.json", "{\"num_heads\": \"two\"}");
  assert_load_fails (file, f->cpu, FA_ERROR_CORRUPT_FILE, "config.json", "\"num_heads\" is not an integer");
  write_text (dir, "config.json", "{\"num_heads\": 2, \"patch_size\": [1, 2]}");
  assert_load_fails (file, f->cpu, FA_ERROR_CORRUPT_FILE, "\"patch_size\"");
  write_text (dir, "config.json", "{\"num_heads\": 2,");
  assert_load_fails (file, f->cpu, FA_ERROR_CORRUPT_FILE, "config.json");
}

/* ---- bad checkpoints ---- */

static void
test_bad_missing (Fixture *f, gconstpointer data)
{
  g_autoptr (TensorSet) set = tensor_set_read (tiny_dir, f->cpu);
  tensor_set_remove (set, "blocks.1.attn2.norm_k.weight");
  g_autofree char *dir = write_model_folder (f, "missing", set, TRUE);
  assert_load_fails (dir, f->cpu, FA_ERROR_NOT_FOUND, "'blocks.1.attn2.norm_k.weight'", "[64]",
                     "is missing");

  /* original names: both names given */
  g_autoptr (TensorSet) original = tensor_set_read (original_path, f->cpu);
  tensor_set_remove (original, "blocks.0.norm3.bias");
  tensor_set_remove (original, "head.head.weight");
  g_autofree char *original_dir = make_subdir (f, "missing-original");
  g_autofree char *file = tensor_set_write (original, original_dir, "dit.safetensors");
  g_autoptr (FaWeights) weights = fa_weights_open (file, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (FaWanDit) dit = fa_wan_dit_load_weights (weights, tiny_config, f->cpu, &error);
  g_assert_null (dit);
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_NOT_FOUND,
                                "'head.head.weight' (proj_out.weight) [64, 64] is missing (and 1 more)");
}

static void
test_bad_extra (Fixture *f, gconstpointer data)
{
  g_autoptr (TensorSet) set = tensor_set_read (tiny_dir, f->cpu);
  tensor_set_add (set, "blocks.0.attn1.to_x.weight", new_f32_filled (f->cpu, 2, (gint64[]) { 64, 64 }, 0.5f));
  g_autofree char *dir = write_model_folder (f, "extra", set, TRUE);
  assert_load_fails (dir, f->cpu, FA_ERROR_CORRUPT_FILE, "unexpected tensor 'blocks.0.attn1.to_x.weight'");

  /* with the ComfyUI prefix: the name in the file and the diffusers name */
  g_autoptr (TensorSet) comfy = tensor_set_read (comfy_path, f->cpu);
  tensor_set_add (comfy, "model.diffusion_model.blocks.1.self_attn.gate",
                  new_f32_filled (f->cpu, 1, (gint64[]) { 64 }, 1.0f));
  tensor_set_add (comfy, "model.diffusion_model.blocks.1.cross_attn.q.lora_down.weight",
                  new_f32_filled (f->cpu, 2, (gint64[]) { 4, 64 }, 1.0f));
  g_autofree char *comfy_dir = write_model_folder (f, "extra-comfy", comfy, TRUE);
  assert_load_fails (comfy_dir, f->cpu, FA_ERROR_CORRUPT_FILE,
                     "unexpected tensor 'model.diffusion_model.blocks.1.cross_attn.q.lora_down.weight' "
                     "(blocks.1.attn2.to_q.lora_down.weight) (and 1 more)");

  /* one more block than config.json has */
  g_autoptr (TensorSet) more = tensor_set_read (tiny_dir, f->cpu);
  tensor_set_add (more, "blocks.2.norm2.bias", new_f32_filled (f->cpu, 1, (gint64[]) { 64 }, 0.0f));
  g_autofree char *more_dir = write_model_folder (f, "extra-block", more, TRUE);
  assert_load_fails (more_dir, f->cpu, FA_ERROR_CORRUPT_FILE, "unexpected tensor 'blocks.2.norm2.bias'");
}

static void
test_bad_shape (Fixture *f, gconstpointer data)
{
  g_autoptr (TensorSet) set = tensor_set_read (tiny_dir, f->cpu);
  tensor_set_replace (set, "condition_embedder.time_proj.weight",
                      new_f32_filled (f->cpu, 2, (gint64[]) { 384, 32 }, 0.1f));
  g_autofree char *dir = write_model_folder (f, "shape", set, TRUE);
  assert_load_fails (dir, f->cpu, FA_ERROR_CORRUPT_FILE, "'condition_embedder.time_proj.weight'",
                     "has shape [384, 32], expected [384, 64]");

  /* original names: the affine norm is norm3 there and norm2 here */
  g_autoptr (TensorSet) original = tensor_set_read (original_path, f->cpu);
  tensor_set_replace (original, "blocks.1.norm3.weight", new_f32_filled (f->cpu, 1, (gint64[]) { 32 }, 1.0f));
  g_autofree char *original_dir = write_model_folder (f, "shape-original", original, TRUE);
  assert_load_fails (original_dir, f->cpu, FA_ERROR_CORRUPT_FILE,
                     "tensor 'blocks.1.norm3.weight' (blocks.1.norm2.weight) has shape [32], expected [64]");

  /* a 4-D patch embedding cannot tell the configuration */
  g_autoptr (TensorSet) flat = tensor_set_read (tiny_dir, f->cpu);
  tensor_set_replace (flat, "patch_embedding.weight",
                      new_f32_filled (f->cpu, 4, (gint64[]) { 64, 16, 2, 2 }, 0.1f));
  g_autofree char *flat_dir = write_model_folder (f, "shape-patch", flat, FALSE);
  assert_load_fails (flat_dir, f->cpu, FA_ERROR_CORRUPT_FILE, "'patch_embedding.weight'", "[64, 16, 2, 2]");
}

static void
test_bad_dtype (Fixture *f, gconstpointer data)
{
  g_autoptr (TensorSet) set = tensor_set_read (tiny_dir, f->cpu);
  tensor_set_replace (set, "blocks.0.attn1.to_q.bias",
                      new_tensor (f->cpu, FA_DTYPE_I64, 1, (gint64[]) { 64 }));
  g_autofree char *dir = write_model_folder (f, "dtype", set, TRUE);
  assert_load_fails (dir, f->cpu, FA_ERROR_DTYPE, "'blocks.0.attn1.to_q.bias'", "stored as i64");
}

static void
test_bad_truncated_shard (Fixture *f, gconstpointer data)
{
  g_autofree char *dir = make_subdir (f, "truncated");
  const char *cut = "diffusion_pytorch_model-00002-of-00003.safetensors";

  copy_file (tiny_config, dir, "config.json");
  copy_file (tiny_index, dir, "diffusion_pytorch_model.safetensors.index.json");
  for (int i = 1; i <= 3; i++)
    {
      g_autofree char *name = g_strdup_printf ("diffusion_pytorch_model-%05d-of-00003.safetensors", i);
      g_autofree char *from = g_build_filename (tiny_dir, name, NULL);
      copy_file (from, dir, name);
    }
  g_autofree char *path = g_build_filename (dir, cut, NULL);
  g_autofree char *bytes = NULL;
  gsize length = 0;
  g_assert_true (g_file_get_contents (path, &bytes, &length, NULL));
  g_assert_true (g_file_set_contents (path, bytes, (gssize) (length - 1000), NULL));

  assert_load_fails (dir, f->cpu, FA_ERROR_CORRUPT_FILE, cut);
}

static void
test_bad_layouts (Fixture *f, gconstpointer data)
{
  /* one original name among diffusers names */
  g_autoptr (TensorSet) renamed = tensor_set_read (tiny_dir, f->cpu);
  tensor_set_rename (renamed, "proj_out.weight", "head.head.weight");
  g_autofree char *mixed_dir = write_model_folder (f, "mixed", renamed, TRUE);
  assert_load_fails (mixed_dir, f->cpu, FA_ERROR_CORRUPT_FILE, "mixes original Wan names",
                     "'head.head.weight'");

  /* the same tensor with and without the prefix */
  g_autoptr (TensorSet) twice = tensor_set_read (original_path, f->cpu);
  tensor_set_add (twice, "model.diffusion_model.head.modulation",
                  fa_tensor_ref (tensor_set_get (twice, "head.modulation")));
  g_autofree char *twice_dir = write_model_folder (f, "twice", twice, TRUE);
  assert_load_fails (twice_dir, f->cpu, FA_ERROR_CORRUPT_FILE, "'head.modulation'",
                     "'model.diffusion_model.head.modulation'", "scale_shift_table");

  /* not a DiT at all */
  g_autoptr (TensorSet) other = tensor_set_new ();
  tensor_set_add (other, "encoder.conv_in.weight", new_f32_filled (f->cpu, 1, (gint64[]) { 8 }, 1.0f));
  g_autofree char *other_dir = write_model_folder (f, "other", other, FALSE);
  assert_load_fails (other_dir, f->cpu, FA_ERROR_NOT_FOUND, "no blocks.N tensors");
}

/* ---- fp8 with per-tensor scales ---- */

typedef enum {
  SCALE_WEIGHT,  /* <layer>.scale_weight, a 0-D f32 */
  WEIGHT_SCALE,  /* <layer>.weight_scale, a [1] f32 */
} ScaleConvention;

/* W ≈ f8(W / s) · s with s = max|W| / 448, e4m3's largest value. */
static void
quantize (TensorSet *set, const char *name, ScaleConvention convention, FaBackend *cpu)
{
  FaTensor *weight = tensor_set_get (set, name);
  const float *w = fa_tensor_get_data (weight);
  gint64 n = fa_tensor_get_numel (weight);
  float max = 0.0f;

  for (gint64 j = 0; j < n; j++)
    max = fmaxf (max, fabsf (w[j]));
  float scale = max / 448.0f;
  FaTensor *q = new_tensor (cpu, FA_DTYPE_F8_E4M3, weight->ndim, weight->shape);
  guint8 *bytes = fa_tensor_get_data (q);
  for (gint64 j = 0; j < n; j++)
    bytes[j] = fa_f32_to_f8e4m3 (w[j] / scale);

  FaTensor *s = convention == SCALE_WEIGHT ? new_f32_filled (cpu, 0, NULL, scale)
                                           : new_f32_filled (cpu, 1, (gint64[]) { 1 }, scale);
  g_autofree char *base = g_strndup (name, strlen (name) - strlen (".weight"));
  g_autofree char *scale_name = g_strconcat (base, convention == SCALE_WEIGHT ? ".scale_weight"
                                                                             : ".weight_scale", NULL);
  tensor_set_add (set, scale_name, s);
  tensor_set_replace (set, name, q);
}

static FaTensor *
u8_text (FaBackend *cpu, const char *text)
{
  gint64 length = (gint64) strlen (text);
  FaTensor *tensor = new_tensor (cpu, FA_DTYPE_U8, 1, &length);

  memcpy (fa_tensor_get_data (tensor), text, strlen (text));
  return tensor;
}

static void
test_fp8_scaled (Fixture *f, gconstpointer data)
{
  g_autoptr (TensorSet) reference = tensor_set_read (original_path, f->cpu);
  g_autoptr (TensorSet) set = tensor_set_new ();
  for (guint i = 0; i < reference->names->len; i++)
    {
      g_autofree char *name = g_strconcat ("model.diffusion_model.", reference->names->pdata[i], NULL);
      tensor_set_add (set, name, fa_tensor_ref (reference->tensors->pdata[i]));
    }

  /* every matrix, alternating between the two conventions */
  guint n_quantized = 0;
  for (guint i = 0; i < reference->names->len; i++)
    {
      FaTensor *tensor = reference->tensors->pdata[i];
      if (tensor->ndim != 2)
        continue;
      g_autofree char *name = g_strconcat ("model.diffusion_model.", reference->names->pdata[i], NULL);
      quantize (set, name, n_quantized % 2 == 0 ? SCALE_WEIGHT : WEIGHT_SCALE, f->cpu);
      n_quantized++;
    }
  g_assert_cmpuint (n_quantized, ==, 2 * 1 + 3 + 1 + 2 * 10);
  /* the companions a ComfyUI file may have */
  tensor_set_add (set, "model.diffusion_model.scaled_fp8",
                  new_tensor (f->cpu, FA_DTYPE_F8_E4M3, 1, (gint64[]) { 0 }));
  tensor_set_add (set, "model.diffusion_model.blocks.0.self_attn.q.scale_input",
                  new_f32_filled (f->cpu, 0, NULL, 1.0f));
  tensor_set_add (set, "model.diffusion_model.blocks.0.ffn.0.input_scale",
                  new_f32_filled (f->cpu, 0, NULL, 1.0f));
  tensor_set_add (set, "model.diffusion_model.blocks.1.ffn.2.comfy_quant",
                  u8_text (f->cpu, "{\"format\": \"float8_e4m3fn\"}"));
  g_autofree char *dir = write_model_folder (f, "fp8", set, TRUE);
  g_autofree char *file = g_build_filename (dir, "model.safetensors", NULL);

  g_autoptr (FaWanDit) dit = load_ok (file, f->cpu);
  assert_model_shapes (dit);
  FaWanDitConfig expected;
  tiny_config_init (&expected);
  assert_config_equal (fa_wan_dit_get_config (dit), &expected);

  g_autoptr (GPtrArray) specs = _fa_wan_dit_expected_tensors (&expected);
  for (guint i = 0; i < specs->len; i++)
    {
      const FaWanDitTensorSpec *spec = specs->pdata[i];
      g_autofree char *original = _fa_wan_dit_original_name (spec->name);
      g_autofree char *prefixed = g_strconcat ("model.diffusion_model.", original, NULL);
      const float *w = fa_tensor_get_data (tensor_set_get (reference, original));
      FaTensor *stored = tensor_set_get (set, prefixed);
      FaTensor *loaded = fa_wan_dit_get_weight (dit, spec->name);
      const float *y = fa_tensor_get_data (loaded);
      gint64 n = fa_tensor_get_numel (loaded);

      if (stored->dtype != FA_DTYPE_F8_E4M3)
        {
          g_assert_cmpmem (y, n * sizeof (float), w, n * sizeof (float));
          continue;
        }
      g_autofree char *base = g_strndup (prefixed, strlen (prefixed) - strlen (".weight"));
      g_autofree char *legacy = g_strconcat (base, ".scale_weight", NULL);
      g_autofree char *modern = g_strconcat (base, ".weight_scale", NULL);
      gboolean is_legacy = FALSE;
      for (guint k = 0; k < set->names->len; k++)
        is_legacy |= g_str_equal (set->names->pdata[k], legacy);
      float scale = *(const float *) fa_tensor_get_data (tensor_set_get (set, is_legacy ? legacy : modern));
      const guint8 *q = fa_tensor_get_data (stored);
      for (gint64 j = 0; j < n; j++)
        {
          /* exactly f8 · scale in f32, and within e4m3's precision (3
           * mantissa bits: half a step is 1/16 relative, 2^-10 · scale
           * absolute among the subnormals) */
          g_assert_cmphex (fa_f32_bits (y[j]), ==, fa_f32_bits (fa_f8e4m3_to_f32 (q[j]) * scale));
          g_assert_cmpfloat (fabsf (y[j] - w[j]), <=, fabsf (w[j]) / 16.0f + scale / 1024.0f + 1e-12f);
        }
    }
}

static void
test_fp8_bad (Fixture *f, gconstpointer data)
{
  /* a scale per channel */
  g_autoptr (TensorSet) channel = tensor_set_read (tiny_dir, f->cpu);
  tensor_set_add (channel, "proj_out.weight_scale", new_f32_filled (f->cpu, 1, (gint64[]) { 64 }, 1.0f));
  g_autofree char *channel_dir = write_model_folder (f, "channel", channel, TRUE);
  assert_load_fails (channel_dir, f->cpu, FA_ERROR_UNSUPPORTED, "'proj_out.weight_scale'", "[64]",
                     "one scale per tensor");

  /* a scale for nothing */
  g_autoptr (TensorSet) orphan = tensor_set_read (tiny_dir, f->cpu);
  tensor_set_add (orphan, "blocks.0.attn1.to_x.scale_weight", new_f32_filled (f->cpu, 0, NULL, 1.0f));
  g_autofree char *orphan_dir = write_model_folder (f, "orphan", orphan, TRUE);
  assert_load_fails (orphan_dir, f->cpu, FA_ERROR_CORRUPT_FILE, "'blocks.0.attn1.to_x.scale_weight'",
                     "belongs to 'blocks.0.attn1.to_x.weight'");

  /* two scales for one weight */
  g_autoptr (TensorSet) two = tensor_set_read (tiny_dir, f->cpu);
  tensor_set_add (two, "proj_out.weight_scale", new_f32_filled (f->cpu, 0, NULL, 1.0f));
  tensor_set_add (two, "proj_out.scale_weight", new_f32_filled (f->cpu, 0, NULL, 1.0f));
  g_autofree char *two_dir = write_model_folder (f, "two", two, TRUE);
  assert_load_fails (two_dir, f->cpu, FA_ERROR_CORRUPT_FILE, "two scales");

  /* a scale that is not a number, caught before anything converts */
  g_autoptr (TensorSet) nan = tensor_set_read (tiny_dir, f->cpu);
  tensor_set_add (nan, "proj_out.scale_weight", new_f32_filled (f->cpu, 0, NULL, NAN));
  g_autofree char *nan_dir = write_model_folder (f, "nan", nan, TRUE);
  assert_load_fails (nan_dir, f->cpu, FA_ERROR_CORRUPT_FILE, "scale 'proj_out.scale_weight' is nan");

  /* a format one scale cannot undo */
  g_autoptr (TensorSet) nvfp4 = tensor_set_read (tiny_dir, f->cpu);
  tensor_set_add (nvfp4, "proj_out.comfy_quant", u8_text (f->cpu, "{\"format\": \"nvfp4\"}"));
  g_autofree char *nvfp4_dir = write_model_folder (f, "nvfp4", nvfp4, TRUE);
  assert_load_fails (nvfp4_dir, f->cpu, FA_ERROR_UNSUPPORTED, "'nvfp4'");

  /* an integer scale */
  g_autoptr (TensorSet) integer = tensor_set_read (tiny_dir, f->cpu);
  tensor_set_add (integer, "proj_out.scale_weight", new_tensor (f->cpu, FA_DTYPE_I64, 0, NULL));
  g_autofree char *integer_dir = write_model_folder (f, "integer", integer, TRUE);
  assert_load_fails (integer_dir, f->cpu, FA_ERROR_DTYPE, "'proj_out.scale_weight'");
}

/* ---- random weights ---- */

static void
test_random (Fixture *f, gconstpointer data)
{
  FaWanDitConfig config;
  g_autoptr (GError) error = NULL;

  tiny_config_init (&config);
  g_autoptr (FaWanDit) a = fa_wan_dit_new_random (&config, f->cpu, 7, &error);
  g_assert_no_error (error);
  g_autoptr (FaWanDit) b = fa_wan_dit_new_random (&config, f->cpu, 7, &error);
  g_assert_no_error (error);
  g_autoptr (FaWanDit) c = fa_wan_dit_new_random (&config, f->cpu, 8, &error);
  g_assert_no_error (error);

  assert_config_equal (fa_wan_dit_get_config (a), &config);
  assert_model_shapes (a);
  assert_same_weights (a, b, SAME_BITS, f->cpu);
  g_assert_cmpuint (g_hash_table_size (a->weights), ==, TINY_TENSORS);

  /* statistics per kind, and another seed gives other values */
  g_autoptr (GPtrArray) specs = _fa_wan_dit_expected_tensors (&config);
  for (guint i = 0; i < specs->len; i++)
    {
      const FaWanDitTensorSpec *spec = specs->pdata[i];
      const float *x = fa_tensor_get_data (fa_wan_dit_get_weight (a, spec->name));
      const float *y = fa_tensor_get_data (fa_wan_dit_get_weight (c, spec->name));
      gint64 n = (gint64) _fa_wan_dit_tensor_numel (spec);
      double sum = 0.0, sum2 = 0.0;
      gboolean differ = FALSE;
      for (gint64 j = 0; j < n; j++)
        {
          g_assert_true (isfinite (x[j]));
          sum += x[j];
          sum2 += (double) x[j] * x[j];
          differ |= x[j] != y[j];
        }
      g_assert_true (differ);
      double mean = sum / (double) n, std = sqrt (fmax (sum2 / (double) n - mean * mean, 0.0));
      double want_mean = spec->kind == FA_WAN_DIT_TENSOR_NORM ? 1.0 : 0.0;
      double want_std = spec->kind == FA_WAN_DIT_TENSOR_MATRIX ? 1.0 / sqrt ((double) spec->fan_in)
                        : spec->kind == FA_WAN_DIT_TENSOR_TABLE ? 1.0 / sqrt ((double) config.dim)
                        : 0.02;
      /* loose: the smallest tensors have 64 values */
      g_assert_cmpfloat (fabs (mean - want_mean), <, 4.0 * want_std / sqrt ((double) n) + 1e-6);
      g_assert_cmpfloat (std, >, 0.6 * want_std);
      g_assert_cmpfloat (std, <, 1.4 * want_std);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_assert_nonnull (g_getenv ("FA_TEST_SRCDIR")); /* set by meson: the tests/ source folder */
  data_dir = g_build_filename (g_getenv ("FA_TEST_SRCDIR"), "data", NULL);
  tiny_dir = g_build_filename (data_dir, "wan-tiny", "transformer", NULL);
  tiny_config = g_build_filename (tiny_dir, "config.json", NULL);
  tiny_index = g_build_filename (tiny_dir, "diffusion_pytorch_model.safetensors.index.json", NULL);
  original_path = g_build_filename (data_dir, "original", "wan-tiny-dit.safetensors", NULL);
  comfy_path = g_build_filename (data_dir, "original", "wan-tiny-dit-comfy-bf16.safetensors", NULL);

  ADD ("/wan-dit/load/folder", test_load_folder);
  ADD ("/wan-dit/load/index-and-pipeline", test_load_index_and_pipeline);
  ADD ("/wan-dit/load/original", test_load_original);
  ADD ("/wan-dit/load/comfy-bf16", test_load_comfy_bf16);
  ADD ("/wan-dit/load/cuda", test_load_cuda);
  ADD ("/wan-dit/names", test_names);
  ADD ("/wan-dit/config/expected-1.3b", test_expected_1_3b);
  ADD ("/wan-dit/config/check", test_config_check);
  ADD ("/wan-dit/config/infer-tiny", test_infer_tiny);
  ADD ("/wan-dit/config/infer-head-dim-128", test_infer_head_dim_128);
  ADD ("/wan-dit/config/original-keys", test_config_original_keys);
  ADD ("/wan-dit/bad/missing", test_bad_missing);
  ADD ("/wan-dit/bad/extra", test_bad_extra);
  ADD ("/wan-dit/bad/shape", test_bad_shape);
  ADD ("/wan-dit/bad/dtype", test_bad_dtype);
  ADD ("/wan-dit/bad/truncated-shard", test_bad_truncated_shard);
  ADD ("/wan-dit/bad/layouts", test_bad_layouts);
  ADD ("/wan-dit/fp8/scaled", test_fp8_scaled);
  ADD ("/wan-dit/fp8/bad", test_fp8_bad);
  ADD ("/wan-dit/random", test_random);

  int status = g_test_run ();
  g_free (comfy_path);
  g_free (original_path);
  g_free (tiny_index);
  g_free (tiny_config);
  g_free (tiny_dir);
  g_free (data_dir);
  return status;
}
