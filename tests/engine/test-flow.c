/* The dense optical flow on the CPU: known motions of a smooth random
 * texture (a sub-pixel translation, a small rotation, an affine map), whose
 * exact flow is known everywhere, must come out within a stated mean
 * end-point error over the interior; identical frames give zero flow; bad
 * sizes, parameters and NULLs give clear errors; and a planned compute
 * allocates nothing on the backend.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>

#include "fa-backend.h"
#include "fa-error.h"
#include "fa-flow.h"
#include "fa-test-util.h"

#define WIDTH 256
#define HEIGHT 192
/* Pixels this close to the frame see motion from outside it: not scored. */
#define MARGIN 16
#define N_WAVES 24

typedef struct {
  double fx[N_WAVES], fy[N_WAVES], phase[N_WAVES], amp[N_WAVES];
} Texture;

/* A sum of plane waves with periods of 6 to 48 pixels in every direction:
 * smooth (so sampling it anywhere is exact) yet textured at every scale the
 * pyramid looks at. */
static void
texture_init (Texture *t, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);

  for (int k = 0; k < N_WAVES; k++)
    {
      double period = g_rand_double_range (rand, 6.0, 48.0);
      double angle = g_rand_double_range (rand, 0.0, 2.0 * G_PI);
      t->fx[k] = 2.0 * G_PI * cos (angle) / period;
      t->fy[k] = 2.0 * G_PI * sin (angle) / period;
      t->phase[k] = g_rand_double_range (rand, 0.0, 2.0 * G_PI);
      t->amp[k] = g_rand_double_range (rand, 0.5, 1.0);
    }
}

static double
texture_at (const Texture *t, double x, double y)
{
  double sum = 0.0, norm = 0.0;

  for (int k = 0; k < N_WAVES; k++)
    {
      sum += t->amp[k] * sin (t->fx[k] * x + t->fy[k] * y + t->phase[k]);
      norm += t->amp[k];
    }
  return 128.0 + 110.0 * sum / sqrt (norm * 2.0);
}

/* The affine motion p' = M p + c about the frame centre. */
typedef struct {
  double m[2][2];
  double c[2];
} Motion;

static guint8
to_byte (double v)
{
  return (guint8) CLAMP (lround (v), 0, 255);
}

/* frame0(p) = T(p); frame1(q) = T(motion⁻¹(q)), so frame0(p) =
 * frame1(motion(p)) and the exact flow at p is motion(p) − p. */
static void
make_pair (const Texture *t, const Motion *motion, guint8 *frame0, guint8 *frame1, float *flow)
{
  const double cx = WIDTH / 2.0, cy = HEIGHT / 2.0;
  const double det = motion->m[0][0] * motion->m[1][1] - motion->m[0][1] * motion->m[1][0];

  for (int y = 0; y < HEIGHT; y++)
    for (int x = 0; x < WIDTH; x++)
      {
        const int i = y * WIDTH + x;
        double px = x - cx, py = y - cy;
        double qx = motion->m[0][0] * px + motion->m[0][1] * py + motion->c[0];
        double qy = motion->m[1][0] * px + motion->m[1][1] * py + motion->c[1];
        flow[2 * i] = (float) (qx - px);
        flow[2 * i + 1] = (float) (qy - py);

        /* where frame1's pixel (x, y) comes from */
        double rx = px - motion->c[0], ry = py - motion->c[1];
        double sx = (motion->m[1][1] * rx - motion->m[0][1] * ry) / det;
        double sy = (-motion->m[1][0] * rx + motion->m[0][0] * ry) / det;
        double a = texture_at (t, px + cx, py + cy), b = texture_at (t, sx + cx, sy + cy);
        /* the channels differ a little so that the grey conversion matters */
        frame0[3 * i] = to_byte (a + 6.0);
        frame0[3 * i + 1] = to_byte (a);
        frame0[3 * i + 2] = to_byte (a - 6.0);
        frame1[3 * i] = to_byte (b + 6.0);
        frame1[3 * i + 1] = to_byte (b);
        frame1[3 * i + 2] = to_byte (b - 6.0);
      }
}

static double
interior_epe (const float *flow, const float *truth)
{
  double sum = 0.0;
  int n = 0;

  for (int y = MARGIN; y < HEIGHT - MARGIN; y++)
    for (int x = MARGIN; x < WIDTH - MARGIN; x++)
      {
        const int i = y * WIDTH + x;
        if (!isfinite (flow[2 * i]) || !isfinite (flow[2 * i + 1]))
          return INFINITY;
        sum += hypot (flow[2 * i] - truth[2 * i], flow[2 * i + 1] - truth[2 * i + 1]);
        n++;
      }
  return sum / n;
}

typedef struct {
  const char *name;
  Motion motion;
  double max_epe;
} MotionCase;

static void
check_motion (gconstpointer data)
{
  const MotionCase *mc = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  Texture texture;
  FaFlowParams params;

  texture_init (&texture, 7);
  g_autofree guint8 *frame0 = g_malloc (WIDTH * HEIGHT * 3);
  g_autofree guint8 *frame1 = g_malloc (WIDTH * HEIGHT * 3);
  g_autofree float *truth = g_malloc (sizeof (float) * WIDTH * HEIGHT * 2);
  g_autofree float *flow = g_malloc (sizeof (float) * WIDTH * HEIGHT * 2);
  make_pair (&texture, &mc->motion, frame0, frame1, truth);

  fa_flow_params_init (&params, FA_FLOW_PRESET_MEDIUM);
  g_autoptr (FaFlow) plan = fa_flow_new (cpu, WIDTH, HEIGHT, &params, &error);
  g_assert_no_error (error);
  fa_test_poison (flow, WIDTH * HEIGHT * 2);
  g_assert_true (fa_flow_compute (plan, frame0, frame1, flow, &error));
  g_assert_no_error (error);

  double epe = interior_epe (flow, truth);
  g_test_message ("%s: mean EPE %.4f px (bound %.2f)", mc->name, epe, mc->max_epe);
  if (!(epe <= mc->max_epe))
    g_error ("%s: mean end-point error %.4f px exceeds %.2f", mc->name, epe, mc->max_epe);

  /* zero motion must not come out as motion */
  fa_test_poison (flow, WIDTH * HEIGHT * 2);
  g_assert_true (fa_flow_compute (plan, frame0, frame0, flow, &error));
  double max_mag = 0.0;
  for (int i = 0; i < WIDTH * HEIGHT; i++)
    max_mag = fmax (max_mag, isfinite (flow[2 * i]) && isfinite (flow[2 * i + 1])
                               ? hypot (flow[2 * i], flow[2 * i + 1])
                               : INFINITY);
  g_test_message ("%s: identical frames, largest vector %.2g px", mc->name, max_mag);
  g_assert_cmpfloat (max_mag, <, 1e-3);
}

static const MotionCase motion_cases[] = {
  { "translation", { { { 1.0, 0.0 }, { 0.0, 1.0 } }, { 3.37, -1.71 } }, 0.06 },
  /* 3° about the centre: up to 6.7 px at the corners */
  { "rotation", { { { 0.99863, -0.05234 }, { 0.05234, 0.99863 } }, { 0.4, 0.3 } }, 0.10 },
  /* 4 % zoom with shear and a shift: a smooth field of 0 to 8 px */
  { "affine", { { { 1.04, 0.02 }, { -0.015, 0.97 } }, { -2.3, 1.6 } }, 0.10 },
};

/* Large motion the pyramid has to find: 14 px, about 2.5 patches. */
static const MotionCase large_case = {
  "large translation", { { { 1.0, 0.0 }, { 0.0, 1.0 } }, { -13.6, 5.2 } }, 0.10
};

static void
test_presets (void)
{
  FaFlowParams fast, medium, fine;

  fa_flow_params_init (&fast, FA_FLOW_PRESET_FAST);
  fa_flow_params_init (&medium, FA_FLOW_PRESET_MEDIUM);
  fa_flow_params_init (&fine, FA_FLOW_PRESET_FINE);
  g_assert_cmpint (fast.finest_scale, ==, 2);
  g_assert_cmpint (fast.patch_stride, ==, 4);
  g_assert_cmpint (fast.gd_iterations, ==, 16);
  g_assert_cmpint (medium.finest_scale, ==, 1);
  g_assert_cmpint (medium.patch_stride, ==, 3);
  g_assert_cmpint (medium.gd_iterations, ==, 25);
  g_assert_cmpint (fine.finest_scale, ==, 0);
  for (int k = 0; k < 3; k++)
    {
      const FaFlowParams *p = k == 0 ? &fast : k == 1 ? &medium : &fine;
      g_assert_cmpint (p->patch_size, ==, 8);
      g_assert_cmpint (p->var_iterations, ==, 5);
      g_assert_cmpfloat (p->var_alpha, ==, 20.0f);
      g_assert_cmpfloat (p->var_delta, ==, 5.0f);
      g_assert_cmpfloat (p->var_gamma, ==, 10.0f);
    }

  /* every preset runs on a small pair and finds a translation */
  Texture texture;
  texture_init (&texture, 11);
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  g_autofree guint8 *frame0 = g_malloc (WIDTH * HEIGHT * 3);
  g_autofree guint8 *frame1 = g_malloc (WIDTH * HEIGHT * 3);
  g_autofree float *truth = g_malloc (sizeof (float) * WIDTH * HEIGHT * 2);
  g_autofree float *flow = g_malloc (sizeof (float) * WIDTH * HEIGHT * 2);
  make_pair (&texture, &motion_cases[0].motion, frame0, frame1, truth);
  for (int k = 0; k < 3; k++)
    {
      g_autoptr (GError) error = NULL;
      const FaFlowParams *p = k == 0 ? &fast : k == 1 ? &medium : &fine;
      g_autoptr (FaFlow) plan = fa_flow_new (cpu, WIDTH, HEIGHT, p, &error);
      g_assert_no_error (error);
      g_assert_true (fa_flow_compute (plan, frame0, frame1, flow, &error));
      double epe = interior_epe (flow, truth);
      /* fast searches at quarter size, fine at full size */
      const double bound[3] = { 0.4, 0.1, 0.05 };
      g_test_message ("preset %d: translation EPE %.4f (bound %.2f)", k, epe, bound[k]);
      g_assert_cmpfloat (epe, <, bound[k]);
    }
}

static void
test_bad_arguments (void)
{
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  FaFlowParams params;
  fa_flow_params_init (&params, FA_FLOW_PRESET_MEDIUM);

  {
    g_autoptr (GError) error = NULL;
    g_assert_null (fa_flow_new (cpu, 0, 480, &params, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "0×480");
  }
  {
    g_autoptr (GError) error = NULL;
    g_assert_null (fa_flow_new (cpu, 640, -3, &params, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "640×-3");
  }
  {
    g_autoptr (GError) error = NULL;
    g_assert_null (fa_flow_new (cpu, 100000, 100000, &params, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "100000×100000");
  }
  {
    /* medium searches at half size: 15 px becomes 7, under one 8-px patch */
    g_autoptr (GError) error = NULL;
    g_assert_null (fa_flow_new (cpu, 15, 200, &params, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "too small");
  }
  {
    g_autoptr (GError) error = NULL;
    g_assert_null (fa_flow_new (NULL, 64, 64, &params, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "no backend");
  }
  {
    g_autoptr (GError) error = NULL;
    FaFlowParams bad = params;
    bad.patch_stride = 0;
    g_assert_null (fa_flow_new (cpu, 64, 64, &bad, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "patch_stride");
  }
  {
    g_autoptr (GError) error = NULL;
    FaFlowParams bad = params;
    bad.var_alpha = NAN;
    g_assert_null (fa_flow_new (cpu, 64, 64, &bad, &error));
    fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "var_alpha");
  }

  /* the smallest size medium takes works, and NULLs are errors */
  g_autoptr (GError) error = NULL;
  g_autoptr (FaFlow) plan = fa_flow_new (cpu, 16, 16, &params, &error);
  g_assert_no_error (error);
  guint8 frame[16 * 16 * 3] = { 0 };
  float flow[16 * 16 * 2];
  g_assert_true (fa_flow_compute (plan, frame, frame, flow, &error));
  for (int i = 0; i < 16 * 16 * 2; i++)
    g_assert_cmpfloat (flow[i], ==, 0.0f);

  g_assert_false (fa_flow_compute (plan, NULL, frame, flow, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "frame 0");
  g_clear_error (&error);
  g_assert_false (fa_flow_compute (plan, frame, frame, NULL, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "output");
  g_clear_error (&error);
  g_assert_false (fa_flow_compute (NULL, frame, frame, flow, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "plan");
}

/* Every buffer is the plan's: computing leaves the backend's count of
 * memory, and its peak, where the plan left them. */
static void
test_no_allocation (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  guint64 before = 0, after = 0, peak = 0;

  g_autoptr (FaFlow) plan = fa_flow_new (cpu, WIDTH, HEIGHT, NULL, &error);
  g_assert_no_error (error);
  fa_backend_get_memory (cpu, &before, NULL);
  g_assert_cmpuint (before, >, (guint64) WIDTH * HEIGHT * sizeof (float));
  fa_backend_reset_peak (cpu);

  g_autofree guint8 *frame = g_malloc0 (WIDTH * HEIGHT * 3);
  g_autofree float *flow = g_malloc (sizeof (float) * WIDTH * HEIGHT * 2);
  g_assert_true (fa_flow_compute (plan, frame, frame, flow, &error));
  fa_backend_get_memory (cpu, &after, &peak);
  g_assert_cmpuint (after, ==, before);
  g_assert_cmpuint (peak, ==, before);

  g_clear_pointer (&plan, fa_flow_free);
  fa_backend_get_memory (cpu, &after, NULL);
  g_assert_cmpuint (after, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize k = 0; k < G_N_ELEMENTS (motion_cases); k++)
    {
      g_autofree char *path = g_strdup_printf ("/flow/cpu/%s", motion_cases[k].name);
      g_test_add_data_func (path, &motion_cases[k], check_motion);
    }
  g_test_add_data_func ("/flow/cpu/large-translation", &large_case, check_motion);
  g_test_add_func ("/flow/presets", test_presets);
  g_test_add_func ("/flow/bad-arguments", test_bad_arguments);
  g_test_add_func ("/flow/no-allocation", test_no_allocation);
  return g_test_run ();
}
