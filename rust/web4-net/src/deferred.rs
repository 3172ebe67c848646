//! identify, started a moment after a connection is up: off the setup path.
//!
//! Theory of operation: libp2p's identify handler asks its peer for identify info the
//! instant a connection is established, and the peer's handler does the same, so two
//! extra streams, two protobuf messages and their decoding compete with RTT's
//! `OPEN`/`RESUME_OK` exchange and the session's first message for the one IO thread
//! (about 0.2 of the ~1.2 ms a setup takes on loopback, issue 13). Nothing needs
//! identify's answer in the first moments of a connection: the observed addresses and
//! the listen addresses Kademlia learns from it are for later dials. [`Deferred`] wraps
//! identify's behaviour unchanged, and each of its connection handlers in a
//! [`DeferredHandler`] that is not polled until [`IDENTIFY_DELAY`] after the
//! connection was established. Inbound identify streams are still accepted and
//! negotiated at once (the swarm does that from `listen_protocol`); the handler answers
//! them once it runs. A peer must not require identify (RTT_SPEC §3), so a connection
//! that closes sooner simply never ran it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::swarm::handler::ConnectionEvent;
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm,
    NetworkBehaviour, SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};

/// How long after a connection is established its identify handler starts.
pub(crate) const IDENTIFY_DELAY: Duration = Duration::from_millis(100);

/// A behaviour whose connection handlers start [`IDENTIFY_DELAY`] late.
pub(crate) struct Deferred<B> {
    inner: B,
}

impl<B> Deferred<B> {
    pub(crate) fn new(inner: B) -> Self {
        Self { inner }
    }
}

impl<B: NetworkBehaviour> NetworkBehaviour for Deferred<B> {
    type ConnectionHandler = DeferredHandler<THandler<B>>;
    type ToSwarm = B::ToSwarm;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(id, local, remote)
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let h = self
            .inner
            .handle_established_inbound_connection(id, peer, local, remote)?;
        Ok(DeferredHandler::new(h))
    }

    fn handle_pending_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: Option<PeerId>,
        addrs: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner
            .handle_pending_outbound_connection(id, peer, addrs, role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let h = self
            .inner
            .handle_established_outbound_connection(id, peer, addr, role, port_use)?;
        Ok(DeferredHandler::new(h))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.inner.on_connection_handler_event(peer, id, event);
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.inner.poll(cx)
    }
}

/// A connection handler that is not polled until [`IDENTIFY_DELAY`] after it was made
/// (when its connection was established); everything else goes to it unchanged.
pub(crate) struct DeferredHandler<H> {
    inner: H,
    /// The start time, until the handler starts; the timer, once armed.
    start: Option<std::time::Instant>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<H> DeferredHandler<H> {
    fn new(inner: H) -> Self {
        Self {
            inner,
            start: Some(std::time::Instant::now() + IDENTIFY_DELAY),
            timer: None,
        }
    }
}

impl<H: ConnectionHandler> ConnectionHandler for DeferredHandler<H> {
    type FromBehaviour = H::FromBehaviour;
    type ToBehaviour = H::ToBehaviour;
    type InboundProtocol = H::InboundProtocol;
    type OutboundProtocol = H::OutboundProtocol;
    type InboundOpenInfo = H::InboundOpenInfo;
    type OutboundOpenInfo = H::OutboundOpenInfo;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol, Self::InboundOpenInfo> {
        self.inner.listen_protocol()
    }

    fn connection_keep_alive(&self) -> bool {
        self.inner.connection_keep_alive()
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<
        ConnectionHandlerEvent<Self::OutboundProtocol, Self::OutboundOpenInfo, Self::ToBehaviour>,
    > {
        if let Some(at) = self.start {
            // Armed on the first poll, inside the connection's task (a tokio runtime):
            // tokio's timer, not a wake of another thread's.
            let timer = self
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at.into())));
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.start = None;
            self.timer = None;
        }
        self.inner.poll(cx)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Option<Self::ToBehaviour>> {
        self.inner.poll_close(cx)
    }

    fn on_behaviour_event(&mut self, event: Self::FromBehaviour) {
        self.inner.on_behaviour_event(event);
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<
            Self::InboundProtocol,
            Self::OutboundProtocol,
            Self::InboundOpenInfo,
            Self::OutboundOpenInfo,
        >,
    ) {
        self.inner.on_connection_event(event);
    }
}
