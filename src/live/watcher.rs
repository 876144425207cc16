//! A terminal's watcher: holds its connection registered for realtime
//! attendance events and turns every event (and, every reconcile interval,
//! the lack of one) into a tail read that feeds the terminal's [`Feed`].
//! It never disables the terminal, steps aside while API requests wait for
//! the terminal, and retries a lost link with backoff (1 s doubling to 30 s).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{DeviceLive, Live, Status};
use crate::ops::Terminal;
use crate::registry::DeviceConfig;
use crate::zk::events::EF_ATTLOG;
use crate::zk::{self, Session};

const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long one wait for an event lasts (how soon the watcher notices a
/// request waiting for the terminal).
const EVENT_WAIT: Duration = Duration::from_millis(50);

/// Runs until nobody is interested in the terminal or the server stops.
pub fn run(live: &Arc<Live>, id: &str, dev: &Arc<DeviceLive>) {
    let terminal = live.terminals.get(id);
    let mut backoff = BACKOFF_MIN;
    log::info!("device {id}: watcher started");
    while keep_running(live, dev) {
        if terminal.waiting() > 0 {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        let Some(device) = live.registry.get(id) else {
            set_status(
                live,
                dev,
                false,
                Some(zk::Error::Unreachable(format!("{id}: removed"))),
            );
            pause(live, dev, Duration::from_secs(1));
            continue;
        };
        // A push terminal is never dialled: its punches come through the
        // journal (the journal's streams wake on `Journal::wait_stored`).
        if device.config.is_push() {
            pause(live, dev, Duration::from_secs(1));
            continue;
        }
        let Some(guard) = terminal.try_lock_for(Duration::from_millis(200)) else {
            continue;
        };
        let result = converse(live, id, dev, &terminal, &device.config, &mut backoff);
        drop(guard);
        match result {
            Ok(()) => backoff = BACKOFF_MIN,
            Err(e) => {
                dev.stats
                    .failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                log::warn!("device {id}: watcher link lost: {e}; retrying in {backoff:?}");
                set_status(live, dev, false, Some(e));
                pause(live, dev, backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
    log::info!("device {id}: watcher stopped");
}

/// False (and the watcher marked stopped) when nobody needs it any more.
fn keep_running(live: &Live, dev: &DeviceLive) -> bool {
    let mut control = dev.control.lock();
    if control.interest == 0 || live.stopping() {
        control.running = false;
        // Under the control lock: a watcher started next attaches after this.
        dev.feed.detach();
        return false;
    }
    true
}

fn wanted(live: &Live, dev: &DeviceLive) -> bool {
    dev.interest() > 0 && !live.stopping()
}

/// Sleeps `wait`, waking early when the watcher is no longer wanted.
fn pause(live: &Live, dev: &DeviceLive, wait: Duration) {
    let until = Instant::now() + wait;
    let mut seen = live.changes();
    while wanted(live, dev) {
        let Some(left) = until.checked_duration_since(Instant::now()) else {
            return;
        };
        live.wait_change(&mut seen, left.min(Duration::from_millis(200)));
    }
}

fn set_status(live: &Live, dev: &DeviceLive, online: bool, error: Option<zk::Error>) {
    if dev.feed.set_status(Status { online, error }) {
        live.notify();
    }
}

/// One connection: register for events, catch up, follow the events until the
/// terminal is needed elsewhere, the configuration changes or nobody
/// watches any more.
fn converse(
    live: &Live,
    id: &str,
    dev: &DeviceLive,
    terminal: &Terminal,
    config: &DeviceConfig,
    backoff: &mut Duration,
) -> zk::Result<()> {
    let limit = live.terminals.budget.operation_limit;
    let mut opts = config.connect_options();
    opts.operation_limit = limit;
    let mut s = Session::connect(&opts)?;
    // Registered before the read: a punch made during it is in the read or
    // comes as an event (kept while the read runs), never in neither.
    s.limit_next(limit);
    if let Err(e) = s.register_events(u32::from(EF_ATTLOG)) {
        // Firmware without realtime events: reconciliation still delivers.
        log::info!("device {id}: realtime events not available ({e})");
        if matches!(e, zk::Error::Timeout(_) | zk::Error::Closed(_)) {
            return Err(e);
        }
    }
    s.limit_next(limit);
    catch_up(live, id, dev, &mut s)?;
    dev.feed.attach();
    set_status(live, dev, true, None);
    // The link works: a later break is retried soon, not after the
    // backoff an earlier outage grew.
    *backoff = BACKOFF_MIN;
    let mut last_read = Instant::now();
    loop {
        let changed = live.registry.get(id).is_none_or(|d| d.config != *config);
        if !wanted(live, dev) || terminal.waiting() > 0 || changed {
            s.limit_next(opts.timeout * 2);
            let _ = s.register_events(0);
            let _ = s.hand_over();
            return Ok(());
        }
        match s.next_event(EVENT_WAIT)? {
            Some(event) => {
                dev.stats
                    .events
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if event.flag == EF_ATTLOG {
                    s.limit_next(limit);
                    catch_up(live, id, dev, &mut s)?;
                    last_read = Instant::now();
                }
            }
            None if last_read.elapsed() >= live.reconcile_interval => {
                dev.stats
                    .reconciliations
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                s.limit_next(limit);
                catch_up(live, id, dev, &mut s)?;
                last_read = Instant::now();
            }
            None => {}
        }
    }
}

/// Reads what the feed does not have yet: the log's end for a new feed,
/// else the tail after the feed's head. A read whose records the feed no
/// longer takes (a subscriber's own read moved its head meanwhile) is made
/// again from the new head, a few times at most, so what an event
/// announced is not left for the next reconciliation.
fn catch_up(live: &Live, id: &str, dev: &DeviceLive, s: &mut Session) -> zk::Result<()> {
    for _ in 0..3 {
        if read_tail(live, id, dev, s)? {
            return Ok(());
        }
        log::debug!("device {id}: feed moved during the read; reading again");
    }
    Ok(())
}

/// One read for [`catch_up`]; false when the feed's head moved during it.
fn read_tail(live: &Live, id: &str, dev: &DeviceLive, s: &mut Session) -> zk::Result<bool> {
    let Some(head) = dev.feed.head() else {
        let (end, last) = s.read_log_end()?;
        log::info!("device {id}: watching from record {}", end.count);
        dev.feed.start_at(end, last);
        live.notify();
        return Ok(true);
    };
    let read = live.terminals.tail_read(id, s, &head.position)?;
    let pairs = super::feed::entries(read.records, read.positions);
    dev.stats
        .punches
        .fetch_add(pairs.len() as u64, std::sync::atomic::Ordering::Relaxed);
    if read.reset {
        log::warn!(
            "device {id}: the attendance log no longer continues record {}; starting over with {} records",
            head.position.count,
            pairs.len()
        );
        dev.feed.restart(&pairs, read.position);
    } else if !pairs.is_empty() && !dev.feed.append(&head.position, &pairs, read.position) {
        return Ok(false);
    }
    if !pairs.is_empty() || read.reset {
        live.notify();
    }
    Ok(true)
}
