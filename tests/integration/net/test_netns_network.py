"""The test network itself: hosts on the bridge reach each other, the NAT masquerades
and filters, and nothing it made survives the test, a failing one or a killed run."""

from __future__ import annotations

import os
import subprocess

import pytest

from support.netns import NetnsError, TestNet, sweep, unavailable


def _listed() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


def _tcp_probe(host_prefix: list[str], addr: str, port: int) -> str:
    """Connect from a namespace; returns 'ok' or the error's name."""
    code = (
        "import socket,sys\n"
        "s=socket.socket();s.settimeout(3)\n"
        f"try:\n s.connect(({addr!r},{port}));print('ok')\n"
        "except OSError as e:print(type(e).__name__)\n"
    )
    r = subprocess.run([*host_prefix, "python3", "-c", code], capture_output=True, text=True,
                       timeout=20, check=True)  # fmt: skip
    return r.stdout.strip()


def test_lan_hosts_reach_each_other_and_the_nat_filters_inbound(nat_net: TestNet) -> None:
    a, b = nat_net.host("a"), nat_net.host("b")
    router, inside = nat_net.nat()
    # a refused connection is an answer: the RST came back, the host was reached
    assert _tcp_probe(a.prefix(), b.addr, 9) == "ConnectionRefusedError"
    assert _tcp_probe(inside.prefix(), a.addr, 9) == "ConnectionRefusedError"
    assert nat_net.masqueraded() >= 1  # the inside host left through the masquerade
    # the LAN has no route to the private network, and the router forwards nothing new
    assert _tcp_probe(a.prefix(), inside.addr, 9) == "OSError"  # ENETUNREACH
    assert _tcp_probe(a.prefix(), router.addr, 9) == "ConnectionRefusedError"


def test_everything_is_removed_even_when_the_test_fails() -> None:
    if (why := unavailable()) is not None:
        pytest.skip(why)
    made: set[str] = set()
    left: list[subprocess.Popen[bytes]] = []

    def failing_test() -> None:
        with TestNet() as net:
            host = net.host("a")
            made.update(net.namespaces())
            assert made <= _listed()
            left.append(subprocess.Popen([*host.prefix(), "sleep", "60"]))
            raise RuntimeError("the test failed")

    with pytest.raises(RuntimeError, match="the test failed"):
        failing_test()
    assert made
    assert not made & _listed()
    assert left[0].wait(timeout=5) == -9  # a process left in a namespace is killed


def test_leftovers_of_a_killed_run_are_swept() -> None:
    if (why := unavailable()) is not None:
        pytest.skip(why)
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid no process has now: the "killed run"
    stale = f"w4n{gone.pid}x1-lan"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    mine = f"w4n{os.getpid()}x999-lan"  # this process is alive: never swept
    subprocess.run(["ip", "netns", "add", mine], check=True)
    try:
        assert stale in sweep()
        assert stale not in _listed()
        assert mine in _listed()
    finally:
        subprocess.run(["ip", "netns", "del", mine], check=False)
        subprocess.run(["ip", "netns", "del", stale], check=False)


def test_bad_host_label_is_refused(net: TestNet) -> None:
    with pytest.raises(ValueError, match="short lower-case"):
        net.host("Not-A-Label")
    net.host("a")
    with pytest.raises(ValueError, match="'a'"):
        net.host("a")  # once per network
    assert isinstance(NetnsError("x"), RuntimeError)
