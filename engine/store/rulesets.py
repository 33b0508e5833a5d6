"""The rule store: ruleset versions, their lifecycle, four-eyes review, and the audit trail.

A version holds a whole pack's sources (``pack.yaml`` with its lane thresholds, the
reference files, the rules). A *draft* is a mutable copy of a version, owned by its author;
every other state is immutable::

    draft --submit--> submitted --approve--> approved --activate--> active --(replaced)--> retired
      ^                  |                                            ^                        |
      +-----reject-------+                                            +-------rollback---------+

* only a draft's author edits or submits it, and a draft that does not compile or whose
  examples fail cannot be submitted;
* **four eyes**: whoever approves, rejects or activates a version is never its author;
* exactly one version is active; activating or rolling back retires the one before;
* every transition is in the audit trail: who, when, what, and why.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from assay.engine.errors import AssayError
from assay.engine.examples import run_examples
from assay.engine.parse import load_yaml
from assay.engine.ruleset import (
    RuleSet,
    compile_pack,
    pack_path_problem,
    read_sources,
    sources_sha256,
)
from assay.engine.store import audit as trail
from assay.engine.store.audit import Acting
from assay.engine.store.database import audit, ruleset_versions, stored_utc
from assay.engine.store.people import person_of

State = Literal["draft", "submitted", "approved", "active", "retired"]
# Who acts: an API key's identity, or the name of a system or command-line user.
Actor = Acting | str
Status = Literal["not_found", "forbidden", "conflict", "invalid"]


class GovernanceError(Exception):
    """A transition that is not allowed: ``status`` says why (not_found, forbidden: four
    eyes or ownership, conflict: wrong state, invalid: the draft does not validate)."""

    def __init__(self, status: Status, message: str, report: Validation | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.report = report


@dataclass(frozen=True)
class Version:
    id: int
    parent_id: int | None
    state: State
    author: str
    created_at: datetime
    updated_at: datetime
    name: str
    version: str
    sha256: str
    comment: str | None
    files: tuple[str, ...]


@dataclass(frozen=True)
class Event:
    id: int
    at: datetime
    actor: str
    action: str
    version_id: int | None
    reason: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class Validation:
    """What is wrong with a version's sources, if anything."""

    ok: bool
    problems: list[dict[str, Any]] = field(default_factory=list)
    examples_passed: int = 0
    examples_failed: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": self.problems,
            "examples": {"passed": self.examples_passed, "failed": self.examples_failed},
        }


def validate_sources(sources: Mapping[str, str]) -> Validation:
    """Compile ``sources`` and run every rule's examples."""
    try:
        ruleset = compile_pack(sources, origin="")
    except AssayError as exc:
        problems = [
            {
                "code": p.code,
                "message": p.message,
                "file": p.location.file if p.location else None,
                "line": p.location.line if p.location else None,
                "column": p.location.column if p.location else None,
                "hint": p.hint,
            }
            for p in exc.problems
        ]
        return Validation(False, problems)
    outcomes = run_examples(ruleset)
    failed = [
        {
            "rule_id": o.rule_id,
            "expected": "hit" if o.expect_hit else "miss",
            "file": o.location.file,
            "line": o.location.line,
            "column": o.location.column,
            "message": o.describe(),
        }
        for o in outcomes
        if not o.passed
    ]
    return Validation(not failed, [], len(outcomes) - len(failed), failed)


def _pack_label(sources: Mapping[str, str]) -> tuple[str, str]:
    try:
        data = load_yaml("pack.yaml", sources.get("pack.yaml", "")).data or {}
    except AssayError:
        data = {}
    name = data.get("name") if isinstance(data, dict) else None
    version = data.get("version") if isinstance(data, dict) else None
    return str(name or "unnamed")[:64], str(version or "draft")[:32]


def _now() -> datetime:
    return datetime.now(UTC)


class RuleStore:
    """Versions and their lifecycle, in the service's database."""

    def __init__(self, db: Engine) -> None:
        self._db = db

    # ----------------------------------------------------------------------- reading

    def _row(self, version_id: int) -> Any:
        with self._db.connect() as connection:
            row = (
                connection.execute(
                    select(ruleset_versions).where(ruleset_versions.c.id == version_id)
                )
                .mappings()
                .first()
            )
        if row is None:
            raise GovernanceError("not_found", f"no ruleset version {version_id}")
        return row

    @staticmethod
    def _version(row: Any) -> Version:
        return Version(
            id=row["id"],
            parent_id=row["parent_id"],
            state=row["state"],
            author=row["author"],
            created_at=stored_utc(row["created_at"]),
            updated_at=stored_utc(row["updated_at"]),
            name=row["name"],
            version=row["version"],
            sha256=row["sha256"],
            comment=row["comment"],
            files=tuple(sorted(orjson.loads(row["sources"]))),
        )

    def get(self, version_id: int) -> Version:
        return self._version(self._row(version_id))

    def sources(self, version_id: int) -> dict[str, str]:
        found: dict[str, str] = orjson.loads(self._row(version_id)["sources"])
        return found

    def versions(self) -> list[Version]:
        with self._db.connect() as connection:
            rows = connection.execute(
                select(ruleset_versions).order_by(ruleset_versions.c.id)
            ).mappings()
            return [self._version(row) for row in rows]

    def active(self) -> Version | None:
        with self._db.connect() as connection:
            row = (
                connection.execute(
                    select(ruleset_versions).where(ruleset_versions.c.state == "active")
                )
                .mappings()
                .first()
            )
        return self._version(row) if row is not None else None

    def version_id(self, which: int | str) -> int:
        """The id of version ``which`` (an id, or ``"active"``); ``not_found`` if none."""
        if which == "active":
            marker = self.active_marker()
            if marker is None:
                raise GovernanceError("not_found", "the rule store has no active version")
            return marker[0]
        version_id = int(which)
        self._row(version_id)
        return version_id

    def compile(self, version_id: int) -> RuleSet:
        """Version ``version_id`` compiled, its errors naming ``version N`` as the origin."""
        return compile_pack(self.sources(version_id), origin=f"version {version_id}")

    def active_marker(self) -> tuple[int, str] | None:
        """``(id, sha256)`` of the active version: cheap enough to poll."""
        with self._db.connect() as connection:
            row = connection.execute(
                select(ruleset_versions.c.id, ruleset_versions.c.sha256).where(
                    ruleset_versions.c.state == "active"
                )
            ).first()
        return (row[0], row[1]) if row is not None else None

    def previously_active(self) -> list[int]:
        """Versions that have been active, the most recently made active first (from the
        audit trail): where a worker falls back when the active version does not load."""
        query = (
            select(audit.c.version_id)
            .where(audit.c.action.in_(("import", "activate", "rollback")))
            .order_by(audit.c.id.desc())
        )
        with self._db.connect() as connection:
            found = [row[0] for row in connection.execute(query) if row[0] is not None]
        return list(dict.fromkeys(found))

    def audit(self, version_id: int | None = None) -> list[Event]:
        query = select(audit).order_by(audit.c.id)
        if version_id is not None:
            query = query.where(audit.c.version_id == version_id)
        with self._db.connect() as connection:
            return [
                Event(
                    id=row["id"],
                    at=stored_utc(row["at"]),
                    actor=row["actor"],
                    action=row["action"],
                    version_id=row["version_id"],
                    reason=row["reason"],
                    details=orjson.loads(row["details"]) if row["details"] else {},
                )
                for row in connection.execute(query).mappings()
            ]

    # ----------------------------------------------------------------------- writing

    def _insert(
        self,
        connection: Any,
        sources: Mapping[str, str],
        state: State,
        author: Actor,
        parent_id: int | None,
    ) -> int:
        name, version = _pack_label(sources)
        now = _now()
        result = connection.execute(
            insert(ruleset_versions).values(
                parent_id=parent_id,
                state=state,
                author=_person(author),
                created_at=now,
                updated_at=now,
                name=name,
                version=version,
                sha256=sources_sha256(sources),
                sources=orjson.dumps(dict(sources)).decode(),
                comment=None,
            )
        )
        return int(result.inserted_primary_key[0])

    def import_directory(self, directory: Path, actor: Actor = "system") -> int | None:
        """On first start: the pack in ``directory`` becomes version 1, active. Does nothing
        (returns None) when the store already holds versions."""
        sources = read_sources(directory)
        try:
            with self._db.begin() as connection:
                if connection.execute(select(ruleset_versions.c.id).limit(1)).first() is not None:
                    return None
                version_id = self._insert(connection, sources, "active", actor, None)
                trail.record(
                    connection,
                    actor,
                    "import",
                    version_id,
                    f"imported from {directory}",
                    sha256=sources_sha256(sources),
                )
                return version_id
        except IntegrityError:
            # Another worker starting at the same moment seeded the store first: the unique
            # "one active version" index refused this copy, and that worker's import stands.
            return None

    def create_draft(self, base_id: int, author: Actor) -> int:
        """A mutable copy of version ``base_id``, owned by ``author``."""
        base = self._row(base_id)
        with self._db.begin() as connection:
            sources = orjson.loads(base["sources"])
            draft_id = self._insert(connection, sources, "draft", author, base_id)
            trail.record(connection, author, "create_draft", draft_id, None, base=base_id)
            return draft_id

    def write_file(self, draft_id: int, path: str, text: str | None, author: Actor) -> Validation:
        """Change (or delete, with None) one file of a draft; the draft's validation after."""
        row = self._row(draft_id)
        self._must(row, "draft", "edit")
        self._owned(row, author, "edits")
        sources: dict[str, str] = orjson.loads(row["sources"])
        why = pack_path_problem(path, {p.casefold(): p for p in sources if p != path})
        if why is not None:
            raise GovernanceError("invalid", f"{path[:200]!r} is not a pack file path: {why}")
        if text is None:
            if sources.pop(path, None) is None:
                raise GovernanceError("not_found", f"draft {draft_id} has no file {path}")
        else:
            sources[path] = text
        # Validated before it is saved: a file that does not load, or is past a bound, never
        # enters the draft (every later validation would pay for it again). A rule with other
        # problems (an unknown name, a condition with a syntax error) is saved as work in
        # progress: the draft's validation lists them, and it cannot be submitted.
        report = validate_sources(sources)
        refused = [
            p
            for p in report.problems
            if p["code"] == "limit_exceeded" or (p["code"] == "yaml_syntax" and p["file"] == path)
        ]
        if text is not None and refused:
            raise GovernanceError(
                "invalid",
                f"{path} was not saved: {refused[0]['message']}",
                Validation(False, refused),
            )
        name, version = _pack_label(sources)
        with self._db.begin() as connection:
            connection.execute(
                update(ruleset_versions)
                .where(ruleset_versions.c.id == draft_id)
                .values(
                    sources=orjson.dumps(sources).decode(),
                    sha256=sources_sha256(sources),
                    name=name,
                    version=version,
                    updated_at=_now(),
                )
            )
            trail.record(
                connection,
                author,
                "edit",
                draft_id,
                None,
                file=path,
                change="delete" if text is None else "write",
            )
        return report

    def validate(self, version_id: int) -> Validation:
        return validate_sources(self.sources(version_id))

    def check_file(self, version_id: int, path: str, text: str) -> Validation:
        """The validation version ``version_id`` would have with ``path`` holding ``text``,
        nothing saved: what an editor shows while its file is being typed."""
        sources = self.sources(version_id)
        why = pack_path_problem(path, {p.casefold(): p for p in sources if p != path})
        if why is not None:
            raise GovernanceError("invalid", f"{path[:200]!r} is not a pack file path: {why}")
        sources[path] = text
        return validate_sources(sources)

    def file_of_rule(self, version_id: int, rule_id: str) -> str:
        """The file of version ``version_id`` that declares rule ``rule_id`` (matched as
        :meth:`diff` matches rules); ``not_found`` if none does."""
        by_id, _ = _rules_by_id(self.sources(version_id))
        if rule_id not in by_id:
            raise GovernanceError("not_found", f"version {version_id} has no rule {rule_id}")
        return by_id[rule_id]

    def open_draft_of(self, actor: Actor) -> Version | None:
        """``actor``'s newest draft still open for editing, if any."""
        person = _person(actor)
        drafts = [
            v for v in self.versions() if v.state == "draft" and person_of(v.author) == person
        ]
        return drafts[-1] if drafts else None

    @staticmethod
    def _must(row: Any, state: State, doing: str) -> None:
        if row["state"] != state:
            raise GovernanceError(
                "conflict",
                f"version {row['id']} is {row['state']}; only a {state} version can be {doing}",
            )

    def _refuse(self, row: Any, actor: Actor, doing: str, message: str) -> GovernanceError:
        """A refused act, recorded in the audit trail before it is answered."""
        with self._db.begin() as connection:
            trail.record(connection, actor, "refused", row["id"], message, attempted=doing)
        return GovernanceError("forbidden", message)

    def _owned(self, row: Any, actor: Actor, does: str) -> None:
        if person_of(row["author"]) != _person(actor):
            raise self._refuse(
                row,
                actor,
                does,
                f"draft {row['id']} belongs to {row['author']}; only its author {does} it",
            )

    def _four_eyes(self, row: Any, actor: Actor, doing: str) -> None:
        """Four eyes: the person acting is not the person who wrote the version, however
        either spells their name (compared as :func:`~engine.store.people.person_of`)."""
        if person_of(row["author"]) == _person(actor):
            raise self._refuse(
                row,
                actor,
                doing,
                f"{_person(actor)} wrote version {row['id']} and cannot {doing} it: a second "
                "person must",
            )

    def _transition(
        self,
        row: Any,
        state: State,
        actor: Actor,
        action: str,
        reason: str | None,
        comment: str | None = None,
    ) -> None:
        with self._db.begin() as connection:
            values: dict[str, Any] = {"state": state, "updated_at": _now()}
            if comment is not None:
                values["comment"] = comment
            # Only from the state checked: of two reviewers acting at once, one wins.
            done = connection.execute(
                update(ruleset_versions)
                .where(ruleset_versions.c.id == row["id"], ruleset_versions.c.state == row["state"])
                .values(**values)
            )
            if done.rowcount != 1:
                raise GovernanceError(
                    "conflict", f"version {row['id']} changed meanwhile; reload it and try again"
                )
            trail.record(connection, actor, action, row["id"], reason)

    def submit(self, draft_id: int, actor: Actor) -> Validation:
        row = self._row(draft_id)
        self._must(row, "draft", "submitted")
        self._owned(row, actor, "submits")
        report = validate_sources(orjson.loads(row["sources"]))
        if not report.ok:
            raise GovernanceError(
                "invalid", f"draft {draft_id} does not validate; fix it before submitting", report
            )
        self._transition(row, "submitted", actor, "submit", None)
        return report

    def approve(self, version_id: int, actor: Actor, comment: str | None = None) -> None:
        row = self._row(version_id)
        self._must(row, "submitted", "approved")
        self._four_eyes(row, actor, "approve")
        self._transition(row, "approved", actor, "approve", comment, comment)

    def reject(self, version_id: int, actor: Actor, comment: str) -> None:
        row = self._row(version_id)
        self._must(row, "submitted", "rejected")
        self._four_eyes(row, actor, "reject")
        if not comment.strip():
            raise GovernanceError("invalid", "a rejection needs a comment for the author")
        self._transition(row, "draft", actor, "reject", comment, comment)

    def activate(self, version_id: int, actor: Actor, reason: str | None = None) -> None:
        row = self._row(version_id)
        self._must(row, "approved", "activated")
        self._four_eyes(row, actor, "activate")
        self._switch(version_id, "approved", actor, "activate", reason)

    def rollback(self, version_id: int, actor: Actor, reason: str) -> None:
        """Make an earlier (retired) version active again."""
        row = self._row(version_id)
        self._must(row, "retired", "rolled back to")
        if not reason.strip():
            raise GovernanceError("invalid", "a rollback needs a reason")
        self._switch(version_id, "retired", actor, "rollback", reason)

    def _switch(
        self, version_id: int, expected: State, actor: Actor, action: str, reason: str | None
    ) -> None:
        try:
            self._switch_once(version_id, expected, actor, action, reason)
        except IntegrityError:  # the one-active index: another activation won the race
            raise GovernanceError(
                "conflict", "another version was activated at the same moment; try again"
            ) from None

    def _switch_once(
        self, version_id: int, expected: State, actor: Actor, action: str, reason: str | None
    ) -> None:
        with self._db.begin() as connection:
            current = connection.execute(
                select(ruleset_versions.c.id).where(ruleset_versions.c.state == "active")
            ).first()
            now = _now()
            if current is not None:
                connection.execute(
                    update(ruleset_versions)
                    .where(ruleset_versions.c.id == current[0])
                    .values(state="retired", updated_at=now)
                )
            done = connection.execute(
                update(ruleset_versions)
                .where(ruleset_versions.c.id == version_id, ruleset_versions.c.state == expected)
                .values(state="active", updated_at=now)
            )
            if done.rowcount != 1:
                raise GovernanceError(
                    "conflict", f"version {version_id} changed meanwhile; reload it and try again"
                )
            trail.record(
                connection,
                actor,
                action,
                version_id,
                reason,
                replaced=current[0] if current is not None else None,
            )

    # -------------------------------------------------------------------------- diffs

    def diff(self, a: int, b: int) -> dict[str, Any]:
        """Rules added, removed and changed from version ``a`` to ``b``, with text diffs;
        the pack and reference files likewise. Rules are matched by the id each file declares,
        as the compiler sees them, not by file name; two files of one version declaring the
        same id are listed under ``duplicates`` (such a version does not compile)."""
        left, right = self.sources(a), self.sources(b)
        left_rules, left_duplicates = _rules_by_id(left)
        right_rules, right_duplicates = _rules_by_id(right)

        def text_diff(before: str, after: str, name: str) -> str:
            return "".join(
                difflib.unified_diff(
                    before.splitlines(keepends=True),
                    after.splitlines(keepends=True),
                    f"{a}/{name}",
                    f"{b}/{name}",
                )
            )

        changed = []
        for rule_id in sorted(set(left_rules) & set(right_rules)):
            before, after = left[left_rules[rule_id]], right[right_rules[rule_id]]
            if before != after:
                changed.append(
                    {"rule_id": rule_id, "diff": text_diff(before, after, right_rules[rule_id])}
                )
        other = [
            {"file": path, "diff": text_diff(left.get(path, ""), right.get(path, ""), path)}
            for path in sorted(
                p
                for p in set(left) | set(right)
                if (p == "pack.yaml" or p.startswith("reference/")) and left.get(p) != right.get(p)
            )
        ]
        return {
            "from": a,
            "to": b,
            "added": [
                {"rule_id": r, "source": right[right_rules[r]]}
                for r in sorted(set(right_rules) - set(left_rules))
            ],
            "removed": [
                {"rule_id": r, "source": left[left_rules[r]]}
                for r in sorted(set(left_rules) - set(right_rules))
            ],
            "changed": changed,
            "other_files": other,
            "duplicates": [
                {"version": version, "rule_id": rule_id, "files": files}
                for version, found in ((a, left_duplicates), (b, right_duplicates))
                for rule_id, files in sorted(found.items())
            ],
        }


def _person(actor: Actor) -> str:
    return person_of(actor) if isinstance(actor, str) else actor.person


def _rules_by_id(files: Mapping[str, str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Each rule file's path by the id it declares (its file name's stem when it declares
    none it can read), and the ids declared by more than one file."""
    by_id: dict[str, list[str]] = {}
    for path in sorted(files):
        if path == "pack.yaml" or path.startswith("reference/"):
            continue
        try:
            data = load_yaml(path, files[path]).data
        except AssayError:
            data = None
        declared = data.get("id") if isinstance(data, dict) else None
        rule_id = declared if isinstance(declared, str) and declared else Path(path).stem
        by_id.setdefault(rule_id, []).append(path)
    return (
        {rule_id: paths[0] for rule_id, paths in by_id.items()},
        {rule_id: paths for rule_id, paths in by_id.items() if len(paths) > 1},
    )
