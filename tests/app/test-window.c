/* test-window.c: the application and its main window under a real display:
 * actions and accelerators, the window's widgets, the About window, and the
 * window size kept in GSettings. (Restoring the maximized state is not
 * checked: without a window manager, Xvfb never maximizes a window.)
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "test-window"

#include "config.h"

#include <string.h>

#include <adwaita.h>

#include "fa-application.h"
#include "fa-window.h"

#define WAIT_SECONDS 10

/* One registered application for every case, as in a running app. */
static FaApplication *app;

typedef gboolean (*Condition) (gpointer data);

/* Runs the main context until @condition holds; FALSE on timeout. */
static gboolean
wait_for (Condition condition,
          gpointer  data)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_SECONDS * G_USEC_PER_SEC;

  while (!condition (data))
    {
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (1000);
    }
  return TRUE;
}

static gboolean
widget_is_mapped (gpointer data)
{
  return gtk_widget_get_mapped (GTK_WIDGET (data));
}

static gboolean
widget_is_allocated (gpointer data)
{
  return gtk_widget_get_width (GTK_WIDGET (data)) > 0;
}

static gboolean
weak_pointer_is_cleared (gpointer data)
{
  return *(gpointer *) data == NULL;
}

static gboolean
app_has_no_windows (gpointer data)
{
  return gtk_application_get_windows (GTK_APPLICATION (app)) == NULL;
}

static AdwAboutWindow *
find_about_window (void)
{
  g_autoptr (GList) toplevels = gtk_window_list_toplevels ();

  for (const GList *l = toplevels; l != NULL; l = l->next)
    if (ADW_IS_ABOUT_WINDOW (l->data) && gtk_widget_get_visible (l->data))
      return l->data;
  return NULL;
}

static gboolean
about_window_is_shown (gpointer data)
{
  AdwAboutWindow *about = find_about_window ();

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
  g_assert_true (wait_for (widget_is_mapped, window));
  g_assert_true (wait_for (widget_is_allocated, window));
  return window;
}

/* Destroys @window and waits until it is finalized. */
static void
destroy_window (FaWindow *window)
{
  gpointer weak = window;

  g_object_add_weak_pointer (G_OBJECT (window), &weak);
  gtk_window_destroy (GTK_WINDOW (window));
  g_assert_true (wait_for (weak_pointer_is_cleared, &weak));
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

  /* The empty state: opening clips does not exist yet, and says so. */
  g_assert_true (ADW_IS_STATUS_PAGE (status_page));
  g_assert_true (gtk_widget_get_mapped (status_page));
  g_assert_cmpstr (adw_status_page_get_title (ADW_STATUS_PAGE (status_page)), ==, "No Clip Open");
  g_assert_nonnull (strstr (adw_status_page_get_description (ADW_STATUS_PAGE (status_page)),
                            "not available"));
  g_assert_cmpstr (gtk_actionable_get_action_name (GTK_ACTIONABLE (open_button)), ==,
                   "win.open-clip");
  g_assert_false (gtk_widget_is_sensitive (open_button));

  destroy_window (window);
}

static void
test_about (void)
{
  FaWindow *window = present_new_window ();
  AdwAboutWindow *about;

  g_assert_null (find_about_window ());
  g_action_group_activate_action (G_ACTION_GROUP (app), "about", NULL);
  g_assert_true (wait_for (about_window_is_shown, NULL));

  about = find_about_window ();
  g_assert_cmpstr (adw_about_window_get_application_name (about), ==, "FlowAnchor Studio");
  g_assert_cmpstr (adw_about_window_get_version (about), ==, PACKAGE_VERSION);
  g_assert_cmpstr (adw_about_window_get_application_icon (about), ==, FA_APP_ID);
  g_assert_cmpint (adw_about_window_get_license_type (about), ==, GTK_LICENSE_GPL_3_0);
  g_assert_nonnull (adw_about_window_get_developer_name (about));
  g_assert_nonnull (strstr (adw_about_window_get_debug_info (about), PACKAGE_VERSION));
  g_assert_true (gtk_window_get_transient_for (GTK_WINDOW (about)) == GTK_WINDOW (window));

  gtk_window_destroy (GTK_WINDOW (about));
  destroy_window (window);
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

  destroy_window (window);
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
  g_test_add_func ("/app/window/size-saved-on-quit", test_size_saved_on_quit);

  ret = g_test_run ();

  g_clear_object (&app);
  return ret;
}
