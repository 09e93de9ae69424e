/* fa-job.h: one edit from a clip on disk to an edited clip, as the app and
 * the CLI run it: decode the working clip, propagate the masks if they are
 * stale, encode the prompts (through the prompt cache), VAE-encode, the
 * FlowAnchor steps, VAE-decode and optionally export. A job reports its
 * progress per stage, can hand out a live look at the edit every few
 * steps, checks its memory before it starts, and can be cancelled at any
 * point (within one DiT forward during the steps).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "fa-clip.h"
#include "fa-edit.h"
#include "fa-export.h"
#include "fa-mask.h"
#include "fa-prompt-cache.h"
#include "fa-tokenizer.h"
#include "fa-umt5.h"
#include "fa-wan-dit.h"
#include "fa-wan-vae.h"

G_BEGIN_DECLS

/* ---- the model: the four parts of a Wan2.1 T2V pipeline ---- */

typedef struct _FaModel FaModel;

/* Loads a diffusers pipeline folder (transformer/, text_encoder/,
 * tokenizer/, vae/). The DiT and the VAE go on @backend; the text encoder
 * on @text_backend (NULL: @backend), so a GPU short of memory can leave it
 * on the CPU. Errors name the part that failed. */
FaModel   *fa_model_load (const char *folder, FaBackend *backend, FaBackend *text_backend,
                          GError **error);
/* A model from parts already loaded (benchmarks with random weights);
 * takes ownership of them. @tokenizer and @text_encoder may be NULL for
 * a model that is only given encoded prompts. */
FaModel   *fa_model_new (FaWanDit *dit, FaUmt5 *text_encoder, FaTokenizer *tokenizer, FaWanVae *vae);
FaModel   *fa_model_ref (FaModel *model);
void       fa_model_unref (FaModel *model);
FaWanDit  *fa_model_get_dit (FaModel *model);
FaWanVae  *fa_model_get_vae (FaModel *model);
FaUmt5    *fa_model_get_text_encoder (FaModel *model);
FaTokenizer *fa_model_get_tokenizer (FaModel *model);

/* A working clip as the VAE takes it: a host f32 [1, 3, T, H, W] tensor
 * in [−1, 1]. */
FaTensor  *fa_working_clip_to_video (const FaWorkingClip *clip, GError **error);

/* Wan's default negative prompt (spec B.6, the original code's). */
extern const char fa_wan_default_negative_prompt[];

/* ---- jobs ---- */

typedef enum {
  FA_JOB_STAGE_DECODE_CLIP,
  FA_JOB_STAGE_PROPAGATE_MASKS,
  FA_JOB_STAGE_ENCODE_PROMPTS,
  FA_JOB_STAGE_ENCODE_VIDEO,
  FA_JOB_STAGE_EDIT,
  FA_JOB_STAGE_DECODE_VIDEO,
  FA_JOB_STAGE_EXPORT,
  FA_JOB_N_STAGES
} FaJobStage;

const char *fa_job_stage_get_name (FaJobStage stage); /* "decoding the clip", … */

typedef struct {
  FaJobStage stage;
  guint done, total;   /* units of the stage: frames, frame pairs, prompts, chunks, steps */
  double elapsed_s;    /* since the job started */
  double remaining_s;  /* estimate for the whole job; < 0 while unknown */
} FaJobProgress;

typedef void (*FaJobProgressFunc) (const FaJobProgress *progress, gpointer user_data);
/* A live look at the edit after step @step of @total: pixel frame 0 of the
 * current estimate, RGB @width × @height (packed rows), valid during the
 * call. */
typedef void (*FaJobLiveFunc) (int step, int total, const guint8 *rgb, int width, int height,
                               gpointer user_data);

typedef struct {
  char *clip_path;
  FaWorkingClipOptions working; /* progress fields ignored */
  /* The masks at the working size, keyframes set; propagated frames are
   * used as they are unless the keyframes changed since (then the job
   * propagates again). A preview at another size or length scales and
   * cuts the keyframes to fit. */
  FaMaskSet *masks;
  char *source_prompt, *target_prompt;
  char *negative_prompt;        /* NULL: fa_wan_default_negative_prompt */
  char **target_words;          /* NULL: the word diff decides J */
  FaEditParams params;
  /* Preview: @preview_steps steps (8) with n_max and n_min scaled to match,
   * and optionally half the working size and at most @preview_frames
   * frames (0: all). */
  gboolean preview;
  int preview_steps;
  gboolean preview_half_size;
  int preview_frames;
  int live_every;               /* steps between live looks; 0: none */
  char *output_path;            /* NULL: no export (the result stays in the job) */
  FaExportOptions export_options; /* progress fields ignored */
  gboolean vae_tiling;          /* encode and decode in 256-pixel tiles: less memory */
  guint64 memory_limit;         /* bytes the job may use on the device; 0: what is free there */
  FaPromptCache *prompt_cache;  /* may be NULL; a job borrows it (it must outlive the job),
                                 * fa_job_settings_clear frees it */
} FaJobSettings;

void     fa_job_settings_init (FaJobSettings *settings);
void     fa_job_settings_clear (FaJobSettings *settings);

typedef struct _FaJob FaJob;

/* Checks the settings (parameters in range, prompts given, a mask with a
 * keyframe) and copies them. */
FaJob   *fa_job_new (FaModel *model, const FaJobSettings *settings, GError **error);
void     fa_job_free (FaJob *job);

/* Callbacks run on @context (NULL: the thread running the job), posted so
 * that a GTK main loop receives them safely; progress is coalesced (the
 * latest wins) so a slow receiver never queues up work. */
void     fa_job_set_progress_func (FaJob *job, FaJobProgressFunc func, gpointer user_data,
                                   GMainContext *context);
void     fa_job_set_live_func (FaJob *job, FaJobLiveFunc func, gpointer user_data, GMainContext *context);

/* The device bytes the job needs beyond the loaded weights, and whether
 * that fits the backend's device: FA_ERROR_OUT_OF_MEMORY saying what to
 * change (fewer frames, a smaller size, the text encoder on the CPU, VAE
 * tiling) when it does not. fa_job_run checks it first. */
gboolean fa_job_check_memory (FaJob *job, guint64 *out_needed, guint64 *out_available,
                              GError **error);

/* Runs the whole job on the calling thread. G_IO_ERROR_CANCELLED when
 * @cancellable fires; any error leaves an existing output file untouched
 * and the model usable for the next job. */
gboolean fa_job_run (FaJob *job, GCancellable *cancellable, GError **error);
/* The same on a worker thread (GTask). */
void     fa_job_run_async (FaJob *job, GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data);
gboolean fa_job_run_finish (FaJob *job, GAsyncResult *result, GError **error);

/* After a successful run: the edited working clip, the masks used, and
 * the seconds each stage took. */
const FaWorkingClip *fa_job_get_result (FaJob *job);
const FaMaskSet     *fa_job_get_masks (FaJob *job);
double               fa_job_get_stage_seconds (FaJob *job, FaJobStage stage);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaModel, fa_model_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaJob, fa_job_free)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (FaJobSettings, fa_job_settings_clear)

G_END_DECLS
