/* test-document-edit.c: the edit side of a document (fa-document-edit.h):
 * prompts, parameters and format kept in the project and saved with it;
 * job settings for the range (times, size, rate, masks, preview); results
 * recorded, mapped onto the timeline, saved, reloaded from their files and
 * placed back on the source; the masks a source-size export uses.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <string.h>

#include "fa-document-edit.h"
#include "fa-error.h"
#include "fa-export.h"

#include "fa-media-util.h"
#include "fa-test-util.h"

static char *folder, *clip_path;

/* 40 frames of 16 fps at 320×240 (timeline 832×480, cropped) */
static FaDocument *
open_clip (void)
{
  g_autoptr (GError) error = NULL;
  FaDocument *document = fa_document_open (clip_path, NULL, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (document);
  return document;
}

static void
count_signal (gpointer instance, gpointer data)
{
  (void) instance;
  (*(int *) data)++;
}

static void
test_prompts_params_format (void)
{
  g_autoptr (FaDocument) document = open_clip ();
  g_autoptr (GError) error = NULL;
  int changed = 0;
  FaEditParams params, read;
  FaEditFormat format;

  g_signal_connect (document, "edit-changed", G_CALLBACK (count_signal), &changed);
  g_assert_cmpstr (fa_document_get_source_prompt (document), ==, "");
  g_assert_false (fa_document_get_modified (document));

  fa_document_set_prompts (document, "a red ball", "a blue cube", NULL);
  g_assert_cmpstr (fa_document_get_source_prompt (document), ==, "a red ball");
  g_assert_cmpstr (fa_document_get_target_prompt (document), ==, "a blue cube");
  g_assert_null (fa_document_get_target_words (document));
  g_assert_true (fa_document_get_modified (document));
  g_assert_cmpint (changed, ==, 1);
  /* the same again is no change */
  fa_document_set_prompts (document, "a red ball", "a blue cube", NULL);
  g_assert_cmpint (changed, ==, 1);
  const char *words[] = { "cube", NULL };
  fa_document_set_prompts (document, "a red ball", "a blue cube", words);
  g_assert_cmpint (changed, ==, 2);
  g_assert_cmpstr (fa_document_get_target_words (document)[0], ==, "cube");

  g_assert_null (fa_document_get_negative_prompt (document));
  fa_document_set_negative_prompt (document, "blurry");
  g_assert_cmpstr (fa_document_get_negative_prompt (document), ==, "blurry");
  g_assert_cmpint (changed, ==, 3);

  fa_document_get_params (document, &params);
  params.seed = 77;
  params.cfg_target = 7.5f;
  g_assert_true (fa_document_set_params (document, &params, &error));
  g_assert_no_error (error);
  fa_document_get_params (document, &read);
  g_assert_cmpuint (read.seed, ==, 77);
  g_assert_cmpfloat (read.cfg_target, ==, 7.5f);
  params.tau = 3.0f;
  g_assert_false (fa_document_set_params (document, &params, &error));
  g_assert_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "tau"));
  g_clear_error (&error);
  fa_document_get_params (document, &read);
  g_assert_cmpfloat (read.tau, ==, 0.6f);

  fa_document_get_edit_format (document, &format);
  g_assert_cmpint (format.width, ==, 832);
  g_assert_cmpint (format.height, ==, 480);
  g_assert_cmpint (format.fps, ==, 16);
  format.width = 420;
  g_assert_false (fa_document_set_edit_format (document, &format, &error));
  g_assert_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "width"));
  g_clear_error (&error);
  format.width = 416;
  format.height = 240;
  format.fps = 8;
  g_assert_true (fa_document_set_edit_format (document, &format, &error));
  int before = changed;
  g_assert_true (fa_document_set_edit_format (document, &format, &error));
  g_assert_cmpint (changed, ==, before);

  /* all of it comes back from the saved project */
  g_autofree char *project = g_build_filename (folder, "settings.fanchor", NULL);
  g_assert_true (fa_document_save (document, project, &error));
  g_assert_no_error (error);
  g_autoptr (FaDocument) reopened = fa_document_open (project, NULL, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (fa_document_get_target_prompt (reopened), ==, "a blue cube");
  g_assert_cmpstr (fa_document_get_target_words (reopened)[0], ==, "cube");
  g_assert_cmpstr (fa_document_get_negative_prompt (reopened), ==, "blurry");
  fa_document_get_params (reopened, &read);
  g_assert_cmpuint (read.seed, ==, 77);
  FaEditFormat reread;
  fa_document_get_edit_format (reopened, &reread);
  g_assert_cmpint (reread.width, ==, 416);
  g_assert_cmpint (reread.height, ==, 240);
  g_assert_cmpint (reread.fps, ==, 8);
  g_assert_false (fa_document_get_modified (reopened));
}

static void
test_job_settings (void)
{
  g_autoptr (FaDocument) document = open_clip ();
  g_autoptr (GError) error = NULL;
  g_auto (FaJobSettings) settings = { 0 };

  /* nothing to say what to change */
  g_assert_false (fa_document_make_job_settings (document, FALSE, "/tmp/x.mp4", &settings, &error));
  g_assert_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "source prompt"));
  g_clear_error (&error);
  fa_document_set_prompts (document, "a red ball", "  ", NULL);
  g_assert_false (fa_document_make_job_settings (document, FALSE, "/tmp/x.mp4", &settings, &error));
  g_assert_nonnull (strstr (error->message, "target prompt"));
  g_clear_error (&error);
  fa_document_set_prompts (document, "a red ball", "a blue cube", NULL);

  /* a range of 9 from frame 8; a mask outside it does not count */
  g_assert_true (fa_document_set_range (document, 8, 9, &error));
  g_assert_true (fa_document_apply_box (document, 2, 10, 10, 100, 100, FALSE));
  g_assert_false (fa_document_make_job_settings (document, FALSE, "/tmp/x.mp4", &settings, &error));
  g_assert_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "frames 9–17"));
  g_clear_error (&error);

  g_assert_true (fa_document_apply_box (document, 12, 100, 50, 300, 200, FALSE));
  g_assert_true (fa_document_make_job_settings (document, FALSE, "/tmp/x.mp4", &settings, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (settings.clip_path, ==, clip_path);
  g_assert_cmpint (settings.working.start_ns, ==, 8 * GST_SECOND / 16);
  g_assert_cmpint (settings.working.end_ns, ==, 17 * GST_SECOND / 16);
  g_assert_cmpint (settings.working.width, ==, 832);
  g_assert_cmpint (settings.working.fps_n, ==, 16);
  g_assert_cmpint (fa_mask_set_get_n_frames (settings.masks), ==, 9);
  g_assert_true (fa_mask_set_is_keyframe (settings.masks, 4));
  g_assert_cmpint (fa_mask_set_list_keyframes (settings.masks, NULL), ==, 1);
  g_assert_cmpmem (fa_mask_set_peek_frame (settings.masks, 4), 832 * 480,
                   fa_mask_set_peek_frame (fa_document_get_masks (document), 12), 832 * 480);
  g_assert_cmpstr (settings.target_prompt, ==, "a blue cube");
  g_assert_null (settings.negative_prompt);
  g_assert_false (settings.preview);
  g_assert_cmpint (settings.live_every, ==, 1);
  g_assert_cmpstr (settings.output_path, ==, "/tmp/x.mp4");
  g_assert_false (settings.export_options.audio);
  fa_job_settings_clear (&settings);

  /* a preview: fewer steps at half size over the first frames */
  g_assert_true (fa_document_make_job_settings (document, TRUE, "/tmp/x.mp4", &settings, &error));
  g_assert_true (settings.preview);
  g_assert_true (settings.preview_half_size);
  g_assert_cmpint (settings.preview_steps, ==, 8);
  g_assert_cmpint (settings.preview_frames, ==, 17);
  fa_job_settings_clear (&settings);

  /* at 8 fps the keyframe (range frame 4 = 0.25 s) lands on edit frame 2 */
  FaEditFormat format = { 416, 240, 8 };
  g_assert_true (fa_document_set_edit_format (document, &format, &error));
  g_assert_true (fa_document_make_job_settings (document, FALSE, NULL, &settings, &error));
  g_assert_cmpint (settings.working.width, ==, 416);
  g_assert_cmpint (settings.working.fps_n, ==, 8);
  g_assert_cmpint (fa_mask_set_get_n_frames (settings.masks), ==, 5);
  g_assert_true (fa_mask_set_is_keyframe (settings.masks, 2));
  g_assert_cmpint (fa_mask_set_list_keyframes (settings.masks, NULL), ==, 1);
}

/* A result as a job would leave it: the range's frames inverted, written to @path. */
static FaWorkingClip *
fake_result (FaDocument *document, const FaJobSettings *settings, int width, int height)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaWorkingClip) decoded = fa_working_clip_decode (settings->clip_path, &settings->working, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (decoded->width, ==, width);
  g_assert_cmpint (decoded->height, ==, height);
  for (gsize i = 0; i < (gsize) decoded->n_frames * width * height * 3; i++)
    decoded->rgb[i] = 255 - decoded->rgb[i];
  FaExportOptions options;
  fa_export_options_init (&options);
  options.audio = FALSE;
  options.quality = 4;
  g_assert_true (fa_export (decoded, NULL, settings->output_path, &options, NULL, &error));
  g_assert_no_error (error);
  (void) document;
  return fa_working_clip_copy (decoded);
}

static gboolean
result_loaded (gpointer data)
{
  return fa_document_get_result_frame (data, 9, NULL, NULL) != NULL ||
         fa_document_get_result_error (data, 0) != NULL;
}

static void
test_results (void)
{
  g_autoptr (FaDocument) document = open_clip ();
  g_autoptr (GError) error = NULL;
  g_auto (FaJobSettings) settings = { 0 };
  int results_changed = 0;
  int w, h;

  g_signal_connect (document, "results-changed", G_CALLBACK (count_signal), &results_changed);
  fa_document_set_prompts (document, "a red ball", "a blue cube", NULL);
  g_assert_true (fa_document_set_range (document, 8, 9, &error));
  g_assert_true (fa_document_apply_box (document, 8, 100, 50, 300, 200, FALSE));
  FaEditFormat format = { 416, 240, 16 };
  g_assert_true (fa_document_set_edit_format (document, &format, &error));

  g_autofree char *output = fa_document_new_result_path (document, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_suffix (output, ".mp4"));
  g_assert_false (g_file_test (output, G_FILE_TEST_EXISTS));
  g_assert_true (fa_document_make_job_settings (document, FALSE, output, &settings, &error));
  FaWorkingClip *clip = fake_result (document, &settings, 416, 240);
  guint8 first_pixel = clip->rgb[0];

  g_assert_cmpint (fa_document_get_current_result (document), ==, -1);
  g_assert_null (fa_document_get_result_frame (document, 8, NULL, NULL));
  /* typing is not history; a result's prompts are */
  FaProject *project_of = fa_document_get_project (document);
  g_assert_cmpuint (fa_project_get_prompt_history (project_of, NULL, NULL), ==, 0);
  fa_document_add_result (document, FALSE, &settings, clip);
  g_assert_cmpuint (fa_document_get_n_results (document), ==, 1);
  const char *const *history_targets = NULL;
  g_assert_cmpuint (fa_project_get_prompt_history (project_of, NULL, &history_targets), ==, 1);
  g_assert_cmpstr (history_targets[0], ==, "a blue cube");
  g_assert_cmpint (fa_document_get_current_result (document), ==, 0);
  g_assert_cmpint (results_changed, ==, 1);
  const FaProjectResult *result = fa_document_get_result (document, 0);
  g_assert_cmpint (result->kind, ==, FA_PROJECT_RESULT_FULL);
  g_assert_cmpint (result->range_first, ==, 8);
  g_assert_cmpstr (result->target_prompt, ==, "a blue cube");

  /* the result covers timeline frames 8 … 16 only */
  const guint8 *rgb = fa_document_get_result_frame (document, 8, &w, &h);
  g_assert_nonnull (rgb);
  g_assert_cmpint (w, ==, 416);
  g_assert_cmpint (h, ==, 240);
  g_assert_cmpuint (rgb[0], ==, first_pixel);
  g_assert_nonnull (fa_document_get_result_frame (document, 16, NULL, NULL));
  g_assert_null (fa_document_get_result_frame (document, 7, NULL, NULL));
  g_assert_null (fa_document_get_result_frame (document, 17, NULL, NULL));
  fa_document_set_current_result (document, -1);
  g_assert_null (fa_document_get_result_frame (document, 8, NULL, NULL));
  fa_document_set_current_result (document, 0);

  /* the export masks: the range's masks at the result's size */
  g_autoptr (FaMaskSet) masks = fa_document_dup_result_masks (document, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpint (fa_mask_set_get_n_frames (masks), ==, 9);
  g_assert_cmpint (fa_mask_set_get_width (masks), ==, 416);
  g_assert_cmpuint (fa_mask_set_peek_frame (masks, 0)[(gsize) 60 * 416 + 100], ==, 255); /* (200, 120) in the box */
  g_assert_cmpuint (fa_mask_set_peek_frame (masks, 0)[(gsize) 10 * 416 + 10], ==, 0);

  /* saved and reopened: the result is listed, its frames load from the file */
  g_autofree char *project = g_build_filename (folder, "results.fanchor", NULL);
  g_assert_true (fa_document_save (document, project, &error));
  g_assert_no_error (error);
  g_autoptr (FaDocument) reopened = fa_document_open (project, NULL, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fa_document_get_n_results (reopened), ==, 1);
  g_assert_null (fa_document_peek_result_clip (reopened, 0));
  g_assert_null (fa_document_dup_result_masks (reopened, 0, &error));
  g_assert_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "not loaded"));
  g_clear_error (&error);
  fa_document_set_current_result (reopened, 0);
  g_assert_true (fa_test_wait_for (result_loaded, reopened, 60));
  g_assert_null (fa_document_get_result_error (reopened, 0));
  const FaWorkingClip *loaded = fa_document_peek_result_clip (reopened, 0);
  g_assert_cmpint (loaded->n_frames, ==, 9);
  g_assert_cmpint (loaded->width, ==, 416);
  /* placed back on the source: the source's info, its times, the timeline's geometry scaled by ½ */
  g_assert_nonnull (loaded->source);
  g_assert_cmpstr (loaded->source->path, ==, fa_document_get_clip_info (document)->path);
  g_assert_cmpint (loaded->source_pts_ns[0], ==, 8 * GST_SECOND / 16);
  g_assert_cmpint (loaded->source_pts_ns[8], ==, 16 * GST_SECOND / 16);
  g_assert_cmpfloat_with_epsilon (loaded->geometry.scale_x, fa_document_get_clip (document)->geometry.scale_x / 2,
                                  1e-9);
  /* lossy, but near what was written */
  rgb = fa_document_get_result_frame (reopened, 8, &w, &h);
  g_assert_nonnull (rgb);
  g_assert_cmpint (abs ((int) rgb[0] - first_pixel), <, 24);

  /* a result whose file went away says so */
  g_autofree char *gone = g_build_filename (folder, "gone.fanchor", NULL);
  g_assert_true (fa_document_save (reopened, gone, &error));
  g_assert_cmpint (g_unlink (output), ==, 0);
  g_autoptr (FaDocument) orphan = fa_document_open (gone, NULL, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  fa_document_set_current_result (orphan, 0);
  g_assert_true (fa_test_wait_for (result_loaded, orphan, 60));
  g_assert_nonnull (fa_document_get_result_error (orphan, 0));
  g_assert_nonnull (strstr (fa_document_get_result_error (orphan, 0)->message, "result-"));
  g_assert_null (fa_document_get_result_frame (orphan, 8, NULL, NULL));
}

/* A clip made in memory has no project: nothing to keep settings in, and
 * nothing to edit from. */
static void
test_in_memory_clip (void)
{
  g_autoptr (GError) error = NULL;
  FaWorkingClip *clip = fa_working_clip_new (9, 64, 48, 16, 1, &error);
  g_assert_no_error (error);
  g_autoptr (FaDocument) document = fa_document_new_for_clip (clip);
  g_auto (FaJobSettings) settings = { 0 };
  FaEditParams params;
  FaEditFormat format = { 128, 128, 16 };

  fa_document_get_params (document, &params);
  g_assert_false (fa_document_set_params (document, &params, &error));
  g_assert_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "made in memory"));
  g_clear_error (&error);
  g_assert_false (fa_document_set_edit_format (document, &format, &error));
  g_assert_nonnull (strstr (error->message, "made in memory"));
  g_clear_error (&error);
  g_assert_false (fa_document_make_job_settings (document, FALSE, NULL, &settings, &error));
  g_assert_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "open a clip file"));
  g_assert_cmpuint (fa_document_get_n_results (document), ==, 0);
  g_assert_cmpstr (fa_document_get_target_prompt (document), ==, "");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gst_init (NULL, NULL);
  folder = fa_test_make_folder ("document-edit-XXXXXX");
  g_setenv ("XDG_CACHE_HOME", folder, TRUE);
  clip_path = fa_test_make_mp4 (folder, "clip.mp4", 40, 320, 240, 16, FALSE, "ball");

  g_test_add_func ("/document-edit/prompts-params-format", test_prompts_params_format);
  g_test_add_func ("/document-edit/job-settings", test_job_settings);
  g_test_add_func ("/document-edit/results", test_results);
  g_test_add_func ("/document-edit/in-memory-clip", test_in_memory_clip);

  int status = g_test_run ();
  fa_test_remove_tree (folder);
  g_free (folder);
  g_free (clip_path);
  return status;
}
