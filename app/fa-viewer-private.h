/* fa-viewer-private.h: what the viewer's files share: the CPU picture
 * (fa-viewer-render.c), the OpenGL path (fa-viewer-gl.c), and where the
 * frame lies in the widget.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "fa-viewer.h"

G_BEGIN_DECLS

/* The letterbox around the frame: a dark neutral in light and dark styles
 * alike, as video players do, so that the frame's colours are judged
 * against the same surround. */
#define FA_VIEWER_BACKGROUND_R 0.11f
#define FA_VIEWER_BACKGROUND_G 0.11f
#define FA_VIEWER_BACKGROUND_B 0.11f

/* A pixel counts as inside the mask from this alpha up (as everywhere). */
#define FA_VIEWER_INSIDE_ALPHA 128

/* The picture both paths draw, on the CPU: @rgb (width × height × 3,
 * packed rows) with @alpha (width × height; NULL: no mask) drawn over it
 * into @out_rgba (width × height × 4, opaque):
 *   TINT:    out = rgb + (tint − rgb) · k, k = alpha / 255 · opacity,
 *            rounded to the nearest integer;
 *   OUTLINE: the tint colour, opaque, on every pixel whose inside-ness
 *            (alpha ≥ 128) differs from one of its four neighbours in the
 *            frame (a line two pixels wide, one each side of the edge);
 *            the frame elsewhere;
 *   HIDDEN:  the frame.
 * @opacity is clamped to [0, 1]. */
void fa_viewer_render_rgba (const guint8 *rgb, const guint8 *alpha, int width, int height,
                            FaMaskLook look, guint32 tint_rgb, double opacity,
                            guint8 *out_rgba);

/* Frame to widget: widget = origin + frame · scale (both axes). */
typedef struct {
  double scale;          /* widget pixels per working pixel */
  double x, y;           /* the frame's top-left corner in the widget */
} FaViewerPlacement;

/* Where the document's frame lies in the viewer now; FALSE (and an
 * identity placement) without a document or before it has a size. */
gboolean fa_viewer_get_placement (FaViewer *self, FaViewerPlacement *placement);

/* The current frame's pixels and mask (NULL without a document). */
gboolean fa_viewer_peek_current (FaViewer      *self,
                                 const guint8 **rgb,
                                 const guint8 **alpha,
                                 int           *width,
                                 int           *height);

/* ---- results and compare ---- */

/* What the result side shows at the current frame: the live look, else
 * the current result's frame there (its own size); NULL when neither.
 * @serial (may be NULL) changes whenever the pixels behind a pointer may
 * have changed (a result loaded or replaced, a new live look): a path
 * uploads again only when the pointer or the serial differs. */
const guint8 *fa_viewer_peek_result (FaViewer *self, int *width, int *height, guint *serial);

/* From where across the frame the result shows now, as a share of its
 * width: 0 (over the whole frame), the split position, or
 * FA_VIEWER_RESULT_NOWHERE (no result at this frame, or the source mode).
 * A frame point x shows the result when x ≥ start · width. */
#define FA_VIEWER_RESULT_NOWHERE 2.0
double        fa_viewer_get_result_start (FaViewer *self);

/* How many times the result picture was uploaded (GL) or made into a
 * texture (CPU) on the path in use. */
guint         fa_viewer_get_result_uploads (FaViewer *self);

/* ---- the OpenGL path (fa-viewer-gl.c) ---- */

typedef struct _FaViewerGl FaViewerGl;

/* A GtkGLArea that draws @viewer's current picture; the caller parents it. */
FaViewerGl *fa_viewer_gl_new (FaViewer *viewer);
GtkWidget  *fa_viewer_gl_get_area (FaViewerGl *gl);
/* Realizes the area (its parent must be realized) and builds the shaders:
 * FALSE with @reason (free it) when there is no usable GL context. */
gboolean    fa_viewer_gl_start (FaViewerGl *gl, char **reason);
/* "GLSL 150" or "GLSL 300 es" once started. */
const char *fa_viewer_gl_get_description (FaViewerGl *gl);
/* The frame texture, the mask texture, or only the uniforms are stale:
 * uploads what is stale on the next render, and queues one. */
void        fa_viewer_gl_invalidate (FaViewerGl *gl, gboolean frame, gboolean mask);
/* Forgets the textures' sizes (a different document). */
void        fa_viewer_gl_reset (FaViewerGl *gl);
/* Disconnects from the area; the caller unparents it. */
void        fa_viewer_gl_free (FaViewerGl *gl);

/* How many times each texture was uploaded. */
void        fa_viewer_gl_get_upload_counts (FaViewerGl *gl, guint *frames, guint *masks);
guint       fa_viewer_gl_get_result_uploads (FaViewerGl *gl);

/* The same for a viewer (tests): FALSE when it does not draw with GL. */
gboolean    fa_viewer_get_gl_upload_counts (FaViewer *self, guint *frames, guint *masks);

G_END_DECLS
