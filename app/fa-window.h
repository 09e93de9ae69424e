/* fa-window.h: a FlowAnchor Studio main window: one open edit (a clip or
 * a project) with its viewer, side panel and timeline.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "fa-application.h"
#include "fa-document.h"

G_BEGIN_DECLS

#define FA_TYPE_WINDOW (fa_window_get_type ())

G_DECLARE_FINAL_TYPE (FaWindow, fa_window, FA, WINDOW, AdwApplicationWindow)

FaWindow   *fa_window_new (FaApplication *application);

/* Opens a clip or a project in this window: what the Open button, drag and
 * drop, the recent list and the command line all end in. With unsaved
 * changes it asks first. The clip decodes in the background; until it has,
 * the window keeps what it showed, and if it cannot be opened the window
 * stays as it was and a dialog gives the engine's reason. */
void        fa_window_open_file (FaWindow *self, GFile *file);
/* The bundled sample clip (NULL when it is not installed). */
char       *fa_window_find_sample_clip (void);

/* The open document (NULL on the first-run screen). Property "document". */
FaDocument *fa_window_get_document (FaWindow *self);
/* An open, a propagation or a save is running. Property "busy". */
gboolean    fa_window_get_busy (FaWindow *self);

/* Saves to @path, as Save As does after its dialog (tests). */
void        fa_window_save_to (FaWindow *self, const char *path);

/* The last error shown to the user (NULL when none): tests check it. */
const char *fa_window_get_last_error (FaWindow *self);

/* Renders the window as it is now to a PNG file (--screenshot). */
/* Whether the window's action @action ("win.preview") is enabled now. */
gboolean    fa_window_get_action_enabled (FaWindow *self, const char *action);
gboolean    fa_window_save_screenshot (FaWindow *self, const char *path, GError **error);

G_END_DECLS
