/* fa-edit-presets.c: placeholder until its owner fills it in.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "fa-edit-presets.h"

void fa_edit_preset_apply (FaEditPreset preset, FaEditParams *params) { (void) preset; (void) params; }
int fa_edit_preset_find (const FaEditParams *params) { (void) params; return -1; }
const char *fa_edit_preset_get_id (FaEditPreset preset) { (void) preset; return "default"; }
const char *fa_edit_preset_get_name (FaEditPreset preset) { (void) preset; return "Default"; }
double fa_edit_params_get_strength (const FaEditParams *params) { return (double) params->n_max / params->steps; }
