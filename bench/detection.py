"""Detection benchmark: how much concealment a rule pack finds, and how much honest trade it
stops, measured with the real ``assay screen`` on a labelled corpus.

    python bench/detection.py [--manifests 6000] [--seed 1] [--rules DIR]
                              [--engine compiled|rete] [--baseline DIR] [--keep DIR]

The corpus (:mod:`bench.detection_corpus`) is written from REFERENCE.md and trade knowledge,
not from any rule: honest ordinary trade, honest-but-unusual trade, honest goods described in
the HS 2022 nomenclature's words, and concealment in six patterns, each in plain and harder
forms. It is written as JSON Lines to a temporary folder and screened by the command a user
runs (``assay screen corpus.jsonl --output results.jsonl [--rules DIR]``); results are joined
to the labels by position and manifest id.

A concealment manifest counts as found when a flag of its own pattern is raised and its lane
is not green ("stopped" counts any lane but green, whatever rule raised it). For honest
manifests it prints the share not green and the share red, and the rules that fired on them.
``--baseline DIR`` screens the same corpus with a second pack in the same run and prints each
figure's difference and ratio against it. Nothing here asserts: it prints what it measured.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import orjson

# Run as a script (python bench/detection.py), the repository root is not on the path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench.detection_corpus import PATTERNS, SCENARIOS, TIERS, Label, generate  # noqa: E402
from bench.hs_nomenclature import HS2022, subheadings  # noqa: E402

ASSAY = str(Path(sys.executable).with_name("assay"))
TIER_NAMES = {
    "honest_ordinary": "ordinary honest",
    "honest_unusual": "honest-but-unusual",
    "honest_hs_wording": "HS 2022 wording",
}
TOP_RULES = 8
K = TypeVar("K")


@dataclass(frozen=True)
class Outcome:
    """One manifest's label and what the pack did with it."""

    label: Label
    channel: str | None  # None when the record could not be screened
    flags: tuple[tuple[str, str], ...]  # (rule_id, pattern) of every flag

    @property
    def stopped(self) -> bool:
        return self.channel is not None and self.channel != "green"

    @property
    def found(self) -> bool:
        return self.stopped and any(pattern == self.label.pattern for _, pattern in self.flags)


@dataclass
class Share:
    """A count out of n."""

    hits: int = 0
    n: int = 0

    @property
    def rate(self) -> float | None:
        return self.hits / self.n if self.n else None


@dataclass
class Figures:
    """Everything the table prints, for one pack."""

    found: dict[tuple[str, str], Share] = field(default_factory=dict)  # (pattern, form)
    # the same, counted only where the consignor was registered a year or more before
    found_established: dict[tuple[str, str], Share] = field(default_factory=dict)
    stopped: dict[tuple[str, str], Share] = field(default_factory=dict)
    found_by_scenario: dict[str, Share] = field(default_factory=dict)
    stopped_by_scenario: dict[str, Share] = field(default_factory=dict)
    # scenario -> patterns that stopped a manifest its own pattern did not find
    stopped_as: dict[str, Counter[str]] = field(default_factory=dict)
    not_green: dict[str, Share] = field(default_factory=dict)  # tier or scenario
    red: dict[str, Share] = field(default_factory=dict)
    honest_rules: dict[str, Counter[str]] = field(default_factory=dict)  # tier -> rule -> n
    honest_rules_stopping: dict[str, Counter[str]] = field(default_factory=dict)
    errors: int = 0


def screen(corpus: Path, output: Path, rules: Path | None, engine: str, workers: int) -> None:
    """Run the real CLI on the corpus, as a user would."""
    command = [
        ASSAY,
        "screen",
        str(corpus),
        "--output",
        str(output),
        "--engine",
        engine,
        "--workers",
        str(workers),
    ]
    if rules is not None:
        command += ["--rules", str(rules)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        sys.exit(f"assay screen failed ({done.returncode}):\n{done.stderr[-3000:]}")


def outcomes(results: Path, labels: list[Label]) -> list[Outcome]:
    """Join ``results`` (one line per input record, in order) to the labels."""
    lines = results.read_bytes().splitlines()
    if len(lines) != len(labels):
        sys.exit(f"{results}: {len(lines)} results for {len(labels)} manifests")
    joined = []
    for raw, label in zip(lines, labels, strict=True):
        record = orjson.loads(raw)
        if "error" in record:
            joined.append(Outcome(label, None, ()))
            continue
        if record["manifest_id"] != label.manifest_id:
            sys.exit(f"result {record['manifest_id']} where {label.manifest_id} was expected")
        flags = tuple((f["rule_id"], f["pattern"]) for f in record["flags"])
        joined.append(Outcome(label, record["channel"], flags))
    return joined


def _count(table: dict[K, Share], key: K, hit: bool) -> None:
    share = table.setdefault(key, Share())
    share.n += 1
    share.hits += hit


def measure(joined: list[Outcome]) -> Figures:
    figures = Figures()
    for outcome in joined:
        label = outcome.label
        figures.errors += outcome.channel is None
        if label.tier == "concealment":
            assert label.pattern is not None and label.form is not None
            _count(figures.found, (label.pattern, label.form), outcome.found)
            _count(figures.stopped, (label.pattern, label.form), outcome.stopped)
            if not label.young_consignor:
                _count(figures.found_established, (label.pattern, label.form), outcome.found)
            _count(figures.found_by_scenario, label.scenario, outcome.found)
            _count(figures.stopped_by_scenario, label.scenario, outcome.stopped)
            if outcome.stopped and not outcome.found:
                patterns = {pattern for _, pattern in outcome.flags}
                figures.stopped_as.setdefault(label.scenario, Counter()).update(patterns)
            continue
        keys: list[str] = [label.tier]
        if label.tier == "honest_unusual":
            keys.append(label.scenario)
        for key in keys:
            _count(figures.not_green, key, outcome.stopped)
            _count(figures.red, key, outcome.channel == "red")
        rules = {rule for rule, _ in outcome.flags}
        figures.honest_rules.setdefault(label.tier, Counter()).update(rules)
        if outcome.stopped:
            figures.honest_rules_stopping.setdefault(label.tier, Counter()).update(rules)
    return figures


# ------------------------------------------------------------------------- printing


def _pct(share: Share | None) -> str:
    if share is None or share.rate is None:
        return "-"
    return f"{100 * share.rate:.1f} %"


def _versus(current: Share | None, baseline: Share | None) -> str:
    """The baseline's figure, the difference in points and the ratio current / baseline."""
    if baseline is None or baseline.rate is None or current is None or current.rate is None:
        return ""
    diff = 100 * (current.rate - baseline.rate)
    ratio = f"{current.rate / baseline.rate:.2f}" if baseline.rate else "-"
    return f" | {_pct(baseline):>8} {diff:>+7.1f} pp {ratio:>6}"


def _total(table: dict[tuple[str, str], Share], form: str) -> Share:
    """All patterns' shares of one form, added up."""
    cells = [share for (_, f), share in table.items() if f == form]
    return Share(sum(s.hits for s in cells), sum(s.n for s in cells))


def print_table(figures: Figures, baseline: Figures | None) -> None:
    compare = " | baseline     diff  ratio" if baseline else ""
    print()
    print("RECALL: found = a rule of the manifest's own pattern fired and the lane is not green;")
    print("        stopped = the lane is not green, whatever rule fired; old consignor = found,")
    print("        counting only consignors registered a year or more before the filing")
    header = f"{'pattern':<27}{'form':<8}{'n':>5}{'found':>9}{'stopped':>9}{'old consignor':>15}"
    print(f"{header}{compare}")
    rows = [(p, f) for p in PATTERNS for f in ("plain", "harder")]
    for pattern, form in [*rows, ("all patterns", "plain"), ("all patterns", "harder")]:
        if pattern == "all patterns":
            found, stopped, established = (
                _total(figures.found, form),
                _total(figures.stopped, form),
                _total(figures.found_established, form),
            )
            base = _total(baseline.found, form) if baseline else None
        else:
            cell = (pattern, form)
            if cell not in figures.found:
                continue
            found, stopped = figures.found[cell], figures.stopped[cell]
            established = figures.found_established.get(cell, Share())
            base = baseline.found.get(cell) if baseline else None
        print(
            f"{pattern:<27}{form:<8}{found.n:>5}{_pct(found):>9}{_pct(stopped):>9}"
            f"{_pct(established):>9} n {established.n:<4}{_versus(found, base)}"
        )
    _print_scenarios(figures, baseline)
    _print_honest(figures, baseline)


def _print_scenarios(figures: Figures, baseline: Figures | None) -> None:
    print()
    print("  by scenario: n, found, stopped (and, for those its own pattern missed but another")
    print("  stopped, the patterns that fired)")
    for scenario in SCENARIOS:
        found = figures.found_by_scenario.get(scenario.key)
        if found is None:
            continue
        stopped = figures.stopped_by_scenario.get(scenario.key)
        cell = f"{scenario.pattern}/{scenario.form}"
        versus = _versus(found, baseline.found_by_scenario.get(scenario.key)) if baseline else ""
        others = figures.stopped_as.get(scenario.key, Counter())
        as_other = ", ".join(f"{p} {n}" for p, n in others.most_common())
        print(
            f"  {cell:<33}{scenario.key:<34}{found.n:>5}{_pct(found):>9}{_pct(stopped):>9}"
            f"{versus}{'  stopped as: ' + as_other if as_other else ''}"
        )


def _print_honest(figures: Figures, baseline: Figures | None) -> None:
    print()
    print("HONEST TRADE: share of manifests not green, and red")
    compare = " | baseline     diff  ratio  (baseline red)" if baseline else ""
    print(f"{'tier':<40}{'n':>6}{'not green':>11}{'red':>9}{compare}")
    for tier, name in TIER_NAMES.items():
        _honest_row(name, tier, figures, baseline)
        if tier == "honest_unusual":
            for scenario in SCENARIOS:
                if scenario.tier == tier:
                    _honest_row(f"  {scenario.key}", scenario.key, figures, baseline)

    print()
    print("RULES FIRING ON HONEST MANIFESTS (manifests the rule fired on; of them not green)")
    for tier, name in TIER_NAMES.items():
        fired = figures.honest_rules.get(tier, Counter())
        stopping = figures.honest_rules_stopping.get(tier, Counter())
        ranked = sorted(fired, key=lambda r: (-stopping[r], -fired[r], r))[:TOP_RULES]
        listing = ", ".join(f"{rule} {fired[rule]} ({stopping[rule]})" for rule in ranked)
        print(f"  {name}: {listing or 'none'}")
    if figures.errors or (baseline and baseline.errors):
        print(
            f"\nrecords that could not be screened: {figures.errors}"
            + (f" (baseline {baseline.errors})" if baseline else "")
        )


def _honest_row(name: str, key: str, figures: Figures, baseline: Figures | None) -> None:
    not_green, red = figures.not_green.get(key), figures.red.get(key)
    if not_green is None or red is None:
        return
    versus = ""
    if baseline:
        versus = _versus(not_green, baseline.not_green.get(key))
        versus += f"  red {_pct(baseline.red.get(key))}" if versus else ""
    print(f"{name:<40}{not_green.n:>6}{_pct(not_green):>11}{_pct(red):>9}{versus}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rules", type=Path, help="rule pack (default: the shipped one)")
    parser.add_argument("--engine", choices=("compiled", "rete"), default="compiled")
    parser.add_argument("--baseline", type=Path, help="a second rule pack to compare with")
    parser.add_argument("--workers", type=int, default=1, help="assay screen --workers")
    parser.add_argument("--keep", type=Path, help="write corpus, labels and results here")
    args = parser.parse_args()
    if not HS2022.is_file():
        sys.exit(f"{HS2022} is missing: the HS 2022 tier needs the shared nomenclature")

    started = time.perf_counter()
    corpus = generate(args.manifests, args.seed, subheadings())
    labels = [label for _, label in corpus]
    with tempfile.TemporaryDirectory(prefix="assay-detection-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        corpus_file = folder / "corpus.jsonl"
        corpus_file.write_bytes(b"".join(orjson.dumps(m) + b"\n" for m, _ in corpus))
        (folder / "labels.jsonl").write_bytes(
            b"".join(orjson.dumps(label.__dict__) + b"\n" for label in labels)
        )
        generated = time.perf_counter()
        screen(corpus_file, folder / "results.jsonl", args.rules, args.engine, args.workers)
        figures = measure(outcomes(folder / "results.jsonl", labels))
        baseline = None
        if args.baseline is not None:
            screen(corpus_file, folder / "baseline.jsonl", args.baseline, args.engine, args.workers)
            baseline = measure(outcomes(folder / "baseline.jsonl", labels))
    tiers = Counter(label.tier for label in labels)
    print(f"Detection benchmark: {len(labels):,} manifests, seed {args.seed}, engine {args.engine}")
    print(f"  rules:    {args.rules or 'the pack shipped with assay'}")
    if args.baseline:
        print(f"  baseline: {args.baseline}")
    print("  corpus:   " + ", ".join(f"{TIER_NAMES.get(t, t)} {tiers[t]:,}" for t in TIERS))
    print(
        f"  time:     {generated - started:.1f} s generating, "
        f"{time.perf_counter() - generated:.1f} s screening"
    )
    print_table(figures, baseline)


if __name__ == "__main__":
    main()
