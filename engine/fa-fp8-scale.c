/* fa-fp8-scale.c: per-tensor fp8 scales, shared by the model loaders.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-weights"

#include "config.h"

#include "fa-fp8-scale.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "fa-cpu-kernels.h"
#include "fa-error.h"

FaFp8AuxKind
_fa_fp8_classify (const char *name, const char *bare_name, char **out_weight)
{
  static const struct {
    const char *suffix;
    FaFp8AuxKind kind;
  } suffixes[] = {
    { ".scale_weight", FA_FP8_AUX_WEIGHT_SCALE },
    { ".weight_scale", FA_FP8_AUX_WEIGHT_SCALE },
    { ".scale_input", FA_FP8_AUX_INPUT_SCALE },
    { ".input_scale", FA_FP8_AUX_INPUT_SCALE },
    { ".comfy_quant", FA_FP8_AUX_QUANT_INFO },
  };

  g_return_val_if_fail (name != NULL && bare_name != NULL && out_weight != NULL, FA_FP8_AUX_NONE);

  *out_weight = NULL;
  if (g_str_equal (bare_name, "scaled_fp8"))
    return FA_FP8_AUX_MARKER;
  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    if (g_str_has_suffix (name, suffixes[i].suffix))
      {
        gsize base = strlen (name) - strlen (suffixes[i].suffix);
        *out_weight = g_strdup_printf ("%.*s.weight", (int) base, name);
        return suffixes[i].kind;
      }
  return FA_FP8_AUX_NONE;
}

static char *
shape_string (int ndim, const gint64 *shape)
{
  GString *s = g_string_new ("[");

  for (int i = 0; i < ndim; i++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i > 0 ? ", " : "", shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

gboolean
_fa_fp8_check_quant_info (const char *path, const FaSafetensorsEntry *entry, GError **error)
{
  if (entry->dtype != FA_DTYPE_U8 && entry->dtype != FA_DTYPE_I8)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_DTYPE, "%s: '%s' is %s; a quantization descriptor is bytes",
                   path, entry->name, fa_dtype_get_name (entry->dtype));
      return FALSE;
    }
  g_autofree char *what = g_strdup_printf ("'%s'", entry->name);
  g_autoptr (JsonNode) root = _fa_safetensors_parse_json (path, what, entry->data, entry->nbytes, error);
  if (root == NULL)
    return FALSE;

  const char *format = NULL;
  if (JSON_NODE_HOLDS_OBJECT (root))
    {
      JsonNode *node = json_object_get_member (json_node_get_object (root), "format");
      if (node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
        format = json_node_get_string (node);
    }
  if (format == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: '%s' names no \"format\"", path,
                   entry->name);
      return FALSE;
    }
  if (!g_str_equal (format, "float8_e4m3fn") && !g_str_equal (format, "float8_e5m2"))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "%s: '%s' says the weight is quantized as '%s'; only fp8 with a per-tensor "
                   "scale loads", path, entry->name, format);
      return FALSE;
    }
  return TRUE;
}

gboolean
_fa_fp8_check_scale_dtype (const char *path, const FaSafetensorsEntry *entry, GError **error)
{
  if (fa_dtype_is_float (entry->dtype))
    return TRUE;
  g_set_error (error, FA_ERROR, FA_ERROR_DTYPE, "%s: scale tensor '%s' is stored as %s, not as a float type",
               path, entry->name, fa_dtype_get_name (entry->dtype));
  return FALSE;
}

gboolean
_fa_fp8_read_scale (const char *path, const FaSafetensorsEntry *entry, float *out_value, GError **error)
{
  if (!_fa_fp8_check_scale_dtype (path, entry, error))
    return FALSE;

  guint64 numel = 1;
  for (int i = 0; i < entry->ndim; i++)
    numel *= (guint64) entry->shape[i];
  if (numel != 1)
    {
      g_autofree char *shape = shape_string (entry->ndim, entry->shape);
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "%s: scale tensor '%s' has shape %s; only one scale per tensor is supported", path,
                   entry->name, shape);
      return FALSE;
    }

  /* The mapped bytes may be misaligned for their type. */
  guint8 stored[8];
  float value = NAN;
  memcpy (stored, entry->data, fa_dtype_size (entry->dtype));
  fa_cpu_convert (stored, entry->dtype, &value, FA_DTYPE_F32, 1);
  if (!isfinite (value))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: scale '%s' is %g", path, entry->name,
                   (double) value);
      return FALSE;
    }
  *out_value = value;
  return TRUE;
}

FaTensor *
_fa_fp8_load_scaled (FaWeights *weights, const char *name, float scale, FaBackend *backend,
                     FaBackend **host_backend, FaDType dtype, GError **error)
{
  g_return_val_if_fail (weights != NULL && name != NULL && backend != NULL && host_backend != NULL, NULL);

  if (*host_backend == NULL)
    *host_backend = fa_backend_get_device (backend) == FA_DEVICE_CPU ? fa_backend_ref (backend)
                                                                     : fa_backend_new_cpu ();
  g_autoptr (FaTensor) host = fa_weights_load (weights, name, *host_backend, FA_DTYPE_F32, error);
  if (host == NULL)
    return NULL;
  float *data = fa_tensor_get_data (host);
  gint64 numel = fa_tensor_get_numel (host);
  for (gint64 i = 0; i < numel; i++)
    data[i] *= scale;

  if (*host_backend == backend && dtype == FA_DTYPE_F32)
    return g_steal_pointer (&host);
  FaTensor *result = fa_tensor_to (host, backend, dtype, error);
  if (result == NULL)
    g_prefix_error (error, "tensor '%s': ", name);
  return result;
}

gboolean
_fa_fp8_attach (const char *path, const FaSafetensorsEntry *entry, FaFp8AuxKind kind,
                const char *weight_name, const FaSafetensorsEntry **scale, float *scale_value,
                GError **error)
{
  if (kind == FA_FP8_AUX_QUANT_INFO)
    return _fa_fp8_check_quant_info (path, entry, error);
  if (!_fa_fp8_check_scale_dtype (path, entry, error))
    return FALSE;
  if (kind == FA_FP8_AUX_INPUT_SCALE)
    return TRUE;
  if (*scale != NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: '%s' has two scales, '%s' and '%s'",
                   path, weight_name, (*scale)->name, entry->name);
      return FALSE;
    }
  if (!_fa_fp8_read_scale (path, entry, scale_value, error))
    return FALSE;
  *scale = entry;
  return TRUE;
}
