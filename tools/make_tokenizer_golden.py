#!/usr/bin/env python3
"""Regenerates tests/golden/tokenizers/ from Hugging Face tokenizers.

    bash tools/make_corpus.sh /tmp/corpus.txt
    ~/.cache/autodidact/venv/bin/python tools/make_tokenizer_golden.py \
        --corpus /tmp/corpus.txt --minilm <dir with vocab.txt and tokenizer.json>

(pins: tokenizers 0.21.0, tools/requirements.txt). Writes:
  corpus.digest             sha256 and FNV-1a 64 of the corpus the ids were made from
  minilm.golden             ids + character offsets of every corpus line,
                            MiniLM tokenizer.json, [CLS]/[SEP] added
  bpe_tokenizer.json, bpe_vocab.json, bpe_merges.txt
                            byte-level BPE trained by HF on the corpus
  bpe.golden                its ids + character offsets of every line
  wordpiece_trained_vocab.txt  HF WordPieceTrainer's vocabulary on the corpus
  cases.json                pairs, truncation, padding, decode cases
  codepoints.json           HF's character classes (probed per code point)
Golden format (little-endian): "ADTOKG01", u32 lines, u32 every; u64
FNV-1a hash per line over (id, start, end) as u32s; u64 hash per line
over the ids alone; then, for lines
i % every == 0, LEB128 count followed by id, start, end per token.
"""
import argparse, hashlib, json, os, struct, sys
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, decoders, processors, trainers

FNV_OFFSET, FNV_PRIME = 0xcbf29ce484222325, 0x100000001b3

def fnv(vals):
    h = FNV_OFFSET
    for v in vals:
        for b in struct.pack('<I', v):
            h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h

def fnv_bytes(data):
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h

def leb(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)

def write_golden(path, encodings, every=8):
    hashes, id_hashes, samples = [], [], bytearray()
    for i, e in enumerate(encodings):
        vals = []
        for tid, (s, t) in zip(e.ids, e.offsets):
            vals += [tid, s, t]
        hashes.append(fnv(vals))
        id_hashes.append(fnv(e.ids))
        if i % every == 0:
            samples += leb(len(e.ids))
            for j in range(0, len(vals)):
                samples += leb(vals[j])
    with open(path, 'wb') as f:
        f.write(b'ADTOKG01' + struct.pack('<II', len(encodings), every))
        f.write(struct.pack('<%dQ' % len(hashes), *hashes))
        f.write(struct.pack('<%dQ' % len(id_hashes), *id_hashes))
        f.write(samples)

def read_lines(path):
    with open(path, 'rb') as f:
        data = f.read()
    lines = data.split(b'\n')
    if lines and lines[-1] == b'':
        lines.pop()
    return [l.decode('utf-8') for l in lines]

def probe_classes(out_path, minilm):
    """Character classes as HF sees them, as [start, end] ranges."""
    bert_norm = minilm.normalizer
    bert_pre = pre_tokenizers.BertPreTokenizer()
    byte_pre = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    classes = {k: [] for k in ['bert_punct', 'bert_space', 'gpt2_letter', 'gpt2_number', 'gpt2_space']}
    norm_map = {}
    def add(name, cp):
        r = classes[name]
        if r and r[-1][1] == cp - 1:
            r[-1][1] = cp
        else:
            r.append([cp, cp])
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        p = bert_pre.pre_tokenize_str('a' + c + 'a')
        if len(p) == 3:
            add('bert_punct', cp)
        elif len(p) == 2:
            add('bert_space', cp)
        n = bert_norm.normalize_str(c)
        if n != c:
            norm_map[cp] = n
        if len(byte_pre.pre_tokenize_str('a' + c)) == 1:
            add('gpt2_letter', cp)
        if len(byte_pre.pre_tokenize_str('1' + c)) == 1:
            add('gpt2_number', cp)
        q = byte_pre.pre_tokenize_str(c + '!')
        if len(q) == 2 and len(byte_pre.pre_tokenize_str('a' + c)) == 2 and len(byte_pre.pre_tokenize_str('1' + c)) == 2:
            add('gpt2_space', cp)
    # the normalizer's output per code point, hashed per block of 4096
    blocks = []
    for b in range(0x110000 // 4096):
        data = bytearray()
        for cp in range(b * 4096, (b + 1) * 4096):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            data += norm_map.get(cp, chr(cp)).encode('utf-8') + b'\0'
        blocks.append('%016x' % fnv_bytes(bytes(data)))
    classes['bert_normalized_block_fnv1a64'] = blocks
    with open(out_path, 'w') as f:
        json.dump(classes, f, separators=(',', ':'))
    if os.environ.get('DUMP_NORM'):
        with open(os.environ['DUMP_NORM'], 'w') as f:
            for cp in sorted(norm_map):
                f.write('%X\t%s\n' % (cp, ' '.join('%X' % ord(x) for x in norm_map[cp])))

def enc_dict(e):
    return {'ids': e.ids, 'type_ids': e.type_ids, 'attention_mask': e.attention_mask,
            'offsets': [list(o) for o in e.offsets], 'special_tokens_mask': e.special_tokens_mask}

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--corpus', required=True)
    ap.add_argument('--minilm', required=True)
    ap.add_argument('--out', default=os.path.join(os.path.dirname(__file__), '..', 'tests', 'golden', 'tokenizers'))
    ap.add_argument('--skip-probe', action='store_true')
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    with open(a.corpus, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    with open(a.corpus, 'rb') as f:
        fnv64 = fnv_bytes(f.read())
    with open(os.path.join(a.out, 'corpus.digest'), 'w') as f:
        f.write('sha256 %s\nfnv1a64 %016x\n' % (digest, fnv64))
    lines = read_lines(a.corpus)
    print('corpus: %d lines' % len(lines))

    minilm = Tokenizer.from_file(os.path.join(a.minilm, 'tokenizer.json'))
    minilm.no_truncation()
    minilm.no_padding()
    write_golden(os.path.join(a.out, 'minilm.golden'), minilm.encode_batch(lines))

    # byte-level BPE trained by HF on the corpus (GPT-2's pipeline)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    tr = trainers.BpeTrainer(vocab_size=4000, min_frequency=2, show_progress=False,
                             special_tokens=['<|endoftext|>'],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train([a.corpus], tr)
    bpe.save(os.path.join(a.out, 'bpe_tokenizer.json'))
    bpe.model.save(a.out, 'bpe')  # bpe-vocab.json, bpe-merges.txt
    os.replace(os.path.join(a.out, 'bpe-vocab.json'), os.path.join(a.out, 'bpe_vocab.json'))
    os.replace(os.path.join(a.out, 'bpe-merges.txt'), os.path.join(a.out, 'bpe_merges.txt'))
    write_golden(os.path.join(a.out, 'bpe.golden'), bpe.encode_batch(lines))

    # HF's WordPiece trainer on the corpus with the BERT pipeline
    wp = Tokenizer(models.WordPiece(unk_token='[UNK]'))
    wp.normalizer = normalizers.BertNormalizer(lowercase=True)
    wp.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wtr = trainers.WordPieceTrainer(vocab_size=4000, min_frequency=2, limit_alphabet=500, show_progress=False,
                                    special_tokens=['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'])
    wp.train([a.corpus], wtr)
    vocab = sorted(wp.get_vocab().items(), key=lambda kv: kv[1])
    with open(os.path.join(a.out, 'wordpiece_trained_vocab.txt'), 'w', encoding='utf-8') as f:
        for tok, _ in vocab:
            f.write(tok + '\n')

    # pairs, truncation, padding, decode
    cases = []
    texts = [l for l in lines[:4000:97] if l.strip()][:30]
    import itertools
    for i, (x, y) in enumerate(zip(texts[::2], texts[1::2])):
        for strat in ['longest_first', 'only_first', 'only_second']:
            for ml in [7, 16, 40]:
                t = Tokenizer.from_file(os.path.join(a.minilm, 'tokenizer.json'))
                t.no_padding()
                try:
                    t.enable_truncation(max_length=ml, strategy=strat, stride=0)
                    e = t.encode(x, y)
                except Exception as ex:
                    cases.append({'kind': 'pair', 'a': x, 'b': y, 'max_length': ml, 'strategy': strat, 'error': True})
                    continue
                cases.append({'kind': 'pair', 'a': x, 'b': y, 'max_length': ml, 'strategy': strat, **enc_dict(e)})
    t = Tokenizer.from_file(os.path.join(a.minilm, 'tokenizer.json'))  # its own truncation 128 + padding 128
    for x in texts[:10]:
        cases.append({'kind': 'single_padded', 'a': x, **enc_dict(t.encode(x))})
    t.no_truncation()
    t.enable_padding(pad_id=0, pad_token='[PAD]')
    batch = t.encode_batch(texts[:8])
    cases.append({'kind': 'batch_longest', 'texts': texts[:8], 'encodings': [enc_dict(e) for e in batch]})
    for x in texts + ['', ' ', 'Hello, world!  [CLS] [MASK]']:
        e = minilm.encode(x)
        cases.append({'kind': 'decode_wordpiece', 'a': x, 'ids': e.ids, 'text': minilm.decode(e.ids),
                      'text_keep_special': minilm.decode(e.ids, skip_special_tokens=False)})
        e = bpe.encode(x)
        cases.append({'kind': 'decode_bpe', 'a': x, 'ids': e.ids, 'text': bpe.decode(e.ids)})
    with open(os.path.join(a.out, 'cases.json'), 'w', encoding='utf-8') as f:
        json.dump(cases, f, ensure_ascii=False, separators=(',', ':'))
    if not a.skip_probe:
        probe_classes(os.path.join(a.out, 'codepoints.json'), minilm)

if __name__ == '__main__':
    main()
