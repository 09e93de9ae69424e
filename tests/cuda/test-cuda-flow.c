/* The optical flow's CUDA kernels, stage by stage, against their CPU
 * references (kernels/cpu/fa-cpu-flow.c) on the same inputs, and the whole
 * flow on CUDA against the whole flow on the CPU.
 *
 * The per-pixel stages must agree to 1e-5 relative (CUDA's rsqrtf and
 * fused multiply-adds are the only differences); the patch descents, whose
 * stopping tests can flip on a rounding difference, must agree on all but
 * a few patches; the end-to-end flows must be within 0.02 px of each other
 * on average.
 *
 * Without a usable device (CI) every device test is a skip that names the
 * reason; the argument checks that need no device still run.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <cuda_runtime_api.h>
#include <math.h>

#include "cuda/fa-cuda-flow.h"
#include "fa-backend.h"
#include "fa-error.h"
#include "fa-flow.h"
#include "fa-test-util.h"

static char *cuda_skip_reason;

/* Odd sizes, so that no stage gets away with assuming even ones. */
#define W 131
#define H 77

typedef struct {
  FaFlowLevel lv;
  float *i0, *i1, *ext, *gx, *gy, *u, *v;
  float *tensors, *first_u, *first_v, *second_u, *second_v;
  int n_patches;
} Scene;

static FaBackend *
require_cuda (void)
{
  g_autoptr (GError) error = NULL;

  if (cuda_skip_reason != NULL)
    {
      g_test_skip (cuda_skip_reason);
      return NULL;
    }
  FaBackend *cuda = fa_backend_new_cuda (0, &error);
  g_assert_no_error (error);
  return cuda;
}

static double
texture (double x, double y, double phase)
{
  return 128.0 + 50.0 * sin (0.31 * x + 0.17 * y + phase) + 30.0 * sin (0.07 * x - 0.23 * y) +
         20.0 * cos (0.5 * x + 0.41 * y + 2.0 * phase);
}

/* A level with real content: frame 1 is frame 0 moved by about (1.6, −0.9)
 * px, the dense flow a smooth guess near it, and the patch results those
 * of the CPU stages. */
static void
scene_init (Scene *s)
{
  FaFlowLevel *lv = &s->lv;
  *lv = (FaFlowLevel) { .width = W, .height = H, .patch_size = 8, .stride = 3 };
  lv->patches_x = 1 + (W - 8) / 3;
  lv->patches_y = 1 + (H - 8) / 3;
  lv->border = 9;
  lv->ext_width = W + 18;
  s->n_patches = lv->patches_x * lv->patches_y;

  s->i0 = g_new (float, W * H);
  s->i1 = g_new (float, W * H);
  s->ext = g_new (float, lv->ext_width * (H + 18));
  s->gx = g_new (float, W * H);
  s->gy = g_new (float, W * H);
  s->u = g_new (float, W * H);
  s->v = g_new (float, W * H);
  s->tensors = g_new (float, s->n_patches * FA_FLOW_TENSOR_SIZE);
  s->first_u = g_new (float, s->n_patches);
  s->first_v = g_new (float, s->n_patches);
  s->second_u = g_new (float, s->n_patches);
  s->second_v = g_new (float, s->n_patches);

  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      {
        s->i0[y * W + x] = (float) texture (x, y, 0.3);
        s->i1[y * W + x] = (float) texture (x - 1.6, y + 0.9, 0.3);
        s->u[y * W + x] = (float) (1.2 + 0.3 * sin (0.05 * x));
        s->v[y * W + x] = (float) (-0.5 + 0.2 * cos (0.07 * y));
      }
  fa_cpu_flow_pad (s->i1, lv, s->ext, 0, H + 18);
  fa_cpu_flow_gradient (s->i0, W, H, s->gx, s->gy, 0, H);
  fa_cpu_flow_patch_tensor (s->gx, s->gy, lv, s->tensors, 0, lv->patches_y);
  fa_cpu_flow_patch_first (s->i0, s->gx, s->gy, s->ext, lv, s->tensors, s->u, s->v, 6, s->first_u,
                           s->first_v, 0, lv->patches_y);
  fa_cpu_flow_patch_second (s->i0, s->gx, s->gy, s->ext, lv, s->tensors, s->first_u, s->first_v, 6,
                            s->second_u, s->second_v, 0, lv->patches_y);
}

static void
scene_clear (Scene *s)
{
  g_free (s->i0);
  g_free (s->i1);
  g_free (s->ext);
  g_free (s->gx);
  g_free (s->gy);
  g_free (s->u);
  g_free (s->v);
  g_free (s->tensors);
  g_free (s->first_u);
  g_free (s->first_v);
  g_free (s->second_u);
  g_free (s->second_v);
}

/* ---- device buffers: every one counted on the backend ---- */

typedef struct {
  FaBackend *backend;
  gpointer ptr[64];
  gsize size[64];
  int n;
} Device;

static void *
device_alloc (Device *d, gsize bytes)
{
  g_autoptr (GError) error = NULL;
  void *p = fa_backend_alloc (d->backend, bytes, &error);
  g_assert_no_error (error);
  g_assert_cmpint (d->n, <, 64);
  d->ptr[d->n] = p;
  d->size[d->n++] = bytes;
  return p;
}

static float *
upload (Device *d, const void *host, gsize bytes)
{
  void *p = device_alloc (d, bytes);
  g_assert_cmpint (cudaMemcpy (p, host, bytes, cudaMemcpyHostToDevice), ==, cudaSuccess);
  return p;
}

static float *
device_floats (Device *d, gsize n)
{
  float *p = device_alloc (d, n * sizeof (float));
  /* NaN bytes: whatever a kernel forgets to write fails the comparison */
  g_assert_cmpint (cudaMemset (p, 0xff, n * sizeof (float)), ==, cudaSuccess);
  return p;
}

static float *
download (const float *device, gsize n)
{
  float *host = g_new (float, n);
  g_assert_cmpint (cudaDeviceSynchronize (), ==, cudaSuccess);
  g_assert_cmpint (cudaMemcpy (host, device, n * sizeof (float), cudaMemcpyDeviceToHost), ==,
                   cudaSuccess);
  return host;
}

static void
device_clear (Device *d)
{
  for (int k = 0; k < d->n; k++)
    fa_backend_free (d->backend, d->ptr[k], d->size[k]);
  d->n = 0;
}

/* max|a − b| / max(max|b|, 1e-3), infinite on any non-finite value */
static double
compare (const float *a, const float *b, gsize n)
{
  double diff = 0.0, scale = 1e-3;

  for (gsize i = 0; i < n; i++)
    {
      if (!isfinite (a[i]) || !isfinite (b[i]))
        return INFINITY;
      diff = fmax (diff, fabs ((double) a[i] - b[i]));
      scale = fmax (scale, fabs ((double) b[i]));
    }
  return diff / scale;
}

#define ASSERT_CLOSE(device, host, n, tol, what)                                       \
  G_STMT_START {                                                                       \
    g_autofree float *got_ = download ((device), (n));                                 \
    double err_ = compare (got_, (host), (n));                                         \
    g_test_message ("%s: relative difference %.3g", (what), err_);                     \
    if (!(err_ <= (tol)))                                                              \
      g_test_fail_printf ("%s: CUDA and CPU differ by %.3g (relative), more than %.3g", \
                          (what), err_, (double) (tol));                              \
  } G_STMT_END

#define TOL 1e-5

/* ---- tests ---- */

static void
test_arguments (void)
{
  FaFlowLevel empty = { 0 };
  FaFlowVar var = { 0 };
  FaFlowVarParams params = { 0 };

  g_assert_cmpint (fa_cuda_flow_grey (NULL, NULL, 0, 4, NULL), ==, cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_flow_downsample (NULL, 3, NULL, 2, 2, NULL), ==, cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_flow_pad (NULL, &empty, NULL, NULL), ==, cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_flow_patch_tensor (NULL, NULL, &empty, NULL, NULL), ==,
                   cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_flow_densify (NULL, NULL, &empty, NULL, NULL, NULL, NULL, NULL), ==,
                   cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_flow_var_system (&empty, NULL, NULL, &var, &params, NULL), ==,
                   cudaErrorInvalidValue);
  FaFlowLevel one = { .width = 4, .height = 4 };
  g_assert_cmpint (fa_cuda_flow_var_sor (&one, &var, 1.6f, 2, NULL), ==, cudaErrorInvalidValue);
  g_assert_cmpint (fa_cuda_flow_resize (NULL, NULL, 4, 4, NULL, NULL, NULL, 8, 8, 2.0f, NULL), ==,
                   cudaErrorInvalidValue);
}

static void
test_pyramid (void)
{
  g_autoptr (FaBackend) cuda = require_cuda ();
  if (cuda == NULL)
    return;
  Scene s;
  scene_init (&s);
  Device d = { .backend = cuda };

  /* grey */
  g_autofree guint8 *rgb = g_new (guint8, W * H * 3);
  fa_test_fill_uniform (s.v, W * H, 5, 0.0f, 1.0f); /* scratch for random bytes */
  for (int i = 0; i < W * H * 3; i++)
    rgb[i] = (guint8) ((i * 37 + (int) (s.v[i / 3] * 255.0f)) & 255);
  g_autofree float *grey = g_new (float, W * H);
  fa_cpu_flow_grey (rgb, grey, W, 0, H);
  guint8 *d_rgb = (guint8 *) upload (&d, rgb, W * H * 3);
  float *d_grey = device_floats (&d, W * H);
  g_assert_cmpint (fa_cuda_flow_grey (d_rgb, d_grey, W, H, NULL), ==, cudaSuccess);
  ASSERT_CLOSE (d_grey, grey, W * H, TOL, "grey");

  /* downsample */
  const int dw = W / 2, dh = H / 2;
  g_autofree float *half = g_new (float, dw * dh);
  fa_cpu_flow_downsample (s.i0, W, half, dw, 0, dh);
  float *d_i0 = upload (&d, s.i0, sizeof (float) * W * H);
  float *d_half = device_floats (&d, dw * dh);
  g_assert_cmpint (fa_cuda_flow_downsample (d_i0, W, d_half, dw, dh, NULL), ==, cudaSuccess);
  ASSERT_CLOSE (d_half, half, dw * dh, TOL, "downsample");

  /* pad */
  const gsize ext_n = (gsize) s.lv.ext_width * (H + 2 * s.lv.border);
  float *d_i1 = upload (&d, s.i1, sizeof (float) * W * H);
  float *d_ext = device_floats (&d, ext_n);
  g_assert_cmpint (fa_cuda_flow_pad (d_i1, &s.lv, d_ext, NULL), ==, cudaSuccess);
  ASSERT_CLOSE (d_ext, s.ext, ext_n, 0.0, "pad");

  /* gradient */
  float *d_gx = device_floats (&d, W * H), *d_gy = device_floats (&d, W * H);
  g_assert_cmpint (fa_cuda_flow_gradient (d_i0, W, H, d_gx, d_gy, NULL), ==, cudaSuccess);
  ASSERT_CLOSE (d_gx, s.gx, W * H, TOL, "gradient x");
  ASSERT_CLOSE (d_gy, s.gy, W * H, TOL, "gradient y");

  /* resize, planar ×2 and interleaved to an odd size */
  const int uw = 2 * W, uh = 2 * H;
  g_autofree float *up_u = g_new (float, uw * uh), *up_v = g_new (float, uw * uh);
  fa_cpu_flow_resize (s.u, s.v, W, H, up_u, up_v, NULL, uw, uh, 2.0f, 0, uh);
  float *d_u = upload (&d, s.u, sizeof (float) * W * H), *d_v = upload (&d, s.v, sizeof (float) * W * H);
  float *d_up_u = device_floats (&d, uw * uh), *d_up_v = device_floats (&d, uw * uh);
  g_assert_cmpint (fa_cuda_flow_resize (d_u, d_v, W, H, d_up_u, d_up_v, NULL, uw, uh, 2.0f, NULL),
                   ==, cudaSuccess);
  ASSERT_CLOSE (d_up_u, up_u, uw * uh, TOL, "resize u");
  ASSERT_CLOSE (d_up_v, up_v, uw * uh, TOL, "resize v");
  g_autofree float *inter = g_new (float, 2 * 263 * 157);
  fa_cpu_flow_resize (s.u, s.v, W, H, NULL, NULL, inter, 263, 157, 1.5f, 0, 157);
  float *d_inter = device_floats (&d, 2 * 263 * 157);
  g_assert_cmpint (fa_cuda_flow_resize (d_u, d_v, W, H, NULL, NULL, d_inter, 263, 157, 1.5f, NULL),
                   ==, cudaSuccess);
  ASSERT_CLOSE (d_inter, inter, 2 * 263 * 157, TOL, "resize interleaved");

  device_clear (&d);
  scene_clear (&s);
}

/* The fraction of patches whose vectors differ by more than 0.01 px. */
static double
patch_disagreement (const float *du, const float *dv, const float *hu, const float *hv, int n)
{
  int bad = 0;
  for (int k = 0; k < n; k++)
    if (!(hypot (du[k] - hu[k], dv[k] - hv[k]) <= 0.01))
      bad++;
  return (double) bad / n;
}

static void
test_patches (void)
{
  g_autoptr (FaBackend) cuda = require_cuda ();
  if (cuda == NULL)
    return;
  Scene s;
  scene_init (&s);
  Device d = { .backend = cuda };
  const gsize ext_n = (gsize) s.lv.ext_width * (H + 2 * s.lv.border);
  const int n = s.n_patches;

  float *d_i0 = upload (&d, s.i0, sizeof (float) * W * H);
  float *d_ext = upload (&d, s.ext, sizeof (float) * ext_n);
  float *d_gx = upload (&d, s.gx, sizeof (float) * W * H);
  float *d_gy = upload (&d, s.gy, sizeof (float) * W * H);
  float *d_u = upload (&d, s.u, sizeof (float) * W * H);
  float *d_v = upload (&d, s.v, sizeof (float) * W * H);

  float *d_tensors = device_floats (&d, n * FA_FLOW_TENSOR_SIZE);
  g_assert_cmpint (fa_cuda_flow_patch_tensor (d_gx, d_gy, &s.lv, d_tensors, NULL), ==, cudaSuccess);
  ASSERT_CLOSE (d_tensors, s.tensors, n * FA_FLOW_TENSOR_SIZE, 1e-4, "patch tensor");

  /* each pass from the CPU's inputs, so that one pass's differences do not
   * feed the next */
  float *d_tensors_cpu = upload (&d, s.tensors, sizeof (float) * n * FA_FLOW_TENSOR_SIZE);
  float *d_first_u = device_floats (&d, n), *d_first_v = device_floats (&d, n);
  g_assert_cmpint (fa_cuda_flow_patch_first (d_i0, d_gx, d_gy, d_ext, &s.lv, d_tensors_cpu, d_u, d_v,
                                             6, d_first_u, d_first_v, NULL),
                   ==, cudaSuccess);
  g_autofree float *first_u = download (d_first_u, n), *first_v = download (d_first_v, n);
  double first_bad = patch_disagreement (first_u, first_v, s.first_u, s.first_v, n);

  float *d_in_u = upload (&d, s.first_u, sizeof (float) * n);
  float *d_in_v = upload (&d, s.first_v, sizeof (float) * n);
  float *d_second_u = device_floats (&d, n), *d_second_v = device_floats (&d, n);
  g_assert_cmpint (fa_cuda_flow_patch_second (d_i0, d_gx, d_gy, d_ext, &s.lv, d_tensors_cpu, d_in_u,
                                              d_in_v, 6, d_second_u, d_second_v, NULL),
                   ==, cudaSuccess);
  g_autofree float *second_u = download (d_second_u, n), *second_v = download (d_second_v, n);
  double second_bad = patch_disagreement (second_u, second_v, s.second_u, s.second_v, n);
  g_test_message ("patches differing by > 0.01 px: first pass %.2f %%, second %.2f %%",
                  100.0 * first_bad, 100.0 * second_bad);
  g_assert_cmpfloat (first_bad, <=, 0.02);
  g_assert_cmpfloat (second_bad, <=, 0.02);

  /* densification from the CPU's patch vectors */
  float *d_su = upload (&d, s.second_u, sizeof (float) * n);
  float *d_sv = upload (&d, s.second_v, sizeof (float) * n);
  float *d_dense_u = device_floats (&d, W * H), *d_dense_v = device_floats (&d, W * H);
  g_autofree float *dense_u = g_new (float, W * H), *dense_v = g_new (float, W * H);
  g_autofree float *weight = g_new (float, W * H);
  fa_cpu_flow_densify (s.i0, s.ext, &s.lv, s.second_u, s.second_v, dense_u, dense_v, weight, 0, H);
  g_assert_cmpint (fa_cuda_flow_densify (d_i0, d_ext, &s.lv, d_su, d_sv, d_dense_u, d_dense_v, NULL),
                   ==, cudaSuccess);
  ASSERT_CLOSE (d_dense_u, dense_u, W * H, 1e-4, "densify u");
  ASSERT_CLOSE (d_dense_v, dense_v, W * H, 1e-4, "densify v");

  device_clear (&d);
  scene_clear (&s);
}

/* The refinement's buffers, on the host or the device. */
static void
var_alloc_host (FaFlowVar *var, float **block)
{
  float **fields[] = { &var->ix, &var->iy, &var->iz, &var->ixx, &var->ixy, &var->iyy, &var->ixz,
                       &var->iyz, &var->avg, &var->inv_a11, &var->a12, &var->inv_a22, &var->b1,
                       &var->b2, &var->smooth, &var->du, &var->dv, &var->tu, &var->tv };
  *block = g_new (float, G_N_ELEMENTS (fields) * W * H);
  for (gsize k = 0; k < G_N_ELEMENTS (fields); k++)
    *fields[k] = *block + k * W * H;
}

static void
test_variational (void)
{
  g_autoptr (FaBackend) cuda = require_cuda ();
  if (cuda == NULL)
    return;
  Scene s;
  scene_init (&s);
  Device d = { .backend = cuda };
  const gsize ext_n = (gsize) s.lv.ext_width * (H + 2 * s.lv.border);
  const FaFlowVarParams params = { 20.0f, 5.0f, 10.0f, 1.6f, 0.1f, 0.001f };
  FaFlowVar host, dev;
  g_autofree float *block = NULL;
  var_alloc_host (&host, &block);
  /* the device's copy of the same layout, field k at k·W·H */
  float *d_block = device_floats (&d, 19 * W * H);
  float **df[] = { &dev.ix, &dev.iy, &dev.iz, &dev.ixx, &dev.ixy, &dev.iyy, &dev.ixz,
                   &dev.iyz, &dev.avg, &dev.inv_a11, &dev.a12, &dev.inv_a22, &dev.b1,
                   &dev.b2, &dev.smooth, &dev.du, &dev.dv, &dev.tu, &dev.tv };
  for (gsize k = 0; k < G_N_ELEMENTS (df); k++)
    *df[k] = d_block + k * W * H;

  float *d_i0 = upload (&d, s.i0, sizeof (float) * W * H);
  float *d_ext = upload (&d, s.ext, sizeof (float) * ext_n);
  float *d_u = upload (&d, s.u, sizeof (float) * W * H);
  float *d_v = upload (&d, s.v, sizeof (float) * W * H);

  /* Each stage runs on both sides; then the CPU's result is copied over
   * the device's so that the next stage starts from identical inputs. */
#define SYNC_FROM_HOST()                                                                        \
  g_assert_cmpint (cudaMemcpy (d_block, block, sizeof (float) * 19 * W * H,                    \
                               cudaMemcpyHostToDevice), ==, cudaSuccess)

  fa_cpu_flow_var_warp (s.i0, s.ext, &s.lv, s.u, s.v, &host, 0, H);
  g_assert_cmpint (fa_cuda_flow_var_warp (d_i0, d_ext, &s.lv, d_u, d_v, &dev, NULL), ==, cudaSuccess);
  ASSERT_CLOSE (dev.avg, host.avg, W * H, TOL, "warp: average");
  ASSERT_CLOSE (dev.iz, host.iz, W * H, 1e-4, "warp: temporal difference");
  SYNC_FROM_HOST ();

  fa_cpu_flow_var_deriv (&s.lv, s.u, s.v, &host, 0, H);
  g_assert_cmpint (fa_cuda_flow_var_deriv (&s.lv, d_u, d_v, &dev, NULL), ==, cudaSuccess);
  ASSERT_CLOSE (dev.ix, host.ix, W * H, TOL, "ix");
  ASSERT_CLOSE (dev.iyz, host.iyz, W * H, TOL, "iyz");
  ASSERT_CLOSE (dev.tu, host.tu, W * H, 0.0, "current flow");
  fa_cpu_flow_var_deriv2 (&s.lv, &host, 0, H);
  g_assert_cmpint (fa_cuda_flow_var_deriv2 (&s.lv, &dev, NULL), ==, cudaSuccess);
  ASSERT_CLOSE (dev.ixx, host.ixx, W * H, TOL, "ixx");
  ASSERT_CLOSE (dev.ixy, host.ixy, W * H, TOL, "ixy");
  ASSERT_CLOSE (dev.iyy, host.iyy, W * H, TOL, "iyy");
  SYNC_FROM_HOST ();

  for (int it = 0; it < 2; it++)
    {
      fa_cpu_flow_var_smooth (&s.lv, &host, &params, 0, H);
      g_assert_cmpint (fa_cuda_flow_var_smooth (&s.lv, &dev, &params, NULL), ==, cudaSuccess);
      ASSERT_CLOSE (dev.smooth, host.smooth, W * H, TOL, "smoothness weights");
      SYNC_FROM_HOST ();

      fa_cpu_flow_var_system (&s.lv, s.u, s.v, &host, &params, 0, H);
      g_assert_cmpint (fa_cuda_flow_var_system (&s.lv, d_u, d_v, &dev, &params, NULL), ==,
                       cudaSuccess);
      ASSERT_CLOSE (dev.inv_a11, host.inv_a11, W * H, TOL, "system 1/a11");
      ASSERT_CLOSE (dev.a12, host.a12, W * H, TOL, "system a12");
      ASSERT_CLOSE (dev.b2, host.b2, W * H, TOL, "system b2");
      SYNC_FROM_HOST ();

      for (int color = 0; color < 2; color++)
        {
          fa_cpu_flow_var_sor (&s.lv, &host, 1.6f, color, 0, H);
          g_assert_cmpint (fa_cuda_flow_var_sor (&s.lv, &dev, 1.6f, color, NULL), ==, cudaSuccess);
          ASSERT_CLOSE (dev.du, host.du, W * H, 1e-4, "SOR du");
          ASSERT_CLOSE (dev.dv, host.dv, W * H, 1e-4, "SOR dv");
          SYNC_FROM_HOST ();
        }
      fa_cpu_flow_var_update (&s.lv, s.u, s.v, &host, 0, 0, H);
      g_assert_cmpint (fa_cuda_flow_var_update (&s.lv, d_u, d_v, &dev, 0, NULL), ==, cudaSuccess);
      ASSERT_CLOSE (dev.tu, host.tu, W * H, TOL, "update");
      SYNC_FROM_HOST ();
    }
  fa_cpu_flow_var_update (&s.lv, s.u, s.v, &host, 1, 0, H);
  g_assert_cmpint (fa_cuda_flow_var_update (&s.lv, d_u, d_v, &dev, 1, NULL), ==, cudaSuccess);
  ASSERT_CLOSE (d_u, s.u, W * H, TOL, "final update");
#undef SYNC_FROM_HOST

  device_clear (&d);
  scene_clear (&s);
}

/* The whole flow: CUDA against the CPU on a pair with known motion. */
static void
test_end_to_end (void)
{
  g_autoptr (FaBackend) cuda = require_cuda ();
  if (cuda == NULL)
    return;
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  g_autoptr (GError) error = NULL;
  const int w = 320, h = 240;
  g_autofree guint8 *f0 = g_new (guint8, w * h * 3), *f1 = g_new (guint8, w * h * 3);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 3; c++)
        {
          f0[(y * w + x) * 3 + c] = (guint8) lround (texture (x, y, c));
          f1[(y * w + x) * 3 + c] = (guint8) lround (texture (x - 4.3, y - 2.2, c));
        }

  for (int preset = FA_FLOW_PRESET_FAST; preset <= FA_FLOW_PRESET_FINE; preset++)
    {
      FaFlowParams params;
      fa_flow_params_init (&params, preset);
      g_autoptr (FaFlow) on_cpu = fa_flow_new (cpu, w, h, &params, &error);
      g_assert_no_error (error);
      g_autoptr (FaFlow) on_cuda = fa_flow_new (cuda, w, h, &params, &error);
      g_assert_no_error (error);
      g_autofree float *a = g_new (float, w * h * 2), *b = g_new (float, w * h * 2);
      g_assert_true (fa_flow_compute (on_cpu, f0, f1, a, &error));
      fa_test_poison (b, w * h * 2);

      guint64 before, after, peak;
      fa_backend_get_memory (cuda, &before, NULL);
      fa_backend_reset_peak (cuda);
      g_assert_true (fa_flow_compute (on_cuda, f0, f1, b, &error));
      g_assert_no_error (error);
      fa_backend_get_memory (cuda, &after, &peak);
      g_assert_cmpuint (after, ==, before);
      g_assert_cmpuint (peak, ==, before);

      double between = 0.0, truth_cpu = 0.0, truth_cuda = 0.0;
      int n = 0;
      for (int y = 16; y < h - 16; y++)
        for (int x = 16; x < w - 16; x++)
          {
            const int i = y * w + x;
            between += hypot (a[2 * i] - b[2 * i], a[2 * i + 1] - b[2 * i + 1]);
            truth_cpu += hypot (a[2 * i] - 4.3, a[2 * i + 1] - 2.2);
            truth_cuda += hypot (b[2 * i] - 4.3, b[2 * i + 1] - 2.2);
            n++;
          }
      g_test_message ("preset %d: CPU–CUDA mean difference %.4f px; EPE CPU %.4f, CUDA %.4f",
                      preset, between / n, truth_cpu / n, truth_cuda / n);
      g_assert_cmpfloat (between / n, <, 0.02);
      g_assert_cmpfloat (truth_cuda / n, <, 0.2);
    }
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;

  g_test_init (&argc, &argv, NULL);
  if (!fa_cuda_probe (0, NULL, NULL, &error))
    cuda_skip_reason = g_strdup (error->message);

  g_test_add_func ("/cuda-flow/arguments", test_arguments);
  g_test_add_func ("/cuda-flow/pyramid", test_pyramid);
  g_test_add_func ("/cuda-flow/patches", test_patches);
  g_test_add_func ("/cuda-flow/variational", test_variational);
  g_test_add_func ("/cuda-flow/end-to-end", test_end_to_end);

  int status = g_test_run ();
  g_free (cuda_skip_reason);
  return status;
}
