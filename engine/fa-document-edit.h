/* fa-document-edit.h: the edit side of an open document (the app, part 2):
 * the prompts, parameters and edit format the side panel shows, the job
 * settings a Preview or an Edit runs with, and the results made so far.
 *
 * Prompts and parameters live in the document's project (fa-project.h);
 * setting them here marks the document modified and emits "edit-changed".
 * The project's prompt history gets the prompts each result was made with,
 * not every keystroke.
 * The edit format (size and rate the edit decodes at) and the negative
 * prompt are kept in the project's view values ("edit-width",
 * "edit-height", "edit-fps", "negative-prompt"), because FaProject's
 * working options also fix the size of the stored keyframes, which the
 * edit size must not change.
 *
 * Results: every finished preview or edit is a file (MP4, working size, no
 * audio) in the project's cache folder (NAME.fanchor-cache/), or, while
 * the document has never been saved, in $XDG_CACHE_HOME/flowanchor/results/.
 * They are recorded in the project (fa_project_add_result) with the
 * parameters they were made with and the range they cover. One result is
 * "current": the one the viewer shows over the range.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "fa-document.h"
#include "fa-job.h"

G_BEGIN_DECLS

typedef struct {
  int width, height; /* multiples of 16 in [128, 1280]; 832×480 (480×832 for a portrait clip) */
  int fps;           /* [4, 60]; 16 */
} FaEditFormat;

/* The format the document's clip suggests: 832×480 or 480×832, 16 fps. */
void        fa_document_get_default_edit_format (FaDocument *self, FaEditFormat *format);
void        fa_document_get_edit_format (FaDocument *self, FaEditFormat *format);
/* FA_ERROR_INVALID_ARGUMENT naming the bad value. */
gboolean    fa_document_set_edit_format (FaDocument *self, const FaEditFormat *format, GError **error);

/* The prompts (never NULL: "" when unset) and the user's target words
 * (NULL: the word diff decides). */
const char *fa_document_get_source_prompt (FaDocument *self);
const char *fa_document_get_target_prompt (FaDocument *self);
const char *const *fa_document_get_target_words (FaDocument *self);
void        fa_document_set_prompts (FaDocument *self, const char *source, const char *target,
                                     const char *const *words);
/* NULL: Wan's default negative prompt. */
const char *fa_document_get_negative_prompt (FaDocument *self);
void        fa_document_set_negative_prompt (FaDocument *self, const char *negative);

void        fa_document_get_params (FaDocument *self, FaEditParams *params);
/* fa_edit_params_check's error when a value is out of range (nothing changes). */
gboolean    fa_document_set_params (FaDocument *self, const FaEditParams *params, GError **error);

/* Everything a job needs for the range: the clip, the range decoded at the
 * edit format, the range's masks (resampled to the edit's frames and size
 * when the format differs from the timeline's), prompts, words, negative
 * prompt, parameters, a live look every step. A preview runs 8 steps at
 * half size over at most the first 17 frames. The job writes its result
 * to @output_path (MP4, no audio). Errors say what is missing: a prompt,
 * a mask keyframe in the range. */
gboolean    fa_document_make_job_settings (FaDocument *self, gboolean preview, const char *output_path,
                                           FaJobSettings *settings, GError **error);

/* ---- results ---- */

/* Where the next result's file goes (its folder created). */
char       *fa_document_new_result_path (FaDocument *self, GError **error);

/* Records a finished job: its output file, settings, the parameters as run,
 * the range it covers; takes @clip (the job's result, copied by the caller)
 * as the result's frames. The new result becomes current; "results-changed"
 * is emitted and the document is modified. */
void        fa_document_add_result (FaDocument *self, gboolean preview, const FaJobSettings *settings,
                                    FaWorkingClip *clip);
guint       fa_document_get_n_results (FaDocument *self);
const FaProjectResult *fa_document_get_result (FaDocument *self, guint index);

/* Property "current-result": the shown result, −1 for none. Setting one
 * whose frames are not loaded yet starts loading them on a worker thread;
 * "results-changed" is emitted again when they arrive (or
 * fa_document_get_result_error says why they could not be read). */
int         fa_document_get_current_result (FaDocument *self);
void        fa_document_set_current_result (FaDocument *self, int index);
/* The result's frames (at its own size; source info, times and geometry
 * of the document's clip, so that a source-size export works), or NULL
 * while not loaded. */
const FaWorkingClip *fa_document_peek_result_clip (FaDocument *self, guint index);
const GError *fa_document_get_result_error (FaDocument *self, guint index);
/* Loads result @index's frames on a worker thread (at once when loaded). */
void        fa_document_load_result_async (FaDocument *self, guint index, GCancellable *cancellable,
                                           GAsyncReadyCallback callback, gpointer user_data);
const FaWorkingClip *fa_document_load_result_finish (FaDocument *self, GAsyncResult *result,
                                                     GError **error);
/* The masks over the result's frames at its size (from the document's
 * masks over the range it covers): what a source-size export composites
 * through. */
FaMaskSet  *fa_document_dup_result_masks (FaDocument *self, guint index, GError **error);

/* The current result's frame shown at timeline frame @frame (its own size
 * in *@width × *@height, packed RGB), or NULL when there is no current
 * result, it is not loaded, or @frame lies outside what it covers. */
const guint8 *fa_document_get_result_frame (FaDocument *self, int frame, int *width, int *height);

/* Signals:
 *   "edit-changed": prompts, words, negative prompt, parameters or format changed
 *   "results-changed": a result was added or loaded, or the current one changed
 * Property: "current-result". */

G_END_DECLS
