/* fa-mask.c: the mask set, brush and eraser strokes, boxes, and the J and
 * F scores.
 *
 * A stroke's coverage at a pixel depends only on the distance from the
 * pixel's centre to the polyline, so a stroke is one continuous band
 * however far apart its points lie (a painter dragging fast gives few
 * points). It is computed per segment into a scratch buffer over the
 * stroke's bounding box (max over segments = coverage of the nearest
 * segment, since coverage falls with distance) and only then combined
 * with the frame, so overlapping segments never stack.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-mask"

#include "fa-mask.h"

#include <math.h>
#include <string.h>

#include "fa-error.h"

/* Far above any working size; keeps every product inside gsize. */
#define MAX_SIDE 16384
#define MAX_FRAMES 100000

struct _FaMaskSet {
  int n_frames, width, height;
  guint8 *alpha;       /* n_frames × height × width */
  guint8 *keyframe;    /* per frame, 0 or 1 */
  float *confidence;   /* per frame; keyframes report 1 whatever is stored */
  guint64 serial;      /* bumped on every keyframe change */
  guint64 propagated_serial;
  gboolean propagated; /* mark_propagated has been called at least once */
};

FaMaskSet *
fa_mask_set_new (int n_frames, int width, int height, GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (n_frames < 1 || n_frames > MAX_FRAMES || width < 1 || width > MAX_SIDE || height < 1 || height > MAX_SIDE)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "a mask set of %d frames of %d×%d: frames must lie in [1, %d] and sides in [1, %d]", n_frames,
                   width, height, MAX_FRAMES, MAX_SIDE);
      return NULL;
    }

  gsize bytes = (gsize) n_frames * (gsize) width * (gsize) height;
  guint8 *alpha = g_try_malloc0 (bytes);
  if (alpha == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_OUT_OF_MEMORY, "not enough memory for a mask set of %d frames of %d×%d",
                   n_frames, width, height);
      return NULL;
    }

  FaMaskSet *masks = g_new0 (FaMaskSet, 1);
  masks->n_frames = n_frames;
  masks->width = width;
  masks->height = height;
  masks->alpha = alpha;
  masks->keyframe = g_new0 (guint8, n_frames);
  masks->confidence = g_new0 (float, n_frames);
  return masks;
}

FaMaskSet *
fa_mask_set_copy (const FaMaskSet *masks)
{
  g_return_val_if_fail (masks != NULL, NULL);

  FaMaskSet *copy = g_memdup2 (masks, sizeof *masks);
  copy->alpha = g_memdup2 (masks->alpha, (gsize) masks->n_frames * masks->width * masks->height);
  copy->keyframe = g_memdup2 (masks->keyframe, (gsize) masks->n_frames);
  copy->confidence = g_memdup2 (masks->confidence, (gsize) masks->n_frames * sizeof (float));
  return copy;
}

void
fa_mask_set_free (FaMaskSet *masks)
{
  if (masks == NULL)
    return;
  g_free (masks->alpha);
  g_free (masks->keyframe);
  g_free (masks->confidence);
  g_free (masks);
}

int
fa_mask_set_get_n_frames (const FaMaskSet *masks)
{
  g_return_val_if_fail (masks != NULL, 0);
  return masks->n_frames;
}

int
fa_mask_set_get_width (const FaMaskSet *masks)
{
  g_return_val_if_fail (masks != NULL, 0);
  return masks->width;
}

int
fa_mask_set_get_height (const FaMaskSet *masks)
{
  g_return_val_if_fail (masks != NULL, 0);
  return masks->height;
}

guint8 *
fa_mask_set_get_frame (FaMaskSet *masks, int frame)
{
  g_return_val_if_fail (masks != NULL, NULL);
  g_return_val_if_fail (frame >= 0 && frame < masks->n_frames, NULL);
  return masks->alpha + (gsize) frame * masks->width * masks->height;
}

const guint8 *
fa_mask_set_peek_frame (const FaMaskSet *masks, int frame)
{
  g_return_val_if_fail (masks != NULL, NULL);
  g_return_val_if_fail (frame >= 0 && frame < masks->n_frames, NULL);
  return masks->alpha + (gsize) frame * masks->width * masks->height;
}

gboolean
fa_mask_set_is_keyframe (const FaMaskSet *masks, int frame)
{
  g_return_val_if_fail (masks != NULL, FALSE);
  g_return_val_if_fail (frame >= 0 && frame < masks->n_frames, FALSE);
  return masks->keyframe[frame] != 0;
}

static void
make_keyframe (FaMaskSet *masks, int frame)
{
  masks->keyframe[frame] = 1;
  /* what the user drew is trusted fully, also if they later hand it back
   * to propagation and until propagation overwrites it */
  masks->confidence[frame] = 1.0f;
  masks->serial++;
}

void
fa_mask_set_unset_keyframe (FaMaskSet *masks, int frame)
{
  g_return_if_fail (masks != NULL);
  g_return_if_fail (frame >= 0 && frame < masks->n_frames);

  if (masks->keyframe[frame] == 0)
    return;
  masks->keyframe[frame] = 0;
  masks->serial++;
}

int
fa_mask_set_list_keyframes (const FaMaskSet *masks, int *frames)
{
  g_return_val_if_fail (masks != NULL, 0);

  int n = 0;
  for (int i = 0; i < masks->n_frames; i++)
    if (masks->keyframe[i] != 0)
      {
        if (frames != NULL)
          frames[n] = i;
        n++;
      }
  return n;
}

float
fa_mask_set_get_confidence (const FaMaskSet *masks, int frame)
{
  g_return_val_if_fail (masks != NULL, 0.0f);
  g_return_val_if_fail (frame >= 0 && frame < masks->n_frames, 0.0f);
  return masks->keyframe[frame] != 0 ? 1.0f : masks->confidence[frame];
}

void
fa_mask_set_set_confidence (FaMaskSet *masks, int frame, float confidence)
{
  g_return_if_fail (masks != NULL);
  g_return_if_fail (frame >= 0 && frame < masks->n_frames);

  /* NaN compares false both ways and ends up 0: no trust */
  masks->confidence[frame] = confidence >= 1.0f ? 1.0f : confidence > 0.0f ? confidence : 0.0f;
}

guint64
fa_mask_set_get_keyframe_serial (const FaMaskSet *masks)
{
  g_return_val_if_fail (masks != NULL, 0);
  return masks->serial;
}

gboolean
fa_mask_set_needs_propagation (const FaMaskSet *masks)
{
  g_return_val_if_fail (masks != NULL, FALSE);

  if (!masks->propagated)
    return fa_mask_set_list_keyframes (masks, NULL) > 0;
  return masks->serial != masks->propagated_serial;
}

void
fa_mask_set_mark_propagated (FaMaskSet *masks)
{
  g_return_if_fail (masks != NULL);

  masks->propagated = TRUE;
  masks->propagated_serial = masks->serial;
}

/* ---- drawing ---- */

static gboolean
check_frame (const FaMaskSet *masks, int frame, const char *what, GError **error)
{
  if (frame >= 0 && frame < masks->n_frames)
    return TRUE;
  g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "%s on frame %d: the mask set has frames 0 to %d", what,
               frame, masks->n_frames - 1);
  return FALSE;
}

/* 1 within hardness·radius, 0 from the radius on, a smoothstep between. */
static inline double
dab_coverage (double distance, double radius, double inner)
{
  if (distance <= inner)
    return 1.0;
  if (distance >= radius)
    return 0.0;
  double t = (distance - inner) / (radius - inner);
  return 1.0 - t * t * (3.0 - 2.0 * t);
}

/* Distance² from (px, py) to the segment a–b (a point when a = b). */
static inline double
segment_distance2 (double px, double py, double ax, double ay, double bx, double by)
{
  double dx = bx - ax, dy = by - ay;
  double length2 = dx * dx + dy * dy;
  double t = length2 > 0.0 ? ((px - ax) * dx + (py - ay) * dy) / length2 : 0.0;
  t = CLAMP (t, 0.0, 1.0);
  double ex = px - (ax + t * dx), ey = py - (ay + t * dy);
  return ex * ex + ey * ey;
}

/* The pixel index range [*lo, *hi) whose centres i + 0.5 may lie within
 * @radius of [a, b], clipped to [0, size). Computed in double so that a
 * point far outside the frame cannot overflow an int. */
static void
pixel_span (double a, double b, double radius, int size, int *lo, int *hi)
{
  double from = floor (MIN (a, b) - radius - 0.5);
  double to = ceil (MAX (a, b) + radius - 0.5) + 1.0;
  *lo = (int) CLAMP (from, 0.0, (double) size);
  *hi = (int) CLAMP (to, 0.0, (double) size);
}

gboolean
fa_mask_set_apply_stroke (FaMaskSet *masks, int frame, const FaMaskStroke *stroke, GError **error)
{
  g_return_val_if_fail (masks != NULL, FALSE);
  g_return_val_if_fail (stroke != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  const char *what = stroke->erase ? "an eraser stroke" : "a brush stroke";
  if (!check_frame (masks, frame, what, error))
    return FALSE;
  if (!(isfinite (stroke->radius) && stroke->radius > 0.0f))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "%s with radius %g: the radius must be positive and finite",
                   what, (double) stroke->radius);
      return FALSE;
    }
  if (!(stroke->hardness >= 0.0f && stroke->hardness <= 1.0f))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "%s with hardness %g: the hardness must lie in [0, 1]",
                   what, (double) stroke->hardness);
      return FALSE;
    }
  if (stroke->n_points < 1 || stroke->points == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "%s without points", what);
      return FALSE;
    }
  for (int i = 0; i < stroke->n_points; i++)
    if (!isfinite (stroke->points[i].x) || !isfinite (stroke->points[i].y))
      {
        g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "%s: point %d is (%g, %g), not a finite position",
                     what, i, (double) stroke->points[i].x, (double) stroke->points[i].y);
        return FALSE;
      }

  const FaMaskPoint *points = stroke->points;
  double radius = stroke->radius;
  double inner = radius * stroke->hardness;
  double radius2 = radius * radius;

  /* the stroke's bounding box in pixels */
  double min_x = points[0].x, max_x = min_x, min_y = points[0].y, max_y = min_y;
  for (int i = 1; i < stroke->n_points; i++)
    {
      min_x = MIN (min_x, points[i].x);
      max_x = MAX (max_x, points[i].x);
      min_y = MIN (min_y, points[i].y);
      max_y = MAX (max_y, points[i].y);
    }
  int x0, x1, y0, y1;
  pixel_span (min_x, max_x, radius, masks->width, &x0, &x1);
  pixel_span (min_y, max_y, radius, masks->height, &y0, &y1);

  if (x0 < x1 && y0 < y1)
    {
      int box_w = x1 - x0;
      g_autofree guint8 *coverage = g_malloc0 ((gsize) box_w * (gsize) (y1 - y0));
      int n_segments = MAX (stroke->n_points - 1, 1);

      for (int s = 0; s < n_segments; s++)
        {
          const FaMaskPoint *a = &points[s];
          const FaMaskPoint *b = &points[MIN (s + 1, stroke->n_points - 1)];
          int sx0, sx1, sy0, sy1;
          pixel_span (a->x, b->x, radius, masks->width, &sx0, &sx1);
          pixel_span (a->y, b->y, radius, masks->height, &sy0, &sy1);
          for (int y = sy0; y < sy1; y++)
            {
              guint8 *row = coverage + (gsize) (y - y0) * box_w - x0;
              double py = y + 0.5;
              for (int x = sx0; x < sx1; x++)
                {
                  double d2 = segment_distance2 (x + 0.5, py, a->x, a->y, b->x, b->y);
                  if (d2 >= radius2 && !(d2 <= inner * inner))
                    continue;
                  int value = (int) lround (255.0 * dab_coverage (sqrt (d2), radius, inner));
                  row[x] = (guint8) MAX (row[x], value);
                }
            }
        }

      guint8 *alpha = fa_mask_set_get_frame (masks, frame);
      for (int y = y0; y < y1; y++)
        {
          const guint8 *src = coverage + (gsize) (y - y0) * box_w;
          guint8 *dst = alpha + (gsize) y * masks->width + x0;
          for (int x = 0; x < box_w; x++)
            dst[x] = stroke->erase ? MIN (dst[x], 255 - src[x]) : MAX (dst[x], src[x]);
        }
    }
  make_keyframe (masks, frame);
  return TRUE;
}

gboolean
fa_mask_set_apply_box (FaMaskSet *masks, int frame, int x, int y, int w, int h, gboolean erase, GError **error)
{
  g_return_val_if_fail (masks != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_frame (masks, frame, "a box", error))
    return FALSE;
  if (w <= 0 || h <= 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "a box of %d×%d on frame %d: both sides must be positive",
                   w, h, frame);
      return FALSE;
    }

  /* in 64 bits: x + w may overflow an int */
  int x0 = (int) CLAMP ((gint64) x, 0, masks->width), x1 = (int) CLAMP ((gint64) x + w, 0, masks->width);
  int y0 = (int) CLAMP ((gint64) y, 0, masks->height), y1 = (int) CLAMP ((gint64) y + h, 0, masks->height);
  guint8 *alpha = fa_mask_set_get_frame (masks, frame);
  for (int row = y0; row < y1 && x0 < x1; row++)
    memset (alpha + (gsize) row * masks->width + x0, erase ? 0 : 255, (gsize) (x1 - x0));
  make_keyframe (masks, frame);
  return TRUE;
}

gboolean
fa_mask_set_set_keyframe (FaMaskSet *masks, int frame, const guint8 *alpha, GError **error)
{
  g_return_val_if_fail (masks != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_frame (masks, frame, "a keyframe", error))
    return FALSE;
  if (alpha == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "a keyframe on frame %d without an alpha", frame);
      return FALSE;
    }
  memcpy (fa_mask_set_get_frame (masks, frame), alpha, (gsize) masks->width * masks->height);
  make_keyframe (masks, frame);
  return TRUE;
}

/* ---- scores ---- */

#define INSIDE(v) ((v) >= 128)

double
fa_mask_jaccard (const guint8 *a, const guint8 *b, int width, int height)
{
  g_return_val_if_fail (a != NULL && b != NULL, 0.0);
  g_return_val_if_fail (width > 0 && height > 0, 0.0);

  gsize n = (gsize) width * (gsize) height, both = 0, either = 0;
  for (gsize i = 0; i < n; i++)
    {
      gboolean in_a = INSIDE (a[i]), in_b = INSIDE (b[i]);
      both += in_a && in_b;
      either += in_a || in_b;
    }
  return either == 0 ? 1.0 : (double) both / (double) either;
}

/* The inside pixels with a 4-neighbour outside. The frame's own edge is
 * not a boundary: an object cut by the frame has no contour there that
 * either mask could be judged on. Returns how many. */
static gsize
find_boundary (const guint8 *mask, int width, int height, guint8 *boundary)
{
  gsize count = 0;

  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        gsize i = (gsize) y * width + x;
        gboolean edge = FALSE;
        if (INSIDE (mask[i]))
          edge = (x > 0 && !INSIDE (mask[i - 1])) || (x + 1 < width && !INSIDE (mask[i + 1])) ||
                 (y > 0 && !INSIDE (mask[i - width])) || (y + 1 < height && !INSIDE (mask[i + width]));
        boundary[i] = (guint8) edge;
        count += edge;
      }
  return count;
}

/* Stands for "no boundary pixel on this line": far above any real squared
 * distance (MAX_SIDE² · 2), small enough that double keeps it exact. */
#define FAR 1e12

/* One line of the exact squared Euclidean distance transform, the lower
 * envelope of parabolas (Felzenszwalb and Huttenlocher): @n samples of
 * @data at @stride, in place. */
static void
edt_line (double *data, gsize stride, int n, double *f, int *v, double *z)
{
  for (int q = 0; q < n; q++)
    f[q] = data[q * stride];

  int k = 0;
  v[0] = 0;
  z[0] = -INFINITY;
  z[1] = INFINITY;
  for (int q = 1; q < n; q++)
    {
      /* z[0] = −∞ stops the walk back at the first parabola */
      double s;
      while (TRUE)
        {
          int p = v[k];
          s = ((f[q] + (double) q * q) - (f[p] + (double) p * p)) / (2.0 * (q - p));
          if (s > z[k])
            break;
          k--;
        }
      k++;
      v[k] = q;
      z[k] = s;
      z[k + 1] = INFINITY;
    }

  k = 0;
  for (int q = 0; q < n; q++)
    {
      while (z[k + 1] < q)
        k++;
      double dq = q - v[k];
      data[q * stride] = dq * dq + f[v[k]];
    }
}

/* Squared distance of every pixel to the nearest set pixel of @boundary. */
static double *
distance2_to (const guint8 *boundary, int width, int height)
{
  gsize n = (gsize) width * (gsize) height;
  double *dist = g_new (double, n);
  int longest = MAX (width, height);
  g_autofree double *f = g_new (double, longest);
  g_autofree int *v = g_new (int, longest);
  g_autofree double *z = g_new (double, longest + 1);

  for (gsize i = 0; i < n; i++)
    dist[i] = boundary[i] ? 0.0 : FAR;
  for (int x = 0; x < width; x++)
    edt_line (dist + x, (gsize) width, height, f, v, z);
  for (int y = 0; y < height; y++)
    edt_line (dist + (gsize) y * width, 1, width, f, v, z);
  return dist;
}

/* How many set pixels of @from lie within @tolerance of a set pixel of @to. */
static gsize
count_matched (const guint8 *from, const guint8 *to, int width, int height, double tolerance)
{
  g_autofree double *dist = distance2_to (to, width, height);
  gsize n = (gsize) width * (gsize) height, matched = 0;
  double limit = tolerance * tolerance;

  for (gsize i = 0; i < n; i++)
    matched += from[i] && dist[i] <= limit;
  return matched;
}

double
fa_mask_boundary_f (const guint8 *a, const guint8 *b, int width, int height, double tolerance_px)
{
  g_return_val_if_fail (a != NULL && b != NULL, 0.0);
  g_return_val_if_fail (width > 0 && height > 0, 0.0);

  if (!(tolerance_px > 0.0))
    tolerance_px = ceil (0.008 * sqrt ((double) width * width + (double) height * height));

  gsize n = (gsize) width * (gsize) height;
  g_autofree guint8 *boundary_a = g_malloc (n);
  g_autofree guint8 *boundary_b = g_malloc (n);
  gsize count_a = find_boundary (a, width, height, boundary_a);
  gsize count_b = find_boundary (b, width, height, boundary_b);

  /* DAVIS's conventions for empty boundaries */
  if (count_a == 0 && count_b == 0)
    return 1.0;
  if (count_a == 0 || count_b == 0)
    return 0.0;

  double precision = (double) count_matched (boundary_a, boundary_b, width, height, tolerance_px) / count_a;
  double recall = (double) count_matched (boundary_b, boundary_a, width, height, tolerance_px) / count_b;
  if (precision + recall == 0.0)
    return 0.0;
  return 2.0 * precision * recall / (precision + recall);
}

void
fa_mask_scale_nearest (const guint8 *src, int src_width, int src_height, guint8 *dst, int width, int height)
{
  g_return_if_fail (src != NULL && dst != NULL && src_width > 0 && src_height > 0 && width > 0 && height > 0);

  for (int y = 0; y < height; y++)
    {
      int sy = MIN ((int) (((gint64) y * src_height + src_height / 2) / height), src_height - 1);
      for (int x = 0; x < width; x++)
        {
          int sx = MIN ((int) (((gint64) x * src_width + src_width / 2) / width), src_width - 1);
          dst[(gsize) y * width + x] = src[(gsize) sy * src_width + sx];
        }
    }
}
