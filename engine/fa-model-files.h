/* fa-model-files.h: where one component of a model lives.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

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

G_END_DECLS
