/* test-viewer.c: the frame viewer under a real display: the CPU picture's
 * pixels for each look, the mapping between widget and frame under fit,
 * zoom and pan, the pointer tools painting the document's mask, the
 * widget's own rendering on whichever drawing path it gets (and on the
 * CPU path when FA_VIEWER_GL=0), and results: shown over their range,
 * compared with the source (source mode, split with a draggable divider),
 * replaced by a running job's live look.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "test-viewer"

#include "config.h"

#include <math.h>
#include <string.h>

#include <gtk/gtk.h>

#include "fa-document-edit.h"
#include "fa-media-util.h"
#include "fa-app-test-util.h"
#include "fa-viewer-private.h"

#define WAIT_SECONDS 10

/* The synthetic clip: 9 frames of 64×48 in a 640×400 window, so the fit
 * scale is 400 / 48 and the frame is letterboxed left and right. */
#define N_FRAMES 9
#define FRAME_WIDTH 64
#define FRAME_HEIGHT 48
#define WINDOW_WIDTH 640
#define WINDOW_HEIGHT 400

/* the main context runs until the condition holds, for WAIT_SECONDS at most */
#define wait_for(condition, data) fa_test_wait_for ((condition), (data), WAIT_SECONDS)

static gboolean
widget_is_ready (gpointer data)
{
  return gtk_widget_get_mapped (GTK_WIDGET (data))
         && gtk_widget_get_width (GTK_WIDGET (data)) == WINDOW_WIDTH
         && gtk_widget_get_height (GTK_WIDGET (data)) == WINDOW_HEIGHT;
}

/* Every frame a smooth ramp (neighbours differ by 2 at most, so a
 * smoothly scaled picture is within 1 of the pixel at a pixel's centre),
 * each frame its own blue. */
static guint8
frame_value (int frame,
             int x,
             int y,
             int channel)
{
  switch (channel)
    {
    case 0:
      return 40 + 2 * x;
    case 1:
      return 30 + 2 * y;
    default:
      return 20 + 20 * frame;
    }
}

static FaDocument *
new_document (void)
{
  g_autoptr (GError) error = NULL;
  FaWorkingClip *clip = fa_working_clip_new (N_FRAMES, FRAME_WIDTH, FRAME_HEIGHT, 16, 1, &error);

  g_assert_no_error (error);
  for (int f = 0; f < N_FRAMES; f++)
    {
      guint8 *rgb = fa_working_clip_frame (clip, f);

      for (int y = 0; y < FRAME_HEIGHT; y++)
        for (int x = 0; x < FRAME_WIDTH; x++)
          for (int c = 0; c < 3; c++)
            rgb[((gsize) y * FRAME_WIDTH + x) * 3 + c] = frame_value (f, x, y, c);
    }
  return fa_document_new_for_clip (clip);
}

static guint8
mask_at (FaDocument *document,
         int         frame,
         int         x,
         int         y)
{
  return fa_mask_set_peek_frame (fa_document_get_masks (document), frame)[y * FRAME_WIDTH + x];
}

static void
set_view (FaDocument *document,
          FaMaskLook  look,
          FaMaskTool  tool,
          double      radius,
          double      hardness)
{
  FaDocumentView view;

  fa_document_get_view (document, &view);
  view.look = look;
  view.tool = tool;
  view.brush_radius = radius;
  view.brush_hardness = hardness;
  view.tint_rgb = 0xE01B24;
  view.opacity = 0.5;
  fa_document_set_view (document, &view);
}

/* A viewer on @document alone in an undecorated 640×400 window, mapped. */
static FaViewer *
show_viewer (FaDocument *document,
             GtkWindow **window_out)
{
  GtkWindow *window = GTK_WINDOW (gtk_window_new ());
  FaViewer *viewer = FA_VIEWER (fa_viewer_new ());

  gtk_window_set_decorated (window, FALSE);
  gtk_window_set_default_size (window, WINDOW_WIDTH, WINDOW_HEIGHT);
  gtk_window_set_child (window, GTK_WIDGET (viewer));
  fa_viewer_set_document (viewer, document);
  gtk_window_present (window);
  g_assert_true (wait_for (widget_is_ready, viewer));
  *window_out = window;
  return viewer;
}

/* ---- the CPU picture ---- */

static void
test_render_tint (void)
{
  const guint8 rgb[] = {
    100, 50, 200,   100, 50, 200,   100, 50, 200,
    0, 0, 0,        255, 255, 255,  10, 20, 30,
  };
  const guint8 alpha[] = { 255, 102, 0, 255, 255, 51 };
  guint8 out[6 * 4];

  memset (out, 0x5a, sizeof out);
  fa_viewer_render_rgba (rgb, alpha, 3, 2, FA_MASK_LOOK_TINT, 0xE01B24, 0.5, out);

  /* k = 0.5: 100 + (224 − 100)/2, 50 + (27 − 50)/2 = 38.5 (up), 200 + (36 − 200)/2 */
  g_assert_cmpmem (out + 0, 4, ((guint8[]) { 162, 39, 118, 255 }), 4);
  /* k = 0.2: 124.8, 45.4, 167.2 */
  g_assert_cmpmem (out + 4, 4, ((guint8[]) { 125, 45, 167, 255 }), 4);
  /* no mask: the frame */
  g_assert_cmpmem (out + 8, 4, ((guint8[]) { 100, 50, 200, 255 }), 4);
  /* 112, 13.5, 18 */
  g_assert_cmpmem (out + 12, 4, ((guint8[]) { 112, 14, 18, 255 }), 4);
  /* 239.5, 141, 145.5 */
  g_assert_cmpmem (out + 16, 4, ((guint8[]) { 240, 141, 146, 255 }), 4);
  /* k = 0.1: 10 + 21.4, 20 + 0.7, 30 + 0.6 */
  g_assert_cmpmem (out + 20, 4, ((guint8[]) { 31, 21, 31, 255 }), 4);

  /* Full opacity over full alpha is the tint; zero opacity the frame. */
  fa_viewer_render_rgba (rgb, alpha, 3, 2, FA_MASK_LOOK_TINT, 0xE01B24, 1.0, out);
  g_assert_cmpmem (out + 0, 4, ((guint8[]) { 0xE0, 0x1B, 0x24, 255 }), 4);
  fa_viewer_render_rgba (rgb, alpha, 3, 2, FA_MASK_LOOK_TINT, 0xE01B24, 0.0, out);
  for (int i = 0; i < 6; i++)
    g_assert_cmpmem (out + i * 4, 3, rgb + i * 3, 3);

  /* Without a mask, the frame. */
  fa_viewer_render_rgba (rgb, NULL, 3, 2, FA_MASK_LOOK_TINT, 0xE01B24, 1.0, out);
  for (int i = 0; i < 6; i++)
    {
      g_assert_cmpmem (out + i * 4, 3, rgb + i * 3, 3);
      g_assert_cmpuint (out[i * 4 + 3], ==, 255);
    }
}

#define OW 10
#define OH 8

static void
test_render_outline (void)
{
  guint8 rgb[OW * OH * 3];
  guint8 alpha[OW * OH];
  guint8 out[OW * OH * 4];
  int lines = 0;

  for (int i = 0; i < OW * OH * 3; i++)
    rgb[i] = (guint8) (7 * i);

  /* A block [3, 7) × [2, 6), with soft values either side of 128: 128
   * counts as inside, 127 as outside. */
  memset (alpha, 0, sizeof alpha);
  for (int y = 2; y < 6; y++)
    for (int x = 3; x < 7; x++)
      alpha[y * OW + x] = (x == 3 && y == 3) ? 128 : 255;
  alpha[3 * OW + 2] = 127;

  fa_viewer_render_rgba (rgb, alpha, OW, OH, FA_MASK_LOOK_OUTLINE, 0x123456, 0.3, out);
  for (int y = 0; y < OH; y++)
    for (int x = 0; x < OW; x++)
      {
        gboolean in_block = x >= 3 && x < 7 && y >= 2 && y < 6;
        /* The block's own border pixels, and the pixels just outside it
         * that share a side with it. */
        gboolean on_line = in_block ? (x == 3 || x == 6 || y == 2 || y == 5)
                                    : ((y >= 2 && y < 6 && (x == 2 || x == 7))
                                       || (x >= 3 && x < 7 && (y == 1 || y == 6)));
        const guint8 *pixel = out + (y * OW + x) * 4;

        if (on_line)
          {
            g_assert_cmpmem (pixel, 3, ((guint8[]) { 0x12, 0x34, 0x56 }), 3);
            lines++;
          }
        else
          g_assert_cmpmem (pixel, 3, rgb + (y * OW + x) * 3, 3);
        g_assert_cmpuint (pixel[3], ==, 255);
      }
  /* 12 inside and 16 outside. */
  g_assert_cmpint (lines, ==, 28);

  /* A mask filling the frame has no edge, not even along the frame's border. */
  memset (alpha, 200, sizeof alpha);
  fa_viewer_render_rgba (rgb, alpha, OW, OH, FA_MASK_LOOK_OUTLINE, 0x123456, 0.3, out);
  for (int i = 0; i < OW * OH; i++)
    g_assert_cmpmem (out + i * 4, 3, rgb + i * 3, 3);
}

static void
test_render_hidden (void)
{
  guint8 rgb[OW * OH * 3];
  guint8 alpha[OW * OH];
  guint8 out[OW * OH * 4];

  for (int i = 0; i < OW * OH * 3; i++)
    rgb[i] = (guint8) (i * 13 + 5);
  for (int i = 0; i < OW * OH; i++)
    alpha[i] = (guint8) (i * 37);

  memset (out, 0, sizeof out);
  fa_viewer_render_rgba (rgb, alpha, OW, OH, FA_MASK_LOOK_HIDDEN, 0xFFFFFF, 1.0, out);
  for (int i = 0; i < OW * OH; i++)
    {
      g_assert_cmpmem (out + i * 4, 3, rgb + i * 3, 3);
      g_assert_cmpuint (out[i * 4 + 3], ==, 255);
    }
}

/* ---- coordinates ---- */

static void
assert_round_trip (FaViewer *viewer,
                   double    frame_x,
                   double    frame_y)
{
  double wx, wy, fx, fy;

  fa_viewer_frame_to_widget (viewer, frame_x, frame_y, &wx, &wy);
  fa_viewer_widget_to_frame (viewer, wx, wy, &fx, &fy);
  g_assert_cmpfloat_with_epsilon (fx, frame_x, 1e-9);
  g_assert_cmpfloat_with_epsilon (fy, frame_y, 1e-9);
}

static void
test_coordinates (void)
{
  g_autoptr (FaDocument) document = new_document ();
  double fit = (double) WINDOW_HEIGHT / FRAME_HEIGHT;
  double margin = (WINDOW_WIDTH - FRAME_WIDTH * fit) / 2;
  FaDocumentView view;
  GtkWindow *window;
  FaViewer *viewer = show_viewer (document, &window);
  double wx, wy, fx, fy;

  /* Fit: the frame's height fills the window, centred across. */
  fa_viewer_frame_to_widget (viewer, 0, 0, &wx, &wy);
  g_assert_cmpfloat_with_epsilon (wx, margin, 1e-9);
  g_assert_cmpfloat_with_epsilon (wy, 0, 1e-9);
  fa_viewer_frame_to_widget (viewer, FRAME_WIDTH, FRAME_HEIGHT, &wx, &wy);
  g_assert_cmpfloat_with_epsilon (wx, WINDOW_WIDTH - margin, 1e-9);
  g_assert_cmpfloat_with_epsilon (wy, WINDOW_HEIGHT, 1e-9);
  g_assert_true (fa_viewer_widget_to_frame (viewer, WINDOW_WIDTH / 2.0, WINDOW_HEIGHT / 2.0, &fx, &fy));
  g_assert_cmpfloat_with_epsilon (fx, FRAME_WIDTH / 2.0, 1e-9);
  g_assert_cmpfloat_with_epsilon (fy, FRAME_HEIGHT / 2.0, 1e-9);
  /* The letterbox is outside, and the coordinates still come back. */
  g_assert_false (fa_viewer_widget_to_frame (viewer, margin / 2, 100, &fx, &fy));
  g_assert_cmpfloat_with_epsilon (fx, -margin / 2 / fit, 1e-9);
  assert_round_trip (viewer, 3.25, 40.5);
  assert_round_trip (viewer, -7, 70);

  /* Zoomed: the view's centre is at the middle of the widget. */
  fa_document_get_view (document, &view);
  view.zoom = 3.0;
  view.center_x = 10;
  view.center_y = 20;
  fa_document_set_view (document, &view);
  fa_viewer_frame_to_widget (viewer, 10, 20, &wx, &wy);
  g_assert_cmpfloat_with_epsilon (wx, WINDOW_WIDTH / 2.0, 1e-9);
  g_assert_cmpfloat_with_epsilon (wy, WINDOW_HEIGHT / 2.0, 1e-9);
  fa_viewer_frame_to_widget (viewer, 11, 22, &wx, &wy);
  g_assert_cmpfloat_with_epsilon (wx, WINDOW_WIDTH / 2.0 + 3, 1e-9);
  g_assert_cmpfloat_with_epsilon (wy, WINDOW_HEIGHT / 2.0 + 6, 1e-9);
  assert_round_trip (viewer, 0.5, 47.5);
  assert_round_trip (viewer, 63.9, 0.1);

  /* Panned: everything moves with the hand. */
  fa_viewer_pan_by (viewer, 30, -12);
  fa_viewer_frame_to_widget (viewer, 11, 22, &wx, &wy);
  g_assert_cmpfloat_with_epsilon (wx, WINDOW_WIDTH / 2.0 + 3 + 30, 1e-9);
  g_assert_cmpfloat_with_epsilon (wy, WINDOW_HEIGHT / 2.0 + 6 - 12, 1e-9);
  assert_round_trip (viewer, 17.125, 5.5);

  /* Panning a fit view keeps the fit scale and moves the frame. */
  fa_viewer_zoom_fit (viewer);
  fa_viewer_pan_by (viewer, -20, 10);
  fa_document_get_view (document, &view);
  g_assert_cmpfloat_with_epsilon (view.zoom, fit, 1e-9);
  fa_viewer_frame_to_widget (viewer, 0, 0, &wx, &wy);
  g_assert_cmpfloat_with_epsilon (wx, margin - 20, 1e-9);
  g_assert_cmpfloat_with_epsilon (wy, 10, 1e-9);

  fa_test_destroy_window (window, WAIT_SECONDS);
}

static void
assert_zoom_keeps_point (FaViewer *viewer,
                         double    widget_x,
                         double    widget_y,
                         double    factor,
                         double    expected_zoom)
{
  FaDocumentView view;
  double before_x, before_y, after_x, after_y;

  fa_viewer_widget_to_frame (viewer, widget_x, widget_y, &before_x, &before_y);
  fa_viewer_zoom_at (viewer, widget_x, widget_y, factor);
  fa_document_get_view (fa_viewer_get_document (viewer), &view);
  g_assert_cmpfloat_with_epsilon (view.zoom, expected_zoom, 1e-9);
  fa_viewer_widget_to_frame (viewer, widget_x, widget_y, &after_x, &after_y);
  g_assert_cmpfloat_with_epsilon (after_x, before_x, 1e-9);
  g_assert_cmpfloat_with_epsilon (after_y, before_y, 1e-9);
}

static void
test_zoom (void)
{
  g_autoptr (FaDocument) document = new_document ();
  double fit = (double) WINDOW_HEIGHT / FRAME_HEIGHT;
  FaDocumentView view;
  GtkWindow *window;
  FaViewer *viewer = show_viewer (document, &window);
  double wx, wy;

  /* From fit, about a point off the centre; then about another point. */
  assert_zoom_keeps_point (viewer, 250, 130, 2.0, 2 * fit);
  assert_zoom_keeps_point (viewer, 400, 300, 1.5, 3 * fit);
  assert_zoom_keeps_point (viewer, 330, 190, 0.5, 1.5 * fit);

  /* The zoom and centre live in the document's view. */
  fa_document_get_view (document, &view);
  g_assert_cmpfloat (view.zoom, >, 0);
  fa_viewer_frame_to_widget (viewer, view.center_x, view.center_y, &wx, &wy);
  g_assert_cmpfloat_with_epsilon (wx, WINDOW_WIDTH / 2.0, 1e-9);
  g_assert_cmpfloat_with_epsilon (wy, WINDOW_HEIGHT / 2.0, 1e-9);

  /* Fit again: zoom 0, the frame as at the start. */
  fa_viewer_zoom_fit (viewer);
  fa_document_get_view (document, &view);
  g_assert_cmpfloat (view.zoom, ==, 0);
  fa_viewer_frame_to_widget (viewer, FRAME_WIDTH / 2.0, FRAME_HEIGHT / 2.0, &wx, &wy);
  g_assert_cmpfloat_with_epsilon (wx, WINDOW_WIDTH / 2.0, 1e-9);
  g_assert_cmpfloat_with_epsilon (wy, WINDOW_HEIGHT / 2.0, 1e-9);

  fa_test_destroy_window (window, WAIT_SECONDS);
}

/* ---- tools ---- */

/* Pointer events at frame coordinates, through the widget mapping. */
static void
pointer_at (FaViewer *viewer,
            int       event, /* 0 down, 1 motion, 2 up */
            double    frame_x,
            double    frame_y,
            gboolean  alternate)
{
  double wx, wy;

  fa_viewer_frame_to_widget (viewer, frame_x, frame_y, &wx, &wy);
  if (event == 0)
    fa_viewer_pointer_down (viewer, wx, wy, alternate);
  else if (event == 1)
    fa_viewer_pointer_motion (viewer, wx, wy);
  else
    fa_viewer_pointer_up (viewer, wx, wy);
}

static void
count_changes (FaDocument *document,
               int         first,
               int         last,
               int        *count)
{
  (*count)++;
}

static void
test_tools_brush (void)
{
  g_autoptr (FaDocument) document = new_document ();
  GtkWindow *window;
  FaViewer *viewer = show_viewer (document, &window);
  const FaMaskSet *masks;
  int changes = 0;

  fa_document_set_current_frame (document, 3);
  set_view (document, FA_MASK_LOOK_TINT, FA_MASK_TOOL_BRUSH, 4, 1.0);
  g_signal_connect (document, "masks-changed", G_CALLBACK (count_changes), &changes);

  pointer_at (viewer, 0, 10.5, 24.5, FALSE);
  pointer_at (viewer, 1, 20.5, 24.5, FALSE);
  /* The mask changes as the pointer moves, before the release. */
  g_assert_cmpint (changes, >=, 2);
  g_assert_cmpuint (mask_at (document, 3, 15, 24), ==, 255);
  g_assert_true (fa_document_stroke_is_active (document));
  pointer_at (viewer, 1, 40.5, 24.5, FALSE);
  pointer_at (viewer, 2, 50.5, 24.5, FALSE);
  g_assert_false (fa_document_stroke_is_active (document));

  masks = fa_document_get_masks (document);
  /* Along the path, at its ends, and nothing away from it. */
  for (int x = 10; x <= 50; x += 5)
    g_assert_cmpuint (mask_at (document, 3, x, 24), ==, 255);
  g_assert_cmpuint (mask_at (document, 3, 30, 40), ==, 0);
  g_assert_cmpuint (mask_at (document, 3, 30, 10), ==, 0);
  g_assert_cmpuint (mask_at (document, 3, 60, 24), ==, 0);
  g_assert_cmpuint (mask_at (document, 3, 2, 24), ==, 0);
  /* Only the current frame, which is now a keyframe. */
  g_assert_true (fa_mask_set_is_keyframe (masks, 3));
  g_assert_false (fa_mask_set_is_keyframe (masks, 2));
  g_assert_cmpuint (mask_at (document, 2, 30, 24), ==, 0);

  /* The whole stroke is one step. */
  g_assert_true (fa_document_get_can_undo (document));
  g_assert_true (fa_document_undo (document));
  g_assert_false (fa_document_get_can_undo (document));
  for (int x = 10; x <= 50; x += 5)
    g_assert_cmpuint (mask_at (document, 3, x, 24), ==, 0);
  g_assert_false (fa_mask_set_is_keyframe (fa_document_get_masks (document), 3));

  g_signal_handlers_disconnect_by_data (document, &changes);
  fa_test_destroy_window (window, WAIT_SECONDS);
}

static void
test_tools_eraser (void)
{
  g_autoptr (FaDocument) document = new_document ();
  GtkWindow *window;
  FaViewer *viewer = show_viewer (document, &window);

  fa_document_set_current_frame (document, 5);
  g_assert_true (fa_document_apply_box (document, 5, 0, 0, FRAME_WIDTH, FRAME_HEIGHT, FALSE));
  set_view (document, FA_MASK_LOOK_TINT, FA_MASK_TOOL_BRUSH, 3, 1.0);

  /* The brush tool with the alternate (Alt, secondary button) erases. */
  pointer_at (viewer, 0, 10.5, 10.5, TRUE);
  pointer_at (viewer, 1, 30.5, 10.5, FALSE);
  pointer_at (viewer, 2, 30.5, 10.5, FALSE);
  g_assert_cmpuint (mask_at (document, 5, 20, 10), ==, 0);
  g_assert_cmpuint (mask_at (document, 5, 10, 10), ==, 0);
  g_assert_cmpuint (mask_at (document, 5, 20, 30), ==, 255);

  /* So does the eraser tool. */
  set_view (document, FA_MASK_LOOK_TINT, FA_MASK_TOOL_ERASER, 3, 1.0);
  pointer_at (viewer, 0, 10.5, 35.5, FALSE);
  pointer_at (viewer, 2, 50.5, 35.5, FALSE);
  g_assert_cmpuint (mask_at (document, 5, 30, 35), ==, 0);
  g_assert_cmpuint (mask_at (document, 5, 30, 25), ==, 255);

  /* Each stroke was one step: two undos bring back the full box. */
  g_assert_true (fa_document_undo (document));
  g_assert_cmpuint (mask_at (document, 5, 30, 35), ==, 255);
  g_assert_cmpuint (mask_at (document, 5, 20, 10), ==, 0);
  g_assert_true (fa_document_undo (document));
  g_assert_cmpuint (mask_at (document, 5, 20, 10), ==, 255);

  fa_test_destroy_window (window, WAIT_SECONDS);
}

static void
test_tools_box (void)
{
  g_autoptr (FaDocument) document = new_document ();
  GtkWindow *window;
  FaViewer *viewer = show_viewer (document, &window);

  fa_document_set_current_frame (document, 1);
  set_view (document, FA_MASK_LOOK_TINT, FA_MASK_TOOL_BOX, 4, 1.0);

  /* Dragged from the bottom-right corner: nothing until the release. */
  pointer_at (viewer, 0, 30, 20, FALSE);
  pointer_at (viewer, 1, 15, 12, FALSE);
  g_assert_cmpuint (mask_at (document, 1, 20, 15), ==, 0);
  pointer_at (viewer, 1, 10, 8, FALSE);
  pointer_at (viewer, 2, 10, 8, FALSE);

  /* [10, 30) × [8, 20) */
  for (int y = 0; y < FRAME_HEIGHT; y++)
    for (int x = 0; x < FRAME_WIDTH; x++)
      g_assert_cmpuint (mask_at (document, 1, x, y), ==, (x >= 10 && x < 30 && y >= 8 && y < 20) ? 255 : 0);
  g_assert_true (fa_mask_set_is_keyframe (fa_document_get_masks (document), 1));

  /* With the alternate, a box erases. */
  pointer_at (viewer, 0, 20, 0, TRUE);
  pointer_at (viewer, 2, 40, 48, FALSE);
  g_assert_cmpuint (mask_at (document, 1, 15, 10), ==, 255);
  g_assert_cmpuint (mask_at (document, 1, 25, 10), ==, 0);

  g_assert_true (fa_document_undo (document));
  g_assert_cmpuint (mask_at (document, 1, 25, 10), ==, 255);

  fa_test_destroy_window (window, WAIT_SECONDS);
}

/* ---- drawing ---- */

typedef struct {
  guint32 *pixels; /* 0xAARRGGBB */
  int width, height;
} Picture;

static void
picture_clear (Picture *picture)
{
  g_clear_pointer (&picture->pixels, g_free);
}

/* The viewer as the window's renderer draws it. */
static void
render_viewer (FaViewer *viewer,
               Picture  *picture)
{
  GtkWidget *widget = GTK_WIDGET (viewer);
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);
  GtkSnapshot *snapshot = gtk_snapshot_new ();
  g_autoptr (GskRenderNode) node = NULL;
  g_autoptr (GdkTexture) texture = NULL;
  GskRenderer *renderer = gtk_native_get_renderer (gtk_widget_get_native (widget));

  /* Let pending redraws and GL renders happen as they would on screen. */
  for (int i = 0; i < 20; i++)
    g_main_context_iteration (NULL, FALSE);

  /* The widget's own snapshot, as the window takes it for a new frame
   * (gtk_widget_snapshot is private; a GtkWidgetPaintable would give the
   * last frame the window happened to draw, which may predate the
   * change under test). */
  GTK_WIDGET_GET_CLASS (widget)->snapshot (widget, snapshot);
  node = gtk_snapshot_free_to_node (snapshot);
  g_assert_nonnull (node);
  texture = gsk_renderer_render_texture (renderer, node, &GRAPHENE_RECT_INIT (0, 0, width, height));
  g_assert_cmpint (gdk_texture_get_width (texture), ==, width);
  g_assert_cmpint (gdk_texture_get_height (texture), ==, height);

  picture_clear (picture);
  picture->width = width;
  picture->height = height;
  picture->pixels = g_new (guint32, (gsize) width * height);
  gdk_texture_download (texture, (guchar *) picture->pixels, (gsize) width * 4);
}

static void
assert_pixel_near (const Picture *picture,
                   double         x,
                   double         y,
                   const int      expected[3],
                   int            tolerance)
{
  guint32 pixel = picture->pixels[(gsize) floor (y) * picture->width + (gsize) floor (x)];
  int got[3] = { (pixel >> 16) & 0xff, (pixel >> 8) & 0xff, pixel & 0xff };

  if (ABS (got[0] - expected[0]) > tolerance || ABS (got[1] - expected[1]) > tolerance
      || ABS (got[2] - expected[2]) > tolerance)
    g_error ("pixel at (%g, %g) is (%d, %d, %d), expected (%d, %d, %d) ± %d", x, y, got[0], got[1], got[2],
             expected[0], expected[1], expected[2], tolerance);
}

/* The widget pixel at frame point (x, y). */
static void
assert_frame_point (FaViewer      *viewer,
                    const Picture *picture,
                    double         x,
                    double         y,
                    const int      expected[3])
{
  double wx, wy;

  fa_viewer_frame_to_widget (viewer, x, y, &wx, &wy);
  assert_pixel_near (picture, wx, wy, expected, 3);
}

/* The widget pixel at the centre of frame pixel (x, y). */
static void
assert_frame_pixel (FaViewer      *viewer,
                    const Picture *picture,
                    int            x,
                    int            y,
                    const int      expected[3])
{
  assert_frame_point (viewer, picture, x + 0.5, y + 0.5, expected);
}

static void
expected_frame (int frame,
                int x,
                int y,
                int out[3])
{
  for (int c = 0; c < 3; c++)
    out[c] = frame_value (frame, x, y, c);
}

/* The tint at opacity 0.5 over full alpha. */
static void
expected_tint (int frame,
               int x,
               int y,
               int out[3])
{
  const int tint[3] = { 0xE0, 0x1B, 0x24 };

  for (int c = 0; c < 3; c++)
    out[c] = (int) floor (frame_value (frame, x, y, c) + (tint[c] - frame_value (frame, x, y, c)) * 0.5 + 0.5);
}

static void
check_drawing (const char *expected_renderer)
{
  g_autoptr (FaDocument) document = new_document ();
  GtkWindow *window;
  FaViewer *viewer = show_viewer (document, &window);
  const char *renderer = fa_viewer_get_renderer_name (viewer);
  Picture picture = { 0 };
  const int background[3] = { 28, 28, 28 };
  int expected[3];
  guint frame_uploads = 0;
  guint mask_uploads = 0;
  guint frames_before = 0;
  guint masks_before = 0;
  gboolean gl;

  g_assert_nonnull (renderer);
  if (expected_renderer != NULL)
    g_assert_cmpstr (renderer, ==, expected_renderer);
  else
    g_assert_true (g_str_equal (renderer, "gl") || g_str_equal (renderer, "paintable"));
  g_test_message ("the viewer draws with %s", renderer);
  gl = fa_viewer_get_gl_upload_counts (viewer, &frame_uploads, &mask_uploads);
  g_assert_true (gl == g_str_equal (renderer, "gl"));

  /* The left half of frame 4 masked, tinted. */
  fa_document_set_current_frame (document, 4);
  set_view (document, FA_MASK_LOOK_TINT, FA_MASK_TOOL_BRUSH, 4, 1.0);
  g_assert_true (fa_document_apply_box (document, 4, 0, 0, FRAME_WIDTH / 2, FRAME_HEIGHT, FALSE));
  render_viewer (viewer, &picture);
  expected_tint (4, 16, 24, expected);
  assert_frame_pixel (viewer, &picture, 16, 24, expected);
  expected_tint (4, 31, 5, expected);
  assert_frame_pixel (viewer, &picture, 31, 5, expected);
  expected_frame (4, 48, 24, expected);
  assert_frame_pixel (viewer, &picture, 48, 24, expected);
  expected_frame (4, 32, 40, expected);
  assert_frame_pixel (viewer, &picture, 32, 40, expected);
  /* The letterbox. */
  assert_pixel_near (&picture, 10, 200, background, 2);
  assert_pixel_near (&picture, WINDOW_WIDTH - 10, 20, background, 2);

  /* Another frame: its own pixels, no mask; a frame upload, no more. */
  if (gl)
    fa_viewer_get_gl_upload_counts (viewer, &frames_before, &masks_before);
  fa_document_set_current_frame (document, 6);
  render_viewer (viewer, &picture);
  expected_frame (6, 16, 24, expected);
  assert_frame_pixel (viewer, &picture, 16, 24, expected);
  if (gl)
    {
      fa_viewer_get_gl_upload_counts (viewer, &frame_uploads, &mask_uploads);
      g_assert_cmpuint (frame_uploads, ==, frames_before + 1);
      frames_before = frame_uploads;
      masks_before = mask_uploads;
    }

  /* Painting another frame changes nothing here; painting this one
   * shows at once and uploads only the mask. */
  g_assert_true (fa_document_apply_box (document, 2, 0, 0, FRAME_WIDTH, FRAME_HEIGHT, FALSE));
  render_viewer (viewer, &picture);
  expected_frame (6, 50, 30, expected);
  assert_frame_pixel (viewer, &picture, 50, 30, expected);
  if (gl)
    {
      fa_viewer_get_gl_upload_counts (viewer, &frame_uploads, &mask_uploads);
      g_assert_cmpuint (frame_uploads, ==, frames_before);
      g_assert_cmpuint (mask_uploads, ==, masks_before);
    }
  g_assert_true (fa_document_apply_box (document, 6, 40, 20, 60, 40, FALSE));
  render_viewer (viewer, &picture);
  expected_tint (6, 50, 30, expected);
  assert_frame_pixel (viewer, &picture, 50, 30, expected);
  expected_frame (6, 30, 30, expected);
  assert_frame_pixel (viewer, &picture, 30, 30, expected);
  if (gl)
    {
      fa_viewer_get_gl_upload_counts (viewer, &frame_uploads, &mask_uploads);
      g_assert_cmpuint (frame_uploads, ==, frames_before);
      g_assert_cmpuint (mask_uploads, ==, masks_before + 1);
    }

  /* Outline: the edge of [40, 60) × [20, 40), not its inside. The line
   * is a pixel each side of the edge, so the edge itself is sampled: a
   * smoothly scaled picture has the line's colour on both sides of it. */
  set_view (document, FA_MASK_LOOK_OUTLINE, FA_MASK_TOOL_BRUSH, 4, 1.0);
  render_viewer (viewer, &picture);
  assert_frame_point (viewer, &picture, 40.0, 30.5, (const int[]) { 0xE0, 0x1B, 0x24 });
  assert_frame_point (viewer, &picture, 60.0, 25.5, (const int[]) { 0xE0, 0x1B, 0x24 });
  assert_frame_point (viewer, &picture, 50.5, 40.0, (const int[]) { 0xE0, 0x1B, 0x24 });
  expected_frame (6, 50, 30, expected);
  assert_frame_pixel (viewer, &picture, 50, 30, expected);
  expected_frame (6, 30, 30, expected);
  assert_frame_pixel (viewer, &picture, 30, 30, expected);

  /* Hidden: the frame alone. */
  set_view (document, FA_MASK_LOOK_HIDDEN, FA_MASK_TOOL_BRUSH, 4, 1.0);
  render_viewer (viewer, &picture);
  expected_frame (6, 40, 30, expected);
  assert_frame_pixel (viewer, &picture, 40, 30, expected);
  expected_frame (6, 50, 30, expected);
  assert_frame_pixel (viewer, &picture, 50, 30, expected);

  /* Zoomed in about a point: the same frame pixels where the mapping
   * says, and sharp squares on the GL path. */
  set_view (document, FA_MASK_LOOK_TINT, FA_MASK_TOOL_BRUSH, 4, 1.0);
  fa_viewer_zoom_at (viewer, 400, 250, 3.0);
  render_viewer (viewer, &picture);
  expected_tint (6, 45, 30, expected);
  assert_frame_pixel (viewer, &picture, 45, 30, expected);
  expected_frame (6, 38, 30, expected);
  assert_frame_pixel (viewer, &picture, 38, 30, expected);

  picture_clear (&picture);
  fa_test_destroy_window (window, WAIT_SECONDS);
}

static void
test_drawing_active (void)
{
  check_drawing (NULL);
}

static void
test_drawing_paintable (void)
{
  g_setenv ("FA_VIEWER_GL", "0", TRUE);
  check_drawing ("paintable");
  g_unsetenv ("FA_VIEWER_GL");
}

/* ---- following the document ---- */

static void
test_document_switch (void)
{
  FaDocument *first = new_document ();
  FaDocument *second = new_document ();
  gpointer weak = first;
  GtkWindow *window;
  FaViewer *viewer = show_viewer (first, &window);
  Picture picture = { 0 };
  int expected[3];

  g_assert_true (fa_viewer_get_document (viewer) == first);
  g_object_add_weak_pointer (G_OBJECT (first), &weak);

  fa_document_set_current_frame (second, 7);
  fa_viewer_set_document (viewer, second);
  g_assert_true (fa_viewer_get_document (viewer) == second);
  /* The viewer let go of the first: nothing else holds it now. */
  g_object_unref (first);
  g_assert_null (weak);

  render_viewer (viewer, &picture);
  expected_frame (7, 20, 20, expected);
  assert_frame_pixel (viewer, &picture, 20, 20, expected);

  /* Without a document: the letterbox colour everywhere, and no mapping. */
  fa_viewer_set_document (viewer, NULL);
  g_assert_null (fa_viewer_get_document (viewer));
  g_assert_false (fa_viewer_widget_to_frame (viewer, 320, 200, NULL, NULL));
  fa_viewer_pointer_down (viewer, 320, 200, FALSE);
  fa_viewer_pointer_up (viewer, 320, 200);
  render_viewer (viewer, &picture);
  assert_pixel_near (&picture, 320, 200, (const int[]) { 28, 28, 28 }, 2);

  /* A destroyed viewer no longer listens to the document. */
  fa_viewer_set_document (viewer, second);
  fa_test_destroy_window (window, WAIT_SECONDS);
  fa_document_set_current_frame (second, 2);
  g_assert_true (fa_document_apply_box (second, 2, 0, 0, 10, 10, FALSE));
  fa_document_set_view (second, &(FaDocumentView) { .look = FA_MASK_LOOK_OUTLINE, .zoom = 2 });
  /* …and holds no reference to it. */
  weak = second;
  g_object_add_weak_pointer (G_OBJECT (second), &weak);
  g_object_unref (second);
  g_assert_null (weak);

  picture_clear (&picture);
}

/* ---- results and compare ---- */

/* A real clip (results need a project): 9 frames of one colour, opened at
 * the working size, 832×480. The result covers frames 2–6: 5 frames at
 * half size, a colour per quadrant, the top-left one's blue counting the
 * frame. The live look is 32×16, a colour per half. */
#define CLIP_FRAMES 9
#define WORK_WIDTH 832
#define WORK_HEIGHT 480
#define RESULT_FIRST 2
#define RESULT_FRAMES 5
#define RESULT_WIDTH (WORK_WIDTH / 2)
#define RESULT_HEIGHT (WORK_HEIGHT / 2)
#define LIVE_WIDTH 32
#define LIVE_HEIGHT 16

static char *clip_dir;
static char *clip_path;

static const char *
get_clip (void)
{
  if (clip_path == NULL)
    {
      g_autoptr (GError) error = NULL;

      clip_dir = g_dir_make_tmp ("fa-test-viewer-XXXXXX", &error);
      g_assert_no_error (error);
      clip_path = fa_test_make_media (clip_dir, "solid.mp4",
                                      "videotestsrc num-buffers=9 pattern=solid-color foreground-color=0xff4080c0 ! "
                                      "video/x-raw,width=64,height=48,framerate=16/1,format=I420 ! "
                                      "x264enc speed-preset=ultrafast ! h264parse ! mp4mux ! filesink location=@PATH@");
    }
  return clip_path;
}

static void
result_colour (int       index,
               double    frame_x,
               double    frame_y,
               int       out[3])
{
  static const int quadrants[4][3] = {
    { 230, 20, 20 }, { 20, 230, 20 },
    { 20, 20, 230 }, { 230, 230, 20 },
  };
  int q = (frame_x >= WORK_WIDTH / 2 ? 1 : 0) + (frame_y >= WORK_HEIGHT / 2 ? 2 : 0);

  memcpy (out, quadrants[q], sizeof quadrants[q]);
  if (q == 0)
    out[2] += 10 * index;
}

static void
live_colour (double frame_x,
             int    out[3])
{
  static const int halves[2][3] = { { 200, 40, 200 }, { 40, 200, 200 } };

  memcpy (out, halves[frame_x >= WORK_WIDTH / 2 ? 1 : 0], sizeof halves[0]);
}

static guint8 *
make_live (void)
{
  guint8 *rgb = g_malloc ((gsize) LIVE_WIDTH * LIVE_HEIGHT * 3);

  for (int y = 0; y < LIVE_HEIGHT; y++)
    for (int x = 0; x < LIVE_WIDTH; x++)
      {
        int colour[3];

        live_colour ((x + 0.5) * WORK_WIDTH / LIVE_WIDTH, colour);
        for (int c = 0; c < 3; c++)
          rgb[((gsize) y * LIVE_WIDTH + x) * 3 + c] = colour[c];
      }
  return rgb;
}

/* The clip opened, the range over the result's frames, the left half of
 * frame 3 masked (tinted at 0.5), prompts set. */
static FaDocument *
open_result_document (void)
{
  g_autoptr (GError) error = NULL;
  FaDocument *document = fa_document_open (get_clip (), NULL, NULL, NULL, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (fa_document_get_project (document));
  g_assert_cmpint (fa_document_get_n_frames (document), ==, CLIP_FRAMES);
  g_assert_cmpint (fa_document_get_width (document), ==, WORK_WIDTH);
  g_assert_cmpint (fa_document_get_height (document), ==, WORK_HEIGHT);
  g_assert_true (fa_document_set_range (document, RESULT_FIRST, RESULT_FRAMES, &error));
  g_assert_no_error (error);
  set_view (document, FA_MASK_LOOK_TINT, FA_MASK_TOOL_BRUSH, 10, 1.0);
  g_assert_true (fa_document_apply_box (document, 3, 0, 0, WORK_WIDTH / 2, WORK_HEIGHT, FALSE));
  fa_document_set_prompts (document, "a blue wall", "a red wall", NULL);
  return document;
}

/* What a finished preview records: its frames are the quadrant picture. */
static void
add_result (FaDocument *document)
{
  g_autoptr (GError) error = NULL;
  g_auto (FaJobSettings) settings = { 0 };
  g_autofree char *output = g_build_filename (clip_dir, "result.mp4", NULL);
  FaWorkingClip *clip;

  g_assert_true (fa_document_make_job_settings (document, TRUE, output, &settings, &error));
  g_assert_no_error (error);
  clip = fa_working_clip_new (RESULT_FRAMES, RESULT_WIDTH, RESULT_HEIGHT, 16, 1, &error);
  g_assert_no_error (error);
  for (int f = 0; f < RESULT_FRAMES; f++)
    for (int y = 0; y < RESULT_HEIGHT; y++)
      for (int x = 0; x < RESULT_WIDTH; x++)
        {
          int colour[3];

          result_colour (f, (x + 0.5) * 2, (y + 0.5) * 2, colour);
          for (int c = 0; c < 3; c++)
            fa_working_clip_frame (clip, f)[((gsize) y * RESULT_WIDTH + x) * 3 + c] = colour[c];
        }
  fa_document_add_result (document, TRUE, &settings, clip);
  g_assert_cmpint (fa_document_get_current_result (document), ==, 0);
}

/* The source at a frame point as the viewer shows it: the decoded pixel,
 * tinted where the mask is (full alpha, opacity 0.5). */
static void
source_colour (FaDocument *document,
               double      frame_x,
               double      frame_y,
               int         out[3])
{
  const int tint[3] = { 0xE0, 0x1B, 0x24 };
  int frame = fa_document_get_current_frame (document);
  int x = (int) frame_x;
  int y = (int) frame_y;
  const guint8 *rgb = fa_working_clip_frame (fa_document_get_clip (document), frame) + ((gsize) y * WORK_WIDTH + x) * 3;
  gboolean masked = fa_mask_set_peek_frame (fa_document_get_masks (document), frame)[y * WORK_WIDTH + x] == 255;

  for (int c = 0; c < 3; c++)
    out[c] = masked ? (int) floor (rgb[c] + (tint[c] - rgb[c]) * 0.5 + 0.5) : rgb[c];
}

/* The frame points the checks look at: the middle of each quadrant, and
 * either side of the middle (for splits). */
static const double probe_x[] = { 208, 624, 104, 312, 520, 728 };
static const double probe_y[] = { 120, 360 };

typedef enum {
  SHOW_SOURCE,
  SHOW_RESULT,
  SHOW_LIVE,
} Expect;

/* Every probe shows the source left of @start · width and @right from it,
 * and fa_viewer_shows_result_at agrees. */
static void
assert_sides (FaViewer      *viewer,
              const Picture *picture,
              double         start,
              Expect         right)
{
  FaDocument *document = fa_viewer_get_document (viewer);
  int index = fa_document_get_current_frame (document) - RESULT_FIRST;

  for (gsize i = 0; i < G_N_ELEMENTS (probe_x); i++)
    for (gsize j = 0; j < G_N_ELEMENTS (probe_y); j++)
      {
        double fx = probe_x[i];
        double fy = probe_y[j];
        gboolean result_side = right != SHOW_SOURCE && fx >= start * WORK_WIDTH;
        double wx, wy;
        int expected[3];

        if (!result_side)
          source_colour (document, fx, fy, expected);
        else if (right == SHOW_RESULT)
          result_colour (index, fx, fy, expected);
        else
          live_colour (fx, expected);
        fa_viewer_frame_to_widget (viewer, fx, fy, &wx, &wy);
        assert_pixel_near (picture, wx, wy, expected, 3);
        g_assert_true (fa_viewer_shows_result_at (viewer, wx, wy) == result_side);
      }
}

static void
count_mask_changes (FaDocument *document,
                    int         first,
                    int         last,
                    int        *count)
{
  (*count)++;
}

static void
check_results (const char *expected_renderer)
{
  g_autoptr (FaDocument) document = open_result_document ();
  g_autofree guint8 *live = make_live ();
  g_autofree guint8 *mask_before = NULL;
  GtkWindow *window;
  FaViewer *viewer = show_viewer (document, &window);
  Picture picture = { 0 };
  FaViewerPlacement placement;
  double divider_x;
  double middle_y;
  double position;
  int mask_changes = 0;
  guint uploads;

  if (expected_renderer != NULL)
    g_assert_cmpstr (fa_viewer_get_renderer_name (viewer), ==, expected_renderer);
  g_test_message ("the viewer draws with %s", fa_viewer_get_renderer_name (viewer));
  g_assert_cmpint (fa_viewer_get_show (viewer), ==, FA_VIEWER_SHOW_RESULT);
  g_assert_cmpfloat (fa_viewer_get_split_position (viewer), ==, 0.5);
  g_assert_false (fa_viewer_has_live_frame (viewer));

  /* No result yet: the source, its mask tinted. */
  fa_document_set_current_frame (document, 3);
  render_viewer (viewer, &picture);
  assert_sides (viewer, &picture, 0, SHOW_SOURCE);
  g_assert_cmpuint (fa_viewer_get_result_uploads (viewer), ==, 0);

  /* A result arrives: shown over the whole frame, scaled from half size,
   * with no mask over it. */
  add_result (document);
  render_viewer (viewer, &picture);
  assert_sides (viewer, &picture, 0, SHOW_RESULT);
  uploads = fa_viewer_get_result_uploads (viewer);
  g_assert_cmpuint (uploads, ==, 1);

  /* Drawn again unchanged, and in the source mode and back: no upload.
   * Another frame of the range is another upload. */
  render_viewer (viewer, &picture);
  fa_viewer_set_show (viewer, FA_VIEWER_SHOW_SOURCE);
  render_viewer (viewer, &picture);
  assert_sides (viewer, &picture, 0, SHOW_SOURCE);
  fa_viewer_toggle_source (viewer);
  g_assert_cmpint (fa_viewer_get_show (viewer), ==, FA_VIEWER_SHOW_RESULT);
  render_viewer (viewer, &picture);
  assert_sides (viewer, &picture, 0, SHOW_RESULT);
  g_assert_cmpuint (fa_viewer_get_result_uploads (viewer), ==, uploads);
  fa_document_set_current_frame (document, RESULT_FIRST + RESULT_FRAMES - 1);
  render_viewer (viewer, &picture);
  assert_sides (viewer, &picture, 0, SHOW_RESULT);
  g_assert_cmpuint (fa_viewer_get_result_uploads (viewer), ==, uploads + 1);

  /* Outside the range: the source. */
  fa_document_set_current_frame (document, RESULT_FIRST - 1);
  render_viewer (viewer, &picture);
  assert_sides (viewer, &picture, 0, SHOW_SOURCE);
  fa_document_set_current_frame (document, RESULT_FIRST + RESULT_FRAMES);
  render_viewer (viewer, &picture);
  assert_sides (viewer, &picture, 0, SHOW_SOURCE);

  /* Split: the source (masked left half tinted) left, the result right;
   * the B key's toggle (the widget action) goes to the source and back to
   * the split. */
  fa_document_set_current_frame (document, 3);
  fa_viewer_set_show (viewer, FA_VIEWER_SHOW_SPLIT);
  render_viewer (viewer, &picture);
  assert_sides (viewer, &picture, 0.5, SHOW_RESULT);
  fa_viewer_set_split_position (viewer, 0.3);
  render_viewer (viewer, &picture);
  assert_sides (viewer, &picture, 0.3, SHOW_RESULT);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (viewer), "viewer.toggle-source", NULL));
  g_assert_cmpint (fa_viewer_get_show (viewer), ==, FA_VIEWER_SHOW_SOURCE);
  render_viewer (viewer, &picture);
  assert_sides (viewer, &picture, 0, SHOW_SOURCE);
  fa_viewer_toggle_source (viewer);
  g_assert_cmpint (fa_viewer_get_show (viewer), ==, FA_VIEWER_SHOW_SPLIT);
  /* Out of range values are clamped. */
  fa_viewer_set_split_position (viewer, 7);
  g_assert_cmpfloat (fa_viewer_get_split_position (viewer), ==, 1.0);
  fa_viewer_set_split_position (viewer, 0.3);

  /* A press 5 px right of the divider drags it, keeping that distance,
   * and paints nothing. */
  g_assert_true (fa_viewer_get_placement (viewer, &placement));
  divider_x = placement.x + 0.3 * WORK_WIDTH * placement.scale;
  middle_y = placement.y + WORK_HEIGHT / 2.0 * placement.scale;
  mask_before = g_memdup2 (fa_mask_set_peek_frame (fa_document_get_masks (document), 3),
                           (gsize) WORK_WIDTH * WORK_HEIGHT);
  g_signal_connect (document, "masks-changed", G_CALLBACK (count_mask_changes), &mask_changes);
  fa_viewer_pointer_down (viewer, divider_x + 5, middle_y, FALSE);
  fa_viewer_pointer_motion (viewer, divider_x + 55, middle_y + 30);
  fa_viewer_pointer_up (viewer, divider_x + 105, middle_y);
  position = 0.3 + 100 / (WORK_WIDTH * placement.scale);
  g_assert_cmpfloat_with_epsilon (fa_viewer_get_split_position (viewer), position, 1e-9);
  g_assert_cmpint (mask_changes, ==, 0);
  g_assert_false (fa_document_stroke_is_active (document));
  g_assert_cmpmem (fa_mask_set_peek_frame (fa_document_get_masks (document), 3), WORK_WIDTH * WORK_HEIGHT,
                   mask_before, WORK_WIDTH * WORK_HEIGHT);
  render_viewer (viewer, &picture);
  assert_sides (viewer, &picture, position, SHOW_RESULT);

  /* Dragged past the frame's edge it stops there. */
  divider_x = placement.x + position * WORK_WIDTH * placement.scale;
  fa_viewer_pointer_down (viewer, divider_x - 3, middle_y, FALSE);
  fa_viewer_pointer_up (viewer, placement.x - 50, middle_y);
  g_assert_cmpfloat (fa_viewer_get_split_position (viewer), ==, 0.0);
  g_assert_cmpint (mask_changes, ==, 0);
  fa_viewer_set_split_position (viewer, 0.5);

  /* Away from the divider the brush paints, on either side. */
  pointer_at (viewer, 0, 600.5, 100.5, FALSE);
  pointer_at (viewer, 2, 620.5, 100.5, FALSE);
  g_assert_cmpint (mask_changes, >, 0);
  g_assert_cmpuint (fa_mask_set_peek_frame (fa_document_get_masks (document), 3)[100 * WORK_WIDTH + 610], ==, 255);
  g_assert_true (fa_document_undo (document));
  g_signal_handlers_disconnect_by_data (document, &mask_changes);
  fa_document_set_current_frame (document, 3);

  /* The live look: over the whole frame, in or out of the result's range,
   * in place of the result; cleared, the result and source come back. */
  fa_viewer_set_show (viewer, FA_VIEWER_SHOW_RESULT);
  fa_viewer_set_live_frame (viewer, live, LIVE_WIDTH, LIVE_HEIGHT);
  memset (live, 0, (gsize) LIVE_WIDTH * LIVE_HEIGHT * 3);
  g_assert_true (fa_viewer_has_live_frame (viewer));
  render_viewer (viewer, &picture);
  assert_sides (viewer, &picture, 0, SHOW_LIVE);
  fa_document_set_current_frame (document, 0);
  render_viewer (viewer, &picture);
  assert_sides (viewer, &picture, 0, SHOW_LIVE);
  fa_viewer_set_show (viewer, FA_VIEWER_SHOW_SPLIT);
  render_viewer (viewer, &picture);
  assert_sides (viewer, &picture, 0.5, SHOW_LIVE);
  fa_viewer_set_show (viewer, FA_VIEWER_SHOW_RESULT);

  uploads = fa_viewer_get_result_uploads (viewer);
  fa_viewer_set_live_frame (viewer, NULL, 0, 0);
  g_assert_false (fa_viewer_has_live_frame (viewer));
  render_viewer (viewer, &picture);
  assert_sides (viewer, &picture, 0, SHOW_SOURCE);
  fa_document_set_current_frame (document, 3);
  render_viewer (viewer, &picture);
  assert_sides (viewer, &picture, 0, SHOW_RESULT);
  g_assert_cmpuint (fa_viewer_get_result_uploads (viewer), ==, uploads + 1);

  picture_clear (&picture);
  fa_test_destroy_window (window, WAIT_SECONDS);
}

static void
test_results_active (void)
{
  check_results (NULL);
}

static void
test_results_paintable (void)
{
  g_setenv ("FA_VIEWER_GL", "0", TRUE);
  check_results ("paintable");
  g_unsetenv ("FA_VIEWER_GL");
}

int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);

  if (!gtk_init_check ())
    {
      g_print ("1..0 # SKIP no display to open\n");
      return 0;
    }

  g_test_add_func ("/viewer/render/tint", test_render_tint);
  g_test_add_func ("/viewer/render/outline", test_render_outline);
  g_test_add_func ("/viewer/render/hidden", test_render_hidden);
  g_test_add_func ("/viewer/coordinates", test_coordinates);
  g_test_add_func ("/viewer/zoom", test_zoom);
  g_test_add_func ("/viewer/tools/brush", test_tools_brush);
  g_test_add_func ("/viewer/tools/eraser", test_tools_eraser);
  g_test_add_func ("/viewer/tools/box", test_tools_box);
  g_test_add_func ("/viewer/drawing/active", test_drawing_active);
  g_test_add_func ("/viewer/drawing/paintable", test_drawing_paintable);
  g_test_add_func ("/viewer/document/switch", test_document_switch);
  g_test_add_func ("/viewer/results/active", test_results_active);
  g_test_add_func ("/viewer/results/paintable", test_results_paintable);

  status = g_test_run ();
  if (clip_dir != NULL)
    {
      g_autofree char *output = g_build_filename (clip_dir, "result.mp4", NULL);

      g_unlink (clip_path);
      g_unlink (output);
      g_rmdir (clip_dir);
      g_clear_pointer (&clip_path, g_free);
      g_clear_pointer (&clip_dir, g_free);
    }
  return status;
}
