/* test-download.c: getting the model from inside the app, against
 * the fake hub of tests/fa-test-hub.h serving the tiny model as
 * FA_MODEL_REPO_ID at FA_MODEL_REVISION, into a fresh hub cache per case:
 * the main window's no-model notice offers the download, runs it with its
 * progress, and the model is ready from the snapshot afterwards; the
 * preferences' Download row cancels mid-way (no error, Resume offered),
 * then resumes with a range request to the end; a hub that answers 404
 * leaves the reason in the notice and an app that still works; a hub that
 * wants a token refuses without one and serves with the one typed in the
 * preferences, which no setting keeps; the ComfyUI folders of the
 * settings are where the app looks when nothing is set up.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "test-download"

#include "config.h"

#include <string.h>
#include <unistd.h>

#include <adwaita.h>
#include <glib/gstdio.h>

#include "fa-application.h"
#include "fa-model-download.h"
#include "fa-model-find.h"
#include "fa-preferences-window.h"
#include "fa-test-hub.h"
#include "fa-test-model.h"
#include "fa-window.h"

#include "fa-app-test-util.h"

/* a download of the tiny model takes well under a second; a bug must fail, not hang */
#define WAIT_SECONDS 20
/* opening the sample clip decodes it */
#define OPEN_SECONDS 60

#define wait_for(condition, data) fa_test_wait_for ((condition), (data), WAIT_SECONDS)

static FaApplication *app;
static FaTestHub *hub;
static char *tiny_dir;
static char *work_dir;   /* everything a case writes, under the temporary folder */
static char *cache_dir;  /* this case's HF_HUB_CACHE */
static GHashTable *blob_sizes; /* blob name → the size of its file */
static guint case_number;

static const char *const model_keys[] = {
  "model-folder", "model-transformer-file", "model-text-encoder-file", "model-tokenizer-path",
  "model-vae-file", "comfyui-folders", "hub-endpoint",
};

/* ---- helpers ---- */

static GSettings *
new_settings (void)
{
  return g_settings_new (FA_APP_ID);
}

static char *
get_setting (const char *key)
{
  g_autoptr (GSettings) settings = new_settings ();

  return g_settings_get_string (settings, key);
}

static gboolean
model_is_ready (gpointer data)
{
  return fa_application_get_model_ready (app);
}

static gboolean
download_is_idle (gpointer data)
{
  return !fa_application_get_download_active (app);
}

/* Nothing set up and nothing found: the check has run against this
 * case's cache (the problem names it). */
static gboolean
model_is_missing_here (gpointer data)
{
  g_autofree char *problem = fa_application_dup_model_problem (app);

  return fa_application_get_model_missing (app) && problem != NULL && strstr (problem, cache_dir) != NULL;
}

static char *
snapshot_dir (void)
{
  return g_build_filename (cache_dir, "models--Wan-AI--Wan2.1-T2V-1.3B-Diffusers", "snapshots", FA_MODEL_REVISION,
                           NULL);
}

/* A fresh hub cache, the settings at their defaults but for the fake
 * hub's address, and the application's check run again against them. */
static void
start_case (void)
{
  g_autoptr (GSettings) settings = new_settings ();

  g_assert_true (download_is_idle (NULL));
  cache_dir = g_strdup_printf ("%s/cache-%u", work_dir, ++case_number);
  g_assert_cmpint (g_mkdir_with_parents (cache_dir, 0700), ==, 0);
  g_setenv ("HF_HUB_CACHE", cache_dir, TRUE);
  fa_test_hub_set_fault (hub, NULL, FA_TEST_HUB_NORMAL, 0);
  fa_test_hub_set_body_delay (hub, 0);
  fa_test_hub_clear_requests (hub);

  /* a change of where the model is makes the app look again */
  g_settings_set_string (settings, "model-folder", "/nonexistent/flowanchor-model");
  for (guint i = 0; i < G_N_ELEMENTS (model_keys); i++)
    g_settings_reset (settings, model_keys[i]);
  g_settings_set_string (settings, "hub-endpoint", fa_test_hub_get_endpoint (hub));
  g_assert_true (wait_for (model_is_missing_here, NULL));
  g_assert_false (fa_application_get_model_ready (app));
}

static void
end_case (void)
{
  g_assert_true (wait_for (download_is_idle, NULL));
  g_clear_pointer (&cache_dir, g_free);
}

static gpointer
window_child (FaWindow   *window,
              const char *name)
{
  GObject *child = gtk_widget_get_template_child (GTK_WIDGET (window), FA_TYPE_WINDOW, name);

  g_assert_nonnull (child);
  return child;
}

static gpointer
preferences_child (FaPreferencesWindow *window,
                   const char          *name)
{
  GObject *child = gtk_widget_get_template_child (GTK_WIDGET (window), FA_TYPE_PREFERENCES_WINDOW, name);

  g_assert_nonnull (child);
  return child;
}

#define visible(widget) gtk_widget_get_visible (GTK_WIDGET (widget))

/* What a pointer's click does (gtk_widget_activate would emit "clicked"
 * only after GtkButton's 250 ms of showing itself pressed). */
static void
click (gpointer button)
{
  g_assert_true (gtk_widget_get_visible (button));
  g_assert_true (gtk_widget_is_sensitive (button));
  g_signal_emit_by_name (button, "clicked");
}

/* Each file of the tiny model under @relative, by the blob name the hub
 * gives it. */
static void
add_blob_sizes (const char *relative)
{
  g_autofree char *folder = g_build_filename (tiny_dir, relative, NULL);
  g_autoptr (GDir) dir = g_dir_open (folder, 0, NULL);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (folder, name, NULL);
      g_autofree char *rel = *relative != '\0' ? g_strconcat (relative, "/", name, NULL) : g_strdup (name);
      GStatBuf st;

      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        add_blob_sizes (rel);
      else if (g_stat (path, &st) == 0)
        g_hash_table_insert (blob_sizes, g_strdup (fa_test_hub_get_blob (hub, rel)),
                             g_memdup2 (&st.st_size, sizeof st.st_size));
    }
}

/* A file being fetched: some of its bytes are there, and some not yet
 * (so that with slow bodies, the rest is at least one delay away). */
static gboolean
has_file_in_the_middle (void)
{
  g_autofree char *blobs = g_build_filename (cache_dir, "models--Wan-AI--Wan2.1-T2V-1.3B-Diffusers", "blobs", NULL);
  g_autoptr (GDir) dir = g_dir_open (blobs, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (blobs, name, NULL);
      g_autofree char *blob = g_strndup (name, strlen (name) - strlen (".incomplete"));
      const goffset *size = g_str_has_suffix (name, ".incomplete") ? g_hash_table_lookup (blob_sizes, blob) : NULL;
      GStatBuf st;

      if (size != NULL && g_stat (path, &st) == 0 && st.st_size > 0 && st.st_size < *size)
        return TRUE;
    }
  return FALSE;
}

/* The blobs an unfinished download left (BLOB.incomplete) in this case's
 * cache, with some bytes in them. */
static gboolean
has_incomplete_blob (void)
{
  g_autofree char *blobs = g_build_filename (cache_dir, "models--Wan-AI--Wan2.1-T2V-1.3B-Diffusers", "blobs", NULL);
  g_autoptr (GDir) dir = g_dir_open (blobs, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (blobs, name, NULL);
      GStatBuf st;
      if (g_str_has_suffix (name, ".incomplete") && g_stat (path, &st) == 0 && st.st_size > 0)
        return TRUE;
    }
  return FALSE;
}

static void
assert_downloaded (void)
{
  g_autofree char *snapshot = snapshot_dir ();
  g_autofree char *folder = get_setting ("model-folder");

  g_assert_true (fa_application_get_model_ready (app));
  g_assert_false (fa_application_get_model_missing (app));
  g_assert_false (fa_application_get_download_active (app));
  g_assert_null (fa_application_get_download_error (app));
  g_assert_cmpfloat (fa_application_get_download_fraction (app), ==, 1.0);
  /* the snapshot in this case's cache, where diffusers would put it too */
  g_assert_cmpstr (folder, ==, snapshot);
  g_assert_true (g_str_has_prefix (folder, cache_dir));
  g_autofree char *index = g_build_filename (snapshot, "transformer", "diffusion_pytorch_model.safetensors.index.json",
                                             NULL);
  g_assert_true (g_file_test (index, G_FILE_TEST_IS_REGULAR));
  for (guint i = 1; i <= 4; i++)
    {
      g_autofree char *value = get_setting (model_keys[i]);
      g_assert_cmpstr (value, ==, "");
    }
}

/* Saves @widget's window as drawn to FA_DOWNLOAD_SCREENSHOTS/@name, when
 * that folder is given (review pictures). */
static void
save_screenshot (gpointer    widget,
                 const char *name)
{
  const char *folder = g_getenv ("FA_DOWNLOAD_SCREENSHOTS");
  if (folder == NULL || *folder == '\0')
    return;
  g_autofree char *path = g_build_filename (folder, name, NULL);

  g_autoptr (GdkPaintable) paintable = gtk_widget_paintable_new (widget);
  GtkSnapshot *snapshot = gtk_snapshot_new ();
  gint64 until = g_get_monotonic_time () + G_USEC_PER_SEC / 2;

  /* let the rows lay out and draw before the picture */
  while (g_get_monotonic_time () < until)
    g_main_context_iteration (NULL, FALSE);
  int width = gtk_widget_get_width (widget), height = gtk_widget_get_height (widget);
  gdk_paintable_snapshot (paintable, GDK_SNAPSHOT (snapshot), width, height);
  g_autoptr (GskRenderNode) node = gtk_snapshot_free_to_node (snapshot);
  g_assert_nonnull (node);
  g_autoptr (GdkTexture) texture = gsk_renderer_render_texture (gtk_native_get_renderer (GTK_NATIVE (widget)), node,
                                                                &GRAPHENE_RECT_INIT (0, 0, width, height));
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("screenshot written to %s", path);
}

/* ---- the cases ---- */

typedef struct
{
  GPtrArray *texts;  /* every download-text seen */
  double     max_fraction;
} Watch;

static void
watch_text (FaApplication *application,
            GParamSpec    *pspec,
            Watch         *watch)
{
  const char *text = fa_application_get_download_text (application);

  if (text != NULL)
    g_ptr_array_add (watch->texts, g_strdup (text));
  watch->max_fraction = MAX (watch->max_fraction, fa_application_get_download_fraction (application));
}

static gboolean
texts_contain (GPtrArray  *texts,
               const char *needle)
{
  for (guint i = 0; i < texts->len; i++)
    if (strstr (g_ptr_array_index (texts, i), needle) != NULL)
      return TRUE;
  return FALSE;
}

/* (a) Nothing set up: the window's notice offers the download; one click
 * fetches it with its progress, and the model is ready from the snapshot. */
static void
test_notice_download (void)
{
  start_case ();
  FaWindow *window = fa_test_open_sample_window (app, OPEN_SECONDS);
  GtkWidget *notice = window_child (window, "model_notice");
  GtkButton *download = window_child (window, "model_download_button");
  GtkLabel *label = window_child (window, "model_notice_label");
  g_autofree char *size = g_format_size (FA_MODEL_REVISION_BYTES);
  g_autofree char *problem = fa_application_dup_model_problem (app);

  g_assert_true (visible (notice));
  g_assert_cmpstr (gtk_label_get_text (label), ==, problem);
  g_assert_true (visible (download));
  g_assert_nonnull (strstr (gtk_button_get_label (download), size));
  g_assert_false (visible (window_child (window, "model_download_progress")));
  g_assert_false (visible (window_child (window, "model_download_cancel_button")));
  g_assert_false (visible (window_child (window, "model_download_error_label")));

  save_screenshot (window, "notice-offer.png");
  Watch watch = { g_ptr_array_new_with_free_func (g_free), 0.0 };
  gulong handler = g_signal_connect (app, "notify::download-text", G_CALLBACK (watch_text), &watch);
  click (download);
  /* under way at once, shown in the notice */
  g_assert_true (fa_application_get_download_active (app));
  g_assert_false (visible (download));
  g_assert_true (visible (window_child (window, "model_download_progress")));
  g_assert_true (visible (window_child (window, "model_download_cancel_button")));
  g_assert_true (visible (window_child (window, "model_download_label")));
  g_assert_cmpstr (gtk_label_get_text (window_child (window, "model_download_label")), ==,
                   fa_application_get_download_text (app));

  g_assert_true (wait_for (model_is_ready, NULL));
  g_signal_handler_disconnect (app, handler);
  assert_downloaded ();
  /* the progress named the bytes of the model the hub listed */
  g_autofree char *total = g_format_size (fa_test_hub_get_model_bytes (hub));
  g_assert_true (texts_contain (watch.texts, total));
  g_assert_cmpfloat (watch.max_fraction, ==, 1.0);
  g_ptr_array_unref (watch.texts);
  /* the files came from the hub: its listing at the pinned revision first */
  g_autofree char *listing = g_strdup_printf ("/api/models/%s/revision/%s", FA_MODEL_REPO_ID, FA_MODEL_REVISION);
  g_assert_cmpuint (fa_test_hub_count_requests (hub, listing), >=, 1);

  /* the notice no longer speaks of the model: the GPU sentence at most */
  g_autofree char *gpu = fa_application_dup_gpu_problem (app);
  g_assert_false (visible (download));
  g_assert_false (visible (window_child (window, "model_download_progress")));
  g_assert_false (visible (window_child (window, "model_download_cancel_button")));
  g_assert_false (visible (window_child (window, "model_notice_button")));
  g_assert_cmpint (visible (notice), ==, gpu != NULL);
  if (gpu != NULL)
    g_assert_cmpstr (gtk_label_get_text (label), ==, gpu);

  fa_test_destroy_window (window, WAIT_SECONDS);
  end_case ();
}

static gboolean
fetching_with_partial_file (gpointer data)
{
  return fa_application_get_download_fraction (app) > 0.0 && has_file_in_the_middle ();
}

static gboolean
button_says (gpointer data)
{
  void **pair = data;

  return g_strcmp0 (gtk_button_get_label (pair[0]), pair[1]) == 0;
}

/* (b) The preferences' row: start, cancel in the middle (no error, what
 * was fetched kept, Resume offered), resume to the end. */
static void
test_preferences_cancel_resume (void)
{
  start_case ();
  FaPreferencesWindow *window = fa_preferences_window_new (NULL);
  gtk_window_present (GTK_WINDOW (window));
  g_assert_true (wait_for (fa_test_widget_is_mapped, window));

  AdwActionRow *row = preferences_child (window, "download_row");
  GtkButton *download = preferences_child (window, "download_button");
  GtkButton *cancel = preferences_child (window, "download_cancel_button");
  GtkProgressBar *progress = preferences_child (window, "download_progress");
  g_autofree char *size = g_format_size (FA_MODEL_REVISION_BYTES);

  g_assert_true (visible (preferences_child (window, "download_group")));
  g_assert_cmpstr (gtk_button_get_label (download), ==, "_Download");
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (row), size));
  g_assert_false (visible (cancel));
  g_assert_false (visible (progress));
  /* the address row shows the setting */
  g_assert_cmpstr (gtk_editable_get_text (preferences_child (window, "hub_endpoint_row")), ==,
                   fa_test_hub_get_endpoint (hub));

  /* slow bodies, so that the cancel lands in the middle of a file */
  fa_test_hub_set_body_delay (hub, 30000);
  click (download);
  g_assert_true (fa_application_get_download_active (app));
  g_assert_true (wait_for (fetching_with_partial_file, NULL));
  g_assert_true (visible (progress));
  g_assert_true (visible (cancel));
  g_assert_false (visible (download));
  g_assert_cmpfloat (gtk_progress_bar_get_fraction (progress), ==, fa_application_get_download_fraction (app));
  g_assert_cmpstr (adw_action_row_get_subtitle (row), ==, fa_application_get_download_text (app));

  save_screenshot (window, "preferences-downloading.png");

  click (cancel);
  g_assert_true (wait_for (download_is_idle, NULL));
  g_assert_null (fa_application_get_download_error (app));
  g_assert_nonnull (fa_application_get_download_text (app));
  g_assert_nonnull (strstr (fa_application_get_download_text (app), "kept"));
  g_assert_false (fa_application_get_model_ready (app));
  g_autofree char *folder = get_setting ("model-folder");
  g_assert_cmpstr (folder, ==, "");
  /* what was fetched stays, and the row offers to go on */
  g_assert_true (has_incomplete_blob ());
  void *resume[] = { download, "_Resume" };
  g_assert_true (wait_for (button_says, resume));
  g_assert_cmpuint (fa_application_get_download_partial (app), >, 0);
  g_assert_true (visible (download));
  g_assert_false (visible (cancel));
  g_assert_false (visible (progress));
  g_assert_false (visible (preferences_child (window, "download_error_icon")));
  save_screenshot (window, "preferences-cancelled.png");

  /* again: it goes on from there to the end */
  fa_test_hub_set_body_delay (hub, 0);
  fa_test_hub_clear_requests (hub);
  click (download);
  g_assert_true (wait_for (model_is_ready, NULL));
  assert_downloaded ();
  g_autoptr (GPtrArray) requests = fa_test_hub_get_requests (hub);
  gboolean ranged = FALSE;
  for (guint i = 0; i < requests->len; i++)
    {
      const FaTestHubRequest *request = g_ptr_array_index (requests, i);
      if (request->range != NULL && !g_str_has_prefix (request->range, "bytes=0-"))
        ranged = TRUE;
    }
  g_assert_true (ranged);
  g_assert_false (has_incomplete_blob ());
  /* the row says the model in use is the download, and offers no other */
  g_assert_null (fa_application_get_download_text (app));
  g_assert_cmpstr (adw_action_row_get_subtitle (row), ==, "Downloaded, and in use");
  g_assert_false (visible (download));
  g_assert_false (visible (cancel));
  g_assert_false (visible (progress));

  fa_test_destroy_window (window, WAIT_SECONDS);
  end_case ();
}

/* (c) The hub answers 404 to the listing: the reason in the notice, no
 * model, and an app that goes on working. */
static void
test_hub_fault (void)
{
  start_case ();
  fa_test_hub_set_fault (hub, NULL, FA_TEST_HUB_NOT_FOUND, 100);
  FaWindow *window = fa_test_open_sample_window (app, OPEN_SECONDS);
  GtkButton *download = window_child (window, "model_download_button");
  GtkLabel *error_label = window_child (window, "model_download_error_label");

  click (download);
  g_assert_true (wait_for (download_is_idle, NULL));
  const char *error = fa_application_get_download_error (app);
  g_assert_nonnull (error);
  g_test_message ("download error: %s", error);
  /* the advice, then the engine's words */
  g_assert_true (g_str_has_prefix (error, "The model was not found on the hub"));
  g_assert_true (visible (window_child (window, "model_notice")));
  g_assert_true (visible (error_label));
  g_assert_cmpstr (gtk_label_get_text (error_label), ==, error);
  save_screenshot (window, "notice-error.png");
  g_assert_false (fa_application_get_model_ready (app));
  g_assert_true (fa_application_get_model_missing (app));
  g_autofree char *folder = get_setting ("model-folder");
  g_assert_cmpstr (folder, ==, "");
  /* another try is offered */
  g_assert_true (visible (download));
  g_assert_false (visible (window_child (window, "model_download_progress")));

  /* and the app still answers: a model chosen by hand is checked and ready */
  g_autoptr (GSettings) settings = new_settings ();
  g_settings_set_string (settings, "model-folder", tiny_dir);
  g_assert_true (wait_for (model_is_ready, NULL));
  g_assert_false (visible (error_label));

  fa_test_destroy_window (window, WAIT_SECONDS);
  fa_test_hub_set_fault (hub, NULL, FA_TEST_HUB_NORMAL, 0);
  end_case ();
}

/* A hub that wants a token: refused without one (the reason in the
 * preferences' row), served with the one typed in the preferences, which
 * goes to the hub and into no setting. */
static void
test_token (void)
{
  const char *token = "hf_test_session_token";

  start_case ();
  fa_test_hub_require_token (hub, token);
  FaPreferencesWindow *window = fa_preferences_window_new (NULL);
  gtk_window_present (GTK_WINDOW (window));
  g_assert_true (wait_for (fa_test_widget_is_mapped, window));
  AdwActionRow *row = preferences_child (window, "download_row");
  GtkButton *download = preferences_child (window, "download_button");

  click (download);
  g_assert_true (wait_for (download_is_idle, NULL));
  const char *error = fa_application_get_download_error (app);
  g_assert_nonnull (error);
  g_test_message ("download error: %s", error);
  g_assert_true (g_str_has_prefix (error, "Access was refused"));
  g_assert_cmpstr (adw_action_row_get_subtitle (row), ==, error);
  g_assert_true (visible (preferences_child (window, "download_error_icon")));
  g_assert_false (fa_application_get_model_ready (app));

  gtk_editable_set_text (preferences_child (window, "hub_token_row"), token);
  g_assert_cmpstr (fa_application_get_download_token (app), ==, token);
  fa_test_hub_clear_requests (hub);
  click (download);
  g_assert_true (wait_for (model_is_ready, NULL));
  assert_downloaded ();
  g_assert_false (visible (preferences_child (window, "download_error_icon")));

  /* the hub's own host got the token */
  g_autoptr (GPtrArray) requests = fa_test_hub_get_requests (hub);
  g_autofree char *bearer = g_strconcat ("Bearer ", token, NULL);
  guint with_token = 0;
  for (guint i = 0; i < requests->len; i++)
    {
      const FaTestHubRequest *request = g_ptr_array_index (requests, i);
      if (g_strcmp0 (request->authorization, bearer) == 0)
        with_token++;
    }
  g_assert_cmpuint (with_token, >, 0);
  /* and no setting holds it */
  g_autoptr (GSettings) settings = new_settings ();
  g_autoptr (GSettingsSchema) schema = NULL;
  g_object_get (settings, "settings-schema", &schema, NULL);
  g_auto (GStrv) keys = g_settings_schema_list_keys (schema);
  for (guint i = 0; keys[i] != NULL; i++)
    {
      g_autoptr (GVariant) value = g_settings_get_value (settings, keys[i]);
      g_autofree char *printed = g_variant_print (value, FALSE);
      g_assert_null (strstr (printed, token));
    }

  /* the token lives for the session: a new window shows it, cleared it is gone */
  fa_test_destroy_window (window, WAIT_SECONDS);
  window = fa_preferences_window_new (NULL);
  g_assert_cmpstr (gtk_editable_get_text (preferences_child (window, "hub_token_row")), ==, token);
  gtk_editable_set_text (preferences_child (window, "hub_token_row"), "");
  g_assert_null (fa_application_get_download_token (app));
  gtk_window_destroy (GTK_WINDOW (window));

  fa_test_hub_require_token (hub, NULL);
  end_case ();
}

static void
link_to (const char *target, const char *folder, const char *name)
{
  g_autofree char *path = g_build_filename (folder, name, NULL);

  g_assert_cmpint (g_mkdir_with_parents (folder, 0700), ==, 0);
  g_assert_cmpint (symlink (target, path), ==, 0);
}

/* A ComfyUI install holding the tiny model's single files under models/.
 * Returns its root. */
static char *
make_comfyui (void)
{
  char *root = g_build_filename (work_dir, "ComfyUI", NULL);
  g_autofree char *dit_dir = g_build_filename (root, "models", "diffusion_models", NULL);
  g_autofree char *text_dir = g_build_filename (root, "models", "text_encoders", NULL);
  g_autofree char *vae_dir = g_build_filename (root, "models", "vae", NULL);
  g_autofree char *dit = g_build_filename (g_getenv ("FA_TEST_SRCDIR"), "data", "original", "wan-tiny-dit.safetensors",
                                           NULL);
  g_autofree char *vae = g_build_filename (g_getenv ("FA_TEST_SRCDIR"), "data", "original", "wan-tiny-vae.safetensors",
                                           NULL);
  g_autofree char *config = g_build_filename (tiny_dir, "transformer", "config.json", NULL);

  link_to (dit, dit_dir, "wan2.1_t2v_1.3B_bf16.safetensors");
  /* the tiny DiT's width does not tell its head count: its config beside it */
  link_to (config, dit_dir, "config.json");
  link_to (vae, vae_dir, "wan_2.1_vae.safetensors");
  g_assert_cmpint (g_mkdir_with_parents (text_dir, 0700), ==, 0);
  g_autofree char *text = g_build_filename (text_dir, "umt5_xxl_fp16.safetensors", NULL);
  fa_test_write_single_text_encoder (tiny_dir, text);
  return root;
}

static gboolean
model_is_not_ready (gpointer data)
{
  return !fa_application_get_model_ready (app) && fa_application_get_model_missing (app);
}

/* (d) ComfyUI keeps no tokenizer: with the hub cache holding only one,
 * nothing is complete until the ComfyUI folder is in the setting; the
 * preferences list it and its remove button takes it out again. */
static void
test_comfyui_folders (void)
{
  g_autofree char *root = make_comfyui ();
  g_autoptr (GSettings) settings = new_settings ();

  start_case ();
  g_autofree char *snapshot = snapshot_dir ();
  g_autofree char *tokenizer = g_build_filename (tiny_dir, "tokenizer", NULL);
  link_to (tokenizer, snapshot, "tokenizer");
  /* the cache changed under the app: the key's change makes it look */
  const char *roots[] = { root, NULL };
  g_settings_set_strv (settings, "comfyui-folders", roots);
  g_assert_true (wait_for (model_is_ready, NULL));
  g_autofree char *folder = get_setting ("model-folder");
  g_assert_cmpstr (folder, ==, "");

  FaPreferencesWindow *window = fa_preferences_window_new (NULL);
  gtk_window_present (GTK_WINDOW (window));
  g_assert_true (wait_for (fa_test_widget_is_mapped, window));
  g_assert_false (visible (preferences_child (window, "comfyui_empty_row")));
  /* the folder's row, found by its subtitle, and its remove button */
  GtkWidget *row = NULL;
  for (GtkWidget *w = gtk_widget_get_first_child (GTK_WIDGET (window)); w != NULL;)
    {
      if (ADW_IS_ACTION_ROW (w) && g_strcmp0 (adw_action_row_get_subtitle (ADW_ACTION_ROW (w)), root) == 0)
        {
          row = w;
          break;
        }
      /* depth first through the window's widgets */
      if (gtk_widget_get_first_child (w) != NULL)
        w = gtk_widget_get_first_child (w);
      else
        {
          while (w != NULL && gtk_widget_get_next_sibling (w) == NULL)
            w = gtk_widget_get_parent (w);
          w = w != NULL ? gtk_widget_get_next_sibling (w) : NULL;
        }
    }
  g_assert_nonnull (row);
  GtkWidget *remove = NULL;
  for (GtkWidget *w = gtk_widget_get_first_child (row); w != NULL && remove == NULL;)
    {
      if (GTK_IS_BUTTON (w))
        remove = w;
      else if (gtk_widget_get_first_child (w) != NULL)
        w = gtk_widget_get_first_child (w);
      else
        {
          while (w != NULL && w != row && gtk_widget_get_next_sibling (w) == NULL)
            w = gtk_widget_get_parent (w);
          w = w != NULL && w != row ? gtk_widget_get_next_sibling (w) : NULL;
        }
    }
  g_assert_nonnull (remove);
  click (remove);
  g_auto (GStrv) left = g_settings_get_strv (settings, "comfyui-folders");
  g_assert_cmpuint (g_strv_length (left), ==, 0);
  g_assert_true (visible (preferences_child (window, "comfyui_empty_row")));
  /* without it, nothing complete is found */
  g_assert_true (wait_for (model_is_not_ready, NULL));

  fa_test_destroy_window (window, WAIT_SECONDS);
  end_case ();
}

int
main (int   argc,
      char *argv[])
{
  static const char *const unset[] = {
    "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY",
    "HF_TOKEN", "HF_ENDPOINT", "FLOWANCHOR_MODEL_DIR",
  };
  g_autoptr (GError) error = NULL;
  int ret;

  /* loopback only, whatever the machine's proxy or hub settings */
  for (guint i = 0; i < G_N_ELEMENTS (unset); i++)
    g_unsetenv (unset[i]);
  g_test_init (&argc, &argv, NULL);
  if (!gtk_init_check ())
    {
      g_print ("1..0 # SKIP no display to open\n");
      return 0;
    }

  work_dir = fa_test_make_folder ("fa-model-download-XXXXXX");
  /* no token of a real login reaches even the fake hub */
  g_autofree char *hf_home = g_build_filename (work_dir, "hf-home", NULL);
  g_autofree char *token_path = g_build_filename (hf_home, "token", NULL);
  g_setenv ("HF_HOME", hf_home, TRUE);
  g_setenv ("HF_TOKEN_PATH", token_path, TRUE);
  g_setenv ("XDG_CACHE_HOME", work_dir, TRUE);
  tiny_dir = g_build_filename (g_getenv ("FA_TEST_SRCDIR"), "data", "wan-tiny", NULL);
  hub = fa_test_hub_new (tiny_dir, FA_MODEL_REPO_ID, FA_MODEL_REVISION);
  blob_sizes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  add_blob_sizes ("");

  app = fa_application_new ();
  g_application_set_flags (G_APPLICATION (app), G_APPLICATION_NON_UNIQUE);
  g_assert_true (g_application_register (G_APPLICATION (app), NULL, &error));
  g_assert_no_error (error);

  g_test_add_func ("/app/model-download/notice", test_notice_download);
  g_test_add_func ("/app/model-download/preferences-cancel-resume", test_preferences_cancel_resume);
  g_test_add_func ("/app/model-download/hub-fault", test_hub_fault);
  g_test_add_func ("/app/model-download/token", test_token);
  g_test_add_func ("/app/model-download/comfyui-folders", test_comfyui_folders);

  ret = g_test_run ();

  g_clear_object (&app);
  fa_test_hub_free (hub);
  g_hash_table_unref (blob_sizes);
  fa_test_remove_tree (work_dir);
  g_free (work_dir);
  g_free (tiny_dir);
  return ret;
}
