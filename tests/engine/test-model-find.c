/* Finding the model where people keep it: a fake Hugging Face hub cache
 * built from the tiny model (blobs, snapshots of links into them,
 * refs/main) is found complete with its revision; refs and commits
 * resolve to the snapshot; the cache folder follows huggingface_hub's
 * precedence; a snapshot without vae/ and one whose blob was deleted are
 * incomplete, naming what is wrong; a folder the user chose; ComfyUI's
 * single files, which borrow the hub cache's tokenizer or say they need
 * one; complete candidates come first.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "fa-model-find.h"
#include "fa-safetensors.h"
#include "fa-test-model.h"
#include "fa-test-util.h"

#define REVISION "0123456789abcdef0123456789abcdef01234567"
#define OLD_REVISION "fedcba9876543210fedcba9876543210fedcba98"

static char *tiny_dir;     /* tests/data/wan-tiny */
static char *original_dit; /* tests/data/original/wan-tiny-dit.safetensors */
static char *original_vae; /* tests/data/original/wan-tiny-vae.safetensors */

typedef struct {
  char *dir;
  char *cache;   /* dir/hub: HF_HUB_CACHE */
  char *repo;    /* cache/models--Wan-AI--Wan2.1-T2V-1.3B-Diffusers */
  guint n_blobs;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->dir = fa_test_make_folder ("fa-model-find-XXXXXX");
  f->cache = g_build_filename (f->dir, "hub", NULL);
  f->repo = g_build_filename (f->cache, "models--Wan-AI--Wan2.1-T2V-1.3B-Diffusers", NULL);
  g_assert_cmpint (g_mkdir (f->cache, 0755), ==, 0);
  g_setenv ("HF_HUB_CACHE", f->cache, TRUE);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_unsetenv ("HF_HUB_CACHE");
  fa_test_remove_tree (f->dir);
  g_free (f->dir);
  g_free (f->cache);
  g_free (f->repo);
}

#define ADD(name, func) g_test_add (name, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

/* A hard link where the file system allows one, else a copy. */
static void
copy_file (const char *from, const char *to)
{
  if (link (from, to) == 0)
    return;
  g_autofree char *contents = NULL;
  gsize length = 0;
  g_autoptr (GError) error = NULL;
  g_file_get_contents (from, &contents, &length, &error);
  g_assert_no_error (error);
  g_file_set_contents (to, contents, length, &error);
  g_assert_no_error (error);
}

/* Each file below @src/@relative into blobs/, linked from the snapshot as
 * huggingface_hub does (a relative link climbing to blobs/); @without is a
 * top-level entry left out. */
static void
add_to_snapshot (Fixture *f, const char *snapshot, const char *src, const char *relative, const char *without,
                 int depth)
{
  g_autofree char *src_dir = g_build_filename (src, relative, NULL);
  g_autoptr (GDir) dir = g_dir_open (src_dir, 0, NULL);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      if (depth == 0 && without != NULL && g_str_equal (name, without))
        continue;
      g_autofree char *rel = *relative != '\0' ? g_build_filename (relative, name, NULL) : g_strdup (name);
      g_autofree char *from = g_build_filename (src, rel, NULL);
      g_autofree char *to = g_build_filename (snapshot, rel, NULL);
      if (g_file_test (from, G_FILE_TEST_IS_DIR))
        {
          g_assert_cmpint (g_mkdir (to, 0755), ==, 0);
          add_to_snapshot (f, snapshot, src, rel, without, depth + 1);
          continue;
        }
      g_autofree char *blob_name = g_strdup_printf ("%040u", ++f->n_blobs);
      g_autofree char *blob = g_build_filename (f->repo, "blobs", blob_name, NULL);
      copy_file (from, blob);

      /* snapshots/<rev>/<depth folders>/file → ../../<depth × ..>/blobs/x */
      GString *target = g_string_new ("../../");
      for (int d = 0; d < depth; d++)
        g_string_append (target, "../");
      g_string_append_printf (target, "blobs/%s", blob_name);
      g_assert_cmpint (symlink (target->str, to), ==, 0);
      g_string_free (target, TRUE);
    }
}

/* A snapshot of the tiny model at @revision (less @without), named by
 * refs/main when @main. Returns the snapshot folder. */
static char *
make_snapshot (Fixture *f, const char *revision, const char *without, gboolean main)
{
  g_autofree char *blobs = g_build_filename (f->repo, "blobs", NULL);
  g_autofree char *refs = g_build_filename (f->repo, "refs", NULL);
  char *snapshot = g_build_filename (f->repo, "snapshots", revision, NULL);

  g_assert_cmpint (g_mkdir_with_parents (blobs, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (refs, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (snapshot, 0755), ==, 0);
  add_to_snapshot (f, snapshot, tiny_dir, "", without, 0);
  if (main)
    {
      g_autofree char *ref = g_build_filename (refs, "main", NULL);
      g_autoptr (GError) error = NULL;
      g_file_set_contents (ref, revision, -1, &error);
      g_assert_no_error (error);
    }
  return snapshot;
}

static void
assert_contains (const char *text, const char *part)
{
  if (text == NULL || strstr (text, part) == NULL)
    g_error ("\"%s\" does not say \"%s\"", text, part);
}

static void
log_candidates (GPtrArray *found)
{
  for (guint i = 0; i < found->len; i++)
    {
      const FaModelCandidate *c = g_ptr_array_index (found, i);
      g_autofree char *text = fa_model_report_to_string (c->report);
      g_test_message ("%s\n%s", c->description, text);
    }
}

/* ---- the hub cache ---- */

static void
test_cache_dir (Fixture *f, gconstpointer data)
{
  g_setenv ("HF_HUB_CACHE", "/a/hub-cache", TRUE);
  g_setenv ("HF_HOME", "/b/hf-home", TRUE);
  g_setenv ("XDG_CACHE_HOME", "/c/xdg", TRUE);
  g_autofree char *hub = fa_hf_hub_cache_dir ();
  g_assert_cmpstr (hub, ==, "/a/hub-cache");

  g_unsetenv ("HF_HUB_CACHE");
  g_autofree char *home = fa_hf_hub_cache_dir ();
  g_assert_cmpstr (home, ==, "/b/hf-home/hub");

  /* empty counts as unset, as in huggingface_hub */
  g_setenv ("HF_HOME", "", TRUE);
  g_autofree char *xdg = fa_hf_hub_cache_dir ();
  g_assert_cmpstr (xdg, ==, "/c/xdg/huggingface/hub");

  g_unsetenv ("HF_HOME");
  g_unsetenv ("XDG_CACHE_HOME");
  g_autofree char *fallback = fa_hf_hub_cache_dir ();
  g_autofree char *expected = g_build_filename (g_get_home_dir (), ".cache", "huggingface", "hub", NULL);
  g_assert_cmpstr (fallback, ==, expected);

  g_setenv ("HF_HOME", "~/hf", TRUE);
  g_autofree char *tilde = fa_hf_hub_cache_dir ();
  g_autofree char *expected_tilde = g_build_filename (g_get_home_dir (), "hf", "hub", NULL);
  g_assert_cmpstr (tilde, ==, expected_tilde);
  g_unsetenv ("HF_HOME");
}

static void
test_hub_complete (Fixture *f, gconstpointer data)
{
  g_autofree char *snapshot = make_snapshot (f, REVISION, NULL, TRUE);
  g_autoptr (GPtrArray) found = fa_model_find (NULL, NULL, NULL);

  log_candidates (found);
  g_assert_cmpuint (found->len, ==, 1);
  const FaModelCandidate *c = g_ptr_array_index (found, 0);
  g_assert_cmpint (c->source, ==, FA_MODEL_SOURCE_HF_CACHE);
  g_assert_true (c->report->complete);
  g_assert_cmpstr (c->revision, ==, REVISION);
  g_assert_cmpstr (c->paths.folder, ==, snapshot);
  assert_contains (c->description, "Hugging Face cache");
  assert_contains (c->description, "01234567");
  assert_contains (c->description, "refs/main");
  /* the parts are found through the links, in the snapshot */
  g_assert_true (g_str_has_prefix (c->report->parts[FA_MODEL_PART_VAE].path, snapshot));

  g_autofree char *by_ref = fa_hf_snapshot_dir (f->cache, FA_MODEL_REPO_ID, "main");
  g_autofree char *by_commit = fa_hf_snapshot_dir (f->cache, FA_MODEL_REPO_ID, REVISION);
  g_assert_cmpstr (by_ref, ==, snapshot);
  g_assert_cmpstr (by_commit, ==, snapshot);
  g_assert_null (fa_hf_snapshot_dir (f->cache, FA_MODEL_REPO_ID, "v2"));
  g_assert_null (fa_hf_snapshot_dir (f->cache, FA_MODEL_REPO_ID, OLD_REVISION));
  g_assert_null (fa_hf_snapshot_dir (f->cache, FA_MODEL_REPO_ID, "../../models--Wan-AI--Wan2.1-T2V-1.3B-Diffusers"));
  g_assert_null (fa_hf_snapshot_dir (f->cache, "Wan-AI/Wan2.1-T2V-14B-Diffusers", "main"));

  /* nothing in another cache */
  g_autofree char *empty = g_build_filename (f->dir, "empty", NULL);
  g_assert_cmpint (g_mkdir (empty, 0755), ==, 0);
  g_setenv ("HF_HUB_CACHE", empty, TRUE);
  g_autoptr (GPtrArray) none = fa_model_find (NULL, NULL, NULL);
  g_assert_cmpuint (none->len, ==, 0);
}

static void
test_hub_missing_vae (Fixture *f, gconstpointer data)
{
  g_free (make_snapshot (f, REVISION, "vae", TRUE));
  g_autoptr (GPtrArray) found = fa_model_find (NULL, NULL, NULL);

  log_candidates (found);
  g_assert_cmpuint (found->len, ==, 1);
  const FaModelCandidate *c = g_ptr_array_index (found, 0);
  g_assert_false (c->report->complete);
  g_assert_true (c->report->parts[FA_MODEL_PART_TRANSFORMER].found);
  g_assert_true (c->report->parts[FA_MODEL_PART_TOKENIZER].found);
  g_assert_false (c->report->parts[FA_MODEL_PART_VAE].found);
  assert_contains (c->report->parts[FA_MODEL_PART_VAE].problem, "vae/");
}

static void
test_hub_broken_link (Fixture *f, gconstpointer data)
{
  g_autofree char *snapshot = make_snapshot (f, REVISION, NULL, TRUE);
  g_autofree char *link = g_build_filename (snapshot, "vae", "diffusion_pytorch_model.safetensors", NULL);
  g_autofree char *target = g_file_read_link (link, NULL);
  g_assert_nonnull (target);
  g_autofree char *link_dir = g_path_get_dirname (link);
  g_autofree char *blob = g_build_filename (link_dir, target, NULL);

  /* a cleaned-up cache: the blob is gone, the link stays */
  g_assert_cmpint (g_unlink (blob), ==, 0);
  g_autoptr (GPtrArray) found = fa_model_find (NULL, NULL, NULL);

  log_candidates (found);
  g_assert_cmpuint (found->len, ==, 1);
  const FaModelCandidate *c = g_ptr_array_index (found, 0);
  g_assert_false (c->report->complete);
  g_assert_true (c->report->parts[FA_MODEL_PART_TRANSFORMER].found);
  g_assert_false (c->report->parts[FA_MODEL_PART_VAE].found);
  assert_contains (c->report->parts[FA_MODEL_PART_VAE].problem, "diffusion_pytorch_model.safetensors");
}

/* ---- folders ---- */

static void
test_folder (Fixture *f, gconstpointer data)
{
  g_autofree char *dotted = g_build_filename (tiny_dir, ".", NULL);
  const char *folders[] = { tiny_dir, dotted, "", NULL };
  g_autoptr (GPtrArray) found = fa_model_find (folders, NULL, NULL);

  log_candidates (found);
  /* the same folder named twice is one candidate */
  g_assert_cmpuint (found->len, ==, 1);
  const FaModelCandidate *c = g_ptr_array_index (found, 0);
  g_assert_cmpint (c->source, ==, FA_MODEL_SOURCE_FOLDER);
  g_assert_true (c->report->complete);
  g_assert_cmpstr (c->paths.folder, ==, tiny_dir);
  g_assert_null (c->revision);
  assert_contains (c->description, tiny_dir);

  const char *missing[] = { "/nonexistent/wan", NULL };
  g_autoptr (GPtrArray) not_there = fa_model_find (missing, NULL, NULL);
  g_assert_cmpuint (not_there->len, ==, 1);
  c = g_ptr_array_index (not_there, 0);
  g_assert_false (c->report->complete);
  assert_contains (c->report->parts[FA_MODEL_PART_TRANSFORMER].problem, "/nonexistent/wan");
}

/* Complete ones first, whatever the order they were found in. */
static void
test_order (Fixture *f, gconstpointer data)
{
  g_free (make_snapshot (f, REVISION, "vae", TRUE));
  g_free (make_snapshot (f, OLD_REVISION, NULL, FALSE));
  const char *folders[] = { "/nonexistent/wan", tiny_dir, NULL };
  g_autoptr (GPtrArray) found = fa_model_find (folders, NULL, NULL);

  log_candidates (found);
  g_assert_cmpuint (found->len, ==, 4);
  const FaModelCandidate *first = g_ptr_array_index (found, 0);
  const FaModelCandidate *second = g_ptr_array_index (found, 1);
  const FaModelCandidate *third = g_ptr_array_index (found, 2);
  const FaModelCandidate *fourth = g_ptr_array_index (found, 3);
  /* among the complete: the hub cache before folders */
  g_assert_cmpstr (first->revision, ==, OLD_REVISION);
  g_assert_true (first->report->complete);
  g_assert_null (strstr (first->description, "refs/main"));
  g_assert_cmpstr (second->paths.folder, ==, tiny_dir);
  g_assert_true (second->report->complete);
  /* among the incomplete: refs/main's snapshot first */
  g_assert_cmpstr (third->revision, ==, REVISION);
  g_assert_false (third->report->complete);
  g_assert_cmpstr (fourth->paths.folder, ==, "/nonexistent/wan");
  g_assert_false (fourth->report->complete);
}

/* ---- ComfyUI ---- */

static char *
make_dir (const char *parent, const char *name)
{
  char *dir = g_build_filename (parent, name, NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  return dir;
}

/* A ComfyUI folder with the tiny model's single files under its models/,
 * and a file that only looks like a transformer, listed before the real
 * one. Returns the root. */
static char *
make_comfyui (Fixture *f)
{
  char *root = make_dir (f->dir, "ComfyUI");
  g_autofree char *dit_dir = make_dir (root, "models/diffusion_models");
  g_autofree char *text_dir = make_dir (root, "models/text_encoders");
  g_autofree char *vae_dir = make_dir (root, "models/vae");
  g_autoptr (GError) error = NULL;

  g_autofree char *dit = g_build_filename (dit_dir, "wan2.1_t2v_1.3B_bf16.safetensors", NULL);
  copy_file (original_dit, dit);
  /* The tiny DiT's width of 64 does not tell its head count (the real
   * model's 1536 does), so its single file needs the config.json beside
   * it; the real ComfyUI file needs none. */
  g_autofree char *config_from = g_build_filename (tiny_dir, "transformer", "config.json", NULL);
  g_autofree char *config = g_build_filename (dit_dir, "config.json", NULL);
  copy_file (config_from, config);
  g_autofree char *decoy = g_build_filename (dit_dir, "wan2.1_t2v_1.3B_a_broken_download.safetensors", NULL);
  g_file_set_contents (decoy, "not a checkpoint", -1, &error);
  g_assert_no_error (error);
  g_autofree char *other = g_build_filename (dit_dir, "flux1-dev.safetensors", NULL);
  g_file_set_contents (other, "another model", -1, &error);
  g_assert_no_error (error);

  g_autofree char *text = g_build_filename (text_dir, "umt5_xxl_fp16.safetensors", NULL);
  fa_test_write_single_text_encoder (tiny_dir, text);
  g_autofree char *vae = g_build_filename (vae_dir, "wan_2.1_vae.safetensors", NULL);
  copy_file (original_vae, vae);
  return root;
}

static void
test_comfyui (Fixture *f, gconstpointer data)
{
  g_autofree char *root = make_comfyui (f);
  const char *roots[] = { root, NULL };

  /* no hub cache: everything but a tokenizer */
  g_autoptr (GPtrArray) alone = fa_model_find (NULL, roots, NULL);
  log_candidates (alone);
  g_assert_cmpuint (alone->len, ==, 1);
  const FaModelCandidate *c = g_ptr_array_index (alone, 0);
  g_assert_cmpint (c->source, ==, FA_MODEL_SOURCE_COMFYUI);
  g_assert_false (c->report->complete);
  g_assert_true (c->report->parts[FA_MODEL_PART_TRANSFORMER].found);
  g_assert_true (c->report->parts[FA_MODEL_PART_TEXT_ENCODER].found);
  g_assert_true (c->report->parts[FA_MODEL_PART_VAE].found);
  g_assert_false (c->report->parts[FA_MODEL_PART_TOKENIZER].found);
  assert_contains (c->report->parts[FA_MODEL_PART_TOKENIZER].problem, "tokenizer.json");
  assert_contains (c->report->parts[FA_MODEL_PART_TOKENIZER].problem, FA_MODEL_REPO_ID);
  /* the broken file was tried and passed over */
  assert_contains (c->paths.transformer, "wan2.1_t2v_1.3B_bf16.safetensors");
  assert_contains (c->paths.text_encoder, "umt5_xxl_fp16.safetensors");
  assert_contains (c->paths.vae, "wan_2.1_vae.safetensors");

  /* models/ itself will do as the root */
  g_autofree char *models = g_build_filename (root, "models", NULL);
  const char *models_roots[] = { models, NULL };
  g_autoptr (GPtrArray) by_models = fa_model_find (NULL, models_roots, NULL);
  g_assert_cmpuint (by_models->len, ==, 1);

  /* with a hub cache, its tokenizer completes the set */
  g_autofree char *snapshot = make_snapshot (f, REVISION, "vae", TRUE);
  g_autoptr (GPtrArray) found = fa_model_find (NULL, roots, NULL);
  log_candidates (found);
  g_assert_cmpuint (found->len, ==, 2);
  c = g_ptr_array_index (found, 0);
  g_assert_cmpint (c->source, ==, FA_MODEL_SOURCE_COMFYUI);
  g_assert_true (c->report->complete);
  g_autofree char *tokenizer = g_build_filename (snapshot, "tokenizer", NULL);
  g_assert_cmpstr (c->paths.tokenizer, ==, tokenizer);
  assert_contains (c->description, "ComfyUI");
  const FaModelCandidate *hub = g_ptr_array_index (found, 1);
  g_assert_cmpint (hub->source, ==, FA_MODEL_SOURCE_HF_CACHE);
  g_assert_false (hub->report->complete);

  /* a folder holding none of the files is no candidate */
  g_free (make_dir (f->dir, "empty-comfy/models/vae"));
  g_autofree char *empty_root = g_build_filename (f->dir, "empty-comfy", NULL);
  const char *empty_roots[] = { empty_root, "/nonexistent/ComfyUI", NULL };
  g_autoptr (GPtrArray) nothing = fa_model_find (NULL, empty_roots, NULL);
  g_assert_cmpuint (nothing->len, ==, 1); /* the hub snapshot */
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  const char *srcdir = g_getenv ("FA_TEST_SRCDIR");
  g_assert_nonnull (srcdir);
  tiny_dir = g_build_filename (srcdir, "data", "wan-tiny", NULL);
  original_dit = g_build_filename (srcdir, "data", "original", "wan-tiny-dit.safetensors", NULL);
  original_vae = g_build_filename (srcdir, "data", "original", "wan-tiny-vae.safetensors", NULL);

  ADD ("/model-find/cache-dir", test_cache_dir);
  ADD ("/model-find/hub-complete", test_hub_complete);
  ADD ("/model-find/hub-missing-vae", test_hub_missing_vae);
  ADD ("/model-find/hub-broken-link", test_hub_broken_link);
  ADD ("/model-find/folder", test_folder);
  ADD ("/model-find/order", test_order);
  ADD ("/model-find/comfyui", test_comfyui);

  int status = g_test_run ();
  g_free (tiny_dir);
  g_free (original_dit);
  g_free (original_vae);
  return status;
}
