/* fa-mask-history.c: undo and redo over mask edits.
 *
 * A step keeps, for each frame it changed, the frame's state before and
 * after (alpha, keyframe flag, confidence). Frames recorded but left as
 * they were are dropped when the step closes, so that a step holds only
 * what it changed and undo does not touch (nor make stale) frames it
 * never changed. An "after" alpha equal to the "before" one (a step that
 * only turned a frame into a keyframe) is not stored twice.
 *
 * The steps are one list: those below @n_done can be undone (the last
 * one first), those from @n_done on redone.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-mask-history"

#include "fa-mask-history.h"

#include <string.h>

typedef struct {
  guint8 *alpha;
  gboolean keyframe;
  float confidence;
} FrameState;

typedef struct {
  int frame;
  FrameState before, after; /* after.alpha NULL: the same alpha as before */
} FrameRecord;

typedef struct {
  char *label;
  GArray *records; /* FrameRecord */
  GHashTable *recorded; /* frame → TRUE, while the step is open */
  gsize bytes;
  int first_frame, last_frame;
} Step;

struct _FaMaskHistory {
  FaMaskSet *masks;
  gsize max_bytes;
  gsize frame_bytes;
  GPtrArray *steps; /* Step *, oldest first */
  guint n_done;
  Step *open;
  gsize bytes; /* of every step and the open one */
};

static void
frame_record_clear (FrameRecord *record)
{
  g_clear_pointer (&record->before.alpha, g_free);
  g_clear_pointer (&record->after.alpha, g_free);
}

static void
step_free (Step *step)
{
  if (step == NULL)
    return;
  g_free (step->label);
  g_array_unref (step->records);
  g_clear_pointer (&step->recorded, g_hash_table_unref);
  g_free (step);
}

static void
state_read (FaMaskHistory *history, int frame, FrameState *state)
{
  state->alpha = g_memdup2 (fa_mask_set_peek_frame (history->masks, frame), history->frame_bytes);
  state->keyframe = fa_mask_set_is_keyframe (history->masks, frame);
  state->confidence = fa_mask_set_get_confidence (history->masks, frame);
}

static gboolean
state_is_current (FaMaskHistory *history, int frame, const FrameState *state, const guint8 *alpha)
{
  return fa_mask_set_is_keyframe (history->masks, frame) == state->keyframe &&
         fa_mask_set_get_confidence (history->masks, frame) == state->confidence &&
         memcmp (fa_mask_set_peek_frame (history->masks, frame), alpha, history->frame_bytes) == 0;
}

/* Puts @frame back into @state. Only what differs is written, so that a
 * frame already as it should be keeps its keyframe serial. */
static void
state_write (FaMaskHistory *history, int frame, const FrameState *state, const guint8 *alpha)
{
  if (state_is_current (history, frame, state, alpha))
    return;
  if (state->keyframe)
    {
      /* cannot fail: the frame is in range and the alpha is there */
      fa_mask_set_set_keyframe (history->masks, frame, alpha, NULL);
    }
  else
    {
      /* get_frame only hands out the pointer; unlike drawing it does not
       * make the frame a keyframe, which unset_keyframe undoes anyway */
      memcpy (fa_mask_set_get_frame (history->masks, frame), alpha, history->frame_bytes);
      fa_mask_set_unset_keyframe (history->masks, frame);
    }
  /* a keyframe reads 1 whatever is stored; a propagated frame its own */
  fa_mask_set_set_confidence (history->masks, frame, state->confidence);
}

static void
step_put (FaMaskHistory *history, Step *step, gboolean after)
{
  /* frames are unique in a step, so the order does not matter */
  for (guint i = 0; i < step->records->len; i++)
    {
      FrameRecord *r = &g_array_index (step->records, FrameRecord, i);
      const FrameState *state = after ? &r->after : &r->before;
      const guint8 *alpha = after && r->after.alpha == NULL ? r->before.alpha : state->alpha;
      state_write (history, r->frame, state, alpha);
    }
}

static void
drop_step (FaMaskHistory *history, guint index)
{
  Step *step = g_ptr_array_index (history->steps, index);

  history->bytes -= step->bytes;
  if (index < history->n_done)
    history->n_done--;
  g_ptr_array_remove_index (history->steps, index);
}

FaMaskHistory *
fa_mask_history_new (FaMaskSet *masks, gsize max_bytes)
{
  g_return_val_if_fail (masks != NULL, NULL);

  FaMaskHistory *history = g_new0 (FaMaskHistory, 1);
  history->masks = masks;
  history->max_bytes = max_bytes;
  history->frame_bytes = (gsize) fa_mask_set_get_width (masks) * (gsize) fa_mask_set_get_height (masks);
  history->steps = g_ptr_array_new_with_free_func ((GDestroyNotify) step_free);
  return history;
}

void
fa_mask_history_free (FaMaskHistory *history)
{
  if (history == NULL)
    return;
  step_free (history->open);
  g_ptr_array_unref (history->steps);
  g_free (history);
}

void
fa_mask_history_begin (FaMaskHistory *history, const char *label)
{
  g_return_if_fail (history != NULL);
  g_return_if_fail (label != NULL);
  g_return_if_fail (history->open == NULL);

  Step *step = g_new0 (Step, 1);
  step->label = g_strdup (label);
  step->records = g_array_new (FALSE, FALSE, sizeof (FrameRecord));
  g_array_set_clear_func (step->records, (GDestroyNotify) frame_record_clear);
  step->recorded = g_hash_table_new (g_direct_hash, g_direct_equal);
  history->open = step;
}

void
fa_mask_history_record (FaMaskHistory *history, int frame)
{
  g_return_if_fail (history != NULL);
  g_return_if_fail (history->open != NULL);
  g_return_if_fail (frame >= 0 && frame < fa_mask_set_get_n_frames (history->masks));

  Step *step = history->open;
  if (!g_hash_table_add (step->recorded, GINT_TO_POINTER (frame)))
    return;

  FrameRecord record = { .frame = frame };
  state_read (history, frame, &record.before);
  g_array_append_val (step->records, record);
  step->bytes += history->frame_bytes;
  history->bytes += history->frame_bytes;
}

gboolean
fa_mask_history_end (FaMaskHistory *history)
{
  g_return_val_if_fail (history != NULL, FALSE);
  g_return_val_if_fail (history->open != NULL, FALSE);

  Step *step = g_steal_pointer (&history->open);
  g_clear_pointer (&step->recorded, g_hash_table_unref);
  history->bytes -= step->bytes;
  step->bytes = 0;
  step->first_frame = G_MAXINT;
  step->last_frame = -1;

  for (guint i = 0; i < step->records->len;)
    {
      FrameRecord *r = &g_array_index (step->records, FrameRecord, i);
      if (state_is_current (history, r->frame, &r->before, r->before.alpha))
        {
          g_array_remove_index_fast (step->records, i);
          continue;
        }
      r->after.keyframe = fa_mask_set_is_keyframe (history->masks, r->frame);
      r->after.confidence = fa_mask_set_get_confidence (history->masks, r->frame);
      step->bytes += history->frame_bytes;
      if (memcmp (fa_mask_set_peek_frame (history->masks, r->frame), r->before.alpha, history->frame_bytes) != 0)
        {
          r->after.alpha = g_memdup2 (fa_mask_set_peek_frame (history->masks, r->frame), history->frame_bytes);
          step->bytes += history->frame_bytes;
        }
      step->first_frame = MIN (step->first_frame, r->frame);
      step->last_frame = MAX (step->last_frame, r->frame);
      i++;
    }

  if (step->records->len == 0)
    {
      step_free (step);
      return FALSE;
    }

  /* what could have been redone is another branch now */
  while (history->steps->len > history->n_done)
    drop_step (history, history->steps->len - 1);
  g_ptr_array_add (history->steps, step);
  history->n_done++;
  history->bytes += step->bytes;
  while (history->bytes > history->max_bytes && history->steps->len > 1)
    drop_step (history, 0);
  return TRUE;
}

void
fa_mask_history_cancel (FaMaskHistory *history)
{
  g_return_if_fail (history != NULL);
  g_return_if_fail (history->open != NULL);

  Step *step = g_steal_pointer (&history->open);
  history->bytes -= step->bytes;
  step_put (history, step, FALSE);
  step_free (step);
}

gboolean
fa_mask_history_is_open (const FaMaskHistory *history)
{
  g_return_val_if_fail (history != NULL, FALSE);
  return history->open != NULL;
}

/* While a step is open neither undo nor redo can act, so there is nothing
 * to offer either (a menu greys out for the length of a stroke). */
gboolean
fa_mask_history_can_undo (const FaMaskHistory *history)
{
  g_return_val_if_fail (history != NULL, FALSE);
  return history->open == NULL && history->n_done > 0;
}

gboolean
fa_mask_history_can_redo (const FaMaskHistory *history)
{
  g_return_val_if_fail (history != NULL, FALSE);
  return history->open == NULL && history->n_done < history->steps->len;
}

const char *
fa_mask_history_get_undo_label (const FaMaskHistory *history)
{
  g_return_val_if_fail (history != NULL, NULL);
  if (!fa_mask_history_can_undo (history))
    return NULL;
  return ((Step *) g_ptr_array_index (history->steps, history->n_done - 1))->label;
}

const char *
fa_mask_history_get_redo_label (const FaMaskHistory *history)
{
  g_return_val_if_fail (history != NULL, NULL);
  if (!fa_mask_history_can_redo (history))
    return NULL;
  return ((Step *) g_ptr_array_index (history->steps, history->n_done))->label;
}

static void
report_range (const Step *step, int *first_frame, int *last_frame)
{
  if (first_frame != NULL)
    *first_frame = step->first_frame;
  if (last_frame != NULL)
    *last_frame = step->last_frame;
}

gboolean
fa_mask_history_undo (FaMaskHistory *history, int *first_frame, int *last_frame)
{
  g_return_val_if_fail (history != NULL, FALSE);

  if (!fa_mask_history_can_undo (history))
    return FALSE;
  Step *step = g_ptr_array_index (history->steps, history->n_done - 1);
  step_put (history, step, FALSE);
  history->n_done--;
  report_range (step, first_frame, last_frame);
  return TRUE;
}

gboolean
fa_mask_history_redo (FaMaskHistory *history, int *first_frame, int *last_frame)
{
  g_return_val_if_fail (history != NULL, FALSE);

  if (!fa_mask_history_can_redo (history))
    return FALSE;
  Step *step = g_ptr_array_index (history->steps, history->n_done);
  step_put (history, step, TRUE);
  history->n_done++;
  report_range (step, first_frame, last_frame);
  return TRUE;
}

void
fa_mask_history_clear (FaMaskHistory *history)
{
  g_return_if_fail (history != NULL);

  g_clear_pointer (&history->open, step_free);
  g_ptr_array_set_size (history->steps, 0);
  history->n_done = 0;
  history->bytes = 0;
}

gsize
fa_mask_history_get_bytes (const FaMaskHistory *history)
{
  g_return_val_if_fail (history != NULL, 0);
  return history->bytes;
}
