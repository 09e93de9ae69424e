/* test-preferences.c: the preferences window and the application's model
 * state under a real display: the tiny model of tests/data checks complete
 * and every part's row says found; a folder without vae/ shows the VAE
 * row missing and the application names the VAE in its problem; with
 * nothing configured the problem says to choose a folder;
 * FLOWANCHOR_MODEL_DIR wins over the setting; the model loads once and is
 * shared until the settings change; the text encoder goes to the CPU when
 * the preferences say so; the other settings reach the application; the
 * app.preferences action opens the window on its page; the GPU problem
 * follows what the backend probe found.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "test-preferences"

#include "config.h"

#include <string.h>
#include <unistd.h>

#include <adwaita.h>
#include <glib/gstdio.h>

#include "fa-application.h"
#include "fa-preferences-window.h"
#include "fa-app-test-util.h"

#define WAIT_SECONDS 60

#define wait_for(condition, data) fa_test_wait_for ((condition), (data), WAIT_SECONDS)

static FaApplication *app;
static char *tiny_dir;

static const char *const model_keys[] = {
  "model-folder", "model-transformer-file", "model-text-encoder-file", "model-tokenizer-path",
  "model-vae-file", "text-encoder-device",
};

static const char *const status_ids[FA_MODEL_N_PARTS] = {
  "transformer_status_row", "text_encoder_status_row", "tokenizer_status_row", "vae_status_row",
};
static const char *const icon_ids[FA_MODEL_N_PARTS] = {
  "transformer_status_icon", "text_encoder_status_icon", "tokenizer_status_icon", "vae_status_icon",
};

static GSettings *
new_settings (void)
{
  return g_settings_new (FA_APP_ID);
}

static void
reset_model_settings (void)
{
  g_autoptr (GSettings) settings = new_settings ();

  for (guint i = 0; i < G_N_ELEMENTS (model_keys); i++)
    g_settings_reset (settings, model_keys[i]);
}

static void
set_model_folder (const char *folder)
{
  g_autoptr (GSettings) settings = new_settings ();

  g_settings_set_string (settings, "model-folder", folder);
}

/* A pipeline folder linking to the tiny model's parts, all but @without. */
static char *
make_pipeline (const char *without)
{
  static const char *const entries[] = { "model_index.json", "scheduler", "transformer", "text_encoder",
                                         "tokenizer", "vae" };
  char *folder = fa_test_make_folder ("fa-preferences-XXXXXX");

  for (guint i = 0; i < G_N_ELEMENTS (entries); i++)
    {
      if (without != NULL && g_str_equal (entries[i], without))
        continue;
      g_autofree char *target = g_build_filename (tiny_dir, entries[i], NULL);
      g_autofree char *link = g_build_filename (folder, entries[i], NULL);
      g_assert_cmpint (symlink (target, link), ==, 0);
    }
  return folder;
}

static gpointer
template_child (FaPreferencesWindow *window,
                const char          *id)
{
  GObject *child = gtk_widget_get_template_child (GTK_WIDGET (window), FA_TYPE_PREFERENCES_WINDOW, id);

  g_assert_nonnull (child);
  return child;
}

/* ---- waiting ---- */

typedef struct
{
  FaPreferencesWindow *window;
  const char          *folder; /* the report's transformer path starts with it; NULL: has no path */
} ReportWait;

static gboolean
report_is_for (gpointer data)
{
  ReportWait *wait = data;
  const FaModelReport *report = fa_preferences_window_get_report (wait->window);

  if (fa_preferences_window_get_checking (wait->window) || report == NULL)
    return FALSE;
  const char *path = report->parts[FA_MODEL_PART_TRANSFORMER].path;
  if (wait->folder == NULL)
    return path == NULL;
  return path != NULL && g_str_has_prefix (path, wait->folder);
}

static gboolean
app_model_is_ready (gpointer data)
{
  return fa_application_get_model_ready (app);
}

static gboolean
app_problem_says (gpointer data)
{
  g_autofree char *problem = fa_application_dup_model_problem (app);

  return problem != NULL && strstr (problem, data) != NULL;
}

static gboolean
backend_is_probed (gpointer data)
{
  return fa_application_get_backend_description (app) != NULL;
}

static FaPreferencesWindow *
present_preferences (void)
{
  FaPreferencesWindow *window = fa_preferences_window_new (NULL);

  gtk_window_present (GTK_WINDOW (window));
  g_assert_true (wait_for (fa_test_widget_is_mapped, window));
  return window;
}

static void
assert_row (FaPreferencesWindow *window,
            FaModelPart          part,
            gboolean             found)
{
  const FaModelReport *report = fa_preferences_window_get_report (window);
  AdwActionRow *row = template_child (window, status_ids[part]);
  GtkImage *icon = template_child (window, icon_ids[part]);
  const FaModelPartReport *p = &report->parts[part];

  g_assert_cmpint (p->found, ==, found);
  g_assert_cmpstr (gtk_image_get_icon_name (icon), ==, found ? "emblem-ok-symbolic" : "dialog-warning-symbolic");
  g_assert_true (gtk_widget_has_css_class (GTK_WIDGET (icon), found ? "success" : "warning"));
  g_assert_cmpstr (adw_action_row_get_subtitle (row), ==, found ? p->summary : p->problem);
  g_assert_nonnull (adw_action_row_get_subtitle (row));
}

/* ---- the cases ---- */

static void
test_complete (void)
{
  reset_model_settings ();
  set_model_folder (tiny_dir);

  FaPreferencesWindow *window = present_preferences ();
  ReportWait wait = { window, tiny_dir };
  g_assert_true (wait_for (report_is_for, &wait));

  const FaModelReport *report = fa_preferences_window_get_report (window);
  g_assert_true (report->complete);
  for (int part = 0; part < FA_MODEL_N_PARTS; part++)
    assert_row (window, part, TRUE);
  g_assert_nonnull (strstr (report->parts[FA_MODEL_PART_TRANSFORMER].summary, "2 blocks"));
  g_assert_false (gtk_spinner_get_spinning (template_child (window, "check_spinner")));
  g_assert_cmpstr (adw_action_row_get_subtitle (template_child (window, "folder_row")), ==, tiny_dir);

  /* the application checks the same settings */
  g_assert_true (wait_for (app_model_is_ready, NULL));
  g_autofree char *problem = fa_application_dup_model_problem (app);
  g_assert_null (problem);

  fa_test_destroy_window (window, WAIT_SECONDS);
}

static void
test_missing_vae (void)
{
  g_autofree char *folder = make_pipeline ("vae");

  reset_model_settings ();
  set_model_folder (tiny_dir);
  FaPreferencesWindow *window = present_preferences ();
  ReportWait complete = { window, tiny_dir };
  g_assert_true (wait_for (report_is_for, &complete));
  g_assert_true (fa_preferences_window_get_report (window)->complete);

  /* choosing another folder checks again at once */
  set_model_folder (folder);
  ReportWait wait = { window, folder };
  g_assert_true (wait_for (report_is_for, &wait));

  const FaModelReport *report = fa_preferences_window_get_report (window);
  g_assert_false (report->complete);
  assert_row (window, FA_MODEL_PART_TRANSFORMER, TRUE);
  assert_row (window, FA_MODEL_PART_TEXT_ENCODER, TRUE);
  assert_row (window, FA_MODEL_PART_TOKENIZER, TRUE);
  assert_row (window, FA_MODEL_PART_VAE, FALSE);
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (template_child (window, "vae_status_row")), "vae/"));

  /* the application names the VAE and is not ready */
  g_assert_true (wait_for (app_problem_says, "vae/"));
  g_autofree char *problem = fa_application_dup_model_problem (app);
  g_assert_nonnull (strstr (problem, "VAE"));
  g_assert_false (fa_application_get_model_ready (app));

  /* a single VAE file fills the gap */
  g_autoptr (GSettings) settings = new_settings ();
  g_autofree char *vae_file = g_build_filename (g_getenv ("FA_TEST_SRCDIR"), "data", "original",
                                                "wan-tiny-vae.safetensors", NULL);
  g_settings_set_string (settings, "model-vae-file", vae_file);
  g_assert_true (wait_for (app_model_is_ready, NULL));
  g_assert_true (wait_for (report_is_for, &wait));
  g_assert_true (fa_preferences_window_get_report (window)->complete);
  g_assert_cmpstr (fa_preferences_window_get_report (window)->parts[FA_MODEL_PART_VAE].path, ==, vae_file);
  g_assert_cmpstr (adw_action_row_get_subtitle (template_child (window, "vae_row")), ==, vae_file);

  fa_test_destroy_window (window, WAIT_SECONDS);
  reset_model_settings ();
  fa_test_remove_tree (folder);
}

static void
test_nothing_configured (void)
{
  reset_model_settings ();
  set_model_folder (tiny_dir);
  g_assert_true (wait_for (app_model_is_ready, NULL));

  reset_model_settings ();
  g_assert_true (wait_for (app_problem_says, "choose the Wan2.1 folder in Preferences"));
  g_assert_false (fa_application_get_model_ready (app));
  g_autofree char *problem = fa_application_dup_model_problem (app);
  g_assert_true (g_str_has_prefix (problem, "No model is set up"));
  g_assert_nonnull (strstr (problem, "choose the Wan2.1 folder in Preferences."));

  FaPreferencesWindow *window = present_preferences ();
  ReportWait wait = { window, NULL };
  g_assert_true (wait_for (report_is_for, &wait));
  g_assert_false (fa_preferences_window_get_report (window)->complete);
  for (int part = 0; part < FA_MODEL_N_PARTS; part++)
    assert_row (window, part, FALSE);
  g_assert_false (gtk_widget_get_sensitive (template_child (window, "folder_clear_button")));
  fa_test_destroy_window (window, WAIT_SECONDS);
}

static void
test_environment_override (void)
{
  g_autofree char *empty = fa_test_make_folder ("fa-preferences-empty-XXXXXX");

  reset_model_settings ();
  g_setenv ("FLOWANCHOR_MODEL_DIR", tiny_dir, TRUE);
  set_model_folder (empty);

  FaPreferencesWindow *window = present_preferences ();
  ReportWait wait = { window, tiny_dir };
  g_assert_true (wait_for (report_is_for, &wait));
  g_assert_true (fa_preferences_window_get_report (window)->complete);
  const char *subtitle = adw_action_row_get_subtitle (template_child (window, "folder_row"));
  g_assert_nonnull (strstr (subtitle, tiny_dir));
  g_assert_nonnull (strstr (subtitle, "FLOWANCHOR_MODEL_DIR"));
  g_assert_true (wait_for (app_model_is_ready, NULL));

  fa_test_destroy_window (window, WAIT_SECONDS);
  g_unsetenv ("FLOWANCHOR_MODEL_DIR");
  reset_model_settings ();
  g_rmdir (empty);
}

typedef struct
{
  gboolean done;
  FaModel *model;
  GError  *error;
} LoadResult;

static void
load_done (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  LoadResult *load = user_data;

  load->model = fa_application_load_model_finish (FA_APPLICATION (object), result, &load->error);
  load->done = TRUE;
}

static gboolean
load_is_done (gpointer data)
{
  return ((LoadResult *) data)->done;
}

static FaModel *
load_model (GError **error)
{
  LoadResult load = { FALSE, NULL, NULL };

  fa_application_load_model_async (app, NULL, load_done, &load);
  g_assert_true (wait_for (load_is_done, &load));
  if (load.error != NULL)
    g_propagate_error (error, load.error);
  return load.model;
}

static void
test_load_model (void)
{
  g_autoptr (GSettings) settings = new_settings ();
  GError *error = NULL;

  reset_model_settings ();
  g_assert_null (load_model (&error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "choose the Wan2.1 folder"));
  g_clear_error (&error);

  set_model_folder (tiny_dir);
  g_autoptr (FaModel) model = load_model (&error);
  g_assert_no_error (error);
  g_assert_nonnull (model);
  g_assert_cmpint (fa_wan_dit_get_config (fa_model_get_dit (model))->num_layers, ==, 2);
  g_assert_nonnull (fa_model_get_vae (model));
  g_assert_nonnull (fa_model_get_tokenizer (model));
  g_assert_true (fa_wan_dit_get_backend (fa_model_get_dit (model)) == fa_application_get_backend (app));
  /* usable: the tokenizer and the text encoder run */
  g_autoptr (FaTokenization) tokens = fa_tokenizer_encode (fa_model_get_tokenizer (model), "a red car", 0, &error);
  g_assert_no_error (error);
  g_autoptr (FaTensor) context = fa_umt5_encode (fa_model_get_text_encoder (model), tokens->ids, tokens->n,
                                                 &error);
  g_assert_no_error (error);
  g_assert_nonnull (context);

  /* loaded once: the next caller gets the same model */
  g_autoptr (FaModel) again = load_model (&error);
  g_assert_no_error (error);
  g_assert_true (again == model);

  /* two callers at once share one load */
  LoadResult first = { FALSE, NULL, NULL }, second = { FALSE, NULL, NULL };
  g_settings_set_string (settings, "text-encoder-device", "cpu");
  fa_application_load_model_async (app, NULL, load_done, &first);
  fa_application_load_model_async (app, NULL, load_done, &second);
  g_assert_true (wait_for (load_is_done, &first));
  g_assert_true (wait_for (load_is_done, &second));
  g_assert_no_error (first.error);
  g_assert_no_error (second.error);
  g_assert_true (first.model == second.model);
  /* the settings changed: a new model, its text encoder on the CPU */
  g_assert_true (first.model != model);
  g_assert_cmpint (fa_backend_get_device (fa_umt5_get_backend (fa_model_get_text_encoder (first.model))), ==,
                   FA_DEVICE_CPU);
  fa_model_unref (first.model);
  fa_model_unref (second.model);

  /* a caller that gives up hears so; the load goes on for the others */
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  LoadResult cancelled = { FALSE, NULL, NULL }, kept = { FALSE, NULL, NULL };
  g_settings_set_string (settings, "text-encoder-device", "gpu");
  fa_application_load_model_async (app, cancellable, load_done, &cancelled);
  fa_application_load_model_async (app, NULL, load_done, &kept);
  g_cancellable_cancel (cancellable);
  g_assert_true (wait_for (load_is_done, &cancelled));
  g_assert_error (cancelled.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (cancelled.model);
  g_clear_error (&cancelled.error);
  g_assert_true (wait_for (load_is_done, &kept));
  g_assert_no_error (kept.error);
  g_assert_nonnull (kept.model);
  fa_model_unref (kept.model);

  reset_model_settings ();
}

static void
test_other_settings (void)
{
  g_autoptr (GSettings) settings = new_settings ();
  g_autofree char *cache_dir = fa_test_make_folder ("fa-preferences-cache-XXXXXX");
  g_autofree char *cache_folder = g_build_filename (cache_dir, "prompts", NULL);
  FaPreferencesWindow *window = present_preferences ();

  /* the rows write the settings the application reads */
  g_settings_reset (settings, "vae-tiling");
  g_assert_false (fa_application_get_vae_tiling (app));
  gtk_switch_set_active (template_child (window, "vae_tiling_switch"), TRUE);
  g_assert_true (g_settings_get_boolean (settings, "vae-tiling"));
  g_assert_true (fa_application_get_vae_tiling (app));
  gtk_switch_set_active (template_child (window, "vae_tiling_switch"), FALSE);
  g_assert_false (fa_application_get_vae_tiling (app));

  AdwComboRow *device = template_child (window, "text_encoder_device_row");
  g_assert_cmpuint (adw_combo_row_get_selected (device), ==, 0);
  adw_combo_row_set_selected (device, 1);
  g_autofree char *cpu = g_settings_get_string (settings, "text-encoder-device");
  g_assert_cmpstr (cpu, ==, "cpu");
  g_settings_set_string (settings, "text-encoder-device", "gpu");
  g_assert_cmpuint (adw_combo_row_get_selected (device), ==, 0);

  GtkAdjustment *size = template_child (window, "cache_size_adjustment");
  g_assert_cmpfloat (gtk_adjustment_get_value (size), ==, g_settings_get_int (settings, "embedding-cache-size-mb"));
  gtk_adjustment_set_value (size, 512);
  g_assert_cmpint (g_settings_get_int (settings, "embedding-cache-size-mb"), ==, 512);

  /* the prompt cache where the preferences say */
  g_settings_set_string (settings, "embedding-cache-folder", cache_folder);
  g_assert_cmpstr (adw_action_row_get_subtitle (template_child (window, "cache_folder_row")), ==, cache_folder);
  FaPromptCache *cache = fa_application_get_prompt_cache (app);
  g_assert_nonnull (cache);
  g_assert_cmpstr (fa_prompt_cache_get_folder (cache), ==, cache_folder);
  g_assert_true (g_file_test (cache_folder, G_FILE_TEST_IS_DIR));
  g_assert_true (fa_application_get_prompt_cache (app) == cache);

  /* back to the default: a new cache there */
  g_settings_reset (settings, "embedding-cache-folder");
  g_settings_reset (settings, "embedding-cache-size-mb");
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (template_child (window, "cache_folder_row")),
                            "flowanchor"));

  fa_test_destroy_window (window, WAIT_SECONDS);
  fa_test_remove_tree (cache_dir);
}

static gboolean
preferences_is_shown (gpointer data)
{
  FaPreferencesWindow *window = fa_test_find_toplevel (FA_TYPE_PREFERENCES_WINDOW);

  return window != NULL && gtk_widget_get_mapped (GTK_WIDGET (window));
}

static void
test_show (void)
{
  g_auto (GStrv) accels = gtk_application_get_accels_for_action (GTK_APPLICATION (app), "app.preferences");

  g_assert_cmpuint (g_strv_length (accels), ==, 1);
  g_assert_cmpstr (accels[0], ==, "<Control>comma");

  g_assert_null (fa_test_find_toplevel (FA_TYPE_PREFERENCES_WINDOW));
  g_action_group_activate_action (G_ACTION_GROUP (app), "preferences", NULL);
  g_assert_true (wait_for (preferences_is_shown, NULL));
  FaPreferencesWindow *window = fa_test_find_toplevel (FA_TYPE_PREFERENCES_WINDOW);

  adw_preferences_window_set_visible_page_name (ADW_PREFERENCES_WINDOW (window), "performance");
  fa_application_show_preferences (app, "model");
  g_assert_true (fa_test_find_toplevel (FA_TYPE_PREFERENCES_WINDOW) == window);
  g_assert_cmpstr (adw_preferences_window_get_visible_page_name (ADW_PREFERENCES_WINDOW (window)), ==, "model");

  fa_test_destroy_window (window, WAIT_SECONDS);
  g_assert_null (fa_test_find_toplevel (FA_TYPE_PREFERENCES_WINDOW));
}

static void
test_gpu_problem (void)
{
  /* unknown until the probe it starts has ended */
  g_free (fa_application_dup_gpu_problem (app));
  g_assert_true (wait_for (backend_is_probed, NULL));
  g_autofree char *problem = fa_application_dup_gpu_problem (app);
  g_test_message ("backend: %s; GPU problem: %s", fa_application_get_backend_description (app),
                  problem != NULL ? problem : "none");
  if (fa_backend_get_device (fa_application_get_backend (app)) == FA_DEVICE_CUDA)
    g_assert_null (problem);
  else
    {
      g_assert_nonnull (problem);
      g_assert_nonnull (strstr (problem, "NVIDIA GPU with CUDA"));
      g_assert_nonnull (strstr (problem, "CPU"));
    }
}

/* Nothing set up, but the model sits in the Hugging Face cache: the app
 * finds it, says it is ready and loads it from there. */
static void
test_found_in_hub_cache (void)
{
  g_autofree char *hub = g_dir_make_tmp ("hub-XXXXXX", NULL);
  g_autofree char *repo = g_build_filename (hub, "models--Wan-AI--Wan2.1-T2V-1.3B-Diffusers", NULL);
  g_autofree char *snapshots = g_build_filename (repo, "snapshots", NULL);
  g_autofree char *refs = g_build_filename (repo, "refs", NULL);
  g_autofree char *snapshot = g_build_filename (snapshots, "0123456789abcdef0123456789abcdef01234567", NULL);
  g_autofree char *main_ref = g_build_filename (refs, "main", NULL);
  g_autofree char *old_hub = g_strdup (g_getenv ("HF_HUB_CACHE"));
  GError *error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (snapshots, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (refs, 0700), ==, 0);
  /* a snapshot is a folder of links; one link to the whole model is the same to a reader */
  g_assert_cmpint (symlink (tiny_dir, snapshot), ==, 0);
  g_assert_true (g_file_set_contents (main_ref, "0123456789abcdef0123456789abcdef01234567", -1, NULL));

  g_setenv ("HF_HUB_CACHE", hub, TRUE);
  reset_model_settings ();
  set_model_folder (tiny_dir);
  g_assert_true (wait_for (app_model_is_ready, NULL));
  reset_model_settings ();
  g_assert_true (wait_for (app_model_is_ready, NULL));
  g_autoptr (FaModel) model = load_model (&error);
  g_assert_no_error (error);
  g_assert_cmpint (fa_wan_dit_get_config (fa_model_get_dit (model))->num_layers, ==, 2);

  /* and without it, the problem names where it looked */
  g_unlink (snapshot);
  set_model_folder (tiny_dir);
  g_assert_true (wait_for (app_model_is_ready, NULL));
  reset_model_settings ();
  g_assert_true (wait_for (app_problem_says, (gpointer) hub));

  if (old_hub != NULL)
    g_setenv ("HF_HUB_CACHE", old_hub, TRUE);
  else
    g_unsetenv ("HF_HUB_CACHE");
  g_unlink (main_ref);
  g_rmdir (refs);
  g_rmdir (snapshots);
  g_rmdir (repo);
  g_rmdir (hub);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr (GError) error = NULL;
  int ret;

  g_test_init (&argc, &argv, NULL);

  if (!gtk_init_check ())
    {
      g_print ("1..0 # SKIP no display to open\n");
      return 0;
    }

  g_unsetenv ("FLOWANCHOR_MODEL_DIR");
  tiny_dir = g_build_filename (g_getenv ("FA_TEST_SRCDIR"), "data", "wan-tiny", NULL);

  app = fa_application_new ();
  g_application_set_flags (G_APPLICATION (app), G_APPLICATION_NON_UNIQUE);
  g_assert_true (g_application_register (G_APPLICATION (app), NULL, &error));
  g_assert_no_error (error);

  g_test_add_func ("/preferences/complete", test_complete);
  g_test_add_func ("/preferences/missing-vae", test_missing_vae);
  g_test_add_func ("/preferences/nothing-configured", test_nothing_configured);
  g_test_add_func ("/preferences/environment-override", test_environment_override);
  g_test_add_func ("/preferences/load-model", test_load_model);
  g_test_add_func ("/preferences/other-settings", test_other_settings);
  g_test_add_func ("/preferences/show", test_show);
  g_test_add_func ("/preferences/gpu-problem", test_gpu_problem);
  g_test_add_func ("/preferences/found-in-hub-cache", test_found_in_hub_cache);

  ret = g_test_run ();

  g_clear_object (&app);
  g_free (tiny_dir);
  return ret;
}
