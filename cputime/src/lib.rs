//! Processor time by pipeline stage, for the benches: what each stage (a core node, ingest, the
//! appender, the projections, the simulator) costs per event, apart from the others.
//!
//! A stage is a name. [`metered`] wraps a future so that the thread CPU time spent inside its
//! `poll` is added to its stage; a task's waits cost nothing, so the sum is the processor time
//! the stage's own code used, wherever the runtime ran it. A metered future polled inside
//! another (a publish inside a node's handler) pauses the outer one's count, so every
//! nanosecond goes to the innermost stage and none twice.
//!
//! Off until [`enable`] and again after [`disable`]: a meter costs two `clock_gettime` calls
//! per poll, which only a bench measuring the breakdown should pay (and only in the phase that
//! reports it, so its headline rate is measured without them). Futures wrapped while it is
//! off are counted once it is on. The processes beside ours (Postgres, the NATS server) are
//! read from `/proc` by [`processes`].

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::task::{Context, Poll};

use rustix::time::{clock_gettime, ClockId};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Each stage's counter, by name. A stage is created once and lives for the process, so the
/// counters are leaked on purpose: a handful of names, never freed.
static STAGES: Mutex<Vec<(&'static str, &'static AtomicU64)>> = Mutex::new(Vec::new());

thread_local! {
    /// The innermost metered future being polled on this thread, and the thread CPU time from
    /// which its count runs.
    static CURRENT: Cell<Option<(&'static AtomicU64, u64)>> = const { Cell::new(None) };
}

/// Turns metering on, for every metered future from its next poll.
pub fn enable() {
    ENABLED.store(true, Relaxed);
}

/// Turns metering off again.
pub fn disable() {
    ENABLED.store(false, Relaxed);
}

pub fn is_enabled() -> bool {
    ENABLED.load(Relaxed)
}

/// The stage named `name`, created on first use: its name kept for the life of the process (a
/// stage named at run time, a subscriber's, is named once here and then passed as is).
pub fn stage(name: &str) -> &'static str {
    entry(name).0
}

fn entry(name: &str) -> (&'static str, &'static AtomicU64) {
    let mut stages = STAGES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(&found) = stages.iter().find(|(n, _)| *n == name) {
        return found;
    }
    let created = (&*Box::leak(name.to_owned().into_boxed_str()), &*Box::leak(Box::new(AtomicU64::new(0))));
    stages.push(created);
    created
}

/// Nanoseconds of processor time each stage has used so far, by name, in the order the stages
/// first ran.
pub fn stages() -> Vec<(&'static str, u64)> {
    let stages = STAGES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    stages.iter().map(|(name, c)| (*name, c.load(Relaxed))).collect()
}

/// Processor time of the calling thread, in nanoseconds.
pub fn thread_ns() -> u64 {
    nanos(clock_gettime(ClockId::ThreadCPUTime))
}

/// Processor time of this whole process (every thread, ours and the libraries'), in nanoseconds.
pub fn process_ns() -> u64 {
    nanos(clock_gettime(ClockId::ProcessCPUTime))
}

fn nanos(t: rustix::time::Timespec) -> u64 {
    (t.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(t.tv_nsec as u64)
}

pin_project_lite::pin_project! {
    /// A future whose polls are counted to a stage (see [`metered`]).
    pub struct Metered<F> {
        #[pin]
        inner: F,
        stage: &'static str,
        // Found at the first poll that counts, so that wrapping a future (a task per request)
        // costs nothing while metering is off.
        counter: Option<&'static AtomicU64>,
    }
}

/// `future`, its processor time counted to `stage` while metering is on.
pub fn metered<F: Future>(stage: &'static str, future: F) -> Metered<F> {
    Metered { inner: future, stage, counter: None }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if !is_enabled() {
            return this.inner.poll(cx);
        }
        let stage = *this.stage;
        let counter = *this.counter.get_or_insert_with(|| entry(stage).1);
        let start = thread_ns();
        let outer = CURRENT.with(|c| c.replace(Some((counter, start))));
        if let Some((outer, since)) = outer {
            outer.fetch_add(start.saturating_sub(since), Relaxed);
        }
        let out = this.inner.poll(cx);
        let end = thread_ns();
        // A meter inside this poll moved the start of this one's count to its own end.
        let since = CURRENT.with(|c| c.get()).map_or(start, |(_, since)| since);
        counter.fetch_add(end.saturating_sub(since), Relaxed);
        CURRENT.with(|c| c.set(outer.map(|(outer, _)| (outer, end))));
        out
    }
}

/// Processor time, in nanoseconds, used so far by every process whose command name is `comm`
/// (`postgres`, `nats-server`): what the services beside ours cost. A process that exited since
/// an earlier reading takes its time with it, so a difference of two readings counts only the
/// processes alive at both ends; long-lived servers and pooled connections are.
pub fn processes(comm: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    let mut total_ticks = 0u64;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        if let Some((name, used)) = parse_stat(&stat) {
            if name == comm {
                total_ticks += used;
            }
        }
    }
    ticks_ns(total_ticks)
}

/// The command name and user + system ticks of a `/proc/<pid>/stat` line. The name is in
/// parentheses and may itself hold spaces and parentheses, so fields are counted after the
/// last `)`.
/// Processor time, in nanoseconds, used so far by the process `pid` (0 once it is gone): a
/// child process a bench started, such as its simulated devices.
pub fn process(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0 };
    ticks_ns(parse_stat(&stat).map_or(0, |(_, used)| used))
}

/// Clock ticks of `/proc` in nanoseconds.
fn ticks_ns(ticks: u64) -> u64 {
    ticks.saturating_mul(1_000_000_000) / rustix::param::clock_ticks_per_second().max(1)
}

fn parse_stat(stat: &str) -> Option<(&str, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?;
    // After ") ": state(3) ppid(4) … utime(14) stime(15).
    let mut fields = stat.get(close + 2..)?.split(' ');
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((name, utime + stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_by_pid_counts_its_time_and_a_gone_one_none() {
        let before = process(std::process::id());
        let started = std::time::Instant::now();
        // Past a few clock ticks of this process's own time (ticks are 10 ms).
        while process(std::process::id()) <= before && started.elapsed() < std::time::Duration::from_secs(10) {
            std::hint::black_box((0..10_000u64).sum::<u64>());
        }
        assert!(process(std::process::id()) > before);
        assert_eq!(process(u32::MAX), 0, "no such process");
    }

    #[test]
    fn a_stat_line_gives_its_name_and_ticks_even_with_parentheses_in_the_name() {
        let line = "4242 (postgres: a (b) c) S 1 4242 4242 0 -1 4194560 1000 0 0 0 123 45 0 0 20 0 1 0 100 0 0";
        assert_eq!(parse_stat(line), Some(("postgres: a (b) c", 168)));
        assert_eq!(parse_stat("garbage"), None);
    }

    fn spin(ns: u64) {
        let until = thread_ns() + ns;
        while thread_ns() < until {
            std::hint::black_box(0);
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn nested_stages_split_the_time_and_count_nothing_twice() {
        enable();
        let outer_before = stages().iter().find(|(n, _)| *n == "test-outer").map_or(0, |s| s.1);
        let process_before = process_ns();
        metered("test-outer", async {
            spin(20_000_000);
            metered("test-inner", async { spin(30_000_000) }).await;
            spin(20_000_000);
        })
        .await;
        let process = process_ns() - process_before;
        let of = |name| stages().iter().find(|(n, _)| *n == name).map_or(0, |s| s.1);
        let (outer, inner) = (of("test-outer") - outer_before, of("test-inner"));
        assert!((40_000_000..60_000_000).contains(&outer), "outer counted {outer} ns");
        assert!((30_000_000..40_000_000).contains(&inner), "inner counted {inner} ns");
        assert!(outer + inner <= process, "{outer} + {inner} ns counted of {process} ns used");
    }

    #[test]
    fn this_process_is_found_by_its_name() {
        let stat = std::fs::read_to_string("/proc/self/stat").expect("proc is mounted");
        let (name, _) = parse_stat(&stat).expect("parses");
        spin(10_000_000);
        assert!(processes(name) >= 10_000_000, "the test binary's own time is counted");
    }
}
