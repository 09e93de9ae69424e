/* fa-timeline.h: the timeline under the viewer: thumbnails of the working
 * clip, the working range (in and out points, its frame count), keyframe
 * markers, each frame's mask coverage and confidence, the playhead, and a
 * band for job progress (propagation now, the edit in part 2).
 *
 * Click to jump, drag to scrub (the document's current frame follows);
 * dragging a range edge moves that in or out point. Keys are the window's
 * actions (Left/Right, Home/End, I/O, Space).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "fa-document.h"

G_BEGIN_DECLS

#define FA_TYPE_TIMELINE (fa_timeline_get_type ())
G_DECLARE_FINAL_TYPE (FaTimeline, fa_timeline, FA, TIMELINE, GtkWidget)

GtkWidget  *fa_timeline_new (void);

/* Property "document" (may be NULL: an empty timeline). */
void        fa_timeline_set_document (FaTimeline *self, FaDocument *document);
FaDocument *fa_timeline_get_document (FaTimeline *self);

/* The progress band: @fraction in [0, 1] with @label ("Propagating masks"),
 * drawn over the frames it covers [@first_frame, @last_frame]; a negative
 * @fraction hides it. */
void        fa_timeline_set_progress (FaTimeline *self, double fraction, const char *label,
                                      int first_frame, int last_frame);

/* Between frames and widget x (the centre of the frame's slot), for the
 * gestures and for tests. */
int         fa_timeline_frame_at (FaTimeline *self, double x);
double      fa_timeline_x_for_frame (FaTimeline *self, int frame);

/* What the gestures call (widget coordinates): a press on a range edge
 * grabs it, elsewhere it jumps the playhead there; motion scrubs or moves
 * the grabbed edge; release lets go. */
void        fa_timeline_pointer_down (FaTimeline *self, double x, double y);
void        fa_timeline_pointer_motion (FaTimeline *self, double x, double y);
void        fa_timeline_pointer_up (FaTimeline *self, double x, double y);

G_END_DECLS
