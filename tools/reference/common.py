"""Shared by every golden generator: determinism, the tiny model configs,
and how goldens are written.

Every golden is a safetensors file whose metadata records the script that
wrote it, the seed and the versions of the libraries that computed it.
Run through `make goldens` (tools/reference/make_goldens.py), never by tests.
"""
import glob
import json
import os
import random
import struct

import numpy as np
import torch
from safetensors.torch import save_file

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DATA = os.path.join(REPO, "tests", "data")

# The tiny diffusers pipeline folder, laid out like Wan-AI/Wan2.1-T2V-1.3B-Diffusers.
TINY_MODEL = os.path.join(DATA, "wan-tiny")
# The same weights under the original Wan / ComfyUI names, one file each.
ORIGINAL = os.path.join(DATA, "original")
GOLDENS = os.path.join(DATA, "goldens")

# Tiny DiT: the real architecture with small widths. Head dim 32 makes the
# RoPE split uneven across (frames, height, width) = (12, 10, 10), as the
# real head dim 128 splits into (44, 42, 42).
TINY_DIT_CONFIG = dict(
    patch_size=(1, 2, 2),
    num_attention_heads=2,
    attention_head_dim=32,
    in_channels=16,
    out_channels=16,
    text_dim=32,
    freq_dim=256,
    ffn_dim=64,
    num_layers=2,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    eps=1e-6,
    image_dim=None,
    added_kv_proj_dim=None,
    rope_max_seq_len=1024,
)

# Tiny umT5 encoder: the real bucket settings (32 buckets, max distance 128),
# per-layer relative attention bias as in umT5, gated-GELU FFN.
TINY_UMT5_CONFIG = dict(
    d_model=32,
    d_kv=8,
    d_ff=64,
    num_layers=2,
    num_heads=4,
    relative_attention_num_buckets=32,
    relative_attention_max_distance=128,
    dropout_rate=0.0,
    layer_norm_epsilon=1e-6,
    feed_forward_proj="gated-gelu",
    is_encoder_decoder=True,
    use_cache=False,
    pad_token_id=0,
    eos_token_id=1,
    decoder_start_token_id=0,
)

# The text length Wan pads every prompt to.
TEXT_LEN = 512


def seed_everything(seed):
    """Same seed, same bits: one thread, deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def library_versions():
    import diffusers
    import safetensors
    import sentencepiece
    import tokenizers
    import transformers

    # The Python version is left out on purpose: it does not change a bit of
    # the results, and recording it made goldens differ between machines.
    return {
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "sentencepiece": sentencepiece.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
    }


def save_golden(path, tensors, script, seed, **extra):
    """Writes @tensors (name -> torch.Tensor) as safetensors with metadata:
    script (path relative to the repo), seed, library versions, and any
    @extra values (JSON-encoded unless already strings)."""
    metadata = {"script": os.path.relpath(os.path.abspath(script), REPO), "seed": str(seed)}
    metadata.update(library_versions())
    for key, value in extra.items():
        metadata[key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_file({name: t.detach().contiguous().cpu() for name, t in sorted(tensors.items())}, path,
              metadata=metadata)
    canonicalize_safetensors(path)


def canonicalize_safetensors(path):
    """Rewrites a safetensors header as compact JSON with sorted keys.

    The safetensors library keeps metadata in a hash map whose order changes
    from one process to the next, so the same tensors gave different bytes.
    Data offsets are relative to the end of the header, so the data section
    is copied unchanged."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    if "__metadata__" in header:
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # keep the data section 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        f.write(data)


def canonicalize_all():
    for path in sorted(glob.glob(os.path.join(DATA, "**", "*.safetensors"), recursive=True)):
        canonicalize_safetensors(path)


def prompt_clean(text):
    """diffusers' WanPipeline prompt cleaning (pipeline_wan.prompt_clean), as
    the pinned diffusers runs it. ftfy is not in the pinned environment, so
    diffusers skips ftfy.fix_text; refuse to run if that ever changes, since
    the goldens would silently change meaning."""
    from diffusers.pipelines.wan import pipeline_wan
    from diffusers.utils import is_ftfy_available

    if is_ftfy_available():
        raise RuntimeError("ftfy is installed: the goldens assume diffusers' prompt_clean without ftfy.fix_text")
    return pipeline_wan.prompt_clean(text)


def write_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")


# Tiny VAE: the real Wan2.1 VAE (spec C) with base_dim 8 instead of 96, so
# channels 8/16/32/32 instead of 96/192/384/384. Everything else is real:
# z_dim 16, dim_mult [1, 2, 4, 4], num_res_blocks 2 (the original-name layout
# and diffusers' single-file conversion assume it), the temporal downsample
# pattern [False, True, True] and the real latents mean/std.
TINY_VAE_CONFIG = dict(
    base_dim=8,
    z_dim=16,
    dim_mult=[1, 2, 4, 4],
    num_res_blocks=2,
    attn_scales=[],
    temperal_downsample=[False, True, True],
    dropout=0.0,
    latents_mean=[
        -0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
        0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921,
    ],
    latents_std=[
        2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
        3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160,
    ],
)
