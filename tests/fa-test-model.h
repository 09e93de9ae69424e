/* fa-test-model.h: test models in the shapes people keep them, made from
 * the tiny diffusers model (tests/data/wan-tiny).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "fa-safetensors.h"
#include "fa-tensor.h"

/* The tiny text encoder's shards as one file, as ComfyUI keeps it. */
static inline void
fa_test_write_single_text_encoder (const char *tiny_dir, const char *path)
{
  static const char *const shards[] = { "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                                        "model-00003-of-00003.safetensors" };
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func ((GDestroyNotify) fa_safetensors_unref);
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  g_autoptr (GPtrArray) tensors = g_ptr_array_new_with_free_func ((GDestroyNotify) fa_tensor_unref);
  g_autoptr (GError) error = NULL;

  for (guint s = 0; s < G_N_ELEMENTS (shards); s++)
    {
      g_autofree char *shard = g_build_filename (tiny_dir, "text_encoder", shards[s], NULL);
      FaSafetensors *file = fa_safetensors_open (shard, &error);
      g_assert_no_error (error);
      g_ptr_array_add (files, file);
      for (guint i = 0; i < fa_safetensors_get_n_tensors (file); i++)
        {
          const FaSafetensorsEntry *entry = fa_safetensors_get_entry (file, i);
          FaTensor *tensor = fa_safetensors_view_tensor (file, entry, &error);
          g_assert_no_error (error);
          g_ptr_array_add (names, (gpointer) entry->name);
          g_ptr_array_add (tensors, tensor);
        }
    }
  fa_safetensors_write (path, names->len, (const char *const *) names->pdata,
                        (FaTensor *const *) tensors->pdata, NULL, &error);
  g_assert_no_error (error);
}
