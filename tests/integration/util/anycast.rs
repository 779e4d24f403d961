//! Splits a capture the way anycast instances of one service see its traffic: every flow
//! (client address and port, both directions, every TCP segment, every fragment of a datagram)
//! reaches one instance, chosen by a hash of the client, so one client reaches several
//! instances through different flows. Also moves a capture in time so that it spans two UTC
//! days.
//!
//! Like `../shared/tools/split_by_flow.py`, but fragments follow their datagram's first
//! fragment (by source, destination, protocol and IP id), which carries the ports.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A classic pcap file's records: `(header bytes, record header, frame)`.
struct Pcap {
    header: Vec<u8>,
    le: bool,
    nano: bool,
    records: Vec<([u8; 16], Vec<u8>)>,
}

fn read(path: &Path) -> Pcap {
    let data = std::fs::read(path).expect("capture reads");
    let magic = u32::from_le_bytes(data[..4].try_into().expect("pcap header"));
    let (le, nano) = match magic {
        0xa1b2_c3d4 => (true, false),
        0xa1b2_3c4d => (true, true),
        0xd4c3_b2a1 => (false, false),
        0x4d3c_b2a1 => (false, true),
        m => panic!("{}: not a classic pcap ({m:08x})", path.display()),
    };
    let u32_at = |b: &[u8]| {
        let a: [u8; 4] = b.try_into().expect("4 bytes");
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let mut records = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let rh: [u8; 16] = data[off..off + 16].try_into().expect("record header");
        let incl = u32_at(&rh[8..12]) as usize;
        records.push((rh, data[off + 16..off + 16 + incl].to_vec()));
        off += 16 + incl;
    }
    Pcap {
        header: data[..24].to_vec(),
        le,
        nano,
        records,
    }
}

/// What routes a frame: its client `(address, port)`, or the datagram it is a later fragment of.
enum Route {
    /// An unfragmented segment, or a datagram's first fragment: its client.
    Client(Vec<u8>, Option<Vec<u8>>),
    /// A later fragment of a datagram.
    Later(Vec<u8>),
    Other,
}

/// The frame's route (Ethernet, 802.1Q tags, IPv4 or IPv6 with a fragment header first).
fn route(f: &[u8]) -> Route {
    let mut off = 12;
    let mut et = u16::from_be_bytes([f[off], f[off + 1]]);
    while et == 0x8100 || et == 0x88a8 {
        off += 4;
        et = u16::from_be_bytes([f[off], f[off + 1]]);
    }
    let ip = off + 2;
    let (src, dst, proto, l4, frag) = match et {
        0x0800 => {
            let ihl = usize::from(f[ip] & 15) * 4;
            let flags = u16::from_be_bytes([f[ip + 6], f[ip + 7]]);
            let (first, more) = (flags & 0x1fff == 0, flags & 0x2000 != 0);
            let id = f[ip + 4..ip + 6].to_vec();
            let frag = (!first || more).then_some((id, first));
            (
                &f[ip + 12..ip + 16],
                &f[ip + 16..ip + 20],
                f[ip + 9],
                ip + ihl,
                frag,
            )
        }
        0x86dd => {
            let (mut proto, mut l4) = (f[ip + 6], ip + 40);
            let mut frag = None;
            if proto == 44 {
                let offset = u16::from_be_bytes([f[l4 + 2], f[l4 + 3]]);
                frag = Some((f[l4 + 4..l4 + 8].to_vec(), offset >> 3 == 0));
                proto = f[l4];
                l4 += 8;
            }
            (&f[ip + 8..ip + 24], &f[ip + 24..ip + 40], proto, l4, frag)
        }
        _ => return Route::Other,
    };
    let datagram = |id: &[u8]| [src, dst, &[proto], id].concat();
    if let Some((id, false)) = &frag {
        return Route::Later(datagram(id));
    }
    if f.len() < l4 + 4 || !matches!(proto, 6 | 17) {
        return Route::Other;
    }
    Route::Client(
        client(src, dst, &f[l4..]),
        frag.map(|(id, _)| datagram(&id)),
    )
}

/// The client side of a segment: the address and port that are not port 53's.
fn client(src: &[u8], dst: &[u8], l4: &[u8]) -> Vec<u8> {
    let (sp, dp) = (&l4[0..2], &l4[2..4]);
    if dp == [0, 53] {
        [src, sp].concat()
    } else {
        [dst, dp].concat()
    }
}

fn instance(client: &[u8], n: usize) -> usize {
    // FNV-1a: any fixed hash will do.
    let h = client.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    (h % n as u64) as usize
}

fn write(p: &Pcap, records: &[&([u8; 16], Vec<u8>)], path: &Path) {
    let mut out = p.header.clone();
    for (rh, frame) in records {
        out.extend_from_slice(rh);
        out.extend_from_slice(frame);
    }
    std::fs::write(path, out).expect("write split capture");
}

/// Splits `capture` into `n` captures `dir/NAME-i.pcap` as `n` anycast instances see it;
/// returns their paths.
pub fn split(capture: &Path, n: usize, dir: &Path) -> Vec<PathBuf> {
    let p = read(capture);
    // First fragments name their datagram's instance; later fragments follow it.
    let mut datagrams: HashMap<Vec<u8>, usize> = HashMap::new();
    let routes: Vec<Route> = p.records.iter().map(|(_, f)| route(f)).collect();
    for r in &routes {
        if let Route::Client(client, Some(datagram)) = r {
            datagrams.insert(datagram.clone(), instance(client, n));
        }
    }
    let mut parts: Vec<Vec<&([u8; 16], Vec<u8>)>> = vec![Vec::new(); n];
    for (rec, r) in p.records.iter().zip(&routes) {
        let i = match r {
            Route::Client(c, _) => instance(c, n),
            Route::Later(datagram) => datagrams.get(datagram).copied().unwrap_or(0),
            Route::Other => 0,
        };
        parts[i].push(rec);
    }
    let stem = capture.file_stem().unwrap_or_default().to_string_lossy();
    (0..n)
        .map(|i| {
            let path = dir.join(format!("{stem}-{i}.pcap"));
            write(&p, &parts[i], &path);
            path
        })
        .collect()
}

/// Writes `capture` moved in time so that its middle record falls on the next UTC midnight:
/// a capture of two days, with flows across midnight. Returns the new file.
pub fn across_midnight(capture: &Path, out: &Path) -> PathBuf {
    let mut p = read(capture);
    let (le, nano) = (p.le, p.nano);
    let get = |b: &[u8]| {
        let a: [u8; 4] = b.try_into().expect("4 bytes");
        u64::from(if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    };
    let put = |v: u64| {
        let v = v as u32;
        if le { v.to_le_bytes() } else { v.to_be_bytes() }
    };
    let unit = if nano { 1_000_000_000 } else { 1_000_000 };
    let ts = |rh: &[u8; 16]| get(&rh[0..4]) * unit + get(&rh[4..8]);
    let mid = ts(&p.records[p.records.len() / 2].0);
    let midnight = (mid / (86_400 * unit) + 1) * 86_400 * unit;
    let delta = midnight - mid;
    for (rh, _) in &mut p.records {
        let t = ts(rh) + delta;
        rh[0..4].copy_from_slice(&put(t / unit));
        rh[4..8].copy_from_slice(&put(t % unit));
    }
    let all: Vec<&([u8; 16], Vec<u8>)> = p.records.iter().collect();
    write(&p, &all, out);
    out.to_owned()
}
