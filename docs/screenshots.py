"""Take the Studio screenshots in docs/screenshots/ (rerun after changing the pages).

    .venv/bin/python docs/screenshots.py [--out docs/screenshots] [--keep]

Self-contained: it makes a throwaway SQLite database in a temporary directory, loads the demo
workspace (`manage.py stellar_demo`) plus a little more sample data (a second version, a
secret, calls with transcripts and a recording), starts the Prism mock of Twilio's REST API
(`npm ci` first) and Daphne on free ports, then drives the Debian Chromium with Playwright.
Nothing touches your own var/ directory.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import wave
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.harness.services import (  # noqa: E402
    free_port,
    prism_server,
    spawn,
    stop,
    wait_for_port,
)

CHROMIUM = os.environ.get("STELLAR_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PUBLIC_URL = "https://voice.example.com"
USER, PASSWORD = "demo", "demo-stellar-2026"


def configure(var_dir: Path, prism_url: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="stellar.settings",
        STELLAR_VAR_DIR=str(var_dir),
        STELLAR_WARMUP="0",
        STELLAR_PUBLIC_URL=PUBLIC_URL,
        STELLAR_TWILIO_API_BASE_URL=prism_url,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        # Throwaway keys: the public development keys are refused for a non-loopback URL.
        SECRET_KEY=secrets.token_urlsafe(50),
        STELLAR_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
    )
    os.environ.update(env)
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, check=True)


def sample_wav(seconds: float, bursts: list[tuple[str, int, int]]) -> bytes:
    """A stereo 8 kHz WAV with soft tones where each side speaks (caller left, agent right)."""
    rate = 8000
    frames = bytearray()
    total = int(seconds * rate)
    for i in range(total):
        ms = i * 1000 // rate
        left = right = 0
        for speaker, start, end in bursts:
            if start <= ms < end:
                value = int(
                    3000 * math.sin(2 * math.pi * (220 if speaker == "caller" else 330) * i / rate)
                )
                if speaker == "caller":
                    left = value
                else:
                    right = value
        frames += left.to_bytes(2, "little", signed=True) + right.to_bytes(2, "little", signed=True)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(frames))
    return buffer.getvalue()


def seed() -> dict:
    """More than the demo: a second version, environment values, an API action and calls."""
    import django

    django.setup()
    from django.core.files.base import ContentFile
    from django.utils import timezone

    from agents.config.services import (
        auth_connector_create,
        auth_credentials_set,
        secret_create,
        secret_set_value,
        variable_create,
        variable_set_value,
    )
    from agents.definitions.versions import agent_action_create, agent_publish, agent_update_draft
    from agents.models import Agent, EnvironmentKind, Workspace
    from calls.models import Call, CallEvent, Recording, TranscriptSegment
    from connectors.models import PhoneConnector

    workspace = Workspace.objects.get(slug="demo")
    environments = {e.kind: e for e in workspace.environments.all()}
    agent = Agent.objects.get(workspace=workspace, name="Support agent")
    secret = secret_create(workspace=workspace, name="CRM_API_KEY", description="Orders API key")
    for kind in (EnvironmentKind.DEVELOPMENT, EnvironmentKind.PRODUCTION):
        secret_set_value(secret=secret, environment=environments[kind], value="sk-not-shown")
    secret_create(workspace=workspace, name="SMS_SIGNING_KEY", description="")
    variable = variable_create(workspace=workspace, name="CRM_URL", description="Orders API")
    for kind, url in (
        ("development", "https://crm.dev.example"),
        ("production", "https://crm.example"),
    ):
        variable_set_value(variable=variable, environment=environments[kind], value=url)
    crm = auth_connector_create(workspace=workspace, name="CRM", kind="bearer")
    auth_credentials_set(
        auth_connector=crm, environment=environments["production"], credentials={"token": "t"}
    )
    agent_action_create(
        agent=agent,
        name="order_status",
        description="The caller asks where their order is.",
        kind="api_call",
        config={
            "method": "GET",
            "url": "{{ variables.CRM_URL }}/orders?phone={{ call.from }}",
            "headers": {},
            "body": "",
            "auth_connector": "CRM",
            "timeout_seconds": 5,
            "response_template": "Your order is {{ result.status }}.",
        },
    )
    intents = list(agent.intents) + [
        {
            "name": "order_status",
            "examples": ["where is my order", "track my parcel"],
            "response": "",
            "action": "order_status",
            "digits": "2",
            "context_greeting": "Hi! You pressed 2 for orders. What's your order number?",
        }
    ]
    agent_update_draft(
        agent=agent,
        greeting="Hello, thank you for calling Stellar. How can I help you today?",
        intents=intents,
    )
    agent_publish(agent=agent, note="Order status via the CRM", user=None)

    from agents.tenancy.services import membership_add
    from connectors.services import connector_create

    membership_add(workspace=workspace, email="maria@example.com", role="editor")
    membership_add(workspace=workspace, email="sam@example.com", role="viewer")
    connector = PhoneConnector.objects.get(workspace=workspace)
    connector_create(
        workspace=workspace,
        name="Sales line (testing)",
        agent=agent,
        environment=environments["staging"],
        version_mode="draft",
        twilio_account_sid="AC" + "e" * 32,
        twilio_auth_token="not-a-real-token",
    )
    now = timezone.now()
    lines = [
        ("agent", 0, 3200, "Hello, thank you for calling Stellar. How can I help you today?"),
        ("caller", 3900, 5600, "Hi, when are you open on Friday?"),
        (
            "agent",
            6100,
            10200,
            "We are open Monday to Friday from nine in the morning to six in the evening.",
        ),
        ("caller", 11000, 13400, "Great. I'd like a quote for ten chairs."),
        ("agent", 13900, 16300, "Let me put you through to our sales team."),
    ]
    samples = [
        (
            "CA" + "1" * 32,
            "+31612345678",
            "transferred",
            "+31201234567",
            "v2",
            17,
            lines,
            {"Digits": "1", "FromCountry": "NL"},
        ),
        ("CA" + "2" * 32, "+14155550199", "completed", "", "v2", 42, lines[:3], {}),
        ("CA" + "3" * 32, "+447700900123", "in_progress", "", "v2", None, lines[:2], {}),
        ("CA" + "4" * 32, "+31687654321", "completed", "", "v1", 65, lines[:3], {"Digits": "2"}),
    ]
    calls = []
    for i, (sid, caller, status, transferred, label, seconds, segs, ivr) in enumerate(samples):
        call = Call.objects.create(
            workspace=workspace,
            connector=connector,
            agent=agent,
            agent_version=agent.versions.get(number=int(label[1:])),
            version_label=label,
            environment=connector.environment,
            call_sid=sid,
            from_number=caller,
            to_number="+18089255327",
            status=status,
            transferred_to=transferred,
            outcome="Transferred to sales"
            if transferred
            else ("" if status == "in_progress" else "Caller's question answered"),
            ivr_params=ivr,
            duration_seconds=seconds,
            answered_at=now - timedelta(minutes=40 * i + 2),
            ended_at=None if status == "in_progress" else now - timedelta(minutes=40 * i),
            summary="Asked for opening hours, then a quote for ten chairs; transferred to sales."
            if transferred
            else "",
        )
        Call.objects.filter(pk=call.pk).update(created_at=now - timedelta(minutes=40 * i + 2))
        for speaker, start, end, text in segs:
            TranscriptSegment.objects.create(
                call=call, speaker=speaker, start_ms=start, end_ms=end, text=text
            )
        events = [
            ("webhook", "Twilio webhook (POST) from +18089255327"),
            ("answered", f"Answered by {label} in {connector.environment}"),
            ("stream.start", "Media stream connected (inbound track)"),
        ]
        if transferred:
            events += [
                ("action", "Intent buy → transfer_to_sales"),
                ("handover", f"Handing over to {transferred}"),
                ("dial.completed", "Dial completed after 12 s"),
            ]
        if status != "in_progress":
            events += [
                ("stream.stop", "Media stream ended"),
                ("finalized", "Recording and transcript stored"),
            ]
        for kind, message in events:
            CallEvent.objects.create(call=call, kind=kind, message=message)
        calls.append(call)
    first = calls[0]
    wav = sample_wav(17, [(s, a, b) for s, a, b, _ in lines])
    recording = Recording(call=first, duration_ms=17000, size_bytes=len(wav), sha256="0" * 64)
    recording.file.save(f"{first.call_sid}.wav", ContentFile(wav), save=False)
    recording.save()
    return {"agent": agent.pk, "connector": connector.pk, "call": first.pk}


def shoot(base: str, ids: dict, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    taken: list[Path] = []
    agent, connector, call = ids["agent"], ids["connector"], ids["call"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        page = context.new_page()
        page.set_default_timeout(20_000)

        def snap(name: str, full: bool = True) -> None:
            path = out / f"{name}.png"
            page.screenshot(path=str(path), full_page=full)
            taken.append(path)
            print(f"  {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")

        page.goto(f"{base}/login/")
        snap("login", full=False)
        page.get_by_label("Username", exact=True).fill(USER)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base}/agents/")
        snap("agents")
        page.goto(f"{base}/agents/{agent}/")
        snap("draft-editor")
        page.goto(f"{base}/agents/{agent}/actions/")
        snap("actions")
        page.goto(f"{base}/agents/{agent}/tests/")  # the first visit writes the generated suite
        page.get_by_role("button", name="Run tests").click()
        page.wait_for_selector("#last-run .run-summary")
        snap("agent-tests")
        page.goto(f"{base}/agents/{agent}/handovers/new/phone/")
        page.get_by_label("Name", exact=True).fill("transfer_to_billing")
        page.get_by_label("Description", exact=True).fill(
            "The caller has a question about an invoice."
        )
        page.get_by_label("Destination", exact=True).fill("0612345678")
        page.get_by_role("button", name="Add to draft").click()
        page.wait_for_selector(".errorlist")
        snap("handover-form-error")
        page.goto(f"{base}/agents/{agent}/versions/")
        snap("versions-diff")
        page.goto(f"{base}/environments/")
        snap("environments-secrets")
        page.goto(f"{base}/environments/?tab=auth")
        snap("environments-auth")
        page.goto(f"{base}/connectors/")
        snap("connectors")
        page.goto(f"{base}/connectors/new/")
        page.get_by_label("Agent", exact=True).select_option(label="Support agent")
        page.get_by_label("Pinned: always answers with the version you pick", exact=True).check()
        page.wait_for_selector("#id_pinned_version option:nth-child(2)", state="attached")
        page.locator("#id_pinned_version").select_option(index=1)
        page.get_by_label("Twilio Account SID", exact=True).fill("AC" + "0123456789abcdef" * 2)
        page.get_by_label("Auth Token", exact=True).fill("not-a-real-token")
        snap("connector-add")
        page.goto(f"{base}/connectors/{connector}/")
        snap("connector-webhook")
        page.goto(f"{base}/connectors/{connector}/numbers/")
        page.get_by_role("button", name="Connect").first.click()
        page.wait_for_selector(".number .notice")
        snap("numbers")
        page.goto(f"{base}/connectors/{connector}/diagnostics/")
        snap("diagnostics")
        page.goto(f"{base}/conversations/")
        snap("conversations")
        page.goto(f"{base}/conversations/{call}/")
        page.wait_for_function("document.querySelector('audio').readyState >= 1")
        page.locator("[data-seek]").nth(2).click()
        page.wait_for_timeout(400)
        snap("call-detail")
        page.goto(f"{base}/members/")
        snap("members")
        browser.close()
    return taken


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="stellar-screenshots-"))
    daphne = None
    try:
        with prism_server(tmp) as prism:
            (tmp / "var").mkdir()
            env = configure(tmp / "var", prism.url)
            manage(env, "migrate", "--noinput", "-v0")
            # The demo refuses a public URL others could reach; the pages show voice.example.com.
            manage({**env, "STELLAR_PUBLIC_URL": "http://127.0.0.1:8000"}, "stellar_demo")
            ids = seed()
            port = free_port()
            daphne = spawn(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
                + ["stellar.asgi:application"],
                tmp / "daphne.log",
                env=env,
                cwd=REPO,
            )
            wait_for_port(port, proc=daphne, timeout=60)
            print(f"Screenshots of http://127.0.0.1:{port} into {args.out}:")
            shoot(f"http://127.0.0.1:{port}", ids, args.out)
    finally:
        if daphne is not None:
            stop(daphne)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
