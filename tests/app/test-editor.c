/* test-editor.c: the editor end to end under a real display, with the tiny
 * model of tests/data: type the prompts into the panel, box a mask, run a
 * preview and a full edit and watch their progress reach the end and the
 * live look appear, pick results, compare (source / result / split),
 * export to MP4 and WebM and decode what was written; cancel a running
 * edit and run another; with no model, Preview says why and the masks and
 * saving still work.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "test-editor"

#include "config.h"

#include <string.h>

#include <adwaita.h>
#include <glib/gstdio.h>

#include "fa-application.h"
#include "fa-document-edit.h"
#include "fa-edit-panel.h"
#include "fa-export-dialog.h"
#include "fa-results-list.h"
#include "fa-timeline-private.h"
#include "fa-viewer.h"
#include "fa-window.h"

#include "fa-app-test-util.h"

#define WAIT_SECONDS 120

static FaApplication *app;
static char *folder;
static char *model_folder;

#define wait_for(condition, data) fa_test_wait_for ((condition), (data), WAIT_SECONDS)

static gboolean
window_is_idle (gpointer data)
{
  return !fa_window_get_busy (data);
}

static GObject *
get_child (FaWindow *window, const char *name)
{
  GObject *child = gtk_widget_get_template_child (GTK_WIDGET (window), FA_TYPE_WINDOW, name);
  g_assert_nonnull (child);
  return child;
}

static void
activate (FaWindow *window, const char *action, GVariant *parameter)
{
  g_assert_true (gtk_widget_activate_action_variant (GTK_WIDGET (window), action, parameter));
}

#define action_enabled(window, action) fa_window_get_action_enabled ((window), (action))

static void
set_model_folder (const char *path)
{
  g_autoptr (GSettings) settings = g_settings_new (FA_APP_ID);
  g_settings_set_string (settings, "model-folder", path);
}

static gboolean
model_state_is (gpointer data)
{
  return fa_application_get_model_ready (app) == GPOINTER_TO_INT (data);
}

/* A window on the sample clip, range 5, a box on frame 0, prompts typed,
 * a small and short edit (the tiny model on the CPU). */
static FaWindow *
open_editor (void)
{
  FaWindow *window = fa_test_open_sample_window (app, WAIT_SECONDS);
  g_autoptr (GError) error = NULL;

  FaDocument *document = fa_window_get_document (window);
  g_assert_true (fa_document_set_range (document, 0, 5, &error));
  g_assert_true (fa_document_apply_box (document, 0, 200, 100, 600, 380, FALSE));
  FaEditFormat format = { 256, 144, 16 };
  g_assert_true (fa_document_set_edit_format (document, &format, &error));
  FaEditParams params;
  fa_document_get_params (document, &params);
  params.steps = 4;
  params.n_max = 3;
  g_assert_true (fa_document_set_params (document, &params, &error));

  FaEditPanel *panel = FA_EDIT_PANEL (get_child (window, "edit_panel"));
  gtk_text_buffer_set_text (fa_edit_panel_get_source_buffer (panel), "a red ball on the grass", -1);
  gtk_text_buffer_set_text (fa_edit_panel_get_target_buffer (panel), "a blue cube on the grass", -1);
  g_assert_cmpstr (fa_document_get_source_prompt (document), ==, "a red ball on the grass");
  g_assert_cmpstr (fa_document_get_target_prompt (document), ==, "a blue cube on the grass");
  return window;
}

typedef struct {
  FaWindow *window;
  double max_fraction;
  gboolean saw_edit_stage;
  gboolean saw_live;
  gboolean went_back;
  double last_fraction;
  guint results_before;
} Watch;

static gboolean
job_done_watching (gpointer data)
{
  Watch *watch = data;
  FaTimeline *timeline = FA_TIMELINE (get_child (watch->window, "timeline"));
  FaViewer *viewer = FA_VIEWER (get_child (watch->window, "viewer"));
  const char *label = NULL;
  double fraction = fa_timeline_get_progress (timeline, &label);

  if (fraction >= 0)
    {
      if (fraction + 1e-9 < watch->last_fraction)
        watch->went_back = TRUE;
      watch->last_fraction = fraction;
      watch->max_fraction = MAX (watch->max_fraction, fraction);
      if (label != NULL && strstr (label, "editing") != NULL && strstr (label, " of ") != NULL)
        watch->saw_edit_stage = TRUE;
    }
  if (fa_viewer_has_live_frame (viewer))
    watch->saw_live = TRUE;
  return !fa_window_get_busy (watch->window);
}

static void
run_job (FaWindow *window, const char *action, Watch *watch)
{
  FaDocument *document = fa_window_get_document (window);

  memset (watch, 0, sizeof *watch);
  watch->window = window;
  watch->results_before = fa_document_get_n_results (document);
  g_assert_true (action_enabled (window, action));
  activate (window, action, NULL);
  g_assert_true (fa_window_get_busy (window));
  g_assert_false (action_enabled (window, "win.preview"));
  g_assert_true (wait_for (job_done_watching, watch));
  g_assert_null (fa_window_get_last_error (window));
}

typedef struct {
  gboolean done;
  char *path;
  char *message;
} Finished;

static void
on_finished (FaExportDialog *dialog, const char *path, const char *message, Finished *finished)
{
  (void) dialog;
  finished->done = TRUE;
  finished->path = g_strdup (path);
  finished->message = g_strdup (message);
}

static gboolean
finished_is_done (gpointer data)
{
  return ((Finished *) data)->done;
}

static void
export_through_dialog (FaWindow *window, const char *name, FaExportFormat format, int frames, int width,
                       int height)
{
  g_autofree char *path = g_build_filename (folder, name, NULL);
  g_autoptr (GError) error = NULL;
  Finished finished = { 0 };

  g_assert_true (action_enabled (window, "win.export"));
  activate (window, "win.export", NULL);
  FaExportDialog *dialog = fa_test_find_toplevel (FA_TYPE_EXPORT_DIALOG);
  g_assert_nonnull (dialog);
  g_object_ref (dialog);
  g_signal_connect (dialog, "finished", G_CALLBACK (on_finished), &finished);
  fa_export_dialog_set_options (dialog, format, FA_EXPORT_SIZE_WORKING, 18, FALSE);
  fa_export_dialog_set_path (dialog, path);
  fa_export_dialog_start (dialog);
  g_assert_true (wait_for (finished_is_done, &finished));
  g_signal_handlers_disconnect_by_data (dialog, &finished);
  g_object_unref (dialog);
  g_assert_null (finished.message);
  g_assert_cmpstr (finished.path, ==, path);

  /* what was written decodes to the result's frames */
  g_autoptr (FaClipInfo) info = fa_clip_probe (path, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (info->width, ==, width);
  g_assert_cmpint (info->height, ==, height);
  FaWorkingClipOptions options;
  fa_working_clip_options_init (&options);
  options.width = width;
  options.height = height;
  options.fps_n = 16;
  g_autoptr (FaWorkingClip) clip = fa_working_clip_decode (path, &options, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip->n_frames, ==, frames);
  g_free (finished.path);
}

static void
test_preview_edit_compare_export (void)
{
  FaWindow *window;
  Watch watch;

  set_model_folder (model_folder);
  g_assert_true (wait_for (model_state_is, GINT_TO_POINTER (TRUE)));
  window = open_editor ();
  FaDocument *document = fa_window_get_document (window);
  FaViewer *viewer = FA_VIEWER (get_child (window, "viewer"));
  FaResultsList *results = FA_RESULTS_LIST (get_child (window, "results_list"));

  g_assert_false (action_enabled (window, "win.export"));
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (get_child (window, "compare_box"))));

  /* a preview: half of 256×144 */
  run_job (window, "win.preview", &watch);
  g_assert_cmpuint (fa_document_get_n_results (document), ==, 1);
  g_assert_cmpint (fa_document_get_result (document, 0)->kind, ==, FA_PROJECT_RESULT_PREVIEW);
  g_assert_true (watch.saw_edit_stage);
  g_assert_true (watch.saw_live);
  g_assert_false (watch.went_back);
  g_assert_cmpfloat (watch.max_fraction, >, 0.8);
  g_assert_false (fa_viewer_has_live_frame (viewer));
  g_assert_cmpfloat (fa_timeline_get_progress (FA_TIMELINE (get_child (window, "timeline")), NULL), <, 0.0);
  g_assert_cmpuint (fa_results_list_get_n_rows (results), ==, 1);
  int w = 0, h = 0;
  g_assert_nonnull (fa_document_get_result_frame (document, 0, &w, &h));
  g_assert_cmpint (w, ==, 128);
  g_assert_cmpint (h, ==, 64);

  /* the full edit */
  run_job (window, "win.edit", &watch);
  g_assert_cmpuint (fa_document_get_n_results (document), ==, 2);
  g_assert_cmpint (fa_document_get_result (document, 1)->kind, ==, FA_PROJECT_RESULT_FULL);
  g_assert_cmpint (fa_document_get_current_result (document), ==, 1);
  g_assert_true (watch.saw_live);
  g_assert_cmpuint (fa_results_list_get_n_rows (results), ==, 2);
  g_assert_nonnull (fa_document_get_result_frame (document, 4, &w, &h));
  g_assert_cmpint (w, ==, 256);
  g_assert_cmpint (h, ==, 144);
  g_assert_null (fa_document_get_result_frame (document, 5, NULL, NULL));
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (get_child (window, "compare_box"))));

  /* choosing the older result (row 1: newest first) */
  fa_results_list_activate_row (results, 1);
  g_assert_cmpint (fa_document_get_current_result (document), ==, 0);
  fa_results_list_activate_row (results, 0);
  g_assert_cmpint (fa_document_get_current_result (document), ==, 1);

  /* compare: the result over the range, B for the source, Shift+B for the split */
  fa_document_set_current_frame (document, 2);
  int width = gtk_widget_get_width (GTK_WIDGET (viewer)), height = gtk_widget_get_height (GTK_WIDGET (viewer));
  double cx = width / 2.0, cy = height / 2.0;
  g_assert_cmpint (fa_viewer_get_show (viewer), ==, FA_VIEWER_SHOW_RESULT);
  g_assert_true (fa_viewer_shows_result_at (viewer, cx, cy));
  activate (window, "win.compare-toggle", NULL);
  g_assert_cmpint (fa_viewer_get_show (viewer), ==, FA_VIEWER_SHOW_SOURCE);
  g_assert_true (gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (get_child (window, "show_source_button"))));
  g_assert_false (fa_viewer_shows_result_at (viewer, cx, cy));
  activate (window, "win.compare-toggle", NULL);
  g_assert_true (fa_viewer_shows_result_at (viewer, cx, cy));
  activate (window, "win.compare-split", NULL);
  g_assert_cmpint (fa_viewer_get_show (viewer), ==, FA_VIEWER_SHOW_SPLIT);
  double fx0, fy0, fx1, fy1;
  fa_viewer_frame_to_widget (viewer, 0, 0, &fx0, &fy0);
  fa_viewer_frame_to_widget (viewer, fa_document_get_width (document), fa_document_get_height (document), &fx1,
                             &fy1);
  g_assert_false (fa_viewer_shows_result_at (viewer, fx0 + (fx1 - fx0) * 0.1, cy));
  g_assert_true (fa_viewer_shows_result_at (viewer, fx0 + (fx1 - fx0) * 0.9, cy));
  /* outside the range there is nothing to compare with */
  fa_document_set_current_frame (document, 10);
  g_assert_false (fa_viewer_shows_result_at (viewer, fx0 + (fx1 - fx0) * 0.9, cy));
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (get_child (window, "show_result_button")), TRUE);
  g_assert_cmpint (fa_viewer_get_show (viewer), ==, FA_VIEWER_SHOW_RESULT);

  /* export both formats, at the working size of the full edit */
  export_through_dialog (window, "edited.mp4", FA_EXPORT_FORMAT_MP4, 5, 256, 144);
  export_through_dialog (window, "edited.webm", FA_EXPORT_FORMAT_WEBM, 5, 256, 144);

  /* results are part of the project */
  g_autofree char *project = g_build_filename (folder, "editor.fanchor", NULL);
  g_autoptr (GError) error = NULL;
  g_assert_true (fa_document_save (document, project, &error));
  g_assert_no_error (error);
  g_autoptr (FaDocument) reopened = fa_document_open (project, NULL, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fa_document_get_n_results (reopened), ==, 2);
  g_assert_cmpstr (fa_document_get_result (reopened, 1)->target_prompt, ==, "a blue cube on the grass");

  /* the screenshot for the note and the metainfo, when asked for */
  const char *shot = g_getenv ("FA_EDITOR_SCREENSHOT");
  if (shot != NULL && *shot != '\0')
    {
      fa_document_set_current_frame (document, 2);
      activate (window, "win.compare-split", NULL);
      /* let the toasts and the split lay out before the widgets are drawn */
      gint64 until = g_get_monotonic_time () + G_USEC_PER_SEC;
      while (g_get_monotonic_time () < until)
        g_main_context_iteration (NULL, FALSE);
      g_assert_true (fa_window_save_screenshot (window, shot, &error));
      g_assert_no_error (error);
    }
  fa_test_destroy_window (window, WAIT_SECONDS);
}

static gboolean
dialog_is_shown (gpointer data)
{
  g_autoptr (GList) toplevels = gtk_window_list_toplevels ();
  (void) data;
  for (const GList *l = toplevels; l != NULL; l = l->next)
    if (ADW_IS_MESSAGE_DIALOG (l->data) && gtk_widget_get_mapped (l->data))
      return TRUE;
  return FALSE;
}

static void
close_message_dialogs (void)
{
  g_autoptr (GList) toplevels = gtk_window_list_toplevels ();
  for (const GList *l = toplevels; l != NULL; l = l->next)
    if (ADW_IS_MESSAGE_DIALOG (l->data))
      gtk_window_destroy (l->data);
}

static gboolean
progress_in_edit_stage (gpointer data)
{
  const char *label = NULL;
  double fraction = fa_timeline_get_progress (FA_TIMELINE (get_child (data, "timeline")), &label);
  return fraction >= 0 && label != NULL && strstr (label, "editing") != NULL;
}

static void
test_cancel_and_run_again (void)
{
  FaWindow *window;
  Watch watch;

  set_model_folder (model_folder);
  g_assert_true (wait_for (model_state_is, GINT_TO_POINTER (TRUE)));
  window = open_editor ();
  FaDocument *document = fa_window_get_document (window);
  FaEditParams params;
  fa_document_get_params (document, &params);
  params.steps = 40;
  params.n_max = 38;
  g_assert_true (fa_document_set_params (document, &params, NULL));

  activate (window, "win.edit", NULL);
  g_assert_true (wait_for (progress_in_edit_stage, window));
  g_assert_true (action_enabled (window, "win.cancel"));
  gint64 cancelled_at = g_get_monotonic_time ();
  activate (window, "win.cancel", NULL);
  g_assert_true (wait_for (window_is_idle, window));
  /* within a step or two of the tiny model, not the rest of 38 */
  g_assert_cmpint (g_get_monotonic_time () - cancelled_at, <, 20 * G_USEC_PER_SEC);
  g_assert_cmpuint (fa_document_get_n_results (document), ==, 0);
  g_assert_null (fa_window_get_last_error (window));
  g_assert_cmpfloat (fa_timeline_get_progress (FA_TIMELINE (get_child (window, "timeline")), NULL), <, 0.0);

  /* and the next one runs */
  params.steps = 4;
  params.n_max = 3;
  g_assert_true (fa_document_set_params (document, &params, NULL));
  run_job (window, "win.preview", &watch);
  g_assert_cmpuint (fa_document_get_n_results (document), ==, 1);

  /* a range without a mask cannot start: the reason, and nothing runs */
  g_assert_true (fa_document_set_range (document, 20, 5, NULL));
  activate (window, "win.edit", NULL);
  g_assert_false (fa_window_get_busy (window));
  g_assert_nonnull (fa_window_get_last_error (window));
  g_assert_nonnull (strstr (fa_window_get_last_error (window), "has no mask"));
  g_assert_true (wait_for (dialog_is_shown, NULL));
  close_message_dialogs ();
  g_assert_cmpuint (fa_document_get_n_results (document), ==, 1);
  fa_test_destroy_window (window, WAIT_SECONDS);
}

static void
test_no_model (void)
{
  g_autofree char *empty = g_build_filename (folder, "no-model", NULL);
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (empty, 0700), ==, 0);
  set_model_folder (empty);
  g_assert_true (wait_for (model_state_is, GINT_TO_POINTER (FALSE)));
  FaWindow *window = open_editor ();
  FaDocument *document = fa_window_get_document (window);

  /* the panel says why, and Preview explains it instead of running */
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (get_child (window, "model_notice"))));
  const char *notice = gtk_label_get_text (GTK_LABEL (get_child (window, "model_notice_label")));
  g_assert_nonnull (strstr (notice, "vae") != NULL ? notice : strstr (notice, "Preferences"));
  activate (window, "win.preview", NULL);
  g_assert_false (fa_window_get_busy (window));
  g_assert_nonnull (fa_window_get_last_error (window));
  g_assert_true (wait_for (dialog_is_shown, NULL));
  close_message_dialogs ();
  g_assert_cmpuint (fa_document_get_n_results (document), ==, 0);

  /* masks and saving still work */
  g_assert_true (fa_document_apply_box (document, 1, 10, 10, 50, 50, FALSE));
  g_assert_true (action_enabled (window, "win.save"));
  g_autofree char *project = g_build_filename (folder, "no-model.fanchor", NULL);
  g_assert_true (fa_document_save (document, project, &error));
  g_assert_no_error (error);
  fa_test_destroy_window (window, WAIT_SECONDS);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int ret;

  g_test_init (&argc, &argv, NULL);
  if (!gtk_init_check ())
    {
      g_print ("1..0 # SKIP no display to open\n");
      return 0;
    }
  folder = fa_test_make_folder ("editor-XXXXXX");
  g_setenv ("XDG_CACHE_HOME", folder, TRUE);
  g_unsetenv ("FLOWANCHOR_MODEL_DIR");
  model_folder = g_build_filename (g_getenv ("FA_TEST_SRCDIR"), "data", "wan-tiny", NULL);

  app = fa_application_new ();
  g_application_set_flags (G_APPLICATION (app), G_APPLICATION_NON_UNIQUE);
  g_assert_true (g_application_register (G_APPLICATION (app), NULL, &error));
  g_assert_no_error (error);

  g_test_add_func ("/app/editor/no-model", test_no_model);
  g_test_add_func ("/app/editor/preview-edit-compare-export", test_preview_edit_compare_export);
  g_test_add_func ("/app/editor/cancel-and-run-again", test_cancel_and_run_again);

  ret = g_test_run ();
  g_clear_object (&app);
  fa_test_remove_tree (folder);
  g_free (folder);
  g_free (model_folder);
  return ret;
}
