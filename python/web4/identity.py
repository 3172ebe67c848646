"""Agent identity: one Ed25519 key pair, stored in the node's data directory.

Theory of operation: the identity is a 32-byte seed. Everything else derives from it:
the public key, the fingerprint (lowercase hex SHA-256 of the raw public key, see
``docs/CIP_SPEC.md``) and, with the RTT issue, the libp2p PeerId. The key file is a
small JSON document created with mode 0600 in a data directory of mode 0700 (the rules
for both are ``web4.private``); it records the public key next to the seed
so that a corrupted file is detected on load instead of silently becoming another
identity. Randomness comes from an injected ``Rng``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path

from web4 import _core
from web4.clock import Rng, SystemRng
from web4.errors import IdentityError
from web4.private import check_private_dir, check_private_stat, make_private_dir

__all__ = ["KEY_FILE_NAME", "Identity"]

KEY_FILE_NAME = "identity.json"
_FORMAT = "web4-identity/1"
_MAX_KEY_FILE = 4096  # a key file is ~300 bytes; never read an arbitrarily large file


class Identity:
    """An agent's Ed25519 identity."""

    __slots__ = ("_agent_id", "_key", "_public_key")

    def __init__(self, seed: bytes, agent_id: str | None = None) -> None:
        """Build from a 32-byte seed. Raises ``IdentityError`` on a wrong-length seed."""
        self._key = _core.SigningKey(seed)
        self._public_key: bytes = self._key.public_key
        self._agent_id = agent_id or f"agent-{self.fingerprint[:12]}"

    @classmethod
    def generate(cls, agent_id: str | None = None, rng: Rng | None = None) -> Identity:
        """A fresh identity from ``rng`` (the OS CSPRNG by default)."""
        return cls((rng or SystemRng()).bytes(32), agent_id)

    # --- derived facts --------------------------------------------------------------

    @property
    def agent_id(self) -> str:
        return self._agent_id

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return self._public_key

    @property
    def public_key_b64(self) -> str:
        return base64.b64encode(self._public_key).decode("ascii")

    @property
    def fingerprint(self) -> str:
        """Lowercase hex SHA-256 of the raw public key."""
        return _core.fingerprint(self._public_key)

    @property
    def peer_id(self) -> str:
        """The libp2p PeerId of this key (what ``/p2p/...`` in a multiaddr names): the
        identity multihash of the protobuf-encoded Ed25519 key, base58btc ("12D3KooW...").
        libp2p's own encoding (``web4._core.peer_id_of``), without starting a transport."""
        return _core.peer_id_of(self._public_key)

    @property
    def signing_key(self) -> _core.SigningKey:
        """The Rust signing key (used by the envelope hot path)."""
        return self._key

    def sign(self, data: bytes) -> bytes:
        """A 64-byte Ed25519 signature over ``data``."""
        return self._key.sign(data)

    def __repr__(self) -> str:
        return f"Identity(agent_id={self._agent_id!r}, fingerprint={self.fingerprint[:16]}…)"

    # --- persistence ----------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the key file with mode 0600. Refuses to overwrite an existing file.

        Raises ``IdentityError`` if the file exists or cannot be written.
        """
        doc = {
            "format": _FORMAT,
            "algorithm": "ed25519",
            "agent_id": self._agent_id,
            "seed": base64.b64encode(self._key.seed()).decode("ascii"),
            "public_key": self.public_key_b64,
        }
        data = (json.dumps(doc, indent=2) + "\n").encode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise IdentityError(
                f"{path}: an identity already exists; refusing to overwrite"
            ) from None
        except OSError as e:
            raise IdentityError(f"{path}: cannot create key file: {e.strerror}") from e
        try:
            os.fchmod(fd, 0o600)  # the umask could only remove bits; be explicit anyway
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Identity:
        """Read a key file written by ``save``.

        Raises ``IdentityError`` if the file is missing, not a regular file, owned by
        another user, readable or writable by group or others, too large, not a key file,
        of the wrong length, or corrupt.
        """
        try:
            # O_NONBLOCK: a FIFO in place of the file must not block the open (regular
            # files ignore the flag); the fstat below then refuses it.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        except FileNotFoundError:
            raise IdentityError(f"{path}: no identity here (run `web4 keygen` first)") from None
        except OSError as e:
            raise IdentityError(f"{path}: cannot open key file: {e.strerror}") from e
        try:
            check_private_stat(os.fstat(fd), path, IdentityError)
            raw = os.read(fd, _MAX_KEY_FILE + 1)
        finally:
            os.close(fd)
        if len(raw) > _MAX_KEY_FILE:
            raise IdentityError(f"{path}: too large to be a key file")
        return cls._from_document(raw, str(path))

    @classmethod
    def _from_document(cls, raw: bytes, where: str) -> Identity:
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError) as e:  # bad UTF-8 or JSON, deep nesting
            raise IdentityError(f"{where}: corrupt key file (not JSON: {e})") from e
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
            raise IdentityError(f"{where}: not a web4 key file (format must be {_FORMAT!r})")
        fields = {k: doc.get(k) for k in ("seed", "public_key", "agent_id")}
        if not all(isinstance(v, str) for v in fields.values()):
            raise IdentityError(f"{where}: corrupt key file (seed, public_key, agent_id)")
        try:
            seed = base64.b64decode(str(fields["seed"]), validate=True)
            public_key = base64.b64decode(str(fields["public_key"]), validate=True)
        except binascii.Error as e:
            raise IdentityError(f"{where}: corrupt key file (bad base64)") from e
        if len(seed) != 32:
            raise IdentityError(f"{where}: wrong key length: seed is {len(seed)} bytes, not 32")
        identity = cls(seed, str(fields["agent_id"]))
        if identity.public_key != public_key:
            raise IdentityError(f"{where}: corrupt key file (public key does not match seed)")
        return identity

    @classmethod
    def in_data_dir(cls, data_dir: str | os.PathLike[str]) -> Identity:
        """Load ``DATA_DIR/identity.json``. Raises ``IdentityError`` (see ``load``), also
        when the data directory is not ours or is writable by group or others (whoever
        can write it can replace the node's files: ``web4.private``)."""
        path = Path(data_dir)
        if path.is_dir():  # a missing dir is reported as a missing key file, below
            check_private_dir(path, IdentityError)
        return cls.load(path / KEY_FILE_NAME)

    @classmethod
    def create_in_data_dir(
        cls, data_dir: str | os.PathLike[str], agent_id: str | None = None
    ) -> Identity:
        """Create the data directory with mode 0700, or set an existing one of ours to
        0700, and a new identity in it. Raises ``IdentityError`` (a directory of another
        user, an identity already there, a file that cannot be written)."""
        path = Path(data_dir)
        make_private_dir(path, IdentityError, tighten=True)
        identity = cls.generate(agent_id)
        identity.save(path / KEY_FILE_NAME)
        return identity
