/* fa-results-list.c: the document's results as a boxed list, newest first.
 *
 * Rows are rebuilt only when the number of results changes (results are
 * only ever added); any other "results-changed" (the current one changed,
 * frames arrived or failed to load) updates the rows in place, so that a
 * click that makes a result current does not destroy the row under the
 * pointer and its keyboard focus.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "fa-results-list"

#include "config.h"

#include <math.h>

#include <glib/gi18n.h>

#include "fa-document-edit.h"
#include "fa-edit-presets.h"
#include "fa-results-list.h"

struct _FaResultsList
{
  GtkWidget   parent_instance;

  GtkStack   *stack;
  GtkListBox *list_box;

  FaDocument *document;
  guint       n_rows;
};

G_DEFINE_FINAL_TYPE (FaResultsList, fa_results_list, GTK_TYPE_WIDGET)

/* What a row keeps to update itself in place. */
typedef struct {
  guint       index;   /* the document's result index */
  GtkSpinner *spinner; /* turning while the current result's frames load */
  GtkLabel   *error;   /* why its frames could not be read */
} RowData;

#define ROW_DATA_KEY "fa-results-list-row"

GtkWidget *
fa_results_list_new (void)
{
  return g_object_new (FA_TYPE_RESULTS_LIST, NULL);
}

/* ---- what a row says ---- */

static char *
format_time (gint64 created_unix)
{
  g_autoptr (GDateTime) created = g_date_time_new_from_unix_local (created_unix);
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();

  if (created == NULL)
    return g_strdup ("");
  if (g_date_time_get_year (created) == g_date_time_get_year (now) &&
      g_date_time_get_day_of_year (created) == g_date_time_get_day_of_year (now))
    /* Translators: the time a result was made today, g_date_time_format syntax */
    return g_date_time_format (created, C_("result time", "%H:%M"));
  /* Translators: the day and time a result was made before today, g_date_time_format syntax */
  return g_date_time_format (created, C_("result time", "%-d %b %H:%M"));
}

static gboolean
float_differs (float a, float b)
{
  return fabsf (a - b) > 1e-6f * MAX (1.0f, fabsf (b));
}

/* The parameters that differ from the defaults, in the order a person
 * tunes them; "" when none do. */
static char *
summarize_params (const FaEditParams *params)
{
  FaEditParams defaults;
  g_autoptr (GPtrArray) parts = g_ptr_array_new_with_free_func (g_free);

  fa_edit_params_init (&defaults);
  /* Steps and n_max together are what the panel shows as strength. */
  if (params->steps != defaults.steps || params->n_max != defaults.n_max)
    {
      g_ptr_array_add (parts, g_strdup_printf (ngettext ("%d step", "%d steps", params->steps),
                                               params->steps));
      g_ptr_array_add (parts, g_strdup_printf (_("strength %.2f"), fa_edit_params_get_strength (params)));
    }
  if (params->n_min != defaults.n_min)
    g_ptr_array_add (parts, g_strdup_printf (ngettext ("%d plain step", "%d plain steps",
                                                          params->n_min),
                                             params->n_min));
  if (float_differs (params->cfg_target, defaults.cfg_target))
    g_ptr_array_add (parts, g_strdup_printf (_("target guidance %g"), params->cfg_target));
  if (float_differs (params->cfg_source, defaults.cfg_source))
    g_ptr_array_add (parts, g_strdup_printf (_("source guidance %g"), params->cfg_source));
  if (params->sar != defaults.sar)
    g_ptr_array_add (parts, g_strdup (params->sar ? _("SAR on") : _("SAR off")));
  if (params->sar && (float_differs (params->beta1, defaults.beta1) || float_differs (params->beta2, defaults.beta2)))
    g_ptr_array_add (parts, g_strdup_printf (_("SAR %g/%g"), params->beta1, params->beta2));
  if (params->sar && float_differs (params->tau, defaults.tau))
    g_ptr_array_add (parts, g_strdup_printf (_("SAR until σ %g"), params->tau));
  if (params->amm != defaults.amm)
    g_ptr_array_add (parts, g_strdup (params->amm ? _("AMM on") : _("AMM off")));
  if (params->amm && float_differs (params->gamma, defaults.gamma))
    g_ptr_array_add (parts, g_strdup_printf (_("AMM %g"), params->gamma));
  if (params->amm && params->gamma_frames != defaults.gamma_frames)
    g_ptr_array_add (parts, g_strdup_printf (_("AMM frames %d"), params->gamma_frames));
  if (float_differs (params->shift, defaults.shift))
    g_ptr_array_add (parts, g_strdup_printf (_("shift %g"), params->shift));
  if (params->n_avg != defaults.n_avg)
    g_ptr_array_add (parts, g_strdup_printf (ngettext ("%d draw", "%d draws", params->n_avg),
                                             params->n_avg));
  if (params->mask_dilation != defaults.mask_dilation)
    g_ptr_array_add (parts, g_strdup_printf (_("dilation %d px"), params->mask_dilation));
  if (params->blend_background)
    g_ptr_array_add (parts, g_strdup_printf (_("background blend %g"), params->blend_strength));
  if (params->seed != defaults.seed)
    {
      g_autofree char *seed = g_strdup_printf ("%" G_GUINT64_FORMAT, params->seed);
      /* Translators: %s is the noise seed, a number */
      g_ptr_array_add (parts, g_strdup_printf (_("seed %s"), seed));
    }

  g_ptr_array_add (parts, NULL);
  /* Translators: between the parameters of a result's summary */
  return g_strjoinv (_(" · "), (char **) parts->pdata);
}

static GtkWidget *
new_label (const char *text, const char *const *classes)
{
  GtkWidget *label = gtk_label_new (text);

  gtk_label_set_xalign (GTK_LABEL (label), 0.0f);
  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
  gtk_label_set_single_line_mode (GTK_LABEL (label), TRUE);
  for (guint i = 0; classes != NULL && classes[i] != NULL; i++)
    gtk_widget_add_css_class (label, classes[i]);
  return label;
}

static GtkWidget *
new_row (FaResultsList *self, guint index)
{
  const FaProjectResult *result = fa_document_get_result (self->document, index);
  RowData *data = g_new0 (RowData, 1);
  const char *target = result->target_prompt != NULL && result->target_prompt[0] != '\0' ? result->target_prompt
                                                                                          : _("No target prompt");
  g_autofree char *time = format_time (result->created_unix);
  g_autofree char *summary = summarize_params (&result->params);
  GtkWidget *row = gtk_list_box_row_new ();
  GtkWidget *hbox = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  GtkWidget *vbox = gtk_box_new (GTK_ORIENTATION_VERTICAL, 3);
  GtkWidget *top = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *kind, *when, *prompt, *details, *spinner, *error, *button;

  data->index = index;
  g_object_set_data_full (G_OBJECT (row), ROW_DATA_KEY, data, g_free);

  gtk_widget_set_margin_top (hbox, 8);
  gtk_widget_set_margin_bottom (hbox, 8);
  gtk_widget_set_margin_start (hbox, 12);
  gtk_widget_set_margin_end (hbox, 8);
  gtk_widget_set_hexpand (vbox, TRUE);
  gtk_widget_set_valign (vbox, GTK_ALIGN_CENTER);

  kind = new_label (result->kind == FA_PROJECT_RESULT_PREVIEW ? _("Preview") : _("Edit"),
                    (const char *const[]) { "caption-heading", "fa-results-list-kind", NULL });
  when = new_label (time, (const char *const[]) { "caption", "dim-label", "fa-results-list-time", NULL });
  gtk_widget_set_hexpand (when, TRUE);
  spinner = gtk_spinner_new ();
  gtk_widget_set_visible (spinner, FALSE);
  gtk_widget_set_tooltip_text (spinner, _("Loading the result"));
  gtk_box_append (GTK_BOX (top), kind);
  gtk_box_append (GTK_BOX (top), when);
  gtk_box_append (GTK_BOX (top), spinner);

  prompt = new_label (target, (const char *const[]) { "fa-results-list-prompt", NULL });
  details = new_label (summary[0] != '\0' ? summary : _("Default settings"),
                       (const char *const[]) { "caption", "dim-label", "fa-results-list-summary", NULL });
  if (summary[0] != '\0')
    gtk_widget_set_tooltip_text (details, summary);
  error = new_label (NULL, (const char *const[]) { "caption", "error", "fa-results-list-error", NULL });
  gtk_label_set_single_line_mode (GTK_LABEL (error), FALSE);
  gtk_label_set_ellipsize (GTK_LABEL (error), PANGO_ELLIPSIZE_NONE);
  gtk_label_set_wrap (GTK_LABEL (error), TRUE);
  gtk_label_set_wrap_mode (GTK_LABEL (error), PANGO_WRAP_WORD_CHAR);
  gtk_widget_set_visible (error, FALSE);

  gtk_box_append (GTK_BOX (vbox), top);
  gtk_box_append (GTK_BOX (vbox), prompt);
  gtk_box_append (GTK_BOX (vbox), details);
  gtk_box_append (GTK_BOX (vbox), error);

  button = gtk_button_new_with_label (_("Export…"));
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (button, "flat");
  gtk_widget_add_css_class (button, "fa-results-list-export");
  gtk_actionable_set_action_name (GTK_ACTIONABLE (button), "win.export-result");
  gtk_actionable_set_action_target_value (GTK_ACTIONABLE (button), g_variant_new_int32 ((gint32) index));
  gtk_widget_set_tooltip_text (button, _("Export this result to a video file"));

  gtk_box_append (GTK_BOX (hbox), vbox);
  gtk_box_append (GTK_BOX (hbox), button);
  gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), hbox);

  /* The prompt may be cut short by the panel's width: the tooltip has it whole. */
  {
    g_autofree char *tooltip = g_strdup_printf ("%s\n%s → %s", time,
                                                result->source_prompt != NULL ? result->source_prompt : "",
                                                target);
    gtk_widget_set_tooltip_text (prompt, tooltip);
  }

  data->spinner = GTK_SPINNER (spinner);
  data->error = GTK_LABEL (error);
  return row;
}

/* ---- following the document ---- */

static GtkListBoxRow *
row_for_result (FaResultsList *self, int index)
{
  if (index < 0 || (guint) index >= self->n_rows)
    return NULL;
  return gtk_list_box_get_row_at_index (self->list_box, (int) (self->n_rows - 1 - (guint) index));
}

static void
update_rows (FaResultsList *self)
{
  int current = fa_document_get_current_result (self->document);

  for (guint i = 0; i < self->n_rows; i++)
    {
      GtkListBoxRow *row = gtk_list_box_get_row_at_index (self->list_box, (int) i);
      RowData *data = g_object_get_data (G_OBJECT (row), ROW_DATA_KEY);
      const GError *error = fa_document_get_result_error (self->document, data->index);
      gboolean loading = (int) data->index == current && error == NULL &&
                         fa_document_peek_result_clip (self->document, data->index) == NULL;

      gtk_widget_set_visible (GTK_WIDGET (data->spinner), loading);
      gtk_spinner_set_spinning (data->spinner, loading);
      gtk_label_set_text (data->error, error != NULL ? error->message : "");
      gtk_widget_set_visible (GTK_WIDGET (data->error), error != NULL);
    }

  GtkListBoxRow *selected = row_for_result (self, current);
  if (selected != NULL)
    gtk_list_box_select_row (self->list_box, selected);
  else
    gtk_list_box_unselect_all (self->list_box);
}

static void
rebuild (FaResultsList *self)
{
  GtkWidget *child;
  guint n = self->document != NULL ? fa_document_get_n_results (self->document) : 0;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->list_box))) != NULL)
    gtk_list_box_remove (self->list_box, child);
  self->n_rows = 0;

  for (guint i = n; i > 0; i--)
    gtk_list_box_append (self->list_box, new_row (self, i - 1));
  self->n_rows = n;

  gtk_stack_set_visible_child_name (self->stack, n > 0 ? "list" : "empty");
  if (n > 0)
    update_rows (self);
}

static void
on_results_changed (FaResultsList *self)
{
  if (fa_document_get_n_results (self->document) != self->n_rows)
    rebuild (self);
  else
    update_rows (self);
}

static void
on_row_activated (FaResultsList *self, GtkListBoxRow *row)
{
  RowData *data = g_object_get_data (G_OBJECT (row), ROW_DATA_KEY);

  if (self->document != NULL && data != NULL)
    fa_document_set_current_result (self->document, (int) data->index);
}

void
fa_results_list_set_document (FaResultsList *self, FaDocument *document)
{
  g_return_if_fail (FA_IS_RESULTS_LIST (self));
  g_return_if_fail (document == NULL || FA_IS_DOCUMENT (document));

  if (self->document == document)
    return;
  if (self->document != NULL)
    g_signal_handlers_disconnect_by_data (self->document, self);
  g_set_object (&self->document, document);
  if (document != NULL)
    g_signal_connect_swapped (document, "results-changed", G_CALLBACK (on_results_changed), self);
  rebuild (self);
}

guint
fa_results_list_get_n_rows (FaResultsList *self)
{
  g_return_val_if_fail (FA_IS_RESULTS_LIST (self), 0);
  return self->n_rows;
}

void
fa_results_list_activate_row (FaResultsList *self, guint row)
{
  g_return_if_fail (FA_IS_RESULTS_LIST (self));
  g_return_if_fail (row < self->n_rows);

  /* GtkListBoxRow's "activate" is what a click or Enter ends in. */
  gtk_widget_activate (GTK_WIDGET (gtk_list_box_get_row_at_index (self->list_box, (int) row)));
}

/* ---- the widget ---- */

static void
fa_results_list_dispose (GObject *object)
{
  FaResultsList *self = FA_RESULTS_LIST (object);
  GtkWidget *child;

  if (self->document != NULL)
    g_signal_handlers_disconnect_by_data (self->document, self);
  g_clear_object (&self->document);
  gtk_widget_dispose_template (GTK_WIDGET (self), FA_TYPE_RESULTS_LIST);
  /* dispose_template unparents only bound children, not the box around them */
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);

  G_OBJECT_CLASS (fa_results_list_parent_class)->dispose (object);
}

static void
fa_results_list_class_init (FaResultsListClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = fa_results_list_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/flowanchor/Studio/ui/fa-results-list.ui");
  gtk_widget_class_bind_template_child (widget_class, FaResultsList, stack);
  gtk_widget_class_bind_template_child (widget_class, FaResultsList, list_box);
  gtk_widget_class_bind_template_callback (widget_class, on_row_activated);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "fa-results-list");
}

static void
fa_results_list_init (FaResultsList *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  gtk_stack_set_visible_child_name (self->stack, "empty");
}
