/* fa-document-edit.c: prompts, parameters, edit format, job settings and
 * results of an open document (fa-document-edit.h).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "FaDocumentEdit"

#include "config.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include <gst/gst.h>

#include "fa-document-private.h"
#include "fa-error.h"

#define PREVIEW_STEPS 8
#define PREVIEW_FRAMES 17
#define RESULT_QUALITY 12

static void
result_frames_free (gpointer data)
{
  FaDocumentResultFrames *frames = data;

  fa_working_clip_free (frames->clip);
  g_clear_error (&frames->error);
  g_free (frames);
}

void
_fa_document_edit_state_clear (FaDocumentEditState *state)
{
  if (state->loading != NULL)
    g_cancellable_cancel (state->loading);
  g_clear_object (&state->loading);
  g_clear_pointer (&state->frames, g_ptr_array_unref);
}

/* One entry per project result, made on first use (a project opened with
 * results has them before anything here ran). */
static FaDocumentResultFrames *
result_frames (FaDocument *self, guint index)
{
  FaDocumentEditState *state = _fa_document_get_edit_state (self);
  FaProject *project = fa_document_get_project (self);
  guint n = project != NULL ? fa_project_get_n_results (project) : 0;

  if (state->frames == NULL)
    state->frames = g_ptr_array_new_with_free_func (result_frames_free);
  while (state->frames->len < n)
    g_ptr_array_add (state->frames, g_new0 (FaDocumentResultFrames, 1));
  return index < state->frames->len ? g_ptr_array_index (state->frames, index) : NULL;
}

/* ---- view values ---- */

static int
view_int (FaDocument *self, const char *key, int fallback)
{
  FaProject *project = fa_document_get_project (self);
  g_autoptr (GVariant) value = project != NULL ? fa_project_get_view_value (project, key, G_VARIANT_TYPE_INT32)
                                               : NULL;
  return value != NULL ? g_variant_get_int32 (value) : fallback;
}

/* ---- format ---- */

void
fa_document_get_default_edit_format (FaDocument *self, FaEditFormat *format)
{
  g_return_if_fail (FA_IS_DOCUMENT (self) && format != NULL);
  gboolean portrait = fa_document_get_height (self) > fa_document_get_width (self);
  format->width = portrait ? 480 : 832;
  format->height = portrait ? 832 : 480;
  format->fps = 16;
}

void
fa_document_get_edit_format (FaDocument *self, FaEditFormat *format)
{
  g_return_if_fail (FA_IS_DOCUMENT (self) && format != NULL);
  fa_document_get_default_edit_format (self, format);
  format->width = view_int (self, "edit-width", format->width);
  format->height = view_int (self, "edit-height", format->height);
  format->fps = view_int (self, "edit-fps", format->fps);
}

gboolean
fa_document_set_edit_format (FaDocument *self, const FaEditFormat *format, GError **error)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self) && format != NULL, FALSE);

  const char *bad = format->width < 128 || format->width > 1280 || format->width % 16 != 0 ? "width"
                    : format->height < 128 || format->height > 1280 || format->height % 16 != 0 ? "height"
                    : NULL;
  if (bad != NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "edit size %d×%d: the %s must be a multiple of 16 in [128, 1280]", format->width,
                   format->height, bad);
      return FALSE;
    }
  if (format->fps < 4 || format->fps > 60)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "edit frame rate %d is outside [4, 60]",
                   format->fps);
      return FALSE;
    }
  FaProject *project = fa_document_get_project (self);
  if (project == NULL)
    {
      g_set_error_literal (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                           "a clip made in memory has no project to keep edit settings in");
      return FALSE;
    }
  FaEditFormat now;
  fa_document_get_edit_format (self, &now);
  if (memcmp (&now, format, sizeof now) == 0)
    return TRUE;
  fa_project_set_view_value (project, "edit-width", g_variant_new_int32 (format->width));
  fa_project_set_view_value (project, "edit-height", g_variant_new_int32 (format->height));
  fa_project_set_view_value (project, "edit-fps", g_variant_new_int32 (format->fps));
  fa_document_set_modified (self);
  _fa_document_emit_edit_changed (self);
  return TRUE;
}

/* ---- prompts and parameters ---- */

const char *
fa_document_get_source_prompt (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), "");
  FaProject *project = fa_document_get_project (self);
  const char *prompt = project != NULL ? fa_project_get_source_prompt (project) : NULL;
  return prompt != NULL ? prompt : "";
}

const char *
fa_document_get_target_prompt (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), "");
  FaProject *project = fa_document_get_project (self);
  const char *prompt = project != NULL ? fa_project_get_target_prompt (project) : NULL;
  return prompt != NULL ? prompt : "";
}

const char *const *
fa_document_get_target_words (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), NULL);
  FaProject *project = fa_document_get_project (self);
  return project != NULL ? fa_project_get_target_words (project) : NULL;
}

static gboolean
same_words (const char *const *a, const char *const *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return g_strv_equal (a, b);
}

void
fa_document_set_prompts (FaDocument *self, const char *source, const char *target, const char *const *words)
{
  g_return_if_fail (FA_IS_DOCUMENT (self));
  FaProject *project = fa_document_get_project (self);
  if (project == NULL)
    return;
  source = source != NULL ? source : "";
  target = target != NULL ? target : "";
  if (strcmp (source, fa_document_get_source_prompt (self)) == 0 &&
      strcmp (target, fa_document_get_target_prompt (self)) == 0 &&
      same_words (words, fa_document_get_target_words (self)))
    return;
  /* typed a key at a time: the history keeps the prompts an edit ran with (fa_document_add_result) */
  fa_project_edit_prompts (project, source, target, words);
  fa_document_set_modified (self);
  _fa_document_emit_edit_changed (self);
}

const char *
fa_document_get_negative_prompt (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), NULL);
  FaProject *project = fa_document_get_project (self);
  if (project == NULL)
    return NULL;
  g_autoptr (GVariant) value = fa_project_get_view_value (project, "negative-prompt", G_VARIANT_TYPE_STRING);
  /* the variant lives in the project's view; its string stays valid as long as the value is set */
  return value != NULL ? g_variant_get_string (value, NULL) : NULL;
}

void
fa_document_set_negative_prompt (FaDocument *self, const char *negative)
{
  g_return_if_fail (FA_IS_DOCUMENT (self));
  FaProject *project = fa_document_get_project (self);
  if (project == NULL || g_strcmp0 (negative, fa_document_get_negative_prompt (self)) == 0)
    return;
  fa_project_set_view_value (project, "negative-prompt", negative != NULL ? g_variant_new_string (negative) : NULL);
  fa_document_set_modified (self);
  _fa_document_emit_edit_changed (self);
}

void
fa_document_get_params (FaDocument *self, FaEditParams *params)
{
  g_return_if_fail (FA_IS_DOCUMENT (self) && params != NULL);
  FaProject *project = fa_document_get_project (self);
  if (project != NULL)
    fa_project_get_params (project, params);
  else
    fa_edit_params_init (params);
}

gboolean
fa_document_set_params (FaDocument *self, const FaEditParams *params, GError **error)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self) && params != NULL, FALSE);
  FaProject *project = fa_document_get_project (self);
  FaEditParams now;

  if (project == NULL)
    {
      g_set_error_literal (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                           "a clip made in memory has no project to keep edit settings in");
      return FALSE;
    }
  fa_document_get_params (self, &now);
  if (memcmp (&now, params, sizeof now) == 0)
    return TRUE;
  if (!fa_project_set_params (project, params, error))
    return FALSE;
  fa_document_set_modified (self);
  _fa_document_emit_edit_changed (self);
  return TRUE;
}

/* ---- job settings ---- */

static gint64
timeline_time_ns (FaDocument *self, gint64 frame)
{
  const FaWorkingClip *clip = fa_document_get_clip (self);
  FaProject *project = fa_document_get_project (self);
  FaWorkingClipOptions working;

  fa_working_clip_options_init (&working);
  if (project != NULL)
    fa_project_get_working_options (project, &working);
  return working.start_ns + (gint64) gst_util_uint64_scale ((guint64) frame, (guint64) clip->fps_d * GST_SECOND,
                                                             (guint64) clip->fps_n);
}

/* The range's masks for a job at @format: the timeline's frames and size
 * as they are (propagated frames kept) when the format is the timeline's,
 * else only the keyframes, moved to the nearest frame at the edit's rate
 * (the job scales them and propagates again). */
static FaMaskSet *
range_masks (FaDocument *self, const FaEditFormat *format, GError **error)
{
  const FaMaskSet *masks = fa_document_get_masks (self);
  const FaWorkingClip *clip = fa_document_get_clip (self);
  int first, count, width = fa_document_get_width (self), height = fa_document_get_height (self);
  gboolean same_rate = clip->fps_d > 0 && format->fps * clip->fps_d == clip->fps_n;
  gsize frame_bytes = (gsize) width * height;

  fa_document_get_range (self, &first, &count);
  int n_frames = same_rate ? count
                 : (int) (((gint64) (count - 1) * format->fps * clip->fps_d) / clip->fps_n) + 1;
  g_autoptr (FaMaskSet) out = fa_mask_set_new (MAX (n_frames, 1), width, height, error);
  int keys = 0;

  if (out == NULL)
    return NULL;
  for (int k = 0; k < count; k++)
    {
      int frame = first + k;
      const guint8 *alpha = fa_mask_set_peek_frame (masks, frame);
      if (fa_mask_set_is_keyframe (masks, frame))
        {
          int at = same_rate ? k
                   : (int) lround ((double) k * format->fps * clip->fps_d / clip->fps_n);
          if (at >= n_frames)
            continue;
          if (!fa_mask_set_set_keyframe (out, at, alpha, error))
            return NULL;
          keys++;
        }
      else if (same_rate)
        {
          memcpy (fa_mask_set_get_frame (out, k), alpha, frame_bytes);
          fa_mask_set_set_confidence (out, k, fa_mask_set_get_confidence (masks, frame));
        }
    }
  if (keys == 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "the range (frames %d–%d) has no mask: paint or box what should change on one of its frames",
                   first + 1, first + count);
      return NULL;
    }
  if (same_rate && !fa_document_needs_propagation (self))
    fa_mask_set_mark_propagated (out);
  return g_steal_pointer (&out);
}

gboolean
fa_document_make_job_settings (FaDocument *self, gboolean preview, const char *output_path,
                               FaJobSettings *settings, GError **error)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self) && settings != NULL, FALSE);

  FaProject *project = fa_document_get_project (self);
  const char *clip_path = fa_document_get_clip_path (self);
  const char *source = fa_document_get_source_prompt (self);
  const char *target = fa_document_get_target_prompt (self);
  FaEditFormat format;
  int first, count;

  if (project == NULL || clip_path == NULL)
    {
      g_set_error_literal (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                           "a clip made in memory cannot be edited: open a clip file");
      return FALSE;
    }
  g_autofree char *source_text = g_strstrip (g_strdup (source));
  g_autofree char *target_text = g_strstrip (g_strdup (target));
  if (source_text[0] == '\0' || target_text[0] == '\0')
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "the edit needs %s: say what the clip shows and what it should show",
                   source_text[0] == '\0' ? "a source prompt" : "a target prompt");
      return FALSE;
    }
  fa_document_get_edit_format (self, &format);
  g_autoptr (FaMaskSet) masks = range_masks (self, &format, error);
  if (masks == NULL)
    return FALSE;

  fa_job_settings_init (settings);
  settings->clip_path = g_strdup (clip_path);
  fa_project_get_working_options (project, &settings->working);
  settings->working.progress = NULL;
  settings->working.progress_user_data = NULL;
  fa_document_get_range (self, &first, &count);
  settings->working.start_ns = timeline_time_ns (self, first);
  settings->working.end_ns = timeline_time_ns (self, (gint64) first + count);
  settings->working.width = format.width;
  settings->working.height = format.height;
  settings->working.fps_n = format.fps;
  settings->working.fps_d = 1;
  settings->working.max_frames = FA_DOCUMENT_MAX_RANGE;
  settings->masks = g_steal_pointer (&masks);
  settings->source_prompt = g_strdup (source);
  settings->target_prompt = g_strdup (target);
  settings->negative_prompt = g_strdup (fa_document_get_negative_prompt (self));
  settings->target_words = g_strdupv ((char **) fa_document_get_target_words (self));
  fa_document_get_params (self, &settings->params);
  settings->preview = preview;
  settings->preview_steps = PREVIEW_STEPS;
  settings->preview_half_size = preview;
  settings->preview_frames = preview ? PREVIEW_FRAMES : 0;
  settings->live_every = 1;
  settings->output_path = g_strdup (output_path);
  fa_export_options_init (&settings->export_options);
  settings->export_options.format = FA_EXPORT_FORMAT_MP4;
  settings->export_options.size = FA_EXPORT_SIZE_WORKING;
  settings->export_options.quality = RESULT_QUALITY;
  settings->export_options.audio = FALSE;
  return TRUE;
}

/* ---- results ---- */

char *
fa_document_new_result_path (FaDocument *self, GError **error)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), NULL);

  const char *project_path = fa_document_get_project_path (self);
  g_autofree char *folder = project_path != NULL
                              ? fa_project_cache_folder (project_path)
                              : g_build_filename (g_get_user_cache_dir (), "flowanchor", "results", NULL);
  if (g_mkdir_with_parents (folder, 0700) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot make the results folder %s: %s",
                   folder, g_strerror (saved));
      return NULL;
    }
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%d-%H%M%S");
  for (int n = 1;; n++)
    {
      g_autofree char *name = g_strdup_printf ("result-%s-%d.mp4", stamp, n);
      char *path = g_build_filename (folder, name, NULL);
      if (!g_file_test (path, G_FILE_TEST_EXISTS))
        return path;
      g_free (path);
    }
}

void
fa_document_add_result (FaDocument *self, gboolean preview, const FaJobSettings *settings, FaWorkingClip *clip)
{
  g_return_if_fail (FA_IS_DOCUMENT (self) && settings != NULL && settings->output_path != NULL && clip != NULL);
  FaProject *project = fa_document_get_project (self);
  FaProjectResult result = { 0 };

  if (project == NULL)
    {
      fa_working_clip_free (clip);
      g_return_if_reached ();
    }
  result.kind = preview ? FA_PROJECT_RESULT_PREVIEW : FA_PROJECT_RESULT_FULL;
  result.output_path = settings->output_path;
  result.params = settings->params;
  result.source_prompt = settings->source_prompt;
  result.target_prompt = settings->target_prompt;
  result.created_unix = g_get_real_time () / G_USEC_PER_SEC;
  const FaWorkingClip *timeline = fa_document_get_clip (self);
  gint64 offset_ns = MAX (settings->working.start_ns - timeline_time_ns (self, 0), 0);
  result.range_first = (int) gst_util_uint64_scale_round ((guint64) offset_ns, (guint64) timeline->fps_n,
                                                          (guint64) timeline->fps_d * GST_SECOND);
  result.range_first = CLAMP (result.range_first, 0, fa_document_get_n_frames (self) - 1);
  fa_project_add_result (project, &result);
  fa_project_remember_prompts (project);

  guint index = fa_project_get_n_results (project) - 1;
  FaDocumentResultFrames *frames = result_frames (self, index);
  fa_working_clip_free (frames->clip);
  frames->clip = clip;
  g_clear_error (&frames->error);

  FaDocumentEditState *state = _fa_document_get_edit_state (self);
  state->current_result = (int) index;
  fa_document_set_modified (self);
  _fa_document_notify_current_result (self);
  _fa_document_emit_results_changed (self);
}

guint
fa_document_get_n_results (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), 0);
  FaProject *project = fa_document_get_project (self);
  return project != NULL ? fa_project_get_n_results (project) : 0;
}

const FaProjectResult *
fa_document_get_result (FaDocument *self, guint index)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), NULL);
  g_return_val_if_fail (index < fa_document_get_n_results (self), NULL);
  return fa_project_get_result (fa_document_get_project (self), index);
}

int
fa_document_get_current_result (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), -1);
  return _fa_document_get_edit_state (self)->current_result;
}

static void
on_loaded_for_current (GObject *source, GAsyncResult *result, gpointer user_data)
{
  FaDocument *self = FA_DOCUMENT (source);
  g_autoptr (GError) error = NULL;

  (void) user_data;
  if (fa_document_load_result_finish (self, result, &error) == NULL &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  _fa_document_emit_results_changed (self);
}

void
fa_document_set_current_result (FaDocument *self, int index)
{
  g_return_if_fail (FA_IS_DOCUMENT (self));
  FaDocumentEditState *state = _fa_document_get_edit_state (self);

  if (index < -1 || index >= (int) fa_document_get_n_results (self))
    index = -1;
  if (index == state->current_result)
    return;
  state->current_result = index;
  _fa_document_notify_current_result (self);
  _fa_document_emit_results_changed (self);
  if (index >= 0)
    {
      FaDocumentResultFrames *frames = result_frames (self, (guint) index);
      if (frames->clip == NULL && frames->error == NULL && !frames->loading)
        {
          if (state->loading == NULL)
            state->loading = g_cancellable_new ();
          fa_document_load_result_async (self, (guint) index, state->loading, on_loaded_for_current, NULL);
        }
    }
}

const FaWorkingClip *
fa_document_peek_result_clip (FaDocument *self, guint index)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), NULL);
  FaDocumentResultFrames *frames = result_frames (self, index);
  return frames != NULL ? frames->clip : NULL;
}

const GError *
fa_document_get_result_error (FaDocument *self, guint index)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), NULL);
  FaDocumentResultFrames *frames = result_frames (self, index);
  return frames != NULL ? frames->error : NULL;
}

/* What a worker needs to read a result file back and place it on the source. */
typedef struct {
  guint index;
  char *path;
  FaClipInfo *source;        /* the document's clip, or NULL */
  FaClipGeometry geometry;   /* the timeline's */
  int timeline_width, timeline_height;
  gint64 start_ns;           /* source time of the result's first frame */
} LoadData;

static void
load_data_free (gpointer data)
{
  LoadData *load = data;
  g_free (load->path);
  fa_clip_info_free (load->source);
  g_free (load);
}

static FaWorkingClip *
read_result (const LoadData *load, GCancellable *cancellable, GError **error)
{
  g_autoptr (FaClipInfo) info = fa_clip_probe (load->path, cancellable, error);
  FaWorkingClipOptions options;

  if (info == NULL)
    return NULL;
  fa_working_clip_options_init (&options);
  options.width = info->width;
  options.height = info->height;
  options.fps_n = info->fps_n > 0 ? info->fps_n : 16;
  options.fps_d = info->fps_n > 0 ? info->fps_d : 1;
  options.max_frames = FA_DOCUMENT_MAX_FRAMES;
  g_autoptr (FaWorkingClip) clip = fa_working_clip_decode (load->path, &options, cancellable, error);
  if (clip == NULL)
    return NULL;
  if (load->source != NULL)
    {
      double fx = (double) clip->width / load->timeline_width, fy = (double) clip->height / load->timeline_height;
      fa_clip_info_free (clip->source);
      clip->source = fa_clip_info_copy (load->source);
      clip->geometry.scale_x = load->geometry.scale_x * fx;
      clip->geometry.scale_y = load->geometry.scale_y * fy;
      clip->geometry.offset_x = load->geometry.offset_x * fx;
      clip->geometry.offset_y = load->geometry.offset_y * fy;
      for (int i = 0; i < clip->n_frames; i++)
        clip->source_pts_ns[i] = load->start_ns + (gint64) gst_util_uint64_scale ((guint64) i,
                                                                                   (guint64) clip->fps_d * GST_SECOND,
                                                                                   (guint64) clip->fps_n);
    }
  return g_steal_pointer (&clip);
}

static void
load_in_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  GError *error = NULL;
  FaWorkingClip *clip = read_result (task_data, cancellable, &error);

  (void) source;
  if (clip == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, clip, (GDestroyNotify) fa_working_clip_free);
}

static void
on_result_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  FaDocument *self = FA_DOCUMENT (source);
  g_autoptr (GTask) outer = user_data;
  LoadData *load = g_task_get_task_data (G_TASK (result));
  FaDocumentResultFrames *frames = result_frames (self, load->index);
  GError *error = NULL;
  FaWorkingClip *clip = g_task_propagate_pointer (G_TASK (result), &error);

  frames->loading = FALSE;
  if (clip == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_set_error (&frames->error, error->domain, error->code, "%s", error->message);
      g_task_return_error (outer, error);
      return;
    }
  /* a second load of the same result that ran meanwhile keeps the first
   * one's frames: callers may hold pointers to them */
  if (frames->clip != NULL)
    fa_working_clip_free (clip);
  else
    frames->clip = clip;
  g_task_return_pointer (outer, (gpointer) frames->clip, NULL);
}

void
fa_document_load_result_async (FaDocument *self, guint index, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (FA_IS_DOCUMENT (self));
  GTask *outer = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (outer, fa_document_load_result_async);

  if (index >= fa_document_get_n_results (self))
    {
      g_task_return_new_error (outer, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "there is no result %u", index + 1);
      g_object_unref (outer);
      return;
    }
  FaDocumentResultFrames *frames = result_frames (self, index);
  if (frames->clip != NULL)
    {
      g_task_return_pointer (outer, frames->clip, NULL);
      g_object_unref (outer);
      return;
    }
  const FaProjectResult *result = fa_document_get_result (self, index);
  const FaWorkingClip *timeline = fa_document_get_clip (self);
  const FaClipInfo *info = fa_document_get_clip_info (self);
  LoadData *load = g_new0 (LoadData, 1);
  load->index = index;
  load->path = g_strdup (result->output_path);
  load->source = fa_clip_info_copy (info);
  load->geometry = timeline->geometry;
  load->timeline_width = timeline->width;
  load->timeline_height = timeline->height;
  load->start_ns = timeline_time_ns (self, result->range_first);
  frames->loading = TRUE;
  g_clear_error (&frames->error);

  g_autoptr (GTask) inner = g_task_new (self, cancellable, on_result_read, outer);
  g_task_set_task_data (inner, load, load_data_free);
  g_task_run_in_thread (inner, load_in_thread);
}

const FaWorkingClip *
fa_document_load_result_finish (FaDocument *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* The result frame shown at timeline frame @frame (by time), or −1. */
static int
result_frame_at (FaDocument *self, const FaProjectResult *result, const FaWorkingClip *clip, int frame)
{
  const FaWorkingClip *timeline = fa_document_get_clip (self);
  double t = (double) (frame - result->range_first) * timeline->fps_d / timeline->fps_n;
  int index = (int) floor (t * clip->fps_n / clip->fps_d + 0.5);

  return frame >= result->range_first && index >= 0 && index < clip->n_frames ? index : -1;
}

FaMaskSet *
fa_document_dup_result_masks (FaDocument *self, guint index, GError **error)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), NULL);
  const FaWorkingClip *clip = fa_document_peek_result_clip (self, index);
  if (clip == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "result %u is not loaded", index + 1);
      return NULL;
    }
  const FaProjectResult *result = fa_document_get_result (self, index);
  const FaWorkingClip *timeline = fa_document_get_clip (self);
  const FaMaskSet *masks = fa_document_get_masks (self);
  int tw = timeline->width, th = timeline->height, w = clip->width, h = clip->height;
  g_autoptr (FaMaskSet) out = fa_mask_set_new (clip->n_frames, w, h, error);
  g_autofree guint8 *alpha = g_malloc ((gsize) w * h);

  if (out == NULL)
    return NULL;
  for (int i = 0; i < clip->n_frames; i++)
    {
      double t = (double) i * clip->fps_d / clip->fps_n;
      int frame = result->range_first + (int) floor (t * timeline->fps_n / timeline->fps_d + 0.5);
      fa_mask_scale_nearest (fa_mask_set_peek_frame (masks, CLAMP (frame, 0, timeline->n_frames - 1)), tw, th, alpha,
                             w, h);
      if (!fa_mask_set_set_keyframe (out, i, alpha, error))
        return NULL;
    }
  return g_steal_pointer (&out);
}

const guint8 *
fa_document_get_result_frame (FaDocument *self, int frame, int *width, int *height)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), NULL);
  int current = fa_document_get_current_result (self);
  if (current < 0)
    return NULL;
  const FaWorkingClip *clip = fa_document_peek_result_clip (self, (guint) current);
  if (clip == NULL)
    return NULL;
  int index = result_frame_at (self, fa_document_get_result (self, (guint) current), clip, frame);
  if (index < 0)
    return NULL;
  if (width != NULL)
    *width = clip->width;
  if (height != NULL)
    *height = clip->height;
  return fa_working_clip_frame (clip, index);
}
