//! The dnstap Unix socket: DNS servers connect as Frame Streams writers, this side reads.
//!
//! One thread serves every connection with `poll(2)` (writers are few: one per server process,
//! or per server thread for some), so the frames of all writers reach one worker and one
//! aggregate, and queries meet their responses for latency matching. Connections are capped;
//! each gets one frame buffer at accept, nothing is allocated per frame. A framing or handshake
//! error closes only the connection it happened on.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use super::fstrm::{self, ControlType, Mode};
use super::{Problem, Stats, Stream};

/// Why the socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Something that is not a socket is in the way.
    #[error("dnstap socket {}: exists and is not a socket; not removing it", .0.display())]
    NotASocket(PathBuf),
    /// Another reader is listening there.
    #[error("dnstap socket {}: another process is listening on it", .0.display())]
    InUse(PathBuf),
    /// Binding, removing the stale socket or setting its mode failed.
    #[error("dnstap socket {}: {error}", path.display())]
    Io {
        /// The socket path.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
}

/// Socket settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Path of the socket.
    pub path: PathBuf,
    /// File mode of the socket (writers need write permission to connect).
    pub mode: u32,
    /// Writers connected at once; more are closed at accept (counted).
    pub max_connections: usize,
    /// Largest data frame accepted; longer ones are skipped (counted).
    pub max_frame: usize,
}

struct Conn {
    stream: UnixStream,
    reader: Stream,
}

/// The listening socket and its connections. Removes the socket file when dropped.
pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    settings: Settings,
    conns: Vec<Option<Conn>>,
    fds: Vec<libc::pollfd>,
    /// Counters of the socket and its streams.
    pub stats: Stats,
}

impl Server {
    /// Removes a stale socket left by a previous run (never another kind of file, never a socket
    /// someone still listens on), binds, and sets the mode.
    pub fn bind(settings: &Settings) -> Result<Self, ServerError> {
        let path = settings.path.clone();
        let io = |error| ServerError::Io {
            path: path.clone(),
            error,
        };
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_socket() => {
                if UnixStream::connect(&path).is_ok() {
                    return Err(ServerError::InUse(path));
                }
                std::fs::remove_file(&path).map_err(io)?;
            }
            Ok(_) => return Err(ServerError::NotASocket(path)),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let listener = UnixListener::bind(&path).map_err(io)?;
        let server = Self {
            listener,
            path: path.clone(),
            settings: settings.clone(),
            conns: (0..settings.max_connections).map(|_| None).collect(),
            fds: Vec::with_capacity(settings.max_connections + 1),
            stats: Stats::default(),
        };
        // From here on `server` owns the file: an error below unlinks it on drop.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(settings.mode))
            .map_err(io)?;
        server.listener.set_nonblocking(true).map_err(io)?;
        Ok(server)
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Changes the socket's owner (used before a privilege drop, so the socket belongs to the
    /// user the daemon becomes).
    pub fn chown(&self, uid: u32, gid: u32) -> Result<(), ServerError> {
        std::os::unix::fs::lchown(&self.path, Some(uid), Some(gid)).map_err(|error| {
            ServerError::Io {
                path: self.path.clone(),
                error,
            }
        })
    }

    /// Waits up to `timeout_ms` for activity, accepts writers and reads what they sent, calling
    /// `on_data` for every data frame's payload.
    pub fn poll_once(&mut self, timeout_ms: i32, on_data: &mut impl FnMut(&[u8], &mut Stats)) {
        self.fds.clear();
        self.fds.push(libc::pollfd {
            fd: self.listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        for c in self.conns.iter().flatten() {
            self.fds.push(libc::pollfd {
                fd: c.stream.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: `fds` is a valid, initialised array of `len` pollfd structures that lives
        // across the call; poll only writes their `revents`.
        let n = unsafe {
            libc::poll(
                self.fds.as_mut_ptr(),
                self.fds.len() as libc::nfds_t,
                timeout_ms,
            )
        };
        if n <= 0 {
            return;
        }
        if self.fds[0].revents != 0 {
            self.accept();
        }
        let stats = &mut self.stats;
        for c in &mut self.conns {
            let Some(conn) = c else { continue };
            let fd = conn.stream.as_raw_fd();
            // Connections accepted in this round are not in `fds`; they are read next round.
            let Some(p) = self.fds[1..].iter().find(|p| p.fd == fd) else {
                continue;
            };
            if p.revents == 0 {
                continue;
            }
            if !Self::read_conn(conn, stats, on_data) {
                *c = None;
                stats.connections_open -= 1;
            }
        }
    }

    fn accept(&mut self) {
        loop {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // WouldBlock: all taken; other errors (EMFILE...) are retried next round.
                Err(_) => return,
            };
            let Some(slot) = self.conns.iter_mut().find(|c| c.is_none()) else {
                // Full: refuse this writer (it retries later), keep the ones we have.
                self.stats.connections_rejected += 1;
                drop(stream);
                continue;
            };
            if stream.set_nonblocking(true).is_err() {
                self.stats.problem(Problem::Io);
                continue;
            }
            self.stats.connections_accepted += 1;
            self.stats.connections_open += 1;
            *slot = Some(Conn {
                stream,
                reader: Stream::new(Mode::Bidirectional, self.settings.max_frame),
            });
        }
    }

    /// Reads what is there; false when the connection is to be closed.
    fn read_conn(
        conn: &mut Conn,
        stats: &mut Stats,
        on_data: &mut impl FnMut(&[u8], &mut Stats),
    ) -> bool {
        // Bounded: a writer that never pauses cannot starve the others or the flush.
        for _ in 0..64 {
            let n = match conn.stream.read(conn.reader.space()) {
                Ok(0) => {
                    // Closed without STOP/FINISH (a server killed or restarted): counted only
                    // if it cut a frame in two.
                    if !conn.reader.is_idle() {
                        stats.problem(Problem::Truncated);
                    }
                    return false;
                }
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    stats.problem(Problem::Io);
                    return false;
                }
            };
            match conn.reader.process(n, stats, on_data) {
                Ok(o) => {
                    if o.accept && !send(&mut conn.stream, ControlType::Accept, true, stats) {
                        return false;
                    }
                    if o.finish {
                        send(&mut conn.stream, ControlType::Finish, false, stats);
                    }
                    if o.done {
                        return false;
                    }
                }
                Err(p) => {
                    stats.problem(p);
                    return false;
                }
            }
        }
        true
    }
}

/// Sends a control frame. Replies are a few dozen bytes on a socket whose peer waits for them,
/// so its send buffer is empty: a short or blocked write is a broken peer.
fn send(s: &mut UnixStream, kind: ControlType, with_type: bool, stats: &mut Stats) -> bool {
    let mut buf = [0u8; 42];
    let n = fstrm::encode_control(kind, with_type, &mut buf);
    if s.write_all(&buf[..n]).is_err() {
        stats.problem(Problem::Io);
        return false;
    }
    true
}

impl Drop for Server {
    fn drop(&mut self) {
        // Best effort: after a privilege drop the directory may no longer be writable; the next
        // start removes a stale socket anyway.
        let _ = std::fs::remove_file(&self.path);
    }
}
