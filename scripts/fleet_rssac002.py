#!/usr/bin/env python3
"""Letter-wide RSSAC002 figures from the fleet Parquet tables of many dnsobs instances.

Every instance writes, per UTC day, `ROOT/day_counts/date=…/node=…/part-0.parquet` (its counters
in long form) and `ROOT/day_sources/date=…/node=…/part-0.parquet` (its distinct sources as the
fleet key's pseudonyms) with `dnsobs replay --state-dir … --state-key … --state-parquet ROOT`
or the daemon's `[state] parquet_directory`. Collect the nodes' directories under one ROOT (or
point ROOT at object storage); this job adds the counters across nodes and counts the distinct
pseudonyms, which is exactly the service's RSSAC002 unique-sources (a source seen by several
instances counts once) - no dnsobs needed.

    spark-submit scripts/fleet_rssac002.py ROOT [--out FILE.json]
    python3 scripts/fleet_rssac002.py ROOT          # pyspark installed, local mode

Output: JSON {"days": {DATE: {traffic-volume, traffic-sizes, rcode-volume, unique-sources}},
"totals": {DATE: {metric: value}}, "nodes": {DATE: [node, ...]}}, with the keys of
`dnsobs merge --format json` (its rssac002.days[]) so the two can be compared.
"""
import argparse
import json
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

VOLUME = [
    ("dns-udp-queries-received-ipv4", "rssac002_queries", "udp", 4),
    ("dns-udp-queries-received-ipv6", "rssac002_queries", "udp", 6),
    ("dns-tcp-queries-received-ipv4", "rssac002_queries", "tcp", 4),
    ("dns-tcp-queries-received-ipv6", "rssac002_queries", "tcp", 6),
    ("dns-udp-responses-sent-ipv4", "rssac002_responses", "udp", 4),
    ("dns-udp-responses-sent-ipv6", "rssac002_responses", "udp", 6),
    ("dns-tcp-responses-sent-ipv4", "rssac002_responses", "tcp", 4),
    ("dns-tcp-responses-sent-ipv6", "rssac002_responses", "tcp", 6),
]
SIZES = [
    ("udp-request-sizes", "rssac002_request_size", "udp"),
    ("udp-response-sizes", "rssac002_response_size", "udp"),
    ("tcp-request-sizes", "rssac002_request_size", "tcp"),
    ("tcp-response-sizes", "rssac002_response_size", "tcp"),
]
SOURCES = [("num-sources-ipv4", "ipv4"), ("num-sources-ipv6", "ipv6"),
           ("num-sources-ipv6-aggregate", "ipv6_64")]


def bin_start(key):
    return int(key.split("-")[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", help="directory holding day_counts/ and day_sources/")
    ap.add_argument("--out", help="write the JSON here instead of standard output")
    ap.add_argument("--master", default="local[*]", help="Spark master (default local[*])")
    args = ap.parse_args()
    t0 = time.time()
    spark = (SparkSession.builder.master(args.master).appName("dnsobs-fleet-rssac002")
             .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC")
             .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    counts = spark.read.parquet(f"{args.root}/day_counts")
    sources = spark.read.parquet(f"{args.root}/day_sources")

    # Counters add up across nodes; `day` is the UTC date a counter belongs to.
    summed = (counts.groupBy("day", "metric", "transport", "ip_version", "key")
              .agg(F.sum("value").alias("value")).collect())
    # Distinct sources: the union across nodes, not the sum.
    distinct = (sources.groupBy("day", "kind")
                .agg(F.countDistinct("fingerprint").alias("n")).collect())
    nodes = counts.groupBy("day").agg(F.sort_array(F.collect_set("node")).alias("nodes")).collect()

    by = {}
    for r in summed:
        by[(r["day"], r["metric"], r["transport"], r["ip_version"], r["key"])] = int(r["value"])
    days = sorted({k[0] for k in by if k[1].startswith("rssac002_")} | {r["day"] for r in distinct})
    out = {"days": {}, "totals": {}, "nodes": {r["day"]: list(r["nodes"]) for r in nodes}}
    for day in days:
        doc = {"traffic-volume": {}, "traffic-sizes": {}, "rcode-volume": {}, "unique-sources": {}}
        for name, metric, t, v in VOLUME:
            doc["traffic-volume"][name] = by.get((day, metric, t, v, ""), 0)
        for name, metric, t in SIZES:
            bins = {k[4]: n for k, n in by.items() if k[0] == day and k[1] == metric and k[2] == t}
            doc["traffic-sizes"][name] = dict(sorted(bins.items(), key=lambda kv: bin_start(kv[0])))
        rc = {k[4]: n for k, n in by.items() if k[0] == day and k[1] == "rssac002_rcode"}
        doc["rcode-volume"] = dict(sorted(rc.items(), key=lambda kv: int(kv[0])))
        got = {(r["day"], r["kind"]): int(r["n"]) for r in distinct}
        for name, kind in SOURCES:
            doc["unique-sources"][name] = got.get((day, kind), 0)
        out["days"][day] = doc
        tot = {}
        for k, n in by.items():
            if k[0] == day and not k[1].startswith("rssac002_"):
                label = k[1] + "".join(f"/{x}" for x in k[2:] if x not in ("", 0))
                tot[label] = n
        out["totals"][day] = dict(sorted(tot.items()))
    spark.stop()
    out["seconds"] = round(time.time() - t0, 3)
    text = json.dumps(out, indent=1, sort_keys=False)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
