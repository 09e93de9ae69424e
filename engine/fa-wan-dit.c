/* fa-wan-dit.c: the Wan DiT's configuration, tensor names, loader and
 * random weights (the forward pass is fa-wan-dit-forward.c).
 *
 * Loading goes in three steps, so that a bad checkpoint fails before a
 * single byte is converted or uploaded:
 *
 *  1. Catalogue. Every tensor of the weight set gets its diffusers name:
 *     the ComfyUI prefix ("model.diffusion_model." or "diffusion_model.")
 *     comes off, and when the names are the original Wan ones (detected
 *     from the names: head.*, time_embedding.*, self_attn, modulation, …)
 *     spec A.3's ordered table renames them, swapping norm2 and norm3.
 *     Scale tensors of fp8 checkpoints are attached to their weight.
 *  2. Configuration. config.json where it says (diffusers keys or the
 *     original Wan ones), the tensor shapes for the rest; the expected
 *     tensors (name → shape) follow from it.
 *  3. Check, then convert. Every expected tensor present, none left over,
 *     every shape right and every dtype a float; then one tensor at a time
 *     from the mapped file to the backend.
 *
 * fp8 checkpoints with per-tensor scales (W = f8(W_q) · s; the scale and
 * companion names are fa-fp8-scale.h's, shared with the umT5 loader) load
 * as their dequantized weights.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-wan-dit"

#include "config.h"

#include "fa-wan-dit-private.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "fa-error.h"
#include "fa-model-files.h"
#include "fa-random.h"
#include "fa-fp8-scale.h"

/* Every released Wan2.1 model (1.3B: 12 × 128, 14B: 40 × 128) has heads
 * of 128 dimensions, and the head count is in no tensor's shape: a
 * checkpoint without config.json is read with this head dim. */
#define WAN_HEAD_DIM 128
/* Wan's value for every LayerNorm and RMSNorm of every size; no tensor
 * holds it either. */
#define WAN_EPS 1e-6

/* A config.json is a few hundred bytes; refuse to read anything huge. */

/* Upper bounds that keep every size product far from overflowing. */
#define MAX_LAYERS 4096
#define MAX_WIDTH (1 << 20)
#define MAX_PATCH 64

/* ---- configuration ---- */

void
fa_wan_dit_config_init_1_3b (FaWanDitConfig *config)
{
  g_return_if_fail (config != NULL);

  *config = (FaWanDitConfig) {
    .num_layers = 30,
    .num_heads = 12,
    .head_dim = 128,
    .dim = 1536,
    .ffn_dim = 8960,
    .in_channels = 16,
    .out_channels = 16,
    .text_dim = 4096,
    .freq_dim = 256,
    .patch = { 1, 2, 2 },
    .eps = 1e-6f,
  };
}

static gboolean
check_range (const char *field, int value, int max, GError **error)
{
  if (value >= 1 && value <= max)
    return TRUE;
  g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
               "DiT configuration: %s is %d; it must lie in [1, %d]", field, value, max);
  return FALSE;
}

gboolean
_fa_wan_dit_config_check (const FaWanDitConfig *config, GError **error)
{
  g_return_val_if_fail (config != NULL, FALSE);

  if (!check_range ("num_layers", config->num_layers, MAX_LAYERS, error) ||
      !check_range ("num_heads", config->num_heads, MAX_WIDTH, error) ||
      !check_range ("head_dim", config->head_dim, MAX_WIDTH, error) ||
      !check_range ("dim", config->dim, MAX_WIDTH, error) ||
      !check_range ("ffn_dim", config->ffn_dim, MAX_WIDTH, error) ||
      !check_range ("in_channels", config->in_channels, MAX_WIDTH, error) ||
      !check_range ("out_channels", config->out_channels, MAX_WIDTH, error) ||
      !check_range ("text_dim", config->text_dim, MAX_WIDTH, error) ||
      !check_range ("freq_dim", config->freq_dim, MAX_WIDTH, error) ||
      !check_range ("patch[0]", config->patch[0], MAX_PATCH, error) ||
      !check_range ("patch[1]", config->patch[1], MAX_PATCH, error) ||
      !check_range ("patch[2]", config->patch[2], MAX_PATCH, error))
    return FALSE;
  if ((gint64) config->num_heads * config->head_dim != config->dim)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "DiT configuration: dim %d is not num_heads %d × head_dim %d", config->dim,
                   config->num_heads, config->head_dim);
      return FALSE;
    }
  /* RoPE rotates pairs of a head's dimensions. */
  if (config->head_dim % 2 != 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "DiT configuration: head_dim %d is odd; rotary embeddings need pairs",
                   config->head_dim);
      return FALSE;
    }
  if (!(isfinite (config->eps) && config->eps > 0.0f && config->eps < 1.0f))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "DiT configuration: eps %g is not in (0, 1)", (double) config->eps);
      return FALSE;
    }
  return TRUE;
}

gboolean
_fa_wan_dit_config_equal (const FaWanDitConfig *a, const FaWanDitConfig *b)
{
  return a->num_layers == b->num_layers && a->num_heads == b->num_heads &&
         a->head_dim == b->head_dim && a->dim == b->dim && a->ffn_dim == b->ffn_dim &&
         a->in_channels == b->in_channels && a->out_channels == b->out_channels &&
         a->text_dim == b->text_dim && a->freq_dim == b->freq_dim &&
         a->patch[0] == b->patch[0] && a->patch[1] == b->patch[1] && a->patch[2] == b->patch[2] &&
         a->eps == b->eps;
}

/* ---- expected tensors ---- */

static void
spec_free (gpointer data)
{
  FaWanDitTensorSpec *spec = data;

  g_free (spec->name);
  g_free (spec);
}

static FaWanDitTensorSpec *
add_spec (GPtrArray *specs, FaWanDitTensorKind kind, char *name, int ndim, gint64 d0, gint64 d1,
          gint64 d2)
{
  FaWanDitTensorSpec *spec = g_new0 (FaWanDitTensorSpec, 1);

  spec->name = name;
  spec->kind = kind;
  spec->ndim = ndim;
  spec->shape[0] = d0;
  spec->shape[1] = d1;
  spec->shape[2] = d2;
  if (kind == FA_WAN_DIT_TENSOR_MATRIX)
    spec->fan_in = d1;
  g_ptr_array_add (specs, spec);
  return spec;
}

/* A linear layer "<prefix>.weight" [out, in] and "<prefix>.bias" [out]. */
static void
add_linear (GPtrArray *specs, const char *prefix, gint64 out, gint64 in)
{
  add_spec (specs, FA_WAN_DIT_TENSOR_MATRIX, g_strconcat (prefix, ".weight", NULL), 2, out, in, 0);
  add_spec (specs, FA_WAN_DIT_TENSOR_BIAS, g_strconcat (prefix, ".bias", NULL), 1, out, 0, 0);
}

GPtrArray *
_fa_wan_dit_expected_tensors (const FaWanDitConfig *config)
{
  g_return_val_if_fail (config != NULL, NULL);

  GPtrArray *specs = g_ptr_array_new_with_free_func (spec_free);
  gint64 d = config->dim;
  gint64 patch_volume = (gint64) config->patch[0] * config->patch[1] * config->patch[2];

  /* The patch embedding is a Conv3d [dim, in, pt, ph, pw]. */
  FaWanDitTensorSpec *patch = add_spec (specs, FA_WAN_DIT_TENSOR_MATRIX,
                                        g_strdup ("patch_embedding.weight"), 5, d,
                                        config->in_channels, config->patch[0]);
  patch->shape[3] = config->patch[1];
  patch->shape[4] = config->patch[2];
  patch->fan_in = config->in_channels * patch_volume;
  add_spec (specs, FA_WAN_DIT_TENSOR_BIAS, g_strdup ("patch_embedding.bias"), 1, d, 0, 0);
  add_linear (specs, "condition_embedder.time_embedder.linear_1", d, config->freq_dim);
  add_linear (specs, "condition_embedder.time_embedder.linear_2", d, d);
  add_linear (specs, "condition_embedder.time_proj", 6 * d, d);
  add_linear (specs, "condition_embedder.text_embedder.linear_1", d, config->text_dim);
  add_linear (specs, "condition_embedder.text_embedder.linear_2", d, d);
  add_linear (specs, "proj_out", config->out_channels * patch_volume, d);
  add_spec (specs, FA_WAN_DIT_TENSOR_TABLE, g_strdup ("scale_shift_table"), 3, 1, 2, d);

  static const char *const projections[] = { "to_q", "to_k", "to_v", "to_out.0" };
  for (int i = 0; i < config->num_layers; i++)
    {
      add_spec (specs, FA_WAN_DIT_TENSOR_TABLE, g_strdup_printf ("blocks.%d.scale_shift_table", i),
                3, 1, 6, d);
      for (int a = 1; a <= 2; a++)
        {
          for (guint p = 0; p < G_N_ELEMENTS (projections); p++)
            {
              g_autofree char *prefix = g_strdup_printf ("blocks.%d.attn%d.%s", i, a, projections[p]);
              add_linear (specs, prefix, d, d);
            }
          add_spec (specs, FA_WAN_DIT_TENSOR_NORM, g_strdup_printf ("blocks.%d.attn%d.norm_q.weight", i, a),
                    1, d, 0, 0);
          add_spec (specs, FA_WAN_DIT_TENSOR_NORM, g_strdup_printf ("blocks.%d.attn%d.norm_k.weight", i, a),
                    1, d, 0, 0);
        }
      /* diffusers' norm2 (the original's norm3): the affine LayerNorm before
       * cross-attention. norm1 and norm3 have no parameters. */
      add_spec (specs, FA_WAN_DIT_TENSOR_NORM, g_strdup_printf ("blocks.%d.norm2.weight", i), 1, d, 0, 0);
      add_spec (specs, FA_WAN_DIT_TENSOR_BIAS, g_strdup_printf ("blocks.%d.norm2.bias", i), 1, d, 0, 0);
      g_autofree char *ffn_in = g_strdup_printf ("blocks.%d.ffn.net.0.proj", i);
      g_autofree char *ffn_out = g_strdup_printf ("blocks.%d.ffn.net.2", i);
      add_linear (specs, ffn_in, config->ffn_dim, d);
      add_linear (specs, ffn_out, d, config->ffn_dim);
    }
  return specs;
}

guint64
_fa_wan_dit_tensor_numel (const FaWanDitTensorSpec *spec)
{
  guint64 numel = 1;

  for (int i = 0; i < spec->ndim; i++)
    numel *= (guint64) spec->shape[i];
  return numel;
}

/* ---- names ---- */

static const char *const comfy_prefixes[] = { "model.diffusion_model.", "diffusion_model." };

static const char *
strip_prefix (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (comfy_prefixes); i++)
    if (g_str_has_prefix (name, comfy_prefixes[i]))
      return name + strlen (comfy_prefixes[i]);
  return name;
}

static gboolean
at_segment (const GString *s, gsize at, gsize length)
{
  return (at == 0 || s->str[at - 1] == '.') && (at + length == s->len || s->str[at + length] == '.');
}

/* Replaces @from by @to wherever it stands as whole dot-separated segments:
 * "q" renames "self_attn.q.weight" but not "norm_q", "ffn.2" not "ffn.20". */
static void
replace_segments (GString *s, const char *from, const char *to)
{
  gsize from_length = strlen (from), to_length = strlen (to);
  gsize pos = 0;
  const char *hit;

  while (pos < s->len && (hit = strstr (s->str + pos, from)) != NULL)
    {
      gsize at = (gsize) (hit - s->str);
      if (at_segment (s, at, from_length))
        {
          g_string_erase (s, (gssize) at, (gssize) from_length);
          g_string_insert (s, (gssize) at, to);
          pos = at + to_length;
        }
      else
        pos = at + 1;
    }
}

/* norm2 ↔ norm3 in one pass: renaming one after the other would undo itself. */
static void
swap_norm2_norm3 (GString *s)
{
  for (gsize at = 0; at + 5 <= s->len; at++)
    if (strncmp (s->str + at, "norm", 4) == 0 && (s->str[at + 4] == '2' || s->str[at + 4] == '3') &&
        at_segment (s, at, 5))
      s->str[at + 4] = s->str[at + 4] == '2' ? '3' : '2';
}

typedef struct {
  const char *from, *to;
} Rename;

/* Spec A.3 (the order of diffusers' convert_wan_to_diffusers.py); the
 * norm2/norm3 swap comes between the FFN and the attention renames. */
static const Rename original_to_diffusers[] = {
  { "time_embedding.0", "condition_embedder.time_embedder.linear_1" },
  { "time_embedding.2", "condition_embedder.time_embedder.linear_2" },
  { "text_embedding.0", "condition_embedder.text_embedder.linear_1" },
  { "text_embedding.2", "condition_embedder.text_embedder.linear_2" },
  { "time_projection.1", "condition_embedder.time_proj" },
  { "head.modulation", "scale_shift_table" },
  { "head.head", "proj_out" },
  { "modulation", "scale_shift_table" },
  { "ffn.0", "ffn.net.0.proj" },
  { "ffn.2", "ffn.net.2" },
};

static const Rename attention_to_diffusers[] = {
  { "self_attn.q", "attn1.to_q" },
  { "self_attn.k", "attn1.to_k" },
  { "self_attn.v", "attn1.to_v" },
  { "self_attn.o", "attn1.to_out.0" },
  { "self_attn", "attn1" },
  { "cross_attn.q", "attn2.to_q" },
  { "cross_attn.k", "attn2.to_k" },
  { "cross_attn.v", "attn2.to_v" },
  { "cross_attn.o", "attn2.to_out.0" },
  { "cross_attn", "attn2" },
};

static const Rename diffusers_to_original[] = {
  { "condition_embedder.time_embedder.linear_1", "time_embedding.0" },
  { "condition_embedder.time_embedder.linear_2", "time_embedding.2" },
  { "condition_embedder.text_embedder.linear_1", "text_embedding.0" },
  { "condition_embedder.text_embedder.linear_2", "text_embedding.2" },
  { "condition_embedder.time_proj", "time_projection.1" },
  { "proj_out", "head.head" },
  { "scale_shift_table", "modulation" },
  { "ffn.net.0.proj", "ffn.0" },
  { "ffn.net.2", "ffn.2" },
};

static const Rename attention_to_original[] = {
  { "attn1.to_q", "self_attn.q" },
  { "attn1.to_k", "self_attn.k" },
  { "attn1.to_v", "self_attn.v" },
  { "attn1.to_out.0", "self_attn.o" },
  { "attn1", "self_attn" },
  { "attn2.to_q", "cross_attn.q" },
  { "attn2.to_k", "cross_attn.k" },
  { "attn2.to_v", "cross_attn.v" },
  { "attn2.to_out.0", "cross_attn.o" },
  { "attn2", "cross_attn" },
};

char *
_fa_wan_dit_canonical_name (const char *file_name, gboolean original)
{
  g_return_val_if_fail (file_name != NULL, NULL);

  GString *s = g_string_new (strip_prefix (file_name));
  if (original)
    {
      for (guint i = 0; i < G_N_ELEMENTS (original_to_diffusers); i++)
        replace_segments (s, original_to_diffusers[i].from, original_to_diffusers[i].to);
      swap_norm2_norm3 (s);
      for (guint i = 0; i < G_N_ELEMENTS (attention_to_diffusers); i++)
        replace_segments (s, attention_to_diffusers[i].from, attention_to_diffusers[i].to);
    }
  return g_string_free (s, FALSE);
}

char *
_fa_wan_dit_original_name (const char *diffusers_name)
{
  g_return_val_if_fail (diffusers_name != NULL, NULL);

  /* The head's table is the only top-level one. */
  if (g_str_equal (diffusers_name, "scale_shift_table"))
    return g_strdup ("head.modulation");

  GString *s = g_string_new (diffusers_name);
  for (guint i = 0; i < G_N_ELEMENTS (diffusers_to_original); i++)
    replace_segments (s, diffusers_to_original[i].from, diffusers_to_original[i].to);
  swap_norm2_norm3 (s);
  for (guint i = 0; i < G_N_ELEMENTS (attention_to_original); i++)
    replace_segments (s, attention_to_original[i].from, attention_to_original[i].to);
  return g_string_free (s, FALSE);
}

/* Names only the original layout has, and names only diffusers has. */
static gboolean
looks_original (const char *name)
{
  return g_str_has_prefix (name, "head.") || g_str_has_prefix (name, "time_embedding.") ||
         g_str_has_prefix (name, "text_embedding.") || g_str_has_prefix (name, "time_projection.") ||
         strstr (name, ".self_attn.") != NULL || strstr (name, ".cross_attn.") != NULL ||
         g_str_has_suffix (name, ".modulation");
}

static gboolean
looks_diffusers (const char *name)
{
  return g_str_has_prefix (name, "condition_embedder.") || g_str_has_prefix (name, "proj_out.") ||
         g_str_equal (name, "scale_shift_table") || strstr (name, ".attn1.") != NULL ||
         strstr (name, ".attn2.") != NULL || g_str_has_suffix (name, ".scale_shift_table");
}

/* ---- the catalogue of a weight set ---- */

typedef struct {
  const FaSafetensorsEntry *entry; /* as stored */
  char *canonical;                 /* its diffusers name */
  const FaSafetensorsEntry *scale; /* its per-tensor scale, or NULL */
  float scale_value;
  gboolean expected;               /* matched an expected tensor */
} Source;

typedef struct {
  FaWeights *weights; /* borrowed */
  const char *path;
  gboolean original;
  GPtrArray *sources;        /* Source*, owned, in the set's name order */
  GHashTable *by_canonical;  /* diffusers name → Source* */
  GHashTable *by_file_name;  /* name in the file → Source* */
} Catalog;

static void
source_free (gpointer data)
{
  Source *source = data;

  g_free (source->canonical);
  g_free (source);
}

static void
catalog_free (Catalog *catalog)
{
  g_clear_pointer (&catalog->by_file_name, g_hash_table_unref);
  g_clear_pointer (&catalog->by_canonical, g_hash_table_unref);
  g_clear_pointer (&catalog->sources, g_ptr_array_unref);
  g_free (catalog);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Catalog, catalog_free)

/* "'blocks.0.self_attn.q.weight' (blocks.0.attn1.to_q.weight)": the name
 * in the file, and the diffusers name when that differs. */
static char *
describe (const Source *source)
{
  if (g_str_equal (source->entry->name, source->canonical))
    return g_strdup_printf ("'%s'", source->canonical);
  return g_strdup_printf ("'%s' (%s)", source->entry->name, source->canonical);
}

static gboolean
attach_aux (Catalog *catalog, const FaSafetensorsEntry *entry, FaFp8AuxKind kind, const char *weight_name,
            GError **error)
{
  Source *source = g_hash_table_lookup (catalog->by_file_name, weight_name);

  if (source == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                   "%s: unexpected tensor '%s': it belongs to '%s', which is not in the checkpoint",
                   catalog->path, entry->name, weight_name);
      return FALSE;
    }
  return _fa_fp8_attach (catalog->path, entry, kind, weight_name, &source->scale, &source->scale_value, error);
}

static Catalog *
catalog_new (FaWeights *weights, GError **error)
{
  g_autoptr (Catalog) catalog = g_new0 (Catalog, 1);
  guint n = fa_weights_get_n_tensors (weights);

  catalog->weights = weights;
  catalog->path = fa_weights_get_path (weights);
  catalog->sources = g_ptr_array_new_with_free_func (source_free);
  catalog->by_canonical = g_hash_table_new (g_str_hash, g_str_equal);
  catalog->by_file_name = g_hash_table_new (g_str_hash, g_str_equal);

  /* Companions first aside; the layout is decided by the weights alone. */
  g_autoptr (GPtrArray) tensors = g_ptr_array_new ();
  const char *original_example = NULL, *diffusers_example = NULL;
  for (guint i = 0; i < n; i++)
    {
      const FaSafetensorsEntry *entry = fa_weights_get_entry (weights, i);
      g_autofree char *weight_name = NULL;
      if (_fa_fp8_classify (entry->name, strip_prefix (entry->name), &weight_name) != FA_FP8_AUX_NONE)
        continue;
      g_ptr_array_add (tensors, (gpointer) entry);
      const char *stripped = strip_prefix (entry->name);
      if (original_example == NULL && looks_original (stripped))
        original_example = entry->name;
      if (diffusers_example == NULL && looks_diffusers (stripped))
        diffusers_example = entry->name;
    }
  if (original_example != NULL && diffusers_example != NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                   "%s mixes original Wan names ('%s') with diffusers names ('%s')", catalog->path,
                   original_example, diffusers_example);
      return NULL;
    }
  catalog->original = original_example != NULL;

  for (guint i = 0; i < tensors->len; i++)
    {
      const FaSafetensorsEntry *entry = tensors->pdata[i];
      Source *source = g_new0 (Source, 1);
      source->entry = entry;
      source->canonical = _fa_wan_dit_canonical_name (entry->name, catalog->original);
      g_ptr_array_add (catalog->sources, source);
      g_hash_table_insert (catalog->by_file_name, (gpointer) entry->name, source);

      Source *previous = g_hash_table_lookup (catalog->by_canonical, source->canonical);
      if (previous != NULL)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                       "%s: '%s' and '%s' are both the tensor %s", catalog->path,
                       previous->entry->name, entry->name, source->canonical);
          return NULL;
        }
      g_hash_table_insert (catalog->by_canonical, source->canonical, source);
    }

  for (guint i = 0; i < n; i++)
    {
      const FaSafetensorsEntry *entry = fa_weights_get_entry (weights, i);
      g_autofree char *weight_name = NULL;
      FaFp8AuxKind kind = _fa_fp8_classify (entry->name, strip_prefix (entry->name), &weight_name);
      if (kind == FA_FP8_AUX_NONE || kind == FA_FP8_AUX_MARKER)
        continue;
      if (!attach_aux (catalog, entry, kind, weight_name, error))
        return NULL;
    }
  return g_steal_pointer (&catalog);
}

/* ---- configuration from config.json and the shapes ---- */

/* Fields as read so far; 0 means not known yet. */
typedef struct {
  gint64 num_layers, num_heads, head_dim, dim, ffn_dim, in_channels, out_channels, text_dim,
    freq_dim, patch[3];
  double eps;
} Partial;

static gboolean
json_positive (JsonObject *object, const char *key, const char *path, gint64 *inout,
               GError **error)
{
  /* a field an earlier key already set keeps its value */
  return *inout != 0 || fa_json_get_positive (object, key, path, MAX_WIDTH, inout, error);
}

/* A feature this loader and the forward pass do not implement: better a
 * clear refusal than an "unexpected tensor" later or a wrong video. */
static gboolean
refuse_unsupported (JsonObject *object, const char *path, GError **error)
{
  /* diffusers: image conditioning (I2V, FLF2V) */
  static const char *const must_be_null[] = { "added_kv_proj_dim", "image_dim", "pos_embed_seq_len" };
  for (guint i = 0; i < G_N_ELEMENTS (must_be_null); i++)
    {
      JsonNode *node = json_object_get_member (object, must_be_null[i]);
      if (node != NULL && !JSON_NODE_HOLDS_NULL (node))
        {
          g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                       "%s: \"%s\" is set: image-conditioned Wan models are not supported, only "
                       "text-to-video", path, must_be_null[i]);
          return TRUE;
        }
    }

  const char *model_type = fa_json_get_string (object, "model_type");
  if (model_type != NULL && !g_str_equal (model_type, "t2v"))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "%s: model_type '%s' is not supported, only text-to-video (t2v)", path, model_type);
      return TRUE;
    }

  /* qk_norm: diffusers' string, or the original's boolean. */
  JsonNode *qk_norm = json_object_get_member (object, "qk_norm");
  if (qk_norm != NULL &&
      !(JSON_NODE_HOLDS_VALUE (qk_norm) &&
        ((json_node_get_value_type (qk_norm) == G_TYPE_STRING &&
          g_str_equal (json_node_get_string (qk_norm), "rms_norm_across_heads")) ||
         (json_node_get_value_type (qk_norm) == G_TYPE_BOOLEAN && json_node_get_boolean (qk_norm)))))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "%s: only \"qk_norm\": \"rms_norm_across_heads\" (RMSNorm across heads) is "
                   "supported", path);
      return TRUE;
    }
  JsonNode *cross_norm = json_object_get_member (object, "cross_attn_norm");
  if (cross_norm != NULL &&
      !(JSON_NODE_HOLDS_VALUE (cross_norm) && json_node_get_value_type (cross_norm) == G_TYPE_BOOLEAN &&
        json_node_get_boolean (cross_norm)))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "%s: only \"cross_attn_norm\": true is supported", path);
      return TRUE;
    }
  JsonNode *window = json_object_get_member (object, "window_size");
  if (window != NULL && JSON_NODE_HOLDS_ARRAY (window))
    {
      JsonArray *array = json_node_get_array (window);
      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode *node = json_array_get_element (array, i);
          if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64 ||
              json_node_get_int (node) != -1)
            {
              g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                           "%s: windowed attention (\"window_size\") is not supported, only "
                           "global (-1, -1)", path);
              return TRUE;
            }
        }
    }
  return FALSE;
}

/* Reads @path into @partial. A config.json of another class is an error
 * when @strict, else (a stray file beside a single checkpoint) it is
 * ignored and *@out_ignored set. */
static gboolean
read_config_json (const char *path, gboolean strict, Partial *partial, gboolean *out_ignored,
                  GError **error)
{
  *out_ignored = FALSE;

  g_autoptr (JsonNode) root = fa_model_read_config (path, error);
  if (root == NULL)
    return FALSE;
  JsonObject *object = json_node_get_object (root);

  const char *class_name = fa_json_get_string (object, "_class_name");
  if (class_name != NULL && !g_str_equal (class_name, "WanTransformer3DModel") &&
      !g_str_equal (class_name, "WanModel"))
    {
      if (!strict)
        {
          g_info ("%s describes a %s, not a Wan DiT: ignored", path, class_name);
          *out_ignored = TRUE;
          return TRUE;
        }
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "%s describes a %s, not a Wan DiT (WanTransformer3DModel)", path, class_name);
      return FALSE;
    }
  if (refuse_unsupported (object, path, error))
    return FALSE;

  /* diffusers' keys first, then the original Wan spellings. */
  if (!json_positive (object, "num_layers", path, &partial->num_layers, error) ||
      !json_positive (object, "num_attention_heads", path, &partial->num_heads, error) ||
      !json_positive (object, "num_heads", path, &partial->num_heads, error) ||
      !json_positive (object, "attention_head_dim", path, &partial->head_dim, error) ||
      !json_positive (object, "dim", path, &partial->dim, error) ||
      !json_positive (object, "ffn_dim", path, &partial->ffn_dim, error) ||
      !json_positive (object, "in_channels", path, &partial->in_channels, error) ||
      !json_positive (object, "in_dim", path, &partial->in_channels, error) ||
      !json_positive (object, "out_channels", path, &partial->out_channels, error) ||
      !json_positive (object, "out_dim", path, &partial->out_channels, error) ||
      !json_positive (object, "text_dim", path, &partial->text_dim, error) ||
      !json_positive (object, "freq_dim", path, &partial->freq_dim, error))
    return FALSE;

  JsonNode *patch = json_object_get_member (object, "patch_size");
  if (patch != NULL && !JSON_NODE_HOLDS_NULL (patch))
    {
      JsonArray *array = JSON_NODE_HOLDS_ARRAY (patch) ? json_node_get_array (patch) : NULL;
      gboolean ok = array != NULL && json_array_get_length (array) == 3;
      for (guint i = 0; ok && i < 3; i++)
        {
          JsonNode *node = json_array_get_element (array, i);
          ok = JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64 &&
               json_node_get_int (node) >= 1 && json_node_get_int (node) <= MAX_PATCH;
          if (ok)
            partial->patch[i] = json_node_get_int (node);
        }
      if (!ok)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                       "%s: \"patch_size\" is not three integers in [1, %d]", path, MAX_PATCH);
          return FALSE;
        }
    }

  JsonNode *eps = json_object_get_member (object, "eps");
  if (eps != NULL && !JSON_NODE_HOLDS_NULL (eps))
    {
      GType type = JSON_NODE_HOLDS_VALUE (eps) ? json_node_get_value_type (eps) : G_TYPE_INVALID;
      double value = type == G_TYPE_DOUBLE ? json_node_get_double (eps)
                     : type == G_TYPE_INT64 ? (double) json_node_get_int (eps) : NAN;
      if (!(value > 0.0 && value < 1.0))
        {
          g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: \"eps\" is not a number in (0, 1)",
                       path);
          return FALSE;
        }
      partial->eps = value;
    }

  /* dim, heads and head dim: any two give the third. */
  if (partial->num_heads != 0 && partial->head_dim != 0)
    {
      gint64 dim = partial->num_heads * partial->head_dim;
      if (partial->dim != 0 && partial->dim != dim)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                       "%s: \"dim\" %" G_GINT64_FORMAT " is not %" G_GINT64_FORMAT " heads × %"
                       G_GINT64_FORMAT, path, partial->dim, partial->num_heads, partial->head_dim);
          return FALSE;
        }
      partial->dim = dim;
    }
  return TRUE;
}

/* The shape of the tensor @canonical, which must have @ndim axes, for
 * inferring @what. */
static const FaSafetensorsEntry *
need_tensor (Catalog *catalog, const char *canonical, int ndim, const char *what, GError **error)
{
  Source *source = g_hash_table_lookup (catalog->by_canonical, canonical);

  if (source == NULL)
    {
      g_autofree char *original = catalog->original ? _fa_wan_dit_original_name (canonical) : NULL;
      g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND,
                   "%s: cannot tell the DiT's %s: tensor '%s' is missing and no config.json gives it",
                   catalog->path, what, original != NULL ? original : canonical);
      return NULL;
    }
  if (source->entry->ndim != ndim)
    {
      g_autofree char *name = describe (source);
      g_autofree char *shape = fa_shape_to_string (source->entry->ndim, source->entry->shape);
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                   "%s: tensor %s has shape %s, not %d axes as in a Wan DiT", catalog->path, name,
                   shape, ndim);
      return NULL;
    }
  return source->entry;
}

/* The number of blocks: one more than the highest N of "blocks.N.…", so
 * that a gap shows as missing tensors rather than as a smaller model. */
static gint64
count_blocks (Catalog *catalog)
{
  gint64 count = 0;

  for (guint i = 0; i < catalog->sources->len; i++)
    {
      const char *name = ((Source *) catalog->sources->pdata[i])->canonical;
      if (!g_str_has_prefix (name, "blocks.") || !g_ascii_isdigit (name[7]))
        continue;
      char *end = NULL;
      guint64 index = g_ascii_strtoull (name + 7, &end, 10);
      if (*end == '.' && index < MAX_LAYERS)
        count = MAX (count, (gint64) index + 1);
    }
  return count;
}

/* Fills every field of @partial still 0 that a tensor's shape gives: all
 * but the head count, the head dim and eps. */
static gboolean
fill_from_shapes (Catalog *catalog, Partial *partial, GError **error)
{
  const FaSafetensorsEntry *entry;

  if (partial->num_layers == 0)
    {
      partial->num_layers = count_blocks (catalog);
      if (partial->num_layers == 0)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND,
                       "%s has no blocks.N tensors: not a Wan DiT checkpoint", catalog->path);
          return FALSE;
        }
    }
  if (partial->dim == 0 || partial->in_channels == 0 || partial->patch[0] == 0)
    {
      entry = need_tensor (catalog, "patch_embedding.weight", 5, "width, input channels and patch size",
                           error);
      if (entry == NULL)
        return FALSE;
      if (partial->dim == 0)
        partial->dim = entry->shape[0];
      if (partial->in_channels == 0)
        partial->in_channels = entry->shape[1];
      if (partial->patch[0] == 0)
        for (int i = 0; i < 3; i++)
          partial->patch[i] = entry->shape[2 + i];
    }
  if (partial->ffn_dim == 0)
    {
      entry = need_tensor (catalog, "blocks.0.ffn.net.0.proj.weight", 2, "FFN width", error);
      if (entry == NULL)
        return FALSE;
      partial->ffn_dim = entry->shape[0];
    }
  if (partial->text_dim == 0)
    {
      entry = need_tensor (catalog, "condition_embedder.text_embedder.linear_1.weight", 2,
                           "text width", error);
      if (entry == NULL)
        return FALSE;
      partial->text_dim = entry->shape[1];
    }
  if (partial->freq_dim == 0)
    {
      entry = need_tensor (catalog, "condition_embedder.time_embedder.linear_1.weight", 2,
                           "timestep frequency count", error);
      if (entry == NULL)
        return FALSE;
      partial->freq_dim = entry->shape[1];
    }
  if (partial->out_channels == 0)
    {
      entry = need_tensor (catalog, "proj_out.weight", 2, "output channels", error);
      if (entry == NULL)
        return FALSE;
      gint64 volume = partial->patch[0] * partial->patch[1] * partial->patch[2];
      if (volume <= 0 || entry->shape[0] % volume != 0)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                       "%s: the output projection's %" G_GINT64_FORMAT " rows are not a multiple "
                       "of the patch volume %" G_GINT64_FORMAT, catalog->path, entry->shape[0], volume);
          return FALSE;
        }
      partial->out_channels = entry->shape[0] / volume;
    }
  return TRUE;
}

/* Shapes can be anything a file says; the configuration takes ints. */
static gboolean
partial_to_config (const Partial *partial, const char *path, FaWanDitConfig *config, GError **error)
{
  const gint64 values[] = { partial->num_layers, partial->num_heads, partial->head_dim, partial->dim,
                            partial->ffn_dim, partial->in_channels, partial->out_channels,
                            partial->text_dim, partial->freq_dim, partial->patch[0],
                            partial->patch[1], partial->patch[2] };
  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    if (values[i] < 0 || values[i] > MAX_WIDTH)
      {
        g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                     "%s: a size of %" G_GINT64_FORMAT " is out of range for a Wan DiT", path,
                     values[i]);
        return FALSE;
      }
  *config = (FaWanDitConfig) {
    .num_layers = (int) partial->num_layers,
    .num_heads = (int) partial->num_heads,
    .head_dim = (int) partial->head_dim,
    .dim = (int) partial->dim,
    .ffn_dim = (int) partial->ffn_dim,
    .in_channels = (int) partial->in_channels,
    .out_channels = (int) partial->out_channels,
    .text_dim = (int) partial->text_dim,
    .freq_dim = (int) partial->freq_dim,
    .patch = { (int) partial->patch[0], (int) partial->patch[1], (int) partial->patch[2] },
    .eps = partial->eps != 0.0 ? (float) partial->eps : (float) WAN_EPS,
  };
  return TRUE;
}

/* config.json's fields, then the shapes, then the head rule: the width
 * divided by a config's head count or head dim, else by 128. */
static gboolean
resolve_config (Catalog *catalog, const char *config_json, gboolean strict, FaWanDitConfig *config,
                GError **error)
{
  Partial partial = { 0 };
  gboolean ignored = FALSE;

  if (config_json != NULL && !read_config_json (config_json, strict, &partial, &ignored, error))
    return FALSE;
  if (ignored)
    config_json = NULL;
  if (!fill_from_shapes (catalog, &partial, error))
    return FALSE;

  const char *source = config_json != NULL ? config_json : catalog->path;
  if (partial.num_heads == 0 && partial.head_dim == 0)
    {
      if (partial.dim % WAN_HEAD_DIM != 0)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                       "%s: cannot infer the number of attention heads: the width %" G_GINT64_FORMAT
                       " is not a multiple of %d, the head dim of every released Wan2.1 model, and "
                       "no config.json gives num_attention_heads; load it with the model's "
                       "config.json", source, partial.dim, WAN_HEAD_DIM);
          return FALSE;
        }
      partial.head_dim = WAN_HEAD_DIM;
      partial.num_heads = partial.dim / WAN_HEAD_DIM;
      g_info ("%s: no head count given; %" G_GINT64_FORMAT " × %d-dim heads assumed", source,
              partial.num_heads, WAN_HEAD_DIM);
    }
  else if (partial.num_heads == 0 || partial.head_dim == 0)
    {
      gint64 known = partial.num_heads != 0 ? partial.num_heads : partial.head_dim;
      if (partial.dim % known != 0)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                       "%s: the width %" G_GINT64_FORMAT " is not a multiple of the %s %"
                       G_GINT64_FORMAT, source, partial.dim,
                       partial.num_heads != 0 ? "head count" : "head dim", known);
          return FALSE;
        }
      if (partial.num_heads == 0)
        partial.num_heads = partial.dim / partial.head_dim;
      else
        partial.head_dim = partial.dim / partial.num_heads;
    }

  if (!partial_to_config (&partial, source, config, error))
    return FALSE;
  if (!_fa_wan_dit_config_check (config, error))
    {
      g_prefix_error (error, "%s: ", source);
      return FALSE;
    }
  return TRUE;
}

gboolean
_fa_wan_dit_resolve_config (FaWeights *weights, const char *config_json, FaWanDitConfig *config,
                            GError **error)
{
  g_return_val_if_fail (weights != NULL && config != NULL, FALSE);

  g_autoptr (Catalog) catalog = catalog_new (weights, error);
  return catalog != NULL && resolve_config (catalog, config_json, TRUE, config, error);
}

gboolean
_fa_wan_dit_config_from_shapes (FaWeights *weights, FaWanDitConfig *config, GError **error)
{
  g_return_val_if_fail (weights != NULL && config != NULL, FALSE);

  g_autoptr (Catalog) catalog = catalog_new (weights, error);
  Partial partial = { 0 };
  if (catalog == NULL || !fill_from_shapes (catalog, &partial, error))
    return FALSE;
  return partial_to_config (&partial, catalog->path, config, error);
}

/* ---- the check ---- */

/* Every expected tensor there, of its shape and a float type, and nothing
 * else: reported in that order, the first problem of each kind. */
static gboolean
check_catalog (Catalog *catalog, GPtrArray *specs, GError **error)
{
  const FaWanDitTensorSpec *first_missing = NULL;
  guint n_missing = 0;

  for (guint i = 0; i < specs->len; i++)
    {
      const FaWanDitTensorSpec *spec = specs->pdata[i];
      if (!g_hash_table_contains (catalog->by_canonical, spec->name))
        {
          if (first_missing == NULL)
            first_missing = spec;
          n_missing++;
        }
    }
  if (first_missing != NULL)
    {
      g_autofree char *original = catalog->original ? _fa_wan_dit_original_name (first_missing->name)
                                                    : NULL;
      g_autofree char *shape = fa_shape_to_string (first_missing->ndim, first_missing->shape);
      g_autofree char *also = n_missing > 1 ? g_strdup_printf (" (and %u more)", n_missing - 1) : NULL;
      g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND, "%s: tensor '%s'%s%s%s %s is missing%s",
                   catalog->path, original != NULL ? original : first_missing->name,
                   original != NULL ? " (" : "", original != NULL ? first_missing->name : "",
                   original != NULL ? ")" : "", shape, also != NULL ? also : "");
      return FALSE;
    }

  for (guint i = 0; i < specs->len; i++)
    {
      const FaWanDitTensorSpec *spec = specs->pdata[i];
      Source *source = g_hash_table_lookup (catalog->by_canonical, spec->name);
      const FaSafetensorsEntry *entry = source->entry;

      source->expected = TRUE;
      gboolean same = entry->ndim == spec->ndim;
      for (int d = 0; same && d < spec->ndim; d++)
        same = entry->shape[d] == spec->shape[d];
      if (!same)
        {
          g_autofree char *name = describe (source);
          g_autofree char *actual = fa_shape_to_string (entry->ndim, entry->shape);
          g_autofree char *expected = fa_shape_to_string (spec->ndim, spec->shape);
          g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                       "%s: tensor %s has shape %s, expected %s", catalog->path, name, actual,
                       expected);
          return FALSE;
        }
      if (!fa_dtype_is_float (entry->dtype))
        {
          g_autofree char *name = describe (source);
          g_set_error (error, FA_ERROR, FA_ERROR_DTYPE,
                       "%s: tensor %s is stored as %s; DiT weights must be floating point",
                       catalog->path, name, fa_dtype_get_name (entry->dtype));
          return FALSE;
        }
    }

  const Source *first_extra = NULL;
  guint n_extra = 0;
  for (guint i = 0; i < catalog->sources->len; i++)
    {
      const Source *source = catalog->sources->pdata[i];
      if (!source->expected)
        {
          if (first_extra == NULL)
            first_extra = source;
          n_extra++;
        }
    }
  if (first_extra != NULL)
    {
      g_autofree char *name = describe (first_extra);
      g_autofree char *also = n_extra > 1 ? g_strdup_printf (" (and %u more)", n_extra - 1) : NULL;
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                   "%s: unexpected tensor %s%s: not part of a Wan2.1 text-to-video DiT", catalog->path,
                   name, also != NULL ? also : "");
      return FALSE;
    }
  return TRUE;
}

/* ---- the model ---- */

static FaWanDit *
dit_new (const FaWanDitConfig *config, FaBackend *backend)
{
  FaWanDit *dit = g_new0 (FaWanDit, 1);

  dit->config = *config;
  dit->backend = fa_backend_ref (backend);
  dit->weights = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) fa_tensor_unref);
  return dit;
}

void
fa_wan_dit_free (FaWanDit *dit)
{
  if (dit == NULL)
    return;
  /* The forward's caches may hold tensors of the backend: they go first. */
  if (dit->forward_state != NULL && dit->forward_state_free != NULL)
    dit->forward_state_free (dit->forward_state);
  g_clear_pointer (&dit->weights, g_hash_table_unref);
  g_clear_pointer (&dit->backend, fa_backend_unref);
  g_free (dit);
}

const FaWanDitConfig *
fa_wan_dit_get_config (FaWanDit *dit)
{
  g_return_val_if_fail (dit != NULL, NULL);
  return &dit->config;
}

FaBackend *
fa_wan_dit_get_backend (FaWanDit *dit)
{
  g_return_val_if_fail (dit != NULL, NULL);
  return dit->backend;
}

FaTensor *
fa_wan_dit_get_weight (FaWanDit *dit, const char *name)
{
  g_return_val_if_fail (dit != NULL && name != NULL, NULL);
  return g_hash_table_lookup (dit->weights, name);
}

/* Matrices in the dtype the backend multiplies in; everything that feeds
 * norms, modulation and biases stays f32 (spec A.5). */
static FaDType
spec_dtype (const FaWanDitTensorSpec *spec, FaBackend *backend)
{
  if (spec->kind == FA_WAN_DIT_TENSOR_MATRIX && fa_backend_get_device (backend) == FA_DEVICE_CUDA)
    return FA_DTYPE_BF16;
  return FA_DTYPE_F32;
}

/* Takes @tensor; the patch embedding is kept as the [dim, in·pt·ph·pw]
 * matrix that patchified tokens multiply. */
static gboolean
store_weight (FaWanDit *dit, const FaWanDitTensorSpec *spec, FaTensor *tensor, GError **error)
{
  g_autoptr (FaTensor) owned = tensor;

  if (spec->ndim == 5)
    {
      gint64 flat[2] = { spec->shape[0], spec->fan_in };
      FaTensor *view = fa_tensor_reshape (owned, 2, flat, error);
      if (view == NULL)
        return FALSE;
      g_clear_pointer (&owned, fa_tensor_unref);
      owned = view;
    }
  g_hash_table_insert (dit->weights, g_strdup (spec->name), g_steal_pointer (&owned));
  return TRUE;
}

static void
log_model (FaWanDit *dit, GPtrArray *specs, const char *what, gint64 start)
{
  guint64 parameters = 0, bytes = 0;

  for (guint i = 0; i < specs->len; i++)
    parameters += _fa_wan_dit_tensor_numel (specs->pdata[i]);
  GHashTableIter iter;
  gpointer value;
  g_hash_table_iter_init (&iter, dit->weights);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    bytes += fa_tensor_get_nbytes (value);

  g_autofree char *size = g_format_size (bytes);
  g_info ("Wan DiT %s: %u tensors, %" G_GUINT64_FORMAT " parameters, %s on %s, %d layers × %d "
          "heads × %d, in %.2f s", what, specs->len, parameters, size,
          fa_backend_get_description (dit->backend), dit->config.num_layers, dit->config.num_heads,
          dit->config.head_dim, (double) (g_get_monotonic_time () - start) / G_USEC_PER_SEC);
}

static FaWanDit *
load_weights (FaWeights *weights, const char *config_json, gboolean strict, FaBackend *backend,
              GError **error)
{
  gint64 start = g_get_monotonic_time ();

  g_autoptr (Catalog) catalog = catalog_new (weights, error);
  if (catalog == NULL)
    return NULL;
  FaWanDitConfig config;
  if (!resolve_config (catalog, config_json, strict, &config, error))
    return NULL;
  g_autoptr (GPtrArray) specs = _fa_wan_dit_expected_tensors (&config);
  if (!check_catalog (catalog, specs, error))
    return NULL;

  g_autoptr (FaWanDit) dit = dit_new (&config, backend);
  g_autoptr (FaBackend) host_backend = NULL;
  for (guint i = 0; i < specs->len; i++)
    {
      const FaWanDitTensorSpec *spec = specs->pdata[i];
      const Source *source = g_hash_table_lookup (catalog->by_canonical, spec->name);
      FaDType dtype = spec_dtype (spec, backend);
      FaTensor *tensor = source->scale != NULL
                           ? _fa_fp8_load_scaled (weights, source->entry->name, source->scale_value, backend,
                                                  &host_backend, dtype, error)
                           : fa_weights_load (weights, source->entry->name, backend, dtype, error);
      if (tensor == NULL)
        {
          g_prefix_error (error, "%s: ", catalog->path);
          return NULL;
        }
      if (!store_weight (dit, spec, tensor, error))
        return NULL;
    }

  log_model (dit, specs, fa_weights_get_path (weights), start);
  return g_steal_pointer (&dit);
}

FaWanDit *
fa_wan_dit_load_weights (FaWeights *weights, const char *config_json, FaBackend *backend,
                         GError **error)
{
  g_return_val_if_fail (weights != NULL, NULL);
  g_return_val_if_fail (backend != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return load_weights (weights, config_json, TRUE, backend, error);
}

FaWanDit *
fa_wan_dit_load (const char *path, FaBackend *backend, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (backend != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autofree char *config_json = NULL;
  gboolean strict = FALSE;
  g_autoptr (FaWeights) weights = fa_model_open_component (path, "transformer", &config_json, &strict, error);
  if (weights == NULL)
    return NULL;

  return load_weights (weights, config_json, strict, backend, error);
}

/* ---- random weights ---- */

/* Each tensor's stream depends on the seed and its name only, so a tensor
 * is the same whatever the order or the number of layers. */
static void
fill_random (const FaWanDitTensorSpec *spec, guint32 seed, float *data, gint64 numel, int dim)
{
  guint64 state = fa_random_stream (seed, spec->name);

  float mean = 0.0f, std;
  switch (spec->kind)
    {
    case FA_WAN_DIT_TENSOR_MATRIX: /* keeps activations at unit scale */
      std = 1.0f / sqrtf ((float) spec->fan_in);
      break;
    case FA_WAN_DIT_TENSOR_NORM:
      mean = 1.0f;
      std = 0.02f;
      break;
    case FA_WAN_DIT_TENSOR_TABLE: /* as diffusers initialises them */
      std = 1.0f / sqrtf ((float) dim);
      break;
    case FA_WAN_DIT_TENSOR_BIAS:
    default:
      std = 0.02f;
      break;
    }
  for (gint64 i = 0; i < numel; i++)
    data[i] = mean + std * fa_random_normalish (&state);
}

FaWanDit *
fa_wan_dit_new_random (const FaWanDitConfig *config, FaBackend *backend, guint32 seed,
                       GError **error)
{
  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (backend != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  gint64 start = g_get_monotonic_time ();
  if (!_fa_wan_dit_config_check (config, error))
    return NULL;

  g_autoptr (GPtrArray) specs = _fa_wan_dit_expected_tensors (config);
  g_autoptr (FaWanDit) dit = dit_new (config, backend);
  gboolean on_host = fa_backend_get_device (backend) == FA_DEVICE_CPU;
  g_autoptr (FaBackend) host_backend = on_host ? fa_backend_ref (backend) : fa_backend_new_cpu ();

  for (guint i = 0; i < specs->len; i++)
    {
      const FaWanDitTensorSpec *spec = specs->pdata[i];
      FaDType dtype = spec_dtype (spec, backend);
      g_autoptr (FaTensor) host = fa_tensor_new (host_backend, FA_DTYPE_F32, spec->ndim, spec->shape,
                                                 error);
      if (host == NULL)
        {
          g_prefix_error (error, "random DiT weight '%s': ", spec->name);
          return NULL;
        }
      fill_random (spec, seed, fa_tensor_get_data (host), fa_tensor_get_numel (host), config->dim);

      FaTensor *tensor = on_host && dtype == FA_DTYPE_F32 ? g_steal_pointer (&host)
                                                         : fa_tensor_to (host, backend, dtype, error);
      if (tensor == NULL)
        {
          g_prefix_error (error, "random DiT weight '%s': ", spec->name);
          return NULL;
        }
      if (!store_weight (dit, spec, tensor, error))
        return NULL;
    }

  g_autofree char *what = g_strdup_printf ("random weights (seed %u)", seed);
  log_model (dit, specs, what, start);
  return g_steal_pointer (&dit);
}
