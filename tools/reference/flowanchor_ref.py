"""The edit method of shared/spec/flowanchor-method.md as plain functions:
the executable form of that spec, run on the tiny diffusers Wan DiT by
gen_edit.py to write the edit goldens.

Everything here is fp32 on the CPU. Each function names the spec section it
implements; where the spec leaves a detail open, the comment says which
reading is taken (tools/reference/docs/edit.md lists them all).

    sigmas(T, shift)                       section 1 / spec D.2
    dilate_masks, token_mask               section 4
    clean_prompt, target_tokens            section 5 (+ model spec B.4)
    encode_prompt                          model spec B.5
    sar_modulate_logits, SARAttnProcessor  section 2
    install_sar                            SAR on every attn2 of the DiT
    check_processor_equivalence            SAR processor vs the stock one
    amm                                    section 3
    velocity                               CFG, section 1 / spec D.5
    editing_direction                      dV of one FlowEdit step
    flowedit                               the loop of section 1
"""
import difflib
import math

import torch
import torch.nn.functional as F

import common

# ---------------------------------------------------------------------------
# Section 1: the sigma schedule


def sigmas(T, shift):
    """sigma_0..sigma_T (T+1 values, the last one 0) as float32.

    sigma'_i = shift*s / (1 + (shift-1)*s) on s = linspace(1, 0, T+1)[:T],
    evaluated in float64, then rounded once to float32; sigma_T = 0. The
    float32 values are the ones every later formula uses (the timestep fed
    to the DiT is 1000*sigma_i computed in float32)."""
    s = torch.linspace(1.0, 0.0, T + 1, dtype=torch.float64)[:T]
    shifted = shift * s / (1.0 + (shift - 1.0) * s)
    return torch.cat([shifted, torch.zeros(1, dtype=torch.float64)]).to(torch.float32)


# ---------------------------------------------------------------------------
# Section 4: the user's per-frame pixel masks -> one flag per DiT token


def dilate_masks(pixel_masks, dilation):
    """Square (Chebyshev) dilation by @dilation pixels of every frame of
    @pixel_masks [frames, H, W] (bool/0-1): a pixel is set when any pixel
    within max(|dy|, |dx|) <= dilation is set. Pixels outside the frame
    count as unset. dilation 0 returns the masks unchanged."""
    m = pixel_masks.to(torch.float32)[:, None]
    if dilation > 0:
        m = F.max_pool2d(m, kernel_size=2 * dilation + 1, stride=1, padding=dilation)
    return m[:, 0] > 0.5


def token_mask(pixel_masks, latent_frames, latent_h, latent_w, dilation=0):
    """Section 4. @pixel_masks [frames, H, W] at the working resolution
    (H = 8*latent_h, W = 8*latent_w, frames = 4*(latent_frames-1)+1).
    Returns a bool vector of latent_frames * (latent_h/2) * (latent_w/2)
    entries in the DiT's token order n = (f*H' + h)*W' + w.

    1. dilate every pixel frame (dilate_masks);
    2. latent frame 0 <- pixel frame 0; latent frame f >= 1 <- OR of pixel
       frames 4f-3 .. 4f;
    3. spatial max-pool by 16 (VAE stride 8 x patch 2): a token is set when
       any pixel of its 16x16 block is set."""
    frames, H, W = pixel_masks.shape
    assert frames == 4 * (latent_frames - 1) + 1, (frames, latent_frames)
    assert H == 8 * latent_h and W == 8 * latent_w and latent_h % 2 == 0 and latent_w % 2 == 0
    m = dilate_masks(pixel_masks, dilation)
    groups = [m[0]] + [m[4 * f - 3: 4 * f + 1].any(dim=0) for f in range(1, latent_frames)]
    per_latent = torch.stack(groups).to(torch.float32)[:, None]  # [F, 1, H, W]
    pooled = F.max_pool2d(per_latent, kernel_size=16, stride=16)[:, 0]  # [F, H/16, W/16]
    return (pooled > 0.5).reshape(-1)


# ---------------------------------------------------------------------------
# Section 5 and model spec B.4/B.5: prompts


def clean_prompt(text):
    """WanPipeline's prompt cleaning (model spec B.4), from the pinned
    diffusers itself."""
    return common.prompt_clean(text)


def tokenize(tokenizer, prompt, text_len):
    """Cleaned prompt -> (input_ids [text_len] int64, attention mask
    [text_len] int64, fast-tokenizer encoding): EOS appended, truncated to
    text_len, padded with pad id 0, as WanPipeline._get_t5_prompt_embeds."""
    enc = tokenizer(clean_prompt(prompt), padding="max_length", max_length=text_len,
                    truncation=True, add_special_tokens=True, return_attention_mask=True,
                    return_offsets_mapping=True, return_tensors="pt")
    return enc["input_ids"][0], enc["attention_mask"][0], enc


@torch.no_grad()
def encode_prompt(tokenizer, text_encoder, prompt, text_len):
    """Model spec B.5: encode the padded text_len-token prompt with its
    attention mask, keep the n_real rows (text pieces + EOS) and set the
    remaining rows to exactly 0. Returns (context [1, text_len, d_model]
    float32, input_ids [text_len], n_real)."""
    ids, mask, _ = tokenize(tokenizer, prompt, text_len)
    hidden = text_encoder(ids[None], mask[None]).last_hidden_state[0].to(torch.float32)
    n_real = int(mask.sum())
    context = torch.zeros_like(hidden)
    context[:n_real] = hidden[:n_real]
    return context[None], ids, n_real


def changed_words(src_prompt, tar_prompt):
    """Word-level diff (section 5). Both prompts are cleaned, then split at
    single spaces (cleaning leaves no other whitespace). difflib's
    SequenceMatcher (autojunk off) aligns the two word lists; every target
    word inside a 'replace' or 'insert' opcode counts as changed. Returns
    the sorted indices of those words in the target word list."""
    src_words = clean_prompt(src_prompt).split(" ")
    tar_words = clean_prompt(tar_prompt).split(" ")
    matcher = difflib.SequenceMatcher(None, src_words, tar_words, autojunk=False)
    changed = []
    for tag, _i1, _i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "insert"):
            changed.extend(range(j1, j2))
    return sorted(changed)


def word_spans(text):
    """Character span [start, end) of each space-separated word of @text."""
    spans, start = [], 0
    for word in text.split(" "):
        spans.append((start, start + len(word)))
        start += len(word) + 1
    return spans


def target_tokens(src_prompt, tar_prompt, tokenizer, text_len):
    """J (section 5): the positions, in the tokenised target prompt, of every
    sub-word piece of every changed or inserted target word.

    Piece -> word rule: the fast tokenizer's word_ids(), i.e. the index of
    the Metaspace pre-tokenizer word (the text split at spaces, the '▁'
    marker belonging to the word it precedes) each piece came from. EOS and
    padding have no word and are never in J. Pieces cut off by truncation
    are not in J. As a cross-check the rule is compared with the character
    offsets: every piece of word k must have its non-empty character span
    inside word k's span extended by the one space before it (the '▁' that
    starts a word maps to that space). Returns (J as a sorted int64 tensor, the changed
    target word indices)."""
    changed = changed_words(src_prompt, tar_prompt)
    ids, mask, enc = tokenize(tokenizer, tar_prompt, text_len)
    word_ids = enc.word_ids(0)
    offsets = enc["offset_mapping"][0].tolist()
    spans = word_spans(clean_prompt(tar_prompt))
    assert max((w for w in word_ids if w is not None), default=-1) < len(spans), \
        "the tokenizer's words are not the space-separated words"
    J = []
    for pos, word in enumerate(word_ids):
        if word is None:
            continue
        start, end = offsets[pos]
        if end > start:  # the '▁' of a piece maps to the space before its word
            assert spans[word][0] - 1 <= start and end <= spans[word][1], (pos, word, offsets[pos])
        if word in changed:
            J.append(pos)
    return torch.tensor(J, dtype=torch.int64), changed


# ---------------------------------------------------------------------------
# Section 2: SAR on the pre-softmax cross-attention logits


def sar_modulate_logits(A, m, J, n_real, beta1, beta2):
    """Section 2 on logits @A [..., N, L] (any leading dims, e.g. batch and
    heads; every leading index is one independent head). @m: bool [N] token
    mask; @J: int64 target text positions (all < n_real); only columns
    j < n_real are read or written, padding columns are returned untouched.

    Step 1, rows with m_n = 1 (statistics over the real columns of the row):
        A'[n,j] = A + beta1*(rmax_n - A)   j in J
        A'[n,j] = A - beta1*(A - rmin_n)   j real, not in J
    Step 2, columns j in J (statistics over all N rows of A'):
        A''[n,j] = A' + beta2*(cmax_j - A')   m_n = 1
        A''[n,j] = A' - beta2*(A' - cmin_j)   m_n = 0
    Returns a new tensor."""
    A = A.clone()
    if J.numel() == 0:  # empty J turns SAR off (section 5)
        return A
    assert int(J.max()) < n_real
    real = A[..., :n_real]                                          # view
    in_J = torch.zeros(n_real, dtype=torch.bool, device=A.device)
    in_J[J] = True
    rows = m.to(torch.bool)

    # Step 1: text-token modulation on the masked rows.
    rmax = real.amax(dim=-1, keepdim=True)
    rmin = real.amin(dim=-1, keepdim=True)
    up = real + beta1 * (rmax - real)
    down = real - beta1 * (real - rmin)
    step1 = torch.where(in_J, up, down)
    real.copy_(torch.where(rows[:, None], step1, real))

    # Step 2: spatio-temporal modulation on the J columns.
    cols = real[..., J]                                             # [..., N, |J|] copy
    cmax = cols.amax(dim=-2, keepdim=True)
    cmin = cols.amin(dim=-2, keepdim=True)
    up = cols + beta2 * (cmax - cols)
    down = cols - beta2 * (cols - cmin)
    real[..., J] = torch.where(rows[:, None], up, down)
    return A


class SARState:
    """What the SAR processors of all layers read: switched on by velocity()
    for the target conditional evaluation only."""

    def __init__(self, token_mask, J, n_real, beta1, beta2):
        self.token_mask = token_mask
        self.J = J
        self.n_real = n_real
        self.beta1 = beta1
        self.beta2 = beta2
        self.active = False


class SARAttnProcessor:
    """Cross-attention (attn2) processor of the diffusers Wan DiT.

    Inactive: hands the call to the stock processor it replaced, so the DiT
    is bit-for-bit the stock one. Active: the cross-attention of model spec
    A.4 7b written out with explicit logits, with SAR applied to them:
        q = RMS_q(Wq h + bq), k = RMS_k(Wk ctx + bk), v = Wv ctx + bv
        A = q_h k_h^T / sqrt(head_dim)        per head h      [N, L]
        A = sar_modulate_logits(A)                             (section 2)
        o_h = softmax(A) v_h;  out = Wo concat_h(o_h) + bo
    With beta1 = beta2 = 0 the active path equals the stock one to ~1e-7
    (checked by check_processor_equivalence)."""

    def __init__(self, stock, state):
        self.stock = stock
        self.state = state

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None,
                 rotary_emb=None, **kwargs):
        if not self.state.active:
            return self.stock(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb,
                              **kwargs)
        assert encoder_hidden_states is not None and attention_mask is None and rotary_emb is None
        assert attn.add_k_proj is None, "T2V only: no image context"
        B, N, _ = hidden_states.shape
        heads = attn.heads
        q = attn.norm_q(attn.to_q(hidden_states))
        k = attn.norm_k(attn.to_k(encoder_hidden_states))
        v = attn.to_v(encoder_hidden_states)
        q, k, v = (x.unflatten(2, (heads, -1)).transpose(1, 2) for x in (q, k, v))  # [B, heads, S, d]
        logits = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]))        # [B, heads, N, L]
        st = self.state
        logits = sar_modulate_logits(logits, st.token_mask, st.J, st.n_real, st.beta1, st.beta2)
        out = torch.softmax(logits, dim=-1) @ v                                    # [B, heads, N, d]
        out = out.transpose(1, 2).flatten(2, 3).type_as(q)
        out = attn.to_out[0](out)
        return attn.to_out[1](out)


def install_sar(transformer, state):
    """Replaces the processor of every cross-attention layer (blocks[i].attn2)
    by a SARAttnProcessor sharing @state; self-attention is untouched."""
    for block in transformer.blocks:
        block.attn2.set_processor(SARAttnProcessor(block.attn2.processor, state))


@torch.no_grad()
def check_processor_equivalence(transformer, state, z, timestep, context):
    """How far the SAR processor is from the stock one, SAR itself off
    (beta1 = beta2 = 0). Returns max abs differences:
      dit_inactive_vs_stock   whole DiT, processor inactive (must be 0)
      dit_explicit_vs_stock   whole DiT, explicit-logit path
      layer_explicit_vs_stock blocks[0].attn2 alone, on the inputs it got
      layer_stock_vs_fp64     the stock layer against the explicit path
      layer_explicit_vs_fp64  evaluated in float64: both fp32 paths
                              carry the same rounding error
      layer_output_max        max |layer output|, for scale"""
    import copy

    procs = [block.attn2.processor for block in transformer.blocks]
    saved = state.beta1, state.beta2, state.active
    captured = {}

    def grab(_module, args):
        captured.setdefault("args", (args[0].clone(), args[1].clone()))

    hook = transformer.blocks[0].attn2.register_forward_pre_hook(grab)
    try:
        for block, proc in zip(transformer.blocks, procs):
            block.attn2.set_processor(proc.stock)
        stock = transformer(z, timestep=timestep, encoder_hidden_states=context).sample
    finally:
        hook.remove()
        for block, proc in zip(transformer.blocks, procs):
            block.attn2.set_processor(proc)
    try:
        state.active = False
        inactive = transformer(z, timestep=timestep, encoder_hidden_states=context).sample
        state.beta1, state.beta2, state.active = 0.0, 0.0, True
        explicit = transformer(z, timestep=timestep, encoder_hidden_states=context).sample
        attn = transformer.blocks[0].attn2
        h, enc = captured["args"]
        layer_explicit = procs[0](attn, h, enc)
        layer_fp64 = procs[0](copy.deepcopy(attn).double(), h.double(), enc.double())
        state.active = False
        layer_stock = procs[0](attn, h, enc)
    finally:
        state.beta1, state.beta2, state.active = saved

    def diff(a, b):
        return float((a.double() - b.double()).abs().max())

    return dict(
        dit_inactive_vs_stock=diff(inactive, stock),
        dit_explicit_vs_stock=diff(explicit, stock),
        dit_output_max=float(stock.abs().max()),
        layer_explicit_vs_stock=diff(layer_explicit, layer_stock),
        layer_stock_vs_fp64=diff(layer_stock, layer_fp64),
        layer_explicit_vs_fp64=diff(layer_explicit, layer_fp64),
        layer_output_max=float(layer_stock.abs().max()),
    )


# ---------------------------------------------------------------------------
# Section 3: AMM


def amm(dV, F_latent, gamma, F0=21):
    """Section 3 on dV [B, C, F, H, W] (each batch element on its own):
        vbar = mean over C (signed); C = (vbar - min) / (max - min + 1e-7)
        over all (f, h, w); dV *= 1 + gamma*ln(F)/ln(F0) * C."""
    gamma_F = gamma * math.log(F_latent) / math.log(F0)
    vbar = dV.mean(dim=1, keepdim=True)                                  # [B, 1, F, H, W]
    vmin = vbar.amin(dim=(2, 3, 4), keepdim=True)
    vmax = vbar.amax(dim=(2, 3, 4), keepdim=True)
    C = (vbar - vmin) / (vmax - vmin + 1e-7)
    return (1.0 + gamma_F * C) * dV


# ---------------------------------------------------------------------------
# Section 1: CFG velocity and the FlowEdit loop


@torch.no_grad()
def velocity(transformer, z, sigma, context, neg_context, guidance, sar_state=None, sar_on=False):
    """V = V_uncond + s*(V_cond - V_uncond), two separate batch-1 DiT passes
    at timestep 1000*sigma (float32). SAR, when @sar_on, is active in the
    conditional pass only; the unconditional pass never has it."""
    timestep = (1000.0 * sigma).reshape(1).to(torch.float32)
    v_u = transformer(z, timestep=timestep, encoder_hidden_states=neg_context).sample
    if sar_on:
        sar_state.active = True
    try:
        v_c = transformer(z, timestep=timestep, encoder_hidden_states=context).sample
    finally:
        if sar_state is not None:
            sar_state.active = False
    return v_u + guidance * (v_c - v_u)


@torch.no_grad()
def editing_direction(transformer, X_src, z_edit, t, draws, ctx_src, ctx_tar, ctx_neg, s_src, s_tar,
                      sar_state=None, sar_on=False):
    """dV of one FlowEdit step at sigma @t (before AMM), averaged over the
    noise @draws [n_avg, 1, 16, F, H, W]:
        Z_src = (1 - t)*X_src + t*N;  Z_tar = Z_edit + Z_src - X_src
        dV = sum_k [V(Z_tar, t, P*; s_tar, SAR) - V(Z_src, t, P; s_src)] / n_avg"""
    dV = torch.zeros_like(X_src)
    for N in draws:
        z_src = (1.0 - t) * X_src + t * N
        z_tar = z_edit + z_src - X_src
        v_tar = velocity(transformer, z_tar, t, ctx_tar, ctx_neg, s_tar, sar_state, sar_on)
        v_src = velocity(transformer, z_src, t, ctx_src, ctx_neg, s_src)
        dV = dV + (v_tar - v_src)
    return dV / len(draws)


def draw_noise(seed, step, count, shape):
    """The noise of step @step: @count standard-normal draws of @shape from a
    torch.Generator seeded with seed + step, drawn one after the other.
    Returns [count, *shape]."""
    g = torch.Generator().manual_seed(seed + step)
    return torch.stack([torch.randn(shape, generator=g, dtype=torch.float32) for _ in range(count)])


@torch.no_grad()
def flowedit(transformer, X_src, ctx_src, ctx_tar, ctx_neg, *, T, n_max, n_min, n_avg, shift,
             s_src, s_tar, seed, sar_state=None, use_sar=False, tau=0.6, use_amm=False,
             gamma=1.0, F0=21, noise=None, record=None):
    """Section 1 (+ SAR, AMM). X_src [1, 16, F, H, W]. Returns the final
    latent and the noise used, {step: [draws, 1, 16, F, H, W]}.

    FlowEdit step i (T - i > n_min): n_avg fresh draws; dV summed, then
    divided by n_avg; AMM (if on); Z_edit += (sigma_{i+1} - sigma_i)*dV.
    SAR is active in the target conditional pass when use_sar and
    sigma_i >= tau.
    Plain step (T - i <= n_min): on the first such step one draw N gives
    Z = Z_edit + ((1 - sigma_i)*X_src + sigma_i*N) - X_src; then
    Z += (sigma_{i+1} - sigma_i)*V(Z, sigma_i, P*; s_tar), no SAR, no AMM.
    The result is Z if any plain step ran, else Z_edit.

    @noise: replay these draws instead of drawing (as the engine does).
    @record: dict that receives 'stepNN.*' tensors (see docs/edit.md)."""
    sig = sigmas(T, shift)
    record = {} if record is None else record
    used_noise = {}
    shape = X_src.shape
    z_edit = X_src.clone()
    z_plain = None
    for i in range(T):
        if T - i > n_max:
            continue
        t, t_next = sig[i], sig[i + 1]
        dt = t_next - t
        key = "step%02d" % i
        if T - i > n_min:
            draws = noise[i] if noise is not None else draw_noise(seed, i, n_avg, shape)
            used_noise[i] = draws
            sar_on = bool(use_sar and float(t) >= tau)
            dV = editing_direction(transformer, X_src, z_edit, t, draws[:n_avg], ctx_src, ctx_tar, ctx_neg,
                                   s_src, s_tar, sar_state, sar_on)
            record[key + ".dv"] = dV
            if use_amm:
                dV = amm(dV, shape[2], gamma, F0)
                record[key + ".dv_amm"] = dV
            z_edit = z_edit + dt * dV
            record[key + ".z"] = z_edit
            record[key + ".sar"] = torch.tensor([int(sar_on)], dtype=torch.int64)
        else:
            if z_plain is None:
                draws = noise[i] if noise is not None else draw_noise(seed, i, 1, shape)
                used_noise[i] = draws
                z_plain = z_edit + ((1.0 - t) * X_src + t * draws[0]) - X_src
                record[key + ".z_init"] = z_plain
            v = velocity(transformer, z_plain, t, ctx_tar, ctx_neg, s_tar)
            z_plain = z_plain + dt * v
            record[key + ".z"] = z_plain
    final = z_plain if z_plain is not None else z_edit
    return final, used_noise
