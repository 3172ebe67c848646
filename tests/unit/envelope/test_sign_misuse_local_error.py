"""Review: asking to sign something that is not an envelope is our own misuse, so it must
raise a ``LocalError``, never a ``RemoteError`` that would blame a peer."""

from __future__ import annotations

import pytest

from web4.errors import LocalError, RemoteError
from web4.identity import Identity

ALICE = Identity(bytes(range(32)), "alice")


@pytest.mark.parametrize("value", [["not", "an", "envelope"], "text", 7, None])
def test_signing_a_non_object_is_a_local_error(value: object) -> None:
    with pytest.raises(LocalError) as info:
        ALICE.signing_key.sign_envelope(value)
    assert not isinstance(info.value, RemoteError)
