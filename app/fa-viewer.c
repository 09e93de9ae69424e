/* fa-viewer.c: the frame viewer: the current working frame with its mask,
 * fit or zoomed and panned, and the pointer tools that paint the mask.
 *
 * The picture comes from a GtkGLArea child (fa-viewer-gl.c) when one gets
 * a usable context, else from a texture composed on the CPU
 * (fa-viewer-render.c) and drawn here. Either way the overlays (the box
 * being dragged, the brush ring) are drawn here over it, so both paths
 * share them.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "fa-viewer"

#include "config.h"

#include <math.h>

#include "fa-viewer-private.h"

/* Zoom limits, in view pixels per working pixel, as the document keeps
 * them: from a whole 832-pixel frame in 26 pixels to single pixels 64
 * wide. */
#define MIN_ZOOM (1.0 / 32.0)
#define MAX_ZOOM 64.0

/* Ctrl+wheel: one notch zooms by this factor; touchpads scroll in pixels,
 * this many of them to a notch. */
#define WHEEL_ZOOM_STEP 1.25
#define SURFACE_PIXELS_PER_NOTCH 20.0
/* A plain wheel notch pans a zoomed view by this many widget pixels. */
#define WHEEL_PAN_STEP 48.0

typedef enum {
  DRAG_NONE,
  DRAG_STROKE,
  DRAG_BOX,
  DRAG_PAN,
} DragMode;

struct _FaViewer
{
  GtkWidget    parent_instance;

  FaDocument  *document;
  gulong       masks_changed_id;
  gulong       view_changed_id;
  gulong       current_frame_id;

  FaViewerGl  *gl;            /* NULL on the paintable path */
  const char  *renderer_name;

  /* The paintable path's picture, and what it was composed from. */
  GdkTexture  *texture;
  gboolean     texture_stale;
  FaMaskLook   texture_look;
  guint32      texture_tint;
  double       texture_opacity;

  /* The pointer, in widget coordinates, for the brush ring. */
  double       pointer_x;
  double       pointer_y;
  gboolean     pointer_inside;
  gboolean     space_held;
  gboolean     space_panned; /* a drag happened while Space was held */

  DragMode     drag;
  double       last_x;        /* widget: the last point of the drag */
  double       last_y;
  double       last_frame_x;  /* frame: the last point added to the stroke */
  double       last_frame_y;
  int          box_frame;
  gboolean     box_erase;
  double       box_x0;        /* frame coordinates */
  double       box_y0;
  double       box_x1;
  double       box_y1;
};

G_DEFINE_FINAL_TYPE (FaViewer, fa_viewer, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_DOCUMENT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

GtkWidget *
fa_viewer_new (void)
{
  return g_object_new (FA_TYPE_VIEWER, NULL);
}

FaDocument *
fa_viewer_get_document (FaViewer *self)
{
  g_return_val_if_fail (FA_IS_VIEWER (self), NULL);

  return self->document;
}

const char *
fa_viewer_get_renderer_name (FaViewer *self)
{
  g_return_val_if_fail (FA_IS_VIEWER (self), NULL);

  return self->renderer_name;
}

gboolean
fa_viewer_peek_current (FaViewer      *self,
                        const guint8 **rgb,
                        const guint8 **alpha,
                        int           *width,
                        int           *height)
{
  const FaWorkingClip *clip;
  const FaMaskSet *masks;
  int frame;

  *rgb = *alpha = NULL;
  *width = *height = 0;
  if (self->document == NULL)
    return FALSE;
  clip = fa_document_get_clip (self->document);
  if (clip == NULL || clip->n_frames <= 0)
    return FALSE;

  frame = CLAMP (fa_document_get_current_frame (self->document), 0, clip->n_frames - 1);
  *rgb = fa_working_clip_frame (clip, frame);
  *width = clip->width;
  *height = clip->height;
  masks = fa_document_get_masks (self->document);
  if (masks != NULL && frame < fa_mask_set_get_n_frames (masks)
      && fa_mask_set_get_width (masks) == clip->width && fa_mask_set_get_height (masks) == clip->height)
    *alpha = fa_mask_set_peek_frame (masks, frame);
  return TRUE;
}

gboolean
fa_viewer_get_placement (FaViewer          *self,
                         FaViewerPlacement *placement)
{
  double view_width = gtk_widget_get_width (GTK_WIDGET (self));
  double view_height = gtk_widget_get_height (GTK_WIDGET (self));
  FaDocumentView view;
  double width;
  double height;

  placement->scale = 1.0;
  placement->x = placement->y = 0.0;
  if (self->document == NULL || view_width <= 0 || view_height <= 0)
    return FALSE;
  width = fa_document_get_width (self->document);
  height = fa_document_get_height (self->document);
  if (width <= 0 || height <= 0)
    return FALSE;

  fa_document_get_view (self->document, &view);
  if (view.zoom > 0)
    {
      placement->scale = view.zoom;
      placement->x = view_width / 2 - view.center_x * view.zoom;
      placement->y = view_height / 2 - view.center_y * view.zoom;
    }
  else
    {
      placement->scale = MIN (view_width / width, view_height / height);
      placement->x = (view_width - width * placement->scale) / 2;
      placement->y = (view_height - height * placement->scale) / 2;
    }
  return TRUE;
}

gboolean
fa_viewer_widget_to_frame (FaViewer *self,
                           double    widget_x,
                           double    widget_y,
                           double   *frame_x,
                           double   *frame_y)
{
  FaViewerPlacement placement;
  double x;
  double y;

  g_return_val_if_fail (FA_IS_VIEWER (self), FALSE);

  if (!fa_viewer_get_placement (self, &placement))
    {
      if (frame_x != NULL)
        *frame_x = widget_x;
      if (frame_y != NULL)
        *frame_y = widget_y;
      return FALSE;
    }

  x = (widget_x - placement.x) / placement.scale;
  y = (widget_y - placement.y) / placement.scale;
  if (frame_x != NULL)
    *frame_x = x;
  if (frame_y != NULL)
    *frame_y = y;
  return x >= 0 && y >= 0
         && x < fa_document_get_width (self->document)
         && y < fa_document_get_height (self->document);
}

void
fa_viewer_frame_to_widget (FaViewer *self,
                           double    frame_x,
                           double    frame_y,
                           double   *widget_x,
                           double   *widget_y)
{
  FaViewerPlacement placement;

  g_return_if_fail (FA_IS_VIEWER (self));

  fa_viewer_get_placement (self, &placement);
  if (widget_x != NULL)
    *widget_x = placement.x + frame_x * placement.scale;
  if (widget_y != NULL)
    *widget_y = placement.y + frame_y * placement.scale;
}

gboolean
fa_viewer_get_gl_upload_counts (FaViewer *self,
                                guint    *frames,
                                guint    *masks)
{
  g_return_val_if_fail (FA_IS_VIEWER (self), FALSE);

  *frames = *masks = 0;
  if (self->gl == NULL || g_strcmp0 (self->renderer_name, "gl") != 0)
    return FALSE;
  fa_viewer_gl_get_upload_counts (self->gl, frames, masks);
  return TRUE;
}

/* ---- zoom and pan ---- */

static void
store_zoom (FaViewer *self,
            double    zoom,
            double    center_x,
            double    center_y)
{
  FaDocumentView view;

  fa_document_get_view (self->document, &view);
  view.zoom = zoom;
  view.center_x = center_x;
  view.center_y = center_y;
  fa_document_set_view (self->document, &view);
}

void
fa_viewer_zoom_at (FaViewer *self,
                   double    widget_x,
                   double    widget_y,
                   double    factor)
{
  FaViewerPlacement placement;
  double frame_x;
  double frame_y;
  double zoom;

  g_return_if_fail (FA_IS_VIEWER (self));

  if (!(factor > 0) || !isfinite (factor) || !fa_viewer_get_placement (self, &placement))
    return;

  frame_x = (widget_x - placement.x) / placement.scale;
  frame_y = (widget_y - placement.y) / placement.scale;
  zoom = CLAMP (placement.scale * factor, MIN_ZOOM, MAX_ZOOM);
  /* The frame point under the pointer stays there:
   * widget_x = width / 2 + (frame_x − center_x) · zoom. */
  store_zoom (self, zoom,
              frame_x - (widget_x - gtk_widget_get_width (GTK_WIDGET (self)) / 2.0) / zoom,
              frame_y - (widget_y - gtk_widget_get_height (GTK_WIDGET (self)) / 2.0) / zoom);
}

void
fa_viewer_zoom_fit (FaViewer *self)
{
  g_return_if_fail (FA_IS_VIEWER (self));

  if (self->document == NULL)
    return;
  store_zoom (self, 0.0,
              fa_document_get_width (self->document) / 2.0,
              fa_document_get_height (self->document) / 2.0);
}

void
fa_viewer_pan_by (FaViewer *self,
                  double    dx_widget,
                  double    dy_widget)
{
  FaViewerPlacement placement;
  double center_x;
  double center_y;

  g_return_if_fail (FA_IS_VIEWER (self));

  if (!fa_viewer_get_placement (self, &placement))
    return;

  /* Panning a fit view fixes its zoom at the fit scale: the frame then
   * moves with the hand instead of snapping back. */
  center_x = (gtk_widget_get_width (GTK_WIDGET (self)) / 2.0 - placement.x) / placement.scale;
  center_y = (gtk_widget_get_height (GTK_WIDGET (self)) / 2.0 - placement.y) / placement.scale;
  store_zoom (self, placement.scale,
              center_x - dx_widget / placement.scale,
              center_y - dy_widget / placement.scale);
}

/* ---- drawing ---- */

static void
invalidate (FaViewer *self,
            gboolean  frame,
            gboolean  mask)
{
  if (frame || mask)
    self->texture_stale = TRUE;
  if (self->gl != NULL)
    fa_viewer_gl_invalidate (self->gl, frame, mask);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
update_cursor (FaViewer *self)
{
  const char *name = "crosshair";

  if (self->drag == DRAG_PAN)
    name = "grabbing";
  else if (self->space_held)
    name = "grab";
  gtk_widget_set_cursor_from_name (GTK_WIDGET (self), name);
}

/* The CPU picture, composed again only when its frame, its mask or the
 * look changed. */
static GdkTexture *
ensure_texture (FaViewer *self)
{
  FaDocumentView view;
  const guint8 *rgb;
  const guint8 *alpha;
  int width;
  int height;
  guint8 *rgba;
  g_autoptr (GBytes) bytes = NULL;

  if (!fa_viewer_peek_current (self, &rgb, &alpha, &width, &height))
    return NULL;

  fa_document_get_view (self->document, &view);
  if (self->texture != NULL && !self->texture_stale
      && view.look == self->texture_look && view.tint_rgb == self->texture_tint
      && view.opacity == self->texture_opacity)
    return self->texture;

  rgba = g_malloc ((gsize) width * height * 4);
  fa_viewer_render_rgba (rgb, alpha, width, height, view.look, view.tint_rgb, view.opacity, rgba);
  bytes = g_bytes_new_take (rgba, (gsize) width * height * 4);
  g_clear_object (&self->texture);
  self->texture = gdk_memory_texture_new (width, height, GDK_MEMORY_R8G8B8A8, bytes, (gsize) width * 4);
  self->texture_stale = FALSE;
  self->texture_look = view.look;
  self->texture_tint = view.tint_rgb;
  self->texture_opacity = view.opacity;
  return self->texture;
}

static void
append_ring (GtkSnapshot *snapshot,
             double       x,
             double       y,
             double       radius,
             const GdkRGBA *color)
{
  GskRoundedRect ring;
  const float widths[4] = { 1, 1, 1, 1 };
  const GdkRGBA colors[4] = { *color, *color, *color, *color };

  gsk_rounded_rect_init_from_rect (&ring, &GRAPHENE_RECT_INIT (x - radius, y - radius, 2 * radius, 2 * radius),
                                   radius);
  gtk_snapshot_append_border (snapshot, &ring, widths, colors);
}

static void
append_overlays (FaViewer    *self,
                 GtkSnapshot *snapshot)
{
  /* Light and dark together stay visible over any frame. */
  static const GdkRGBA dark = { 0, 0, 0, 0.6f };
  static const GdkRGBA light = { 1, 1, 1, 0.9f };
  FaDocumentView view;
  FaViewerPlacement placement;

  if (!fa_viewer_get_placement (self, &placement))
    return;
  fa_document_get_view (self->document, &view);

  if (self->drag == DRAG_BOX)
    {
      double x0, y0, x1, y1;
      graphene_rect_t rect;
      GdkRGBA fill = { ((view.tint_rgb >> 16) & 0xff) / 255.0f, ((view.tint_rgb >> 8) & 0xff) / 255.0f,
                       (view.tint_rgb & 0xff) / 255.0f, 0.25f };
      GskRoundedRect outer;
      GskRoundedRect inner;
      const float widths[4] = { 1, 1, 1, 1 };
      const GdkRGBA darks[4] = { dark, dark, dark, dark };
      const GdkRGBA lights[4] = { light, light, light, light };

      fa_viewer_frame_to_widget (self, MIN (self->box_x0, self->box_x1), MIN (self->box_y0, self->box_y1),
                                 &x0, &y0);
      fa_viewer_frame_to_widget (self, MAX (self->box_x0, self->box_x1), MAX (self->box_y0, self->box_y1),
                                 &x1, &y1);
      rect = GRAPHENE_RECT_INIT (x0, y0, x1 - x0, y1 - y0);
      if (self->box_erase)
        fill = (GdkRGBA) { 0, 0, 0, 0.25f };
      gtk_snapshot_append_color (snapshot, &fill, &rect);
      gsk_rounded_rect_init_from_rect (&outer, &GRAPHENE_RECT_INIT (x0 - 1, y0 - 1, x1 - x0 + 2, y1 - y0 + 2), 0);
      gsk_rounded_rect_init_from_rect (&inner, &rect, 0);
      gtk_snapshot_append_border (snapshot, &outer, widths, darks);
      gtk_snapshot_append_border (snapshot, &inner, widths, lights);
    }

  if (self->pointer_inside && view.tool != FA_MASK_TOOL_BOX
      && self->drag != DRAG_PAN && !self->space_held)
    {
      double radius = MAX (view.brush_radius * placement.scale, 2.0);

      append_ring (snapshot, self->pointer_x, self->pointer_y, radius + 1, &dark);
      append_ring (snapshot, self->pointer_x, self->pointer_y, radius, &light);
    }
}

static void
fa_viewer_snapshot (GtkWidget   *widget,
                    GtkSnapshot *snapshot)
{
  FaViewer *self = FA_VIEWER (widget);
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);

  if (self->gl != NULL)
    gtk_widget_snapshot_child (widget, fa_viewer_gl_get_area (self->gl), snapshot);
  else
    {
      static const GdkRGBA background = { FA_VIEWER_BACKGROUND_R, FA_VIEWER_BACKGROUND_G,
                                          FA_VIEWER_BACKGROUND_B, 1 };
      FaViewerPlacement placement;
      GdkTexture *texture;

      gtk_snapshot_append_color (snapshot, &background, &GRAPHENE_RECT_INIT (0, 0, width, height));
      texture = ensure_texture (self);
      /* GTK 4.8 has no way to ask for nearest-neighbour scaling of a
       * texture (gtk_snapshot_append_scaled_texture is 4.10), so zoomed
       * in pixels blur here; the GL path keeps them sharp. */
      if (texture != NULL && fa_viewer_get_placement (self, &placement))
        gtk_snapshot_append_texture (snapshot, texture,
                                     &GRAPHENE_RECT_INIT (placement.x, placement.y,
                                                          gdk_texture_get_width (texture) * placement.scale,
                                                          gdk_texture_get_height (texture) * placement.scale));
    }

  if (self->document != NULL)
    append_overlays (self, snapshot);
}

/* ---- pointer tools ---- */

void
fa_viewer_pointer_down (FaViewer *self,
                        double    widget_x,
                        double    widget_y,
                        gboolean  alternate)
{
  FaDocumentView view;
  double frame_x;
  double frame_y;
  int frame;

  g_return_if_fail (FA_IS_VIEWER (self));

  /* A press without a release (a lost grab) closes what it started. */
  if (self->drag == DRAG_STROKE || self->drag == DRAG_BOX)
    fa_viewer_pointer_up (self, self->last_x, self->last_y);

  self->pointer_x = widget_x;
  self->pointer_y = widget_y;
  /* A stroke someone else has open (another view of the document) comes
   * first: the document takes one at a time. */
  if (self->document == NULL || fa_document_stroke_is_active (self->document))
    return;

  fa_viewer_widget_to_frame (self, widget_x, widget_y, &frame_x, &frame_y);
  fa_document_get_view (self->document, &view);
  frame = fa_document_get_current_frame (self->document);
  self->last_x = widget_x;
  self->last_y = widget_y;

  if (view.tool == FA_MASK_TOOL_BOX)
    {
      self->drag = DRAG_BOX;
      self->box_frame = frame;
      self->box_erase = alternate;
      self->box_x0 = self->box_x1 = frame_x;
      self->box_y0 = self->box_y1 = frame_y;
      gtk_widget_queue_draw (GTK_WIDGET (self));
    }
  else
    {
      /* Points may lie outside the frame: a stroke that starts beyond an
       * edge still paints the part of it that is inside. */
      self->drag = DRAG_STROKE;
      fa_document_stroke_begin (self->document, frame, view.tool == FA_MASK_TOOL_ERASER || alternate);
      fa_document_stroke_add_point (self->document, frame_x, frame_y);
      self->last_frame_x = frame_x;
      self->last_frame_y = frame_y;
    }
}

void
fa_viewer_pointer_motion (FaViewer *self,
                          double    widget_x,
                          double    widget_y)
{
  double frame_x;
  double frame_y;

  g_return_if_fail (FA_IS_VIEWER (self));

  self->pointer_x = widget_x;
  self->pointer_y = widget_y;
  /* A drag goes on beyond the widget; the ring shows only over it. */
  self->pointer_inside = widget_x >= 0 && widget_y >= 0
                         && widget_x < gtk_widget_get_width (GTK_WIDGET (self))
                         && widget_y < gtk_widget_get_height (GTK_WIDGET (self));
  self->last_x = widget_x;
  self->last_y = widget_y;
  if (self->document == NULL)
    return;

  fa_viewer_widget_to_frame (self, widget_x, widget_y, &frame_x, &frame_y);
  switch (self->drag)
    {
    case DRAG_STROKE:
      if (frame_x != self->last_frame_x || frame_y != self->last_frame_y)
        {
          fa_document_stroke_add_point (self->document, frame_x, frame_y);
          self->last_frame_x = frame_x;
          self->last_frame_y = frame_y;
        }
      break;

    case DRAG_BOX:
      self->box_x1 = frame_x;
      self->box_y1 = frame_y;
      break;

    case DRAG_NONE:
    case DRAG_PAN:
    default:
      break;
    }
  /* The ring (and the box) follow the pointer. */
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
fa_viewer_pointer_up (FaViewer *self,
                      double    widget_x,
                      double    widget_y)
{
  DragMode drag;

  g_return_if_fail (FA_IS_VIEWER (self));

  if (self->drag == DRAG_STROKE || self->drag == DRAG_BOX)
    fa_viewer_pointer_motion (self, widget_x, widget_y);

  drag = self->drag;
  self->drag = DRAG_NONE;
  if (self->document == NULL)
    return;

  if (drag == DRAG_STROKE)
    fa_document_stroke_end (self->document);
  else if (drag == DRAG_BOX && !fa_document_stroke_is_active (self->document))
    fa_document_apply_box (self->document, self->box_frame, self->box_x0, self->box_y0,
                           self->box_x1, self->box_y1, self->box_erase);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* Ends a stroke or box without a release, on the document it began on. */
static void
finish_drag (FaViewer *self)
{
  if (self->drag == DRAG_STROKE || self->drag == DRAG_BOX)
    fa_viewer_pointer_up (self, self->last_x, self->last_y);
  self->drag = DRAG_NONE;
}

/* ---- event controllers ---- */

static void
drag_begin_cb (GtkGestureDrag *gesture,
               double          x,
               double          y,
               FaViewer       *self)
{
  guint button = gtk_gesture_single_get_current_button (GTK_GESTURE_SINGLE (gesture));
  GdkModifierType state = gtk_event_controller_get_current_event_state (GTK_EVENT_CONTROLLER (gesture));

  if (button == GDK_BUTTON_MIDDLE || (button == GDK_BUTTON_PRIMARY && self->space_held))
    {
      gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
      self->drag = DRAG_PAN;
      self->space_panned = self->space_held;
      self->last_x = x;
      self->last_y = y;
      update_cursor (self);
      gtk_widget_queue_draw (GTK_WIDGET (self));
    }
  else if ((button == GDK_BUTTON_PRIMARY || button == GDK_BUTTON_SECONDARY) && self->document != NULL)
    {
      gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
      gtk_widget_grab_focus (GTK_WIDGET (self));
      fa_viewer_pointer_down (self, x, y, button == GDK_BUTTON_SECONDARY || (state & GDK_ALT_MASK) != 0);
    }
  else
    gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_DENIED);
}

static void
drag_update_cb (GtkGestureDrag *gesture,
                double          offset_x,
                double          offset_y,
                FaViewer       *self)
{
  double start_x;
  double start_y;
  double x;
  double y;

  if (!gtk_gesture_drag_get_start_point (gesture, &start_x, &start_y))
    return;
  x = start_x + offset_x;
  y = start_y + offset_y;

  if (self->drag == DRAG_PAN)
    {
      fa_viewer_pan_by (self, x - self->last_x, y - self->last_y);
      self->last_x = x;
      self->last_y = y;
    }
  else if (self->drag != DRAG_NONE)
    fa_viewer_pointer_motion (self, x, y);
}

static void
drag_end_cb (GtkGestureDrag *gesture,
             double          offset_x,
             double          offset_y,
             FaViewer       *self)
{
  double start_x;
  double start_y;

  if (self->drag == DRAG_PAN)
    {
      self->drag = DRAG_NONE;
      update_cursor (self);
      gtk_widget_queue_draw (GTK_WIDGET (self));
    }
  else if (self->drag != DRAG_NONE && gtk_gesture_drag_get_start_point (gesture, &start_x, &start_y))
    fa_viewer_pointer_up (self, start_x + offset_x, start_y + offset_y);
}

static void
drag_cancel_cb (GtkGesture       *gesture,
                GdkEventSequence *sequence,
                FaViewer         *self)
{
  finish_drag (self);
  update_cursor (self);
}

static void
motion_cb (GtkEventControllerMotion *controller,
           double                    x,
           double                    y,
           FaViewer                 *self)
{
  self->pointer_x = x;
  self->pointer_y = y;
  self->pointer_inside = TRUE;
  if (self->document != NULL)
    gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
leave_cb (GtkEventControllerMotion *controller,
          FaViewer                 *self)
{
  self->pointer_inside = FALSE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static gboolean
scroll_cb (GtkEventControllerScroll *controller,
           double                    dx,
           double                    dy,
           FaViewer                 *self)
{
  GdkModifierType state = gtk_event_controller_get_current_event_state (GTK_EVENT_CONTROLLER (controller));
  gboolean wheel = gtk_event_controller_scroll_get_unit (controller) == GDK_SCROLL_UNIT_WHEEL;
  FaDocumentView view;

  if (self->document == NULL)
    return FALSE;

  if (state & GDK_CONTROL_MASK)
    {
      double notches = wheel ? dy : dy / SURFACE_PIXELS_PER_NOTCH;
      double x = self->pointer_inside ? self->pointer_x : gtk_widget_get_width (GTK_WIDGET (self)) / 2.0;
      double y = self->pointer_inside ? self->pointer_y : gtk_widget_get_height (GTK_WIDGET (self)) / 2.0;

      fa_viewer_zoom_at (self, x, y, pow (WHEEL_ZOOM_STEP, -notches));
      return TRUE;
    }

  /* A fit view has nothing to scroll to: leave the wheel to whatever is
   * around the viewer. */
  fa_document_get_view (self->document, &view);
  if (view.zoom <= 0)
    return FALSE;
  fa_viewer_pan_by (self, -dx * (wheel ? WHEEL_PAN_STEP : 1.0), -dy * (wheel ? WHEEL_PAN_STEP : 1.0));
  return TRUE;
}

static gboolean
key_pressed_cb (GtkEventControllerKey *controller,
                guint                  keyval,
                guint                  keycode,
                GdkModifierType        state,
                FaViewer              *self)
{
  /* Space held over the viewer is the hand, as in compositing apps; a tap
   * with no drag is still play and pause (on release, below). Elsewhere
   * Space goes straight to the window's play action. */
  if (keyval == GDK_KEY_space && (self->pointer_inside || self->drag == DRAG_PAN)
      && (state & gtk_accelerator_get_default_mod_mask ()) == 0)
    {
      if (!self->space_held)
        {
          self->space_held = TRUE;
          self->space_panned = FALSE;
          update_cursor (self);
          gtk_widget_queue_draw (GTK_WIDGET (self));
        }
      return TRUE;
    }
  return FALSE;
}

static void
key_released_cb (GtkEventControllerKey *controller,
                 guint                  keyval,
                 guint                  keycode,
                 GdkModifierType        state,
                 FaViewer              *self)
{
  if (keyval == GDK_KEY_space && self->space_held)
    {
      self->space_held = FALSE;
      update_cursor (self);
      gtk_widget_queue_draw (GTK_WIDGET (self));
      if (controller != NULL && !self->space_panned)
        gtk_widget_activate_action (GTK_WIDGET (self), "win.play", NULL);
    }
}

static void
focus_leave_cb (GtkEventControllerFocus *controller,
                FaViewer                *self)
{
  key_released_cb (NULL, GDK_KEY_space, 0, 0, self);
}

/* ---- the document ---- */

static void
masks_changed_cb (FaDocument *document,
                  int         first_frame,
                  int         last_frame,
                  FaViewer   *self)
{
  int frame = fa_document_get_current_frame (document);

  if (frame >= first_frame && frame <= last_frame)
    invalidate (self, FALSE, TRUE);
}

static void
view_changed_cb (FaDocument *document,
                 FaViewer   *self)
{
  invalidate (self, FALSE, FALSE);
}

static void
current_frame_cb (FaDocument *document,
                  GParamSpec *pspec,
                  FaViewer   *self)
{
  invalidate (self, TRUE, TRUE);
}

static void
disconnect_document (FaViewer *self)
{
  if (self->document == NULL)
    return;

  finish_drag (self);
  g_clear_signal_handler (&self->masks_changed_id, self->document);
  g_clear_signal_handler (&self->view_changed_id, self->document);
  g_clear_signal_handler (&self->current_frame_id, self->document);
  g_clear_object (&self->document);
}

void
fa_viewer_set_document (FaViewer   *self,
                        FaDocument *document)
{
  g_return_if_fail (FA_IS_VIEWER (self));
  g_return_if_fail (document == NULL || FA_IS_DOCUMENT (document));

  if (self->document == document)
    return;

  disconnect_document (self);
  if (document != NULL)
    {
      self->document = g_object_ref (document);
      self->masks_changed_id = g_signal_connect (document, "masks-changed", G_CALLBACK (masks_changed_cb), self);
      self->view_changed_id = g_signal_connect (document, "view-changed", G_CALLBACK (view_changed_cb), self);
      self->current_frame_id = g_signal_connect (document, "notify::current-frame",
                                                 G_CALLBACK (current_frame_cb), self);
    }

  g_clear_object (&self->texture);
  if (self->gl != NULL)
    fa_viewer_gl_reset (self->gl);
  invalidate (self, TRUE, TRUE);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DOCUMENT]);
}

/* ---- the widget ---- */

static void
log_renderer (const char *name,
              const char *detail)
{
  /* Once per process, and again only if another viewer ends up on the
   * other path. */
  static const char *logged;

  if (logged == name)
    return;
  logged = name;
  if (g_strcmp0 (name, "gl") == 0)
    g_info ("viewer draws with OpenGL (%s)", detail);
  else
    g_info ("viewer draws on the CPU: %s", detail);
}

static void
drop_gl (FaViewer *self)
{
  GtkWidget *area;

  if (self->gl == NULL)
    return;
  /* Unparenting unrealizes the area while the handlers that free its GL
   * objects are still connected; they go before the area does. */
  area = g_object_ref (fa_viewer_gl_get_area (self->gl));
  gtk_widget_unparent (area);
  g_clear_pointer (&self->gl, fa_viewer_gl_free);
  g_object_unref (area);
}

static void
fa_viewer_realize (GtkWidget *widget)
{
  FaViewer *self = FA_VIEWER (widget);
  g_autofree char *reason = NULL;

  GTK_WIDGET_CLASS (fa_viewer_parent_class)->realize (widget);

  if (self->gl == NULL)
    {
      if (self->renderer_name == NULL)
        {
          self->renderer_name = "paintable";
          log_renderer (self->renderer_name, "FA_VIEWER_GL=0 is set");
        }
      return;
    }

  if (fa_viewer_gl_start (self->gl, &reason))
    {
      self->renderer_name = "gl";
      log_renderer (self->renderer_name, fa_viewer_gl_get_description (self->gl));
    }
  else
    {
      drop_gl (self);
      self->renderer_name = "paintable";
      log_renderer (self->renderer_name, reason);
      invalidate (self, TRUE, TRUE);
    }
}

static void
fa_viewer_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  FaViewer *self = FA_VIEWER (object);

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
fa_viewer_set_property (GObject      *object,
                        guint         prop_id,
                        const GValue *value,
                        GParamSpec   *pspec)
{
  FaViewer *self = FA_VIEWER (object);

  switch (prop_id)
    {
    case PROP_DOCUMENT:
      fa_viewer_set_document (self, g_value_get_object (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
fa_viewer_dispose (GObject *object)
{
  FaViewer *self = FA_VIEWER (object);

  disconnect_document (self);
  drop_gl (self);
  g_clear_object (&self->texture);

  G_OBJECT_CLASS (fa_viewer_parent_class)->dispose (object);
}

static void
fa_viewer_class_init (FaViewerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = fa_viewer_get_property;
  object_class->set_property = fa_viewer_set_property;
  object_class->dispose = fa_viewer_dispose;

  widget_class->realize = fa_viewer_realize;
  widget_class->snapshot = fa_viewer_snapshot;

  properties[PROP_DOCUMENT] =
    g_param_spec_object ("document", NULL, NULL,
                         FA_TYPE_DOCUMENT,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "viewer");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
fa_viewer_init (FaViewer *self)
{
  GtkWidget *widget = GTK_WIDGET (self);
  GtkGesture *drag;
  GtkEventController *controller;

  gtk_widget_set_focusable (widget, TRUE);
  gtk_widget_set_overflow (widget, GTK_OVERFLOW_HIDDEN);
  gtk_widget_set_hexpand (widget, TRUE);
  gtk_widget_set_vexpand (widget, TRUE);
  gtk_widget_set_size_request (widget, 120, 68);
  update_cursor (self);

  if (g_strcmp0 (g_getenv ("FA_VIEWER_GL"), "0") != 0)
    {
      self->gl = fa_viewer_gl_new (self);
      gtk_widget_set_parent (fa_viewer_gl_get_area (self->gl), widget);
    }

  drag = gtk_gesture_drag_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (drag), 0);
  g_signal_connect (drag, "drag-begin", G_CALLBACK (drag_begin_cb), self);
  g_signal_connect (drag, "drag-update", G_CALLBACK (drag_update_cb), self);
  g_signal_connect (drag, "drag-end", G_CALLBACK (drag_end_cb), self);
  g_signal_connect (drag, "cancel", G_CALLBACK (drag_cancel_cb), self);
  gtk_widget_add_controller (widget, GTK_EVENT_CONTROLLER (drag));

  controller = gtk_event_controller_motion_new ();
  g_signal_connect (controller, "enter", G_CALLBACK (motion_cb), self);
  g_signal_connect (controller, "motion", G_CALLBACK (motion_cb), self);
  g_signal_connect (controller, "leave", G_CALLBACK (leave_cb), self);
  gtk_widget_add_controller (widget, controller);

  controller = gtk_event_controller_scroll_new (GTK_EVENT_CONTROLLER_SCROLL_BOTH_AXES);
  g_signal_connect (controller, "scroll", G_CALLBACK (scroll_cb), self);
  gtk_widget_add_controller (widget, controller);

  controller = gtk_event_controller_key_new ();
  g_signal_connect (controller, "key-pressed", G_CALLBACK (key_pressed_cb), self);
  g_signal_connect (controller, "key-released", G_CALLBACK (key_released_cb), self);
  gtk_widget_add_controller (widget, controller);

  controller = gtk_event_controller_focus_new ();
  g_signal_connect (controller, "leave", G_CALLBACK (focus_leave_cb), self);
  gtk_widget_add_controller (widget, controller);
}

/* ---- placeholders for part 2's results and compare ---- */
void fa_viewer_set_show (FaViewer *self, FaViewerShow show) { (void) self; (void) show; }
FaViewerShow fa_viewer_get_show (FaViewer *self) { (void) self; return FA_VIEWER_SHOW_RESULT; }
void fa_viewer_set_split_position (FaViewer *self, double position) { (void) self; (void) position; }
double fa_viewer_get_split_position (FaViewer *self) { (void) self; return 0.5; }
gboolean fa_viewer_shows_result_at (FaViewer *self, double widget_x, double widget_y) { (void) self; (void) widget_x; (void) widget_y; return FALSE; }
void fa_viewer_set_live_frame (FaViewer *self, const guint8 *rgb, int width, int height) { (void) self; (void) rgb; (void) width; (void) height; }
gboolean fa_viewer_has_live_frame (FaViewer *self) { (void) self; return FALSE; }
