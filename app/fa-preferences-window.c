/* fa-preferences-window.c: the preferences, backed by GSettings. The model
 * is checked on a worker thread whenever its settings change, and the
 * window lists, part by part, what was found and what is missing. The
 * Download row shows and drives the application's download (one for the
 * whole app, shared with the main window's notice).
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "FaPreferencesWindow"

#include "config.h"

#include <glib/gi18n.h>

#include "fa-application.h"
#include "fa-model-download.h"
#include "fa-model-find.h"
#include "fa-preferences-window.h"

typedef enum {
  PATH_FOLDER,
  PATH_TRANSFORMER,
  PATH_TEXT_ENCODER,
  PATH_TOKENIZER,
  PATH_VAE,
  PATH_CACHE_FOLDER,
  N_PATHS
} PathSetting;

typedef enum {
  CHOOSE_FOLDER,
  CHOOSE_CHECKPOINT,
  CHOOSE_TOKENIZER,
} ChooseKind;

/* The settings that name a place, and the row (its template id prefix)
 * that shows each. */
static const struct
{
  const char *key;
  const char *id; /* <id>_row, <id>_choose_button, <id>_clear_button */
  ChooseKind kind;
  const char *chooser_title;
} path_settings[N_PATHS] = {
  [PATH_FOLDER] = { "model-folder", "folder", CHOOSE_FOLDER, N_("Choose the Model Folder") },
  [PATH_TRANSFORMER] = { "model-transformer-file", "transformer", CHOOSE_CHECKPOINT,
                         N_("Choose the Transformer Checkpoint") },
  [PATH_TEXT_ENCODER] = { "model-text-encoder-file", "text_encoder", CHOOSE_CHECKPOINT,
                          N_("Choose the Text Encoder Checkpoint") },
  [PATH_TOKENIZER] = { "model-tokenizer-path", "tokenizer", CHOOSE_TOKENIZER,
                       N_("Choose the Tokenizer") },
  [PATH_VAE] = { "model-vae-file", "vae", CHOOSE_CHECKPOINT, N_("Choose the VAE Checkpoint") },
  [PATH_CACHE_FOLDER] = { "embedding-cache-folder", "cache_folder", CHOOSE_FOLDER,
                          N_("Choose the Prompt Cache Folder") },
};

/* The template ids of each part's status row and icon. */
static const char *const status_ids[FA_MODEL_N_PARTS] = {
  [FA_MODEL_PART_TRANSFORMER] = "transformer",
  [FA_MODEL_PART_TEXT_ENCODER] = "text_encoder",
  [FA_MODEL_PART_TOKENIZER] = "tokenizer",
  [FA_MODEL_PART_VAE] = "vae",
};

struct _FaPreferencesWindow
{
  AdwPreferencesWindow  parent_instance;

  GSettings            *settings;

  /* template children */
  GtkSpinner           *check_spinner;
  AdwComboRow          *text_encoder_device_row;
  GtkSwitch            *vae_tiling_switch;
  GtkAdjustment        *cache_size_adjustment;

  AdwActionRow         *path_rows[N_PATHS];
  GtkButton            *clear_buttons[N_PATHS];
  AdwActionRow         *status_rows[FA_MODEL_N_PARTS];
  GtkImage             *status_icons[FA_MODEL_N_PARTS];

  AdwPreferencesGroup  *download_group;
  AdwActionRow         *download_row;
  GtkImage             *download_error_icon;
  GtkProgressBar       *download_progress;
  GtkButton            *download_button;
  GtkButton            *download_cancel_button;
  AdwEntryRow          *hub_endpoint_row;
  AdwEntryRow          *hub_token_row;
  AdwPreferencesGroup  *comfyui_group;
  GtkButton            *comfyui_add_button;
  GtkWidget            *comfyui_empty_row;
  GPtrArray            *comfyui_rows;  /* AdwActionRow*: one per folder of the setting */

  FaApplication        *app;          /* the download's owner, or NULL outside the app */

  GtkFileChooserNative *chooser;      /* the one open now, if any */
  PathSetting           chooser_path;
  gboolean              chooser_comfyui; /* adding a ComfyUI folder rather than setting chooser_path */

  FaModelReport        *report;
  GCancellable         *check_cancellable;
  guint                 check_serial;
  guint                 check_source;
  gboolean              checking;
};

G_DEFINE_FINAL_TYPE (FaPreferencesWindow, fa_preferences_window, ADW_TYPE_PREFERENCES_WINDOW)

enum {
  PROP_0,
  PROP_CHECKING,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static char *
dup_setting (GSettings  *settings,
             const char *key)
{
  g_autofree char *value = g_settings_get_string (settings, key);

  return value != NULL && *value != '\0' ? g_steal_pointer (&value) : NULL;
}

void
fa_model_paths_init_from_settings (FaModelPaths *paths,
                                   GSettings    *settings)
{
  const char *env = g_getenv ("FLOWANCHOR_MODEL_DIR");

  g_return_if_fail (paths != NULL);
  g_return_if_fail (G_IS_SETTINGS (settings));

  *paths = (FaModelPaths) { NULL };
  /* the override the CLI and the tests use wins over the setting */
  paths->folder = env != NULL && *env != '\0' ? g_strdup (env) : dup_setting (settings, "model-folder");
  paths->transformer = dup_setting (settings, "model-transformer-file");
  paths->text_encoder = dup_setting (settings, "model-text-encoder-file");
  paths->tokenizer = dup_setting (settings, "model-tokenizer-path");
  paths->vae = dup_setting (settings, "model-vae-file");
}

static gboolean
is_model_key (const char *key)
{
  for (int i = PATH_FOLDER; i <= PATH_VAE; i++)
    if (g_str_equal (key, path_settings[i].key))
      return TRUE;
  return FALSE;
}

/* ---- the rows ---- */

static char *
default_cache_folder (void)
{
  return g_build_filename (g_get_user_cache_dir (), "flowanchor", "prompts", NULL);
}

static void
update_path_row (FaPreferencesWindow *self,
                 PathSetting          which)
{
  g_autofree char *value = dup_setting (self->settings, path_settings[which].key);
  g_autofree char *subtitle = NULL;
  const char *env = g_getenv ("FLOWANCHOR_MODEL_DIR");

  if (which == PATH_FOLDER && env != NULL && *env != '\0')
    /* Translators: %s is a folder */
    subtitle = g_strdup_printf (_("%s (set by FLOWANCHOR_MODEL_DIR)"), env);
  else if (value != NULL)
    subtitle = g_strdup (value);
  else if (which == PATH_FOLDER)
    subtitle = g_strdup (_("Not set"));
  else if (which == PATH_CACHE_FOLDER)
    {
      g_autofree char *folder = default_cache_folder ();
      /* Translators: %s is a folder */
      subtitle = g_strdup_printf (_("Default: %s"), folder);
    }
  else
    subtitle = g_strdup (_("From the model folder"));

  adw_action_row_set_subtitle (self->path_rows[which], subtitle);
  /* nothing to clear when the setting is at its default */
  gtk_widget_set_sensitive (GTK_WIDGET (self->clear_buttons[which]), value != NULL);
}

static void
update_status_rows (FaPreferencesWindow *self)
{
  for (int part = 0; part < FA_MODEL_N_PARTS; part++)
    {
      GtkWidget *icon = GTK_WIDGET (self->status_icons[part]);
      AdwActionRow *row = self->status_rows[part];

      gtk_widget_remove_css_class (icon, "success");
      gtk_widget_remove_css_class (icon, "warning");
      if (self->checking || self->report == NULL)
        {
          gtk_image_set_from_icon_name (GTK_IMAGE (icon), "content-loading-symbolic");
          adw_action_row_set_subtitle (row, _("Checking…"));
          gtk_widget_set_tooltip_text (GTK_WIDGET (row), NULL);
          continue;
        }

      const FaModelPartReport *p = &self->report->parts[part];
      gtk_image_set_from_icon_name (GTK_IMAGE (icon), p->found ? "emblem-ok-symbolic"
                                                               : "dialog-warning-symbolic");
      gtk_widget_add_css_class (icon, p->found ? "success" : "warning");
      adw_action_row_set_subtitle (row, p->found ? p->summary : p->problem);
      gtk_widget_set_tooltip_text (GTK_WIDGET (row), p->path);
    }
  gtk_spinner_set_spinning (self->check_spinner, self->checking);
}

/* ---- the check ---- */

typedef struct
{
  FaModelPaths paths;
  guint        serial;
} CheckData;

static void
check_data_free (gpointer data)
{
  CheckData *check = data;

  fa_model_paths_clear (&check->paths);
  g_free (check);
}

static void
check_thread (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  CheckData *check = task_data;

  g_task_return_pointer (task, fa_model_check (&check->paths, cancellable),
                         (GDestroyNotify) fa_model_report_free);
}

static void
check_done (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  FaPreferencesWindow *self = FA_PREFERENCES_WINDOW (object);
  CheckData *check = g_task_get_task_data (G_TASK (result));
  g_autoptr (FaModelReport) report = g_task_propagate_pointer (G_TASK (result), NULL);

  /* a later check replaced this one, and will report itself */
  if (check->serial != self->check_serial || report == NULL)
    return;

  g_clear_pointer (&self->report, fa_model_report_free);
  self->report = g_steal_pointer (&report);
  self->checking = FALSE;
  update_status_rows (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CHECKING]);
}

static gboolean
start_check (gpointer data)
{
  FaPreferencesWindow *self = data;
  CheckData *check = g_new0 (CheckData, 1);
  g_autoptr (GTask) task = NULL;
  gboolean was_checking = self->checking;

  self->check_source = 0;
  if (self->check_cancellable != NULL)
    g_cancellable_cancel (self->check_cancellable);
  g_clear_object (&self->check_cancellable);
  self->check_cancellable = g_cancellable_new ();

  fa_model_paths_init_from_settings (&check->paths, self->settings);
  check->serial = ++self->check_serial;
  self->checking = TRUE;
  update_status_rows (self);
  if (!was_checking)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CHECKING]);

  task = g_task_new (self, self->check_cancellable, check_done, NULL);
  g_task_set_source_tag (task, start_check);
  /* the report comes back even when cancelled: check_done drops it */
  g_task_set_return_on_cancel (task, FALSE);
  g_task_set_check_cancellable (task, FALSE);
  g_task_set_task_data (task, check, check_data_free);
  g_task_run_in_thread (task, check_thread);
  return G_SOURCE_REMOVE;
}

/* Several keys may change together (a reset, a delayed apply): one check
 * for all of them. "checking" turns TRUE at once, so that nobody reads the
 * previous report as the answer for the new settings. */
static void
queue_check (FaPreferencesWindow *self)
{
  if (self->check_source != 0)
    return;
  self->check_source = g_idle_add (start_check, self);
  if (!self->checking)
    {
      self->checking = TRUE;
      update_status_rows (self);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CHECKING]);
    }
}

/* ---- the download (the application runs it; this shows it) ---- */

static void
update_download_row (FaPreferencesWindow *self)
{
  FaApplication *app = self->app;
  gboolean active = fa_application_get_download_active (app);
  const char *error = fa_application_get_download_error (app);
  const char *text = fa_application_get_download_text (app);
  guint64 partial = fa_application_get_download_partial (app);
  g_autofree char *subtitle = NULL;
  gboolean in_use = FALSE;

  /* the model in use is the download's snapshot: nothing left to fetch */
  if (!active && fa_application_get_model_ready (app))
    {
      g_autofree char *cache = fa_hf_hub_cache_dir ();
      g_autofree char *snapshot = fa_hf_snapshot_dir (cache, FA_MODEL_REPO_ID, FA_MODEL_REVISION);
      g_autofree char *folder = dup_setting (self->settings, "model-folder");
      in_use = snapshot != NULL && g_strcmp0 (snapshot, folder) == 0;
    }

  if (active)
    subtitle = g_strdup (text != NULL ? text : "");
  else if (error != NULL)
    subtitle = g_strdup (error);
  else if (text != NULL)
    subtitle = g_strdup (text);
  else if (in_use)
    subtitle = g_strdup (_("Downloaded, and in use"));
  else if (partial > 0)
    {
      g_autofree char *size = g_format_size (partial);
      /* Translators: %s is an amount of data, e.g. "3.1 GB" */
      subtitle = g_strdup_printf (_("An unfinished download is kept (%s so far): Resume continues it."), size);
    }
  else
    {
      g_autofree char *size = g_format_size (FA_MODEL_REVISION_BYTES);
      /* Translators: %s is the size of the model, e.g. "28.9 GB" */
      subtitle = g_strdup_printf (_("%s, into the Hugging Face cache"), size);
    }
  adw_action_row_set_subtitle (self->download_row, subtitle);

  gtk_widget_set_visible (GTK_WIDGET (self->download_error_icon), !active && error != NULL);
  gtk_widget_set_visible (GTK_WIDGET (self->download_progress), active);
  gtk_progress_bar_set_fraction (self->download_progress, fa_application_get_download_fraction (app));
  gtk_widget_set_visible (GTK_WIDGET (self->download_cancel_button), active);
  gtk_widget_set_visible (GTK_WIDGET (self->download_button), !active && !in_use);
  gtk_button_set_label (self->download_button, partial > 0 ? _("_Resume") : _("_Download"));
}

static void
download_clicked (GtkButton           *button,
                  FaPreferencesWindow *self)
{
  fa_application_start_model_download (self->app);
}

static void
download_cancel_clicked (GtkButton           *button,
                         FaPreferencesWindow *self)
{
  fa_application_cancel_model_download (self->app);
}

/* Held by the application for this session, never written anywhere. */
static void
token_changed (GtkEditable         *editable,
               FaPreferencesWindow *self)
{
  fa_application_set_download_token (self->app, gtk_editable_get_text (editable));
}

static void
init_download (FaPreferencesWindow *self)
{
  static const char *const signals[] = {
    "notify::download-active", "notify::download-fraction", "notify::download-text",
    "notify::download-error", "notify::download-partial", "notify::model-ready",
  };
  g_autofree char *cache = fa_hf_hub_cache_dir ();
  g_autofree char *endpoint = fa_hf_endpoint ();
  /* Translators: %s is a folder */
  g_autofree char *description = g_strdup_printf (_("Into the Hugging Face cache (%s), shared with diffusers. "
                                                    "A token is needed only for gated or private mirrors; one "
                                                    "typed here is kept for this session only, never saved. "
                                                    "Without one, HF_TOKEN or the huggingface-cli login is "
                                                    "used."), cache);
  GtkEditable *delegate = gtk_editable_get_delegate (GTK_EDITABLE (self->hub_endpoint_row));
  const char *token;

  if (self->app == NULL)
    {
      /* outside FlowAnchor Studio (a window built alone): nobody to download */
      gtk_widget_set_visible (GTK_WIDGET (self->download_group), FALSE);
      return;
    }
  adw_preferences_group_set_description (self->download_group, description);
  /* what an empty address means */
  if (GTK_IS_TEXT (delegate))
    gtk_text_set_placeholder_text (GTK_TEXT (delegate), endpoint);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->hub_endpoint_row), endpoint);
  g_settings_bind (self->settings, "hub-endpoint", self->hub_endpoint_row, "text", G_SETTINGS_BIND_DEFAULT);

  token = fa_application_get_download_token (self->app);
  gtk_editable_set_text (GTK_EDITABLE (self->hub_token_row), token != NULL ? token : "");
  g_signal_connect (self->hub_token_row, "changed", G_CALLBACK (token_changed), self);

  g_signal_connect (self->download_button, "clicked", G_CALLBACK (download_clicked), self);
  g_signal_connect (self->download_cancel_button, "clicked", G_CALLBACK (download_cancel_clicked), self);
  for (guint i = 0; i < G_N_ELEMENTS (signals); i++)
    g_signal_connect_object (self->app, signals[i], G_CALLBACK (update_download_row), self, G_CONNECT_SWAPPED);
  update_download_row (self);
}

/* ---- ComfyUI folders ---- */

static void
comfyui_remove_clicked (GtkButton           *button,
                        FaPreferencesWindow *self)
{
  const char *folder = g_object_get_data (G_OBJECT (button), "fa-folder");
  g_auto (GStrv) folders = g_settings_get_strv (self->settings, "comfyui-folders");
  g_autoptr (GStrvBuilder) kept = g_strv_builder_new ();

  for (guint i = 0; folders[i] != NULL; i++)
    if (g_strcmp0 (folders[i], folder) != 0)
      g_strv_builder_add (kept, folders[i]);
  g_auto (GStrv) result = g_strv_builder_end (kept);
  g_settings_set_strv (self->settings, "comfyui-folders", (const char *const *) result);
}

static void
update_comfyui_rows (FaPreferencesWindow *self)
{
  g_auto (GStrv) folders = g_settings_get_strv (self->settings, "comfyui-folders");

  for (guint i = 0; i < self->comfyui_rows->len; i++)
    adw_preferences_group_remove (self->comfyui_group, g_ptr_array_index (self->comfyui_rows, i));
  g_ptr_array_set_size (self->comfyui_rows, 0);

  for (guint i = 0; folders[i] != NULL; i++)
    {
      GtkWidget *row = adw_action_row_new ();
      GtkWidget *remove = gtk_button_new_from_icon_name ("list-remove-symbolic");
      g_autofree char *name = g_path_get_basename (folders[i]);

      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), name);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), folders[i]);
      gtk_widget_set_valign (remove, GTK_ALIGN_CENTER);
      gtk_widget_add_css_class (remove, "flat");
      gtk_widget_set_tooltip_text (remove, _("Remove"));
      g_object_set_data_full (G_OBJECT (remove), "fa-folder", g_strdup (folders[i]), g_free);
      g_signal_connect (remove, "clicked", G_CALLBACK (comfyui_remove_clicked), self);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), remove);
      adw_preferences_group_add (self->comfyui_group, row);
      g_ptr_array_add (self->comfyui_rows, row);
    }
  gtk_widget_set_visible (self->comfyui_empty_row, folders[0] == NULL);
}

static void
add_comfyui_folder (FaPreferencesWindow *self,
                    const char          *folder)
{
  g_auto (GStrv) folders = g_settings_get_strv (self->settings, "comfyui-folders");
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();

  if (g_strv_contains ((const char *const *) folders, folder))
    return;
  g_strv_builder_addv (builder, (const char **) folders);
  g_strv_builder_add (builder, folder);
  g_auto (GStrv) result = g_strv_builder_end (builder);
  g_settings_set_strv (self->settings, "comfyui-folders", (const char *const *) result);
}

static void
settings_changed (GSettings           *settings,
                  const char          *key,
                  FaPreferencesWindow *self)
{
  for (int i = 0; i < N_PATHS; i++)
    if (g_str_equal (key, path_settings[i].key))
      update_path_row (self, i);
  if (is_model_key (key))
    queue_check (self);
  if (g_str_equal (key, "comfyui-folders"))
    update_comfyui_rows (self);
}

/* ---- choosing files and folders ---- */

static void
chooser_response (GtkNativeDialog     *dialog,
                  int                  response,
                  FaPreferencesWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;

      if (path != NULL && self->chooser_comfyui)
        add_comfyui_folder (self, path);
      else if (path != NULL)
        g_settings_set_string (self->settings, path_settings[self->chooser_path].key, path);
    }
  gtk_native_dialog_destroy (dialog);
  g_clear_object (&self->chooser);
}

static void
add_filter (GtkFileChooser *chooser,
            const char     *name,
            const char     *pattern)
{
  g_autoptr (GtkFileFilter) filter = gtk_file_filter_new ();

  gtk_file_filter_set_name (filter, name);
  gtk_file_filter_add_pattern (filter, pattern);
  gtk_file_chooser_add_filter (chooser, filter);
}

static void
close_chooser (FaPreferencesWindow *self)
{
  if (self->chooser != NULL)
    {
      gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (self->chooser));
      g_clear_object (&self->chooser);
    }
}

static void
comfyui_add_clicked (GtkButton           *button,
                     FaPreferencesWindow *self)
{
  close_chooser (self);
  self->chooser = gtk_file_chooser_native_new (_("Choose a ComfyUI Folder"), GTK_WINDOW (self),
                                               GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, _("_Add"), _("_Cancel"));
  self->chooser_comfyui = TRUE;
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (self->chooser), TRUE);
  g_signal_connect (self->chooser, "response", G_CALLBACK (chooser_response), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (self->chooser));
}

static void
choose_clicked (GtkButton           *button,
                FaPreferencesWindow *self)
{
  PathSetting which = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (button), "fa-path-setting"));
  ChooseKind kind = path_settings[which].kind;
  g_autofree char *current = dup_setting (self->settings, path_settings[which].key);
  GtkFileChooser *chooser;

  close_chooser (self);

  self->chooser = gtk_file_chooser_native_new (_(path_settings[which].chooser_title), GTK_WINDOW (self),
                                               kind == CHOOSE_FOLDER ? GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER
                                                                     : GTK_FILE_CHOOSER_ACTION_OPEN,
                                               _("_Select"), _("_Cancel"));
  self->chooser_path = which;
  self->chooser_comfyui = FALSE;
  chooser = GTK_FILE_CHOOSER (self->chooser);
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (self->chooser), TRUE);

  if (kind == CHOOSE_CHECKPOINT)
    add_filter (chooser, _("Checkpoints (.safetensors)"), "*.safetensors");
  else if (kind == CHOOSE_TOKENIZER)
    add_filter (chooser, _("Tokenizers (tokenizer.json)"), "*.json");
  if (kind != CHOOSE_FOLDER)
    add_filter (chooser, _("All Files"), "*");

  /* start where the current choice is */
  if (current != NULL)
    {
      g_autoptr (GFile) file = g_file_new_for_path (current);
      g_autoptr (GFile) parent = g_file_get_parent (file);

      if (kind == CHOOSE_FOLDER || g_file_test (current, G_FILE_TEST_IS_DIR))
        gtk_file_chooser_set_current_folder (chooser, file, NULL);
      else if (parent != NULL)
        gtk_file_chooser_set_current_folder (chooser, parent, NULL);
    }

  g_signal_connect (self->chooser, "response", G_CALLBACK (chooser_response), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (self->chooser));
}

static void
clear_clicked (GtkButton           *button,
               FaPreferencesWindow *self)
{
  PathSetting which = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (button), "fa-path-setting"));

  g_settings_reset (self->settings, path_settings[which].key);
}

/* ---- the text encoder's device: "gpu"/"cpu" ↔ the combo row's index ---- */

static gboolean
device_get_mapping (GValue   *value,
                    GVariant *variant,
                    gpointer  user_data)
{
  g_value_set_uint (value, g_strcmp0 (g_variant_get_string (variant, NULL), "cpu") == 0 ? 1 : 0);
  return TRUE;
}

static GVariant *
device_set_mapping (const GValue       *value,
                    const GVariantType *expected_type,
                    gpointer            user_data)
{
  return g_variant_new_string (g_value_get_uint (value) == 1 ? "cpu" : "gpu");
}

/* ---- the object ---- */

FaPreferencesWindow *
fa_preferences_window_new (GtkWindow *parent)
{
  return g_object_new (FA_TYPE_PREFERENCES_WINDOW,
                       "transient-for", parent,
                       NULL);
}

const FaModelReport *
fa_preferences_window_get_report (FaPreferencesWindow *self)
{
  g_return_val_if_fail (FA_IS_PREFERENCES_WINDOW (self), NULL);

  return self->report;
}

gboolean
fa_preferences_window_get_checking (FaPreferencesWindow *self)
{
  g_return_val_if_fail (FA_IS_PREFERENCES_WINDOW (self), FALSE);

  return self->checking;
}

static void
fa_preferences_window_dispose (GObject *object)
{
  FaPreferencesWindow *self = FA_PREFERENCES_WINDOW (object);

  if (self->check_cancellable != NULL)
    g_cancellable_cancel (self->check_cancellable);
  g_clear_object (&self->check_cancellable);
  g_clear_handle_id (&self->check_source, g_source_remove);
  close_chooser (self);
  g_clear_object (&self->app);
  if (self->settings != NULL)
    g_signal_handlers_disconnect_by_func (self->settings, settings_changed, self);
  g_clear_object (&self->settings);

  G_OBJECT_CLASS (fa_preferences_window_parent_class)->dispose (object);
}

static void
fa_preferences_window_finalize (GObject *object)
{
  FaPreferencesWindow *self = FA_PREFERENCES_WINDOW (object);

  g_clear_pointer (&self->report, fa_model_report_free);
  g_clear_pointer (&self->comfyui_rows, g_ptr_array_unref);

  G_OBJECT_CLASS (fa_preferences_window_parent_class)->finalize (object);
}

static void
fa_preferences_window_get_property (GObject    *object,
                                    guint       prop_id,
                                    GValue     *value,
                                    GParamSpec *pspec)
{
  FaPreferencesWindow *self = FA_PREFERENCES_WINDOW (object);

  switch (prop_id)
    {
    case PROP_CHECKING:
      g_value_set_boolean (value, self->checking);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
fa_preferences_window_class_init (FaPreferencesWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = fa_preferences_window_dispose;
  object_class->finalize = fa_preferences_window_finalize;
  object_class->get_property = fa_preferences_window_get_property;

  properties[PROP_CHECKING] =
    g_param_spec_boolean ("checking", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/flowanchor/Studio/ui/fa-preferences-window.ui");
  gtk_widget_class_bind_template_child (widget_class, FaPreferencesWindow, check_spinner);
  gtk_widget_class_bind_template_child (widget_class, FaPreferencesWindow, text_encoder_device_row);
  gtk_widget_class_bind_template_child (widget_class, FaPreferencesWindow, vae_tiling_switch);
  gtk_widget_class_bind_template_child (widget_class, FaPreferencesWindow, cache_size_adjustment);
  gtk_widget_class_bind_template_child (widget_class, FaPreferencesWindow, download_group);
  gtk_widget_class_bind_template_child (widget_class, FaPreferencesWindow, download_row);
  gtk_widget_class_bind_template_child (widget_class, FaPreferencesWindow, download_error_icon);
  gtk_widget_class_bind_template_child (widget_class, FaPreferencesWindow, download_progress);
  gtk_widget_class_bind_template_child (widget_class, FaPreferencesWindow, download_button);
  gtk_widget_class_bind_template_child (widget_class, FaPreferencesWindow, download_cancel_button);
  gtk_widget_class_bind_template_child (widget_class, FaPreferencesWindow, hub_endpoint_row);
  gtk_widget_class_bind_template_child (widget_class, FaPreferencesWindow, hub_token_row);
  gtk_widget_class_bind_template_child (widget_class, FaPreferencesWindow, comfyui_group);
  gtk_widget_class_bind_template_child (widget_class, FaPreferencesWindow, comfyui_add_button);
  gtk_widget_class_bind_template_child (widget_class, FaPreferencesWindow, comfyui_empty_row);

  /* The tabled rows are looked up by name in init (and by the tests). */
  for (int i = 0; i < N_PATHS; i++)
    {
      static const char *const suffixes[] = { "_row", "_choose_button", "_clear_button" };
      for (guint k = 0; k < G_N_ELEMENTS (suffixes); k++)
        {
          g_autofree char *name = g_strconcat (path_settings[i].id, suffixes[k], NULL);
          gtk_widget_class_bind_template_child_full (widget_class, g_intern_string (name), FALSE, 0);
        }
    }
  for (int part = 0; part < FA_MODEL_N_PARTS; part++)
    {
      static const char *const suffixes[] = { "_status_row", "_status_icon" };
      for (guint k = 0; k < G_N_ELEMENTS (suffixes); k++)
        {
          g_autofree char *name = g_strconcat (status_ids[part], suffixes[k], NULL);
          gtk_widget_class_bind_template_child_full (widget_class, g_intern_string (name), FALSE, 0);
        }
    }
}

static gpointer
template_child (FaPreferencesWindow *self,
                const char          *id,
                const char          *suffix)
{
  g_autofree char *name = g_strconcat (id, suffix, NULL);
  GObject *child = gtk_widget_get_template_child (GTK_WIDGET (self), FA_TYPE_PREFERENCES_WINDOW, name);

  g_assert (child != NULL);
  return child;
}

static void
fa_preferences_window_init (FaPreferencesWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->settings = g_settings_new (FA_APP_ID);

  for (int i = 0; i < N_PATHS; i++)
    {
      GtkWidget *choose = template_child (self, path_settings[i].id, "_choose_button");
      GtkWidget *clear = template_child (self, path_settings[i].id, "_clear_button");

      self->path_rows[i] = template_child (self, path_settings[i].id, "_row");
      self->clear_buttons[i] = GTK_BUTTON (clear);
      /* paths are text, not markup */
      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (self->path_rows[i]), FALSE);
      g_object_set_data (G_OBJECT (choose), "fa-path-setting", GINT_TO_POINTER (i));
      g_object_set_data (G_OBJECT (clear), "fa-path-setting", GINT_TO_POINTER (i));
      g_signal_connect (choose, "clicked", G_CALLBACK (choose_clicked), self);
      g_signal_connect (clear, "clicked", G_CALLBACK (clear_clicked), self);
      update_path_row (self, i);
    }
  for (int part = 0; part < FA_MODEL_N_PARTS; part++)
    {
      self->status_rows[part] = template_child (self, status_ids[part], "_status_row");
      self->status_icons[part] = template_child (self, status_ids[part], "_status_icon");
      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (self->status_rows[part]), FALSE);
    }

  g_settings_bind_with_mapping (self->settings, "text-encoder-device",
                                self->text_encoder_device_row, "selected",
                                G_SETTINGS_BIND_DEFAULT,
                                device_get_mapping, device_set_mapping, NULL, NULL);
  g_settings_bind (self->settings, "vae-tiling", self->vae_tiling_switch, "active",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "embedding-cache-size-mb", self->cache_size_adjustment, "value",
                   G_SETTINGS_BIND_DEFAULT);

  GApplication *app = g_application_get_default ();
  if (app != NULL && FA_IS_APPLICATION (app))
    self->app = g_object_ref (FA_APPLICATION (app));
  init_download (self);

  self->comfyui_rows = g_ptr_array_new ();
  g_signal_connect (self->comfyui_add_button, "clicked", G_CALLBACK (comfyui_add_clicked), self);
  update_comfyui_rows (self);

  g_signal_connect (self->settings, "changed", G_CALLBACK (settings_changed), self);
  start_check (self);
}
