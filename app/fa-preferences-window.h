/* fa-preferences-window.h: the preferences (AdwPreferencesWindow backed by
 * GSettings): the model (a diffusers folder or single files, checked with
 * the engine's loaders as soon as chosen, listing what was found and what
 * is missing; its download from the Hugging Face hub, which the
 * application runs, with the hub's address and a token kept for the
 * session; ComfyUI folders to look in), where the text encoder runs, VAE
 * tiling, and the embedding cache's folder and size.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "fa-model-check.h"

G_BEGIN_DECLS

#define FA_TYPE_PREFERENCES_WINDOW (fa_preferences_window_get_type ())
G_DECLARE_FINAL_TYPE (FaPreferencesWindow, fa_preferences_window, FA, PREFERENCES_WINDOW,
                      AdwPreferencesWindow)

FaPreferencesWindow *fa_preferences_window_new (GtkWindow *parent);
/* The last finished check of the model settings (NULL before the first
 * one ends) and whether one runs now (property "checking"). */
const FaModelReport *fa_preferences_window_get_report (FaPreferencesWindow *self);
gboolean             fa_preferences_window_get_checking (FaPreferencesWindow *self);

/* The model the settings (io.github.flowanchor.Studio) name: the folder
 * (FLOWANCHOR_MODEL_DIR when set, else "model-folder") and the single
 * files; empty settings give NULL. What the window checks and what the
 * application checks and loads. Clear @paths with fa_model_paths_clear. */
void                 fa_model_paths_init_from_settings (FaModelPaths *paths, GSettings *settings);

G_END_DECLS
