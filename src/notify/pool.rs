//! The threads that receive and answer one listener's notifications: one
//! receiver normally, more while calls block, and the monitor that decides.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use nix::errno::Errno;
use nix::sched::{CpuSet, sched_getaffinity};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::unistd::Pid;

use super::{NotifyError, NotifyServer};
use crate::sys;

/// How often the pool's monitor looks at the receivers while one of them is
/// inside a call: a slow call holds up the others for two to three ticks at
/// most. Each tick is a timer wake-up; at 1 ms they cost a brokered open
/// about 3% on a shared CPU (`docs/performance.md`).
const TICK: Duration = Duration::from_millis(2);
/// Consecutive ticks a condition must hold before the monitor acts on it.
const PATIENCE: u32 = 2;
/// Consecutive ticks with several receivers waiting before surplus ones retire.
const SURPLUS_TICKS: u32 = 5;
/// At most this many threads answer at the same time.
const MAX_WORKERS: usize = 64;
/// While callers interleave, at most this many receivers wait at once,
/// however many CPUs the broker may use.
const MAX_SPREAD: usize = 16;
/// Receivers per CPU while callers interleave: a receiver spends most of a
/// call waiting (ADDFD waits until the caller has installed the descriptor,
/// and the caller is woken on an idle CPU), and meanwhile another one on
/// the same CPU answers the next call. Measured on 2 CPUs
/// (`docs/performance.md`): 8 children 56k opens/s with one per CPU, 74-95k
/// with two, 76-107k with four; 64 children 59k, 86k, 99-102k, and 88-95k
/// with eight.
const RECEIVERS_PER_CPU: usize = 4;
/// Changes of caller from one notification to the next, within one tick,
/// that make the pool spread its receivers over the CPUs.
const SPREAD_SWITCHES: u64 = 8;

/// The threads answering one listener.
///
/// Each *receiver* waits for a notification and answers what it receives
/// itself, with no hand-off between threads. Normally there is one, blocked
/// in `SECCOMP_IOCTL_NOTIF_RECV`: a program making its calls one at a time
/// (most tools) then meets the same thread on its own CPU for every call
/// (`SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`), and a second receiver would only
/// take calls while the first finishes the one before, each time woken on
/// the caller's CPU: 5-10% slower on real tools here (`docs/performance.md`).
///
/// When calls of different callers interleave (at least
/// [`SPREAD_SWITCHES`] changes of caller within one [`TICK`]: a sandbox of
/// several busy processes or threads), the pool *spreads*:
/// [`RECEIVERS_PER_CPU`] receivers per CPU the broker may use (at most
/// [`MAX_SPREAD`]), so that callers on different CPUs are answered at the
/// same time, and a receiver waiting for its caller does not hold up the
/// next call. The kernel wakes *every*
/// thread blocked in RECV for each notification (its wait is not exclusive,
/// seccomp_unotify(2)), so spread receivers wait instead each in an epoll
/// instance of its own with `EPOLLEXCLUSIVE` (epoll_ctl(2)), which the
/// kernel wakes one at a time, and call RECV only then. When callers stop
/// interleaving for [`SURPLUS_TICKS`], or all receivers wait, the pool
/// gathers back to one.
///
/// A monitor thread, ticking every [`TICK`] while a receiver is inside a
/// call and asleep whenever every receiver waits (woken by the next
/// notification received, so a program that sleeps or computes costs the
/// broker no wake-up at all), also adds a receiver (waking a parked one or
/// starting a thread, up to [`MAX_WORKERS`]) when for [`PATIENCE`] ticks no
/// receiver waited and none received anything: they are all stuck in slow
/// calls (a FIFO without a writer, a hung network filesystem, a caller
/// stopped before it took its descriptor), and the other calls of the
/// sandbox then wait no more than a few milliseconds. Receivers added that
/// way retire when several wait for [`SURPLUS_TICKS`], or before the monitor
/// sleeps.
pub(super) struct Pool {
    server: NotifyServer,
    /// CPUs the broker may use.
    cpus: usize,
    /// Receivers while spread: [`RECEIVERS_PER_CPU`] per CPU, at most
    /// [`MAX_SPREAD`].
    spread_to: usize,
    /// Receivers are spread over the CPUs and wait in epoll.
    spread: AtomicBool,
    /// The caller of the last notification received.
    last_caller: AtomicU32,
    /// Changes of caller since the monitor last looked.
    switches: AtomicU64,
    /// Written to wake every receiver waiting in its epoll instance (the
    /// listener's own wake-ups reach one at a time): when the pool closes
    /// or gathers.
    nudge: EventFd,
    /// Threads in the receiver role (promotions included).
    receivers: AtomicUsize,
    /// Receivers blocked in RECV right now.
    waiting: AtomicUsize,
    /// Notifications received so far.
    received: AtomicU64,
    /// Receivers asked to step down after their current notification.
    retire: AtomicUsize,
    /// Set by the monitor before it sleeps, when every receiver waits in
    /// RECV; the next receiver to get a notification wakes it, so a call's
    /// time is counted from its start.
    monitor_asleep: AtomicBool,
    /// The listener is gone or broken: every thread returns.
    closed: AtomicBool,
    state: Mutex<PoolState>,
    /// Parked workers wait here for a promotion.
    parked: Condvar,
    /// The sleeping monitor waits here.
    monitor: Condvar,
}

#[derive(Default)]
struct PoolState {
    /// Worker threads started.
    threads: usize,
    /// Workers parked, waiting for a promotion.
    parked: usize,
    /// Promotions not yet taken by a parked worker.
    promotions: usize,
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn start(server: NotifyServer) -> Result<(), NotifyError> {
        let nudge = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
            .map_err(NotifyError::Eventfd)?;
        let cpus = allowed_cpus();
        let pool = Arc::new(Pool {
            server,
            cpus,
            spread_to: (cpus * RECEIVERS_PER_CPU).clamp(1, MAX_SPREAD),
            spread: AtomicBool::new(false),
            last_caller: AtomicU32::new(0),
            switches: AtomicU64::new(0),
            nudge,
            receivers: AtomicUsize::new(1),
            waiting: AtomicUsize::new(0),
            received: AtomicU64::new(0),
            retire: AtomicUsize::new(0),
            monitor_asleep: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            state: Mutex::new(PoolState {
                threads: 1,
                ..PoolState::default()
            }),
            parked: Condvar::new(),
            monitor: Condvar::new(),
        });
        pool.spawn_worker(0).map_err(NotifyError::Thread)?;
        let p = Arc::clone(&pool);
        std::thread::Builder::new()
            .name("fdbroker-notify-monitor".into())
            .spawn(move || p.monitor())
            .map(drop)
            .map_err(|e| {
                // Without a monitor a slow call would stall the others forever.
                pool.close();
                NotifyError::Thread(e)
            })
    }

    fn spawn_worker(self: &Arc<Pool>, id: usize) -> std::io::Result<()> {
        let pool = Arc::clone(self);
        std::thread::Builder::new()
            .name(format!("fdbroker-notify-{id}"))
            .spawn(move || pool.worker())
            .map(drop)
    }

    /// Stops every thread; the last one to go closes the listener, which
    /// fails the sandbox's pending and future calls with `ENOSYS`.
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.nudge();
        let _state = self.lock();
        self.parked.notify_all();
        self.monitor.notify_all();
    }

    fn worker(self: Arc<Pool>) {
        // A receiver answers one program's calls: it may keep the
        // program's credentials from one to the next (sys::creds).
        if self.server.keeps_credentials() {
            sys::creds::hold_between_calls();
        }
        while self.receive() && self.park() {}
        sys::creds::settle();
    }

    /// The receiver role: returns true when asked to step down, false when
    /// the pool closes.
    fn receive(&self) -> bool {
        let listener = self.server.listener.as_fd();
        // Made when this thread receives while the pool is spread, closed
        // when it gathers.
        let mut exclusive: Option<Epoll> = None;
        // Making it failed (no descriptor left, say) during this spread: the
        // thread then waits in RECV, woken with the others for every call
        // (slower, still answering), and tries again after the next gather.
        let mut no_epoll = false;
        loop {
            let spread = self.spread.load(Ordering::SeqCst);
            if !spread {
                // Gathered: the pool holds no descriptor it does not use.
                exclusive = None;
                no_epoll = false;
            } else if exclusive.is_none() && !no_epoll {
                match exclusive_waiter(listener, self.nudge.as_fd()) {
                    Ok(epoll) => exclusive = Some(epoll),
                    Err(e) => {
                        tracing::warn!(
                            "seccomp listener: epoll: {e}; this receiver waits in RECV instead"
                        );
                        no_epoll = true;
                    }
                }
            }
            self.waiting.fetch_add(1, Ordering::SeqCst);
            let got = match exclusive.as_ref().filter(|_| spread) {
                Some(epoll) => match wait_exclusively(epoll) {
                    Ok(Woken::Notification) => sys::notify::recv(listener),
                    Ok(Woken::Nudge) => {
                        self.waiting.fetch_sub(1, Ordering::SeqCst);
                        if self.closed.load(Ordering::SeqCst) {
                            return false;
                        }
                        if self.take_retirement() {
                            return true;
                        }
                        continue;
                    }
                    Err(e) => Err(e),
                },
                None => sys::notify::recv(listener),
            };
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            let n = match got {
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                // The caller went away first, or no process uses the filter
                // any more (then RECV fails at once, forever).
                Err(Errno::ENOENT) => match sys::notify::poll_listener(listener) {
                    Ok(state) if !state.hung_up => continue,
                    _ => {
                        self.close();
                        return false;
                    }
                },
                Err(e) => {
                    tracing::error!("seccomp listener: {e}; no more notifications are answered");
                    self.close();
                    return false;
                }
            };
            self.received.fetch_add(1, Ordering::SeqCst);
            if self.last_caller.swap(n.pid, Ordering::Relaxed) != n.pid {
                self.switches.fetch_add(1, Ordering::Relaxed);
            }
            // Pairs with park_monitor: it sets the flag, then re-reads `received`.
            if self.monitor_asleep.load(Ordering::SeqCst) {
                self.wake_monitor();
            }
            self.server.answer(&n);
            if self.closed.load(Ordering::Relaxed) {
                return false;
            }
            if self.take_retirement() {
                return true;
            }
        }
    }

    /// Takes one of the retirements asked for, if any is left.
    fn take_retirement(&self) -> bool {
        let retiring = self
            .retire
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| r.checked_sub(1))
            .is_ok();
        if retiring {
            self.receivers.fetch_sub(1, Ordering::SeqCst);
        }
        retiring
    }

    /// Wakes every receiver waiting in its epoll instance.
    fn nudge(&self) {
        // Non-blocking; only a counter at its maximum refuses, and that
        // has woken them already.
        let _ = self.nudge.write(1);
    }

    /// [`RECEIVERS_PER_CPU`] receivers per CPU, each waiting with
    /// `EPOLLEXCLUSIVE`.
    fn spread_out(self: &Arc<Pool>) {
        self.spread.store(true, Ordering::SeqCst);
        let have = self.receivers.load(Ordering::SeqCst);
        for _ in have..self.spread_to {
            self.promote();
        }
    }

    /// Back to one receiver: the others retire, woken if they wait.
    fn gather(&self) {
        self.spread.store(false, Ordering::SeqCst);
        let have = self.receivers.load(Ordering::SeqCst);
        self.retire.store(have.saturating_sub(1), Ordering::SeqCst);
        self.nudge();
    }

    /// A worker without a role waits for a promotion; false when the pool closes.
    fn park(&self) -> bool {
        // Waiting without a role: nothing to keep the program's credentials for.
        sys::creds::settle();
        let mut state = self.lock();
        state.parked += 1;
        while state.promotions == 0 && !self.closed.load(Ordering::SeqCst) {
            state = self.parked.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        state.parked -= 1;
        if self.closed.load(Ordering::SeqCst) {
            return false;
        }
        state.promotions -= 1;
        true
    }

    /// Adds a receiver: a parked worker if there is one, else a new thread.
    fn promote(self: &Arc<Pool>) {
        // Growing and shrinking at once would only churn.
        self.retire.store(0, Ordering::SeqCst);
        let mut state = self.lock();
        if state.parked > state.promotions {
            state.promotions += 1;
            self.receivers.fetch_add(1, Ordering::SeqCst);
            self.parked.notify_one();
        } else if state.threads < MAX_WORKERS {
            let id = state.threads;
            state.threads += 1;
            self.receivers.fetch_add(1, Ordering::SeqCst);
            if self.spawn_worker(id).is_err() {
                state.threads -= 1;
                self.receivers.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    fn monitor(self: Arc<Pool>) {
        let mut last = self.received.load(Ordering::SeqCst);
        let (mut stuck, mut surplus, mut calm) = (0u32, 0u32, 0u32);
        while !self.closed.load(Ordering::SeqCst) {
            std::thread::sleep(TICK);
            // `received` before `waiting`: a receiver counts itself out of
            // RECV before it counts what it received (see sleep_monitor).
            let received = self.received.load(Ordering::SeqCst);
            let waiting = self.waiting.load(Ordering::SeqCst);
            let receivers = self.receivers.load(Ordering::SeqCst);
            let switches = self.switches.swap(0, Ordering::Relaxed);
            let progressed = received != last;
            last = received;
            let spread = self.spread.load(Ordering::SeqCst);
            if self.cpus > 1 && switches >= SPREAD_SWITCHES {
                calm = 0;
                if !spread {
                    self.spread_out();
                }
            } else if spread {
                calm += 1;
                if calm >= SURPLUS_TICKS {
                    self.gather();
                    calm = 0;
                }
            }
            if waiting == 0 {
                surplus = 0;
                stuck = if progressed { 0 } else { stuck + 1 };
                if stuck >= PATIENCE {
                    self.promote();
                    stuck = 0;
                }
                continue;
            }
            stuck = 0;
            if waiting >= receivers {
                // Nobody is inside a call: nothing to watch until the next
                // one. Receivers beyond the first retire (after their next
                // call, or at once if they wait in epoll).
                if self.spread.load(Ordering::SeqCst) {
                    self.gather();
                } else if waiting > 1 {
                    self.retire.store(waiting - 1, Ordering::SeqCst);
                }
                surplus = 0;
                calm = 0;
                self.sleep_monitor(last);
                last = self.received.load(Ordering::SeqCst);
                continue;
            }
            let keep = if self.spread.load(Ordering::SeqCst) {
                self.spread_to
            } else {
                1
            };
            surplus = if waiting > keep { surplus + 1 } else { 0 };
            if surplus >= SURPLUS_TICKS {
                self.retire.store(waiting - keep, Ordering::SeqCst);
                surplus = 0;
            }
        }
    }

    /// The monitor sleeps until a notification arrives after `seen` were
    /// received (or the pool closes).
    fn sleep_monitor(&self, seen: u64) {
        self.monitor_asleep.store(true, Ordering::SeqCst);
        let mut state = self.lock();
        while self.monitor_asleep.load(Ordering::SeqCst)
            && self.received.load(Ordering::SeqCst) == seen
            && !self.closed.load(Ordering::SeqCst)
        {
            state = self.monitor.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        self.monitor_asleep.store(false, Ordering::SeqCst);
    }

    fn wake_monitor(&self) {
        let _state = self.lock();
        self.monitor_asleep.store(false, Ordering::SeqCst);
        self.monitor.notify_one();
    }
}

/// How many CPUs the calling thread may run on (its affinity); 2 when that
/// cannot be read.
fn allowed_cpus() -> usize {
    sched_getaffinity(Pid::from_raw(0))
        .map(|set| {
            (0..CpuSet::count())
                .filter(|&c| set.is_set(c).unwrap_or(false))
                .count()
        })
        .unwrap_or(2)
}

/// What woke a receiver waiting in its epoll instance.
enum Woken {
    /// The listener is readable: a notification, or its end (RECV tells).
    Notification,
    /// The pool closed or gathered.
    Nudge,
}

const LISTENER_EVENT: u64 = 0;
const NUDGE_EVENT: u64 = 1;

/// An epoll instance of one receiver's own, watching `listener` with
/// `EPOLLEXCLUSIVE` (of all the receivers waiting in theirs, a notification
/// wakes one) and, edge-triggered, the pool's `nudge` (each write wakes
/// them all; nobody needs to read it).
fn exclusive_waiter(listener: BorrowedFd<'_>, nudge: BorrowedFd<'_>) -> Result<Epoll, Errno> {
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    epoll.add(
        listener,
        EpollEvent::new(
            EpollFlags::EPOLLIN | EpollFlags::EPOLLEXCLUSIVE,
            LISTENER_EVENT,
        ),
    )?;
    epoll.add(
        nudge,
        EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLET, NUDGE_EVENT),
    )?;
    Ok(epoll)
}

/// Waits until `epoll` has something.
fn wait_exclusively(epoll: &Epoll) -> Result<Woken, Errno> {
    let mut events = [EpollEvent::empty()];
    loop {
        if epoll.wait(&mut events, EpollTimeout::NONE)? > 0 {
            return Ok(if events[0].data() == NUDGE_EVENT {
                Woken::Nudge
            } else {
                Woken::Notification
            });
        }
    }
}
