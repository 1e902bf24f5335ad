#!/usr/bin/env python3
"""PyTorch peer for benchmarks/compare/models and benchmarks/compare/training.

Runs one case in this process and prints the line the comparison scripts read:
  case=<name> threads=<n> median_ms=<v> min_ms=<v> reps=<n> peak_rss_mb=<v> impl=<what ran> ...
  samples_ms=<v,...>

  models.py encoder_b1|encoder_b8|clm_small|clm_gpt2|mlm_small[_sparse]|mlm_minilm[_sparse]
            [--threads n] [--reps n]

Encoder cases try both Hugging Face BertModel (eager attention) and torch's
fused nn.TransformerEncoder inference fast path, and report the faster
(DESIGN.md: the peer is the faster of the two). Decoder cases train Hugging
Face GPT2LMHeadModel with torch.optim.AdamW. MLM cases train Hugging Face
BertForMaskedLM with torch.optim.AdamW on a fixed corrupted batch (the same
selected positions as bench_models), with its attention as eager and, when
the installed torch has it, sdpa (the faster is reported): mlm_<size> as people run it (the head on
every position), mlm_<size>_sparse with the selected rows gathered before
the head (like for like with ours). Set OPENBLAS_NUM_THREADS /
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


def selected_mask(n):
    """Position i is selected when (i * 2654435761 mod 2^32) mod 100 < 15 (as bench_models)."""
    return torch.tensor([(i * 2654435761 % 4294967296) % 100 < 15 for i in range(n)])


def mlm_case(name, reps):
    from transformers import BertConfig, BertForMaskedLM
    sparse = name.endswith("_sparse")
    if name.startswith("mlm_small"):
        dims = dict(vocab_size=8192, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                    intermediate_size=1024, max_position_embeddings=128)
    else:
        dims = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                    intermediate_size=1536, max_position_embeddings=512)
    batch, seq = 8, 128
    ids = torch.randint(0, dims["vocab_size"], (batch, seq))
    chosen = selected_mask(batch * seq).reshape(batch, seq)
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    ids = torch.where(chosen, torch.full_like(ids, 3), ids)
    results = []
    for attn in ("eager", "sdpa"):
        cfg = BertConfig(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, attn_implementation=attn, **dims)
        try:
            model = BertForMaskedLM(cfg).train()
        except ImportError:  # sdpa needs torch >= 2.1.1
            continue
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step():
            opt.zero_grad(set_to_none=True)
            if sparse:
                hidden = model.bert(input_ids=ids).last_hidden_state
                rows = hidden[chosen]  # [M, C]: the selected rows only
                logits = model.cls(rows)
                loss = torch.nn.functional.cross_entropy(logits, labels[chosen])
            else:
                loss = model(input_ids=ids, labels=labels).loss
            loss.backward()
            opt.step()

        results.append(median_and_min(step, reps) + (f"hf_bert_mlm_{attn}" + ("_gathered" if sparse else ""),))
    return min(results, key=lambda r: r[0])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("case", choices=["encoder_b1", "encoder_b8", "clm_small", "clm_gpt2", "mlm_small",
                                         "mlm_small_sparse", "mlm_minilm", "mlm_minilm_sparse"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.case.startswith("encoder"):
        med, mn, times, impl = encoder_case(1 if args.case == "encoder_b1" else 8, args.reps)
    elif args.case.startswith("mlm"):
        med, mn, times, impl = mlm_case(args.case, args.reps)
    else:
        med, mn, times, impl = clm_case(args.case, args.reps)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    blas = os.environ.get("LD_LIBRARY_PATH", "default")
    print(f"case={args.case} threads={args.threads} median_ms={med:.3f} min_ms={mn:.3f} reps={args.reps} "
          f"peak_rss_mb={rss:.1f} impl={impl} torch={torch.__version__} blas_path={blas} "
          f"samples_ms={','.join(f'{t:.3f}' for t in times)}")


if __name__ == "__main__":
    main()
