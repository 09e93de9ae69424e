/* fa-mask-history.h: undo and redo over mask edits (brush and eraser
 * strokes, boxes, clears).
 *
 * A step is opened, the frames it is about to change are recorded (their
 * alpha, keyframe flag and confidence as they are before the change), the
 * change is made on the mask set, and the step is closed, which records
 * the same frames as they are after it. Undo puts the recorded frames back
 * as they were before, redo as they were after. Closing a step drops
 * every step that could have been redone. A step that changed nothing is
 * not kept. Propagation is not a step: it only writes frames that are not
 * keyframes, and undoing a keyframe edit makes the propagated frames stale
 * (fa_mask_set_needs_propagation), not wrong.
 *
 * The history holds at most @max_bytes of recorded frames; the oldest
 * steps go first when a new one would not fit (the newest step is always
 * kept, however big).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "fa-mask.h"

G_BEGIN_DECLS

typedef struct _FaMaskHistory FaMaskHistory;

#define FA_MASK_HISTORY_DEFAULT_MAX_BYTES ((gsize) 256 << 20)

/* Borrows @masks, which must outlive the history. */
FaMaskHistory *fa_mask_history_new (FaMaskSet *masks, gsize max_bytes);
void           fa_mask_history_free (FaMaskHistory *history);

/* Opens a step named @label ("Brush Stroke", "Box", "Clear Mask"; shown as
 * "Undo Box"). Steps do not nest: opening one while one is open is a
 * programming error (g_return_if_fail). */
void     fa_mask_history_begin (FaMaskHistory *history, const char *label);
/* Records @frame as it is now, before the open step changes it; a frame
 * recorded twice in one step keeps its first recording. */
void     fa_mask_history_record (FaMaskHistory *history, int frame);
/* Closes the open step. Returns TRUE when it changed something and was kept. */
gboolean fa_mask_history_end (FaMaskHistory *history);
/* Closes the open step and puts its frames back as they were before it, keeping nothing. */
void     fa_mask_history_cancel (FaMaskHistory *history);
gboolean fa_mask_history_is_open (const FaMaskHistory *history);

gboolean    fa_mask_history_can_undo (const FaMaskHistory *history);
gboolean    fa_mask_history_can_redo (const FaMaskHistory *history);
/* The label of the step undo or redo would act on; NULL when there is none. */
const char *fa_mask_history_get_undo_label (const FaMaskHistory *history);
const char *fa_mask_history_get_redo_label (const FaMaskHistory *history);

/* Undoes (redoes) the last (next) step; FALSE when there is none or a step
 * is open. @first_frame and @last_frame (may be NULL) get the range of
 * frames it changed, so that a viewer can go to them. */
gboolean fa_mask_history_undo (FaMaskHistory *history, int *first_frame, int *last_frame);
gboolean fa_mask_history_redo (FaMaskHistory *history, int *first_frame, int *last_frame);

/* Forgets every step (an open one is closed and dropped, its changes kept). */
void     fa_mask_history_clear (FaMaskHistory *history);
/* Bytes of recorded frames now held. */
gsize    fa_mask_history_get_bytes (const FaMaskHistory *history);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaMaskHistory, fa_mask_history_free)

G_END_DECLS
