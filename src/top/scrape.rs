//! Getting the numbers: one HTTP/1.1 GET of the daemon's `/metrics` (plain `TcpStream` with
//! timeouts, chunked answers decoded) and a parser of the Prometheus text format into samples.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

// ---------------------------------------------------------------------------------------------
// Prometheus text format

/// One `name{labels} value` line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses the Prometheus text exposition format (and the sample lines of OpenMetrics);
/// comments, blank lines and lines that do not parse are skipped.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        let mut chars = r.char_indices().peekable();
        loop {
            // Skip separators, find `key="`.
            while chars
                .next_if(|(_, c)| *c == ',' || c.is_whitespace())
                .is_some()
            {}
            let &(start, c) = chars.peek()?;
            if c == '}' {
                chars.next();
                rest = &r[start + 1..];
                break;
            }
            let eq = r[start..].find('=')? + start;
            let key = r[start..eq].trim().to_owned();
            while chars.next_if(|(i, _)| *i <= eq).is_some() {}
            if chars.next()?.1 != '"' {
                return None;
            }
            let mut value = String::new();
            loop {
                match chars.next()?.1 {
                    '"' => break,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    other => value.push(other),
                }
            }
            labels.push((key, value));
        }
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// One scrape: its samples and when it arrived.
#[derive(Clone, Debug)]
pub struct Scrape {
    pub at: Instant,
    pub samples: Vec<Sample>,
}

impl Scrape {
    /// Sum of every series of the family `name`.
    pub fn sum(&self, name: &str) -> f64 {
        self.sum_where(name, |_| true)
    }

    /// Sum of the series of the family `name` for which `f` holds.
    pub fn sum_where(&self, name: &str, f: impl Fn(&Sample) -> bool) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name && f(s))
            .map(|s| s.value)
            .sum()
    }

    /// The family `name` summed by the values of `labels` (joined with '/').
    pub fn by(&self, name: &str, labels: &[&str]) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        for s in self.samples.iter().filter(|s| s.name == name) {
            let key: Vec<&str> = labels.iter().map(|l| s.label(l).unwrap_or("")).collect();
            *m.entry(key.join("/")).or_insert(0.0) += s.value;
        }
        m
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// Where to connect and what to ask for.
#[derive(Debug, PartialEq)]
pub struct Target {
    pub authority: String,
    pub path: String,
}

/// `http://host[:port][/path]` (scheme optional; port 80; path `/metrics` when empty or `/`).
pub fn target(url: &str) -> anyhow::Result<Target> {
    if url.starts_with("https://") {
        bail!("https is not supported; point --url at the daemon's plain HTTP endpoint");
    }
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (auth, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if auth.is_empty() {
        bail!("no host in URL {url:?}");
    }
    let has_port = if auth.starts_with('[') {
        auth.contains("]:")
    } else {
        auth.contains(':')
    };
    let authority = if has_port {
        auth.to_owned()
    } else {
        format!("{auth}:80")
    };
    let path = if path.is_empty() || path == "/" {
        "/metrics".to_owned()
    } else {
        path.to_owned()
    };
    Ok(Target { authority, path })
}

/// One scrape of the target: GET, then parse; `at` is when the answer was complete.
pub fn scrape(t: &Target, timeout: Duration) -> anyhow::Result<Scrape> {
    let body = fetch(t, timeout)?;
    Ok(Scrape {
        at: Instant::now(),
        samples: parse(&body),
    })
}

/// GETs the target: the body of a 200 answer.
pub fn fetch(t: &Target, timeout: Duration) -> anyhow::Result<String> {
    let addr = t
        .authority
        .to_socket_addrs()
        .with_context(|| format!("resolving {}", t.authority))?
        .next()
        .with_context(|| format!("no address for {}", t.authority))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: text/plain\r\nConnection: close\r\nUser-Agent: dnsobs-top/{}\r\n\r\n",
        t.path,
        t.authority,
        env!("CARGO_PKG_VERSION")
    )
    .context("sending the request")?;
    let mut buf = Vec::new();
    s.take(256 << 20)
        .read_to_end(&mut buf)
        .context("reading the answer")?;
    parse_response(&buf)
}

fn parse_response(buf: &[u8]) -> anyhow::Result<String> {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("incomplete HTTP answer")?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let body = &buf[end + 4..];
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("malformed HTTP status line")?;
    if status != 200 {
        bail!("HTTP status {status}");
    }
    let chunked = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
        })
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn dechunk(mut b: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("truncated chunk")?;
        let size = std::str::from_utf8(&b[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .context("bad chunk size")?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&b[..size]);
        b = b.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_labels_values() {
        let text = "# HELP x y\n# TYPE dnsobs_queries_total counter\n\
            dnsobs_queries_total{transport=\"udp\",ip_version=\"4\"} 2426\n\
            dnsobs_frames_total 8922\n\
            dnsobs_top_qname_queries{qname=\"a \\\"q\\\" b\\\\c, d}\"} 3.0\n\
            h_bucket{le=\"+Inf\"} 7 1700000000\n\
            \n  garbage{\n";
        let s = parse(text);
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].name, "dnsobs_queries_total");
        assert_eq!(s[0].label("transport"), Some("udp"));
        assert_eq!(s[0].label("ip_version"), Some("4"));
        assert_eq!(s[0].value, 2426.0);
        assert_eq!(s[1].labels, vec![]);
        assert_eq!(s[1].value, 8922.0);
        assert_eq!(s[2].label("qname"), Some("a \"q\" b\\c, d}"));
        assert_eq!(s[3].label("le"), Some("+Inf"));
        assert_eq!(s[3].value, 7.0);
    }

    #[test]
    fn urls() {
        assert_eq!(
            target("http://127.0.0.1:10053").unwrap(),
            Target {
                authority: "127.0.0.1:10053".into(),
                path: "/metrics".into()
            }
        );
        assert_eq!(target("[::1]:9/m").unwrap().path, "/m");
        assert_eq!(target("http://h").unwrap().authority, "h:80");
        assert!(target("https://h").is_err());
        assert!(target("http:///x").is_err());
    }

    #[test]
    fn http_answers() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\na 1\n";
        assert_eq!(parse_response(plain).unwrap(), "a 1\n");
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\na 1\r\n2\r\n\nb\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), "a 1\nb");
        assert!(parse_response(b"HTTP/1.1 503 x\r\n\r\n").is_err());
    }
}
