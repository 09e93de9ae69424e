/* fa-model-check.c: placeholder until its owner fills it in.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "fa-model-check.h"

void fa_model_paths_clear (FaModelPaths *paths) { g_clear_pointer (&paths->folder, g_free); g_clear_pointer (&paths->transformer, g_free);
  g_clear_pointer (&paths->text_encoder, g_free); g_clear_pointer (&paths->tokenizer, g_free); g_clear_pointer (&paths->vae, g_free); }
const char *fa_model_part_get_name (FaModelPart part) { (void) part; return "part"; }
FaModelReport *fa_model_check (const FaModelPaths *paths, GCancellable *cancellable) { (void) paths; (void) cancellable; return g_new0 (FaModelReport, 1); }
void fa_model_report_free (FaModelReport *report) { g_free (report); }
char *fa_model_report_to_string (const FaModelReport *report) { (void) report; return g_strdup (""); }
FaModel *fa_model_load_paths (const FaModelPaths *paths, FaBackend *backend, FaBackend *text_backend, GError **error)
{ return fa_model_load (paths->folder, backend, text_backend, error); }
