"""Tiny Wan2.1 VAE (AutoencoderKLWan with common.TINY_VAE_CONFIG) and its
goldens.

Writes
  wan-tiny/vae/{config.json, diffusion_pytorch_model.safetensors}   fp32, diffusers names
  original/wan-tiny-vae.safetensors   the same weights under the original
      Wan VAE names (spec C.5), stored fp16 like ComfyUI's 16-bit file. Every
      weight is chosen exactly representable in fp16 and bf16, so this file
      upcasts to the fp32 weights bit for bit.
  goldens/vae.safetensors   encode of a 9-frame and a 1-frame clip, decode of
      a 3-latent-frame latent, computed the way the diffusers pipelines do
      (chunked encode 1,4,4 frames; per-latent-frame decode with the feature
      cache; no tiling, no slicing), plus intermediate taps.

`python tools/reference/gen_vae.py --measure` (not part of `make goldens`)
prints how far bf16 and float64 runs of the same model are from the fp32
goldens; tools/reference/docs/vae.md quotes it for the tolerances.
"""
import copy
import os
import sys

import torch
from diffusers import AutoencoderKLWan
from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SEED = 2104
HEIGHT, WIDTH = 32, 48          # pixels; latent 4 x 6. Non-square, multiples of 16 (DiT patch).
FRAMES = 9                      # 4k+1 pixel frames -> 3 latent frames
DECODE_LATENT_FRAMES = 3        # -> 1 + 4*2 = 9 pixel frames

VAE_DIR = os.path.join(common.TINY_MODEL, "vae")
ORIGINAL_FILE = os.path.join(common.ORIGINAL, "wan-tiny-vae.safetensors")
GOLDEN_FILE = os.path.join(common.GOLDENS, "vae.safetensors")


# ---------------------------------------------------------------- weights

def _representable(t):
    """Rounds @t (fp32) to a value that bf16 and fp16 both hold exactly:
    bf16 rounding keeps 8 significant bits, which fp16 holds too unless the
    value is below fp16's subnormal grid; such tiny values become 0."""
    t = t.to(torch.bfloat16).to(torch.float32)
    t = torch.where(t.abs() < 2.0 ** -17, torch.zeros_like(t), t)
    assert torch.equal(t.to(torch.float16).to(torch.float32), t)
    assert torch.equal(t.to(torch.bfloat16).to(torch.float32), t)
    return t


# Output gains chosen so activations stay O(1) everywhere (checked in
# _check_activations): the encoder's mean comes out with roughly the spread
# of real Wan latents (so the normalised latent is O(1)), and the decoder
# output mostly inside [-1, 1] with a few values clamped.
GAINS = {
    "encoder.conv_out.weight": 2.0,
    "quant_conv.weight": 2.5,
    "decoder.conv_out.weight": 1.0,
}


def randomize(vae, generator):
    """Replaces every parameter, in name order, with seeded values:
    RMS-norm gammas 1 + 0.1 N(0,1); conv/linear weights N(0,1) * gain /
    sqrt(fan_in); biases 0.1 N(0,1)."""
    params = dict(vae.named_parameters())
    with torch.no_grad():
        for name in sorted(params):
            p = params[name]
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float32)
            if name.endswith(".gamma"):
                value = 1.0 + 0.1 * noise
            elif name.endswith(".weight"):
                fan_in = p[0].numel()
                value = noise * (GAINS.get(name, 1.0) / fan_in ** 0.5)
            elif name.endswith(".bias"):
                value = 0.1 * noise
            else:
                raise ValueError(f"unexpected parameter {name}")
            p.copy_(_representable(value))


# ---------------------------------------------------------------- original names (spec C.5)

_RESIDUAL = {"norm1.gamma": "residual.0.gamma", "conv1.weight": "residual.2.weight",
             "conv1.bias": "residual.2.bias", "norm2.gamma": "residual.3.gamma",
             "conv2.weight": "residual.6.weight", "conv2.bias": "residual.6.bias",
             "conv_shortcut.weight": "shortcut.weight", "conv_shortcut.bias": "shortcut.bias"}


def original_name(name, num_res_blocks):
    """The original Wan (and ComfyUI) name of diffusers VAE tensor @name."""
    fixed = {"quant_conv.weight": "conv1.weight", "quant_conv.bias": "conv1.bias",
             "post_quant_conv.weight": "conv2.weight", "post_quant_conv.bias": "conv2.bias"}
    if name in fixed:
        return fixed[name]
    part, rest = name.split(".", 1)          # encoder / decoder
    if rest.startswith("conv_in."):
        return f"{part}.conv1.{rest[len('conv_in.'):]}"
    if rest.startswith("norm_out."):
        return f"{part}.head.0.{rest[len('norm_out.'):]}"
    if rest.startswith("conv_out."):
        return f"{part}.head.2.{rest[len('conv_out.'):]}"
    if rest.startswith("mid_block."):
        kind, index, leaf = rest[len("mid_block."):].split(".", 2)
        if kind == "attentions":            # one attention, between the two resnets
            return f"{part}.middle.1.{leaf}"
        return f"{part}.middle.{2 * int(index)}.{_RESIDUAL[leaf]}"
    if rest.startswith("down_blocks."):      # flat list in both layouts
        index, leaf = rest[len("down_blocks."):].split(".", 1)
        if leaf.startswith(("resample.", "time_conv.")):
            return f"{part}.downsamples.{index}.{leaf}"
        return f"{part}.downsamples.{index}.{_RESIDUAL[leaf]}"
    if rest.startswith("up_blocks."):        # stage i: resnets 0..nrb, then the upsampler
        stage, kind, index, leaf = rest[len("up_blocks."):].split(".", 3)
        per_stage = num_res_blocks + 2
        if kind == "upsamplers":
            return f"{part}.upsamples.{int(stage) * per_stage + num_res_blocks + 1}.{leaf}"
        return f"{part}.upsamples.{int(stage) * per_stage + int(index)}.{_RESIDUAL[leaf]}"
    raise ValueError(f"no original name for {name}")


def to_original(state_dict, num_res_blocks):
    out = {original_name(k, num_res_blocks): v for k, v in state_dict.items()}
    assert len(out) == len(state_dict), "original names collide"
    return out


def verify_original(state_dict, original_path):
    """The original-name file must come back to exactly the diffusers tensors
    through diffusers' own conversion, and load with from_single_file."""
    loaded = load_file(original_path)
    assert "decoder.middle.0.residual.0.gamma" in loaded       # diffusers' detection key
    converted = convert_wan_vae_to_diffusers(loaded)
    assert sorted(converted) == sorted(state_dict), sorted(set(converted) ^ set(state_dict))
    for name, value in state_dict.items():
        assert torch.equal(converted[name].float(), value), name
    model = AutoencoderKLWan.from_single_file(original_path, config=common.TINY_MODEL, subfolder="vae",
                                              torch_dtype=torch.float32, local_files_only=True)
    reloaded = model.state_dict()
    for name, value in state_dict.items():
        assert reloaded[name].dtype == torch.float32 and torch.equal(reloaded[name], value), name
    return model


# ---------------------------------------------------------------- inputs

def synthetic_clip(generator, frames):
    """A smooth moving pattern in [-1, 1]: per channel a sum of 4 drifting
    plane waves (low spatial frequencies), squashed by tanh, plus faint noise."""
    t = torch.arange(frames, dtype=torch.float32).view(frames, 1, 1)
    y = torch.arange(HEIGHT, dtype=torch.float32).view(1, HEIGHT, 1) / HEIGHT
    x = torch.arange(WIDTH, dtype=torch.float32).view(1, 1, WIDTH) / WIDTH
    channels = []
    for _ in range(3):
        value = torch.zeros(frames, HEIGHT, WIDTH)
        for _ in range(4):
            fx, fy, ft, phase, amp = torch.rand(5, generator=generator).tolist()
            value += (0.3 + 0.5 * amp) * torch.sin(
                2 * torch.pi * ((3 * fx - 1.5) * x + (3 * fy - 1.5) * y + (0.2 * ft - 0.1) * t + phase))
        channels.append(value)
    video = torch.tanh(torch.stack(channels))
    video = video + 0.03 * torch.randn(video.shape, generator=generator)
    return video.clamp(-1.0, 1.0).unsqueeze(0)       # [1, 3, T, H, W]


# ---------------------------------------------------------------- running the VAE as the pipelines do

def latents_stats(vae, device, dtype):
    mean = torch.tensor(vae.config.latents_mean).view(1, vae.config.z_dim, 1, 1, 1).to(device, dtype)
    inv_std = 1.0 / torch.tensor(vae.config.latents_std).view(1, vae.config.z_dim, 1, 1, 1).to(device, dtype)
    return mean, inv_std


class Taps:
    """Forward hooks recording every call's output of the named submodules."""

    def __init__(self, vae, names):
        self.calls = {name: [] for name in names}
        modules = dict(vae.named_modules())
        self.handles = [modules[name].register_forward_hook(self._hook(name)) for name in names]

    def _hook(self, name):
        def hook(module, args, output):
            self.calls[name].append(output.detach().clone())
        return hook

    def remove(self):
        for handle in self.handles:
            handle.remove()


ENCODER_TAPS = ["encoder", "encoder.conv_in", "encoder.down_blocks.5", "encoder.mid_block"]
DECODER_TAPS = ["decoder", "post_quant_conv", "decoder.conv_in", "decoder.mid_block",
                "decoder.up_blocks.0", "decoder.up_blocks.1"]


def encode(vae, video, taps=False):
    """Like WanVideoToVideoPipeline.prepare_latents: the posterior mode (its
    mean), then (mu - mean) * (1 / std) per channel."""
    assert not vae.use_tiling and not vae.use_slicing
    recorder = Taps(vae, ENCODER_TAPS) if taps else None
    posterior = vae.encode(video).latent_dist
    if recorder:
        recorder.remove()
    mu = posterior.mode()
    mean, inv_std = latents_stats(vae, mu.device, mu.dtype)
    out = {"mean": mu, "logvar": posterior.logvar, "latent": (mu - mean) * inv_std}
    if recorder:
        c = recorder.calls
        assert len(c["encoder"]) == 1 + (video.shape[2] - 1) // 4      # chunks 1, 4, 4, ... frames
        out["tap.encoder_out"] = torch.cat(c["encoder"], 2)               # before quant_conv, all chunks
        out["tap.conv_in.chunk0"] = c["encoder.conv_in"][0]
        if len(c["encoder"]) > 1:
            out["tap.down_blocks.5.chunk1"] = c["encoder.down_blocks.5"][1]   # first temporal downsample
            out["tap.mid_block.chunk1"] = c["encoder.mid_block"][1]
    return out


def decode(vae, latent, taps=False):
    """Like WanPipeline.__call__ after the loop: latents / (1 / std) + mean,
    then vae.decode (per-latent-frame chunks with the cache, clamp to [-1, 1])."""
    assert not vae.use_tiling and not vae.use_slicing
    mean, inv_std = latents_stats(vae, latent.device, latent.dtype)
    z = latent / inv_std + mean
    recorder = Taps(vae, DECODER_TAPS) if taps else None
    video = vae.decode(z, return_dict=False)[0]
    if recorder:
        recorder.remove()
    out = {"vae_input": z, "video": video}
    if recorder:
        c = recorder.calls
        assert len(c["decoder"]) == latent.shape[2]                        # one chunk per latent frame
        out["video_unclamped"] = torch.cat(c["decoder"], 2)
        assert torch.equal(out["video_unclamped"].clamp(-1.0, 1.0), video)
        out["tap.post_quant_conv"] = c["post_quant_conv"][0]
        out["tap.conv_in.chunk0"] = c["decoder.conv_in"][0]
        out["tap.mid_block.chunk0"] = c["decoder.mid_block"][0]
        out["tap.up_blocks.0.chunk0"] = c["decoder.up_blocks.0"][0]       # upsample3d skipped: 1 frame
        out["tap.up_blocks.0.chunk1"] = c["decoder.up_blocks.0"][1]       # "Rep": 2 frames, zero history
        out["tap.up_blocks.1.chunk1"] = c["decoder.up_blocks.1"][1]       # 4 frames
    return out


def _check_activations(tensors):
    """Fails on degenerate weights: every tap must be finite, not ~0 and
    not exploding."""
    for name, t in sorted(tensors.items()):
        rms = t.float().pow(2).mean().sqrt().item()
        assert torch.isfinite(t).all(), name
        assert 0.05 < rms < 50.0, (name, rms)


# ---------------------------------------------------------------- main

def build():
    """The tiny VAE with its seeded weights, and the seeded inputs."""
    common.seed_everything(SEED)
    generator = torch.Generator().manual_seed(SEED)
    vae = AutoencoderKLWan(**common.TINY_VAE_CONFIG).eval()
    randomize(vae, generator)
    inputs = {
        "encode9.video": synthetic_clip(generator, FRAMES),
        "encode1.video": synthetic_clip(generator, 1),
        "decode.latent": torch.randn(
            (1, 16, DECODE_LATENT_FRAMES, HEIGHT // 8, WIDTH // 8), generator=generator),
    }
    return vae, inputs


def run(vae, inputs, taps=False):
    out = {}
    with torch.no_grad():
        for prefix in ("encode9", "encode1"):
            for key, value in encode(vae, inputs[prefix + ".video"], taps=taps).items():
                out[f"{prefix}.{key}"] = value
        for key, value in decode(vae, inputs["decode.latent"], taps=taps).items():
            out[f"decode.{key}"] = value
    return out


def main():
    vae, inputs = build()
    vae.save_pretrained(VAE_DIR, safe_serialization=True)
    state_dict = {k: v.detach().clone() for k, v in vae.state_dict().items()}
    assert len(state_dict) == 194 and all(v.dtype == torch.float32 for v in state_dict.values())

    original = {k: v.to(torch.float16) for k, v in to_original(state_dict, vae.config.num_res_blocks).items()}
    common.save_golden(ORIGINAL_FILE, original, __file__, SEED,
                       layout="original Wan VAE names (Wan2.1_VAE.pth / ComfyUI wan_2.1_vae.safetensors)",
                       dtype="float16; every value exact in fp16 and bf16, equal to the fp32 diffusers weights")
    reloaded = verify_original(state_dict, ORIGINAL_FILE)

    outputs = run(vae, inputs, taps=True)
    _check_activations({k: v for k, v in outputs.items() if "logvar" not in k})
    clamped = (outputs["decode.video_unclamped"].abs() > 1).float().mean().item()
    assert 0.0 < clamped < 0.1, clamped                       # the clamp matters, but rarely

    # Causal: the first latent frame of a clip depends on its first frame only.
    with torch.no_grad():
        first = encode(vae, inputs["encode9.video"][:, :, :1])["latent"]
    assert torch.allclose(first, outputs["encode9.latent"][:, :, :1], rtol=0, atol=1e-5)

    # The original-name file gives the same results bit for bit.
    again = run(reloaded.eval(), inputs)
    for key in again:
        assert torch.equal(again[key], outputs[key]), key

    mean, inv_std = latents_stats(vae, "cpu", torch.float32)
    tensors = dict(inputs)
    tensors.update({k: v for k, v in outputs.items() if k not in inputs})
    tensors["latents_mean"] = mean.flatten()
    tensors["latents_std"] = torch.tensor(vae.config.latents_std, dtype=torch.float32)
    for name, t in tensors.items():
        assert t.dtype == torch.float32, name
    common.save_golden(
        GOLDEN_FILE, tensors, __file__, SEED,
        model="wan-tiny/vae (original/wan-tiny-vae.safetensors holds the same weights)",
        vae_config=common.TINY_VAE_CONFIG,
        encode="vae.encode(video).latent_dist.mode() (= mean, no sampling); chunks of 1,4,4 frames "
               "with the feature cache; latent = (mean - latents_mean) * (1 / latents_std)",
        decode="vae_input = latent / (1 / latents_std) + latents_mean; vae.decode: post_quant_conv "
               "on all frames, then one latent frame per chunk with the feature cache; video = "
               "clamp(decoder output, -1, 1); video_unclamped is before the clamp",
        tiling="off (diffusers default; no slicing either)",
        dtype="float32 weights and activations, CPU, one thread, deterministic algorithms",
        clamped_fraction=round(clamped, 6),
    )


# ---------------------------------------------------------------- tolerance measurement

def max_rel(y, ref):
    return ((y.double() - ref.double()).abs().max() / ref.double().abs().max()).item()


def measure(device="cpu"):
    """The VAE (weights and activations) in float64, bf16 and fp16 against
    the fp32 goldens. The latent (de)normalisation stays in fp32, as an
    engine would do it; only the VAE's input and output change dtype. The
    weights are exact in every dtype, so all error comes from activations."""
    vae, inputs = build()
    torch.use_deterministic_algorithms(False)
    torch.set_num_threads(os.cpu_count())
    ref = run(vae, inputs)
    mean, inv_std = latents_stats(vae, "cpu", torch.float32)
    for dtype in (torch.float64, torch.bfloat16, torch.float16):
        model = copy.deepcopy(vae).to(device, dtype)
        got = {}
        with torch.no_grad():
            for prefix in ("encode9", "encode1"):
                mu = model.encode(inputs[prefix + ".video"].to(device, dtype)).latent_dist.mode()
                got[prefix + ".latent"] = (mu.cpu().float() - mean) * inv_std
            z = (inputs["decode.latent"] / inv_std + mean).to(device, dtype)
            got["decode.video"] = model.decode(z, return_dict=False)[0].cpu().float()
        for key in got:
            y, r = got[key].double(), ref[key].double()
            rms = ((y - r).pow(2).mean().sqrt() / r.pow(2).mean().sqrt()).item()
            print(f"{str(dtype):15s} {device} {key:14s} max-rel {max_rel(y, r):.2e}  rel-RMS {rms:.2e}")


if __name__ == "__main__":
    if "--measure" in sys.argv:
        measure("cuda" if "--cuda" in sys.argv else "cpu")
    else:
        main()
