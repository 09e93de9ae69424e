/* fa-edit.c: the FlowAnchor sampler (shared/spec/flowanchor-method.md):
 * FlowEdit on the Wan DiT with SAR in the target-conditional
 * cross-attention and AMM on the editing direction, computed as the
 * reference oracle computes it (tools/reference/flowanchor_ref.py and the
 * choices of tools/reference/docs/edit.md).
 *
 * The latents of the loop live on the DiT's device and are allocated once
 * before the first step; the element-wise formulas, the noise and SAR run
 * as kernels there (kernels/cpu/fa-cpu-edit.c, kernels/cuda/fa-cuda-edit.cu).
 * AMM needs two reductions over a small latent and runs on the host.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-edit"

#include "config.h"

#include <math.h>
#include <string.h>

#include "cpu/fa-cpu-edit.h"
#include "fa-backend-private.h"
#include "fa-edit.h"
#include "fa-error.h"

#if FA_HAVE_CUDA
#include "cuda/fa-cuda-edit.h"
#endif

/* ---- parameters ---- */

void
fa_edit_params_init (FaEditParams *params)
{
  g_return_if_fail (params != NULL);

  *params = (FaEditParams) {
    .steps = 25,
    .n_max = 23,
    .n_min = 0,
    .n_avg = 1,
    .shift = 5.0f,
    .cfg_source = 5.0f,
    .cfg_target = 10.0f,
    .sar = TRUE,
    .tau = 0.6f,
    .beta1 = 0.3f,
    .beta2 = 0.3f,
    .amm = TRUE,
    .gamma = 1.0f,
    .gamma_frames = 21,
    .mask_dilation = 2,
    .blend_background = FALSE,
    .blend_strength = 1.0f,
    .seed = 0,
  };
}

static gboolean
check_int (const char *name, int value, int lo, int hi, GError **error)
{
  if (value >= lo && value <= hi)
    return TRUE;
  g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
               "edit parameter %s is %d; it must be in [%d, %d]", name, value, lo, hi);
  return FALSE;
}

static gboolean
check_float (const char *name, float value, float lo, float hi, GError **error)
{
  /* written so that NaN fails too */
  if (value >= lo && value <= hi)
    return TRUE;
  g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
               "edit parameter %s is %g; it must be in [%g, %g]", name, (double) value, (double) lo,
               (double) hi);
  return FALSE;
}

gboolean
fa_edit_params_check (const FaEditParams *p, GError **error)
{
  if (p == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "edit parameters: none given");
      return FALSE;
    }
  return check_int ("steps", p->steps, 1, 1000, error) &&
         check_int ("n_max", p->n_max, 1, p->steps, error) &&
         check_int ("n_min", p->n_min, 0, p->n_max, error) &&
         check_int ("n_avg", p->n_avg, 1, 32, error) &&
         check_float ("shift", p->shift, 1.0f, 100.0f, error) &&
         check_float ("cfg_source", p->cfg_source, 0.0f, 50.0f, error) &&
         check_float ("cfg_target", p->cfg_target, 0.0f, 50.0f, error) &&
         check_float ("tau", p->tau, 0.0f, 1.0f, error) &&
         check_float ("beta1", p->beta1, 0.0f, 1.0f, error) &&
         check_float ("beta2", p->beta2, 0.0f, 1.0f, error) &&
         check_float ("gamma", p->gamma, 0.0f, 10.0f, error) &&
         check_int ("gamma_frames", p->gamma_frames, 2, 1000, error) &&
         check_int ("mask_dilation", p->mask_dilation, 0, 64, error) &&
         check_float ("blend_strength", p->blend_strength, 0.0f, 1.0f, error);
}

/* ---- the schedule ---- */

void
fa_edit_sigmas (int steps, float shift, float *sigmas)
{
  g_return_if_fail (steps >= 1 && sigmas != NULL);

  /* linspace(1, 0, steps + 1) as torch evaluates it in double: from the
   * start for the first half, from the end for the second */
  const int count = steps + 1;
  const double step = -1.0 / (double) (count - 1);
  const double k = (double) shift;
  for (int i = 0; i < steps; i++)
    {
      double s = i < count / 2 ? 1.0 + step * i : 0.0 - step * (double) (count - i - 1);
      sigmas[i] = (float) (k * s / (1.0 + (k - 1.0) * s));
    }
  sigmas[steps] = 0.0f;
}

/* ---- the mask on the token grid ---- */

gboolean
fa_edit_token_mask (const guint8 *masks, int n_frames, int height, int width, int dilation, int pool,
                    guint8 *token_mask, GError **error)
{
  if (masks == NULL || token_mask == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "token mask: no %s given",
                   masks == NULL ? "pixel masks" : "output");
      return FALSE;
    }
  if (pool < 1 || n_frames < 1 || (n_frames - 1) % 4 != 0 || height < pool || width < pool ||
      height % pool != 0 || width % pool != 0 || dilation < 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "token mask: %d frames of %d×%d pixels, pool %d, dilation %d do not fit; it "
                   "takes 1 + 4k frames, sides that are multiples of the pool and a dilation ≥ 0",
                   n_frames, width, height, pool, dilation);
      return FALSE;
    }

  const int latent_frames = (n_frames - 1) / 4 + 1;
  const int th = height / pool, tw = width / pool;
  const gsize frame_size = (gsize) height * width;

  /* A square dilation by d followed by a max-pool is a max over the pool
   * window grown by d on each side (clipped to the frame): no dilated copy
   * of the masks is needed. */
  for (int f = 0; f < latent_frames; f++)
    {
      const int first = f == 0 ? 0 : 4 * f - 3, last = f == 0 ? 0 : 4 * f;
      for (int y = 0; y < th; y++)
        for (int x = 0; x < tw; x++)
          {
            const int y0 = MAX (0, y * pool - dilation), y1 = MIN (height, (y + 1) * pool + dilation);
            const int x0 = MAX (0, x * pool - dilation), x1 = MIN (width, (x + 1) * pool + dilation);
            guint8 set = 0;
            for (int k = first; k <= last && !set; k++)
              for (int py = y0; py < y1 && !set; py++)
                {
                  const guint8 *row = masks + k * frame_size + (gsize) py * width;
                  for (int px = x0; px < x1; px++)
                    if (row[px] >= 128)
                      {
                        set = 1;
                        break;
                      }
                }
            token_mask[((gsize) f * th + y) * tw + x] = set;
          }
    }
  return TRUE;
}

/* ---- shared checks and kernel dispatch ---- */

static gboolean
on_cuda (FaBackend *backend)
{
  return fa_backend_get_device (backend) == FA_DEVICE_CUDA;
}

static gboolean
check_f32_on (const char *what, const FaTensor *t, FaDevice device, GError **error)
{
  if (t->dtype != FA_DTYPE_F32 || !fa_tensor_is_contiguous (t) || t->device != device)
    {
      g_autofree char *shape = fa_tensor_shape_to_string (t);
      g_set_error (error, FA_ERROR, t->device != device ? FA_ERROR_DEVICE : FA_ERROR_DTYPE,
                   "%s is %s %s on the %s, %s; it must be contiguous f32 on the %s", what,
                   fa_dtype_get_name (t->dtype), shape, fa_device_get_name (t->device),
                   fa_tensor_is_contiguous (t) ? "contiguous" : "strided", fa_device_get_name (device));
      return FALSE;
    }
  return TRUE;
}

static float *
f32 (const FaTensor *t)
{
  return fa_tensor_get_data (t);
}

#if FA_HAVE_CUDA
static gboolean
launched (cudaError_t status, const char *what, GError **error)
{
  if (status == cudaSuccess)
    return TRUE;
  (void) cudaGetLastError ();
  g_set_error (error, FA_ERROR, FA_ERROR_BACKEND, "edit: CUDA %s failed: %s (%s)", what,
               cudaGetErrorString (status), cudaGetErrorName (status));
  return FALSE;
}

static gboolean
enter (FaBackend *backend, cudaStream_t *stream, GError **error)
{
  gpointer ptr;
  if (!_fa_backend_cuda_enter (backend, &ptr, error))
    return FALSE;
  *stream = ptr;
  return TRUE;
}

#define ON_CUDA(call, what)                                                    \
  G_STMT_START {                                                               \
    cudaStream_t stream_;                                                      \
    if (!enter (backend, &stream_, error))                                     \
      return FALSE;                                                            \
    cudaStream_t stream = stream_;                                             \
    return launched ((call), (what), error);                                   \
  } G_STMT_END
#else
#define ON_CUDA(call, what)                                                    \
  G_STMT_START {                                                               \
    g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED,                        \
                 "edit: this build has no CUDA kernels for %s", (what));       \
    return FALSE;                                                              \
  } G_STMT_END
#endif

static gboolean
k_noise (FaBackend *backend, guint64 seed, int step, int draw, float *out, gint64 n, GError **error)
{
  if (on_cuda (backend))
    ON_CUDA (fa_cuda_edit_noise (seed, (guint32) step, (guint32) draw, out, n, stream), "noise");
  fa_cpu_edit_noise (seed, (guint32) step, (guint32) draw, out, 0, n);
  return TRUE;
}

static gboolean
k_noised (FaBackend *backend, const float *x, const float *z, const float *noise, float sigma,
          float *z_src, float *z_tar, gint64 n, GError **error)
{
  if (on_cuda (backend))
    ON_CUDA (fa_cuda_edit_noised (x, z, noise, sigma, z_src, z_tar, n, stream), "noised latents");
  fa_cpu_edit_noised (x, z, noise, sigma, z_src, z_tar, n);
  return TRUE;
}

static gboolean
k_accumulate (FaBackend *backend, const float *velocity, float s_src, float s_tar, float *dv,
              gboolean first, gint64 n, GError **error)
{
  if (on_cuda (backend))
    ON_CUDA (fa_cuda_edit_accumulate (velocity, s_src, s_tar, dv, first, n, stream), "dV");
  fa_cpu_edit_accumulate (velocity, s_src, s_tar, dv, first, n);
  return TRUE;
}

static gboolean
k_divide (FaBackend *backend, float *dv, float divisor, gint64 n, GError **error)
{
  if (on_cuda (backend))
    ON_CUDA (fa_cuda_edit_divide (dv, divisor, n, stream), "dV average");
  fa_cpu_edit_divide (dv, divisor, n);
  return TRUE;
}

static gboolean
k_euler (FaBackend *backend, float *z, const float *v, float dt, gint64 n, GError **error)
{
  if (on_cuda (backend))
    ON_CUDA (fa_cuda_edit_euler (z, v, dt, n, stream), "update");
  fa_cpu_edit_euler (z, v, dt, n);
  return TRUE;
}

static gboolean
k_plain (FaBackend *backend, float *z, const float *velocity, float scale, float sigma, float dt,
         float *estimate, gint64 n, GError **error)
{
  if (on_cuda (backend))
    ON_CUDA (fa_cuda_edit_plain (z, velocity, scale, sigma, dt, estimate, n, stream), "plain step");
  fa_cpu_edit_plain (z, velocity, scale, sigma, dt, estimate, n);
  return TRUE;
}

static gboolean
k_blend (FaBackend *backend, float *z, const float *x, const guint8 *outside, float w,
         gint64 channels, gint64 plane, GError **error)
{
  if (on_cuda (backend))
    ON_CUDA (fa_cuda_edit_blend (z, x, outside, w, channels, plane, stream), "background blend");
  fa_cpu_edit_blend (z, x, outside, w, channels, plane);
  return TRUE;
}

/* ---- SAR ---- */

/* Everything SAR needs, prepared once: the target columns as flags and as
 * a list of distinct columns, and on CUDA device copies of those and of
 * the mask with the scratch of the column reduction, in one allocation. */
typedef struct {
  FaBackend *backend;
  gint64 heads, n, n_real;
  const guint8 *mask; /* host, n bytes (CPU) */
  guint8 *in_j;       /* host, n_real bytes */
  gint32 *j_list;
  gint64 n_j;
  float beta1, beta2;

  gpointer block; /* device (CUDA) */
  gsize block_size;
  guint8 *d_mask, *d_in_j;
  gint32 *d_j_list;
  float *d_scratch;
} Sar;

static void
sar_clear (Sar *sar)
{
  if (sar->block != NULL)
    fa_backend_free (sar->backend, sar->block, sar->block_size);
  g_clear_pointer (&sar->in_j, g_free);
  g_clear_pointer (&sar->j_list, g_free);
  memset (sar, 0, sizeof *sar);
}

#if FA_HAVE_CUDA
static gsize
align_up (gsize size)
{
  return (size + 255) & ~(gsize) 255;
}
#endif

static gsize
sar_device_bytes (gint64 heads, gint64 n, gint64 n_real, gint64 n_j)
{
#if FA_HAVE_CUDA
  return align_up ((gsize) n) + align_up ((gsize) n_real) + align_up ((gsize) MAX (n_j, 1) * 4) +
         align_up ((gsize) fa_cuda_edit_sar_scratch_floats (heads, n, n_j) * sizeof (float));
#else
  (void) heads, (void) n, (void) n_real, (void) n_j;
  return 0;
#endif
}

static gboolean
sar_init (Sar *sar, FaBackend *backend, gint64 heads, gint64 n, const guint8 *mask,
          const int *targets, int n_targets, int n_real, float beta1, float beta2, GError **error)
{
  memset (sar, 0, sizeof *sar);
  if (n_real < 1 || (n_targets > 0 && targets == NULL) || n_targets < 0 || mask == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "SAR: %s", mask == NULL ? "no token mask given"
                              : n_real < 1 ? "the prompt has no real tokens"
                                           : "the target tokens are missing");
      return FALSE;
    }
  for (int t = 0; t < n_targets; t++)
    if (targets[t] < 0 || targets[t] >= n_real)
      {
        g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                     "SAR: target token %d is %d, outside the prompt's %d real tokens", t, targets[t],
                     n_real);
        return FALSE;
      }

  sar->backend = backend;
  sar->heads = heads;
  sar->n = n;
  sar->n_real = n_real;
  sar->mask = mask;
  sar->beta1 = beta1;
  sar->beta2 = beta2;
  sar->in_j = g_new0 (guint8, n_real);
  sar->j_list = g_new (gint32, MAX (n_targets, 1));
  /* a column named twice is modulated once, as the reference's indexed
   * assignment does */
  for (int t = 0; t < n_targets; t++)
    if (!sar->in_j[targets[t]])
      {
        sar->in_j[targets[t]] = 1;
        sar->j_list[sar->n_j++] = targets[t];
      }

  if (!on_cuda (backend))
    return TRUE;
#if FA_HAVE_CUDA
  sar->block_size = sar_device_bytes (heads, n, n_real, sar->n_j);
  sar->block = fa_backend_alloc (backend, sar->block_size, error);
  if (sar->block == NULL)
    {
      g_prefix_error (error, "SAR buffers: ");
      return FALSE;
    }
  guint8 *base = sar->block;
  sar->d_mask = base;
  sar->d_in_j = base + align_up ((gsize) n);
  sar->d_j_list = (gint32 *) (sar->d_in_j + align_up ((gsize) n_real));
  sar->d_scratch = (float *) ((guint8 *) sar->d_j_list + align_up ((gsize) MAX (sar->n_j, 1) * 4));
  return backend->ops->copy (backend, sar->d_mask, FA_DEVICE_CUDA, mask, FA_DEVICE_CPU, n, error) &&
         backend->ops->copy (backend, sar->d_in_j, FA_DEVICE_CUDA, sar->in_j, FA_DEVICE_CPU, n_real,
                             error) &&
         backend->ops->copy (backend, sar->d_j_list, FA_DEVICE_CUDA, sar->j_list, FA_DEVICE_CPU,
                             (gsize) MAX (sar->n_j, 1) * 4, error);
#else
  g_set_error (error, FA_ERROR, FA_ERROR_UNSUPPORTED, "SAR: this build has no CUDA kernels");
  return FALSE;
#endif
}

static gboolean
sar_apply (Sar *sar, FaTensor *logits, GError **error)
{
  FaBackend *backend = sar->backend;

  if (!check_f32_on ("SAR logits", logits, fa_backend_get_device (backend), error))
    return FALSE;
  if (logits->ndim != 3 || logits->shape[0] != sar->heads || logits->shape[1] != sar->n ||
      logits->shape[2] < sar->n_real)
    {
      g_autofree char *shape = fa_tensor_shape_to_string (logits);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "SAR logits are %s; expected [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                   ", L ≥ %" G_GINT64_FORMAT "] (heads, tokens, text rows)",
                   shape, sar->heads, sar->n, sar->n_real);
      return FALSE;
    }
  if (sar->n_j == 0)
    return TRUE;
  if (on_cuda (backend))
    ON_CUDA (fa_cuda_edit_sar (f32 (logits), sar->heads, sar->n, logits->shape[2], sar->n_real,
                               sar->d_mask, sar->d_in_j, sar->d_j_list, sar->n_j, sar->beta1,
                               sar->beta2, sar->d_scratch, stream),
             "SAR");
  fa_cpu_edit_sar (f32 (logits), sar->heads, sar->n, logits->shape[2], sar->n_real, sar->mask,
                   sar->in_j, sar->beta1, sar->beta2);
  return TRUE;
}

gboolean
fa_edit_sar_modulate (FaBackend *backend, FaTensor *logits, const guint8 *token_mask,
                      const int *target_tokens, int n_target, int n_real, float beta1, float beta2,
                      GError **error)
{
  g_return_val_if_fail (backend != NULL && logits != NULL, FALSE);

  if (logits->ndim != 3 || n_real > logits->shape[2])
    {
      g_autofree char *shape = fa_tensor_shape_to_string (logits);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "SAR logits are %s; expected [heads, tokens, L] with L ≥ n_real = %d", shape, n_real);
      return FALSE;
    }
  if (!check_float ("beta1", beta1, 0.0f, 1.0f, error) || !check_float ("beta2", beta2, 0.0f, 1.0f, error))
    return FALSE;
  if (n_target == 0)
    return TRUE;

  Sar sar;
  gboolean ok = sar_init (&sar, backend, logits->shape[0], logits->shape[1], token_mask, target_tokens,
                          n_target, n_real, beta1, beta2, error) &&
                sar_apply (&sar, logits, error);
  /* the kernels read the device copies until they finish */
  if (ok && on_cuda (backend))
    ok = fa_backend_synchronize (backend, error);
  sar_clear (&sar);
  return ok;
}

/* ---- AMM ---- */

static float
gamma_f (float gamma, int gamma_frames, gint64 frames)
{
  if (frames <= 1)
    return 0.0f;
  return (float) ((double) gamma * log ((double) frames) / log ((double) gamma_frames));
}

gboolean
fa_edit_amm (FaTensor *dv, float gamma, int gamma_frames, GError **error)
{
  g_return_val_if_fail (dv != NULL, FALSE);

  if (!check_f32_on ("AMM input", dv, FA_DEVICE_CPU, error))
    return FALSE;
  if (dv->ndim != 5)
    {
      g_autofree char *shape = fa_tensor_shape_to_string (dv);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "AMM input is %s; expected [B, C, F, H, W]", shape);
      return FALSE;
    }
  if (!check_float ("gamma", gamma, 0.0f, 10.0f, error) ||
      !check_int ("gamma_frames", gamma_frames, 2, 1000, error))
    return FALSE;

  const float g = gamma_f (gamma, gamma_frames, dv->shape[2]);
  const gint64 channels = dv->shape[1];
  const gint64 plane = dv->shape[2] * dv->shape[3] * dv->shape[4];
  if (g == 0.0f || channels == 0 || plane == 0)
    return TRUE;
  for (gint64 b = 0; b < dv->shape[0]; b++)
    fa_cpu_edit_amm (f32 (dv) + b * channels * plane, channels, plane, g);
  return TRUE;
}

/* ---- noise ---- */

gboolean
fa_edit_noise (FaBackend *backend, guint64 seed, int step, int draw, FaTensor *noise, GError **error)
{
  g_return_val_if_fail (backend != NULL && noise != NULL, FALSE);

  if (!check_f32_on ("noise tensor", noise, fa_backend_get_device (backend), error))
    return FALSE;
  if (step < 0 || draw < 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "noise: step %d, draw %d; both must be ≥ 0", step, draw);
      return FALSE;
    }
  return k_noise (backend, seed, step, draw, f32 (noise), fa_tensor_get_numel (noise), error);
}

/* ---- the loop ---- */

typedef struct {
  FaWanDit *dit;
  FaBackend *backend;
  const FaEditInputs *inputs;
  const FaEditParams *params;
  const FaEditOptions *options;
  gint64 count; /* elements of one latent */
  gint64 channels, plane;

  FaTensor *x;     /* [1, C, F, H, W] on the device */
  FaTensor *z;     /* Z_edit, then the plain phase's Z */
  FaTensor *noise;
  FaTensor *dv;
  FaTensor *estimate;
  FaTensor *latents, *velocity; /* [4, …] */
  FaTensor *latents2, *velocity2; /* their first two elements */
  FaTensor *outside; /* u8 [F·H·W]: latent positions outside the token mask (blending) */
  FaTensor *host;    /* [1, …] on the host, for taps, the step callback and AMM (CUDA) */
  Sar sar;
  gboolean have_sar;
} Run;

static void
run_clear (Run *run)
{
  FaTensor **all[] = { &run->x, &run->z, &run->noise, &run->dv, &run->estimate, &run->latents,
                       &run->velocity, &run->latents2, &run->velocity2, &run->outside, &run->host };
  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    g_clear_pointer (all[i], fa_tensor_unref);
  if (run->have_sar)
    sar_clear (&run->sar);
  run->have_sar = FALSE;
}

/* @t as seen from the host: itself on the CPU, else copied to run->host. */
static const FaTensor *
on_host (Run *run, FaTensor *t, GError **error)
{
  if (!on_cuda (run->backend))
    return t;
  if (!fa_tensor_copy (run->host, t, error))
    return NULL;
  return run->host;
}

static gboolean
tap (Run *run, int step, const char *name, FaTensor *value, GError **error)
{
  const FaEditOptions *o = run->options;
  if (o == NULL || o->tap == NULL)
    return TRUE;
  const FaTensor *host = on_host (run, value, error);
  if (host == NULL)
    return FALSE;
  o->tap (step, name, host, o->tap_user_data);
  return TRUE;
}

static gboolean
report_step (Run *run, int done, int total, FaTensor *estimate, GError **error)
{
  const FaEditOptions *o = run->options;
  if (o == NULL || o->step == NULL)
    return TRUE;
  const FaTensor *host = on_host (run, estimate, error);
  if (host == NULL)
    return FALSE;
  o->step (done, total, host, o->step_user_data);
  return TRUE;
}

static gboolean
cancelled (Run *run, GError **error)
{
  return run->options != NULL && g_cancellable_set_error_if_cancelled (run->options->cancellable, error);
}

static gboolean
draw_noise (Run *run, int step, int draw, GError **error)
{
  const FaEditOptions *o = run->options;
  if (o != NULL && o->noise != NULL)
    {
      GError *noise_error = NULL;
      if (o->noise (step, draw, run->noise, o->noise_user_data, &noise_error))
        return TRUE;
      if (noise_error == NULL)
        g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                     "edit: the noise of step %d, draw %d failed without saying why", step, draw);
      else
        g_propagate_error (error, noise_error);
      return FALSE;
    }
  return fa_edit_noise (run->backend, run->params->seed, step, draw, run->noise, error);
}

static gboolean
sar_hook (FaBackend *backend, int layer, FaTensor *logits, gpointer user_data, GError **error)
{
  Run *run = user_data;
  (void) backend;
  if (!sar_apply (&run->sar, logits, error))
    {
      g_prefix_error (error, "SAR in block %d: ", layer);
      return FALSE;
    }
  return TRUE;
}

static FaTensor *
latent_tensor (Run *run, gint64 batch, GError **error)
{
  const FaTensor *x = run->inputs->x_source;
  const gint64 shape[5] = { batch, x->shape[1], x->shape[2], x->shape[3], x->shape[4] };
  return fa_tensor_new (run->backend, FA_DTYPE_F32, 5, shape, error);
}

static gboolean
check_run_inputs (FaWanDit *dit, const FaEditInputs *in, FaTensor *result, GError **error)
{
  const FaWanDitConfig *c = fa_wan_dit_get_config (dit);

  if (in == NULL || in->x_source == NULL || in->source == NULL || in->target == NULL ||
      in->negative == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "edit: %s",
                   in == NULL                ? "no inputs given"
                   : in->x_source == NULL    ? "no source latent given"
                                             : "an encoded prompt (source, target or negative) is missing");
      return FALSE;
    }
  const FaTensor *x = in->x_source;
  if (!check_f32_on ("edit: the source latent", x, FA_DEVICE_CPU, error))
    return FALSE;
  if (x->ndim != 5 || x->shape[0] != 1 || x->shape[1] != c->in_channels || c->out_channels != c->in_channels ||
      x->shape[2] < 1 || x->shape[2] % c->patch[0] != 0 || x->shape[3] % c->patch[1] != 0 ||
      x->shape[4] % c->patch[2] != 0 || x->shape[3] == 0 || x->shape[4] == 0)
    {
      g_autofree char *shape = fa_tensor_shape_to_string (x);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "edit: the source latent is %s; the DiT takes [1, %d, F, H, W] with F, H, W "
                   "divisible by the patch %d×%d×%d", shape, c->in_channels, c->patch[0], c->patch[1],
                   c->patch[2]);
      return FALSE;
    }
  if (result == NULL || !check_f32_on ("edit: the result", result, FA_DEVICE_CPU, error))
    {
      if (result == NULL)
        g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "edit: no result tensor given");
      return FALSE;
    }
  if (!fa_tensor_same_shape (result, x))
    {
      g_autofree char *shape = fa_tensor_shape_to_string (result);
      g_autofree char *want = fa_tensor_shape_to_string (x);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "edit: the result is %s; it must be %s like the "
                   "source latent", shape, want);
      return FALSE;
    }
  if (in->n_target_tokens < 0 || (in->n_target_tokens > 0 && in->target_tokens == NULL))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "edit: %d target tokens but no list of them", in->n_target_tokens);
      return FALSE;
    }
  return TRUE;
}

/* Everything the loop uses, allocated before the first step. */
static gboolean
plan_run (Run *run, gboolean sar_runs, GError **error)
{
  const FaWanDitConfig *c = fa_wan_dit_get_config (run->dit);
  const FaTensor *x = run->inputs->x_source;
  const gint64 tokens = (x->shape[2] / c->patch[0]) * (x->shape[3] / c->patch[1]) *
                        (x->shape[4] / c->patch[2]);

  run->x = fa_tensor_to (x, run->backend, FA_DTYPE_F32, error);
  if (run->x == NULL || (run->z = latent_tensor (run, 1, error)) == NULL ||
      (run->noise = latent_tensor (run, 1, error)) == NULL ||
      (run->dv = latent_tensor (run, 1, error)) == NULL ||
      (run->estimate = latent_tensor (run, 1, error)) == NULL ||
      (run->latents = latent_tensor (run, 4, error)) == NULL ||
      (run->velocity = latent_tensor (run, 4, error)) == NULL ||
      (run->latents2 = fa_tensor_narrow (run->latents, 0, 0, 2, error)) == NULL ||
      (run->velocity2 = fa_tensor_narrow (run->velocity, 0, 0, 2, error)) == NULL ||
      !fa_tensor_copy (run->z, run->x, error))
    return FALSE;
  if (on_cuda (run->backend))
    {
      /* the shape was checked, so wrapping cannot fail and leak the buffer */
      float *buffer = g_new (float, run->count);
      run->host = fa_tensor_new_wrapping (FA_DTYPE_F32, 5, x->shape, buffer, g_free, buffer, error);
      if (run->host == NULL)
        return FALSE;
    }

  if (run->params->blend_background)
    {
      const guint8 *mask = run->inputs->token_mask;
      if (mask == NULL)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                       "edit: background blending needs the token mask");
          return FALSE;
        }
      const gint64 frames = x->shape[2], h = x->shape[3], w = x->shape[4];
      const gint64 th = h / c->patch[1], tw = w / c->patch[2];
      g_autofree guint8 *outside = g_new (guint8, run->plane);
      for (gint64 f = 0; f < frames; f++)
        for (gint64 y = 0; y < h; y++)
          for (gint64 xx = 0; xx < w; xx++)
            {
              gint64 token = ((f / c->patch[0]) * th + y / c->patch[1]) * tw + xx / c->patch[2];
              outside[(f * h + y) * w + xx] = mask[token] ? 0 : 1;
            }
      g_autoptr (FaTensor) host = fa_tensor_new_wrapping (FA_DTYPE_U8, 1, (gint64[]) { run->plane }, outside,
                                                          NULL, NULL, error);
      run->outside = host ? fa_tensor_to (host, run->backend, FA_DTYPE_U8, error) : NULL;
      if (run->outside == NULL)
        return FALSE;
    }

  if (sar_runs)
    {
      const FaEditInputs *in = run->inputs;
      if (!sar_init (&run->sar, run->backend, c->num_heads, tokens, in->token_mask, in->target_tokens,
                     in->n_target_tokens, in->target_real_rows, run->params->beta1, run->params->beta2,
                     error))
        {
          sar_clear (&run->sar);
          return FALSE;
        }
      run->have_sar = TRUE;
    }
  return TRUE;
}

/* One FlowEdit step: the n_avg draws, each one batch-4 forward. */
static gboolean
flowedit_step (Run *run, int i, float sigma, float dt, GError **error)
{
  const FaEditParams *p = run->params;
  const FaEditInputs *in = run->inputs;
  FaBackend *b = run->backend;
  const gint64 n = run->count;
  const float timestep = 1000.0f * sigma;
  const float timesteps[4] = { timestep, timestep, timestep, timestep };
  FaWanDitText *texts[4] = { in->negative, in->source, in->negative, in->target };
  const gboolean sar_on = run->have_sar && run->sar.n_j > 0 && (double) sigma >= (double) p->tau;
  FaWanDitForwardOptions forward = {
    .cross_attention = sar_on ? sar_hook : NULL,
    .cross_attention_user_data = run,
    .cross_attention_batch_index = 3,
    .cancellable = run->options != NULL ? run->options->cancellable : NULL,
  };
  g_autoptr (FaTensor) lat0 = fa_tensor_narrow (run->latents, 0, 0, 1, error);
  g_autoptr (FaTensor) lat1 = lat0 ? fa_tensor_narrow (run->latents, 0, 1, 1, error) : NULL;
  g_autoptr (FaTensor) lat2 = lat1 ? fa_tensor_narrow (run->latents, 0, 2, 1, error) : NULL;
  g_autoptr (FaTensor) lat3 = lat2 ? fa_tensor_narrow (run->latents, 0, 3, 1, error) : NULL;
  if (lat3 == NULL)
    return FALSE;

  for (int k = 0; k < p->n_avg; k++)
    {
      if (!draw_noise (run, i, k, error) ||
          !k_noised (b, f32 (run->x), f32 (run->z), f32 (run->noise), sigma, f32 (lat0), f32 (lat2), n,
                     error) ||
          !fa_op_copy (b, lat0, lat1, error) || !fa_op_copy (b, lat2, lat3, error) ||
          !fa_wan_dit_forward (run->dit, run->latents, timesteps, texts, run->velocity, &forward, error) ||
          !k_accumulate (b, f32 (run->velocity), p->cfg_source, p->cfg_target, f32 (run->dv), k == 0, n,
                         error))
        return FALSE;
    }
  if (!k_divide (b, f32 (run->dv), (float) p->n_avg, n, error) || !tap (run, i, "dv", run->dv, error) ||
      (sar_on && !tap (run, i, "sar", run->dv, error)))
    return FALSE;

  if (p->amm)
    {
      const FaTensor *host = on_host (run, run->dv, error);
      if (host == NULL || !fa_edit_amm ((FaTensor *) host, p->gamma, p->gamma_frames, error))
        return FALSE;
      if (host != run->dv && !fa_tensor_copy (run->dv, host, error))
        return FALSE;
      if (!tap (run, i, "dv_amm", run->dv, error))
        return FALSE;
    }
  return k_euler (b, f32 (run->z), f32 (run->dv), dt, n, error);
}

/* One plain step; on the first, Z starts from Z_edit and a fresh draw. */
static gboolean
plain_step (Run *run, int i, float sigma, float dt, gboolean first, GError **error)
{
  const FaEditParams *p = run->params;
  const FaEditInputs *in = run->inputs;
  FaBackend *b = run->backend;
  const gint64 n = run->count;
  const float timestep = 1000.0f * sigma;
  const float timesteps[2] = { timestep, timestep };
  FaWanDitText *texts[2] = { in->negative, in->target };
  FaWanDitForwardOptions forward = {
    .cancellable = run->options != NULL ? run->options->cancellable : NULL,
  };
  g_autoptr (FaTensor) lat0 = fa_tensor_narrow (run->latents, 0, 0, 1, error);
  g_autoptr (FaTensor) lat1 = lat0 ? fa_tensor_narrow (run->latents, 0, 1, 1, error) : NULL;
  if (lat1 == NULL)
    return FALSE;

  /* Z = (Z_edit + Z_src) − x, written over Z_edit (element by element, so
   * in place is safe); Z_src itself lands in a latent slot */
  if (first && (!draw_noise (run, i, 0, error) ||
                !k_noised (b, f32 (run->x), f32 (run->z), f32 (run->noise), sigma, f32 (lat0),
                           f32 (run->z), n, error) ||
                !tap (run, i, "z_init", run->z, error)))
    return FALSE;

  return fa_op_copy (b, run->z, lat0, error) && fa_op_copy (b, run->z, lat1, error) &&
         fa_wan_dit_forward (run->dit, run->latents2, timesteps, texts, run->velocity2, &forward, error) &&
         k_plain (b, f32 (run->z), f32 (run->velocity2), p->cfg_target, sigma, dt, f32 (run->estimate), n,
                  error);
}

gboolean
fa_edit_run (FaWanDit *dit, const FaEditInputs *inputs, const FaEditParams *params,
             const FaEditOptions *options, FaTensor *result, GError **error)
{
  g_return_val_if_fail (dit != NULL, FALSE);

  if (!fa_edit_params_check (params, error) || !check_run_inputs (dit, inputs, result, error))
    return FALSE;

  const int T = params->steps;
  g_autofree float *sigmas = g_new (float, T + 1);
  fa_edit_sigmas (T, params->shift, sigmas);

  /* SAR runs when on, J is not empty and some FlowEdit step starts at σ ≥ τ */
  gboolean sar_runs = FALSE;
  if (params->sar && inputs->n_target_tokens > 0)
    for (int i = T - params->n_max; i < T; i++)
      if (T - i > params->n_min && (double) sigmas[i] >= (double) params->tau)
        sar_runs = TRUE;
  if (sar_runs && inputs->token_mask == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "edit: SAR needs the token mask");
      return FALSE;
    }

  const FaTensor *x = inputs->x_source;
  Run run = {
    .dit = dit,
    .backend = fa_wan_dit_get_backend (dit),
    .inputs = inputs,
    .params = params,
    .options = options,
    .count = fa_tensor_get_numel (x),
    .channels = x->shape[1],
    .plane = x->shape[2] * x->shape[3] * x->shape[4],
  };
  gboolean ok = plan_run (&run, sar_runs, error);

  const int total = params->n_max;
  int done = 0;
  gboolean in_plain = FALSE;
  for (int i = T - params->n_max; ok && i < T; i++)
    {
      const float sigma = sigmas[i];
      const float dt = sigmas[i + 1] - sigmas[i];

      if (cancelled (&run, error))
        {
          ok = FALSE;
          break;
        }
      if (T - i > params->n_min)
        {
          ok = flowedit_step (&run, i, sigma, dt, error);
          if (ok && params->blend_background)
            {
              /* w from blend_strength at the first step that runs to 0 at
               * the last */
              float w = total > 1 ? params->blend_strength * (float) (total - 1 - done) / (float) (total - 1)
                                  : params->blend_strength;
              ok = k_blend (run.backend, f32 (run.z), f32 (run.x), fa_tensor_get_data (run.outside), w,
                            run.channels, run.plane, error);
            }
          ok = ok && tap (&run, i, "z", run.z, error);
          ok = ok && report_step (&run, ++done, total, run.z, error);
        }
      else
        {
          ok = plain_step (&run, i, sigma, dt, !in_plain, error);
          in_plain = TRUE;
          ok = ok && tap (&run, i, "z", run.z, error);
          ok = ok && report_step (&run, ++done, total, run.estimate, error);
        }
    }

  ok = ok && fa_tensor_copy (result, run.z, error);
  run_clear (&run);
  return ok;
}

guint64
fa_edit_estimate_bytes (FaWanDit *dit, const gint64 latent_shape[4], int text_rows)
{
  g_return_val_if_fail (dit != NULL && latent_shape != NULL, 0);

  const FaWanDitConfig *c = fa_wan_dit_get_config (dit);
  const gint64 tokens = (latent_shape[1] / c->patch[0]) * (latent_shape[2] / c->patch[1]) *
                        (latent_shape[3] / c->patch[2]);
  const guint64 latent = (guint64) latent_shape[0] * latent_shape[1] * latent_shape[2] * latent_shape[3] *
                         sizeof (float);
  /* x, Z, noise, dV, the estimate, and the batch-4 latents and velocities */
  guint64 bytes = latent * (5 + 4 + 4);
  bytes += fa_wan_dit_estimate_bytes (dit, 4, tokens, text_rows);
  /* three prompts: the text embedding and every block's K and V */
  bytes += 3 * (guint64) text_rows * c->dim * sizeof (float) * (1 + 2 * (guint64) c->num_layers);
  if (fa_backend_get_device (fa_wan_dit_get_backend (dit)) == FA_DEVICE_CUDA)
    bytes += sar_device_bytes (c->num_heads, tokens, text_rows, text_rows);
  return bytes;
}
