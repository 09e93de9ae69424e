/* fa-kernel-types.h: element types shared by the CPU and CUDA kernels.
 *
 * Plain C with no GLib, so that the kernels and their tests build on a bare
 * CUDA machine (tests/gpu/run.sh) as well as inside the engine.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The order is part of no file format; names for files live in fa-dtype.c. */
typedef enum {
  FA_DTYPE_F32 = 0,
  FA_DTYPE_F16,
  FA_DTYPE_BF16,
  FA_DTYPE_F8_E4M3,
  FA_DTYPE_I32,
  FA_DTYPE_I64,
  FA_DTYPE_U8,
  /* Storage-only types: found in checkpoints, converted on load. */
  FA_DTYPE_F64,
  FA_DTYPE_F8_E5M2,
  FA_DTYPE_I8,
  FA_DTYPE_I16,
  FA_DTYPE_BOOL,
  FA_DTYPE_COUNT
} FaDType;

static inline size_t
fa_dtype_size (FaDType dtype)
{
  switch (dtype)
    {
    case FA_DTYPE_F64:
    case FA_DTYPE_I64:
      return 8;
    case FA_DTYPE_F32:
    case FA_DTYPE_I32:
      return 4;
    case FA_DTYPE_F16:
    case FA_DTYPE_BF16:
    case FA_DTYPE_I16:
      return 2;
    case FA_DTYPE_F8_E4M3:
    case FA_DTYPE_F8_E5M2:
    case FA_DTYPE_U8:
    case FA_DTYPE_I8:
    case FA_DTYPE_BOOL:
      return 1;
    case FA_DTYPE_COUNT:
    default:
      return 0;
    }
}

static inline int
fa_dtype_is_float (FaDType dtype)
{
  return dtype == FA_DTYPE_F32 || dtype == FA_DTYPE_F16 || dtype == FA_DTYPE_BF16 ||
         dtype == FA_DTYPE_F8_E4M3 || dtype == FA_DTYPE_F8_E5M2 || dtype == FA_DTYPE_F64;
}

#ifdef __cplusplus
}
#endif
