#!/usr/bin/env python3
"""Reads a ragdb database (format version 1) from Format.md alone; prints one JSON line per chunk.
Usage: format_reader.py DB_DIR    Needs: pip install lmdb lz4 xxhash"""
import json, struct, sys
import lmdb, lz4.block, xxhash

class Bad(Exception): pass

def unframe(v, what):                                  # Format.md "Framed values"
    if len(v) < 16: raise Bad(f"{what}: value shorter than its 16-byte header")
    codec, r1, r2, r3, raw_len, stored_len, checksum = struct.unpack_from("<BBBBIII", v)
    if codec not in (0, 1) or (r1, r2, r3) != (0, 0, 0): raise Bad(f"{what}: bad header")
    if stored_len != len(v) - 16: raise Bad(f"{what}: stored length {stored_len} != {len(v) - 16}")
    payload = bytes(v[16:])
    if codec == 0:
        if raw_len != stored_len: raise Bad(f"{what}: raw codec with raw length != stored length")
        raw = payload
    elif raw_len == 0: raw = b""
    else:
        if raw_len > stored_len * 255 + 16: raise Bad(f"{what}: impossible LZ4 raw length")
        try: raw = lz4.block.decompress(payload, uncompressed_size=raw_len)
        except Exception as e: raise Bad(f"{what}: LZ4: {e}")
        if len(raw) != raw_len: raise Bad(f"{what}: LZ4 gave {len(raw)} bytes, header says {raw_len}")
    if xxhash.xxh32_intdigest(raw, seed=0) != checksum: raise Bad(f"{what}: checksum mismatch")
    return raw

class Reader:                                          # little-endian values, bounds-checked
    def __init__(self, b, what): self.b, self.o, self.what = b, 0, what
    def take(self, n):
        if self.o + n > len(self.b): raise Bad(f"{self.what}: value ends early at byte {self.o}")
        self.o += n; return self.b[self.o - n:self.o]
    def u(self, fmt): return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]
    def s(self, fmt="<I"):
        try: return self.take(self.u(fmt)).decode("utf-8")
        except UnicodeDecodeError: raise Bad(f"{self.what}: invalid UTF-8")
    def metadata(self):                                # Format.md "Metadata block"
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
            if name in out: raise Bad(f"{self.what}: duplicate metadata name")
            out[name] = val
        return out
    def end(self):
        if self.o != len(self.b): raise Bad(f"{self.what}: {len(self.b) - self.o} trailing bytes")

def main(path):
    env = lmdb.open(path, readonly=True, lock=False, max_dbs=16)   # lock=False: no writer may run
    with env.begin() as txn:
        names = {bytes(k).decode() for k, _ in txn.cursor()}  # LMDB main database = table names
        if "meta" not in names:
            raise Bad("not a ragdb database" if names else "no ragdb database here")
        tables = ("meta", "collections", "documents", "chunks", "sources", "collection_counters")
        for n in tables:
            if n not in names: raise Bad(f"lacks the table {n!r}")
        t = {n: env.open_db(n.encode(), txn=txn, create=False) for n in tables}
        v = txn.get(b"format_version", db=t["meta"])
        if v is None or len(v) != 4: raise Bad("no valid format version record")
        if struct.unpack("<I", v)[0] != 1: raise Bad(f"format version {struct.unpack('<I', v)[0]}; this reader reads version 1 only")
        for name, value in txn.cursor(db=t["collections"]):
            name = bytes(name).decode()
            info = json.loads(unframe(value, f"collection {name!r}"))
            cid = info["id"]; prefix = struct.pack(">I", cid)
            docs = {}                                  # doc id -> chunk ids in ordinal order
            cur = txn.cursor(db=t["documents"])
            if cur.set_range(prefix):
                for key, value in cur:
                    if key[:4] != prefix: break
                    doc = key[4:].decode("utf-8"); r = Reader(unframe(value, f"document {doc!r}"), f"document {doc!r}")
                    _fingerprint, _source_len, flags = r.u("<Q"), r.u("<Q"), r.u("<B")
                    if flags & ~3: raise Bad(f"document {doc!r}: unknown flags {flags}")
                    if flags & 2: r.s()                # title
                    r.metadata()
                    docs[doc] = [r.u("<Q") for _ in range(r.u("<I"))]; r.end()
            cur = txn.cursor(db=t["chunks"])
            if not cur.set_range(prefix): continue
            for key, value in cur:
                if key[:4] != prefix: break
                if len(key) != 12: raise Bad(f"chunk key of {len(key)} bytes")
                chunk = struct.unpack(">Q", key[4:])[0]
                r = Reader(unframe(value, f"chunk {chunk}"), f"chunk {chunk}")
                doc, ordinal, start, end, tokens = r.s(), r.u("<I"), r.u("<Q"), r.u("<Q"), r.u("<I")
                r.metadata(); text = r.s(); r.end()
                if start > end: raise Bad(f"chunk {chunk}: span start after end")
                ids = docs.get(doc, [])
                if ordinal >= len(ids) or ids[ordinal] != chunk:
                    raise Bad(f"chunk {chunk}: document {doc!r} does not list it at ordinal {ordinal}")
                print(json.dumps({"collection": name, "chunk": chunk, "doc": doc, "ordinal": ordinal,
                                  "span": [start, end], "tokens": tokens, "text": text}))

if __name__ == "__main__":
    if len(sys.argv) != 2: sys.exit("usage: format_reader.py DB_DIR")
    try: main(sys.argv[1])
    except (Bad, lmdb.Error, ValueError, KeyError) as e: sys.exit(f"format_reader: {sys.argv[1]}: {e}")
