"""The durable_rules evaluator of correlation rules: sequence patterns joined in a Rete network.

A **sequence rule** is one whose ``alert_when`` is a count threshold, ``group.count >= N``
(or ``>``, or the mirrored forms, with a number or a param), and whose measures (in
``alert_when`` and the explanation) are read from the group alone. Such a rule is "N members
of one entity within the window", which durable_rules expresses as a chain of N facts. A
**repeat offender** is one whose ``alert_when`` is a seizure threshold, ``history.seizures >=
N`` (optionally ``and group.count >= M``): the member (or the chain of M) joined with a chain of
N **seizure facts** of its entity counted for it (:func:`offender_definition`). Every
other rule (sums such as the volume jump, distinct counts such as the new receivers, anything
reading the baseline window) is **delegated to the reference Python evaluator**, loudly: a
warning is logged when the evaluator is built, :attr:`ReteCorrelator.delegated` names each
such rule with the reason, and ``assay screen --alerts --engine rete`` prints it.

How it goes around durable_rules' traps (``docs/durable_rules.md``, ``CORRELATION_NOTES``):

* **One driver, no background threads.** The raw C module (``durable_rules_engine``) only:
  assert, then drain every action of that session at once. Never ``durable.engine.Host``
  (its dispatcher thread crashes ``delete_state``), never timers.
* **Shards, not a session per entity.** A member's session is ``crc32(entity key) % 64``
  (at most 1,024 sessions exist per ruleset); the hashed ``==`` join on the entity key keeps
  entities apart inside a shard.
* **Facts only**, never events: facts stay until retracted and fire each match once.
* **The consecutive form.** ``m1 .. mN``, each the next member of ``m1``'s entity after the
  previous one (a ``none`` forbids a member between neighbours), ``mN`` filed at most the
  window after ``m1``: one match per member that completes N, not C(n, N).
  Order is a per-evaluator sequence number ``n`` (members filed at the same microsecond stay
  in ``(filed_at, manifest_id)`` order); time is ``t``, integer **microseconds** since the
  epoch, the reference's own unit: durable_rules compares and adds integers exactly (64-bit),
  so the window's bound is exact to the microsecond (a test proves it from year 1 to 9999).
* **A sentinel join last in every correlated** ``$and`` (``one == m1.one``, every fact has
  ``one: 1``): a beta ``$and`` whose last test is false walks past its end in durable_rules'
  C core (SIGSEGV), and so does an entity join whose two keys share a 32-bit hash
  (``EX0324246`` and ``EX1065780``). The sentinel is never false, so the scan never runs on.
* **Input hygiene.** Every fact is built here from checked values: ``n`` and ``t`` integers,
  the entity key a non-empty text durable_rules stores byte for byte (keys are normalised
  without ``"``, ``\\`` or control characters; any other is sent hex-encoded). One fact
  missing a field would poison its whole shard.
* **Retraction by a data-time watermark.** Before a member of time ``t`` is asserted, the
  facts filed before ``t - window`` are retracted (seizure facts: before ``t - history -
  window``, once no live member can count them): live facts follow the window, not the
  stream. Shard sessions are never deleted.
* **Every fact kind read by a pattern.** durable_rules keeps no fact that no pattern reads, so
  ``history.seizures >= 0`` still has a seizure pattern, one that never matches.
* **Throwaway sessions** (:class:`ReteWindowJudge`) replay a window without firing, assert
  the new member, drain, then fire the ``session_open`` rule before ``delete_state``:
  deleting a session in which no action ever completed crashes durable_rules.

The Rete network decides *whether* (and on which members) a rule alerts; the alert itself
(ids, member list, measures, explanation) is written by the reference's own
:func:`~assay.engine.correlation.evaluator.make_alert`, from the members the shard's facts
stand for, so both evaluators write the same bytes.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import re
import threading
import uuid
import weakref
import zlib
from collections import deque
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import durable_rules_engine as dre
import orjson

from assay.engine import conditions as c
from assay.engine.contracts import Manifest
from assay.engine.correlation.alerts import Alert
from assay.engine.correlation.entities import party_key
from assay.engine.correlation.evaluator import (
    Correlator,
    FiledOrder,
    Member,
    history_keys,
    holds,
    make_alert,
    measure,
    member_joins,
    micros,
    order_key,
)
from assay.engine.correlation.language import CorrelationRule
from assay.engine.correlation.measures import SEIZURES
from assay.engine.evaluators.closures import Predicate, predicate
from assay.engine.features import Enricher
from assay.engine.ruleset import RuleSet

log = logging.getLogger("assay.correlation.rete")

SHARDS = 64  # sessions per rule: far under durable_rules' 1,024, facts per shard in the hundreds
MAX_CHAIN = 16  # the longest "N members" chain compiled: 2N-1 patterns in one rule
# durable_rules joins at most 32 patterns in one rule: a 33rd makes every assert fail (error
# 304, a test shows it); a repeat offender's 2M-1 member and 2N seizure patterns must fit.
MAX_PATTERNS = 32
_SECOND = 1_000_000  # microseconds
# Measures a sequence rule may read: all are computed from the group's own members.
_GROUP_ONLY = frozenset(
    {
        "group.count",
        "group.mass_kg",
        "group.max_mass_kg",
        "group.first_mass_kg",
        "group.last_mass_kg",
        "group.span_hours",
        "group.distinct_consignors",
        "group.distinct_consignees",
    }
)
_SAFE_TEXT = re.compile(r'^[^"\\\x00-\x1f\x7f]+$')


class ReteCorrelationError(RuntimeError):
    """durable_rules answered in a way the sequence form rules out (a bug, never data)."""


# ------------------------------------------------------------------ which rules it takes


def chain_length(rule: CorrelationRule) -> int | str:
    """N for a rule durable_rules can evaluate as "N members within the window", else the
    reason it cannot (said in the log, the listing and the docs)."""
    reads = set(rule.measures)
    sums = sorted(reads & {"group.mass_kg", "baseline.mass_kg"})
    threshold = _count_threshold(rule.alert_when)
    if threshold is None:
        alert_reads = _measures_in(rule.alert_when)
        if sums and set(sums) & alert_reads:
            return f"durable_rules cannot sum over a window ({', '.join(sums)})"
        distinct = sorted(m for m in alert_reads if "distinct" in m or "new_" in m)
        if distinct:
            return f"durable_rules cannot count distinct values ({', '.join(distinct)})"
        if SEIZURES in alert_reads:
            return (
                "it reads history.seizures: a count chain has no seizure facts (the batch"
                " ReteCorrelator joins them, offender_shape; a window judge is given none)"
            )
        return (
            "alert_when is not a count threshold (group.count >= N), the one shape durable_rules"
            " expresses as a sequence"
        )
    outside = sorted(reads - _GROUP_ONLY)
    if outside:
        return (
            f"it reads {', '.join(outside)}, which needs members or history outside the window "
            "the Rete network keeps"
        )
    if threshold > MAX_CHAIN:
        return f"a chain of {threshold} members is longer than the {MAX_CHAIN} compiled"
    return threshold


def _measures_in(node: c.Condition | c.Value) -> set[str]:
    if isinstance(node, c.Field):
        return {node.path}
    found: set[str] = set()
    for name in ("items", "item", "left", "right", "operand"):
        child = getattr(node, name, None)
        if isinstance(child, tuple):
            for sub in child:
                found |= _measures_in(sub)
        elif child is not None and not isinstance(child, str | float | int | bool):
            found |= _measures_in(child)
    return found


def _count_threshold(node: c.Condition) -> int | None:
    """N when ``node`` is ``group.count >= N`` (``>``, or mirrored), else None."""
    n = _threshold(node, "group.count")
    return None if n is None else max(n, 1)  # a group holds its new member: count >= 1


def _threshold(node: c.Condition, path: str) -> int | None:
    """The least whole N with ``path >= N`` equivalent to ``node`` when ``node`` is ``path >=
    N`` (``>``, or mirrored; N a number, params are constants by now), else None."""
    if not isinstance(node, c.Compare):
        return None
    left, right = node.left, node.right
    op: str = node.op
    if isinstance(left, c.Const) and isinstance(right, c.Field):
        mirror = {"<=": ">=", "<": ">"}
        if op not in mirror:
            return None
        left, op, right = right, mirror[op], left
    if not (isinstance(left, c.Field) and left.path == path):
        return None
    if op not in (">=", ">") or not isinstance(right, c.Const):
        return None
    bound = right.value
    if not isinstance(bound, float) or not math.isfinite(bound):
        return None
    # Counts are whole numbers: count >= 3.5 is count >= 4, count > 3 is count >= 4.
    n = math.floor(bound) + 1 if op == ">" else math.ceil(bound)
    return max(n, 0)


@dataclass(frozen=True)
class OffenderShape:
    """A repeat-offender rule as the Rete network takes it: alert on a member when its entity
    has at least ``seizures`` seizures within ``history`` before it, and (``members`` > 1)
    at least ``members`` members in the window."""

    seizures: int
    members: int = 1

    @property
    def patterns(self) -> int:
        """Patterns in its durable_rules rule (:func:`offender_definition`)."""
        return 2 * self.members - 1 + max(2 * self.seizures, 1)


def offender_shape(rule: CorrelationRule) -> OffenderShape | str | None:
    """The shape of a rule whose ``alert_when`` is a seizure threshold (``history.seizures >=
    N``, ``>``, mirrored; optionally ``and`` a count threshold), the reason it cannot be
    taken, or None when ``alert_when`` reads no seizures."""
    if SEIZURES not in _measures_in(rule.alert_when):
        return None
    node = rule.alert_when
    parts = node.items if isinstance(node, c.And) else (node,)
    seizures = [n for n in (_threshold(p, SEIZURES) for p in parts) if n is not None]
    counts = [n for n in (_count_threshold(p) for p in parts) if n is not None]
    if len(seizures) != 1 or len(counts) > 1 or len(seizures) + len(counts) != len(parts):
        return (
            "it reads history.seizures in a shape other than a seizure threshold"
            " (history.seizures >= N, optionally and group.count >= M)"
        )
    outside = sorted(set(rule.measures) - _GROUP_ONLY - {SEIZURES})
    if outside:
        return (
            f"it reads {', '.join(outside)}, which needs members or history outside the window "
            "the Rete network keeps"
        )
    shape = OffenderShape(seizures[0], counts[0] if counts else 1)
    if shape.patterns > MAX_PATTERNS:
        return (
            f"{shape.seizures} seizures and {shape.members} member(s) take {shape.patterns} "
            f"patterns, and durable_rules joins at most {MAX_PATTERNS} in a rule (error 304)"
        )
    return shape


def ruleset_definition(chain: int, window_us: int) -> dict[str, Any]:
    """The durable_rules ruleset of "``chain`` consecutive members of one entity, the last
    at most ``window_us`` after the first", plus the ``session_open`` rule."""
    return {
        "sequence": {"all": _chain_patterns(chain, window_us)},
        "session_open": {"all": [{"s": {"kind": "session_open"}}]},
    }


def offender_definition(shape: OffenderShape, window_us: int, history_us: int) -> dict[str, Any]:
    """The durable_rules ruleset of a repeat offender: the count chain ``m1 .. mM`` (``M`` =
    ``shape.members``; one member when the rule has no count), then the seizure chain ``s1
    .. sN`` of ``mM``'s entity, each **counted** for ``mM``: recorded before it (``n <
    mM.n``: a seizure counts for the manifests pushed after it, never its own), filed at most
    ``mM.t`` and at least ``mM.t - history`` (inclusive both ends). ``s1`` is the first
    counted seizure (a ``none`` forbids an earlier one), each next the one after the previous
    (a ``none`` forbids one between): one match when ``mM`` has at least N, whatever the
    number beyond. Plus the ``session_open`` rule."""
    anchor = f"m{shape.members}"

    def counted(*order: dict[str, Any]) -> dict[str, Any]:
        # Tests on the seizure, then the entity join, then the sentinel join, LAST.
        return {
            "$and": [
                {"kind": "seizure"},
                {"$lt": {"n": {anchor: "n"}}},
                {"$lte": {"t": {anchor: "t"}}},
                {"$gte": {"t": {"$sub": {"$l": {anchor: "t"}, "$r": history_us}}}},
                *order,
                {"e": {anchor: "e"}},
                {"one": {anchor: "one"}},
            ]
        }

    def after(name: str) -> dict[str, Any]:
        return {"$gt": {"n": {name: "n"}}}

    def before(name: str) -> dict[str, Any]:
        return {"$lt": {"n": {name: "n"}}}

    patterns = _chain_patterns(shape.members, window_us)
    if shape.seizures == 0:
        # No seizure is needed, but the facts must be kept to be counted (durable_rules
        # drops a fact no pattern reads): a pattern that reads them and never matches one.
        patterns.append({"kept$not": counted(before(anchor), after(anchor))})
    for k in range(1, shape.seizures + 1):
        if k == 1:
            patterns.append({"s1": counted()})
            patterns.append({"first$not": counted(before("s1"))})
        else:
            patterns.append({f"s{k}": counted(after(f"s{k - 1}"))})
            patterns.append({f"sgap{k}$not": counted(after(f"s{k - 1}"), before(f"s{k}"))})
    return {
        "offender": {"all": patterns},
        "session_open": {"all": [{"s": {"kind": "session_open"}}]},
    }


def _chain_patterns(chain: int, window_us: int) -> list[dict[str, Any]]:
    """``m1 .. m<chain>``: consecutive members of ``m1``'s entity, the last at most
    ``window_us`` after the first."""

    def later(previous: str) -> dict[str, Any]:
        # The entity join, then the sentinel join, LAST: see the module docstring.
        return {
            "$and": [
                {"kind": "member"},
                {"$gt": {"n": {previous: "n"}}},
                {"$lte": {"t": {"$add": {"$l": {"m1": "t"}, "$r": window_us}}}},
                {"e": {"m1": "e"}},
                {"one": {"m1": "one"}},
            ]
        }

    def between(first: str, second: str) -> dict[str, Any]:
        return {
            "$and": [
                {"kind": "member"},
                {"$gt": {"n": {first: "n"}}},
                {"$lt": {"n": {second: "n"}}},
                {"e": {"m1": "e"}},
                {"one": {"m1": "one"}},
            ]
        }

    patterns: list[dict[str, Any]] = [{"m1": {"kind": "member"}}]
    for k in range(2, chain + 1):
        patterns.append({f"m{k}": later(f"m{k - 1}")})
        patterns.append({f"gap{k}$not": between(f"m{k - 1}", f"m{k}")})
    return patterns


def fact_text(sid: str, n: int, t: int, entity: str, kind: str = "member") -> str:
    """One member (or seizure) fact, every field present and typed: a fact missing a
    correlated field, or with a null or text where a number is compared, poisons its whole
    shard."""
    if type(n) is not int or type(t) is not int:
        raise TypeError(f"{kind} fact {n!r}: n and t must be integers, got {n!r} and {t!r}")
    if not entity:
        raise ValueError(f"{kind} fact {n}: the entity key is empty")
    if kind not in ("member", "seizure"):
        raise ValueError(f"fact {n}: kind {kind!r} is neither member nor seizure")
    fact = {"sid": sid, "id": str(n), "kind": kind, "n": n, "t": t, "e": entity_field(entity)}
    fact["one"] = 1  # the sentinel every correlated $and ends with
    return orjson.dumps(fact).decode()


def entity_field(entity: str) -> str:
    """The entity key as durable_rules stores it byte for byte: as it is (keys are normalised
    without quotes, backslashes or control characters), else hex-encoded."""
    return entity if _SAFE_TEXT.match(entity) else "hex:" + entity.encode().hex()


def shard_of(entity: str, shards: int = SHARDS) -> str:
    return str(zlib.crc32(entity.encode()) % shards)


# ------------------------------------------------------------------------------ the driver


class ChainRuleset:
    """One durable_rules ruleset driven through the raw C module, on the caller's thread:
    every call asserts or retracts, then drains that session's actions to the end (an action
    left started locks its session for 30 s of wall time)."""

    def __init__(
        self, rule_id: str, chain: int, window_us: int, rules: dict[str, Any] | None = None
    ) -> None:
        # ``rules``: another definition (a repeat offender's) instead of the count chain's.
        definition = orjson.dumps(rules or ruleset_definition(chain, window_us)).decode()
        name = f"assay-correlation-{rule_id}-{uuid.uuid4().hex[:12]}"
        self.handle: int = dre.create_ruleset(name, definition)
        self._finalizer = weakref.finalize(self, dre.delete_ruleset, self.handle)

    def assert_fact(self, text: str) -> list[dict[str, Any]]:
        return self._drain(dre.assert_fact(self.handle, text)[1])

    def retract_fact(self, text: str) -> list[dict[str, Any]]:
        return self._drain(dre.retract_fact(self.handle, text)[1])

    def _drain(self, state: int) -> list[dict[str, Any]]:
        fired: list[dict[str, Any]] = []
        action = dre.start_action_for_state(self.handle, state)
        while action:
            fired.append(orjson.loads(action[1]))
            action = dre.complete_and_start_action(self.handle, state)
        return fired

    def facts(self, sid: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = orjson.loads(dre.get_facts(self.handle, sid))
        return found

    def replay(self, sid: str, facts: Sequence[str]) -> None:
        """Load facts into ``sid`` without firing anything (durable_rules' restore path)."""
        messages = ",".join(f"1,{text}" for text in facts)
        dre.complete_get_idle_state(self.handle, sid, f"[{messages}]")

    def discard(self, sid: str) -> None:
        """Delete a throwaway session, after firing ``session_open`` in it: deleting one in
        which no action ever completed frees pointers it never set (abort or SIGSEGV)."""
        opened = orjson.dumps({"sid": sid, "id": "session_open", "kind": "session_open"})
        self.assert_fact(opened.decode())
        dre.delete_state(self.handle, sid)

    def close(self) -> None:
        self._finalizer()


def _trigger(fired: list[dict[str, Any]], chain: int, n: int, name: str = "sequence") -> bool:
    """Whether the member ``n`` just asserted completed a chain (at most one can)."""
    matches = [f[name] for f in fired if name in f]
    if not matches:
        return False
    last = matches[0][f"m{chain}"]["n"]
    if len(matches) > 1 or last != n:
        raise ReteCorrelationError(
            f"durable_rules fired {len(matches)} chain(s) ending at member {last} on the "
            f"arrival of member {n}; the consecutive form allows one, ending at the new member"
        )
    return True


# ---------------------------------------------------------------------------- the stream


@dataclass
class _Sequence:
    rule: CorrelationRule
    each: Predicate
    chain: int  # M: the members the pattern chains (a repeat offender without a count: 1)
    engine: ChainRuleset
    shards: int
    window_us: int
    offender: OffenderShape | None = None  # a repeat offender: its seizure chain
    history_us: int = 0
    live: deque[tuple[int, str, int]] = field(default_factory=deque)  # (t, fact, n)
    members: dict[int, Member] = field(default_factory=dict)  # n -> what its fact stands for
    # Seizure facts, a heap on t: seize() may record one filed before others.
    seizures: list[tuple[int, int, str]] = field(default_factory=list)  # (t, n, fact)

    @property
    def fires(self) -> str:
        return "sequence" if self.offender is None else "offender"


def rete_shape(rule: CorrelationRule) -> int | OffenderShape | str:
    """What the Rete network evaluates ``rule`` as: a chain of N members (a count threshold,
    :func:`chain_length`) or a seizure threshold (:func:`offender_shape`); else why it
    cannot, and the rule runs in the reference evaluator."""
    offender = offender_shape(rule)
    if offender is None:
        return chain_length(rule)
    if isinstance(offender, OffenderShape) and rule.history is None:
        return "it reads history.seizures without a history"  # the checker requires one
    return offender


def delegation(rule: CorrelationRule) -> str | None:
    """Why ``rule`` runs in the reference evaluator instead of durable_rules (said in the log,
    the listings and ``assay screen --alerts --engine rete``), or None when the Rete network
    takes it (:func:`rete_shape`)."""
    shape = rete_shape(rule)
    return shape if isinstance(shape, str) else None


class ReteCorrelator:
    """The correlation rules of a ruleset over one ordered stream, sequence and repeat-offender
    rules in durable_rules and the rest in the reference evaluator (:attr:`delegated`).

    ``push`` gives exactly the reference :class:`Correlator`'s alerts, in the same order, for
    the same ``seized`` and :meth:`seize` calls.
    Its state is derived from the members inside each rule's window (and the seizures within
    a repeat offender's history), so after a restart it is rebuilt by pushing again the
    manifests filed within one window (one history, for a repeat offender) before the first
    new one, discarding the alerts they raise (written before; alert ids are deterministic,
    so a store keyed on them ignores any that slip through)."""

    def __init__(
        self,
        ruleset: RuleSet,
        rules: Sequence[CorrelationRule] | None = None,
        shards: int = SHARDS,
        seized: Collection[str] = (),
        record_since: datetime | None = None,
        announce: bool = True,
    ) -> None:
        """``announce``: log a warning naming each rule delegated to Python (False for a part
        of a stream whose caller names them once, as ``assay screen --alerts`` does)."""
        if not 1 <= shards <= 1000:
            raise ValueError(f"shards={shards}: durable_rules holds at most 1,024 sessions")
        self._rules = tuple(ruleset.correlations if rules is None else rules)
        self._seized = frozenset(seized)
        self._sequences: dict[str, _Sequence] = {}
        self.delegated: dict[str, str] = {}  # rule id -> why it runs in Python
        for rule in self._rules:
            seq = self._compile(rule, shards)
            if isinstance(seq, str):
                self.delegated[rule.id] = seq
                if not announce:
                    continue
                log.warning(
                    "correlation rule %s runs in the Python reference evaluator, not "
                    "durable_rules: %s",
                    rule.id,
                    seq,
                )
                continue
            self._sequences[rule.id] = seq
        python_rules = [rule for rule in self._rules if rule.id in self.delegated]
        # Seizures go to the delegated rules too (those that read them and are not a
        # seizure threshold durable_rules takes), and so does the start of the record of
        # shipments (warm_up): only delegated rules read group.new_consignees, and the
        # reference sees every manifest pushed here.
        self._python = (
            Correlator(ruleset, python_rules, seized, record_since) if python_rules else None
        )
        reads = {p for s in self._sequences.values() for p in s.rule.reads}
        self._enricher = Enricher(ruleset, reads)
        self._numbers = itertools.count(1)
        self._clock = FiledOrder()

    @staticmethod
    def _compile(rule: CorrelationRule, shards: int) -> _Sequence | str:
        """The rule's Rete network, or why it has none (it is then delegated)."""
        shape = rete_shape(rule)
        if isinstance(shape, str):
            return shape
        window_us = rule.window * _SECOND
        if isinstance(shape, int):
            engine = ChainRuleset(rule.id, shape, window_us)
            return _Sequence(rule, predicate(rule.each), shape, engine, shards, window_us)
        offender = shape
        assert rule.history is not None  # rete_shape() said so
        history_us = rule.history * _SECOND
        definition = offender_definition(offender, window_us, history_us)
        engine = ChainRuleset(rule.id, offender.members, window_us, definition)
        return _Sequence(
            rule,
            predicate(rule.each),
            offender.members,
            engine,
            shards,
            window_us,
            offender,
            history_us,
        )

    @property
    def rules(self) -> tuple[CorrelationRule, ...]:
        return self._rules

    def live_facts(self) -> dict[str, int]:
        """Rule id -> member and seizure facts durable_rules holds now, counted with
        ``get_facts`` over every shard (what memory grows with)."""
        counts: dict[str, int] = {}
        for rule_id, seq in self._sequences.items():
            total = 0
            for shard in range(seq.shards):
                try:
                    total += len(seq.engine.facts(str(shard)))
                except dre.error:  # a shard no member reached has no session (error 309)
                    continue
            counts[rule_id] = total
        return counts

    def seize(self, manifest: Manifest) -> None:
        """A seizure recorded at ``manifest`` (see :meth:`Correlator.seize`): a seizure fact
        at its filed_at for every entity it belongs to, in each repeat-offender rule's
        network, counted for the entity's manifests pushed from now on; and the same for the
        delegated rules, in the reference evaluator."""
        if self._python is not None:
            self._python.seize(manifest)
        self._seize(manifest)

    def _seize(self, manifest: Manifest) -> None:
        if manifest.filed_at is None:
            return
        t = micros(manifest.filed_at)
        for seq in self._sequences.values():
            if seq.offender is None:
                continue
            for key, _name in sorted(history_keys(seq.rule, manifest)):
                n = next(self._numbers)
                text = fact_text(shard_of(key, seq.shards), n, t, key, "seizure")
                heapq.heappush(seq.seizures, (t, n, text))
                if seq.engine.assert_fact(text):
                    # Only a member recorded after it could count it: none is, yet.
                    raise ReteCorrelationError(f"asserting seizure fact {n} fired a rule")

    @property
    def skipped(self) -> int:
        """Manifests pushed without filed_at."""
        return self._clock.skipped

    def close(self) -> None:
        """Free the durable_rules rulesets (also done when the evaluator is collected)."""
        for seq in self._sequences.values():
            seq.engine.close()

    def push(self, manifest: Manifest) -> list[Alert]:
        """Take the next manifest of a stream in filed_at order; the alerts it completes."""
        position = self._clock.place(manifest)
        if position is None:
            return []
        python: dict[str, list[Alert]] = {}
        if self._python is not None:
            for alert in self._python.push(manifest):
                python.setdefault(alert.rule_id, []).append(alert)
        if not self._sequences:
            return [a for rule in self._rules for a in python.get(rule.id, [])]
        t = position[0]
        manifest_view, item_views = self._enricher.enrich(manifest, date(1970, 1, 1))
        alerts: list[Alert] = []
        for rule in self._rules:
            seq = self._sequences.get(rule.id)
            if seq is None:
                alerts += python.get(rule.id, [])
                continue
            self._expire(seq, t)
            joins = member_joins(rule, seq.each, manifest, manifest_view, item_views)
            for (key, name), mass in joins.items():
                raised = self._assert(seq, manifest, key, name, mass, t)
                if raised is not None:
                    alerts.append(raised)
        if manifest.manifest_id in self._seized:
            self._seize(manifest)  # after its own alerts, as the reference does
        return alerts

    def _assert(
        self, seq: _Sequence, manifest: Manifest, key: str, name: str, mass: float, t: int
    ) -> Alert | None:
        n = next(self._numbers)
        sid = shard_of(key, seq.shards)
        text = fact_text(sid, n, t, key)
        seq.members[n] = Member(
            t,
            manifest.manifest_id,
            manifest.filed_at,  # type: ignore[arg-type]  # push() skipped the None
            mass,
            party_key(manifest.consignor),
            party_key(manifest.consignee),
            False,  # a sequence rule never reads new_consignees
        )
        seq.live.append((t, text, n))
        if not _trigger(seq.engine.assert_fact(text), seq.chain, n, seq.fires):
            return None
        # The group: every fact of this entity in [t - window, t], from the shard itself;
        # a repeat offender's seizures: every seizure fact counted for this member.
        start, stored = t - seq.window_us, entity_field(key)
        facts = [f for f in seq.engine.facts(sid) if f["e"] == stored]
        numbers = sorted(
            f["n"] for f in facts if f.get("kind") == "member" and start <= f["t"] <= t
        )
        group = [seq.members[k] for k in numbers if k <= n]
        seizures = 0
        if seq.offender is not None:
            since = t - seq.history_us
            seizures = sum(
                1
                for f in facts
                if f.get("kind") == "seizure" and f["n"] < n and since <= f["t"] <= t
            )
            if seizures < seq.offender.seizures:
                raise ReteCorrelationError(
                    f"durable_rules matched member {n} of {seq.rule.id} with {seizures} counted "
                    f"seizure(s) in its shard, fewer than the {seq.offender.seizures} it chains"
                )
        measures = measure(seq.rule, group, t, seizures)
        return make_alert(seq.rule, key, name, group, t, measures)

    @staticmethod
    def _expire(seq: _Sequence, t: int) -> None:
        """Retract the facts filed before the window of a member at ``t``: they can never be
        in a group again, as the stream is in filed_at order. A seizure fact is retracted
        once filed before ``t - history - window``: no live member counts it then, so its
        retraction cannot lift a ``none`` and complete a match for an earlier member (one
        retracted at ``t - history`` could, for a member within the window)."""
        start = t - seq.window_us
        while seq.live and seq.live[0][0] < start:
            _, text, n = seq.live.popleft()
            if seq.engine.retract_fact(text):
                raise ReteCorrelationError(f"retracting member fact {n} fired a rule")
            del seq.members[n]
        since = start - seq.history_us
        while seq.seizures and seq.seizures[0][0] < since:
            _, n, text = heapq.heappop(seq.seizures)
            if seq.engine.retract_fact(text):
                raise ReteCorrelationError(f"retracting seizure fact {n} fired a rule")


def rete_correlate(
    ruleset: RuleSet,
    manifests: Iterable[Manifest],
    rules: Sequence[CorrelationRule] | None = None,
    seized: Collection[str] = (),
) -> list[Alert]:
    """:func:`~engine.correlation.evaluator.correlate` on :class:`ReteCorrelator`: the same
    alerts, for ``assay rules test --engine rete`` (a rule's examples on durable_rules)."""
    evaluator = ReteCorrelator(ruleset, rules, seized=seized)
    timed = sorted((m for m in manifests if m.filed_at is not None), key=order_key)
    try:
        return [alert for manifest in timed for alert in evaluator.push(manifest)]
    finally:
        evaluator.close()


# ------------------------------------------------------------------- the synchronous path


class ReteWindowJudge:
    """One entity's window judged on demand, for the API's synchronous path (no state kept
    between calls; CORRELATION_NOTES §5 option iii): the members of the window are replayed
    into a throwaway session without firing, the new member is asserted, the session drained,
    ``session_open`` fired and the session deleted. Calls are serialised (one lock), as
    durable_rules' sessions are not safe to share between threads.

    A rule the Rete network cannot express is judged by the reference's own measures, as
    :class:`ReteCorrelator` does with it (logged once per rule)."""

    def __init__(self) -> None:
        self._engines: dict[tuple[str, int, int], ChainRuleset] = {}  # (rule, N, window)
        self._told: set[str] = set()
        self._lock = threading.Lock()
        self._sessions = itertools.count(1)

    def judge(
        self, rule: CorrelationRule, key: str, name: str, window: Sequence[Member], member: Member
    ) -> Alert | None:
        """The alert ``member`` raises for entity ``key`` given the entity's earlier members
        ``window`` (in filed_at order; for a delegated rule all of ``rule.retention``, with
        ``new_consignee`` set), or None."""
        earlier = [m for m in window if m.t <= member.t]
        chain = chain_length(rule)
        if isinstance(chain, str):
            if rule.id not in self._told:
                self._told.add(rule.id)
                log.warning("correlation rule %s is judged in Python: %s", rule.id, chain)
            members = [*earlier, member]
            measures = measure(rule, members, member.t)
            if not holds(rule.alert_when, measures):
                return None
            return make_alert(rule, key, name, members, member.t, measures)
        start = member.t - rule.window * _SECOND
        inside = [m for m in earlier if m.t >= start]
        with self._lock:
            engine = self._engine(rule, chain)
            sid = f"judge-{next(self._sessions)}"
            try:
                engine.replay(sid, [fact_text(sid, n, m.t, key) for n, m in enumerate(inside, 1)])
                n = len(inside) + 1
                fired = _trigger(engine.assert_fact(fact_text(sid, n, member.t, key)), chain, n)
            finally:
                engine.discard(sid)
        if not fired:
            return None
        group = [*inside, member]
        return make_alert(rule, key, name, group, member.t, measure(rule, group, member.t))

    def _engine(self, rule: CorrelationRule, chain: int) -> ChainRuleset:
        shape = (rule.id, chain, rule.window * _SECOND)
        if shape not in self._engines:
            self._engines[shape] = ChainRuleset(rule.id, chain, shape[2])
        return self._engines[shape]


class ReteGroupJudge:
    """The store-backed stage's :class:`~engine.correlation.judge.WindowJudge` for
    ``--engine rete``: whether the group ending at ``t`` raises an alert is decided by the
    Rete network (:class:`ReteWindowJudge`, one throwaway session a call); the measures the
    alert reports are the reference's. A rule durable_rules cannot express is judged in Python,
    as :class:`ReteWindowJudge` says in the log."""

    def __init__(self) -> None:
        self._windows = ReteWindowJudge()

    def judge(
        self, rule: CorrelationRule, members: Sequence[Member], t: int, seizures: int = 0
    ) -> dict[str, float | None] | None:
        if SEIZURES in rule.measures:
            # durable_rules holds no seizures (docs/correlation.md): the reference judges.
            measures = measure(rule, members, t, seizures)
            return measures if holds(rule.alert_when, measures) else None
        *earlier, last = members
        # The entity's key only joins facts inside one throwaway session: any constant does.
        if self._windows.judge(rule, "entity", "entity", earlier, last) is None:
            return None
        return measure(rule, members, t)
