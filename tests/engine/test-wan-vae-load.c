/* The Wan VAE loader: the tiny VAE of tests/data as a diffusers folder, a
 * pipeline folder and one file with the original names (fp16) gives the
 * same weights bit for bit, convolutions permuted to channels-last; the
 * two name mappings are inverse; bad checkpoints and configs fail naming
 * what is wrong; random weights have the configured shapes.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "fa-error.h"
#include "fa-half.h"
#include "fa-test-util.h"
#include "fa-wan-vae-private.h"

#define TINY_TENSORS 194
#define TINY_PARAMETERS 924491

static char *data_dir;      /* tests/data */
static char *pipeline_dir;  /* tests/data/wan-tiny */
static char *vae_dir;       /* tests/data/wan-tiny/vae */
static char *vae_config;    /* its config.json */
static char *vae_file;      /* its safetensors */
static char *original_path; /* tests/data/original/wan-tiny-vae.safetensors */

static const float wan21_mean[16] = {
  -0.7571f, -0.7089f, -0.9113f, 0.1075f, -0.1745f, 0.9653f, -0.1517f, 1.5508f,
  0.4134f, -0.0715f, 0.5517f, -0.3632f, -0.1922f, -0.9497f, 0.2503f, -0.2921f,
};
static const float wan21_std[16] = {
  2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
  3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.916f,
};

/* ---- fixture: a temporary folder and a CPU backend ---- */

typedef struct {
  char *dir;
  FaBackend *cpu;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->dir = fa_test_make_folder ("fa-wan-vae-XXXXXX");
  f->cpu = fa_backend_new_cpu ();
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  guint64 current = 1;

  /* every model, tensor and weight set of the test is gone by now */
  fa_backend_get_memory (f->cpu, &current, NULL);
  g_assert_cmpuint (current, ==, 0);
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
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

static char *
read_text (const char *path, gsize *out_length)
{
  char *text = NULL;
  g_autoptr (GError) error = NULL;

  g_file_get_contents (path, &text, out_length, &error);
  g_assert_no_error (error);
  return text;
}

/* @text with its one occurrence of @from replaced by @to. */
static char *
replace_once (const char *text, const char *from, const char *to)
{
  const char *at = strstr (text, from);

  g_assert_nonnull (at);
  g_assert_null (strstr (at + 1, from));
  return g_strdup_printf ("%.*s%s%s", (int) (at - text), text, to, at + strlen (from));
}

/* ---- sets of host tensors, to write variants of the tiny VAE ---- */

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

static FaTensor *
tensor_set_get (TensorSet *set, const char *name)
{
  return set->tensors->pdata[tensor_set_find (set, name)];
}

/* Every tensor of @path as stored, names with @prefix in front. */
static TensorSet *
tensor_set_read (const char *path, const char *prefix, FaBackend *cpu)
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
      g_autofree char *name = g_strconcat (prefix, entry->name, NULL);
      tensor_set_add (set, name, tensor);
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
new_f32_filled (FaBackend *cpu, int ndim, const gint64 *shape, float value)
{
  g_autoptr (GError) error = NULL;
  FaTensor *tensor = fa_tensor_new (cpu, FA_DTYPE_F32, ndim, shape, &error);

  g_assert_no_error (error);
  float *data = fa_tensor_get_data (tensor);
  for (gint64 i = 0; i < fa_tensor_get_numel (tensor); i++)
    data[i] = value;
  return tensor;
}

/* ---- checks ---- */

static void
tiny_config_init (FaWanVaeConfig *config)
{
  fa_wan_vae_config_init_2_1 (config);
  config->base_dim = 8;
}

static void
assert_config_equal (const FaWanVaeConfig *a, const FaWanVaeConfig *b)
{
  g_assert_cmpint (a->base_dim, ==, b->base_dim);
  g_assert_cmpint (a->z_dim, ==, b->z_dim);
  for (int i = 0; i < 4; i++)
    g_assert_cmpint (a->dim_mult[i], ==, b->dim_mult[i]);
  g_assert_cmpint (a->num_res_blocks, ==, b->num_res_blocks);
  for (int i = 0; i < 3; i++)
    g_assert_cmpint (!!a->temporal_downsample[i], ==, !!b->temporal_downsample[i]);
  for (int c = 0; c < a->z_dim; c++)
    {
      g_assert_cmpfloat (a->latents_mean[c], ==, b->latents_mean[c]);
      g_assert_cmpfloat (a->latents_std[c], ==, b->latents_std[c]);
    }
}

/* What tests/data/README.md says of the tiny VAE, spelled out. */
static void
assert_tiny_config (const FaWanVaeConfig *config)
{
  g_assert_cmpint (config->base_dim, ==, 8);
  g_assert_cmpint (config->z_dim, ==, 16);
  g_assert_cmpint (config->dim_mult[0], ==, 1);
  g_assert_cmpint (config->dim_mult[1], ==, 2);
  g_assert_cmpint (config->dim_mult[2], ==, 4);
  g_assert_cmpint (config->dim_mult[3], ==, 4);
  g_assert_cmpint (config->num_res_blocks, ==, 2);
  g_assert_false (config->temporal_downsample[0]);
  g_assert_true (config->temporal_downsample[1]);
  g_assert_true (config->temporal_downsample[2]);
  for (int c = 0; c < 16; c++)
    {
      g_assert_cmpfloat (config->latents_mean[c], ==, wan21_mean[c]);
      g_assert_cmpfloat (config->latents_std[c], ==, wan21_std[c]);
    }
}

/* The model holds exactly the expected tensors in the stored layout. */
static void
assert_model_shapes (FaWanVae *vae)
{
  g_autoptr (GPtrArray) specs = _fa_wan_vae_expected_tensors (fa_wan_vae_get_config (vae));

  g_assert_cmpuint (g_hash_table_size (vae->weights), ==, specs->len);
  for (guint i = 0; i < specs->len; i++)
    {
      const FaWanVaeTensorSpec *spec = specs->pdata[i];
      FaTensor *tensor = _fa_wan_vae_weight (vae, spec->name);
      if (tensor == NULL)
        g_error ("no weight '%s'", spec->name);
      g_assert_true (fa_tensor_is_contiguous (tensor));
      g_assert_cmpint (tensor->dtype, ==,
                       spec->kind == FA_WAN_VAE_TENSOR_CONV ? vae->conv_dtype : FA_DTYPE_F32);
      g_assert_cmpint (tensor->shape[0], ==, spec->shape[0]);
      if (spec->kind != FA_WAN_VAE_TENSOR_CONV)
        {
          g_assert_cmpint (tensor->ndim, ==, 1);
          for (int d = 1; d < spec->ndim; d++)
            g_assert_cmpint (spec->shape[d], ==, 1);
          continue;
        }
      g_assert_cmpint (tensor->ndim, ==, 5);
      g_assert_cmpint (tensor->shape[4], ==, spec->shape[1]);
      if (spec->ndim == 4)
        {
          g_assert_cmpint (tensor->shape[1], ==, 1);
          g_assert_cmpint (tensor->shape[2], ==, spec->shape[2]);
          g_assert_cmpint (tensor->shape[3], ==, spec->shape[3]);
        }
      else
        for (int d = 1; d < 4; d++)
          g_assert_cmpint (tensor->shape[d], ==, spec->shape[d + 1]);
    }
}

static void
assert_tiny_model (FaWanVae *vae)
{
  assert_tiny_config (fa_wan_vae_get_config (vae));
  g_assert_cmpint (vae->conv_dtype, ==, FA_DTYPE_F32);
  g_assert_cmpuint (g_hash_table_size (vae->weights), ==, TINY_TENSORS);
  assert_model_shapes (vae);

  guint64 parameters = 0;
  GHashTableIter iter;
  gpointer value;
  g_hash_table_iter_init (&iter, vae->weights);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    parameters += (guint64) fa_tensor_get_numel (value);
  g_assert_cmpuint (parameters, ==, TINY_PARAMETERS);
}

/* Every weight of @b has @a's bytes. */
static void
assert_same_weights (FaWanVae *a, FaWanVae *b)
{
  g_autoptr (GPtrArray) specs = _fa_wan_vae_expected_tensors (fa_wan_vae_get_config (a));

  g_assert_cmpuint (g_hash_table_size (a->weights), ==, specs->len);
  g_assert_cmpuint (g_hash_table_size (b->weights), ==, specs->len);
  for (guint i = 0; i < specs->len; i++)
    {
      const FaWanVaeTensorSpec *spec = specs->pdata[i];
      FaTensor *ta = _fa_wan_vae_weight (a, spec->name);
      FaTensor *tb = _fa_wan_vae_weight (b, spec->name);
      g_assert_nonnull (ta);
      g_assert_nonnull (tb);
      g_assert_true (fa_tensor_same_shape (ta, tb));
      g_assert_cmpint (ta->dtype, ==, tb->dtype);
      if (memcmp (fa_tensor_get_data (ta), fa_tensor_get_data (tb), fa_tensor_get_nbytes (ta)) != 0)
        g_error ("weight '%s' differs", spec->name);
    }
}

static FaWanVae *
load_ok (const char *path, FaBackend *cpu)
{
  g_autoptr (GError) error = NULL;
  FaWanVae *vae = fa_wan_vae_load (path, cpu, &error);

  g_assert_no_error (error);
  g_assert_nonnull (vae);
  return vae;
}

/* ---- loading the tiny VAE ---- */

static void
test_load_folder (Fixture *f, gconstpointer data)
{
  g_autoptr (FaWanVae) vae = load_ok (vae_dir, f->cpu);

  assert_tiny_model (vae);
  g_assert_true (fa_wan_vae_get_backend (vae) == f->cpu);
  g_assert_null (vae->forward_state);
}

static void
test_load_pipeline (Fixture *f, gconstpointer data)
{
  g_autoptr (FaWanVae) pipeline = load_ok (pipeline_dir, f->cpu);
  g_autoptr (FaWanVae) folder = load_ok (vae_dir, f->cpu);

  assert_tiny_model (pipeline);
  assert_same_weights (folder, pipeline);
}

static void
test_load_original (Fixture *f, gconstpointer data)
{
  g_autoptr (FaWanVae) original = load_ok (original_path, f->cpu);
  g_autoptr (FaWanVae) folder = load_ok (vae_dir, f->cpu);

  /* no config.json: sizes from the shapes, Wan2.1's mean and std */
  assert_tiny_model (original);
  assert_same_weights (folder, original);
}

/* fa_wan_vae_load_weights with and without config.json. */
static void
test_load_weights (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaWeights) weights = fa_weights_open (vae_file, &error);
  g_assert_no_error (error);

  g_autoptr (FaWanVae) with_config = fa_wan_vae_load_weights (weights, vae_config, f->cpu, &error);
  g_assert_no_error (error);
  g_autoptr (FaWanVae) without = fa_wan_vae_load_weights (weights, NULL, f->cpu, &error);
  g_assert_no_error (error);
  assert_tiny_model (with_config);
  assert_tiny_model (without);
  assert_same_weights (with_config, without);

  /* the diffusers file alone in a folder, no config.json beside it */
  g_autofree char *dir = make_subdir (f, "alone");
  g_autoptr (TensorSet) set = tensor_set_read (vae_file, "", f->cpu);
  g_autofree char *path = tensor_set_write (set, dir, "vae.safetensors");
  g_autoptr (FaWanVae) alone = load_ok (path, f->cpu);
  assert_same_weights (with_config, alone);
}

/* A bf16 copy of the original file loads to the same bits (the weights are
 * exact in bf16). */
static void
test_load_bf16 (Fixture *f, gconstpointer data)
{
  g_autoptr (TensorSet) set = tensor_set_read (original_path, "", f->cpu);
  for (guint i = 0; i < set->tensors->len; i++)
    {
      g_autoptr (GError) error = NULL;
      FaTensor *bf16 = fa_tensor_to (set->tensors->pdata[i], f->cpu, FA_DTYPE_BF16, &error);
      g_assert_no_error (error);
      fa_tensor_unref (set->tensors->pdata[i]);
      set->tensors->pdata[i] = bf16;
    }
  g_autofree char *path = tensor_set_write (set, f->dir, "vae-bf16.safetensors");

  g_autoptr (FaWanVae) bf16 = load_ok (path, f->cpu);
  g_autoptr (FaWanVae) folder = load_ok (vae_dir, f->cpu);
  assert_same_weights (folder, bf16);
}

/* The whole-set prefix comes off; the stored tensors do not change. */
static void
test_load_prefixed (Fixture *f, gconstpointer data)
{
  g_autoptr (FaWanVae) folder = load_ok (vae_dir, f->cpu);

  g_autoptr (TensorSet) original = tensor_set_read (original_path, "first_stage_model.", f->cpu);
  g_autofree char *original_file = tensor_set_write (original, f->dir, "prefixed-original.safetensors");
  g_autoptr (FaWanVae) a = load_ok (original_file, f->cpu);
  assert_tiny_model (a);
  assert_same_weights (folder, a);

  g_autoptr (TensorSet) diffusers = tensor_set_read (vae_file, "vae.", f->cpu);
  g_autofree char *diffusers_file = tensor_set_write (diffusers, f->dir, "prefixed-diffusers.safetensors");
  g_autoptr (FaWanVae) b = load_ok (diffusers_file, f->cpu);
  assert_same_weights (folder, b);

  /* a prefix on some names only is not stripped: those are unexpected */
  g_autoptr (GError) error = NULL;
  g_autoptr (TensorSet) mixed = tensor_set_read (original_path, "", f->cpu);
  guint i = tensor_set_find (mixed, "conv2.bias");
  g_free (mixed->names->pdata[i]);
  mixed->names->pdata[i] = g_strdup ("vae.conv2.bias");
  g_autofree char *mixed_file = tensor_set_write (mixed, f->dir, "mixed.safetensors");
  g_autoptr (FaWanVae) c = fa_wan_vae_load (mixed_file, f->cpu, &error);
  g_assert_null (c);
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_NOT_FOUND, "conv2.bias");
}

/* On CUDA, convolutions in f16 (the tiny weights are exact in f16),
 * vectors in f32: the same values as on the CPU. */
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
  g_autoptr (FaWanVae) host = load_ok (vae_dir, f->cpu);
  FaWanVae *device = load_ok (original_path, cuda);
  g_assert_cmpint (device->conv_dtype, ==, FA_DTYPE_F16);
  assert_model_shapes (device);

  g_autoptr (GPtrArray) specs = _fa_wan_vae_expected_tensors (fa_wan_vae_get_config (host));
  for (guint i = 0; i < specs->len; i++)
    {
      const FaWanVaeTensorSpec *spec = specs->pdata[i];
      g_autoptr (FaTensor) back = fa_tensor_to (_fa_wan_vae_weight (device, spec->name), f->cpu,
                                                FA_DTYPE_F32, &error);
      g_assert_no_error (error);
      FaTensor *want = _fa_wan_vae_weight (host, spec->name);
      g_assert_true (fa_tensor_same_shape (back, want));
      if (memcmp (fa_tensor_get_data (back), fa_tensor_get_data (want), fa_tensor_get_nbytes (want)) != 0)
        g_error ("weight '%s' differs on CUDA", spec->name);
    }

  guint64 current = 1;
  fa_wan_vae_free (device);
  fa_backend_get_memory (cuda, &current, NULL);
  g_assert_cmpuint (current, ==, 0);

  FaWanVaeConfig config;
  tiny_config_init (&config);
  g_autoptr (FaWanVae) random = fa_wan_vae_new_random (&config, cuda, 3, &error);
  g_assert_no_error (error);
  assert_model_shapes (random);
}

/* ---- the stored layout ---- */

/* @name's stored weight against the diffusers checkpoint's tensor, element
 * by element with the indices written out: stored [Co, kt, kh, kw, Ci]
 * from PyTorch's [Co, Ci, kt, kh, kw] (2-D: [Co, Ci, kh, kw], kt = 1). */
static void
assert_permuted (FaWanVae *vae, FaWeights *weights, const char *name, FaBackend *cpu)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTensor) src = fa_weights_load (weights, name, cpu, FA_DTYPE_F32, &error);
  g_assert_no_error (error);
  FaTensor *dst = _fa_wan_vae_weight (vae, name);
  g_assert_nonnull (dst);

  gint64 co = src->shape[0], ci = src->shape[1];
  gint64 kt = src->ndim == 5 ? src->shape[2] : 1;
  gint64 kh = src->shape[src->ndim - 2], kw = src->shape[src->ndim - 1];
  g_assert_cmpint (dst->ndim, ==, 5);
  g_assert_cmpint (dst->shape[0], ==, co);
  g_assert_cmpint (dst->shape[1], ==, kt);
  g_assert_cmpint (dst->shape[2], ==, kh);
  g_assert_cmpint (dst->shape[3], ==, kw);
  g_assert_cmpint (dst->shape[4], ==, ci);

  const float *s = fa_tensor_get_data (src), *d = fa_tensor_get_data (dst);
  gboolean nonzero = FALSE;
  for (gint64 o = 0; o < co; o++)
    for (gint64 c = 0; c < ci; c++)
      for (gint64 t = 0; t < kt; t++)
        for (gint64 y = 0; y < kh; y++)
          for (gint64 x = 0; x < kw; x++)
            {
              float want = s[(((o * ci + c) * kt + t) * kh + y) * kw + x];
              float got = d[(((o * kt + t) * kh + y) * kw + x) * ci + c];
              if (fa_f32_bits (want) != fa_f32_bits (got))
                g_error ("%s[o %" G_GINT64_FORMAT ", c %" G_GINT64_FORMAT ", t %" G_GINT64_FORMAT
                         ", y %" G_GINT64_FORMAT ", x %" G_GINT64_FORMAT "]: %g, expected %g", name,
                         o, c, t, y, x, (double) got, (double) want);
              nonzero |= want != 0.0f;
            }
  g_assert_true (nonzero);
}

static void
test_layout (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaWanVae) vae = load_ok (vae_dir, f->cpu);
  g_autoptr (FaWeights) weights = fa_weights_open (vae_file, &error);
  g_assert_no_error (error);

  /* a 3-D convolution with Ci ≠ Co, a 2-D resample conv, to_qkv, a
   * time_conv and a 1×1×1 shortcut */
  assert_permuted (vae, weights, "encoder.down_blocks.3.conv1.weight", f->cpu);
  assert_permuted (vae, weights, "decoder.up_blocks.0.upsamplers.0.resample.1.weight", f->cpu);
  assert_permuted (vae, weights, "decoder.mid_block.attentions.0.to_qkv.weight", f->cpu);
  assert_permuted (vae, weights, "decoder.up_blocks.1.upsamplers.0.time_conv.weight", f->cpu);
  assert_permuted (vae, weights, "encoder.down_blocks.6.conv_shortcut.weight", f->cpu);

  /* one element by hand: conv1 [16, 8, 3, 3, 3] → [16, 3, 3, 3, 8];
   * element (o 5, ci 7, t 2, y 1, x 0) */
  g_autoptr (FaTensor) src = fa_weights_load (weights, "encoder.down_blocks.3.conv1.weight", f->cpu,
                                              FA_DTYPE_F32, &error);
  g_assert_no_error (error);
  const float *s = fa_tensor_get_data (src);
  const float *d = fa_tensor_get_data (_fa_wan_vae_weight (vae, "encoder.down_blocks.3.conv1.weight"));
  g_assert_cmpfloat (d[5 * 216 + 2 * 72 + 1 * 24 + 0 * 8 + 7], ==, s[5 * 216 + 7 * 27 + 2 * 9 + 1 * 3 + 0]);

  /* gammas and biases are flat f32 vectors */
  const char *const vectors[] = { "decoder.mid_block.attentions.0.norm.gamma",
                                  "encoder.norm_out.gamma", "decoder.conv_out.bias" };
  for (guint i = 0; i < G_N_ELEMENTS (vectors); i++)
    {
      g_autoptr (FaTensor) want = fa_weights_load (weights, vectors[i], f->cpu, FA_DTYPE_F32, &error);
      g_assert_no_error (error);
      FaTensor *got = _fa_wan_vae_weight (vae, vectors[i]);
      g_assert_cmpint (got->ndim, ==, 1);
      g_assert_cmpint (got->shape[0], ==, want->shape[0]);
      g_assert_cmpmem (fa_tensor_get_data (got), fa_tensor_get_nbytes (got), fa_tensor_get_data (want),
                       fa_tensor_get_nbytes (want));
    }
  g_assert_null (_fa_wan_vae_weight (vae, "decoder.up_blocks.3.upsamplers.0.resample.1.weight"));
}

/* ---- names ---- */

static void
test_names (Fixture *f, gconstpointer data)
{
  FaWanVaeConfig config;
  fa_wan_vae_config_init_2_1 (&config);
  g_autoptr (GPtrArray) specs = _fa_wan_vae_expected_tensors (&config);
  g_assert_cmpuint (specs->len, ==, TINY_TENSORS);

  /* inverse on every name, and the original names are the file's */
  g_autoptr (GError) error = NULL;
  g_autoptr (FaWeights) original = fa_weights_open (original_path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fa_weights_get_n_tensors (original), ==, TINY_TENSORS);
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < specs->len; i++)
    {
      const FaWanVaeTensorSpec *spec = specs->pdata[i];
      g_autofree char *name = _fa_wan_vae_original_name (spec->name);
      if (name == NULL)
        g_error ("no original name for '%s'", spec->name);
      g_autofree char *back = _fa_wan_vae_diffusers_name (name);
      g_assert_cmpstr (back, ==, spec->name);
      if (fa_weights_lookup (original, name) == NULL)
        g_error ("'%s' (for '%s') is not in the original file", name, spec->name);
      g_assert_true (g_hash_table_add (seen, g_steal_pointer (&name)));
    }
  for (guint i = 0; i < fa_weights_get_n_tensors (original); i++)
    {
      const char *name = fa_weights_get_entry (original, i)->name;
      g_autofree char *diffusers = _fa_wan_vae_diffusers_name (name);
      g_assert_nonnull (diffusers);
      g_autofree char *back = _fa_wan_vae_original_name (diffusers);
      g_assert_cmpstr (back, ==, name);
    }

  /* spec C.5 spelled out */
  static const struct {
    const char *diffusers, *original;
  } pairs[] = {
    { "decoder.up_blocks.1.resnets.0.conv_shortcut.weight", "decoder.upsamples.4.shortcut.weight" },
    { "decoder.up_blocks.0.upsamplers.0.time_conv.weight", "decoder.upsamples.3.time_conv.weight" },
    { "decoder.up_blocks.1.upsamplers.0.resample.1.bias", "decoder.upsamples.7.resample.1.bias" },
    { "decoder.up_blocks.2.upsamplers.0.resample.1.weight", "decoder.upsamples.11.resample.1.weight" },
    { "decoder.up_blocks.3.resnets.2.norm2.gamma", "decoder.upsamples.14.residual.3.gamma" },
    { "decoder.up_blocks.1.resnets.0.conv1.weight", "decoder.upsamples.4.residual.2.weight" },
    { "quant_conv.weight", "conv1.weight" },
    { "post_quant_conv.bias", "conv2.bias" },
    { "encoder.conv_in.weight", "encoder.conv1.weight" },
    { "decoder.conv_in.bias", "decoder.conv1.bias" },
    { "decoder.mid_block.attentions.0.to_qkv.weight", "decoder.middle.1.to_qkv.weight" },
    { "encoder.mid_block.attentions.0.norm.gamma", "encoder.middle.1.norm.gamma" },
    { "encoder.mid_block.resnets.1.conv2.bias", "encoder.middle.2.residual.6.bias" },
    { "decoder.mid_block.resnets.0.norm1.gamma", "decoder.middle.0.residual.0.gamma" },
    { "encoder.norm_out.gamma", "encoder.head.0.gamma" },
    { "decoder.conv_out.weight", "decoder.head.2.weight" },
    { "encoder.down_blocks.5.time_conv.weight", "encoder.downsamples.5.time_conv.weight" },
    { "encoder.down_blocks.3.conv_shortcut.bias", "encoder.downsamples.3.shortcut.bias" },
    { "encoder.down_blocks.10.norm1.gamma", "encoder.downsamples.10.residual.0.gamma" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (pairs); i++)
    {
      g_autofree char *original_name = _fa_wan_vae_original_name (pairs[i].diffusers);
      g_autofree char *diffusers_name = _fa_wan_vae_diffusers_name (pairs[i].original);
      g_assert_cmpstr (original_name, ==, pairs[i].original);
      g_assert_cmpstr (diffusers_name, ==, pairs[i].diffusers);
    }

  /* names of no module of Wan2.1's VAE */
  static const char *const no_original[] = {
    "decoder.up_blocks.3.upsamplers.0.resample.1.weight", "decoder.up_blocks.0.resnets.3.norm1.gamma",
    "decoder.up_blocks.4.resnets.0.norm1.gamma", "encoder.down_blocks.11.norm1.gamma",
    "encoder.down_blocks.2.norm1.gamma", "encoder.down_blocks.1.resample.1.weight",
    "decoder.upsamples.3.time_conv.weight", "conv1.weight", "quant_conv.weight.extra", "vae.quant_conv.weight",
    "decoder.up_blocks.01.resnets.0.norm1.gamma", "encoder.mid_block.attentions.0.to_q.weight", "",
  };
  for (guint i = 0; i < G_N_ELEMENTS (no_original); i++)
    {
      g_autofree char *name = _fa_wan_vae_original_name (no_original[i]);
      if (name != NULL)
        g_error ("'%s' has the original name '%s'", no_original[i], name);
    }
  static const char *const no_diffusers[] = {
    "decoder.upsamples.15.residual.0.gamma", "decoder.upsamples.2.resample.1.weight",
    "decoder.upsamples.3.residual.2.weight", "encoder.downsamples.11.resample.1.weight",
    "encoder.downsamples.2.residual.0.gamma", "encoder.middle.3.residual.0.gamma",
    "decoder.head.1.weight", "conv3.weight", "quant_conv.weight", "encoder.conv_in.weight",
    "decoder.upsamples.x.residual.0.gamma", "decoder.upsamples.4.residual.1.weight",
  };
  for (guint i = 0; i < G_N_ELEMENTS (no_diffusers); i++)
    {
      g_autofree char *name = _fa_wan_vae_diffusers_name (no_diffusers[i]);
      if (name != NULL)
        g_error ("'%s' has the diffusers name '%s'", no_diffusers[i], name);
    }
}

/* ---- configuration ---- */

static void
test_config_2_1 (Fixture *f, gconstpointer data)
{
  FaWanVaeConfig config;
  g_autoptr (GError) error = NULL;

  fa_wan_vae_config_init_2_1 (&config);
  g_assert_cmpint (config.base_dim, ==, 96);
  g_assert_true (_fa_wan_vae_config_check (&config, &error));
  g_assert_no_error (error);
  config.base_dim = 8;
  assert_tiny_config (&config);

  /* spec C.3: the real VAE's tensors and parameters */
  fa_wan_vae_config_init_2_1 (&config);
  g_autoptr (GPtrArray) specs = _fa_wan_vae_expected_tensors (&config);
  guint64 parameters = 0;
  for (guint i = 0; i < specs->len; i++)
    {
      const FaWanVaeTensorSpec *spec = specs->pdata[i];
      guint64 numel = 1;
      for (int d = 0; d < spec->ndim; d++)
        numel *= (guint64) spec->shape[d];
      parameters += numel;
    }
  g_assert_cmpuint (specs->len, ==, 194);
  g_assert_cmpuint (parameters, ==, 126892531);

  int widths[] = { 96, 96, 192, 384, 384 };
  for (int stage = 0; stage <= 4; stage++)
    g_assert_cmpint (_fa_wan_vae_encoder_dim (&config, stage), ==, widths[stage]);

  /* the check names the field */
  static const char *const fields[] = { "base_dim", "z_dim", "dim_mult[2]", "num_res_blocks",
                                        "latents_std[3]" };
  for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
    {
      g_autoptr (GError) bad = NULL;
      fa_wan_vae_config_init_2_1 (&config);
      switch (i)
        {
        case 0: config.base_dim = 0; break;
        case 1: config.z_dim = FA_WAN_VAE_MAX_Z_DIM + 1; break;
        case 2: config.dim_mult[2] = -4; break;
        case 3: config.num_res_blocks = 0; break;
        default: config.latents_std[3] = 0.0f; break;
        }
      g_assert_false (_fa_wan_vae_config_check (&config, &bad));
      fa_test_assert_error_message (bad, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, fields[i]);
    }
}

/* A copy of the diffusers folder whose config.json has @from replaced by
 * @to; returns the folder. */
static char *
folder_with_config (Fixture *f, const char *name, const char *from, const char *to)
{
  char *dir = make_subdir (f, name);
  g_autofree char *text = read_text (vae_config, NULL);
  g_autofree char *changed = replace_once (text, from, to);
  write_text (dir, "config.json", changed);

  gsize length = 0;
  g_autofree char *weights = read_text (vae_file, &length);
  g_autofree char *path = g_build_filename (dir, "diffusion_pytorch_model.safetensors", NULL);
  g_autoptr (GError) error = NULL;
  g_file_set_contents (path, weights, (gssize) length, &error);
  g_assert_no_error (error);
  return dir;
}

static void
assert_config_load_fails (Fixture *f, const char *from, const char *to, int code, const char *fragment,
                          gboolean names_config)
{
  static int count;
  g_autofree char *name = g_strdup_printf ("config-%d", count++);
  g_autofree char *dir = folder_with_config (f, name, from, to);
  g_autoptr (GError) error = NULL;
  g_autoptr (FaWanVae) vae = fa_wan_vae_load (dir, f->cpu, &error);

  g_assert_null (vae);
  fa_test_assert_error_message (error, FA_ERROR, code, fragment);
  if (names_config)
    fa_test_assert_error_message (error, FA_ERROR, code, "config.json");
}

/* config.json itself is wrong: the message names it (and @fragment). */
static void
assert_config_fails (Fixture *f, const char *from, const char *to, int code, const char *fragment)
{
  assert_config_load_fails (f, from, to, code, fragment, TRUE);
}

static void
test_config_json (Fixture *f, gconstpointer data)
{
  /* Wan2.2 and friends */
  assert_config_fails (f, "\"is_residual\": false", "\"is_residual\": true", FA_ERROR_UNSUPPORTED,
                       "is_residual: Wan2.2");
  assert_config_fails (f, "\"patch_size\": null", "\"patch_size\": 2", FA_ERROR_UNSUPPORTED,
                       "patch_size");
  assert_config_fails (f, "\"attn_scales\": []", "\"attn_scales\": [0.5]", FA_ERROR_UNSUPPORTED,
                       "attn_scales");
  assert_config_fails (f, "\"in_channels\": 3", "\"in_channels\": 12", FA_ERROR_UNSUPPORTED,
                       "in_channels");
  assert_config_fails (f, "\"out_channels\": 3", "\"out_channels\": 4", FA_ERROR_UNSUPPORTED,
                       "out_channels");
  assert_config_fails (f, "\"decoder_base_dim\": null", "\"decoder_base_dim\": 16",
                       FA_ERROR_UNSUPPORTED, "decoder_base_dim");
  assert_config_fails (f, "\"z_dim\": 16", "\"z_dim\": 65", FA_ERROR_UNSUPPORTED, "z_dim");
  assert_config_fails (f, "\"_class_name\": \"AutoencoderKLWan\"", "\"_class_name\": \"AutoencoderKL\"",
                       FA_ERROR_INVALID_ARGUMENT, "AutoencoderKL");

  /* bad values */
  assert_config_fails (f, "\"dim_mult\": [\n    1,\n    2,\n    4,\n    4\n  ]",
                       "\"dim_mult\": [1, 2, 0, 4]", FA_ERROR_CORRUPT_FILE, "dim_mult");
  assert_config_fails (f, "\"dim_mult\": [\n    1,\n    2,\n    4,\n    4\n  ]",
                       "\"dim_mult\": \"1, 2, 4, 4\"", FA_ERROR_CORRUPT_FILE, "dim_mult");
  assert_config_fails (f, "\"dim_mult\": [\n    1,\n    2,\n    4,\n    4\n  ]",
                       "\"dim_mult\": [1, 2, 4.5, 4]", FA_ERROR_CORRUPT_FILE, "dim_mult");
  assert_config_fails (f, "\"dim_mult\": [\n    1,\n    2,\n    4,\n    4\n  ]",
                       "\"dim_mult\": [1, 2, 4]", FA_ERROR_UNSUPPORTED, "dim_mult");
  assert_config_fails (f, "\"base_dim\": 8", "\"base_dim\": -8", FA_ERROR_CORRUPT_FILE, "base_dim");
  assert_config_fails (f, "\"num_res_blocks\": 2", "\"num_res_blocks\": \"2\"", FA_ERROR_CORRUPT_FILE,
                       "num_res_blocks");
  assert_config_fails (f, "\"temperal_downsample\": [\n    false,\n    true,\n    true\n  ]",
                       "\"temperal_downsample\": [false, true]", FA_ERROR_CORRUPT_FILE,
                       "temperal_downsample");
  assert_config_fails (f, "\"temperal_downsample\": [\n    false,\n    true,\n    true\n  ]",
                       "\"temperal_downsample\": [0, 1, 1]", FA_ERROR_CORRUPT_FILE,
                       "temperal_downsample");
  assert_config_fails (f, "-0.7571,", "", FA_ERROR_CORRUPT_FILE, "latents_mean");
  assert_config_fails (f, "1.916\n", "\"x\"\n", FA_ERROR_CORRUPT_FILE, "latents_std");
  assert_config_fails (f, "1.916\n", "-1.916\n", FA_ERROR_INVALID_ARGUMENT, "latents_std[15]");

  /* a config that does not fit the weights: the check names a tensor */
  assert_config_load_fails (f, "\"base_dim\": 8", "\"base_dim\": 16", FA_ERROR_CORRUPT_FILE,
                            "encoder.conv_in.weight has shape [8, 3, 3, 3, 3], expected [16, 3, 3, 3, 3]",
                            FALSE);
  assert_config_load_fails (f, "\"temperal_downsample\": [\n    false,\n    true,\n    true\n  ]",
                            "\"temperal_downsample\": [true, true, true]", FA_ERROR_NOT_FOUND,
                            "encoder.down_blocks.2.time_conv.weight", FALSE);

  /* values the config may leave out: Wan2.1's, and the shapes */
  g_autofree char *dir = folder_with_config (f, "sparse", "\"base_dim\": 8,", "");
  g_autoptr (FaWanVae) vae = load_ok (dir, f->cpu);
  assert_tiny_model (vae);

  /* the config's own mean and std are taken */
  g_autofree char *dir2 = folder_with_config (f, "own-mean", "-0.7571,", "0.25,");
  g_autoptr (FaWanVae) own = load_ok (dir2, f->cpu);
  g_assert_cmpfloat (fa_wan_vae_get_config (own)->latents_mean[0], ==, 0.25f);
  g_assert_cmpfloat (fa_wan_vae_get_config (own)->latents_mean[1], ==, -0.7089f);
}

/* A config.json of another model beside a single file is ignored. */
static void
test_config_stray (Fixture *f, gconstpointer data)
{
  g_autofree char *dir = make_subdir (f, "stray");
  write_text (dir, "config.json", "{\"_class_name\": \"WanTransformer3DModel\", \"num_layers\": 30}");
  g_autoptr (TensorSet) set = tensor_set_read (original_path, "", f->cpu);
  g_autofree char *path = tensor_set_write (set, dir, "wan_2.1_vae.safetensors");

  g_autoptr (FaWanVae) vae = load_ok (path, f->cpu);
  assert_tiny_model (vae);
}

/* ---- other sizes: num_res_blocks 1, original names renumbered ---- */

/* @part of a resnet or resample ("conv1.weight", "time_conv.bias") under
 * its original name, through a Wan2.1 name that has it. */
static char *
original_part (const char *part)
{
  gboolean resample = g_str_has_prefix (part, "resample.") || g_str_has_prefix (part, "time_conv.");
  g_autofree char *probe = g_strconcat (resample ? "decoder.up_blocks.0.upsamplers.0."
                                                 : "decoder.up_blocks.0.resnets.0.", part, NULL);
  g_autofree char *name = _fa_wan_vae_original_name (probe);
  const char *head = resample ? "decoder.upsamples.3." : "decoder.upsamples.0.";

  g_assert_nonnull (name);
  g_assert_true (g_str_has_prefix (name, head));
  return g_strdup (name + strlen (head));
}

/* The original name of @diffusers in a VAE with num_res_blocks 1, written
 * out independently of the loader: decoder.upsamples.N counts 2 resnets
 * and the upsampler per up block, N = block · 3 + slot. */
static char *
original_name_nrb1 (const char *diffusers)
{
  int block, slot;
  char part[256];

  if (sscanf (diffusers, "decoder.up_blocks.%d.resnets.%d.%255s", &block, &slot, part) == 3)
    {
      g_autofree char *renamed = original_part (part);
      return g_strdup_printf ("decoder.upsamples.%d.%s", block * 3 + slot, renamed);
    }
  if (sscanf (diffusers, "decoder.up_blocks.%d.upsamplers.0.%255s", &block, part) == 2)
    return g_strdup_printf ("decoder.upsamples.%d.%s", block * 3 + 2, part);
  if (sscanf (diffusers, "encoder.down_blocks.%d.%255s", &block, part) == 2)
    {
      g_autofree char *renamed = original_part (part);
      return g_strdup_printf ("encoder.downsamples.%d.%s", block, renamed);
    }
  char *name = _fa_wan_vae_original_name (diffusers);
  g_assert_nonnull (name);
  return name;
}

/* Checkpoints of a VAE with num_res_blocks 1 (shapes from the expected
 * list, distinct constant values) in both layouts, with a config.json. */
static void
test_num_res_blocks (Fixture *f, gconstpointer data)
{
  FaWanVaeConfig config;
  tiny_config_init (&config);
  config.num_res_blocks = 1;
  g_autoptr (GPtrArray) specs = _fa_wan_vae_expected_tensors (&config);
  /* per stage one resnet fewer in the encoder and in every up block */
  g_assert_cmpuint (specs->len, ==, TINY_TENSORS - 4 * 6 - 4 * 6);

  g_autoptr (TensorSet) diffusers = tensor_set_new ();
  g_autoptr (TensorSet) original = tensor_set_new ();
  for (guint i = 0; i < specs->len; i++)
    {
      const FaWanVaeTensorSpec *spec = specs->pdata[i];
      g_autofree char *name = original_name_nrb1 (spec->name);
      float value = 0.25f + (float) i / 256.0f;
      tensor_set_add (diffusers, spec->name, new_f32_filled (f->cpu, spec->ndim, spec->shape, value));
      tensor_set_add (original, name, new_f32_filled (f->cpu, spec->ndim, spec->shape, value));
    }
  g_autofree char *text = read_text (vae_config, NULL);
  g_autofree char *changed = replace_once (text, "\"num_res_blocks\": 2", "\"num_res_blocks\": 1");

  g_autofree char *diffusers_dir = make_subdir (f, "nrb1-diffusers");
  write_text (diffusers_dir, "config.json", changed);
  g_free (tensor_set_write (diffusers, diffusers_dir, "diffusion_pytorch_model.safetensors"));
  g_autofree char *original_dir = make_subdir (f, "nrb1-original");
  write_text (original_dir, "config.json", changed);
  g_autofree char *original_file = tensor_set_write (original, original_dir, "vae.safetensors");

  g_autoptr (FaWanVae) a = load_ok (diffusers_dir, f->cpu);
  g_autoptr (FaWanVae) b = load_ok (original_file, f->cpu);
  assert_config_equal (fa_wan_vae_get_config (a), &config);
  assert_config_equal (fa_wan_vae_get_config (b), &config);
  assert_model_shapes (a);
  assert_same_weights (a, b);
  const float *up = fa_tensor_get_data (_fa_wan_vae_weight (b, "decoder.up_blocks.2.upsamplers.0.resample.1.bias"));
  g_autofree char *up_original = original_name_nrb1 ("decoder.up_blocks.2.upsamplers.0.resample.1.bias");
  g_assert_cmpstr (up_original, ==, "decoder.upsamples.8.resample.1.bias");
  const float *want = fa_tensor_get_data (tensor_set_get (original, up_original));
  g_assert_cmpfloat (up[0], ==, want[0]);

  /* the Wan2.1 file read with num_res_blocks 1 does not fit */
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = folder_with_config (f, "nrb1-wrong", "\"num_res_blocks\": 2",
                                             "\"num_res_blocks\": 1");
  g_autoptr (FaWanVae) c = fa_wan_vae_load (dir, f->cpu, &error);
  g_assert_null (c);
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_NOT_FOUND,
                                "encoder.down_blocks.1.resample.1.weight");
}

/* ---- bad checkpoints ---- */

/* @set written to @f's folder as @name. */
static char *
write_variant (Fixture *f, TensorSet *set, const char *name)
{
  return tensor_set_write (set, f->dir, name);
}

static void
assert_load_fails (Fixture *f, const char *path, int code, const char *fragment)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaWanVae) vae = fa_wan_vae_load (path, f->cpu, &error);

  g_assert_null (vae);
  fa_test_assert_error_message (error, FA_ERROR, code, fragment);
}

static void
test_bad_missing (Fixture *f, gconstpointer data)
{
  g_autoptr (TensorSet) set = tensor_set_read (original_path, "", f->cpu);
  tensor_set_remove (set, "decoder.upsamples.4.shortcut.weight");
  g_autofree char *path = write_variant (f, set, "missing.safetensors");

  assert_load_fails (f, path, FA_ERROR_NOT_FOUND,
                     "decoder.up_blocks.1.resnets.0.conv_shortcut.weight (original name "
                     "decoder.upsamples.4.shortcut.weight) [32, 16, 1, 1, 1] is missing");

  /* several: the first few named and a count */
  tensor_set_remove (set, "encoder.downsamples.0.residual.0.gamma");
  tensor_set_remove (set, "encoder.downsamples.0.residual.2.weight");
  tensor_set_remove (set, "encoder.downsamples.0.residual.2.bias");
  tensor_set_remove (set, "conv1.bias");
  g_autofree char *path2 = write_variant (f, set, "missing-more.safetensors");
  assert_load_fails (f, path2, FA_ERROR_NOT_FOUND, "(and 2 more) are missing");

  /* the layout's key tensor itself */
  g_autoptr (TensorSet) no_key = tensor_set_read (original_path, "", f->cpu);
  tensor_set_remove (no_key, "decoder.middle.0.residual.0.gamma");
  g_autofree char *path5 = write_variant (f, no_key, "no-key.safetensors");
  assert_load_fails (f, path5, FA_ERROR_NOT_FOUND,
                     "tensor decoder.mid_block.resnets.0.norm1.gamma (original name "
                     "decoder.middle.0.residual.0.gamma) [32, 1, 1, 1] is missing");

  /* the diffusers layout names the tensor alone */
  g_autoptr (TensorSet) diffusers = tensor_set_read (vae_file, "", f->cpu);
  tensor_set_remove (diffusers, "decoder.mid_block.attentions.0.proj.bias");
  g_autofree char *path3 = write_variant (f, diffusers, "missing-diffusers.safetensors");
  assert_load_fails (f, path3, FA_ERROR_NOT_FOUND,
                     "tensor decoder.mid_block.attentions.0.proj.bias [32] is missing");

  /* without the tensors the sizes come from */
  g_autoptr (TensorSet) no_stem = tensor_set_read (original_path, "", f->cpu);
  tensor_set_remove (no_stem, "conv2.weight");
  g_autofree char *path4 = write_variant (f, no_stem, "no-post-quant.safetensors");
  assert_load_fails (f, path4, FA_ERROR_NOT_FOUND, "z_dim: tensor conv2.weight is missing");
}

static void
test_bad_shape (Fixture *f, gconstpointer data)
{
  g_autoptr (TensorSet) set = tensor_set_read (original_path, "", f->cpu);
  const gint64 shape[5] = { 32, 16, 3, 3, 1 };
  tensor_set_replace (set, "decoder.upsamples.4.residual.2.weight", new_f32_filled (f->cpu, 5, shape, 0.5f));
  g_autofree char *path = write_variant (f, set, "shape.safetensors");

  assert_load_fails (f, path, FA_ERROR_CORRUPT_FILE,
                     "tensor decoder.up_blocks.1.resnets.0.conv1.weight (original name "
                     "decoder.upsamples.4.residual.2.weight) has shape [32, 16, 3, 3, 1], expected "
                     "[32, 16, 3, 3, 3]");

  /* a gamma of the wrong rank */
  g_autoptr (TensorSet) diffusers = tensor_set_read (vae_file, "", f->cpu);
  const gint64 flat[1] = { 32 };
  tensor_set_replace (diffusers, "encoder.mid_block.attentions.0.norm.gamma",
                      new_f32_filled (f->cpu, 1, flat, 1.0f));
  g_autofree char *path2 = write_variant (f, diffusers, "rank.safetensors");
  assert_load_fails (f, path2, FA_ERROR_CORRUPT_FILE,
                     "encoder.mid_block.attentions.0.norm.gamma has shape [32], expected [32, 1, 1]");
}

static void
test_bad_extra (Fixture *f, gconstpointer data)
{
  g_autoptr (TensorSet) set = tensor_set_read (original_path, "", f->cpu);
  const gint64 shape[1] = { 4 };
  tensor_set_add (set, "decoder.upsamples.15.residual.0.gamma", new_f32_filled (f->cpu, 1, shape, 1.0f));
  g_autofree char *path = write_variant (f, set, "extra.safetensors");
  assert_load_fails (f, path, FA_ERROR_CORRUPT_FILE,
                     "unexpected tensor decoder.upsamples.15.residual.0.gamma: not part of");

  for (int i = 0; i < 4; i++)
    {
      g_autofree char *name = g_strdup_printf ("model_ema.extra%d", i);
      tensor_set_add (set, name, new_f32_filled (f->cpu, 1, shape, 1.0f));
    }
  g_autofree char *path2 = write_variant (f, set, "extras.safetensors");
  assert_load_fails (f, path2, FA_ERROR_CORRUPT_FILE, "(and 2 more)");
}

static void
test_bad_dtype (Fixture *f, gconstpointer data)
{
  g_autoptr (TensorSet) set = tensor_set_read (original_path, "", f->cpu);
  g_autoptr (GError) error = NULL;
  const gint64 shape[1] = { 3 };
  FaTensor *ints = fa_tensor_new (f->cpu, FA_DTYPE_I32, 1, shape, &error);
  g_assert_no_error (error);
  memset (fa_tensor_get_data (ints), 0, fa_tensor_get_nbytes (ints));
  tensor_set_replace (set, "decoder.head.2.bias", ints);
  g_autofree char *path = write_variant (f, set, "dtype.safetensors");
  assert_load_fails (f, path, FA_ERROR_DTYPE, "decoder.conv_out.bias (original name decoder.head.2.bias)");
}

static void
test_bad_truncated (Fixture *f, gconstpointer data)
{
  gsize length = 0;
  g_autofree char *bytes = read_text (original_path, &length);
  const gsize cuts[] = { length / 2, length - 1, 100, 7, 0 };

  for (guint i = 0; i < G_N_ELEMENTS (cuts); i++)
    {
      g_autofree char *name = g_strdup_printf ("truncated-%u.safetensors", i);
      g_autofree char *path = g_build_filename (f->dir, name, NULL);
      g_autoptr (GError) error = NULL;
      g_file_set_contents (path, bytes, (gssize) cuts[i], &error);
      g_assert_no_error (error);

      g_autoptr (FaWanVae) vae = fa_wan_vae_load (path, f->cpu, &error);
      g_assert_null (vae);
      g_assert_nonnull (error);
      g_assert_true (error->domain == FA_ERROR);
    }
  /* no such file: an error (of GIO's domain), no crash */
  g_autoptr (GError) error = NULL;
  g_autoptr (FaWanVae) none = fa_wan_vae_load ("/nonexistent/vae.safetensors", f->cpu, &error);
  g_assert_null (none);
  g_assert_nonnull (error);
}

/* ---- random weights ---- */

static void
test_random (Fixture *f, gconstpointer data)
{
  FaWanVaeConfig config;
  g_autoptr (GError) error = NULL;

  tiny_config_init (&config);
  g_autoptr (FaWanVae) a = fa_wan_vae_new_random (&config, f->cpu, 7, &error);
  g_assert_no_error (error);
  g_autoptr (FaWanVae) b = fa_wan_vae_new_random (&config, f->cpu, 7, &error);
  g_assert_no_error (error);
  g_autoptr (FaWanVae) c = fa_wan_vae_new_random (&config, f->cpu, 8, &error);
  g_assert_no_error (error);

  assert_tiny_model (a);
  assert_config_equal (fa_wan_vae_get_config (a), &config);
  assert_same_weights (a, b);

  /* statistics per kind, and another seed gives other values */
  g_autoptr (GPtrArray) specs = _fa_wan_vae_expected_tensors (&config);
  for (guint i = 0; i < specs->len; i++)
    {
      const FaWanVaeTensorSpec *spec = specs->pdata[i];
      FaTensor *ta = _fa_wan_vae_weight (a, spec->name);
      const float *x = fa_tensor_get_data (ta);
      const float *y = fa_tensor_get_data (_fa_wan_vae_weight (c, spec->name));
      gint64 n = fa_tensor_get_numel (ta);
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
      double want_mean = spec->kind == FA_WAN_VAE_TENSOR_GAMMA ? 1.0 : 0.0;
      double want_std = spec->kind == FA_WAN_VAE_TENSOR_CONV ? 1.0 / sqrt ((double) (n / spec->shape[0]))
                        : 0.1;
      /* loose: the smallest tensors have 3 values */
      g_assert_cmpfloat (fabs (mean - want_mean), <, 4.0 * want_std / sqrt ((double) n) * 2.0 + 1e-6);
      if (n >= 64)
        {
          g_assert_cmpfloat (std, >, 0.6 * want_std);
          g_assert_cmpfloat (std, <, 1.4 * want_std);
        }
    }

  /* a bad configuration is refused */
  config.num_res_blocks = 0;
  g_autoptr (FaWanVae) bad = fa_wan_vae_new_random (&config, f->cpu, 7, &error);
  g_assert_null (bad);
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "num_res_blocks");
}

/* Wan2.1's real size: shapes right and quick enough for benchmarks. */
static void
test_random_2_1 (Fixture *f, gconstpointer data)
{
  FaWanVaeConfig config;
  g_autoptr (GError) error = NULL;

  fa_wan_vae_config_init_2_1 (&config);
  gint64 start = g_get_monotonic_time ();
  g_autoptr (FaWanVae) vae = fa_wan_vae_new_random (&config, f->cpu, 1, &error);
  g_assert_no_error (error);
  g_test_message ("random Wan2.1 VAE in %.2f s", (double) (g_get_monotonic_time () - start) / 1e6);
  assert_model_shapes (vae);

  guint64 current = 0;
  fa_backend_get_memory (f->cpu, &current, NULL);
  g_assert_cmpuint (current, ==, (guint64) 126892531 * 4);
  g_clear_pointer (&vae, fa_wan_vae_free);
  fa_backend_get_memory (f->cpu, &current, NULL);
  g_assert_cmpuint (current, ==, 0);
}

/* Everything a loaded model holds goes with it. */
static void
test_memory (Fixture *f, gconstpointer data)
{
  guint64 current = 1;
  FaWanVae *vae = load_ok (original_path, f->cpu);

  fa_backend_get_memory (f->cpu, &current, NULL);
  g_assert_cmpuint (current, ==, (guint64) TINY_PARAMETERS * 4);
  fa_wan_vae_free (vae);
  fa_backend_get_memory (f->cpu, &current, NULL);
  g_assert_cmpuint (current, ==, 0);
  fa_wan_vae_free (NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_assert_nonnull (g_getenv ("FA_TEST_SRCDIR")); /* set by meson: the tests/ source folder */
  data_dir = g_build_filename (g_getenv ("FA_TEST_SRCDIR"), "data", NULL);
  pipeline_dir = g_build_filename (data_dir, "wan-tiny", NULL);
  vae_dir = g_build_filename (pipeline_dir, "vae", NULL);
  vae_config = g_build_filename (vae_dir, "config.json", NULL);
  vae_file = g_build_filename (vae_dir, "diffusion_pytorch_model.safetensors", NULL);
  original_path = g_build_filename (data_dir, "original", "wan-tiny-vae.safetensors", NULL);

  ADD ("/wan-vae/load/folder", test_load_folder);
  ADD ("/wan-vae/load/pipeline", test_load_pipeline);
  ADD ("/wan-vae/load/original", test_load_original);
  ADD ("/wan-vae/load/weights", test_load_weights);
  ADD ("/wan-vae/load/bf16", test_load_bf16);
  ADD ("/wan-vae/load/prefixed", test_load_prefixed);
  ADD ("/wan-vae/load/cuda", test_load_cuda);
  ADD ("/wan-vae/layout", test_layout);
  ADD ("/wan-vae/names", test_names);
  ADD ("/wan-vae/config/2.1", test_config_2_1);
  ADD ("/wan-vae/config/json", test_config_json);
  ADD ("/wan-vae/config/stray", test_config_stray);
  ADD ("/wan-vae/config/num-res-blocks", test_num_res_blocks);
  ADD ("/wan-vae/bad/missing", test_bad_missing);
  ADD ("/wan-vae/bad/shape", test_bad_shape);
  ADD ("/wan-vae/bad/extra", test_bad_extra);
  ADD ("/wan-vae/bad/dtype", test_bad_dtype);
  ADD ("/wan-vae/bad/truncated", test_bad_truncated);
  ADD ("/wan-vae/random", test_random);
  ADD ("/wan-vae/random/2.1", test_random_2_1);
  ADD ("/wan-vae/memory", test_memory);

  int status = g_test_run ();
  g_free (original_path);
  g_free (vae_file);
  g_free (vae_config);
  g_free (vae_dir);
  g_free (pipeline_dir);
  g_free (data_dir);
  return status;
}
