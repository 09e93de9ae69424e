/* fa-mask-propagate.c: keyframe masks carried through the clip by optical
 * flow.
 *
 * A chain carries a soft mask (0–255) one frame at a time, so that sub-pixel
 * motion adds up instead of being rounded away at every frame: each pixel of the new
 * frame looks up where it was in the previous one (the flow from the new
 * frame to the old), and the forward–backward check (Sundaram et al. 2010:
 * |w + ŵ|² ≤ 0.01 (|w|² + |ŵ|²) + c²) tells whether that lookup can be
 * trusted; a pixel that fails it was occluded, or has just appeared. Each
 * pixel also carries a trust that falls by ×¼ at every failed check, so
 * a region that went through an occlusion stays less trusted downstream.
 *
 * Between two keyframes a chain runs forward from the earlier one and
 * another backward from the later one, and each pixel takes the two votes
 * weighted by trust over distance: the nearer keyframe counts more, and a
 * vote through an occlusion counts little. Before the first keyframe and
 * after the last, one chain does it all.
 *
 * Flow alone leaves each link's outline a fraction of a pixel off, and a
 * chain adds those up (the mask trails its shape). So each link ends by
 * refining the outline against the frame itself, as rotoscoping tools do
 * with local colour models (Bai et al. 2009, Video SnapCut): near the
 * outline, a pixel joins the side whose nearby colours explain it better,
 * where the two sides' colours clearly differ; and one whose colour the
 * keyframe showed only outside its shape leaves the mask.
 *
 * Results go into a scratch copy and reach the mask set only when every
 * frame is done, so an error or a cancel leaves the masks as they were.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-mask-propagate"

#include "config.h"

#include <math.h>
#include <string.h>

#include "fa-error.h"
#include "fa-mask-propagate.h"

#define FULL_TRUST 255
/* A propagated frame's confidence shrinks by this much per frame away from
 * its keyframe: flow errors pile up along a chain even where every check
 * passes. */
#define DECAY_PER_FRAME 0.995
#define SHARPEN 1.25f
/* Where the flow is smoothed across an outline (pixels each side), and the
 * width of the ring beyond it whose flow is trusted. */
#define BAND_RADIUS 6
#define RING_WIDTH 6
/* Outline refinement: pixels within REFINE_BAND of the outline may change
 * side; each side's colours are learnt from the ring REFINE_RING wide beyond
 * the band, per REFINE_TILE square with its eight neighbours. */
#define REFINE_BAND 3
#define REFINE_RING 5
#define REFINE_TILE 16
/* A pixel changes side only when the other side explains its colour better
 * by this many nats, and only where the two sides' colours differ by
 * REFINE_SEPARATION (summed over channels, (Δmean)² / (var + var)). */
#define REFINE_MARGIN 3.0
#define REFINE_SEPARATION 4.0
#define REFINE_MIN_SAMPLES 24
/* Noise-free flat colours would make a variance of zero. */
#define REFINE_VARIANCE_FLOOR 9.0
/* The keyframe's colours, 5 bits a channel, counted per side: a pixel by
 * the outline whose colour the keyframe's shape never showed, and its
 * surroundings did, is something passing in front. */
#define KEY_COLOUR_BITS 5
#define KEY_COLOUR_BINS (1 << (3 * KEY_COLOUR_BITS))
#define KEY_COLOUR_MIN_COUNT 8
#define KEY_COLOUR_FOREIGN 0.02

void
fa_propagate_options_init (FaPropagateOptions *options)
{
  g_return_if_fail (options != NULL);

  memset (options, 0, sizeof *options);
  fa_flow_params_init (&options->flow, FA_FLOW_PRESET_MEDIUM);
  options->consistency_px = 0.7f;
  options->morphology_radius = 1;
  options->refine_outline = TRUE;
}

typedef struct {
  double n, sum[3], squares[3];
} ColourStats;

typedef struct {
  const FaWorkingClip *clip;
  const FaPropagateOptions *options;
  GCancellable *cancellable;
  FaFlow *flow; /* NULL when the options bring their own flow */
  int width, height;
  gsize n_pixels;
  float *toward_source; /* destination frame → source frame */
  float *from_source;   /* source frame → destination frame */
  float *splat;         /* the source mask pushed forward along from_source */
  guint16 *distance;    /* to the outline, in thirds of a pixel */
  const guint8 *key_mask; /* the running chain's keyframe */
  float *position;      /* per pixel of the chain's current frame: where it was in the keyframe (NaN: lost) */
  float *next_position;
  guint8 *band;         /* the destination's outline as first estimated */
  guint8 *scratch;      /* morphology */
  int tiles_x, tiles_y;
  ColourStats *tile_colours; /* per refinement tile: outside, inside */
  guint32 *key_colours;      /* per colour bin of the keyframe: outside, inside */
  guint done, total;    /* frame pairs */
} Propagation;

static gboolean
compute_flow (Propagation *p, int from, int to, float *out, GError **error)
{
  if (p->options->flow_func != NULL)
    return p->options->flow_func (from, to, out, p->options->flow_user_data, error);
  return fa_flow_compute (p->flow, fa_working_clip_frame (p->clip, from),
                          fa_working_clip_frame (p->clip, to), out, error);
}

/* Bilinear sample of a two-channel field at (x, y), clamped to the frame. */
static inline void
sample_flow (const float *field, int width, int height, float x, float y, float *u, float *v)
{
  x = CLAMP (x, 0.0f, (float) (width - 1));
  y = CLAMP (y, 0.0f, (float) (height - 1));
  int x0 = MIN ((int) x, width - 2 < 0 ? 0 : width - 2);
  int y0 = MIN ((int) y, height - 2 < 0 ? 0 : height - 2);
  int x1 = MIN (x0 + 1, width - 1), y1 = MIN (y0 + 1, height - 1);
  float ax = x - (float) x0, ay = y - (float) y0;
  const float *a = field + ((gsize) y0 * width + x0) * 2, *b = field + ((gsize) y0 * width + x1) * 2;
  const float *c = field + ((gsize) y1 * width + x0) * 2, *d = field + ((gsize) y1 * width + x1) * 2;

  *u = (1 - ay) * ((1 - ax) * a[0] + ax * b[0]) + ay * ((1 - ax) * c[0] + ax * d[0]);
  *v = (1 - ay) * ((1 - ax) * a[1] + ax * b[1]) + ay * ((1 - ax) * c[1] + ax * d[1]);
}

/* Bilinear sample of a byte mask, zero outside the frame. */
static inline float
sample_mask (const guint8 *mask, int width, int height, float x, float y)
{
  int x0 = (int) floorf (x), y0 = (int) floorf (y);
  float ax = x - (float) x0, ay = y - (float) y0;
  float sum = 0.0f;

  for (int dy = 0; dy <= 1; dy++)
    for (int dx = 0; dx <= 1; dx++)
      {
        int xi = x0 + dx, yi = y0 + dy;
        if (xi < 0 || yi < 0 || xi >= width || yi >= height)
          continue;
        float weight = (dx ? ax : 1 - ax) * (dy ? ay : 1 - ay);
        sum += weight * (float) mask[(gsize) yi * width + xi];
      }
  return sum;
}

/* Min (erode) or max (dilate) over a (2r+1)² square, separably; the frame's
 * edge repeats outward. */
static void
square_filter (guint8 *mask, guint8 *scratch, int width, int height, int radius, gboolean dilate)
{
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        guint8 value = dilate ? 0 : 255;
        for (int k = MAX (0, x - radius); k <= MIN (width - 1, x + radius); k++)
          value = dilate ? MAX (value, mask[(gsize) y * width + k]) : MIN (value, mask[(gsize) y * width + k]);
        scratch[(gsize) y * width + x] = value;
      }
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        guint8 value = dilate ? 0 : 255;
        for (int k = MAX (0, y - radius); k <= MIN (height - 1, y + radius); k++)
          value = dilate ? MAX (value, scratch[(gsize) k * width + x]) : MIN (value, scratch[(gsize) k * width + x]);
        mask[(gsize) y * width + x] = value;
      }
}

/* Opening then closing: specks smaller than the square go, and so do
 * pinholes, while the outline stays where it was. */
static void
clean_up (Propagation *p, guint8 *mask)
{
  int r = p->options->morphology_radius;

  if (r <= 0)
    return;
  square_filter (mask, p->scratch, p->width, p->height, r, FALSE);
  square_filter (mask, p->scratch, p->width, p->height, r, TRUE);
  square_filter (mask, p->scratch, p->width, p->height, r, TRUE);
  square_filter (mask, p->scratch, p->width, p->height, r, FALSE);
}

/* The source mask pushed along the flow from the source, each pixel shared
 * bilinearly among the four pixels around where it lands: what the
 * destination's occluded pixels are decided by. A pixel that has just
 * appeared (the background a moving shape uncovers) has nothing of the
 * source mask landing on it, where pulling it back along its unreliable
 * flow would copy the shape's own pixels and grow the mask at its
 * trailing edge frame after frame. */
static void
splat_mask (Propagation *p, const guint8 *src_mask)
{
  const int width = p->width, height = p->height;

  memset (p->splat, 0, p->n_pixels * sizeof (float));
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        gsize i = (gsize) y * width + x;
        if (src_mask[i] == 0)
          continue;
        float value = (float) src_mask[i];
        float dx = (float) x + p->from_source[2 * i], dy = (float) y + p->from_source[2 * i + 1];
        int x0 = (int) floorf (dx), y0 = (int) floorf (dy);
        float ax = dx - (float) x0, ay = dy - (float) y0;
        for (int k = 0; k < 4; k++)
          {
            int xi = x0 + (k & 1), yi = y0 + (k >> 1);
            if (xi >= 0 && yi >= 0 && xi < width && yi < height)
              p->splat[(gsize) yi * width + xi] += value * ((k & 1) ? ax : 1 - ax) * ((k >> 1) ? ay : 1 - ay);
          }
      }
}

/* Chamfer distance (3-4, in thirds of a pixel, capped) from every pixel to
 * the nearest pixel on the other side of the outline of @mask (≥ 128). */
static void
outline_distance (Propagation *p, const guint8 *mask, guint16 *distance)
{
  const int width = p->width, height = p->height;
  const guint16 cap = 3 * (BAND_RADIUS + RING_WIDTH + 2);

  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        gsize i = (gsize) y * width + x;
        gboolean in = mask[i] >= 128;
        gboolean edge = (x > 0 && (mask[i - 1] >= 128) != in) || (x + 1 < width && (mask[i + 1] >= 128) != in)
                        || (y > 0 && (mask[i - width] >= 128) != in)
                        || (y + 1 < height && (mask[i + width] >= 128) != in);
        distance[i] = edge ? 0 : cap;
      }
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        gsize i = (gsize) y * width + x;
        guint16 d = distance[i];
        if (x > 0) d = MIN (d, distance[i - 1] + 3);
        if (y > 0) d = MIN (d, distance[i - width] + 3);
        if (x > 0 && y > 0) d = MIN (d, distance[i - width - 1] + 4);
        if (x + 1 < width && y > 0) d = MIN (d, distance[i - width + 1] + 4);
        distance[i] = d;
      }
  for (int y = height - 1; y >= 0; y--)
    for (int x = width - 1; x >= 0; x--)
      {
        gsize i = (gsize) y * width + x;
        guint16 d = distance[i];
        if (x + 1 < width) d = MIN (d, distance[i + 1] + 3);
        if (y + 1 < height) d = MIN (d, distance[i + width] + 3);
        if (x + 1 < width && y + 1 < height) d = MIN (d, distance[i + width + 1] + 4);
        if (x > 0 && y + 1 < height) d = MIN (d, distance[i + width - 1] + 4);
        distance[i] = d;
      }
}

/* Solves the 3×3 normal equations @m · a = @r (Cramer's rule); FALSE when
 * they are singular (a ring too thin or too straight to fit). */
static gboolean
solve3 (const double m[3][3], const double r[3], double a[3])
{
  double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
               + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  if (fabs (det) < 1e-9)
    return FALSE;
  for (int k = 0; k < 3; k++)
    {
      double c[3][3];
      memcpy (c, m, sizeof c);
      for (int j = 0; j < 3; j++)
        c[j][k] = r[j];
      a[k] = (c[0][0] * (c[1][1] * c[2][2] - c[1][2] * c[2][1]) - c[0][1] * (c[1][0] * c[2][2] - c[1][2] * c[2][0])
              + c[0][2] * (c[1][0] * c[2][1] - c[1][1] * c[2][0])) / det;
    }
  return TRUE;
}

/* Optical flow smooths across a moving outline: the pixels just outside a
 * shape borrow part of its motion, and those just inside part of the
 * background's. A chain that follows them moves the outline a fraction of a
 * pixel the wrong way at every frame, which over 80 frames is many pixels
 * (the mask trails behind its shape). So within BAND_RADIUS of the
 * outline, each side's flow is replaced by an affine motion fitted to that
 * side's flow in the ring just beyond the band, where the flow is its own. */
static void
straighten_flow_at_outline (Propagation *p, float *flow, const guint8 *mask)
{
  const int width = p->width, height = p->height;
  guint16 *distance = p->distance;
  double normal[2][3][3] = { 0 }, rhs[2][2][3] = { 0 }, affine[2][2][3];
  gsize count[2] = { 0, 0 };
  gboolean fitted[2];

  outline_distance (p, mask, distance);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        gsize i = (gsize) y * width + x;
        if (distance[i] <= 3 * BAND_RADIUS || distance[i] > 3 * (BAND_RADIUS + RING_WIDTH))
          continue;
        int side = mask[i] >= 128;
        double v[3] = { x, y, 1.0 };
        for (int j = 0; j < 3; j++)
          {
            for (int k = 0; k < 3; k++)
              normal[side][j][k] += v[j] * v[k];
            rhs[side][0][j] += v[j] * flow[2 * i];
            rhs[side][1][j] += v[j] * flow[2 * i + 1];
          }
        count[side]++;
      }
  for (int side = 0; side < 2; side++)
    fitted[side] = count[side] >= 16 && solve3 (normal[side], rhs[side][0], affine[side][0])
                   && solve3 (normal[side], rhs[side][1], affine[side][1]);

  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        gsize i = (gsize) y * width + x;
        int side = mask[i] >= 128;
        if (distance[i] > 3 * BAND_RADIUS || !fitted[side])
          continue;
        flow[2 * i] = (float) (affine[side][0][0] * x + affine[side][0][1] * y + affine[side][0][2]);
        flow[2 * i + 1] = (float) (affine[side][1][0] * x + affine[side][1][1] * y + affine[side][1][2]);
      }
}

/* The source mask looked up through @flow: where the outline will be in the
 * destination frame, to within the error being corrected. */
static void
pull_mask (Propagation *p, const guint8 *src_mask, const float *flow, guint8 *out)
{
  for (int y = 0; y < p->height; y++)
    for (int x = 0; x < p->width; x++)
      {
        gsize i = (gsize) y * p->width + x;
        float v = sample_mask (src_mask, p->width, p->height, (float) x + flow[2 * i], (float) y + flow[2 * i + 1]);
        out[i] = v >= 127.5f ? 255 : 0;
      }
}

/* Where the point at (x, y) of the source frame was in the keyframe:
 * bilinear between the four pixels around it when they moved together,
 * else (across an outline, where the pixels' keyframe positions part) the
 * nearest pixel's. NaN when that one was lost to an occlusion. */
static inline void
sample_position (const Propagation *p, float x, float y, float *px, float *py)
{
  const int width = p->width, height = p->height;
  int x0 = CLAMP ((int) floorf (x), 0, width - 2), y0 = CLAMP ((int) floorf (y), 0, height - 2);
  float ax = CLAMP (x - (float) x0, 0.0f, 1.0f), ay = CLAMP (y - (float) y0, 0.0f, 1.0f);
  const float *pos = p->position;
  gsize i00 = (gsize) y0 * width + x0, i01 = i00 + 1, i10 = i00 + width, i11 = i10 + 1;
  gboolean together = TRUE;
  gsize corner[4] = { i00, i01, i10, i11 };

  for (int k = 0; k < 4 && together; k++)
    {
      float ex = pos[2 * corner[k]] - pos[2 * i00] - (float) (k & 1);
      float ey = pos[2 * corner[k] + 1] - pos[2 * i00 + 1] - (float) (k >> 1);
      together = isfinite (pos[2 * corner[k]]) && ex * ex + ey * ey < 1.0f;
    }
  if (together)
    {
      *px = (1 - ay) * ((1 - ax) * pos[2 * i00] + ax * pos[2 * i01]) + ay * ((1 - ax) * pos[2 * i10] + ax * pos[2 * i11]);
      *py = (1 - ay) * ((1 - ax) * pos[2 * i00 + 1] + ax * pos[2 * i01 + 1])
            + ay * ((1 - ax) * pos[2 * i10 + 1] + ax * pos[2 * i11 + 1]);
      return;
    }
  gsize nearest = corner[(ax >= 0.5f) + 2 * (ay >= 0.5f)];
  *px = pos[2 * nearest];
  *py = pos[2 * nearest + 1];
}

static inline gsize
colour_bin (const guint8 *rgb)
{
  const int shift = 8 - KEY_COLOUR_BITS;
  return ((gsize) (rgb[0] >> shift) << (2 * KEY_COLOUR_BITS)) | ((gsize) (rgb[1] >> shift) << KEY_COLOUR_BITS)
         | (gsize) (rgb[2] >> shift);
}

/* TRUE when the keyframe showed this colour often outside its shape and
 * (almost) never inside. */
static gboolean
foreign_to_key (const Propagation *p, const guint8 *rgb)
{
  gsize bin = colour_bin (rgb);
  double outside = p->key_colours[2 * bin], inside = p->key_colours[2 * bin + 1];
  return outside + inside >= KEY_COLOUR_MIN_COUNT && inside <= KEY_COLOUR_FOREIGN * (outside + inside);
}

/* Per side of the outline, the mean and variance of each colour channel
 * over a tile and its eight neighbours; FALSE where a side has too few
 * samples or the two sides' colours overlap. */
static gboolean
tile_model (const Propagation *p, int tx, int ty, double mean[2][3], double variance[2][3])
{
  double separation = 0.0;

  for (int side = 0; side < 2; side++)
    {
      ColourStats total = { 0 };
      for (int y = MAX (0, ty - 1); y <= MIN (p->tiles_y - 1, ty + 1); y++)
        for (int x = MAX (0, tx - 1); x <= MIN (p->tiles_x - 1, tx + 1); x++)
          {
            const ColourStats *s = &p->tile_colours[2 * ((gsize) y * p->tiles_x + x) + side];
            total.n += s->n;
            for (int c = 0; c < 3; c++)
              {
                total.sum[c] += s->sum[c];
                total.squares[c] += s->squares[c];
              }
          }
      if (total.n < REFINE_MIN_SAMPLES)
        return FALSE;
      for (int c = 0; c < 3; c++)
        {
          mean[side][c] = total.sum[c] / total.n;
          variance[side][c] = MAX (total.squares[c] / total.n - mean[side][c] * mean[side][c], 0.0)
                              + REFINE_VARIANCE_FLOOR;
        }
    }
  for (int c = 0; c < 3; c++)
    separation += (mean[1][c] - mean[0][c]) * (mean[1][c] - mean[0][c]) / (variance[0][c] + variance[1][c]);
  return separation >= REFINE_SEPARATION;
}

/* Flow carries an outline to within a pixel or so of the shape's edge, and
 * that error adds up along a chain. Where the frame itself shows the edge
 * (the colours each side differ), a pixel near the outline joins the side
 * whose local colours explain it better, and the chain goes on from the
 * corrected outline: the moved pixels lose their keyframe positions, so the
 * next link reads them from this frame's mask. */
static void
refine_outline (Propagation *p, int frame, guint8 *mask, float *position)
{
  const int width = p->width, height = p->height;
  const guint8 *rgb = fa_working_clip_frame (p->clip, frame);
  guint16 *distance = p->distance;
  gsize n_tiles = (gsize) p->tiles_x * p->tiles_y;

  outline_distance (p, mask, distance);
  memset (p->tile_colours, 0, 2 * n_tiles * sizeof (ColourStats));
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        gsize i = (gsize) y * width + x;
        if (distance[i] <= 3 * REFINE_BAND || distance[i] > 3 * (REFINE_BAND + REFINE_RING))
          continue;
        ColourStats *s = &p->tile_colours[2 * ((gsize) (y / REFINE_TILE) * p->tiles_x + x / REFINE_TILE)
                                          + (mask[i] >= 128)];
        s->n += 1.0;
        for (int c = 0; c < 3; c++)
          {
            double v = rgb[3 * i + c];
            s->sum[c] += v;
            s->squares[c] += v * v;
          }
      }

  for (int ty = 0; ty < p->tiles_y; ty++)
    for (int tx = 0; tx < p->tiles_x; tx++)
      {
        double mean[2][3], variance[2][3], log_variance[2] = { 0.0, 0.0 };
        gboolean modelled = FALSE;

        for (int y = ty * REFINE_TILE; y < MIN (height, (ty + 1) * REFINE_TILE); y++)
          for (int x = tx * REFINE_TILE; x < MIN (width, (tx + 1) * REFINE_TILE); x++)
            {
              gsize i = (gsize) y * width + x;
              if (distance[i] > 3 * REFINE_BAND)
                continue;
              if (!modelled)
                {
                  /* built lazily: most tiles hold no outline */
                  if (!tile_model (p, tx, ty, mean, variance))
                    goto next_tile;
                  for (int side = 0; side < 2; side++)
                    for (int c = 0; c < 3; c++)
                      log_variance[side] += log (variance[side][c]);
                  modelled = TRUE;
                }
              double cost[2];
              for (int side = 0; side < 2; side++)
                {
                  cost[side] = log_variance[side];
                  for (int c = 0; c < 3; c++)
                    {
                      double d = rgb[3 * i + c] - mean[side][c];
                      cost[side] += d * d / variance[side][c];
                    }
                }
              /* cost is twice the negative log-likelihood */
              int side = mask[i] >= 128;
              int other = !side;
              if (0.5 * (cost[side] - cost[other]) > REFINE_MARGIN || (side && foreign_to_key (p, rgb + 3 * i)))
                {
                  mask[i] = other ? 255 : 0;
                  position[2 * i] = NAN;
                  position[2 * i + 1] = NAN;
                }
            }
      next_tile:;
      }
}

/* One link of a chain: the soft mask and trust of frame @src into frame @dst.
 * A pixel that passes the check pulls its value from where it came from; one
 * that fails takes what the source mask pushed onto it. */
static gboolean
step (Propagation *p, int src, int dst, const guint8 *src_mask, const guint8 *src_trust,
      guint8 *dst_mask, guint8 *dst_trust, GError **error)
{
  const int width = p->width, height = p->height;
  const float c2 = p->options->consistency_px * p->options->consistency_px;

  if (g_cancellable_set_error_if_cancelled (p->cancellable, error))
    return FALSE;
  if (!compute_flow (p, dst, src, p->toward_source, error) || !compute_flow (p, src, dst, p->from_source, error))
    return FALSE;
  if (p->options->flow_func == NULL)
    {
      straighten_flow_at_outline (p, p->from_source, src_mask);
      pull_mask (p, src_mask, p->toward_source, p->band);
      straighten_flow_at_outline (p, p->toward_source, p->band);
    }
  splat_mask (p, src_mask);

  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        gsize i = (gsize) y * width + x;
        float wx = p->toward_source[2 * i], wy = p->toward_source[2 * i + 1];
        float sx = (float) x + wx, sy = (float) y + wy;
        gboolean inside = sx > -0.5f && sy > -0.5f && sx < (float) width - 0.5f && sy < (float) height - 0.5f;
        gboolean consistent = FALSE;
        float bx = 0.0f, by = 0.0f;

        if (inside)
          {
            sample_flow (p->from_source, width, height, sx, sy, &bx, &by);
            float ex = wx + bx, ey = wy + by;
            consistent = ex * ex + ey * ey <= 0.01f * (wx * wx + wy * wy + bx * bx + by * by) + c2;
          }
        float px = NAN, py = NAN, value;
        if (consistent)
          sample_position (p, sx, sy, &px, &py);
        if (isfinite (px))
          /* read from the keyframe itself: one resampling however long the
           * chain, so the outline neither blurs nor rounds as it travels */
          value = sample_mask (p->key_mask, width, height, px, py);
        else
          {
            value = consistent ? sample_mask (src_mask, width, height, sx, sy) : MIN (p->splat[i], 255.0f);
            /* resampling blurs the edge a little at every link: steepening
             * it about the midpoint keeps it a few pixels wide */
            value = (value - 127.5f) * SHARPEN + 127.5f;
          }
        p->next_position[2 * i] = px;
        p->next_position[2 * i + 1] = py;
        dst_mask[i] = (guint8) lrintf (CLAMP (value, 0.0f, 255.0f));
        int sxi = CLAMP ((int) lrintf (sx), 0, width - 1), syi = CLAMP ((int) lrintf (sy), 0, height - 1);
        guint8 trust = src_trust[(gsize) syi * width + sxi];
        dst_trust[i] = consistent ? trust : trust / 4;
      }
  if (p->options->refine_outline)
    refine_outline (p, dst, dst_mask, p->next_position);
  {
    float *swap = p->position;
    p->position = p->next_position;
    p->next_position = swap;
  }
  p->done++;
  if (p->options->progress != NULL)
    p->options->progress (p->done, p->total, p->options->progress_user_data);
  return TRUE;
}

/* Mean trust (0…1) over the mask and its neighbourhood: how sure we are of
 * the pixels that decide the outline. */
static float
frame_confidence (Propagation *p, const guint8 *mask, const guint8 *trust, int distance)
{
  guint8 *region = p->scratch + p->n_pixels; /* the second half of the scratch */
  double sum = 0.0;
  gsize count = 0;

  memcpy (region, mask, p->n_pixels);
  {
    /* square_filter needs its own scratch: borrow the first half */
    square_filter (region, p->scratch, p->width, p->height, 2, TRUE);
  }
  for (gsize i = 0; i < p->n_pixels; i++)
    if (region[i])
      {
        sum += trust[i];
        count++;
      }
  if (count == 0)
    for (gsize i = 0; i < p->n_pixels; i++, count++)
      sum += trust[i];
  return (float) (sum / (double) count / FULL_TRUST * pow (DECAY_PER_FRAME, distance));
}

static gboolean
check_arguments (FaMaskSet *masks, const FaWorkingClip *clip, FaBackend *backend,
                 const FaPropagateOptions *options, GError **error)
{
  if (masks == NULL || clip == NULL || options == NULL || (backend == NULL && options->flow_func == NULL))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "mask propagation needs a mask set, a clip, options and a backend");
      return FALSE;
    }
  if (fa_mask_set_get_n_frames (masks) != clip->n_frames || fa_mask_set_get_width (masks) != clip->width
      || fa_mask_set_get_height (masks) != clip->height)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "the masks (%d frames of %d×%d) do not fit the clip (%d frames of %d×%d)",
                   fa_mask_set_get_n_frames (masks), fa_mask_set_get_width (masks),
                   fa_mask_set_get_height (masks), clip->n_frames, clip->width, clip->height);
      return FALSE;
    }
  if (fa_mask_set_list_keyframes (masks, NULL) == 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "there is no keyframe to propagate from: draw a mask on at least one frame");
      return FALSE;
    }
  if (!isfinite (options->consistency_px) || options->consistency_px < 0.0f || options->consistency_px > 100.0f)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "the consistency threshold %g px is outside [0, 100]", options->consistency_px);
      return FALSE;
    }
  if (options->morphology_radius < 0 || options->morphology_radius > 16)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "the morphology radius %d is outside [0, 16]", options->morphology_radius);
      return FALSE;
    }
  return TRUE;
}

/* A keyframe's alpha starts a chain, with full trust. */
static void
seed_chain (Propagation *p, int key, const guint8 *alpha, guint8 *mask, guint8 *trust)
{
  for (gsize i = 0; i < p->n_pixels; i++)
    mask[i] = alpha[i];
  p->key_mask = alpha;
  for (int y = 0; y < p->height; y++)
    for (int x = 0; x < p->width; x++)
      {
        p->position[2 * ((gsize) y * p->width + x)] = (float) x;
        p->position[2 * ((gsize) y * p->width + x) + 1] = (float) y;
      }
  memset (trust, FULL_TRUST, p->n_pixels);
  memset (p->key_colours, 0, 2 * KEY_COLOUR_BINS * sizeof (guint32));
  for (gsize i = 0; i < p->n_pixels; i++)
    p->key_colours[2 * colour_bin (fa_working_clip_frame (p->clip, key) + 3 * i) + (alpha[i] >= 128)]++;
}

/* A chain's soft mask as the frame's result: inside from the midpoint up,
 * cleaned. */
static void
store (Propagation *p, guint8 *result_alpha, const guint8 *mask)
{
  for (gsize i = 0; i < p->n_pixels; i++)
    result_alpha[i] = mask[i] >= 128 ? 255 : 0;
  clean_up (p, result_alpha);
}

/* One chain from keyframe @key over @count frames in direction @dir (±1),
 * each frame stored as it is reached. */
static gboolean
run_chain (Propagation *p, FaMaskSet *masks, int key, int dir, int count, guint8 *result,
           float *confidence, GError **error)
{
  gsize n = p->n_pixels;
  g_autofree guint8 *buffers = g_malloc (4 * n);
  guint8 *mask = buffers, *trust = buffers + n, *next_mask = buffers + 2 * n, *next_trust = buffers + 3 * n;

  seed_chain (p, key, fa_mask_set_peek_frame (masks, key), mask, trust);
  for (int k = 1; k <= count; k++)
    {
      int t = key + dir * k;
      if (!step (p, t - dir, t, mask, trust, next_mask, next_trust, error))
        return FALSE;
      store (p, result + (gsize) t * n, next_mask);
      confidence[t] = frame_confidence (p, result + (gsize) t * n, next_trust, k);
      memcpy (mask, next_mask, n);
      memcpy (trust, next_trust, n);
    }
  return TRUE;
}

/* The frames strictly between keyframes @a and @b: a forward chain from @a
 * whose results wait, then a backward chain from @b that combines with them
 * frame by frame. */
static gboolean
run_gap (Propagation *p, FaMaskSet *masks, int a, int b, guint8 *result, float *confidence,
         GError **error)
{
  gsize n = p->n_pixels;
  int gap = b - a - 1;
  g_autofree guint8 *forward = g_malloc ((gsize) gap * 2 * n); /* per frame: mask, then trust */
  g_autofree guint8 *buffers = g_malloc (5 * n);
  guint8 *mask = buffers, *trust = buffers + n, *next_mask = buffers + 2 * n, *next_trust = buffers + 3 * n;
  guint8 *combined_trust = buffers + 4 * n;

  seed_chain (p, a, fa_mask_set_peek_frame (masks, a), mask, trust);
  for (int t = a + 1; t < b; t++)
    {
      guint8 *slot = forward + (gsize) (t - a - 1) * 2 * n;
      if (!step (p, t - 1, t, mask, trust, slot, slot + n, error))
        return FALSE;
      memcpy (mask, slot, n);
      memcpy (trust, slot + n, n);
    }

  seed_chain (p, b, fa_mask_set_peek_frame (masks, b), mask, trust);
  for (int t = b - 1; t > a; t--)
    {
      const guint8 *forward_mask = forward + (gsize) (t - a - 1) * 2 * n, *forward_trust = forward_mask + n;
      guint8 *out = result + (gsize) t * n;
      float distance_forward = (float) (t - a), distance_backward = (float) (b - t);

      if (!step (p, t + 1, t, mask, trust, next_mask, next_trust, error))
        return FALSE;
      for (gsize i = 0; i < n; i++)
        {
          /* +1 keeps the distance weighting where both votes lost their trust */
          float wf = ((float) forward_trust[i] + 1.0f) / distance_forward;
          float wb = ((float) next_trust[i] + 1.0f) / distance_backward;
          float vote = (wf * forward_mask[i] + wb * next_mask[i]) / (wf + wb);
          out[i] = vote >= 127.5f ? 255 : 0;
          combined_trust[i] = (guint8) lrintf ((wf * forward_trust[i] + wb * next_trust[i]) / (wf + wb));
        }
      clean_up (p, out);
      confidence[t] = frame_confidence (p, out, combined_trust, (int) MIN (distance_forward, distance_backward));
      memcpy (mask, next_mask, n);
      memcpy (trust, next_trust, n);
    }
  return TRUE;
}

gboolean
fa_mask_propagate (FaMaskSet *masks, const FaWorkingClip *clip, FaBackend *backend,
                   const FaPropagateOptions *options, GCancellable *cancellable, GError **error)
{
  Propagation p = { 0 };
  g_autoptr (FaFlow) flow = NULL;
  g_autofree int *keys = NULL;
  g_autofree float *toward = NULL, *from = NULL, *splat = NULL, *confidence = NULL, *positions = NULL;
  g_autofree guint16 *distance = NULL;
  g_autofree ColourStats *tile_colours = NULL;
  g_autofree guint32 *key_colours = NULL;
  g_autofree guint8 *scratch = NULL, *result = NULL, *band = NULL;
  int n_keys, n_frames;

  if (!check_arguments (masks, clip, backend, options, error))
    return FALSE;

  n_frames = clip->n_frames;
  keys = g_new (int, n_frames);
  n_keys = fa_mask_set_list_keyframes (masks, keys);

  p.clip = clip;
  p.options = options;
  p.cancellable = cancellable;
  p.width = clip->width;
  p.height = clip->height;
  p.n_pixels = (gsize) clip->width * clip->height;
  p.total = (guint) (n_frames - 1 - (keys[n_keys - 1] - keys[0])) /* the chains outside the keyframes */;
  for (int k = 0; k + 1 < n_keys; k++)
    p.total += (guint) (2 * (keys[k + 1] - keys[k] - 1)); /* both chains over each gap */

  if (options->flow_func == NULL)
    {
      flow = fa_flow_new (backend, clip->width, clip->height, &options->flow, error);
      if (flow == NULL)
        return FALSE;
      p.flow = flow;
    }
  p.toward_source = toward = g_new (float, p.n_pixels * 2);
  p.from_source = from = g_new (float, p.n_pixels * 2);
  p.splat = splat = g_new (float, p.n_pixels);
  p.distance = distance = g_new (guint16, p.n_pixels);
  positions = g_new (float, p.n_pixels * 4);
  p.position = positions;
  p.next_position = positions + p.n_pixels * 2;
  p.band = band = g_malloc (p.n_pixels);
  p.tiles_x = (p.width + REFINE_TILE - 1) / REFINE_TILE;
  p.tiles_y = (p.height + REFINE_TILE - 1) / REFINE_TILE;
  p.tile_colours = tile_colours = g_new (ColourStats, 2 * (gsize) p.tiles_x * p.tiles_y);
  p.key_colours = key_colours = g_new (guint32, 2 * KEY_COLOUR_BINS);
  p.scratch = scratch = g_malloc (2 * p.n_pixels);
  result = g_malloc (p.n_pixels * (gsize) n_frames);
  confidence = g_new0 (float, n_frames);

  if (!run_chain (&p, masks, keys[0], -1, keys[0], result, confidence, error))
    return FALSE;
  for (int k = 0; k + 1 < n_keys; k++)
    if (keys[k + 1] - keys[k] > 1 && !run_gap (&p, masks, keys[k], keys[k + 1], result, confidence, error))
      return FALSE;
  if (!run_chain (&p, masks, keys[n_keys - 1], +1, n_frames - 1 - keys[n_keys - 1], result, confidence, error))
    return FALSE;

  for (int t = 0; t < n_frames; t++)
    if (!fa_mask_set_is_keyframe (masks, t))
      {
        memcpy (fa_mask_set_get_frame (masks, t), result + (gsize) t * p.n_pixels, p.n_pixels);
        fa_mask_set_set_confidence (masks, t, confidence[t]);
      }
  fa_mask_set_mark_propagated (masks);
  g_debug ("propagated %d keyframe(s) over %d frames (%u frame pairs)", n_keys, n_frames, p.done);
  return TRUE;
}
