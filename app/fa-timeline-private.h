/* fa-timeline-private.h: the timeline's geometry and colours, for its tests.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "fa-timeline.h"

G_BEGIN_DECLS

/* The rows, top to bottom, in widget pixels; their heights are fixed so
 * that the layout does not jump when the progress band appears. */
#define FA_TIMELINE_PROGRESS_Y 2
#define FA_TIMELINE_PROGRESS_H 14
#define FA_TIMELINE_RULER_Y    18
#define FA_TIMELINE_RULER_H    18
#define FA_TIMELINE_THUMBS_Y   36
#define FA_TIMELINE_THUMBS_H   54
#define FA_TIMELINE_MASKS_Y    92
#define FA_TIMELINE_MASKS_H    24
#define FA_TIMELINE_HEIGHT     120

/* Room left and right of the frames, so that a range edge at the clip's
 * first or last frame can still be grabbed. */
#define FA_TIMELINE_MARGIN     8
/* How near (in pixels) a press must be to a range edge to grab it. */
#define FA_TIMELINE_EDGE_GRAB  6

/* The frame whose thumbnail is drawn at widget x (-1 outside the strip or
 * without a document). */
int      fa_timeline_get_thumbnail_frame (FaTimeline *self, double x);
/* Whether the progress band is shown. */
gboolean fa_timeline_get_progress_visible (FaTimeline *self);
/* The band's fraction (< 0 when hidden) and its label (may be NULL). */
double   fa_timeline_get_progress (FaTimeline *self, const char **label);
/* The mask strip's bar colour for @confidence in [0, 1]: red, amber, green. */
void     fa_timeline_confidence_color (double confidence, gboolean dark, GdkRGBA *color);

G_END_DECLS
