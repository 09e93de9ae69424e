/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-doctor"

#include "config.h"

#include "fa-doctor.h"

#include <gio/gio.h>
#include <gst/gst.h>

#include "fa-backend.h"

static const struct {
  const char *element;
  const char *purpose;
} media_elements[] = {
  { "decodebin3", "decoding clips" },
  { "qtdemux", "reading MP4/MOV containers and their audio" },
  { "x264enc", "exporting H.264" },
  { "mp4mux", "writing MP4" },
  { "vp9enc", "exporting VP9" },
  { "webmmux", "writing WebM" },
  { "opusenc", "WebM audio (Opus)" },
};

gboolean
fa_doctor_check_media_elements (FaMediaElementCheck **out_checks, guint *out_n_checks,
                                GError **error)
{
  if (!gst_init_check (NULL, NULL, error))
    return FALSE;

  guint n = G_N_ELEMENTS (media_elements);
  FaMediaElementCheck *checks = g_new0 (FaMediaElementCheck, n);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (GstElementFactory) factory = gst_element_factory_find (media_elements[i].element);
      checks[i].element = media_elements[i].element;
      checks[i].purpose = media_elements[i].purpose;
      checks[i].present = factory != NULL;
    }
  *out_checks = checks;
  *out_n_checks = n;
  return TRUE;
}

char *
fa_doctor_get_model_folder (const char **out_source)
{
  const char *env = g_getenv ("FLOWANCHOR_MODEL_DIR");

  if (env != NULL && *env != '\0')
    {
      *out_source = "FLOWANCHOR_MODEL_DIR";
      return g_strdup (env);
    }

  /* The schema is the app's: absent when only the engine is installed, and
   * g_settings_new would abort on a missing schema. */
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr (GSettingsSchema) schema = source != NULL
    ? g_settings_schema_source_lookup (source, FA_APP_ID, TRUE) : NULL;
  if (schema == NULL || !g_settings_schema_has_key (schema, "model-folder"))
    return NULL;

  g_autoptr (GSettings) settings = g_settings_new_full (schema, NULL, NULL);
  g_autofree char *folder = g_settings_get_string (settings, "model-folder");
  if (folder == NULL || *folder == '\0')
    return NULL;
  *out_source = "setting model-folder";
  return g_steal_pointer (&folder);
}

static void
report_backends (GString *out)
{
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  g_autoptr (GError) error = NULL;
  g_autofree char *name = NULL;
  guint64 total = 0;

  g_string_append (out, "Backends\n");
  g_string_append_printf (out, "  cpu   yes  %s\n", fa_backend_get_description (cpu));
  if (fa_cuda_probe (0, &name, &total, &error))
    {
      g_autofree char *memory = g_format_size_full (total, G_FORMAT_SIZE_IEC_UNITS);
      g_string_append_printf (out, "  cuda  yes  %s, %s\n", name, memory);
    }
  else
    g_string_append_printf (out, "  cuda  no   %s\n", error->message);
}

static gboolean
report_media (GString *out)
{
  g_autofree FaMediaElementCheck *checks = NULL;
  g_autoptr (GError) error = NULL;
  guint n = 0;
  gboolean ok = TRUE;

  g_string_append (out, "GStreamer elements\n");
  if (!fa_doctor_check_media_elements (&checks, &n, &error))
    {
      g_string_append_printf (out, "  GStreamer could not start: %s\n", error->message);
      return FALSE;
    }
  for (guint i = 0; i < n; i++)
    {
      g_string_append_printf (out, "  %-11s %-8s %s\n", checks[i].element,
                              checks[i].present ? "yes" : "MISSING", checks[i].purpose);
      ok = ok && checks[i].present;
    }
  return ok;
}

static void
report_model (GString *out)
{
  const char *source = NULL;
  g_autofree char *folder = fa_doctor_get_model_folder (&source);

  g_string_append (out, "Model\n");
  if (folder == NULL)
    {
      g_string_append (out, "  not configured (set FLOWANCHOR_MODEL_DIR or the app's model folder)\n");
      return;
    }

  g_autofree char *index = g_build_filename (folder, "model_index.json", NULL);
  g_string_append_printf (out, "  folder  %s (from %s)\n", folder, source);
  if (!g_file_test (folder, G_FILE_TEST_IS_DIR))
    g_string_append (out, "  status  the folder does not exist\n");
  else if (!g_file_test (index, G_FILE_TEST_EXISTS))
    g_string_append (out, "  status  no model_index.json: not a diffusers model folder\n");
  else
    g_string_append (out, "  status  diffusers model folder (model_index.json present)\n");
}

char *
fa_doctor_report (gboolean *out_ok)
{
  GString *out = g_string_new (NULL);

  g_string_append_printf (out, "FlowAnchor %s\n\n", PACKAGE_VERSION);
  report_backends (out);
  g_string_append_c (out, '\n');
  gboolean media_ok = report_media (out);
  g_string_append_c (out, '\n');
  report_model (out);
  if (out_ok != NULL)
    *out_ok = media_ok;
  return g_string_free (out, FALSE);
}
