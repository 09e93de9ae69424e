/* fa-window-edit.c: the window's edit side: Preview and Edit jobs in the
 * background with their progress on the timeline and the live look in the
 * viewer, the results and compare modes, and export.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "FaWindowEdit"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "fa-application.h"
#include "fa-document-edit.h"
#include "fa-export-dialog.h"
#include "fa-model-download.h"
#include "fa-window-private.h"

typedef struct {
  FaWindow *self;
  FaDocument *document;
  gboolean preview;
  FaJobSettings settings;
  FaJob *job;
  GCancellable *cancellable;
  int first, last;
} EditRun;

static void
edit_run_free (EditRun *run)
{
  fa_job_free (run->job);
  fa_job_settings_clear (&run->settings);
  g_clear_object (&run->cancellable);
  g_clear_object (&run->document);
  g_clear_object (&run->self);
  g_free (run);
}

gboolean
_fa_window_edit_is_running (FaWindow *self)
{
  return self->edit_cancellable != NULL;
}

gboolean
_fa_window_edit_cancel (FaWindow *self)
{
  if (self->edit_cancellable == NULL)
    return FALSE;
  g_cancellable_cancel (self->edit_cancellable);
  return TRUE;
}

static FaApplication *
window_application (FaWindow *self)
{
  GtkApplication *app = gtk_window_get_application (GTK_WINDOW (self));
  return app != NULL && FA_IS_APPLICATION (app) ? FA_APPLICATION (app) : NULL;
}

/* ---- progress ---- */

/* Shares of the whole job, from timings of the tiny and the full model:
 * the steps dominate, the VAE comes next. */
static const double stage_weight[FA_JOB_N_STAGES] = {
  [FA_JOB_STAGE_DECODE_CLIP] = 0.03,
  [FA_JOB_STAGE_PROPAGATE_MASKS] = 0.04,
  [FA_JOB_STAGE_ENCODE_PROMPTS] = 0.03,
  [FA_JOB_STAGE_ENCODE_VIDEO] = 0.15,
  [FA_JOB_STAGE_EDIT] = 0.60,
  [FA_JOB_STAGE_DECODE_VIDEO] = 0.15,
  [FA_JOB_STAGE_EXPORT] = 0.0,
};

static const char *
stage_label (FaJobStage stage)
{
  switch (stage)
    {
    case FA_JOB_STAGE_DECODE_CLIP:
      return _("decoding the clip");
    case FA_JOB_STAGE_PROPAGATE_MASKS:
      return _("propagating the masks");
    case FA_JOB_STAGE_ENCODE_PROMPTS:
      return _("encoding the prompts");
    case FA_JOB_STAGE_ENCODE_VIDEO:
      return _("encoding the clip");
    case FA_JOB_STAGE_EDIT:
      return _("editing");
    case FA_JOB_STAGE_DECODE_VIDEO:
      return _("decoding the result");
    case FA_JOB_STAGE_EXPORT:
    case FA_JOB_N_STAGES:
    default:
      return _("saving the result");
    }
}

/* The share of the job done at @progress, in [0, 1]. */
static double
progress_fraction (const FaJobProgress *progress)
{
  double fraction = 0.0;

  for (int s = 0; s < (int) progress->stage && s < FA_JOB_N_STAGES; s++)
    fraction += stage_weight[s];
  if (progress->stage < FA_JOB_N_STAGES && progress->total > 0)
    fraction += stage_weight[progress->stage] * MIN (progress->done, progress->total) / progress->total;
  return CLAMP (fraction, 0.0, 1.0);
}

static void
on_job_progress (const FaJobProgress *progress, gpointer user_data)
{
  EditRun *run = user_data;
  FaWindow *self = run->self;
  g_autofree char *step = NULL;
  g_autofree char *left = NULL;
  g_autofree char *label = NULL;

  if (self->edit_run != run)
    return;
  if (progress->total > 0)
    /* Translators: "step 3 of 23" (or frames, chunks: the units of the current stage) */
    step = g_strdup_printf (_("%u of %u"), progress->done, progress->total);
  if (progress->remaining_s >= 0)
    {
      int seconds = (int) (progress->remaining_s + 0.5);
      /* Translators: time left, minutes:seconds */
      left = g_strdup_printf (_("about %d:%02d left"), seconds / 60, seconds % 60);
    }
  label = g_strjoin (" · ", run->preview ? _("Preview") : _("Edit"), stage_label (progress->stage),
                     step != NULL ? step : "", left != NULL ? left : "", NULL);
  /* drop the separators of missing parts */
  while (g_str_has_suffix (label, " · "))
    label[strlen (label) - 3] = '\0';
  fa_timeline_set_progress (self->timeline, progress_fraction (progress), label, run->first,
                            run->last);
}

static void
on_job_live (int step, int total, const guint8 *rgb, int width, int height, gpointer user_data)
{
  EditRun *run = user_data;

  (void) step;
  (void) total;
  if (run->self->edit_run == run)
    fa_viewer_set_live_frame (run->self->viewer, rgb, width, height);
}

/* ---- running ---- */

static void
finish_run (EditRun *run, const GError *error)
{
  FaWindow *self = run->self;

  if (self->edit_run == run)
    {
      self->edit_run = NULL;
      g_clear_object (&self->edit_cancellable);
      fa_viewer_set_live_frame (self->viewer, NULL, 0, 0);
      fa_timeline_set_progress (self->timeline, -1.0, NULL, 0, 0);
      gtk_widget_set_visible (GTK_WIDGET (self->cancel_job_button), FALSE);
    }
  if (error == NULL)
    _fa_window_toast (self, run->preview ? _("Preview ready") : _("Edit finished"));
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    _fa_window_toast (self, run->preview ? _("Preview cancelled") : _("Edit cancelled"));
  else
    _fa_window_show_error (self, run->preview ? _("The Preview Failed") : _("The Edit Failed"), error);
  g_object_notify (G_OBJECT (self), "busy");
  _fa_window_update_actions (self);
  edit_run_free (run);
}

static void
on_job_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  EditRun *run = user_data;
  g_autoptr (GError) error = NULL;

  (void) source;
  if (fa_job_run_finish (run->job, result, &error))
    {
      FaWorkingClip *clip = fa_working_clip_copy (fa_job_get_result (run->job));
      /* a result of a document that was closed meanwhile goes nowhere, but its file stays in the cache */
      if (run->self->document == run->document)
        {
          fa_document_add_result (run->document, run->preview, &run->settings, clip);
          fa_viewer_set_show (run->self->viewer, FA_VIEWER_SHOW_RESULT);
        }
      else
        fa_working_clip_free (clip);
    }
  finish_run (run, error);
}

static void
on_model_loaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  EditRun *run = user_data;
  g_autoptr (GError) error = NULL;
  FaApplication *app = FA_APPLICATION (source);
  g_autoptr (FaModel) model = fa_application_load_model_finish (app, result, &error);

  if (model == NULL)
    {
      finish_run (run, error);
      return;
    }
  if (g_cancellable_is_cancelled (run->cancellable))
    {
      g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
      finish_run (run, error);
      return;
    }
  /* the job borrows the app's cache; the settings must not free it */
  run->settings.prompt_cache = fa_application_get_prompt_cache (app);
  run->job = fa_job_new (model, &run->settings, &error);
  run->settings.prompt_cache = NULL;
  if (run->job == NULL)
    {
      finish_run (run, error);
      return;
    }
  fa_job_set_progress_func (run->job, on_job_progress, run, g_main_context_default ());
  fa_job_set_live_func (run->job, on_job_live, run, g_main_context_default ());
  fa_job_run_async (run->job, run->cancellable, on_job_done, run);
}

static void
no_model_response (AdwMessageDialog *dialog, const char *response, gpointer user_data)
{
  FaApplication *app = user_data;

  (void) dialog;
  if (g_strcmp0 (response, "preferences") == 0)
    fa_application_show_preferences (app, "model");
  else if (g_strcmp0 (response, "download") == 0)
    fa_application_start_model_download (app);
}

static void
explain_no_model (FaWindow *self, FaApplication *app, const char *problem)
{
  AdwMessageDialog *dialog;

  g_free (self->last_error);
  self->last_error = g_strdup (problem);
  g_message ("no model: %s", problem);
  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_WINDOW (self), _("No Model to Edit With"), problem));
  adw_message_dialog_add_responses (dialog, "close", _("_Close"), "preferences", _("Open _Preferences"), NULL);
  /* A missing model can be fetched from here (its progress shows in the
   * side panel), but 28.9 GB never on a stray Enter: the default stays. */
  if (fa_application_get_model_missing (app) && !fa_application_get_download_active (app))
    {
      adw_message_dialog_add_response (dialog, "download", _("_Download the Model"));
      adw_message_dialog_set_response_appearance (dialog, "download", ADW_RESPONSE_SUGGESTED);
    }
  else
    adw_message_dialog_set_response_appearance (dialog, "preferences", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (dialog, "preferences");
  adw_message_dialog_set_close_response (dialog, "close");
  g_signal_connect_object (dialog, "response", G_CALLBACK (no_model_response), app, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
start_job (FaWindow *self, gboolean preview)
{
  FaApplication *app = window_application (self);
  g_autoptr (GError) error = NULL;
  g_autofree char *problem = NULL;
  g_autofree char *output = NULL;
  const char *heading = preview ? _("Cannot Start the Preview") : _("Cannot Start the Edit");
  int first, count;

  if (self->document == NULL || self->edit_cancellable != NULL || self->open_cancellable != NULL ||
      self->job_cancellable != NULL || app == NULL)
    return;
  problem = fa_application_dup_model_problem (app);
  if (problem != NULL)
    {
      explain_no_model (self, app, problem);
      return;
    }
  output = fa_document_new_result_path (self->document, &error);
  if (output == NULL)
    {
      _fa_window_show_error (self, heading, error);
      return;
    }

  EditRun *run = g_new0 (EditRun, 1);
  if (!fa_document_make_job_settings (self->document, preview, output, &run->settings, &error))
    {
      _fa_window_show_error (self, heading, error);
      edit_run_free (run);
      return;
    }
  _fa_window_stop_playing (self);
  run->self = g_object_ref (self);
  run->document = g_object_ref (self->document);
  run->preview = preview;
  run->settings.vae_tiling = fa_application_get_vae_tiling (app);
  fa_document_get_range (self->document, &first, &count);
  run->first = first;
  run->last = first + (preview ? MIN (count, run->settings.preview_frames) : count) - 1;
  run->cancellable = g_cancellable_new ();

  self->edit_run = run;
  self->edit_cancellable = g_object_ref (run->cancellable);
  gtk_widget_set_visible (GTK_WIDGET (self->cancel_job_button), TRUE);
  fa_timeline_set_progress (self->timeline, 0.0, preview ? _("Preview · loading the model")
                                                         : _("Edit · loading the model"),
                            run->first, run->last);
  g_object_notify (G_OBJECT (self), "busy");
  _fa_window_update_actions (self);
  fa_application_load_model_async (app, run->cancellable, on_model_loaded, run);
}

static void
preview_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  start_job (FA_WINDOW (widget), TRUE);
}

static void
edit_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  start_job (FA_WINDOW (widget), FALSE);
}

/* ---- compare ---- */

static void
sync_compare_buttons (FaWindow *self)
{
  FaViewerShow show = fa_viewer_get_show (self->viewer);
  GtkToggleButton *button = show == FA_VIEWER_SHOW_SOURCE ? self->show_source_button
                            : show == FA_VIEWER_SHOW_SPLIT ? self->show_split_button
                            : self->show_result_button;
  if (!gtk_toggle_button_get_active (button))
    gtk_toggle_button_set_active (button, TRUE);
}

static void
compare_button_toggled (GtkToggleButton *button, FaWindow *self)
{
  if (!gtk_toggle_button_get_active (button))
    return;
  fa_viewer_set_show (self->viewer, button == self->show_source_button  ? FA_VIEWER_SHOW_SOURCE
                                    : button == self->show_split_button ? FA_VIEWER_SHOW_SPLIT
                                                                        : FA_VIEWER_SHOW_RESULT);
}

static void
compare_toggle_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  FaWindow *self = FA_WINDOW (widget);

  /* back to the split when that was the mode before */
  fa_viewer_toggle_source (self->viewer);
}

static void
compare_split_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  FaWindow *self = FA_WINDOW (widget);

  fa_viewer_set_show (self->viewer, fa_viewer_get_show (self->viewer) == FA_VIEWER_SHOW_SPLIT
                                      ? FA_VIEWER_SHOW_RESULT : FA_VIEWER_SHOW_SPLIT);
}

/* ---- export ---- */

static void
export_result (FaWindow *self, int index)
{
  if (self->document == NULL || index < 0 || index >= (int) fa_document_get_n_results (self->document))
    return;
  FaExportDialog *dialog = fa_export_dialog_new (GTK_WINDOW (self), self->document, (guint) index,
                                                 self->toast_overlay);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
export_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  FaWindow *self = FA_WINDOW (widget);

  if (self->document == NULL)
    return;
  int current = fa_document_get_current_result (self->document);
  export_result (self, current >= 0 ? current : (int) fa_document_get_n_results (self->document) - 1);
}

static void
export_result_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  export_result (FA_WINDOW (widget), g_variant_get_int32 (parameter));
}

static void
focus_prompt_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  FaWindow *self = FA_WINDOW (widget);

  if (self->document == NULL)
    return;
  adw_flap_set_reveal_flap (self->flap, TRUE);
  fa_edit_panel_focus_prompt (self->edit_panel);
}

/* ---- state ---- */

/* "Download the Model (28.9 GB)", or "Resume" when an earlier one left
 * files to continue from. */
static char *
download_button_label (FaApplication *app)
{
  if (fa_application_get_download_partial (app) > 0)
    return g_strdup (_("_Resume the Download"));
  g_autofree char *size = g_format_size (FA_MODEL_REVISION_BYTES);
  /* Translators: %s is the size of the model, e.g. "28.9 GB" */
  return g_strdup_printf (_("_Download the Model (%s)"), size);
}

static void
update_model_notice (FaWindow *self)
{
  FaApplication *app = window_application (self);
  g_autofree char *problem = app != NULL ? fa_application_dup_model_problem (app) : NULL;
  g_autofree char *gpu = app != NULL ? fa_application_dup_gpu_problem (app) : NULL;
  gboolean active = app != NULL && fa_application_get_download_active (app);
  /* the download answers a missing model, not a missing GPU nor a check under way */
  gboolean offer = problem != NULL && (active || fa_application_get_model_missing (app));
  const char *text = offer ? fa_application_get_download_text (app) : NULL;
  const char *error = offer ? fa_application_get_download_error (app) : NULL;

  gtk_widget_set_visible (GTK_WIDGET (self->model_notice_button), problem != NULL);
  if (problem != NULL)
    gtk_label_set_text (self->model_notice_label, problem);
  else if (gpu != NULL)
    gtk_label_set_text (self->model_notice_label, gpu);

  gtk_widget_set_visible (GTK_WIDGET (self->model_download_button), offer && !active);
  if (offer && !active)
    {
      g_autofree char *label = download_button_label (app);
      gtk_button_set_label (self->model_download_button, label);
    }
  gtk_widget_set_visible (GTK_WIDGET (self->model_download_cancel_button), offer && active);
  gtk_widget_set_visible (GTK_WIDGET (self->model_download_progress), offer && active);
  if (offer && active)
    gtk_progress_bar_set_fraction (self->model_download_progress, fa_application_get_download_fraction (app));
  gtk_widget_set_visible (GTK_WIDGET (self->model_download_label), text != NULL);
  gtk_label_set_text (self->model_download_label, text != NULL ? text : "");
  gtk_widget_set_visible (GTK_WIDGET (self->model_download_error_label), error != NULL);
  gtk_label_set_text (self->model_download_error_label, error != NULL ? error : "");

  gtk_widget_set_visible (self->model_notice, problem != NULL || gpu != NULL);
}

static void
results_changed (FaWindow *self)
{
  _fa_window_update_actions (self);
}

void
_fa_window_edit_update_actions (FaWindow *self)
{
  FaDocument *document = self->document;
  gboolean idle = document != NULL && self->open_cancellable == NULL && self->job_cancellable == NULL &&
                  self->edit_cancellable == NULL;
  gboolean has_results = document != NULL && fa_document_get_n_results (document) > 0;

  _fa_window_set_action_enabled (self, "win.preview", idle);
  _fa_window_set_action_enabled (self, "win.edit", idle);
  _fa_window_set_action_enabled (self, "win.export", has_results && self->open_cancellable == NULL);
  _fa_window_set_action_enabled (self, "win.export-result", has_results && self->open_cancellable == NULL);
  _fa_window_set_action_enabled (self, "win.compare-toggle", has_results);
  _fa_window_set_action_enabled (self, "win.compare-split", has_results);
  _fa_window_set_action_enabled (self, "win.focus-prompt", document != NULL);
  /* propagation rewrites the masks a job is reading */
  if (self->edit_cancellable != NULL)
    _fa_window_set_action_enabled (self, "win.propagate", FALSE);
  gtk_widget_set_visible (self->compare_box, has_results);
}

void
_fa_window_edit_set_document (FaWindow *self)
{
  _fa_window_edit_cancel (self);
  fa_edit_panel_set_document (self->edit_panel, self->document);
  fa_results_list_set_document (self->results_list, self->document);
  fa_viewer_set_show (self->viewer, FA_VIEWER_SHOW_RESULT);
  if (self->document != NULL)
    {
      g_signal_connect_object (self->document, "results-changed", G_CALLBACK (results_changed), self,
                               G_CONNECT_SWAPPED);
      /* a reopened project shows its newest result */
      guint n = fa_document_get_n_results (self->document);
      if (n > 0 && fa_document_get_current_result (self->document) < 0)
        fa_document_set_current_result (self->document, (int) n - 1);
    }
  update_model_notice (self);
}

static void
application_changed (FaWindow *self)
{
  FaApplication *app = window_application (self);

  if (app != NULL)
    {
      static const char *const signals[] = {
        "notify::model-problem", "notify::model-missing", "notify::download-active",
        "notify::download-fraction", "notify::download-text", "notify::download-error",
        "notify::download-partial",
      };
      for (guint i = 0; i < G_N_ELEMENTS (signals); i++)
        g_signal_connect_object (app, signals[i], G_CALLBACK (update_model_notice), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (app, "notify::backend-description", G_CALLBACK (update_model_notice), self,
                               G_CONNECT_SWAPPED);
    }
  update_model_notice (self);
}

void
_fa_window_edit_init (FaWindow *self)
{
  GtkToggleButton *buttons[] = { self->show_source_button, self->show_result_button, self->show_split_button };

  for (gsize i = 0; i < G_N_ELEMENTS (buttons); i++)
    g_signal_connect (buttons[i], "toggled", G_CALLBACK (compare_button_toggled), self);
  g_signal_connect_object (self->viewer, "notify::show", G_CALLBACK (sync_compare_buttons), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect (self, "notify::application", G_CALLBACK (application_changed), NULL);
  application_changed (self);
}

void
_fa_window_edit_dispose (FaWindow *self)
{
  _fa_window_edit_cancel (self);
}

void
_fa_window_class_edit_init (GtkWidgetClass *widget_class)
{
  gtk_widget_class_install_action (widget_class, "win.preview", NULL, preview_action);
  gtk_widget_class_install_action (widget_class, "win.edit", NULL, edit_action);
  gtk_widget_class_install_action (widget_class, "win.export", NULL, export_action);
  gtk_widget_class_install_action (widget_class, "win.export-result", "i", export_result_action);
  gtk_widget_class_install_action (widget_class, "win.compare-toggle", NULL, compare_toggle_action);
  gtk_widget_class_install_action (widget_class, "win.compare-split", NULL, compare_split_action);
  gtk_widget_class_install_action (widget_class, "win.focus-prompt", NULL, focus_prompt_action);

  /* the shortcuts with Ctrl are the application's accelerators (fa-application-actions.c) */
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_b, 0, "win.compare-toggle", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_B, GDK_SHIFT_MASK, "win.compare-split", NULL);
}
