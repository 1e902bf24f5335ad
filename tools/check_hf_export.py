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

When the folder has a tokenizer.json (io::export_hf with .tokenizer), the
check file's metadata also holds held-out lines and our token ids of them
(`text_<i>`, `ids_<i>`, space-separated): transformers.AutoTokenizer on the
folder must give the same ids for every line; prints how many agree.
"""
import os
import sys

import torch
import transformers
from safetensors import safe_open
from safetensors.torch import load_file


def check_tokenizer(folder, check):
    """Our ids of the check file's held-out lines against AutoTokenizer's."""
    if not os.path.exists(os.path.join(folder, "tokenizer.json")):
        print("tokenizer: no tokenizer.json in the folder (exported without .tokenizer); not checked")
        return True
    with safe_open(check, framework="pt") as f:
        meta = f.metadata() or {}
    keys = sorted((k for k in meta if k.startswith("text_")), key=lambda k: int(k[5:]))
    if not keys:
        print("tokenizer: the check file holds no text_<i> lines; not checked")
        return True
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    same = 0
    for k in keys:
        ours = [int(x) for x in meta["ids_" + k[5:]].split()]
        theirs = tok(meta[k])["input_ids"]
        if ours == theirs:
            same += 1
        else:
            print(f"tokenizer: line {k[5:]} differs: {meta[k]!r}\n  ours   {ours}\n  theirs {theirs}")
    ok = same == len(keys)
    print(f"tokenizer: {same}/{len(keys)} held-out lines give the same ids in "
          f"{type(tok).__name__} {'ok' if ok else 'MISMATCH'}")
    return ok


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
    tokenizer_ok = check_tokenizer(folder, check)
    sys.exit(0 if ok and tokenizer_ok else 1)


if __name__ == "__main__":
    main()
