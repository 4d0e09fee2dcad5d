"""Egress: no workspace can make the server request internal addresses (SSRF).

The first case is the exploit from the security review: an editor's API-call action to the
cloud metadata address, triggered on a call, whose response would be spoken and stored.
"""

from __future__ import annotations

import asyncio
import socket

import anyio
import httpx
import pytest

from agents.actions.context import CallContext
from agents.actions.runner import run_action
from agents.engine.llm import LlmBrain
from stellar.kernel import egress
from stellar.kernel.egress import REFUSED, EgressPolicy, EgressRefused, check_addresses
from tests.peers import Reply
from tests.peers.http_api import HttpApiPeer
from tests.peers.openai_server import OpenAIPeer, Rule

NO_EXCEPTIONS: list[str] = []


def api_call(url: str, **config) -> dict:
    return {
        "name": "lookup",
        "description": "Look something up.",
        "kind": "api_call",
        "config": {"method": "GET", "url": url, "response_template": "{{ result }}", **config},
    }


def ctx(**overrides) -> CallContext:
    return CallContext(
        call={"from": "+31612345678", "to": "+31201234567", "sid": "CA1"}, **overrides
    )


def run(action: dict, context: CallContext | None = None):
    return asyncio.run(run_action(action, context or ctx()))


@pytest.fixture
def policy_allows_none(settings):
    settings.STELLAR_EGRESS_ALLOW = NO_EXCEPTIONS


def test_an_api_call_to_the_cloud_metadata_address_is_refused(policy_allows_none):
    # Given an action aimed at the instance metadata service, with the response spoken back
    action = api_call("http://169.254.169.254/latest/meta-data/iam/security-credentials/")
    # When a call triggers it
    result = run(action)
    # Then nothing is fetched and the timeline says why, without detail to probe with
    assert not result.ok
    assert REFUSED in result.outcome
    assert "security-credentials" not in result.say


def test_loopback_services_are_refused_and_never_receive_the_request(policy_allows_none):
    with HttpApiPeer({"/metrics": Reply(body={"secret": "internal"})}) as peer:
        result = run(api_call(peer.url("/metrics")))
        assert peer.requests == []
    assert not result.ok and REFUSED in result.outcome
    assert "internal" not in result.say


def test_an_open_and_a_closed_internal_port_fail_with_the_same_words(policy_allows_none):
    with HttpApiPeer() as peer:
        open_port = run(api_call(peer.url("/")))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    closed_port = run(api_call(f"http://127.0.0.1:{closed}/"))
    strip = lambda outcome: outcome.split(" failed: ")[1]  # noqa: E731
    assert strip(open_port.outcome) == strip(closed_port.outcome)


def test_an_auth_connector_token_url_on_an_internal_address_is_refused(policy_allows_none):
    auth = {
        "crm": {
            "kind": "oauth2_cc",
            "token_url": "http://10.0.0.5/token",
            "allowed_hosts": ["api.example.com"],
            "credentials": {"client_id": "stellar-id-77", "client_secret": "shh-secret-99"},
        }
    }
    result = run(api_call("https://api.example.com/orders", auth_connector="crm"), ctx(auth=auth))
    assert not result.ok
    assert "did not answer" in result.outcome and REFUSED in result.outcome


def test_an_llm_base_url_on_loopback_is_refused(policy_allows_none):
    with OpenAIPeer([Rule(text="leaked")], api_key="k") as peer:
        brain = LlmBrain(
            {"system_prompt": "", "knowledge": [], "actions": [], "handover_actions": []},
            CallContext(call={}, llm={"base_url": peer.base_url, "model": "m", "api_key": "k"}),
        )

        async def turn():
            return [e async for e in brain.turn([], "hello")]

        events = asyncio.run(turn())
        assert peer.requests == []
    assert all("leaked" not in repr(e) for e in events)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.9.9.9",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "198.18.0.1",
        "192.0.2.1",
        "240.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "fec0::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    ],
)
def test_internal_addresses_of_every_kind_are_refused(address):
    with pytest.raises(EgressRefused):
        check_addresses(EgressPolicy(), "host.example", [address])


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert check_addresses(EgressPolicy(), "host.example", [address]) == address


def test_a_name_resolving_to_one_public_and_one_internal_address_is_refused():
    with pytest.raises(EgressRefused):
        check_addresses(EgressPolicy(), "mixed.example", ["93.184.216.34", "10.0.0.1"])


def test_the_operator_allows_networks_and_host_names_explicitly():
    policy = EgressPolicy.from_entries(["10.20.0.0/16", "LLM.internal.", " "])
    assert check_addresses(policy, "x", ["10.20.1.1"]) == "10.20.1.1"
    assert check_addresses(policy, "llm.internal", ["192.168.1.1"]) == "192.168.1.1"
    with pytest.raises(EgressRefused):
        check_addresses(policy, "x", ["10.21.0.1"])


def test_redirects_are_not_followed():
    # An allowed peer answers with a redirect to the metadata address: the action sees the 302.
    redirect = Reply(302, {"moved": True}, headers={"Location": "http://169.254.169.254/"})
    with HttpApiPeer({"/go": redirect}) as peer:
        result = run(api_call(peer.url("/go")))
        assert [r.path for r in peer.requests] == ["/go"]
    assert "HTTP 302" in result.outcome


def test_the_connection_goes_to_the_checked_address_not_a_second_lookup(monkeypatch):
    # A name only our resolver knows: if the OS resolved it again the request could not connect,
    # so a success proves the socket went to the address the policy checked.
    async def fake_getaddrinfo(host, port, **kwargs):
        assert host == "peer.rebind.test"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(anyio, "getaddrinfo", fake_getaddrinfo)
    with HttpApiPeer({"/ok": Reply(body={"ok": True})}) as peer:
        port = peer.root_url.rsplit(":", 1)[1]
        policy = EgressPolicy.from_entries(["peer.rebind.test"])

        async def fetch():
            async with egress.egress_client(timeout=5, policy=policy) as client:
                return await client.get(f"http://peer.rebind.test:{port}/ok")

        response = asyncio.run(fetch())
        assert response.json() == {"ok": True}
        assert peer.requests[0].headers["host"] == f"peer.rebind.test:{port}"


def test_an_unresolvable_name_fails_like_a_refusal():
    async def fetch():
        async with egress.egress_client(timeout=5, policy=EgressPolicy()) as client:
            await client.get("http://does-not-exist.invalid/")

    with pytest.raises(httpx.TransportError, match=REFUSED):
        asyncio.run(fetch())
