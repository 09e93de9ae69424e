/* test-kernels.c: the standalone GPU check of kernels/cuda, with no GLib and
 * no meson, for machines that have only a CUDA toolkit and a C compiler
 * (tests/gpu/run.sh builds and runs it).
 *
 * Every CUDA kernel is held against a float64 reference (tests/fa-reference.h,
 * plain C like this file) and against its CPU twin in kernels/cpu, on random
 * inputs of several shapes (odd sizes, rows past the shared-memory cache,
 * addresses off the 16-byte grid, sizes past one launch's threads), with
 * outputs poisoned with NaN so that an unwritten element fails. Relative
 * error is max|y − ref| / max|ref|; f32 must agree to 1e-5, bf16 and every
 * linear (bf16 operands) to 1e-2; NaN never passes. The transformer ops
 * (attention, RoPE, modulation, gated add, patchify) follow, then a
 * benchmark: cuBLAS bf16 GEMM TFLOP/s at the Wan shapes, elementwise / norm
 * GB/s on a [32760, 1536] tensor and flash attention TFLOP/s (8192 tokens,
 * and the full 32760 of Wan2.1-1.3B at 480p without --quick), median of
 * timed repetitions after warm-up, each result checked too.
 *
 * Exit status: 0 all passed, 1 a check failed, 77 no usable CUDA device.
 * Usage: test-kernels [--no-bench] [--quick]
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "fa-cpu-kernels.h"
#include "fa-cuda-kernels.h"
#include "fa-half.h"
#include "fa-reference.h"

#define F32_TOLERANCE 1e-5
#define BF16_TOLERANCE 1e-2
#define LINEAR_ROUNDED_TOLERANCE 1e-4
#define EXIT_NO_DEVICE 77

static cudaStream_t stream;
static cublasHandle_t blas;
static int quick;

/* ---- failures that end the run (a faulted context is unusable) ---- */

#define CUDA_CHECK(call)                                                                  \
  do {                                                                                    \
    cudaError_t check_ = (call);                                                          \
    if (check_ != cudaSuccess)                                                            \
      die ("%s:%d: %s failed: %s (%s)", __FILE__, __LINE__, #call,                        \
           cudaGetErrorString (check_), cudaGetErrorName (check_));                       \
  } while (0)

static void print_summary (void);

static void
die (const char *format, ...)
{
  va_list args;

  va_start (args, format);
  fprintf (stdout, "FATAL: ");
  vfprintf (stdout, format, args);
  fprintf (stdout, "\n");
  va_end (args);
  print_summary ();
  printf ("RESULT: FAIL (the run stopped early)\n");
  fflush (stdout);
  exit (1);
}

static void *
xmalloc (size_t bytes)
{
  void *p = malloc (bytes > 0 ? bytes : 1);
  if (p == NULL)
    die ("out of host memory (%zu bytes)", bytes);
  return p;
}

/* ---- results ---- */

typedef struct {
  char op[48];
  char dtype[24];
  char shape[64];
  double err_ref; /* against float64 */
  double err_cpu; /* against the CPU kernel; NAN when not compared */
  double tolerance;
  int pass;
} Result;

#define MAX_RESULTS 4096
static Result results[MAX_RESULTS];
static int n_results;

/* "-" for a comparison that was not made (NAN). */
static const char *
format_error (double err, char *buffer, size_t size)
{
  if (isnan (err))
    snprintf (buffer, size, "-");
  else
    snprintf (buffer, size, "%.3g", err);
  return buffer;
}

static void
record (const char *op, const char *dtype, const char *shape, double err_ref, double err_cpu,
        double tolerance)
{
  int pass = err_ref <= tolerance && (isnan (err_cpu) || err_cpu <= tolerance);
  char ref_text[24], cpu_text[24];

  printf ("  %-4s %-36s %-9s %-26s vs f64 %-9s vs CPU %-9s tol %g\n", pass ? "ok" : "FAIL",
          op, dtype, shape, format_error (err_ref, ref_text, sizeof ref_text),
          format_error (err_cpu, cpu_text, sizeof cpu_text), tolerance);
  if (n_results < MAX_RESULTS)
    {
      Result *r = &results[n_results++];
      snprintf (r->op, sizeof r->op, "%s", op);
      snprintf (r->dtype, sizeof r->dtype, "%s", dtype);
      snprintf (r->shape, sizeof r->shape, "%s", shape);
      r->err_ref = err_ref;
      r->err_cpu = err_cpu;
      r->tolerance = tolerance;
      r->pass = pass;
    }
}

/* One line per (op, dtype): cases, worst errors, verdict. */
static void
print_summary (void)
{
  int done[MAX_RESULTS] = { 0 };

  printf ("\n== summary\n%-36s %-9s %5s  %-20s %-20s %-9s %-9s %-7s %s\n", "op", "dtype", "cases",
          "first shape", "last shape", "max f64", "max CPU", "tol", "result");
  for (int i = 0; i < n_results; i++)
    {
      if (done[i])
        continue;
      int cases = 0, failures = 0;
      double max_ref = 0, max_cpu = NAN;
      char ref_text[24], cpu_text[24];
      const char *first = results[i].shape, *last = results[i].shape;
      for (int j = i; j < n_results; j++)
        {
          if (strcmp (results[j].op, results[i].op) != 0 ||
              strcmp (results[j].dtype, results[i].dtype) != 0)
            continue;
          done[j] = 1;
          cases++;
          failures += !results[j].pass;
          max_ref = fmax (max_ref, results[j].err_ref);
          if (!isnan (results[j].err_cpu))
            max_cpu = isnan (max_cpu) ? results[j].err_cpu : fmax (max_cpu, results[j].err_cpu);
          last = results[j].shape;
        }
      printf ("%-36s %-9s %5d  %-20s %-20s %-9s %-9s %-7g %s\n", results[i].op, results[i].dtype,
              cases, first, last, format_error (max_ref, ref_text, sizeof ref_text),
              format_error (max_cpu, cpu_text, sizeof cpu_text), results[i].tolerance,
              failures == 0 ? "PASS" : "FAIL");
    }
}

/* ---- data ---- */

static uint64_t rng_state;

/* splitmix64: deterministic, good enough for test data. */
static double
rng_uniform (void)
{
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double) (z >> 11) * (1.0 / 9007199254740992.0);
}

static const char *
dtype_name (FaDType dtype)
{
  switch (dtype)
    {
    case FA_DTYPE_F32: return "f32";
    case FA_DTYPE_BF16: return "bf16";
    case FA_DTYPE_F16: return "f16";
    default: return "?";
    }
}

static float
round_to (FaDType dtype, float v)
{
  switch (dtype)
    {
    case FA_DTYPE_BF16: return fa_bf16_to_f32 (fa_f32_to_bf16 (v));
    case FA_DTYPE_F16: return fa_f16_to_f32 (fa_f32_to_f16 (v));
    default: return v;
    }
}

/* Uniform values that @dtype holds exactly, so the references see the very
 * numbers the device does. */
static float *
random_values (int64_t n, uint64_t seed, float lo, float hi, FaDType dtype)
{
  float *v = xmalloc ((size_t) n * sizeof (float));

  rng_state = seed * 0x2545f4914f6cdd1dull + 1;
  for (int64_t i = 0; i < n; i++)
    v[i] = round_to (dtype, (float) (lo + (hi - lo) * rng_uniform ()));
  return v;
}

static double
tolerance_for (FaDType dtype)
{
  return dtype == FA_DTYPE_F32 ? F32_TOLERANCE : BF16_TOLERANCE;
}

/* max|y − ref| / max|ref|; infinite when anything is not finite. */
static double
relative_error (const float *y, const double *ref, int64_t n)
{
  double max_diff = 0, max_ref = 0;

  for (int64_t i = 0; i < n; i++)
    {
      if (!isfinite (y[i]) || !isfinite (ref[i]))
        return INFINITY;
      max_diff = fmax (max_diff, fabs ((double) y[i] - ref[i]));
      max_ref = fmax (max_ref, fabs (ref[i]));
    }
  return max_diff / fmax (max_ref, 1e-30);
}

static double
relative_error_f (const float *y, const float *ref, int64_t n)
{
  double *d = xmalloc ((size_t) n * sizeof (double));
  for (int64_t i = 0; i < n; i++)
    d[i] = ref[i];
  double err = relative_error (y, d, n);
  free (d);
  return err;
}

/* ---- device buffers: all freed together after each case ---- */

#define MAX_ALLOCS 64
static void *allocs[MAX_ALLOCS];
static int n_allocs;

static void *
dev_alloc (size_t bytes)
{
  void *p = NULL;

  if (n_allocs == MAX_ALLOCS)
    die ("too many device buffers");
  CUDA_CHECK (cudaMalloc (&p, bytes > 0 ? bytes : 1));
  allocs[n_allocs++] = p;
  return p;
}

static void
dev_free_all (void)
{
  CUDA_CHECK (cudaStreamSynchronize (stream));
  while (n_allocs > 0)
    CUDA_CHECK (cudaFree (allocs[--n_allocs]));
}

/* @values in @dtype on the device, @offset elements into a fresh buffer
 * (offset 1 puts the data off the 16-byte grid). */
static void *
upload (const float *values, FaDType dtype, int64_t n, int offset)
{
  size_t size = fa_dtype_size (dtype);
  void *host = xmalloc ((size_t) n * size);
  char *base = dev_alloc ((size_t) (n + offset) * size);

  fa_cpu_convert (values, FA_DTYPE_F32, host, dtype, n);
  CUDA_CHECK (cudaMemcpy (base + (size_t) offset * size, host, (size_t) n * size,
                          cudaMemcpyHostToDevice));
  free (host);
  return base + (size_t) offset * size;
}

static void *
poisoned (FaDType dtype, int64_t n, int offset)
{
  float *nan = xmalloc ((size_t) n * sizeof (float));
  for (int64_t i = 0; i < n; i++)
    nan[i] = NAN;
  void *d = upload (nan, dtype, n, offset);
  free (nan);
  return d;
}

static float *
download (const void *d, FaDType dtype, int64_t n)
{
  size_t size = fa_dtype_size (dtype);
  void *host = xmalloc ((size_t) n * size);
  float *values = xmalloc ((size_t) n * sizeof (float));

  CUDA_CHECK (cudaStreamSynchronize (stream));
  CUDA_CHECK (cudaMemcpy (host, d, (size_t) n * size, cudaMemcpyDeviceToHost));
  fa_cpu_convert (host, dtype, values, FA_DTYPE_F32, n);
  free (host);
  return values;
}

/* A launch that fails is a failed case, not the end of the run. */
static int
launched (cudaError_t status, const char *op)
{
  if (status == cudaSuccess)
    return 1;
  printf ("  FAIL %s: launch returned %s (%s)\n", op, cudaGetErrorString (status),
          cudaGetErrorName (status));
  (void) cudaGetLastError ();
  return 0;
}

/* ---- row ops ---- */

typedef enum {
  ROW_LAYER_NORM,        /* no affine */
  ROW_LAYER_NORM_WEIGHT, /* ·gamma */
  ROW_LAYER_NORM_AFFINE, /* ·gamma + beta */
  ROW_RMS_NORM,
  ROW_RMS_NORM_WEIGHT,
  ROW_SOFTMAX,
} RowOp;

static const char *const row_op_names[] = {
  "layer_norm", "layer_norm (weight)", "layer_norm (affine)", "rms_norm", "rms_norm (weight)",
  "softmax",
};

static const int64_t row_shapes[][2] = {
  { 1, 1 }, { 1, 7 }, { 3, 5 }, { 17, 33 }, { 4, 1000 }, { 2, 1537 },
  { 33, 1536 }, { 5, 8960 }, { 3, 12000 }, { 2, 12001 }, { (1 << 20) + 3, 3 },
};

static void
check_row_op (RowOp op, FaDType dtype, int64_t rows, int64_t cols, int offset, uint64_t seed)
{
  const float eps = 1e-6f;
  int64_t n = rows * cols;
  char shape[64], name[64];
  float lo = op == ROW_SOFTMAX ? -30 : -3, hi = op == ROW_SOFTMAX ? 90 : 5;
  float *x = random_values (n, seed, lo, hi, dtype);
  float *gamma = random_values (cols, seed + 1, 0.5f, 1.5f, dtype);
  float *beta = random_values (cols, seed + 2, -1, 1, dtype);
  float *y_cpu = xmalloc ((size_t) n * sizeof (float));
  double *ref = xmalloc ((size_t) n * sizeof (double));
  const float *g = (op == ROW_LAYER_NORM_WEIGHT || op == ROW_LAYER_NORM_AFFINE ||
                    op == ROW_RMS_NORM_WEIGHT) ? gamma : NULL;
  const float *b = op == ROW_LAYER_NORM_AFFINE ? beta : NULL;

  void *dx = upload (x, dtype, n, offset);
  void *dg = upload (gamma, dtype, cols, offset);
  void *db = upload (beta, dtype, cols, offset);
  void *dy = poisoned (dtype, n, offset);
  cudaError_t status;

  switch (op)
    {
    case ROW_LAYER_NORM:
    case ROW_LAYER_NORM_WEIGHT:
    case ROW_LAYER_NORM_AFFINE:
      status = fa_cuda_layer_norm (dtype, dx, g ? dg : NULL, b ? db : NULL, dy, rows, cols, eps,
                                   stream);
      fa_reference_layer_norm (x, g, b, ref, rows, cols, eps);
      fa_cpu_layer_norm_f32 (x, g, b, y_cpu, rows, cols, eps);
      break;
    case ROW_RMS_NORM:
    case ROW_RMS_NORM_WEIGHT:
      status = fa_cuda_rms_norm (dtype, dx, g ? dg : NULL, dy, rows, cols, eps, stream);
      fa_reference_rms_norm (x, g, ref, rows, cols, eps);
      fa_cpu_rms_norm_f32 (x, g, y_cpu, rows, cols, eps);
      break;
    case ROW_SOFTMAX:
    default:
      status = fa_cuda_softmax (dtype, dx, dy, rows, cols, stream);
      fa_reference_softmax (x, ref, rows, cols);
      fa_cpu_softmax_f32 (x, y_cpu, rows, cols);
      break;
    }

  snprintf (shape, sizeof shape, "[%lld, %lld]", (long long) rows, (long long) cols);
  snprintf (name, sizeof name, "%s%s", row_op_names[op], offset ? " misaligned" : "");
  if (launched (status, name))
    {
      float *y = download (dy, dtype, n);
      record (name, dtype_name (dtype), shape, relative_error (y, ref, n),
              relative_error_f (y, y_cpu, n), tolerance_for (dtype));
      free (y);
    }
  else
    record (name, dtype_name (dtype), shape, INFINITY, INFINITY, tolerance_for (dtype));

  dev_free_all ();
  free (x), free (gamma), free (beta), free (y_cpu), free (ref);
}

/* ---- elementwise ---- */

static void
check_unary (int gelu, FaDType dtype, int64_t n, int offset, uint64_t seed)
{
  char shape[64], name[64];
  float *x = random_values (n, seed, gelu ? -6 : -12, gelu ? 6 : 12, dtype);
  float *y_cpu = xmalloc ((size_t) n * sizeof (float));
  double *ref = xmalloc ((size_t) n * sizeof (double));
  void *dx = upload (x, dtype, n, offset);
  void *dy = poisoned (dtype, n, offset);
  cudaError_t status = gelu ? fa_cuda_gelu_tanh (dtype, dx, dy, n, stream)
                            : fa_cuda_silu (dtype, dx, dy, n, stream);

  for (int64_t i = 0; i < n; i++)
    ref[i] = gelu ? fa_reference_gelu_tanh (x[i]) : fa_reference_silu (x[i]);
  if (gelu)
    fa_cpu_gelu_tanh_f32 (x, y_cpu, n);
  else
    fa_cpu_silu_f32 (x, y_cpu, n);

  snprintf (shape, sizeof shape, "[%lld]", (long long) n);
  snprintf (name, sizeof name, "%s%s", gelu ? "gelu_tanh" : "silu", offset ? " misaligned" : "");
  if (launched (status, name))
    {
      float *y = download (dy, dtype, n);
      record (name, dtype_name (dtype), shape, relative_error (y, ref, n),
              relative_error_f (y, y_cpu, n), tolerance_for (dtype));
      free (y);
    }
  else
    record (name, dtype_name (dtype), shape, INFINITY, INFINITY, tolerance_for (dtype));

  dev_free_all ();
  free (x), free (y_cpu), free (ref);
}

static void
check_binary (int add, FaDType dtype, int64_t n, int64_t nb, int offset, uint64_t seed)
{
  char shape[64], name[64];
  float *a = random_values (n, seed, -2, 2, dtype);
  float *b = random_values (nb, seed + 1, -2, 2, dtype);
  float *y_cpu = xmalloc ((size_t) n * sizeof (float));
  double *ref = xmalloc ((size_t) n * sizeof (double));
  void *da = upload (a, dtype, n, offset);
  void *dbb = upload (b, dtype, nb, offset);
  void *dy = poisoned (dtype, n, offset);
  cudaError_t status = add ? fa_cuda_add (dtype, da, dbb, dy, n, nb, stream)
                           : fa_cuda_mul (dtype, da, dbb, dy, n, nb, stream);

  (add ? fa_reference_add : fa_reference_mul) (a, b, ref, n, nb);
  if (add)
    fa_cpu_add_f32 (a, b, y_cpu, n, nb);
  else
    fa_cpu_mul_f32 (a, b, y_cpu, n, nb);

  snprintf (shape, sizeof shape, "[%lld] by [%lld]", (long long) n, (long long) nb);
  snprintf (name, sizeof name, "%s%s", add ? "add" : "mul", offset ? " misaligned" : "");
  if (launched (status, name))
    {
      float *y = download (dy, dtype, n);
      record (name, dtype_name (dtype), shape, relative_error (y, ref, n),
              relative_error_f (y, y_cpu, n), tolerance_for (dtype));
      free (y);
    }
  else
    record (name, dtype_name (dtype), shape, INFINITY, INFINITY, tolerance_for (dtype));

  dev_free_all ();
  free (a), free (b), free (y_cpu), free (ref);
}

/* Bit for bit against fa_cpu_convert (NaN only for NaN); the "error" is the
 * fraction of elements that differ. */
static void
check_convert (FaDType from, FaDType to, int64_t n)
{
  static const float special[] = {
    0.0f, -0.0f, 1.0f, -1.0f, INFINITY, -INFINITY, NAN, 65504.0f, 65520.0f, 70000.0f,
    1e-8f, -3e-6f, 6.1e-5f, 1.00390625f, 1.01171875f, 3.0e38f, -1.17549435e-38f, 1e-40f,
    0.33333334f, 2049.0f,
  };
  char shape[64], name[64], from_label[16];
  float *values = random_values (n, 99, -1000, 1000, FA_DTYPE_F32);
  for (int64_t i = 0; i < n && i < (int64_t) (sizeof special / sizeof special[0]); i++)
    values[i] = special[i];
  for (int64_t i = 0; i < n; i++)
    values[i] = round_to (from, values[i]);

  void *dx = upload (values, from, n, 0);
  void *dy = poisoned (to, n, 0);
  cudaError_t status = fa_cuda_convert (dx, from, dy, to, n, stream);

  snprintf (shape, sizeof shape, "[%lld]", (long long) n);
  snprintf (name, sizeof name, "convert to %s (bit-exact)", dtype_name (to));
  snprintf (from_label, sizeof from_label, "from %s", dtype_name (from));
  if (launched (status, name))
    {
      float *y = download (dy, to, n);
      int64_t bad = 0;
      for (int64_t i = 0; i < n; i++)
        {
          float want = round_to (to, values[i]);
          int same = isnan (want) ? isnan (y[i]) : fa_f32_bits (want) == fa_f32_bits (y[i]);
          if (!same && bad++ == 0)
            printf ("  convert %s→%s [%lld]: %.9g gave %.9g, expected %.9g\n", dtype_name (from),
                    dtype_name (to), (long long) i, values[i], y[i], want);
        }
      record (name, from_label, shape, (double) bad / (double) n, NAN, 0.0);
      free (y);
    }
  else
    record (name, from_label, shape, INFINITY, NAN, 0.0);

  dev_free_all ();
  free (values);
}

/* ---- linear ---- */

static void
check_linear (int64_t m, int64_t k, int64_t n, FaDType xd, FaDType wd, FaDType yd, int with_bias,
              uint64_t seed)
{
  char shape[64], name[64], y_label[16];
  FaDType bd = wd;
  float *x = random_values (m * k, seed, -1, 1, xd);
  float *w = random_values (n * k, seed + 1, -1, 1, wd);
  float *bias = random_values (n, seed + 2, -1, 1, bd);
  float *x_rounded = xmalloc ((size_t) (m * k) * sizeof (float));
  float *w_rounded = xmalloc ((size_t) (n * k) * sizeof (float));
  float *y_cpu = xmalloc ((size_t) (m * n) * sizeof (float));
  double *ref = xmalloc ((size_t) (m * n) * sizeof (double));
  double *ref_rounded = xmalloc ((size_t) (m * n) * sizeof (double));
  FaCudaStatus status;

  void *dx = upload (x, xd, m * k, 0);
  void *dw = upload (w, wd, n * k, 0);
  void *db = upload (bias, bd, n, 0);
  void *dy = poisoned (yd, m * n, 0);
  size_t scratch_size = fa_cuda_linear_scratch_size (xd, wd, m, k, n);
  void *scratch = scratch_size ? dev_alloc (scratch_size) : NULL;

  int rc = fa_cuda_linear (blas, stream, xd, dx, wd, dw, bd, with_bias ? db : NULL, yd, dy, m, k,
                           n, scratch, scratch_size, &status);

  /* Exact operands, and the bf16-rounded ones the GEMM multiplies (the bias
   * as it is). */
  for (int64_t i = 0; i < m * k; i++)
    x_rounded[i] = round_to (FA_DTYPE_BF16, x[i]);
  for (int64_t i = 0; i < n * k; i++)
    w_rounded[i] = round_to (FA_DTYPE_BF16, w[i]);
  fa_reference_linear (x, w, with_bias ? bias : NULL, ref, m, k, n);
  fa_reference_linear (x_rounded, w_rounded, with_bias ? bias : NULL, ref_rounded, m, k, n);
  fa_cpu_linear_f32 (x, w, with_bias ? bias : NULL, y_cpu, m, k, n);

  snprintf (shape, sizeof shape, "[%lld,%lld]x[%lld]%s", (long long) m, (long long) k,
            (long long) n, with_bias ? "+b" : "");
  snprintf (name, sizeof name, "linear x %s w %s", dtype_name (xd), dtype_name (wd));
  snprintf (y_label, sizeof y_label, "y %s", dtype_name (yd));
  if (rc != 0)
    {
      printf ("  FAIL %s: %s failed: %s\n", name, status.call,
              status.cuda_error != cudaSuccess ? cudaGetErrorString (status.cuda_error)
                                               : cublasGetStatusString (status.cublas_status));
      record (name, y_label, shape, INFINITY, INFINITY, BF16_TOLERANCE);
    }
  else
    {
      float *y = download (dy, yd, m * n);
      record (name, y_label, shape, relative_error (y, ref, m * n),
              relative_error_f (y, y_cpu, m * n), BF16_TOLERANCE);
      if (yd == FA_DTYPE_F32)
        {
          char rounded[96];
          snprintf (rounded, sizeof rounded, "%s (bf16 operands)", name);
          record (rounded, y_label, shape, relative_error (y, ref_rounded, m * n), NAN,
                  LINEAR_ROUNDED_TOLERANCE);
        }
      free (y);
    }

  dev_free_all ();
  free (x), free (w), free (bias), free (x_rounded), free (w_rounded), free (y_cpu), free (ref),
    free (ref_rounded);
}

/* ---- transformer ops ---- */

static double
pair_tolerance (FaDType in, FaDType out)
{
  return in == FA_DTYPE_F32 && out == FA_DTYPE_F32 ? F32_TOLERANCE : BF16_TOLERANCE;
}

/* The flash kernel (head_dim a multiple of 8 up to 128), or else the
 * explicit cuBLAS path in f32 (logits checked too). */
static void
check_attention (FaDType dtype, int64_t batch, int64_t n, int64_t m, int64_t heads,
                 int64_t head_dim, uint64_t seed)
{
  char shape[64], name[64];
  const int64_t width = heads * head_dim, nq = batch * n * width, nk = batch * m * width;
  const float scale = 1.0f / sqrtf ((float) head_dim);
  const int flash = fa_cuda_attention_supports (head_dim);
  float *q = random_values (nq, seed, -2, 2, dtype);
  float *k = random_values (nk, seed + 1, -2, 2, dtype);
  float *v = random_values (nk, seed + 2, -1, 1, dtype);
  float *y_cpu = xmalloc ((size_t) nq * sizeof (float));
  float *scratch = xmalloc ((size_t) fa_cpu_attention_scratch_floats (n, m) * sizeof (float));
  double *ref = xmalloc ((size_t) nq * sizeof (double));
  void *dq = upload (q, dtype, nq, 0);
  void *dk = upload (k, dtype, nk, 0);
  void *dv = upload (v, dtype, nk, 0);
  void *dy = poisoned (dtype, nq, 0);
  int ok = 1;

  if (fa_reference_attention (q, k, v, ref, batch, n, m, heads, head_dim, scale) != 0)
    die ("out of host memory for the attention reference");
  for (int64_t b = 0; b < batch; b++)
    fa_cpu_attention_f32 (q + b * n * width, k + b * m * width, v + b * m * width,
                          y_cpu + b * n * width, n, m, heads, head_dim, scale, scratch);

  snprintf (shape, sizeof shape, "[%lld,%lld]x%lld h%lld d%lld", (long long) batch, (long long) n,
            (long long) m, (long long) heads, (long long) head_dim);
  snprintf (name, sizeof name, "attention (%s)", flash ? "flash" : "explicit");
  if (flash)
    ok = launched (fa_cuda_attention (dtype, dq, dk, dv, dy, batch, n, m, heads, head_dim, scale,
                                      stream), name);
  else if (dtype != FA_DTYPE_F32)
    die ("check_attention: the explicit path takes f32");
  else
    {
      /* one batch element at a time, the logits checked on the way */
      float *logits = dev_alloc ((size_t) (heads * n * m) * sizeof (float));
      double *ref_logits = xmalloc ((size_t) (heads * n * m) * sizeof (double));
      FaCudaStatus status;
      double logits_err = 0;

      for (int64_t b = 0; ok && b < batch; b++)
        {
          if (fa_cuda_attention_logits (blas, stream, (const float *) dq + b * n * width,
                                        (const float *) dk + b * m * width, logits, n, m, heads,
                                        head_dim, scale, &status) != 0)
            {
              printf ("  FAIL %s: %s failed\n", name, status.call);
              ok = 0;
              break;
            }
          float *seen = download (logits, FA_DTYPE_F32, heads * n * m);
          fa_reference_attention_logits (q + b * n * width, k + b * m * width, ref_logits, n, m,
                                         heads, head_dim, scale);
          logits_err = fmax (logits_err, relative_error (seen, ref_logits, heads * n * m));
          free (seen);
          if (fa_cuda_attention_apply (blas, stream, logits, (const float *) dv + b * m * width,
                                       (float *) dy + b * n * width, n, m, heads, head_dim,
                                       &status) != 0)
            {
              printf ("  FAIL %s: %s failed\n", name, status.call);
              ok = 0;
            }
        }
      record ("attention logits (cuBLAS)", dtype_name (dtype), shape, ok ? logits_err : INFINITY,
              NAN, F32_TOLERANCE);
      free (ref_logits);
    }
  if (ok)
    {
      float *y = download (dy, dtype, nq);
      record (name, dtype_name (dtype), shape, relative_error (y, ref, nq),
              relative_error_f (y, y_cpu, nq), tolerance_for (dtype));
      free (y);
    }
  else
    record (name, dtype_name (dtype), shape, INFINITY, INFINITY, tolerance_for (dtype));

  dev_free_all ();
  free (q), free (k), free (v), free (y_cpu), free (scratch), free (ref);
}

typedef enum { TOKEN_ROPE, TOKEN_MODULATE, TOKEN_GATED_ADD, TOKEN_ADD } TokenOp;

static const char *const token_op_names[] = { "rope", "modulate", "gated_add", "gated_add (no gate)" };

/* x [batch, n, width] → y in another (or the same) dtype; for the gated
 * add, x is the residual (in_dtype) and a the branch (out_dtype). */
static void
check_token_op (TokenOp op, FaDType xd, FaDType yd, int64_t batch, int64_t n, int64_t heads,
                int64_t head_dim, uint64_t seed)
{
  char shape[64], label[24];
  const int64_t width = heads * head_dim, count = batch * n * width, half = head_dim / 2;
  float *x = random_values (count, seed, -3, 3, xd);
  float *a = random_values (count, seed + 1, -2, 2, yd);
  float *t1 = random_values (op == TOKEN_ROPE ? n * half : batch * width, seed + 2, -1, 1,
                             FA_DTYPE_F32);
  float *t2 = random_values (op == TOKEN_ROPE ? n * half : batch * width, seed + 3, -1, 1,
                             FA_DTYPE_F32);
  float *y_cpu = xmalloc ((size_t) count * sizeof (float));
  double *ref = xmalloc ((size_t) count * sizeof (double));
  void *dx = upload (x, xd, count, 0);
  void *da = upload (a, yd, count, 0);
  void *d1 = upload (t1, FA_DTYPE_F32, op == TOKEN_ROPE ? n * half : batch * width, 0);
  void *d2 = upload (t2, FA_DTYPE_F32, op == TOKEN_ROPE ? n * half : batch * width, 0);
  void *dy = poisoned (yd, count, 0);
  cudaError_t status;
  FaDType out_dtype = yd;
  void *result = dy;

  switch (op)
    {
    case TOKEN_ROPE:
      status = fa_cuda_rope (xd, dx, d1, d2, yd, dy, batch, n, heads, head_dim, stream);
      fa_reference_rope (x, t1, t2, ref, batch, n, heads, head_dim);
      fa_cpu_rope_f32 (x, t1, t2, y_cpu, batch, n, heads, head_dim);
      break;
    case TOKEN_MODULATE:
      status = fa_cuda_modulate (xd, dx, d1, d2, yd, dy, batch, n, width, stream);
      fa_reference_modulate (x, t1, t2, ref, batch, n, width);
      fa_cpu_modulate_f32 (x, t1, t2, y_cpu, batch, n, width);
      break;
    case TOKEN_GATED_ADD:
    case TOKEN_ADD:
    default:
      {
        const float *gate = op == TOKEN_GATED_ADD ? t1 : NULL;
        status = fa_cuda_gated_add (xd, dx, yd, da, op == TOKEN_GATED_ADD ? d1 : NULL, batch, n,
                                    width, stream);
        fa_reference_gated_add (x, a, gate, ref, batch, n, width);
        memcpy (y_cpu, x, (size_t) count * sizeof (float));
        fa_cpu_gated_add_f32 (y_cpu, a, gate, batch, n, width);
        out_dtype = xd;
        result = dx;
      }
      break;
    }

  snprintf (shape, sizeof shape, "[%lld, %lld, %lld]", (long long) batch, (long long) n,
            (long long) width);
  snprintf (label, sizeof label, "%s to %s", dtype_name (xd), dtype_name (yd));
  if (launched (status, token_op_names[op]))
    {
      float *y = download (result, out_dtype, count);
      record (token_op_names[op], label, shape, relative_error (y, ref, count),
              relative_error_f (y, y_cpu, count), pair_tolerance (xd, out_dtype));
      free (y);
    }
  else
    record (token_op_names[op], label, shape, INFINITY, INFINITY, pair_tolerance (xd, out_dtype));

  dev_free_all ();
  free (x), free (a), free (t1), free (t2), free (y_cpu), free (ref);
}

/* Both directions; exact (bf16 values, which both dtypes hold). */
static void
check_patchify (int back, FaDType from, FaDType to, const int64_t video[5], const int patch[3],
                uint64_t seed)
{
  char shape[64], label[24];
  const char *name = back ? "unpatchify (exact)" : "patchify (exact)";
  const int64_t count = video[0] * video[1] * video[2] * video[3] * video[4];
  float *values = random_values (count, seed, -1, 1, FA_DTYPE_BF16);
  float *y_cpu = xmalloc ((size_t) count * sizeof (float));
  double *ref = xmalloc ((size_t) count * sizeof (double));
  void *src = upload (values, from, count, 0);
  void *dst = poisoned (to, count, 0);
  cudaError_t status;

  if (back)
    {
      status = fa_cuda_unpatchify (from, src, to, dst, video, patch, stream);
      fa_reference_unpatchify (values, ref, video[0], video[1], video[2], video[3], video[4],
                               patch[0], patch[1], patch[2]);
      fa_cpu_unpatchify (values, y_cpu, sizeof (float), video, patch);
    }
  else
    {
      status = fa_cuda_patchify (from, src, to, dst, video, patch, stream);
      fa_reference_patchify (values, ref, video[0], video[1], video[2], video[3], video[4],
                             patch[0], patch[1], patch[2]);
      fa_cpu_patchify (values, y_cpu, sizeof (float), video, patch);
    }

  snprintf (shape, sizeof shape, "[%lld,%lld,%lld,%lld,%lld]/%d%d%d", (long long) video[0],
            (long long) video[1], (long long) video[2], (long long) video[3], (long long) video[4],
            patch[0], patch[1], patch[2]);
  snprintf (label, sizeof label, "%s to %s", dtype_name (from), dtype_name (to));
  if (launched (status, name))
    {
      float *y = download (dst, to, count);
      record (name, label, shape, relative_error (y, ref, count), relative_error_f (y, y_cpu, count),
              0.0);
      free (y);
    }
  else
    record (name, label, shape, INFINITY, INFINITY, 0.0);

  dev_free_all ();
  free (values), free (y_cpu), free (ref);
}

static void
run_transformer_checks (uint64_t seed)
{
  static const FaDType dtypes[] = { FA_DTYPE_F32, FA_DTYPE_BF16 };
  static const int64_t attention_shapes[][5] = {
    /* batch, n, m, heads, head_dim */
    { 1, 1, 1, 1, 32 }, { 2, 7, 13, 2, 64 }, { 1, 300, 512, 3, 128 }, { 2, 65, 130, 2, 40 },
    { 3, 5, 512, 1, 128 }, { 1, 130, 64, 3, 8 },
    /* with FA_CUDA_ATTENTION=mma, bf16 here takes the tensor-core kernel:
     * partial query block and key tile, in --quick too (the last case is
     * left out there) */
    { 2, 100, 200, 2, 128 }, { 1, 1000, 1000, 2, 128 },
  };
  static const int64_t explicit_shapes[][5] = {
    { 1, 33, 70, 2, 12 }, { 2, 20, 50, 1, 160 }, { 1, 300, 512, 3, 128 },
  };
  static const int64_t token_shapes[][4] = {
    /* batch, n, heads, head_dim */
    { 1, 1, 1, 2 }, { 2, 7, 3, 64 }, { 2, 1560, 12, 128 },
  };
  static const int64_t videos[][5] = {
    { 1, 1, 1, 1, 1 }, { 1, 16, 1, 4, 6 }, { 2, 3, 4, 6, 9 }, { 1, 16, 21, 60, 104 },
  };
  static const int patches[][3] = { { 1, 1, 1 }, { 1, 2, 2 }, { 2, 3, 3 }, { 1, 2, 2 } };
  int n_attention = (int) (sizeof attention_shapes / sizeof attention_shapes[0]);

  if (quick)
    n_attention--;

  printf ("== attention (flash kernel; explicit cuBLAS path in f32)\n");
  for (int d = 0; d < 2; d++)
    for (int s = 0; s < n_attention; s++)
      check_attention (dtypes[d], attention_shapes[s][0], attention_shapes[s][1],
                       attention_shapes[s][2], attention_shapes[s][3], attention_shapes[s][4],
                       seed++);
  for (int s = 0; s < (int) (sizeof explicit_shapes / sizeof explicit_shapes[0]); s++)
    {
      const int64_t *e = explicit_shapes[s];
      if (fa_cuda_attention_supports (e[4]))
        {
          /* the explicit path at a flash-able size too: call it directly */
          char shape[64];
          const int64_t width = e[3] * e[4], nq = e[0] * e[1] * width, nk = e[0] * e[2] * width;
          const float scale = 1.0f / sqrtf ((float) e[4]);
          float *q = random_values (nq, seed, -2, 2, FA_DTYPE_F32);
          float *k = random_values (nk, seed + 1, -2, 2, FA_DTYPE_F32);
          float *v = random_values (nk, seed + 2, -1, 1, FA_DTYPE_F32);
          double *ref = xmalloc ((size_t) nq * sizeof (double));
          void *dq = upload (q, FA_DTYPE_F32, nq, 0), *dk = upload (k, FA_DTYPE_F32, nk, 0);
          void *dv = upload (v, FA_DTYPE_F32, nk, 0), *dy = poisoned (FA_DTYPE_F32, nq, 0);
          float *logits = dev_alloc ((size_t) (e[3] * e[1] * e[2]) * sizeof (float));
          FaCudaStatus status;
          int ok = 1;

          seed += 3;
          fa_reference_attention (q, k, v, ref, e[0], e[1], e[2], e[3], e[4], scale);
          for (int64_t b = 0; ok && b < e[0]; b++)
            ok = fa_cuda_attention_logits (blas, stream, (const float *) dq + b * e[1] * width,
                                           (const float *) dk + b * e[2] * width, logits, e[1],
                                           e[2], e[3], e[4], scale, &status) == 0 &&
                 fa_cuda_attention_apply (blas, stream, logits, (const float *) dv + b * e[2] * width,
                                          (float *) dy + b * e[1] * width, e[1], e[2], e[3], e[4],
                                          &status) == 0;
          snprintf (shape, sizeof shape, "[%lld,%lld]x%lld h%lld d%lld", (long long) e[0],
                    (long long) e[1], (long long) e[2], (long long) e[3], (long long) e[4]);
          float *y = ok ? download (dy, FA_DTYPE_F32, nq) : NULL;
          record ("attention (explicit)", "f32", shape, ok ? relative_error (y, ref, nq) : INFINITY,
                  NAN, F32_TOLERANCE);
          free (y), free (q), free (k), free (v), free (ref);
          dev_free_all ();
        }
      else
        check_attention (FA_DTYPE_F32, e[0], e[1], e[2], e[3], e[4], seed++);
    }

  printf ("== rope, modulate, gated_add (every pair of f32 and bf16)\n");
  for (int op = TOKEN_ROPE; op <= TOKEN_ADD; op++)
    for (int from = 0; from < 2; from++)
      for (int to = 0; to < 2; to++)
        for (int s = 0; s < (int) (sizeof token_shapes / sizeof token_shapes[0]); s++)
          check_token_op ((TokenOp) op, dtypes[from], dtypes[to], token_shapes[s][0],
                          token_shapes[s][1], token_shapes[s][2], token_shapes[s][3], seed++);

  printf ("== patchify, unpatchify (exact)\n");
  for (int back = 0; back <= 1; back++)
    for (int from = 0; from < 2; from++)
      for (int to = 0; to < 2; to++)
        for (int s = 0; s < (int) (sizeof videos / sizeof videos[0]); s++)
          check_patchify (back, dtypes[from], dtypes[to], videos[s], patches[s], seed++);
}

/* ---- video ops ---- */

/* f16 weights: the patches are rounded to f16 too (relative 2⁻¹¹ each). */
#define CONV3D_F16_TOLERANCE 5e-3
#define F16_MAX 65504.0f

typedef struct {
  const char *name;
  int64_t th, tx, h, w, ci, co;
  int kernel[3], stride[3];
  int pad_front, pad_top, pad_bottom, pad_left, pad_right;
  int upsample;
  float range; /* inputs in [−range, range) */
} ConvCase;

static void
conv_geometry (const ConvCase *c, FaConv3dGeometry *g)
{
  const int64_t u = c->upsample ? 2 : 1;

  memset (g, 0, sizeof *g);
  g->th = c->th, g->tx = c->tx, g->h = c->h, g->w = c->w, g->ci = c->ci, g->co = c->co;
  g->kt = c->kernel[0], g->kh = c->kernel[1], g->kw = c->kernel[2];
  g->st = c->stride[0], g->sh = c->stride[1], g->sw = c->stride[2];
  g->pad_front = c->pad_front, g->pad_top = c->pad_top, g->pad_left = c->pad_left;
  g->upsample = c->upsample;
  g->to = (c->pad_front + c->th + c->tx - c->kernel[0]) / c->stride[0] + 1;
  g->ho = (c->h * u + c->pad_top + c->pad_bottom - c->kernel[1]) / c->stride[1] + 1;
  g->wo = (c->w * u + c->pad_left + c->pad_right - c->kernel[2]) / c->stride[2] + 1;
}

/* fa_op_conv3d's formula in float64, independent of the gathers. */
static void
conv3d_reference (const float *history, const float *x, const float *w, const float *bias,
                  double *y, const FaConv3dGeometry *g)
{
  const int64_t u = g->upsample ? 2 : 1, frame = g->h * g->w * g->ci;
  double *acc = xmalloc ((size_t) g->co * sizeof (double));

  for (int64_t t = 0; t < g->to; t++)
    for (int64_t i = 0; i < g->ho; i++)
      for (int64_t j = 0; j < g->wo; j++)
        {
          for (int64_t o = 0; o < g->co; o++)
            acc[o] = bias != NULL ? bias[o] : 0.0;
          for (int a = 0; a < g->kt; a++)
            for (int b = 0; b < g->kh; b++)
              for (int c = 0; c < g->kw; c++)
                {
                  int64_t f = t * g->st + a - g->pad_front;
                  int64_t r = i * g->sh + b - g->pad_top, col = j * g->sw + c - g->pad_left;
                  if (f < 0 || f >= g->th + g->tx || r < 0 || r >= g->h * u || col < 0 ||
                      col >= g->w * u)
                    continue;
                  const float *in = (f < g->th ? history + f * frame : x + (f - g->th) * frame) +
                                    ((r / u) * g->w + col / u) * g->ci;
                  for (int64_t o = 0; o < g->co; o++)
                    {
                      const float *wp = w + (((o * g->kt + a) * g->kh + b) * g->kw + c) * g->ci;
                      double sum = 0.0;
                      for (int64_t k = 0; k < g->ci; k++)
                        sum += (double) wp[k] * in[k];
                      acc[o] += sum;
                    }
                }
          memcpy (y + ((t * g->ho + i) * g->wo + j) * g->co, acc, (size_t) g->co * sizeof (double));
        }
  free (acc);
}

static float
clamp_f16 (float v)
{
  return v > F16_MAX ? F16_MAX : v < -F16_MAX ? -F16_MAX : v;
}

typedef enum {
  CONV_BLOCK_ROW,     /* the minimum scratch: one output row per block */
  CONV_BLOCK_ODD,     /* a row and 3 pixels: blocks start anywhere in a row */
  CONV_BLOCK_ALL,     /* one block; its patches checked against the CPU gather */
} ConvBlocks;

static const char *const conv_block_names[] = { "row blocks", "odd blocks", "one block" };

static void
check_conv3d (const ConvCase *c, FaDType wd, ConvBlocks blocks, uint64_t seed)
{
  FaConv3dGeometry g;
  FaCudaStatus status;
  char shape[64], name[96], label[16];

  conv_geometry (c, &g);
  const int64_t k = fa_conv3d_patch_size (&g), frame = c->h * c->w * c->ci;
  const int64_t pixels = g.to * g.ho * g.wo, n = pixels * g.co;
  const int64_t th = c->th > 0 ? c->th : 1;
  const double tolerance = wd == FA_DTYPE_F32 ? F32_TOLERANCE : CONV3D_F16_TOLERANCE;
  float *x = random_values (c->tx * frame, seed, -c->range, c->range, FA_DTYPE_F32);
  float *hist = random_values (th * frame, seed + 1, -c->range, c->range, FA_DTYPE_F32);
  /* weights the f16 buffer holds exactly, a third of them zero (where an
   * infinite patch would make NaN) */
  float *w = random_values (g.co * k, seed + 2, -0.5f, 0.5f, wd);
  float *bias = random_values (g.co, seed + 3, -1, 1, FA_DTYPE_F32);
  double *ref = xmalloc ((size_t) n * sizeof (double));
  float *y_cpu = xmalloc ((size_t) n * sizeof (float));
  for (int64_t i = 0; i < g.co * k; i += 3)
    w[i] = 0.0f;

  void *dx = upload (x, FA_DTYPE_F32, c->tx * frame, 0);
  void *dh = upload (hist, FA_DTYPE_F32, th * frame, 0);
  void *dw = upload (w, wd, g.co * k, 0);
  void *db = upload (bias, FA_DTYPE_F32, g.co, 0);
  void *dy = poisoned (FA_DTYPE_F32, n, 0);
  size_t scratch_size = fa_cuda_conv3d_scratch_size (&g, wd, 0);
  if (blocks == CONV_BLOCK_ODD && scratch_size > 0)
    scratch_size += 3 * (size_t) k * fa_dtype_size (wd);
  else if (blocks == CONV_BLOCK_ALL)
    scratch_size = fa_cuda_conv3d_scratch_size (&g, wd, SIZE_MAX);
  void *scratch = scratch_size > 0 ? dev_alloc (scratch_size) : NULL;

  /* the blocks starting mid-row run without a bias: the beta = 0 GEMM
   * must overwrite the poisoned output */
  const int use_bias = blocks != CONV_BLOCK_ODD;
  int rc = fa_cuda_conv3d (blas, stream, c->th > 0 ? dh : NULL, dx, wd, dw, use_bias ? db : NULL,
                           dy, &g, scratch, scratch_size, &status);

  /* f16 patches saturate: the references see the clamped input */
  if (wd == FA_DTYPE_F16)
    {
      for (int64_t i = 0; i < c->tx * frame; i++)
        x[i] = clamp_f16 (x[i]);
      for (int64_t i = 0; i < th * frame; i++)
        hist[i] = clamp_f16 (hist[i]);
    }
  conv3d_reference (hist, x, w, use_bias ? bias : NULL, ref, &g);
  int64_t cpu_scratch_floats = fa_cpu_conv3d_scratch_floats (&g);
  float *cpu_scratch = xmalloc ((size_t) (cpu_scratch_floats > 0 ? cpu_scratch_floats : 1) *
                                sizeof (float));
  fa_cpu_conv3d_f32 (hist, x, w, use_bias ? bias : NULL, y_cpu, &g, cpu_scratch);

  snprintf (shape, sizeof shape, "[%lld+%lld,%lld,%lld,%lld]>%lld", (long long) c->th,
            (long long) c->tx, (long long) c->h, (long long) c->w, (long long) c->ci,
            (long long) g.co);
  snprintf (name, sizeof name, "conv3d %s, %s", c->name, conv_block_names[blocks]);
  snprintf (label, sizeof label, "w %s", dtype_name (wd));
  if (rc != 0)
    {
      printf ("  FAIL %s: %s failed: %s\n", name, status.call,
              status.cuda_error != cudaSuccess ? cudaGetErrorString (status.cuda_error)
                                               : cublasGetStatusString (status.cublas_status));
      record (name, label, shape, INFINITY, INFINITY, tolerance);
    }
  else
    {
      float *y = download (dy, FA_DTYPE_F32, n);
      record (name, label, shape, relative_error (y, ref, n), relative_error_f (y, y_cpu, n),
              tolerance);
      free (y);

      /* One block holds every patch: the gather, exactly (f16 patches
       * are the CPU's rounded to nearest even, after the clamp). */
      if (blocks == CONV_BLOCK_ALL && scratch != NULL)
        {
          float *cols = xmalloc ((size_t) (pixels * k) * sizeof (float));
          float *got = download (scratch, wd, pixels * k);
          int64_t bad = -1;
          fa_cpu_conv3d_im2col_f32 (hist, x, &g, 0, pixels, cols);
          for (int64_t i = 0; i < pixels * k && bad < 0; i++)
            if (!(got[i] == round_to (wd, cols[i])))
              bad = i;
          if (bad >= 0)
            printf ("  FAIL conv3d %s: patch element %lld is %.9g, the CPU gathers %.9g\n", c->name,
                    (long long) bad, got[bad], round_to (wd, cols[bad]));
          snprintf (name, sizeof name, "conv3d im2col (exact)");
          record (name, label, shape, bad < 0 ? 0.0 : INFINITY, bad < 0 ? 0.0 : INFINITY, 0.0);
          free (cols), free (got);
        }
    }

  dev_free_all ();
  free (x), free (hist), free (w), free (bias), free (ref), free (y_cpu), free (cpu_scratch);
}

/* Exact: src a permuted (and narrowed) view of a contiguous buffer, dst
 * contiguous, or the other way round; against fa_cpu_copy_strided and an
 * index-by-index reference. */
static void
check_copy_strided (size_t elem_size, int ndim, const int64_t *full, const int *perm, int narrow,
                    int scatter, uint64_t seed)
{
  int64_t full_strides[5], shape[5], view_strides[5], dense[5], offset = 0, count = 1, total = 1;
  char shape_text[64], label[16];

  for (int i = ndim - 1; i >= 0; i--)
    {
      full_strides[i] = total;
      total *= full[i];
    }
  /* the view: axis i is axis perm[i] of the buffer, the buffer's last axis
   * narrowed to [1, size − 1) when @narrow */
  for (int i = 0; i < ndim; i++)
    {
      shape[i] = full[perm[i]];
      view_strides[i] = full_strides[perm[i]];
      if (narrow && perm[i] == ndim - 1 && shape[i] > 2)
        {
          shape[i] -= 2;
          offset = full_strides[perm[i]];
        }
      count *= shape[i];
    }
  for (int i = ndim - 1; i >= 0; i--)
    dense[i] = i == ndim - 1 ? 1 : dense[i + 1] * shape[i + 1];

  uint8_t *bytes = xmalloc ((size_t) total * elem_size);
  uint8_t *expected = xmalloc ((size_t) total * elem_size);
  uint8_t *cpu = xmalloc ((size_t) total * elem_size);
  rng_state = seed;
  for (int64_t i = 0; i < total * (int64_t) elem_size; i++)
    bytes[i] = (uint8_t) (rng_uniform () * 256);
  /* scatter: the dense buffer goes into the view of a buffer whose other
   * bytes must stay as they are */
  memcpy (expected, bytes, (size_t) total * elem_size);
  memcpy (cpu, bytes, (size_t) total * elem_size);

  for (int64_t e = 0; e < count; e++)
    {
      int64_t rest = e, at = offset;
      for (int a = ndim - 1; a >= 0; a--)
        {
          at += rest % shape[a] * view_strides[a];
          rest /= shape[a];
        }
      if (scatter)
        memcpy (expected + at * elem_size, bytes + e * elem_size, elem_size);
      else
        memcpy (expected + e * elem_size, bytes + at * elem_size, elem_size);
    }

  uint8_t *dsrc = dev_alloc ((size_t) total * elem_size);
  uint8_t *ddst = dev_alloc ((size_t) total * elem_size);
  CUDA_CHECK (cudaMemcpy (dsrc, bytes, (size_t) total * elem_size, cudaMemcpyHostToDevice));
  CUDA_CHECK (cudaMemcpy (ddst, bytes, (size_t) total * elem_size, cudaMemcpyHostToDevice));
  cudaError_t status;
  if (scatter)
    {
      status = fa_cuda_copy_strided (dsrc, dense, ddst + offset * elem_size, view_strides, shape,
                                     ndim, elem_size, stream);
      fa_cpu_copy_strided (bytes, dense, cpu + offset * elem_size, view_strides, shape, ndim,
                           elem_size);
    }
  else
    {
      status = fa_cuda_copy_strided (dsrc + offset * elem_size, view_strides, ddst, dense, shape,
                                     ndim, elem_size, stream);
      fa_cpu_copy_strided (bytes + offset * elem_size, view_strides, cpu, dense, shape, ndim,
                           elem_size);
    }

  snprintf (shape_text, sizeof shape_text, "%dd %lld%s%s", ndim, (long long) count,
            narrow ? " narrowed" : "", scatter ? " scatter" : "");
  snprintf (label, sizeof label, "%zu-byte", elem_size);
  if (launched (status, "copy_strided"))
    {
      uint8_t *got = xmalloc ((size_t) total * elem_size);
      CUDA_CHECK (cudaStreamSynchronize (stream));
      CUDA_CHECK (cudaMemcpy (got, ddst, (size_t) total * elem_size, cudaMemcpyDeviceToHost));
      /* the whole buffer: what lies outside the copied elements too */
      size_t span = (size_t) (scatter ? total : count) * elem_size;
      int same_ref = memcmp (got, expected, span) == 0;
      int same_cpu = memcmp (got, cpu, span) == 0;
      record ("copy_strided (exact)", label, shape_text, same_ref ? 0.0 : INFINITY,
              same_cpu ? 0.0 : INFINITY, 0.0);
      free (got);
    }
  else
    record ("copy_strided (exact)", label, shape_text, INFINITY, INFINITY, 0.0);

  dev_free_all ();
  free (bytes), free (expected), free (cpu);
}

static void
run_video_checks (uint64_t seed)
{
  static const ConvCase cases[] = {
    /* name, th, tx, h, w, ci, co, kernel, stride, front, top, bottom, left, right, up, range */
    { "causal 3x3x3 rgb", 1, 3, 9, 11, 3, 16, { 3, 3, 3 }, { 1, 1, 1 }, 2, 1, 1, 1, 1, 0, 2 },
    { "causal 3x3x3", 2, 2, 6, 7, 40, 24, { 3, 3, 3 }, { 1, 1, 1 }, 2, 1, 1, 1, 1, 0, 2 },
    { "1x1x1", 0, 4, 6, 10, 32, 48, { 1, 1, 1 }, { 1, 1, 1 }, 0, 0, 0, 0, 0, 0, 2 },
    { "1x1x1 history", 2, 3, 5, 4, 16, 8, { 1, 1, 1 }, { 1, 1, 1 }, 0, 0, 0, 0, 0, 0, 2 },
    { "(3,1,1)/(2,1,1)", 1, 4, 5, 6, 12, 12, { 3, 1, 1 }, { 2, 1, 1 }, 0, 0, 0, 0, 0, 0, 2 },
    { "(1,3,3)/2 pad br", 0, 2, 10, 13, 8, 8, { 1, 3, 3 }, { 1, 2, 2 }, 0, 0, 1, 0, 1, 0, 2 },
    { "upsample (1,3,3)", 0, 2, 5, 7, 8, 6, { 1, 3, 3 }, { 1, 1, 1 }, 0, 1, 1, 1, 1, 1, 2 },
    { "past f16 range", 1, 2, 4, 5, 8, 4, { 3, 3, 3 }, { 1, 1, 1 }, 2, 1, 1, 1, 1, 0, 2e5f },
    /* the decoder's width; the CPU references take a while */
    { "96 channels", 2, 2, 24, 40, 96, 96, { 3, 3, 3 }, { 1, 1, 1 }, 2, 1, 1, 1, 1, 0, 2 },
  };
  static const FaDType w_dtypes[] = { FA_DTYPE_F32, FA_DTYPE_F16 };
  static const int64_t copy_shapes[][5] = { { 7, 1 }, { 5, 3, 7 }, { 4, 3, 5, 6 }, { 2, 3, 4, 5, 6 } };
  static const int perms[][5] = { { 1, 0 }, { 2, 0, 1 }, { 1, 2, 3, 0 }, { 0, 4, 2, 3, 1 } };
  static const size_t elem_sizes[] = { 1, 2, 4, 8 };
  int n_cases = (int) (sizeof cases / sizeof cases[0]);

  if (quick)
    n_cases--;

  printf ("== conv3d (im2col + cuBLAS, f32 and f16 weights)\n");
  for (int s = 0; s < n_cases; s++)
    for (int d = 0; d < 2; d++)
      for (int b = CONV_BLOCK_ROW; b <= CONV_BLOCK_ALL; b++)
        {
          /* f32 inputs far past the f16 range only matter with f16 patches */
          if (cases[s].range > F16_MAX && w_dtypes[d] != FA_DTYPE_F16)
            continue;
          check_conv3d (&cases[s], w_dtypes[d], (ConvBlocks) b, seed++);
        }

  printf ("== copy_strided (exact)\n");
  for (int e = 0; e < 4; e++)
    for (int s = 0; s < 4; s++)
      for (int variant = 0; variant < 4; variant++)
        check_copy_strided (elem_sizes[e], s + 2, copy_shapes[s], perms[s], variant & 1,
                            variant >> 1, seed++);
}

static void
run_checks (void)
{
  static const FaDType dtypes[] = { FA_DTYPE_F32, FA_DTYPE_BF16 };
  static const int64_t flat_sizes[] = { 1, 7, 8, 1000, 1537, 33 * 1536, 100003, 17000003 };
  static const int64_t binary_shapes[][2] = {
    { 1, 1 }, { 1537, 1537 }, { 21, 7 }, { 7, 1 }, { 33 * 1536, 1536 }, { 33 * 1536, 33 * 1536 },
    { 30, 15 }, { 288, 72 }, { 5 * 8960, 8960 }, { 300009, 100003 }, { 2125 * 8000, 8000 },
    { 1000 * 17001, 17001 },
  };
  static const int64_t mkn[][3] = {
    { 1, 1, 1 }, { 3, 5, 7 }, { 17, 64, 9 }, { 33, 257, 31 }, { 2, 1536, 3 },
    { 64, 96, 128 }, { 130, 1537, 65 },
  };
  static const FaDType convert_types[] = { FA_DTYPE_F32, FA_DTYPE_BF16, FA_DTYPE_F16 };
  static const int64_t convert_sizes[] = { 1, 7, 20, 1537, 100003 };
  uint64_t seed = 1;
  int n_rows = (int) (sizeof row_shapes / sizeof row_shapes[0]);
  int n_flat = (int) (sizeof flat_sizes / sizeof flat_sizes[0]);
  int n_binary = (int) (sizeof binary_shapes / sizeof binary_shapes[0]);

  /* --quick leaves out the sizes that take the CPU references a while. */
  if (quick)
    n_rows--, n_flat--, n_binary -= 2;

  printf ("== row ops (layer norm, RMS norm, softmax)\n");
  for (int op = ROW_LAYER_NORM; op <= ROW_SOFTMAX; op++)
    for (int d = 0; d < 2; d++)
      for (int s = 0; s < n_rows; s++)
        for (int offset = 0; offset <= 1; offset++)
          check_row_op ((RowOp) op, dtypes[d], row_shapes[s][0], row_shapes[s][1], offset, seed++);

  printf ("== elementwise (GELU tanh, SiLU, add, mul)\n");
  for (int gelu = 1; gelu >= 0; gelu--)
    for (int d = 0; d < 2; d++)
      for (int s = 0; s < n_flat; s++)
        for (int offset = 0; offset <= 1; offset++)
          check_unary (gelu, dtypes[d], flat_sizes[s], offset, seed++);
  for (int add = 1; add >= 0; add--)
    for (int d = 0; d < 2; d++)
      for (int s = 0; s < n_binary; s++)
        for (int offset = 0; offset <= 1; offset++)
          check_binary (add, dtypes[d], binary_shapes[s][0], binary_shapes[s][1], offset, seed++);

  printf ("== convert (bit-exact against fa_cpu_convert)\n");
  for (int from = 0; from < 3; from++)
    for (int to = 0; to < 3; to++)
      for (int s = 0; s < 5; s++)
        check_convert (convert_types[from], convert_types[to], convert_sizes[s]);

  printf ("== linear (cuBLAS, bf16 operands, f32 accumulation)\n");
  for (int s = 0; s < (int) (sizeof mkn / sizeof mkn[0]); s++)
    for (int combo = 0; combo < 16; combo++)
      check_linear (mkn[s][0], mkn[s][1], mkn[s][2], dtypes[combo & 1], dtypes[(combo >> 1) & 1],
                    dtypes[(combo >> 2) & 1], (combo >> 3) & 1, seed++);

  run_transformer_checks (seed);
  run_video_checks (seed + 100000);
}

/* ---- benchmark ---- */

typedef struct {
  char op[48];
  char dtype[16];
  char shape[40];
  double ms;
  double rate; /* TFLOP/s or GB/s */
  const char *unit;
} BenchResult;

#define MAX_BENCH 32
static BenchResult bench_results[MAX_BENCH];
static int n_bench;

typedef enum {
  BENCH_LINEAR, BENCH_GELU, BENCH_SILU, BENCH_ADD_ROW, BENCH_MUL, BENCH_LAYER_NORM,
  BENCH_RMS_NORM, BENCH_SOFTMAX, BENCH_CONVERT, BENCH_ATTENTION,
} BenchKind;

typedef struct {
  BenchKind kind;
  FaDType dtype, dtype2;
  const void *a, *b, *c;
  void *y;
  int64_t m, k, n;
  /* attention: batch 1, m queries, k keys, heads × head_dim = n */
  int64_t heads, head_dim;
  float scale;
} BenchCall;

static void
bench_launch (const BenchCall *call)
{
  cudaError_t status = cudaSuccess;
  FaCudaStatus linear_status;

  switch (call->kind)
    {
    case BENCH_LINEAR:
      if (fa_cuda_linear (blas, stream, FA_DTYPE_BF16, call->a, FA_DTYPE_BF16, call->b,
                          FA_DTYPE_BF16, call->c, FA_DTYPE_BF16, call->y, call->m, call->k, call->n,
                          NULL, 0, &linear_status) != 0)
        die ("benchmark GEMM: %s failed", linear_status.call);
      return;
    case BENCH_GELU: status = fa_cuda_gelu_tanh (call->dtype, call->a, call->y, call->m * call->n, stream); break;
    case BENCH_SILU: status = fa_cuda_silu (call->dtype, call->a, call->y, call->m * call->n, stream); break;
    case BENCH_ADD_ROW: status = fa_cuda_add (call->dtype, call->a, call->b, call->y, call->m * call->n, call->n, stream); break;
    case BENCH_MUL: status = fa_cuda_mul (call->dtype, call->a, call->b, call->y, call->m * call->n, call->m * call->n, stream); break;
    case BENCH_LAYER_NORM: status = fa_cuda_layer_norm (call->dtype, call->a, call->b, call->c, call->y, call->m, call->n, 1e-6f, stream); break;
    case BENCH_RMS_NORM: status = fa_cuda_rms_norm (call->dtype, call->a, call->b, call->y, call->m, call->n, 1e-6f, stream); break;
    case BENCH_SOFTMAX: status = fa_cuda_softmax (call->dtype, call->a, call->y, call->m, call->n, stream); break;
    case BENCH_CONVERT: status = fa_cuda_convert (call->a, call->dtype, call->y, call->dtype2, call->m * call->n, stream); break;
    case BENCH_ATTENTION: status = fa_cuda_attention (call->dtype, call->a, call->b, call->c, call->y, 1, call->m, call->k, call->heads, call->head_dim, call->scale, stream); break;
    default: break;
    }
  if (status != cudaSuccess)
    die ("benchmark launch failed: %s", cudaGetErrorString (status));
}

static int
compare_float (const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}

/* Median of @reps event-timed runs after @warmup untimed ones, in ms. */
static double
time_call (const BenchCall *call, int warmup, int reps)
{
  cudaEvent_t start, stop;
  float times[64];

  if (reps > 64)
    reps = 64;
  CUDA_CHECK (cudaEventCreate (&start));
  CUDA_CHECK (cudaEventCreate (&stop));
  for (int i = 0; i < warmup; i++)
    bench_launch (call);
  CUDA_CHECK (cudaStreamSynchronize (stream));
  for (int i = 0; i < reps; i++)
    {
      CUDA_CHECK (cudaEventRecord (start, stream));
      bench_launch (call);
      CUDA_CHECK (cudaEventRecord (stop, stream));
      CUDA_CHECK (cudaEventSynchronize (stop));
      CUDA_CHECK (cudaEventElapsedTime (&times[i], start, stop));
    }
  CUDA_CHECK (cudaEventDestroy (start));
  CUDA_CHECK (cudaEventDestroy (stop));
  qsort (times, (size_t) reps, sizeof times[0], compare_float);
  return reps % 2 ? times[reps / 2] : 0.5 * (times[reps / 2 - 1] + times[reps / 2]);
}

static void
bench_record (const char *op, const char *dtype, const char *shape, double ms, double rate,
              const char *unit)
{
  printf ("  %-34s %-6s %-22s %9.3f ms %9.1f %s\n", op, dtype, shape, ms, rate, unit);
  if (n_bench < MAX_BENCH)
    {
      BenchResult *r = &bench_results[n_bench++];
      snprintf (r->op, sizeof r->op, "%s", op);
      snprintf (r->dtype, sizeof r->dtype, "%s", dtype);
      snprintf (r->shape, sizeof r->shape, "%s", shape);
      r->ms = ms;
      r->rate = rate;
      r->unit = unit;
    }
}

/* bf16 data generated on the host straight into a device buffer. */
static void *
random_bf16_device (int64_t n, uint64_t seed, float lo, float hi)
{
  uint16_t *host = xmalloc ((size_t) n * 2);
  void *d = dev_alloc ((size_t) n * 2);

  rng_state = seed;
  for (int64_t i = 0; i < n; i++)
    host[i] = fa_f32_to_bf16 ((float) (lo + (hi - lo) * rng_uniform ()));
  CUDA_CHECK (cudaMemcpy (d, host, (size_t) n * 2, cudaMemcpyHostToDevice));
  free (host);
  return d;
}

static float *
download_bf16_rows (const void *d, int64_t row, int64_t cols)
{
  return download ((const char *) d + (size_t) (row * cols) * 2, FA_DTYPE_BF16, cols);
}

/* The benchmark GEMMs, each also checked on sampled rows against float64. */
static void
bench_gemm (int64_t m, int64_t k, int64_t n, int with_bias, const char *label)
{
  char shape[40], op[48];
  void *x = random_bf16_device (m * k, 11, -1, 1);
  void *w = random_bf16_device (n * k, 12, -1, 1);
  void *bias = random_bf16_device (n, 13, -1, 1);
  void *y = dev_alloc ((size_t) (m * n) * 2);
  BenchCall call = { .kind = BENCH_LINEAR, .dtype = FA_DTYPE_BF16, .dtype2 = FA_DTYPE_BF16, .a = x,
                     .b = w, .c = with_bias ? bias : NULL, .y = y, .m = m, .k = k, .n = n };

  CUDA_CHECK (cudaMemsetAsync (y, 0xff, (size_t) (m * n) * 2, stream)); /* NaN poison */
  double ms = time_call (&call, 3, 15);
  snprintf (shape, sizeof shape, "%lldx%lldx%lld", (long long) m, (long long) k, (long long) n);
  snprintf (op, sizeof op, "GEMM %s%s", label, with_bias ? " +bias" : "");
  bench_record (op, "bf16", shape, ms, 2.0 * (double) m * (double) n * (double) k / (ms * 1e-3) / 1e12,
                "TFLOP/s");

  /* Check 8 rows spread over M (first and last included). */
  float *wv = download (w, FA_DTYPE_BF16, n * k);
  float *bv = download (bias, FA_DTYPE_BF16, n);
  double *ref_row = xmalloc ((size_t) n * sizeof (double));
  double max_diff = 0, max_ref = 0;
  for (int s = 0; s < 8; s++)
    {
      int64_t row = s * (m - 1) / 7;
      float *xr = download_bf16_rows (x, row, k);
      float *yr = download_bf16_rows (y, row, n);
      fa_reference_linear (xr, wv, with_bias ? bv : NULL, ref_row, 1, k, n);
      for (int64_t j = 0; j < n; j++)
        {
          max_diff = isfinite (yr[j]) ? fmax (max_diff, fabs (yr[j] - ref_row[j])) : INFINITY;
          max_ref = fmax (max_ref, fabs (ref_row[j]));
        }
      free (xr), free (yr);
    }
  record (op, "bf16", shape, max_diff / fmax (max_ref, 1e-30), NAN, BF16_TOLERANCE);
  free (wv), free (bv), free (ref_row);
  dev_free_all ();
}

/* Memory-bound kernels on [rows, cols]: GB/s of compulsory traffic, and the
 * output checked in full against the CPU kernel. */
static void
bench_memory_op (BenchKind kind, const char *op, FaDType dtype, int64_t rows, int64_t cols)
{
  char shape[40];
  int64_t n = rows * cols;
  FaDType out_dtype = kind == BENCH_CONVERT ? FA_DTYPE_BF16 : dtype;
  size_t es = fa_dtype_size (dtype), os = fa_dtype_size (out_dtype);
  float *x = random_values (n, 21, kind == BENCH_SOFTMAX ? -8 : -3, kind == BENCH_SOFTMAX ? 8 : 3, dtype);
  int64_t nb = kind == BENCH_MUL ? n : cols;
  float *b = random_values (nb, 22, 0.5f, 1.5f, dtype);
  float *c = random_values (cols, 23, -1, 1, dtype);
  void *dx = upload (x, dtype, n, 0);
  void *db = upload (b, dtype, nb, 0);
  void *dc = upload (c, dtype, cols, 0);
  void *dy = poisoned (out_dtype, n, 0);
  BenchCall call = { .kind = kind, .dtype = dtype, .dtype2 = out_dtype, .a = dx, .b = db, .c = dc,
                     .y = dy, .m = rows, .k = 0, .n = cols };
  double bytes = (double) n * (double) (es + os);

  if (kind == BENCH_MUL)
    bytes += (double) n * (double) es;
  else if (kind == BENCH_ADD_ROW || kind == BENCH_RMS_NORM)
    bytes += (double) cols * (double) es;
  else if (kind == BENCH_LAYER_NORM)
    bytes += 2.0 * (double) cols * (double) es;

  double ms = time_call (&call, 3, 20);
  snprintf (shape, sizeof shape, "[%lld, %lld]", (long long) rows, (long long) cols);
  bench_record (op, dtype_name (dtype), shape, ms, bytes / (ms * 1e-3) / 1e9, "GB/s");

  float *y = download (dy, out_dtype, n);
  float *y_cpu = xmalloc ((size_t) n * sizeof (float));
  double *ref = xmalloc ((size_t) n * sizeof (double));
  switch (kind)
    {
    case BENCH_GELU:
      fa_cpu_gelu_tanh_f32 (x, y_cpu, n);
      for (int64_t i = 0; i < n; i++)
        ref[i] = fa_reference_gelu_tanh (x[i]);
      break;
    case BENCH_SILU:
      fa_cpu_silu_f32 (x, y_cpu, n);
      for (int64_t i = 0; i < n; i++)
        ref[i] = fa_reference_silu (x[i]);
      break;
    case BENCH_ADD_ROW:
      fa_cpu_add_f32 (x, b, y_cpu, n, cols);
      fa_reference_add (x, b, ref, n, cols);
      break;
    case BENCH_MUL:
      fa_cpu_mul_f32 (x, b, y_cpu, n, n);
      fa_reference_mul (x, b, ref, n, n);
      break;
    case BENCH_LAYER_NORM:
      fa_cpu_layer_norm_f32 (x, b, c, y_cpu, rows, cols, 1e-6f);
      fa_reference_layer_norm (x, b, c, ref, rows, cols, 1e-6);
      break;
    case BENCH_RMS_NORM:
      fa_cpu_rms_norm_f32 (x, b, y_cpu, rows, cols, 1e-6f);
      fa_reference_rms_norm (x, b, ref, rows, cols, 1e-6);
      break;
    case BENCH_SOFTMAX:
      fa_cpu_softmax_f32 (x, y_cpu, rows, cols);
      fa_reference_softmax (x, ref, rows, cols);
      break;
    case BENCH_CONVERT:
    default:
      for (int64_t i = 0; i < n; i++)
        {
          y_cpu[i] = round_to (out_dtype, x[i]);
          ref[i] = x[i];
        }
      break;
    }
  record (op, dtype_name (dtype), shape, relative_error (y, ref, n),
          relative_error_f (y, y_cpu, n), tolerance_for (out_dtype));
  free (ref);
  free (y), free (y_cpu), free (x), free (b), free (c);
  dev_free_all ();
}

/* Flash attention, one batch element: TFLOP/s counted as 4·n·m·width (the
 * two products), and 4 query rows spread over n checked against float64. */
static void
bench_attention (FaDType dtype, int64_t n, int64_t m, int64_t heads, int64_t head_dim, int warmup,
                 int reps)
{
  char shape[40], op[48];
  const int64_t width = heads * head_dim;
  const float scale = 1.0f / sqrtf ((float) head_dim);
  float *q = random_values (n * width, 31, -2, 2, dtype);
  float *k = random_values (m * width, 32, -2, 2, dtype);
  float *v = random_values (m * width, 33, -1, 1, dtype);
  void *dq = upload (q, dtype, n * width, 0);
  void *dk = upload (k, dtype, m * width, 0);
  void *dv = upload (v, dtype, m * width, 0);
  void *dy = poisoned (dtype, n * width, 0);
  BenchCall call = { .kind = BENCH_ATTENTION, .dtype = dtype, .dtype2 = dtype, .a = dq, .b = dk,
                     .c = dv, .y = dy, .m = n, .k = m, .n = width, .heads = heads,
                     .head_dim = head_dim, .scale = scale };

  double ms = time_call (&call, warmup, reps);
  snprintf (shape, sizeof shape, "%lldx%lld h%lld d%lld", (long long) n, (long long) m,
            (long long) heads, (long long) head_dim);
  snprintf (op, sizeof op, "flash attention");
  bench_record (op, dtype_name (dtype), shape, ms,
                4.0 * (double) n * (double) m * (double) width / (ms * 1e-3) / 1e12, "TFLOP/s");

  float *y = download (dy, dtype, n * width);
  double *ref = xmalloc ((size_t) width * sizeof (double));
  double max_diff = 0, max_ref = 0;
  for (int s = 0; s < 4; s++)
    {
      int64_t row = s * (n - 1) / 3;
      if (fa_reference_attention (q + row * width, k, v, ref, 1, 1, m, heads, head_dim, scale) != 0)
        die ("out of host memory for the attention reference");
      for (int64_t j = 0; j < width; j++)
        {
          float got = y[row * width + j];
          max_diff = isfinite (got) ? fmax (max_diff, fabs (got - ref[j])) : INFINITY;
          max_ref = fmax (max_ref, fabs (ref[j]));
        }
    }
  record (op, dtype_name (dtype), shape, max_diff / fmax (max_ref, 1e-30), NAN, tolerance_for (dtype));
  free (q), free (k), free (v), free (y), free (ref);
  dev_free_all ();
}

static void
run_bench (void)
{
  /* Wan2.1-1.3B at 480x832x81: 32760 tokens, width 1536, FFN 8960. */
  const int64_t tokens = 32760, dim = 1536, ffn = 8960;

  printf ("== benchmark (median of timed runs after warm-up; each result checked)\n");
  bench_gemm (tokens, dim, dim, 0, "proj");
  bench_gemm (tokens, dim, dim, 1, "proj");
  bench_gemm (tokens, dim, ffn, 0, "ffn up");
  bench_gemm (tokens, ffn, dim, 0, "ffn down");

  bench_memory_op (BENCH_GELU, "gelu_tanh", FA_DTYPE_BF16, tokens, dim);
  bench_memory_op (BENCH_GELU, "gelu_tanh", FA_DTYPE_F32, tokens, dim);
  bench_memory_op (BENCH_SILU, "silu", FA_DTYPE_BF16, tokens, dim);
  bench_memory_op (BENCH_ADD_ROW, "add (row broadcast)", FA_DTYPE_BF16, tokens, dim);
  bench_memory_op (BENCH_MUL, "mul (same shape)", FA_DTYPE_BF16, tokens, dim);
  bench_memory_op (BENCH_LAYER_NORM, "layer_norm (affine)", FA_DTYPE_BF16, tokens, dim);
  bench_memory_op (BENCH_LAYER_NORM, "layer_norm (affine)", FA_DTYPE_F32, tokens, dim);
  bench_memory_op (BENCH_RMS_NORM, "rms_norm (weight)", FA_DTYPE_BF16, tokens, dim);
  bench_memory_op (BENCH_SOFTMAX, "softmax", FA_DTYPE_BF16, tokens, dim);
  bench_memory_op (BENCH_CONVERT, "convert f32 to bf16", FA_DTYPE_F32, tokens, dim);

  /* self-attention: 12 heads of 128 */
  bench_attention (FA_DTYPE_BF16, 8192, 8192, 12, 128, 2, 10);
  bench_attention (FA_DTYPE_F32, 8192, 8192, 12, 128, 2, 10);
  if (!quick)
    bench_attention (FA_DTYPE_BF16, tokens, tokens, 12, 128, 1, 3);
}

/* ---- main ---- */

static int
open_device (void)
{
  int count = 0;
  struct cudaDeviceProp prop;
  cudaError_t status = cudaGetDeviceCount (&count);

  if (status != cudaSuccess)
    {
      printf ("no CUDA device: cudaGetDeviceCount failed: %s (%s)%s\n", cudaGetErrorString (status),
              cudaGetErrorName (status),
              status == cudaErrorInsufficientDriver
                ? "; the NVIDIA driver is missing or older than this CUDA runtime needs"
                : "");
      return 0;
    }
  if (count == 0)
    {
      printf ("no CUDA device: the driver reports none\n");
      return 0;
    }
  CUDA_CHECK (cudaSetDevice (0));
  CUDA_CHECK (cudaGetDeviceProperties (&prop, 0));
  printf ("device 0 of %d: %s, sm_%d%d, %.1f GiB, %d SMs\n", count, prop.name, prop.major,
          prop.minor, (double) prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0),
          prop.multiProcessorCount);
  if (prop.major < 8)
    {
      printf ("no usable CUDA device: compute capability %d.%d, 8.0 or newer needed\n", prop.major,
              prop.minor);
      return 0;
    }

  int runtime = 0, driver = 0;
  CUDA_CHECK (cudaRuntimeGetVersion (&runtime));
  CUDA_CHECK (cudaDriverGetVersion (&driver));
  printf ("CUDA runtime %d.%d, driver supports %d.%d\n", runtime / 1000, runtime % 1000 / 10,
          driver / 1000, driver % 1000 / 10);

  CUDA_CHECK (cudaStreamCreate (&stream));
  cublasStatus_t blas_status = cublasCreate (&blas);
  if (blas_status != CUBLAS_STATUS_SUCCESS)
    die ("cublasCreate failed: %s", cublasGetStatusString (blas_status));
  return 1;
}

int
main (int argc, char **argv)
{
  int bench = 1;

  setvbuf (stdout, NULL, _IOLBF, 0);
  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--no-bench") == 0)
        bench = 0;
      else if (strcmp (argv[i], "--quick") == 0)
        quick = 1;
      else
        {
          fprintf (stderr, "usage: %s [--no-bench] [--quick]\n", argv[0]);
          return 2;
        }
    }

  if (!open_device ())
    {
      printf ("RESULT: SKIP (no CUDA device)\n");
      return EXIT_NO_DEVICE;
    }

  run_checks ();
  if (bench)
    run_bench ();

  CUDA_CHECK (cudaDeviceSynchronize ());
  print_summary ();

  if (n_bench > 0)
    {
      printf ("\n%-34s %-6s %-22s %12s %12s\n", "benchmark", "dtype", "shape", "median ms", "rate");
      for (int i = 0; i < n_bench; i++)
        printf ("%-34s %-6s %-22s %12.3f %8.1f %s\n", bench_results[i].op, bench_results[i].dtype,
                bench_results[i].shape, bench_results[i].ms, bench_results[i].rate,
                bench_results[i].unit);
    }

  int failures = 0;
  for (int i = 0; i < n_results; i++)
    failures += !results[i].pass;
  printf ("\nRESULT: %s (%d checks, %d failed)\n", failures == 0 ? "PASS" : "FAIL", n_results,
          failures);

  cublasDestroy (blas);
  cudaStreamDestroy (stream);
  return failures == 0 ? 0 : 1;
}
