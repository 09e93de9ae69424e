/* fa-project.h: a saved edit (.fanchor): the source clip and how to find
 * out that it moved or changed, the working-clip settings, the keyframe
 * masks, the prompts and their history, the edit parameters and the
 * results made so far. One JSON file (keyframe masks inside it as base64
 * PNG), versioned; fields this version does not know are kept on re-save;
 * saving is atomic (temporary, fsync, rename).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "fa-clip.h"
#include "fa-edit.h"
#include "fa-mask.h"

G_BEGIN_DECLS

#define FA_PROJECT_EXTENSION ".fanchor"
#define FA_PROJECT_VERSION 1

typedef struct _FaProject FaProject;

typedef enum {
  FA_PROJECT_CLIP_OK,
  FA_PROJECT_CLIP_MISSING, /* no file at the recorded path */
  FA_PROJECT_CLIP_CHANGED, /* a file, but not the same size or content hash */
} FaProjectClipState;

typedef enum {
  FA_PROJECT_RESULT_PREVIEW,
  FA_PROJECT_RESULT_FULL,
} FaProjectResultKind;

typedef struct {
  FaProjectResultKind kind;
  char *output_path;   /* the exported clip (absolute) */
  FaEditParams params; /* as the result was made */
  char *source_prompt, *target_prompt;
  gint64 created_unix; /* seconds */
  int range_first;     /* the working-clip frame (at the project's rate) where it starts; 0 */
} FaProjectResult;

/* A new project on @clip_path: records its absolute path, size and
 * content hash (SHA-256 of the size, the first and the last MiB: cheap on
 * a large clip, and still changes when the clip is re-encoded or cut).
 * Working-clip settings and edit parameters start at their defaults. */
FaProject  *fa_project_new (const char *clip_path, GError **error);
/* FA_ERROR_CORRUPT_FILE naming @path and what is wrong (not JSON, cut
 * short, a field of the wrong type, a mask that does not decode);
 * FA_ERROR_UNSUPPORTED for a newer version; G_IO_ERROR from reading. */
FaProject  *fa_project_load (const char *path, GError **error);
/* Writes @path atomically: a crash or an error during the save leaves the
 * file that was there untouched. Unknown fields read by load are written
 * back unchanged. */
gboolean    fa_project_save (FaProject *project, const char *path, GError **error);
void        fa_project_free (FaProject *project);

/* Compares the clip on disk with what the project recorded: MISSING when
 * nothing is at the path, CHANGED for another size or hash (or a folder in
 * its place). A file that is there but cannot be read sets @error and
 * returns MISSING. */
FaProjectClipState fa_project_check_clip (FaProject *project, GError **error);
const char *fa_project_get_clip_path (FaProject *project);
/* Points the project at a moved clip (records its new size and hash). */
gboolean    fa_project_set_clip_path (FaProject *project, const char *clip_path, GError **error);

/* The working-clip settings (progress fields unused). */
void        fa_project_get_working_options (FaProject *project, FaWorkingClipOptions *options);
void        fa_project_set_working_options (FaProject *project, const FaWorkingClipOptions *options);

void        fa_project_get_params (FaProject *project, FaEditParams *params);
gboolean    fa_project_set_params (FaProject *project, const FaEditParams *params, GError **error);

/* The frames of the working clip the edit covers: @first and @count of
 * the clip the working options decode (the app's timeline). count 0 (the
 * default, and what old projects read as) is the whole working clip;
 * otherwise count is 1 + 4k in [5, 81] and first ≥ 0. Errors name the
 * bad value. */
void        fa_project_get_range (FaProject *project, int *first, int *count);
gboolean    fa_project_set_range (FaProject *project, int first, int count, GError **error);
/* The working options of the range alone, what an edit decodes: start and
 * end moved onto the range's frames at the working rate and max_frames =
 * count. With count 0, or with the source's own rate (fps 0/0, where the
 * frame times are not known without the clip), the working options as
 * they are. */
void        fa_project_get_range_options (FaProject *project, FaWorkingClipOptions *options);
/* fa_project_apply_keyframes for the range: each stored keyframe in
 * [first, first + count) is set on frame (k − first) of @masks, which has
 * count frames (or every keyframe, as fa_project_apply_keyframes, when
 * count is 0). */
gboolean    fa_project_apply_range_keyframes (FaProject *project, FaMaskSet *masks, GError **error);

/* State that is saved with the project but is not part of the edit (the
 * app's view and tool settings): named values of type b, i, d or s, kept
 * in the file under "view". Setting NULL removes a key. Getting returns a
 * new reference, or NULL when the key is absent or holds another type
 * than @type. */
void        fa_project_set_view_value (FaProject *project, const char *key, GVariant *value);
GVariant   *fa_project_get_view_value (FaProject *project, const char *key, const GVariantType *type);

/* The prompts; setting them appends the previous pair to the history
 * (when it differs and is not empty). @words: the user's choice of target
 * words (NULL-terminated, or NULL for the automatic diff). */
const char *fa_project_get_source_prompt (FaProject *project);
const char *fa_project_get_target_prompt (FaProject *project);
const char *const *fa_project_get_target_words (FaProject *project);
void        fa_project_set_prompts (FaProject *project, const char *source, const char *target,
                                    const char *const *words);
/* Sets the prompts without touching the history (a prompt being typed),
 * and appends the current pair to the history (when not empty and not
 * the newest entry already: the app does it for prompts an edit ran with). */
void        fa_project_edit_prompts (FaProject *project, const char *source, const char *target,
                                     const char *const *words);
void        fa_project_remember_prompts (FaProject *project);
/* Earlier prompt pairs, oldest first: returns n; @sources and @targets
 * (may be NULL) get NULL-terminated lists of n strings, valid until the
 * next fa_project_set_prompts, as is what fa_project_get_target_words returns. */
guint       fa_project_get_prompt_history (FaProject *project, const char *const **sources,
                                           const char *const **targets);

/* Keyframe masks at the working size: the project keeps only the
 * keyframes (the propagated frames live in the cache and can be rebuilt).
 * @masks must have the working clip's frame count and size (a size other
 * than the working options' is FA_ERROR_INVALID_ARGUMENT); the project's
 * keyframes become exactly the keyframes of @masks. */
gboolean    fa_project_set_keyframes (FaProject *project, const FaMaskSet *masks, GError **error);
/* Sets every stored keyframe on @masks (checking the size and the frame
 * count first: on an error @masks is unchanged). */
gboolean    fa_project_apply_keyframes (FaProject *project, FaMaskSet *masks, GError **error);
guint       fa_project_get_n_keyframes (FaProject *project);

/* Copies @result (its output path made absolute); its params must pass
 * fa_edit_params_check. fa_project_get_result's pointer lives as long as
 * the project. */
void        fa_project_add_result (FaProject *project, const FaProjectResult *result);
guint       fa_project_get_n_results (FaProject *project);
const FaProjectResult *fa_project_get_result (FaProject *project, guint index);

/* The cache folder beside @project_path ("NAME.fanchor-cache/"), for
 * propagated masks and results; anything in it can be rebuilt. */
char       *fa_project_cache_folder (const char *project_path);

/* Tests: the save fails (with G_IO_ERROR_NO_SPACE) after writing this
 * many bytes of the temporary file, as a full disk would; -1 turns it off.
 * Process-wide and not meant for use while another thread saves. */
void        fa_project_set_save_failure_for_testing (gssize after_bytes);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaProject, fa_project_free)

G_END_DECLS
