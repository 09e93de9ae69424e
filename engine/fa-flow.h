/* fa-flow.h: dense optical flow, ours, on the CPU and on CUDA: DIS-style
 * coarse-to-fine inverse search over patches, densification, and
 * variational refinement (Kroeger et al. 2016).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "fa-backend.h"

G_BEGIN_DECLS

typedef enum {
  FA_FLOW_PRESET_FAST,
  FA_FLOW_PRESET_MEDIUM, /* the default */
  FA_FLOW_PRESET_FINE,
} FaFlowPreset;

typedef struct {
  int finest_scale;     /* pyramid level where the patch search stops (0 = full size) */
  int patch_size;       /* pixels on a side */
  int patch_stride;     /* pixels between patch origins */
  int gd_iterations;    /* inverse-search iterations per patch per level */
  int var_iterations;   /* variational refinement iterations per level (0 = none) */
  float var_alpha;      /* smoothness weight */
  float var_delta;      /* colour-constancy weight */
  float var_gamma;      /* gradient-constancy weight */
} FaFlowParams;

void fa_flow_params_init (FaFlowParams *params, FaFlowPreset preset);

typedef struct _FaFlow FaFlow;

/* Plans every buffer for frames of @width × @height on @backend once;
 * computing a flow allocates nothing. @params NULL: the medium preset. */
FaFlow  *fa_flow_new (FaBackend *backend, int width, int height, const FaFlowParams *params,
                      GError **error);
/* The flow from @frame0 to @frame1 (packed RGB, the planned size):
 *   frame0(x, y) ≈ frame1(x + flow[y][x][0], y + flow[y][x][1])
 * written to @flow, host memory of height × width × 2 floats. */
gboolean fa_flow_compute (FaFlow *flow, const guint8 *frame0, const guint8 *frame1, float *out,
                          GError **error);
void     fa_flow_free (FaFlow *flow);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaFlow, fa_flow_free)

G_END_DECLS
