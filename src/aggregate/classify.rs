//! Junk, abuse and penetration indicators for root and TLD operators. HOT PATH: fixed arrays,
//! classification by byte comparisons on the decoded name, no allocation.
//!
//! Query classes are exclusive (first match in [`Class::ALL`] order) so their sum is the number
//! of classified queries: operators read "what share of my traffic is junk" straight off them.

use crate::decode::{Message, MsgCtx, Name};

/// Query classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Class {
    /// `. NS`: resolvers priming their root hints (RFC 8109).
    Priming,
    /// QTYPE ANY (RFC 8482 lets servers answer minimally).
    Any,
    /// Names under special-use TLDs that must never reach the root (RFC 6761, 6762, 7686, 9476):
    /// local, localhost, invalid, test, example, onion, alt.
    SpecialUse,
    /// Names under strings frequently leaked from private networks: home, corp, lan, internal,
    /// localdomain, domain, belkin, router, intranet, private, workgroup (ITHI M3.3 and DITL
    /// studies list these among the most queried non-existent TLDs).
    Leaked,
    /// A single label of 7 to 15 letters a–z: Chromium's intranet-redirect probes.
    ChromiumProbe,
    /// Reverse lookups: under in-addr.arpa or ip6.arpa.
    Reverse,
    /// Everything else with a valid name.
    Other,
}

impl Class {
    /// Every class in match order.
    pub const ALL: [Self; 7] = [
        Self::Priming,
        Self::Any,
        Self::SpecialUse,
        Self::Leaked,
        Self::ChromiumProbe,
        Self::Reverse,
        Self::Other,
    ];

    /// Label value.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Priming => "priming",
            Self::Any => "any",
            Self::SpecialUse => "special_use",
            Self::Leaked => "leaked",
            Self::ChromiumProbe => "chromium_probe",
            Self::Reverse => "reverse",
            Self::Other => "other",
        }
    }
}

const SPECIAL_USE: [&[u8]; 7] = [
    b"local",
    b"localhost",
    b"invalid",
    b"test",
    b"example",
    b"onion",
    b"alt",
];
const LEAKED: [&[u8]; 11] = [
    b"home",
    b"corp",
    b"lan",
    b"internal",
    b"localdomain",
    b"domain",
    b"belkin",
    b"router",
    b"intranet",
    b"private",
    b"workgroup",
];

/// Classifies a query's first question.
pub fn classify(qtype: u16, name: &Name) -> Class {
    let tld = name.tld();
    if name.labels() == 0 && qtype == 2 {
        Class::Priming
    } else if qtype == 255 {
        Class::Any
    } else if SPECIAL_USE.contains(&tld) {
        Class::SpecialUse
    } else if LEAKED.contains(&tld) {
        Class::Leaked
    } else if name.labels() == 1
        && (7..=15).contains(&tld.len())
        && tld.iter().all(u8::is_ascii_lowercase)
    {
        Class::ChromiumProbe
    } else if tld == b"arpa"
        && (name.as_bytes().ends_with(b".in-addr.arpa") || name.as_bytes().ends_with(b".ip6.arpa"))
    {
        Class::Reverse
    } else {
        Class::Other
    }
}

/// Whether any label is an IDNA A-label (`xn--`).
fn is_idn(name: &Name) -> bool {
    let n = name.as_bytes();
    n.starts_with(b"xn--") || n.windows(5).any(|w| w == b".xn--")
}

/// Extended DNS Error INFO-CODEs tracked individually (RFC 8914 registry: 0–30); others fold.
pub const EDE_CODES: usize = 31;

/// The indicator counters of one worker.
#[derive(Clone, Debug)]
pub struct Indicators {
    /// Queries by [`Class`].
    pub classes: [u64; Class::ALL.len()],
    /// Queries with an IDN (A-label) anywhere in the name.
    pub idn: u64,
    /// Queries whose name decoded (the denominator of the classes).
    pub named_queries: u64,
    /// Queries with 0x20 mixed-case names (resolver hygiene).
    pub mixed_case: u64,
    /// Query name length (presentation form, bytes, without final dot): exact, 0–255.
    pub name_lengths: [u64; 256],
    /// Query label count: exact, 0–127.
    pub label_counts: [u64; 128],
    /// NXDOMAIN responses by class of their question (for a root server every one of them is a
    /// non-existent TLD).
    pub nxdomain_classes: [u64; Class::ALL.len()],
    /// Responses carrying an Extended DNS Error, by INFO-CODE (the last slot: any other code).
    pub ede: [u64; EDE_CODES + 1],
}

impl Default for Indicators {
    fn default() -> Self {
        Self {
            classes: [0; Class::ALL.len()],
            idn: 0,
            named_queries: 0,
            mixed_case: 0,
            name_lengths: [0; 256],
            label_counts: [0; 128],
            nxdomain_classes: [0; Class::ALL.len()],
            ede: [0; EDE_CODES + 1],
        }
    }
}

impl Indicators {
    /// Counts one message.
    #[inline]
    pub fn observe(&mut self, _ctx: &MsgCtx, msg: &Message, name: &Name) {
        let Some((qtype, _)) = msg.question else {
            return;
        };
        if !name.is_valid() {
            if msg.header.qr()
                && let Some(e) = msg.edns.and_then(|e| e.ede_code)
            {
                self.ede[usize::from(e).min(EDE_CODES)] += 1;
            }
            return;
        }
        let class = classify(qtype, name) as usize;
        if msg.header.qr() {
            if msg.rcode() == 3 {
                self.nxdomain_classes[class] += 1;
            }
            if let Some(e) = msg.edns.and_then(|e| e.ede_code) {
                self.ede[usize::from(e).min(EDE_CODES)] += 1;
            }
            return;
        }
        self.named_queries += 1;
        self.classes[class] += 1;
        self.idn += u64::from(is_idn(name));
        self.mixed_case += u64::from(name.mixed_case());
        self.name_lengths[name.as_bytes().len().min(255)] += 1;
        self.label_counts[usize::from(name.labels()).min(127)] += 1;
    }

    /// Adds another worker's counters.
    pub fn merge(&mut self, o: &Self) {
        fn add(a: &mut [u64], b: &[u64]) {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        }
        add(&mut self.classes, &o.classes);
        self.idn += o.idn;
        self.named_queries += o.named_queries;
        self.mixed_case += o.mixed_case;
        add(&mut self.name_lengths, &o.name_lengths);
        add(&mut self.label_counts, &o.label_counts);
        add(&mut self.nxdomain_classes, &o.nxdomain_classes);
        add(&mut self.ede, &o.ede);
    }
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use super::*;
    use crate::decode::dns;

    fn name_of(qname: &[u8]) -> Name {
        let mut n = Name::default();
        let msg = dns::test::query(qname, 1, 0, &[]);
        dns::parse(&msg, &mut n).unwrap();
        n
    }

    fn wire(dotted: &str) -> Vec<u8> {
        let mut w = Vec::new();
        for l in dotted.split('.').filter(|l| !l.is_empty()) {
            w.push(l.len() as u8);
            w.extend_from_slice(l.as_bytes());
        }
        w.push(0);
        w
    }

    #[test]
    fn classes() {
        let c = |name: &str, qtype| classify(qtype, &name_of(&wire(name)));
        assert_eq!(c(".", 2), Class::Priming);
        assert_eq!(c(".", 1), Class::Other);
        assert_eq!(c("example.com", 255), Class::Any);
        assert_eq!(c("printer.local", 1), Class::SpecialUse);
        assert_eq!(c("nas.HOME", 1), Class::Leaked);
        assert_eq!(c("qwertyuiop", 1), Class::ChromiumProbe);
        assert_eq!(c("qwerty", 1), Class::Other); // 6 letters
        assert_eq!(c("qwerty7uiop", 1), Class::Other); // a digit
        assert_eq!(c("1.2.0.192.in-addr.arpa", 12), Class::Reverse);
        assert_eq!(c("arpa", 2), Class::Other);
        assert_eq!(c("www.example.com", 1), Class::Other);
    }

    #[test]
    fn idn_and_lengths() {
        assert!(is_idn(&name_of(&wire("xn--p1ai"))));
        assert!(is_idn(&name_of(&wire("www.xn--80ak6aa92e.com"))));
        assert!(!is_idn(&name_of(&wire("www.axn--b.com"))));
        let mut ind = Indicators::default();
        let n = name_of(&wire("www.example.com"));
        let q = dns::parse(
            &dns::test::query(&wire("www.example.com"), 1, 0, &[]),
            &mut Name::default(),
        )
        .unwrap();
        let ctx = MsgCtx::for_test(4, [0; 16]);
        ind.observe(&ctx, &q, &n);
        assert_eq!(
            (
                ind.name_lengths[15],
                ind.label_counts[3],
                ind.classes[Class::Other as usize]
            ),
            (1, 1, 1)
        );
    }
}
