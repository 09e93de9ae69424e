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

/* One 3-D convolution over channels-last frames (fa_op_conv3d): the input
 * is th history frames then tx frames, each [h, w, ci]; the output is
 * [to, ho, wo, co]; the weight is [co, kt, kh, kw, ci]. Output pixel p =
 * (t·ho + i)·wo + j reads input frame t·st + a − pad_front (history first),
 * row i·sh + b − pad_top and column j·sw + c − pad_left of the frame as it
 * would be after a nearest-neighbour ×2 upsampling when @upsample is set
 * (then source row = that row / 2); anything outside is zero. */
typedef struct {
  int64_t th, tx, h, w, ci;
  int64_t to, ho, wo, co;
  int kt, kh, kw;
  int st, sh, sw;
  int pad_front, pad_top, pad_left;
  int upsample;
} FaConv3dGeometry;

/* The length of a patch vector, ordered (a, b, c, ci) with ci fastest: the
 * row length of the weight seen as [co, K]. */
static inline int64_t
fa_conv3d_patch_size (const FaConv3dGeometry *g)
{
  return (int64_t) g->kt * g->kh * g->kw * g->ci;
}

#ifdef __cplusplus
}
#endif
