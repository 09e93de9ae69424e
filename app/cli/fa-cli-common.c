/* fa-cli-common.c: what several verbs of the flowanchor tool share.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "flowanchor"

#include "config.h"

#include <stdlib.h>

#include "fa-cli.h"
#include "fa-error.h"

FaBackend *
fa_cli_backend_by_name (const char *name, GError **error)
{
  if (name == NULL || g_str_equal (name, "auto"))
    return fa_backend_new_default ();
  if (g_str_equal (name, "cpu"))
    return fa_backend_new_cpu ();
  if (g_str_equal (name, "cuda"))
    return fa_backend_new_cuda (0, error);
  g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "unknown device '%s' (cpu, cuda or auto)", name);
  return NULL;
}

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

double
fa_cli_median (double *values, int n)
{
  qsort (values, n, sizeof *values, compare_doubles);
  return values[n / 2];
}
