//! The fixed taxonomy of malformed traffic: one variant, one `reason` label.
//!
//! A packet or DNS message that cannot be read as the RFCs describe is counted under exactly one
//! of these reasons (the first problem met while decoding) and the run goes on. The set is closed
//! so that `dnsobs_malformed_packets_total{reason}` has a bounded label set.

/// Why a frame, datagram, segment or DNS message was counted as malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Malformed {
    /// The frame is shorter than its link-layer header.
    LinkTruncated,
    /// An encapsulation header (GRE, ERSPAN, VXLAN, GENEVE, PPPoE) cut short or of an unknown
    /// version.
    TunnelInvalid,
    /// A packet inside more tunnels than the decoder follows (4: `MAX_DEPTH` in tunnel.rs).
    TunnelTooDeep,
    /// IPv4/IPv6 header cut short, wrong version, header length or total length invalid.
    IpInvalid,
    /// An IPv6 extension header runs past the end of the packet.
    Ipv6ExtInvalid,
    /// A fragment that cannot belong to a valid datagram (past 65535 bytes, bad offset, too many pieces).
    FragmentInvalid,
    /// UDP header cut short or its length field smaller than 8.
    UdpInvalid,
    /// TCP header cut short or data offset invalid.
    TcpInvalid,
    /// The capture's snapshot length cut the DNS message (not the sender's fault).
    CaptureTruncated,
    /// A UDP datagram on a DNS port with an empty payload.
    DnsEmpty,
    /// Fewer than 12 bytes: not even a DNS header.
    HeaderTruncated,
    /// The payload is not DNS at all (printable text where a DNS header should be).
    NotDns,
    /// A label length runs past the end of the message.
    LabelPastEnd,
    /// A label length byte uses the reserved 0x40/0x80 types (a length above 63).
    LabelTooLong,
    /// The uncompressed name is longer than 255 octets.
    NameTooLong,
    /// Compression pointers form a loop.
    PointerLoop,
    /// A compression pointer points past the end of the message.
    PointerOutOfRange,
    /// A compression pointer points forward (RFC 1035 4.1.4: "a prior occurrence").
    PointerForward,
    /// The question section is shorter than QDCOUNT promises.
    QuestionTruncated,
    /// A resource record (or the count of them) runs past the end of the message.
    RecordTruncated,
    /// The OPT record's fixed part or its option list is cut short.
    OptTruncated,
    /// More than one OPT record (RFC 6891 6.1.1: FORMERR).
    OptDuplicate,
    /// OPT with a non-root owner name.
    OptInvalid,
    /// A TCP DNS length prefix promised more bytes than the stream delivered before it closed.
    TcpIncomplete,
}

impl Malformed {
    /// Every reason, in label order (used to size counter arrays and to render all label values).
    pub const ALL: [Self; 24] = [
        Self::LinkTruncated,
        Self::TunnelInvalid,
        Self::TunnelTooDeep,
        Self::IpInvalid,
        Self::Ipv6ExtInvalid,
        Self::FragmentInvalid,
        Self::UdpInvalid,
        Self::TcpInvalid,
        Self::CaptureTruncated,
        Self::DnsEmpty,
        Self::HeaderTruncated,
        Self::NotDns,
        Self::LabelPastEnd,
        Self::LabelTooLong,
        Self::NameTooLong,
        Self::PointerLoop,
        Self::PointerOutOfRange,
        Self::PointerForward,
        Self::QuestionTruncated,
        Self::RecordTruncated,
        Self::OptTruncated,
        Self::OptDuplicate,
        Self::OptInvalid,
        Self::TcpIncomplete,
    ];
    /// Number of reasons.
    pub const COUNT: usize = Self::ALL.len();

    /// The stable label used in reports and in the `reason` label.
    pub const fn label(self) -> &'static str {
        match self {
            Self::LinkTruncated => "link_truncated",
            Self::TunnelInvalid => "tunnel_invalid",
            Self::TunnelTooDeep => "tunnel_too_deep",
            Self::IpInvalid => "ip_invalid",
            Self::Ipv6ExtInvalid => "ipv6_ext_invalid",
            Self::FragmentInvalid => "fragment_invalid",
            Self::UdpInvalid => "udp_invalid",
            Self::TcpInvalid => "tcp_invalid",
            Self::CaptureTruncated => "capture_truncated",
            Self::DnsEmpty => "dns_empty",
            Self::HeaderTruncated => "header_truncated",
            Self::NotDns => "not_dns",
            Self::LabelPastEnd => "label_past_end",
            Self::LabelTooLong => "label_too_long",
            Self::NameTooLong => "name_too_long",
            Self::PointerLoop => "pointer_loop",
            Self::PointerOutOfRange => "pointer_out_of_range",
            Self::PointerForward => "pointer_forward",
            Self::QuestionTruncated => "question_truncated",
            Self::RecordTruncated => "record_truncated",
            Self::OptTruncated => "opt_truncated",
            Self::OptDuplicate => "opt_duplicate",
            Self::OptInvalid => "opt_invalid",
            Self::TcpIncomplete => "tcp_incomplete",
        }
    }

    /// Index into counter arrays (`0..COUNT`).
    pub const fn index(self) -> usize {
        self as usize
    }
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn labels_are_unique_and_indexed_in_order() {
        for (i, m) in Malformed::ALL.iter().enumerate() {
            assert_eq!(m.index(), i);
        }
        let mut labels: Vec<_> = Malformed::ALL.iter().map(|m| m.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), Malformed::COUNT);
    }
}
