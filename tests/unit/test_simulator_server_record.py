"""The simulator's printout of the agent: the server's transcript when it can be read, the
simulator's own recognition labelled "heard:" when that is all there is, and which version
answered (issue #21, item 11)."""

from __future__ import annotations

import numpy as np

from calls.simulator import AgentUtterance, CallResult, ServerRecord, format_transcript

SAID = "Our office is in Utrecht."
HEARD = "Our office is in Nutrient."


def call_with_agent_lines(*heard: str) -> CallResult:
    result = CallResult(call_sid="CA1", account_sid="AC1", from_="+15550001", to="+15550002")
    for i, text in enumerate(heard):
        result.agent_utterances.append(
            AgentUtterance(
                stream_index=0,
                mark=f"utterance-{i + 1}",
                cleared=False,
                started_at=float(i),
                ended_at=float(i) + 0.5,
                pcm=np.zeros(4000, dtype=np.int16),
                text=text,
            )
        )
    return result


def test_the_agent_line_is_what_the_server_says_it_said_not_what_the_simulator_heard() -> None:
    result = call_with_agent_lines("Hello.", HEARD)

    result.attach_server_record(
        ServerRecord(agent="Support", version="v3", outcome="", agent_lines=["Hello.", SAID])
    )
    printed = format_transcript(result)

    assert "Answered by: Support v3" in printed
    assert f'agent    "{SAID}"' in printed
    assert "Nutrient" not in printed and "heard:" not in printed


def test_without_the_servers_record_the_recognised_text_is_labelled_heard() -> None:
    result = call_with_agent_lines("Hello.", HEARD)

    printed = format_transcript(result)

    assert f'agent    heard: "{HEARD}"' in printed
    assert "speech recognition of its audio (heard:), not the server's transcript" in printed
    assert "Answered by" not in printed


def test_lines_that_do_not_pair_up_are_not_guessed() -> None:
    result = call_with_agent_lines("Hello.", HEARD)

    result.attach_server_record(
        ServerRecord(agent="Support", version="v3", outcome="", agent_lines=[SAID])
    )
    printed = format_transcript(result)

    assert "Answered by: Support v3" in printed
    assert f'heard: "{HEARD}"' in printed and f'"{SAID}"' not in printed


def test_a_refused_call_says_no_version_answered_and_why() -> None:
    record = ServerRecord(agent="Support", version="", outcome="Support has no published version.")

    assert record.answered_by == "none: Support has no published version."
