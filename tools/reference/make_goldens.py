"""Regenerates tests/data/: every generator in order, each seeded, so two
runs give identical files. Run through `make goldens`."""
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

# Order matters: the edit golden uses the tiny DiT, VAE, tokenizer and encoder.
GENERATORS = [
    "gen_dit",
    "gen_tokenizer",
    "gen_umt5",
    "gen_vae",
    "gen_schedules",
    "gen_pipeline",
    "gen_edit",
    "gen_readme",  # last: it documents what the others wrote
]


def main():
    only = sys.argv[1:]
    for name in GENERATORS:
        if only and name not in only:
            continue
        print(f"== {name}", flush=True)
        if name == "gen_readme":
            # every file written by any library gets a byte-stable header
            # before the README records it
            common.canonicalize_all()
        importlib.import_module(name).main()


if __name__ == "__main__":
    main()
