"""Listen & Playground without servers: who may start or open what, and the monitor
consumer's protocol over an in-memory channel layer (channels.testing)."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections
from django.test import override_settings
from django.urls import path

from agents.config.services import workspace_create
from agents.definitions.versions import agent_create
from agents.models import Environment, Membership, Role
from calls.live.listen import take_over_action
from calls.live.monitor_consumer import MonitorConsumer
from calls.live.playground import (
    playground_call_for,
    playground_session_create,
    playground_token_for,
)
from calls.models import CallSource, CallStatus, TranscriptSegment
from calls.runtime.monitor import control_group, monitor_group
from calls.services import call_end
from tests.twilio_call import build_line

IN_MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def user(name: str):
    return get_user_model().objects.create_user(name)


def join(line, name: str, role: str):
    member = user(name)
    Membership.objects.create(workspace=line.agent.workspace, user=member, role=role)
    return member


def development(line) -> Environment:
    return Environment.objects.get(workspace=line.agent.workspace, kind="development")


def owners_session(line):
    """A Playground session of the line's agent, started by the workspace owner."""
    owner = line.agent.workspace.memberships.get(role=Role.OWNER).user
    return playground_session_create(user=owner, agent=line.agent, environment=development(line))


@pytest.mark.django_db
def test_playground_session_is_a_call_of_the_draft_or_a_version():
    line = build_line()
    editor = join(line, "ed", Role.EDITOR)
    draft = playground_session_create(user=editor, agent=line.agent, environment=development(line))
    assert draft.source == CallSource.PLAYGROUND and draft.call_sid.startswith("PG")
    assert draft.version_label == "draft" and draft.agent_version is None
    assert draft.agent_snapshot["greeting"] == line.agent.greeting
    v1 = line.agent.versions.get(number=1)
    pinned = playground_session_create(
        user=editor, agent=line.agent, environment=development(line), version=v1
    )
    assert pinned.version_label == "v1" and pinned.agent_snapshot == v1.snapshot
    assert pinned.events.filter(kind="playground_started", data__by="ed").exists()


@pytest.mark.django_db
def test_playground_refuses_viewers_outsiders_and_foreign_choices():
    line = build_line()
    viewer = join(line, "vic", Role.VIEWER)
    with pytest.raises(PermissionDenied):
        playground_session_create(user=viewer, agent=line.agent, environment=development(line))
    with pytest.raises(PermissionDenied):
        playground_session_create(
            user=user("stranger"), agent=line.agent, environment=development(line)
        )
    owner = line.agent.workspace.memberships.get(role=Role.OWNER).user
    other = workspace_create(name="Other", owner=owner)
    foreign_env = Environment.objects.get(workspace=other, kind="staging")
    with pytest.raises(ValidationError):
        playground_session_create(user=owner, agent=line.agent, environment=foreign_env)
    other_agent = build_line().agent
    with pytest.raises(ValidationError):
        playground_session_create(
            user=owner,
            agent=line.agent,
            environment=development(line),
            version=other_agent.versions.get(number=1),
        )


@pytest.mark.django_db
def test_playground_token_opens_only_its_users_unfinished_session():
    line = build_line()
    editor, colleague = join(line, "ed", Role.EDITOR), join(line, "col", Role.EDITOR)
    call = playground_session_create(user=editor, agent=line.agent, environment=development(line))

    def token():  # each token opens one socket, once
        return playground_token_for(call=call, user=editor)

    assert playground_call_for(token=token(), user=colleague) is None
    assert playground_call_for(token=token() + "x", user=editor) is None
    assert playground_call_for(token=token(), user=editor) == call
    Membership.objects.filter(user=editor).delete()
    assert playground_call_for(token=token(), user=editor) is None
    Membership.objects.create(workspace=line.agent.workspace, user=editor, role=Role.EDITOR)
    call_end(call=call, status=CallStatus.COMPLETED, outcome="done")
    assert playground_call_for(token=token(), user=editor) is None


@pytest.mark.django_db
def test_take_over_choice_is_one_of_the_agents_handovers_or_an_e164_number():
    line = build_line()
    call = owners_session(line)
    action, number = take_over_action(call=call, handover="transfer_to_sales", destination=None)
    assert action["destination"] == "+31201234567" and number is None
    assert take_over_action(call=call, handover=None, destination="+31 6 1234 5678") == (
        None,
        "+31612345678",
    )
    with pytest.raises(ValidationError, match="no handover action"):
        take_over_action(call=call, handover="transfer_to_mars", destination=None)
    with pytest.raises(ValidationError, match="country code"):
        take_over_action(call=call, handover=None, destination="0612345678")
    with pytest.raises(ValidationError):
        take_over_action(call=call, handover=None, destination=None)


# --- MonitorConsumer over an in-memory channel layer ----------------------------------------


def communicator(call_id: int, member) -> WebsocketCommunicator:
    app = URLRouter([path("v1/live/calls/<int:call_id>", MonitorConsumer.as_asgi())])
    comm = WebsocketCommunicator(app, f"/v1/live/calls/{call_id}")
    comm.scope["user"] = member
    return comm


async def close_db_thread() -> None:
    """The consumer's ORM calls ran in asgiref's sync thread: close its connection."""
    await database_sync_to_async(connections.close_all)()


async def next_on(layer, channel: str, timeout: float = 2.0) -> dict:
    return await asyncio.wait_for(layer.receive(channel), timeout)


@pytest.mark.django_db(transaction=True)
@override_settings(CHANNEL_LAYERS=IN_MEMORY)
def test_monitor_consumer_joins_forwards_and_asks_the_call_to_take_over():
    line = build_line()
    editor = join(line, "ed", Role.EDITOR)
    call = playground_session_create(user=editor, agent=line.agent, environment=development(line))
    call.status = CallStatus.IN_PROGRESS
    call.save(update_fields=["status"])
    TranscriptSegment.objects.create(call=call, speaker="agent", start_ms=0, end_ms=900, text="Hi")

    async def scenario() -> None:
        layer = get_channel_layer()
        fake_call = await layer.new_channel()  # stands in for the call's MediaStreamConsumer
        await layer.group_add(control_group(call.pk), fake_call)
        comm = communicator(call.pk, editor)
        connected, _ = await comm.connect()
        assert connected
        joined = await next_on(layer, fake_call)
        assert joined["type"] == "call.monitor_join"
        snapshot = await comm.receive_json_from()
        assert snapshot["segments"][0]["text"] == "Hi" and snapshot["can_take_over"]

        await layer.group_send(
            monitor_group(call.pk),
            {"type": "monitor.audio", "track": "caller", "at_ms": 0, "payload": "//8="},
        )
        assert (await comm.receive_json_from())["payload"] == "//8="
        # Audio late for everyone (the call's process behind) still goes out, with its delay.
        made_ms = round(time.time() * 1000) - 1500
        for at_ms in (100_000, 95_000):
            await layer.group_send(
                monitor_group(call.pk),
                {
                    "type": "monitor.audio",
                    "track": "caller",
                    "at_ms": at_ms,
                    "payload": "AA==",
                    "made_ms": made_ms,
                },
            )
        await layer.group_send(
            monitor_group(call.pk),
            {"type": "monitor.event", "kind": "dtmf", "message": "Caller pressed 1"},
        )
        late = await comm.receive_json_from()
        assert late["at_ms"] == 100_000 and late["dropped_ms"] == 0
        assert 1500 <= late["delay_ms"] < 5000
        assert (await comm.receive_json_from())["at_ms"] == 95_000
        assert (await comm.receive_json_from())["type"] == "monitor.event"
        # what a busy call sends in one go arrives as the messages it holds, in order
        batch = [
            {"type": "monitor.transcript", "speaker": "caller", "text": "Sales please"},
            {"type": "monitor.audio", "track": "agent", "at_ms": 100_200, "payload": "//8="},
            {"type": "call.take_over", "by": "mallory"},  # not a monitor message: ignored
            "garbage",
        ]
        await layer.group_send(monitor_group(call.pk), {"type": "monitor.batch", "messages": batch})
        assert (await comm.receive_json_from())["text"] == "Sales please"
        assert (await comm.receive_json_from())["track"] == "agent"
        await comm.send_json_to({"event": "media", "media": {"payload": "//8="}})  # ignored
        await comm.send_json_to({"action": "take_over", "handover": "transfer_to_sales"})
        asked = await next_on(layer, fake_call)
        assert asked["type"] == "call.take_over" and asked["by"] == "ed"
        assert asked["action"]["name"] == "transfer_to_sales"
        await layer.send(
            asked["reply_to"], {"type": "call.take_over_result", "ok": True, "detail": "Done."}
        )
        result = await comm.receive_json_from()
        assert result == {"type": "take_over.result", "ok": True, "path": "live", "detail": "Done."}

        await comm.disconnect()
        left = await next_on(layer, fake_call)
        assert left["type"] == "call.monitor_leave" and left["listener"] == joined["listener"]
        await close_db_thread()

    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
@override_settings(CHANNEL_LAYERS=IN_MEMORY)
def test_monitor_consumer_refuses_strangers_and_anonymous():
    from django.contrib.auth.models import AnonymousUser

    line = build_line()
    call = owners_session(line)
    stranger = user("mallory")
    agent_create(workspace=workspace_create(name="M", owner=stranger), name="Theirs")

    async def attempt(member) -> tuple[bool, int | None]:
        comm = communicator(call.pk, member)
        connected, code = await comm.connect()
        await close_db_thread()
        return connected, code

    assert asyncio.run(attempt(stranger)) == (False, 4403)
    assert asyncio.run(attempt(AnonymousUser())) == (False, 4403)


class SlowLayer:
    """A channel layer whose group_send waits until released: a busy call process."""

    def __init__(self):
        self.sent: list[dict] = []
        self.release = asyncio.Event()

    async def group_send(self, group: str, message: dict) -> None:
        await self.release.wait()
        self.release.clear()
        self.sent.append(message)


def test_monitor_feed_sends_one_at_a_time_and_batches_what_waits():
    from calls.runtime.monitor import MAX_PENDING, MonitorFeed
    from stellar.kernel import metrics

    async def scenario() -> None:
        layer = SlowLayer()
        feed = MonitorFeed(7, layer)
        feed.event("dtmf", "nobody listens yet")  # not sent at all
        feed.listener_joined("listener-1")
        feed.event("dtmf", "one")
        await asyncio.sleep(0)  # its send starts (and hangs)
        for n in range(3):
            feed.transcript(speaker="caller", text=f"line {n}")
        await asyncio.sleep(0)
        layer.release.set()  # the first send completes; the three others went on waiting
        while len(layer.sent) < 1:
            await asyncio.sleep(0)
        layer.release.set()
        while len(layer.sent) < 2:
            await asyncio.sleep(0)
        assert layer.sent[0] == {"type": "monitor.event", "kind": "dtmf", "message": "one"}
        assert layer.sent[1]["type"] == "monitor.batch"
        assert [m["text"] for m in layer.sent[1]["messages"]] == ["line 0", "line 1", "line 2"]

        # a call that produces more than MAX_PENDING while one send hangs keeps the newest
        dropped = metrics.MONITOR_DROPPED._value.get()
        feed.event("dtmf", "stuck")
        await asyncio.sleep(0)
        for n in range(MAX_PENDING + 5):
            feed.transcript(speaker="caller", text=f"more {n}")
        assert metrics.MONITOR_DROPPED._value.get() == dropped + 5
        layer.release.set()
        while len(layer.sent) < 3:
            await asyncio.sleep(0)
        layer.release.set()
        while len(layer.sent) < 4:
            await asyncio.sleep(0)
        waited = [m["text"] for m in layer.sent[3]["messages"]]
        assert waited[0] == "more 5" and waited[-1] == f"more {MAX_PENDING + 4}"
        assert len(waited) == MAX_PENDING

    asyncio.run(asyncio.wait_for(scenario(), 5))
