#!/usr/bin/env python3
"""make_indicators_fixture.py - a crafted capture whose indicator figures are known by construction.

usage: scripts/make_indicators_fixture.py [OUT.pcap]   (default pcaps/indicators.pcap)

Writes OUT.pcap (Ethernet, IPv4/IPv6, UDP port 53) and OUT-without-extension.expected.json with the
figures each query/response class must produce, counted here while the packets are built (no dnsobs
involved). Deterministic: the same bytes on every run. Python 3 standard library only.
"""
import json
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else "pcaps/indicators.pcap"

frames = []
ts = [1764000000, 0]


def name_wire(n):
    if n in (".", ""):
        return b"\0"
    return b"".join(bytes([len(l)]) + l.encode() for l in n.rstrip(".").split(".")) + b"\0"


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(src, dst, sport, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    if ":" in src:
        ip = struct.pack("!IHBB", 6 << 28, len(udp), 17, 64) + v6(src) + v6(dst)
        eth = b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x86\xdd"
    else:
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, v4(src), v4(dst))
        ip = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
        eth = b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00"
    data = eth + ip + udp
    ts[1] += 1000
    frames.append((ts[0], ts[1], data))


def v4(a):
    return bytes(int(x) for x in a.split("."))


def v6(a):
    head, _, tail = a.partition("::")
    h = [int(x, 16) for x in head.split(":") if x]
    t = [int(x, 16) for x in tail.split(":") if x]
    return struct.pack("!8H", *(h + [0] * (8 - len(h) - len(t)) + t))


def opt(do=False, ede=None):
    opts = b""
    if ede is not None:
        opts = struct.pack("!HHH", 15, 2, ede)
    return b"\0" + struct.pack("!HHBBHH", 41, 1232, 0, 0, 0x8000 if do else 0, len(opts)) + opts


def message(qid, qname, qtype, qr=False, rcode=0, edns=None):
    flags = (0x8000 if qr else 0) | (0x0100) | rcode
    ar = 1 if edns is not None else 0
    m = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, ar) + name_wire(qname) + struct.pack("!HH", qtype, 1)
    return m + (edns or b"")


expected = {
    "query_classes": {c: 0 for c in ("priming", "any", "special_use", "leaked", "chromium_probe", "reverse", "other")},
    "nxdomain_responses_by_class": {},
    "queries_idn": 0,
    "queries_mixed_case": 0,
    "response_ede_codes": {},
    "queries": 0,
    "responses": 0,
}


def query(src, qname, qtype, cls, idn=False, mixed=False, sport=40000):
    frame(src, "192.0.2.1" if ":" not in src else "2001:db8::1", sport, 53,
          message(len(frames) & 0xFFFF, qname, qtype, edns=opt(do=True)))
    expected["queries"] += 1
    expected["query_classes"][cls] += 1
    expected["queries_idn"] += int(idn)
    expected["queries_mixed_case"] += int(mixed)


def response(dst, qname, qtype, cls, rcode=0, ede=None):
    frame("192.0.2.1" if ":" not in dst else "2001:db8::1", dst, 53, 40000,
          message(len(frames) & 0xFFFF, qname, qtype, qr=True, rcode=rcode, edns=opt(ede=ede)))
    expected["responses"] += 1
    if rcode == 3:
        d = expected["nxdomain_responses_by_class"]
        d[cls] = d.get(cls, 0) + 1
    if ede is not None:
        d = expected["response_ede_codes"]
        d[str(ede)] = d.get(str(ede), 0) + 1


clients = ["198.51.100.%d" % i for i in range(1, 6)] + ["2001:db8::%x" % i for i in range(0x10, 0x13)]
for i in range(7):
    query(clients[i % 8], ".", 2, "priming")
for i in range(5):
    query(clients[i % 8], "example.com", 255, "any")
for n in ("printer.local", "localhost", "foo.invalid", "a.test", "x.onion", "b.alt", "www.example"):
    query(clients[1], n, 1, "special_use")
for n in ("nas.home", "dc01.corp", "pc.lan", "svc.internal", "host.localdomain", "router.belkin"):
    query(clients[2], n, 28, "leaked")
for n in ("qwertyu", "abcdefghijklmno", "zzzzzzzzzz"):
    query(clients[3], n, 1, "chromium_probe")
for n in ("qwerty", "abcdefghijklmnop", "abc1defgh"):  # 6 letters, 16 letters, a digit: not probes
    query(clients[3], n, 1, "other")
for n in ("1.2.0.192.in-addr.arpa", "b.a.9.8.ip6.arpa"):
    query(clients[4], n, 12, "reverse")
query(clients[5], "xn--p1ai", 2, "other", idn=True)
query(clients[5], "www.xn--80ak6aa92e.com", 1, "other", idn=True)
query(clients[6], "WwW.ExAmPlE.cOm", 1, "other", mixed=True)
query(clients[6], "WWW.EXAMPLE.NET", 1, "other")  # one case only: not 0x20
query(clients[7], "www.example.org", 1, "other")
response(clients[3], "qwertyu", 1, "chromium_probe", rcode=3)
response(clients[2], "nas.home", 28, "leaked", rcode=3)
response(clients[2], "nas.home", 28, "leaked", rcode=3, ede=22)
response(clients[1], "www.example.org", 1, "other", rcode=2, ede=23)
response(clients[1], "www.example.org", 1, "other", rcode=0, ede=23)
response(clients[1], ".", 2, "priming", rcode=0)

with open(OUT, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for s, us, d in frames:
        f.write(struct.pack("<IIII", s, us, len(d), len(d)) + d)
stem = OUT.rsplit(".", 1)[0]
with open(stem + ".expected.json", "w") as f:
    json.dump(expected, f, indent=2)
    f.write("\n")
print("%s: %d frames, expected figures in %s.expected.json" % (OUT, len(frames), stem))
