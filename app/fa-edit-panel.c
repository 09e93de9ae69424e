/* fa-edit-panel.c: the prompts and parameters of the side panel, bound to
 * a document's edit settings (fa-document-edit.h) both ways.
 *
 * Every change a person makes goes to the document at once; the document's
 * "edit-changed" refreshes the widgets, which only touch a widget whose
 * value differs from the document's (so the refresh that follows the
 * panel's own change is a no-op, and the cursor and undo history of a
 * prompt being typed stay as they are). Typing in a prompt is written once
 * per user action (a key press that replaces a selection is one change,
 * not a deletion and then an insertion).
 *
 * The target words: the cleaned target prompt split on single spaces, as
 * fa-edit-words.h splits it. Which of them SAR anchors on is the word diff
 * against the source prompt while the document has no words of its own,
 * else every occurrence of each of the document's words (a string of
 * several words naming that run). A toggle stores the picked words as runs
 * of consecutive words, and goes back to the automatic diff when the pick
 * is what the diff gives.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "fa-edit-panel"

#include "config.h"

#include <math.h>
#include <string.h>

#include <glib/gi18n.h>

#include "fa-document-edit.h"
#include "fa-edit-panel.h"
#include "fa-edit-words.h"
#include "fa-job.h"
#include "fa-tokenizer.h"

/* The parameters shown as spin buttons, in the order of the arrays below. */
typedef enum {
  SPIN_STEPS,
  SPIN_SKIPPED,
  SPIN_CFG_SOURCE,
  SPIN_CFG_TARGET,
  SPIN_BETA1,
  SPIN_BETA2,
  SPIN_TAU,
  SPIN_GAMMA,
  N_SPINS
} SpinField;

#define PRESET_CUSTOM FA_EDIT_N_PRESETS

/* Where a word of the cleaned target lies in the target buffer, in
 * characters; start −1 when it could not be found. */
typedef struct {
  int start, end;
} WordSpan;

struct _FaEditPanel
{
  GtkWidget parent_instance;

  AdwPreferencesGroup *prompts_group;
  GtkTextView *source_view;
  GtkTextView *target_view;
  GtkExpander *advanced_expander;
  GtkTextView *negative_view;
  GtkLabel *negative_hint;
  GtkButton *words_reset_button;

  AdwPreferencesGroup *params_group;
  AdwComboRow *preset_row;
  AdwActionRow *skipped_row;
  GtkSpinButton *steps_spin, *skipped_spin, *cfg_source_spin, *cfg_target_spin;
  GtkSpinButton *beta1_spin, *beta2_spin, *tau_spin, *gamma_spin;
  GtkButton *steps_reset, *skipped_reset, *cfg_source_reset, *cfg_target_reset;
  GtkButton *beta1_reset, *beta2_reset, *tau_reset, *gamma_reset;
  AdwEntryRow *seed_row;
  GtkButton *seed_random_button;
  GtkButton *seed_reset;
  AdwComboRow *size_row;
  GtkStringList *size_list;
  GtkButton *size_reset;
  AdwComboRow *fps_row;
  GtkStringList *fps_list;
  GtkButton *fps_reset;
  AdwExpanderRow *more_row;

  GtkSpinButton *spins[N_SPINS];
  GtkButton *resets[N_SPINS];

  FaDocument *document;
  gulong edit_changed_id;

  /* > 0 while the panel sets its widgets from the document */
  int updating;
  /* user actions under way on a prompt buffer, and whether a change in
   * one waits for the end of it */
  int user_action_depth;
  gboolean prompts_pending, negative_pending;

  /* the target prompt's words, where they are in the buffer, and which
   * are target words now */
  char **words;
  int n_words;
  WordSpan *spans;
  gboolean *flags;

  /* what the size and rate rows list, in their order */
  GArray *sizes; /* FaEditFormat, fps unused */
  GArray *rates; /* int */
};

G_DEFINE_FINAL_TYPE (FaEditPanel, fa_edit_panel, GTK_TYPE_WIDGET)

#define TARGET_WORD_TAG "fa-target-word"

static void refresh (FaEditPanel *self);

GtkWidget *
fa_edit_panel_new (void)
{
  return g_object_new (FA_TYPE_EDIT_PANEL, NULL);
}

/* ---- text helpers ---- */

static char *
buffer_dup_text (GtkTextBuffer *buffer)
{
  GtkTextIter start, end;

  gtk_text_buffer_get_bounds (buffer, &start, &end);
  return gtk_text_buffer_get_text (buffer, &start, &end, FALSE);
}

/* A character the prompt cleaning turns into a word break or strips. */
static gboolean
is_clean_space (const char *c)
{
  gsize n = 0;

  g_free (fa_prompt_clean_len (c, g_utf8_next_char (c) - c, &n));
  return n == 0;
}

/* Where each cleaned word is in @raw: the raw text split at the
 * characters cleaning treats as space, each piece cleaned on its own,
 * gives the cleaned words in order (entities do not contain spaces, so
 * cleaning piece by piece is cleaning the whole). When that does not
 * line up (an entity that unescapes to a character the strip and the
 * whitespace runs disagree on), each word is looked for in turn. */
static void
map_words (const char *raw, char **words, int n_words, WordSpan *spans)
{
  int w = 0, offset = 0;
  gboolean lined_up = TRUE;
  const char *p = raw;

  for (int k = 0; k < n_words; k++)
    spans[k] = (WordSpan) { -1, -1 };

  while (*p != '\0' && lined_up)
    {
      while (*p != '\0' && is_clean_space (p))
        {
          p = g_utf8_next_char (p);
          offset++;
        }
      if (*p == '\0')
        break;
      const char *piece = p;
      int piece_start = offset;
      while (*p != '\0' && !is_clean_space (p))
        {
          p = g_utf8_next_char (p);
          offset++;
        }
      g_autofree char *clean = fa_prompt_clean_len (piece, p - piece, NULL);
      if (clean[0] == '\0')
        continue;
      int n_piece;
      g_auto (GStrv) piece_words = fa_edit_split_words (clean, &n_piece);
      for (int k = 0; k < n_piece && lined_up; k++, w++)
        {
          if (w >= n_words || strcmp (piece_words[k], words[w]) != 0)
            lined_up = FALSE;
          else
            spans[w] = (WordSpan) { piece_start, offset };
        }
    }
  if (lined_up && w == n_words)
    return;
  if (lined_up && n_words == 1 && words[0][0] == '\0')
    return; /* an empty prompt: its one empty word is nowhere */

  const char *from = raw;
  for (int k = 0; k < n_words; k++)
    {
      const char *found = words[k][0] != '\0' ? strstr (from, words[k]) : NULL;
      if (found == NULL)
        {
          spans[k] = (WordSpan) { -1, -1 };
          continue;
        }
      spans[k].start = (int) g_utf8_pointer_to_offset (raw, found);
      spans[k].end = spans[k].start + (int) g_utf8_strlen (words[k], -1);
      from = found + strlen (words[k]);
    }
}

/* Which of @words (the cleaned @target's) are target words for @picked
 * (NULL: the diff against @source). */
static void
compute_flags (const char *source, const char *target, const char *const *picked, char **words, int n_words,
               gboolean *flags)
{
  memset (flags, 0, sizeof (gboolean) * n_words);
  if (picked == NULL)
    {
      int n_changed;
      g_autofree int *changed = fa_edit_changed_words (source, target, &n_changed);
      for (int k = 0; k < n_changed; k++)
        if (changed[k] >= 0 && changed[k] < n_words)
          flags[changed[k]] = TRUE;
      return;
    }
  for (const char *const *name = picked; *name != NULL; name++)
    fa_edit_mark_named_words (*name, words, n_words, flags);
}

/* The runs of consecutive flagged words, each as one string. */
static char **
flags_to_runs (char **words, int n_words, const gboolean *flags)
{
  GPtrArray *runs = g_ptr_array_new ();

  for (int k = 0; k < n_words;)
    {
      if (!flags[k] || words[k][0] == '\0')
        {
          k++;
          continue;
        }
      GString *run = g_string_new (words[k++]);
      while (k < n_words && flags[k] && words[k][0] != '\0')
        {
          g_string_append_c (run, ' ');
          g_string_append (run, words[k++]);
        }
      g_ptr_array_add (runs, g_string_free (run, FALSE));
    }
  g_ptr_array_add (runs, NULL);
  return (char **) g_ptr_array_free (runs, FALSE);
}

/* ---- the target words ---- */

static const char *const *
document_words (FaEditPanel *self)
{
  return self->document != NULL ? fa_document_get_target_words (self->document) : NULL;
}

/* A document whose edit settings can change: one with a project (a clip
 * made in memory has nowhere to keep them). */
static gboolean
is_editable (FaEditPanel *self)
{
  return self->document != NULL && fa_document_get_project (self->document) != NULL;
}

static void
clear_words (FaEditPanel *self)
{
  g_clear_pointer (&self->words, g_strfreev);
  g_clear_pointer (&self->spans, g_free);
  g_clear_pointer (&self->flags, g_free);
  self->n_words = 0;
}

/* Recomputes the words from the buffers and the document, and highlights
 * the target words. */
static void
update_words (FaEditPanel *self)
{
  GtkTextBuffer *target_buffer = gtk_text_view_get_buffer (self->target_view);
  g_autofree char *source = buffer_dup_text (gtk_text_view_get_buffer (self->source_view));
  g_autofree char *target = buffer_dup_text (target_buffer);
  g_autofree char *clean = fa_prompt_clean (target);
  GtkTextIter start, end;

  clear_words (self);
  self->words = fa_edit_split_words (clean, &self->n_words);
  self->spans = g_new (WordSpan, self->n_words);
  self->flags = g_new0 (gboolean, self->n_words);
  map_words (target, self->words, self->n_words, self->spans);
  if (self->document != NULL)
    compute_flags (source, target, document_words (self), self->words, self->n_words, self->flags);

  gtk_text_buffer_get_bounds (target_buffer, &start, &end);
  gtk_text_buffer_remove_tag_by_name (target_buffer, TARGET_WORD_TAG, &start, &end);
  for (int k = 0; k < self->n_words; k++)
    if (self->flags[k] && self->spans[k].start >= 0)
      {
        gtk_text_buffer_get_iter_at_offset (target_buffer, &start, self->spans[k].start);
        gtk_text_buffer_get_iter_at_offset (target_buffer, &end, self->spans[k].end);
        gtk_text_buffer_apply_tag_by_name (target_buffer, TARGET_WORD_TAG, &start, &end);
      }

  gtk_widget_set_visible (GTK_WIDGET (self->words_reset_button), document_words (self) != NULL);
}

/* The word whose span holds character @offset (its end included, so that
 * a cursor right after a word names it), or −1. */
static int
word_at_offset (FaEditPanel *self, int offset)
{
  for (int k = 0; k < self->n_words; k++)
    if (self->spans[k].start >= 0 && offset >= self->spans[k].start && offset <= self->spans[k].end)
      return k;
  return -1;
}

/* ---- from the widgets to the document ---- */

/* The document's words that still name something in @target: a picked
 * word the target no longer has would fail the edit. NULL when none is
 * left of a list that had some (the automatic diff takes over). An empty
 * target keeps them all: it is what replacing the whole text passes
 * through (a deletion, then an insertion), and the next change prunes. */
static char **
prune_words (const char *const *picked, const char *target)
{
  if (picked == NULL)
    return NULL;

  g_autofree char *clean = fa_prompt_clean (target);
  if (clean[0] == '\0')
    return g_strdupv ((char **) picked);
  int n_words;
  g_auto (GStrv) words = fa_edit_split_words (clean, &n_words);
  g_autofree gboolean *flags = g_new0 (gboolean, n_words);
  GPtrArray *kept = g_ptr_array_new ();

  for (const char *const *name = picked; *name != NULL; name++)
    if (fa_edit_mark_named_words (*name, words, n_words, flags))
      g_ptr_array_add (kept, g_strdup (*name));
  if (kept->len == 0 && picked[0] != NULL)
    {
      g_ptr_array_free (kept, TRUE);
      return NULL;
    }
  g_ptr_array_add (kept, NULL);
  return (char **) g_ptr_array_free (kept, FALSE);
}

static void
commit_prompts (FaEditPanel *self)
{
  g_autofree char *source = buffer_dup_text (gtk_text_view_get_buffer (self->source_view));
  g_autofree char *target = buffer_dup_text (gtk_text_view_get_buffer (self->target_view));

  self->prompts_pending = FALSE;
  if (self->document != NULL)
    {
      g_auto (GStrv) words = prune_words (document_words (self), target);
      fa_document_set_prompts (self->document, source, target, (const char *const *) words);
    }
  update_words (self);
}

static void
commit_negative (FaEditPanel *self)
{
  g_autofree char *negative = buffer_dup_text (gtk_text_view_get_buffer (self->negative_view));

  self->negative_pending = FALSE;
  if (self->document != NULL)
    fa_document_set_negative_prompt (self->document, negative[0] != '\0' ? negative : NULL);
}

static void
prompt_changed (GtkTextBuffer *buffer,
                FaEditPanel   *self)
{
  if (self->updating > 0)
    return;
  gboolean negative = buffer == gtk_text_view_get_buffer (self->negative_view);
  if (self->user_action_depth > 0)
    {
      if (negative)
        self->negative_pending = TRUE;
      else
        self->prompts_pending = TRUE;
      return;
    }
  if (negative)
    commit_negative (self);
  else
    commit_prompts (self);
}

static void
prompt_begin_user_action (GtkTextBuffer *buffer,
                          FaEditPanel   *self)
{
  (void) buffer;
  self->user_action_depth++;
}

static void
prompt_end_user_action (GtkTextBuffer *buffer,
                        FaEditPanel   *self)
{
  (void) buffer;
  if (self->user_action_depth > 0)
    self->user_action_depth--;
  if (self->user_action_depth > 0)
    return;
  if (self->prompts_pending)
    commit_prompts (self);
  if (self->negative_pending)
    commit_negative (self);
}

static void
set_params (FaEditPanel        *self,
            const FaEditParams *params)
{
  g_autoptr (GError) error = NULL;

  if (is_editable (self) && !fa_document_set_params (self->document, params, &error))
    g_warning ("The edit parameters were not changed: %s", error->message);
}

static double
get_field (const FaEditParams *params,
           SpinField           field)
{
  switch (field)
    {
    case SPIN_STEPS:
      return params->steps;
    case SPIN_SKIPPED:
      return params->steps - params->n_max;
    case SPIN_CFG_SOURCE:
      return params->cfg_source;
    case SPIN_CFG_TARGET:
      return params->cfg_target;
    case SPIN_BETA1:
      return params->beta1;
    case SPIN_BETA2:
      return params->beta2;
    case SPIN_TAU:
      return params->tau;
    case SPIN_GAMMA:
      return params->gamma;
    case N_SPINS:
    default:
      g_return_val_if_reached (0.0);
    }
}

/* Sets one shown value on @params. The skipped steps stay as they are
 * when the steps change (that is what the row shows), and n_min follows
 * n_max down so that the set stays valid. */
static void
set_field (FaEditParams *params,
           SpinField     field,
           double        value)
{
  int skipped = params->steps - params->n_max;

  switch (field)
    {
    case SPIN_STEPS:
      params->steps = CLAMP ((int) lround (value), 1, 1000);
      params->n_max = CLAMP (params->steps - skipped, 1, params->steps);
      break;
    case SPIN_SKIPPED:
      params->n_max = CLAMP (params->steps - (int) lround (value), 1, params->steps);
      break;
    case SPIN_CFG_SOURCE:
      params->cfg_source = (float) value;
      break;
    case SPIN_CFG_TARGET:
      params->cfg_target = (float) value;
      break;
    case SPIN_BETA1:
      params->beta1 = (float) value;
      break;
    case SPIN_BETA2:
      params->beta2 = (float) value;
      break;
    case SPIN_TAU:
      params->tau = (float) value;
      break;
    case SPIN_GAMMA:
      params->gamma = (float) value;
      break;
    case N_SPINS:
    default:
      g_return_if_reached ();
    }
  params->n_min = MIN (params->n_min, params->n_max);
}

static gboolean
same_value (double a,
            double b)
{
  return fabs (a - b) <= 1e-6 * MAX (1.0, fabs (b));
}

static void
spin_value_changed (GtkSpinButton *spin,
                    FaEditPanel   *self)
{
  FaEditParams params;

  if (self->updating > 0 || !is_editable (self))
    return;
  for (int field = 0; field < N_SPINS; field++)
    if (self->spins[field] == spin)
      {
        fa_document_get_params (self->document, &params);
        /* only the field that changed goes through its widget: the others
         * keep the document's exact values */
        if (same_value (gtk_spin_button_get_value (spin), get_field (&params, field)))
          return;
        set_field (&params, field, gtk_spin_button_get_value (spin));
        set_params (self, &params);
        return;
      }
}

static void
reset_clicked (GtkButton   *button,
               FaEditPanel *self)
{
  FaEditParams params, defaults;
  FaEditFormat format, default_format;

  if (!is_editable (self))
    return;
  fa_document_get_params (self->document, &params);
  fa_edit_params_init (&defaults);
  for (int field = 0; field < N_SPINS; field++)
    if (self->resets[field] == button)
      {
        set_field (&params, field, get_field (&defaults, field));
        set_params (self, &params);
        return;
      }
  if (button == self->seed_reset)
    {
      params.seed = defaults.seed;
      set_params (self, &params);
      return;
    }

  g_autoptr (GError) error = NULL;
  fa_document_get_edit_format (self->document, &format);
  fa_document_get_default_edit_format (self->document, &default_format);
  if (button == self->size_reset)
    {
      format.width = default_format.width;
      format.height = default_format.height;
    }
  else if (button == self->fps_reset)
    format.fps = default_format.fps;
  if (!fa_document_set_edit_format (self->document, &format, &error))
    g_warning ("The edit format was not reset: %s", error->message);
}

static void
preset_selected (AdwComboRow *row,
                 GParamSpec  *pspec,
                 FaEditPanel *self)
{
  (void) pspec;
  guint selected = adw_combo_row_get_selected (row);

  if (self->updating > 0 || !is_editable (self))
    return;
  /* "Custom" is what the row says when the values match no preset;
   * picking it changes nothing */
  if (selected < FA_EDIT_N_PRESETS)
    fa_edit_panel_apply_preset (self, selected);
  else
    refresh (self);
}

static gboolean
parse_seed (const char *text,
            guint64    *seed)
{
  return text[0] != '\0' && g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT64, seed, NULL);
}

static void
seed_changed (GtkEditable *editable,
              FaEditPanel *self)
{
  guint64 seed;
  FaEditParams params;
  gboolean valid = parse_seed (gtk_editable_get_text (editable), &seed);

  if (self->updating > 0 || !is_editable (self))
    return;
  if (!valid)
    {
      gtk_widget_add_css_class (GTK_WIDGET (self->seed_row), "error");
      return;
    }
  gtk_widget_remove_css_class (GTK_WIDGET (self->seed_row), "error");
  fa_document_get_params (self->document, &params);
  params.seed = seed;
  set_params (self, &params);
}

static void
seed_random_clicked (GtkButton   *button,
                     FaEditPanel *self)
{
  FaEditParams params;
  guint64 seed;

  (void) button;
  if (!is_editable (self))
    return;
  fa_document_get_params (self->document, &params);
  /* 32 bits: short enough to read out and type back */
  do
    seed = g_random_int ();
  while (seed == params.seed);
  params.seed = seed;
  set_params (self, &params);
}

static void
format_selected (AdwComboRow *row,
                 GParamSpec  *pspec,
                 FaEditPanel *self)
{
  (void) pspec;
  g_autoptr (GError) error = NULL;
  guint selected = adw_combo_row_get_selected (row);
  FaEditFormat format;

  if (self->updating > 0 || !is_editable (self))
    return;
  fa_document_get_edit_format (self->document, &format);
  if (row == self->size_row && selected < self->sizes->len)
    {
      const FaEditFormat *size = &g_array_index (self->sizes, FaEditFormat, selected);
      format.width = size->width;
      format.height = size->height;
    }
  else if (row == self->fps_row && selected < self->rates->len)
    format.fps = g_array_index (self->rates, int, selected);
  else
    return;
  if (!fa_document_set_edit_format (self->document, &format, &error))
    {
      /* the previous choice back */
      g_warning ("The edit format was not changed: %s", error->message);
      fa_edit_panel_set_document (self, self->document);
    }
}

static void
words_reset_clicked (GtkButton   *button,
                     FaEditPanel *self)
{
  (void) button;
  if (!is_editable (self))
    return;
  fa_document_set_prompts (self->document, fa_document_get_source_prompt (self->document),
                           fa_document_get_target_prompt (self->document), NULL);
}

/* ---- from the document to the widgets ---- */

static void
set_buffer_text (GtkTextBuffer *buffer,
                 const char    *text)
{
  g_autofree char *now = buffer_dup_text (buffer);

  if (strcmp (now, text) == 0)
    return;
  /* not a step a person can undo in the prompt: it came from elsewhere */
  gtk_text_buffer_begin_irreversible_action (buffer);
  gtk_text_buffer_set_text (buffer, text, -1);
  gtk_text_buffer_end_irreversible_action (buffer);
}

static int
compare_sizes (gconstpointer a,
               gconstpointer b)
{
  const FaEditFormat *x = a, *y = b;
  gint64 area_x = (gint64) x->width * x->height, area_y = (gint64) y->width * y->height;

  if (area_x != area_y)
    return area_x < area_y ? 1 : -1;
  return x->width < y->width ? 1 : x->width > y->width ? -1 : 0;
}

static int
compare_ints (gconstpointer a,
              gconstpointer b)
{
  int x = *(const int *) a, y = *(const int *) b;

  return (x > y) - (x < y);
}

static void
add_size (GArray *sizes,
          int     width,
          int     height)
{
  for (guint k = 0; k < sizes->len; k++)
    {
      const FaEditFormat *size = &g_array_index (sizes, FaEditFormat, k);
      if (size->width == width && size->height == height)
        return;
    }
  FaEditFormat size = { width, height, 0 };
  g_array_append_val (sizes, size);
}

static void
add_rate (GArray *rates,
          int     fps)
{
  for (guint k = 0; k < rates->len; k++)
    if (g_array_index (rates, int, k) == fps)
      return;
  g_array_append_val (rates, fps);
}

/* The size and rate rows' choices: sizes in the clip's orientation (Wan's
 * 832×480 among them), the rates Wan-style models are used at, plus the
 * document's default and current values. */
static void
fill_format_rows (FaEditPanel        *self,
                  const FaEditFormat *format,
                  const FaEditFormat *default_format)
{
  /* width × height of the landscape choices, all multiples of 16 */
  static const int landscape[][2] = { { 1280, 720 }, { 832, 480 }, { 624, 352 }, { 416, 240 } };
  static const int square[] = { 720, 624, 480, 352 };
  static const int rates[] = { 8, 12, 16, 24 };
  guint selected_size = 0, selected_rate = 0;

  g_array_set_size (self->sizes, 0);
  g_array_set_size (self->rates, 0);
  for (gsize k = 0; k < G_N_ELEMENTS (landscape); k++)
    {
      if (default_format->width > default_format->height)
        add_size (self->sizes, landscape[k][0], landscape[k][1]);
      else if (default_format->width < default_format->height)
        add_size (self->sizes, landscape[k][1], landscape[k][0]);
      else
        add_size (self->sizes, square[k], square[k]);
    }
  add_size (self->sizes, default_format->width, default_format->height);
  add_size (self->sizes, format->width, format->height);
  g_array_sort (self->sizes, compare_sizes);
  for (gsize k = 0; k < G_N_ELEMENTS (rates); k++)
    add_rate (self->rates, rates[k]);
  add_rate (self->rates, default_format->fps);
  add_rate (self->rates, format->fps);
  g_array_sort (self->rates, compare_ints);

  g_autoptr (GPtrArray) labels = g_ptr_array_new_with_free_func (g_free);
  for (guint k = 0; k < self->sizes->len; k++)
    {
      const FaEditFormat *size = &g_array_index (self->sizes, FaEditFormat, k);
      if (size->width == default_format->width && size->height == default_format->height)
        /* Translators: a working size and that it is the default, e.g. "832 × 480 (default)" */
        g_ptr_array_add (labels, g_strdup_printf (_("%d × %d (default)"), size->width, size->height));
      else
        /* Translators: a working size, e.g. "832 × 480" */
        g_ptr_array_add (labels, g_strdup_printf (_("%d × %d"), size->width, size->height));
      if (size->width == format->width && size->height == format->height)
        selected_size = k;
    }
  g_ptr_array_add (labels, NULL);
  gtk_string_list_splice (self->size_list, 0, g_list_model_get_n_items (G_LIST_MODEL (self->size_list)),
                          (const char *const *) labels->pdata);

  g_ptr_array_set_size (labels, 0);
  for (guint k = 0; k < self->rates->len; k++)
    {
      int fps = g_array_index (self->rates, int, k);
      if (fps == default_format->fps)
        /* Translators: frames per second and that it is the default, e.g. "16 fps (default)" */
        g_ptr_array_add (labels, g_strdup_printf (_("%d fps (default)"), fps));
      else
        /* Translators: frames per second, e.g. "24 fps" */
        g_ptr_array_add (labels, g_strdup_printf (_("%d fps"), fps));
      if (fps == format->fps)
        selected_rate = k;
    }
  g_ptr_array_add (labels, NULL);
  gtk_string_list_splice (self->fps_list, 0, g_list_model_get_n_items (G_LIST_MODEL (self->fps_list)),
                          (const char *const *) labels->pdata);

  adw_combo_row_set_selected (self->size_row, selected_size);
  adw_combo_row_set_selected (self->fps_row, selected_rate);
}

static gboolean
format_rows_show (FaEditPanel        *self,
                  const FaEditFormat *format)
{
  guint size = adw_combo_row_get_selected (self->size_row);
  guint rate = adw_combo_row_get_selected (self->fps_row);

  return size < self->sizes->len && rate < self->rates->len
         && g_array_index (self->sizes, FaEditFormat, size).width == format->width
         && g_array_index (self->sizes, FaEditFormat, size).height == format->height
         && g_array_index (self->rates, int, rate) == format->fps;
}

static void
update_strength (FaEditPanel        *self,
                 const FaEditParams *params)
{
  /* Translators: the share of the schedule the edit runs, e.g. "Edit strength 92 %" */
  g_autofree char *subtitle = g_strdup_printf (_("Edit strength %d %%"),
                                               (int) lround (100.0 * fa_edit_params_get_strength (params)));

  adw_action_row_set_subtitle (self->skipped_row, subtitle);
}

static void
show_params (FaEditPanel        *self,
             const FaEditParams *params,
             gboolean            editable)
{
  FaEditParams defaults;
  int preset = fa_edit_preset_find (params);

  fa_edit_params_init (&defaults);
  gtk_spin_button_set_range (self->skipped_spin, 0, MAX (params->steps - 1, 0));
  for (int field = 0; field < N_SPINS; field++)
    {
      double value = get_field (params, field);
      if (!same_value (gtk_spin_button_get_value (self->spins[field]), value))
        gtk_spin_button_set_value (self->spins[field], value);
      gtk_widget_set_visible (GTK_WIDGET (self->resets[field]),
                              editable && !same_value (value, get_field (&defaults, field)));
    }
  update_strength (self, params);

  guint64 shown;
  if (!parse_seed (gtk_editable_get_text (GTK_EDITABLE (self->seed_row)), &shown) || shown != params->seed)
    {
      g_autofree char *text = g_strdup_printf ("%" G_GUINT64_FORMAT, params->seed);
      gtk_editable_set_text (GTK_EDITABLE (self->seed_row), text);
    }
  gtk_widget_remove_css_class (GTK_WIDGET (self->seed_row), "error");
  gtk_widget_set_visible (GTK_WIDGET (self->seed_reset), editable && params->seed != defaults.seed);

  adw_combo_row_set_selected (self->preset_row, preset >= 0 ? (guint) preset : PRESET_CUSTOM);
}

/* Fills every widget from the document (or clears them without one). */
static void
refresh (FaEditPanel *self)
{
  FaEditParams params;
  FaEditFormat format, default_format;
  gboolean editable = is_editable (self);

  self->updating++;

  set_buffer_text (gtk_text_view_get_buffer (self->source_view),
                   self->document != NULL ? fa_document_get_source_prompt (self->document) : "");
  set_buffer_text (gtk_text_view_get_buffer (self->target_view),
                   self->document != NULL ? fa_document_get_target_prompt (self->document) : "");
  const char *negative = self->document != NULL ? fa_document_get_negative_prompt (self->document) : NULL;
  set_buffer_text (gtk_text_view_get_buffer (self->negative_view), negative != NULL ? negative : "");

  if (self->document != NULL)
    fa_document_get_params (self->document, &params);
  else
    fa_edit_params_init (&params);
  show_params (self, &params, editable);

  if (self->document != NULL)
    {
      fa_document_get_edit_format (self->document, &format);
      fa_document_get_default_edit_format (self->document, &default_format);
    }
  else
    {
      /* what an empty panel shows: Wan's own format */
      default_format = (FaEditFormat) { 832, 480, 16 };
      format = default_format;
    }
  if (!format_rows_show (self, &format))
    fill_format_rows (self, &format, &default_format);
  gtk_widget_set_visible (GTK_WIDGET (self->size_reset),
                          editable && (format.width != default_format.width
                                       || format.height != default_format.height));
  gtk_widget_set_visible (GTK_WIDGET (self->fps_reset), editable && format.fps != default_format.fps);

  gtk_widget_set_sensitive (GTK_WIDGET (self->prompts_group), editable);
  gtk_widget_set_sensitive (GTK_WIDGET (self->params_group), editable);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "edit-panel.toggle-word", editable);

  self->updating--;

  update_words (self);
}

static void
edit_changed (FaDocument  *document,
              FaEditPanel *self)
{
  (void) document;
  refresh (self);
}

/* ---- clicking words ---- */

static void
target_pressed (GtkGestureClick *gesture,
                int              n_press,
                double           x,
                double           y,
                FaEditPanel     *self)
{
  GdkModifierType state = gtk_event_controller_get_current_event_state (GTK_EVENT_CONTROLLER (gesture));
  int buffer_x, buffer_y;
  GtkTextIter iter;

  /* a plain click places the cursor, as in any text field; Ctrl+click
   * picks the word */
  if (n_press != 1 || (state & GDK_CONTROL_MASK) == 0 || !is_editable (self))
    return;
  gtk_text_view_window_to_buffer_coords (self->target_view, GTK_TEXT_WINDOW_WIDGET, (int) x, (int) y,
                                         &buffer_x, &buffer_y);
  if (!gtk_text_view_get_iter_at_location (self->target_view, &iter, buffer_x, buffer_y))
    return;
  int offset = gtk_text_iter_get_offset (&iter);
  /* a click on a word's last half lands on the character after it */
  int word = word_at_offset (self, offset);
  if (word < 0)
    return;
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
  fa_edit_panel_toggle_word (self, (guint) word);
}

static void
toggle_word_action (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *parameter)
{
  FaEditPanel *self = FA_EDIT_PANEL (widget);
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->target_view);
  GtkTextIter iter;

  (void) action_name;
  (void) parameter;
  gtk_text_buffer_get_iter_at_mark (buffer, &iter, gtk_text_buffer_get_insert (buffer));
  int word = word_at_offset (self, gtk_text_iter_get_offset (&iter));
  if (word >= 0)
    fa_edit_panel_toggle_word (self, (guint) word);
}

/* ---- public ---- */

void
fa_edit_panel_set_document (FaEditPanel *self,
                            FaDocument  *document)
{
  g_return_if_fail (FA_IS_EDIT_PANEL (self));
  g_return_if_fail (document == NULL || FA_IS_DOCUMENT (document));

  if (document != self->document)
    {
      if (self->document != NULL)
        g_clear_signal_handler (&self->edit_changed_id, self->document);
      g_set_object (&self->document, document);
      if (document != NULL)
        self->edit_changed_id = g_signal_connect (document, "edit-changed", G_CALLBACK (edit_changed), self);
      self->prompts_pending = self->negative_pending = FALSE;
    }
  refresh (self);
}

FaDocument *
fa_edit_panel_get_document (FaEditPanel *self)
{
  g_return_val_if_fail (FA_IS_EDIT_PANEL (self), NULL);
  return self->document;
}

GtkTextBuffer *
fa_edit_panel_get_source_buffer (FaEditPanel *self)
{
  g_return_val_if_fail (FA_IS_EDIT_PANEL (self), NULL);
  return gtk_text_view_get_buffer (self->source_view);
}

GtkTextBuffer *
fa_edit_panel_get_target_buffer (FaEditPanel *self)
{
  g_return_val_if_fail (FA_IS_EDIT_PANEL (self), NULL);
  return gtk_text_view_get_buffer (self->target_view);
}

char **
fa_edit_panel_dup_words (FaEditPanel *self)
{
  g_return_val_if_fail (FA_IS_EDIT_PANEL (self), NULL);
  return g_strdupv (self->words);
}

gboolean
fa_edit_panel_word_is_target (FaEditPanel *self,
                              guint        word)
{
  g_return_val_if_fail (FA_IS_EDIT_PANEL (self), FALSE);
  return word < (guint) self->n_words && self->flags[word];
}

void
fa_edit_panel_toggle_word (FaEditPanel *self,
                           guint        word)
{
  g_return_if_fail (FA_IS_EDIT_PANEL (self));

  if (!is_editable (self) || word >= (guint) self->n_words || self->words[word][0] == '\0')
    return;

  const char *source = fa_document_get_source_prompt (self->document);
  const char *target = fa_document_get_target_prompt (self->document);
  int n = self->n_words;
  gboolean want = !self->flags[word];
  g_autofree gboolean *picked = g_memdup2 (self->flags, sizeof (gboolean) * n);
  g_autofree gboolean *marked = g_new0 (gboolean, n);
  g_autofree gboolean *automatic = g_new0 (gboolean, n);

  picked[word] = want;
  g_auto (GStrv) runs = flags_to_runs (self->words, n, picked);
  compute_flags (source, target, (const char *const *) runs, self->words, n, marked);
  if (!want && marked[word])
    {
      /* another occurrence of the word is picked, and every occurrence
       * counts: the word goes from all of them */
      for (int k = 0; k < n; k++)
        if (strcmp (self->words[k], self->words[word]) == 0)
          picked[k] = FALSE;
      g_strfreev (runs);
      runs = flags_to_runs (self->words, n, picked);
      compute_flags (source, target, (const char *const *) runs, self->words, n, marked);
    }
  compute_flags (source, target, NULL, self->words, n, automatic);
  gboolean is_automatic = memcmp (marked, automatic, sizeof (gboolean) * n) == 0;

  fa_document_set_prompts (self->document, source, target, is_automatic ? NULL : (const char *const *) runs);
}

void
fa_edit_panel_apply_preset (FaEditPanel *self,
                            FaEditPreset preset)
{
  FaEditParams params;

  g_return_if_fail (FA_IS_EDIT_PANEL (self));
  g_return_if_fail ((int) preset >= 0 && preset < FA_EDIT_N_PRESETS);

  if (!is_editable (self))
    return;
  fa_document_get_params (self->document, &params);
  fa_edit_preset_apply (preset, &params);
  set_params (self, &params);
  /* the row shows the preset even when the values did not change */
  refresh (self);
}

void
fa_edit_panel_focus_prompt (FaEditPanel *self)
{
  g_return_if_fail (FA_IS_EDIT_PANEL (self));

  /* the source prompt first while it is empty: it describes the clip the
   * target prompt changes */
  GtkTextBuffer *source = gtk_text_view_get_buffer (self->source_view);
  gtk_widget_grab_focus (GTK_WIDGET (gtk_text_buffer_get_char_count (source) == 0 ? self->source_view
                                                                                : self->target_view));
}

/* ---- the class ---- */

static void
fa_edit_panel_dispose (GObject *object)
{
  FaEditPanel *self = FA_EDIT_PANEL (object);

  if (self->document != NULL)
    g_clear_signal_handler (&self->edit_changed_id, self->document);
  g_clear_object (&self->document);
  gtk_widget_dispose_template (GTK_WIDGET (self), FA_TYPE_EDIT_PANEL);
  /* the template's children that are not bound to a field */
  for (GtkWidget *child; (child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL;)
    gtk_widget_unparent (child);
  G_OBJECT_CLASS (fa_edit_panel_parent_class)->dispose (object);
}

static void
fa_edit_panel_finalize (GObject *object)
{
  FaEditPanel *self = FA_EDIT_PANEL (object);

  clear_words (self);
  g_array_unref (self->sizes);
  g_array_unref (self->rates);
  G_OBJECT_CLASS (fa_edit_panel_parent_class)->finalize (object);
}

static void
fa_edit_panel_class_init (FaEditPanelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = fa_edit_panel_dispose;
  object_class->finalize = fa_edit_panel_finalize;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/flowanchor/Studio/ui/fa-edit-panel.ui");
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, prompts_group);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, source_view);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, target_view);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, advanced_expander);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, negative_view);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, negative_hint);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, words_reset_button);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, params_group);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, preset_row);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, skipped_row);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, steps_spin);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, skipped_spin);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, cfg_source_spin);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, cfg_target_spin);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, beta1_spin);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, beta2_spin);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, tau_spin);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, gamma_spin);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, steps_reset);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, skipped_reset);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, cfg_source_reset);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, cfg_target_reset);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, beta1_reset);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, beta2_reset);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, tau_reset);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, gamma_reset);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, seed_row);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, seed_random_button);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, seed_reset);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, size_row);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, size_list);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, size_reset);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, fps_row);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, fps_list);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, fps_reset);
  gtk_widget_class_bind_template_child (widget_class, FaEditPanel, more_row);

  gtk_widget_class_install_action (widget_class, "edit-panel.toggle-word", NULL, toggle_word_action);
}

/* "0.3", "10", "25": a default as the reset tooltips say it, in the
 * locale's decimal mark without trailing zeros. */
static char *
format_default (double value,
                int    digits)
{
  char *text = g_strdup_printf ("%.*f", digits, value);

  if (digits > 0)
    {
      char *end = text + strlen (text) - 1;
      while (*end == '0')
        *end-- = '\0';
      if (!g_ascii_isdigit (*end))
        *end = '\0';
    }
  return text;
}

static void
fa_edit_panel_init (FaEditPanel *self)
{
  FaEditParams defaults;

  self->sizes = g_array_new (FALSE, FALSE, sizeof (FaEditFormat));
  self->rates = g_array_new (FALSE, FALSE, sizeof (int));

  gtk_widget_init_template (GTK_WIDGET (self));

  GtkSpinButton *spins[N_SPINS] = { self->steps_spin, self->skipped_spin, self->cfg_source_spin,
                                    self->cfg_target_spin, self->beta1_spin, self->beta2_spin,
                                    self->tau_spin, self->gamma_spin };
  GtkButton *resets[N_SPINS] = { self->steps_reset, self->skipped_reset, self->cfg_source_reset,
                                 self->cfg_target_reset, self->beta1_reset, self->beta2_reset,
                                 self->tau_reset, self->gamma_reset };
  memcpy (self->spins, spins, sizeof spins);
  memcpy (self->resets, resets, sizeof resets);

  fa_edit_params_init (&defaults);
  for (int field = 0; field < N_SPINS; field++)
    {
      g_autofree char *value = format_default (get_field (&defaults, field),
                                               (int) gtk_spin_button_get_digits (self->spins[field]));
      /* Translators: the tooltip of a parameter's reset button, e.g. "Reset to the default, 25" */
      g_autofree char *tooltip = g_strdup_printf (_("Reset to the default, %s"), value);
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->resets[field]), tooltip);
      g_signal_connect (self->spins[field], "value-changed", G_CALLBACK (spin_value_changed), self);
      g_signal_connect (self->resets[field], "clicked", G_CALLBACK (reset_clicked), self);
    }
  g_autofree char *seed_tooltip = g_strdup_printf (_("Reset to the default, %s"), "0");
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->seed_reset), seed_tooltip);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->size_reset), _("Reset to the clip's default size"));
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->fps_reset), _("Reset to the default frame rate"));
  g_signal_connect (self->seed_reset, "clicked", G_CALLBACK (reset_clicked), self);
  g_signal_connect (self->size_reset, "clicked", G_CALLBACK (reset_clicked), self);
  g_signal_connect (self->fps_reset, "clicked", G_CALLBACK (reset_clicked), self);

  g_signal_connect (self->preset_row, "notify::selected", G_CALLBACK (preset_selected), self);
  g_signal_connect (self->size_row, "notify::selected", G_CALLBACK (format_selected), self);
  g_signal_connect (self->fps_row, "notify::selected", G_CALLBACK (format_selected), self);
  g_signal_connect (self->seed_row, "changed", G_CALLBACK (seed_changed), self);
  g_signal_connect (self->words_reset_button, "clicked", G_CALLBACK (words_reset_clicked), self);
  g_signal_connect (self->seed_random_button, "clicked", G_CALLBACK (seed_random_clicked), self);

  GtkTextView *views[] = { self->source_view, self->target_view, self->negative_view };
  for (gsize k = 0; k < G_N_ELEMENTS (views); k++)
    {
      GtkTextBuffer *buffer = gtk_text_view_get_buffer (views[k]);
      g_signal_connect (buffer, "changed", G_CALLBACK (prompt_changed), self);
      g_signal_connect (buffer, "begin-user-action", G_CALLBACK (prompt_begin_user_action), self);
      g_signal_connect (buffer, "end-user-action", G_CALLBACK (prompt_end_user_action), self);
    }

  /* an accent-blue wash readable on light and dark backgrounds, and an
   * underline for when colour is not enough */
  GdkRGBA wash = { 0.21f, 0.52f, 0.89f, 0.28f };
  gtk_text_buffer_create_tag (gtk_text_view_get_buffer (self->target_view), TARGET_WORD_TAG, "background-rgba",
                              &wash, "underline", PANGO_UNDERLINE_SINGLE, NULL);

  GtkGesture *click = gtk_gesture_click_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (click), GDK_BUTTON_PRIMARY);
  gtk_event_controller_set_propagation_phase (GTK_EVENT_CONTROLLER (click), GTK_PHASE_CAPTURE);
  g_signal_connect (click, "pressed", G_CALLBACK (target_pressed), self);
  gtk_widget_add_controller (GTK_WIDGET (self->target_view), GTK_EVENT_CONTROLLER (click));

  g_autoptr (GMenu) menu = g_menu_new ();
  g_menu_append (menu, _("Add or Remove Anchor Word"), "edit-panel.toggle-word");
  gtk_text_view_set_extra_menu (self->target_view, G_MENU_MODEL (menu));

  /* Translators: %s is Wan's default negative prompt, in Chinese */
  g_autofree char *hint = g_strdup_printf (_("Empty: Wan's default, “%s”"), fa_wan_default_negative_prompt);
  gtk_label_set_text (self->negative_hint, hint);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->negative_hint), fa_wan_default_negative_prompt);

  refresh (self);
}
