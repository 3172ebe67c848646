"""Identity: generation, key file format, permissions and corruption handling."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from web4.clock import SeededRng
from web4.errors import IdentityError, LocalError
from web4.identity import KEY_FILE_NAME, Identity


def test_generate_is_deterministic_under_a_seeded_rng() -> None:
    a = Identity.generate("a", SeededRng(5))
    b = Identity.generate("a", SeededRng(5))
    assert a.public_key == b.public_key
    assert len(a.public_key) == 32
    assert a.fingerprint == hashlib.sha256(a.public_key).hexdigest()
    assert a.agent_id == "a"
    assert Identity.generate(rng=SeededRng(5)).agent_id == f"agent-{a.fingerprint[:12]}"


def test_save_creates_0600_and_load_round_trips(tmp_path: Path) -> None:
    ident = Identity.generate("alice")
    path = tmp_path / KEY_FILE_NAME
    ident.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = Identity.load(path)
    assert loaded.public_key == ident.public_key
    assert loaded.agent_id == "alice"
    assert loaded.sign(b"x") == ident.sign(b"x")


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE_NAME
    Identity.generate().save(path)
    with pytest.raises(IdentityError, match="already exists"):
        Identity.generate().save(path)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o620])
def test_group_or_world_accessible_key_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / KEY_FILE_NAME
    Identity.generate().save(path)
    os.chmod(path, mode)
    with pytest.raises(IdentityError, match="group or others"):
        Identity.load(path)


def _write(path: Path, content: bytes) -> None:
    path.write_bytes(content)
    os.chmod(path, 0o600)


def _doc(**changes: object) -> bytes:
    ident = Identity.generate("x", SeededRng(9))
    doc = {
        "format": "web4-identity/1",
        "algorithm": "ed25519",
        "agent_id": "x",
        "seed": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "public_key": ident.public_key_b64,
    }
    doc.update(changes)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"\x00\x01garbage", "not JSON"),
        (b"[]", "not a web4 key file"),
        (_doc(format="other"), "not a web4 key file"),
        (_doc(seed=5), "corrupt key file"),
        (_doc(seed="!!!notbase64"), "bad base64"),
        (_doc(seed="AAEC"), "wrong key length"),
        (_doc(), "does not match seed"),
        (b"x" * 5000, "too large"),
    ],
)
def test_corrupt_or_wrong_length_key_file_gets_a_clear_error(
    tmp_path: Path, content: bytes, needle: str
) -> None:
    path = tmp_path / KEY_FILE_NAME
    _write(path, content)
    with pytest.raises(IdentityError, match=needle) as info:
        Identity.load(path)
    assert isinstance(info.value, LocalError)


def test_missing_key_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="web4 keygen"):
        Identity.in_data_dir(tmp_path / "nowhere")
    with pytest.raises(IdentityError, match="not a regular file"):
        Identity.load(tmp_path)


def test_create_in_data_dir_makes_a_private_directory(tmp_path: Path) -> None:
    ident = Identity.create_in_data_dir(tmp_path / "node", "n1")
    assert stat.S_IMODE((tmp_path / "node").stat().st_mode) == 0o700
    assert Identity.in_data_dir(tmp_path / "node").fingerprint == ident.fingerprint
    assert "n1" in repr(ident)
    assert ident.fingerprint[:16] in repr(ident)
