/* fa-window.c: a FlowAnchor Studio main window.
 *
 * For now the window holds only the empty state; its size and maximized
 * state are saved in GSettings when it closes and restored by the next one.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "fa-window"

#include "config.h"

#include "fa-window.h"

struct _FaWindow
{
  AdwApplicationWindow  parent_instance;

  GSettings            *settings;

  /* template children */
  AdwHeaderBar         *header_bar;
  AdwWindowTitle       *window_title;
  GtkMenuButton        *primary_menu_button;
  AdwStatusPage        *status_page;
  GtkButton            *open_clip_button;
};

G_DEFINE_FINAL_TYPE (FaWindow, fa_window, ADW_TYPE_APPLICATION_WINDOW)

FaWindow *
fa_window_new (FaApplication *application)
{
  g_return_val_if_fail (FA_IS_APPLICATION (application), NULL);

  return g_object_new (FA_TYPE_WINDOW,
                       "application", application,
                       NULL);
}

/* Opening clips does not exist yet. The action is installed now so that the
 * empty state's button (and later a menu item and Ctrl+O) share one
 * sensitivity: it stays disabled, the button shows as insensitive, and the
 * status page says so, rather than offering a button that does nothing. */
static void
fa_window_open_clip_action (GtkWidget  *widget,
                            const char *action_name,
                            GVariant   *parameter)
{
  g_debug ("%s: opening clips is not implemented yet", action_name);
}

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
fa_window_close_request (GtkWindow *window)
{
  FaWindow *self = FA_WINDOW (window);

  fa_window_save_state (self);

  return GTK_WINDOW_CLASS (fa_window_parent_class)->close_request (window);
}

static void
fa_window_dispose (GObject *object)
{
  FaWindow *self = FA_WINDOW (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), FA_TYPE_WINDOW);

  G_OBJECT_CLASS (fa_window_parent_class)->dispose (object);
}

static void
fa_window_finalize (GObject *object)
{
  FaWindow *self = FA_WINDOW (object);

  g_clear_object (&self->settings);

  G_OBJECT_CLASS (fa_window_parent_class)->finalize (object);
}

static void
fa_window_class_init (FaWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = fa_window_dispose;
  object_class->finalize = fa_window_finalize;

  window_class->close_request = fa_window_close_request;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/flowanchor/Studio/ui/fa-window.ui");
  gtk_widget_class_bind_template_child (widget_class, FaWindow, header_bar);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, window_title);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, primary_menu_button);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, status_page);
  gtk_widget_class_bind_template_child (widget_class, FaWindow, open_clip_button);

  gtk_widget_class_install_action (widget_class, "win.open-clip", NULL,
                                   fa_window_open_clip_action);
}

static void
fa_window_init (FaWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.open-clip", FALSE);

  self->settings = g_settings_new (FA_APP_ID);
  fa_window_restore_state (self);
}
