"""A readable, time-ordered transcript of both sides of a simulated call."""

from __future__ import annotations

from calls.simulator.result import CallResult, TimelineEntry


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.0f} ms"


def _s(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.2f} s"


def timeline(result: CallResult) -> list[TimelineEntry]:
    """Twilio/system events, caller steps and agent utterances merged in time order."""
    entries = list(result.timeline)
    for u in result.caller_utterances:
        at = u.started_at if u.started_at is not None else u.ended_at
        if at is None:
            continue
        label = f"presses {u.text}" if u.kind == "digits" else f'"{u.text}"'
        extra = " (barge-in)" if u.barge_in else ""
        if u.response_delay is not None:
            extra += f"  → agent answered after {_s(u.response_delay)}"
        entries.append(TimelineEntry(at, "caller", label + extra))
    for a in result.agent_utterances:
        if a.said is not None:  # the server's transcript: what the agent actually said
            said = f'"{a.said}"'
        elif a.text:  # only the simulator's own recognition of the audio
            said = f'heard: "{a.text}"'
        else:
            said = f"<{a.duration:.2f} s of audio>"
        details = [f"{a.duration:.2f} s"]
        if a.mark:
            details.append(f"mark {a.mark}")
        if a.cleared:
            details.append("cut off by clear")
        entries.append(TimelineEntry(a.started_at, "agent", f"{said}  ({', '.join(details)})"))
    return sorted(entries, key=lambda e: e.at)


def format_transcript(result: CallResult) -> str:
    """The whole call as text: who said what when, then timings, warnings and errors."""
    speed = "" if result.speedup == 1 else f", caller side sped up {result.speedup:g}x"
    lines = [f"Simulated call {result.call_sid} from {result.from_} to {result.to}{speed}"]
    if result.server is not None:
        lines.append(f"Answered by: {result.server.answered_by}")
    elif any(a.text for a in result.agent_utterances):
        lines.append(
            "The agent's lines are this simulator's speech recognition of its audio (heard:), "
            "not the server's transcript."
        )
    for e in timeline(result):
        lines.append(f"[{e.at:8.3f}s] {e.who:<8} {e.text}")
    t = result.timings
    delays = ", ".join(_s(d) for d in t.response_delays) or "—"
    lines.append("")
    lines.append(
        f"Timings: webhook {_ms(t.webhook_latency)} · first agent media "
        f"{_s(t.first_agent_media)} after stream start · agent response delays {delays}"
    )
    for d in result.dials:
        lines.append(
            f"Dial: {', '.join(d.numbers)} callerId={d.caller_id} timeout={d.timeout}s "
            f"action={d.action} → {d.status}"
        )
        if d.whisper is not None:
            w = d.whisper
            outcome = w.error or ("declined" if w.declined else "then bridged")
            lines.append(f'  Whisper: {w.method} {w.url} → heard "{w.text}" ({outcome})')
    if result.warnings:
        lines.append("Warnings:")
        lines.extend(f"  - {w}" for w in result.warnings)
    if result.errors:
        lines.append("Errors:")
        lines.extend(f"  - {e}" for e in result.errors)
    verdict = "OK" if result.ok else "FAILED"
    lines.append(f"Result: {verdict} (call ended: {result.ended_by}, {result.duration:.1f} s)")
    return "\n".join(lines)
