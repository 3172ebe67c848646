"""Contract tests of the llm example's chat-completions client against a real HTTP server
on 127.0.0.1 that speaks the OpenAI-compatible API (fake_chat_server)."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import msgspec
import pytest
from fake_chat_server import FakeChatServer, Reply, Request, completion
from llm.client import (
    ChatClient,
    ModelConfig,
    ModelError,
    ModelHTTPError,
    ModelOutputError,
    ModelProtocolError,
    ModelTimeoutError,
    ModelUnavailableError,
)
from llm.schema import FactDraft, ReplyDraft, VoteDraft, json_schema

from web4.errors import ConfigError

VOTE = {"decision": "confirm", "confidence": 0.8, "reason": "matches the cited source"}


def ask(config: ModelConfig, out: type[msgspec.Struct] = VoteDraft) -> msgspec.Struct:
    async def main() -> msgspec.Struct:
        client = ChatClient(config)
        try:
            return await client.ask("You are terse.", "Is water wet?", out)
        finally:
            await client.aclose()

    return asyncio.run(main())


def serve(reply: Reply) -> FakeChatServer:
    return FakeChatServer(lambda _req: reply)


def test_the_request_is_an_openai_chat_completion_with_the_exact_schema(monkeypatch) -> None:
    monkeypatch.setenv("FAKE_MODEL_KEY", "sk-local-test")
    with serve(completion(json.dumps(VOTE))) as srv:
        got = ask(ModelConfig(srv.url, "qwen2.5:7b", api_key_env="FAKE_MODEL_KEY"))
    assert got == VoteDraft("confirm", 0.8, "matches the cited source")
    (req,) = srv.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer sk-local-test"
    assert req.body["model"] == "qwen2.5:7b"
    assert req.body["stream"] is False
    assert [m["role"] for m in req.body["messages"]] == ["system", "user"]
    assert req.body["messages"][1]["content"] == "Is water wet?"
    fmt = req.body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "VoteDraft"
    assert fmt["json_schema"]["schema"] == json_schema(VoteDraft)
    assert fmt["json_schema"]["schema"]["additionalProperties"] is False


def test_json_object_mode_and_no_mode_are_sent_as_configured() -> None:
    with serve(completion(json.dumps(VOTE))) as srv:
        ask(ModelConfig(srv.url, "m", json_mode="json_object"))
        ask(ModelConfig(srv.url, "m", json_mode="none"))
    assert srv.requests[0].body["response_format"] == {"type": "json_object"}
    assert "response_format" not in srv.requests[1].body
    assert "authorization" not in srv.requests[0].headers


def test_a_fenced_json_answer_is_accepted() -> None:
    with serve(completion("```json\n" + json.dumps(VOTE) + "\n```")) as srv:
        assert ask(ModelConfig(srv.url, "m", json_mode="none")) == VoteDraft(**VOTE)


def test_the_schema_is_flat_and_requires_every_field() -> None:
    for struct in (FactDraft, VoteDraft, ReplyDraft):
        schema = json_schema(struct)
        assert "$ref" not in json.dumps(schema)
        assert set(schema["required"]) == set(schema["properties"])


def test_a_down_server_is_model_unavailable_with_a_clear_reply() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(ModelUnavailableError) as err:
        ask(ModelConfig(url, "m"))
    assert url in err.value.reply
    assert "cannot answer right now" in err.value.reply


def test_a_slow_server_times_out_at_the_read_deadline() -> None:
    with serve(Reply(delay_s=3.0, body=b"{}")) as srv:
        t0 = time.monotonic()
        with pytest.raises(ModelTimeoutError) as err:
            ask(ModelConfig(srv.url, "m", read_timeout_s=0.3))
        assert time.monotonic() - t0 < 2.5
    assert "no data for 0.3 s" in err.value.reply


def test_a_server_that_trickles_bytes_hits_the_total_deadline() -> None:
    body = completion(json.dumps(VOTE)).body
    with serve(Reply(body=body, trickle_s=0.05)) as srv:  # each byte in time, all too late
        t0 = time.monotonic()
        with pytest.raises(ModelTimeoutError) as err:
            ask(ModelConfig(srv.url, "m", read_timeout_s=1.0, total_timeout_s=0.5))
        assert time.monotonic() - t0 < 3.0
    assert "within 0.5 s" in str(err.value)


def test_an_http_error_status_is_reported_with_the_servers_words() -> None:
    body = b'{"error":"model \\"nope\\" not found"}'
    with serve(Reply(status=404, body=body)) as srv, pytest.raises(ModelHTTPError) as err:
        ask(ModelConfig(srv.url, "nope"))
    assert err.value.status == 404
    assert "HTTP 404" in err.value.reply
    assert "not found" in err.value.reply


def test_a_response_that_is_not_a_chat_completion_is_a_protocol_error() -> None:
    for body in (b"<html>hello</html>", b'{"object": "list", "data": []}', b'{"choices": []}'):
        with serve(Reply(body=body)) as srv, pytest.raises(ModelProtocolError):
            ask(ModelConfig(srv.url, "m"))


def test_a_response_larger_than_the_cap_is_refused_while_reading() -> None:
    big = completion("x" * 5000).body
    with serve(Reply(body=big)) as srv, pytest.raises(ModelProtocolError, match="larger than"):
        ask(ModelConfig(srv.url, "m", max_response_bytes=2048))
    with (
        serve(Reply(body=big, trickle_s=0.0001)) as srv,
        pytest.raises(ModelProtocolError, match="larger than"),
    ):  # no content-length: counted
        ask(ModelConfig(srv.url, "m", max_response_bytes=2048))


def test_model_text_that_is_not_json_is_an_output_error() -> None:
    not_json = completion("Sure! The answer is yes.")
    with serve(not_json) as srv, pytest.raises(ModelOutputError, match="not JSON") as err:
        ask(ModelConfig(srv.url, "m"))
    assert "not in a form I can check" in err.value.reply


@pytest.mark.parametrize(
    "output",
    [
        {"decision": "maybe", "confidence": 0.5, "reason": "unsure"},  # not an allowed vote
        {"decision": "confirm", "confidence": 1.5, "reason": "sure"},  # out of range
        {"decision": "confirm", "confidence": 0.5, "reason": ""},  # empty reason
        {"decision": "confirm", "confidence": 0.5},  # missing field
        {**VOTE, "also": "an extra field"},  # unknown field
        [VOTE],  # wrong shape
    ],
)
def test_json_failing_the_schema_is_an_output_error(output: object) -> None:
    with (
        serve(completion(json.dumps(output))) as srv,
        pytest.raises(ModelOutputError, match="not a valid VoteDraft"),
    ):
        ask(ModelConfig(srv.url, "m"))


def test_an_answer_cut_off_at_max_tokens_is_not_used() -> None:
    with (
        serve(completion(json.dumps(VOTE), finish_reason="length")) as srv,
        pytest.raises(ModelOutputError, match="cut off"),
    ):
        ask(ModelConfig(srv.url, "m"))


def test_a_redirect_is_not_followed() -> None:
    with (
        serve(Reply(status=302, headers={"location": "http://127.0.0.1:1/"})) as srv,
        pytest.raises(ModelHTTPError),
    ):
        ask(ModelConfig(srv.url, "m"))
    assert len(srv.requests) == 1


def test_a_fact_draft_needs_sources_and_steps() -> None:
    draft = {
        "statement": "Water boils at 100 degrees Celsius at sea level",
        "domain": "physics",
        "confidence": 0.9,
        "sources": [],
        "steps": ["recalled the boiling point"],
        "counterfactuals": [],
        "evidence": [],
    }
    with serve(completion(json.dumps(draft))) as srv, pytest.raises(ModelOutputError):
        ask(ModelConfig(srv.url, "m"), FactDraft)


def test_every_failure_is_a_model_error() -> None:
    for cls in (ModelUnavailableError, ModelTimeoutError, ModelProtocolError, ModelOutputError):
        assert issubclass(cls, ModelError)
    assert issubclass(ModelHTTPError, ModelError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"url": "ftp://127.0.0.1/v1"},
        {"url": "http:///v1"},
        {"url": "http://user:pw@127.0.0.1/v1"},
        {"model": " "},
        {"read_timeout_s": 0},
        {"total_timeout_s": -1},
        {"max_response_bytes": 10},
        {"json_mode": "yaml"},
    ],
)
def test_bad_settings_are_config_errors(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"url": "http://127.0.0.1:11434/v1", "model": "m"}
    with pytest.raises(ConfigError):
        ModelConfig(**(base | kwargs))  # type: ignore[arg-type]


def test_the_request_handler_sees_what_was_sent() -> None:
    seen: list[Request] = []

    def respond(req: Request) -> Reply:
        seen.append(req)
        return completion(json.dumps(VOTE))

    with FakeChatServer(respond) as srv:
        ask(ModelConfig(srv.url, "m"))
    assert seen[0].body["max_tokens"] == 1024
