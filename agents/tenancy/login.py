"""Signing in to Studio: a login view with failure throttling, password reset pages, and the
invitation email (a password-set link made by Django's password-reset machinery).

Throttling: after `MAX_FAILURES` failed attempts for one username from one IP address within
`LOCK_SECONDS`, that pair is refused for `LOCK_SECONDS` (counted in the cache: use a shared
cache such as Redis when running several processes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.contrib.auth.models import User
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.urls import reverse_lazy

from agents.tenancy.models import Membership

MAX_FAILURES = 5
LOCK_SECONDS = 5 * 60
LOCKED_MESSAGE = (
    "Too many failed sign-in attempts for this username. For your security, sign-in is "
    "paused for 5 minutes; try again later or reset your password."
)


def _throttle_key(request: HttpRequest, username: str) -> str:
    ip = request.META.get("REMOTE_ADDR", "")
    digest = hashlib.sha256(f"{username.strip().lower()}|{ip}".encode()).hexdigest()
    return f"stellar:login-failures:{digest}"


def login_failures(request: HttpRequest, username: str) -> int:
    return int(cache.get(_throttle_key(request, username), 0))


def login_failure_record(request: HttpRequest, username: str) -> int:
    key = _throttle_key(request, username)
    if cache.add(key, 1, LOCK_SECONDS):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.set(key, 1, LOCK_SECONDS)
        return 1


class ThrottledLoginView(auth_views.LoginView):
    """Django's LoginView that refuses a username+IP after 5 failures, for 5 minutes."""

    template_name = "registration/login.html"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = request.POST.get("username", "")
        if login_failures(request, username) >= MAX_FAILURES:
            form = self.get_form_class()(request)  # unbound: no authentication attempt
            return self.render_to_response(
                self.get_context_data(form=form, locked_message=LOCKED_MESSAGE), status=429
            )
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        username = self.request.POST.get("username", "")
        if login_failure_record(self.request, username) >= MAX_FAILURES:
            return self.render_to_response(
                self.get_context_data(form=form, locked_message=LOCKED_MESSAGE), status=429
            )
        return super().form_invalid(form)

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        cache.delete(_throttle_key(self.request, self.request.POST.get("username", "")))
        return super().form_valid(form)


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
