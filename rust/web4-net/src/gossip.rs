//! Gossip: knowledge meant for everyone, on gossipsub topics (CIP_SPEC §11).
//!
//! Theory of operation: the swarm runs rust-libp2p's gossipsub next to RTT, on the same
//! connections. Messages are *anonymous* at the gossipsub layer (no libp2p author,
//! sequence number or signature): each carries one CIP envelope that is signed by its
//! author with Ed25519 already, and its id is the SHA-256 of its bytes, so the same
//! envelope is one message however many peers forward it (gossipsub drops the copies
//! itself). Validation is manual: gossipsub forwards nothing before the application says
//! so. The driver puts each received message into a bounded inbox ([`GossipInbox`]) and
//! wakes Python, which validates the envelope fully (signature, topic binding, replay,
//! schema, trust gate, knowledge rules) and reports a [`Verdict`]; `Reject` feeds
//! gossipsub's peer score (P4, invalid deliveries), which prunes the forwarder from the
//! mesh once negative and ignores it entirely below the graylist threshold. Bounds: the
//! message size (`max_transmit_size`), topics a remote may subscribe to (prefix
//! `/web4/`, at most [`MAX_REMOTE_TOPICS`]), the inbox ([`GossipConfig::inbox`]; a full
//! inbox or a forwarder over its rate is answered `Ignore` at once and counted) and the
//! per-forwarder token buckets (bounded by [`MAX_BUCKETS`]). The second half of the
//! inbox is kept for forwarders the application scores above zero (its trusted peers):
//! fresh keys are free, so a swarm of them, each under its rate with messages that are
//! ignored without penalty (votes of keys we never met), could otherwise keep the inbox
//! full, and a message refused for a full inbox is lost here (gossipsub has marked its
//! id seen and drops the copies that follow).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libp2p::gossipsub::{
    self, CallbackSubscriptionFilter, IdentityTransform, MaxCountSubscriptionFilter,
    MessageAuthenticity, MessageId, PeerScoreParams, PeerScoreThresholds, TopicHash,
    TopicScoreParams, ValidationMode,
};
use libp2p::PeerId;
use sha2::{Digest, Sha256};

use web4_proto::session::OpId;

use crate::shared::{lock, Shared};
use crate::wake::error_text;
use crate::NetError;

/// Topics this node accepts remote subscriptions to (everything else is not tracked).
pub const TOPIC_PREFIX: &str = "/web4/";
/// Topics one remote peer may be tracked as subscribed to.
pub const MAX_REMOTE_TOPICS: usize = 256;
/// Forwarders with a live token bucket (beyond it the table is reset: a fresh bucket is
/// full, so a reset only ever helps a flooder for one burst).
pub const MAX_BUCKETS: usize = 4096;

pub(crate) type SubscriptionFilter =
    MaxCountSubscriptionFilter<CallbackSubscriptionFilter<fn(&TopicHash) -> bool>>;
pub(crate) type GossipBehaviour = gossipsub::Behaviour<IdentityTransform, SubscriptionFilter>;

/// Gossip knobs (bounds and timings); the rest is fixed here.
#[derive(Debug, Clone)]
pub struct GossipConfig {
    /// Largest gossip message (one envelope plus a little framing).
    pub max_message: usize,
    /// Received messages waiting for Python's verdict.
    pub inbox: usize,
    /// Per forwarder: sustained messages per second and burst.
    pub rate_per_s: f64,
    pub burst: f64,
    /// gossipsub heartbeat (mesh maintenance, gossip emission).
    pub heartbeat: Duration,
    /// How long gossipsub remembers a message id it has seen (duplicates dropped).
    pub duplicate_cache: Duration,
}

impl Default for GossipConfig {
    fn default() -> Self {
        GossipConfig {
            max_message: 256 * 1024 + 1024,
            inbox: 1024,
            rate_per_s: 100.0,
            burst: 400.0,
            heartbeat: Duration::from_millis(700),
            duplicate_cache: Duration::from_secs(300),
        }
    }
}

/// The application's verdict on one received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: deliver (done) and forward.
    Accept,
    /// Invalid by its content: drop, and score the forwarder down.
    Reject,
    /// Not for us now (a duplicate by another path, local trust or load): drop, no penalty.
    Ignore,
}

impl Verdict {
    /// Errors: `Config` for anything but accept/reject/ignore.
    pub fn parse(s: &str) -> Result<Verdict, NetError> {
        match s {
            "accept" => Ok(Verdict::Accept),
            "reject" => Ok(Verdict::Reject),
            "ignore" => Ok(Verdict::Ignore),
            _ => Err(NetError::Config(format!(
                "unknown gossip verdict {s:?} (expected accept, reject or ignore)"
            ))),
        }
    }

    pub(crate) fn acceptance(self) -> gossipsub::MessageAcceptance {
        match self {
            Verdict::Accept => gossipsub::MessageAcceptance::Accept,
            Verdict::Reject => gossipsub::MessageAcceptance::Reject,
            Verdict::Ignore => gossipsub::MessageAcceptance::Ignore,
        }
    }
}

/// A received gossip message waiting for its verdict.
#[derive(Debug, Clone)]
pub struct GossipMessage {
    /// Lowercase hex SHA-256 of `data` (the gossipsub message id).
    pub id: String,
    /// The peer that forwarded it to us (not necessarily its author).
    pub source: PeerId,
    pub topic: String,
    pub data: Vec<u8>,
}

/// Node-wide gossip counters.
#[derive(Debug, Default)]
pub struct GossipCounters {
    pub published: AtomicU64,
    pub publish_failed: AtomicU64,
    /// Messages handed to the application (each gets one verdict).
    pub received: AtomicU64,
    /// Inbound messages gossipsub computed an id for (before its duplicate check).
    pub seen: AtomicU64,
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    pub ignored: AtomicU64,
    /// Answered `Ignore` by the driver: inbox full or forwarder over its rate.
    pub dropped: AtomicU64,
}

/// A snapshot of the counters (`duplicates`: messages gossipsub dropped before delivery,
/// nearly all of them copies it had seen already).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GossipStats {
    pub published: u64,
    pub publish_failed: u64,
    pub received: u64,
    pub duplicates: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub ignored: u64,
    pub dropped: u64,
}

impl GossipCounters {
    pub fn snapshot(&self) -> GossipStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let seen = get(&self.seen);
        let delivered = get(&self.received) + get(&self.dropped);
        GossipStats {
            published: get(&self.published),
            publish_failed: get(&self.publish_failed),
            received: get(&self.received),
            duplicates: seen.saturating_sub(delivered),
            accepted: get(&self.accepted),
            rejected: get(&self.rejected),
            ignored: get(&self.ignored),
            dropped: get(&self.dropped),
        }
    }
}

/// What the driver last saw of scores and meshes (refreshed every heartbeat).
#[derive(Debug, Clone, Default)]
pub struct GossipView {
    /// Peer -> gossipsub score, for every peer gossipsub knows.
    pub scores: Vec<(PeerId, f64)>,
    /// Topic -> the peers in our mesh for it.
    pub mesh: Vec<(String, Vec<PeerId>)>,
    /// Topic -> peers known to subscribe to it.
    pub subscribers: Vec<(String, Vec<PeerId>)>,
}

/// Hex of the SHA-256 of `data`: the message id of an envelope.
pub fn message_id(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A message id from its hex form (gossipsub's id is the hex text itself, as bytes).
/// Errors: `Config` for anything but 64 lowercase hex digits.
pub fn parse_message_id(hex: &str) -> Result<MessageId, NetError> {
    let ok = hex.len() == 64 && hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    if !ok {
        return Err(NetError::Config(format!("bad gossip message id {hex:?}")));
    }
    Ok(MessageId::new(hex.as_bytes()))
}

fn web4_topic(t: &TopicHash) -> bool {
    t.as_str().starts_with(TOPIC_PREFIX)
}

/// Topic score: only invalid deliveries (P4, squared, weight -10) and a small bonus for
/// first deliveries (P2, at most +5); no time-in-mesh or mesh-delivery terms, which
/// would punish quiet peers of a network where facts are rare.
pub fn topic_params() -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 1.0,
        first_message_deliveries_weight: 0.5,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: 10.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_message_deliveries_decay: 0.5,
        mesh_message_deliveries_cap: 1.0,
        mesh_message_deliveries_threshold: 1.0,
        mesh_message_deliveries_window: Duration::from_millis(10),
        mesh_message_deliveries_activation: Duration::from_secs(5),
        mesh_failure_penalty_weight: 0.0,
        mesh_failure_penalty_decay: 0.5,
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.97,
    }
}

/// Build the behaviour. Errors: `Config` when gossipsub refuses the configuration.
pub(crate) fn behaviour(
    cfg: &GossipConfig,
    counters: Arc<GossipCounters>,
) -> Result<GossipBehaviour, NetError> {
    let err = |e: &dyn std::fmt::Display| NetError::Config(format!("gossip: {e}"));
    let seen = counters;
    let config = gossipsub::ConfigBuilder::default()
        .heartbeat_interval(cfg.heartbeat)
        .max_transmit_size(cfg.max_message)
        .duplicate_cache_time(cfg.duplicate_cache)
        // no libp2p author/seqno/signature: the envelope is signed by its author already
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(move |m: &gossipsub::Message| {
            seen.seen.fetch_add(1, Ordering::Relaxed);
            MessageId::new(message_id(&m.data).as_bytes())
        })
        .build()
        .map_err(|e| err(&e))?;
    let filter = MaxCountSubscriptionFilter {
        filter: CallbackSubscriptionFilter(web4_topic as fn(&TopicHash) -> bool),
        max_subscribed_topics: MAX_REMOTE_TOPICS,
        max_subscriptions_per_request: 64,
    };
    let mut b = GossipBehaviour::new_with_subscription_filter(
        MessageAuthenticity::Anonymous,
        config,
        filter,
    )
    .map_err(|e| err(&e))?;
    let params = PeerScoreParams {
        // every loopback test node (and every peer behind one NAT) shares an address
        ip_colocation_factor_weight: 0.0,
        app_specific_weight: 1.0,
        ..PeerScoreParams::default()
    };
    b.with_peer_score(params, PeerScoreThresholds::default())
        .map_err(|e| err(&e))?;
    Ok(b)
}

/// Received messages waiting for their verdict, and the per-forwarder rate limit.
#[derive(Debug)]
pub struct GossipInbox {
    cfg: GossipConfig,
    queue: VecDeque<GossipMessage>,
    buckets: HashMap<PeerId, (f64, Instant)>,
    /// Forwarders the application scores above zero: they may fill the second half.
    favoured: std::collections::HashSet<PeerId>,
}

impl GossipInbox {
    pub fn new(cfg: GossipConfig) -> Self {
        GossipInbox {
            cfg,
            queue: VecDeque::new(),
            buckets: HashMap::new(),
            favoured: std::collections::HashSet::new(),
        }
    }

    /// The application's score of `peer` (`GossipCommand::AppScore`): above zero, it
    /// may use the whole inbox (at most [`MAX_BUCKETS`] such peers; beyond, reset).
    pub fn set_app_score(&mut self, peer: PeerId, score: f64) {
        if score > 0.0 {
            if self.favoured.len() >= MAX_BUCKETS && !self.favoured.contains(&peer) {
                self.favoured.clear();
            }
            self.favoured.insert(peer);
        } else {
            self.favoured.remove(&peer);
        }
    }

    /// Queue a message; false (the caller answers `Ignore`) when the inbox is full (half
    /// full, for a forwarder not favoured) or its forwarder is over its rate.
    pub fn offer(&mut self, msg: GossipMessage, now: Instant) -> bool {
        if self.buckets.len() >= MAX_BUCKETS && !self.buckets.contains_key(&msg.source) {
            self.buckets.clear();
        }
        let (rate, burst) = (self.cfg.rate_per_s, self.cfg.burst);
        let (tokens, at) = self.buckets.entry(msg.source).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(burst);
        *at = now;
        let room = if self.favoured.contains(&msg.source) {
            self.cfg.inbox
        } else {
            self.cfg.inbox.div_ceil(2)
        };
        if *tokens < 1.0 || self.queue.len() >= room {
            return false;
        }
        *tokens -= 1.0;
        self.queue.push_back(msg);
        true
    }

    pub fn take(&mut self, max: usize) -> Vec<GossipMessage> {
        let n = max.min(self.queue.len());
        self.queue.drain(..n).collect()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

/// Gossip state shared by the driver and the application threads.
#[derive(Debug)]
pub struct GossipState {
    pub(crate) inbox: Mutex<GossipInbox>,
    pub(crate) counters: Arc<GossipCounters>,
    pub(crate) view: Mutex<GossipView>,
}

impl GossipState {
    pub fn new(cfg: &GossipConfig) -> Self {
        GossipState {
            inbox: Mutex::new(GossipInbox::new(cfg.clone())),
            counters: Arc::default(),
            view: Mutex::default(),
        }
    }
}

/// The result of a publish operation: sent to at least one peer.
pub const PUBLISHED: u64 = 0;
/// The result of a publish operation: no connected peer subscribes to the topic (yet);
/// nothing was sent.
pub const NO_SUBSCRIBER: u64 = 1;

/// What the application asks of gossipsub (carried out by the driver task).
#[derive(Debug)]
pub(crate) enum GossipCommand {
    Subscribe(String),
    Unsubscribe(String),
    /// Publish one envelope; the operation finishes with [`PUBLISHED`] or
    /// [`NO_SUBSCRIBER`], or fails.
    Publish(String, Vec<u8>, OpId),
    Report(MessageId, PeerId, Verdict),
    /// The application's score for a peer (its trust), added to gossipsub's.
    AppScore(PeerId, f64),
}

/// Carry out one command on the swarm's gossipsub.
pub(crate) fn on_command(b: &mut GossipBehaviour, shared: &Shared, cmd: GossipCommand) {
    let counters = &shared.gossip.counters;
    match cmd {
        GossipCommand::Subscribe(t) => {
            let topic = gossipsub::IdentTopic::new(t);
            // the filter admitted the prefix already (Node::gossip_subscribe)
            if b.subscribe(&topic).is_ok() {
                let _ = b.set_topic_params(topic, topic_params());
            }
        }
        GossipCommand::Unsubscribe(t) => {
            b.unsubscribe(&gossipsub::IdentTopic::new(t));
        }
        GossipCommand::Publish(t, data, op) => {
            let result = match b.publish(gossipsub::IdentTopic::new(t), data) {
                Ok(_) => {
                    counters.published.fetch_add(1, Ordering::Relaxed);
                    Ok(PUBLISHED)
                }
                // normal, not an error: nobody we are connected to follows the topic (yet)
                Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                    counters.publish_failed.fetch_add(1, Ordering::Relaxed);
                    Ok(NO_SUBSCRIBER)
                }
                Err(e) => {
                    counters.publish_failed.fetch_add(1, Ordering::Relaxed);
                    Err(NetError::Transport(publish_error(&e)))
                }
            };
            shared.finish_op(op, result);
        }
        GossipCommand::Report(id, source, verdict) => {
            let c = match verdict {
                Verdict::Accept => &counters.accepted,
                Verdict::Reject => &counters.rejected,
                Verdict::Ignore => &counters.ignored,
            };
            c.fetch_add(1, Ordering::Relaxed);
            b.report_message_validation_result(&id, &source, verdict.acceptance());
        }
        GossipCommand::AppScore(peer, score) => {
            b.set_application_score(&peer, score);
            lock(&shared.gossip.inbox).set_app_score(peer, score);
        }
    }
}

fn publish_error(e: &gossipsub::PublishError) -> String {
    use gossipsub::PublishError as P;
    match e {
        P::Duplicate => "this envelope was published already".into(),
        P::NoPeersSubscribedToTopic => "no connected peer subscribes to the topic".into(),
        P::MessageTooLarge => "the envelope is over the gossip size limit".into(),
        P::AllQueuesFull(n) => format!("the send queues of all {n} peers are full"),
        // gossipsub's Display of these is their Debug text: say it ourselves
        P::SigningError(e) => format!("publish failed: signing: {}", error_text(e)),
        P::TransformFailed(e) => format!("publish failed: {}", error_text(e)),
    }
}

/// A gossipsub event: a received message goes to the inbox (or is ignored at once).
pub(crate) fn on_event(b: &mut GossipBehaviour, shared: &Shared, ev: gossipsub::Event) {
    if let gossipsub::Event::Message {
        propagation_source,
        message_id,
        message,
    } = ev
    {
        let counters = &shared.gossip.counters;
        let msg = GossipMessage {
            id: String::from_utf8_lossy(&message_id.0).into_owned(),
            source: propagation_source,
            topic: message.topic.into_string(),
            data: message.data,
        };
        let queued = lock(&shared.gossip.inbox).offer(msg, Instant::now());
        if queued {
            counters.received.fetch_add(1, Ordering::Relaxed);
            shared.waker.wake();
        } else {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
            b.report_message_validation_result(
                &message_id,
                &propagation_source,
                gossipsub::MessageAcceptance::Ignore,
            );
        }
    }
}

/// Refresh the scores and meshes the application reads.
pub(crate) fn refresh(b: &GossipBehaviour, shared: &Shared) {
    let scores = b
        .all_peers()
        .map(|(p, _)| (*p, b.peer_score(p).unwrap_or(0.0)))
        .collect();
    let mut subs: HashMap<String, Vec<PeerId>> = HashMap::new();
    for (p, topics) in b.all_peers() {
        for t in topics {
            subs.entry(t.to_string()).or_default().push(*p);
        }
    }
    let mesh = b
        .topics()
        .map(|t| (t.to_string(), b.mesh_peers(t).copied().collect()))
        .collect();
    *lock(&shared.gossip.view) = GossipView {
        scores,
        mesh,
        subscribers: subs.into_iter().collect(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(source: PeerId, n: u8) -> GossipMessage {
        GossipMessage {
            id: message_id(&[n]),
            source,
            topic: "/web4/t".into(),
            data: vec![n],
        }
    }

    #[test]
    fn ids_are_content_hashes_and_round_trip() {
        let id = message_id(b"abc");
        assert_eq!(
            id,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            parse_message_id(&id).unwrap(),
            MessageId::new(id.as_bytes())
        );
        assert!(parse_message_id("zz").is_err());
        assert!(parse_message_id(&"g".repeat(64)).is_err());
        assert!(Verdict::parse("maybe").is_err());
    }

    #[test]
    fn inbox_bounds_size_and_per_forwarder_rate() {
        let cfg = GossipConfig {
            inbox: 3,
            rate_per_s: 1.0,
            burst: 2.0,
            ..GossipConfig::default()
        };
        let mut inbox = GossipInbox::new(cfg);
        let (a, b) = (PeerId::random(), PeerId::random());
        inbox.set_app_score(b, 1.0); // b may fill the inbox (a stranger only half)
        let t = Instant::now();
        assert!(inbox.offer(msg(a, 1), t));
        assert!(inbox.offer(msg(a, 2), t));
        assert!(!inbox.offer(msg(a, 3), t), "a is over its burst");
        assert!(inbox.offer(msg(b, 4), t), "b has its own bucket");
        assert!(!inbox.offer(msg(b, 5), t), "the inbox is full");
        assert_eq!(inbox.take(10).len(), 3);
        assert!(
            inbox.offer(msg(a, 6), t + Duration::from_secs(1)),
            "a refilled"
        );
        assert!(topic_params().validate().is_ok());
    }

    #[test]
    fn strangers_fill_half_the_inbox_and_trusted_forwarders_keep_the_rest() {
        let cfg = GossipConfig {
            inbox: 8,
            ..GossipConfig::default()
        };
        let mut inbox = GossipInbox::new(cfg);
        let t = Instant::now();
        // a swarm of fresh keys, each well under its own rate
        let swarm: Vec<PeerId> = (0..8).map(|_| PeerId::random()).collect();
        let queued = swarm
            .iter()
            .enumerate()
            .filter(|(i, p)| inbox.offer(msg(**p, *i as u8), t))
            .count();
        assert_eq!(queued, 4, "strangers get half the inbox");
        let trusted = PeerId::random();
        inbox.set_app_score(trusted, 5.0);
        for n in 0..4 {
            assert!(
                inbox.offer(msg(trusted, 100 + n), t),
                "room for the trusted"
            );
        }
        assert!(!inbox.offer(msg(trusted, 200), t), "the inbox is full");
        inbox.set_app_score(trusted, 0.0);
        inbox.take(8);
        for n in 0..4 {
            assert!(inbox.offer(msg(trusted, 210 + n), t));
        }
        assert!(!inbox.offer(msg(trusted, 220), t), "no longer favoured");
    }
}
