/* Synthetic clips: the same seed gives the same bytes; the ground-truth
 * flow carries frame t + 1 back onto frame t and the mask of frame t onto
 * the mask of frame t + 1; each motion does what it says (the tracked
 * shape turns, grows and shrinks, is hidden and comes back); bad options
 * fail naming the field.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>
#include <string.h>

#include "fa-error.h"
#include "fa-mask.h"
#include "fa-synthetic.h"
#include "fa-test-util.h"

#define SW 160
#define SH 96
#define SN 9

static FaSynthClip *
make_clip (FaSynthMotion motion, int width, int height, int n_frames, guint32 seed)
{
  g_autoptr (GError) error = NULL;
  FaSynthOptions options;

  fa_synth_options_init (&options);
  options.motion = motion;
  options.width = width;
  options.height = height;
  options.n_frames = n_frames;
  options.seed = seed;
  FaSynthClip *synth = fa_synth_clip_new (&options, &error);
  g_assert_no_error (error);
  g_assert_nonnull (synth);
  return synth;
}

static gsize
mask_area (const guint8 *mask, gsize n)
{
  gsize area = 0;

  for (gsize i = 0; i < n; i++)
    area += mask[i] != 0;
  return area;
}

/* Bilinear sample of channel @c of a packed RGB frame at continuous (x, y)
 * (pixel centres at + 0.5), clamped at the border. */
static double
bilinear (const guint8 *rgb, int w, int h, double x, double y, int c)
{
  double u = CLAMP (x - 0.5, 0.0, w - 1.0), v = CLAMP (y - 0.5, 0.0, h - 1.0);
  int i = MIN ((int) u, w - 2), j = MIN ((int) v, h - 2);
  double fx = u - i, fy = v - j;
  const guint8 *p = rgb + ((gsize) j * w + i) * 3 + c;
  const guint8 *q = p + (gsize) w * 3;

  return (1 - fy) * ((1 - fx) * p[0] + fx * p[3]) + fy * ((1 - fx) * q[0] + fx * q[3]);
}

/* Pixels whose 5 × 5 neighbourhood is valid and moves as one surface:
 * no edge nearby in either frame. */
static guint8 *
interior (const float *flow, const guint8 *valid, int w, int h)
{
  guint8 *keep = g_malloc0 ((gsize) w * h);

  for (int y = 2; y < h - 2; y++)
    for (int x = 2; x < w - 2; x++)
      {
        gsize i = (gsize) y * w + x;
        gboolean ok = TRUE;
        for (int dy = -2; dy <= 2 && ok; dy++)
          for (int dx = -2; dx <= 2 && ok; dx++)
            {
              gsize j = (gsize) (y + dy) * w + x + dx;
              /* a rotation or a scaling changes the flow by well under 0.1 px per pixel */
              ok = valid[j] && fabs (flow[j * 2] - flow[i * 2]) < 0.25 && fabs (flow[j * 2 + 1] - flow[i * 2 + 1]) < 0.25;
            }
        keep[i] = ok;
      }
  return keep;
}

/* Mean |frame t − frame t + 1 sampled at p + @scale · flow| over @keep. */
static double
warp_error (const guint8 *frame0, const guint8 *frame1, const float *flow, const guint8 *keep, int w, int h,
            double scale, gsize *counted)
{
  double sum = 0.0;
  gsize n = 0;

  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        gsize i = (gsize) y * w + x;
        if (!keep[i])
          continue;
        for (int c = 0; c < 3; c++)
          sum += fabs (frame0[i * 3 + c] - bilinear (frame1, w, h, x + 0.5 + scale * flow[i * 2],
                                                     y + 0.5 + scale * flow[i * 2 + 1], c));
        n += 3;
      }
  *counted = n / 3;
  return n > 0 ? sum / n : INFINITY;
}

/* The pixels of the mask of frame t moved along their flow (valid ones
 * only), each as its centre or as four points a quarter pixel from it
 * (so that a growing shape leaves no holes). */
static guint8 *
splat_mask (const guint8 *mask, const float *flow, const guint8 *valid, int w, int h, int n_points)
{
  guint8 *moved = g_malloc0 ((gsize) w * h);

  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        gsize i = (gsize) y * w + x;
        if (!mask[i] || !valid[i])
          continue;
        for (int k = 0; k < n_points; k++)
          {
            int tx = (int) floor (x + (n_points == 1 ? 0.5 : 0.25 + 0.5 * (k & 1)) + flow[i * 2]);
            int ty = (int) floor (y + (n_points == 1 ? 0.5 : 0.25 + 0.5 * (k >> 1)) + flow[i * 2 + 1]);
            if (tx >= 0 && tx < w && ty >= 0 && ty < h)
              moved[(gsize) ty * w + tx] = 255;
          }
      }
  return moved;
}

static void
test_determinism (void)
{
  g_autoptr (FaSynthClip) a = make_clip (FA_SYNTH_ROTATE, SW, SH, SN, 7);
  g_autoptr (FaSynthClip) b = make_clip (FA_SYNTH_ROTATE, SW, SH, SN, 7);
  g_autoptr (FaSynthClip) c = make_clip (FA_SYNTH_ROTATE, SW, SH, SN, 8);
  const FaWorkingClip *ca = fa_synth_clip_get_clip (a), *cb = fa_synth_clip_get_clip (b), *cc = fa_synth_clip_get_clip (c);
  gsize bytes = (gsize) SN * SW * SH * 3;

  g_assert_cmpint (ca->n_frames, ==, SN);
  g_assert_cmpint (ca->width, ==, SW);
  g_assert_cmpint (ca->height, ==, SH);
  g_assert_cmpint (ca->fps_n, ==, 16);
  g_assert_cmpint (ca->fps_d, ==, 1);
  g_assert_null (ca->source);
  g_assert_cmpmem (ca->rgb, bytes, cb->rgb, bytes);
  g_assert_true (memcmp (ca->rgb, cc->rgb, bytes) != 0);
  for (int t = 0; t < SN; t++)
    g_assert_cmpmem (fa_synth_clip_get_mask (a, t), SW * SH, fa_synth_clip_get_mask (b, t), SW * SH);

  g_autofree float *fa = g_new (float, SW * SH * 2);
  g_autofree float *fb = g_new (float, SW * SH * 2);
  fa_synth_clip_get_flow (a, 3, fa, NULL);
  fa_synth_clip_get_flow (b, 3, fb, NULL);
  g_assert_cmpmem (fa, SW * SH * 2 * sizeof (float), fb, SW * SH * 2 * sizeof (float));

  /* the frames move: consecutive frames differ */
  g_assert_true (memcmp (ca->rgb, ca->rgb + SW * SH * 3, SW * SH * 3) != 0);
}

/* Frame t + 1 sampled along the ground-truth flow is frame t again. */
static void
check_flow_warps (FaSynthMotion motion, guint32 seed)
{
  g_autoptr (FaSynthClip) synth = make_clip (motion, SW, SH, SN, seed);
  const FaWorkingClip *clip = fa_synth_clip_get_clip (synth);
  g_autofree float *flow = g_new (float, SW * SH * 2);
  g_autofree guint8 *valid = g_new (guint8, SW * SH);

  for (int t = 0; t + 1 < SN; t++)
    {
      fa_test_poison (flow, SW * SH * 2);
      memset (valid, 7, SW * SH);
      fa_synth_clip_get_flow (synth, t, flow, valid);
      for (int i = 0; i < SW * SH; i++)
        {
          g_assert_true (isfinite (flow[i * 2]) && isfinite (flow[i * 2 + 1]));
          g_assert_cmpuint (valid[i], <=, 1);
          /* a few px per frame, nothing wild */
          g_assert_cmpfloat (hypot (flow[i * 2], flow[i * 2 + 1]), <, 20.0);
        }

      g_autofree guint8 *keep = interior (flow, valid, SW, SH);
      const guint8 *f0 = fa_working_clip_frame (clip, t), *f1 = fa_working_clip_frame (clip, t + 1);
      gsize counted, ignored;
      double exact = warp_error (f0, f1, flow, keep, SW, SH, 1.0, &counted);
      /* the same pixels, left where they were: what the flow must beat */
      double still = warp_error (f0, f1, flow, keep, SW, SH, 0.0, &ignored);
      double half = warp_error (f0, f1, flow, keep, SW, SH, 0.5, &ignored);

      g_test_message ("motion %d frame %d: %zu interior pixels, error %.2f (half flow %.2f, none %.2f)", motion, t,
                      counted, exact, half, still);
      g_assert_cmpuint (counted, >, SW * SH / 2);
      g_assert_cmpfloat (exact, <, 2.5);
      g_assert_cmpfloat (half, >, 2.0 * exact);
      g_assert_cmpfloat (still, >, 4.0 * exact);
    }
}

static void
test_flow_translate (void)
{
  check_flow_warps (FA_SYNTH_TRANSLATE, 1);
}

static void
test_flow_rotate (void)
{
  check_flow_warps (FA_SYNTH_ROTATE, 2);
}

static void
test_flow_scale (void)
{
  check_flow_warps (FA_SYNTH_SCALE, 3);
}

static void
test_flow_occlude (void)
{
  check_flow_warps (FA_SYNTH_OCCLUDE, 4);
}

/* The mask of frame t moved by the flow lands on the mask of frame t + 1. */
static void
check_mask_moves (FaSynthMotion motion, int w, int h, int n, guint32 seed)
{
  g_autoptr (FaSynthClip) synth = make_clip (motion, w, h, n, seed);
  g_autofree float *flow = g_new (float, (gsize) w * h * 2);
  g_autofree guint8 *valid = g_new (guint8, (gsize) w * h);

  for (int t = 0; t + 1 < n; t++)
    {
      const guint8 *mask = fa_synth_clip_get_mask (synth, t), *next = fa_synth_clip_get_mask (synth, t + 1);
      gsize area = mask_area (mask, (gsize) w * h);

      /* a shape, neither a speck nor the frame */
      g_assert_cmpuint (area, >, (gsize) w * h / 50);
      g_assert_cmpuint (area, <, (gsize) w * h * 2 / 5);
      for (gsize i = 0; i < (gsize) w * h; i++)
        g_assert_true (mask[i] == 0 || mask[i] == 255);

      fa_synth_clip_get_flow (synth, t, flow, valid);
      g_autofree guint8 *moved = splat_mask (mask, flow, valid, w, h, 4);
      g_autofree guint8 *centres = splat_mask (mask, flow, valid, w, h, 1);
      double j = fa_mask_jaccard (moved, next, w, h);
      gsize both = 0, moved_area = mask_area (centres, (gsize) w * h);
      for (gsize i = 0; i < (gsize) w * h; i++)
        both += centres[i] && next[i];
      double precision = (double) both / MAX (moved_area, 1);
      g_test_message ("motion %d frame %d: area %zu, moved mask on the next: J %.4f, precision %.4f", motion, t, area,
                      j, precision);
      g_assert_cmpfloat (precision, >, 0.95);
      /* where nothing passes in front, the next mask is the moved one */
      if (motion != FA_SYNTH_OCCLUDE)
        g_assert_cmpfloat (j, >, 0.9);

      /* every visible pixel of the tracked shape moves onto it: into the
       * next mask, or next to it where the exact destination and the centre
       * of its pixel fall on either side of the contour */
      gsize landed = 0, counted = 0;
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
          {
            gsize i = (gsize) y * w + x;
            if (!mask[i] || !valid[i])
              continue;
            int tx = (int) floor (x + 0.5 + flow[i * 2]), ty = (int) floor (y + 0.5 + flow[i * 2 + 1]);
            gboolean near = FALSE;
            for (int dy = -1; dy <= 1; dy++)
              for (int dx = -1; dx <= 1; dx++)
                {
                  int nx = tx + dx, ny = ty + dy;
                  near = near || (nx >= 0 && nx < w && ny >= 0 && ny < h && next[(gsize) ny * w + nx]);
                }
            counted++;
            landed += near;
          }
      g_assert_cmpuint (counted, >, area / 2);
      g_assert_cmpuint (landed, ==, counted);
    }
}

static void
test_mask_translate (void)
{
  check_mask_moves (FA_SYNTH_TRANSLATE, 2 * SW, 2 * SH, SN, 11);
}

static void
test_mask_rotate (void)
{
  check_mask_moves (FA_SYNTH_ROTATE, 2 * SW, 2 * SH, SN, 12);
}

static void
test_mask_scale (void)
{
  check_mask_moves (FA_SYNTH_SCALE, 2 * SW, 2 * SH, SN, 13);
}

static void
test_mask_occlude (void)
{
  check_mask_moves (FA_SYNTH_OCCLUDE, 2 * SW, 2 * SH, SN, 14);
}

/* What each motion is for. */
static void
test_rotate_turns (void)
{
  g_autoptr (FaSynthClip) synth = make_clip (FA_SYNTH_ROTATE, SW, SH, 17, 21);
  g_autofree float *flow = g_new (float, SW * SH * 2);
  g_autofree guint8 *valid = g_new (guint8, SW * SH);

  /* the flow inside the tracked shape is not one translation: its curl
   * (∂v/∂x − ∂u/∂y) is the turn per frame, 1–2° ≈ 0.017–0.035 rad */
  fa_synth_clip_get_flow (synth, 4, flow, valid);
  const guint8 *mask = fa_synth_clip_get_mask (synth, 4);
  double curl = 0.0;
  gsize n = 0;
  for (int y = 1; y < SH - 1; y++)
    for (int x = 1; x < SW - 1; x++)
      {
        gsize i = (gsize) y * SW + x;
        if (!(mask[i] && mask[i + 1] && mask[i - 1] && mask[i + SW] && mask[i - SW]))
          continue;
        double dv_dx = (flow[(i + 1) * 2 + 1] - flow[(i - 1) * 2 + 1]) / 2.0;
        double du_dy = (flow[(i + SW) * 2] - flow[(i - SW) * 2]) / 2.0;
        curl += dv_dx - du_dy;
        n++;
      }
  g_assert_cmpuint (n, >, 100);
  double turn = fabs (curl / n) / 2.0;
  g_test_message ("turn per frame %.4f rad", turn);
  g_assert_cmpfloat (turn, >, 0.8 * G_PI / 180.0);
  g_assert_cmpfloat (turn, <, 2.2 * G_PI / 180.0);
}

static void
test_scale_breathes (void)
{
  g_autoptr (FaSynthClip) synth = make_clip (FA_SYNTH_SCALE, SW, SH, 17, 22);
  double first = (double) mask_area (fa_synth_clip_get_mask (synth, 0), SW * SH);
  double lo = first, hi = first;

  for (int t = 1; t < 17; t++)
    {
      double area = (double) mask_area (fa_synth_clip_get_mask (synth, t), SW * SH);
      lo = MIN (lo, area);
      hi = MAX (hi, area);
    }
  /* ±30 % in size is 0.49–1.69 in area */
  g_test_message ("areas: first %.0f, %.0f to %.0f", first, lo, hi);
  g_assert_cmpfloat (hi / first, >, 1.5);
  g_assert_cmpfloat (lo / first, <, 0.6);
  g_assert_cmpfloat (hi / first, <, 1.8);
  g_assert_cmpfloat (lo / first, >, 0.4);
}

static void
test_occlude_hides (void)
{
  const int n = 17;
  g_autoptr (FaSynthClip) synth = make_clip (FA_SYNTH_OCCLUDE, SW, SH, n, 23);
  g_autofree float *flow = g_new (float, SW * SH * 2);
  g_autofree guint8 *valid = g_new (guint8, SW * SH);
  double first = (double) mask_area (fa_synth_clip_get_mask (synth, 0), SW * SH);
  double last = (double) mask_area (fa_synth_clip_get_mask (synth, n - 1), SW * SH);
  double least = first;
  gsize hidden = 0;

  for (int t = 0; t < n; t++)
    least = MIN (least, (double) mask_area (fa_synth_clip_get_mask (synth, t), SW * SH));
  for (int t = 0; t + 1 < n; t++)
    {
      const guint8 *mask = fa_synth_clip_get_mask (synth, t);
      fa_synth_clip_get_flow (synth, t, flow, valid);
      for (int i = 0; i < SW * SH; i++)
        hidden += mask[i] && !valid[i];
    }
  g_test_message ("areas: first %.0f, least %.0f, last %.0f; %zu tracked pixels hidden in the next frame", first,
                  least, last, hidden);
  /* clear of the occluder at both ends, partly behind it in between */
  g_assert_cmpfloat (fabs (last - first), <, 0.03 * first);
  g_assert_cmpfloat (least, <, 0.85 * first);
  g_assert_cmpfloat (least, >, 0.2 * first);
  g_assert_cmpuint (hidden, >, 50);
}

/* At the default size: timing-free properties of a short clip. */
static void
test_full_size (void)
{
  FaSynthOptions options;
  g_autoptr (GError) error = NULL;

  fa_synth_options_init (&options);
  g_assert_cmpint (options.width, ==, 832);
  g_assert_cmpint (options.height, ==, 480);
  g_assert_cmpint (options.n_frames, ==, 81);
  g_assert_cmpint (options.fps, ==, 16);
  g_assert_cmpint (options.motion, ==, FA_SYNTH_TRANSLATE);
  options.n_frames = 5;
  options.fps = 25;
  g_autoptr (FaSynthClip) synth = fa_synth_clip_new (&options, &error);
  g_assert_no_error (error);
  const FaWorkingClip *clip = fa_synth_clip_get_clip (synth);
  g_assert_cmpint (clip->width, ==, 832);
  g_assert_cmpint (clip->height, ==, 480);
  g_assert_cmpint (clip->fps_n, ==, 25);
  g_assert_cmpint (clip->source_pts_ns[4], ==, 4 * G_GINT64_CONSTANT (1000000000) / 25);
  check_mask_moves (FA_SYNTH_TRANSLATE, 832, 480, 3, 5);
}

static void
test_errors (void)
{
  const struct {
    int motion, width, height, n_frames, fps;
    const char *fragment;
  } cases[] = {
    { 7, SW, SH, SN, 16, "motion" },
    { -1, SW, SH, SN, 16, "motion" },
    { FA_SYNTH_TRANSLATE, 0, SH, SN, 16, "0×96" },
    { FA_SYNTH_TRANSLATE, SW, -5, SN, 16, "160×-5" },
    { FA_SYNTH_TRANSLATE, 100000, SH, SN, 16, "100000×96" },
    { FA_SYNTH_TRANSLATE, SW, SH, 1, 16, "1 frames" },
    { FA_SYNTH_TRANSLATE, SW, SH, 0, 16, "0 frames" },
    { FA_SYNTH_TRANSLATE, SW, SH, SN, 0, "0 fps" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      FaSynthOptions options;
      g_autoptr (GError) error = NULL;
      fa_synth_options_init (&options);
      options.motion = (FaSynthMotion) cases[i].motion;
      options.width = cases[i].width;
      options.height = cases[i].height;
      options.n_frames = cases[i].n_frames;
      options.fps = cases[i].fps;
      g_autoptr (FaSynthClip) synth = fa_synth_clip_new (&options, &error);
      g_assert_null (synth);
      fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, cases[i].fragment);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/synthetic/determinism", test_determinism);
  g_test_add_func ("/synthetic/flow/translate", test_flow_translate);
  g_test_add_func ("/synthetic/flow/rotate", test_flow_rotate);
  g_test_add_func ("/synthetic/flow/scale", test_flow_scale);
  g_test_add_func ("/synthetic/flow/occlude", test_flow_occlude);
  g_test_add_func ("/synthetic/mask/translate", test_mask_translate);
  g_test_add_func ("/synthetic/mask/rotate", test_mask_rotate);
  g_test_add_func ("/synthetic/mask/scale", test_mask_scale);
  g_test_add_func ("/synthetic/mask/occlude", test_mask_occlude);
  g_test_add_func ("/synthetic/motion/rotate", test_rotate_turns);
  g_test_add_func ("/synthetic/motion/scale", test_scale_breathes);
  g_test_add_func ("/synthetic/motion/occlude", test_occlude_hides);
  g_test_add_func ("/synthetic/full-size", test_full_size);
  g_test_add_func ("/synthetic/errors", test_errors);
  return g_test_run ();
}
