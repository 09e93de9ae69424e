/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-model-files"

#include "config.h"

#include "fa-model-files.h"

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
