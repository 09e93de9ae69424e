"""The tiny model folder as a whole: model_index.json and scheduler/, so
tests/data/wan-tiny has the layout of Wan-AI/Wan2.1-T2V-1.3B-Diffusers and
loads as one WanPipeline. Runs after the component generators."""
import os

from diffusers import UniPCMultistepScheduler, WanPipeline

import common


def main():
    # The shipped scheduler of the real repo (spec D.1): UniPC for flow
    # matching, flow_shift 3.0. The engine's own edits use Euler; this only
    # makes the folder complete.
    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction",
        use_flow_sigmas=True,
        flow_shift=3.0,
        num_train_timesteps=1000,
        solver_order=2,
        solver_type="bh2",
        predict_x0=True,
        lower_order_final=True,
        final_sigmas_type="zero",
    )
    scheduler.save_pretrained(os.path.join(common.TINY_MODEL, "scheduler"))

    import diffusers

    common.write_json(os.path.join(common.TINY_MODEL, "model_index.json"), {
        "_class_name": "WanPipeline",
        "_diffusers_version": diffusers.__version__,
        "scheduler": ["diffusers", "UniPCMultistepScheduler"],
        "text_encoder": ["transformers", "UMT5EncoderModel"],
        "tokenizer": ["transformers", "T5TokenizerFast"],
        "transformer": ["diffusers", "WanTransformer3DModel"],
        "vae": ["diffusers", "AutoencoderKLWan"],
    })

    # The folder must load the way a user's real download does.
    pipeline = WanPipeline.from_pretrained(common.TINY_MODEL)
    for component in ("tokenizer", "text_encoder", "transformer", "vae", "scheduler"):
        assert getattr(pipeline, component) is not None, component


if __name__ == "__main__":
    main()
