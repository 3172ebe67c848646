"""Turn a fetched page into candidate claims: a small, documented, deterministic extractor.

Theory of operation: the body is decoded with the response charset (UTF-8 when absent or
unknown, undecodable bytes replaced). For ``text/html`` the stdlib ``HTMLParser`` keeps
the text of ``<title>``, ``<meta name="description" content=...>`` and every ``<p>``
(ignoring ``<script>``/``<style>``); for ``text/plain`` each blank-line-separated
paragraph is a block. Each block is split into sentences at ``.``, ``!`` or ``?`` followed
by whitespace; whitespace is collapsed. A sentence becomes a claim when it has 4 to 60
words and 20 to 500 characters; duplicates are dropped, and at most ``MAX_CLAIMS`` are
kept in page order. A claim's id is the hex SHA-256 of its normalized statement (NFKC,
case-folded, whitespace collapsed, final punctuation dropped), so two agents fetching the
same text derive the same ids: that is how corroboration matches claims.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser

__all__ = ["MAX_CLAIMS", "ExtractedClaim", "claim_id", "extract_claims"]

MAX_CLAIMS = 50
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class ExtractedClaim:
    claim_id: str
    statement: str
    locator: str  # where on the page: "title", "meta:description", "p[3]", "para[2]"


def normalize(statement: str) -> str:
    text = unicodedata.normalize("NFKC", statement).casefold()
    return _SPACE.sub(" ", text).strip().rstrip(".!?").strip()


def claim_id(statement: str) -> str:
    """Hex SHA-256 of the normalized statement (see the module docstring)."""
    return hashlib.sha256(normalize(statement).encode("utf-8")).hexdigest()


class _Blocks(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str]] = []
        self._where: str | None = None
        self._buf: list[str] = []
        self._skip = 0
        self._p = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "meta":
            a = {k.lower(): (v or "") for k, v in attrs}
            if a.get("name", "").lower() == "description" and a.get("content"):
                self.blocks.append(("meta:description", a["content"]))
        elif tag in ("p", "title"):
            self._flush()
            if tag == "p":
                self._p += 1
            self._where = "title" if tag == "title" else f"p[{self._p}]"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in ("p", "title"):
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._where is not None and not self._skip:
            self._buf.append(data)

    def _flush(self) -> None:
        if self._where is not None and self._buf:
            self.blocks.append((self._where, "".join(self._buf)))
        self._where, self._buf = None, []

    def close(self) -> None:
        super().close()
        self._flush()


def _decode(body: bytes, charset: str | None) -> str:
    try:
        codec = codecs.lookup(charset or "utf-8").name
    except LookupError:
        codec = "utf-8"
    return body.decode(codec, errors="replace")


def _blocks(text: str, content_type: str) -> list[tuple[str, str]]:
    if content_type in ("text/html", "application/xhtml+xml"):
        parser = _Blocks()
        parser.feed(text)
        parser.close()
        return parser.blocks
    paras = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    return [(f"para[{i}]", p) for i, p in enumerate(paras, start=1)]


def extract_claims(body: bytes, content_type: str, charset: str | None) -> list[ExtractedClaim]:
    """Candidate claims of a page, in page order (see the module docstring). Never raises
    on page content: bad markup or bytes yield fewer claims, not an error."""
    out: list[ExtractedClaim] = []
    seen: set[str] = set()
    for where, block in _blocks(_decode(body, charset), content_type):
        for raw in _SENTENCE_END.split(_SPACE.sub(" ", block).strip()):
            sentence = raw.strip()
            words = len(sentence.split())
            if not (4 <= words <= 60 and 20 <= len(sentence) <= 500):
                continue
            cid = claim_id(sentence)
            if cid in seen:
                continue
            seen.add(cid)
            out.append(ExtractedClaim(cid, sentence, where))
            if len(out) >= MAX_CLAIMS:
                return out
    return out
