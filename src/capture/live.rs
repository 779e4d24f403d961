//! Live capture with libpcap (the `pcap` crate): one handle per worker, joined into a Linux
//! PACKET_FANOUT group so the kernel spreads packets over workers by flow.
//!
//! Fanout mode is HASH with the DEFRAG flag: the kernel's flow hash is symmetric, so a query
//! and its response, and every segment of a TCP flow, reach the same worker; DEFRAG reassembles
//! IPv4 fragments before hashing (IPv6 fragments share the addresses-only hash of fragments and
//! are reassembled by the worker). libpcap has no fanout API: the socket option is set on the
//! activated handle's descriptor, the only time the kernel accepts it (it needs a bound socket).
//! TPACKET_V3 is used (no immediate mode), with a 100 ms block timeout that bounds latency.

use std::os::fd::AsRawFd;

use pcap::{Active, Capture};

use super::{LinkType, Packet};

/// Block timeout of the capture ring: how long a packet may wait before delivery.
const TIMEOUT_MS: i32 = 100;

/// Why a capture handle could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// libpcap refused (no such device, no permission, ...).
    #[error("interface {iface}: {message}")]
    Pcap {
        /// Interface.
        iface: String,
        /// libpcap's message.
        message: String,
    },
    /// The interface's link type is not one dnsobs decodes.
    #[error("interface {iface}: unsupported link type {code}")]
    LinkType {
        /// Interface.
        iface: String,
        /// DLT value.
        code: i32,
    },
    /// Joining the fanout group failed.
    #[error("interface {iface}: PACKET_FANOUT: {source}")]
    Fanout {
        /// Interface.
        iface: String,
        /// OS error.
        source: std::io::Error,
    },
}

/// Settings of one handle.
#[derive(Clone, Debug)]
pub struct HandleSettings {
    /// Interface name.
    pub iface: String,
    /// Snapshot length.
    pub snaplen: u32,
    /// Kernel buffer in bytes.
    pub buffer_size: u64,
    /// Promiscuous mode.
    pub promiscuous: bool,
    /// BPF filter.
    pub filter: String,
    /// Fanout group id (`None`: do not join a group).
    pub fanout_group: Option<u16>,
}

/// An open capture handle.
pub struct Handle {
    iface: String,
    cap: Capture<Active>,
    link: LinkType,
    /// Last raw (32-bit, wrapping) libpcap counters, to accumulate deltas into 64 bits.
    last: (u32, u32),
    /// Kernel drops and interface drops since the handle was opened, 64-bit.
    pub dropped: (u64, u64),
}

fn pcap_err(iface: &str, e: pcap::Error) -> LiveError {
    LiveError::Pcap {
        iface: iface.to_owned(),
        message: e.to_string(),
    }
}

impl Handle {
    /// Opens, activates, joins the fanout group and installs the filter.
    pub fn open(s: &HandleSettings) -> Result<Self, LiveError> {
        let iface = s.iface.as_str();
        let cap = Capture::from_device(iface)
            .map_err(|e| pcap_err(iface, e))?
            .snaplen(s.snaplen.min(i32::MAX as u32) as i32)
            .buffer_size(s.buffer_size.min(i32::MAX as u64) as i32)
            .promisc(s.promiscuous)
            .timeout(TIMEOUT_MS)
            .immediate_mode(false)
            .precision(pcap::Precision::Nano)
            .open()
            .and_then(|c| c.setnonblock())
            .map_err(|e| pcap_err(iface, e))?;
        let code = cap.get_datalink().0;
        let link = LinkType::from_code(code as u32).ok_or(LiveError::LinkType {
            iface: iface.to_owned(),
            code,
        })?;
        let mut h = Self {
            iface: iface.to_owned(),
            cap,
            link,
            last: (0, 0),
            dropped: (0, 0),
        };
        // A socket outside the fanout group receives every packet: until it has joined, let it
        // accept nothing (libpcap also filters what queued before a filter was set), so no
        // packet is counted twice while several handles start.
        h.set_filter("less 1")?;
        if let Some(group) = s.fanout_group {
            join_fanout(h.cap.as_raw_fd(), group).map_err(|source| LiveError::Fanout {
                iface: iface.to_owned(),
                source,
            })?;
        }
        h.set_filter(&s.filter)?;
        Ok(h)
    }

    /// Installs a BPF filter (also used on SIGHUP).
    pub fn set_filter(&mut self, filter: &str) -> Result<(), LiveError> {
        self.cap
            .filter(filter, true)
            .map_err(|e| pcap_err(&self.iface, e))
    }

    /// The link type.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// The next packet: `Ok(None)` after waiting up to 100 ms with nothing to read.
    ///
    /// The handle is non-blocking and the wait is our own `poll`: with TPACKET_V3 a blocking
    /// `pcap_next_ex` waits forever on an idle interface (the kernel retires no empty block),
    /// which would keep a worker from ever seeing a stop request or flushing its counters.
    #[inline]
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, pcap::Error> {
        let fd = self.cap.as_raw_fd();
        match self.cap.next_packet() {
            Ok(p) => {
                // With nanosecond precision libpcap puts nanoseconds in tv_usec.
                let ts = (p.header.ts.tv_sec as u64)
                    .wrapping_mul(1_000_000_000)
                    .wrapping_add(p.header.ts.tv_usec as u64);
                return Ok(Some(Packet {
                    ts_ns: ts,
                    link: self.link,
                    data: p.data,
                    orig_len: p.header.len,
                }));
            }
            Err(pcap::Error::TimeoutExpired) => {}
            Err(e) => return Err(e),
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the capture socket, owned by this handle.
        unsafe { libc::poll(&mut pfd, 1, TIMEOUT_MS) };
        Ok(None)
    }

    /// Refreshes the drop counters from `pcap_stats` (32-bit in libpcap: deltas modulo 2^32).
    pub fn refresh_stats(&mut self) {
        if let Ok(s) = self.cap.stats() {
            self.dropped.0 += u64::from(s.dropped.wrapping_sub(self.last.0));
            self.dropped.1 += u64::from(s.if_dropped.wrapping_sub(self.last.1));
            self.last = (s.dropped, s.if_dropped);
        }
    }
}

/// `setsockopt(SOL_PACKET, PACKET_FANOUT, group | (HASH | FLAG_DEFRAG) << 16)`.
fn join_fanout(fd: i32, group: u16) -> std::io::Result<()> {
    let arg: libc::c_int = i32::from(group)
        | ((libc::PACKET_FANOUT_HASH | libc::PACKET_FANOUT_FLAG_DEFRAG) << 16) as i32;
    // SAFETY: `fd` is the live capture socket owned by the handle; `arg` outlives the call and
    // its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_FANOUT,
            (&arg as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
