"""Django-side helpers the benchmarks run in a subprocess, on the environment they were given
(DATABASE_URL / STELLAR_VAR_DIR), printing JSON. Keeps Django out of the load generator.

python -m benchmarks._dbtool calls                      # calls with events, segments, recording
python -m benchmarks._dbtool sweep --now-offset 3600    # calls.recordings.finalize.calls_sweep_stale(now=…)
python -m benchmarks._dbtool ended-call --seconds 600   # a finished call with a synthetic spool
python -m benchmarks._dbtool enqueue CALL_ID            # calls.tasks.finalize_call.delay
python -m benchmarks._dbtool recording CALL_ID          # recording rows + per-channel energy
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import timedelta


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stellar.settings")
    import django

    django.setup()


def cmd_calls(args) -> object:
    from calls.models import Call

    out = []
    for call in Call.objects.order_by("pk"):
        item = {
            "id": call.pk,
            "sid": call.call_sid,
            "status": call.status,
            "finalized": call.finalized_at is not None,
        }
        if args.events:
            item["events"] = [
                {"kind": e.kind, "at": e.at.timestamp(), "data": e.data, "message": e.message}
                for e in call.events.all()
            ]
            item["segments"] = [
                {"speaker": s.speaker, "start_ms": s.start_ms, "end_ms": s.end_ms, "text": s.text}
                for s in call.segments.all()
            ]
        out.append(item)
    return out


def cmd_snapshot(args) -> object:
    """The snapshot the demo connector serves (what a call's Conversation is built from)."""
    from connectors.models import PhoneConnector
    from connectors.selectors import connector_resolve_version

    connector = PhoneConnector.objects.get(identifier=args.identifier)
    return connector_resolve_version(connector=connector).snapshot


def cmd_sweep(args) -> object:
    from django.utils import timezone

    from calls.recordings.finalize import calls_sweep_stale

    return {"swept": calls_sweep_stale(now=timezone.now() + timedelta(seconds=args.now_offset))}


def cmd_ended_call(args) -> object:
    """A call that ended normally but is not finalized yet, with `seconds` of spooled audio."""
    import numpy as np
    from django.utils import timezone

    from agents.models import Workspace
    from calls.models import Call, CallStatus
    from calls.recordings.spool import AGENT, CALLER, CallSpool
    from calls.simulator.signing import new_sid
    from stellar.kernel.audio import pcm16_to_ulaw

    workspace = Workspace.objects.get(slug="demo")
    now = timezone.now()
    call = Call.objects.create(
        workspace=workspace,
        call_sid=new_sid("CA"),
        status=CallStatus.COMPLETED,
        answered_at=now - timedelta(seconds=args.seconds),
        ended_at=now,
        stream_ended_at=now,
        last_heartbeat_at=now,
        duration_seconds=int(args.seconds),
    )
    rng = np.random.default_rng(call.pk)
    spool = CallSpool(call.pk)
    frames = int(args.seconds * 50)
    loud = pcm16_to_ulaw((rng.standard_normal(160) * 3000).astype(np.int16))
    quiet = b"\xff" * 160
    for i in range(frames):
        speaking = (i // 150) % 2 == 0  # 3 s caller, 3 s agent, alternating
        spool.write(CALLER, i * 20, loud if speaking else quiet)
        if not speaking:
            spool.write(AGENT, i * 20, loud)
    spool.close()
    return {"id": call.pk, "sid": call.call_sid, "duration_ms": frames * 20}


def cmd_enqueue(args) -> object:
    from calls.tasks import finalize_call

    finalize_call.delay(args.call_id)
    return {"enqueued": args.call_id}


def cmd_recording(args) -> object:
    """Recording rows of a call; duration, and caller/agent energy per second of the WAV."""
    import io
    import wave

    import numpy as np

    from calls.models import Call, Recording

    call = Call.objects.get(pk=args.call_id)
    rows = list(Recording.objects.filter(call=call))
    out = {
        "id": call.pk,
        "status": call.status,
        "finalized": call.finalized_at is not None,
        "recordings": len(rows),
        "events": [e.kind for e in call.events.all()],
    }
    if rows:
        rec = rows[0]
        out.update(duration_ms=rec.duration_ms, size=rec.size_bytes)
        if args.energy:
            with rec.file.open("rb") as f, wave.open(io.BytesIO(f.read())) as w:
                stereo = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
                rate = w.getframerate()
            left, right = stereo[0::2].astype(np.float64), stereo[1::2].astype(np.float64)
            n = len(left) // rate
            out["caller_rms"] = [
                round(float(np.sqrt(np.mean(left[i * rate : (i + 1) * rate] ** 2))), 1)
                for i in range(n)
            ]
            out["agent_rms"] = [
                round(float(np.sqrt(np.mean(right[i * rate : (i + 1) * rate] ** 2))), 1)
                for i in range(n)
            ]
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._dbtool")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("calls")
    p.add_argument("--events", action="store_true")
    p = sub.add_parser("snapshot")
    p.add_argument("--identifier", default="demo-support-line")
    p = sub.add_parser("sweep")
    p.add_argument("--now-offset", type=float, default=3600.0)
    p = sub.add_parser("ended-call")
    p.add_argument("--seconds", type=float, default=300.0)
    p = sub.add_parser("enqueue")
    p.add_argument("call_id", type=int)
    p = sub.add_parser("recording")
    p.add_argument("call_id", type=int)
    p.add_argument("--energy", action="store_true")
    args = parser.parse_args(argv)
    _setup()
    handler = globals()["cmd_" + args.cmd.replace("-", "_")]
    json.dump(handler(args), sys.stdout, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
