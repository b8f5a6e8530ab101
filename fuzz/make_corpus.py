#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (fuzz/corpus/<target>/): a few dozen small
inputs each. Run from anywhere; rewrites the seed files it owns (named seed-*).
Inputs found by fuzzing are not kept here: `make fuzz` grows a working corpus under
fuzz/target/ and starts from these seeds each time."""
import base64, gzip, hashlib, io, json, os, sys, tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "shared", "vectors", "cache_keys.json")


def write(target, items):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith("seed-"):
            os.remove(os.path.join(d, f))
    for i, data in enumerate(items):
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(d, "seed-%03d" % i), "wb") as f:
            f.write(data)


def canonical(v):
    # Enough of JCS for the ASCII-named, integer/string params used here.
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def key(params):
    return hashlib.sha256(canonical(params).encode()).hexdigest()


def entry(params, data, **extra):
    e = {"cache_key": key(params), "params": params, "data_type": "bytes", "description": "",
         "size": len(data), "content_hash": "sha256:" + hashlib.sha256(data).hexdigest(),
         "created_at": "2026-01-01T00:00:00.000Z", "expires_at": None, "metadata": {}}
    e.update(extra)
    return e


def tar_bytes(members, gz=False):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1767225600
            t.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    # Drop the trailing zero padding past the two end blocks: smaller seeds, still valid tar.
    end = len(raw)
    while end > 1024 and raw[end - 512:end] == b"\0" * 512 and raw[end - 1024:end - 512] == b"\0" * 512 \
            and raw[end - 1536:end - 1024] == b"\0" * 512:
        end -= 512
    raw = raw[:end]
    return gzip.compress(raw, mtime=0) if gz else raw


def keys_corpus():
    items = []
    try:
        vec = json.load(open(SHARED))
        items += [c["params"] for c in vec["cases"]][:25]
        items += [c["params"] if isinstance(c, dict) else c for c in vec["errors"]][:10]
    except OSError:
        pass
    items += ['{"n":1.5e-7}', '{"n":1e21}', '{"n":-0}', '[1,2,{"b":1,"a":2}]', '"\\ud83d\\ude00"',
              '{"\\ufb01":1,"\\ud83d\\ude00":2}', '{"a":{"b":{"c":[null,true,false]}}}', '9007199254740991',
              '{"s":"\\u0000\\u001f\\"\\\\/"}', '0.000001', '123e-2', '{"a":1,"a":2}']
    return items


FILTERS = [
    '{}', '{"params":{"a":1}}', '{"params":{"a":{"$prefix":"ex"}}}', '{"params":{"a":{"$glob":"x*[a-z]?"}}}',
    '{"params":{"a":{"$glob":"[]x]*"}}}', '{"params":{"a":{"$glob":"[^a-]"}}}', '{"params":{"b":{"$exists":true}}}',
    '{"params":{"c":{"$exists":false}}}', '{"params":{"a":{"$in":[1,"x*y",[1,2],{"c":"\\u00e9","b":null}]}}}',
    '{"metadata":{"a":{"b":null,"c":"\\u00e9"}}}', '{"key_prefix":"4"}', '{"data_type":"bytes","min_size":3,"max_size":100}',
    '{"created_before":"2030-01-01T00:00:00Z","created_after":"2000-01-01T00:00:00+02:00"}',
    '{"accessed_before":"2099-12-31T23:59:59.999Z","include_expired":true}', '{"expires_before":"2030-01-01T00:00:00Z"}',
    '{"params":{"":"empty"}}', '{"params":{"a.b":"dot"}}', '{"params":{"s":"a\\u0000b"}}', '{"params":{"z":1.5e300}}',
    '{"params":{"n":-0.5,"a":"exp_001"}}', '{"params":{"a":{"$prefix":""}}}',
    '{"x":1}\0{"params":{"x":1}}', '{"x":"a*"}\0{"x":"b"}\0{"params":{"x":{"$glob":"a\\\\*"}}}',
    '{"t":[1,{"u":2}]}\0{"params":{"t":[1,{"u":2}]}}', '{"f":1.0}\0{"params":{"f":1}}',
    '{"g":"\\u2603"}\0{"params":{"g":{"$glob":"?"}}}', '{"h":true}\0{"params":{"h":{"$in":[true,false]}}}',
    '{"params":{"a":{"$glob":"*","$prefix":"x"}}}', '{"params":{"a":{"$bad":1}}}', '{"metadata":[]}',
    '{"params":{"s":{"$glob":"a?b"}}}', '{"params":{"s":{"$prefix":"a\\u0000"}}}',
    '{"q":[1e+21,"\\u001f",{"b":1,"a":null}]}\0{"params":{"q":[1e21,"\\u001f",{"a":null,"b":1}]}}',
]


def config_corpus():
    mem = '{"metadata":"memory","blobs":"memory"'
    return [
        mem + '}\0{"ttl_seconds":60,"data_type":"text","description":"d","metadata":{"a":1}}\0{"p":1}\0{"ttl_seconds":null}\0{"expected_version":1}\0{"overwrite":true,"metadata":{"x":null}}\0{"limit":1,"order":"key"}\0{"deep":true}\0{"filter":{}}',
        mem + ',"default_ttl_seconds":0.5,"max_size_bytes":1000,"inline_max_bytes":10}\0{}\0{"p":[1]}',
        mem + ',"default_ttl_seconds":null,"namespace":"ns-1.x_y"}\0{"ttl_seconds":1e300}',
        mem + ',"durability":"full","verify_on_read":true}\0{"metadata":[]}',
        mem + ',"signing_key":"' + "ab" * 32 + '"}\0{"description":""}\0{"a":"b"}\0{"ttl_seconds":-1}',
        mem + ',"signing_key":"zz"}', mem + ',"max_size_bytes":0}', mem + ',"namespace":"../x"}',
        mem + ',"durability":"sometimes"}', mem + ',"unknown":1}', '{"metadata":"memory"}', '{"blobs":"memory"}',
        mem + '}\0\0\0{"ttl_seconds":"x"}\0{"expected_version":-1}\0{"overwrite":1}\0{"limit":0}\0{"dry_run":true}\0{"compress":true}',
        mem + '}\0{"ttl_seconds":1e-9}\0{"k":1}\0\0\0\0{"cursor":"eyJvIjoia2V5IiwidiI6bnVsbCwiayI6IiJ9"}',
        mem + '}\0{}\0{}\0{}\0{}\0{}\0{"order":"accessed_at","cursor":"!!"}\0{"deep":false}\0{"filter":{"params":{"p":1}}}',
        '', '{}', '[]', 'null', '{"dir":null}', mem + ',"inline_max_bytes":18446744073709551615}',
    ]


def import_corpus():
    d1, d2, d3 = b"hello, cacheness", bytes(i % 251 for i in range(300)), b""
    p1, p2, p3 = {"example": "greeting"}, {"example": "big", "n": 2}, {"empty": True}
    man = {"format": "cacheness-archive", "format_version": 1, "created_at": "2026-01-01T00:00:00.000Z",
           "entries": [entry(p1, d1, data_type="text", metadata={"writer": "seed"}), entry(p2, d2), entry(p3, d3)]}
    mb = json.dumps(man).encode()
    blobs = [("blobs/" + hashlib.sha256(d).hexdigest(), d) for d in (d1, d2, d3)]
    good = [("manifest.json", mb)] + blobs
    expired = dict(man, entries=[entry(p1, d1, expires_at="2001-01-01T00:00:00.000Z"),
                                 entry(p2, d2, expires_at="2999-01-01T00:00:00Z")])
    shared = dict(man, entries=[entry(p1, d1), entry({"same": "data"}, d1)])
    doc = {"format": "cacheness-json", "format_version": 1,
           "entries": [dict(entry(p, d), data=base64.b64encode(d).decode()) for p, d in ((p1, d1), (p2, d2), (p3, d3))]}
    return [
        tar_bytes(good), tar_bytes(good, gz=True), tar_bytes(good[:2]), tar_bytes([("manifest.json", json.dumps(expired).encode())] + blobs[:2]),
        tar_bytes([("manifest.json", json.dumps(shared).encode()), blobs[0]]), tar_bytes([blobs[0], good[0]]),
        tar_bytes([("manifest.json", json.dumps(dict(man, entries=[])).encode())]),
        tar_bytes([("manifest.json", json.dumps(dict(man, format_version=2)).encode())]),
        tar_bytes([("manifest.json", mb), ("blobs/../x", d1)]), tar_bytes(good + [blobs[0]]),
        json.dumps(doc), json.dumps(dict(doc, entries=doc["entries"][:1])), json.dumps(dict(doc, entries=[])),
        json.dumps(dict(doc, entries=[dict(doc["entries"][0], data="!!!")])), json.dumps(dict(doc, format="cacheness-archive")),
        json.dumps(dict(doc, entries=[dict(doc["entries"][1], size=1)])),
        json.dumps(dict(doc, entries=[dict(doc["entries"][0], expires_at="2001-01-01T00:00:00Z")])),
        json.dumps(dict(doc, entries=[dict(doc["entries"][0], created_at="9999-12-31T23:59:59.999Z", metadata={"a": [1]})])),
        "{}", "[]", b"\x1f\x8b\x08\x00garbage",
    ]


def ffi_corpus():
    s = lambda *parts: "\0".join(parts).encode()
    return [
        bytes([0, 2, 3, 4, 5, 6]) + s('{"a":1}', '{"ttl_seconds":5,"metadata":{"m":1}}', '{"a":1}'),
        bytes([2, 12, 13, 14, 15, 16]) + s('{"x":"y"}', '{"metadata":{"k":"v"}}', '{"params":{"x":"y"}}', '{"limit":2}', '{"k":null}'),
        bytes([10, 11, 17, 18, 19, 20]) + s('{"a":1}', '{"b":2}', '{"overwrite":true}', '[{"a":1},"' + "0" * 64 + '"]', '{"deep":true}'),
        bytes([21, 22, 23, 31 | 64]) + s('{}', '{"format":"cacheness-json","format_version":1,"entries":[]}', '{"overwrite":false}'),
        bytes([24, 25, 26, 27, 28, 29, 30]) + s('dir/name', '{"meta":1}', 'dir/', '{"limit":1}', 'dir/name2'),
        bytes([24, 25, 29 | 64, 30]) + s('a/b', 'a/b/c', '../x', '/abs', 'a//b'),
        bytes([0, 2, 3]) + b"\xff\xfe\0{\"a\":\"\xc3\x28\"}\0\xed\xa0\x80",
        bytes([1, 1, 1]) + s('{"metadata":"memory","blobs":"memory","max_size_bytes":100}', '{"metadata":"memory"}', '{"dir":"x"}'),
        bytes([8, 9, 7]) + s('{"a":1}', '{"expected_version":1,"ttl_seconds":null}', '{"m":{"n":null}}'),
        bytes([12, 12]) + s('{"include_expired":true}', '{"order":"accessed_at","limit":1}'),
        bytes([2, 2, 2, 31, 12]) + s('{"k":1}', '{"ttl_seconds":0.001}', '{"k":2}', '{"ttl_seconds":0.001}'),
        bytes([25, 26, 27, 28]) + s('dir/name', '{"new":true}', '', '{"cursor":"abc"}'),
    ]


def ops_corpus():
    s = lambda *parts: "\0".join(parts).encode()
    return [
        bytes([0, 2, 3, 7, 3, 10]) + s('{"a":1}', '{"metadata":{"m":1},"data_type":"t"}', 'some data of 30 bytes or so..', '{"a":1}', '{"m":null,"n":[1]}', '{}'),
        bytes([0, 8, 9, 10, 18, 19]) + s('{"a":1}', '', 'x' * 40, '{"a":1}', '{"b":2}', '{"overwrite":true}'),
        bytes([17, 12, 19, 16, 15, 19]) + s('{"p":"x"}', '{"q":"y"}', '{}', '{"params":{"p":"x"}}', '', '', '[{"q":"y"},"' + '0' * 64 + '"]'),
        bytes([0, 6, 3, 6, 3]) + s('{"v":1}', '{"expected_version":1}', 'new data, long enough for a blob'),
        bytes([0, 0, 13, 11, 14, 11]) + s('{"k":"a"}', '{"ttl_seconds":null,"metadata":{"t":"a"}}', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', '{"k":"b"}', '{}', 'bb', '{"metadata":{"t":{"$exists":true}}}', '{"t":"z"}'),
        bytes([0, 5, 3, 4, 2, 19]) + s('{"e":[true,null]}', '{"ttl_seconds":86400}', 'x', '{"e":[true,null]}'),
        bytes([0, 9, 9, 2, 3]) + s('{"m":1}', '{"m":2}', '{"metadata":{"moved":true}}', '{"m":2}', '{"m":1}', '{"overwrite":false}'),
        bytes([0, 10, 10]) + s('{"x":"\u00e9"}', '{"limit":1}', 'data', '{"params":{"x":{"$glob":"?"}}}', '{"limit":5,"cursor":"abc"}'),
    ]


write("ops", ops_corpus())
write("keys", keys_corpus())
write("filter", FILTERS)
write("config", config_corpus())
write("import", import_corpus())
write("ffi", ffi_corpus())
for t in ("keys", "filter", "config", "import", "ffi", "ops"):
    d = os.path.join(HERE, "corpus", t)
    print(t, len(os.listdir(d)), "files", sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)), "bytes")
