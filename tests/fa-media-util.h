/* fa-media-util.h: media fixtures for tests: small clips written by
 * GStreamer pipelines (test sources, real encoders and muxers), so tests
 * need no media files in the repository.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>
#include <gst/gst.h>
#include <string.h>

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

/* Runs @description with every "@PATH@" in it replaced by the path of
 * @name under @dir, and returns that path: for clips the helpers above do
 * not make (other codecs, containers, sizes). */
static inline char *
fa_test_make_media (const char *dir, const char *name, const char *description)
{
  char *path = g_build_filename (dir, name, NULL);
  g_autofree char *quoted = g_strdup_printf ("\"%s\"", path);
  g_auto (GStrv) parts = g_strsplit (description, "@PATH@", -1);
  g_autofree char *full = g_strjoinv (quoted, parts);

  fa_test_run_pipeline (full);
  return path;
}

/* Writes the first @keep bytes of @source to @name under @dir: a file cut
 * short as by a failed copy. */
static inline char *
fa_test_truncate_copy (const char *source, const char *dir, const char *name, gsize keep)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;
  char *path = g_build_filename (dir, name, NULL);

  g_assert_true (g_file_get_contents (source, &contents, &length, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (keep, <=, length);
  g_assert_true (g_file_set_contents (path, contents, (gssize) keep, &error));
  g_assert_no_error (error);
  return path;
}

static inline void
fa_test_put_be32 (guint8 *p, guint32 v)
{
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

/* Sets the display matrix of the first track of the MP4 at @path to a
 * clockwise rotation of @degrees (0, 90, 180, 270), as phones write it;
 * GStreamer 1.22's mp4mux cannot write one itself. */
static inline void
fa_test_set_mp4_rotation (const char *path, int degrees)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;
  guint8 *data, *box = NULL;
  /* a, b, c, d of the 16.16 matrix [a b; c d] */
  static const gint32 matrices[4][4] = {
    { 0x10000, 0, 0, 0x10000 },
    { 0, 0x10000, -0x10000, 0 },
    { -0x10000, 0, 0, -0x10000 },
    { 0, -0x10000, 0x10000, 0 },
  };

  g_assert_true (degrees == 0 || degrees == 90 || degrees == 180 || degrees == 270);
  g_assert_true (g_file_get_contents (path, &contents, &length, &error));
  g_assert_no_error (error);
  data = (guint8 *) contents;
  /* the top-level moov box, then its first track header (never bytes of
   * the media data that happen to spell tkhd) */
  gsize moov = 0, moov_end = 0;
  for (gsize offset = 0; offset + 8 <= length;)
    {
      gsize size = (gsize) data[offset] << 24 | data[offset + 1] << 16 | data[offset + 2] << 8 | data[offset + 3];
      g_assert_cmpuint (size, >=, 8);
      if (memcmp (data + offset + 4, "moov", 4) == 0)
        {
          moov = offset;
          moov_end = MIN (offset + size, length);
          break;
        }
      offset += size;
    }
  g_assert_cmpuint (moov_end, >, 0);
  for (gsize i = moov + 8; i + 92 <= moov_end && box == NULL; i++)
    if (memcmp (data + i, "tkhd", 4) == 0)
      box = data + i - 4;
  g_assert_nonnull (box);

  /* version 0 and 1 differ in the width of their times */
  guint8 *matrix = box + (box[8] == 0 ? 48 : 60);
  const gint32 *m = matrices[degrees / 90];
  fa_test_put_be32 (matrix + 0, (guint32) m[0]);
  fa_test_put_be32 (matrix + 4, (guint32) m[1]);
  fa_test_put_be32 (matrix + 12, (guint32) m[2]);
  fa_test_put_be32 (matrix + 16, (guint32) m[3]);
  g_assert_true (g_file_set_contents (path, contents, (gssize) length, &error));
  g_assert_no_error (error);
}
