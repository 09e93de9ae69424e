/* fa-clip.c: reading clips through GStreamer.
 *
 * Every read builds its own pipeline,
 *
 *   filesrc ! decodebin3 ! videoconvert ! videoflip video-direction=auto ! … ! appsink
 *
 * whose first video stream goes down the chain; other streams are decoded
 * into fakesinks, and what the probe says about the audio comes from the
 * stream collection. The decoded video pad is watched by a pad probe that
 * records its caps and tags before videoflip consumes the orientation
 * tag, and that stops frames of a size no editor could hold before they
 * are converted or scaled.
 *
 * Nothing here waits without a limit: the bus is popped in short slices
 * (so a cancellable is noticed within one) against a deadline that moves
 * on with every sign of progress.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-clip"

#include "config.h"

#include "fa-clip.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/pbutils/pbutils.h>
#include <gst/video/video.h>
#include <string.h>
#include <unistd.h>

#include "fa-error.h"

#define MAX_SOURCE_SIDE 8192
#define MAX_WORKING_SIDE 4096
#define MAX_WORKING_FRAMES 4097
#define MAX_WORKING_FPS 240
#define MAX_MEMORY_FRAMES 1000000

/* How long a pipeline may go without a sign of progress before the read
 * is given up as hung: no message on the bus while opening (GStreamer
 * 1.22's parsebin now and then swallows a demuxer's error on a damaged
 * file, and nothing follows), no frame while decoding. */
#define PREROLL_STALL (10 * GST_SECOND)
#define FRAME_STALL (30 * GST_SECOND)
#define POP_SLICE (50 * GST_MSECOND)

/* The rate a variable-rate clip is read at when the caller keeps "the
 * source's rate" and the file names none. */
#define FALLBACK_FPS 30

/* Working frames' time read before the start and after the end of the
 * range, see fa_working_clip_decode. */
#define MARGIN_FRAMES 4

/* Source timestamps ride along on each buffer through videorate and
 * videoscale, which rewrite PTS but copy untagged metas. */
#define SOURCE_PTS_CAPS "timestamp/x-flowanchor-source-pts"

typedef enum {
  CHAIN_PROBE,   /* videoflip, any raw format */
  CHAIN_WORKING, /* … videorate ! videoscale ! RGB at the scaled size */
  CHAIN_READER,  /* … RGB at the decoded size */
} ChainKind;

typedef struct {
  char *path;
  GstElement *pipeline;
  GstElement *decodebin;
  GstElement *chain_sink; /* where the decoded video pad links */
  GstElement *appsink;
  GstBus *bus;
  GstCaps *source_pts_caps;

  GMutex lock; /* guards what the streaming threads write below */
  GstStreamCollection *collection;
  GstCaps *decoded_caps; /* on the decoded pad, before rotation */
  GstTagList *tags;      /* global and video stream tags, merged */
  char *missing;         /* descriptions of missing plugins, "; "-joined */
  gint64 no_video_since; /* when a collection without video was first seen */
  int bad_width, bad_height;
  gboolean bad_size;
  gboolean linked;
} Reader;

/* ---- set up ---- */

static gboolean
ensure_gst (GError **error)
{
  g_autoptr (GError) local_error = NULL;

  if (!gst_init_check (NULL, NULL, &local_error))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED, "GStreamer does not start: %s",
                   local_error->message);
      return FALSE;
    }
  gst_pb_utils_init ();
  return TRUE;
}

static guint64
read_be (const guint8 *p, int n)
{
  guint64 v = 0;

  for (int i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

/* An MP4 or QuickTime file cut short: its top-level boxes hold no index
 * (moov, or moof for a fragmented file), or the last box runs past the end
 * of the file. Said here because GStreamer reads neither as an error:
 * qtdemux plays a cut file with its index up to the cut and stops as if
 * the clip ended there, and GStreamer 1.22's parsebin now and then drops
 * qtdemux's error for a missing index, so the read would only time out. */
static gboolean
check_iso_index (const char *path, int fd, gint64 file_size, GError **error)
{
  static const char *const top_level[] = { "ftyp", "moov", "mdat", "free", "skip", "wide", "pnot", "uuid",
                                           "moof", "mfra", "meta", "styp", "sidx", "pdin", NULL };
  guint8 header[16];
  gint64 offset = 0;
  gboolean iso = FALSE, index = FALSE;

  for (int n = 0; n < 100000 && offset + 8 <= file_size; n++)
    {
      guint64 size;
      char type[5] = { 0 };

      if (pread (fd, header, sizeof header, offset) < 8)
        break;
      memcpy (type, header + 4, 4);
      if (!g_strv_contains (top_level, type))
        return TRUE; /* not ISO media, or boxes we do not know: GStreamer decides */
      iso = TRUE;
      if (g_str_equal (type, "moov") || g_str_equal (type, "moof"))
        index = TRUE;
      size = read_be (header, 4);
      if (size == 1)
        size = offset + 16 <= file_size ? read_be (header + 8, 8) : 0;
      else if (size == 0)
        size = (guint64) (file_size - offset);
      if (size < 8)
        return TRUE;
      if (size > (guint64) (file_size - offset))
        {
          g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                       "%s: is truncated: its '%s' box needs %" G_GUINT64_FORMAT " bytes from offset %" G_GINT64_FORMAT
                       ", but the file ends after %" G_GINT64_FORMAT "; a copy cut short?", path, type, size, offset,
                       file_size - offset);
          return FALSE;
        }
      offset += (gint64) size;
    }
  if (iso && !index)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                   "%s: is truncated or damaged: it is an MP4/QuickTime file without its index (moov box); "
                   "a recording that was not finished or a copy cut short", path);
      return FALSE;
    }
  return TRUE;
}

/* Errors GStreamer words vaguely (or not at all, for an empty file) are
 * caught before a pipeline exists. */
static gboolean
check_file (const char *path, GError **error)
{
  GStatBuf st;
  gboolean ok;
  int fd;

  if (path == NULL || *path == '\0')
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "no clip path given");
      return FALSE;
    }
  if (g_stat (path, &st) != 0)
    {
      int saved = errno;
      g_set_error (error, FA_ERROR, saved == ENOENT || saved == ENOTDIR ? FA_ERROR_NOT_FOUND : FA_ERROR_INVALID_ARGUMENT,
                   "%s: %s", path, g_strerror (saved));
      return FALSE;
    }
  if (S_ISDIR (st.st_mode))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "%s: is a folder, not a clip", path);
      return FALSE;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "%s: is not a regular file", path);
      return FALSE;
    }
  if (st.st_size == 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: the file is empty", path);
      return FALSE;
    }
  fd = g_open (path, O_RDONLY, 0);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "%s: cannot be opened: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  ok = check_iso_index (path, fd, (gint64) st.st_size, error);
  close (fd);
  return ok;
}

static void
reader_free (Reader *r)
{
  if (r == NULL)
    return;
  if (r->pipeline != NULL)
    {
      gst_element_set_state (r->pipeline, GST_STATE_NULL);
      gst_object_unref (r->pipeline);
    }
  g_clear_object (&r->bus);
  g_clear_object (&r->appsink);
  g_clear_object (&r->decodebin);
  g_clear_object (&r->chain_sink);
  gst_clear_caps (&r->source_pts_caps);
  gst_clear_object (&r->collection);
  gst_clear_caps (&r->decoded_caps);
  g_clear_pointer (&r->tags, gst_tag_list_unref);
  g_free (r->missing);
  g_free (r->path);
  g_mutex_clear (&r->lock);
  g_free (r);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Reader, reader_free)

static int
first_video_index (GstStreamCollection *collection)
{
  guint n = gst_stream_collection_get_size (collection);

  for (guint i = 0; i < n; i++)
    if (gst_stream_get_stream_type (gst_stream_collection_get_stream (collection, i)) & GST_STREAM_TYPE_VIDEO)
      return (int) i;
  return -1;
}

/* A collection without video is refused as soon as it is seen; nothing
 * of it is set up for decoding meanwhile (tearing down a decodebin3 that
 * is still building its decoders makes GStreamer 1.22 warn about data
 * before a segment). Otherwise decodebin3 chooses: see drop_stream. */
static int
on_select_stream (GstElement *decodebin, GstStreamCollection *collection, GstStream *stream,
                  gpointer user_data)
{
  Reader *r = user_data;

  g_mutex_lock (&r->lock);
  if (r->collection != collection)
    gst_object_replace ((GstObject **) &r->collection, GST_OBJECT (collection));
  g_mutex_unlock (&r->lock);
  return first_video_index (collection) < 0 ? 0 : -1;
}

static GstPadProbeReturn
on_decoded_event (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Reader *r = user_data;
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

  if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS)
    {
      GstCaps *caps;
      int width = 0, height = 0;

      gst_event_parse_caps (event, &caps);
      const GstStructure *s = gst_caps_get_structure (caps, 0);
      gst_structure_get_int (s, "width", &width);
      gst_structure_get_int (s, "height", &height);
      g_mutex_lock (&r->lock);
      gst_caps_replace (&r->decoded_caps, caps);
      if (width <= 0 || height <= 0 || width > MAX_SOURCE_SIDE || height > MAX_SOURCE_SIDE)
        {
          r->bad_size = TRUE;
          r->bad_width = width;
          r->bad_height = height;
        }
      gboolean bad = r->bad_size;
      g_mutex_unlock (&r->lock);
      /* no frame of a size refused goes on to be converted or scaled */
      if (bad)
        return GST_PAD_PROBE_DROP;
    }
  else if (GST_EVENT_TYPE (event) == GST_EVENT_TAG)
    {
      GstTagList *tags;

      gst_event_parse_tag (event, &tags);
      g_mutex_lock (&r->lock);
      if (r->tags == NULL)
        r->tags = gst_tag_list_copy (tags);
      else
        {
          r->tags = gst_tag_list_make_writable (r->tags);
          gst_tag_list_insert (r->tags, tags, GST_TAG_MERGE_REPLACE);
        }
      g_mutex_unlock (&r->lock);
    }
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
on_decoded_buffer (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Reader *r = user_data;
  gboolean bad;

  g_mutex_lock (&r->lock);
  bad = r->bad_size;
  g_mutex_unlock (&r->lock);
  return bad ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
}

/* Stamps each frame leaving videoflip with its stream time in the source. */
static GstPadProbeReturn
on_flipped_buffer (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Reader *r = user_data;
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  GstClockTime pts = GST_BUFFER_PTS (buffer);
  g_autoptr (GstEvent) segment_event = gst_pad_get_sticky_event (pad, GST_EVENT_SEGMENT, 0);

  if (!GST_CLOCK_TIME_IS_VALID (pts))
    return GST_PAD_PROBE_OK;
  if (segment_event != NULL)
    {
      const GstSegment *segment;
      guint64 stream_time;

      gst_event_parse_segment (segment_event, &segment);
      if (segment->format == GST_FORMAT_TIME &&
          gst_segment_to_stream_time_full (segment, GST_FORMAT_TIME, pts, &stream_time) == 1)
        pts = stream_time;
    }
  buffer = gst_buffer_make_writable (buffer);
  gst_buffer_add_reference_timestamp_meta (buffer, r->source_pts_caps, pts, GST_CLOCK_TIME_NONE);
  GST_PAD_PROBE_INFO_DATA (info) = buffer;
  return GST_PAD_PROBE_OK;
}

/* Streams other than the first video stream (audio, subtitles, more
 * video) are decoded and dropped: declining them in decodebin3's stream
 * selection stalls GStreamer 1.22's decodebin3 now and then before the
 * first frame. */
static void
drop_stream (Reader *r, GstPad *pad)
{
  GstElement *drop = gst_element_factory_make ("fakesink", NULL);
  g_autoptr (GstPad) drop_pad = NULL;

  if (drop == NULL)
    return;
  g_object_set (drop, "sync", FALSE, "async", FALSE, NULL);
  gst_bin_add (GST_BIN (r->pipeline), drop);
  drop_pad = gst_element_get_static_pad (drop, "sink");
  gst_pad_link (pad, drop_pad);
  gst_element_sync_state_with_parent (drop);
}

static void
on_pad_added (GstElement *decodebin, GstPad *pad, gpointer user_data)
{
  Reader *r = user_data;
  g_autoptr (GstCaps) caps = gst_pad_query_caps (pad, NULL);
  g_autoptr (GstPad) sink = NULL;
  gboolean take = FALSE;

  if (caps != NULL && !gst_caps_is_empty (caps) &&
      g_str_has_prefix (gst_structure_get_name (gst_caps_get_structure (caps, 0)), "video/"))
    {
      g_mutex_lock (&r->lock);
      take = !r->linked;
      r->linked = TRUE;
      g_mutex_unlock (&r->lock);
    }
  if (!take)
    {
      drop_stream (r, pad);
      return;
    }
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, on_decoded_event, r, NULL);
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, on_decoded_buffer, r, NULL);
  sink = gst_element_get_static_pad (r->chain_sink, "sink");
  if (gst_pad_link (pad, sink) != GST_PAD_LINK_OK)
    g_warning ("%s: the decoded video pad does not link", r->path);
}

/* Adds a new @factory element to the pipeline and to @chain (borrowed). */
static GstElement *
add_element (Reader *r, GPtrArray *chain, const char *factory, GError **error)
{
  GstElement *element = gst_element_factory_make (factory, NULL);

  if (element == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "the GStreamer element %s is not installed (gst-plugins-base)", factory);
      return NULL;
    }
  gst_bin_add (GST_BIN (r->pipeline), element);
  if (chain != NULL)
    g_ptr_array_add (chain, element);
  return element;
}

/* @caps: what the appsink takes (NULL: anything). */
static Reader *
reader_build (const char *path, ChainKind kind, GstCaps *caps, gboolean with_rate, GError **error)
{
  g_autoptr (Reader) r = g_new0 (Reader, 1);
  g_autoptr (GPtrArray) chain = g_ptr_array_new ();
  GstElement *source, *element;

  g_mutex_init (&r->lock);
  if (!check_file (path, error) || !ensure_gst (error))
    return NULL;
  r->path = g_strdup (path);
  r->source_pts_caps = gst_caps_new_empty_simple (SOURCE_PTS_CAPS);
  r->pipeline = gst_object_ref_sink (gst_pipeline_new (NULL));
  r->bus = gst_element_get_bus (r->pipeline);

  /* filesrc ! decodebin3 rather than uridecodebin3: the latter's parsing
   * in urisourcebin races with decodebin3's input in GStreamer 1.22.0 and
   * leaves one pipeline in ten or so blocked before its first frame. The
   * decoding (decodebin3, its stream collection and selection) is the same. */
  if ((source = add_element (r, NULL, "filesrc", error)) == NULL ||
      (element = add_element (r, NULL, "decodebin3", error)) == NULL)
    return NULL;
  g_object_set (source, "location", path, NULL);
  if (!gst_element_link (source, element))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED, "%s: filesrc does not link to decodebin3", path);
      return NULL;
    }
  r->decodebin = gst_object_ref (element);
  g_signal_connect (element, "select-stream", G_CALLBACK (on_select_stream), r);
  g_signal_connect (element, "pad-added", G_CALLBACK (on_pad_added), r);

  /* passes through when videoflip takes the decoder's format as is */
  if ((element = add_element (r, chain, "videoconvert", error)) == NULL)
    return NULL;
  r->chain_sink = gst_object_ref (element);
  if ((element = add_element (r, chain, "videoflip", error)) == NULL)
    return NULL;
  gst_util_set_object_arg (G_OBJECT (element), "video-direction", "auto");
  if (kind == CHAIN_WORKING)
    {
      g_autoptr (GstPad) src = gst_element_get_static_pad (element, "src");
      gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER, on_flipped_buffer, r, NULL);
      if (with_rate && add_element (r, chain, "videorate", error) == NULL)
        return NULL;
      if ((element = add_element (r, chain, "videoscale", error)) == NULL)
        return NULL;
      g_object_set (element, "add-borders", FALSE, NULL);
    }
  if (kind != CHAIN_PROBE && add_element (r, chain, "videoconvert", error) == NULL)
    return NULL;
  if ((element = add_element (r, chain, "appsink", error)) == NULL)
    return NULL;
  /* a few frames ahead at most: memory stays at a handful of frames */
  g_object_set (element, "sync", FALSE, "max-buffers", 4, "drop", FALSE, "enable-last-sample", FALSE,
                "caps", caps, NULL);
  r->appsink = gst_object_ref (element);

  for (guint i = 0; i + 1 < chain->len; i++)
    if (!gst_element_link (chain->pdata[i], chain->pdata[i + 1]))
      {
        g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED, "%s: the decoding pipeline does not link (%s ! %s)",
                     path, GST_OBJECT_NAME (chain->pdata[i]), GST_OBJECT_NAME (chain->pdata[i + 1]));
        return NULL;
      }
  return g_steal_pointer (&r);
}

/* ---- waiting on the bus ---- */

static void
add_missing (Reader *r, GstMessage *message)
{
  g_autofree char *description = gst_missing_plugin_message_get_description (message);

  if (description == NULL)
    return;
  g_mutex_lock (&r->lock);
  if (r->missing == NULL)
    r->missing = g_steal_pointer (&description);
  else if (strstr (r->missing, description) == NULL)
    {
      char *joined = g_strconcat (r->missing, "; ", description, NULL);
      g_free (r->missing);
      r->missing = joined;
    }
  g_mutex_unlock (&r->lock);
}

/* A missing plugin is only an error once the video cannot be decoded
 * without it (a clip whose audio has no decoder still edits). */
static gboolean
missing_error (Reader *r, GError **error)
{
  gboolean found;

  g_mutex_lock (&r->lock);
  found = r->missing != NULL;
  if (found)
    g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                 "%s: cannot be decoded: a GStreamer plugin is not installed: %s", r->path, r->missing);
  g_mutex_unlock (&r->lock);
  return found;
}

/* How long a collection without video waits for the missing-plugin
 * messages that explain it (a video stream with no decoder is left out of
 * the collection, and parsebin posts why a moment later). */
#define NO_VIDEO_GRACE_US (300 * G_TIME_SPAN_MILLISECOND)

/* An error that was found by the probes on the decoded pad or in the
 * stream collection outranks GStreamer's own (which is only the
 * consequence). Returns TRUE with @error set when there is one; @final
 * when the pipeline has failed or ended, so there is nothing to wait for. */
static gboolean
reader_own_error (Reader *r, gboolean final, GError **error)
{
  gboolean bad_size, no_video, audio = FALSE, waited;
  int bad_width, bad_height;

  g_mutex_lock (&r->lock);
  bad_size = r->bad_size;
  bad_width = r->bad_width;
  bad_height = r->bad_height;
  no_video = r->collection != NULL && first_video_index (r->collection) < 0;
  if (no_video)
    {
      for (guint i = 0; i < gst_stream_collection_get_size (r->collection); i++)
        if (gst_stream_get_stream_type (gst_stream_collection_get_stream (r->collection, i)) & GST_STREAM_TYPE_AUDIO)
          audio = TRUE;
      if (r->no_video_since == 0)
        r->no_video_since = g_get_monotonic_time ();
    }
  waited = no_video && (final || g_get_monotonic_time () - r->no_video_since >= NO_VIDEO_GRACE_US);
  g_mutex_unlock (&r->lock);

  if (bad_size)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "%s: its frames are %d×%d; frames from 1×1 to %d×%d are supported", r->path,
                   bad_width, bad_height, MAX_SOURCE_SIDE, MAX_SOURCE_SIDE);
      return TRUE;
    }
  if (no_video && missing_error (r, error))
    return TRUE;
  if (waited)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED, "%s: has no video stream%s", r->path,
                   audio ? " (only audio)" : "");
      return TRUE;
    }
  return FALSE;
}

static void
set_bus_error (Reader *r, GstMessage *message, GError **error)
{
  g_autoptr (GError) gst_error = NULL;
  g_autofree char *debug = NULL;
  FaError code = FA_ERROR_CORRUPT_FILE;
  const char *what = "is damaged, or not a media file GStreamer can read";

  if (reader_own_error (r, TRUE, error) || missing_error (r, error))
    return;
  gst_message_parse_error (message, &gst_error, &debug);
  g_debug ("%s: %s (%s)", r->path, gst_error->message, debug ? debug : "");
  if (gst_error->domain == GST_CORE_ERROR && gst_error->code == GST_CORE_ERROR_MISSING_PLUGIN)
    {
      code = FA_ERROR_UNSUPPORTED;
      what = "needs a GStreamer plugin that is not installed";
    }
  else if (gst_error->domain == GST_STREAM_ERROR)
    {
      switch (gst_error->code)
        {
        case GST_STREAM_ERROR_CODEC_NOT_FOUND:
          code = FA_ERROR_UNSUPPORTED;
          what = "needs a decoder that is not installed";
          break;
        case GST_STREAM_ERROR_TYPE_NOT_FOUND:
          what = "is not a media file GStreamer recognises";
          break;
        case GST_STREAM_ERROR_DECODE:
          what = "holds video that does not decode";
          break;
        case GST_STREAM_ERROR_DEMUX:
        case GST_STREAM_ERROR_FORMAT:
          what = "is damaged or truncated";
          break;
        default:
          break;
        }
    }
  else if (gst_error->domain == GST_RESOURCE_ERROR &&
           (gst_error->code == GST_RESOURCE_ERROR_NOT_FOUND || gst_error->code == GST_RESOURCE_ERROR_OPEN_READ))
    {
      code = FA_ERROR_NOT_FOUND;
      what = "cannot be read";
    }
  g_set_error (error, FA_ERROR, code, "%s: %s (%s)", r->path, what, gst_error->message);
}

/* Handles one message; returns FALSE with @error set when it ends the read. */
static gboolean
reader_handle (Reader *r, GstMessage *message, GError **error)
{
  switch (GST_MESSAGE_TYPE (message))
    {
    case GST_MESSAGE_ERROR:
      set_bus_error (r, message, error);
      return FALSE;
    case GST_MESSAGE_ELEMENT:
      if (gst_is_missing_plugin_message (message))
        add_missing (r, message);
      return TRUE;
    case GST_MESSAGE_STREAM_COLLECTION:
      {
        g_autoptr (GstStreamCollection) collection = NULL;
        gst_message_parse_stream_collection (message, &collection);
        g_mutex_lock (&r->lock);
        gst_object_replace ((GstObject **) &r->collection, GST_OBJECT (collection));
        g_mutex_unlock (&r->lock);
        return !reader_own_error (r, FALSE, error);
      }
    default:
      return TRUE;
    }
}

static gboolean
check_cancelled (Reader *r, GCancellable *cancellable, GError **error)
{
  g_autoptr (GError) local_error = NULL;

  if (!g_cancellable_set_error_if_cancelled (cancellable, &local_error))
    return TRUE;
  g_propagate_prefixed_error (error, g_steal_pointer (&local_error), "%s: ", r->path);
  return FALSE;
}

/* Drains what the bus holds without waiting. */
static gboolean
reader_poll (Reader *r, GError **error)
{
  GstMessage *message;

  while ((message = gst_bus_pop (r->bus)) != NULL)
    {
      gboolean ok = reader_handle (r, message, error);
      gst_message_unref (message);
      if (!ok)
        return FALSE;
    }
  return !reader_own_error (r, FALSE, error);
}

/* Waits for the pipeline to preroll after a state change or a flushing
 * seek. *@eos tells an end of stream before any frame arrived (which
 * prerolls a sink too). */
static gboolean
reader_wait_preroll (Reader *r, GCancellable *cancellable, gboolean *eos, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + PREROLL_STALL / GST_USECOND;

  *eos = FALSE;
  for (;;)
    {
      g_autoptr (GstMessage) message = NULL;

      if (!check_cancelled (r, cancellable, error))
        return FALSE;
      if (g_get_monotonic_time () > deadline)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                       "%s: GStreamer stopped before a first frame and said nothing for %d s: the file may be "
                       "damaged or truncated", r->path, (int) (PREROLL_STALL / GST_SECOND));
          return FALSE;
        }
      if (reader_own_error (r, FALSE, error))
        return FALSE;
      message = gst_bus_timed_pop (r->bus, POP_SLICE);
      if (message == NULL)
        continue;
      deadline = g_get_monotonic_time () + PREROLL_STALL / GST_USECOND;
      if (!reader_handle (r, message, error))
        return FALSE;
      if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_EOS)
        *eos = TRUE;
      if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ASYNC_DONE)
        {
          /* an EOS before any frame still prerolls the sink */
          if (gst_app_sink_is_eos (GST_APP_SINK (r->appsink)))
            *eos = TRUE;
          return !reader_own_error (r, FALSE, error);
        }
    }
}

static gboolean
reader_start (Reader *r, GCancellable *cancellable, GError **error)
{
  gboolean eos, linked;

  if (!check_cancelled (r, cancellable, error))
    return FALSE;
  if (gst_element_set_state (r->pipeline, GST_STATE_PAUSED) == GST_STATE_CHANGE_FAILURE)
    {
      if (!reader_poll (r, error))
        return FALSE;
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: GStreamer cannot open it", r->path);
      return FALSE;
    }
  if (!reader_wait_preroll (r, cancellable, &eos, error))
    return FALSE;
  g_mutex_lock (&r->lock);
  linked = r->linked;
  g_mutex_unlock (&r->lock);
  if (eos || !linked)
    {
      if (reader_own_error (r, TRUE, error) || missing_error (r, error))
        return FALSE;
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: %s", r->path,
                   linked ? "its video stream holds no frame" : "has no video stream GStreamer can decode");
      return FALSE;
    }
  return TRUE;
}

/* Flushing, accurate seek to [start, stop) and a new preroll. */
static gboolean
reader_seek (Reader *r, gint64 start_ns, gint64 stop_ns, GCancellable *cancellable, gboolean *eos,
             GError **error)
{
  if (!gst_element_seek (r->pipeline, 1.0, GST_FORMAT_TIME, GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_ACCURATE,
                         GST_SEEK_TYPE_SET, start_ns, stop_ns >= 0 ? GST_SEEK_TYPE_SET : GST_SEEK_TYPE_NONE,
                         stop_ns >= 0 ? stop_ns : (gint64) GST_CLOCK_TIME_NONE))
    {
      if (!reader_poll (r, error))
        return FALSE;
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED, "%s: cannot seek to %.3f s", r->path,
                   start_ns / 1e9);
      return FALSE;
    }
  return reader_wait_preroll (r, cancellable, eos, error);
}

/* The next sample in PLAYING, NULL at the end (error unset) or on an error. */
static GstSample *
reader_pull (Reader *r, GCancellable *cancellable, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + FRAME_STALL / GST_USECOND;

  for (;;)
    {
      GstSample *sample;

      if (!check_cancelled (r, cancellable, error) || !reader_poll (r, error))
        return NULL;
      sample = gst_app_sink_try_pull_sample (GST_APP_SINK (r->appsink), POP_SLICE);
      if (sample != NULL)
        return sample;
      if (gst_app_sink_is_eos (GST_APP_SINK (r->appsink)))
        return NULL;
      if (g_get_monotonic_time () > deadline)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
                       "%s: GStreamer delivered no frame for %d s", r->path, (int) (FRAME_STALL / GST_SECOND));
          return NULL;
        }
    }
}

/* ---- probe ---- */

static int
orientation_degrees (const char *orientation)
{
  if (orientation == NULL)
    return 0;
  if (g_str_has_prefix (orientation, "flip-"))
    orientation += 5;
  if (g_str_equal (orientation, "rotate-90"))
    return 90;
  if (g_str_equal (orientation, "rotate-180"))
    return 180;
  if (g_str_equal (orientation, "rotate-270"))
    return 270;
  return 0;
}

static char *
codec_name (const GstTagList *tags, const char *tag, GstStream *stream)
{
  char *name = NULL;
  g_autoptr (GstCaps) caps = NULL;

  if (tags != NULL && gst_tag_list_get_string (tags, tag, &name))
    return name;
  if (stream != NULL)
    {
      GstTagList *stream_tags = gst_stream_get_tags (stream);
      if (stream_tags != NULL)
        {
          gboolean found = gst_tag_list_get_string (stream_tags, tag, &name);
          gst_tag_list_unref (stream_tags);
          if (found)
            return name;
        }
      caps = gst_stream_get_caps (stream);
      if (caps != NULL && !gst_caps_is_empty (caps) && gst_caps_is_fixed (caps))
        return gst_pb_utils_get_codec_description (caps);
      if (caps != NULL && !gst_caps_is_empty (caps))
        return g_strdup (gst_structure_get_name (gst_caps_get_structure (caps, 0)));
    }
  return NULL;
}

static gboolean
caps_are_aac (GstCaps *caps)
{
  int version = 0;

  if (caps == NULL || gst_caps_is_empty (caps))
    return FALSE;
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  return gst_structure_has_name (s, "audio/mpeg") && gst_structure_get_int (s, "mpegversion", &version) &&
         version == 4;
}

/* What the prerolled pipeline tells: caps after videoflip, tags, the
 * stream collection, the duration. */
static FaClipInfo *
info_from_reader (Reader *r, GError **error)
{
  g_autoptr (FaClipInfo) info = g_new0 (FaClipInfo, 1);
  g_autoptr (GstPad) sink = gst_element_get_static_pad (r->appsink, "sink");
  g_autoptr (GstCaps) caps = gst_pad_get_current_caps (sink);
  g_autoptr (GstTagList) tags = NULL;
  g_autoptr (GstStreamCollection) collection = NULL;
  g_autoptr (GstCaps) decoded = NULL;
  GstStream *video = NULL, *audio = NULL;
  g_autofree char *orientation = NULL;
  gint64 duration = -1;

  g_mutex_lock (&r->lock);
  if (r->tags != NULL)
    tags = gst_tag_list_copy (r->tags);
  if (r->collection != NULL)
    collection = gst_object_ref (r->collection);
  if (r->decoded_caps != NULL)
    decoded = gst_caps_ref (r->decoded_caps);
  g_mutex_unlock (&r->lock);

  if (caps == NULL || gst_caps_is_empty (caps))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: its video stream has no format", r->path);
      return NULL;
    }
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  info->path = g_strdup (r->path);
  gst_structure_get_int (s, "width", &info->width);
  gst_structure_get_int (s, "height", &info->height);
  if (info->width <= 0 || info->height <= 0 || info->width > MAX_SOURCE_SIDE || info->height > MAX_SOURCE_SIDE)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "%s: its frames are %d×%d; frames from 1×1 to %d×%d are supported", r->path, info->width,
                   info->height, MAX_SOURCE_SIDE, MAX_SOURCE_SIDE);
      return NULL;
    }
  if (!gst_structure_get_fraction (s, "pixel-aspect-ratio", &info->par_n, &info->par_d) || info->par_n <= 0 ||
      info->par_d <= 0)
    info->par_n = info->par_d = 1;
  if (!gst_structure_get_fraction (s, "framerate", &info->fps_n, &info->fps_d) || info->fps_d <= 0 ||
      info->fps_n < 0)
    {
      info->fps_n = 0;
      info->fps_d = 1;
    }
  if (info->fps_n == 0)
    {
      int max_n = 0, max_d = 1;
      info->variable_rate = TRUE;
      info->fps_d = 1;
      /* the rate a variable-rate stream never exceeds is the best nominal one */
      if (gst_structure_get_fraction (s, "max-framerate", &max_n, &max_d) && max_n > 0 && max_d > 0)
        {
          info->fps_n = max_n;
          info->fps_d = max_d;
        }
    }
  else if (gst_structure_has_field (s, "max-framerate"))
    info->variable_rate = TRUE;

  if (tags != NULL && gst_tag_list_get_string (tags, GST_TAG_IMAGE_ORIENTATION, &orientation))
    info->rotation = orientation_degrees (orientation);
  if (tags != NULL)
    gst_tag_list_get_string (tags, GST_TAG_CONTAINER_FORMAT, &info->container);

  if (collection != NULL)
    for (guint i = 0; i < gst_stream_collection_get_size (collection); i++)
      {
        GstStream *stream = gst_stream_collection_get_stream (collection, i);
        GstStreamType type = gst_stream_get_stream_type (stream);
        if ((type & GST_STREAM_TYPE_VIDEO) && video == NULL)
          video = stream;
        if ((type & GST_STREAM_TYPE_AUDIO) && audio == NULL)
          audio = stream;
      }
  info->video_codec = codec_name (tags, GST_TAG_VIDEO_CODEC, video);
  if (info->video_codec == NULL && decoded != NULL)
    info->video_codec = g_strdup (gst_structure_get_name (gst_caps_get_structure (decoded, 0)));
  if (audio != NULL)
    {
      g_autoptr (GstCaps) audio_caps = gst_stream_get_caps (audio);
      /* the video pad's tags carry no audio codec: only the stream's do */
      info->has_audio = TRUE;
      info->audio_codec = codec_name (NULL, GST_TAG_AUDIO_CODEC, audio);
      info->audio_is_aac = caps_are_aac (audio_caps);
      if (info->audio_codec == NULL)
        info->audio_codec = g_strdup ("unknown");
    }

  if (gst_element_query_duration (r->pipeline, GST_FORMAT_TIME, &duration) && duration >= 0)
    info->duration_ns = duration;
  else
    info->duration_ns = -1;
  if (info->duration_ns >= 0 && info->fps_n > 0 && !info->variable_rate)
    info->n_frames = (gint64) gst_util_uint64_scale_round ((guint64) info->duration_ns, (guint64) info->fps_n,
                                                           (guint64) info->fps_d * GST_SECOND);
  else
    info->n_frames = -1;
  return g_steal_pointer (&info);
}

FaClipInfo *
fa_clip_probe (const char *path, GCancellable *cancellable, GError **error)
{
  g_autoptr (Reader) r = NULL;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if ((r = reader_build (path, CHAIN_PROBE, NULL, FALSE, error)) == NULL)
    return NULL;
  if (!reader_start (r, cancellable, error))
    return NULL;
  return info_from_reader (r, error);
}

FaClipInfo *
fa_clip_info_copy (const FaClipInfo *info)
{
  FaClipInfo *copy;

  if (info == NULL)
    return NULL;
  copy = g_memdup2 (info, sizeof *info);
  copy->path = g_strdup (info->path);
  copy->container = g_strdup (info->container);
  copy->video_codec = g_strdup (info->video_codec);
  copy->audio_codec = g_strdup (info->audio_codec);
  return copy;
}

void
fa_clip_info_free (FaClipInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->path);
  g_free (info->container);
  g_free (info->video_codec);
  g_free (info->audio_codec);
  g_free (info);
}

/* ---- working clips ---- */

void
fa_working_clip_options_init (FaWorkingClipOptions *options)
{
  g_return_if_fail (options != NULL);

  *options = (FaWorkingClipOptions) {
    .start_ns = 0,
    .end_ns = -1,
    .fps_n = 16,
    .fps_d = 1,
    .width = 832,
    .height = 480,
    .fit = FA_CLIP_FIT_CROP,
    .max_frames = 81,
  };
}

FaWorkingClip *
fa_working_clip_new (int n_frames, int width, int height, int fps_n, int fps_d, GError **error)
{
  g_autoptr (FaWorkingClip) clip = NULL;
  gsize frame_bytes, bytes;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (n_frames <= 0 || width <= 0 || height <= 0 || n_frames > MAX_MEMORY_FRAMES || width > MAX_SOURCE_SIDE ||
      height > MAX_SOURCE_SIDE)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "a working clip of %d frames of %d×%d: the frame count must lie in [1, %d] and each side in "
                   "[1, %d]", n_frames, width, height, MAX_MEMORY_FRAMES, MAX_SOURCE_SIDE);
      return NULL;
    }
  if (fps_n <= 0 || fps_d <= 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "a working clip's frame rate must be positive, not %d/%d", fps_n, fps_d);
      return NULL;
    }
  frame_bytes = (gsize) width * (gsize) height * 3;
  if (!g_size_checked_mul (&bytes, frame_bytes, (gsize) n_frames))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_OUT_OF_MEMORY, "a working clip of %d frames of %d×%d is too big",
                   n_frames, width, height);
      return NULL;
    }

  clip = g_new0 (FaWorkingClip, 1);
  clip->n_frames = n_frames;
  clip->width = width;
  clip->height = height;
  clip->fps_n = fps_n;
  clip->fps_d = fps_d;
  clip->geometry = (FaClipGeometry) { .scale_x = 1.0, .scale_y = 1.0 };
  clip->rgb = g_try_malloc0 (bytes);
  clip->source_pts_ns = g_try_new (gint64, n_frames);
  if (clip->rgb == NULL || clip->source_pts_ns == NULL)
    {
      g_autofree char *size = g_format_size (bytes);
      g_set_error (error, FA_ERROR, FA_ERROR_OUT_OF_MEMORY, "a working clip of %d frames of %d×%d (%s) does not fit "
                   "in memory", n_frames, width, height, size);
      return NULL;
    }
  for (int i = 0; i < n_frames; i++)
    clip->source_pts_ns[i] = (gint64) gst_util_uint64_scale ((guint64) i * GST_SECOND, (guint64) fps_d, (guint64) fps_n);
  return g_steal_pointer (&clip);
}

FaWorkingClip *
fa_working_clip_copy (const FaWorkingClip *clip)
{
  FaWorkingClip *copy;

  g_return_val_if_fail (clip != NULL, NULL);

  copy = g_memdup2 (clip, sizeof *clip);
  copy->source = fa_clip_info_copy (clip->source);
  copy->rgb = g_memdup2 (clip->rgb, (gsize) clip->n_frames * clip->width * clip->height * 3);
  copy->source_pts_ns = g_memdup2 (clip->source_pts_ns, (gsize) clip->n_frames * sizeof (gint64));
  return copy;
}

void
fa_working_clip_free (FaWorkingClip *clip)
{
  if (clip == NULL)
    return;
  fa_clip_info_free (clip->source);
  g_free (clip->rgb);
  g_free (clip->source_pts_ns);
  g_free (clip);
}

static gboolean
check_options (const FaWorkingClipOptions *o, GError **error)
{
  g_autofree char *detail = NULL;

  if (o->width <= 0 || o->height <= 0 || o->width % 16 != 0 || o->height % 16 != 0 || o->width > MAX_WORKING_SIDE ||
      o->height > MAX_WORKING_SIDE)
    detail = g_strdup_printf ("the working size %d×%d must be multiples of 16 from 16 to %d", o->width, o->height,
                              MAX_WORKING_SIDE);
  else if (o->max_frames < 5 || (o->max_frames - 1) % 4 != 0 || o->max_frames > MAX_WORKING_FRAMES)
    detail = g_strdup_printf ("max_frames is %d; it must be 1 + 4k, from 5 to %d", o->max_frames,
                              MAX_WORKING_FRAMES);
  else if (!(o->fps_n == 0 && o->fps_d == 0) &&
           (o->fps_n <= 0 || o->fps_d <= 0 || o->fps_n > (gint64) MAX_WORKING_FPS * o->fps_d))
    detail = g_strdup_printf ("the working rate %d/%d must be positive and at most %d fps (0/0 keeps the source's)",
                              o->fps_n, o->fps_d, MAX_WORKING_FPS);
  else if (o->start_ns < 0 || (o->end_ns != -1 && o->end_ns <= o->start_ns))
    detail = g_strdup_printf ("the range [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT ") ns is empty or negative "
                              "(end -1: the end of the clip)", o->start_ns, o->end_ns);
  else if (o->fit != FA_CLIP_FIT_CROP && o->fit != FA_CLIP_FIT_PAD)
    detail = g_strdup_printf ("unknown fit %d", (int) o->fit);
  if (detail == NULL)
    return TRUE;
  g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "working clip options: %s", detail);
  return FALSE;
}

/* The size the displayed frame is scaled to (square pixels) so that it
 * covers (crop) or fits inside (pad) the working size. */
static void
scaled_size (const FaClipInfo *info, const FaWorkingClipOptions *o, int *scaled_w, int *scaled_h)
{
  double display_w = (double) info->width * info->par_n / info->par_d;
  double display_h = info->height;
  double sx = o->width / display_w, sy = o->height / display_h;
  double s = o->fit == FA_CLIP_FIT_CROP ? MAX (sx, sy) : MIN (sx, sy);
  int w = (int) (display_w * s + 0.5), h = (int) (display_h * s + 0.5);

  /* the side that decided the scale matches exactly; rounding of the other
   * may not open a gap (crop) nor overflow (pad) */
  if (o->fit == FA_CLIP_FIT_CROP)
    {
      w = MAX (w, o->width);
      h = MAX (h, o->height);
    }
  else
    {
      w = CLAMP (w, 1, o->width);
      h = CLAMP (h, 1, o->height);
    }
  *scaled_w = w;
  *scaled_h = h;
}

/* Grows @clip's buffers to hold @capacity frames. */
static gboolean
reserve_frames (FaWorkingClip *clip, int capacity, GError **error)
{
  gsize frame_bytes = (gsize) clip->width * clip->height * 3;
  guint8 *rgb = g_try_realloc (clip->rgb, frame_bytes * capacity);
  gint64 *pts;

  if (rgb == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_OUT_OF_MEMORY, "%d working frames of %d×%d do not fit in memory",
                   capacity, clip->width, clip->height);
      return FALSE;
    }
  clip->rgb = rgb;
  pts = g_try_renew (gint64, clip->source_pts_ns, capacity);
  if (pts == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_OUT_OF_MEMORY, "%d working frame times do not fit in memory", capacity);
      return FALSE;
    }
  clip->source_pts_ns = pts;
  return TRUE;
}

/* Copies the scaled frame into the working frame: the middle of it when
 * cropping, onto black in the middle when padding. */
static void
place_frame (guint8 *dst, int width, int height, const GstVideoFrame *frame, int offset_x, int offset_y)
{
  int src_w = GST_VIDEO_FRAME_WIDTH (frame), src_h = GST_VIDEO_FRAME_HEIGHT (frame);
  int stride = GST_VIDEO_FRAME_PLANE_STRIDE (frame, 0);
  const guint8 *src = GST_VIDEO_FRAME_PLANE_DATA (frame, 0);
  /* the working pixel x shows the scaled pixel x − offset_x */
  int x0 = MAX (0, offset_x), x1 = MIN (width, src_w + offset_x);
  int y0 = MAX (0, offset_y), y1 = MIN (height, src_h + offset_y);

  if (offset_x > 0 || offset_y > 0 || x1 < width || y1 < height)
    memset (dst, 0, (gsize) width * height * 3);
  for (int y = y0; y < y1; y++)
    memcpy (dst + ((gsize) y * width + x0) * 3, src + (gsize) (y - offset_y) * stride + (gsize) (x0 - offset_x) * 3,
            (gsize) (x1 - x0) * 3);
}

static gint64
sample_stream_time (GstSample *sample, GstBuffer *buffer)
{
  GstClockTime pts = GST_BUFFER_PTS (buffer);
  const GstSegment *segment = gst_sample_get_segment (sample);
  guint64 stream_time;

  if (!GST_CLOCK_TIME_IS_VALID (pts))
    return -1;
  if (segment != NULL && segment->format == GST_FORMAT_TIME &&
      gst_segment_to_stream_time_full (segment, GST_FORMAT_TIME, pts, &stream_time) == 1)
    return (gint64) stream_time;
  return (gint64) pts;
}

FaWorkingClip *
fa_working_clip_decode (const char *path, const FaWorkingClipOptions *options, GCancellable *cancellable,
                        GError **error)
{
  FaWorkingClipOptions defaults;
  const FaWorkingClipOptions *o = options;
  g_autoptr (FaClipInfo) info = NULL;
  g_autoptr (Reader) r = NULL;
  g_autoptr (FaWorkingClip) clip = NULL;
  g_autoptr (GstCaps) caps = NULL;
  int fps_n, fps_d, scaled_w, scaled_h, offset_x, offset_y, capacity, expected;
  gint64 end_ns, range_end_ns, seek_ns, stop_ns;
  gboolean eos = FALSE;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (o == NULL)
    {
      fa_working_clip_options_init (&defaults);
      o = &defaults;
    }
  if (!check_options (o, error))
    return NULL;
  if ((info = fa_clip_probe (path, cancellable, error)) == NULL)
    return NULL;

  fps_n = o->fps_n;
  fps_d = o->fps_d;
  if (fps_n == 0)
    {
      fps_n = info->fps_n > 0 ? info->fps_n : FALLBACK_FPS;
      fps_d = info->fps_n > 0 ? info->fps_d : 1;
    }
  /* videorate is left out when it would change nothing */
  gboolean with_rate = info->variable_rate || (gint64) fps_n * info->fps_d != (gint64) info->fps_n * fps_d;

  if (info->duration_ns >= 0 && o->start_ns >= info->duration_ns)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "%s: the range starts at %.3f s, past the clip's end "
                   "at %.3f s", path, o->start_ns / 1e9, info->duration_ns / 1e9);
      return NULL;
    }
  end_ns = o->end_ns;
  range_end_ns = end_ns >= 0 ? end_ns : info->duration_ns;
  if (info->duration_ns >= 0 && range_end_ns > info->duration_ns)
    range_end_ns = info->duration_ns;

  scaled_size (info, o, &scaled_w, &scaled_h);
  /* whole pixels: integer crops and bars keep the copy exact */
  offset_x = (o->width - scaled_w) / 2;
  offset_y = (o->height - scaled_h) / 2;
  if (o->fit == FA_CLIP_FIT_CROP)
    {
      offset_x = -((scaled_w - o->width) / 2);
      offset_y = -((scaled_h - o->height) / 2);
    }

  caps = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING, "RGB", "width", G_TYPE_INT, scaled_w, "height",
                              G_TYPE_INT, scaled_h, "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, NULL);
  if (with_rate)
    gst_caps_set_simple (caps, "framerate", GST_TYPE_FRACTION, fps_n, fps_d, NULL);
  if ((r = reader_build (path, CHAIN_WORKING, caps, with_rate, error)) == NULL)
    return NULL;
  if (!reader_start (r, cancellable, error))
    return NULL;
  /* videorate gives each working frame the source frame nearest its
   * time, but only among those it sees. The decoder clips the source frame
   * that straddles the seek position to start there, so that it would win
   * the first working frame even where the next source frame lies nearer;
   * and a seek's stop hides the source frame after it, which may be the
   * nearest to the last one. So the seek starts a few working frames
   * earlier (whole frames, which keeps the working frame times where they
   * were; those frames are dropped) and stops a few later (the loop ends
   * at the range's end). A part of a clip then decodes to the same frames
   * as the whole does there. */
  seek_ns = o->start_ns;
  stop_ns = end_ns;
  if (with_rate)
    {
      guint64 second_d = (guint64) fps_d * GST_SECOND;
      /* + 1: o->start_ns may be a working frame's time rounded down to the ns */
      gint64 lead_in = (gint64) gst_util_uint64_scale ((guint64) o->start_ns + 1, (guint64) fps_n, second_d);
      lead_in = MIN (lead_in, MARGIN_FRAMES);
      while (lead_in > 0 && gst_util_uint64_scale ((guint64) lead_in, second_d, (guint64) fps_n) > (guint64) o->start_ns)
        lead_in--;
      seek_ns = o->start_ns - (gint64) gst_util_uint64_scale ((guint64) lead_in, second_d, (guint64) fps_n);
      if (end_ns >= 0)
        stop_ns = end_ns + (gint64) gst_util_uint64_scale (MARGIN_FRAMES, second_d, (guint64) fps_n);
    }
  if ((seek_ns > 0 || stop_ns >= 0) && !reader_seek (r, seek_ns, stop_ns, cancellable, &eos, error))
    return NULL;

  clip = g_new0 (FaWorkingClip, 1);
  clip->width = o->width;
  clip->height = o->height;
  clip->fps_n = fps_n;
  clip->fps_d = fps_d;
  clip->geometry = (FaClipGeometry) {
    .scale_x = (double) scaled_w / info->width,
    .scale_y = (double) scaled_h / info->height,
    .offset_x = offset_x,
    .offset_y = offset_y,
  };

  expected = o->max_frames;
  if (range_end_ns >= 0)
    {
      guint64 span = (guint64) (range_end_ns - o->start_ns);
      gint64 n = (gint64) gst_util_uint64_scale_ceil (span, (guint64) fps_n, (guint64) fps_d * GST_SECOND);
      expected = (int) CLAMP (n, 0, o->max_frames);
    }
  capacity = MAX (expected, 5);
  if (!reserve_frames (clip, capacity, error))
    return NULL;

  if (!eos && gst_element_set_state (r->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    {
      if (reader_poll (r, error))
        g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: GStreamer cannot play it", path);
      return NULL;
    }
  while (!eos && clip->n_frames < o->max_frames)
    {
      g_autoptr (GError) pull_error = NULL;
      g_autoptr (GstSample) sample = reader_pull (r, cancellable, &pull_error);
      GstVideoInfo video_info;
      GstVideoFrame frame;
      GstBuffer *buffer;
      GstReferenceTimestampMeta *meta;
      gint64 out_time, source_time;

      if (pull_error != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&pull_error));
          return NULL;
        }
      if (sample == NULL)
        break;
      buffer = gst_sample_get_buffer (sample);
      out_time = sample_stream_time (sample, buffer);
      /* the lead-in */
      if (out_time >= 0 && out_time < o->start_ns)
        continue;
      /* videorate fills up to the end of the last frame; the range (or
       * the clip, by its declared duration) ends before that */
      if (range_end_ns >= 0 && out_time >= range_end_ns)
        break;
      if (!gst_video_info_from_caps (&video_info, gst_sample_get_caps (sample)) ||
          GST_VIDEO_INFO_WIDTH (&video_info) != scaled_w || GST_VIDEO_INFO_HEIGHT (&video_info) != scaled_h)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: a frame arrived in a format not asked for", path);
          return NULL;
        }
      meta = gst_buffer_get_reference_timestamp_meta (buffer, r->source_pts_caps);
      source_time = meta != NULL ? (gint64) meta->timestamp : out_time;
      if (clip->n_frames == capacity)
        {
          capacity = MIN (capacity * 2, o->max_frames);
          if (!reserve_frames (clip, capacity, error))
            return NULL;
        }
      if (!gst_video_frame_map (&frame, &video_info, buffer, GST_MAP_READ))
        {
          g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: a decoded frame cannot be read", path);
          return NULL;
        }
      place_frame (fa_working_clip_frame (clip, clip->n_frames), clip->width, clip->height, &frame, offset_x,
                   offset_y);
      gst_video_frame_unmap (&frame);
      clip->source_pts_ns[clip->n_frames] = source_time;
      clip->n_frames++;
      if (o->progress != NULL)
        o->progress ((guint) clip->n_frames, (guint) MAX (expected, clip->n_frames), o->progress_user_data);
    }
  /* the pipeline stops here rather than decoding frames no one takes */
  gst_element_set_state (r->pipeline, GST_STATE_NULL);

  if (clip->n_frames < 5)
    {
      g_autofree char *end = range_end_ns >= 0 ? g_strdup_printf ("%.3f s", range_end_ns / 1e9) : g_strdup ("the end");
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "%s: the range [%.3f s, %s) holds %d frame%s at %g fps; a working clip needs at least 5",
                   path, o->start_ns / 1e9, end, clip->n_frames, clip->n_frames == 1 ? "" : "s",
                   (double) fps_n / fps_d);
      return NULL;
    }
  clip->n_frames = 1 + 4 * ((clip->n_frames - 1) / 4);
  if (clip->n_frames < capacity && !reserve_frames (clip, clip->n_frames, error))
    return NULL;
  clip->source = g_steal_pointer (&info);
  return g_steal_pointer (&clip);
}

/* ---- source frames, one at a time ---- */

struct _FaClipReader {
  Reader *r;
  GCancellable *cancellable;
  guint8 *rgb;
  gsize rgb_size;
  gboolean done;
};

FaClipReader *
fa_clip_reader_new (const char *path, gint64 start_ns, GCancellable *cancellable, GError **error)
{
  g_autoptr (FaClipReader) reader = NULL;
  g_autoptr (GstCaps) caps = NULL;
  gboolean eos = FALSE;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (start_ns < 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "%s: a negative start time", path);
      return NULL;
    }
  if (!ensure_gst (error))
    return NULL;
  reader = g_new0 (FaClipReader, 1);
  reader->cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;
  caps = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING, "RGB", NULL);
  if ((reader->r = reader_build (path, CHAIN_READER, caps, FALSE, error)) == NULL)
    return NULL;
  if (!reader_start (reader->r, cancellable, error))
    return NULL;
  if (start_ns > 0 && !reader_seek (reader->r, start_ns, -1, cancellable, &eos, error))
    return NULL;
  reader->done = eos;
  if (!eos && gst_element_set_state (reader->r->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    {
      if (reader_poll (reader->r, error))
        g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: GStreamer cannot play it", path);
      return NULL;
    }
  return g_steal_pointer (&reader);
}

gboolean
fa_clip_reader_next (FaClipReader *reader, const guint8 **rgb, int *width, int *height, gint64 *pts_ns,
                     GError **error)
{
  g_return_val_if_fail (reader != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  while (!reader->done)
    {
      g_autoptr (GError) pull_error = NULL;
      g_autoptr (GstSample) sample = reader_pull (reader->r, reader->cancellable, &pull_error);
      GstVideoInfo video_info;
      GstVideoFrame frame;
      GstBuffer *buffer;
      gint64 time;
      int w, h;

      if (pull_error != NULL)
        {
          reader->done = TRUE;
          g_propagate_error (error, g_steal_pointer (&pull_error));
          return FALSE;
        }
      if (sample == NULL)
        {
          reader->done = TRUE;
          break;
        }
      buffer = gst_sample_get_buffer (sample);
      time = sample_stream_time (sample, buffer);
      if (!gst_video_info_from_caps (&video_info, gst_sample_get_caps (sample)) ||
          !gst_video_frame_map (&frame, &video_info, buffer, GST_MAP_READ))
        {
          reader->done = TRUE;
          g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: a decoded frame cannot be read", reader->r->path);
          return FALSE;
        }
      w = GST_VIDEO_FRAME_WIDTH (&frame);
      h = GST_VIDEO_FRAME_HEIGHT (&frame);
      if ((gsize) w * h * 3 > reader->rgb_size)
        {
          g_free (reader->rgb);
          reader->rgb_size = (gsize) w * h * 3;
          reader->rgb = g_try_malloc (reader->rgb_size);
          if (reader->rgb == NULL)
            {
              reader->rgb_size = 0;
              reader->done = TRUE;
              gst_video_frame_unmap (&frame);
              g_set_error (error, FA_ERROR, FA_ERROR_OUT_OF_MEMORY, "%s: a %d×%d frame does not fit in memory",
                           reader->r->path, w, h);
              return FALSE;
            }
        }
      for (int y = 0; y < h; y++)
        memcpy (reader->rgb + (gsize) y * w * 3,
                (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame, 0) + (gsize) y * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0),
                (gsize) w * 3);
      gst_video_frame_unmap (&frame);
      if (rgb != NULL)
        *rgb = reader->rgb;
      if (width != NULL)
        *width = w;
      if (height != NULL)
        *height = h;
      if (pts_ns != NULL)
        *pts_ns = time;
      return TRUE;
    }
  return FALSE;
}

void
fa_clip_reader_free (FaClipReader *reader)
{
  if (reader == NULL)
    return;
  reader_free (reader->r);
  g_clear_object (&reader->cancellable);
  g_free (reader->rgb);
  g_free (reader);
}
