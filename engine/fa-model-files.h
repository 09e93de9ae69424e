/* fa-model-files.h: where one component of a model lives.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "fa-weights.h"

G_BEGIN_DECLS

/* Opens the weights of one component. @path is a diffusers pipeline folder
 * (then its @component subfolder, e.g. "transformer"), a component folder,
 * an index.json or a single checkpoint file. *@out_config_json is the
 * config.json that goes with it, or NULL when there is none;
 * *@out_config_strict says whether it must describe this model (in a
 * folder, beside an index) or may belong to something else (beside a
 * single file, where other files share the folder). */
FaWeights *fa_model_open_component (const char *path, const char *component, char **out_config_json,
                                    gboolean *out_config_strict, GError **error);

/* A model's config.json as a JSON object: size-bounded, parsed strictly
 * (one object, no trailing data), FA_ERROR_CORRUPT_FILE naming @path
 * otherwise. */
JsonNode   *fa_model_read_config (const char *path, GError **error);

/* @key's string value, or NULL when absent or not a string. */
const char *fa_json_get_string (JsonObject *object, const char *key);

/* @key's integer value in [1, @max] into *@out; absent or null leaves *@out
 * as it is. Any other value is FA_ERROR_CORRUPT_FILE naming @path and @key. */
gboolean    fa_json_get_positive (JsonObject *object, const char *key, const char *path, gint64 max,
                                  gint64 *out, GError **error);

G_END_DECLS
