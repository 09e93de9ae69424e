/* The model check and the loading of a model from a folder or single
 * files: the tiny model of tests/data checks complete as a diffusers
 * folder and as original/ComfyUI single files with the folder's text
 * encoder and tokenizer; a folder without its vae/, a truncated
 * checkpoint, a checkpoint short of one tensor, an empty folder and
 * nothing configured each say what is missing, naming the file; single
 * files override the folder's parts; fa_model_load_paths gives the same
 * model from the folder and from single files.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "fa-error.h"
#include "fa-model-check.h"
#include "fa-safetensors.h"
#include "fa-test-util.h"

static char *tiny_dir;      /* tests/data/wan-tiny */
static char *original_dit;  /* tests/data/original/wan-tiny-dit.safetensors */
static char *comfy_dit;     /* tests/data/original/wan-tiny-dit-comfy-bf16.safetensors */
static char *original_vae;  /* tests/data/original/wan-tiny-vae.safetensors */
static char *tiny_text;     /* tests/data/wan-tiny/text_encoder */
static char *tiny_tokenizer;

typedef struct {
  char *dir;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->dir = fa_test_make_folder ("fa-model-check-XXXXXX");
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  fa_test_remove_tree (f->dir);
  g_free (f->dir);
}

#define ADD(name, func) g_test_add (name, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

/* A pipeline folder in @f->dir whose parts (all but @without) link to
 * the tiny model's. */
static char *
make_pipeline (Fixture *f, const char *without)
{
  static const char *const entries[] = { "model_index.json", "scheduler", "transformer", "text_encoder",
                                         "tokenizer", "vae" };
  char *folder = g_build_filename (f->dir, "pipeline", NULL);

  g_assert_cmpint (g_mkdir (folder, 0755), ==, 0);
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

static void
link_into (const char *target, const char *dir)
{
  g_autofree char *base = g_path_get_basename (target);
  g_autofree char *link = g_build_filename (dir, base, NULL);

  g_assert_cmpint (symlink (target, link), ==, 0);
}

/* The tiny DiT's single files need the config.json beside them: a width of
 * 64 does not tell the head count, which the real model's does (1536 =
 * 12 × 128). The VAE file goes alone into its own folder. Sets the
 * single-file paths of @paths and the text encoder and tokenizer of the
 * tiny folder. */
static void
make_single_files (Fixture *f, FaModelPaths *paths, gboolean comfy)
{
  g_autofree char *dit_dir = g_build_filename (f->dir, "dit", NULL);
  g_autofree char *vae_dir = g_build_filename (f->dir, "vae-file", NULL);
  g_autofree char *config = g_build_filename (tiny_dir, "transformer", "config.json", NULL);

  if (!g_file_test (dit_dir, G_FILE_TEST_IS_DIR))
    {
      g_assert_cmpint (g_mkdir (dit_dir, 0755), ==, 0);
      g_assert_cmpint (g_mkdir (vae_dir, 0755), ==, 0);
      link_into (original_dit, dit_dir);
      link_into (comfy_dit, dit_dir);
      link_into (config, dit_dir);
      link_into (original_vae, vae_dir);
    }

  g_autofree char *dit_base = g_path_get_basename (comfy ? comfy_dit : original_dit);
  g_autofree char *vae_base = g_path_get_basename (original_vae);
  *paths = (FaModelPaths) {
    .transformer = g_build_filename (dit_dir, dit_base, NULL),
    .text_encoder = g_strdup (tiny_text),
    .tokenizer = g_strdup (tiny_tokenizer),
    .vae = g_build_filename (vae_dir, vae_base, NULL),
  };
}

static void
assert_found (const FaModelReport *report, FaModelPart part)
{
  const FaModelPartReport *p = &report->parts[part];

  if (!p->found)
    g_error ("the %s was not found: %s", fa_model_part_get_name (part), p->problem);
  g_assert_nonnull (p->summary);
  g_assert_null (p->problem);
  g_assert_nonnull (p->path);
}

/* Not found, with a problem that holds every one of the NULL-terminated
 * strings that follow. */
static void
assert_missing (const FaModelReport *report, FaModelPart part, ...)
{
  const FaModelPartReport *p = &report->parts[part];
  va_list args;

  g_assert_false (p->found);
  g_assert_null (p->summary);
  g_assert_nonnull (p->problem);
  va_start (args, part);
  for (const char *s = va_arg (args, const char *); s != NULL; s = va_arg (args, const char *))
    if (strstr (p->problem, s) == NULL)
      g_error ("the %s's problem \"%s\" does not say \"%s\"", fa_model_part_get_name (part), p->problem, s);
  va_end (args);
}

/* ---- the check ---- */

static void
test_check_folder (Fixture *f, gconstpointer data)
{
  FaModelPaths paths = { .folder = tiny_dir };
  g_autoptr (FaModelReport) report = fa_model_check (&paths, NULL);

  for (int part = 0; part < FA_MODEL_N_PARTS; part++)
    assert_found (report, part);
  g_assert_true (report->complete);

  /* the tiny DiT: 2 blocks of width 64, stored as f32 */
  const FaModelPartReport *dit = &report->parts[FA_MODEL_PART_TRANSFORMER];
  g_assert_nonnull (strstr (dit->summary, "2 blocks"));
  g_assert_nonnull (strstr (dit->summary, "dim 64"));
  g_assert_nonnull (strstr (dit->summary, "f32"));
  g_autofree char *dit_dir = g_build_filename (tiny_dir, "transformer", NULL);
  g_assert_cmpstr (dit->path, ==, dit_dir);
  g_autofree char *vae_dir = g_build_filename (tiny_dir, "vae", NULL);
  g_assert_cmpstr (report->parts[FA_MODEL_PART_VAE].path, ==, vae_dir);
  g_assert_nonnull (strstr (report->parts[FA_MODEL_PART_VAE].summary, "16 latent channels"));
  g_assert_nonnull (strstr (report->parts[FA_MODEL_PART_TEXT_ENCODER].summary, "2 layers"));

  g_autofree char *text = fa_model_report_to_string (report);
  g_test_message ("%s", text);
  g_auto (GStrv) lines = g_strsplit (g_strchomp (text), "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, FA_MODEL_N_PARTS);
  for (int part = 0; part < FA_MODEL_N_PARTS; part++)
    {
      g_assert_true (g_str_has_prefix (lines[part], fa_model_part_get_name (part)));
      g_assert_nonnull (strstr (lines[part], "found"));
    }
}

static void
test_check_single_files (Fixture *f, gconstpointer data)
{
  for (guint i = 0; i < 2; i++)
    {
      g_auto (FaModelPaths) paths;
      make_single_files (f, &paths, i == 1);
      g_autoptr (FaModelReport) report = fa_model_check (&paths, NULL);

      for (int part = 0; part < FA_MODEL_N_PARTS; part++)
        assert_found (report, part);
      g_assert_true (report->complete);
      g_assert_cmpstr (report->parts[FA_MODEL_PART_TRANSFORMER].path, ==, paths.transformer);
      g_assert_cmpstr (report->parts[FA_MODEL_PART_VAE].path, ==, paths.vae);
      g_assert_nonnull (strstr (report->parts[FA_MODEL_PART_TRANSFORMER].summary, "2 blocks"));
      g_assert_nonnull (strstr (report->parts[FA_MODEL_PART_VAE].summary, "16 latent channels"));
      g_assert_nonnull (strstr (report->parts[FA_MODEL_PART_TRANSFORMER].summary,
                                i == 0 ? "f32" : "bf16"));
    }
}

static void
test_check_missing_vae (Fixture *f, gconstpointer data)
{
  g_autofree char *folder = make_pipeline (f, "vae");
  FaModelPaths paths = { .folder = folder };
  g_autoptr (FaModelReport) report = fa_model_check (&paths, NULL);

  assert_found (report, FA_MODEL_PART_TRANSFORMER);
  assert_found (report, FA_MODEL_PART_TEXT_ENCODER);
  assert_found (report, FA_MODEL_PART_TOKENIZER);
  assert_missing (report, FA_MODEL_PART_VAE, folder, "vae/", NULL);
  g_assert_false (report->complete);

  g_autofree char *text = fa_model_report_to_string (report);
  g_test_message ("%s", text);
  g_assert_nonnull (strstr (text, "MISSING"));

  /* a single VAE file fills the gap; the folder still gives the rest */
  FaModelPaths with_file = { .folder = folder, .vae = original_vae };
  g_autoptr (FaModelReport) filled = fa_model_check (&with_file, NULL);
  for (int part = 0; part < FA_MODEL_N_PARTS; part++)
    assert_found (filled, part);
  g_assert_true (filled->complete);
  g_assert_cmpstr (filled->parts[FA_MODEL_PART_VAE].path, ==, original_vae);
  g_assert_true (g_str_has_prefix (filled->parts[FA_MODEL_PART_TRANSFORMER].path, folder));
}

static void
test_check_truncated (Fixture *f, gconstpointer data)
{
  g_autofree char *contents = NULL;
  gsize length = 0;
  GError *error = NULL;

  g_file_get_contents (original_dit, &contents, &length, &error);
  g_assert_no_error (error);
  g_autofree char *truncated = g_build_filename (f->dir, "dit-truncated.safetensors", NULL);
  g_file_set_contents (truncated, contents, (gssize) (length / 2), &error);
  g_assert_no_error (error);

  FaModelPaths paths = { .folder = tiny_dir, .transformer = truncated };
  g_autoptr (FaModelReport) report = fa_model_check (&paths, NULL);

  g_autofree char *text = fa_model_report_to_string (report);
  g_test_message ("%s", text);
  assert_missing (report, FA_MODEL_PART_TRANSFORMER, "dit-truncated.safetensors", NULL);
  assert_found (report, FA_MODEL_PART_TEXT_ENCODER);
  assert_found (report, FA_MODEL_PART_TOKENIZER);
  assert_found (report, FA_MODEL_PART_VAE);
  g_assert_false (report->complete);
}

/* A checkpoint that the header alone shows to be short of one tensor:
 * the problem names the file and the tensor. */
static void
test_check_missing_tensor (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autoptr (FaSafetensors) file = fa_safetensors_open (original_dit, &error);
  g_assert_no_error (error);

  const char *dropped = "head.modulation";
  g_assert_nonnull (fa_safetensors_lookup (file, dropped));
  guint n = fa_safetensors_get_n_tensors (file);
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  g_autoptr (GPtrArray) tensors = g_ptr_array_new_with_free_func ((GDestroyNotify) fa_tensor_unref);
  for (guint i = 0; i < n; i++)
    {
      const FaSafetensorsEntry *entry = fa_safetensors_get_entry (file, i);
      if (g_str_equal (entry->name, dropped))
        continue;
      FaTensor *view = fa_safetensors_view_tensor (file, entry, &error);
      g_assert_no_error (error);
      g_ptr_array_add (names, (gpointer) entry->name);
      g_ptr_array_add (tensors, view);
    }
  g_autofree char *config = g_build_filename (tiny_dir, "transformer", "config.json", NULL);
  link_into (config, f->dir);
  g_autofree char *short_path = g_build_filename (f->dir, "dit-short.safetensors", NULL);
  g_assert_true (fa_safetensors_write (short_path, names->len, (const char *const *) names->pdata,
                                       (FaTensor *const *) tensors->pdata, NULL, &error));
  g_assert_no_error (error);

  FaModelPaths paths = { .folder = tiny_dir, .transformer = short_path };
  g_autoptr (FaModelReport) report = fa_model_check (&paths, NULL);

  g_autofree char *text = fa_model_report_to_string (report);
  g_test_message ("%s", text);
  assert_missing (report, FA_MODEL_PART_TRANSFORMER, short_path, dropped, "missing", NULL);
  g_assert_false (report->complete);
}

static void
test_check_empty_folder (Fixture *f, gconstpointer data)
{
  FaModelPaths paths = { .folder = f->dir };
  g_autoptr (FaModelReport) report = fa_model_check (&paths, NULL);

  assert_missing (report, FA_MODEL_PART_TRANSFORMER, f->dir, "transformer/", NULL);
  assert_missing (report, FA_MODEL_PART_TEXT_ENCODER, f->dir, "text_encoder/", NULL);
  assert_missing (report, FA_MODEL_PART_TOKENIZER, f->dir, "tokenizer/", NULL);
  assert_missing (report, FA_MODEL_PART_VAE, f->dir, "vae/", NULL);
  g_assert_false (report->complete);
}

static void
test_check_nothing_set (Fixture *f, gconstpointer data)
{
  FaModelPaths paths = { NULL };
  g_autoptr (FaModelReport) report = fa_model_check (&paths, NULL);

  for (int part = 0; part < FA_MODEL_N_PARTS; part++)
    {
      assert_missing (report, part, fa_model_part_get_name (part), "not set", NULL);
      g_assert_null (report->parts[part].path);
    }
  g_assert_false (report->complete);

  /* a folder that is not there */
  g_autofree char *gone = g_build_filename (f->dir, "no-such-folder", NULL);
  FaModelPaths missing = { .folder = gone };
  g_autoptr (FaModelReport) missing_report = fa_model_check (&missing, NULL);
  for (int part = 0; part < FA_MODEL_N_PARTS; part++)
    assert_missing (missing_report, part, gone, "does not exist", NULL);
}

static void
test_check_cancelled (Fixture *f, gconstpointer data)
{
  FaModelPaths paths = { .folder = tiny_dir };
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();

  g_cancellable_cancel (cancellable);
  g_autoptr (FaModelReport) report = fa_model_check (&paths, cancellable);
  g_assert_false (report->complete);
  for (int part = 0; part < FA_MODEL_N_PARTS; part++)
    assert_missing (report, part, "cancelled", NULL);
}

/* ---- loading ---- */

static void
assert_same_weight (FaModel *a, FaModel *b, const char *name)
{
  FaTensor *x = fa_wan_dit_get_weight (fa_model_get_dit (a), name);
  FaTensor *y = fa_wan_dit_get_weight (fa_model_get_dit (b), name);

  g_assert_nonnull (x);
  g_assert_nonnull (y);
  g_assert_cmpuint (fa_tensor_get_nbytes (x), ==, fa_tensor_get_nbytes (y));
  g_assert_cmpmem (fa_tensor_get_data (x), fa_tensor_get_nbytes (x), fa_tensor_get_data (y),
                   fa_tensor_get_nbytes (y));
}

static void
test_load_paths (Fixture *f, gconstpointer data)
{
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  g_autoptr (FaBackend) text_cpu = fa_backend_new_cpu ();
  GError *error = NULL;

  FaModelPaths folder_paths = { .folder = tiny_dir };
  g_autoptr (FaModel) from_folder = fa_model_load_paths (&folder_paths, cpu, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (from_folder);

  g_auto (FaModelPaths) file_paths;
  make_single_files (f, &file_paths, FALSE);
  g_autoptr (FaModel) from_files = fa_model_load_paths (&file_paths, cpu, text_cpu, &error);
  g_assert_no_error (error);
  g_assert_nonnull (from_files);

  FaModel *models[] = { from_folder, from_files };
  for (guint i = 0; i < G_N_ELEMENTS (models); i++)
    {
      g_assert_nonnull (fa_model_get_dit (models[i]));
      g_assert_nonnull (fa_model_get_vae (models[i]));
      g_assert_nonnull (fa_model_get_text_encoder (models[i]));
      g_assert_nonnull (fa_model_get_tokenizer (models[i]));
      g_assert_cmpint (fa_wan_dit_get_config (fa_model_get_dit (models[i]))->num_layers, ==, 2);
      g_assert_cmpint (fa_wan_dit_get_config (fa_model_get_dit (models[i]))->dim, ==, 64);
    }
  /* the text encoder went where it was asked */
  g_assert_true (fa_umt5_get_backend (fa_model_get_text_encoder (from_files)) == text_cpu);
  g_assert_true (fa_umt5_get_backend (fa_model_get_text_encoder (from_folder)) == cpu);
  /* the original names map onto the same weights */
  assert_same_weight (from_folder, from_files, "blocks.0.attn1.to_q.weight");
  assert_same_weight (from_folder, from_files, "blocks.1.ffn.net.2.weight");
}

static void
test_load_paths_errors (Fixture *f, gconstpointer data)
{
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  GError *error = NULL;

  g_autofree char *folder = make_pipeline (f, "vae");
  FaModelPaths paths = { .folder = folder };
  g_autoptr (FaModel) model = fa_model_load_paths (&paths, cpu, NULL, &error);
  g_assert_null (model);
  g_assert_error (error, FA_ERROR, FA_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "VAE"));
  g_assert_nonnull (strstr (error->message, "vae/"));
  g_clear_error (&error);

  FaModelPaths nothing = { NULL };
  g_assert_null (fa_model_load_paths (&nothing, cpu, NULL, &error));
  g_assert_error (error, FA_ERROR, FA_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "not set"));
  g_clear_error (&error);

  /* single files override the folder's parts: the missing vae/ no longer matters */
  FaModelPaths with_file = { .folder = folder, .vae = original_vae };
  g_autoptr (FaModel) filled = fa_model_load_paths (&with_file, cpu, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (filled);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  const char *srcdir = g_getenv ("FA_TEST_SRCDIR");
  g_assert_nonnull (srcdir);
  tiny_dir = g_build_filename (srcdir, "data", "wan-tiny", NULL);
  original_dit = g_build_filename (srcdir, "data", "original", "wan-tiny-dit.safetensors", NULL);
  comfy_dit = g_build_filename (srcdir, "data", "original", "wan-tiny-dit-comfy-bf16.safetensors", NULL);
  original_vae = g_build_filename (srcdir, "data", "original", "wan-tiny-vae.safetensors", NULL);
  tiny_text = g_build_filename (tiny_dir, "text_encoder", NULL);
  tiny_tokenizer = g_build_filename (tiny_dir, "tokenizer", NULL);

  ADD ("/model-check/folder", test_check_folder);
  ADD ("/model-check/single-files", test_check_single_files);
  ADD ("/model-check/missing-vae", test_check_missing_vae);
  ADD ("/model-check/truncated", test_check_truncated);
  ADD ("/model-check/missing-tensor", test_check_missing_tensor);
  ADD ("/model-check/empty-folder", test_check_empty_folder);
  ADD ("/model-check/nothing-set", test_check_nothing_set);
  ADD ("/model-check/cancelled", test_check_cancelled);
  ADD ("/model-check/load-paths", test_load_paths);
  ADD ("/model-check/load-paths-errors", test_load_paths_errors);

  int status = g_test_run ();
  g_free (tiny_dir);
  g_free (original_dit);
  g_free (comfy_dit);
  g_free (original_vae);
  g_free (tiny_text);
  g_free (tiny_tokenizer);
  return status;
}
