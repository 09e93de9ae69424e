/* test-edit-panel.c: the prompts and parameters of the side panel under a
 * real display, bound to a document opened on the sample clip: typing
 * the prompts, the highlighted target words and toggling them, the
 * parameter rows, presets and resets, the seed, the edit format, changes
 * made to the document elsewhere, and no document at all.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "test-edit-panel"

#include "config.h"

#include <string.h>

#include <adwaita.h>

#include "fa-document-edit.h"
#include "fa-edit-panel.h"
#include "fa-app-test-util.h"

#define WAIT_SECONDS 30
#define wait_for(condition, data) fa_test_wait_for ((condition), (data), WAIT_SECONDS)

typedef struct {
  GtkWindow *window;
  FaEditPanel *panel;
  FaDocument *document;
} Fixture;

static gboolean
widget_is_ready (gpointer data)
{
  return gtk_widget_get_mapped (GTK_WIDGET (data)) && gtk_widget_get_width (GTK_WIDGET (data)) > 0;
}

static FaDocument *
open_sample (void)
{
  g_autoptr (GError) error = NULL;
  const char *clip = g_getenv ("FA_SAMPLE_CLIP");

  g_assert_nonnull (clip);
  FaDocument *document = fa_document_open (clip, NULL, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (document);
  return document;
}

static void
fixture_set_up (Fixture      *fixture,
                gconstpointer data)
{
  (void) data;
  fixture->document = open_sample ();
  fixture->panel = FA_EDIT_PANEL (fa_edit_panel_new ());
  fixture->window = GTK_WINDOW (gtk_window_new ());
  /* the width the window's side panel gives it */
  gtk_window_set_default_size (fixture->window, 320, 900);
  gtk_window_set_child (fixture->window, GTK_WIDGET (fixture->panel));
  gtk_window_present (fixture->window);
  g_assert_true (wait_for (widget_is_ready, fixture->panel));
  fa_edit_panel_set_document (fixture->panel, fixture->document);
  g_assert_true (fa_edit_panel_get_document (fixture->panel) == fixture->document);
}

static void
fixture_tear_down (Fixture      *fixture,
                   gconstpointer data)
{
  gpointer weak = fixture->panel;

  (void) data;
  g_object_add_weak_pointer (G_OBJECT (fixture->panel), &weak);
  gtk_window_destroy (fixture->window);
  g_assert_true (wait_for (fa_test_pointer_is_cleared, &weak));
  /* the panel let go of the document: a change now reaches no one */
  fa_document_set_prompts (fixture->document, "after", "the panel", NULL);
  g_object_unref (fixture->document);
}

static gpointer
child (Fixture    *fixture,
       const char *name)
{
  GObject *object = gtk_widget_get_template_child (GTK_WIDGET (fixture->panel), FA_TYPE_EDIT_PANEL, name);

  g_assert_nonnull (object);
  return object;
}

static char *
buffer_text (GtkTextBuffer *buffer)
{
  GtkTextIter start, end;

  gtk_text_buffer_get_bounds (buffer, &start, &end);
  return gtk_text_buffer_get_text (buffer, &start, &end, FALSE);
}

static void
assert_strv (const char *const *got,
             const char *const *expected)
{
  g_assert_nonnull (got);
  g_assert_cmpuint (g_strv_length ((char **) got), ==, g_strv_length ((char **) expected));
  for (guint k = 0; expected[k] != NULL; k++)
    g_assert_cmpstr (got[k], ==, expected[k]);
}

/* The target words the panel reports, as a space-separated list. */
static char *
target_words (FaEditPanel *panel)
{
  g_auto (GStrv) words = fa_edit_panel_dup_words (panel);
  GString *picked = g_string_new (NULL);

  for (guint k = 0; words[k] != NULL; k++)
    if (fa_edit_panel_word_is_target (panel, k))
      g_string_append_printf (picked, "%s%s", picked->len > 0 ? " " : "", words[k]);
  return g_string_free (picked, FALSE);
}

/* The characters of the target buffer that carry the highlight, as the
 * text they spell (others as '.'). */
static char *
highlighted (FaEditPanel *panel)
{
  GtkTextBuffer *buffer = fa_edit_panel_get_target_buffer (panel);
  GtkTextTag *tag = gtk_text_tag_table_lookup (gtk_text_buffer_get_tag_table (buffer), "fa-target-word");
  GString *out = g_string_new (NULL);
  GtkTextIter iter;

  g_assert_nonnull (tag);
  for (gtk_text_buffer_get_start_iter (buffer, &iter); !gtk_text_iter_is_end (&iter); gtk_text_iter_forward_char (&iter))
    {
      if (gtk_text_iter_has_tag (&iter, tag))
        g_string_append_unichar (out, gtk_text_iter_get_char (&iter));
      else
        g_string_append_c (out, '.');
    }
  return g_string_free (out, FALSE);
}

static void
type_prompts (Fixture    *fixture,
              const char *source,
              const char *target)
{
  gtk_text_buffer_set_text (fa_edit_panel_get_source_buffer (fixture->panel), source, -1);
  gtk_text_buffer_set_text (fa_edit_panel_get_target_buffer (fixture->panel), target, -1);
}

static void
count_signal (gpointer instance,
              gpointer data)
{
  (void) instance;
  (*(int *) data)++;
}

/* ---- prompts ---- */

static void
test_prompts (Fixture      *fixture,
              gconstpointer data)
{
  (void) data;
  g_assert_cmpstr (fa_document_get_source_prompt (fixture->document), ==, "");
  g_assert_false (fa_document_get_modified (fixture->document));

  type_prompts (fixture, "a red ball on the grass", "a blue cube on the grass");
  g_assert_cmpstr (fa_document_get_source_prompt (fixture->document), ==, "a red ball on the grass");
  g_assert_cmpstr (fa_document_get_target_prompt (fixture->document), ==, "a blue cube on the grass");
  g_assert_null (fa_document_get_target_words (fixture->document));
  g_assert_true (fa_document_get_modified (fixture->document));

  g_auto (GStrv) words = fa_edit_panel_dup_words (fixture->panel);
  const char *const expected[] = { "a", "blue", "cube", "on", "the", "grass", NULL };
  assert_strv ((const char *const *) words, expected);
  g_autofree char *picked = target_words (fixture->panel);
  g_assert_cmpstr (picked, ==, "blue cube");
  g_autofree char *marks = highlighted (fixture->panel);
  g_assert_cmpstr (marks, ==, "..blue.cube.............");

  /* the words are the cleaned prompt's; the highlight lands on the raw
   * text however it is spaced */
  gtk_text_buffer_set_text (fa_edit_panel_get_target_buffer (fixture->panel), "  a blue\n\ncube  on the grass ", -1);
  g_assert_cmpstr (fa_document_get_target_prompt (fixture->document), ==, "  a blue\n\ncube  on the grass ");
  g_auto (GStrv) spaced = fa_edit_panel_dup_words (fixture->panel);
  assert_strv ((const char *const *) spaced, expected);
  g_autofree char *spaced_picked = target_words (fixture->panel);
  g_assert_cmpstr (spaced_picked, ==, "blue cube");
  g_autofree char *spaced_marks = highlighted (fixture->panel);
  g_assert_cmpstr (spaced_marks, ==, "....blue..cube...............");

  /* an added word is a target word too; the same words are none */
  gtk_text_buffer_set_text (fa_edit_panel_get_target_buffer (fixture->panel), "a red ball on the green grass", -1);
  g_autofree char *inserted = target_words (fixture->panel);
  g_assert_cmpstr (inserted, ==, "green");
  gtk_text_buffer_set_text (fa_edit_panel_get_target_buffer (fixture->panel), "a red ball on the grass", -1);
  g_autofree char *same = target_words (fixture->panel);
  g_assert_cmpstr (same, ==, "");
  g_autofree char *no_marks = highlighted (fixture->panel);
  g_assert_cmpstr (no_marks, ==, ".......................");
}

static void
record_target (FaDocument *document,
               gpointer    data)
{
  g_ptr_array_add (data, g_strdup (fa_document_get_target_prompt (document)));
}

/* A key press is one change of the document, even when it replaces a
 * selection (a deletion and an insertion). */
static void
test_typing (Fixture      *fixture,
             gconstpointer data)
{
  GtkTextBuffer *buffer = fa_edit_panel_get_target_buffer (fixture->panel);
  g_autoptr (GPtrArray) seen = g_ptr_array_new_with_free_func (g_free);
  const char *typed = "a cube";
  GtkTextIter start, end;

  (void) data;
  gtk_text_buffer_set_text (fa_edit_panel_get_source_buffer (fixture->panel), "a ball", -1);
  g_signal_connect (fixture->document, "edit-changed", G_CALLBACK (record_target), seen);
  for (const char *c = typed; *c != '\0'; c++)
    {
      gtk_text_buffer_begin_user_action (buffer);
      gtk_text_buffer_insert_interactive_at_cursor (buffer, c, 1, TRUE);
      gtk_text_buffer_end_user_action (buffer);
      g_autofree char *so_far = g_strndup (typed, c - typed + 1);
      g_assert_cmpstr (fa_document_get_target_prompt (fixture->document), ==, so_far);
    }
  g_assert_cmpuint (seen->len, ==, strlen (typed));

  /* select "cube", type "b" over it */
  gtk_text_buffer_get_iter_at_offset (buffer, &start, 2);
  gtk_text_buffer_get_end_iter (buffer, &end);
  gtk_text_buffer_select_range (buffer, &start, &end);
  gtk_text_buffer_begin_user_action (buffer);
  gtk_text_buffer_delete_selection (buffer, TRUE, TRUE);
  gtk_text_buffer_insert_interactive_at_cursor (buffer, "b", 1, TRUE);
  gtk_text_buffer_end_user_action (buffer);
  g_assert_cmpstr (fa_document_get_target_prompt (fixture->document), ==, "a b");
  g_assert_cmpuint (seen->len, ==, strlen (typed) + 1);
  g_assert_cmpstr (g_ptr_array_index (seen, seen->len - 1), ==, "a b");
  g_signal_handlers_disconnect_by_func (fixture->document, record_target, seen);
}

/* ---- target words ---- */

static void
test_toggle_words (Fixture      *fixture,
                   gconstpointer data)
{
  GtkWidget *reset = child (fixture, "words_reset_button");
  const char *const *words;

  (void) data;
  type_prompts (fixture, "a red ball on the grass", "a blue cube on the grass");
  g_assert_false (gtk_widget_get_visible (reset));

  fa_edit_panel_toggle_word (fixture->panel, 2); /* cube off */
  const char *const blue[] = { "blue", NULL };
  assert_strv (fa_document_get_target_words (fixture->document), blue);
  g_assert_true (fa_edit_panel_word_is_target (fixture->panel, 1));
  g_assert_false (fa_edit_panel_word_is_target (fixture->panel, 2));
  g_autofree char *marks = highlighted (fixture->panel);
  g_assert_cmpstr (marks, ==, "..blue..................");
  g_assert_true (gtk_widget_get_visible (reset));

  fa_edit_panel_toggle_word (fixture->panel, 5); /* grass on */
  const char *const blue_grass[] = { "blue", "grass", NULL };
  assert_strv (fa_document_get_target_words (fixture->document), blue_grass);
  fa_edit_panel_toggle_word (fixture->panel, 3); /* on */
  fa_edit_panel_toggle_word (fixture->panel, 2); /* cube back: one run */
  const char *const runs[] = { "blue cube on", "grass", NULL };
  assert_strv (fa_document_get_target_words (fixture->document), runs);
  g_autofree char *picked = target_words (fixture->panel);
  g_assert_cmpstr (picked, ==, "blue cube on grass");

  /* back to what the diff gives: automatic again */
  fa_edit_panel_toggle_word (fixture->panel, 3);
  fa_edit_panel_toggle_word (fixture->panel, 5);
  g_assert_null (fa_document_get_target_words (fixture->document));
  g_assert_false (gtk_widget_get_visible (reset));

  /* a picked word the target loses is dropped; with none left the diff
   * decides again */
  fa_edit_panel_toggle_word (fixture->panel, 1); /* blue off: "cube" */
  gtk_text_buffer_set_text (fa_edit_panel_get_target_buffer (fixture->panel), "a green cube on the lawn", -1);
  const char *const cube[] = { "cube", NULL };
  assert_strv (fa_document_get_target_words (fixture->document), cube);
  g_autofree char *kept = target_words (fixture->panel);
  g_assert_cmpstr (kept, ==, "cube");
  gtk_text_buffer_set_text (fa_edit_panel_get_target_buffer (fixture->panel), "a green sphere on the lawn", -1);
  g_assert_null (fa_document_get_target_words (fixture->document));
  g_autofree char *automatic = target_words (fixture->panel);
  g_assert_cmpstr (automatic, ==, "green sphere lawn");

  /* every occurrence of a word counts: taking one off takes all off, and
   * a pick of nothing is kept as such (SAR off), not as automatic */
  type_prompts (fixture, "a red cube and a red ball", "a blue cube and a blue ball");
  g_autofree char *both = target_words (fixture->panel);
  g_assert_cmpstr (both, ==, "blue blue");
  fa_edit_panel_toggle_word (fixture->panel, 5);
  words = fa_document_get_target_words (fixture->document);
  g_assert_nonnull (words);
  g_assert_null (words[0]);
  g_assert_false (fa_edit_panel_word_is_target (fixture->panel, 1));
  g_assert_false (fa_edit_panel_word_is_target (fixture->panel, 5));

  /* the reset button goes back to the diff */
  g_signal_emit_by_name (reset, "clicked");
  g_assert_null (fa_document_get_target_words (fixture->document));
  g_autofree char *reset_picked = target_words (fixture->panel);
  g_assert_cmpstr (reset_picked, ==, "blue blue");

  /* the context menu's item toggles the word at the cursor */
  GtkTextBuffer *buffer = fa_edit_panel_get_target_buffer (fixture->panel);
  GtkTextIter iter;
  gtk_text_buffer_get_iter_at_offset (buffer, &iter, 24); /* inside "ball" */
  gtk_text_buffer_place_cursor (buffer, &iter);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->panel), "edit-panel.toggle-word", NULL));
  g_autofree char *with_ball = target_words (fixture->panel);
  g_assert_cmpstr (with_ball, ==, "blue blue ball");

  /* an index past the words, and an empty target, change nothing */
  fa_edit_panel_toggle_word (fixture->panel, 99);
  g_autofree char *unchanged = target_words (fixture->panel);
  g_assert_cmpstr (unchanged, ==, "blue blue ball");
  gtk_text_buffer_set_text (buffer, "", -1);
  g_auto (GStrv) empty = fa_edit_panel_dup_words (fixture->panel);
  g_assert_cmpuint (g_strv_length (empty), ==, 1);
  g_assert_cmpstr (empty[0], ==, "");
  fa_edit_panel_toggle_word (fixture->panel, 0);
  g_assert_false (fa_edit_panel_word_is_target (fixture->panel, 0));
}

/* ---- parameters ---- */

static void
assert_params_equal (const FaEditParams *a,
                     const FaEditParams *b)
{
  /* field by field: the struct has padding */
  g_assert_cmpint (a->steps, ==, b->steps);
  g_assert_cmpint (a->n_max, ==, b->n_max);
  g_assert_cmpint (a->n_min, ==, b->n_min);
  g_assert_cmpint (a->n_avg, ==, b->n_avg);
  g_assert_cmpfloat (a->shift, ==, b->shift);
  g_assert_cmpfloat (a->cfg_source, ==, b->cfg_source);
  g_assert_cmpfloat (a->cfg_target, ==, b->cfg_target);
  g_assert_cmpint (a->sar, ==, b->sar);
  g_assert_cmpfloat (a->tau, ==, b->tau);
  g_assert_cmpfloat (a->beta1, ==, b->beta1);
  g_assert_cmpfloat (a->beta2, ==, b->beta2);
  g_assert_cmpint (a->amm, ==, b->amm);
  g_assert_cmpfloat (a->gamma, ==, b->gamma);
  g_assert_cmpint (a->gamma_frames, ==, b->gamma_frames);
  g_assert_cmpint (a->mask_dilation, ==, b->mask_dilation);
  g_assert_cmpint (a->blend_background, ==, b->blend_background);
  g_assert_cmpfloat (a->blend_strength, ==, b->blend_strength);
  g_assert_cmpuint (a->seed, ==, b->seed);
}

static void
test_params (Fixture      *fixture,
             gconstpointer data)
{
  GtkSpinButton *steps = child (fixture, "steps_spin");
  GtkSpinButton *skipped = child (fixture, "skipped_spin");
  AdwActionRow *skipped_row = child (fixture, "skipped_row");
  AdwComboRow *preset_row = child (fixture, "preset_row");
  FaEditParams params, expected;

  (void) data;
  fa_document_get_params (fixture->document, &expected);
  g_assert_cmpfloat (gtk_spin_button_get_value (steps), ==, expected.steps);
  g_assert_cmpfloat (gtk_spin_button_get_value (skipped), ==, expected.steps - expected.n_max);
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (skipped_row)), ==, "Skipped steps");
  g_assert_cmpstr (adw_action_row_get_subtitle (skipped_row), ==, "Edit strength 92 %");
  g_assert_cmpuint (adw_combo_row_get_selected (preset_row), ==, FA_EDIT_PRESET_DEFAULT);
  g_assert_false (gtk_widget_get_visible (child (fixture, "steps_reset")));

  /* more steps keep the skipped ones */
  gtk_spin_button_set_value (steps, 30);
  expected.steps = 30;
  expected.n_max = 28;
  fa_document_get_params (fixture->document, &params);
  assert_params_equal (&params, &expected);
  g_assert_true (gtk_widget_get_visible (child (fixture, "steps_reset")));
  g_assert_cmpuint (adw_combo_row_get_selected (preset_row), ==, FA_EDIT_N_PRESETS); /* Custom */
  double lower, upper;
  gtk_spin_button_get_range (skipped, &lower, &upper);
  g_assert_cmpfloat (upper, ==, 29);

  gtk_spin_button_set_value (skipped, 10);
  expected.n_max = 20;
  fa_document_get_params (fixture->document, &params);
  assert_params_equal (&params, &expected);
  g_assert_cmpstr (adw_action_row_get_subtitle (skipped_row), ==, "Edit strength 67 %");

  struct {
    const char *spin;
    double value;
    float *field;
  } floats[] = {
    { "cfg_source_spin", 4.5, &expected.cfg_source },
    { "cfg_target_spin", 12, &expected.cfg_target },
    { "beta1_spin", 0.5, &expected.beta1 },
    { "beta2_spin", 0.25, &expected.beta2 },
    { "tau_spin", 0.4, &expected.tau },
    { "gamma_spin", 2, &expected.gamma },
  };
  for (gsize k = 0; k < G_N_ELEMENTS (floats); k++)
    {
      gtk_spin_button_set_value (child (fixture, floats[k].spin), floats[k].value);
      *floats[k].field = (float) floats[k].value;
      fa_document_get_params (fixture->document, &params);
      assert_params_equal (&params, &expected);
    }

  /* each reset puts back its own default and hides itself */
  FaEditParams defaults;
  fa_edit_params_init (&defaults);
  g_signal_emit_by_name (child (fixture, "cfg_target_reset"), "clicked");
  expected.cfg_target = defaults.cfg_target;
  fa_document_get_params (fixture->document, &params);
  assert_params_equal (&params, &expected);
  g_assert_cmpfloat (gtk_spin_button_get_value (child (fixture, "cfg_target_spin")), ==, 10.0);
  g_assert_false (gtk_widget_get_visible (child (fixture, "cfg_target_reset")));
  g_assert_true (gtk_widget_get_visible (child (fixture, "cfg_source_reset")));
  g_signal_emit_by_name (child (fixture, "steps_reset"), "clicked");
  expected.steps = 25;
  expected.n_max = 15; /* the 10 skipped steps stay */
  fa_document_get_params (fixture->document, &params);
  assert_params_equal (&params, &expected);
  g_signal_emit_by_name (child (fixture, "skipped_reset"), "clicked");
  expected.n_max = defaults.n_max;
  fa_document_get_params (fixture->document, &params);
  assert_params_equal (&params, &expected);

  /* n_min follows n_max down */
  params.n_min = 5;
  g_assert_true (fa_document_set_params (fixture->document, &params, NULL));
  gtk_spin_button_set_value (skipped, 22);
  fa_document_get_params (fixture->document, &params);
  g_assert_cmpint (params.n_max, ==, 3);
  g_assert_cmpint (params.n_min, ==, 3);
}

static void
test_seed (Fixture      *fixture,
           gconstpointer data)
{
  GtkEditable *seed = child (fixture, "seed_row");
  GtkWidget *reset = child (fixture, "seed_reset");
  FaEditParams params;

  (void) data;
  g_assert_cmpstr (gtk_editable_get_text (seed), ==, "0");
  g_assert_false (gtk_widget_get_visible (reset));

  gtk_editable_set_text (seed, "1234");
  fa_document_get_params (fixture->document, &params);
  g_assert_cmpuint (params.seed, ==, 1234);
  g_assert_true (gtk_widget_get_visible (reset));

  /* not a number: the row says so and the document keeps its seed */
  gtk_editable_set_text (seed, "12a");
  g_assert_true (gtk_widget_has_css_class (GTK_WIDGET (seed), "error"));
  fa_document_get_params (fixture->document, &params);
  g_assert_cmpuint (params.seed, ==, 1234);

  /* 64 bits go through exactly */
  gtk_editable_set_text (seed, "18446744073709551615");
  g_assert_false (gtk_widget_has_css_class (GTK_WIDGET (seed), "error"));
  fa_document_get_params (fixture->document, &params);
  g_assert_cmpuint (params.seed, ==, G_MAXUINT64);

  g_signal_emit_by_name (child (fixture, "seed_random_button"), "clicked");
  fa_document_get_params (fixture->document, &params);
  g_assert_cmpuint (params.seed, !=, G_MAXUINT64);
  g_autofree char *shown = g_strdup_printf ("%" G_GUINT64_FORMAT, params.seed);
  g_assert_cmpstr (gtk_editable_get_text (seed), ==, shown);

  g_signal_emit_by_name (reset, "clicked");
  fa_document_get_params (fixture->document, &params);
  g_assert_cmpuint (params.seed, ==, 0);
  g_assert_cmpstr (gtk_editable_get_text (seed), ==, "0");
}

static void
test_presets (Fixture      *fixture,
              gconstpointer data)
{
  AdwComboRow *preset_row = child (fixture, "preset_row");
  GtkSpinButton *cfg_target = child (fixture, "cfg_target_spin");
  FaEditParams params, expected;

  (void) data;
  fa_document_get_params (fixture->document, &expected);
  expected.seed = 77;
  g_assert_true (fa_document_set_params (fixture->document, &expected, NULL));

  for (int k = FA_EDIT_N_PRESETS - 1; k >= 0; k--)
    {
      fa_edit_panel_apply_preset (fixture->panel, k);
      fa_edit_preset_apply (k, &expected);
      fa_document_get_params (fixture->document, &params);
      assert_params_equal (&params, &expected);
      g_assert_cmpuint (params.seed, ==, 77);
      g_assert_cmpuint (adw_combo_row_get_selected (preset_row), ==, (guint) k);
      g_assert_cmpfloat_with_epsilon (gtk_spin_button_get_value (cfg_target), expected.cfg_target, 1e-6);
    }

  /* through the row, as a person picks one */
  adw_combo_row_set_selected (preset_row, FA_EDIT_PRESET_STRONG);
  fa_edit_preset_apply (FA_EDIT_PRESET_STRONG, &expected);
  fa_document_get_params (fixture->document, &params);
  assert_params_equal (&params, &expected);
  g_assert_cmpfloat_with_epsilon (gtk_spin_button_get_value (cfg_target), 12.5, 1e-6);

  /* a value of its own makes the set Custom; picking Custom changes nothing */
  gtk_spin_button_set_value (cfg_target, 11);
  g_assert_cmpuint (adw_combo_row_get_selected (preset_row), ==, FA_EDIT_N_PRESETS);
  fa_document_get_params (fixture->document, &expected);
  adw_combo_row_set_selected (preset_row, FA_EDIT_N_PRESETS);
  fa_document_get_params (fixture->document, &params);
  assert_params_equal (&params, &expected);
  /* and on a set that is a preset, picking Custom shows the preset again */
  adw_combo_row_set_selected (preset_row, FA_EDIT_PRESET_SUBTLE);
  adw_combo_row_set_selected (preset_row, FA_EDIT_N_PRESETS);
  g_assert_cmpuint (adw_combo_row_get_selected (preset_row), ==, FA_EDIT_PRESET_SUBTLE);
}

/* ---- format ---- */

static guint
find_item (GListModel *model,
           const char *label)
{
  for (guint k = 0; k < g_list_model_get_n_items (model); k++)
    if (strcmp (gtk_string_list_get_string (GTK_STRING_LIST (model), k), label) == 0)
      return k;
  g_error ("no item “%s”", label);
}

static const char *
selected_label (AdwComboRow *row)
{
  return gtk_string_list_get_string (GTK_STRING_LIST (adw_combo_row_get_model (row)),
                                     adw_combo_row_get_selected (row));
}

static void
test_format (Fixture      *fixture,
             gconstpointer data)
{
  AdwComboRow *size_row = child (fixture, "size_row");
  AdwComboRow *fps_row = child (fixture, "fps_row");
  GListModel *sizes = adw_combo_row_get_model (size_row);
  GListModel *rates = adw_combo_row_get_model (fps_row);
  FaEditFormat format, default_format;

  (void) data;
  fa_document_get_default_edit_format (fixture->document, &default_format);
  g_assert_cmpint (default_format.width, >, default_format.height); /* the sample is landscape */
  g_autofree char *default_label = g_strdup_printf ("%d × %d (default)", default_format.width, default_format.height);
  g_assert_cmpstr (selected_label (size_row), ==, default_label);
  g_assert_cmpstr (selected_label (fps_row), ==, "16 fps (default)");
  g_assert_false (gtk_widget_get_visible (child (fixture, "size_reset")));
  /* landscape choices, largest first */
  g_assert_cmpstr (gtk_string_list_get_string (GTK_STRING_LIST (sizes), 0), ==, "1280 × 720");
  find_item (sizes, "416 × 240");
  for (guint k = 0; k < g_list_model_get_n_items (sizes); k++)
    {
      const char *label = gtk_string_list_get_string (GTK_STRING_LIST (sizes), k);
      char *end;
      gint64 width = g_ascii_strtoll (label, &end, 10);
      g_assert_true (g_str_has_prefix (end, " × "));
      gint64 height = g_ascii_strtoll (end + strlen (" × "), NULL, 10);
      g_assert_cmpint (width, >, height);
      g_assert_cmpint (width % 16, ==, 0);
      g_assert_cmpint (height % 16, ==, 0);
    }

  adw_combo_row_set_selected (size_row, find_item (sizes, "624 × 352"));
  fa_document_get_edit_format (fixture->document, &format);
  g_assert_cmpint (format.width, ==, 624);
  g_assert_cmpint (format.height, ==, 352);
  g_assert_cmpint (format.fps, ==, 16);
  g_assert_true (gtk_widget_get_visible (child (fixture, "size_reset")));

  adw_combo_row_set_selected (fps_row, find_item (rates, "24 fps"));
  fa_document_get_edit_format (fixture->document, &format);
  g_assert_cmpint (format.width, ==, 624);
  g_assert_cmpint (format.fps, ==, 24);
  g_assert_true (gtk_widget_get_visible (child (fixture, "fps_reset")));

  g_signal_emit_by_name (child (fixture, "size_reset"), "clicked");
  fa_document_get_edit_format (fixture->document, &format);
  g_assert_cmpint (format.width, ==, default_format.width);
  g_assert_cmpint (format.height, ==, default_format.height);
  g_assert_cmpint (format.fps, ==, 24);
  g_assert_cmpstr (selected_label (size_row), ==, default_label);
  g_signal_emit_by_name (child (fixture, "fps_reset"), "clicked");
  fa_document_get_edit_format (fixture->document, &format);
  g_assert_cmpint (format.fps, ==, 16);

  /* a format set elsewhere that the rows do not list is shown as it is */
  format = (FaEditFormat) { 512, 288, 30 };
  g_assert_true (fa_document_set_edit_format (fixture->document, &format, NULL));
  g_assert_cmpstr (selected_label (size_row), ==, "512 × 288");
  g_assert_cmpstr (selected_label (fps_row), ==, "30 fps");
}

/* ---- the document changed elsewhere ---- */

static void
test_external (Fixture      *fixture,
               gconstpointer data)
{
  FaEditParams params;
  int changed = 0;

  (void) data;
  fa_document_set_prompts (fixture->document, "a dog running", "a cat running", NULL);
  g_autofree char *source = buffer_text (fa_edit_panel_get_source_buffer (fixture->panel));
  g_autofree char *target = buffer_text (fa_edit_panel_get_target_buffer (fixture->panel));
  g_assert_cmpstr (source, ==, "a dog running");
  g_assert_cmpstr (target, ==, "a cat running");
  g_autofree char *picked = target_words (fixture->panel);
  g_assert_cmpstr (picked, ==, "cat");

  const char *const words[] = { "running", NULL };
  fa_document_set_prompts (fixture->document, "a dog running", "a cat running", words);
  g_autofree char *now = target_words (fixture->panel);
  g_assert_cmpstr (now, ==, "running");

  /* the panel's refresh writes nothing back */
  g_signal_connect (fixture->document, "edit-changed", G_CALLBACK (count_signal), &changed);
  fa_document_get_params (fixture->document, &params);
  params.cfg_target = 7.5f;
  params.steps = 40;
  params.n_max = 30;
  params.seed = 99;
  g_assert_true (fa_document_set_params (fixture->document, &params, NULL));
  g_assert_cmpint (changed, ==, 1);
  g_assert_cmpfloat (gtk_spin_button_get_value (child (fixture, "cfg_target_spin")), ==, 7.5);
  g_assert_cmpfloat (gtk_spin_button_get_value (child (fixture, "steps_spin")), ==, 40);
  g_assert_cmpfloat (gtk_spin_button_get_value (child (fixture, "skipped_spin")), ==, 10);
  g_assert_cmpstr (gtk_editable_get_text (child (fixture, "seed_row")), ==, "99");
  g_assert_true (gtk_widget_get_visible (child (fixture, "cfg_target_reset")));

  fa_document_set_negative_prompt (fixture->document, "blurry");
  g_autofree char *negative = buffer_text (gtk_text_view_get_buffer (child (fixture, "negative_view")));
  g_assert_cmpstr (negative, ==, "blurry");
  g_assert_cmpint (changed, ==, 2);
  FaEditParams after;
  fa_document_get_params (fixture->document, &after);
  assert_params_equal (&after, &params);
}

static void
test_negative (Fixture      *fixture,
               gconstpointer data)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (child (fixture, "negative_view"));

  (void) data;
  g_assert_null (fa_document_get_negative_prompt (fixture->document));
  /* the hint names Wan's default */
  g_assert_nonnull (strstr (gtk_label_get_text (child (fixture, "negative_hint")), fa_wan_default_negative_prompt));
  gtk_text_buffer_set_text (buffer, "blurry, low quality", -1);
  g_assert_cmpstr (fa_document_get_negative_prompt (fixture->document), ==, "blurry, low quality");
  gtk_text_buffer_set_text (buffer, "", -1);
  g_assert_null (fa_document_get_negative_prompt (fixture->document));
}

static void
test_focus (Fixture      *fixture,
            gconstpointer data)
{
  (void) data;
  fa_edit_panel_focus_prompt (fixture->panel);
  g_assert_true (gtk_widget_is_focus (child (fixture, "source_view")));
  type_prompts (fixture, "a red ball", "a blue ball");
  fa_edit_panel_focus_prompt (fixture->panel);
  g_assert_true (gtk_widget_is_focus (child (fixture, "target_view")));
}

/* ---- no document ---- */

static void
test_no_document (Fixture      *fixture,
                  gconstpointer data)
{
  (void) data;
  type_prompts (fixture, "a red ball", "a blue ball");
  gtk_spin_button_set_value (child (fixture, "cfg_target_spin"), 12);

  fa_edit_panel_set_document (fixture->panel, NULL);
  g_assert_null (fa_edit_panel_get_document (fixture->panel));
  g_autofree char *source = buffer_text (fa_edit_panel_get_source_buffer (fixture->panel));
  g_assert_cmpstr (source, ==, "");
  g_assert_false (gtk_widget_get_sensitive (child (fixture, "prompts_group")));
  g_assert_false (gtk_widget_get_sensitive (child (fixture, "params_group")));
  g_assert_cmpfloat (gtk_spin_button_get_value (child (fixture, "cfg_target_spin")), ==, 10);
  g_assert_false (gtk_widget_get_visible (child (fixture, "cfg_target_reset")));
  g_auto (GStrv) words = fa_edit_panel_dup_words (fixture->panel);
  g_assert_cmpuint (g_strv_length (words), ==, 1);
  g_assert_false (fa_edit_panel_word_is_target (fixture->panel, 0));
  fa_edit_panel_toggle_word (fixture->panel, 0);
  fa_edit_panel_apply_preset (fixture->panel, FA_EDIT_PRESET_STRONG);
  /* the document it had is left alone */
  g_assert_cmpstr (fa_document_get_source_prompt (fixture->document), ==, "a red ball");
  FaEditParams params;
  fa_document_get_params (fixture->document, &params);
  g_assert_cmpfloat (params.cfg_target, ==, 12.0f);
  fa_document_set_prompts (fixture->document, "x", "y", NULL);
  g_autofree char *still_empty = buffer_text (fa_edit_panel_get_target_buffer (fixture->panel));
  g_assert_cmpstr (still_empty, ==, "");

  /* a clip made in memory has no project to keep prompts in */
  g_autoptr (GError) error = NULL;
  FaWorkingClip *clip = fa_working_clip_new (5, 64, 48, 16, 1, &error);
  g_assert_no_error (error);
  g_autoptr (FaDocument) memory = fa_document_new_for_clip (clip);
  fa_edit_panel_set_document (fixture->panel, memory);
  g_assert_false (gtk_widget_get_sensitive (child (fixture, "prompts_group")));
  g_assert_false (gtk_widget_get_sensitive (child (fixture, "params_group")));
  /* nothing the panel is asked to do warns or changes it */
  fa_edit_panel_apply_preset (fixture->panel, FA_EDIT_PRESET_SUBTLE);
  gtk_spin_button_set_value (child (fixture, "steps_spin"), 40);
  gtk_text_buffer_set_text (fa_edit_panel_get_target_buffer (fixture->panel), "a cube", -1);
  fa_edit_panel_toggle_word (fixture->panel, 1);
  fa_document_get_params (memory, &params);
  g_assert_cmpint (params.steps, ==, 25);
  g_assert_cmpfloat (params.cfg_target, ==, 10.0f);
  g_assert_cmpstr (fa_document_get_target_prompt (memory), ==, "");

  /* and back: everything shows the document again */
  fa_edit_panel_set_document (fixture->panel, fixture->document);
  g_assert_true (gtk_widget_get_sensitive (child (fixture, "prompts_group")));
  g_autofree char *target = buffer_text (fa_edit_panel_get_target_buffer (fixture->panel));
  g_assert_cmpstr (target, ==, "y");
  g_assert_cmpfloat (gtk_spin_button_get_value (child (fixture, "cfg_target_spin")), ==, 12);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  if (!gtk_init_check ())
    {
      g_print ("1..0 # SKIP no display to open\n");
      return 0;
    }
  adw_init ();

#define ADD(path, func) g_test_add ("/edit-panel/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("prompts", test_prompts);
  ADD ("typing", test_typing);
  ADD ("toggle-words", test_toggle_words);
  ADD ("params", test_params);
  ADD ("seed", test_seed);
  ADD ("presets", test_presets);
  ADD ("format", test_format);
  ADD ("external", test_external);
  ADD ("negative", test_negative);
  ADD ("focus", test_focus);
  ADD ("no-document", test_no_document);
#undef ADD

  return g_test_run ();
}
