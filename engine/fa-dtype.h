/* fa-dtype.h: element types by name.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "fa-kernel-types.h"

G_BEGIN_DECLS

/* "f32", "bf16", …: for messages and the CLI. */
const char *fa_dtype_get_name (FaDType dtype);

/* "F32", "BF16", "F8_E4M3", …: the spelling in safetensors headers. */
const char *fa_dtype_get_safetensors_name (FaDType dtype);
gboolean    fa_dtype_from_safetensors_name (const char *name, FaDType *out_dtype);

G_END_DECLS
