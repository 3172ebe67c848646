//! The endpoint's operations: dials that join, finish or fail, the bounded accept queue,
//! and the errors operations get when their session ends before it opens.

mod endpoint_helpers;
mod session_helpers;

use std::time::Duration;

use bytes::Bytes;
use endpoint_helpers::Net;
use session_helpers::fast;
use web4_proto::session::{
    ChannelKind, CloseReason, DialAction, DialFailed, Endpoint, EndpointEvent, Event, Frame,
    OpFailure, Session, SessionState, MAX_PENDING_ACCEPTS,
};

#[test]
fn dials_to_a_peer_join_the_pending_one_and_then_find_it_open() {
    let mut net = Net::new(1, 2, fast(), 1);
    net.auto_complete = false;
    let (op1, a1) = net.dial(0);
    let (op2, a2) = net.dial(0);
    let DialAction::Dial(h) = a1 else {
        panic!("first dial starts a session: {a1:?}")
    };
    assert_eq!(a2, DialAction::Joined(h));
    assert_eq!(net.dialling.len(), 1, "one dial on the wire");
    net.auto_complete = true;
    assert!(net.run_until(100, |n| n.both_open()));
    assert_eq!(net.nodes[0].ops[&op1], Ok(h));
    assert_eq!(net.nodes[0].ops[&op2], Ok(h));
    let (op3, a3) = net.dial(0);
    assert_eq!(a3, DialAction::Ready(h));
    net.drive();
    assert_eq!(net.nodes[0].ops[&op3], Ok(h));
}

#[test]
fn a_failed_first_dial_abandons_the_session_and_a_failed_redial_retries() {
    let mut net = Net::new(1, 2, fast(), 2);
    net.auto_complete = false;
    let (op, action) = net.dial(0);
    let DialAction::Dial(h) = action else {
        panic!("{action:?}")
    };
    let c = *net.dialling.keys().next().unwrap();
    assert_eq!(
        net.refuse(c),
        DialFailed::Abandoned {
            session: h,
            ops: vec![op]
        }
    );
    assert!(net.nodes[0].ep.session(h).unwrap().is_closed());
    assert_eq!(net.nodes[0].ep.session_of(&2), None);

    // An opened session whose re-dial fails backs off and dials again.
    net.auto_complete = true;
    let (_, action) = net.dial(0);
    let DialAction::Dial(h) = action else {
        panic!("{action:?}")
    };
    assert!(net.run_until(100, |n| n.both_open()));
    net.auto_complete = false;
    let c = *net.links.keys().next().unwrap();
    net.cut(c);
    assert!(net.run_until(100, |n| !n.dialling.is_empty()));
    let c = *net.dialling.keys().next().unwrap();
    assert_eq!(net.refuse(c), DialFailed::Retry(h));
    assert!(!net.nodes[0].ep.session(h).unwrap().is_closed());
    net.auto_complete = true;
    assert!(net.run_until(200, |n| n.both_open()));
    assert_eq!(
        net.nodes[0].ep.session_of(&2),
        Some(h),
        "the session resumed"
    );
}

#[test]
fn an_operation_fails_with_the_reason_its_session_ended_before_opening() {
    for (reason, failure) in [
        (CloseReason::Shutdown, OpFailure::Shutdown),
        (
            CloseReason::Normal,
            OpFailure::ClosedBeforeOpen(CloseReason::Normal),
        ),
    ] {
        let mut net = Net::new(1, 2, fast(), 3);
        net.auto_complete = false;
        let (op, action) = net.dial(0);
        let DialAction::Dial(h) = action else {
            panic!("{action:?}")
        };
        net.nodes[0]
            .ep
            .session_mut(h)
            .unwrap()
            .close(reason, "test");
        net.drive();
        assert_eq!(net.nodes[0].ops[&op], Err(failure));
    }
}

#[test]
fn the_accept_queue_is_bounded() {
    let mut now = Duration::from_secs(1);
    let mut ep: Endpoint<u32, u64, Session> = Endpoint::new(0, fast(), 4, |_, _, s| s);
    let mut closed = Vec::new();
    for peer in 1..=(MAX_PENDING_ACCEPTS as u32 + 1) {
        let c = u64::from(peer);
        let (h, _) = ep.connection_established(peer, c, false, now).unwrap();
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&peer.to_be_bytes());
        let open = Frame::Open {
            session: id,
            delivered: [0; 3],
        }
        .to_vec();
        ep.handle_frame(c, ChannelKind::Control, &Bytes::from(open), now);
        let mut opened = false;
        while let Some(e) = ep.session_mut(h).unwrap().poll_event() {
            opened |= e == Event::SessionOpen;
        }
        assert!(opened, "peer {peer}");
        ep.session_opened(h);
        if ep.session(h).unwrap().is_closed() {
            closed.push((peer, ep.session(h).unwrap().state()));
        }
        now += Duration::from_millis(1);
    }
    assert_eq!(
        closed,
        vec![(
            MAX_PENDING_ACCEPTS as u32 + 1,
            SessionState::Closed(CloseReason::Shutdown)
        )]
    );
    let first = ep.accept().unwrap();
    assert_eq!(ep.session_of(&1), Some(first));
    let mut queued = 1;
    while ep.accept().is_some() {
        queued += 1;
    }
    assert_eq!(queued, MAX_PENDING_ACCEPTS);
    let mut accepted = 0;
    while let Some(ev) = ep.poll_event() {
        accepted += usize::from(matches!(ev, EndpointEvent::Accepted(_)));
    }
    assert_eq!(accepted, MAX_PENDING_ACCEPTS);
}

#[test]
fn a_forgotten_session_leaves_the_peer_table() {
    let mut net = Net::new(1, 2, fast(), 5);
    let _ = net.dial(0);
    assert!(net.run_until(100, |n| n.both_open()));
    let h = net.nodes[0].ep.session_of(&2).unwrap();
    net.nodes[0]
        .ep
        .session_mut(h)
        .unwrap()
        .close(CloseReason::Normal, "bye");
    net.drive();
    assert_eq!(net.nodes[0].ep.session_of(&2), None);
    assert!(net.nodes[0].ep.forget(h).is_some());
    assert!(net.nodes[0].ep.session(h).is_none());
    assert_eq!(net.nodes[0].ep.redial(h), None);
}
