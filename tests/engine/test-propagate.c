/* test-propagate.c: mask propagation. First with motion the test knows
 * exactly (its own flow), so the chains, the keyframe voting, the trust and
 * the errors are checked by themselves; then on synthetic clips with our
 * optical flow, scored by J and F against the ground truth.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <string.h>

#include "fa-error.h"
#include "fa-mask-propagate.h"
#include "fa-synthetic.h"

#include "fa-test-util.h"

#define WIDTH 96
#define HEIGHT 64
#define FRAMES 9

/* Motion the test controls: every frame is the one before shifted by
 * (dx, dy) whole pixels; with @inconsistent the backward flow is wrong. */
typedef struct {
  int dx, dy;
  gboolean inconsistent;
  int calls;
} KnownMotion;

static gboolean
known_flow (int from, int to, float *flow, gpointer user_data, GError **error)
{
  KnownMotion *motion = user_data;
  int steps = to - from;

  motion->calls++;
  if (motion->inconsistent && steps < 0)
    steps = -steps;
  for (int i = 0; i < WIDTH * HEIGHT; i++)
    {
      flow[2 * i] = (float) (steps * motion->dx);
      flow[2 * i + 1] = (float) (steps * motion->dy);
    }
  return TRUE;
}

static FaWorkingClip *
make_clip (void)
{
  g_autoptr (GError) error = NULL;
  FaWorkingClip *clip = fa_working_clip_new (FRAMES, WIDTH, HEIGHT, 16, 1, &error);

  g_assert_no_error (error);
  /* the frames only matter to a real flow; known_flow ignores them */
  for (gsize i = 0; i < (gsize) FRAMES * WIDTH * HEIGHT * 3; i++)
    clip->rgb[i] = (guint8) (i * 7 % 251);
  return clip;
}

static FaMaskSet *
make_masks (void)
{
  g_autoptr (GError) error = NULL;
  FaMaskSet *masks = fa_mask_set_new (FRAMES, WIDTH, HEIGHT, &error);

  g_assert_no_error (error);
  return masks;
}

static gsize
count_inside (const guint8 *alpha)
{
  gsize count = 0;
  for (int i = 0; i < WIDTH * HEIGHT; i++)
    count += alpha[i] >= 128;
  return count;
}

/* Whether @alpha is exactly the box [x, x+w) × [y, y+h). */
static void
assert_box (const guint8 *alpha, int x, int y, int w, int h, int frame)
{
  for (int j = 0; j < HEIGHT; j++)
    for (int i = 0; i < WIDTH; i++)
      {
        gboolean inside = i >= x && i < x + w && j >= y && j < y + h;
        if ((alpha[j * WIDTH + i] >= 128) != inside)
          g_error ("frame %d: pixel (%d, %d) is %s the mask but should be %s the box at (%d, %d)",
                   frame, i, j, inside ? "outside" : "inside", inside ? "inside" : "outside", x, y);
      }
}

static void
test_forward_follows_motion (void)
{
  g_autoptr (FaWorkingClip) clip = make_clip ();
  g_autoptr (FaMaskSet) masks = make_masks ();
  g_autoptr (GError) error = NULL;
  FaPropagateOptions options;
  KnownMotion motion = { 3, -1, FALSE, 0 };

  g_assert_true (fa_mask_set_apply_box (masks, 0, 10, 30, 20, 14, FALSE, &error));
  g_assert_no_error (error);
  g_assert_true (fa_mask_set_needs_propagation (masks));

  fa_propagate_options_init (&options);
  options.flow_func = known_flow;
  options.flow_user_data = &motion;
  g_assert_true (fa_mask_propagate (masks, clip, NULL, &options, NULL, &error));
  g_assert_no_error (error);

  for (int t = 0; t < FRAMES; t++)
    assert_box (fa_mask_set_peek_frame (masks, t), 10 + 3 * t, 30 - t, 20, 14, t);
  g_assert_false (fa_mask_set_needs_propagation (masks));
  g_assert_cmpfloat (fa_mask_set_get_confidence (masks, 0), ==, 1.0f);
  /* every check passed: confidence only decays with distance, and does */
  for (int t = 1; t < FRAMES; t++)
    {
      g_assert_cmpfloat (fa_mask_set_get_confidence (masks, t), >, 0.9f);
      g_assert_cmpfloat (fa_mask_set_get_confidence (masks, t), <, fa_mask_set_get_confidence (masks, t - 1));
    }
  /* two flows per frame pair, nothing more */
  g_assert_cmpint (motion.calls, ==, 2 * (FRAMES - 1));
}

static void
test_backward_from_last_frame (void)
{
  g_autoptr (FaWorkingClip) clip = make_clip ();
  g_autoptr (FaMaskSet) masks = make_masks ();
  g_autoptr (GError) error = NULL;
  FaPropagateOptions options;
  KnownMotion motion = { -2, 2, FALSE, 0 };
  const int last = FRAMES - 1;

  g_assert_true (fa_mask_set_apply_box (masks, last, 40, 40, 16, 10, FALSE, &error));
  fa_propagate_options_init (&options);
  options.flow_func = known_flow;
  options.flow_user_data = &motion;
  g_assert_true (fa_mask_propagate (masks, clip, NULL, &options, NULL, &error));
  g_assert_no_error (error);

  for (int t = 0; t < FRAMES; t++)
    assert_box (fa_mask_set_peek_frame (masks, t), 40 - 2 * (t - last), 40 + 2 * (t - last), 16, 10, t);
}

static void
test_nearest_keyframe_wins (void)
{
  g_autoptr (FaWorkingClip) clip = make_clip ();
  g_autoptr (FaMaskSet) masks = make_masks ();
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *key_first = NULL, *key_last = NULL;
  FaPropagateOptions options;
  KnownMotion still = { 0, 0, FALSE, 0 };
  const int last = FRAMES - 1, middle = FRAMES / 2;

  /* a static clip whose two keyframes disagree: each frame must follow the
   * nearer one, and the middle frame, as near to both, takes both */
  g_assert_true (fa_mask_set_apply_box (masks, 0, 4, 4, 20, 20, FALSE, &error));
  g_assert_true (fa_mask_set_apply_box (masks, last, 60, 30, 20, 20, FALSE, &error));
  key_first = g_memdup2 (fa_mask_set_peek_frame (masks, 0), WIDTH * HEIGHT);
  key_last = g_memdup2 (fa_mask_set_peek_frame (masks, last), WIDTH * HEIGHT);

  fa_propagate_options_init (&options);
  options.flow_func = known_flow;
  options.flow_user_data = &still;
  g_assert_true (fa_mask_propagate (masks, clip, NULL, &options, NULL, &error));
  g_assert_no_error (error);

  g_assert_cmpmem (fa_mask_set_peek_frame (masks, 0), WIDTH * HEIGHT, key_first, WIDTH * HEIGHT);
  g_assert_cmpmem (fa_mask_set_peek_frame (masks, last), WIDTH * HEIGHT, key_last, WIDTH * HEIGHT);
  for (int t = 1; t < middle; t++)
    assert_box (fa_mask_set_peek_frame (masks, t), 4, 4, 20, 20, t);
  for (int t = middle + 1; t < last; t++)
    assert_box (fa_mask_set_peek_frame (masks, t), 60, 30, 20, 20, t);
  g_assert_cmpuint (count_inside (fa_mask_set_peek_frame (masks, middle)), ==, 2 * 20 * 20);

  g_assert_cmpfloat (fa_mask_set_get_confidence (masks, 1), >, fa_mask_set_get_confidence (masks, middle));
  g_assert_cmpfloat (fa_mask_set_get_confidence (masks, last - 1), >, fa_mask_set_get_confidence (masks, middle));
  /* both chains run over the gap */
  g_assert_cmpint (still.calls, ==, 2 * 2 * (FRAMES - 2));
}

static void
test_failed_checks_lower_confidence (void)
{
  g_autoptr (FaWorkingClip) clip = make_clip ();
  g_autoptr (FaMaskSet) masks = make_masks ();
  g_autoptr (GError) error = NULL;
  FaPropagateOptions options;
  KnownMotion broken = { 3, 0, TRUE, 0 };

  g_assert_true (fa_mask_set_apply_box (masks, 0, 10, 10, 20, 20, FALSE, &error));
  fa_propagate_options_init (&options);
  options.flow_func = known_flow;
  options.flow_user_data = &broken;
  g_assert_true (fa_mask_propagate (masks, clip, NULL, &options, NULL, &error));
  g_assert_no_error (error);
  /* forward and backward flows disagree by 6 px everywhere: every pixel
   * fails, and its trust falls by ×¼ per frame */
  g_assert_cmpfloat (fa_mask_set_get_confidence (masks, 1), <, 0.3f);
  g_assert_cmpfloat (fa_mask_set_get_confidence (masks, 2), <, 0.1f);
}

static void
test_errors_leave_masks_alone (void)
{
  g_autoptr (FaWorkingClip) clip = make_clip ();
  g_autoptr (FaMaskSet) masks = make_masks ();
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  FaPropagateOptions options;
  KnownMotion motion = { 1, 1, FALSE, 0 };

  fa_propagate_options_init (&options);
  options.flow_func = known_flow;
  options.flow_user_data = &motion;

  g_assert_false (fa_mask_propagate (masks, clip, NULL, &options, NULL, &error));
  g_assert_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "keyframe"));
  g_clear_error (&error);

  g_assert_true (fa_mask_set_apply_box (masks, 2, 10, 10, 20, 20, FALSE, &error));
  g_cancellable_cancel (cancellable);
  g_assert_false (fa_mask_propagate (masks, clip, NULL, &options, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_cmpuint (count_inside (fa_mask_set_peek_frame (masks, 0)), ==, 0);
  g_assert_cmpuint (count_inside (fa_mask_set_peek_frame (masks, 5)), ==, 0);
  g_assert_true (fa_mask_set_needs_propagation (masks));

  options.consistency_px = -1.0f;
  g_assert_false (fa_mask_propagate (masks, clip, NULL, &options, NULL, &error));
  g_assert_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  options.consistency_px = 0.7f;

  {
    g_autoptr (FaMaskSet) wrong = fa_mask_set_new (FRAMES, WIDTH / 2, HEIGHT, &error);
    g_assert_true (fa_mask_set_apply_box (wrong, 0, 1, 1, 4, 4, FALSE, &error));
    g_assert_false (fa_mask_propagate (wrong, clip, NULL, &options, NULL, &error));
    g_assert_error (error, FA_ERROR, FA_ERROR_SHAPE);
    g_assert_nonnull (strstr (error->message, "48×64"));
  }
}

/* A box of one colour on a background of another, moving (2, 1) pixels a
 * frame, while the flow the test feeds in says (1, 1): flow that
 * underestimates motion, as real flow does at moving outlines. */
#define EDGE_BOX_W 24
#define EDGE_BOX_H 16

static void
edge_box_origin (int t, int *x, int *y)
{
  *x = 10 + 2 * t;
  *y = 20 + t;
}

static gboolean
lagging_flow (int from, int to, float *flow, gpointer user_data, GError **error)
{
  for (int i = 0; i < WIDTH * HEIGHT; i++)
    {
      flow[2 * i] = (float) (to - from);
      flow[2 * i + 1] = (float) (to - from);
    }
  return TRUE;
}

static FaWorkingClip *
make_edge_clip (void)
{
  g_autoptr (GError) error = NULL;
  FaWorkingClip *clip = fa_working_clip_new (FRAMES, WIDTH, HEIGHT, 16, 1, &error);
  guint32 noise = 1;

  g_assert_no_error (error);
  for (int t = 0; t < FRAMES; t++)
    {
      guint8 *rgb = clip->rgb + (gsize) t * WIDTH * HEIGHT * 3;
      int bx, by;
      edge_box_origin (t, &bx, &by);
      for (int y = 0; y < HEIGHT; y++)
        for (int x = 0; x < WIDTH; x++)
          {
            gboolean inside = x >= bx && x < bx + EDGE_BOX_W && y >= by && y < by + EDGE_BOX_H;
            static const guint8 box[3] = { 200, 170, 60 }, ground[3] = { 50, 60, 70 };
            for (int c = 0; c < 3; c++)
              {
                noise = noise * 1664525u + 1013904223u;
                rgb[3 * (y * WIDTH + x) + c] = (guint8) ((inside ? box[c] : ground[c]) + (int) (noise >> 28));
              }
          }
    }
  return clip;
}

static double
mean_box_jaccard (const FaMaskSet *masks, double *last_j)
{
  double sum = 0.0;
  for (int t = 1; t < FRAMES; t++)
    {
      guint8 truth[WIDTH * HEIGHT];
      int bx, by;
      edge_box_origin (t, &bx, &by);
      for (int y = 0; y < HEIGHT; y++)
        for (int x = 0; x < WIDTH; x++)
          truth[y * WIDTH + x] = x >= bx && x < bx + EDGE_BOX_W && y >= by && y < by + EDGE_BOX_H ? 255 : 0;
      *last_j = fa_mask_jaccard (fa_mask_set_peek_frame (masks, t), truth, WIDTH, HEIGHT);
      sum += *last_j;
    }
  return sum / (FRAMES - 1);
}

static void
test_refine_outline_follows_colour_edge (void)
{
  g_autoptr (FaWorkingClip) clip = make_edge_clip ();
  g_autoptr (GError) error = NULL;
  FaPropagateOptions options;
  double mean_j, last_j;
  int bx, by;

  edge_box_origin (0, &bx, &by);
  fa_propagate_options_init (&options);
  g_assert_true (options.refine_outline);
  options.flow_func = lagging_flow;

  {
    g_autoptr (FaMaskSet) masks = make_masks ();
    g_assert_true (fa_mask_set_apply_box (masks, 0, bx, by, EDGE_BOX_W, EDGE_BOX_H, FALSE, &error));
    g_assert_true (fa_mask_propagate (masks, clip, NULL, &options, NULL, &error));
    g_assert_no_error (error);
    mean_j = mean_box_jaccard (masks, &last_j);
    g_test_message ("refined: mean J %.3f, last frame %.3f", mean_j, last_j);
    g_assert_cmpfloat (mean_j, >=, 0.95);
    g_assert_cmpfloat (last_j, >=, 0.95);
  }
  /* without refinement the same flow leaves the mask a pixel further
   * behind at every frame: the test's flow really is wrong */
  options.refine_outline = FALSE;
  {
    g_autoptr (FaMaskSet) masks = make_masks ();
    g_assert_true (fa_mask_set_apply_box (masks, 0, bx, by, EDGE_BOX_W, EDGE_BOX_H, FALSE, &error));
    g_assert_true (fa_mask_propagate (masks, clip, NULL, &options, NULL, &error));
    g_assert_no_error (error);
    mean_j = mean_box_jaccard (masks, &last_j);
    g_test_message ("flow only: mean J %.3f, last frame %.3f", mean_j, last_j);
    g_assert_cmpfloat (last_j, <, 0.75);
  }
}

/* Where inside and outside look alike, refinement has no edge to go by and
 * must leave the flow's outline exactly as it is. */
static void
test_refine_outline_needs_an_edge (void)
{
  g_autoptr (FaWorkingClip) clip = make_clip ();
  g_autoptr (GError) error = NULL;
  g_autoptr (FaMaskSet) refined = make_masks ();
  g_autoptr (FaMaskSet) plain = make_masks ();
  FaPropagateOptions options;

  fa_propagate_options_init (&options);
  options.flow_func = lagging_flow;
  g_assert_true (fa_mask_set_apply_box (refined, 0, 10, 20, EDGE_BOX_W, EDGE_BOX_H, FALSE, &error));
  g_assert_true (fa_mask_propagate (refined, clip, NULL, &options, NULL, &error));
  options.refine_outline = FALSE;
  g_assert_true (fa_mask_set_apply_box (plain, 0, 10, 20, EDGE_BOX_W, EDGE_BOX_H, FALSE, &error));
  g_assert_true (fa_mask_propagate (plain, clip, NULL, &options, NULL, &error));
  g_assert_no_error (error);
  for (int t = 1; t < FRAMES; t++)
    g_assert_cmpmem (fa_mask_set_peek_frame (refined, t), WIDTH * HEIGHT, fa_mask_set_peek_frame (plain, t),
                     WIDTH * HEIGHT);
}

/* ---- synthetic clips, our flow, scored against the ground truth ---- */

typedef struct {
  FaSynthMotion motion;
  double min_mean_j;
} SyntheticCase;

static void
test_synthetic (gconstpointer data)
{
  const SyntheticCase *c = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (FaBackend) backend = fa_backend_new_cpu ();
  g_autoptr (FaSynthClip) synth = NULL;
  g_autoptr (FaMaskSet) masks = NULL;
  const FaWorkingClip *clip;
  FaSynthOptions synth_options;
  FaPropagateOptions options;
  double sum_j = 0.0, sum_f = 0.0, min_j = 1.0;
  gint64 start;

  if (g_getenv ("FA_TEST_SANITIZED") != NULL)
    {
      g_test_skip ("full-size quality is measured in the optimized build (see tests/meson.build)");
      return;
    }
  fa_synth_options_init (&synth_options);
  synth_options.motion = c->motion;
  synth = fa_synth_clip_new (&synth_options, &error);
  g_assert_no_error (error);
  clip = fa_synth_clip_get_clip (synth);
  g_assert_cmpint (clip->n_frames, ==, 81);
  g_assert_cmpint (clip->width, ==, 832);
  g_assert_cmpint (clip->height, ==, 480);

  masks = fa_mask_set_new (clip->n_frames, clip->width, clip->height, &error);
  g_assert_true (fa_mask_set_set_keyframe (masks, 0, fa_synth_clip_get_mask (synth, 0), &error));
  g_assert_no_error (error);

  fa_propagate_options_init (&options);
  start = g_get_monotonic_time ();
  g_assert_true (fa_mask_propagate (masks, clip, backend, &options, NULL, &error));
  g_assert_no_error (error);

  for (int t = 1; t < clip->n_frames; t++)
    {
      double j = fa_mask_jaccard (fa_mask_set_peek_frame (masks, t), fa_synth_clip_get_mask (synth, t),
                                  clip->width, clip->height);
      double f = fa_mask_boundary_f (fa_mask_set_peek_frame (masks, t), fa_synth_clip_get_mask (synth, t),
                                     clip->width, clip->height, 0);
      sum_j += j;
      sum_f += f;
      min_j = MIN (min_j, j);
      g_assert_cmpfloat (fa_mask_set_get_confidence (masks, t), >, 0.0f);
      g_assert_cmpfloat (fa_mask_set_get_confidence (masks, t), <=, 1.0f);
    }
  g_test_message ("motion %d: mean J %.4f (min %.4f), mean F %.4f over %d propagated frames, %.1f s",
                  c->motion, sum_j / (clip->n_frames - 1), min_j, sum_f / (clip->n_frames - 1),
                  clip->n_frames - 1, (g_get_monotonic_time () - start) / 1e6);
  g_assert_cmpfloat (sum_j / (clip->n_frames - 1), >=, c->min_mean_j);
}

int
main (int argc, char **argv)
{
  /* The target: mean J ≥ 0.90 over the 81 frames. Measured 0.993
   * (translate) and 0.965 (rotate); without the outline refinement 0.84
   * and 0.83. */
  static const SyntheticCase translate = { FA_SYNTH_TRANSLATE, 0.90 };
  static const SyntheticCase rotate = { FA_SYNTH_ROTATE, 0.90 };

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/propagate/forward-follows-motion", test_forward_follows_motion);
  g_test_add_func ("/propagate/backward-from-last-frame", test_backward_from_last_frame);
  g_test_add_func ("/propagate/nearest-keyframe-wins", test_nearest_keyframe_wins);
  g_test_add_func ("/propagate/failed-checks-lower-confidence", test_failed_checks_lower_confidence);
  g_test_add_func ("/propagate/errors-leave-masks-alone", test_errors_leave_masks_alone);
  g_test_add_func ("/propagate/refine-outline-follows-colour-edge", test_refine_outline_follows_colour_edge);
  g_test_add_func ("/propagate/refine-outline-needs-an-edge", test_refine_outline_needs_an_edge);
  g_test_add_data_func ("/propagate/synthetic/translate", &translate, test_synthetic);
  g_test_add_data_func ("/propagate/synthetic/rotate", &rotate, test_synthetic);
  return g_test_run ();
}
