#!/usr/bin/env python3
"""Derive extra container fixtures from pcaps/lt-ethernet.pcap (python3 stdlib only).

Every output carries exactly the records of lt-ethernet.pcap (same bytes above the link layer,
same order, same timestamps up to the container's resolution), so its oracle must equal
lt-ethernet's except for `file`. Deterministic: the same input gives the same bytes.

  lt-bigendian.pcap     classic pcap, big-endian, microseconds (magic a1 b2 c3 d4 on disk).
  lt-multi-if.pcapng    one section, two interfaces of different link types: odd frames as
                        Ethernet on interface 0 (default resolution, microseconds), even frames
                        re-encapsulated as LINUX_SLL2 on interface 1 (if_tsresol 9: nanoseconds).
                        libpcap refuses such files ("different link-layer header types").
  lt-sections.pcapng    two sections of opposite byte order. Section 1 (little-endian): an
                        Ethernet interface, a Name Resolution Block, frames 1-138 as Enhanced
                        Packet Blocks and an Interface Statistics Block. (No Custom Block:
                        tshark 4.0 counts one as a frame, so the oracle would say 277.)
                        Section 2 (big-endian, new interface numbering): interface 0 Ethernet
                        with a binary resolution (if_tsresol 0x94: 2^-20 s), interface 1
                        LINKTYPE_IPV4 (228, 100 ns), interface 2 LINKTYPE_IPV6 (229, ns);
                        frames 139-276 as EPBs on the interface of their IP version, except
                        frames 9k (Simple Packet Blocks, which always belong to interface 0)
                        and 9k+1 (EPBs on interface 0, timestamps in 2^-20 s units).
  lt-nsec-be.pcap.gz    classic pcap, big-endian, nanoseconds (magic a1 b2 3c 4d), gzip
                        (mtime 0, so the bytes are reproducible).

Usage: scripts/make_fixtures.py [SOURCE.pcap [OUTDIR]]
(defaults: pcaps/lt-ethernet.pcap and pcaps/, relative to the repository root).
Then: python3 /work/shared/tools/oracle.py on each (see tests/integration/formats.rs).
"""

import gzip
import os
import struct
import sys

LINKTYPE_ETHERNET = 1
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
SNAPLEN = 262144
APP = b"dnsobs scripts/make_fixtures.py"
# The server-side MAC of the capture (frames from it are "outgoing" in SLL2 terms).
SERVER_MAC = bytes.fromhex("02005e005301")


def read_pcap(path):
    """Records of a little- or big-endian microsecond pcap: (sec, usec, orig_len, data)."""
    with open(path, "rb") as f:
        raw = f.read()
    magic = raw[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        e = "<"
    elif magic == b"\xa1\xb2\xc3\xd4":
        e = ">"
    else:
        raise SystemExit("%s: not a microsecond pcap" % path)
    link = struct.unpack(e + "I", raw[20:24])[0]
    if link != LINKTYPE_ETHERNET:
        raise SystemExit("%s: link type %d, expected Ethernet" % (path, link))
    recs, at = [], 24
    while at < len(raw):
        sec, usec, cap, orig = struct.unpack(e + "IIII", raw[at:at + 16])
        data = raw[at + 16:at + 16 + cap]
        if len(data) != cap:
            raise SystemExit("%s: truncated record" % path)
        recs.append((sec, usec, orig, data))
        at += 16 + cap
    return recs


def pcap(recs, endian, nanos):
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    out = [struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)]
    for sec, usec, orig, data in recs:
        frac = usec * 1000 if nanos else usec
        out.append(struct.pack(endian + "IIII", sec, frac, len(data), orig))
        out.append(data)
    return b"".join(out)


#--- pcapng -------------------------------------------------------------------

def pad4(b):
    return b + b"\0" * (-len(b) % 4)


def options(e, opts):
    if not opts:
        return b""
    out = b"".join(struct.pack(e + "HH", c, len(v)) + pad4(v) for c, v in opts)
    return out + struct.pack(e + "HH", 0, 0)


def block(e, btype, body):
    body = pad4(body)
    n = 12 + len(body)
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def shb(e, comment):
    body = struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1)
    return block(e, 0x0A0D0D0A, body + options(e, [(1, comment), (4, APP)]))


def idb(e, link, name, tsresol=None):
    opts = [(2, name)]
    if tsresol is not None:
        opts.append((9, bytes([tsresol])))
    return block(e, 1, struct.pack(e + "HHI", link, 0, SNAPLEN) + options(e, opts))


def ticks(sec, usec, tsresol):
    """The timestamp in units of the interface's if_tsresol (None = 10^-6)."""
    us = sec * 1_000_000 + usec
    if tsresol is None or tsresol == 6:
        return us
    if tsresol & 0x80:
        return (us << (tsresol & 0x7F)) // 1_000_000
    if tsresol >= 6:
        return us * 10 ** (tsresol - 6)
    return us // 10 ** (6 - tsresol)


def epb(e, iface, t, orig, data, comment=None):
    body = struct.pack(e + "IIIII", iface, t >> 32, t & 0xFFFFFFFF, len(data), orig)
    opts = [(1, comment)] if comment else []
    return block(e, 6, pad4(body + data) + options(e, opts))


def spb(e, orig, data):
    return block(e, 3, struct.pack(e + "I", orig) + data)


def nrb(e):
    recs = [(1, bytes([192, 0, 2, 1]) + b"root.example\0"),
            (2, bytes.fromhex("20010db8000000000000000000000001") + b"root6.example\0")]
    body = b"".join(struct.pack(e + "HH", t, len(v)) + pad4(v) for t, v in recs)
    return block(e, 4, body + struct.pack(e + "HH", 0, 0))


def isb(e, iface, t, received):
    body = struct.pack(e + "III", iface, t >> 32, t & 0xFFFFFFFF)
    return block(e, 5, body + options(e, [(4, struct.pack(e + "Q", received))]))


def sll2(data):
    """Ethernet frame → LINUX_SLL2 frame (same payload, ethertype moved to the front)."""
    ethertype = data[12:14]
    pkttype = 4 if data[6:12] == SERVER_MAC else 0
    hdr = (ethertype + b"\0\0" + struct.pack(">IHBB", 2, 1, pkttype, 6)
           + data[6:12] + b"\0\0")
    assert len(hdr) == 20
    return hdr + data[14:]


def multi_if(recs):
    e = "<"
    out = [shb(e, b"two interfaces, two link types"),
           idb(e, LINKTYPE_ETHERNET, b"eth0"),
           idb(e, LINKTYPE_LINUX_SLL2, b"any", tsresol=9)]
    for i, (sec, usec, orig, data) in enumerate(recs, 1):
        if i % 2:
            out.append(epb(e, 0, ticks(sec, usec, None), orig, data))
        else:
            d = sll2(data)
            out.append(epb(e, 1, ticks(sec, usec, 9), orig - len(data) + len(d), d))
    return b"".join(out)


def sections(recs):
    half = len(recs) // 2
    le, be = "<", ">"
    out = [shb(le, b"section 1 of 2: little-endian"),
           idb(le, LINKTYPE_ETHERNET, b"eth0"),
           nrb(le)]
    last = None
    for i, (sec, usec, orig, data) in enumerate(recs[:half], 1):
        t = ticks(sec, usec, None)
        out.append(epb(le, 0, t, orig, data, b"frame %d" % i if i == 1 else None))
        last = t
    out.append(isb(le, 0, last, half))
    res = {0: 0x94, 1: 7, 2: 9}
    out += [shb(be, b"section 2 of 2: big-endian"),
            idb(be, LINKTYPE_ETHERNET, b"eth0", tsresol=res[0]),
            idb(be, LINKTYPE_IPV4, b"ip4", tsresol=res[1]),
            idb(be, LINKTYPE_IPV6, b"ip6", tsresol=res[2])]
    for i, (sec, usec, orig, data) in enumerate(recs[half:], half + 1):
        if i % 9 == 0:
            assert orig == len(data)
            out.append(spb(be, orig, data))
            continue
        if i % 9 == 1:
            out.append(epb(be, 0, ticks(sec, usec, res[0]), orig, data))
            continue
        ethertype = data[12:14]
        iface = {b"\x08\x00": 1, b"\x86\xdd": 2}[ethertype]
        ip = data[14:]  # Ethernet padding, if any, stays after the IP packet
        out.append(epb(be, iface, ticks(sec, usec, res[iface]), orig - 14, ip))
    return b"".join(out)


def main(argv):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = argv[0] if argv else os.path.join(root, "pcaps", "lt-ethernet.pcap")
    outdir = argv[1] if len(argv) > 1 else os.path.join(root, "pcaps")
    recs = read_pcap(src)
    files = {
        "lt-bigendian.pcap": pcap(recs, ">", nanos=False),
        "lt-multi-if.pcapng": multi_if(recs),
        "lt-sections.pcapng": sections(recs),
        "lt-nsec-be.pcap.gz": gzip.compress(pcap(recs, ">", nanos=True), 9, mtime=0),
    }
    for name, data in files.items():
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(data)
        print("%s: %d records, %d bytes" % (name, len(recs), len(data)), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
