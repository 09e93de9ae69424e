/* flowanchor edit: one FlowAnchor edit from the command line, from its
 * options or from a project file, with a progress bar on a terminal and
 * Ctrl+C as a clean cancel.
 *
 * Masks are in working-frame pixels (after --size and --fit): a --mask PNG
 * must have the working size, and --box X,Y,W,H is measured on the working
 * frame, which is what the app shows and what `mask propagate` writes.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "flowanchor-edit"

#include "config.h"

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fa-cli.h"
#include "fa-error.h"
#include "fa-job.h"
#include "fa-png.h"
#include "fa-project.h"

typedef struct {
  GMainLoop *loop;
  GCancellable *cancellable;
  gboolean terminal;
  gboolean ok;
  GError *error;
  FaJobStage last_stage;
  guint last_done;
} Run;

static void
on_progress (const FaJobProgress *progress, gpointer user_data)
{
  Run *run = user_data;
  const char *stage = fa_job_stage_get_name (progress->stage);
  g_autofree char *left = progress->remaining_s >= 0 ? g_strdup_printf (", about %.0f s left", progress->remaining_s)
                                                     : g_strdup ("");

  if (run->terminal)
    {
      const int width = 30;
      int filled = progress->total > 0 ? (int) ((double) progress->done / progress->total * width) : 0;
      char bar[64];
      for (int i = 0; i < width; i++)
        bar[i] = i < filled ? '#' : '.';
      bar[width] = '\0';
      if (progress->total > 0)
        fprintf (stderr, "\r\033[K%-22s [%s] %u/%u  %.1f s%s", stage, bar, progress->done, progress->total,
                 progress->elapsed_s, left);
      else
        fprintf (stderr, "\r\033[K%-22s  %.1f s", stage, progress->elapsed_s);
      fflush (stderr);
      return;
    }
  /* plain lines: each stage once, and each step of the edit */
  if (progress->stage != run->last_stage || (progress->stage == FA_JOB_STAGE_EDIT && progress->done != run->last_done))
    fprintf (stderr, "%s %u/%u %.1f s%s\n", stage, progress->done, progress->total, progress->elapsed_s, left);
  run->last_stage = progress->stage;
  run->last_done = progress->done;
}

static gboolean
on_interrupt (gpointer user_data)
{
  Run *run = user_data;
  fprintf (stderr, "%scancelling…\n", run->terminal ? "\n" : "");
  g_cancellable_cancel (run->cancellable);
  return G_SOURCE_CONTINUE;
}

static void
on_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Run *run = user_data;
  FaJob *job = g_task_get_task_data (G_TASK (result));
  run->ok = fa_job_run_finish (job, result, &run->error);
  g_main_loop_quit (run->loop);
}

/* Runs @job on a worker thread while this thread prints its progress and
 * waits for Ctrl+C. */
static int
run_job (FaJob *job, const char *verb)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autoptr (GMainLoop) loop = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  Run run = { 0 };
  guint interrupt;

  g_main_context_push_thread_default (context);
  loop = g_main_loop_new (context, FALSE);
  run.loop = loop;
  run.cancellable = cancellable;
  run.terminal = isatty (fileno (stderr));
  run.last_stage = FA_JOB_N_STAGES;
  fa_job_set_progress_func (job, on_progress, &run, context);

  {
    g_autoptr (GSource) source = g_unix_signal_source_new (SIGINT);
    g_source_set_callback (source, on_interrupt, &run, NULL);
    interrupt = g_source_attach (source, context);
  }
  fa_job_run_async (job, cancellable, on_done, &run);
  g_main_loop_run (loop);
  /* the job is over: no more progress may arrive */
  fa_job_set_progress_func (job, NULL, NULL, NULL);
  while (g_main_context_iteration (context, FALSE))
    ;
  g_source_destroy (g_main_context_find_source_by_id (context, interrupt));
  g_main_context_pop_thread_default (context);
  if (run.terminal)
    fprintf (stderr, "\n");

  if (!run.ok)
    {
      gboolean cancelled = g_error_matches (run.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      fprintf (stderr, "flowanchor %s: %s\n", verb, cancelled ? "cancelled" : run.error->message);
      g_error_free (run.error);
      return cancelled ? FA_CLI_CANCELLED : FA_CLI_FAILED;
    }
  for (int s = 0; s < FA_JOB_N_STAGES; s++)
    if (fa_job_get_stage_seconds (job, s) > 0)
      printf ("%-22s %8.2f s\n", fa_job_stage_get_name (s), fa_job_get_stage_seconds (job, s));
  return FA_CLI_OK;
}

/* "X,Y,W,H", whole numbers, the box inside the frame. */
static gboolean
parse_box (const char *text, int width, int height, int box[4])
{
  g_auto (GStrv) parts = g_strsplit (text, ",", -1);
  if (g_strv_length (parts) != 4)
    return FALSE;
  for (int i = 0; i < 4; i++)
    {
      char *end = NULL;
      gint64 v = g_ascii_strtoll (parts[i], &end, 10);
      if (end == parts[i] || *end != '\0' || v < 0 || v > 16384)
        return FALSE;
      box[i] = (int) v;
    }
  return box[2] > 0 && box[3] > 0 && box[0] + box[2] <= width && box[1] + box[3] <= height;
}

static gboolean
set_keyframe_png (FaMaskSet *masks, int frame, const char *path, GError **error)
{
  int width = 0, height = 0;
  g_autofree guint8 *alpha = fa_png_load_alpha (path, &width, &height, error);
  if (alpha == NULL)
    return FALSE;
  if (width != fa_mask_set_get_width (masks) || height != fa_mask_set_get_height (masks))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "%s is %d×%d; a mask for the edit must have the working size "
                   "%d×%d (--size)", path, width, height, fa_mask_set_get_width (masks),
                   fa_mask_set_get_height (masks));
      return FALSE;
    }
  if (frame >= fa_mask_set_get_n_frames (masks))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "keyframe %d is past the last working frame (%d)",
                   frame, fa_mask_set_get_n_frames (masks) - 1);
      return FALSE;
    }
  return fa_mask_set_set_keyframe (masks, frame, alpha, error);
}

typedef struct {
  int steps, skip, n_min, n_avg, dilation, seed;
  double shift, cfg_src, cfg_tar, beta1, beta2, tau, gamma;
  gboolean no_sar, no_amm, blend;
} ParamArgs;

/* Command-line values override @params where given (a NaN or -1 means not given). */
static gboolean
apply_param_args (const ParamArgs *a, FaEditParams *params, GError **error)
{
  if (a->steps >= 0)
    {
      /* keep the skipped count when only the steps change */
      int skip = params->steps - params->n_max;
      params->steps = a->steps;
      params->n_max = MAX (1, a->steps - skip);
    }
  if (a->skip >= 0)
    params->n_max = params->steps - a->skip;
  if (a->n_min >= 0)
    params->n_min = a->n_min;
  if (a->n_avg >= 0)
    params->n_avg = a->n_avg;
  if (a->dilation >= 0)
    params->mask_dilation = a->dilation;
  if (a->seed >= 0)
    params->seed = (guint64) a->seed;
  if (!isnan (a->shift)) params->shift = (float) a->shift;
  if (!isnan (a->cfg_src)) params->cfg_source = (float) a->cfg_src;
  if (!isnan (a->cfg_tar)) params->cfg_target = (float) a->cfg_tar;
  if (!isnan (a->beta1)) params->beta1 = (float) a->beta1;
  if (!isnan (a->beta2)) params->beta2 = (float) a->beta2;
  if (!isnan (a->tau)) params->tau = (float) a->tau;
  if (!isnan (a->gamma)) params->gamma = (float) a->gamma;
  if (a->no_sar)
    params->sar = FALSE;
  if (a->no_amm)
    params->amm = FALSE;
  if (a->blend)
    params->blend_background = TRUE;
  return fa_edit_params_check (params, error);
}

static gboolean
parse_export (const char *size, int quality, gboolean no_audio, FaExportOptions *options, GError **error)
{
  fa_export_options_init (options);
  if (size != NULL && !g_str_equal (size, "working") && !g_str_equal (size, "source"))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "--export-size '%s' is neither 'working' nor 'source'",
                   size);
      return FALSE;
    }
  options->size = size != NULL && g_str_equal (size, "source") ? FA_EXPORT_SIZE_SOURCE : FA_EXPORT_SIZE_WORKING;
  if (quality >= 0)
    {
      if (quality > 51)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "--quality %d is outside [0, 51]", quality);
          return FALSE;
        }
      options->quality = quality;
    }
  options->audio = !no_audio;
  return TRUE;
}

int
fa_cli_edit (int argc, char **argv)
{
  g_autofree char *mask = NULL, *box = NULL, *source = NULL, *target = NULL, *negative = NULL, *words = NULL,
                  *model_path = NULL, *output = NULL, *project_path = NULL, *device = NULL, *text_device = NULL,
                  *export_size = NULL, *save_project = NULL;
  g_auto (GStrv) keyframes = NULL;
  g_auto (FaCliWorkingArgs) working_args = FA_CLI_WORKING_ARGS_INIT;
  ParamArgs pa = { -1, -1, -1, -1, -1, -1, NAN, NAN, NAN, NAN, NAN, NAN, NAN, FALSE, FALSE, FALSE };
  gboolean preview = FALSE, half = FALSE, no_audio = FALSE, no_cache = FALSE, tiling = FALSE;
  int quality = -1, preview_steps = 8;
  GOptionEntry entries[] = {
    { "project", 0, 0, G_OPTION_ARG_FILENAME, &project_path, "run the edit a project file describes (and record the result in it)", "FILE" },
    { "mask", 0, 0, G_OPTION_ARG_FILENAME, &mask, "mask of working frame 0 (PNG at the working size)", "PNG" },
    { "box", 0, 0, G_OPTION_ARG_STRING, &box, "a box on working frame 0 as the mask, working pixels", "X,Y,W,H" },
    { "keyframe", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &keyframes, "a mask for working frame N (repeatable)", "N:PNG" },
    { "source", 0, 0, G_OPTION_ARG_STRING, &source, "what the clip shows", "TEXT" },
    { "target", 0, 0, G_OPTION_ARG_STRING, &target, "what it should show", "TEXT" },
    { "negative", 0, 0, G_OPTION_ARG_STRING, &negative, "negative prompt (Wan's default)", "TEXT" },
    { "words", 0, 0, G_OPTION_ARG_STRING, &words, "target words SAR attends to (default: the words that differ)", "W1,W2" },
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &model_path, "Wan2.1 T2V pipeline folder (diffusers layout)", "DIR" },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output, "the edited clip", "OUT.mp4|OUT.webm" },
    { "save-project", 0, 0, G_OPTION_ARG_FILENAME, &save_project, "also save the edit as a project", "FILE" },
    { "preview", 0, 0, G_OPTION_ARG_NONE, &preview, "a quick low-step preview", NULL },
    { "preview-steps", 0, 0, G_OPTION_ARG_INT, &preview_steps, "steps of a preview (8)", "N" },
    { "half", 0, 0, G_OPTION_ARG_NONE, &half, "preview at half the working size", NULL },
    { "steps", 0, 0, G_OPTION_ARG_INT, &pa.steps, "schedule steps T (25)", "N" },
    { "skip", 0, 0, G_OPTION_ARG_INT, &pa.skip, "noisiest steps skipped, T − n_max (2)", "N" },
    { "n-min", 0, 0, G_OPTION_ARG_INT, &pa.n_min, "last steps as plain sampling (0)", "N" },
    { "n-avg", 0, 0, G_OPTION_ARG_INT, &pa.n_avg, "noise draws per step (1)", "N" },
    { "shift", 0, 0, G_OPTION_ARG_DOUBLE, &pa.shift, "schedule shift (5)", "X" },
    { "cfg-src", 0, 0, G_OPTION_ARG_DOUBLE, &pa.cfg_src, "source guidance (5)", "X" },
    { "cfg-tar", 0, 0, G_OPTION_ARG_DOUBLE, &pa.cfg_tar, "target guidance (10)", "X" },
    { "beta1", 0, 0, G_OPTION_ARG_DOUBLE, &pa.beta1, "SAR text-token strength (0.3)", "X" },
    { "beta2", 0, 0, G_OPTION_ARG_DOUBLE, &pa.beta2, "SAR spatial strength (0.3)", "X" },
    { "tau", 0, 0, G_OPTION_ARG_DOUBLE, &pa.tau, "SAR while sigma ≥ tau (0.6)", "X" },
    { "gamma", 0, 0, G_OPTION_ARG_DOUBLE, &pa.gamma, "AMM strength (1)", "X" },
    { "no-sar", 0, 0, G_OPTION_ARG_NONE, &pa.no_sar, "turn SAR off", NULL },
    { "no-amm", 0, 0, G_OPTION_ARG_NONE, &pa.no_amm, "turn AMM off", NULL },
    { "blend", 0, 0, G_OPTION_ARG_NONE, &pa.blend, "blend the background back outside the mask", NULL },
    { "dilation", 0, 0, G_OPTION_ARG_INT, &pa.dilation, "mask dilation before the token grid, pixels (2)", "N" },
    { "seed", 0, 0, G_OPTION_ARG_INT, &pa.seed, "noise seed (0)", "N" },
    FA_CLI_WORKING_ENTRIES (working_args),
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "cpu, cuda or auto (default)", "NAME" },
    { "text-device", 0, 0, G_OPTION_ARG_STRING, &text_device, "where the text encoder runs (the same)", "NAME" },
    { "vae-tiling", 0, 0, G_OPTION_ARG_NONE, &tiling, "VAE in tiles: less memory", NULL },
    { "export-size", 0, 0, G_OPTION_ARG_STRING, &export_size, "working (default) or source", "SIZE" },
    { "quality", 0, 0, G_OPTION_ARG_INT, &quality, "CRF-like, 0 best … 51 smallest (18)", "N" },
    { "no-audio", 0, 0, G_OPTION_ARG_NONE, &no_audio, "leave the sound out", NULL },
    { "no-prompt-cache", 0, 0, G_OPTION_ARG_NONE, &no_cache, "encode the prompts even when cached", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("[CLIP]");
  g_autoptr (GError) error = NULL;
  g_autoptr (FaProject) project = NULL;
  g_autoptr (FaBackend) backend = NULL, text_backend = NULL;
  g_autoptr (FaModel) model = NULL;
  g_autoptr (FaJob) job = NULL;
  g_auto (FaJobSettings) settings = { 0 };
  int status;

  fa_job_settings_init (&settings);
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (context,
                                "Edits CLIP with FlowAnchor: the region of the mask turns from what --source\n"
                                "says to what --target says, and the edited clip is written to -o. With\n"
                                "--project FILE the clip, masks, prompts and parameters come from the project\n"
                                "(options given here override them) and the result is recorded in it.\n"
                                "Exit status: 0 done, 1 failed, 2 usage, 130 cancelled (Ctrl+C).");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "flowanchor edit: %s\n", error->message);
      return FA_CLI_USAGE;
    }
  if (argc > 2 || (project_path == NULL && argc != 2) || model_path == NULL
      || (project_path == NULL && (output == NULL || source == NULL || target == NULL || (mask == NULL) == (box == NULL))))
    {
      fprintf (stderr, "flowanchor edit: expected CLIP, --mask PNG or --box X,Y,W,H, --source, --target, --model DIR "
                       "and -o OUT, or --project FILE and --model DIR (see --help)\n");
      return FA_CLI_USAGE;
    }

  if (project_path != NULL)
    {
      project = fa_project_load (project_path, &error);
      if (project == NULL)
        goto failed;
      if (fa_project_check_clip (project, &error) != FA_PROJECT_CLIP_OK)
        {
          if (error == NULL)
            g_set_error (&error, FA_ERROR, FA_ERROR_NOT_FOUND, "the project's clip %s is missing or has changed since "
                         "the project was saved", fa_project_get_clip_path (project));
          goto failed;
        }
      settings.clip_path = g_strdup (fa_project_get_clip_path (project));
      /* only the range a project saved by the app covers (all of it when it has none) */
      fa_project_get_range_options (project, &settings.working);
      fa_project_get_params (project, &settings.params);
      settings.source_prompt = g_strdup (fa_project_get_source_prompt (project));
      settings.target_prompt = g_strdup (fa_project_get_target_prompt (project));
      settings.target_words = g_strdupv ((char **) fa_project_get_target_words (project));
    }
  else
    {
      settings.clip_path = g_strdup (argv[1]);
      if (!fa_cli_working_options (&working_args, &settings.working, &error))
        {
          fprintf (stderr, "flowanchor edit: %s\n", error->message);
          return FA_CLI_USAGE;
        }
    }
  if (project_path != NULL && argc == 2)
    {
      fprintf (stderr, "flowanchor edit: give either CLIP or --project, not both\n");
      return FA_CLI_USAGE;
    }
  if (source != NULL)
    g_free (settings.source_prompt), settings.source_prompt = g_strdup (source);
  if (target != NULL)
    g_free (settings.target_prompt), settings.target_prompt = g_strdup (target);
  if (words != NULL)
    g_strfreev (settings.target_words), settings.target_words = g_strsplit (words, ",", -1);
  settings.negative_prompt = g_strdup (negative);
  if (!apply_param_args (&pa, &settings.params, &error))
    {
      fprintf (stderr, "flowanchor edit: %s\n", error->message);
      return FA_CLI_USAGE;
    }
  if (!parse_export (export_size, quality, no_audio, &settings.export_options, &error))
    {
      fprintf (stderr, "flowanchor edit: %s\n", error->message);
      return FA_CLI_USAGE;
    }
  settings.preview = preview;
  settings.preview_steps = preview_steps;
  settings.preview_half_size = half;
  settings.vae_tiling = tiling;

  /* the masks, at the working size; the job fits them to the clip's length */
  settings.masks = fa_mask_set_new (settings.working.max_frames, settings.working.width, settings.working.height,
                                    &error);
  if (settings.masks == NULL)
    goto failed;
  if (project != NULL && mask == NULL && box == NULL
      && !fa_project_apply_range_keyframes (project, settings.masks, &error))
    goto failed;
  if (box != NULL)
    {
      int b[4];
      if (!parse_box (box, settings.working.width, settings.working.height, b))
        {
          fprintf (stderr, "flowanchor edit: --box '%s' is not X,Y,W,H inside the %d×%d working frame\n", box,
                   settings.working.width, settings.working.height);
          return FA_CLI_USAGE;
        }
      if (!fa_mask_set_apply_box (settings.masks, 0, b[0], b[1], b[2], b[3], FALSE, &error))
        goto failed;
    }
  if (mask != NULL && !set_keyframe_png (settings.masks, 0, mask, &error))
    goto failed;
  for (int k = 0; keyframes != NULL && keyframes[k] != NULL; k++)
    {
      int frame;
      const char *path;
      if (!fa_cli_parse_keyframe (keyframes[k], &frame, &path))
        {
          fprintf (stderr, "flowanchor edit: --keyframe '%s' is not N:MASK.png\n", keyframes[k]);
          return FA_CLI_USAGE;
        }
      if (!set_keyframe_png (settings.masks, frame, path, &error))
        goto failed;
    }

  if (output != NULL)
    settings.output_path = g_strdup (output);
  else
    {
      g_autofree char *cache = fa_project_cache_folder (project_path);
      g_autofree char *name = g_strdup_printf ("%s-%" G_GINT64_FORMAT ".mp4", preview ? "preview" : "edit",
                                               g_get_real_time () / G_USEC_PER_SEC);
      if (g_mkdir_with_parents (cache, 0755) != 0)
        {
          g_set_error (&error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot make the project's cache folder %s", cache);
          goto failed;
        }
      settings.output_path = g_build_filename (cache, name, NULL);
    }
  if (!no_cache)
    {
      g_autoptr (GError) cache_error = NULL;
      settings.prompt_cache = fa_prompt_cache_new_default (&cache_error);
      if (settings.prompt_cache == NULL)
        g_message ("no prompt cache: %s", cache_error->message);
    }

  backend = fa_cli_backend_by_name (device, &error);
  if (backend == NULL)
    goto failed;
  if (text_device != NULL && (text_backend = fa_cli_backend_by_name (text_device, &error)) == NULL)
    goto failed;
  model = fa_model_load (model_path, backend, text_backend, &error);
  if (model == NULL)
    goto failed;
  job = fa_job_new (model, &settings, &error);
  if (job == NULL)
    goto failed;

  status = run_job (job, "edit");
  if (status != FA_CLI_OK)
    return status;
  printf ("wrote %s (%d frames of %d×%d)\n", settings.output_path, fa_job_get_result (job)->n_frames,
          fa_job_get_result (job)->width, fa_job_get_result (job)->height);

  if (project != NULL || save_project != NULL)
    {
      if (project == NULL)
        {
          project = fa_project_new (settings.clip_path, &error);
          if (project == NULL)
            goto failed;
          fa_project_set_working_options (project, &settings.working);
          fa_project_set_prompts (project, settings.source_prompt, settings.target_prompt,
                                  (const char *const *) settings.target_words);
          if (!fa_project_set_params (project, &settings.params, &error)
              || !fa_project_set_keyframes (project, settings.masks, &error))
            goto failed;
        }
      FaProjectResult result = {
        .kind = preview ? FA_PROJECT_RESULT_PREVIEW : FA_PROJECT_RESULT_FULL,
        .output_path = settings.output_path,
        .params = settings.params,
        .source_prompt = settings.source_prompt,
        .target_prompt = settings.target_prompt,
        .created_unix = g_get_real_time () / G_USEC_PER_SEC,
      };
      fa_project_add_result (project, &result);
      const char *path = save_project != NULL ? save_project : project_path;
      if (!fa_project_save (project, path, &error))
        goto failed;
      printf ("saved the project %s\n", path);
    }
  return FA_CLI_OK;

failed:
  fprintf (stderr, "flowanchor edit: %s\n", error->message);
  return FA_CLI_FAILED;
}
