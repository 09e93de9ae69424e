/* fa-document.c: one open edit (fa-document.h).
 *
 * The document lives on its owner's thread. Work that takes long (decoding
 * the clip, propagating, writing the project) runs on a worker thread on
 * data the owner does not change meanwhile: the clip is never written after
 * opening, propagation works on its own mask set of the range, and a save
 * only reads the project. Results are written back on the owner's thread,
 * where every signal and notification is emitted.
 *
 * Two counters say what changed when: change_serial goes up on every
 * change a save must keep (a save clears "modified" only when it did not
 * move while the file was written); edit_stamp goes up on every keyframe
 * edit and each frame keeps the stamp of its last one, so a propagation
 * knows whether keyframes of its range changed since it started, however
 * much was painted elsewhere.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-document"

#include "config.h"

#include <math.h>
#include <string.h>

#include "fa-document-private.h"
#include "fa-error.h"
#include "fa-mask-history.h"
#include "fa-mask-propagate.h"

#define MIN_ZOOM (1.0 / 32.0)
#define MAX_ZOOM 64.0
#define MIN_BRUSH_RADIUS 1.0
#define MAX_BRUSH_RADIUS 256.0
#define DEFAULT_RANGE_CAP FA_DOCUMENT_MAX_RANGE

G_DEFINE_QUARK (fa-document-error-quark, fa_document_error)

/* ---- progress posted to the caller's main context ----
 *
 * The worker leaves the latest value in a small refcounted box and queues
 * one delivery at a time: a busy main loop sees the newest count, never a
 * backlog. Deliveries are attached as idle sources rather than through
 * g_main_context_invoke, which runs the callback at once on the worker when
 * it can acquire the context (between two iterations of the owner's loop).
 * Once the work is done the box is silenced, so that no count arrives after
 * the completion callback. */

typedef struct {
  GMutex lock;
  GMainContext *context;
  FaProgressFunc func;
  gpointer data;
  guint done, total;
  gboolean queued;
  gboolean silenced;
} ProgressPost;

static ProgressPost *
progress_post_new (FaProgressFunc func, gpointer data)
{
  if (func == NULL)
    return NULL;

  ProgressPost *post = g_atomic_rc_box_new0 (ProgressPost);
  g_mutex_init (&post->lock);
  post->context = g_main_context_ref_thread_default ();
  post->func = func;
  post->data = data;
  return post;
}

static void
progress_post_clear (ProgressPost *post)
{
  g_mutex_clear (&post->lock);
  g_main_context_unref (post->context);
}

static void
progress_post_release (ProgressPost *post)
{
  g_atomic_rc_box_release_full (post, (GDestroyNotify) progress_post_clear);
}

static gboolean
progress_post_deliver (gpointer data)
{
  ProgressPost *post = data;

  g_mutex_lock (&post->lock);
  post->queued = FALSE;
  gboolean silenced = post->silenced;
  guint done = post->done, total = post->total;
  g_mutex_unlock (&post->lock);

  if (!silenced)
    post->func (done, total, post->data);
  return G_SOURCE_REMOVE;
}

/* An FaProgressFunc, called on the worker. */
static void
progress_post_send (guint done, guint total, gpointer user_data)
{
  ProgressPost *post = user_data;

  g_mutex_lock (&post->lock);
  post->done = done;
  post->total = total;
  gboolean attach = !post->queued && !post->silenced;
  if (attach)
    post->queued = TRUE;
  g_mutex_unlock (&post->lock);

  if (!attach)
    return;
  GSource *source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, progress_post_deliver, g_atomic_rc_box_acquire (post),
                         (GDestroyNotify) progress_post_release);
  g_source_set_static_name (source, "[fa-document] progress");
  g_source_attach (source, post->context);
  g_source_unref (source);
}

/* Called on the owner's thread, as every delivery is. */
static void
progress_post_silence (ProgressPost *post)
{
  if (post == NULL)
    return;
  g_mutex_lock (&post->lock);
  post->silenced = TRUE;
  g_mutex_unlock (&post->lock);
}

/* ---- view ---- */

void
fa_document_view_init (FaDocumentView *view)
{
  g_return_if_fail (view != NULL);

  *view = (FaDocumentView) {
    .look = FA_MASK_LOOK_TINT,
    .tint_rgb = 0xE01B24,
    .opacity = 0.5,
    .tool = FA_MASK_TOOL_BRUSH,
    .brush_radius = 24.0,
    .brush_hardness = 0.8,
    .zoom = 0.0,
    .center_x = 0.0,
    .center_y = 0.0,
  };
}

/* Out-of-range values are clamped, values that mean nothing (NaN, an
 * unknown enum) go back to the default. */
static void
view_sanitize (FaDocumentView *view, int width, int height)
{
  FaDocumentView defaults;

  fa_document_view_init (&defaults);
  if ((guint) view->look > FA_MASK_LOOK_HIDDEN)
    view->look = defaults.look;
  view->tint_rgb &= 0xFFFFFF;
  view->opacity = isfinite (view->opacity) ? CLAMP (view->opacity, 0.0, 1.0) : defaults.opacity;
  if ((guint) view->tool > FA_MASK_TOOL_BOX)
    view->tool = defaults.tool;
  view->brush_radius = isfinite (view->brush_radius) ? CLAMP (view->brush_radius, MIN_BRUSH_RADIUS, MAX_BRUSH_RADIUS)
                                                     : defaults.brush_radius;
  view->brush_hardness = isfinite (view->brush_hardness) ? CLAMP (view->brush_hardness, 0.0, 1.0)
                                                         : defaults.brush_hardness;
  view->zoom = isfinite (view->zoom) && view->zoom > 0.0 ? CLAMP (view->zoom, MIN_ZOOM, MAX_ZOOM) : 0.0;
  view->center_x = isfinite (view->center_x) ? CLAMP (view->center_x, 0.0, (double) width) : width / 2.0;
  view->center_y = isfinite (view->center_y) ? CLAMP (view->center_y, 0.0, (double) height) : height / 2.0;
}

static const char *const look_names[] = { "tint", "outline", "hidden" };
static const char *const tool_names[] = { "brush", "eraser", "box" };

static int
name_index (const char *const *names, guint n_names, const char *name)
{
  for (guint i = 0; i < n_names; i++)
    if (g_strcmp0 (names[i], name) == 0)
      return (int) i;
  return -1;
}

/* ---- the object ---- */

struct _FaDocument {
  GObject parent_instance;

  FaProject *project; /* NULL for a clip made in memory */
  FaWorkingClip *clip;
  FaMaskSet *masks;
  FaMaskHistory *history; /* borrows masks */
  char *project_path;

  int current_frame;
  int range_first, range_count;
  FaDocumentView view;

  gboolean modified;
  guint64 change_serial;
  gboolean can_undo, can_redo; /* as last notified */

  gboolean stroke_active;
  int stroke_frame;
  gboolean stroke_erase;
  gboolean stroke_has_point;
  FaMaskPoint stroke_last;

  float *coverage;         /* per frame, valid where coverage_dirty is 0 */
  guint8 *coverage_dirty;

  guint64 edit_stamp;
  guint64 *frame_stamp;    /* per frame: edit_stamp of its last keyframe edit */
  gboolean propagated;     /* a propagation has completed */
  int propagated_first, propagated_count;
  guint64 propagated_stamp; /* edit_stamp when that propagation started */

  gboolean propagating;
  gboolean saving;

  /* fa-document-edit.c */
  FaDocumentEditState edit;
};

G_DEFINE_FINAL_TYPE (FaDocument, fa_document, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_CURRENT_FRAME,
  PROP_RANGE_FIRST,
  PROP_RANGE_COUNT,
  PROP_MODIFIED,
  PROP_CAN_UNDO,
  PROP_CAN_REDO,
  PROP_PROPAGATING,
  PROP_PROJECT_PATH,
  PROP_CURRENT_RESULT,
  N_PROPS
};

enum {
  SIGNAL_MASKS_CHANGED,
  SIGNAL_VIEW_CHANGED,
  SIGNAL_EDIT_CHANGED,
  SIGNAL_RESULTS_CHANGED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

void
_fa_document_emit_edit_changed (FaDocument *self)
{
  g_signal_emit (self, signals[SIGNAL_EDIT_CHANGED], 0);
}

void
_fa_document_emit_results_changed (FaDocument *self)
{
  g_signal_emit (self, signals[SIGNAL_RESULTS_CHANGED], 0);
}

void
_fa_document_notify_current_result (FaDocument *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CURRENT_RESULT]);
}

FaDocumentEditState *
_fa_document_get_edit_state (FaDocument *self)
{
  return &self->edit;
}

static void
fa_document_finalize (GObject *object)
{
  FaDocument *self = FA_DOCUMENT (object);

  /* the history borrows the masks */
  g_clear_pointer (&self->history, fa_mask_history_free);
  g_clear_pointer (&self->masks, fa_mask_set_free);
  g_clear_pointer (&self->clip, fa_working_clip_free);
  g_clear_pointer (&self->project, fa_project_free);
  g_clear_pointer (&self->project_path, g_free);
  g_clear_pointer (&self->coverage, g_free);
  g_clear_pointer (&self->coverage_dirty, g_free);
  g_clear_pointer (&self->frame_stamp, g_free);
  _fa_document_edit_state_clear (&self->edit);

  G_OBJECT_CLASS (fa_document_parent_class)->finalize (object);
}

static void
fa_document_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  FaDocument *self = FA_DOCUMENT (object);

  switch (prop_id)
    {
    case PROP_CURRENT_FRAME:
      g_value_set_int (value, self->current_frame);
      break;
    case PROP_RANGE_FIRST:
      g_value_set_int (value, self->range_first);
      break;
    case PROP_RANGE_COUNT:
      g_value_set_int (value, self->range_count);
      break;
    case PROP_MODIFIED:
      g_value_set_boolean (value, self->modified);
      break;
    case PROP_CAN_UNDO:
      g_value_set_boolean (value, self->can_undo);
      break;
    case PROP_CAN_REDO:
      g_value_set_boolean (value, self->can_redo);
      break;
    case PROP_PROPAGATING:
      g_value_set_boolean (value, self->propagating);
      break;
    case PROP_PROJECT_PATH:
      g_value_set_string (value, self->project_path);
      break;
    case PROP_CURRENT_RESULT:
      g_value_set_int (value, fa_document_get_current_result (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
fa_document_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  FaDocument *self = FA_DOCUMENT (object);

  switch (prop_id)
    {
    case PROP_CURRENT_FRAME:
      fa_document_set_current_frame (self, g_value_get_int (value));
      break;
    case PROP_CURRENT_RESULT:
      fa_document_set_current_result (self, g_value_get_int (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
fa_document_class_init (FaDocumentClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags ro = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->finalize = fa_document_finalize;
  object_class->get_property = fa_document_get_property;
  object_class->set_property = fa_document_set_property;

  properties[PROP_CURRENT_FRAME] =
    g_param_spec_int ("current-frame", NULL, NULL, 0, G_MAXINT, 0,
                      G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_RANGE_FIRST] = g_param_spec_int ("range-first", NULL, NULL, 0, G_MAXINT, 0, ro);
  properties[PROP_RANGE_COUNT] = g_param_spec_int ("range-count", NULL, NULL, 0, FA_DOCUMENT_MAX_RANGE, 0, ro);
  properties[PROP_MODIFIED] = g_param_spec_boolean ("modified", NULL, NULL, FALSE, ro);
  properties[PROP_CAN_UNDO] = g_param_spec_boolean ("can-undo", NULL, NULL, FALSE, ro);
  properties[PROP_CAN_REDO] = g_param_spec_boolean ("can-redo", NULL, NULL, FALSE, ro);
  properties[PROP_PROPAGATING] = g_param_spec_boolean ("propagating", NULL, NULL, FALSE, ro);
  properties[PROP_PROJECT_PATH] = g_param_spec_string ("project-path", NULL, NULL, NULL, ro);
  properties[PROP_CURRENT_RESULT] =
    g_param_spec_int ("current-result", NULL, NULL, -1, G_MAXINT, -1,
                      G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SIGNAL_MASKS_CHANGED] =
    g_signal_new ("masks-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  2, G_TYPE_INT, G_TYPE_INT);
  signals[SIGNAL_VIEW_CHANGED] =
    g_signal_new ("view-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  0);
  signals[SIGNAL_EDIT_CHANGED] =
    g_signal_new ("edit-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                  0);
  signals[SIGNAL_RESULTS_CHANGED] =
    g_signal_new ("results-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
}

static void
fa_document_init (FaDocument *self)
{
  fa_document_view_init (&self->view);
  self->edit.current_result = -1;
}

static int
default_range_count (int n_frames)
{
  return fa_document_snap_range_count (MIN (n_frames, DEFAULT_RANGE_CAP));
}

/* Takes all three; @project may be NULL. */
static FaDocument *
document_new (FaWorkingClip *clip, FaMaskSet *masks, FaProject *project)
{
  FaDocument *self = g_object_new (FA_TYPE_DOCUMENT, NULL);
  int n = clip->n_frames;

  self->clip = clip;
  self->masks = masks;
  self->project = project;
  self->history = fa_mask_history_new (masks, FA_MASK_HISTORY_DEFAULT_MAX_BYTES);
  self->coverage = g_new0 (float, n);
  self->coverage_dirty = g_malloc (n);
  memset (self->coverage_dirty, 1, n);
  self->frame_stamp = g_new0 (guint64, n);
  self->range_first = 0;
  self->range_count = default_range_count (n);
  self->view.center_x = clip->width / 2.0;
  self->view.center_y = clip->height / 2.0;
  return self;
}

/* ---- change tracking ---- */

static void
set_modified (FaDocument *self, gboolean modified)
{
  if (self->modified == modified)
    return;
  self->modified = modified;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODIFIED]);
}

/* Something a save must keep has changed. */
static void
mark_changed (FaDocument *self)
{
  self->change_serial++;
  set_modified (self, TRUE);
}

static void
update_history_state (FaDocument *self)
{
  gboolean can_undo = fa_mask_history_can_undo (self->history);
  gboolean can_redo = fa_mask_history_can_redo (self->history);

  if (can_undo != self->can_undo)
    {
      self->can_undo = can_undo;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAN_UNDO]);
    }
  if (can_redo != self->can_redo)
    {
      self->can_redo = can_redo;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAN_REDO]);
    }
}

/* The masks of [first, last] were written: their coverage is recomputed
 * when next asked for. */
static void
masks_written (FaDocument *self, int first, int last)
{
  memset (self->coverage_dirty + first, 1, (gsize) (last - first + 1));
  g_signal_emit (self, signals[SIGNAL_MASKS_CHANGED], 0, first, last);
}

/* The keyframes of [first, last] were edited (drawn, cleared, undone). */
static void
keyframes_edited (FaDocument *self, int first, int last)
{
  self->edit_stamp++;
  for (int i = first; i <= last; i++)
    self->frame_stamp[i] = self->edit_stamp;
  masks_written (self, first, last);
}

/* ---- opening ---- */

typedef struct {
  FaProject *project;
  FaWorkingClip *clip;
  FaMaskSet *masks;
  char *project_path; /* NULL when a clip was opened */
  gboolean relocated;
} OpenResult;

static void
open_result_free (OpenResult *result)
{
  if (result == NULL)
    return;
  fa_project_free (result->project);
  fa_working_clip_free (result->clip);
  fa_mask_set_free (result->masks);
  g_free (result->project_path);
  g_free (result);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (OpenResult, open_result_free)

static gboolean
is_project_path (const char *path)
{
  gsize length = strlen (path), ext = strlen (FA_PROJECT_EXTENSION);
  return length > ext && g_ascii_strcasecmp (path + length - ext, FA_PROJECT_EXTENSION) == 0;
}

static OpenResult *
open_clip (const char *path, GCancellable *cancellable, FaProgressFunc progress, gpointer progress_data,
           GError **error)
{
  g_autoptr (OpenResult) result = g_new0 (OpenResult, 1);
  FaWorkingClipOptions options;

  g_autoptr (FaClipInfo) info = fa_clip_probe (path, cancellable, error);
  if (info == NULL)
    return NULL;

  fa_working_clip_options_init (&options);
  options.max_frames = FA_DOCUMENT_MAX_FRAMES;
  /* a portrait clip gets the working size on its side rather than a landscape
   * crop out of its middle */
  double display_width = (double) info->width * info->par_n / MAX (info->par_d, 1);
  if (info->height > display_width)
    {
      int width = options.width;
      options.width = options.height;
      options.height = width;
    }
  options.progress = progress;
  options.progress_user_data = progress_data;
  result->clip = fa_working_clip_decode (path, &options, cancellable, error);
  if (result->clip == NULL)
    return NULL;

  result->project = fa_project_new (path, error);
  if (result->project == NULL)
    return NULL;
  options.progress = NULL;
  options.progress_user_data = NULL;
  fa_project_set_working_options (result->project, &options);

  result->masks = fa_mask_set_new (result->clip->n_frames, result->clip->width, result->clip->height, error);
  if (result->masks == NULL)
    return NULL;
  return g_steal_pointer (&result);
}

static OpenResult *
open_project (const char *path, const char *relocated_clip, GCancellable *cancellable, FaProgressFunc progress,
              gpointer progress_data, GError **error)
{
  g_autoptr (OpenResult) result = g_new0 (OpenResult, 1);
  g_autoptr (GError) check_error = NULL;
  FaWorkingClipOptions options;

  result->project = fa_project_load (path, error);
  if (result->project == NULL)
    return NULL;

  FaProjectClipState state = fa_project_check_clip (result->project, &check_error);
  if (check_error != NULL)
    {
      g_propagate_prefixed_error (error, g_steal_pointer (&check_error), "%s: ", path);
      return NULL;
    }
  if (state != FA_PROJECT_CLIP_OK)
    {
      if (relocated_clip == NULL)
        {
          g_set_error (error, FA_DOCUMENT_ERROR, FA_DOCUMENT_ERROR_CLIP_MISSING,
                       state == FA_PROJECT_CLIP_MISSING ? "%s: its clip %s is not there any more"
                                                        : "%s: its clip %s has changed since the project was saved",
                       path, fa_project_get_clip_path (result->project));
          return NULL;
        }
      if (!fa_project_set_clip_path (result->project, relocated_clip, error))
        return NULL;
      result->relocated = TRUE;
    }

  fa_project_get_working_options (result->project, &options);
  options.progress = progress;
  options.progress_user_data = progress_data;
  result->clip = fa_working_clip_decode (fa_project_get_clip_path (result->project), &options, cancellable, error);
  if (result->clip == NULL)
    return NULL;

  result->masks = fa_mask_set_new (result->clip->n_frames, result->clip->width, result->clip->height, error);
  if (result->masks == NULL)
    return NULL;
  if (!fa_project_apply_keyframes (result->project, result->masks, error))
    {
      g_prefix_error (error, "%s: ", path);
      return NULL;
    }
  result->project_path = g_canonicalize_filename (path, NULL);
  return g_steal_pointer (&result);
}

static OpenResult *
open_work (const char *path, const char *relocated_clip, GCancellable *cancellable, FaProgressFunc progress,
           gpointer progress_data, GError **error)
{
  if (is_project_path (path))
    return open_project (path, relocated_clip, cancellable, progress, progress_data, error);
  return open_clip (path, cancellable, progress, progress_data, error);
}

static gboolean set_range_internal (FaDocument *self, int first, int count);

/* The range and view the project recorded; anything that does not fit the
 * clip any more (a relocated clip may be shorter) is left at the default. */
static void
restore_from_project (FaDocument *self)
{
  int first = 0, count = 0;

  fa_project_get_range (self->project, &first, &count);
  if (count > 0 && first >= 0 && first <= self->clip->n_frames - FA_DOCUMENT_MIN_RANGE)
    {
      int snapped = fa_document_snap_range_count (MIN (count, self->clip->n_frames - first));
      if (snapped > 0)
        set_range_internal (self, first, snapped);
    }

  FaDocumentView view = self->view;
  g_autoptr (GVariant) look = fa_project_get_view_value (self->project, "look", G_VARIANT_TYPE_STRING);
  g_autoptr (GVariant) tint = fa_project_get_view_value (self->project, "tint-rgb", G_VARIANT_TYPE_INT32);
  g_autoptr (GVariant) opacity = fa_project_get_view_value (self->project, "opacity", G_VARIANT_TYPE_DOUBLE);
  g_autoptr (GVariant) tool = fa_project_get_view_value (self->project, "tool", G_VARIANT_TYPE_STRING);
  g_autoptr (GVariant) radius = fa_project_get_view_value (self->project, "brush-radius", G_VARIANT_TYPE_DOUBLE);
  g_autoptr (GVariant) hardness = fa_project_get_view_value (self->project, "brush-hardness", G_VARIANT_TYPE_DOUBLE);
  g_autoptr (GVariant) zoom = fa_project_get_view_value (self->project, "zoom", G_VARIANT_TYPE_DOUBLE);
  g_autoptr (GVariant) center_x = fa_project_get_view_value (self->project, "center-x", G_VARIANT_TYPE_DOUBLE);
  g_autoptr (GVariant) center_y = fa_project_get_view_value (self->project, "center-y", G_VARIANT_TYPE_DOUBLE);

  int index;
  if (look != NULL &&
      (index = name_index (look_names, G_N_ELEMENTS (look_names), g_variant_get_string (look, NULL))) >= 0)
    view.look = (FaMaskLook) index;
  if (tint != NULL)
    view.tint_rgb = (guint32) g_variant_get_int32 (tint);
  if (opacity != NULL)
    view.opacity = g_variant_get_double (opacity);
  if (tool != NULL &&
      (index = name_index (tool_names, G_N_ELEMENTS (tool_names), g_variant_get_string (tool, NULL))) >= 0)
    view.tool = (FaMaskTool) index;
  if (radius != NULL)
    view.brush_radius = g_variant_get_double (radius);
  if (hardness != NULL)
    view.brush_hardness = g_variant_get_double (hardness);
  if (zoom != NULL)
    view.zoom = g_variant_get_double (zoom);
  if (center_x != NULL)
    view.center_x = g_variant_get_double (center_x);
  if (center_y != NULL)
    view.center_y = g_variant_get_double (center_y);
  view_sanitize (&view, self->clip->width, self->clip->height);
  self->view = view;
}

/* On the owner's thread: the document the worker's result makes. */
static FaDocument *
document_from_result (OpenResult *result)
{
  FaDocument *self = document_new (g_steal_pointer (&result->clip), g_steal_pointer (&result->masks),
                                   g_steal_pointer (&result->project));

  self->project_path = g_steal_pointer (&result->project_path);
  if (self->project_path != NULL)
    restore_from_project (self);
  if (result->relocated)
    {
      self->change_serial++;
      self->modified = TRUE;
    }
  return self;
}

typedef struct {
  char *path;
  char *relocated_clip;
  ProgressPost *post;
} OpenRequest;

static void
open_request_free (OpenRequest *request)
{
  g_free (request->path);
  g_free (request->relocated_clip);
  g_clear_pointer (&request->post, progress_post_release);
  g_free (request);
}

static void
open_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  OpenRequest *request = task_data;
  GError *error = NULL;
  OpenResult *result = open_work (request->path, request->relocated_clip, cancellable,
                                  request->post != NULL ? progress_post_send : NULL, request->post, &error);

  if (result == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, result, (GDestroyNotify) open_result_free);
}

/* The worker's task is done: silence its progress, then complete the caller's. */
static void
open_thread_done (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) outer = user_data;
  OpenRequest *request = g_task_get_task_data (G_TASK (result));
  GError *error = NULL;

  progress_post_silence (request->post);
  OpenResult *open_result = g_task_propagate_pointer (G_TASK (result), &error);
  if (open_result == NULL)
    g_task_return_error (outer, error);
  else
    g_task_return_pointer (outer, open_result, (GDestroyNotify) open_result_free);
}

void
fa_document_open_async (const char *path, const char *relocated_clip, GCancellable *cancellable,
                        FaProgressFunc progress, gpointer progress_data, GAsyncReadyCallback callback,
                        gpointer user_data)
{
  g_return_if_fail (path != NULL);

  GTask *outer = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (outer, fa_document_open_async);

  OpenRequest *request = g_new0 (OpenRequest, 1);
  request->path = g_strdup (path);
  request->relocated_clip = g_strdup (relocated_clip);
  request->post = progress_post_new (progress, progress_data);

  /* takes @outer, completed in open_thread_done */
  g_autoptr (GTask) inner = g_task_new (NULL, cancellable, open_thread_done, outer);
  g_task_set_source_tag (inner, open_thread);
  g_task_set_task_data (inner, request, (GDestroyNotify) open_request_free);
  g_task_run_in_thread (inner, open_thread);
}

FaDocument *
fa_document_open_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == fa_document_open_async, NULL);

  g_autoptr (OpenResult) open_result = g_task_propagate_pointer (G_TASK (result), error);
  if (open_result == NULL)
    return NULL;
  return document_from_result (open_result);
}

FaDocument *
fa_document_open (const char *path, const char *relocated_clip, GCancellable *cancellable, FaProgressFunc progress,
                  gpointer progress_data, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autoptr (OpenResult) result = open_work (path, relocated_clip, cancellable, progress, progress_data, error);
  if (result == NULL)
    return NULL;
  return document_from_result (result);
}

FaDocument *
fa_document_new_for_clip (FaWorkingClip *clip)
{
  g_return_val_if_fail (clip != NULL, NULL);
  g_return_val_if_fail (clip->n_frames >= FA_DOCUMENT_MIN_RANGE, NULL);

  g_autoptr (GError) error = NULL;
  FaMaskSet *masks = fa_mask_set_new (clip->n_frames, clip->width, clip->height, &error);
  if (masks == NULL)
    {
      g_critical ("a document on a clip of %d frames of %d×%d: %s", clip->n_frames, clip->width, clip->height,
                  error->message);
      fa_working_clip_free (clip);
      return NULL;
    }
  return document_new (clip, masks, NULL);
}

gboolean
fa_document_error_is_clip_missing (const GError *error)
{
  return g_error_matches (error, FA_DOCUMENT_ERROR, FA_DOCUMENT_ERROR_CLIP_MISSING);
}

char *
fa_document_peek_project_clip (const char *project_path, GError **error)
{
  g_return_val_if_fail (project_path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autoptr (FaProject) project = fa_project_load (project_path, error);
  if (project == NULL)
    return NULL;
  return g_strdup (fa_project_get_clip_path (project));
}

/* ---- what is open ---- */

const char *
fa_document_get_clip_path (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), NULL);
  return self->project != NULL ? fa_project_get_clip_path (self->project) : NULL;
}

const FaClipInfo *
fa_document_get_clip_info (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), NULL);
  return self->clip->source;
}

const FaWorkingClip *
fa_document_get_clip (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), NULL);
  return self->clip;
}

int
fa_document_get_n_frames (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), 0);
  return self->clip->n_frames;
}

int
fa_document_get_width (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), 0);
  return self->clip->width;
}

int
fa_document_get_height (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), 0);
  return self->clip->height;
}

const char *
fa_document_get_project_path (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), NULL);
  return self->project_path;
}

char *
fa_document_dup_title (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), NULL);

  if (self->project_path != NULL)
    {
      g_autofree char *name = g_path_get_basename (self->project_path);
      if (is_project_path (name))
        name[strlen (name) - strlen (FA_PROJECT_EXTENSION)] = '\0';
      return g_steal_pointer (&name);
    }
  const char *clip_path = fa_document_get_clip_path (self);
  if (clip_path != NULL)
    return g_path_get_basename (clip_path);
  return g_strdup ("Untitled");
}

FaProject *
fa_document_get_project (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), NULL);
  return self->project;
}

gboolean
fa_document_get_modified (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), FALSE);
  return self->modified;
}

void
fa_document_set_modified (FaDocument *self)
{
  g_return_if_fail (FA_IS_DOCUMENT (self));
  mark_changed (self);
}

/* ---- playhead and range ---- */

int
fa_document_get_current_frame (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), 0);
  return self->current_frame;
}

void
fa_document_set_current_frame (FaDocument *self, int frame)
{
  g_return_if_fail (FA_IS_DOCUMENT (self));

  frame = CLAMP (frame, 0, self->clip->n_frames - 1);
  if (frame == self->current_frame)
    return;
  self->current_frame = frame;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CURRENT_FRAME]);
}

void
fa_document_get_range (FaDocument *self, int *first, int *count)
{
  g_return_if_fail (FA_IS_DOCUMENT (self));
  if (first != NULL)
    *first = self->range_first;
  if (count != NULL)
    *count = self->range_count;
}

int
fa_document_snap_range_count (int count)
{
  if (count < FA_DOCUMENT_MIN_RANGE)
    return 0;
  count = MIN (count, FA_DOCUMENT_MAX_RANGE);
  return 1 + 4 * ((count - 1) / 4);
}

/* @first and @count already valid for the clip; TRUE when either changed. */
static gboolean
set_range_internal (FaDocument *self, int first, int count)
{
  gboolean first_changed = first != self->range_first, count_changed = count != self->range_count;

  g_assert (first >= 0 && count >= FA_DOCUMENT_MIN_RANGE && count <= FA_DOCUMENT_MAX_RANGE &&
            (count - 1) % 4 == 0 && first + count <= self->clip->n_frames);

  self->range_first = first;
  self->range_count = count;
  g_object_freeze_notify (G_OBJECT (self));
  if (first_changed)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RANGE_FIRST]);
  if (count_changed)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RANGE_COUNT]);
  g_object_thaw_notify (G_OBJECT (self));
  return first_changed || count_changed;
}

static void
change_range (FaDocument *self, int first, int count)
{
  if (set_range_internal (self, first, count))
    mark_changed (self);
}

gboolean
fa_document_set_range (FaDocument *self, int first, int count, GError **error)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  int n = self->clip->n_frames;
  if (first < 0 || first > n - FA_DOCUMENT_MIN_RANGE)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "a range starting at frame %d: a range of at least %d frames starts in [0, %d] on a clip of "
                   "%d frames", first, FA_DOCUMENT_MIN_RANGE, n - FA_DOCUMENT_MIN_RANGE, n);
      return FALSE;
    }
  int snapped = fa_document_snap_range_count (MIN (count, n - first));
  if (snapped == 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "a range of %d frames: it needs at least %d", count, FA_DOCUMENT_MIN_RANGE);
      return FALSE;
    }
  change_range (self, first, snapped);
  return TRUE;
}

/* How the I and O keys read the header's rule. With the new end at @frame
 * (clamped to the clip) and the other end where it is, the span c counts
 * both ends:
 *   5 ≤ c ≤ 81: the range keeps the new end and takes c brought down to
 *               1 + 4k, so the other end moves inwards by at most 3 frames;
 *   c > 81:     81 frames from the new end (the other end moves inwards);
 *   c < 5:      5 frames from the new end, which includes the other end
 *               lying on the wrong side of the new one (an out point before
 *               the in point);
 * and when that runs past the clip's start or end the range slides back
 * inside it, keeping its count (so the new end then lies inside it, not
 * on its edge). A clip of exactly 5 frames always has the range 0…4. */
static int
span_count (int span)
{
  if (span > FA_DOCUMENT_MAX_RANGE)
    return FA_DOCUMENT_MAX_RANGE;
  if (span < FA_DOCUMENT_MIN_RANGE)
    return FA_DOCUMENT_MIN_RANGE;
  return fa_document_snap_range_count (span);
}

void
fa_document_set_in_point (FaDocument *self, int frame)
{
  g_return_if_fail (FA_IS_DOCUMENT (self));

  int n = self->clip->n_frames;
  int first = CLAMP (frame, 0, n - 1);
  int last = self->range_first + self->range_count - 1;
  int count = span_count (last - first + 1);

  if (first + count > n)
    first = n - count;
  change_range (self, first, count);
}

void
fa_document_set_out_point (FaDocument *self, int frame)
{
  g_return_if_fail (FA_IS_DOCUMENT (self));

  int n = self->clip->n_frames;
  int last = CLAMP (frame, 0, n - 1);
  int count = span_count (last - self->range_first + 1);
  int first = last - count + 1;

  if (first < 0)
    first = 0;
  change_range (self, first, count);
}

/* ---- masks ---- */

const FaMaskSet *
fa_document_get_masks (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), NULL);
  return self->masks;
}

void
fa_document_get_frame_mask_state (FaDocument *self, int frame, FaFrameMaskState *state)
{
  g_return_if_fail (FA_IS_DOCUMENT (self));
  g_return_if_fail (state != NULL);
  g_return_if_fail (frame >= 0 && frame < self->clip->n_frames);

  if (self->coverage_dirty[frame])
    {
      const guint8 *alpha = fa_mask_set_peek_frame (self->masks, frame);
      gsize n = (gsize) self->clip->width * (gsize) self->clip->height, inside = 0;
      for (gsize i = 0; i < n; i++)
        inside += alpha[i] >= 128;
      self->coverage[frame] = (float) ((double) inside / (double) n);
      self->coverage_dirty[frame] = 0;
    }
  state->keyframe = fa_mask_set_is_keyframe (self->masks, frame);
  state->coverage = self->coverage[frame];
  state->confidence = fa_mask_set_get_confidence (self->masks, frame);
}

/* Closes the open history step; a kept step is an unsaved change. */
static void
end_step (FaDocument *self)
{
  if (fa_mask_history_end (self->history))
    mark_changed (self);
  update_history_state (self);
}

void
fa_document_stroke_begin (FaDocument *self, int frame, gboolean erase)
{
  g_return_if_fail (FA_IS_DOCUMENT (self));
  g_return_if_fail (!self->stroke_active);
  g_return_if_fail (frame >= 0 && frame < self->clip->n_frames);

  fa_mask_history_begin (self->history, erase ? "Eraser Stroke" : "Brush Stroke");
  self->stroke_active = TRUE;
  self->stroke_frame = frame;
  self->stroke_erase = erase;
  self->stroke_has_point = FALSE;
}

void
fa_document_stroke_add_point (FaDocument *self, double x, double y)
{
  g_autoptr (GError) error = NULL;

  g_return_if_fail (FA_IS_DOCUMENT (self));
  g_return_if_fail (self->stroke_active);

  /* a pointer position that means nothing leaves the stroke as it was */
  if (!isfinite (x) || !isfinite (y))
    return;

  FaMaskPoint points[2];
  int n_points = 0;
  if (self->stroke_has_point)
    points[n_points++] = self->stroke_last;
  points[n_points++] = (FaMaskPoint) { .x = (float) x, .y = (float) y };

  FaMaskStroke stroke = {
    .points = points,
    .n_points = n_points,
    .radius = (float) self->view.brush_radius,
    .hardness = (float) self->view.brush_hardness,
    .erase = self->stroke_erase,
  };
  if (!self->stroke_has_point)
    fa_mask_history_record (self->history, self->stroke_frame);
  /* the view's values are clamped and the point is finite: nothing to refuse */
  if (!fa_mask_set_apply_stroke (self->masks, self->stroke_frame, &stroke, &error))
    {
      g_critical ("a stroke point on frame %d: %s", self->stroke_frame, error->message);
      return;
    }
  self->stroke_last = points[n_points - 1];
  self->stroke_has_point = TRUE;
  /* a save finishing mid-stroke must not mark the document saved */
  self->change_serial++;
  keyframes_edited (self, self->stroke_frame, self->stroke_frame);
}

void
fa_document_stroke_end (FaDocument *self)
{
  g_return_if_fail (FA_IS_DOCUMENT (self));
  g_return_if_fail (self->stroke_active);

  self->stroke_active = FALSE;
  end_step (self);
}

gboolean
fa_document_stroke_is_active (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), FALSE);
  return self->stroke_active;
}

gboolean
fa_document_apply_box (FaDocument *self, int frame, double x0, double y0, double x1, double y1, gboolean erase)
{
  g_autoptr (GError) error = NULL;

  g_return_val_if_fail (FA_IS_DOCUMENT (self), FALSE);
  g_return_val_if_fail (!self->stroke_active, FALSE);
  g_return_val_if_fail (frame >= 0 && frame < self->clip->n_frames, FALSE);

  if (!isfinite (x0) || !isfinite (y0) || !isfinite (x1) || !isfinite (y1))
    return FALSE;
  int width = self->clip->width, height = self->clip->height;
  /* a pixel is inside when its centre is: edges round to pixel boundaries */
  int left = (int) lround (CLAMP (MIN (x0, x1), 0.0, (double) width));
  int right = (int) lround (CLAMP (MAX (x0, x1), 0.0, (double) width));
  int top = (int) lround (CLAMP (MIN (y0, y1), 0.0, (double) height));
  int bottom = (int) lround (CLAMP (MAX (y0, y1), 0.0, (double) height));
  if (right <= left || bottom <= top)
    return FALSE;

  fa_mask_history_begin (self->history, "Box");
  fa_mask_history_record (self->history, frame);
  if (!fa_mask_set_apply_box (self->masks, frame, left, top, right - left, bottom - top, erase, &error))
    g_critical ("a box on frame %d: %s", frame, error->message);
  end_step (self);
  keyframes_edited (self, frame, frame);
  return TRUE;
}

void
fa_document_clear_frame (FaDocument *self, int frame)
{
  g_autoptr (GError) error = NULL;

  g_return_if_fail (FA_IS_DOCUMENT (self));
  g_return_if_fail (!self->stroke_active);
  g_return_if_fail (frame >= 0 && frame < self->clip->n_frames);

  fa_mask_history_begin (self->history, "Clear Mask");
  fa_mask_history_record (self->history, frame);
  /* an erasing box over the whole frame: zero alpha, and a keyframe */
  if (!fa_mask_set_apply_box (self->masks, frame, 0, 0, self->clip->width, self->clip->height, TRUE, &error))
    g_critical ("clearing frame %d: %s", frame, error->message);
  end_step (self);
  keyframes_edited (self, frame, frame);
}

static gboolean
frame_is_blank (const FaMaskSet *masks, int frame, gsize size)
{
  const guint8 *alpha = fa_mask_set_peek_frame (masks, frame);
  for (gsize i = 0; i < size; i++)
    if (alpha[i] != 0)
      return FALSE;
  return TRUE;
}

void
fa_document_clear_all (FaDocument *self)
{
  g_return_if_fail (FA_IS_DOCUMENT (self));
  g_return_if_fail (!self->stroke_active);

  gsize size = (gsize) self->clip->width * (gsize) self->clip->height;
  int first = -1, last = -1;

  fa_mask_history_begin (self->history, "Clear All Masks");
  for (int i = 0; i < self->clip->n_frames; i++)
    {
      /* only frames with something on them: the step holds two copies of each */
      if (!fa_mask_set_is_keyframe (self->masks, i) && fa_mask_set_get_confidence (self->masks, i) == 0.0f &&
          frame_is_blank (self->masks, i, size))
        continue;
      fa_mask_history_record (self->history, i);
      memset (fa_mask_set_get_frame (self->masks, i), 0, size);
      fa_mask_set_unset_keyframe (self->masks, i);
      fa_mask_set_set_confidence (self->masks, i, 0.0f);
      if (first < 0)
        first = i;
      last = i;
    }
  end_step (self);
  if (first >= 0)
    keyframes_edited (self, first, last);
}

gboolean
fa_document_get_can_undo (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), FALSE);
  return fa_mask_history_can_undo (self->history);
}

gboolean
fa_document_get_can_redo (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), FALSE);
  return fa_mask_history_can_redo (self->history);
}

const char *
fa_document_get_undo_label (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), NULL);
  return fa_mask_history_get_undo_label (self->history);
}

const char *
fa_document_get_redo_label (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), NULL);
  return fa_mask_history_get_redo_label (self->history);
}

static void
after_history_move (FaDocument *self, int first, int last)
{
  first = CLAMP (first, 0, self->clip->n_frames - 1);
  last = CLAMP (last, first, self->clip->n_frames - 1);
  keyframes_edited (self, first, last);
  mark_changed (self);
  fa_document_set_current_frame (self, first);
  update_history_state (self);
}

gboolean
fa_document_undo (FaDocument *self)
{
  int first = 0, last = 0;

  g_return_val_if_fail (FA_IS_DOCUMENT (self), FALSE);

  if (self->stroke_active || !fa_mask_history_undo (self->history, &first, &last))
    return FALSE;
  after_history_move (self, first, last);
  return TRUE;
}

gboolean
fa_document_redo (FaDocument *self)
{
  int first = 0, last = 0;

  g_return_val_if_fail (FA_IS_DOCUMENT (self), FALSE);

  if (self->stroke_active || !fa_mask_history_redo (self->history, &first, &last))
    return FALSE;
  after_history_move (self, first, last);
  return TRUE;
}

/* ---- propagation ---- */

typedef struct {
  FaBackend *backend;
  /* frames [first, first + count) of the document's clip, borrowed: the clip
   * is never written after opening and the task holds the document */
  FaWorkingClip *range_clip;
  FaMaskSet *range_masks;
  int first, count;
  guint8 *was_keyframe; /* per frame of the range, when it started */
  guint64 start_stamp;
  ProgressPost *post;
} PropagateJob;

static void
propagate_job_free (PropagateJob *job)
{
  if (job == NULL)
    return;
  g_clear_pointer (&job->backend, fa_backend_unref);
  g_free (job->range_clip); /* a view: the frames are the document's */
  g_clear_pointer (&job->range_masks, fa_mask_set_free);
  g_free (job->was_keyframe);
  g_clear_pointer (&job->post, progress_post_release);
  g_free (job);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PropagateJob, propagate_job_free)

static gboolean
range_has_keyframe (FaDocument *self)
{
  for (int i = self->range_first; i < self->range_first + self->range_count; i++)
    if (fa_mask_set_is_keyframe (self->masks, i))
      return TRUE;
  return FALSE;
}

/* On the owner's thread: what the worker needs, or NULL with @error. */
static PropagateJob *
propagate_prepare (FaDocument *self, FaBackend *backend, GError **error)
{
  if (self->propagating)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY, "the masks are being propagated already");
      return NULL;
    }
  if (!range_has_keyframe (self))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "no mask to propagate in frames %d to %d: paint a mask on a frame inside the range first",
                   self->range_first, self->range_first + self->range_count - 1);
      return NULL;
    }

  g_autoptr (PropagateJob) job = g_new0 (PropagateJob, 1);
  job->backend = fa_backend_ref (backend);
  job->first = self->range_first;
  job->count = self->range_count;
  job->start_stamp = self->edit_stamp;

  job->range_clip = g_new (FaWorkingClip, 1);
  *job->range_clip = *self->clip;
  job->range_clip->source = NULL;
  job->range_clip->n_frames = job->count;
  job->range_clip->rgb = fa_working_clip_frame (self->clip, job->first);
  job->range_clip->source_pts_ns = self->clip->source_pts_ns + job->first;

  job->range_masks = fa_mask_set_new (job->count, self->clip->width, self->clip->height, error);
  if (job->range_masks == NULL)
    return NULL;
  job->was_keyframe = g_new0 (guint8, job->count);
  for (int i = 0; i < job->count; i++)
    if (fa_mask_set_is_keyframe (self->masks, job->first + i))
      {
        job->was_keyframe[i] = 1;
        if (!fa_mask_set_set_keyframe (job->range_masks, i, fa_mask_set_peek_frame (self->masks, job->first + i),
                                       error))
          return NULL;
      }

  self->propagating = TRUE;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROPAGATING]);
  return g_steal_pointer (&job);
}

/* On any thread. */
static gboolean
propagate_run (PropagateJob *job, FaProgressFunc progress, gpointer progress_data, GCancellable *cancellable,
               GError **error)
{
  FaPropagateOptions options;

  fa_propagate_options_init (&options);
  options.progress = progress;
  options.progress_user_data = progress_data;
  return fa_mask_propagate (job->range_masks, job->range_clip, job->backend, &options, cancellable, error);
}

/* On the owner's thread: writes the result into the frames that were not
 * keyframes when it started and still are not. */
static gboolean
propagate_complete (FaDocument *self, PropagateJob *job, gboolean ok, GCancellable *cancellable, GError **error)
{
  self->propagating = FALSE;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROPAGATING]);

  /* finished just as it was cancelled: the caller asked for the masks as they were */
  if (ok && g_cancellable_set_error_if_cancelled (cancellable, error))
    ok = FALSE;
  if (!ok)
    return FALSE;

  gsize size = (gsize) self->clip->width * (gsize) self->clip->height;
  for (int i = 0; i < job->count; i++)
    {
      int frame = job->first + i;
      if (job->was_keyframe[i] || fa_mask_set_is_keyframe (self->masks, frame))
        continue;
      memcpy (fa_mask_set_get_frame (self->masks, frame), fa_mask_set_peek_frame (job->range_masks, i), size);
      fa_mask_set_set_confidence (self->masks, frame, fa_mask_set_get_confidence (job->range_masks, i));
    }
  self->propagated = TRUE;
  self->propagated_first = job->first;
  self->propagated_count = job->count;
  self->propagated_stamp = job->start_stamp;
  masks_written (self, job->first, job->first + job->count - 1);
  return TRUE;
}

static void
propagate_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  PropagateJob *job = task_data;
  GError *error = NULL;

  if (propagate_run (job, job->post != NULL ? progress_post_send : NULL, job->post, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
propagate_thread_done (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  FaDocument *self = FA_DOCUMENT (source_object);
  g_autoptr (GTask) outer = user_data;
  PropagateJob *job = g_task_get_task_data (G_TASK (result));
  GError *error = NULL;

  progress_post_silence (job->post);
  gboolean ok = g_task_propagate_boolean (G_TASK (result), &error);
  if (propagate_complete (self, job, ok, g_task_get_cancellable (outer), &error))
    g_task_return_boolean (outer, TRUE);
  else
    g_task_return_error (outer, error);
}

void
fa_document_propagate_async (FaDocument *self, FaBackend *backend, GCancellable *cancellable,
                             FaProgressFunc progress, gpointer progress_data, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  GError *error = NULL;

  g_return_if_fail (FA_IS_DOCUMENT (self));
  g_return_if_fail (backend != NULL);

  GTask *outer = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (outer, fa_document_propagate_async);
  /* propagate_complete decides: a late cancel must not report CANCELLED
   * over masks it has already written */
  g_task_set_check_cancellable (outer, FALSE);

  PropagateJob *job = propagate_prepare (self, backend, &error);
  if (job == NULL)
    {
      g_task_return_error (outer, error);
      g_object_unref (outer);
      return;
    }
  job->post = progress_post_new (progress, progress_data);

  /* takes @outer, completed in propagate_thread_done */
  g_autoptr (GTask) inner = g_task_new (self, cancellable, propagate_thread_done, outer);
  g_task_set_source_tag (inner, propagate_thread);
  g_task_set_check_cancellable (inner, FALSE);
  g_task_set_task_data (inner, job, (GDestroyNotify) propagate_job_free);
  g_task_run_in_thread (inner, propagate_thread);
}

gboolean
fa_document_propagate_finish (FaDocument *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == fa_document_propagate_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

gboolean
fa_document_propagate (FaDocument *self, FaBackend *backend, GCancellable *cancellable, FaProgressFunc progress,
                       gpointer progress_data, GError **error)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), FALSE);
  g_return_val_if_fail (backend != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_autoptr (PropagateJob) job = propagate_prepare (self, backend, error);
  if (job == NULL)
    return FALSE;
  gboolean ok = propagate_run (job, progress, progress_data, cancellable, error);
  return propagate_complete (self, job, ok, cancellable, ok ? error : NULL);
}

gboolean
fa_document_get_propagating (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), FALSE);
  return self->propagating;
}

/* TRUE when the range has a keyframe to propagate from and the range was
 * never propagated as it is now, or one of its keyframes was edited
 * (drawn, cleared, undone) since the last propagation started. Painting
 * outside the range does not make it stale. */
gboolean
fa_document_needs_propagation (FaDocument *self)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), FALSE);

  if (!range_has_keyframe (self))
    return FALSE;
  if (!self->propagated || self->propagated_first != self->range_first || self->propagated_count != self->range_count)
    return TRUE;
  for (int i = self->range_first; i < self->range_first + self->range_count; i++)
    if (self->frame_stamp[i] > self->propagated_stamp)
      return TRUE;
  return FALSE;
}

/* ---- view and tools ---- */

void
fa_document_get_view (FaDocument *self, FaDocumentView *view)
{
  g_return_if_fail (FA_IS_DOCUMENT (self));
  g_return_if_fail (view != NULL);
  *view = self->view;
}

void
fa_document_set_view (FaDocument *self, const FaDocumentView *view)
{
  g_return_if_fail (FA_IS_DOCUMENT (self));
  g_return_if_fail (view != NULL);

  FaDocumentView clean = *view;
  view_sanitize (&clean, self->clip->width, self->clip->height);
  self->view = clean;
  g_signal_emit (self, signals[SIGNAL_VIEW_CHANGED], 0);
}

/* ---- saving ---- */

static void
put_view_value (FaProject *project, const char *key, GVariant *value)
{
  g_variant_ref_sink (value);
  fa_project_set_view_value (project, key, value);
  g_variant_unref (value);
}

/* On the owner's thread: everything the document keeps goes into the
 * project, which the worker then only reads. */
static gboolean
fill_project (FaDocument *self, GError **error)
{
  if (!fa_project_set_range (self->project, self->range_first, self->range_count, error))
    return FALSE;
  if (!fa_project_set_keyframes (self->project, self->masks, error))
    return FALSE;

  const FaDocumentView *v = &self->view;
  put_view_value (self->project, "look", g_variant_new_string (look_names[v->look]));
  put_view_value (self->project, "tint-rgb", g_variant_new_int32 ((gint32) v->tint_rgb));
  put_view_value (self->project, "opacity", g_variant_new_double (v->opacity));
  put_view_value (self->project, "tool", g_variant_new_string (tool_names[v->tool]));
  put_view_value (self->project, "brush-radius", g_variant_new_double (v->brush_radius));
  put_view_value (self->project, "brush-hardness", g_variant_new_double (v->brush_hardness));
  put_view_value (self->project, "zoom", g_variant_new_double (v->zoom));
  put_view_value (self->project, "center-x", g_variant_new_double (v->center_x));
  put_view_value (self->project, "center-y", g_variant_new_double (v->center_y));
  return TRUE;
}

typedef struct {
  char *path;
  guint64 change_serial; /* when the save started */
} SaveJob;

static void
save_job_free (SaveJob *job)
{
  if (job == NULL)
    return;
  g_free (job->path);
  g_free (job);
}

static SaveJob *
save_prepare (FaDocument *self, const char *path, GError **error)
{
  if (self->project == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "this document's clip was made in memory: there is no clip file for a project to name");
      return NULL;
    }
  if (self->saving)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY, "the project is being saved already");
      return NULL;
    }
  if (path == NULL)
    path = self->project_path;
  if (path == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "the document has not been saved yet: a file name is needed");
      return NULL;
    }
  if (!fill_project (self, error))
    return NULL;

  SaveJob *job = g_new0 (SaveJob, 1);
  job->path = g_canonicalize_filename (path, NULL);
  job->change_serial = self->change_serial;
  self->saving = TRUE;
  return job;
}

static gboolean
save_complete (FaDocument *self, SaveJob *job, gboolean ok)
{
  self->saving = FALSE;
  if (!ok)
    return FALSE;
  if (g_strcmp0 (self->project_path, job->path) != 0)
    {
      g_free (self->project_path);
      self->project_path = g_strdup (job->path);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROJECT_PATH]);
    }
  if (self->change_serial == job->change_serial)
    set_modified (self, FALSE);
  return TRUE;
}

static void
save_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  FaDocument *self = FA_DOCUMENT (source_object);
  SaveJob *job = task_data;
  GError *error = NULL;

  /* checked here, not after: a file that was written is reported as saved */
  if (g_task_return_error_if_cancelled (task))
    return;
  if (fa_project_save (self->project, job->path, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
save_thread_done (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  FaDocument *self = FA_DOCUMENT (source_object);
  g_autoptr (GTask) outer = user_data;
  SaveJob *job = g_task_get_task_data (G_TASK (result));
  GError *error = NULL;

  if (save_complete (self, job, g_task_propagate_boolean (G_TASK (result), &error)))
    g_task_return_boolean (outer, TRUE);
  else
    g_task_return_error (outer, error);
}

void
fa_document_save_async (FaDocument *self, const char *path, GCancellable *cancellable, GAsyncReadyCallback callback,
                        gpointer user_data)
{
  GError *error = NULL;

  g_return_if_fail (FA_IS_DOCUMENT (self));

  GTask *outer = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (outer, fa_document_save_async);
  g_task_set_check_cancellable (outer, FALSE);

  SaveJob *job = save_prepare (self, path, &error);
  if (job == NULL)
    {
      g_task_return_error (outer, error);
      g_object_unref (outer);
      return;
    }

  /* takes @outer, completed in save_thread_done */
  g_autoptr (GTask) inner = g_task_new (self, cancellable, save_thread_done, outer);
  g_task_set_source_tag (inner, save_thread);
  g_task_set_check_cancellable (inner, FALSE);
  g_task_set_task_data (inner, job, (GDestroyNotify) save_job_free);
  g_task_run_in_thread (inner, save_thread);
}

gboolean
fa_document_save_finish (FaDocument *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == fa_document_save_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

gboolean
fa_document_save (FaDocument *self, const char *path, GError **error)
{
  g_return_val_if_fail (FA_IS_DOCUMENT (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  SaveJob *job = save_prepare (self, path, error);
  if (job == NULL)
    return FALSE;
  gboolean ok = save_complete (self, job, fa_project_save (self->project, job->path, error));
  save_job_free (job);
  return ok;
}
