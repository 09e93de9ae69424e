/* fa-model-download.c: placeholder until the download lands.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "fa-model-download.h"
#include "fa-model-find.h"

char *fa_hf_token (void) { return NULL; }
char *fa_hf_endpoint (void) { return g_strdup (FA_HF_DEFAULT_ENDPOINT); }
char *
fa_model_download (const FaModelDownloadOptions *options, FaModelDownloadProgressFunc progress,
                   gpointer user_data, GCancellable *cancellable, GError **error)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "not written yet");
  return NULL;
}
void
fa_model_download_async (const FaModelDownloadOptions *options, FaModelDownloadProgressFunc progress,
                         gpointer user_data, GDestroyNotify notify, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer callback_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, callback_data);
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "not written yet");
  g_object_unref (task);
  if (notify) notify (user_data);
}
char *fa_model_download_finish (GAsyncResult *result, GError **error) { return g_task_propagate_pointer (G_TASK (result), error); }
gboolean fa_model_download_find_partial (const char *c, const char *r, guint *n, guint64 *b) { if (n) *n = 0; if (b) *b = 0; return FALSE; }
char *fa_model_download_progress_to_string (const FaModelDownloadProgress *p) { return g_strdup (""); }
