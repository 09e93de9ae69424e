/* test-window.c: the application and its main window under a real display:
 * actions and accelerators, the window's widgets, the About window, the
 * window size kept in GSettings, and the workspace driven through the same
 * actions and pointer paths a person uses: open the sample clip, paint a
 * stroke and a box, propagate, save a project, close, reopen it and find
 * the same masks; undo and redo; an unreadable file leaving the window as
 * it was; the unsaved-changes question; a screenshot. (Restoring the
 * maximized state is not checked: without a window manager, Xvfb never
 * maximizes a window.)
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "test-window"

#include "config.h"

#include <string.h>

#include <adwaita.h>
#include <glib/gstdio.h>

#include "fa-application.h"
#include "fa-document.h"
#include "fa-viewer.h"
#include "fa-app-test-util.h"
#include "fa-window.h"

#define WAIT_SECONDS 60

/* One registered application for every case, as in a running app. */
static FaApplication *app;

/* the main context runs until the condition holds, for WAIT_SECONDS at most */
#define wait_for(condition, data) fa_test_wait_for ((condition), (data), WAIT_SECONDS)

static gboolean
widget_is_allocated (gpointer data)
{
  return gtk_widget_get_width (GTK_WIDGET (data)) > 0;
}

static gboolean
app_has_no_windows (gpointer data)
{
  return gtk_application_get_windows (GTK_APPLICATION (app)) == NULL;
}

static gboolean
about_window_is_shown (gpointer data)
{
  AdwAboutWindow *about = fa_test_find_toplevel (ADW_TYPE_ABOUT_WINDOW);

  return about != NULL && gtk_widget_get_mapped (GTK_WIDGET (about));
}

static GtkWidget *
get_child (FaWindow   *window,
           const char *name)
{
  GObject *child = gtk_widget_get_template_child (GTK_WIDGET (window), FA_TYPE_WINDOW, name);

  g_assert_nonnull (child);
  g_assert_true (GTK_IS_WIDGET (child));
  return GTK_WIDGET (child);
}

/* A new window, shown and mapped. */
static FaWindow *
present_new_window (void)
{
  FaWindow *window = fa_window_new (app);

  gtk_window_present (GTK_WINDOW (window));
  g_assert_true (wait_for (fa_test_widget_is_mapped, window));
  g_assert_true (wait_for (widget_is_allocated, window));
  return window;
}

static void
assert_accels (const char *action,
               const char *accel)
{
  g_auto (GStrv) accels = gtk_application_get_accels_for_action (GTK_APPLICATION (app), action);

  g_assert_nonnull (accels);
  g_assert_cmpuint (g_strv_length (accels), ==, 1);
  g_assert_cmpstr (accels[0], ==, accel);
}

static void
test_actions (void)
{
  const char *const names[] = { "about", "new-window", "quit" };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_assert_true (g_action_group_has_action (G_ACTION_GROUP (app), names[i]));
      g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (app), names[i]));
      g_assert_null (g_action_group_get_action_parameter_type (G_ACTION_GROUP (app), names[i]));
    }

  assert_accels ("app.quit", "<Control>q");
  assert_accels ("app.new-window", "<Control>n");
  assert_accels ("window.close", "<Control>w");
  assert_accels ("win.open", "<Control>o");
  assert_accels ("win.save", "<Control>s");
  assert_accels ("win.save-as", "<Shift><Control>s");
  assert_accels ("win.undo", "<Control>z");
  assert_accels ("win.redo", "<Shift><Control>z");
  assert_accels ("win.propagate", "<Shift><Control>p");
  assert_accels ("win.preview", "<Control>p");
  assert_accels ("win.edit", "<Control>Return");
  assert_accels ("win.export", "<Control>e");
  assert_accels ("win.focus-prompt", "<Control>l");
  assert_accels ("app.preferences", "<Control>comma");

  /* GNOME reserves no shortcut for About; it is reached from the menu. */
  {
    g_auto (GStrv) about_accels =
      gtk_application_get_accels_for_action (GTK_APPLICATION (app), "app.about");
    g_assert_cmpuint (g_strv_length (about_accels), ==, 0);
  }
}

static gboolean
menu_has_action (GMenuModel *model,
                 const char *action)
{
  for (int i = 0; i < g_menu_model_get_n_items (model); i++)
    {
      g_autofree char *name = NULL;
      g_autoptr (GMenuModel) section = NULL;

      if (g_menu_model_get_item_attribute (model, i, G_MENU_ATTRIBUTE_ACTION, "s", &name)
          && g_str_equal (name, action))
        return TRUE;

      section = g_menu_model_get_item_link (model, i, G_MENU_LINK_SECTION);
      if (section != NULL && menu_has_action (section, action))
        return TRUE;
    }
  return FALSE;
}

static void
test_window_widgets (void)
{
  FaWindow *window = present_new_window ();
  GtkWidget *header_bar = get_child (window, "header_bar");
  GtkWidget *title = get_child (window, "window_title");
  GtkWidget *menu_button = get_child (window, "primary_menu_button");
  GtkWidget *status_page = get_child (window, "status_page");
  GtkWidget *open_button = get_child (window, "open_clip_button");
  GMenuModel *menu;

  g_assert_true (gtk_window_get_application (GTK_WINDOW (window)) == GTK_APPLICATION (app));
  g_assert_cmpstr (gtk_window_get_title (GTK_WINDOW (window)), ==, "FlowAnchor Studio");

  g_assert_true (ADW_IS_HEADER_BAR (header_bar));
  g_assert_true (gtk_widget_is_ancestor (header_bar, GTK_WIDGET (window)));
  g_assert_true (gtk_widget_get_mapped (header_bar));

  g_assert_true (ADW_IS_WINDOW_TITLE (title));
  g_assert_true (adw_header_bar_get_title_widget (ADW_HEADER_BAR (header_bar)) == title);
  g_assert_cmpstr (adw_window_title_get_title (ADW_WINDOW_TITLE (title)), ==, "FlowAnchor Studio");
  g_assert_cmpstr (adw_window_title_get_subtitle (ADW_WINDOW_TITLE (title)), ==, "No clip open");

  g_assert_true (GTK_IS_MENU_BUTTON (menu_button));
  g_assert_true (gtk_widget_is_ancestor (menu_button, header_bar));
  g_assert_true (gtk_menu_button_get_primary (GTK_MENU_BUTTON (menu_button)));
  menu = gtk_menu_button_get_menu_model (GTK_MENU_BUTTON (menu_button));
  g_assert_nonnull (menu);
  g_assert_true (menu_has_action (menu, "app.about"));
  g_assert_true (menu_has_action (menu, "app.quit"));
  g_assert_true (menu_has_action (menu, "app.new-window"));
  g_assert_true (menu_has_action (menu, "win.show-help-overlay"));
  g_assert_nonnull (gtk_application_window_get_help_overlay (GTK_APPLICATION_WINDOW (window)));

  /* The first-run state: open, drop, or try the sample. */
  g_assert_true (ADW_IS_STATUS_PAGE (status_page));
  g_assert_true (gtk_widget_get_mapped (status_page));
  g_assert_cmpstr (adw_status_page_get_title (ADW_STATUS_PAGE (status_page)), ==, "No Clip Open");
  g_assert_nonnull (strstr (adw_status_page_get_description (ADW_STATUS_PAGE (status_page)), "drop"));
  g_assert_cmpstr (gtk_actionable_get_action_name (GTK_ACTIONABLE (open_button)), ==, "win.open");
  g_assert_true (gtk_widget_is_sensitive (open_button));
  g_assert_true (gtk_widget_get_visible (get_child (window, "open_sample_button")));
  g_assert_true (gtk_widget_is_sensitive (get_child (window, "open_sample_button")));
  g_assert_null (fa_window_get_document (window));

  fa_test_destroy_window (window, WAIT_SECONDS);
}

static void
test_about (void)
{
  FaWindow *window = present_new_window ();
  AdwAboutWindow *about;

  g_assert_null (fa_test_find_toplevel (ADW_TYPE_ABOUT_WINDOW));
  g_action_group_activate_action (G_ACTION_GROUP (app), "about", NULL);
  g_assert_true (wait_for (about_window_is_shown, NULL));

  about = fa_test_find_toplevel (ADW_TYPE_ABOUT_WINDOW);
  g_assert_cmpstr (adw_about_window_get_application_name (about), ==, "FlowAnchor Studio");
  g_assert_cmpstr (adw_about_window_get_version (about), ==, PACKAGE_VERSION);
  g_assert_cmpstr (adw_about_window_get_application_icon (about), ==, FA_APP_ID);
  g_assert_cmpint (adw_about_window_get_license_type (about), ==, GTK_LICENSE_GPL_3_0);
  g_assert_nonnull (adw_about_window_get_developer_name (about));
  g_assert_nonnull (strstr (adw_about_window_get_debug_info (about), PACKAGE_VERSION));
  g_assert_true (gtk_window_get_transient_for (GTK_WINDOW (about)) == GTK_WINDOW (window));

  gtk_window_destroy (GTK_WINDOW (about));
  fa_test_destroy_window (window, WAIT_SECONDS);
}

static void
test_size_restored (void)
{
  g_autoptr (GSettings) settings = g_settings_new (FA_APP_ID);
  FaWindow *window;
  int width, height;

  g_settings_set_int (settings, "window-width", 900);
  g_settings_set_int (settings, "window-height", 600);
  g_settings_set_boolean (settings, "window-maximized", FALSE);

  window = present_new_window ();
  gtk_window_get_default_size (GTK_WINDOW (window), &width, &height);
  g_assert_cmpint (width, ==, 900);
  g_assert_cmpint (height, ==, 600);
  g_assert_false (gtk_window_is_maximized (GTK_WINDOW (window)));

  fa_test_destroy_window (window, WAIT_SECONDS);
}

/* Closing a window writes its size; app.quit closes every window. */
static void
test_size_saved_on_quit (void)
{
  g_autoptr (GSettings) settings = g_settings_new (FA_APP_ID);
  FaWindow *window;
  FaWindow *other;

  g_settings_set_int (settings, "window-width", 900);
  g_settings_set_int (settings, "window-height", 600);

  other = present_new_window ();
  window = present_new_window ();
  gtk_window_set_default_size (GTK_WINDOW (window), 1000, 700);
  /* Close the other one first, so that @window is the last to save. */
  gtk_window_close (GTK_WINDOW (other));
  g_assert_cmpint (g_settings_get_int (settings, "window-width"), ==, 900);

  g_action_group_activate_action (G_ACTION_GROUP (app), "quit", NULL);
  g_assert_true (wait_for (app_has_no_windows, NULL));

  g_assert_cmpint (g_settings_get_int (settings, "window-width"), ==, 1000);
  g_assert_cmpint (g_settings_get_int (settings, "window-height"), ==, 700);
  g_assert_false (g_settings_get_boolean (settings, "window-maximized"));
}


/* ---- the workspace ---- */

static gboolean
window_is_idle (gpointer data)
{
  return !fa_window_get_busy (FA_WINDOW (data));
}

static char *
sample_clip (void)
{
  char *path = fa_window_find_sample_clip ();

  g_assert_nonnull (path);
  return path;
}

/* Opens @path in @window through the same call the Open button ends in. */
static void
open_and_wait (FaWindow   *window,
               const char *path)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);

  fa_window_open_file (window, file);
  g_assert_true (wait_for (window_is_idle, window));
}

static void
drag (FaViewer *viewer,
      double    x0,
      double    y0,
      double    x1,
      double    y1,
      gboolean  alternate)
{
  double wx, wy;
  const int steps = 8;

  fa_viewer_frame_to_widget (viewer, x0, y0, &wx, &wy);
  fa_viewer_pointer_down (viewer, wx, wy, alternate);
  for (int i = 1; i <= steps; i++)
    {
      fa_viewer_frame_to_widget (viewer, x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps, &wx, &wy);
      fa_viewer_pointer_motion (viewer, wx, wy);
    }
  fa_viewer_pointer_up (viewer, wx, wy);
}

static guint8
alpha_at (FaDocument *document,
          int         frame,
          int         x,
          int         y)
{
  return fa_mask_set_peek_frame (fa_document_get_masks (document), frame)[y * fa_document_get_width (document) + x];
}

static guint8 *
copy_frame_mask (FaDocument *document,
                 int         frame)
{
  return g_memdup2 (fa_mask_set_peek_frame (fa_document_get_masks (document), frame),
                    (gsize) fa_document_get_width (document) * fa_document_get_height (document));
}

static void
activate (FaWindow   *window,
          const char *action,
          const char *target)
{
  if (target != NULL)
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), action, "s", target));
  else
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), action, NULL));
}

static AdwMessageDialog *
find_message_dialog (FaWindow *window)
{
  g_autoptr (GList) toplevels = gtk_window_list_toplevels ();

  for (const GList *l = toplevels; l != NULL; l = l->next)
    if (ADW_IS_MESSAGE_DIALOG (l->data) && gtk_widget_get_visible (l->data)
        && gtk_window_get_transient_for (GTK_WINDOW (l->data)) == GTK_WINDOW (window))
      return l->data;
  return NULL;
}

static gboolean
message_dialog_is_shown (gpointer data)
{
  return find_message_dialog (FA_WINDOW (data)) != NULL;
}

static void
answer_dialog (FaWindow   *window,
               const char *response)
{
  AdwMessageDialog *dialog;

  g_assert_true (wait_for (message_dialog_is_shown, window));
  dialog = g_object_ref (find_message_dialog (window));
  g_assert_true (adw_message_dialog_has_response (dialog, response));
  adw_message_dialog_response (dialog, response);
  gtk_window_destroy (GTK_WINDOW (dialog));
  g_object_unref (dialog);
}

/* The whole first workflow: open the sample, paint a stroke and a box,
 * propagate over a short range, save, close, reopen: the same masks, range
 * and tool come back. */
static void
test_paint_propagate_save_reopen (void)
{
  FaWindow *window = present_new_window ();
  g_autofree char *sample = sample_clip ();
  g_autofree char *dir = g_dir_make_tmp ("fa-window-XXXXXX", NULL);
  g_autofree char *project = g_build_filename (dir, "sample edit.fanchor", NULL);
  GtkWidget *title = get_child (window, "window_title");
  FaViewer *viewer = FA_VIEWER (get_child (window, "viewer"));
  FaDocument *document;
  int first, count;

  open_and_wait (window, sample);
  document = fa_window_get_document (window);
  g_assert_nonnull (document);
  g_assert_null (fa_window_get_last_error (window));
  g_assert_cmpint (fa_document_get_n_frames (document), ==, 49);
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (viewer)));
  g_assert_true (wait_for (widget_is_allocated, viewer));
  g_assert_nonnull (fa_viewer_get_renderer_name (viewer));
  g_assert_false (fa_document_get_modified (document));

  /* a brush stroke across the middle of frame 0, then a box lower down */
  activate (window, "win.tool", "brush");
  drag (viewer, 300, 200, 500, 200, FALSE);
  g_assert_cmpuint (alpha_at (document, 0, 400, 200), ==, 255);
  g_assert_cmpuint (alpha_at (document, 0, 400, 120), ==, 0);
  activate (window, "win.tool", "box");
  drag (viewer, 600, 300, 700, 400, FALSE);
  g_assert_cmpuint (alpha_at (document, 0, 650, 350), ==, 255);
  g_assert_cmpuint (alpha_at (document, 0, 580, 350), ==, 0);
  g_assert_true (fa_mask_set_is_keyframe (fa_document_get_masks (document), 0));
  g_assert_true (fa_document_get_modified (document));
  g_assert_true (g_str_has_prefix (adw_window_title_get_title (ADW_WINDOW_TITLE (title)), "•"));

  /* the range: frames 1 … 9, with the O key's action on frame 8 */
  fa_document_set_current_frame (document, 8);
  activate (window, "win.set-out", NULL);
  fa_document_get_range (document, &first, &count);
  g_assert_cmpint (first, ==, 0);
  g_assert_cmpint (count, ==, 9);

  activate (window, "win.propagate", NULL);
  g_assert_true (fa_window_get_busy (window));
  g_assert_true (wait_for (window_is_idle, window));
  g_assert_null (fa_window_get_last_error (window));
  for (int f = 1; f < 9; f++)
    {
      FaFrameMaskState state;
      fa_document_get_frame_mask_state (document, f, &state);
      g_assert_false (state.keyframe);
      g_assert_cmpfloat (state.confidence, >, 0.0f);
      g_assert_cmpfloat (state.coverage, >, 0.005f);
    }
  /* outside the range nothing was propagated */
  g_assert_cmpuint (alpha_at (document, 20, 400, 200), ==, 0);

  g_autofree guint8 *keyframe = copy_frame_mask (document, 0);

  fa_window_save_to (window, project);
  g_assert_true (wait_for (window_is_idle, window));
  g_assert_null (fa_window_get_last_error (window));
  g_assert_true (g_file_test (project, G_FILE_TEST_IS_REGULAR));
  g_assert_false (fa_document_get_modified (document));
  g_assert_cmpstr (adw_window_title_get_title (ADW_WINDOW_TITLE (title)), ==, "sample edit");

  /* nothing unsaved: closing asks nothing */
  fa_test_destroy_window (window, WAIT_SECONDS);

  window = present_new_window ();
  open_and_wait (window, project);
  document = fa_window_get_document (window);
  g_assert_nonnull (document);
  g_assert_cmpstr (fa_document_get_project_path (document), ==, project);
  g_assert_false (fa_document_get_modified (document));
  g_assert_true (fa_mask_set_is_keyframe (fa_document_get_masks (document), 0));
  g_assert_cmpmem (fa_mask_set_peek_frame (fa_document_get_masks (document), 0),
                   fa_document_get_width (document) * fa_document_get_height (document), keyframe,
                   fa_document_get_width (document) * fa_document_get_height (document));
  fa_document_get_range (document, &first, &count);
  g_assert_cmpint (first, ==, 0);
  g_assert_cmpint (count, ==, 9);
  {
    FaDocumentView view;
    fa_document_get_view (document, &view);
    g_assert_cmpint (view.tool, ==, FA_MASK_TOOL_BOX);
    g_assert_true (gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (get_child (window, "box_button"))));
  }
  fa_test_destroy_window (window, WAIT_SECONDS);

  g_unlink (project);
  g_rmdir (dir);
}

static void
test_undo_redo (void)
{
  FaWindow *window = present_new_window ();
  g_autofree char *sample = sample_clip ();
  FaViewer *viewer = FA_VIEWER (get_child (window, "viewer"));
  FaDocument *document;
  gsize size;

  open_and_wait (window, sample);
  document = fa_window_get_document (window);
  g_assert_nonnull (document);
  g_assert_true (wait_for (widget_is_allocated, viewer));
  size = (gsize) fa_document_get_width (document) * fa_document_get_height (document);
  g_assert_false (fa_document_get_can_undo (document));

  g_autofree guint8 *empty = copy_frame_mask (document, 0);
  activate (window, "win.tool", "brush");
  drag (viewer, 100, 100, 200, 150, FALSE);
  g_autofree guint8 *after_stroke = copy_frame_mask (document, 0);
  activate (window, "win.tool", "box");
  drag (viewer, 400, 300, 500, 400, FALSE);
  g_autofree guint8 *after_box = copy_frame_mask (document, 0);
  /* the eraser through the brush tool with Alt */
  activate (window, "win.tool", "brush");
  drag (viewer, 150, 125, 160, 130, TRUE);
  g_assert_cmpuint (alpha_at (document, 0, 155, 127), ==, 0);
  activate (window, "win.clear-frame", NULL);
  g_assert_cmpuint (alpha_at (document, 0, 450, 350), ==, 0);
  g_assert_true (memcmp (empty, after_stroke, size) != 0);
  g_assert_true (memcmp (after_stroke, after_box, size) != 0);

  activate (window, "win.undo", NULL); /* the clear */
  activate (window, "win.undo", NULL); /* the erasing stroke */
  g_assert_cmpmem (fa_mask_set_peek_frame (fa_document_get_masks (document), 0), size, after_box, size);
  activate (window, "win.undo", NULL); /* the box */
  g_assert_cmpmem (fa_mask_set_peek_frame (fa_document_get_masks (document), 0), size, after_stroke, size);
  activate (window, "win.undo", NULL); /* the stroke */
  g_assert_cmpmem (fa_mask_set_peek_frame (fa_document_get_masks (document), 0), size, empty, size);
  g_assert_false (fa_document_get_can_undo (document));
  g_assert_false (fa_mask_set_is_keyframe (fa_document_get_masks (document), 0));

  activate (window, "win.redo", NULL);
  activate (window, "win.redo", NULL);
  g_assert_cmpmem (fa_mask_set_peek_frame (fa_document_get_masks (document), 0), size, after_box, size);
  g_assert_true (fa_document_get_can_redo (document));
  /* a new edit drops what could have been redone */
  drag (viewer, 700, 50, 710, 60, FALSE);
  g_assert_false (fa_document_get_can_redo (document));

  /* unsaved changes: closing asks; Cancel keeps the window, Discard closes it */
  gtk_window_close (GTK_WINDOW (window));
  answer_dialog (window, "cancel");
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (window)));
  g_assert_true (fa_window_get_document (window) == document);
  {
    gpointer weak = window;
    g_object_add_weak_pointer (G_OBJECT (window), &weak);
    gtk_window_close (GTK_WINDOW (window));
    answer_dialog (window, "discard");
    g_assert_true (wait_for (fa_test_pointer_is_cleared, &weak));
  }
}

/* A file that cannot be read leaves the open clip as it was and says why. */
static void
test_unreadable_file (void)
{
  FaWindow *window = present_new_window ();
  g_autofree char *sample = sample_clip ();
  g_autofree char *dir = g_dir_make_tmp ("fa-window-XXXXXX", NULL);
  g_autofree char *bad = g_build_filename (dir, "notes.mp4", NULL);
  GtkStack *stack = GTK_STACK (get_child (window, "main_stack"));
  FaDocument *document;

  g_assert_true (g_file_set_contents (bad, "not a video at all\n", -1, NULL));

  /* on the first-run screen */
  open_and_wait (window, bad);
  g_assert_null (fa_window_get_document (window));
  g_assert_cmpstr (gtk_stack_get_visible_child_name (stack), ==, "empty");
  g_assert_nonnull (fa_window_get_last_error (window));
  g_assert_nonnull (strstr (fa_window_get_last_error (window), "notes.mp4"));
  answer_dialog (window, "close");

  /* with a clip open */
  open_and_wait (window, sample);
  document = fa_window_get_document (window);
  g_assert_nonnull (document);
  fa_document_set_current_frame (document, 7);
  open_and_wait (window, bad);
  g_assert_true (fa_window_get_document (window) == document);
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 7);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (stack), ==, "workspace");
  g_assert_nonnull (strstr (fa_window_get_last_error (window), "notes.mp4"));
  answer_dialog (window, "close");

  fa_test_destroy_window (window, WAIT_SECONDS);
  g_unlink (bad);
  g_rmdir (dir);
}



/* Closing a window while its clip decodes or its masks propagate cancels
 * the work and touches nothing of the window afterwards. */
static void
test_close_while_busy (void)
{
  FaWindow *window = present_new_window ();
  g_autofree char *sample = sample_clip ();
  g_autoptr (GFile) file = g_file_new_for_path (sample);

  fa_window_open_file (window, file);
  g_assert_true (fa_window_get_busy (window));
  fa_test_destroy_window (window, WAIT_SECONDS);

  window = present_new_window ();
  open_and_wait (window, sample);
  g_assert_nonnull (fa_window_get_document (window));
  g_assert_true (fa_document_apply_box (fa_window_get_document (window), 0, 100, 100, 300, 300, FALSE));
  activate (window, "win.propagate", NULL);
  g_assert_true (fa_window_get_busy (window));
  /* unsaved: the question comes first; Discard closes while it runs */
  gtk_window_close (GTK_WINDOW (window));
  {
    gpointer weak = window;
    g_object_add_weak_pointer (G_OBJECT (window), &weak);
    answer_dialog (window, "discard");
    g_assert_true (wait_for (fa_test_pointer_is_cleared, &weak));
  }
}

static gboolean
playhead_past_three (gpointer data)
{
  return fa_document_get_current_frame (FA_DOCUMENT (data)) > 3;
}

static gboolean
wait_200ms (gpointer data)
{
  return g_get_monotonic_time () >= *(gint64 *) data;
}

/* Space's action plays at the clip's rate and pauses; arrows, Home and End step. */
static void
test_play_and_step (void)
{
  FaWindow *window = present_new_window ();
  g_autofree char *sample = sample_clip ();
  FaDocument *document;
  gint64 start, until;
  int frame;

  open_and_wait (window, sample);
  document = fa_window_get_document (window);
  g_assert_nonnull (document);

  start = g_get_monotonic_time ();
  activate (window, "win.play", NULL);
  g_assert_true (wait_for (playhead_past_three, document));
  /* 16 fps: frame 4 comes after 250 ms, not sooner */
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 240 * 1000);
  activate (window, "win.play", NULL);
  frame = fa_document_get_current_frame (document);
  until = g_get_monotonic_time () + 200 * 1000;
  g_assert_true (wait_for (wait_200ms, &until));
  g_assert_cmpint (fa_document_get_current_frame (document), ==, frame);

  activate (window, "win.next-frame", NULL);
  g_assert_cmpint (fa_document_get_current_frame (document), ==, frame + 1);
  activate (window, "win.previous-frame", NULL);
  activate (window, "win.previous-frame", NULL);
  g_assert_cmpint (fa_document_get_current_frame (document), ==, frame - 1);
  activate (window, "win.last-frame", NULL);
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 48);
  activate (window, "win.next-frame", NULL);
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 48);
  activate (window, "win.first-frame", NULL);
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 0);

  /* [ and ] */
  {
    FaDocumentView view;
    fa_document_get_view (document, &view);
    double radius = view.brush_radius;
    activate (window, "win.brush-larger", NULL);
    fa_document_get_view (document, &view);
    g_assert_cmpfloat (view.brush_radius, >, radius);
    activate (window, "win.brush-smaller", NULL);
    activate (window, "win.brush-smaller", NULL);
    fa_document_get_view (document, &view);
    g_assert_cmpfloat (view.brush_radius, <, radius);
  }
  fa_test_destroy_window (window, WAIT_SECONDS);
}

static gboolean
count_tick (GtkWidget     *widget,
            GdkFrameClock *clock,
            gpointer       data)
{
  (*(int *) data)++;
  return G_SOURCE_CONTINUE;
}

static gboolean
ticked_thrice (gpointer data)
{
  return *(int *) data >= 3;
}

/* Lets the window lay itself out and draw a few times. */
static void
wait_frames (GtkWidget *widget)
{
  int ticks = 0;
  guint id = gtk_widget_add_tick_callback (widget, count_tick, &ticks, NULL);

  gtk_widget_queue_draw (widget);
  g_assert_true (wait_for (ticked_thrice, &ticks));
  gtk_widget_remove_tick_callback (widget, id);
}

/* The review picture: the window with the sample and a mask, as a PNG of
 * the window's size. */
static void
test_screenshot (void)
{
  FaWindow *window = present_new_window ();
  g_autofree char *sample = sample_clip ();
  g_autofree char *dir = g_dir_make_tmp ("fa-window-XXXXXX", NULL);
  g_autofree char *png = g_build_filename (dir, "window.png", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GdkTexture) texture = NULL;
  FaDocument *document;

  open_and_wait (window, sample);
  document = fa_window_get_document (window);
  g_assert_nonnull (document);
  g_assert_true (fa_document_apply_box (document, 0, 200, 100, 600, 380, FALSE));
  wait_frames (GTK_WIDGET (window));
  g_assert_true (fa_window_save_screenshot (window, png, &error));
  g_assert_no_error (error);
  texture = gdk_texture_new_from_filename (png, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gdk_texture_get_width (texture), ==, gtk_widget_get_width (GTK_WIDGET (window)));
  g_assert_cmpint (gdk_texture_get_height (texture), ==, gtk_widget_get_height (GTK_WIDGET (window)));

  fa_document_undo (document);
  fa_test_destroy_window (window, WAIT_SECONDS);
  g_unlink (png);
  g_rmdir (dir);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr (GError) error = NULL;
  int ret;

  g_test_init (&argc, &argv, NULL);

  if (!gtk_init_check ())
    {
      g_print ("1..0 # SKIP no display to open\n");
      return 0;
    }

  /* Non-unique: an instance of the real app may be running already, and the
   * cases need this process to be the primary instance. */
  app = fa_application_new ();
  g_application_set_flags (G_APPLICATION (app), G_APPLICATION_NON_UNIQUE);
  g_assert_true (g_application_register (G_APPLICATION (app), NULL, &error));
  g_assert_no_error (error);

  g_test_add_func ("/app/actions", test_actions);
  g_test_add_func ("/app/window/widgets", test_window_widgets);
  g_test_add_func ("/app/about", test_about);
  g_test_add_func ("/app/window/size-restored", test_size_restored);
  g_test_add_func ("/app/workspace/paint-propagate-save-reopen", test_paint_propagate_save_reopen);
  g_test_add_func ("/app/workspace/undo-redo", test_undo_redo);
  g_test_add_func ("/app/workspace/unreadable-file", test_unreadable_file);
  g_test_add_func ("/app/workspace/play-and-step", test_play_and_step);
  g_test_add_func ("/app/workspace/close-while-busy", test_close_while_busy);
  g_test_add_func ("/app/workspace/screenshot", test_screenshot);
  g_test_add_func ("/app/window/size-saved-on-quit", test_size_saved_on_quit);

  ret = g_test_run ();

  g_clear_object (&app);
  return ret;
}
