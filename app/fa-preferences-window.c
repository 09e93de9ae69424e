/* fa-preferences-window.c: placeholder until its owner fills it in.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "FaPreferencesWindow"

#include "fa-preferences-window.h"

struct _FaPreferencesWindow
{
  AdwPreferencesWindow parent_instance;
};

G_DEFINE_FINAL_TYPE (FaPreferencesWindow, fa_preferences_window, ADW_TYPE_PREFERENCES_WINDOW)

static void
fa_preferences_window_class_init (FaPreferencesWindowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/flowanchor/Studio/ui/fa-preferences-window.ui");
}

static void
fa_preferences_window_init (FaPreferencesWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

FaPreferencesWindow *fa_preferences_window_new (GtkWindow *parent)
{ return g_object_new (FA_TYPE_PREFERENCES_WINDOW, "transient-for", parent, NULL); }
const FaModelReport *fa_preferences_window_get_report (FaPreferencesWindow *self) { (void) self; return NULL; }
gboolean fa_preferences_window_get_checking (FaPreferencesWindow *self) { (void) self; return FALSE; }
