/* fa-wan-dit-forward.c: one forward pass of the Wan DiT (spec A.4), with
 * the per-prompt and per-step caches of spec A.6.
 *
 * Precision (spec A.5): the residual stream, norms, modulation, RoPE tables
 * and the head stay f32; the backend's linear decides the GEMM precision
 * (f32 on the CPU, bf16 inputs with f32 accumulation on CUDA).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-wan-dit"

#include "config.h"

#include <math.h>
#include <string.h>

#include "cpu/fa-cpu-kernels.h"
#include "fa-arena.h"
#include "fa-error.h"
#include "fa-wan-dit-private.h"

#define ROPE_THETA 10000.0
#define ARENA_ALIGNMENT 256 /* as fa-arena.c rounds each tensor */

struct _FaWanDitText {
  int num_layers;
  gint64 rows;
  FaTensor *embedding; /* [rows, dim] */
  FaTensor **keys;     /* per layer [rows, dim], RMS-normed */
  FaTensor **values;   /* per layer [rows, dim] */
};

/* What one input shape and one set of timesteps need, kept between calls:
 * a FlowEdit step runs four passes at one timestep on one grid. */
typedef struct {
  FaArena *arena;
  gint64 arena_batch, arena_tokens;

  gint64 grid[3];
  FaTensor *rope_cos, *rope_sin; /* [tokens, head_dim/2] */

  int time_batch;
  float *time_values;
  FaTensor *sinusoid;    /* [B, freq_dim] */
  FaTensor *temb;        /* [B, dim] */
  FaTensor *tproj;       /* [B, 6·dim] */
  FaTensor **modulation; /* [layer·6 + row] -> [B, dim] */
  FaTensor *head_shift, *head_scale; /* [B, dim] */
} ForwardState;

static void
clear_time (ForwardState *state, int num_layers)
{
  if (state->modulation != NULL)
    for (int i = 0; i < num_layers * 6; i++)
      fa_tensor_unref (state->modulation[i]);
  g_clear_pointer (&state->modulation, g_free);
  g_clear_pointer (&state->time_values, g_free);
  g_clear_pointer (&state->sinusoid, fa_tensor_unref);
  g_clear_pointer (&state->temb, fa_tensor_unref);
  g_clear_pointer (&state->tproj, fa_tensor_unref);
  g_clear_pointer (&state->head_shift, fa_tensor_unref);
  g_clear_pointer (&state->head_scale, fa_tensor_unref);
  state->time_batch = 0;
}

typedef struct {
  ForwardState state;
  int num_layers;
} ForwardStateBox;

static void
forward_state_free (gpointer data)
{
  ForwardStateBox *box = data;

  clear_time (&box->state, box->num_layers);
  g_clear_pointer (&box->state.arena, fa_arena_unref);
  g_clear_pointer (&box->state.rope_cos, fa_tensor_unref);
  g_clear_pointer (&box->state.rope_sin, fa_tensor_unref);
  g_free (box);
}

static ForwardState *
get_state (FaWanDit *dit)
{
  if (dit->forward_state == NULL)
    {
      ForwardStateBox *box = g_new0 (ForwardStateBox, 1);
      box->num_layers = dit->config.num_layers;
      dit->forward_state = box;
      dit->forward_state_free = forward_state_free;
    }
  return &((ForwardStateBox *) dit->forward_state)->state;
}

/* ---- small helpers ---- */

static FaTensor *
weight (FaWanDit *dit, const char *name)
{
  FaTensor *tensor = fa_wan_dit_get_weight (dit, name);
  /* the loader checked the whole set, so a miss is a bug, not bad input */
  g_assert (tensor != NULL);
  return tensor;
}

static FaTensor *
block_weight (FaWanDit *dit, int layer, const char *suffix)
{
  char name[128];
  g_snprintf (name, sizeof name, "blocks.%d.%s", layer, suffix);
  return weight (dit, name);
}

static gboolean
linear (FaWanDit *dit, const FaTensor *x, const char *name, FaTensor *y, GError **error)
{
  char bias[128];
  g_snprintf (bias, sizeof bias, "%.*s.bias", (int) (strlen (name) - strlen (".weight")), name);
  return fa_op_linear (dit->backend, x, weight (dit, name), fa_wan_dit_get_weight (dit, bias), y, error);
}

static gboolean
block_linear (FaWanDit *dit, int layer, const char *suffix, const FaTensor *x, FaTensor *y,
              GError **error)
{
  char name[128];
  g_snprintf (name, sizeof name, "blocks.%d.%s", layer, suffix);
  return linear (dit, x, name, y, error);
}

static FaTensor *
new_f32 (FaBackend *backend, int ndim, const gint64 *shape, GError **error)
{
  return fa_tensor_new (backend, FA_DTYPE_F32, ndim, shape, error);
}

/* A host array into a new f32 tensor on the backend. */
static FaTensor *
upload (FaBackend *backend, const float *values, int ndim, const gint64 *shape, GError **error)
{
  g_autoptr (FaTensor) host = fa_tensor_new_wrapping (FA_DTYPE_F32, ndim, shape, (gpointer) values,
                                                      NULL, NULL, error);
  if (host == NULL)
    return NULL;
  return fa_tensor_to (host, backend, FA_DTYPE_F32, error);
}

static void
tap (const FaWanDitForwardOptions *options, const char *name, const FaTensor *value)
{
  if (options != NULL && options->tap != NULL)
    options->tap (name, value, options->tap_user_data);
}

/* ---- text ---- */

void
fa_wan_dit_text_free (FaWanDitText *text)
{
  if (text == NULL)
    return;
  for (int l = 0; l < text->num_layers; l++)
    {
      fa_tensor_unref (text->keys[l]);
      fa_tensor_unref (text->values[l]);
    }
  g_free (text->keys);
  g_free (text->values);
  fa_tensor_unref (text->embedding);
  g_free (text);
}

FaWanDitText *
fa_wan_dit_encode_text (FaWanDit *dit, const FaTensor *context, GError **error)
{
  const FaWanDitConfig *c = &dit->config;
  FaBackend *backend = dit->backend;

  g_return_val_if_fail (dit != NULL && context != NULL, NULL);

  gboolean fits = (context->ndim == 2 || (context->ndim == 3 && context->shape[0] == 1)) &&
                  context->shape[context->ndim - 1] == c->text_dim && context->dtype == FA_DTYPE_F32;
  if (!fits)
    {
      g_autofree char *shape = fa_tensor_shape_to_string (context);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "text context is %s %s; the DiT takes f32 [rows, %d]", fa_dtype_get_name (context->dtype),
                   shape, c->text_dim);
      return NULL;
    }

  gint64 rows = context->shape[context->ndim - 2];
  gint64 hidden_shape[] = { rows, c->dim };
  g_autoptr (FaTensor) flat = fa_tensor_reshape ((FaTensor *) context, 2, (gint64[]) { rows, c->text_dim }, error);
  g_autoptr (FaTensor) hidden = flat ? new_f32 (backend, 2, hidden_shape, error) : NULL;
  if (hidden == NULL)
    return NULL;

  g_autoptr (FaWanDitText) text = g_new0 (FaWanDitText, 1);
  text->num_layers = c->num_layers;
  text->rows = rows;
  text->keys = g_new0 (FaTensor *, c->num_layers);
  text->values = g_new0 (FaTensor *, c->num_layers);
  text->embedding = new_f32 (backend, 2, hidden_shape, error);
  if (text->embedding == NULL ||
      !linear (dit, flat, "condition_embedder.text_embedder.linear_1.weight", hidden, error) ||
      !fa_op_gelu_tanh (backend, hidden, hidden, error) ||
      !linear (dit, hidden, "condition_embedder.text_embedder.linear_2.weight", text->embedding, error))
    return NULL;

  for (int l = 0; l < c->num_layers; l++)
    {
      text->keys[l] = new_f32 (backend, 2, hidden_shape, error);
      text->values[l] = text->keys[l] ? new_f32 (backend, 2, hidden_shape, error) : NULL;
      if (text->values[l] == NULL ||
          !block_linear (dit, l, "attn2.to_k.weight", text->embedding, text->keys[l], error) ||
          !fa_op_rms_norm (backend, text->keys[l], block_weight (dit, l, "attn2.norm_k.weight"),
                           text->keys[l], c->eps, error) ||
          !block_linear (dit, l, "attn2.to_v.weight", text->embedding, text->values[l], error))
        return NULL;
    }
  return g_steal_pointer (&text);
}

/* ---- per-grid and per-step tables ---- */

/* cos/sin [tokens, head_dim/2] of the rotation of each adjacent pair:
 * pairs [0, t/2) turn with the frame, then height, then width (spec A.4
 * step 3); angles in double, as the references compute them. */
static gboolean
ensure_rope (FaWanDit *dit, ForwardState *state, const gint64 grid[3], GError **error)
{
  int head_dim = dit->config.head_dim;
  int hw_dim = 2 * (head_dim / 6), t_dim = head_dim - 2 * hw_dim;
  const int axis_dims[3] = { t_dim, hw_dim, hw_dim };
  gint64 tokens = grid[0] * grid[1] * grid[2];
  int pairs = head_dim / 2;

  if (state->rope_cos != NULL && memcmp (state->grid, grid, sizeof state->grid) == 0)
    return TRUE;
  g_clear_pointer (&state->rope_cos, fa_tensor_unref);
  g_clear_pointer (&state->rope_sin, fa_tensor_unref);

  g_autofree float *cos_values = g_new (float, tokens * pairs);
  g_autofree float *sin_values = g_new (float, tokens * pairs);
  for (gint64 n = 0; n < tokens; n++)
    {
      const gint64 position[3] = { n / (grid[1] * grid[2]), (n / grid[2]) % grid[1], n % grid[2] };
      int p = 0;
      for (int axis = 0; axis < 3; axis++)
        for (int j = 0; j < axis_dims[axis] / 2; j++, p++)
          {
            double omega = 1.0 / pow (ROPE_THETA, (2.0 * j) / axis_dims[axis]);
            double angle = (double) position[axis] * omega;
            cos_values[n * pairs + p] = (float) cos (angle);
            sin_values[n * pairs + p] = (float) sin (angle);
          }
    }

  const gint64 shape[] = { tokens, pairs };
  state->rope_cos = upload (dit->backend, cos_values, 2, shape, error);
  state->rope_sin = state->rope_cos ? upload (dit->backend, sin_values, 2, shape, error) : NULL;
  if (state->rope_sin == NULL)
    {
      g_clear_pointer (&state->rope_cos, fa_tensor_unref);
      return FALSE;
    }
  memcpy (state->grid, grid, sizeof state->grid);
  return TRUE;
}

/* The timestep sinusoid as diffusers computes it (float32 throughout,
 * cos half first): the goldens come from there. */
static void
timestep_sinusoid (float t, int freq_dim, float *out)
{
  int half = freq_dim / 2;
  const float log_period = (float) -log (10000.0);

  for (int i = 0; i < half; i++)
    {
      float exponent = (log_period * (float) i) / (float) half;
      float angle = t * expf (exponent);
      out[i] = cosf (angle);
      out[half + i] = sinf (angle);
    }
}

/* Row r of block l for element b: the block's scale_shift_table row plus
 * the element's tproj row; and the head's shift and scale from temb itself
 * (not silu(temb)). */
static gboolean
fill_modulation (FaWanDit *dit, ForwardState *state, int b, GError **error)
{
  const FaWanDitConfig *c = &dit->config;
  FaBackend *backend = dit->backend;

  g_autoptr (FaTensor) tproj_b = fa_tensor_narrow (state->tproj, 0, b, 1, error);
  g_autoptr (FaTensor) rows_b = tproj_b ? fa_tensor_reshape (tproj_b, 2, (gint64[]) { 6, c->dim }, error) : NULL;
  g_autoptr (FaTensor) temb_b = rows_b ? fa_tensor_narrow (state->temb, 0, b, 1, error) : NULL;
  g_autoptr (FaTensor) head_table = temb_b ? fa_tensor_reshape (weight (dit, "scale_shift_table"), 2,
                                                                (gint64[]) { 2, c->dim }, error) : NULL;
  if (head_table == NULL)
    return FALSE;

  for (int l = 0; l < c->num_layers; l++)
    {
      g_autoptr (FaTensor) table = fa_tensor_reshape (block_weight (dit, l, "scale_shift_table"), 2,
                                                      (gint64[]) { 6, c->dim }, error);
      if (table == NULL)
        return FALSE;
      for (int r = 0; r < 6; r++)
        {
          g_autoptr (FaTensor) table_r = fa_tensor_narrow (table, 0, r, 1, NULL);
          g_autoptr (FaTensor) tproj_r = fa_tensor_narrow (rows_b, 0, r, 1, NULL);
          g_autoptr (FaTensor) out = fa_tensor_narrow (state->modulation[l * 6 + r], 0, b, 1, NULL);
          if (!fa_op_add (backend, tproj_r, table_r, out, error))
            return FALSE;
        }
    }

  g_autoptr (FaTensor) shift_row = fa_tensor_narrow (head_table, 0, 0, 1, NULL);
  g_autoptr (FaTensor) scale_row = fa_tensor_narrow (head_table, 0, 1, 1, NULL);
  g_autoptr (FaTensor) shift_b = fa_tensor_narrow (state->head_shift, 0, b, 1, NULL);
  g_autoptr (FaTensor) scale_b = fa_tensor_narrow (state->head_scale, 0, b, 1, NULL);
  return fa_op_add (backend, temb_b, shift_row, shift_b, error) &&
         fa_op_add (backend, temb_b, scale_row, scale_b, error);
}

static gboolean
compute_time (FaWanDit *dit, ForwardState *state, const float *timesteps, int batch, GError **error)
{
  const FaWanDitConfig *c = &dit->config;
  FaBackend *backend = dit->backend;
  const gint64 bd[] = { batch, c->dim };

  /* zeroed: an odd freq_dim leaves the last entry unwritten, which diffusers
   * pads with zero */
  g_autofree float *sinusoid = g_new0 (float, (gsize) batch * c->freq_dim);
  for (int b = 0; b < batch; b++)
    timestep_sinusoid (timesteps[b], c->freq_dim, sinusoid + (gsize) b * c->freq_dim);

  g_autoptr (FaTensor) hidden = new_f32 (backend, 2, bd, error);
  g_autoptr (FaTensor) activated = hidden ? new_f32 (backend, 2, bd, error) : NULL;
  state->sinusoid = activated ? upload (backend, sinusoid, 2, (gint64[]) { batch, c->freq_dim }, error) : NULL;
  state->temb = state->sinusoid ? new_f32 (backend, 2, bd, error) : NULL;
  state->tproj = state->temb ? new_f32 (backend, 2, (gint64[]) { batch, 6 * c->dim }, error) : NULL;
  state->head_shift = state->tproj ? new_f32 (backend, 2, bd, error) : NULL;
  state->head_scale = state->head_shift ? new_f32 (backend, 2, bd, error) : NULL;
  if (state->head_scale == NULL ||
      !linear (dit, state->sinusoid, "condition_embedder.time_embedder.linear_1.weight", hidden, error) ||
      !fa_op_silu (backend, hidden, hidden, error) ||
      !linear (dit, hidden, "condition_embedder.time_embedder.linear_2.weight", state->temb, error) ||
      !fa_op_silu (backend, state->temb, activated, error) ||
      !linear (dit, activated, "condition_embedder.time_proj.weight", state->tproj, error))
    return FALSE;

  state->modulation = g_new0 (FaTensor *, c->num_layers * 6);
  for (int i = 0; i < c->num_layers * 6; i++)
    if ((state->modulation[i] = new_f32 (backend, 2, bd, error)) == NULL)
      return FALSE;
  for (int b = 0; b < batch; b++)
    if (!fill_modulation (dit, state, b, error))
      return FALSE;
  return TRUE;
}

/* temb, the per-block modulation rows and the head's shift and scale for
 * one set of timesteps, kept until the timesteps change. */
static gboolean
ensure_time (FaWanDit *dit, ForwardState *state, const float *timesteps, int batch, GError **error)
{
  if (state->time_batch == batch && memcmp (state->time_values, timesteps, batch * sizeof (float)) == 0)
    return TRUE;
  clear_time (state, dit->config.num_layers);
  if (!compute_time (dit, state, timesteps, batch, error))
    {
      clear_time (state, dit->config.num_layers);
      return FALSE;
    }
  state->time_values = g_memdup2 (timesteps, batch * sizeof (float));
  state->time_batch = batch;
  return TRUE;
}

/* ---- the activation plan ---- */

typedef struct {
  FaTensor *patches; /* [B, N, in·patch] */
  FaTensor *x;       /* the residual stream [B, N, D] */
  FaTensor *h, *q, *k, *v, *o, *a; /* [B, N, D] */
  FaTensor *ffn;     /* [B, N, ffn] */
  FaTensor *y;       /* [B, N, out·patch] */
} Activations;

static gsize
round_up (gsize bytes)
{
  return (bytes + ARENA_ALIGNMENT - 1) & ~(gsize) (ARENA_ALIGNMENT - 1);
}

static gsize
plan_bytes (const FaWanDitConfig *c, gint64 batch, gint64 tokens)
{
  gint64 patch = (gint64) c->patch[0] * c->patch[1] * c->patch[2];
  gsize row = (gsize) batch * tokens * sizeof (float);
  return round_up (row * c->in_channels * patch) + 7 * round_up (row * c->dim) +
         round_up (row * c->ffn_dim) + round_up (row * c->out_channels * patch);
}

guint64
fa_wan_dit_estimate_bytes (FaWanDit *dit, gint64 batch, gint64 tokens, gint64 text_rows)
{
  g_return_val_if_fail (dit != NULL, 0);

  const FaWanDitConfig *c = &dit->config;
  const guint64 f = sizeof (float);
  guint64 bytes = plan_bytes (c, batch, tokens);

  /* RoPE tables, then the per-step tables: sinusoid, temb, tproj, the
   * block modulation rows and the head's shift and scale, with compute_time's
   * two temporaries */
  bytes += round_up ((gsize) tokens * (c->head_dim / 2) * f) * 2;
  bytes += round_up ((gsize) batch * c->freq_dim * f) +
           round_up ((gsize) batch * c->dim * f) * (2 + 2 + 2) +
           round_up ((gsize) batch * 6 * c->dim * f) +
           (guint64) c->num_layers * 6 * round_up ((gsize) batch * c->dim * f);

  /* attention scratch: the hooked element's whole logits and, on CUDA, f32
   * copies of its q, k, v and output; on the CPU one block of logits for
   * the others */
  guint64 hooked = (guint64) c->num_heads * tokens * text_rows * f;
  if (fa_backend_get_device (dit->backend) == FA_DEVICE_CUDA)
    hooked += (2 * (guint64) tokens + 2 * (guint64) text_rows) * c->dim * f;
  else
    hooked += (guint64) fa_cpu_attention_scratch_floats (tokens, MAX (tokens, text_rows)) * f;
  return bytes + hooked;
}

static gboolean
take_activations (FaWanDit *dit, ForwardState *state, gint64 batch, gint64 tokens, Activations *act,
                  GError **error)
{
  const FaWanDitConfig *c = &dit->config;
  gint64 patch = (gint64) c->patch[0] * c->patch[1] * c->patch[2];

  if (state->arena == NULL || state->arena_batch != batch || state->arena_tokens != tokens)
    {
      g_clear_pointer (&state->arena, fa_arena_unref);
      state->arena = fa_arena_new (dit->backend, "dit activations", plan_bytes (c, batch, tokens), error);
      if (state->arena == NULL)
        return FALSE;
      state->arena_batch = batch;
      state->arena_tokens = tokens;
      g_autofree char *size = g_format_size_full (fa_arena_get_capacity (state->arena), G_FORMAT_SIZE_IEC_UNITS);
      g_info ("DiT activations for batch %" G_GINT64_FORMAT " × %" G_GINT64_FORMAT " tokens: %s",
              batch, tokens, size);
    }
  fa_arena_reset (state->arena);

  FaTensor **all[] = { &act->patches, &act->x, &act->h, &act->q, &act->k, &act->v, &act->o, &act->a,
                       &act->ffn, &act->y };
  const gint64 widths[] = { c->in_channels * patch, c->dim, c->dim, c->dim, c->dim, c->dim, c->dim,
                            c->dim, c->ffn_dim, c->out_channels * patch };
  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    {
      *all[i] = fa_arena_new_tensor (state->arena, FA_DTYPE_F32, 3,
                                     (gint64[]) { batch, tokens, widths[i] }, error);
      if (*all[i] == NULL)
        return FALSE;
    }
  return TRUE;
}

static void
activations_clear (Activations *act)
{
  FaTensor **all[] = { &act->patches, &act->x, &act->h, &act->q, &act->k, &act->v, &act->o, &act->a,
                       &act->ffn, &act->y };
  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    g_clear_pointer (all[i], fa_tensor_unref);
}

/* ---- the blocks ---- */

typedef struct {
  const FaWanDitForwardOptions *options;
  int layer;
} HookContext;

static gboolean
cross_attention_hook (FaBackend *backend, FaTensor *logits, gpointer user_data, GError **error)
{
  HookContext *context = user_data;
  return context->options->cross_attention (backend, context->layer, logits,
                                            context->options->cross_attention_user_data, error);
}

static gboolean
self_attention (FaWanDit *dit, ForwardState *state, int l, Activations *act,
                const FaWanDitForwardOptions *options, GError **error)
{
  const FaWanDitConfig *c = &dit->config;
  FaBackend *backend = dit->backend;
  FaTensor **mod = state->modulation + l * 6;
  float scale = 1.0f / sqrtf ((float) c->head_dim);

  if (!fa_op_layer_norm (backend, act->x, NULL, NULL, act->h, c->eps, error) ||
      !fa_op_modulate (backend, act->h, mod[1], mod[0], act->h, error) ||
      !block_linear (dit, l, "attn1.to_q.weight", act->h, act->q, error) ||
      !fa_op_rms_norm (backend, act->q, block_weight (dit, l, "attn1.norm_q.weight"), act->q, c->eps, error) ||
      !block_linear (dit, l, "attn1.to_k.weight", act->h, act->k, error) ||
      !fa_op_rms_norm (backend, act->k, block_weight (dit, l, "attn1.norm_k.weight"), act->k, c->eps, error) ||
      !block_linear (dit, l, "attn1.to_v.weight", act->h, act->v, error) ||
      !fa_op_rope (backend, act->q, state->rope_cos, state->rope_sin, act->q, c->num_heads, error) ||
      !fa_op_rope (backend, act->k, state->rope_cos, state->rope_sin, act->k, c->num_heads, error) ||
      !fa_op_attention (backend, act->q, act->k, act->v, act->o, c->num_heads, scale, NULL, error) ||
      !block_linear (dit, l, "attn1.to_out.0.weight", act->o, act->a, error))
    return FALSE;

  char name[64];
  g_snprintf (name, sizeof name, "block%d.attn1", l);
  tap (options, name, act->a);
  return fa_op_gated_add (backend, act->x, act->a, mod[2], error);
}

static gboolean
cross_attention (FaWanDit *dit, int l, Activations *act, FaWanDitText *const *texts,
                 const FaWanDitForwardOptions *options, GError **error)
{
  const FaWanDitConfig *c = &dit->config;
  FaBackend *backend = dit->backend;
  float scale = 1.0f / sqrtf ((float) c->head_dim);

  if (!fa_op_layer_norm (backend, act->x, block_weight (dit, l, "norm2.weight"),
                         block_weight (dit, l, "norm2.bias"), act->h, c->eps, error) ||
      !block_linear (dit, l, "attn2.to_q.weight", act->h, act->q, error) ||
      !fa_op_rms_norm (backend, act->q, block_weight (dit, l, "attn2.norm_q.weight"), act->q, c->eps, error))
    return FALSE;

  /* one element at a time: each has its own prompt's cached K and V */
  for (gint64 b = 0; b < act->x->shape[0]; b++)
    {
      const FaWanDitText *text = texts[b];
      const gint64 kv_shape[] = { 1, text->rows, c->dim };
      g_autoptr (FaTensor) q = fa_tensor_narrow (act->q, 0, b, 1, error);
      g_autoptr (FaTensor) o = q ? fa_tensor_narrow (act->o, 0, b, 1, error) : NULL;
      g_autoptr (FaTensor) k = o ? fa_tensor_reshape (text->keys[l], 3, kv_shape, error) : NULL;
      g_autoptr (FaTensor) v = k ? fa_tensor_reshape (text->values[l], 3, kv_shape, error) : NULL;
      if (v == NULL)
        return FALSE;

      HookContext context = { options, l };
      FaAttentionHook hook = { cross_attention_hook, &context, 0 };
      gboolean hooked = options != NULL && options->cross_attention != NULL &&
                        options->cross_attention_batch_index == b;
      if (!fa_op_attention (backend, q, k, v, o, c->num_heads, scale, hooked ? &hook : NULL, error))
        return FALSE;
    }

  if (!block_linear (dit, l, "attn2.to_out.0.weight", act->o, act->a, error))
    return FALSE;
  char name[64];
  g_snprintf (name, sizeof name, "block%d.attn2", l);
  tap (options, name, act->a);
  return fa_op_gated_add (backend, act->x, act->a, NULL, error);
}

static gboolean
feed_forward (FaWanDit *dit, ForwardState *state, int l, Activations *act,
              const FaWanDitForwardOptions *options, GError **error)
{
  FaBackend *backend = dit->backend;
  FaTensor **mod = state->modulation + l * 6;

  if (!fa_op_layer_norm (backend, act->x, NULL, NULL, act->h, dit->config.eps, error) ||
      !fa_op_modulate (backend, act->h, mod[4], mod[3], act->h, error) ||
      !block_linear (dit, l, "ffn.net.0.proj.weight", act->h, act->ffn, error) ||
      !fa_op_gelu_tanh (backend, act->ffn, act->ffn, error) ||
      !block_linear (dit, l, "ffn.net.2.weight", act->ffn, act->a, error))
    return FALSE;

  char name[64];
  g_snprintf (name, sizeof name, "block%d.ffn", l);
  tap (options, name, act->a);
  return fa_op_gated_add (backend, act->x, act->a, mod[5], error);
}

/* ---- the pass ---- */

static gboolean
check_inputs (FaWanDit *dit, const FaTensor *latents, const float *timesteps,
              FaWanDitText *const *texts, const FaTensor *velocity, GError **error)
{
  const FaWanDitConfig *c = &dit->config;

  if (latents->ndim != 5 || latents->shape[1] != c->in_channels || latents->dtype != FA_DTYPE_F32 ||
      latents->shape[2] % c->patch[0] != 0 || latents->shape[3] % c->patch[1] != 0 ||
      latents->shape[4] % c->patch[2] != 0 || latents->shape[2] == 0)
    {
      g_autofree char *shape = fa_tensor_shape_to_string (latents);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "DiT latents are %s %s; expected f32 [B, %d, F, H, W] with F, H, W divisible by the "
                   "patch %d×%d×%d", fa_dtype_get_name (latents->dtype), shape, c->in_channels,
                   c->patch[0], c->patch[1], c->patch[2]);
      return FALSE;
    }
  if (velocity->ndim != 5 || velocity->shape[1] != c->out_channels || velocity->dtype != FA_DTYPE_F32 ||
      velocity->shape[0] != latents->shape[0] || velocity->shape[2] != latents->shape[2] ||
      velocity->shape[3] != latents->shape[3] || velocity->shape[4] != latents->shape[4])
    {
      g_autofree char *shape = fa_tensor_shape_to_string (velocity);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "DiT velocity is %s; expected f32 [B, %d, F, H, W] "
                   "like the latents", shape, c->out_channels);
      return FALSE;
    }
  for (gint64 b = 0; b < latents->shape[0]; b++)
    {
      if (texts[b] == NULL || texts[b]->num_layers != c->num_layers)
        {
          g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                       "DiT: batch element %" G_GINT64_FORMAT " has no text encoded by this model", b);
          return FALSE;
        }
      if (!isfinite (timesteps[b]))
        {
          g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                       "DiT: timestep of batch element %" G_GINT64_FORMAT " is not finite", b);
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
fa_wan_dit_forward (FaWanDit *dit, const FaTensor *latents, const float *timesteps,
                    FaWanDitText *const *texts, FaTensor *velocity, const FaWanDitForwardOptions *options,
                    GError **error)
{
  g_return_val_if_fail (dit != NULL && latents != NULL && timesteps != NULL && texts != NULL, FALSE);
  g_return_val_if_fail (velocity != NULL, FALSE);

  const FaWanDitConfig *c = &dit->config;
  FaBackend *backend = dit->backend;
  ForwardState *state = get_state (dit);

  if (!check_inputs (dit, latents, timesteps, texts, velocity, error))
    return FALSE;

  gint64 batch = latents->shape[0];
  const gint64 grid[3] = { latents->shape[2] / c->patch[0], latents->shape[3] / c->patch[1],
                           latents->shape[4] / c->patch[2] };
  gint64 tokens = grid[0] * grid[1] * grid[2];
  Activations act = { 0 };
  gboolean ok = FALSE;

  fa_backend_reset_peak (backend);
  if (!ensure_rope (dit, state, grid, error) || !ensure_time (dit, state, timesteps, (int) batch, error) ||
      !take_activations (dit, state, batch, tokens, &act, error))
    goto out;

  tap (options, "rope_cos", state->rope_cos);
  tap (options, "rope_sin", state->rope_sin);
  tap (options, "time_sinusoid", state->sinusoid);
  tap (options, "temb", state->temb);
  tap (options, "timestep_proj", state->tproj);
  for (gint64 b = 0; b < batch; b++)
    tap (options, "text_embedding", texts[b]->embedding);

  if (!fa_op_patchify (backend, latents, act.patches, c->patch, error) ||
      !linear (dit, act.patches, "patch_embedding.weight", act.x, error))
    goto out;
  tap (options, "patch_embedding", act.x);

  for (int l = 0; l < c->num_layers; l++)
    {
      /* the arena is reset by the next forward and the time tables stay
       * whole, so stopping here leaves nothing half-made */
      if (options != NULL && g_cancellable_set_error_if_cancelled (options->cancellable, error))
        goto out;
      if (!self_attention (dit, state, l, &act, options, error) ||
          !cross_attention (dit, l, &act, texts, options, error) ||
          !feed_forward (dit, state, l, &act, options, error))
        goto out;
      char name[32];
      g_snprintf (name, sizeof name, "block%d", l);
      tap (options, name, act.x);
    }
  tap (options, "before_head", act.x);

  if (!fa_op_layer_norm (backend, act.x, NULL, NULL, act.h, c->eps, error) ||
      !fa_op_modulate (backend, act.h, state->head_scale, state->head_shift, act.h, error))
    goto out;
  tap (options, "head_input", act.h);
  if (!linear (dit, act.h, "proj_out.weight", act.y, error))
    goto out;
  tap (options, "proj_out", act.y);
  ok = fa_op_unpatchify (backend, act.y, velocity, c->patch, error) && fa_backend_synchronize (backend, error);

out:
  activations_clear (&act);
  if (ok)
    {
      /* logged without starting a new stage, so callers can still read
       * this forward's peak */
      guint64 peak;
      fa_backend_get_memory (backend, NULL, &peak);
      g_autofree char *text = g_format_size_full (peak, G_FORMAT_SIZE_IEC_UNITS);
      g_info ("DiT forward: peak %s memory %s", fa_device_get_name (fa_backend_get_device (backend)), text);
    }
  return ok;
}
