//! The MaxMind DB files of the geography, and their live replacement.
//!
//! [`GeoDb`] holds the country and AS databases, memory-mapped through the `maxminddb` crate,
//! and the named regions. [`Live`] is the slot the daemon's workers read them from: a reload
//! (SIGHUP, or a file replaced on disk, noticed by [`Live::reload_if_changed`]) opens the files
//! again and swaps the new databases in; a file that cannot be opened keeps the old databases,
//! with an error returned for the log and a counted failure. The workers notice a reload by
//! its generation (one relaxed atomic load per message) and look their cached sources up
//! again as they see them next (see [`super::Geo`]); every message is counted once, with the
//! databases in force when its batch is applied.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use maxminddb::{Reader, geoip2};
use memmap2::Mmap;

/// Countries: `AA`..`ZZ` by index `26·a + b`; `ZZ` (675) is "unknown" (as in ISO 3166 user
/// assigned codes, and as DSC and pktvisor report it).
pub const COUNTRIES: usize = 26 * 26;
/// Index of `ZZ`.
pub const UNKNOWN: u16 = (COUNTRIES - 1) as u16;

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct GeoError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

/// The MaxMind DB files and the regions.
pub struct GeoDb {
    country: Option<Reader<Mmap>>,
    asn: Option<Reader<Mmap>>,
    /// Named groups of countries, by name.
    pub regions: Vec<Region>,
    /// The files, for the report.
    pub files: Vec<PathBuf>,
    /// The country and AS files, to open again on reload.
    paths: [Option<PathBuf>; 2],
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

/// A named group of countries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// Its name.
    pub name: String,
    /// Country indexes in it.
    pub countries: Vec<u16>,
}

/// The index of a two-letter country code (`ZZ` for anything else).
pub fn country_index(code: &str) -> u16 {
    match code.as_bytes() {
        [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            u16::from(a.to_ascii_uppercase() - b'A') * 26 + u16::from(b.to_ascii_uppercase() - b'A')
        }
        _ => UNKNOWN,
    }
}

/// The code of a country index.
pub fn country_code(i: u16) -> String {
    let i = i.min(UNKNOWN);
    let (a, b) = ((i / 26) as u8, (i % 26) as u8);
    String::from_utf8(vec![b'A' + a, b'A' + b]).unwrap_or_else(|_| "ZZ".into())
}

/// Opens `path`, a database whose type names one of `kinds` (case aside).
fn open(path: &Path, kinds: &[&str]) -> Result<Reader<Mmap>, GeoError> {
    let err = |reason: String| GeoError {
        path: path.to_owned(),
        reason,
    };
    // SAFETY: the map is read-only and private to this reader; the file must not be modified
    // in place while mapped (databases are replaced by renaming a new file over the old one,
    // as geoipupdate does: the old inode stays mapped until the reader is dropped).
    let r = unsafe { Reader::open_mmap(path) }.map_err(|e| err(e.to_string()))?;
    let t = r.metadata().database_type.to_ascii_lowercase();
    if !kinds.iter().any(|k| t.contains(k)) {
        return Err(err(format!(
            "a {} database, where a {} database is expected",
            r.metadata().database_type,
            kinds.join(" or ")
        )));
    }
    Ok(r)
}

impl GeoDb {
    /// Opens the databases given (a country database must say "Country" or "City" in its
    /// type, an AS database "ASN"); `regions` are `(name, country codes)`.
    pub fn open(
        country_path: Option<&Path>,
        asn_path: Option<&Path>,
        regions: &[(String, Vec<String>)],
    ) -> Result<Self, GeoError> {
        let country = country_path
            .map(|p| open(p, &["country", "city"]))
            .transpose()?;
        let asn = asn_path.map(|p| open(p, &["asn"])).transpose()?;
        let regions = regions
            .iter()
            .map(|(name, codes)| Region {
                name: name.clone(),
                countries: codes.iter().map(|c| country_index(c)).collect(),
            })
            .collect();
        Ok(Self {
            country,
            asn,
            regions,
            files: [country_path, asn_path]
                .into_iter()
                .flatten()
                .map(Path::to_owned)
                .collect(),
            paths: [
                country_path.map(Path::to_owned),
                asn_path.map(Path::to_owned),
            ],
        })
    }

    /// The same files opened again (as they are now on disk), with the same regions.
    pub fn reopen(&self) -> Result<Self, GeoError> {
        let [c, a] = &self.paths;
        let country = c
            .as_deref()
            .map(|p| open(p, &["country", "city"]))
            .transpose()?;
        let asn = a.as_deref().map(|p| open(p, &["asn"])).transpose()?;
        Ok(Self {
            country,
            asn,
            regions: self.regions.clone(),
            files: self.files.clone(),
            paths: self.paths.clone(),
        })
    }

    /// When each file (country, AS) was built, seconds since the epoch (its metadata).
    pub fn build_epochs(&self) -> [Option<u64>; 2] {
        [&self.country, &self.asn].map(|r| r.as_ref().map(|r| r.metadata().build_epoch))
    }

    /// What identifies each file's current content on disk: device, inode, size and change
    /// time (a replacement by rename, as geoipupdate does, changes the inode).
    fn signature(&self) -> Signature {
        use std::os::unix::fs::MetadataExt;
        self.paths
            .iter()
            .flatten()
            .map(|p| {
                std::fs::metadata(p)
                    .ok()
                    .map(|m| (m.dev(), m.ino(), m.size(), m.ctime(), m.ctime_nsec()))
            })
            .collect()
    }

    /// Whether an AS database is loaded.
    pub fn has_asn(&self) -> bool {
        self.asn.is_some()
    }

    /// Whether a country database is loaded.
    pub fn has_country(&self) -> bool {
        self.country.is_some()
    }

    /// `(country index, AS number)` of an address (`ZZ` and 0 when unknown).
    pub fn lookup(&self, ip: IpAddr) -> (u16, u32) {
        let (cc, asn, _) = self.lookup_memo(ip, &mut Memo::default());
        (cc, asn)
    }

    /// [`lookup`](Self::lookup), decoding each data record once: many networks share a
    /// record (a country's, an AS's), so `memo` keeps each record's answer by its offset in
    /// the file. Only the two fields needed are decoded (`country.iso_code`,
    /// `autonomous_system_number`), not the whole record (names in many languages).
    ///
    /// The third value is the prefix length of the narrowest network the databases hold the
    /// address in (in the address's own family: 0–32 for IPv4; a network above an IPv6
    /// database's IPv4 subtree counts as 0): every address sharing that many leading bits
    /// gets the same answer. A network the crate cannot state counts as a host route.
    pub fn lookup_memo<'a>(&'a self, ip: IpAddr, memo: &mut Memo) -> (u16, u32, u8) {
        use maxminddb::PathElement::Key;
        let host = if ip.is_ipv4() { 32 } else { 128 };
        let mut prefix = 0u8;
        // Looks `ip` up in one database, keeping the narrowest network either found it in.
        let mut look = |r: &'a Reader<Mmap>| {
            let l = r.lookup(ip).ok();
            let p = match l.as_ref().and_then(|l| l.network().ok()) {
                Some(n) if n.is_ipv6() && ip.is_ipv4() => 0,
                Some(n) => n.prefix(),
                None => host,
            };
            prefix = prefix.max(p);
            l
        };
        let cc = self.country.as_ref().and_then(&mut look).map(|l| {
            memo.get(&l, 0, || {
                l.decode_path::<&str>(&[Key("country"), Key("iso_code")])
                    .ok()
                    .flatten()
                    .map_or(u32::from(UNKNOWN), |c| u32::from(country_index(c)))
            })
        });
        let asn = self.asn.as_ref().and_then(&mut look);
        let asn = asn.map(|l| {
            memo.get(&l, 1, || {
                l.decode_path::<u32>(&[Key("autonomous_system_number")])
                    .ok()
                    .flatten()
                    .unwrap_or(0)
            })
        });
        let cc = cc.map_or(UNKNOWN, |c| u16::try_from(c).unwrap_or(UNKNOWN));
        (cc, asn.unwrap_or(0), prefix)
    }

    /// The organisation of the AS holding `ip`, if the AS database names one.
    pub fn organization(&self, ip: IpAddr) -> Option<String> {
        let r = self.asn.as_ref()?.lookup(ip).ok()?;
        let a = r.decode::<geoip2::Asn<'_>>().ok().flatten()?;
        a.autonomous_system_organization.map(str::to_owned)
    }
}

/// Decoded records by their offset, per database (see [`GeoDb::lookup_memo`]); bounded, and
/// emptied when the databases are replaced.
#[derive(Clone, Debug, Default)]
pub struct Memo {
    records: [std::collections::HashMap<usize, u32>; 2],
}

/// Records remembered per database (GeoLite2 Country has a few hundred, ASN some 80,000).
const MEMO_CAP: usize = 1 << 18;

impl Memo {
    /// The answer for the record `l` found (database `db`: 0 country, 1 AS), decoded by
    /// `decode` unless remembered; an address in no network is `decode`d (to nothing) too.
    fn get<S: AsRef<[u8]>>(
        &mut self,
        l: &maxminddb::LookupResult<'_, S>,
        db: usize,
        decode: impl FnOnce() -> u32,
    ) -> u32 {
        let (Some(off), Some(m)) = (l.offset(), self.records.get_mut(db)) else {
            return decode();
        };
        if let Some(&v) = m.get(&off) {
            return v;
        }
        let v = decode();
        if m.len() < MEMO_CAP {
            m.insert(off, v);
        }
        v
    }

    /// Forgets every record (the databases were replaced).
    pub fn clear(&mut self) {
        self.records
            .iter_mut()
            .for_each(std::collections::HashMap::clear);
    }
}

//------------ Live: the databases in force ------------------------------------

/// The reload counters and the build times of the databases in force, for the metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Successful reloads.
    pub reloads: u64,
    /// Failed reloads.
    pub reload_errors: u64,
    /// Build time of the country and AS databases in force (seconds since the epoch).
    pub build_epochs: [Option<u64>; 2],
}

/// Signature of the files on disk (see [`GeoDb::signature`]).
type Signature = Vec<Option<(u64, u64, u64, i64, i64)>>;

/// The databases in force, replaced on reload (see the module).
pub struct Live {
    current: RwLock<Arc<GeoDb>>,
    generation: AtomicU32,
    /// The files as they were when last opened; held for the whole of a reload, so that two
    /// (SIGHUP and the file check) never run at once.
    opened: Mutex<Signature>,
    /// Successful reloads.
    pub reloads: AtomicU64,
    /// Failed reloads (the old databases kept).
    pub reload_errors: AtomicU64,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl Live {
    /// A slot holding `db`.
    pub fn new(db: GeoDb) -> Self {
        Self {
            opened: Mutex::new(db.signature()),
            current: RwLock::new(Arc::new(db)),
            generation: AtomicU32::new(0),
            reloads: AtomicU64::new(0),
            reload_errors: AtomicU64::new(0),
        }
    }

    /// Bumped by every successful reload.
    #[inline]
    pub fn generation(&self) -> u32 {
        self.generation.load(Ordering::Acquire)
    }

    /// Sets the generation (tests of the workers' reaction to reloads).
    #[cfg(test)]
    pub(crate) fn set_generation(&self, g: u32) {
        self.generation.store(g, Ordering::Release);
    }

    /// The databases in force and their generation.
    pub fn current(&self) -> (Arc<GeoDb>, u32) {
        let db = self.current.read().unwrap_or_else(PoisonError::into_inner);
        (Arc::clone(&db), self.generation())
    }

    /// The counters and build times, as of now.
    pub fn status(&self) -> Status {
        Status {
            reloads: self.reloads.load(Ordering::Relaxed),
            reload_errors: self.reload_errors.load(Ordering::Relaxed),
            build_epochs: self.current().0.build_epochs(),
        }
    }

    /// Opens the files again and puts them in force; on error the old ones stay (counted).
    pub fn reload(&self) -> Result<(), GeoError> {
        let mut opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        self.reload_locked(&mut opened)
    }

    fn reload_locked(&self, opened: &mut Signature) -> Result<(), GeoError> {
        let (old, _) = self.current();
        // Not retried until a file changes again (or SIGHUP), whatever the outcome.
        *opened = old.signature();
        match old.reopen() {
            Ok(db) => {
                let mut cur = self.current.write().unwrap_or_else(PoisonError::into_inner);
                *cur = Arc::new(db);
                self.generation.fetch_add(1, Ordering::AcqRel);
                drop(cur);
                self.reloads.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.reload_errors.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// [`reload`](Self::reload) if a file changed on disk since it was opened; `Ok(false)` if
    /// none did.
    pub fn reload_if_changed(&self) -> Result<bool, GeoError> {
        let mut opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        if *opened == self.current().0.signature() {
            return Ok(false);
        }
        self.reload_locked(&mut opened).map(|()| true)
    }
}
