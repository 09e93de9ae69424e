/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "flowanchor-probe"

#include <stdio.h>

#include "fa-cli.h"

int
fa_cli_probe (int argc, char **argv)
{
  fprintf (stderr, "flowanchor: not implemented yet\n");
  return FA_CLI_FAILED;
}
