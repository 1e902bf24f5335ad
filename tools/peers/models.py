#!/usr/bin/env python3
"""PyTorch peer for benchmarks/compare/models and benchmarks/compare/training.

Runs one case in this process and prints the line the comparison scripts read:
  case=<name> threads=<n> median_ms=<v> min_ms=<v> reps=<n> peak_rss_mb=<v> impl=<what ran> ...
  samples_ms=<v,...>

  models.py encoder_b1|encoder_b8|clm_small|clm_gpt2 [--threads n] [--reps n]

Encoder cases try both Hugging Face BertModel (eager attention) and torch's
fused nn.TransformerEncoder inference fast path, and report the faster
(DESIGN.md: the peer is the faster of the two). Decoder cases train Hugging
Face GPT2LMHeadModel with torch.optim.AdamW. Set OPENBLAS_NUM_THREADS /
OMP_NUM_THREADS and LD_LIBRARY_PATH (OpenBLAS variant) before starting it.
"""
import argparse
import os
import resource
import statistics
import time

import torch


def median_and_min(run, reps):
    run()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times), min(times), times


def encoder_case(batch, reps):
    from transformers import BertConfig, BertModel
    cfg = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                     intermediate_size=1536, max_position_embeddings=512, attn_implementation="eager")
    ids = torch.randint(0, 30522, (batch, 128))
    results = []
    hf = BertModel(cfg).eval()
    with torch.inference_mode():
        results.append(median_and_min(lambda: hf(input_ids=ids), reps) + ("hf_bert_eager",))
    # torch's fused encoder (BetterTransformer fast path) on the same shapes.
    layer = torch.nn.TransformerEncoderLayer(384, 12, 1536, dropout=0.0, activation="gelu", batch_first=True,
                                             norm_first=False)
    enc = torch.nn.TransformerEncoder(layer, 6, enable_nested_tensor=False).eval()
    emb = torch.nn.Embedding(30522, 384)
    with torch.inference_mode():
        results.append(median_and_min(lambda: enc(emb(ids)), reps) + ("torch_fused_encoder",))
    return min(results, key=lambda r: r[0])


def clm_case(name, reps):
    from transformers import GPT2Config, GPT2LMHeadModel
    if name == "clm_small":
        cfg = GPT2Config(vocab_size=8192, n_positions=256, n_embd=384, n_layer=6, n_head=6, n_inner=1536,
                         resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, attn_implementation="eager")
        batch, seq = 8, 256
    else:
        cfg = GPT2Config(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, attn_implementation="eager")
        batch, seq = 4, 64
    model = GPT2LMHeadModel(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(0, cfg.vocab_size, (batch, seq))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()

    return median_and_min(step, reps) + ("hf_gpt2_adamw",)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("case", choices=["encoder_b1", "encoder_b8", "clm_small", "clm_gpt2"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.case.startswith("encoder"):
        med, mn, times, impl = encoder_case(1 if args.case == "encoder_b1" else 8, args.reps)
    else:
        med, mn, times, impl = clm_case(args.case, args.reps)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    blas = os.environ.get("LD_LIBRARY_PATH", "default")
    print(f"case={args.case} threads={args.threads} median_ms={med:.3f} min_ms={mn:.3f} reps={args.reps} "
          f"peak_rss_mb={rss:.1f} impl={impl} torch={torch.__version__} blas_path={blas} "
          f"samples_ms={','.join(f'{t:.3f}' for t in times)}")


if __name__ == "__main__":
    main()
