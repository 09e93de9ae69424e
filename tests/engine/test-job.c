/* test-job.c: the edit job end to end on the tiny model of tests/data: a
 * generated clip and a box mask in, an MP4 out that decodes to the right
 * frames; progress through every stage; a live look; the memory check;
 * cancelling mid-step (error, memory freed, the next job runs); progress
 * delivered on the caller's main context from the worker thread.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <string.h>

#include "fa-error.h"
#include "fa-job.h"

#include "fa-media-util.h"
#include "fa-test-util.h"

#define WIDTH 96
#define HEIGHT 64
#define FRAMES 9

static FaBackend *cpu;
static FaModel *model;
static char *folder, *clip_path;

static void
settings_for_clip (FaJobSettings *settings, const char *output)
{
  g_autoptr (GError) error = NULL;

  fa_job_settings_init (settings);
  settings->clip_path = g_strdup (clip_path);
  settings->working.width = WIDTH;
  settings->working.height = HEIGHT;
  settings->working.max_frames = FRAMES;
  settings->masks = fa_mask_set_new (FRAMES, WIDTH, HEIGHT, &error);
  g_assert_no_error (error);
  g_assert_true (fa_mask_set_apply_box (settings->masks, 0, 24, 16, 40, 32, FALSE, &error));
  settings->source_prompt = g_strdup ("a red ball rolls on the grass");
  settings->target_prompt = g_strdup ("a blue cube rolls on the grass");
  settings->params.steps = 6;
  settings->params.n_max = 5;
  settings->params.tau = 0.8f;
  settings->output_path = g_strdup (output);
  settings->export_options.audio = FALSE;
}

typedef struct {
  guint stages_seen; /* bit per stage */
  FaJobStage last_stage;
  guint edit_done, edit_total;
  gboolean went_backwards;
  int live_calls, live_width, live_height;
  GThread *thread;        /* where the callbacks must run */
  gboolean wrong_thread;
  GCancellable *cancel_at_step; /* cancelled at edit step 2 */
  guint64 memory_at_cancel;
} Observed;

static void
on_progress (const FaJobProgress *progress, gpointer user_data)
{
  Observed *seen = user_data;

  if (seen->thread != NULL && g_thread_self () != seen->thread)
    seen->wrong_thread = TRUE;
  if (seen->stages_seen != 0 && progress->stage < seen->last_stage)
    seen->went_backwards = TRUE;
  seen->stages_seen |= 1u << progress->stage;
  seen->last_stage = progress->stage;
  g_assert_cmpfloat (progress->elapsed_s, >=, 0.0);
  if (progress->stage == FA_JOB_STAGE_EDIT)
    {
      seen->edit_done = MAX (seen->edit_done, progress->done);
      seen->edit_total = progress->total;
      if (progress->done > 0)
        g_assert_cmpfloat (progress->remaining_s, >=, 0.0);
      if (seen->cancel_at_step != NULL && progress->done == 2)
        g_cancellable_cancel (seen->cancel_at_step);
    }
}

static void
on_live (int step, int total, const guint8 *rgb, int width, int height, gpointer user_data)
{
  Observed *seen = user_data;
  g_assert_nonnull (rgb);
  g_assert_cmpint (step, <=, total);
  seen->live_calls++;
  seen->live_width = width;
  seen->live_height = height;
}

static void
assert_decodes (const char *path, int frames, int width, int height)
{
  g_autoptr (GError) error = NULL;
  FaWorkingClipOptions options;
  fa_working_clip_options_init (&options);
  options.width = width;
  options.height = height;
  options.max_frames = 81;
  g_autoptr (FaClipInfo) info = fa_clip_probe (path, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (info->width, ==, width);
  g_assert_cmpint (info->height, ==, height);
  g_autoptr (FaWorkingClip) clip = fa_working_clip_decode (path, &options, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip->n_frames, ==, frames);
}

static void
test_edit_to_mp4 (void)
{
  g_auto (FaJobSettings) settings = { 0 };
  g_autoptr (GError) error = NULL;
  g_autofree char *output = g_build_filename (folder, "edited.mp4", NULL);
  Observed seen = { 0 };

  settings_for_clip (&settings, output);
  settings.live_every = 2;
  g_autoptr (FaJob) job = fa_job_new (model, &settings, &error);
  g_assert_no_error (error);
  fa_job_set_progress_func (job, on_progress, &seen, NULL);
  fa_job_set_live_func (job, on_live, &seen, NULL);
  g_assert_true (fa_job_run (job, NULL, &error));
  g_assert_no_error (error);

  /* every stage reported, in order, and the steps counted to the end */
  g_assert_cmphex (seen.stages_seen, ==, (1u << FA_JOB_N_STAGES) - 1);
  g_assert_false (seen.went_backwards);
  g_assert_cmpuint (seen.edit_total, ==, 5);
  g_assert_cmpuint (seen.edit_done, ==, 5);
  /* a look at steps 2, 4 and the last, at the working size */
  g_assert_cmpint (seen.live_calls, ==, 3);
  g_assert_cmpint (seen.live_width, ==, WIDTH);
  g_assert_cmpint (seen.live_height, ==, HEIGHT);

  const FaWorkingClip *result = fa_job_get_result (job);
  g_assert_nonnull (result);
  g_assert_cmpint (result->n_frames, ==, FRAMES);
  /* the masks were propagated through every frame */
  g_assert_false (fa_mask_set_needs_propagation (fa_job_get_masks (job)));
  g_assert_cmpfloat (fa_job_get_stage_seconds (job, FA_JOB_STAGE_EDIT), >, 0.0);
  assert_decodes (output, FRAMES, WIDTH, HEIGHT);
}

static void
test_preview_scales_steps (void)
{
  g_auto (FaJobSettings) settings = { 0 };
  g_autoptr (GError) error = NULL;
  Observed seen = { 0 };

  settings_for_clip (&settings, NULL);
  g_clear_pointer (&settings.output_path, g_free);
  settings.params.steps = 25;
  settings.params.n_max = 23;
  settings.preview = TRUE;
  settings.preview_steps = 4;
  settings.preview_frames = 5;
  g_autoptr (FaJob) job = fa_job_new (model, &settings, &error);
  g_assert_no_error (error);
  fa_job_set_progress_func (job, on_progress, &seen, NULL);
  g_assert_true (fa_job_run (job, NULL, &error));
  g_assert_no_error (error);
  /* 23 of 25 run → 4 of 4 (rounded) */
  g_assert_cmpuint (seen.edit_total, ==, 4);
  g_assert_cmpint (fa_job_get_result (job)->n_frames, ==, 5);
  /* no export asked for: no export stage */
  g_assert_false (seen.stages_seen & (1u << FA_JOB_STAGE_EXPORT));
}

static void
test_cancel_mid_step (void)
{
  g_auto (FaJobSettings) settings = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *output = g_build_filename (folder, "kept.mp4", NULL);
  Observed seen = { 0 };
  guint64 before = 0, after = 0;
  FaBackend *backend = fa_wan_dit_get_backend (fa_model_get_dit (model));

  settings_for_clip (&settings, output);
  g_autoptr (FaJob) job = fa_job_new (model, &settings, &error);
  g_assert_no_error (error);
  fa_job_set_progress_func (job, on_progress, &seen, NULL);

  /* the steady state: what the model holds after a whole run of this job */
  seen.cancel_at_step = NULL;
  g_assert_true (fa_job_run (job, NULL, &error));
  g_assert_no_error (error);
  fa_backend_get_memory (backend, &before, NULL);
  g_assert_true (g_file_set_contents (output, "an older file", -1, NULL));

  seen.cancel_at_step = cancellable;
  seen.edit_done = 0;
  g_assert_false (fa_job_run (job, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  /* it stopped in the steps, freed what it took, and left the file alone */
  g_assert_cmpuint (seen.edit_done, ==, 2);
  g_assert_null (fa_job_get_result (job));
  fa_backend_get_memory (backend, &after, NULL);
  g_assert_cmpuint (after, <=, before);
  {
    g_autofree char *contents = NULL;
    g_assert_true (g_file_get_contents (output, &contents, NULL, NULL));
    g_assert_cmpstr (contents, ==, "an older file");
  }

  /* the model still works: the same job again, not cancelled */
  g_cancellable_reset (cancellable);
  seen.cancel_at_step = NULL;
  g_assert_true (fa_job_run (job, cancellable, &error));
  g_assert_no_error (error);
  assert_decodes (output, FRAMES, WIDTH, HEIGHT);
}

static void
test_memory_check (void)
{
  g_auto (FaJobSettings) settings = { 0 };
  g_autoptr (GError) error = NULL;
  guint64 needed = 0, available = 0;

  settings_for_clip (&settings, NULL);
  g_autoptr (FaJob) job = fa_job_new (model, &settings, &error);
  g_assert_no_error (error);
  g_assert_true (fa_job_check_memory (job, &needed, &available, &error));
  g_assert_cmpuint (needed, >, 0);
  g_assert_cmpuint (needed, <=, available);

  /* more frames need more */
  {
    g_auto (FaJobSettings) longer = { 0 };
    guint64 longer_needed = 0;
    settings_for_clip (&longer, NULL);
    longer.working.max_frames = 81;
    g_autoptr (FaJob) long_job = fa_job_new (model, &longer, &error);
    g_assert_true (fa_job_check_memory (long_job, &longer_needed, NULL, &error));
    g_assert_cmpuint (longer_needed, >, needed);
  }

  /* a limit below the need fails at once, before anything runs, saying
   * what to change */
  {
    g_auto (FaJobSettings) tight = { 0 };
    Observed seen = { 0 };
    settings_for_clip (&tight, NULL);
    tight.memory_limit = needed / 2;
    g_autoptr (FaJob) tight_job = fa_job_new (model, &tight, &error);
    fa_job_set_progress_func (tight_job, on_progress, &seen, NULL);
    g_assert_false (fa_job_run (tight_job, NULL, &error));
    g_assert_error (error, FA_ERROR, FA_ERROR_OUT_OF_MEMORY);
    g_assert_nonnull (strstr (error->message, "fewer frames"));
    g_assert_cmpuint (seen.stages_seen, ==, 0);
  }
}

static void
test_settings_errors (void)
{
  g_auto (FaJobSettings) settings = { 0 };
  g_autoptr (GError) error = NULL;

  settings_for_clip (&settings, NULL);
  g_clear_pointer (&settings.masks, fa_mask_set_free);
  settings.masks = fa_mask_set_new (FRAMES, WIDTH, HEIGHT, &error);
  g_assert_null (fa_job_new (model, &settings, &error));
  g_assert_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "mask"));
  g_clear_error (&error);

  g_assert_true (fa_mask_set_apply_box (settings.masks, 0, 0, 0, 8, 8, FALSE, &error));
  settings.params.beta1 = 2.0f;
  g_assert_null (fa_job_new (model, &settings, &error));
  g_assert_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "beta1"));
  g_clear_error (&error);

  /* a clip that is not there: the job starts and names the file */
  settings.params.beta1 = 0.3f;
  g_free (settings.clip_path);
  settings.clip_path = g_build_filename (folder, "missing.mp4", NULL);
  g_autoptr (FaJob) job = fa_job_new (model, &settings, &error);
  g_assert_no_error (error);
  g_assert_false (fa_job_run (job, NULL, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "missing.mp4"));
}

typedef struct {
  GMainLoop *loop;
  gboolean ok;
  GError *error;
} AsyncDone;

static void
on_async_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AsyncDone *done = user_data;
  done->ok = fa_job_run_finish (NULL, result, &done->error);
  g_main_loop_quit (done->loop);
}

static void
test_async_progress_on_main_context (void)
{
  g_auto (FaJobSettings) settings = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autoptr (GMainLoop) loop = g_main_loop_new (context, FALSE);
  Observed seen = { 0 };
  AsyncDone done = { loop, FALSE, NULL };

  settings_for_clip (&settings, NULL);
  g_clear_pointer (&settings.output_path, g_free);
  settings.live_every = 1;
  g_autoptr (FaJob) job = fa_job_new (model, &settings, &error);
  g_assert_no_error (error);
  seen.thread = g_thread_self ();
  g_main_context_push_thread_default (context);
  fa_job_set_progress_func (job, on_progress, &seen, context);
  fa_job_set_live_func (job, on_live, &seen, context);
  fa_job_run_async (job, NULL, on_async_done, &done);
  g_main_loop_run (loop);
  while (g_main_context_iteration (context, FALSE))
    ;
  g_main_context_pop_thread_default (context);

  g_assert_no_error (done.error);
  g_assert_true (done.ok);
  g_assert_false (seen.wrong_thread);
  /* coalesced, but the last word always arrives */
  g_assert_true (seen.stages_seen & (1u << FA_JOB_STAGE_EDIT));
  g_assert_cmpuint (seen.edit_done, ==, 5);
  g_assert_cmpint (seen.live_calls, >=, 1);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  gst_init (NULL, NULL);
  cpu = fa_backend_new_cpu ();
  {
    g_autofree char *model_folder = g_build_filename (g_getenv ("FA_TEST_SRCDIR"), "data", "wan-tiny", NULL);
    model = fa_model_load (model_folder, cpu, NULL, &error);
    g_assert_no_error (error);
  }
  folder = fa_test_make_folder ("test-job-XXXXXX");
  clip_path = fa_test_make_mp4 (folder, "clip.mp4", 12, WIDTH, HEIGHT, 16, FALSE, "ball");

  g_test_add_func ("/job/edit-to-mp4", test_edit_to_mp4);
  g_test_add_func ("/job/preview-scales-steps", test_preview_scales_steps);
  g_test_add_func ("/job/cancel-mid-step", test_cancel_mid_step);
  g_test_add_func ("/job/memory-check", test_memory_check);
  g_test_add_func ("/job/settings-errors", test_settings_errors);
  g_test_add_func ("/job/async-progress-on-main-context", test_async_progress_on_main_context);
  status = g_test_run ();

  fa_test_remove_tree (folder);
  g_free (folder);
  g_free (clip_path);
  fa_model_unref (model);
  fa_backend_unref (cpu);
  return status;
}
