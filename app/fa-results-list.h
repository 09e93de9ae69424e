/* fa-results-list.h: the results of a document's previews and edits, newest
 * first, each with its kind, target prompt, time and the parameters that
 * differ from the defaults; choosing one makes it current (the viewer
 * shows it), and each row offers Export… (action win.export-result with the
 * result's index).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "fa-document.h"

G_BEGIN_DECLS

#define FA_TYPE_RESULTS_LIST (fa_results_list_get_type ())
G_DECLARE_FINAL_TYPE (FaResultsList, fa_results_list, FA, RESULTS_LIST, GtkWidget)

GtkWidget  *fa_results_list_new (void);
void        fa_results_list_set_document (FaResultsList *self, FaDocument *document);
/* Rows shown (tests), and choosing row @row (0 = newest) as a click does. */
guint       fa_results_list_get_n_rows (FaResultsList *self);
void        fa_results_list_activate_row (FaResultsList *self, guint row);

G_END_DECLS
