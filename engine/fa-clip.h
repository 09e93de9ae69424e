/* fa-clip.h: reading clips through GStreamer: what a file holds (probe),
 * the working clip the model edits, and the source frames an export needs.
 *
 * Every decode goes through `filesrc ! decodebin3` (the decoding stage of
 * uridecodebin3, which itself stalled some pipelines before their first
 * frame in GStreamer 1.22.0) and `videoflip video-direction=auto`, so a
 * phone clip's rotation tag is honoured and sizes are those of the frames
 * as displayed.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "fa-progress.h"

G_BEGIN_DECLS

typedef struct {
  char *path;
  char *container;      /* e.g. "Quicktime", "WebM"; NULL when unknown */
  char *video_codec;    /* e.g. "H.264 (High Profile)" */
  char *audio_codec;    /* NULL without audio */
  gboolean has_audio;
  gboolean audio_is_aac; /* the audio can be copied into an MP4 as is */
  int width, height;     /* decoded frame size after rotation, in pixels */
  int par_n, par_d;      /* pixel aspect ratio (1/1 when the file says nothing) */
  int fps_n, fps_d;      /* nominal frame rate; 0/1 when unknown */
  gboolean variable_rate; /* the stream declares no fixed rate (0/1 or a max-framerate) */
  int rotation;          /* degrees clockwise applied from the orientation tag: 0, 90, 180, 270 */
  gint64 duration_ns;    /* -1 when unknown */
  gint64 n_frames;       /* duration × rate, rounded; -1 when unknown */
} FaClipInfo;

/* Opens @path far enough to read its streams, caps, tags and duration.
 * Errors name the problem: no such file, not a media file, no video
 * stream, a decoder that is not installed (with the missing plugin's
 * description), a frame size of 0 or above 8192 on a side. */
FaClipInfo *fa_clip_probe (const char *path, GCancellable *cancellable, GError **error);
void        fa_clip_info_free (FaClipInfo *info);
/* A deep copy (NULL for NULL). */
FaClipInfo *fa_clip_info_copy (const FaClipInfo *info);

typedef enum {
  FA_CLIP_FIT_CROP, /* scale to cover the working size, cut the overflow equally on both sides */
  FA_CLIP_FIT_PAD,  /* scale to fit inside, black bars equally on both sides */
} FaClipFit;

typedef struct {
  gint64 start_ns;  /* source time of the range's start (0) */
  gint64 end_ns;    /* source time of its end, exclusive; -1 (default): the end of the clip */
  int fps_n, fps_d; /* working rate, 16/1 by default; 0/0 keeps the source's nominal rate */
  int width, height; /* working size, multiples of 16 (832×480 default) */
  FaClipFit fit;    /* CROP by default */
  int max_frames;   /* at most this many working frames, of the form 1 + 4k (81 default) */
  FaProgressFunc progress; /* frames decoded of the expected count; may be NULL */
  gpointer progress_user_data;
} FaWorkingClipOptions;

void fa_working_clip_options_init (FaWorkingClipOptions *options);

/* Where the working frame lies on the source frame, in continuous pixel
 * coordinates (pixel (i, j) covers [i, i+1) × [j, j+1)):
 *   working_x = source_x · scale_x + offset_x
 *   working_y = source_y · scale_y + offset_y
 * scale_x ≠ scale_y only for non-square source pixels. Offsets are
 * negative when cropping and positive when padding. */
typedef struct {
  double scale_x, scale_y;
  double offset_x, offset_y;
} FaClipGeometry;

typedef struct {
  FaClipInfo *source;     /* NULL for a clip made in memory (synthetic, tests) */
  int n_frames, width, height;
  int fps_n, fps_d;
  guint8 *rgb;            /* n_frames × height × width × 3, packed rows */
  gint64 *source_pts_ns;  /* per working frame, the source time it was taken from */
  FaClipGeometry geometry; /* identity for a clip made in memory */
} FaWorkingClip;

/* Decodes the working clip: the frames of [start, end) resampled to the
 * working rate (a variable-rate clip becomes constant-rate), at most
 * max_frames of them and brought down to 1 + 4k, each resized and
 * cropped or padded to the working size. Frames are kept at the working
 * size only. Fewer than 5 frames in the range is an error saying how many
 * there were. */
FaWorkingClip *fa_working_clip_decode (const char *path, const FaWorkingClipOptions *options,
                                       GCancellable *cancellable, GError **error);
/* A clip of black frames at @fps_n/@fps_d with pts i·fps_d/fps_n seconds,
 * no source, identity geometry: what synthetic clips and edit results
 * fill in. NULL with an error for sizes that are not positive or too big. */
FaWorkingClip *fa_working_clip_new (int n_frames, int width, int height, int fps_n, int fps_d,
                                    GError **error);
FaWorkingClip *fa_working_clip_copy (const FaWorkingClip *clip);
void           fa_working_clip_free (FaWorkingClip *clip);

static inline guint8 *
fa_working_clip_frame (const FaWorkingClip *clip, int index)
{
  return clip->rgb + (gsize) index * (gsize) clip->width * (gsize) clip->height * 3;
}

/* The source frames as decoded (after rotation, at the decoded size, at
 * the source's own timestamps), one after another from @start_ns: what a
 * source-size export composites into. */
typedef struct _FaClipReader FaClipReader;

FaClipReader *fa_clip_reader_new (const char *path, gint64 start_ns, GCancellable *cancellable,
                                  GError **error);
/* The next frame (packed RGB rows, valid until the next call) and its
 * source timestamp. FALSE with @error unset at the end of the clip. */
gboolean fa_clip_reader_next (FaClipReader *reader, const guint8 **rgb, int *width, int *height,
                              gint64 *pts_ns, GError **error);
void     fa_clip_reader_free (FaClipReader *reader);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaClipInfo, fa_clip_info_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaWorkingClip, fa_working_clip_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaClipReader, fa_clip_reader_free)

G_END_DECLS
