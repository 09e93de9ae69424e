/* fa-synthetic.h: test clips with exact ground truth: textured shapes that
 * translate, rotate, scale and pass behind each other over a moving
 * textured background. Tests and benchmarks measure flow and mask
 * propagation against them.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "fa-clip.h"

G_BEGIN_DECLS

typedef enum {
  FA_SYNTH_TRANSLATE, /* the tracked shape and a second one move in straight lines */
  FA_SYNTH_ROTATE,    /* the tracked shape turns about its centre while drifting */
  FA_SYNTH_SCALE,     /* the tracked shape grows and shrinks */
  FA_SYNTH_OCCLUDE,   /* another shape passes in front of the tracked one */
} FaSynthMotion;

typedef struct {
  FaSynthMotion motion;
  int width, height; /* 832 × 480 by default */
  int n_frames;      /* 81 by default */
  int fps;           /* 16 by default */
  guint32 seed;      /* textures and paths; the same seed gives the same clip */
} FaSynthOptions;

void fa_synth_options_init (FaSynthOptions *options);

typedef struct _FaSynthClip FaSynthClip;

FaSynthClip *fa_synth_clip_new (const FaSynthOptions *options, GError **error);
void         fa_synth_clip_free (FaSynthClip *synth);

/* The rendered frames (no source, identity geometry). */
const FaWorkingClip *fa_synth_clip_get_clip (const FaSynthClip *synth);
/* Ground truth of frame @frame: 255 where the tracked shape is visible, else 0. */
const guint8 *fa_synth_clip_get_mask (const FaSynthClip *synth, int frame);
/* The exact flow from frame @frame to @frame + 1 of the surface visible at
 * each pixel of @frame (height × width × 2, fa_flow_compute's convention),
 * and in @valid (may be NULL) 1 where that point is still visible in frame
 * @frame + 1, else 0 (occluded or out of the frame). */
void          fa_synth_clip_get_flow (const FaSynthClip *synth, int frame, float *flow,
                                      guint8 *valid);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaSynthClip, fa_synth_clip_free)

G_END_DECLS
