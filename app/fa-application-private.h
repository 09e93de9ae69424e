/* fa-application-private.h: what FaApplication's files share.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "fa-application.h"

G_BEGIN_DECLS

void _fa_application_actions_init (FaApplication *self);

G_END_DECLS
