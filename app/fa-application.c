/* fa-application.c: the FlowAnchor Studio application.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "fa-application"

#include "config.h"

#include <math.h>
#include <string.h>

#include <glib/gi18n.h>

#include "fa-application-private.h"
#include "fa-backend.h"
#include "fa-model-check.h"
#include "fa-model-download.h"
#include "fa-model-find.h"
#include "fa-preferences-window.h"
#include "fa-prompt-cache.h"
#include "fa-window.h"

typedef struct _ModelLoad ModelLoad;
typedef struct _DownloadRun DownloadRun;

struct _FaApplication
{
  AdwApplication  parent_instance;

  FaBackend      *backend;
  char           *backend_description;
  char           *cuda_problem;      /* why CUDA is not used; NULL when it is or before the probe */
  char           *unused_gpu;        /* a GPU that FLOWANCHOR_BACKEND=cpu leaves unused */
  char           *screenshot_path;
  int             exit_status;
  guint           backend_probe_started : 1;
  guint           backend_probed : 1;

  /* the model, as the preferences name it */
  GSettings      *settings;
  guint           model_generation;  /* counts changes of the settings a load reads */
  guint           check_generation;  /* counts changes of where the model is */
  FaModelReport  *model_report;      /* the check of check_generation, or NULL while it runs */
  FaModelPaths    found_paths;       /* with nothing set up: the complete model fa_model_find found */
  GCancellable   *check_cancellable;
  guint           check_source;
  gboolean        model_ready;
  gboolean        model_missing;     /* the last check found no complete model */
  char           *model_problem;
  FaModel        *model;             /* loaded for model_generation, or NULL */
  ModelLoad      *model_load;        /* the load under way, or NULL */
  GPtrArray      *load_waiting;      /* GTask*: loads waiting for the backend probe */

  FaPromptCache  *prompt_cache;
  GPtrArray      *retired_prompt_caches; /* jobs may still borrow them */

  GtkWindow      *preferences;       /* weak */

  /* the download: one at a time, whoever started it */
  DownloadRun    *download;          /* the one running, or NULL */
  double          download_fraction;
  char           *download_text;
  char           *download_error;
  guint64         download_partial;  /* bytes of unfinished files in the cache */
  guint           partial_serial;
  char           *download_token;    /* typed in the preferences: this session only, never stored */
};

G_DEFINE_FINAL_TYPE (FaApplication, fa_application, ADW_TYPE_APPLICATION)

enum {
  PROP_0,
  PROP_BACKEND_DESCRIPTION,
  PROP_MODEL_READY,
  PROP_MODEL_PROBLEM,
  PROP_MODEL_MISSING,
  PROP_DOWNLOAD_ACTIVE,
  PROP_DOWNLOAD_FRACTION,
  PROP_DOWNLOAD_TEXT,
  PROP_DOWNLOAD_ERROR,
  PROP_DOWNLOAD_PARTIAL,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void start_waiting_loads (FaApplication *self);

FaApplication *
fa_application_new (void)
{
  return g_object_new (FA_TYPE_APPLICATION,
                       "application-id", FA_APP_ID,
                       "flags", G_APPLICATION_HANDLES_OPEN,
                       "resource-base-path", "/io/github/flowanchor/Studio",
                       NULL);
}

const char *
fa_application_get_backend_description (FaApplication *self)
{
  g_return_val_if_fail (FA_IS_APPLICATION (self), NULL);

  return self->backend_description;
}

FaBackend *
fa_application_get_backend (FaApplication *self)
{
  g_return_val_if_fail (FA_IS_APPLICATION (self), NULL);

  if (self->backend == NULL)
    self->backend = fa_backend_new_cpu ();
  return self->backend;
}

int
fa_application_get_exit_status (FaApplication *self)
{
  g_return_val_if_fail (FA_IS_APPLICATION (self), 1);

  return self->exit_status;
}

/* Choosing a backend may initialise CUDA, which can take seconds, so it
 * runs in a worker thread and nothing waits for it; until it is known,
 * work runs on the CPU backend. */
typedef struct
{
  FaBackend *backend;
  char      *cuda_problem; /* why CUDA is not used, or NULL */
  char      *unused_gpu;   /* a GPU there is but FLOWANCHOR_BACKEND=cpu leaves alone */
} ProbeResult;

static void
probe_result_free (gpointer data)
{
  ProbeResult *probe = data;

  g_clear_pointer (&probe->backend, fa_backend_unref);
  g_free (probe->cuda_problem);
  g_free (probe->unused_gpu);
  g_free (probe);
}

static void
probe_backend_thread (GTask        *task,
                      gpointer      source_object,
                      gpointer      task_data,
                      GCancellable *cancellable)
{
  ProbeResult *probe = g_new0 (ProbeResult, 1);

  probe->backend = fa_backend_new_default ();
  if (fa_backend_get_device (probe->backend) != FA_DEVICE_CUDA)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *name = NULL;
      guint64 total = 0;

      /* the doctor's question, for the sentence the app shows */
      if (fa_cuda_probe (0, &name, &total, &error))
        probe->unused_gpu = g_steal_pointer (&name);
      else
        probe->cuda_problem = g_strdup (error->message);
    }
  g_task_return_pointer (task, probe, probe_result_free);
}

static void
probe_backend_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  FaApplication *self = FA_APPLICATION (object);
  ProbeResult *probe;

  g_assert (G_IS_TASK (result));

  probe = g_task_propagate_pointer (G_TASK (result), NULL);
  g_free (self->backend_description);
  self->backend_description = g_strdup (fa_backend_get_description (probe->backend));
  g_free (self->cuda_problem);
  self->cuda_problem = g_steal_pointer (&probe->cuda_problem);
  g_free (self->unused_gpu);
  self->unused_gpu = g_steal_pointer (&probe->unused_gpu);
  self->backend_probed = TRUE;
  g_info ("Compute backend: %s", self->backend_description);
  /* A CPU backend handed out meanwhile may be in use by a job: keep it. */
  if (self->backend == NULL)
    self->backend = g_steal_pointer (&probe->backend);
  probe_result_free (probe);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BACKEND_DESCRIPTION]);
  start_waiting_loads (self);
}

static void
fa_application_probe_backend (FaApplication *self)
{
  g_autoptr (GTask) task = NULL;

  if (self->backend_probe_started)
    return;
  self->backend_probe_started = TRUE;

  task = g_task_new (self, NULL, probe_backend_cb, NULL);
  g_task_set_source_tag (task, fa_application_probe_backend);
  g_task_run_in_thread (task, probe_backend_thread);
}

static void fa_application_model_init (FaApplication *self);

static void
fa_application_startup (GApplication *app)
{
  FaApplication *self = FA_APPLICATION (app);

  G_APPLICATION_CLASS (fa_application_parent_class)->startup (app);

  g_set_application_name (_("FlowAnchor Studio"));
  gtk_window_set_default_icon_name (FA_APP_ID);

  _fa_application_actions_init (self);
  fa_application_model_init (self);
}

/* ---- --screenshot: open, paint a mask if there is none, render, quit ---- */

static void
screenshot_finish (FaApplication *self,
                   FaWindow      *window)
{
  g_autoptr (GError) error = NULL;

  if (!fa_window_save_screenshot (window, self->screenshot_path, &error))
    {
      g_printerr ("flowanchor-studio: %s\n", error->message);
      self->exit_status = 1;
    }
  else
    g_print ("screenshot written to %s\n", self->screenshot_path);
  g_application_quit (G_APPLICATION (self));
}

static gboolean
screenshot_after_draw (gpointer data)
{
  FaWindow *window = data;
  FaApplication *self = FA_APPLICATION (gtk_window_get_application (GTK_WINDOW (window)));

  screenshot_finish (self, window);
  return G_SOURCE_REMOVE;
}

/* A review picture needs a mask: where the opened file has none, one
 * brush stroke is painted on the first frame through the document, as
 * the pointer would. */
static void
screenshot_document_ready (FaWindow      *window,
                           GParamSpec    *pspec,
                           FaApplication *self)
{
  FaDocument *document = fa_window_get_document (window);

  if (document == NULL)
    return;
  g_signal_handlers_disconnect_by_func (window, screenshot_document_ready, self);

  if (fa_mask_set_list_keyframes (fa_document_get_masks (document), NULL) == 0)
    {
      int w = fa_document_get_width (document), h = fa_document_get_height (document);
      fa_document_set_current_frame (document, 0);
      fa_document_stroke_begin (document, 0, FALSE);
      for (int i = 0; i <= 24; i++)
        {
          double t = 2.0 * G_PI * i / 24.0;
          fa_document_stroke_add_point (document, w * (0.5 + 0.12 * cos (t)), h * (0.5 + 0.18 * sin (t)));
        }
      fa_document_stroke_end (document);
      fa_document_apply_box (document, 0, w * 0.42, h * 0.36, w * 0.58, h * 0.64, FALSE);
    }
  /* let the window lay out and draw the new state before it is rendered */
  g_timeout_add (500, screenshot_after_draw, window);
}

static gboolean
screenshot_check_error (gpointer data)
{
  FaWindow *window = data;
  FaApplication *self = FA_APPLICATION (gtk_window_get_application (GTK_WINDOW (window)));

  if (fa_window_get_document (window) != NULL)
    return G_SOURCE_REMOVE;
  if (fa_window_get_last_error (window) != NULL || !fa_window_get_busy (window))
    {
      g_printerr ("flowanchor-studio: cannot take the screenshot: %s\n",
                  fa_window_get_last_error (window) != NULL ? fa_window_get_last_error (window)
                                                            : "nothing was opened");
      self->exit_status = 1;
      g_application_quit (G_APPLICATION (self));
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static FaWindow *
window_for_open (FaApplication *self)
{
  GtkWindow *active = gtk_application_get_active_window (GTK_APPLICATION (self));

  /* reuse a window that shows nothing yet, as editors do */
  if (FA_IS_WINDOW (active) && fa_window_get_document (FA_WINDOW (active)) == NULL && !fa_window_get_busy (FA_WINDOW (active)))
    return FA_WINDOW (active);
  return fa_window_new (self);
}

static void
open_in_window (FaApplication *self,
                GFile         *file)
{
  FaWindow *window = window_for_open (self);

  gtk_window_present (GTK_WINDOW (window));
  if (self->screenshot_path != NULL)
    {
      g_signal_connect (window, "notify::document", G_CALLBACK (screenshot_document_ready), self);
      g_timeout_add (200, screenshot_check_error, window);
    }
  fa_window_open_file (window, file);
}

static void
fa_application_activate (GApplication *app)
{
  FaApplication *self = FA_APPLICATION (app);
  GtkWindow *window;

  fa_application_probe_backend (self);

  if (self->screenshot_path != NULL)
    {
      g_autofree char *sample = fa_window_find_sample_clip ();
      if (sample == NULL)
        {
          g_printerr ("flowanchor-studio: --screenshot without a FILE needs the sample clip, which is not installed\n");
          self->exit_status = 1;
          return;
        }
      g_autoptr (GFile) file = g_file_new_for_path (sample);
      open_in_window (self, file);
      return;
    }

  window = gtk_application_get_active_window (GTK_APPLICATION (self));
  if (window == NULL)
    window = GTK_WINDOW (fa_window_new (self));
  gtk_window_present (window);
}

static void
fa_application_open (GApplication  *app,
                     GFile        **files,
                     int            n_files,
                     const char    *hint)
{
  FaApplication *self = FA_APPLICATION (app);

  fa_application_probe_backend (self);
  for (int i = 0; i < n_files; i++)
    open_in_window (self, files[i]);
}

static int
fa_application_handle_local_options (GApplication *app,
                                     GVariantDict *options)
{
  FaApplication *self = FA_APPLICATION (app);
  const char *path = NULL;

  if (g_variant_dict_lookup (options, "screenshot", "^&ay", &path))
    {
      g_autoptr (GFile) file = g_file_new_for_commandline_arg (path);
      g_free (self->screenshot_path);
      self->screenshot_path = g_file_get_path (file);
      /* a screenshot run is its own instance, never handed to a running app */
      g_application_set_flags (app, g_application_get_flags (app) | G_APPLICATION_NON_UNIQUE);
    }
  return -1;
}

static void fa_application_model_dispose (FaApplication *self);

/* Quitting stops a download (what it fetched stays for the next one),
 * rather than leave a thread writing while the process ends. */
static void
fa_application_shutdown (GApplication *app)
{
  FaApplication *self = FA_APPLICATION (app);

  fa_application_cancel_model_download (self);

  G_APPLICATION_CLASS (fa_application_parent_class)->shutdown (app);
}

static void
fa_application_dispose (GObject *object)
{
  FaApplication *self = FA_APPLICATION (object);

  fa_application_model_dispose (self);

  G_OBJECT_CLASS (fa_application_parent_class)->dispose (object);
}

static void
fa_application_finalize (GObject *object)
{
  FaApplication *self = FA_APPLICATION (object);

  g_clear_pointer (&self->backend_description, g_free);
  g_clear_pointer (&self->cuda_problem, g_free);
  g_clear_pointer (&self->unused_gpu, g_free);
  g_clear_pointer (&self->model_report, fa_model_report_free);
  fa_model_paths_clear (&self->found_paths);
  g_clear_pointer (&self->model_problem, g_free);
  g_clear_pointer (&self->model, fa_model_unref);
  g_clear_pointer (&self->load_waiting, g_ptr_array_unref);
  g_clear_pointer (&self->prompt_cache, fa_prompt_cache_free);
  g_clear_pointer (&self->retired_prompt_caches, g_ptr_array_unref);
  g_clear_pointer (&self->screenshot_path, g_free);
  g_clear_pointer (&self->download_text, g_free);
  g_clear_pointer (&self->download_error, g_free);
  if (self->download_token != NULL)
    memset (self->download_token, 0, strlen (self->download_token));
  g_clear_pointer (&self->download_token, g_free);
  g_clear_pointer (&self->backend, fa_backend_unref);

  G_OBJECT_CLASS (fa_application_parent_class)->finalize (object);
}

static void
fa_application_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  FaApplication *self = FA_APPLICATION (object);

  switch (prop_id)
    {
    case PROP_BACKEND_DESCRIPTION:
      g_value_set_string (value, self->backend_description);
      break;

    case PROP_MODEL_READY:
      g_value_set_boolean (value, self->model_ready);
      break;

    case PROP_MODEL_PROBLEM:
      g_value_take_string (value, fa_application_dup_model_problem (self));
      break;

    case PROP_MODEL_MISSING:
      g_value_set_boolean (value, self->model_missing);
      break;

    case PROP_DOWNLOAD_ACTIVE:
      g_value_set_boolean (value, self->download != NULL);
      break;

    case PROP_DOWNLOAD_FRACTION:
      g_value_set_double (value, self->download_fraction);
      break;

    case PROP_DOWNLOAD_TEXT:
      g_value_set_string (value, self->download_text);
      break;

    case PROP_DOWNLOAD_ERROR:
      g_value_set_string (value, self->download_error);
      break;

    case PROP_DOWNLOAD_PARTIAL:
      g_value_set_uint64 (value, self->download_partial);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
fa_application_class_init (FaApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->dispose = fa_application_dispose;
  object_class->finalize = fa_application_finalize;
  object_class->get_property = fa_application_get_property;

  app_class->startup = fa_application_startup;
  app_class->shutdown = fa_application_shutdown;
  app_class->activate = fa_application_activate;
  app_class->open = fa_application_open;
  app_class->handle_local_options = fa_application_handle_local_options;

  /* what the probe found, set once it has finished: a GPU problem may
   * appear or go then */
  properties[PROP_BACKEND_DESCRIPTION] =
    g_param_spec_string ("backend-description", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MODEL_READY] =
    g_param_spec_boolean ("model-ready", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MODEL_PROBLEM] =
    g_param_spec_string ("model-problem", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MODEL_MISSING] =
    g_param_spec_boolean ("model-missing", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_DOWNLOAD_ACTIVE] =
    g_param_spec_boolean ("download-active", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_DOWNLOAD_FRACTION] =
    g_param_spec_double ("download-fraction", NULL, NULL, 0.0, 1.0, 0.0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_DOWNLOAD_TEXT] =
    g_param_spec_string ("download-text", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_DOWNLOAD_ERROR] =
    g_param_spec_string ("download-error", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_DOWNLOAD_PARTIAL] =
    g_param_spec_uint64 ("download-partial", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static const GOptionEntry option_entries[] = {
  { "screenshot", 0, 0, G_OPTION_ARG_FILENAME, NULL,
    N_("Open FILE (or the sample clip), render the window to a PNG and quit"), N_("PNG") },
  { NULL }
};

static void
fa_application_init (FaApplication *self)
{
  g_application_add_main_option_entries (G_APPLICATION (self), option_entries);
  g_application_set_option_context_parameter_string (G_APPLICATION (self), _("[FILE]"));
}

/* ---- the model, as the preferences name it ---- */

/* The settings that say where the model is; the device the text encoder
 * runs on changes what a load gives, not what a check finds. */
static const char *const model_path_keys[] = {
  "model-folder", "model-transformer-file", "model-text-encoder-file", "model-tokenizer-path",
  "model-vae-file",
};

static gboolean
is_model_path_key (const char *key)
{
  for (guint i = 0; i < G_N_ELEMENTS (model_path_keys); i++)
    if (g_str_equal (key, model_path_keys[i]))
      return TRUE;
  return FALSE;
}

static gboolean
model_paths_are_empty (const FaModelPaths *paths)
{
  return paths->folder == NULL && paths->transformer == NULL && paths->text_encoder == NULL &&
         paths->tokenizer == NULL && paths->vae == NULL;
}

static const char *
part_display_name (FaModelPart part)
{
  switch (part)
    {
    case FA_MODEL_PART_TRANSFORMER:
      return _("transformer");
    case FA_MODEL_PART_TEXT_ENCODER:
      return _("text encoder");
    case FA_MODEL_PART_TOKENIZER:
      return _("tokenizer");
    case FA_MODEL_PART_VAE:
      return _("VAE");
    case FA_MODEL_N_PARTS:
    default:
      return "?";
    }
}

static void
set_model_state (FaApplication *self,
                 gboolean       ready,
                 char          *problem)
{
  gboolean ready_changed = ready != self->model_ready;
  gboolean problem_changed = g_strcmp0 (problem, self->model_problem) != 0;

  g_free (self->model_problem);
  self->model_problem = problem;
  self->model_ready = ready;
  if (problem_changed)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODEL_PROBLEM]);
  if (ready_changed)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODEL_READY]);
}

static void set_download_state (FaApplication *self, double fraction, char *text, char *error);

static void
set_model_missing (FaApplication *self,
                   gboolean       missing)
{
  if (self->model_missing == missing)
    return;
  self->model_missing = missing;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODEL_MISSING]);
}

static void
set_model_report (FaApplication *self,
                  FaModelReport *report)
{
  g_clear_pointer (&self->model_report, fa_model_report_free);
  self->model_report = report;
  set_model_missing (self, !report->complete);
  if (report->complete)
    {
      /* what the last download said is no longer the news once there is a model */
      if (self->download == NULL)
        set_download_state (self, self->download_fraction, NULL, NULL);
      set_model_state (self, TRUE, NULL);
      return;
    }

  g_autoptr (GString) missing = g_string_new (NULL);
  for (int part = 0; part < FA_MODEL_N_PARTS; part++)
    if (!report->parts[part].found)
      g_string_append_printf (missing, "%s%s: %s", missing->len > 0 ? "; " : "",
                              part_display_name (part), report->parts[part].problem);
  /* Translators: %s lists the missing parts and what is wrong with each */
  set_model_state (self, FALSE, g_strdup_printf (_("The model set up in Preferences is incomplete "
                                                   "(%s). Choose the missing parts in Preferences."),
                                                 missing->str));
}

typedef struct
{
  FaModelPaths paths;
  guint        generation;
  gboolean     find;           /* nothing set up: look where people keep the model */
  char       **comfyui_roots;  /* where to look besides the hub cache */
} CheckData;

static void
copy_model_paths (FaModelPaths *to, const FaModelPaths *from)
{
  fa_model_paths_clear (to);
  to->folder = g_strdup (from->folder);
  to->transformer = g_strdup (from->transformer);
  to->text_encoder = g_strdup (from->text_encoder);
  to->tokenizer = g_strdup (from->tokenizer);
  to->vae = g_strdup (from->vae);
}

static void
check_data_free (gpointer data)
{
  CheckData *check = data;

  fa_model_paths_clear (&check->paths);
  g_strfreev (check->comfyui_roots);
  g_free (check);
}

static void
model_check_thread (GTask        *task,
                    gpointer      source_object,
                    gpointer      task_data,
                    GCancellable *cancellable)
{
  CheckData *check = task_data;

  if (check->find)
    {
      g_autoptr (GPtrArray) found = fa_model_find (NULL, (const char *const *) check->comfyui_roots,
                                                   cancellable);
      FaModelCandidate *first = found->len > 0 ? g_ptr_array_index (found, 0) : NULL;

      if (first == NULL || !first->report->complete)
        {
          g_task_return_pointer (task, NULL, NULL);
          return;
        }
      g_debug ("using the model found in %s", first->description);
      copy_model_paths (&check->paths, &first->paths);
      g_task_return_pointer (task, g_steal_pointer (&first->report), (GDestroyNotify) fa_model_report_free);
      return;
    }
  g_task_return_pointer (task, fa_model_check (&check->paths, cancellable),
                         (GDestroyNotify) fa_model_report_free);
}

static void
model_check_done (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  FaApplication *self = FA_APPLICATION (object);
  CheckData *check = g_task_get_task_data (G_TASK (result));
  FaModelReport *report = g_task_propagate_pointer (G_TASK (result), NULL);

  /* the settings changed since: a newer check will answer */
  if (check->generation != self->check_generation)
    {
      g_clear_pointer (&report, fa_model_report_free);
      return;
    }
  if (check->find)
    {
      if (report == NULL)
        {
          g_autofree char *hub = fa_hf_hub_cache_dir ();
          gboolean comfyui = check->comfyui_roots != NULL && check->comfyui_roots[0] != NULL;

          set_model_missing (self, TRUE);
          set_model_state (self, FALSE,
                           comfyui
                           /* Translators: %s is the Hugging Face cache folder */
                           ? g_strdup_printf (_("No model is set up, and none was found in the Hugging Face "
                                                "cache (%s) or the ComfyUI folders: download it, or choose "
                                                "the Wan2.1 folder in Preferences."), hub)
                           /* Translators: %s is the Hugging Face cache folder */
                           : g_strdup_printf (_("No model is set up, and none was found in the Hugging Face "
                                                "cache (%s): download it, or choose the Wan2.1 folder in "
                                                "Preferences."), hub));
          return;
        }
      copy_model_paths (&self->found_paths, &check->paths);
    }
  g_autofree char *text = fa_model_report_to_string (report);
  g_debug ("model check:\n%s", text);
  set_model_report (self, report);
}

static void start_partial_scan (FaApplication *self);

static gboolean
start_model_check (gpointer data)
{
  FaApplication *self = data;
  CheckData *check = g_new0 (CheckData, 1);

  self->check_source = 0;
  if (self->check_cancellable != NULL)
    g_cancellable_cancel (self->check_cancellable);
  g_clear_object (&self->check_cancellable);

  fa_model_paths_init_from_settings (&check->paths, self->settings);
  check->generation = self->check_generation;
  fa_model_paths_clear (&self->found_paths);
  check->find = model_paths_are_empty (&check->paths);
  if (check->find)
    check->comfyui_roots = g_settings_get_strv (self->settings, "comfyui-folders");

  self->check_cancellable = g_cancellable_new ();
  g_autoptr (GTask) task = g_task_new (self, self->check_cancellable, model_check_done, NULL);
  g_task_set_source_tag (task, start_model_check);
  /* the report comes back even when cancelled: model_check_done drops it */
  g_task_set_check_cancellable (task, FALSE);
  g_task_set_task_data (task, check, check_data_free);
  g_task_run_in_thread (task, model_check_thread);
  /* where the model is changed: so may what an earlier download left */
  start_partial_scan (self);
  return G_SOURCE_REMOVE;
}

/* Several keys may change at once (a reset, a delayed apply): one check
 * for all. The state turns "not ready" at once, so that nobody takes the
 * previous answer for the new settings. */
static void
queue_model_check (FaApplication *self)
{
  g_clear_pointer (&self->model_report, fa_model_report_free);
  set_model_missing (self, FALSE);
  set_model_state (self, FALSE, g_strdup (_("The model is being checked…")));
  if (self->check_source == 0)
    self->check_source = g_idle_add (start_model_check, self);
}

static void
retire_prompt_cache (FaApplication *self)
{
  if (self->prompt_cache != NULL)
    g_ptr_array_add (self->retired_prompt_caches, g_steal_pointer (&self->prompt_cache));
}

/* The model may be elsewhere, or other files: a new check, and the next
 * load reads afresh (jobs keep their reference to the old model). */
static void
model_location_changed (FaApplication *self)
{
  self->model_generation++;
  g_clear_pointer (&self->model, fa_model_unref);
  self->check_generation++;
  queue_model_check (self);
}

static void
settings_changed (GSettings     *settings,
                  const char    *key,
                  FaApplication *self)
{
  /* the ComfyUI folders count when nothing is set up, which a check finds out */
  if (is_model_path_key (key) || g_str_equal (key, "comfyui-folders"))
    model_location_changed (self);
  else if (g_str_equal (key, "text-encoder-device"))
    {
      /* jobs keep their reference; the next load reads the new setting */
      self->model_generation++;
      g_clear_pointer (&self->model, fa_model_unref);
    }
  else if (g_str_has_prefix (key, "embedding-cache-"))
    retire_prompt_cache (self);
}

/* ---- downloading the model: one download, whoever asked for it ---- */

/* Shared by the engine's progress calls and its finish callback; the
 * application lets go of it (app = NULL) when it is disposed, so that a
 * late call finds nobody to tell. */
struct _DownloadRun
{
  FaApplication *app;
  GCancellable  *cancellable;
  char          *endpoint;     /* kept for the engine's options */
  char          *token;
};

static void
download_run_clear (gpointer data)
{
  DownloadRun *run = data;

  g_clear_object (&run->cancellable);
  g_free (run->endpoint);
  if (run->token != NULL)
    memset (run->token, 0, strlen (run->token));
  g_free (run->token);
}

static void
download_run_unref (gpointer data)
{
  g_atomic_rc_box_release_full (data, download_run_clear);
}

static void
update_download_actions (FaApplication *self)
{
  GAction *download = g_action_map_lookup_action (G_ACTION_MAP (self), "download-model");
  GAction *cancel = g_action_map_lookup_action (G_ACTION_MAP (self), "cancel-model-download");

  if (download != NULL)
    g_simple_action_set_enabled (G_SIMPLE_ACTION (download), self->download == NULL);
  if (cancel != NULL)
    g_simple_action_set_enabled (G_SIMPLE_ACTION (cancel), self->download != NULL);
}

/* Takes @text and @error. Notifies only what changed. */
static void
set_download_state (FaApplication *self,
                    double         fraction,
                    char          *text,
                    char          *error)
{
  gboolean text_changed = g_strcmp0 (text, self->download_text) != 0;
  gboolean error_changed = g_strcmp0 (error, self->download_error) != 0;
  gboolean fraction_changed = fraction != self->download_fraction;

  g_free (self->download_text);
  self->download_text = text;
  g_free (self->download_error);
  self->download_error = error;
  self->download_fraction = fraction;
  if (fraction_changed)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DOWNLOAD_FRACTION]);
  if (text_changed)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DOWNLOAD_TEXT]);
  if (error_changed)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DOWNLOAD_ERROR]);
}

static char *
format_time_left (double seconds)
{
  if (seconds < 60.0)
    return g_strdup (_("less than a minute left"));
  if (seconds < 100.0 * 60.0)
    {
      int minutes = (int) ceil (seconds / 60.0);
      /* Translators: the time a download still needs */
      return g_strdup_printf (ngettext ("about %d minute left", "about %d minutes left", minutes), minutes);
    }
  int hours = (int) floor (seconds / 3600.0 + 0.5);
  /* Translators: the time a download still needs */
  return g_strdup_printf (ngettext ("about %d hour left", "about %d hours left", hours), hours);
}

/* "1.2 GB of 28.9 GB — 45.3 MB/s — about 9 minutes left", or the stage. */
static char *
download_progress_text (const FaModelDownloadProgress *progress)
{
  if (progress->stage == FA_MODEL_DOWNLOAD_CHECKING || progress->total == 0)
    return g_strdup (_("Checking the cache…"));
  if (progress->stage == FA_MODEL_DOWNLOAD_VERIFYING)
    return g_strdup (_("Verifying…"));

  g_autofree char *done = g_format_size (progress->done);
  g_autofree char *total = g_format_size (progress->total);
  /* Translators: bytes downloaded of the model's size, e.g. "1.2 GB of 28.9 GB" */
  g_autofree char *sizes = g_strdup_printf (_("%s of %s"), done, total);
  if (progress->stage != FA_MODEL_DOWNLOAD_FETCHING || progress->bytes_per_second <= 0.0)
    return g_steal_pointer (&sizes);

  g_autofree char *speed = g_format_size ((guint64) progress->bytes_per_second);
  /* Translators: a download rate, e.g. "45.3 MB/s" */
  g_autofree char *rate = g_strdup_printf (_("%s/s"), speed);
  if (progress->seconds_left < 0.0)
    return g_strjoin (" — ", sizes, rate, NULL);
  g_autofree char *left = format_time_left (progress->seconds_left);
  return g_strjoin (" — ", sizes, rate, left, NULL);
}

static void
download_progress (const FaModelDownloadProgress *progress,
                   gpointer                       user_data)
{
  DownloadRun *run = user_data;
  FaApplication *self = run->app;

  if (self == NULL || self->download != run)
    return;
  double fraction = progress->total > 0 ? CLAMP ((double) progress->done / (double) progress->total, 0.0, 1.0)
                                        : 0.0;
  set_download_state (self, fraction, download_progress_text (progress), NULL);
}

static gboolean
is_network_error (const GError *error)
{
  static const GIOErrorEnum network_codes[] = {
    G_IO_ERROR_HOST_NOT_FOUND, G_IO_ERROR_HOST_UNREACHABLE, G_IO_ERROR_NETWORK_UNREACHABLE,
    G_IO_ERROR_CONNECTION_REFUSED, G_IO_ERROR_TIMED_OUT, G_IO_ERROR_CONNECTION_CLOSED,
    G_IO_ERROR_NOT_CONNECTED, G_IO_ERROR_PROXY_FAILED, G_IO_ERROR_PROXY_AUTH_FAILED,
    G_IO_ERROR_PROXY_NEED_AUTH, G_IO_ERROR_PROXY_NOT_ALLOWED,
  };

  if (error->domain == G_RESOLVER_ERROR || error->domain == G_TLS_ERROR)
    return TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (network_codes); i++)
    if (g_error_matches (error, G_IO_ERROR, network_codes[i]))
      return TRUE;
  return FALSE;
}

/* What the user can do about @error, then the engine's words (which name
 * the file or the address). */
static char *
download_error_text (const GError *error)
{
  const char *advice;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE))
    advice = _("There is not enough free disk space for the model");
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED))
    advice = _("Access was refused: the hub may need an access token (Preferences, Model), or the cache "
               "folder cannot be written");
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    advice = _("The model was not found on the hub: check the hub address in Preferences");
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_BUSY))
    advice = _("Another program is downloading the model into the same cache");
  else if (is_network_error (error))
    advice = _("The hub cannot be reached: check the network connection and the hub address");
  else
    advice = _("The download failed");
  /* Translators: advice, then the details (in English, from the engine) */
  return g_strdup_printf (_("%s. %s"), advice, error->message);
}

/* ---- what an earlier download left unfinished ---- */

typedef struct
{
  guint   serial;
  guint64 bytes;
} PartialScan;

static void
partial_scan_thread (GTask        *task,
                     gpointer      source_object,
                     gpointer      task_data,
                     GCancellable *cancellable)
{
  PartialScan *scan = task_data;
  guint n_files = 0;

  if (!fa_model_download_find_partial (NULL, NULL, &n_files, &scan->bytes))
    scan->bytes = 0;
  g_task_return_boolean (task, TRUE);
}

static void
set_download_partial (FaApplication *self,
                      guint64        bytes)
{
  if (self->download_partial == bytes)
    return;
  self->download_partial = bytes;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DOWNLOAD_PARTIAL]);
}

static void
partial_scan_done (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  FaApplication *self = FA_APPLICATION (object);
  PartialScan *scan = g_task_get_task_data (G_TASK (result));

  /* a running download makes its own files; a newer scan answers later */
  if (scan->serial == self->partial_serial && self->download == NULL)
    set_download_partial (self, scan->bytes);
}

/* Reading a folder of the cache, which may be on a slow disk: on a worker. */
static void
start_partial_scan (FaApplication *self)
{
  PartialScan *scan = g_new0 (PartialScan, 1);
  g_autoptr (GTask) task = g_task_new (self, NULL, partial_scan_done, NULL);

  scan->serial = ++self->partial_serial;
  g_task_set_source_tag (task, start_partial_scan);
  g_task_set_task_data (task, scan, g_free);
  g_task_run_in_thread (task, partial_scan_thread);
}

/* ---- starting and ending ---- */

/* The snapshot becomes the model: the folder, and none of the single
 * files that would override its parts. The check runs even when the
 * folder was already the snapshot (half there before). */
static void
use_downloaded_model (FaApplication *self,
                      const char    *snapshot)
{
  g_settings_set_string (self->settings, "model-folder", snapshot);
  for (guint i = 0; i < G_N_ELEMENTS (model_path_keys); i++)
    if (!g_str_equal (model_path_keys[i], "model-folder"))
      g_settings_reset (self->settings, model_path_keys[i]);
  /* the changes queue one check between them; this one covers no change */
  model_location_changed (self);
}

static void
download_done (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  DownloadRun *run = user_data;
  FaApplication *self = run->app;
  g_autoptr (GError) error = NULL;
  g_autofree char *snapshot = fa_model_download_finish (result, &error);

  if (self != NULL && self->download == run)
    {
      self->download = NULL;
      if (snapshot != NULL)
        {
          g_info ("model downloaded to %s", snapshot);
          set_download_state (self, 1.0, NULL, NULL);
          use_downloaded_model (self, snapshot);
        }
      else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        set_download_state (self, self->download_fraction,
                            g_strdup (_("Cancelled. What was downloaded is kept, and the next download resumes "
                                      "from there.")),
                            NULL);
      else
        {
          g_message ("the model download failed: %s", error->message);
          set_download_state (self, self->download_fraction, NULL, download_error_text (error));
        }
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DOWNLOAD_ACTIVE]);
      update_download_actions (self);
      start_partial_scan (self);
    }
  download_run_unref (run);
}

/* The hub address of the setting, tidied; NULL for the default. */
static char *
dup_hub_endpoint (GSettings *settings)
{
  g_autofree char *value = g_settings_get_string (settings, "hub-endpoint");

  g_strstrip (value);
  for (gsize n = strlen (value); n > 0 && value[n - 1] == '/'; n--)
    value[n - 1] = '\0';
  return *value != '\0' ? g_steal_pointer (&value) : NULL;
}

void
fa_application_start_model_download (FaApplication *self)
{
  g_return_if_fail (FA_IS_APPLICATION (self));

  fa_application_model_init (self);
  if (self->download != NULL)
    return;

  DownloadRun *run = g_atomic_rc_box_new0 (DownloadRun);
  run->app = self;
  run->cancellable = g_cancellable_new ();
  run->endpoint = dup_hub_endpoint (self->settings);
  run->token = g_strdup (self->download_token);

  FaModelDownloadOptions options = {
    .endpoint = run->endpoint,
    .token = run->token,
  };

  self->download = run;
  /* the partial files are now the download's own progress */
  self->partial_serial++;
  set_download_state (self, 0.0, g_strdup (_("Checking the cache…")), NULL);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DOWNLOAD_ACTIVE]);
  update_download_actions (self);
  g_info ("downloading %s at %s from %s", FA_MODEL_REPO_ID, FA_MODEL_REVISION,
          run->endpoint != NULL ? run->endpoint : "the default hub");
  fa_model_download_async (&options, download_progress, g_atomic_rc_box_acquire (run), download_run_unref,
                           run->cancellable, download_done, g_atomic_rc_box_acquire (run));
  /* the application's reference is self->download's */
  download_run_unref (run);
}

void
fa_application_cancel_model_download (FaApplication *self)
{
  g_return_if_fail (FA_IS_APPLICATION (self));

  if (self->download != NULL)
    g_cancellable_cancel (self->download->cancellable);
}

/* The application is going: the download stops, and its late calls find
 * nobody. */
static void
detach_download (FaApplication *self)
{
  if (self->download == NULL)
    return;
  g_cancellable_cancel (self->download->cancellable);
  self->download->app = NULL;
  self->download = NULL;
}

gboolean
fa_application_get_download_active (FaApplication *self)
{
  g_return_val_if_fail (FA_IS_APPLICATION (self), FALSE);

  return self->download != NULL;
}

double
fa_application_get_download_fraction (FaApplication *self)
{
  g_return_val_if_fail (FA_IS_APPLICATION (self), 0.0);

  return self->download_fraction;
}

const char *
fa_application_get_download_text (FaApplication *self)
{
  g_return_val_if_fail (FA_IS_APPLICATION (self), NULL);

  return self->download_text;
}

const char *
fa_application_get_download_error (FaApplication *self)
{
  g_return_val_if_fail (FA_IS_APPLICATION (self), NULL);

  return self->download_error;
}

guint64
fa_application_get_download_partial (FaApplication *self)
{
  g_return_val_if_fail (FA_IS_APPLICATION (self), 0);

  return self->download_partial;
}

void
fa_application_set_download_token (FaApplication *self,
                                   const char    *token)
{
  g_return_if_fail (FA_IS_APPLICATION (self));

  if (self->download_token != NULL)
    memset (self->download_token, 0, strlen (self->download_token));
  g_clear_pointer (&self->download_token, g_free);
  if (token != NULL && *token != '\0')
    self->download_token = g_strstrip (g_strdup (token));
}

const char *
fa_application_get_download_token (FaApplication *self)
{
  g_return_val_if_fail (FA_IS_APPLICATION (self), NULL);

  return self->download_token;
}

static void
download_model_activated (GSimpleAction *action,
                          GVariant      *parameter,
                          gpointer       user_data)
{
  fa_application_start_model_download (FA_APPLICATION (user_data));
}

static void
cancel_model_download_activated (GSimpleAction *action,
                                 GVariant      *parameter,
                                 gpointer       user_data)
{
  fa_application_cancel_model_download (FA_APPLICATION (user_data));
}

static const GActionEntry download_actions[] = {
  { "download-model", download_model_activated },
  { "cancel-model-download", cancel_model_download_activated },
};

static void
fa_application_model_init (FaApplication *self)
{
  if (self->settings != NULL)
    return;

  self->settings = g_settings_new (FA_APP_ID);
  self->load_waiting = g_ptr_array_new_with_free_func (g_object_unref);
  self->retired_prompt_caches = g_ptr_array_new_with_free_func ((GDestroyNotify) fa_prompt_cache_free);
  g_signal_connect (self->settings, "changed", G_CALLBACK (settings_changed), self);
  g_action_map_add_action_entries (G_ACTION_MAP (self), download_actions, G_N_ELEMENTS (download_actions), self);
  update_download_actions (self);
  queue_model_check (self);
}

static void
fa_application_model_dispose (FaApplication *self)
{
  detach_download (self);
  if (self->check_cancellable != NULL)
    g_cancellable_cancel (self->check_cancellable);
  g_clear_object (&self->check_cancellable);
  g_clear_handle_id (&self->check_source, g_source_remove);
  if (self->settings != NULL)
    g_signal_handlers_disconnect_by_func (self->settings, settings_changed, self);
  g_clear_object (&self->settings);
  g_clear_weak_pointer (&self->preferences);
}

char *
fa_application_dup_model_problem (FaApplication *self)
{
  g_return_val_if_fail (FA_IS_APPLICATION (self), NULL);

  fa_application_model_init (self);
  return g_strdup (self->model_problem);
}

gboolean
fa_application_get_model_ready (FaApplication *self)
{
  g_return_val_if_fail (FA_IS_APPLICATION (self), FALSE);

  return self->model_ready;
}

gboolean
fa_application_get_model_missing (FaApplication *self)
{
  g_return_val_if_fail (FA_IS_APPLICATION (self), FALSE);

  return self->model_missing;
}

char *
fa_application_dup_gpu_problem (FaApplication *self)
{
  g_return_val_if_fail (FA_IS_APPLICATION (self), NULL);

  /* unknown until the probe ends ("backend-description" tells when) */
  fa_application_probe_backend (self);
  if (!self->backend_probed)
    return NULL;
  FaBackend *backend = fa_application_get_backend (self);
  if (fa_backend_get_device (backend) == FA_DEVICE_CUDA)
    return NULL;

  if (self->unused_gpu != NULL)
    /* Translators: %s is the name of a GPU */
    return g_strdup_printf (_("Editing needs an NVIDIA GPU with CUDA; FLOWANCHOR_BACKEND=cpu keeps "
                              "this run off the %s. Small test models still run on the CPU."),
                            self->unused_gpu);
  /* Translators: %s is why no GPU can be used, in English (from the engine) */
  return g_strdup_printf (_("Editing needs an NVIDIA GPU with CUDA; this computer has none (%s). "
                            "Small test models still run on the CPU."),
                          self->cuda_problem != NULL ? self->cuda_problem
                                                     : "the work started on the CPU before the GPU was found");
}

/* ---- loading the model: once, shared by every caller until the
 * settings change ---- */

struct _ModelLoad
{
  guint      generation;
  GPtrArray *tasks; /* GTask*: the callers waiting for it */
};

typedef struct
{
  FaModelPaths paths;
  FaBackend   *backend;
  FaBackend   *text_backend; /* NULL: the same */
} LoadData;

static void
load_data_free (gpointer data)
{
  LoadData *load = data;

  fa_model_paths_clear (&load->paths);
  g_clear_pointer (&load->backend, fa_backend_unref);
  g_clear_pointer (&load->text_backend, fa_backend_unref);
  g_free (load);
}

static void
load_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  LoadData *load = task_data;
  GError *error = NULL;
  FaModel *model = fa_model_load_paths (&load->paths, load->backend, load->text_backend, &error);

  if (model == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, model, (GDestroyNotify) fa_model_unref);
}

/* A caller's task, which may give up (its cancellable) before the shared
 * load ends. */
typedef struct
{
  GSource *cancel_source;
} LoadRequest;

static void
load_request_free (gpointer data)
{
  LoadRequest *request = data;

  if (request->cancel_source != NULL)
    {
      g_source_destroy (request->cancel_source);
      g_source_unref (request->cancel_source);
    }
  g_free (request);
}

static void start_model_load (FaApplication *self, GPtrArray *tasks);

static void
model_load_done (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  FaApplication *self = FA_APPLICATION (object);
  ModelLoad *load = self->model_load;
  g_autoptr (GError) error = NULL;
  g_autoptr (FaModel) model = g_task_propagate_pointer (G_TASK (result), &error);

  self->model_load = NULL;
  if (load->generation != self->model_generation)
    {
      /* loaded for settings that are gone: load again for the waiting callers */
      g_clear_pointer (&model, fa_model_unref);
      start_model_load (self, load->tasks);
      g_free (load);
      return;
    }

  if (model != NULL)
    {
      g_clear_pointer (&self->model, fa_model_unref);
      self->model = fa_model_ref (model);
    }
  for (guint i = 0; i < load->tasks->len; i++)
    {
      GTask *task = load->tasks->pdata[i];
      if (model != NULL)
        g_task_return_pointer (task, fa_model_ref (model), (GDestroyNotify) fa_model_unref);
      else
        g_task_return_error (task, g_error_copy (error));
    }
  g_ptr_array_unref (load->tasks);
  g_free (load);
}

/* Takes @tasks (a GPtrArray of GTask*, owning them). */
static void
start_model_load (FaApplication *self,
                  GPtrArray     *tasks)
{
  LoadData *data = g_new0 (LoadData, 1);
  g_autofree char *device = g_settings_get_string (self->settings, "text-encoder-device");

  fa_model_paths_init_from_settings (&data->paths, self->settings);
  if (model_paths_are_empty (&data->paths))
    copy_model_paths (&data->paths, &self->found_paths);
  if (model_paths_are_empty (&data->paths))
    {
      load_data_free (data);
      for (guint i = 0; i < tasks->len; i++)
        g_task_return_new_error (tasks->pdata[i], G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s",
                                 _("No model is set up: choose the Wan2.1 folder in Preferences."));
      g_ptr_array_unref (tasks);
      return;
    }
  data->backend = fa_backend_ref (fa_application_get_backend (self));
  /* the CPU backend is the text encoder's place already when nothing else is used */
  if (g_strcmp0 (device, "cpu") == 0 && fa_backend_get_device (data->backend) != FA_DEVICE_CPU)
    data->text_backend = fa_backend_new_cpu ();

  self->model_load = g_new0 (ModelLoad, 1);
  self->model_load->generation = self->model_generation;
  self->model_load->tasks = tasks;

  g_autoptr (GTask) task = g_task_new (self, NULL, model_load_done, NULL);
  g_task_set_source_tag (task, start_model_load);
  g_task_set_task_data (task, data, load_data_free);
  g_task_run_in_thread (task, load_thread);
}

static void
enqueue_load (FaApplication *self,
              GTask         *task)
{
  if (self->model != NULL)
    {
      g_task_return_pointer (task, fa_model_ref (self->model), (GDestroyNotify) fa_model_unref);
      g_object_unref (task);
      return;
    }
  /* one load at a time: a stale one starts over for its callers when it ends */
  if (self->model_load != NULL)
    {
      g_ptr_array_add (self->model_load->tasks, task);
      return;
    }
  GPtrArray *tasks = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (tasks, task);
  start_model_load (self, tasks);
}

/* The probe has ended: the loads asked for before it can start. */
static void
start_waiting_loads (FaApplication *self)
{
  if (self->load_waiting == NULL)
    return;
  while (self->load_waiting->len > 0)
    enqueue_load (self, g_ptr_array_steal_index (self->load_waiting, 0));
}

static gboolean
load_request_cancelled (GCancellable *cancellable,
                        gpointer      data)
{
  GTask *task = data;
  FaApplication *self = g_task_get_source_object (task);
  GPtrArray *lists[] = { self->load_waiting, self->model_load != NULL ? self->model_load->tasks : NULL };

  for (guint l = 0; l < G_N_ELEMENTS (lists); l++)
    {
      guint index;
      if (lists[l] == NULL || !g_ptr_array_find (lists[l], task, &index))
        continue;
      g_ptr_array_steal_index (lists[l], index);
      g_task_return_error_if_cancelled (task);
      g_object_unref (task);
      break;
    }
  return G_SOURCE_REMOVE;
}

void
fa_application_load_model_async (FaApplication       *self,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_return_if_fail (FA_IS_APPLICATION (self));

  GTask *task = g_task_new (self, cancellable, callback, user_data);
  LoadRequest *request = g_new0 (LoadRequest, 1);

  g_task_set_source_tag (task, fa_application_load_model_async);
  g_task_set_task_data (task, request, load_request_free);
  fa_application_model_init (self);
  if (cancellable != NULL)
    {
      request->cancel_source = g_cancellable_source_new (cancellable);
      /* the task outlives its source: load_request_free destroys it */
      g_source_set_callback (request->cancel_source, G_SOURCE_FUNC (load_request_cancelled), task, NULL);
      g_source_attach (request->cancel_source, g_task_get_context (task));
    }

  /* The model goes on the backend the probe picks: wait for it, rather
   * than load a GPU's model on the CPU. */
  fa_application_probe_backend (self);
  if (!self->backend_probed)
    {
      g_ptr_array_add (self->load_waiting, task);
      return;
    }
  enqueue_load (self, task);
}

FaModel *
fa_application_load_model_finish (FaApplication  *self,
                                  GAsyncResult   *result,
                                  GError        **error)
{
  g_return_val_if_fail (FA_IS_APPLICATION (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

FaPromptCache *
fa_application_get_prompt_cache (FaApplication *self)
{
  g_return_val_if_fail (FA_IS_APPLICATION (self), NULL);

  fa_application_model_init (self);
  if (self->prompt_cache == NULL)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *folder = g_settings_get_string (self->settings, "embedding-cache-folder");
      guint64 size_mb = (guint64) MAX (g_settings_get_int (self->settings, "embedding-cache-size-mb"), 1);

      if (*folder == '\0')
        {
          g_free (folder);
          folder = g_build_filename (g_get_user_cache_dir (), "flowanchor", "prompts", NULL);
        }
      self->prompt_cache = fa_prompt_cache_new (folder, size_mb << 20, &error);
      if (self->prompt_cache == NULL)
        /* prompts are then encoded every time: slower, never wrong */
        g_message ("No prompt cache: %s", error->message);
    }
  return self->prompt_cache;
}

gboolean
fa_application_get_vae_tiling (FaApplication *self)
{
  g_return_val_if_fail (FA_IS_APPLICATION (self), FALSE);

  fa_application_model_init (self);
  return g_settings_get_boolean (self->settings, "vae-tiling");
}

void
fa_application_show_preferences (FaApplication *self,
                                 const char    *page)
{
  g_return_if_fail (FA_IS_APPLICATION (self));

  if (self->preferences == NULL)
    {
      GtkWindow *parent = gtk_application_get_active_window (GTK_APPLICATION (self));
      g_set_weak_pointer (&self->preferences, GTK_WINDOW (fa_preferences_window_new (parent)));
    }
  if (page != NULL)
    adw_preferences_window_set_visible_page_name (ADW_PREFERENCES_WINDOW (self->preferences), page);
  gtk_window_present (self->preferences);
}
