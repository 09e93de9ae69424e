/* flowanchor model status: where Wan2.1 was found and whether it is
 * complete. flowanchor model download: fetching it from the Hugging Face
 * hub into the hub cache, with progress, Ctrl+C as a cancel that keeps
 * what was fetched, and a resume on the next run.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "flowanchor-model"

#include "config.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "fa-cli.h"
#include "fa-doctor.h"
#include "fa-model-download.h"
#include "fa-model-find.h"

static void
print_candidate (const FaModelCandidate *candidate)
{
  g_autofree char *report = fa_model_report_to_string (candidate->report);

  printf ("%s  %s\n", candidate->report->complete ? "ready     " : "incomplete", candidate->description);
  if (candidate->paths.folder != NULL)
    printf ("  folder        %s\n", candidate->paths.folder);
  if (candidate->paths.transformer != NULL)
    printf ("  transformer   %s\n", candidate->paths.transformer);
  if (candidate->paths.text_encoder != NULL)
    printf ("  text encoder  %s\n", candidate->paths.text_encoder);
  if (candidate->paths.tokenizer != NULL)
    printf ("  tokenizer     %s\n", candidate->paths.tokenizer);
  if (candidate->paths.vae != NULL)
    printf ("  VAE           %s\n", candidate->paths.vae);

  g_auto (GStrv) lines = g_strsplit (g_strchomp (report), "\n", -1);
  for (char **line = lines; *line != NULL; line++)
    printf ("    %s\n", *line);
  printf ("\n");
}

static int
model_status (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new (NULL);
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) folders = NULL;
  g_auto (GStrv) comfyui = NULL;
  GOptionEntry entries[] = {
    { "folder", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &folders,
      "a diffusers model folder to check (repeatable)", "DIR" },
    { "comfyui", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &comfyui,
      "a ComfyUI folder (the one holding models/) to look in (repeatable)", "DIR" },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (context,
                                "Looks for " FA_MODEL_REPO_ID " in the Hugging Face cache, in the\n"
                                "configured model folder (FLOWANCHOR_MODEL_DIR, else the app's setting),\n"
                                "in the folders given and in ComfyUI's models/ folders, and checks each\n"
                                "place without loading the weights. Exits 0 when one is complete, 1 when\n"
                                "none is.");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "flowanchor model status: %s\n", error->message);
      return FA_CLI_USAGE;
    }
  if (argc > 1)
    {
      fprintf (stderr, "flowanchor model status: unexpected argument '%s'\n", argv[1]);
      return FA_CLI_USAGE;
    }

  g_autoptr (GPtrArray) all_folders = g_ptr_array_new_with_free_func (g_free);
  const char *configured_source = NULL;
  g_autofree char *configured = fa_doctor_get_model_folder (&configured_source);
  if (configured != NULL)
    g_ptr_array_add (all_folders, g_steal_pointer (&configured));
  for (char **f = folders; f != NULL && *f != NULL; f++)
    g_ptr_array_add (all_folders, g_strdup (*f));
  g_ptr_array_add (all_folders, NULL);

  g_autofree char *cache_dir = fa_hf_hub_cache_dir ();
  guint n_partial = 0;
  guint64 partial_bytes = 0;
  gboolean partial = fa_model_download_find_partial (cache_dir, FA_MODEL_REPO_ID, &n_partial, &partial_bytes);
  g_autoptr (GPtrArray) candidates = fa_model_find ((const char *const *) all_folders->pdata,
                                                    (const char *const *) comfyui, NULL);
  guint n_complete = 0;
  for (guint i = 0; i < candidates->len; i++)
    {
      const FaModelCandidate *candidate = g_ptr_array_index (candidates, i);
      print_candidate (candidate);
      n_complete += candidate->report->complete ? 1 : 0;
    }
  if (partial)
    {
      g_autofree char *size = g_format_size (partial_bytes);
      g_autofree char *repo_dir = fa_hf_repo_dir (cache_dir, FA_MODEL_REPO_ID);
      printf ("unfinished download: %u %s, %s so far, in %s;\n"
              "  `flowanchor model download` resumes it\n\n",
              n_partial, n_partial == 1 ? "file" : "files", size, repo_dir);
    }
  if (n_complete > 0)
    return FA_CLI_OK;

  if (candidates->len > 0)
    printf ("None of these is a complete copy of %s. Looked in:\n", FA_MODEL_REPO_ID);
  else
    printf ("No copy of %s was found. Looked in:\n", FA_MODEL_REPO_ID);
  printf ("  Hugging Face cache  %s (HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME)\n", cache_dir);
  for (guint i = 0; i + 1 < all_folders->len; i++)
    printf ("  folder              %s%s%s%s\n", (const char *) g_ptr_array_index (all_folders, i),
            i == 0 && configured_source != NULL ? " (from " : "",
            i == 0 && configured_source != NULL ? configured_source : "",
            i == 0 && configured_source != NULL ? ")" : "");
  for (char **root = comfyui; root != NULL && *root != NULL; root++)
    printf ("  ComfyUI             %s\n", *root);
  printf ("To get it, download it into the Hugging Face cache (about %.0f GB):\n"
          "  flowanchor model download\n"
          "or, with the Python tools:\n"
          "  huggingface-cli download %s\n"
          "or download it into a folder and name it with --folder (or FLOWANCHOR_MODEL_DIR);\n"
          "ComfyUI users: name the ComfyUI folder with --comfyui.\n",
          FA_MODEL_REVISION_BYTES / 1e9, FA_MODEL_REPO_ID);
  return FA_CLI_FAILED;
}

/* flowanchor model download
 *
 * The download runs on a worker thread and its progress is printed from
 * there, under @lock, so that every file's start and end is seen (the
 * async variant keeps only the latest state); the main thread waits in a
 * main loop for the end and for Ctrl+C. */

typedef struct {
  GMutex lock;
  const FaModelDownloadOptions *options;
  GMainLoop *loop;
  GCancellable *cancellable;
  gboolean terminal;
  guint n_interrupts;
  char *snapshot;
  GError *error;
  /* under @lock: what has been said */
  gboolean over;           /* cancelled or finished: no more progress lines */
  gboolean announced;      /* the line saying what is left to fetch */
  gboolean fetched_any;
  char *file;              /* the file in hand */
  gboolean file_announced; /* its "fetching" line (logs) */
  guint file_index, n_files;
  gboolean line_open;      /* a progress line without its newline (terminal) */
  gint64 last_line_us;
} Download;

static int
terminal_width (void)
{
  struct winsize size;
  if (ioctl (STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col >= 20)
    return size.ws_col;
  return 80;
}

/* PREFIX FILE SUFFIX on one line rewritten in place. A line that wraps
 * could not be rewritten with \r: the file's path loses its start first
 * (its end names it), then the line its end. */
static void
print_terminal_line (Download *download, const char *prefix, const char *file, const char *suffix)
{
  glong width = terminal_width () - 1;
  glong room = width - g_utf8_strlen (prefix, -1) - g_utf8_strlen (suffix, -1);
  glong file_length = file != NULL ? g_utf8_strlen (file, -1) : 0;
  g_autofree char *line = NULL;

  if (file_length > room && room > 12)
    line = g_strconcat (prefix, "…", g_utf8_offset_to_pointer (file, file_length - (room - 1)), suffix, NULL);
  else
    line = g_strconcat (prefix, file != NULL ? file : "", suffix, NULL);
  if (g_utf8_strlen (line, -1) > width)
    *g_utf8_offset_to_pointer (line, width) = '\0';
  printf ("\r\033[K%s", line);
  fflush (stdout);
  download->line_open = TRUE;
}

/* A line that stays, above the progress line on a terminal. */
static void
print_lasting_line (Download *download, const char *line)
{
  if (download->line_open)
    printf ("\r\033[K");
  download->line_open = FALSE;
  printf ("%s\n", line);
  fflush (stdout);
}

static void
file_finished (Download *download)
{
  if (download->file != NULL && download->file_announced)
    {
      g_autofree char *line = g_strdup_printf ("fetched   [%u/%u] %s", download->file_index, download->n_files,
                                               download->file);
      print_lasting_line (download, line);
    }
  g_clear_pointer (&download->file, g_free);
  download->file_announced = FALSE;
}

static void
show_progress (Download *download, const FaModelDownloadProgress *progress)
{
  gint64 now = g_get_monotonic_time ();
  gboolean said = FALSE;

  if (download->over)
    return;

  /* after the listing: how much is left */
  if (!download->announced && progress->total > 0
      && (progress->file != NULL || progress->stage != FA_MODEL_DOWNLOAD_CHECKING))
    {
      g_autofree char *total = g_format_size (progress->total);
      g_autofree char *left = g_format_size (progress->total - MIN (progress->done, progress->total));
      g_autofree char *line = progress->n_files > 0
        ? g_strdup_printf ("%u %s to fetch: %s of %s still to come", progress->n_files,
                           progress->n_files == 1 ? "file" : "files", left, total)
        : g_strdup_printf ("nothing to fetch: the cache holds all %s", total);
      print_lasting_line (download, line);
      download->announced = TRUE;
    }

  if (g_strcmp0 (progress->file, download->file) != 0)
    {
      file_finished (download);
      download->file = g_strdup (progress->file);
      download->file_index = progress->file_index;
      download->n_files = progress->n_files;
    }
  /* announced once its bytes come, when a resumed part has been counted */
  if (download->file != NULL && !download->file_announced && progress->stage != FA_MODEL_DOWNLOAD_CHECKING)
    {
      download->file_announced = TRUE;
      download->fetched_any = TRUE;
      /* on a terminal the progress line names the file in hand */
      if (!download->terminal)
        {
          g_autofree char *size = g_format_size (progress->file_size);
          g_autofree char *resumed = g_format_size (progress->file_done);
          g_autofree char *line = g_strdup_printf ("fetching  [%u/%u] %s (%s%s%s)", progress->file_index,
                                                   progress->n_files, progress->file, size,
                                                   progress->file_done > 0 ? ", resuming at " : "",
                                                   progress->file_done > 0 ? resumed : "");
          print_lasting_line (download, line);
          said = TRUE;
        }
    }
  if (progress->stage == FA_MODEL_DOWNLOAD_DONE)
    {
      file_finished (download);
      return;
    }

  /* at most five lines a second on a terminal, one every five seconds in a log */
  if (said)
    download->last_line_us = now;
  if (now - download->last_line_us < (download->terminal ? G_USEC_PER_SEC / 5 : 5 * G_USEC_PER_SEC))
    return;
  download->last_line_us = now;

  g_autofree char *figures = fa_model_download_progress_to_string (progress);
  g_autofree char *prefix = NULL;
  g_autofree char *suffix = NULL;
  const char *file = NULL;
  if (progress->stage == FA_MODEL_DOWNLOAD_CHECKING && progress->file == NULL)
    prefix = g_strdup ("looking in the cache and listing the repository…");
  else if (progress->stage == FA_MODEL_DOWNLOAD_CHECKING)
    {
      prefix = g_strdup_printf ("[%u/%u] checking the part of ", progress->file_index, progress->n_files);
      file = progress->file;
      suffix = g_strdup (" fetched before");
    }
  else if (progress->stage == FA_MODEL_DOWNLOAD_VERIFYING)
    {
      prefix = g_strdup_printf ("[%u/%u] verifying ", progress->file_index, progress->n_files);
      file = progress->file;
      suffix = g_strdup_printf ("; %s", figures);
    }
  else if (download->terminal && progress->file != NULL)
    {
      prefix = g_strdup_printf ("[%u/%u] ", progress->file_index, progress->n_files);
      file = progress->file;
      suffix = g_strdup_printf (": %s", figures);
    }
  else
    prefix = g_strdup_printf ("  %s", figures);

  if (download->terminal)
    print_terminal_line (download, prefix, file, suffix != NULL ? suffix : "");
  else
    {
      g_autofree char *line = g_strconcat (prefix, file != NULL ? file : "", suffix, NULL);
      print_lasting_line (download, line);
    }
}

/* on the worker thread */
static void
on_download_progress (const FaModelDownloadProgress *progress, gpointer user_data)
{
  Download *download = user_data;

  g_mutex_lock (&download->lock);
  show_progress (download, progress);
  g_mutex_unlock (&download->lock);
}

static void
download_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  Download *download = task_data;
  GError *error = NULL;
  char *snapshot = fa_model_download (download->options, on_download_progress, download, cancellable, &error);

  if (snapshot != NULL)
    g_task_return_pointer (task, snapshot, g_free);
  else
    g_task_return_error (task, error);
}

static gboolean
on_download_interrupt (gpointer user_data)
{
  Download *download = user_data;

  /* the second Ctrl+C does not wait for the cancel: the lock file goes
   * with the process and the partial file is on disk already */
  if (++download->n_interrupts > 1)
    {
      fprintf (stderr, "\nflowanchor model download: stopped\n");
      _exit (FA_CLI_CANCELLED);
    }
  g_mutex_lock (&download->lock);
  if (download->line_open)
    printf ("\n");
  fflush (stdout);
  download->line_open = FALSE;
  download->over = TRUE;
  g_mutex_unlock (&download->lock);
  fprintf (stderr, "cancelling… (Ctrl+C again stops at once)\n");
  g_cancellable_cancel (download->cancellable);
  return G_SOURCE_CONTINUE;
}

static void
on_download_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Download *download = user_data;
  download->snapshot = g_task_propagate_pointer (G_TASK (result), &download->error);
  g_main_loop_quit (download->loop);
}

static gboolean
is_http_url (const char *text)
{
  return g_str_has_prefix (text, "http://") || g_str_has_prefix (text, "https://");
}

static int
model_download (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *endpoint = NULL;
  g_autofree char *revision = NULL;
  g_autofree char *cache_dir = NULL;
  g_autofree char *token = NULL;
  GOptionEntry entries[] = {
    { "endpoint", 0, 0, G_OPTION_ARG_STRING, &endpoint,
      "the hub to download from (HF_ENDPOINT, else " FA_HF_DEFAULT_ENDPOINT ")", "URL" },
    { "revision", 0, 0, G_OPTION_ARG_STRING, &revision,
      "a commit or branch of the repository (the tested commit " FA_MODEL_REVISION ")", "REV" },
    { "cache", 0, 0, G_OPTION_ARG_FILENAME, &cache_dir,
      "the Hugging Face cache to download into (HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub)", "DIR" },
    { "token", 0, 0, G_OPTION_ARG_STRING, &token,
      "a hub access token (HF_TOKEN, else the one `huggingface-cli login` saved); \"\" sends none", "TOKEN" },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (context,
                                "Downloads " FA_MODEL_REPO_ID " from the Hugging Face hub into the\n"
                                "Hugging Face cache, where the Python libraries find it too. Only the files\n"
                                "the engine reads are fetched; each is checked against the hash the hub\n"
                                "publishes before it is put in place. Ctrl+C stops it and keeps what was\n"
                                "fetched: running the same command again resumes it.\n"
                                "Exit status: 0 done, 1 failed, 2 usage, 130 cancelled (Ctrl+C).");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "flowanchor model download: %s\n", error->message);
      return FA_CLI_USAGE;
    }
  if (argc > 1)
    {
      fprintf (stderr, "flowanchor model download: unexpected argument '%s'\n", argv[1]);
      return FA_CLI_USAGE;
    }
  if (endpoint == NULL)
    endpoint = fa_hf_endpoint ();
  else if (!is_http_url (endpoint))
    {
      fprintf (stderr, "flowanchor model download: --endpoint '%s' is not an http:// or https:// URL\n", endpoint);
      return FA_CLI_USAGE;
    }
  if (revision != NULL && *revision == '\0')
    {
      fprintf (stderr, "flowanchor model download: --revision is empty\n");
      return FA_CLI_USAGE;
    }
  if (cache_dir == NULL)
    cache_dir = fa_hf_hub_cache_dir ();
  if (token == NULL)
    token = fa_hf_token ();
  if (token == NULL)
    token = g_strdup ("");

  FaModelDownloadOptions options = {
    .endpoint = endpoint,
    .repo_id = FA_MODEL_REPO_ID,
    .revision = revision != NULL ? revision : FA_MODEL_REVISION,
    .cache_dir = cache_dir,
    .token = token,
  };
  g_autofree char *repo_dir = fa_hf_repo_dir (cache_dir, FA_MODEL_REPO_ID);
  g_autofree char *pinned_size = g_format_size (FA_MODEL_REVISION_BYTES);

  printf ("from      %s/%s, revision %s%s\n", endpoint, FA_MODEL_REPO_ID, options.revision,
          *token != '\0' ? " (with a token)" : "");
  printf ("into      %s\n", repo_dir);
  printf ("files     model_index.json, scheduler/, text_encoder/, tokenizer/, transformer/, vae/");
  if (g_str_equal (options.revision, FA_MODEL_REVISION))
    printf (" (%s in all)", pinned_size);
  printf ("\n");
  {
    guint n_partial = 0;
    guint64 partial_bytes = 0;
    if (fa_model_download_find_partial (cache_dir, FA_MODEL_REPO_ID, &n_partial, &partial_bytes))
      {
        g_autofree char *size = g_format_size (partial_bytes);
        printf ("resuming  %u unfinished %s, %s so far\n", n_partial, n_partial == 1 ? "file" : "files", size);
      }
  }
  fflush (stdout);

  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  Download download = {
    .options = &options,
    .loop = loop,
    .cancellable = cancellable,
    .terminal = isatty (STDOUT_FILENO),
  };
  g_mutex_init (&download.lock);
  guint sigint = g_unix_signal_add (SIGINT, on_download_interrupt, &download);
  guint sigterm = g_unix_signal_add (SIGTERM, on_download_interrupt, &download);
  {
    g_autoptr (GTask) task = g_task_new (NULL, cancellable, on_download_done, &download);
    g_task_set_task_data (task, &download, NULL);
    g_task_run_in_thread (task, download_thread);
  }
  g_main_loop_run (loop);
  g_source_remove (sigint);
  g_source_remove (sigterm);
  /* the worker has returned: no more progress */
  g_mutex_clear (&download.lock);
  if (download.line_open)
    printf ("\n");
  g_clear_pointer (&download.file, g_free);
  fflush (stdout);

  g_autofree char *snapshot = g_steal_pointer (&download.snapshot);
  if (snapshot == NULL)
    {
      g_autoptr (GError) failure = g_steal_pointer (&download.error);
      guint n_partial = 0;
      guint64 partial_bytes = 0;
      gboolean partial = fa_model_download_find_partial (cache_dir, FA_MODEL_REPO_ID, &n_partial, &partial_bytes);
      g_autofree char *kept = g_format_size (partial_bytes);
      gboolean cancelled = g_error_matches (failure, G_IO_ERROR, G_IO_ERROR_CANCELLED);

      fprintf (stderr, "flowanchor model download: %s\n", cancelled ? "cancelled" : failure->message);
      if (partial)
        fprintf (stderr, "The unfinished %s (%s) %s kept in %s/blobs; running the same command again resumes "
                         "%s.\n",
                 n_partial == 1 ? "file" : "files", kept, n_partial == 1 ? "is" : "are", repo_dir,
                 n_partial == 1 ? "it" : "them");
      else if (cancelled || download.fetched_any)
        fprintf (stderr, "What was fetched is kept; running the same command again goes on from there.\n");
      return cancelled ? FA_CLI_CANCELLED : FA_CLI_FAILED;
    }

  if (!download.announced)
    printf ("nothing to fetch: the cache already holds this revision\n");
  printf ("snapshot  %s\n", snapshot);
  FaModelPaths paths = { .folder = snapshot };
  g_autoptr (FaModelReport) report = fa_model_check (&paths, NULL);
  if (!report->complete)
    {
      g_autofree char *text = fa_model_report_to_string (report);
      printf ("%s", text);
      fprintf (stderr, "flowanchor model download: the files were fetched, but the model in %s is not complete "
                       "(see above)\n", snapshot);
      return FA_CLI_FAILED;
    }
  printf ("The model is ready (every part checked): the app and `flowanchor model status` find it in the "
          "Hugging Face cache.\n");
  return FA_CLI_OK;
}

int
fa_cli_model (int argc, char **argv)
{
  if (argc >= 2 && g_str_equal (argv[1], "status"))
    return model_status (argc - 1, argv + 1);
  if (argc >= 2 && g_str_equal (argv[1], "download"))
    return model_download (argc - 1, argv + 1);
  fprintf (stderr, "flowanchor model: expected 'status' or 'download' (flowanchor model status --help, "
                   "flowanchor model download --help)\n");
  return FA_CLI_USAGE;
}
