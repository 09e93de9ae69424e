/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "flowanchor-flow"

#include <stdio.h>

#include "fa-cli.h"

int
fa_cli_bench_flow (int argc, char **argv)
{
  fprintf (stderr, "flowanchor: not implemented yet\n");
  return FA_CLI_FAILED;
}
