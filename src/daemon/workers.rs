//! The capture and dnstap worker threads. Each owns its handle (or socket), decoder and
//! [`Aggregate`]; once per flush interval it swaps its aggregate for a cleared one from its
//! recycle channel and sends the full one to the merger. No lock is taken per packet.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use log::{error, info, warn};

use super::Shared;
use crate::aggregate::Aggregate;
use crate::capture::dnstap::{self, server as tap};
use crate::capture::live::{Handle, HandleSettings};
use crate::pipeline::Worker;
use crate::snapshot::CaptureHealth;

/// Longest wait between attempts to reopen a failed interface.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A worker's flush: its counters since the last one and its capture health.
pub struct Delta {
    /// The worker's slot (index into the health table and the recycle channels).
    pub slot: usize,
    /// Counters since the last flush.
    pub agg: Aggregate,
    /// Capture health as of now.
    pub health: CaptureHealth,
    /// The dnstap input's counters (dnstap worker only).
    pub dnstap: Option<dnstap::Stats>,
}

/// Sends a worker's counters since the last flush to the merger. Never blocks on the packet
/// path: without a recycled aggregate to swap in, the counters keep accumulating until next
/// time. Shared by capture and dnstap workers.
/// Hands the worker's partial per-query batch to the Parquet writer (so rows appear within a
/// write interval) and adds the rows it had to drop to the shared counter.
fn ship_log(worker: &mut Worker, shared: &Shared) {
    if let Some(l) = worker.log.as_mut() {
        l.ship();
        let dropped = std::mem::take(&mut l.dropped);
        if dropped > 0 {
            shared
                .parquet_query_rows_dropped
                .fetch_add(dropped, Ordering::Relaxed);
        }
    }
}

fn send_delta(
    worker: &mut Worker,
    slot: usize,
    health: &CaptureHealth,
    dnstap: Option<&dnstap::Stats>,
    channels: (&Sender<Delta>, &Receiver<Aggregate>),
    kept: &mut Option<Aggregate>,
    last: bool,
) {
    let (to_merger, recycle) = channels;
    let spare = kept.take().or_else(|| {
        if last {
            recycle.recv_timeout(Duration::from_secs(2)).ok()
        } else {
            recycle.try_recv().ok()
        }
    });
    let Some(spare) = spare else { return };
    let mut agg = std::mem::replace(&mut worker.agg, spare);
    // Its sources still waiting in the per-source batch are counted by its geography before
    // the worker takes that geography's table of sources back.
    agg.flush();
    // Queries still waiting for their response stay with the worker that will see it.
    worker.agg.latency.take_pending(&mut agg.latency);
    worker.agg.hygiene.take_table(&mut agg.hygiene);
    worker.agg.ithi.take_cache(&mut agg.ithi);
    if let (Some(w), Some(a)) = (&mut worker.agg.geo, &mut agg.geo) {
        w.take_cache(a);
    }
    let delta = Delta {
        slot,
        agg,
        health: health.clone(),
        dnstap: dnstap.cloned(),
    };
    if last {
        let _ = to_merger.send_timeout(delta, Duration::from_secs(2));
    } else if let Err(e) = to_merger.try_send(delta) {
        // The merger is behind: take the counters back, nothing is lost.
        let d = e.into_inner();
        let mut spare = std::mem::replace(&mut worker.agg, d.agg);
        worker.agg.latency.take_pending(&mut spare.latency);
        worker.agg.hygiene.take_table(&mut spare.hygiene);
        worker.agg.ithi.take_cache(&mut spare.ithi);
        if let (Some(w), Some(a)) = (&mut worker.agg.geo, &mut spare.geo) {
            w.take_cache(a);
        }
        worker.agg.merge(&spare);
        // Kept for the next flush: the merger recycles only what it received, so a spare
        // dropped here would be gone for good (after two stalls the worker could not send).
        spare.clear();
        *kept = Some(spare);
    }
}

/// Messages to a worker.
pub enum Control {
    /// A new BPF filter (SIGHUP).
    Filter(String),
}

pub struct CaptureWorker {
    pub(super) slot: usize,
    pub(super) settings: HandleSettings,
    pub(super) handle: Option<Handle>,
    pub(super) worker: Worker,
    pub(super) health: CaptureHealth,
    pub(super) to_merger: Sender<Delta>,
    pub(super) recycle: Receiver<Aggregate>,
    /// A spare taken back when the merger was behind (used before asking `recycle`).
    pub(super) kept: Option<Aggregate>,
    pub(super) control: Receiver<Control>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) flush_every: Duration,
    /// Drops counted by handles closed since (a reopened handle starts from zero).
    pub(super) drops_before: (u64, u64),
    pub(super) shared: Arc<Shared>,
}

impl CaptureWorker {
    pub(super) fn run(mut self) {
        let mut last_flush = Instant::now();
        let mut backoff = Duration::from_secs(1);
        let mut next_try = Instant::now();
        let mut since_check = 0u32;
        while !self.stop.load(Ordering::Relaxed) {
            let Some(h) = self.handle.as_mut() else {
                if Instant::now() >= next_try {
                    self.reopen(&mut backoff, &mut next_try);
                } else {
                    thread::sleep(Duration::from_millis(100));
                }
                self.maybe_flush(&mut last_flush);
                continue;
            };
            match h.next_packet() {
                Ok(Some(pkt)) => {
                    self.health.packets += 1;
                    self.worker.process(&pkt);
                    since_check += 1;
                    if since_check >= 1024 {
                        since_check = 0;
                        self.maybe_flush(&mut last_flush);
                    }
                }
                Ok(None) => self.maybe_flush(&mut last_flush),
                Err(e) => {
                    error!(
                        "interface {}: capture failed: {e}; retrying",
                        self.settings.iface
                    );
                    self.health.errors += 1;
                    self.health.up = false;
                    if let Some(mut h) = self.handle.take() {
                        h.refresh_stats();
                        self.drops_before.0 += h.dropped.0;
                        self.drops_before.1 += h.dropped.1;
                    }
                    backoff = Duration::from_secs(1);
                    next_try = Instant::now() + backoff;
                }
            }
        }
        self.flush(true);
    }

    fn reopen(&mut self, backoff: &mut Duration, next_try: &mut Instant) {
        match Handle::open(&self.settings) {
            Ok(h) => {
                info!(
                    "interface {}: capture reopened (worker {})",
                    self.settings.iface, self.health.worker
                );
                self.handle = Some(h);
                self.health.up = true;
            }
            Err(e) => {
                self.health.errors += 1;
                warn!("{e}; next attempt in {} s", backoff.as_secs());
                *next_try = Instant::now() + *backoff;
                *backoff = (*backoff * 2).min(MAX_BACKOFF);
            }
        }
    }

    fn maybe_flush(&mut self, last: &mut Instant) {
        if last.elapsed() >= self.flush_every {
            *last = Instant::now();
            self.flush(false);
        }
    }

    /// Sends the counters since the last flush to the merger. Never blocks on the packet path:
    /// without a recycled aggregate to swap in, the counters keep accumulating until next time.
    fn flush(&mut self, last: bool) {
        while let Ok(Control::Filter(f)) = self.control.try_recv() {
            self.settings.filter = f;
            if let Some(h) = self.handle.as_mut()
                && let Err(e) = h.set_filter(&self.settings.filter)
            {
                error!("{e}");
            }
        }
        if let Some(h) = self.handle.as_mut() {
            h.refresh_stats();
            self.health.kernel_drops = self.drops_before.0 + h.dropped.0;
            self.health.interface_drops = self.drops_before.1 + h.dropped.1;
        }
        ship_log(&mut self.worker, &self.shared);
        send_delta(
            &mut self.worker,
            self.slot,
            &self.health,
            None,
            (&self.to_merger, &self.recycle),
            &mut self.kept,
            last,
        );
    }
}

//------------ dnstap worker -------------------------------------------------

/// Serves the dnstap socket: every writer's frames go through one decoder and one aggregate
/// (so a query and its response, logged separately, meet for latency matching).
pub struct DnstapWorker {
    pub(super) slot: usize,
    pub(super) server: tap::Server,
    pub(super) worker: Worker,
    pub(super) health: CaptureHealth,
    pub(super) to_merger: Sender<Delta>,
    pub(super) recycle: Receiver<Aggregate>,
    /// A spare taken back when the merger was behind (used before asking `recycle`).
    pub(super) kept: Option<Aggregate>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) flush_every: Duration,
    pub(super) shared: Arc<Shared>,
}

impl DnstapWorker {
    pub(super) fn run(mut self) {
        let mut last_flush = Instant::now();
        // Short enough to notice `stop` and flush on time when no writer sends anything.
        let timeout_ms = self.flush_every.as_millis().clamp(10, 100) as i32;
        while !self.stop.load(Ordering::Relaxed) {
            // A message without a timestamp takes the time of the poll round that read it.
            let now = crate::time::now_ns();
            let worker = &mut self.worker;
            self.server.poll_once(timeout_ms, &mut |payload, stats| {
                dnstap::on_payload(payload, now, stats, &mut |d| {
                    worker.process_dns(&d.ctx, d.wire);
                });
            });
            if last_flush.elapsed() >= self.flush_every {
                last_flush = Instant::now();
                self.flush(false);
            }
        }
        self.flush(true);
    }

    fn flush(&mut self, last: bool) {
        self.health.packets = self.server.stats.data_frames;
        ship_log(&mut self.worker, &self.shared);
        send_delta(
            &mut self.worker,
            self.slot,
            &self.health,
            Some(&self.server.stats),
            (&self.to_merger, &self.recycle),
            &mut self.kept,
            last,
        );
    }
}
