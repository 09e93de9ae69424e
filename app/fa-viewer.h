/* fa-viewer.h: the frame viewer: the document's current working frame with
 * its mask drawn over it (tint, outline or hidden, from the document's
 * view), fit to the widget or zoomed (Ctrl+scroll, about the pointer) and
 * panned (middle-button drag, or drag with Space held); the brush, eraser
 * and box tools paint on the current frame through the document.
 *
 * Drawn with OpenGL (GtkGLArea, libepoxy: the frame and the mask as two
 * textures, the look in a fragment shader) where a GL context can be had;
 * otherwise, or when FA_VIEWER_GL=0 is set, a plain GdkPaintable path
 * draws the same picture on the CPU. The log says which is in use.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "fa-document.h"

G_BEGIN_DECLS

#define FA_TYPE_VIEWER (fa_viewer_get_type ())
G_DECLARE_FINAL_TYPE (FaViewer, fa_viewer, FA, VIEWER, GtkWidget)

GtkWidget  *fa_viewer_new (void);

/* Property "document" (may be NULL: the viewer shows nothing). */
void        fa_viewer_set_document (FaViewer *self, FaDocument *document);
FaDocument *fa_viewer_get_document (FaViewer *self);

/* "gl" or "paintable" once the widget is realized (NULL before). */
const char *fa_viewer_get_renderer_name (FaViewer *self);

/* Between widget coordinates and working-frame coordinates (continuous
 * pixels: pixel (i, j) covers [i, i+1) × [j, j+1)) under the current zoom
 * and pan. The first returns FALSE when the widget point is outside the
 * frame (the coordinates are still given). */
gboolean    fa_viewer_widget_to_frame (FaViewer *self, double widget_x, double widget_y,
                                       double *frame_x, double *frame_y);
void        fa_viewer_frame_to_widget (FaViewer *self, double frame_x, double frame_y,
                                       double *widget_x, double *widget_y);

/* What the pointer gestures call, in widget coordinates, so that tests go
 * through the same path as a hand: a press starts a stroke (brush, or
 * eraser when the tool is the eraser or @alternate, the Alt modifier or
 * the secondary button, is set) or a box, motion extends it (the overlay
 * updates at once), release ends it (one undo step). */
void        fa_viewer_pointer_down (FaViewer *self, double widget_x, double widget_y, gboolean alternate);
void        fa_viewer_pointer_motion (FaViewer *self, double widget_x, double widget_y);
void        fa_viewer_pointer_up (FaViewer *self, double widget_x, double widget_y);

/* Zoom by @factor keeping the frame point under (widget_x, widget_y) in
 * place; zoom 0 in the view means fit. Both store the zoom and centre in
 * the document's view. */
void        fa_viewer_zoom_at (FaViewer *self, double widget_x, double widget_y, double factor);
void        fa_viewer_zoom_fit (FaViewer *self);
void        fa_viewer_pan_by (FaViewer *self, double dx_widget, double dy_widget);

G_END_DECLS
