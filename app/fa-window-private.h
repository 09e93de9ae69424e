/* fa-window-private.h: what FaWindow's files share (fa-window.c: layout,
 * document and state; fa-window-actions.c: the win.* actions and keys;
 * fa-window-dnd.c: dropping files).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "fa-edit-panel.h"
#include "fa-results-list.h"
#include "fa-timeline.h"
#include "fa-viewer.h"
#include "fa-window.h"

G_BEGIN_DECLS

struct _FaWindow
{
  AdwApplicationWindow  parent_instance;

  GSettings            *settings;
  FaDocument           *document;
  GCancellable         *open_cancellable;  /* the open running, if any */
  GCancellable         *job_cancellable;   /* the propagation running, if any */
  GCancellable         *edit_cancellable;  /* the preview or edit running, if any */
  gpointer              edit_run;          /* its state (fa-window-edit.c) */
  char                 *last_error;
  guint                 play_source;
  gint64                play_started_us;
  int                   play_started_frame;
  GHashTable           *action_enabled;    /* action name → enabled, as last set (for tests) */
  guint                 saving : 1;
  guint                 close_after_save : 1;
  guint                 closing_confirmed : 1;

  /* template children */
  AdwToastOverlay      *toast_overlay;
  AdwHeaderBar         *header_bar;
  AdwWindowTitle       *window_title;
  GtkMenuButton        *primary_menu_button;
  GtkMenuButton        *recent_button;
  GtkToggleButton      *panel_button;
  GtkStack             *main_stack;
  AdwStatusPage        *status_page;
  GtkButton            *open_clip_button;
  GtkButton            *open_sample_button;
  GtkLabel             *loading_label;
  GtkProgressBar       *loading_progress;
  AdwFlap              *flap;
  FaViewer             *viewer;
  FaTimeline           *timeline;
  GtkToggleButton      *brush_button;
  GtkToggleButton      *eraser_button;
  GtkToggleButton      *box_button;
  GtkAdjustment        *brush_size_adjustment;
  GtkAdjustment        *brush_hardness_adjustment;
  GtkToggleButton      *look_tint_button;
  GtkToggleButton      *look_outline_button;
  GtkToggleButton      *look_hidden_button;
  GtkAdjustment        *opacity_adjustment;
  GtkLabel             *mask_status_label;
  GtkButton            *play_button;
  GtkLabel             *frame_label;
  GtkLabel             *range_label;
  GtkWidget            *model_notice;
  GtkLabel             *model_notice_label;
  GtkButton            *model_notice_button;
  GtkButton            *model_download_button;
  GtkButton            *model_download_cancel_button;
  GtkProgressBar       *model_download_progress;
  GtkLabel             *model_download_label;
  GtkLabel             *model_download_error_label;
  FaEditPanel          *edit_panel;
  FaResultsList        *results_list;
  GtkButton            *cancel_job_button;
  GtkWidget            *compare_box;
  GtkToggleButton      *show_source_button;
  GtkToggleButton      *show_result_button;
  GtkToggleButton      *show_split_button;
};

/* fa-window.c */
void _fa_window_show_error (FaWindow *self, const char *heading, const GError *error);
void _fa_window_toast (FaWindow *self, const char *message);
void _fa_window_update_actions (FaWindow *self);
void _fa_window_open_path (FaWindow *self, const char *path, const char *relocated_clip);
/* Runs @then once the user chose to save (and the save succeeded) or to
 * discard unsaved changes; nothing when they cancel. No question when
 * nothing is unsaved. */
typedef void (*FaWindowContinuation) (FaWindow *self, gpointer data);
void _fa_window_confirm_discard (FaWindow *self, FaWindowContinuation then, gpointer data,
                                 GDestroyNotify destroy);
void _fa_window_save (FaWindow *self, const char *path);
void _fa_window_save_as (FaWindow *self);
void _fa_window_set_document (FaWindow *self, FaDocument *document);
void _fa_window_stop_playing (FaWindow *self);
/* gtk_widget_action_set_enabled, remembered for fa_window_get_action_enabled. */
void _fa_window_set_action_enabled (FaWindow *self, const char *action, gboolean enabled);

/* fa-window-actions.c */
void _fa_window_class_actions_init (GtkWidgetClass *widget_class);
void _fa_window_actions_update (FaWindow *self);
void _fa_window_recent_init (FaWindow *self);

/* fa-window-edit.c: preview, edit, results, compare, export */
void _fa_window_class_edit_init (GtkWidgetClass *widget_class);
void _fa_window_edit_init (FaWindow *self);
void _fa_window_edit_set_document (FaWindow *self);
void _fa_window_edit_update_actions (FaWindow *self);
/* Cancels a running preview or edit; TRUE when one was running. */
gboolean _fa_window_edit_cancel (FaWindow *self);
gboolean _fa_window_edit_is_running (FaWindow *self);
void _fa_window_edit_dispose (FaWindow *self);

/* fa-window-dnd.c */
void _fa_window_dnd_init (FaWindow *self);

G_END_DECLS
