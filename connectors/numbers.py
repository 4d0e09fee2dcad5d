"""A connector's Twilio phone numbers: list them, point one at the connector, and diagnose.

Plain functions over the real `twilio` client (`twilio_client_for`). Every Twilio or network
failure becomes a `TwilioProblem` whose message says what went wrong and how to fix it, so
Studio can show it instead of a stack trace.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import phonenumbers
import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from twilio.base.exceptions import TwilioException, TwilioRestException

from agents.config.llm import API_KEY_SECRET, BASE_URL_VARIABLE, MODEL_VARIABLE, llm_missing
from connectors.models import PhoneConnector
from connectors.selectors import Resolution, connector_resolve_version
from connectors.twilio_client import twilio_client_for
from stellar.kernel.phone import normalize_e164

STUDIO_FLOW_URL = re.compile(r"^https://webhooks\.twilio\.com/v1/Accounts/[^/]+/Flows/", re.I)
ALERT_WINDOW = timedelta(days=1)
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0")  # noqa: S104 (a name, not a bind)


CREDENTIALS_REJECTED = 20003  # Twilio's "Authenticate" error


class TwilioProblem(Exception):
    """A Twilio REST call failed; `str()` is a message for the user, with the fix."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        unreachable: bool = False,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.unreachable = unreachable  # no answer from Twilio at all (network, DNS, timeout)

    @property
    def bad_credentials(self) -> bool:
        return self.status == 401 or self.code == CREDENTIALS_REJECTED


def network_reason(exc: requests.RequestException) -> str:
    """Why Twilio could not be reached, in words: timeout, DNS, connection refused."""
    text = str(exc)
    if isinstance(exc, requests.Timeout):
        return "Twilio did not answer in time (timeout)"
    if "NameResolution" in text or "Name or service not known" in text or "getaddrinfo" in text:
        return "the Twilio API's host name could not be resolved (DNS)"
    if "Connection refused" in text or "ConnectionRefused" in text:
        return "the connection was refused"
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS handshake failed"
    return f"the connection failed ({type(exc).__name__})"


class NeedsConfirmation(Exception):
    """The number belongs to a Twilio Studio flow, a TwiML app or a trunk."""


def _rest_failure(exc: Exception) -> tuple[int, int | None, str] | None:
    """(HTTP status, Twilio error code, message) of a failed REST call, if it got an answer.

    Single-resource calls raise TwilioRestException; list pages raise a plain
    TwilioException("Unable to fetch page", response).
    """
    if isinstance(exc, TwilioRestException):
        return exc.status, exc.code, exc.msg
    response = exc.args[1] if len(exc.args) > 1 else None
    status = getattr(response, "status_code", None)
    if response is None or status is None:
        return None
    try:
        payload = json.loads(response.text or "{}")
    except ValueError:
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    return status, payload.get("code"), str(payload.get("message") or payload.get("title") or "")


def twilio_problem(exc: Exception, doing: str) -> TwilioProblem:
    """Translate a client exception into a message a Studio user can act on."""
    if isinstance(exc, requests.RequestException):
        return TwilioProblem(
            f"Could not reach Twilio while {doing}: {network_reason(exc)}. Check this server's "
            "internet connection (and proxy settings), then try again.",
            unreachable=True,
        )
    failure = _rest_failure(exc)
    if failure is None:
        return TwilioProblem(f"Twilio failed while {doing}: {exc}")
    status, code, message = failure
    detail = f"HTTP {status}" + (f", Twilio error {code}" if code else "")
    if status == 401:
        text = (
            f"Twilio rejected this connector's credentials while {doing} ({detail}). "
            "Check the Account SID and Auth Token in the connector's settings."
        )
    elif status == 404:
        text = (
            f"Twilio could not find that while {doing} ({detail}). The number may have been "
            "released or belong to another account."
        )
    else:
        text = f"Twilio refused the request while {doing} ({detail})" + (
            f": {message}" if message else "."
        )
    return TwilioProblem(text, status=status, code=code)


@dataclass(frozen=True)
class NumberView:
    """One IncomingPhoneNumber as Studio shows it."""

    sid: str
    phone_number: str
    friendly_name: str
    voice_url: str
    voice_method: str
    status: str
    voice_application_sid: str
    trunk_sid: str
    voice_capable: bool
    points_here: bool

    @property
    def owner(self) -> str:
        """What currently answers this number's calls, if something other than a webhook."""
        if self.trunk_sid:
            return "trunk"
        if self.voice_application_sid:
            return "twiml_app"
        if STUDIO_FLOW_URL.match(self.voice_url):
            return "studio_flow"
        return ""

    @property
    def owner_label(self) -> str:
        return {
            "trunk": f"an Elastic SIP trunk ({self.trunk_sid})",
            "twiml_app": f"a TwiML app ({self.voice_application_sid})",
            "studio_flow": "a Twilio Studio flow",
        }.get(self.owner, "")

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.owner) and not self.points_here


def _number_view(number: Any, connector: PhoneConnector) -> NumberView:
    capabilities = getattr(number, "capabilities", None) or {}
    voice_url = number.voice_url or ""
    return NumberView(
        sid=number.sid,
        phone_number=number.phone_number or "",
        friendly_name=number.friendly_name or "",
        voice_url=voice_url,
        voice_method=(number.voice_method or "POST").upper(),
        status=number.status or "",
        voice_application_sid=number.voice_application_sid or "",
        trunk_sid=number.trunk_sid or "",
        voice_capable=bool(capabilities.get("voice", True)),
        points_here=points_at(voice_url, connector),
    )


def points_at(voice_url: str, connector: PhoneConnector) -> bool:
    """True when `voice_url` is this connector's webhook (ignoring a query string)."""
    return bool(voice_url) and voice_url.split("?", 1)[0].rstrip("/") == connector.webhook_url


def number_list(*, connector: PhoneConnector) -> list[NumberView]:
    client = twilio_client_for(connector)
    try:
        numbers = client.incoming_phone_numbers.list(limit=200)
    except (TwilioException, requests.RequestException) as exc:
        raise twilio_problem(exc, "listing the account's phone numbers") from exc
    return [_number_view(n, connector) for n in numbers]


def number_get(*, connector: PhoneConnector, sid: str) -> NumberView:
    client = twilio_client_for(connector)
    try:
        number = client.incoming_phone_numbers(sid).fetch()
    except (TwilioException, requests.RequestException) as exc:
        raise twilio_problem(exc, "looking up the number") from exc
    return _number_view(number, connector)


def number_connect(*, connector: PhoneConnector, sid: str, confirmed: bool = False) -> NumberView:
    """Point the number's voice webhook at the connector (POST).

    A number answered by a Studio flow, TwiML app or trunk is only taken over when the user
    confirmed it; then the app / trunk link is removed too, since Twilio would otherwise keep
    ignoring the voice URL.
    """
    current = number_get(connector=connector, sid=sid)
    if current.needs_confirmation and not confirmed:
        raise NeedsConfirmation(
            f"{current.phone_number} is answered by {current.owner_label}. Connecting it sends "
            "its calls to this agent instead; confirm to overwrite."
        )
    changes: dict[str, str] = {"voice_url": connector.webhook_url, "voice_method": "POST"}
    if current.voice_application_sid:
        changes["voice_application_sid"] = ""
    if current.trunk_sid:
        changes["trunk_sid"] = ""
    _update(connector, sid, changes, f"connecting {current.phone_number}")
    return _replace(current, connector, **changes)


def number_disconnect(*, connector: PhoneConnector, sid: str) -> NumberView:
    """Remove the voice webhook, only if it is this connector's (never someone else's)."""
    current = number_get(connector=connector, sid=sid)
    if not current.points_here:
        raise TwilioProblem(f"{current.phone_number} does not point at this connector.")
    _update(connector, sid, {"voice_url": ""}, f"disconnecting {current.phone_number}")
    return _replace(current, connector, voice_url="")


def _update(connector: PhoneConnector, sid: str, changes: dict[str, str], doing: str) -> None:
    client = twilio_client_for(connector)
    try:
        client.incoming_phone_numbers(sid).update(**changes)
    except (TwilioException, requests.RequestException) as exc:
        raise twilio_problem(exc, doing) from exc


def _replace(number: NumberView, connector: PhoneConnector, **changes: str) -> NumberView:
    """What the number looks like after our update (the mock answers canned data)."""
    fields = {**number.__dict__, **changes}
    fields["points_here"] = points_at(fields["voice_url"], connector)
    return NumberView(**fields)


# --- Diagnostics --------------------------------------------------------------------------

PASS, FAIL, WARN, UNKNOWN, INFO = "pass", "fail", "warn", "unknown", "info"


@dataclass(frozen=True)
class Check:
    title: str
    status: str  # pass / fail / warn / unknown / info
    detail: str = ""
    fix: str = ""
    items: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Diagnosis:
    checks: list[Check]
    numbers: list[NumberView]  # the account's numbers (empty when they could not be listed)
    checked: list[NumberView]  # the numbers the per-number checks are about

    @property
    def failed(self) -> int:
        return sum(c.status == FAIL for c in self.checks)


def connector_diagnostics(*, connector: PhoneConnector, number_sid: str = "") -> Diagnosis:
    """The troubleshooting list, each answered pass/fail with the fix.

    Per-number checks cover `number_sid` when given, else the numbers that point at the
    connector, else the account's first number (whose webhook check then fails).
    """
    checks = [public_url_check(), _answering_check(connector)]
    numbers: list[NumberView] = []
    checked: list[NumberView] = []
    try:
        numbers = number_list(connector=connector)
    except TwilioProblem as exc:
        checks.append(_account_problem_check(exc))
    else:
        checks.append(Check("Twilio credentials", PASS, "Twilio accepted the connector's keys."))
        chosen = [n for n in numbers if n.sid == number_sid]
        checked = chosen or [n for n in numbers if n.points_here] or numbers[:1]
        if not numbers:
            checks.append(
                Check(
                    "A phone number",
                    FAIL,
                    "This Twilio account has no phone numbers.",
                    "Buy a voice-capable number in the Twilio console (Phone Numbers → Buy a "
                    "number), then connect it on the Numbers tab.",
                )
            )
        for number in checked:
            checks.extend(_number_checks(connector, number))
    checks.extend(_handover_checks(connector))
    return Diagnosis(checks=checks, numbers=numbers, checked=checked)


def _account_problem_check(problem: TwilioProblem) -> Check:
    """Listing the numbers failed: a network problem, rejected keys, or another refusal."""
    if problem.unreachable:
        return Check(
            "Reaching Twilio",
            FAIL,
            str(problem),
            "This is a network problem on this server, not the connector's keys (they could "
            "not be checked): check DNS, the firewall and HTTPS_PROXY, then run again.",
        )
    if problem.bad_credentials:
        return Check(
            "Twilio credentials",
            FAIL,
            str(problem),
            "Enter the Account SID and Auth Token from the Twilio console (Account → API keys "
            "& tokens) in the connector's Settings tab.",
        )
    return Check(
        "Twilio account",
        FAIL,
        str(problem),
        "Look at Monitor → Logs → Errors in the Twilio console for this request.",
    )


def public_url_check() -> Check:
    public = settings.STELLAR_PUBLIC_URL
    parts = urlsplit(public)
    if parts.hostname in LOCAL_HOSTS or (parts.hostname or "").endswith(".local"):
        return Check(
            "Public HTTPS URL",
            FAIL,
            f"The public URL is {public}, which Twilio cannot reach from the internet.",
            "Set STELLAR_PUBLIC_URL to your public https origin (your domain, or a tunnel such "
            "as ngrok or cloudflared that forwards to this server), restart, then reconnect "
            "the number so it gets the new webhook URL.",
        )
    if parts.scheme != "https":
        return Check(
            "Public HTTPS URL",
            FAIL,
            f"The public URL {public} is not HTTPS. Twilio media streams need wss://.",
            "Serve Stellar over HTTPS (TLS at your load balancer or tunnel) and set "
            "STELLAR_PUBLIC_URL to the https:// origin.",
        )
    return Check("Public HTTPS URL", PASS, f"Twilio reaches this server at {public}.")


def _answering_check(connector: PhoneConnector) -> Check:
    resolution = connector_resolve_version(connector=connector)
    snapshot = resolution.snapshot or {}
    if resolution.ok and snapshot.get("brain") == "llm":
        missing = llm_missing(
            environment=connector.environment, llm_model=snapshot.get("llm_model") or ""
        )
        if missing:
            return Check(
                "A version can answer",
                FAIL,
                f"{answering_label(resolution)} uses the LLM brain, but the "
                f"{connector.environment} environment lacks {', '.join(missing)}; every "
                "caller would only hear an apology.",
                f"In Settings → Environments give {connector.environment} the variable "
                f"{BASE_URL_VARIABLE}, the secret {API_KEY_SECRET} and a model (the agent's "
                f"LLM model or the variable {MODEL_VARIABLE}), or publish a version with the "
                "Embedded brain.",
            )
    if resolution.ok:
        return Check("A version can answer", PASS, answering_label(resolution))
    return Check(
        "A version can answer",
        FAIL,
        resolution.reason,
        "Publish a version of the agent, change the version mode, or enable the connector. "
        "Until then callers hear an apology and the call ends.",
    )


def _number_checks(connector: PhoneConnector, number: NumberView) -> list[Check]:
    name = number.phone_number
    if number.points_here:
        webhook = Check(
            f"{name}: webhook URL", PASS, f"“A call comes in” calls {number.voice_url}."
        )
    else:
        webhook = Check(
            f"{name}: webhook URL",
            FAIL,
            f"“A call comes in” calls {number.voice_url or 'nothing'}, not this connector.",
            "Press Connect for this number on the Numbers tab, or in the Twilio console set "
            f"its “A call comes in” webhook to {connector.webhook_url}.",
        )
    method_ok = number.voice_method in ("GET", "POST")
    checks = [
        webhook,
        Check(
            f"{name}: HTTP method",
            PASS if method_ok else FAIL,
            f"Twilio uses HTTP {number.voice_method}; Stellar accepts GET and POST.",
            "" if method_ok else "Choose HTTP POST.",
        ),
    ]
    if number.owner in ("trunk", "twiml_app"):
        checks.append(
            Check(
                f"{name}: voice URL is used",
                FAIL,
                f"The number is attached to {number.owner_label}, so Twilio ignores its voice URL.",
                "Press Connect on the Numbers tab and confirm, or detach it in the console.",
            )
        )
    active = number.status in ("in-use", "") and number.voice_capable
    checks.append(
        Check(
            f"{name}: number active",
            PASS if active else FAIL,
            f"Status {number.status or 'unknown'}"
            + ("" if number.voice_capable else ", not voice capable"),
            "" if active else "Use an active, voice-capable number from this account.",
        )
    )
    checks.append(_alerts_check(connector, number))
    return checks


def _alerts_check(connector: PhoneConnector, number: NumberView) -> Check:
    """Recent Twilio debugger alerts (Monitor API) that mention the number or our webhook."""
    title = f"{number.phone_number}: recent Twilio errors"
    client = twilio_client_for(connector)
    if settings.STELLAR_TWILIO_API_BASE_URL:  # the same local mock serves every domain
        client.monitor.base_url = settings.STELLAR_TWILIO_API_BASE_URL.rstrip("/")
    try:
        alerts = client.monitor.v1.alerts.list(start_date=timezone.now() - ALERT_WINDOW, limit=50)
    except (TwilioException, requests.RequestException) as exc:
        failure = None if isinstance(exc, requests.RequestException) else _rest_failure(exc)
        reason = f"HTTP {failure[0]}" if failure else type(exc).__name__
        return Check(
            title,
            UNKNOWN,
            f"Could not read Twilio's debugger alerts (Monitor API: {reason}).",
            "Look at Monitor → Logs → Errors in the Twilio console.",
        )
    needles = (number.phone_number, quote(number.phone_number), connector.webhook_path)
    relevant = [
        a
        for a in alerts
        if any(n and n in f"{a.alert_text or ''} {a.request_url or ''}" for n in needles)
    ]
    if not relevant:
        return Check(title, PASS, "No Twilio errors for this number in the last 24 hours.")
    items = [
        " ".join(
            part
            for part in (
                f"Error {a.error_code}",
                f"at {a.date_created:%Y-%m-%d %H:%M} UTC" if a.date_created else "",
                a.more_info or "",
            )
            if part
        )
        for a in relevant[:5]
    ]
    return Check(
        title,
        FAIL,
        f"{len(relevant)} Twilio error(s) in the last 24 hours.",
        "11200: Twilio could not reach the webhook (public URL, TLS, server down). 12100/12300: "
        "the webhook did not answer TwiML (wrong URL). 13227/21215: the handover country is "
        "not enabled in Voice geographic permissions.",
        items,
    )


def _handover_checks(connector: PhoneConnector) -> list[Check]:
    resolution = connector_resolve_version(connector=connector)
    snapshot = resolution.snapshot or {}
    phones = [h for h in snapshot.get("handover_actions", []) if h.get("kind", "phone") == "phone"]
    if not phones:
        return []
    bad, countries = [], set()
    for handover in phones:
        for number in [handover.get("destination", "")] + list(
            handover.get("extra_destinations", [])
        ):
            try:
                parsed = phonenumbers.parse(normalize_e164(number), None)
            except ValidationError as exc:
                bad.append(f"{handover['name']}: {' '.join(exc.messages)}")
                continue
            region = phonenumbers.region_code_for_number(parsed)
            countries.add(f"{region} (+{parsed.country_code})")
    checks = [
        Check(
            "Handover destinations",
            FAIL if bad else PASS,
            "Some destinations are not valid E.164 numbers."
            if bad
            else "Every destination is a valid E.164 number.",
            "Edit the handover actions, include the country code, and publish again."
            if bad
            else "",
            bad,
        )
    ]
    if countries:
        checks.append(
            Check(
                "Outbound calling to handover countries",
                INFO,
                "Handovers dial out from your Twilio account to: "
                + ", ".join(sorted(countries))
                + ".",
                "In the Twilio console open Voice → Settings → Geo permissions and allow those "
                "countries, otherwise transfers fail (DialCallStatus=failed, error 13227).",
            )
        )
    return checks


def answering_label(resolution: Resolution) -> str:
    """“v3 (latest published)”, “the draft (Draft mode)” or “v2 (pinned)”."""
    if not resolution.ok:
        return ""
    if resolution.label == "draft":
        return "the draft (Draft mode)"
    if resolution.reason.startswith("Pinned"):
        return f"{resolution.label} (pinned)"
    return f"{resolution.label} (latest published)"
