#!/usr/bin/env python3
"""Wrap bundled DNS traffic in the encapsulations of mirrored and access-link traffic.

Source (SRC below): every record of pcaps/lt-ethernet.pcap (276 Ethernet frames: DNS over UDP
and TCP, IPv4 and IPv6, one IPv4 answer in two fragments, ICMP errors quoting queries), then
frames 1-3, 24-26 and 52-55 of pcaps/fragments.pcap (IPv4 answers in two and in three
fragments, an IPv6 answer in two fragments, with their queries), moved in time to start one
second after the last lt-ethernet frame. Every output carries those DNS messages, so the
oracles' DNS figures are lt-ethernet's plus those of the ten fragments frames.

Outer addresses are documentation ones: tunnel endpoints 203.0.113.1 / .2 and 2001:db8:ffff::1
/ ::2 (the server side sends from the first), mirror sources 203.0.113.10 / 2001:db8:ffff::10,
collectors 203.0.113.20 / 2001:db8:ffff::20. Both directions of a conversation always travel
between the same two outer addresses (dnsobs spreads frames over threads by the outer ones).

  tun-gre.pcap          GRE over IPv4 for IPv4 traffic and over IPv6 for IPv6 traffic, by turns
                        plain, keyed (K, key 100), keyed and sequenced (K+S), and transparent
                        Ethernet bridging (0x6558, with checksum and key); outer packets over
                        1200 bytes are fragmented (IPv4 in 800-byte pieces, IPv6 with a Fragment
                        header), so outer and inner reassembly nest.
  tun-erspan2.pcap      ERSPAN type II (GRE S, 0x88BE, session 7) over IPv4 from a mirror source
                        to a collector; every seventh frame is ERSPAN type I (no header, GRE
                        without flags).
  tun-erspan3.pcap      ERSPAN type III (GRE S, 0x22EB, session 9, 100 ns timestamps) over IPv6;
                        every other frame with the 8-byte platform-specific subheader (O bit).
  tun-vxlan.pcap        VXLAN (UDP 4789, VNI 4242) over IPv4, UDP source port from the inner flow.
  tun-geneve.pcap       GENEVE (UDP 6081, VNI 0xabcd) over IPv6: Ethernet (0x6558), every third
                        frame with an 8-byte option, every fifth frame carrying IP directly
                        (protocol type 0x0800 / 0x86DD).
  tun-6in4.pcap         IPv6 frames in IPv4 (protocol 41, 6in4); IPv4 frames as they were.
  tun-ipip.pcap         IPv6 in IPv6 (41); IPv4 in IPv4 (4) for clients with an even last
                        address byte, IPv4 in IPv6 (4) for the others.
  tun-pppoe.pcap        PPPoE sessions (0x8864, session 0x2a, PPP 0x0021 / 0x0057), after a
                        PPPoE discovery (PADI, PADO, PADR, PADS) and an LCP exchange.
  tun-pppoe-qinq.pcap   The same inside 802.1ad VLAN 200 and 802.1Q VLAN 300.
  tun-ppp.pcap          LINKTYPE_PPP (9): PPP with address and control bytes, every third frame
                        without them, after an LCP exchange.
  tun-ppp-hdlc.pcap     LINKTYPE_PPP_HDLC (50): Cisco HDLC framing (0x0F 0x00, Ethernet type).
  tun-malformed.pcap    One case per frame (listed in malformed_frames below): headers cut short, unknown
                        versions, inner headers that do not match, five tunnels inside each
                        other (one too many for dnsobs) and four (the most dnsobs follows), valid
                        rarities (GRE routing entries, GRE version 1), non-IP payloads.

Usage: /usr/bin/python3 scripts/make_tunnel_fixtures.py [PCAPS_DIR]   (default: pcaps/)
Then: python3 ../shared/tools/oracle.py pcaps/tun-*.pcap (see pcaps/SOURCES.md).
"""

import os
import struct
import sys

from scapy.all import (GRE, IP, UDP, Ether, IPv6, IPv6ExtHdrFragment, PPPoE, Raw, conf, fragment,
                       fragment6)
from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
from scapy.layers.vxlan import VXLAN

conf.verb = 0

SERVER_MAC = bytes.fromhex("02005e005301")
MAC_A, MAC_B = "02:00:5e:00:53:10", "02:00:5e:00:53:11"
A4, B4 = "203.0.113.1", "203.0.113.2"
A6, B6 = "2001:db8:ffff::1", "2001:db8:ffff::2"
MIRROR4, COLLECTOR4 = "203.0.113.10", "203.0.113.20"
MIRROR6, COLLECTOR6 = "2001:db8:ffff::10", "2001:db8:ffff::20"
ET_IPV4, ET_IPV6 = 0x0800, 0x86DD
LINKTYPE_ETHERNET, LINKTYPE_PPP, LINKTYPE_PPP_HDLC = 1, 9, 50


# --- pcap --------------------------------------------------------------------

def read_pcap(path):
    """Records (sec, usec, data) of a little-endian microsecond Ethernet pcap."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:4] != b"\xd4\xc3\xb2\xa1" or struct.unpack("<I", raw[20:24])[0] != LINKTYPE_ETHERNET:
        raise SystemExit("%s: not a little-endian microsecond Ethernet pcap" % path)
    recs, at = [], 24
    while at < len(raw):
        sec, usec, cap, _orig = struct.unpack("<IIII", raw[at:at + 16])
        recs.append((sec, usec, raw[at + 16:at + 16 + cap]))
        at += 16 + cap
    return recs


def write_pcap(path, linktype, recs):
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)]
    for sec, usec, data in recs:
        out.append(struct.pack("<IIII", sec, usec, len(data), len(data)))
        out.append(data)
    with open(path, "wb") as f:
        f.write(b"".join(out))


def later(sec, usec, micros):
    t = sec * 1_000_000 + usec + micros
    return t // 1_000_000, t % 1_000_000


def source(pcaps):
    """The SRC records: lt-ethernet, then the fragments slice one second later."""
    lt = read_pcap(os.path.join(pcaps, "lt-ethernet.pcap"))
    fr = read_pcap(os.path.join(pcaps, "fragments.pcap"))
    pick = [fr[i - 1] for i in list(range(1, 4)) + list(range(24, 27)) + list(range(52, 56))]
    last = lt[-1][0] * 1_000_000 + lt[-1][1]
    first = pick[0][0] * 1_000_000 + pick[0][1]
    shift = last + 1_000_000 - first
    return lt + [later(s, u, shift) + (d,) for s, u, d in pick]


# --- the frames of SRC -------------------------------------------------------

class Frame:
    """One SRC frame: its Ethernet bytes, IP bytes and version, and its direction."""

    def __init__(self, data):
        self.eth = data
        self.et = struct.unpack("!H", data[12:14])[0]
        self.l3 = data[14:]
        self.v = {ET_IPV4: 4, ET_IPV6: 6}[self.et]
        self.server = data[6:12] == SERVER_MAC
        # The client's address: its last byte chooses some variants per conversation.
        if self.v == 4:
            self.client = self.l3[16:20] if self.server else self.l3[12:16]
        else:
            self.client = self.l3[24:40] if self.server else self.l3[8:24]
        # A stable per-flow value (addresses and ports, both directions alike) for UDP source
        # ports of VXLAN and GENEVE, as real tunnel endpoints derive them: from the addresses
        # alone for IP fragments, as Linux's flow hash does, so that every piece of a datagram
        # travels in the same outer flow.
        hdr = 20 if self.v == 4 else 40
        if self.v == 4:
            fragment = struct.unpack("!H", self.l3[6:8])[0] & 0x3FFF != 0
        else:
            fragment = self.l3[6] == 44
        if fragment or len(self.l3) < hdr + 4:
            ports = [0, 0]
        else:
            ports = sorted(struct.unpack("!HH", self.l3[hdr:hdr + 4]))
        self.flow = 49152 + (sum(self.client) * 131 + ports[0] * 7 + ports[1]) % 16384


def frames(src):
    return [(s, u, Frame(d)) for s, u, d in src]


def ether(f, et, mirror=False):
    """The outer Ethernet header of a frame from A (the server side) or B."""
    if mirror or f.server:
        return Ether(src=MAC_A, dst=MAC_B, type=et)
    return Ether(src=MAC_B, dst=MAC_A, type=et)


def endpoints(f, v):
    a, b = (A4, B4) if v == 4 else (A6, B6)
    return (a, b) if f.server else (b, a)


def outer_ip(f, v, proto, ident):
    src, dst = endpoints(f, v)
    if v == 4:
        return IP(src=src, dst=dst, proto=proto, id=ident & 0xFFFF, ttl=64)
    return IPv6(src=src, dst=dst, nh=proto, hlim=64)


# --- the fixtures ------------------------------------------------------------

def gre_frames(src):
    out = []
    for i, (s, u, f) in enumerate(frames(src)):
        kind = i % 4
        if kind == 0:
            g = GRE(proto=f.et) / Raw(f.l3)
        elif kind == 1:
            g = GRE(proto=f.et, key_present=1, key=100) / Raw(f.l3)
        elif kind == 2:
            g = GRE(proto=f.et, key_present=1, key=100, seqnum_present=1,
                    sequence_number=i) / Raw(f.l3)
        else:
            g = GRE(proto=0x6558, chksum_present=1, key_present=1, key=100) / Raw(f.eth)
        if f.v == 4:
            pkt = outer_ip(f, 4, 47, 0x1000 + i) / g
            pieces = fragment(pkt, fragsize=800) if len(pkt) > 1200 else [pkt]
        else:
            src6, dst6 = endpoints(f, 6)
            if len(g) + 40 > 1200:
                frag = IPv6ExtHdrFragment(id=0x2000 + i, nh=47)
                pieces = fragment6(IPv6(src=src6, dst=dst6, hlim=64) / frag / g, 900)
            else:
                pieces = [IPv6(src=src6, dst=dst6, nh=47, hlim=64) / g]
        for p in pieces:
            out.append((s, u, bytes(ether(f, ET_IPV4 if f.v == 4 else ET_IPV6) / p)))
    return out


def erspan2_frames(src):
    out = []
    for i, (s, u, f) in enumerate(frames(src)):
        if i % 7 == 6:
            g = GRE(proto=0x88BE) / Raw(f.eth)  # type I
        else:
            g = GRE(proto=0x88BE, seqnum_present=1, sequence_number=i) / ERSPAN_II(
                ver=1, vlan=100, cos=0, en=3, t=0, session_id=7, index=i) / Raw(f.eth)
        pkt = IP(src=MIRROR4, dst=COLLECTOR4, proto=47, id=(0x3000 + i) & 0xFFFF, ttl=64) / g
        out.append((s, u, bytes(ether(f, ET_IPV4, mirror=True) / pkt)))
    return out


def erspan3_frames(src):
    out = []
    for i, (s, u, f) in enumerate(frames(src)):
        e3 = ERSPAN_III(ver=2, vlan=100, cos=0, bso=0, t=0, session_id=9,
                        timestamp=(s * 10_000_000 + u * 10) & 0xFFFFFFFF, sgt_other=0, p=0, ft=0,
                        hw=1, d=0 if f.server else 1, gra=1, o=i % 2)
        if i % 2:
            e3 = e3 / ERSPAN_PlatformSpecific(platf_id=3, info1=i, info2=s & 0xFFFFFFFF)
        g = GRE(proto=0x22EB, seqnum_present=1, sequence_number=i) / e3 / Raw(f.eth)
        pkt = IPv6(src=MIRROR6, dst=COLLECTOR6, nh=47, hlim=64) / g
        out.append((s, u, bytes(ether(f, ET_IPV6, mirror=True) / pkt)))
    return out


def vxlan_frames(src):
    out = []
    for i, (s, u, f) in enumerate(frames(src)):
        pkt = (IP(src=MIRROR4, dst=COLLECTOR4, id=(0x4000 + i) & 0xFFFF, ttl=64)
               / UDP(sport=f.flow, dport=4789) / VXLAN(flags=0x08, vni=4242) / Raw(f.eth))
        out.append((s, u, bytes(ether(f, ET_IPV4, mirror=True) / pkt)))
    return out


def geneve_header(proto, option):
    """GENEVE version 0, no flags, VNI 0xabcd; with one 4-byte option of class 0x0102."""
    opt = struct.pack("!HBB", 0x0102, 0x01, 1) + b"\x00\x00\x00\x2a" if option else b""
    return struct.pack("!BBH", len(opt) // 4, 0, proto) + struct.pack("!I", 0xABCD << 8) + opt


def geneve_frames(src):
    out = []
    for i, (s, u, f) in enumerate(frames(src)):
        if i % 5 == 4:
            body = geneve_header(f.et, i % 3 == 0) + f.l3
        else:
            body = geneve_header(0x6558, i % 3 == 0) + f.eth
        pkt = IPv6(src=MIRROR6, dst=COLLECTOR6, hlim=64) / UDP(sport=f.flow, dport=6081) / Raw(body)
        out.append((s, u, bytes(ether(f, ET_IPV6, mirror=True) / pkt)))
    return out


def sixin4_frames(src):
    out = []
    for i, (s, u, f) in enumerate(frames(src)):
        if f.v == 6:
            pkt = outer_ip(f, 4, 41, 0x5000 + i) / Raw(f.l3)
            out.append((s, u, bytes(ether(f, ET_IPV4) / pkt)))
        else:
            out.append((s, u, f.eth))
    return out


def ipip_frames(src):
    out = []
    for i, (s, u, f) in enumerate(frames(src)):
        if f.v == 6:
            pkt, et = outer_ip(f, 6, 41, 0) / Raw(f.l3), ET_IPV6
        elif f.client[-1] % 2 == 0:
            pkt, et = outer_ip(f, 4, 4, 0x6000 + i) / Raw(f.l3), ET_IPV4
        else:
            pkt, et = outer_ip(f, 6, 4, 0) / Raw(f.l3), ET_IPV6
        out.append((s, u, bytes(ether(f, et) / pkt)))
    return out


SESSION = 0x2A
# PPPoE discovery (code, sent by the access concentrator?) with an empty Service-Name tag, and
# the PPP LCP, IPCP and IPV6CP frames of a session's start (protocol, payload).
DISCOVERY = [(0x09, False), (0x07, True), (0x19, False), (0x65, True)]
SESSION_START = [
    (0xC021, bytes.fromhex("0101000a050600002a2a")),      # LCP Configure-Request, magic
    (0xC021, bytes.fromhex("0201000a050600002a2a")),      # LCP Configure-Ack
    (0x8021, bytes.fromhex("0101000a0306cb007101")),      # IPCP Configure-Request 203.0.113.1
    (0x8057, bytes.fromhex("0101000e010a0000000000000001")),  # IPV6CP Configure-Request
]


def pppoe_frames(src, tags=lambda: b""):
    """PPPoE discovery, LCP/IPCP/IPV6CP, then SRC in session SESSION; `tags`: VLAN tags."""
    recs = frames(src)
    s0, u0 = recs[0][0] - 1, recs[0][1]
    out = []
    for k, (code, from_ac) in enumerate(DISCOVERY):
        session = SESSION if code == 0x65 else 0
        payload = struct.pack("!HH", 0x0101, 0)  # Service-Name, empty
        body = struct.pack("!BBHH", 0x11, code, session, len(payload)) + payload
        if from_ac:
            eth = Ether(src=MAC_A, dst=MAC_B)
        else:
            eth = Ether(src=MAC_B, dst="ff:ff:ff:ff:ff:ff" if k == 0 else MAC_A)
        out.append(later(s0, u0, 1000 * k) + (tagged(eth, 0x8863, tags) + body,))
    for k, (proto, data) in enumerate(SESSION_START):
        body = session_header(len(data) + 2) + struct.pack("!H", proto) + data
        eth = tagged(Ether(src=MAC_A, dst=MAC_B), 0x8864, tags)
        out.append(later(s0, u0, 10_000 + 1000 * k) + (eth + body,))
    for s, u, f in recs:
        proto = 0x0021 if f.v == 4 else 0x0057
        body = bytes(PPPoE(version=1, type=1, code=0, sessionid=SESSION, len=len(f.l3) + 2))
        eth = Ether(src=MAC_A, dst=MAC_B) if f.server else Ether(src=MAC_B, dst=MAC_A)
        out.append((s, u, tagged(eth, 0x8864, tags) + body + struct.pack("!H", proto) + f.l3))
    return out


def session_header(length):
    """A PPPoE session header (version 1, type 1, code 0) of session SESSION."""
    return struct.pack("!BBHH", 0x11, 0, SESSION, length)


def tagged(eth, et, tags):
    """Ethernet addresses, then the VLAN tags (if any), then the Ethernet type `et`."""
    head = bytes(eth)[:12]
    return head + tags() + struct.pack("!H", et)


def qinq():
    """802.1ad tag VLAN 200, then 802.1Q tag VLAN 300."""
    return bytes.fromhex("88a800c8") + bytes.fromhex("8100012c")


def ppp_frames(src, framing):
    recs = frames(src)
    s0, u0 = recs[0][0] - 1, recs[0][1]
    out = []
    for k, (proto, data) in enumerate(SESSION_START[:2]):
        out.append(later(s0, u0, 1000 * k) + (framing(proto, data, 0),))
    for i, (s, u, f) in enumerate(recs):
        out.append((s, u, framing(0x0021 if f.v == 4 else 0x0057, f.l3, i)))
    return out


def ppp_hdlc(proto, data, i):
    """PPP with address and control bytes, every third frame without."""
    head = b"" if i % 3 == 2 else b"\xff\x03"
    return head + struct.pack("!H", proto) + data


def cisco_hdlc(proto, data, i):
    """Cisco HDLC: unicast address 0x0F, control 0, an Ethernet type (LCP has none: keepalive)."""
    et = {0x0021: 0x0800, 0x0057: 0x86DD}.get(proto, 0x8035)
    return struct.pack("!BBH", 0x0F, 0x00, et) + data


# --- tun-malformed.pcap ------------------------------------------------------

def malformed_frames(src):
    """The cases of tun-malformed.pcap: (what, frame bytes). A v4 query, a v4 response and a v6
    query are taken from SRC."""
    recs = frames(src)
    q4 = next(f for _, _, f in recs if f.v == 4 and not f.server and f.l3[9] == 17)
    r4 = next(f for _, _, f in recs if f.v == 4 and f.server and f.l3[9] == 17)
    q6 = next(f for _, _, f in recs if f.v == 6 and not f.server and f.l3[6] == 17)

    def eth(et, payload, src=MAC_B, dst=MAC_A):
        return bytes(Ether(src=src, dst=dst, type=et)) + bytes(payload)

    def e4(p):
        return eth(ET_IPV4, p)

    def e6(p):
        return eth(ET_IPV6, p)

    def ip4(proto):
        return IP(src=B4, dst=A4, proto=proto, id=1, ttl=64)

    def ip6(nh):
        return IPv6(src=B6, dst=A6, nh=nh, hlim=64)

    def udp(dport):
        return UDP(sport=50000, dport=dport)

    erspan2 = (GRE(proto=0x88BE, seqnum_present=1, sequence_number=1)
               / ERSPAN_II(ver=1, session_id=7))

    def nest(bottom):
        """GRE (IPv6 inside), VXLAN, IPv4-in-IPv6, ERSPAN II around an Ethernet frame."""
        level4 = IP(src=B4, dst=A4, proto=47, ttl=64) / erspan2 / Raw(bottom)
        level3 = IPv6(src=B6, dst=A6, nh=4, hlim=64) / Raw(bytes(level4))
        vxlan = udp(4789) / VXLAN(flags=0x08, vni=4242) / Raw(e6(level3))
        level2 = IPv6(src=B6, dst=A6, hlim=64) / vxlan
        return e4(ip4(47) / GRE(proto=ET_IPV6) / Raw(bytes(level2)))

    # Five tunnels: those four and GENEVE (one too many), then a query; four, then a response.
    geneve = IP(src=B4, dst=A4, ttl=64) / udp(6081) / Raw(geneve_header(ET_IPV6, False) + q6.l3)
    deep5 = nest(e4(geneve))
    deep4 = nest(eth(ET_IPV4, r4.l3, src=MAC_A, dst=MAC_B))
    arp = eth(0x0806, bytes.fromhex("0001080006040001" "02005e005311" "cb007102"
                                    "000000000000" "cb007101"), dst="ff:ff:ff:ff:ff:ff")
    lcp_echo = eth(0x8864, session_header(10) + bytes.fromhex("c021" "0901000800002a2a"),
                   src=MAC_A, dst=MAC_B)
    sre = struct.pack("!HBB", 0x0800, 0, 4) + bytes([198, 51, 100, 1]) + bytes(4)
    gre_routing = struct.pack("!BBHHH", 0x40, 0, ET_IPV4, 0, 0) + sre
    # Version 1 without the acknowledgement: tshark 4.0 does not know its A flag.
    gre_v1 = struct.pack("!BBHHHI", 0x30, 0x01, ET_IPV4, len(q4.l3), 7, 1)
    erspan_v3 = bytes(GRE(proto=0x88BE, seqnum_present=1)) + bytes.fromhex("30000007 00000000")
    erspan3_head = bytes(ERSPAN_III(ver=2, o=1)) + b"\x0c\x00"  # 2 of the subheader's 8 bytes
    erspan3_cut = GRE(proto=0x22EB, seqnum_present=1) / Raw(erspan3_head)
    geneve_long = bytes.fromhex("3f006558 00abcd00") + q4.eth[:40]
    return [
        ("gre_cut: GRE with the K flag, header cut after 6 bytes",
         e4(ip4(47) / Raw(bytes.fromhex("20000800 0000")))),
        ("gre_version_2: GRE version 2 (none exists)",
         e4(ip4(47) / Raw(bytes.fromhex("00020800")))),
        ("erspan2_cut: ERSPAN type II header cut after 4 bytes",
         e4(ip4(47) / Raw(bytes(erspan2)[:12]))),
        ("erspan_version_3: ERSPAN header of version 3", e4(ip4(47) / Raw(erspan_v3 + q4.eth))),
        ("erspan3_subheader_cut: ERSPAN type III, O bit, subheader cut",
         e4(ip4(47) / erspan3_cut)),
        ("vxlan_cut: VXLAN header of 5 bytes",
         e4(ip4(17) / udp(4789) / Raw(b"\x08\x00\x00\x00\x00"))),
        ("geneve_options_past_end: GENEVE options of 252 bytes in a short packet",
         e6(ip6(17) / udp(6081) / Raw(geneve_long))),
        ("pppoe_cut: PPPoE session header of 3 bytes", eth(0x8864, b"\x11\x00\x00")),
        ("6in4_with_ipv4: protocol 41 carrying an IPv4 packet", e4(ip4(41) / Raw(q4.l3))),
        ("ipip_inner_cut: protocol 4 carrying 10 bytes of an IPv4 header",
         e4(ip4(4) / Raw(q4.l3[:10]))),
        ("too_deep: a query inside five tunnels (GRE, VXLAN, 4in6, ERSPAN II, GENEVE)", deep5),
        ("depth_4: a response inside four tunnels (GRE, VXLAN, 4in6, ERSPAN II)", deep4),
        ("gre_mpls: GRE carrying MPLS (not ours, not malformed)",
         e4(ip4(47) / GRE(proto=0x8847) / Raw(bytes(12)))),
        ("erspan_arp: ARP mirrored in ERSPAN II (not IP)", e4(ip4(47) / erspan2 / Raw(arp))),
        ("pppoe_lcp_echo: LCP Echo-Request in a PPPoE session (not IP)", lcp_echo),
        ("gre_routing: GRE with a routing entry (R), carrying a query",
         e4(ip4(47) / Raw(gre_routing + q4.l3))),
        ("gre_v1: GRE version 1 (key, sequence) carrying a query",
         e4(ip4(47) / Raw(gre_v1 + q4.l3))),
    ]


def write_malformed(pcaps, src):
    s0, u0 = src[-1][0] + 1, 0
    cases = malformed_frames(src)
    recs = [later(s0, u0, 1000 * k) + (data,) for k, (_, data) in enumerate(cases)]
    write_pcap(os.path.join(pcaps, "tun-malformed.pcap"), LINKTYPE_ETHERNET, recs)
    for k, (what, _) in enumerate(cases):
        print("tun-malformed.pcap frame %d: %s" % (k + 1, what))


def main(argv):
    pcaps = argv[1] if len(argv) > 1 else "pcaps"
    src = source(pcaps)
    outputs = [
        ("tun-gre.pcap", LINKTYPE_ETHERNET, gre_frames(src)),
        ("tun-erspan2.pcap", LINKTYPE_ETHERNET, erspan2_frames(src)),
        ("tun-erspan3.pcap", LINKTYPE_ETHERNET, erspan3_frames(src)),
        ("tun-vxlan.pcap", LINKTYPE_ETHERNET, vxlan_frames(src)),
        ("tun-geneve.pcap", LINKTYPE_ETHERNET, geneve_frames(src)),
        ("tun-6in4.pcap", LINKTYPE_ETHERNET, sixin4_frames(src)),
        ("tun-ipip.pcap", LINKTYPE_ETHERNET, ipip_frames(src)),
        ("tun-pppoe.pcap", LINKTYPE_ETHERNET, pppoe_frames(src)),
        ("tun-pppoe-qinq.pcap", LINKTYPE_ETHERNET, pppoe_frames(src, qinq)),
        ("tun-ppp.pcap", LINKTYPE_PPP, ppp_frames(src, ppp_hdlc)),
        ("tun-ppp-hdlc.pcap", LINKTYPE_PPP_HDLC, ppp_frames(src, cisco_hdlc)),
    ]
    for name, linktype, recs in outputs:
        write_pcap(os.path.join(pcaps, name), linktype, recs)
        print("%s: %d frames" % (name, len(recs)))
    write_malformed(pcaps, src)


if __name__ == "__main__":
    main(sys.argv)
