/* The mask set: keyframe flags, serial and confidence; brush and eraser
 * strokes (dab profile, continuity between distant points), boxes clipped
 * to the frame; J and boundary F on hand-countable masks; PNG files in
 * every layout a user's mask may come in, their errors, and the atomic
 * replace.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <math.h>
#include <png.h>
#include <string.h>
#include <unistd.h>

#include "fa-error.h"
#include "fa-mask.h"
#include "fa-png.h"
#include "fa-test-util.h"

#define W 64
#define H 48

static FaMaskSet *
new_masks (int n_frames, int width, int height)
{
  g_autoptr (GError) error = NULL;
  FaMaskSet *masks = fa_mask_set_new (n_frames, width, height, &error);

  g_assert_no_error (error);
  g_assert_nonnull (masks);
  return masks;
}

static gsize
count_inside (const guint8 *alpha, gsize n)
{
  gsize count = 0;

  for (gsize i = 0; i < n; i++)
    count += alpha[i] >= 128;
  return count;
}

static gboolean
all_zero (const guint8 *alpha, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (alpha[i] != 0)
      return FALSE;
  return TRUE;
}

/* ---- the set ---- */

static void
test_new (void)
{
  g_autoptr (FaMaskSet) masks = new_masks (5, W, H);

  g_assert_cmpint (fa_mask_set_get_n_frames (masks), ==, 5);
  g_assert_cmpint (fa_mask_set_get_width (masks), ==, W);
  g_assert_cmpint (fa_mask_set_get_height (masks), ==, H);
  for (int f = 0; f < 5; f++)
    {
      g_assert_true (all_zero (fa_mask_set_peek_frame (masks, f), W * H));
      g_assert_false (fa_mask_set_is_keyframe (masks, f));
      g_assert_cmpfloat (fa_mask_set_get_confidence (masks, f), ==, 0.0f);
    }
  g_assert_cmpint (fa_mask_set_list_keyframes (masks, NULL), ==, 0);
  /* nothing drawn: nothing to propagate */
  g_assert_false (fa_mask_set_needs_propagation (masks));

  const int bad[][3] = { { 0, W, H }, { -1, W, H }, { 5, 0, H }, { 5, W, 0 }, { 5, -3, H }, { 5, 1 << 20, H } };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (FaMaskSet) none = fa_mask_set_new (bad[i][0], bad[i][1], bad[i][2], &error);
      g_assert_null (none);
      fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "mask set");
    }
}

static void
test_keyframes (void)
{
  g_autoptr (FaMaskSet) masks = new_masks (9, W, H);
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *alpha = g_malloc (W * H);
  int frames[9];

  for (int i = 0; i < W * H; i++)
    alpha[i] = (guint8) (i * 7);

  guint64 serial = fa_mask_set_get_keyframe_serial (masks);
  g_assert_true (fa_mask_set_set_keyframe (masks, 6, alpha, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (fa_mask_set_peek_frame (masks, 6), W * H, alpha, W * H);
  g_assert_true (fa_mask_set_is_keyframe (masks, 6));
  g_assert_cmpuint (fa_mask_set_get_keyframe_serial (masks), >, serial);
  g_assert_true (fa_mask_set_needs_propagation (masks));

  g_assert_true (fa_mask_set_apply_box (masks, 2, 1, 1, 4, 4, FALSE, &error));
  g_assert_cmpint (fa_mask_set_list_keyframes (masks, frames), ==, 2);
  g_assert_cmpint (frames[0], ==, 2);
  g_assert_cmpint (frames[1], ==, 6);

  /* propagation catches up; the next change makes it stale again */
  fa_mask_set_mark_propagated (masks);
  g_assert_false (fa_mask_set_needs_propagation (masks));
  serial = fa_mask_set_get_keyframe_serial (masks);
  FaMaskPoint point = { 10.5f, 10.5f };
  FaMaskStroke stroke = { &point, 1, 3.0f, 0.5f, FALSE };
  g_assert_true (fa_mask_set_apply_stroke (masks, 2, &stroke, &error));
  g_assert_cmpuint (fa_mask_set_get_keyframe_serial (masks), >, serial);
  g_assert_true (fa_mask_set_needs_propagation (masks));
  fa_mask_set_mark_propagated (masks);

  /* unsetting is a keyframe change; the alpha stays */
  serial = fa_mask_set_get_keyframe_serial (masks);
  fa_mask_set_unset_keyframe (masks, 6);
  g_assert_false (fa_mask_set_is_keyframe (masks, 6));
  g_assert_cmpmem (fa_mask_set_peek_frame (masks, 6), W * H, alpha, W * H);
  g_assert_cmpuint (fa_mask_set_get_keyframe_serial (masks), >, serial);
  g_assert_true (fa_mask_set_needs_propagation (masks));
  fa_mask_set_mark_propagated (masks);
  /* unsetting a frame that is no keyframe changes nothing */
  serial = fa_mask_set_get_keyframe_serial (masks);
  fa_mask_set_unset_keyframe (masks, 5);
  g_assert_cmpuint (fa_mask_set_get_keyframe_serial (masks), ==, serial);
  g_assert_false (fa_mask_set_needs_propagation (masks));
  g_assert_cmpint (fa_mask_set_list_keyframes (masks, frames), ==, 1);
  g_assert_cmpint (frames[0], ==, 2);

  /* confidence: clamped to [0, 1], NaN is no trust, keyframes are 1 */
  fa_mask_set_set_confidence (masks, 4, 0.25f);
  g_assert_cmpfloat (fa_mask_set_get_confidence (masks, 4), ==, 0.25f);
  fa_mask_set_set_confidence (masks, 4, 3.0f);
  g_assert_cmpfloat (fa_mask_set_get_confidence (masks, 4), ==, 1.0f);
  fa_mask_set_set_confidence (masks, 4, -1.0f);
  g_assert_cmpfloat (fa_mask_set_get_confidence (masks, 4), ==, 0.0f);
  fa_mask_set_set_confidence (masks, 4, NAN);
  g_assert_cmpfloat (fa_mask_set_get_confidence (masks, 4), ==, 0.0f);
  fa_mask_set_set_confidence (masks, 2, 0.1f);
  g_assert_cmpfloat (fa_mask_set_get_confidence (masks, 2), ==, 1.0f);

  /* a copy is independent */
  g_autoptr (FaMaskSet) copy = fa_mask_set_copy (masks);
  g_assert_cmpuint (fa_mask_set_get_keyframe_serial (copy), ==, fa_mask_set_get_keyframe_serial (masks));
  g_assert_true (fa_mask_set_is_keyframe (copy, 2));
  g_assert_cmpmem (fa_mask_set_peek_frame (copy, 6), W * H, alpha, W * H);
  fa_mask_set_get_frame (copy, 6)[0] = 99;
  fa_mask_set_unset_keyframe (copy, 2);
  g_assert_true (fa_mask_set_is_keyframe (masks, 2));
  g_assert_cmpuint (fa_mask_set_peek_frame (masks, 6)[0], ==, alpha[0]);

  /* errors */
  g_assert_false (fa_mask_set_set_keyframe (masks, 9, alpha, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "frame 9");
  g_clear_error (&error);
  g_assert_false (fa_mask_set_set_keyframe (masks, 1, NULL, &error));
  g_assert_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT);
  g_assert_false (fa_mask_set_is_keyframe (masks, 1));
}

/* ---- strokes ---- */

static void
test_dab (void)
{
  const float radius = 10.0f;
  const float hardness_values[] = { 0.0f, 0.5f, 1.0f };

  for (gsize k = 0; k < G_N_ELEMENTS (hardness_values); k++)
    {
      float hardness = hardness_values[k];
      g_autoptr (FaMaskSet) masks = new_masks (1, W, H);
      g_autoptr (GError) error = NULL;
      /* on pixel (30, 20)'s centre */
      FaMaskPoint point = { 30.5f, 20.5f };
      FaMaskStroke stroke = { &point, 1, radius, hardness, FALSE };

      g_assert_true (fa_mask_set_apply_stroke (masks, 0, &stroke, &error));
      g_assert_no_error (error);
      g_assert_true (fa_mask_set_is_keyframe (masks, 0));
      const guint8 *alpha = fa_mask_set_peek_frame (masks, 0);

      g_assert_cmpuint (alpha[20 * W + 30], ==, 255);
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
          {
            double d = hypot (x - 30, y - 20);
            guint8 a = alpha[y * W + x];
            if (d > radius)
              g_assert_cmpuint (a, ==, 0);
            if (d <= hardness * radius)
              g_assert_cmpuint (a, ==, 255);
            if (hardness == 1.0f)
              g_assert_cmpuint (a, ==, d <= radius ? 255 : 0);
            else if (d > hardness * radius + 0.5 && d < radius - 0.5)
              g_assert_true (a > 0 && a < 255);
          }
      /* the falloff never rises going outwards, along the row and the diagonal */
      for (int x = 31; x < W; x++)
        g_assert_cmpuint (alpha[20 * W + x], <=, alpha[20 * W + x - 1]);
      for (int i = 1; i < 20; i++)
        g_assert_cmpuint (alpha[(20 + i) * W + 30 + i], <=, alpha[(20 + i - 1) * W + 30 + i - 1]);
      /* and it is round: the same at the same distance in every direction */
      g_assert_cmpuint (alpha[20 * W + 36], ==, alpha[14 * W + 30]);
      g_assert_cmpuint (alpha[20 * W + 36], ==, alpha[26 * W + 30]);
      g_assert_cmpuint (alpha[20 * W + 36], ==, alpha[20 * W + 24]);
    }
}

static void
test_segment (void)
{
  g_autoptr (FaMaskSet) masks = new_masks (2, 200, 40);
  g_autoptr (GError) error = NULL;
  /* two points 140 px apart, far more than the radius */
  const FaMaskPoint points[] = { { 10.5f, 20.5f }, { 150.5f, 20.5f } };
  FaMaskStroke stroke = { points, 2, 3.0f, 1.0f, FALSE };

  g_assert_true (fa_mask_set_apply_stroke (masks, 1, &stroke, &error));
  g_assert_no_error (error);
  const guint8 *alpha = fa_mask_set_peek_frame (masks, 1);
  for (int y = 0; y < 40; y++)
    for (int x = 0; x < 200; x++)
      {
        double dx = x < 10 ? 10 - x : x > 150 ? x - 150 : 0;
        double d = hypot (dx, y - 20);
        g_assert_cmpuint (alpha[y * 200 + x], ==, d <= 3.0 ? 255 : 0);
      }
  g_assert_true (all_zero (fa_mask_set_peek_frame (masks, 0), 200 * 40));
  g_assert_false (fa_mask_set_is_keyframe (masks, 0));

  /* a polyline: an L of three points covers both legs and nothing beyond */
  const FaMaskPoint corner[] = { { 170.5f, 5.5f }, { 170.5f, 35.5f }, { 195.5f, 35.5f } };
  FaMaskStroke l_stroke = { corner, 3, 2.0f, 1.0f, FALSE };
  g_assert_true (fa_mask_set_apply_stroke (masks, 0, &l_stroke, &error));
  alpha = fa_mask_set_peek_frame (masks, 0);
  for (int y = 5; y <= 35; y++)
    g_assert_cmpuint (alpha[y * 200 + 170], ==, 255);
  for (int x = 170; x <= 195; x++)
    g_assert_cmpuint (alpha[35 * 200 + x], ==, 255);
  g_assert_cmpuint (alpha[5 * 200 + 195], ==, 0);
  g_assert_cmpuint (alpha[20 * 200 + 180], ==, 0);
  /* exactly the centres within 2 px of either leg */
  for (int y = 0; y < 40; y++)
    for (int x = 160; x < 200; x++)
      {
        double to_vertical = hypot (x - 170, y < 5 ? 5 - y : y > 35 ? y - 35 : 0);
        double to_horizontal = hypot (x < 170 ? 170 - x : x > 195 ? x - 195 : 0, y - 35);
        g_assert_cmpuint (alpha[y * 200 + x], ==, MIN (to_vertical, to_horizontal) <= 2.0 ? 255 : 0);
      }
}

static void
test_eraser (void)
{
  g_autoptr (FaMaskSet) masks = new_masks (1, W, H);
  g_autoptr (FaMaskSet) brushed = new_masks (1, W, H);
  g_autoptr (GError) error = NULL;
  FaMaskPoint point = { 20.5f, 20.5f };
  FaMaskStroke brush = { &point, 1, 8.0f, 0.3f, FALSE };
  FaMaskStroke eraser = { &point, 1, 8.0f, 0.3f, TRUE };

  g_assert_true (fa_mask_set_apply_box (masks, 0, 0, 0, W, H, FALSE, &error));
  g_assert_true (fa_mask_set_apply_stroke (masks, 0, &eraser, &error));
  g_assert_true (fa_mask_set_apply_stroke (brushed, 0, &brush, &error));
  g_assert_no_error (error);

  const guint8 *erased = fa_mask_set_peek_frame (masks, 0);
  const guint8 *coverage = fa_mask_set_peek_frame (brushed, 0);
  g_assert_cmpuint (erased[20 * W + 20], ==, 0);
  g_assert_cmpuint (erased[0], ==, 255);
  for (int i = 0; i < W * H; i++)
    g_assert_cmpuint (erased[i], ==, 255 - coverage[i]);

  /* the eraser only lowers: on an empty frame it leaves nothing behind */
  g_autoptr (FaMaskSet) empty = new_masks (1, W, H);
  g_assert_true (fa_mask_set_apply_stroke (empty, 0, &eraser, &error));
  g_assert_true (all_zero (fa_mask_set_peek_frame (empty, 0), W * H));
  g_assert_true (fa_mask_set_is_keyframe (empty, 0));

  /* the brush only raises: a soft dab over a full frame changes nothing */
  g_assert_true (fa_mask_set_apply_box (empty, 0, 0, 0, W, H, FALSE, &error));
  g_assert_true (fa_mask_set_apply_stroke (empty, 0, &brush, &error));
  g_assert_cmpuint (count_inside (fa_mask_set_peek_frame (empty, 0), W * H), ==, W * H);
}

static void
test_stroke_errors (void)
{
  g_autoptr (FaMaskSet) masks = new_masks (3, W, H);
  FaMaskPoint point = { 5.0f, 5.0f };
  FaMaskPoint bad_points[] = { { 5.0f, 5.0f }, { NAN, 5.0f } };
  FaMaskPoint inf_point = { 5.0f, INFINITY };
  const struct {
    int frame;
    FaMaskStroke stroke;
    const char *fragment;
  } cases[] = {
    { 3, { &point, 1, 4.0f, 0.5f, FALSE }, "frame 3" },
    { -1, { &point, 1, 4.0f, 0.5f, TRUE }, "frame -1" },
    { 0, { &point, 1, 0.0f, 0.5f, FALSE }, "radius" },
    { 0, { &point, 1, -2.0f, 0.5f, FALSE }, "radius" },
    { 0, { &point, 1, NAN, 0.5f, FALSE }, "radius" },
    { 0, { &point, 1, INFINITY, 0.5f, FALSE }, "radius" },
    { 0, { &point, 1, 4.0f, 1.5f, FALSE }, "hardness" },
    { 0, { &point, 1, 4.0f, -0.1f, FALSE }, "hardness" },
    { 0, { &point, 1, 4.0f, NAN, FALSE }, "hardness" },
    { 0, { &point, 0, 4.0f, 0.5f, FALSE }, "without points" },
    { 0, { NULL, 2, 4.0f, 0.5f, FALSE }, "without points" },
    { 0, { bad_points, 2, 4.0f, 0.5f, FALSE }, "point 1" },
    { 0, { &inf_point, 1, 4.0f, 0.5f, FALSE }, "point 0" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_false (fa_mask_set_apply_stroke (masks, cases[i].frame, &cases[i].stroke, &error));
      fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, cases[i].fragment);
    }
  /* nothing was drawn */
  g_assert_cmpint (fa_mask_set_list_keyframes (masks, NULL), ==, 0);
  g_assert_cmpuint (fa_mask_set_get_keyframe_serial (masks), ==, 0);
  g_assert_true (all_zero (fa_mask_set_peek_frame (masks, 0), W * H));

  /* points far outside the frame are no error and draw nothing */
  g_autoptr (GError) error = NULL;
  FaMaskPoint far[] = { { -1e30f, -1e30f }, { -1e29f, 5e29f } };
  FaMaskStroke outside = { far, 2, 1e6f, 0.0f, FALSE };
  g_assert_true (fa_mask_set_apply_stroke (masks, 1, &outside, &error));
  g_assert_no_error (error);
  g_assert_true (fa_mask_set_is_keyframe (masks, 1));
}

static void
test_box (void)
{
  g_autoptr (FaMaskSet) masks = new_masks (2, W, H);
  g_autoptr (GError) error = NULL;

  /* clipped on the left and the top: [−5, 10) × [−3, 4) → 10 × 4 pixels */
  g_assert_true (fa_mask_set_apply_box (masks, 0, -5, -3, 15, 7, FALSE, &error));
  const guint8 *alpha = fa_mask_set_peek_frame (masks, 0);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      g_assert_cmpuint (alpha[y * W + x], ==, x < 10 && y < 4 ? 255 : 0);

  /* clipped on the right and the bottom, with sides that overflow an int */
  g_assert_true (fa_mask_set_apply_box (masks, 1, W - 3, H - 2, G_MAXINT, G_MAXINT, FALSE, &error));
  g_assert_cmpuint (count_inside (fa_mask_set_peek_frame (masks, 1), W * H), ==, 3 * 2);
  /* wholly outside: a keyframe all the same, nothing drawn */
  g_assert_true (fa_mask_set_apply_box (masks, 1, W, 0, 5, 5, FALSE, &error));
  g_assert_true (fa_mask_set_apply_box (masks, 1, G_MININT, G_MININT, 10, 10, FALSE, &error));
  g_assert_cmpuint (count_inside (fa_mask_set_peek_frame (masks, 1), W * H), ==, 3 * 2);
  g_assert_no_error (error);

  /* erase a part of the first */
  g_assert_true (fa_mask_set_apply_box (masks, 0, 2, 1, 3, 2, TRUE, &error));
  g_assert_cmpuint (count_inside (alpha, W * H), ==, 10 * 4 - 3 * 2);
  g_assert_cmpuint (alpha[1 * W + 2], ==, 0);
  g_assert_cmpuint (alpha[1 * W + 5], ==, 255);

  const int bad[][5] = { { 0, 0, 0, 0, 5 }, { 0, 0, 0, 5, 0 }, { 0, 0, 0, -1, 5 }, { 2, 0, 0, 5, 5 },
                         { -1, 0, 0, 5, 5 } };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) local_error = NULL;
      g_assert_false (fa_mask_set_apply_box (masks, bad[i][0], bad[i][1], bad[i][2], bad[i][3], bad[i][4], FALSE,
                                             &local_error));
      g_assert_error (local_error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT);
    }
}

/* ---- scores ---- */

static guint8 *
rectangle (int width, int height, int x0, int y0, int w, int h)
{
  guint8 *mask = g_malloc0 ((gsize) width * height);

  for (int y = y0; y < y0 + h; y++)
    for (int x = x0; x < x0 + w; x++)
      mask[y * width + x] = 255;
  return mask;
}

static void
test_jaccard (void)
{
  g_autofree guint8 *a = rectangle (100, 80, 10, 10, 20, 20);
  g_autofree guint8 *same = rectangle (100, 80, 10, 10, 20, 20);
  g_autofree guint8 *apart = rectangle (100, 80, 50, 40, 20, 20);
  g_autofree guint8 *shifted = rectangle (100, 80, 13, 10, 20, 20);
  g_autofree guint8 *empty = g_malloc0 (100 * 80);

  g_assert_cmpfloat (fa_mask_jaccard (a, same, 100, 80), ==, 1.0);
  g_assert_cmpfloat (fa_mask_jaccard (a, apart, 100, 80), ==, 0.0);
  g_assert_cmpfloat (fa_mask_jaccard (a, empty, 100, 80), ==, 0.0);
  g_assert_cmpfloat (fa_mask_jaccard (empty, empty, 100, 80), ==, 1.0);
  /* overlap 17 × 20, union 23 × 20 */
  g_assert_cmpfloat_with_epsilon (fa_mask_jaccard (a, shifted, 100, 80), 340.0 / 460.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (fa_mask_jaccard (shifted, a, 100, 80), 340.0 / 460.0, 1e-12);

  /* inside means alpha ≥ 128 */
  g_autofree guint8 *soft = g_memdup2 (a, 100 * 80);
  for (int i = 0; i < 100 * 80; i++)
    if (soft[i] != 0)
      soft[i] = 128;
  g_assert_cmpfloat (fa_mask_jaccard (a, soft, 100, 80), ==, 1.0);
  for (int i = 0; i < 100 * 80; i++)
    if (soft[i] != 0)
      soft[i] = 127;
  g_assert_cmpfloat (fa_mask_jaccard (a, soft, 100, 80), ==, 0.0);
}

static void
test_boundary_f (void)
{
  g_autofree guint8 *a = rectangle (100, 80, 10, 10, 20, 20);
  g_autofree guint8 *one = rectangle (100, 80, 11, 10, 20, 20);
  g_autofree guint8 *two = rectangle (100, 80, 12, 10, 20, 20);
  g_autofree guint8 *three = rectangle (100, 80, 13, 10, 20, 20);
  g_autofree guint8 *apart = rectangle (100, 80, 60, 40, 20, 20);
  g_autofree guint8 *empty = g_malloc0 (100 * 80);

  g_assert_cmpfloat (fa_mask_boundary_f (a, a, 100, 80, 1.0), ==, 1.0);
  g_assert_cmpfloat (fa_mask_boundary_f (empty, empty, 100, 80, 1.0), ==, 1.0);
  g_assert_cmpfloat (fa_mask_boundary_f (a, empty, 100, 80, 1.0), ==, 0.0);
  g_assert_cmpfloat (fa_mask_boundary_f (empty, a, 100, 80, 1.0), ==, 0.0);
  g_assert_cmpfloat (fa_mask_boundary_f (a, apart, 100, 80, 1.0), ==, 0.0);

  /* one pixel off: every contour pixel has a partner within 1 px, yet the regions differ */
  g_assert_cmpfloat (fa_mask_boundary_f (a, one, 100, 80, 1.0), ==, 1.0);
  g_assert_cmpfloat (fa_mask_jaccard (a, one, 100, 80), <, 1.0);

  /* three off, tolerance 1: of the 76 contour pixels of each square, the
   * far column (20) is unmatched, of the near column only the 2 pixels
   * next to each of the other's rows match (4), and of each row the 17
   * within 1 px of the other's row (34): 38 of 76 either way */
  g_assert_cmpfloat_with_epsilon (fa_mask_boundary_f (a, three, 100, 80, 1.0), 0.5, 1e-12);
  g_assert_cmpfloat_with_epsilon (fa_mask_boundary_f (three, a, 100, 80, 1.0), 0.5, 1e-12);
  /* a tolerance of 3 forgives it */
  g_assert_cmpfloat (fa_mask_boundary_f (a, three, 100, 80, 3.0), ==, 1.0);

  /* the default tolerance: ⌈0.008 × √(100² + 80²)⌉ = ⌈1.02⌉ = 2 px */
  g_assert_cmpfloat (fa_mask_boundary_f (a, two, 100, 80, 0.0), ==, 1.0);
  g_assert_cmpfloat (fa_mask_boundary_f (a, three, 100, 80, -1.0), <, 1.0);
  g_assert_cmpfloat (fa_mask_boundary_f (a, three, 100, 80, 0.0), >, 0.5);

  /* a frame-sized mask has no contour (the frame's edge is none) */
  g_autofree guint8 *full = rectangle (100, 80, 0, 0, 100, 80);
  g_assert_cmpfloat (fa_mask_boundary_f (full, full, 100, 80, 1.0), ==, 1.0);
  /* a mask cut by the frame is judged on its inner contour only */
  g_autofree guint8 *cut = rectangle (100, 80, 0, 0, 30, 30);
  g_autofree guint8 *cut_grown = rectangle (100, 80, 0, 0, 31, 30);
  g_assert_cmpfloat (fa_mask_boundary_f (cut, cut_grown, 100, 80, 1.0), ==, 1.0);
}

/* ---- PNG ---- */

typedef struct {
  char *dir;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->dir = fa_test_make_folder ("fa-mask-XXXXXX");
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  fa_test_remove_tree (f->dir);
  g_free (f->dir);
}

static int
count_entries (const char *dir)
{
  g_autoptr (GDir) handle = g_dir_open (dir, 0, NULL);
  int n = 0;

  g_assert_nonnull (handle);
  while (g_dir_read_name (handle) != NULL)
    n++;
  return n;
}

static guint8 *
random_bytes (gsize n, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  guint8 *bytes = g_malloc (n);

  for (gsize i = 0; i < n; i++)
    bytes[i] = (guint8) g_rand_int_range (rand, 0, 256);
  return bytes;
}

static void
test_png_grey (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->dir, "mask.png", NULL);
  g_autofree guint8 *grey = random_bytes (37 * 23, 1);
  g_autoptr (GError) error = NULL;
  int w = 0, h = 0;

  g_assert_true (fa_png_save (path, grey, 37, 23, 1, &error));
  g_assert_no_error (error);
  /* nothing left beside it */
  g_assert_cmpint (count_entries (f->dir), ==, 1);

  g_autofree guint8 *alpha = fa_png_load_alpha (path, &w, &h, &error);
  g_assert_no_error (error);
  g_assert_cmpint (w, ==, 37);
  g_assert_cmpint (h, ==, 23);
  g_assert_cmpmem (alpha, 37 * 23, grey, 37 * 23);

  g_autofree guint8 *rgb = fa_png_load_rgb (path, &w, &h, &error);
  g_assert_no_error (error);
  for (int i = 0; i < 37 * 23; i++)
    for (int c = 0; c < 3; c++)
      g_assert_cmpuint (rgb[i * 3 + c], ==, grey[i]);
}

static void
test_png_rgb (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->dir, "frame.png", NULL);
  g_autofree guint8 *rgb = random_bytes (41 * 19 * 3, 2);
  g_autoptr (GError) error = NULL;
  int w = 0, h = 0;

  g_assert_true (fa_png_save (path, rgb, 41, 19, 3, &error));
  g_assert_no_error (error);
  g_autofree guint8 *back = fa_png_load_rgb (path, &w, &h, &error);
  g_assert_no_error (error);
  g_assert_cmpint (w, ==, 41);
  g_assert_cmpint (h, ==, 19);
  g_assert_cmpmem (back, 41 * 19 * 3, rgb, 41 * 19 * 3);

  /* an RGB mask is read as its BT.601 luma */
  g_autofree guint8 *alpha = fa_png_load_alpha (path, &w, &h, &error);
  g_assert_no_error (error);
  for (int i = 0; i < 41 * 19; i++)
    {
      double luma = 0.299 * rgb[i * 3] + 0.587 * rgb[i * 3 + 1] + 0.114 * rgb[i * 3 + 2];
      g_assert_cmpfloat (fabs (alpha[i] - luma), <=, 0.5 + 1e-9);
    }
}

/* Writes @pixels in @format with libpng's simplified API, as another
 * program would. */
static void
write_png_as (const char *path, guint32 format, int width, int height, const void *pixels, const void *colormap,
              int colormap_entries)
{
  png_image image = { 0 };

  image.version = PNG_IMAGE_VERSION;
  image.format = format;
  image.width = (png_uint_32) width;
  image.height = (png_uint_32) height;
  image.colormap_entries = (png_uint_32) colormap_entries;
  g_assert_true (png_image_write_to_file (&image, path, 0, pixels, 0, colormap));
  png_image_free (&image);
}

static void
test_png_layouts (Fixture *f, gconstpointer data)
{
  enum { PW = 13, PH = 7, N = PW * PH };
  g_autofree char *path = g_build_filename (f->dir, "layout.png", NULL);
  g_autofree guint8 *values = random_bytes (N * 4, 3);
  g_autoptr (GError) error = NULL;
  int w, h;

  /* RGBA: the alpha channel is the mask, the colour is the frame */
  write_png_as (path, PNG_FORMAT_RGBA, PW, PH, values, NULL, 0);
  g_autofree guint8 *alpha = fa_png_load_alpha (path, &w, &h, &error);
  g_assert_no_error (error);
  g_assert_cmpint (w, ==, PW);
  g_assert_cmpint (h, ==, PH);
  for (int i = 0; i < N; i++)
    g_assert_cmpuint (alpha[i], ==, values[i * 4 + 3]);
  g_autofree guint8 *rgb = fa_png_load_rgb (path, &w, &h, &error);
  g_assert_no_error (error);
  for (int i = 0; i < N; i++)
    for (int c = 0; c < 3; c++)
      g_assert_cmpuint (rgb[i * 3 + c], ==, values[i * 4 + c]);

  /* grey + alpha */
  write_png_as (path, PNG_FORMAT_GA, PW, PH, values, NULL, 0);
  g_free (alpha);
  alpha = fa_png_load_alpha (path, &w, &h, &error);
  g_assert_no_error (error);
  for (int i = 0; i < N; i++)
    g_assert_cmpuint (alpha[i], ==, values[i * 2 + 1]);

  /* 16-bit grey (stored as is, 257 × v) reads back as v */
  g_autofree guint16 *wide = g_new (guint16, N);
  for (int i = 0; i < N; i++)
    wide[i] = (guint16) (values[i] * 257);
  write_png_as (path, PNG_FORMAT_LINEAR_Y, PW, PH, wide, NULL, 0);
  g_free (alpha);
  alpha = fa_png_load_alpha (path, &w, &h, &error);
  g_assert_no_error (error);
  for (int i = 0; i < N; i++)
    g_assert_cmpuint (alpha[i], ==, values[i]);

  /* a palette with transparency: the alpha comes from tRNS */
  const guint8 colormap[4 * 4] = { 255, 0, 0, 0, 0, 255, 0, 255, 0, 0, 255, 128, 10, 20, 30, 255 };
  g_autofree guint8 *indices = g_new (guint8, N);
  for (int i = 0; i < N; i++)
    indices[i] = values[i] % 4;
  write_png_as (path, PNG_FORMAT_RGBA_COLORMAP, PW, PH, indices, colormap, 4);
  g_free (alpha);
  alpha = fa_png_load_alpha (path, &w, &h, &error);
  g_assert_no_error (error);
  g_free (rgb);
  rgb = fa_png_load_rgb (path, &w, &h, &error);
  g_assert_no_error (error);
  for (int i = 0; i < N; i++)
    {
      const guint8 *entry = colormap + indices[i] * 4;
      g_assert_cmpuint (alpha[i], ==, entry[3]);
      for (int c = 0; c < 3; c++)
        g_assert_cmpuint (rgb[i * 3 + c], ==, entry[c]);
    }
}

/* The CRC of PNG chunks (ISO 3309), for forging a header. */
static guint32
png_crc (const guint8 *data, gsize n)
{
  guint32 crc = 0xffffffffu;

  for (gsize i = 0; i < n; i++)
    {
      crc ^= data[i];
      for (int k = 0; k < 8; k++)
        crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
  return crc ^ 0xffffffffu;
}

static void
test_png_errors (Fixture *f, gconstpointer data)
{
  g_autofree char *missing = g_build_filename (f->dir, "missing.png", NULL);
  g_autofree char *empty = g_build_filename (f->dir, "empty.png", NULL);
  g_autofree char *garbage = g_build_filename (f->dir, "garbage.png", NULL);
  g_autofree char *truncated = g_build_filename (f->dir, "truncated.png", NULL);
  g_autofree char *zero = g_build_filename (f->dir, "zero.png", NULL);
  g_autoptr (GError) error = NULL;
  int w, h;

  g_assert_null (fa_png_load_alpha (missing, &w, &h, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_NOT_FOUND, missing);
  g_clear_error (&error);
  g_assert_null (fa_png_load_rgb (missing, &w, &h, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_NOT_FOUND, "no such file");
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (empty, "", 0, NULL));
  g_assert_null (fa_png_load_alpha (empty, &w, &h, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "empty");
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (garbage, "GIF89a this is no PNG at all", -1, NULL));
  g_assert_null (fa_png_load_alpha (garbage, &w, &h, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "not a PNG");
  g_assert_nonnull (strstr (error->message, garbage));
  g_clear_error (&error);

  /* a valid file cut in half, and one cut just after the signature */
  g_autofree guint8 *pixels = random_bytes (64 * 64 * 3, 4);
  g_assert_true (fa_png_save (truncated, pixels, 64, 64, 3, &error));
  g_autofree char *contents = NULL;
  gsize length;
  g_assert_true (g_file_get_contents (truncated, &contents, &length, NULL));
  const gsize cuts[] = { length / 2, length - 5, 8, 20 };
  for (gsize i = 0; i < G_N_ELEMENTS (cuts); i++)
    {
      g_assert_true (g_file_set_contents (truncated, contents, (gssize) cuts[i], NULL));
      g_assert_null (fa_png_load_rgb (truncated, &w, &h, &error));
      fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "truncated");
      g_assert_nonnull (strstr (error->message, truncated));
      g_clear_error (&error);
    }

  /* a forged 0×0 header with a correct CRC */
  guint8 forged[8 + 25] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                            0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0 };
  guint32 crc = png_crc (forged + 12, 17);
  forged[29] = (guint8) (crc >> 24);
  forged[30] = (guint8) (crc >> 16);
  forged[31] = (guint8) (crc >> 8);
  forged[32] = (guint8) crc;
  g_assert_true (g_file_set_contents (zero, (const char *) forged, sizeof forged, NULL));
  g_assert_null (fa_png_load_alpha (zero, &w, &h, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, zero);
  g_assert_nonnull (strstr (error->message, "zero"));
  g_clear_error (&error);

  /* a folder is not a PNG */
  g_assert_null (fa_png_load_alpha (f->dir, &w, &h, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, f->dir));
  g_clear_error (&error);

  /* bad arguments to save */
  g_autofree char *out = g_build_filename (f->dir, "out.png", NULL);
  g_assert_false (fa_png_save (out, pixels, 8, 8, 2, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "channels");
  g_clear_error (&error);
  g_assert_false (fa_png_save (out, pixels, 0, 8, 1, &error));
  g_assert_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
}

static void
test_png_save_failures (Fixture *f, gconstpointer data)
{
  g_autofree guint8 *first = random_bytes (16 * 16, 5);
  g_autofree guint8 *second = random_bytes (16 * 16, 6);
  g_autoptr (GError) error = NULL;
  int w, h;

  /* into a folder that does not exist: an error naming it, nothing created */
  g_autofree char *nowhere = g_build_filename (f->dir, "no-such-folder", "mask.png", NULL);
  g_assert_false (fa_png_save (nowhere, first, 16, 16, 1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "no-such-folder"));
  g_clear_error (&error);
  g_assert_cmpint (count_entries (f->dir), ==, 0);

  /* a replace goes through whole */
  g_autofree char *path = g_build_filename (f->dir, "mask.png", NULL);
  g_assert_true (fa_png_save (path, first, 16, 16, 1, &error));
  g_assert_true (fa_png_save (path, second, 16, 16, 1, &error));
  g_assert_no_error (error);
  g_autofree guint8 *back = fa_png_load_alpha (path, &w, &h, &error);
  g_assert_cmpmem (back, 16 * 16, second, 16 * 16);
  g_assert_cmpint (count_entries (f->dir), ==, 1);

  /* a rename that fails (over a folder that holds a file) leaves the
   * folder as it was and no temporary behind */
  g_autofree char *folder = g_build_filename (f->dir, "taken.png", NULL);
  g_autofree char *inside = g_build_filename (folder, "keep", NULL);
  g_assert_cmpint (g_mkdir (folder, 0755), ==, 0);
  g_assert_true (g_file_set_contents (inside, "keep", -1, NULL));
  g_assert_false (fa_png_save (folder, first, 16, 16, 1, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, folder));
  g_clear_error (&error);
  g_assert_true (g_file_test (inside, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpint (count_entries (f->dir), ==, 2);

  /* a read-only folder: the old file stays (root writes anywhere, so only
   * checked for other users) */
  if (geteuid () != 0)
    {
      g_autofree char *locked = g_build_filename (f->dir, "locked", NULL);
      g_autofree char *old = g_build_filename (locked, "mask.png", NULL);
      g_assert_cmpint (g_mkdir (locked, 0755), ==, 0);
      g_assert_true (fa_png_save (old, first, 16, 16, 1, &error));
      g_assert_cmpint (g_chmod (locked, 0555), ==, 0);
      g_assert_false (fa_png_save (old, second, 16, 16, 1, &error));
      g_assert_nonnull (error);
      g_assert_nonnull (strstr (error->message, old));
      g_clear_error (&error);
      g_assert_cmpint (g_chmod (locked, 0755), ==, 0);
      g_free (back);
      back = fa_png_load_alpha (old, &w, &h, &error);
      g_assert_no_error (error);
      g_assert_cmpmem (back, 16 * 16, first, 16 * 16);
      g_assert_cmpint (count_entries (locked), ==, 1);
    }
}

/* Nearest neighbour by pixel centres: halving takes the second of each
 * pair (centre 1 of [0, 2)), doubling repeats each pixel twice. */
static void
test_scale_nearest (void)
{
  const guint8 src[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }; /* 4 × 2 */
  guint8 half[2], twice[32];

  fa_mask_scale_nearest (src, 4, 2, half, 2, 1);
  g_assert_cmpuint (half[0], ==, 6);
  g_assert_cmpuint (half[1], ==, 8);
  fa_mask_scale_nearest (src, 4, 2, twice, 8, 4);
  for (int y = 0; y < 4; y++)
    for (int x = 0; x < 8; x++)
      g_assert_cmpuint (twice[y * 8 + x], ==, src[(y / 2) * 4 + x / 2]);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/mask/new", test_new);
  g_test_add_func ("/mask/keyframes", test_keyframes);
  g_test_add_func ("/mask/stroke/dab", test_dab);
  g_test_add_func ("/mask/stroke/segment", test_segment);
  g_test_add_func ("/mask/stroke/eraser", test_eraser);
  g_test_add_func ("/mask/stroke/errors", test_stroke_errors);
  g_test_add_func ("/mask/box", test_box);
  g_test_add_func ("/mask/score/jaccard", test_jaccard);
  g_test_add_func ("/mask/score/boundary-f", test_boundary_f);
  g_test_add_func ("/mask/scale-nearest", test_scale_nearest);
  g_test_add ("/mask/png/grey", Fixture, NULL, fixture_set_up, test_png_grey, fixture_tear_down);
  g_test_add ("/mask/png/rgb", Fixture, NULL, fixture_set_up, test_png_rgb, fixture_tear_down);
  g_test_add ("/mask/png/layouts", Fixture, NULL, fixture_set_up, test_png_layouts, fixture_tear_down);
  g_test_add ("/mask/png/errors", Fixture, NULL, fixture_set_up, test_png_errors, fixture_tear_down);
  g_test_add ("/mask/png/save-failures", Fixture, NULL, fixture_set_up, test_png_save_failures,
              fixture_tear_down);
  return g_test_run ();
}
