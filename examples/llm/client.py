"""A client of the OpenAI-compatible chat-completions API, for local model servers.

Theory of operation: Ollama, llama.cpp's ``llama-server``, vLLM and LM Studio all serve
``POST {url}/chat/completions`` with the same JSON body (``model``, ``messages``,
``temperature``, ``max_tokens``, ``response_format``) and answer with ``choices[0].
message.content``. ``ChatClient.ask`` sends one system and one user message, asks for
JSON (``json_mode``: the exact JSON Schema, or plain JSON mode for servers without
schema support, or nothing), and decodes the model's text into the caller's Struct
(``schema``): it returns a validated value or raises one of the typed errors below,
never anything else.

Every wait has a deadline: the connect and read timeouts (httpx) and a total deadline
over the whole exchange (a server that trickles bytes cannot hold the agent). The
response is read in chunks and refused past ``max_response_bytes``. No redirect is
followed. An API key, when a server wants one, is read from the environment variable
``api_key_env`` names, so it never sits in a config file or a command line.

Errors (all ``ModelError``, each with ``reply``: one sentence a human can act on):
``ModelUnavailableError`` (nothing listens, the host does not resolve), ``ModelTimeoutError``
(connect, read or total deadline), ``ModelHTTPError`` (a non-2xx status),
``ModelProtocolError`` (not a chat-completions response, too large, no choice),
``ModelOutputError`` (the model's text is not JSON, or not the shape asked for, or was
cut off at ``max_tokens``).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import httpx
import msgspec

from web4.errors import ConfigError, Web4Error

from .schema import json_schema

__all__ = [
    "ChatClient",
    "ModelConfig",
    "ModelError",
    "ModelHTTPError",
    "ModelOutputError",
    "ModelProtocolError",
    "ModelTimeoutError",
    "ModelUnavailableError",
]

T = TypeVar("T", bound=msgspec.Struct)
JsonMode = Literal["json_schema", "json_object", "none"]


class ModelError(Web4Error):
    """The model could not give a usable answer. ``reply`` says so to a human."""

    def __init__(self, detail: str, url: str) -> None:
        super().__init__(detail)
        self.detail, self.url = detail, url

    @property
    def reply(self) -> str:
        return (
            f"My language model cannot answer right now ({self.detail}). Nothing was sent "
            f"on its behalf. Try again later, or ask my operator to check the model server "
            f"at {self.url}."
        )


class ModelUnavailableError(ModelError):
    """Nothing answers at the configured URL (connection refused, unknown host)."""


class ModelTimeoutError(ModelError):
    """The model server did not answer within a deadline (connect, read or total)."""


class ModelHTTPError(ModelError):
    """The server answered with a non-2xx status."""

    def __init__(self, detail: str, url: str, status: int) -> None:
        super().__init__(detail, url)
        self.status = status


class ModelProtocolError(ModelError):
    """The response is not a chat-completions response (or too large to read)."""


class ModelOutputError(ModelError):
    """The model's text is not JSON of the requested shape."""

    @property
    def reply(self) -> str:
        return (
            f"My language model answered, but not in a form I can check ({self.detail}), "
            "so I did not use it. Nothing was sent on its behalf; please ask again."
        )


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Where the model is and how long to wait for it. Raises ``ConfigError``."""

    url: str  # the API base, e.g. http://127.0.0.1:11434/v1 (Ollama)
    model: str
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 60.0
    total_timeout_s: float = 120.0
    max_response_bytes: int = 1024 * 1024
    max_tokens: int = 1024
    temperature: float = 0.0
    json_mode: JsonMode = "json_schema"
    api_key_env: str | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"model url must be http(s)://host[:port]/path, got {self.url!r}")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ConfigError("model url must not carry a query, fragment or credentials")
        if not self.model.strip() or len(self.model) > 256:
            raise ConfigError("model name must be 1..256 characters")
        for name in ("connect_timeout_s", "read_timeout_s", "total_timeout_s"):
            if not 0 < getattr(self, name) <= 3600:
                raise ConfigError(f"{name} must be within (0, 3600]")
        if not 1024 <= self.max_response_bytes <= 64 * 1024 * 1024:
            raise ConfigError("max_response_bytes must be within 1 KiB..64 MiB")
        if not 1 <= self.max_tokens <= 65536:
            raise ConfigError("max_tokens must be within 1..65536")
        if not 0.0 <= self.temperature <= 2.0:
            raise ConfigError("temperature must be within 0..2")
        if self.json_mode not in ("json_schema", "json_object", "none"):
            raise ConfigError("json_mode must be json_schema, json_object or none")

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + "/chat/completions"


# The parts of a chat-completions response this client reads (servers add many more).
class _Message(msgspec.Struct, frozen=True):
    content: str | None = None


class _Choice(msgspec.Struct, frozen=True):
    message: _Message
    finish_reason: str | None = None


class _Response(msgspec.Struct, frozen=True):
    choices: list[_Choice]


class ChatClient:
    """One model server (see the module docstring). Close with ``aclose``."""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        timeout = httpx.Timeout(
            connect=config.connect_timeout_s,
            read=config.read_timeout_s,
            write=config.read_timeout_s,
            pool=config.connect_timeout_s,
        )
        self._http = httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False)

    async def aclose(self) -> None:
        await self._http.aclose()

    def body(self, system: str, user: str, out: type[msgspec.Struct]) -> dict[str, Any]:
        """The request body for one question (public so a test can check it)."""
        c = self.config
        body: dict[str, Any] = {
            "model": c.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "temperature": c.temperature,
            "max_tokens": c.max_tokens,
            "stream": False,
        }
        if c.json_mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": out.__name__, "strict": True, "schema": json_schema(out)},
            }
        elif c.json_mode == "json_object":
            body["response_format"] = {"type": "json_object"}
        return body

    async def ask(self, system: str, user: str, out: type[T]) -> T:
        """The model's answer to ``user`` (under ``system``), decoded into ``out``.
        Raises a ``ModelError`` subclass (see the module docstring), nothing else."""
        url = self.config.url
        try:
            async with asyncio.timeout(self.config.total_timeout_s):
                raw = await self._post(self.body(system, user, out))
        except TimeoutError as e:
            raise ModelTimeoutError(
                f"no complete answer within {self.config.total_timeout_s:g} s", url
            ) from e
        return _decode_output(_content(raw, url), out, url)

    async def _post(self, body: dict[str, Any]) -> bytes:
        c = self.config
        headers = {"accept": "application/json"}
        key = os.environ.get(c.api_key_env) if c.api_key_env else None
        if key:
            headers["authorization"] = f"Bearer {key}"
        try:
            async with self._http.stream("POST", c.endpoint, json=body, headers=headers) as resp:
                declared = resp.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > c.max_response_bytes:
                    raise _too_large(c)
                data = bytearray()
                async for chunk in resp.aiter_bytes():
                    data += chunk
                    if len(data) > c.max_response_bytes:
                        raise _too_large(c)
                if not 200 <= resp.status_code < 300:
                    snippet = " ".join(bytes(data[:200]).decode("utf-8", "replace").split())
                    raise ModelHTTPError(
                        f"the server answered HTTP {resp.status_code}: {snippet}"[:300],
                        c.url,
                        resp.status_code,
                    )
                return bytes(data)
        except httpx.ConnectTimeout as e:
            raise ModelTimeoutError(f"no connection within {c.connect_timeout_s:g} s", c.url) from e
        except httpx.ReadTimeout as e:
            raise ModelTimeoutError(f"no data for {c.read_timeout_s:g} s", c.url) from e
        except httpx.TimeoutException as e:
            raise ModelTimeoutError(f"timed out ({type(e).__name__})", c.url) from e
        except httpx.ConnectError as e:
            raise ModelUnavailableError(f"cannot connect: {_why(e)}", c.url) from e
        except httpx.HTTPError as e:  # the server broke the HTTP exchange
            raise ModelProtocolError(f"broken HTTP exchange: {_why(e)}", c.url) from e


def _too_large(c: ModelConfig) -> ModelProtocolError:
    return ModelProtocolError(f"the response is larger than {c.max_response_bytes} bytes", c.url)


def _why(e: Exception) -> str:
    return (str(e) or type(e).__name__)[:200]


def _content(raw: bytes, url: str) -> str:
    """``choices[0].message.content`` of a chat-completions response."""
    try:
        resp = msgspec.json.decode(raw, type=_Response)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise ModelProtocolError(f"not a chat-completions response: {_why(e)}", url) from e
    if not resp.choices:
        raise ModelProtocolError("the response has no choices", url)
    choice = resp.choices[0]
    if choice.finish_reason == "length":
        raise ModelOutputError("its answer was cut off at max_tokens", url)
    if not choice.message.content or not choice.message.content.strip():
        raise ModelOutputError("its answer is empty", url)
    return choice.message.content


def _decode_output(text: str, out: type[T], url: str) -> T:
    """The model's text as ``out``: JSON, optionally inside one Markdown code fence
    (models add one when no JSON mode is enforced), of exactly ``out``'s shape."""
    body = text.strip()
    if body.startswith("```") and body.endswith("```") and body.count("```") == 2:
        body = body[3:-3]
        first, _, rest = body.partition("\n")
        body = rest if first.strip().isalpha() or not first.strip() else body
    try:
        return msgspec.json.decode(body.strip(), type=out)
    except msgspec.ValidationError as e:
        raise ModelOutputError(f"its JSON is not a valid {out.__name__}: {_why(e)}", url) from e
    except msgspec.DecodeError as e:
        raise ModelOutputError(f"its answer is not JSON: {_why(e)}", url) from e
