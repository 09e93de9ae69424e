/* placeholder, being written
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "fa-wan-vae-private.h"
