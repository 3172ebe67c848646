"""The claim extractor: documented, deterministic, bounded."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from web4.lip.extract import MAX_CLAIMS, claim_id, extract_claims


def test_html_title_meta_and_paragraphs() -> None:
    html = (
        b"<html><head><title>All about the water cycle today</title>"
        b'<meta name="Description" content="Rain falls from clouds over the sea.">'
        b"<style>p { color: red; } .never a claim at all here</style></head>"
        b"<body><div>Text outside paragraphs is not taken as claims.</div>"
        b"<p>Clouds form when vapour cools. Rain then falls &amp; feeds rivers!</p>"
        b"<p>Too short.</p></body></html>"
    )
    claims = extract_claims(html, "text/html", "utf-8")
    assert [(c.locator, c.statement) for c in claims] == [
        ("title", "All about the water cycle today"),
        ("meta:description", "Rain falls from clouds over the sea."),
        ("p[1]", "Clouds form when vapour cools."),
        ("p[1]", "Rain then falls & feeds rivers!"),
    ]


def test_plain_text_paragraphs_and_charset() -> None:
    body = "Café owners open early on Mondays.\n\nUne phrase française assez longue ici.".encode(
        "latin-1"
    )
    claims = extract_claims(body, "text/plain", "iso-8859-1")
    assert [c.statement for c in claims] == [
        "Café owners open early on Mondays.",
        "Une phrase française assez longue ici.",
    ]
    assert claims[1].locator == "para[2]"


def test_claim_ids_are_normalized() -> None:
    assert claim_id("Water  boils at 100 C.") == claim_id("water boils at 100 c")
    assert claim_id("Water boils at 100 C.") != claim_id("Water boils at 90 C.")
    assert len(claim_id("x")) == 64


def test_duplicates_dropped_and_count_bounded() -> None:
    body = b"".join(b"<p>Sentence number %d is long enough here.</p>" % i for i in range(200))
    claims = extract_claims(body + body, "text/html", None)
    assert len(claims) == MAX_CLAIMS
    assert len({c.claim_id for c in claims}) == MAX_CLAIMS


def test_garbage_does_not_raise() -> None:
    assert extract_claims(b"\xff\xfe<p<<>>&&&;", "text/html", "no-such-codec") == []


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=2000), ctype=st.sampled_from(["text/html", "text/plain"]))
def test_never_raises_and_bounded(body: bytes, ctype: str) -> None:
    claims = extract_claims(body, ctype, None)
    assert len(claims) <= MAX_CLAIMS
    for c in claims:
        assert c.claim_id == claim_id(c.statement)
        assert 20 <= len(c.statement) <= 500
