/* fa-cli.h: the verbs of the flowanchor command-line tool. Each takes the
 * arguments after its own name and returns the process exit status.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "fa-backend.h"

G_BEGIN_DECLS

/* Exit statuses: 0 done, 1 the work failed (bad file, missing element), 2 usage. */
enum { FA_CLI_OK = 0, FA_CLI_FAILED = 1, FA_CLI_USAGE = 2 };

/* "cpu", "cuda", or "auto"/NULL (CUDA when a device works). */
FaBackend *fa_cli_backend_by_name (const char *name, GError **error);
/* "WIDTHxHEIGHT" (x, X or ×) with both sides whole numbers in [1, @max_side]. */
gboolean   fa_cli_parse_size (const char *text, int max_side, int *width, int *height);
/* The median of @n ≥ 1 values, sorting them in place. */
double     fa_cli_median (double *values, int n);

int fa_cli_inspect (int argc, char **argv);
int fa_cli_doctor (int argc, char **argv);
int fa_cli_bench (int argc, char **argv);
int fa_cli_bench_dit (int argc, char **argv);
int fa_cli_bench_t5 (int argc, char **argv);
int fa_cli_bench_vae (int argc, char **argv);
int fa_cli_bench_flow (int argc, char **argv);
int fa_cli_probe (int argc, char **argv);
int fa_cli_mask (int argc, char **argv);
int fa_cli_synth (int argc, char **argv);
int fa_cli_debug (int argc, char **argv);
int fa_cli_debug_tokenize (int argc, char **argv);
int fa_cli_debug_t5 (int argc, char **argv);
int fa_cli_debug_vae_encode (int argc, char **argv);
int fa_cli_debug_vae_decode (int argc, char **argv);

G_END_DECLS
