//! Ethernet types that name an IP payload: in Ethernet frames (`link`), in Cisco HDLC framing
//! (`ppp`) and in GRE and GENEVE headers (`tunnel`).

/// IPv4.
pub const IPV4: u16 = 0x0800;
/// IPv6.
pub const IPV6: u16 = 0x86DD;
