/* fa-export-dialog.h: exporting a result: format (MP4 or WebM), size
 * (working size, or source size with the edit composited through the
 * mask), quality, audio on or off, the file name; progress, then a toast
 * on the parent window with an action that opens the containing folder.
 * A failure shows the engine's message and leaves nothing half-written
 * (fa_export writes beside the target and renames).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "fa-document.h"
#include "fa-export.h"

G_BEGIN_DECLS

#define FA_TYPE_EXPORT_DIALOG (fa_export_dialog_get_type ())
G_DECLARE_FINAL_TYPE (FaExportDialog, fa_export_dialog, FA, EXPORT_DIALOG, AdwWindow)

/* A dialog exporting result @result_index of @document (its frames load
 * first if needed). @toast_overlay (may be NULL) gets the "Exported" toast. */
FaExportDialog *fa_export_dialog_new (GtkWindow *parent, FaDocument *document, guint result_index,
                                      AdwToastOverlay *toast_overlay);

/* What the controls hold, and setting them (tests drive the dialog so). */
void            fa_export_dialog_set_path (FaExportDialog *self, const char *path);
const char     *fa_export_dialog_get_path (FaExportDialog *self);
void            fa_export_dialog_set_options (FaExportDialog *self, FaExportFormat format, FaExportSize size,
                                              int quality, gboolean audio);
/* The Export button: runs fa_export on a worker thread. */
void            fa_export_dialog_start (FaExportDialog *self);
/* Signal "finished" (const char *path_or_null, const char *error_message_or_null):
 * after success (the dialog then closes), failure (it stays open, showing
 * the message) or cancel (both NULL). Property "running". */
gboolean        fa_export_dialog_get_running (FaExportDialog *self);

G_END_DECLS
