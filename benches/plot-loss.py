#!/usr/bin/python3
"""Draws the live-capture loss curve written by benches/live-loss.sh.

usage: plot-loss.py [CSV] [PNG]
  CSV  default bench-data/loss-big-2000000-s42.csv
  PNG  default docs/loss-curve.png

One line per tool and worker count: achieved sending rate (packets/s, from tcpreplay) against
the share of offered packets the tool lost (its reported drops, plus anything missing that it
did not report). Needs matplotlib: Debian package python3-matplotlib (hence /usr/bin/python3).
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")  # no display on a build machine
import matplotlib.pyplot as plt  # noqa: E402


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "bench-data/loss-big-2000000-s42.csv"
    dst = sys.argv[2] if len(sys.argv) > 2 else "docs/loss-curve.png"
    lines = {}
    with open(src, newline="") as f:
        for r in csv.DictReader(f):
            label = "tcpdump -w /dev/null" if r["tool"] == "tcpdump" else f"dnsobs, {r['workers']} worker(s)"
            offered = int(r["offered"])
            counted = int(r["counted"] or 0)
            if not r["achieved_pps"] or offered == 0:
                continue
            lost = 100.0 * (offered - counted) / offered
            lines.setdefault(label, []).append((int(r["achieved_pps"]), lost, r["rate"]))
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    markers = {"tcpdump -w /dev/null": "s"}
    for label, pts in sorted(lines.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=markers.get(label, "o"), label=label)
    ax.set_xscale("log")
    ax.set_xlabel("achieved sending rate, packets/s (tcpreplay; last point is --topspeed)")
    ax.set_ylabel("packets lost, % of offered")
    worst = max((p[1] for pts in lines.values() for p in pts), default=0.0)
    ax.set_ylim(-1, max(5.0, worst * 1.1))
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title("Live capture loss, veth pair, 2 vCPU VM")
    ax.legend()
    fig.tight_layout()
    fig.savefig(dst)
    print(f"wrote {dst}")


if __name__ == "__main__":
    main()
