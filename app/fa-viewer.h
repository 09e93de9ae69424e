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

/* ---- results and compare (part 2) ----
 * With a current result in the document (fa-document-edit.h), frames in
 * the range it covers show the result instead of the source, scaled into
 * the same frame rectangle; the mask overlay is drawn only over the
 * source. */
typedef enum {
  FA_VIEWER_SHOW_RESULT, /* the result where there is one (default) */
  FA_VIEWER_SHOW_SOURCE, /* the source even where there is a result (the B key) */
  FA_VIEWER_SHOW_SPLIT,  /* source left of the divider, result right of it */
} FaViewerShow;

#define FA_TYPE_VIEWER_SHOW (fa_viewer_show_get_type ())
GType        fa_viewer_show_get_type (void);

/* Property "show". */
void         fa_viewer_set_show (FaViewer *self, FaViewerShow show);
FaViewerShow fa_viewer_get_show (FaViewer *self);
/* What the B key does: SOURCE, or back from it to the mode before it
 * (RESULT or SPLIT). Also the widget action "viewer.toggle-source". */
void         fa_viewer_toggle_source (FaViewer *self);
/* Property "split-position": the divider, as a share of the frame's width
 * [0, 1] (0.5 by default). A pointer press within 8 px of the divider in
 * split mode drags it instead of painting. */
void         fa_viewer_set_split_position (FaViewer *self, double position);
double       fa_viewer_get_split_position (FaViewer *self);
/* Whether the pixel at the widget point shows the result now (tests and
 * the accessible description). */
gboolean     fa_viewer_shows_result_at (FaViewer *self, double widget_x, double widget_y);
/* The live look of a running job (packed RGB, copied), shown in place of
 * the result over the whole frame rectangle, whatever the frame, until
 * cleared with NULL or the viewer gets another document. */
void         fa_viewer_set_live_frame (FaViewer *self, const guint8 *rgb, int width, int height);
gboolean     fa_viewer_has_live_frame (FaViewer *self);

G_END_DECLS
