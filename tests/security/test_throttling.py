"""Throttling: login guessing is bounded per account and per address, behind the proxy too.

The first case is the exploit from the security review: the throttle keyed on the address Daphne
takes from the client-controlled X-Forwarded-For, so a new made-up address per attempt gave
unlimited guesses at one account.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from daphne.utils import parse_x_forwarded_for
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from agents.tenancy.login import MAX_ADDRESS_FAILURES, MAX_FAILURES

pytestmark = pytest.mark.django_db

NGINX_SITE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "stellar.conf"
PASSWORD = "the-right-password-77"


@pytest.fixture
def victim():
    cache.clear()
    user = get_user_model().objects.create_user("victim", password=PASSWORD, is_staff=True)
    yield user
    cache.clear()


def attempt(path: str, username: str, password: str, *, address: str) -> int:
    response = Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password})
    return response.status_code


def test_guessing_one_password_from_a_new_address_each_time_is_stopped(victim):
    # Given an attacker who appears to come from a different address on every attempt
    addresses = [f"203.0.113.{n}" for n in range(1, MAX_FAILURES + 3)]
    # When they guess the victim's password again and again
    statuses = [attempt("/login/", "victim", f"guess-{a}", address=a) for a in addresses]
    # Then the account is paused after MAX_FAILURES, whatever the address, even for the right one
    assert statuses[: MAX_FAILURES - 1] == [200] * (MAX_FAILURES - 1)
    assert set(statuses[MAX_FAILURES - 1 :]) == {429}
    assert attempt("/login/", "victim", PASSWORD, address="198.51.100.99") == 429


def test_nginx_overwrites_x_forwarded_for_with_the_peer_address():
    # Given the shipped nginx site (prod-local runs this very file)
    site = NGINX_SITE.read_text()
    # When Django's proxy headers are set
    headers = dict(re.findall(r"proxy_set_header\s+(X-Forwarded-For)\s+([^;]+);", site))
    # Then X-Forwarded-For is the peer's address only: nothing the client sent survives
    assert headers == {"X-Forwarded-For": "$remote_addr"}
    assert "$proxy_add_x_forwarded_for" not in site


def test_daphne_would_believe_a_forged_leftmost_address_so_nginx_must_not_append():
    # Given the header as the old config sent it (the client's value, then the peer's) and as
    # the shipped config sends it now (the peer's only)
    appended = {b"x-forwarded-for": [b"192.0.2.66, 192.0.2.10"]}
    overwritten = {b"x-forwarded-for": [b"192.0.2.10"]}
    # When Daphne reads them with --proxy-headers
    forged, _ = parse_x_forwarded_for(appended, original_addr=["127.0.0.1", 5000])
    real, _ = parse_x_forwarded_for(overwritten, original_addr=["127.0.0.1", 5000])
    # Then appending lets the client choose its address; overwriting gives the peer nginx saw
    assert forged == ["192.0.2.66", 0]
    assert real == ["192.0.2.10", 0]


def test_one_address_spraying_many_accounts_is_stopped(victim):
    # Given an attacker at one address trying one password against many usernames
    statuses = [
        attempt("/login/", f"user{n}", "Winter2026!", address="203.0.113.7")
        for n in range(MAX_ADDRESS_FAILURES + 1)
    ]
    # Then that address is paused, for every account
    assert statuses[-1] == 429
    assert attempt("/login/", "victim", PASSWORD, address="203.0.113.7") == 429


def test_a_paused_attacker_address_does_not_lock_out_the_victim_at_theirs(victim):
    # Given an attacker who used up their address's quota on other accounts
    for n in range(MAX_ADDRESS_FAILURES):
        attempt("/login/", f"user{n}", "wrong", address="203.0.113.7")
    # When the victim signs in from their own address
    status = attempt("/login/", "victim", PASSWORD, address="198.51.100.20")
    # Then they get in
    assert status == 302


def test_a_successful_sign_in_does_not_reset_the_address_counter(victim):
    # Given an attacker with one valid account of their own, spraying from one address
    get_user_model().objects.create_user("attacker", password=PASSWORD)
    for n in range(MAX_ADDRESS_FAILURES - 1):
        attempt("/login/", f"user{n}", "wrong", address="203.0.113.7")
    # When they sign in to their own account in between
    assert attempt("/login/", "attacker", PASSWORD, address="203.0.113.7") == 302
    # Then the spray is still counted
    assert attempt("/login/", "user-next", "wrong", address="203.0.113.7") == 429


def test_the_admin_login_is_behind_the_same_throttle(victim):
    # Given guesses at a staff account through Django admin's own login page
    statuses = [
        attempt("/admin/login/", "victim", f"guess-{n}", address=f"203.0.113.{n}")
        for n in range(1, MAX_FAILURES + 2)
    ]
    # Then admin pauses the account too, and the Studio login agrees
    assert statuses[: MAX_FAILURES - 1] == [200] * (MAX_FAILURES - 1)
    assert statuses[-1] == 429
    assert attempt("/login/", "victim", PASSWORD, address="198.51.100.1") == 429


def test_the_admin_login_still_signs_staff_in(victim):
    # Given a staff member with the right password
    status = attempt("/admin/login/", "victim", PASSWORD, address="198.51.100.1")
    # Then admin lets them in as before
    assert status == 302
