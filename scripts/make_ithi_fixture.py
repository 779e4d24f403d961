#!/usr/bin/env python3
"""make_ithi_fixture.py - a crafted capture for ITHI, resolver hygiene and ASN diversity.

usage: scripts/make_ithi_fixture.py [OUT.pcap]   (default pcaps/ithi.pcap)

Writes OUT.pcap (Ethernet, IPv4/IPv6, UDP port 53, one root-like server) and
OUT-without-extension.expected.json with the figures the ITHI metrics (ithitools' definitions,
see src/aggregate/ithi.rs), the hygiene classes and the ASN counts (table pcaps/asn-test.txt)
must come to, counted here from the packets as they are built: no dnsobs involved.
Deterministic. Python 3 standard library only.
"""
import ipaddress
import json
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else "pcaps/ithi.pcap"
SERVER = {4: "192.0.2.1", 6: "2001:db8::1"}
frames = []
clock = [1764000000 * 1000000]  # microseconds


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(src, dst, sport, dport, payload, advance_us=1000):
    clock[0] += advance_us
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 6:
        ip = struct.pack("!IHBB", 6 << 28, len(udp), 17, 64) + s.packed + d.packed
        eth = b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x86\xdd"
    else:
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, s.packed, d.packed)
        ip = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
        eth = b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00"
    frames.append((clock[0] // 1000000, clock[0] % 1000000, eth + ip + udp))


def name_wire(n):
    if n in (".", ""):
        return b"\0"
    return b"".join(bytes([len(l)]) + l.encode() for l in n.rstrip(".").split(".")) + b"\0"


def opt(do=False, options=()):
    body = b"".join(struct.pack("!HH", code, 2) + b"\0\0" for code in options)
    return b"\0" + struct.pack("!HHBBHH", 41, 1232, 0, 0, 0x8000 if do else 0, len(body)) + body


def message(qname, qtype, qr=False, rd=False, rcode=0, edns=None):
    flags = (0x8000 if qr else 0) | (0x0100 if rd else 0) | rcode
    m = struct.pack("!HHHHHH", len(frames) & 0xFFFF, flags, 1, 0, 0, 1 if edns else 0)
    return m + name_wire(qname) + struct.pack("!HH", qtype, 1) + (edns or b"")


# --- Resolvers and what they send -------------------------------------------------------------
# Each resolver's queries: (qname as sent, qtype, source port, rd, edns or None).
resolvers = {}


def resolver(addr):
    return resolvers.setdefault(addr, {"queries": []})


def query(addr, qname, qtype, sport, rd=False, do=None, options=()):
    v = ipaddress.ip_address(addr).version
    edns = opt(do=bool(do), options=options) if do is not None else None
    frame(addr, SERVER[v], sport, 53, message(qname, qtype, rd=rd, edns=edns))
    resolver(addr)["queries"].append(
        {"qname": qname, "qtype": qtype, "sport": sport, "rd": rd, "edns": do is not None,
         "do": bool(do), "options": list(options)})


R1, R2, R3, R4, R5 = "198.51.100.10", "198.51.100.20", "2001:db8:5::53", "203.0.113.7", "192.0.2.77"
for i in range(12):  # fixed port, RD set, no EDNS, minimised (a TLD, NS)
    query(R1, "com", 2, 5353, rd=True)
for i in range(12):  # sequential ports (+3), DO, not minimised
    query(R2, "www.example.net", 1, 40000 + 3 * i, do=True)
ports = [1024 + (i * 40503 + 7919 * i * i) % 60000 for i in range(12)]
for i, p in enumerate(ports):  # random ports, 0x20, cookie on every query, ECS on some
    query(R3, "wWw.ExAmPle.ORg" if i % 2 else "WwW.eXaMpLe.oRG", 28, p, do=False,
          options=(10, 8) if i % 3 == 0 else (10,))
for i in range(5):  # too few queries for hygiene; NSID; priming (minimised)
    query(R4, ".", 2, 30000 + 1000 * i, do=False, options=(3,))
for i in range(3):
    query(R5, "org", 1, 20000 + 17 * i)

# --- Responses ---------------------------------------------------------------------------------
responses = []  # (resolver, qname, qtype, rcode, time us)


def response(addr, qname, qtype, rcode, advance_us=1000):
    v = ipaddress.ip_address(addr).version
    frame(SERVER[v], addr, 53, 33333, message(qname, qtype, qr=True, rcode=rcode), advance_us)
    responses.append((addr, qname.lower(), qtype, rcode, clock[0]))


for _ in range(3):
    response(R1, "com", 2, 0)
response(R1, "net", 2, 0)
for _ in range(2):
    response(R2, "www.example.net", 1, 0)
response(R4, ".", 2, 0)
response(R5, "org", 1, 0)
for n in ("printer.local", "foo.local", "x.onion", "nas.home", "pc.home", "dc.corp",
          "qwertyu", "abcdefghij", "abcdefghij", "www.nonexistenttld"):
    response(R2, n, 1, 3)
response(R2, "www.example.net", 1, 5)  # REFUSED: a response, neither NOERROR nor NXDOMAIN
response(R5, "org", 1, 0, advance_us=3 * 86400 * 1000000)  # 3 days later: past the 2-day TTL

# --- Expected figures, from the lists above ------------------------------------------------------
TTL_US = 172800 * 1000000
SPECIAL = {"local", "localhost", "invalid", "test", "example", "onion", "alt"}
LEAKED = {"home", "corp", "lan", "internal", "localdomain", "domain", "belkin", "router",
          "intranet", "private", "workgroup"}
noerror = [r for r in responses if r[3] == 0]
nx = [r for r in responses if r[3] == 3]
root_q = len(noerror) + len(nx)
first = {}
useful = useless = 0
for addr, qname, _, _, t in noerror:
    key = (addr, qname.rstrip(".").split(".")[-1] if qname != "." else "")
    if key in first and t - first[key] <= TTL_US:
        useless += 1
    else:
        useful += 1
        first[key] = t
rows = {"M3.1": len(nx) / root_q, "M3.2": useless / (useful + useless)}
special, leaked, lengths = {}, {}, {}
for _, qname, _, _, _ in nx:
    labels = qname.split(".")
    tld = labels[-1]
    if tld in SPECIAL:
        special[tld] = special.get(tld, 0) + 1
    elif tld in LEAKED:
        leaked[tld] = leaked.get(tld, 0) + 1
    elif len(labels) == 1 and 7 <= len(tld) <= 15 and tld.isalpha() and tld.islower():
        k = "length_%d" % len(tld)
        lengths[k] = lengths.get(k, 0) + 1
rows["M3.3.1"] = {k: c / root_q for k, c in special.items()}
rows["M3.3.2"] = {k: c / root_q for k, c in leaked.items()}
rows["M3.3.3"] = {k: c / root_q for k, c in lengths.items()}
rows["M3.3.4"] = max(0.0, rows["M3.1"] - sum(special.values()) / root_q
                     - sum(leaked.values()) / root_q - sum(lengths.values()) / root_q)
n = len(resolvers)
qs = {a: r["queries"] for a, r in resolvers.items()}
edns = sum(any(q["edns"] for q in v) for v in qs.values()) / n
dnssec = sum(any(q["do"] for q in v) for v in qs.values()) / n


def minimised(q):  # ithitools: class IN, qtype A or NS, name = referral owner (root: a TLD)
    labels = 0 if q["qname"] == "." else len(q["qname"].split("."))
    return q["qtype"] in (1, 2) and labels <= 1


mini = sum(all(minimised(q) for q in v) for v in qs.values()) / n
codes = sorted({c for v in qs.values() for q in v for c in q["options"]})
opts = {str(c): sum(any(c in q["options"] for q in v) for v in qs.values()) / n for c in codes}
rows.update({"M3.4.1": edns, "M3.4.2": opts, "M3.5": dnssec, "M3.6": mini,
             "M8.1": len(nx) / len(responses), "M8.2.1": edns, "M8.2.2": opts,
             "M8.3": dnssec, "M8.4": mini})

# Hygiene: sources with >= 10 queries.
classes = {c: 0 for c in ("fixed_port", "sequential_ports", "random_ports", "rd_set", "uses_0x20", "sets_do")}
eligible = {"4": 0, "6": 0}
for addr, v in qs.items():
    if len(v) < 10:
        continue
    eligible[str(ipaddress.ip_address(addr).version)] += 1
    p = [q["sport"] for q in v]
    steps = sum(1 for a, b in zip(p, p[1:]) if 1 <= (b - a) % 65536 <= 64)
    if len(set(p)) == 1:
        classes["fixed_port"] += 1
    elif 2 * steps > len(p) - 1:
        classes["sequential_ports"] += 1
    else:
        classes["random_ports"] += 1
    classes["rd_set"] += 2 * sum(q["rd"] for q in v) > len(v)
    mixed = sum(any(c.isupper() for c in q["qname"]) and any(c.islower() for c in q["qname"]) for q in v)
    classes["uses_0x20"] += 4 * mixed >= len(v)
    classes["sets_do"] += 2 * sum(q["do"] for q in v) > len(v)

# ASN: pcaps/asn-test.txt, longest prefix by hand (ipaddress module).
table = []
for line in open("pcaps/asn-test.txt"):
    line = line.split("#")[0].strip()
    if line:
        p, a = line.split()
        table.append((ipaddress.ip_network(p), int(a.upper().removeprefix("AS"))))
per_asn, unmatched = {}, 0
for addr, v in qs.items():
    ip = ipaddress.ip_address(addr)
    best = max((net for net in table if ip.version == net[0].version and ip in net[0]),
               key=lambda net: net[0].prefixlen, default=None)
    if best is None:
        unmatched += len(v)
    else:
        per_asn[str(best[1])] = per_asn.get(str(best[1]), 0) + len(v)

expected = {
    "resolvers": n,
    "responses": len(responses),
    "noerror": len(noerror),
    "nxdomain": len(nx),
    "useful": useful,
    "useless": useless,
    "ithi": rows,
    "hygiene": {"classes": classes, "eligible_sources": eligible},
    "asn": {"queries_by_asn": per_asn, "unmatched_queries": unmatched, "unique_source_asns": len(per_asn)},
}

with open(OUT, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for s, us, data in frames:
        f.write(struct.pack("<IIII", s, us, len(data), len(data)) + data)
with open(OUT.rsplit(".", 1)[0] + ".expected.json", "w") as f:
    json.dump(expected, f, indent=2, sort_keys=True)
    f.write("\n")
print("%s: %d frames" % (OUT, len(frames)))
