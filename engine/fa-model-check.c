/* fa-model-check.c: whether a folder or a set of single files holds a
 * usable Wan2.1 T2V model, checked by the engine's own loaders without
 * loading the weights.
 *
 * Each loader already checks everything before it converts a tensor: the
 * configuration (config.json and the tensor shapes), every expected tensor
 * present with its shape and a float dtype, nothing unexpected, fp8 scales.
 * Rather than repeat those rules here, the check runs the real loader on a
 * backend that refuses to allocate: the loader fails at its first
 * allocation, which only happens once its checks passed, and any failure
 * before that is the problem to report. Nothing is read but the headers
 * and configs.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-model-check"

#include "config.h"

#include "fa-model-check.h"

#include <string.h>

#include "fa-backend-private.h"
#include "fa-error.h"
#include "fa-model-files.h"
#include "fa-wan-dit-private.h"
#include "fa-wan-vae-private.h"

/* The folders of a diffusers pipeline, by part. */
static const char *const part_folders[FA_MODEL_N_PARTS] = {
  [FA_MODEL_PART_TRANSFORMER] = "transformer",
  [FA_MODEL_PART_TEXT_ENCODER] = "text_encoder",
  [FA_MODEL_PART_TOKENIZER] = "tokenizer",
  [FA_MODEL_PART_VAE] = "vae",
};

void
fa_model_paths_clear (FaModelPaths *paths)
{
  if (paths == NULL)
    return;
  g_clear_pointer (&paths->folder, g_free);
  g_clear_pointer (&paths->transformer, g_free);
  g_clear_pointer (&paths->text_encoder, g_free);
  g_clear_pointer (&paths->tokenizer, g_free);
  g_clear_pointer (&paths->vae, g_free);
}

const char *
fa_model_part_get_name (FaModelPart part)
{
  switch (part)
    {
    case FA_MODEL_PART_TRANSFORMER:
      return "transformer";
    case FA_MODEL_PART_TEXT_ENCODER:
      return "text encoder";
    case FA_MODEL_PART_TOKENIZER:
      return "tokenizer";
    case FA_MODEL_PART_VAE:
      return "VAE";
    case FA_MODEL_N_PARTS:
    default:
      return "unknown part";
    }
}

static const char *
single_path (const FaModelPaths *paths, FaModelPart part)
{
  switch (part)
    {
    case FA_MODEL_PART_TRANSFORMER:
      return paths->transformer;
    case FA_MODEL_PART_TEXT_ENCODER:
      return paths->text_encoder;
    case FA_MODEL_PART_TOKENIZER:
      return paths->tokenizer;
    case FA_MODEL_PART_VAE:
      return paths->vae;
    case FA_MODEL_N_PARTS:
    default:
      return NULL;
    }
}

static gboolean
is_set (const char *path)
{
  return path != NULL && *path != '\0';
}

/* Where @part is to be found: the single file when one is given, else the
 * part's folder inside the pipeline folder; NULL with @error when there is
 * nowhere to look or that place does not exist. *@out_path (owned) is
 * where it was looked for, NULL when nowhere. */
static gboolean
resolve_part (const FaModelPaths *paths, FaModelPart part, char **out_path, GError **error)
{
  const char *single = single_path (paths, part);

  *out_path = NULL;
  if (is_set (single))
    {
      *out_path = g_strdup (single);
      if (!g_file_test (single, G_FILE_TEST_EXISTS))
        {
          g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND, "%s does not exist", single);
          return FALSE;
        }
      return TRUE;
    }
  if (!is_set (paths->folder))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND,
                   "not set: choose the model folder or a %s file", fa_model_part_get_name (part));
      return FALSE;
    }
  if (!g_file_test (paths->folder, G_FILE_TEST_IS_DIR))
    {
      *out_path = g_strdup (paths->folder);
      g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND, "the model folder %s does not exist",
                   paths->folder);
      return FALSE;
    }
  *out_path = g_build_filename (paths->folder, part_folders[part], NULL);
  if (!g_file_test (*out_path, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND, "the model folder %s has no %s/ folder",
                   paths->folder, part_folders[part]);
      return FALSE;
    }
  return TRUE;
}

/* ---- a backend that refuses every allocation ---- */

#define PROBE_ERROR (probe_error_quark ())
G_DEFINE_QUARK (fa-model-check-probe, probe_error)

static gpointer
probe_alloc (FaBackend *self, gsize size, GError **error)
{
  g_set_error (error, PROBE_ERROR, 0, "the model check loads no weights (%" G_GSIZE_FORMAT " bytes asked)",
               size);
  return NULL;
}

static void
probe_free (FaBackend *self, gpointer ptr)
{
  /* nothing is ever allocated */
}

static const FaBackendOps probe_ops = {
  .alloc = probe_alloc,
  .free = probe_free,
};

/* A CPU device as far as the loaders can tell, so that they put every
 * tensor, host copies included, on it and stop at the first one. */
static FaBackend *
probe_backend_new (void)
{
  return _fa_backend_new (&probe_ops, FA_DEVICE_CPU, g_strdup ("model check (no memory)"), NULL);
}

/* Whether a loader that returned @result with @error passed its checks:
 * it stopped at the probe's refusal, or (had it nothing to allocate) it
 * succeeded. */
static gboolean
probe_passed (gpointer result, GError **error)
{
  if (result != NULL)
    return TRUE;
  if (*error != NULL && (*error)->domain == PROBE_ERROR)
    {
      g_clear_error (error);
      return TRUE;
    }
  return FALSE;
}

/* ---- summaries from the headers ---- */

typedef struct {
  guint n_tensors;
  guint64 bytes;
  const char *dtype; /* the dtype holding the most bytes */
} WeightsInfo;

static void
weights_info (FaWeights *weights, WeightsInfo *info)
{
  guint64 by_dtype[FA_DTYPE_COUNT] = { 0 };

  *info = (WeightsInfo) { 0 };
  info->n_tensors = fa_weights_get_n_tensors (weights);
  for (guint i = 0; i < info->n_tensors; i++)
    {
      const FaSafetensorsEntry *entry = fa_weights_get_entry (weights, i);
      info->bytes += entry->nbytes;
      if ((unsigned) entry->dtype < FA_DTYPE_COUNT)
        by_dtype[entry->dtype] += entry->nbytes;
    }
  int best = -1;
  for (int d = 0; d < FA_DTYPE_COUNT; d++)
    if (by_dtype[d] > 0 && (best < 0 || by_dtype[d] > by_dtype[best]))
      best = d;
  info->dtype = best >= 0 ? fa_dtype_get_name ((FaDType) best) : "empty";
}

static char *
dit_summary (FaWeights *weights, const WeightsInfo *info, gint64 *out_text_dim)
{
  FaWanDitConfig config = { 0 };
  g_autofree char *size = g_format_size (info->bytes);

  /* The loader passed, so the shapes do tell these. */
  if (!_fa_wan_dit_config_from_shapes (weights, &config, NULL))
    return g_strdup_printf ("%u tensors, %s, %s", info->n_tensors, info->dtype, size);
  *out_text_dim = config.text_dim;
  return g_strdup_printf ("%d blocks, dim %d, %s, %s", config.num_layers, config.dim, info->dtype, size);
}

/* The umT5 layout has fixed names (transformers' and ComfyUI's alike). */
static char *
text_encoder_summary (FaWeights *weights, const WeightsInfo *info, gint64 *out_d_model)
{
  g_autofree char *size = g_format_size (info->bytes);
  const FaSafetensorsEntry *norm = fa_weights_lookup (weights, "encoder.final_layer_norm.weight");
  int layers = 0;

  for (;; layers++)
    {
      g_autofree char *name = g_strdup_printf ("encoder.block.%d.layer.0.layer_norm.weight", layers);
      if (fa_weights_lookup (weights, name) == NULL)
        break;
    }
  if (norm == NULL || norm->ndim != 1 || layers == 0)
    return g_strdup_printf ("%u tensors, %s, %s", info->n_tensors, info->dtype, size);
  *out_d_model = norm->shape[0];
  return g_strdup_printf ("%d layers, width %" G_GINT64_FORMAT ", %s, %s", layers, norm->shape[0],
                          info->dtype, size);
}

/* The first axis of the diffusers tensor @name, stored under that name or
 * the original Wan one; 0 when neither is there (a prefixed file). */
static gint64
vae_channels (FaWeights *weights, const char *name)
{
  g_autofree char *original = _fa_wan_vae_original_name (name);
  const FaSafetensorsEntry *entry = fa_weights_lookup (weights, name);

  if (entry == NULL && original != NULL)
    entry = fa_weights_lookup (weights, original);
  return entry != NULL && entry->ndim >= 1 ? entry->shape[0] : 0;
}

static char *
vae_summary (FaWeights *weights, const WeightsInfo *info)
{
  g_autofree char *size = g_format_size (info->bytes);
  gint64 base_dim = vae_channels (weights, "encoder.conv_in.weight");
  gint64 z_dim = vae_channels (weights, "post_quant_conv.weight");

  if (base_dim == 0 || z_dim == 0)
    return g_strdup_printf ("%u tensors, %s, %s", info->n_tensors, info->dtype, size);
  return g_strdup_printf ("base width %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT " latent channels, %s, %s",
                          base_dim, z_dim, info->dtype, size);
}

/* ---- the parts ---- */

typedef struct {
  gint64 text_dim; /* the transformer's, 0 when unknown */
  gint64 d_model;  /* the text encoder's, 0 when unknown */
} CrossCheck;

static gboolean
check_weights_part (FaModelPart part, const char *path, FaBackend *probe, CrossCheck *cross,
                    char **out_summary, GError **error)
{
  static const char *const components[FA_MODEL_N_PARTS] = {
    [FA_MODEL_PART_TRANSFORMER] = "transformer",
    [FA_MODEL_PART_TEXT_ENCODER] = "text_encoder",
    [FA_MODEL_PART_VAE] = "vae",
  };
  gboolean passed = FALSE;

  /* The loaders open the weights again themselves; opening only maps the
   * files and reads the headers, so twice costs little and the summary
   * sees the same set. */
  g_autofree char *config_json = NULL;
  gboolean strict = FALSE;
  g_autoptr (FaWeights) weights = fa_model_open_component (path, components[part], &config_json, &strict,
                                                           error);
  if (weights == NULL)
    return FALSE;

  switch (part)
    {
    case FA_MODEL_PART_TRANSFORMER:
      {
        g_autoptr (FaWanDit) dit = fa_wan_dit_load (path, probe, error);
        passed = probe_passed (dit, error);
        break;
      }
    case FA_MODEL_PART_TEXT_ENCODER:
      {
        g_autoptr (FaUmt5) encoder = fa_umt5_load (path, probe, error);
        passed = probe_passed (encoder, error);
        break;
      }
    case FA_MODEL_PART_VAE:
      {
        g_autoptr (FaWanVae) vae = fa_wan_vae_load (path, probe, error);
        passed = probe_passed (vae, error);
        break;
      }
    case FA_MODEL_PART_TOKENIZER:
    case FA_MODEL_N_PARTS:
    default:
      g_assert_not_reached ();
    }
  if (!passed)
    return FALSE;

  WeightsInfo info;
  weights_info (weights, &info);
  if (part == FA_MODEL_PART_TRANSFORMER)
    *out_summary = dit_summary (weights, &info, &cross->text_dim);
  else if (part == FA_MODEL_PART_TEXT_ENCODER)
    *out_summary = text_encoder_summary (weights, &info, &cross->d_model);
  else
    *out_summary = vae_summary (weights, &info);
  return TRUE;
}

static gboolean
check_tokenizer (const char *path, char **out_summary, GError **error)
{
  g_autoptr (FaTokenizer) tokenizer = fa_tokenizer_load (path, error);

  if (tokenizer == NULL)
    return FALSE;
  *out_summary = g_strdup_printf ("Unigram, %u pieces", fa_tokenizer_get_vocab_size (tokenizer));
  return TRUE;
}

/* A problem names the file: the loaders' messages begin with the path
 * they opened, which may be a file inside @path; others get @path. */
static char *
problem_text (const char *path, const GError *error)
{
  if (path == NULL || strstr (error->message, path) != NULL)
    return g_strdup (error->message);
  g_autofree char *base = g_path_get_basename (path);
  if (strstr (error->message, base) != NULL)
    return g_strdup (error->message);
  return g_strdup_printf ("%s: %s", path, error->message);
}

static void
check_part (const FaModelPaths *paths, FaModelPart part, FaBackend *probe, CrossCheck *cross,
            FaModelPartReport *out)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *summary = NULL;
  gboolean ok = resolve_part (paths, part, &path, &error);

  if (ok)
    {
      if (part == FA_MODEL_PART_TOKENIZER)
        ok = check_tokenizer (path, &summary, &error);
      else
        ok = check_weights_part (part, path, probe, cross, &summary, &error);
    }

  out->path = g_steal_pointer (&path);
  out->found = ok;
  if (ok)
    out->summary = g_steal_pointer (&summary);
  else if (error->domain == FA_ERROR && error->code == FA_ERROR_NOT_FOUND && out->path == NULL)
    out->problem = g_strdup_printf ("the %s is %s", fa_model_part_get_name (part), error->message);
  else
    out->problem = problem_text (out->path, error);
}

FaModelReport *
fa_model_check (const FaModelPaths *paths, GCancellable *cancellable)
{
  g_return_val_if_fail (paths != NULL, NULL);

  FaModelReport *report = g_new0 (FaModelReport, 1);
  g_autoptr (FaBackend) probe = probe_backend_new ();
  CrossCheck cross = { 0 };

  report->complete = TRUE;
  for (int part = 0; part < FA_MODEL_N_PARTS; part++)
    {
      FaModelPartReport *out = &report->parts[part];

      if (g_cancellable_is_cancelled (cancellable))
        {
          out->problem = g_strdup ("not checked: the check was cancelled");
          report->complete = FALSE;
          continue;
        }
      check_part (paths, part, probe, &cross, out);
      report->complete = report->complete && out->found;
    }

  /* Each part may be fine alone and still not fit the others: the DiT's
   * text projection takes the encoder's width. */
  FaModelPartReport *text = &report->parts[FA_MODEL_PART_TEXT_ENCODER];
  if (text->found && cross.text_dim > 0 && cross.d_model > 0 && cross.text_dim != cross.d_model)
    {
      text->found = FALSE;
      g_clear_pointer (&text->summary, g_free);
      text->problem = g_strdup_printf ("%s: its width %" G_GINT64_FORMAT " does not match the "
                                       "transformer's text input width %" G_GINT64_FORMAT
                                       ": the two belong to different models",
                                       text->path, cross.d_model, cross.text_dim);
      report->complete = FALSE;
    }
  return report;
}

void
fa_model_report_free (FaModelReport *report)
{
  if (report == NULL)
    return;
  for (int part = 0; part < FA_MODEL_N_PARTS; part++)
    {
      g_free (report->parts[part].path);
      g_free (report->parts[part].summary);
      g_free (report->parts[part].problem);
    }
  g_free (report);
}

char *
fa_model_report_to_string (const FaModelReport *report)
{
  g_return_val_if_fail (report != NULL, NULL);

  GString *out = g_string_new (NULL);
  for (int part = 0; part < FA_MODEL_N_PARTS; part++)
    {
      const FaModelPartReport *p = &report->parts[part];
      if (p->found)
        g_string_append_printf (out, "%-13s found    %s (%s)\n", fa_model_part_get_name (part), p->summary,
                                p->path);
      else
        g_string_append_printf (out, "%-13s MISSING  %s\n", fa_model_part_get_name (part), p->problem);
    }
  return g_string_free (out, FALSE);
}

/* The parts from where resolve_part found them; errors say which part. */
static FaModel *
load_parts (char *const *resolved, FaBackend *backend, FaBackend *text_backend, GError **error)
{
  g_autoptr (FaWanDit) dit = fa_wan_dit_load (resolved[FA_MODEL_PART_TRANSFORMER], backend, error);
  if (dit == NULL)
    {
      g_prefix_error (error, "the transformer: ");
      return NULL;
    }
  g_autoptr (FaUmt5) text_encoder = fa_umt5_load (resolved[FA_MODEL_PART_TEXT_ENCODER],
                                                  text_backend != NULL ? text_backend : backend, error);
  if (text_encoder == NULL)
    {
      g_prefix_error (error, "the text encoder: ");
      return NULL;
    }
  g_autoptr (FaTokenizer) tokenizer = fa_tokenizer_load (resolved[FA_MODEL_PART_TOKENIZER], error);
  if (tokenizer == NULL)
    {
      g_prefix_error (error, "the tokenizer: ");
      return NULL;
    }
  g_autoptr (FaWanVae) vae = fa_wan_vae_load (resolved[FA_MODEL_PART_VAE], backend, error);
  if (vae == NULL)
    {
      g_prefix_error (error, "the VAE: ");
      return NULL;
    }
  return fa_model_new (g_steal_pointer (&dit), g_steal_pointer (&text_encoder), g_steal_pointer (&tokenizer),
                       g_steal_pointer (&vae));
}

FaModel *
fa_model_load_paths (const FaModelPaths *paths, FaBackend *backend, FaBackend *text_backend,
                     GError **error)
{
  g_return_val_if_fail (paths != NULL && backend != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* NULL-terminated for g_strfreev; every slot is filled or the loop stops */
  g_auto (GStrv) resolved = g_new0 (char *, FA_MODEL_N_PARTS + 1);
  for (int part = 0; part < FA_MODEL_N_PARTS; part++)
    {
      g_autofree char *path = NULL;
      if (!resolve_part (paths, part, &path, error))
        {
          g_prefix_error (error, "the %s: ", fa_model_part_get_name (part));
          return NULL;
        }
      resolved[part] = g_steal_pointer (&path);
    }
  return load_parts (resolved, backend, text_backend, error);
}
