/* fa-timeline.c: the timeline under the viewer, drawn by hand in one
 * snapshot: rows of fixed height (progress band, ruler, thumbnails, mask
 * strip; see fa-timeline-private.h) over a frame axis that spreads the
 * document's frames evenly across the width.
 *
 * Thumbnails are cut from the document's own RGB frames on the CPU when a
 * slot first shows them and kept per frame until the document changes.
 * The mask strip asks the document for each frame's state on every draw:
 * the document keeps the coverage counts itself.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "fa-timeline"

#include "config.h"

#include <math.h>

#include <adwaita.h>
#include <glib/gi18n.h>

#include "fa-timeline-private.h"

typedef enum {
  GRAB_NONE,
  GRAB_PLAYHEAD,
  GRAB_IN,
  GRAB_OUT,
} Grab;

struct _FaTimeline
{
  GtkWidget         parent_instance;

  FaDocument       *document;
  AdwStyleManager  *style_manager;   /* unowned: the default one lives as long as the app */

  /* frame → GdkTexture, all thumb_width × thumb_height device pixels */
  GHashTable       *thumbnails;
  int               thumb_width, thumb_height;

  double            progress_fraction; /* < 0: hidden */
  char             *progress_label;
  int               progress_first, progress_last;

  Grab              grab;
};

G_DEFINE_FINAL_TYPE (FaTimeline, fa_timeline, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_DOCUMENT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

typedef struct {
  gboolean dark;
  GdkRGBA fg;
  GdkRGBA bg;
  GdkRGBA accent;
  GdkRGBA accent_fg;
  GdkRGBA track;
  GdkRGBA tick;
  GdkRGBA label;
  GdkRGBA dim;
  GdkRGBA playhead;
} Colors;

GtkWidget *
fa_timeline_new (void)
{
  return g_object_new (FA_TYPE_TIMELINE, NULL);
}

/* ---- geometry ---- */

static int
fa_timeline_n_frames (FaTimeline *self)
{
  return self->document != NULL ? fa_document_get_n_frames (self->document) : 0;
}

/* The width of one frame's slot; never zero, so a widget not yet
 * allocated still maps frames in order. */
static double
fa_timeline_frame_width (FaTimeline *self)
{
  int n = fa_timeline_n_frames (self);
  double span = gtk_widget_get_width (GTK_WIDGET (self)) - 2.0 * FA_TIMELINE_MARGIN;

  if (n <= 0)
    return 1.0;
  return MAX (span, (double) n) / n;
}

/* x of the boundary before frame @b (b = n: after the last frame). */
static double
fa_timeline_x_for_boundary (FaTimeline *self,
                            int         b)
{
  return FA_TIMELINE_MARGIN + b * fa_timeline_frame_width (self);
}

/* The frame boundary nearest to @x, in [0, n]. */
static int
fa_timeline_boundary_at (FaTimeline *self,
                         double      x)
{
  int n = fa_timeline_n_frames (self);
  double b = floor ((x - FA_TIMELINE_MARGIN) / fa_timeline_frame_width (self) + 0.5);

  return (int) CLAMP (b, 0.0, (double) n);
}

/* -1 without a document. */
int
fa_timeline_frame_at (FaTimeline *self,
                      double      x)
{
  int n;
  double f;

  g_return_val_if_fail (FA_IS_TIMELINE (self), -1);

  n = fa_timeline_n_frames (self);
  if (n <= 0)
    return -1;
  f = floor ((x - FA_TIMELINE_MARGIN) / fa_timeline_frame_width (self));
  return (int) CLAMP (f, 0.0, (double) (n - 1));
}

double
fa_timeline_x_for_frame (FaTimeline *self,
                         int         frame)
{
  g_return_val_if_fail (FA_IS_TIMELINE (self), 0.0);

  return FA_TIMELINE_MARGIN + (frame + 0.5) * fa_timeline_frame_width (self);
}

/* Thumbnail slots: as many as fit at the clip's aspect ratio in the
 * strip's height, at most one per frame; FALSE when there is nothing. */
static gboolean
fa_timeline_thumbnail_slots (FaTimeline *self,
                             int        *n_slots,
                             double     *slot_width)
{
  const FaWorkingClip *clip;
  int n = fa_timeline_n_frames (self);
  double span = gtk_widget_get_width (GTK_WIDGET (self)) - 2.0 * FA_TIMELINE_MARGIN;
  double natural;
  int k;

  if (n <= 0 || span < 1.0)
    return FALSE;
  clip = fa_document_get_clip (self->document);
  if (clip == NULL || clip->width <= 0 || clip->height <= 0)
    return FALSE;

  natural = (double) FA_TIMELINE_THUMBS_H * clip->width / clip->height;
  k = (int) ceil (span / natural);
  k = CLAMP (k, 1, n);
  *n_slots = k;
  *slot_width = span / k;
  return TRUE;
}

static int
fa_timeline_slot_frame (FaTimeline *self,
                        int         slot,
                        double      slot_width)
{
  return fa_timeline_frame_at (self, FA_TIMELINE_MARGIN + (slot + 0.5) * slot_width);
}

int
fa_timeline_get_thumbnail_frame (FaTimeline *self,
                                 double      x)
{
  double slot_width;
  int n_slots, slot;

  g_return_val_if_fail (FA_IS_TIMELINE (self), -1);

  if (!fa_timeline_thumbnail_slots (self, &n_slots, &slot_width))
    return -1;
  if (x < FA_TIMELINE_MARGIN || x >= FA_TIMELINE_MARGIN + n_slots * slot_width)
    return -1;
  slot = (int) floor ((x - FA_TIMELINE_MARGIN) / slot_width);
  return fa_timeline_slot_frame (self, CLAMP (slot, 0, n_slots - 1), slot_width);
}

/* ---- caches ---- */

/* Box-filtered: every source pixel counts once, so a thin line in the frame
 * still tints its thumbnail pixel instead of vanishing between samples. */
static GdkTexture *
fa_timeline_make_thumbnail (const FaWorkingClip *clip,
                            int                  frame,
                            int                  width,
                            int                  height)
{
  const guint8 *src = fa_working_clip_frame (clip, frame);
  gsize src_stride = (gsize) clip->width * 3;
  gsize stride = (gsize) width * 3;
  guint8 *pixels = g_malloc (stride * height);
  g_autoptr (GBytes) bytes = NULL;

  for (int ty = 0; ty < height; ty++)
    {
      int y0 = (int) ((gint64) ty * clip->height / height);
      int y1 = MAX (y0 + 1, (int) ((gint64) (ty + 1) * clip->height / height));

      for (int tx = 0; tx < width; tx++)
        {
          int x0 = (int) ((gint64) tx * clip->width / width);
          int x1 = MAX (x0 + 1, (int) ((gint64) (tx + 1) * clip->width / width));
          guint sum[3] = { 0, 0, 0 };
          guint count = (guint) ((y1 - y0) * (x1 - x0));
          guint8 *out = pixels + ty * stride + tx * 3;

          for (int y = y0; y < y1; y++)
            {
              const guint8 *row = src + y * src_stride;

              for (int x = x0; x < x1; x++)
                {
                  sum[0] += row[x * 3];
                  sum[1] += row[x * 3 + 1];
                  sum[2] += row[x * 3 + 2];
                }
            }
          for (int c = 0; c < 3; c++)
            out[c] = (guint8) ((sum[c] + count / 2) / count);
        }
    }

  bytes = g_bytes_new_take (pixels, stride * height);
  return gdk_memory_texture_new (width, height, GDK_MEMORY_R8G8B8, bytes, stride);
}

static GdkTexture *
fa_timeline_thumbnail (FaTimeline *self,
                       int         frame)
{
  const FaWorkingClip *clip = fa_document_get_clip (self->document);
  int scale = gtk_widget_get_scale_factor (GTK_WIDGET (self));
  int height, width;
  GdkTexture *texture;

  /* Device pixels, never more than the frame has. */
  height = MIN (FA_TIMELINE_THUMBS_H * scale, clip->height);
  width = (int) CLAMP (floor ((double) height * clip->width / clip->height + 0.5), 1, clip->width);
  if (width != self->thumb_width || height != self->thumb_height)
    {
      g_hash_table_remove_all (self->thumbnails);
      self->thumb_width = width;
      self->thumb_height = height;
    }

  texture = g_hash_table_lookup (self->thumbnails, GINT_TO_POINTER (frame));
  if (texture == NULL)
    {
      texture = fa_timeline_make_thumbnail (clip, frame, width, height);
      g_hash_table_insert (self->thumbnails, GINT_TO_POINTER (frame), texture);
    }
  return texture;
}

/* ---- following the document ---- */

static void
fa_timeline_update_accessible (FaTimeline *self)
{
  int n = fa_timeline_n_frames (self);
  int current = n > 0 ? fa_document_get_current_frame (self->document) : 0;
  g_autofree char *text = NULL;

  if (n > 0)
    text = g_strdup_printf (_("Frame %d"), current);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self),
                                  GTK_ACCESSIBLE_PROPERTY_VALUE_MIN, 0.0,
                                  GTK_ACCESSIBLE_PROPERTY_VALUE_MAX, (double) MAX (n - 1, 0),
                                  GTK_ACCESSIBLE_PROPERTY_VALUE_NOW, (double) current,
                                  GTK_ACCESSIBLE_PROPERTY_VALUE_TEXT, text != NULL ? text : "",
                                  -1);
}

static void
fa_timeline_current_frame_changed (FaTimeline *self)
{
  fa_timeline_update_accessible (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
fa_timeline_set_document (FaTimeline *self,
                          FaDocument *document)
{
  g_return_if_fail (FA_IS_TIMELINE (self));
  g_return_if_fail (document == NULL || FA_IS_DOCUMENT (document));

  if (self->document == document)
    return;

  if (self->document != NULL)
    g_signal_handlers_disconnect_by_data (self->document, self);
  g_set_object (&self->document, document);
  self->grab = GRAB_NONE;

  if (document != NULL)
    {
      g_signal_connect_swapped (document, "notify::current-frame",
                                G_CALLBACK (fa_timeline_current_frame_changed), self);
      g_signal_connect_swapped (document, "notify::range-first",
                                G_CALLBACK (gtk_widget_queue_draw), self);
      g_signal_connect_swapped (document, "notify::range-count",
                                G_CALLBACK (gtk_widget_queue_draw), self);
      g_signal_connect_swapped (document, "masks-changed",
                                G_CALLBACK (gtk_widget_queue_draw), self);
    }

  g_hash_table_remove_all (self->thumbnails);
  fa_timeline_update_accessible (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DOCUMENT]);
}

FaDocument *
fa_timeline_get_document (FaTimeline *self)
{
  g_return_val_if_fail (FA_IS_TIMELINE (self), NULL);

  return self->document;
}

void
fa_timeline_set_progress (FaTimeline *self,
                          double      fraction,
                          const char *label,
                          int         first_frame,
                          int         last_frame)
{
  g_return_if_fail (FA_IS_TIMELINE (self));

  /* NaN hides it too: it is no fraction of anything. */
  self->progress_fraction = fraction >= 0.0 ? MIN (fraction, 1.0) : -1.0;
  g_free (self->progress_label);
  self->progress_label = g_strdup (label);
  self->progress_first = MIN (first_frame, last_frame);
  self->progress_last = MAX (first_frame, last_frame);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

gboolean
fa_timeline_get_progress_visible (FaTimeline *self)
{
  g_return_val_if_fail (FA_IS_TIMELINE (self), FALSE);

  return self->progress_fraction >= 0.0;
}

double
fa_timeline_get_progress (FaTimeline  *self,
                          const char **label)
{
  g_return_val_if_fail (FA_IS_TIMELINE (self), -1.0);

  if (label != NULL)
    *label = self->progress_label;
  return self->progress_fraction;
}

/* ---- pointer ---- */

/* The range edge within reach of @x: GRAB_IN, GRAB_OUT or GRAB_NONE. */
static Grab
fa_timeline_edge_at (FaTimeline *self,
                     double      x)
{
  double left, right, d_left, d_right;
  int first, count;

  if (fa_timeline_n_frames (self) <= 0)
    return GRAB_NONE;

  fa_document_get_range (self->document, &first, &count);
  left = fa_timeline_x_for_boundary (self, first);
  right = fa_timeline_x_for_boundary (self, first + count);
  d_left = fabs (x - left);
  d_right = fabs (x - right);

  if (MIN (d_left, d_right) > FA_TIMELINE_EDGE_GRAB)
    return GRAB_NONE;
  /* Both in reach only on a narrow range; the nearer one wins, and on a
   * tie the side the pointer is on. */
  if (d_left < d_right || (d_left == d_right && x < (left + right) / 2))
    return GRAB_IN;
  return GRAB_OUT;
}

/* Edges follow the nearest frame boundary, so that pressing on an edge
 * without moving leaves the range as it was. */
static void
fa_timeline_apply_pointer (FaTimeline *self,
                           double      x)
{
  int n = fa_timeline_n_frames (self);
  int first, count, b;

  if (n <= 0)
    return;

  switch (self->grab)
    {
    case GRAB_PLAYHEAD:
      fa_document_set_current_frame (self->document, fa_timeline_frame_at (self, x));
      break;

    case GRAB_IN:
      fa_document_get_range (self->document, &first, &count);
      b = CLAMP (fa_timeline_boundary_at (self, x), 0, n - 1);
      if (b != first)
        fa_document_set_in_point (self->document, b);
      break;

    case GRAB_OUT:
      fa_document_get_range (self->document, &first, &count);
      b = CLAMP (fa_timeline_boundary_at (self, x), 1, n);
      if (b - 1 != first + count - 1)
        fa_document_set_out_point (self->document, b - 1);
      break;

    case GRAB_NONE:
    default:
      break;
    }
}

void
fa_timeline_pointer_down (FaTimeline *self,
                          double      x,
                          double      y)
{
  g_return_if_fail (FA_IS_TIMELINE (self));

  if (fa_timeline_n_frames (self) <= 0)
    return;

  self->grab = fa_timeline_edge_at (self, x);
  if (self->grab == GRAB_NONE)
    {
      self->grab = GRAB_PLAYHEAD;
      fa_timeline_apply_pointer (self, x);
    }
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
fa_timeline_pointer_motion (FaTimeline *self,
                            double      x,
                            double      y)
{
  g_return_if_fail (FA_IS_TIMELINE (self));

  fa_timeline_apply_pointer (self, x);
}

void
fa_timeline_pointer_up (FaTimeline *self,
                        double      x,
                        double      y)
{
  g_return_if_fail (FA_IS_TIMELINE (self));

  if (self->grab == GRAB_NONE)
    return;
  fa_timeline_apply_pointer (self, x);
  self->grab = GRAB_NONE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
fa_timeline_drag_begin (GtkGestureDrag *gesture,
                        double          x,
                        double          y,
                        FaTimeline     *self)
{
  if (fa_timeline_n_frames (self) <= 0)
    {
      gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_DENIED);
      return;
    }
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
  fa_timeline_pointer_down (self, x, y);
}

static void
fa_timeline_drag_update (GtkGestureDrag *gesture,
                         double          offset_x,
                         double          offset_y,
                         FaTimeline     *self)
{
  double x, y;

  if (gtk_gesture_drag_get_start_point (gesture, &x, &y))
    fa_timeline_pointer_motion (self, x + offset_x, y + offset_y);
}

static void
fa_timeline_drag_end (GtkGestureDrag *gesture,
                      double          offset_x,
                      double          offset_y,
                      FaTimeline     *self)
{
  double x, y;

  if (gtk_gesture_drag_get_start_point (gesture, &x, &y))
    fa_timeline_pointer_up (self, x + offset_x, y + offset_y);
}

static void
fa_timeline_drag_cancel (GtkGesture       *gesture,
                         GdkEventSequence *sequence,
                         FaTimeline       *self)
{
  self->grab = GRAB_NONE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* A resize cursor over a range edge says it can be dragged. */
static void
fa_timeline_hover (GtkEventControllerMotion *controller,
                   double                    x,
                   double                    y,
                   FaTimeline               *self)
{
  gboolean on_edge = self->grab == GRAB_IN || self->grab == GRAB_OUT
                     || (self->grab == GRAB_NONE && fa_timeline_edge_at (self, x) != GRAB_NONE);

  gtk_widget_set_cursor_from_name (GTK_WIDGET (self), on_edge ? "ew-resize" : NULL);
}

/* ---- drawing ---- */

static void
mix (const GdkRGBA *a,
     const GdkRGBA *b,
     double         t,
     GdkRGBA       *out)
{
  out->red = a->red + (b->red - a->red) * t;
  out->green = a->green + (b->green - a->green) * t;
  out->blue = a->blue + (b->blue - a->blue) * t;
  out->alpha = a->alpha + (b->alpha - a->alpha) * t;
}

void
fa_timeline_confidence_color (double   confidence,
                              gboolean dark,
                              GdkRGBA *color)
{
  /* Adwaita's palette: red 3/4, yellow 5/4, green 4/4 (brighter on dark). */
  static const GdkRGBA light[3] = {
    { 0.878, 0.106, 0.141, 1.0 },
    { 0.898, 0.647, 0.039, 1.0 },
    { 0.180, 0.761, 0.494, 1.0 },
  };
  static const GdkRGBA dark_ramp[3] = {
    { 0.929, 0.200, 0.231, 1.0 },
    { 0.965, 0.827, 0.176, 1.0 },
    { 0.341, 0.890, 0.537, 1.0 },
  };
  const GdkRGBA *ramp = dark ? dark_ramp : light;
  double c = isnan (confidence) ? 0.0 : CLAMP (confidence, 0.0, 1.0);

  if (c <= 0.5)
    mix (&ramp[0], &ramp[1], c * 2.0, color);
  else
    mix (&ramp[1], &ramp[2], (c - 0.5) * 2.0, color);
}

static void
lookup_color (GtkStyleContext *context,
              const char      *name,
              const char      *fallback,
              GdkRGBA         *color)
{
  if (!gtk_style_context_lookup_color (context, name, color))
    gdk_rgba_parse (color, fallback);
}

static void
fa_timeline_get_colors (FaTimeline *self,
                        Colors     *colors)
{
  GtkStyleContext *context = gtk_widget_get_style_context (GTK_WIDGET (self));
  GdkRGBA *fg = &colors->fg;

  gtk_style_context_get_color (context, fg);
  /* The style manager knows the app's scheme; a theme's own colours (or no
   * libadwaita at all) are read from the text colour. */
  if (self->style_manager != NULL)
    colors->dark = adw_style_manager_get_dark (self->style_manager);
  else
    colors->dark = 0.299 * fg->red + 0.587 * fg->green + 0.114 * fg->blue > 0.5;

  lookup_color (context, "window_bg_color", colors->dark ? "#242424" : "#fafafa", &colors->bg);
  lookup_color (context, "accent_bg_color", "#3584e4", &colors->accent);
  lookup_color (context, "accent_fg_color", "#ffffff", &colors->accent_fg);

  colors->track = (GdkRGBA) { fg->red, fg->green, fg->blue, 0.08 };
  colors->tick = (GdkRGBA) { fg->red, fg->green, fg->blue, 0.45 };
  colors->label = (GdkRGBA) { fg->red, fg->green, fg->blue, 0.75 };
  colors->dim = (GdkRGBA) { colors->bg.red, colors->bg.green, colors->bg.blue, 0.62 };
  if (colors->dark)
    colors->playhead = (GdkRGBA) { 1.0, 1.0, 1.0, 1.0 };
  else
    colors->playhead = (GdkRGBA) { 0.14, 0.12, 0.19, 1.0 };
}

static PangoLayout *
fa_timeline_layout (FaTimeline *self,
                    const char *text,
                    double      scale)
{
  PangoLayout *layout = gtk_widget_create_pango_layout (GTK_WIDGET (self), text);
  PangoAttrList *attrs = pango_attr_list_new ();

  pango_attr_list_insert (attrs, pango_attr_scale_new (scale));
  /* Digits of one width, so that a moving label does not wobble. */
  pango_attr_list_insert (attrs, pango_attr_font_features_new ("tnum=1"));
  pango_layout_set_attributes (layout, attrs);
  pango_attr_list_unref (attrs);
  return layout;
}

static void
append_layout_at (GtkSnapshot   *snapshot,
                  PangoLayout   *layout,
                  double         x,
                  double         y,
                  const GdkRGBA *color)
{
  gtk_snapshot_save (snapshot);
  gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (x, y));
  gtk_snapshot_append_layout (snapshot, layout, color);
  gtk_snapshot_restore (snapshot);
}

static void
append_rounded (GtkSnapshot   *snapshot,
                double         x,
                double         y,
                double         width,
                double         height,
                double         radius,
                const GdkRGBA *color)
{
  GskRoundedRect rect;

  gsk_rounded_rect_init_from_rect (&rect, &GRAPHENE_RECT_INIT (x, y, width, height),
                                   MIN (radius, MIN (width, height) / 2));
  gtk_snapshot_push_rounded_clip (snapshot, &rect);
  gtk_snapshot_append_color (snapshot, color, &GRAPHENE_RECT_INIT (x, y, width, height));
  gtk_snapshot_pop (snapshot);
}

/* A label on a pill centred at @cx, kept inside the widget; @short_text
 * (when not NULL) replaces @text where that is wider than @max_width. */
static void
append_pill (FaTimeline    *self,
             GtkSnapshot   *snapshot,
             const char    *text,
             const char    *short_text,
             double         max_width,
             double         cx,
             double         y,
             double         height,
             const GdkRGBA *background,
             const GdkRGBA *foreground)
{
  g_autoptr (PangoLayout) layout = fa_timeline_layout (self, text, PANGO_SCALE_SMALL);
  int width = gtk_widget_get_width (GTK_WIDGET (self));
  int text_width, text_height;
  double pill_width, x;

  pango_layout_get_pixel_size (layout, &text_width, &text_height);
  if (short_text != NULL && text_width + 10.0 > max_width)
    {
      pango_layout_set_text (layout, short_text, -1);
      pango_layout_get_pixel_size (layout, &text_width, &text_height);
    }
  pill_width = text_width + 10.0;
  x = CLAMP (cx - pill_width / 2, 0.0, MAX (width - pill_width, 0.0));
  append_rounded (snapshot, x, y, pill_width, height, height / 2, background);
  append_layout_at (snapshot, layout, x + 5.0, y + (height - text_height) / 2, foreground);
}

static void
fa_timeline_snapshot_ruler (FaTimeline   *self,
                            GtkSnapshot  *snapshot,
                            const Colors *colors)
{
  /* Label steps in seconds: the first that leaves room for "00:00". */
  static const int label_steps[] = { 1, 2, 5, 10, 15, 30, 60, 120, 300, 600 };
  const FaWorkingClip *clip = fa_document_get_clip (self->document);
  int n = fa_timeline_n_frames (self);
  int width = gtk_widget_get_width (GTK_WIDGET (self));
  double fw = fa_timeline_frame_width (self);
  double fps = clip->fps_n > 0 && clip->fps_d > 0 ? (double) clip->fps_n / clip->fps_d : 16.0;
  double bottom = FA_TIMELINE_RULER_Y + FA_TIMELINE_RULER_H;
  int label_step = label_steps[G_N_ELEMENTS (label_steps) - 1];
  int tick_step = 1;

  for (gsize i = 0; i < G_N_ELEMENTS (label_steps); i++)
    if (label_steps[i] * fps * fw >= 56.0)
      {
        label_step = label_steps[i];
        break;
      }
  while (tick_step * fw < 6.0 && tick_step < n)
    tick_step *= 2;

  for (int f = 0; f < n; f += tick_step)
    gtk_snapshot_append_color (snapshot, &colors->tick,
                               &GRAPHENE_RECT_INIT (floor (fa_timeline_x_for_frame (self, f)),
                                                    bottom - 4, 1, 4));

  for (int s = 0;; s += label_step)
    {
      int f = (int) ceil (s * fps - 1e-6);
      double x;
      g_autofree char *text = NULL;
      g_autoptr (PangoLayout) layout = NULL;
      int text_width, text_height;

      if (f >= n)
        break;
      x = floor (fa_timeline_x_for_frame (self, f));
      gtk_snapshot_append_color (snapshot, &colors->tick,
                                 &GRAPHENE_RECT_INIT (x, bottom - 9, 1, 9));

      text = g_strdup_printf ("%02d:%02d", s / 60, s % 60);
      layout = fa_timeline_layout (self, text, PANGO_SCALE_X_SMALL);
      pango_layout_get_pixel_size (layout, &text_width, &text_height);
      if (x + 3 + text_width <= width)
        append_layout_at (snapshot, layout, x + 3, bottom - 4 - text_height, &colors->label);
    }
}

static void
fa_timeline_snapshot_thumbnails (FaTimeline   *self,
                                 GtkSnapshot  *snapshot,
                                 const Colors *colors)
{
  const FaWorkingClip *clip = fa_document_get_clip (self->document);
  double slot_width;
  int n_slots;

  if (!fa_timeline_thumbnail_slots (self, &n_slots, &slot_width))
    return;

  for (int i = 0; i < n_slots; i++)
    {
      double x = FA_TIMELINE_MARGIN + i * slot_width;
      GdkTexture *texture = fa_timeline_thumbnail (self, fa_timeline_slot_frame (self, i, slot_width));
      /* Cover the slot, cropping what overhangs. */
      double scale = MAX (slot_width / clip->width, (double) FA_TIMELINE_THUMBS_H / clip->height);
      double w = clip->width * scale, h = clip->height * scale;
      graphene_rect_t slot = GRAPHENE_RECT_INIT (x, FA_TIMELINE_THUMBS_Y, slot_width, FA_TIMELINE_THUMBS_H);

      gtk_snapshot_push_clip (snapshot, &slot);
      gtk_snapshot_append_texture (snapshot, texture,
                                   &GRAPHENE_RECT_INIT (x + (slot_width - w) / 2,
                                                        FA_TIMELINE_THUMBS_Y + (FA_TIMELINE_THUMBS_H - h) / 2,
                                                        w, h));
      gtk_snapshot_pop (snapshot);
      if (i > 0)
        gtk_snapshot_append_color (snapshot, &colors->dim,
                                   &GRAPHENE_RECT_INIT (floor (x), FA_TIMELINE_THUMBS_Y,
                                                        1, FA_TIMELINE_THUMBS_H));
    }
}

static void
append_diamond (GtkSnapshot   *snapshot,
                double         cx,
                double         cy,
                double         half,
                const GdkRGBA *fill,
                const GdkRGBA *outline)
{
  gtk_snapshot_save (snapshot);
  gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (cx, cy));
  gtk_snapshot_rotate (snapshot, 45);
  gtk_snapshot_append_color (snapshot, outline, &GRAPHENE_RECT_INIT (-half - 1, -half - 1, 2 * half + 2, 2 * half + 2));
  gtk_snapshot_append_color (snapshot, fill, &GRAPHENE_RECT_INIT (-half, -half, 2 * half, 2 * half));
  gtk_snapshot_restore (snapshot);
}

static void
fa_timeline_snapshot_masks (FaTimeline   *self,
                            GtkSnapshot  *snapshot,
                            const Colors *colors)
{
  int n = fa_timeline_n_frames (self);
  double fw = fa_timeline_frame_width (self);
  double gap = fw >= 4.0 ? 1.0 : 0.0;
  double bottom = FA_TIMELINE_MASKS_Y + FA_TIMELINE_MASKS_H;
  /* A diamond fits its slot, but stays big enough to be seen. */
  double half = CLAMP (fw * 0.35, 2.5, 4.5);
  g_autoptr (GList) keyframes = NULL;

  for (int f = 0; f < n; f++)
    {
      FaFrameMaskState state;
      GdkRGBA color;
      double h;

      fa_document_get_frame_mask_state (self->document, f, &state);
      if (state.keyframe)
        keyframes = g_list_prepend (keyframes, GINT_TO_POINTER (f));
      if (state.coverage <= 0.0f)
        continue;
      /* The square root, since a typical mask covers a tenth of the frame
       * or less and would be a sliver; any mask at all shows. */
      h = MAX (2.0, sqrt (state.coverage) * FA_TIMELINE_MASKS_H);
      h = MIN (h, (double) FA_TIMELINE_MASKS_H);
      fa_timeline_confidence_color (state.confidence, colors->dark, &color);
      gtk_snapshot_append_color (snapshot, &color,
                                 &GRAPHENE_RECT_INIT (fa_timeline_x_for_boundary (self, f), bottom - h,
                                                      MAX (fw - gap, 1.0), h));
    }

  /* Markers over the bars. */
  for (const GList *l = keyframes; l != NULL; l = l->next)
    append_diamond (snapshot, fa_timeline_x_for_frame (self, GPOINTER_TO_INT (l->data)),
                    FA_TIMELINE_MASKS_Y + half + 2, half, &colors->playhead, &colors->bg);
}

static void
fa_timeline_snapshot_range (FaTimeline   *self,
                            GtkSnapshot  *snapshot,
                            const Colors *colors)
{
  int width = gtk_widget_get_width (GTK_WIDGET (self));
  int first, count;
  double left, right, top, bottom;
  GdkRGBA highlight = colors->accent;
  g_autofree char *text = NULL;
  g_autofree char *count_text = NULL;

  fa_document_get_range (self->document, &first, &count);
  left = fa_timeline_x_for_boundary (self, first);
  right = fa_timeline_x_for_boundary (self, first + count);
  top = FA_TIMELINE_THUMBS_Y;
  bottom = FA_TIMELINE_MASKS_Y + FA_TIMELINE_MASKS_H;

  /* What the edit leaves alone is dimmed. */
  if (left > FA_TIMELINE_MARGIN)
    gtk_snapshot_append_color (snapshot, &colors->dim,
                               &GRAPHENE_RECT_INIT (0, top, left, bottom - top));
  if (right < width - FA_TIMELINE_MARGIN)
    gtk_snapshot_append_color (snapshot, &colors->dim,
                               &GRAPHENE_RECT_INIT (right, top, width - right, bottom - top));

  /* The range in the ruler, and a frame around it below. */
  highlight.alpha = 0.22;
  gtk_snapshot_append_color (snapshot, &highlight,
                             &GRAPHENE_RECT_INIT (left, FA_TIMELINE_RULER_Y, right - left, FA_TIMELINE_RULER_H));
  gtk_snapshot_append_color (snapshot, &colors->accent, &GRAPHENE_RECT_INIT (left, top - 2, right - left, 2));
  gtk_snapshot_append_color (snapshot, &colors->accent, &GRAPHENE_RECT_INIT (left, bottom, right - left, 2));

  /* Grab handles, a little wider while held. */
  for (int side = 0; side < 2; side++)
    {
      double x = side == 0 ? left : right;
      gboolean held = self->grab == (side == 0 ? GRAB_IN : GRAB_OUT);
      double half = held ? 4.0 : 3.0;
      GdkRGBA grip = colors->accent_fg;

      append_rounded (snapshot, x - half, top - 2, 2 * half, bottom - top + 4, half, &colors->accent);
      grip.alpha = 0.8;
      gtk_snapshot_append_color (snapshot, &grip,
                                 &GRAPHENE_RECT_INIT (floor (x) - 0.5, (top + bottom) / 2 - 6, 1, 12));
    }

  text = g_strdup_printf (ngettext ("%d frame", "%d frames", count), count);
  count_text = g_strdup_printf ("%d", count);
  /* Between the handles when it fits, else just the number. */
  append_pill (self, snapshot, text, count_text, right - left - 12, (left + right) / 2, top + 3, 16,
               &colors->accent, &colors->accent_fg);
}

static void
fa_timeline_snapshot_progress (FaTimeline   *self,
                               GtkSnapshot  *snapshot,
                               const Colors *colors)
{
  int n = fa_timeline_n_frames (self);
  int width = gtk_widget_get_width (GTK_WIDGET (self));
  int first = CLAMP (self->progress_first, 0, n - 1);
  int last = CLAMP (self->progress_last, 0, n - 1);
  double left = fa_timeline_x_for_boundary (self, first);
  double right = fa_timeline_x_for_boundary (self, last + 1);
  double y = FA_TIMELINE_PROGRESS_Y, h = FA_TIMELINE_PROGRESS_H;
  GdkRGBA track = colors->accent;
  g_autofree char *text = NULL;
  g_autoptr (PangoLayout) layout = NULL;
  int text_width, text_height;
  double text_x;

  track.alpha = 0.25;
  append_rounded (snapshot, left, y, right - left, h, h / 2, &track);
  if (self->progress_fraction > 0.0)
    {
      GskRoundedRect clip;

      gsk_rounded_rect_init_from_rect (&clip, &GRAPHENE_RECT_INIT (left, y, right - left, h),
                                       MIN (h, right - left) / 2);
      gtk_snapshot_push_rounded_clip (snapshot, &clip);
      gtk_snapshot_append_color (snapshot, &colors->accent,
                                 &GRAPHENE_RECT_INIT (left, y, (right - left) * self->progress_fraction, h));
      gtk_snapshot_pop (snapshot);
    }

  if (self->progress_label != NULL && *self->progress_label != '\0')
    /* Translators: a job's name and how far it is, on the timeline. */
    text = g_strdup_printf (_("%s — %d %%"), self->progress_label,
                            (int) floor (self->progress_fraction * 100.0));
  else
    text = g_strdup_printf (_("%d %%"), (int) floor (self->progress_fraction * 100.0));
  layout = fa_timeline_layout (self, text, PANGO_SCALE_X_SMALL);
  pango_layout_get_pixel_size (layout, &text_width, &text_height);
  text_x = CLAMP ((left + right - text_width) / 2, 0.0, MAX (width - text_width, 0.0));
  append_layout_at (snapshot, layout, text_x, y + (h - text_height) / 2, &colors->fg);
}

static void
fa_timeline_snapshot_playhead (FaTimeline   *self,
                               GtkSnapshot  *snapshot,
                               const Colors *colors)
{
  int current = fa_document_get_current_frame (self->document);
  double x = fa_timeline_x_for_frame (self, current);
  double top = FA_TIMELINE_RULER_Y;
  double bottom = FA_TIMELINE_MASKS_Y + FA_TIMELINE_MASKS_H + 2;
  g_autofree char *text = g_strdup_printf ("%d", current);

  gtk_snapshot_append_color (snapshot, &colors->bg, &GRAPHENE_RECT_INIT (floor (x) - 2, top, 4, bottom - top));
  gtk_snapshot_append_color (snapshot, &colors->playhead, &GRAPHENE_RECT_INIT (floor (x) - 1, top, 2, bottom - top));
  append_pill (self, snapshot, text, NULL, 0, x, top, FA_TIMELINE_RULER_H - 2, &colors->playhead, &colors->bg);
}

static void
fa_timeline_snapshot (GtkWidget   *widget,
                      GtkSnapshot *snapshot)
{
  FaTimeline *self = FA_TIMELINE (widget);
  int width = gtk_widget_get_width (widget);
  double span = width - 2.0 * FA_TIMELINE_MARGIN;
  Colors colors;

  if (span <= 0)
    return;

  fa_timeline_get_colors (self, &colors);
  gtk_snapshot_append_color (snapshot, &colors.track,
                             &GRAPHENE_RECT_INIT (FA_TIMELINE_MARGIN, FA_TIMELINE_THUMBS_Y,
                                                  span, FA_TIMELINE_THUMBS_H));
  gtk_snapshot_append_color (snapshot, &colors.track,
                             &GRAPHENE_RECT_INIT (FA_TIMELINE_MARGIN, FA_TIMELINE_MASKS_Y,
                                                  span, FA_TIMELINE_MASKS_H));
  if (fa_timeline_n_frames (self) <= 0)
    return;

  fa_timeline_snapshot_ruler (self, snapshot, &colors);
  fa_timeline_snapshot_thumbnails (self, snapshot, &colors);
  fa_timeline_snapshot_masks (self, snapshot, &colors);
  fa_timeline_snapshot_range (self, snapshot, &colors);
  if (self->progress_fraction >= 0.0)
    fa_timeline_snapshot_progress (self, snapshot, &colors);
  fa_timeline_snapshot_playhead (self, snapshot, &colors);
}

static void
fa_timeline_measure (GtkWidget      *widget,
                     GtkOrientation  orientation,
                     int             for_size,
                     int            *minimum,
                     int            *natural,
                     int            *minimum_baseline,
                     int            *natural_baseline)
{
  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    {
      *minimum = 160;
      *natural = 640;
    }
  else
    {
      *minimum = FA_TIMELINE_HEIGHT;
      *natural = FA_TIMELINE_HEIGHT;
    }
}

/* ---- object ---- */

static void
fa_timeline_dispose (GObject *object)
{
  FaTimeline *self = FA_TIMELINE (object);

  fa_timeline_set_document (self, NULL);
  if (self->style_manager != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->style_manager, self);
      self->style_manager = NULL;
    }

  G_OBJECT_CLASS (fa_timeline_parent_class)->dispose (object);
}

static void
fa_timeline_finalize (GObject *object)
{
  FaTimeline *self = FA_TIMELINE (object);

  g_clear_pointer (&self->thumbnails, g_hash_table_unref);
  g_clear_pointer (&self->progress_label, g_free);

  G_OBJECT_CLASS (fa_timeline_parent_class)->finalize (object);
}

static void
fa_timeline_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  FaTimeline *self = FA_TIMELINE (object);

  switch (prop_id)
    {
    case PROP_DOCUMENT:
      g_value_set_object (value, self->document);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
fa_timeline_set_property (GObject      *object,
                          guint         prop_id,
                          const GValue *value,
                          GParamSpec   *pspec)
{
  FaTimeline *self = FA_TIMELINE (object);

  switch (prop_id)
    {
    case PROP_DOCUMENT:
      fa_timeline_set_document (self, g_value_get_object (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
fa_timeline_class_init (FaTimelineClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = fa_timeline_dispose;
  object_class->finalize = fa_timeline_finalize;
  object_class->get_property = fa_timeline_get_property;
  object_class->set_property = fa_timeline_set_property;

  widget_class->snapshot = fa_timeline_snapshot;
  widget_class->measure = fa_timeline_measure;

  properties[PROP_DOCUMENT] =
    g_param_spec_object ("document", NULL, NULL,
                         FA_TYPE_DOCUMENT,
                         (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_css_name (widget_class, "timeline");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_SLIDER);
}

static void
fa_timeline_init (FaTimeline *self)
{
  GtkGesture *drag = gtk_gesture_drag_new ();
  GtkEventController *motion = gtk_event_controller_motion_new ();

  self->thumbnails = g_hash_table_new_full (NULL, NULL, NULL, g_object_unref);
  self->progress_fraction = -1.0;

  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (drag), GDK_BUTTON_PRIMARY);
  g_signal_connect (drag, "drag-begin", G_CALLBACK (fa_timeline_drag_begin), self);
  g_signal_connect (drag, "drag-update", G_CALLBACK (fa_timeline_drag_update), self);
  g_signal_connect (drag, "drag-end", G_CALLBACK (fa_timeline_drag_end), self);
  g_signal_connect (drag, "cancel", G_CALLBACK (fa_timeline_drag_cancel), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drag));

  g_signal_connect (motion, "motion", G_CALLBACK (fa_timeline_hover), self);
  gtk_widget_add_controller (GTK_WIDGET (self), motion);

  /* Colours are picked per style; redraw when it flips. */
  if (adw_is_initialized ())
    {
      self->style_manager = adw_style_manager_get_default ();
      g_signal_connect_swapped (self->style_manager, "notify::dark",
                                G_CALLBACK (gtk_widget_queue_draw), self);
    }

  gtk_widget_set_hexpand (GTK_WIDGET (self), TRUE);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Timeline"),
                                  -1);
  fa_timeline_update_accessible (self);
}
