/* flowanchor inspect: the tensors of a checkpoint, by name.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "flowanchor-inspect"

#include "config.h"

#include <stdio.h>
#include <string.h>

#include "fa-cli.h"
#include "fa-error.h"
#include "fa-weights.h"

static gboolean summary_only = FALSE;

static const GOptionEntry entries[] = {
  { "summary", 's', 0, G_OPTION_ARG_NONE, &summary_only, "Print only the totals", NULL },
  { NULL },
};

static void
print_weights (FaWeights *weights)
{
  guint n = fa_weights_get_n_tensors (weights);
  guint64 bytes = 0;
  gsize name_width = 4;

  for (guint i = 0; i < n; i++)
    {
      const FaSafetensorsEntry *entry = fa_weights_get_entry (weights, i);
      name_width = MAX (name_width, strlen (entry->name));
      bytes += entry->nbytes;
    }

  printf ("%s\n", fa_weights_get_path (weights));
  if (fa_weights_get_n_files (weights) > 1)
    printf ("  %u files\n", fa_weights_get_n_files (weights));
  if (!summary_only)
    {
      printf ("  %-*s  %-8s %s\n", (int) name_width, "name", "dtype", "shape");
      for (guint i = 0; i < n; i++)
        {
          const FaSafetensorsEntry *entry = fa_weights_get_entry (weights, i);
          g_autofree char *shape = fa_shape_to_string (entry->ndim, entry->shape);
          printf ("  %-*s  %-8s %s\n", (int) name_width, entry->name,
                  fa_dtype_get_name (entry->dtype), shape);
        }
    }

  g_autofree char *size = g_format_size (bytes);
  printf ("  %u tensors, %" G_GUINT64_FORMAT " parameters, %s as stored\n", n,
          fa_weights_get_n_parameters (weights), size);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

/* A diffusers pipeline folder (model_index.json): each component folder that
 * holds weights, in name order. */
static gboolean
inspect_pipeline (const char *folder, GError **error)
{
  g_autoptr (GDir) dir = g_dir_open (folder, 0, error);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  guint shown = 0;

  if (dir == NULL)
    return FALSE;
  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);

  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *component = g_build_filename (folder, names->pdata[i], NULL);
      g_autoptr (GError) local_error = NULL;

      if (!g_file_test (component, G_FILE_TEST_IS_DIR))
        continue;
      g_autoptr (FaWeights) weights = fa_weights_open (component, &local_error);
      if (weights == NULL)
        {
          /* tokenizer/, scheduler/: folders without weights are not errors */
          if (g_error_matches (local_error, FA_ERROR, FA_ERROR_NOT_FOUND))
            continue;
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      if (shown++ > 0)
        printf ("\n");
      print_weights (weights);
    }
  if (shown == 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND, "%s: no component folder holds weights", folder);
      return FALSE;
    }
  return TRUE;
}

int
fa_cli_inspect (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new ("PATH");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (context,
                                "Lists name, dtype and shape of every tensor in PATH, and the totals.\n"
                                "PATH is a .safetensors file, a sharded set's .safetensors.index.json,\n"
                                "a diffusers component folder (transformer/, vae/, …) or a whole\n"
                                "diffusers model folder (with model_index.json).");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "flowanchor inspect: %s\n", error->message);
      return FA_CLI_USAGE;
    }
  if (argc != 2)
    {
      fprintf (stderr, "flowanchor inspect: expected one PATH (see --help)\n");
      return FA_CLI_USAGE;
    }

  const char *path = argv[1];
  g_autofree char *index = g_build_filename (path, "model_index.json", NULL);
  gboolean ok;

  if (g_file_test (path, G_FILE_TEST_IS_DIR) && g_file_test (index, G_FILE_TEST_EXISTS))
    ok = inspect_pipeline (path, &error);
  else
    {
      g_autoptr (FaWeights) weights = fa_weights_open (path, &error);
      if ((ok = weights != NULL))
        print_weights (weights);
    }

  if (!ok)
    {
      fprintf (stderr, "flowanchor inspect: %s\n", error->message);
      return FA_CLI_FAILED;
    }
  return FA_CLI_OK;
}
