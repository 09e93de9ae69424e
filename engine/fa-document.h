/* fa-document.h: one open edit, as the app's window and the tests see it:
 * the clip decoded for the timeline, the masks painted on it with undo and
 * redo, the working range the edit covers, the view and tool settings, and
 * the project file it is saved to.
 *
 * Everything here runs on the thread that owns the document (the app's
 * main thread), except the work the _async calls hand to a worker thread:
 * decoding a clip, propagating masks, writing the project. Their progress
 * and completion come back on the main context that was the thread-default
 * when the call was made. Nothing here touches GTK.
 *
 * The timeline clip is the source from its start, resampled to the working
 * rate (16 fps) and size (832×480 by default, the project's when a project
 * is opened), at most FA_DOCUMENT_MAX_FRAMES frames. The range is a run of
 * 1 + 4k frames (5 … 81) of it that the edit covers; masks can be painted
 * on any frame, and propagation fills the range.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "fa-backend.h"
#include "fa-clip.h"
#include "fa-mask.h"
#include "fa-project.h"

G_BEGIN_DECLS

/* 15 s at 16 fps: 241 frames of 832×480 RGB are 289 MB. */
#define FA_DOCUMENT_MAX_FRAMES 241
/* What one model window takes. */
#define FA_DOCUMENT_MAX_RANGE 81
#define FA_DOCUMENT_MIN_RANGE 5

typedef enum {
  FA_MASK_LOOK_TINT,    /* the mask as a colour over the frame */
  FA_MASK_LOOK_OUTLINE, /* only its edge */
  FA_MASK_LOOK_HIDDEN,
} FaMaskLook;

typedef enum {
  FA_MASK_TOOL_BRUSH,
  FA_MASK_TOOL_ERASER,
  FA_MASK_TOOL_BOX,
} FaMaskTool;

/* Saved with the project (under "view"), restored when it is reopened;
 * changing them does not count as an unsaved change. */
typedef struct {
  FaMaskLook look;
  guint32 tint_rgb;     /* 0xRRGGBB, 0xE01B24 by default */
  double opacity;       /* of the tint, [0, 1], 0.5 by default */
  FaMaskTool tool;      /* BRUSH by default */
  double brush_radius;  /* working pixels, [1, 256], 24 by default */
  double brush_hardness; /* [0, 1], 0.8 by default */
  double zoom;          /* 0 = fit to the window (default); else view pixels per working pixel */
  double center_x, center_y; /* the working-frame point at the middle of the view when zoomed */
} FaDocumentView;

void fa_document_view_init (FaDocumentView *view);

/* How a frame's mask looks on the timeline. */
typedef struct {
  gboolean keyframe;
  float coverage;   /* share of the frame's pixels inside the mask (alpha ≥ 128), [0, 1] */
  float confidence; /* fa_mask_set_get_confidence: 1 on keyframes, 0 where nothing was propagated */
} FaFrameMaskState;

#define FA_TYPE_DOCUMENT (fa_document_get_type ())
G_DECLARE_FINAL_TYPE (FaDocument, fa_document, FA, DOCUMENT, GObject)

/* ---- opening ---- */

/* Not FA_ERROR_NOT_FOUND: that one also means "the clip you asked to open
 * is not there", which no relocation dialog can help with. */
#define FA_DOCUMENT_ERROR (fa_document_error_quark ())

typedef enum {
  FA_DOCUMENT_ERROR_CLIP_MISSING, /* the project's clip moved or changed */
} FaDocumentError;

GQuark fa_document_error_quark (void);

/* Opens @path: a project (".fanchor") or any clip GStreamer decodes (a new,
 * unsaved document on it). For a project whose clip is missing or has
 * changed, fails with FA_DOCUMENT_ERROR_CLIP_MISSING naming the clip, unless
 * @relocated_clip (NULL otherwise) says where the clip is now; the project
 * then points at it and counts as changed. @progress gets frames decoded of
 * the expected count, on the caller's main context. Other errors are the
 * engine's (unreadable clip, corrupt project), naming the file. */
void        fa_document_open_async (const char *path, const char *relocated_clip, GCancellable *cancellable,
                                    FaProgressFunc progress, gpointer progress_data,
                                    GAsyncReadyCallback callback, gpointer user_data);
FaDocument *fa_document_open_finish (GAsyncResult *result, GError **error);
/* The same, on the calling thread (tests, the CLI). */
FaDocument *fa_document_open (const char *path, const char *relocated_clip, GCancellable *cancellable,
                              FaProgressFunc progress, gpointer progress_data, GError **error);
/* A document on a clip made in memory (tests): no file, no project path.
 * Takes @clip. */
FaDocument *fa_document_new_for_clip (FaWorkingClip *clip);

/* TRUE when @error from fa_document_open* means "the project's clip moved":
 * ask the user for it and open again with @relocated_clip. */
gboolean    fa_document_error_is_clip_missing (const GError *error);
/* The clip path a project records, without opening it (NULL with @error
 * when the project does not load): what a "where is it now" dialog names. */
char       *fa_document_peek_project_clip (const char *project_path, GError **error);

/* ---- what is open ---- */

const char          *fa_document_get_clip_path (FaDocument *self);
const FaClipInfo    *fa_document_get_clip_info (FaDocument *self);   /* NULL for a clip made in memory */
const FaWorkingClip *fa_document_get_clip (FaDocument *self);
int                  fa_document_get_n_frames (FaDocument *self);
int                  fa_document_get_width (FaDocument *self);
int                  fa_document_get_height (FaDocument *self);
/* The project file, NULL until the document is saved. */
const char          *fa_document_get_project_path (FaDocument *self);
/* For the title: the project's name without ".fanchor", else the clip's file name. */
char                *fa_document_dup_title (FaDocument *self);
/* The project (prompts, parameters, results for the edit); the document
 * writes clip, range, keyframes and view into it when it saves. NULL for a
 * clip made in memory (which cannot be saved). Not to be changed while a
 * save runs: the worker thread reads it. */
FaProject           *fa_document_get_project (FaDocument *self);
/* Unsaved changes: masks, range, a relocated clip (property "modified"). */
gboolean             fa_document_get_modified (FaDocument *self);
/* Parts other than the document's own (the edit settings of part 2) mark it changed. */
void                 fa_document_set_modified (FaDocument *self);

/* ---- playhead and range ---- */

/* Property "current-frame", clamped to [0, n_frames − 1]. */
int      fa_document_get_current_frame (FaDocument *self);
void     fa_document_set_current_frame (FaDocument *self, int frame);

/* Properties "range-first" and "range-count". A new document's range is
 * the first 1 + 4k frames, at most 81. */
void     fa_document_get_range (FaDocument *self, int *first, int *count);
/* Sets both ends at once (count brought down to 1 + 4k within [5, 81] and
 * the clip); FALSE with an error naming the value when no range of at
 * least 5 frames fits (a clip shorter than 5 frames cannot be open). */
gboolean fa_document_set_range (FaDocument *self, int first, int count, GError **error);
/* The I and O keys: the range starts (ends) at @frame. The other end stays
 * where it is when that gives 5 … 81 frames, counted 1 + 4k by moving the
 * other end inwards; past 81 (or under 5) the other end moves to make 81
 * (5); at the clip's edges the range slides so that it still fits. */
void     fa_document_set_in_point (FaDocument *self, int frame);
void     fa_document_set_out_point (FaDocument *self, int frame);
/* The largest valid range count ≤ @count: 1 + 4k within [5, 81]; 0 when @count < 5. */
int      fa_document_snap_range_count (int count);

/* ---- masks ---- */

const FaMaskSet *fa_document_get_masks (FaDocument *self);
void             fa_document_get_frame_mask_state (FaDocument *self, int frame, FaFrameMaskState *state);

/* A brush or eraser stroke on @frame, applied as the pointer moves: each
 * added point paints the segment from the previous one at once (a single
 * point is one dab), emitting "masks-changed"; the whole stroke is one undo
 * step, closed by _end. Radius and hardness are the view's. */
void     fa_document_stroke_begin (FaDocument *self, int frame, gboolean erase);
void     fa_document_stroke_add_point (FaDocument *self, double x, double y);
void     fa_document_stroke_end (FaDocument *self);
gboolean fa_document_stroke_is_active (FaDocument *self);
/* A box (one undo step); the rectangle may be given with any corner first
 * and is clipped to the frame; an empty one does nothing and returns FALSE. */
gboolean fa_document_apply_box (FaDocument *self, int frame, double x0, double y0, double x1, double y1,
                                gboolean erase);
/* Clears @frame's mask and makes it a keyframe with nothing in it, so that
 * propagation carries "nothing here" (one undo step). */
void     fa_document_clear_frame (FaDocument *self, int frame);
/* Clears every frame and keyframe (one undo step). */
void     fa_document_clear_all (FaDocument *self);

/* Properties "can-undo" and "can-redo". Undo and redo move the playhead to
 * the frame they changed. */
gboolean    fa_document_get_can_undo (FaDocument *self);
gboolean    fa_document_get_can_redo (FaDocument *self);
const char *fa_document_get_undo_label (FaDocument *self);
const char *fa_document_get_redo_label (FaDocument *self);
gboolean    fa_document_undo (FaDocument *self);
gboolean    fa_document_redo (FaDocument *self);

/* Fills every frame of the range that is not a keyframe from the
 * keyframes in it, on a worker thread (fa_mask_propagate on @backend).
 * Fails with FA_ERROR_INVALID_ARGUMENT when the range has no keyframe,
 * G_IO_ERROR_BUSY while a propagation runs, G_IO_ERROR_CANCELLED when
 * cancelled (the masks stay as they were). @progress gets frame pairs done
 * of the total on the caller's main context. Painting may go on while it
 * runs: the result is written into the frames that are still not
 * keyframes when it ends. Property "propagating" is TRUE meanwhile. */
void     fa_document_propagate_async (FaDocument *self, FaBackend *backend, GCancellable *cancellable,
                                      FaProgressFunc progress, gpointer progress_data,
                                      GAsyncReadyCallback callback, gpointer user_data);
gboolean fa_document_propagate_finish (FaDocument *self, GAsyncResult *result, GError **error);
gboolean fa_document_propagate (FaDocument *self, FaBackend *backend, GCancellable *cancellable,
                                FaProgressFunc progress, gpointer progress_data, GError **error);
gboolean fa_document_get_propagating (FaDocument *self);
/* The range's masks are older than its keyframes (or were never propagated). */
gboolean fa_document_needs_propagation (FaDocument *self);

/* ---- view and tools ---- */

void     fa_document_get_view (FaDocument *self, FaDocumentView *view);
/* Checks and clamps the values; emits "view-changed". */
void     fa_document_set_view (FaDocument *self, const FaDocumentView *view);

/* ---- saving ---- */

/* Writes the project to @path (NULL: the document's own project path,
 * which must be set), atomically (an old file stays intact on any error),
 * the file written on a worker thread. On success the document's project
 * path becomes @path and "modified" goes FALSE unless something changed
 * while it was written. G_IO_ERROR_BUSY while another save runs. */
void     fa_document_save_async (FaDocument *self, const char *path, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);
gboolean fa_document_save_finish (FaDocument *self, GAsyncResult *result, GError **error);
gboolean fa_document_save (FaDocument *self, const char *path, GError **error);

/* Signals:
 *   "masks-changed" (int first_frame, int last_frame): masks of those frames changed
 *   "view-changed": fa_document_set_view was called
 * Properties (notify on the owner's thread): "current-frame", "range-first",
 * "range-count", "modified", "can-undo", "can-redo", "propagating",
 * "project-path". */

G_END_DECLS
