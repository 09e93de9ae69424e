/* fa-viewer-render.c: the viewer's picture on the CPU: a frame with its
 * mask drawn over it in the view's look. The OpenGL path's fragment shader
 * (fa-viewer-gl.c) computes the same thing per pixel.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "fa-viewer"

#include "config.h"

#include <math.h>

#include "fa-viewer-private.h"

static inline gboolean
is_inside (const guint8 *alpha,
           int           width,
           int           x,
           int           y)
{
  return alpha[(gsize) y * width + x] >= FA_VIEWER_INSIDE_ALPHA;
}

/* Neighbours beyond the frame do not count: a mask reaching the frame's
 * border has no line drawn along it, as there is no edge there to see. */
static gboolean
is_on_edge (const guint8 *alpha,
            int           width,
            int           height,
            int           x,
            int           y)
{
  gboolean inside = is_inside (alpha, width, x, y);

  return (x > 0 && is_inside (alpha, width, x - 1, y) != inside)
         || (x + 1 < width && is_inside (alpha, width, x + 1, y) != inside)
         || (y > 0 && is_inside (alpha, width, x, y - 1) != inside)
         || (y + 1 < height && is_inside (alpha, width, x, y + 1) != inside);
}

static inline guint8
blend (guint8 value,
       guint8 tint,
       double k)
{
  return (guint8) floor (value + (tint - value) * k + 0.5);
}

void
fa_viewer_render_rgba (const guint8 *rgb,
                       const guint8 *alpha,
                       int           width,
                       int           height,
                       FaMaskLook    look,
                       guint32       tint_rgb,
                       double        opacity,
                       guint8       *out_rgba)
{
  guint8 tint[3] = { (tint_rgb >> 16) & 0xff, (tint_rgb >> 8) & 0xff, tint_rgb & 0xff };

  g_return_if_fail (rgb != NULL);
  g_return_if_fail (out_rgba != NULL);
  g_return_if_fail (width > 0 && height > 0);

  if (!(opacity >= 0.0))
    opacity = 0.0;
  opacity = MIN (opacity, 1.0);

  for (int y = 0; y < height; y++)
    {
      const guint8 *src = rgb + (gsize) y * width * 3;
      guint8 *dst = out_rgba + (gsize) y * width * 4;

      for (int x = 0; x < width; x++, src += 3, dst += 4)
        {
          dst[0] = src[0];
          dst[1] = src[1];
          dst[2] = src[2];
          dst[3] = 255;

          if (alpha == NULL)
            continue;

          switch (look)
            {
            case FA_MASK_LOOK_TINT:
              {
                guint8 a = alpha[(gsize) y * width + x];

                if (a != 0)
                  {
                    double k = a / 255.0 * opacity;

                    for (int c = 0; c < 3; c++)
                      dst[c] = blend (src[c], tint[c], k);
                  }
              }
              break;

            case FA_MASK_LOOK_OUTLINE:
              if (is_on_edge (alpha, width, height, x, y))
                {
                  dst[0] = tint[0];
                  dst[1] = tint[1];
                  dst[2] = tint[2];
                }
              break;

            case FA_MASK_LOOK_HIDDEN:
            default:
              break;
            }
        }
    }
}
