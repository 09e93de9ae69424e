/* fa-job.c: an edit from a clip on disk to an edited clip (fa-job.h).
 *
 * The model's parts are not safe to run from two threads at once (the DiT
 * keeps its activation arena between forwards), so a job holds the model's
 * lock for its whole run: a second job waits instead of corrupting the
 * first.
 *
 * Callbacks to another thread go through a small refcounted mailbox that
 * holds the latest value: a slow main loop sees the newest progress, never
 * a queue of stale ones, and a job freed while a post is in flight leaves
 * the mailbox behind, silenced, instead of a dangling pointer.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-job"

#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fa-edit-words.h"
#include "fa-error.h"
#include "fa-job.h"
#include "fa-mask-propagate.h"
#include "fa-text-encoder.h"

#define TEXT_ROWS 512 /* Wan pads every prompt to 512 rows */

const char fa_wan_default_negative_prompt[] =
  "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
  "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，"
  "手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走";

/* ---- the model ---- */

struct _FaModel {
  gatomicrefcount ref;
  GMutex lock; /* held by a running job */
  FaWanDit *dit;
  FaUmt5 *text_encoder;
  FaTokenizer *tokenizer;
  FaWanVae *vae;
};

FaModel *
fa_model_new (FaWanDit *dit, FaUmt5 *text_encoder, FaTokenizer *tokenizer, FaWanVae *vae)
{
  g_return_val_if_fail (dit != NULL && vae != NULL, NULL);

  FaModel *model = g_new0 (FaModel, 1);
  g_atomic_ref_count_init (&model->ref);
  g_mutex_init (&model->lock);
  model->dit = dit;
  model->text_encoder = text_encoder;
  model->tokenizer = tokenizer;
  model->vae = vae;
  return model;
}

FaModel *
fa_model_load (const char *folder, FaBackend *backend, FaBackend *text_backend, GError **error)
{
  g_return_val_if_fail (folder != NULL && backend != NULL, NULL);

  if (!g_file_test (folder, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND,
                   "%s is not a folder: --model takes a Wan2.1 pipeline folder in the diffusers layout "
                   "(transformer/, text_encoder/, tokenizer/, vae/)", folder);
      return NULL;
    }
  g_autofree char *dit_path = g_build_filename (folder, "transformer", NULL);
  g_autofree char *text_path = g_build_filename (folder, "text_encoder", NULL);
  g_autofree char *tokenizer_path = g_build_filename (folder, "tokenizer", NULL);
  g_autofree char *vae_path = g_build_filename (folder, "vae", NULL);
  static const char *const parts[] = { "transformer", "text_encoder", "tokenizer", "vae" };
  const char *const paths[] = { dit_path, text_path, tokenizer_path, vae_path };

  for (int i = 0; i < 4; i++)
    if (!g_file_test (paths[i], G_FILE_TEST_EXISTS))
      {
        g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND, "the model folder %s has no %s/: is it a Wan2.1 "
                     "pipeline in the diffusers layout?", folder, parts[i]);
        return NULL;
      }

  g_autoptr (FaWanDit) dit = fa_wan_dit_load (dit_path, backend, error);
  if (dit == NULL)
    {
      g_prefix_error (error, "the transformer: ");
      return NULL;
    }
  g_autoptr (FaUmt5) text_encoder = fa_umt5_load (text_path, text_backend ? text_backend : backend, error);
  if (text_encoder == NULL)
    {
      g_prefix_error (error, "the text encoder: ");
      return NULL;
    }
  g_autoptr (FaTokenizer) tokenizer = fa_tokenizer_load (tokenizer_path, error);
  if (tokenizer == NULL)
    {
      g_prefix_error (error, "the tokenizer: ");
      return NULL;
    }
  g_autoptr (FaWanVae) vae = fa_wan_vae_load (vae_path, backend, error);
  if (vae == NULL)
    {
      g_prefix_error (error, "the VAE: ");
      return NULL;
    }
  return fa_model_new (g_steal_pointer (&dit), g_steal_pointer (&text_encoder), g_steal_pointer (&tokenizer),
                       g_steal_pointer (&vae));
}

FaModel *
fa_model_ref (FaModel *model)
{
  g_return_val_if_fail (model != NULL, NULL);
  g_atomic_ref_count_inc (&model->ref);
  return model;
}

void
fa_model_unref (FaModel *model)
{
  if (model == NULL || !g_atomic_ref_count_dec (&model->ref))
    return;
  g_clear_pointer (&model->dit, fa_wan_dit_free);
  g_clear_pointer (&model->text_encoder, fa_umt5_free);
  g_clear_pointer (&model->tokenizer, fa_tokenizer_free);
  g_clear_pointer (&model->vae, fa_wan_vae_free);
  g_mutex_clear (&model->lock);
  g_free (model);
}

FaWanDit *fa_model_get_dit (FaModel *model) { return model->dit; }
FaWanVae *fa_model_get_vae (FaModel *model) { return model->vae; }
FaUmt5 *fa_model_get_text_encoder (FaModel *model) { return model->text_encoder; }
FaTokenizer *fa_model_get_tokenizer (FaModel *model) { return model->tokenizer; }

/* ---- mailboxes: the latest value for a callback on another context ---- */

typedef struct {
  GMutex lock;
  GMainContext *context;
  gboolean queued;
  gboolean silenced;
  FaJobProgressFunc progress_func;
  FaJobLiveFunc live_func;
  gpointer user_data;
  FaJobProgress progress;
  int step, total, width, height;
  GBytes *rgb;
} Mailbox;

static Mailbox *
mailbox_new (GMainContext *context, gpointer user_data)
{
  Mailbox *box = g_atomic_rc_box_new0 (Mailbox);
  g_mutex_init (&box->lock);
  box->context = context ? g_main_context_ref (context) : NULL;
  box->user_data = user_data;
  return box;
}

static void
mailbox_clear (Mailbox *box)
{
  g_mutex_clear (&box->lock);
  g_clear_pointer (&box->context, g_main_context_unref);
  g_clear_pointer (&box->rgb, g_bytes_unref);
}

static void
mailbox_release (Mailbox *box)
{
  g_atomic_rc_box_release_full (box, (GDestroyNotify) mailbox_clear);
}

static gboolean
mailbox_deliver (gpointer data)
{
  Mailbox *box = data;
  FaJobProgress progress;
  g_autoptr (GBytes) rgb = NULL;
  int step, total, width, height;

  g_mutex_lock (&box->lock);
  box->queued = FALSE;
  gboolean silenced = box->silenced;
  progress = box->progress;
  rgb = g_steal_pointer (&box->rgb);
  step = box->step, total = box->total, width = box->width, height = box->height;
  g_mutex_unlock (&box->lock);

  if (silenced)
    return G_SOURCE_REMOVE;
  if (box->progress_func != NULL)
    box->progress_func (&progress, box->user_data);
  else if (box->live_func != NULL && rgb != NULL)
    box->live_func (step, total, g_bytes_get_data (rgb, NULL), width, height, box->user_data);
  return G_SOURCE_REMOVE;
}

/* Posts what the box now holds, unless a post is already on its way (it
 * will carry the newest value). */
static void
mailbox_post_locked (Mailbox *box)
{
  if (box->queued)
    return;
  box->queued = TRUE;
  /* Always through a source, never g_main_context_invoke: that runs the
   * callback on the posting (worker) thread whenever the context happens
   * to be unowned, e.g. between two iterations a test drives by hand. */
  GSource *source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, mailbox_deliver, g_atomic_rc_box_acquire (box), (GDestroyNotify) mailbox_release);
  g_source_set_static_name (source, "[flowanchor] job mailbox");
  g_source_attach (source, box->context);
  g_source_unref (source);
}

static void
mailbox_silence (Mailbox *box)
{
  if (box == NULL)
    return;
  g_mutex_lock (&box->lock);
  box->silenced = TRUE;
  g_mutex_unlock (&box->lock);
  mailbox_release (box);
}

/* ---- settings ---- */

void
fa_job_settings_init (FaJobSettings *settings)
{
  g_return_if_fail (settings != NULL);

  memset (settings, 0, sizeof *settings);
  fa_working_clip_options_init (&settings->working);
  fa_edit_params_init (&settings->params);
  settings->preview_steps = 8;
  fa_export_options_init (&settings->export_options);
}

void
fa_job_settings_clear (FaJobSettings *settings)
{
  if (settings == NULL)
    return;
  g_clear_pointer (&settings->clip_path, g_free);
  g_clear_pointer (&settings->masks, fa_mask_set_free);
  g_clear_pointer (&settings->source_prompt, g_free);
  g_clear_pointer (&settings->target_prompt, g_free);
  g_clear_pointer (&settings->negative_prompt, g_free);
  g_clear_pointer (&settings->target_words, g_strfreev);
  g_clear_pointer (&settings->output_path, g_free);
  g_clear_pointer (&settings->prompt_cache, fa_prompt_cache_free);
}

/* ---- the job ---- */

struct _FaJob {
  FaModel *model;
  FaJobSettings settings; /* owned copies (prompt_cache left out) */
  FaPromptCache *prompt_cache;
  FaEditParams params;    /* as run: the preview's scaled steps */
  FaWorkingClipOptions working;
  Mailbox *progress_box, *live_box;
  FaJobProgressFunc progress_func; /* when no context: called directly */
  FaJobLiveFunc live_func;
  gpointer progress_user_data, live_user_data;

  gint64 start_us, stage_start_us;
  FaJobStage stage;
  double stage_seconds[FA_JOB_N_STAGES];
  guint last_done, last_total;

  FaWorkingClip *clip, *result;
  FaMaskSet *masks;
};

const char *
fa_job_stage_get_name (FaJobStage stage)
{
  static const char *const names[FA_JOB_N_STAGES] = {
    "decoding the clip", "propagating the masks", "encoding the prompts", "encoding the clip",
    "editing", "decoding the edit", "exporting",
  };
  return stage < FA_JOB_N_STAGES ? names[stage] : "done";
}

/* The preview's schedule: fewer steps, with the skipped and plain parts
 * kept in proportion. */
static void
scale_for_preview (FaEditParams *params, int steps)
{
  double ratio = (double) steps / params->steps;
  params->n_max = CLAMP ((int) lround (params->n_max * ratio), 1, steps);
  params->n_min = CLAMP ((int) lround (params->n_min * ratio), 0, params->n_max);
  params->steps = steps;
}

FaJob *
fa_job_new (FaModel *model, const FaJobSettings *settings, GError **error)
{
  g_return_val_if_fail (model != NULL && settings != NULL, NULL);

  const char *missing = settings->clip_path == NULL ? "a clip"
                        : settings->source_prompt == NULL ? "a source prompt"
                        : settings->target_prompt == NULL ? "a target prompt"
                        : settings->masks == NULL || fa_mask_set_list_keyframes (settings->masks, NULL) == 0
                          ? "a mask (draw or box one on a frame)" : NULL;
  if (missing != NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "the edit needs %s", missing);
      return NULL;
    }
  if (settings->preview && (settings->preview_steps < 1 || settings->preview_steps > 1000))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "preview steps %d are outside [1, 1000]",
                   settings->preview_steps);
      return NULL;
    }
  if (settings->preview_frames < 0 || settings->live_every < 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "preview frames and live-look steps must not be negative");
      return NULL;
    }
  if (!fa_edit_params_check (&settings->params, error))
    return NULL;
  if (model->tokenizer == NULL || model->text_encoder == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "this model has no text encoder or tokenizer: it cannot encode prompts");
      return NULL;
    }

  FaJob *job = g_new0 (FaJob, 1);
  job->model = fa_model_ref (model);
  job->settings = *settings;
  job->settings.clip_path = g_strdup (settings->clip_path);
  job->settings.masks = fa_mask_set_copy (settings->masks);
  job->settings.source_prompt = g_strdup (settings->source_prompt);
  job->settings.target_prompt = g_strdup (settings->target_prompt);
  job->settings.negative_prompt = g_strdup (settings->negative_prompt);
  job->settings.target_words = g_strdupv (settings->target_words);
  job->settings.output_path = g_strdup (settings->output_path);
  /* borrowed: the caller keeps it alive as long as the job */
  job->prompt_cache = settings->prompt_cache;
  job->settings.prompt_cache = NULL;

  job->params = settings->params;
  job->working = settings->working;
  job->working.progress = NULL;
  if (settings->preview)
    {
      scale_for_preview (&job->params, settings->preview_steps);
      if (settings->preview_half_size)
        {
          job->working.width = MAX (16, job->working.width / 32 * 16);
          job->working.height = MAX (16, job->working.height / 32 * 16);
        }
      if (settings->preview_frames > 0)
        job->working.max_frames = MAX (5, MIN (job->working.max_frames, (settings->preview_frames - 1) / 4 * 4 + 1));
    }
  return job;
}

void
fa_job_free (FaJob *job)
{
  if (job == NULL)
    return;
  g_clear_pointer (&job->progress_box, mailbox_silence);
  g_clear_pointer (&job->live_box, mailbox_silence);
  fa_job_settings_clear (&job->settings);
  g_clear_pointer (&job->clip, fa_working_clip_free);
  g_clear_pointer (&job->result, fa_working_clip_free);
  g_clear_pointer (&job->masks, fa_mask_set_free);
  g_clear_pointer (&job->model, fa_model_unref);
  g_free (job);
}

void
fa_job_set_progress_func (FaJob *job, FaJobProgressFunc func, gpointer user_data, GMainContext *context)
{
  g_return_if_fail (job != NULL);
  g_clear_pointer (&job->progress_box, mailbox_silence);
  job->progress_func = NULL;
  if (func == NULL)
    return;
  if (context == NULL)
    {
      job->progress_func = func;
      job->progress_user_data = user_data;
      return;
    }
  job->progress_box = mailbox_new (context, user_data);
  job->progress_box->progress_func = func;
}

void
fa_job_set_live_func (FaJob *job, FaJobLiveFunc func, gpointer user_data, GMainContext *context)
{
  g_return_if_fail (job != NULL);
  g_clear_pointer (&job->live_box, mailbox_silence);
  job->live_func = NULL;
  if (func == NULL)
    return;
  if (context == NULL)
    {
      job->live_func = func;
      job->live_user_data = user_data;
      return;
    }
  job->live_box = mailbox_new (context, user_data);
  job->live_box->live_func = func;
}

/* Seconds left: the current stage at its present rate, and for the stages
 * after the steps what the encodes took (decoding the latent costs about
 * twice encoding it; exporting about what decoding the clip did). Before
 * the steps have started there is nothing to go by. */
static double
estimate_remaining (FaJob *job, guint done, guint total, double stage_elapsed)
{
  if (job->stage < FA_JOB_STAGE_EDIT || done == 0)
    return -1.0;
  double remaining = stage_elapsed / done * (total - done);
  if (job->stage <= FA_JOB_STAGE_EDIT)
    remaining += 2.0 * job->stage_seconds[FA_JOB_STAGE_ENCODE_VIDEO];
  if (job->stage < FA_JOB_STAGE_EXPORT && job->settings.output_path != NULL)
    remaining += job->stage_seconds[FA_JOB_STAGE_DECODE_CLIP];
  return remaining;
}

static void
report (FaJob *job, guint done, guint total)
{
  gint64 now = g_get_monotonic_time ();
  FaJobProgress progress = {
    .stage = job->stage,
    .done = done,
    .total = total,
    .elapsed_s = (now - job->start_us) / 1e6,
  };
  progress.remaining_s = estimate_remaining (job, done, total, (now - job->stage_start_us) / 1e6);
  job->last_done = done;
  job->last_total = total;

  if (job->progress_func != NULL)
    job->progress_func (&progress, job->progress_user_data);
  else if (job->progress_box != NULL)
    {
      g_mutex_lock (&job->progress_box->lock);
      job->progress_box->progress = progress;
      mailbox_post_locked (job->progress_box);
      g_mutex_unlock (&job->progress_box->lock);
    }
}

static void
report_units (guint done, guint total, gpointer user_data)
{
  report (user_data, done, total);
}

static void
begin_stage (FaJob *job, FaJobStage stage, guint total)
{
  job->stage = stage;
  job->stage_start_us = g_get_monotonic_time ();
  report (job, 0, total);
  g_debug ("%s", fa_job_stage_get_name (stage));
}

static void
end_stage (FaJob *job)
{
  job->stage_seconds[job->stage] = (g_get_monotonic_time () - job->stage_start_us) / 1e6;
  fa_backend_log_stage_memory (fa_wan_dit_get_backend (job->model->dit), fa_job_stage_get_name (job->stage));
}

/* ---- memory ---- */

static guint64
host_memory_available (void)
{
  g_autofree char *text = NULL;
  if (g_file_get_contents ("/proc/meminfo", &text, NULL, NULL))
    {
      const char *line = strstr (text, "MemAvailable:");
      guint64 kib;
      if (line != NULL && sscanf (line, "MemAvailable: %" G_GUINT64_FORMAT " kB", &kib) == 1)
        return kib * 1024;
    }
  return G_MAXUINT64; /* unknown: do not refuse */
}

gboolean
fa_job_check_memory (FaJob *job, guint64 *out_needed, guint64 *out_available, GError **error)
{
  g_return_val_if_fail (job != NULL, FALSE);

  FaBackend *backend = fa_wan_dit_get_backend (job->model->dit);
  gint64 latent[4] = { fa_wan_vae_get_config (job->model->vae)->z_dim, (job->working.max_frames - 1) / 4 + 1, job->working.height / 8, job->working.width / 8 };
  guint64 needed = fa_edit_estimate_bytes (job->model->dit, latent, TEXT_ROWS);
  guint64 available, used = 0;

  if (fa_backend_get_device (backend) == FA_DEVICE_CPU)
    available = host_memory_available ();
  else
    {
      guint64 total = 0;
      if (!fa_cuda_probe (0, NULL, &total, error))
        return FALSE;
      fa_backend_get_memory (backend, &used, NULL);
      available = total > used ? total - used : 0;
    }
  if (job->settings.memory_limit > 0)
    available = MIN (available, job->settings.memory_limit);
  if (out_needed != NULL)
    *out_needed = needed;
  if (out_available != NULL)
    *out_available = available;
  if (needed <= available)
    return TRUE;

  g_autofree char *need_text = g_format_size_full (needed, G_FORMAT_SIZE_IEC_UNITS);
  g_autofree char *have_text = g_format_size_full (available, G_FORMAT_SIZE_IEC_UNITS);
  gboolean text_here = fa_umt5_get_backend (job->model->text_encoder) == backend
                       && fa_backend_get_device (backend) != FA_DEVICE_CPU;
  g_set_error (error, FA_ERROR, FA_ERROR_OUT_OF_MEMORY,
               "this edit needs about %s of %s memory for %d frames of %d×%d, and %s is free: use fewer "
               "frames or a smaller size%s, or turn on VAE tiling", need_text,
               fa_device_get_name (fa_backend_get_device (backend)), job->working.max_frames, job->working.width,
               job->working.height, have_text, text_here ? ", put the text encoder on the CPU" : "");
  return FALSE;
}

/* ---- the stages ---- */

/* The job's masks: the settings' keyframes fitted to the working clip
 * (scaled by nearest neighbour when the sizes differ, keyframes past its
 * end dropped); propagated frames kept when nothing changed. */
static FaMaskSet *
fit_masks (FaJob *job, GError **error)
{
  const FaMaskSet *given = job->settings.masks;
  const FaWorkingClip *clip = job->clip;
  int gw = fa_mask_set_get_width (given), gh = fa_mask_set_get_height (given);

  if (fa_mask_set_get_n_frames (given) == clip->n_frames && gw == clip->width && gh == clip->height)
    return fa_mask_set_copy (given);

  g_autoptr (FaMaskSet) masks = fa_mask_set_new (clip->n_frames, clip->width, clip->height, error);
  g_autofree int *keys = g_new (int, fa_mask_set_get_n_frames (given));
  g_autofree guint8 *alpha = g_malloc ((gsize) clip->width * clip->height);
  int n_keys = fa_mask_set_list_keyframes (given, keys), kept = 0;

  if (masks == NULL)
    return NULL;
  for (int k = 0; k < n_keys; k++)
    {
      if (keys[k] >= clip->n_frames)
        continue;
      fa_mask_scale_nearest (fa_mask_set_peek_frame (given, keys[k]), gw, gh, alpha, clip->width, clip->height);
      if (!fa_mask_set_set_keyframe (masks, keys[k], alpha, error))
        return NULL;
      kept++;
    }
  if (kept == 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "every keyframe lies past the %d frames being edited: draw a mask on an earlier frame",
                   clip->n_frames);
      return NULL;
    }
  return g_steal_pointer (&masks);
}

typedef struct {
  FaTensor *context;     /* on the DiT's device */
  FaWanDitText *text;
} EncodedPrompt;

static gboolean
encode_prompt (FaJob *job, const char *prompt, EncodedPrompt *out, GError **error)
{
  FaBackend *backend = fa_wan_dit_get_backend (job->model->dit);
  g_autoptr (FaTensor) context = fa_encode_prompt (job->model->tokenizer, job->model->text_encoder,
                                                   job->prompt_cache, prompt, TEXT_ROWS, NULL, error);
  if (context == NULL)
    return FALSE;
  out->context = fa_tensor_to (context, backend, FA_DTYPE_F32, error);
  if (out->context == NULL)
    return FALSE;
  out->text = fa_wan_dit_encode_text (job->model->dit, out->context, error);
  return out->text != NULL;
}

static void
encoded_prompt_clear (EncodedPrompt *prompt)
{
  g_clear_pointer (&prompt->text, fa_wan_dit_text_free);
  g_clear_pointer (&prompt->context, fa_tensor_unref);
}

FaTensor *
fa_working_clip_to_video (const FaWorkingClip *clip, GError **error)
{
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  const gint64 shape[5] = { 1, 3, clip->n_frames, clip->height, clip->width };
  FaTensor *video = fa_tensor_new (cpu, FA_DTYPE_F32, 5, shape, error);
  if (video == NULL)
    return NULL;
  float *data = fa_tensor_get_data (video);
  gsize plane = (gsize) clip->width * clip->height;
  for (int t = 0; t < clip->n_frames; t++)
    {
      const guint8 *rgb = fa_working_clip_frame (clip, t);
      for (int c = 0; c < 3; c++)
        for (gsize i = 0; i < plane; i++)
          data[((gsize) c * clip->n_frames + t) * plane + i] = (float) rgb[3 * i + c] / 255.0f * 2.0f - 1.0f;
    }
  return video;
}

static void
video_frame_to_rgb (const float *data, int n_frames, int t, int width, int height, guint8 *rgb)
{
  gsize plane = (gsize) width * height;
  for (int c = 0; c < 3; c++)
    for (gsize i = 0; i < plane; i++)
      {
        float v = (data[((gsize) c * n_frames + t) * plane + i] + 1.0f) * 127.5f;
        rgb[3 * i + c] = (guint8) lrintf (CLAMP (v, 0.0f, 255.0f));
      }
}

typedef struct {
  FaJob *job;
  gboolean failed;
} StepContext;

/* A live look: the VAE decodes latent frame 0 of the estimate alone (the
 * decoder is causal, so frame 0 needs nothing after it). */
static void
live_look (FaJob *job, int done, int total, const FaTensor *estimate)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  const gint64 latent_shape[5] = { 1, estimate->shape[1], 1, estimate->shape[3], estimate->shape[4] };
  const gint64 video_shape[5] = { 1, 3, 1, 8 * estimate->shape[3], 8 * estimate->shape[4] };
  g_autoptr (FaTensor) first = fa_tensor_new (cpu, FA_DTYPE_F32, 5, latent_shape, &error);
  g_autoptr (FaTensor) video = first ? fa_tensor_new (cpu, FA_DTYPE_F32, 5, video_shape, &error) : NULL;
  if (video == NULL)
    {
      g_warning ("no live look: %s", error->message);
      return;
    }
  const float *src = fa_tensor_get_data (estimate);
  float *dst = fa_tensor_get_data (first);
  gsize plane = (gsize) latent_shape[3] * latent_shape[4];
  for (gint64 c = 0; c < latent_shape[1]; c++)
    memcpy (dst + c * plane, src + (gsize) c * estimate->shape[2] * plane, plane * sizeof (float));
  if (!fa_wan_vae_decode (job->model->vae, first, video, NULL, &error))
    {
      g_warning ("no live look: %s", error->message);
      return;
    }
  int width = (int) video_shape[4], height = (int) video_shape[3];
  g_autofree guint8 *rgb = g_malloc ((gsize) width * height * 3);
  video_frame_to_rgb (fa_tensor_get_data (video), 1, 0, width, height, rgb);
  if (job->live_func != NULL)
    job->live_func (done, total, rgb, width, height, job->live_user_data);
  else
    {
      g_mutex_lock (&job->live_box->lock);
      g_clear_pointer (&job->live_box->rgb, g_bytes_unref);
      job->live_box->rgb = g_bytes_new_take (g_steal_pointer (&rgb), (gsize) width * height * 3);
      job->live_box->step = done, job->live_box->total = total;
      job->live_box->width = width, job->live_box->height = height;
      mailbox_post_locked (job->live_box);
      g_mutex_unlock (&job->live_box->lock);
    }
}

static void
on_step (int done, int total, const FaTensor *estimate, gpointer user_data)
{
  FaJob *job = user_data;

  report (job, (guint) done, (guint) total);
  if (job->settings.live_every > 0 && (job->live_func != NULL || job->live_box != NULL)
      && (done % job->settings.live_every == 0 || done == total))
    live_look (job, done, total, estimate);
}

static gboolean
run_stages (FaJob *job, GCancellable *cancellable, GError **error)
{
  FaWanDit *dit = job->model->dit;
  FaWanVae *vae = job->model->vae;
  const FaWanDitConfig *config = fa_wan_dit_get_config (dit);
  EncodedPrompt prompts[3] = { { 0 } }; /* source, target, negative */
  gboolean ok = FALSE;
  g_autofree int *target_tokens = NULL;
  g_autofree guint8 *token_mask = NULL, *pixel_masks = NULL;
  g_autoptr (FaTensor) video = NULL, latent = NULL, edited = NULL, decoded = NULL;
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  int n_target_tokens = 0, target_rows = 0;

  /* the clip */
  begin_stage (job, FA_JOB_STAGE_DECODE_CLIP, (guint) job->working.max_frames);
  job->working.progress = report_units;
  job->working.progress_user_data = job;
  job->clip = fa_working_clip_decode (job->settings.clip_path, &job->working, cancellable, error);
  job->working.progress = NULL;
  if (job->clip == NULL)
    goto out;
  end_stage (job);

  /* the masks */
  begin_stage (job, FA_JOB_STAGE_PROPAGATE_MASKS, (guint) job->clip->n_frames - 1);
  job->masks = fit_masks (job, error);
  if (job->masks == NULL)
    goto out;
  if (fa_mask_set_needs_propagation (job->masks))
    {
      FaPropagateOptions propagate;
      fa_propagate_options_init (&propagate);
      propagate.progress = report_units;
      propagate.progress_user_data = job;
      if (!fa_mask_propagate (job->masks, job->clip, fa_wan_dit_get_backend (dit), &propagate, cancellable, error))
        goto out;
    }
  end_stage (job);

  /* the prompts */
  begin_stage (job, FA_JOB_STAGE_ENCODE_PROMPTS, 3);
  {
    const char *texts[3] = { job->settings.source_prompt, job->settings.target_prompt,
                             job->settings.negative_prompt ? job->settings.negative_prompt
                                                           : fa_wan_default_negative_prompt };
    for (int i = 0; i < 3; i++)
      {
        if (g_cancellable_set_error_if_cancelled (cancellable, error) || !encode_prompt (job, texts[i], &prompts[i], error))
          goto out;
        report (job, (guint) i + 1, 3);
      }
    g_autofree char *cleaned = fa_prompt_clean (job->settings.target_prompt);
    g_autoptr (FaTokenization) tokens = fa_tokenizer_encode (job->model->tokenizer, cleaned, TEXT_ROWS, error);
    if (tokens == NULL)
      goto out;
    target_rows = (int) tokens->n;
    GError *words_error = NULL;
    target_tokens = fa_edit_target_tokens (job->model->tokenizer, job->settings.source_prompt,
                                           job->settings.target_prompt,
                                           (const char *const *) job->settings.target_words, TEXT_ROWS,
                                           &n_target_tokens, &words_error);
    if (words_error != NULL)
      {
        g_propagate_error (error, words_error);
        goto out;
      }
    if (n_target_tokens == 0 && job->params.sar)
      g_message ("the prompts differ in no word: SAR has no target tokens and stays off");
  }
  end_stage (job);

  /* the clip into the latent space */
  {
    gint64 latent_shape[3];
    if (!fa_wan_vae_latent_shape (vae, job->clip->n_frames, job->clip->height, job->clip->width, latent_shape, error))
      goto out;
    const FaWanVaeConfig *vae_config = fa_wan_vae_get_config (vae);
    const gint64 shape[5] = { 1, vae_config->z_dim, latent_shape[0], latent_shape[1], latent_shape[2] };
    FaWanVaeOptions vae_options = { 0 };
    vae_options.tile = job->settings.vae_tiling;
    vae_options.tile_size = 256;
    vae_options.tile_overlap = 64;
    vae_options.cancellable = cancellable;
    vae_options.progress = report_units;
    vae_options.progress_user_data = job;

    begin_stage (job, FA_JOB_STAGE_ENCODE_VIDEO, 0);
    video = fa_working_clip_to_video (job->clip, error);
    latent = video ? fa_tensor_new (cpu, FA_DTYPE_F32, 5, shape, error) : NULL;
    edited = latent ? fa_tensor_new (cpu, FA_DTYPE_F32, 5, shape, error) : NULL;
    if (edited == NULL || !fa_wan_vae_encode (vae, video, latent, &vae_options, error))
      goto out;
    end_stage (job);

    /* the steps */
    gsize plane = (gsize) job->clip->width * job->clip->height;
    pixel_masks = g_malloc (plane * job->clip->n_frames);
    for (int t = 0; t < job->clip->n_frames; t++)
      memcpy (pixel_masks + plane * t, fa_mask_set_peek_frame (job->masks, t), plane);
    int pool = 8 * config->patch[1];
    token_mask = g_malloc ((gsize) latent_shape[0] * (job->clip->height / pool) * (job->clip->width / pool));
    if (!fa_edit_token_mask (pixel_masks, job->clip->n_frames, job->clip->height, job->clip->width,
                             job->params.mask_dilation, pool, token_mask, error))
      goto out;

    FaEditInputs inputs = {
      .x_source = latent,
      .source = prompts[0].text,
      .target = prompts[1].text,
      .negative = prompts[2].text,
      .target_real_rows = target_rows,
      .target_tokens = target_tokens,
      .n_target_tokens = n_target_tokens,
      .token_mask = token_mask,
    };
    FaEditOptions edit_options = { 0 };
    edit_options.step = on_step;
    edit_options.step_user_data = job;
    edit_options.cancellable = cancellable;
    begin_stage (job, FA_JOB_STAGE_EDIT, (guint) MIN (job->params.n_max, job->params.steps));
    if (!fa_edit_run (dit, &inputs, &job->params, &edit_options, edited, error))
      goto out;
    end_stage (job);

    /* back to pixels */
    begin_stage (job, FA_JOB_STAGE_DECODE_VIDEO, 0);
    decoded = fa_tensor_new (cpu, FA_DTYPE_F32, 5, video->shape, error);
    if (decoded == NULL || !fa_wan_vae_decode (vae, edited, decoded, &vae_options, error))
      goto out;
    job->result = fa_working_clip_copy (job->clip);
    for (int t = 0; t < job->clip->n_frames; t++)
      video_frame_to_rgb (fa_tensor_get_data (decoded), job->clip->n_frames, t, job->clip->width,
                          job->clip->height, fa_working_clip_frame (job->result, t));
    end_stage (job);
  }

  if (job->settings.output_path != NULL)
    {
      FaExportOptions export_options = job->settings.export_options;
      export_options.progress = report_units;
      export_options.progress_user_data = job;
      begin_stage (job, FA_JOB_STAGE_EXPORT, (guint) job->clip->n_frames);
      if (!fa_export (job->result, job->masks, job->settings.output_path, &export_options, cancellable, error))
        goto out;
      end_stage (job);
    }
  ok = TRUE;

out:
  for (int i = 0; i < 3; i++)
    encoded_prompt_clear (&prompts[i]);
  if (!ok)
    g_clear_pointer (&job->result, fa_working_clip_free);
  return ok;
}

gboolean
fa_job_run (FaJob *job, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (job != NULL, FALSE);

  if (g_cancellable_set_error_if_cancelled (cancellable, error) || !fa_job_check_memory (job, NULL, NULL, error))
    return FALSE;

  g_mutex_lock (&job->model->lock);
  g_clear_pointer (&job->clip, fa_working_clip_free);
  g_clear_pointer (&job->result, fa_working_clip_free);
  g_clear_pointer (&job->masks, fa_mask_set_free);
  memset (job->stage_seconds, 0, sizeof job->stage_seconds);
  job->start_us = g_get_monotonic_time ();
  gboolean ok = run_stages (job, cancellable, error);
  g_mutex_unlock (&job->model->lock);

  if (ok)
    g_info ("edit done in %.1f s", (g_get_monotonic_time () - job->start_us) / 1e6);
  return ok;
}

static void
run_in_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  GError *error = NULL;
  if (fa_job_run (task_data, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

void
fa_job_run_async (FaJob *job, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (job != NULL);

  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, fa_job_run_async);
  g_task_set_task_data (task, job, NULL);
  /* the job checks the cancellable itself, and must report its own error */
  g_task_set_return_on_cancel (task, FALSE);
  g_task_run_in_thread (task, run_in_thread);
}

gboolean
fa_job_run_finish (FaJob *job, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  (void) job;
  return g_task_propagate_boolean (G_TASK (result), error);
}

const FaWorkingClip *
fa_job_get_result (FaJob *job)
{
  return job->result;
}

const FaMaskSet *
fa_job_get_masks (FaJob *job)
{
  return job->masks;
}

double
fa_job_get_stage_seconds (FaJob *job, FaJobStage stage)
{
  g_return_val_if_fail (stage < FA_JOB_N_STAGES, 0.0);
  return job->stage_seconds[stage];
}
