/* fa-cpu-video.c: channels-last video kernels: the 3-D convolution as
 * gathered patches times the weight (one GEMM per block of output pixels),
 * and the strided copy that materializes permuted and narrowed views.
 * Single-threaded apart from OpenBLAS; plain C, no GLib (tests/gpu/run.sh
 * builds it with -DFA_CPU_NAIVE_GEMM on machines without OpenBLAS).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "fa-cpu-kernels.h"

#include <string.h>

/* Floats of patches per block: 32 MiB bounds the scratch whatever the
 * frame size, while every GEMM stays large enough for OpenBLAS to run at
 * speed; at least one output row is always gathered. */
#define CONV3D_BLOCK_FLOATS ((int64_t) 8 * 1024 * 1024)

/* Pixels per GEMM when no patches are gathered: BLAS takes 32-bit sizes. */
#define CONV3D_DIRECT_PIXELS ((int64_t) 1 << 30)

/* A 1×1×1 convolution that reads every input pixel exactly once, in
 * order, is a linear over x itself. History frames would come first in the
 * output and live elsewhere, and pad_bottom/pad_right (not part of the
 * geometry) show up as ho > h or wo > w, so both rule the shortcut out. */
static int
conv3d_is_direct (const FaConv3dGeometry *g)
{
  return g->kt == 1 && g->kh == 1 && g->kw == 1 && g->st == 1 && g->sh == 1 && g->sw == 1 &&
         g->pad_front == 0 && g->pad_top == 0 && g->pad_left == 0 && !g->upsample &&
         g->th == 0 && g->to == g->tx && g->ho == g->h && g->wo == g->w;
}

static int64_t
conv3d_block_pixels (const FaConv3dGeometry *g)
{
  int64_t k = fa_conv3d_patch_size (g);
  int64_t pixels = g->to * g->ho * g->wo;
  int64_t rows = CONV3D_BLOCK_FLOATS / (k * g->wo);

  if (rows < 1)
    rows = 1;
  /* whole rows keep the blocks' GEMMs alike; the last one may be short */
  if (rows > pixels / g->wo)
    return pixels;
  return rows * g->wo;
}

int64_t
fa_cpu_conv3d_scratch_floats (const FaConv3dGeometry *g)
{
  if (conv3d_is_direct (g) || g->to <= 0 || g->ho <= 0 || g->wo <= 0)
    return 0;
  return conv3d_block_pixels (g) * fa_conv3d_patch_size (g);
}

/* Frame @f of the history-then-x sequence, or NULL outside it. */
static const float *
conv3d_frame (const float *history, const float *x, const FaConv3dGeometry *g, int64_t f)
{
  int64_t frame = g->h * g->w * g->ci;

  if (f < 0 || f >= g->th + g->tx)
    return NULL;
  if (f < g->th)
    return history + f * frame;
  return x + (f - g->th) * frame;
}

/* The patch rows of output pixels j0 ≤ j < j1 of output row (t, i), whose
 * first patch starts at @cols. */
static void
conv3d_gather_row (const float *history, const float *x, const FaConv3dGeometry *g, int64_t t,
                   int64_t i, int64_t j0, int64_t j1, float *cols)
{
  const int64_t ci = g->ci, k = fa_conv3d_patch_size (g);
  const int64_t height = g->upsample ? 2 * g->h : g->h, width = g->upsample ? 2 * g->w : g->w;
  const size_t pixel_bytes = (size_t) ci * sizeof (float);

  for (int a = 0; a < g->kt; a++)
    {
      const float *frame = conv3d_frame (history, x, g, t * g->st + a - g->pad_front);

      for (int b = 0; b < g->kh; b++)
        {
          const int64_t vr = i * g->sh + b - g->pad_top;
          const float *row = NULL;
          /* the (a, b) slice of every patch: kw pixels of ci channels */
          float *dst = cols + ((int64_t) a * g->kh + b) * g->kw * ci;

          if (frame != NULL && vr >= 0 && vr < height)
            row = frame + (g->upsample ? vr / 2 : vr) * g->w * ci;

          for (int64_t j = j0; j < j1; j++, dst += k)
            {
              const int64_t vc0 = j * g->sw - g->pad_left;

              if (row == NULL)
                memset (dst, 0, (size_t) g->kw * pixel_bytes);
              else if (g->upsample)
                {
                  /* every virtual column is its own source pixel */
                  for (int c = 0; c < g->kw; c++)
                    {
                      const int64_t vc = vc0 + c;
                      if (vc >= 0 && vc < width)
                        memcpy (dst + c * ci, row + (vc / 2) * ci, pixel_bytes);
                      else
                        memset (dst + c * ci, 0, pixel_bytes);
                    }
                }
              else
                {
                  /* the kw source pixels are adjacent: zeros, one run, zeros */
                  int64_t c0 = vc0 < 0 ? -vc0 : 0;
                  int64_t c1 = width - vc0 < g->kw ? width - vc0 : g->kw;
                  if (c0 > g->kw)
                    c0 = g->kw;
                  if (c1 < c0)
                    c1 = c0;
                  if (c0 > 0)
                    memset (dst, 0, (size_t) c0 * pixel_bytes);
                  if (c1 > c0)
                    memcpy (dst + c0 * ci, row + (vc0 + c0) * ci, (size_t) (c1 - c0) * pixel_bytes);
                  if (c1 < g->kw)
                    memset (dst + c1 * ci, 0, (size_t) (g->kw - c1) * pixel_bytes);
                }
            }
        }
    }
}

void
fa_cpu_conv3d_im2col_f32 (const float *history, const float *x, const FaConv3dGeometry *g,
                          int64_t p0, int64_t count, float *cols)
{
  const int64_t k = fa_conv3d_patch_size (g);
  int64_t p = p0, end = p0 + count;

  /* row segment by row segment, so that frame and row lookups are shared */
  while (p < end)
    {
      int64_t row = p / g->wo, j0 = p % g->wo;
      int64_t j1 = j0 + (end - p) < g->wo ? j0 + (end - p) : g->wo;

      conv3d_gather_row (history, x, g, row / g->ho, row % g->ho, j0, j1, cols + (p - p0) * k);
      p += j1 - j0;
    }
}

void
fa_cpu_conv3d_f32 (const float *history, const float *x, const float *w, const float *bias,
                   float *y, const FaConv3dGeometry *g, float *scratch)
{
  const int64_t k = fa_conv3d_patch_size (g);
  const int64_t pixels = g->to * g->ho * g->wo;

  if (pixels <= 0 || g->co <= 0)
    return;
  if (conv3d_is_direct (g))
    {
      for (int64_t p0 = 0; p0 < pixels; p0 += CONV3D_DIRECT_PIXELS)
        {
          int64_t count = pixels - p0 < CONV3D_DIRECT_PIXELS ? pixels - p0 : CONV3D_DIRECT_PIXELS;
          fa_cpu_linear_f32 (x + p0 * k, w, bias, y + p0 * g->co, count, k, g->co);
        }
      return;
    }

  const int64_t block = conv3d_block_pixels (g);
  for (int64_t p0 = 0; p0 < pixels; p0 += block)
    {
      int64_t count = pixels - p0 < block ? pixels - p0 : block;
      fa_cpu_conv3d_im2col_f32 (history, x, g, p0, count, scratch);
      fa_cpu_linear_f32 (scratch, w, bias, y + p0 * g->co, count, k, g->co);
    }
}

/* One element of @size bytes; a constant-size memcpy is a plain load and
 * store, whatever the alignment. */
#define COPY_LOOP(type)                                                                 \
  for (int64_t i = 0; i < n; i++)                                                     \
    memcpy (d + i * ds * (int64_t) sizeof (type), s + i * ss * (int64_t) sizeof (type), \
            sizeof (type))

static void
copy_line (const unsigned char *s, int64_t ss, unsigned char *d, int64_t ds, int64_t n,
           size_t elem_size)
{
  if (ss == 1 && ds == 1)
    {
      memcpy (d, s, (size_t) n * elem_size);
      return;
    }
  switch (elem_size)
    {
    case 1:
      COPY_LOOP (uint8_t);
      break;
    case 2:
      COPY_LOOP (uint16_t);
      break;
    case 4:
      COPY_LOOP (uint32_t);
      break;
    case 8:
      COPY_LOOP (uint64_t);
      break;
    default:
      for (int64_t i = 0; i < n; i++)
        memcpy (d + i * ds * (int64_t) elem_size, s + i * ss * (int64_t) elem_size, elem_size);
      break;
    }
}

#undef COPY_LOOP

void
fa_cpu_copy_strided (const void *src, const int64_t *src_strides, void *dst,
                     const int64_t *dst_strides, const int64_t *shape, int ndim, size_t elem_size)
{
  /* Five axes, padded in front with size-1 axes; size-1 axes dropped and
   * axes contiguous on both sides merged, so that the innermost line is as
   * long as it can be (a narrowed contiguous tensor copies in big runs). */
  int64_t n[5], ss[5], ds[5];
  int m = 0;

  for (int i = 0; i < ndim; i++)
    {
      if (shape[i] == 0)
        return;
      if (shape[i] == 1)
        continue;
      if (m > 0 && ss[m - 1] == src_strides[i] * shape[i] && ds[m - 1] == dst_strides[i] * shape[i])
        {
          n[m - 1] *= shape[i];
          ss[m - 1] = src_strides[i];
          ds[m - 1] = dst_strides[i];
          continue;
        }
      n[m] = shape[i];
      ss[m] = src_strides[i];
      ds[m] = dst_strides[i];
      m++;
    }
  if (m == 0)
    {
      n[0] = 1;
      ss[0] = ds[0] = 1;
      m = 1;
    }
  /* pad in front */
  int shift = 5 - m;
  for (int i = 4; i >= 0; i--)
    {
      if (i >= shift)
        {
          n[i] = n[i - shift];
          ss[i] = ss[i - shift];
          ds[i] = ds[i - shift];
        }
      else
        {
          n[i] = 1;
          ss[i] = ds[i] = 0;
        }
    }

  const unsigned char *s = src;
  unsigned char *d = dst;
  const int64_t e = (int64_t) elem_size;
  for (int64_t i0 = 0; i0 < n[0]; i0++)
    for (int64_t i1 = 0; i1 < n[1]; i1++)
      for (int64_t i2 = 0; i2 < n[2]; i2++)
        for (int64_t i3 = 0; i3 < n[3]; i3++)
          {
            int64_t so = (i0 * ss[0] + i1 * ss[1] + i2 * ss[2] + i3 * ss[3]) * e;
            int64_t dof = (i0 * ds[0] + i1 * ds[1] + i2 * ds[2] + i3 * ds[3]) * e;
            copy_line (s + so, ss[4], d + dof, ds[4], n[4], elem_size);
          }
}
