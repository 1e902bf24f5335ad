#!/usr/bin/env python3
"""Does a pretrained demo model use word order? The held-out MLM loss of a
04_pretraining run's Hugging Face export on its check batches, as trained
and with each window's position ids shuffled (the same as shuffling its
tokens), and with every position id 0.

  ~/.cache/autodidact/venv/bin/python tools/position_probe.py RUN/hf RUN/hf_check.safetensors

A model that reads its neighbours loses a lot when the order is shuffled.
docs/pretraining.md quotes the demo's 10-minute models: on windows of 128
the loss moved in the fifth decimal (6.15603 → 6.15608: a bag-of-words
predictor); on windows of 32, the demo's default now, 4.26730 → 8.07269.
"""
import sys

import torch
from safetensors.torch import load_file
from transformers import BertForMaskedLM


def main():
    model = BertForMaskedLM.from_pretrained(sys.argv[1]).eval()
    d = load_file(sys.argv[2])
    ids, labels = d["input_ids"].long(), d["labels"].long()
    types, attention = d["token_type_ids"].long(), d["attention_mask"].long()
    b, t = ids.shape

    def loss(positions):
        with torch.no_grad():
            return model(input_ids=ids, token_type_ids=types, attention_mask=attention, position_ids=positions,
                         labels=labels).loss.item()

    g = torch.Generator().manual_seed(0)
    shuffled = torch.stack([torch.randperm(t, generator=g) for _ in range(b)])
    print(f"in order {loss(torch.arange(t).expand(b, t)):.5f}")
    print(f"positions shuffled {loss(shuffled):.5f}")
    print(f"every position 0 {loss(torch.zeros(b, t, dtype=torch.long)):.5f}")


if __name__ == "__main__":
    main()
