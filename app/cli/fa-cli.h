/* fa-cli.h: the verbs of the flowanchor command-line tool. Each takes the
 * arguments after its own name and returns the process exit status.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "fa-backend.h"
#include "fa-clip.h"

G_BEGIN_DECLS

/* Exit statuses: 0 done, 1 the work failed (bad file, missing element), 2 usage,
 * 130 cancelled by Ctrl+C (128 + SIGINT, what a shell reports for it). */
enum { FA_CLI_OK = 0, FA_CLI_FAILED = 1, FA_CLI_USAGE = 2, FA_CLI_CANCELLED = 130 };

/* "cpu", "cuda", or "auto"/NULL (CUDA when a device works). */
FaBackend *fa_cli_backend_by_name (const char *name, GError **error);
/* "WIDTHxHEIGHT" (x, X or ×) with both sides whole numbers in [1, @max_side]. */
gboolean   fa_cli_parse_size (const char *text, int max_side, int *width, int *height);
/* The working-clip options verbs share (--start --end --frames --size
 * --fps --fit), as parsed by GOption. */
typedef struct {
  double start, end; /* seconds; end < 0: the end of the clip */
  int frames;
  char *size, *fps, *fit;
} FaCliWorkingArgs;

#define FA_CLI_WORKING_ENTRIES(args)                                                                      \
  { "start", 0, 0, G_OPTION_ARG_DOUBLE, &(args).start, "start of the range, seconds (0)", "S" },           \
  { "end", 0, 0, G_OPTION_ARG_DOUBLE, &(args).end, "end of the range, seconds (the end of the clip)", "S" }, \
  { "frames", 0, 0, G_OPTION_ARG_INT, &(args).frames, "at most this many working frames, 1 + 4k (81)", "N" }, \
  { "size", 0, 0, G_OPTION_ARG_STRING, &(args).size, "working size, multiples of 16 (832x480)", "WxH" },   \
  { "fps", 0, 0, G_OPTION_ARG_STRING, &(args).fps, "working rate (16), or 'source'", "N" },               \
  { "fit", 0, 0, G_OPTION_ARG_STRING, &(args).fit, "crop (default) or pad", "crop|pad" }

/* Defaults: the whole clip, 81 frames. */
#define FA_CLI_WORKING_ARGS_INIT { 0.0, -1.0, 81, NULL, NULL, NULL }

/* The options from the arguments; FA_ERROR_INVALID_ARGUMENT naming a bad one. */
gboolean   fa_cli_working_options (const FaCliWorkingArgs *args, FaWorkingClipOptions *options,
                                   GError **error);
void       fa_cli_working_args_clear (FaCliWorkingArgs *args);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (FaCliWorkingArgs, fa_cli_working_args_clear)

/* "N:PATH" (--keyframe): a frame number from 0 and a non-empty path. */
gboolean   fa_cli_parse_keyframe (const char *text, int *frame, const char **path);

/* The median of @n ≥ 1 values, sorting them in place. */
double     fa_cli_median (double *values, int n);

int fa_cli_inspect (int argc, char **argv);
int fa_cli_doctor (int argc, char **argv);
int fa_cli_model (int argc, char **argv);
int fa_cli_bench (int argc, char **argv);
int fa_cli_bench_dit (int argc, char **argv);
int fa_cli_bench_t5 (int argc, char **argv);
int fa_cli_bench_vae (int argc, char **argv);
int fa_cli_bench_flow (int argc, char **argv);
int fa_cli_probe (int argc, char **argv);
int fa_cli_mask (int argc, char **argv);
int fa_cli_edit (int argc, char **argv);
int fa_cli_bench_edit (int argc, char **argv);
int fa_cli_synth (int argc, char **argv);
int fa_cli_debug (int argc, char **argv);
int fa_cli_debug_tokenize (int argc, char **argv);
int fa_cli_debug_t5 (int argc, char **argv);
int fa_cli_debug_vae_encode (int argc, char **argv);
int fa_cli_debug_vae_decode (int argc, char **argv);

G_END_DECLS
