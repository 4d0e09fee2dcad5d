"""A starting suite written from the agent's own words: each intent's examples and each
knowledge question rephrased the way callers talk (deterministic, offline rewrites), plus a
few requests no agent should answer with a fact. The Studio says these are generated."""

from __future__ import annotations

import re
from typing import Any

from agents.engine.embedded import questions

OUT_OF_SCOPE_PROBES = (
    "What's the weather going to be like tomorrow?",
    "Can you recommend a good restaurant near you?",
)
MAX_GENERATED = 24
_WH = re.compile(r"^(what|when|where|how|who|which|why)\b", re.IGNORECASE)
_ASK = re.compile(r"^(can|could|may) (i|you|we) ", re.IGNORECASE)
_WANT = re.compile(r"^i (want|need|would like|'d like) to ", re.IGNORECASE)
_FILLERS = ("um, ", "so ", "yeah hi, ", "okay so ")


def paraphrases(text: str) -> list[str]:
    """Rewrites of one phrase, most different first: question ↔ statement, "I'd like to…",
    a filler word, then lowercase without punctuation. Never the phrase itself."""
    base = text.strip().rstrip("?.! ").strip()
    if not base:
        return []
    lowered = base[:1].lower() + base[1:]
    rewrites: list[str] = []
    if _WH.match(base):
        rewrites.append(f"I'd like to know {lowered}")
    elif match := _ASK.match(base):
        rest = base[match.end() :]
        rewrites.append(
            f"I'd like to {rest}" if match.group(2).lower() == "i" else f"please {rest}"
        )
    elif match := _WANT.match(base):
        rewrites.append(f"Can I {base[match.end() :]}?")
        rewrites.append(f"I'd like to {base[match.end() :]}")
    else:
        rewrites.append(f"Hi, {lowered}, can you help?")
    filler = _FILLERS[len(base) % len(_FILLERS)]
    rewrites.append(f"{filler}{lowered}")
    rewrites.append(re.sub(r"[^\w\s']", "", base).lower())
    original = _plain(text)
    return [r for r in dict.fromkeys(rewrites) if _plain(r) != original]


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def intent_expectation(intent: dict[str, Any], snapshot: dict[str, Any]) -> tuple[str, str]:
    """What an intent's example must get: its handover or action, else its answer."""
    name = intent.get("action") or ""
    if any(h.get("name") == name for h in snapshot.get("handover_actions", [])):
        return "handover", name
    for action in snapshot.get("actions", []):
        if action.get("name") == name:
            return ("goodbye" if action.get("kind") == "end_call" else "action"), name
    return "answer", intent.get("name", "")


def generated_cases(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """[{"name", "turns"}] for the agent in `snapshot`: one or two per intent, one per
    knowledge entry, then the out-of-scope probes (at most MAX_GENERATED in all)."""
    cases: list[dict[str, Any]] = []
    for intent in snapshot.get("intents", []):
        examples = [e for e in intent.get("examples", []) if e.strip()]
        expect, target = intent_expectation(intent, snapshot)
        for n, example in enumerate(examples[:2]):
            rewrites = paraphrases(example)
            if rewrites:
                say = rewrites[n % len(rewrites)]
                name = f"{intent.get('name', 'intent')}: {say}"
                cases.append(_case(name, say, expect, target))
    for i, item in enumerate(snapshot.get("knowledge", [])):
        asked = questions(item.get("question", ""))
        rewrites = paraphrases(asked[-1]) if asked else []
        if rewrites:
            cases.append(_case(f"knowledge: {rewrites[0]}", rewrites[0], "answer", str(i)))
    cases = cases[: MAX_GENERATED - len(OUT_OF_SCOPE_PROBES)]
    cases += [_case(f"out of scope: {p}", p, "out_of_scope", "") for p in OUT_OF_SCOPE_PROBES]
    return cases


def _case(name: str, say: str, expect: str, target: str) -> dict[str, Any]:
    return {"name": name[:120], "turns": [{"say": say, "expect": expect, "target": target}]}
