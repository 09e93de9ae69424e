"""Tiny Wan DiT (WanTransformer3DModel) and its goldens.

Writes
  tests/data/wan-tiny/transformer/            diffusers layout, fp32, sharded
                                              (config.json, 2+ shards, index json)
  tests/data/original/wan-tiny-dit.safetensors              original Wan names, fp32
  tests/data/original/wan-tiny-dit-comfy-bf16.safetensors   original names with the
                                              ComfyUI prefix model.diffusion_model., bf16
  tests/data/goldens/dit.safetensors          inputs, velocities and intermediate taps

The weights are the real architecture at tiny widths (common.TINY_DIT_CONFIG).
Every parameter is drawn again from a seeded generator after construction, so
no tensor keeps a zero/constant default (diffusers leaves e.g. norm weights at
1 and biases of some layers at 0): a loader that drops, swaps or misnames any
tensor changes the velocity.

Run through `make goldens` (make_goldens.py), never by tests.
"""
import json
import os
import re
import shutil

import torch
from safetensors.torch import load_file

import common

SEED = 2101  # weights
INPUT_SEED = 2102  # latents and text contexts

COMFY_PREFIX = "model.diffusion_model."

# (name, latent shape [B, 16, F, H, W], timestep per batch element, real text rows per batch element, note)
CASES = [
    ("case0", (2, 16, 3, 8, 12), (999.0, 250.5), (7, 20),
     "3 latent frames, non-square 8x12 latent (4x6 token grid, 72 tokens); fractional timestep 250.5"),
    ("case1", (2, 16, 1, 6, 6), (1000.0, 1.0), (512, 1),
     "1 latent frame, square 6x6 latent (3x3 grid, 9 tokens); timesteps at both ends of the range; "
     "a context with no padding (512 real rows) and one with a single real row"),
    ("case2", (3, 16, 2, 10, 4), (500.0, 37.125, 875.3333), (3, 77, 200),
     "batch 3, portrait 10x4 latent (5x2 grid, 2 frames, 20 tokens)"),
    ("case3", (1, 16, 5, 4, 20), (637.25,), (11,),
     "batch 1, 5 latent frames, wide 4x20 latent (2x10 grid, 100 tokens)"),
]

# What each tap is: the exact module output (or input) it records, in diffusers names.
TAPS = {
    "tap.rope_cos": "WanRotaryPosEmbed (model.rope) output[0] squeezed to [N, head_dim]: cos of the angle of "
                    "each rotation pair, repeated for both members of the pair (dims 2k and 2k+1)",
    "tap.rope_sin": "model.rope output[1], [N, head_dim], sin counterpart of tap.rope_cos",
    "tap.patch_embedding": "output of model.patch_embedding (Conv3d) flattened to tokens: [B, N, D], "
                           "token n = (f*H' + h)*W' + w",
    "tap.time_sinusoid": "output of condition_embedder.timesteps_proj: [B, freq_dim], cos half first",
    "tap.temb": "condition_embedder output[0]: time_embedder MLP output, [B, D] (the head uses it as is)",
    "tap.timestep_proj": "condition_embedder output[1] = time_proj(silu(temb)) viewed as [B, 6, D]",
    "tap.text_embedding": "condition_embedder output[2]: text_embedder applied to all 512 rows, [B, 512, D] "
                          "(case0 only)",
    "tap.block0.attn1": "blocks[0].attn1 output (after to_out.0, before the gate), [B, N, D]",
    "tap.block0.attn2": "blocks[0].attn2 output (after to_out.0, added to the residual as is), [B, N, D]",
    "tap.block0.ffn": "blocks[0].ffn output (before the gate), [B, N, D]",
    "tap.block0": "output of blocks[0] (residual stream), [B, N, D]",
    "tap.before_head": "output of the last block (blocks[-1]) = input of the output head, [B, N, D]",
    "tap.head_input": "input of proj_out: LN(x)*(1+scale)+shift with the head modulation, [B, N, D]",
    "tap.proj_out": "output of proj_out before unpatchify, [B, N, out_channels*prod(patch_size)]",
}

# Large taps stored for case0 only (keeps the golden small).
CASE0_ONLY_TAPS = ("tap.text_embedding",)

# ---------------------------------------------------------------------------
# Name mapping diffusers <-> original Wan (spec A.2 / A.3). Written from the
# tables in the spec; diffusers' own converter is only used to check it.

_TOP_LEVEL = [
    ("condition_embedder.time_embedder.linear_1.", "time_embedding.0."),
    ("condition_embedder.time_embedder.linear_2.", "time_embedding.2."),
    ("condition_embedder.text_embedder.linear_1.", "text_embedding.0."),
    ("condition_embedder.text_embedder.linear_2.", "text_embedding.2."),
    ("condition_embedder.time_proj.", "time_projection.1."),
    ("proj_out.", "head.head."),
    ("patch_embedding.", "patch_embedding."),
]

_IN_BLOCK = [
    ("attn1.to_q.", "self_attn.q."),
    ("attn1.to_k.", "self_attn.k."),
    ("attn1.to_v.", "self_attn.v."),
    ("attn1.to_out.0.", "self_attn.o."),
    ("attn1.norm_q.", "self_attn.norm_q."),
    ("attn1.norm_k.", "self_attn.norm_k."),
    ("attn2.to_q.", "cross_attn.q."),
    ("attn2.to_k.", "cross_attn.k."),
    ("attn2.to_v.", "cross_attn.v."),
    ("attn2.to_out.0.", "cross_attn.o."),
    ("attn2.norm_q.", "cross_attn.norm_q."),
    ("attn2.norm_k.", "cross_attn.norm_k."),
    ("norm2.", "norm3."),  # the affine cross-attention LayerNorm
    ("ffn.net.0.proj.", "ffn.0."),
    ("ffn.net.2.", "ffn.2."),
]

_BLOCK_RE = re.compile(r"^blocks\.(\d+)\.(.*)$")


def _rename(name, pairs, src, dst):
    for pair in pairs:
        if name.startswith(pair[src]):
            return pair[dst] + name[len(pair[src]):]
    raise KeyError(name)


def _convert(name, src, dst):
    """src/dst: 0 = diffusers, 1 = original."""
    top_sst = ("scale_shift_table", "head.modulation")
    blk_sst = ("scale_shift_table", "modulation")
    if name == top_sst[src]:
        return top_sst[dst]
    m = _BLOCK_RE.match(name)
    if m:
        rest = m.group(2)
        new = blk_sst[dst] if rest == blk_sst[src] else _rename(rest, _IN_BLOCK, src, dst)
        return "blocks.%s.%s" % (m.group(1), new)
    return _rename(name, _TOP_LEVEL, src, dst)


def diffusers_to_original(name):
    return _convert(name, 0, 1)


def original_to_diffusers(name):
    if name.startswith(COMFY_PREFIX):
        name = name[len(COMFY_PREFIX):]
    elif name.startswith("diffusion_model."):
        name = name[len("diffusion_model."):]
    return _convert(name, 1, 0)


# ---------------------------------------------------------------------------


def build_model():
    """The tiny DiT with every parameter redrawn from a generator seeded with
    SEED, in sorted-name order (independent of construction order)."""
    from diffusers import WanTransformer3DModel

    model = WanTransformer3DModel(**common.TINY_DIT_CONFIG)
    gen = torch.Generator().manual_seed(SEED)
    params = dict(model.named_parameters())
    assert all(p.dtype == torch.float32 for p in params.values())
    assert set(params) == set(model.state_dict()), "state dict holds more than parameters"
    with torch.no_grad():
        for name in sorted(params):
            p = params[name]
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if name.endswith(("norm_q.weight", "norm_k.weight", "norm2.weight")):
                value = 1.0 + 0.2 * noise  # norm gains around 1
            elif name.endswith("scale_shift_table"):
                value = 0.3 * noise  # shift / scale / gate offsets
            elif p.ndim >= 2:  # Linear / Conv3d weights: unit-variance outputs
                fan_in = p[0].numel()
                value = noise / fan_in ** 0.5
            else:  # biases
                value = 0.2 * noise
            p.copy_(value)
    model.eval()
    return model


def make_inputs(gen, shape, timesteps, n_real):
    latents = torch.randn(shape, generator=gen, dtype=torch.float32)
    text_dim = common.TINY_DIT_CONFIG["text_dim"]
    context = torch.zeros(shape[0], common.TEXT_LEN, text_dim, dtype=torch.float32)
    for b, n in enumerate(n_real):
        context[b, :n] = torch.randn(n, text_dim, generator=gen, dtype=torch.float32)
    return latents, torch.tensor(timesteps, dtype=torch.float32), context


def run_with_taps(model, latents, timestep, context):
    """Velocity and the TAPS of one forward pass."""
    taps = {}
    handles = []
    dim = model.config.num_attention_heads * model.config.attention_head_dim

    def keep(name, fn=lambda out: out):
        def hook(_module, _args, out):
            taps[name] = fn(out).detach().clone()
        return hook

    def rope_hook(_module, _args, out):
        taps["tap.rope_cos"] = out[0].reshape(out[0].shape[1], -1).clone()
        taps["tap.rope_sin"] = out[1].reshape(out[1].shape[1], -1).clone()

    def cond_hook(_module, _args, out):
        temb, tproj, text = out[0], out[1], out[2]
        taps["tap.temb"] = temb.clone()
        taps["tap.timestep_proj"] = tproj.reshape(tproj.shape[0], 6, dim).clone()
        taps["tap.text_embedding"] = text.clone()

    def head_in_hook(_module, args):
        taps["tap.head_input"] = args[0].detach().clone()

    block0 = model.blocks[0]
    handles += [
        model.rope.register_forward_hook(rope_hook),
        model.patch_embedding.register_forward_hook(
            keep("tap.patch_embedding", lambda out: out.flatten(2).transpose(1, 2))),
        model.condition_embedder.timesteps_proj.register_forward_hook(keep("tap.time_sinusoid")),
        model.condition_embedder.register_forward_hook(cond_hook),
        block0.attn1.register_forward_hook(keep("tap.block0.attn1")),
        block0.attn2.register_forward_hook(keep("tap.block0.attn2")),
        block0.ffn.register_forward_hook(keep("tap.block0.ffn")),
        block0.register_forward_hook(keep("tap.block0")),
        model.blocks[-1].register_forward_hook(keep("tap.before_head")),
        model.proj_out.register_forward_pre_hook(head_in_hook),
        model.proj_out.register_forward_hook(keep("tap.proj_out")),
    ]
    try:
        with torch.no_grad():
            velocity = model(hidden_states=latents, timestep=timestep, encoder_hidden_states=context,
                             return_dict=False)[0]
    finally:
        for h in handles:
            h.remove()
    assert set(taps) == set(TAPS), sorted(set(TAPS) ^ set(taps))
    return velocity, taps


def read_sharded(folder):
    """name -> tensor of a diffusers folder saved in shards (through its index)."""
    with open(os.path.join(folder, "diffusion_pytorch_model.safetensors.index.json")) as f:
        weight_map = json.load(f)["weight_map"]
    state = {}
    for shard in sorted(set(weight_map.values())):
        part = load_file(os.path.join(folder, shard))
        assert all(weight_map[k] == shard for k in part), shard
        state.update(part)
    assert set(state) == set(weight_map)
    return state


def load_transformer(folder=None):
    """The tiny DiT from its diffusers folder (shards through the index), fp32,
    eval mode, the way a user's download loads."""
    from diffusers import WanTransformer3DModel

    folder = folder or os.path.join(common.TINY_MODEL, "transformer")
    return WanTransformer3DModel.from_pretrained(folder, torch_dtype=torch.float32).eval()


def _assert_same_state(got, want, what):
    if set(got) != set(want):
        raise AssertionError("%s: names differ: missing %s, extra %s" % (
            what, sorted(set(want) - set(got)), sorted(set(got) - set(want))))
    for name in want:
        a, b = got[name], want[name]
        if a.dtype != b.dtype or a.shape != b.shape or not torch.equal(a, b):
            raise AssertionError("%s: tensor %s differs" % (what, name))


def verify_files(model, transformer_dir, original_path, comfy_path, case0):
    """Every written layout must give back exactly the diffusers state dict."""
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    want = {k: v.detach().clone() for k, v in model.state_dict().items()}
    want_bf16 = {k: v.to(torch.bfloat16) for k, v in want.items()}

    # 1. the sharded diffusers folder; same velocity bit for bit
    _assert_same_state(read_sharded(transformer_dir), want, "diffusers folder shards")
    reloaded = load_transformer(transformer_dir)
    _assert_same_state(dict(reloaded.state_dict()), want, "diffusers folder")
    latents, timestep, context, velocity = case0
    again, _ = run_with_taps(reloaded, latents, timestep, context)
    if not torch.equal(again, velocity):
        raise AssertionError("reloaded diffusers folder gives a different velocity")

    # 2. original names: our inverse mapping and diffusers' single-file converter
    original = load_file(original_path)
    _assert_same_state({original_to_diffusers(k): v for k, v in original.items()}, want,
                       "original file, own inverse mapping")
    _assert_same_state(convert_wan_transformer_to_diffusers(dict(original)), want,
                       "original file, diffusers converter")

    # 3. ComfyUI prefix, bf16
    comfy = load_file(comfy_path)
    assert all(k.startswith(COMFY_PREFIX) for k in comfy)
    _assert_same_state({original_to_diffusers(k): v for k, v in comfy.items()}, want_bf16,
                       "comfy file, own inverse mapping")
    _assert_same_state(convert_wan_transformer_to_diffusers(dict(comfy)), want_bf16,
                       "comfy file, diffusers converter")


def main():
    common.seed_everything(SEED)
    model = build_model()
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}

    # diffusers layout, sharded like the real 2-shard transformer folder
    transformer_dir = os.path.join(common.TINY_MODEL, "transformer")
    shutil.rmtree(transformer_dir, ignore_errors=True)
    model.save_pretrained(transformer_dir, safe_serialization=True, max_shard_size="250KB")
    shards = sorted(f for f in os.listdir(transformer_dir) if f.endswith(".safetensors"))
    assert len(shards) >= 2 and os.path.exists(
        os.path.join(transformer_dir, "diffusion_pytorch_model.safetensors.index.json")), shards

    # original Wan names (one file, fp32, no prefix) and the ComfyUI repackage (prefix, bf16)
    original = {diffusers_to_original(k): v for k, v in state.items()}
    assert len(original) == len(state)
    original_path = os.path.join(common.ORIGINAL, "wan-tiny-dit.safetensors")
    comfy_path = os.path.join(common.ORIGINAL, "wan-tiny-dit-comfy-bf16.safetensors")
    common.save_golden(original_path, original, __file__, SEED, format="pt",
                       layout="original Wan DiT names (WanModel), no prefix, fp32",
                       config=common.TINY_DIT_CONFIG)
    common.save_golden(comfy_path, {COMFY_PREFIX + k: v.to(torch.bfloat16) for k, v in original.items()},
                       __file__, SEED, format="pt",
                       layout="original Wan DiT names with prefix model.diffusion_model., bf16 "
                              "(round-to-nearest-even from the fp32 weights)",
                       config=common.TINY_DIT_CONFIG)

    # goldens
    gen = torch.Generator().manual_seed(INPUT_SEED)
    tensors = {}
    notes = []
    case0 = None
    for name, shape, timesteps, n_real, note in CASES:
        latents, timestep, context = make_inputs(gen, shape, timesteps, n_real)
        velocity, taps = run_with_taps(model, latents, timestep, context)
        assert velocity.shape == latents.shape and torch.isfinite(velocity).all()
        tensors[name + ".latents"] = latents
        tensors[name + ".timestep"] = timestep
        tensors[name + ".context"] = context
        tensors[name + ".n_real"] = torch.tensor(n_real, dtype=torch.int64)
        tensors[name + ".velocity"] = velocity
        for tap, value in taps.items():
            if tap in CASE0_ONLY_TAPS and case0 is not None:
                continue
            tensors[name + "." + tap] = value
        p_t, p_h, p_w = common.TINY_DIT_CONFIG["patch_size"]
        grid = [shape[2] // p_t, shape[3] // p_h, shape[4] // p_w]
        notes.append(dict(name=name, latents=list(shape), timestep=list(timesteps), n_real=list(n_real),
                          grid=grid, tokens=grid[0] * grid[1] * grid[2], note=note))
        if case0 is None:
            case0 = (latents, timestep, context, velocity)

    verify_files(model, transformer_dir, original_path, comfy_path, case0)

    head_dim = common.TINY_DIT_CONFIG["attention_head_dim"]
    hw = 2 * (head_dim // 6)
    common.save_golden(
        os.path.join(common.GOLDENS, "dit.safetensors"), tensors, __file__, SEED,
        input_seed=str(INPUT_SEED),
        config=common.TINY_DIT_CONFIG,
        cases=notes,
        taps=TAPS,
        rope_split=[head_dim - 2 * hw, hw, hw],
        model="tests/data/wan-tiny/transformer (same weights: original/wan-tiny-dit.safetensors, "
              "original/wan-tiny-dit-comfy-bf16.safetensors)",
        precision="fp32 on CPU, one thread (torch scaled_dot_product_attention)",
        context="rows >= n_real[b] are zero (Wan pads the umT5 output with zeros); "
                "the text embedder is applied to all 512 rows",
    )


if __name__ == "__main__":
    main()
