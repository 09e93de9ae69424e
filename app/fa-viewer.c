/* fa-viewer.c: the frame viewer: the current working frame with its mask,
 * fit or zoomed and panned, and the pointer tools that paint the mask; the
 * current result (or a running job's live look) in place of the source,
 * or beside it (split), for comparing.
 *
 * The picture comes from a GtkGLArea child (fa-viewer-gl.c) when one gets
 * a usable context, else from textures drawn here: the source with its
 * mask composed on the CPU (fa-viewer-render.c) and the result, each
 * clipped to its side of the split. Either way the overlays (the box being
 * dragged, the brush ring, the split's divider) are drawn here over it, so
 * both paths share them.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "fa-viewer"

#include "config.h"

#include <math.h>

#include <glib/gi18n.h>

#include "fa-document-edit.h"
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

/* A press this close to the split's divider (widget pixels) drags it. */
#define DIVIDER_GRAB 8.0

typedef enum {
  DRAG_NONE,
  DRAG_STROKE,
  DRAG_BOX,
  DRAG_PAN,
  DRAG_DIVIDER,
} DragMode;

struct _FaViewer
{
  GtkWidget    parent_instance;

  FaDocument  *document;
  gulong       masks_changed_id;
  gulong       view_changed_id;
  gulong       current_frame_id;
  gulong       results_changed_id;
  gulong       current_result_id;

  FaViewerShow show;
  FaViewerShow show_before_source; /* where the B key goes back to */
  double       split_position;

  /* The running job's live look (owned), shown in place of the result. */
  guint8      *live_rgb;
  int          live_width;
  int          live_height;
  /* Bumped whenever the result's pixels may change under the same
   * pointer: the paths compare it to decide on an upload. */
  guint        result_serial;

  FaViewerGl  *gl;            /* NULL on the paintable path */
  const char  *renderer_name;

  /* The paintable path's picture, and what it was composed from. */
  GdkTexture  *texture;
  gboolean     texture_stale;
  FaMaskLook   texture_look;
  guint32      texture_tint;
  double       texture_opacity;
  /* …and its result picture, with what it was made from. */
  GdkTexture  *result_texture;
  const guint8 *result_texture_pixels;
  guint        result_texture_serial;
  guint        result_texture_count;

  const char  *cursor_name;
  const char  *description;   /* the accessible one set last */

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
  double       divider_offset; /* widget: the press point from the divider */
};

G_DEFINE_FINAL_TYPE (FaViewer, fa_viewer, GTK_TYPE_WIDGET)

G_DEFINE_ENUM_TYPE (FaViewerShow, fa_viewer_show,
                    G_DEFINE_ENUM_VALUE (FA_VIEWER_SHOW_RESULT, "result"),
                    G_DEFINE_ENUM_VALUE (FA_VIEWER_SHOW_SOURCE, "source"),
                    G_DEFINE_ENUM_VALUE (FA_VIEWER_SHOW_SPLIT, "split"))

enum {
  PROP_0,
  PROP_DOCUMENT,
  PROP_SHOW,
  PROP_SPLIT_POSITION,
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

/* ---- what shows where ---- */

const guint8 *
fa_viewer_peek_result (FaViewer *self,
                       int      *width,
                       int      *height,
                       guint    *serial)
{
  const guint8 *rgb = NULL;
  int w = 0;
  int h = 0;

  if (serial != NULL)
    *serial = self->result_serial;
  if (self->document != NULL && fa_document_get_n_frames (self->document) > 0)
    {
      if (self->live_rgb != NULL)
        {
          rgb = self->live_rgb;
          w = self->live_width;
          h = self->live_height;
        }
      else
        rgb = fa_document_get_result_frame (self->document, fa_document_get_current_frame (self->document),
                                            &w, &h);
    }
  if (rgb == NULL || w <= 0 || h <= 0)
    {
      rgb = NULL;
      w = h = 0;
    }
  if (width != NULL)
    *width = w;
  if (height != NULL)
    *height = h;
  return rgb;
}

double
fa_viewer_get_result_start (FaViewer *self)
{
  if (self->show == FA_VIEWER_SHOW_SOURCE || fa_viewer_peek_result (self, NULL, NULL, NULL) == NULL)
    return FA_VIEWER_RESULT_NOWHERE;
  return self->show == FA_VIEWER_SHOW_SPLIT ? self->split_position : 0.0;
}

/* The divider shows, and can be dragged, only where there is something to
 * compare: elsewhere the whole frame is the source and paints as ever. */
static gboolean
get_divider (FaViewer          *self,
             FaViewerPlacement *placement,
             double            *divider_x)
{
  if (self->show != FA_VIEWER_SHOW_SPLIT || fa_viewer_peek_result (self, NULL, NULL, NULL) == NULL
      || !fa_viewer_get_placement (self, placement))
    return FALSE;
  *divider_x = placement->x + self->split_position * fa_document_get_width (self->document) * placement->scale;
  return TRUE;
}

static gboolean
is_on_divider (FaViewer *self,
               double    widget_x,
               double    widget_y)
{
  FaViewerPlacement placement;
  double divider_x;

  return get_divider (self, &placement, &divider_x)
         && fabs (widget_x - divider_x) <= DIVIDER_GRAB
         && widget_y >= placement.y
         && widget_y < placement.y + fa_document_get_height (self->document) * placement.scale;
}

gboolean
fa_viewer_shows_result_at (FaViewer *self,
                           double    widget_x,
                           double    widget_y)
{
  double frame_x;
  double start;

  g_return_val_if_fail (FA_IS_VIEWER (self), FALSE);

  if (!fa_viewer_widget_to_frame (self, widget_x, widget_y, &frame_x, NULL))
    return FALSE;
  start = fa_viewer_get_result_start (self);
  return start <= 1.0 && frame_x >= start * fa_document_get_width (self->document);
}

guint
fa_viewer_get_result_uploads (FaViewer *self)
{
  g_return_val_if_fail (FA_IS_VIEWER (self), 0);

  if (self->gl != NULL && g_strcmp0 (self->renderer_name, "gl") == 0)
    return fa_viewer_gl_get_result_uploads (self->gl);
  return self->result_texture_count;
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

/* The result side changed: another result, one loaded, a live look, a
 * mode or split. */
static void
invalidate_result (FaViewer *self)
{
  self->result_serial++;
  invalidate (self, FALSE, FALSE);
}

static void
update_cursor (FaViewer *self)
{
  const char *name = "crosshair";

  if (self->drag == DRAG_PAN)
    name = "grabbing";
  else if (self->space_held)
    name = "grab";
  else if (self->drag == DRAG_DIVIDER
           || (self->drag == DRAG_NONE && self->pointer_inside
               && is_on_divider (self, self->pointer_x, self->pointer_y)))
    name = "col-resize";
  /* Set on change only: the pointer moves often. */
  if (name != self->cursor_name)
    {
      self->cursor_name = name;
      gtk_widget_set_cursor_from_name (GTK_WIDGET (self), name);
    }
}

/* What a screen reader says the picture is. */
static void
update_description (FaViewer *self)
{
  const char *description;
  double start = fa_viewer_get_result_start (self);

  if (start > 1.0)
    description = _("The source frame");
  else if (start > 0.0)
    description = self->live_rgb != NULL ? _("The source left of the divider, the running edit right of it")
                                         : _("The source left of the divider, the result right of it");
  else
    description = self->live_rgb != NULL ? _("The running edit") : _("The edit result");
  if (description == self->description)
    return;
  self->description = description;
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, description, -1);
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

/* The CPU path's result picture, made again only when another result
 * frame or live look shows. */
static GdkTexture *
ensure_result_texture (FaViewer *self)
{
  const guint8 *pixels;
  int width;
  int height;
  guint serial;
  g_autoptr (GBytes) bytes = NULL;

  pixels = fa_viewer_peek_result (self, &width, &height, &serial);
  if (pixels == NULL)
    return NULL;
  if (self->result_texture != NULL && pixels == self->result_texture_pixels
      && serial == self->result_texture_serial
      && width == gdk_texture_get_width (self->result_texture)
      && height == gdk_texture_get_height (self->result_texture))
    return self->result_texture;

  /* Copied: the document may drop its frames before the texture goes. */
  bytes = g_bytes_new (pixels, (gsize) width * height * 3);
  g_clear_object (&self->result_texture);
  self->result_texture = gdk_memory_texture_new (width, height, GDK_MEMORY_R8G8B8, bytes, (gsize) width * 3);
  self->result_texture_pixels = pixels;
  self->result_texture_serial = serial;
  self->result_texture_count++;
  return self->result_texture;
}

/* The CPU path's picture: the source with its mask left of where the
 * result starts, the result stretched over the frame's rectangle right of
 * it, each clipped to its side. */
static void
append_picture (FaViewer    *self,
                GtkSnapshot *snapshot)
{
  FaViewerPlacement placement;
  graphene_rect_t rect;
  GdkTexture *result = NULL;
  double start = fa_viewer_get_result_start (self);
  gboolean source_shows;
  gboolean result_shows;

  if (!fa_viewer_get_placement (self, &placement))
    return;
  rect = GRAPHENE_RECT_INIT (placement.x, placement.y,
                             fa_document_get_width (self->document) * placement.scale,
                             fa_document_get_height (self->document) * placement.scale);
  if (start < 1.0)
    result = ensure_result_texture (self);
  result_shows = result != NULL;
  source_shows = !result_shows || start > 0.0;

  /* GTK 4.8 has no way to ask for nearest-neighbour scaling of a
   * texture (gtk_snapshot_append_scaled_texture is 4.10), so zoomed
   * in pixels blur here; the GL path keeps them sharp. */
  if (source_shows)
    {
      GdkTexture *texture = ensure_texture (self);

      if (result_shows)
        gtk_snapshot_push_clip (snapshot, &GRAPHENE_RECT_INIT (rect.origin.x, rect.origin.y,
                                                               rect.size.width * start, rect.size.height));
      if (texture != NULL)
        gtk_snapshot_append_texture (snapshot, texture, &rect);
      if (result_shows)
        gtk_snapshot_pop (snapshot);
    }
  if (result_shows)
    {
      if (source_shows)
        gtk_snapshot_push_clip (snapshot, &GRAPHENE_RECT_INIT (rect.origin.x + rect.size.width * start,
                                                               rect.origin.y,
                                                               rect.size.width * (1.0 - start),
                                                               rect.size.height));
      gtk_snapshot_append_texture (snapshot, result, &rect);
      if (source_shows)
        gtk_snapshot_pop (snapshot);
    }
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

/* The split's divider: a light line edged in dark over the frame's height,
 * and a grip in the middle of the part in view. */
static void
append_divider (FaViewer                *self,
                GtkSnapshot             *snapshot,
                const FaViewerPlacement *placement,
                double                   divider_x)
{
  static const GdkRGBA dark = { 0, 0, 0, 0.6f };
  static const GdkRGBA light = { 1, 1, 1, 0.95f };
  const float widths[4] = { 1, 1, 1, 1 };
  const GdkRGBA darks[4] = { dark, dark, dark, dark };
  double top = MAX (placement->y, 0.0);
  double bottom = MIN (placement->y + fa_document_get_height (self->document) * placement->scale,
                       (double) gtk_widget_get_height (GTK_WIDGET (self)));
  double middle;
  GskRoundedRect grip;

  if (bottom <= top)
    return;
  middle = (top + bottom) / 2;
  gtk_snapshot_append_color (snapshot, &dark, &GRAPHENE_RECT_INIT (divider_x - 2, top, 4, bottom - top));
  gtk_snapshot_append_color (snapshot, &light, &GRAPHENE_RECT_INIT (divider_x - 1, top, 2, bottom - top));

  gsk_rounded_rect_init_from_rect (&grip, &GRAPHENE_RECT_INIT (divider_x - 6, middle - 18, 12, 36), 6);
  gtk_snapshot_push_rounded_clip (snapshot, &grip);
  gtk_snapshot_append_color (snapshot, &light, &grip.bounds);
  gtk_snapshot_pop (snapshot);
  gtk_snapshot_append_border (snapshot, &grip, widths, darks);
  for (int i = -1; i <= 1; i++)
    gtk_snapshot_append_color (snapshot, &dark, &GRAPHENE_RECT_INIT (divider_x - 3, middle + i * 5 - 0.5, 6, 1));
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
  double divider_x;

  if (!fa_viewer_get_placement (self, &placement))
    return;
  fa_document_get_view (self->document, &view);

  if (get_divider (self, &placement, &divider_x))
    append_divider (self, snapshot, &placement, divider_x);

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

  /* Over the divider a press drags it: no ring promising paint there. */
  if (self->pointer_inside && view.tool != FA_MASK_TOOL_BOX
      && (self->drag == DRAG_NONE || self->drag == DRAG_STROKE) && !self->space_held
      && !(self->drag == DRAG_NONE && is_on_divider (self, self->pointer_x, self->pointer_y)))
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

      gtk_snapshot_append_color (snapshot, &background, &GRAPHENE_RECT_INIT (0, 0, width, height));
      append_picture (self, snapshot);
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
  if (self->drag == DRAG_STROKE || self->drag == DRAG_BOX || self->drag == DRAG_DIVIDER)
    fa_viewer_pointer_up (self, self->last_x, self->last_y);

  self->pointer_x = widget_x;
  self->pointer_y = widget_y;
  self->last_x = widget_x;
  self->last_y = widget_y;

  if (is_on_divider (self, widget_x, widget_y))
    {
      FaViewerPlacement placement;
      double divider_x;

      get_divider (self, &placement, &divider_x);
      self->drag = DRAG_DIVIDER;
      self->divider_offset = widget_x - divider_x;
      update_cursor (self);
      gtk_widget_queue_draw (GTK_WIDGET (self));
      return;
    }

  /* A stroke someone else has open (another view of the document) comes
   * first: the document takes one at a time. */
  if (self->document == NULL || fa_document_stroke_is_active (self->document))
    return;

  fa_viewer_widget_to_frame (self, widget_x, widget_y, &frame_x, &frame_y);
  fa_document_get_view (self->document, &view);
  frame = fa_document_get_current_frame (self->document);

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

    case DRAG_DIVIDER:
      {
        FaViewerPlacement placement;

        /* The divider keeps its distance from the hand: a grab beside it
         * does not make it jump. */
        if (fa_viewer_get_placement (self, &placement))
          fa_viewer_set_split_position (self, (widget_x - self->divider_offset - placement.x)
                                                / (fa_document_get_width (self->document) * placement.scale));
      }
      break;

    case DRAG_NONE:
    case DRAG_PAN:
    default:
      break;
    }
  /* The ring (and the box) follow the pointer. */
  update_cursor (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
fa_viewer_pointer_up (FaViewer *self,
                      double    widget_x,
                      double    widget_y)
{
  DragMode drag;

  g_return_if_fail (FA_IS_VIEWER (self));

  if (self->drag == DRAG_STROKE || self->drag == DRAG_BOX || self->drag == DRAG_DIVIDER)
    fa_viewer_pointer_motion (self, widget_x, widget_y);

  drag = self->drag;
  self->drag = DRAG_NONE;
  update_cursor (self);
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
  if (self->drag == DRAG_STROKE || self->drag == DRAG_BOX || self->drag == DRAG_DIVIDER)
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
  update_cursor (self);
  if (self->document != NULL)
    gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
leave_cb (GtkEventControllerMotion *controller,
          FaViewer                 *self)
{
  self->pointer_inside = FALSE;
  update_cursor (self);
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
  /* The result's frame changes with it; its pointer says so to the paths. */
  invalidate (self, TRUE, TRUE);
  update_description (self);
  update_cursor (self);
}

static void
results_changed_cb (FaDocument *document,
                    FaViewer   *self)
{
  invalidate_result (self);
  update_description (self);
  update_cursor (self);
}

static void
current_result_cb (FaDocument *document,
                   GParamSpec *pspec,
                   FaViewer   *self)
{
  results_changed_cb (document, self);
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
  g_clear_signal_handler (&self->results_changed_id, self->document);
  g_clear_signal_handler (&self->current_result_id, self->document);
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
      self->results_changed_id = g_signal_connect (document, "results-changed",
                                                   G_CALLBACK (results_changed_cb), self);
      self->current_result_id = g_signal_connect (document, "notify::current-result",
                                                  G_CALLBACK (current_result_cb), self);
    }

  /* A live look belongs to a job on the document it came from. */
  g_clear_pointer (&self->live_rgb, g_free);
  self->live_width = self->live_height = 0;
  g_clear_object (&self->texture);
  g_clear_object (&self->result_texture);
  self->result_texture_pixels = NULL;
  if (self->gl != NULL)
    fa_viewer_gl_reset (self->gl);
  invalidate (self, TRUE, TRUE);
  invalidate_result (self);
  update_description (self);
  update_cursor (self);
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

    case PROP_SHOW:
      g_value_set_enum (value, self->show);
      break;

    case PROP_SPLIT_POSITION:
      g_value_set_double (value, self->split_position);
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

    case PROP_SHOW:
      fa_viewer_set_show (self, g_value_get_enum (value));
      break;

    case PROP_SPLIT_POSITION:
      fa_viewer_set_split_position (self, g_value_get_double (value));
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
  g_clear_object (&self->result_texture);
  g_clear_pointer (&self->live_rgb, g_free);

  G_OBJECT_CLASS (fa_viewer_parent_class)->dispose (object);
}

static void
toggle_source_action (GtkWidget  *widget,
                      const char *action_name,
                      GVariant   *parameter)
{
  fa_viewer_toggle_source (FA_VIEWER (widget));
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
  properties[PROP_SHOW] =
    g_param_spec_enum ("show", NULL, NULL,
                       FA_TYPE_VIEWER_SHOW, FA_VIEWER_SHOW_RESULT,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SPLIT_POSITION] =
    g_param_spec_double ("split-position", NULL, NULL,
                         0.0, 1.0, 0.5,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_install_action (widget_class, "viewer.toggle-source", NULL, toggle_source_action);

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
  self->show = self->show_before_source = FA_VIEWER_SHOW_RESULT;
  self->split_position = 0.5;
  update_cursor (self);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL, _("Viewer"), -1);
  update_description (self);

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

/* ---- results and compare ---- */

FaViewerShow
fa_viewer_get_show (FaViewer *self)
{
  g_return_val_if_fail (FA_IS_VIEWER (self), FA_VIEWER_SHOW_RESULT);

  return self->show;
}

void
fa_viewer_set_show (FaViewer     *self,
                    FaViewerShow  show)
{
  g_return_if_fail (FA_IS_VIEWER (self));
  g_return_if_fail (show >= FA_VIEWER_SHOW_RESULT && show <= FA_VIEWER_SHOW_SPLIT);

  if (self->show == show)
    return;
  /* A divider drag ends with the split it was in. */
  if (self->drag == DRAG_DIVIDER)
    self->drag = DRAG_NONE;
  if (show != FA_VIEWER_SHOW_SOURCE)
    self->show_before_source = show;
  self->show = show;
  /* The source may have been left stale under a full result. */
  invalidate (self, FALSE, FALSE);
  update_description (self);
  update_cursor (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SHOW]);
}

void
fa_viewer_toggle_source (FaViewer *self)
{
  g_return_if_fail (FA_IS_VIEWER (self));

  fa_viewer_set_show (self, self->show == FA_VIEWER_SHOW_SOURCE ? self->show_before_source
                                                               : FA_VIEWER_SHOW_SOURCE);
}

double
fa_viewer_get_split_position (FaViewer *self)
{
  g_return_val_if_fail (FA_IS_VIEWER (self), 0.5);

  return self->split_position;
}

void
fa_viewer_set_split_position (FaViewer *self,
                              double    position)
{
  g_return_if_fail (FA_IS_VIEWER (self));

  if (isnan (position))
    return;
  position = CLAMP (position, 0.0, 1.0);
  if (self->split_position == position)
    return;
  self->split_position = position;
  if (self->show == FA_VIEWER_SHOW_SPLIT)
    invalidate (self, FALSE, FALSE);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SPLIT_POSITION]);
}

void
fa_viewer_set_live_frame (FaViewer     *self,
                          const guint8 *rgb,
                          int           width,
                          int           height)
{
  g_return_if_fail (FA_IS_VIEWER (self));
  g_return_if_fail (rgb == NULL || (width > 0 && height > 0 && width <= G_MAXINT / 3 / height));

  if (rgb == NULL && self->live_rgb == NULL)
    return;
  g_clear_pointer (&self->live_rgb, g_free);
  self->live_width = self->live_height = 0;
  if (rgb != NULL)
    {
      self->live_rgb = g_memdup2 (rgb, (gsize) width * height * 3);
      self->live_width = width;
      self->live_height = height;
    }
  invalidate_result (self);
  update_description (self);
  update_cursor (self);
}

gboolean
fa_viewer_has_live_frame (FaViewer *self)
{
  g_return_val_if_fail (FA_IS_VIEWER (self), FALSE);

  return self->live_rgb != NULL;
}
