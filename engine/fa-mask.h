/* fa-mask.h: the user's mask: an 8-bit alpha per working frame, drawn with
 * brush and eraser strokes and boxes on any frame (a frame drawn on is a
 * keyframe), filled in elsewhere by propagation (fa-mask-propagate.h);
 * and J/F, the scores it is measured by.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _FaMaskSet FaMaskSet;

/* All frames empty (0), no keyframes, confidence 0. */
FaMaskSet *fa_mask_set_new (int n_frames, int width, int height, GError **error);
FaMaskSet *fa_mask_set_copy (const FaMaskSet *masks);
void       fa_mask_set_free (FaMaskSet *masks);

int fa_mask_set_get_n_frames (const FaMaskSet *masks);
int fa_mask_set_get_width (const FaMaskSet *masks);
int fa_mask_set_get_height (const FaMaskSet *masks);

/* width × height alpha of @frame: 0 outside, 255 inside, between on soft edges. */
guint8       *fa_mask_set_get_frame (FaMaskSet *masks, int frame);
const guint8 *fa_mask_set_peek_frame (const FaMaskSet *masks, int frame);

gboolean fa_mask_set_is_keyframe (const FaMaskSet *masks, int frame);
/* Turns @frame back into a propagated frame (its alpha stays until the next propagation). */
void     fa_mask_set_unset_keyframe (FaMaskSet *masks, int frame);
/* The keyframes in ascending order; returns how many (≤ n_frames) were written to @frames (may be NULL). */
int      fa_mask_set_list_keyframes (const FaMaskSet *masks, int *frames);

/* 1 on keyframes; for a propagated frame how far to trust it, in [0, 1];
 * 0 where nothing has been propagated yet. */
float fa_mask_set_get_confidence (const FaMaskSet *masks, int frame);
void  fa_mask_set_set_confidence (FaMaskSet *masks, int frame, float confidence);

/* Goes up on every change to a keyframe; propagation records the value it
 * ran at, so the masks are stale when the two differ. */
guint64  fa_mask_set_get_keyframe_serial (const FaMaskSet *masks);
gboolean fa_mask_set_needs_propagation (const FaMaskSet *masks);
void     fa_mask_set_mark_propagated (FaMaskSet *masks);

typedef struct {
  float x, y; /* working-frame pixels, continuous: pixel (i, j) has its centre at (i + 0.5, j + 0.5) */
} FaMaskPoint;

typedef struct {
  const FaMaskPoint *points; /* a polyline; a single point is one dab */
  int n_points;
  float radius;   /* pixels, > 0 */
  float hardness; /* [0, 1]: the inner hardness·radius is at full strength, the rest falls off smoothly to 0 at the radius */
  gboolean erase; /* lower the alpha instead of raising it */
} FaMaskStroke;

/* Brush: alpha = max(alpha, coverage); eraser: alpha = min(alpha, 255 − coverage).
 * Either makes @frame a keyframe. Errors: a frame out of range, a radius
 * ≤ 0 or not finite, hardness outside [0, 1], no points, a non-finite point. */
gboolean fa_mask_set_apply_stroke (FaMaskSet *masks, int frame, const FaMaskStroke *stroke,
                                   GError **error);
/* Fills (or with @erase clears) the pixels of [x, x+w) × [y, y+h) clipped to
 * the frame; makes @frame a keyframe. w, h > 0. */
gboolean fa_mask_set_apply_box (FaMaskSet *masks, int frame, int x, int y, int w, int h,
                                gboolean erase, GError **error);
/* Replaces @frame's alpha with @alpha (width × height) and makes it a keyframe. */
gboolean fa_mask_set_set_keyframe (FaMaskSet *masks, int frame, const guint8 *alpha,
                                   GError **error);

/* Scales one alpha plane by nearest neighbour, pixel centre to pixel
 * centre: @src (@src_width × @src_height) into @dst (@width × @height). */
void fa_mask_scale_nearest (const guint8 *src, int src_width, int src_height, guint8 *dst, int width,
                            int height);

/* ---- scores (DAVIS conventions; a pixel is inside when alpha ≥ 128) ---- */

/* Region similarity J: |A ∩ B| / |A ∪ B|; 1 when both are empty. */
double fa_mask_jaccard (const guint8 *a, const guint8 *b, int width, int height);
/* Boundary F: the F-measure of boundary precision and recall, boundary
 * pixels matching within @tolerance_px (≤ 0: DAVIS's 0.008 × the image
 * diagonal, rounded up); 1 when both are empty. */
double fa_mask_boundary_f (const guint8 *a, const guint8 *b, int width, int height,
                           double tolerance_px);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaMaskSet, fa_mask_set_free)

G_END_DECLS
