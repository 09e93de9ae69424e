/* Reading clips: probe of MP4s with and without audio, of a rotated and of
 * a variable-rate clip; the working clip's rate, frame count, range,
 * crop and pad geometry and source timestamps; the source-frame reader;
 * clips made in memory; and each bad input failing with its own error.
 * Every clip is made by a GStreamer pipeline in the test.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>
#include <string.h>

#include "fa-clip.h"
#include "fa-error.h"
#include "fa-media-util.h"
#include "fa-test-util.h"

#define FRAME_NS(fps) (GST_SECOND / (fps))

typedef struct {
  char *dir;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->dir = fa_test_make_folder ("fa-clip-XXXXXX");
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  fa_test_remove_tree (f->dir);
  g_free (f->dir);
}

#define ADD(name, func) g_test_add (name, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

static FaWorkingClip *
decode_ok (const char *path, const FaWorkingClipOptions *options)
{
  g_autoptr (GError) error = NULL;
  FaWorkingClip *clip = fa_working_clip_decode (path, options, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (clip);
  return clip;
}

static FaClipInfo *
probe_ok (const char *path)
{
  g_autoptr (GError) error = NULL;
  FaClipInfo *info = fa_clip_probe (path, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (info);
  return info;
}

static void
options_at (FaWorkingClipOptions *o, int width, int height, int fps_n, int fps_d)
{
  fa_working_clip_options_init (o);
  o->width = width;
  o->height = height;
  o->fps_n = fps_n;
  o->fps_d = fps_d;
}

/* mean |a − b| over @n bytes */
static double
mean_abs_diff (const guint8 *a, const guint8 *b, gsize n)
{
  double sum = 0;

  for (gsize i = 0; i < n; i++)
    sum += abs ((int) a[i] - (int) b[i]);
  return sum / (double) n;
}

/* ---- probe ---- */

static void
test_probe_mp4_with_audio (Fixture *f, gconstpointer data)
{
  g_autofree char *path = fa_test_make_mp4 (f->dir, "a.mp4", 40, 160, 96, 30, TRUE, "smpte");
  g_autoptr (FaClipInfo) info = probe_ok (path);

  g_assert_cmpstr (info->path, ==, path);
  g_assert_cmpint (info->width, ==, 160);
  g_assert_cmpint (info->height, ==, 96);
  g_assert_cmpint (info->par_n, ==, 1);
  g_assert_cmpint (info->par_d, ==, 1);
  g_assert_cmpint (info->fps_n * 1, ==, 30 * info->fps_d);
  g_assert_false (info->variable_rate);
  g_assert_cmpint (info->rotation, ==, 0);
  /* 40 frames at 30 fps; the AAC track may run a little longer */
  g_assert_cmpint (info->duration_ns, >=, 40 * FRAME_NS (30) - GST_MSECOND);
  g_assert_cmpint (info->duration_ns, <, 40 * FRAME_NS (30) + 100 * GST_MSECOND);
  g_assert_cmpint (info->n_frames, >=, 40);
  g_assert_cmpint (info->n_frames, <=, 43);
  g_assert_true (info->has_audio);
  g_assert_true (info->audio_is_aac);
  g_assert_nonnull (info->audio_codec);
  g_assert_nonnull (strstr (info->audio_codec, "AAC"));
  g_assert_nonnull (info->video_codec);
  g_assert_nonnull (strstr (info->video_codec, "H.264"));
  g_assert_nonnull (info->container);
}

static void
test_probe_mp4_without_audio (Fixture *f, gconstpointer data)
{
  g_autofree char *path = fa_test_make_mp4 (f->dir, "v.mp4", 24, 160, 96, 24, FALSE, "ball");
  g_autoptr (FaClipInfo) info = probe_ok (path);

  g_assert_cmpint (info->width, ==, 160);
  g_assert_cmpint (info->height, ==, 96);
  g_assert_cmpint (info->fps_n, ==, 24 * info->fps_d);
  g_assert_cmpint (info->duration_ns, >=, GST_SECOND - GST_MSECOND);
  g_assert_cmpint (info->duration_ns, <=, GST_SECOND + GST_MSECOND);
  g_assert_cmpint (info->n_frames, ==, 24);
  g_assert_false (info->has_audio);
  g_assert_false (info->audio_is_aac);
  g_assert_null (info->audio_codec);
}

/* WebM: VP8 with Opus audio, which an MP4 export cannot copy. */
static void
test_probe_webm_opus (Fixture *f, gconstpointer data)
{
  g_autofree char *path = fa_test_make_media (
    f->dir, "w.webm",
    "videotestsrc num-buffers=10 ! video/x-raw,width=112,height=64,framerate=25/1 ! vp8enc deadline=1 ! "
    "queue ! webmmux name=mux ! filesink location=@PATH@ "
    "audiotestsrc num-buffers=20 samplesperbuffer=960 ! audio/x-raw,rate=48000 ! audioconvert ! opusenc ! "
    "queue ! mux.");
  g_autoptr (FaClipInfo) info = probe_ok (path);

  g_assert_cmpint (info->width, ==, 112);
  g_assert_cmpint (info->height, ==, 64);
  g_assert_true (info->has_audio);
  g_assert_false (info->audio_is_aac);
  g_assert_nonnull (info->audio_codec);
  g_assert_nonnull (strstr (info->video_codec, "VP8"));
}

/* A phone clip held upright: 160×96 coded, shown 96×160; the frames come
 * out turned a quarter clockwise. */
static void
test_rotated (Fixture *f, gconstpointer data)
{
  g_autofree char *plain = fa_test_make_mp4 (f->dir, "plain.mp4", 8, 160, 96, 30, FALSE, "smpte");
  g_autofree char *turned = fa_test_make_mp4 (f->dir, "turned.mp4", 8, 160, 96, 30, FALSE, "smpte");
  g_autoptr (GError) error = NULL;
  const guint8 *rgb;
  int w, h;
  gint64 pts;

  fa_test_set_mp4_rotation (turned, 90);
  g_autoptr (FaClipInfo) info = probe_ok (turned);
  g_assert_cmpint (info->rotation, ==, 90);
  g_assert_cmpint (info->width, ==, 96);
  g_assert_cmpint (info->height, ==, 160);

  g_autoptr (FaClipReader) a = fa_clip_reader_new (plain, 0, NULL, &error);
  g_assert_no_error (error);
  g_autoptr (FaClipReader) b = fa_clip_reader_new (turned, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (fa_clip_reader_next (a, &rgb, &w, &h, &pts, &error));
  g_assert_cmpint (w, ==, 160);
  g_assert_cmpint (h, ==, 96);
  g_autofree guint8 *upright = g_memdup2 (rgb, (gsize) w * h * 3);
  g_assert_true (fa_clip_reader_next (b, &rgb, &w, &h, &pts, &error));
  g_assert_no_error (error);
  g_assert_cmpint (w, ==, 96);
  g_assert_cmpint (h, ==, 160);

  /* clockwise: shown (x, y) is coded (y, 95 − x) */
  g_autofree guint8 *expected = g_malloc ((gsize) 96 * 160 * 3);
  for (int y = 0; y < 160; y++)
    for (int x = 0; x < 96; x++)
      memcpy (expected + ((gsize) y * 96 + x) * 3, upright + ((gsize) (95 - x) * 160 + y) * 3, 3);
  g_assert_cmpfloat (mean_abs_diff (expected, rgb, (gsize) 96 * 160 * 3), <, 3.0);
  /* and not merely any frame of the same colours */
  g_autofree guint8 *wrong = g_malloc ((gsize) 96 * 160 * 3);
  for (int y = 0; y < 160; y++)
    for (int x = 0; x < 96; x++)
      memcpy (wrong + ((gsize) y * 96 + x) * 3, upright + ((gsize) x * 160 + (159 - y)) * 3, 3);
  g_assert_cmpfloat (mean_abs_diff (wrong, rgb, (gsize) 96 * 160 * 3), >, 20.0);

  /* the working clip takes the frames as shown */
  FaWorkingClipOptions o;
  options_at (&o, 96, 160, 0, 0);
  o.max_frames = 5;
  g_autoptr (FaWorkingClip) clip = decode_ok (turned, &o);
  g_assert_cmpint (clip->n_frames, ==, 5);
  g_assert_cmpfloat (fabs (clip->geometry.scale_x - 1.0), <, 1e-9);
  g_assert_cmpfloat (mean_abs_diff (fa_working_clip_frame (clip, 0), rgb, (gsize) 96 * 160 * 3), <, 3.0);
}

/* A stream that declares no rate (framerate 0/1) comes out at a constant
 * working rate anyway. */
static void
test_variable_rate (Fixture *f, gconstpointer data)
{
  g_autofree char *path = fa_test_make_media (
    f->dir, "vfr.mkv",
    "videotestsrc num-buffers=30 ! video/x-raw,width=160,height=96,framerate=30/1,format=I420 ! "
    "capssetter caps=\"video/x-raw,framerate=0/1\" ! x264enc speed-preset=ultrafast key-int-max=8 ! "
    "h264parse ! matroskamux ! filesink location=@PATH@");
  g_autoptr (FaClipInfo) info = probe_ok (path);
  FaWorkingClipOptions o;

  g_assert_true (info->variable_rate);
  g_assert_cmpint (info->n_frames, ==, -1);
  g_assert_cmpint (info->duration_ns, >=, GST_SECOND - 40 * GST_MSECOND);

  options_at (&o, 160, 96, 16, 1);
  g_autoptr (FaWorkingClip) clip = decode_ok (path, &o);
  g_assert_cmpint (clip->fps_n, ==, 16);
  g_assert_cmpint (clip->fps_d, ==, 1);
  g_assert_cmpint (clip->n_frames, ==, 13); /* 16 frames in 1 s, brought to 1 + 4k */
  for (int i = 0; i < clip->n_frames; i++)
    g_assert_cmpint (llabs (clip->source_pts_ns[i] - i * FRAME_NS (16)), <=, FRAME_NS (30) + GST_MSECOND);
}

/* ---- the working clip ---- */

static void
count_progress (guint done, guint total, gpointer user_data)
{
  guint *calls = user_data;

  g_assert_cmpuint (done, ==, calls[0] + 1);
  g_assert_cmpuint (done, <=, total);
  calls[0] = done;
  calls[1] = total;
}

/* 40 frames at 30 fps last 1.333 s: 22 frames at 16 fps, brought to 21. */
static void
test_working_16fps (Fixture *f, gconstpointer data)
{
  g_autofree char *path = fa_test_make_mp4 (f->dir, "a.mp4", 40, 160, 96, 30, TRUE, "ball");
  FaWorkingClipOptions o;
  guint calls[2] = { 0, 0 };

  options_at (&o, 160, 96, 16, 1);
  o.progress = count_progress;
  o.progress_user_data = calls;
  g_autoptr (FaWorkingClip) clip = decode_ok (path, &o);
  g_assert_cmpint (clip->n_frames, ==, 21);
  g_assert_cmpint (clip->width, ==, 160);
  g_assert_cmpint (clip->height, ==, 96);
  g_assert_cmpint (clip->fps_n, ==, 16);
  g_assert_cmpint (clip->fps_d, ==, 1);
  g_assert_cmpuint (calls[0], ==, 22);
  g_assert_cmpuint (calls[1], ==, 22);
  g_assert_nonnull (clip->source);
  g_assert_cmpint (clip->source->width, ==, 160);
  g_assert_true (clip->source->has_audio);
  for (int i = 0; i < clip->n_frames; i++)
    {
      gint64 pts = clip->source_pts_ns[i];
      /* each is a real source frame's time, the one shown at i/16 s */
      gint64 k = (gint64) llround (pts / (double) FRAME_NS (30));
      g_assert_cmpint (llabs (pts - (gint64) gst_util_uint64_scale (k, GST_SECOND, 30)), <=, GST_MSECOND);
      g_assert_cmpint (llabs (pts - i * FRAME_NS (16)), <=, FRAME_NS (30) + GST_MSECOND);
      if (i > 0)
        g_assert_cmpint (pts, >, clip->source_pts_ns[i - 1]);
    }
  /* the ball moves: the frames are not one frame repeated */
  g_assert_cmpfloat (mean_abs_diff (fa_working_clip_frame (clip, 0), fa_working_clip_frame (clip, 20),
                                    (gsize) 160 * 96 * 3), >, 0.5);
  g_assert_cmpfloat (fabs (clip->geometry.scale_x - 1.0), <, 1e-9);
  g_assert_cmpfloat (fabs (clip->geometry.offset_x), <, 1e-9);
}

/* At the source's own rate the working frames are the source frames, at
 * most max_frames of them. */
static void
test_working_source_rate_and_cap (Fixture *f, gconstpointer data)
{
  g_autofree char *path = fa_test_make_mp4 (f->dir, "a.mp4", 40, 160, 96, 30, FALSE, "ball");
  FaWorkingClipOptions o;

  options_at (&o, 160, 96, 0, 0);
  g_autoptr (FaWorkingClip) all = decode_ok (path, &o);
  g_assert_cmpint (all->n_frames, ==, 37);
  g_assert_cmpint (all->fps_n, ==, 30 * all->fps_d);
  for (int i = 0; i < all->n_frames; i++)
    g_assert_cmpint (llabs (all->source_pts_ns[i] - (gint64) gst_util_uint64_scale (i, GST_SECOND, 30)), <=,
                     GST_MSECOND);

  o.max_frames = 9;
  g_autoptr (FaWorkingClip) nine = decode_ok (path, &o);
  g_assert_cmpint (nine->n_frames, ==, 9);
  g_assert_cmpmem (fa_working_clip_frame (nine, 8), 160 * 96 * 3, fa_working_clip_frame (all, 8), 160 * 96 * 3);
}

/* [0.5 s, 1.0 s) at 16 fps: 8 frames, brought to 5, from 0.5 s on. */
static void
test_working_range (Fixture *f, gconstpointer data)
{
  g_autofree char *path = fa_test_make_mp4 (f->dir, "a.mp4", 40, 160, 96, 30, FALSE, "ball");
  FaWorkingClipOptions o;

  options_at (&o, 160, 96, 16, 1);
  o.start_ns = GST_SECOND / 2;
  o.end_ns = GST_SECOND;
  g_autoptr (FaWorkingClip) clip = decode_ok (path, &o);
  g_assert_cmpint (clip->n_frames, ==, 5);
  for (int i = 0; i < clip->n_frames; i++)
    {
      g_assert_cmpint (llabs (clip->source_pts_ns[i] - (o.start_ns + i * FRAME_NS (16))), <=,
                       FRAME_NS (30) + GST_MSECOND);
      g_assert_cmpint (clip->source_pts_ns[i], <, o.end_ns);
    }

  /* the same frame as when decoding from the start */
  FaWorkingClipOptions whole;
  options_at (&whole, 160, 96, 0, 0);
  g_autoptr (FaWorkingClip) all = decode_ok (path, &whole);
  int k = (int) llround (clip->source_pts_ns[0] / (double) FRAME_NS (30));
  g_assert_cmpfloat (mean_abs_diff (fa_working_clip_frame (clip, 0), fa_working_clip_frame (all, k),
                                    (gsize) 160 * 96 * 3), <, 1.0);
}

static gboolean
region_is_black (const FaWorkingClip *clip, int frame, int x0, int y0, int x1, int y1)
{
  const guint8 *rgb = fa_working_clip_frame (clip, frame);

  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++)
      for (int c = 0; c < 3; c++)
        if (rgb[((gsize) y * clip->width + x) * 3 + c] != 0)
          return FALSE;
  return TRUE;
}

static double
region_mean (const FaWorkingClip *clip, int frame, int x0, int y0, int x1, int y1)
{
  const guint8 *rgb = fa_working_clip_frame (clip, frame);
  double sum = 0;

  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++)
      for (int c = 0; c < 3; c++)
        sum += rgb[((gsize) y * clip->width + x) * 3 + c];
  return sum / ((double) (x1 - x0) * (y1 - y0) * 3);
}

/* 640×480 into 832×480: crop scales by 1.3 and cuts 72 rows top and
 * bottom; pad keeps the scale 1 and puts 96 black columns either side. */
static void
test_working_crop_and_pad (Fixture *f, gconstpointer data)
{
  g_autofree char *path = fa_test_make_mp4 (f->dir, "vga.mp4", 9, 640, 480, 30, FALSE, "white");
  FaWorkingClipOptions o;

  options_at (&o, 832, 480, 0, 0);
  o.max_frames = 5;
  o.fit = FA_CLIP_FIT_CROP;
  g_autoptr (FaWorkingClip) crop = decode_ok (path, &o);
  g_assert_cmpint (crop->width, ==, 832);
  g_assert_cmpint (crop->height, ==, 480);
  g_assert_cmpint (crop->n_frames, ==, 5);
  g_assert_cmpfloat (fabs (crop->geometry.scale_x - 1.3), <, 1e-9);
  g_assert_cmpfloat (fabs (crop->geometry.scale_y - 1.3), <, 1e-9);
  g_assert_cmpfloat (fabs (crop->geometry.offset_x - 0.0), <, 1e-9);
  g_assert_cmpfloat (fabs (crop->geometry.offset_y + 72.0), <, 1e-9);
  g_assert_cmpfloat (region_mean (crop, 0, 0, 0, 832, 480), >, 200.0);
  g_assert_cmpfloat (region_mean (crop, 4, 0, 0, 4, 480), >, 200.0);

  o.fit = FA_CLIP_FIT_PAD;
  g_autoptr (FaWorkingClip) pad = decode_ok (path, &o);
  g_assert_cmpfloat (fabs (pad->geometry.scale_x - 1.0), <, 1e-9);
  g_assert_cmpfloat (fabs (pad->geometry.scale_y - 1.0), <, 1e-9);
  g_assert_cmpfloat (fabs (pad->geometry.offset_x - 96.0), <, 1e-9);
  g_assert_cmpfloat (fabs (pad->geometry.offset_y - 0.0), <, 1e-9);
  for (int i = 0; i < pad->n_frames; i++)
    {
      g_assert_true (region_is_black (pad, i, 0, 0, 96, 480));
      g_assert_true (region_is_black (pad, i, 736, 0, 832, 480));
      g_assert_cmpfloat (region_mean (pad, i, 96, 0, 736, 480), >, 200.0);
    }

  /* portrait working size from the same source: crop keeps the height */
  options_at (&o, 480, 832, 0, 0);
  o.max_frames = 5;
  g_autoptr (FaWorkingClip) tall = decode_ok (path, &o);
  g_assert_cmpfloat (fabs (tall->geometry.scale_y - 832.0 / 480.0), <, 1e-9);
  /* 640 · 832/480 = 1109.33, scaled to 1109 columns: cut 314 on the left */
  g_assert_cmpfloat (fabs (tall->geometry.scale_x - 1109.0 / 640.0), <, 1e-9);
  g_assert_cmpfloat (fabs (tall->geometry.offset_x + 314.0), <, 1e-9);
}

/* Non-square pixels: 320×240 at 2:1 shows as 640×240. */
static void
test_working_pixel_aspect (Fixture *f, gconstpointer data)
{
  g_autofree char *path = fa_test_make_media (
    f->dir, "par.mkv",
    "videotestsrc num-buffers=5 pattern=white ! "
    "video/x-raw,width=320,height=240,framerate=30/1,pixel-aspect-ratio=2/1,format=I420 ! "
    "x264enc speed-preset=ultrafast ! h264parse ! matroskamux ! filesink location=@PATH@");
  g_autoptr (FaClipInfo) info = probe_ok (path);
  FaWorkingClipOptions o;

  g_assert_cmpint (info->par_n, ==, 2);
  g_assert_cmpint (info->par_d, ==, 1);
  options_at (&o, 640, 240, 0, 0);
  o.max_frames = 5;
  o.fit = FA_CLIP_FIT_PAD;
  g_autoptr (FaWorkingClip) clip = decode_ok (path, &o);
  g_assert_cmpfloat (fabs (clip->geometry.scale_x - 2.0), <, 1e-9);
  g_assert_cmpfloat (fabs (clip->geometry.scale_y - 1.0), <, 1e-9);
  g_assert_cmpfloat (fabs (clip->geometry.offset_x), <, 1e-9);
  g_assert_cmpfloat (region_mean (clip, 0, 0, 0, 640, 240), >, 200.0);
}

/* ---- the source-frame reader ---- */

static void
test_reader (Fixture *f, gconstpointer data)
{
  g_autofree char *path = fa_test_make_mp4 (f->dir, "a.mp4", 20, 160, 96, 20, TRUE, "ball");
  g_autoptr (GError) error = NULL;
  const guint8 *rgb;
  int w = 0, h = 0, n = 0;
  gint64 pts = -1;

  g_autoptr (FaClipReader) reader = fa_clip_reader_new (path, 0, NULL, &error);
  g_assert_no_error (error);
  while (fa_clip_reader_next (reader, &rgb, &w, &h, &pts, &error))
    {
      g_assert_cmpint (w, ==, 160);
      g_assert_cmpint (h, ==, 96);
      g_assert_cmpint (llabs (pts - (gint64) gst_util_uint64_scale (n, GST_SECOND, 20)), <=, GST_MSECOND);
      n++;
    }
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, 20);
  /* the end stays the end */
  g_assert_false (fa_clip_reader_next (reader, &rgb, &w, &h, &pts, &error));
  g_assert_no_error (error);

  /* from 0.5 s: frame 10 first */
  g_autoptr (FaClipReader) later = fa_clip_reader_new (path, GST_SECOND / 2, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (fa_clip_reader_next (later, &rgb, &w, &h, &pts, &error));
  g_assert_cmpint (llabs (pts - GST_SECOND / 2), <=, GST_MSECOND);
  n = 1;
  while (fa_clip_reader_next (later, &rgb, &w, &h, &pts, &error))
    n++;
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, 10);
}

/* ---- clips made in memory ---- */

static void
test_new_and_copy (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaWorkingClip) clip = fa_working_clip_new (5, 32, 16, 16, 1, &error);

  g_assert_no_error (error);
  g_assert_null (clip->source);
  g_assert_cmpint (clip->n_frames, ==, 5);
  for (gsize i = 0; i < 5 * 32 * 16 * 3; i++)
    g_assert_cmpuint (clip->rgb[i], ==, 0);
  for (int i = 0; i < 5; i++)
    g_assert_cmpint (clip->source_pts_ns[i], ==, i * GST_SECOND / 16);
  g_assert_cmpfloat (clip->geometry.scale_x, ==, 1.0);
  g_assert_cmpfloat (clip->geometry.scale_y, ==, 1.0);
  g_assert_cmpfloat (clip->geometry.offset_x, ==, 0.0);

  fa_working_clip_frame (clip, 4)[7] = 200;
  g_autoptr (FaWorkingClip) copy = fa_working_clip_copy (clip);
  g_assert_true (copy->rgb != clip->rgb);
  g_assert_cmpmem (copy->rgb, 5 * 32 * 16 * 3, clip->rgb, 5 * 32 * 16 * 3);
  g_assert_cmpmem (copy->source_pts_ns, 5 * sizeof (gint64), clip->source_pts_ns, 5 * sizeof (gint64));
  g_assert_cmpint (copy->fps_n, ==, 16);

  g_assert_null (fa_working_clip_new (0, 32, 16, 16, 1, &error));
  g_assert_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (fa_working_clip_new (5, -1, 16, 16, 1, &error));
  g_assert_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (fa_working_clip_new (5, 100000, 16, 16, 1, &error));
  g_assert_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (fa_working_clip_new (5, 32, 16, 0, 1, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "frame rate");
}

static void
test_copy_keeps_source (Fixture *f, gconstpointer data)
{
  g_autofree char *path = fa_test_make_mp4 (f->dir, "a.mp4", 9, 160, 96, 30, FALSE, "ball");
  FaWorkingClipOptions o;

  options_at (&o, 160, 96, 0, 0);
  g_autoptr (FaWorkingClip) clip = decode_ok (path, &o);
  g_autoptr (FaWorkingClip) copy = fa_working_clip_copy (clip);
  g_assert_nonnull (copy->source);
  g_assert_true (copy->source != clip->source);
  g_assert_cmpstr (copy->source->path, ==, path);
  g_assert_cmpstr (copy->source->video_codec, ==, clip->source->video_codec);
  g_assert_cmpfloat (copy->geometry.scale_x, ==, clip->geometry.scale_x);
}

/* ---- bad input ---- */

static void
assert_probe_fails (const char *path, int code, const char *fragment)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaClipInfo) info = fa_clip_probe (path, NULL, &error);
  g_autoptr (GError) decode_error = NULL;
  g_autoptr (FaWorkingClip) clip = fa_working_clip_decode (path, NULL, NULL, &decode_error);
  g_autoptr (GError) reader_error = NULL;
  g_autoptr (FaClipReader) reader = fa_clip_reader_new (path, 0, NULL, &reader_error);

  g_assert_null (info);
  fa_test_assert_error_message (error, FA_ERROR, code, fragment);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_null (clip);
  fa_test_assert_error_message (decode_error, FA_ERROR, code, fragment);
  g_assert_null (reader);
  fa_test_assert_error_message (reader_error, FA_ERROR, code, fragment);
}

static void
test_missing_file (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->dir, "nothing-here.mp4", NULL);

  assert_probe_fails (path, FA_ERROR_NOT_FOUND, "No such file");
}

static void
test_empty_file (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->dir, "empty.mp4", NULL);

  g_assert_true (g_file_set_contents (path, "", 0, NULL));
  assert_probe_fails (path, FA_ERROR_CORRUPT_FILE, "empty");
}

static void
test_not_media (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->dir, "notes.mp4", NULL);
  g_autofree char *text = g_strnfill (4000, 'x');

  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  assert_probe_fails (path, FA_ERROR_CORRUPT_FILE, "not a media file");
}

/* Half an MP4 whose index is written last has no index; half of one
 * written with faststart has its index but not the frames it lists. */
static void
test_truncated (Fixture *f, gconstpointer data)
{
  g_autofree char *tail_index = fa_test_make_media (
    f->dir, "tail.mp4",
    "videotestsrc num-buffers=30 pattern=ball ! video/x-raw,width=160,height=96,framerate=30/1 ! "
    "x264enc speed-preset=ultrafast key-int-max=8 ! h264parse ! mp4mux ! filesink location=@PATH@");
  g_autofree char *head_index = fa_test_make_mp4 (f->dir, "head.mp4", 30, 160, 96, 30, FALSE, "ball");
  GStatBuf st;

  g_assert_cmpint (g_stat (tail_index, &st), ==, 0);
  g_autofree char *half_tail = fa_test_truncate_copy (tail_index, f->dir, "half-tail.mp4", st.st_size / 2);
  assert_probe_fails (half_tail, FA_ERROR_CORRUPT_FILE, "truncated");

  /* cut just before the index: every box whole, but no moov */
  g_autofree char *contents = NULL;
  gsize length = 0;
  g_assert_true (g_file_get_contents (tail_index, &contents, &length, NULL));
  const char *moov = NULL;
  for (gsize i = 8; i + 4 <= length && moov == NULL; i++)
    if (memcmp (contents + i, "moov", 4) == 0)
      moov = contents + i;
  g_assert_nonnull (moov);
  g_autofree char *no_index = fa_test_truncate_copy (tail_index, f->dir, "no-index.mp4", (gsize) (moov - 4 - contents));
  assert_probe_fails (no_index, FA_ERROR_CORRUPT_FILE, "moov");

  g_assert_cmpint (g_stat (head_index, &st), ==, 0);
  g_autofree char *cut = fa_test_truncate_copy (head_index, f->dir, "half-head.mp4", st.st_size / 2);
  assert_probe_fails (cut, FA_ERROR_CORRUPT_FILE, "truncated");
}

static void
test_no_video (Fixture *f, gconstpointer data)
{
  g_autofree char *path = fa_test_make_media (
    f->dir, "song.m4a",
    "audiotestsrc num-buffers=30 ! audio/x-raw,rate=48000,channels=2 ! audioconvert ! avenc_aac ! aacparse ! "
    "mp4mux ! filesink location=@PATH@");

  assert_probe_fails (path, FA_ERROR_UNSUPPORTED, "no video stream");
}

/* Demotes every decoder of @caps below what decodebin3 picks, in this
 * (child) process only: as if its plugin were not installed. Bins that
 * take any caps are no decoders of @caps. */
static void
demote_decoders (const char *caps_string)
{
  g_autoptr (GstCaps) caps = gst_caps_from_string (caps_string);
  GList *decoders = gst_element_factory_list_get_elements (GST_ELEMENT_FACTORY_TYPE_DECODER, GST_RANK_NONE);
  int demoted = 0;

  for (GList *l = decoders; l != NULL; l = l->next)
    {
      GstElementFactory *factory = l->data;
      gboolean takes_any = FALSE;

      for (const GList *t = gst_element_factory_get_static_pad_templates (factory); t != NULL; t = t->next)
        {
          GstStaticPadTemplate *templ = t->data;
          g_autoptr (GstCaps) template_caps = gst_static_pad_template_get_caps (templ);
          if (templ->direction == GST_PAD_SINK && gst_caps_is_any (template_caps))
            takes_any = TRUE;
        }
      if (!takes_any && gst_element_factory_can_sink_any_caps (factory, caps))
        {
          gst_plugin_feature_set_rank (GST_PLUGIN_FEATURE (factory), GST_RANK_NONE);
          demoted++;
        }
    }
  gst_plugin_feature_list_free (decoders);
  g_assert_cmpint (demoted, >, 0);
}

/* No H.264 decoder: the error names the decoder that is missing. */
static void
test_missing_decoder (Fixture *f, gconstpointer data)
{
  if (g_test_subprocess ())
    {
      const char *path = g_getenv ("FA_TEST_CLIP");
      g_autoptr (GError) error = NULL;

      demote_decoders ("video/x-h264");
      g_autoptr (FaClipInfo) info = fa_clip_probe (path, NULL, &error);
      g_assert_null (info);
      fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_UNSUPPORTED, "H.264");
      g_assert_nonnull (strstr (error->message, "decoder"));
      g_assert_nonnull (strstr (error->message, "not installed"));
      g_assert_nonnull (strstr (error->message, path));
      g_clear_error (&error);
      g_autoptr (FaWorkingClip) clip = fa_working_clip_decode (path, NULL, NULL, &error);
      g_assert_null (clip);
      fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_UNSUPPORTED, "H.264");
      return;
    }

  g_autofree char *path = fa_test_make_mp4 (f->dir, "a.mp4", 10, 160, 96, 30, TRUE, "ball");
  g_setenv ("FA_TEST_CLIP", path, TRUE);
  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

/* No AAC decoder: the video still reads (the audio is not needed to edit). */
static void
test_missing_audio_decoder (Fixture *f, gconstpointer data)
{
  if (g_test_subprocess ())
    {
      const char *path = g_getenv ("FA_TEST_CLIP");
      g_autoptr (GError) error = NULL;
      FaWorkingClipOptions o;

      demote_decoders ("audio/mpeg,mpegversion=4");
      g_autoptr (FaClipInfo) info = fa_clip_probe (path, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (info->width, ==, 160);
      options_at (&o, 160, 96, 0, 0);
      g_autoptr (FaWorkingClip) clip = fa_working_clip_decode (path, &o, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (clip->n_frames, ==, 9);
      return;
    }

  g_autofree char *path = fa_test_make_mp4 (f->dir, "a.mp4", 10, 160, 96, 30, TRUE, "ball");
  g_setenv ("FA_TEST_CLIP", path, TRUE);
  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

static void
test_too_few_frames (Fixture *f, gconstpointer data)
{
  g_autofree char *path = fa_test_make_mp4 (f->dir, "short.mp4", 3, 160, 96, 30, FALSE, "ball");
  g_autoptr (GError) error = NULL;
  FaWorkingClipOptions o;

  options_at (&o, 160, 96, 0, 0);
  g_assert_null (fa_working_clip_decode (path, &o, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "holds 3 frames");
  g_clear_error (&error);

  /* 40 frames, but a range of 0.2 s at 16 fps holds 4 */
  g_autofree char *longer = fa_test_make_mp4 (f->dir, "long.mp4", 40, 160, 96, 30, FALSE, "ball");
  options_at (&o, 160, 96, 16, 1);
  o.start_ns = GST_SECOND / 2;
  o.end_ns = o.start_ns + GST_SECOND / 4;
  g_assert_null (fa_working_clip_decode (longer, &o, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "holds 4 frames");
  g_clear_error (&error);

  /* a range past the end */
  o.start_ns = 5 * GST_SECOND;
  o.end_ns = -1;
  g_assert_null (fa_working_clip_decode (longer, &o, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "past the clip's end");
}

/* 9000×16: a real (tiny) clip wider than any side the editor takes. */
static void
test_frame_too_large (Fixture *f, gconstpointer data)
{
  g_autofree char *path = fa_test_make_media (
    f->dir, "wide.y4m",
    "videotestsrc num-buffers=2 ! video/x-raw,width=9000,height=16,framerate=30/1,format=I420 ! y4menc ! "
    "filesink location=@PATH@");

  assert_probe_fails (path, FA_ERROR_UNSUPPORTED, "9000×16");
}

/* YUV4MPEG headers claiming 0×0 and 20000×20000 frames: y4mdec refuses
 * both before any caps exist. */
static void
test_frame_size_absurd (Fixture *f, gconstpointer data)
{
  static const char *const headers[] = {
    "YUV4MPEG2 W0 H0 F30:1 Ip A1:1 C420\nFRAME\n",
    "YUV4MPEG2 W20000 H20000 F30:1 Ip A1:1 C420\nFRAME\nabc",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (headers); i++)
    {
      g_autofree char *name = g_strdup_printf ("absurd-%zu.y4m", i);
      g_autofree char *path = g_build_filename (f->dir, name, NULL);

      g_assert_true (g_file_set_contents (path, headers[i], -1, NULL));
      assert_probe_fails (path, FA_ERROR_CORRUPT_FILE, "damaged");
    }
}

static void
test_bad_options (Fixture *f, gconstpointer data)
{
  g_autofree char *path = fa_test_make_mp4 (f->dir, "a.mp4", 9, 160, 96, 30, FALSE, "ball");
  FaWorkingClipOptions o;
  g_autoptr (GError) error = NULL;

  options_at (&o, 100, 96, 0, 0);
  g_assert_null (fa_working_clip_decode (path, &o, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "multiples of 16");
  g_clear_error (&error);
  options_at (&o, 8192, 96, 0, 0);
  g_assert_null (fa_working_clip_decode (path, &o, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "multiples of 16");
  g_clear_error (&error);
  options_at (&o, 160, 96, 0, 0);
  o.max_frames = 8;
  g_assert_null (fa_working_clip_decode (path, &o, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "1 + 4k");
  g_clear_error (&error);
  options_at (&o, 160, 96, -3, 1);
  g_assert_null (fa_working_clip_decode (path, &o, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "working rate");
  g_clear_error (&error);
  options_at (&o, 160, 96, 0, 0);
  o.start_ns = GST_SECOND;
  o.end_ns = GST_SECOND / 2;
  g_assert_null (fa_working_clip_decode (path, &o, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "range");
}

static void
test_cancelled (Fixture *f, gconstpointer data)
{
  g_autofree char *path = fa_test_make_mp4 (f->dir, "a.mp4", 9, 160, 96, 30, FALSE, "ball");
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;

  g_cancellable_cancel (cancellable);
  g_assert_null (fa_clip_probe (path, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_null (fa_working_clip_decode (path, NULL, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_null (fa_clip_reader_new (path, 0, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* GStreamer 1.22.0's decodebin3 may warn about data before a segment when
 * a pipeline is torn down while it still sets up (here: a file refused for
 * having no video). That is GStreamer's internal log, not an assertion of
 * these tests; every other warning stays fatal. */
static gboolean
fatal_log (const char *domain, GLogLevelFlags level, const char *message, gpointer user_data)
{
  return !(g_strcmp0 (domain, "GStreamer") == 0 && (level & G_LOG_LEVEL_WARNING) &&
           strstr (message, "Got data flow before") != NULL);
}

static void
cancel_at_three (guint done, guint total, gpointer user_data)
{
  if (done == 3)
    g_cancellable_cancel (user_data);
}

/* Cancelled from the progress callback: the decode stops at the next frame. */
static void
test_cancelled_midway (Fixture *f, gconstpointer data)
{
  g_autofree char *path = fa_test_make_mp4 (f->dir, "a.mp4", 40, 160, 96, 30, FALSE, "ball");
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  FaWorkingClipOptions o;

  options_at (&o, 160, 96, 0, 0);
  o.progress = cancel_at_three;
  o.progress_user_data = cancellable;
  g_assert_null (fa_working_clip_decode (path, &o, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_log_set_fatal_handler (fatal_log, NULL);
  gst_init (&argc, &argv);

  ADD ("/clip/probe/mp4-with-audio", test_probe_mp4_with_audio);
  ADD ("/clip/probe/mp4-without-audio", test_probe_mp4_without_audio);
  ADD ("/clip/probe/webm-opus", test_probe_webm_opus);
  ADD ("/clip/rotated", test_rotated);
  ADD ("/clip/variable-rate", test_variable_rate);
  ADD ("/clip/working/16fps", test_working_16fps);
  ADD ("/clip/working/source-rate-and-cap", test_working_source_rate_and_cap);
  ADD ("/clip/working/range", test_working_range);
  ADD ("/clip/working/crop-and-pad", test_working_crop_and_pad);
  ADD ("/clip/working/pixel-aspect", test_working_pixel_aspect);
  ADD ("/clip/reader", test_reader);
  g_test_add_func ("/clip/new-and-copy", test_new_and_copy);
  ADD ("/clip/copy-keeps-source", test_copy_keeps_source);
  ADD ("/clip/bad/missing-file", test_missing_file);
  ADD ("/clip/bad/empty-file", test_empty_file);
  ADD ("/clip/bad/not-media", test_not_media);
  ADD ("/clip/bad/truncated", test_truncated);
  ADD ("/clip/bad/no-video", test_no_video);
  ADD ("/clip/bad/missing-decoder", test_missing_decoder);
  ADD ("/clip/bad/missing-audio-decoder", test_missing_audio_decoder);
  ADD ("/clip/bad/too-few-frames", test_too_few_frames);
  ADD ("/clip/bad/frame-too-large", test_frame_too_large);
  ADD ("/clip/bad/frame-size-absurd", test_frame_size_absurd);
  ADD ("/clip/bad/options", test_bad_options);
  ADD ("/clip/bad/cancelled", test_cancelled);
  ADD ("/clip/bad/cancelled-midway", test_cancelled_midway);
  return g_test_run ();
}
