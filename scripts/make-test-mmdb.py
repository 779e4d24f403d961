#!/usr/bin/env python3
"""Builds the MaxMind DB files the geography tests read, with MaxMind's format written by the
`mmdb-writer` package (PyPI), not by dnsobs: a country database (type GeoLite2-Country) and an
AS database (type GeoLite2-ASN) over the documentation addresses of the test captures.

    make-test-mmdb.py OUTDIR    # writes OUTDIR/test-country.mmdb and OUTDIR/test-asn.mmdb
    make-test-mmdb.py OUTDIR --moved
        # the same networks in other countries and ASes (MOVED, AS number + 1000): what the
        # reload test swaps in

Networks not listed are not in the databases (dnsobs reports them as country ZZ, AS 0).
"""
import sys

from mmdb_writer import MMDBWriter, MmdbU32
from netaddr import IPSet

# (network, country, AS number, AS organisation or None)
NETWORKS = [
    ("192.0.2.8/30", "BR", 64500, "Example BR Telecom"),
    ("192.0.2.12/31", "AR", 64501, "Example AR Red"),
    ("192.0.2.14/32", "CL", 64502, "Example CL Net"),
    ("192.0.2.16/28", "US", 64503, None),
    ("198.51.100.0/24", "DE", 64504, "Example DE Netz"),
    ("203.0.113.0/24", "JP", 64505, "Example JP"),
    ("2001:db8::10/126", "BR", 64500, "Example BR Telecom"),
    ("2001:db8::1e/127", "MX", 64506, "Example MX"),
    ("2001:db8:1::/48", "NL", 64507, "Example NL"),
]
NAMES = {"BR": "Brazil", "AR": "Argentina", "CL": "Chile", "US": "United States",
         "DE": "Germany", "JP": "Japan", "MX": "Mexico", "NL": "Netherlands",
         "PT": "Portugal", "IT": "Italy", "FR": "France", "CA": "Canada", "AT": "Austria",
         "KR": "Korea", "ES": "Spain", "BE": "Belgium"}
# With --moved: each network's country becomes this one.
MOVED = {"BR": "PT", "AR": "IT", "CL": "FR", "US": "CA", "DE": "AT", "JP": "KR", "MX": "ES",
         "NL": "BE"}


def main():
    out = sys.argv[1]
    moved = "--moved" in sys.argv[2:]
    country = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-Country",
                         languages=["en"], description={"en": "dnsobs test countries"})
    asn = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-ASN",
                     languages=["en"], description={"en": "dnsobs test ASes"})
    for net, cc, num, org in NETWORKS:
        if moved:
            cc, num = MOVED[cc], num + 1000
        country.insert_network(IPSet([net]), {
            "country": {"iso_code": cc, "names": {"en": NAMES[cc]}},
        })
        rec = {"autonomous_system_number": MmdbU32(num)}
        if org:
            rec["autonomous_system_organization"] = org
        asn.insert_network(IPSet([net]), rec)
    country.to_db_file(f"{out}/test-country.mmdb")
    asn.to_db_file(f"{out}/test-asn.mmdb")


if __name__ == "__main__":
    main()
