"""Signing in to Studio: a login view with failure throttling, password reset pages, and the
invitation email (a password-set link made by Django's password-reset machinery).

Throttling counts failed attempts twice, in the cache (use a shared cache such as Redis when
running several processes): per account, whatever the address (`MAX_FAILURES` within
`LOCK_SECONDS`: guessing from many addresses does not help), and per address, whatever the
account (`MAX_ADDRESS_FAILURES`: one address cannot spray many accounts). The address is
REMOTE_ADDR, which Daphne takes from X-Forwarded-For: the proxy must overwrite that header with
the peer's address (deploy/nginx/stellar.conf), or anyone can pose as anyone. The admin login
(`admin_login`) sits behind the same counters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.contrib.auth.models import User
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.urls import reverse_lazy

from agents.tenancy.models import Membership

MAX_FAILURES = 5  # per account, from any address
MAX_ADDRESS_FAILURES = 20  # per address, over all accounts
LOCK_SECONDS = 5 * 60
LOCKED_MESSAGE = (
    "Too many failed sign-in attempts for this username. For your security, sign-in is "
    "paused for 5 minutes; try again later or reset your password."
)


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.encode()).hexdigest()
    return f"stellar:login-failures:{kind}:{digest}"


def _throttle_keys(request: HttpRequest, username: str) -> dict[str, tuple[str, int]]:
    """{kind: (cache key, limit)} of the counters one attempt is held against."""
    address = str(request.META.get("REMOTE_ADDR", ""))
    return {
        "account": (_key("account", username.strip().lower()), MAX_FAILURES),
        "address": (_key("address", address), MAX_ADDRESS_FAILURES),
    }


def login_is_locked(request: HttpRequest, username: str) -> bool:
    """True while the account or the address has used up its failed attempts."""
    keys = _throttle_keys(request, username)
    return any(int(cache.get(key, 0)) >= limit for key, limit in keys.values())


def _count(key: str) -> int:
    if cache.add(key, 1, LOCK_SECONDS):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.set(key, 1, LOCK_SECONDS)
        return 1


def login_failure_record(request: HttpRequest, username: str) -> bool:
    """Count one failed attempt; True when it used up the account's or the address's quota."""
    keys = _throttle_keys(request, username)
    return any(_count(key) >= limit for key, limit in keys.values())


def login_success_record(request: HttpRequest, username: str) -> None:
    """The account's counter starts over (the address's does not: one good password among
    many guesses must not reset a spray)."""
    cache.delete(_throttle_keys(request, username)["account"][0])


class ThrottledLoginView(auth_views.LoginView):
    """Django's LoginView, refused (429) for an account or address out of attempts."""

    template_name = "registration/login.html"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = request.POST.get("username", "")
        if login_is_locked(request, username):
            form = self.get_form_class()(request)  # unbound: no authentication attempt
            return self.render_to_response(
                self.get_context_data(form=form, locked_message=LOCKED_MESSAGE), status=429
            )
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        if login_failure_record(self.request, self.request.POST.get("username", "")):
            return self.render_to_response(
                self.get_context_data(form=form, locked_message=LOCKED_MESSAGE), status=429
            )
        return super().form_invalid(form)

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        login_success_record(self.request, self.request.POST.get("username", ""))
        return super().form_valid(form)


def throttled(login_view: Callable[[HttpRequest], HttpResponse]) -> Callable[..., HttpResponse]:
    """Put a login view we do not own (Django admin's) behind the same counters: a POST that
    does not redirect is a failed attempt."""

    def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "POST":
            return login_view(request)
        username = request.POST.get("username", "")
        if login_is_locked(request, username):
            return HttpResponse(LOCKED_MESSAGE, status=429, content_type="text/plain")
        response = login_view(request)
        if response.status_code in (301, 302) and request.user.is_authenticated:
            login_success_record(request, username)
        elif login_failure_record(request, username):
            return HttpResponse(LOCKED_MESSAGE, status=429, content_type="text/plain")
        return response

    return view


def admin_login(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """/admin/login/ behind the Studio login's throttle (routed before admin.site.urls)."""
    return throttled(admin.site.login)(request)


def _public_context() -> dict[str, Any]:
    return {"public_url": settings.STELLAR_PUBLIC_URL}


class StudioPasswordResetView(auth_views.PasswordResetView):
    """Links in the email use STELLAR_PUBLIC_URL, never the request's Host header."""

    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"
    success_url = reverse_lazy("studio:password-reset-done")

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        self.extra_email_context = _public_context()  # read per request, not at import
        return super().form_valid(form)


class StudioPasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "registration/password_reset_done.html"


class StudioPasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("studio:password-reset-complete")


class StudioPasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "registration/password_reset_complete.html"


class _InvitationForm(PasswordResetForm):
    """PasswordResetForm for one invited user, who may have no usable password yet."""

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invited_user = user

    def get_users(self, email: str) -> Iterator[User]:
        if self.invited_user.is_active:
            yield self.invited_user


def invitation_send(*, request: HttpRequest, membership: Membership, inviter: Any) -> None:
    """Email the new member a link to choose their password and sign in."""
    user = membership.user
    form = _InvitationForm({"email": user.email}, user=user)
    if not form.is_valid():
        return
    public = urlsplit(settings.STELLAR_PUBLIC_URL)
    # Template context, not only text (django-stubs narrows it to dict[str, str]).
    context: dict[str, Any] = {
        **_public_context(),
        "workspace": membership.workspace,
        "role": membership.get_role_display(),
        "inviter": inviter,
        "username": user.get_username(),
    }
    form.save(
        domain_override=public.netloc,
        use_https=public.scheme == "https",
        request=request,
        subject_template_name="registration/invitation_subject.txt",
        email_template_name="registration/invitation_email.txt",
        extra_email_context=context,
    )
