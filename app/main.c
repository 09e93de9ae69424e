/* main.c: flowanchor-studio, the GTK application.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "flowanchor-studio"

#include "config.h"

#include <glib/gi18n.h>

#include "fa-application.h"

int
main (int   argc,
      char *argv[])
{
  g_autoptr (FaApplication) app = NULL;

  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  app = fa_application_new ();

  int status = g_application_run (G_APPLICATION (app), argc, argv);

  return status != 0 ? status : fa_application_get_exit_status (app);
}
