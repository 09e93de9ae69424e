/* flowanchor bench ops: each op through the engine API at Wan2.1-1.3B
 * widths (d 1536, FFN 8960), on the CPU or CUDA. Prints figures; asserts
 * nothing (speed targets live in benchmarks, not tests).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "flowanchor-bench"

#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "fa-backend.h"
#include "fa-cli.h"

#define WAN_DIM 1536
#define WAN_FFN 8960

static char *backend_name = NULL;
static gint64 tokens = 0;
static int repeat = 5;

static const GOptionEntry entries[] = {
  { "backend", 'b', 0, G_OPTION_ARG_STRING, &backend_name, "cpu, cuda or auto (default)", "NAME" },
  { "tokens", 'n', 0, G_OPTION_ARG_INT64, &tokens,
    "Rows per op (default: 32760, a 480×832×81 clip, on CUDA; 1024 on the CPU)", "N" },
  { "repeat", 'r', 0, G_OPTION_ARG_INT, &repeat, "Timed runs per op; the median is shown (default 5)", "R" },
  { NULL },
};

typedef enum { BENCH_LINEAR, BENCH_LAYER_NORM, BENCH_RMS_NORM, BENCH_GELU, BENCH_SILU,
               BENCH_SOFTMAX, BENCH_ADD, BENCH_MUL, BENCH_CONVERT } BenchOp;

typedef struct {
  const char *name;
  BenchOp op;
  gint64 cols, out_cols; /* x is [tokens, cols]; linear makes [tokens, out_cols] */
  gboolean bias;
} BenchCase;

static const BenchCase cases[] = {
  { "linear qkvo", BENCH_LINEAR, WAN_DIM, WAN_DIM, TRUE },
  { "linear ffn up", BENCH_LINEAR, WAN_DIM, WAN_FFN, TRUE },
  { "linear ffn down", BENCH_LINEAR, WAN_FFN, WAN_DIM, TRUE },
  { "layer_norm", BENCH_LAYER_NORM, WAN_DIM, 0, TRUE },
  { "rms_norm", BENCH_RMS_NORM, WAN_DIM, 0, TRUE },
  { "gelu_tanh", BENCH_GELU, WAN_FFN, 0, FALSE },
  { "silu", BENCH_SILU, WAN_DIM, 0, FALSE },
  { "softmax", BENCH_SOFTMAX, WAN_DIM, 0, FALSE },
  { "add", BENCH_ADD, WAN_DIM, 0, FALSE },
  { "mul (row broadcast)", BENCH_MUL, WAN_DIM, 0, FALSE },
  { "convert", BENCH_CONVERT, WAN_DIM, 0, FALSE },
};

static FaTensor *
filled (FaBackend *backend, FaDType dtype, int ndim, const gint64 *shape, GError **error)
{
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  g_autoptr (FaTensor) host = fa_tensor_new (cpu, FA_DTYPE_F32, ndim, shape, error);
  if (host == NULL)
    return NULL;

  float *values = fa_tensor_get_data (host);
  guint32 state = 12345;
  for (gint64 i = 0; i < fa_tensor_get_numel (host); i++)
    {
      state = state * 1664525u + 1013904223u; /* any spread of values will do */
      values[i] = ((float) (state >> 8) / 16777216.0f - 0.5f) * 0.1f;
    }
  return fa_tensor_to (host, backend, dtype, error);
}

static gboolean
run_once (FaBackend *backend, const BenchCase *c, FaTensor *x, FaTensor *w, FaTensor *v, FaTensor *y,
          GError **error)
{
  switch (c->op)
    {
    case BENCH_LINEAR: return fa_op_linear (backend, x, w, v, y, error);
    case BENCH_LAYER_NORM: return fa_op_layer_norm (backend, x, v, v, y, 1e-6f, error);
    case BENCH_RMS_NORM: return fa_op_rms_norm (backend, x, v, y, 1e-6f, error);
    case BENCH_GELU: return fa_op_gelu_tanh (backend, x, y, error);
    case BENCH_SILU: return fa_op_silu (backend, x, y, error);
    case BENCH_SOFTMAX: return fa_op_softmax (backend, x, y, error);
    case BENCH_ADD: return fa_op_add (backend, x, x, y, error);
    case BENCH_MUL: return fa_op_mul (backend, x, v, y, error);
    case BENCH_CONVERT: return fa_op_convert (backend, x, y, error);
    default: g_assert_not_reached ();
    }
}

static gboolean
bench_case (FaBackend *backend, FaDType dtype, const BenchCase *c, GError **error)
{
  gint64 x_shape[] = { tokens, c->cols };
  gint64 out = c->op == BENCH_LINEAR ? c->out_cols : c->cols;
  gint64 y_shape[] = { tokens, out };
  gint64 w_shape[] = { c->out_cols, c->cols };
  /* convert: f32 → bf16 on the CPU, bf16 → f32 on CUDA */
  FaDType y_dtype = c->op != BENCH_CONVERT ? dtype : dtype == FA_DTYPE_F32 ? FA_DTYPE_BF16 : FA_DTYPE_F32;

  g_autoptr (FaTensor) x = filled (backend, dtype, 2, x_shape, error);
  g_autoptr (FaTensor) w = c->op == BENCH_LINEAR ? filled (backend, dtype, 2, w_shape, error) : NULL;
  g_autoptr (FaTensor) v = filled (backend, dtype, 1, &y_shape[1], error);
  g_autoptr (FaTensor) y = x != NULL ? fa_tensor_new (backend, y_dtype, 2, y_shape, error) : NULL;
  if (x == NULL || v == NULL || y == NULL || (c->op == BENCH_LINEAR && w == NULL))
    return FALSE;

  g_autofree double *seconds = g_new (double, repeat);
  if (!run_once (backend, c, x, w, v, y, error) || !fa_backend_synchronize (backend, error))
    return FALSE;
  for (int r = 0; r < repeat; r++)
    {
      gint64 start = g_get_monotonic_time ();
      if (!run_once (backend, c, x, w, v, y, error) || !fa_backend_synchronize (backend, error))
        return FALSE;
      seconds[r] = (g_get_monotonic_time () - start) / 1e6;
    }
  double median = fa_cli_median (seconds, repeat);

  g_autofree char *shape = c->op == BENCH_LINEAR
    ? g_strdup_printf ("[%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] → %" G_GINT64_FORMAT, tokens, c->cols, out)
    : g_strdup_printf ("[%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]", tokens, c->cols);
  if (c->op == BENCH_LINEAR)
    {
      double flop = 2.0 * tokens * c->cols * out;
      printf ("  %-20s %-24s %-5s %10.3f ms %9.1f GFLOP/s\n", c->name, shape,
              fa_dtype_get_name (dtype), median * 1e3, flop / median / 1e9);
    }
  else
    {
      /* bytes each element must move at least: read x (and b), write y */
      double bytes = (double) fa_tensor_get_nbytes (x) * (c->op == BENCH_ADD ? 2 : 1) +
                     (double) fa_tensor_get_nbytes (y);
      printf ("  %-20s %-24s %-5s %10.3f ms %9.1f GB/s\n", c->name, shape,
              fa_dtype_get_name (dtype), median * 1e3, bytes / median / 1e9);
    }
  return TRUE;
}

int
fa_cli_bench (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new ("ops");
  g_autoptr (GError) error = NULL;
  g_autoptr (FaBackend) backend = NULL;

  if (argc >= 2 && g_str_equal (argv[1], "dit"))
    return fa_cli_bench_dit (argc - 1, argv + 1);
  if (argc >= 2 && g_str_equal (argv[1], "t5"))
    return fa_cli_bench_t5 (argc - 1, argv + 1);
  if (argc >= 2 && g_str_equal (argv[1], "vae"))
    return fa_cli_bench_vae (argc - 1, argv + 1);
  if (argc >= 2 && g_str_equal (argv[1], "flow"))
    return fa_cli_bench_flow (argc - 1, argv + 1);
  if (argc >= 2 && g_str_equal (argv[1], "edit"))
    return fa_cli_bench_edit (argc - 1, argv + 1);

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (context,
                                "Times every op of the engine's op table at Wan2.1-1.3B widths and\n"
                                "prints the median time and the rate (GFLOP/s, or GB/s for memory-bound\n"
                                "ops). The CPU runs f32; CUDA runs bf16 (the linear as bf16 × bf16 with\n"
                                "f32 accumulation).");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "flowanchor bench: %s\n", error->message);
      return FA_CLI_USAGE;
    }
  if (argc != 2 || !g_str_equal (argv[1], "ops") || repeat < 1 || tokens < 0)
    {
      fprintf (stderr, "flowanchor bench: expected 'ops' (see --help)\n");
      return FA_CLI_USAGE;
    }

  if (backend_name == NULL || g_str_equal (backend_name, "auto"))
    backend = fa_backend_new_default ();
  else if (g_str_equal (backend_name, "cpu"))
    backend = fa_backend_new_cpu ();
  else if (g_str_equal (backend_name, "cuda"))
    backend = fa_backend_new_cuda (0, &error);
  else
    {
      fprintf (stderr, "flowanchor bench: unknown backend '%s' (cpu, cuda or auto)\n", backend_name);
      return FA_CLI_USAGE;
    }
  if (backend == NULL)
    {
      fprintf (stderr, "flowanchor bench: %s\n", error->message);
      return FA_CLI_FAILED;
    }

  gboolean on_cuda = fa_backend_get_device (backend) == FA_DEVICE_CUDA;
  FaDType dtype = on_cuda ? FA_DTYPE_BF16 : FA_DTYPE_F32;
  if (tokens == 0)
    tokens = on_cuda ? 32760 : 1024;

  printf ("%s, %" G_GINT64_FORMAT " tokens, median of %d\n", fa_backend_get_description (backend),
          tokens, repeat);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    if (!bench_case (backend, dtype, &cases[i], &error))
      {
        fprintf (stderr, "flowanchor bench: %s: %s\n", cases[i].name, error->message);
        return FA_CLI_FAILED;
      }

  guint64 peak;
  fa_backend_get_memory (backend, NULL, &peak);
  g_autofree char *peak_text = g_format_size_full (peak, G_FORMAT_SIZE_IEC_UNITS);
  printf ("peak %s memory: %s\n", fa_device_get_name (fa_backend_get_device (backend)), peak_text);
  return FA_CLI_OK;
}
