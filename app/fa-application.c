/* fa-application.c: the FlowAnchor Studio application.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "fa-application"

#include "config.h"

#include <math.h>

#include <glib/gi18n.h>

#include "fa-application-private.h"
#include "fa-backend.h"
#include "fa-window.h"

struct _FaApplication
{
  AdwApplication  parent_instance;

  FaBackend      *backend;
  char           *backend_description;
  char           *screenshot_path;
  int             exit_status;
  guint           backend_probe_started : 1;
};

G_DEFINE_FINAL_TYPE (FaApplication, fa_application, ADW_TYPE_APPLICATION)

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
static void
probe_backend_thread (GTask        *task,
                      gpointer      source_object,
                      gpointer      task_data,
                      GCancellable *cancellable)
{
  g_task_return_pointer (task, fa_backend_new_default (), (GDestroyNotify) fa_backend_unref);
}

static void
probe_backend_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  FaApplication *self = FA_APPLICATION (object);
  FaBackend *backend;

  g_assert (G_IS_TASK (result));

  backend = g_task_propagate_pointer (G_TASK (result), NULL);
  g_free (self->backend_description);
  self->backend_description = g_strdup (fa_backend_get_description (backend));
  g_info ("Compute backend: %s", self->backend_description);
  /* A CPU backend handed out meanwhile may be in use by a job: keep it. */
  if (self->backend == NULL)
    self->backend = backend;
  else
    fa_backend_unref (backend);
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

static void
fa_application_startup (GApplication *app)
{
  FaApplication *self = FA_APPLICATION (app);

  G_APPLICATION_CLASS (fa_application_parent_class)->startup (app);

  g_set_application_name (_("FlowAnchor Studio"));
  gtk_window_set_default_icon_name (FA_APP_ID);

  _fa_application_actions_init (self);
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

static void
fa_application_finalize (GObject *object)
{
  FaApplication *self = FA_APPLICATION (object);

  g_clear_pointer (&self->backend_description, g_free);
  g_clear_pointer (&self->screenshot_path, g_free);
  g_clear_pointer (&self->backend, fa_backend_unref);

  G_OBJECT_CLASS (fa_application_parent_class)->finalize (object);
}

static void
fa_application_class_init (FaApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->finalize = fa_application_finalize;

  app_class->startup = fa_application_startup;
  app_class->activate = fa_application_activate;
  app_class->open = fa_application_open;
  app_class->handle_local_options = fa_application_handle_local_options;
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

/* ---- placeholders for part 2's model handling ---- */
char *fa_application_dup_model_problem (FaApplication *self) { (void) self; return g_strdup ("No model is set up."); }
gboolean fa_application_get_model_ready (FaApplication *self) { (void) self; return FALSE; }
char *fa_application_dup_gpu_problem (FaApplication *self) { (void) self; return NULL; }
void fa_application_load_model_async (FaApplication *self, GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "not yet");
}
FaModel *fa_application_load_model_finish (FaApplication *self, GAsyncResult *result, GError **error)
{ (void) self; return g_task_propagate_pointer (G_TASK (result), error); }
FaPromptCache *fa_application_get_prompt_cache (FaApplication *self) { (void) self; return NULL; }
gboolean fa_application_get_vae_tiling (FaApplication *self) { (void) self; return FALSE; }
void fa_application_show_preferences (FaApplication *self, const char *page) { (void) self; (void) page; }
