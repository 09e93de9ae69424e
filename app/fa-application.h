/* fa-application.h: the FlowAnchor Studio application.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "fa-backend.h"

G_BEGIN_DECLS

#define FA_TYPE_APPLICATION (fa_application_get_type ())

G_DECLARE_FINAL_TYPE (FaApplication, fa_application, FA, APPLICATION, AdwApplication)

FaApplication *fa_application_new (void);
/* A description of the compute backend the engine picked, or NULL until
 * the probe started on first activation has finished. */
const char    *fa_application_get_backend_description (FaApplication *self);
/* The backend work runs on: the one the probe picked, or the CPU backend
 * while the probe has not finished. Owned by the application. */
FaBackend     *fa_application_get_backend (FaApplication *self);
/* 1 after a --screenshot run failed, else 0. */
int            fa_application_get_exit_status (FaApplication *self);

G_END_DECLS
