/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "flowanchor-mask"

#include <stdio.h>

#include "fa-cli.h"

int
fa_cli_mask (int argc, char **argv)
{
  fprintf (stderr, "flowanchor: not implemented yet\n");
  return FA_CLI_FAILED;
}
