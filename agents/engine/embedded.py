"""The embedded, offline brain: match the caller against the agent's own configuration.

Candidates are intents (example phrases), knowledge questions and answers, handover and
action descriptions; the best sentence-embedding match wins when it is close enough or
clearly ahead, its phrases cover what the caller talks about, and it fits better than the
generic off-topic requests; two outcomes about as close get a clarifying question; otherwise
the agent says honestly what it can do instead (Conversation.cannot_help).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agents.engine.text_match import SemanticMatcher

# Cosine similarities of all-MiniLM-L6-v2, fitted on the *tune* split of benchmarks/eval/
# (see benchmarks/eval_set.py; the report split is never used to set them): at or above
# MATCH_THRESHOLD (HANDOVER_THRESHOLD for a handover or action) the best outcome is the answer;
# a weaker one still wins when it is MIN_MARGIN ahead of every other outcome; below that the
# agent says what it can do instead of guessing.
MATCH_THRESHOLD = 0.4
HANDOVER_THRESHOLD = 0.4
MIN_SCORE, MIN_MARGIN = 0.2, 0.12
# The off-topic prototypes (below) within OFF_TOPIC_MARGIN of the best outcome: out of scope.
OFF_TOPIC_MARGIN = 0.1
# ... unless the outcome's phrases cover the request this well and fit it better than any
# off-topic request does ("where are you guys located" fits "where is the nearest supermarket"
# about as well as the address, but the address's phrases cover "located").
OFF_TOPIC_COVER = 0.6
# How much of the request the chosen outcome's own phrases cover (SemanticMatcher.coverage): an
# answer needs ≥ COVER_ANSWER, a handover or action ≥ COVER_HANDOVER (callers describe
# problems in their own words, which no description lists; a fact must fit what was asked).
COVER_ANSWER, COVER_HANDOVER = 0.35, 0.2
# A topic word of the request the outcome covers < WORD_MISSED while an off-topic request
# covers it ≥ WORD_NAMED, and the off-topic requests fit within WORD_OFF_MARGIN of the outcome:
# the request is about something else.
WORD_MISSED, WORD_NAMED, WORD_OFF_MARGIN = 0.4, 0.8, 0.2
ANSWERING = frozenset(["answer", "handover", "action"])
# Two outcomes this close (both ≥ CLARIFY_MIN): ask which one the caller means.
CLARIFY_MARGIN, CLARIFY_MIN = 0.05, 0.6
# The answer to that question picks an option when it fits it this much better than the other.
CLARIFY_RESOLVE_MARGIN = 0.03
# "the first (one)", "number 1", "the latter": which option of a clarifying question.
ORDINALS = (
    re.compile(r"\b(?:first|former|1|1st|number one|option one|^one)\b", re.IGNORECASE),
    re.compile(r"\b(?:second|latter|last|other|2|2nd|number two|option two|^two)\b", re.IGNORECASE),
)
# Handovers are chosen by their descriptions: when an intent's examples point to one handover
# but another handover's own description fits the caller this much better than the intended
# handover's description does (and fits on its own, ≥ MATCH_THRESHOLD), the description wins.
DESCRIPTION_MARGIN = 0.1
GOODBYE_EXAMPLES = (
    "goodbye",
    "bye bye",
    "that's all thank you",
    "nothing else thanks bye",
    "no that's it thank you",
    "thanks have a nice day",
    "great thank you very much bye",
    "I have to go now",
)
HUMAN_EXAMPLES = ("talk to a person", "speak to a human", "a real person please", "an operator")
# A caller who opens without saying what they want is invited to ask, not given an answer; only
# a close match counts (≥ OPENER_THRESHOLD: "Hi, I've got some questions" 0.86, while "tell me
# a joke" is 0.36 from "I have a question", so short generic examples are left out).
OPENER_EXAMPLES = (
    "hello",
    "hi there",
    "hello, I have a few questions",
    "I've got a couple of questions",
    "I have some questions for you",
    "good morning, I'd like to ask something",
)
OPENER_THRESHOLD = 0.6
# Requests no business agent of this kind handles (weather, news, other businesses, other
# trades): when one of these fits about as well as the agent's best outcome (within
# OFF_TOPIC_MARGIN), the agent gives its honest line instead of the nearest fact. Generic on
# purpose: written for any agent, not for the evaluation agents' cases.
OFF_TOPIC_EXAMPLES = (
    "what's the weather forecast",
    "will it rain today",
    "tell me a joke",
    "what's in the news today",
    "who won the game last night",
    "what is the meaning of life",
    "can you help me with my homework",
    "what time is it in new york",
    "how do I get to the airport",
    "when does the next train leave",
    "what time does the bus come",
    "call me a taxi",
    "book a flight for me",
    "book a hotel room",
    "recommend a good restaurant",
    "is there a cafe nearby",
    "where is the nearest supermarket",
    "when is the shop next door open",
    "I need a plumber",
    "I need an electrician",
    "I'm looking for a lawyer",
    "I need a doctor",
    "can you cut my hair",
    "I want to open a bank account",
    "what's the exchange rate of the dollar",
    "a mortgage",
    "I want to adopt a dog",
    "order a pizza",
    "play some music",
    "what movies are on tonight",
    "sell my old things",
)
# A problem reported without saying what kind ("something is wrong with my car"): words these
# phrases cover ≥ VAGUE_WORD ("something", "wrong") that the best handover or action leaves
# below VAGUE_WORD (it does not say that kind of problem), with another handover or action
# fitting at all (≥ MIN_SCORE): the agent asks which of the two the caller needs (routine or
# urgent) instead of guessing, even when neither fits well. Generic, for any agent.
VAGUE_EXAMPLES = (
    "something is wrong with it",
    "there is a problem with it",
    "I have an issue with something",
    "it is not working properly",
    "I need some help with it",
)
VAGUE_WORD = 0.7
_HANDOVER_PREFIX = re.compile(r"^(?:transfer|handover|hand over|connect|put through)?\s*to\s+")


_CLAUSES = re.compile(r"[.;:!?]|,\s*(?:or|and)?\s*|\s+or\s+", re.IGNORECASE)
_SUBJECT = re.compile(r"^(?:when |if )?(?:the (?:caller|customer|user)|they)\s+", re.IGNORECASE)
FIRST_PERSON = {
    "wants": "want",
    "asks": "ask",
    "has": "have",
    "needs": "need",
    "says": "say",
    "is": "am",
    "calls": "call",
    "reports": "report",
    "requests": "request",
    "would": "would",
}


def description_phrases(description: str) -> list[str]:
    """An action's description as things a caller would say: the whole text, and each of
    its clauses in the first person ("The caller wants to buy, or asks for prices" →
    "I want to buy", "I ask for prices"). A clause without a verb of its own takes the one
    before it ("has pain, swelling" → "I have pain", "I have swelling"): alone, "repair"
    would fit any request to repair anything."""
    phrases = [description.strip()] if description.strip() else []
    head: list[str] = []
    for clause in _CLAUSES.split(description):
        clause = _SUBJECT.sub("", clause.strip())
        words = clause.split()
        if not words:
            continue
        verb = FIRST_PERSON.get(words[0].lower())
        if verb is not None:
            head = ["I", verb, *(words[1:3] if words[1:2] == ["to"] else [])]
            clause = " ".join(["I", verb, *words[1:]])
        elif head and len(words) <= 3:
            clause = " ".join([*head, *words])
        phrases.append(re.sub(r"\btheir\b", "my", clause, flags=re.IGNORECASE))
    return list(dict.fromkeys(p for p in phrases if len(p) > 2))


_QUESTION_END = re.compile(r"(?<=[?.!])\s+")


def questions(text: str) -> list[str]:
    """A knowledge entry's question field, and each of the questions it lists ("Where is your
    office? What is your address?"): one phrasing per example matches sharper than the mix."""
    parts = [p.strip() for p in _QUESTION_END.split(text.strip()) if p.strip()]
    return list(dict.fromkeys([text.strip(), *parts] if len(parts) > 1 else parts))


SECOND_PERSON = {**FIRST_PERSON, "is": "are", "was": "were"}


def second_person(description: str) -> str:
    """A description's first sentence addressed to the caller: "The caller wants to book an
    appointment." → "you want to book an appointment"."""
    sentence = re.split(r"(?<=[.!?])\s", description.strip())[0].rstrip(".!? ")
    words = _SUBJECT.sub("", sentence).split()
    if not words:
        return ""
    if _SUBJECT.match(sentence):
        words = ["you", SECOND_PERSON.get(words[0].lower(), words[0]), *words[1:]]
        # "… has broken down, is stranded or needs towing": each clause's verb too.
        text = re.sub(
            r"(,\s*(?:or\s+|and\s+)?|\s(?:or|and)\s+)(\w+)",
            lambda m: m.group(1) + SECOND_PERSON.get(m.group(2).lower(), m.group(2)),
            " ".join(words),
        )
        words = text.split()
    text = re.sub(r"\btheir\b", "your", " ".join(words), flags=re.IGNORECASE)
    return _lower_first(text)


_NEGATED = re.compile(r"\b(?:no|not|nothing|isn't|it's not|don't|doesn't|never)\b", re.IGNORECASE)


def _without_negated_clauses(text: str) -> str:
    """What the caller does want: "no, it's nothing urgent, I just want to book it in" → "I
    just want to book it in" (clauses that deny something would pull toward what they deny)."""
    clauses = [c for c in re.split(r"[,.;!?]|\bbut\b", text) if c.strip()]
    kept = [c for c in clauses if not _NEGATED.search(c)]
    return " ".join(c.strip() for c in kept) if kept and len(kept) < len(clauses) else text


def _about_something_else(cover: dict[str, Any], label: str) -> bool:
    """Whether the request names something the outcome's phrases miss (< WORD_MISSED) but an
    off-topic request names (≥ WORD_NAMED): "do you *sell* new cars" against a courtesy-car
    answer, with "sell my old things" off topic. (A word only another outcome of the agent
    names is often the business itself — "the practice", "your products" — so not those.)"""
    mine, theirs = cover.get(label), cover.get("off_topic")
    if mine is None or theirs is None or not len(mine):
        return False
    return bool(((mine < WORD_MISSED) & (theirs >= WORD_NAMED)).any())


def _out_of_scope(
    cover: dict[str, Any], off_topic: float, score: float, label: str, kind: str
) -> bool:
    """Whether the best outcome `label` (scoring `score`) should not be taken: its phrases
    cover too little of the request, an off-topic request fits better (or about as well,
    unless the outcome covers the request well), or the request is about something an
    off-topic request names and the outcome does not."""
    mine = cover.get(label)
    covered = float(mine.mean()) if mine is not None and len(mine) else 1.0
    if covered < (COVER_ANSWER if kind == "answer" else COVER_HANDOVER):
        return True
    if off_topic >= score or (off_topic >= score - OFF_TOPIC_MARGIN and covered < OFF_TOPIC_COVER):
        return True
    return off_topic >= score - WORD_OFF_MARGIN and _about_something_else(cover, label)


def _vague(cover: dict[str, Any], label: str) -> bool:
    """Whether the request talks about a problem in words the vague-problem phrases have
    ("something is wrong") and the outcome's own phrases do not."""
    mine, vague = cover.get(label), cover.get("vague")
    if mine is None or vague is None or not len(mine):
        return False
    problem = vague >= VAGUE_WORD
    return bool(problem.any()) and not bool((mine[problem] >= VAGUE_WORD).any())


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def handover_title(name: str) -> str:
    """What a caller calls a handover: "transfer_to_sales" → "sales"."""
    words = name.replace("_", " ").strip()
    return _HANDOVER_PREFIX.sub("", words) or words


def first_question(text: str) -> str:
    """The first question a knowledge entry lists, as written."""
    return next(iter(questions(text)[1:2] or questions(text)), "")


@dataclass(frozen=True)
class Choice:
    """kind: answer | handover | action | goodbye | human | invite | clarify | unknown;
    `options`: the two labels a clarifying question names."""

    kind: str
    label: str
    score: float
    text: str = ""
    target: dict[str, Any] | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ranking:
    """Outcomes by their best-scoring label, best first; the off-topic prototypes' best score;
    every label's score."""

    ranked: list[tuple[float, str]]
    off_topic: float
    scores: dict[str, float]


class EmbeddedBrain:
    def __init__(self, snapshot: dict[str, Any]):
        self.snapshot = snapshot
        self.actions = {a["name"]: a for a in snapshot.get("actions", [])}
        self.handovers = {h["name"]: h for h in snapshot.get("handover_actions", [])}
        self._choices: dict[str, Choice] = {}
        examples: list[tuple[str, str]] = []
        for intent in snapshot.get("intents", []):
            label = f"intent:{intent.get('name', '')}"
            self._choices[label] = self._intent_choice(label, intent)
            examples += [(label, e) for e in intent.get("examples", []) if e.strip()]
        for i, item in enumerate(snapshot.get("knowledge", [])):
            label = f"knowledge:{i}"
            self._choices[label] = Choice("answer", label, 0, item.get("answer", ""))
            examples += [(label, q) for q in questions(item.get("question", ""))]
            examples.append((label, item.get("answer", "")))  # callers use its words too
        for name, handover in self.handovers.items():
            label = f"handover:{name}"
            self._choices[label] = Choice("handover", label, 0, target=handover)
            examples += [(label, p) for p in description_phrases(handover.get("description", ""))]
            examples.append((label, name.replace("_", " ")))
        for name, action in self.actions.items():
            label = f"action:{name}"
            kind = "goodbye" if action["kind"] == "end_call" else "action"
            self._choices[label] = Choice(kind, label, 0, target=action)
            examples += [(label, p) for p in description_phrases(action.get("description", ""))]
        self._choices["goodbye"] = Choice("goodbye", "goodbye", 0)
        examples += [("goodbye", e) for e in GOODBYE_EXAMPLES]
        self._choices["human"] = Choice("human", "human", 0)
        examples += [("human", e) for e in HUMAN_EXAMPLES]
        self._choices["opener"] = Choice("invite", "opener", 0)
        examples += [("opener", e) for e in OPENER_EXAMPLES]
        examples += [("off_topic", e) for e in OFF_TOPIC_EXAMPLES]
        examples += [("vague", e) for e in VAGUE_EXAMPLES]
        self.matcher = SemanticMatcher(examples)

    def _intent_choice(self, label: str, intent: dict[str, Any]) -> Choice:
        name = intent.get("action") or ""
        if name in self.handovers:
            return Choice("handover", label, 0, intent.get("response", ""), self.handovers[name])
        if name in self.actions:
            kind = "goodbye" if self.actions[name]["kind"] == "end_call" else "action"
            return Choice(kind, label, 0, intent.get("response", ""), self.actions[name])
        return Choice("answer", label, 0, intent.get("response", ""))

    def intent_for_digits(self, digits: str) -> dict[str, Any] | None:
        return next(
            (i for i in self.snapshot.get("intents", []) if digits and i.get("digits") == digits),
            None,
        )

    def _outcome(self, label: str) -> str:
        """What a label does: an intent that hands over counts as that handover."""
        choice = self._choices[label]
        if choice.kind in ("handover", "action") and choice.target is not None:
            return f"{choice.kind}:{choice.target['name']}"
        if choice.kind == "goodbye":
            return "goodbye"
        return f"{choice.kind}:{choice.text or label}"

    def option_key(self, label: str) -> str:
        """A label as a test names an outcome: "handover:NAME", "action:NAME" (an intent that
        hands over or runs an action counts as that), "knowledge:INDEX", "intent:NAME"."""
        choice = self._choices.get(label)
        if choice is None or choice.target is None or choice.kind == "answer":
            return label
        return f"{'handover' if choice.kind == 'handover' else 'action'}:{choice.target['name']}"

    def rank(self, text: str) -> Ranking:
        """Every outcome's best score for `text`, best first, and how off-topic it sounds."""
        scores = self.matcher.scores(text)
        off_topic = scores.pop("off_topic", 0.0)
        scores.pop("vague", None)  # not an outcome: its words are read in choose()
        if scores.get("opener", 0.0) < OPENER_THRESHOLD:
            scores.pop("opener", None)
        by_outcome: dict[str, tuple[float, str]] = {}
        for label, score in scores.items():
            outcome = self._outcome(label)
            if score > by_outcome.get(outcome, (-1.0, ""))[0]:
                by_outcome[outcome] = (score, label)
        return Ranking(sorted(by_outcome.values(), reverse=True), off_topic, scores)

    def choose(self, text: str) -> Choice:
        """The best outcome if it is close enough, or clearly ahead of every other outcome; a
        clarifying question when two outcomes are about as close; "unknown" when nothing fits,
        when the request sounds more like something no business of this kind does, or when
        the best outcome's phrases leave most of what the caller talks about uncovered."""
        ranking = self.rank(text)
        if not ranking.ranked:
            return Choice("unknown", "not_understood", 0.0)
        score, label = ranking.ranked[0]
        runner_score, runner = ranking.ranked[1] if len(ranking.ranked) > 1 else (0.0, "")
        kind = self._choices[label].kind
        needed = HANDOVER_THRESHOLD if kind in ("handover", "action") else MATCH_THRESHOLD
        confident = score >= needed or (score >= MIN_SCORE and score - runner_score >= MIN_MARGIN)
        if not confident and not (kind in ("handover", "action") and score >= MIN_SCORE):
            return Choice("unknown", "not_understood", score)
        if kind in ANSWERING:
            cover = self.matcher.word_cover(text)
            other = self._other_team(ranking, label)
            if not confident:  # a vague problem fits no team well: ask which one
                if other and _vague(cover, label) and ranking.off_topic < score:
                    return Choice("clarify", "clarify", score, options=(label, other))
                return Choice("unknown", "not_understood", score)
            if _out_of_scope(cover, ranking.off_topic, score, label, kind):
                return Choice("unknown", "not_understood", score)
            if (
                self._choices.get(runner, Choice("", "", 0)).kind in ANSWERING
                and runner_score >= CLARIFY_MIN
                and score - runner_score < CLARIFY_MARGIN
            ):
                return Choice("clarify", "clarify", score, options=(label, runner))
            if other and _vague(cover, label):
                return Choice("clarify", "clarify", score, options=(label, other))
        score, label = self._by_description(ranking.scores, score, label)
        base = self._choices[label]
        return Choice(base.kind, base.label, score, base.text, base.target)

    def _other_team(self, ranking: Ranking, label: str) -> str:
        """When `label` hands over or runs an action: the best other outcome that does too and
        fits at all (≥ MIN_SCORE), else ""."""
        if self._choices[label].kind not in ("handover", "action"):
            return ""
        return next(
            (
                other
                for value, other in ranking.ranked
                if other != label
                and value >= MIN_SCORE
                and self._choices[other].kind in ("handover", "action")
                and self.option_key(other) != self.option_key(label)
            ),
            "",
        )

    def choose_between(self, text: str, options: list[str]) -> Choice | None:
        """The answer to a clarifying question naming `options`: by position ("the first
        one", "2"), else by which option's phrases fit the words better; None when unsure."""
        said = text.strip()
        named = [i for i, ordinal in enumerate(ORDINALS) if ordinal.search(said)]
        if len(named) == 1 and named[0] < len(options):
            return self.choice(options[named[0]], 1.0)
        scores = self.matcher.scores(_without_negated_clauses(text))
        keys = [self.option_key(o) for o in options]
        best = [
            max((v for label, v in scores.items() if self.option_key(label) == key), default=0.0)
            for key in keys
        ]
        ranked = sorted(zip(best, options, strict=True), reverse=True)
        elsewhere = max(scores.values(), default=0.0)  # a new request rather than an answer
        if (
            ranked[0][0] >= MIN_SCORE
            and ranked[0][0] - ranked[1][0] >= CLARIFY_RESOLVE_MARGIN
            and ranked[0][0] >= elsewhere - CLARIFY_RESOLVE_MARGIN
        ):
            return self.choice(ranked[0][1], ranked[0][0])
        return None

    def option_phrase(self, label: str) -> str:
        """An outcome as a clarifying question names it: a knowledge entry by its first
        question, a handover or action by its description in the second person ("you want to
        book an appointment"), an answering intent by its first example."""
        kind, _, name = label.partition(":")
        if kind == "knowledge" and name.isdigit():
            items = self.snapshot.get("knowledge", [])
            if int(name) < len(items):
                question = first_question(items[int(name)].get("question", ""))
                return _lower_first(question.rstrip("?. "))
        base = self._choices.get(label)
        if base is not None and base.target is not None:
            described = second_person(base.target.get("description", ""))
            if described:
                return described
            return f"{kind} {handover_title(base.target['name'])}"
        if kind == "intent":
            intent: dict[str, Any] = next(
                (i for i in self.snapshot.get("intents", []) if i.get("name") == name), {}
            )
            return next(iter(intent.get("examples", [])), name.replace("_", " "))
        return label

    def choice(self, label: str, score: float) -> Choice:
        base = self._choices[label]
        return Choice(base.kind, base.label, score, base.text, base.target)

    def _by_description(
        self, scores: dict[str, float], score: float, label: str
    ) -> tuple[float, str]:
        """An intent that hands over to one handover yields to another handover whose own
        description fits the caller clearly better than the intended handover's does."""
        base = self._choices[label]
        if not label.startswith("intent:") or base.kind != "handover" or base.target is None:
            return score, label
        intended = scores.get(f"handover:{base.target['name']}", 0.0)
        others = [
            (value, other)
            for other, value in scores.items()
            if other.startswith("handover:") and other != f"handover:{base.target['name']}"
        ]
        if not others:
            return score, label
        best, other = max(others)
        if best >= MATCH_THRESHOLD and best - intended >= DESCRIPTION_MARGIN:
            return best, other
        return score, label

    def choose_handover(self, text: str, names: list[str]) -> Choice | None:
        """The answer to "whom would you like to speak to?": one of `names`, by its title
        ("sales") in the words, else by its description; None when neither fits."""
        spoken = f" {re.sub(r'[^a-z0-9]+', ' ', text.lower())} "
        named = [n for n in names if f" {handover_title(n).lower()} " in spoken]
        if len(named) == 1:
            base = self._choices[f"handover:{named[0]}"]
            return Choice(base.kind, base.label, 1.0, base.text, base.target)
        scores = self.matcher.scores(text)
        ranked = sorted((scores.get(f"handover:{n}", 0.0), f"handover:{n}") for n in names)
        if not ranked or ranked[-1][0] < MATCH_THRESHOLD:
            return None
        score, label = ranked[-1]
        base = self._choices[label]
        return Choice(base.kind, base.label, score, base.text, base.target)

    def human_handovers(self) -> list[dict[str, Any]]:
        """Whom "a person" means: the agent's default human handover, or, when none is chosen
        (or it no longer exists, or an older snapshot has no such key), every handover."""
        name = self.snapshot.get("default_handover") or ""
        if name in self.handovers:
            return [self.handovers[name]]
        return list(self.handovers.values())

    def describe(self, choice: Choice) -> str:
        """The choice in words, for the call timeline."""
        kind, _, name = choice.label.partition(":")
        if kind == "knowledge":
            items = self.snapshot.get("knowledge", [])
            index = int(name) if name.isdigit() else -1
            if 0 <= index < len(items):
                return f"the answer to “{first_question(items[index].get('question', ''))}”"
        if kind == "intent":
            target = choice.target["name"] if choice.target else ""
            return f"the intent “{name}”" + (f" ({choice.kind} {target})" if target else "")
        if kind in ("handover", "action"):
            return f"the {kind} {name}"
        return {
            "goodbye": "to say goodbye",
            "human": "to put the caller through to a person",
            "opener": "to invite the caller to ask",
            "not_understood": "nothing: no answer fits",
        }.get(choice.label, choice.label)

    def choose_intent(self, intent: dict[str, Any]) -> Choice:
        label = f"intent:{intent.get('name', '')}"
        base = self._choices.get(label) or self._intent_choice(label, intent)
        return Choice(base.kind, base.label, 1.0, base.text, base.target)
