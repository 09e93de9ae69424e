/* fa-wan-vae.c: the Wan2.1 VAE's configuration, tensor names, loader and
 * random weights (the forward passes are fa-wan-vae-forward.c).
 *
 * Loading goes in three steps, so that a bad checkpoint fails before a
 * single byte is converted or uploaded:
 *
 *  1. Layout. The original Wan names are recognised by spec C.5's key
 *     (decoder.middle.0.residual.0.gamma), the diffusers names by their
 *     counterpart (decoder.mid_block.resnets.0.norm1.gamma). When the key
 *     only appears behind a prefix ("vae.", "first_stage_model.", …) and
 *     every tensor of the set carries that same prefix, the prefix is
 *     dropped; a prefix that only some names carry is kept, so those
 *     names show up as unexpected rather than being guessed at. Without
 *     either key, unprefixed original module names (encoder.downsamples,
 *     decoder.middle, …) still mark the original layout.
 *  2. Configuration. config.json where it says, the tensor shapes for
 *     base_dim and z_dim otherwise, Wan2.1's values for the rest. The
 *     expected tensors (diffusers name → checkpoint shape) follow from it,
 *     and for an original checkpoint each is looked up under its original
 *     name for this configuration (decoder.upsamples.N counts resnets and
 *     upsamplers of all up blocks in a row, so N depends on
 *     num_res_blocks).
 *  3. Check, then convert. Every expected tensor present, none left over,
 *     every shape right and every dtype a float; then one tensor at a time
 *     to f32 on the host, convolution weights permuted to channels-last,
 *     and on to the backend.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-wan-vae"

#include "config.h"

#include "fa-wan-vae-private.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "fa-error.h"
#include "fa-model-files.h"
#include "fa-random.h"

/* Upper bounds that keep every size product far from overflowing. */
#define MAX_WIDTH (1 << 20)
#define MAX_MULT 64
#define MAX_RES_BLOCKS 64

/* The stage count is fixed by FaWanVaeConfig (dim_mult[4]). */
#define N_STAGES 4

/* The names that tell the layouts apart (spec C.5). */
#define ORIGINAL_KEY "decoder.middle.0.residual.0.gamma"
#define DIFFUSERS_KEY "decoder.mid_block.resnets.0.norm1.gamma"

/* Wan2.1's (spec C.1). */
static const float wan21_latents_mean[16] = {
  -0.7571f, -0.7089f, -0.9113f, 0.1075f, -0.1745f, 0.9653f, -0.1517f, 1.5508f,
  0.4134f, -0.0715f, 0.5517f, -0.3632f, -0.1922f, -0.9497f, 0.2503f, -0.2921f,
};
static const float wan21_latents_std[16] = {
  2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
  3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.9160f,
};

/* ---- configuration ---- */

void
fa_wan_vae_config_init_2_1 (FaWanVaeConfig *config)
{
  g_return_if_fail (config != NULL);

  *config = (FaWanVaeConfig) {
    .base_dim = 96,
    .z_dim = 16,
    .dim_mult = { 1, 2, 4, 4 },
    .num_res_blocks = 2,
    .temporal_downsample = { FALSE, TRUE, TRUE },
  };
  memcpy (config->latents_mean, wan21_latents_mean, sizeof wan21_latents_mean);
  memcpy (config->latents_std, wan21_latents_std, sizeof wan21_latents_std);
}

static gboolean
check_range (const char *field, int value, int max, GError **error)
{
  if (value >= 1 && value <= max)
    return TRUE;
  g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
               "VAE configuration: %s is %d; it must lie in [1, %d]", field, value, max);
  return FALSE;
}

gboolean
_fa_wan_vae_config_check (const FaWanVaeConfig *config, GError **error)
{
  g_return_val_if_fail (config != NULL, FALSE);

  if (!check_range ("base_dim", config->base_dim, MAX_WIDTH, error) ||
      !check_range ("z_dim", config->z_dim, FA_WAN_VAE_MAX_Z_DIM, error) ||
      !check_range ("num_res_blocks", config->num_res_blocks, MAX_RES_BLOCKS, error))
    return FALSE;
  for (int i = 0; i < N_STAGES; i++)
    {
      char field[16];
      g_snprintf (field, sizeof field, "dim_mult[%d]", i);
      if (!check_range (field, config->dim_mult[i], MAX_MULT, error))
        return FALSE;
      if ((gint64) config->base_dim * config->dim_mult[i] > MAX_WIDTH)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                       "VAE configuration: base_dim %d × dim_mult[%d] %d is wider than %d channels",
                       config->base_dim, i, config->dim_mult[i], MAX_WIDTH);
          return FALSE;
        }
    }
  for (int c = 0; c < config->z_dim; c++)
    {
      if (!isfinite (config->latents_mean[c]))
        {
          g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                       "VAE configuration: latents_mean[%d] is not finite", c);
          return FALSE;
        }
      /* The latents are divided by it. */
      if (!(isfinite (config->latents_std[c]) && config->latents_std[c] > 0.0f))
        {
          g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                       "VAE configuration: latents_std[%d] is %g; it must be positive and finite", c,
                       (double) config->latents_std[c]);
          return FALSE;
        }
    }
  return TRUE;
}

int
_fa_wan_vae_encoder_dim (const FaWanVaeConfig *config, int stage)
{
  g_return_val_if_fail (config != NULL, 0);
  g_return_val_if_fail (stage >= 0 && stage <= N_STAGES, 0);

  return stage == 0 ? config->base_dim : config->base_dim * config->dim_mult[stage - 1];
}

/* The decoder's widths, diffusers' dims = [base·mult[-1]] + [base·m for m
 * in reversed(mult)]: dims[i] enters up block i (halved for i > 0: the
 * upsampler before it halves the channels), dims[i + 1] leaves it. */
static int
decoder_dim (const FaWanVaeConfig *config, int i)
{
  return i == 0 ? _fa_wan_vae_encoder_dim (config, N_STAGES)
                : _fa_wan_vae_encoder_dim (config, N_STAGES + 1 - i);
}

/* ---- expected tensors ---- */

static void
spec_free (gpointer data)
{
  FaWanVaeTensorSpec *spec = data;

  g_free (spec->name);
  g_free (spec);
}

/* Takes @name; the shape is the checkpoint's, @ndim values from @dims. */
static void
add_spec (GPtrArray *specs, FaWanVaeTensorKind kind, char *name, int ndim, const gint64 *dims)
{
  FaWanVaeTensorSpec *spec = g_new0 (FaWanVaeTensorSpec, 1);

  spec->name = name;
  spec->kind = kind;
  spec->ndim = ndim;
  for (int i = 0; i < ndim; i++)
    spec->shape[i] = dims[i];
  g_ptr_array_add (specs, spec);
}

/* "<prefix>.weight" [co, ci, k…] and "<prefix>.bias" [co]; @kernel is kt,
 * kh, kw for a 3-D convolution or kh, kw for a 2-D one (@k_ndim 2). */
static void
add_conv (GPtrArray *specs, const char *prefix, gint64 co, gint64 ci, int k_ndim, gint64 k0,
          gint64 k1, gint64 k2)
{
  const gint64 weight[5] = { co, ci, k0, k1, k2 };

  add_spec (specs, FA_WAN_VAE_TENSOR_CONV, g_strconcat (prefix, ".weight", NULL), 2 + k_ndim, weight);
  add_spec (specs, FA_WAN_VAE_TENSOR_BIAS, g_strconcat (prefix, ".bias", NULL), 1, &co);
}

/* An RMS norm's gamma: [c, 1, 1, 1] (3-D) or [c, 1, 1] (images). */
static void
add_gamma (GPtrArray *specs, const char *prefix, gint64 c, int ndim)
{
  const gint64 shape[4] = { c, 1, 1, 1 };

  add_spec (specs, FA_WAN_VAE_TENSOR_GAMMA, g_strconcat (prefix, ".gamma", NULL), ndim, shape);
}

static void
add_resnet (GPtrArray *specs, const char *prefix, gint64 in, gint64 out)
{
  g_autofree char *norm1 = g_strconcat (prefix, ".norm1", NULL);
  g_autofree char *conv1 = g_strconcat (prefix, ".conv1", NULL);
  g_autofree char *norm2 = g_strconcat (prefix, ".norm2", NULL);
  g_autofree char *conv2 = g_strconcat (prefix, ".conv2", NULL);

  add_gamma (specs, norm1, in, 4);
  add_conv (specs, conv1, out, in, 3, 3, 3, 3);
  add_gamma (specs, norm2, out, 4);
  add_conv (specs, conv2, out, out, 3, 3, 3, 3);
  if (in != out)
    {
      g_autofree char *shortcut = g_strconcat (prefix, ".conv_shortcut", NULL);
      add_conv (specs, shortcut, out, in, 3, 1, 1, 1);
    }
}

/* Res, attention, res, all @dim wide (forward order). */
static void
add_mid_block (GPtrArray *specs, const char *side, gint64 dim)
{
  g_autofree char *res0 = g_strconcat (side, ".mid_block.resnets.0", NULL);
  g_autofree char *norm = g_strconcat (side, ".mid_block.attentions.0.norm", NULL);
  g_autofree char *qkv = g_strconcat (side, ".mid_block.attentions.0.to_qkv", NULL);
  g_autofree char *proj = g_strconcat (side, ".mid_block.attentions.0.proj", NULL);
  g_autofree char *res1 = g_strconcat (side, ".mid_block.resnets.1", NULL);

  add_resnet (specs, res0, dim, dim);
  add_gamma (specs, norm, dim, 3);
  add_conv (specs, qkv, 3 * dim, dim, 2, 1, 1, 0);
  add_conv (specs, proj, dim, dim, 2, 1, 1, 0);
  add_resnet (specs, res1, dim, dim);
}

GPtrArray *
_fa_wan_vae_expected_tensors (const FaWanVaeConfig *config)
{
  g_return_val_if_fail (config != NULL, NULL);

  GPtrArray *specs = g_ptr_array_new_with_free_func (spec_free);
  gint64 z = config->z_dim;
  int nrb = config->num_res_blocks;

  /* Encoder: num_res_blocks resnets per stage, then a downsampler for all
   * but the last stage, numbered in one sequence. */
  add_conv (specs, "encoder.conv_in", config->base_dim, 3, 3, 3, 3, 3);
  int n = 0;
  for (int stage = 0; stage < N_STAGES; stage++)
    {
      gint64 in = _fa_wan_vae_encoder_dim (config, stage);
      gint64 out = _fa_wan_vae_encoder_dim (config, stage + 1);
      for (int r = 0; r < nrb; r++, n++)
        {
          g_autofree char *prefix = g_strdup_printf ("encoder.down_blocks.%d", n);
          add_resnet (specs, prefix, r == 0 ? in : out, out);
        }
      if (stage == N_STAGES - 1)
        continue;
      g_autofree char *resample = g_strdup_printf ("encoder.down_blocks.%d.resample.1", n);
      add_conv (specs, resample, out, out, 2, 3, 3, 0);
      if (config->temporal_downsample[stage])
        {
          g_autofree char *time_conv = g_strdup_printf ("encoder.down_blocks.%d.time_conv", n);
          add_conv (specs, time_conv, out, out, 3, 3, 1, 1);
        }
      n++;
    }
  gint64 deepest = _fa_wan_vae_encoder_dim (config, N_STAGES);
  add_mid_block (specs, "encoder", deepest);
  add_gamma (specs, "encoder.norm_out", deepest, 4);
  /* The encoder gives mean and log-variance: 2·z_dim channels. */
  add_conv (specs, "encoder.conv_out", 2 * z, deepest, 3, 3, 3, 3);
  add_conv (specs, "quant_conv", 2 * z, 2 * z, 3, 1, 1, 1);
  add_conv (specs, "post_quant_conv", z, z, 3, 1, 1, 1);

  /* Decoder: num_res_blocks + 1 resnets per up block, then an upsampler
   * (with a time_conv where the reversed temporal flag is set) for all
   * but the last. */
  gint64 top = decoder_dim (config, 0);
  add_conv (specs, "decoder.conv_in", top, z, 3, 3, 3, 3);
  add_mid_block (specs, "decoder", top);
  for (int i = 0; i < N_STAGES; i++)
    {
      gint64 in = i == 0 ? top : decoder_dim (config, i) / 2;
      gint64 out = decoder_dim (config, i + 1);
      for (int r = 0; r <= nrb; r++)
        {
          g_autofree char *prefix = g_strdup_printf ("decoder.up_blocks.%d.resnets.%d", i, r);
          add_resnet (specs, prefix, r == 0 ? in : out, out);
        }
      if (i == N_STAGES - 1)
        continue;
      g_autofree char *resample = g_strdup_printf ("decoder.up_blocks.%d.upsamplers.0.resample.1", i);
      add_conv (specs, resample, out / 2, out, 2, 3, 3, 0);
      if (config->temporal_downsample[N_STAGES - 2 - i])
        {
          g_autofree char *time_conv = g_strdup_printf ("decoder.up_blocks.%d.upsamplers.0.time_conv", i);
          add_conv (specs, time_conv, 2 * out, out, 3, 3, 1, 1);
        }
    }
  gint64 last = decoder_dim (config, N_STAGES);
  add_gamma (specs, "decoder.norm_out", last, 4);
  add_conv (specs, "decoder.conv_out", 3, last, 3, 3, 3, 3);
  return specs;
}

static guint64
spec_numel (const FaWanVaeTensorSpec *spec)
{
  guint64 numel = 1;

  for (int i = 0; i < spec->ndim; i++)
    numel *= (guint64) spec->shape[i];
  return numel;
}

/* ---- names ----
 * Spec C.5, parsed rather than substituted: the decoder's flat upsamples.N
 * index needs arithmetic, and a name that fits no module maps to NULL
 * instead of to something half-renamed. */

typedef struct {
  const char *original, *diffusers;
} Rename;

/* Inside a residual block. */
static const Rename resnet_parts[] = {
  { "residual.0.", "norm1." },
  { "residual.2.", "conv1." },
  { "residual.3.", "norm2." },
  { "residual.6.", "conv2." },
  { "shortcut.", "conv_shortcut." },
};

/* Inside a resample and the attention: the same in both layouts. */
static const char *const resample_parts[] = { "resample.1.", "time_conv." };
static const char *const attention_parts[] = { "norm.", "to_qkv.", "proj." };

/* The parameter after a module: one segment ("weight", "bias", "gamma"). */
static gboolean
is_leaf (const char *s)
{
  return *s != '\0' && strchr (s, '.') == NULL;
}

/* @s starts with a decimal index followed by '.': its value (no leading
 * zeros, bounded), with *@end after the dot; -1 otherwise. */
static int
parse_index (const char *s, const char **end)
{
  int value = 0, digits = 0;

  while (g_ascii_isdigit (s[digits]))
    {
      if (digits == 6 || (digits == 1 && s[0] == '0'))
        return -1;
      value = value * 10 + (s[digits] - '0');
      digits++;
    }
  if (digits == 0 || s[digits] != '.')
    return -1;
  *end = s + digits + 1;
  return value;
}

/* A residual block's part in the other layout ("residual.2.weight" ↔
 * "conv1.weight"), or NULL. */
static char *
rename_resnet_part (const char *part, gboolean to_diffusers)
{
  for (guint i = 0; i < G_N_ELEMENTS (resnet_parts); i++)
    {
      const char *from = to_diffusers ? resnet_parts[i].original : resnet_parts[i].diffusers;
      const char *to = to_diffusers ? resnet_parts[i].diffusers : resnet_parts[i].original;
      if (g_str_has_prefix (part, from) && is_leaf (part + strlen (from)))
        return g_strconcat (to, part + strlen (from), NULL);
    }
  return NULL;
}

static gboolean
is_kept_part (const char *part, const char *const *parts, guint n_parts)
{
  for (guint i = 0; i < n_parts; i++)
    if (g_str_has_prefix (part, parts[i]) && is_leaf (part + strlen (parts[i])))
      return TRUE;
  return FALSE;
}

/* "<head><part'>" with @part renamed as a resnet's, or NULL. */
static char *
resnet_name (const char *head, const char *part, gboolean to_diffusers)
{
  g_autofree char *renamed = rename_resnet_part (part, to_diffusers);
  return renamed != NULL ? g_strconcat (head, renamed, NULL) : NULL;
}

static char *
resample_name (const char *head, const char *part)
{
  if (!is_kept_part (part, resample_parts, G_N_ELEMENTS (resample_parts)))
    return NULL;
  return g_strconcat (head, part, NULL);
}

/* The part of a side (encoder or decoder) shared by both: the stem, head
 * and middle. NULL when @rest is none of them. */
static char *
map_common (const char *side, const char *rest, gboolean to_diffusers)
{
  static const Rename simple[] = {
    { "conv1.", "conv_in." },
    { "head.0.", "norm_out." },
    { "head.2.", "conv_out." },
  };
  for (guint i = 0; i < G_N_ELEMENTS (simple); i++)
    {
      const char *from = to_diffusers ? simple[i].original : simple[i].diffusers;
      const char *to = to_diffusers ? simple[i].diffusers : simple[i].original;
      if (g_str_has_prefix (rest, from) && is_leaf (rest + strlen (from)))
        return g_strconcat (side, to, rest + strlen (from), NULL);
    }

  static const Rename middle[] = {
    { "middle.0.", "mid_block.resnets.0." },
    { "middle.2.", "mid_block.resnets.1." },
  };
  for (guint i = 0; i < G_N_ELEMENTS (middle); i++)
    {
      const char *from = to_diffusers ? middle[i].original : middle[i].diffusers;
      const char *to = to_diffusers ? middle[i].diffusers : middle[i].original;
      if (g_str_has_prefix (rest, from))
        {
          g_autofree char *head = g_strconcat (side, to, NULL);
          return resnet_name (head, rest + strlen (from), to_diffusers);
        }
    }
  const char *attention_from = to_diffusers ? "middle.1." : "mid_block.attentions.0.";
  const char *attention_to = to_diffusers ? "mid_block.attentions.0." : "middle.1.";
  if (g_str_has_prefix (rest, attention_from))
    {
      const char *part = rest + strlen (attention_from);
      if (!is_kept_part (part, attention_parts, G_N_ELEMENTS (attention_parts)))
        return NULL;
      return g_strconcat (side, attention_to, part, NULL);
    }
  return NULL;
}

/* The encoder's down_blocks.N ↔ downsamples.N (same N): stage N / (nrb + 1)
 * holds nrb resnets, then (stages 0..2) the resample. */
static char *
map_encoder_block (const char *rest, int nrb, gboolean to_diffusers)
{
  const char *from = to_diffusers ? "downsamples." : "down_blocks.";
  const char *to = to_diffusers ? "encoder.down_blocks." : "encoder.downsamples.";
  const char *part;

  if (!g_str_has_prefix (rest, from))
    return NULL;
  int n = parse_index (rest + strlen (from), &part);
  if (n < 0)
    return NULL;
  int stage = n / (nrb + 1), slot = n % (nrb + 1);
  if (stage >= N_STAGES)
    return NULL;
  g_autofree char *head = g_strdup_printf ("%s%d.", to, n);
  if (slot < nrb)
    return resnet_name (head, part, to_diffusers);
  return stage < N_STAGES - 1 ? resample_name (head, part) : NULL;
}

/* The decoder's upsamples.N counts every up block's nrb + 1 resnets and
 * its upsampler in a row: N = block · (nrb + 2) + slot. */
static char *
map_decoder_block (const char *rest, int nrb, gboolean to_diffusers)
{
  int per_block = nrb + 2;
  const char *part;

  if (to_diffusers)
    {
      if (!g_str_has_prefix (rest, "upsamples."))
        return NULL;
      int n = parse_index (rest + strlen ("upsamples."), &part);
      if (n < 0)
        return NULL;
      int block = n / per_block, slot = n % per_block;
      if (block >= N_STAGES)
        return NULL;
      if (slot <= nrb)
        {
          g_autofree char *head = g_strdup_printf ("decoder.up_blocks.%d.resnets.%d.", block, slot);
          return resnet_name (head, part, TRUE);
        }
      if (block == N_STAGES - 1)
        return NULL;
      g_autofree char *head = g_strdup_printf ("decoder.up_blocks.%d.upsamplers.0.", block);
      return resample_name (head, part);
    }

  if (!g_str_has_prefix (rest, "up_blocks."))
    return NULL;
  int block = parse_index (rest + strlen ("up_blocks."), &rest);
  if (block < 0 || block >= N_STAGES)
    return NULL;
  if (g_str_has_prefix (rest, "resnets."))
    {
      int slot = parse_index (rest + strlen ("resnets."), &part);
      if (slot < 0 || slot > nrb)
        return NULL;
      g_autofree char *head = g_strdup_printf ("decoder.upsamples.%d.", block * per_block + slot);
      return resnet_name (head, part, FALSE);
    }
  if (g_str_has_prefix (rest, "upsamplers.0.") && block < N_STAGES - 1)
    {
      g_autofree char *head = g_strdup_printf ("decoder.upsamples.%d.", block * per_block + nrb + 1);
      return resample_name (head, rest + strlen ("upsamplers.0."));
    }
  return NULL;
}

static char *
map_name (const char *name, int nrb, gboolean to_diffusers)
{
  static const Rename quant[] = {
    { "conv1.", "quant_conv." },
    { "conv2.", "post_quant_conv." },
  };
  for (guint i = 0; i < G_N_ELEMENTS (quant); i++)
    {
      const char *from = to_diffusers ? quant[i].original : quant[i].diffusers;
      const char *to = to_diffusers ? quant[i].diffusers : quant[i].original;
      if (g_str_has_prefix (name, from) && is_leaf (name + strlen (from)))
        return g_strconcat (to, name + strlen (from), NULL);
    }

  static const char *const sides[] = { "encoder.", "decoder." };
  for (guint i = 0; i < G_N_ELEMENTS (sides); i++)
    {
      if (!g_str_has_prefix (name, sides[i]))
        continue;
      const char *rest = name + strlen (sides[i]);
      char *mapped = map_common (sides[i], rest, to_diffusers);
      if (mapped != NULL)
        return mapped;
      return i == 0 ? map_encoder_block (rest, nrb, to_diffusers)
                    : map_decoder_block (rest, nrb, to_diffusers);
    }
  return NULL;
}

/* The private API speaks of Wan2.1's VAE; the loader maps with the
 * num_res_blocks of the checkpoint at hand. */
char *
_fa_wan_vae_diffusers_name (const char *original_name)
{
  g_return_val_if_fail (original_name != NULL, NULL);
  return map_name (original_name, 2, TRUE);
}

char *
_fa_wan_vae_original_name (const char *diffusers_name)
{
  g_return_val_if_fail (diffusers_name != NULL, NULL);
  return map_name (diffusers_name, 2, FALSE);
}

/* ---- the catalogue of a weight set ---- */

typedef struct {
  FaWeights *weights; /* borrowed */
  const char *path;
  char *prefix;       /* in front of every name; "" for none */
  gboolean original;  /* original Wan names */
} Catalog;

static void
catalog_free (Catalog *catalog)
{
  g_free (catalog->prefix);
  g_free (catalog);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Catalog, catalog_free)

/* The prefix in front of @key in @name ("vae." in "vae.<key>"), or NULL. */
static char *
prefix_before (const char *name, const char *key)
{
  gsize name_length = strlen (name), key_length = strlen (key);

  if (name_length <= key_length || !g_str_has_suffix (name, key) ||
      name[name_length - key_length - 1] != '.')
    return NULL;
  return g_strndup (name, name_length - key_length);
}

static gboolean
all_have_prefix (FaWeights *weights, const char *prefix)
{
  for (guint i = 0; i < fa_weights_get_n_tensors (weights); i++)
    if (!g_str_has_prefix (fa_weights_get_entry (weights, i)->name, prefix))
      return FALSE;
  return TRUE;
}

static Catalog *
catalog_new (FaWeights *weights)
{
  Catalog *catalog = g_new0 (Catalog, 1);

  catalog->weights = weights;
  catalog->path = fa_weights_get_path (weights);
  if (fa_weights_lookup (weights, ORIGINAL_KEY) != NULL)
    catalog->original = TRUE;
  else if (fa_weights_lookup (weights, DIFFUSERS_KEY) == NULL)
    {
      for (guint i = 0; i < fa_weights_get_n_tensors (weights) && catalog->prefix == NULL; i++)
        {
          const char *name = fa_weights_get_entry (weights, i)->name;
          gboolean original = TRUE;
          g_autofree char *prefix = prefix_before (name, ORIGINAL_KEY);
          if (prefix == NULL)
            {
              prefix = prefix_before (name, DIFFUSERS_KEY);
              original = FALSE;
            }
          if (prefix != NULL && all_have_prefix (weights, prefix))
            {
              catalog->prefix = g_steal_pointer (&prefix);
              catalog->original = original;
            }
        }
    }
  if (catalog->prefix == NULL)
    {
      catalog->prefix = g_strdup ("");
      /* Without its key tensor an original checkpoint is still told by
       * the others, so that the key is reported missing under its name. */
      for (guint i = 0; i < fa_weights_get_n_tensors (weights) && !catalog->original; i++)
        {
          const char *name = fa_weights_get_entry (weights, i)->name;
          catalog->original = g_str_has_prefix (name, "encoder.downsamples.") ||
                              g_str_has_prefix (name, "decoder.upsamples.") ||
                              g_str_has_prefix (name, "encoder.middle.") ||
                              g_str_has_prefix (name, "decoder.middle.");
        }
    }
  else
    g_info ("%s: tensor names without the prefix '%s'", catalog->path, catalog->prefix);
  return catalog;
}

/* The name in the file that holds the diffusers tensor @name. */
static char *
file_name_of (Catalog *catalog, const char *name, int nrb)
{
  g_autofree char *original = catalog->original ? map_name (name, nrb, FALSE) : NULL;
  return g_strconcat (catalog->prefix, original != NULL ? original : name, NULL);
}

/* "decoder.conv_in.weight (original name decoder.conv1.weight)". */
static char *
describe (Catalog *catalog, const char *name, const char *file_name)
{
  if (g_str_equal (name, file_name))
    return g_strdup (name);
  return g_strdup_printf ("%s (%s %s)", name, catalog->original ? "original name" : "stored as",
                          file_name);
}

/* ---- configuration from config.json and the shapes ---- */

/* config.json as read; 0 or FALSE for what it does not say. */
typedef struct {
  gint64 base_dim, z_dim, num_res_blocks;
  gboolean has_dim_mult, has_temporal, has_mean, has_std;
  gint64 dim_mult[N_STAGES];
  gboolean temporal[N_STAGES - 1];
  guint n_mean, n_std;
  float mean[FA_WAN_VAE_MAX_Z_DIM], std[FA_WAN_VAE_MAX_Z_DIM];
} Partial;

/* A member that is absent or null. */
static gboolean
is_unset (JsonObject *object, const char *key)
{
  JsonNode *node = json_object_get_member (object, key);
  return node == NULL || JSON_NODE_HOLDS_NULL (node);
}

static gboolean
is_bool (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_BOOLEAN;
}

static gboolean
is_int (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64;
}

static gboolean
is_number (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && (json_node_get_value_type (node) == G_TYPE_INT64 ||
                                          json_node_get_value_type (node) == G_TYPE_DOUBLE);
}

/* Features of other VAEs (Wan2.2's, patchified or with attention in the
 * down blocks) that this loader and the forward pass do not implement. */
static gboolean
refuse_unsupported (JsonObject *object, const char *path, GError **error)
{
  JsonNode *node = json_object_get_member (object, "is_residual");
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node) && !(is_bool (node) && !json_node_get_boolean (node)))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "%s: is_residual: Wan2.2's VAE is not supported, only Wan2.1's", path);
      return TRUE;
    }
  if (!is_unset (object, "patch_size"))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "%s: patch_size: patchified VAEs (Wan2.2) are not supported, only Wan2.1's", path);
      return TRUE;
    }
  node = json_object_get_member (object, "attn_scales");
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node) &&
      !(JSON_NODE_HOLDS_ARRAY (node) && json_array_get_length (json_node_get_array (node)) == 0))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "%s: attn_scales: attention in the down and up blocks is not supported; Wan2.1's "
                   "VAE has none ([])", path);
      return TRUE;
    }
  static const char *const rgb[] = { "in_channels", "out_channels" };
  for (guint i = 0; i < G_N_ELEMENTS (rgb); i++)
    {
      node = json_object_get_member (object, rgb[i]);
      if (node != NULL && !JSON_NODE_HOLDS_NULL (node) && !(is_int (node) && json_node_get_int (node) == 3))
        {
          g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                       "%s: %s: only RGB video (3 channels) is supported", path, rgb[i]);
          return TRUE;
        }
    }
  /* The decoder could be narrower than the encoder; Wan2.1's is not. */
  node = json_object_get_member (object, "decoder_base_dim");
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node))
    {
      JsonNode *base = json_object_get_member (object, "base_dim");
      if (!(is_int (node) && base != NULL && is_int (base) &&
            json_node_get_int (node) == json_node_get_int (base)))
        {
          g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                       "%s: decoder_base_dim: a decoder width other than base_dim is not supported",
                       path);
          return TRUE;
        }
    }
  return FALSE;
}

static gboolean
read_float_list (JsonObject *object, const char *key, const char *path, float *out, guint *out_n,
                 GError **error)
{
  JsonNode *node = json_object_get_member (object, key);
  JsonArray *array = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
  guint n = array != NULL ? json_array_get_length (array) : 0;
  gboolean ok = array != NULL && n >= 1 && n <= FA_WAN_VAE_MAX_Z_DIM;

  for (guint i = 0; ok && i < n; i++)
    {
      JsonNode *element = json_array_get_element (array, i);
      ok = is_number (element);
      if (ok)
        {
          double value = json_node_get_value_type (element) == G_TYPE_DOUBLE
                           ? json_node_get_double (element) : (double) json_node_get_int (element);
          out[i] = (float) value;
          ok = isfinite (out[i]);
        }
    }
  if (!ok)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                   "%s: \"%s\" is not a list of 1 to %d finite numbers", path, key,
                   FA_WAN_VAE_MAX_Z_DIM);
      return FALSE;
    }
  *out_n = n;
  return TRUE;
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
  if (class_name != NULL && !g_str_equal (class_name, "AutoencoderKLWan"))
    {
      if (!strict)
        {
          g_info ("%s describes a %s, not a Wan VAE: ignored", path, class_name);
          *out_ignored = TRUE;
          return TRUE;
        }
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "%s describes a %s, not a Wan VAE (AutoencoderKLWan)", path, class_name);
      return FALSE;
    }
  if (refuse_unsupported (object, path, error))
    return FALSE;

  if (!fa_json_get_positive (object, "base_dim", path, MAX_WIDTH, &partial->base_dim, error) ||
      !fa_json_get_positive (object, "z_dim", path, MAX_WIDTH, &partial->z_dim, error) ||
      !fa_json_get_positive (object, "num_res_blocks", path, MAX_RES_BLOCKS, &partial->num_res_blocks,
                             error))
    return FALSE;
  if (partial->z_dim > FA_WAN_VAE_MAX_Z_DIM)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "%s: z_dim: %" G_GINT64_FORMAT " latent channels are more than the %d supported",
                   path, partial->z_dim, FA_WAN_VAE_MAX_Z_DIM);
      return FALSE;
    }

  if (!is_unset (object, "dim_mult"))
    {
      JsonNode *node = json_object_get_member (object, "dim_mult");
      JsonArray *array = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
      gboolean ok = array != NULL && json_array_get_length (array) >= 1;
      for (guint i = 0; ok && i < json_array_get_length (array); i++)
        {
          JsonNode *element = json_array_get_element (array, i);
          ok = is_int (element) && json_node_get_int (element) >= 1 &&
               json_node_get_int (element) <= MAX_MULT;
          if (ok && i < N_STAGES)
            partial->dim_mult[i] = json_node_get_int (element);
        }
      if (!ok)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                       "%s: \"dim_mult\" is not a list of integers in [1, %d]", path, MAX_MULT);
          return FALSE;
        }
      if (json_array_get_length (array) != N_STAGES)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                       "%s: dim_mult: %u stages; only Wan2.1's %d are supported", path,
                       json_array_get_length (array), N_STAGES);
          return FALSE;
        }
      partial->has_dim_mult = TRUE;
    }

  if (!is_unset (object, "temperal_downsample"))
    {
      JsonNode *node = json_object_get_member (object, "temperal_downsample");
      JsonArray *array = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
      gboolean ok = array != NULL && json_array_get_length (array) == N_STAGES - 1;
      for (guint i = 0; ok && i < N_STAGES - 1; i++)
        {
          JsonNode *element = json_array_get_element (array, i);
          ok = is_bool (element);
          if (ok)
            partial->temporal[i] = json_node_get_boolean (element);
        }
      if (!ok)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                       "%s: \"temperal_downsample\" is not a list of %d booleans", path, N_STAGES - 1);
          return FALSE;
        }
      partial->has_temporal = TRUE;
    }

  if (!is_unset (object, "latents_mean"))
    {
      if (!read_float_list (object, "latents_mean", path, partial->mean, &partial->n_mean, error))
        return FALSE;
      partial->has_mean = TRUE;
    }
  if (!is_unset (object, "latents_std"))
    {
      if (!read_float_list (object, "latents_std", path, partial->std, &partial->n_std, error))
        return FALSE;
      partial->has_std = TRUE;
    }
  return TRUE;
}

/* The first axis of the tensor @name, which must be 5-D, for inferring @what. */
static gboolean
size_from_shape (Catalog *catalog, const char *name, const char *what, gint64 *out, GError **error)
{
  /* Both tensors used here have the same name for every num_res_blocks. */
  g_autofree char *file_name = file_name_of (catalog, name, 2);
  const FaSafetensorsEntry *entry = fa_weights_lookup (catalog->weights, file_name);

  if (entry == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND,
                   "vae checkpoint %s: cannot tell the VAE's %s: tensor %s is missing and no "
                   "config.json gives it", catalog->path, what, file_name);
      return FALSE;
    }
  if (entry->ndim != 5)
    {
      g_autofree char *described = describe (catalog, name, file_name);
      g_autofree char *shape = fa_shape_to_string (entry->ndim, entry->shape);
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                   "vae checkpoint %s: tensor %s has shape %s, not the 5 axes of a 3-D convolution",
                   catalog->path, described, shape);
      return FALSE;
    }
  *out = entry->shape[0];
  return TRUE;
}

/* config.json's fields, the shapes for base_dim and z_dim, Wan2.1's values
 * for the rest. */
static gboolean
resolve_config (Catalog *catalog, const char *config_json, gboolean strict, FaWanVaeConfig *config,
                GError **error)
{
  Partial partial = { 0 };
  gboolean ignored = FALSE;

  if (config_json != NULL && !read_config_json (config_json, strict, &partial, &ignored, error))
    return FALSE;
  if (ignored)
    config_json = NULL;

  if ((partial.base_dim == 0 &&
       !size_from_shape (catalog, "encoder.conv_in.weight", "base_dim", &partial.base_dim, error)) ||
      (partial.z_dim == 0 &&
       !size_from_shape (catalog, "post_quant_conv.weight", "z_dim", &partial.z_dim, error)))
    return FALSE;

  const char *source = config_json != NULL ? config_json : catalog->path;
  if (partial.base_dim > MAX_WIDTH || partial.z_dim > FA_WAN_VAE_MAX_Z_DIM)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "%s: a VAE of base_dim %" G_GINT64_FORMAT " and z_dim %" G_GINT64_FORMAT
                   " is not supported (at most %d latent channels)", source, partial.base_dim,
                   partial.z_dim, FA_WAN_VAE_MAX_Z_DIM);
      return FALSE;
    }

  fa_wan_vae_config_init_2_1 (config);
  config->base_dim = (int) partial.base_dim;
  config->z_dim = (int) partial.z_dim;
  if (partial.num_res_blocks != 0)
    config->num_res_blocks = (int) partial.num_res_blocks;
  if (partial.has_dim_mult)
    for (int i = 0; i < N_STAGES; i++)
      config->dim_mult[i] = (int) partial.dim_mult[i];
  if (partial.has_temporal)
    for (int i = 0; i < N_STAGES - 1; i++)
      config->temporal_downsample[i] = partial.temporal[i];

  /* The latent statistics are in no tensor: config.json's, else Wan2.1's,
   * which only fit its 16 channels. */
  static const char *const keys[] = { "latents_mean", "latents_std" };
  const gboolean given[] = { partial.has_mean, partial.has_std };
  const guint counts[] = { partial.n_mean, partial.n_std };
  const float *values[] = { partial.mean, partial.std };
  float *targets[] = { config->latents_mean, config->latents_std };
  for (guint k = 0; k < G_N_ELEMENTS (keys); k++)
    {
      if (given[k])
        {
          if (counts[k] != (guint) config->z_dim)
            {
              g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                           "%s: \"%s\" has %u values for a z_dim of %d", source, keys[k], counts[k],
                           config->z_dim);
              return FALSE;
            }
          memset (targets[k], 0, sizeof (float) * FA_WAN_VAE_MAX_Z_DIM);
          memcpy (targets[k], values[k], sizeof (float) * counts[k]);
        }
      else if (config->z_dim != 16)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                       "%s: %s is not given, and Wan2.1's only fits a z_dim of 16, not %d", source,
                       keys[k], config->z_dim);
          return FALSE;
        }
    }

  if (!_fa_wan_vae_config_check (config, error))
    {
      g_prefix_error (error, "%s: ", source);
      return FALSE;
    }
  return TRUE;
}

/* ---- the check ---- */

#define MAX_NAMED 3

/* "a, b, c (and 4 more)" from the first names of @names. */
static char *
list_names (GPtrArray *names)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < names->len && i < MAX_NAMED; i++)
    g_string_append_printf (s, "%s%s", i > 0 ? ", " : "", (const char *) names->pdata[i]);
  if (names->len > MAX_NAMED)
    g_string_append_printf (s, " (and %u more)", names->len - MAX_NAMED);
  return g_string_free (s, FALSE);
}

/* Every expected tensor there, of its shape and a float type, and nothing
 * else; *@out_entries[i] is where spec i lives. */
static gboolean
check_catalog (Catalog *catalog, GPtrArray *specs, int nrb, const FaSafetensorsEntry **entries,
               GError **error)
{
  g_autoptr (GHashTable) used = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GPtrArray) missing = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < specs->len; i++)
    {
      const FaWanVaeTensorSpec *spec = specs->pdata[i];
      g_autofree char *file_name = file_name_of (catalog, spec->name, nrb);
      entries[i] = fa_weights_lookup (catalog->weights, file_name);
      if (entries[i] == NULL)
        {
          g_autofree char *shape = fa_shape_to_string (spec->ndim, spec->shape);
          g_autofree char *name = describe (catalog, spec->name, file_name);
          g_ptr_array_add (missing, g_strdup_printf ("%s %s", name, shape));
        }
      else
        g_hash_table_add (used, (gpointer) entries[i]->name);
    }
  if (missing->len > 0)
    {
      g_autofree char *list = list_names (missing);
      g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND, "vae checkpoint %s: tensor%s %s %s missing",
                   catalog->path, missing->len > 1 ? "s" : "", list, missing->len > 1 ? "are" : "is");
      return FALSE;
    }

  for (guint i = 0; i < specs->len; i++)
    {
      const FaWanVaeTensorSpec *spec = specs->pdata[i];
      const FaSafetensorsEntry *entry = entries[i];
      gboolean same = entry->ndim == spec->ndim;
      for (int d = 0; same && d < spec->ndim; d++)
        same = entry->shape[d] == spec->shape[d];
      if (!same)
        {
          g_autofree char *name = describe (catalog, spec->name, entry->name);
          g_autofree char *actual = fa_shape_to_string (entry->ndim, entry->shape);
          g_autofree char *expected = fa_shape_to_string (spec->ndim, spec->shape);
          g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                       "vae checkpoint %s: tensor %s has shape %s, expected %s", catalog->path, name,
                       actual, expected);
          return FALSE;
        }
      if (!fa_dtype_is_float (entry->dtype))
        {
          g_autofree char *name = describe (catalog, spec->name, entry->name);
          g_set_error (error, FA_ERROR, FA_ERROR_DTYPE,
                       "vae checkpoint %s: tensor %s is stored as %s; VAE weights must be floating "
                       "point", catalog->path, name, fa_dtype_get_name (entry->dtype));
          return FALSE;
        }
    }

  g_autoptr (GPtrArray) extra = g_ptr_array_new ();
  for (guint i = 0; i < fa_weights_get_n_tensors (catalog->weights); i++)
    {
      const char *name = fa_weights_get_entry (catalog->weights, i)->name;
      if (!g_hash_table_contains (used, name))
        g_ptr_array_add (extra, (gpointer) name);
    }
  if (extra->len > 0)
    {
      g_autofree char *list = list_names (extra);
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                   "vae checkpoint %s: unexpected tensor%s %s: not part of a Wan2.1 VAE "
                   "(AutoencoderKLWan, %s names)", catalog->path, extra->len > 1 ? "s" : "", list,
                   catalog->original ? "original Wan" : "diffusers");
      return FALSE;
    }
  return TRUE;
}

/* ---- the model ---- */

static FaWanVae *
vae_new (const FaWanVaeConfig *config, FaBackend *backend)
{
  FaWanVae *vae = g_new0 (FaWanVae, 1);

  vae->config = *config;
  vae->backend = fa_backend_ref (backend);
  vae->conv_dtype = fa_backend_get_device (backend) == FA_DEVICE_CUDA ? FA_DTYPE_F16 : FA_DTYPE_F32;
  vae->weights = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) fa_tensor_unref);
  return vae;
}

void
fa_wan_vae_free (FaWanVae *vae)
{
  if (vae == NULL)
    return;
  /* The forward's buffers may hold tensors of the backend: they go first. */
  if (vae->forward_state != NULL && vae->forward_state_free != NULL)
    vae->forward_state_free (vae->forward_state);
  g_clear_pointer (&vae->weights, g_hash_table_unref);
  g_clear_pointer (&vae->backend, fa_backend_unref);
  g_free (vae);
}

const FaWanVaeConfig *
fa_wan_vae_get_config (FaWanVae *vae)
{
  g_return_val_if_fail (vae != NULL, NULL);
  return &vae->config;
}

FaBackend *
fa_wan_vae_get_backend (FaWanVae *vae)
{
  g_return_val_if_fail (vae != NULL, NULL);
  return vae->backend;
}

FaTensor *
_fa_wan_vae_weight (FaWanVae *vae, const char *name)
{
  g_return_val_if_fail (vae != NULL && name != NULL, NULL);
  return g_hash_table_lookup (vae->weights, name);
}

/* The stored shape: [Co, kt, kh, kw, Ci] for a convolution (kt = 1 for a
 * 2-D one), [C] for the rest. */
static int
stored_shape (const FaWanVaeTensorSpec *spec, gint64 shape[FA_MAX_DIMS])
{
  if (spec->kind != FA_WAN_VAE_TENSOR_CONV)
    {
      shape[0] = spec->shape[0];
      return 1;
    }
  gboolean two_d = spec->ndim == 4;
  shape[0] = spec->shape[0];
  shape[1] = two_d ? 1 : spec->shape[2];
  shape[2] = spec->shape[two_d ? 2 : 3];
  shape[3] = spec->shape[two_d ? 3 : 4];
  shape[4] = spec->shape[1];
  return 5;
}

/* [Co, Ci, k…] → [Co, k…, Ci]: each output channel's block is a transpose
 * of [Ci, K] to [K, Ci]. */
static void
permute_conv (const float *src, float *dst, gint64 co, gint64 ci, gint64 k)
{
  for (gint64 o = 0; o < co; o++)
    {
      const float *s = src + o * ci * k;
      float *d = dst + o * ci * k;
      for (gint64 c = 0; c < ci; c++)
        for (gint64 j = 0; j < k; j++)
          d[j * ci + c] = s[c * k + j];
    }
}

/* @host: f32 on the CPU in the stored shape; moved to the backend in the
 * stored dtype (taken as it is when it already fits) and kept. */
static gboolean
store_weight (FaWanVae *vae, const FaWanVaeTensorSpec *spec, FaTensor *host, GError **error)
{
  g_autoptr (FaTensor) owned = host;
  FaDType dtype = spec->kind == FA_WAN_VAE_TENSOR_CONV ? vae->conv_dtype : FA_DTYPE_F32;

  if (fa_tensor_get_backend (owned) != vae->backend || dtype != FA_DTYPE_F32)
    {
      FaTensor *moved = fa_tensor_to (owned, vae->backend, dtype, error);
      if (moved == NULL)
        {
          g_prefix_error (error, "VAE weight %s: ", spec->name);
          return FALSE;
        }
      g_clear_pointer (&owned, fa_tensor_unref);
      owned = moved;
    }
  g_hash_table_insert (vae->weights, g_strdup (spec->name), g_steal_pointer (&owned));
  return TRUE;
}

/* The checkpoint's f32 tensor @loaded (spec's shape) in the stored layout,
 * on @host_backend. */
static FaTensor *
to_stored_layout (const FaWanVaeTensorSpec *spec, FaTensor *loaded, FaBackend *host_backend,
                  GError **error)
{
  gint64 shape[FA_MAX_DIMS] = { 0 };
  int ndim = stored_shape (spec, shape);

  if (spec->kind != FA_WAN_VAE_TENSOR_CONV)
    return fa_tensor_reshape (loaded, ndim, shape, error);

  g_autoptr (FaTensor) stored = fa_tensor_new (host_backend, FA_DTYPE_F32, ndim, shape, error);
  if (stored == NULL)
    return NULL;
  gint64 co = spec->shape[0], ci = spec->shape[1];
  permute_conv (fa_tensor_get_data (loaded), fa_tensor_get_data (stored), co, ci,
                fa_tensor_get_numel (loaded) / MAX (co * ci, 1));
  return g_steal_pointer (&stored);
}

static void
log_model (FaWanVae *vae, GPtrArray *specs, const char *what, gint64 start)
{
  guint64 parameters = 0, bytes = 0;

  for (guint i = 0; i < specs->len; i++)
    parameters += spec_numel (specs->pdata[i]);
  GHashTableIter iter;
  gpointer value;
  g_hash_table_iter_init (&iter, vae->weights);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    bytes += fa_tensor_get_nbytes (value);

  g_autofree char *size = g_format_size (bytes);
  g_info ("Wan VAE %s: %u tensors, %" G_GUINT64_FORMAT " parameters, %s on %s (convolutions in %s), "
          "base_dim %d, z_dim %d, in %.2f s", what, specs->len, parameters, size,
          fa_backend_get_description (vae->backend), fa_dtype_get_name (vae->conv_dtype),
          vae->config.base_dim, vae->config.z_dim,
          (double) (g_get_monotonic_time () - start) / G_USEC_PER_SEC);
}

static FaWanVae *
load_weights (FaWeights *weights, const char *config_json, gboolean strict, FaBackend *backend,
              GError **error)
{
  gint64 start = g_get_monotonic_time ();

  g_autoptr (Catalog) catalog = catalog_new (weights);
  FaWanVaeConfig config;
  if (!resolve_config (catalog, config_json, strict, &config, error))
    return NULL;
  g_autoptr (GPtrArray) specs = _fa_wan_vae_expected_tensors (&config);
  g_autofree const FaSafetensorsEntry **entries = g_new0 (const FaSafetensorsEntry *, specs->len);
  if (!check_catalog (catalog, specs, config.num_res_blocks, entries, error))
    return NULL;

  g_autoptr (FaWanVae) vae = vae_new (&config, backend);
  gboolean on_host = fa_backend_get_device (backend) == FA_DEVICE_CPU;
  g_autoptr (FaBackend) host_backend = on_host ? fa_backend_ref (backend) : fa_backend_new_cpu ();
  for (guint i = 0; i < specs->len; i++)
    {
      const FaWanVaeTensorSpec *spec = specs->pdata[i];
      g_autoptr (FaTensor) loaded = fa_weights_load (weights, entries[i]->name, host_backend,
                                                     FA_DTYPE_F32, error);
      if (loaded == NULL)
        {
          g_prefix_error (error, "vae checkpoint %s: ", catalog->path);
          return NULL;
        }
      FaTensor *stored = to_stored_layout (spec, loaded, host_backend, error);
      if (stored == NULL || !store_weight (vae, spec, stored, error))
        return NULL;
    }

  log_model (vae, specs, fa_weights_get_path (weights), start);
  return g_steal_pointer (&vae);
}

FaWanVae *
fa_wan_vae_load_weights (FaWeights *weights, const char *config_json, FaBackend *backend,
                         GError **error)
{
  g_return_val_if_fail (weights != NULL, NULL);
  g_return_val_if_fail (backend != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return load_weights (weights, config_json, TRUE, backend, error);
}

FaWanVae *
fa_wan_vae_load (const char *path, FaBackend *backend, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (backend != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autofree char *config_json = NULL;
  gboolean strict = FALSE;
  g_autoptr (FaWeights) weights = fa_model_open_component (path, "vae", &config_json, &strict, error);
  if (weights == NULL)
    return NULL;

  return load_weights (weights, config_json, strict, backend, error);
}

/* ---- random weights ---- */

/* Each tensor's stream depends on the seed and its name only. Values are
 * drawn straight into the stored layout: for random weights the order of
 * the draws does not matter. */
static void
fill_random (const FaWanVaeTensorSpec *spec, guint32 seed, float *data, gint64 numel)
{
  guint64 state = fa_random_stream (seed, spec->name);

  float mean = 0.0f, std;
  switch (spec->kind)
    {
    case FA_WAN_VAE_TENSOR_CONV: /* keeps activations at unit scale */
      std = 1.0f / sqrtf ((float) (spec_numel (spec) / (guint64) spec->shape[0]));
      break;
    case FA_WAN_VAE_TENSOR_GAMMA:
      mean = 1.0f;
      std = 0.1f;
      break;
    case FA_WAN_VAE_TENSOR_BIAS:
    default:
      std = 0.1f;
      break;
    }
  for (gint64 i = 0; i < numel; i++)
    data[i] = mean + std * fa_random_normalish (&state);
}

FaWanVae *
fa_wan_vae_new_random (const FaWanVaeConfig *config, FaBackend *backend, guint32 seed,
                       GError **error)
{
  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (backend != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  gint64 start = g_get_monotonic_time ();
  if (!_fa_wan_vae_config_check (config, error))
    return NULL;

  g_autoptr (GPtrArray) specs = _fa_wan_vae_expected_tensors (config);
  g_autoptr (FaWanVae) vae = vae_new (config, backend);
  gboolean on_host = fa_backend_get_device (backend) == FA_DEVICE_CPU;
  g_autoptr (FaBackend) host_backend = on_host ? fa_backend_ref (backend) : fa_backend_new_cpu ();

  for (guint i = 0; i < specs->len; i++)
    {
      const FaWanVaeTensorSpec *spec = specs->pdata[i];
      gint64 shape[FA_MAX_DIMS] = { 0 };
      int ndim = stored_shape (spec, shape);
      FaTensor *host = fa_tensor_new (host_backend, FA_DTYPE_F32, ndim, shape, error);
      if (host == NULL)
        {
          g_prefix_error (error, "random VAE weight %s: ", spec->name);
          return NULL;
        }
      fill_random (spec, seed, fa_tensor_get_data (host), fa_tensor_get_numel (host));
      if (!store_weight (vae, spec, host, error))
        return NULL;
    }

  g_autofree char *what = g_strdup_printf ("random weights (seed %u)", seed);
  log_model (vae, specs, what, start);
  return g_steal_pointer (&vae);
}
