#!/usr/bin/env python3
"""Writes tests/golden/generation/gpt2_generate.safetensors: Hugging Face
GPT2LMHeadModel.generate (greedy, with its KV cache) and the filtered
sampling distributions of its logits processors, on small GPT-2-shaped
random weights.

    ~/.cache/autodidact/venv/bin/python tools/make_generation_golden.py [--out DIR]

Protocol as tools/make_golden.py (float64, eager attention, one thread,
weights redrawn from seed 1234: matrices N(0, 0.2), biases N(0, 0.1),
LayerNorm gain 1 + N(0, 0.1)). The fixture holds:

  param.<hf name>              the weights (tied lm_head stored once, as wte)
  greedy.prompt.<b>            B prompts of different lengths [n_b]
  greedy.tokens.<b>            what generate(do_sample=False) added to prompt b
                               (batched with left padding and an attention
                               mask; up to and including eos = vocab - 1)
  penalty.prompt, penalty.tokens
                               one prompt, greedy with repetition_penalty 1.4
  logits.<b>                   the next-token logits after prompt b [V]
  dist.<case>.probs            softmax of the logits of prompt case_prompt
                               after HF's processors for that case [V]
                               (RepetitionPenaltyLogitsProcessor with the
                               prompt as input_ids, then
                               Temperature/TopK/TopP/MinPLogitsWarper in
                               generate's order); options in metadata "cases"
"""

import argparse
import json
import os
import sys

import torch
import transformers
from transformers.generation.logits_process import (LogitsProcessorList, MinPLogitsWarper,
                                                    RepetitionPenaltyLogitsProcessor,
                                                    TemperatureLogitsWarper, TopKLogitsWarper,
                                                    TopPLogitsWarper)

# generate() asks whether the model is FSDP-managed by importing
# torch.distributed.fsdp, which fails on Debian's torch 1.13 under Python
# 3.11 (a dataclass with a mutable default); no model here is.
import transformers.generation.utils as _generation_utils  # noqa: E402
_generation_utils.is_fsdp_managed_module = lambda module: False

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import WEIGHT_SEED, redraw_parameters, set_determinism, write_safetensors  # noqa: E402

INPUT_SEED = 2468
MAX_BYTES = 2 * 1000 * 1000
CONFIG = dict(vocab_size=101, n_embd=80, n_head=5, n_layer=3, n_positions=48,
              activation_function="gelu_new", layer_norm_epsilon=1e-5)
LENGTHS = (9, 3, 14)
NEW_TOKENS = 20
PENALTY = 1.4
CASES = {
    "temperature": dict(prompt=0, temperature=0.7),
    "top_k": dict(prompt=1, top_k=7),
    "top_p": dict(prompt=2, top_p=0.8),
    "min_p": dict(prompt=0, min_p=0.08),
    "penalty": dict(prompt=2, repetition_penalty=1.5),
    "combined": dict(prompt=1, repetition_penalty=1.3, temperature=1.7, top_k=30, top_p=0.9, min_p=0.02),
    "top_p_small": dict(prompt=0, temperature=1.5, top_p=0.3),
}


def processors(case):
    """HF generate's order (GenerationMixin._get_logits_processor, 4.47)."""
    ps = LogitsProcessorList()
    if case.get("repetition_penalty", 1.0) != 1.0:
        ps.append(RepetitionPenaltyLogitsProcessor(penalty=case["repetition_penalty"]))
    if case.get("temperature", 1.0) != 1.0:
        ps.append(TemperatureLogitsWarper(case["temperature"]))
    if case.get("top_k", 0) != 0:
        ps.append(TopKLogitsWarper(top_k=case["top_k"]))
    if case.get("top_p", 1.0) < 1.0:
        ps.append(TopPLogitsWarper(top_p=case["top_p"]))
    if case.get("min_p", 0.0) > 0.0:
        ps.append(MinPLogitsWarper(min_p=case["min_p"]))
    return ps


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(here, "..", "tests", "golden", "generation"))
    args = parser.parse_args()
    vocab = CONFIG["vocab_size"]
    eos = vocab - 1
    config = transformers.GPT2Config(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                     bos_token_id=eos, eos_token_id=eos, pad_token_id=eos,
                                     attn_implementation="eager", **CONFIG)
    set_determinism()
    model = transformers.GPT2LMHeadModel(config).double().eval()
    assert model.config._attn_implementation == "eager"
    redraw_parameters(model, WEIGHT_SEED)
    out = {"param." + n: p.detach().clone() for n, p in model.named_parameters()}

    g = torch.Generator().manual_seed(INPUT_SEED)
    prompts = [torch.randint(0, vocab - 1, (n,), generator=g) for n in LENGTHS]
    width = max(LENGTHS)
    ids = torch.full((len(prompts), width), eos, dtype=torch.int64)
    mask = torch.zeros((len(prompts), width), dtype=torch.int64)
    for b, p in enumerate(prompts):
        ids[b, width - len(p):] = p
        mask[b, width - len(p):] = 1
        out["greedy.prompt.%d" % b] = p.clone()
    with torch.no_grad():
        gen = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=NEW_TOKENS, do_sample=False,
                             num_beams=1, top_k=None, top_p=None, temperature=None, use_cache=True,
                             pad_token_id=eos, eos_token_id=eos)
    stops = 0
    for b in range(len(prompts)):
        new = gen[b, width:].tolist()
        if eos in new:
            new = new[:new.index(eos) + 1]
            stops += 1
        out["greedy.tokens.%d" % b] = torch.tensor(new, dtype=torch.int64)
    # Greedy with a repetition penalty, one sequence (batched, HF would also
    # penalise the pad ids of the left padding).
    p = prompts[0].unsqueeze(0)
    with torch.no_grad():
        gen = model.generate(input_ids=p, attention_mask=torch.ones_like(p), max_new_tokens=NEW_TOKENS,
                             do_sample=False, top_k=None, top_p=None, temperature=None,
                             repetition_penalty=PENALTY, pad_token_id=eos, eos_token_id=eos)
    new = gen[0, p.shape[1]:].tolist()
    if eos in new:
        new = new[:new.index(eos) + 1]
    out["penalty.prompt"] = prompts[0].clone()
    out["penalty.tokens"] = torch.tensor(new, dtype=torch.int64)

    # Next-token logits of each prompt, and the filtered distributions.
    logits = []
    with torch.no_grad():
        for b, p in enumerate(prompts):
            row = model(input_ids=p.unsqueeze(0)).logits[0, -1].clone()
            out["logits.%d" % b] = row
            logits.append(row)
    for name, case in CASES.items():
        b = case["prompt"]
        scores = processors(case)(prompts[b].unsqueeze(0), logits[b].unsqueeze(0).clone())
        probs = torch.softmax(scores, dim=-1)[0]
        kept = int((probs > 0).sum())
        assert 1 <= kept, name
        out["dist.%s.probs" % name] = probs.clone()
        print("%-12s keeps %3d of %d tokens" % (name, kept, vocab))

    meta = {
        "fixture": "gpt2_generate", "generator": "tools/make_generation_golden.py",
        "config_json": model.config.to_json_string(use_diff=False),
        "vocab_size": str(vocab), "n_embd": str(CONFIG["n_embd"]), "n_layer": str(CONFIG["n_layer"]),
        "eos": str(eos), "new_tokens": str(NEW_TOKENS), "penalty": repr(PENALTY),
        "lengths": json.dumps(list(LENGTHS)), "cases": json.dumps(CASES, sort_keys=True),
        "weight_seed": str(WEIGHT_SEED), "input_seed": str(INPUT_SEED),
        "versions": json.dumps({"torch": torch.__version__, "transformers": transformers.__version__}),
    }
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "gpt2_generate.safetensors")
    write_safetensors(path, {k: v.contiguous() for k, v in out.items()}, meta)
    size = os.path.getsize(path)
    assert size <= MAX_BYTES, (path, size)
    print("%s: %d tensors, %.2f MB, %d of %d greedy sequences stopped at eos" %
          (os.path.relpath(path), len(out), size / 1e6, stops, len(prompts)))


if __name__ == "__main__":
    main()
