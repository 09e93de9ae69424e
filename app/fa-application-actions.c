/* fa-application-actions.c: the app.* actions and their accelerators.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "fa-application-actions"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "fa-application-private.h"
#include "fa-window.h"

static char *
fa_application_dup_debug_info (FaApplication *self)
{
  const char *backend = fa_application_get_backend_description (self);
  GString *info = g_string_new (NULL);

  g_string_append_printf (info, "FlowAnchor Studio %s\n", PACKAGE_VERSION);
  g_string_append_printf (info, "GLib %u.%u.%u\n",
                          glib_major_version, glib_minor_version, glib_micro_version);
  g_string_append_printf (info, "GTK %u.%u.%u\n",
                          gtk_get_major_version (), gtk_get_minor_version (),
                          gtk_get_micro_version ());
  g_string_append_printf (info, "libadwaita %u.%u.%u\n",
                          adw_get_major_version (), adw_get_minor_version (),
                          adw_get_micro_version ());
  g_string_append_printf (info, "Compute backend: %s\n",
                          backend != NULL ? backend : "not chosen yet");

  return g_string_free (info, FALSE);
}

static void
fa_application_actions_about (GSimpleAction *action,
                              GVariant      *parameter,
                              gpointer       user_data)
{
  FaApplication *self = FA_APPLICATION (user_data);
  g_autofree char *debug_info = fa_application_dup_debug_info (self);
  const char *translators = _("translator-credits");
  GtkWindow *parent;
  AdwAboutWindow *about;

  parent = gtk_application_get_active_window (GTK_APPLICATION (self));

  about = g_object_new (ADW_TYPE_ABOUT_WINDOW,
                        "transient-for", parent,
                        "application-name", _("FlowAnchor Studio"),
                        "application-icon", FA_APP_ID,
                        "version", PACKAGE_VERSION,
                        "developer-name", _("The FlowAnchor developers"),
                        "comments", _("Edit video clips with a text-to-video model, "
                                      "running on your own computer."),
                        "copyright", _("© 2026 The FlowAnchor developers"),
                        "license-type", GTK_LICENSE_GPL_3_0,
                        "debug-info", debug_info,
                        "debug-info-filename", "flowanchor-studio-debug-info.txt",
                        NULL);

  /* Untranslated, gettext hands back the msgid itself. */
  if (strcmp (translators, "translator-credits") != 0)
    adw_about_window_set_translator_credits (about, translators);

  gtk_window_present (GTK_WINDOW (about));
}

static void
fa_application_actions_preferences (GSimpleAction *action,
                                    GVariant      *parameter,
                                    gpointer       user_data)
{
  fa_application_show_preferences (FA_APPLICATION (user_data), NULL);
}

static void
fa_application_actions_new_window (GSimpleAction *action,
                                   GVariant      *parameter,
                                   gpointer       user_data)
{
  FaApplication *self = FA_APPLICATION (user_data);

  gtk_window_present (GTK_WINDOW (fa_window_new (self)));
}

/* Closing the windows, rather than calling g_application_quit(), lets each
 * one save its state (and, later, ask about unsaved edits); the application
 * exits when the last one is gone. */
static void
fa_application_actions_quit (GSimpleAction *action,
                             GVariant      *parameter,
                             gpointer       user_data)
{
  FaApplication *self = FA_APPLICATION (user_data);
  GList *windows;

  windows = g_list_copy (gtk_application_get_windows (GTK_APPLICATION (self)));
  for (GList *l = windows; l != NULL; l = l->next)
    g_object_ref (l->data);

  for (const GList *l = windows; l != NULL; l = l->next)
    {
      GtkWindow *window = l->data;

      if (gtk_widget_get_realized (GTK_WIDGET (window)))
        gtk_window_close (window);
      else
        gtk_window_destroy (window);
    }

  g_list_free_full (windows, g_object_unref);
}

static const GActionEntry actions[] = {
  { "about", fa_application_actions_about },
  { "new-window", fa_application_actions_new_window },
  { "preferences", fa_application_actions_preferences },
  { "quit", fa_application_actions_quit },
};

static const struct
{
  const char *action;
  const char *accels[2];
} accels[] = {
  { "app.new-window", { "<Control>n", NULL } },
  { "app.preferences", { "<Control>comma", NULL } },
  { "app.quit", { "<Control>q", NULL } },
  { "window.close", { "<Control>w", NULL } },
  { "win.open", { "<Control>o", NULL } },
  { "win.save", { "<Control>s", NULL } },
  { "win.save-as", { "<Control><Shift>s", NULL } },
  { "win.undo", { "<Control>z", NULL } },
  { "win.redo", { "<Control><Shift>z", NULL } },
  { "win.propagate", { "<Control><Shift>p", NULL } },
  { "win.preview", { "<Control>p", NULL } },
  { "win.edit", { "<Control>Return", NULL } },
  { "win.export", { "<Control>e", NULL } },
  { "win.focus-prompt", { "<Control>l", NULL } },
};

void
_fa_application_actions_init (FaApplication *self)
{
  g_return_if_fail (FA_IS_APPLICATION (self));

  g_action_map_add_action_entries (G_ACTION_MAP (self), actions, G_N_ELEMENTS (actions), self);

  for (gsize i = 0; i < G_N_ELEMENTS (accels); i++)
    gtk_application_set_accels_for_action (GTK_APPLICATION (self),
                                           accels[i].action, accels[i].accels);
}
