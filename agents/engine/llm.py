"""The LLM brain: an OpenAI-compatible streaming chat-completions client with actions as tools.

Speech starts with the first complete sentence of the reply (see `sentences`). The HTTP
stream is read by a task of its own under a total deadline, so a slow consumer (the voice
playing a sentence) is never cancelled by it and a hung model never leaves the caller in
silence: every failure ends in an apology the caller hears.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx

from agents.actions.context import CallContext
from agents.actions.runner import call_secrets, redact, run_action
from agents.actions.templating import argument_names
from agents.engine.events import (
    ActionRan,
    Decision,
    EndCall,
    Handover,
    Problem,
    Speak,
    TurnEvent,
)
from agents.engine.sentences import MAX_CLAUSE, SentenceSplitter
from stellar.kernel.egress import egress_client

logger = logging.getLogger(__name__)

APOLOGY = "I'm sorry, I'm having trouble right now. Could you say that again?"
HANDOVER_MESSAGE = "Please hold while I transfer you."
DEFAULT_TIMEOUT_SECONDS = 8.0
MAX_CONNECT_TIMEOUT_SECONDS = 3.0
MAX_TOOL_ROUNDS = 3
MAX_TOOL_RESULT_CHARS = 6000
MAX_ERROR_BODY_CHARS = 300
VOICE_STYLE = (
    "You are speaking with a caller on the phone. Keep answers short and conversational, "
    "in plain sentences without lists, markdown or emoji. Use the tools when they fit."
)
CALL_INFO_SKIP = frozenset({"sid", "call_sid", "callsid", "stream_sid", "streamsid", "token"})
# The caller waits for the first words only: a long first sentence is cut at a comma this early
# so its audio starts sooner; the rest of the answer is cut into whole sentences as usual.
FIRST_CLAUSE = 60


class LlmError(Exception):
    """The model could not be reached or answered something we cannot use; `error` names the
    kind of failure for the call timeline (an exception class, or e.g. HTTP 401)."""

    def __init__(self, message: str, *, error: str = "") -> None:
        super().__init__(message)
        self.error = error or type(self).__name__


class _Done:
    """End of one streamed completion."""


_StreamItem = tuple[str, Any] | _Done | BaseException  # what the stream reader queues


class LlmBrain:
    """One call's LLM brain over the answering version's snapshot."""

    def __init__(self, snapshot: dict[str, Any], ctx: CallContext) -> None:
        self.snapshot = snapshot
        self.ctx = ctx
        llm = ctx.llm or {}
        # No built-in endpoint or model: what is missing is a configuration error (below).
        self.base_url = str(llm.get("base_url") or "").rstrip("/")
        self.model = str(llm.get("model") or snapshot.get("llm_model") or "")
        self.api_key = str(llm.get("api_key") or "")
        try:
            timeout = float(llm.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS)
        except (TypeError, ValueError):
            timeout = DEFAULT_TIMEOUT_SECONDS
        self.timeout = max(timeout, 0.1)
        self.actions = {a["name"]: a for a in snapshot.get("actions", [])}
        self.handovers = {h["name"]: h for h in snapshot.get("handover_actions", [])}
        self.tools = self._tools()

    # --- the prompt --------------------------------------------------------------------

    def system_prompt(self) -> str:
        parts = [self.snapshot.get("system_prompt") or "", VOICE_STYLE]
        knowledge = [
            f"Q: {item.get('question', '')}\nA: {item.get('answer', '')}"
            for item in self.snapshot.get("knowledge", [])
            if item.get("question") or item.get("answer")
        ]
        if knowledge:
            parts.append("Knowledge (answer from this when it fits):\n" + "\n\n".join(knowledge))
        default_handover = self.snapshot.get("default_handover") or ""
        if default_handover in self.handovers:
            parts.append(
                f"When the caller asks for a person without saying whom, use {default_handover}."
            )
        call = self.ctx.call or {}
        info = []
        if call.get("from"):
            info.append(f"- Caller's number: {call['from']}")
        if call.get("to"):
            info.append(f"- Number they called: {call['to']}")
        for key, value in call.items():
            if key in ("from", "to") or key.lower() in CALL_INFO_SKIP or value in ("", None):
                continue
            info.append(f"- {key}: {value}")
        if info:
            parts.append("About this call (from the phone system):\n" + "\n".join(info))
        return "\n\n".join(p.strip() for p in parts if p and p.strip())

    def messages(self, history: list[dict[str, Any]], caller_text: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = [{"role": "system", "content": self.system_prompt()}]
        for item in history:
            role = {"caller": "user", "agent": "assistant"}.get(item.get("role", ""))
            if role and item.get("text"):
                messages.append({"role": role, "content": item["text"]})
        last = history[-1] if history else {}
        if (last.get("role"), last.get("text")) != ("caller", caller_text):
            messages.append({"role": "user", "content": caller_text})
        return messages

    def _tools(self) -> list[dict[str, Any]]:
        """Every action and handover as a function; an action's parameters are the
        `{{ args.X }}` names in its templates (all strings, all required)."""
        tools = [
            _function(a["name"], a.get("description", ""), argument_names(a.get("config") or {}))
            for a in self.actions.values()
        ]
        tools += [
            _function(h["name"], h.get("description", ""), []) for h in self.handovers.values()
        ]
        return tools

    # --- a turn ------------------------------------------------------------------------

    async def turn(
        self, history: list[dict[str, Any]], caller_text: str
    ) -> AsyncIterator[TurnEvent]:
        """Events for one caller turn: sentences as they stream, actions, handover/end."""
        missing = self.missing_settings()
        if missing:
            logger.warning("LLM brain not configured: no %s", ", ".join(missing))
            yield Problem(
                "llm_error",
                f"The LLM brain is not configured: no {', '.join(missing)} in this environment.",
                error="LlmNotConfigured",
            )
            yield Speak(APOLOGY)
            return
        messages = self.messages(history, caller_text)
        spoke = False
        try:
            async with egress_client(timeout=self._http_timeout()) as client:
                for round_number in range(MAX_TOOL_ROUNDS + 1):
                    text = ""
                    calls: dict[int, dict[str, str]] = {}
                    splitter = SentenceSplitter(MAX_CLAUSE if spoke else FIRST_CLAUSE)
                    async for kind, payload in self._completion(client, messages):
                        if kind == "content":
                            text += payload
                            for sentence in splitter.feed(payload):
                                spoke = True
                                splitter.max_clause = MAX_CLAUSE
                                yield Speak(sentence)
                        else:
                            _merge_tool_call(calls, payload)
                    for sentence in splitter.flush():
                        spoke = True
                        yield Speak(sentence)
                    if not calls or round_number == MAX_TOOL_ROUNDS:
                        break
                    tool_calls = [calls[i] for i in sorted(calls)]
                    messages.append(_assistant_message(text, tool_calls))
                    finished = False
                    events = self._run_tools(tool_calls, messages, caller_text, said=bool(text))
                    async for event in events:
                        if isinstance(event, Speak):
                            spoke = True
                        if isinstance(event, Handover | EndCall):
                            finished = True
                        yield event
                    if finished:
                        return
        except LlmError as exc:
            detail = self._safe(exc)
            logger.warning("LLM %s at %s failed: %s", self.model, self.base_url, detail)
            yield Problem("llm_error", f"The language model failed: {detail}", error=exc.error)
            yield Speak(APOLOGY)
            return
        if not spoke:
            logger.warning("LLM %s at %s gave an empty answer", self.model, self.base_url)
            yield Problem("llm_error", "The language model gave an empty answer.", "EmptyAnswer")
            yield Speak(APOLOGY)

    def missing_settings(self) -> list[str]:
        """The settings a turn needs but this call lacks (see agents.config.llm)."""
        named = {"base URL": self.base_url, "model": self.model, "API key": self.api_key}
        return [name for name, value in named.items() if not value]

    async def _run_tools(
        self,
        tool_calls: list[dict[str, str]],
        messages: list[dict[str, Any]],
        caller_text: str,
        *,
        said: bool,
    ) -> AsyncIterator[TurnEvent]:
        """Carry out the model's tool calls in order; a handover or end of call stops here."""
        for call in tool_calls:
            name = call["name"]
            arguments, problem = _arguments(call["arguments"])
            if name in self.handovers:
                handover = self.handovers[name]
                yield Decision(
                    label=f"handover:{name}", brain="llm", summary=f"the handover {name}"
                )
                if not said:
                    line = handover.get("handover_message") or HANDOVER_MESSAGE
                    yield Speak(line, cacheable=True)
                yield Handover(action=handover, reason=f"LLM chose it; caller said: {caller_text}")
                return
            action = self.actions.get(name)
            if action is None or problem:
                content: dict[str, Any] = {
                    "ok": False,
                    "error": problem or f"There is no tool called {name}.",
                }
                messages.append(_tool_message(call["id"], content))
                continue
            yield Decision(label=f"action:{name}", brain="llm", summary=f"the action {name}")
            result = await run_action(action, self.ctx, arguments=arguments)
            yield ActionRan(
                name=name,
                kind=action.get("kind", ""),
                ok=result.ok,
                duration_ms=result.duration_ms,
                inputs=result.inputs,
                outcome=result.outcome,
            )
            if result.end_call:
                if result.say:
                    yield Speak(result.say, cacheable=True)
                yield EndCall(reason=f"llm:{name}")
                return
            content = {"ok": result.ok, "outcome": result.outcome}
            if result.data is not None:
                content["data"] = result.data
            if result.say:
                content["say"] = result.say
            messages.append(_tool_message(call["id"], redact(content, call_secrets(self.ctx))))

    # --- the HTTP stream ---------------------------------------------------------------

    async def _completion(
        self, client: httpx.AsyncClient, messages: list[dict[str, Any]]
    ) -> AsyncIterator[tuple[str, Any]]:
        """("content", text) and ("tool_call", delta) items of one streamed completion.

        The request runs in its own task under the total deadline; this generator only waits
        on a queue, so whatever its consumer does between items is never cancelled.
        """
        queue: asyncio.Queue[_StreamItem] = asyncio.Queue()
        reader = asyncio.create_task(self._read_stream(client, messages, queue))
        try:
            while True:
                item = await queue.get()
                if isinstance(item, _Done):
                    return
                if isinstance(item, LlmError):
                    raise item from None
                if isinstance(item, BaseException):
                    raise LlmError(str(item) or type(item).__name__, error=type(item).__name__)
                yield item
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _read_stream(
        self,
        client: httpx.AsyncClient,
        messages: list[dict[str, Any]],
        queue: asyncio.Queue[_StreamItem],
    ) -> None:
        body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": True}
        if self.tools:
            body["tools"] = self.tools
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            async with asyncio.timeout(self.timeout):
                async with client.stream(
                    "POST", f"{self.base_url}/chat/completions", json=body, headers=headers
                ) as response:
                    if response.status_code != 200:
                        detail = (await response.aread())[:MAX_ERROR_BODY_CHARS]
                        raise LlmError(
                            f"HTTP {response.status_code}: {detail.decode(errors='replace')}",
                            error=f"HTTP {response.status_code}",
                        )
                    done = finish_seen = False
                    async for line in response.aiter_lines():
                        for item in _parse_sse_line(line):
                            if isinstance(item, _Done):
                                done = True
                            elif item[0] == "finish":
                                finish_seen = True
                            else:
                                queue.put_nowait(item)
                        if done or finish_seen:  # nothing we use comes after finish_reason
                            break
                    if not (done or finish_seen):
                        raise LlmError("the stream ended before the answer did")
        except TimeoutError:
            queue.put_nowait(
                LlmError(f"no complete answer within {self.timeout:g} s", error="TimeoutError")
            )
        except httpx.TimeoutException as exc:
            queue.put_nowait(
                LlmError(f"timed out ({type(exc).__name__})", error=type(exc).__name__)
            )
        except httpx.HTTPError as exc:
            queue.put_nowait(LlmError(f"{type(exc).__name__}: {exc}", error=type(exc).__name__))
        except Exception as exc:  # LlmError, a malformed stream: all end in the apology
            queue.put_nowait(exc)
        else:
            queue.put_nowait(_Done())

    def _http_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, connect=min(self.timeout, MAX_CONNECT_TIMEOUT_SECONDS))

    def _safe(self, exc: BaseException) -> str:
        secrets = {**call_secrets(self.ctx), "llm_api_key": self.api_key}
        return redact(str(exc), secrets)


def _parse_sse_line(line: str) -> list[tuple[str, Any] | _Done]:
    """The items in one line of an OpenAI chat-completions event stream."""
    line = line.rstrip("\r")
    if not line or line.startswith(":"):
        return []
    field, _, value = line.partition(":")
    value = value.removeprefix(" ")
    if field in ("event", "id", "retry"):
        return []
    if field != "data":
        raise LlmError(f"malformed stream line: {line[:80]!r}")
    if value.strip() == "[DONE]":
        return [_Done()]
    try:
        chunk = json.loads(value)
    except ValueError:
        raise LlmError(f"malformed stream data: {value[:80]!r}") from None
    if not isinstance(chunk, dict):
        raise LlmError("malformed stream data: not an object")
    if "error" in chunk:
        error = chunk["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise LlmError(f"the model reported an error: {str(message)[:MAX_ERROR_BODY_CHARS]}")
    items: list[tuple[str, Any] | _Done] = []
    for choice in chunk.get("choices") or []:
        if not isinstance(choice, dict) or choice.get("index", 0) != 0:
            continue
        delta = choice.get("delta") or {}
        if delta.get("content"):
            items.append(("content", str(delta["content"])))
        for tool_call in delta.get("tool_calls") or []:
            items.append(("tool_call", tool_call))
        if choice.get("finish_reason"):
            items.append(("finish", choice["finish_reason"]))
    return items


def _merge_tool_call(calls: dict[int, dict[str, str]], delta: dict[str, Any]) -> None:
    """Accumulate one streamed tool-call fragment (id and name once, arguments in pieces)."""
    if not isinstance(delta, dict):
        raise LlmError("malformed tool call fragment")
    index = int(delta.get("index", 0))
    call = calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
    if delta.get("id"):
        call["id"] = str(delta["id"])
    function = delta.get("function") or {}
    if function.get("name"):
        call["name"] += str(function["name"])
    if function.get("arguments"):
        call["arguments"] += str(function["arguments"])
    if not call["id"]:
        call["id"] = f"call_{index}"


def _arguments(raw: str) -> tuple[dict[str, Any], str]:
    """The tool arguments as a dict, or ({}, what was wrong with them)."""
    if not raw.strip():
        return {}, ""
    try:
        value = json.loads(raw)
    except ValueError:
        return {}, "The arguments were not valid JSON."
    if not isinstance(value, dict):
        return {}, "The arguments must be a JSON object."
    return value, ""


def _function(name: str, description: str, parameters: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description or name.replace("_", " "),
            "parameters": {
                "type": "object",
                "properties": {p: {"type": "string"} for p in parameters},
                "required": parameters,
            },
        },
    }


def _assistant_message(text: str, tool_calls: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": call["arguments"] or "{}"},
            }
            for call in tool_calls
        ],
    }


def _tool_message(tool_call_id: str, content: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(content, ensure_ascii=False, default=str)
    if len(text) > MAX_TOOL_RESULT_CHARS:
        text = text[:MAX_TOOL_RESULT_CHARS] + "…(truncated)"
    return {"role": "tool", "tool_call_id": tool_call_id, "content": text}
