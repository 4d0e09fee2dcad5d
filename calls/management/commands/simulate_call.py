"""`manage.py simulate_call`: ring an agent like Twilio would, and print both sides of the call."""

from __future__ import annotations

import argparse
import asyncio
import ssl
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from calls.simulator import (
    DIAL_STATUSES,
    Audio,
    CallResult,
    Digits,
    Say,
    ServerRecord,
    SimulatedCall,
    Step,
    WaitForAgent,
    format_transcript,
    simulate_call,
    write_wav,
)

if TYPE_CHECKING:  # imported when needed: remote runs may have no app database to read
    from connectors.models import PhoneConnector

# Same shape as PhoneConnector.webhook_path, for remote runs where no database is reachable.
WEBHOOK_PATH = "/v1/agents/{identifier}/twilio-config"
# Timeline events that mean the call failed inside although Twilio saw nothing wrong.
PROBLEM_EVENTS = ("llm_error", "error")
FAST = 5.0
SERVER_RECORD_WAIT = 5.0  # seconds to wait for the server to write the call's last lines


class _AppendStep(argparse.Action):
    """--say/--wav/--digits share one list so the caller's steps keep their command-line order."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        steps = list(getattr(namespace, self.dest, None) or [])
        steps.append((self.const, values))
        setattr(namespace, self.dest, steps)


def _param(text: str) -> tuple[str, str]:
    """Parse one --param K=V."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected K=V, got {text!r}")
    return key, value


class Command(BaseCommand):
    help = (
        "Place a simulated Twilio call (signed webhook, TwiML, media stream) against a "
        "Stellar server and print a transcript of both sides with timings."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="server to connect to")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--connector", metavar="IDENTIFIER", help="phone connector identifier")
        target.add_argument("--webhook-url", help="full public voice webhook URL")
        parser.add_argument(
            "--public-url", help="origin the server signs with (STELLAR_PUBLIC_URL); default --url"
        )
        parser.add_argument("--account-sid", help="Twilio Account SID (looked up for --connector)")
        parser.add_argument("--auth-token", help="Twilio auth token (looked up for --connector)")
        parser.add_argument("--from", dest="from_", default="+15005550006", help="caller number")
        parser.add_argument("--to", default="+15005550001", help="called number")
        parser.add_argument("--method", default="POST", type=str.upper, choices=["GET", "POST"])
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            type=_param,
            metavar="K=V",
            help="extra IVR parameter in the webhook query string (repeatable)",
        )
        for flag, kind, metavar, what in (
            ("--say", "say", "TEXT", "caller says TEXT (TTS)"),
            ("--wav", "wav", "PATH", "caller plays a WAV file"),
            ("--digits", "digits", "D", "caller presses keys"),
        ):
            parser.add_argument(
                flag,
                dest="steps",
                action=_AppendStep,
                const=kind,
                metavar=metavar,
                help=f"{what}; repeatable, order kept, each followed by waiting for the agent",
            )
        parser.add_argument(
            "--dial-status",
            action="append",
            default=[],
            choices=DIAL_STATUSES,
            help="DialCallStatus to report for each <Dial> in turn (default completed)",
        )
        parser.add_argument(
            "--fast",
            nargs="?",
            type=float,
            const=FAST,
            default=None,
            metavar="FACTOR",
            help=f"speed up the caller's side (default factor {FAST:g}); for testing only",
        )
        parser.add_argument(
            "--wait",
            type=float,
            default=20.0,
            metavar="SECONDS",
            help="how long to wait for each agent turn",
        )
        parser.add_argument("--no-transcribe", action="store_true", help="skip STT of agent audio")
        parser.add_argument(
            "--cafile", help="trust this CA/certificate for https/wss (e.g. make prod-local's)"
        )
        parser.add_argument("--save-audio", metavar="PATH", help="write the agent's audio (WAV)")

    def handle(self, *args: Any, **options: Any) -> None:
        webhook, account_sid, auth_token = self._target(options)
        config = SimulatedCall(
            base_url=options["url"].rstrip("/"),
            webhook=webhook,
            account_sid=account_sid,
            auth_token=auth_token,
            from_=options["from_"],
            to=options["to"],
            method=options["method"],
            extra_params=dict(options["param"]),
            script=self._script(options.get("steps") or [], options["wait"]),
            realtime=options["fast"] or True,
            public_url=options["public_url"],
            dial_statuses=list(options["dial_status"]),
            ssl_context=ssl.create_default_context(cafile=options["cafile"])
            if options["cafile"]
            else None,
        )
        try:
            result = asyncio.run(simulate_call(config))
        except ImportError as exc:
            raise CommandError(f"speech engine unavailable ({exc}); use --wav instead") from exc
        if options["connector"]:  # the local database is the server's: read its own record
            record = self._server_record(result.call_sid)
            if record is not None:
                result.attach_server_record(record)
        self._transcribe(result, options["no_transcribe"])
        self.stdout.write(format_transcript(result))
        if options["save_audio"]:
            write_wav(options["save_audio"], result.agent_audio)
            self.stdout.write(f"Agent audio written to {options['save_audio']}")
        if not result.webhook_ok:
            raise CommandError("the voice webhook failed")
        if result.stream_refused:
            raise CommandError("the media stream was refused")

    def _target(self, options: dict[str, Any]) -> tuple[str, str, str]:
        """Webhook, Account SID and token: from the flags, else from the local connector."""
        sid, token = options["account_sid"], options["auth_token"]
        if options["webhook_url"]:
            if not (sid and token):
                raise CommandError("--webhook-url needs --account-sid and --auth-token")
            return options["webhook_url"], sid, token
        identifier = options["connector"]
        webhook = WEBHOOK_PATH.format(identifier=identifier)
        if sid and token:
            return webhook, sid, token
        connector = self._lookup(identifier)
        webhook = getattr(connector, "webhook_path", webhook)
        return webhook, sid or connector.twilio_account_sid, token or connector.get_auth_token()

    def _lookup(self, identifier: str) -> PhoneConnector:
        """The connector from the local database, when there is one."""
        try:
            from connectors.models import PhoneConnector  # needs a configured Django project
        except ImportError as exc:
            raise CommandError(
                f"cannot look up connectors here ({exc}); pass --account-sid and --auth-token"
            ) from exc
        try:
            return PhoneConnector.objects.get(identifier=identifier)
        except PhoneConnector.DoesNotExist as exc:
            raise CommandError(f"no phone connector with identifier {identifier!r}") from exc
        except DatabaseError as exc:
            raise CommandError(
                f"no database to look the connector up ({exc}); pass --account-sid and --auth-token"
            ) from exc

    def _server_record(self, call_sid: str) -> ServerRecord | None:
        """The server's record of the call (version, agent lines), once its stream is closed
        and the lines are written; None when this database does not have the call."""
        try:
            from calls.models import Call, Speaker  # needs a configured Django project
        except ImportError:
            return None
        deadline = time.monotonic() + SERVER_RECORD_WAIT
        try:
            while True:
                call = Call.objects.select_related("agent").filter(call_sid=call_sid).first()
                if call is None:  # another server's database
                    return None
                if call.stream_ended_at is not None or call.answered_at is None:
                    break
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            lines = call.segments.filter(speaker=Speaker.AGENT).order_by("start_ms", "pk")
            problems = call.events.filter(kind__in=PROBLEM_EVENTS).order_by("at", "pk")
            return ServerRecord(
                agent=call.agent.name if call.agent else "",
                version=call.version_label,
                outcome=call.outcome,
                agent_lines=[s.text for s in lines],
                problems=[e.message for e in problems],
            )
        except DatabaseError as exc:
            self.stderr.write(f"Could not read the server's record of the call ({exc}).")
            return None

    @staticmethod
    def _script(steps: list[tuple[str, str]], wait: float) -> list[Step]:
        """Hear the greeting, then each caller step followed by the agent's answer."""
        script: list[Step] = [WaitForAgent(timeout=wait)]
        for kind, value in steps:
            if kind == "say":
                script.append(Say(value))
            elif kind == "wav":
                script.append(Audio(value))
            else:
                script.append(Digits(value))
            script.append(WaitForAgent(timeout=wait))
        return script

    def _transcribe(self, result: CallResult, skip: bool) -> None:
        """Fill the agent lines with STT text, unless skipped or unavailable."""
        if skip or not result.agent_utterances:
            return
        try:
            result.transcribe_agent()
        except ImportError as exc:
            self.stderr.write(f"No speech-to-text available ({exc}); showing durations only.")
