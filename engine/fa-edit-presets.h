/* fa-edit-presets.h: named sets of edit parameters the side panel offers
 * (Default, Strong edit, Subtle), and what each parameter means, for the
 * panel's rows, tooltips and resets.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "fa-edit.h"

G_BEGIN_DECLS

typedef enum {
  FA_EDIT_PRESET_DEFAULT, /* the spec's defaults (fa_edit_params_init) */
  FA_EDIT_PRESET_STRONG,  /* a bigger change: fewer skipped steps, more target guidance, more SAR and AMM */
  FA_EDIT_PRESET_SUBTLE,  /* stays closer to the source */
  FA_EDIT_N_PRESETS
} FaEditPreset;

/* Applies @preset to @params: only the fields a preset sets (steps, n_max,
 * cfg_source, cfg_target, beta1, beta2, tau, gamma); the seed and the rest
 * stay as they are. */
void        fa_edit_preset_apply (FaEditPreset preset, FaEditParams *params);
/* The preset @params match on those fields, or −1. */
int         fa_edit_preset_find (const FaEditParams *params);
/* "default", "strong", "subtle" (stable ids) and the untranslated name. */
const char *fa_edit_preset_get_id (FaEditPreset preset);
const char *fa_edit_preset_get_name (FaEditPreset preset);

/* Edit strength as the panel shows "skipped steps": n_max / steps, in (0, 1]. */
double      fa_edit_params_get_strength (const FaEditParams *params);

G_END_DECLS
