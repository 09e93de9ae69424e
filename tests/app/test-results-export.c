/* test-results-export.c: the results list and the export dialog under a
 * real display, on the sample clip. No model runs: each "result" is made
 * here, the first frames of the timeline with every value turned half
 * way round (v + 128 mod 256: unlike the source by 128 everywhere), written as a job writes its result (MP4 at the working size)
 * and recorded with fa_document_add_result.
 *
 * The list: rows newest first with kind, prompt and the parameters that
 * differ from the defaults, the current result selected, a click making a
 * result current, each row's Export… button. The dialog: MP4 and WebM at
 * the working size, MP4 at the source size (the edit inside the mask, the
 * source outside), audio off, a failing export, a cancelled one, replacing
 * an existing file, the toast; then a saved project reopened, its results
 * loaded from their files and exported again.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "test-results-export"

#include "config.h"

#include <math.h>
#include <string.h>

#include <adwaita.h>
#include <glib/gstdio.h>

#include "fa-document-edit.h"
#include "fa-export-dialog.h"
#include "fa-results-list.h"
#include "fa-app-test-util.h"

#define WAIT_SECONDS 60
#define RESULT_FRAMES 9
/* long enough for a cancel to come while frames are still being written */
#define LONG_RESULT_FRAMES 25
/* the box painted on frame 0, in working pixels */
#define BOX_X0 240.0
#define BOX_Y0 120.0
#define BOX_X1 560.0
#define BOX_Y1 360.0

#define wait_for(condition, data) fa_test_wait_for ((condition), (data), WAIT_SECONDS)

typedef struct {
  char            *folder;
  FaDocument      *document;
  GtkWindow       *window;
  AdwToastOverlay *overlay;
  int              n_results_made;
  guint            results_changed;
} Fixture;

/* ---- waiting ---- */

typedef struct {
  gboolean done;
  char    *path;
  char    *message;
} Finished;

static void
on_finished (FaExportDialog *dialog, const char *path, const char *message, Finished *finished)
{
  g_assert_false (finished->done);
  g_assert_false (fa_export_dialog_get_running (dialog));
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
finished_clear (Finished *finished)
{
  g_clear_pointer (&finished->path, g_free);
  g_clear_pointer (&finished->message, g_free);
  finished->done = FALSE;
}

/* ---- the document and its results ---- */

static void
on_results_changed (FaDocument *document, Fixture *fixture)
{
  fixture->results_changed++;
}

/* v + 128 mod 256: a value as the made-up edit has it. */
static inline guint8
edited_value (guint8 v)
{
  return (guint8) (v ^ 0x80);
}

/* A result as a job would leave it: the first @n_frames timeline
 * frames, each value turned half way round,
 * with the timeline's source, times and geometry; its file written at the
 * working size; recorded with the document's current parameters. */
static void
add_result_frames (Fixture *fixture, int n_frames)
{
  g_autoptr (GError) error = NULL;
  g_auto (FaJobSettings) settings = { 0 };
  g_autofree char *name = g_strdup_printf ("result-%d.mp4", ++fixture->n_results_made);
  g_autofree char *output = g_build_filename (fixture->folder, name, NULL);
  const FaWorkingClip *timeline = fa_document_get_clip (fixture->document);
  FaExportOptions options;

  g_assert_true (fa_document_make_job_settings (fixture->document, FALSE, output, &settings, &error));
  g_assert_no_error (error);

  g_assert_cmpint (n_frames, <=, timeline->n_frames);
  FaWorkingClip *clip = fa_working_clip_new (n_frames, timeline->width, timeline->height, timeline->fps_n,
                                             timeline->fps_d, &error);
  g_assert_no_error (error);
  for (int i = 0; i < n_frames; i++)
    {
      const guint8 *src = fa_working_clip_frame (timeline, i);
      guint8 *dst = fa_working_clip_frame (clip, i);
      for (gsize k = 0; k < (gsize) clip->width * clip->height * 3; k++)
        dst[k] = edited_value (src[k]);
      clip->source_pts_ns[i] = timeline->source_pts_ns[i];
    }
  clip->source = fa_clip_info_copy (timeline->source);
  clip->geometry = timeline->geometry;

  fa_export_options_init (&options);
  options.format = FA_EXPORT_FORMAT_MP4;
  options.size = FA_EXPORT_SIZE_WORKING;
  options.audio = FALSE;
  g_assert_true (fa_export (clip, NULL, settings.output_path, &options, NULL, &error));
  g_assert_no_error (error);

  guint before = fa_document_get_n_results (fixture->document);
  fa_document_add_result (fixture->document, FALSE, &settings, clip);
  g_assert_cmpuint (fa_document_get_n_results (fixture->document), ==, before + 1);
}

static void
add_result (Fixture *fixture)
{
  add_result_frames (fixture, RESULT_FRAMES);
}

static void
set_seed (FaDocument *document, guint64 seed, int steps)
{
  g_autoptr (GError) error = NULL;
  FaEditParams params;

  fa_document_get_params (document, &params);
  params.seed = seed;
  params.steps = steps;
  params.n_max = MIN (params.n_max, steps);
  g_assert_true (fa_document_set_params (document, &params, &error));
  g_assert_no_error (error);
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  const char *sample = g_getenv ("FA_SAMPLE_CLIP");

  g_assert_nonnull (sample);
  fixture->folder = fa_test_make_folder ("results-export-XXXXXX");
  fixture->document = fa_document_open (sample, NULL, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fixture->document);
  g_signal_connect (fixture->document, "results-changed", G_CALLBACK (on_results_changed), fixture);

  g_assert_true (fa_document_apply_box (fixture->document, 0, BOX_X0, BOX_Y0, BOX_X1, BOX_Y1, FALSE));
  fa_document_set_prompts (fixture->document, "a grey square moves", "a red cube moves", NULL);

  fixture->window = GTK_WINDOW (gtk_window_new ());
  gtk_window_set_default_size (fixture->window, 640, 480);
  fixture->overlay = ADW_TOAST_OVERLAY (adw_toast_overlay_new ());
  gtk_window_set_child (fixture->window, GTK_WIDGET (fixture->overlay));
  gtk_window_present (fixture->window);
  g_assert_true (wait_for (fa_test_widget_is_mapped, fixture->window));
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  fa_test_destroy_window (fixture->window, WAIT_SECONDS);
  g_signal_handlers_disconnect_by_data (fixture->document, fixture);
  g_clear_object (&fixture->document);
  fa_test_remove_tree (fixture->folder);
  g_free (fixture->folder);
}

/* ---- widgets ---- */

static GtkWidget *
find_with_class (GtkWidget *widget, const char *css_class)
{
  if (gtk_widget_has_css_class (widget, css_class))
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_with_class (child, css_class);
      if (found != NULL)
        return found;
    }
  return NULL;
}

/* A visible label under @widget whose text contains @text. */
static GtkLabel *
find_label_containing (GtkWidget *widget, const char *text)
{
  if (GTK_IS_LABEL (widget) && gtk_widget_get_visible (widget) &&
      strstr (gtk_label_get_text (GTK_LABEL (widget)), text) != NULL)
    return GTK_LABEL (widget);
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkLabel *found = find_label_containing (child, text);
      if (found != NULL)
        return found;
    }
  return NULL;
}

static gpointer
template_child (gpointer widget, GType type, const char *name)
{
  GObject *child = gtk_widget_get_template_child (GTK_WIDGET (widget), type, name);

  g_assert_nonnull (child);
  return child;
}

static GtkListBoxRow *
list_row (FaResultsList *list, int index)
{
  GtkListBox *box = template_child (list, FA_TYPE_RESULTS_LIST, "list_box");
  GtkListBoxRow *row = gtk_list_box_get_row_at_index (box, index);

  g_assert_nonnull (row);
  return row;
}

static const char *
row_text (FaResultsList *list, int index, const char *css_class)
{
  GtkWidget *label = find_with_class (GTK_WIDGET (list_row (list, index)), css_class);

  g_assert_nonnull (label);
  return gtk_label_get_text (GTK_LABEL (label));
}

static gboolean
row_is_selected (FaResultsList *list, int index)
{
  return gtk_list_box_row_is_selected (list_row (list, index));
}

static const char *
empty_or_list (FaResultsList *list)
{
  return gtk_stack_get_visible_child_name (template_child (list, FA_TYPE_RESULTS_LIST, "stack"));
}

/* ---- media ---- */

/* Every frame of @path at its own size and rate. */
static FaWorkingClip *
decode_file (const char *path, FaClipInfo **info_out)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaClipInfo) info = fa_clip_probe (path, NULL, &error);
  FaWorkingClipOptions options;

  g_assert_no_error (error);
  fa_working_clip_options_init (&options);
  options.width = info->width;
  options.height = info->height;
  /* 0/0: the file's own rate, even when it declares none */
  options.fps_n = info->fps_n > 0 ? info->fps_n : 0;
  options.fps_d = info->fps_n > 0 ? info->fps_d : 0;
  options.max_frames = 81;
  FaWorkingClip *clip = fa_working_clip_decode (path, &options, NULL, &error);
  g_assert_no_error (error);
  if (info_out != NULL)
    *info_out = g_steal_pointer (&info);
  return clip;
}

/* The mean of channel values over a (2r+1)² patch around (x, y), of the
 * values as they are or (@edited) as the made-up edit turns them. */
static double
patch_mean_of (const FaWorkingClip *clip, int frame, int x, int y, int r, gboolean edited)
{
  const guint8 *rgb = fa_working_clip_frame (clip, frame);
  double sum = 0.0;
  int n = 0;

  for (int j = y - r; j <= y + r; j++)
    for (int i = x - r; i <= x + r; i++)
      for (int c = 0; c < 3; c++, n++)
        {
          guint8 v = rgb[((gsize) j * clip->width + i) * 3 + c];
          sum += edited ? edited_value (v) : v;
        }
  return sum / n;
}

static double
patch_mean (const FaWorkingClip *clip, int frame, int x, int y, int r)
{
  return patch_mean_of (clip, frame, x, y, r, FALSE);
}

/* The mean of |a − b| over the patch, b's values as they are or (@edited)
 * as the made-up edit turns them: pixel by pixel, so that a patch of many
 * values cannot average its way to a match. */
static double
patch_distance (const FaWorkingClip *a, const FaWorkingClip *b, int frame, int x, int y, int r, gboolean edited)
{
  const guint8 *pa = fa_working_clip_frame (a, frame), *pb = fa_working_clip_frame (b, frame);
  double sum = 0.0;
  int n = 0;

  g_assert_cmpint (a->width, ==, b->width);
  for (int j = y - r; j <= y + r; j++)
    for (int i = x - r; i <= x + r; i++)
      for (int c = 0; c < 3; c++, n++)
        {
          gsize k = ((gsize) j * a->width + i) * 3 + c;
          sum += fabs ((double) pa[k] - (edited ? edited_value (pb[k]) : pb[k]));
        }
  return sum / n;
}

static gboolean
folder_has_part_files (const char *folder)
{
  g_autoptr (GDir) dir = g_dir_open (folder, 0, NULL);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, ".part"))
      return TRUE;
  return FALSE;
}

/* ---- running the dialog ---- */

static FaExportDialog *
new_dialog (Fixture *fixture, guint index, Finished *finished)
{
  FaExportDialog *dialog = fa_export_dialog_new (fixture->window, fixture->document, index, fixture->overlay);

  /* The window list owns the dialog; the test keeps it to look at after it closed. */
  g_object_ref (dialog);
  g_signal_connect (dialog, "finished", G_CALLBACK (on_finished), finished);
  gtk_window_present (GTK_WINDOW (dialog));
  g_assert_true (wait_for (fa_test_widget_is_mapped, dialog));
  return dialog;
}

static gboolean
dialog_is_hidden (gpointer data)
{
  return !gtk_widget_get_visible (GTK_WIDGET (data));
}

/* Exports result @index to @name in the fixture's folder; returns the path. */
static char *
export_ok (Fixture *fixture, guint index, const char *name, FaExportFormat format, FaExportSize size,
           gboolean audio)
{
  Finished finished = { 0 };
  g_autofree char *path = g_build_filename (fixture->folder, name, NULL);
  FaExportDialog *dialog = new_dialog (fixture, index, &finished);

  fa_export_dialog_set_options (dialog, format, size, 18, audio);
  fa_export_dialog_set_path (dialog, path);
  g_assert_cmpstr (fa_export_dialog_get_path (dialog), ==, path);
  fa_export_dialog_start (dialog);
  g_assert_true (fa_export_dialog_get_running (dialog));
  g_assert_true (wait_for (finished_is_done, &finished));
  g_assert_null (finished.message);
  g_assert_cmpstr (finished.path, ==, path);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  /* Success closes the dialog. */
  g_assert_true (wait_for (dialog_is_hidden, dialog));
  g_object_unref (dialog);
  finished_clear (&finished);
  return g_steal_pointer (&path);
}

/* ---- the results list ---- */

static void
test_list (Fixture *fixture, gconstpointer data)
{
  FaResultsList *list = FA_RESULTS_LIST (fa_results_list_new ());
  GVariant *target;

  gtk_widget_set_size_request (GTK_WIDGET (list), 320, -1);
  adw_toast_overlay_set_child (fixture->overlay, GTK_WIDGET (list));

  /* No document, then one without results: the empty state. */
  g_assert_cmpuint (fa_results_list_get_n_rows (list), ==, 0);
  g_assert_cmpstr (empty_or_list (list), ==, "empty");
  fa_results_list_set_document (list, fixture->document);
  g_assert_cmpuint (fa_results_list_get_n_rows (list), ==, 0);
  g_assert_cmpstr (empty_or_list (list), ==, "empty");
  g_assert_nonnull (find_label_containing (GTK_WIDGET (list), "Previews and edits appear here"));

  set_seed (fixture->document, 7, 30);
  add_result (fixture);
  g_assert_cmpuint (fa_results_list_get_n_rows (list), ==, 1);
  g_assert_cmpstr (empty_or_list (list), ==, "list");
  g_assert_cmpstr (row_text (list, 0, "fa-results-list-kind"), ==, "Edit");
  g_assert_cmpstr (row_text (list, 0, "fa-results-list-prompt"), ==, "a red cube moves");
  g_assert_nonnull (strstr (row_text (list, 0, "fa-results-list-summary"), "30 steps"));
  g_assert_nonnull (strstr (row_text (list, 0, "fa-results-list-summary"), "seed 7"));
  /* Only what differs from the defaults. */
  g_assert_null (strstr (row_text (list, 0, "fa-results-list-summary"), "guidance"));
  g_assert_true (g_regex_match_simple ("^[0-9]{2}:[0-9]{2}$", row_text (list, 0, "fa-results-list-time"), 0, 0));
  g_assert_true (row_is_selected (list, 0));

  /* A second result goes on top and becomes current. */
  set_seed (fixture->document, 9, 25);
  fa_document_set_prompts (fixture->document, "a grey square moves", "a blue ball moves", NULL);
  add_result (fixture);
  g_assert_cmpuint (fa_results_list_get_n_rows (list), ==, 2);
  g_assert_cmpstr (row_text (list, 0, "fa-results-list-prompt"), ==, "a blue ball moves");
  g_assert_cmpstr (row_text (list, 1, "fa-results-list-prompt"), ==, "a red cube moves");
  g_assert_nonnull (strstr (row_text (list, 0, "fa-results-list-summary"), "seed 9"));
  g_assert_null (strstr (row_text (list, 0, "fa-results-list-summary"), "steps"));
  g_assert_cmpint (fa_document_get_current_result (fixture->document), ==, 1);
  g_assert_true (row_is_selected (list, 0));
  g_assert_false (row_is_selected (list, 1));

  /* Choosing the older row makes it current (its frames are in memory). */
  fa_results_list_activate_row (list, 1);
  g_assert_cmpint (fa_document_get_current_result (fixture->document), ==, 0);
  g_assert_true (row_is_selected (list, 1));
  g_assert_false (row_is_selected (list, 0));
  /* The document choosing one moves the selection. */
  fa_document_set_current_result (fixture->document, 1);
  g_assert_true (row_is_selected (list, 0));
  fa_document_set_current_result (fixture->document, -1);
  g_assert_false (row_is_selected (list, 0));
  g_assert_false (row_is_selected (list, 1));

  /* Each row's Export… names the window's action and its result. */
  for (int row = 0; row < 2; row++)
    {
      GtkWidget *button = find_with_class (GTK_WIDGET (list_row (list, row)), "fa-results-list-export");
      g_assert_nonnull (button);
      g_assert_cmpstr (gtk_actionable_get_action_name (GTK_ACTIONABLE (button)), ==, "win.export-result");
      target = gtk_actionable_get_action_target_value (GTK_ACTIONABLE (button));
      g_assert_true (g_variant_is_of_type (target, G_VARIANT_TYPE_INT32));
      g_assert_cmpint (g_variant_get_int32 (target), ==, 1 - row);
    }

  /* Without a document: empty again, and no longer listening. */
  fa_results_list_set_document (list, NULL);
  g_assert_cmpuint (fa_results_list_get_n_rows (list), ==, 0);
  g_assert_cmpstr (empty_or_list (list), ==, "empty");
  add_result (fixture);
  g_assert_cmpuint (fa_results_list_get_n_rows (list), ==, 0);
}

/* ---- the export dialog ---- */

static void
test_default_path (Fixture *fixture, gconstpointer data)
{
  Finished finished = { 0 };
  FaExportDialog *dialog;
  GtkWidget *audio_row;

  add_result (fixture);
  dialog = new_dialog (fixture, 0, &finished);
  g_assert_true (g_str_has_suffix (fa_export_dialog_get_path (dialog), G_DIR_SEPARATOR_S "flowanchor-sample-edited.mp4"));
  /* The format follows the name's extension and the other way round. */
  fa_export_dialog_set_options (dialog, FA_EXPORT_FORMAT_WEBM, FA_EXPORT_SIZE_WORKING, 18, TRUE);
  g_assert_true (g_str_has_suffix (fa_export_dialog_get_path (dialog), "flowanchor-sample-edited.webm"));
  fa_export_dialog_set_options (dialog, FA_EXPORT_FORMAT_MP4, FA_EXPORT_SIZE_WORKING, 18, TRUE);
  g_assert_true (g_str_has_suffix (fa_export_dialog_get_path (dialog), "flowanchor-sample-edited.mp4"));
  fa_export_dialog_set_path (dialog, "/tmp/x/clip.webm");
  g_assert_cmpstr (fa_export_dialog_get_path (dialog), ==, "/tmp/x/clip.webm");
  fa_export_dialog_set_options (dialog, FA_EXPORT_FORMAT_MP4, FA_EXPORT_SIZE_WORKING, 18, TRUE);
  g_assert_cmpstr (fa_export_dialog_get_path (dialog), ==, "/tmp/x/clip.mp4");
  /* The sample has sound: the audio switch can be used. */
  audio_row = template_child (dialog, FA_TYPE_EXPORT_DIALOG, "audio_row");
  g_assert_true (gtk_widget_get_sensitive (audio_row));
  g_assert_false (fa_export_dialog_get_running (dialog));

  /* Cancel with nothing running closes the dialog without a run. */
  gtk_widget_activate (template_child (dialog, FA_TYPE_EXPORT_DIALOG, "cancel_button"));
  g_assert_true (wait_for (dialog_is_hidden, dialog));
  g_assert_false (finished.done);
  g_object_unref (dialog);
}

static void
test_working_size (Fixture *fixture, gconstpointer data)
{
  g_autoptr (FaClipInfo) info = NULL;
  const FaWorkingClip *result;

  add_result (fixture);
  add_result (fixture);
  result = fa_document_peek_result_clip (fixture->document, 0);
  g_assert_nonnull (result);

  /* MP4 with the source's sound. */
  g_autofree char *mp4 = export_ok (fixture, 0, "out.mp4", FA_EXPORT_FORMAT_MP4, FA_EXPORT_SIZE_WORKING, TRUE);
  g_autoptr (FaWorkingClip) clip = decode_file (mp4, &info);
  g_assert_nonnull (strstr (info->video_codec, "H.264"));
  g_assert_true (info->has_audio);
  g_assert_cmpint (clip->n_frames, ==, RESULT_FRAMES);
  g_assert_cmpint (clip->width, ==, result->width);
  g_assert_cmpint (clip->height, ==, result->height);
  /* The result's frames, not the source's. */
  for (int f = 0; f < RESULT_FRAMES; f += 8)
    {
      double got = patch_mean (clip, f, 100, 100, 4);
      double want = patch_mean (result, f, 100, 100, 4);
      double source = patch_mean (fa_document_get_clip (fixture->document), f, 100, 100, 4);
      g_assert_cmpfloat (fabs (got - want), <, 12.0);
      g_assert_cmpfloat (fabs (got - source), >, fabs (got - want) + 20.0);
    }

  /* The toast names the file and offers its folder. */
  GtkLabel *toast = find_label_containing (GTK_WIDGET (fixture->overlay), "Exported out.mp4");
  g_assert_nonnull (toast);
  g_assert_nonnull (find_label_containing (GTK_WIDGET (fixture->overlay), "Open Folder"));

  /* WebM without sound. */
  g_autoptr (FaClipInfo) webm_info = NULL;
  g_autofree char *webm = export_ok (fixture, 1, "out.webm", FA_EXPORT_FORMAT_WEBM, FA_EXPORT_SIZE_WORKING, FALSE);
  g_autoptr (FaWorkingClip) webm_clip = decode_file (webm, &webm_info);
  g_assert_nonnull (strstr (webm_info->video_codec, "VP9"));
  g_assert_false (webm_info->has_audio);
  g_assert_cmpint (webm_clip->n_frames, ==, RESULT_FRAMES);
  g_assert_cmpint (webm_clip->width, ==, result->width);
  g_assert_cmpint (webm_clip->height, ==, result->height);
  g_assert_false (folder_has_part_files (fixture->folder));
}

static void
test_source_size (Fixture *fixture, gconstpointer data)
{
  g_autoptr (FaClipInfo) info = NULL;
  const FaClipInfo *source = fa_document_get_clip_info (fixture->document);
  const FaWorkingClip *timeline = fa_document_get_clip (fixture->document);
  const FaClipGeometry *g = &timeline->geometry;

  add_result (fixture);
  g_autofree char *path = export_ok (fixture, 0, "source.mp4", FA_EXPORT_FORMAT_MP4, FA_EXPORT_SIZE_SOURCE, TRUE);
  g_autoptr (FaWorkingClip) clip = decode_file (path, &info);
  g_assert_true (info->has_audio);
  g_assert_cmpint (clip->width, ==, source->width & ~1);
  g_assert_cmpint (clip->height, ==, source->height & ~1);
  g_assert_cmpint (clip->n_frames, ==, RESULT_FRAMES);

  /* The source itself at its size, to compare with. */
  g_autoptr (FaWorkingClip) original = decode_file (fa_document_get_clip_path (fixture->document), NULL);

  /* Frame 0 holds the box: the edit (the inverse) inside it, the source outside. */
  int in_x = (int) (((BOX_X0 + BOX_X1) / 2 - g->offset_x) / g->scale_x);
  int in_y = (int) (((BOX_Y0 + BOX_Y1) / 2 - g->offset_y) / g->scale_y);
  int out_x = (int) ((60.0 - g->offset_x) / g->scale_x);
  int out_y = (int) ((60.0 - g->offset_y) / g->scale_y);
  g_assert_cmpfloat (patch_distance (clip, original, 0, in_x, in_y, 4, TRUE), <, 24.0);
  g_assert_cmpfloat (patch_distance (clip, original, 0, in_x, in_y, 4, FALSE), >, 80.0);
  g_assert_cmpfloat (patch_distance (clip, original, 0, out_x, out_y, 4, FALSE), <, 12.0);
  g_assert_cmpfloat (patch_distance (clip, original, 0, out_x, out_y, 4, TRUE), >, 80.0);
  /* Frame 8 has no mask (nothing was propagated): the source throughout. */
  g_assert_cmpfloat (patch_distance (clip, original, 8, in_x, in_y, 4, FALSE), <, 12.0);
}

static void
test_failure (Fixture *fixture, gconstpointer data)
{
  Finished finished = { 0 };
  g_autofree char *missing = g_build_filename (fixture->folder, "no such folder", NULL);
  g_autofree char *path = g_build_filename (missing, "out.mp4", NULL);
  FaExportDialog *dialog;
  GtkLabel *status;

  add_result (fixture);
  dialog = new_dialog (fixture, 0, &finished);
  fa_export_dialog_set_path (dialog, path);
  fa_export_dialog_start (dialog);
  g_assert_true (wait_for (finished_is_done, &finished));
  g_assert_null (finished.path);
  g_assert_nonnull (finished.message);
  g_assert_nonnull (strstr (finished.message, "does not exist"));
  g_assert_nonnull (strstr (finished.message, missing));
  /* The dialog stays, showing the engine's message. */
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (dialog)));
  g_assert_false (fa_export_dialog_get_running (dialog));
  status = template_child (dialog, FA_TYPE_EXPORT_DIALOG, "status_label");
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (status)));
  g_assert_cmpstr (gtk_label_get_text (status), ==, finished.message);
  g_assert_true (gtk_widget_has_css_class (GTK_WIDGET (status), "error"));
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (missing, G_FILE_TEST_EXISTS));

  /* A path that is a folder fails too (no "Replace?" for it), and leaves the folder as it was. */
  finished_clear (&finished);
  g_autofree char *folder_mp4 = g_build_filename (fixture->folder, "folder.mp4", NULL);
  g_assert_cmpint (g_mkdir (folder_mp4, 0700), ==, 0);
  fa_export_dialog_set_path (dialog, folder_mp4);
  fa_export_dialog_start (dialog);
  g_assert_true (wait_for (finished_is_done, &finished));
  g_assert_null (finished.path);
  g_assert_nonnull (finished.message);
  g_assert_nonnull (strstr (finished.message, "folder"));
  g_assert_cmpstr (gtk_label_get_text (status), ==, finished.message);
  g_assert_true (g_file_test (folder_mp4, G_FILE_TEST_IS_DIR));
  g_assert_false (folder_has_part_files (fixture->folder));

  gtk_window_destroy (GTK_WINDOW (dialog));
  g_object_unref (dialog);
  finished_clear (&finished);
}

static gboolean
progress_started (gpointer data)
{
  return gtk_progress_bar_get_fraction (GTK_PROGRESS_BAR (data)) > 0.0;
}

static void
test_cancel (Fixture *fixture, gconstpointer data)
{
  Finished finished = { 0 };
  g_autofree char *path = g_build_filename (fixture->folder, "cancelled.webm", NULL);
  g_autofree char *later = g_build_filename (fixture->folder, "later.mp4", NULL);
  FaExportDialog *dialog;
  GtkWidget *cancel;

  add_result_frames (fixture, LONG_RESULT_FRAMES);
  dialog = new_dialog (fixture, 0, &finished);
  cancel = template_child (dialog, FA_TYPE_EXPORT_DIALOG, "cancel_button");

  /* Cancelled as soon as it starts. */
  fa_export_dialog_set_options (dialog, FA_EXPORT_FORMAT_WEBM, FA_EXPORT_SIZE_SOURCE, 0, TRUE);
  fa_export_dialog_set_path (dialog, path);
  fa_export_dialog_start (dialog);
  g_assert_true (fa_export_dialog_get_running (dialog));
  gtk_widget_activate (cancel);
  g_assert_true (wait_for (finished_is_done, &finished));
  g_assert_null (finished.path);
  g_assert_null (finished.message);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_false (folder_has_part_files (fixture->folder));
  /* Stopping keeps the dialog, to try again. */
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (dialog)));

  /* Cancelled once frames are being written. */
  finished_clear (&finished);
  fa_export_dialog_start (dialog);
  g_assert_true (wait_for (progress_started, template_child (dialog, FA_TYPE_EXPORT_DIALOG, "progress_bar")));
  g_assert_true (fa_export_dialog_get_running (dialog));
  gtk_widget_activate (cancel);
  g_assert_true (wait_for (finished_is_done, &finished));
  g_assert_null (finished.path);
  g_assert_null (finished.message);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_false (folder_has_part_files (fixture->folder));

  /* And it still exports afterwards. */
  finished_clear (&finished);
  fa_export_dialog_set_options (dialog, FA_EXPORT_FORMAT_MP4, FA_EXPORT_SIZE_WORKING, 30, FALSE);
  fa_export_dialog_set_path (dialog, later);
  fa_export_dialog_start (dialog);
  g_assert_true (wait_for (finished_is_done, &finished));
  g_assert_cmpstr (finished.path, ==, later);
  g_assert_true (g_file_test (later, G_FILE_TEST_IS_REGULAR));
  g_assert_false (folder_has_part_files (fixture->folder));
  g_object_unref (dialog);
  finished_clear (&finished);

  /* Closing the dialog during an export stops it too, and still reports the end. */
  dialog = new_dialog (fixture, 0, &finished);
  fa_export_dialog_set_options (dialog, FA_EXPORT_FORMAT_WEBM, FA_EXPORT_SIZE_SOURCE, 0, TRUE);
  fa_export_dialog_set_path (dialog, path);
  fa_export_dialog_start (dialog);
  g_assert_true (wait_for (progress_started, template_child (dialog, FA_TYPE_EXPORT_DIALOG, "progress_bar")));
  gtk_window_close (GTK_WINDOW (dialog));
  g_assert_true (wait_for (finished_is_done, &finished));
  g_assert_null (finished.path);
  g_assert_null (finished.message);
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (dialog)));
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_false (folder_has_part_files (fixture->folder));
  g_object_unref (dialog);
  finished_clear (&finished);
}

static gboolean
message_dialog_is_shown (gpointer data)
{
  AdwMessageDialog *dialog = fa_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG);

  return dialog != NULL && gtk_widget_get_mapped (GTK_WIDGET (dialog));
}

static gboolean
message_dialog_is_gone (gpointer data)
{
  return fa_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG) == NULL;
}

/* What a click on a response's button does. */
static void
respond (AdwMessageDialog *dialog, const char *response)
{
  adw_message_dialog_response (dialog, response);
  gtk_window_close (GTK_WINDOW (dialog));
}

static void
test_replace (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  Finished finished = { 0 };
  g_autofree char *path = g_build_filename (fixture->folder, "existing.mp4", NULL);
  g_autofree char *contents = NULL;
  FaExportDialog *dialog;

  add_result (fixture);
  g_assert_true (g_file_set_contents (path, "not a video", -1, &error));
  dialog = new_dialog (fixture, 0, &finished);
  fa_export_dialog_set_path (dialog, path);

  /* Asked first; "Cancel" leaves the file alone. */
  fa_export_dialog_start (dialog);
  g_assert_true (wait_for (message_dialog_is_shown, NULL));
  g_assert_false (fa_export_dialog_get_running (dialog));
  respond (fa_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG), "cancel");
  g_assert_true (wait_for (message_dialog_is_gone, NULL));
  g_assert_false (fa_export_dialog_get_running (dialog));
  g_assert_false (finished.done);
  g_assert_true (g_file_get_contents (path, &contents, NULL, &error));
  g_assert_cmpstr (contents, ==, "not a video");

  /* "Replace" exports over it. */
  fa_export_dialog_start (dialog);
  g_assert_true (wait_for (message_dialog_is_shown, NULL));
  respond (fa_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG), "replace");
  g_assert_true (wait_for (finished_is_done, &finished));
  g_assert_cmpstr (finished.path, ==, path);
  {
    g_autoptr (FaClipInfo) info = fa_clip_probe (path, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpint (info->width, ==, fa_document_peek_result_clip (fixture->document, 0)->width);
  }
  g_object_unref (dialog);
  finished_clear (&finished);
}

/* ---- a saved project reopened ---- */

static gboolean
result_is_loaded (gpointer data)
{
  Fixture *fixture = data;
  int current = fa_document_get_current_result (fixture->document);

  return current >= 0 && fa_document_peek_result_clip (fixture->document, (guint) current) != NULL;
}

static void
test_reopen (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *project = g_build_filename (fixture->folder, "edit.fanchor", NULL);
  FaResultsList *list = FA_RESULTS_LIST (fa_results_list_new ());
  const FaWorkingClip *loaded;

  adw_toast_overlay_set_child (fixture->overlay, GTK_WIDGET (list));
  set_seed (fixture->document, 3, 25);
  add_result (fixture);
  set_seed (fixture->document, 4, 25);
  add_result (fixture);
  g_assert_true (fa_document_save (fixture->document, project, &error));
  g_assert_no_error (error);

  /* Reopened: the same results, none loaded yet. */
  g_signal_handlers_disconnect_by_data (fixture->document, fixture);
  g_clear_object (&fixture->document);
  fixture->document = fa_document_open (project, NULL, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_signal_connect (fixture->document, "results-changed", G_CALLBACK (on_results_changed), fixture);
  fa_results_list_set_document (list, fixture->document);
  g_assert_cmpuint (fa_results_list_get_n_rows (list), ==, 2);
  g_assert_nonnull (strstr (row_text (list, 0, "fa-results-list-summary"), "seed 4"));
  g_assert_nonnull (strstr (row_text (list, 1, "fa-results-list-summary"), "seed 3"));
  g_assert_null (fa_document_peek_result_clip (fixture->document, 0));

  /* Choosing the older one loads its frames from its file. */
  fixture->results_changed = 0;
  fa_results_list_activate_row (list, 1);
  g_assert_cmpint (fa_document_get_current_result (fixture->document), ==, 0);
  g_assert_true (row_is_selected (list, 1));
  g_assert_true (wait_for (result_is_loaded, fixture));
  g_assert_cmpuint (fixture->results_changed, >=, 2);
  loaded = fa_document_peek_result_clip (fixture->document, 0);
  g_assert_cmpint (loaded->n_frames, ==, RESULT_FRAMES);
  g_assert_cmpint (loaded->width, ==, fa_document_get_width (fixture->document));
  g_assert_nonnull (loaded->source);
  /* As it was made. */
  g_assert_cmpfloat (fabs (patch_mean (loaded, 4, 100, 100, 4)
                           - patch_mean_of (fa_document_get_clip (fixture->document), 4, 100, 100, 4, TRUE)),
                     <, 16.0);

  /* Export works from the reloaded result, at either size. */
  g_autofree char *working = export_ok (fixture, 0, "reopened.mp4", FA_EXPORT_FORMAT_MP4, FA_EXPORT_SIZE_WORKING,
                                        FALSE);
  g_autoptr (FaClipInfo) info = NULL;
  g_autoptr (FaWorkingClip) clip = decode_file (working, &info);
  g_assert_false (info->has_audio);
  g_assert_cmpint (clip->n_frames, ==, RESULT_FRAMES);

  /* The other result is not loaded: the dialog loads it itself. */
  g_assert_null (fa_document_peek_result_clip (fixture->document, 1));
  g_autofree char *source = export_ok (fixture, 1, "reopened-source.mp4", FA_EXPORT_FORMAT_MP4,
                                       FA_EXPORT_SIZE_SOURCE, TRUE);
  g_autoptr (FaClipInfo) source_info = NULL;
  g_autoptr (FaWorkingClip) source_clip = decode_file (source, &source_info);
  g_assert_cmpint (source_clip->width, ==, fa_document_get_clip_info (fixture->document)->width & ~1);
  g_assert_cmpint (source_clip->n_frames, ==, RESULT_FRAMES);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  if (!gtk_init_check ())
    {
      g_print ("1..0 # SKIP no display to open\n");
      return 0;
    }
  adw_init ();

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/results/list", test_list);
  ADD ("/export/default-path", test_default_path);
  ADD ("/export/working-size", test_working_size);
  ADD ("/export/source-size", test_source_size);
  ADD ("/export/failure", test_failure);
  ADD ("/export/cancel", test_cancel);
  ADD ("/export/replace", test_replace);
  ADD ("/results/reopen", test_reopen);
#undef ADD

  return g_test_run ();
}
