/* fa-doctor.h: what this system can do for the editor, as a report that the
 * CLI prints and the app can show.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  const char *element;
  const char *purpose;
  gboolean present;
} FaMediaElementCheck;

/* Looks up each GStreamer element the editor needs. Returns the number of
 * checks; *out_checks is freed with g_free. Fails only when GStreamer itself
 * cannot start. */
gboolean fa_doctor_check_media_elements (FaMediaElementCheck **out_checks, guint *out_n_checks,
                                         GError **error);

/* The configured model folder (FLOWANCHOR_MODEL_DIR, else the app's
 * "model-folder" setting), or NULL; *out_source says which. */
char *fa_doctor_get_model_folder (const char **out_source);

/* The whole report. *out_ok is FALSE when something the editor needs is
 * missing (a GStreamer element); CUDA and the model being absent are
 * reported but are not failures. */
char *fa_doctor_report (gboolean *out_ok);

G_END_DECLS
