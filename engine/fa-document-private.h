/* fa-document-private.h: what fa-document.c and fa-document-edit.c share.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "fa-document-edit.h"

G_BEGIN_DECLS

/* One result's frames as loaded (index-aligned with the project's results). */
typedef struct {
  FaWorkingClip *clip;   /* NULL until loaded */
  GError *error;         /* why it could not be loaded */
  gboolean loading;
} FaDocumentResultFrames;

typedef struct {
  int current_result;    /* −1: none */
  GPtrArray *frames;     /* of FaDocumentResultFrames*, one per project result */
  GCancellable *loading; /* cancelled at finalize */
} FaDocumentEditState;

void                 _fa_document_edit_state_clear (FaDocumentEditState *state);
FaDocumentEditState *_fa_document_get_edit_state (FaDocument *self);
void                 _fa_document_emit_edit_changed (FaDocument *self);
void                 _fa_document_emit_results_changed (FaDocument *self);
void                 _fa_document_notify_current_result (FaDocument *self);

G_END_DECLS
