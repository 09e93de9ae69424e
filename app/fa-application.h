/* fa-application.h: the FlowAnchor Studio application.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "fa-backend.h"
#include "fa-job.h"

G_BEGIN_DECLS

#define FA_TYPE_APPLICATION (fa_application_get_type ())

G_DECLARE_FINAL_TYPE (FaApplication, fa_application, FA, APPLICATION, AdwApplication)

FaApplication *fa_application_new (void);
/* A description of the compute backend the engine picked, or NULL until
 * the probe started on first activation has finished (property
 * "backend-description", notified then). */
const char    *fa_application_get_backend_description (FaApplication *self);
/* The backend work runs on: the one the probe picked, or the CPU backend
 * while the probe has not finished. Owned by the application. */
FaBackend     *fa_application_get_backend (FaApplication *self);
/* 1 after a --screenshot run failed, else 0. */
int            fa_application_get_exit_status (FaApplication *self);

/* ---- the model (part 2; configured in the preferences) ---- */

/* NULL when the preferences name a complete model (as last checked),
 * else a sentence saying why Preview and Edit cannot run and what to do
 * ("No model is set up: choose the Wan2.1 folder in Preferences.", or the
 * parts that are missing). Property "model-ready" changes with it, and
 * property "model-problem" (this string) is notified whenever the text
 * changes. Checked on a worker thread at startup and whenever the model
 * settings change; "The model is being checked…" meanwhile. */
char          *fa_application_dup_model_problem (FaApplication *self);
gboolean       fa_application_get_model_ready (FaApplication *self);
/* NULL when a CUDA GPU was found; else a sentence saying that editing
 * needs one and what was found (fa_doctor's checks). Editing still runs
 * on the CPU: that is what small test models need, but a full-size edit
 * takes hours there. NULL too while the backend probe (which this starts
 * when needed) has not finished: watch "backend-description". */
char          *fa_application_dup_gpu_problem (FaApplication *self);
/* The model the preferences name, loaded once on a worker thread and kept
 * until the model settings change (text encoder on the CPU when the
 * preferences say so). */
void           fa_application_load_model_async (FaApplication *self, GCancellable *cancellable,
                                                GAsyncReadyCallback callback, gpointer user_data);
FaModel       *fa_application_load_model_finish (FaApplication *self, GAsyncResult *result,
                                                 GError **error);
/* The embedding cache the preferences configure (owned by the app). */
FaPromptCache *fa_application_get_prompt_cache (FaApplication *self);
gboolean       fa_application_get_vae_tiling (FaApplication *self);
/* Opens the preferences window (action app.preferences), on @page
 * ("model" or NULL). */
void           fa_application_show_preferences (FaApplication *self, const char *page);

G_END_DECLS
