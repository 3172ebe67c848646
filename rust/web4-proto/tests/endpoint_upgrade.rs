//! A session moves from a relayed connection to a direct one (DCUtR) without restarting:
//! the dialler's endpoint adopts the hole-punched connection (`connection_upgraded`),
//! the listener's takes it when the dialler's first stream arrives, the relayed one is
//! closed, and the session resumes on the direct one: nothing lost, nothing twice.

mod endpoint_helpers;
mod session_helpers;

use endpoint_helpers::{Link, Net};
use session_helpers::fast;
use web4_proto::session::{ChannelKind, DialAction, Event};

fn opened(seed: u64) -> Net {
    let mut net = Net::new(1, 2, fast(), seed);
    let (_, action) = net.dial(0);
    assert!(matches!(action, DialAction::Dial(_)));
    assert!(net.run_until(100, |n| n.both_open()));
    net
}

fn send(net: &mut Net, i: usize, text: String) {
    let peer = net.peer_of(i);
    let h = net.nodes[i].ep.session_of(&peer).unwrap();
    net.nodes[i]
        .ep
        .session_mut(h)
        .unwrap()
        .send(ChannelKind::Knowledge, text.into_bytes())
        .unwrap();
}

fn received(net: &mut Net, i: usize) -> Vec<String> {
    let peer = net.peer_of(i);
    let h = net.nodes[i].ep.session_of(&peer).unwrap();
    let s = net.nodes[i].ep.session_mut(h).unwrap();
    let mut out = Vec::new();
    while let Some(m) = s.recv(ChannelKind::Knowledge) {
        out.push(String::from_utf8(m.to_vec()).unwrap());
    }
    out
}

fn resumed(net: &Net, i: usize) -> usize {
    net.nodes[i]
        .session_events
        .iter()
        .filter(|(_, e)| matches!(e, Event::SessionResumed { .. }))
        .count()
}

#[test]
fn the_dialler_moves_its_session_to_the_direct_connection_and_it_resumes() {
    let mut net = opened(11);
    let relayed = *net.links.keys().next().unwrap();
    let (ha, hb) = (
        net.nodes[0].ep.session_of(&2).unwrap(),
        net.nodes[1].ep.session_of(&1).unwrap(),
    );
    // Messages in flight both ways while the upgrade happens.
    for n in 0..5 {
        send(&mut net, 0, format!("a{n}"));
        send(&mut net, 1, format!("b{n}"));
    }
    net.transmit();
    // The hole-punched connection: up on both nodes, dialled by neither session.
    let direct = net.next_conn;
    net.next_conn += 1;
    net.links.insert(
        direct,
        Link {
            dialer: 1, // DCUtR: the relayed listener's dial
            ..Link::default()
        },
    );
    let now = net.now;
    // The listener does not move on its own: it waits for the dialler's choice.
    assert_eq!(net.nodes[1].ep.connection_upgraded(1, direct, now), None);
    let (h, _) = net.nodes[0].ep.connection_upgraded(2, direct, now).unwrap();
    assert_eq!(h, ha, "the same session");
    assert_eq!(
        net.nodes[0].ep.connection_upgraded(2, direct, now),
        None,
        "once"
    );
    // The dialler's first stream on it reaches the listener's endpoint.
    net.nodes[1]
        .ep
        .connection_established(1, direct, false, now);
    for n in 5..10 {
        send(&mut net, 0, format!("a{n}"));
        send(&mut net, 1, format!("b{n}"));
    }
    assert!(net.run_until(300, |n| n.both_open()
        && !n.links.contains_key(&relayed)
        && n.nodes[1].ep.route(direct).is_some()));
    assert!(
        net.nodes[0].closed_conns.contains(&relayed),
        "relayed closed"
    );
    assert_eq!(net.nodes[0].ep.route(direct).map(|r| r.0), Some(ha));
    assert_eq!(net.nodes[1].ep.route(direct).map(|r| r.0), Some(hb));
    assert_eq!(net.nodes[1].accepted, vec![hb], "no second session");
    let mut a = Vec::new();
    let mut b = Vec::new();
    assert!(net.run_until(300, |n| {
        a.extend(received(n, 0));
        b.extend(received(n, 1));
        a.len() >= 10 && b.len() >= 10
    }));
    let want = |p: &str| (0..10).map(|n| format!("{p}{n}")).collect::<Vec<_>>();
    assert_eq!(b, want("a"), "in order, exactly once");
    assert_eq!(a, want("b"));
    assert!(resumed(&net, 0) >= 1, "a resume, not an open");
    assert_eq!(net.nodes[0].ep.session_of(&2), Some(ha));
    assert_eq!(net.nodes[1].ep.session_of(&1), Some(hb));
}

#[test]
fn no_upgrade_without_an_open_dialler_session() {
    let mut net = Net::new(1, 2, fast(), 12);
    let now = net.now;
    assert_eq!(net.nodes[0].ep.connection_upgraded(2, 99, now), None);
    // A dial still pending makes its own connection.
    net.auto_complete = false;
    let _ = net.dial(0);
    assert_eq!(net.nodes[0].ep.connection_upgraded(2, 99, now), None);
}
