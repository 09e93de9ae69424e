/* fa-results-list.c: placeholder until its owner fills it in.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "FaResultsList"

#include "fa-results-list.h"

struct _FaResultsList
{
  GtkWidget parent_instance;
};

G_DEFINE_FINAL_TYPE (FaResultsList, fa_results_list, GTK_TYPE_WIDGET)

static void
fa_results_list_class_init (FaResultsListClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/flowanchor/Studio/ui/fa-results-list.ui");
}

static void
fa_results_list_init (FaResultsList *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *fa_results_list_new (void) { return g_object_new (FA_TYPE_RESULTS_LIST, NULL); }
void fa_results_list_set_document (FaResultsList *self, FaDocument *document) { (void) self; (void) document; }
guint fa_results_list_get_n_rows (FaResultsList *self) { (void) self; return 0; }
void fa_results_list_activate_row (FaResultsList *self, guint row) { (void) self; (void) row; }
