#!/usr/bin/env python3
"""Expected geography figures of a capture, without dnsobs: tshark decodes every DNS message
(one per frame here; more is refused) and MaxMind's Python reader (`maxminddb`) looks up the
source of each query and the destination of each NXDOMAIN response.

    geo_expected.py CAPTURE COUNTRY.mmdb ASN.mmdb [SECONDS]  ->  JSON {"countries": …, "asns": …}

With SECONDS, also "intervals": {"START": {"CC": {…}}}: the countries' figures (but
sources_estimate) per interval of that width, START the interval's first second since the
epoch, from each message's frame time (`frame.time_epoch`, floored to whole seconds, then to the
width).

Counting rules as in ../shared/tools/oracle.py: a DNS message counts when its transport has port
53 on one side, no ICMP layer quotes it, and its 12-byte header was dissected. In a tunnel
(GRE, ERSPAN, VXLAN, GENEVE, IP-in-IP, 6in4) the innermost IP header is the message's: the last
occurrence of each field, and the IP version of the last `ip`/`ipv6` in `frame.protocols`.
"""
import json
import subprocess
import sys

import maxminddb

FIELDS = ["frame.time_epoch", "frame.protocols", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "udp.srcport", "udp.dstport",
          "tcp.srcport", "tcp.dstport", "icmp.type", "icmpv6.type", "dns.count.add_rr",
          "dns.flags.response", "dns.flags.rcode", "dns.rr.udp_payload_size", "dns.resp.z.do"]
KEYS = ["queries", "queries_do", "queries_edns", "queries_tcp", "queries_ipv6",
        "responses_nxdomain", "sources_estimate"]


def main():
    cap, cdb, adb = sys.argv[1:4]
    width = int(sys.argv[4]) if len(sys.argv) > 4 else None
    cmd = ["tshark", "-n", "-r", cap, "-o", "tcp.desegment_tcp_streams:TRUE",
           "-o", "dns.desegment_dns_messages:TRUE", "-o", "ip.defragment:TRUE",
           "-o", "ipv6.defragment:TRUE", "-Y", "dns", "-T", "fields", "-E", "aggregator=;",
           "-E", "occurrence=l"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    countries, asns = {}, {}
    sources = {}
    intervals = {}
    with maxminddb.open_database(cdb) as c, maxminddb.open_database(adb) as a:
        def where(ip):
            cc = ((c.get(ip) or {}).get("country") or {}).get("iso_code") or "ZZ"
            asn = (a.get(ip) or {}).get("autonomous_system_number") or 0
            return cc, str(asn)

        def bump(key, cc, asn, n=1):
            for table, k in ((countries, cc), (asns, asn)):
                table.setdefault(k, dict.fromkeys(KEYS, 0))[key] += n
            if width and key != "sources_estimate":
                per = intervals.setdefault(str(start), {})
                per.setdefault(cc, dict.fromkeys(KEYS[:-1], 0))[key] += n
        for line in out.splitlines():
            v = dict(zip(FIELDS, line.split("\t")))
            # Whole seconds as text: no float rounding of nanosecond times.
            start = int(v["frame.time_epoch"].split(".")[0]) // width * width if width else 0
            if v["icmp.type"] or v["icmpv6.type"] or not v["dns.count.add_rr"]:
                continue
            tcp = bool(v["tcp.srcport"])
            ports = (v["tcp.srcport"], v["tcp.dstport"]) if tcp else (v["udp.srcport"], v["udp.dstport"])
            if "53" not in ports:
                continue
            ips = [p for p in v["frame.protocols"].split(":") if p in ("ip", "ipv6")]
            v6 = bool(ips) and ips[-1] == "ipv6"
            src = v["ipv6.src"] if v6 else v["ip.src"]
            dst = v["ipv6.dst"] if v6 else v["ip.dst"]
            if v["dns.flags.response"] in ("1", "True"):
                if v["dns.flags.rcode"] == "3":
                    bump("responses_nxdomain", *where(dst))
                continue
            cc, asn = where(src)
            bump("queries", cc, asn)
            edns = bool(v["dns.rr.udp_payload_size"])
            bump("queries_edns", cc, asn, int(edns))
            bump("queries_do", cc, asn, int(edns and v["dns.resp.z.do"] in ("1", "True")))
            bump("queries_tcp", cc, asn, int(tcp))
            bump("queries_ipv6", cc, asn, int(v6))
            if src not in sources:
                sources[src] = (cc, asn)
                bump("sources_estimate", cc, asn)
    result = {"countries": countries, "asns": asns}
    if width:
        result["intervals"] = intervals
    json.dump(result, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
