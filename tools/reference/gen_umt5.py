"""Tiny umT5 encoder (tests/data/wan-tiny/text_encoder/) and the encoder golden.

The model is transformers' UMT5EncoderModel with common.TINY_UMT5_CONFIG (the
real bucket settings, per-layer relative bias, gated tanh-GELU FFN, no score
scaling) and an embedding table sized for the tiny tokenizer, rounded up to a
multiple of 128 rows as umT5's 256 384 rows round up its 256 300 tokens. Every
parameter is redrawn from a seeded generator (the library init sets the norms
to 1, which would hide a missing norm weight), saved fp32 in several shards so
that the index path (model.safetensors.index.json) is exercised.

The golden tests/data/goldens/umt5.safetensors holds, for a batch of prompts
tokenized by the tiny tokenizer the way diffusers' WanPipeline does:
  * the encoder at a modest padded length with per-layer taps,
  * the encoder at the full 512 tokens,
  * the context diffusers' WanPipeline._get_t5_prompt_embeds hands the DiT
    (rows past the real length set to exactly zero), computed by that function.

Run through `make goldens` (tools/reference/make_goldens.py gen_umt5), after
gen_tokenizer.
"""
import os
import shutil
import sys
import types

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import gen_tokenizer  # noqa: E402

SEED = 1234
TEXT_ENCODER_DIR = os.path.join(common.TINY_MODEL, "text_encoder")
GOLDEN = os.path.join(common.GOLDENS, "umt5.safetensors")
# Small enough that the ~0.2 MB of weights land in several shards.
MAX_SHARD_SIZE = "64KB"
# The modest padded length of the first run (every prompt below fits).
SHORT_LEN = 128
# Embedding rows are a multiple of this (umT5: 256 384 = 2003 * 128 rows for 256 300 tokens).
VOCAB_ROUND = 128

PROMPTS = [
    "A red fox walks across the snow at dawn, leaving a line of small prints behind it.",
    gen_tokenizer.WAN_NEGATIVE_PROMPT_ZH,
    "",  # diffusers' default negative prompt: tokenizes to just </s>
    "Un café au lait, s'il vous plaît —  Ærøskøbing in the rain,\n832x480 at 16 fps.",
]


def vocab_rows(n_tokens):
    return -(-n_tokens // VOCAB_ROUND) * VOCAB_ROUND


def make_config(vocab_size):
    from transformers import UMT5Config

    return UMT5Config(**common.TINY_UMT5_CONFIG, vocab_size=vocab_size)


def randomize(model, seed):
    """Redraws every parameter from one seeded generator, in name order. Scales
    follow the Mesh-TF init where it is sensible; norms get weights in
    [0.5, 1.5) and the relative-bias tables std 1 so that both visibly matter."""
    cfg = model.config
    gen = torch.Generator().manual_seed(seed)
    params = dict(model.named_parameters())  # tied parameters appear once
    for name in sorted(params):
        p = params[name]
        if name.endswith("layer_norm.weight"):
            value = 0.5 + torch.rand(p.shape, generator=gen)
        elif name == "shared.weight":
            value = torch.randn(p.shape, generator=gen)
        elif name.endswith("relative_attention_bias.weight"):
            value = torch.randn(p.shape, generator=gen)
        elif name.endswith(("SelfAttention.q.weight", "SelfAttention.k.weight", "SelfAttention.v.weight")):
            value = torch.randn(p.shape, generator=gen) * cfg.d_model ** -0.5
        elif name.endswith("SelfAttention.o.weight"):
            value = torch.randn(p.shape, generator=gen) * (cfg.num_heads * cfg.d_kv) ** -0.5
        elif name.endswith(("DenseReluDense.wi_0.weight", "DenseReluDense.wi_1.weight")):
            value = torch.randn(p.shape, generator=gen) * cfg.d_model ** -0.5
        elif name.endswith("DenseReluDense.wo.weight"):
            value = torch.randn(p.shape, generator=gen) * cfg.d_ff ** -0.5
        else:
            raise RuntimeError(f"no init rule for {name}")
        with torch.no_grad():
            p.copy_(value.to(p.dtype))


def build_and_save(vocab_size):
    from transformers import UMT5EncoderModel

    model = UMT5EncoderModel(make_config(vocab_size)).float().eval()
    randomize(model, SEED)
    assert model.encoder.embed_tokens.weight is model.shared.weight, "shared/encoder.embed_tokens not tied"
    if os.path.isdir(TEXT_ENCODER_DIR):
        shutil.rmtree(TEXT_ENCODER_DIR)
    model.save_pretrained(TEXT_ENCODER_DIR, max_shard_size=MAX_SHARD_SIZE, safe_serialization=True)
    return model


def load_saved(dtype):
    """The encoder as the Wan pipeline loads it (from_pretrained with a dtype).
    transformers 5.23 applies UMT5's _keep_in_fp32_modules (`wo`) only for
    float16, so with bfloat16 every weight and activation is bf16."""
    from transformers import UMT5EncoderModel

    return UMT5EncoderModel.from_pretrained(TEXT_ENCODER_DIR, dtype=dtype, attn_implementation="eager").eval()


def tokenize(tok, prompts, length):
    """Tokenizer.json semantics (gen_tokenizer): prompt_clean, <= length-1 pieces + </s>, pad 0."""
    ids = torch.zeros(len(prompts), length, dtype=torch.int64)
    mask = torch.zeros(len(prompts), length, dtype=torch.int64)
    for b, prompt in enumerate(prompts):
        tokens = tok.encode(common.prompt_clean(prompt)).ids
        tokens = tokens[:-1][: length - 1] + [1]
        ids[b, : len(tokens)] = torch.tensor(tokens)
        mask[b, : len(tokens)] = 1
    return ids, mask


def run_with_taps(model, ids, mask):
    """last_hidden_state plus the residual stream after the embedding, after each
    attention sub-layer and after each block."""
    taps, hooks = {}, []
    enc = model.encoder
    hooks.append(enc.embed_tokens.register_forward_hook(lambda m, i, o: taps.__setitem__("embed", o.detach().clone())))
    for n, block in enumerate(enc.block):
        hooks.append(block.layer[0].register_forward_hook(
            lambda m, i, o, n=n: taps.__setitem__(f"layer{n}.attn", o[0].detach().clone())))
        hooks.append(block.register_forward_hook(
            lambda m, i, o, n=n: taps.__setitem__(f"layer{n}.out", (o[0] if isinstance(o, tuple) else o).detach().clone())))
    try:
        with torch.no_grad():
            out = model(input_ids=ids, attention_mask=mask).last_hidden_state
    finally:
        for h in hooks:
            h.remove()
    return out, taps


def encode(model, ids, mask):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).last_hidden_state


def pipeline_context(model, tokenizer, prompts):
    """The context exactly as diffusers' WanPipeline computes it: its own
    _get_t5_prompt_embeds (prompt_clean, tokenizer call, encoder, trim to the
    real length, zero-pad to 512) on a stand-in pipeline object."""
    from diffusers import WanPipeline

    stand_in = types.SimpleNamespace(tokenizer=tokenizer, text_encoder=model)
    with torch.no_grad():
        return WanPipeline._get_t5_prompt_embeds(
            stand_in, prompt=prompts, num_videos_per_prompt=1, max_sequence_length=common.TEXT_LEN,
            device=torch.device("cpu"), dtype=torch.float32,
        )


def rel_err(y, ref, mask):
    """max |y - ref| / max |ref| over the real rows (mask [B, S])."""
    keep = mask.bool()
    y, ref = y.double()[keep], ref.double()[keep]
    return float((y - ref).abs().max() / ref.abs().max())


def main():
    common.seed_everything(SEED)
    tok = gen_tokenizer.load_tokenizer_json()
    n_tokens = tok.get_vocab_size(with_added_tokens=True)
    vocab_size = vocab_rows(n_tokens)
    build_and_save(vocab_size)

    model = load_saved(torch.float32)
    pipe_tok = gen_tokenizer.load_pipeline_tokenizer()

    short_ids, short_mask = tokenize(tok, PROMPTS, SHORT_LEN)
    full_ids, full_mask = tokenize(tok, PROMPTS, common.TEXT_LEN)
    assert short_mask.sum(1).max() < SHORT_LEN
    # The pinned transformers tokenizer (what diffusers runs) must agree on these prompts.
    tf = pipe_tok([common.prompt_clean(p) for p in PROMPTS], padding="max_length",
                  max_length=common.TEXT_LEN, truncation=True, add_special_tokens=True,
                  return_attention_mask=True, return_tensors="pt")
    assert torch.equal(tf.input_ids, full_ids) and torch.equal(tf.attention_mask, full_mask)

    short_hidden, taps = run_with_taps(model, short_ids, short_mask)
    full_hidden = encode(model, full_ids, full_mask)
    context = pipeline_context(model, pipe_tok, PROMPTS)
    n_real = full_mask.sum(1)

    # Self-checks: the context is the full run's real rows, then exact zeros;
    # the padded length does not change the real rows (up to rounding).
    for b in range(len(PROMPTS)):
        n = int(n_real[b])
        assert torch.equal(context[b, :n], full_hidden[b, :n])
        assert torch.count_nonzero(context[b, n:]) == 0
    pad_invariance = rel_err(full_hidden[:, :SHORT_LEN], short_hidden, short_mask)
    assert pad_invariance < 1e-5, pad_invariance

    # Tolerance evidence: fp32 rounding (vs fp64) and bf16 as the pipeline runs it.
    model64 = load_saved(torch.float64)
    ref64 = encode(model64, full_ids, full_mask)
    model16 = load_saved(torch.bfloat16)
    out16 = encode(model16, full_ids, full_mask).float()
    fp32_err = rel_err(full_hidden, ref64, full_mask)
    bf16_err = rel_err(out16, full_hidden, full_mask)
    # bf16-rounded weights, fp32 arithmetic: the floor for any engine that stores bf16 weights.
    model_w16 = load_saved(torch.float32)
    with torch.no_grad():
        for p in model_w16.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    bf16_weights_err = rel_err(encode(model_w16, full_ids, full_mask), full_hidden, full_mask)
    bf16_err_per_prompt = [rel_err(out16[b:b + 1], full_hidden[b:b + 1], full_mask[b:b + 1])
                           for b in range(len(PROMPTS))]

    rel = torch.arange(SHORT_LEN)[None, :] - torch.arange(SHORT_LEN)[:, None]
    bucket_table = model.encoder.block[0].layer[0].SelfAttention._relative_position_bucket(rel)

    tensors = {
        "short.ids": short_ids,
        "short.mask": short_mask,
        "short.hidden": short_hidden,
        "short.buckets": bucket_table.to(torch.int64),
        "full.ids": full_ids,
        "full.mask": full_mask,
        "full.hidden": full_hidden,
        "n_real": n_real,
        "context": context,
    }
    for name, value in taps.items():
        tensors[f"short.{name}"] = value
    for b, prompt in enumerate(PROMPTS):
        tensors[f"prompt.{b}"] = torch.tensor(list(prompt.encode("utf-8")), dtype=torch.uint8)
    common.save_golden(
        GOLDEN,
        tensors,
        __file__,
        SEED,
        prompts=PROMPTS,
        config=dict(common.TINY_UMT5_CONFIG, vocab_size=vocab_size),
        tokenizer_size=n_tokens,
        text_len=common.TEXT_LEN,
        short_len=SHORT_LEN,
        attn_implementation="eager",
        dtype="float32",
        pad_invariance_rel_err=pad_invariance,
        fp32_vs_fp64_rel_err=fp32_err,
        bf16_vs_fp32_rel_err=bf16_err,
        bf16_vs_fp32_rel_err_per_prompt=bf16_err_per_prompt,
        bf16_weights_fp32_compute_rel_err=bf16_weights_err,
    )
    print(f"umt5: vocab rows {vocab_size} (tokenizer {n_tokens}), n_real {n_real.tolist()}, "
          f"fp32-vs-fp64 {fp32_err:.2e}, bf16-vs-fp32 {bf16_err:.2e} {['%.2e' % e for e in bf16_err_per_prompt]}, "
          f"bf16 weights only {bf16_weights_err:.2e}, "
          f"pad invariance {pad_invariance:.2e}")


if __name__ == "__main__":
    main()
