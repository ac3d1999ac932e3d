#!/usr/bin/env python3
"""Small helpers for selftest.sh: independent reference values (hashes,
percent-encoding) and checks of the server's JSON, so the shell script does
not have to parse JSON itself.

  gcscheck.py hashes FILE             -> crc32c=<b64>,md5=<b64>
  gcscheck.py quote NAME [SAFE]       -> percent-encoded NAME
  gcscheck.py meta FILE BUCKET NAME   <json  -> "GENERATION crc32c=..,md5=.."
                                         (the expected x-goog-hash), or errors on stderr
  gcscheck.py field PATH              <json  -> value at dotted PATH
  gcscheck.py log LOGFILE             -> number of lines; errors on stderr
"""
import base64
import hashlib
import json
import os
import re
import sys
import urllib.parse


def _crc32c_table():
    poly = 0x82F63B78  # Castagnoli, reflected
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    t = _TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def file_hashes(path):
    data = open(path, "rb").read()
    crc = base64.b64encode(crc32c(data).to_bytes(4, "big")).decode()
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    return crc, md5


def fail(msgs):
    for m in msgs:
        print(m, file=sys.stderr)
    sys.exit(1)


def check_meta(path, bucket, name):
    doc = json.load(sys.stdin)
    crc, md5 = file_hashes(path)
    want = {
        "kind": "storage#object",
        "name": name,
        "bucket": bucket,
        "size": str(os.path.getsize(path)),
        "metageneration": "1",
        "contentType": "application/octet-stream",
        "md5Hash": md5,
        "crc32c": crc,
    }
    errs = [
        f"{k}: got {doc.get(k)!r}, want {v!r}"
        for k, v in want.items()
        if doc.get(k) != v
    ]
    gen = doc.get("generation")
    if not (isinstance(gen, str) and gen.isdigit()):
        errs.append(f"generation not a digit string: {gen!r}")
    if not re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", str(doc.get("updated"))
    ):
        errs.append(f"updated not RFC 3339 UTC: {doc.get('updated')!r}")
    if errs:
        fail(errs)
    print(gen, f"crc32c={crc},md5={md5}")


def field(dotted):
    v = json.load(sys.stdin)
    for part in dotted.split("."):
        v = v[int(part)] if isinstance(v, list) else v[part]
    print(v if not isinstance(v, (dict, list)) else json.dumps(v))


LOG_FIELDS = {
    "method",
    "request_uri",
    "range",
    "status",
    "body_bytes_sent",
    "request_time",
    "connection",
    "connection_requests",
}


def check_log(path):
    errs, n = [], 0
    for i, line in enumerate(open(path, encoding="utf-8", errors="replace"), 1):
        n += 1
        try:
            rec = json.loads(line)
        except ValueError as e:
            errs.append(f"line {i}: not JSON ({e}): {line.strip()[:200]}")
            continue
        missing = LOG_FIELDS - rec.keys()
        if missing:
            errs.append(f"line {i}: missing {sorted(missing)}")
        if rec.get("request_uri", "").startswith(("/_control", "/_gcs_file")):
            errs.append(f"line {i}: should not be logged: {rec['request_uri']}")
    if errs:
        fail(errs[:10])
    print(n)


def main(argv):
    cmd = argv[1]
    if cmd == "hashes":
        crc, md5 = file_hashes(argv[2])
        print(f"crc32c={crc},md5={md5}")
    elif cmd == "quote":
        print(urllib.parse.quote(argv[2], safe=argv[3] if len(argv) > 3 else ""))
    elif cmd == "meta":
        check_meta(argv[2], argv[3], argv[4])
    elif cmd == "field":
        field(argv[2])
    elif cmd == "log":
        check_log(argv[2])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
