//! [`Limiter`]: the limits that keep one client from hurting everyone else: messages per
//! second per socket and per peer id (token buckets, `governor`), connections per client
//! address (open at once, and opened per second), registrations per address per minute.
//! What is over a limit is refused with `rate_limited` and when to try again, or, for a
//! connection, with a connect error; a connection opened too soon waits its turn first
//! ([`pace_connections`]), so that a client opening and closing sockets in a loop is
//! slowed down to its allowance instead of costing the server a handshake each time.
//!
//! Each node applies its limits to what it sees: a peer with sockets on three nodes may
//! send three times its per-peer rate in all, and a client address spreading connections
//! over nodes has each node's allowance.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{Extensions, HeaderMap, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{
    DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Jitter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use relay_shared::{ErrorCode, PeerId, Rejection};

/// The limits, as configured; 0 turns one off.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Messages a socket may send per second, on average (bursts of twice that).
    pub socket_rate: u32,
    /// Messages the sockets of one peer id may send per second together.
    pub peer_rate: u32,
    /// Connections open at once from one client address.
    pub connections_per_ip: u32,
    /// New connections one client address may open per second (bursts of twice that).
    pub connection_rate: u32,
    /// Registrations (`register`, `init`) from one client address per minute.
    pub registrations_per_minute: u32,
    /// Addresses of proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpAddr>,
}

/// A node's limits and their state.
pub struct Limiter {
    settings: RateLimits,
    per_peer: Option<DefaultKeyedRateLimiter<PeerId>>,
    registrations: Option<DefaultKeyedRateLimiter<IpAddr>>,
    new_connections: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Addresses kept from opening connections, until when.
    penalties: Mutex<HashMap<IpAddr, Instant>>,
    connections: Arc<Mutex<HashMap<IpAddr, u32>>>,
    clock: DefaultClock,
}

/// One socket's own message bucket.
pub struct SocketBucket(Option<DefaultDirectRateLimiter>);

/// How many refusals a socket may earn beyond those its rate forgives before it is cut.
pub const REFUSALS_BEFORE_CUT: u32 = 1_000;

/// One socket's allowance of refusals (for its rate, or for too many events waiting):
/// [`REFUSALS_BEFORE_CUT`] at once, refilled at the socket's rate. A client that waits
/// when told never uses it up; one that keeps sending at over twice its rate does, and
/// is cut.
pub struct RefusalBucket(DefaultDirectRateLimiter);

impl RefusalBucket {
    /// Counts one refusal; `true` once the allowance is used up.
    pub fn used_up_by_one_more(&self) -> bool {
        self.0.check().is_err()
    }
}

/// A connection counted against its address, released when dropped.
pub struct ConnectionSlot {
    ip: IpAddr,
    connections: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl Limiter {
    /// The limiter of a node.
    pub fn new(settings: RateLimits) -> Self {
        Self {
            per_peer: per_second(settings.peer_rate).map(RateLimiter::keyed),
            registrations: NonZeroU32::new(settings.registrations_per_minute)
                .map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            new_connections: per_second(settings.connection_rate).map(RateLimiter::keyed),
            penalties: Mutex::default(),
            connections: Arc::default(),
            clock: DefaultClock::default(),
            settings,
        }
    }

    /// The message bucket of a new socket.
    pub fn socket_bucket(&self) -> SocketBucket {
        SocketBucket(per_second(self.settings.socket_rate).map(RateLimiter::direct))
    }

    /// The refusal allowance of a new socket.
    pub fn refusal_bucket(&self) -> RefusalBucket {
        // Refilled at the socket's rate; at 100 per second when that limit is off.
        let refill = NonZeroU32::new(self.settings.socket_rate)
            .unwrap_or(NonZeroU32::MIN.saturating_add(99));
        let burst = NonZeroU32::new(REFUSALS_BEFORE_CUT).unwrap_or(NonZeroU32::MIN);
        RefusalBucket(RateLimiter::direct(
            Quota::per_second(refill).allow_burst(burst),
        ))
    }

    /// Whether `socket`'s peer `from` may send one more message now.
    pub fn message(&self, socket: &SocketBucket, from: Option<PeerId>) -> Result<(), Rejection> {
        if let Some(bucket) = &socket.0
            && let Err(not_until) = bucket.check()
        {
            return Err(self.limited(
                "this socket is sending faster than it may",
                not_until.wait_time_from(self.clock.now()),
            ));
        }
        if let (Some(per_peer), Some(from)) = (&self.per_peer, from)
            && let Err(not_until) = per_peer.check_key(&from)
        {
            return Err(self.limited(
                "this id's sockets are sending faster than they may",
                not_until.wait_time_from(self.clock.now()),
            ));
        }
        Ok(())
    }

    /// Whether `ip` may register one more socket now.
    pub fn registration(&self, ip: Option<IpAddr>) -> Result<(), Rejection> {
        if let (Some(registrations), Some(ip)) = (&self.registrations, ip)
            && let Err(not_until) = registrations.check_key(&ip)
        {
            return Err(self.limited(
                "too many registrations from this address",
                not_until.wait_time_from(self.clock.now()),
            ));
        }
        Ok(())
    }

    /// Counts a new connection from `ip`, or refuses it when the address has too many.
    pub fn connect(
        &self,
        ip: Option<IpAddr>,
    ) -> Result<Option<ConnectionSlot>, TooManyConnections> {
        let (Some(ip), Some(limit)) = (ip, NonZeroU32::new(self.settings.connections_per_ip))
        else {
            return Ok(None);
        };
        let mut connections = self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let open = connections.entry(ip).or_default();
        if *open >= limit.get() {
            return Err(TooManyConnections { limit: limit.get() });
        }
        *open += 1;
        Ok(Some(ConnectionSlot {
            ip,
            connections: self.connections.clone(),
        }))
    }

    /// Waits, up to [`MAX_CONNECTION_WAIT`], until `ip` may open one more connection;
    /// meanwhile the waiting request counts as one of the address's connections.
    pub async fn new_connection(&self, ip: Option<IpAddr>) -> Result<(), ConnectionRefused> {
        if let Some(ip) = ip
            && let Some(wait) = self.penalty_left(ip)
        {
            return Err(ConnectionRefused {
                reason: "a socket of this address was cut for flooding; try again later".into(),
                retry_after: wait,
            });
        }
        let (Some(limiter), Some(ip)) = (&self.new_connections, ip) else {
            return Ok(());
        };
        if limiter.check_key(&ip).is_ok() {
            return Ok(());
        }
        let _waiting = self
            .connect(Some(ip))
            .map_err(|too_many| ConnectionRefused {
                reason: too_many.to_string(),
                retry_after: Duration::from_secs(1),
            })?;
        // Waiters wake spread out rather than all at once.
        let turn =
            limiter.until_key_ready_with_jitter(&ip, Jitter::up_to(Duration::from_millis(100)));
        tokio::time::timeout(MAX_CONNECTION_WAIT, turn)
            .await
            .map_err(|_| ConnectionRefused {
                reason: "too many new connections from this address; try again later".into(),
                retry_after: Duration::from_secs(1),
            })
    }

    /// Keeps `ip` from opening connections for [`FLOOD_PENALTY`]: one of its sockets
    /// was cut for sending on and on over its rate.
    pub fn penalize(&self, ip: Option<IpAddr>) {
        if let Some(ip) = ip {
            let until = Instant::now() + FLOOD_PENALTY;
            self.penalties
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(ip, until);
        }
    }

    /// How long `ip` is still kept from opening connections, if it is.
    fn penalty_left(&self, ip: IpAddr) -> Option<Duration> {
        let penalties = self
            .penalties
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let until = penalties.get(&ip)?;
        until
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
    }

    /// The client's address: the connection's, or, from a trusted proxy, the last one
    /// it added to `X-Forwarded-For`.
    pub fn client_ip(&self, parts: &Parts) -> Option<IpAddr> {
        self.client_ip_of(&parts.extensions, &parts.headers)
    }

    /// [`client_ip`](Self::client_ip), from a request's extensions and headers.
    pub fn client_ip_of(&self, extensions: &Extensions, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())?;
        if !self.settings.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|ip| ip.trim().parse().ok())
            .next_back()
            .or(Some(peer))
    }

    /// Forgets the buckets of peers and addresses quiet long enough to be full again,
    /// so that their number stays bounded. Call now and then.
    pub fn forget_quiet(&self) {
        if let Some(per_peer) = &self.per_peer {
            per_peer.retain_recent();
        }
        if let Some(registrations) = &self.registrations {
            registrations.retain_recent();
        }
        if let Some(new_connections) = &self.new_connections {
            new_connections.retain_recent();
        }
        let now = Instant::now();
        self.penalties
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, until| *until > now);
    }

    fn limited(&self, what: &str, wait: Duration) -> Rejection {
        let millis = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
        Rejection::retry_after(
            ErrorCode::RateLimited,
            format!("{what}; try again in {millis} ms"),
            millis,
        )
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut connections = self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(open) = connections.get_mut(&self.ip) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                connections.remove(&self.ip);
            }
        }
    }
}

/// The longest a new connection waits for its address's turn before it is refused.
pub const MAX_CONNECTION_WAIT: Duration = Duration::from_secs(10);

/// A new connection refused: its address opens too many, or has too many open.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct ConnectionRefused {
    reason: String,
    /// When to try again.
    pub retry_after: Duration,
}

/// How long an address whose socket was cut for flooding may not open connections.
pub const FLOOD_PENALTY: Duration = Duration::from_secs(10);

/// Middleware: a request that opens a Socket.IO session (one without a `sid`) waits
/// for its address's turn under `--connection-rate`, or is refused with 429. Requests
/// of sessions already open go straight through.
pub async fn pace_connections(
    State(limiter): State<Arc<Limiter>>,
    request: Request,
    next: Next,
) -> Response {
    let opens_session = request.uri().path().starts_with("/socket.io")
        && !request
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|pair| pair.starts_with("sid=")));
    if opens_session {
        let ip = limiter.client_ip_of(request.extensions(), request.headers());
        if let Err(refused) = limiter.new_connection(ip).await {
            tracing::debug!(?ip, "connection refused: {refused}");
            let seconds = refused.retry_after.as_secs_f64().ceil().max(1.0);
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, format!("{seconds}"))],
                refused.to_string(),
            )
                .into_response();
        }
    }
    next.run(request).await
}

/// A connection refused: its address has `limit` open already.
#[derive(Debug, thiserror::Error)]
#[error("too many connections from this address (at most {limit}); close some and try again")]
pub struct TooManyConnections {
    /// The bound.
    pub limit: u32,
}

/// `rate` per second with bursts of twice that; `None` for 0.
fn per_second(rate: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(rate.get().saturating_mul(2)).unwrap_or(rate);
    Some(Quota::per_second(rate).allow_burst(burst))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> RateLimits {
        RateLimits {
            socket_rate: 5,
            peer_rate: 8,
            connections_per_ip: 2,
            connection_rate: 2,
            registrations_per_minute: 3,
            trusted_proxies: vec!["10.0.0.1".parse().unwrap()],
        }
    }

    #[tokio::test]
    async fn a_connection_opened_too_soon_waits_its_turn_and_counts_meanwhile() {
        use futures_util::FutureExt;
        let limiter = Arc::new(Limiter::new(limits()));
        let ip: Option<IpAddr> = Some("192.0.2.9".parse().unwrap());
        for n in 0..4 {
            let now = limiter.new_connection(ip).now_or_never();
            assert!(matches!(now, Some(Ok(()))), "the burst, {n}: {now:?}");
        }
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move { limiter.new_connection(ip).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            waiters.iter().all(|w| !w.is_finished()),
            "past the burst, they wait"
        );
        let third = limiter.new_connection(ip).now_or_never();
        assert!(
            matches!(third, Some(Err(_))),
            "two waiting fill the address's connections: {third:?}"
        );
        let other = limiter
            .new_connection(Some("192.0.2.10".parse().unwrap()))
            .now_or_never();
        assert!(matches!(other, Some(Ok(()))), "another address: {other:?}");
        for waiter in waiters {
            let turn = tokio::time::timeout(Duration::from_secs(5), waiter).await;
            assert!(matches!(turn, Ok(Ok(Ok(())))), "{turn:?}");
        }
    }

    #[test]
    fn a_socket_gets_its_burst_then_is_told_when_to_retry() {
        let limiter = Limiter::new(limits());
        let bucket = limiter.socket_bucket();
        for _ in 0..10 {
            limiter
                .message(&bucket, None)
                .expect("within the burst of 2 × 5");
        }
        let refused = limiter.message(&bucket, None).unwrap_err();
        assert_eq!(refused.code, ErrorCode::RateLimited);
        let wait = refused.retry_after_ms.unwrap();
        assert!((1..=250).contains(&wait), "{wait} ms");
    }

    #[test]
    fn the_sockets_of_one_peer_share_its_bucket() {
        let limiter = Limiter::new(limits());
        let peer: PeerId = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71".parse().unwrap();
        let (a, b) = (limiter.socket_bucket(), limiter.socket_bucket());
        for n in 0..16 {
            let socket = if n % 2 == 0 { &a } else { &b };
            limiter.message(socket, Some(peer)).expect("within 2 × 8");
        }
        let refused = limiter.message(&limiter.socket_bucket(), Some(peer));
        assert_eq!(refused.unwrap_err().code, ErrorCode::RateLimited);
        let other: PeerId = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b72".parse().unwrap();
        limiter
            .message(&limiter.socket_bucket(), Some(other))
            .expect("another peer has its own");
    }

    #[test]
    fn connections_are_counted_per_address_and_released() {
        let limiter = Limiter::new(limits());
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let first = limiter.connect(Some(ip)).unwrap();
        let second = limiter.connect(Some(ip)).unwrap();
        assert!(limiter.connect(Some(ip)).is_err(), "a third is refused");
        assert!(limiter.connect(Some("192.0.2.8".parse().unwrap())).is_ok());
        drop(first);
        assert!(limiter.connect(Some(ip)).is_ok(), "a place was freed");
        drop(second);
    }

    #[test]
    fn registrations_are_limited_per_address() {
        let limiter = Limiter::new(limits());
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..3 {
            limiter.registration(Some(ip)).unwrap();
        }
        assert_eq!(
            limiter.registration(Some(ip)).unwrap_err().code,
            ErrorCode::RateLimited
        );
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let limiter = Limiter::new(limits());
        let parts = |peer: &str| {
            let mut request = axum::http::Request::builder()
                .header("x-forwarded-for", "198.51.100.1, 203.0.113.9")
                .body(())
                .unwrap();
            request
                .extensions_mut()
                .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
            request.into_parts().0
        };
        assert_eq!(
            limiter.client_ip(&parts("10.0.0.1:4000")),
            Some("203.0.113.9".parse().unwrap()),
            "the address the proxy saw"
        );
        assert_eq!(
            limiter.client_ip(&parts("192.0.2.50:4000")),
            Some("192.0.2.50".parse().unwrap()),
            "anyone else's header is ignored"
        );
    }
}
