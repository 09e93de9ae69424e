/* flowanchor bench flow: our optical flow against the exact flow of the
 * synthetic clips: mean end-point error over the pixels that stay visible,
 * and the median time per frame pair. With --dump, the pairs, the ground
 * truth (Middlebury .flo) and the validity masks are written out so that
 * tools/bench/flow can run another method on exactly the same pairs.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "flowanchor-flow"

#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>

#include "fa-cli.h"
#include "fa-error.h"
#include "fa-flow.h"
#include "fa-png.h"
#include "fa-synthetic.h"

typedef struct {
  const char *name;
  FaSynthMotion motion;
} MotionName;

static const MotionName motions[] = {
  { "translate", FA_SYNTH_TRANSLATE },
  { "rotate", FA_SYNTH_ROTATE },
  { "scale", FA_SYNTH_SCALE },
  { "occlude", FA_SYNTH_OCCLUDE },
};

typedef struct {
  FaFlowPreset preset;
  int pairs;
  const char *dump;
  guint32 seed;
} BenchOptions;

/* Middlebury .flo: "PIEH", width and height as little-endian int32, then
 * (u, v) float32 pairs row by row. Written whole or not at all. */
static gboolean
save_flo (const char *path, const float *flow, int width, int height, GError **error)
{
  const gsize body = sizeof (float) * 2 * (gsize) width * height;
  g_autofree guint8 *bytes = g_malloc (12 + body);
  const gint32 header[2] = { GINT32_TO_LE (width), GINT32_TO_LE (height) };

  memcpy (bytes, "PIEH", 4);
  memcpy (bytes + 4, header, 8);
  for (gsize i = 0; i < 2 * (gsize) width * height; i++)
    {
      guint32 word;
      memcpy (&word, &flow[i], 4);
      word = GUINT32_TO_LE (word);
      memcpy (bytes + 12 + 4 * i, &word, 4);
    }
  if (!g_file_set_contents (path, (const char *) bytes, (gssize) (12 + body), error))
    {
      g_prefix_error (error, "writing the flow %s: ", path);
      return FALSE;
    }
  return TRUE;
}

static gboolean
dump_pair (const char *dir, const FaWorkingClip *clip, int frame, const float *truth,
           const guint8 *valid, GError **error)
{
  const int w = clip->width, h = clip->height;
  g_autofree char *name0 = g_strdup_printf ("pair-%02d-0.png", frame);
  g_autofree char *name1 = g_strdup_printf ("pair-%02d-1.png", frame);
  g_autofree char *name_flo = g_strdup_printf ("pair-%02d-gt.flo", frame);
  g_autofree char *name_valid = g_strdup_printf ("pair-%02d-valid.png", frame);
  g_autofree char *path0 = g_build_filename (dir, name0, NULL);
  g_autofree char *path1 = g_build_filename (dir, name1, NULL);
  g_autofree char *path_flo = g_build_filename (dir, name_flo, NULL);
  g_autofree char *path_valid = g_build_filename (dir, name_valid, NULL);
  g_autofree guint8 *mask = g_malloc ((gsize) w * h);

  for (gsize i = 0; i < (gsize) w * h; i++)
    mask[i] = valid[i] ? 255 : 0;
  return fa_png_save (path0, fa_working_clip_frame (clip, frame), w, h, 3, error) &&
         fa_png_save (path1, fa_working_clip_frame (clip, frame + 1), w, h, 3, error) &&
         save_flo (path_flo, truth, w, h, error) &&
         fa_png_save (path_valid, mask, w, h, 1, error);
}

typedef struct {
  double epe;   /* mean over the valid pixels of every pair */
  double ms;    /* median per pair */
  int pairs;
} MotionResult;

static gboolean
bench_motion (FaBackend *backend, const MotionName *motion, const BenchOptions *options,
              GString *manifest, MotionResult *result, GError **error)
{
  FaSynthOptions synth_options;
  FaFlowParams params;

  fa_synth_options_init (&synth_options);
  synth_options.motion = motion->motion;
  synth_options.seed = options->seed;
  g_autoptr (FaSynthClip) synth = fa_synth_clip_new (&synth_options, error);
  if (synth == NULL)
    return FALSE;
  const FaWorkingClip *clip = fa_synth_clip_get_clip (synth);
  const int w = clip->width, h = clip->height;
  const int n_pairs = MIN (options->pairs, clip->n_frames - 1);

  fa_flow_params_init (&params, options->preset);
  g_autoptr (FaFlow) flow = fa_flow_new (backend, w, h, &params, error);
  if (flow == NULL)
    return FALSE;

  g_autofree char *dir = NULL;
  if (options->dump != NULL)
    {
      dir = g_build_filename (options->dump, motion->name, NULL);
      if (g_mkdir_with_parents (dir, 0755) != 0)
        {
          int saved = errno;
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                       "cannot make the folder %s: %s", dir, g_strerror (saved));
          return FALSE;
        }
    }

  const gsize pixels = (gsize) w * h;
  g_autofree float *out = g_malloc (sizeof (float) * 2 * pixels);
  g_autofree float *truth = g_malloc (sizeof (float) * 2 * pixels);
  g_autofree guint8 *valid = g_malloc (pixels);
  g_autofree double *times = g_new (double, n_pairs);
  double sum = 0.0;
  gint64 count = 0;

  /* one untimed run: first-touch page faults and thread start-up */
  if (!fa_flow_compute (flow, fa_working_clip_frame (clip, 0), fa_working_clip_frame (clip, 1),
                        out, error))
    return FALSE;
  for (int k = 0; k < n_pairs; k++)
    {
      /* spread over the clip: the paths change direction as it goes */
      const int frame = (int) ((gint64) k * (clip->n_frames - 1) / n_pairs);
      gint64 start = g_get_monotonic_time ();
      if (!fa_flow_compute (flow, fa_working_clip_frame (clip, frame),
                            fa_working_clip_frame (clip, frame + 1), out, error))
        return FALSE;
      times[k] = (g_get_monotonic_time () - start) / 1000.0;

      fa_synth_clip_get_flow (synth, frame, truth, valid);
      for (gsize i = 0; i < pixels; i++)
        if (valid[i])
          {
            sum += hypot (out[2 * i] - truth[2 * i], out[2 * i + 1] - truth[2 * i + 1]);
            count++;
          }
      if (dir != NULL)
        {
          if (!dump_pair (dir, clip, frame, truth, valid, error))
            return FALSE;
          g_string_append_printf (manifest, "%s\t%d\n", motion->name, frame);
        }
    }
  result->epe = count > 0 ? sum / count : NAN;
  result->ms = fa_cli_median (times, n_pairs);
  result->pairs = n_pairs;
  return TRUE;
}

static gboolean
run_bench_flow (const char *device, const char *motion_name, const BenchOptions *options,
                GError **error)
{
  g_autoptr (FaBackend) backend = fa_cli_backend_by_name (device, error);
  if (backend == NULL)
    return FALSE;
  const gboolean on_cuda = fa_backend_get_device (backend) == FA_DEVICE_CUDA;
  const char *threads_env = g_getenv ("FA_FLOW_THREADS");
  g_autofree char *threads = on_cuda ? g_strdup ("GPU")
                                     : g_strdup_printf ("%d threads",
                                                        threads_env != NULL && atoi (threads_env) > 0
                                                          ? MIN (atoi (threads_env), 8)
                                                          : (int) MIN (g_get_num_processors (), 8));
  static const char *preset_names[] = { "fast", "medium", "fine" };

  g_autoptr (GString) manifest = g_string_new (NULL);
  if (options->dump != NULL && g_mkdir_with_parents (options->dump, 0755) != 0)
    {
      int saved = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot make the folder %s: %s", options->dump, g_strerror (saved));
      return FALSE;
    }

  printf ("optical flow, preset %s, on %s; flow on %s; synthetic 832×480 clips (seed %u), %d pairs per "
          "motion\n",
          preset_names[options->preset], fa_backend_get_description (backend), threads,
          options->seed, options->pairs);
  printf ("%-10s %10s %12s %6s\n", "motion", "EPE (px)", "ms per pair", "pairs");
  g_autoptr (GString) summary = g_string_new (NULL);
  for (gsize m = 0; m < G_N_ELEMENTS (motions); m++)
    {
      MotionResult result;
      if (strcmp (motion_name, "all") != 0 && strcmp (motion_name, motions[m].name) != 0)
        continue;
      if (!bench_motion (backend, &motions[m], options, manifest, &result, error))
        {
          g_prefix_error (error, "%s: ", motions[m].name);
          return FALSE;
        }
      printf ("%-10s %10.3f %12.1f %6d\n", motions[m].name, result.epe, result.ms, result.pairs);
      fflush (stdout);
      g_string_append_printf (summary, "%s\t%s\t%.6f\t%.3f\n", motions[m].name, threads,
                              result.epe, result.ms);
    }
  if (options->dump != NULL)
    {
      g_autofree char *name = g_strdup_printf ("ours-%s.tsv", on_cuda ? "cuda" : "cpu");
      g_autofree char *path = g_build_filename (options->dump, name, NULL);
      g_autofree char *manifest_path = g_build_filename (options->dump, "pairs.tsv", NULL);
      if (!g_file_set_contents (manifest_path, manifest->str, (gssize) manifest->len, error))
        return FALSE;
      if (!g_file_set_contents (path, summary->str, (gssize) summary->len, error))
        return FALSE;
    }
  return TRUE;
}

int
fa_cli_bench_flow (int argc, char **argv)
{
  g_autofree char *device = NULL, *motion = NULL, *preset = NULL, *dump = NULL;
  int pairs = 10, seed = 1;
  const GOptionEntry entries[] = {
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "cpu (default), cuda or auto", "NAME" },
    { "motion", 'm', 0, G_OPTION_ARG_STRING, &motion,
      "translate, rotate, scale, occlude or all (default)", "NAME" },
    { "pairs", 'n', 0, G_OPTION_ARG_INT, &pairs, "Frame pairs per motion, spread over the clip (default 10)",
      "N" },
    { "preset", 'p', 0, G_OPTION_ARG_STRING, &preset, "fast, medium (default) or fine", "NAME" },
    { "seed", 's', 0, G_OPTION_ARG_INT, &seed, "Seed of the synthetic clips (default 1)", "N" },
    { "dump", 0, 0, G_OPTION_ARG_FILENAME, &dump,
      "Write the pairs (PNG), ground truth (.flo), validity masks and our figures here", "DIR" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("flow");
  g_autoptr (GError) error = NULL;
  const char *message = NULL;
  BenchOptions options = { .preset = FA_FLOW_PRESET_MEDIUM };

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (context,
                                "Times our optical flow on the synthetic 832×480 clips and measures its\n"
                                "mean end-point error against their exact flow, over the pixels that\n"
                                "stay visible. Prints figures; asserts nothing.");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    message = error->message;
  else if (argc != 1)
    message = "unexpected arguments (see --help)";
  else if (pairs < 1 || pairs > 80)
    message = "--pairs must be 1 to 80";
  else if (seed < 0)
    message = "--seed must not be negative";
  else if (motion != NULL && strcmp (motion, "all") != 0 && strcmp (motion, "translate") != 0 &&
           strcmp (motion, "rotate") != 0 && strcmp (motion, "scale") != 0 &&
           strcmp (motion, "occlude") != 0)
    message = "--motion must be translate, rotate, scale, occlude or all";
  else if (preset != NULL && strcmp (preset, "fast") == 0)
    options.preset = FA_FLOW_PRESET_FAST;
  else if (preset != NULL && strcmp (preset, "fine") == 0)
    options.preset = FA_FLOW_PRESET_FINE;
  else if (preset != NULL && strcmp (preset, "medium") != 0)
    message = "--preset must be fast, medium or fine";
  if (message != NULL)
    {
      fprintf (stderr, "flowanchor bench flow: %s\n", message);
      return FA_CLI_USAGE;
    }
  options.pairs = pairs;
  options.dump = dump;
  options.seed = (guint32) seed;

  if (!run_bench_flow (device != NULL ? device : "cpu", motion != NULL ? motion : "all", &options,
                       &error))
    {
      fprintf (stderr, "flowanchor bench flow: %s\n", error->message);
      return FA_CLI_FAILED;
    }
  return FA_CLI_OK;
}
