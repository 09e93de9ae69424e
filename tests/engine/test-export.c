/* Export: working clips round-trip through MP4 and WebM (frame count,
 * size, timestamps, duration and pixels checked by decoding the file
 * again), the source's audio is carried over (copied AAC, AAC and Opus
 * encoded) or left out, a source-size export keeps the source's pixels
 * outside the mask and shows the edit inside it, and bad paths, unknown
 * extensions and a cancel leave any old file as it was and nothing behind.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <glib/gstdio.h>
#include <gst/app/gstappsink.h>
#include <gst/audio/audio.h>
#include <gst/gst.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "fa-clip.h"
#include "fa-error.h"
#include "fa-export.h"
#include "fa-mask.h"
#include "fa-media-util.h"
#include "fa-test-util.h"

/* small sizes keep VP9 fast on two cores */
#define W 160
#define H 96
#define FPS 16

typedef struct {
  char *dir;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->dir = fa_test_make_folder ("fa-export-XXXXXX");
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  /* a read-only test may have left the folder unwritable */
  g_chmod (f->dir, 0755);
  fa_test_remove_tree (f->dir);
  g_free (f->dir);
}

#define ADD(name, func) g_test_add (name, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

/* ---- helpers ---- */

/* A smooth pattern that moves with @i: codecs keep it well, and
 * neighbouring frames differ clearly. */
static void
fill_pattern (guint8 *rgb, int width, int height, int i)
{
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        guint8 *p = rgb + ((gsize) y * width + x) * 3;
        p[0] = (guint8) (128 + 90 * sin ((x + 6.0 * i) / 24.0));
        p[1] = (guint8) (128 + 90 * cos ((y - 4.0 * i) / 20.0));
        p[2] = (guint8) (128 + 60 * sin ((x + y + 5.0 * i) / 30.0));
      }
}

static FaWorkingClip *
make_pattern_clip (int n_frames)
{
  g_autoptr (GError) error = NULL;
  FaWorkingClip *clip = fa_working_clip_new (n_frames, W, H, FPS, 1, &error);

  g_assert_no_error (error);
  for (int i = 0; i < n_frames; i++)
    fill_pattern (fa_working_clip_frame (clip, i), W, H, i);
  return clip;
}

/* Every frame of a file, as decoded, with its timestamp. */
typedef struct {
  int n_frames, width, height;
  GPtrArray *frames; /* packed RGB rows */
  GArray *pts;       /* gint64 ns */
} Decoded;

static void
decoded_free (Decoded *d)
{
  g_ptr_array_unref (d->frames);
  g_array_unref (d->pts);
  g_free (d);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Decoded, decoded_free)

static Decoded *
decode_all (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaClipReader) reader = fa_clip_reader_new (path, 0, NULL, &error);
  Decoded *d = g_new0 (Decoded, 1);
  const guint8 *rgb;
  int width, height;
  gint64 pts;

  g_assert_no_error (error);
  d->frames = g_ptr_array_new_with_free_func (g_free);
  d->pts = g_array_new (FALSE, FALSE, sizeof (gint64));
  while (fa_clip_reader_next (reader, &rgb, &width, &height, &pts, &error))
    {
      if (d->n_frames == 0)
        {
          d->width = width;
          d->height = height;
        }
      g_assert_cmpint (width, ==, d->width);
      g_assert_cmpint (height, ==, d->height);
      g_ptr_array_add (d->frames, g_memdup2 (rgb, (gsize) width * height * 3));
      g_array_append_val (d->pts, pts);
      d->n_frames++;
    }
  g_assert_no_error (error);
  return d;
}

/* Mean absolute difference over [x0, x1) × [y0, y1) of two packed RGB
 * frames of @width columns. */
static double
mean_abs_diff (const guint8 *a, const guint8 *b, int width, int x0, int y0, int x1, int y1)
{
  double sum = 0.0;

  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++)
      for (int c = 0; c < 3; c++)
        {
          gsize i = ((gsize) y * width + x) * 3 + c;
          sum += fabs ((double) a[i] - b[i]);
        }
  return sum / ((double) (x1 - x0) * (y1 - y0) * 3);
}

typedef struct {
  GstElement *audio, *video; /* where decoded audio and video go */
} Sinks;

static void
on_decoded_pad (GstElement *decodebin, GstPad *pad, gpointer user_data)
{
  Sinks *sinks = user_data;
  g_autoptr (GstCaps) caps = gst_pad_get_current_caps (pad);
  gboolean audio = g_str_has_prefix (gst_structure_get_name (gst_caps_get_structure (caps, 0)), "audio/");
  g_autoptr (GstPad) sink = gst_element_get_static_pad (audio ? sinks->audio : sinks->video, "sink");

  if (!gst_pad_is_linked (sink))
    g_assert_cmpint (gst_pad_link (pad, sink), ==, GST_PAD_LINK_OK);
}

/* How long the decoded audio of @path lasts, counted in samples. The
 * video goes to a fakesink: left unlinked, it could stall the decoder
 * once the audio ends. */
static double
decoded_audio_seconds (const char *path)
{
  g_autofree char *uri = gst_filename_to_uri (path, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GstElement) pipeline =
    gst_parse_launch ("uridecodebin name=decode audioconvert name=convert ! "
                      "audio/x-raw,format=S16LE,layout=interleaved ! appsink name=sink sync=false "
                      "fakesink name=video sync=false", &error);
  g_autoptr (GstElement) decode = NULL;
  g_autoptr (GstElement) sink = NULL;
  guint64 frames = 0;
  int rate = 0;
  Sinks sinks;

  g_assert_no_error (error);
  decode = gst_bin_get_by_name (GST_BIN (pipeline), "decode");
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  sinks.audio = gst_bin_get_by_name (GST_BIN (pipeline), "convert");
  sinks.video = gst_bin_get_by_name (GST_BIN (pipeline), "video");
  g_object_set (decode, "uri", uri, NULL);
  g_signal_connect (decode, "pad-added", G_CALLBACK (on_decoded_pad), &sinks);
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  for (;;)
    {
      g_autoptr (GstSample) sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 30 * GST_SECOND);
      GstAudioInfo info;
      if (sample == NULL)
        break;
      g_assert_true (gst_audio_info_from_caps (&info, gst_sample_get_caps (sample)));
      rate = info.rate;
      frames += gst_buffer_get_size (gst_sample_get_buffer (sample)) / (gsize) info.bpf;
    }
  g_assert_true (gst_app_sink_is_eos (GST_APP_SINK (sink)));
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (sinks.audio);
  gst_object_unref (sinks.video);
  g_assert_cmpint (rate, >, 0);
  return (double) frames / rate;
}

static FaClipInfo *
probe (const char *path)
{
  g_autoptr (GError) error = NULL;
  FaClipInfo *info = fa_clip_probe (path, NULL, &error);

  g_assert_no_error (error);
  return info;
}

static void
export_ok (const FaWorkingClip *clip, const FaMaskSet *masks, const char *path,
           const FaExportOptions *options)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (fa_export (clip, masks, path, options, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* The names in @dir, sorted, joined by spaces. */
static char *
list_folder (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

/* The source's working clip at W × H and FPS, its frames made different
 * from the source's (inverted) so that an edit shows. */
static FaWorkingClip *
decode_and_edit (const char *path)
{
  g_autoptr (GError) error = NULL;
  FaWorkingClipOptions options;
  FaWorkingClip *clip;

  fa_working_clip_options_init (&options);
  options.width = W;
  options.height = H;
  options.fps_n = FPS;
  options.fps_d = 1;
  clip = fa_working_clip_decode (path, &options, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (clip->source);
  for (gsize i = 0; i < (gsize) clip->n_frames * W * H * 3; i++)
    clip->rgb[i] = 255 - clip->rgb[i];
  return clip;
}

/* ---- options ---- */

static void
test_options_defaults (void)
{
  FaExportOptions options;

  memset (&options, 0x5a, sizeof options);
  fa_export_options_init (&options);
  g_assert_cmpint (options.format, ==, FA_EXPORT_FORMAT_AUTO);
  g_assert_cmpint (options.size, ==, FA_EXPORT_SIZE_WORKING);
  g_assert_cmpint (options.quality, ==, 18);
  g_assert_true (options.audio);
  g_assert_cmpfloat (options.feather_px, ==, 4.0f);
  g_assert_null (options.progress);
  g_assert_null (options.progress_user_data);
}

/* ---- round trips at the working size ---- */

typedef struct {
  guint calls, last_done, last_total;
  gboolean monotonic;
} Progress;

static void
on_progress (guint done, guint total, gpointer user_data)
{
  Progress *p = user_data;

  if (done < p->last_done || done > total)
    p->monotonic = FALSE;
  p->calls++;
  p->last_done = done;
  p->last_total = total;
}

static void
check_round_trip (Fixture *f, const char *name, double max_error)
{
  const int n = 17;
  g_autoptr (FaWorkingClip) clip = make_pattern_clip (n);
  g_autofree char *path = g_build_filename (f->dir, name, NULL);
  Progress progress = { .monotonic = TRUE };
  FaExportOptions options;

  fa_export_options_init (&options);
  options.progress = on_progress;
  options.progress_user_data = &progress;
  export_ok (clip, NULL, path, &options);
  g_assert_true (progress.monotonic);
  g_assert_cmpuint (progress.last_done, ==, n);
  g_assert_cmpuint (progress.last_total, ==, n);
  g_assert_cmpuint (progress.calls, ==, n);

  g_autoptr (FaClipInfo) info = probe (path);
  g_assert_cmpint (info->width, ==, W);
  g_assert_cmpint (info->height, ==, H);
  g_assert_false (info->has_audio);
  g_assert_cmpint (info->fps_n * 1, ==, FPS * info->fps_d);
  g_assert_cmpint (llabs (info->duration_ns - (gint64) n * GST_SECOND / FPS), <=, GST_MSECOND);

  g_autoptr (Decoded) d = decode_all (path);
  g_assert_cmpint (d->n_frames, ==, n);
  g_assert_cmpint (d->width, ==, W);
  g_assert_cmpint (d->height, ==, H);
  for (int i = 0; i < n; i++)
    {
      gint64 pts = g_array_index (d->pts, gint64, i);
      double err = mean_abs_diff (d->frames->pdata[i], fa_working_clip_frame (clip, i), W, 0, 0, W, H);
      g_assert_cmpint (llabs (pts - (gint64) i * GST_SECOND / FPS), <=, GST_MSECOND);
      g_test_message ("%s frame %d: error %.2f, against the next %.2f", name, i, err, i + 1 < n ? mean_abs_diff (d->frames->pdata[i], fa_working_clip_frame (clip, i + 1), W, 0, 0, W, H) : 0.0);
      if (!(err < max_error))
        g_error ("%s frame %d: mean abs error %.2f ≥ %.2f", name, i, err, max_error);
      /* the frames are in their order: the next one is clearly farther */
      if (i + 1 < n)
        g_assert_cmpfloat (mean_abs_diff (d->frames->pdata[i], fa_working_clip_frame (clip, i + 1), W, 0, 0, W, H),
                           >, 2 * max_error);
    }
}

static void
test_round_trip_mp4 (Fixture *f, gconstpointer data)
{
  check_round_trip (f, "clip.mp4", 4.5);
}

static void
test_round_trip_webm (Fixture *f, gconstpointer data)
{
  check_round_trip (f, "clip.webm", 4.5);
}

/* Quality matters: the smallest file is smaller and farther from the frames. */
/* Detailed frames (noise) make large packets: every frame still comes
 * back, in its order. vp9enc with look-ahead lost the last frames of such
 * clips at end-of-stream. */
static void
check_every_frame_of_noise (Fixture *f, const char *name)
{
  const int n = 33;
  g_autoptr (GError) error = NULL;
  g_autoptr (FaWorkingClip) clip = fa_working_clip_new (n, W, H, FPS, 1, &error);
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  g_autofree char *path = g_build_filename (f->dir, name, NULL);

  g_assert_no_error (error);
  for (gsize i = 0; i < (gsize) n * W * H * 3; i++)
    clip->rgb[i] = (guint8) g_rand_int_range (rand, 0, 256);
  export_ok (clip, NULL, path, NULL);

  g_autoptr (Decoded) d = decode_all (path);
  g_assert_cmpint (d->n_frames, ==, n);
  for (int i = 0; i < n; i++)
    {
      /* a frame is nearer its own source frame than either neighbour */
      double own = mean_abs_diff (d->frames->pdata[i], fa_working_clip_frame (clip, i), W, 0, 0, W, H);
      for (int j = MAX (i - 1, 0); j <= MIN (i + 1, n - 1); j++)
        if (j != i)
          g_assert_cmpfloat (own, <, mean_abs_diff (d->frames->pdata[i], fa_working_clip_frame (clip, j), W, 0, 0, W, H));
      g_assert_cmpint (llabs (g_array_index (d->pts, gint64, i) - (gint64) i * GST_SECOND / FPS), <=, GST_MSECOND);
    }
}

static void
test_noise_mp4 (Fixture *f, gconstpointer data)
{
  check_every_frame_of_noise (f, "noise.mp4");
}

static void
test_noise_webm (Fixture *f, gconstpointer data)
{
  check_every_frame_of_noise (f, "noise.webm");
}

static void
test_quality (Fixture *f, gconstpointer data)
{
  g_autoptr (FaWorkingClip) clip = make_pattern_clip (9);
  g_autofree char *best = g_build_filename (f->dir, "best.mp4", NULL);
  g_autofree char *worst = g_build_filename (f->dir, "worst.mp4", NULL);
  FaExportOptions options;
  GStatBuf best_stat, worst_stat;
  double best_err = 0.0, worst_err = 0.0;

  fa_export_options_init (&options);
  options.quality = 10;
  export_ok (clip, NULL, best, &options);
  options.quality = 45;
  export_ok (clip, NULL, worst, &options);
  g_assert_cmpint (g_stat (best, &best_stat), ==, 0);
  g_assert_cmpint (g_stat (worst, &worst_stat), ==, 0);
  g_assert_cmpint (worst_stat.st_size, <, best_stat.st_size);

  g_autoptr (Decoded) b = decode_all (best);
  g_autoptr (Decoded) w = decode_all (worst);
  g_assert_cmpint (b->n_frames, ==, 9);
  g_assert_cmpint (w->n_frames, ==, 9);
  for (int i = 0; i < 9; i++)
    {
      best_err += mean_abs_diff (b->frames->pdata[i], fa_working_clip_frame (clip, i), W, 0, 0, W, H);
      worst_err += mean_abs_diff (w->frames->pdata[i], fa_working_clip_frame (clip, i), W, 0, 0, W, H);
    }
  g_assert_cmpfloat (best_err, <, worst_err);
}

/* ---- audio ---- */

/* The source has AAC audio; the export has audio lasting as long as its
 * video, or none when audio is off. */
static void
check_audio (Fixture *f, const char *source_name, const char *name)
{
  g_autofree char *source = fa_test_make_mp4 (f->dir, source_name, 24, W, H, FPS, TRUE, "ball");
  g_autoptr (FaWorkingClip) clip = decode_and_edit (source);
  g_autofree char *path = g_build_filename (f->dir, name, NULL);
  g_autofree char *mute_name = g_strconcat ("mute-", name, NULL);
  g_autofree char *mute = g_build_filename (f->dir, mute_name, NULL);
  double video_s = (double) clip->n_frames * clip->fps_d / clip->fps_n;
  FaExportOptions options;

  g_assert_true (clip->source->has_audio);
  fa_export_options_init (&options);
  export_ok (clip, NULL, path, &options);

  g_autoptr (FaClipInfo) info = probe (path);
  g_assert_true (info->has_audio);
  g_assert_cmpint (info->width, ==, W);
  g_assert_cmpint (info->height, ==, H);
  double audio_s = decoded_audio_seconds (path);
  g_test_message ("%s: %.4f s of audio for %.4f s of video", name, audio_s, video_s);
  /* within an AAC/Opus frame plus codec padding of the video's length */
  if (fabs (audio_s - video_s) > 0.05)
    g_error ("%s: %.3f s of audio for %.3f s of video", name, audio_s, video_s);
  g_autoptr (Decoded) d = decode_all (path);
  g_assert_cmpint (d->n_frames, ==, clip->n_frames);
  for (int i = 0; i < clip->n_frames; i++)
    g_assert_cmpfloat (mean_abs_diff (d->frames->pdata[i], fa_working_clip_frame (clip, i), W, 0, 0, W, H), <, 4.0);

  options.audio = FALSE;
  export_ok (clip, NULL, mute, &options);
  g_autoptr (FaClipInfo) mute_info = probe (mute);
  g_assert_false (mute_info->has_audio);
}

static void
test_audio_mp4 (Fixture *f, gconstpointer data)
{
  check_audio (f, "source.mp4", "edit.mp4");
}

static void
test_audio_webm (Fixture *f, gconstpointer data)
{
  check_audio (f, "source.mp4", "edit.webm");
}

/* Audio that is not AAC (Opus from a WebM) is encoded to AAC for an MP4. */
static void
test_audio_reencoded (Fixture *f, gconstpointer data)
{
  g_autofree char *source = fa_test_make_mp4 (f->dir, "source.mp4", 24, W, H, FPS, TRUE, "ball");
  g_autoptr (FaWorkingClip) clip = decode_and_edit (source);
  g_autofree char *webm = g_build_filename (f->dir, "opus.webm", NULL);
  g_autofree char *path = g_build_filename (f->dir, "aac.mp4", NULL);

  export_ok (clip, NULL, webm, NULL);
  g_autoptr (FaWorkingClip) from_webm = decode_and_edit (webm);
  g_assert_true (from_webm->source->has_audio);
  g_assert_false (from_webm->source->audio_is_aac);
  export_ok (from_webm, NULL, path, NULL);

  g_autoptr (FaClipInfo) info = probe (path);
  g_assert_true (info->has_audio);
  g_assert_true (info->audio_is_aac);
  double video_s = (double) from_webm->n_frames * from_webm->fps_d / from_webm->fps_n;
  double audio_s = decoded_audio_seconds (path);
  if (fabs (audio_s - video_s) > 0.05)
    g_error ("%.3f s of audio for %.3f s of video", audio_s, video_s);
}

/* A range from the middle of the source: the audio is cut to it too. */
static void
test_audio_range (Fixture *f, gconstpointer data)
{
  g_autofree char *source = fa_test_make_mp4 (f->dir, "source.mp4", 48, W, H, FPS, TRUE, "ball");
  g_autofree char *path = g_build_filename (f->dir, "range.mp4", NULL);
  g_autoptr (GError) error = NULL;
  FaWorkingClipOptions options;

  fa_working_clip_options_init (&options);
  options.width = W;
  options.height = H;
  options.fps_n = FPS;
  options.fps_d = 1;
  options.start_ns = GST_SECOND;
  options.max_frames = 9;
  g_autoptr (FaWorkingClip) clip = fa_working_clip_decode (source, &options, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip->n_frames, ==, 9);
  g_assert_cmpint (clip->source_pts_ns[0], >=, GST_SECOND - GST_MSECOND);

  export_ok (clip, NULL, path, NULL);
  double audio_s = decoded_audio_seconds (path);
  if (fabs (audio_s - 9.0 / FPS) > 0.05)
    g_error ("%.3f s of audio for %.3f s of video", audio_s, 9.0 / FPS);
  g_autoptr (Decoded) d = decode_all (path);
  g_assert_cmpint (d->n_frames, ==, 9);
  g_assert_cmpint (g_array_index (d->pts, gint64, 0), ==, 0);
}

/* Audio that ends before the video: the export ends too (the muxer must
 * not wait for more), with the audio there was. */
static void
test_audio_shorter (Fixture *f, gconstpointer data)
{
  g_autofree char *source = g_build_filename (f->dir, "short-audio.mp4", NULL);
  /* 6 s of video, longer than the encoders and queues hold, and 2 s of
   * audio (94 buffers of 1024 samples at 48 kHz; qtdemux ignores a track
   * shorter than a fifth of the file as a "preview") */
  g_autofree char *description =
    g_strdup_printf ("videotestsrc num-buffers=96 pattern=ball ! video/x-raw,width=%d,height=%d,framerate=%d/1,"
                     "format=I420 ! x264enc speed-preset=ultrafast key-int-max=8 ! h264parse ! queue ! "
                     "mp4mux name=mux faststart=true ! filesink location=\"%s\" "
                     "audiotestsrc num-buffers=94 samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=2 ! "
                     "audioconvert ! avenc_aac ! aacparse ! queue ! mux.", W, H, FPS, source);
  fa_test_run_pipeline (description);
  g_autoptr (FaWorkingClip) clip = decode_and_edit (source);
  g_assert_cmpint (clip->n_frames, ==, 81);

  for (int i = 0; i < 2; i++)
    {
      g_autofree char *path = g_build_filename (f->dir, i == 0 ? "edit.mp4" : "edit.webm", NULL);
      export_ok (clip, NULL, path, NULL);
      g_autoptr (Decoded) d = decode_all (path);
      g_assert_cmpint (d->n_frames, ==, clip->n_frames);
      double audio_s = decoded_audio_seconds (path);
      g_test_message ("%s: %.4f s of audio", path, audio_s);
      g_assert_cmpfloat (fabs (audio_s - 94 * 1024 / 48000.0), <, 0.05);
    }
}

/* ---- source size ---- */

#define SW 320
#define SH 192
#define SOURCE_FPS 24

static void
check_source_size (Fixture *f, const char *name, double max_outside, double max_inside)
{
  static const guint8 paint[3] = { 40, 190, 70 };
  g_autofree char *source = fa_test_make_mp4 (f->dir, "source.mp4", 25, SW, SH, SOURCE_FPS, TRUE, "smpte");
  g_autofree char *path = g_build_filename (f->dir, name, NULL);
  g_autoptr (GError) error = NULL;
  FaWorkingClipOptions wopts;
  FaExportOptions options;
  /* the box in working pixels, and where it lands on the source (×2) */
  const int bx = 40, by = 24, bw = 72, bh = 40;
  const int sx0 = 2 * bx, sy0 = 2 * by, sx1 = 2 * (bx + bw), sy1 = 2 * (by + bh);
  /* the feather (4 px) and chroma subsampling blur the box's edge */
  const int margin = 10;

  fa_working_clip_options_init (&wopts);
  wopts.width = W;
  wopts.height = H;
  wopts.fps_n = FPS;
  wopts.fps_d = 1;
  /* a range inside the source: [0.25 s, 0.75 s] */
  wopts.start_ns = GST_SECOND / 4;
  wopts.max_frames = 9;
  g_autoptr (FaWorkingClip) clip = fa_working_clip_decode (source, &wopts, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip->n_frames, ==, 9);
  g_assert_cmpint (clip->source->width, ==, SW);
  g_assert_cmpfloat (fabs (clip->geometry.scale_x - 0.5), <, 1e-9);
  for (int i = 0; i < clip->n_frames; i++)
    for (int p = 0; p < W * H; p++)
      memcpy (fa_working_clip_frame (clip, i) + p * 3, paint, 3);
  g_autoptr (FaMaskSet) masks = fa_mask_set_new (clip->n_frames, W, H, &error);
  g_assert_no_error (error);
  for (int i = 0; i < clip->n_frames; i++)
    {
      g_assert_true (fa_mask_set_apply_box (masks, i, bx, by, bw, bh, FALSE, &error));
      g_assert_no_error (error);
    }

  fa_export_options_init (&options);
  options.size = FA_EXPORT_SIZE_SOURCE;
  export_ok (clip, masks, path, &options);

  /* the source frames the working clip covers: up to the last working
   * frame's, at the source's own rate */
  g_autoptr (Decoded) s = decode_all (source);
  int first = -1, last = -1;
  for (int k = 0; k < s->n_frames; k++)
    {
      gint64 t = g_array_index (s->pts, gint64, k);
      if (t >= clip->source_pts_ns[0] - GST_SECOND / SOURCE_FPS / 2 &&
          t < clip->source_pts_ns[clip->n_frames - 1] + GST_SECOND / SOURCE_FPS / 2)
        {
          if (first < 0)
            first = k;
          last = k;
        }
    }
  /* more source frames than working ones (24 fps against 16), and fewer
   * than the whole source */
  g_assert_cmpint (first, ==, SOURCE_FPS / 4);
  g_assert_cmpint (last - first + 1, >, clip->n_frames);
  g_assert_cmpint (last + 1, <, s->n_frames);

  g_autoptr (FaClipInfo) info = probe (path);
  g_assert_cmpint (info->width, ==, SW);
  g_assert_cmpint (info->height, ==, SH);
  g_assert_true (info->has_audio);
  g_autoptr (Decoded) d = decode_all (path);
  g_assert_cmpint (d->n_frames, ==, last - first + 1);
  g_assert_cmpint (d->width, ==, SW);
  g_assert_cmpint (d->height, ==, SH);
  for (int j = 0; j < d->n_frames; j++)
    {
      const guint8 *out = d->frames->pdata[j];
      const guint8 *src = s->frames->pdata[first + j];
      gint64 expected_pts = g_array_index (s->pts, gint64, first + j) - g_array_index (s->pts, gint64, first);
      double above, below, left, right, inside = 0.0;

      g_assert_cmpint (llabs (g_array_index (d->pts, gint64, j) - expected_pts), <=, GST_MSECOND);
      /* outside: the source's pixels (re-encoded) */
      above = mean_abs_diff (out, src, SW, 0, 0, SW, sy0 - margin);
      below = mean_abs_diff (out, src, SW, 0, sy1 + margin, SW, SH);
      left = mean_abs_diff (out, src, SW, 0, sy0, sx0 - margin, sy1);
      right = mean_abs_diff (out, src, SW, sx1 + margin, sy0, SW, sy1);
      if (!(above < max_outside && below < max_outside && left < max_outside && right < max_outside))
        g_error ("%s frame %d: outside the mask the source differs by %.2f %.2f %.2f %.2f", name, j,
                 above, below, left, right);
      /* inside: the paint */
      for (int y = sy0 + margin; y < sy1 - margin; y++)
        for (int x = sx0 + margin; x < sx1 - margin; x++)
          for (int c = 0; c < 3; c++)
            inside += fabs ((double) out[((gsize) y * SW + x) * 3 + c] - paint[c]);
      inside /= (double) (sx1 - sx0 - 2 * margin) * (sy1 - sy0 - 2 * margin) * 3;
      g_test_message ("%s frame %d: outside %.2f %.2f %.2f %.2f, inside %.2f", name, j, above, below, left, right, inside);
      if (!(inside < max_inside))
        g_error ("%s frame %d: inside the mask the paint differs by %.2f", name, j, inside);
      /* and the source there is far from the paint, so the test can fail */
      g_assert_cmpfloat (mean_abs_diff (src, out, SW, sx0 + margin, sy0 + margin, sx1 - margin, sy1 - margin), >,
                         4 * max_inside);
    }
  double audio_s = decoded_audio_seconds (path);
  double video_s = (double) (last - first + 1) / SOURCE_FPS;
  if (fabs (audio_s - video_s) > 0.05)
    g_error ("%s: %.3f s of audio for %.3f s of video", name, audio_s, video_s);
}

static void
test_source_size_mp4 (Fixture *f, gconstpointer data)
{
  check_source_size (f, "full.mp4", 3.0, 6.0);
}

static void
test_source_size_webm (Fixture *f, gconstpointer data)
{
  check_source_size (f, "full.webm", 3.0, 6.0);
}

/* Without masks the whole frame is the edit. */
static void
test_source_size_no_masks (Fixture *f, gconstpointer data)
{
  g_autofree char *source = fa_test_make_mp4 (f->dir, "source.mp4", 12, SW, SH, SOURCE_FPS, FALSE, "smpte");
  g_autofree char *path = g_build_filename (f->dir, "full.mp4", NULL);
  g_autoptr (GError) error = NULL;
  FaWorkingClipOptions wopts;
  FaExportOptions options;

  fa_working_clip_options_init (&wopts);
  wopts.width = W;
  wopts.height = H;
  g_autoptr (FaWorkingClip) clip = fa_working_clip_decode (source, &wopts, NULL, &error);
  g_assert_no_error (error);
  for (int i = 0; i < clip->n_frames; i++)
    fill_pattern (fa_working_clip_frame (clip, i), W, H, 0);

  fa_export_options_init (&options);
  options.size = FA_EXPORT_SIZE_SOURCE;
  export_ok (clip, NULL, path, &options);

  /* the pattern scaled up ×2 by hand: each output pixel near the working
   * pixel whose centre it is closest to */
  g_autoptr (Decoded) d = decode_all (path);
  g_assert_cmpint (d->width, ==, SW);
  g_assert_cmpint (d->height, ==, SH);
  g_assert_cmpint (d->n_frames, >=, clip->n_frames);
  g_autofree guint8 *up = g_malloc ((gsize) SW * SH * 3);
  const guint8 *frame = fa_working_clip_frame (clip, 0);
  for (int y = 0; y < SH; y++)
    for (int x = 0; x < SW; x++)
      memcpy (up + ((gsize) y * SW + x) * 3, frame + ((gsize) (y / 2) * W + x / 2) * 3, 3);
  for (int j = 0; j < d->n_frames; j++)
    g_assert_cmpfloat (mean_abs_diff (d->frames->pdata[j], up, SW, 0, 0, SW, SH), <, 4.0);
}

/* The feather widens the soft edge: a band just outside the box is the
 * source's with no feather and mixed with the edit with a wide one. */
static void
test_source_size_feather (Fixture *f, gconstpointer data)
{
  static const guint8 paint[3] = { 40, 190, 70 };
  g_autofree char *source = fa_test_make_mp4 (f->dir, "source.mp4", 6, SW, SH, SOURCE_FPS, FALSE, "smpte");
  g_autoptr (GError) error = NULL;
  FaWorkingClipOptions wopts;
  const int bx = 40, by = 24, bw = 72, bh = 40;
  double band[2];

  fa_working_clip_options_init (&wopts);
  wopts.width = W;
  wopts.height = H;
  wopts.fps_n = 0;
  wopts.fps_d = 0;
  g_autoptr (FaWorkingClip) clip = fa_working_clip_decode (source, &wopts, NULL, &error);
  g_assert_no_error (error);
  for (int i = 0; i < clip->n_frames; i++)
    for (int p = 0; p < W * H; p++)
      memcpy (fa_working_clip_frame (clip, i) + p * 3, paint, 3);
  g_autoptr (FaMaskSet) masks = fa_mask_set_new (clip->n_frames, W, H, &error);
  g_assert_no_error (error);
  for (int i = 0; i < clip->n_frames; i++)
    g_assert_true (fa_mask_set_apply_box (masks, i, bx, by, bw, bh, FALSE, NULL));
  g_autoptr (Decoded) s = decode_all (source);

  for (int k = 0; k < 2; k++)
    {
      g_autofree char *path = g_build_filename (f->dir, k == 0 ? "sharp.mp4" : "soft.mp4", NULL);
      FaExportOptions options;
      fa_export_options_init (&options);
      options.size = FA_EXPORT_SIZE_SOURCE;
      options.feather_px = k == 0 ? 0.0f : 24.0f;
      export_ok (clip, masks, path, &options);
      g_autoptr (Decoded) d = decode_all (path);
      g_assert_cmpint (d->n_frames, ==, clip->n_frames);
      /* the band 6 to 12 px right of the box, against the source */
      band[k] = mean_abs_diff (d->frames->pdata[0], s->frames->pdata[0], SW, 2 * (bx + bw) + 6, 2 * by,
                               2 * (bx + bw) + 12, 2 * (by + bh));
    }
  g_test_message ("beside the box: %.2f without feather, %.2f with 24 px", band[0], band[1]);
  g_assert_cmpfloat (band[0], <, 4.0);
  g_assert_cmpfloat (band[1], >, 15.0);
}

/* ---- bad input ---- */

static const char old_bytes[] = "an old file that must survive";

static void
write_old_file (const char *path)
{
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, old_bytes, sizeof old_bytes, &error);
  g_assert_no_error (error);
}

static void
assert_old_file (const char *path)
{
  g_autofree char *contents = NULL;
  gsize length = 0;

  g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
  g_assert_cmpmem (contents, length, old_bytes, sizeof old_bytes);
}

static void
test_missing_folder (Fixture *f, gconstpointer data)
{
  g_autoptr (FaWorkingClip) clip = make_pattern_clip (5);
  g_autofree char *missing = g_build_filename (f->dir, "no-such-folder", NULL);
  g_autofree char *path = g_build_filename (missing, "clip.mp4", NULL);
  g_autoptr (GError) error = NULL;

  g_assert_false (fa_export (clip, NULL, path, NULL, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_NOT_FOUND, missing);
  g_assert_false (g_file_test (missing, G_FILE_TEST_EXISTS));
  g_autofree char *names = list_folder (f->dir);
  g_assert_cmpstr (names, ==, "");
}

/* Source frames between working frames take the nearest working frame's
 * edit and mask: a box that moves by frame shows where that frame put it. */
static void
test_source_size_nearest (Fixture *f, gconstpointer data)
{
  static const guint8 paint[3] = { 40, 190, 70 };
  g_autofree char *source = fa_test_make_mp4 (f->dir, "source.mp4", 24, SW, SH, 40, FALSE, "smpte");
  g_autofree char *path = g_build_filename (f->dir, "out.webm", NULL);
  g_autoptr (GError) error = NULL;
  FaWorkingClipOptions wopts;
  FaExportOptions options;
  /* box i: working columns [8 + 16 i, 20 + 16 i), rows [16, 80) */
  const int step = 16, box_w = 12, y0 = 2 * 16 + 8, y1 = 2 * 80 - 8;

  fa_working_clip_options_init (&wopts);
  wopts.width = W;
  wopts.height = H;
  wopts.max_frames = 9;
  g_autoptr (FaWorkingClip) clip = fa_working_clip_decode (source, &wopts, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip->n_frames, ==, 9);
  g_autoptr (FaMaskSet) masks = fa_mask_set_new (clip->n_frames, W, H, &error);
  g_assert_no_error (error);
  for (int i = 0; i < clip->n_frames; i++)
    {
      for (int p = 0; p < W * H; p++)
        memcpy (fa_working_clip_frame (clip, i) + p * 3, paint, 3);
      g_assert_true (fa_mask_set_apply_box (masks, i, 8 + step * i, 16, box_w, 64, FALSE, NULL));
    }

  fa_export_options_init (&options);
  options.size = FA_EXPORT_SIZE_SOURCE;
  options.feather_px = 0.0f;
  export_ok (clip, masks, path, &options);
  g_autoptr (Decoded) s = decode_all (source);
  g_autoptr (Decoded) d = decode_all (path);
  /* the source frames up to the last working frame's: at 40 fps against
   * 16 the working frames are 2 or 3 source frames apart, so some source
   * frames lie nearer the next working frame than the previous one */
  int expected = 0;
  for (int k = 0; k < s->n_frames; k++)
    expected += g_array_index (s->pts, gint64, k) < clip->source_pts_ns[clip->n_frames - 1] + GST_SECOND / 80;
  g_assert_cmpint (d->n_frames, ==, expected);
  for (int j = 0; j < d->n_frames; j++)
    {
      /* the working frames nearest in source time (two on a tie, either may win) */
      gint64 t = g_array_index (s->pts, gint64, j), best = G_MAXINT64;
      int painted = 0;
      for (int i = 0; i < clip->n_frames; i++)
        best = MIN (best, llabs (clip->source_pts_ns[i] - t));
      for (int i = 0; i < clip->n_frames; i++)
        {
          gboolean nearest = llabs (clip->source_pts_ns[i] - t) <= best + GST_MSECOND;
          /* the box's middle, away from its edges */
          int x0 = 2 * (8 + step * i) + 6, x1 = 2 * (8 + step * i + box_w) - 6;
          double to_source = mean_abs_diff (d->frames->pdata[j], s->frames->pdata[j], SW, x0, y0, x1, y1);
          double to_paint = 0.0;
          const guint8 *out = d->frames->pdata[j];
          for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++)
              for (int c = 0; c < 3; c++)
                to_paint += fabs ((double) out[((gsize) y * SW + x) * 3 + c] - paint[c]);
          to_paint /= (double) (x1 - x0) * (y1 - y0) * 3;
          if (nearest && to_paint < 8.0)
            painted++;
          else if (!(to_source < 4.0))
            g_error ("source frame %d, box of working frame %d%s: %.2f from the paint, %.2f from the "
                     "source", j, i, nearest ? " (a nearest)" : "", to_paint, to_source);
        }
      if (painted != 1)
        g_error ("source frame %d shows %d working frames' boxes", j, painted);
    }
}

/* A source that is gone by export time fails naming it; the old file
 * stays and nothing is left behind. */
static void
test_source_gone (Fixture *f, gconstpointer data)
{
  g_autofree char *source = fa_test_make_mp4 (f->dir, "source.mp4", 12, SW, SH, SOURCE_FPS, FALSE, "smpte");
  g_autofree char *path = g_build_filename (f->dir, "out.mp4", NULL);
  g_autoptr (GError) error = NULL;
  FaWorkingClipOptions wopts;
  FaExportOptions options;

  fa_working_clip_options_init (&wopts);
  wopts.width = W;
  wopts.height = H;
  g_autoptr (FaWorkingClip) clip = fa_working_clip_decode (source, &wopts, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_unlink (source), ==, 0);
  write_old_file (path);

  fa_export_options_init (&options);
  options.size = FA_EXPORT_SIZE_SOURCE;
  g_assert_false (fa_export (clip, NULL, path, &options, NULL, &error));
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, source));
  assert_old_file (path);
  g_autofree char *names = list_folder (f->dir);
  g_assert_cmpstr (names, ==, "out.mp4");
}

/* A parent that is a file is no folder either. */
static void
test_parent_is_file (Fixture *f, gconstpointer data)
{
  g_autoptr (FaWorkingClip) clip = make_pattern_clip (5);
  g_autofree char *file = g_build_filename (f->dir, "file", NULL);
  g_autofree char *path = g_build_filename (file, "clip.mp4", NULL);
  g_autoptr (GError) error = NULL;

  write_old_file (file);
  g_assert_false (fa_export (clip, NULL, path, NULL, NULL, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, file));
  assert_old_file (file);
}

/* An old file in a folder that cannot be written stays as it was. Root
 * writes through permissions, so it gets a folder no one can create
 * files in (/proc), with a file there as the "old" one. */
static void
test_read_only_folder (Fixture *f, gconstpointer data)
{
  g_autoptr (FaWorkingClip) clip = make_pattern_clip (5);
  g_autoptr (GError) error = NULL;
  FaExportOptions options;

  fa_export_options_init (&options);
  if (geteuid () == 0)
    {
      g_autofree char *before = NULL, *after = NULL;
      g_assert_true (g_file_get_contents ("/proc/version", &before, NULL, NULL));
      options.format = FA_EXPORT_FORMAT_MP4;
      g_assert_false (fa_export (clip, NULL, "/proc/version", &options, NULL, &error));
      fa_test_assert_error_message (error, G_IO_ERROR, (int) g_io_error_from_errno (ENOENT), "/proc");
      g_assert_true (g_file_get_contents ("/proc/version", &after, NULL, NULL));
      g_assert_cmpstr (before, ==, after);
      return;
    }

  g_autofree char *folder = g_build_filename (f->dir, "read-only", NULL);
  g_autofree char *path = g_build_filename (folder, "clip.mp4", NULL);
  g_assert_cmpint (g_mkdir (folder, 0755), ==, 0);
  write_old_file (path);
  g_assert_cmpint (g_chmod (folder, 0555), ==, 0);
  g_assert_false (fa_export (clip, NULL, path, &options, NULL, &error));
  fa_test_assert_error_message (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, folder);
  g_assert_cmpint (g_chmod (folder, 0755), ==, 0);
  assert_old_file (path);
  g_autofree char *names = list_folder (folder);
  g_assert_cmpstr (names, ==, "clip.mp4");
}

static void
test_unknown_extension (Fixture *f, gconstpointer data)
{
  g_autoptr (FaWorkingClip) clip = make_pattern_clip (5);
  g_autofree char *avi = g_build_filename (f->dir, "clip.avi", NULL);
  g_autofree char *bare = g_build_filename (f->dir, "clip", NULL);
  g_autoptr (GError) error = NULL;

  g_assert_false (fa_export (clip, NULL, avi, NULL, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, ".avi");
  g_clear_error (&error);
  g_assert_false (fa_export (clip, NULL, bare, NULL, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "extension");
  g_autofree char *names = list_folder (f->dir);
  g_assert_cmpstr (names, ==, "");

  /* the extension's case does not matter, and the format can be forced */
  g_autofree char *upper = g_build_filename (f->dir, "CLIP.MP4", NULL);
  FaExportOptions options;
  export_ok (clip, NULL, upper, NULL);
  fa_export_options_init (&options);
  options.format = FA_EXPORT_FORMAT_WEBM;
  export_ok (clip, NULL, bare, &options);
  g_autofree char *contents = NULL;
  gsize length = 0;
  g_assert_true (g_file_get_contents (bare, &contents, &length, NULL));
  /* EBML's magic, then the "webm" doc type in the header */
  g_assert_cmpuint (length, >, 64);
  g_assert_cmpmem (contents, 4, "\x1a\x45\xdf\xa3", 4);
  gboolean doc_type = FALSE;
  for (int i = 0; i + 4 <= 64; i++)
    doc_type = doc_type || memcmp (contents + i, "webm", 4) == 0;
  g_assert_true (doc_type);
  g_autofree char *mp4 = NULL;
  g_assert_true (g_file_get_contents (upper, &mp4, &length, NULL));
  g_assert_cmpmem (mp4 + 4, 4, "ftyp", 4);
}

static void
test_bad_arguments (Fixture *f, gconstpointer data)
{
  g_autoptr (FaWorkingClip) clip = make_pattern_clip (5);
  g_autofree char *path = g_build_filename (f->dir, "clip.mp4", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (FaMaskSet) masks = fa_mask_set_new (4, W, H, &error);
  FaExportOptions options;

  g_assert_no_error (error);
  fa_export_options_init (&options);
  options.quality = 52;
  g_assert_false (fa_export (clip, NULL, path, &options, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "quality 52");
  g_clear_error (&error);

  fa_export_options_init (&options);
  options.feather_px = NAN;
  g_assert_false (fa_export (clip, NULL, path, &options, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "feather");
  g_clear_error (&error);

  g_assert_false (fa_export (clip, masks, path, NULL, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "masks");
  g_clear_error (&error);

  g_autofree char *names = list_folder (f->dir);
  g_assert_cmpstr (names, ==, "");
}

/* An encoder that is not installed is named with its Debian package, and
 * nothing is written. The registry loses the element in a subprocess only. */
static void
test_missing_encoder (Fixture *f, gconstpointer data)
{
  if (g_test_subprocess ())
    {
      GstRegistry *registry = gst_registry_get ();
      g_autoptr (FaWorkingClip) clip = make_pattern_clip (5);
      g_autofree char *mp4 = g_build_filename (f->dir, "clip.mp4", NULL);
      g_autofree char *webm = g_build_filename (f->dir, "clip.webm", NULL);
      g_autoptr (GError) error = NULL;

      for (int i = 0; i < 2; i++)
        {
          GstPluginFeature *feature = gst_registry_lookup_feature (registry, i == 0 ? "x264enc" : "vp9enc");
          g_assert_nonnull (feature);
          gst_registry_remove_feature (registry, feature);
          gst_object_unref (feature);
        }
      g_assert_false (fa_export (clip, NULL, mp4, NULL, NULL, &error));
      fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_UNSUPPORTED, "x264enc");
      fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_UNSUPPORTED, "gstreamer1.0-plugins-ugly");
      g_clear_error (&error);
      g_assert_false (fa_export (clip, NULL, webm, NULL, NULL, &error));
      fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_UNSUPPORTED, "vp9enc");
      fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_UNSUPPORTED, "gstreamer1.0-plugins-good");
      g_autofree char *names = list_folder (f->dir);
      g_assert_cmpstr (names, ==, "");
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* ---- cancel ---- */

typedef struct {
  GCancellable *cancellable;
  guint at;
} CancelAt;

static void
cancel_at (guint done, guint total, gpointer user_data)
{
  CancelAt *c = user_data;

  if (done == c->at)
    g_cancellable_cancel (c->cancellable);
}

static void
check_cancel (Fixture *f, const char *name)
{
  g_autoptr (FaWorkingClip) clip = make_pattern_clip (33);
  g_autofree char *path = g_build_filename (f->dir, name, NULL);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  CancelAt cancel = { cancellable, 3 };
  FaExportOptions options;

  write_old_file (path);
  fa_export_options_init (&options);
  options.progress = cancel_at;
  options.progress_user_data = &cancel;
  g_assert_false (fa_export (clip, NULL, path, &options, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  assert_old_file (path);
  g_autofree char *names = list_folder (f->dir);
  g_assert_cmpstr (names, ==, name);
}

static void
test_cancel_mp4 (Fixture *f, gconstpointer data)
{
  check_cancel (f, "clip.mp4");
}

/* Cancelled before it starts, with audio to read and a source size. */
static void
test_cancel_source (Fixture *f, gconstpointer data)
{
  g_autofree char *source = fa_test_make_mp4 (f->dir, "source.mp4", 12, SW, SH, SOURCE_FPS, TRUE, "smpte");
  g_autoptr (FaWorkingClip) clip = decode_and_edit (source);
  g_autofree char *path = g_build_filename (f->dir, "out.webm", NULL);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  FaExportOptions options;

  write_old_file (path);
  g_cancellable_cancel (cancellable);
  fa_export_options_init (&options);
  options.size = FA_EXPORT_SIZE_SOURCE;
  g_assert_false (fa_export (clip, NULL, path, &options, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  assert_old_file (path);
  g_autofree char *names = list_folder (f->dir);
  g_assert_cmpstr (names, ==, "out.webm source.mp4");
}

/* A good export replaces the old file and leaves nothing else. */
static void
test_replaces_old_file (Fixture *f, gconstpointer data)
{
  g_autoptr (FaWorkingClip) clip = make_pattern_clip (5);
  g_autofree char *path = g_build_filename (f->dir, "clip.mp4", NULL);

  write_old_file (path);
  export_ok (clip, NULL, path, NULL);
  g_autoptr (Decoded) d = decode_all (path);
  g_assert_cmpint (d->n_frames, ==, 5);
  g_autofree char *names = list_folder (f->dir);
  g_assert_cmpstr (names, ==, "clip.mp4");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);

  g_test_add_func ("/export/options/defaults", test_options_defaults);
  ADD ("/export/round-trip/mp4", test_round_trip_mp4);
  ADD ("/export/round-trip/webm", test_round_trip_webm);
  ADD ("/export/round-trip/mp4-noise", test_noise_mp4);
  ADD ("/export/round-trip/webm-noise", test_noise_webm);
  ADD ("/export/quality", test_quality);
  ADD ("/export/audio/mp4-copy", test_audio_mp4);
  ADD ("/export/audio/webm-opus", test_audio_webm);
  ADD ("/export/audio/mp4-reencoded", test_audio_reencoded);
  ADD ("/export/audio/range", test_audio_range);
  ADD ("/export/audio/shorter", test_audio_shorter);
  ADD ("/export/source-size/mp4", test_source_size_mp4);
  ADD ("/export/source-size/webm", test_source_size_webm);
  ADD ("/export/source-size/no-masks", test_source_size_no_masks);
  ADD ("/export/source-size/feather", test_source_size_feather);
  ADD ("/export/source-size/nearest", test_source_size_nearest);
  ADD ("/export/bad/missing-folder", test_missing_folder);
  ADD ("/export/bad/parent-is-file", test_parent_is_file);
  ADD ("/export/bad/source-gone", test_source_gone);
  ADD ("/export/bad/read-only-folder", test_read_only_folder);
  ADD ("/export/bad/unknown-extension", test_unknown_extension);
  ADD ("/export/bad/arguments", test_bad_arguments);
  ADD ("/export/bad/missing-encoder", test_missing_encoder);
  ADD ("/export/cancel/mp4", test_cancel_mp4);
  ADD ("/export/cancel/source", test_cancel_source);
  ADD ("/export/replaces-old-file", test_replaces_old_file);
  return g_test_run ();
}
