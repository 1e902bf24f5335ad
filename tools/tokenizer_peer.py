#!/usr/bin/env python3
"""Hugging Face tokenizers' encoding throughput on the lines the C++
benchmark uses (benchmarks/tokenizers/encode.cpp): the first 20,000 lines of
the corpus, one at a time (encode) and as one batch (encode_batch, which HF
parallelises over RAYON_NUM_THREADS). Usage:
  RAYON_NUM_THREADS=1 ~/.cache/autodidact/venv/bin/python tools/tokenizer_peer.py \
      <corpus.txt> <minilm tokenizer.json> tests/golden/tokenizers/bpe_tokenizer.json
"""
import sys, time
from tokenizers import Tokenizer
corpus, minilm, bpe = sys.argv[1:4]
lines = open(corpus, 'rb').read().split(b'\n')[:20000]
nbytes = sum(len(l) + 1 for l in lines)
lines = [l.decode('utf-8') for l in lines]
for name, path in [('wordpiece_minilm', minilm), ('byte_level_bpe', bpe)]:
    t = Tokenizer.from_file(path); t.no_padding(); t.no_truncation()
    for mode in ['encode', 'encode_batch']:
        best = 1e9
        for _ in range(3):
            t0 = time.perf_counter()
            if mode == 'encode':
                for l in lines: t.encode(l)
            else:
                t.encode_batch(lines)
            best = min(best, time.perf_counter() - t0)
        print('%s %s %.1f MB/s' % (name, mode, nbytes / best / 1e6))
