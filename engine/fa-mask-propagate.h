/* fa-mask-propagate.h: carrying the keyframe masks through the clip by
 * optical flow, forward from each keyframe and backward from the next one,
 * occlusions found by forward–backward consistency, keyframes combined
 * nearest-first, cleaned by a small morphology step.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "fa-backend.h"
#include "fa-clip.h"
#include "fa-flow.h"
#include "fa-mask.h"
#include "fa-progress.h"

G_BEGIN_DECLS

/* Writes the flow from frame @from to frame @to of the clip (fa_flow_compute's
 * convention and layout). */
typedef gboolean (*FaPropagateFlowFunc) (int from, int to, float *flow, gpointer user_data,
                                         GError **error);

typedef struct {
  FaFlowParams flow;
  float consistency_px;  /* forward–backward disagreement (pixels) beyond which a pixel counts as occluded */
  int morphology_radius; /* of the open/close clean-up, pixels; 0 = none */
  /* Moves each propagated outline onto the frame's own colour edge where the
   * colours just inside and just outside it differ clearly (TRUE by
   * default): flow alone lets the outline drift a little at every frame. */
  gboolean refine_outline;
  FaProgressFunc progress; /* frame pairs done of the total */
  gpointer progress_user_data;
  /* Replaces the optical flow (NULL: fa_flow on the backend): tests feed
   * known motion through it to check the propagation by itself. */
  FaPropagateFlowFunc flow_func;
  gpointer flow_user_data;
} FaPropagateOptions;

void fa_propagate_options_init (FaPropagateOptions *options);

/* Fills every frame of @masks that is not a keyframe from the keyframes,
 * with its confidence, and marks the set propagated. @masks has @clip's
 * frame count and size and at least one keyframe. */
gboolean fa_mask_propagate (FaMaskSet *masks, const FaWorkingClip *clip, FaBackend *backend,
                            const FaPropagateOptions *options, GCancellable *cancellable,
                            GError **error);

G_END_DECLS
