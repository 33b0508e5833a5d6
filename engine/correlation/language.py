"""Correlation rule files: YAML -> a checked :class:`CorrelationRule`.

A correlation rule sits in a pack beside manifest and item rules, in the same file format; a
top-level ``correlation:`` mapping (instead of ``when:``) makes it one::

    correlation:
      group_by: consignor          # or consignee, route, hs_heading, or a list of them
      window: 48h                  # hours (h) or days (d), on the data's own clock (filed_at)
      scope: item                  # `each` tests goods items (any one joins) or the manifest
      each: manifest.transport_mode in ["EXPRESS", "POSTAL"] and ...
      alert_when: group.count >= params.min_parcels

``each`` is the ordinary condition language, checked exactly as a rule's ``when``;
``alert_when`` is the same grammar over the group measures of :mod:`.measures` and the rule's
``params``, compared as numbers. Every problem is reported at file:line:col with a hint.
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assay.engine import conditions as c
from assay.engine import limits
from assay.engine.check import Context, check_condition
from assay.engine.contracts import Manifest, Severity
from assay.engine.correlation.measures import (
    BY_NAME,
    EXPLANATION_TEXTS,
    MEASURES,
    NEW_CONSIGNEES,
)
from assay.engine.errors import AssayError, Location, Problem
from assay.engine.fields import Scope
from assay.engine.inspections import Inspection
from assay.engine.parse import SourceSpan, YamlDocument, parse_condition
from assay.engine.reference import Reference, RefValue
from assay.engine.rulefile import (
    PATTERN,
    RULE_ID,
    ExamplePatch,
    build_example_manifest,
    deep_merge,
    example_path,
    pydantic_problems,
)

KeyPart = Literal["consignor", "consignee", "route", "hs_heading"]
_DURATION = r"^[1-9][0-9]{0,4}[hd]$"
# A warm-up may be zero: "trust the record from its first manifest" (the behaviour before it).
_WARM_UP = r"^(0|[1-9][0-9]{0,4})[hd]$"
_PARAM = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")]


class _Sequence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = None
    each: ExamplePatch | None = None  # a patch applied to every manifest of the sequence
    manifests: Annotated[
        list[ExamplePatch], Field(min_length=1, max_length=limits.MAX_EXAMPLE_MANIFESTS)
    ]
    # Inspection outcomes of the sequence's manifests, as lines of an outcomes file
    # ({manifest_id, result}): a `seizure` enters the stream at its manifest's filed_at.
    outcomes: Annotated[list[Inspection], Field(max_length=limits.MAX_EXAMPLE_MANIFESTS)] | None = (
        None
    )


class _SequenceExamples(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hit: Annotated[list[_Sequence], Field(min_length=1, max_length=limits.MAX_EXAMPLES)]
    miss: Annotated[list[_Sequence], Field(min_length=1, max_length=limits.MAX_EXAMPLES)]


class _Correlation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group_by: KeyPart | Annotated[list[KeyPart], Field(min_length=1, max_length=4)]
    window: Annotated[str, Field(pattern=_DURATION)]
    baseline: Annotated[str, Field(pattern=_DURATION)] | None = None
    history: Annotated[str, Field(pattern=_DURATION)] | None = None
    # How much of `history` the record of shipments must cover before group.new_consignees
    # means anything (absent: all of it); see CorrelationRule.warm_up.
    warm_up: Annotated[str, Field(pattern=_WARM_UP)] | None = None
    scope: Scope = "manifest"
    each: Annotated[str, Field(min_length=1)]
    alert_when: Annotated[str, Field(min_length=1)]


class _CorrelationFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(pattern=RULE_ID)]
    title: Annotated[str, Field(min_length=3, max_length=120)]
    pattern: Annotated[str, Field(pattern=PATTERN)]
    severity: Severity
    score: Annotated[int, Field(ge=0, le=100)]
    correlation: _Correlation
    explain: Annotated[str, Field(min_length=10, max_length=600)]
    references: Annotated[list[Annotated[str, Field(min_length=3)]], Field(min_length=1)]
    params: dict[_PARAM, float | bool | str | list[str] | list[float]] = Field(default_factory=dict)
    examples: _SequenceExamples


@dataclass(frozen=True)
class SequenceExample:
    """One example of a correlation rule: manifests in order, and whether it must alert."""

    expect_hit: bool
    manifests: tuple[Manifest, ...]
    note: str | None
    location: Location
    seized: frozenset[str] = frozenset()  # manifest ids with a confirmed seizure


@dataclass(frozen=True)
class CorrelationRule:
    """One checked correlation rule. Durations are whole seconds of data time."""

    id: str
    title: str
    pattern: str
    severity: Severity
    score: int
    group_by: tuple[KeyPart, ...]
    window: int
    window_text: str
    baseline: int | None
    baseline_text: str | None
    history: int | None
    scope: Scope
    each: c.Condition
    each_text: str
    alert_when: c.Condition
    alert_text: str
    explain: str
    references: tuple[str, ...]
    params: Mapping[str, RefValue]
    examples: tuple[SequenceExample, ...]
    file: str
    reads: tuple[str, ...]  # catalogue fields `each` reads
    measures: frozenset[str]  # group and baseline measures alert_when and explain read
    # For a rule reading group.new_consignees: how long after the start of the record of
    # shipments (the first manifest of a stream, or the store's record of the rule) "new" is
    # knowable; before that the measure is missing (a comparison reading it is false), so a
    # fresh record does not count every consignee as new. None for other rules.
    warm_up: int | None = None
    warm_up_text: str | None = None

    @property
    def role(self) -> Literal["finding"]:
        """An alert is a finding about the entity's filings (its flag weighs in the lane)."""
        return "finding"

    @property
    def grouping(self) -> str:
        """What the rule groups by, over what window: ``consignor within 48h``."""
        return f"{'+'.join(self.group_by)} within {self.window_text}"

    @property
    def keeps_shipments(self) -> bool:
        """Whether each entity's record of consignees shipped to (over ``history``) is kept
        for this rule: it reads ``group.new_consignees``."""
        return self.history is not None and NEW_CONSIGNEES in self.measures

    @property
    def retention(self) -> int:
        """How long (data time) a member can still count: the window plus the baseline."""
        return self.window + (self.baseline or 0)


def is_correlation_file(data: Any) -> bool:
    """Whether a rule file's data describes a correlation rule (it has ``correlation:``)."""
    return isinstance(data, dict) and "correlation" in data


def duration_seconds(text: str) -> int:
    """``48h`` -> 172800, ``14d`` -> 1209600 (the schema has checked the form)."""
    return int(text[:-1]) * (3600 if text.endswith("h") else 86400)


def compile_correlation_rule(
    path: str, doc: YamlDocument, reference: Reference, example_base: Mapping[str, Any]
) -> tuple[CorrelationRule | None, list[Problem]]:
    """Check one correlation rule file; the rule, or every problem found."""
    try:
        spec = _CorrelationFile.model_validate(doc.data)
    except ValidationError as exc:
        return None, pydantic_problems(doc, exc)
    problems: list[Problem] = []
    corr = spec.correlation
    if Path(path).stem != spec.id:
        problems.append(
            doc.problem(
                "rule_schema",
                f"the rule id '{spec.id}' must match its file name '{Path(path).stem}.yaml'",
                ("id",),
                f"rename the file to {spec.id}.yaml or change the id",
            )
        )
    group_by: tuple[KeyPart, ...] = (
        (corr.group_by,) if isinstance(corr.group_by, str) else tuple(dict.fromkeys(corr.group_by))
    )
    if "hs_heading" in group_by and corr.scope != "item":
        problems.append(
            doc.problem(
                "rule_schema",
                "grouping by hs_heading needs goods items: each item of a heading joins its "
                "own group",
                ("correlation", "group_by"),
                "add 'scope: item' to the correlation",
            )
        )
    params: dict[str, RefValue] = {
        k: tuple(v)  # type: ignore[misc]
        if isinstance(v, list)
        else (float(v) if isinstance(v, int) and not isinstance(v, bool) else v)
        for k, v in spec.params.items()
    }
    ctx = Context(corr.scope, MappingProxyType(params), reference, doc.source_line)
    each: c.Condition = c.Known(False)
    try:
        parsed = parse_condition(corr.each, doc.span(("correlation", "each")), doc)
        each, found = check_condition(parsed, ctx)
        problems += found
    except AssayError as exc:
        problems += exc.problems
    if isinstance(each, c.Known) and not problems:
        problems.append(
            doc.problem(
                "type_mismatch",
                f"the condition is always {str(each.value).lower()}, whatever the manifest says",
                ("correlation", "each"),
                "compare a field with a value",
            )
        )
    alert: c.Condition = c.Known(False)
    measures: set[str] = set()
    try:
        parsed = parse_condition(corr.alert_when, doc.span(("correlation", "alert_when")), doc)
        alert = _check_group(parsed, params, doc, measures, problems)
    except AssayError as exc:
        problems += exc.problems
    problems += _check_explain(spec.explain, params, doc, measures)
    for name in sorted(measures):
        needs = BY_NAME[name].needs
        if needs is not None and getattr(corr, needs) is None:
            problems.append(
                doc.problem(
                    "rule_schema",
                    f"'{name}' needs the correlation's '{needs}' duration",
                    ("correlation", "alert_when"),
                    f"add e.g. '{needs}: {'90d' if needs == 'baseline' else '365d'}' to the "
                    "correlation",
                )
            )
    warm_up = _warm_up(corr, measures, doc, problems)
    examples = _examples(spec.examples, doc, example_base, spec.id, problems)
    if problems:
        return None, problems
    rule = CorrelationRule(
        id=spec.id,
        title=spec.title,
        pattern=spec.pattern,
        severity=spec.severity,
        score=spec.score,
        group_by=group_by,
        window=duration_seconds(corr.window),
        window_text=corr.window,
        baseline=duration_seconds(corr.baseline) if corr.baseline else None,
        baseline_text=corr.baseline,
        history=duration_seconds(corr.history) if corr.history else None,
        scope=corr.scope,
        each=each,
        each_text=corr.each.strip(),
        alert_when=alert,
        alert_text=corr.alert_when.strip(),
        explain=" ".join(spec.explain.split()),
        references=tuple(spec.references),
        params=MappingProxyType(params),
        examples=examples,
        file=path,
        reads=tuple(c.fields_read(each)),
        measures=frozenset(measures),
        warm_up=None if warm_up is None else duration_seconds(warm_up),
        warm_up_text=warm_up,
    )
    return rule, []


def _warm_up(
    corr: _Correlation, measures: set[str], doc: YamlDocument, problems: list[Problem]
) -> str | None:
    """The rule's warm-up as written (absent: its ``history``, so only a record covering the
    whole history says "new"); None for a rule that does not read group.new_consignees."""
    reads = NEW_CONSIGNEES in measures
    if corr.warm_up is None:
        return corr.history if reads else None
    if not reads:
        problems.append(
            doc.problem(
                "rule_schema",
                f"'warm_up' delays {NEW_CONSIGNEES}, which this rule does not read",
                ("correlation", "warm_up"),
                f"remove 'warm_up', or read {NEW_CONSIGNEES} in alert_when",
            )
        )
        return None
    if corr.history is not None and duration_seconds(corr.warm_up) > duration_seconds(corr.history):
        problems.append(
            doc.problem(
                "rule_schema",
                f"the warm-up {corr.warm_up} is longer than the history {corr.history}: the "
                "record never needs to cover more than the history it is read over",
                ("correlation", "warm_up"),
                f"make it at most {corr.history}, or leave it out to wait for the whole history",
            )
        )
    return corr.warm_up


def _examples(
    spec: _SequenceExamples,
    doc: YamlDocument,
    example_base: Mapping[str, Any],
    rule_id: str,
    problems: list[Problem],
) -> tuple[SequenceExample, ...]:
    """Each sequence's manifests: base, then the sequence's ``each`` patch, then the
    manifest's own; a manifest without its own ``manifest_id`` gets one from its place."""
    out: list[SequenceExample] = []
    for kind in ("hit", "miss"):
        for index, sequence in enumerate(getattr(spec, kind)):
            where: tuple[str | int, ...] = ("examples", kind, index)
            shared = sequence.each.model_dump(exclude_none=True) if sequence.each else {}
            manifests: list[Manifest] = []
            for number, patch in enumerate(sequence.manifests, start=1):
                raw = patch.model_dump(exclude_none=True)
                merged: dict[str, Any] = {
                    "manifest": deep_merge(shared.get("manifest", {}), raw.get("manifest", {}))
                }
                merged["item"] = deep_merge(shared.get("item", {}), raw.get("item", {}))
                if raw.get("items") or shared.get("items"):
                    merged["items"] = raw.get("items") or shared.get("items")
                if "manifest_id" not in merged["manifest"]:
                    merged["manifest"]["manifest_id"] = f"{rule_id}-{kind}{index + 1}-{number}"
                data = build_example_manifest(example_base, merged)
                try:
                    manifests.append(Manifest.model_validate(data))
                except ValidationError as exc:
                    at = (*where, "manifests", number - 1)
                    for error in exc.errors():
                        loc = tuple(error["loc"])
                        problems.append(
                            doc.problem(
                                "rule_schema",
                                "this manifest is not a valid manifest: "
                                f"{'.'.join(str(x) for x in loc)}: {error['msg']}",
                                example_path(at, loc, raw),
                            )
                        )
            ids = [m.manifest_id for m in manifests]
            if len(set(ids)) != len(ids):
                problems.append(
                    doc.problem(
                        "rule_schema",
                        "two manifests of this sequence share a manifest_id",
                        (*where, "manifests"),
                        "give each its own manifest_id, or leave it out to get one",
                    )
                )
            seized: set[str] = set()
            for number, outcome in enumerate(sequence.outcomes or ()):
                if outcome.manifest_id not in ids:
                    problems.append(
                        doc.problem(
                            "rule_schema",
                            f"the outcome names manifest '{outcome.manifest_id}', which is not "
                            "in this sequence",
                            (*where, "outcomes", number, "manifest_id"),
                            "name one of the sequence's manifests: "
                            + ", ".join(ids[:4])
                            + ("…" if len(ids) > 4 else ""),
                        )
                    )
                elif outcome.result == "seizure":
                    seized.add(outcome.manifest_id)
            out.append(
                SequenceExample(
                    kind == "hit",
                    tuple(manifests),
                    sequence.note,
                    doc.location(where),
                    frozenset(seized),
                )
            )
    return tuple(out)


# ------------------------------------------------------------- the group condition


_GROUP_HINT = "e.g. group.count >= params.min_parcels and group.span_hours <= 48"


def _check_group(
    cond: c.Condition,
    params: Mapping[str, RefValue],
    doc: YamlDocument,
    measures: set[str],
    problems: list[Problem],
) -> c.Condition:
    """Resolve names to measures (kept as :class:`~engine.conditions.Field` nodes) and numeric
    params; only and/or/not over numeric comparisons are allowed."""

    def problem(code: Any, message: str, loc: Location | None, hint: str) -> None:
        line = doc.source_line(loc.line) if loc else None
        problems.append(Problem(code, message, loc, hint, line))

    def value(node: c.Value) -> c.Value:
        if isinstance(node, c.Name):
            if node.path in BY_NAME:
                measures.add(node.path)
                return c.Field(node.path, node.loc)
            head, _, rest = node.path.partition(".")
            if head == "params" and rest in params:
                found = params[rest]
                if isinstance(found, float):
                    return c.Const(found, node.loc, origin=node.path)
                problem(
                    "type_mismatch",
                    f"'{node.path}' is not a number; a group condition compares numbers",
                    node.loc,
                    "give the param a number, e.g. min_parcels: 4",
                )
                return node
            known = [m.name for m in MEASURES] + [f"params.{k}" for k in params]
            close = difflib.get_close_matches(node.path, known, n=1)
            problem(
                "unknown_name",
                f"unknown name '{node.path}' in a group condition"
                + (f"; did you mean '{close[0]}'?" if close else ""),
                node.loc,
                "a group condition reads group.*, baseline.* and history.* measures and params: "
                + ", ".join(known[:6]),
            )
            return node
        if isinstance(node, c.Arith):
            return replace(node, left=value(node.left), right=value(node.right))
        if isinstance(node, c.Neg):
            return replace(node, operand=value(node.operand))
        if isinstance(node, c.Const) and isinstance(node.value, float):
            return node
        problem(
            "type_mismatch",
            "a group condition compares numbers; this is not a number",
            getattr(node, "loc", None),
            _GROUP_HINT,
        )
        return node

    def condition(node: c.Condition) -> c.Condition:
        if isinstance(node, c.And | c.Or):
            return replace(node, items=tuple(condition(i) for i in node.items))
        if isinstance(node, c.Not):
            return replace(node, item=condition(node.item))
        if isinstance(node, c.Compare):
            return replace(node, left=value(node.left), right=value(node.right))
        problem(
            "type_mismatch",
            "a group condition is made of comparisons of numbers joined by and / or / not",
            getattr(node, "loc", None),
            _GROUP_HINT,
        )
        return node

    return condition(cond)


def _check_explain(
    template: str, params: Mapping[str, RefValue], doc: YamlDocument, measures: set[str]
) -> list[Problem]:
    """Placeholders name measures, params or the texts of EXPLANATION_TEXTS, without formats
    (numbers are written by the evaluator: whole numbers bare, others to one decimal)."""
    span: SourceSpan = doc.span(("explain",))
    loc = span.locate(1, 1, template)
    line = doc.source_line(loc.line)
    try:
        names = [
            (name, spec)
            for _text, name, spec, _conv in string.Formatter().parse(template)
            if name is not None
        ]
    except ValueError as exc:
        return [
            Problem(
                "bad_template",
                f"the explanation template is malformed: {exc}",
                loc,
                "placeholders look like {group.count}; write {{ and }} for braces",
                line,
            )
        ]
    problems: list[Problem] = []
    known = [*EXPLANATION_TEXTS, *BY_NAME, *(f"params.{k}" for k in params)]
    for name, spec in names:
        at = _placeholder(template, name, span) or loc
        if name in BY_NAME:
            measures.add(name)
        elif name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            problems.append(
                Problem(
                    "bad_template",
                    f"unknown name '{name}' in the explanation"
                    + (f"; did you mean '{close[0]}'?" if close else ""),
                    at,
                    "name a measure (group.count), a param, or one of: "
                    + ", ".join(EXPLANATION_TEXTS),
                    doc.source_line(at.line),
                )
            )
        if spec:
            problems.append(
                Problem(
                    "bad_template",
                    f"the format '{spec[:40]}' of {name}: correlation explanations take no formats",
                    at,
                    "write {group.mass_kg}; numbers are written to one decimal",
                    doc.source_line(at.line),
                )
            )
    return problems


def _placeholder(template: str, name: str, span: SourceSpan) -> Location | None:
    found = re.search(r"\{" + re.escape(name) + r"[}:!]", template)
    if found is None:
        return None
    before = template[: found.start() + 1]
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return span.locate(line, column, template)
