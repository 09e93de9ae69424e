/* test-timeline.c: the timeline widget under a real display: its frame
 * axis, clicks and drags through the same calls its gestures make (jump,
 * scrub, moving the range's edges), the progress band, and what it draws
 * (playhead, thumbnails of the right frames, dimming outside the range,
 * mask bars and keyframe markers, light and dark), read back from a
 * rendered texture.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "test-timeline"

#include "config.h"

#include <math.h>
#include <string.h>

#include <adwaita.h>

#include "fa-app-test-util.h"
#include "fa-timeline-private.h"

#define WAIT_SECONDS 10
#define WINDOW_WIDTH 800
#define N_FRAMES 41
#define FRAME_WIDTH 64
#define FRAME_HEIGHT 48

/* the main context runs until the condition holds, for WAIT_SECONDS at most */
#define wait_for(condition, data) fa_test_wait_for ((condition), (data), WAIT_SECONDS)

static gboolean
widget_is_ready (gpointer data)
{
  return gtk_widget_get_mapped (GTK_WIDGET (data)) && gtk_widget_get_width (GTK_WIDGET (data)) > 0;
}

/* Frame @i's solid colour; @variant gives a second, different set. */
static void
frame_color (int     i,
             int     variant,
             guint8  rgb[3])
{
  if (variant == 0)
    {
      rgb[0] = (guint8) (20 + i * 5);
      rgb[1] = (guint8) (230 - i * 5);
      rgb[2] = (guint8) (40 + (i * 53) % 180);
    }
  else
    {
      rgb[0] = (guint8) (240 - i * 4);
      rgb[1] = (guint8) (30 + (i * 71) % 190);
      rgb[2] = (guint8) (10 + i * 5);
    }
}

static FaDocument *
new_document (int n_frames,
              int variant)
{
  g_autoptr (GError) error = NULL;
  FaWorkingClip *clip = fa_working_clip_new (n_frames, FRAME_WIDTH, FRAME_HEIGHT, 16, 1, &error);

  g_assert_no_error (error);
  for (int i = 0; i < n_frames; i++)
    {
      guint8 *p = fa_working_clip_frame (clip, i);
      guint8 rgb[3];

      frame_color (i, variant, rgb);
      for (int j = 0; j < FRAME_WIDTH * FRAME_HEIGHT; j++)
        memcpy (p + j * 3, rgb, 3);
    }
  return fa_document_new_for_clip (clip);
}

typedef struct {
  GtkWindow  *window;
  FaTimeline *timeline;
  FaDocument *document;
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  fixture->window = GTK_WINDOW (gtk_window_new ());
  gtk_window_set_default_size (fixture->window, WINDOW_WIDTH, FA_TIMELINE_HEIGHT);
  fixture->timeline = FA_TIMELINE (fa_timeline_new ());
  gtk_window_set_child (fixture->window, GTK_WIDGET (fixture->timeline));
  fixture->document = new_document (N_FRAMES, 0);
  fa_timeline_set_document (fixture->timeline, fixture->document);
  gtk_window_present (fixture->window);
  g_assert_true (wait_for (widget_is_ready, fixture->timeline));
  /* Every frame needs a slot wide enough to aim at. */
  g_assert_cmpint (gtk_widget_get_width (GTK_WIDGET (fixture->timeline)), >=, 400);
  g_assert_cmpint (gtk_widget_get_height (GTK_WIDGET (fixture->timeline)), >=, FA_TIMELINE_HEIGHT);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  gpointer weak = fixture->timeline;

  g_object_add_weak_pointer (G_OBJECT (fixture->timeline), &weak);
  gtk_window_destroy (fixture->window);
  g_assert_true (wait_for (fa_test_pointer_is_cleared, &weak));
  g_clear_object (&fixture->document);
}

/* ---- rendering ---- */

typedef struct {
  int width, height;
  gsize stride;
  guint8 *data; /* GDK_MEMORY_DEFAULT: B, G, R, A premultiplied */
} Image;

static void
image_free (Image *image)
{
  g_free (image->data);
  g_free (image);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Image, image_free)

/* The widget as it would be drawn now, through the window's own renderer.
 * (GTK 4.8 has no public gtk_widget_snapshot, and a GtkWidgetPaintable
 * only has contents after the next frame; the class's snapshot is what
 * both would call.) */
static Image *
render (FaTimeline *timeline)
{
  GtkWidget *widget = GTK_WIDGET (timeline);
  Image *image = g_new0 (Image, 1);
  GtkSnapshot *snapshot = gtk_snapshot_new ();
  g_autoptr (GskRenderNode) node = NULL;
  g_autoptr (GdkTexture) texture = NULL;
  GskRenderer *renderer = gtk_native_get_renderer (gtk_widget_get_native (widget));

  image->width = gtk_widget_get_width (widget);
  image->height = gtk_widget_get_height (widget);
  GTK_WIDGET_GET_CLASS (widget)->snapshot (widget, snapshot);
  node = gtk_snapshot_free_to_node (snapshot);
  g_assert_nonnull (node);
  g_assert_nonnull (renderer);
  texture = gsk_renderer_render_texture (renderer, node,
                                         &GRAPHENE_RECT_INIT (0, 0, image->width, image->height));
  g_assert_cmpint (gdk_texture_get_width (texture), ==, image->width);

  image->stride = (gsize) image->width * 4;
  image->data = g_malloc (image->stride * image->height);
  gdk_texture_download (texture, image->data, image->stride);
  return image;
}

/* RGBA, un-premultiplied. */
static void
pixel (const Image *image,
       double       x,
       double       y,
       guint8       rgba[4])
{
  int ix = (int) floor (x), iy = (int) floor (y);
  const guint8 *p;

  g_assert_cmpint (ix, >=, 0);
  g_assert_cmpint (ix, <, image->width);
  g_assert_cmpint (iy, >=, 0);
  g_assert_cmpint (iy, <, image->height);
  p = image->data + iy * image->stride + ix * 4;
  rgba[3] = p[3];
  for (int c = 0; c < 3; c++)
    rgba[c] = p[3] == 0 ? 0 : (guint8) MIN (255, (p[2 - c] * 255 + p[3] / 2) / p[3]);
}

static gboolean
pixel_near (const Image  *image,
            double        x,
            double        y,
            const guint8  rgb[3],
            int           tolerance)
{
  guint8 rgba[4];

  pixel (image, x, y, rgba);
  if (rgba[3] != 255)
    return FALSE;
  for (int c = 0; c < 3; c++)
    if (ABS ((int) rgba[c] - (int) rgb[c]) > tolerance)
      return FALSE;
  return TRUE;
}

static gboolean
pixels_equal (const Image *a,
              const Image *b,
              double       x,
              double       y)
{
  guint8 pa[4], pb[4];

  pixel (a, x, y, pa);
  pixel (b, x, y, pb);
  return memcmp (pa, pb, 4) == 0;
}

static double
frame_width (FaTimeline *timeline)
{
  return fa_timeline_x_for_frame (timeline, 1) - fa_timeline_x_for_frame (timeline, 0);
}

/* x of the boundary between frames @b − 1 and @b. */
static double
boundary_x (FaTimeline *timeline,
            int         b)
{
  return fa_timeline_x_for_frame (timeline, b) - frame_width (timeline) / 2;
}

static void
assert_range (FaDocument *document,
              int         first,
              int         count)
{
  int f, c;

  fa_document_get_range (document, &f, &c);
  g_assert_cmpint (f, ==, first);
  g_assert_cmpint (c, ==, count);
}

/* ---- cases ---- */

static void
test_geometry (Fixture       *fixture,
               gconstpointer  data)
{
  FaTimeline *timeline = fixture->timeline;
  int width = gtk_widget_get_width (GTK_WIDGET (timeline));
  double fw = frame_width (timeline);
  double previous = -G_MAXDOUBLE;
  g_autoptr (FaTimeline) empty = g_object_ref_sink (FA_TIMELINE (fa_timeline_new ()));

  g_assert_true (fa_timeline_get_document (timeline) == fixture->document);
  /* Spread over the width, with room for the edge handles. */
  g_assert_cmpfloat (fw * N_FRAMES, >, width * 0.9);
  g_assert_cmpfloat (fa_timeline_x_for_frame (timeline, 0) - fw / 2, >=, FA_TIMELINE_EDGE_GRAB);
  g_assert_cmpfloat (fa_timeline_x_for_frame (timeline, N_FRAMES - 1) + fw / 2, <=,
                     width - FA_TIMELINE_EDGE_GRAB);

  for (int f = 0; f < N_FRAMES; f++)
    {
      double x = fa_timeline_x_for_frame (timeline, f);

      g_assert_cmpfloat (x, >, previous);
      g_assert_cmpfloat (x, >, 0);
      g_assert_cmpfloat (x, <, width);
      g_assert_cmpint (fa_timeline_frame_at (timeline, x), ==, f);
      /* The whole slot belongs to the frame. */
      g_assert_cmpint (fa_timeline_frame_at (timeline, x - 0.45 * fw), ==, f);
      g_assert_cmpint (fa_timeline_frame_at (timeline, x + 0.45 * fw), ==, f);
      previous = x;
    }

  g_assert_cmpint (fa_timeline_frame_at (timeline, -100), ==, 0);
  g_assert_cmpint (fa_timeline_frame_at (timeline, 0), ==, 0);
  g_assert_cmpint (fa_timeline_frame_at (timeline, width - 1), ==, N_FRAMES - 1);
  g_assert_cmpint (fa_timeline_frame_at (timeline, width + 100), ==, N_FRAMES - 1);

  /* Without a document there are no frames, and presses do nothing. */
  g_assert_null (fa_timeline_get_document (empty));
  g_assert_cmpint (fa_timeline_frame_at (empty, 10), ==, -1);
  fa_timeline_pointer_down (empty, 10, 10);
  fa_timeline_pointer_motion (empty, 20, 10);
  fa_timeline_pointer_up (empty, 20, 10);
}

static void
test_click_and_scrub (Fixture       *fixture,
                      gconstpointer  data)
{
  FaTimeline *timeline = fixture->timeline;
  FaDocument *document = fixture->document;
  double y = FA_TIMELINE_THUMBS_Y + FA_TIMELINE_THUMBS_H / 2;
  double fw = frame_width (timeline);
  int width = gtk_widget_get_width (GTK_WIDGET (timeline));

  g_assert_cmpint (fa_document_get_current_frame (document), ==, 0);
  assert_range (document, 0, N_FRAMES);

  fa_timeline_pointer_down (timeline, fa_timeline_x_for_frame (timeline, 10) + 0.3 * fw, y);
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 10);
  fa_timeline_pointer_motion (timeline, fa_timeline_x_for_frame (timeline, 20) - 0.3 * fw, y);
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 20);
  fa_timeline_pointer_motion (timeline, fa_timeline_x_for_frame (timeline, 13), y + 200);
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 13);
  /* Past the ends it holds at the first and last frame. */
  fa_timeline_pointer_motion (timeline, width + 50, y);
  g_assert_cmpint (fa_document_get_current_frame (document), ==, N_FRAMES - 1);
  fa_timeline_pointer_motion (timeline, -50, y);
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 0);
  fa_timeline_pointer_up (timeline, fa_timeline_x_for_frame (timeline, 5), y);
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 5);

  /* Let go, the pointer moves nothing. */
  fa_timeline_pointer_motion (timeline, fa_timeline_x_for_frame (timeline, 30), y);
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 5);

  /* Scrubbing never touches the range. */
  assert_range (document, 0, N_FRAMES);
}

static void
test_range_edges (Fixture       *fixture,
                  gconstpointer  data)
{
  FaTimeline *timeline = fixture->timeline;
  FaDocument *document = fixture->document;
  double y = FA_TIMELINE_MASKS_Y + 4;
  double fw = frame_width (timeline);
  int first, count;

  g_assert_cmpfloat (fw, >, 2 * FA_TIMELINE_EDGE_GRAB + 4);
  fa_document_set_current_frame (document, 30);
  assert_range (document, 0, N_FRAMES);

  /* A press just inside the right edge grabs it and moves nothing yet. */
  fa_timeline_pointer_down (timeline, boundary_x (timeline, N_FRAMES) - 3, y);
  assert_range (document, 0, N_FRAMES);
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 30);

  /* Dragged to the gap after frame 18: 19 frames brought down to 1 + 4k
   * keeps the out point at 18 and moves the in point inwards. */
  fa_timeline_pointer_motion (timeline, boundary_x (timeline, 19) + 0.2 * fw, y);
  fa_document_get_range (document, &first, &count);
  g_assert_cmpint (count, ==, 17);
  g_assert_cmpint (first + count - 1, ==, 18);
  fa_timeline_pointer_up (timeline, boundary_x (timeline, 19) - 0.2 * fw, y);
  assert_range (document, 2, 17);
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 30);

  /* The left edge, grabbed from just outside it, to frame 6: 13 frames. */
  fa_timeline_pointer_down (timeline, boundary_x (timeline, 2) - 4, y);
  assert_range (document, 2, 17);
  fa_timeline_pointer_motion (timeline, boundary_x (timeline, 6) - 0.2 * fw, y);
  assert_range (document, 6, 13);
  fa_timeline_pointer_up (timeline, boundary_x (timeline, 6) + 0.1 * fw, y);
  assert_range (document, 6, 13);
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 30);

  /* Farther than the grab distance, a press is a click on a frame. */
  fa_timeline_pointer_down (timeline, boundary_x (timeline, 6) + FA_TIMELINE_EDGE_GRAB + 3, y);
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 6);
  fa_timeline_pointer_motion (timeline, fa_timeline_x_for_frame (timeline, 12), y);
  fa_timeline_pointer_up (timeline, fa_timeline_x_for_frame (timeline, 12), y);
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 12);
  assert_range (document, 6, 13);

  /* Range changes made elsewhere move the handles with them. */
  g_assert_true (fa_document_set_range (document, 20, 9, NULL));
  fa_timeline_pointer_down (timeline, boundary_x (timeline, 29) + 2, y);
  fa_timeline_pointer_motion (timeline, boundary_x (timeline, 33), y);
  fa_timeline_pointer_up (timeline, boundary_x (timeline, 33), y);
  assert_range (document, 20, 13);
  g_assert_cmpint (fa_document_get_current_frame (document), ==, 12);
}

static void
test_progress (Fixture       *fixture,
               gconstpointer  data)
{
  FaTimeline *timeline = fixture->timeline;
  double y = FA_TIMELINE_PROGRESS_Y + FA_TIMELINE_PROGRESS_H / 2;
  double x_filled = fa_timeline_x_for_frame (timeline, 3);
  double x_empty = fa_timeline_x_for_frame (timeline, 37);
  g_autoptr (Image) hidden = NULL;
  g_autoptr (Image) half = NULL;
  g_autoptr (Image) part = NULL;
  g_autoptr (Image) hidden_again = NULL;

  g_assert_false (fa_timeline_get_progress_visible (timeline));
  hidden = render (timeline);

  fa_timeline_set_progress (timeline, 0.5, "Propagating masks", 0, N_FRAMES - 1);
  g_assert_true (fa_timeline_get_progress_visible (timeline));
  half = render (timeline);
  /* Filled up to the fraction, the track beyond it, nothing when hidden. */
  g_assert_false (pixels_equal (hidden, half, x_filled, y));
  g_assert_false (pixels_equal (hidden, half, x_empty, y));
  {
    guint8 filled[4], empty[4];

    pixel (half, x_filled, y, filled);
    pixel (half, x_empty, y, empty);
    g_assert_true (memcmp (filled, empty, 4) != 0);
  }
  /* The band only covers its frames. */
  fa_timeline_set_progress (timeline, 0.5, NULL, 10, 20);
  part = render (timeline);
  g_assert_true (pixels_equal (hidden, part, x_filled, y));
  g_assert_true (pixels_equal (hidden, part, x_empty, y));
  g_assert_false (pixels_equal (hidden, part, fa_timeline_x_for_frame (timeline, 11), y));

  fa_timeline_set_progress (timeline, -1, NULL, 0, 0);
  g_assert_false (fa_timeline_get_progress_visible (timeline));
  hidden_again = render (timeline);
  for (int f = 0; f < N_FRAMES; f++)
    g_assert_true (pixels_equal (hidden, hidden_again, fa_timeline_x_for_frame (timeline, f), y));
}

static void
test_render_playhead (Fixture       *fixture,
                      gconstpointer  data)
{
  FaTimeline *timeline = fixture->timeline;
  FaDocument *document = fixture->document;
  double x10 = fa_timeline_x_for_frame (timeline, 10);
  double x20 = fa_timeline_x_for_frame (timeline, 20);
  g_autoptr (Image) at10 = NULL;
  g_autoptr (Image) at30 = NULL;
  int differing = 0;

  fa_document_set_current_frame (document, 10);
  at10 = render (timeline);
  fa_document_set_current_frame (document, 30);
  at30 = render (timeline);

  for (int y = FA_TIMELINE_RULER_Y; y < FA_TIMELINE_MASKS_Y + FA_TIMELINE_MASKS_H; y++)
    {
      differing += !pixels_equal (at10, at30, x10, y);
      /* A frame the playhead is not on looks the same either way. */
      g_assert_true (pixels_equal (at10, at30, x20, y));
    }
  /* The line crosses the ruler, thumbnails and mask strip. */
  g_assert_cmpint (differing, >=, FA_TIMELINE_THUMBS_H + FA_TIMELINE_MASKS_H);
}

/* Checks every sampled x of the thumbnail strip shows the colour of the
 * frame the timeline says is there, and that those frames run in order
 * over the clip. Returns how many distinct frames were seen. */
static int
assert_thumbnails (FaTimeline  *timeline,
                   const Image *image,
                   int          variant)
{
  int width = gtk_widget_get_width (GTK_WIDGET (timeline));
  double y = FA_TIMELINE_THUMBS_Y + FA_TIMELINE_THUMBS_H - 12;
  double playhead = fa_timeline_x_for_frame (timeline, 0);
  int previous = -1, distinct = 0;

  for (double x = FA_TIMELINE_MARGIN + 8; x < width - FA_TIMELINE_MARGIN - 8; x += 4)
    {
      int shown = fa_timeline_get_thumbnail_frame (timeline, x);
      int left = fa_timeline_get_thumbnail_frame (timeline, x - 3);
      int right = fa_timeline_get_thumbnail_frame (timeline, x + 3);
      guint8 rgb[3];

      g_assert_cmpint (shown, >=, previous);
      g_assert_cmpint (shown, >=, 0);
      g_assert_cmpint (shown, <, N_FRAMES);
      /* A frame under the same thumbnail: no farther than one thumbnail's
       * width at the clip's aspect ratio. */
      g_assert_cmpfloat (fabs (fa_timeline_x_for_frame (timeline, shown) - x), <=,
                         (double) FA_TIMELINE_THUMBS_H * FRAME_WIDTH / FRAME_HEIGHT);
      distinct += shown != previous;
      previous = shown;

      /* Away from the playhead and the slots' borders. */
      if (fabs (x - playhead) < 14 || left != shown || right != shown)
        continue;
      frame_color (shown, variant, rgb);
      if (!pixel_near (image, x, y, rgb, 3))
        {
          guint8 got[4];

          pixel (image, x, y, got);
          g_error ("thumbnail at x %.0f: frame %d is %d,%d,%d; drawn %d,%d,%d,%d", x, shown,
                   rgb[0], rgb[1], rgb[2], got[0], got[1], got[2], got[3]);
        }
    }
  g_assert_cmpint (previous, >=, N_FRAMES * 3 / 4);
  return distinct;
}

static void
test_render_thumbnails (Fixture       *fixture,
                        gconstpointer  data)
{
  FaTimeline *timeline = fixture->timeline;
  g_autoptr (Image) image = NULL;
  g_autoptr (Image) other = NULL;
  g_autoptr (Image) ranged = NULL;
  g_autoptr (FaDocument) second = new_document (N_FRAMES, 1);
  double y = FA_TIMELINE_THUMBS_Y + FA_TIMELINE_THUMBS_H - 12;
  guint8 rgb[3];
  int frame;

  g_assert_cmpint (fa_timeline_get_thumbnail_frame (timeline, 1), ==, -1);
  image = render (timeline);
  g_assert_cmpint (assert_thumbnails (timeline, image, 0), >=, 4);

  /* Another document's frames replace the cached ones. */
  fa_timeline_set_document (timeline, second);
  other = render (timeline);
  g_assert_cmpint (assert_thumbnails (timeline, other, 1), >=, 4);

  /* Outside the range the frames are dimmed, inside they are not. */
  g_assert_true (fa_document_set_range (second, 4, 9, NULL));
  fa_document_set_current_frame (second, 8);
  ranged = render (timeline);
  for (double x = boundary_x (timeline, 28); x < boundary_x (timeline, 40); x += 5)
    {
      frame = fa_timeline_get_thumbnail_frame (timeline, x);
      if (frame != fa_timeline_get_thumbnail_frame (timeline, x - 3)
          || frame != fa_timeline_get_thumbnail_frame (timeline, x + 3))
        continue;
      frame_color (frame, 1, rgb);
      g_assert_true (pixel_near (other, x, y, rgb, 3));
      g_assert_false (pixel_near (ranged, x, y, rgb, 12));
    }
  /* The range was never dimmed; only its frame's border is new there. */
  for (double x = boundary_x (timeline, 4) + 6; x < boundary_x (timeline, 13) - 6; x += 3)
    if (fabs (x - fa_timeline_x_for_frame (timeline, 8)) > 14)
      g_assert_true (pixels_equal (other, ranged, x, y));
}

static void
confidence_color_u8 (double confidence,
                     gboolean dark,
                     guint8 rgb[3])
{
  GdkRGBA color;

  fa_timeline_confidence_color (confidence, dark, &color);
  rgb[0] = (guint8) lround (color.red * 255);
  rgb[1] = (guint8) lround (color.green * 255);
  rgb[2] = (guint8) lround (color.blue * 255);
}

static void
test_confidence_colors (void)
{
  for (int dark = 0; dark < 2; dark++)
    {
      GdkRGBA low, mid, high, previous = { 0 };

      fa_timeline_confidence_color (0.0, dark, &low);
      fa_timeline_confidence_color (0.5, dark, &mid);
      fa_timeline_confidence_color (1.0, dark, &high);
      /* Red, amber, green. */
      g_assert_cmpfloat (low.red, >, 0.7);
      g_assert_cmpfloat (low.green, <, 0.3);
      g_assert_cmpfloat (mid.red, >, 0.7);
      g_assert_cmpfloat (mid.green, >, 0.5);
      g_assert_cmpfloat (mid.blue, <, 0.3);
      g_assert_cmpfloat (high.green, >, high.red + 0.3);
      g_assert_cmpfloat (high.green, >, high.blue + 0.2);
      /* Greener all the way up; out-of-range values clamp. */
      for (int i = 0; i <= 20; i++)
        {
          GdkRGBA c;

          fa_timeline_confidence_color (i / 20.0, dark, &c);
          g_assert_cmpfloat (c.green, >=, previous.green);
          g_assert_cmpfloat (c.alpha, ==, 1.0);
          previous = c;
        }
      fa_timeline_confidence_color (-3, dark, &previous);
      g_assert_true (gdk_rgba_equal (&previous, &low));
      fa_timeline_confidence_color (7, dark, &previous);
      g_assert_true (gdk_rgba_equal (&previous, &high));
      fa_timeline_confidence_color (NAN, dark, &previous);
      g_assert_true (gdk_rgba_equal (&previous, &low));
    }
}

static void
test_render_masks (Fixture       *fixture,
                   gconstpointer  data)
{
  FaTimeline *timeline = fixture->timeline;
  FaDocument *document = fixture->document;
  double fw = frame_width (timeline);
  double low = FA_TIMELINE_MASKS_Y + FA_TIMELINE_MASKS_H - 3;
  double middle = FA_TIMELINE_MASKS_Y + FA_TIMELINE_MASKS_H / 2 - 3;
  double diamond = FA_TIMELINE_MASKS_Y + 6;
  g_autoptr (Image) before = NULL;
  g_autoptr (Image) after = NULL;
  FaFrameMaskState full, quarter, none;
  gboolean dark = adw_style_manager_get_dark (adw_style_manager_get_default ());
  guint8 rgb[3];

  fa_document_set_current_frame (document, 0);
  before = render (timeline);

  /* The whole of frame 10, the top quarter of frame 20. */
  g_assert_true (fa_document_apply_box (document, 10, 0, 0, FRAME_WIDTH, FRAME_HEIGHT, FALSE));
  g_assert_true (fa_document_apply_box (document, 20, 0, 0, FRAME_WIDTH, FRAME_HEIGHT / 4, FALSE));
  fa_document_get_frame_mask_state (document, 10, &full);
  fa_document_get_frame_mask_state (document, 20, &quarter);
  fa_document_get_frame_mask_state (document, 30, &none);
  g_assert_cmpfloat (full.coverage, >, 0.95);
  g_assert_cmpfloat (fabs (quarter.coverage - 0.25), <, 0.02);
  g_assert_cmpfloat (none.coverage, ==, 0.0);
  g_assert_true (full.keyframe);
  g_assert_true (quarter.keyframe);
  g_assert_false (none.keyframe);

  after = render (timeline);

  /* Bars in the colour of their confidence, as high as the square root of
   * the coverage (a quarter of the frame: half the strip). */
  confidence_color_u8 (full.confidence, dark, rgb);
  g_assert_true (pixel_near (after, fa_timeline_x_for_frame (timeline, 10) - 0.35 * fw, low, rgb, 3));
  g_assert_true (pixel_near (after, fa_timeline_x_for_frame (timeline, 10) - 0.35 * fw, middle, rgb, 3));
  confidence_color_u8 (quarter.confidence, dark, rgb);
  g_assert_true (pixel_near (after, fa_timeline_x_for_frame (timeline, 20) - 0.35 * fw, low, rgb, 3));
  g_assert_true (pixel_near (after, fa_timeline_x_for_frame (timeline, 20) - 0.35 * fw, middle + 5, rgb, 3));
  g_assert_false (pixel_near (after, fa_timeline_x_for_frame (timeline, 20) - 0.35 * fw, middle, rgb, 40));
  g_assert_true (pixels_equal (after, before, fa_timeline_x_for_frame (timeline, 20) - 0.35 * fw, middle));
  g_assert_true (pixels_equal (after, before, fa_timeline_x_for_frame (timeline, 30), low));

  /* What painting changed shows: it was not there before. */
  g_assert_false (pixels_equal (after, before, fa_timeline_x_for_frame (timeline, 10) - 0.35 * fw, low));

  /* Keyframes carry a marker, other frames none. */
  g_assert_false (pixels_equal (after, before, fa_timeline_x_for_frame (timeline, 20), diamond));
  g_assert_false (pixel_near (after, fa_timeline_x_for_frame (timeline, 20), diamond, rgb, 40));
  g_assert_true (pixels_equal (after, before, fa_timeline_x_for_frame (timeline, 30), diamond));
}

static gboolean
style_is_dark (gpointer data)
{
  GtkWidget *widget = data;
  GdkRGBA fg;

  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &fg);
  return adw_style_manager_get_dark (adw_style_manager_get_default ()) && fg.red > 0.5;
}

static gboolean
style_is_light (gpointer data)
{
  GtkWidget *widget = data;
  GdkRGBA fg;

  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &fg);
  return !adw_style_manager_get_dark (adw_style_manager_get_default ()) && fg.red < 0.5;
}

static void
test_render_dark (Fixture       *fixture,
                  gconstpointer  data)
{
  FaTimeline *timeline = fixture->timeline;
  AdwStyleManager *manager = adw_style_manager_get_default ();
  double x = fa_timeline_x_for_frame (timeline, 25);
  double low = FA_TIMELINE_MASKS_Y + FA_TIMELINE_MASKS_H - 3;
  g_autoptr (Image) light = NULL;
  g_autoptr (Image) dark = NULL;
  guint8 light_track[4], dark_track[4], rgb[3];
  FaFrameMaskState state;

  adw_style_manager_set_color_scheme (manager, ADW_COLOR_SCHEME_FORCE_LIGHT);
  g_assert_true (wait_for (style_is_light, timeline));
  g_assert_true (fa_document_apply_box (fixture->document, 5, 0, 0, FRAME_WIDTH, FRAME_HEIGHT, FALSE));
  fa_document_get_frame_mask_state (fixture->document, 5, &state);
  light = render (timeline);

  adw_style_manager_set_color_scheme (manager, ADW_COLOR_SCHEME_FORCE_DARK);
  g_assert_true (wait_for (style_is_dark, timeline));
  dark = render (timeline);
  adw_style_manager_set_color_scheme (manager, ADW_COLOR_SCHEME_DEFAULT);

  /* The empty mask track is a shade of the text colour: dark on light,
   * light on dark. */
  pixel (light, x, low, light_track);
  pixel (dark, x, low, dark_track);
  g_assert_cmpint (light_track[3], >, 0);
  g_assert_cmpint (dark_track[3], >, 0);
  g_assert_cmpint (light_track[0], <, 128);
  g_assert_cmpint (dark_track[0], >, 128);
  /* Bars take the ramp for the style. */
  confidence_color_u8 (state.confidence, TRUE, rgb);
  g_assert_true (pixel_near (dark, fa_timeline_x_for_frame (timeline, 5) - 0.35 * frame_width (timeline),
                             low, rgb, 3));
}

static void
count_invalidation (GdkPaintable *paintable,
                    int          *count)
{
  (*count)++;
}

static gboolean
count_is_positive (gpointer data)
{
  return *(int *) data > 0;
}

/* Runs the main context for @ms milliseconds: long enough for the frame
 * clock to draw whatever was queued. */
static void
spin (int ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;

  while (g_get_monotonic_time () < end)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (1000);
}

/* Waits until the widget asked to be drawn again (a GtkWidgetPaintable on
 * it is invalidated whenever it queues a draw); FALSE on timeout. */
static gboolean
redraws_after (int *count)
{
  return wait_for (count_is_positive, count);
}

static void
test_follows_document (Fixture       *fixture,
                       gconstpointer  data)
{
  FaTimeline *timeline = fixture->timeline;
  FaDocument *document = fixture->document;
  g_autoptr (GdkPaintable) paintable = gtk_widget_paintable_new (GTK_WIDGET (timeline));
  int count = 0;

  g_signal_connect (paintable, "invalidate-contents", G_CALLBACK (count_invalidation), &count);
  /* Settle whatever was pending from showing the window. */
  spin (300);

  spin (100);
  count = 0;
  fa_document_set_current_frame (document, 7);
  g_assert_true (redraws_after (&count));

  spin (100);
  count = 0;
  g_assert_true (fa_document_set_range (document, 8, 13, NULL));
  g_assert_true (redraws_after (&count));

  spin (100);
  count = 0;
  g_assert_true (fa_document_apply_box (document, 3, 0, 0, 10, 10, FALSE));
  g_assert_true (redraws_after (&count));

  spin (100);
  count = 0;
  fa_timeline_set_progress (timeline, 0.25, "Propagating masks", 8, 20);
  g_assert_true (redraws_after (&count));

  /* A document it no longer shows does not redraw it. */
  fa_timeline_set_document (timeline, NULL);
  spin (300);
  count = 0;
  fa_document_set_current_frame (document, 9);
  spin (300);
  g_assert_cmpint (count, ==, 0);
}

static void
test_document_lifetime (void)
{
  g_autoptr (FaDocument) document = new_document (9, 0);
  g_autoptr (FaDocument) other = new_document (9, 1);
  FaTimeline *timeline = FA_TIMELINE (g_object_ref_sink (fa_timeline_new ()));
  guint masks_changed = g_signal_lookup ("masks-changed", FA_TYPE_DOCUMENT);
  guint notify = g_signal_lookup ("notify", G_TYPE_OBJECT);
  GQuark current = g_quark_from_static_string ("current-frame");
  FaDocument *from_property = NULL;

  g_object_set (timeline, "document", document, NULL);
  g_object_get (timeline, "document", &from_property, NULL);
  g_assert_true (from_property == document);
  g_clear_object (&from_property);
  g_assert_true (g_signal_has_handler_pending (document, masks_changed, 0, FALSE));
  g_assert_true (g_signal_has_handler_pending (document, notify, current, FALSE));

  /* Switching lets go of the first document. */
  fa_timeline_set_document (timeline, other);
  g_assert_false (g_signal_has_handler_pending (document, masks_changed, 0, FALSE));
  g_assert_false (g_signal_has_handler_pending (document, notify, current, FALSE));
  fa_document_set_current_frame (document, 3);
  g_assert_true (g_signal_has_handler_pending (other, masks_changed, 0, FALSE));

  /* So does disposing of the timeline; the document lives on. */
  g_object_run_dispose (G_OBJECT (timeline));
  g_assert_false (g_signal_has_handler_pending (other, masks_changed, 0, FALSE));
  g_assert_false (g_signal_has_handler_pending (other, notify, current, FALSE));
  g_object_unref (timeline);
  fa_document_set_current_frame (other, 4);
  fa_document_clear_all (other);
  g_assert_cmpint (fa_document_get_current_frame (other), ==, 4);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  if (!gtk_init_check ())
    {
      g_print ("1..0 # SKIP no display to open\n");
      return 0;
    }
  adw_init ();

  g_test_add_func ("/timeline/confidence-colors", test_confidence_colors);
  g_test_add_func ("/timeline/document-lifetime", test_document_lifetime);
  g_test_add ("/timeline/geometry", Fixture, NULL, fixture_set_up, test_geometry, fixture_tear_down);
  g_test_add ("/timeline/click-and-scrub", Fixture, NULL, fixture_set_up, test_click_and_scrub,
              fixture_tear_down);
  g_test_add ("/timeline/range-edges", Fixture, NULL, fixture_set_up, test_range_edges, fixture_tear_down);
  g_test_add ("/timeline/progress", Fixture, NULL, fixture_set_up, test_progress, fixture_tear_down);
  g_test_add ("/timeline/follows-document", Fixture, NULL, fixture_set_up, test_follows_document,
              fixture_tear_down);
  g_test_add ("/timeline/render/playhead", Fixture, NULL, fixture_set_up, test_render_playhead,
              fixture_tear_down);
  g_test_add ("/timeline/render/thumbnails", Fixture, NULL, fixture_set_up, test_render_thumbnails,
              fixture_tear_down);
  g_test_add ("/timeline/render/masks", Fixture, NULL, fixture_set_up, test_render_masks,
              fixture_tear_down);
  g_test_add ("/timeline/render/dark", Fixture, NULL, fixture_set_up, test_render_dark, fixture_tear_down);

  return g_test_run ();
}
