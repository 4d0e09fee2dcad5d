"""A local server speaking OpenAI's chat-completions protocol, following a small script.

    script = [
        Rule(when="order", text="Let me check.", tool="lookup_order", arguments={"id": "42"}),
        Rule(after_tool=True, text="The order status is {result[data][status]}."),
        Rule(text="Hello! How can I help?"),  # "when" empty: any message
    ]
    with OpenAIPeer(script, api_key="sk-test") as peer:
        ...  # POST {peer.base_url}/chat/completions, Authorization: Bearer sk-test

A rule matches on a (case-insensitive) substring of the last user message, or, with
`after_tool`, when the last message is a tool result (its JSON content is `result` in the
text's format string). Replies stream as `chat.completion.chunk` events shaped like
OpenAI's: a role chunk, content token by token, tool calls with their arguments in
fragments, a finish chunk, then `data: [DONE]`, over chunked HTTP/1.1.

`mode` tests the failure paths: "ok", "hang" (never answers), "500" (a server_error),
"garbage" (200 with a body that is not an event stream) or "stall" (the first chunk, then
nothing). `token_delay` spaces the chunks out.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from . import LocalHttpServer, RecordedRequest, Reply

DEFAULT_REPLY = "I'm not sure about that."
TOKEN = re.compile(r"\s*\S+")


@dataclass
class Rule:
    when: str = ""
    text: str = ""
    tool: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    after_tool: bool = False


class OpenAIPeer(LocalHttpServer):
    def __init__(
        self,
        script: list[Rule] | None = None,
        *,
        api_key: str = "sk-test-peer",
        model: str = "gpt-4o-mini",
        token_delay: float = 0.0,
        mode: str = "ok",
    ) -> None:
        super().__init__()
        self.script = list(script or [])
        self.api_key = api_key
        self.model = model
        self.token_delay = token_delay
        self.mode = mode

    @property
    def base_url(self) -> str:
        return self.root_url + "/v1"

    def chat_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the chat-completion requests received, in order."""
        return [r.json() for r in self.requests if r.path.endswith("/chat/completions")]

    # --- protocol ----------------------------------------------------------------------

    def handle(self, request: RecordedRequest, handler: BaseHTTPRequestHandler) -> Reply | None:
        if request.method != "POST" or not request.path.endswith("/chat/completions"):
            return _error(404, f"Unknown request URL: {request.method} {request.path}.")
        authorization = request.headers.get("authorization", "")
        if not authorization.startswith("Bearer "):
            return _error(401, "You didn't provide an API key.", code=None)
        if authorization[7:] != self.api_key:
            return _error(401, f"Incorrect API key provided: {_masked(authorization[7:])}.")
        if self.mode == "hang":
            self.wait(3600)
            handler.close_connection = True
            return None
        if self.mode == "500":
            return _error(
                500,
                "The server had an error while processing your request. Sorry about that!",
                kind="server_error",
                code=None,
            )
        try:
            body = request.json()
            messages = body["messages"]
        except (ValueError, KeyError, TypeError):
            return _error(400, "We could not parse the JSON body of your request.")
        rule = self.rule_for(messages)
        if not body.get("stream"):
            return Reply(200, self._completion(body, rule))
        self._stream(handler, body, rule)
        return None

    def rule_for(self, messages: list[dict[str, Any]]) -> Rule:
        last = messages[-1] if messages else {}
        if last.get("role") == "tool":
            for rule in self.script:
                if rule.after_tool and rule.when.lower() in str(last.get("content", "")).lower():
                    return self._filled(rule, last)
            return Rule(text=DEFAULT_REPLY)
        text = str(last.get("content") or "").lower()
        for rule in self.script:
            if not rule.after_tool and rule.when.lower() in text:
                return rule
        return Rule(text=DEFAULT_REPLY)

    def _filled(self, rule: Rule, tool_message: dict[str, Any]) -> Rule:
        result = json.loads(tool_message.get("content") or "null")
        return Rule(rule.when, rule.text.format(result=result), rule.tool, rule.arguments, True)

    def _stream(self, handler: BaseHTTPRequestHandler, body: dict[str, Any], rule: Rule) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("openai-model", body.get("model", self.model))
        handler.end_headers()

        def send(raw: str) -> None:
            data = raw.encode()
            handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            handler.wfile.flush()

        if self.mode == "garbage":
            send("<html>this is not an event stream</html>\n")
            send("data: {not json at all\n\n")
            handler.wfile.write(b"0\r\n\r\n")
            return

        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "system_fingerprint": "fp_peer",
        }
        for i, delta in enumerate(_deltas(rule)):
            if i and not self.wait(self.token_delay):
                return
            send(f"data: {json.dumps({**base, 'choices': [delta]})}\n\n")
            if self.mode == "stall":
                self.wait(3600)
                handler.close_connection = True
                return
        send("data: [DONE]\n\n")
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()

    def _completion(self, body: dict[str, Any], rule: Rule) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": rule.text or None}
        if rule.tool:
            call = _tool_call(rule, 0)
            del call["index"]  # only streamed tool calls carry an index
            message["tool_calls"] = [call]
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if rule.tool else "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }


def _deltas(rule: Rule) -> list[dict[str, Any]]:
    """The `choices[0]` of each chunk, in the order OpenAI sends them."""

    def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

    deltas = [choice({"role": "assistant", "content": "", "refusal": None})]
    deltas += [choice({"content": token}) for token in TOKEN.findall(rule.text)]
    if rule.tool:
        call = _tool_call(rule, 0)
        arguments = call["function"]["arguments"]
        first = {**call, "function": {"name": call["function"]["name"], "arguments": ""}}
        deltas.append(choice({"tool_calls": [first]}))
        for start in range(0, len(arguments), 4):
            fragment = {"index": 0, "function": {"arguments": arguments[start : start + 4]}}
            deltas.append(choice({"tool_calls": [fragment]}))
    deltas.append(choice({}, "tool_calls" if rule.tool else "stop"))
    return deltas


def _tool_call(rule: Rule, index: int) -> dict[str, Any]:
    return {
        "index": index,
        "id": f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": rule.tool, "arguments": json.dumps(rule.arguments)},
    }


def _error(
    status: int, message: str, *, kind: str = "invalid_request_error", code: str | None = "x"
) -> Reply:
    if code == "x":
        code = {401: "invalid_api_key", 404: "unknown_url"}.get(status)
    return Reply(status, {"error": {"message": message, "type": kind, "param": None, "code": code}})


def _masked(key: str) -> str:
    """How OpenAI echoes a wrong key: its first and last characters only."""
    return key[:3] + "*" * max(len(key) - 7, 0) + key[-4:] if len(key) > 8 else "***"
