/* fa-window.c: a FlowAnchor Studio main window: its pages (first run,
 * opening, workspace), the document it shows, the title and labels that
 * follow the document, opening, saving and the unsaved-changes question.
 *
 * The window's size and maximized state are kept in GSettings.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "fa-window"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "fa-window-private.h"

G_DEFINE_FINAL_TYPE (FaWindow, fa_window, ADW_TYPE_APPLICATION_WINDOW)

enum {
  PROP_0,
  PROP_DOCUMENT,
  PROP_BUSY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

FaWindow *
fa_window_new (FaApplication *application)
{
  g_return_val_if_fail (FA_IS_APPLICATION (application), NULL);

  return g_object_new (FA_TYPE_WINDOW,
                       "application", application,
                       NULL);
}

FaDocument *
fa_window_get_document (FaWindow *self)
{
  g_return_val_if_fail (FA_IS_WINDOW (self), NULL);

  return self->document;
}

gboolean
fa_window_get_busy (FaWindow *self)
{
  g_return_val_if_fail (FA_IS_WINDOW (self), FALSE);

  return self->open_cancellable != NULL || self->job_cancellable != NULL || self->saving ||
         _fa_window_edit_is_running (self);
}

const char *
fa_window_get_last_error (FaWindow *self)
{
  g_return_val_if_fail (FA_IS_WINDOW (self), NULL);

  return self->last_error;
}

char *
fa_window_find_sample_clip (void)
{
  const char *from_env = g_getenv ("FA_SAMPLE_CLIP");
  const char *candidates[] = { from_env, FA_SAMPLE_CLIP_INSTALLED, FA_SAMPLE_CLIP_SOURCE };

  for (gsize i = 0; i < G_N_ELEMENTS (candidates); i++)
    if (candidates[i] != NULL && *candidates[i] != '\0' && g_file_test (candidates[i], G_FILE_TEST_IS_REGULAR))
      return g_strdup (candidates[i]);
  return NULL;
}

static void
notify_busy (FaWindow *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
  _fa_window_update_actions (self);
}

/* ---- messages ---- */

void
_fa_window_toast (FaWindow   *self,
                  const char *message)
{
  adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (message));
}

void
_fa_window_show_error (FaWindow     *self,
                       const char   *heading,
                       const GError *error)
{
  AdwMessageDialog *dialog;

  g_free (self->last_error);
  self->last_error = g_strdup (error->message);
  g_message ("%s: %s", heading, error->message);

  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_WINDOW (self), heading, error->message));
  adw_message_dialog_add_response (dialog, "close", _("_Close"));
  adw_message_dialog_set_default_response (dialog, "close");
  adw_message_dialog_set_close_response (dialog, "close");
  gtk_window_present (GTK_WINDOW (dialog));
}

/* ---- following the document ---- */

static void
update_title (FaWindow *self)
{
  g_autofree char *title = NULL;
  g_autofree char *subtitle = NULL;

  if (self->document == NULL)
    {
      adw_window_title_set_title (self->window_title, _("FlowAnchor Studio"));
      adw_window_title_set_subtitle (self->window_title, _("No clip open"));
      gtk_window_set_title (GTK_WINDOW (self), _("FlowAnchor Studio"));
      return;
    }

  g_autofree char *name = fa_document_dup_title (self->document);
  const char *project_path = fa_document_get_project_path (self->document);
  g_autofree char *clip_name = g_path_get_basename (fa_document_get_clip_path (self->document) != NULL
                                                    ? fa_document_get_clip_path (self->document) : "");

  /* The dot before the name is how GNOME apps mark unsaved changes. */
  title = fa_document_get_modified (self->document) ? g_strdup_printf ("• %s", name) : g_strdup (name);
  if (project_path != NULL)
    subtitle = g_strdup_printf (_("Project on %s"), clip_name);
  else
    subtitle = g_strdup (_("Not saved as a project yet"));

  adw_window_title_set_title (self->window_title, title);
  adw_window_title_set_subtitle (self->window_title, subtitle);
  gtk_window_set_title (GTK_WINDOW (self), title);
}

static char *
format_time (gint64 frames, int fps_n, int fps_d)
{
  gint64 centis = fps_n > 0 ? frames * 100 * fps_d / fps_n : 0;

  return g_strdup_printf ("%02d:%02d.%02d", (int) (centis / 6000), (int) (centis / 100 % 60), (int) (centis % 100));
}

static void
update_labels (FaWindow *self)
{
  if (self->document == NULL)
    return;

  const FaWorkingClip *clip = fa_document_get_clip (self->document);
  int frame = fa_document_get_current_frame (self->document);
  int n = fa_document_get_n_frames (self->document);
  int first, count;
  g_autofree char *time = format_time (frame, clip->fps_n, clip->fps_d);
  g_autofree char *frame_text = g_strdup_printf (_("Frame %d / %d · %s"), frame + 1, n, time);

  fa_document_get_range (self->document, &first, &count);
  g_autofree char *range_text = g_strdup_printf (_("Range %d–%d · %d frames"), first + 1, first + count, count);
  gtk_label_set_label (self->frame_label, frame_text);
  gtk_label_set_label (self->range_label, range_text);

  FaFrameMaskState state;
  const char *status;
  fa_document_get_frame_mask_state (self->document, frame, &state);
  if (fa_document_get_propagating (self->document))
    status = _("Propagating the masks through the range…");
  else if (state.keyframe)
    status = _("This frame is a keyframe: its mask was painted here.");
  else if (state.confidence > 0.0f)
    status = _("This frame's mask was propagated; paint on it to correct it.");
  else if (fa_document_needs_propagation (self->document))
    status = _("Paint a mask, then Propagate to carry it through the range.");
  else
    status = "";
  gtk_label_set_label (self->mask_status_label, status);
}

static void
sync_tool_widgets (FaWindow *self)
{
  FaDocumentView view;

  if (self->document == NULL)
    return;
  fa_document_get_view (self->document, &view);
  gtk_toggle_button_set_active (view.tool == FA_MASK_TOOL_BRUSH ? self->brush_button
                                : view.tool == FA_MASK_TOOL_ERASER ? self->eraser_button
                                : self->box_button, TRUE);
  gtk_toggle_button_set_active (view.look == FA_MASK_LOOK_TINT ? self->look_tint_button
                                : view.look == FA_MASK_LOOK_OUTLINE ? self->look_outline_button
                                : self->look_hidden_button, TRUE);
  if (gtk_adjustment_get_value (self->brush_size_adjustment) != view.brush_radius)
    gtk_adjustment_set_value (self->brush_size_adjustment, view.brush_radius);
  if (gtk_adjustment_get_value (self->brush_hardness_adjustment) != view.brush_hardness)
    gtk_adjustment_set_value (self->brush_hardness_adjustment, view.brush_hardness);
  if (gtk_adjustment_get_value (self->opacity_adjustment) != view.opacity)
    gtk_adjustment_set_value (self->opacity_adjustment, view.opacity);
}

/* The side panel's widgets write the view; changes that come back from the
 * document (undo of nothing, keys, a reopened project) are written into
 * the widgets by sync_tool_widgets, and writing an equal value is a no-op. */
static void
tool_widget_changed (FaWindow *self)
{
  FaDocumentView view;

  if (self->document == NULL)
    return;
  fa_document_get_view (self->document, &view);
  FaDocumentView next = view;
  next.tool = gtk_toggle_button_get_active (self->eraser_button) ? FA_MASK_TOOL_ERASER
              : gtk_toggle_button_get_active (self->box_button) ? FA_MASK_TOOL_BOX
              : FA_MASK_TOOL_BRUSH;
  next.look = gtk_toggle_button_get_active (self->look_outline_button) ? FA_MASK_LOOK_OUTLINE
              : gtk_toggle_button_get_active (self->look_hidden_button) ? FA_MASK_LOOK_HIDDEN
              : FA_MASK_LOOK_TINT;
  next.brush_radius = gtk_adjustment_get_value (self->brush_size_adjustment);
  next.brush_hardness = gtk_adjustment_get_value (self->brush_hardness_adjustment);
  next.opacity = gtk_adjustment_get_value (self->opacity_adjustment);
  if (memcmp (&next, &view, sizeof view) != 0)
    fa_document_set_view (self->document, &next);
}

static void
toggle_toggled (GtkToggleButton *button,
                FaWindow        *self)
{
  if (gtk_toggle_button_get_active (button))
    tool_widget_changed (self);
}

static void
document_state_changed (FaWindow *self)
{
  update_title (self);
  update_labels (self);
  _fa_window_update_actions (self);
}

void
_fa_window_set_action_enabled (FaWindow   *self,
                               const char *action,
                               gboolean    enabled)
{
  if (self->action_enabled == NULL)
    self->action_enabled = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_hash_table_insert (self->action_enabled, g_strdup (action), GINT_TO_POINTER (enabled ? 1 : 0));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), action, enabled);
}

gboolean
fa_window_get_action_enabled (FaWindow   *self,
                              const char *action)
{
  g_return_val_if_fail (FA_IS_WINDOW (self), FALSE);

  return self->action_enabled != NULL && GPOINTER_TO_INT (g_hash_table_lookup (self->action_enabled, action));
}

void
_fa_window_update_actions (FaWindow *self)
{
  _fa_window_actions_update (self);
  _fa_window_edit_update_actions (self);
}

void
_fa_window_set_document (FaWindow   *self,
                         FaDocument *document)
{
  if (self->document == document)
    return;

  _fa_window_stop_playing (self);
  if (self->job_cancellable != NULL)
    g_cancellable_cancel (self->job_cancellable);

  if (self->document != NULL)
    g_signal_handlers_disconnect_by_data (self->document, self);
  g_set_object (&self->document, document);

  fa_viewer_set_document (self->viewer, document);
  fa_timeline_set_document (self->timeline, document);
  _fa_window_edit_set_document (self);

  if (document != NULL)
    {
      g_signal_connect_object (document, "notify::current-frame", G_CALLBACK (update_labels), self,
                               G_CONNECT_SWAPPED);
      g_signal_connect_object (document, "notify::range-first", G_CALLBACK (update_labels), self,
                               G_CONNECT_SWAPPED);
      g_signal_connect_object (document, "notify::range-count", G_CALLBACK (update_labels), self,
                               G_CONNECT_SWAPPED);
      g_signal_connect_object (document, "masks-changed", G_CALLBACK (update_labels), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (document, "notify::modified", G_CALLBACK (document_state_changed), self,
                               G_CONNECT_SWAPPED);
      g_signal_connect_object (document, "notify::project-path", G_CALLBACK (document_state_changed), self,
                               G_CONNECT_SWAPPED);
      g_signal_connect_object (document, "notify::can-undo", G_CALLBACK (_fa_window_update_actions), self,
                               G_CONNECT_SWAPPED);
      g_signal_connect_object (document, "notify::can-redo", G_CALLBACK (_fa_window_update_actions), self,
                               G_CONNECT_SWAPPED);
      g_signal_connect_object (document, "notify::propagating", G_CALLBACK (document_state_changed), self,
                               G_CONNECT_SWAPPED);
      g_signal_connect_object (document, "view-changed", G_CALLBACK (sync_tool_widgets), self, G_CONNECT_SWAPPED);
      sync_tool_widgets (self);
      gtk_stack_set_visible_child_name (self->main_stack, "workspace");
      gtk_widget_grab_focus (GTK_WIDGET (self->viewer));
    }
  else
    gtk_stack_set_visible_child_name (self->main_stack, "empty");

  document_state_changed (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DOCUMENT]);
}

/* ---- opening ---- */

typedef struct {
  FaWindow *self; /* strong */
  char *path;
  char *previous_page;
} OpenData;

static void
open_data_free (OpenData *data)
{
  g_object_unref (data->self);
  g_free (data->path);
  g_free (data->previous_page);
  g_free (data);
}

static void
open_progress (guint    done,
               guint    total,
               gpointer user_data)
{
  FaWindow *self = user_data;

  if (total > 0)
    gtk_progress_bar_set_fraction (self->loading_progress, MIN (1.0, (double) done / total));
}

static void relocate_clip (FaWindow *self, const char *project_path, const char *clip_path);
static void close_after_confirm (FaWindow *self, gpointer data);

static void
open_done (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  OpenData *data = user_data;
  FaWindow *self = data->self;
  g_autoptr (GError) error = NULL;
  g_autoptr (FaDocument) document = fa_document_open_finish (result, &error);

  g_clear_object (&self->open_cancellable);
  notify_busy (self);

  if (document == NULL)
    {
      /* the window stays as it was */
      gtk_stack_set_visible_child_name (self->main_stack, data->previous_page);
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        ;
      else if (fa_document_error_is_clip_missing (error))
        {
          g_autofree char *clip = fa_document_peek_project_clip (data->path, NULL);
          relocate_clip (self, data->path, clip);
        }
      else
        {
          g_autofree char *name = g_path_get_basename (data->path);
          g_autofree char *heading = g_strdup_printf (_("Cannot Open “%s”"), name);
          _fa_window_show_error (self, heading, error);
        }
      open_data_free (data);
      return;
    }

  g_clear_pointer (&self->last_error, g_free);
  {
    g_autoptr (GFile) file = g_file_new_for_path (data->path);
    g_autofree char *uri = g_file_get_uri (file);
    gtk_recent_manager_add_item (gtk_recent_manager_get_default (), uri);
  }
  _fa_window_set_document (self, document);
  open_data_free (data);
}

void
_fa_window_open_path (FaWindow   *self,
                      const char *path,
                      const char *relocated_clip)
{
  OpenData *data;
  g_autofree char *name = g_path_get_basename (path);
  g_autofree char *label = g_strdup_printf (_("Opening “%s”…"), name);

  if (self->open_cancellable != NULL)
    g_cancellable_cancel (self->open_cancellable);
  g_clear_object (&self->open_cancellable);
  self->open_cancellable = g_cancellable_new ();
  _fa_window_stop_playing (self);

  data = g_new0 (OpenData, 1);
  data->self = g_object_ref (self);
  data->path = g_strdup (path);
  data->previous_page = g_strdup (self->document != NULL ? "workspace" : "empty");

  gtk_label_set_label (self->loading_label, label);
  gtk_progress_bar_set_fraction (self->loading_progress, 0.0);
  gtk_stack_set_visible_child_name (self->main_stack, "loading");
  notify_busy (self);

  fa_document_open_async (path, relocated_clip, self->open_cancellable, open_progress, self, open_done, data);
}

static void
open_after_confirm (FaWindow *self,
                    gpointer  data)
{
  _fa_window_open_path (self, data, NULL);
}

void
fa_window_open_file (FaWindow *self,
                     GFile    *file)
{
  g_autofree char *path = NULL;

  g_return_if_fail (FA_IS_WINDOW (self));
  g_return_if_fail (G_IS_FILE (file));

  path = g_file_get_path (file);
  if (path == NULL)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *uri = g_file_get_uri (file);
      g_set_error (&error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, _("%s is not a local file"), uri);
      _fa_window_show_error (self, _("Cannot Open the File"), error);
      return;
    }
  _fa_window_confirm_discard (self, open_after_confirm, g_steal_pointer (&path), g_free);
}

/* A project whose clip moved: ask where it is now, then open again. */
typedef struct {
  FaWindow *self;
  char *project_path;
} RelocateData;

static void
relocate_data_free (RelocateData *data)
{
  g_object_unref (data->self);
  g_free (data->project_path);
  g_free (data);
}

static void
relocate_chooser_response (GtkNativeDialog *chooser,
                           int              response,
                           gpointer         user_data)
{
  RelocateData *data = user_data;

  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
      g_autofree char *clip = file != NULL ? g_file_get_path (file) : NULL;
      if (clip != NULL)
        _fa_window_open_path (data->self, data->project_path, clip);
    }
  gtk_native_dialog_destroy (chooser);
  g_object_unref (chooser);
  relocate_data_free (data);
}

static void
relocate_response (AdwMessageDialog *dialog,
                   const char       *response,
                   gpointer          user_data)
{
  RelocateData *data = user_data;

  if (g_strcmp0 (response, "find") != 0)
    {
      relocate_data_free (data);
      return;
    }

  GtkFileChooserNative *chooser = gtk_file_chooser_native_new (_("Where Is the Clip Now?"), GTK_WINDOW (data->self),
                                                               GTK_FILE_CHOOSER_ACTION_OPEN, _("_Use This Clip"),
                                                               _("_Cancel"));
  g_autoptr (GtkFileFilter) filter = gtk_file_filter_new ();
  gtk_file_filter_set_name (filter, _("Video Clips"));
  gtk_file_filter_add_mime_type (filter, "video/*");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (chooser), filter);
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  g_signal_connect (chooser, "response", G_CALLBACK (relocate_chooser_response), data);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

static void
relocate_clip (FaWindow   *self,
               const char *project_path,
               const char *clip_path)
{
  RelocateData *data = g_new0 (RelocateData, 1);
  g_autofree char *body = g_strdup_printf (_("The project’s clip %s is missing or has changed since the project "
                                             "was saved. Point the project at the clip’s new place to go on."),
                                           clip_path != NULL ? clip_path : _("(unknown)"));
  AdwMessageDialog *dialog;

  g_free (self->last_error);
  self->last_error = g_strdup (body);
  data->self = g_object_ref (self);
  data->project_path = g_strdup (project_path);

  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_WINDOW (self), _("Clip Not Found"), body));
  adw_message_dialog_add_responses (dialog, "cancel", _("_Cancel"), "find", _("_Find Clip…"), NULL);
  adw_message_dialog_set_response_appearance (dialog, "find", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (dialog, "find");
  adw_message_dialog_set_close_response (dialog, "cancel");
  g_signal_connect (dialog, "response", G_CALLBACK (relocate_response), data);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* ---- saving and unsaved changes ---- */

static void
save_done (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr (FaWindow) self = user_data;
  g_autoptr (GError) error = NULL;
  gboolean ok = fa_document_save_finish (FA_DOCUMENT (object), result, &error);
  gboolean close_after = self->close_after_save;

  self->saving = FALSE;
  self->close_after_save = FALSE;
  notify_busy (self);

  if (!ok)
    {
      _fa_window_show_error (self, _("Cannot Save the Project"), error);
      return;
    }

  g_clear_pointer (&self->last_error, g_free);
  {
    g_autoptr (GFile) file = g_file_new_for_path (fa_document_get_project_path (FA_DOCUMENT (object)));
    g_autofree char *uri = g_file_get_uri (file);
    gtk_recent_manager_add_item (gtk_recent_manager_get_default (), uri);
  }
  _fa_window_toast (self, _("Project saved"));
  if (close_after && self->document == FA_DOCUMENT (object))
    close_after_confirm (self, NULL);
}

void
_fa_window_save (FaWindow   *self,
                 const char *path)
{
  if (self->document == NULL || self->saving)
    return;
  self->saving = TRUE;
  notify_busy (self);
  fa_document_save_async (self->document, path, NULL, save_done, g_object_ref (self));
}

void
fa_window_save_to (FaWindow   *self,
                   const char *path)
{
  g_return_if_fail (FA_IS_WINDOW (self));
  g_return_if_fail (path != NULL);

  _fa_window_save (self, path);
}

typedef struct {
  FaWindow *self;
  FaWindowContinuation then;
  gpointer data;
  GDestroyNotify destroy;
} Confirm;

static void
confirm_free (Confirm *confirm)
{
  if (confirm->destroy != NULL)
    confirm->destroy (confirm->data);
  g_object_unref (confirm->self);
  g_free (confirm);
}

static void
confirm_saved (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  Confirm *confirm = user_data;
  FaWindow *self = confirm->self;
  g_autoptr (GError) error = NULL;

  self->saving = FALSE;
  notify_busy (self);
  if (!fa_document_save_finish (FA_DOCUMENT (object), result, &error))
    _fa_window_show_error (self, _("Cannot Save the Project"), error);
  else
    confirm->then (self, confirm->data);
  confirm_free (confirm);
}

static void save_as_then (FaWindow *self, FaWindowContinuation then, gpointer data, GDestroyNotify destroy);

static void
confirm_response (AdwMessageDialog *dialog,
                  const char       *response,
                  gpointer          user_data)
{
  Confirm *confirm = user_data;
  FaWindow *self = confirm->self;

  if (g_strcmp0 (response, "discard") == 0)
    confirm->then (self, confirm->data);
  else if (g_strcmp0 (response, "save") == 0 && self->document != NULL)
    {
      if (fa_document_get_project_path (self->document) == NULL)
        {
          save_as_then (self, confirm->then, g_steal_pointer (&confirm->data), confirm->destroy);
          confirm->destroy = NULL;
        }
      else if (!self->saving)
        {
          self->saving = TRUE;
          notify_busy (self);
          fa_document_save_async (self->document, NULL, NULL, confirm_saved, confirm);
          return;
        }
    }
  confirm_free (confirm);
}

void
_fa_window_confirm_discard (FaWindow             *self,
                            FaWindowContinuation  then,
                            gpointer              data,
                            GDestroyNotify        destroy)
{
  Confirm *confirm;
  AdwMessageDialog *dialog;
  g_autofree char *name = NULL;
  g_autofree char *heading = NULL;

  if (self->document == NULL || !fa_document_get_modified (self->document))
    {
      then (self, data);
      if (destroy != NULL)
        destroy (data);
      return;
    }

  confirm = g_new0 (Confirm, 1);
  confirm->self = g_object_ref (self);
  confirm->then = then;
  confirm->data = data;
  confirm->destroy = destroy;

  name = fa_document_dup_title (self->document);
  heading = g_strdup_printf (_("Save Changes to “%s”?"), name);
  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_WINDOW (self), heading,
                                                       _("The masks and range you changed are lost unless you "
                                                         "save them.")));
  adw_message_dialog_add_responses (dialog, "cancel", _("_Cancel"), "discard", _("_Discard"), "save", _("_Save"),
                                    NULL);
  adw_message_dialog_set_response_appearance (dialog, "discard", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_response_appearance (dialog, "save", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (dialog, "save");
  adw_message_dialog_set_close_response (dialog, "cancel");
  g_signal_connect (dialog, "response", G_CALLBACK (confirm_response), confirm);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* Save As, then go on with @then (NULL: nothing more) once saved. */
static void
save_as_response (GtkNativeDialog *chooser,
                  int              response,
                  gpointer         user_data)
{
  Confirm *confirm = user_data;
  FaWindow *self = confirm->self;

  if (response == GTK_RESPONSE_ACCEPT && self->document != NULL && !self->saving)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
      g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;

      if (path != NULL)
        {
          if (!g_str_has_suffix (path, FA_PROJECT_EXTENSION))
            {
              char *with_extension = g_strconcat (path, FA_PROJECT_EXTENSION, NULL);
              g_free (path);
              path = with_extension;
            }
          self->saving = TRUE;
          notify_busy (self);
          if (confirm->then != NULL)
            fa_document_save_async (self->document, path, NULL, confirm_saved, confirm);
          else
            {
              fa_document_save_async (self->document, path, NULL, save_done, g_object_ref (self));
              confirm_free (confirm);
            }
          gtk_native_dialog_destroy (chooser);
          g_object_unref (chooser);
          return;
        }
    }
  confirm_free (confirm);
  gtk_native_dialog_destroy (chooser);
  g_object_unref (chooser);
}

static void
save_as_then (FaWindow             *self,
              FaWindowContinuation  then,
              gpointer              data,
              GDestroyNotify        destroy)
{
  Confirm *confirm = g_new0 (Confirm, 1);
  GtkFileChooserNative *chooser;
  g_autoptr (GtkFileFilter) filter = gtk_file_filter_new ();
  g_autofree char *title = fa_document_dup_title (self->document);
  g_autofree char *suggested = g_strconcat (title, FA_PROJECT_EXTENSION, NULL);

  confirm->self = g_object_ref (self);
  confirm->then = then;
  confirm->data = data;
  confirm->destroy = destroy;

  chooser = gtk_file_chooser_native_new (_("Save Project"), GTK_WINDOW (self), GTK_FILE_CHOOSER_ACTION_SAVE,
                                         _("_Save"), _("_Cancel"));
  gtk_file_filter_set_name (filter, _("FlowAnchor Projects"));
  gtk_file_filter_add_pattern (filter, "*" FA_PROJECT_EXTENSION);
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (chooser), filter);
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (chooser), suggested);
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  g_signal_connect (chooser, "response", G_CALLBACK (save_as_response), confirm);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

void
_fa_window_save_as (FaWindow *self)
{
  if (self->document != NULL)
    save_as_then (self, NULL, NULL, NULL);
}

/* ---- Space ---- */

/* Space plays and pauses wherever the focus is, as in video editors, not
 * only where no button would take it first; text still gets its spaces. */
static gboolean
space_pressed (GtkEventControllerKey *controller,
               guint                  keyval,
               guint                  keycode,
               GdkModifierType        state,
               FaWindow              *self)
{
  GtkWidget *focus = gtk_root_get_focus (GTK_ROOT (self));

  if (keyval != GDK_KEY_space || (state & gtk_accelerator_get_default_mod_mask ()) != 0 || self->document == NULL)
    return FALSE;
  if (focus != NULL && (GTK_IS_EDITABLE (focus) || GTK_IS_TEXT_VIEW (focus)))
    return FALSE;
  /* over the viewer Space is also the hand; the viewer sorts out tap from hold */
  if (focus != NULL && (focus == GTK_WIDGET (self->viewer) || gtk_widget_is_ancestor (focus, GTK_WIDGET (self->viewer))))
    return FALSE;
  return gtk_widget_activate_action (GTK_WIDGET (self), "win.play", NULL);
}

/* ---- window state ---- */

/* Saves @value unless it lies outside the key's range (a window that was
 * never given a size reports -1). */
static void
fa_window_save_int (FaWindow   *self,
                    const char *key,
                    int         value)
{
  g_autoptr (GSettingsSchema) schema = NULL;
  g_autoptr (GSettingsSchemaKey) schema_key = NULL;
  g_autoptr (GVariant) variant = g_variant_ref_sink (g_variant_new_int32 (value));

  g_object_get (self->settings, "settings-schema", &schema, NULL);
  schema_key = g_settings_schema_get_key (schema, key);

  if (g_settings_schema_key_range_check (schema_key, variant))
    g_settings_set_value (self->settings, key, variant);
}

static void
fa_window_save_state (FaWindow *self)
{
  GtkWindow *window = GTK_WINDOW (self);
  int width, height;

  /* The default size follows the unmaximized size as the user resizes. */
  gtk_window_get_default_size (window, &width, &height);

  g_settings_delay (self->settings);
  fa_window_save_int (self, "window-width", width);
  fa_window_save_int (self, "window-height", height);
  g_settings_set_boolean (self->settings, "window-maximized", gtk_window_is_maximized (window));
  g_settings_apply (self->settings);
}

static void
fa_window_restore_state (FaWindow *self)
{
  gtk_window_set_default_size (GTK_WINDOW (self),
                               g_settings_get_int (self->settings, "window-width"),
                               g_settings_get_int (self->settings, "window-height"));

  if (g_settings_get_boolean (self->settings, "window-maximized"))
    gtk_window_maximize (GTK_WINDOW (self));
}

static gboolean
close_now (gpointer data)
{
  FaWindow *self = data;

  self->closing_confirmed = TRUE;
  gtk_window_close (GTK_WINDOW (self));
  return G_SOURCE_REMOVE;
}

/* From an idle: the question's dialog is still finishing its response,
 * and its transient parent must outlive that. */
static void
close_after_confirm (FaWindow *self,
                     gpointer  data)
{
  g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, close_now, g_object_ref (self), g_object_unref);
}

static gboolean
fa_window_close_request (GtkWindow *window)
{
  FaWindow *self = FA_WINDOW (window);

  if (!self->closing_confirmed && self->document != NULL && fa_document_get_modified (self->document))
    {
      _fa_window_confirm_discard (self, close_after_confirm, NULL, NULL);
      return TRUE;
    }

  fa_window_save_state (self);
  _fa_window_stop_playing (self);
  if (self->open_cancellable != NULL)
    g_cancellable_cancel (self->open_cancellable);
  if (self->job_cancellable != NULL)
    g_cancellable_cancel (self->job_cancellable);

  return GTK_WINDOW_CLASS (fa_window_parent_class)->close_request (window);
}

/* ---- screenshot ---- */

gboolean
fa_window_save_screenshot (FaWindow   *self,
                           const char *path,
                           GError    **error)
{
  GtkWidget *widget = GTK_WIDGET (self);
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);
  g_autoptr (GtkSnapshot) snapshot = gtk_snapshot_new ();
  g_autoptr (GskRenderNode) node = NULL;
  g_autoptr (GdkTexture) texture = NULL;
  GskRenderer *renderer = gtk_native_get_renderer (GTK_NATIVE (self));

  g_return_val_if_fail (FA_IS_WINDOW (self), FALSE);

  if (width <= 0 || height <= 0 || renderer == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot take a screenshot: the window is not shown");
      return FALSE;
    }
  /* The window as last drawn; before its first frame there is none, and
   * the window's own snapshot stands in (GTK 4.8 has no public
   * gtk_widget_snapshot; that one misses the window's background). */
  {
    g_autoptr (GdkPaintable) paintable = gtk_widget_paintable_new (widget);
    gdk_paintable_snapshot (paintable, GDK_SNAPSHOT (snapshot), width, height);
    node = gtk_snapshot_free_to_node (g_steal_pointer (&snapshot));
  }
  if (node == NULL)
    {
      snapshot = gtk_snapshot_new ();
      GTK_WIDGET_GET_CLASS (widget)->snapshot (widget, snapshot);
      node = gtk_snapshot_free_to_node (g_steal_pointer (&snapshot));
    }
  if (node == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot take a screenshot: nothing was drawn");
      return FALSE;
    }
  texture = gsk_renderer_render_texture (renderer, node, &GRAPHENE_RECT_INIT (0, 0, width, height));
  if (!gdk_texture_save_to_png (texture, path))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot write the screenshot %s", path);
      return FALSE;
    }
  return TRUE;
}

/* ---- GObject ---- */

static void
fa_window_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  FaWindow *self = FA_WINDOW (object);

  switch (prop_id)
    {
    case PROP_DOCUMENT:
      g_value_set_object (value, self->document);
      break;
    case PROP_BUSY:
      g_value_set_boolean (value, fa_window_get_busy (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
fa_window_dispose (GObject *object)
{
  FaWindow *self = FA_WINDOW (object);

  _fa_window_stop_playing (self);
  if (self->open_cancellable != NULL)
    g_cancellable_cancel (self->open_cancellable);
  if (self->job_cancellable != NULL)
    g_cancellable_cancel (self->job_cancellable);
  _fa_window_edit_dispose (self);
  if (self->document != NULL)
    g_signal_handlers_disconnect_by_data (self->document, self);

  gtk_widget_dispose_template (GTK_WIDGET (self), FA_TYPE_WINDOW);

  g_clear_object (&self->document);

  G_OBJECT_CLASS (fa_window_parent_class)->dispose (object);
}

static void
fa_window_finalize (GObject *object)
{
  FaWindow *self = FA_WINDOW (object);

  g_clear_object (&self->settings);
  g_clear_pointer (&self->action_enabled, g_hash_table_unref);
  g_clear_object (&self->open_cancellable);
  g_clear_object (&self->job_cancellable);
  g_clear_pointer (&self->last_error, g_free);

  G_OBJECT_CLASS (fa_window_parent_class)->finalize (object);
}

static void
fa_window_class_init (FaWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->get_property = fa_window_get_property;
  object_class->dispose = fa_window_dispose;
  object_class->finalize = fa_window_finalize;

  window_class->close_request = fa_window_close_request;

  properties[PROP_DOCUMENT] = g_param_spec_object ("document", NULL, NULL, FA_TYPE_DOCUMENT,
                                                   G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_BUSY] = g_param_spec_boolean ("busy", NULL, NULL, FALSE,
                                                G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (FA_TYPE_VIEWER);
  g_type_ensure (FA_TYPE_TIMELINE);
  g_type_ensure (FA_TYPE_EDIT_PANEL);
  g_type_ensure (FA_TYPE_RESULTS_LIST);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/flowanchor/Studio/ui/fa-window.ui");
  gtk_widget_class_bind_template_child (widget_class, FaWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, header_bar);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, window_title);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, primary_menu_button);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, recent_button);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, panel_button);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, main_stack);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, status_page);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, open_clip_button);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, open_sample_button);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, loading_label);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, loading_progress);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, flap);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, viewer);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, timeline);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, brush_button);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, eraser_button);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, box_button);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, brush_size_adjustment);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, brush_hardness_adjustment);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, look_tint_button);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, look_outline_button);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, look_hidden_button);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, opacity_adjustment);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, mask_status_label);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, play_button);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, frame_label);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, range_label);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, model_notice);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, model_notice_label);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, model_notice_button);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, model_download_button);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, model_download_cancel_button);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, model_download_progress);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, model_download_label);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, model_download_error_label);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, edit_panel);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, results_list);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, cancel_job_button);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, compare_box);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, show_source_button);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, show_result_button);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, show_split_button);

  _fa_window_class_actions_init (widget_class);
  _fa_window_class_edit_init (widget_class);
}

static void
fa_window_init (FaWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  GtkToggleButton *toggles[] = { self->brush_button, self->eraser_button, self->box_button,
                                 self->look_tint_button, self->look_outline_button, self->look_hidden_button };
  for (gsize i = 0; i < G_N_ELEMENTS (toggles); i++)
    g_signal_connect (toggles[i], "toggled", G_CALLBACK (toggle_toggled), self);
  g_signal_connect_swapped (self->brush_size_adjustment, "value-changed", G_CALLBACK (tool_widget_changed), self);
  g_signal_connect_swapped (self->brush_hardness_adjustment, "value-changed", G_CALLBACK (tool_widget_changed),
                            self);
  g_signal_connect_swapped (self->opacity_adjustment, "value-changed", G_CALLBACK (tool_widget_changed), self);

  self->settings = g_settings_new (FA_APP_ID);
  fa_window_restore_state (self);

  {
    GtkEventController *keys = gtk_event_controller_key_new ();
    gtk_event_controller_set_propagation_phase (keys, GTK_PHASE_CAPTURE);
    g_signal_connect (keys, "key-pressed", G_CALLBACK (space_pressed), self);
    gtk_widget_add_controller (GTK_WIDGET (self), keys);
  }
  _fa_window_dnd_init (self);
  _fa_window_recent_init (self);
  _fa_window_edit_init (self);
  _fa_window_update_actions (self);
  update_title (self);
}
