/* fa-model-check.h: whether a place holds a usable Wan2.1 T2V model, found
 * by the engine's own loaders without loading the weights: every part
 * present, every tensor there with the right shape and a dtype the engine
 * reads. What the preferences list as found and missing, and what the app
 * checks before Preview and Edit.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "fa-job.h"

G_BEGIN_DECLS

/* Where the parts are: a diffusers pipeline folder, or single files
 * (original or ComfyUI checkpoints). Any path set here overrides the
 * folder's part. */
typedef struct {
  char *folder;        /* transformer/, text_encoder/, tokenizer/, vae/; may be NULL */
  char *transformer;   /* a single DiT checkpoint (.safetensors); may be NULL */
  char *text_encoder;  /* a single umT5 checkpoint; may be NULL */
  char *tokenizer;     /* a tokenizer folder or tokenizer.json; may be NULL */
  char *vae;           /* a single VAE checkpoint; may be NULL */
} FaModelPaths;

void fa_model_paths_clear (FaModelPaths *paths);

typedef enum {
  FA_MODEL_PART_TRANSFORMER,
  FA_MODEL_PART_TEXT_ENCODER,
  FA_MODEL_PART_TOKENIZER,
  FA_MODEL_PART_VAE,
  FA_MODEL_N_PARTS
} FaModelPart;

typedef struct {
  gboolean found;     /* the part is there and complete */
  char *path;         /* where it was looked for or found (NULL: nowhere to look) */
  char *summary;      /* found: e.g. "30 blocks, dim 1536, bf16, 1.42 GB"; else NULL */
  char *problem;      /* not found: what is missing or wrong, naming the file; else NULL */
} FaModelPartReport;

typedef struct {
  FaModelPartReport parts[FA_MODEL_N_PARTS];
  gboolean complete;  /* every part found */
} FaModelReport;

const char    *fa_model_part_get_name (FaModelPart part); /* "transformer", "text encoder", … */
/* Checks each part (never fails as a whole: problems go into the report). */
FaModelReport *fa_model_check (const FaModelPaths *paths, GCancellable *cancellable);
void           fa_model_report_free (FaModelReport *report);
/* One line per part, for the CLI and the app's explanation. */
char          *fa_model_report_to_string (const FaModelReport *report);

/* fa_model_load for @paths (folder or single files). */
FaModel       *fa_model_load_paths (const FaModelPaths *paths, FaBackend *backend, FaBackend *text_backend,
                                    GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FaModelReport, fa_model_report_free)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (FaModelPaths, fa_model_paths_clear)

G_END_DECLS
