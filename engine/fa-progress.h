/* fa-progress.h: the progress callback long engine work reports through.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

/* Called from the thread doing the work, @done of @total units finished
 * (the units are the caller's: frames, frame pairs, chunks). A GTK caller
 * posts it to its main context itself. */
typedef void (*FaProgressFunc) (guint done, guint total, gpointer user_data);
