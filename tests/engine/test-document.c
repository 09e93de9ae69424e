/* The app's document: opening the sample clip, a portrait clip and bad
 * files; strokes, boxes and clears with undo and redo down to the mask
 * bytes; the modified flag; the working range and its I and O keys at
 * every edge; propagation over the range only (not over keyframes, not
 * outside, not after a cancel, the same again after a reopen); saving and
 * reopening (keyframes byte for byte, range and view), a failed save, a
 * project whose clip moved; progress and results on the caller's main
 * context.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "fa-document.h"
#include "fa-error.h"
#include "fa-mask-propagate.h"
#include "fa-synthetic.h"

#include "fa-media-util.h"
#include "fa-test-util.h"

#define SAMPLE_FRAMES 49

static FaBackend *cpu;
static GThread *main_thread;
static char *folder; /* per run, removed at the end */

/* ---- helpers ---- */

typedef struct {
  gboolean done;
  GAsyncResult *result;
} Wait;

static void
on_ready (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Wait *wait = user_data;

  g_assert_true (g_thread_self () == main_thread);
  wait->result = g_object_ref (result);
  wait->done = TRUE;
}

static void
wait_for (Wait *wait, GMainContext *context)
{
  while (!wait->done)
    g_main_context_iteration (context, TRUE);
}

typedef struct {
  guint calls;
  guint last_done, last_total;
  gboolean wrong_thread;
  gboolean went_back;
  GCancellable *cancel_on_first; /* cancelled at the first call, when set */
} Progress;

static void
on_progress (guint done, guint total, gpointer user_data)
{
  Progress *progress = user_data;

  if (g_thread_self () != main_thread)
    progress->wrong_thread = TRUE;
  if (progress->calls > 0 && done < progress->last_done)
    progress->went_back = TRUE;
  progress->calls++;
  progress->last_done = done;
  progress->last_total = total;
  if (progress->cancel_on_first != NULL)
    g_cancellable_cancel (progress->cancel_on_first);
}

typedef struct {
  int calls;
  int first, last;
} MasksChanged;

static void
on_masks_changed (FaDocument *document, int first, int last, gpointer user_data)
{
  MasksChanged *seen = user_data;

  seen->calls++;
  seen->first = first;
  seen->last = last;
}

static void
on_notify_count (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  (*(int *) user_data)++;
}

static void
on_signal_count (FaDocument *document, gpointer user_data)
{
  (*(int *) user_data)++;
}

static FaDocument *
open_ok (const char *path, const char *relocated)
{
  g_autoptr (GError) error = NULL;
  FaDocument *document = fa_document_open (path, relocated, NULL, NULL, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (document);
  return document;
}

static char *
copy_to_folder (const char *source, const char *name)
{
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (folder, name, NULL);
  g_autoptr (GFile) from = g_file_new_for_path (source);
  g_autoptr (GFile) to = g_file_new_for_path (path);

  g_file_copy (from, to, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  return path;
}

static GBytes *
read_bytes (const char *path)
{
  g_autoptr (GError) error = NULL;
  char *data = NULL;
  gsize length = 0;

  g_file_get_contents (path, &data, &length, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (data, length);
}

/* A textured in-memory clip the optical flow can follow. */
static FaWorkingClip *
synthetic_clip (int n_frames, int width, int height)
{
  g_autoptr (GError) error = NULL;
  FaSynthOptions options;

  fa_synth_options_init (&options);
  options.motion = FA_SYNTH_TRANSLATE;
  options.width = width;
  options.height = height;
  options.n_frames = n_frames;
  options.seed = 11;
  g_autoptr (FaSynthClip) synth = fa_synth_clip_new (&options, &error);
  g_assert_no_error (error);
  return fa_working_clip_copy (fa_synth_clip_get_clip (synth));
}

/* Black frames: for what does not look at the pictures. */
static FaDocument *
blank_document (int n_frames, int width, int height)
{
  g_autoptr (GError) error = NULL;
  FaWorkingClip *clip = fa_working_clip_new (n_frames, width, height, 16, 1, &error);

  g_assert_no_error (error);
  return fa_document_new_for_clip (clip);
}

/* Every byte, keyframe flag and confidence of a mask set. */
typedef struct {
  int n_frames;
  gsize frame_size;
  guint8 *alpha;
  guint8 *keyframe;
  float *confidence;
} Snapshot;

static Snapshot *
snapshot_take (const FaMaskSet *masks)
{
  Snapshot *snapshot = g_new0 (Snapshot, 1);

  snapshot->n_frames = fa_mask_set_get_n_frames (masks);
  snapshot->frame_size = (gsize) fa_mask_set_get_width (masks) * (gsize) fa_mask_set_get_height (masks);
  snapshot->alpha = g_malloc (snapshot->frame_size * (gsize) snapshot->n_frames);
  snapshot->keyframe = g_new (guint8, snapshot->n_frames);
  snapshot->confidence = g_new (float, snapshot->n_frames);
  for (int i = 0; i < snapshot->n_frames; i++)
    {
      memcpy (snapshot->alpha + snapshot->frame_size * i, fa_mask_set_peek_frame (masks, i), snapshot->frame_size);
      snapshot->keyframe[i] = fa_mask_set_is_keyframe (masks, i);
      snapshot->confidence[i] = fa_mask_set_get_confidence (masks, i);
    }
  return snapshot;
}

static void
snapshot_free (Snapshot *snapshot)
{
  g_free (snapshot->alpha);
  g_free (snapshot->keyframe);
  g_free (snapshot->confidence);
  g_free (snapshot);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Snapshot, snapshot_free)

static gboolean
snapshot_frame_equal (const Snapshot *snapshot, const FaMaskSet *masks, int frame)
{
  return memcmp (snapshot->alpha + snapshot->frame_size * frame, fa_mask_set_peek_frame (masks, frame),
                 snapshot->frame_size) == 0 &&
         snapshot->keyframe[frame] == fa_mask_set_is_keyframe (masks, frame) &&
         snapshot->confidence[frame] == fa_mask_set_get_confidence (masks, frame);
}

static void
assert_snapshot (const Snapshot *snapshot, const FaMaskSet *masks)
{
  g_assert_cmpint (snapshot->n_frames, ==, fa_mask_set_get_n_frames (masks));
  for (int i = 0; i < snapshot->n_frames; i++)
    if (!snapshot_frame_equal (snapshot, masks, i))
      g_error ("frame %d differs from the snapshot", i);
}

static gboolean
frame_is_blank (const FaMaskSet *masks, int frame)
{
  const guint8 *alpha = fa_mask_set_peek_frame (masks, frame);
  gsize size = (gsize) fa_mask_set_get_width (masks) * (gsize) fa_mask_set_get_height (masks);

  for (gsize i = 0; i < size; i++)
    if (alpha[i] != 0)
      return FALSE;
  return TRUE;
}

static void
assert_range (FaDocument *document, int first, int count)
{
  int got_first = -1, got_count = -1;

  fa_document_get_range (document, &got_first, &got_count);
  if (got_first != first || got_count != count)
    g_error ("range %d/%d, expected %d/%d", got_first, got_count, first, count);
}

/* ---- opening ---- */

static void
test_open_sample (void)
{
  g_autoptr (FaDocument) document = open_ok (FA_SAMPLE_CLIP_SOURCE, NULL);
  g_autofree char *title = fa_document_dup_title (document);
  FaWorkingClipOptions options;

  g_assert_cmpint (fa_document_get_n_frames (document), ==, SAMPLE_FRAMES);
  g_assert_cmpint (fa_document_get_width (document), ==, 832);
  g_assert_cmpint (fa_document_get_height (document), ==, 480);
  assert_range (document, 0, SAMPLE_FRAMES);
  g_assert_false (fa_document_get_modified (document));
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 0);
  g_assert_null (fa_document_get_project_path (document));
  g_assert_cmpstr (title, ==, "flowanchor-sample.mp4");
  g_assert_cmpstr (fa_document_get_clip_path (document), ==, FA_SAMPLE_CLIP_SOURCE);
  g_assert_nonnull (fa_document_get_clip_info (document));
  g_assert_cmpint (fa_document_get_clip_info (document)->width, ==, 640);
  g_assert_false (fa_document_get_can_undo (document));
  g_assert_false (fa_document_get_can_redo (document));
  g_assert_false (fa_document_needs_propagation (document));
  g_assert_cmpint (fa_mask_set_list_keyframes (fa_document_get_masks (document), NULL), ==, 0);

  /* what the project will decode again when it is reopened */
  fa_project_get_working_options (fa_document_get_project (document), &options);
  g_assert_cmpint (options.width, ==, 832);
  g_assert_cmpint (options.height, ==, 480);
  g_assert_cmpint (options.max_frames, ==, FA_DOCUMENT_MAX_FRAMES);

  /* the playhead stays on the clip */
  fa_document_set_current_frame (document, 1000);
  g_assert_cmpint (fa_document_get_current_frame (document), ==, SAMPLE_FRAMES - 1);
  fa_document_set_current_frame (document, -5);
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 0);
}

static void
test_open_async_progress (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GMainContext) context = g_main_context_new ();
  Progress progress = { 0 };
  Wait wait = { 0 };

  g_main_context_push_thread_default (context);
  fa_document_open_async (FA_SAMPLE_CLIP_SOURCE, NULL, NULL, on_progress, &progress, on_ready, &wait);
  wait_for (&wait, context);
  g_autoptr (FaDocument) document = fa_document_open_finish (wait.result, &error);
  /* nothing may come after the result */
  guint calls = progress.calls;
  while (g_main_context_iteration (context, FALSE))
    ;
  g_main_context_pop_thread_default (context);
  g_clear_object (&wait.result);

  g_assert_no_error (error);
  g_assert_nonnull (document);
  g_assert_cmpint (fa_document_get_n_frames (document), ==, SAMPLE_FRAMES);
  g_assert_cmpuint (progress.calls, >=, 1);
  g_assert_cmpuint (progress.calls, ==, calls);
  g_assert_false (progress.wrong_thread);
  g_assert_false (progress.went_back);
  /* coalesced, but the last count always arrives */
  g_assert_cmpuint (progress.last_done, >=, SAMPLE_FRAMES);
  g_assert_cmpuint (progress.last_done, <=, progress.last_total);
}

static void
assert_open_fails (const char *path, const char *fragment)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaDocument) document = fa_document_open (path, NULL, NULL, NULL, NULL, &error);

  g_assert_null (document);
  g_assert_nonnull (error);
  g_assert_false (fa_document_error_is_clip_missing (error));
  g_test_message ("%s", error->message);
  if (strstr (error->message, fragment) == NULL)
    g_error ("opening %s: \"%s\" does not name \"%s\"", path, error->message, fragment);

  /* the same from the worker */
  Wait wait = { 0 };
  g_autoptr (GError) async_error = NULL;
  fa_document_open_async (path, NULL, NULL, NULL, NULL, on_ready, &wait);
  wait_for (&wait, NULL);
  g_autoptr (FaDocument) async_document = fa_document_open_finish (wait.result, &async_error);
  g_clear_object (&wait.result);
  g_assert_null (async_document);
  g_assert_nonnull (async_error);
  g_assert_true (async_error->domain == error->domain && async_error->code == error->code);
}

static void
test_open_unreadable (void)
{
  g_autofree char *empty = g_build_filename (folder, "empty.mp4", NULL);
  g_autofree char *text = g_build_filename (folder, "notes.txt", NULL);
  g_autofree char *missing = g_build_filename (folder, "no-such-clip.mp4", NULL);
  g_autofree char *corrupt = g_build_filename (folder, "corrupt" FA_PROJECT_EXTENSION, NULL);
  g_autofree char *no_project = g_build_filename (folder, "no-such" FA_PROJECT_EXTENSION, NULL);

  g_assert_true (g_file_set_contents (empty, "", 0, NULL));
  g_assert_true (g_file_set_contents (text, "a shopping list, not a clip\n", -1, NULL));
  g_assert_true (g_file_set_contents (corrupt, "{ \"version\": 1, \"clip\": ", -1, NULL));

  assert_open_fails (empty, empty);
  assert_open_fails (text, text);
  assert_open_fails (missing, missing);
  assert_open_fails (corrupt, corrupt);
  assert_open_fails (no_project, "no-such" FA_PROJECT_EXTENSION);

  /* three frames: fewer than one range needs */
  g_autofree char *short_clip = fa_test_make_mp4 (folder, "short.mp4", 3, 64, 48, 16, FALSE, "ball");
  assert_open_fails (short_clip, short_clip);
}

static void
test_open_portrait (void)
{
  g_autofree char *path = fa_test_make_mp4 (folder, "portrait.mp4", 12, 96, 160, 16, FALSE, "ball");
  g_autoptr (FaDocument) document = open_ok (path, NULL);
  FaWorkingClipOptions options;

  g_assert_cmpint (fa_document_get_width (document), ==, 480);
  g_assert_cmpint (fa_document_get_height (document), ==, 832);
  g_assert_cmpint (fa_document_get_n_frames (document), ==, 9);
  assert_range (document, 0, 9);
  fa_project_get_working_options (fa_document_get_project (document), &options);
  g_assert_cmpint (options.width, ==, 480);
  g_assert_cmpint (options.height, ==, 832);
}

static void
test_in_memory (void)
{
  g_autoptr (FaDocument) document = blank_document (9, 64, 48);
  g_autoptr (GError) error = NULL;
  g_autofree char *title = fa_document_dup_title (document);
  g_autofree char *path = g_build_filename (folder, "memory" FA_PROJECT_EXTENSION, NULL);

  g_assert_cmpstr (title, ==, "Untitled");
  g_assert_null (fa_document_get_clip_info (document));
  g_assert_null (fa_document_get_clip_path (document));
  g_assert_null (fa_document_get_project (document));
  g_assert_false (fa_document_save (document, path, &error));
  g_assert_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
}

/* ---- masks, undo and redo ---- */

static void
test_stroke_is_its_polyline (void)
{
  g_autoptr (FaDocument) document = blank_document (9, 64, 48);
  g_autoptr (GError) error = NULL;
  MasksChanged seen = { 0 };
  FaDocumentView view;
  const FaMaskPoint points[] = { { 10.0f, 10.0f }, { 30.0f, 14.0f }, { 40.5f, 30.25f } };

  fa_document_get_view (document, &view);
  view.brush_radius = 5.0;
  view.brush_hardness = 0.5;
  fa_document_set_view (document, &view);
  g_signal_connect (document, "masks-changed", G_CALLBACK (on_masks_changed), &seen);

  /* what the mask set paints for the whole polyline at once */
  g_autoptr (FaMaskSet) expected = fa_mask_set_copy (fa_document_get_masks (document));
  FaMaskStroke stroke = { points, 3, 5.0f, 0.5f, FALSE };
  g_assert_true (fa_mask_set_apply_stroke (expected, 3, &stroke, &error));
  g_assert_no_error (error);

  fa_document_stroke_begin (document, 3, FALSE);
  g_assert_true (fa_document_stroke_is_active (document));
  g_assert_false (fa_document_get_modified (document));
  for (int i = 0; i < 3; i++)
    {
      fa_document_stroke_add_point (document, points[i].x, points[i].y);
      g_assert_cmpint (seen.calls, ==, i + 1);
      g_assert_cmpint (seen.first, ==, 3);
      g_assert_cmpint (seen.last, ==, 3);
    }
  /* painted as the pointer moves, before the stroke ends */
  g_assert_cmpmem (fa_mask_set_peek_frame (fa_document_get_masks (document), 3), 64 * 48,
                   fa_mask_set_peek_frame (expected, 3), 64 * 48);
  fa_document_stroke_end (document);
  g_assert_false (fa_document_stroke_is_active (document));
  g_assert_true (fa_document_get_modified (document));
  g_assert_true (fa_document_get_can_undo (document));
  g_assert_cmpstr (fa_document_get_undo_label (document), ==, "Brush Stroke");

  /* the eraser, one dab: half of the first point's stroke stays */
  FaMaskStroke dab = { points, 1, 5.0f, 0.5f, TRUE };
  g_assert_true (fa_mask_set_apply_stroke (expected, 3, &dab, &error));
  fa_document_stroke_begin (document, 3, TRUE);
  fa_document_stroke_add_point (document, points[0].x, points[0].y);
  fa_document_stroke_end (document);
  g_assert_cmpmem (fa_mask_set_peek_frame (fa_document_get_masks (document), 3), 64 * 48,
                   fa_mask_set_peek_frame (expected, 3), 64 * 48);
  g_assert_false (frame_is_blank (fa_document_get_masks (document), 3));
}

static void
test_undo_redo (void)
{
  g_autoptr (FaDocument) document = blank_document (9, 64, 48);
  int undo_notes = 0, redo_notes = 0;
  FaFrameMaskState state;

  g_signal_connect (document, "notify::can-undo", G_CALLBACK (on_notify_count), &undo_notes);
  g_signal_connect (document, "notify::can-redo", G_CALLBACK (on_notify_count), &redo_notes);

  g_autoptr (Snapshot) s0 = snapshot_take (fa_document_get_masks (document));
  fa_document_stroke_begin (document, 2, FALSE);
  fa_document_stroke_add_point (document, 20, 20);
  fa_document_stroke_add_point (document, 40, 24);
  fa_document_stroke_end (document);
  g_autoptr (Snapshot) s1 = snapshot_take (fa_document_get_masks (document));
  g_assert_true (s1->keyframe[2]);
  g_assert_cmpint (undo_notes, ==, 1);

  /* corners in any order, clipped to the frame */
  g_assert_true (fa_document_apply_box (document, 5, 70.0, 30.0, 48.0, -10.0, FALSE));
  g_autoptr (Snapshot) s2 = snapshot_take (fa_document_get_masks (document));
  g_assert_cmpstr (fa_document_get_undo_label (document), ==, "Box");
  fa_document_get_frame_mask_state (document, 5, &state);
  g_assert_true (state.keyframe);
  g_assert_cmpfloat (state.confidence, ==, 1.0f);
  /* columns 48…63, rows 0…29 */
  g_assert_cmpfloat_with_epsilon (state.coverage, 16.0 * 30.0 / (64.0 * 48.0), 1e-6);
  g_assert_cmpint (fa_mask_set_peek_frame (fa_document_get_masks (document), 5)[29 * 64 + 48], ==, 255);
  g_assert_cmpint (fa_mask_set_peek_frame (fa_document_get_masks (document), 5)[30 * 64 + 48], ==, 0);
  g_assert_cmpint (fa_mask_set_peek_frame (fa_document_get_masks (document), 5)[29 * 64 + 47], ==, 0);

  /* an empty box does nothing */
  g_assert_false (fa_document_apply_box (document, 6, 10.0, 10.0, 10.2, 30.0, FALSE));
  g_assert_false (fa_document_apply_box (document, 6, -20.0, 10.0, -5.0, 30.0, FALSE));
  g_assert_false (fa_document_apply_box (document, 6, NAN, 10.0, 5.0, 30.0, FALSE));
  assert_snapshot (s2, fa_document_get_masks (document));

  fa_document_clear_frame (document, 2);
  g_autoptr (Snapshot) s3 = snapshot_take (fa_document_get_masks (document));
  g_assert_true (s3->keyframe[2]);
  g_assert_true (frame_is_blank (fa_document_get_masks (document), 2));
  g_assert_cmpstr (fa_document_get_undo_label (document), ==, "Clear Mask");
  fa_document_get_frame_mask_state (document, 2, &state);
  g_assert_true (state.keyframe);
  g_assert_cmpfloat (state.coverage, ==, 0.0f);

  /* back through all three, the playhead on each changed frame */
  fa_document_set_current_frame (document, 8);
  g_assert_true (fa_document_undo (document));
  assert_snapshot (s2, fa_document_get_masks (document));
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 2);
  g_assert_true (fa_document_get_can_redo (document));
  g_assert_cmpstr (fa_document_get_redo_label (document), ==, "Clear Mask");
  g_assert_true (fa_document_undo (document));
  assert_snapshot (s1, fa_document_get_masks (document));
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 5);
  g_assert_true (fa_document_undo (document));
  assert_snapshot (s0, fa_document_get_masks (document));
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 2);
  g_assert_false (fa_document_get_can_undo (document));
  g_assert_false (fa_document_undo (document));
  g_assert_cmpint (undo_notes, ==, 2);
  fa_document_get_frame_mask_state (document, 5, &state);
  g_assert_false (state.keyframe);
  g_assert_cmpfloat (state.coverage, ==, 0.0f);
  g_assert_cmpfloat (state.confidence, ==, 0.0f);

  /* and forward again */
  g_assert_true (fa_document_redo (document));
  assert_snapshot (s1, fa_document_get_masks (document));
  g_assert_true (fa_document_redo (document));
  assert_snapshot (s2, fa_document_get_masks (document));
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 5);
  g_assert_true (fa_document_redo (document));
  assert_snapshot (s3, fa_document_get_masks (document));
  g_assert_false (fa_document_get_can_redo (document));
  g_assert_false (fa_document_redo (document));

  /* a new step drops what could have been redone */
  g_assert_true (fa_document_undo (document));
  g_assert_true (fa_document_get_can_redo (document));
  g_assert_true (fa_document_apply_box (document, 7, 0.0, 0.0, 8.0, 8.0, FALSE));
  g_assert_false (fa_document_get_can_redo (document));
  g_autoptr (Snapshot) s4 = snapshot_take (fa_document_get_masks (document));

  /* clear all: one step, every frame */
  fa_document_clear_all (document);
  g_assert_cmpint (fa_mask_set_list_keyframes (fa_document_get_masks (document), NULL), ==, 0);
  for (int i = 0; i < 9; i++)
    g_assert_true (frame_is_blank (fa_document_get_masks (document), i));
  g_assert_true (fa_document_undo (document));
  assert_snapshot (s4, fa_document_get_masks (document));
  g_assert_true (fa_document_redo (document));
  g_assert_cmpint (fa_mask_set_list_keyframes (fa_document_get_masks (document), NULL), ==, 0);

  /* no undo in the middle of a stroke */
  fa_document_stroke_begin (document, 4, FALSE);
  fa_document_stroke_add_point (document, 5, 5);
  g_assert_false (fa_document_undo (document));
  fa_document_stroke_end (document);
  g_assert_true (fa_document_undo (document));
  g_assert_true (frame_is_blank (fa_document_get_masks (document), 4));
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 4);
}

/* ---- the modified flag ---- */

static void
test_modified (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaDocument) document = open_ok (FA_SAMPLE_CLIP_SOURCE, NULL);
  g_autofree char *path = g_build_filename (folder, "modified" FA_PROJECT_EXTENSION, NULL);
  int modified_notes = 0, view_changes = 0, path_notes = 0;
  FaDocumentView view;

  g_signal_connect (document, "notify::modified", G_CALLBACK (on_notify_count), &modified_notes);
  g_signal_connect (document, "notify::project-path", G_CALLBACK (on_notify_count), &path_notes);
  g_signal_connect (document, "view-changed", G_CALLBACK (on_signal_count), &view_changes);

  /* the view, the playhead and a range set to what it is are not changes */
  fa_document_get_view (document, &view);
  view.look = FA_MASK_LOOK_OUTLINE;
  view.brush_radius = 40.0;
  fa_document_set_view (document, &view);
  g_assert_cmpint (view_changes, ==, 1);
  fa_document_set_current_frame (document, 10);
  g_assert_true (fa_document_set_range (document, 0, SAMPLE_FRAMES, &error));
  g_assert_false (fa_document_get_modified (document));
  g_assert_cmpint (modified_notes, ==, 0);

  g_assert_true (fa_document_apply_box (document, 3, 100, 100, 200, 180, FALSE));
  g_assert_true (fa_document_get_modified (document));
  g_assert_cmpint (modified_notes, ==, 1);

  g_assert_true (fa_document_save (document, path, &error));
  g_assert_no_error (error);
  g_assert_false (fa_document_get_modified (document));
  g_assert_cmpint (modified_notes, ==, 2);
  g_assert_cmpint (path_notes, ==, 1);
  g_assert_nonnull (fa_document_get_project_path (document));
  g_assert_true (g_str_has_suffix (fa_document_get_project_path (document), "modified" FA_PROJECT_EXTENSION));
  g_autofree char *title = fa_document_dup_title (document);
  g_assert_cmpstr (title, ==, "modified");

  view.zoom = 2.0;
  fa_document_set_view (document, &view);
  g_assert_false (fa_document_get_modified (document));

  g_assert_true (fa_document_set_range (document, 4, 9, &error));
  g_assert_true (fa_document_get_modified (document));
  /* a save to its own path */
  g_assert_true (fa_document_save (document, NULL, &error));
  g_assert_false (fa_document_get_modified (document));
  g_assert_cmpint (path_notes, ==, 1);

  g_assert_true (fa_document_undo (document));
  g_assert_true (fa_document_get_modified (document));
  g_assert_true (fa_document_save (document, NULL, &error));
  fa_document_clear_frame (document, 7);
  g_assert_true (fa_document_get_modified (document));
  g_assert_true (fa_document_save (document, NULL, &error));
  fa_document_set_modified (document);
  g_assert_true (fa_document_get_modified (document));

  /* a change made while the file is written keeps the document modified;
   * a second save meanwhile is refused */
  Wait first = { 0 }, second = { 0 };
  fa_document_save_async (document, NULL, NULL, on_ready, &first);
  fa_document_save_async (document, NULL, NULL, on_ready, &second);
  g_assert_true (fa_document_apply_box (document, 9, 10, 10, 50, 50, FALSE));
  wait_for (&second, NULL);
  g_assert_false (fa_document_save_finish (document, second.result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_BUSY);
  g_clear_error (&error);
  wait_for (&first, NULL);
  g_assert_true (fa_document_save_finish (document, first.result, &error));
  g_assert_no_error (error);
  g_assert_true (fa_document_get_modified (document));
  g_clear_object (&first.result);
  g_clear_object (&second.result);

  /* and an async save with nothing changed meanwhile clears it */
  Wait third = { 0 };
  fa_document_save_async (document, NULL, NULL, on_ready, &third);
  wait_for (&third, NULL);
  g_assert_true (fa_document_save_finish (document, third.result, &error));
  g_assert_no_error (error);
  g_assert_false (fa_document_get_modified (document));
  g_clear_object (&third.result);
}

static void
test_save_failure (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaDocument) document = open_ok (FA_SAMPLE_CLIP_SOURCE, NULL);
  g_autofree char *path = g_build_filename (folder, "failure" FA_PROJECT_EXTENSION, NULL);
  g_autofree char *other = g_build_filename (folder, "failure-other" FA_PROJECT_EXTENSION, NULL);

  g_assert_true (fa_document_apply_box (document, 3, 100, 100, 200, 180, FALSE));
  g_assert_true (fa_document_save (document, path, &error));
  g_assert_no_error (error);
  g_autoptr (GBytes) before = read_bytes (path);

  g_assert_true (fa_document_apply_box (document, 8, 300, 100, 400, 180, FALSE));
  g_assert_true (fa_document_get_modified (document));
  fa_project_set_save_failure_for_testing (64);
  g_assert_false (fa_document_save (document, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_clear_error (&error);
  g_autoptr (GBytes) after = read_bytes (path);
  g_assert_true (g_bytes_equal (before, after));
  g_assert_true (fa_document_get_modified (document));

  /* from the worker, and to a new name: the path stays the old one */
  Wait wait = { 0 };
  fa_document_save_async (document, other, NULL, on_ready, &wait);
  wait_for (&wait, NULL);
  g_assert_false (fa_document_save_finish (document, wait.result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_clear_error (&error);
  g_clear_object (&wait.result);
  fa_project_set_save_failure_for_testing (-1);
  g_assert_true (fa_document_get_modified (document));
  g_assert_false (g_file_test (other, G_FILE_TEST_EXISTS));
  g_assert_true (g_str_has_suffix (fa_document_get_project_path (document), "failure" FA_PROJECT_EXTENSION));
  g_autoptr (GBytes) still = read_bytes (path);
  g_assert_true (g_bytes_equal (before, still));

  /* and it saves once the disk has room again */
  g_assert_true (fa_document_save (document, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (fa_document_get_modified (document));
}

static void
test_clip_moved (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *clip = copy_to_folder (FA_SAMPLE_CLIP_SOURCE, "moving.mp4");
  g_autofree char *moved = g_build_filename (folder, "moved.mp4", NULL);
  g_autofree char *project = g_build_filename (folder, "moving" FA_PROJECT_EXTENSION, NULL);

  {
    g_autoptr (FaDocument) document = open_ok (clip, NULL);
    g_assert_true (fa_document_apply_box (document, 6, 100, 100, 200, 180, FALSE));
    g_assert_true (fa_document_save (document, project, &error));
    g_assert_no_error (error);
  }
  g_assert_cmpint (g_rename (clip, moved), ==, 0);

  g_autofree char *recorded = fa_document_peek_project_clip (project, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (recorded, ==, clip);

  g_autoptr (FaDocument) missing = fa_document_open (project, NULL, NULL, NULL, NULL, &error);
  g_assert_null (missing);
  g_assert_true (fa_document_error_is_clip_missing (error));
  fa_test_assert_error_message (error, FA_DOCUMENT_ERROR, FA_DOCUMENT_ERROR_CLIP_MISSING, clip);
  g_clear_error (&error);

  /* another file in its place is no better */
  g_assert_true (g_file_set_contents (clip, "not the clip", -1, NULL));
  g_autoptr (FaDocument) changed = fa_document_open (project, NULL, NULL, NULL, NULL, &error);
  g_assert_null (changed);
  g_assert_true (fa_document_error_is_clip_missing (error));
  g_clear_error (&error);

  /* told where it is now */
  g_autoptr (FaDocument) document = open_ok (project, moved);
  g_assert_cmpstr (fa_document_get_clip_path (document), ==, moved);
  g_assert_true (fa_document_get_modified (document));
  g_assert_true (fa_mask_set_is_keyframe (fa_document_get_masks (document), 6));
  g_assert_true (fa_document_save (document, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (fa_document_get_modified (document));

  /* and after the save the project finds it by itself */
  g_autoptr (FaDocument) again = open_ok (project, NULL);
  g_assert_false (fa_document_get_modified (again));
  g_assert_cmpstr (fa_document_get_clip_path (again), ==, moved);

  g_autoptr (GError) peek_error = NULL;
  g_autofree char *nothing = fa_document_peek_project_clip (clip, &peek_error);
  g_assert_null (nothing);
  g_assert_nonnull (peek_error);
}

/* ---- the range ---- */

static void
test_range_rules (void)
{
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (fa_document_snap_range_count (-3), ==, 0);
  g_assert_cmpint (fa_document_snap_range_count (4), ==, 0);
  g_assert_cmpint (fa_document_snap_range_count (5), ==, 5);
  g_assert_cmpint (fa_document_snap_range_count (8), ==, 5);
  g_assert_cmpint (fa_document_snap_range_count (9), ==, 9);
  g_assert_cmpint (fa_document_snap_range_count (80), ==, 77);
  g_assert_cmpint (fa_document_snap_range_count (81), ==, 81);
  g_assert_cmpint (fa_document_snap_range_count (1000), ==, 81);

  /* a new document's range */
  {
    g_autoptr (FaDocument) d5 = blank_document (5, 16, 16);
    g_autoptr (FaDocument) d50 = blank_document (50, 16, 16);
    g_autoptr (FaDocument) d241 = blank_document (241, 16, 16);
    assert_range (d5, 0, 5);
    assert_range (d50, 0, 49);
    assert_range (d241, 0, 81);
  }

  /* both ends at once */
  g_autoptr (FaDocument) d = blank_document (49, 16, 16);
  int first_notes = 0, count_notes = 0;
  g_signal_connect (d, "notify::range-first", G_CALLBACK (on_notify_count), &first_notes);
  g_signal_connect (d, "notify::range-count", G_CALLBACK (on_notify_count), &count_notes);
  g_assert_true (fa_document_set_range (d, 10, 20, &error));
  assert_range (d, 10, 17);
  g_assert_cmpint (first_notes, ==, 1);
  g_assert_cmpint (count_notes, ==, 1);
  g_assert_true (fa_document_get_modified (d));
  g_assert_true (fa_document_set_range (d, 40, 81, &error));
  assert_range (d, 40, 9);
  g_assert_true (fa_document_set_range (d, 44, 9, &error));
  assert_range (d, 44, 5);
  g_assert_false (fa_document_set_range (d, 45, 5, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "45");
  g_clear_error (&error);
  g_assert_false (fa_document_set_range (d, -1, 9, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "-1");
  g_clear_error (&error);
  g_assert_false (fa_document_set_range (d, 0, 4, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "4");
  g_clear_error (&error);
  assert_range (d, 44, 5);

  /* in point: the out point stays, the count snaps by moving it inwards */
  g_assert_true (fa_document_set_range (d, 0, 49, &error));
  fa_document_set_in_point (d, 10); /* 10…48 is 39 frames: 37, so 10…46 */
  assert_range (d, 10, 37);
  fa_document_set_in_point (d, 38); /* 38…46 is 9 */
  assert_range (d, 38, 9);
  fa_document_set_in_point (d, 41); /* 41…46 is 6: 5 */
  assert_range (d, 41, 5);
  fa_document_set_in_point (d, 43); /* 43…45 is 3: 5 frames from 43 */
  assert_range (d, 43, 5);
  /* near the end of the clip: 5 frames from 47 do not fit, the range slides back */
  fa_document_set_in_point (d, 47);
  assert_range (d, 44, 5);
  fa_document_set_in_point (d, 500);
  assert_range (d, 44, 5);
  fa_document_set_in_point (d, -20); /* 0…48 */
  assert_range (d, 0, 49);

  /* out point: the in point stays, or moves inwards */
  g_assert_true (fa_document_set_range (d, 20, 9, &error));
  fa_document_set_out_point (d, 40); /* 20…40 is 21 */
  assert_range (d, 20, 21);
  fa_document_set_out_point (d, 42); /* 20…42 is 23: 21, so 22…42 */
  assert_range (d, 22, 21);
  /* before the in point: 5 frames ending there */
  fa_document_set_out_point (d, 10);
  assert_range (d, 6, 5);
  /* so near the start that they do not fit: the range slides forward */
  fa_document_set_out_point (d, 2);
  assert_range (d, 0, 5);
  fa_document_set_out_point (d, 1000); /* 0…48 */
  assert_range (d, 0, 49);

  /* 81 at most */
  g_autoptr (FaDocument) long_clip = blank_document (241, 16, 16);
  fa_document_set_out_point (long_clip, 200); /* 0…200 is 201: 81 ending at 200 */
  assert_range (long_clip, 120, 81);
  fa_document_set_in_point (long_clip, 0); /* 0…200 again: 81 from 0 */
  assert_range (long_clip, 0, 81);
  fa_document_set_in_point (long_clip, 230); /* past the out point: 5 */
  assert_range (long_clip, 230, 5);
  fa_document_set_out_point (long_clip, 240); /* 230…240 is 11: 9, so 232…240 */
  assert_range (long_clip, 232, 9);
  fa_document_set_in_point (long_clip, 100); /* 100…240 is 141: 81 from 100 */
  assert_range (long_clip, 100, 81);

  /* a clip of exactly 5 frames has one range */
  g_autoptr (FaDocument) d5 = blank_document (5, 16, 16);
  fa_document_set_in_point (d5, 3);
  assert_range (d5, 0, 5);
  fa_document_set_out_point (d5, 1);
  assert_range (d5, 0, 5);
  fa_document_set_in_point (d5, 4);
  assert_range (d5, 0, 5);
  g_assert_true (fa_document_set_range (d5, 0, 81, &error));
  assert_range (d5, 0, 5);
  g_assert_false (fa_document_set_range (d5, 1, 5, &error));
  g_clear_error (&error);
  g_assert_false (fa_document_get_modified (d5));
}

static void
test_view (void)
{
  g_autoptr (FaDocument) document = blank_document (5, 64, 48);
  FaDocumentView view, got, defaults;
  int changes = 0;

  fa_document_view_init (&defaults);
  fa_document_get_view (document, &view);
  g_assert_cmpint (view.look, ==, FA_MASK_LOOK_TINT);
  g_assert_cmpuint (view.tint_rgb, ==, 0xE01B24);
  g_assert_cmpfloat (view.opacity, ==, 0.5);
  g_assert_cmpint (view.tool, ==, FA_MASK_TOOL_BRUSH);
  g_assert_cmpfloat (view.brush_radius, ==, 24.0);
  g_assert_cmpfloat (view.brush_hardness, ==, 0.8);
  g_assert_cmpfloat (view.zoom, ==, 0.0);

  g_signal_connect (document, "view-changed", G_CALLBACK (on_signal_count), &changes);
  view.look = (FaMaskLook) 99;
  view.tint_rgb = 0xFF123456;
  view.opacity = 2.0;
  view.tool = (FaMaskTool) -1;
  view.brush_radius = 0.0;
  view.brush_hardness = NAN;
  view.zoom = -3.0;
  view.center_x = 1000.0;
  view.center_y = -5.0;
  fa_document_set_view (document, &view);
  fa_document_get_view (document, &got);
  g_assert_cmpint (changes, ==, 1);
  g_assert_cmpint (got.look, ==, defaults.look);
  g_assert_cmpuint (got.tint_rgb, ==, 0x123456);
  g_assert_cmpfloat (got.opacity, ==, 1.0);
  g_assert_cmpint (got.tool, ==, defaults.tool);
  g_assert_cmpfloat (got.brush_radius, ==, 1.0);
  g_assert_cmpfloat (got.brush_hardness, ==, defaults.brush_hardness);
  g_assert_cmpfloat (got.zoom, ==, 0.0);
  g_assert_cmpfloat (got.center_x, ==, 64.0);
  g_assert_cmpfloat (got.center_y, ==, 0.0);

  view = got;
  view.brush_radius = 1000.0;
  view.zoom = 3.0;
  view.look = FA_MASK_LOOK_HIDDEN;
  fa_document_set_view (document, &view);
  fa_document_get_view (document, &got);
  g_assert_cmpfloat (got.brush_radius, ==, 256.0);
  g_assert_cmpfloat (got.zoom, ==, 3.0);
  g_assert_cmpint (got.look, ==, FA_MASK_LOOK_HIDDEN);
  g_assert_false (fa_document_get_modified (document));
}

/* ---- propagation ---- */

static void
test_propagate_no_keyframe (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaDocument) document = blank_document (21, 64, 48);

  g_assert_true (fa_document_set_range (document, 8, 9, &error));
  g_assert_false (fa_document_propagate (document, cpu, NULL, NULL, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "paint a mask on a frame inside the range");
  g_clear_error (&error);

  /* a keyframe outside the range does not count */
  g_assert_true (fa_document_apply_box (document, 3, 10, 10, 30, 30, FALSE));
  g_autoptr (Snapshot) before = snapshot_take (fa_document_get_masks (document));
  g_assert_false (fa_document_needs_propagation (document));
  Wait wait = { 0 };
  fa_document_propagate_async (document, cpu, NULL, NULL, NULL, on_ready, &wait);
  wait_for (&wait, NULL);
  g_assert_false (fa_document_propagate_finish (document, wait.result, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "paint a mask on a frame inside the range");
  g_clear_object (&wait.result);
  g_assert_false (fa_document_get_propagating (document));
  assert_snapshot (before, fa_document_get_masks (document));
}

static void
test_propagate_cancel (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaDocument) document = fa_document_new_for_clip (synthetic_clip (41, 128, 96));
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  Progress progress = { 0 };
  int propagating_notes = 0;

  g_assert_true (fa_document_set_range (document, 0, 41, &error));
  g_assert_true (fa_document_apply_box (document, 20, 40, 30, 80, 60, FALSE));
  g_autoptr (Snapshot) before = snapshot_take (fa_document_get_masks (document));
  g_signal_connect (document, "notify::propagating", G_CALLBACK (on_notify_count), &propagating_notes);

  /* cancelled before it starts, on the calling thread */
  g_cancellable_cancel (cancellable);
  g_assert_false (fa_document_propagate (document, cpu, cancellable, NULL, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  assert_snapshot (before, fa_document_get_masks (document));
  g_assert_false (fa_document_get_propagating (document));

  /* cancelled at its first progress report, from the worker */
  g_cancellable_reset (cancellable);
  progress.cancel_on_first = cancellable;
  propagating_notes = 0;
  Wait wait = { 0 }, busy = { 0 };
  fa_document_propagate_async (document, cpu, cancellable, on_progress, &progress, on_ready, &wait);
  g_assert_true (fa_document_get_propagating (document));
  g_assert_cmpint (propagating_notes, ==, 1);
  fa_document_propagate_async (document, cpu, NULL, NULL, NULL, on_ready, &busy);
  wait_for (&busy, NULL);
  g_assert_false (fa_document_propagate_finish (document, busy.result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_BUSY);
  g_clear_error (&error);
  wait_for (&wait, NULL);
  g_assert_false (fa_document_propagate_finish (document, wait.result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_clear_object (&wait.result);
  g_clear_object (&busy.result);
  g_assert_cmpuint (progress.calls, >=, 1);
  g_assert_false (progress.wrong_thread);
  g_assert_false (fa_document_get_propagating (document));
  g_assert_cmpint (propagating_notes, ==, 2);
  assert_snapshot (before, fa_document_get_masks (document));
  g_assert_true (fa_document_needs_propagation (document));
}

/* The main loop does not run while the worker works: its progress must wait
 * for the loop (not run on the worker, though the worker could take the
 * idle context), and a cancel that comes after the work is done but before
 * the result is delivered still leaves the masks as they were. */
static void
test_propagate_idle_loop (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaDocument) document = fa_document_new_for_clip (synthetic_clip (9, 64, 48));
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  Progress progress = { 0 };
  Wait wait = { 0 };

  g_assert_true (fa_document_apply_box (document, 4, 20, 10, 40, 30, FALSE));
  fa_document_propagate_async (document, cpu, NULL, on_progress, &progress, on_ready, &wait);
  g_usleep (G_USEC_PER_SEC / 2);
  g_assert_cmpuint (progress.calls, ==, 0);
  wait_for (&wait, NULL);
  g_assert_true (fa_document_propagate_finish (document, wait.result, &error));
  g_assert_no_error (error);
  g_clear_object (&wait.result);
  g_assert_cmpuint (progress.calls, >=, 1);
  g_assert_false (progress.wrong_thread);
  g_assert_false (frame_is_blank (fa_document_get_masks (document), 3));

  /* done on the worker, cancelled before the loop hears of it */
  Wait late = { 0 };
  g_assert_true (fa_document_apply_box (document, 4, 20, 10, 30, 30, TRUE));
  g_autoptr (Snapshot) edited = snapshot_take (fa_document_get_masks (document));
  fa_document_propagate_async (document, cpu, cancellable, NULL, NULL, on_ready, &late);
  g_usleep (G_USEC_PER_SEC / 2);
  g_cancellable_cancel (cancellable);
  wait_for (&late, NULL);
  g_assert_false (fa_document_propagate_finish (document, late.result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_object (&late.result);
  assert_snapshot (edited, fa_document_get_masks (document));
  g_assert_false (fa_document_get_propagating (document));
  g_assert_true (fa_document_needs_propagation (document));
}

static void
test_propagate_range_only (void)
{
  g_autoptr (GError) error = NULL;
  const int width = 128, height = 96, first = 6, count = 9;
  FaWorkingClip *clip = synthetic_clip (21, width, height);
  g_autoptr (FaWorkingClip) range_clip = fa_working_clip_new (count, width, height, 16, 1, &error);
  g_autoptr (FaDocument) document = NULL;
  MasksChanged seen = { 0 };
  Progress progress = { 0 };

  g_assert_no_error (error);
  memcpy (range_clip->rgb, fa_working_clip_frame (clip, first), (gsize) count * width * height * 3);
  document = fa_document_new_for_clip (clip);

  g_assert_true (fa_document_set_range (document, first, count, &error));
  /* outside the range: must neither move nor be used */
  g_assert_true (fa_document_apply_box (document, 2, 0, 0, 128, 96, FALSE));
  g_assert_true (fa_document_apply_box (document, 18, 0, 0, 60, 96, FALSE));
  /* inside: two keyframes */
  g_assert_true (fa_document_apply_box (document, 8, 30, 20, 70, 60, FALSE));
  fa_document_stroke_begin (document, 12, FALSE);
  fa_document_stroke_add_point (document, 50, 40);
  fa_document_stroke_add_point (document, 70, 44);
  fa_document_stroke_end (document);
  g_autoptr (Snapshot) before = snapshot_take (fa_document_get_masks (document));
  g_assert_true (fa_document_needs_propagation (document));

  /* what propagating the range by itself from its own keyframes gives */
  g_autoptr (FaMaskSet) expected = fa_mask_set_new (count, width, height, &error);
  const FaMaskSet *painted = fa_document_get_masks (document);
  g_assert_true (fa_mask_set_set_keyframe (expected, 8 - first, fa_mask_set_peek_frame (painted, 8), &error));
  g_assert_true (fa_mask_set_set_keyframe (expected, 12 - first, fa_mask_set_peek_frame (painted, 12), &error));
  FaPropagateOptions options;
  fa_propagate_options_init (&options);
  g_assert_true (fa_mask_propagate (expected, range_clip, cpu, &options, NULL, &error));
  g_assert_no_error (error);

  g_signal_connect (document, "masks-changed", G_CALLBACK (on_masks_changed), &seen);
  Wait wait = { 0 };
  fa_document_propagate_async (document, cpu, NULL, on_progress, &progress, on_ready, &wait);
  /* painting goes on meanwhile: frame 10 becomes a keyframe before the result lands */
  g_assert_true (fa_document_apply_box (document, 10, 0, 0, 20, 20, FALSE));
  wait_for (&wait, NULL);
  g_assert_true (fa_document_propagate_finish (document, wait.result, &error));
  g_assert_no_error (error);
  g_clear_object (&wait.result);
  g_assert_false (progress.wrong_thread);
  g_assert_cmpuint (progress.calls, >=, 1);
  g_assert_cmpuint (progress.last_done, ==, progress.last_total);
  g_assert_cmpint (seen.first, ==, first);
  g_assert_cmpint (seen.last, ==, first + count - 1);

  const FaMaskSet *masks = fa_document_get_masks (document);
  gsize size = (gsize) width * height;
  for (int i = 0; i < 21; i++)
    {
      if (i < first || i >= first + count || i == 8 || i == 12)
        {
          if (!snapshot_frame_equal (before, masks, i))
            g_error ("frame %d outside the range or a keyframe changed", i);
          continue;
        }
      if (i == 10)
        {
          /* the box painted meanwhile, not the propagated mask */
          g_assert_true (fa_mask_set_is_keyframe (masks, 10));
          g_assert_cmpint (fa_mask_set_peek_frame (masks, 10)[0], ==, 255);
          g_assert_cmpint (fa_mask_set_peek_frame (masks, 10)[50 * width + 50], ==, 0);
          continue;
        }
      g_assert_false (fa_mask_set_is_keyframe (masks, i));
      g_assert_cmpmem (fa_mask_set_peek_frame (masks, i), size, fa_mask_set_peek_frame (expected, i - first), size);
      g_assert_cmpfloat (fa_mask_set_get_confidence (masks, i), ==, fa_mask_set_get_confidence (expected, i - first));
      g_assert_cmpfloat (fa_mask_set_get_confidence (masks, i), >, 0.0f);
      g_assert_false (frame_is_blank (masks, i));
    }
  FaFrameMaskState state;
  fa_document_get_frame_mask_state (document, 9, &state);
  g_assert_false (state.keyframe);
  g_assert_cmpfloat (state.confidence, >, 0.0f);
  g_assert_cmpfloat (state.coverage, >, 0.0f);

  /* frame 10 was painted after it started: stale */
  g_assert_true (fa_document_needs_propagation (document));
  g_assert_true (fa_document_undo (document));
  g_assert_true (fa_document_needs_propagation (document));
  g_assert_true (fa_document_propagate (document, cpu, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (fa_document_needs_propagation (document));
  g_assert_cmpmem (fa_mask_set_peek_frame (masks, 10), size, fa_mask_set_peek_frame (expected, 10 - first), size);
  /* painting outside the range leaves it fresh, inside does not */
  g_assert_true (fa_document_apply_box (document, 19, 0, 0, 10, 10, FALSE));
  g_assert_false (fa_document_needs_propagation (document));
  g_assert_true (fa_document_apply_box (document, 13, 0, 0, 10, 10, FALSE));
  g_assert_true (fa_document_needs_propagation (document));
  g_assert_true (fa_document_undo (document));
  g_assert_true (fa_document_needs_propagation (document));
  g_assert_true (fa_document_propagate (document, cpu, NULL, NULL, NULL, &error));
  g_assert_false (fa_document_needs_propagation (document));
  /* another range has not been propagated */
  g_assert_true (fa_document_set_range (document, 4, 9, &error));
  g_assert_true (fa_document_needs_propagation (document));
}

/* ---- saving and reopening ---- */

static void
test_save_and_reopen (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaDocument) document = open_ok (FA_SAMPLE_CLIP_SOURCE, NULL);
  g_autofree char *path = g_build_filename (folder, "edit" FA_PROJECT_EXTENSION, NULL);
  const int first = 20, count = 5, width = 832, height = 480;
  const gsize size = (gsize) width * height;
  FaDocumentView view, got;
  Progress progress = { 0 };

  g_assert_true (fa_document_set_range (document, first, count, &error));
  fa_document_stroke_begin (document, 21, FALSE);
  fa_document_stroke_add_point (document, 300, 200);
  fa_document_stroke_add_point (document, 360, 230);
  fa_document_stroke_add_point (document, 380, 300);
  fa_document_stroke_end (document);
  g_assert_true (fa_document_apply_box (document, 23, 250, 150, 420, 330, FALSE));
  /* a keyframe outside the range is saved too */
  g_assert_true (fa_document_apply_box (document, 40, 10, 10, 90, 70, FALSE));

  fa_document_get_view (document, &view);
  view.look = FA_MASK_LOOK_OUTLINE;
  view.tint_rgb = 0x00FF7F;
  view.opacity = 0.25;
  view.tool = FA_MASK_TOOL_ERASER;
  view.brush_radius = 10.5;
  view.brush_hardness = 0.125;
  view.zoom = 2.0;
  view.center_x = 300.5;
  view.center_y = 200.25;
  fa_document_set_view (document, &view);

  Wait wait = { 0 };
  fa_document_propagate_async (document, cpu, NULL, on_progress, &progress, on_ready, &wait);
  wait_for (&wait, NULL);
  g_assert_true (fa_document_propagate_finish (document, wait.result, &error));
  g_assert_no_error (error);
  g_clear_object (&wait.result);
  g_assert_false (progress.wrong_thread);
  g_autoptr (Snapshot) propagated = snapshot_take (fa_document_get_masks (document));
  for (int i = first; i < first + count; i++)
    g_assert_false (frame_is_blank (fa_document_get_masks (document), i));

  Wait saved = { 0 };
  fa_document_save_async (document, path, NULL, on_ready, &saved);
  wait_for (&saved, NULL);
  g_assert_true (fa_document_save_finish (document, saved.result, &error));
  g_assert_no_error (error);
  g_clear_object (&saved.result);
  g_assert_false (fa_document_get_modified (document));
  g_assert_cmpstr (fa_document_get_project_path (document), ==, path);

  g_autoptr (FaDocument) reopened = open_ok (path, NULL);
  const FaMaskSet *masks = fa_document_get_masks (reopened);
  g_autofree char *title = fa_document_dup_title (reopened);
  g_assert_cmpstr (title, ==, "edit");
  g_assert_cmpstr (fa_document_get_project_path (reopened), ==, path);
  g_assert_cmpstr (fa_document_get_clip_path (reopened), ==, FA_SAMPLE_CLIP_SOURCE);
  g_assert_false (fa_document_get_modified (reopened));
  g_assert_false (fa_document_get_can_undo (reopened));
  g_assert_cmpint (fa_document_get_n_frames (reopened), ==, SAMPLE_FRAMES);
  assert_range (reopened, first, count);
  fa_document_get_view (reopened, &got);
  g_assert_cmpint (got.look, ==, view.look);
  g_assert_cmpuint (got.tint_rgb, ==, view.tint_rgb);
  g_assert_cmpfloat (got.opacity, ==, view.opacity);
  g_assert_cmpint (got.tool, ==, view.tool);
  g_assert_cmpfloat (got.brush_radius, ==, view.brush_radius);
  g_assert_cmpfloat (got.brush_hardness, ==, view.brush_hardness);
  g_assert_cmpfloat (got.zoom, ==, view.zoom);
  g_assert_cmpfloat (got.center_x, ==, view.center_x);
  g_assert_cmpfloat (got.center_y, ==, view.center_y);

  /* keyframes byte for byte; propagated frames are not saved */
  int keys[SAMPLE_FRAMES];
  g_assert_cmpint (fa_mask_set_list_keyframes (masks, keys), ==, 3);
  g_assert_cmpint (keys[0], ==, 21);
  g_assert_cmpint (keys[1], ==, 23);
  g_assert_cmpint (keys[2], ==, 40);
  for (int k = 0; k < 3; k++)
    g_assert_cmpmem (fa_mask_set_peek_frame (masks, keys[k]), size, propagated->alpha + size * keys[k], size);
  g_assert_true (frame_is_blank (masks, 22));
  g_assert_true (fa_document_needs_propagation (reopened));

  /* propagating again gives the same masks */
  g_assert_true (fa_document_propagate (reopened, cpu, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  assert_snapshot (propagated, masks);

  /* the async open of a project gives the same document */
  Wait opened = { 0 };
  fa_document_open_async (path, NULL, NULL, NULL, NULL, on_ready, &opened);
  wait_for (&opened, NULL);
  g_autoptr (FaDocument) async_reopened = fa_document_open_finish (opened.result, &error);
  g_assert_no_error (error);
  g_clear_object (&opened.result);
  assert_range (async_reopened, first, count);
  g_assert_cmpint (fa_mask_set_list_keyframes (fa_document_get_masks (async_reopened), NULL), ==, 3);
  g_assert_cmpmem (fa_mask_set_peek_frame (fa_document_get_masks (async_reopened), 23), size,
                   propagated->alpha + size * 23, size);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);
  main_thread = g_thread_self ();
  cpu = fa_backend_new_cpu ();
  folder = fa_test_make_folder ("test-document-XXXXXX");

  g_test_add_func ("/document/open-sample", test_open_sample);
  g_test_add_func ("/document/open-async-progress", test_open_async_progress);
  g_test_add_func ("/document/open-unreadable", test_open_unreadable);
  g_test_add_func ("/document/open-portrait", test_open_portrait);
  g_test_add_func ("/document/in-memory", test_in_memory);
  g_test_add_func ("/document/stroke-is-its-polyline", test_stroke_is_its_polyline);
  g_test_add_func ("/document/undo-redo", test_undo_redo);
  g_test_add_func ("/document/modified", test_modified);
  g_test_add_func ("/document/save-failure", test_save_failure);
  g_test_add_func ("/document/clip-moved", test_clip_moved);
  g_test_add_func ("/document/range-rules", test_range_rules);
  g_test_add_func ("/document/view", test_view);
  g_test_add_func ("/document/propagate-no-keyframe", test_propagate_no_keyframe);
  g_test_add_func ("/document/propagate-cancel", test_propagate_cancel);
  g_test_add_func ("/document/propagate-idle-loop", test_propagate_idle_loop);
  g_test_add_func ("/document/propagate-range-only", test_propagate_range_only);
  g_test_add_func ("/document/save-and-reopen", test_save_and_reopen);
  status = g_test_run ();

  fa_project_set_save_failure_for_testing (-1);
  fa_test_remove_tree (folder);
  g_free (folder);
  fa_backend_unref (cpu);
  return status;
}
