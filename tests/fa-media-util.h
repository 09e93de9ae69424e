/* fa-media-util.h: media fixtures for tests: small clips written by
 * GStreamer pipelines (test sources, real encoders and muxers), so tests
 * need no media files in the repository.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>
#include <gst/gst.h>

/* Runs a gst-launch style @description to end-of-stream; fails the test
 * on a parse error or an error message on the bus. */
static inline void
fa_test_run_pipeline (const char *description)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GstElement) pipeline = NULL;
  g_autoptr (GstBus) bus = NULL;
  g_autoptr (GstMessage) message = NULL;

  gst_init (NULL, NULL);
  pipeline = gst_parse_launch (description, &error);
  g_assert_no_error (error);
  g_assert_nonnull (pipeline);
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  bus = gst_element_get_bus (pipeline);
  message = gst_bus_timed_pop_filtered (bus, 120 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (message);
  if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR)
    {
      g_autoptr (GError) bus_error = NULL;
      g_autofree char *debug = NULL;
      gst_message_parse_error (message, &bus_error, &debug);
      g_error ("fixture pipeline failed: %s (%s)\n  %s", bus_error->message, debug ? debug : "", description);
    }
  gst_element_set_state (pipeline, GST_STATE_NULL);
}

/* An MP4 of @n_frames frames of videotestsrc's @pattern at @width × @height
 * and @fps, H.264 (x264enc), with @with_audio a sine tone in AAC
 * (avenc_aac) lasting as long as the video. Returns the path under @dir. */
static inline char *
fa_test_make_mp4 (const char *dir, const char *name, int n_frames, int width, int height, int fps,
                  gboolean with_audio, const char *pattern)
{
  char *path = g_build_filename (dir, name, NULL);
  g_autofree char *audio = NULL;
  g_autofree char *description = NULL;

  if (with_audio)
    {
      /* 1024 samples per buffer at 48 kHz: enough buffers to cover the video */
      int buffers = (int) ((double) n_frames / fps * 48000.0 / 1024.0) + 1;
      audio = g_strdup_printf (" audiotestsrc num-buffers=%d samplesperbuffer=1024 ! "
                               "audio/x-raw,rate=48000,channels=2 ! audioconvert ! avenc_aac ! "
                               "aacparse ! queue ! mux.", buffers);
    }
  description = g_strdup_printf ("videotestsrc num-buffers=%d pattern=%s ! "
                                 "video/x-raw,width=%d,height=%d,framerate=%d/1,format=I420 ! "
                                 "x264enc speed-preset=ultrafast key-int-max=8 ! h264parse ! queue ! "
                                 "mp4mux name=mux faststart=true ! filesink location=\"%s\"%s",
                                 n_frames, pattern, width, height, fps, path, audio ? audio : "");
  fa_test_run_pipeline (description);
  return path;
}
