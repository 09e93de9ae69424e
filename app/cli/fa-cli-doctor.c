/* flowanchor doctor: what works on this machine.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "flowanchor-doctor"

#include "config.h"

#include <stdio.h>

#include "fa-cli.h"
#include "fa-doctor.h"

int
fa_cli_doctor (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new (NULL);
  g_autoptr (GError) error = NULL;
  gboolean ok = FALSE;

  g_option_context_set_summary (context,
                                "Reports which backends work (CPU, CUDA), which GStreamer elements\n"
                                "the editor needs are present, and whether a model folder is\n"
                                "configured. Exits 1 when a needed element is missing.");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "flowanchor doctor: %s\n", error->message);
      return FA_CLI_USAGE;
    }
  if (argc > 1)
    {
      fprintf (stderr, "flowanchor doctor: unexpected argument '%s'\n", argv[1]);
      return FA_CLI_USAGE;
    }

  g_autofree char *report = fa_doctor_report (&ok);
  fputs (report, stdout);
  return ok ? FA_CLI_OK : FA_CLI_FAILED;
}
