"""Rule packs: from source files to an immutable, versioned :class:`RuleSet`.

A pack is a set of YAML files::

    pack.yaml                 name, version, lane thresholds, the base manifest for examples
    reference/<name>.yaml     reference data, cited in conditions as ref.<name>.<key>
    <anything>/<rule-id>.yaml one rule per file

:func:`compile_pack` takes the sources as a mapping of relative path to text, so a pack can
come from a directory (:func:`load_pack`), a wheel, or a database; the ``sha256`` of a
ruleset is computed over exactly those sources.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assay.engine import conditions as c
from assay.engine import limits
from assay.engine.check import Context, check_condition, check_template, template_names
from assay.engine.contracts import Manifest, Role, Severity
from assay.engine.correlation.language import (
    CorrelationRule,
    compile_correlation_rule,
    is_correlation_file,
)
from assay.engine.errors import AssayError, Location, Problem
from assay.engine.fields import BY_PATH, Group, Scope
from assay.engine.lanes import Lanes
from assay.engine.parse import YamlDocument, load_yaml, parse_condition
from assay.engine.reference import Reference, RefValue, build_reference
from assay.engine.rulefile import (
    PATTERN,
    RULE_ID,
    ExamplePatch,
    build_example_manifest,
    example_path,
    pydantic_problems,
)

# --------------------------------------------------------------------------- file schemas

ParamValue = float | bool | str | list[str] | list[float]


class _Examples(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hit: Annotated[list[ExamplePatch], Field(min_length=1, max_length=limits.MAX_EXAMPLES)]
    miss: Annotated[list[ExamplePatch], Field(min_length=1, max_length=limits.MAX_EXAMPLES)]


class _RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(pattern=RULE_ID)]
    title: Annotated[str, Field(min_length=3, max_length=120)]
    pattern: Annotated[str, Field(pattern=PATTERN)]
    severity: Severity
    score: Annotated[int, Field(ge=0, le=100)]
    role: Role = "finding"
    scope: Scope = "item"
    when: Annotated[str, Field(min_length=1)]
    explain: Annotated[str, Field(min_length=10, max_length=600)]
    references: Annotated[list[Annotated[str, Field(min_length=3)]], Field(min_length=1)]
    params: dict[Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")], ParamValue] = Field(
        default_factory=dict
    )
    examples: _Examples


class _LanesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    yellow_at: Annotated[int, Field(ge=1, le=100)]
    red_at: Annotated[int, Field(ge=1, le=100)]
    red_severities: list[Severity] = Field(default_factory=list)


class _PackFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    version: Annotated[str, Field(min_length=1, max_length=32)]
    description: str = ""
    lanes: _LanesFile
    example_base: dict[str, Any]


# ------------------------------------------------------------------------ compiled forms


@dataclass(frozen=True)
class Example:
    """One example of a rule: a manifest and whether the rule must fire on it."""

    expect_hit: bool
    manifest: Manifest
    note: str | None
    location: Location


@dataclass(frozen=True)
class Rule:
    """One checked rule. ``when`` is the typed, resolved condition tree."""

    id: str
    title: str
    pattern: str
    severity: Severity
    score: int
    role: Role
    scope: Scope
    when: c.Condition
    when_text: str
    when_at: Location
    explain: str
    references: tuple[str, ...]
    params: Mapping[str, RefValue]
    examples: tuple[Example, ...]
    file: str
    source: str
    reads: tuple[str, ...]  # field paths the condition and the explanation read
    thresholds: tuple[tuple[str, RefValue], ...]  # params/ref values cited, for evidence


@dataclass(frozen=True)
class RuleSet:
    """An immutable, versioned, checked rule pack."""

    name: str
    version: str
    sha256: str
    description: str
    rules: tuple[Rule, ...]
    reference: Reference
    lanes: Lanes
    groups: frozenset[Group]
    example_base: Mapping[str, Any] = field(repr=False)
    sources: Mapping[str, str] = field(repr=False)
    # Rules over many manifests (engine.correlation); per-manifest screening does not run them.
    correlations: tuple[CorrelationRule, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def rule(self, rule_id: str) -> Rule | None:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        return None

    @property
    def every_rule(self) -> tuple[Rule | CorrelationRule, ...]:
        """The manifest and item rules, then the correlation rules: what a listing shows."""
        return (*self.rules, *self.correlations)

    def any_rule(self, rule_id: str) -> Rule | CorrelationRule | None:
        """A manifest, item or correlation rule by id."""
        for rule in self.every_rule:
            if rule.id == rule_id:
                return rule
        return None


# ---------------------------------------------------------------------------- compilation


def sources_sha256(sources: Mapping[str, str]) -> str:
    digest = hashlib.sha256()
    for path in sorted(sources):
        digest.update(path.encode() + b"\0" + sources[path].encode() + b"\0")
    return digest.hexdigest()


_PATH_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def pack_path_problem(path: str, folded: Mapping[str, str] | None = None) -> str | None:
    """Why ``path`` cannot name a file of a pack, or None when it can. A pack path is
    canonical: it names one file the same way everywhere (a directory on any system, the rule
    store, a diff), so no two spellings can reach one rule. Parts are separated by '/', made
    of letters, digits, '_', '-' and '.', never starting with '.'; the name ends in .yaml;
    and no other file of the pack (``folded``: case-folded name -> name) differs from it
    only in letter case."""
    if "\\" in path:
        return "a backslash is not a path separator here; separate folders with '/'"
    if len(path) > limits.MAX_PATH_CHARS:
        return f"a path has at most {limits.MAX_PATH_CHARS} characters (MAX_PATH_CHARS)"
    parts = path.split("/")
    if len(parts) > limits.MAX_PATH_PARTS:
        return f"a path has at most {limits.MAX_PATH_PARTS} parts, folders included " + (
            "(MAX_PATH_PARTS)"
        )
    for part in parts:
        if not _PATH_PART.fullmatch(part):
            return (
                f"{part!r} is not a file or folder name: use letters, digits, '_', '-' and '.', "
                "not starting with '.' (no empty, '.' or '..' parts)"
            )
    if not path.endswith(".yaml"):
        return "a pack file's name ends in .yaml"
    if parts[0] == "reference" and len(parts) != 2:
        return "reference files sit directly in reference/, e.g. reference/terms.yaml"
    twin = (folded or {}).get(path.casefold(), path)
    if twin != path:
        return f"it and {twin} differ only in letter case; on many systems they are one file"
    return None


def _pack_shape(sources: Mapping[str, str], origin: str) -> list[Problem]:
    """The pack's files: canonical names, one spelling per file, within the size bounds."""
    problems: list[Problem] = []

    def at(path: str) -> Location:
        return Location(f"{origin}/{path}" if origin else path, 1, 1)

    if len(sources) > limits.MAX_PACK_FILES:
        problems.append(
            Problem(
                "limit_exceeded",
                f"the pack has {len(sources):,} files; a pack holds at most "
                f"{limits.MAX_PACK_FILES:,} (MAX_PACK_FILES)",
                at("pack.yaml"),
            )
        )
    total = sum(len(text.encode("utf-8", "surrogatepass")) for text in sources.values())
    if total > limits.MAX_PACK_BYTES:
        problems.append(
            Problem(
                "limit_exceeded",
                f"the pack's files hold {total:,} bytes; a pack holds at most "
                f"{limits.MAX_PACK_BYTES:,} (MAX_PACK_BYTES)",
                at("pack.yaml"),
            )
        )
    folded: dict[str, str] = {}
    for path in sorted(sources):
        why = pack_path_problem(path, folded)
        if why is not None:
            problems.append(
                Problem("pack_schema", f"bad file name {path[:200]!r}: {why}", at(path))
            )
        folded.setdefault(path.casefold(), path)
    return problems


def _thresholds(cond: c.Condition, template: str, ctx: Context) -> tuple[tuple[str, RefValue], ...]:
    found: dict[str, RefValue] = {}
    for node in c.walk(cond):
        if isinstance(node, c.And | c.Or | c.Not):
            continue
        for operand in c.leaf_values(node):
            for value in c.walk_values(operand):
                if (
                    isinstance(value, c.Const)
                    and value.origin
                    and not isinstance(value.value, tuple)
                ):
                    found.setdefault(value.origin, value.value)
    for name, _spec in template_names(template):
        head, _, rest = name.partition(".")
        if head == "params" and rest in ctx.params and not isinstance(ctx.params[rest], tuple):
            found.setdefault(name, ctx.params[rest])
        elif head == "ref":
            cited = ctx.reference.lookup(rest)
            if isinstance(cited, float | str | bool):
                found.setdefault(name, cited)
    return tuple(found.items())


def _compile_rule(
    path: str, doc: YamlDocument, reference: Reference, example_base: Mapping[str, Any]
) -> tuple[Rule | None, list[Problem]]:
    if not isinstance(doc.data, dict):
        return None, [doc.problem("rule_schema", "a rule file must be a mapping of fields", ())]
    try:
        spec = _RuleFile.model_validate(doc.data)
    except ValidationError as exc:
        return None, pydantic_problems(doc, exc)
    problems: list[Problem] = []
    stem = Path(path).stem
    if stem != spec.id:
        problems.append(
            doc.problem(
                "rule_schema",
                f"the rule id '{spec.id}' must match its file name '{stem}.yaml'",
                ("id",),
                f"rename the file to {spec.id}.yaml or change the id",
            )
        )
    params: dict[str, RefValue] = {
        k: tuple(v)
        if isinstance(v, list)
        else (float(v) if isinstance(v, int) and not isinstance(v, bool) else v)  # type: ignore[misc]
        for k, v in spec.params.items()
    }
    ctx = Context(spec.scope, MappingProxyType(params), reference, doc.source_line)
    when: c.Condition = c.Known(False)
    try:
        parsed = parse_condition(spec.when, doc.span(("when",)), doc)
        when, found = check_condition(parsed, ctx)
        problems += found
    except AssayError as exc:
        problems += exc.problems
    problems += check_template(spec.explain, ctx, doc.span(("explain",)))
    if isinstance(when, c.Known) and not problems:
        problems.append(
            doc.problem(
                "type_mismatch",
                f"the condition is always {str(when.value).lower()}, whatever the manifest says",
                ("when",),
                "compare a field with a value",
            )
        )
    examples: list[Example] = []
    for kind in ("hit", "miss"):
        for index, example in enumerate(getattr(spec.examples, kind)):
            where: tuple[str | int, ...] = ("examples", kind, index)
            raw = example.model_dump(exclude_none=True)
            data = build_example_manifest(example_base, raw)
            try:
                manifest = Manifest.model_validate(data)
            except ValidationError as exc:
                for error in exc.errors():
                    loc = tuple(error["loc"])
                    target = example_path(where, loc, raw)
                    problems.append(
                        doc.problem(
                            "rule_schema",
                            f"this example is not a valid manifest: "
                            f"{'.'.join(str(x) for x in loc)}: {error['msg']}",
                            target,
                        )
                    )
                continue
            examples.append(Example(kind == "hit", manifest, example.note, doc.location(where)))
    if problems:
        return None, problems
    reads = list(c.fields_read(when))
    for name, _spec in template_names(spec.explain):
        if name in BY_PATH and name not in reads:
            reads.append(name)
    rule = Rule(
        id=spec.id,
        title=spec.title,
        pattern=spec.pattern,
        severity=spec.severity,
        score=spec.score,
        role=spec.role,
        scope=spec.scope,
        when=when,
        when_text=spec.when.strip(),
        when_at=doc.location(("when",)),
        explain=" ".join(spec.explain.split()),
        references=tuple(spec.references),
        params=MappingProxyType(params),
        examples=tuple(examples),
        file=path,
        source=doc.text,
        reads=tuple(reads),
        thresholds=_thresholds(when, spec.explain, ctx),
    )
    return rule, []


def compile_pack(sources: Mapping[str, str], origin: str = "<pack>") -> RuleSet:
    """Check and compile a pack from its sources. Raises :class:`AssayError` listing every
    problem found, each with file, line and column."""
    problems = _pack_shape(sources, origin)
    if problems:
        raise AssayError(problems)
    docs: dict[str, YamlDocument] = {}
    for path in sorted(sources):
        try:
            docs[path] = load_yaml(f"{origin}/{path}" if origin else path, sources[path])
        except AssayError as exc:
            problems += exc.problems
    pack_doc = docs.get("pack.yaml")
    if pack_doc is None:
        if "pack.yaml" not in sources:
            problems.append(
                Problem(
                    "pack_schema",
                    "the pack has no pack.yaml",
                    Location(f"{origin}/pack.yaml", 1, 1),
                    "add pack.yaml with name, version, lanes and example_base",
                )
            )
        raise AssayError(problems)
    try:
        pack = _PackFile.model_validate(pack_doc.data)
    except ValidationError as exc:
        raise AssayError(
            problems + [replace_code(p, "pack_schema") for p in pydantic_problems(pack_doc, exc)]
        ) from None
    problems += _pack_settings_problems(pack, pack_doc)
    ref_docs = {Path(path).stem: doc for path, doc in docs.items() if path.startswith("reference/")}
    try:
        reference = build_reference(ref_docs)
    except AssayError as exc:
        raise AssayError(problems + list(exc.problems)) from None
    if problems:
        raise AssayError(problems)

    rule_docs = [
        (path, doc)
        for path, doc in docs.items()
        if path != "pack.yaml" and not path.startswith("reference/")
    ]
    _check_rule_bounds(rule_docs, pack_doc)
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    correlations: list[CorrelationRule] = []
    for path, doc in rule_docs:
        if is_correlation_file(doc.data):
            problems += _add_correlation(
                path, doc, reference, pack.example_base, seen, correlations
            )
            continue
        rule, found = _compile_rule(path, doc, reference, pack.example_base)
        problems += found
        if rule is None:
            continue
        if rule.id in seen:
            problems.append(
                doc.problem(
                    "duplicate_rule",
                    f"rule id '{rule.id}' is also defined in {seen[rule.id]}",
                    ("id",),
                    "every rule needs its own id",
                )
            )
            continue
        seen[rule.id] = doc.file
        if rule.role == "indicator" and rule.severity in pack.lanes.red_severities:
            problems.append(
                doc.problem(
                    "rule_schema",
                    f"an indicator cannot have severity '{rule.severity}': the pack sends every "
                    "flag of that severity to red, and an indicator never decides a lane alone",
                    ("severity",),
                    "give it a lower severity, or make it a finding about the goods",
                )
            )
            continue
        rules.append(rule)
    if problems:
        raise AssayError(problems)
    groups = _groups(rules)
    return RuleSet(
        name=pack.name,
        version=pack.version,
        sha256=sources_sha256(sources),
        description=pack.description,
        rules=tuple(rules),
        reference=reference,
        lanes=Lanes(pack.lanes.yellow_at, pack.lanes.red_at, frozenset(pack.lanes.red_severities)),
        groups=groups,
        example_base=MappingProxyType(copy.deepcopy(pack.example_base)),
        sources=MappingProxyType(dict(sources)),
        correlations=tuple(correlations),
    )


def _pack_settings_problems(pack: _PackFile, pack_doc: YamlDocument) -> list[Problem]:
    """pack.yaml's lanes in order and its example_base a valid manifest."""
    problems: list[Problem] = []
    if pack.lanes.yellow_at >= pack.lanes.red_at:
        problems.append(
            pack_doc.problem(
                "pack_schema", "lanes.yellow_at must be below lanes.red_at", ("lanes", "yellow_at")
            )
        )
    try:
        Manifest.model_validate(pack.example_base)
    except ValidationError as exc:
        problems += [
            replace_code(p, "pack_schema")
            for p in pydantic_problems(pack_doc, exc, ("example_base",))
        ]
    return problems


def _add_correlation(
    path: str,
    doc: YamlDocument,
    reference: Reference,
    example_base: Mapping[str, Any],
    seen: dict[str, str],
    correlations: list[CorrelationRule],
) -> list[Problem]:
    """Compile one correlation rule file into ``correlations``; the problems found."""
    correlation, problems = compile_correlation_rule(path, doc, reference, example_base)
    if correlation is None:
        return problems
    if correlation.id in seen:
        return [
            doc.problem(
                "duplicate_rule",
                f"rule id '{correlation.id}' is also defined in {seen[correlation.id]}",
                ("id",),
                "every rule needs its own id",
            )
        ]
    seen[correlation.id] = doc.file
    correlations.append(correlation)
    return []


def _check_rule_bounds(rule_docs: list[tuple[str, YamlDocument]], pack_doc: YamlDocument) -> None:
    """The pack's rules fit :data:`~engine.limits.MAX_RULES` and, together, the bound on
    condition text; checked before any rule compiles."""
    if len(rule_docs) > limits.MAX_RULES:
        raise AssayError(
            pack_doc.problem(
                "limit_exceeded",
                f"the pack has {len(rule_docs):,} rule files; a pack holds at most "
                f"{limits.MAX_RULES} rules (MAX_RULES)",
                (),
                "split it into several packs",
            )
        )
    condition_chars = sum(
        len(doc.data["when"])
        for _, doc in rule_docs
        if isinstance(doc.data, dict) and isinstance(doc.data.get("when"), str)
    ) + sum(  # a correlation rule's two conditions count as well
        len(text)
        for _, doc in rule_docs
        if is_correlation_file(doc.data) and isinstance(doc.data["correlation"], dict)
        for key in ("each", "alert_when")
        if isinstance(text := doc.data["correlation"].get(key), str)
    )
    if condition_chars > limits.MAX_PACK_CONDITION_CHARS:
        raise AssayError(
            pack_doc.problem(
                "limit_exceeded",
                f"the pack's conditions hold {condition_chars:,} characters in all; a pack holds "
                f"at most {limits.MAX_PACK_CONDITION_CHARS:,} (MAX_PACK_CONDITION_CHARS)",
                (),
                "put long lists in reference files and cite them as ref.<file>.<list>",
            )
        )


def replace_code(problem: Problem, code: Literal["pack_schema"]) -> Problem:
    return Problem(code, problem.message, problem.location, problem.hint, problem.source_line)


def _groups(rules: list[Rule]) -> frozenset[Group]:
    groups: set[Group] = set()
    for rule in rules:
        for path in rule.reads:
            groups.add(BY_PATH[path].group)
    return frozenset(groups)


_SKIP_DIRS = re.compile(r"(^|/)(\.|__pycache__)")


def read_sources(directory: Path) -> dict[str, str]:
    """The YAML sources of a pack directory, keyed by POSIX path relative to it."""
    out: dict[str, str] = {}
    for file in sorted(directory.rglob("*.yaml")):
        relative = file.relative_to(directory).as_posix()
        if _SKIP_DIRS.search(relative):
            continue
        out[relative] = file.read_text(encoding="utf-8")
    return out


def load_pack(directory: str | Path) -> RuleSet:
    """Compile the pack in ``directory``."""
    path = Path(directory)
    if not (path / "pack.yaml").is_file():
        raise AssayError(
            Problem(
                "pack_schema",
                f"{path} is not a rule pack (no pack.yaml)",
                None,
                "point --rules at the directory that holds pack.yaml",
            )
        )
    return compile_pack(read_sources(path), origin=str(path))


def default_pack_dir() -> Path:
    """The rule pack shipped inside the installed package."""
    return Path(str(resources.files("assay.rules")))


def load_default_pack() -> RuleSet:
    return load_pack(default_pack_dir())
