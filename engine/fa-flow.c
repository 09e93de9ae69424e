/* fa-flow.c: dense optical flow, DIS-style (Kroeger et al., "Fast Optical
 * Flow using Dense Inverse Search", ECCV 2016): coarse to fine over an
 * image pyramid, each level runs
 *   1. inverse search: every patch on a regular grid descends (Gauss–Newton
 *      on a mean-normalised patch distance) from the coarser level's flow;
 *      then a second pass starts each patch from the best of its own and its
 *      four neighbours' vectors (spatial propagation, done as one parallel
 *      step so that CPU and CUDA run the same algorithm);
 *   2. densification: each pixel averages the vectors of the patches that
 *      cover it, weighted by how well each explains the pixel;
 *   3. variational refinement: robust brightness, gradient and smoothness
 *      terms, fixed-point iterations of red–black SOR;
 * and the result, upsampled, starts the next level.
 *
 * Deliberate differences from OpenCV's DISOpticalFlow, each measured
 * with tools/bench/flow: the patch descent takes full Gauss–Newton steps on
 * unit gradients (with the mean removed from the tensor too) and stops once
 * the step is tiny, where OpenCV's Sobel-scaled gradients make each step an
 * eighth of one; the refinement linearises with true central differences
 * (OpenCV's unscaled [−1 0 1] doubles the derivative and so halves every
 * increment); and the spatial propagation is the parallel step above
 * rather than a sequential sweep. The presets, the pyramid, the
 * densification weights and the refinement's energy, weights (α 20, δ 5,
 * γ 10) and solver (5 × 5 red–black SOR, ω 1.6) are DIS's.
 *
 * The stages are in kernels/cpu/fa-cpu-flow.c (split between threads here
 * by rows) and kernels/cuda/fa-cuda-flow.cu. Every buffer is planned in
 * fa_flow_new as one allocation on the backend; a compute allocates
 * nothing.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-flow"

#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/fa-cpu-flow.h"
#include "fa-backend-private.h"
#include "fa-error.h"
#include "fa-flow.h"

#if FA_HAVE_CUDA
#include "cuda/fa-cuda-flow.h"
#endif

#define MAX_LEVELS 16
#define MAX_THREADS 8
#define MAX_PATCH_SIZE 32
#define MAX_SIDE 16384
/* Smaller stages run on the calling thread: waking the workers costs more. */
#define MIN_PARALLEL_PIXELS 16384
#define SOR_ITERATIONS 5
#define SOR_OMEGA 1.6f
#define VAR_ZETA 0.1f
#define VAR_EPSILON 0.001f
#define ALIGNMENT 256

void
fa_flow_params_init (FaFlowParams *params, FaFlowPreset preset)
{
  g_return_if_fail (params != NULL);

  /* FAST and MEDIUM are OpenCV's presets of the same names. FINE searches
   * at full resolution with a denser grid: about 4× MEDIUM's patches and
   * 4× its refinement work, for small motions and sharp detail. */
  *params = (FaFlowParams) {
    .finest_scale = 1,
    .patch_size = 8,
    .patch_stride = 3,
    .gd_iterations = 25,
    .var_iterations = 5,
    .var_alpha = 20.0f,
    .var_delta = 5.0f,
    .var_gamma = 10.0f,
  };
  switch (preset)
    {
    case FA_FLOW_PRESET_FAST:
      params->finest_scale = 2;
      params->patch_stride = 4;
      params->gd_iterations = 16;
      break;
    case FA_FLOW_PRESET_FINE:
      params->finest_scale = 0;
      params->patch_stride = 3;
      params->gd_iterations = 25;
      break;
    case FA_FLOW_PRESET_MEDIUM:
    default:
      break;
    }
}

/* ---- the worker threads ----
 * Started once with the plan and parked between stages; a stage wakes
 * them with a new generation number, each takes its share of the rows,
 * and the caller waits until all are done. No allocation per stage. */

typedef enum {
  STAGE_GREY0,
  STAGE_GREY1,
  STAGE_DOWNSAMPLE,
  STAGE_PAD,
  STAGE_GRADIENT,
  STAGE_TENSOR,
  STAGE_FIRST,
  STAGE_SECOND,
  STAGE_DENSIFY,
  STAGE_WARP,
  STAGE_DERIV,
  STAGE_DERIV2,
  STAGE_SMOOTH,
  STAGE_SYSTEM,
  STAGE_SOR,
  STAGE_UPDATE,
  STAGE_UPSAMPLE,
  STAGE_OUTPUT,
} Stage;

typedef struct {
  Stage stage;
  int level;
  int arg; /* SOR colour, final update, iterations */
} StageCall;

struct _FaFlow {
  FaBackend *backend;
  gboolean on_cuda;
  FaFlowParams params;
  FaFlowVarParams var_params;
  int width, height;
  int finest, coarsest;
  FaFlowLevel levels[MAX_LEVELS];

  /* One block on the backend's device, carved into the buffers below. */
  gpointer block;
  gsize block_size;
  float *i0[MAX_LEVELS], *i1[MAX_LEVELS];
  float *ext[MAX_LEVELS], *gx[MAX_LEVELS], *gy[MAX_LEVELS];
  float *u[MAX_LEVELS], *v[MAX_LEVELS];
  float *tensors, *first_u, *first_v, *second_u, *second_v;
  float *density; /* densification's weights (CPU) */
  FaFlowVar var;
  guint8 *rgb0, *rgb1; /* device copies of the frames (CUDA) */
  float *out;          /* device copy of the result (CUDA) */

  /* the frames of the call in progress (CPU) */
  const guint8 *frame0, *frame1;
  float *host_out;

  /* workers (CPU) */
  int n_threads;
  GThread *threads[MAX_THREADS];
  GMutex lock;
  GCond wake, done;
  gint generation;
  gint pending;
  gboolean quit;
  StageCall call;
  int call_rows;
};

static const FaFlowLevel *
level_of (FaFlow *self, int s)
{
  return &self->levels[s];
}

static void
run_rows (FaFlow *self, const StageCall *call, int y0, int y1)
{
  const int s = call->level;
  const FaFlowLevel *lv = level_of (self, s);

  switch (call->stage)
    {
    case STAGE_GREY0:
      fa_cpu_flow_grey (self->frame0, self->i0[0], self->width, y0, y1);
      break;
    case STAGE_GREY1:
      fa_cpu_flow_grey (self->frame1, self->i1[0], self->width, y0, y1);
      break;
    case STAGE_DOWNSAMPLE:
      fa_cpu_flow_downsample (self->i0[s - 1], self->levels[s - 1].width, self->i0[s], lv->width,
                              y0, y1);
      fa_cpu_flow_downsample (self->i1[s - 1], self->levels[s - 1].width, self->i1[s], lv->width,
                              y0, y1);
      break;
    case STAGE_PAD:
      fa_cpu_flow_pad (self->i1[s], lv, self->ext[s], y0, y1);
      break;
    case STAGE_GRADIENT:
      fa_cpu_flow_gradient (self->i0[s], lv->width, lv->height, self->gx[s], self->gy[s], y0, y1);
      break;
    case STAGE_TENSOR:
      fa_cpu_flow_patch_tensor (self->gx[s], self->gy[s], lv, self->tensors, y0, y1);
      break;
    case STAGE_FIRST:
      fa_cpu_flow_patch_first (self->i0[s], self->gx[s], self->gy[s], self->ext[s], lv,
                               self->tensors, self->u[s], self->v[s], call->arg, self->first_u,
                               self->first_v, y0, y1);
      break;
    case STAGE_SECOND:
      fa_cpu_flow_patch_second (self->i0[s], self->gx[s], self->gy[s], self->ext[s], lv,
                                self->tensors, self->first_u, self->first_v, call->arg,
                                self->second_u, self->second_v, y0, y1);
      break;
    case STAGE_DENSIFY:
      fa_cpu_flow_densify (self->i0[s], self->ext[s], lv, self->second_u, self->second_v,
                           self->u[s], self->v[s], self->density, y0, y1);
      break;
    case STAGE_WARP:
      fa_cpu_flow_var_warp (self->i0[s], self->ext[s], lv, self->u[s], self->v[s], &self->var, y0,
                            y1);
      break;
    case STAGE_DERIV:
      fa_cpu_flow_var_deriv (lv, self->u[s], self->v[s], &self->var, y0, y1);
      break;
    case STAGE_DERIV2:
      fa_cpu_flow_var_deriv2 (lv, &self->var, y0, y1);
      break;
    case STAGE_SMOOTH:
      fa_cpu_flow_var_smooth (lv, &self->var, &self->var_params, y0, y1);
      break;
    case STAGE_SYSTEM:
      fa_cpu_flow_var_system (lv, self->u[s], self->v[s], &self->var, &self->var_params, y0, y1);
      break;
    case STAGE_SOR:
      fa_cpu_flow_var_sor (lv, &self->var, SOR_OMEGA, call->arg, y0, y1);
      break;
    case STAGE_UPDATE:
      fa_cpu_flow_var_update (lv, self->u[s], self->v[s], &self->var, call->arg, y0, y1);
      break;
    case STAGE_UPSAMPLE:
      fa_cpu_flow_resize (self->u[s], self->v[s], lv->width, lv->height, self->u[s - 1],
                          self->v[s - 1], NULL, self->levels[s - 1].width,
                          self->levels[s - 1].height, 2.0f, y0, y1);
      break;
    case STAGE_OUTPUT:
      fa_cpu_flow_resize (self->u[s], self->v[s], lv->width, lv->height, NULL, NULL,
                          self->host_out, self->width, self->height, (float) (1 << s), y0, y1);
      break;
    }
}

/* How long a thread spins on the next stage or the end of the current one
 * before it sleeps: stages follow each other every few tens of
 * microseconds, and waking a sleeping thread costs about as much. */
#define SPIN_MICROSECONDS 200

static gboolean
spin_until_changed (const gint *value, gint from, const gboolean *quit)
{
  gint64 deadline = 0;

  for (guint k = 1;; k++)
    {
      if (g_atomic_int_get (value) != from || g_atomic_int_get (quit))
        return TRUE;
      if (k % 256 == 0)
        {
          gint64 now = g_get_monotonic_time ();
          if (deadline == 0)
            deadline = now + SPIN_MICROSECONDS;
          else if (now > deadline)
            return FALSE;
        }
    }
}

static gboolean
spin_until_zero (const gint *value)
{
  gint64 deadline = 0;

  for (guint k = 1;; k++)
    {
      if (g_atomic_int_get (value) == 0)
        return TRUE;
      if (k % 256 == 0)
        {
          gint64 now = g_get_monotonic_time ();
          if (deadline == 0)
            deadline = now + SPIN_MICROSECONDS;
          else if (now > deadline)
            return FALSE;
        }
    }
}

static gpointer
worker_main (gpointer data)
{
  FaFlow *self = data;
  int index;

  g_mutex_lock (&self->lock);
  /* the index is this thread's place in threads[], which the creator
   * filled before releasing the lock; workers take chunks 1..n−1 */
  for (index = 0; index < self->n_threads - 1; index++)
    if (self->threads[index] == g_thread_self ())
      break;
  index += 1;
  g_mutex_unlock (&self->lock);

  /* not the current generation but 0: a stage may have started before
   * this thread first ran, and it must take its share of that one too */
  gint seen = 0;
  for (;;)
    {
      if (!spin_until_changed (&self->generation, seen, &self->quit))
        {
          g_mutex_lock (&self->lock);
          while (g_atomic_int_get (&self->generation) == seen && !g_atomic_int_get (&self->quit))
            g_cond_wait (&self->wake, &self->lock);
          g_mutex_unlock (&self->lock);
        }
      if (g_atomic_int_get (&self->quit))
        break;
      seen = g_atomic_int_get (&self->generation);
      /* written before the generation moved on (a full barrier) */
      StageCall call = self->call;
      int rows = self->call_rows;

      int y0 = (int) ((gint64) rows * index / self->n_threads);
      int y1 = (int) ((gint64) rows * (index + 1) / self->n_threads);
      if (y0 < y1)
        run_rows (self, &call, y0, y1);

      if (g_atomic_int_dec_and_test (&self->pending))
        {
          g_mutex_lock (&self->lock);
          g_cond_signal (&self->done);
          g_mutex_unlock (&self->lock);
        }
    }
  return NULL;
}

/* Runs @stage over @rows rows (of pixels or patches), split between the
 * threads when the work is big enough. */
static void
run_cpu (FaFlow *self, Stage stage, int level, int arg, int rows, int row_pixels)
{
  StageCall call = { stage, level, arg };

  if (self->n_threads <= 1 || (gint64) rows * row_pixels < MIN_PARALLEL_PIXELS || rows < 2)
    {
      run_rows (self, &call, 0, rows);
      return;
    }
  self->call = call;
  self->call_rows = rows;
  g_atomic_int_set (&self->pending, self->n_threads - 1);
  g_mutex_lock (&self->lock);
  g_atomic_int_inc (&self->generation);
  g_cond_broadcast (&self->wake);
  g_mutex_unlock (&self->lock);

  run_rows (self, &call, 0, (int) ((gint64) rows / self->n_threads));

  if (!spin_until_zero (&self->pending))
    {
      g_mutex_lock (&self->lock);
      while (g_atomic_int_get (&self->pending) > 0)
        g_cond_wait (&self->done, &self->lock);
      g_mutex_unlock (&self->lock);
    }
}

/* ---- planning ---- */

static gboolean
check_params (const FaFlowParams *p, GError **error)
{
  const char *problem = NULL;

  if (p->patch_size < 4 || p->patch_size > MAX_PATCH_SIZE)
    problem = "patch_size must be 4 to 32 pixels";
  else if (p->patch_stride < 1 || p->patch_stride > p->patch_size)
    problem = "patch_stride must be 1 to patch_size pixels";
  else if (p->finest_scale < 0 || p->finest_scale >= MAX_LEVELS)
    problem = "finest_scale must be 0 to 15";
  else if (p->gd_iterations < 1 || p->gd_iterations > 1000)
    problem = "gd_iterations must be 1 to 1000";
  else if (p->var_iterations < 0 || p->var_iterations > 1000)
    problem = "var_iterations must be 0 to 1000";
  else if (!(p->var_alpha >= 0.0f) || !(p->var_delta >= 0.0f) || !(p->var_gamma >= 0.0f) ||
           !isfinite (p->var_alpha) || !isfinite (p->var_delta) || !isfinite (p->var_gamma))
    problem = "var_alpha, var_delta and var_gamma must be finite and not negative";
  if (problem == NULL)
    return TRUE;
  g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "optical flow parameters: %s", problem);
  return FALSE;
}

/* The coarsest level, as OpenCV's DIS picks it: about log2(max side / (4 ·
 * patch size)) so that the coarsest search covers motions up to a quarter
 * of the frame, but never a level whose shorter side is under one patch. */
static int
pick_coarsest (int width, int height, int patch_size, int finest)
{
  int longer = MAX (width, height), shorter = MIN (width, height);
  int by_motion = (int) (log2 ((double) longer / (4.0 * patch_size)) + 0.5);
  int by_size = shorter / patch_size >= 1 ? (int) log2 ((double) (shorter / patch_size)) : 0;
  int coarsest = MIN (by_motion, by_size);

  coarsest = MIN (coarsest, MAX_LEVELS - 1);
  return MAX (coarsest, finest);
}

static gsize
round_up (gsize size)
{
  return (size + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
}

/* Lays the buffers out from @base (NULL: only measures); returns the size. */
static gsize
carve (FaFlow *self, guint8 *base)
{
  gsize offset = 0;
  const FaFlowLevel *fine = level_of (self, self->finest);
  const gsize fine_pixels = (gsize) fine->width * fine->height;
  const gsize patches = (gsize) fine->patches_x * fine->patches_y;

#define TAKE(ptr, type, count)                                                 \
  G_STMT_START {                                                               \
    (ptr) = base != NULL ? (type *) (base + offset) : NULL;                    \
    offset += round_up (sizeof (type) * (gsize) (count));                      \
  } G_STMT_END

  for (int s = 0; s <= self->coarsest; s++)
    {
      const FaFlowLevel *lv = level_of (self, s);
      const gsize pixels = (gsize) lv->width * lv->height;
      TAKE (self->i0[s], float, pixels);
      TAKE (self->i1[s], float, pixels);
      if (s < self->finest)
        continue;
      TAKE (self->ext[s], float, (gsize) lv->ext_width * (lv->height + 2 * lv->border));
      TAKE (self->gx[s], float, pixels);
      TAKE (self->gy[s], float, pixels);
      TAKE (self->u[s], float, pixels);
      TAKE (self->v[s], float, pixels);
    }
  TAKE (self->tensors, float, patches * FA_FLOW_TENSOR_SIZE);
  TAKE (self->first_u, float, patches);
  TAKE (self->first_v, float, patches);
  TAKE (self->second_u, float, patches);
  TAKE (self->second_v, float, patches);
  if (!self->on_cuda)
    TAKE (self->density, float, fine_pixels);
  if (self->params.var_iterations > 0)
    {
      float **fields[] = {
        &self->var.ix, &self->var.iy, &self->var.iz, &self->var.ixx, &self->var.ixy,
        &self->var.iyy, &self->var.ixz, &self->var.iyz, &self->var.avg, &self->var.inv_a11,
        &self->var.a12, &self->var.inv_a22, &self->var.b1, &self->var.b2, &self->var.smooth,
        &self->var.du, &self->var.dv, &self->var.tu, &self->var.tv,
      };
      for (gsize k = 0; k < G_N_ELEMENTS (fields); k++)
        TAKE (*fields[k], float, fine_pixels);
    }
  if (self->on_cuda)
    {
      const gsize frame = (gsize) self->width * self->height;
      TAKE (self->rgb0, guint8, frame * 3);
      TAKE (self->rgb1, guint8, frame * 3);
      TAKE (self->out, float, frame * 2);
    }
#undef TAKE
  return offset;
}

static gboolean
plan_levels (FaFlow *self, GError **error)
{
  const FaFlowParams *p = &self->params;
  int w = self->width, h = self->height;

  for (int s = 0; s < MAX_LEVELS; s++)
    {
      FaFlowLevel *lv = &self->levels[s];
      lv->width = w;
      lv->height = h;
      lv->patch_size = p->patch_size;
      lv->stride = p->patch_stride;
      lv->border = p->patch_size + 1;
      lv->ext_width = w + 2 * lv->border;
      lv->patches_x = w >= p->patch_size ? 1 + (w - p->patch_size) / p->patch_stride : 0;
      lv->patches_y = h >= p->patch_size ? 1 + (h - p->patch_size) / p->patch_stride : 0;
      w = MAX (w / 2, 1);
      h = MAX (h / 2, 1);
    }

  const FaFlowLevel *fine = &self->levels[p->finest_scale];
  if (fine->patches_x < 1 || fine->patches_y < 1)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "optical flow: a %d×%d frame is too small for %d-pixel patches at scale %d "
                   "(%d×%d there); it needs at least %d pixels on each side",
                   self->width, self->height, p->patch_size, p->finest_scale, fine->width,
                   fine->height, p->patch_size << p->finest_scale);
      return FALSE;
    }
  self->finest = p->finest_scale;
  self->coarsest = pick_coarsest (self->width, self->height, p->patch_size, self->finest);
  while (self->coarsest > self->finest && (self->levels[self->coarsest].patches_x < 1 ||
                                           self->levels[self->coarsest].patches_y < 1))
    self->coarsest--;
  return TRUE;
}

FaFlow *
fa_flow_new (FaBackend *backend, int width, int height, const FaFlowParams *params,
             GError **error)
{
  FaFlowParams defaults;

  if (backend == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "optical flow: no backend given");
      return NULL;
    }
  if (width <= 0 || height <= 0 || width > MAX_SIDE || height > MAX_SIDE)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "optical flow: frame size %d×%d is not one it takes (1 to %d pixels a side)",
                   width, height, MAX_SIDE);
      return NULL;
    }
  if (params == NULL)
    {
      fa_flow_params_init (&defaults, FA_FLOW_PRESET_MEDIUM);
      params = &defaults;
    }
  if (!check_params (params, error))
    return NULL;

  g_autoptr (FaFlow) self = g_new0 (FaFlow, 1);
  self->backend = fa_backend_ref (backend);
  self->on_cuda = fa_backend_get_device (backend) == FA_DEVICE_CUDA;
  self->params = *params;
  self->width = width;
  self->height = height;
  self->var_params = (FaFlowVarParams) {
    .alpha = params->var_alpha,
    .delta = params->var_delta,
    .gamma = params->var_gamma,
    .omega = SOR_OMEGA,
    .zeta = VAR_ZETA,
    .epsilon = VAR_EPSILON,
  };
  g_mutex_init (&self->lock);
  g_cond_init (&self->wake);
  g_cond_init (&self->done);
  self->n_threads = 1;

#if !FA_HAVE_CUDA
  if (self->on_cuda)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,
                   "optical flow: this build has no CUDA flow kernels");
      return NULL;
    }
#endif

  if (!plan_levels (self, error))
    return NULL;

  self->block_size = carve (self, NULL);
  self->block = fa_backend_alloc (backend, self->block_size, error);
  if (self->block == NULL)
    {
      g_prefix_error (error, "optical flow buffers for %d×%d frames: ", width, height);
      return NULL;
    }
  carve (self, self->block);

  if (!self->on_cuda)
    {
      /* FA_FLOW_THREADS caps the threads (benchmarks compare one thread). */
      int n = (int) g_get_num_processors ();
      const char *env = g_getenv ("FA_FLOW_THREADS");
      if (env != NULL && atoi (env) > 0)
        n = atoi (env);
      n = CLAMP (n, 1, MAX_THREADS);
      for (int k = 0; k < n - 1; k++)
        {
          g_autofree char *name = g_strdup_printf ("fa-flow-%d", k + 1);
          g_mutex_lock (&self->lock);
          self->threads[k] = g_thread_new (name, worker_main, self);
          self->n_threads = k + 2;
          g_mutex_unlock (&self->lock);
        }
    }
  g_debug ("optical flow %d×%d: scales %d to %d, %d threads", width, height, self->finest,
           self->coarsest, self->n_threads);
  return g_steal_pointer (&self);
}

void
fa_flow_free (FaFlow *self)
{
  if (self == NULL)
    return;
  g_mutex_lock (&self->lock);
  g_atomic_int_set (&self->quit, TRUE);
  g_cond_broadcast (&self->wake);
  g_mutex_unlock (&self->lock);
  for (int k = 0; k < self->n_threads - 1; k++)
    g_thread_join (self->threads[k]);
  if (self->block != NULL)
    fa_backend_free (self->backend, self->block, self->block_size);
  if (self->backend != NULL)
    fa_backend_unref (self->backend);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->wake);
  g_cond_clear (&self->done);
  g_free (self);
}

/* ---- computing ---- */

static void
compute_cpu (FaFlow *self)
{
  const FaFlowParams *p = &self->params;

  run_cpu (self, STAGE_GREY0, 0, 0, self->height, self->width);
  run_cpu (self, STAGE_GREY1, 0, 0, self->height, self->width);
  for (int s = 1; s <= self->coarsest; s++)
    run_cpu (self, STAGE_DOWNSAMPLE, s, 0, self->levels[s].height, self->levels[s].width);
  for (int s = self->finest; s <= self->coarsest; s++)
    {
      const FaFlowLevel *lv = level_of (self, s);
      run_cpu (self, STAGE_PAD, s, 0, lv->height + 2 * lv->border, lv->ext_width);
      run_cpu (self, STAGE_GRADIENT, s, 0, lv->height, lv->width);
    }

  const FaFlowLevel *top = level_of (self, self->coarsest);
  memset (self->u[self->coarsest], 0, sizeof (float) * top->width * top->height);
  memset (self->v[self->coarsest], 0, sizeof (float) * top->width * top->height);

  for (int s = self->coarsest; s >= self->finest; s--)
    {
      const FaFlowLevel *lv = level_of (self, s);
      /* a patch costs about patch_size² pixels per iteration */
      const int patch_row_work = lv->patches_x * p->patch_size * p->patch_size;

      run_cpu (self, STAGE_TENSOR, s, 0, lv->patches_y, patch_row_work);
      run_cpu (self, STAGE_FIRST, s, p->gd_iterations / 2, lv->patches_y, patch_row_work);
      run_cpu (self, STAGE_SECOND, s, p->gd_iterations - p->gd_iterations / 2, lv->patches_y,
               patch_row_work);
      run_cpu (self, STAGE_DENSIFY, s, 0, lv->height, lv->width);
      if (p->var_iterations > 0)
        {
          run_cpu (self, STAGE_WARP, s, 0, lv->height, lv->width);
          run_cpu (self, STAGE_DERIV, s, 0, lv->height, lv->width);
          run_cpu (self, STAGE_DERIV2, s, 0, lv->height, lv->width);
          for (int it = 0; it < p->var_iterations; it++)
            {
              run_cpu (self, STAGE_SMOOTH, s, 0, lv->height, lv->width);
              run_cpu (self, STAGE_SYSTEM, s, 0, lv->height, lv->width);
              for (int k = 0; k < SOR_ITERATIONS; k++)
                {
                  run_cpu (self, STAGE_SOR, s, 0, lv->height, lv->width / 2);
                  run_cpu (self, STAGE_SOR, s, 1, lv->height, lv->width / 2);
                }
              run_cpu (self, STAGE_UPDATE, s, it == p->var_iterations - 1, lv->height, lv->width);
            }
        }
      if (s > self->finest)
        run_cpu (self, STAGE_UPSAMPLE, s, 0, self->levels[s - 1].height,
                 self->levels[s - 1].width);
    }
  run_cpu (self, STAGE_OUTPUT, self->finest, 0, self->height, self->width);
}

#if FA_HAVE_CUDA
static gboolean
launched (cudaError_t status, const char *stage, GError **error)
{
  if (status == cudaSuccess)
    return TRUE;
  (void) cudaGetLastError ();
  g_set_error (error, FA_ERROR, FA_ERROR_BACKEND, "optical flow: CUDA %s failed: %s (%s)", stage,
               cudaGetErrorString (status), cudaGetErrorName (status));
  return FALSE;
}

#define LAUNCH(call, stage)                                                    \
  G_STMT_START {                                                               \
    if (!launched ((call), (stage), error))                                    \
      return FALSE;                                                            \
  } G_STMT_END

static gboolean
compute_cuda (FaFlow *self, const guint8 *frame0, const guint8 *frame1, float *out, GError **error)
{
  const FaFlowParams *p = &self->params;
  const gsize frame_bytes = (gsize) self->width * self->height * 3;
  gpointer stream_ptr;

  if (!_fa_backend_cuda_enter (self->backend, &stream_ptr, error))
    return FALSE;
  cudaStream_t stream = stream_ptr;
  FaBackend *b = self->backend;
  if (!b->ops->copy (b, self->rgb0, FA_DEVICE_CUDA, frame0, FA_DEVICE_CPU, frame_bytes, error) ||
      !b->ops->copy (b, self->rgb1, FA_DEVICE_CUDA, frame1, FA_DEVICE_CPU, frame_bytes, error))
    return FALSE;

  LAUNCH (fa_cuda_flow_grey (self->rgb0, self->i0[0], self->width, self->height, stream), "grey");
  LAUNCH (fa_cuda_flow_grey (self->rgb1, self->i1[0], self->width, self->height, stream), "grey");
  for (int s = 1; s <= self->coarsest; s++)
    {
      const FaFlowLevel *lv = level_of (self, s);
      const int sw = self->levels[s - 1].width;
      LAUNCH (fa_cuda_flow_downsample (self->i0[s - 1], sw, self->i0[s], lv->width, lv->height,
                                       stream), "downsample");
      LAUNCH (fa_cuda_flow_downsample (self->i1[s - 1], sw, self->i1[s], lv->width, lv->height,
                                       stream), "downsample");
    }
  for (int s = self->finest; s <= self->coarsest; s++)
    {
      const FaFlowLevel *lv = level_of (self, s);
      LAUNCH (fa_cuda_flow_pad (self->i1[s], lv, self->ext[s], stream), "pad");
      LAUNCH (fa_cuda_flow_gradient (self->i0[s], lv->width, lv->height, self->gx[s], self->gy[s],
                                     stream), "gradient");
    }
  const FaFlowLevel *top = level_of (self, self->coarsest);
  const gsize top_bytes = sizeof (float) * top->width * top->height;
  LAUNCH (cudaMemsetAsync (self->u[self->coarsest], 0, top_bytes, stream), "memset");
  LAUNCH (cudaMemsetAsync (self->v[self->coarsest], 0, top_bytes, stream), "memset");

  for (int s = self->coarsest; s >= self->finest; s--)
    {
      const FaFlowLevel *lv = level_of (self, s);
      LAUNCH (fa_cuda_flow_patch_tensor (self->gx[s], self->gy[s], lv, self->tensors, stream),
              "patch tensor");
      LAUNCH (fa_cuda_flow_patch_first (self->i0[s], self->gx[s], self->gy[s], self->ext[s], lv,
                                        self->tensors, self->u[s], self->v[s],
                                        p->gd_iterations / 2, self->first_u, self->first_v,
                                        stream), "patch search");
      LAUNCH (fa_cuda_flow_patch_second (self->i0[s], self->gx[s], self->gy[s], self->ext[s], lv,
                                         self->tensors, self->first_u, self->first_v,
                                         p->gd_iterations - p->gd_iterations / 2, self->second_u,
                                         self->second_v, stream), "patch search");
      LAUNCH (fa_cuda_flow_densify (self->i0[s], self->ext[s], lv, self->second_u, self->second_v,
                                    self->u[s], self->v[s], stream), "densification");
      if (p->var_iterations > 0)
        {
          LAUNCH (fa_cuda_flow_var_warp (self->i0[s], self->ext[s], lv, self->u[s], self->v[s],
                                         &self->var, stream), "warp");
          LAUNCH (fa_cuda_flow_var_deriv (lv, self->u[s], self->v[s], &self->var, stream),
                  "derivatives");
          LAUNCH (fa_cuda_flow_var_deriv2 (lv, &self->var, stream), "derivatives");
          for (int it = 0; it < p->var_iterations; it++)
            {
              LAUNCH (fa_cuda_flow_var_smooth (lv, &self->var, &self->var_params, stream),
                      "smoothness");
              LAUNCH (fa_cuda_flow_var_system (lv, self->u[s], self->v[s], &self->var,
                                               &self->var_params, stream), "system");
              for (int k = 0; k < SOR_ITERATIONS; k++)
                {
                  LAUNCH (fa_cuda_flow_var_sor (lv, &self->var, SOR_OMEGA, 0, stream), "SOR");
                  LAUNCH (fa_cuda_flow_var_sor (lv, &self->var, SOR_OMEGA, 1, stream), "SOR");
                }
              LAUNCH (fa_cuda_flow_var_update (lv, self->u[s], self->v[s], &self->var,
                                               it == p->var_iterations - 1, stream), "update");
            }
        }
      if (s > self->finest)
        LAUNCH (fa_cuda_flow_resize (self->u[s], self->v[s], lv->width, lv->height,
                                     self->u[s - 1], self->v[s - 1], NULL,
                                     self->levels[s - 1].width, self->levels[s - 1].height, 2.0f,
                                     stream), "upsample");
    }
  const FaFlowLevel *fine = level_of (self, self->finest);
  LAUNCH (fa_cuda_flow_resize (self->u[self->finest], self->v[self->finest], fine->width,
                               fine->height, NULL, NULL, self->out, self->width, self->height,
                               (float) (1 << self->finest), stream), "output");
  /* the copy to the host waits for the stream; a fault in any kernel above
   * shows here */
  if (!b->ops->copy (b, out, FA_DEVICE_CPU, self->out, FA_DEVICE_CUDA,
                     sizeof (float) * 2 * self->width * self->height, error))
    {
      g_prefix_error (error, "optical flow: ");
      return FALSE;
    }
  return TRUE;
}
#undef LAUNCH
#endif

gboolean
fa_flow_compute (FaFlow *self, const guint8 *frame0, const guint8 *frame1, float *out,
                 GError **error)
{
  if (self == NULL || frame0 == NULL || frame1 == NULL || out == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "optical flow: %s is NULL",
                   self == NULL     ? "the flow plan"
                   : frame0 == NULL ? "frame 0"
                   : frame1 == NULL ? "frame 1"
                                    : "the output");
      return FALSE;
    }
#if FA_HAVE_CUDA
  if (self->on_cuda)
    return compute_cuda (self, frame0, frame1, out, error);
#endif
  self->frame0 = frame0;
  self->frame1 = frame1;
  self->host_out = out;
  compute_cpu (self);
  self->frame0 = self->frame1 = NULL;
  self->host_out = NULL;
  return TRUE;
}
