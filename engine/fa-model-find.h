/* fa-model-find.h: finding Wan2.1-T2V-1.3B where people already keep it
 * (issue 11, "Find"): the Hugging Face hub cache the Python libraries
 * share, folders the user named, and ComfyUI's models/ folders; each
 * candidate checked with fa_model_check (no weights loaded).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "fa-model-check.h"

G_BEGIN_DECLS

/* The diffusers repository the app uses. */
#define FA_MODEL_REPO_ID "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"

typedef enum {
  FA_MODEL_SOURCE_HF_CACHE, /* a snapshot in the hub cache */
  FA_MODEL_SOURCE_FOLDER,   /* a folder the caller named (the app's setting, FLOWANCHOR_MODEL_DIR) */
  FA_MODEL_SOURCE_COMFYUI,  /* single files under a ComfyUI models/ folder */
} FaModelSource;

typedef struct {
  FaModelSource source;
  char *description;    /* e.g. "Hugging Face cache, revision 0123abcd (refs/main)" */
  char *revision;       /* the snapshot's commit for the hub cache; NULL otherwise */
  FaModelPaths paths;   /* what fa_model_load_paths takes */
  FaModelReport *report;
} FaModelCandidate;

void fa_model_candidate_free (FaModelCandidate *candidate);

/* An environment variable that is set and not empty, else NULL. */
const char *fa_hf_env (const char *name);
/* huggingface_hub's home: $HF_HOME, else $XDG_CACHE_HOME/huggingface, else
 * ~/.cache/huggingface (a leading "~" expanded). Never NULL. */
char      *fa_hf_home_dir (void);
/* The hub cache folder, as huggingface_hub decides it: $HF_HUB_CACHE, else
 * $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
 * ~/.cache/huggingface/hub. Never NULL (the folder may not exist). */
char      *fa_hf_hub_cache_dir (void);
/* CACHE_DIR/models--org--name for "org/name". */
char      *fa_hf_repo_dir (const char *cache_dir, const char *repo_id);
/* Whether @name (a ref, commit or repository path) is relative and has no
 * empty, "." or ".." part: nothing that could climb out of its folder. */
gboolean   fa_hf_safe_relative_path (const char *name);
/* The snapshot folder of @repo_id (e.g. FA_MODEL_REPO_ID) in @cache_dir at
 * @revision (a commit hash, or a ref name such as "main" read from refs/),
 * or NULL when it is not there. */
char      *fa_hf_snapshot_dir (const char *cache_dir, const char *repo_id, const char *revision);

/* Every candidate found: each snapshot of FA_MODEL_REPO_ID in the hub
 * cache (refs/main's first), each of @folders (NULL-terminated, may be
 * NULL), and each ComfyUI root in @comfyui_roots (the folder holding
 * models/, or models/ itself) with a Wan2.1 1.3B transformer, a umT5 text
 * encoder and a Wan2.1 VAE file (a tokenizer from the hub cache's
 * snapshot when there is one). Complete candidates come first, in that
 * order. An array of FaModelCandidate*, empty when nothing was found. */
GPtrArray *fa_model_find (const char *const *folders, const char *const *comfyui_roots,
                          GCancellable *cancellable);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaModelCandidate, fa_model_candidate_free)

G_END_DECLS
