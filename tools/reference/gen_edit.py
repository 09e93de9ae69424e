"""Edit goldens: FlowEdit, SAR, AMM (shared/spec/flowanchor-method.md) run
end to end on the tiny models, from frames and words to the edited latent.

Writes
  tests/data/goldens/edit-inputs.safetensors    the clip, its masks, the
      prompts, token ids, contexts, J, the token mask, X_src, the schedule,
      the noise of every step, a SAR unit case
  tests/data/goldens/edit-<variant>.safetensors for variant in plain, sar,
      amm, sar_amm: every step's dV / Z and the final latent

Loads tests/data/wan-tiny/{transformer,vae,text_encoder,tokenizer}, so it
runs after gen_dit, gen_tokenizer, gen_umt5 and gen_vae. The method itself
lives in flowanchor_ref.py; docs/edit.md documents the files and every
choice. Run through `make goldens` (make_goldens.py), never by tests.
"""
import copy
import json
import math
import os
import sys
import types

import numpy as np
import torch

import common
import flowanchor_ref as fa

SEED = 2601          # noise: step i draws from torch.Generator().manual_seed(SEED + i)
SAR_UNIT_SEED = 2602  # the standalone SAR unit case

# The clip: 9 frames of 64x96 RGB -> latent [16, 3, 8, 12] -> 3 x 4 x 6 = 72 tokens.
FRAMES, HEIGHT, WIDTH = 9, 64, 96

SRC_PROMPT = "a red ball rolls on the grass"
# Two words replaced by three, one word inserted (J covers both diff cases);
# the double space exercises the cleaning before the diff.
TAR_PROMPT = "a shiny  blue cube rolls on the green grass"
# Wan's default negative prompt (model spec B.6, original code; flowanchor
# spec section 1 "Wan's default negative prompt").
NEG_PROMPT = ("色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
              "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，"
              "形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走")

PARAMS = dict(
    T=6, n_max=5, n_min=1, n_avg=2, shift=5.0, s_src=5.0, s_tar=10.0,
    tau=0.8, beta1=0.3, beta2=0.3, gamma=1.0, F0=21, mask_dilation=2,
)

VARIANTS = [  # name, SAR, AMM
    ("plain", False, False),
    ("sar", True, False),
    ("amm", False, True),
    ("sar_amm", True, True),
]

# Pairwise finals must differ by at least this fraction of max |final|.
MIN_RELATIVE_DIFFERENCE = 1e-3


# ---------------------------------------------------------------------------
# Inputs


def synthetic_clip():
    """A red shaded ball rolling left to right (and bobbing) over striped
    'grass'. Returns (frames uint8 [FRAMES, H, W, 3] RGB, masks uint8
    [FRAMES, H, W], 1 inside the ball). Pure float64 numpy, then rounded."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    background = np.stack([
        50 + 25 * np.sin(x / 7.0 + y / 13.0),
        140 + 40 * np.sin(y / 5.0 + x / 11.0),
        45 + 20 * np.cos(x / 9.0 - y / 6.0),
    ], axis=-1)
    radius = 11.0
    frames, masks = [], []
    for k in range(FRAMES):
        cx = 17.0 + 7.75 * k
        cy = 36.0 + 4.0 * math.sin(0.9 * k)
        d2 = (x - cx) ** 2 + (y - cy) ** 2
        inside = d2 <= radius * radius
        shade = 1.0 - 0.45 * np.sqrt(np.minimum(d2, radius * radius)) / radius
        ball = np.stack([225 * shade, 30 * shade + 10, 35 * shade + 5], axis=-1)
        img = np.where(inside[..., None], ball, background)
        frames.append(np.clip(np.rint(img), 0, 255).astype(np.uint8))
        masks.append(inside.astype(np.uint8))
    return np.stack(frames), np.stack(masks)


def frames_to_video(frames_u8):
    """uint8 [frames, H, W, 3] -> float32 [1, 3, frames, H, W] in [-1, 1] as
    diffusers' VideoProcessor: (x / 255) * 2 - 1, each op in float32."""
    x = torch.from_numpy(frames_u8).to(torch.float32) / 255.0
    x = x * 2.0 - 1.0
    return x.permute(3, 0, 1, 2)[None].contiguous()


@torch.no_grad()
def encode_video(vae, video):
    """Posterior mean of the tiny VAE, normalised as WanVideoToVideoPipeline
    (model spec C.1): (mu - latents_mean) * (1 / latents_std), per channel."""
    mu = vae.encode(video).latent_dist.mode()
    mean = torch.tensor(vae.config.latents_mean, dtype=torch.float32).view(1, -1, 1, 1, 1)
    inv_std = 1.0 / torch.tensor(vae.config.latents_std, dtype=torch.float32).view(1, -1, 1, 1, 1)
    return (mu - mean) * inv_std


def sar_naive(A, m, J, n_real, beta1, beta2):
    """Section 2 once more, element by element in float64 (independent of
    fa.sar_modulate_logits, for the unit case): A [heads, N, L]."""
    A = A.double().tolist()
    J = set(J.tolist())
    m = m.tolist()
    for head in A:
        for n, row in enumerate(head):
            if m[n]:
                rmax, rmin = max(row[:n_real]), min(row[:n_real])
                for j in range(n_real):
                    row[j] = row[j] + beta1 * (rmax - row[j]) if j in J else row[j] - beta1 * (row[j] - rmin)
        for j in J:
            col = [row[j] for row in head]
            cmax, cmin = max(col), min(col)
            for n, row in enumerate(head):
                row[j] = row[j] + beta2 * (cmax - row[j]) if m[n] else row[j] - beta2 * (row[j] - cmin)
    return torch.tensor(A, dtype=torch.float64)


def sar_unit_case(N, L, n_real, heads=2):
    """A standalone case for the SAR kernel: random logits, a token mask and
    J, with the expected output of fa.sar_modulate_logits."""
    g = torch.Generator().manual_seed(SAR_UNIT_SEED)
    logits = torch.randn((heads, N, L), generator=g) * 3.0
    mask = torch.rand((N,), generator=g) < 0.3
    J = torch.tensor([1, 4, 5], dtype=torch.int64)
    out = fa.sar_modulate_logits(logits, mask, J, n_real, PARAMS["beta1"], PARAMS["beta2"])
    assert torch.equal(out[..., n_real:], logits[..., n_real:])
    naive = sar_naive(logits, mask, J, n_real, PARAMS["beta1"], PARAMS["beta2"])
    assert float((out.double() - naive).abs().max()) < 1e-5, "SAR disagrees with its naive form"
    assert not torch.equal(out, logits)
    return {
        "sar_unit.logits_in": logits,
        "sar_unit.logits_out": out,
        "sar_unit.token_mask": mask.to(torch.uint8),
        "sar_unit.J": J,
        "sar_unit.n_real": torch.tensor([n_real], dtype=torch.int64),
    }


def utf8(text):
    return torch.tensor(list(text.encode("utf-8")), dtype=torch.uint8)


def load_models():
    """The tiny components written by gen_dit, gen_vae, gen_umt5 and
    gen_tokenizer, all fp32."""
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from transformers import T5TokenizerFast, UMT5EncoderModel

    root = common.TINY_MODEL
    transformer = WanTransformer3DModel.from_pretrained(os.path.join(root, "transformer"),
                                                        torch_dtype=torch.float32)
    vae = AutoencoderKLWan.from_pretrained(os.path.join(root, "vae"), torch_dtype=torch.float32)
    text_encoder = UMT5EncoderModel.from_pretrained(os.path.join(root, "text_encoder"))
    tokenizer = T5TokenizerFast.from_pretrained(os.path.join(root, "tokenizer"))
    for model in (transformer, vae, text_encoder):
        assert all(t.dtype == torch.float32 for t in model.state_dict().values()), type(model)
        model.eval()
    return transformer, vae, text_encoder, tokenizer


# ---------------------------------------------------------------------------


def build_inputs(vae, text_encoder, tokenizer):
    """Frames and words -> everything the edit consumes."""
    p = PARAMS
    frames, pixel_masks = synthetic_clip()
    X_src = encode_video(vae, frames_to_video(frames))
    _, C, F_lat, H_lat, W_lat = X_src.shape
    assert (C, F_lat, H_lat, W_lat) == (16, 3, 8, 12), X_src.shape
    tmask = fa.token_mask(torch.from_numpy(pixel_masks), F_lat, H_lat, W_lat, p["mask_dilation"])
    assert 0 < int(tmask.sum()) < tmask.numel(), "the token mask must have both kinds of tokens"

    contexts, ids, n_real = {}, {}, {}
    for key, prompt in (("src", SRC_PROMPT), ("tar", TAR_PROMPT), ("neg", NEG_PROMPT)):
        contexts[key], ids[key], n_real[key] = fa.encode_prompt(tokenizer, text_encoder, prompt,
                                                                common.TEXT_LEN)
    J, changed = fa.target_tokens(SRC_PROMPT, TAR_PROMPT, tokenizer, common.TEXT_LEN)
    assert J.numel() > 0 and int(J.max()) < n_real["tar"] - 1, J  # never the EOS
    return dict(frames=frames, pixel_masks=pixel_masks, X_src=X_src, token_mask=tmask,
                contexts=contexts, ids=ids, n_real=n_real, J=J, changed=changed)


def run_variant(transformer, inp, sar_state, use_sar, use_amm, noise=None, record=None, dtype=None):
    """One FlowEdit run with the PARAMS. @dtype: run the latent arithmetic
    and contexts in this dtype (the --measure float64 run); default fp32."""
    p = PARAMS
    cast = (lambda t: t.to(dtype)) if dtype is not None else (lambda t: t)
    if noise is not None:
        noise = {k: cast(v) for k, v in noise.items()}
    return fa.flowedit(
        transformer, cast(inp["X_src"]), cast(inp["contexts"]["src"]), cast(inp["contexts"]["tar"]),
        cast(inp["contexts"]["neg"]), T=p["T"], n_max=p["n_max"], n_min=p["n_min"], n_avg=p["n_avg"],
        shift=p["shift"], s_src=p["s_src"], s_tar=p["s_tar"], seed=SEED, sar_state=sar_state,
        use_sar=use_sar, tau=p["tau"], use_amm=use_amm, gamma=p["gamma"], F0=p["F0"], noise=noise,
        record=record)


def main():
    common.seed_everything(SEED)
    transformer, vae, text_encoder, tokenizer = load_models()
    p = PARAMS
    inp = build_inputs(vae, text_encoder, tokenizer)
    X_src, tmask, J, n_real = inp["X_src"], inp["token_mask"], inp["J"], inp["n_real"]

    # SAR on every cross-attention; check the processor against the stock one.
    sar_state = fa.SARState(tmask, J, n_real["tar"], p["beta1"], p["beta2"])
    fa.install_sar(transformer, sar_state)
    sig = fa.sigmas(p["T"], p["shift"])
    probe = torch.randn(X_src.shape, generator=torch.Generator().manual_seed(SEED - 1))
    check = fa.check_processor_equivalence(transformer, sar_state, probe, (1000.0 * sig[1]).reshape(1),
                                           inp["contexts"]["tar"])
    assert check["dit_inactive_vs_stock"] == 0.0, check
    # The explicit path is as exact as the stock one: both are fp32 roundings
    # of the same float64 value.
    assert check["layer_explicit_vs_fp64"] <= 2.0 * check["layer_stock_vs_fp64"] + 1e-7, check
    assert check["dit_explicit_vs_stock"] < 1e-5 * max(1.0, check["dit_output_max"]), check

    # The four variants, same noise.
    results, noise = {}, None
    for name, use_sar, use_amm in VARIANTS:
        record = {}
        final, used = run_variant(transformer, inp, sar_state, use_sar, use_amm, record=record)
        if noise is None:
            noise = used
        assert noise.keys() == used.keys() and all(torch.equal(noise[k], used[k]) for k in noise)
        record["final"] = final.clone()
        results[name] = record
        # Replaying the stored noise gives the same bits.
        replay, _ = run_variant(transformer, inp, sar_state, use_sar, use_amm, noise=noise)
        assert torch.equal(replay, final), name

    # Every variant must differ from every other one, meaningfully.
    scale = max(float(r["final"].abs().max()) for r in results.values())
    differences = {}
    for a in range(len(VARIANTS)):
        for b in range(a + 1, len(VARIANTS)):
            na, nb = VARIANTS[a][0], VARIANTS[b][0]
            d = float((results[na]["final"] - results[nb]["final"]).abs().max())
            differences[f"{na}-{nb}"] = d
            assert d > MIN_RELATIVE_DIFFERENCE * scale, (na, nb, d, scale)
    for name, record in results.items():
        assert torch.isfinite(record["final"]).all(), name
    sar_steps = [i for i in sorted(noise) if int(results["sar"].get("step%02d.sar" % i, torch.zeros(1))[0])]
    assert 0 < len(sar_steps) < sum(1 for i in noise if p["T"] - i > p["n_min"]), \
        "tau should leave SAR on for some FlowEdit steps and off for others"

    # ------------------------------------------------------------------ write
    T = p["T"]
    metadata = dict(
        params=p,
        noise="noise.stepNN [draws, 16, F, H, W]: torch.Generator().manual_seed(%d + NN), draws of "
              "[1, 16, F, H, W] one after the other; n_avg draws on FlowEdit steps, 1 on the first "
              "plain step" % SEED,
        src_prompt=SRC_PROMPT, tar_prompt=TAR_PROMPT, neg_prompt=NEG_PROMPT,
        src_prompt_clean=fa.clean_prompt(SRC_PROMPT), tar_prompt_clean=fa.clean_prompt(TAR_PROMPT),
        changed_target_words=inp["changed"], n_real=n_real,
        target_pieces=tokenizer.convert_ids_to_tokens(inp["ids"]["tar"][J].tolist()),
        steps=sorted(noise),
        flowedit_steps=[i for i in range(T) if n_min_phase(i) == "flowedit"],
        plain_steps=[i for i in range(T) if n_min_phase(i) == "plain"],
        sar_steps=sar_steps, variants=[v[0] for v in VARIANTS],
        pairwise_max_abs_difference=differences, processor_check=check,
        clip=dict(frames=FRAMES, height=HEIGHT, width=WIDTH, to_float="(u8 / 255) * 2 - 1, float32"),
    )
    inputs = {
        "clip.frames": torch.from_numpy(inp["frames"]),
        "clip.masks": torch.from_numpy(inp["pixel_masks"]),
        "token_mask": tmask.to(torch.uint8),
        "x_src": X_src,
        "J": J,
        "n_real": torch.tensor([n_real["src"], n_real["tar"], n_real["neg"]], dtype=torch.int64),
        "sigmas": sig,
        "timesteps": 1000.0 * sig[:-1],
    }
    for key, prompt in (("src", SRC_PROMPT), ("tar", TAR_PROMPT), ("neg", NEG_PROMPT)):
        inputs["prompt." + key] = utf8(prompt)
        inputs["ids." + key] = inp["ids"][key].to(torch.int64)
        inputs["context." + key] = inp["contexts"][key]
    for i, draws in noise.items():
        # the batch axis (1) is dropped: the engine's tensors have at most 5 axes
        assert draws.shape[1] == 1
        inputs["noise.step%02d" % i] = draws[:, 0]
    inputs.update(sar_unit_case(N=tmask.numel(), L=16, n_real=10))
    common.save_golden(os.path.join(common.GOLDENS, "edit-inputs.safetensors"), inputs, __file__, SEED,
                       **metadata)
    for name, use_sar, use_amm in VARIANTS:
        common.save_golden(os.path.join(common.GOLDENS, f"edit-{name}.safetensors"), results[name],
                           __file__, SEED, variant=name, sar=use_sar, amm=use_amm, params=p,
                           inputs="edit-inputs.safetensors")

    print("edit: J =", J.tolist(), metadata["target_pieces"], "token mask", int(tmask.sum()), "/",
          tmask.numel(), "sar steps", sar_steps)
    print("edit: processor check", json.dumps(check, sort_keys=True))
    print("edit: |final| max %.4g, pairwise max abs differences %s"
          % (scale, json.dumps(differences, sort_keys=True)))


def n_min_phase(i):
    """What step i of the schedule does: skipped, flowedit or plain."""
    p = PARAMS
    if p["T"] - i > p["n_max"]:
        return "skipped"
    return "flowedit" if p["T"] - i > p["n_min"] else "plain"


# ---------------------------------------------------------------------------
# --measure: how sensitive the result is (for the engine's tolerances)


class CastDiT:
    """The DiT run in another dtype: inputs cast to it, velocity cast back to
    the caller's dtype. Looks like the transformer to fa.velocity."""

    def __init__(self, transformer, dtype):
        self.transformer = transformer
        self.dtype = dtype

    def __call__(self, z, timestep, encoder_hidden_states):
        out = self.transformer(z.to(self.dtype), timestep=timestep,
                               encoder_hidden_states=encoder_hidden_states.to(self.dtype)).sample
        return types.SimpleNamespace(sample=out.to(z.dtype))


def bf16_like_diffusers(transformer):
    """A bf16 copy kept the way diffusers loads with torch_dtype=bfloat16:
    the _keep_in_fp32_modules (rope, time_embedder, scale_shift_table,
    norm1/2/3) stay fp32."""
    model = copy.deepcopy(transformer).to(torch.bfloat16)
    keep = set(type(model)._keep_in_fp32_modules or [])
    for name, module in model.named_modules():
        if keep & set(name.split(".")):
            module.to(torch.float32)
    for name, param in model.named_parameters():
        if keep & set(name.split(".")):
            param.data = param.data.to(torch.float32)
    return model


def measure():
    """Prints how far other precisions land from the fp32 goldens, per
    variant, relative to max |fp32 value|:
      whole edit (final latent): the DiT in float64 (latent math float64),
        the DiT in bf16 like diffusers (latent math fp32), the DiT weights
        rounded to bf16 (compute fp32), X_src perturbed by 1e-6 relative;
      one step (teacher-forced): dV of each FlowEdit step recomputed from
        the fp32 Z_edit of the step before, DiT in bf16 / float64."""
    common.seed_everything(SEED)
    transformer, vae, text_encoder, tokenizer = load_models()
    p = PARAMS
    inp = build_inputs(vae, text_encoder, tokenizer)
    sar_state = fa.SARState(inp["token_mask"], inp["J"], inp["n_real"]["tar"], p["beta1"], p["beta2"])

    # Copies first, then SAR on each with the one shared state.
    f64 = copy.deepcopy(transformer).double()
    bf16_model = bf16_like_diffusers(transformer)
    rounded = copy.deepcopy(transformer)
    with torch.no_grad():
        for param in rounded.parameters():
            param.copy_(param.to(torch.bfloat16).to(torch.float32))
    for model in (transformer, f64, bf16_model, rounded):
        fa.install_sar(model, sar_state)
    bf16 = CastDiT(bf16_model, torch.bfloat16)
    g = torch.Generator().manual_seed(SEED + 100)
    perturbed = dict(inp, X_src=inp["X_src"] * (1.0 + 1e-6 * torch.randn(inp["X_src"].shape, generator=g)))
    sig = fa.sigmas(p["T"], p["shift"])
    ctx = inp["contexts"]

    def rel(a, b, scale):
        return float((a.double() - b.double()).abs().max()) / scale

    for name, use_sar, use_amm in VARIANTS:
        record = {}
        final, noise = run_variant(transformer, inp, sar_state, use_sar, use_amm, record=record)
        scale = float(final.abs().max())
        rows = {
            "float64": run_variant(f64, inp, sar_state, use_sar, use_amm, noise, dtype=torch.float64)[0],
            "bf16 DiT": run_variant(bf16, inp, sar_state, use_sar, use_amm, noise)[0],
            "bf16 weights": run_variant(rounded, inp, sar_state, use_sar, use_amm, noise)[0],
            "X_src 1e-6": run_variant(transformer, perturbed, sar_state, use_sar, use_amm, noise)[0],
        }
        print("%-8s final, max|final| %.4g: %s" % (name, scale, ", ".join(
            "%s %.2g" % (k, rel(v, final, scale)) for k, v in rows.items())))
        steps = []
        z_prev = inp["X_src"]
        for i in sorted(noise):
            if n_min_phase(i) != "flowedit":
                continue
            t = sig[i]
            sar_on = bool(use_sar and float(t) >= p["tau"])
            want = record["step%02d.dv" % i]
            dv_scale = float(want.abs().max())
            got_bf16 = fa.editing_direction(bf16, inp["X_src"], z_prev, t, noise[i], ctx["src"], ctx["tar"],
                                            ctx["neg"], p["s_src"], p["s_tar"], sar_state, sar_on)
            got_f64 = fa.editing_direction(f64, inp["X_src"].double(), z_prev.double(), t, noise[i].double(),
                                           ctx["src"].double(), ctx["tar"].double(), ctx["neg"].double(),
                                           p["s_src"], p["s_tar"], sar_state, sar_on)
            steps.append("step%02d%s bf16 %.2g f64 %.2g" % (i, "+SAR" if sar_on else "",
                                                           rel(got_bf16, want, dv_scale),
                                                           rel(got_f64, want, dv_scale)))
            z_prev = record["step%02d.z" % i]
        print("         one-step dV (max|dV| rel): " + "; ".join(steps))


if __name__ == "__main__":
    if sys.argv[1:] == ["--measure"]:
        measure()
    else:
        main()
