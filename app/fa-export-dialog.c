/* fa-export-dialog.c: placeholder until its owner fills it in.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "FaExportDialog"

#include "fa-export-dialog.h"

struct _FaExportDialog
{
  AdwWindow parent_instance;
};

G_DEFINE_FINAL_TYPE (FaExportDialog, fa_export_dialog, ADW_TYPE_WINDOW)

static void
fa_export_dialog_class_init (FaExportDialogClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/flowanchor/Studio/ui/fa-export-dialog.ui");
}

static void
fa_export_dialog_init (FaExportDialog *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

FaExportDialog *fa_export_dialog_new (GtkWindow *parent, FaDocument *document, guint result_index,
                                      AdwToastOverlay *toast_overlay)
{ (void) document; (void) result_index; (void) toast_overlay;
  return g_object_new (FA_TYPE_EXPORT_DIALOG, "transient-for", parent, NULL); }
void fa_export_dialog_set_path (FaExportDialog *self, const char *path) { (void) self; (void) path; }
const char *fa_export_dialog_get_path (FaExportDialog *self) { (void) self; return NULL; }
void fa_export_dialog_set_options (FaExportDialog *self, FaExportFormat format, FaExportSize size,
                                   int quality, gboolean audio) { (void) self; (void) format; (void) size; (void) quality; (void) audio; }
void fa_export_dialog_start (FaExportDialog *self) { (void) self; }
gboolean fa_export_dialog_get_running (FaExportDialog *self) { (void) self; return FALSE; }
