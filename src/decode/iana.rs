//! IANA DNS registries as one table each: number ↔ mnemonic.
//!
//! Unassigned values are spelled as RFC 3597 does (`TYPE65280`, `CLASS4096`) and, for opcodes
//! and rcodes, `OPCODE<n>` / `RCODE<n>`: the same spelling as the oracle schema.

use std::borrow::Cow;

/// RR TYPEs (the IANA "Resource Record (RR) TYPEs" registry).
#[rustfmt::skip]
pub const QTYPES: &[(u16, &str)] = &[
    (1, "A"), (2, "NS"), (3, "MD"), (4, "MF"), (5, "CNAME"), (6, "SOA"), (7, "MB"), (8, "MG"),
    (9, "MR"), (10, "NULL"), (11, "WKS"), (12, "PTR"), (13, "HINFO"), (14, "MINFO"), (15, "MX"),
    (16, "TXT"), (17, "RP"), (18, "AFSDB"), (19, "X25"), (20, "ISDN"), (21, "RT"), (22, "NSAP"),
    (23, "NSAP-PTR"), (24, "SIG"), (25, "KEY"), (26, "PX"), (27, "GPOS"), (28, "AAAA"),
    (29, "LOC"), (30, "NXT"), (31, "EID"), (32, "NIMLOC"), (33, "SRV"), (34, "ATMA"),
    (35, "NAPTR"), (36, "KX"), (37, "CERT"), (38, "A6"), (39, "DNAME"), (40, "SINK"),
    (41, "OPT"), (42, "APL"), (43, "DS"), (44, "SSHFP"), (45, "IPSECKEY"), (46, "RRSIG"),
    (47, "NSEC"), (48, "DNSKEY"), (49, "DHCID"), (50, "NSEC3"), (51, "NSEC3PARAM"), (52, "TLSA"),
    (53, "SMIMEA"), (55, "HIP"), (56, "NINFO"), (57, "RKEY"), (58, "TALINK"), (59, "CDS"),
    (60, "CDNSKEY"), (61, "OPENPGPKEY"), (62, "CSYNC"), (63, "ZONEMD"), (64, "SVCB"),
    (65, "HTTPS"), (66, "DSYNC"), (99, "SPF"), (100, "UINFO"), (101, "UID"), (102, "GID"),
    (103, "UNSPEC"), (104, "NID"), (105, "L32"), (106, "L64"), (107, "LP"), (108, "EUI48"),
    (109, "EUI64"), (249, "TKEY"), (250, "TSIG"), (251, "IXFR"), (252, "AXFR"), (253, "MAILB"),
    (254, "MAILA"), (255, "ANY"), (256, "URI"), (257, "CAA"), (258, "AVC"), (259, "DOA"),
    (260, "AMTRELAY"), (261, "RESINFO"), (32768, "TA"), (32769, "DLV"),
];

/// CLASSes.
pub const QCLASSES: &[(u16, &str)] =
    &[(1, "IN"), (3, "CH"), (4, "HS"), (254, "NONE"), (255, "ANY")];

/// OPCODEs.
pub const OPCODES: &[(u16, &str)] = &[
    (0, "QUERY"),
    (1, "IQUERY"),
    (2, "STATUS"),
    (4, "NOTIFY"),
    (5, "UPDATE"),
    (6, "DSO"),
];

/// RCODEs, including the extended ones that need OPT (16 and up).
#[rustfmt::skip]
pub const RCODES: &[(u16, &str)] = &[
    (0, "NOERROR"), (1, "FORMERR"), (2, "SERVFAIL"), (3, "NXDOMAIN"), (4, "NOTIMP"),
    (5, "REFUSED"), (6, "YXDOMAIN"), (7, "YXRRSET"), (8, "NXRRSET"), (9, "NOTAUTH"),
    (10, "NOTZONE"), (11, "DSOTYPENI"), (16, "BADVERS"), (17, "BADKEY"), (18, "BADTIME"),
    (19, "BADMODE"), (20, "BADNAME"), (21, "BADALG"), (22, "BADTRUNC"), (23, "BADCOOKIE"),
];

/// EDNS option codes dnsobs reports on (IANA "DNS EDNS0 Option Codes").
#[rustfmt::skip]
pub const EDNS_OPTIONS: &[(u16, &str)] = &[
    (3, "nsid"), (8, "ecs"), (9, "expire"), (10, "cookie"), (11, "keepalive"), (12, "padding"),
    (14, "keytag"), (15, "ede"),
];

fn lookup(table: &'static [(u16, &'static str)], n: u16) -> Option<&'static str> {
    table.iter().find(|(v, _)| *v == n).map(|(_, s)| *s)
}

fn name(table: &'static [(u16, &'static str)], prefix: &str, n: u16) -> Cow<'static, str> {
    match lookup(table, n) {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(format!("{prefix}{n}")),
    }
}

/// Mnemonic of a QTYPE (`TYPE<n>` if unassigned).
pub fn qtype_name(n: u16) -> Cow<'static, str> {
    name(QTYPES, "TYPE", n)
}
/// Mnemonic of a QCLASS (`CLASS<n>` if unassigned).
pub fn qclass_name(n: u16) -> Cow<'static, str> {
    name(QCLASSES, "CLASS", n)
}
/// Mnemonic of an OPCODE (`OPCODE<n>` if unassigned).
pub fn opcode_name(n: u16) -> Cow<'static, str> {
    name(OPCODES, "OPCODE", n)
}
/// Mnemonic of an (extended) RCODE (`RCODE<n>` if unassigned).
pub fn rcode_name(n: u16) -> Cow<'static, str> {
    name(RCODES, "RCODE", n)
}
/// Mnemonic of a QTYPE for bounded metric labels: assigned types keep their name, the rest fold
/// into `other`.
pub fn qtype_label(n: u16) -> &'static str {
    lookup(QTYPES, n).unwrap_or("other")
}
/// Bounded label of a QCLASS.
pub fn qclass_label(n: u16) -> &'static str {
    lookup(QCLASSES, n).unwrap_or("other")
}
/// Bounded label of an OPCODE.
pub fn opcode_label(n: u16) -> &'static str {
    lookup(OPCODES, n).unwrap_or("other")
}
/// Bounded label of an RCODE.
pub fn rcode_label(n: u16) -> &'static str {
    lookup(RCODES, n).unwrap_or("other")
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn names_and_fallbacks() {
        assert_eq!(qtype_name(1), "A");
        assert_eq!(qtype_name(65), "HTTPS");
        assert_eq!(qtype_name(65280), "TYPE65280");
        assert_eq!(qclass_name(4), "HS");
        assert_eq!(qclass_name(9), "CLASS9");
        assert_eq!(opcode_name(10), "OPCODE10");
        assert_eq!(rcode_name(16), "BADVERS");
        assert_eq!(rcode_name(4095), "RCODE4095");
        assert_eq!(qtype_label(65280), "other");
    }

    #[test]
    fn tables_are_sorted_and_unique() {
        for t in [QTYPES, QCLASSES, OPCODES, RCODES, EDNS_OPTIONS] {
            assert!(t.windows(2).all(|w| w[0].0 < w[1].0));
        }
    }
}
