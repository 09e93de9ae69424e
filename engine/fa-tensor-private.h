/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "fa-tensor.h"

G_BEGIN_DECLS

/* A tensor on memory that @backend allocated and someone else frees (the
 * arena): @destroy runs on @user_data when the last view goes. */
FaTensor *_fa_tensor_new_borrowed (FaBackend *backend, FaDType dtype, int ndim,
                                   const gint64 *shape, gpointer data, GDestroyNotify destroy,
                                   gpointer user_data);

G_END_DECLS
