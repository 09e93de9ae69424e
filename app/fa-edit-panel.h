/* fa-edit-panel.h: the edit part of the side panel: the source and target
 * prompts (the target words SAR anchors on highlighted; clicking a word
 * toggles it), the negative prompt under Advanced, the parameters as rows
 * with default, reset and tooltip, the presets, and the Preview and Edit
 * buttons (actions win.preview, win.edit). Bound to a document's edit
 * settings (fa-document-edit.h) both ways.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "fa-document.h"
#include "fa-edit-presets.h"

G_BEGIN_DECLS

#define FA_TYPE_EDIT_PANEL (fa_edit_panel_get_type ())
G_DECLARE_FINAL_TYPE (FaEditPanel, fa_edit_panel, FA, EDIT_PANEL, GtkWidget)

GtkWidget     *fa_edit_panel_new (void);
void           fa_edit_panel_set_document (FaEditPanel *self, FaDocument *document);
FaDocument    *fa_edit_panel_get_document (FaEditPanel *self);

/* For tests and the window: the prompt buffers (typing into them is what
 * a user does; the document follows at once). */
GtkTextBuffer *fa_edit_panel_get_source_buffer (FaEditPanel *self);
GtkTextBuffer *fa_edit_panel_get_target_buffer (FaEditPanel *self);
/* The target prompt's words (split as fa_edit_changed_words splits them)
 * and whether each is a target word now. */
char         **fa_edit_panel_dup_words (FaEditPanel *self);
gboolean       fa_edit_panel_word_is_target (FaEditPanel *self, guint word);
/* What a click on word @word does. */
void           fa_edit_panel_toggle_word (FaEditPanel *self, guint word);
void           fa_edit_panel_apply_preset (FaEditPanel *self, FaEditPreset preset);
/* Sets the prompts text field focus (win.focus-prompt, Ctrl+L). */
void           fa_edit_panel_focus_prompt (FaEditPanel *self);

G_END_DECLS
