//! Switching from root to an unprivileged user once the capture handles are open.
//!
//! The process keeps exactly CAP_NET_RAW and CAP_NET_ADMIN (permitted and effective), so that
//! a capture handle can be reopened when an interface comes back; every other capability and
//! the root identity are gone. This must run before any other thread is started: capability
//! sets are per thread and new threads inherit the caller's.

use std::ffi::CString;

/// Why the switch failed (the daemon refuses to run half-privileged).
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    /// The user does not exist.
    #[error("daemon.user: no such user `{0}`")]
    NoUser(String),
    /// A system call failed.
    #[error("dropping privileges to `{user}`: {call} failed: {source}")]
    Call {
        /// The user.
        user: String,
        /// The call.
        call: &'static str,
        /// OS error.
        source: std::io::Error,
    },
}

const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Switches to `user` (and its primary group) if running as root; a no-op otherwise.
pub fn drop_to(user: &str) -> Result<(), PrivilegeError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        log::info!("not running as root: staying uid {}", unsafe {
            libc::geteuid()
        });
        return Ok(());
    }
    let (uid, gid) = lookup(user)?;
    let fail = |call: &'static str| PrivilegeError::Call {
        user: user.to_owned(),
        call,
        source: std::io::Error::last_os_error(),
    };
    // SAFETY: plain system calls with scalar arguments; a null group list with size 0 is valid.
    unsafe {
        if libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 {
            return Err(fail("prctl(PR_SET_KEEPCAPS)"));
        }
        if libc::setgroups(0, std::ptr::null()) != 0 {
            return Err(fail("setgroups"));
        }
        if libc::setgid(gid) != 0 {
            return Err(fail("setgid"));
        }
        if libc::setuid(uid) != 0 {
            return Err(fail("setuid"));
        }
    }
    let keep = (1 << CAP_NET_RAW) | (1 << CAP_NET_ADMIN);
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: keep,
            permitted: keep,
            inheritable: 0,
        },
        CapData::default(),
    ];
    // SAFETY: capset with a version-3 header and two data words, as the kernel ABI requires.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
    if rc != 0 {
        return Err(fail("capset"));
    }
    // SAFETY: scalar prctl.
    unsafe {
        libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0);
    }
    log::info!(
        "switched to user {user} (uid {uid}, gid {gid}), keeping CAP_NET_RAW and CAP_NET_ADMIN"
    );
    Ok(())
}

/// The uid and primary gid of `user`.
pub fn lookup(user: &str) -> Result<(libc::uid_t, libc::gid_t), PrivilegeError> {
    let name = CString::new(user).map_err(|_| PrivilegeError::NoUser(user.to_owned()))?;
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16384];
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the call; `buf` outlives `pw`'s use below.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pw,
            buf.as_mut_ptr(),
            buf.len(),
            &mut out,
        )
    };
    if rc != 0 || out.is_null() {
        return Err(PrivilegeError::NoUser(user.to_owned()));
    }
    Ok((pw.pw_uid, pw.pw_gid))
}
