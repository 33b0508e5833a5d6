"""The rete evaluator: the condition tree compiled into durable_rules rulesets at run time.

durable_rules is a Rete engine with a C core, built for stateful correlation. Its stateless
path has crash-level traps; this module is the only code that touches it, and it goes
around every trap (each has a test in ``tests/test_rete_traps.py``):

* **facts, not events** — ``assert_fact`` fires every matching rule; ``post`` fires one.
* **a fresh session per evaluation, always cleaned up** — the manifest fact is asserted
  first and a catch-all rule fires on it, so every session has run an action before
  ``delete_state`` (deleting a session where nothing fired segfaults), and no session is
  left behind (1,024 live sessions exhaust the engine).
* **no background threads** — the raw C module is used, never ``durable.engine.Host``,
  whose dispatcher and timer threads run actions on other requests' sessions.
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
* **each ruleset version under its own name, and a bound on versions per process** —
  there is no unregister and regex automata are never freed.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import durable_rules_engine as dre

from assay.engine import conditions as c
from assay.engine.errors import AssayError, Problem
from assay.engine.evaluators.base import EngineKind, Hit, canonical
from assay.engine.evaluators.closures import Getter, predicate, value
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
            if isinstance(node, c.Matches) and parse_regex(node.pattern).has_class:
                # Its automaton joins a character class and '.' wrongly ('.*[A-Z]0.*' misses
                # 'A0B'): such patterns are decided in Python too (docs/durable_rules.md).
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


class ReteHost:
    """Owns the durable_rules rulesets of one engine: names, lifetimes, the call lock.

    durable_rules never releases the GIL and keeps no locks of its own; every call into it
    goes through ``self.lock``. Versions are registered under unique names and deleted when
    retired and idle; at most ``max_versions`` are ever created in one host, because regex
    automata are never freed (recycle the worker process to go past it).
    """

    def __init__(self, max_versions: int = 64) -> None:
        self.lock = threading.RLock()
        self.max_versions = max_versions
        self.created = 0
        self._token = uuid.uuid4().hex[:8]
        self._sessions = 0

    def next_sid(self) -> str:
        self._sessions += 1  # called under self.lock
        return f"s{self._sessions}"

    def register(self, ruleset: RuleSet, rules: Json) -> tuple[int, str]:
        """Create ``rules`` in durable_rules under a fresh name; ``(handle, name)``."""
        with self.lock:
            if self.created >= self.max_versions:
                raise AssayError(
                    Problem(
                        "rete_limit",
                        f"this process has compiled {self.created} ruleset versions into "
                        "durable_rules, its limit; the engine never frees regex automata",
                        None,
                        "restart the worker (or raise ASSAY_RETE_MAX_VERSIONS knowingly)",
                    )
                )
            self.created += 1
            name = (
                f"{ruleset.name}@{ruleset.version}#{ruleset.sha256[:12]}"
                f"#{self._token}.{self.created}"
            )
            try:
                return int(dre.create_ruleset(name, _dumps(rules))), name
            except dre.error as exc:
                code = _error_code(exc)
                if code in _AUTOMATON_ERRORS:
                    raise AssayError(self._automaton_problems(ruleset, rules, name, code)) from None
                raise AssayError(
                    Problem(
                        "rete_failure",
                        f"durable_rules rejected the compiled ruleset {ruleset.label}: {exc}",
                        None,
                        "run 'assay rules check' and report the rule that triggers it",
                    )
                ) from None

    def _automaton_problems(
        self, ruleset: RuleSet, rules: Json, name: str, code: int
    ) -> list[Problem]:
        """Find which rules' patterns durable_rules cannot build, by trying each alone."""
        problems = []
        for key, definition in rules.items():
            if key == "anchor":
                continue
            try:
                handle = dre.create_ruleset(f"{name}.probe.{key}", _dumps({key: definition}))
            except dre.error as exc:
                rule = ruleset.rules[int(key[1:])]
                reason = _AUTOMATON_ERRORS.get(_error_code(exc), f"error {_error_code(exc)}")
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
            else:
                dre.delete_ruleset(handle)
        return problems or [
            Problem(
                "rete_limit",
                f"durable_rules cannot build {ruleset.label}: {_AUTOMATON_ERRORS[code]}",
                None,
            )
        ]

    def delete(self, handle: int) -> None:
        with self.lock:
            dre.delete_ruleset(handle)


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
        self._handle: int | None
        self._handle, self.name = host.register(ruleset, rules)
        self._in_flight = 0
        self._retired = False

    # Reference counting, so a version swapped out mid-request is freed only when idle.
    def acquire(self) -> None:
        with self._host.lock:
            if self._handle is None:
                raise AssayError(
                    Problem("rete_failure", f"ruleset {self.name} was already released", None)
                )
            self._in_flight += 1

    def release(self) -> None:
        with self._host.lock:
            self._in_flight -= 1
            if self._retired and self._in_flight == 0:
                self._free()

    def close(self) -> None:
        with self._host.lock:
            self._retired = True
            if self._in_flight == 0:
                self._free()

    def _free(self) -> None:
        if self._handle is not None:
            self._host.delete(self._handle)
            self._handle = None

    def evaluate(self, manifest: View, items: list[View]) -> list[Hit]:
        empty: View = {}
        host = self._host
        with host.lock:
            handle = self._handle
            if handle is None:
                raise AssayError(
                    Problem("rete_failure", f"ruleset {self.name} was already released", None)
                )
            sid = host.next_sid()
            facts = [self._write_manifest("m", sid, empty, manifest)]
            if self._has_item_rules:
                facts += [
                    self._write_item(str(int(item["line"])), sid, item, manifest) for item in items
                ]
            fired: set[Hit] = set()
            try:
                result = dre.assert_fact(handle, facts[0])
            except dre.error as exc:  # nothing was stored: no session to clean up
                raise _failure(self.name, exc, facts[0]) from None
            state = result[1]
            failure: AssayError | None = None
            for fact in facts[1:]:
                try:
                    dre.assert_fact(handle, fact)
                except dre.error as exc:
                    failure = _failure(self.name, exc, fact)
                    break
            # Drain every action (the anchor rule guarantees at least one), then delete.
            action = dre.start_action_for_state(handle, state)
            while action:
                message = action[1] if isinstance(action, tuple) else action
                rule_name = message[2 : message.index('"', 2)]
                if rule_name != "anchor":
                    start = message.index('"id":"') + 6
                    fact_id = message[start : message.index('"', start)]
                    fired.add(Hit(int(rule_name[1:]), None if fact_id == "m" else int(fact_id)))
                action = dre.complete_and_start_action(handle, state)
            dre.delete_state(handle, sid)
            if failure is not None:
                raise failure
        return canonical(fired)


_AUTOMATON_ERRORS = {
    502: "its automaton needs more than 4,096 transitions",
    503: "its automaton needs more than 4,096 states",
    504: "its automaton overflows the build queue",
    505: "its automaton overflows a list",
    506: "its automaton overflows a set",
    507: "its automaton has conflicting transitions",
    508: "durable_rules calls it invalid",
}


def _error_code(exc: Exception) -> int:
    digits = str(exc).rsplit(":", 1)[-1].strip()
    return int(digits) if digits.isdigit() else -1


def _failure(name: str, exc: Exception, fact: str) -> AssayError:
    return AssayError(
        Problem(
            "rete_failure",
            f"durable_rules failed on a fact for {name}: {exc} (fact of {len(fact)} bytes)",
            None,
            "screen with the compiled evaluator and report this manifest",
        )
    )
