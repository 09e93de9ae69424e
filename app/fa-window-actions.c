/* fa-window-actions.c: the win.* actions, their keys, and which of them
 * can run now.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "fa-window-actions"

#include "config.h"

#include <math.h>

#include <glib/gi18n.h>

#include "fa-window-private.h"

#define RECENT_MAX 10

static void
add_open_filters (GtkFileChooser *chooser,
                  gboolean        projects)
{
  g_autoptr (GtkFileFilter) all = gtk_file_filter_new ();
  g_autoptr (GtkFileFilter) clips = gtk_file_filter_new ();

  gtk_file_filter_set_name (all, projects ? _("Clips and Projects") : _("Video Clips"));
  gtk_file_filter_add_mime_type (all, "video/*");
  gtk_file_filter_set_name (clips, _("Video Clips"));
  gtk_file_filter_add_mime_type (clips, "video/*");
  if (projects)
    gtk_file_filter_add_pattern (all, "*" FA_PROJECT_EXTENSION);
  gtk_file_chooser_add_filter (chooser, all);
  if (projects)
    {
      g_autoptr (GtkFileFilter) project_filter = gtk_file_filter_new ();
      gtk_file_filter_set_name (project_filter, _("FlowAnchor Projects"));
      gtk_file_filter_add_pattern (project_filter, "*" FA_PROJECT_EXTENSION);
      gtk_file_chooser_add_filter (chooser, clips);
      gtk_file_chooser_add_filter (chooser, project_filter);
    }
}

static void
open_chooser_response (GtkNativeDialog *chooser,
                       int              response,
                       gpointer         user_data)
{
  g_autoptr (FaWindow) self = user_data;

  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
      if (file != NULL)
        fa_window_open_file (self, file);
    }
  gtk_native_dialog_destroy (chooser);
  g_object_unref (chooser);
}

static void
show_open_chooser (FaWindow *self,
                   gboolean  projects)
{
  GtkFileChooserNative *chooser;

  chooser = gtk_file_chooser_native_new (projects ? _("Open a Clip or Project") : _("New Project on a Clip"),
                                         GTK_WINDOW (self), GTK_FILE_CHOOSER_ACTION_OPEN, _("_Open"), _("_Cancel"));
  add_open_filters (GTK_FILE_CHOOSER (chooser), projects);
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  g_signal_connect (chooser, "response", G_CALLBACK (open_chooser_response), g_object_ref (self));
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

static void
open_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  show_open_chooser (FA_WINDOW (widget), TRUE);
}

static void
new_project_action (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *parameter)
{
  show_open_chooser (FA_WINDOW (widget), FALSE);
}

static void
open_sample_action (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *parameter)
{
  g_autofree char *path = fa_window_find_sample_clip ();

  if (path != NULL)
    {
      g_autoptr (GFile) file = g_file_new_for_path (path);
      fa_window_open_file (FA_WINDOW (widget), file);
    }
}

static void
open_recent_action (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *parameter)
{
  g_autoptr (GFile) file = g_file_new_for_uri (g_variant_get_string (parameter, NULL));

  fa_window_open_file (FA_WINDOW (widget), file);
}

static void
close_project_then (FaWindow *self,
                    gpointer  data)
{
  _fa_window_set_document (self, NULL);
}

static void
close_project_action (GtkWidget  *widget,
                      const char *action_name,
                      GVariant   *parameter)
{
  _fa_window_confirm_discard (FA_WINDOW (widget), close_project_then, NULL, NULL);
}

static void
save_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  FaWindow *self = FA_WINDOW (widget);

  if (self->document == NULL)
    return;
  if (fa_document_get_project_path (self->document) == NULL)
    _fa_window_save_as (self);
  else
    _fa_window_save (self, NULL);
}

static void
save_as_action (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  _fa_window_save_as (FA_WINDOW (widget));
}

/* The "No Recent Files" menu entry: an action that stays disabled, so
 * that the entry shows greyed out. */
static void
no_recent_action (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
}

static void
undo_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  FaWindow *self = FA_WINDOW (widget);

  if (self->document != NULL)
    fa_document_undo (self->document);
}

static void
redo_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  FaWindow *self = FA_WINDOW (widget);

  if (self->document != NULL)
    fa_document_redo (self->document);
}

/* ---- propagation ---- */

typedef struct {
  FaWindow *self;
  FaDocument *document;
  int first, last;
} Propagation;

static void
propagation_free (Propagation *p)
{
  g_object_unref (p->self);
  g_object_unref (p->document);
  g_free (p);
}

static void
propagate_progress (guint    done,
                    guint    total,
                    gpointer user_data)
{
  Propagation *p = user_data;

  if (p->self->document == p->document && total > 0)
    fa_timeline_set_progress (p->self->timeline, (double) done / total, _("Propagating masks"), p->first, p->last);
}

static void
propagate_done (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  Propagation *p = user_data;
  FaWindow *self = p->self;
  g_autoptr (GError) error = NULL;
  gboolean ok = fa_document_propagate_finish (FA_DOCUMENT (object), result, &error);

  g_clear_object (&self->job_cancellable);
  fa_timeline_set_progress (self->timeline, -1.0, NULL, 0, 0);
  if (ok)
    _fa_window_toast (self, _("Masks propagated through the range"));
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    _fa_window_toast (self, _("Propagation cancelled; the masks are as they were"));
  else
    _fa_window_show_error (self, _("Cannot Propagate the Masks"), error);
  g_object_notify (G_OBJECT (self), "busy");
  _fa_window_update_actions (self);
  propagation_free (p);
}

static void
propagate_action (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
  FaWindow *self = FA_WINDOW (widget);
  FaApplication *app = FA_APPLICATION (gtk_window_get_application (GTK_WINDOW (self)));
  Propagation *p;
  int first, count;

  if (self->document == NULL || self->job_cancellable != NULL)
    return;

  _fa_window_stop_playing (self);
  p = g_new0 (Propagation, 1);
  p->self = g_object_ref (self);
  p->document = g_object_ref (self->document);
  fa_document_get_range (self->document, &first, &count);
  p->first = first;
  p->last = first + count - 1;

  self->job_cancellable = g_cancellable_new ();
  fa_timeline_set_progress (self->timeline, 0.0, _("Propagating masks"), p->first, p->last);
  fa_document_propagate_async (self->document, app != NULL ? fa_application_get_backend (app) : NULL,
                               self->job_cancellable, propagate_progress, p, propagate_done, p);
  g_object_notify (G_OBJECT (self), "busy");
  _fa_window_update_actions (self);
}

static void
cancel_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *parameter)
{
  FaWindow *self = FA_WINDOW (widget);

  if (self->open_cancellable != NULL)
    g_cancellable_cancel (self->open_cancellable);
  else if (_fa_window_edit_cancel (self))
    return;
  else if (self->job_cancellable != NULL)
    g_cancellable_cancel (self->job_cancellable);
  else
    _fa_window_stop_playing (self);
}

/* ---- playhead ---- */

void
_fa_window_stop_playing (FaWindow *self)
{
  if (self->play_source == 0)
    return;
  g_clear_handle_id (&self->play_source, g_source_remove);
  gtk_button_set_icon_name (self->play_button, "media-playback-start-symbolic");
  _fa_window_update_actions (self);
}

/* Frames follow the clock rather than counting ticks, so that a slow
 * redraw drops frames instead of slowing the clip down. */
static gboolean
play_tick (gpointer user_data)
{
  FaWindow *self = user_data;
  const FaWorkingClip *clip;
  gint64 elapsed_us;
  int frame;

  if (self->document == NULL)
    {
      self->play_source = 0;
      _fa_window_stop_playing (self);
      return G_SOURCE_REMOVE;
    }
  clip = fa_document_get_clip (self->document);
  elapsed_us = g_get_monotonic_time () - self->play_started_us;
  frame = self->play_started_frame + (int) (elapsed_us * clip->fps_n / ((gint64) clip->fps_d * G_USEC_PER_SEC));
  if (frame >= fa_document_get_n_frames (self->document) - 1)
    {
      fa_document_set_current_frame (self->document, fa_document_get_n_frames (self->document) - 1);
      self->play_source = 0;
      gtk_button_set_icon_name (self->play_button, "media-playback-start-symbolic");
      _fa_window_update_actions (self);
      return G_SOURCE_REMOVE;
    }
  fa_document_set_current_frame (self->document, frame);
  return G_SOURCE_CONTINUE;
}

static void
play_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  FaWindow *self = FA_WINDOW (widget);
  const FaWorkingClip *clip;
  int frame;

  if (self->document == NULL)
    return;
  if (self->play_source != 0)
    {
      _fa_window_stop_playing (self);
      return;
    }

  clip = fa_document_get_clip (self->document);
  frame = fa_document_get_current_frame (self->document);
  /* from the end, play again from the start */
  if (frame >= fa_document_get_n_frames (self->document) - 1)
    {
      frame = 0;
      fa_document_set_current_frame (self->document, 0);
    }
  self->play_started_us = g_get_monotonic_time ();
  self->play_started_frame = frame;
  self->play_source = g_timeout_add (MAX (1, 500 * clip->fps_d / MAX (clip->fps_n, 1)), play_tick, self);
  gtk_button_set_icon_name (self->play_button, "media-playback-pause-symbolic");
  _fa_window_update_actions (self);
}

static void
step_frame (FaWindow *self,
            int       delta,
            gboolean  absolute)
{
  if (self->document == NULL)
    return;
  _fa_window_stop_playing (self);
  fa_document_set_current_frame (self->document,
                                 absolute ? delta : fa_document_get_current_frame (self->document) + delta);
}

static void
next_frame_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  step_frame (FA_WINDOW (widget), 1, FALSE);
}

static void
previous_frame_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  step_frame (FA_WINDOW (widget), -1, FALSE);
}

static void
first_frame_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  step_frame (FA_WINDOW (widget), 0, TRUE);
}

static void
last_frame_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  FaWindow *self = FA_WINDOW (widget);

  if (self->document != NULL)
    step_frame (self, fa_document_get_n_frames (self->document) - 1, TRUE);
}

static void
set_in_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  FaWindow *self = FA_WINDOW (widget);

  if (self->document != NULL)
    fa_document_set_in_point (self->document, fa_document_get_current_frame (self->document));
}

static void
set_out_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  FaWindow *self = FA_WINDOW (widget);

  if (self->document != NULL)
    fa_document_set_out_point (self->document, fa_document_get_current_frame (self->document));
}

/* ---- tools ---- */

static void
change_view (FaWindow *self,
             void    (*change) (FaDocumentView *view, GVariant *parameter),
             GVariant *parameter)
{
  FaDocumentView view;

  if (self->document == NULL)
    return;
  fa_document_get_view (self->document, &view);
  change (&view, parameter);
  fa_document_set_view (self->document, &view);
}

/* [ and ] step the brush by about 15 %, as paint programs do, so that
 * small and large brushes take the same number of presses to double. */
static void
brush_smaller (FaDocumentView *view, GVariant *parameter)
{
  view->brush_radius = MAX (1.0, floor (view->brush_radius / 1.15));
}

static void
brush_larger (FaDocumentView *view, GVariant *parameter)
{
  view->brush_radius = MIN (256.0, ceil (view->brush_radius * 1.15));
}

static void
set_tool (FaDocumentView *view, GVariant *parameter)
{
  const char *name = g_variant_get_string (parameter, NULL);

  view->tool = g_str_equal (name, "eraser") ? FA_MASK_TOOL_ERASER
               : g_str_equal (name, "box") ? FA_MASK_TOOL_BOX
               : FA_MASK_TOOL_BRUSH;
}

static void
set_look (FaDocumentView *view, GVariant *parameter)
{
  const char *name = g_variant_get_string (parameter, NULL);

  view->look = g_str_equal (name, "outline") ? FA_MASK_LOOK_OUTLINE
               : g_str_equal (name, "hidden") ? FA_MASK_LOOK_HIDDEN
               : FA_MASK_LOOK_TINT;
}

static void
brush_smaller_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  change_view (FA_WINDOW (widget), brush_smaller, parameter);
}

static void
brush_larger_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  change_view (FA_WINDOW (widget), brush_larger, parameter);
}

static void
tool_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  change_view (FA_WINDOW (widget), set_tool, parameter);
}

static void
mask_look_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  change_view (FA_WINDOW (widget), set_look, parameter);
}

static void
clear_frame_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  FaWindow *self = FA_WINDOW (widget);

  if (self->document != NULL)
    fa_document_clear_frame (self->document, fa_document_get_current_frame (self->document));
}

static void
zoom_fit_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  fa_viewer_zoom_fit (FA_WINDOW (widget)->viewer);
}

static void
toggle_panel_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  FaWindow *self = FA_WINDOW (widget);

  gtk_toggle_button_set_active (self->panel_button, !gtk_toggle_button_get_active (self->panel_button));
}

/* ---- recent files ---- */

static gboolean
recent_is_ours (GtkRecentInfo *info)
{
  const char *mime = gtk_recent_info_get_mime_type (info);
  const char *uri = gtk_recent_info_get_uri (info);

  if (!gtk_recent_info_exists (info) || !g_str_has_prefix (uri, "file:"))
    return FALSE;
  return g_str_has_suffix (uri, FA_PROJECT_EXTENSION) || (mime != NULL && g_str_has_prefix (mime, "video/"));
}

static int
recent_newest_first (gconstpointer a,
                     gconstpointer b)
{
  GDateTime *ta = gtk_recent_info_get_modified ((GtkRecentInfo *) a);
  GDateTime *tb = gtk_recent_info_get_modified ((GtkRecentInfo *) b);

  return -g_date_time_compare (ta, tb);
}

static void
update_recent_menu (FaWindow *self)
{
  g_autoptr (GMenu) menu = g_menu_new ();
  GList *items = gtk_recent_manager_get_items (gtk_recent_manager_get_default ());
  int n = 0;

  items = g_list_sort (items, recent_newest_first);
  for (GList *l = items; l != NULL && n < RECENT_MAX; l = l->next)
    {
      GtkRecentInfo *info = l->data;
      if (!recent_is_ours (info))
        continue;
      g_autoptr (GMenuItem) item = g_menu_item_new (gtk_recent_info_get_display_name (info), NULL);
      g_menu_item_set_action_and_target_value (item, "win.open-recent",
                                               g_variant_new_string (gtk_recent_info_get_uri (info)));
      g_menu_append_item (menu, item);
      n++;
    }
  g_list_free_full (items, (GDestroyNotify) gtk_recent_info_unref);
  if (n == 0)
    {
      g_autoptr (GMenuItem) item = g_menu_item_new (_("No Recent Files"), "win.no-recent");
      g_menu_append_item (menu, item);
    }
  gtk_menu_button_set_menu_model (self->recent_button, G_MENU_MODEL (menu));
}

/* ---- which actions can run ---- */

void
_fa_window_actions_update (FaWindow *self)
{
  FaDocument *document = self->document;
  gboolean has_document = document != NULL;
  gboolean opening = self->open_cancellable != NULL;
  gboolean propagating = self->job_cancellable != NULL;
  const char *editing_actions[] = { "win.play", "win.next-frame", "win.previous-frame", "win.first-frame",
                                    "win.last-frame", "win.set-in", "win.set-out", "win.brush-smaller",
                                    "win.brush-larger", "win.tool", "win.mask-look", "win.clear-frame",
                                    "win.zoom-fit", "win.close-project" };

  for (gsize i = 0; i < G_N_ELEMENTS (editing_actions); i++)
    _fa_window_set_action_enabled (self, editing_actions[i], has_document && !opening);
  _fa_window_set_action_enabled (self, "win.open-sample", !opening);
  _fa_window_set_action_enabled (self, "win.save", has_document && !opening && !self->saving);
  _fa_window_set_action_enabled (self, "win.save-as", has_document && !opening && !self->saving);
  _fa_window_set_action_enabled (self, "win.no-recent", FALSE);
  _fa_window_set_action_enabled (self, "win.undo", has_document && fa_document_get_can_undo (document));
  _fa_window_set_action_enabled (self, "win.redo", has_document && fa_document_get_can_redo (document));
  _fa_window_set_action_enabled (self, "win.propagate", has_document && !opening && !propagating);
  _fa_window_set_action_enabled (self, "win.cancel", opening || propagating || self->play_source != 0 ||
                                                       _fa_window_edit_is_running (self));

}

/* The recent list is read once and again when it changes, not on every
 * action update. */
void
_fa_window_recent_init (FaWindow *self)
{
  g_autofree char *sample = fa_window_find_sample_clip ();

  gtk_widget_set_visible (GTK_WIDGET (self->open_sample_button), sample != NULL);
  g_signal_connect_object (gtk_recent_manager_get_default (), "changed", G_CALLBACK (update_recent_menu), self,
                           G_CONNECT_SWAPPED);
  update_recent_menu (self);
}

void
_fa_window_class_actions_init (GtkWidgetClass *widget_class)
{
  gtk_widget_class_install_action (widget_class, "win.open", NULL, open_action);
  gtk_widget_class_install_action (widget_class, "win.new-project", NULL, new_project_action);
  gtk_widget_class_install_action (widget_class, "win.open-sample", NULL, open_sample_action);
  gtk_widget_class_install_action (widget_class, "win.open-recent", "s", open_recent_action);
  gtk_widget_class_install_action (widget_class, "win.no-recent", NULL, no_recent_action);
  gtk_widget_class_install_action (widget_class, "win.close-project", NULL, close_project_action);
  gtk_widget_class_install_action (widget_class, "win.save", NULL, save_action);
  gtk_widget_class_install_action (widget_class, "win.save-as", NULL, save_as_action);
  gtk_widget_class_install_action (widget_class, "win.undo", NULL, undo_action);
  gtk_widget_class_install_action (widget_class, "win.redo", NULL, redo_action);
  gtk_widget_class_install_action (widget_class, "win.propagate", NULL, propagate_action);
  gtk_widget_class_install_action (widget_class, "win.cancel", NULL, cancel_action);
  gtk_widget_class_install_action (widget_class, "win.play", NULL, play_action);
  gtk_widget_class_install_action (widget_class, "win.next-frame", NULL, next_frame_action);
  gtk_widget_class_install_action (widget_class, "win.previous-frame", NULL, previous_frame_action);
  gtk_widget_class_install_action (widget_class, "win.first-frame", NULL, first_frame_action);
  gtk_widget_class_install_action (widget_class, "win.last-frame", NULL, last_frame_action);
  gtk_widget_class_install_action (widget_class, "win.set-in", NULL, set_in_action);
  gtk_widget_class_install_action (widget_class, "win.set-out", NULL, set_out_action);
  gtk_widget_class_install_action (widget_class, "win.brush-smaller", NULL, brush_smaller_action);
  gtk_widget_class_install_action (widget_class, "win.brush-larger", NULL, brush_larger_action);
  gtk_widget_class_install_action (widget_class, "win.tool", "s", tool_action);
  gtk_widget_class_install_action (widget_class, "win.mask-look", "s", mask_look_action);
  gtk_widget_class_install_action (widget_class, "win.clear-frame", NULL, clear_frame_action);
  gtk_widget_class_install_action (widget_class, "win.zoom-fit", NULL, zoom_fit_action);
  gtk_widget_class_install_action (widget_class, "win.toggle-panel", NULL, toggle_panel_action);

  /* Single keys, as in video editors; a text entry with the focus takes
   * its keys first, so typing a prompt never moves the playhead. */
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_space, 0, "win.play", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Right, 0, "win.next-frame", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Left, 0, "win.previous-frame", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Home, 0, "win.first-frame", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_End, 0, "win.last-frame", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_i, 0, "win.set-in", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_o, 0, "win.set-out", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_bracketleft, 0, "win.brush-smaller", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_bracketright, 0, "win.brush-larger", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_p, 0, "win.tool", "s", "brush");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_e, 0, "win.tool", "s", "eraser");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_x, 0, "win.tool", "s", "box");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Delete, 0, "win.clear-frame", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "win.cancel", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_0, GDK_CONTROL_MASK, "win.zoom-fit", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_F9, 0, "win.toggle-panel", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_y, GDK_CONTROL_MASK, "win.redo", NULL);
}
