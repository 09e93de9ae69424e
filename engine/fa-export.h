/* fa-export.h: writing an edited clip: MP4 (H.264, AAC copied from the
 * source when it is AAC, else encoded) or WebM (VP9, Opus), at the working
 * size or composited into the source frames at the source size.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "fa-clip.h"
#include "fa-mask.h"
#include "fa-progress.h"

G_BEGIN_DECLS

typedef enum {
  FA_EXPORT_FORMAT_AUTO, /* from the extension: .mp4 .m4v .mov → MP4, .webm → WebM */
  FA_EXPORT_FORMAT_MP4,
  FA_EXPORT_FORMAT_WEBM,
} FaExportFormat;

typedef enum {
  FA_EXPORT_SIZE_WORKING, /* the edited frames as they are, at the working rate */
  FA_EXPORT_SIZE_SOURCE,  /* every source frame of the range at its own size and time, the edit
                           * scaled up and composited in through the feathered mask */
} FaExportSize;

typedef struct {
  FaExportFormat format;
  FaExportSize size;
  int quality;      /* CRF-like, 0 (best) … 51 (smallest); x264's crf, mapped onto VP9's cq-level; 18 by default */
  gboolean audio;   /* carry the source's audio over the same range (TRUE by default) */
  float feather_px; /* soft edge of the composite, in source pixels (4 by default) */
  FaProgressFunc progress; /* frames written of the total */
  gpointer progress_user_data;
} FaExportOptions;

void fa_export_options_init (FaExportOptions *options);

/* Writes @edited to @path. @edited->source (with the timestamps and the
 * geometry) says where the frames came from; a clip without a source
 * exports at the working size without audio. @masks (edited's frame count
 * and size) is the region the edit may change in a source-size export;
 * NULL: the whole frame.
 *
 * The file is written beside @path under a temporary name and renamed over
 * @path only after end-of-stream has come back on the bus, so a failure
 * or a cancel leaves any existing file at @path untouched. Errors name
 * the problem: a folder that does not exist or cannot be written, a
 * missing encoder or muxer (with its plugin), a source that changed. */
gboolean fa_export (const FaWorkingClip *edited, const FaMaskSet *masks, const char *path,
                    const FaExportOptions *options, GCancellable *cancellable, GError **error);

G_END_DECLS
