/* fa-app-test-util.h: what the app tests share: waiting for a widget to
 * be mapped or an object to be finalized, destroying a window and waiting
 * for the end of it, and finding a shown toplevel by its type.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "fa-test-util.h"

/* Conditions for fa_test_wait_for. */
static inline gboolean
fa_test_widget_is_mapped (gpointer widget)
{
  return gtk_widget_get_mapped (GTK_WIDGET (widget));
}

/* @location: a weak pointer (gpointer *) */
static inline gboolean
fa_test_pointer_is_cleared (gpointer location)
{
  return *(gpointer *) location == NULL;
}

/* Destroys @window and runs the main context until it is finalized (at
 * most @seconds), so that nothing of it is left for the next case. */
static inline void
fa_test_destroy_window (gpointer window, int seconds)
{
  gpointer weak = window;

  g_object_add_weak_pointer (G_OBJECT (window), &weak);
  gtk_window_destroy (GTK_WINDOW (window));
  g_assert_true (fa_test_wait_for (fa_test_pointer_is_cleared, &weak, seconds));
}

/* The first visible toplevel of @type (a dialog the code under test
 * opened), or NULL. */
static inline gpointer
fa_test_find_toplevel (GType type)
{
  g_autoptr (GList) toplevels = gtk_window_list_toplevels ();

  for (const GList *l = toplevels; l != NULL; l = l->next)
    if (G_TYPE_CHECK_INSTANCE_TYPE (l->data, type) && gtk_widget_get_visible (l->data))
      return l->data;
  return NULL;
}
