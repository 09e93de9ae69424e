"""tests/data/README.md: the prose each generator documents in
tools/reference/docs/, then a table of every tensor of every safetensors
file under tests/data, read back from the files. tests/engine/test-data.c
checks each row against the file with the engine's reader, so the data
never rots unseen."""
import glob
import json
import os
import struct

import common

DOC_ORDER = ["overview", "dit", "schedules", "tokenizer", "umt5", "vae", "pipeline", "edit"]

DTYPE_NAMES = {
    "F32": "f32", "F16": "f16", "BF16": "bf16", "F8_E4M3": "f8_e4m3", "F8_E5M2": "f8_e5m2",
    "F64": "f64", "I64": "i64", "I32": "i32", "I16": "i16", "I8": "i8", "U8": "u8", "BOOL": "bool",
}


def header(path):
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(length))


def tensor_rows():
    rows = []
    files = sorted(glob.glob(os.path.join(common.DATA, "**", "*.safetensors"), recursive=True))
    for path in files:
        relative = os.path.relpath(path, common.DATA)
        entries = header(path)
        for name in sorted(k for k in entries if k != "__metadata__"):
            entry = entries[name]
            shape = "[" + ", ".join(str(d) for d in entry["shape"]) + "]"
            rows.append(f"| {relative} | {name} | {DTYPE_NAMES[entry['dtype']]} | {shape} |")
    return files, rows


def main():
    docs_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "docs")
    parts = []
    for name in DOC_ORDER:
        path = os.path.join(docs_dir, name + ".md")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                parts.append(f.read().strip())
    files, rows = tensor_rows()
    total = sum(os.path.getsize(p) for p in glob.glob(os.path.join(common.DATA, "**"), recursive=True)
                if os.path.isfile(p))

    with open(os.path.join(common.DATA, "README.md"), "w", encoding="utf-8") as f:
        f.write("\n\n".join(parts))
        f.write("\n\n## Every tensor\n\n")
        f.write(f"{len(files)} safetensors files, {len(rows)} tensors, {total / 2**20:.1f} MiB in "
                "tests/data. Written by `make goldens` from the files themselves; "
                "the test `test-data` (`tests/engine/test-data.c`) opens each file with the engine's reader and checks every "
                "row (dtype and shape), that no file is missing from the table, and that each "
                "golden records its script, seed and library versions.\n\n")
        f.write("| file | tensor | dtype | shape |\n|---|---|---|---|\n")
        f.write("\n".join(rows))
        f.write("\n")


if __name__ == "__main__":
    main()
