/* fa-export-dialog.c: the export dialog (fa-export-dialog.h).
 *
 * The result's frames load as soon as the dialog opens (when the document
 * does not hold them yet), so that the sizes can be shown; Export waits for
 * them when they are still on their way. fa_export then runs on a worker
 * thread on a copy of the frames: the document may load the same result
 * again meanwhile and replace the ones it holds.
 *
 * fa_export reports progress from its worker thread. The dialog keeps the
 * latest count in atomics and posts at most one update to the main context
 * at a time, so a fast export does not flood the main loop.
 *
 * "Open Folder" on the toast is a "button-clicked" handler (no application
 * action: the toast outlives the dialog and needs only the file's path). It
 * asks the file manager to show the file selected
 * (org.freedesktop.FileManager1.ShowItems) and falls back to opening the
 * folder with the default handler of its file:// URI.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "fa-export-dialog"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "fa-document-edit.h"
#include "fa-export-dialog.h"

#define DEFAULT_QUALITY 18

struct _FaExportDialog
{
  AdwWindow             parent_instance;

  AdwWindowTitle       *window_title;
  GtkButton            *cancel_button;
  GtkButton            *export_button;
  AdwPreferencesGroup  *options_group;
  AdwComboRow          *format_row;
  AdwComboRow          *size_row;
  GtkSpinButton        *quality_spin;
  AdwActionRow         *audio_row;
  GtkSwitch            *audio_switch;
  AdwActionRow         *file_row;
  GtkButton            *choose_button;
  GtkProgressBar       *progress_bar;
  GtkLabel             *status_label;

  FaDocument           *document;
  guint                 result_index;
  AdwToastOverlay      *toast_overlay; /* weak */

  char                 *path;
  char                 *confirmed_path; /* the file chooser already asked about replacing it */
  GtkFileChooserNative *chooser;
  AdwMessageDialog     *replace_dialog;

  GCancellable         *load_cancellable; /* while the result's frames load */
  GCancellable         *export_cancellable;
  gboolean              running;
  gboolean              start_pending;  /* Export was pressed while the frames were loading */
  gboolean              closed;
  gboolean              disposed;       /* the template's children are gone */

  /* written by the export's worker thread */
  GMainContext         *main_context;
  guint                 progress_done;
  guint                 progress_total;
  int                   progress_posted;
};

G_DEFINE_FINAL_TYPE (FaExportDialog, fa_export_dialog, ADW_TYPE_WINDOW)

enum {
  PROP_0,
  PROP_RUNNING,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum {
  SIGNAL_FINISHED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* The combo rows' positions. */
enum { FORMAT_MP4, FORMAT_WEBM };
enum { SIZE_WORKING, SIZE_SOURCE };

/* ---- file names ---- */

static const char *
format_extension (FaExportFormat format)
{
  return format == FA_EXPORT_FORMAT_WEBM ? ".webm" : ".mp4";
}

/* The format a file name implies (fa_export's rule), or AUTO. */
static FaExportFormat
format_for_path (const char *path)
{
  const char *dot = path != NULL ? strrchr (path, '.') : NULL;

  if (dot == NULL || strchr (dot, G_DIR_SEPARATOR) != NULL)
    return FA_EXPORT_FORMAT_AUTO;
  if (g_ascii_strcasecmp (dot, ".webm") == 0)
    return FA_EXPORT_FORMAT_WEBM;
  if (g_ascii_strcasecmp (dot, ".mp4") == 0 || g_ascii_strcasecmp (dot, ".m4v") == 0 ||
      g_ascii_strcasecmp (dot, ".mov") == 0)
    return FA_EXPORT_FORMAT_MP4;
  return FA_EXPORT_FORMAT_AUTO;
}

/* @path with the extension of @format: a video extension is replaced, any
 * other name gets one added. */
static char *
path_with_format (const char *path, FaExportFormat format)
{
  g_autofree char *base = g_path_get_basename (path);
  const char *dot = strrchr (base, '.');
  gsize keep = strlen (path);

  if (dot != NULL && dot != base && format_for_path (base) != FA_EXPORT_FORMAT_AUTO)
    keep -= strlen (dot);
  g_autofree char *stem = g_strndup (path, keep);
  return g_strconcat (stem, format_extension (format), NULL);
}

/* "<clip-stem>-edited.mp4" beside the clip when its folder can be written,
 * else in the Videos folder (or the home folder without one). */
static char *
default_path (FaDocument *document)
{
  const char *clip = fa_document_get_clip_path (document);
  g_autofree char *base = clip != NULL ? g_path_get_basename (clip) : g_strdup (_("result"));
  char *dot = strrchr (base, '.');
  g_autofree char *folder = NULL;

  if (dot != NULL && dot != base)
    *dot = '\0';
  if (clip != NULL)
    {
      folder = g_path_get_dirname (clip);
      if (g_access (folder, W_OK) != 0)
        g_clear_pointer (&folder, g_free);
    }
  if (folder == NULL)
    {
      const char *videos = g_get_user_special_dir (G_USER_DIRECTORY_VIDEOS);
      folder = videos != NULL ? g_strdup (videos) : g_build_filename (g_get_home_dir (), "Videos", NULL);
      if (!g_file_test (folder, G_FILE_TEST_IS_DIR))
        {
          g_free (folder);
          folder = g_strdup (g_get_home_dir ());
        }
    }
  /* Translators: the default name of an exported clip; %s is the source clip's name without extension */
  g_autofree char *name = g_strdup_printf (_("%s-edited.mp4"), base);
  return g_build_filename (folder, name, NULL);
}

/* ---- the controls ---- */

static FaExportFormat
selected_format (FaExportDialog *self)
{
  return adw_combo_row_get_selected (self->format_row) == FORMAT_WEBM ? FA_EXPORT_FORMAT_WEBM
                                                                      : FA_EXPORT_FORMAT_MP4;
}

static FaExportSize
selected_size (FaExportDialog *self)
{
  return adw_combo_row_get_selected (self->size_row) == SIZE_SOURCE ? FA_EXPORT_SIZE_SOURCE
                                                                    : FA_EXPORT_SIZE_WORKING;
}

static gboolean
source_has_audio (FaExportDialog *self)
{
  const FaClipInfo *info = fa_document_get_clip_info (self->document);

  return info != NULL && info->has_audio;
}

static void
show_path (FaExportDialog *self)
{
  adw_action_row_set_subtitle (self->file_row, self->path != NULL ? self->path : "");
}

static void
set_path_internal (FaExportDialog *self, const char *path)
{
  FaExportFormat format = format_for_path (path);

  if (g_strcmp0 (self->path, path) != 0)
    {
      g_free (self->path);
      self->path = g_strdup (path);
    }
  /* A name with a video extension chooses the format; the format's
   * handler then finds the extension already right. */
  if (format != FA_EXPORT_FORMAT_AUTO && format != selected_format (self))
    adw_combo_row_set_selected (self->format_row, format == FA_EXPORT_FORMAT_WEBM ? FORMAT_WEBM : FORMAT_MP4);
  show_path (self);
}

static void
on_format_selected (FaExportDialog *self)
{
  FaExportFormat format = selected_format (self);

  if (self->path == NULL || format_for_path (self->path) == format)
    return;
  g_autofree char *path = path_with_format (self->path, format);
  g_free (self->path);
  self->path = g_steal_pointer (&path);
  show_path (self);
}

static void
on_size_selected (FaExportDialog *self)
{
  const FaWorkingClip *clip = fa_document_peek_result_clip (self->document, self->result_index);
  const FaClipInfo *info = fa_document_get_clip_info (self->document);
  g_autofree char *text = NULL;

  /* The sizes go in the subtitle: in the choice itself they would squeeze the row. */
  if (selected_size (self) == FA_EXPORT_SIZE_SOURCE && info != NULL)
    /* Translators: the source-size export; %d × %d is the source's size in pixels */
    text = g_strdup_printf (_("%d × %d, the edit blended in through the mask"), info->width, info->height);
  else if (clip != NULL)
    /* Translators: the working-size export; %d × %d is its size in pixels, %g its frame rate */
    text = g_strdup_printf (_("%d × %d at %g fps, as edited"), clip->width, clip->height,
                            (double) clip->fps_n / clip->fps_d);
  else
    text = g_strdup (_("The edited frames as they are"));
  adw_action_row_set_subtitle (ADW_ACTION_ROW (self->size_row), text);
}

/* A clip made in memory has no source frames to blend into: working size only. */
static void
update_size_choices (FaExportDialog *self)
{
  const char *const items[] = { _("Working size"), _("Source size"), NULL };
  g_autoptr (GtkStringList) model = gtk_string_list_new (items);

  if (fa_document_get_clip_info (self->document) == NULL)
    gtk_string_list_remove (model, SIZE_SOURCE);
  adw_combo_row_set_model (self->size_row, G_LIST_MODEL (model));
  adw_combo_row_set_selected (self->size_row, SIZE_WORKING);
  on_size_selected (self);
}

static void
update_sensitivity (FaExportDialog *self)
{
  gboolean idle = !self->running;

  gtk_widget_set_sensitive (GTK_WIDGET (self->options_group), idle);
  gtk_widget_set_sensitive (GTK_WIDGET (self->export_button), idle);
  gtk_widget_set_sensitive (GTK_WIDGET (self->audio_row), source_has_audio (self));
}

static void
set_running (FaExportDialog *self, gboolean running)
{
  if (self->running == running)
    return;
  self->running = running;
  update_sensitivity (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);
}

/* @message in the status line: an error in red, else dimmed; NULL hides it. */
static void
show_status (FaExportDialog *self, const char *message, gboolean error)
{
  gtk_label_set_text (self->status_label, message != NULL ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (self->status_label), message != NULL);
  if (error)
    {
      gtk_widget_add_css_class (GTK_WIDGET (self->status_label), "error");
      gtk_widget_remove_css_class (GTK_WIDGET (self->status_label), "dim-label");
    }
  else
    {
      gtk_widget_add_css_class (GTK_WIDGET (self->status_label), "dim-label");
      gtk_widget_remove_css_class (GTK_WIDGET (self->status_label), "error");
    }
}

/* The end of a run: success closes, a failure stays open with the message. */
static void
finish (FaExportDialog *self, const char *path, const GError *error)
{
  gboolean cancelled = error != NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  g_object_ref (self);
  self->start_pending = FALSE;
  g_clear_object (&self->export_cancellable);
  /* A dialog closed during the export has no controls left, but still
   * says how the export ended. */
  if (self->disposed)
    self->running = FALSE;
  else
    {
      gtk_widget_set_visible (GTK_WIDGET (self->progress_bar), FALSE);
      set_running (self, FALSE);
      if (cancelled)
        show_status (self, _("The export was stopped; nothing was written"), FALSE);
      else
        show_status (self, error != NULL ? error->message : NULL, error != NULL);
    }
  g_signal_emit (self, signals[SIGNAL_FINISHED], 0, path, cancelled || error == NULL ? NULL : error->message);
  g_object_unref (self);
}

/* ---- the toast ---- */

static void
on_folder_opened (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;

  if (!g_app_info_launch_default_for_uri_finish (result, &error))
    g_warning ("cannot open the folder: %s", error->message);
}

static void
open_folder_of (const char *path)
{
  g_autofree char *folder = g_path_get_dirname (path);
  g_autofree char *uri = g_filename_to_uri (folder, NULL, NULL);

  if (uri != NULL)
    g_app_info_launch_default_for_uri_async (uri, NULL, NULL, on_folder_opened, NULL);
}

static void
on_show_items_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autofree char *path = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);

  /* No file manager that speaks FileManager1: open the folder instead. */
  if (reply == NULL)
    {
      g_debug ("FileManager1.ShowItems: %s", error->message);
      open_folder_of (path);
    }
}

static void
on_open_folder_clicked (AdwToast *toast)
{
  const char *path = g_object_get_data (G_OBJECT (toast), "fa-export-path");
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  g_autofree char *uri = g_filename_to_uri (path, NULL, NULL);

  if (bus == NULL || uri == NULL)
    {
      open_folder_of (path);
      return;
    }
  const char *uris[] = { uri, NULL };
  g_dbus_connection_call (bus, "org.freedesktop.FileManager1", "/org/freedesktop/FileManager1",
                          "org.freedesktop.FileManager1", "ShowItems",
                          g_variant_new ("(^ass)", uris, ""), NULL, G_DBUS_CALL_FLAGS_NONE, 5000, NULL,
                          on_show_items_done, g_strdup (path));
}

static void
add_toast (FaExportDialog *self, const char *path)
{
  if (self->toast_overlay == NULL)
    return;

  g_autofree char *name = g_filename_display_basename (path);
  g_autofree char *escaped = g_markup_escape_text (name, -1);
  /* Translators: %s is the exported file's name */
  g_autofree char *title = g_strdup_printf (_("Exported %s"), escaped);
  AdwToast *toast = adw_toast_new (title);

  adw_toast_set_button_label (toast, _("Open Folder"));
  g_object_set_data_full (G_OBJECT (toast), "fa-export-path", g_strdup (path), g_free);
  g_signal_connect (toast, "button-clicked", G_CALLBACK (on_open_folder_clicked), NULL);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

/* ---- the export on a worker thread ---- */

typedef struct {
  FaWorkingClip  *clip;
  FaMaskSet      *masks;
  char           *path;
  FaExportOptions options;
} ExportData;

static void
export_data_free (gpointer data)
{
  ExportData *export = data;

  fa_working_clip_free (export->clip);
  if (export->masks != NULL)
    fa_mask_set_free (export->masks);
  g_free (export->path);
  g_free (export);
}

static gboolean
on_progress_posted (gpointer user_data)
{
  FaExportDialog *self = user_data;
  guint done, total;

  /* Cleared before reading, so that a count stored meanwhile posts again. */
  g_atomic_int_set (&self->progress_posted, 0);
  done = (guint) g_atomic_int_get (&self->progress_done);
  total = (guint) g_atomic_int_get (&self->progress_total);
  if (self->disposed || !self->running || total == 0)
    return G_SOURCE_REMOVE;

  g_autofree char *text = g_strdup_printf (_("Frame %u of %u"), MIN (done, total), total);
  gtk_progress_bar_set_fraction (self->progress_bar, MIN (1.0, (double) done / total));
  gtk_progress_bar_set_text (self->progress_bar, text);
  return G_SOURCE_REMOVE;
}

/* Called on the export's worker thread. */
static void
on_export_progress (guint done, guint total, gpointer user_data)
{
  FaExportDialog *self = user_data;

  g_atomic_int_set (&self->progress_done, (int) done);
  g_atomic_int_set (&self->progress_total, (int) total);
  if (g_atomic_int_compare_and_exchange (&self->progress_posted, 0, 1))
    g_main_context_invoke_full (self->main_context, G_PRIORITY_DEFAULT, on_progress_posted, g_object_ref (self),
                                g_object_unref);
}

static void
export_in_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  ExportData *export = task_data;
  GError *error = NULL;

  if (fa_export (export->clip, export->masks, export->path, &export->options, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
on_export_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  FaExportDialog *self = FA_EXPORT_DIALOG (source);
  ExportData *export = g_task_get_task_data (G_TASK (result));
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_strdup (export->path);

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      finish (self, NULL, error);
      return;
    }
  add_toast (self, path);
  finish (self, path, NULL);
  if (!self->closed)
    gtk_window_close (GTK_WINDOW (self));
}

/* The frames are there: copy them, take the masks a source-size export
 * blends through, and hand them to a worker thread. */
static void
launch_export (FaExportDialog *self)
{
  const FaWorkingClip *clip = fa_document_peek_result_clip (self->document, self->result_index);
  g_autoptr (GError) error = NULL;
  ExportData *export;

  if (clip == NULL)
    {
      g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_FAILED, _("The result’s frames are not loaded"));
      finish (self, NULL, error);
      return;
    }
  export = g_new0 (ExportData, 1);
  fa_export_options_init (&export->options);
  export->options.format = selected_format (self);
  export->options.size = selected_size (self);
  export->options.quality = gtk_spin_button_get_value_as_int (self->quality_spin);
  export->options.audio = source_has_audio (self) && gtk_switch_get_active (self->audio_switch);
  export->options.progress = on_export_progress;
  export->options.progress_user_data = self;
  export->path = g_strdup (self->path);
  if (export->options.size == FA_EXPORT_SIZE_SOURCE)
    {
      export->masks = fa_document_dup_result_masks (self->document, self->result_index, &error);
      if (export->masks == NULL)
        {
          export_data_free (export);
          finish (self, NULL, error);
          return;
        }
    }
  export->clip = fa_working_clip_copy (clip);

  g_atomic_int_set (&self->progress_done, 0);
  g_atomic_int_set (&self->progress_total, 0);
  g_autoptr (GTask) task = g_task_new (self, self->export_cancellable, on_export_done, NULL);
  g_task_set_source_tag (task, launch_export);
  g_task_set_task_data (task, export, export_data_free);
  g_task_run_in_thread (task, export_in_thread);
}

static void
on_result_loaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  FaExportDialog *self = user_data;
  g_autoptr (GError) error = NULL;
  const FaWorkingClip *clip = fa_document_load_result_finish (FA_DOCUMENT (source), result, &error);

  if (!self->disposed && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_clear_object (&self->load_cancellable);
      on_size_selected (self);
      if (clip == NULL)
        {
          g_autofree char *message = g_strdup_printf (_("The result cannot be read: %s"), error->message);
          g_autoptr (GError) wrapped = g_error_new_literal (error->domain, error->code, message);
          if (self->start_pending)
            finish (self, NULL, wrapped);
          else
            show_status (self, message, TRUE);
        }
      else if (self->start_pending)
        {
          self->start_pending = FALSE;
          launch_export (self);
        }
    }
  g_object_unref (self);
}

static void
load_result (FaExportDialog *self)
{
  if (self->load_cancellable != NULL)
    return;
  self->load_cancellable = g_cancellable_new ();
  fa_document_load_result_async (self->document, self->result_index, self->load_cancellable, on_result_loaded,
                                 g_object_ref (self));
}

/* Runs the export now: the file does not exist or may be replaced. */
static void
start_export (FaExportDialog *self)
{
  show_status (self, NULL, FALSE);
  self->export_cancellable = g_cancellable_new ();
  set_running (self, TRUE);
  gtk_progress_bar_set_fraction (self->progress_bar, 0.0);
  gtk_progress_bar_set_text (self->progress_bar, _("Preparing…"));
  gtk_widget_set_visible (GTK_WIDGET (self->progress_bar), TRUE);

  if (fa_document_peek_result_clip (self->document, self->result_index) != NULL)
    launch_export (self);
  else
    {
      self->start_pending = TRUE;
      load_result (self);
    }
}

static void
on_replace_response (FaExportDialog *self, const char *response)
{
  self->replace_dialog = NULL;
  if (g_strcmp0 (response, "replace") == 0)
    start_export (self);
}

static void
ask_replace (FaExportDialog *self)
{
  g_autofree char *name = g_filename_display_basename (self->path);
  g_autofree char *folder_path = g_path_get_dirname (self->path);
  g_autofree char *folder = g_filename_display_basename (folder_path);
  /* Translators: %s is a file name */
  g_autofree char *heading = g_strdup_printf (_("Replace “%s”?"), name);
  /* Translators: %s is a folder's name */
  g_autofree char *body = g_strdup_printf (_("A file with this name already exists in “%s”. Replacing it "
                                             "overwrites its contents."),
                                           folder);
  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (self), heading, body);

  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog), "cancel", _("_Cancel"), "replace", _("_Replace"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "replace",
                                              ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_replace_response), self, G_CONNECT_SWAPPED);
  self->replace_dialog = ADW_MESSAGE_DIALOG (dialog);
  gtk_window_present (GTK_WINDOW (dialog));
}

void
fa_export_dialog_start (FaExportDialog *self)
{
  g_return_if_fail (FA_IS_EXPORT_DIALOG (self));

  if (self->running || self->replace_dialog != NULL)
    return;
  if (self->path == NULL || self->path[0] == '\0')
    {
      g_autoptr (GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_INVALID_FILENAME,
                                                      _("Choose a file name to export to"));
      finish (self, NULL, error);
      return;
    }
  /* A folder in the way is fa_export's error to report, not a file to replace. */
  if (g_file_test (self->path, G_FILE_TEST_EXISTS) && !g_file_test (self->path, G_FILE_TEST_IS_DIR) &&
      g_strcmp0 (self->path, self->confirmed_path) != 0)
    ask_replace (self);
  else
    start_export (self);
}

/* ---- the buttons ---- */

static void
on_export_clicked (FaExportDialog *self)
{
  fa_export_dialog_start (self);
}

static void
on_cancel_clicked (FaExportDialog *self)
{
  /* During an export Cancel stops it and the dialog stays, to try again. */
  if (self->running)
    {
      if (self->export_cancellable != NULL)
        g_cancellable_cancel (self->export_cancellable);
      if (self->start_pending)
        {
          g_autoptr (GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
          finish (self, NULL, error);
        }
      return;
    }
  gtk_window_close (GTK_WINDOW (self));
}

static void
on_chooser_response (FaExportDialog *self, int response)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (self->chooser));
      g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;

      if (path != NULL)
        {
          /* A name without a video extension gets the selected format's. */
          g_autofree char *with_ext = format_for_path (path) == FA_EXPORT_FORMAT_AUTO
                                        ? path_with_format (path, selected_format (self))
                                        : g_strdup (path);
          set_path_internal (self, with_ext);
          /* The chooser asked about an existing file of exactly this name. */
          g_free (self->confirmed_path);
          self->confirmed_path = g_strcmp0 (with_ext, path) == 0 ? g_strdup (path) : NULL;
        }
    }
  g_clear_object (&self->chooser);
}

static void
on_choose_clicked (FaExportDialog *self)
{
  g_autoptr (GtkFileFilter) mp4 = gtk_file_filter_new ();
  g_autoptr (GtkFileFilter) webm = gtk_file_filter_new ();

  if (self->chooser != NULL)
    return;
  self->chooser = gtk_file_chooser_native_new (_("Export To"), GTK_WINDOW (self), GTK_FILE_CHOOSER_ACTION_SAVE,
                                               _("_Choose"), _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (self->chooser), TRUE);

  gtk_file_filter_set_name (mp4, _("MP4 video"));
  gtk_file_filter_add_mime_type (mp4, "video/mp4");
  gtk_file_filter_add_suffix (mp4, "mp4");
  gtk_file_filter_set_name (webm, _("WebM video"));
  gtk_file_filter_add_mime_type (webm, "video/webm");
  gtk_file_filter_add_suffix (webm, "webm");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (self->chooser), mp4);
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (self->chooser), webm);
  gtk_file_chooser_set_filter (GTK_FILE_CHOOSER (self->chooser),
                               selected_format (self) == FA_EXPORT_FORMAT_WEBM ? webm : mp4);

  if (self->path != NULL)
    {
      g_autofree char *folder = g_path_get_dirname (self->path);
      g_autofree char *name = g_path_get_basename (self->path);
      g_autoptr (GFile) folder_file = g_file_new_for_path (folder);

      if (g_file_test (folder, G_FILE_TEST_IS_DIR))
        gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (self->chooser), folder_file, NULL);
      gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (self->chooser), name);
    }
  g_signal_connect_swapped (self->chooser, "response", G_CALLBACK (on_chooser_response), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (self->chooser));
}

static gboolean
on_close_request (GtkWindow *window)
{
  FaExportDialog *self = FA_EXPORT_DIALOG (window);

  /* Closing stops what runs; its end is still reported ("finished"). */
  if (self->export_cancellable != NULL)
    g_cancellable_cancel (self->export_cancellable);
  if (self->load_cancellable != NULL)
    g_cancellable_cancel (self->load_cancellable);
  if (self->chooser != NULL)
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (self->chooser));
  g_clear_object (&self->chooser);
  if (self->start_pending)
    {
      g_autoptr (GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
      finish (self, NULL, error);
    }
  self->closed = TRUE;
  return GTK_WINDOW_CLASS (fa_export_dialog_parent_class)->close_request (window);
}

/* ---- public ---- */

FaExportDialog *
fa_export_dialog_new (GtkWindow *parent, FaDocument *document, guint result_index, AdwToastOverlay *toast_overlay)
{
  g_return_val_if_fail (parent == NULL || GTK_IS_WINDOW (parent), NULL);
  g_return_val_if_fail (FA_IS_DOCUMENT (document), NULL);
  g_return_val_if_fail (result_index < fa_document_get_n_results (document), NULL);
  g_return_val_if_fail (toast_overlay == NULL || ADW_IS_TOAST_OVERLAY (toast_overlay), NULL);

  FaExportDialog *self = g_object_new (FA_TYPE_EXPORT_DIALOG, "transient-for", parent, "modal", TRUE, NULL);
  const FaProjectResult *result = fa_document_get_result (document, result_index);
  g_autofree char *path = default_path (document);

  self->document = g_object_ref (document);
  self->result_index = result_index;
  g_set_weak_pointer (&self->toast_overlay, toast_overlay);

  adw_window_title_set_subtitle (self->window_title,
                                 result->target_prompt != NULL ? result->target_prompt : "");
  if (source_has_audio (self))
    adw_action_row_set_subtitle (self->audio_row, _("The source’s sound over the same time"));
  else
    {
      adw_action_row_set_subtitle (self->audio_row, _("The source has no sound"));
      gtk_switch_set_active (self->audio_switch, FALSE);
    }
  update_sensitivity (self);
  set_path_internal (self, path);
  update_size_choices (self);
  if (fa_document_peek_result_clip (document, result_index) == NULL)
    load_result (self);
  return self;
}

void
fa_export_dialog_set_path (FaExportDialog *self, const char *path)
{
  g_return_if_fail (FA_IS_EXPORT_DIALOG (self));
  g_return_if_fail (path != NULL);

  set_path_internal (self, path);
  g_clear_pointer (&self->confirmed_path, g_free);
}

const char *
fa_export_dialog_get_path (FaExportDialog *self)
{
  g_return_val_if_fail (FA_IS_EXPORT_DIALOG (self), NULL);
  return self->path;
}

void
fa_export_dialog_set_options (FaExportDialog *self, FaExportFormat format, FaExportSize size, int quality,
                              gboolean audio)
{
  g_return_if_fail (FA_IS_EXPORT_DIALOG (self));

  if (format == FA_EXPORT_FORMAT_AUTO)
    format = format_for_path (self->path);
  adw_combo_row_set_selected (self->format_row, format == FA_EXPORT_FORMAT_WEBM ? FORMAT_WEBM : FORMAT_MP4);
  if (size == FA_EXPORT_SIZE_SOURCE && fa_document_get_clip_info (self->document) != NULL)
    adw_combo_row_set_selected (self->size_row, SIZE_SOURCE);
  else
    adw_combo_row_set_selected (self->size_row, SIZE_WORKING);
  gtk_spin_button_set_value (self->quality_spin, CLAMP (quality, 0, 51));
  gtk_switch_set_active (self->audio_switch, audio && source_has_audio (self));
}

gboolean
fa_export_dialog_get_running (FaExportDialog *self)
{
  g_return_val_if_fail (FA_IS_EXPORT_DIALOG (self), FALSE);
  return self->running;
}

/* ---- the object ---- */

static void
fa_export_dialog_dispose (GObject *object)
{
  FaExportDialog *self = FA_EXPORT_DIALOG (object);

  if (self->load_cancellable != NULL)
    g_cancellable_cancel (self->load_cancellable);
  if (self->chooser != NULL)
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (self->chooser));
  g_clear_object (&self->chooser);
  g_clear_weak_pointer (&self->toast_overlay);
  self->disposed = TRUE;
  gtk_widget_dispose_template (GTK_WIDGET (self), FA_TYPE_EXPORT_DIALOG);

  G_OBJECT_CLASS (fa_export_dialog_parent_class)->dispose (object);
}

static void
fa_export_dialog_finalize (GObject *object)
{
  FaExportDialog *self = FA_EXPORT_DIALOG (object);

  g_clear_object (&self->load_cancellable);
  g_clear_object (&self->export_cancellable);
  g_clear_object (&self->document);
  g_clear_pointer (&self->main_context, g_main_context_unref);
  g_free (self->path);
  g_free (self->confirmed_path);

  G_OBJECT_CLASS (fa_export_dialog_parent_class)->finalize (object);
}

static void
fa_export_dialog_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  FaExportDialog *self = FA_EXPORT_DIALOG (object);

  switch (prop_id)
    {
    case PROP_RUNNING:
      g_value_set_boolean (value, self->running);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
fa_export_dialog_class_init (FaExportDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = fa_export_dialog_dispose;
  object_class->finalize = fa_export_dialog_finalize;
  object_class->get_property = fa_export_dialog_get_property;
  window_class->close_request = on_close_request;

  properties[PROP_RUNNING] =
    g_param_spec_boolean ("running", NULL, NULL, FALSE, G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY |
                                                        G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SIGNAL_FINISHED] =
    g_signal_new ("finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                  G_TYPE_STRING, G_TYPE_STRING);

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/flowanchor/Studio/ui/fa-export-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, FaExportDialog, window_title);
  gtk_widget_class_bind_template_child (widget_class, FaExportDialog, cancel_button);
  gtk_widget_class_bind_template_child (widget_class, FaExportDialog, export_button);
  gtk_widget_class_bind_template_child (widget_class, FaExportDialog, options_group);
  gtk_widget_class_bind_template_child (widget_class, FaExportDialog, format_row);
  gtk_widget_class_bind_template_child (widget_class, FaExportDialog, size_row);
  gtk_widget_class_bind_template_child (widget_class, FaExportDialog, quality_spin);
  gtk_widget_class_bind_template_child (widget_class, FaExportDialog, audio_row);
  gtk_widget_class_bind_template_child (widget_class, FaExportDialog, audio_switch);
  gtk_widget_class_bind_template_child (widget_class, FaExportDialog, file_row);
  gtk_widget_class_bind_template_child (widget_class, FaExportDialog, choose_button);
  gtk_widget_class_bind_template_child (widget_class, FaExportDialog, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, FaExportDialog, status_label);
  gtk_widget_class_bind_template_callback (widget_class, on_format_selected);
  gtk_widget_class_bind_template_callback (widget_class, on_size_selected);
  gtk_widget_class_bind_template_callback (widget_class, on_export_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_cancel_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_choose_clicked);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
fa_export_dialog_init (FaExportDialog *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->main_context = g_main_context_ref_thread_default ();
  gtk_window_set_default_widget (GTK_WINDOW (self), GTK_WIDGET (self->export_button));
}
