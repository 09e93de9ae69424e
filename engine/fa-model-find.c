/* fa-model-find.c: finding Wan2.1-T2V-1.3B where people already keep it.
 *
 * Nothing here decides whether a place holds a usable model: each
 * candidate goes through fa_model_check, which runs the engine's loaders
 * on the headers. This file only knows where to look: the hub cache's
 * layout (models--org--name/{refs,snapshots,blobs}), the folders the
 * caller names, and the file names ComfyUI users give the single files.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-model-find"

#include "config.h"

#include "fa-model-find.h"

#include <stdlib.h>
#include <string.h>

void
fa_model_candidate_free (FaModelCandidate *candidate)
{
  if (candidate == NULL)
    return;
  g_free (candidate->description);
  g_free (candidate->revision);
  fa_model_paths_clear (&candidate->paths);
  fa_model_report_free (candidate->report);
  g_free (candidate);
}

/* ---- the hub cache ---- */

const char *
fa_hf_env (const char *name)
{
  const char *value = g_getenv (name);

  return value != NULL && *value != '\0' ? value : NULL;
}

/* huggingface_hub expands a leading "~" in its paths; so do we. */
static char *
expand_home (const char *path)
{
  if (g_str_equal (path, "~"))
    return g_strdup (g_get_home_dir ());
  if (g_str_has_prefix (path, "~/"))
    return g_build_filename (g_get_home_dir (), path + 2, NULL);
  return g_strdup (path);
}

/* g_get_user_cache_dir () is read once per process; the environment is
 * read each time so that a changed variable counts. */
char *
fa_hf_home_dir (void)
{
  const char *value;

  if ((value = fa_hf_env ("HF_HOME")) != NULL)
    return expand_home (value);
  if ((value = fa_hf_env ("XDG_CACHE_HOME")) != NULL)
    {
      g_autofree char *cache = expand_home (value);
      return g_build_filename (cache, "huggingface", NULL);
    }
  return g_build_filename (g_get_home_dir (), ".cache", "huggingface", NULL);
}

char *
fa_hf_hub_cache_dir (void)
{
  const char *value = fa_hf_env ("HF_HUB_CACHE");

  if (value != NULL)
    return expand_home (value);
  g_autofree char *home = fa_hf_home_dir ();
  return g_build_filename (home, "hub", NULL);
}

/* "org/name" → <cache>/models--org--name */
char *
fa_hf_repo_dir (const char *cache_dir, const char *repo_id)
{
  g_auto (GStrv) parts = g_strsplit (repo_id, "/", -1);
  g_autofree char *joined = g_strjoinv ("--", parts);
  g_autofree char *name = g_strconcat ("models--", joined, NULL);

  return g_build_filename (cache_dir, name, NULL);
}

/* A ref or commit names a path below refs/ or snapshots/: nothing that
 * could climb out of them. */
gboolean
fa_hf_safe_relative_path (const char *name)
{
  if (name == NULL || *name == '\0' || g_path_is_absolute (name) || strchr (name, '\\') != NULL)
    return FALSE;
  g_auto (GStrv) parts = g_strsplit (name, "/", -1);
  for (char **p = parts; *p != NULL; p++)
    if (**p == '\0' || g_str_equal (*p, ".") || g_str_equal (*p, ".."))
      return FALSE;
  return TRUE;
}

/* The commit refs/@ref holds, or NULL. */
static char *
read_ref (const char *repo, const char *ref)
{
  if (!fa_hf_safe_relative_path (ref))
    return NULL;
  g_autofree char *path = g_build_filename (repo, "refs", ref, NULL);
  g_autofree char *contents = NULL;
  gsize length = 0;
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR) || !g_file_get_contents (path, &contents, &length, NULL))
    return NULL;
  g_strstrip (contents);
  if (strchr (contents, '/') != NULL || !fa_hf_safe_relative_path (contents))
    return NULL;
  return g_steal_pointer (&contents);
}

char *
fa_hf_snapshot_dir (const char *cache_dir, const char *repo_id, const char *revision)
{
  g_return_val_if_fail (cache_dir != NULL && repo_id != NULL, NULL);

  if (revision == NULL)
    revision = "main";
  g_autofree char *repo = fa_hf_repo_dir (cache_dir, repo_id);
  /* as huggingface_hub does: a ref name first, else the revision is the
   * commit itself */
  g_autofree char *commit = read_ref (repo, revision);
  if (commit == NULL)
    {
      if (strchr (revision, '/') != NULL || !fa_hf_safe_relative_path (revision))
        return NULL;
      commit = g_strdup (revision);
    }
  char *snapshot = g_build_filename (repo, "snapshots", commit, NULL);
  if (!g_file_test (snapshot, G_FILE_TEST_IS_DIR))
    g_clear_pointer (&snapshot, g_free);
  return snapshot;
}

/* Each ref file below refs/@relative (refs/main, refs/pr/1, …) into @by_commit as
 * commit → its "refs/<name>"s. */
static void
collect_refs (const char *repo, const char *relative, GHashTable *by_commit, int depth)
{
  g_autofree char *dir_path = g_build_filename (repo, "refs", relative, NULL);
  g_autoptr (GDir) dir = depth < 4 ? g_dir_open (dir_path, 0, NULL) : NULL;
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *ref = *relative != '\0' ? g_strconcat (relative, "/", name, NULL) : g_strdup (name);
      g_autofree char *path = g_build_filename (dir_path, name, NULL);

      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        {
          collect_refs (repo, ref, by_commit, depth + 1);
          continue;
        }
      g_autofree char *commit = read_ref (repo, ref);
      if (commit == NULL)
        continue;
      GPtrArray *refs = g_hash_table_lookup (by_commit, commit);
      if (refs == NULL)
        {
          refs = g_ptr_array_new_with_free_func (g_free);
          g_hash_table_insert (by_commit, g_strdup (commit), refs);
        }
      g_ptr_array_add (refs, g_strconcat ("refs/", ref, NULL));
    }
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Whether @refs holds refs/main. */
static gboolean
has_main (GPtrArray *refs)
{
  for (guint i = 0; refs != NULL && i < refs->len; i++)
    if (g_str_equal (g_ptr_array_index (refs, i), "refs/main"))
      return TRUE;
  return FALSE;
}

static FaModelCandidate *
candidate_new (FaModelSource source, char *description)
{
  FaModelCandidate *candidate = g_new0 (FaModelCandidate, 1);

  candidate->source = source;
  candidate->description = description;
  return candidate;
}

/* Every snapshot of @repo_id: refs/main's first, then the other refs',
 * then those no ref names, each group by commit. */
static void
find_hub_snapshots (const char *cache_dir, const char *repo_id, GPtrArray *out)
{
  g_autofree char *repo = fa_hf_repo_dir (cache_dir, repo_id);
  g_autofree char *snapshots = g_build_filename (repo, "snapshots", NULL);
  g_autoptr (GDir) dir = g_dir_open (snapshots, 0, NULL);
  g_autoptr (GHashTable) by_commit = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                            (GDestroyNotify) g_ptr_array_unref);
  g_autoptr (GPtrArray) commits = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  if (dir == NULL)
    return;
  collect_refs (repo, "", by_commit, 0);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (snapshots, name, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        g_ptr_array_add (commits, g_strdup (name));
    }
  g_ptr_array_sort (commits, compare_strings);

  for (int group = 0; group < 3; group++)
    for (guint i = 0; i < commits->len; i++)
      {
        const char *commit = g_ptr_array_index (commits, i);
        GPtrArray *refs = g_hash_table_lookup (by_commit, commit);
        int its_group = has_main (refs) ? 0 : refs != NULL ? 1 : 2;

        if (its_group != group)
          continue;
        g_autofree char *short_commit = g_strndup (commit, 8);
        g_autoptr (GString) description = g_string_new (NULL);
        g_string_append_printf (description, "Hugging Face cache, revision %s", short_commit);
        if (refs != NULL)
          {
            g_ptr_array_sort (refs, compare_strings);
            g_string_append (description, " (");
            for (guint r = 0; r < refs->len; r++)
              g_string_append_printf (description, "%s%s", r > 0 ? ", " : "",
                                      (const char *) g_ptr_array_index (refs, r));
            g_string_append (description, ")");
          }
        FaModelCandidate *candidate = candidate_new (FA_MODEL_SOURCE_HF_CACHE,
                                                     g_string_free (g_steal_pointer (&description), FALSE));
        candidate->revision = g_strdup (commit);
        candidate->paths.folder = g_build_filename (snapshots, commit, NULL);
        g_ptr_array_add (out, candidate);
      }
}

/* ---- ComfyUI ---- */

typedef struct {
  const char *const *folders; /* below models/, in ComfyUI's order */
  const char *what;           /* for the problem when nothing matches */
} ComfyPart;

/* ComfyUI reads diffusion models from unet/ too and text encoders from
 * clip/ too (their older names). */
static const ComfyPart comfy_parts[FA_MODEL_N_PARTS] = {
  [FA_MODEL_PART_TRANSFORMER] = { (const char *const[]) { "diffusion_models", "unet", NULL },
                                  "a Wan2.1 transformer (a name with \"wan\" and \"1.3b\" or \"t2v\")" },
  [FA_MODEL_PART_TEXT_ENCODER] = { (const char *const[]) { "text_encoders", "clip", NULL },
                                   "a umT5 text encoder (a name with \"umt5\")" },
  [FA_MODEL_PART_VAE] = { (const char *const[]) { "vae", NULL },
                          "a Wan2.1 VAE (a name with \"wan\" and \"vae\")" },
};

/* How well @name (lowercase) fits @part: 0 not at all, higher is better.
 * Names are a hint only; the check decides. */
static int
comfy_name_score (FaModelPart part, const char *name)
{
  if (!g_str_has_suffix (name, ".safetensors"))
    return 0;
  switch (part)
    {
    case FA_MODEL_PART_TRANSFORMER:
      if (strstr (name, "wan") == NULL)
        return 0;
      if (strstr (name, "1.3b") != NULL || strstr (name, "1_3b") != NULL)
        return strstr (name, "t2v") != NULL ? 3 : 2;
      return strstr (name, "t2v") != NULL ? 1 : 0;
    case FA_MODEL_PART_TEXT_ENCODER:
      return strstr (name, "umt5") != NULL ? 1 : 0;
    case FA_MODEL_PART_VAE:
      if (strstr (name, "wan") == NULL || strstr (name, "vae") == NULL)
        return 0;
      /* the Wan2.2 VAE is another model */
      return strstr (name, "2.1") != NULL || strstr (name, "2_1") != NULL ? 2 : 1;
    case FA_MODEL_PART_TOKENIZER:
    case FA_MODEL_N_PARTS:
    default:
      return 0;
    }
}

typedef struct {
  char *path;
  int score;
} ComfyFile;

static void
comfy_file_free (ComfyFile *file)
{
  g_free (file->path);
  g_free (file);
}

static int
compare_comfy_files (gconstpointer a, gconstpointer b)
{
  const ComfyFile *fa = *(const ComfyFile *const *) a;
  const ComfyFile *fb = *(const ComfyFile *const *) b;

  if (fa->score != fb->score)
    return fb->score - fa->score;
  return strcmp (fa->path, fb->path);
}

/* The files of @models that may be @part, best names first. */
static GPtrArray *
comfy_files (const char *models, FaModelPart part)
{
  GPtrArray *files = g_ptr_array_new_with_free_func ((GDestroyNotify) comfy_file_free);

  for (const char *const *folder = comfy_parts[part].folders; *folder != NULL; folder++)
    {
      g_autofree char *dir_path = g_build_filename (models, *folder, NULL);
      g_autoptr (GDir) dir = g_dir_open (dir_path, 0, NULL);
      const char *name;

      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *lower = g_utf8_strdown (name, -1);
          int score = comfy_name_score (part, lower);
          if (score == 0)
            continue;
          ComfyFile *file = g_new0 (ComfyFile, 1);
          file->path = g_build_filename (dir_path, name, NULL);
          file->score = score;
          g_ptr_array_add (files, file);
        }
    }
  g_ptr_array_sort (files, compare_comfy_files);
  return files;
}

static char **
paths_slot (FaModelPaths *paths, FaModelPart part)
{
  switch (part)
    {
    case FA_MODEL_PART_TRANSFORMER:
      return &paths->transformer;
    case FA_MODEL_PART_TEXT_ENCODER:
      return &paths->text_encoder;
    case FA_MODEL_PART_TOKENIZER:
      return &paths->tokenizer;
    case FA_MODEL_PART_VAE:
      return &paths->vae;
    case FA_MODEL_N_PARTS:
    default:
      g_assert_not_reached ();
    }
}

/* The first of @files that checks as @part, else the first (whose check
 * then says what is wrong); NULL when @files is empty. */
static char *
comfy_pick (GPtrArray *files, FaModelPart part, GCancellable *cancellable)
{
  if (files->len == 0)
    return NULL;
  for (guint i = 0; files->len > 1 && i < files->len; i++)
    {
      const ComfyFile *file = g_ptr_array_index (files, i);
      g_auto (FaModelPaths) alone = { 0 };
      *paths_slot (&alone, part) = g_strdup (file->path);
      g_autoptr (FaModelReport) report = fa_model_check (&alone, cancellable);
      if (report->parts[part].found)
        return g_strdup (file->path);
    }
  return g_strdup (((const ComfyFile *) g_ptr_array_index (files, 0))->path);
}

/* @root's models/ folder: @root/models, or @root itself when it is one. */
static char *
comfy_models_dir (const char *root)
{
  g_autofree char *models = g_build_filename (root, "models", NULL);

  if (g_file_test (models, G_FILE_TEST_IS_DIR))
    return g_steal_pointer (&models);
  if (g_file_test (root, G_FILE_TEST_IS_DIR))
    return g_strdup (root);
  return NULL;
}

#define COMFY_NO_TOKENIZER \
  "ComfyUI keeps no tokenizer.json; the tokenizer/ folder of " FA_MODEL_REPO_ID " is needed " \
  "(download it into the Hugging Face cache)"

/* A candidate for the ComfyUI root @root, or NULL when it holds none of
 * the files. @tokenizer is a tokenizer found elsewhere, or NULL. */
static FaModelCandidate *
find_comfyui (const char *root, const char *tokenizer, GCancellable *cancellable)
{
  g_autofree char *models = comfy_models_dir (root);
  char *picked[FA_MODEL_N_PARTS] = { NULL };
  gboolean any = FALSE;

  if (models == NULL)
    return NULL;
  for (int part = 0; part < FA_MODEL_N_PARTS; part++)
    {
      if (part == FA_MODEL_PART_TOKENIZER)
        continue;
      g_autoptr (GPtrArray) files = comfy_files (models, part);
      picked[part] = comfy_pick (files, part, cancellable);
      any = any || picked[part] != NULL;
    }
  if (!any)
    return NULL;

  FaModelCandidate *candidate = candidate_new (FA_MODEL_SOURCE_COMFYUI,
                                               tokenizer != NULL
                                               ? g_strdup_printf ("ComfyUI models in %s (tokenizer from %s)",
                                                                  models, tokenizer)
                                               : g_strdup_printf ("ComfyUI models in %s", models));
  candidate->paths.transformer = g_steal_pointer (&picked[FA_MODEL_PART_TRANSFORMER]);
  candidate->paths.text_encoder = g_steal_pointer (&picked[FA_MODEL_PART_TEXT_ENCODER]);
  candidate->paths.vae = g_steal_pointer (&picked[FA_MODEL_PART_VAE]);
  candidate->paths.tokenizer = g_strdup (tokenizer);
  candidate->report = fa_model_check (&candidate->paths, cancellable);

  /* The check's own words ("not set: choose the model folder …") would
   * send a ComfyUI user looking for a folder; say what is missing there. */
  for (int part = 0; part < FA_MODEL_N_PARTS; part++)
    {
      FaModelPartReport *p = &candidate->report->parts[part];
      if (p->found || *paths_slot (&candidate->paths, part) != NULL)
        continue;
      g_free (p->problem);
      if (part == FA_MODEL_PART_TOKENIZER)
        p->problem = g_strdup (COMFY_NO_TOKENIZER);
      else
        {
          g_autofree char *folders = g_strjoinv ("/, ", (char **) comfy_parts[part].folders);
          p->problem = g_strdup_printf ("no %s in %s (looked in %s/)", comfy_parts[part].what, models, folders);
        }
    }
  return candidate;
}

/* ---- all together ---- */

/* The same folder named twice (FLOWANCHOR_MODEL_DIR and --folder, or a
 * link to a snapshot) is one candidate. */
static char *
real_path (const char *path)
{
  char *resolved = realpath (path, NULL);

  if (resolved != NULL)
    {
      char *copy = g_strdup (resolved);
      free (resolved);
      return copy;
    }
  return g_canonicalize_filename (path, NULL);
}

static gboolean
folder_seen (GPtrArray *candidates, const char *folder)
{
  g_autofree char *real = real_path (folder);

  for (guint i = 0; i < candidates->len; i++)
    {
      const FaModelCandidate *c = g_ptr_array_index (candidates, i);
      if (c->paths.folder == NULL)
        continue;
      g_autofree char *other = real_path (c->paths.folder);
      if (g_str_equal (real, other))
        return TRUE;
    }
  return FALSE;
}

/* A tokenizer one of @candidates found, for ComfyUI's files. */
static const char *
found_tokenizer (GPtrArray *candidates)
{
  for (guint i = 0; i < candidates->len; i++)
    {
      const FaModelCandidate *c = g_ptr_array_index (candidates, i);
      if (c->report != NULL && c->report->parts[FA_MODEL_PART_TOKENIZER].found)
        return c->report->parts[FA_MODEL_PART_TOKENIZER].path;
    }
  return NULL;
}

GPtrArray *
fa_model_find (const char *const *folders, const char *const *comfyui_roots, GCancellable *cancellable)
{
  g_autoptr (GPtrArray) found = g_ptr_array_new_with_free_func ((GDestroyNotify) fa_model_candidate_free);
  g_autofree char *cache_dir = fa_hf_hub_cache_dir ();

  find_hub_snapshots (cache_dir, FA_MODEL_REPO_ID, found);
  for (const char *const *folder = folders; folder != NULL && *folder != NULL; folder++)
    {
      if (**folder == '\0' || folder_seen (found, *folder))
        continue;
      FaModelCandidate *candidate = candidate_new (FA_MODEL_SOURCE_FOLDER, g_strdup_printf ("folder %s", *folder));
      candidate->paths.folder = g_strdup (*folder);
      g_ptr_array_add (found, candidate);
    }
  for (guint i = 0; i < found->len; i++)
    {
      FaModelCandidate *candidate = g_ptr_array_index (found, i);
      candidate->report = fa_model_check (&candidate->paths, cancellable);
    }

  const char *tokenizer = found_tokenizer (found);
  g_autoptr (GPtrArray) comfy = g_ptr_array_new ();
  for (const char *const *root = comfyui_roots; root != NULL && *root != NULL; root++)
    {
      if (**root == '\0')
        continue;
      FaModelCandidate *candidate = find_comfyui (*root, tokenizer, cancellable);
      if (candidate != NULL)
        g_ptr_array_add (comfy, candidate);
    }
  g_ptr_array_extend_and_steal (found, g_steal_pointer (&comfy));

  /* complete ones first, each group in the order found */
  GPtrArray *ordered = g_ptr_array_new_with_free_func ((GDestroyNotify) fa_model_candidate_free);
  for (int complete = 1; complete >= 0; complete--)
    for (guint i = 0; i < found->len; i++)
      {
        FaModelCandidate *candidate = g_ptr_array_index (found, i);
        if (candidate != NULL && candidate->report->complete == complete)
          {
            g_ptr_array_add (ordered, candidate);
            found->pdata[i] = NULL;
          }
      }
  return ordered;
}
