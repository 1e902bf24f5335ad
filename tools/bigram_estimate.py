#!/usr/bin/env python3
"""How much local context the pretraining demo's held-out text offers.

Scores each held-out token (4,000 sampled eligible positions, seed 0) with
a bidirectional bigram estimate p(w | left, right) ∝ p(w | left) · p(right | w)^lam,
both add-k smoothed towards the add-one unigram of the training text, and
prints it next to the unigram baseline (nats per token). docs/pretraining.md
quotes the result (3.8 against 7.15): the 1-nat goal of the demo is a
question of learning speed, not of what the data allows.

  ~/.cache/autodidact/venv/bin/python tools/bigram_estimate.py RUN/vocab.txt CORPUS_DIR

RUN is a 04_pretraining output folder (its vocab.txt), CORPUS_DIR holds
train.txt and heldout.txt (tools/fetch_pretraining_corpus.sh). The
neighbours are never masked here, so this is a little optimistic against
the demo's 15 % masking.
"""
import sys

import numpy as np
from transformers import BertTokenizerFast


def stream(tok, path):
    docs = [d for d in open(path, encoding="utf-8").read().split("\n\n") if d.strip()]
    out = []
    for ids in tok(docs, add_special_tokens=False)["input_ids"]:
        out += ids + [tok.sep_token_id]
    return np.array(out)


def main():
    vocab, corpus = sys.argv[1], sys.argv[2]
    tok = BertTokenizerFast(vocab, do_lower_case=True)
    train, held = stream(tok, f"{corpus}/train.txt"), stream(tok, f"{corpus}/heldout.txt")
    V = len(tok.vocab)
    uni = np.bincount(train, minlength=V).astype(np.float64) + 1
    uni /= uni.sum()
    big = np.zeros((V, V), np.float32)
    np.add.at(big, (train[:-1], train[1:]), 1)
    rows, big_t = big.sum(1), np.ascontiguousarray(big.T)
    specials = {tok.vocab[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")}
    pos = np.array([p for p in range(1, len(held) - 1) if held[p] not in specials])
    pos = np.random.default_rng(0).choice(pos, 4000, replace=False)
    print(f"unigram {-np.log(uni[held[pos]]).mean():.4f}")
    for k in (0.02, 0.1):
        for lam in (0.5, 0.8):
            loss = 0.0
            for p in pos:
                left, w, right = held[p - 1], held[p], held[p + 1]
                fwd = (big[left] + k * V * uni) / (big[left].sum() + k * V)
                bwd = (big_t[right] + k * V * uni[right]) / (rows + k * V)
                s = fwd * bwd**lam
                loss -= np.log(s[w] / s.sum())
            print(f"bigram both sides k={k} lam={lam}: {loss / len(pos):.4f}")


if __name__ == "__main__":
    main()
