//! `basic_auth_users`: HTTP basic authentication against bcrypt hashes.
//!
//! bcrypt is slow on purpose (tens of milliseconds at cost 10), so, as exporter-toolkit does,
//! the outcome of each (user, hash, password) is cached under its SHA-256, and a scraper that
//! sends the same credentials every time costs one bcrypt run per configuration. New
//! credentials are checked on the blocking pool, [`SLOTS`] at a time: a flood of bad logins
//! waits for a slot (then gets 503) instead of taking the HTTP thread or every core from
//! capture. An unknown user costs a bcrypt run too (against another user's hash), so timing
//! does not tell which users exist.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine;
use hyper::header::HeaderValue;
use tokio::sync::Semaphore;

use super::{WebConfigError, invalid};
use crate::snapshot::AuthFailure;

/// bcrypt checks run at once.
pub const SLOTS: usize = 1;
/// How long a request waits for a slot before it is answered 503.
pub const SLOT_WAIT: Duration = Duration::from_secs(2);
/// Outcomes cached; the cache is emptied when it fills.
const CACHE_MAX: usize = 1024;

/// The users and their hashes, with the cache of outcomes.
pub struct Auth {
    users: BTreeMap<String, String>,
    /// A configured hash, checked for unknown users.
    decoy: String,
    cache: Mutex<HashMap<[u8; 32], bool>>,
    slots: Arc<Semaphore>,
}

impl Auth {
    /// The users of `basic_auth_users` (`None` if there are none), their hashes checked.
    pub fn new(
        users: &Option<BTreeMap<String, String>>,
        file: &Path,
    ) -> Result<Option<Self>, WebConfigError> {
        let Some(users) = users.as_ref().filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        for (user, hash) in users {
            let key = || format!("basic_auth_users.{user}");
            if user.is_empty() || user.contains(':') {
                return Err(invalid(
                    file,
                    key(),
                    "a user name is not empty and has no `:`",
                ));
            }
            let parts = bcrypt::HashParts::from_str(hash)
                .map_err(|e| invalid(file, key(), format!("not a bcrypt hash: {e}")))?;
            let cost = parts.get_cost();
            if !(4..=31).contains(&cost) {
                return Err(invalid(
                    file,
                    key(),
                    format!("bcrypt cost {cost} is outside 4..=31"),
                ));
            }
        }
        let decoy = users.values().next().cloned().unwrap_or_default();
        Ok(Some(Self {
            users: users.clone(),
            decoy,
            cache: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(SLOTS)),
        }))
    }

    /// How many users.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// Checks a request's `Authorization` header.
    pub async fn check(&self, header: Option<&HeaderValue>) -> Result<(), AuthFailure> {
        let header = header.ok_or(AuthFailure::Missing)?;
        let (user, password) = decode(header.as_bytes()).ok_or(AuthFailure::Malformed)?;
        let known = self.users.get(&user);
        let hash = known.unwrap_or(&self.decoy).clone();
        let key = cache_key(&user, &hash, &password);
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .copied();
        let ok = match cached {
            Some(ok) => ok,
            None => {
                let permit =
                    tokio::time::timeout(SLOT_WAIT, Arc::clone(&self.slots).acquire_owned())
                        .await
                        .map_err(|_| AuthFailure::Busy)?
                        .map_err(|_| AuthFailure::Busy)?;
                // The permit goes with the work: a request dropped meanwhile still holds its
                // slot until bcrypt is done.
                let verified = tokio::task::spawn_blocking(move || {
                    let ok = bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false);
                    drop(permit);
                    ok
                })
                .await
                .unwrap_or(false);
                let ok = verified && known.is_some();
                let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
                cache.insert(key, ok);
                ok
            }
        };
        if ok { Ok(()) } else { Err(AuthFailure::Wrong) }
    }
}

/// `Basic base64(user:password)` (the scheme in any case), UTF-8.
fn decode(header: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(header).ok()?.trim();
    let (scheme, rest) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// SHA-256 of the three fields, each preceded by its length.
fn cache_key(user: &str, hash: &str, password: &str) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [user, hash, password] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part.as_bytes());
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    key
}

#[cfg(test)]
mod test {
    use super::*;

    fn basic(user_password: &str) -> HeaderValue {
        let b = base64::engine::general_purpose::STANDARD.encode(user_password);
        HeaderValue::from_str(&format!("Basic {b}")).unwrap()
    }

    fn auth(users: &[(&str, &str)]) -> Result<Option<Auth>, String> {
        let map = users
            .iter()
            .map(|(u, h)| ((*u).to_owned(), (*h).to_owned()))
            .collect();
        Auth::new(&Some(map), Path::new("web.yml")).map_err(|e| e.to_string())
    }

    #[test]
    fn headers_decode() {
        assert_eq!(
            decode(b"Basic YWxpY2U6czNjcjp0"),
            Some(("alice".into(), "s3cr:t".into()))
        );
        assert_eq!(
            decode(b"basic  YWxpY2U6"),
            Some(("alice".into(), String::new()))
        );
        assert_eq!(decode(b"Bearer YWxpY2U6czNjcjp0"), None);
        assert_eq!(decode(b"Basic !!!"), None);
        assert_eq!(decode(b"Basic YWxpY2U="), None, "no colon");
        assert_eq!(decode(b"Basic"), None);
    }

    #[test]
    fn hashes_are_checked() {
        assert!(auth(&[]).unwrap().is_none());
        let e = auth(&[("alice", "plaintext")]).err().unwrap();
        assert!(
            e.starts_with("web.yml: key `basic_auth_users.alice`: not a bcrypt hash"),
            "{e}"
        );
        let e = auth(&[("a:b", "x")]).err().unwrap();
        assert!(e.contains("basic_auth_users.a:b"), "{e}");
    }

    #[test]
    fn passwords_are_verified_and_outcomes_cached() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let a = auth(&[("alice", &hash)]).unwrap().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            assert_eq!(a.check(Some(&basic("alice:s3cret"))).await, Ok(()));
            assert_eq!(a.check(Some(&basic("alice:s3cret"))).await, Ok(()));
            assert_eq!(
                a.check(Some(&basic("alice:wrong"))).await,
                Err(AuthFailure::Wrong)
            );
            // An unknown user with the right password of another is refused.
            assert_eq!(
                a.check(Some(&basic("bob:s3cret"))).await,
                Err(AuthFailure::Wrong)
            );
            assert_eq!(a.check(None).await, Err(AuthFailure::Missing));
            assert_eq!(
                a.check(Some(&HeaderValue::from_static("Basic ???"))).await,
                Err(AuthFailure::Malformed)
            );
        });
        // Two successes and two failures, each cached once.
        assert_eq!(a.cache.lock().unwrap().len(), 3);
    }
}
