//! Memory for the large random-access tables of the hot path (per-source sets, the geography's
//! source cache, the hygiene and latency tables, the name sketches), backed by **transparent
//! huge pages** where the kernel offers them.
//!
//! Each query touches a random slot of several tables of tens of megabytes. With 4 KiB pages
//! every such touch also misses the TLB, and the page walk stalls even the prefetch that
//! was meant to hide the miss (on the root-like benchmark the instruction after the geography
//! cache's prefetch held 20 % of `Aggregate::message`'s samples with 4 KiB pages, 6 % with
//! 2 MiB pages; the replay without geography got 8 % faster: docs/performance.md). Debian's default (`transparent_hugepage/enabled = madvise`) gives
//! huge pages only to memory that asks for them: [`filled`] asks (`madvise(MADV_HUGEPAGE)`)
//! before the first write, for tables of at least [`HUGE_MIN_BYTES`]. It is only advice: where
//! the kernel has no huge pages (`never`, another OS) the tables are the same, only slower.
//!
//! Not the hot path: called when a table is created or grows.

/// Tables smaller than this (one huge page) are not advised.
pub const HUGE_MIN_BYTES: usize = 2 << 20;

/// A vector of `n` copies of `fill`, its memory advised for huge pages when large.
pub fn filled<T: Clone>(n: usize, fill: T) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    advise_huge(v.as_ptr().cast(), v.capacity() * std::mem::size_of::<T>());
    v.resize(n, fill);
    v
}

/// An empty vector with room for `n` values, its memory advised for huge pages when large.
pub fn reserved<T>(n: usize) -> Vec<T> {
    let v: Vec<T> = Vec::with_capacity(n);
    advise_huge(v.as_ptr().cast(), v.capacity() * std::mem::size_of::<T>());
    v
}

/// Asks the kernel to back `[p, p + len)` (the whole pages in it) with huge pages.
fn advise_huge(p: *const u8, len: usize) {
    if len < HUGE_MIN_BYTES {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf reads a constant of the system.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let page = if page.is_power_of_two() { page } else { 4096 };
        let start = (p as usize).next_multiple_of(page);
        let end = (p as usize + len) & !(page - 1);
        if end > start {
            // SAFETY: the range lies inside the vector's own allocation (whole pages of it);
            // MADV_HUGEPAGE changes how its pages are backed, never their contents or mapping.
            // A failure (no THP support) leaves ordinary pages: the result is ignored on purpose.
            let _ = unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filled_has_every_value() {
        for n in [0, 1, 17, (HUGE_MIN_BYTES / 8) + 3] {
            let v = filled(n, 7u64);
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|&x| x == 7));
            // Exact capacity: `into_boxed_slice` does not reallocate.
            assert_eq!(v.capacity(), n);
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn large_tables_ask_for_huge_pages() {
        // Where THP is `madvise` or `always`, the advised range shows in smaps as `hg`.
        let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .unwrap_or_default();
        if !mode.contains("[madvise]") {
            return; // nothing to observe: `always` backs everything, `never` nothing
        }
        let v = filled(4 * HUGE_MIN_BYTES / 8, 1u64);
        // The middle of the table (its first page may share a mapping with other memory).
        let at = v.as_ptr() as usize + v.len() * 4;
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        let mut advised = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ')
                && let Some((a, b)) = range.split_once('-')
                && let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
            {
                inside = a <= at && at < b;
            } else if inside && line.starts_with("VmFlags:") {
                advised = line.split_whitespace().any(|f| f == "hg");
            }
        }
        assert!(advised, "the table's mapping is not advised for huge pages");
        drop(v);
    }
}
