/* Mask undo and redo: a brush stroke, a box and a clear of several frames
 * come back byte for byte, with each frame's keyframe flag and confidence
 * (a propagated frame painted and undone is propagated again, with its
 * confidence); redo after undo; a new step drops what could be redone;
 * steps that change nothing are not kept; labels; the byte budget drops
 * the oldest steps and keeps the newest; cancel; undo while a step is
 * open.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib.h>
#include <string.h>

#include "fa-mask-history.h"
#include "fa-mask.h"
#include "fa-test-util.h"

#define W 40
#define H 24
#define FRAME_BYTES ((gsize) W * H)
#define N_FRAMES 6

static FaMaskSet *
new_masks (void)
{
  g_autoptr (GError) error = NULL;
  FaMaskSet *masks = fa_mask_set_new (N_FRAMES, W, H, &error);

  g_assert_no_error (error);
  return masks;
}

/* A frame as propagation leaves it: not a keyframe, some alpha, a confidence. */
static void
make_propagated (FaMaskSet *masks, int frame, guint8 seed, float confidence)
{
  guint8 *alpha = fa_mask_set_get_frame (masks, frame);

  for (gsize i = 0; i < FRAME_BYTES; i++)
    alpha[i] = (guint8) (i * 7 + seed);
  fa_mask_set_unset_keyframe (masks, frame);
  fa_mask_set_set_confidence (masks, frame, confidence);
}

/* Masks with every kind of frame: a drawn keyframe (1), propagated frames
 * with confidences 0.7 (2) and 0.4 (3), untouched empty frames (0, 4, 5). */
static FaMaskSet *
make_scene (void)
{
  g_autoptr (GError) error = NULL;
  FaMaskSet *masks = new_masks ();

  g_assert_true (fa_mask_set_apply_box (masks, 1, 5, 4, 20, 10, FALSE, &error));
  g_assert_no_error (error);
  make_propagated (masks, 2, 3, 0.7f);
  make_propagated (masks, 3, 11, 0.4f);
  return masks;
}

static void
assert_masks_equal (const FaMaskSet *a, const FaMaskSet *b)
{
  for (int f = 0; f < N_FRAMES; f++)
    {
      g_assert_cmpmem (fa_mask_set_peek_frame (a, f), FRAME_BYTES, fa_mask_set_peek_frame (b, f), FRAME_BYTES);
      g_assert_cmpint (fa_mask_set_is_keyframe (a, f), ==, fa_mask_set_is_keyframe (b, f));
      g_assert_cmpfloat (fa_mask_set_get_confidence (a, f), ==, fa_mask_set_get_confidence (b, f));
    }
}

static gboolean
frames_differ (const FaMaskSet *a, const FaMaskSet *b, int frame)
{
  return memcmp (fa_mask_set_peek_frame (a, frame), fa_mask_set_peek_frame (b, frame), FRAME_BYTES) != 0 ||
         fa_mask_set_is_keyframe (a, frame) != fa_mask_set_is_keyframe (b, frame) ||
         fa_mask_set_get_confidence (a, frame) != fa_mask_set_get_confidence (b, frame);
}

static void
paint_stroke (FaMaskSet *masks, int frame, gboolean erase)
{
  g_autoptr (GError) error = NULL;
  const FaMaskPoint points[] = { { 3.5f, 3.0f }, { 30.0f, 18.25f } };
  const FaMaskStroke stroke = { .points = points, .n_points = 2, .radius = 4.0f, .hardness = 0.4f, .erase = erase };

  g_assert_true (fa_mask_set_apply_stroke (masks, frame, &stroke, &error));
  g_assert_no_error (error);
}

static void
box (FaMaskSet *masks, int frame, int x, int y, int w, int h, gboolean erase)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (fa_mask_set_apply_box (masks, frame, x, y, w, h, erase, &error));
  g_assert_no_error (error);
}

/* One step: record @frame, box on it. */
static gboolean
box_step (FaMaskHistory *history, FaMaskSet *masks, const char *label, int frame, int x, int y, int w, int h)
{
  fa_mask_history_begin (history, label);
  fa_mask_history_record (history, frame);
  box (masks, frame, x, y, w, h, FALSE);
  return fa_mask_history_end (history);
}

static void
test_stroke (void)
{
  g_autoptr (FaMaskSet) masks = make_scene ();
  g_autoptr (FaMaskHistory) history = fa_mask_history_new (masks, FA_MASK_HISTORY_DEFAULT_MAX_BYTES);
  g_autoptr (FaMaskSet) before = fa_mask_set_copy (masks);
  int first = -1, last = -1;

  g_assert_false (fa_mask_history_can_undo (history));
  g_assert_false (fa_mask_history_undo (history, &first, &last));

  /* a stroke on the propagated frame 2 (confidence 0.7) makes it a keyframe */
  fa_mask_history_begin (history, "Brush Stroke");
  g_assert_true (fa_mask_history_is_open (history));
  fa_mask_history_record (history, 2);
  paint_stroke (masks, 2, FALSE);
  g_assert_true (fa_mask_history_end (history));
  g_assert_false (fa_mask_history_is_open (history));
  g_autoptr (FaMaskSet) after = fa_mask_set_copy (masks);
  g_assert_true (fa_mask_set_is_keyframe (after, 2));
  g_assert_true (frames_differ (before, after, 2));
  g_assert_true (memcmp (fa_mask_set_peek_frame (before, 2), fa_mask_set_peek_frame (after, 2), FRAME_BYTES) != 0);

  fa_mask_set_mark_propagated (masks);
  g_assert_true (fa_mask_history_undo (history, &first, &last));
  g_assert_cmpint (first, ==, 2);
  g_assert_cmpint (last, ==, 2);
  assert_masks_equal (masks, before);
  /* a propagated frame again, with exactly its confidence */
  g_assert_false (fa_mask_set_is_keyframe (masks, 2));
  g_assert_cmpfloat (fa_mask_set_get_confidence (masks, 2), ==, 0.7f);
  /* a keyframe changed: propagation is stale */
  g_assert_true (fa_mask_set_needs_propagation (masks));
  g_assert_false (fa_mask_history_can_undo (history));
  g_assert_true (fa_mask_history_can_redo (history));

  first = last = -1;
  g_assert_true (fa_mask_history_redo (history, &first, &last));
  g_assert_cmpint (first, ==, 2);
  g_assert_cmpint (last, ==, 2);
  assert_masks_equal (masks, after);
  g_assert_false (fa_mask_history_can_redo (history));
  g_assert_false (fa_mask_history_redo (history, NULL, NULL));

  /* an eraser stroke on the keyframe 1 keeps it a keyframe; undo gives back its box */
  g_autoptr (FaMaskSet) before_erase = fa_mask_set_copy (masks);
  fa_mask_history_begin (history, "Eraser Stroke");
  fa_mask_history_record (history, 1);
  paint_stroke (masks, 1, TRUE);
  g_assert_true (fa_mask_history_end (history));
  g_assert_true (frames_differ (masks, before_erase, 1));
  g_assert_true (fa_mask_history_undo (history, NULL, NULL));
  assert_masks_equal (masks, before_erase);
  g_assert_true (fa_mask_history_undo (history, NULL, NULL));
  assert_masks_equal (masks, before);
}

static void
test_box (void)
{
  g_autoptr (FaMaskSet) masks = make_scene ();
  g_autoptr (FaMaskHistory) history = fa_mask_history_new (masks, FA_MASK_HISTORY_DEFAULT_MAX_BYTES);
  g_autoptr (FaMaskSet) before = fa_mask_set_copy (masks);
  int first = -1, last = -1;

  /* an erasing box across the keyframe's box */
  fa_mask_history_begin (history, "Box");
  fa_mask_history_record (history, 1);
  box (masks, 1, 10, 0, 8, H, TRUE);
  g_assert_true (fa_mask_history_end (history));
  g_autoptr (FaMaskSet) after = fa_mask_set_copy (masks);
  g_assert_cmpint (fa_mask_set_peek_frame (after, 1)[6 * W + 12], ==, 0);
  g_assert_cmpint (fa_mask_set_peek_frame (before, 1)[6 * W + 12], ==, 255);

  g_assert_true (fa_mask_history_undo (history, &first, &last));
  g_assert_cmpint (first, ==, 1);
  g_assert_cmpint (last, ==, 1);
  assert_masks_equal (masks, before);
  g_assert_true (fa_mask_set_is_keyframe (masks, 1));
  g_assert_true (fa_mask_history_redo (history, NULL, NULL));
  assert_masks_equal (masks, after);

  /* a box on an empty frame that was never propagated: back to no keyframe, confidence 0 */
  g_assert_true (box_step (history, masks, "Box", 5, 0, 0, 3, 3));
  g_assert_true (fa_mask_set_is_keyframe (masks, 5));
  g_assert_cmpfloat (fa_mask_set_get_confidence (masks, 5), ==, 1.0f);
  g_assert_true (fa_mask_history_undo (history, NULL, NULL));
  assert_masks_equal (masks, after);
  g_assert_false (fa_mask_set_is_keyframe (masks, 5));
  g_assert_cmpfloat (fa_mask_set_get_confidence (masks, 5), ==, 0.0f);
}

/* How the document clears frames: empty, handed back to propagation, no confidence. */
static void
clear_frame (FaMaskSet *masks, int frame)
{
  memset (fa_mask_set_get_frame (masks, frame), 0, FRAME_BYTES);
  fa_mask_set_unset_keyframe (masks, frame);
  fa_mask_set_set_confidence (masks, frame, 0.0f);
}

static void
test_clear_frames (void)
{
  g_autoptr (FaMaskSet) masks = make_scene ();
  g_autoptr (FaMaskHistory) history = fa_mask_history_new (masks, FA_MASK_HISTORY_DEFAULT_MAX_BYTES);
  g_autoptr (FaMaskSet) before = fa_mask_set_copy (masks);
  int first = -1, last = -1;

  /* every frame recorded; 0, 4 and 5 were empty already */
  fa_mask_history_begin (history, "Clear Mask");
  for (int f = 0; f < N_FRAMES; f++)
    fa_mask_history_record (history, f);
  for (int f = 0; f < N_FRAMES; f++)
    clear_frame (masks, f);
  g_assert_true (fa_mask_history_end (history));
  g_autoptr (FaMaskSet) after = fa_mask_set_copy (masks);
  g_assert_cmpint (fa_mask_set_list_keyframes (after, NULL), ==, 0);

  g_assert_true (fa_mask_history_undo (history, &first, &last));
  /* only the frames the clear changed */
  g_assert_cmpint (first, ==, 1);
  g_assert_cmpint (last, ==, 3);
  assert_masks_equal (masks, before);
  g_assert_true (fa_mask_set_is_keyframe (masks, 1));
  g_assert_cmpfloat (fa_mask_set_get_confidence (masks, 2), ==, 0.7f);
  g_assert_cmpfloat (fa_mask_set_get_confidence (masks, 3), ==, 0.4f);
  /* three frames changed, each stored before and after */
  g_assert_cmpuint (fa_mask_history_get_bytes (history), ==, 3 * 2 * FRAME_BYTES);

  first = last = -1;
  g_assert_true (fa_mask_history_redo (history, &first, &last));
  g_assert_cmpint (first, ==, 1);
  g_assert_cmpint (last, ==, 3);
  assert_masks_equal (masks, after);
}

static void
test_redo_branch (void)
{
  g_autoptr (FaMaskSet) masks = make_scene ();
  g_autoptr (FaMaskHistory) history = fa_mask_history_new (masks, FA_MASK_HISTORY_DEFAULT_MAX_BYTES);
  g_autoptr (FaMaskSet) start = fa_mask_set_copy (masks);

  g_assert_true (box_step (history, masks, "A", 0, 0, 0, 5, 5));
  g_autoptr (FaMaskSet) after_a = fa_mask_set_copy (masks);
  g_assert_true (box_step (history, masks, "B", 0, 10, 10, 5, 5));
  g_autoptr (FaMaskSet) after_b = fa_mask_set_copy (masks);

  /* undo, redo, undo again */
  g_assert_true (fa_mask_history_undo (history, NULL, NULL));
  assert_masks_equal (masks, after_a);
  g_assert_true (fa_mask_history_redo (history, NULL, NULL));
  assert_masks_equal (masks, after_b);
  g_assert_true (fa_mask_history_undo (history, NULL, NULL));
  assert_masks_equal (masks, after_a);
  g_assert_true (fa_mask_history_can_redo (history));
  g_assert_cmpstr (fa_mask_history_get_redo_label (history), ==, "B");
  gsize bytes_with_b = fa_mask_history_get_bytes (history);

  /* a new step: B cannot come back */
  g_assert_true (box_step (history, masks, "C", 4, 20, 2, 6, 6));
  g_autoptr (FaMaskSet) after_c = fa_mask_set_copy (masks);
  g_assert_false (fa_mask_history_can_redo (history));
  g_assert_null (fa_mask_history_get_redo_label (history));
  g_assert_false (fa_mask_history_redo (history, NULL, NULL));
  g_assert_cmpuint (fa_mask_history_get_bytes (history), ==, bytes_with_b);
  g_assert_cmpuint (fa_mask_history_get_bytes (history), ==, 4 * FRAME_BYTES);

  g_assert_true (fa_mask_history_undo (history, NULL, NULL));
  assert_masks_equal (masks, after_a);
  g_assert_true (fa_mask_history_undo (history, NULL, NULL));
  assert_masks_equal (masks, start);
  g_assert_false (fa_mask_history_undo (history, NULL, NULL));
  g_assert_true (fa_mask_history_redo (history, NULL, NULL));
  g_assert_true (fa_mask_history_redo (history, NULL, NULL));
  assert_masks_equal (masks, after_c);
  g_assert_false (fa_mask_history_redo (history, NULL, NULL));
}

static void
test_empty_step (void)
{
  g_autoptr (FaMaskSet) masks = make_scene ();
  g_autoptr (FaMaskHistory) history = fa_mask_history_new (masks, FA_MASK_HISTORY_DEFAULT_MAX_BYTES);
  g_autoptr (FaMaskSet) start = fa_mask_set_copy (masks);

  /* nothing recorded */
  fa_mask_history_begin (history, "Box");
  g_assert_false (fa_mask_history_end (history));
  /* recorded, not changed */
  fa_mask_history_begin (history, "Box");
  fa_mask_history_record (history, 2);
  fa_mask_history_record (history, 4);
  g_assert_false (fa_mask_history_end (history));
  /* a box where the keyframe is already full */
  g_assert_false (box_step (history, masks, "Box", 1, 6, 5, 4, 4));
  /* changed and changed back */
  fa_mask_history_begin (history, "Brush Stroke");
  fa_mask_history_record (history, 1);
  g_autofree guint8 *saved = g_memdup2 (fa_mask_set_peek_frame (masks, 1), FRAME_BYTES);
  paint_stroke (masks, 1, TRUE);
  g_assert_true (memcmp (saved, fa_mask_set_peek_frame (masks, 1), FRAME_BYTES) != 0);
  memcpy (fa_mask_set_get_frame (masks, 1), saved, FRAME_BYTES);
  g_assert_false (fa_mask_history_end (history));

  g_assert_false (fa_mask_history_can_undo (history));
  g_assert_null (fa_mask_history_get_undo_label (history));
  g_assert_cmpuint (fa_mask_history_get_bytes (history), ==, 0);
  assert_masks_equal (masks, start);

  /* an empty step after a real one leaves that one on top */
  g_assert_true (box_step (history, masks, "Box", 0, 0, 0, 4, 4));
  fa_mask_history_begin (history, "Clear Mask");
  fa_mask_history_record (history, 5);
  g_assert_false (fa_mask_history_end (history));
  g_assert_cmpstr (fa_mask_history_get_undo_label (history), ==, "Box");
  g_assert_true (fa_mask_history_undo (history, NULL, NULL));
  assert_masks_equal (masks, start);
  /* and does not drop what can be redone */
  fa_mask_history_begin (history, "Clear Mask");
  fa_mask_history_record (history, 5);
  g_assert_false (fa_mask_history_end (history));
  g_assert_cmpstr (fa_mask_history_get_redo_label (history), ==, "Box");
}

static void
test_labels (void)
{
  g_autoptr (FaMaskSet) masks = make_scene ();
  g_autoptr (FaMaskHistory) history = fa_mask_history_new (masks, FA_MASK_HISTORY_DEFAULT_MAX_BYTES);

  g_assert_null (fa_mask_history_get_undo_label (history));
  g_assert_null (fa_mask_history_get_redo_label (history));
  g_assert_true (box_step (history, masks, "Box", 0, 0, 0, 4, 4));
  fa_mask_history_begin (history, "Brush Stroke");
  fa_mask_history_record (history, 0);
  paint_stroke (masks, 0, FALSE);
  g_assert_true (fa_mask_history_end (history));

  g_assert_cmpstr (fa_mask_history_get_undo_label (history), ==, "Brush Stroke");
  g_assert_null (fa_mask_history_get_redo_label (history));
  g_assert_true (fa_mask_history_undo (history, NULL, NULL));
  g_assert_cmpstr (fa_mask_history_get_undo_label (history), ==, "Box");
  g_assert_cmpstr (fa_mask_history_get_redo_label (history), ==, "Brush Stroke");
  g_assert_true (fa_mask_history_undo (history, NULL, NULL));
  g_assert_null (fa_mask_history_get_undo_label (history));
  g_assert_cmpstr (fa_mask_history_get_redo_label (history), ==, "Box");
  g_assert_true (fa_mask_history_redo (history, NULL, NULL));
  g_assert_cmpstr (fa_mask_history_get_undo_label (history), ==, "Box");
  g_assert_cmpstr (fa_mask_history_get_redo_label (history), ==, "Brush Stroke");

  /* while a step is open there is nothing to undo or redo */
  fa_mask_history_begin (history, "Clear Mask");
  g_assert_null (fa_mask_history_get_undo_label (history));
  g_assert_null (fa_mask_history_get_redo_label (history));
  g_assert_false (fa_mask_history_end (history));
  g_assert_cmpstr (fa_mask_history_get_undo_label (history), ==, "Box");
}

static void
test_budget (void)
{
  g_autoptr (FaMaskSet) masks = new_masks ();
  /* room for two one-frame steps (2 frames each), not three */
  g_autoptr (FaMaskHistory) history = fa_mask_history_new (masks, 5 * FRAME_BYTES);
  g_autoptr (FaMaskSet) start = fa_mask_set_copy (masks);

  g_assert_true (box_step (history, masks, "1", 0, 0, 0, 4, 4));
  g_autoptr (FaMaskSet) after_1 = fa_mask_set_copy (masks);
  g_assert_cmpuint (fa_mask_history_get_bytes (history), ==, 2 * FRAME_BYTES);
  g_assert_true (box_step (history, masks, "2", 1, 0, 0, 4, 4));
  g_autoptr (FaMaskSet) after_2 = fa_mask_set_copy (masks);
  g_assert_cmpuint (fa_mask_history_get_bytes (history), ==, 4 * FRAME_BYTES);
  g_assert_true (box_step (history, masks, "3", 2, 0, 0, 4, 4));
  /* step 1 went */
  g_assert_cmpuint (fa_mask_history_get_bytes (history), ==, 4 * FRAME_BYTES);

  g_assert_true (fa_mask_history_undo (history, NULL, NULL));
  assert_masks_equal (masks, after_2);
  g_assert_true (fa_mask_history_undo (history, NULL, NULL));
  assert_masks_equal (masks, after_1);
  g_assert_false (fa_mask_history_can_undo (history));
  g_assert_false (fa_mask_history_undo (history, NULL, NULL));
  assert_masks_equal (masks, after_1);
  g_assert_true (frames_differ (masks, start, 0));

  /* a step above the whole budget is kept alone */
  g_autoptr (FaMaskHistory) tight = fa_mask_history_new (masks, FRAME_BYTES);
  g_autoptr (FaMaskSet) before_big = fa_mask_set_copy (masks);
  fa_mask_history_begin (tight, "Clear Mask");
  fa_mask_history_record (tight, 0);
  fa_mask_history_record (tight, 1);
  clear_frame (masks, 0);
  box (masks, 1, 0, 0, W, H, FALSE);
  g_assert_true (fa_mask_history_end (tight));
  g_assert_true (frames_differ (masks, before_big, 0));
  g_assert_true (frames_differ (masks, before_big, 1));
  g_assert_cmpuint (fa_mask_history_get_bytes (tight), ==, 4 * FRAME_BYTES);
  g_assert_true (fa_mask_history_can_undo (tight));
  g_assert_true (box_step (tight, masks, "Box", 3, 1, 1, 2, 2));
  g_assert_cmpuint (fa_mask_history_get_bytes (tight), ==, 2 * FRAME_BYTES);
  g_assert_cmpstr (fa_mask_history_get_undo_label (tight), ==, "Box");
  g_assert_true (fa_mask_history_undo (tight, NULL, NULL));
  g_assert_false (fa_mask_history_can_undo (tight));

  /* a step that only makes a frame a keyframe keeps one alpha */
  g_autoptr (FaMaskHistory) flags = fa_mask_history_new (masks, FA_MASK_HISTORY_DEFAULT_MAX_BYTES);
  g_autoptr (GError) error = NULL;
  make_propagated (masks, 4, 9, 0.7f);
  g_autoptr (FaMaskSet) propagated = fa_mask_set_copy (masks);
  g_autofree guint8 *alpha = g_memdup2 (fa_mask_set_peek_frame (masks, 4), FRAME_BYTES);
  fa_mask_history_begin (flags, "Keep");
  fa_mask_history_record (flags, 4);
  g_assert_true (fa_mask_set_set_keyframe (masks, 4, alpha, &error));
  g_assert_no_error (error);
  g_assert_true (fa_mask_history_end (flags));
  g_assert_cmpuint (fa_mask_history_get_bytes (flags), ==, FRAME_BYTES);
  g_assert_true (fa_mask_history_undo (flags, NULL, NULL));
  assert_masks_equal (masks, propagated);
  g_assert_cmpfloat (fa_mask_set_get_confidence (masks, 4), ==, 0.7f);
  g_assert_true (fa_mask_history_redo (flags, NULL, NULL));
  g_assert_true (fa_mask_set_is_keyframe (masks, 4));
  g_assert_cmpmem (fa_mask_set_peek_frame (masks, 4), FRAME_BYTES, alpha, FRAME_BYTES);
}

static void
test_cancel (void)
{
  g_autoptr (FaMaskSet) masks = make_scene ();
  g_autoptr (FaMaskHistory) history = fa_mask_history_new (masks, FA_MASK_HISTORY_DEFAULT_MAX_BYTES);

  g_assert_true (box_step (history, masks, "Box", 0, 0, 0, 4, 4));
  g_autoptr (FaMaskSet) before = fa_mask_set_copy (masks);
  gsize bytes = fa_mask_history_get_bytes (history);

  fa_mask_history_begin (history, "Brush Stroke");
  fa_mask_history_record (history, 1);
  fa_mask_history_record (history, 3);
  paint_stroke (masks, 1, TRUE);
  paint_stroke (masks, 3, FALSE);
  g_assert_true (frames_differ (masks, before, 1));
  g_assert_true (frames_differ (masks, before, 3));
  /* the recorded frames are held while the step is open */
  g_assert_cmpuint (fa_mask_history_get_bytes (history), ==, bytes + 2 * FRAME_BYTES);
  fa_mask_history_cancel (history);

  g_assert_false (fa_mask_history_is_open (history));
  assert_masks_equal (masks, before);
  g_assert_false (fa_mask_set_is_keyframe (masks, 3));
  g_assert_cmpfloat (fa_mask_set_get_confidence (masks, 3), ==, 0.4f);
  g_assert_cmpuint (fa_mask_history_get_bytes (history), ==, bytes);
  g_assert_cmpstr (fa_mask_history_get_undo_label (history), ==, "Box");
  g_assert_false (fa_mask_history_can_redo (history));
}

static void
test_open_step (void)
{
  g_autoptr (FaMaskSet) masks = make_scene ();
  g_autoptr (FaMaskHistory) history = fa_mask_history_new (masks, FA_MASK_HISTORY_DEFAULT_MAX_BYTES);
  g_autoptr (FaMaskSet) start = fa_mask_set_copy (masks);

  g_assert_true (box_step (history, masks, "A", 0, 0, 0, 4, 4));
  g_assert_true (box_step (history, masks, "B", 0, 8, 8, 4, 4));
  g_assert_true (fa_mask_history_undo (history, NULL, NULL));
  g_autoptr (FaMaskSet) after_a = fa_mask_set_copy (masks);

  /* a stroke in progress: undo and redo refuse and change nothing */
  fa_mask_history_begin (history, "Brush Stroke");
  fa_mask_history_record (history, 2);
  paint_stroke (masks, 2, FALSE);
  g_autoptr (FaMaskSet) during = fa_mask_set_copy (masks);
  g_assert_false (fa_mask_history_can_undo (history));
  g_assert_false (fa_mask_history_can_redo (history));
  g_assert_false (fa_mask_history_undo (history, NULL, NULL));
  g_assert_false (fa_mask_history_redo (history, NULL, NULL));
  assert_masks_equal (masks, during);

  /* recording a frame again keeps the first recording */
  fa_mask_history_record (history, 2);
  box (masks, 2, 0, 0, W, 3, FALSE);
  g_assert_true (fa_mask_history_end (history));
  g_assert_true (fa_mask_history_undo (history, NULL, NULL));
  assert_masks_equal (masks, after_a);
  g_assert_true (fa_mask_history_undo (history, NULL, NULL));
  assert_masks_equal (masks, start);

  /* clear with an open step: its changes stay, nothing is left to undo */
  g_assert_true (fa_mask_history_redo (history, NULL, NULL));
  fa_mask_history_begin (history, "Box");
  fa_mask_history_record (history, 5);
  box (masks, 5, 1, 1, 5, 5, FALSE);
  g_autoptr (FaMaskSet) kept = fa_mask_set_copy (masks);
  fa_mask_history_clear (history);
  g_assert_false (fa_mask_history_is_open (history));
  g_assert_false (fa_mask_history_can_undo (history));
  g_assert_false (fa_mask_history_can_redo (history));
  g_assert_cmpuint (fa_mask_history_get_bytes (history), ==, 0);
  assert_masks_equal (masks, kept);
  /* and the history works on */
  g_assert_true (box_step (history, masks, "Box", 4, 0, 0, 2, 2));
  g_assert_true (fa_mask_history_undo (history, NULL, NULL));
  assert_masks_equal (masks, kept);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/mask-history/stroke", test_stroke);
  g_test_add_func ("/mask-history/box", test_box);
  g_test_add_func ("/mask-history/clear-frames", test_clear_frames);
  g_test_add_func ("/mask-history/redo-branch", test_redo_branch);
  g_test_add_func ("/mask-history/empty-step", test_empty_step);
  g_test_add_func ("/mask-history/labels", test_labels);
  g_test_add_func ("/mask-history/budget", test_budget);
  g_test_add_func ("/mask-history/cancel", test_cancel);
  g_test_add_func ("/mask-history/open-step", test_open_step);
  return g_test_run ();
}
