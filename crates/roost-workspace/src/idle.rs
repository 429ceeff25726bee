//! The idle watchdog: decides when this Machine has had no MCP work for `idle timeout`.
//!
//! A Fly Machine costs money while it runs; roost stops it by exiting 0 when idle, and Fly's
//! `on-failure` restart policy leaves it stopped until the next replayed request autostarts it.
//! Activity is an MCP *request*: each holds an [`ActivityGuard`] from arrival until its response
//! is finished, so a long `run_command` keeps the Machine up, while a client that only holds a
//! GET stream (or a 2026 `subscriptions/listen` stream) open does not — the stream's request
//! counts only while it is being set up. Time is `tokio::time`, so tests drive it with
//! `tokio::time::pause` instead of sleeping.

use std::sync::{Arc, Mutex};

use tokio::{
    sync::Notify,
    time::{Duration, Instant},
};

/// Tracks in-flight MCP requests and the last time one ended.
#[derive(Clone)]
pub struct IdleWatchdog {
    inner: Arc<Inner>,
}

struct Inner {
    timeout: Duration,
    state: Mutex<State>,
    changed: Notify,
}

struct State {
    in_flight: usize,
    last_activity: Instant,
}

/// Held while one request is in flight; dropping it marks the end of that activity.
pub struct ActivityGuard {
    inner: Arc<Inner>,
}

impl IdleWatchdog {
    /// A watchdog that fires after `timeout` without activity, counting from now.
    pub fn new(timeout: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                timeout,
                state: Mutex::new(State {
                    in_flight: 0,
                    last_activity: Instant::now(),
                }),
                changed: Notify::new(),
            }),
        }
    }

    /// Mark the start of a request; activity lasts until the guard is dropped.
    pub fn activity(&self) -> ActivityGuard {
        let mut state = self.inner.lock();
        state.in_flight += 1;
        state.last_activity = Instant::now();
        drop(state);
        self.inner.changed.notify_waiters();
        ActivityGuard {
            inner: self.inner.clone(),
        }
    }

    /// Number of requests in flight right now.
    pub fn in_flight(&self) -> usize {
        self.inner.lock().in_flight
    }

    /// Resolves once no request is in flight (used to drain on shutdown).
    pub async fn drained(&self) {
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.in_flight() == 0 {
                return;
            }
            changed.await;
        }
    }

    /// Resolves once nothing has been in flight for the whole timeout.
    pub async fn idle(&self) {
        loop {
            // Register interest before reading the state so a change in between is not lost.
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let deadline = {
                let state = self.inner.lock();
                (state.in_flight == 0).then(|| state.last_activity + self.inner.timeout)
            };
            match deadline {
                Some(deadline) if Instant::now() >= deadline => return,
                Some(deadline) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {}
                        () = &mut changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the counters inconsistent (plain
        // integer updates), so a poisoned lock is still safe to use.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for ActivityGuard {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        state.last_activity = Instant::now();
        drop(state);
        self.inner.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(600);

    /// True if `idle()` has resolved once the runtime has run everything due by now.
    async fn is_idle(watchdog: &IdleWatchdog) -> bool {
        let idle = watchdog.idle();
        tokio::pin!(idle);
        tokio::select! {
            biased;
            () = &mut idle => true,
            () = tokio::task::yield_now() => false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn fires_after_the_timeout_without_requests() {
        let watchdog = IdleWatchdog::new(TIMEOUT);
        let waiter = tokio::spawn({
            let w = watchdog.clone();
            async move { w.idle().await }
        });
        tokio::time::advance(TIMEOUT - Duration::from_secs(1)).await;
        assert!(!waiter.is_finished());
        tokio::time::advance(Duration::from_secs(2)).await;
        waiter.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn an_in_flight_request_keeps_the_server_up_however_long_it_takes() {
        let watchdog = IdleWatchdog::new(TIMEOUT);
        let guard = watchdog.activity();
        tokio::time::advance(TIMEOUT * 3).await;
        assert!(
            !is_idle(&watchdog).await,
            "fired while a request was running"
        );
        drop(guard);
        // The clock restarts when the request ends.
        tokio::time::advance(TIMEOUT - Duration::from_secs(1)).await;
        assert!(!is_idle(&watchdog).await);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(is_idle(&watchdog).await);
    }

    #[tokio::test(start_paused = true)]
    async fn each_request_pushes_the_deadline_back() {
        let watchdog = IdleWatchdog::new(TIMEOUT);
        let waiter = tokio::spawn({
            let w = watchdog.clone();
            async move { w.idle().await }
        });
        tokio::time::advance(TIMEOUT / 2).await;
        drop(watchdog.activity());
        tokio::time::advance(TIMEOUT * 3 / 4).await;
        assert!(
            !waiter.is_finished(),
            "fired although a request came in half-way"
        );
        tokio::time::advance(TIMEOUT / 2).await;
        waiter.await.unwrap();
        assert_eq!(watchdog.in_flight(), 0);
    }
}
