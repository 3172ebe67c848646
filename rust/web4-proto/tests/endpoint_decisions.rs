//! The endpoint's decisions across sessions and connections, on two simulated nodes with
//! virtual time: listener restart, simultaneous-dial tie-break, which connection is
//! current, and what the reader of a stream does after each class of frame error.

mod endpoint_helpers;
mod session_helpers;

use bytes::Bytes;
use endpoint_helpers::{Net, Node};
use session_helpers::fast;
use web4_proto::session::{
    ChannelKind, CloseReason, DialAction, Frame, ReadAction, Role, SessionError, SessionState,
};

fn opened(seed: u64) -> Net {
    let mut net = Net::new(1, 2, fast(), seed);
    let (op, action) = net.dial(0);
    assert!(matches!(action, DialAction::Dial(_)));
    assert!(net.run_until(100, |n| n.both_open()));
    assert!(net.nodes[0].ops[&op].is_ok());
    net
}

#[test]
fn a_listener_restarts_on_the_dialers_new_open_on_the_same_connection() {
    let mut net = opened(1);
    let old = net.nodes[1].ep.session_of(&1).expect("b's session with a");
    let old_id = net.nodes[1].ep.session(old).and_then(|s| s.id());
    // Node a restarts: a fresh process with the same identity and no session. Node b
    // has not noticed: its old connection is still routed to the opened session.
    net.nodes[0] = Node::new(1, fast(), 99);
    let (op, action) = net.dial(0);
    assert!(matches!(action, DialAction::Dial(_)));
    let conn = net.next_conn - 1;
    assert!(net.run_until(100, |n| n.both_open()));
    // The old session closed as restarted; a fresh listener answered the new OPEN on
    // the very connection it arrived on (no second dial).
    let b = &net.nodes[1];
    let fresh = b.ep.session_of(&1).expect("a fresh session");
    assert_ne!(fresh, old);
    assert_eq!(
        b.ep.session(old).map(|s| s.state()),
        Some(SessionState::Closed(CloseReason::PeerRestarted))
    );
    assert_eq!(b.ep.route(conn).map(|r| r.0), Some(fresh));
    assert!(b.read_actions.contains(&ReadAction::Restarted));
    assert_eq!(net.next_conn, conn + 1, "no other connection was dialled");
    assert_eq!(b.accepted, vec![old, fresh]);
    assert_ne!(b.ep.session(fresh).and_then(|s| s.id()), old_id);
    assert!(net.nodes[0].ops[&op].is_ok());
    // Data flows on the fresh session.
    let h = net.nodes[0].ep.session_of(&2).unwrap();
    net.nodes[0]
        .ep
        .session_mut(h)
        .unwrap()
        .send(ChannelKind::Knowledge, &b"after restart"[..])
        .unwrap();
    assert!(net.run_until(20, |n| n.nodes[1]
        .ep
        .session(fresh)
        .is_some_and(|s| s.recv_len(ChannelKind::Knowledge) == 1)));
}

#[test]
fn a_restart_is_refused_for_a_connection_whose_session_did_not_restart() {
    let mut net = opened(2);
    let conn = *net.links.keys().next().unwrap();
    let open = Frame::Open {
        session: [7; 16],
        delivered: [0; 3],
    }
    .to_vec();
    // The session is open and was not closed by an OPEN: nothing to restart.
    let before = net.nodes[1].ep.session_of(&1);
    assert_eq!(
        net.nodes[1]
            .ep
            .restart_listener(conn, &Bytes::from(open), net.now),
        None
    );
    assert_eq!(net.nodes[1].ep.session_of(&1), before);
}

/// Both nodes dial each other at once; `first` completes first.
fn simultaneous(a: u32, b: u32, first: usize, seed: u64) -> Net {
    let mut net = Net::new(a, b, fast(), seed);
    net.auto_complete = false;
    let (op_a, act_a) = net.dial(0);
    let (op_b, act_b) = net.dial(1);
    assert!(matches!(act_a, DialAction::Dial(_)));
    assert!(matches!(act_b, DialAction::Dial(_)));
    let conns: Vec<(u64, usize)> = net.dialling.iter().map(|(c, i)| (*c, *i)).collect();
    let order = if first == 0 {
        conns.clone()
    } else {
        conns.iter().rev().cloned().collect()
    };
    for (c, _) in order {
        net.complete(c);
        net.drive();
    }
    assert!(
        net.run_until(100, |n| n.both_open()),
        "{a} {b} first={first}"
    );
    // One session per side, with the same wire id; both dial operations got it.
    let ha = net.nodes[0].ep.session_of(&b).unwrap();
    let hb = net.nodes[1].ep.session_of(&a).unwrap();
    let (sa, sb) = (
        net.nodes[0].ep.session(ha).unwrap(),
        net.nodes[1].ep.session(hb).unwrap(),
    );
    assert_eq!(sa.id(), sb.id());
    assert_eq!(net.nodes[0].ops[&op_a], Ok(ha));
    assert_eq!(net.nodes[1].ops[&op_b], Ok(hb));
    // The smaller peer id kept its dial: it is the dialler; the other answers.
    let (small, large) = if a < b { (sa, sb) } else { (sb, sa) };
    assert_eq!(small.role(), Role::Dialer);
    assert_eq!(large.role(), Role::Listener);
    assert_eq!(net.links.len(), 1, "the larger id's dial was closed");
    // Nobody's accept queue got the session: it was dialled by both.
    assert!(net.nodes[0].accepted.is_empty() && net.nodes[1].accepted.is_empty());
    net
}

#[test]
fn simultaneous_dial_keeps_the_smaller_peer_ids_dial_in_either_order() {
    simultaneous(1, 2, 0, 3);
    simultaneous(1, 2, 1, 4);
    simultaneous(2, 1, 0, 5);
    simultaneous(2, 1, 1, 6);
}

#[test]
fn a_new_connection_supersedes_the_old_one_and_the_session_resumes() {
    let mut net = opened(7);
    let old_conn = *net.links.keys().next().unwrap();
    let hb = net.nodes[1].ep.session_of(&1).unwrap();
    // Only a notices the loss; b keeps routing the old connection.
    net.links.remove(&old_conn);
    let now = net.now;
    net.nodes[0].ep.connection_closed(old_conn, now);
    assert!(net.run_until(200, |n| n.links.len() == 1
        && !n.links.contains_key(&old_conn)
        && n.both_open()));
    let b = &net.nodes[1];
    assert!(b.closed_conns.contains(&old_conn), "b closed the stale one");
    assert_eq!(b.ep.route(old_conn), None);
    assert_eq!(b.ep.session_of(&1), Some(hb), "the same session resumed");
    let new_conn = *net.links.keys().next().unwrap();
    assert_eq!(b.ep.route(new_conn).map(|r| r.0), Some(hb));
    // A late frame of the old connection reaches nobody.
    let late = Frame::Heartbeat { nonce: 1, ts_us: 0 }.to_vec();
    let now = net.now;
    assert_eq!(
        net.nodes[1]
            .ep
            .handle_frame(old_conn, ChannelKind::State, &Bytes::from(late), now),
        ReadAction::StopStream
    );
}

#[test]
fn a_malformed_frame_drops_the_connection_and_the_session_resumes() {
    let mut net = opened(8);
    let conn = *net.links.keys().next().unwrap();
    let hb = net.nodes[1].ep.session_of(&1).unwrap();
    let now = net.now;
    let action = net.nodes[1].ep.handle_frame(
        conn,
        ChannelKind::Control,
        &Bytes::from_static(&[0xff, 0xff]),
        now,
    );
    assert_eq!(action, ReadAction::DropConnection);
    net.drive();
    assert!(net.nodes[1].closed_conns.contains(&conn));
    assert!(!net.links.contains_key(&conn));
    assert!(net.run_until(200, |n| n.both_open()));
    assert_eq!(net.nodes[1].ep.session_of(&1), Some(hb));
}

#[test]
fn read_actions_follow_the_error_class() {
    let closed = Err(SessionError::Closed(CloseReason::Normal));
    let replay = Err(SessionError::Replay {
        channel: ChannelKind::Knowledge,
        seq: 1,
        stale_session: false,
    });
    let protocol = Err(SessionError::Protocol("x".into()));
    let full = Err(SessionError::ReceiveFull(ChannelKind::Knowledge));
    assert_eq!(ReadAction::after(&Ok(()), false), ReadAction::Continue);
    assert_eq!(ReadAction::after(&Ok(()), true), ReadAction::Restarted);
    assert_eq!(ReadAction::after(&closed, false), ReadAction::StopStream);
    assert_eq!(ReadAction::after(&replay, false), ReadAction::Continue);
    assert_eq!(ReadAction::after(&full, false), ReadAction::Continue);
    assert_eq!(
        ReadAction::after(&protocol, false),
        ReadAction::DropConnection
    );
}

#[test]
fn decisions_are_deterministic() {
    let run = |seed| {
        let net = simultaneous(1, 2, 1, seed);
        let ha = net.nodes[0].ep.session_of(&2).unwrap();
        (
            net.now,
            net.nodes[0].ep.session(ha).and_then(|s| s.id()),
            net.nodes[1].closed_conns.clone(),
            net.nodes[0].attaches.clone(),
        )
    };
    assert_eq!(run(11), run(11));
}
