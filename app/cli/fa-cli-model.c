/* flowanchor model status: where Wan2.1 was found and whether it is
 * complete.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "flowanchor-model"

#include "config.h"

#include <stdio.h>

#include "fa-cli.h"
#include "fa-doctor.h"
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
  g_autoptr (GPtrArray) candidates = fa_model_find ((const char *const *) all_folders->pdata,
                                                    (const char *const *) comfyui, NULL);
  guint n_complete = 0;
  for (guint i = 0; i < candidates->len; i++)
    {
      const FaModelCandidate *candidate = g_ptr_array_index (candidates, i);
      print_candidate (candidate);
      n_complete += candidate->report->complete ? 1 : 0;
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
  printf ("To get it, download it into the Hugging Face cache:\n"
          "  huggingface-cli download %s\n"
          "or download it into a folder and name it with --folder (or FLOWANCHOR_MODEL_DIR);\n"
          "ComfyUI users: name the ComfyUI folder with --comfyui.\n",
          FA_MODEL_REPO_ID);
  return FA_CLI_FAILED;
}

int
fa_cli_model (int argc, char **argv)
{
  if (argc >= 2 && g_str_equal (argv[1], "status"))
    return model_status (argc - 1, argv + 1);
  fprintf (stderr, "flowanchor model: expected 'status' (flowanchor model status --help)\n");
  return FA_CLI_USAGE;
}
