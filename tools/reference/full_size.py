"""Random-weight models of the real Wan2.1-T2V-1.3B shapes, for loader checks
and benchmarks. Not a golden generator: make_goldens does not run it and its
output is never committed (several GB).

    .venv-reference/bin/python tools/reference/full_size.py OUT_DIR \
        [--dtype bf16|fp32] [--vae-dtype fp32|bf16] [--t5-layers 2] \
        [--parts transformer,vae,text_encoder] [--copy-extras] [--seed 0]

Writes, in the diffusers layout of Wan-AI/Wan2.1-T2V-1.3B-Diffusers:
  OUT_DIR/transformer/   WanTransformer3DModel, spec A.1 config (30 layers, 1536
                         wide), sharded in 2 like the real folder
  OUT_DIR/vae/           AutoencoderKLWan, spec C.1 config, one file (fp32 by
                         default, as in the real repo)
  OUT_DIR/text_encoder/  UMT5EncoderModel at the real width (vocab 256384,
                         d_model 4096, 64 heads, d_ff 10240) with --t5-layers
                         layers instead of 24, sharded
and prints every path it wrote. --copy-extras also copies tokenizer/,
scheduler/ and model_index.json from tests/data/wan-tiny when present.

Weights are drawn from a generator seeded with --seed (normal, std
1/sqrt(fan_in) for matrices, gains around 1, small biases): values are
plausible in scale but meaningless. Models are built on the meta device and
only then given memory, so no time goes into default initialisation.
"""
import argparse
import json
import os
import shutil
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

# Spec A.1 (Wan-T2V-1.3B).
DIT_CONFIG = dict(
    patch_size=(1, 2, 2),
    num_attention_heads=12,
    attention_head_dim=128,
    in_channels=16,
    out_channels=16,
    text_dim=4096,
    freq_dim=256,
    ffn_dim=8960,
    num_layers=30,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    eps=1e-6,
    image_dim=None,
    added_kv_proj_dim=None,
    rope_max_seq_len=1024,
)

# Spec C.1 (latents_mean / latents_std are the class defaults, = spec C.1 table).
VAE_CONFIG = dict(
    base_dim=96,
    z_dim=16,
    dim_mult=[1, 2, 4, 4],
    num_res_blocks=2,
    attn_scales=[],
    temperal_downsample=[False, True, True],
    dropout=0.0,
)

# Spec B.1 (google/umt5-xxl encoder); num_layers is set from --t5-layers.
UMT5_CONFIG = dict(
    vocab_size=256384,
    d_model=4096,
    d_kv=64,
    d_ff=10240,
    num_layers=24,
    num_heads=64,
    relative_attention_num_buckets=32,
    relative_attention_max_distance=128,
    dropout_rate=0.1,
    layer_norm_epsilon=1e-6,
    feed_forward_proj="gated-gelu",
    is_encoder_decoder=True,
    use_cache=True,
    pad_token_id=0,
    eos_token_id=1,
    decoder_start_token_id=0,
)

DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}
# Shard limit per dtype: 5 GB is what the real fp32 folders use; half of it in
# bf16 keeps the same number of shards for the DiT (2) as the real repo.
SHARD = {torch.float32: "5GB", torch.bfloat16: "2500MB"}


def materialize(model, dtype, seed):
    """Meta-device @model -> CPU tensors of @dtype filled from a seeded generator."""
    torch.nn.Module.to(model, dtype)  # plain cast (diffusers' .to warns about fp32 modules)
    model.to_empty(device="cpu")
    gen = torch.Generator().manual_seed(seed)
    names = set(model.state_dict())
    params = dict(model.named_parameters())  # tied parameters appear once
    extra = names - set(params) - {k for k in names if k.endswith("embed_tokens.weight")}
    assert not extra, "persistent buffers would be left uninitialised: %s" % sorted(extra)
    with torch.no_grad():
        for name in sorted(params):
            p = params[name]
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "gamma" or (p.ndim == 1 and "norm" in name and leaf == "weight"):
                mean, std = 1.0, 0.1
            elif "scale_shift_table" in name:
                mean, std = 0.0, 0.1
            elif "relative_attention_bias" in name:
                mean, std = 0.0, 0.5
            elif name.endswith("shared.weight"):
                mean, std = 0.0, 1.0
            elif p.ndim >= 2:
                mean, std = 0.0, p[0].numel() ** -0.5
            else:
                mean, std = 0.0, 0.02
            p.normal_(mean, std, generator=gen)
    # Non-persistent buffers (the DiT's RoPE tables) are left undefined by
    # to_empty; they are not saved, and the model is only saved here.
    return model


def _listing(folder):
    out = []
    for root, _dirs, files in os.walk(folder):
        for f in sorted(files):
            path = os.path.join(root, f)
            out.append((path, os.path.getsize(path)))
    return sorted(out)


def write_transformer(out_dir, dtype, seed):
    from diffusers import WanTransformer3DModel

    with torch.device("meta"):
        model = WanTransformer3DModel(**DIT_CONFIG)
    materialize(model, dtype, seed)
    folder = os.path.join(out_dir, "transformer")
    model.save_pretrained(folder, safe_serialization=True, max_shard_size=SHARD[dtype])
    return folder


def write_vae(out_dir, dtype, seed):
    from diffusers import AutoencoderKLWan

    with torch.device("meta"):
        model = AutoencoderKLWan(**VAE_CONFIG)
    materialize(model, dtype, seed)
    folder = os.path.join(out_dir, "vae")
    model.save_pretrained(folder, safe_serialization=True, max_shard_size="10GB")
    return folder


def write_text_encoder(out_dir, dtype, seed, layers):
    from transformers import UMT5Config, UMT5EncoderModel

    config = UMT5Config(**dict(UMT5_CONFIG, num_layers=layers))
    with torch.device("meta"):
        model = UMT5EncoderModel(config)
    materialize(model, dtype, seed)
    model.tie_weights()
    assert model.encoder.embed_tokens.weight.data_ptr() == model.shared.weight.data_ptr()
    folder = os.path.join(out_dir, "text_encoder")
    model.save_pretrained(folder, safe_serialization=True, max_shard_size=SHARD[dtype])
    return folder


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="bf16", help="DiT and text encoder")
    ap.add_argument("--vae-dtype", choices=sorted(DTYPES), default="fp32")
    ap.add_argument("--t5-layers", type=int, default=2)
    ap.add_argument("--parts", default="transformer,vae,text_encoder")
    ap.add_argument("--copy-extras", action="store_true",
                    help="copy tokenizer/, scheduler/, model_index.json from tests/data/wan-tiny")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    torch.manual_seed(args.seed)
    parts = [p for p in args.parts.split(",") if p]
    unknown = set(parts) - {"transformer", "vae", "text_encoder"}
    if unknown:
        ap.error("unknown parts: %s" % ", ".join(sorted(unknown)))
    os.makedirs(args.out_dir, exist_ok=True)
    dtype, vae_dtype = DTYPES[args.dtype], DTYPES[args.vae_dtype]

    folders = []
    for i, part in enumerate(parts):
        start = time.time()
        shutil.rmtree(os.path.join(args.out_dir, part), ignore_errors=True)
        seed = args.seed * 100 + i
        if part == "transformer":
            folder = write_transformer(args.out_dir, dtype, seed)
        elif part == "vae":
            folder = write_vae(args.out_dir, vae_dtype, seed)
        else:
            folder = write_text_encoder(args.out_dir, dtype, seed, args.t5_layers)
        folders.append(folder)
        print("%s: %.1f s" % (part, time.time() - start), file=sys.stderr, flush=True)

    if args.copy_extras:
        for name in ("tokenizer", "scheduler", "model_index.json"):
            src = os.path.join(common.TINY_MODEL, name)
            dst = os.path.join(args.out_dir, name)
            if os.path.isdir(src):
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(src, dst)
                folders.append(dst)
            elif os.path.isfile(src):
                shutil.copyfile(src, dst)
                folders.append(dst)

    for folder in folders:
        paths = _listing(folder) if os.path.isdir(folder) else [(folder, os.path.getsize(folder))]
        for path, size in paths:
            print("%s\t%d" % (os.path.abspath(path), size))
    info = {"dtype": args.dtype, "vae_dtype": args.vae_dtype, "t5_layers": args.t5_layers, "seed": args.seed}
    print(json.dumps(info, sort_keys=True), file=sys.stderr)


if __name__ == "__main__":
    main()
