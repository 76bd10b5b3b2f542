#!/usr/bin/env python3
"""Reads a ragdb database of format version 5, written from Format.md alone.

Usage: format_reader.py DB_DIR   (pip install lmdb lz4 xxhash)
Prints one JSON line per chunk, collections by name, chunks by id:
  {"collection", "chunk", "doc", "ordinal", "span": [start, end], "tokens", "text"}
Exits non-zero with a message on the first validation failure (version, header, checksum,
record layout, cross-reference, counters, vector sizes, KV-cache segments).
With --kv, prints instead one JSON line per KV cache: {"profile", "chunk", "variant",
"tokens", "prefix", "sha256"} (sha256 of the tensor bytes in the layout of 5.17)."""
import hashlib, json, math, struct, sys, unicodedata
import lmdb, lz4.block, xxhash

TABLES = ("meta", "collections", "documents", "chunks", "sources", "collection_counters")

class Bad(Exception): pass

CRC32C_TABLE = []                                        # Format.md §2.4: CRC-32C, reflected 0x82F63B78
for _i in range(256):
    _c = _i
    for _ in range(8): _c = (_c >> 1) ^ (0x82F63B78 if _c & 1 else 0)
    CRC32C_TABLE.append(_c)

def crc32c(data):
    c = 0xFFFFFFFF
    for b in data: c = (c >> 8) ^ CRC32C_TABLE[(c ^ b) & 0xFF]
    return c ^ 0xFFFFFFFF

def read_kv(env, txn, names):                            # Format.md §5.17–5.20
    t = {n: env.open_db(n.encode(), txn=txn, create=False) for n in ("kv_profiles", "kv_entries", "kv_segments", "kv_stats")}
    profiles = {}
    for k, v in txn.cursor(db=t["kv_profiles"]):
        r = Reader(bytes(v), "KV profile")
        version, etype, comp, flags = r.u("<B"), r.u("<B"), r.u("<B"), r.u("<B")
        if version != 1 or etype not in (1, 2, 3, 4) or comp not in (0, 1): raise Bad("KV profile: bad header")
        layers, heads, dim, seg, budget = r.u("<I"), r.u("<I"), r.u("<I"), r.u("<I"), r.u("<Q")
        r.u("<d"); r.u("<d"); r.u("<d")
        name = r.s(); r.s(); r.s(); r.s(); r.end()
        width = {1: 2, 2: 2, 3: 4, 4: 1}[etype]
        profiles[struct.unpack(">I", bytes(k))[0]] = dict(name=name, layers=layers, tensor=heads * dim * width, seg=seg, budget=budget, n=0, bytes=0)
    out, segments_seen = [], 0
    for k, v in txn.cursor(db=t["kv_entries"]):
        k, v = bytes(k), bytearray(v)
        pid, chunk, variant = struct.unpack(">IQQ", k)
        p = profiles.get(pid)
        if p is None or len(v) < 96 or v[0] != 1: raise Bad(f"KV cache {pid}/{chunk}/{variant}: no profile or bad record")
        stored_crc = struct.unpack_from("<I", v, 88)[0]; v[88:92] = b"\0\0\0\0"
        if crc32c(v) != stored_crc: raise Bad(f"KV cache {pid}/{chunk}/{variant}: record checksum mismatch")
        flags, tokens, position, seg = v[1], *struct.unpack_from("<III", v, 4)
        raw_total, stored_total = struct.unpack_from("<QQ", v, 16)
        nprefix = struct.unpack_from("<I", v, 84)[0]
        prefix = list(struct.unpack_from(f"<{nprefix}Q", v, 96))
        want = 96 + 8 * nprefix + (4 * nprefix if flags & 4 else 0) + (2 * tokens if flags & 2 else 0)
        if len(v) != want: raise Bad(f"KV cache {pid}/{chunk}/{variant}: record of {len(v)} bytes, {want} expected")
        tensor = tokens * p["tensor"]
        parts = -(-tensor // seg)
        data, stored = bytearray(), len(v)
        for layer in range(p["layers"]):
            for which in (0, 1):
                for part in range(parts):
                    sk = k + struct.pack(">HBH", layer, which, part)
                    sv = txn.get(sk, db=t["kv_segments"])
                    where = f"KV cache {pid}/{chunk}/{variant} layer {layer} tensor {which} part {part}"
                    if sv is None or len(sv) < 16: raise Bad(f"{where}: missing")
                    sv = bytes(sv); stored += len(sv); segments_seen += 1
                    codec, w, _, rawlen, plen, crc = struct.unpack_from("<BBHIII", sv, 0)
                    payload = sv[16:]
                    if plen != len(payload) or rawlen != min(seg, tensor - part * seg): raise Bad(f"{where}: bad lengths")
                    if codec == 0: raw = payload
                    elif codec == 1:
                        sh = lz4.block.decompress(payload, uncompressed_size=rawlen); m = rawlen // w
                        raw = bytes(sh[b * m + i] for i in range(m) for b in range(w))
                    else: raise Bad(f"{where}: codec {codec}")
                    if crc32c(raw) != crc: raise Bad(f"{where}: checksum mismatch")
                    data += raw
        if len(data) != raw_total or stored != stored_total: raise Bad(f"KV cache {pid}/{chunk}/{variant}: sizes do not add up")
        p["n"] += 1; p["bytes"] += stored
        out.append(dict(profile=p["name"], chunk=chunk, variant=variant, tokens=tokens, prefix=prefix, sha256=hashlib.sha256(data).hexdigest()))
    if txn.stat(t["kv_segments"])["entries"] != segments_seen: raise Bad("kv_segments holds segments of no cache")
    for pid, p in profiles.items():
        sv = txn.get(struct.pack(">I", pid), db=t["kv_stats"])
        if sv is None or len(sv) != 80: raise Bad(f"KV profile {p['name']}: no statistics")
        n, b = struct.unpack_from("<QQ", sv, 0)
        if (n, b) != (p["n"], p["bytes"]) or (p["budget"] and b > p["budget"]): raise Bad(f"KV profile {p['name']}: counters or budget do not match")
    return out

def unframe(v, what):                                    # Format.md §"Framed values"
    if len(v) < 16: raise Bad(f"{what}: value shorter than its 16-byte header")
    codec, r1, r2, r3, raw_len, stored_len, checksum = struct.unpack_from("<4B3I", v)
    if codec not in (0, 1): raise Bad(f"{what}: unknown codec {codec}")
    if (r1, r2, r3) != (0, 0, 0): raise Bad(f"{what}: reserved header bytes are not zero")
    if stored_len != len(v) - 16: raise Bad(f"{what}: stored length {stored_len} != {len(v) - 16}")
    payload = bytes(v[16:])
    if codec == 0:
        if raw_len != stored_len: raise Bad(f"{what}: raw codec with raw length != stored length")
        raw = payload
    else:
        if raw_len == 0 or stored_len == 0 or raw_len > stored_len * 255 + 16: raise Bad(f"{what}: impossible LZ4 raw length")
        try: raw = lz4.block.decompress(payload, uncompressed_size=raw_len)
        except Exception as e: raise Bad(f"{what}: LZ4: {e}")
        if len(raw) != raw_len: raise Bad(f"{what}: LZ4 gave {len(raw)} bytes, header says {raw_len}")
    if xxhash.xxh32_intdigest(raw, seed=0) != checksum: raise Bad(f"{what}: checksum mismatch")
    return raw

class Reader:                                            # little-endian, bounds-checked
    def __init__(self, b, what): self.b, self.o, self.what = b, 0, what
    def take(self, n):
        if self.o + n > len(self.b): raise Bad(f"{self.what}: value ends early at byte {self.o}")
        self.o += n; return self.b[self.o - n:self.o]
    def u(self, fmt): return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]
    def s(self, fmt="<I"):                               # string32 (or string16 with "<H")
        try: return self.take(self.u(fmt)).decode("utf-8")
        except UnicodeDecodeError: raise Bad(f"{self.what}: invalid UTF-8")
    def metadata(self):                                  # Format.md §"Metadata block"
        out = {}
        for _ in range(self.u("<H")):
            name, tag = self.s("<H"), self.u("<B")
            if tag == 1: val = self.s()
            elif tag == 2: val = self.u("<q")
            elif tag == 3: val = self.u("<d")
            elif tag == 4:
                val = self.u("<B")
                if val > 1: raise Bad(f"{self.what}: bool metadata value {val}")
                val = val == 1
            elif tag == 5: val = [self.s() for _ in range(self.u("<I"))]
            else: raise Bad(f"{self.what}: unknown metadata type tag {tag}")
            if name in out: raise Bad(f"{self.what}: duplicate metadata name {name!r}")
            out[name] = val
        return out
    def end(self):
        if self.o != len(self.b): raise Bad(f"{self.what}: {len(self.b) - self.o} trailing bytes")

def scan(txn, db, prefix):                               # entries whose key starts with prefix
    cur = txn.cursor(db=db)
    if cur.set_range(prefix):
        for key, value in cur:
            if bytes(key[:len(prefix)]) != prefix: break
            yield bytes(key), value

def main(path, kv=False):
    env = lmdb.open(path, readonly=True, lock=False, max_dbs=32)  # lock=False: no writer may run
    with env.begin() as txn:
        names = {bytes(k).decode("utf-8", "replace") for k, _ in txn.cursor()}  # the table names
        if "meta" not in names: raise Bad("not a ragdb database" if names else "empty LMDB environment")
        meta = env.open_db(b"meta", txn=txn, create=False)
        v = txn.get(b"format_version", db=meta)
        if v is None or len(v) != 4: raise Bad("no valid format version record")
        version = struct.unpack("<I", v)[0]
        if version != 5: raise Bad(f"format version {version}; this reader reads version 5 only"
                                   + (" (written by a newer ragdb)" if version > 5 else ""))
        for n in TABLES + ("kv_profiles", "kv_entries", "kv_segments", "kv_stats", "metadata_index", "metadata_stats"):
            if n not in names: raise Bad(f"lacks the table {n!r}")
        caches = read_kv(env, txn, names)
        if kv:
            for c in caches: print(json.dumps(c, sort_keys=True))
            return
        t = {n: env.open_db(n.encode(), txn=txn, create=False) for n in TABLES + ("vectors", "dense_models", "dense_codes", "ngram_segments", "ngram_dead", "ngram_pending",
                                                                                "chunk_tokens", "ngram_token_segments", "ngram_token_dead", "ngram_token_pending") if n in names}
        nc, ncol = txn.get(b"next_chunk_id", db=meta), txn.get(b"next_collection_id", db=meta)
        if nc is None or len(nc) != 8 or ncol is None or len(ncol) != 4: raise Bad("bad meta id records")
        next_chunk, next_collection = struct.unpack("<Q", nc)[0], struct.unpack("<I", ncol)[0]
        entries = dict.fromkeys(t, 0)                    # entries seen per table, to find orphans
        entries["meta"] = txn.stat(meta)["entries"]
        ids_seen = set()
        for key, value in txn.cursor(db=t["collections"]):
            name = bytes(key).decode("utf-8")
            info = json.loads(unframe(value, f"collection {name!r}"))
            if info["name"] != name: raise Bad(f"collection {name!r}: record names {info['name']!r}")
            if not 1 <= info["id"] < next_collection or info["id"] in ids_seen:
                raise Bad(f"collection {name!r}: bad or duplicate id {info['id']}")
            ids_seen.add(info["id"]); entries["collections"] += 1
            prefix = struct.pack(">I", info["id"])
            docs, sources, found, seen = {}, {}, [0, 0, 0, 0, 0], set()   # found: the five counters
            in_chunk, texts = {}, {}                     # chunk id -> source length (flag bit 2); -> text
            for k, v in scan(txn, t["documents"], prefix):
                doc = k[4:].decode("utf-8"); r = Reader(unframe(v, f"document {doc!r}"), f"document {doc!r}")
                _fingerprint, source_len, flags = r.u("<Q"), r.u("<Q"), r.u("<B")
                if flags & ~7 or flags & 5 == 5: raise Bad(f"document {doc!r}: unknown flags {flags}")
                if flags & 2: r.s()                      # title
                r.metadata()
                docs[doc] = [r.u("<Q") for _ in range(r.u("<I"))]; r.end()
                if flags & 1: sources[doc] = source_len
                if flags & 4:                            # the text is the first chunk's
                    if not docs[doc]: raise Bad(f"document {doc!r}: text in a first chunk, but no chunks")
                    in_chunk[docs[doc][0]] = source_len
                found[0] += 1
            for k, v in scan(txn, t["sources"], prefix):
                doc = k[4:].decode("utf-8"); raw = unframe(v, f"source {doc!r}"); raw.decode("utf-8")
                if sources.pop(doc, None) != len(raw): raise Bad(f"source {doc!r}: unclaimed or wrong length")
                found[4] += len(raw); entries["sources"] += 1
            if sources: raise Bad(f"documents {sorted(sources)[:3]} lack their stored source")
            for k, v in scan(txn, t["chunks"], prefix):
                if len(k) != 12: raise Bad(f"chunk key of {len(k)} bytes")
                chunk = struct.unpack(">Q", k[4:])[0]
                if not 1 <= chunk < next_chunk: raise Bad(f"chunk {chunk}: id not below next_chunk_id")
                r = Reader(unframe(v, f"chunk {chunk}"), f"chunk {chunk}")
                doc, ordinal, start, end, tokens = r.s(), r.u("<I"), r.u("<Q"), r.u("<Q"), r.u("<I")
                r.metadata(); text = r.s(); r.end()
                if start > end or end - start != len(text.encode()): raise Bad(f"chunk {chunk}: span does not fit its text")
                if chunk in in_chunk and (start, end) != (0, in_chunk[chunk]): raise Bad(f"chunk {chunk}: holds a source but spans {start}..{end}")
                ids = docs.get(doc, [])
                if ordinal >= len(ids) or ids[ordinal] != chunk:
                    raise Bad(f"chunk {chunk}: document {doc!r} does not list it at ordinal {ordinal}")
                found[1] += 1; found[2] += len(text.encode()); found[3] += len(v); seen.add(chunk); texts[chunk] = text
                print(json.dumps({"collection": name, "chunk": chunk, "doc": doc, "ordinal": ordinal,
                                  "span": [start, end], "tokens": tokens, "text": text}))
            if found[1] != sum(len(ids) for ids in docs.values()): raise Bad(f"{name}: listed chunks missing")
            c = txn.get(prefix, db=t["collection_counters"])
            if c is not None and len(c) != 40: raise Bad(f"collection {name!r}: counters of {len(c)} bytes")
            stored = list(struct.unpack("<5Q", c)) if c is not None else [0] * 5   # absent = all zero
            entries["collection_counters"] += c is not None
            entries["documents"] += found[0]; entries["chunks"] += found[1]
            if stored != found: raise Bad(f"collection {name!r}: counters {stored} but found {found}")
            spaces = info["settings"]["spaces"]             # Format.md §"vectors" (table may be absent)
            for k, v in (scan(txn, t["vectors"], prefix) if "vectors" in t else ()):
                if len(k) != 14: raise Bad(f"vector key of {len(k)} bytes")
                space, chunk = struct.unpack(">HQ", k[4:])
                if space >= len(spaces): raise Bad(f"vector of chunk {chunk}: no space {space}")
                d, kind = spaces[space]["dimensions"], spaces[space]["element_type"]
                fmt = {"float32": f"<{d}f", "float16": f"<{d}e", "int8": f"<f{d}b"}[kind]  # int8: scale, bytes
                if len(v) != struct.calcsize(fmt): raise Bad(f"vector of chunk {chunk}: {len(v)} bytes")
                if not all(map(math.isfinite, struct.unpack(fmt, v))):
                    raise Bad(f"vector of chunk {chunk}: not finite")
                if chunk not in seen: raise Bad(f"vector of chunk {chunk}, which does not exist")
                entries["vectors"] += 1
            for k, v in scan(txn, t["dense_models"], prefix):   # Format.md §"dense_models"
                space = struct.unpack(">H", k[4:6])[0]
                r = Reader(unframe(v, f"dense model of space {space}"), f"dense model of space {space}")
                layout, kind, metric, _, d, lists, _ = r.u("<B"), r.u("<B"), r.u("<B"), r.u("<B"), r.u("<I"), r.u("<I"), r.u("<I")
                if layout != 1 or kind not in (1, 2, 3, 4) or metric not in (1, 2, 3): raise Bad(f"dense model of space {space}: bad header")
                if space >= len(spaces) or d != spaces[space]["dimensions"] or not 1 <= lists <= 1 << 20:
                    raise Bad(f"dense model of space {space}: {d} dimensions, {lists} lists")
                if kind == 3:
                    sub = r.u("<I")
                    if sub == 0 or d % sub: raise Bad(f"dense model of space {space}: sub-vectors of {sub}")
                    r.take(1024 * d)
                elif kind == 4:
                    axes, first = r.u("<I"), r.u("<I")
                    if not 1 <= first <= axes <= d: raise Bad(f"dense model of space {space}: {axes} axes, {first} first")
                    r.take(4 * d + 4 * axes + axes * d + 8 * axes)
                else: r.take(8 * d)
                r.take(4 * d * lists); r.end()
                size = 8 + {1: 8 * ((d + 63) // 64), 2: d, 3: d // sub if kind == 3 else 0, 4: axes if kind == 4 else 0}[kind]
                for ck, cv in scan(txn, t["dense_codes"], k):   # Format.md §"dense_codes"
                    chunk = struct.unpack(">Q", ck[6:])[0]
                    if len(ck) != 14 or len(cv) != size or struct.unpack("<I", cv[:4])[0] >= lists:
                        raise Bad(f"dense code of chunk {chunk} in space {space}: bad size or list")
                    if txn.get(ck, db=t["vectors"]) is None: raise Bad(f"dense code of chunk {chunk} without a vector")
                    entries["dense_codes"] += 1
                entries["dense_models"] += 1
            tokens = {}                                          # Format.md §"chunk_tokens"
            for k, v in scan(txn, t["chunk_tokens"], prefix):
                chunk, r = struct.unpack(">Q", k[4:])[0], Reader(unframe(v, "chunk tokens"), "chunk tokens")
                m = r.u("<I")
                if 4 * m != len(r.b) - 4: raise Bad(f"tokens of chunk {chunk}: {m} ids in {len(r.b)} bytes")
                tokens[chunk] = list(struct.unpack(f"<{m}I", r.take(4 * m))); r.end()
                if chunk not in seen: raise Bad(f"tokens of chunk {chunk}, which does not exist")
                entries["chunk_tokens"] += 1
            norm = (info["settings"].get("ngram_index") or {}).get("normalization")
            for seg_table, dead_table, alphabet in (("ngram_segments", "ngram_dead", 0), ("ngram_token_segments", "ngram_token_dead", 1)):
              dead = {struct.unpack(">Q", k[4:])[0] for k, _ in scan(txn, t[dead_table], prefix)}
              for k, v in scan(txn, t[seg_table], prefix):   # Format.md §"ngram_segments", §"ngram_token_segments"
                r = Reader(unframe(v, "n-gram segment"), "n-gram segment")
                layout, kind, _, rate, n, c, sigma, bits = (r.u(f) for f in ("<B", "<B", "<H", "<I", "<Q", "<I", "<I", "<Q"))
                if layout != 2 or kind != alphabet or not 1 <= rate <= 65536 or not (3 <= sigma <= 258 if kind == 0 else 2 <= sigma <= n + 1) or c < 1 or bits < n:
                    raise Bad(f"n-gram segment of collection {name!r}: bad header")
                value_of = r.take(sigma) if kind == 0 else struct.unpack(f"<{sigma}I", r.take(4 * sigma))
                C = struct.unpack(f"<{sigma + 1}Q", r.take(8 * (sigma + 1)))
                if C[0] != 0 or C[sigma] != n: raise Bad("n-gram segment: C does not run from 0 to n")
                ids = struct.unpack(f"<{c}Q", r.take(8 * c))
                begin = struct.unpack(f"<{c}I", r.take(4 * c))
                sep_rows = struct.unpack(f"<{c}I", r.take(4 * c))
                nodes = [struct.unpack("<QQii", r.take(24)) for _ in range(sigma - 1)]
                r.take((64 - (32 + r.o) % 64) % 64)             # zero padding: lines 32 bytes past a 64-byte boundary
                lines = r.take(64 * (bits // 448 + 1))         # the tree's bitvector: 64-byte lines
                samples = struct.unpack(f"<{(n + rate - 1) // rate}I", r.take(4 * ((n + rate - 1) // rate))); r.end()

                def rank1(i):                                   # ones among bits 0..i-1
                    base, b = (i // 448) * 64, i % 448
                    words = struct.unpack_from("<8Q", lines, base)
                    ones = words[0] + sum(bin(w).count("1") for w in words[1:1 + b // 64])
                    return ones + (bin(words[1 + b // 64] & ((1 << (b % 64)) - 1)).count("1") if b % 64 else 0)

                def lf(row):                                    # C[s] + rank(s, row), s = BWT[row]
                    node, i = 0, row
                    while True:
                        start, ones_before, left, right = nodes[node]
                        at = start + i
                        bit = (struct.unpack_from("<Q", lines, (at // 448) * 64 + 8 + (at % 448) // 64 * 8)[0] >> (at % 64)) & 1
                        ones = rank1(at) - ones_before
                        i, child = (ones, right) if bit else (i - ones, left)
                        if child < 0: return C[-child - 1] + i, -child - 1
                        node = child
                for j, chunk in enumerate(ids):                 # each live chunk's text, by LF walks
                    if chunk in dead: continue
                    row, out = sep_rows[j + 1] if j + 1 < c else 0, []
                    for _ in range((begin[j + 1] if j + 1 < c else n - 1) - begin[j] - 1):
                        row, s = lf(row); out.append(value_of[s])
                    text = texts.get(chunk)
                    if text is None: raise Bad(f"n-gram segment holds chunk {chunk}, which is neither live nor dead")
                    if kind == 1:                               # token ids: the chunk's stored tokens
                        if out != tokens.get(chunk, []): raise Bad(f"token segment: chunk {chunk}'s tokens do not read back")
                        continue
                    if norm == "lowercase":                     # Format.md §"ngram_segments": normalised text
                        text = "".join(ch.lower() if len(ch.lower().encode()) == len(ch.encode()) else ch for ch in text)
                    elif norm == "fold":
                        text = "".join(ch.lower() if ch.isascii() else "".join(
                            d.lower() for d in unicodedata.normalize("NFD", ch) if unicodedata.category(d) != "Mn") for ch in text)
                    want = " " + text
                    if bytes(out) != want.encode(): raise Bad(f"n-gram segment: chunk {chunk}'s text does not read back")
                for i in range(0, len(samples), max(1, len(samples) // 64)):  # samples agree with LF walks
                    row, steps = i * rate, 0
                    while True:
                        row, _ = lf(row); steps += 1
                        if row % rate == 0: break
                    if (samples[row // rate] + steps) % n != samples[i]: raise Bad("n-gram segment: SA samples disagree with the BWT")
                entries[seg_table] += 1
            for table in ("ngram_dead", "ngram_pending", "ngram_token_dead", "ngram_token_pending"):  # Format.md 5.14, 5.15, 5.24
                for k, v in scan(txn, t[table], prefix):
                    if len(k) != 12 or len(v) != 0: raise Bad(f"{table} record of {len(k)}/{len(v)} bytes")
                    entries[table] += 1
        for n, count in entries.items():                 # every entry belongs to a catalog collection
            if txn.stat(t[n])["entries"] != count: raise Bad(f"table {n!r} holds entries of no collection")

if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--kv"]
    if len(args) != 1: sys.exit("usage: format_reader.py [--kv] DB_DIR")
    try: main(args[0], kv="--kv" in sys.argv)
    except (Bad, lmdb.Error, ValueError, KeyError, TypeError) as e:
        sys.exit(f"format_reader: {args[0]}: {e}")
