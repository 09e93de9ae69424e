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

/* TRUE when the last check found no complete model: nothing set up and
 * nothing found, or what is set up lacks parts (property "model-missing").
 * FALSE while a check runs and when the model is ready. What the download
 * offers to fix. */
gboolean       fa_application_get_model_missing (FaApplication *self);

/* ---- downloading the model from the Hugging Face hub (issue 11) ----
 *
 * One download at a time, shared by the preferences and the main window
 * (actions app.download-model and app.cancel-model-download). It fetches
 * FA_MODEL_REPO_ID at FA_MODEL_REVISION into the hub cache from the
 * endpoint of the "hub-endpoint" setting ("" for fa_hf_endpoint ()), with
 * the token given by fa_application_set_download_token, else fa_hf_token ().
 * On success "model-folder" names the snapshot and the single-file
 * settings are cleared, so that the model check runs and "model-ready"
 * turns TRUE; a cancel keeps what was fetched for the next start (which
 * resumes it); a failure sets "download-error". Properties:
 * "download-active" (boolean), "download-fraction" (0..1),
 * "download-text" (a translated line: bytes, rate and time left, the
 * stage, or after a cancel what happens next; NULL when there is nothing
 * to say), "download-error" (NULL, or the reason, translated prefix and
 * the engine's message; both cleared when a model is found ready), "download-partial" (bytes of unfinished files an
 * earlier download left in the cache, 0 when none; found on a worker
 * thread when the model is checked and after each download). */
void           fa_application_start_model_download (FaApplication *self);
void           fa_application_cancel_model_download (FaApplication *self);
gboolean       fa_application_get_download_active (FaApplication *self);
double         fa_application_get_download_fraction (FaApplication *self);
const char    *fa_application_get_download_text (FaApplication *self);
const char    *fa_application_get_download_error (FaApplication *self);
guint64        fa_application_get_download_partial (FaApplication *self);
/* A token for the hub typed by the user: kept in memory for this session
 * only, never stored. NULL or "": fa_hf_token () (HF_TOKEN or the
 * huggingface-cli login file). */
void           fa_application_set_download_token (FaApplication *self, const char *token);
const char    *fa_application_get_download_token (FaApplication *self);

G_END_DECLS
