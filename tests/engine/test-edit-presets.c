/* test-edit-presets.c: the side panel's named parameter sets: each is a
 * valid set, applying one changes only its own fields, find() names the
 * preset a set matches (and nothing for a custom set), and the strength.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-edit-presets"

#include <string.h>

#include <glib.h>

#include "fa-edit-presets.h"

/* A set with every field away from its default, so that a field a preset
 * should not touch but does shows up. */
static void
init_unusual (FaEditParams *params)
{
  fa_edit_params_init (params);
  params->steps = 40;
  params->n_max = 30;
  params->n_min = 3;
  params->n_avg = 2;
  params->shift = 3.0f;
  params->cfg_source = 4.0f;
  params->cfg_target = 9.0f;
  params->sar = FALSE;
  params->tau = 0.4f;
  params->beta1 = 0.1f;
  params->beta2 = 0.9f;
  params->amm = FALSE;
  params->gamma = 2.0f;
  params->gamma_frames = 9;
  params->mask_dilation = 7;
  params->blend_background = TRUE;
  params->blend_strength = 0.25f;
  params->seed = G_GUINT64_CONSTANT (0x123456789abcdef0);
}

static void
test_valid (void)
{
  for (int k = 0; k < FA_EDIT_N_PRESETS; k++)
    {
      g_autoptr (GError) error = NULL;
      FaEditParams params;

      fa_edit_params_init (&params);
      fa_edit_preset_apply (k, &params);
      g_assert_true (fa_edit_params_check (&params, &error));
      g_assert_no_error (error);

      /* from a set whose n_min the preset's n_max would leave behind, the
       * result is still valid */
      init_unusual (&params);
      params.n_min = params.n_max;
      fa_edit_preset_apply (k, &params);
      g_assert_true (fa_edit_params_check (&params, &error));
      g_assert_no_error (error);
      g_assert_cmpint (params.n_min, <=, params.n_max);
    }
}

static void
test_default_is_spec (void)
{
  FaEditParams spec, params;

  fa_edit_params_init (&spec);
  init_unusual (&params);
  fa_edit_preset_apply (FA_EDIT_PRESET_DEFAULT, &params);
  g_assert_cmpint (params.steps, ==, spec.steps);
  g_assert_cmpint (params.n_max, ==, spec.n_max);
  g_assert_cmpfloat (params.cfg_source, ==, spec.cfg_source);
  g_assert_cmpfloat (params.cfg_target, ==, spec.cfg_target);
  g_assert_cmpfloat (params.beta1, ==, spec.beta1);
  g_assert_cmpfloat (params.beta2, ==, spec.beta2);
  g_assert_cmpfloat (params.tau, ==, spec.tau);
  g_assert_cmpfloat (params.gamma, ==, spec.gamma);
  g_assert_cmpint (fa_edit_preset_find (&spec), ==, FA_EDIT_PRESET_DEFAULT);
}

/* What each preset is for: Strong moves further from the source than the
 * default, Subtle less far, on every knob that sets how far. */
static void
test_directions (void)
{
  FaEditParams def, strong, subtle;

  fa_edit_params_init (&def);
  strong = subtle = def;
  fa_edit_preset_apply (FA_EDIT_PRESET_STRONG, &strong);
  fa_edit_preset_apply (FA_EDIT_PRESET_SUBTLE, &subtle);

  g_assert_cmpfloat (fa_edit_params_get_strength (&strong), >, fa_edit_params_get_strength (&def));
  g_assert_cmpfloat (fa_edit_params_get_strength (&subtle), <, fa_edit_params_get_strength (&def));
  g_assert_cmpfloat (strong.cfg_target, >, def.cfg_target);
  g_assert_cmpfloat (subtle.cfg_target, <, def.cfg_target);
  g_assert_cmpfloat (strong.beta1, >, def.beta1);
  g_assert_cmpfloat (strong.beta2, >, def.beta2);
  g_assert_cmpfloat (subtle.beta1, <, def.beta1);
  g_assert_cmpfloat (subtle.beta2, <, def.beta2);
  g_assert_cmpfloat (strong.gamma, >, def.gamma);
  g_assert_cmpfloat (subtle.gamma, <, def.gamma);
  /* SAR runs while σ ≥ τ: a lower τ anchors for more steps */
  g_assert_cmpfloat (strong.tau, <, def.tau);
  g_assert_cmpfloat (subtle.tau, >, def.tau);
}

static void
test_apply_keeps_the_rest (void)
{
  for (int k = 0; k < FA_EDIT_N_PRESETS; k++)
    {
      FaEditParams before, after;

      init_unusual (&before);
      after = before;
      fa_edit_preset_apply (k, &after);

      g_assert_cmpuint (after.seed, ==, before.seed);
      g_assert_cmpint (after.n_min, ==, before.n_min);
      g_assert_cmpint (after.n_avg, ==, before.n_avg);
      g_assert_cmpfloat (after.shift, ==, before.shift);
      g_assert_cmpint (after.sar, ==, before.sar);
      g_assert_cmpint (after.amm, ==, before.amm);
      g_assert_cmpint (after.gamma_frames, ==, before.gamma_frames);
      g_assert_cmpint (after.mask_dilation, ==, before.mask_dilation);
      g_assert_cmpint (after.blend_background, ==, before.blend_background);
      g_assert_cmpfloat (after.blend_strength, ==, before.blend_strength);

      /* and the preset's own fields did change from the unusual set */
      g_assert_cmpint (after.steps, !=, before.steps);
      g_assert_cmpfloat (after.cfg_target, !=, before.cfg_target);
    }
}

static void
test_find (void)
{
  FaEditParams params;

  for (int k = 0; k < FA_EDIT_N_PRESETS; k++)
    {
      init_unusual (&params);
      g_assert_cmpint (fa_edit_preset_find (&params), ==, -1);
      fa_edit_preset_apply (k, &params);
      /* the fields a preset does not set do not matter */
      g_assert_cmpint (fa_edit_preset_find (&params), ==, k);

      /* a value that went through a project file in decimal still matches */
      g_autofree char *text = g_strdup_printf ("%.6g", (double) params.beta1);
      params.beta1 = (float) g_ascii_strtod (text, NULL);
      g_assert_cmpint (fa_edit_preset_find (&params), ==, k);
    }

  /* one field off on each preset makes a custom set */
  for (int k = 0; k < FA_EDIT_N_PRESETS; k++)
    {
      for (int field = 0; field < 8; field++)
        {
          fa_edit_params_init (&params);
          fa_edit_preset_apply (k, &params);
          switch (field)
            {
            case 0: params.steps += 1; break;
            case 1: params.n_max -= 1; break;
            case 2: params.cfg_source += 0.5f; break;
            case 3: params.cfg_target += 0.5f; break;
            case 4: params.beta1 += 0.05f; break;
            case 5: params.beta2 -= 0.05f; break;
            case 6: params.tau -= 0.05f; break;
            default: params.gamma += 0.1f; break;
            }
          g_assert_cmpint (fa_edit_preset_find (&params), ==, -1);
        }
    }
}

static void
test_names (void)
{
  g_autoptr (GHashTable) ids = g_hash_table_new (g_str_hash, g_str_equal);

  g_assert_cmpstr (fa_edit_preset_get_id (FA_EDIT_PRESET_DEFAULT), ==, "default");
  g_assert_cmpstr (fa_edit_preset_get_id (FA_EDIT_PRESET_STRONG), ==, "strong");
  g_assert_cmpstr (fa_edit_preset_get_id (FA_EDIT_PRESET_SUBTLE), ==, "subtle");
  g_assert_cmpstr (fa_edit_preset_get_name (FA_EDIT_PRESET_DEFAULT), ==, "Default");
  g_assert_cmpstr (fa_edit_preset_get_name (FA_EDIT_PRESET_STRONG), ==, "Strong edit");
  g_assert_cmpstr (fa_edit_preset_get_name (FA_EDIT_PRESET_SUBTLE), ==, "Subtle");
  for (int k = 0; k < FA_EDIT_N_PRESETS; k++)
    g_assert_true (g_hash_table_add (ids, (gpointer) fa_edit_preset_get_id (k)));
}

static void
test_strength (void)
{
  FaEditParams params;

  fa_edit_params_init (&params);
  g_assert_cmpfloat_with_epsilon (fa_edit_params_get_strength (&params), 23.0 / 25.0, 1e-12);
  params.steps = 50;
  params.n_max = 35; /* FiVE-Bench's Wan-Edit baseline: 15 skipped */
  g_assert_cmpfloat_with_epsilon (fa_edit_params_get_strength (&params), 0.7, 1e-12);
  params.n_max = 50;
  g_assert_cmpfloat (fa_edit_params_get_strength (&params), ==, 1.0);
  params.steps = 1;
  params.n_max = 1;
  g_assert_cmpfloat (fa_edit_params_get_strength (&params), ==, 1.0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/edit-presets/valid", test_valid);
  g_test_add_func ("/edit-presets/default-is-spec", test_default_is_spec);
  g_test_add_func ("/edit-presets/directions", test_directions);
  g_test_add_func ("/edit-presets/apply-keeps-the-rest", test_apply_keeps_the_rest);
  g_test_add_func ("/edit-presets/find", test_find);
  g_test_add_func ("/edit-presets/names", test_names);
  g_test_add_func ("/edit-presets/strength", test_strength);
  return g_test_run ();
}
