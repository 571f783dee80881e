//! The HTTP stack under a [`Client`](crate::Client): reqwest's async client,
//! driven on the thread that makes the call.
//!
//! Why not reqwest's blocking client: it runs every request on a background
//! thread and hands the response and then each chunk of the body across
//! threads, and those wake-ups (futex, eventfd, epoll) were about 30 % of a
//! small download's time (BENCHMARKS.md). Here a call leases a [`Transport`]
//! (a current-thread tokio runtime and an HTTP client whose connections
//! live on that runtime), drives its whole call (retries included; a
//! batch's concurrent transfers) on its own thread with
//! [`Transport::block_on`], and gives the transport back. A transport serves one thread at a
//! time: threads that call at once get transports (and connections) of their
//! own; a finished call puts its transport on a small lock-free shelf, so
//! calls one after another reuse one kept-alive connection.
//!
//! Between calls no thread watches the idle connections, so a connection the
//! server closed meanwhile still looks open. [`Transport::send`] first lets
//! the runtime take in what happened while nobody drove it, so such a
//! connection is seen closed and the request goes on a new one: no error, no
//! retry delay (`tests/download.rs`,
//! `idle_connection_closed_by_the_server_is_replaced`, fails without it).
//!
//! Fork: a child inherits the parent's transports, whose epoll instances it
//! shares with the parent. It never uses them and never drops them (removing
//! a socket from a shared epoll instance would remove it for the parent too):
//! they are kept aside for the life of the child ([`keep_inherited`]), and
//! the child builds transports of its own, with a TLS configuration of its
//! own (the parent's holds locks, such as rustls's session cache, that
//! another thread of the parent may have held at the fork). A call that
//! forks from inside a callback and goes on in the child gets an error
//! instead of reading the parent's connection.
//!
//! Threads: none of the library's own, but a host name lookup runs
//! `getaddrinfo` on the runtime's helper thread (it cannot be interrupted);
//! that thread exits after 10 s unused, and dropping a transport does not
//! wait for it.

use std::future::{poll_fn, Future};
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::cancel::{cancelled, Cancel};
use crate::config::{is_localhost, is_loopback, ClientConfig};
use crate::error::{Error, Result};

/// Idle transports kept per client: enough for the threads of a typical
/// pool. A call that finds the shelf full drops its transport (and its
/// connection) instead of keeping it.
const SHELF_SIZE: usize = 16;

/// Which process the memory we are in belongs to: the process id, and how
/// many forks this memory has been through (a `pthread_atfork` handler
/// counts them in the child). Either alone can mislead: a pid seen again in
/// a new pid namespace, a fork by a raw `clone` that runs no handler.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Process {
    pid: u32,
    forks: u64,
}

static FORKS: AtomicU64 = AtomicU64::new(0);
static COUNTING_FORKS: AtomicBool = AtomicBool::new(false);

extern "C" fn count_fork_in_child() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

impl Process {
    fn current() -> Process {
        Process {
            pid: std::process::id(),
            forks: FORKS.load(Ordering::Relaxed),
        }
    }

    /// Starts counting forks (once per process; no lock, see `Transports`).
    fn count_forks() {
        if !COUNTING_FORKS.swap(true, Ordering::AcqRel) {
            // SAFETY: registers a handler that only bumps an atomic; the
            // library is never unmapped (-z nodelete), so it stays valid.
            unsafe { libc::pthread_atfork(None, None, Some(count_fork_in_child)) };
        }
    }
}

/// One calling thread's HTTP stack for the length of a call.
pub(crate) struct Transport {
    http: ManuallyDrop<reqwest::Client>,
    runtime: ManuallyDrop<tokio::runtime::Runtime>,
    /// The process that built it: only that process may use or drop it.
    process: Process,
}

impl Drop for Transport {
    fn drop(&mut self) {
        // The client first: its connections live on the runtime.
        // SAFETY: `http` is dropped once, here, and never used again.
        unsafe { ManuallyDrop::drop(&mut self.http) };
        // SAFETY: `runtime` is taken once, here, and never used again.
        let runtime = unsafe { ManuallyDrop::take(&mut self.runtime) };
        // Without waiting for the helper thread: a host name lookup in
        // progress would hold up the call that drops this (or
        // `bb_client_free`) for as long as the lookup takes.
        runtime.shutdown_background();
    }
}

impl Transport {
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Runs `future` (a whole call: its attempts, retries and sleeps; a
    /// batch's transfers) on this thread until it is done. Every wait
    /// inside goes through [`Transport::run`], [`Transport::send`] or
    /// [`Transport::sleep`], which bound it and watch the cancel handle.
    ///
    /// `future` itself is polled here, outside the runtime's `block_on`
    /// (but with the runtime as the current one, for its timers and
    /// tasks); `block_on` only drives the runtime (sockets, timers, hyper's
    /// connection tasks) until `future` is woken. So the caller's callbacks,
    /// which `future` calls (sinks, progress, log lines), run outside any
    /// `block_on`, and may make a library call of their own (a nested call
    /// on another transport), as they could when each wait was a
    /// `block_on` of its own.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> Result<F::Output> {
        self.check_process()?;
        let _current = self.runtime.enter();
        let woken = Arc::new(Woken::default());
        let waker = Waker::from(Arc::clone(&woken));
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        loop {
            woken.flag.store(false, Ordering::SeqCst);
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return Ok(output);
            }
            self.runtime.block_on(woken.wait());
        }
    }

    /// Awaits `future` until it is done (`Ok(Some)`) or `limit` passes
    /// (`Ok(None)`; the future is dropped, which cancels it), or until
    /// `watch`'s cancel handle is triggered (`Err(Cancelled)`, also
    /// dropping the future). Awaited inside [`Transport::block_on`].
    pub(crate) async fn run<F: Future>(
        &self,
        limit: Duration,
        watch: Option<&Watch>,
        future: F,
    ) -> Result<Option<F::Output>> {
        self.check_process()?;
        let timed = tokio::time::timeout(limit, future);
        match watch {
            None => Ok(timed.await.ok()),
            Some(w) => w.race(timed).await.map(|r| r.ok()),
        }
    }

    /// Sleeps `duration` on the runtime's timer, cut short by `watch`'s
    /// cancel handle (`Err(Cancelled)`).
    pub(crate) async fn sleep(&self, duration: Duration, watch: Option<&Watch>) -> Result<()> {
        self.run(duration, watch, std::future::pending::<()>())
            .await
            .map(|_| ())
    }

    /// Watches `cancel` (when there is one) on this transport's runtime for
    /// the length of one call: [`Transport::run`], [`Transport::send`] and
    /// [`Transport::sleep`] given the watch end when it is triggered (the
    /// concurrent transfers of a batch share one). Drop it before the
    /// transport.
    pub(crate) fn watch(&self, cancel: Option<&Cancel>) -> Result<Option<Watch>> {
        let Some(cancel) = cancel else {
            return Ok(None);
        };
        self.check_process()?;
        let _inside = self.runtime.enter();
        // SAFETY: the descriptor is the handle's, and `WakeFd` holds a
        // clone of the handle, which keeps it open and unchanged for as
        // long as the `AsyncFd` lives.
        let fd =
            unsafe { AsyncFd::register_with_interest(WakeFd(cancel.clone()), Interest::READABLE) }
                .map_err(|e| {
                    Error::internal(format!(
                        "cannot watch the cancel handle: {}",
                        e.into_parts().1
                    ))
                })?;
        Ok(Some(Watch { fd }))
    }

    /// A call that forked (from one of the caller's callbacks) and goes on
    /// in the child must not read the parent's connection.
    fn check_process(&self) -> Result<()> {
        if self.process == Process::current() {
            return Ok(());
        }
        Err(Error::internal(
            "the download was carried across fork() into the child process; start it again there",
        ))
    }

    /// Sends `request` and waits up to `limit` for its response, as `run`,
    /// after bringing the idle connections up to date.
    ///
    /// Why the yield: while no thread drove this runtime, the server may
    /// have closed an idle connection. The close sits unread in the kernel
    /// and tokio, not having polled the sockets since, believes the
    /// connection has nothing to read, so hyper would write the request on
    /// the dead connection and then fail it (too late to resend). Yielding
    /// once makes the runtime poll the sockets without blocking (one
    /// `epoll_wait` with a zero timeout); hyper then reads the close before it
    /// writes, gives the request back, and hyper-util sends it on a new
    /// connection.
    pub(crate) async fn send(
        &self,
        limit: Duration,
        watch: Option<&Watch>,
        request: reqwest::RequestBuilder,
    ) -> Result<Option<reqwest::Result<reqwest::Response>>> {
        self.check_process()?;
        let send = async {
            tokio::task::yield_now().await;
            tokio::time::timeout(limit, request.send()).await.ok()
        };
        match watch {
            None => Ok(send.await),
            Some(w) => w.race(send).await,
        }
    }
}

/// Whether the future of [`Transport::block_on`] was woken, and the
/// runtime's `block_on` waiting for that.
#[derive(Default)]
struct Woken {
    flag: AtomicBool,
    waiting: AtomicWaker,
}

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.flag.store(true, Ordering::SeqCst);
        self.waiting.wake();
    }
}

impl Woken {
    /// Drives the runtime until woken. Woken already (the future yielded,
    /// as [`Transport::send`] does): once round the runtime's loop first,
    /// so the sockets are polled (without blocking) and the readiness the
    /// yield is for is seen.
    async fn wait(&self) {
        if self.flag.load(Ordering::SeqCst) {
            tokio::task::yield_now().await;
            return;
        }
        poll_fn(|cx| {
            self.waiting.register(cx.waker());
            if self.flag.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// A cancel handle's eventfd registered with one transport's runtime (see
/// [`Transport::watch`]). Registered once per call, not per wait: a
/// wait then costs no system call more than without a cancel handle.
pub(crate) struct Watch {
    fd: AsyncFd<WakeFd>,
}

/// A cancel handle as the descriptor it wakes: the handle owns the
/// descriptor, which stays open as long as this clone of it.
struct WakeFd(Cancel);

impl AsRawFd for WakeFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.wake_fd()
    }
}

impl Watch {
    /// `future`'s output, or `Err(Cancelled)` as soon as the handle is
    /// triggered (already, or while waiting); the handle comes first.
    async fn race<F: Future>(&self, future: F) -> Result<F::Output> {
        let mut future = pin!(future);
        let mut fired = pin!(self.fired());
        poll_fn(|cx| {
            if fired.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(cancelled()));
            }
            future.as_mut().poll(cx).map(Ok)
        })
        .await
    }

    /// Ends when the handle is triggered. The eventfd is never drained, so
    /// once written it stays readable.
    async fn fired(&self) {
        let cancel = &self.fd.get_ref().0;
        loop {
            if cancel.is_triggered() {
                return;
            }
            match self.fd.readable().await {
                Ok(mut ready) => {
                    if cancel.is_triggered() {
                        return;
                    }
                    ready.clear_ready();
                }
                // The runtime is shutting down: only the flag is left.
                Err(_) => std::future::pending::<()>().await,
            }
        }
    }
}

/// A client's transports: the settings to build one, and the shelf of idle
/// ones. No lock anywhere: a lock held by another thread at the moment of a
/// fork would stay locked forever in the child.
pub(crate) struct Transports {
    /// The TLS configuration of the process that built this (see the
    /// module's doc for a forked child's), and what it is made from.
    tls: rustls::ClientConfig,
    extra_roots: Vec<rustls_pki_types::CertificateDer<'static>>,
    process: Process,
    user_agent: String,
    connect_timeout: Duration,
    proxy: Option<reqwest::Proxy>,
    no_proxy: bool,
    shelf: [AtomicPtr<Transport>; SHELF_SIZE],
}

impl Transports {
    /// Checks that `config` yields a working HTTP stack by building the first
    /// transport now (an unusable proxy fails here, not at the first call).
    pub(crate) fn new(config: &ClientConfig) -> Result<Transports> {
        let proxy = match &config.proxy {
            Some(url) => Some(
                reqwest::Proxy::all(url.as_str())
                    .map_err(|e| Error::invalid_argument(format!("proxy is unusable: {e}")))?,
            ),
            None => None,
        };
        Process::count_forks();
        let transports = Transports {
            tls: crate::tls::client_config(&config.extra_roots)?,
            extra_roots: config.extra_roots.clone(),
            process: Process::current(),
            user_agent: config.user_agent(),
            connect_timeout: config.connect_timeout,
            proxy,
            // A system proxy never reaches this machine's loopback.
            no_proxy: config.proxy.is_none() && is_loopback(&config.base_url),
            shelf: Default::default(),
        };
        let first = transports.build()?;
        transports.put_back(first);
        Ok(transports)
    }

    /// An idle transport of this process, or a new one.
    pub(crate) fn lease(&self) -> Result<Lease<'_>> {
        let process = Process::current();
        for slot in &self.shelf {
            if slot.load(Ordering::Relaxed).is_null() {
                continue;
            }
            let taken = slot.swap(std::ptr::null_mut(), Ordering::Acquire);
            if taken.is_null() {
                continue;
            }
            // SAFETY: non-null slot values come only from `Box::into_raw` in
            // `put_back`, and the swap made this thread their only holder.
            let transport = unsafe { Box::from_raw(taken) };
            if transport.process == process {
                return Ok(Lease {
                    pool: self,
                    transport: Some(transport),
                });
            }
            keep_inherited(transport);
        }
        Ok(Lease {
            pool: self,
            transport: Some(self.build()?),
        })
    }

    fn build(&self) -> Result<Box<Transport>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::internal(format!("cannot set up the HTTP client: {e}")))?;
        let process = Process::current();
        let tls = if process == self.process {
            self.tls.clone()
        } else {
            crate::tls::client_config(&self.extra_roots)?
        };
        let mut builder = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .user_agent(self.user_agent.as_str())
            .connect_timeout(self.connect_timeout)
            // Redirects are followed by hand, so the key stays on its origin.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(std::sync::Arc::new(Resolver))
            .tcp_nodelay(true);
        // The limits on silence and the deadline are applied to each wait by
        // the caller (`Transport::run`), not as reqwest timeouts.
        if let Some(proxy) = &self.proxy {
            builder = builder.proxy(proxy.clone());
        } else if self.no_proxy {
            builder = builder.no_proxy();
        }
        // reqwest's connector looks for the runtime it runs on when built.
        let http = {
            let _inside = runtime.enter();
            builder.build()
        }
        .map_err(|e| {
            Error::internal(format!(
                "cannot set up the HTTP client: {}",
                crate::error::chain(&e)
            ))
        })?;
        Ok(Box::new(Transport {
            http: ManuallyDrop::new(http),
            runtime: ManuallyDrop::new(runtime),
            process,
        }))
    }

    fn put_back(&self, transport: Box<Transport>) {
        if transport.process != Process::current() {
            // Leased before a fork by the thread that forked.
            keep_inherited(transport);
            return;
        }
        let raw = Box::into_raw(transport);
        for slot in &self.shelf {
            if slot
                .compare_exchange(
                    std::ptr::null_mut(),
                    raw,
                    Ordering::Release,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                return;
            }
        }
        // The shelf is full: this one goes.
        // SAFETY: `raw` was not published.
        drop(unsafe { Box::from_raw(raw) });
    }
}

impl Drop for Transports {
    fn drop(&mut self) {
        let process = Process::current();
        for slot in &mut self.shelf {
            let raw = std::mem::replace(slot.get_mut(), std::ptr::null_mut());
            if raw.is_null() {
                continue;
            }
            // SAFETY: as in `lease`; `&mut self` means no other user.
            let transport = unsafe { Box::from_raw(raw) };
            if transport.process == process {
                drop(transport);
            } else {
                keep_inherited(transport);
            }
        }
    }
}

/// A transport leased for one call; dropping the lease gives it back.
pub(crate) struct Lease<'a> {
    pool: &'a Transports,
    transport: Option<Box<Transport>>,
}

impl std::ops::Deref for Lease<'_> {
    type Target = Transport;

    fn deref(&self) -> &Transport {
        self.transport.as_ref().expect("lease holds its transport")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(transport) = self.transport.take() {
            self.pool.put_back(transport);
        }
    }
}

/// Transports a forked child inherited: kept, never used or dropped (see the
/// module's doc). A list rather than a bare leak, so that leak checkers see
/// them as still reachable. Push-only, hence no lock and no ABA problem.
static INHERITED: AtomicPtr<Inherited> = AtomicPtr::new(std::ptr::null_mut());

struct Inherited {
    _transport: Box<Transport>,
    next: *mut Inherited,
}

fn keep_inherited(transport: Box<Transport>) {
    let node = Box::into_raw(Box::new(Inherited {
        _transport: transport,
        next: std::ptr::null_mut(),
    }));
    let mut head = INHERITED.load(Ordering::Relaxed);
    loop {
        // SAFETY: `node` is not yet published; this thread owns it.
        unsafe { (*node).next = head };
        match INHERITED.compare_exchange_weak(head, node, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return,
            Err(current) => head = current,
        }
    }
}

/// Host name lookups: `getaddrinfo` on the runtime's helper thread, as
/// reqwest's own resolver does, except that `localhost` only ever yields its
/// loopback addresses. Plain http is allowed to `localhost` because it is
/// this machine; if `/etc/hosts` or DNS says otherwise, nothing is sent to
/// the other address: the connection fails instead.
struct Resolver;

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let lookup = host.clone();
            let found = tokio::task::spawn_blocking(move || {
                use std::net::ToSocketAddrs;
                (lookup.as_str(), 0)
                    .to_socket_addrs()
                    .map(Iterator::collect::<Vec<_>>)
            })
            .await??;
            if !is_localhost(&host) {
                return Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs);
            }
            let (loopback, other): (Vec<_>, Vec<_>) =
                found.into_iter().partition(|a| a.ip().is_loopback());
            if loopback.is_empty() {
                let what = match other.first() {
                    Some(a) => format!("resolves to {}", a.ip()),
                    None => "resolves to no address".to_owned(),
                };
                return Err(format!(
                    "{host} {what}, not to a loopback address: refused, so that nothing \
                     meant for this machine is sent elsewhere"
                )
                .into());
            }
            Ok(Box::new(loopback.into_iter()) as reqwest::dns::Addrs)
        })
    }
}
