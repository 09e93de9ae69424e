/* fa-umt5.c: the umT5 encoder (spec B.1–B.3, B.5): configuration, loader,
 * random weights and the forward pass.
 *
 * Loading goes in three steps, as the DiT's does, so that a bad checkpoint
 * fails before a single byte is converted or uploaded:
 *
 *  1. Catalogue. The transformers names (shared.weight,
 *     encoder.block.N.layer.*, encoder.final_layer_norm.weight) are taken
 *     as they are. ComfyUI's single files may also hold the tokenizer as a
 *     'spiece_model' byte tensor (ignored) and the tied copy
 *     'encoder.embed_tokens.weight' (checked against shared.weight, never
 *     loaded; used as the embedding when shared.weight is absent). Scales
 *     of fp8 checkpoints attach to their weight (fa-fp8-scale.h).
 *  2. Configuration. config.json (transformers' UMT5Config keys) where it
 *     says, the tensor shapes for the rest: the layer count from the block
 *     numbers, vocabulary and width from the embedding, buckets and heads
 *     from the first relative_attention_bias [buckets, heads], d_kv from the
 *     query projection, d_ff from wi_0. No tensor holds the maximum
 *     distance or ε: without a config they are umT5's 128 and 1e-6.
 *  3. Check, then convert. Every expected tensor present, none left over,
 *     every shape right and every dtype a float; then one tensor at a time.
 *     Matrices go to the backend's compute dtype (f32 on the CPU, bf16 on
 *     CUDA), norm gains to f32 on the backend; the relative-bias tables
 *     stay on the host in f32, where the bias is built from them.
 *
 * The embedding table (256 384 × 4096 in umT5-XXL, a billion values) is
 * never loaded: encoding gathers the rows of its ids from the mapped file,
 * converting each to f32, and uploads only those [n, d_model]. Random
 * weights generate each row from the seed and the id instead, so a
 * benchmark at the real vocabulary costs no memory for it.
 *
 * The forward runs only the n real tokens (no padding, no mask; spec B.3).
 * Attention has no 1/√d scaling; each layer's relative position bias
 * [heads, n, n] is added to the logits by the attention hook.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-umt5"

#include "config.h"

#include "fa-umt5-private.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fa-arena.h"
#include "fa-cpu-kernels.h"
#include "fa-error.h"
#include "fa-model-files.h"
#include "fa-random.h"
#include "fa-fp8-scale.h"
#include "fa-half.h"

/* What no tensor shape says, when no config.json says it either:
 * transformers' UMT5Config defaults, which are umT5-XXL's values. */
#define DEFAULT_MAX_DISTANCE 128
#define DEFAULT_EPS 1e-6

/* Bounds that keep every size product far from overflowing. */
#define MAX_LAYERS 4096
#define MAX_WIDTH (1 << 20)
#define MAX_VOCAB (1 << 24)
/* The bias and the logits are [heads, n, n]: far beyond Wan's 512. */
#define MAX_TOKENS (1 << 14)
/* A safetensors header bigger than this is not hashed whole. */
#define MAX_HASHED_HEADER ((guint64) 256 * 1024 * 1024)
#define ARENA_ALIGNMENT 256 /* as fa-arena.c rounds each tensor */
#define BIAS_PIECES 3       /* bf16 parts of an f32 bias value */

static const char *const EMBEDDING = "shared.weight";
static const char *const TIED_EMBEDDING = "encoder.embed_tokens.weight";
static const char *const SPIECE_MODEL = "spiece_model";
static const char *const FINAL_NORM = "encoder.final_layer_norm.weight";

/* ---- configuration ---- */

void
fa_umt5_config_init_xxl (FaUmt5Config *config)
{
  g_return_if_fail (config != NULL);

  *config = (FaUmt5Config) {
    .vocab_size = 256384,
    .d_model = 4096,
    .d_kv = 64,
    .num_heads = 64,
    .d_ff = 10240,
    .num_layers = 24,
    .num_buckets = 32,
    .max_distance = 128,
    .eps = 1e-6f,
  };
}

static gboolean
check_range (const char *field, int value, int max, GError **error)
{
  if (value >= 1 && value <= max)
    return TRUE;
  g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
               "umT5 configuration: %s is %d; it must lie in [1, %d]", field, value, max);
  return FALSE;
}

gboolean
_fa_umt5_config_check (const FaUmt5Config *config, GError **error)
{
  g_return_val_if_fail (config != NULL, FALSE);

  if (!check_range ("vocab_size", config->vocab_size, MAX_VOCAB, error) ||
      !check_range ("d_model", config->d_model, MAX_WIDTH, error) ||
      !check_range ("d_kv", config->d_kv, MAX_WIDTH, error) ||
      !check_range ("num_heads", config->num_heads, MAX_WIDTH, error) ||
      !check_range ("d_ff", config->d_ff, MAX_WIDTH, error) ||
      !check_range ("num_layers", config->num_layers, MAX_LAYERS, error) ||
      !check_range ("relative_attention_num_buckets", config->num_buckets, MAX_WIDTH, error) ||
      !check_range ("relative_attention_max_distance", config->max_distance, MAX_WIDTH, error))
    return FALSE;
  if ((gint64) config->num_heads * config->d_kv > MAX_WIDTH)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "umT5 configuration: num_heads %d × d_kv %d is too wide", config->num_heads,
                   config->d_kv);
      return FALSE;
    }
  /* Bidirectional buckets: half per direction, half of those exact. */
  if (config->num_buckets < 4 || config->num_buckets % 2 != 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "umT5 configuration: relative_attention_num_buckets %d must be even and at least 4",
                   config->num_buckets);
      return FALSE;
    }
  if (config->max_distance <= config->num_buckets / 4)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "umT5 configuration: relative_attention_max_distance %d must exceed the %d exact "
                   "distances", config->max_distance, config->num_buckets / 4);
      return FALSE;
    }
  if (!(isfinite (config->eps) && config->eps > 0.0f && config->eps < 1.0f))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "umT5 configuration: layer_norm_epsilon %g is not in (0, 1)", (double) config->eps);
      return FALSE;
    }
  return TRUE;
}

/* ---- relative position buckets (spec B.3) ---- */

int
_fa_umt5_relative_position_bucket (int relative_position, int num_buckets, int max_distance)
{
  int half = num_buckets / 2;
  int bucket = relative_position > 0 ? half : 0;
  int distance = ABS (relative_position);
  int max_exact = half / 2;

  if (distance < max_exact)
    return bucket + distance;

  /* torch: log(float(d) / max_exact) / math.log(max_distance / max_exact)
   * · (half − max_exact), all float32 (the Python double divisor rounded
   * to float), truncated toward zero. */
  float ratio = (float) distance / (float) max_exact;
  float divisor = (float) log ((double) max_distance / (double) max_exact);
  float scaled = logf (ratio) / divisor * (float) (half - max_exact);
  int large = max_exact + (int) scaled;
  return bucket + MIN (large, half - 1);
}

/* ---- expected tensors ---- */

typedef enum {
  KIND_EMBEDDING, /* never loaded: rows are gathered from the mapping */
  KIND_MATRIX,    /* a linear weight: compute dtype */
  KIND_NORM,      /* an RMS norm gain: f32 on the backend */
  KIND_TABLE,     /* a relative-bias table [buckets, heads]: f32 on the host */
} TensorKind;

typedef enum {
  SLOT_Q,
  SLOT_K,
  SLOT_V,
  SLOT_O,
  SLOT_LN0,
  SLOT_WI0,
  SLOT_WI1,
  SLOT_WO,
  SLOT_LN1,
  SLOT_COUNT,
  SLOT_TABLE = SLOT_COUNT, /* kept apart, on the host */
  SLOT_NONE,
} Slot;

typedef struct {
  char *name;
  TensorKind kind;
  int layer; /* -1 outside the blocks */
  Slot slot;
  int ndim;
  gint64 shape[2];
  gint64 fan_in; /* input features of a matrix; 0 otherwise */
} TensorSpec;

static void
spec_free (gpointer data)
{
  TensorSpec *spec = data;

  g_free (spec->name);
  g_free (spec);
}

static void
add_spec (GPtrArray *specs, char *name, TensorKind kind, int layer, Slot slot, int ndim, gint64 d0,
          gint64 d1)
{
  TensorSpec *spec = g_new0 (TensorSpec, 1);

  spec->name = name;
  spec->kind = kind;
  spec->layer = layer;
  spec->slot = slot;
  spec->ndim = ndim;
  spec->shape[0] = d0;
  spec->shape[1] = d1;
  spec->fan_in = kind == KIND_MATRIX ? d1 : 0;
  g_ptr_array_add (specs, spec);
}

/* Spec B.2's tensors for @config: the embedding, then block by block, then
 * the final norm. */
static GPtrArray *
expected_tensors (const FaUmt5Config *config)
{
  GPtrArray *specs = g_ptr_array_new_with_free_func (spec_free);
  gint64 d = config->d_model, inner = (gint64) config->num_heads * config->d_kv, f = config->d_ff;

  add_spec (specs, g_strdup (EMBEDDING), KIND_EMBEDDING, -1, SLOT_NONE, 2, config->vocab_size, d);
  for (int i = 0; i < config->num_layers; i++)
    {
      static const char *const qkvo[] = { "q", "k", "v", "o" };
      for (int p = 0; p < 4; p++)
        add_spec (specs, g_strdup_printf ("encoder.block.%d.layer.0.SelfAttention.%s.weight", i, qkvo[p]),
                  KIND_MATRIX, i, SLOT_Q + p, 2, p == 3 ? d : inner, p == 3 ? inner : d);
      add_spec (specs,
                g_strdup_printf ("encoder.block.%d.layer.0.SelfAttention.relative_attention_bias.weight", i),
                KIND_TABLE, i, SLOT_TABLE, 2, config->num_buckets, config->num_heads);
      add_spec (specs, g_strdup_printf ("encoder.block.%d.layer.0.layer_norm.weight", i), KIND_NORM, i,
                SLOT_LN0, 1, d, 0);
      add_spec (specs, g_strdup_printf ("encoder.block.%d.layer.1.DenseReluDense.wi_0.weight", i),
                KIND_MATRIX, i, SLOT_WI0, 2, f, d);
      add_spec (specs, g_strdup_printf ("encoder.block.%d.layer.1.DenseReluDense.wi_1.weight", i),
                KIND_MATRIX, i, SLOT_WI1, 2, f, d);
      add_spec (specs, g_strdup_printf ("encoder.block.%d.layer.1.DenseReluDense.wo.weight", i),
                KIND_MATRIX, i, SLOT_WO, 2, d, f);
      add_spec (specs, g_strdup_printf ("encoder.block.%d.layer.1.layer_norm.weight", i), KIND_NORM, i,
                SLOT_LN1, 1, d, 0);
    }
  add_spec (specs, g_strdup (FINAL_NORM), KIND_NORM, -1, SLOT_NONE, 1, d, 0);
  return specs;
}

static guint64
spec_numel (const TensorSpec *spec)
{
  guint64 numel = 1;

  for (int i = 0; i < spec->ndim; i++)
    numel *= (guint64) spec->shape[i];
  return numel;
}

/* ---- the catalogue of a weight set ---- */

typedef struct {
  const FaSafetensorsEntry *entry;
  const FaSafetensorsEntry *scale; /* its per-tensor fp8 scale, or NULL */
  float scale_value;
  gboolean expected;
} Source;

typedef struct {
  FaWeights *weights; /* borrowed */
  const char *path;
  GPtrArray *sources;  /* Source*, owned, in the set's name order */
  GHashTable *by_name; /* name in the file → Source* */
  Source *embedding;   /* shared.weight, else the tied copy; NULL when neither */
  Source *tied;        /* encoder.embed_tokens.weight beside shared.weight */
} Catalog;

static void
catalog_free (Catalog *catalog)
{
  g_clear_pointer (&catalog->by_name, g_hash_table_unref);
  g_clear_pointer (&catalog->sources, g_ptr_array_unref);
  g_free (catalog);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Catalog, catalog_free)

static gboolean
attach_aux (Catalog *catalog, const FaSafetensorsEntry *entry, FaFp8AuxKind kind, const char *weight_name,
            GError **error)
{
  Source *source = g_hash_table_lookup (catalog->by_name, weight_name);

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
  catalog->sources = g_ptr_array_new_with_free_func (g_free);
  catalog->by_name = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < n; i++)
    {
      const FaSafetensorsEntry *entry = fa_weights_get_entry (weights, i);
      g_autofree char *weight_name = NULL;
      if (_fa_fp8_classify (entry->name, entry->name, &weight_name) != FA_FP8_AUX_NONE ||
          g_str_equal (entry->name, SPIECE_MODEL))
        continue;
      Source *source = g_new0 (Source, 1);
      source->entry = entry;
      source->scale_value = 1.0f;
      g_ptr_array_add (catalog->sources, source);
      g_hash_table_insert (catalog->by_name, (gpointer) entry->name, source);
    }

  Source *shared = g_hash_table_lookup (catalog->by_name, EMBEDDING);
  Source *tied = g_hash_table_lookup (catalog->by_name, TIED_EMBEDDING);
  catalog->embedding = shared != NULL ? shared : tied;
  catalog->tied = shared != NULL ? tied : NULL;
  if (catalog->tied != NULL)
    catalog->tied->expected = TRUE;

  for (guint i = 0; i < n; i++)
    {
      const FaSafetensorsEntry *entry = fa_weights_get_entry (weights, i);
      g_autofree char *weight_name = NULL;
      FaFp8AuxKind kind = _fa_fp8_classify (entry->name, entry->name, &weight_name);
      if (kind == FA_FP8_AUX_NONE || kind == FA_FP8_AUX_MARKER)
        continue;
      if (!attach_aux (catalog, entry, kind, weight_name, error))
        return NULL;
    }
  return g_steal_pointer (&catalog);
}

static Source *
catalog_find (Catalog *catalog, const TensorSpec *spec)
{
  if (spec->kind == KIND_EMBEDDING)
    return catalog->embedding;
  return g_hash_table_lookup (catalog->by_name, spec->name);
}

/* ---- configuration from config.json and the shapes ---- */

/* Fields as read so far; 0 means not known yet. */
typedef struct {
  gint64 vocab_size, d_model, d_kv, num_heads, d_ff, num_layers, num_buckets, max_distance;
  double eps;
} Partial;

/* transformers derives the activation from feed_forward_proj
 * ("gated-gelu" → gated, gelu_new); ComfyUI's umt5 config spells the same
 * as is_gated_act with dense_act_fn "gelu_pytorch_tanh". Anything else (a
 * ReLU T5, a config that says neither) is refused rather than guessed. */
static gboolean
check_activation (JsonObject *object, const char *path, GError **error)
{
  JsonNode *proj = json_object_get_member (object, "feed_forward_proj");

  if (proj != NULL && !JSON_NODE_HOLDS_NULL (proj))
    {
      const char *value = fa_json_get_string (object, "feed_forward_proj");
      if (value != NULL && g_str_equal (value, "gated-gelu"))
        return TRUE;
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "%s: \"feed_forward_proj\" is %s%s%s; only \"gated-gelu\" (umT5's gated tanh-GELU "
                   "feed-forward) is supported", path, value != NULL ? "'" : "",
                   value != NULL ? value : "not a string", value != NULL ? "'" : "");
      return FALSE;
    }

  JsonNode *gated = json_object_get_member (object, "is_gated_act");
  const char *act = fa_json_get_string (object, "dense_act_fn");
  if (gated != NULL && JSON_NODE_HOLDS_VALUE (gated) && json_node_get_value_type (gated) == G_TYPE_BOOLEAN &&
      json_node_get_boolean (gated) && act != NULL &&
      (g_str_equal (act, "gelu_new") || g_str_equal (act, "gelu_pytorch_tanh")))
    return TRUE;
  g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
               "%s: no \"feed_forward_proj\": \"gated-gelu\" (nor \"is_gated_act\": true with a tanh "
               "\"dense_act_fn\"); only umT5's gated tanh-GELU feed-forward is supported", path);
  return FALSE;
}

/* Reads @path into @partial. A config of another model is an error when
 * @strict, else (a stray file beside a single checkpoint) it is ignored and
 * *@out_ignored set. */
static gboolean
read_config_json (const char *path, gboolean strict, Partial *partial, gboolean *out_ignored,
                  GError **error)
{
  *out_ignored = FALSE;

  g_autoptr (JsonNode) root = fa_model_read_config (path, error);
  if (root == NULL)
    return FALSE;
  JsonObject *object = json_node_get_object (root);

  /* diffusers configs name a class; transformers configs a model type */
  const char *class_name = fa_json_get_string (object, "_class_name");
  const char *model_type = fa_json_get_string (object, "model_type");
  const char *other = class_name != NULL ? class_name
                      : model_type != NULL && !g_str_equal (model_type, "umt5") ? model_type : NULL;
  if (other != NULL)
    {
      if (!strict)
        {
          g_info ("%s describes a %s, not a umT5 encoder: ignored", path, other);
          *out_ignored = TRUE;
          return TRUE;
        }
      if (model_type != NULL && (g_str_equal (model_type, "t5") || g_str_equal (model_type, "mt5")))
        g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                     "%s: model_type '%s' shares one position bias among all layers; only umT5 "
                     "(model_type 'umt5', a bias in every layer) is supported", path, model_type);
      else
        g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "%s describes a %s, not a umT5 encoder",
                     path, other);
      return FALSE;
    }
  if (!check_activation (object, path, error))
    return FALSE;

  if (!fa_json_get_positive (object, "vocab_size", path, MAX_VOCAB, &partial->vocab_size, error) ||
      !fa_json_get_positive (object, "d_model", path, MAX_WIDTH, &partial->d_model, error) ||
      !fa_json_get_positive (object, "d_kv", path, MAX_WIDTH, &partial->d_kv, error) ||
      !fa_json_get_positive (object, "num_heads", path, MAX_WIDTH, &partial->num_heads, error) ||
      !fa_json_get_positive (object, "d_ff", path, MAX_WIDTH, &partial->d_ff, error) ||
      !fa_json_get_positive (object, "num_layers", path, MAX_LAYERS, &partial->num_layers, error) ||
      !fa_json_get_positive (object, "relative_attention_num_buckets", path, MAX_WIDTH, &partial->num_buckets,
                      error) ||
      !fa_json_get_positive (object, "relative_attention_max_distance", path, MAX_WIDTH,
                      &partial->max_distance, error))
    return FALSE;

  JsonNode *eps = json_object_get_member (object, "layer_norm_epsilon");
  if (eps != NULL && !JSON_NODE_HOLDS_NULL (eps))
    {
      GType type = JSON_NODE_HOLDS_VALUE (eps) ? json_node_get_value_type (eps) : G_TYPE_INVALID;
      double value = type == G_TYPE_DOUBLE ? json_node_get_double (eps)
                     : type == G_TYPE_INT64 ? (double) json_node_get_int (eps) : NAN;
      if (!(value > 0.0 && value < 1.0))
        {
          g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                       "%s: \"layer_norm_epsilon\" is not a number in (0, 1)", path);
          return FALSE;
        }
      partial->eps = value;
    }
  return TRUE;
}

/* The tensor @name (a 2-D one) for inferring @what. */
static const FaSafetensorsEntry *
need_tensor (Catalog *catalog, const char *name, Source *source, const char *what, GError **error)
{
  if (source == NULL)
    source = g_hash_table_lookup (catalog->by_name, name);
  if (source == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND,
                   "%s: cannot tell the umT5 encoder's %s: tensor '%s' is missing and no config.json "
                   "gives it", catalog->path, what, name);
      return NULL;
    }
  if (source->entry->ndim != 2)
    {
      g_autofree char *shape = fa_shape_to_string (source->entry->ndim, source->entry->shape);
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                   "%s: tensor '%s' has shape %s, not 2 axes as in a umT5 encoder", catalog->path,
                   source->entry->name, shape);
      return NULL;
    }
  return source->entry;
}

/* One more than the highest N of "encoder.block.N.…", so that a gap shows
 * as missing tensors rather than as a smaller model. */
static gint64
count_blocks (Catalog *catalog)
{
  const char *prefix = "encoder.block.";
  gsize skip = strlen (prefix);
  gint64 count = 0;

  for (guint i = 0; i < catalog->sources->len; i++)
    {
      const char *name = ((Source *) catalog->sources->pdata[i])->entry->name;
      if (!g_str_has_prefix (name, prefix) || !g_ascii_isdigit (name[skip]))
        continue;
      char *end = NULL;
      guint64 index = g_ascii_strtoull (name + skip, &end, 10);
      if (*end == '.' && index < MAX_LAYERS)
        count = MAX (count, (gint64) index + 1);
    }
  return count;
}

static gboolean
fill_from_shapes (Catalog *catalog, Partial *p, GError **error)
{
  const FaSafetensorsEntry *entry;

  if (p->num_layers == 0)
    {
      p->num_layers = count_blocks (catalog);
      if (p->num_layers == 0)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND,
                       "%s has no encoder.block.N tensors: not a umT5 encoder checkpoint", catalog->path);
          return FALSE;
        }
    }
  if (p->vocab_size == 0 || p->d_model == 0)
    {
      entry = need_tensor (catalog, EMBEDDING, catalog->embedding, "vocabulary size and width", error);
      if (entry == NULL)
        return FALSE;
      if (p->vocab_size == 0)
        p->vocab_size = entry->shape[0];
      if (p->d_model == 0)
        p->d_model = entry->shape[1];
    }
  if (p->num_buckets == 0 || p->num_heads == 0)
    {
      entry = need_tensor (catalog, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                           NULL, "bucket and head counts", error);
      if (entry == NULL)
        return FALSE;
      if (p->num_buckets == 0)
        p->num_buckets = entry->shape[0];
      if (p->num_heads == 0)
        p->num_heads = entry->shape[1];
    }
  if (p->d_kv == 0)
    {
      entry = need_tensor (catalog, "encoder.block.0.layer.0.SelfAttention.q.weight", NULL, "head width",
                           error);
      if (entry == NULL)
        return FALSE;
      if (p->num_heads < 1 || entry->shape[0] % p->num_heads != 0)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                       "%s: the query projection's %" G_GINT64_FORMAT " rows are not a multiple of the %"
                       G_GINT64_FORMAT " heads", catalog->path, entry->shape[0], p->num_heads);
          return FALSE;
        }
      p->d_kv = entry->shape[0] / p->num_heads;
    }
  if (p->d_ff == 0)
    {
      entry = need_tensor (catalog, "encoder.block.0.layer.1.DenseReluDense.wi_0.weight", NULL,
                           "feed-forward width", error);
      if (entry == NULL)
        return FALSE;
      p->d_ff = entry->shape[0];
    }
  if (p->max_distance == 0)
    p->max_distance = DEFAULT_MAX_DISTANCE;
  if (p->eps == 0.0)
    p->eps = DEFAULT_EPS;
  return TRUE;
}

static gboolean
resolve_config (Catalog *catalog, const char *config_json, gboolean strict, FaUmt5Config *config,
                char **out_config_used, GError **error)
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
  const gint64 values[] = { partial.vocab_size, partial.d_model, partial.d_kv, partial.num_heads,
                            partial.d_ff, partial.num_layers, partial.num_buckets, partial.max_distance };
  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    if (values[i] < 1 || values[i] > MAX_VOCAB)
      {
        g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                     "%s: a size of %" G_GINT64_FORMAT " is out of range for a umT5 encoder", source,
                     values[i]);
        return FALSE;
      }
  *config = (FaUmt5Config) {
    .vocab_size = (int) partial.vocab_size,
    .d_model = (int) partial.d_model,
    .d_kv = (int) partial.d_kv,
    .num_heads = (int) partial.num_heads,
    .d_ff = (int) partial.d_ff,
    .num_layers = (int) partial.num_layers,
    .num_buckets = (int) partial.num_buckets,
    .max_distance = (int) partial.max_distance,
    .eps = (float) partial.eps,
  };
  if (!_fa_umt5_config_check (config, error))
    {
      g_prefix_error (error, "%s: ", source);
      return FALSE;
    }
  if (config_json == NULL)
    g_info ("%s: no config.json; sizes from the tensor shapes, relative_attention_max_distance %d and "
            "layer_norm_epsilon %g assumed", catalog->path, config->max_distance, (double) config->eps);
  *out_config_used = g_strdup (config_json);
  return TRUE;
}

/* ---- the check ---- */

static gboolean
check_entry (Catalog *catalog, const FaSafetensorsEntry *entry, const TensorSpec *spec, GError **error)
{
  gboolean same = entry->ndim == spec->ndim;
  for (int d = 0; same && d < spec->ndim; d++)
    same = entry->shape[d] == spec->shape[d];
  if (!same)
    {
      g_autofree char *actual = fa_shape_to_string (entry->ndim, entry->shape);
      g_autofree char *expected = fa_shape_to_string (spec->ndim, spec->shape);
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: tensor '%s' has shape %s, expected %s",
                   catalog->path, entry->name, actual, expected);
      return FALSE;
    }
  if (!fa_dtype_is_float (entry->dtype))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_DTYPE,
                   "%s: tensor '%s' is stored as %s; umT5 weights must be floating point", catalog->path,
                   entry->name, fa_dtype_get_name (entry->dtype));
      return FALSE;
    }
  return TRUE;
}

/* Every expected tensor there, of its shape and a float type, and nothing
 * else: reported in that order, the first problem of each kind. */
static gboolean
check_catalog (Catalog *catalog, GPtrArray *specs, GError **error)
{
  const TensorSpec *first_missing = NULL;
  guint n_missing = 0;

  for (guint i = 0; i < specs->len; i++)
    if (catalog_find (catalog, specs->pdata[i]) == NULL)
      {
        if (first_missing == NULL)
          first_missing = specs->pdata[i];
        n_missing++;
      }
  if (first_missing != NULL)
    {
      g_autofree char *shape = fa_shape_to_string (first_missing->ndim, first_missing->shape);
      g_autofree char *also = n_missing > 1 ? g_strdup_printf (" (and %u more)", n_missing - 1) : NULL;
      g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND, "%s: tensor '%s' %s is missing%s", catalog->path,
                   first_missing->name, shape, also != NULL ? also : "");
      return FALSE;
    }

  for (guint i = 0; i < specs->len; i++)
    {
      const TensorSpec *spec = specs->pdata[i];
      Source *source = catalog_find (catalog, spec);
      source->expected = TRUE;
      if (!check_entry (catalog, source->entry, spec, error))
        return FALSE;
      /* the tied copy: the embedding's shape, never read */
      if (spec->kind == KIND_EMBEDDING && catalog->tied != NULL &&
          !check_entry (catalog, catalog->tied->entry, spec, error))
        return FALSE;
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
      g_autofree char *also = n_extra > 1 ? g_strdup_printf (" (and %u more)", n_extra - 1) : NULL;
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                   "%s: unexpected tensor '%s'%s: not part of a umT5 encoder", catalog->path,
                   first_extra->entry->name, also != NULL ? also : "");
      return FALSE;
    }
  return TRUE;
}

/* ---- the model ---- */

typedef struct {
  FaTensor *t[SLOT_COUNT]; /* on the backend */
  float *table;            /* [buckets, heads] f32, host */
  FaTensor *bias_pieces;   /* [heads, 3·buckets] f32 on the backend, for the GEMM bias */
} Layer;

struct _FaUmt5 {
  FaUmt5Config config;
  FaBackend *backend;
  Layer *layers;
  FaTensor *final_norm;
  char *weights_key;

  /* the embedding: rows gathered from the mapping, or generated */
  FaWeights *weights; /* NULL for random weights */
  const FaSafetensorsEntry *embedding;
  float embedding_scale;
  guint32 seed;

  /* the forward's state, kept between calls */
  gboolean bias_by_gemm;
  FaArena *arena;
  int *buckets; /* bucket of relative position r at [r + n − 1], for buckets_tokens */
  gint64 buckets_tokens;
  FaTensor *one_hot; /* [n·n, 3·buckets] in the compute dtype, for one_hot_tokens */
  gint64 one_hot_tokens;
};

static FaUmt5 *
model_new (const FaUmt5Config *config, FaBackend *backend)
{
  FaUmt5 *model = g_new0 (FaUmt5, 1);

  model->config = *config;
  model->backend = fa_backend_ref (backend);
  model->layers = g_new0 (Layer, config->num_layers);
  model->embedding_scale = 1.0f;
  model->bias_by_gemm = fa_backend_get_device (backend) != FA_DEVICE_CPU;
  return model;
}

void
fa_umt5_free (FaUmt5 *model)
{
  if (model == NULL)
    return;
  /* device tensors before the backend */
  g_clear_pointer (&model->arena, fa_arena_unref);
  g_clear_pointer (&model->one_hot, fa_tensor_unref);
  g_free (model->buckets);
  for (int l = 0; model->layers != NULL && l < model->config.num_layers; l++)
    {
      for (int s = 0; s < SLOT_COUNT; s++)
        g_clear_pointer (&model->layers[l].t[s], fa_tensor_unref);
      g_clear_pointer (&model->layers[l].bias_pieces, fa_tensor_unref);
      g_free (model->layers[l].table);
    }
  g_free (model->layers);
  g_clear_pointer (&model->final_norm, fa_tensor_unref);
  g_clear_pointer (&model->weights, fa_weights_unref);
  g_clear_pointer (&model->backend, fa_backend_unref);
  g_free (model->weights_key);
  g_free (model);
}

const FaUmt5Config *
fa_umt5_get_config (FaUmt5 *model)
{
  g_return_val_if_fail (model != NULL, NULL);
  return &model->config;
}

FaBackend *
fa_umt5_get_backend (FaUmt5 *model)
{
  g_return_val_if_fail (model != NULL, NULL);
  return model->backend;
}

const char *
fa_umt5_get_weights_key (FaUmt5 *model)
{
  g_return_val_if_fail (model != NULL, NULL);
  return model->weights_key;
}

void
_fa_umt5_set_bias_by_gemm (FaUmt5 *model, gboolean by_gemm)
{
  g_return_if_fail (model != NULL);
  model->bias_by_gemm = by_gemm;
}

static FaDType
spec_dtype (const TensorSpec *spec, FaBackend *backend)
{
  if (spec->kind == KIND_MATRIX && fa_backend_get_device (backend) == FA_DEVICE_CUDA)
    return FA_DTYPE_BF16;
  return FA_DTYPE_F32;
}

/* Takes @tensor (KIND_TABLE: a host f32 tensor, copied out). */
static void
store_tensor (FaUmt5 *model, const TensorSpec *spec, FaTensor *tensor)
{
  if (spec->kind == KIND_TABLE)
    {
      model->layers[spec->layer].table = g_memdup2 (fa_tensor_get_data (tensor), fa_tensor_get_nbytes (tensor));
      fa_tensor_unref (tensor);
    }
  else if (spec->layer < 0)
    model->final_norm = tensor;
  else
    model->layers[spec->layer].t[spec->slot] = tensor;
}

static void
log_model (FaUmt5 *model, GPtrArray *specs, const char *what, gint64 start)
{
  guint64 parameters = 0, embedding = 0, bytes = 0;

  for (guint i = 0; i < specs->len; i++)
    {
      const TensorSpec *spec = specs->pdata[i];
      if (spec->kind == KIND_EMBEDDING)
        embedding = spec_numel (spec);
      else
        parameters += spec_numel (spec);
    }
  for (int l = 0; l < model->config.num_layers; l++)
    for (int s = 0; s < SLOT_COUNT; s++)
      bytes += fa_tensor_get_nbytes (model->layers[l].t[s]);
  bytes += fa_tensor_get_nbytes (model->final_norm);

  g_autofree char *size = g_format_size (bytes);
  g_info ("umT5 encoder %s: %u tensors, %" G_GUINT64_FORMAT " parameters in %s on %s (and %" G_GUINT64_FORMAT
          " of the embedding, gathered per token on the host), %d layers × %d heads × %d, in %.2f s", what,
          specs->len, parameters, size,
          fa_backend_get_description (model->backend), embedding, model->config.num_layers, model->config.num_heads,
          model->config.d_kv, (double) (g_get_monotonic_time () - start) / G_USEC_PER_SEC);
}

/* ---- the weights key ---- */

/* Hashes the safetensors header (its 8-byte length and the JSON) of @path
 * without reading the data. */
static gboolean
hash_header (GChecksum *checksum, const char *path, GError **error)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (GFileInputStream) stream = g_file_read (file, NULL, error);
  if (stream == NULL)
    return FALSE;

  guint8 prefix[8];
  gsize got = 0;
  if (!g_input_stream_read_all (G_INPUT_STREAM (stream), prefix, sizeof prefix, &got, NULL, error))
    return FALSE;
  g_checksum_update (checksum, prefix, got);
  if (got < sizeof prefix)
    return TRUE;

  guint64 length = 0;
  for (int i = 7; i >= 0; i--)
    length = (length << 8) | prefix[i];
  length = MIN (length, MAX_HASHED_HEADER);
  guint8 buffer[65536];
  while (length > 0)
    {
      gsize want = (gsize) MIN (length, (guint64) sizeof buffer);
      if (!g_input_stream_read_all (G_INPUT_STREAM (stream), buffer, want, &got, NULL, error))
        return FALSE;
      g_checksum_update (checksum, buffer, got);
      if (got < want)
        break;
      length -= got;
    }
  return TRUE;
}

static void
hash_string (GChecksum *checksum, const char *text)
{
  /* with its terminating NUL, so that concatenations cannot collide */
  g_checksum_update (checksum, (const guchar *) text, strlen (text) + 1);
}

/* SHA-256 over each file's absolute path, size, modification time and
 * header, and over the config.json used (path and contents). */
static char *
weights_key (FaWeights *weights, const char *config_json, GError **error)
{
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);

  hash_string (checksum, "umt5-weights-key-1");
  for (guint i = 0; i < fa_weights_get_n_files (weights); i++)
    {
      g_autofree char *path = g_canonicalize_filename (fa_weights_get_file_path (weights, i), NULL);
      g_autoptr (GFile) file = g_file_new_for_path (path);
      g_autoptr (GFileInfo) info = g_file_query_info (file, G_FILE_ATTRIBUTE_STANDARD_SIZE ","
                                                      G_FILE_ATTRIBUTE_TIME_MODIFIED ","
                                                      G_FILE_ATTRIBUTE_TIME_MODIFIED_USEC,
                                                      G_FILE_QUERY_INFO_NONE, NULL, error);
      if (info == NULL)
        return NULL;
      g_autofree char *stat_text = g_strdup_printf (
        "%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT ".%06u",
        (guint64) g_file_info_get_size (info),
        g_file_info_get_attribute_uint64 (info, G_FILE_ATTRIBUTE_TIME_MODIFIED),
        g_file_info_get_attribute_uint32 (info, G_FILE_ATTRIBUTE_TIME_MODIFIED_USEC));
      hash_string (checksum, path);
      hash_string (checksum, stat_text);
      if (!hash_header (checksum, path, error))
        return NULL;
    }
  if (config_json != NULL)
    {
      g_autofree char *path = g_canonicalize_filename (config_json, NULL);
      g_autofree char *text = NULL;
      gsize length = 0;
      if (!g_file_get_contents (path, &text, &length, error))
        return NULL;
      hash_string (checksum, path);
      g_checksum_update (checksum, (const guchar *) text, length);
    }
  return g_strdup (g_checksum_get_string (checksum));
}

/* ---- loading ---- */

static FaUmt5 *
load_weights (FaWeights *weights, const char *config_json, gboolean strict, FaBackend *backend,
              GError **error)
{
  gint64 start = g_get_monotonic_time ();

  g_autoptr (Catalog) catalog = catalog_new (weights, error);
  if (catalog == NULL)
    return NULL;
  FaUmt5Config config;
  g_autofree char *config_used = NULL;
  if (!resolve_config (catalog, config_json, strict, &config, &config_used, error))
    return NULL;
  g_autoptr (GPtrArray) specs = expected_tensors (&config);
  if (!check_catalog (catalog, specs, error))
    return NULL;

  g_autoptr (FaUmt5) model = model_new (&config, backend);
  model->weights_key = weights_key (weights, config_used, error);
  if (model->weights_key == NULL)
    {
      g_prefix_error (error, "%s: ", catalog->path);
      return NULL;
    }

  g_autoptr (FaBackend) host_backend = fa_backend_get_device (backend) == FA_DEVICE_CPU
                                         ? fa_backend_ref (backend) : fa_backend_new_cpu ();
  for (guint i = 0; i < specs->len; i++)
    {
      const TensorSpec *spec = specs->pdata[i];
      const Source *source = catalog_find (catalog, spec);
      if (spec->kind == KIND_EMBEDDING)
        {
          model->weights = fa_weights_ref (weights);
          model->embedding = source->entry;
          model->embedding_scale = source->scale != NULL ? source->scale_value : 1.0f;
          continue;
        }
      FaBackend *target = spec->kind == KIND_TABLE ? host_backend : backend;
      FaDType dtype = spec_dtype (spec, backend);
      FaTensor *tensor = source->scale != NULL
                           ? _fa_fp8_load_scaled (weights, source->entry->name, source->scale_value,
                                                  target, &host_backend, dtype, error)
                           : fa_weights_load (weights, source->entry->name, target, dtype, error);
      if (tensor == NULL)
        {
          g_prefix_error (error, "%s: ", catalog->path);
          return NULL;
        }
      store_tensor (model, spec, tensor);
    }

  log_model (model, specs, fa_weights_get_path (weights), start);
  return g_steal_pointer (&model);
}

FaUmt5 *
fa_umt5_load (const char *path, FaBackend *backend, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (backend != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autofree char *config_json = NULL;
  gboolean strict = FALSE;
  g_autoptr (FaWeights) weights = fa_model_open_component (path, "text_encoder", &config_json, &strict, error);
  if (weights == NULL)
    return NULL;

  return load_weights (weights, config_json, strict, backend, error);
}

/* ---- random weights ---- */

/* Scales after the Mesh-TensorFlow init umT5 was trained from: unscaled
 * attention keeps its logits O(1) through the query's 1/√(d_model·d_kv). */
static void
fill_random (const TensorSpec *spec, const FaUmt5Config *c, guint32 seed, float *data, gint64 numel)
{
  guint64 state = fa_random_stream (seed, spec->name);
  float mean = 0.0f, std = 1.0f;

  switch (spec->kind)
    {
    case KIND_MATRIX:
      std = spec->slot == SLOT_Q ? 1.0f / sqrtf ((float) c->d_model * (float) c->d_kv)
                                 : 1.0f / sqrtf ((float) spec->fan_in);
      break;
    case KIND_NORM:
      mean = 1.0f;
      std = 0.1f;
      break;
    case KIND_TABLE:
    case KIND_EMBEDDING:
    default:
      std = 1.0f;
      break;
    }
  for (gint64 i = 0; i < numel; i++)
    data[i] = mean + std * fa_random_normalish (&state);
}

/* Row @id of the random embedding. */
static void
random_embedding_row (guint32 seed, gint32 id, float *row, int d_model)
{
  guint64 state = fa_random_stream (seed, EMBEDDING) ^ ((guint64) (guint32) id * G_GUINT64_CONSTANT (0x9e3779b97f4a7c15));
  for (int i = 0; i < d_model; i++)
    row[i] = fa_random_normalish (&state);
}

FaUmt5 *
fa_umt5_new_random (const FaUmt5Config *config, FaBackend *backend, guint32 seed, GError **error)
{
  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (backend != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  gint64 start = g_get_monotonic_time ();
  if (!_fa_umt5_config_check (config, error))
    return NULL;

  g_autoptr (GPtrArray) specs = expected_tensors (config);
  g_autoptr (FaUmt5) model = model_new (config, backend);
  model->seed = seed;
  gboolean on_host = fa_backend_get_device (backend) == FA_DEVICE_CPU;
  g_autoptr (FaBackend) host_backend = on_host ? fa_backend_ref (backend) : fa_backend_new_cpu ();

  for (guint i = 0; i < specs->len; i++)
    {
      const TensorSpec *spec = specs->pdata[i];
      if (spec->kind == KIND_EMBEDDING)
        continue; /* generated row by row when gathered */
      FaDType dtype = spec_dtype (spec, backend);
      g_autoptr (FaTensor) host = fa_tensor_new (host_backend, FA_DTYPE_F32, spec->ndim, spec->shape, error);
      if (host == NULL)
        {
          g_prefix_error (error, "random umT5 weight '%s': ", spec->name);
          return NULL;
        }
      fill_random (spec, config, seed, fa_tensor_get_data (host), fa_tensor_get_numel (host));

      FaTensor *tensor = (on_host && dtype == FA_DTYPE_F32) || spec->kind == KIND_TABLE
                           ? g_steal_pointer (&host)
                           : fa_tensor_to (host, backend, dtype, error);
      if (tensor == NULL)
        {
          g_prefix_error (error, "random umT5 weight '%s': ", spec->name);
          return NULL;
        }
      store_tensor (model, spec, tensor);
    }

  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree char *description = g_strdup_printf (
    "umt5-random-1 seed %u vocab %d d_model %d d_kv %d heads %d d_ff %d layers %d buckets %d "
    "max_distance %d eps %.9g", seed, config->vocab_size, config->d_model, config->d_kv,
    config->num_heads, config->d_ff, config->num_layers, config->num_buckets, config->max_distance,
    (double) config->eps);
  hash_string (checksum, description);
  model->weights_key = g_strdup (g_checksum_get_string (checksum));

  g_autofree char *what = g_strdup_printf ("random weights (seed %u)", seed);
  log_model (model, specs, what, start);
  return g_steal_pointer (&model);
}

/* ---- the forward: the embedding ---- */

/* Rows @ids of the embedding as f32 into @out [n, d_model] (host memory). */
static void
gather_rows (FaUmt5 *model, const gint32 *ids, guint n, float *out)
{
  int d = model->config.d_model;

  if (model->weights == NULL)
    {
      for (guint i = 0; i < n; i++)
        random_embedding_row (model->seed, ids[i], out + (gsize) i * d, d);
      return;
    }

  const FaSafetensorsEntry *entry = model->embedding;
  gsize element = fa_dtype_size (entry->dtype);
  gsize row_bytes = (gsize) d * element;
  /* safetensors places data at any offset: a misaligned row goes through
   * an aligned copy first */
  g_autofree guint8 *bounce = g_malloc (row_bytes);
  for (guint i = 0; i < n; i++)
    {
      const guint8 *src = (const guint8 *) entry->data + (gsize) ids[i] * row_bytes;
      float *dst = out + (gsize) i * d;
      if (entry->dtype == FA_DTYPE_F32)
        memcpy (dst, src, row_bytes);
      else if ((guintptr) src % element == 0)
        fa_cpu_convert (src, entry->dtype, dst, FA_DTYPE_F32, d);
      else
        {
          memcpy (bounce, src, row_bytes);
          fa_cpu_convert (bounce, entry->dtype, dst, FA_DTYPE_F32, d);
        }
      if (model->embedding_scale != 1.0f)
        for (int c = 0; c < d; c++)
          dst[c] *= model->embedding_scale;
    }
}

/* ---- the forward: the position bias ---- */

/* The bucket of every relative position −(n−1) … n−1 for @n tokens. */
static const int *
ensure_buckets (FaUmt5 *model, gint64 n)
{
  if (model->buckets == NULL || model->buckets_tokens != n)
    {
      g_free (model->buckets);
      model->buckets = g_new (int, 2 * n - 1);
      for (gint64 r = -(n - 1); r <= n - 1; r++)
        model->buckets[r + n - 1] = _fa_umt5_relative_position_bucket ((int) r, model->config.num_buckets,
                                                                       model->config.max_distance);
      model->buckets_tokens = n;
    }
  return model->buckets;
}

/* bias[h, i, j] = table[bucket(j − i), h] straight into host memory. */
static void
fill_bias_direct (FaUmt5 *model, const Layer *layer, gint64 n, FaTensor *bias)
{
  const int *buckets = ensure_buckets (model, n);
  int heads = model->config.num_heads;
  float *out = fa_tensor_get_data (bias);

  for (int h = 0; h < heads; h++)
    for (gint64 i = 0; i < n; i++)
      {
        float *row = out + ((gsize) h * n + i) * n;
        const int *from_i = buckets + (n - 1 - i); /* [j] = bucket(j − i) */
        for (gint64 j = 0; j < n; j++)
          row[j] = layer->table[from_i[j] * heads + h];
      }
}

static float
bf16_round (float value)
{
  return fa_bf16_to_f32 (fa_f32_to_bf16 (value));
}

/* The one-hot bucket matrix [n·n, 3·buckets]: row i·n + j has ones in the
 * columns bucket(j − i) of each of the three parts. */
static gboolean
ensure_one_hot (FaUmt5 *model, gint64 n, GError **error)
{
  if (model->one_hot != NULL && model->one_hot_tokens == n)
    return TRUE;
  g_clear_pointer (&model->one_hot, fa_tensor_unref);

  const int *buckets = ensure_buckets (model, n);
  int width = BIAS_PIECES * model->config.num_buckets;
  gboolean cuda = fa_backend_get_device (model->backend) == FA_DEVICE_CUDA;
  FaDType dtype = cuda ? FA_DTYPE_BF16 : FA_DTYPE_F32;
  const gint64 shape[2] = { n * n, width };
  gsize bytes = (gsize) (n * n) * width * fa_dtype_size (dtype);

  g_autofree guint8 *host = g_try_malloc0 (bytes);
  if (host == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_OUT_OF_MEMORY,
                   "umT5: out of host memory for the %" G_GINT64_FORMAT "-token bucket matrix", n);
      return FALSE;
    }
  for (gint64 i = 0; i < n; i++)
    for (gint64 j = 0; j < n; j++)
      for (int p = 0; p < BIAS_PIECES; p++)
        {
          gsize at = (gsize) (i * n + j) * width + (gsize) p * model->config.num_buckets +
                     (gsize) buckets[j - i + n - 1];
          if (dtype == FA_DTYPE_BF16)
            ((guint16 *) host)[at] = fa_f32_to_bf16 (1.0f);
          else
            ((float *) host)[at] = 1.0f;
        }

  g_autoptr (FaTensor) wrapped = fa_tensor_new_wrapping (dtype, 2, shape, host, NULL, NULL, error);
  model->one_hot = wrapped != NULL ? fa_tensor_to (wrapped, model->backend, dtype, error) : NULL;
  if (model->one_hot == NULL)
    return FALSE;
  model->one_hot_tokens = n;
  return TRUE;
}

/* The layer's table as [heads, 3·buckets] f32: each value split into three
 * bf16-exact parts (hi + mid + lo = the value exactly), so that a bf16 GEMM
 * with f32 accumulation against the one-hot matrix gives the f32 bias. */
static gboolean
ensure_bias_pieces (FaUmt5 *model, Layer *layer, GError **error)
{
  if (layer->bias_pieces != NULL)
    return TRUE;

  int heads = model->config.num_heads, buckets = model->config.num_buckets;
  int width = BIAS_PIECES * buckets;
  g_autofree float *host = g_new (float, (gsize) heads * width);
  for (int h = 0; h < heads; h++)
    for (int b = 0; b < buckets; b++)
      {
        float rest = layer->table[b * heads + h];
        for (int p = 0; p < BIAS_PIECES; p++)
          {
            float piece = p + 1 < BIAS_PIECES ? bf16_round (rest) : rest;
            host[(gsize) h * width + (gsize) p * buckets + b] = piece;
            rest -= piece;
          }
      }
  g_autoptr (FaTensor) wrapped = fa_tensor_new_wrapping (FA_DTYPE_F32, 2, (gint64[]) { heads, width }, host,
                                                         NULL, NULL, error);
  layer->bias_pieces = wrapped != NULL ? fa_tensor_to (wrapped, model->backend, FA_DTYPE_F32, error) : NULL;
  return layer->bias_pieces != NULL;
}

/* The layer's bias [heads, n, n] into @bias (f32 on the backend). */
static gboolean
make_bias (FaUmt5 *model, Layer *layer, gint64 n, FaTensor *bias, GError **error)
{
  if (!model->bias_by_gemm && fa_backend_get_device (model->backend) == FA_DEVICE_CPU)
    {
      fill_bias_direct (model, layer, n, bias);
      return TRUE;
    }
  if (!ensure_one_hot (model, n, error) || !ensure_bias_pieces (model, layer, error))
    return FALSE;
  g_autoptr (FaTensor) flat = fa_tensor_reshape (bias, 2, (gint64[]) { model->config.num_heads, n * n }, error);
  return flat != NULL && fa_op_linear (model->backend, layer->bias_pieces, model->one_hot, NULL, flat, error);
}

static gboolean
add_bias_hook (FaBackend *backend, FaTensor *logits, gpointer user_data, GError **error)
{
  const FaTensor *bias = user_data;
  return fa_op_add (backend, logits, bias, logits, error);
}

/* ---- the forward: activations ---- */

typedef struct {
  FaTensor *x;             /* the residual stream [n, d_model] */
  FaTensor *h, *a;         /* [n, d_model] */
  FaTensor *q, *k, *v, *o; /* [n, heads·d_kv] */
  FaTensor *g, *u;         /* [n, d_ff] */
  FaTensor *bias;          /* [heads, n, n] */
} Activations;

static gsize
round_up (gsize bytes)
{
  return (bytes + ARENA_ALIGNMENT - 1) & ~(gsize) (ARENA_ALIGNMENT - 1);
}

static gsize
plan_bytes (const FaUmt5Config *c, gint64 n)
{
  gsize row = (gsize) n * sizeof (float);
  gsize inner = (gsize) c->num_heads * c->d_kv;
  return 3 * round_up (row * c->d_model) + 4 * round_up (row * inner) + 2 * round_up (row * c->d_ff) +
         round_up (row * (gsize) n * c->num_heads);
}

static gboolean
take_activations (FaUmt5 *model, gint64 n, Activations *act, GError **error)
{
  const FaUmt5Config *c = &model->config;
  gsize needed = plan_bytes (c, n);

  /* one arena serves every prompt up to the longest seen */
  if (model->arena == NULL || fa_arena_get_capacity (model->arena) < needed)
    {
      g_clear_pointer (&model->arena, fa_arena_unref);
      model->arena = fa_arena_new (model->backend, "umt5 activations", needed, error);
      if (model->arena == NULL)
        return FALSE;
      g_autofree char *size = g_format_size_full (fa_arena_get_capacity (model->arena), G_FORMAT_SIZE_IEC_UNITS);
      g_info ("umT5 activations for %" G_GINT64_FORMAT " tokens: %s", n, size);
    }
  fa_arena_reset (model->arena);

  gint64 inner = (gint64) c->num_heads * c->d_kv;
  struct {
    FaTensor **tensor;
    int ndim;
    gint64 shape[3];
  } plan[] = {
    { &act->x, 2, { n, c->d_model } }, { &act->h, 2, { n, c->d_model } }, { &act->a, 2, { n, c->d_model } },
    { &act->q, 2, { n, inner } },      { &act->k, 2, { n, inner } },      { &act->v, 2, { n, inner } },
    { &act->o, 2, { n, inner } },      { &act->g, 2, { n, c->d_ff } },    { &act->u, 2, { n, c->d_ff } },
    { &act->bias, 3, { c->num_heads, n, n } },
  };
  for (guint i = 0; i < G_N_ELEMENTS (plan); i++)
    {
      *plan[i].tensor = fa_arena_new_tensor (model->arena, FA_DTYPE_F32, plan[i].ndim, plan[i].shape, error);
      if (*plan[i].tensor == NULL)
        return FALSE;
    }
  return TRUE;
}

static void
activations_clear (Activations *act)
{
  FaTensor **all[] = { &act->x, &act->h, &act->a, &act->q, &act->k, &act->v, &act->o, &act->g, &act->u,
                       &act->bias };
  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    g_clear_pointer (all[i], fa_tensor_unref);
}

/* ---- the forward: the pass ---- */

/* Logs the encode's peak without starting a new stage, so that a caller
 * can still read it (fa_backend_get_memory) until the next stage resets it. */
static void
log_memory (FaUmt5 *model, guint n)
{
  guint64 current, peak;

  fa_backend_get_memory (model->backend, &current, &peak);
  g_autofree char *peak_text = g_format_size_full (peak, G_FORMAT_SIZE_IEC_UNITS);
  g_autofree char *current_text = g_format_size_full (current, G_FORMAT_SIZE_IEC_UNITS);
  g_info ("umT5 encode of %u tokens: peak %s memory %s (%" G_GUINT64_FORMAT " bytes), %s held after it",
          n, fa_device_get_name (fa_backend_get_device (model->backend)), peak_text, peak, current_text);
}

static gboolean
check_ids (FaUmt5 *model, const gint32 *ids, guint n, GError **error)
{
  if (n == 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "umT5: no tokens to encode (a tokenized prompt holds at least </s>)");
      return FALSE;
    }
  if (n > MAX_TOKENS)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "umT5: %u tokens are more than the %d taken",
                   n, MAX_TOKENS);
      return FALSE;
    }
  for (guint i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= model->config.vocab_size)
      {
        g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                     "umT5: token %u has id %d, outside the vocabulary [0, %d)", i, ids[i],
                     model->config.vocab_size);
        return FALSE;
      }
  return TRUE;
}

static void
tap (FaUmt5TapFunc func, gpointer user_data, const char *name, const FaTensor *value)
{
  if (func != NULL)
    func (name, value, user_data);
}

static gboolean
embed (FaUmt5 *model, const gint32 *ids, guint n, FaTensor *x, GError **error)
{
  if (fa_backend_get_device (model->backend) == FA_DEVICE_CPU)
    {
      gather_rows (model, ids, n, fa_tensor_get_data (x));
      return TRUE;
    }
  g_autofree float *rows = g_try_new (float, (gsize) n * model->config.d_model);
  if (rows == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_OUT_OF_MEMORY, "umT5: out of host memory for %u embedding rows", n);
      return FALSE;
    }
  gather_rows (model, ids, n, rows);
  g_autoptr (FaTensor) host = fa_tensor_new_wrapping (FA_DTYPE_F32, 2, x->shape, rows, NULL, NULL, error);
  return host != NULL && fa_tensor_copy (x, host, error);
}

static gboolean
attention_block (FaUmt5 *model, int l, Activations *act, gint64 n, GError **error)
{
  const FaUmt5Config *c = &model->config;
  FaBackend *backend = model->backend;
  Layer *layer = &model->layers[l];
  gint64 inner = (gint64) c->num_heads * c->d_kv;
  const gint64 packed[3] = { 1, n, inner };

  if (!fa_op_rms_norm (backend, act->x, layer->t[SLOT_LN0], act->h, c->eps, error) ||
      !fa_op_linear (backend, act->h, layer->t[SLOT_Q], NULL, act->q, error) ||
      !fa_op_linear (backend, act->h, layer->t[SLOT_K], NULL, act->k, error) ||
      !fa_op_linear (backend, act->h, layer->t[SLOT_V], NULL, act->v, error) ||
      !make_bias (model, layer, n, act->bias, error))
    return FALSE;

  g_autoptr (FaTensor) q = fa_tensor_reshape (act->q, 3, packed, error);
  g_autoptr (FaTensor) k = q ? fa_tensor_reshape (act->k, 3, packed, error) : NULL;
  g_autoptr (FaTensor) v = k ? fa_tensor_reshape (act->v, 3, packed, error) : NULL;
  g_autoptr (FaTensor) o = v ? fa_tensor_reshape (act->o, 3, packed, error) : NULL;
  if (o == NULL)
    return FALSE;
  /* T5 does not scale the logits (spec B.1) */
  FaAttentionHook hook = { add_bias_hook, act->bias, 0 };
  return fa_op_attention (backend, q, k, v, o, c->num_heads, 1.0f, &hook, error) &&
         fa_op_linear (backend, act->o, layer->t[SLOT_O], NULL, act->a, error) &&
         fa_op_add (backend, act->x, act->a, act->x, error);
}

static gboolean
feed_forward_block (FaUmt5 *model, int l, Activations *act, GError **error)
{
  FaBackend *backend = model->backend;
  Layer *layer = &model->layers[l];

  /* x += wo(gelu_tanh(wi_0 h) ⊙ wi_1 h) */
  return fa_op_rms_norm (backend, act->x, layer->t[SLOT_LN1], act->h, model->config.eps, error) &&
         fa_op_linear (backend, act->h, layer->t[SLOT_WI0], NULL, act->g, error) &&
         fa_op_gelu_tanh (backend, act->g, act->g, error) &&
         fa_op_linear (backend, act->h, layer->t[SLOT_WI1], NULL, act->u, error) &&
         fa_op_mul (backend, act->g, act->u, act->g, error) &&
         fa_op_linear (backend, act->g, layer->t[SLOT_WO], NULL, act->a, error) &&
         fa_op_add (backend, act->x, act->a, act->x, error);
}

/* last_hidden_state of @ids into @out ([n, d_model] f32 on the backend). */
static gboolean
encode_into (FaUmt5 *model, const gint32 *ids, guint n, FaTensor *out, FaUmt5TapFunc tap_func,
             gpointer user_data, GError **error)
{
  const FaUmt5Config *c = &model->config;
  Activations act = { 0 };
  gboolean ok = FALSE;

  if (!take_activations (model, n, &act, error) || !embed (model, ids, n, act.x, error))
    goto out;
  tap (tap_func, user_data, "embed", act.x);

  for (int l = 0; l < c->num_layers; l++)
    {
      char name[64];
      if (!attention_block (model, l, &act, n, error))
        goto out;
      g_snprintf (name, sizeof name, "layer%d.attn", l);
      tap (tap_func, user_data, name, act.x);
      if (!feed_forward_block (model, l, &act, error))
        goto out;
      g_snprintf (name, sizeof name, "layer%d.out", l);
      tap (tap_func, user_data, name, act.x);
    }
  ok = fa_op_rms_norm (model->backend, act.x, model->final_norm, out, c->eps, error) &&
       fa_backend_synchronize (model->backend, error);

out:
  activations_clear (&act);
  return ok;
}

FaTensor *
_fa_umt5_encode_with_taps (FaUmt5 *model, const gint32 *ids, guint n, FaUmt5TapFunc tap_func,
                           gpointer user_data, GError **error)
{
  g_return_val_if_fail (model != NULL, NULL);
  g_return_val_if_fail (ids != NULL || n == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!check_ids (model, ids, n, error))
    return NULL;
  fa_backend_reset_peak (model->backend);
  g_autoptr (FaTensor) out = fa_tensor_new (model->backend, FA_DTYPE_F32, 2,
                                            (gint64[]) { n, model->config.d_model }, error);
  if (out == NULL || !encode_into (model, ids, n, out, tap_func, user_data, error))
    return NULL;
  log_memory (model, n);
  return g_steal_pointer (&out);
}

FaTensor *
fa_umt5_encode (FaUmt5 *model, const gint32 *ids, guint n, GError **error)
{
  return _fa_umt5_encode_with_taps (model, ids, n, NULL, NULL, error);
}

FaTensor *
fa_umt5_encode_context (FaUmt5 *model, const gint32 *ids, guint n, guint rows, GError **error)
{
  g_return_val_if_fail (model != NULL, NULL);
  g_return_val_if_fail (ids != NULL || n == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (n > rows)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "umT5: %u tokens do not fit a context of %u rows", n, rows);
      return NULL;
    }
  if (!check_ids (model, ids, n, error))
    return NULL;

  fa_backend_reset_peak (model->backend);
  gint64 d = model->config.d_model;
  g_autoptr (FaTensor) context = fa_tensor_new (model->backend, FA_DTYPE_F32, 2, (gint64[]) { rows, d }, error);
  g_autoptr (FaTensor) real = context ? fa_tensor_narrow (context, 0, 0, n, error) : NULL;
  if (real == NULL || !encode_into (model, ids, n, real, NULL, NULL, error))
    return NULL;

  /* Wan's trim-and-pad: the rows past the prompt are exactly zero (B.5) */
  if (rows > n)
    {
      g_autoptr (FaTensor) padding = fa_tensor_narrow (context, 0, n, rows - n, error);
      if (padding == NULL)
        return NULL;
      if (fa_backend_get_device (model->backend) == FA_DEVICE_CPU)
        memset (fa_tensor_get_data (padding), 0, fa_tensor_get_nbytes (padding));
      else
        {
          g_autofree float *zeros = g_try_new0 (float, (gsize) (rows - n) * d);
          g_autoptr (FaTensor) host = zeros ? fa_tensor_new_wrapping (FA_DTYPE_F32, 2, padding->shape, zeros,
                                                                      NULL, NULL, error) : NULL;
          if (zeros == NULL)
            g_set_error (error, FA_ERROR, FA_ERROR_OUT_OF_MEMORY, "umT5: out of host memory for the padding");
          if (host == NULL || !fa_tensor_copy (padding, host, error) ||
              !fa_backend_synchronize (model->backend, error))
            return NULL;
        }
    }
  log_memory (model, n);
  return g_steal_pointer (&context);
}
