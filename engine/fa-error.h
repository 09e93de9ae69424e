/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define FA_ERROR (fa_error_quark ())

typedef enum {
  FA_ERROR_INVALID_ARGUMENT, /* a caller passed something the API does not take */
  FA_ERROR_SHAPE,            /* tensor shapes do not fit the operation */
  FA_ERROR_DTYPE,            /* a dtype the operation or backend does not take */
  FA_ERROR_DEVICE,           /* tensors on different devices, or the wrong one */
  FA_ERROR_CORRUPT_FILE,     /* a file is not what its format says it must be */
  FA_ERROR_NOT_FOUND,        /* a tensor, file or component is missing */
  FA_ERROR_OUT_OF_MEMORY,    /* host, device or arena memory ran out */
  FA_ERROR_BACKEND,          /* the CUDA runtime or cuBLAS failed */
  FA_ERROR_UNSUPPORTED,      /* valid input this build cannot handle */
} FaError;

GQuark fa_error_quark (void);

G_END_DECLS
