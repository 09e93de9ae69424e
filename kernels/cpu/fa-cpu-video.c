/* fa-cpu-video.c: channels-last video kernels (placeholder, being written).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "fa-cpu-kernels.h"
