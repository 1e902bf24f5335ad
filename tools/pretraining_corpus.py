#!/usr/bin/env python3
"""Builds the pretraining demo's corpus from two Debian packages: Jane Austen's
six novels (r-cran-janeaustenr) and the WordNet 3.0 glosses (wordnet-base).

    /usr/bin/python3 tools/pretraining_corpus.py --janeaustenr DIR [--wordnet DIR] --out DIR
    /usr/bin/python3 tools/pretraining_corpus.py --fnv1a n02084071

--janeaustenr is the package's R folder (the one holding data/Rdata.rdx and
data/Rdata.rdb; usually <unpacked deb>/usr/lib/R/site-library/janeaustenr),
--wordnet the folder of data.noun, data.verb, data.adj, data.adv (default
/usr/share/wordnet). tools/fetch_pretraining_corpus.sh runs this with the
cached inputs; docs/pretraining-corpus.md describes the outputs.

Python 3 standard library only: R is not needed. The novels come out of R's
lazy-load database with a small reader of R's XDR serialization (below).

Outputs in --out (UTF-8, '\\n' line ends, the same bytes on every run):
  train.txt, heldout.txt   the pipeline's corpus format: one line per
                           paragraph (novels) or gloss, a blank line between
                           documents
  glosses_train.tsv,       pos_offset<TAB>lexname_number<TAB>lexname<TAB>gloss,
  glosses_test.tsv         with that header line, in WordNet file order

Split rules:
  * gloss: test split when FNV-1a-32(pos letter + 8-digit offset, e.g.
    b"n02084071") % 5 == 0. The letter is field 3 of the data file as
    written: n, v, a, s (satellite adjective; kept as 's', not folded into
    'a') or r.
  * novel: the last 5 % of each novel's printed lines are held out: k =
    round-half-up(n / 20) lines, cut at line n - k, then moved forward to
    the next paragraph break (an empty line) so that no paragraph is split.
  * heldout.txt = held-out novel tails + test-split glosses; train.txt = the
    rest.

Documents:
  * novels: the package's printed lines are joined into paragraphs (the
    wrapped lines of a paragraph joined by one space, runs of spaces made
    one; empty lines separate paragraphs). A document is a chapter: a new
    document starts at every chapter or volume heading ("CHAPTER 1",
    "Chapter I", "VOLUME II" with the "CHAPTER I" after it) and at a novel's
    start; the title page (and Northanger Abbey's advertisement) before the
    first chapter is a document of its own; the held-out tail starts a new
    document. The text is otherwise kept as packaged: '_..._' italics
    marks, '--' dashes, '* * * * *' breaks, bracketed editorial notes.
  * glosses: each gloss is its own document (one line, then a blank line), so
    that the window packer puts a separator between glosses instead of
    running unrelated definitions together.
Order: the novels in publication order (Sense and Sensibility, Pride and
Prejudice, Mansfield Park, Emma, Northanger Abbey, Persuasion), then the
glosses of data.noun, data.verb, data.adj, data.adv in file order.

Glosses lose their example sentences (clean_gloss() has the exact rules): a
gloss is cut at the first double quote that opens an example, i.e. one
preceded (spaces aside) by ';', ':', ',' or ')' or by 'e.g.' / 'as in'; a
final quoted part after a plain word and an unbalanced final quote (a few
malformed WordNet glosses) go too; separators and words ('e.g.', 'as in')
left dangling at the end are stripped. Quotes inside the definition that name
a term ('("straw" is archaic)', 'in the phrase "make strides"') stay.
"""

import argparse
import bz2
import gzip
import hashlib
import lzma
import os
import re
import struct
import sys
import zlib

# ---------------------------------------------------------------------------
# Errors


class CorpusError(Exception):
    """A problem with an input file; the message names the file."""


# ---------------------------------------------------------------------------
# FNV-1a, 32 bits

FNV_OFFSET_BASIS = 2166136261
FNV_PRIME = 16777619


def fnv1a32(data: bytes) -> int:
    h = FNV_OFFSET_BASIS
    for b in data:
        h ^= b
        h = (h * FNV_PRIME) & 0xFFFFFFFF
    return h


def is_test_gloss(key: str) -> bool:
    return fnv1a32(key.encode("ascii")) % 5 == 0


# ---------------------------------------------------------------------------
# R's XDR serialization (src/main/serialize.c), just what data needs

NILSXP, SYMSXP, LISTSXP, CLOSXP, ENVSXP, PROMSXP, LANGSXP = 0, 1, 2, 3, 4, 5, 6
SPECIALSXP, BUILTINSXP, CHARSXP, LGLSXP, INTSXP, REALSXP = 7, 8, 9, 10, 13, 14
CPLXSXP, STRSXP, DOTSXP, VECSXP, EXPRSXP, BCODESXP = 15, 16, 17, 19, 20, 21
EXTPTRSXP, WEAKREFSXP, RAWSXP, S4SXP = 22, 23, 24, 25
# pseudo-types of the serialization stream
REFSXP, NILVALUE_SXP, GLOBALENV_SXP, UNBOUNDVALUE_SXP = 255, 254, 253, 252
MISSINGARG_SXP, BASENAMESPACE_SXP, NAMESPACESXP, PACKAGESXP = 251, 250, 249, 248
PERSISTSXP, CLASSREFSXP, GENERICREFSXP, BCREPDEF = 247, 246, 245, 244
EMPTYENV_SXP, BASEENV_SXP, ATTRLANGSXP, ATTRLISTSXP, ALTREP_SXP = 242, 241, 240, 239, 238

IS_OBJECT_BIT, HAS_ATTR_BIT, HAS_TAG_BIT = 1 << 8, 1 << 9, 1 << 10
# CHARSXP "levels" (gp bits)
BYTES_MASK, LATIN1_MASK, UTF8_MASK, ASCII_MASK = 1 << 1, 1 << 2, 1 << 3, 1 << 6

NA_INTEGER = -(2 ** 31)

TYPE_NAMES = {
    NILSXP: "NILSXP", SYMSXP: "SYMSXP", LISTSXP: "LISTSXP", CLOSXP: "CLOSXP",
    ENVSXP: "ENVSXP", PROMSXP: "PROMSXP", LANGSXP: "LANGSXP",
    SPECIALSXP: "SPECIALSXP", BUILTINSXP: "BUILTINSXP", CHARSXP: "CHARSXP",
    LGLSXP: "LGLSXP", INTSXP: "INTSXP", REALSXP: "REALSXP", CPLXSXP: "CPLXSXP",
    STRSXP: "STRSXP", DOTSXP: "DOTSXP", VECSXP: "VECSXP", EXPRSXP: "EXPRSXP",
    BCODESXP: "BCODESXP", EXTPTRSXP: "EXTPTRSXP", WEAKREFSXP: "WEAKREFSXP",
    RAWSXP: "RAWSXP", S4SXP: "S4SXP", REFSXP: "REFSXP", ALTREP_SXP: "ALTREP_SXP",
    PERSISTSXP: "PERSISTSXP", PACKAGESXP: "PACKAGESXP", NAMESPACESXP: "NAMESPACESXP",
}


class RSymbol:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "RSymbol(%r)" % self.name


class RSpecial:
    """A sentinel of the stream (R_NilValue is None; these are the others)."""
    __slots__ = ("what",)

    def __init__(self, what):
        self.what = what

    def __repr__(self):
        return "<R %s>" % self.what


class RObject:
    """A vector or pair list: rtype, values (a list), attributes (dict name ->
    value). A pair list's values are its elements and `tags` their tags
    (None where untagged)."""
    __slots__ = ("rtype", "values", "attributes", "tags")

    def __init__(self, rtype, values, attributes=None, tags=None):
        self.rtype = rtype
        self.values = values
        self.attributes = attributes or {}
        self.tags = tags

    def __repr__(self):
        head = self.values[:3]
        return "RObject(%s, n=%d, %r..., attrs=%s)" % (
            TYPE_NAMES.get(self.rtype, self.rtype), len(self.values), head,
            sorted(self.attributes))


class RReader:
    """Reads one object of R's serialization format 'X\\n' (XDR, versions 2
    and 3). Supported: NULL, symbols, pair lists (with attributes and tags),
    CHARSXP (UTF-8, latin1, bytes, ASCII, native; NA_STRING -> None), STRSXP,
    LGLSXP, INTSXP, REALSXP, CPLXSXP, RAWSXP, VECSXP, EXPRSXP, references,
    environments and persistent names (as opaque placeholders), the ALTREP
    compact sequences and wrappers. Anything else raises CorpusError."""

    def __init__(self, data: bytes, where: str):
        self.data = data
        self.pos = 0
        self.where = where
        self.refs = []
        self.native_encoding = None  # from a version-3 header

    def fail(self, msg):
        raise CorpusError("%s: %s (at byte %d of the serialized object)" % (self.where, msg, self.pos))

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            self.fail("truncated R serialization: wanted %d bytes, %d left" % (n, len(self.data) - self.pos))
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def int(self):
        return struct.unpack(">i", self.take(4))[0]

    def length(self):
        n = self.int()
        if n == -1:
            hi, lo = struct.unpack(">II", self.take(8))
            n = (hi << 32) + lo
        if n < 0:
            self.fail("negative vector length %d" % n)
        return n

    def header(self):
        fmt = self.take(2)
        if fmt != b"X\n":
            if fmt in (b"A\n", b"B\n"):
                self.fail("R serialization format %r (ASCII or native binary) is not supported; only XDR ('X')" % fmt)
            self.fail("not an R XDR serialization (starts with %r, expected b'X\\n')" % fmt)
        version = self.int()
        self.int()  # writer's R version
        self.int()  # minimal reader's R version
        if version == 3:
            n = self.int()
            enc = self.take(n).decode("ascii", "replace")
            self.native_encoding = {"UTF-8": "utf-8", "utf8": "utf-8", "latin1": "latin-1",
                                    "ISO-8859-1": "latin-1"}.get(enc, enc)
        elif version != 2:
            self.fail("R serialization version %d (expected 2 or 3)" % version)

    def unserialize(self):
        self.header()
        obj = self.item()
        return obj

    # -- items ---------------------------------------------------------------

    def charsxp(self, levels):
        n = self.int()
        if n == -1:
            return None  # NA_STRING
        raw = self.take(n)
        if levels & UTF8_MASK:
            enc = "utf-8"
        elif levels & LATIN1_MASK:
            enc = "latin-1"
        elif levels & ASCII_MASK:
            enc = "ascii"
        elif levels & BYTES_MASK:
            enc = "latin-1"  # raw bytes: map byte for byte
        elif self.native_encoding is None:
            # version 2 streams do not say the writer's encoding: UTF-8 when
            # the bytes are valid UTF-8 (ASCII included), else latin-1
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                return raw.decode("latin-1")
        else:
            enc = self.native_encoding
        try:
            return raw.decode(enc)
        except (UnicodeDecodeError, LookupError) as e:
            self.fail("a string is not valid %s: %s" % (enc, e))

    def attributes_of(self, pairlist):
        """An attribute pair list -> dict tag name -> value."""
        if pairlist is None:
            return {}
        if not isinstance(pairlist, RObject) or pairlist.rtype != LISTSXP:
            self.fail("attributes are not a pair list")
        out = {}
        for tag, value in zip(pairlist.tags, pairlist.values):
            name = tag.name if isinstance(tag, RSymbol) else str(tag)
            out[name] = value
        return out

    def pairlist(self, flags):
        """A LISTSXP / LANGSXP / ... chain, read iteratively (long lists
        would overflow Python's recursion otherwise)."""
        rtype = flags & 0xFF
        values, tags = [], []
        attributes = None
        first = True
        while True:
            has_attr = flags & HAS_ATTR_BIT
            has_tag = flags & HAS_TAG_BIT
            attr = self.item() if has_attr else None
            if first:
                attributes = self.attributes_of(attr)
                first = False
            tag = self.item() if has_tag else None
            values.append(self.item())
            tags.append(tag)
            # the cdr: continue the loop when it is another cell of a pair list
            flags = self.int()
            t = flags & 0xFF
            if t in (LISTSXP, ATTRLISTSXP) and rtype in (LISTSXP, ATTRLISTSXP):
                continue
            cdr = self.item_with_flags(flags)
            if cdr is not None:
                # a dotted pair (or a LANGSXP's argument list of another type)
                values.append(cdr)
                tags.append(None)
            break
        return RObject(LISTSXP if rtype == ATTRLISTSXP else rtype, values, attributes, tags)

    def altrep(self):
        info = self.item()
        state = self.item()
        attr = self.item()
        if not isinstance(info, RObject) or info.rtype != LISTSXP or not info.values \
                or not isinstance(info.values[0], RSymbol):
            self.fail("malformed ALTREP class information")
        cls = info.values[0].name
        attributes = self.attributes_of(attr)
        if cls == "compact_intseq" or cls == "compact_realseq":
            if not isinstance(state, RObject) or state.rtype != REALSXP or len(state.values) != 3:
                self.fail("malformed %s state" % cls)
            n, n1, inc = state.values
            n = int(n)
            if cls == "compact_intseq":
                vals = [int(n1) + int(inc) * i for i in range(n)]
                return RObject(INTSXP, vals, attributes)
            return RObject(REALSXP, [n1 + inc * i for i in range(n)], attributes)
        if cls.startswith("wrap_"):
            # state: list(x, metadata)
            if not isinstance(state, RObject) or state.rtype != VECSXP or len(state.values) < 1:
                self.fail("malformed %s state" % cls)
            inner = state.values[0]
            if not isinstance(inner, RObject):
                self.fail("malformed %s payload" % cls)
            merged = dict(inner.attributes)
            merged.update(attributes)
            return RObject(inner.rtype, inner.values, merged)
        if cls == "deferred_string":
            # state: pairlist(argument vector, scalar info); the strings are
            # as.character() of integers (doubles would need R's formatting)
            arg = state.values[0] if isinstance(state, RObject) and state.values else None
            if isinstance(arg, RObject) and arg.rtype == INTSXP:
                return RObject(STRSXP, [None if v == NA_INTEGER else str(v) for v in arg.values], attributes)
            self.fail("ALTREP deferred_string of a non-integer vector is not supported")
        self.fail("unsupported ALTREP class '%s'" % cls)

    def item(self):
        return self.item_with_flags(self.int())

    def item_with_flags(self, flags):
        t = flags & 0xFF
        levels = flags >> 12
        has_attr = flags & HAS_ATTR_BIT
        if t == NILVALUE_SXP:
            return None
        if t in (EMPTYENV_SXP, BASEENV_SXP, GLOBALENV_SXP, UNBOUNDVALUE_SXP,
                 MISSINGARG_SXP, BASENAMESPACE_SXP):
            return RSpecial(TYPE_NAMES.get(t, "special %d" % t))
        if t == REFSXP:
            i = flags >> 8
            if i == 0:
                i = self.int()
            if not 1 <= i <= len(self.refs):
                self.fail("reference %d out of range (%d known)" % (i, len(self.refs)))
            return self.refs[i - 1]
        if t == PERSISTSXP:
            self.int()  # InStringVec: a 0, then a STRSXP-like list
            names = [self.item() for _ in range(self.int())]
            obj = RSpecial("persistent %r" % (names,))
            self.refs.append(obj)
            return obj
        if t == SYMSXP:
            name = self.item()
            if not isinstance(name, str):
                self.fail("a symbol's name is not a string")
            sym = RSymbol(name)
            self.refs.append(sym)
            return sym
        if t in (PACKAGESXP, NAMESPACESXP):
            self.int()
            names = [self.item() for _ in range(self.int())]
            obj = RSpecial("%s %r" % (TYPE_NAMES[t], names))
            self.refs.append(obj)
            return obj
        if t == ENVSXP:
            self.int()  # locked
            env = RSpecial("environment")
            self.refs.append(env)
            self.item()  # enclosure
            self.item()  # frame
            self.item()  # hash table
            self.item()  # attributes
            return env
        if t in (LISTSXP, LANGSXP, CLOSXP, PROMSXP, DOTSXP, ATTRLISTSXP, ATTRLANGSXP):
            return self.pairlist(flags)
        if t == ALTREP_SXP:
            return self.altrep()
        if t == CHARSXP:
            s = self.charsxp(levels)
            if has_attr:
                self.item()  # old streams: ignored, as R does
            return s
        if t in (SPECIALSXP, BUILTINSXP):
            n = self.int()
            obj = RSpecial("builtin %s" % self.take(n).decode("ascii", "replace"))
        elif t in (LGLSXP, INTSXP):
            n = self.length()
            obj = RObject(t, list(struct.unpack(">%di" % n, self.take(4 * n))))
        elif t == REALSXP:
            n = self.length()
            obj = RObject(t, list(struct.unpack(">%dd" % n, self.take(8 * n))))
        elif t == CPLXSXP:
            n = self.length()
            v = struct.unpack(">%dd" % (2 * n), self.take(16 * n))
            obj = RObject(t, [complex(v[2 * i], v[2 * i + 1]) for i in range(n)])
        elif t == RAWSXP:
            n = self.length()
            obj = RObject(t, [self.take(n)])
        elif t == STRSXP:
            n = self.length()
            vals = []
            for _ in range(n):
                f = self.int()
                if f & 0xFF != CHARSXP:
                    self.fail("a character vector holds a %s, not a CHARSXP" % TYPE_NAMES.get(f & 0xFF, f & 0xFF))
                vals.append(self.item_with_flags(f))
            obj = RObject(t, vals)
        elif t in (VECSXP, EXPRSXP):
            n = self.length()
            obj = RObject(t, [self.item() for _ in range(n)])
        elif t == S4SXP:
            obj = RObject(t, [])
        else:
            self.fail("unexpected R type %s (%d)" % (TYPE_NAMES.get(t, "unknown"), t))
        if has_attr:
            attr = self.item()
            if isinstance(obj, RObject):
                obj.attributes = self.attributes_of(attr)
        return obj


def decompress_block(blob: bytes, where: str, compressed) -> bytes:
    """A lazy-load DB record: 4-byte big-endian length, then the stream
    (zlib when compressed is TRUE/1; with 2 or 3 a type byte follows the
    length: '0' none, '1' zlib, '2' bzip2, 'Z' xz)."""
    if len(blob) < 5:
        raise CorpusError("%s: a record of %d bytes is too short" % (where, len(blob)))
    want = struct.unpack(">I", blob[:4])[0]
    try:
        if compressed in (2, 3):
            kind = blob[4:5]
            body = blob[5:]
            if kind == b"0":
                out = body
            elif kind == b"1":
                out = zlib.decompress(body)
            elif kind == b"2":
                out = bz2.decompress(body)
            elif kind == b"Z":
                out = lzma.decompress(body, format=lzma.FORMAT_XZ)
            else:
                raise CorpusError("%s: unknown compression type %r" % (where, kind))
        else:
            out = zlib.decompress(blob[4:])
    except (zlib.error, OSError, lzma.LZMAError, EOFError) as e:
        raise CorpusError("%s: cannot decompress a record: %s" % (where, e))
    if len(out) != want:
        raise CorpusError("%s: a record decompresses to %d bytes, its header says %d" % (where, len(out), want))
    return out


def read_lazyload_db(folder: str, name: str = "Rdata") -> dict:
    """The variables of an R lazy-load database <folder>/<name>.rdx/.rdb as a
    dict name -> RObject."""
    rdx = os.path.join(folder, name + ".rdx")
    rdb = os.path.join(folder, name + ".rdb")
    for f in (rdx, rdb):
        if not os.path.isfile(f):
            raise CorpusError("%s: file missing (expected an R lazy-load database: "
                              "the data/ folder of an unpacked r-cran-janeaustenr)" % f)
    with open(rdx, "rb") as fh:
        raw = fh.read()
    # The index is saveRDS()-style: gzip file; accept a bare zlib stream with
    # a length prefix too.
    try:
        if raw[:2] == b"\x1f\x8b":
            index_bytes = gzip.decompress(raw)
        elif raw[:2] == b"X\n":
            index_bytes = raw
        else:
            index_bytes = decompress_block(raw, rdx, True)
    except (OSError, EOFError, CorpusError) as e:
        raise CorpusError("%s: not an R lazy-load index (neither gzip, zlib nor an R serialization: %s)"
                          % (rdx, str(e).replace(rdx + ": ", "")))
    index = RReader(index_bytes, rdx).unserialize()
    if not isinstance(index, RObject) or index.rtype != VECSXP or "names" not in index.attributes:
        raise CorpusError("%s: not an R lazy-load index (expected a named list)" % rdx)
    parts = dict(zip(index.attributes["names"].values, index.values))
    if "variables" not in parts:
        raise CorpusError("%s: not an R lazy-load index (no 'variables' entry)" % rdx)
    variables = parts["variables"]
    compressed = parts.get("compressed")
    comp = 1  # TRUE: zlib; 2: bzip2, 3: xz (with a type byte per record)
    if isinstance(compressed, RObject) and compressed.values:
        comp = int(compressed.values[0])
    if not isinstance(variables, RObject) or variables.rtype != VECSXP:
        raise CorpusError("%s: 'variables' is not a list" % rdx)
    names = variables.attributes.get("names")
    if names is None:
        raise CorpusError("%s: 'variables' has no names" % rdx)
    with open(rdb, "rb") as fh:
        db = fh.read()
    out = {}
    for var, key in zip(names.values, variables.values):
        if not isinstance(key, RObject) or key.rtype not in (INTSXP, REALSXP) or len(key.values) != 2:
            raise CorpusError("%s: the index entry of '%s' is not (offset, length)" % (rdx, var))
        off, n = (int(v) for v in key.values)
        if off < 0 or n < 0 or off + n > len(db):
            raise CorpusError("%s: '%s' lies at bytes %d..%d, beyond the file's %d bytes"
                              % (rdb, var, off, off + n, len(db)))
        where = "%s (variable '%s')" % (rdb, var)
        out[var] = RReader(decompress_block(db[off:off + n], where, comp), where).unserialize()
    return out


# ---------------------------------------------------------------------------
# The novels

NOVELS = [  # (variable, title), publication order (the package's order)
    ("sensesensibility", "Sense and Sensibility"),
    ("prideprejudice", "Pride and Prejudice"),
    ("mansfieldpark", "Mansfield Park"),
    ("emma", "Emma"),
    ("northangerabbey", "Northanger Abbey"),
    ("persuasion", "Persuasion"),
]

HEADING_RE = re.compile(r"^(?:chapter|volume)\s+(?:[0-9]+|[ivxlc]+)\.?$", re.IGNORECASE)


def read_novels(folder: str):
    data_dir = os.path.join(folder, "data")
    db = read_lazyload_db(data_dir)
    where = os.path.join(data_dir, "Rdata.rdb")
    novels = []
    for var, title in NOVELS:
        obj = db.get(var)
        if obj is None:
            raise CorpusError("%s: no variable '%s' (found: %s)" % (where, var, ", ".join(sorted(db))))
        if not isinstance(obj, RObject) or obj.rtype != STRSXP:
            raise CorpusError("%s: '%s' is a %s, expected a character vector"
                              % (where, var, TYPE_NAMES.get(getattr(obj, "rtype", None), type(obj).__name__)))
        lines = ["" if s is None else s for s in obj.values]
        novels.append((var, title, lines))
    return novels


def paragraphs_to_documents(lines):
    """Printed lines -> documents (lists of paragraphs). Paragraphs are runs of
    non-empty lines joined by single spaces (inner runs of spaces collapsed,
    ends stripped); a chapter or volume heading starts a new document unless
    the document so far holds only headings ("VOLUME II", "CHAPTER I")."""
    docs, doc, para = [], [], []

    def end_paragraph():
        if para:
            doc.append(" ".join(para))
            para.clear()

    for line in lines:
        text = " ".join(line.split())
        if not text:
            end_paragraph()
            continue
        if HEADING_RE.match(text):
            end_paragraph()
            if doc and not all(HEADING_RE.match(p) for p in doc):
                docs.append(list(doc))
                doc.clear()
        para.append(text)
    end_paragraph()
    if doc:
        docs.append(list(doc))
    return docs


def novel_cut(lines):
    """Index of the first held-out line: n - round-half-up(n * 5 / 100),
    moved forward to the next empty line (paragraph break)."""
    n = len(lines)
    k = (n * 5 + 50) // 100
    cut = n - k
    while cut < n and lines[cut].strip():
        cut += 1
    return cut


# ---------------------------------------------------------------------------
# WordNet

# lexnames(5WN): the 45 lexicographer files
LEXNAMES = [
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal",
    "noun.artifact", "noun.attribute", "noun.body", "noun.cognition",
    "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
    "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon",
    "noun.plant", "noun.possession", "noun.process", "noun.quantity", "noun.relation",
    "noun.shape", "noun.state", "noun.substance", "noun.time", "verb.body",
    "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather",
    "adj.ppl",
]
assert len(LEXNAMES) == 45

WORDNET_FILES = [("data.noun", "n"), ("data.verb", "v"), ("data.adj", "as"), ("data.adv", "r")]

# the '"' that opens an example: after ; : , ) or 'e.g.' / 'as in' (spaces aside)
EXAMPLE_START_RE = re.compile(r'(?:[;:,)]|\be\.g\.|\bas in)\s*"')
# what a cut leaves dangling at the end: separators, '(' and 'e.g.' / 'as in'
DANGLING_RE = re.compile(r'(?:[\s;:,(]+|\be\.g\.|\bas in)$')
# a final quoted part after a plain word is an example too, unless the word
# announces a quoted term ('in the phrase "the call of duty"')
TRAILING_QUOTE_RE = re.compile(r'(\w+)\s+"[^"]*"$')
TERM_WORDS = {"phrase", "expression", "word", "term", "words", "terms"}


def clean_gloss(gloss: str) -> str:
    """The definition part of a gloss: everything before the first example.

    1. Cut at the first '"' that opens an example (EXAMPLE_START_RE),
       keeping a ')' before it: '(of a ball) "..."' -> '(of a ball)'.
    2. A final '"..."' after a plain word is an example without separator
       ('woven of worsted yarns "he wore a worsted suit"'), but not after
       phrase / expression / word / term.
    3. An unbalanced final '"' is an example that lost its opening quote:
       the last ';' part goes ('close in; darkness enclosed him"'), or only
       the stray quote when there is no ';'.
    4. Dangling separators, '(' and 'e.g.' / 'as in' at the end go, and runs
       of spaces become one space.
    """
    m = EXAMPLE_START_RE.search(gloss)
    if m:
        end = m.start() + (1 if gloss[m.start()] == ")" else 0)
        gloss = gloss[:end]
    gloss = gloss.rstrip()
    m = TRAILING_QUOTE_RE.search(gloss)
    if m and m.group(1).lower() not in TERM_WORDS:
        gloss = gloss[:m.start(1) + len(m.group(1))]
    if gloss.count('"') % 2 == 1 and gloss.endswith('"'):
        head, sep, _ = gloss.rpartition(";")
        gloss = head if sep and '"' not in gloss[len(head):-1] else gloss[:-1]
    prev = None
    while prev != gloss:
        prev = gloss
        gloss = DANGLING_RE.sub("", gloss)
    return " ".join(gloss.split())


def read_wordnet(folder: str):
    """[(key, lexnum, gloss)] in file order; key = pos letter + offset."""
    out = []
    for fname, letters in WORDNET_FILES:
        path = os.path.join(folder, fname)
        if not os.path.isfile(path):
            raise CorpusError("%s: file missing (install wordnet-base: apt-get install wordnet-base)" % path)
        with open(path, "rb") as fh:
            raw = fh.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise CorpusError("%s: not UTF-8/ASCII text: %s" % (path, e))
        for no, line in enumerate(text.split("\n"), 1):
            if not line or line.startswith("  "):
                continue  # end of file or the licence header
            head, sep, gloss = line.partition(" | ")
            fields = head.split(" ")
            if not sep or len(fields) < 4 or not re.fullmatch(r"[0-9]{8}", fields[0]) \
                    or not re.fullmatch(r"[0-9]{2}", fields[1]) or fields[2] not in letters:
                raise CorpusError("%s:%d: not a WordNet data line: %r" % (path, no, line[:80]))
            lexnum = int(fields[1])
            if lexnum >= len(LEXNAMES):
                raise CorpusError("%s:%d: lexicographer file number %d is not in lexnames(5WN)" % (path, no, lexnum))
            definition = clean_gloss(gloss)
            if not definition:
                raise CorpusError("%s:%d: the gloss has no definition: %r" % (path, no, gloss))
            if "\t" in definition:
                raise CorpusError("%s:%d: the gloss holds a tab" % (path, no))
            out.append((fields[2] + fields[0], lexnum, definition))
    return out


# ---------------------------------------------------------------------------
# Output


def write_atomic(path: str, text: str):
    data = text.encode("utf-8")
    tmp = path + ".tmp.%d" % os.getpid()
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
    return data


def corpus_text(documents):
    """Documents (lists of lines) -> lines, a blank line between documents."""
    return "\n\n".join("\n".join(doc) for doc in documents) + "\n"


def build(janeaustenr: str, wordnet: str, out: str):
    novels = read_novels(janeaustenr)
    glosses = read_wordnet(wordnet)

    train_docs, held_docs = [], []
    for _, _, lines in novels:
        cut = novel_cut(lines)
        train_docs += paragraphs_to_documents(lines[:cut])
        held_docs += paragraphs_to_documents(lines[cut:])

    header = "pos_offset\tlexname_number\tlexname\tgloss"
    tsv = {"train": [header], "test": [header]}
    for key, lexnum, gloss in glosses:
        split = "test" if is_test_gloss(key) else "train"
        tsv[split].append("%s\t%02d\t%s\t%s" % (key, lexnum, LEXNAMES[lexnum], gloss))
        (held_docs if split == "test" else train_docs).append([gloss])

    os.makedirs(out, exist_ok=True)
    files = [
        ("train.txt", corpus_text(train_docs)),
        ("heldout.txt", corpus_text(held_docs)),
        ("glosses_train.tsv", "\n".join(tsv["train"]) + "\n"),
        ("glosses_test.tsv", "\n".join(tsv["test"]) + "\n"),
    ]
    for name, text in files:
        data = write_atomic(os.path.join(out, name), text)
        print("%-18s lines %8d  bytes %9d  sha256 %s" % (
            name, data.count(b"\n"), len(data), hashlib.sha256(data).hexdigest()))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--janeaustenr", help="janeaustenr's R folder (holds data/Rdata.rdx, data/Rdata.rdb)")
    ap.add_argument("--wordnet", default="/usr/share/wordnet", help="folder of WordNet's data.* files")
    ap.add_argument("--out", help="output folder")
    ap.add_argument("--fnv1a", metavar="TEXT", help="print FNV-1a-32 of TEXT's UTF-8 bytes and TEXT's split, then exit")
    ap.add_argument("--dump-novel", metavar="VAR", help="print one novel's lines as read from the R database, then exit")
    args = ap.parse_args(argv)
    try:
        if args.fnv1a is not None:
            h = fnv1a32(args.fnv1a.encode("utf-8"))
            print("%d %s" % (h, "test" if h % 5 == 0 else "train"))
            return 0
        if not args.janeaustenr:
            ap.error("--janeaustenr is required")
        if args.dump_novel:
            for var, _, lines in read_novels(args.janeaustenr):
                if var == args.dump_novel:
                    sys.stdout.write("".join(l + "\n" for l in lines))
                    return 0
            ap.error("no novel '%s' (one of %s)" % (args.dump_novel, ", ".join(v for v, _ in NOVELS)))
        if not args.out:
            ap.error("--out is required")
        build(args.janeaustenr, args.wordnet, args.out)
    except CorpusError as e:
        print("pretraining_corpus.py: %s" % e, file=sys.stderr)
        return 1
    except OSError as e:
        print("pretraining_corpus.py: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
