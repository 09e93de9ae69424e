/* fa-window.h: a FlowAnchor Studio main window.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "fa-application.h"

G_BEGIN_DECLS

#define FA_TYPE_WINDOW (fa_window_get_type ())

G_DECLARE_FINAL_TYPE (FaWindow, fa_window, FA, WINDOW, AdwApplicationWindow)

FaWindow *fa_window_new (FaApplication *application);

G_END_DECLS
