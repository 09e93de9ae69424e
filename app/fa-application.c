/* fa-application.c: the FlowAnchor Studio application.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "fa-application"

#include "config.h"

#include <glib/gi18n.h>

#include "fa-application-private.h"
#include "fa-backend.h"
#include "fa-window.h"

struct _FaApplication
{
  AdwApplication  parent_instance;

  char           *backend_description;
  guint           backend_probe_started : 1;
};

G_DEFINE_FINAL_TYPE (FaApplication, fa_application, ADW_TYPE_APPLICATION)

FaApplication *
fa_application_new (void)
{
  return g_object_new (FA_TYPE_APPLICATION,
                       "application-id", FA_APP_ID,
                       "flags", G_APPLICATION_DEFAULT_FLAGS,
                       "resource-base-path", "/io/github/flowanchor/Studio",
                       NULL);
}

const char *
fa_application_get_backend_description (FaApplication *self)
{
  g_return_val_if_fail (FA_IS_APPLICATION (self), NULL);

  return self->backend_description;
}

/* Choosing a backend may initialise CUDA, which can take seconds, so it
 * runs in a worker thread and nothing waits for it. Nothing computes yet:
 * the backend is only named in the log and in the About window's
 * troubleshooting page, then dropped. */
static void
probe_backend_thread (GTask        *task,
                      gpointer      source_object,
                      gpointer      task_data,
                      GCancellable *cancellable)
{
  g_autoptr (FaBackend) backend = fa_backend_new_default ();

  g_task_return_pointer (task, g_strdup (fa_backend_get_description (backend)), g_free);
}

static void
probe_backend_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  FaApplication *self = FA_APPLICATION (object);

  g_assert (G_IS_TASK (result));

  g_free (self->backend_description);
  self->backend_description = g_task_propagate_pointer (G_TASK (result), NULL);
  g_info ("Compute backend: %s", self->backend_description);
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

static void
fa_application_activate (GApplication *app)
{
  FaApplication *self = FA_APPLICATION (app);
  GtkWindow *window;

  window = gtk_application_get_active_window (GTK_APPLICATION (self));
  if (window == NULL)
    window = GTK_WINDOW (fa_window_new (self));
  gtk_window_present (window);

  fa_application_probe_backend (self);
}

static void
fa_application_finalize (GObject *object)
{
  FaApplication *self = FA_APPLICATION (object);

  g_clear_pointer (&self->backend_description, g_free);

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
}

static void
fa_application_init (FaApplication *self)
{
}
