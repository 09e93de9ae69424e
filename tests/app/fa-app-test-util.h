/* fa-app-test-util.h: what the app tests share: waiting for a widget to
 * be mapped or an object to be finalized, destroying a window and waiting
 * for the end of it, finding a shown toplevel by its type, and a window
 * open on the sample clip.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "fa-test-util.h"
#include "fa-window.h"

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

static inline gboolean
fa_test_document_is_open (gpointer window)
{
  return fa_window_get_document (window) != NULL && !fa_window_get_busy (window);
}

/* A 1280×800 window of @app shown with the sample clip open in it (each
 * step within @seconds). */
static inline FaWindow *
fa_test_open_sample_window (FaApplication *app, int seconds)
{
  FaWindow *window = fa_window_new (app);
  g_autofree char *sample = fa_window_find_sample_clip ();

  g_assert_nonnull (sample);
  gtk_window_set_default_size (GTK_WINDOW (window), 1280, 800);
  gtk_window_present (GTK_WINDOW (window));
  g_assert_true (fa_test_wait_for (fa_test_widget_is_mapped, window, seconds));
  g_autoptr (GFile) file = g_file_new_for_path (sample);
  fa_window_open_file (window, file);
  g_assert_true (fa_test_wait_for (fa_test_document_is_open, window, seconds));
  return window;
}
