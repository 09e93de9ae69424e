/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-model-files"

#include "config.h"

#include "fa-model-files.h"

#include "fa-error.h"
#include "fa-safetensors.h"

/* Real configs are a few hundred bytes; anything near this is not one. */
#define MAX_CONFIG_BYTES ((gsize) 1024 * 1024)

FaWeights *
fa_model_open_component (const char *path, const char *component, char **out_config_json,
                         gboolean *out_config_strict, GError **error)
{
  g_return_val_if_fail (path != NULL && component != NULL, NULL);

  gboolean is_dir = g_file_test (path, G_FILE_TEST_IS_DIR);
  g_autofree char *index_path = is_dir ? g_build_filename (path, "model_index.json", NULL) : NULL;
  g_autofree char *component_path = is_dir ? g_build_filename (path, component, NULL) : NULL;
  if (is_dir && g_file_test (index_path, G_FILE_TEST_IS_REGULAR) &&
      g_file_test (component_path, G_FILE_TEST_IS_DIR))
    path = component_path;

  FaWeights *weights = fa_weights_open (path, error);
  if (weights == NULL)
    return NULL;

  gboolean folder = g_file_test (path, G_FILE_TEST_IS_DIR);
  g_autofree char *dir = folder ? g_strdup (path) : g_path_get_dirname (path);
  char *config_json = g_build_filename (dir, "config.json", NULL);
  if (!g_file_test (config_json, G_FILE_TEST_IS_REGULAR))
    g_clear_pointer (&config_json, g_free);
  *out_config_json = config_json;
  *out_config_strict = folder || g_str_has_suffix (path, ".json");
  return weights;
}

JsonNode *
fa_model_read_config (const char *path, GError **error)
{
  g_autoptr (GMappedFile) mapped = g_mapped_file_new (path, FALSE, error);
  if (mapped == NULL)
    return NULL;
  gsize length = g_mapped_file_get_length (mapped);
  if (length > MAX_CONFIG_BYTES)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                   "%s: %" G_GSIZE_FORMAT " bytes is too large for a model config", path, length);
      return NULL;
    }
  const char *text = length > 0 ? g_mapped_file_get_contents (mapped) : "";
  g_autoptr (JsonNode) root = _fa_safetensors_parse_json (path, "config", text, length, error);
  if (root == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: not a JSON object", path);
      return NULL;
    }
  return g_steal_pointer (&root);
}

const char *
fa_json_get_string (JsonObject *object, const char *key)
{
  JsonNode *node = json_object_get_member (object, key);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

gboolean
fa_json_get_positive (JsonObject *object, const char *key, const char *path, gint64 max, gint64 *out,
                      GError **error)
{
  JsonNode *node = json_object_get_member (object, key);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: \"%s\" is not an integer", path, key);
      return FALSE;
    }
  gint64 value = json_node_get_int (node);
  if (value < 1 || value > max)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                   "%s: \"%s\" is %" G_GINT64_FORMAT ", outside [1, %" G_GINT64_FORMAT "]", path, key,
                   value, max);
      return FALSE;
    }
  *out = value;
  return TRUE;
}
