/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "fa-error.h"

G_DEFINE_QUARK (fa-error-quark, fa_error)
