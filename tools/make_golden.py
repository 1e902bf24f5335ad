#!/usr/bin/env python3
"""Writes the golden model fixtures in tests/golden/models/ from Hugging Face
transformers and PyTorch.

    ~/.cache/autodidact/venv/bin/python tools/make_golden.py [--out DIR] [--only NAME ...]

The protocol (DESIGN.md, "How correctness is shown"): float64, dropout 0,
eager attention, one thread, fixed seeds; every weight redrawn after
construction (matrices and embeddings N(0, 0.2), biases N(0, 0.1), LayerNorm
gain 1 + N(0, 0.1) and bias N(0, 0.1)); vocab <= 128; batches whose
sequences have different padding lengths. tests/golden/README.md documents
every tensor a fixture holds; keep the two in step.

Only torch, transformers and safetensors are used (not numpy: torch 1.13 is
built against NumPy 1.x and the venv may carry NumPy 2).
"""

import argparse
import ctypes
import json
import os
import platform
import sys

import torch
import torch.nn.functional as F
import transformers
from safetensors import safe_open
from safetensors.torch import load_file

FORMAT_VERSION = "1"
WEIGHT_SEED = 1234        # the redraw of every parameter
INPUT_SEED = 4321         # token ids, masks, labels
ADAMW = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
ADAMW_STEPS = 3           # after1.* and after3.* are saved
MAX_FILE_BYTES = 10 * 1000 * 1000
MAX_TOTAL_BYTES = 25 * 1000 * 1000

# BERT special ids in the fixtures (the C++ side only needs pad_token_id).
BERT_PAD, BERT_UNK, BERT_CLS, BERT_SEP, BERT_MASK = 0, 1, 2, 3, 4
BERT_FIRST_WORD = 5


# ---------------------------------------------------------------------------
# Weights

def redraw_parameters(model, seed):
    """Redraws every (deduplicated) parameter in named_parameters() order from
    one generator: LayerNorm gain 1 + N(0, 0.1) and bias N(0, 0.1); other
    biases (1-D) N(0, 0.1); matrices and embeddings N(0, 0.2)."""
    g = torch.Generator().manual_seed(seed)
    kinds = {}
    with torch.no_grad():
        for name, p in model.named_parameters():
            parts = name.split(".")
            owner = parts[-2] if len(parts) >= 2 else ""
            is_layernorm = owner == "LayerNorm" or owner.startswith("ln_")
            noise = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if is_layernorm and parts[-1] == "weight":
                p.copy_(1.0 + 0.1 * noise)
                kinds[name] = "layernorm_gain"
            elif p.dim() == 1:
                p.copy_(0.1 * noise)
                kinds[name] = "layernorm_bias" if is_layernorm else "bias"
            else:
                p.copy_(0.2 * noise)
                kinds[name] = "matrix"
    return kinds


def set_determinism():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(0)


# ---------------------------------------------------------------------------
# Inputs

def bert_inputs(vocab, batch, seq_len, lengths, seed):
    """[CLS] A [SEP] B [SEP] [PAD]...; ~15% of the word positions masked
    (80% [MASK], 10% random word, 10% unchanged), at least one per row."""
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.full((batch, seq_len), BERT_PAD, dtype=torch.int64)
    token_type_ids = torch.zeros((batch, seq_len), dtype=torch.int64)
    attention_mask = torch.zeros((batch, seq_len), dtype=torch.int64)
    labels = torch.full((batch, seq_len), -100, dtype=torch.int64)
    for b, n in enumerate(lengths):
        assert 5 <= n <= seq_len
        words = torch.randint(BERT_FIRST_WORD, vocab, (n,), generator=g)
        split = int(torch.randint(2, n - 2, (1,), generator=g))  # index of the first [SEP]
        row = words.clone()
        row[0] = BERT_CLS
        row[split] = BERT_SEP
        row[n - 1] = BERT_SEP
        input_ids[b, :n] = row
        token_type_ids[b, split + 1:n] = 1
        attention_mask[b, :n] = 1
        candidates = [i for i in range(1, n - 1) if i != split]
        order = torch.randperm(len(candidates), generator=g).tolist()
        count = max(1, round(0.15 * len(candidates)))
        for k in order[:count]:
            i = candidates[k]
            labels[b, i] = input_ids[b, i]
            r = float(torch.rand((1,), generator=g))
            if r < 0.8:
                input_ids[b, i] = BERT_MASK
            elif r < 0.9:
                input_ids[b, i] = int(torch.randint(BERT_FIRST_WORD, vocab, (1,), generator=g))
    next_sentence_label = torch.randint(0, 2, (batch,), generator=g)
    # Both NSP classes appear when the batch has more than one row.
    if batch > 1 and int(next_sentence_label.min()) == int(next_sentence_label.max()):
        next_sentence_label[0] = 1 - next_sentence_label[0]
    return dict(input_ids=input_ids, attention_mask=attention_mask,
                token_type_ids=token_type_ids, labels=labels,
                next_sentence_label=next_sentence_label)


def gpt2_inputs(vocab, batch, seq_len, lengths, seed, pad_id):
    """Random ids in [0, vocab - 1) then pad_id; labels = input_ids with -100
    at padded positions (HF shifts them inside the loss)."""
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.full((batch, seq_len), pad_id, dtype=torch.int64)
    attention_mask = torch.zeros((batch, seq_len), dtype=torch.int64)
    for b, n in enumerate(lengths):
        input_ids[b, :n] = torch.randint(0, vocab - 1, (n,), generator=g)
        attention_mask[b, :n] = 1
    labels = input_ids.clone()
    labels[attention_mask == 0] = -100
    return dict(input_ids=input_ids, attention_mask=attention_mask, labels=labels)


# ---------------------------------------------------------------------------
# Fixtures

def config_metadata(config, fields):
    meta = {}
    for f in fields:
        v = getattr(config, f)
        meta[f] = v if isinstance(v, str) else json.dumps(v)
    return meta


def run(model, inputs, forward, out):
    """Saves params, one forward (hidden states, logits, loss) with gradients,
    then the parameters after 1 and 3 AdamW steps."""
    params = dict(model.named_parameters())  # deduplicated: tied weights once
    for name, p in params.items():
        out["param." + name] = p.detach().clone()

    optimizer = torch.optim.AdamW(list(params.values()), **ADAMW)
    for step in range(1, ADAMW_STEPS + 1):
        optimizer.zero_grad(set_to_none=True)
        loss = forward(model, inputs, out if step == 1 else None)
        loss.backward()
        out["train.loss.%d" % step] = loss.detach().clone()
        if step == 1:
            for name, p in params.items():
                out["grad." + name] = p.grad.detach().clone()
            for key in [k for k in out if k.startswith("_retained.")]:
                t = out.pop(key)
                out["grad_" + key[len("_retained."):]] = t.grad.detach().clone()
        optimizer.step()
        if step == 1:
            # AdamW's first step from zero moments: p (1 - lr wd) - lr g / (|g| + eps).
            lr, wd, eps = ADAMW["lr"], ADAMW["weight_decay"], ADAMW["eps"]
            for name, p in params.items():
                p0, g = out["param." + name], out["grad." + name]
                expected = p0 * (1 - lr * wd) - lr * g / (g.abs() + eps)
                assert float((expected - p.detach()).abs().max()) < 1e-15, name
        if step in (1, 3):
            for name, p in params.items():
                out["after%d.%s" % (step, name)] = p.detach().clone()


def bert_forward(model, inputs, out):
    result = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                   token_type_ids=inputs["token_type_ids"], labels=inputs["labels"],
                   next_sentence_label=inputs["next_sentence_label"],
                   output_hidden_states=True, return_dict=True)
    assert result.loss.dtype == torch.float64
    if out is not None:
        v = model.config.vocab_size
        mlm = F.cross_entropy(result.prediction_logits.reshape(-1, v), inputs["labels"].reshape(-1),
                              ignore_index=-100)
        nsp = F.cross_entropy(result.seq_relationship_logits, inputs["next_sentence_label"])
        assert abs(float(mlm + nsp - result.loss)) < 1e-12
        for i, h in enumerate(result.hidden_states):
            h.retain_grad()
            out["hidden.%d" % i] = h.detach().clone()
            out["_retained.hidden.%d" % i] = h
        with torch.no_grad():
            out["pooler_output"] = model.bert.pooler(result.hidden_states[-1]).detach().clone()
        out["prediction_logits"] = result.prediction_logits.detach().clone()
        out["seq_relationship_logits"] = result.seq_relationship_logits.detach().clone()
        out["loss"] = result.loss.detach().clone()
        out["loss_mlm"] = mlm.detach().clone()
        out["loss_nsp"] = nsp.detach().clone()
    return result.loss


def gpt2_forward(model, inputs, out):
    captured = {}
    last_block = model.transformer.h[-1]
    hook = last_block.register_forward_hook(lambda m, args, output: captured.update(h=output[0]))
    try:
        result = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                       labels=inputs["labels"], output_hidden_states=True, return_dict=True)
    finally:
        hook.remove()
    assert result.loss.dtype == torch.float64
    if out is not None:
        v = model.config.vocab_size
        own = F.cross_entropy(result.logits[:, :-1, :].reshape(-1, v),
                              inputs["labels"][:, 1:].reshape(-1), ignore_index=-100)
        assert abs(float(own - result.loss)) < 1e-12
        with torch.no_grad():
            again = model.transformer.ln_f(captured["h"])
        assert torch.equal(again, result.hidden_states[-1])
        for i, h in enumerate(result.hidden_states):
            h.retain_grad()
            out["hidden.%d" % i] = h.detach().clone()
            out["_retained.hidden.%d" % i] = h
        h = captured["h"]
        h.retain_grad()
        out["hidden.last_block"] = h.detach().clone()
        out["_retained.hidden.last_block"] = h
        out["logits"] = result.logits.detach().clone()
        out["loss"] = result.loss.detach().clone()
    return result.loss


def masked_lm_forward(model, inputs, out):
    """BertForMaskedLM and ElectraForMaskedLM: an MLM loss only."""
    result = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                   token_type_ids=inputs["token_type_ids"], labels=inputs["labels"],
                   output_hidden_states=True, return_dict=True)
    assert result.loss.dtype == torch.float64
    if out is not None:
        v = model.config.vocab_size
        mlm = F.cross_entropy(result.logits.reshape(-1, v), inputs["labels"].reshape(-1), ignore_index=-100)
        assert abs(float(mlm - result.loss)) < 1e-12
        # hidden_states[0] is the blocks' input: the embeddings after their
        # LayerNorm, projected (embeddings_project) to hidden_size.
        for i, h in enumerate(result.hidden_states):
            h.retain_grad()
            out["hidden.%d" % i] = h.detach().clone()
            out["_retained.hidden.%d" % i] = h
        out["prediction_logits"] = result.logits.detach().clone()
        out["loss"] = result.loss.detach().clone()
        out["loss_mlm"] = mlm.detach().clone()
    return result.loss


BERT_FIELDS = ["model_type", "vocab_size", "hidden_size", "num_attention_heads",
               "num_hidden_layers", "intermediate_size", "max_position_embeddings",
               "type_vocab_size", "hidden_act", "layer_norm_eps", "pad_token_id",
               "position_embedding_type", "hidden_dropout_prob",
               "attention_probs_dropout_prob", "tie_word_embeddings"]
GPT2_FIELDS = ["model_type", "vocab_size", "n_embd", "n_head", "n_layer", "n_positions",
               "n_inner", "activation_function", "layer_norm_epsilon", "scale_attn_weights",
               "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn",
               "resid_pdrop", "embd_pdrop", "attn_pdrop", "bos_token_id", "eos_token_id",
               "tie_word_embeddings"]


def make_bert(name, cfg, batch, seq_len, lengths):
    config = transformers.BertConfig(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                     pad_token_id=BERT_PAD, attn_implementation="eager", **cfg)
    set_determinism()
    model = transformers.BertForPreTraining(config).double().eval()
    assert model.config._attn_implementation == "eager"
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    assert model.cls.predictions.decoder.bias is model.cls.predictions.bias
    redraw_parameters(model, WEIGHT_SEED)
    inputs = bert_inputs(config.vocab_size, batch, seq_len, lengths, INPUT_SEED)
    out = {k: v.clone() for k, v in inputs.items()}
    run(model, inputs, bert_forward, out)
    meta = config_metadata(config, BERT_FIELDS)
    meta["architecture"] = "BertForPreTraining"
    meta["d_ff"] = str(config.intermediate_size)
    meta["tied"] = json.dumps({"cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
                               "cls.predictions.decoder.bias": "cls.predictions.bias"})
    return finish(name, model, out, meta, batch, seq_len, lengths)


ELECTRA_FIELDS = BERT_FIELDS + ["embedding_size"]


def make_bert_mlm(name, cfg, batch, seq_len, lengths):
    """BertForMaskedLM: BertModel without a pooler, the MLM head; its loss is
    the MLM loss on the (already corrupted) inputs."""
    config = transformers.BertConfig(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                     pad_token_id=BERT_PAD, attn_implementation="eager", **cfg)
    set_determinism()
    model = transformers.BertForMaskedLM(config).double().eval()
    assert model.config._attn_implementation == "eager"
    assert model.bert.pooler is None
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    redraw_parameters(model, WEIGHT_SEED)
    inputs = bert_inputs(config.vocab_size, batch, seq_len, lengths, INPUT_SEED)
    del inputs["next_sentence_label"]
    out = {k: v.clone() for k, v in inputs.items()}
    run(model, inputs, masked_lm_forward, out)
    meta = config_metadata(config, BERT_FIELDS)
    meta["architecture"] = "BertForMaskedLM"
    meta["d_ff"] = str(config.intermediate_size)
    meta["tied"] = json.dumps({"cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
                               "cls.predictions.decoder.bias": "cls.predictions.bias"})
    return finish(name, model, out, meta, batch, seq_len, lengths)


def make_electra(name, cfg, batch, seq_len, lengths):
    """ElectraForMaskedLM (the generator): factorised embeddings
    (embedding_size != hidden_size) projected into the blocks, no pooler,
    generator head hidden -> embedding_size -> tied decoder."""
    config = transformers.ElectraConfig(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                        pad_token_id=BERT_PAD, attn_implementation="eager", **cfg)
    assert config.embedding_size != config.hidden_size
    set_determinism()
    model = transformers.ElectraForMaskedLM(config).double().eval()
    assert model.config._attn_implementation == "eager"
    assert hasattr(model.electra, "embeddings_project")
    assert model.generator_lm_head.weight is model.electra.embeddings.word_embeddings.weight
    redraw_parameters(model, WEIGHT_SEED)
    inputs = bert_inputs(config.vocab_size, batch, seq_len, lengths, INPUT_SEED)
    del inputs["next_sentence_label"]
    out = {k: v.clone() for k, v in inputs.items()}
    run(model, inputs, masked_lm_forward, out)
    meta = config_metadata(config, ELECTRA_FIELDS)
    meta["architecture"] = "ElectraForMaskedLM"
    meta["d_ff"] = str(config.intermediate_size)
    meta["tied"] = json.dumps({"generator_lm_head.weight": "electra.embeddings.word_embeddings.weight"})
    return finish(name, model, out, meta, batch, seq_len, lengths)


def make_gpt2(name, cfg, batch, seq_len, lengths):
    vocab = cfg["vocab_size"]
    config = transformers.GPT2Config(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                     summary_first_dropout=0.0, bos_token_id=vocab - 1,
                                     eos_token_id=vocab - 1, attn_implementation="eager", **cfg)
    set_determinism()
    model = transformers.GPT2LMHeadModel(config).double().eval()
    assert model.config._attn_implementation == "eager"
    assert type(model.transformer.h[0].attn).__name__ == "GPT2Attention"
    assert model.lm_head.weight is model.transformer.wte.weight
    redraw_parameters(model, WEIGHT_SEED)
    inputs = gpt2_inputs(vocab, batch, seq_len, lengths, INPUT_SEED, pad_id=vocab - 1)
    out = {k: v.clone() for k, v in inputs.items()}
    run(model, inputs, gpt2_forward, out)
    meta = config_metadata(config, GPT2_FIELDS)
    meta["architecture"] = "GPT2LMHeadModel"
    meta["d_ff"] = str(config.n_inner if config.n_inner is not None else 4 * config.n_embd)
    meta["tied"] = json.dumps({"lm_head.weight": "transformer.wte.weight"})
    return finish(name, model, out, meta, batch, seq_len, lengths)


def finish(name, model, out, meta, batch, seq_len, lengths):
    meta.update({
        "fixture_format_version": FORMAT_VERSION,
        "fixture": name,
        "config_json": model.config.to_json_string(use_diff=False),
        "batch": str(batch), "seq_len": str(seq_len), "lengths": json.dumps(list(lengths)),
        "weight_seed": str(WEIGHT_SEED), "input_seed": str(INPUT_SEED),
        "adamw": json.dumps({"lr": ADAMW["lr"], "betas": list(ADAMW["betas"]),
                             "eps": ADAMW["eps"], "weight_decay": ADAMW["weight_decay"],
                             "steps_saved": [1, 3]}),
        "parameters": json.dumps([n for n, _ in model.named_parameters()]),
        "num_hidden": str(len([k for k in out if k.startswith("hidden.") and k[7:].isdigit()])),
        "versions": json.dumps({"python": platform.python_version(), "torch": torch.__version__,
                                "transformers": transformers.__version__}),
        "generator": "tools/make_golden.py",
    })
    for k, v in out.items():
        assert k.startswith(("input_ids", "attention_mask", "token_type_ids", "labels",
                             "next_sentence_label")) == (v.dtype == torch.int64), k
        assert v.dtype in (torch.float64, torch.int64), (k, v.dtype)
        assert bool(torch.isfinite(v.double()).all()), k
    return {k: v.contiguous() for k, v in out.items()}, meta


FIXTURES = {
    # BERT, odd sizes: 5 heads of 16, d_ff 136, rows padded by 0, 7 and 18.
    "bert_pretraining_odd": lambda n: make_bert(n, dict(
        vocab_size=97, hidden_size=80, num_attention_heads=5, num_hidden_layers=3,
        intermediate_size=136, max_position_embeddings=40, type_vocab_size=2,
        hidden_act="gelu", layer_norm_eps=1e-12), batch=3, seq_len=37, lengths=(37, 30, 19)),
    "bert_pretraining_small": lambda n: make_bert(n, dict(
        vocab_size=64, hidden_size=32, num_attention_heads=2, num_hidden_layers=2,
        intermediate_size=48, max_position_embeddings=16, type_vocab_size=2,
        hidden_act="gelu", layer_norm_eps=1e-12), batch=2, seq_len=9, lengths=(9, 6)),
    # GPT-2, odd sizes: 5 heads of 16, d_ff 320 (4 * n_embd), rows padded by 0, 9 and 20.
    "gpt2_lm_odd": lambda n: make_gpt2(n, dict(
        vocab_size=101, n_embd=80, n_head=5, n_layer=3, n_positions=48,
        activation_function="gelu_new", layer_norm_epsilon=1e-5), batch=3, seq_len=37,
        lengths=(37, 28, 17)),
    # BertForMaskedLM (no pooler, MLM only): the sparse MLM head's reference.
    "bert_mlm_small": lambda n: make_bert_mlm(n, dict(
        vocab_size=71, hidden_size=40, num_attention_heads=5, num_hidden_layers=2,
        intermediate_size=56, max_position_embeddings=24, type_vocab_size=2,
        hidden_act="gelu", layer_norm_eps=1e-12), batch=3, seq_len=23, lengths=(23, 17, 9)),
    # ELECTRA generators: embeddings narrower (20 < 48) and wider (40 > 24)
    # than the blocks, 3 heads of 16 / 2 of 12, rows padded by 0, 5 and 11.
    "electra_generator_narrow": lambda n: make_electra(n, dict(
        vocab_size=61, embedding_size=20, hidden_size=48, num_attention_heads=3, num_hidden_layers=2,
        intermediate_size=72, max_position_embeddings=24, type_vocab_size=2,
        hidden_act="gelu", layer_norm_eps=1e-12), batch=3, seq_len=19, lengths=(19, 14, 8)),
    "electra_generator_wide": lambda n: make_electra(n, dict(
        vocab_size=53, embedding_size=40, hidden_size=24, num_attention_heads=2, num_hidden_layers=2,
        intermediate_size=40, max_position_embeddings=16, type_vocab_size=2,
        hidden_act="gelu", layer_norm_eps=1e-12), batch=2, seq_len=11, lengths=(11, 7)),
    "gpt2_lm_small": lambda n: make_gpt2(n, dict(
        vocab_size=64, n_embd=32, n_head=2, n_layer=2, n_positions=16,
        activation_function="gelu_new", layer_norm_epsilon=1e-5), batch=2, seq_len=9,
        lengths=(9, 6)),
}


def write_safetensors(path, tensors, metadata):
    """Writes a safetensors file with sorted metadata and sorted tensors, so
    that regenerating gives the same bytes (safetensors' own save_file orders
    metadata by a hash map). The official reader checks it afterwards."""
    dtypes = {torch.float64: "F64", torch.int64: "I64"}
    header = {"__metadata__": dict(sorted(metadata.items()))}
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        size = t.numel() * t.element_size()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for name in sorted(tensors):
            t = tensors[name].contiguous()
            f.write(ctypes.string_at(t.data_ptr(), t.numel() * t.element_size()))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(here, "..", "tests", "golden", "models"))
    parser.add_argument("--only", nargs="*", choices=sorted(FIXTURES), default=sorted(FIXTURES))
    args = parser.parse_args()
    assert sys.byteorder == "little", "the writer below assumes a little-endian host"
    os.makedirs(args.out, exist_ok=True)
    for name in args.only:
        tensors, meta = FIXTURES[name](name)
        path = os.path.join(args.out, name + ".safetensors")
        tmp = path + ".tmp"
        write_safetensors(tmp, tensors, meta)
        back = load_file(tmp)
        assert set(back) == set(tensors) and all(torch.equal(back[k], tensors[k]) for k in tensors)
        with safe_open(tmp, "pt") as f:
            assert f.metadata() == meta
        size = os.path.getsize(tmp)
        if size > MAX_FILE_BYTES:
            os.remove(tmp)
            sys.exit("%s: %d bytes, more than the %d allowed per fixture" % (path, size, MAX_FILE_BYTES))
        os.replace(tmp, path)
        print("%s: %d tensors, %.2f MB, loss %.12f" % (os.path.relpath(path), len(tensors),
                                                       size / 1e6, float(tensors["loss"])))
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out)
                if f.endswith(".safetensors"))
    print("total: %.2f MB" % (total / 1e6))
    if total > MAX_TOTAL_BYTES:
        sys.exit("the fixtures total %d bytes, more than the %d allowed" % (total, MAX_TOTAL_BYTES))


if __name__ == "__main__":
    main()
