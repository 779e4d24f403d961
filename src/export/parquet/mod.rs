//! Parquet export: the per-interval table (from [`Series`](crate::aggregate::series::Series)),
//! beside it the per-interval geography ([`geo`], with MaxMind DB files) and the opt-in
//! per-query table, under Hive-style partitions
//! `ROOT/date=YYYY-MM-DD/node=NAME/part-….parquet` that DuckDB, ClickHouse, Trino and Spark
//! read as they are.
//!
//! Types are the ones every one of these engines maps without loss or option: signed INT64
//! counts (Spark has no unsigned 64-bit type), INT32 small numbers, UTF8 strings, and
//! TIMESTAMP(MICROS, UTC) times (Spark does not read nanosecond timestamps). `node` is stored
//! in the file as well as in the path, so a reader that ignores partitions (ClickHouse's
//! `file()`, a plain `read_parquet`) still sees it; `date` is only in the path (it is
//! `interval_start`'s UTC date). Files appear atomically: written as a hidden `.part-….tmp`
//! (which the engines skip) and renamed.
//!
//! Per-query rows are copied on the hot path into a preallocated [`QueryBatch`] (no
//! allocation, no formatting: the source prefix and name are rendered by the writer thread),
//! handed over through bounded channels from a fixed pool: the daemon never blocks and counts
//! the rows it had to drop, replay waits for the writer.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

pub mod day;
pub mod geo;

use crate::aggregate::series::Row;
use crate::aggregate::transport_label;
use crate::decode::{Message, MsgCtx, Name};
use crate::privacy::Privacy;

/// Schema of the per-interval table (Parquet message type notation).
pub const INTERVAL_SCHEMA: &str = "message dnsobs_interval {
    REQUIRED BYTE_ARRAY node (STRING);
    REQUIRED INT64 interval_start (TIMESTAMP(MICROS,true));
    REQUIRED INT32 interval_seconds;
    REQUIRED BYTE_ARRAY transport (STRING);
    REQUIRED INT32 ip_version;
    REQUIRED INT64 queries;
    REQUIRED INT64 responses;
    REQUIRED INT64 queries_edns;
    REQUIRED INT64 queries_do;
    REQUIRED INT64 responses_nxdomain;
    REQUIRED INT64 responses_tc;
    REQUIRED INT64 query_bytes;
    REQUIRED INT64 response_bytes;
}";

/// Schema of the per-query table.
pub const QUERY_SCHEMA: &str = "message dnsobs_query {
    REQUIRED BYTE_ARRAY node (STRING);
    REQUIRED INT64 time (TIMESTAMP(MICROS,true));
    REQUIRED BYTE_ARRAY transport (STRING);
    REQUIRED INT32 ip_version;
    REQUIRED BYTE_ARRAY source_prefix (STRING);
    OPTIONAL BYTE_ARRAY qname (STRING);
    OPTIONAL INT32 qtype;
    OPTIONAL INT32 qclass;
    REQUIRED BOOLEAN do;
    OPTIONAL INT32 edns_udp_size;
}";

/// Rows per per-query file before a new one is started.
const QUERY_ROWS_PER_FILE: usize = 1 << 22;
/// Rows per hot-path batch.
pub const BATCH_ROWS: usize = 8192;
/// Name bytes per batch: 48 per row on average, a batch ships early when it runs out.
const BATCH_NAME_BYTES: usize = BATCH_ROWS * 48;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A file or directory could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The Parquet encoder failed.
    #[error("{}: {source}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// Why.
        source: parquet::errors::ParquetError,
    },
    /// A node name that cannot be a partition directory.
    #[error(
        "invalid node name {0:?}: use 1 to 64 letters, digits, '.', '-' or '_', not starting with '.' or '_'"
    )]
    Node(String),
}

//------------ Names, dates ----------------------------------------------------

/// Checks a node name: it becomes a directory (`node=NAME`) and a partition value.
pub fn check_node(node: &str) -> Result<(), ExportError> {
    let ok = !node.is_empty()
        && node.len() <= 64
        && !node.starts_with(['.', '_'])
        && node
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(ExportError::Node(node.to_owned()))
    }
}

/// The default node name: the host name, with characters a partition cannot hold replaced.
pub fn default_node() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let mut n: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if n.is_empty() || n.starts_with(['.', '_']) {
        n.insert_str(0, "node");
        n.truncate(64);
    }
    n
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a time in ns since the epoch.
pub use crate::time::iso8601;
use crate::time::utc_date as date;

fn micros(ts_ns: u64) -> i64 {
    // u64 ns / 1000 < 2^54: always fits.
    (ts_ns / 1000) as i64
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A file name unique to this process and moment: `part-<first>-<pid>-<n>.parquet`.
fn part_name(first_ns: u64) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let first = iso8601(first_ns).replace([':', '-'], "");
    format!(
        "part-{first}-{:x}{:x}-{}.parquet",
        now,
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

//------------ Column writing ------------------------------------------------

/// One column's values; `def` holds definition levels of an OPTIONAL column.
enum Values {
    I64(Vec<i64>),
    I32(Vec<i32>),
    Str(Vec<ByteArray>),
    Bool(Vec<bool>),
}

struct Column {
    values: Values,
    def: Option<Vec<i16>>,
}

impl Column {
    fn new(values: Values) -> Self {
        Self { values, def: None }
    }
    fn optional(values: Values, def: Vec<i16>) -> Self {
        Self {
            values,
            def: Some(def),
        }
    }
}

fn str_col<'a>(it: impl Iterator<Item = &'a str>) -> Values {
    Values::Str(it.map(|s| ByteArray::from(s.as_bytes())).collect())
}

/// An open Parquet file being written (temporary name until [`Open::finish`]).
struct Open {
    tmp: PathBuf,
    path: PathBuf,
    writer: SerializedFileWriter<BufWriter<File>>,
    rows: usize,
}

impl Open {
    fn create(
        dir: &Path,
        name: &str,
        schema: &str,
        kv: Vec<KeyValue>,
    ) -> Result<Self, ExportError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| ExportError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        let pq = |source| ExportError::Parquet {
            path: path.clone(),
            source,
        };
        let schema = Arc::new(parse_message_type(schema).map_err(pq)?);
        let level = ZstdLevel::try_new(3).map_err(pq)?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_created_by(concat!("dnsobs ", env!("CARGO_PKG_VERSION")).to_owned())
            .set_key_value_metadata(Some(kv))
            .build();
        let file = File::create(&tmp).map_err(io(&tmp))?;
        let writer =
            SerializedFileWriter::new(BufWriter::new(file), schema, Arc::new(props)).map_err(pq)?;
        Ok(Self {
            tmp,
            path,
            writer,
            rows: 0,
        })
    }

    fn row_group(&mut self, cols: &[Column], rows: usize) -> Result<(), ExportError> {
        let path = self.path.clone();
        let pq = |source| ExportError::Parquet {
            path: path.clone(),
            source,
        };
        let mut rg = self.writer.next_row_group().map_err(pq)?;
        let mut i = 0;
        while let Some(mut cw) = rg.next_column().map_err(pq)? {
            let Some(c) = cols.get(i) else {
                return Err(pq(parquet::errors::ParquetError::General(
                    "more schema columns than values".into(),
                )));
            };
            let def = c.def.as_deref();
            match &c.values {
                Values::I64(v) => cw.typed::<Int64Type>().write_batch(v, def, None),
                Values::I32(v) => cw.typed::<Int32Type>().write_batch(v, def, None),
                Values::Str(v) => cw.typed::<ByteArrayType>().write_batch(v, def, None),
                Values::Bool(v) => cw.typed::<BoolType>().write_batch(v, def, None),
            }
            .map_err(pq)?;
            cw.close().map_err(pq)?;
            i += 1;
        }
        rg.close().map_err(pq)?;
        self.rows += rows;
        Ok(())
    }

    /// Writes the footer, syncs and renames the file into place.
    fn finish(self) -> Result<PathBuf, ExportError> {
        let Self {
            tmp, path, writer, ..
        } = self;
        let buf = writer.into_inner().map_err(|source| ExportError::Parquet {
            path: path.clone(),
            source,
        })?;
        let io = |source| ExportError::Io {
            path: tmp.clone(),
            source,
        };
        let file = buf.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(path)
    }

    /// Writes `cols` as the file's one row group and puts the file in place; a failure
    /// leaves no temporary file behind.
    fn write_whole(mut self, cols: &[Column], rows: usize) -> Result<PathBuf, ExportError> {
        match self.row_group(cols, rows) {
            Ok(()) => self.finish(),
            Err(e) => {
                self.abandon();
                Err(e)
            }
        }
    }

    /// Removes the temporary file after a failure.
    fn abandon(self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

fn partition(root: &Path, date: &str, node: &str) -> PathBuf {
    root.join(format!("date={date}"))
        .join(format!("node={node}"))
}

//------------ The per-interval table ------------------------------------------

/// Writes the per-interval table of a snapshot (every interval it holds); returns the files
/// written and the number of rows.
pub fn write_snapshot(
    root: &Path,
    node: &str,
    s: &crate::snapshot::Snapshot,
) -> Result<(Vec<PathBuf>, usize), ExportError> {
    let series = &s.agg.series;
    let rows = series.rows();
    let paths = write_intervals(root, node, series.interval_seconds(), &rows)?;
    Ok((paths, rows.len()))
}

/// Writes the rows (sorted by interval start, as [`Series::rows`](crate::aggregate::series::Series::rows)
/// returns them) as one file per UTC date under `root`. Returns the files written.
pub fn write_intervals(
    root: &Path,
    node: &str,
    interval_seconds: u64,
    rows: &[Row],
) -> Result<Vec<PathBuf>, ExportError> {
    check_node(node)?;
    let mut by_date: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        by_date.entry(date(r.start_ns)).or_default().push(r);
    }
    let mut paths = Vec::new();
    for (d, rows) in by_date {
        let dir = partition(root, &d, node);
        let first = rows.first().map_or(0, |r| r.start_ns);
        let kv = vec![
            KeyValue::new("dnsobs.table".into(), "intervals".to_owned()),
            KeyValue::new(
                "dnsobs.interval_seconds".into(),
                interval_seconds.to_string(),
            ),
        ];
        let f = Open::create(&dir, &part_name(first), INTERVAL_SCHEMA, kv)?;
        let c = |get: fn(&Row) -> u64| {
            Column::new(Values::I64(rows.iter().map(|r| count(get(r))).collect()))
        };
        let cols = [
            Column::new(str_col(rows.iter().map(|_| node))),
            Column::new(Values::I64(
                rows.iter().map(|r| micros(r.start_ns)).collect(),
            )),
            Column::new(Values::I32(vec![
                i32::try_from(interval_seconds)
                    .unwrap_or(i32::MAX);
                rows.len()
            ])),
            Column::new(str_col(rows.iter().map(|r| transport_label(r.transport)))),
            Column::new(Values::I32(
                rows.iter().map(|r| i32::from(r.ip_version)).collect(),
            )),
            c(|r| r.counts.queries),
            c(|r| r.counts.responses),
            c(|r| r.counts.queries_edns),
            c(|r| r.counts.queries_do),
            c(|r| r.counts.responses_nxdomain),
            c(|r| r.counts.responses_tc),
            c(|r| r.counts.query_bytes),
            c(|r| r.counts.response_bytes),
        ];
        paths.push(f.write_whole(&cols, rows.len())?);
    }
    Ok(paths)
}

//------------ The per-query table: hot side ---------------------------------

/// One query as copied on the hot path.
#[derive(Clone, Copy, Debug)]
struct QueryRow {
    ts_ns: u64,
    /// Source address (IPv4 in the first four bytes), rendered under the export's
    /// [`Privacy`] by the writer thread.
    addr: [u8; 16],
    name_off: u32,
    name_len: u16,
    qtype: u16,
    qclass: u16,
    edns_size: u16,
    /// `F_*` bits.
    flags: u8,
}

const F_TCP: u8 = 1;
const F_V6: u8 = 2;
const F_DO: u8 = 4;
const F_EDNS: u8 = 8;
const F_QUESTION: u8 = 16;

/// A batch of per-query rows with fixed capacity, recycled between the hot path and the
/// writer thread.
#[derive(Debug)]
pub struct QueryBatch {
    rows: Vec<QueryRow>,
    names: Vec<u8>,
}

impl QueryBatch {
    fn new() -> Self {
        Self {
            rows: Vec::with_capacity(BATCH_ROWS),
            names: Vec::with_capacity(BATCH_NAME_BYTES),
        }
    }
    fn clear(&mut self) {
        self.rows.clear();
        self.names.clear();
    }
}

enum ToWriter {
    Batch(QueryBatch),
    /// Close the open files (the daemon's periodic tick), so they become visible.
    Flush,
}

/// A worker's end of the per-query export.
pub struct QueryLog {
    cur: Option<QueryBatch>,
    to_writer: Sender<ToWriter>,
    spare: Receiver<QueryBatch>,
    /// Replay waits for the writer; the daemon drops rows instead.
    block: bool,
    /// Rows dropped because the writer was behind (the pool was empty or its queue full).
    pub dropped: u64,
}

impl QueryLog {
    /// Copies a query (responses are ignored). HOT PATH: no allocation, no formatting.
    #[inline]
    pub fn observe(&mut self, ctx: &MsgCtx, msg: &Message, name: &Name) {
        if msg.header.qr() {
            return;
        }
        let n = if msg.question.is_some() {
            name.as_bytes()
        } else {
            &[]
        };
        let fits = |b: &QueryBatch| {
            b.rows.len() < b.rows.capacity() && b.names.len() + n.len() <= b.names.capacity()
        };
        if self.cur.as_ref().is_some_and(|b| !fits(b)) {
            self.ship();
        }
        if self.cur.is_none() {
            self.cur = if self.block {
                self.spare.recv().ok()
            } else {
                self.spare.try_recv().ok()
            };
        }
        let Some(b) = self.cur.as_mut() else {
            self.dropped += 1;
            return;
        };
        let (qtype, qclass) = msg.question.unwrap_or((0, 0));
        let mut flags = 0;
        flags |= if ctx.transport as usize == 1 {
            F_TCP
        } else {
            0
        };
        flags |= if ctx.ip_version == 6 { F_V6 } else { 0 };
        flags |= if msg.question.is_some() {
            F_QUESTION
        } else {
            0
        };
        if let Some(e) = msg.edns {
            flags |= F_EDNS | if e.dnssec_ok { F_DO } else { 0 };
        }
        let name_off = b.names.len() as u32;
        b.names.extend_from_slice(n);
        b.rows.push(QueryRow {
            ts_ns: ctx.ts_ns,
            addr: ctx.src,
            name_off,
            name_len: n.len() as u16,
            qtype,
            qclass,
            edns_size: msg.edns.map_or(0, |e| e.udp_size),
            flags,
        });
    }

    /// Hands the current batch to the writer (when full, at a flush, at the end).
    pub fn ship(&mut self) {
        let Some(b) = self.cur.take() else { return };
        if b.rows.is_empty() {
            self.cur = Some(b);
            return;
        }
        let n = b.rows.len() as u64;
        if self.block {
            if self.to_writer.send(ToWriter::Batch(b)).is_err() {
                self.dropped += n;
            }
            return;
        }
        match self.to_writer.try_send(ToWriter::Batch(b)) {
            Ok(()) => {}
            Err(TrySendError::Full(ToWriter::Batch(mut b)))
            | Err(TrySendError::Disconnected(ToWriter::Batch(mut b))) => {
                self.dropped += n;
                b.clear();
                self.cur = Some(b);
            }
            Err(_) => self.dropped += n,
        }
    }
}

//------------ The per-query table: writer thread ----------------------------

/// What the query writer did.
#[derive(Clone, Debug, Default)]
pub struct WriterStats {
    /// Files completed.
    pub files: Vec<PathBuf>,
    /// Rows written into completed or open files.
    pub rows: u64,
    /// Failed writes (each logged by the caller from `last_error`).
    pub errors: u64,
    /// The last failure.
    pub last_error: Option<String>,
}

/// The per-query writer thread and the channels to it. Clone it to make [`QueryLog`]s.
#[derive(Clone)]
pub struct QueryExport {
    to_writer: Sender<ToWriter>,
    spare: Receiver<QueryBatch>,
    block: bool,
}

impl std::fmt::Debug for QueryExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryExport")
            .field("block", &self.block)
            .finish_non_exhaustive()
    }
}

/// Handle to join the writer thread.
pub struct QueryWriter {
    handle: thread::JoinHandle<WriterStats>,
    stats: Arc<std::sync::Mutex<WriterStats>>,
}

impl QueryWriter {
    /// Statistics so far (the daemon's metrics).
    pub fn stats(&self) -> WriterStats {
        self.stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
    /// The shared statistics, for a thread that does not own the writer.
    pub fn stats_handle(&self) -> Arc<std::sync::Mutex<WriterStats>> {
        Arc::clone(&self.stats)
    }
    /// Waits for the thread (after every [`QueryExport`] and [`QueryLog`] was dropped).
    pub fn join(self) -> WriterStats {
        match self.handle.join() {
            Ok(s) => s,
            Err(p) => std::panic::resume_unwind(p),
        }
    }
}

impl QueryExport {
    /// Starts the writer thread with a pool of `batches` preallocated batches (about
    /// 0.7 MB each). `block`: whether [`QueryLog`]s wait for the writer (replay) or drop.
    /// Sources are rendered under `privacy` (`source_prefix`).
    pub fn start(
        root: PathBuf,
        node: String,
        batches: usize,
        block: bool,
        privacy: Privacy,
    ) -> Result<(Self, QueryWriter), ExportError> {
        check_node(&node)?;
        let batches = batches.max(2);
        let (to_writer, from_logs) = bounded::<ToWriter>(batches);
        let (spare_tx, spare) = bounded::<QueryBatch>(batches);
        for _ in 0..batches {
            let _ = spare_tx.send(QueryBatch::new());
        }
        let stats = Arc::new(std::sync::Mutex::new(WriterStats::default()));
        let st = Arc::clone(&stats);
        let handle = thread::Builder::new()
            .name("parquet-queries".into())
            .spawn(move || write_queries(&root, &node, &from_logs, &spare_tx, &st, &privacy))
            .map_err(|source| ExportError::Io {
                path: PathBuf::from("(parquet-queries thread)"),
                source,
            })?;
        Ok((
            Self {
                to_writer,
                spare,
                block,
            },
            QueryWriter { handle, stats },
        ))
    }

    /// A worker's end.
    pub fn log(&self) -> QueryLog {
        QueryLog {
            cur: None,
            to_writer: self.to_writer.clone(),
            spare: self.spare.clone(),
            block: self.block,
            dropped: 0,
        }
    }

    /// Asks the writer to complete its open files (never blocks).
    pub fn flush(&self) {
        let _ = self.to_writer.try_send(ToWriter::Flush);
    }
}

fn write_queries(
    root: &Path,
    node: &str,
    rx: &Receiver<ToWriter>,
    spare: &Sender<QueryBatch>,
    stats: &std::sync::Mutex<WriterStats>,
    privacy: &Privacy,
) -> WriterStats {
    let mut open: BTreeMap<String, Open> = BTreeMap::new();
    let note = |r: Result<Option<PathBuf>, ExportError>, rows: u64| {
        let mut s = stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match r {
            Ok(p) => {
                s.rows += rows;
                s.files.extend(p);
            }
            Err(e) => {
                s.errors += 1;
                s.last_error = Some(e.to_string());
            }
        }
    };
    let close_all = |open: &mut BTreeMap<String, Open>| {
        for (_, f) in std::mem::take(open) {
            note(f.finish().map(Some), 0);
        }
    };
    for m in rx {
        let mut b = match m {
            ToWriter::Flush => {
                close_all(&mut open);
                continue;
            }
            ToWriter::Batch(b) => b,
        };
        // Rows of one batch are in capture order per worker; split them by UTC date.
        let mut start = 0;
        while start < b.rows.len() {
            let d = date(b.rows[start].ts_ns);
            let mut end = start + 1;
            while end < b.rows.len() && date(b.rows[end].ts_ns) == d {
                end += 1;
            }
            let rows = &b.rows[start..end];
            let r = append_queries((root, node, &d), &mut open, rows, &b.names, privacy);
            note(r.map(|()| None), (end - start) as u64);
            start = end;
        }
        // Bounded: at most two dates open (a batch straddling midnight); big files rotate.
        let full: Vec<String> = open
            .iter()
            .filter(|(_, f)| f.rows >= QUERY_ROWS_PER_FILE)
            .map(|(k, _)| k.clone())
            .collect();
        for k in full {
            if let Some(f) = open.remove(&k) {
                note(f.finish().map(Some), 0);
            }
        }
        while open.len() > 2 {
            if let Some((_, f)) = open.pop_first() {
                note(f.finish().map(Some), 0);
            }
        }
        b.clear();
        let _ = spare.try_send(b);
    }
    close_all(&mut open);
    stats
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// Appends rows of one date `d` to the file open for it, started under `root` for `node` if
/// none is.
fn append_queries(
    (root, node, d): (&Path, &str, &str),
    open: &mut BTreeMap<String, Open>,
    rows: &[QueryRow],
    names: &[u8],
    privacy: &Privacy,
) -> Result<(), ExportError> {
    if !open.contains_key(d) {
        let kv = vec![
            KeyValue::new("dnsobs.table".into(), "queries".to_owned()),
            KeyValue::new("dnsobs.source_prefix".into(), privacy.describe()),
        ];
        let first = rows.first().map_or(0, |r| r.ts_ns);
        let f = Open::create(
            &partition(root, d, node),
            &part_name(first),
            QUERY_SCHEMA,
            kv,
        )?;
        open.insert(d.to_owned(), f);
    }
    let has_q = |r: &&QueryRow| r.flags & F_QUESTION != 0;
    let q_def: Vec<i16> = rows
        .iter()
        .map(|r| i16::from(r.flags & F_QUESTION != 0))
        .collect();
    let cols = [
        Column::new(str_col(rows.iter().map(|_| node))),
        Column::new(Values::I64(rows.iter().map(|r| micros(r.ts_ns)).collect())),
        Column::new(str_col(
            rows.iter()
                .map(|r| transport_label(usize::from(r.flags & F_TCP))),
        )),
        Column::new(Values::I32(
            rows.iter()
                .map(|r| if r.flags & F_V6 != 0 { 6 } else { 4 })
                .collect(),
        )),
        Column::new(Values::Str(
            rows.iter()
                .map(|r| ByteArray::from(render_source(r, privacy).into_bytes()))
                .collect(),
        )),
        Column::optional(
            Values::Str(
                rows.iter()
                    .filter(has_q)
                    .map(|r| {
                        let o = r.name_off as usize;
                        let n = names.get(o..o + usize::from(r.name_len)).unwrap_or(&[]);
                        ByteArray::from(crate::aggregate::topk::render_name(n).into_bytes())
                    })
                    .collect(),
            ),
            q_def.clone(),
        ),
        Column::optional(
            Values::I32(
                rows.iter()
                    .filter(has_q)
                    .map(|r| i32::from(r.qtype))
                    .collect(),
            ),
            q_def.clone(),
        ),
        Column::optional(
            Values::I32(
                rows.iter()
                    .filter(has_q)
                    .map(|r| i32::from(r.qclass))
                    .collect(),
            ),
            q_def,
        ),
        Column::new(Values::Bool(
            rows.iter().map(|r| r.flags & F_DO != 0).collect(),
        )),
        Column::optional(
            Values::I32(
                rows.iter()
                    .filter(|r| r.flags & F_EDNS != 0)
                    .map(|r| i32::from(r.edns_size))
                    .collect(),
            ),
            rows.iter()
                .map(|r| i16::from(r.flags & F_EDNS != 0))
                .collect(),
        ),
    ];
    let Some(f) = open.get_mut(d) else {
        return Ok(());
    };
    if let Err(e) = f.row_group(&cols, rows.len()) {
        // A half-written file is useless: drop it and start a new one next time.
        if let Some(f) = open.remove(d) {
            f.abandon();
        }
        return Err(e);
    }
    Ok(())
}

/// A row's source as text under `privacy` ("192.0.2.0/24", "2001:db8::/48" by default), as
/// the top-k source prefixes are rendered.
fn render_source(r: &QueryRow, privacy: &Privacy) -> String {
    let version = if r.flags & F_V6 != 0 { 6 } else { 4 };
    privacy.render(version, &r.addr)
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn node_names() {
        assert!(check_node("ns1.example-2_a").is_ok());
        for bad in ["", ".hidden", "_x", "a/b", "a=b", "a b", &"x".repeat(65)] {
            assert!(check_node(bad).is_err(), "{bad:?}");
        }
        assert!(check_node(&default_node()).is_ok());
    }

    #[test]
    fn iso_times() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            iso8601(1_700_000_000 * 1_000_000_000 + 5),
            "2023-11-14T22:13:20Z"
        );
    }
}
