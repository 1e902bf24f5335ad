#!/usr/bin/env python3
"""Converts a Hugging Face model folder whose weights are PyTorch-pickled
(pytorch_model.bin) into model.safetensors, once, so that autodidact (which
never unpickles anything) can load it:

    ~/.cache/autodidact/venv/bin/python tools/convert_to_safetensors.py <model dir> [--out <dir>]

Writes <out>/model.safetensors (default: the model folder itself) and copies
nothing else. Tensors are made contiguous; tied (shared) tensors are written
once per name as separate copies. Run it on a cached download, never on
files you commit. torch.load uses weights_only=True where torch supports it.
"""

import argparse
import os
import sys

import torch
from safetensors.torch import save_file


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--out")
    args = ap.parse_args()
    src = os.path.join(args.model_dir, "pytorch_model.bin")
    if not os.path.exists(src):
        sys.exit(f"convert_to_safetensors.py: {src} does not exist")
    try:
        state = torch.load(src, map_location="cpu", weights_only=True)
    except TypeError:  # torch < 1.13 has no weights_only
        state = torch.load(src, map_location="cpu")
    tensors = {k: v.detach().clone().contiguous() for k, v in state.items() if isinstance(v, torch.Tensor)}
    out_dir = args.out or args.model_dir
    os.makedirs(out_dir, exist_ok=True)
    dst = os.path.join(out_dir, "model.safetensors")
    save_file(tensors, dst + ".tmp", metadata={"format": "pt"})
    os.replace(dst + ".tmp", dst)
    print(f"convert_to_safetensors.py: {len(tensors)} tensors -> {dst}")


if __name__ == "__main__":
    main()
