"""A real test network made of Linux network namespaces, for tests of reachability.

Theory of operation: ``TestNet`` builds every part of its network in namespaces of its
own, so nothing is added to the machine's own network stack (no interface, route or rule
outside them):

* ``lan``: a namespace holding the bridge ``br0``: the LAN (``10.47.0.0/24``);
* ``host(name)``: a namespace with ``eth0`` (one end of a veth pair whose other end is
  on the bridge) at ``10.47.0.N``;
* ``nat(router, inside)``: a router namespace with a leg on the LAN (``wan``, also
  ``10.47.0.N``) and one on a private link (``priv``, ``192.168.47.1/24``), IPv4
  forwarding on and an nftables masquerade of what leaves by ``wan``; and a host behind
  it (``192.168.47.2``, its default route through the router). Like a home router
  without port forwarding: the LAN has no route to the private network and the router
  forwards from the LAN only the replies of connections made from inside (conntrack).

Namespace names are ``w4n<pid>x<seq>-<label>``: unique per process and network, so parallel
runs never collide, and the pid tells a later run whether the creator is gone. Interface
names live inside the namespaces (veth pairs are created straight into them), so they
need no uniqueness. ``close()`` (the context manager's exit, also when the test failed)
kills every process left in the namespaces and deletes them; the veth pairs and the
bridge go with them. ``sweep()`` (run when a network is made) removes what a killed run
left behind: namespaces of this scheme whose creating process no longer exists.

Needs root, iproute2 and the kernel's network namespaces; the NAT also needs ``nft``
(Debian package ``nftables``, which ``.ci/run`` installs). ``unavailable()`` says why
not, for a skip: a test that can run never skips.

Processes run inside a namespace with ``ip netns exec NS``, which executes the command in
place (the pid a test holds is the program's own). ``start_node`` starts a real
``web4 node`` there (``support.nodeproc.NodeProc``), listening on the host's address.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from support.nodeproc import NodeProc
from web4.identity import Identity

__all__ = ["Host", "NetnsError", "TestNet", "start_node", "sweep", "unavailable"]

LAN = "10.47.0"  # /24 on the bridge
PRIVATE = "192.168.47"  # /24 behind the NAT
_NAME = re.compile(r"^w4n(\d+)x\d+-")
_seq = itertools.count(1)


class NetnsError(RuntimeError):
    """A command building or removing the test network failed (its stderr included)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20, check=False)
    if check and r.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {r.stderr.strip() or r.returncode}")
    return r


def _in(ns: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``cmd`` run inside namespace ``ns``."""
    return _ip("netns", "exec", ns, *cmd, check=check)


_unavailable: str | None = None
_probed = False


def unavailable(nat: bool = False) -> str | None:
    """Why this machine cannot build a test network (None: it can). ``nat``: the
    masquerade too (needs ``nft``). Probes once per process by making a namespace."""
    global _unavailable, _probed
    if not _probed:
        _probed = True
        if os.geteuid() != 0:
            _unavailable = "network namespaces need root (run the tests as root, as CI does)"
        elif shutil.which("ip") is None:
            _unavailable = "iproute2 (`ip`) is not installed"
        else:
            probe = f"w4n{os.getpid()}x0-probe"
            made = _ip("netns", "add", probe, check=False)
            if made.returncode != 0:
                _unavailable = f"cannot create a network namespace: {made.stderr.strip()}"
            else:
                _ip("netns", "del", probe, check=False)
    if _unavailable is None and nat and shutil.which("nft") is None:
        return "the NAT needs nft (Debian package nftables; .ci/run installs it)"
    return _unavailable


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(ns: str) -> None:
    """Kill what still runs in ``ns``, then delete it (its interfaces go with it)."""
    pids = _ip("netns", "pids", ns, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    _ip("netns", "del", ns, check=False)


def _listed() -> list[str]:
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def sweep() -> list[str]:
    """Remove the namespaces a killed run left (its creating process is gone); returns
    their names."""
    gone = []
    for ns in _listed():
        m = _NAME.match(ns)
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            _remove(ns)
            gone.append(ns)
    return gone


@dataclass(frozen=True)
class Host:
    """One namespace of the test network: ``label`` as the test names it, ``ns`` the
    namespace, ``addr`` its IPv4 address."""

    label: str
    ns: str
    addr: str

    def prefix(self) -> list[str]:
        """Prepend to a command to run it in this namespace."""
        return ["ip", "netns", "exec", self.ns]

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _in(self.ns, *cmd, check=check)

    def listen(self) -> str:
        """A ``--listen`` multiaddr on this host (any free port)."""
        return f"/ip4/{self.addr}/tcp/0"


class TestNet:
    """The test network: a context manager (``with TestNet() as net:``) that removes
    everything it made on exit."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self.base = f"w4n{os.getpid()}x{next(_seq)}"
        self.hosts: dict[str, Host] = {}
        self._made: list[str] = []  # namespaces, in creation order
        self._next = itertools.count(11)  # LAN host numbers
        self.lan = ""

    def __enter__(self) -> TestNet:
        why = unavailable()
        if why is not None:
            raise NetnsError(why)
        sweep()
        try:
            self.lan = self._ns("lan")
            _in(self.lan, "ip", "link", "add", "br0", "type", "bridge")
            _in(self.lan, "ip", "link", "set", "br0", "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _ns(self, label: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9]{0,11}", label) or label in self.hosts:
            raise ValueError(f"host label {label!r}: a new short lower-case name")
        ns = f"{self.base}-{label}"
        _ip("netns", "add", ns)
        self._made.append(ns)
        _in(ns, "ip", "link", "set", "lo", "up")
        return ns

    def _on_lan(self, ns: str, dev: str) -> str:
        """A veth from ``ns`` (named ``dev``) to the bridge; returns its LAN address."""
        n = next(self._next)
        port = f"p{n}"
        _ip("link", "add", dev, "netns", ns, "type", "veth", "peer", "name", port, "netns",
            self.lan)  # fmt: skip
        _in(self.lan, "ip", "link", "set", port, "master", "br0")
        _in(self.lan, "ip", "link", "set", port, "up")
        addr = f"{LAN}.{n}"
        _in(ns, "ip", "addr", "add", f"{addr}/24", "dev", dev)
        _in(ns, "ip", "link", "set", dev, "up")
        return addr

    def host(self, label: str) -> Host:
        """A new host on the LAN."""
        ns = self._ns(label)
        host = Host(label, ns, self._on_lan(ns, "eth0"))
        self.hosts[label] = host
        return host

    def nat(
        self, router: str = "nat", inside: str = "inside", *, full_cone: bool = False
    ) -> tuple[Host, Host]:
        """A NAT router on the LAN (masquerading) and a host behind it; returns both
        (the router's ``addr`` is its LAN address, the one the LAN sees the inside host
        connect from).

        The masquerade keeps the inside source port when it is free (Linux's default), so
        the mapping is endpoint-independent, and conntrack lets in only the replies of
        connections made from inside (a port-restricted cone). ``full_cone``: once the
        inside host has sent from a port, anyone on the LAN may connect to that port of
        the router and is forwarded to it (endpoint-independent filtering: a dynamic set
        of the ports seen leaving, 5 min each)."""
        why = unavailable(nat=True)
        if why is not None:
            raise NetnsError(why)
        rns = self._ns(router)
        wan = self._on_lan(rns, "wan")
        ins = self._ns(inside)
        _ip("link", "add", "eth0", "netns", ins, "type", "veth", "peer", "name", "priv",
            "netns", rns)  # fmt: skip
        _in(rns, "ip", "addr", "add", f"{PRIVATE}.1/24", "dev", "priv")
        _in(rns, "ip", "link", "set", "priv", "up")
        _in(ins, "ip", "addr", "add", f"{PRIVATE}.2/24", "dev", "eth0")
        _in(ins, "ip", "link", "set", "eth0", "up")
        _in(ins, "ip", "route", "add", "default", "via", f"{PRIVATE}.1")
        _in(rns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        cone = (
            "  set mapped { type inet_service; flags dynamic,timeout; timeout 5m; }\n"
            "  chain pre {\n"
            "    type nat hook prerouting priority dstnat; policy accept;\n"
            f'    iifname "wan" tcp dport @mapped counter dnat to {PRIVATE}.2\n'
            "  }\n"
            "  chain seen {\n"
            "    type filter hook postrouting priority 200; policy accept;\n"
            '    oifname "wan" ip protocol tcp update @mapped { tcp sport }\n'
            "  }\n"
        )
        post = (
            "  chain post {\n"
            "    type nat hook postrouting priority srcnat; policy accept;\n"
            '    oifname "wan" counter masquerade\n'
            "  }\n"
        )
        dnat = "    ct status dnat accept\n" if full_cone else ""
        inbound = (
            "  chain inbound {\n"
            "    type filter hook forward priority filter; policy drop;\n"
            f"    ct state established,related accept\n{dnat}"
            '    iifname "priv" oifname "wan" accept\n'
            "  }\n"
        )
        rules = "table ip w4nat {\n" + (cone if full_cone else "") + post + inbound + "}\n"
        made = subprocess.run(["ip", "netns", "exec", rns, "nft", "-f", "-"], input=rules,
                              capture_output=True, text=True, timeout=20, check=False)  # fmt: skip
        if made.returncode != 0:
            raise NetnsError(f"nft in {rns}: {made.stderr.strip()}")
        self.hosts[router] = Host(router, rns, wan)
        self.hosts[inside] = Host(inside, ins, f"{PRIVATE}.2")
        return self.hosts[router], self.hosts[inside]

    def masqueraded(self, router: str = "nat") -> int:
        """Packets the router has masqueraded so far (its nftables counter)."""
        out = self.hosts[router].run("nft", "list", "chain", "ip", "w4nat", "post").stdout
        m = re.search(r"counter packets (\d+)", out)
        return int(m.group(1)) if m else 0

    def namespaces(self) -> list[str]:
        return list(self._made)

    def close(self) -> None:
        """Kill what runs in the namespaces and delete them (idempotent)."""
        for ns in reversed(self._made):
            _remove(ns)
        left = set(self._made) & set(_listed())
        self._made.clear()
        if left:
            raise NetnsError(f"namespaces not removed: {sorted(left)}")


def start_node(host: Host, root: Path, name: str, *args: str, timeout: float = 30.0) -> NodeProc:
    """A real ``web4 node`` inside ``host``'s namespace, with a fresh identity in
    ``root/name``, listening on the host's address; returns once it has started."""
    Identity.create_in_data_dir(root / name, name)
    node = NodeProc(root / name, "--listen", host.listen(), *args, wrap=host.prefix())
    try:
        node.kind("node.started", timeout)
    except BaseException:
        node.kill()
        raise
    return node
