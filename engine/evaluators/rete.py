"""The rete evaluator: the condition tree compiled into durable_rules rulesets at run time.

durable_rules is a Rete engine with a C core, built for stateful correlation. Its stateless
path has crash-level traps; this module and the host process it drives
(:mod:`assay.engine.evaluators.durable_host`) are the only code that touches it, and they go
around every trap (each has a test in ``tests/test_rete_traps.py``):

* **facts, not events** — ``assert_fact`` fires every matching rule; ``post`` fires one.
* **a fresh session per evaluation, always cleaned up** — the manifest fact is asserted
  first and a catch-all rule fires on it, so every session has run an action before
  ``delete_state`` (deleting a session where nothing fired segfaults), and no session is
  left behind (1,024 live sessions exhaust the engine).
* **no background threads** — the raw C module is used, never ``durable.engine.Host``,
  whose dispatcher and timer threads run actions on other requests' sessions.
* **in a host process of its own** — rulesets live in a child process
  (:mod:`assay.engine.evaluators.durable_host`): compiling leaks the pattern automata in
  durable_rules' C heap, which only ending the process frees, so after a bounded number of
  versions a fresh process takes the next ones and the old one ends once idle; a crash
  in durable_rules ends that process, not the service.
* **an existence guard for every field a condition reads** — a missing right-hand field
  makes a comparison true; nulls are omitted from facts and every leaf is ``$ex``-guarded.
* **numbers as numbers, in a notation the C parser reads** — ``1e-07`` is rejected (error
  204); numbers are always written with a decimal point (``1.0e-07``).
* **text it can store byte for byte** — JSON escapes are not decoded, so text is
  normalised without ``"``, ``\\`` and control characters before it gets here.
* **negation pushed down** — durable_rules has no NOT over an expression: De Morgan plus
  operator flips; a negated text test (no ``$nmt`` exists) is lifted into a fact field.
* **arithmetic in derived fields** — only right-hand arithmetic exists; expressions are
  computed in Python and sent as fact fields.
* **no regex alternation** — the safe subset has none; ``any of`` lists become ``$or``s of
  single-pattern ``$mt`` tests.
* **each ruleset version under its own name, deleted when retired and idle** — names
  cannot be reused; ``delete_ruleset`` frees all but the automata (see above).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from assay.engine import conditions as c
from assay.engine.errors import AssayError, Problem
from assay.engine.evaluators.base import EngineKind, Hit, canonical
from assay.engine.evaluators.closures import Getter, predicate, value
from assay.engine.evaluators.durable_host import CALL_TIMEOUT, HostProcess, HostProcessError
from assay.engine.features import View
from assay.engine.fields import BY_PATH
from assay.engine.regex import parse_regex
from assay.engine.ruleset import RuleSet

Json = dict[str, Any]

# durable_rules counts about 252 properties per message, flattened nested fields included.
MAX_FACT_PROPERTIES = 240
_OPS: dict[c.CompareOp, str] = {
    "==": "$eq",
    "!=": "$neq",
    "<": "$lt",
    "<=": "$lte",
    ">": "$gt",
    ">=": "$gte",
}


def number(x: float) -> str:
    """A float in JSON that durable_rules' parser reads: always with a decimal point."""
    text = repr(float(x))
    if "e" in text and "." not in text.split("e")[0]:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent}"
    return text


def _set_key(member: str) -> str:
    return "k_" + member.encode().hex()


def _escape_regex(text: str) -> str:
    return "".join("%" + ch if ch in ".|?*+()[]{}%" else ch for ch in text)


@dataclass
class _Layout:
    """How the views of one scope (item facts or the manifest fact) become fact fields."""

    kind: str  # "i" or "m"
    fields: dict[str, str] = field(default_factory=dict)  # path -> key
    set_members: dict[str, set[str]] = field(default_factory=dict)  # path -> members tested
    lifted_values: list[tuple[str, Getter]] = field(default_factory=list)
    lifted_truths: list[tuple[str, Callable[[View, View], bool]]] = field(default_factory=list)

    def key(self, path: str) -> str:
        if path not in self.fields:
            self.fields[path] = f"f{len(self.fields)}"
        return self.fields[path]

    def lift_value(self, node: c.Value) -> str:
        key = f"x{len(self.lifted_values)}"
        self.lifted_values.append((key, value(node)))
        return key

    def lift_truth(self, node: c.Condition) -> str:
        key = f"t{len(self.lifted_truths)}"
        self.lifted_truths.append((key, predicate(node)))
        return key

    def property_count(self) -> int:
        plain = len(self.fields) - len(self.set_members)
        members = sum(len(v) for v in self.set_members.values())
        return 3 + plain + members + len(self.lifted_values) + len(self.lifted_truths)

    def serializer(self) -> Callable[[str, str, View, View], str]:
        """A function writing one fact as JSON text: ``(fact_id, sid, item, manifest)``."""
        plan: list[tuple[str, str, str, Any]] = []
        for path, key in self.fields.items():
            spec = BY_PATH[path]
            scope = "i" if spec.scope == "item" else "m"
            if spec.type == "set":
                members = tuple(sorted(self.set_members.get(path, ())))
                plan.append(("set", key, scope, (spec.key, members)))
            else:
                plan.append((spec.type, key, scope, spec.key))
        values = list(self.lifted_values)
        truths = list(self.lifted_truths)
        kind = self.kind

        def write(fact_id: str, sid: str, item: View, manifest: View) -> str:
            parts = [f'{{"id":"{fact_id}","sid":"{sid}","kind":"{kind}"']
            for type_, key, scope, spec in plan:
                view = item if scope == "i" else manifest
                if type_ == "set":
                    view_key, members = spec
                    present = view[view_key]
                    inner = ",".join(f'"{_set_key(x)}":1' for x in members if x in present)
                    parts.append(f'"{key}":{{{inner}}}')
                    continue
                v = view[spec]
                if v is None:
                    continue
                if type_ == "number":
                    parts.append(f'"{key}":{number(v)}')
                elif type_ == "text":
                    parts.append(f'"{key}":{json.dumps(v, ensure_ascii=False)}')
                else:
                    parts.append(f'"{key}":{"true" if v else "false"}')
            for key, get in values:
                v = get(item, manifest)
                if v is not None:
                    parts.append(f'"{key}":{number(v)}')
            for key, truth in truths:
                if truth(item, manifest):
                    parts.append(f'"{key}":1')
            return ",".join(parts) + "}"

        return write


class _Compiler:
    """Condition tree -> durable_rules JSON expression, negation pushed to the leaves."""

    def __init__(self, layout: _Layout) -> None:
        self.layout = layout

    def operand(self, node: c.Value) -> str | None:
        """The fact key holding ``node``'s value, or None for a constant."""
        if isinstance(node, c.Field):
            return self.layout.key(node.path)
        if isinstance(node, c.Const):
            return None
        return self.layout.lift_value(node)

    def emit(self, node: c.Condition, negated: bool = False) -> Json:
        if isinstance(node, c.Not):
            return self.emit(node.item, not negated)
        if isinstance(node, c.And | c.Or):
            conjunctive = isinstance(node, c.And) != negated
            parts = [self.emit(x, negated) for x in node.items]
            return {"$and" if conjunctive else "$or": parts}
        if isinstance(node, c.Known):
            truth = node.value != negated
            return {"kind": self.layout.kind} if truth else {"$nex": {"kind": 1}}
        if isinstance(node, c.Compare):
            return self._compare(node, negated)
        if isinstance(node, c.In):
            return self._membership(node, negated)
        if isinstance(node, c.Text | c.Matches):
            if negated:
                # durable_rules has no negated regex test: the leaf is decided in Python and
                # sent as a fact field (listed in docs/durable_rules.md).
                return {"$ex": {self.layout.lift_truth(c.Not(node)): 1}}
            if isinstance(node, c.Matches) and not parse_regex(node.pattern).automaton_safe:
                # Its automaton joins a character class and '.' wrongly ('.*[A-Z]0.*' misses
                # 'A0B'), and a '.' and a literal ('.*AB..*' misses 'ABA'): such patterns are
                # decided in Python too (docs/durable_rules.md).
                return {"$ex": {self.layout.lift_truth(node): 1}}
            return self._text(node)
        if isinstance(node, c.Present):
            key = self.operand(node.operand)
            assert key is not None
            return {"$nex" if negated else "$ex": {key: 1}}
        if isinstance(node, c.Truth):
            key = self.operand(node.operand)
            assert key is not None
            if negated:
                return {
                    "$or": [
                        {"$nex": {key: 1}},
                        {"$and": [{"$ex": {key: 1}}, {"$eq": {key: False}}]},
                    ]
                }
            return {"$and": [{"$ex": {key: 1}}, {"$eq": {key: True}}]}
        raise TypeError(f"unknown condition node {node!r}")

    def _compare(self, node: c.Compare, negated: bool) -> Json:
        op = c.NEGATED_COMPARE[node.op] if negated else node.op
        left, right = node.left, node.right
        if isinstance(left, c.Const) and not isinstance(right, c.Const):
            left, right = right, left
            op = c.MIRRORED_COMPARE[op]
        a = self.operand(left)
        assert a is not None
        guards = [{"$ex": {a: 1}}]
        b = self.operand(right)
        if b is None:
            assert isinstance(right, c.Const)
            test: Json = {_OPS[op]: {a: right.value}}
        else:
            guards.append({"$ex": {b: 1}})
            test = {_OPS[op]: {a: {"$m": b}}}
        positive = {"$and": [*guards, test]}
        if not negated:
            return positive
        # not (a op b): a or b missing, or both present and the flipped test holds.
        missing = [{"$nex": g["$ex"]} for g in guards]
        return {"$or": [*missing, positive]}

    def _membership(self, node: c.In, negated: bool) -> Json:
        """``x in [...]`` holds when x is present and one of the list; ``x not in [...]``
        (``node.negated``) when x is present and none of it. Under an outer ``not`` either
        also holds when x is missing."""
        hay = node.haystack
        listed = hay.value if isinstance(hay, c.Const) and isinstance(hay.value, tuple) else ()
        if node.negated != negated and len(listed) > _MAX_UNEQUAL_TESTS:
            # "none of a long list" is one $neq per value in a single sequence, and
            # durable_rules refuses a sequence of 32 expressions (error 113): decided in
            # Python and sent as a fact field (docs/durable_rules.md).
            return {"$ex": {self.layout.lift_truth(c.Not(node) if negated else node): 1}}
        if node.negated:  # a set field is never missing: "A" not in s == not ("A" in s)
            if isinstance(hay, c.Field):
                return self._membership(replace(node, negated=False), not negated)
            assert isinstance(hay, c.Const) and isinstance(hay.value, tuple)
            a = self.operand(node.needle)
            assert a is not None
            values = list(dict.fromkeys(hay.value))
            if not negated:
                return {"$and": [{"$ex": {a: 1}}, *({"$neq": {a: v}} for v in values)]}
            if not values:  # missing, or one of an empty list
                return {"$nex": {a: 1}}
            equal = [{"$eq": {a: v}} for v in values]
            one_of = equal[0] if len(equal) == 1 else {"$or": equal}
            return {"$or": [{"$nex": {a: 1}}, {"$and": [{"$ex": {a: 1}}, one_of]}]}
        if isinstance(hay, c.Field):  # a constant in a set field
            assert isinstance(node.needle, c.Const)
            member = str(node.needle.value)
            key = self.layout.key(hay.path)
            self.layout.set_members.setdefault(hay.path, set()).add(member)
            return {"$nex" if negated else "$ex": {f"{key}.{_set_key(member)}": 1}}
        assert isinstance(hay, c.Const) and isinstance(hay.value, tuple)
        a = self.operand(node.needle)
        assert a is not None
        options = list(dict.fromkeys(hay.value))
        if negated:
            return {
                "$or": [
                    {"$nex": {a: 1}},
                    {"$and": [{"$ex": {a: 1}}, *({"$neq": {a: v}} for v in options)]},
                ]
            }
        tests = [{"$eq": {a: v}} for v in options]
        return {"$and": [{"$ex": {a: 1}}, tests[0] if len(tests) == 1 else {"$or": tests}]}

    def _text(self, node: c.Text | c.Matches) -> Json:
        subject = node.subject
        key = self.operand(subject)
        assert key is not None
        if isinstance(node, c.Matches):
            patterns = [parse_regex(node.pattern).durable]
        else:
            assert isinstance(node.needles, c.Const)
            raw = node.needles.value
            needles = [str(x) for x in (raw if isinstance(raw, tuple) else (raw,))]
            escape = _escape_regex
            if node.op == "contains":
                patterns = [f".*{escape(n)}.*" for n in needles]
            elif node.op == "starts_with":
                patterns = [f"{escape(n)}.*" for n in needles]
            else:
                patterns = [f".*{escape(n)}" for n in needles]
        tests = [{"$mt": {key: p}} for p in dict.fromkeys(patterns)]
        return {"$and": [{"$ex": {key: 1}}, tests[0] if len(tests) == 1 else {"$or": tests}]}


def _dumps(node: Any) -> str:
    """JSON text with numbers in the notation durable_rules reads (see :func:`number`)."""
    if isinstance(node, dict):
        return "{" + ",".join(f"{_dumps(str(k))}:{_dumps(v)}" for k, v in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ",".join(_dumps(v) for v in node) + "]"
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, int):
        return str(node)
    if isinstance(node, float):
        return number(node)
    if isinstance(node, str):
        return json.dumps(node, ensure_ascii=False)
    raise TypeError(f"cannot write {node!r} for durable_rules")


# Past this many values, "x not in [...]" (and "not (x in [...])") is decided in Python: each
# value is one $neq in a single expression sequence, which durable_rules caps at 32 together
# with the rest of the rule's conjunction (MAX_SEQUENCE_EXPRESSIONS, error 113).
_MAX_UNEQUAL_TESTS = 8


def definition(ruleset: RuleSet) -> tuple[Json, _Layout, _Layout]:
    """The durable_rules ruleset definition for ``ruleset`` and the two fact layouts."""
    item_layout, manifest_layout = _Layout("i"), _Layout("m")
    rules: Json = {"anchor": {"all": [{"m": {"kind": "m"}}]}}
    for n, rule in enumerate(ruleset.rules):
        layout = item_layout if rule.scope == "item" else manifest_layout
        expression = _Compiler(layout).emit(rule.when)
        rules[f"r{n}"] = {"all": [{"m": {"$and": [{"kind": layout.kind}, expression]}}]}
    for layout in (item_layout, manifest_layout):
        if layout.property_count() > MAX_FACT_PROPERTIES:
            raise AssayError(
                Problem(
                    "rete_limit",
                    f"the ruleset needs {layout.property_count()} fact properties; durable_rules "
                    f"handles at most about {MAX_FACT_PROPERTIES}",
                    None,
                    "split the pack, or screen it with the compiled evaluator",
                )
            )
    return rules, item_layout, manifest_layout


# Versions compiled in one durable_rules host process before a fresh process takes the
# next ones (ASSAY_RETE_MAX_VERSIONS): each compile leaks its pattern automata in the host,
# so this bounds a host's growth. Measured with the shipped pack, activated and screened
# with in turn: ~1.7 MB a version, so a host stays under ~20 MB + 16 x 1.7 MB; starting a
# fresh one takes ~0.25 s, off the lock.
DEFAULT_VERSIONS_PER_PROCESS = 16


@dataclass(eq=False)
class Registration:
    """One ruleset version in durable_rules: the host process holding it, its handle there
    (None once released), and its definition, to create it again if that process ends."""

    name: str
    definition: str
    process: HostProcess | None = None
    handle: int | None = None


@dataclass(frozen=True)
class HostStats:
    """What a :class:`ReteHost` holds: its running host processes (process id, versions
    compiled in it, rulesets alive in it), and how many versions it created in all."""

    processes: tuple[tuple[int, int, int], ...]
    created: int

    @property
    def live_rulesets(self) -> int:
        return sum(live for _, _, live in self.processes)


class ReteHost:
    """Owns the durable_rules rulesets of one engine: where they live, their lifetimes,
    the call lock.

    The rulesets live in a host process (:mod:`assay.engine.evaluators.durable_host`), which
    compiles at most ``max_versions`` versions; the next version goes to a fresh process,
    and the old one is ended as soon as no ruleset in it is in use (every version in it
    retired, no screening in flight). Compiling leaks memory inside durable_rules that only
    ending its process gives back; this way any number of versions can be activated, and
    at most two host processes (the current one and one draining) are usually running.

    One request at a time goes to a host process, under ``self.lock``. If a host process
    ends (a crash in durable_rules, the OOM killer), a screening re-creates its ruleset in
    a fresh process and tries once more.
    """

    def __init__(
        self, max_versions: int = DEFAULT_VERSIONS_PER_PROCESS, timeout: float = CALL_TIMEOUT
    ) -> None:
        if max_versions < 1:
            raise ValueError(f"max_versions must be at least 1, not {max_versions}")
        self.lock = threading.RLock()
        self.max_versions = max_versions
        self.timeout = timeout
        self.created = 0
        self._token = uuid.uuid4().hex[:8]
        self._sessions = itertools.count(1)  # next() is atomic: sids need no lock
        self._current: HostProcess | None = None
        self._draining: list[HostProcess] = []

    def next_sid(self) -> str:
        return f"s{next(self._sessions)}"

    def stats(self) -> HostStats:
        with self.lock:
            processes = [p for p in (self._current, *self._draining) if p is not None]
            return HostStats(
                tuple((p.pid, p.compiled, len(p.live)) for p in processes if p.gone is None),
                self.created,
            )

    # ------------------------------------------------------------------ host processes

    def _full(self) -> bool:
        """Whether the next ruleset needs a fresh host process."""
        current = self._current
        return current is None or current.gone is not None or current.compiled >= self.max_versions

    def _start(self) -> HostProcess:
        try:
            return HostProcess(self.timeout)
        except HostProcessError as exc:
            raise AssayError(
                Problem(
                    "rete_failure",
                    f"could not start a durable_rules host process: {exc}",
                    None,
                    "check that this Python can import durable_rules_engine and may start "
                    "processes, or screen with the compiled evaluator",
                )
            ) from None

    def _process(self, spare: list[HostProcess] | None = None) -> HostProcess:
        """The host process new rulesets go to (called under the lock): a fresh one when the
        current one has compiled ``max_versions`` versions or has ended; the one in
        ``spare``, if any, started beforehand."""
        current = self._current
        if not self._full():
            assert current is not None
            return current
        self._current = None
        if current is not None:
            self._retire(current)
        fresh = spare.pop() if spare else self._start()
        self._current = fresh
        return fresh

    def _retire(self, process: HostProcess) -> None:
        """No new rulesets go to ``process``; it ends once none of its rulesets is in use."""
        if process.gone is None and process.live:
            self._draining.append(process)
        else:
            process.close()

    def close(self) -> None:
        """End every host process (every ruleset in them is lost); idempotent."""
        with self.lock:
            for process in (self._current, *self._draining):
                if process is not None:
                    process.close()
            self._current = None
            self._draining.clear()

    # ------------------------------------------------------------------------ rulesets

    def register(self, ruleset: RuleSet, rules: Json) -> Registration:
        """Create ``rules`` in durable_rules under a fresh name."""
        definition = _dumps(rules)
        # A process needed is started before taking the lock (~0.25 s: Python and its
        # imports), so that screenings with the versions already loaded go on meanwhile.
        spare = [self._start()] if self._full() else []
        try:
            with self.lock:
                return self._register(ruleset, rules, definition, spare)
        finally:
            for unused in spare:  # another registration started one first
                unused.close()

    def _register(
        self, ruleset: RuleSet, rules: Json, definition: str, spare: list[HostProcess]
    ) -> Registration:
        """Create ``rules`` as ``definition`` (called under the lock)."""
        self.created += 1
        name = (
            f"{ruleset.name}@{ruleset.version}#{ruleset.sha256[:12]}#{self._token}.{self.created}"
        )
        registration = Registration(name, definition)
        for attempt in (1, 2):
            process = self._process(spare)
            process.compiled += 1
            try:
                answer = process.call(["create", name, registration.definition])
            except HostProcessError as exc:
                if attempt == 2:
                    raise AssayError(
                        Problem(
                            "rete_failure",
                            f"compiling {ruleset.label} into durable_rules: {exc}",
                            None,
                            "run 'assay rules check' and report the rule that triggers it",
                        )
                    ) from None
                continue
            if answer[0] == "ok":
                registration.process, registration.handle = process, int(answer[1])
                process.live.add(registration.handle)
                return registration
            code = _error_code(answer[1])
            if code in _AUTOMATON_ERRORS:
                raise AssayError(self._automaton_problems(ruleset, rules, name, code))
            raise AssayError(
                Problem(
                    "rete_failure",
                    f"durable_rules rejected the compiled ruleset {ruleset.label}: {answer[1]}",
                    None,
                    "run 'assay rules check' and report the rule that triggers it",
                )
            )
        raise AssertionError("unreachable")

    def _recreate(self, registration: Registration) -> None:
        """Create ``registration`` again in a running host process: the one it was in ended."""
        process = self._process()
        process.compiled += 1
        answer = process.call(["create", f"{registration.name}.again", registration.definition])
        if answer[0] != "ok":  # it was created once: this is not the definition's fault
            raise HostProcessError(f"creating {registration.name} again failed: {answer[1]}")
        registration.process, registration.handle = process, int(answer[1])
        process.live.add(registration.handle)

    def _automaton_problems(
        self, ruleset: RuleSet, rules: Json, name: str, code: int
    ) -> list[Problem]:
        """Find which rules' patterns durable_rules cannot build, by trying each alone."""
        problems = []
        for key, definition in rules.items():
            if key == "anchor":
                continue
            process = self._process()
            process.compiled += 1
            try:
                answer = process.call(["create", f"{name}.probe.{key}", _dumps({key: definition})])
            except HostProcessError:
                continue
            if answer[0] == "ok":
                process.call(["delete", int(answer[1])])
                continue
            rule = ruleset.rules[int(key[1:])]
            error = _error_code(answer[1])
            reason = _AUTOMATON_ERRORS.get(error, f"error {error}")
            problems.append(
                Problem(
                    "rete_limit",
                    f"durable_rules cannot build the pattern automaton of rule '{rule.id}' "
                    f"({reason})",
                    rule.when_at,
                    "simplify the pattern (fewer repeats next to '.*'), or screen this "
                    "pack with the compiled evaluator, which runs it",
                )
            )
        return problems or [
            Problem(
                "rete_limit",
                f"durable_rules cannot build {ruleset.label}: {_AUTOMATON_ERRORS[code]}",
                None,
            )
        ]

    def delete(self, registration: Registration) -> None:
        """Delete ``registration``'s ruleset; its host process ends if it was the last one
        in use there and newer versions go elsewhere."""
        with self.lock:
            process, handle = registration.process, registration.handle
            registration.handle = None
            if process is None or handle is None:
                return
            process.live.discard(handle)
            if process.gone is None:
                with contextlib.suppress(HostProcessError):  # ended: its rulesets went too
                    process.call(["delete", handle])
            if process is not self._current and not process.live:
                process.close()
                if process in self._draining:
                    self._draining.remove(process)

    def screen(
        self, registration: Registration, sid: str, facts: list[str]
    ) -> tuple[list[list[int]], list[Any] | None]:
        """Assert ``facts`` (the manifest's first) in a fresh session ``sid`` of
        ``registration``'s ruleset: ``(fired [rule, line or -1], failure or None)``."""
        with self.lock:
            problem = ""
            for _attempt in (1, 2):
                if registration.handle is None:
                    raise _released(registration.name)
                try:
                    process = registration.process
                    if process is None or process.gone is not None:
                        self._recreate(registration)
                        process = registration.process
                    assert process is not None
                    answer = process.call(["screen", registration.handle, sid, facts])
                except HostProcessError as exc:
                    problem = str(exc)
                    continue
                if answer[0] != "ok":
                    raise AssayError(
                        Problem(
                            "rete_failure",
                            f"durable_rules failed screening with {registration.name}: {answer[1]}",
                            None,
                            "screen with the compiled evaluator and report this manifest",
                        )
                    )
                return answer[1], answer[2]
            raise AssayError(
                Problem(
                    "rete_failure",
                    f"screening with {registration.name}: {problem}",
                    None,
                    "the worker starts a fresh host process for the next screening; if this "
                    "manifest ends it again, screen it with the compiled evaluator and report it",
                )
            )


class ReteEvaluator:
    kind: EngineKind = "rete"

    def __init__(self, ruleset: RuleSet, host: ReteHost) -> None:
        self.ruleset = ruleset
        self._host = host
        rules, item_layout, manifest_layout = definition(ruleset)
        self.definition = rules
        self._write_item = item_layout.serializer()
        self._write_manifest = manifest_layout.serializer()
        self._has_item_rules = any(r.scope == "item" for r in ruleset.rules)
        self._registration = host.register(ruleset, rules)
        self.name = self._registration.name
        self._in_flight = 0
        self._retired = False

    # Reference counting, so a version swapped out mid-request is freed only when idle.
    def acquire(self) -> None:
        with self._host.lock:
            if self._registration.handle is None:
                raise _released(self.name)
            self._in_flight += 1

    def release(self) -> None:
        with self._host.lock:
            self._in_flight -= 1
            if self._retired and self._in_flight == 0:
                self._host.delete(self._registration)

    def close(self) -> None:
        with self._host.lock:
            self._retired = True
            if self._in_flight == 0:
                self._host.delete(self._registration)

    def evaluate(self, manifest: View, items: list[View]) -> list[Hit]:
        empty: View = {}
        sid = self._host.next_sid()
        facts = [self._write_manifest("m", sid, empty, manifest)]
        if self._has_item_rules:
            facts += [
                self._write_item(str(int(item["line"])), sid, item, manifest) for item in items
            ]
        fired, failure = self._host.screen(self._registration, sid, facts)
        if failure is not None:
            index, message = failure
            raise _failure(self.name, message, facts[index])
        return canonical({Hit(rule, None if line < 0 else line) for rule, line in fired})


_AUTOMATON_ERRORS = {
    502: "its automaton needs more than 4,096 transitions",
    503: "its automaton needs more than 4,096 states",
    504: "its automaton overflows the build queue",
    505: "its automaton overflows a list",
    506: "its automaton overflows a set",
    507: "its automaton has conflicting transitions",
    508: "durable_rules calls it invalid",
}


def _error_code(message: str) -> int:
    digits = message.rsplit(":", 1)[-1].strip()
    return int(digits) if digits.isdigit() else -1


def _released(name: str) -> AssayError:
    return AssayError(Problem("rete_failure", f"ruleset {name} was already released", None))


def _failure(name: str, message: str, fact: str) -> AssayError:
    return AssayError(
        Problem(
            "rete_failure",
            f"durable_rules failed on a fact for {name}: {message} (fact of {len(fact)} bytes)",
            None,
            "screen with the compiled evaluator and report this manifest",
        )
    )
