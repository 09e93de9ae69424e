/* fa-wan-vae-forward.c: the VAE's chunked encode and per-frame decode
 * (spec C.2–C.4), optionally in overlapping spatial tiles.
 *
 * Activations are channels-last frames [T, H, W, C] on the backend. The
 * encoder sees the clip as diffusers feeds it, frame 0 then chunks of 4
 * frames, and the decoder one latent frame at a time; the causal
 * convolutions carry the last two frames of their input from chunk to chunk
 * (the feature cache), so each chunk's work and memory are bounded whatever
 * the clip's length.
 *
 * Memory is planned per pass: the largest activation a chunk can make is
 * computed from the architecture and the tile size, and a fixed set of
 * buffers of that size is made once and kept with the model; the caches
 * (two frames per causal convolution) are made in the first chunks and
 * reused by the rest.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-wan-vae"

#include "config.h"

#include <math.h>
#include <string.h>

#include "fa-error.h"
#include "fa-wan-vae-private.h"

/* Activations alive at once: a block's input, its shortcut, and three more
 * (the attention's q, k and v). */
#define POOL_BUFFERS 5
#define CACHE_FRAMES 2
#define DEFAULT_TILE_SIZE 256
#define DEFAULT_TILE_OVERLAP 64

/* ---- the activation pool ---- */

typedef struct {
  FaTensor *buffers[POOL_BUFFERS]; /* 1-D f32, `capacity` elements each */
  gboolean busy[POOL_BUFFERS];
  gint64 capacity;
} Pool;

static void
pool_free (gpointer data)
{
  Pool *pool = data;

  for (int i = 0; i < POOL_BUFFERS; i++)
    g_clear_pointer (&pool->buffers[i], fa_tensor_unref);
  g_free (pool);
}

/* The model's pool, grown to @capacity elements per buffer if smaller. */
static Pool *
pool_ensure (FaWanVae *vae, gint64 capacity, GError **error)
{
  Pool *pool = vae->forward_state;

  if (pool != NULL && pool->capacity >= capacity)
    return pool;
  if (pool != NULL)
    {
      vae->forward_state_free (pool);
      vae->forward_state = NULL;
    }

  pool = g_new0 (Pool, 1);
  pool->capacity = capacity;
  for (int i = 0; i < POOL_BUFFERS; i++)
    {
      pool->buffers[i] = fa_tensor_new (vae->backend, FA_DTYPE_F32, 1, &capacity, error);
      if (pool->buffers[i] == NULL)
        {
          g_prefix_error (error, "VAE activations (%d buffers of %" G_GINT64_FORMAT " floats): ",
                          POOL_BUFFERS, capacity);
          pool_free (pool);
          return NULL;
        }
    }
  vae->forward_state = pool;
  vae->forward_state_free = pool_free;
  return pool;
}

/* An activation: a view of one pool buffer. */
typedef struct {
  FaTensor *t;
  int buffer;
} Act;

static gboolean
act_take (Pool *pool, int ndim, const gint64 *shape, Act *act, GError **error)
{
  gint64 numel = 1;

  for (int i = 0; i < ndim; i++)
    numel *= shape[i];
  if (numel > pool->capacity)
    {
      g_autofree char *text = fa_shape_to_string (ndim, shape);
      g_set_error (error, FA_ERROR, FA_ERROR_OUT_OF_MEMORY,
                   "VAE: activation %s is larger than planned (%" G_GINT64_FORMAT " floats)", text,
                   pool->capacity);
      return FALSE;
    }
  for (int i = 0; i < POOL_BUFFERS; i++)
    if (!pool->busy[i])
      {
        g_autoptr (FaTensor) head = fa_tensor_narrow (pool->buffers[i], 0, 0, numel, error);
        if (head == NULL)
          return FALSE;
        act->t = fa_tensor_reshape (head, ndim, shape, error);
        if (act->t == NULL)
          return FALSE;
        act->buffer = i;
        pool->busy[i] = TRUE;
        return TRUE;
      }
  g_set_error (error, FA_ERROR, FA_ERROR_OUT_OF_MEMORY, "VAE: more than %d activations at once",
               POOL_BUFFERS);
  return FALSE;
}

static void
act_drop (Pool *pool, Act *act)
{
  if (act->t == NULL)
    return;
  g_clear_pointer (&act->t, fa_tensor_unref);
  pool->busy[act->buffer] = FALSE;
}

/* ---- the feature cache ---- */

typedef enum { SLOT_EMPTY, SLOT_FRAMES, SLOT_REP } SlotState;

typedef struct {
  SlotState state;
  int count;       /* frames held (SLOT_FRAMES): 1 or 2, the zeros in front implied */
  FaTensor *store; /* [2, h, w, c] */
} Slot;

static void
slot_free (gpointer data)
{
  Slot *slot = data;

  g_clear_pointer (&slot->store, fa_tensor_unref);
  g_free (slot);
}

/* ---- one pass: the encoder or the decoder over one tile of one clip ---- */

typedef struct {
  FaWanVae *vae;
  FaBackend *backend;
  FaBackend *cpu; /* for the host side of uploads, downloads and taps */
  Pool *pool;
  GPtrArray *slots; /* Slot*, in call order */
  guint next_slot;  /* reset at every chunk */
  guint chunk;
  const FaWanVaeOptions *options; /* taps only when set */
} Pass;

static FaTensor *
weight (Pass *pass, const char *prefix, const char *suffix, GError **error)
{
  g_autofree char *name = g_strconcat (prefix, suffix, NULL);
  FaTensor *t = _fa_wan_vae_weight (pass->vae, name);

  if (t == NULL)
    g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND, "VAE: no weight %s", name);
  return t;
}

static Slot *
next_slot (Pass *pass)
{
  if (pass->next_slot == pass->slots->len)
    g_ptr_array_add (pass->slots, g_new0 (Slot, 1));
  return g_ptr_array_index (pass->slots, pass->next_slot++);
}

static gboolean
copy_frames (FaTensor *dst_store, gint64 dst_frame, FaTensor *src, gint64 src_frame, gint64 n,
             GError **error)
{
  g_autoptr (FaTensor) d = fa_tensor_narrow (dst_store, 0, dst_frame, n, error);
  g_autoptr (FaTensor) s = d != NULL ? fa_tensor_narrow (src, 0, src_frame, n, error) : NULL;

  return s != NULL && fa_tensor_copy (d, s, error);
}

/* Room for two frames of @like, made at the slot's first use. */
static gboolean
slot_ensure_store (Slot *slot, const FaTensor *like, GError **error)
{
  if (slot->store != NULL)
    return TRUE;
  gint64 shape[4] = { CACHE_FRAMES, like->shape[1], like->shape[2], like->shape[3] };
  slot->store = fa_tensor_new (fa_tensor_get_backend (like), FA_DTYPE_F32, 4, shape, error);
  return slot->store != NULL;
}

/* What a causal convolution's next chunk sees of this one: the last two
 * frames of @x, or the previous last frame and @x's only one (spec C.4). */
static gboolean
slot_store (Slot *slot, FaTensor *x, GError **error)
{
  const gint64 tx = x->shape[0];

  if (!slot_ensure_store (slot, x, error))
    return FALSE;
  if (tx >= 2)
    {
      slot->count = 2;
      slot->state = SLOT_FRAMES;
      return copy_frames (slot->store, 0, x, tx - 2, 2, error);
    }
  if (slot->state == SLOT_FRAMES)
    {
      if (slot->count == 2 && !copy_frames (slot->store, 0, slot->store, 1, 1, error))
        return FALSE;
      slot->count = 2;
      return copy_frames (slot->store, 1, x, 0, 1, error);
    }
  /* empty, or after upsample3d's first chunk: a zero frame goes in front,
   * which is what count 1 means */
  slot->count = 1;
  slot->state = SLOT_FRAMES;
  return copy_frames (slot->store, 0, x, 0, 1, error);
}

/* The frames a temporal kernel of 3 sees before the chunk: the slot's
 * cached frames (*@history; NULL when it holds none) after
 * p->pad_front zero frames, two in all. */
static gboolean
slot_history (Slot *slot, FaConv3dParams *p, FaTensor **history, GError **error)
{
  *history = NULL;
  p->pad_front = CACHE_FRAMES;
  if (slot->state != SLOT_FRAMES)
    return TRUE;
  p->pad_front = CACHE_FRAMES - slot->count;
  *history = fa_tensor_narrow (slot->store, 0, 0, slot->count, error);
  return *history != NULL;
}

static void
conv_params_init (FaConv3dParams *p, int kt, int k, int pad)
{
  memset (p, 0, sizeof *p);
  p->kernel[0] = kt;
  p->kernel[1] = p->kernel[2] = k;
  p->stride[0] = p->stride[1] = p->stride[2] = 1;
  p->pad_top = p->pad_bottom = p->pad_left = p->pad_right = pad;
}

/* A convolution of @x into a new activation of @co channels. */
static gboolean
conv (Pass *pass, FaTensor *x, FaTensor *history, const char *prefix, const FaConv3dParams *p,
      Act *out, GError **error)
{
  FaTensor *w = weight (pass, prefix, ".weight", error);
  FaTensor *b = w != NULL ? weight (pass, prefix, ".bias", error) : NULL;

  if (b == NULL)
    return FALSE;

  const gint64 th = history != NULL ? history->shape[0] : 0;
  const gint64 hu = x->shape[1] * (p->upsample ? 2 : 1), wu = x->shape[2] * (p->upsample ? 2 : 1);
  gint64 shape[4] = {
    (p->pad_front + th + x->shape[0] - p->kernel[0]) / p->stride[0] + 1,
    (hu + p->pad_top + p->pad_bottom - p->kernel[1]) / p->stride[1] + 1,
    (wu + p->pad_left + p->pad_right - p->kernel[2]) / p->stride[2] + 1,
    w->shape[0],
  };
  if (!act_take (pass->pool, 4, shape, out, error))
    return FALSE;
  if (!fa_op_conv3d (pass->backend, x, history, w, b, out->t, p, error))
    {
      g_prefix_error (error, "%s: ", prefix);
      act_drop (pass->pool, out);
      return FALSE;
    }
  return TRUE;
}

/* A causal 3×3×3 convolution through its cache slot: the cached frames
 * in front of @x, zeros for the rest of the two. */
static gboolean
causal_conv (Pass *pass, FaTensor *x, const char *prefix, Act *out, GError **error)
{
  Slot *slot = next_slot (pass);
  g_autoptr (FaTensor) history = NULL;
  FaConv3dParams p;

  conv_params_init (&p, 3, 3, 1);
  if (!slot_history (slot, &p, &history, error) ||
      !conv (pass, x, history, prefix, &p, out, error))
    return FALSE;
  g_clear_pointer (&history, fa_tensor_unref);
  if (!slot_store (slot, x, error))
    {
      act_drop (pass->pool, out);
      return FALSE;
    }
  return TRUE;
}

/* y = RMS norm of x over the channels (F.normalize · √C · γ), then SiLU
 * when @silu; y may be x. */
static gboolean
norm_silu (Pass *pass, FaTensor *x, FaTensor *y, const char *prefix, gboolean silu, GError **error)
{
  FaTensor *gamma = weight (pass, prefix, ".gamma", error);
  /* F.normalize divides by max(‖x‖, 1e-12); as a mean that is an epsilon
   * of 1e-24 / C, far below any real activation */
  const float eps = 1e-24f / (float) x->shape[3];

  return gamma != NULL && fa_op_rms_norm (pass->backend, x, gamma, y, eps, error) &&
         (!silu || fa_op_silu (pass->backend, y, y, error));
}

/* The same into a new activation, @x kept for the shortcut. */
static gboolean
norm_silu_new (Pass *pass, FaTensor *x, const char *prefix, gboolean silu, Act *out, GError **error)
{
  return act_take (pass->pool, 4, x->shape, out, error) &&
         norm_silu (pass, x, out->t, prefix, silu, error);
}

/* ResidualBlock: conv2(silu(norm2(conv1(silu(norm1(x)))))) + shortcut(x);
 * replaces *@x. */
static gboolean
residual_block (Pass *pass, Act *x, const char *prefix, GError **error)
{
  g_autofree char *shortcut_name = g_strconcat (prefix, ".conv_shortcut", NULL);
  g_autofree char *norm1 = g_strconcat (prefix, ".norm1", NULL);
  g_autofree char *norm2 = g_strconcat (prefix, ".norm2", NULL);
  g_autofree char *conv1 = g_strconcat (prefix, ".conv1", NULL);
  g_autofree char *conv2 = g_strconcat (prefix, ".conv2", NULL);
  g_autofree char *shortcut_weight = g_strconcat (shortcut_name, ".weight", NULL);
  Act shortcut = { 0 }, h = { 0 }, a = { 0 }, b = { 0 };
  gboolean ok;

  if (_fa_wan_vae_weight (pass->vae, shortcut_weight) != NULL)
    {
      FaConv3dParams p;
      conv_params_init (&p, 1, 1, 0);
      if (!conv (pass, x->t, NULL, shortcut_name, &p, &shortcut, error))
        return FALSE;
    }

  ok = norm_silu_new (pass, x->t, norm1, TRUE, &h, error) &&
       causal_conv (pass, h.t, conv1, &a, error);
  act_drop (pass->pool, &h);
  ok = ok && norm_silu (pass, a.t, a.t, norm2, TRUE, error) &&
       causal_conv (pass, a.t, conv2, &b, error);
  act_drop (pass->pool, &a);
  ok = ok && fa_op_add (pass->backend, b.t, shortcut.t != NULL ? shortcut.t : x->t, b.t, error);
  act_drop (pass->pool, &shortcut);
  if (!ok)
    {
      act_drop (pass->pool, &b);
      return FALSE;
    }
  act_drop (pass->pool, x);
  *x = b;
  return TRUE;
}

/* AttentionBlock: one head over the pixels of each frame. */
static gboolean
attention_block (Pass *pass, Act *x, const char *prefix, GError **error)
{
  g_autofree char *norm = g_strconcat (prefix, ".norm", NULL);
  g_autofree char *proj = g_strconcat (prefix, ".proj", NULL);
  FaTensor *qkv_w = weight (pass, prefix, ".to_qkv.weight", error);
  FaTensor *qkv_b = qkv_w != NULL ? weight (pass, prefix, ".to_qkv.bias", error) : NULL;
  const gint64 c = x->t->shape[3], frames = x->t->shape[0];
  const gint64 tokens = x->t->shape[1] * x->t->shape[2];
  Act h = { 0 }, qkv[3] = { { 0 } }, o = { 0 }, y = { 0 };
  FaConv3dParams p;
  gboolean ok = TRUE;

  if (qkv_b == NULL)
    return FALSE;
  conv_params_init (&p, 1, 1, 0);
  ok = norm_silu_new (pass, x->t, norm, FALSE, &h, error);
  for (int i = 0; ok && i < 3; i++)
    {
      g_autoptr (FaTensor) w = fa_tensor_narrow (qkv_w, 0, i * c, c, error);
      g_autoptr (FaTensor) b = w != NULL ? fa_tensor_narrow (qkv_b, 0, i * c, c, error) : NULL;
      ok = b != NULL && act_take (pass->pool, 4, x->t->shape, &qkv[i], error) &&
           fa_op_conv3d (pass->backend, h.t, NULL, w, b, qkv[i].t, &p, error);
    }
  act_drop (pass->pool, &h);
  if (ok)
    {
      const gint64 seq[3] = { frames, tokens, c };
      g_autoptr (FaTensor) q = fa_tensor_reshape (qkv[0].t, 3, seq, error);
      g_autoptr (FaTensor) k = q != NULL ? fa_tensor_reshape (qkv[1].t, 3, seq, error) : NULL;
      g_autoptr (FaTensor) v = k != NULL ? fa_tensor_reshape (qkv[2].t, 3, seq, error) : NULL;
      g_autoptr (FaTensor) o3 = NULL;
      ok = v != NULL && act_take (pass->pool, 4, x->t->shape, &o, error) &&
           (o3 = fa_tensor_reshape (o.t, 3, seq, error)) != NULL &&
           fa_op_attention (pass->backend, q, k, v, o3, 1, (float) (1.0 / sqrt ((double) c)), NULL,
                            error);
    }
  for (int i = 0; i < 3; i++)
    act_drop (pass->pool, &qkv[i]);
  ok = ok && conv (pass, o.t, NULL, proj, &p, &y, error);
  act_drop (pass->pool, &o);
  ok = ok && fa_op_add (pass->backend, y.t, x->t, y.t, error);
  if (!ok)
    {
      act_drop (pass->pool, &y);
      return FALSE;
    }
  act_drop (pass->pool, x);
  *x = y;
  return TRUE;
}

static gboolean
mid_block (Pass *pass, Act *x, const char *prefix, GError **error)
{
  g_autofree char *res0 = g_strconcat (prefix, ".mid_block.resnets.0", NULL);
  g_autofree char *attn = g_strconcat (prefix, ".mid_block.attentions.0", NULL);
  g_autofree char *res1 = g_strconcat (prefix, ".mid_block.resnets.1", NULL);

  return residual_block (pass, x, res0, error) && attention_block (pass, x, attn, error) &&
         residual_block (pass, x, res1, error);
}

/* downsample2d / downsample3d: pad right and bottom by one, a stride-2 3×3
 * convolution per frame, then (3-D) a stride-2 temporal convolution over
 * the previous chunk's last frame and this chunk's. */
static gboolean
downsample (Pass *pass, Act *x, const char *prefix, gboolean temporal, GError **error)
{
  g_autofree char *spatial_name = g_strconcat (prefix, ".resample.1", NULL);
  g_autofree char *time_name = g_strconcat (prefix, ".time_conv", NULL);
  FaConv3dParams p;
  Act s = { 0 }, t = { 0 };

  conv_params_init (&p, 1, 3, 0);
  p.stride[1] = p.stride[2] = 2;
  p.pad_bottom = p.pad_right = 1;
  if (!conv (pass, x->t, NULL, spatial_name, &p, &s, error))
    return FALSE;
  act_drop (pass->pool, x);
  *x = s;
  if (!temporal)
    return TRUE;

  Slot *slot = next_slot (pass);
  if (slot->state == SLOT_EMPTY)
    {
      /* the first chunk passes through; its last frame is kept */
      if (!slot_ensure_store (slot, s.t, error))
        return FALSE;
      slot->state = SLOT_FRAMES;
      slot->count = 1;
      return copy_frames (slot->store, 0, s.t, s.t->shape[0] - 1, 1, error);
    }

  g_autoptr (FaTensor) history = fa_tensor_narrow (slot->store, 0, slot->count - 1, 1, error);
  conv_params_init (&p, 3, 1, 0);
  p.stride[0] = 2;
  if (history == NULL || !conv (pass, s.t, history, time_name, &p, &t, error))
    return FALSE;
  g_clear_pointer (&history, fa_tensor_unref);
  if (!copy_frames (slot->store, 0, s.t, s.t->shape[0] - 1, 1, error))
    {
      act_drop (pass->pool, &t);
      return FALSE;
    }
  slot->count = 1;
  act_drop (pass->pool, x);
  *x = t;
  return TRUE;
}

/* upsample2d / upsample3d: (3-D) a temporal convolution making two frames
 * of every input frame, except in the first chunk, then per frame a nearest
 * ×2 upsampling and a 3×3 convolution, fused. */
static gboolean
upsample (Pass *pass, Act *x, const char *prefix, gboolean temporal, GError **error)
{
  g_autofree char *spatial_name = g_strconcat (prefix, ".resample.1", NULL);
  g_autofree char *time_name = g_strconcat (prefix, ".time_conv", NULL);
  FaConv3dParams p;
  Act s = { 0 };

  if (temporal)
    {
      Slot *slot = next_slot (pass);
      if (slot->state == SLOT_EMPTY)
        slot->state = SLOT_REP;
      else
        {
          const gint64 frames = x->t->shape[0], c = x->t->shape[3];
          g_autoptr (FaTensor) history = NULL;
          Act t = { 0 }, pairs = { 0 };

          /* after the first chunk (SLOT_REP) the time convolution runs
           * without the cache: frame 0 of this stage never serves as
           * history */
          conv_params_init (&p, 3, 1, 0);
          if (!slot_history (slot, &p, &history, error) ||
              !conv (pass, x->t, history, time_name, &p, &t, error))
            return FALSE;
          g_clear_pointer (&history, fa_tensor_unref);

          /* [T, H, W, 2, C] → [T, 2, H, W, C]: channel half 0 is the
           * earlier of the two frames */
          const gint64 split[5] = { frames, x->t->shape[1], x->t->shape[2], 2, c };
          const gint64 doubled[4] = { 2 * frames, x->t->shape[1], x->t->shape[2], c };
          const gint64 paired[5] = { frames, 2, x->t->shape[1], x->t->shape[2], c };
          g_autoptr (FaTensor) t5 = fa_tensor_reshape (t.t, 5, split, error);
          g_autoptr (FaTensor) src = t5 != NULL ? fa_tensor_permute (t5, (int[]) { 0, 3, 1, 2, 4 }, error) : NULL;
          g_autoptr (FaTensor) dst = NULL;
          gboolean ok = src != NULL && act_take (pass->pool, 4, doubled, &pairs, error) &&
                        (dst = fa_tensor_reshape (pairs.t, 5, paired, error)) != NULL &&
                        fa_op_copy (pass->backend, src, dst, error);
          act_drop (pass->pool, &t);
          ok = ok && slot_store (slot, x->t, error);
          if (!ok)
            {
              act_drop (pass->pool, &pairs);
              return FALSE;
            }
          act_drop (pass->pool, x);
          *x = pairs;
        }
    }

  conv_params_init (&p, 1, 3, 1);
  p.upsample = TRUE;
  if (!conv (pass, x->t, NULL, spatial_name, &p, &s, error))
    return FALSE;
  act_drop (pass->pool, x);
  *x = s;
  return TRUE;
}

/* The value of an activation as a host tensor [1, C, T, H, W]. */
static FaTensor *
to_host_channels_first (FaBackend *cpu, FaTensor *x, GError **error)
{
  g_autoptr (FaTensor) host = fa_tensor_to (x, cpu, FA_DTYPE_F32, error);
  g_autoptr (FaTensor) permuted = host != NULL ? fa_tensor_permute (host, (int[]) { 3, 0, 1, 2 }, error) : NULL;
  const gint64 shape[5] = { 1, x->shape[3], x->shape[0], x->shape[1], x->shape[2] };
  g_autoptr (FaTensor) out = permuted != NULL ? fa_tensor_new (cpu, FA_DTYPE_F32, 5, shape, error) : NULL;
  g_autoptr (FaTensor) out4 = out != NULL ? fa_tensor_reshape (out, 4, shape + 1, error) : NULL;

  if (out4 == NULL || !fa_op_copy (cpu, permuted, out4, error))
    return NULL;
  return g_steal_pointer (&out);
}

static gboolean
tap (Pass *pass, const char *module, FaTensor *x, GError **error)
{
  if (pass->options == NULL || pass->options->tap == NULL)
    return TRUE;
  g_autofree char *name = g_strdup_printf ("%s.chunk%u", module, pass->chunk);
  g_autoptr (FaTensor) host = to_host_channels_first (pass->cpu, x, error);
  if (host == NULL)
    return FALSE;
  pass->options->tap (name, host, pass->options->tap_user_data);
  return TRUE;
}

/* ---- the encoder and the decoder, one chunk ---- */

static gboolean
encoder_chunk (Pass *pass, Act *x, GError **error)
{
  const FaWanVaeConfig *config = &pass->vae->config;
  Act y = { 0 };
  int block = 0;

  if (!causal_conv (pass, x->t, "encoder.conv_in", &y, error))
    return FALSE;
  act_drop (pass->pool, x);
  *x = y;
  if (!tap (pass, "conv_in", x->t, error))
    return FALSE;

  for (int stage = 0; stage < 4; stage++)
    {
      for (int r = 0; r < config->num_res_blocks; r++, block++)
        {
          g_autofree char *name = g_strdup_printf ("encoder.down_blocks.%d", block);
          g_autofree char *tap_name = g_strdup_printf ("down_blocks.%d", block);
          if (!residual_block (pass, x, name, error) || !tap (pass, tap_name, x->t, error))
            return FALSE;
        }
      if (stage < 3)
        {
          g_autofree char *name = g_strdup_printf ("encoder.down_blocks.%d", block);
          g_autofree char *tap_name = g_strdup_printf ("down_blocks.%d", block);
          if (!downsample (pass, x, name, config->temporal_downsample[stage], error) ||
              !tap (pass, tap_name, x->t, error))
            return FALSE;
          block++;
        }
    }

  if (!mid_block (pass, x, "encoder", error) || !tap (pass, "mid_block", x->t, error) ||
      !norm_silu (pass, x->t, x->t, "encoder.norm_out", TRUE, error) ||
      !causal_conv (pass, x->t, "encoder.conv_out", &y, error))
    return FALSE;
  act_drop (pass->pool, x);
  *x = y;
  if (!tap (pass, "encoder_out", x->t, error))
    return FALSE;

  FaConv3dParams p;
  conv_params_init (&p, 1, 1, 0);
  if (!conv (pass, x->t, NULL, "quant_conv", &p, &y, error))
    return FALSE;
  act_drop (pass->pool, x);
  *x = y;
  return TRUE;
}

static gboolean
decoder_chunk (Pass *pass, Act *x, GError **error)
{
  const FaWanVaeConfig *config = &pass->vae->config;
  FaConv3dParams p;
  Act y = { 0 };

  conv_params_init (&p, 1, 1, 0);
  if (!conv (pass, x->t, NULL, "post_quant_conv", &p, &y, error))
    return FALSE;
  act_drop (pass->pool, x);
  *x = y;
  if (!tap (pass, "post_quant_conv", x->t, error) ||
      !causal_conv (pass, x->t, "decoder.conv_in", &y, error))
    return FALSE;
  act_drop (pass->pool, x);
  *x = y;
  if (!tap (pass, "conv_in", x->t, error) || !mid_block (pass, x, "decoder", error) ||
      !tap (pass, "mid_block", x->t, error))
    return FALSE;

  for (int stage = 0; stage < 4; stage++)
    {
      for (int r = 0; r <= config->num_res_blocks; r++)
        {
          g_autofree char *name = g_strdup_printf ("decoder.up_blocks.%d.resnets.%d", stage, r);
          if (!residual_block (pass, x, name, error))
            return FALSE;
        }
      if (stage < 3)
        {
          g_autofree char *name = g_strdup_printf ("decoder.up_blocks.%d.upsamplers.0", stage);
          if (!upsample (pass, x, name, config->temporal_downsample[2 - stage], error))
            return FALSE;
        }
      g_autofree char *tap_name = g_strdup_printf ("up_blocks.%d", stage);
      if (!tap (pass, tap_name, x->t, error))
        return FALSE;
    }

  if (!norm_silu (pass, x->t, x->t, "decoder.norm_out", TRUE, error) ||
      !causal_conv (pass, x->t, "decoder.conv_out", &y, error))
    return FALSE;
  act_drop (pass->pool, x);
  *x = y;
  return TRUE;
}

/* ---- planning ---- */

static gint64
downsampled (gint64 n)
{
  return (n + 1 - 3) / 2 + 1;
}

/* The largest activation (elements) of one encoder chunk of @frames
 * frames of h × w pixels. */
static gint64
encoder_plan (const FaWanVaeConfig *config, gint64 frames, gint64 h, gint64 w)
{
  gint64 best = frames * h * w * MAX (3, _fa_wan_vae_encoder_dim (config, 0));

  for (int stage = 0; stage < 4; stage++)
    {
      const gint64 c = _fa_wan_vae_encoder_dim (config, stage + 1);
      best = MAX (best, frames * h * w * c);
      if (stage < 3)
        {
          h = downsampled (h);
          w = downsampled (w);
          best = MAX (best, frames * h * w * c);
          if (config->temporal_downsample[stage] && frames > 1)
            frames = (1 + frames - 3) / 2 + 1;
        }
    }
  return MAX (best, frames * h * w * 2 * config->z_dim);
}

/* The same for one decoder chunk (one latent frame of h × w) after the
 * first, which is the largest. */
static gint64
decoder_plan (const FaWanVaeConfig *config, gboolean later_chunks, gint64 h, gint64 w)
{
  const gint64 top = _fa_wan_vae_encoder_dim (config, 4);
  gint64 frames = 1, in = top;
  gint64 best = h * w * MAX (config->z_dim, top);

  for (int stage = 0; stage < 4; stage++)
    {
      const gint64 out = _fa_wan_vae_encoder_dim (config, 4 - stage);
      best = MAX (best, frames * h * w * MAX (in, out));
      if (stage < 3)
        {
          if (config->temporal_downsample[2 - stage] && later_chunks)
            {
              best = MAX (best, frames * h * w * 2 * out);
              frames *= 2;
            }
          h *= 2;
          w *= 2;
          best = MAX (best, frames * h * w * (out / 2));
        }
      in = out / 2;
    }
  return MAX (best, frames * h * w * 3);
}

/* ---- clips, chunks and tiles ---- */

gboolean
fa_wan_vae_latent_shape (FaWanVae *vae, gint64 frames, gint64 height, gint64 width,
                         gint64 out_shape[3], GError **error)
{
  (void) vae;
  if (frames < 1 || (frames - 1) % 4 != 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "the VAE takes clips of 1 + 4k frames (1, 5, 9, …, 81); this one has %" G_GINT64_FORMAT
                   " frames (trim it to %" G_GINT64_FORMAT ")",
                   frames, frames < 1 ? 1 : frames - (frames - 1) % 4);
      return FALSE;
    }
  if (height < 8 || width < 8 || height % 8 != 0 || width % 8 != 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "the VAE takes frames whose sides are multiples of 8; these are %" G_GINT64_FORMAT
                   "×%" G_GINT64_FORMAT " (width × height)",
                   width, height);
      return FALSE;
    }
  out_shape[0] = (frames - 1) / 4 + 1;
  out_shape[1] = height / 8;
  out_shape[2] = width / 8;
  return TRUE;
}

typedef struct {
  gint64 start, length;
} Span;

/* Tiles of @tile along an axis of @n, neighbours sharing at least
 * @overlap; all the same length, the last one flush with the end. */
static GArray *
tile_spans (gint64 n, gint64 tile, gint64 overlap)
{
  GArray *spans = g_array_new (FALSE, FALSE, sizeof (Span));
  Span span;

  if (n <= tile)
    {
      span = (Span) { 0, n };
      g_array_append_val (spans, span);
      return spans;
    }
  for (gint64 start = 0;; start += tile - overlap)
    {
      span = (Span) { MIN (start, n - tile), tile };
      g_array_append_val (spans, span);
      if (start + tile >= n)
        break;
    }
  return spans;
}

/* The blending weight of position @u of a span starting at @start within
 * an axis of @n: a linear ramp over @ramp positions at each inner edge. */
static float
ramp_weight (const Span *span, gint64 u, gint64 n, gint64 ramp)
{
  float wgt = 1.0f;

  if (ramp <= 0)
    return wgt;
  if (span->start > 0 && u < ramp)
    wgt = MIN (wgt, ((float) u + 0.5f) / (float) ramp);
  if (span->start + span->length < n && span->length - 1 - u < ramp)
    wgt = MIN (wgt, ((float) (span->length - 1 - u) + 0.5f) / (float) ramp);
  return wgt;
}

/* Where a clip's chunks land on the host: the output, or when tiling the
 * weighted sum of the tiles and the sum of their weights. */
typedef struct {
  float *data; /* [channels, frames, height, width] */
  float *weight_sum; /* [height, width], NULL when not tiling */
  gint64 channels, frames, height, width;
} Canvas;

/* Device frames [T, h, w, C] into the canvas region at frame @frame0 and
 * spans @sy × @sx, the first canvas->channels channels: written as they
 * are, or (tiling) added times the tile's ramp weights, which the tile's
 * first chunk (@count_weights) also adds to weight_sum. */
static gboolean
canvas_put (Pass *pass, Canvas *canvas, FaTensor *x, gint64 frame0, const Span *sy,
            const Span *sx, gint64 ramp, gboolean count_weights, GError **error)
{
  g_autoptr (FaTensor) host = fa_tensor_to (x, pass->cpu, FA_DTYPE_F32, error);

  if (host == NULL)
    return FALSE;
  const float *src = fa_tensor_get_data (host);
  const gint64 t_n = x->shape[0], h = x->shape[1], w = x->shape[2], c = x->shape[3];

  for (gint64 i = 0; i < h; i++)
    {
      const float wy = canvas->weight_sum != NULL ? ramp_weight (sy, i, canvas->height, ramp) : 1.0f;
      for (gint64 j = 0; j < w; j++)
        {
          const float wgt = canvas->weight_sum != NULL ? wy * ramp_weight (sx, j, canvas->width, ramp) : 1.0f;
          const gint64 pixel = (sy->start + i) * canvas->width + sx->start + j;
          if (canvas->weight_sum != NULL && count_weights)
            canvas->weight_sum[pixel] += wgt;
          for (gint64 t = 0; t < t_n; t++)
            {
              const float *s = src + ((t * h + i) * w + j) * c;
              float *d = canvas->data + (frame0 + t) * canvas->height * canvas->width + pixel;
              const gint64 plane = canvas->frames * canvas->height * canvas->width;
              for (gint64 ch = 0; ch < canvas->channels; ch++)
                {
                  if (canvas->weight_sum != NULL)
                    d[ch * plane] += wgt * s[ch];
                  else
                    d[ch * plane] = s[ch];
                }
            }
        }
    }
  return TRUE;
}

/* Frames [f0, f0 + n) of one clip [C, T, H, W] (host) within a tile, as
 * device channels-last frames [n, h, w, C]. */
static gboolean
upload_frames (Pass *pass, const float *clip, gint64 channels, gint64 frames, gint64 height,
               gint64 width, gint64 f0, gint64 n, const Span *sy, const Span *sx, Act *out,
               GError **error)
{
  const gint64 shape[4] = { n, sy->length, sx->length, channels };
  g_autoptr (FaTensor) host = fa_tensor_new (pass->cpu, FA_DTYPE_F32, 4, shape, error);

  if (host == NULL)
    return FALSE;
  float *dst = fa_tensor_get_data (host);
  for (gint64 t = 0; t < n; t++)
    for (gint64 i = 0; i < sy->length; i++)
      for (gint64 j = 0; j < sx->length; j++)
        for (gint64 c = 0; c < channels; c++)
          dst[((t * sy->length + i) * sx->length + j) * channels + c] =
            clip[((c * frames + f0 + t) * height + sy->start + i) * width + sx->start + j];

  if (!act_take (pass->pool, 4, shape, out, error))
    return FALSE;
  if (!fa_tensor_copy (out->t, host, error))
    {
      act_drop (pass->pool, out);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_clip_tensor (const char *what, const FaTensor *t, GError **error)
{
  if (t->device != FA_DEVICE_CPU || t->dtype != FA_DTYPE_F32 || t->ndim != 5 ||
      !fa_tensor_is_contiguous (t) || fa_tensor_get_numel (t) == 0)
    {
      g_autofree char *shape = fa_tensor_shape_to_string (t);
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "VAE: the %s must be a contiguous, non-empty 5-D f32 host tensor [B, C, T, H, W], "
                   "not %s %s on %s",
                   what, fa_dtype_get_name (t->dtype), shape, fa_device_get_name (t->device));
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_options (const FaWanVaeOptions *options, int *tile, int *overlap, GError **error)
{
  *tile = options != NULL && options->tile_size > 0 ? options->tile_size : DEFAULT_TILE_SIZE;
  *overlap = options != NULL && options->tile_overlap > 0 ? options->tile_overlap : DEFAULT_TILE_OVERLAP;
  if (options == NULL || !options->tile)
    return TRUE;
  if (*tile % 8 != 0 || *overlap % 8 != 0 || *overlap >= *tile || *tile < 16)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "VAE tiling: tiles of %d pixels overlapping by %d do not work: both must be "
                   "multiples of 8, the overlap smaller than the tile, the tile at least 16",
                   *tile, *overlap);
      return FALSE;
    }
  return TRUE;
}

static void
report_chunk (const FaWanVaeOptions *options, guint *done, guint total)
{
  ++*done;
  if (options != NULL && options->progress != NULL)
    options->progress (*done, total, options->progress_user_data);
}

static gboolean
cancelled (const FaWanVaeOptions *options, GError **error)
{
  return options != NULL && g_cancellable_set_error_if_cancelled (options->cancellable, error);
}

static Pass *
pass_new (FaWanVae *vae, Pool *pool, const FaWanVaeOptions *options)
{
  Pass *pass = g_new0 (Pass, 1);

  pass->vae = vae;
  pass->backend = vae->backend;
  pass->cpu = fa_backend_new_cpu ();
  pass->pool = pool;
  pass->slots = g_ptr_array_new_with_free_func (slot_free);
  pass->options = options != NULL && !options->tile ? options : NULL;
  return pass;
}

static void
pass_free (Pass *pass)
{
  for (int i = 0; i < POOL_BUFFERS; i++)
    pass->pool->busy[i] = FALSE;
  g_ptr_array_unref (pass->slots);
  fa_backend_unref (pass->cpu);
  g_free (pass);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Pass, pass_free)

gboolean
fa_wan_vae_encode (FaWanVae *vae, const FaTensor *video, FaTensor *latent,
                   const FaWanVaeOptions *options, GError **error)
{
  const FaWanVaeConfig *config = &vae->config;
  gint64 grid[3];
  int tile, overlap;

  g_return_val_if_fail (vae != NULL && video != NULL && latent != NULL, FALSE);

  if (!check_clip_tensor ("video", video, error) || !check_clip_tensor ("latent", latent, error) ||
      !check_options (options, &tile, &overlap, error))
    return FALSE;
  const gint64 batch = video->shape[0], frames = video->shape[2];
  const gint64 height = video->shape[3], width = video->shape[4];
  if (video->shape[1] != 3)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "VAE encode: the video has %" G_GINT64_FORMAT " channels, expected 3 (RGB)",
                   video->shape[1]);
      return FALSE;
    }
  if (!fa_wan_vae_latent_shape (vae, frames, height, width, grid, error))
    return FALSE;
  const gint64 expected[5] = { batch, config->z_dim, grid[0], grid[1], grid[2] };
  if (latent->shape[0] != batch || latent->shape[1] != config->z_dim ||
      latent->shape[2] != grid[0] || latent->shape[3] != grid[1] || latent->shape[4] != grid[2])
    {
      g_autofree char *got = fa_tensor_shape_to_string (latent);
      g_autofree char *want = fa_shape_to_string (5, expected);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "VAE encode: latent has shape %s, expected %s",
                   got, want);
      return FALSE;
    }

  const gboolean tiled = options != NULL && options->tile;
  g_autoptr (GArray) rows = tile_spans (height, tiled ? tile : height, overlap);
  g_autoptr (GArray) cols = tile_spans (width, tiled ? tile : width, overlap);
  const Span *first_row = &g_array_index (rows, Span, 0), *first_col = &g_array_index (cols, Span, 0);
  const gint64 chunk_frames = frames > 1 ? 4 : 1;
  Pool *pool = pool_ensure (vae, encoder_plan (config, chunk_frames, first_row->length, first_col->length), error);
  if (pool == NULL)
    return FALSE;

  const gint64 chunks = 1 + (frames - 1) / 4;
  const guint total = (guint) (batch * rows->len * cols->len * chunks);
  const gint64 lat_plane = grid[0] * grid[1] * grid[2];
  guint done = 0;
  gint64 t0 = g_get_monotonic_time ();

  for (gint64 b = 0; b < batch; b++)
    {
      const float *clip = (const float *) fa_tensor_get_data (video) + b * 3 * frames * height * width;
      g_autofree float *weight_sum = tiled ? g_new0 (float, grid[1] * grid[2]) : NULL;
      g_autofree float *mean = g_new0 (float, config->z_dim * lat_plane);
      Canvas canvas = { mean, weight_sum, config->z_dim, grid[0], grid[1], grid[2] };

      for (guint ty = 0; ty < rows->len; ty++)
        for (guint tx = 0; tx < cols->len; tx++)
          {
            const Span *sy = &g_array_index (rows, Span, ty), *sx = &g_array_index (cols, Span, tx);
            const Span ly = { sy->start / 8, sy->length / 8 }, lx = { sx->start / 8, sx->length / 8 };
            g_autoptr (Pass) pass = pass_new (vae, pool, options);
            gint64 out_frame = 0;

            for (gint64 k = 0; k < chunks; k++)
              {
                const gint64 f0 = k == 0 ? 0 : 1 + 4 * (k - 1), n = k == 0 ? 1 : 4;
                Act x = { 0 };

                if (cancelled (options, error))
                  return FALSE;
                pass->chunk = (guint) k;
                pass->next_slot = 0;
                if (!upload_frames (pass, clip, 3, frames, height, width, f0, n, sy, sx, &x, error))
                  return FALSE;
                if (!encoder_chunk (pass, &x, error) ||
                    !canvas_put (pass, &canvas, x.t, out_frame, &ly, &lx, overlap / 8,
                                 k == 0, error))
                  {
                    act_drop (pool, &x);
                    g_prefix_error (error, "VAE encode, chunk %" G_GINT64_FORMAT ": ", k);
                    return FALSE;
                  }
                out_frame += x.t->shape[0];
                act_drop (pool, &x);
                report_chunk (options, &done, total);
              }
          }

      /* the posterior mean: the first z_dim channels of quant_conv's output */
      float *dst = (float *) fa_tensor_get_data (latent) + b * config->z_dim * lat_plane;
      for (int c = 0; c < config->z_dim; c++)
        {
          const float inv = 1.0f / config->latents_std[c];
          for (gint64 i = 0; i < lat_plane; i++)
            {
              float mu = mean[c * lat_plane + i];
              if (weight_sum != NULL)
                mu /= weight_sum[i % (grid[1] * grid[2])];
              dst[c * lat_plane + i] =
                options != NULL && options->raw_latents ? mu : (mu - config->latents_mean[c]) * inv;
            }
        }
    }

  g_debug ("VAE encode of %" G_GINT64_FORMAT "×%" G_GINT64_FORMAT "×%" G_GINT64_FORMAT
           " took %.2f s in %u tile(s)",
           frames, height, width, (g_get_monotonic_time () - t0) / 1e6, rows->len * cols->len);
  fa_backend_log_stage_memory (vae->backend, "VAE encode");
  return TRUE;
}

gboolean
fa_wan_vae_decode (FaWanVae *vae, const FaTensor *latent, FaTensor *video,
                   const FaWanVaeOptions *options, GError **error)
{
  const FaWanVaeConfig *config = &vae->config;
  int tile, overlap;

  g_return_val_if_fail (vae != NULL && video != NULL && latent != NULL, FALSE);

  if (!check_clip_tensor ("latent", latent, error) || !check_clip_tensor ("video", video, error) ||
      !check_options (options, &tile, &overlap, error))
    return FALSE;
  const gint64 batch = latent->shape[0], lat_frames = latent->shape[2];
  const gint64 lh = latent->shape[3], lw = latent->shape[4];
  const gint64 frames = 1 + 4 * (lat_frames - 1), height = lh * 8, width = lw * 8;
  const gint64 expected[5] = { batch, 3, frames, height, width };
  if (latent->shape[1] != config->z_dim)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "VAE decode: the latent has %" G_GINT64_FORMAT " channels, expected %d",
                   latent->shape[1], config->z_dim);
      return FALSE;
    }
  if (video->shape[0] != batch || video->shape[1] != 3 || video->shape[2] != frames ||
      video->shape[3] != height || video->shape[4] != width)
    {
      g_autofree char *got = fa_tensor_shape_to_string (video);
      g_autofree char *want = fa_shape_to_string (5, expected);
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE, "VAE decode: video has shape %s, expected %s",
                   got, want);
      return FALSE;
    }

  const gboolean tiled = options != NULL && options->tile;
  g_autoptr (GArray) rows = tile_spans (lh, tiled ? tile / 8 : lh, overlap / 8);
  g_autoptr (GArray) cols = tile_spans (lw, tiled ? tile / 8 : lw, overlap / 8);
  const Span *first_row = &g_array_index (rows, Span, 0), *first_col = &g_array_index (cols, Span, 0);
  Pool *pool = pool_ensure (vae, decoder_plan (config, lat_frames > 1, first_row->length, first_col->length), error);
  if (pool == NULL)
    return FALSE;

  const guint total = (guint) (batch * rows->len * cols->len * lat_frames);
  const gint64 lat_plane = lat_frames * lh * lw;
  const gboolean raw = options != NULL && options->raw_latents;
  guint done = 0;
  gint64 t0 = g_get_monotonic_time ();

  for (gint64 b = 0; b < batch; b++)
    {
      const float *src = (const float *) fa_tensor_get_data (latent) + b * config->z_dim * lat_plane;
      float *out = (float *) fa_tensor_get_data (video) + b * 3 * frames * height * width;
      g_autofree float *input = g_new (float, config->z_dim * lat_plane);
      g_autofree float *weight_sum = tiled ? g_new0 (float, height * width) : NULL;
      Canvas canvas = { out, weight_sum, 3, frames, height, width };

      for (int c = 0; c < config->z_dim; c++)
        {
          const float inv = 1.0f / config->latents_std[c];
          for (gint64 i = 0; i < lat_plane; i++)
            input[c * lat_plane + i] =
              raw ? src[c * lat_plane + i] : src[c * lat_plane + i] / inv + config->latents_mean[c];
        }
      if (tiled)
        memset (out, 0, sizeof (float) * 3 * frames * height * width);

      for (guint ty = 0; ty < rows->len; ty++)
        for (guint tx = 0; tx < cols->len; tx++)
          {
            const Span *ly = &g_array_index (rows, Span, ty), *lx = &g_array_index (cols, Span, tx);
            const Span sy = { ly->start * 8, ly->length * 8 }, sx = { lx->start * 8, lx->length * 8 };
            g_autoptr (Pass) pass = pass_new (vae, pool, options);
            gint64 out_frame = 0;

            for (gint64 k = 0; k < lat_frames; k++)
              {
                Act x = { 0 };

                if (cancelled (options, error))
                  return FALSE;
                pass->chunk = (guint) k;
                pass->next_slot = 0;
                if (!upload_frames (pass, input, config->z_dim, lat_frames, lh, lw, k, 1, ly, lx, &x,
                                    error))
                  return FALSE;
                if (!decoder_chunk (pass, &x, error) ||
                    !canvas_put (pass, &canvas, x.t, out_frame, &sy, &sx, overlap, k == 0, error))
                  {
                    act_drop (pool, &x);
                    g_prefix_error (error, "VAE decode, latent frame %" G_GINT64_FORMAT ": ", k);
                    return FALSE;
                  }
                out_frame += x.t->shape[0];
                act_drop (pool, &x);
                report_chunk (options, &done, total);
              }
          }

      const gint64 plane = height * width, n = 3 * frames * plane;
      for (gint64 i = 0; i < n; i++)
        {
          float v = out[i];
          if (weight_sum != NULL)
            v /= weight_sum[i % plane];
          out[i] = CLAMP (v, -1.0f, 1.0f);
        }
    }

  g_debug ("VAE decode to %" G_GINT64_FORMAT "×%" G_GINT64_FORMAT "×%" G_GINT64_FORMAT
           " took %.2f s in %u tile(s)",
           frames, height, width, (g_get_monotonic_time () - t0) / 1e6, rows->len * cols->len);
  fa_backend_log_stage_memory (vae->backend, "VAE decode");
  return TRUE;
}
