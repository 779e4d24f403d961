#!/usr/bin/env python3
"""Bench-only MaxMind DB pair (GeoLite2-Country and GeoLite2-ASN types) for the root-like capture
of gen_big_pcap.py (--clients4/--clients6): every /24 of its IPv4 client pool and every /48 of its
IPv6 pool belongs to one of --asns ASes (drawn at random) in one of 250 countries, so queries
spread over thousands of ASes and every country, as at a root server; --filler random networks
elsewhere bring the files to GeoLite2's size class. Usage: make-geo-mmdb.py OUTDIR
[--asns 30000] [--filler 150000] [--seed 7]. Needs mmdb-writer and netaddr (PyPI)."""
import argparse
import random

from mmdb_writer import MMDBWriter, MmdbU32
from netaddr import IPNetwork, IPSet

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--asns", type=int, default=30000)
ap.add_argument("--filler", type=int, default=150000)
ap.add_argument("--seed", type=int, default=7)
a = ap.parse_args()
R = random.Random(a.seed)
ccs = [x + y for x in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for y in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"][:250]
# The client pools of gen_big_pcap.py: 198.51.100.0/24, 203.0.113.0/24, 100.64.0.0/10 by /24,
# and 2001:db8:100::/40 … by /48 (prefix 0x100 + i // 256).
nets = ["198.51.100.0/24", "203.0.113.0/24"]
nets += [f"100.{b}.{c}.0/24" for b in range(64, 128) for c in range(256)]
nets += [str(IPNetwork((0x20010DB8 << 96 | p << 80, 48), version=6)) for p in range(0x100, 0x100 + 4096)]
seen = set(nets)
target = len(nets) + a.filler
while len(nets) < target:
    if R.random() < 0.8:
        plen = R.randint(16, 24)
        x = R.getrandbits(32) & ~((1 << (32 - plen)) - 1)
        if x >> 24 in (0, 10, 100, 127, 198, 203) or x >> 24 >= 224:
            continue
        net = f"{x >> 24}.{(x >> 16) & 255}.{(x >> 8) & 255}.{x & 255}/{plen}"
    else:
        plen = R.randint(32, 48)
        x = (0x2400 << 112 | R.getrandbits(122)) & ~((1 << (128 - plen)) - 1)
        net = str(IPNetwork((x, plen), version=6))
    if net in seen:
        continue
    seen.add(net)
    nets.append(net)
groups = {}
for net in nets:
    groups.setdefault(R.randrange(a.asns), []).append(net)
country = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-Country")
asn = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-ASN")
for g, ns in groups.items():
    s = IPSet(ns)
    country.insert_network(s, {"country": {"iso_code": ccs[g % 250]}})
    asn.insert_network(s, {"autonomous_system_number": MmdbU32(64512 + g),
                           "autonomous_system_organization": f"Bench AS {g}"})
country.to_db_file(f"{a.out}/country.mmdb")
asn.to_db_file(f"{a.out}/asn.mmdb")
print(f"{len(nets)} networks, {len(groups)} ASes")
