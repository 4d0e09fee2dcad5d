"""Agent test suites (issue #17): seeding, the runner (dry-run actions, multi-turn scripts),
runs on publish against the live version, the REST API, `manage.py agent_test`, the Tests tab,
and the same suite on the LLM brain against the local OpenAI-protocol peer."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from agents.actions.context import CallContext
from agents.config.services import (
    secret_create,
    secret_set_value,
    variable_create,
    variable_set_value,
)
from agents.definitions.versions import (
    agent_action_create,
    agent_publish,
    agent_update_draft,
    publish_reports,
)
from agents.testing.models import AgentTestCase, AgentTestRun, RunStatus
from agents.testing.runner import run_start, suite_run
from agents.testing.seeding import generated_cases, paraphrases
from agents.testing.services import case_create, cases_seed_once
from tests.factories import agent_make, api_client, environment_of, handover_make, world_make
from tests.peers.openai_server import OpenAIPeer, Rule

pytestmark = pytest.mark.django_db

KNOWLEDGE = [
    {"question": "When are you open?", "answer": "We are open from nine to five."},
    {"question": "Where are you? What is your address?", "answer": "Keizersgracht 12, Amsterdam."},
]
INTENTS = [
    {"name": "buy", "examples": ["I want to buy a bike", "I'd like a quote"], "action": "sales"},
    {"name": "hang_up", "examples": ["that's all, bye"], "action": "end"},
]


@pytest.fixture
def world():
    return world_make()


@pytest.fixture
def shop(world):
    agent = agent_make(workspace=world.a.workspace, name="Shop", knowledge=KNOWLEDGE, intents=[])
    handover_make(agent=agent, name="sales")
    agent_action_create(
        agent=agent,
        name="end",
        description="End the call.",
        kind="end_call",
        config={"goodbye": "Bye now!"},
    )
    agent_action_create(
        agent=agent,
        name="order_status",
        description="Look up the status of an order.",
        kind="api_call",
        config={"url": "http://192.0.2.1/orders", "response_template": "It is {{ result.s }}."},
    )
    return agent_update_draft(agent=agent, intents=INTENTS)


def turn(say, expect, target=""):
    return {"say": say, "expect": expect, "target": target}


# ---- seeding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phrase, expected",
    [
        ("What are your opening hours?", "I'd like to know what are your opening hours"),
        ("Can I book an appointment?", "I'd like to book an appointment"),
        ("I want to cancel my order", "Can I cancel my order?"),
        ("My heating is broken", "Hi, my heating is broken, can you help?"),
    ],
)
def test_paraphrases_rewrite_the_phrase_and_never_repeat_it(phrase, expected):
    rewrites = paraphrases(phrase)
    assert rewrites[0] == expected
    assert all(r.lower().strip("?") != phrase.lower().strip("?") for r in rewrites)
    assert paraphrases(phrase) == rewrites  # deterministic


def test_generated_suite_covers_intents_knowledge_and_out_of_scope(shop):
    from agents.definitions.versions import agent_snapshot

    cases = generated_cases(agent_snapshot(agent=shop))
    expectations = [(c["turns"][0]["expect"], c["turns"][0]["target"]) for c in cases]
    assert expectations.count(("handover", "sales")) == 2  # two examples of "buy"
    assert ("goodbye", "end") in expectations
    assert ("answer", "0") in expectations and ("answer", "1") in expectations
    assert expectations.count(("out_of_scope", "")) == 2
    # the knowledge case paraphrases the entry's last listed question
    (address,) = [c for c in cases if c["turns"][0]["target"] == "1"]
    assert address["turns"][0]["say"] == "I'd like to know what is your address"


def test_a_new_agent_is_seeded_once_and_a_cleared_suite_stays_cleared(shop):
    seeded = cases_seed_once(agent=shop)
    assert seeded and all(c.generated for c in seeded)
    assert cases_seed_once(agent=shop) == []
    run_start(agent=shop)
    AgentTestCase.objects.filter(agent=shop).delete()
    assert cases_seed_once(agent=shop) == []  # it had tests: the person removed them


def test_the_generated_suite_passes_on_the_agent_it_was_written_from(shop):
    cases_seed_once(agent=shop)
    run = run_start(agent=shop)
    assert run.status == RunStatus.DONE
    assert (run.passed, run.total) == (run.total, len(generated_cases_for(shop)))


def generated_cases_for(agent):
    from agents.definitions.versions import agent_snapshot

    return generated_cases(agent_snapshot(agent=agent))


# ---- the runner --------------------------------------------------------------------------


def test_actions_run_dry_and_still_count_as_the_action(shop):
    snapshot = {
        **generated_snapshot(shop),
        "intents": [
            {"name": "status", "examples": ["where is my order"], "action": "order_status"}
        ],
    }
    (result,) = suite_run(
        snapshot,
        [{"name": "order", "turns": [turn("where is my order please", "action", "order_status")]}],
        CallContext(dry_run=True),
    )
    assert result["passed"], result
    assert result["turns"][0]["chosen"] == "action"


def generated_snapshot(agent):
    from agents.definitions.versions import agent_snapshot

    return agent_snapshot(agent=agent)


def test_dry_run_makes_no_request():
    import asyncio

    from agents.actions.runner import run_action

    action = {"name": "order_status", "kind": "api_call", "config": {"url": "http://192.0.2.1/"}}
    result = asyncio.run(run_action(action, CallContext(dry_run=True)))
    assert result.ok and result.outcome == "Dry run: would make the API call (order_status)."
    sms = {"name": "text_me", "kind": "send_sms", "config": {"body": "hi"}}
    sent = asyncio.run(run_action(sms, CallContext(dry_run=True)))
    assert sent.outcome == "Dry run: would send the text message (text_me)."


def test_a_failure_says_what_was_heard_and_chosen_and_a_turn_after_hanging_up_fails(shop):
    case_create(
        agent=shop,
        name="hours then address",
        turns=[turn("When are you open?", "answer", "1"), turn("thanks, bye", "goodbye")],
    )
    case_create(
        agent=shop,
        name="sales then more",
        turns=[
            turn("I want to buy a bike", "handover", "sales"),
            turn("and your address?", "answer"),
        ],
    )
    run = run_start(agent=shop)
    assert (run.passed, run.total) == (0, 2)
    by_name = {r["name"]: r for r in run.results}
    first, second = by_name["hours then address"]["turns"]
    assert (first["passed"], first["chosen"], first["target"]) == (False, "answer", "0")
    assert first["heard"] == "When are you open?" and first["said"] == KNOWLEDGE[0]["answer"]
    assert first["why"] == "expected '1', got '0'"
    assert second["passed"] and second["chosen"] == "goodbye"
    handed, after = by_name["sales then more"]["turns"]
    assert handed["passed"] and not after["passed"]
    assert after["why"] == "the call had already ended"


def test_case_validation_refuses_targets_the_agent_does_not_have(shop):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="no handover 'billing'"):
        case_create(agent=shop, name="x", turns=[turn("billing please", "handover", "billing")])
    with pytest.raises(ValidationError, match="expects 'maybe'"):
        case_create(agent=shop, name="x", turns=[turn("hm", "maybe")])
    with pytest.raises(ValidationError, match="at least one"):
        case_create(agent=shop, name="x", turns=[])


# ---- on publish ----------------------------------------------------------------------------


def test_publishing_runs_the_suite_and_compares_with_the_live_version(shop):
    case_create(agent=shop, name="hours", turns=[turn("When are you open?", "answer", "0")])
    case_create(agent=shop, name="buy", turns=[turn("I want to buy a bike", "handover", "sales")])
    v1 = agent_publish(agent=shop)
    assert publish_reports(version=v1) == ["2/2 tests passed on v1."]

    # the draft's knowledge is reordered: the new version fails a case the live one passed
    agent_update_draft(agent=shop, knowledge=KNOWLEDGE[::-1])
    v2 = agent_publish(agent=shop)
    (report,) = publish_reports(version=v2)
    assert report == "1/2 tests passed on v2 (live version v1: 2/2); newly failing: hours."
    run = AgentTestRun.objects.get(agent=shop, version_number=2)
    assert run.baseline.version_number == 1 and run.trigger == "publish"


def test_publishing_an_agent_without_tests_reports_nothing(shop):
    assert publish_reports(version=agent_publish(agent=shop)) == []


# ---- REST API ------------------------------------------------------------------------------


def test_api_cases_and_runs(world, shop):
    editor = api_client(world.users["editor"])
    base = f"/api/v1/agents/{shop.pk}"
    bad = editor.post(
        f"{base}/tests/",
        {"name": "x", "turns": [turn("hi", "handover", "nobody")]},
        format="json",
    )
    assert bad.status_code == 400 and "no handover 'nobody'" in str(bad.data)
    created = editor.post(
        f"{base}/tests/",
        {"name": "hours", "turns": [turn("When are you open?", "answer", "1")]},
        format="json",
    )
    assert created.status_code == 201, created.data
    case_url = f"{base}/tests/{created.data['id']}/"
    run = editor.post(f"{base}/test-runs/", {}, format="json")
    assert run.status_code == 201
    assert (run.data["status"], run.data["passed"], run.data["total"]) == ("done", 0, 1)
    assert run.data["results"][0]["turns"][0]["why"] == "expected '1', got '0'"

    fixed = editor.put(
        case_url,
        {"name": "hours", "turns": [turn("When are you open?", "answer", "0")]},
        format="json",
    )
    assert fixed.status_code == 200 and fixed.data["generated"] is False
    again = editor.post(f"{base}/test-runs/", {}, format="json")
    assert again.data["passed"] == 1
    assert editor.get(f"{base}/test-runs/{again.data['id']}/").data["passed"] == 1
    assert editor.get(f"{base}/test-runs/").data["count"] == 2
    generated = editor.post(f"{base}/tests/generate/")
    assert generated.status_code == 201 and all(c["generated"] for c in generated.data["added"])
    assert editor.delete(case_url).status_code == 204

    missing = editor.post(f"{base}/test-runs/", {"version": 9}, format="json")
    assert missing.status_code == 400 and "no version 9" in str(missing.data)


def test_api_is_scoped_to_the_workspace_and_role(world, shop):
    case = case_create(agent=shop, name="hours", turns=[turn("When are you open?", "answer")])
    outsider = api_client(world.users["outsider"])
    assert outsider.get(f"/api/v1/agents/{shop.pk}/tests/").status_code == 404
    assert outsider.get(f"/api/v1/agents/{shop.pk}/tests/{case.pk}/").status_code == 404
    viewer = api_client(world.users["viewer"])
    assert viewer.get(f"/api/v1/agents/{shop.pk}/tests/").data["count"] == 1
    assert viewer.post(f"/api/v1/agents/{shop.pk}/test-runs/", {}).status_code == 403
    other = world.b.agent
    assert (
        api_client(world.users["editor"]).get(f"/api/v1/agents/{other.pk}/tests/").status_code
        == 404
    )


# ---- manage.py agent_test -----------------------------------------------------------------


def test_command_prints_results_and_fails_on_a_failure(world, shop, capsys):
    case_create(agent=shop, name="hours", turns=[turn("When are you open?", "answer", "1")])
    with pytest.raises(CommandError, match=r"0/1 tests passed on the draft\. Brain: embedded"):
        call_command("agent_test", world.a.workspace.slug, "Shop")
    out = capsys.readouterr().out
    assert "FAIL hours" in out and "heard “When are you open?”: expected answer 1" in out

    AgentTestCase.objects.filter(agent=shop).update(
        turns=[turn("When are you open?", "answer", "0")]
    )
    call_command("agent_test", world.a.workspace.name, str(shop.pk))
    assert "1/1 tests passed on the draft." in capsys.readouterr().out
    with pytest.raises(CommandError, match="has no version 5"):
        call_command("agent_test", world.a.workspace.slug, "Shop", "--version", "5")
    with pytest.raises(CommandError, match="No single agent"):
        call_command("agent_test", world.b.workspace.slug, "Shop")


# ---- the Tests tab ---------------------------------------------------------------------------


def studio(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_tests_tab_seeds_runs_and_shows_failures(world, shop):
    editor = studio(world.users["editor"])
    page = editor.get(f"/agents/{shop.pk}/tests/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Generated tests" in html and "generated</span>" in html
    assert AgentTestCase.objects.filter(agent=shop, generated=True).exists()

    form = editor.post(
        f"/agents/{shop.pk}/tests/new/",
        {
            "name": "hours wrong",
            "turns-TOTAL_FORMS": "2",
            "turns-INITIAL_FORMS": "0",
            "turns-0-say": "When are you open?",
            "turns-0-expect": "answer|1",
            "turns-1-say": "",
            "turns-1-expect": "",
        },
    )
    assert form.status_code == 302
    panel = editor.post(f"/agents/{shop.pk}/tests/run/", follow=True)
    text = panel.content.decode()
    assert "failed" in text and "When are you open?" in text and "expected &#x27;1&#x27;" in text

    # an LLM-brain run still queued: its panel polls; a finished one stops polling
    queued = AgentTestRun.objects.create(agent=shop, brain="llm", trigger="manual")
    polling = editor.get(f"/agents/{shop.pk}/tests/runs/{queued.pk}/").content.decode()
    assert 'hx-trigger="every 2s"' in polling and "running with the llm brain" in polling
    AgentTestRun.objects.filter(pk=queued.pk).update(status="done", total=1, passed=1)
    done = editor.get(f"/agents/{shop.pk}/tests/runs/{queued.pk}/").content.decode()
    assert "hx-trigger" not in done and "1/1 tests passed on the draft." in done

    viewer = studio(world.users["viewer"])
    assert viewer.post(f"/agents/{shop.pk}/tests/run/").status_code == 403
    assert studio(world.users["outsider"]).get(f"/agents/{shop.pk}/tests/").status_code in (
        403,
        404,
    )


# ---- LLM brain parity -----------------------------------------------------------------------

API_KEY = "sk-test-agent-tests"
LLM_SCRIPT = [
    Rule(when="open", text="We are open from nine to five, every weekday."),
    Rule(when="buy", tool="sales"),
    Rule(when="weather", text="I'm sorry, I can't help with that."),
    Rule(when="bye", tool="end"),
]


def llm_settings_set(workspace, base_url: str) -> None:
    """The development environment's LLM settings: the peer's URL, a model, its API key."""
    environment = environment_of(workspace)
    for name, value in (("LLM_BASE_URL", base_url), ("LLM_MODEL", "gpt-4o-mini")):
        variable = variable_create(workspace=workspace, name=name)
        variable_set_value(variable=variable, environment=environment, value=value)
    secret = secret_create(workspace=workspace, name="LLM_API_KEY", description="")
    secret_set_value(secret=secret, environment=environment, value=API_KEY)


def test_the_same_suite_runs_on_the_llm_brain(world, shop, capsys):
    case_create(agent=shop, name="hours", turns=[turn("When are you open?", "answer", "0")])
    case_create(agent=shop, name="buy", turns=[turn("I want to buy a bike", "handover", "sales")])
    case_create(
        agent=shop, name="weather", turns=[turn("Will the weather be nice?", "out_of_scope")]
    )
    case_create(agent=shop, name="bye", turns=[turn("that's all, bye", "goodbye", "end")])
    with OpenAIPeer(LLM_SCRIPT, api_key=API_KEY) as peer:
        llm_settings_set(world.a.workspace, peer.base_url)
        call_command("agent_test", world.a.workspace.slug, "Shop", "--brain", "llm")
        assert len(peer.chat_requests()) == 4
    out = capsys.readouterr().out
    assert "4/4 tests passed on the draft. Brain: llm." in out
    run = AgentTestRun.objects.get(agent=shop, brain="llm")
    hours = next(r for r in run.results if r["name"] == "hours")["turns"][0]
    assert (hours["chosen"], hours["target"]) == ("answer", "0")
    assert API_KEY not in str(run.results)


def test_workers_know_the_task():
    from stellar.celery import app

    assert "agents.testing.tasks.run_agent_tests" in app.tasks


def test_an_llm_run_started_from_the_api_is_queued_then_done(
    world, shop, django_capture_on_commit_callbacks, monkeypatch
):
    from agents.testing.tasks import run_agent_tests

    # the worker's part, here in this process: the task runs when the request's commit happens
    monkeypatch.setattr(run_agent_tests, "delay", lambda run_id: run_agent_tests.apply((run_id,)))
    case_create(agent=shop, name="hours", turns=[turn("When are you open?", "answer", "0")])
    editor = api_client(world.users["editor"])
    with django_capture_on_commit_callbacks(execute=True):
        started = editor.post(
            f"/api/v1/agents/{shop.pk}/test-runs/", {"brain": "llm"}, format="json"
        )
    assert started.status_code == 201 and started.data["status"] == "queued"
    polled = editor.get(f"/api/v1/agents/{shop.pk}/test-runs/{started.data['id']}/").data
    # no environment has the LLM settings: the brain only apologises, and that fails the test
    assert polled["status"] == "done" and polled["passed"] == 0
    first = polled["results"][0]["turns"][0]
    assert first["chosen"] == "error" and first["why"] == "expected answer, got error"
    assert first["summary"].startswith("nothing: The LLM brain is not configured")


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_an_llm_run_is_carried_out_by_the_worker(celery_worker_proc):
    import time

    from agents.config.services import workspace_create
    from tests.factories import user_make

    workspace = workspace_create(name="Worker shop", owner=user_make("worker-owner"))
    agent = agent_make(workspace=workspace, name="Shop", knowledge=KNOWLEDGE, intents=[])
    case_create(agent=agent, name="hours", turns=[turn("When are you open?", "answer", "0")])
    with OpenAIPeer(LLM_SCRIPT, api_key=API_KEY) as peer:
        llm_settings_set(workspace, peer.base_url)
        run = run_start(agent=agent, brain="llm")  # autocommit: queued for the worker at once
        assert run.status == RunStatus.QUEUED
        deadline = time.monotonic() + 60
        while run.status in (RunStatus.QUEUED, RunStatus.RUNNING) and time.monotonic() < deadline:
            time.sleep(0.2)
            run.refresh_from_db()
        assert len(peer.chat_requests()) == 1
    assert (run.status, run.passed, run.total) == (RunStatus.DONE, 1, 1)
