#!/usr/bin/env python3
"""PyTorch peer for benchmarks/compare/generation.

Loads the Hugging Face folder that generation_compare exported (the same
random GPT-2 small both sides decode), runs batch-1 greedy
GPT2LMHeadModel.generate with its KV cache (use_cache=True, fp32, eager
attention) on the same 32-token prompt, and prints

  samples_ms=<decode ms per token per rep> first_ms=<median prefill + first token>
  peak_rss_mb=<v> impl=hf_gpt2_generate tokens=<generated ids>

Decode ms per token = (time of generate(max_new_tokens=N) − time of
generate(max_new_tokens=1)) / (N − 1): the prefill and the first token are
taken out, as on our side. Set OPENBLAS_NUM_THREADS / OMP_NUM_THREADS and
LD_LIBRARY_PATH (OpenBLAS variant) before starting it.

  generation.py DIR [--threads n] [--prompt 32] [--tokens 128] [--reps 3]
"""
import argparse
import resource
import statistics
import time

import torch
import transformers
# generate() asks whether the model is FSDP-managed by importing
# torch.distributed.fsdp, which fails on Debian's torch 1.13 under Python
# 3.11; the model here is not.
import transformers.generation.utils as generation_utils
generation_utils.is_fsdp_managed_module = lambda module: False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--prompt", type=int, default=32)
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--reps", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    model = transformers.GPT2LMHeadModel.from_pretrained(a.dir, torch_dtype=torch.float32,
                                                         attn_implementation="eager").eval()
    vocab = model.config.vocab_size
    ids = torch.tensor([[(i * 1237 + 11) % vocab for i in range(a.prompt)]], dtype=torch.int64)
    mask = torch.ones_like(ids)

    def run(n):
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n,
                                 do_sample=False, num_beams=1, use_cache=True, top_k=None, top_p=None,
                                 temperature=None, pad_token_id=0, eos_token_id=None)
        return (time.perf_counter() - t0) * 1000.0, out[0, a.prompt:].tolist()

    run(a.tokens)  # warm-up
    decode, first = [], []
    tokens = []
    for _ in range(a.reps):
        t1, _ = run(1)
        tn, tokens = run(a.tokens)
        first.append(t1)
        decode.append((tn - t1) / (a.tokens - 1))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("samples_ms=%s first_ms=%.3f peak_rss_mb=%.1f impl=hf_gpt2_generate torch=%s transformers=%s tokens=%s" % (
        ",".join("%.3f" % d for d in decode), statistics.median(first), rss, torch.__version__,
        transformers.__version__, ",".join(str(t) for t in tokens)))


if __name__ == "__main__":
    main()
