/* fa-export.c: writing an edited clip through GStreamer.
 *
 * Frames are made here, on the calling thread, and pushed into an appsrc:
 *
 *   appsrc (RGB) ! videoconvert ! I420 ! x264enc ! h264parse ! queue ! mp4mux  ! filesink
 *   appsrc (RGB) ! videoconvert ! I420 ! vp9enc             ! queue ! webmmux
 *
 * The source's audio is read by a second pipeline (filesrc ! parsebin
 * [! decodebin ! audioconvert] ! appsink), seeked to the exported range,
 * and its samples are cut to that range, rebased to start at 0 and pushed
 * into a second appsrc of the export pipeline, up to the video time
 * already pushed, so that the muxer can interleave (and gets the audio's
 * end-of-stream as soon as the source's audio ends):
 *
 *   appsrc (AAC)  ! aacparse                                   ! queue ! mp4mux
 *   appsrc (F32)  ! audioconvert ! audioresample ! avenc_aac   ! queue ! mp4mux
 *   appsrc (F32)  ! audioconvert ! audioresample ! opusenc     ! queue ! webmmux
 *
 * Doing the cutting on samples we hold, rather than with pad probes inside
 * one pipeline, keeps every timestamp decision on one thread.
 *
 * Quality: x264's CRF is `pass=qual quantizer=Q` (x264enc's constant
 * quality mode is CRF; its range stops at 50, so 51 is taken as 50).
 * libvpx in GStreamer 1.22 has no constant-quality "q" mode, so VP9 runs
 * constrained quality with a bitrate cap high enough never to bind, which
 * leaves the quantizer at cq-level = Q · 63 / 51. VP9 runs without
 * look-ahead (lag-in-frames 0): see build_video_branch for why.
 *
 * A source-size export decodes the source again (FaClipReader) and, for
 * every source frame of the range, takes the working frame nearest in
 * source time, scales it and its mask up through the inverse of the
 * clip's geometry (bilinear), feathers the mask and blends: where the
 * feathered mask is 0, which includes every source pixel the working
 * frame does not cover, the output is the source pixel, exactly. The
 * output keeps the source's timestamps (rebased to 0), so a variable-rate
 * source stays variable-rate. H.264 4:2:0 needs even sides: an odd last
 * row or column of the source is dropped from an MP4.
 *
 * The file is written under a temporary name in the target's folder and
 * renamed over the target only after end-of-stream came back on the bus
 * and the data is on disk; every failure removes the temporary file.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-export"

#include "config.h"

#include "fa-export.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/audio/audio.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include "fa-error.h"
#include "fa-file.h"

#define DEFAULT_QUALITY 18
#define MAX_QUALITY 51
#define X264_MAX_QUANTIZER 50
#define VP9_MAX_CQ_LEVEL 63
#define DEFAULT_FEATHER_PX 4.0f
#define MAX_FEATHER_PX 256.0f

/* Frames the video appsrc may hold before the feeder waits for the
 * encoder: enough to keep it busy, few enough to bound memory at 4K. */
#define VIDEO_QUEUE_FRAMES 4
/* How long one wait on a bus lasts before the cancellable is looked at again. */
#define POLL_NS (20 * GST_MSECOND)
/* Reading the source's audio depends on nothing else, so a reader that
 * says nothing for this long is stuck on the file. */
#define STALL_US (30 * G_USEC_PER_SEC)

/* ---- options, format, checks ---- */

void
fa_export_options_init (FaExportOptions *options)
{
  g_return_if_fail (options != NULL);

  *options = (FaExportOptions) {
    .format = FA_EXPORT_FORMAT_AUTO,
    .size = FA_EXPORT_SIZE_WORKING,
    .quality = DEFAULT_QUALITY,
    .audio = TRUE,
    .feather_px = DEFAULT_FEATHER_PX,
  };
}

static gboolean
resolve_format (const char *path, FaExportFormat requested, FaExportFormat *format, GError **error)
{
  if (requested == FA_EXPORT_FORMAT_MP4 || requested == FA_EXPORT_FORMAT_WEBM)
    {
      *format = requested;
      return TRUE;
    }
  if (requested != FA_EXPORT_FORMAT_AUTO)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "cannot export to %s: unknown export format %d", path, (int) requested);
      return FALSE;
    }

  g_autofree char *base = g_path_get_basename (path);
  const char *dot = strrchr (base, '.');
  g_autofree char *ext = dot != NULL && dot != base ? g_ascii_strdown (dot, -1) : NULL;

  if (ext != NULL && (strcmp (ext, ".mp4") == 0 || strcmp (ext, ".m4v") == 0 ||
                      strcmp (ext, ".mov") == 0))
    *format = FA_EXPORT_FORMAT_MP4;
  else if (ext != NULL && strcmp (ext, ".webm") == 0)
    *format = FA_EXPORT_FORMAT_WEBM;
  else
    {
      if (ext != NULL)
        g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                     "cannot export to %s: unknown extension \"%s\" (use .mp4, .m4v, .mov or .webm)",
                     path, dot);
      else
        g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                     "cannot export to %s: the name has no extension (use .mp4, .m4v, .mov or .webm)",
                     path);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_clip (const FaWorkingClip *edited, const FaMaskSet *masks, const FaExportOptions *options,
            const char *path, GError **error)
{
  if (edited->n_frames < 1 || edited->width < 1 || edited->height < 1 || edited->rgb == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "cannot export to %s: the clip is empty (%d frames of %d×%d)", path,
                   edited->n_frames, edited->width, edited->height);
      return FALSE;
    }
  if (edited->fps_n <= 0 || edited->fps_d <= 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "cannot export to %s: the clip's frame rate %d/%d is not positive", path,
                   edited->fps_n, edited->fps_d);
      return FALSE;
    }
  if (edited->source != NULL && edited->source_pts_ns == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "cannot export to %s: the clip has a source but no source timestamps", path);
      return FALSE;
    }
  if (options->quality < 0 || options->quality > MAX_QUALITY)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "cannot export to %s: quality %d lies outside [0, %d]", path, options->quality,
                   MAX_QUALITY);
      return FALSE;
    }
  if (!(isfinite (options->feather_px) && options->feather_px >= 0.0f &&
        options->feather_px <= MAX_FEATHER_PX))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "cannot export to %s: feather %g px lies outside [0, %g]", path,
                   (double) options->feather_px, (double) MAX_FEATHER_PX);
      return FALSE;
    }
  if (options->size != FA_EXPORT_SIZE_WORKING && options->size != FA_EXPORT_SIZE_SOURCE)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "cannot export to %s: unknown export size %d", path, (int) options->size);
      return FALSE;
    }
  if (masks != NULL && (fa_mask_set_get_n_frames (masks) != edited->n_frames ||
                        fa_mask_set_get_width (masks) != edited->width ||
                        fa_mask_set_get_height (masks) != edited->height))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "cannot export to %s: the masks (%d frames of %d×%d) do not fit the clip "
                   "(%d frames of %d×%d)", path, fa_mask_set_get_n_frames (masks),
                   fa_mask_set_get_width (masks), fa_mask_set_get_height (masks),
                   edited->n_frames, edited->width, edited->height);
      return FALSE;
    }
  return TRUE;
}

/* ---- elements and the packages they come in ---- */

static const struct {
  const char *factory;
  const char *package;
} element_packages[] = {
  { "appsrc", "gstreamer1.0-plugins-base" },
  { "appsink", "gstreamer1.0-plugins-base" },
  { "videoconvert", "gstreamer1.0-plugins-base" },
  { "audioconvert", "gstreamer1.0-plugins-base" },
  { "audioresample", "gstreamer1.0-plugins-base" },
  { "parsebin", "gstreamer1.0-plugins-base" },
  { "decodebin", "gstreamer1.0-plugins-base" },
  { "opusenc", "gstreamer1.0-plugins-base" },
  { "x264enc", "gstreamer1.0-plugins-ugly" },
  { "h264parse", "gstreamer1.0-plugins-bad" },
  { "voaacenc", "gstreamer1.0-plugins-bad" },
  { "vp9enc", "gstreamer1.0-plugins-good" },
  { "mp4mux", "gstreamer1.0-plugins-good" },
  { "webmmux", "gstreamer1.0-plugins-good" },
  { "aacparse", "gstreamer1.0-plugins-good" },
  { "avenc_aac", "gstreamer1.0-libav" },
  { "queue", "libgstreamer1.0-0" },
  { "capsfilter", "libgstreamer1.0-0" },
  { "filesrc", "libgstreamer1.0-0" },
  { "filesink", "libgstreamer1.0-0" },
};

static const char *
package_of (const char *factory)
{
  for (gsize i = 0; i < G_N_ELEMENTS (element_packages); i++)
    if (strcmp (element_packages[i].factory, factory) == 0)
      return element_packages[i].package;
  return "a GStreamer plugin package";
}

static gboolean
have_element (const char *factory)
{
  GstElementFactory *found = gst_element_factory_find (factory);

  if (found == NULL)
    return FALSE;
  gst_object_unref (found);
  return TRUE;
}

static void
set_missing_element (GError **error, const char *factory, const char *path)
{
  g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
               "cannot export to %s: the GStreamer element %s is not installed (Debian package %s)",
               path, factory, package_of (factory));
}

/* The AAC encoder to use when the source's audio cannot be copied. */
static const char *
aac_encoder (void)
{
  return have_element ("avenc_aac") || !have_element ("voaacenc") ? "avenc_aac" : "voaacenc";
}

/* Every element the export will make, checked before anything is written. */
static gboolean
check_elements (FaExportFormat format, gboolean audio, gboolean audio_copy, const char *path,
                GError **error)
{
  const char *needed[16];
  int n = 0;

  needed[n++] = "appsrc";
  needed[n++] = "videoconvert";
  needed[n++] = "capsfilter";
  needed[n++] = "queue";
  needed[n++] = "filesink";
  if (format == FA_EXPORT_FORMAT_MP4)
    {
      needed[n++] = "x264enc";
      needed[n++] = "h264parse";
      needed[n++] = "mp4mux";
    }
  else
    {
      needed[n++] = "vp9enc";
      needed[n++] = "webmmux";
    }
  if (audio)
    {
      needed[n++] = "filesrc";
      needed[n++] = "parsebin";
      needed[n++] = "appsink";
      if (audio_copy)
        needed[n++] = "aacparse";
      else
        {
          needed[n++] = "decodebin";
          needed[n++] = "audioconvert";
          needed[n++] = "audioresample";
          needed[n++] = format == FA_EXPORT_FORMAT_MP4 ? aac_encoder () : "opusenc";
        }
    }
  g_assert (n <= (int) G_N_ELEMENTS (needed));

  for (int i = 0; i < n; i++)
    if (!have_element (needed[i]))
      {
        set_missing_element (error, needed[i], path);
        return FALSE;
      }
  return TRUE;
}

/* Makes @factory inside @bin. */
static GstElement *
add_element (GstElement *bin, const char *factory, const char *path, GError **error)
{
  GstElement *element = gst_element_factory_make (factory, NULL);

  if (element == NULL)
    {
      set_missing_element (error, factory, path);
      return NULL;
    }
  gst_bin_add (GST_BIN (bin), element);
  return element;
}

static gboolean
link_chain (GstElement **elements, int n, const char *path, GError **error)
{
  for (int i = 0; i + 1 < n; i++)
    if (!gst_element_link (elements[i], elements[i + 1]))
      {
        g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                     "cannot export to %s: %s cannot feed %s", path,
                     GST_OBJECT_NAME (elements[i]), GST_OBJECT_NAME (elements[i + 1]));
        return FALSE;
      }
  return TRUE;
}

/* An error message from a bus as a GError naming the element and @path. */
static void
set_bus_error (GError **error, GstMessage *message, const char *what, const char *path)
{
  g_autoptr (GError) gst_error = NULL;
  g_autofree char *debug = NULL;
  g_autofree char *source = message->src != NULL ? gst_object_get_name (message->src) : NULL;
  GQuark domain = FA_ERROR;
  int code = FA_ERROR_UNSUPPORTED;

  gst_message_parse_error (message, &gst_error, &debug);
  if (gst_error->domain == GST_RESOURCE_ERROR)
    {
      domain = G_IO_ERROR;
      code = gst_error->code == GST_RESOURCE_ERROR_NO_SPACE_LEFT ? G_IO_ERROR_NO_SPACE
             : gst_error->code == GST_RESOURCE_ERROR_NOT_FOUND   ? G_IO_ERROR_NOT_FOUND
                                                                  : G_IO_ERROR_FAILED;
    }
  else if (gst_error->domain == GST_STREAM_ERROR &&
           (gst_error->code == GST_STREAM_ERROR_DECODE || gst_error->code == GST_STREAM_ERROR_DEMUX))
    code = FA_ERROR_CORRUPT_FILE;
  g_debug ("%s: %s (%s)", what, gst_error->message, debug != NULL ? debug : "");
  g_set_error (error, domain, code, "%s %s: %s: %s", what, path, source != NULL ? source : "GStreamer",
               gst_error->message);
}

/* ---- the temporary file ---- */

/* Checks the folder of @path and reserves a temporary name in it. */
static char *
create_temp_file (const char *path, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);

  if (!g_file_test (dir, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND,
                   "cannot export to %s: the folder %s does not exist", path, dir);
      return NULL;
    }
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND,
                   "cannot export to %s: %s is not a folder", path, dir);
      return NULL;
    }
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "cannot export to %s: it is a folder", path);
      return NULL;
    }

  /* Hidden, so that a file manager does not show a half-written clip. */
  g_autofree char *temp_base = g_strdup_printf (".%s.XXXXXX.part", base);
  char *temp_path = g_build_filename (dir, temp_base, NULL);
  /* 0666 under the umask, like any new file, not mkstemp's 0600 */
  int fd = g_mkstemp_full (temp_path, O_RDWR | O_CLOEXEC, 0666);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "cannot export to %s: cannot create a file in the folder %s: %s", path, dir,
                   g_strerror (saved));
      g_free (temp_path);
      return NULL;
    }
  close (fd);
  return temp_path;
}

/* The data and then the new name on disk. */
static gboolean
commit_temp_file (const char *temp_path, const char *path, GError **error)
{
  int fd = g_open (temp_path, O_RDONLY | O_CLOEXEC, 0);

  if (fd < 0 || fsync (fd) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "cannot export to %s: cannot sync %s: %s", path, temp_path, g_strerror (saved));
      if (fd >= 0)
        close (fd);
      return FALSE;
    }
  close (fd);
  if (g_rename (temp_path, path) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "cannot export to %s: cannot replace it: %s", path, g_strerror (saved));
      return FALSE;
    }

  fa_file_sync_folder (path);
  return TRUE;
}

/* ---- the source's audio ---- */

typedef struct {
  GstElement *pipeline;
  GstElement *decodebin; /* NULL when the compressed audio is copied */
  GstElement *convert;   /* audioconvert before the sink when decoding */
  GstElement *sink;
  GstBus *bus;
  GMutex lock;
  gboolean linked; /* an audio stream reaches the sink (streaming threads set it) */
  const char *path;
} AudioReader;

static void
audio_reader_free (AudioReader *reader)
{
  if (reader->pipeline != NULL)
    {
      gst_element_set_state (reader->pipeline, GST_STATE_NULL);
      gst_object_unref (reader->pipeline);
    }
  if (reader->bus != NULL)
    gst_object_unref (reader->bus);
  g_mutex_clear (&reader->lock);
  g_free (reader);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AudioReader, audio_reader_free)

static gboolean
pad_is_audio (GstPad *pad, const char *prefix)
{
  g_autoptr (GstCaps) caps = gst_pad_get_current_caps (pad);

  if (caps == NULL)
    caps = gst_pad_query_caps (pad, NULL);
  return caps != NULL && gst_caps_get_size (caps) > 0 &&
         g_str_has_prefix (gst_structure_get_name (gst_caps_get_structure (caps, 0)), prefix);
}

/* Links the first audio stream; the others and the video stay unlinked,
 * which the demuxer takes as "not wanted". */
static void
link_first_audio (AudioReader *reader, GstPad *pad, GstElement *target, const char *prefix,
                  gboolean final)
{
  if (!pad_is_audio (pad, prefix))
    return;

  g_autoptr (GstPad) sink_pad = gst_element_get_static_pad (target, "sink");
  g_mutex_lock (&reader->lock);
  if (!gst_pad_is_linked (sink_pad) && gst_pad_link (pad, sink_pad) == GST_PAD_LINK_OK && final)
    reader->linked = TRUE;
  g_mutex_unlock (&reader->lock);
}

static void
on_parsebin_pad_added (GstElement *parsebin, GstPad *pad, gpointer user_data)
{
  AudioReader *reader = user_data;

  link_first_audio (reader, pad, reader->decodebin != NULL ? reader->decodebin : reader->sink,
                    "audio/", reader->decodebin == NULL);
}

static void
on_decodebin_pad_added (GstElement *decodebin, GstPad *pad, gpointer user_data)
{
  AudioReader *reader = user_data;

  link_first_audio (reader, pad, reader->convert, "audio/x-raw", TRUE);
}

/* Without an audio stream the sink would wait for one forever: an EOS
 * finishes its preroll and tells the reader there is nothing. */
static void
on_no_more_pads (GstElement *element, gpointer user_data)
{
  AudioReader *reader = user_data;
  gboolean linked;

  /* parsebin's pads feed decodebin, whose own no-more-pads decides */
  if (reader->decodebin != NULL && element != reader->decodebin)
    {
      g_autoptr (GstPad) decode_pad = gst_element_get_static_pad (reader->decodebin, "sink");
      if (gst_pad_is_linked (decode_pad))
        return;
    }
  g_mutex_lock (&reader->lock);
  linked = reader->linked;
  g_mutex_unlock (&reader->lock);
  if (!linked)
    {
      g_autoptr (GstPad) sink_pad = gst_element_get_static_pad (reader->sink, "sink");
      gst_pad_send_event (sink_pad, gst_event_new_eos ());
    }
}

/* Fails with the first error message on @bus, or when @cancellable fires. */
static gboolean
poll_bus (GstBus *bus, GstClockTime timeout, const char *what, const char *path,
          GCancellable *cancellable, GError **error)
{
  g_autoptr (GstMessage) message = gst_bus_timed_pop_filtered (bus, timeout, GST_MESSAGE_ERROR);

  if (message != NULL)
    {
      set_bus_error (error, message, what, path);
      return FALSE;
    }
  return !g_cancellable_set_error_if_cancelled (cancellable, error);
}

static void
set_stalled (GError **error, const char *path)
{
  g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE,
               "cannot read the audio of %s: GStreamer said nothing for %d s", path,
               (int) (STALL_US / G_USEC_PER_SEC));
}

/* Starts reading @path's first audio stream from @start_ns: compressed as
 * it is (@decode FALSE) or decoded to interleaved F32. */
static AudioReader *
audio_reader_new (const char *path, gboolean decode, gint64 start_ns, const char *export_path,
                  GCancellable *cancellable, GError **error)
{
  g_autoptr (AudioReader) reader = g_new0 (AudioReader, 1);
  GstElement *src, *parsebin;

  g_mutex_init (&reader->lock);
  reader->path = path;
  reader->pipeline = gst_object_ref_sink (gst_pipeline_new ("fa-export-audio"));
  reader->bus = gst_element_get_bus (reader->pipeline);
  if ((src = add_element (reader->pipeline, "filesrc", export_path, error)) == NULL ||
      (parsebin = add_element (reader->pipeline, "parsebin", export_path, error)) == NULL ||
      (reader->sink = add_element (reader->pipeline, "appsink", export_path, error)) == NULL)
    return NULL;
  g_object_set (src, "location", path, NULL);
  /* sync=false: as fast as the export takes it; a bounded queue so that
   * reading never runs far ahead of the export. */
  g_object_set (reader->sink, "sync", FALSE, "max-buffers", 64, "enable-last-sample", FALSE, NULL);
  if (decode)
    {
      g_autoptr (GstCaps) caps = gst_caps_from_string ("audio/x-raw,format=F32LE,layout=interleaved");
      if ((reader->decodebin = add_element (reader->pipeline, "decodebin", export_path, error)) == NULL ||
          (reader->convert = add_element (reader->pipeline, "audioconvert", export_path, error)) == NULL)
        return NULL;
      g_object_set (reader->sink, "caps", caps, NULL);
      if (!gst_element_link (reader->convert, reader->sink))
        {
          g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                       "cannot export to %s: audioconvert cannot feed appsink", export_path);
          return NULL;
        }
      g_signal_connect (reader->decodebin, "pad-added", G_CALLBACK (on_decodebin_pad_added), reader);
      g_signal_connect (reader->decodebin, "no-more-pads", G_CALLBACK (on_no_more_pads), reader);
    }
  if (!gst_element_link (src, parsebin))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "cannot export to %s: filesrc cannot feed parsebin", export_path);
      return NULL;
    }
  g_signal_connect (parsebin, "pad-added", G_CALLBACK (on_parsebin_pad_added), reader);
  g_signal_connect (parsebin, "no-more-pads", G_CALLBACK (on_no_more_pads), reader);

  /* Preroll, then an accurate seek to the range, so that a range late in
   * a long clip does not decode everything before it. */
  if (gst_element_set_state (reader->pipeline, GST_STATE_PAUSED) == GST_STATE_CHANGE_FAILURE)
    {
      g_autoptr (GstMessage) message =
        gst_bus_pop_filtered (reader->bus, GST_MESSAGE_ERROR);
      if (message != NULL)
        set_bus_error (error, message, "cannot read the audio of", path);
      else
        g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED, "cannot read the audio of %s", path);
      return NULL;
    }
  for (gint64 since = g_get_monotonic_time ();;)
    {
      GstStateChangeReturn ret = gst_element_get_state (reader->pipeline, NULL, NULL, 0);
      if (ret == GST_STATE_CHANGE_SUCCESS || ret == GST_STATE_CHANGE_NO_PREROLL)
        break;
      if (!poll_bus (reader->bus, POLL_NS, "cannot read the audio of", path, cancellable, error))
        return NULL;
      if (ret == GST_STATE_CHANGE_FAILURE)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED, "cannot read the audio of %s", path);
          return NULL;
        }
      if (g_get_monotonic_time () - since > STALL_US)
        {
          set_stalled (error, path);
          return NULL;
        }
    }
  if (start_ns > 0)
    /* Not every file can seek; the samples before the range are cut anyway. */
    gst_element_seek_simple (reader->pipeline, GST_FORMAT_TIME,
                             GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_ACCURATE, start_ns);
  if (gst_element_set_state (reader->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED, "cannot read the audio of %s", path);
      return NULL;
    }
  return g_steal_pointer (&reader);
}

/* The next sample; NULL with @error unset at the end. */
static GstSample *
audio_reader_pull (AudioReader *reader, GCancellable *cancellable, GError **error)
{
  for (gint64 since = g_get_monotonic_time ();;)
    {
      GstSample *sample = gst_app_sink_try_pull_sample (GST_APP_SINK (reader->sink), POLL_NS);
      if (sample != NULL)
        return sample;
      if (!poll_bus (reader->bus, 0, "cannot read the audio of", reader->path, cancellable, error))
        return NULL;
      if (gst_app_sink_is_eos (GST_APP_SINK (reader->sink)))
        return NULL;
      if (g_get_monotonic_time () - since > STALL_US)
        {
          set_stalled (error, reader->path);
          return NULL;
        }
    }
}

/* What moves the source's audio into the export, cut to its range. */
typedef struct {
  AudioReader *reader;
  GstElement *src;      /* the export pipeline's audio appsrc */
  gboolean copy;        /* compressed frames, pushed whole */
  GstSample *pending;   /* pulled but not (all) pushed yet */
  gint64 pending_frames_done; /* raw: frames of @pending pushed or cut */
  gint64 start_ns;      /* source time that output time 0 is */
  gint64 copy_base_ns;  /* copy: source time of the first frame pushed (-1 before) */
  gboolean finished;    /* the reader has ended, and @src has had its end-of-stream */
} AudioFeed;

/* The source (stream) time of @buffer's start, signed; FALSE without one. */
static gboolean
sample_time (GstSample *sample, gint64 *time_ns)
{
  GstBuffer *buffer = gst_sample_get_buffer (sample);
  const GstSegment *segment = gst_sample_get_segment (sample);
  guint64 stream_time;
  int sign;

  if (buffer == NULL || !GST_BUFFER_PTS_IS_VALID (buffer))
    return FALSE;
  if (segment == NULL || segment->format != GST_FORMAT_TIME)
    {
      *time_ns = (gint64) GST_BUFFER_PTS (buffer);
      return TRUE;
    }
  sign = gst_segment_to_stream_time_full (segment, GST_FORMAT_TIME, GST_BUFFER_PTS (buffer),
                                          &stream_time);
  if (sign == 0)
    return FALSE;
  *time_ns = sign > 0 ? (gint64) stream_time : -(gint64) stream_time;
  return TRUE;
}

static gboolean
audio_push (AudioFeed *feed, GstBuffer *buffer, const char *path, GError **error)
{
  GstFlowReturn flow = gst_app_src_push_buffer (GST_APP_SRC (feed->src), buffer);

  /* FLUSHING or EOS here come with an error on the bus, which the caller reads */
  if (flow != GST_FLOW_OK && flow != GST_FLOW_FLUSHING && flow != GST_FLOW_EOS)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "cannot export to %s: the audio branch refused data (%s)", path,
                   gst_flow_get_name (flow));
      return FALSE;
    }
  return TRUE;
}

static void
drop_pending (AudioFeed *feed)
{
  g_clear_pointer (&feed->pending, gst_sample_unref);
  feed->pending_frames_done = 0;
}

/* Pushes the source's audio of [start, @limit_ns) in source time. */
static gboolean
audio_feed_until (AudioFeed *feed, gint64 limit_ns, const char *path, GCancellable *cancellable,
                  GError **error)
{
  while (!feed->finished)
    {
      if (feed->pending == NULL)
        {
          GError *pull_error = NULL;
          feed->pending = audio_reader_pull (feed->reader, cancellable, &pull_error);
          feed->pending_frames_done = 0;
          if (pull_error != NULL)
            {
              g_propagate_error (error, pull_error);
              return FALSE;
            }
          if (feed->pending == NULL)
            {
              /* at once: the muxer would otherwise wait for audio that
               * never comes while the video fills up */
              feed->finished = TRUE;
              gst_app_src_end_of_stream (GST_APP_SRC (feed->src));
              break;
            }
        }

      GstBuffer *buffer = gst_sample_get_buffer (feed->pending);
      gint64 t;
      if (!sample_time (feed->pending, &t) || gst_buffer_get_size (buffer) == 0)
        {
          drop_pending (feed);
          continue;
        }

      if (feed->copy)
        {
          /* A compressed frame cannot be cut: it belongs to the range its
           * middle lies in. */
          gint64 duration = GST_BUFFER_DURATION_IS_VALID (buffer) ? (gint64) GST_BUFFER_DURATION (buffer) : 0;
          gint64 middle = t + duration / 2;
          if (middle < feed->start_ns)
            {
              drop_pending (feed);
              continue;
            }
          if (middle >= limit_ns)
            break;
          if (feed->copy_base_ns < 0)
            feed->copy_base_ns = t;
          GstBuffer *out = gst_buffer_copy (buffer);
          GST_BUFFER_PTS (out) = GST_BUFFER_DTS (out) = (GstClockTime) (t - feed->copy_base_ns);
          drop_pending (feed);
          if (!audio_push (feed, out, path, error))
            return FALSE;
          continue;
        }

      GstAudioInfo info;
      if (!gst_audio_info_from_caps (&info, gst_sample_get_caps (feed->pending)) || info.bpf <= 0)
        {
          drop_pending (feed);
          continue;
        }
      gint64 n_frames = (gint64) (gst_buffer_get_size (buffer) / (gsize) info.bpf);
      gint64 at = t + (gint64) gst_util_uint64_scale (feed->pending_frames_done, GST_SECOND, info.rate);
      if (at < feed->start_ns)
        {
          /* whole frames up to the start; rounding up keeps the cut at or after it */
          gint64 skip = (gint64) gst_util_uint64_scale_ceil (feed->start_ns - at, info.rate, GST_SECOND);
          feed->pending_frames_done += skip;
          if (feed->pending_frames_done >= n_frames)
            {
              drop_pending (feed);
              continue;
            }
          at = t + (gint64) gst_util_uint64_scale (feed->pending_frames_done, GST_SECOND, info.rate);
        }
      if (at >= limit_ns)
        break;
      gint64 take = MIN (n_frames - feed->pending_frames_done,
                         (gint64) gst_util_uint64_scale_ceil (limit_ns - at, info.rate, GST_SECOND));
      GstBuffer *out = gst_buffer_copy_region (buffer, GST_BUFFER_COPY_MEMORY | GST_BUFFER_COPY_FLAGS,
                                               (gsize) (feed->pending_frames_done * info.bpf),
                                               (gsize) (take * info.bpf));
      GST_BUFFER_PTS (out) = (GstClockTime) (at - feed->start_ns);
      GST_BUFFER_DURATION (out) = gst_util_uint64_scale (take, GST_SECOND, info.rate);
      feed->pending_frames_done += take;
      if (feed->pending_frames_done >= n_frames)
        drop_pending (feed);
      if (!audio_push (feed, out, path, error))
        return FALSE;
    }
  return TRUE;
}

/* ---- the export pipeline ---- */

typedef struct {
  const char *path;       /* the target */
  char *temp_path;        /* where the pipeline writes; removed unless committed */
  GCancellable *cancellable;
  GstElement *pipeline;
  GstBus *bus;
  GstElement *video_src;
  guint64 video_queue_bytes;
  GstVideoInfo video_info;
  AudioReader *audio_reader;
  AudioFeed audio;
  gboolean with_audio;
  const FaExportOptions *options;
  guint frames_done, frames_total;
} Export;

static void
export_clear (Export *ex)
{
  if (ex->pipeline != NULL)
    {
      gst_element_set_state (ex->pipeline, GST_STATE_NULL);
      gst_object_unref (ex->pipeline);
    }
  if (ex->bus != NULL)
    gst_object_unref (ex->bus);
  g_clear_pointer (&ex->audio.pending, gst_sample_unref);
  if (ex->audio_reader != NULL)
    audio_reader_free (ex->audio_reader);
  if (ex->temp_path != NULL)
    {
      g_unlink (ex->temp_path);
      g_free (ex->temp_path);
    }
}

static void
set_property_arg (GstElement *element, const char *name, const char *value)
{
  gst_util_set_object_arg (G_OBJECT (element), name, value);
}

static gboolean
build_video_branch (Export *ex, FaExportFormat format, GstElement *mux, GError **error)
{
  GstElement *chain[6];
  int n = 0;
  GstElement *encoder;
  GstVideoInfo *info = &ex->video_info;
  g_autoptr (GstCaps) caps = gst_video_info_to_caps (info);
  g_autoptr (GstCaps) i420 = gst_caps_from_string ("video/x-raw,format=I420");
  int threads = (int) MIN (g_get_num_processors (), 16);

  if ((chain[n++] = ex->video_src = add_element (ex->pipeline, "appsrc", ex->path, error)) == NULL ||
      (chain[n++] = add_element (ex->pipeline, "videoconvert", ex->path, error)) == NULL ||
      (chain[n++] = add_element (ex->pipeline, "capsfilter", ex->path, error)) == NULL ||
      (chain[n++] = encoder = add_element (ex->pipeline, format == FA_EXPORT_FORMAT_MP4 ? "x264enc" : "vp9enc",
                                           ex->path, error)) == NULL)
    return FALSE;
  if (format == FA_EXPORT_FORMAT_MP4 &&
      (chain[n++] = add_element (ex->pipeline, "h264parse", ex->path, error)) == NULL)
    return FALSE;
  if ((chain[n++] = add_element (ex->pipeline, "queue", ex->path, error)) == NULL)
    return FALSE;

  ex->video_queue_bytes = (guint64) GST_VIDEO_INFO_SIZE (info) * VIDEO_QUEUE_FRAMES;
  /* The feeder waits on the level itself (see push_video), so that an
   * encoder error can never leave it blocked inside appsrc. */
  g_object_set (ex->video_src, "caps", caps, "format", GST_FORMAT_TIME, "is-live", FALSE,
                "block", FALSE, "max-bytes", ex->video_queue_bytes, NULL);
  g_object_set (chain[1], "n-threads", (guint) threads, NULL);
  /* 4:2:0, which every player decodes (x264 would otherwise pick 4:4:4 for RGB input) */
  g_object_set (chain[2], "caps", i420, NULL);

  if (format == FA_EXPORT_FORMAT_MP4)
    {
      g_autofree char *quantizer = g_strdup_printf ("%d", MIN (ex->options->quality, X264_MAX_QUANTIZER));
      set_property_arg (encoder, "pass", "qual");
      set_property_arg (encoder, "quantizer", quantizer);
      /* x264enc's qp-min of 10 would cap the best qualities */
      set_property_arg (encoder, "qp-min", "0");
      /* x264's own default: what users know CRF values by */
      set_property_arg (encoder, "speed-preset", "medium");
      g_object_set (encoder, "threads", (guint) 0, NULL);
    }
  else
    {
      int cq = (ex->options->quality * VP9_MAX_CQ_LEVEL + MAX_QUALITY / 2) / MAX_QUALITY;
      double fps = GST_VIDEO_INFO_FPS_N (info) > 0
                     ? (double) GST_VIDEO_INFO_FPS_N (info) / GST_VIDEO_INFO_FPS_D (info)
                     : 30.0;
      /* 2 bits per pixel: far above what any cq-level spends, so the
       * quantizer rather than the bitrate decides */
      double cap = 2.0 * info->width * info->height * fps;
      set_property_arg (encoder, "end-usage", "cq");
      g_object_set (encoder, "cq-level", cq, "min-quantizer", 0, "max-quantizer", VP9_MAX_CQ_LEVEL,
                    "target-bitrate", (int) MIN (cap, (double) G_MAXINT),
                    /* "good" quality at libvpx's fastest speed for it, all cores */
                    "deadline", (gint64) 1000000, "cpu-used", 5, "row-mt", TRUE,
                    "threads", threads,
                    /* No look-ahead. At end-of-stream GStreamer 1.22's vp9enc
                     * flushes libvpx with one encode call, which returns only
                     * as many of the held frames as fit in half of libvpx's
                     * output buffer: with the default 25-frame lag a detailed
                     * clip lost its last frames (81 → 65 at 832×480, 9 → 2
                     * for noise at 96×64). Without lag every frame comes out
                     * of its own encode call. */
                    "lag-in-frames", 0, NULL);
    }

  if (!link_chain (chain, n, ex->path, error))
    return FALSE;
  if (!gst_element_link_pads (chain[n - 1], "src", mux, "video_%u"))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "cannot export to %s: the muxer takes no video from %s", ex->path,
                   GST_OBJECT_NAME (encoder));
      return FALSE;
    }
  return TRUE;
}

static gboolean
build_audio_branch (Export *ex, FaExportFormat format, GstCaps *caps, GstElement *mux,
                    GError **error)
{
  GstElement *chain[5];
  int n = 0;

  if ((chain[n++] = ex->audio.src = add_element (ex->pipeline, "appsrc", ex->path, error)) == NULL)
    return FALSE;
  if (ex->audio.copy)
    {
      /* aacparse turns ADTS into the raw AAC mp4mux takes */
      if ((chain[n++] = add_element (ex->pipeline, "aacparse", ex->path, error)) == NULL)
        return FALSE;
    }
  else
    {
      GstElement *encoder;
      if ((chain[n++] = add_element (ex->pipeline, "audioconvert", ex->path, error)) == NULL ||
          (chain[n++] = add_element (ex->pipeline, "audioresample", ex->path, error)) == NULL ||
          (chain[n++] = encoder = add_element (ex->pipeline,
                                               format == FA_EXPORT_FORMAT_MP4 ? aac_encoder () : "opusenc",
                                               ex->path, error)) == NULL)
        return FALSE;
      g_object_set (encoder, "bitrate", format == FA_EXPORT_FORMAT_MP4 ? 192000 : 128000, NULL);
    }
  if ((chain[n++] = add_element (ex->pipeline, "queue", ex->path, error)) == NULL)
    return FALSE;

  g_object_set (ex->audio.src, "caps", caps, "format", GST_FORMAT_TIME, "is-live", FALSE,
                "block", FALSE, NULL);
  if (!link_chain (chain, n, ex->path, error))
    return FALSE;
  if (!gst_element_link_pads (chain[n - 1], "src", mux, "audio_%u"))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "cannot export to %s: the muxer takes no audio from %s", ex->path,
                   GST_OBJECT_NAME (chain[n - 2]));
      return FALSE;
    }
  return TRUE;
}

static gboolean
build_pipeline (Export *ex, FaExportFormat format, GstCaps *audio_caps, GError **error)
{
  GstElement *mux, *sink;

  ex->pipeline = gst_object_ref_sink (gst_pipeline_new ("fa-export"));
  ex->bus = gst_element_get_bus (ex->pipeline);
  if ((mux = add_element (ex->pipeline, format == FA_EXPORT_FORMAT_MP4 ? "mp4mux" : "webmmux",
                          ex->path, error)) == NULL ||
      (sink = add_element (ex->pipeline, "filesink", ex->path, error)) == NULL)
    return FALSE;
  if (format == FA_EXPORT_FORMAT_MP4)
    /* the index first, so that players can start before the whole file is read */
    g_object_set (mux, "faststart", TRUE, NULL);
  g_object_set (sink, "location", ex->temp_path, "sync", FALSE, NULL);
  if (!gst_element_link (mux, sink))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "cannot export to %s: the muxer cannot feed filesink", ex->path);
      return FALSE;
    }
  if (!build_video_branch (ex, format, mux, error))
    return FALSE;
  if (audio_caps != NULL && !build_audio_branch (ex, format, audio_caps, mux, error))
    return FALSE;

  if (gst_element_set_state (ex->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    {
      g_autoptr (GstMessage) message = gst_bus_pop_filtered (ex->bus, GST_MESSAGE_ERROR);
      if (message != NULL)
        set_bus_error (error, message, "cannot export to", ex->path);
      else
        g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                     "cannot export to %s: the pipeline does not start", ex->path);
      return FALSE;
    }
  return TRUE;
}

/* A buffer for one frame of the video caps, rows at GStreamer's stride. */
static GstBuffer *
new_video_buffer (Export *ex, guint8 **data, int *stride, GstMapInfo *map)
{
  GstBuffer *buffer = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&ex->video_info), NULL);

  gst_buffer_map (buffer, map, GST_MAP_WRITE);
  *data = map->data;
  *stride = GST_VIDEO_INFO_PLANE_STRIDE (&ex->video_info, 0);
  return buffer;
}

static void
report_progress (Export *ex)
{
  ex->frames_done++;
  ex->frames_total = MAX (ex->frames_total, ex->frames_done);
  if (ex->options->progress != NULL)
    ex->options->progress (ex->frames_done, ex->frames_total, ex->options->progress_user_data);
}

/* Pushes one frame at output time [pts, pts + duration), then the audio up
 * to its end (@source_end_ns: that end in source time): the muxer never
 * waits for audio, as the encoders hold the video back longer. */
static gboolean
push_video (Export *ex, GstBuffer *buffer, GstClockTime pts, GstClockTime duration,
            gint64 source_end_ns, GError **error)
{
  GST_BUFFER_PTS (buffer) = pts;
  GST_BUFFER_DURATION (buffer) = duration;

  while (gst_app_src_get_current_level_bytes (GST_APP_SRC (ex->video_src)) >= ex->video_queue_bytes)
    if (!poll_bus (ex->bus, POLL_NS, "cannot export to", ex->path, ex->cancellable, error))
      {
        gst_buffer_unref (buffer);
        return FALSE;
      }
  GstFlowReturn flow = gst_app_src_push_buffer (GST_APP_SRC (ex->video_src), buffer);
  if (flow != GST_FLOW_OK)
    {
      /* the reason, if there is one, is on the bus */
      if (!poll_bus (ex->bus, 0, "cannot export to", ex->path, ex->cancellable, error))
        return FALSE;
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "cannot export to %s: the video branch refused a frame (%s)", ex->path,
                   gst_flow_get_name (flow));
      return FALSE;
    }
  report_progress (ex);
  if (ex->with_audio &&
      !audio_feed_until (&ex->audio, source_end_ns, ex->path,
                         ex->cancellable, error))
    return FALSE;
  return poll_bus (ex->bus, 0, "cannot export to", ex->path, ex->cancellable, error);
}

/* Sends end-of-stream and waits for it to come out of the muxer. */
static gboolean
finish (Export *ex, gint64 source_end_ns, GError **error)
{
  if (ex->with_audio)
    {
      if (!audio_feed_until (&ex->audio, source_end_ns, ex->path, ex->cancellable, error))
        return FALSE;
      if (!ex->audio.finished)
        gst_app_src_end_of_stream (GST_APP_SRC (ex->audio.src));
    }
  gst_app_src_end_of_stream (GST_APP_SRC (ex->video_src));

  for (;;)
    {
      g_autoptr (GstMessage) message =
        gst_bus_timed_pop_filtered (ex->bus, POLL_NS, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
      if (message != NULL && GST_MESSAGE_TYPE (message) == GST_MESSAGE_EOS)
        break;
      if (message != NULL)
        {
          set_bus_error (error, message, "cannot export to", ex->path);
          return FALSE;
        }
      if (g_cancellable_set_error_if_cancelled (ex->cancellable, error))
        return FALSE;
    }
  /* NULL closes the file before it is synced and renamed */
  gst_element_set_state (ex->pipeline, GST_STATE_NULL);
  return TRUE;
}

/* ---- working size ---- */

static gboolean
export_working (Export *ex, const FaWorkingClip *edited, GError **error)
{
  gsize row = (gsize) edited->width * 3;
  gint64 source_start = edited->source != NULL ? edited->source_pts_ns[0] : 0;

  ex->frames_total = (guint) edited->n_frames;
  for (int i = 0; i < edited->n_frames; i++)
    {
      GstClockTime pts = gst_util_uint64_scale ((guint64) i, GST_SECOND * (guint64) edited->fps_d,
                                                (guint64) edited->fps_n);
      GstClockTime end = gst_util_uint64_scale ((guint64) i + 1, GST_SECOND * (guint64) edited->fps_d,
                                                (guint64) edited->fps_n);
      const guint8 *frame = fa_working_clip_frame (edited, i);
      GstMapInfo map;
      guint8 *data;
      int stride;

      if (g_cancellable_set_error_if_cancelled (ex->cancellable, error))
        return FALSE;
      GstBuffer *buffer = new_video_buffer (ex, &data, &stride, &map);
      for (int y = 0; y < edited->height; y++)
        memcpy (data + (gsize) y * (gsize) stride, frame + (gsize) y * row, row);
      gst_buffer_unmap (buffer, &map);
      if (!push_video (ex, buffer, pts, end - pts, source_start + (gint64) end, error))
        return FALSE;
    }
  GstClockTime total = gst_util_uint64_scale ((guint64) edited->n_frames,
                                              GST_SECOND * (guint64) edited->fps_d,
                                              (guint64) edited->fps_n);
  return finish (ex, source_start + (gint64) total, error);
}

/* ---- source size: the edit composited into the source frames ---- */

/* Where each output column (row) samples the working frame, bilinearly,
 * and whether the working frame covers it at all. */
typedef struct {
  int *i0, *i1;
  int *f;          /* weight of i1, in 1/256 */
  guint8 *covered;
} Axis;

static void
axis_clear (Axis *axis)
{
  g_free (axis->i0);
  g_free (axis->i1);
  g_free (axis->f);
  g_free (axis->covered);
}

static void
axis_init (Axis *axis, int n_out, int n_working, double scale, double offset)
{
  axis->i0 = g_new (int, n_out);
  axis->i1 = g_new (int, n_out);
  axis->f = g_new (int, n_out);
  axis->covered = g_new (guint8, n_out);
  for (int i = 0; i < n_out; i++)
    {
      /* the output pixel's centre in working coordinates, then in
       * working pixel indices (whose centres sit at +0.5) */
      double w = (i + 0.5) * scale + offset;
      double p = w - 0.5;
      double p0 = floor (p);
      int i0 = (int) CLAMP (p0, 0.0, (double) (n_working - 1));
      int i1 = (int) CLAMP (p0 + 1.0, 0.0, (double) (n_working - 1));

      axis->covered[i] = w >= 0.0 && w < n_working;
      axis->i0[i] = i0;
      axis->i1[i] = i1;
      axis->f[i] = i0 == i1 ? 0 : (int) lround ((p - p0) * 256.0);
    }
}

typedef struct {
  int width, height;       /* output (= source, maybe cropped by one) size */
  int source_width;        /* row length of the source frames */
  Axis x, y;
  guint8 *edit;            /* width × height × 3: the edited frame scaled up */
  guint8 *alpha;           /* width × height: its feathered mask */
  guint8 *scratch;         /* width × height */
  guint32 *sums;           /* width */
  int radius;              /* box radius of the feather (two passes) */
  int cached;              /* the working frame @edit and @alpha hold, or -1 */
} Compositor;

static void
compositor_clear (Compositor *c)
{
  axis_clear (&c->x);
  axis_clear (&c->y);
  g_free (c->edit);
  g_free (c->alpha);
  g_free (c->scratch);
  g_free (c->sums);
}

/* Box blur with edge clamping along rows, @in → @out. */
static void
box_rows (const guint8 *in, guint8 *out, int width, int height, int r)
{
  guint32 d = 2 * (guint32) r + 1;

  for (int y = 0; y < height; y++)
    {
      const guint8 *src = in + (gsize) y * width;
      guint8 *dst = out + (gsize) y * width;
      guint32 sum = (guint32) (r + 1) * src[0];
      for (int k = 1; k <= r; k++)
        sum += src[MIN (k, width - 1)];
      for (int x = 0; x < width; x++)
        {
          dst[x] = (guint8) ((sum + d / 2) / d);
          sum += src[MIN (x + r + 1, width - 1)];
          sum -= src[MAX (x - r, 0)];
        }
    }
}

/* The same along columns, a whole row of running sums at a time. */
static void
box_columns (const guint8 *in, guint8 *out, guint32 *sums, int width, int height, int r)
{
  guint32 d = 2 * (guint32) r + 1;

  for (int x = 0; x < width; x++)
    sums[x] = (guint32) (r + 1) * in[x];
  for (int k = 1; k <= r; k++)
    {
      const guint8 *row = in + (gsize) MIN (k, height - 1) * width;
      for (int x = 0; x < width; x++)
        sums[x] += row[x];
    }
  for (int y = 0; y < height; y++)
    {
      const guint8 *add = in + (gsize) MIN (y + r + 1, height - 1) * width;
      const guint8 *sub = in + (gsize) MAX (y - r, 0) * width;
      guint8 *dst = out + (gsize) y * width;
      for (int x = 0; x < width; x++)
        {
          dst[x] = (guint8) ((sums[x] + d / 2) / d);
          sums[x] += add[x];
          sums[x] -= sub[x];
        }
    }
}

static inline int
bilinear (const guint8 *plane, int stride, int channels, int x0, int x1, int fx, int y0, int y1,
          int fy, int c)
{
  const guint8 *r0 = plane + (gsize) y0 * stride;
  const guint8 *r1 = plane + (gsize) y1 * stride;
  int top = r0[x0 * channels + c] * (256 - fx) + r0[x1 * channels + c] * fx;
  int bottom = r1[x0 * channels + c] * (256 - fx) + r1[x1 * channels + c] * fx;

  return (top * (256 - fy) + bottom * fy + 32768) >> 16;
}

/* Scales working frame @index and its mask up to the output size and
 * feathers the mask. The feather is two box passes of radius feather/2:
 * the alpha ramps over feather_px on each side of the mask's edge, and
 * stays exactly 0 farther out. Integer sums keep that 0 exact. */
static void
compositor_prepare (Compositor *c, const FaWorkingClip *edited, const FaMaskSet *masks, int index)
{
  const guint8 *frame = fa_working_clip_frame (edited, index);
  const guint8 *mask = masks != NULL ? fa_mask_set_peek_frame (masks, index) : NULL;
  int ww = edited->width;

  if (c->cached == index)
    return;
  for (int y = 0; y < c->height; y++)
    {
      int y0 = c->y.i0[y], y1 = c->y.i1[y], fy = c->y.f[y];
      guint8 *edit_row = c->edit + (gsize) y * c->width * 3;
      guint8 *alpha_row = c->alpha + (gsize) y * c->width;
      for (int x = 0; x < c->width; x++)
        {
          int x0 = c->x.i0[x], x1 = c->x.i1[x], fx = c->x.f[x];
          for (int ch = 0; ch < 3; ch++)
            edit_row[x * 3 + ch] = (guint8) bilinear (frame, ww * 3, 3, x0, x1, fx, y0, y1, fy, ch);
          if (!(c->x.covered[x] && c->y.covered[y]))
            alpha_row[x] = 0;
          else if (mask == NULL)
            alpha_row[x] = 255;
          else
            alpha_row[x] = (guint8) bilinear (mask, ww, 1, x0, x1, fx, y0, y1, fy, 0);
        }
    }
  if (c->radius > 0)
    for (int pass = 0; pass < 2; pass++)
      {
        box_rows (c->alpha, c->scratch, c->width, c->height, c->radius);
        box_columns (c->scratch, c->alpha, c->sums, c->width, c->height, c->radius);
      }
  c->cached = index;
}

/* out = source where alpha is 0, the edit where it is 255, a mix between. */
static void
compositor_blend (const Compositor *c, const guint8 *source, guint8 *out, int stride)
{
  for (int y = 0; y < c->height; y++)
    {
      const guint8 *s = source + (gsize) y * c->source_width * 3;
      const guint8 *e = c->edit + (gsize) y * c->width * 3;
      const guint8 *a = c->alpha + (gsize) y * c->width;
      guint8 *d = out + (gsize) y * stride;
      for (int x = 0; x < c->width; x++)
        {
          int alpha = a[x];
          if (alpha == 0)
            memcpy (d + x * 3, s + x * 3, 3);
          else if (alpha == 255)
            memcpy (d + x * 3, e + x * 3, 3);
          else
            for (int ch = 0; ch < 3; ch++)
              d[x * 3 + ch] = (guint8) ((s[x * 3 + ch] * (255 - alpha) + e[x * 3 + ch] * alpha + 127) / 255);
        }
    }
}

static gboolean
export_source (Export *ex, const FaWorkingClip *edited, const FaMaskSet *masks, GError **error)
{
  const FaClipInfo *source = edited->source;
  const FaClipGeometry *g = &edited->geometry;
  const gint64 *wpts = edited->source_pts_ns;
  int n = edited->n_frames;
  GstClockTime working_period = gst_util_uint64_scale (GST_SECOND, (guint64) edited->fps_d,
                                                       (guint64) edited->fps_n);
  GstClockTime source_period = source->fps_n > 0 && source->fps_d > 0
                                 ? gst_util_uint64_scale (GST_SECOND, (guint64) source->fps_d,
                                                          (guint64) source->fps_n)
                                 : working_period;
  /* The source frames the edit covers: from the first working frame's
   * to the last's (half a frame of slack for rounded timestamps). */
  gint64 first_ns = wpts[0] - (gint64) source_period / 2;
  gint64 end_ns = wpts[n - 1] + (gint64) source_period / 2;
  Compositor c = { .cached = -1 };
  GstBuffer *held = NULL; /* the last frame made, pushed once the next one's time gives its duration */
  GstClockTime held_pts = 0;
  gint64 base_ns = -1;    /* source time of the first frame pushed: output time 0 */
  int nearest = 0;
  gboolean ok = TRUE;

  ex->frames_total = (guint) ((wpts[n - 1] - wpts[0]) / (gint64) MAX (source_period, 1) + 1);

  g_autoptr (FaClipReader) reader = fa_clip_reader_new (source->path, wpts[0], ex->cancellable, error);
  if (reader == NULL)
    return FALSE;

  for (;;)
    {
      const guint8 *rgb;
      int width, height;
      gint64 pts;
      GError *read_error = NULL;

      if (g_cancellable_set_error_if_cancelled (ex->cancellable, error))
        {
          ok = FALSE;
          break;
        }
      if (!fa_clip_reader_next (reader, &rgb, &width, &height, &pts, &read_error))
        {
          if (read_error != NULL)
            {
              g_propagate_error (error, read_error);
              ok = FALSE;
            }
          break;
        }
      if (pts < first_ns)
        continue;
      if (pts >= end_ns)
        break;
      if (width != source->width || height != source->height)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                       "cannot export to %s: the source %s has changed since it was read: its "
                       "frames are %d×%d now, not %d×%d", ex->path, source->path, width, height,
                       source->width, source->height);
          ok = FALSE;
          break;
        }

      if (base_ns < 0)
        {
          base_ns = pts;
          ex->audio.start_ns = pts;
          c.width = GST_VIDEO_INFO_WIDTH (&ex->video_info);
          c.height = GST_VIDEO_INFO_HEIGHT (&ex->video_info);
          c.source_width = width;
          /* working = source · scale + offset */
          axis_init (&c.x, c.width, edited->width, g->scale_x, g->offset_x);
          axis_init (&c.y, c.height, edited->height, g->scale_y, g->offset_y);
          c.edit = g_malloc ((gsize) c.width * c.height * 3);
          c.alpha = g_malloc ((gsize) c.width * c.height);
          c.scratch = g_malloc ((gsize) c.width * c.height);
          c.sums = g_new (guint32, c.width);
          c.radius = (int) lround (ex->options->feather_px / 2.0);
        }

      /* a frame at or before the last one would break the muxer's timeline */
      if (held != NULL && pts - base_ns <= (gint64) held_pts)
        continue;
      /* on a tie the earlier working frame wins */
      while (nearest + 1 < n && llabs (wpts[nearest + 1] - pts) < llabs (wpts[nearest] - pts))
        nearest++;
      compositor_prepare (&c, edited, masks, nearest);

      GstMapInfo map;
      guint8 *data;
      int stride;
      GstBuffer *buffer = new_video_buffer (ex, &data, &stride, &map);
      compositor_blend (&c, rgb, data, stride);
      gst_buffer_unmap (buffer, &map);

      GstClockTime out_pts = (GstClockTime) (pts - base_ns);
      if (held != NULL)
        {
          ok = push_video (ex, held, held_pts, out_pts - held_pts, base_ns + (gint64) out_pts, error);
          held = NULL;
          if (!ok)
            {
              gst_buffer_unref (buffer);
              break;
            }
        }
      held = buffer;
      held_pts = out_pts;
    }
  compositor_clear (&c);

  if (!ok)
    {
      if (held != NULL)
        gst_buffer_unref (held);
      return FALSE;
    }
  if (held == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "cannot export to %s: the source %s has no frames between %.3f s and %.3f s "
                   "(has it changed since it was read?)", ex->path, source->path,
                   (double) wpts[0] / GST_SECOND, (double) wpts[n - 1] / GST_SECOND);
      return FALSE;
    }
  GstClockTime end = held_pts + source_period;
  if (!push_video (ex, held, held_pts, source_period, base_ns + (gint64) end, error))
    return FALSE;
  return finish (ex, base_ns + (gint64) end, error);
}

/* ---- fa_export ---- */

/* Starts the audio reader and takes its first sample, whose caps the
 * export's audio branch is made for. FALSE only on an error; *@caps NULL
 * when the source turns out to have no audio after all. */
static gboolean
open_audio (Export *ex, const FaWorkingClip *edited, gboolean copy, GstCaps **caps, GError **error)
{
  GError *pull_error = NULL;

  *caps = NULL;
  ex->audio_reader = audio_reader_new (edited->source->path, !copy, edited->source_pts_ns[0],
                                       ex->path, ex->cancellable, error);
  if (ex->audio_reader == NULL)
    return FALSE;
  ex->audio.reader = ex->audio_reader;
  ex->audio.copy = copy;
  ex->audio.start_ns = edited->source_pts_ns[0];
  ex->audio.copy_base_ns = -1;
  ex->audio.pending = audio_reader_pull (ex->audio_reader, ex->cancellable, &pull_error);
  if (pull_error != NULL)
    {
      g_propagate_error (error, pull_error);
      return FALSE;
    }
  if (ex->audio.pending == NULL)
    {
      g_debug ("%s: no audio stream after all", edited->source->path);
      return TRUE;
    }
  *caps = gst_caps_ref (gst_sample_get_caps (ex->audio.pending));
  return TRUE;
}

gboolean
fa_export (const FaWorkingClip *edited, const FaMaskSet *masks, const char *path,
           const FaExportOptions *options, GCancellable *cancellable, GError **error)
{
  FaExportOptions defaults;
  FaExportFormat format;
  FaExportSize size;
  gboolean want_audio, audio_copy, ok;

  g_return_val_if_fail (edited != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (options == NULL)
    {
      fa_export_options_init (&defaults);
      options = &defaults;
    }
  if (!resolve_format (path, options->format, &format, error) ||
      !check_clip (edited, masks, options, path, error))
    return FALSE;

  /* Without a source there is nothing to composite into and no audio. */
  size = edited->source != NULL ? options->size : FA_EXPORT_SIZE_WORKING;
  want_audio = options->audio && edited->source != NULL && edited->source->has_audio;
  audio_copy = want_audio && format == FA_EXPORT_FORMAT_MP4 && edited->source->audio_is_aac;
  if (size == FA_EXPORT_SIZE_SOURCE)
    {
      const FaClipGeometry *g = &edited->geometry;
      if (!(isfinite (g->scale_x) && isfinite (g->scale_y) && g->scale_x > 0 && g->scale_y > 0 &&
            isfinite (g->offset_x) && isfinite (g->offset_y)))
        {
          g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                       "cannot export to %s: the clip's geometry (scale %g × %g) is not usable",
                       path, g->scale_x, g->scale_y);
          return FALSE;
        }
      if (edited->source->width < 2 || edited->source->height < 2)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                       "cannot export to %s: the source's size %d×%d is too small", path,
                       edited->source->width, edited->source->height);
          return FALSE;
        }
    }

  gst_init (NULL, NULL);
  if (!check_elements (format, want_audio, audio_copy, path, error))
    return FALSE;

  Export ex = { .path = path, .cancellable = cancellable, .options = options };
  ex.temp_path = create_temp_file (path, error);
  if (ex.temp_path == NULL)
    return FALSE;

  /* The video caps: working frames at the working rate, or source frames
   * at the source's size (even for H.264's 4:2:0: an odd last row or
   * column is dropped) and its nominal rate (0/1 when it varies). */
  if (size == FA_EXPORT_SIZE_WORKING)
    {
      gst_video_info_set_format (&ex.video_info, GST_VIDEO_FORMAT_RGB, (guint) edited->width,
                                 (guint) edited->height);
      GST_VIDEO_INFO_FPS_N (&ex.video_info) = edited->fps_n;
      GST_VIDEO_INFO_FPS_D (&ex.video_info) = edited->fps_d;
    }
  else
    {
      const FaClipInfo *source = edited->source;
      int width = format == FA_EXPORT_FORMAT_MP4 ? source->width & ~1 : source->width;
      int height = format == FA_EXPORT_FORMAT_MP4 ? source->height & ~1 : source->height;
      gboolean fixed = !source->variable_rate && source->fps_n > 0 && source->fps_d > 0;
      gst_video_info_set_format (&ex.video_info, GST_VIDEO_FORMAT_RGB, (guint) width, (guint) height);
      GST_VIDEO_INFO_FPS_N (&ex.video_info) = fixed ? source->fps_n : 0;
      GST_VIDEO_INFO_FPS_D (&ex.video_info) = fixed ? source->fps_d : 1;
      if (source->par_n > 0 && source->par_d > 0)
        {
          GST_VIDEO_INFO_PAR_N (&ex.video_info) = source->par_n;
          GST_VIDEO_INFO_PAR_D (&ex.video_info) = source->par_d;
        }
    }

  g_autoptr (GstCaps) audio_caps = NULL;
  ok = !want_audio || open_audio (&ex, edited, audio_copy, &audio_caps, error);
  ex.with_audio = audio_caps != NULL;
  ok = ok && build_pipeline (&ex, format, audio_caps, error);
  if (ok && size == FA_EXPORT_SIZE_WORKING)
    ok = export_working (&ex, edited, error);
  else if (ok)
    ok = export_source (&ex, edited, masks, error);
  if (ok)
    ok = commit_temp_file (ex.temp_path, path, error);
  if (ok)
    g_clear_pointer (&ex.temp_path, g_free);
  export_clear (&ex);
  return ok;
}
