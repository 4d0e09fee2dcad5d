"""Place a simulated Twilio call through prod-local's nginx, over https:// and wss://.

    python -m tests.prod_local.call --url https://127.0.0.1:8443 --cafile CERT \
        --say "What are your opening hours?"

Like `manage.py simulate_call`, but it trusts the self-signed certificate of `make prod-local`
(CERT is printed when it starts) for both the webhooks and the media stream. Defaults to the
demo connector of `manage.py stellar_demo`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import sys

DEMO_CONNECTOR = "demo-support-line"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.prod_local.call", description=__doc__)
    parser.add_argument("--url", default="https://127.0.0.1:8443", help="nginx origin")
    parser.add_argument("--public-url", help="STELLAR_PUBLIC_URL of the topology (default --url)")
    parser.add_argument("--cafile", required=True, help="the topology's cert.pem")
    parser.add_argument("--connector", default=DEMO_CONNECTOR, help="connector identifier")
    parser.add_argument("--account-sid", help="default: the demo connector's")
    parser.add_argument("--auth-token", help="default: the demo connector's")
    parser.add_argument("--say", action="append", default=[], help="caller line (repeatable)")
    parser.add_argument("--realtime", type=float, default=1.0, help="caller speed-up factor")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stellar.settings")
    import django

    django.setup()
    from calls.management.commands.stellar_demo import DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN
    from calls.simulator import Say, SimulatedCall, WaitForAgent, format_transcript, simulate_call

    script = [WaitForAgent()]
    for line in args.say:
        script += [Say(line), WaitForAgent()]
    config = SimulatedCall(
        base_url=args.url.rstrip("/"),
        webhook=f"/v1/agents/{args.connector}/twilio-config",
        account_sid=args.account_sid or DEMO_ACCOUNT_SID,
        auth_token=args.auth_token or DEMO_AUTH_TOKEN,
        public_url=args.public_url,
        script=script,
        realtime=args.realtime,
        ssl_context=ssl.create_default_context(cafile=args.cafile),
    )
    result = asyncio.run(simulate_call(config))
    result.transcribe_agent()
    print(format_transcript(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
