#!/usr/bin/env python3
"""Checks that a Hugging Face folder written by io::export_hf (the
pretraining demo's <run>/hf) loads in transformers and reproduces our
held-out MLM loss on the same corrupted batch.

    ~/.cache/autodidact/venv/bin/python tools/check_hf_export.py <run>/hf <run>/hf_check.safetensors

The check file (written by examples/04_pretraining next to the export)
holds `input_ids`, `token_type_ids`, `attention_mask`, `labels` (I64, the
corrupted batch: -100 where nothing is scored) and `loss` (F64, our mean
cross-entropy over the labelled positions, computed in float). Passes when
|ours - theirs| <= 1e-4 * max(1, |ours|) (float rounding over a few
thousand positions); prints both.
"""
import sys

import torch
import transformers
from safetensors.torch import load_file


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    folder, check = sys.argv[1], sys.argv[2]
    model = transformers.AutoModelForMaskedLM.from_pretrained(folder).eval()
    data = load_file(check)
    with torch.no_grad():
        out = model(input_ids=data["input_ids"], token_type_ids=data["token_type_ids"],
                    attention_mask=data["attention_mask"], labels=data["labels"])
    ours, theirs = float(data["loss"]), float(out.loss)
    ok = abs(ours - theirs) <= 1e-4 * max(1.0, abs(ours))
    print(f"hf_export: ours={ours:.6f} transformers={theirs:.6f} class={type(model).__name__} "
          f"{'ok' if ok else 'MISMATCH'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
