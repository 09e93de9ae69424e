/* fa-edit-panel.c: placeholder until its owner fills it in.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "FaEditPanel"

#include "fa-edit-panel.h"

struct _FaEditPanel
{
  GtkWidget parent_instance;
};

G_DEFINE_FINAL_TYPE (FaEditPanel, fa_edit_panel, GTK_TYPE_WIDGET)

static void
fa_edit_panel_class_init (FaEditPanelClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/flowanchor/Studio/ui/fa-edit-panel.ui");
}

static void
fa_edit_panel_init (FaEditPanel *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *fa_edit_panel_new (void) { return g_object_new (FA_TYPE_EDIT_PANEL, NULL); }
void fa_edit_panel_set_document (FaEditPanel *self, FaDocument *document) { (void) self; (void) document; }
FaDocument *fa_edit_panel_get_document (FaEditPanel *self) { (void) self; return NULL; }
GtkTextBuffer *fa_edit_panel_get_source_buffer (FaEditPanel *self) { (void) self; return NULL; }
GtkTextBuffer *fa_edit_panel_get_target_buffer (FaEditPanel *self) { (void) self; return NULL; }
char **fa_edit_panel_dup_words (FaEditPanel *self) { (void) self; return NULL; }
gboolean fa_edit_panel_word_is_target (FaEditPanel *self, guint word) { (void) self; (void) word; return FALSE; }
void fa_edit_panel_toggle_word (FaEditPanel *self, guint word) { (void) self; (void) word; }
void fa_edit_panel_apply_preset (FaEditPanel *self, FaEditPreset preset) { (void) self; (void) preset; }
void fa_edit_panel_focus_prompt (FaEditPanel *self) { (void) self; }
