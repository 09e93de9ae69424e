/* fa-cli-common.c: what several verbs of the flowanchor tool share.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "flowanchor"

#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

/* A whole decimal number in [1, max_side], nothing before or after it. */
static gboolean
parse_side (const char *text, const char *end_of_text, int max_side, int *out)
{
  char *end = NULL;

  if (text == end_of_text || !g_ascii_isdigit (*text))
    return FALSE;
  errno = 0;
  gint64 value = g_ascii_strtoll (text, &end, 10);
  if (errno != 0 || end != end_of_text || value < 1 || value > max_side)
    return FALSE;
  *out = (int) value;
  return TRUE;
}

gboolean
fa_cli_parse_size (const char *text, int max_side, int *width, int *height)
{
  const char *separator = strpbrk (text, "xX");
  const char *times = strstr (text, "×");
  gsize separator_length = 1;

  if (separator == NULL || (times != NULL && times < separator))
    {
      separator = times;
      separator_length = strlen ("×");
    }
  if (separator == NULL)
    return FALSE;
  return parse_side (text, separator, max_side, width)
         && parse_side (separator + separator_length, text + strlen (text), max_side, height);
}

gboolean
fa_cli_working_options (const FaCliWorkingArgs *args, FaWorkingClipOptions *options, GError **error)
{
  fa_working_clip_options_init (options);
  if (args->start < 0.0 || (args->end >= 0.0 && args->end <= args->start))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "--start %g and --end %g do not make a range",
                   args->start, args->end);
      return FALSE;
    }
  options->start_ns = (gint64) (args->start * 1e9);
  options->end_ns = args->end < 0 ? -1 : (gint64) (args->end * 1e9);
  options->max_frames = args->frames;
  if (args->size != NULL && !fa_cli_parse_size (args->size, 4096, &options->width, &options->height))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "--size '%s' is not WIDTHxHEIGHT", args->size);
      return FALSE;
    }
  if (args->fps != NULL)
    {
      if (g_str_equal (args->fps, "source"))
        options->fps_n = options->fps_d = 0;
      else if ((options->fps_n = atoi (args->fps)) <= 0 || options->fps_n > 240)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                       "--fps '%s' is not a rate from 1 to 240 or 'source'", args->fps);
          return FALSE;
        }
      else
        options->fps_d = 1;
    }
  if (args->fit != NULL && !g_str_equal (args->fit, "crop") && !g_str_equal (args->fit, "pad"))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "--fit '%s' is neither 'crop' nor 'pad'", args->fit);
      return FALSE;
    }
  options->fit = args->fit != NULL && g_str_equal (args->fit, "pad") ? FA_CLIP_FIT_PAD : FA_CLIP_FIT_CROP;
  return TRUE;
}

void
fa_cli_working_args_clear (FaCliWorkingArgs *args)
{
  g_clear_pointer (&args->size, g_free);
  g_clear_pointer (&args->fps, g_free);
  g_clear_pointer (&args->fit, g_free);
}

gboolean
fa_cli_parse_keyframe (const char *text, int *frame, const char **path)
{
  char *end = NULL;
  long n = strtol (text, &end, 10);

  if (end == text || *end != ':' || end[1] == '\0' || n < 0 || n > G_MAXINT)
    return FALSE;
  *frame = (int) n;
  *path = end + 1;
  return TRUE;
}
