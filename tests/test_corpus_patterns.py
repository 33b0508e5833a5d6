"""Corpus patterns (engine/corpus.py): the glob translation agrees with fnmatch semantics
segment by segment; a walk over the corpus directory finds each file once, by its
corpus-relative name; every limit and refusal is an error naming the limit and the
pattern's position, and never the directory's absolute path."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from assay.engine import corpus
from assay.engine.corpus import (
    MAX_DEPTH,
    MAX_PATTERNS,
    CorpusError,
    compile_pattern,
    locate,
    resolve,
)

# Names of files and folders: any of these characters, never a leading '.' (hidden names
# are the one place the translation departs from fnmatch, as glob and the shell do).
NAME = st.text("ab.-[]!*?", min_size=1, max_size=4).filter(lambda n: not n.startswith("."))
PATH = st.lists(NAME, min_size=1, max_size=4)
# Pattern segments built from literals, wildcards and classes (ranges, negation, a ']'
# member, an empty range, an unclosed '[').
TOKEN = st.sampled_from(
    ["a", "b", ".", "-", "!", "]", "*", "?", "[ab]", "[!a]", "[a-b]", "[b-a]", "[]a]", "[!]", "["]
)
SEGMENT = (
    st.lists(TOKEN, min_size=1, max_size=4)
    .map("".join)
    .filter(lambda s: s not in (".", "..", "**") and s.count("**") <= 1)
)
SEGMENTS = st.lists(SEGMENT, min_size=1, max_size=4)


@st.composite
def _like(draw: st.DrawFn, name: str) -> str:
    """A segment made from ``name`` that matches it, or nearly: each character kept, or
    made '?', '*', a class holding it, or a class that may not."""
    pieces: list[str] = []
    for char in name:
        literal = f"[{char}]" if char in "*?[" else char
        piece = draw(st.sampled_from([literal, "?", "*", f"[{char}b]", "[!a]", "[a-c]"]))
        if not (piece == "*" and pieces and pieces[-1] == "*"):
            pieces.append(piece)
    return "".join(pieces)


@st.composite
def _pattern_for(draw: st.DrawFn, path: list[str]) -> list[str]:
    """A pattern for ``path``: per segment, one made from its name or a random one."""
    return [draw(st.one_of(_like(name), SEGMENT)) for name in path]


def _oracle(path: list[str], pattern: list[str]) -> bool:
    """fnmatch semantics for each segment: in Python 3.11 a relative pattern given to
    ``PurePosixPath.match`` is matched from the right, segment by segment, with
    ``fnmatch.fnmatchcase``; with as many segments as the path, that is a whole match in
    which ``*`` and ``?`` never cross '/'."""
    return len(path) == len(pattern) and PurePosixPath(*path).match("/".join(pattern))


@given(st.data(), PATH)
def test_a_pattern_without_double_star_matches_as_fnmatch_does_per_segment(
    data: st.DataObject, path: list[str]
) -> None:
    pattern = data.draw(st.one_of(_pattern_for(path), SEGMENTS))
    text = "/".join(pattern)
    assume(text.count("**") <= 1 and "**" not in pattern)
    compiled = compile_pattern(0, text)
    assert compiled.matches("/".join(path)) == _oracle(path, pattern)


@given(st.data(), PATH, st.integers(0, 2), st.integers(0, 2))
def test_double_star_matches_zero_or_more_folders(
    data: st.DataObject, path: list[str], heads: int, tails: int
) -> None:
    head = data.draw(_pattern_for(path[:heads]))
    tail = data.draw(_pattern_for(path[len(path) - tails :] if tails else []))
    text = "/".join([*head, "**", *tail])
    assume(text.count("**") == 1)
    compiled = compile_pattern(0, text)
    ending = tail or ["*"]  # 'a/**' is every file under a
    spans = range(len(path) + 1)
    expected = any(_oracle(path, [*head, *["*"] * k, *ending]) for k in spans)
    assert compiled.matches("/".join(path)) == expected


@given(st.data(), PATH, st.booleans())
def test_the_walk_goes_into_every_folder_a_matching_file_is_in(
    data: st.DataObject, path: list[str], recursive: bool
) -> None:
    """may_hold prunes the walk: it must hold for every folder above a file that matches."""
    pattern = data.draw(_pattern_for(path))
    if recursive:  # one segment made '**', or '**' put in
        at = data.draw(st.integers(0, len(pattern)))
        pattern = [*pattern[:at], "**", *pattern[at + data.draw(st.integers(0, 1)) :]]
    text = "/".join(pattern)
    assume(text.count("**") <= 1)
    compiled = compile_pattern(0, text)
    if compiled.matches("/".join(path)):
        assert all(compiled.may_hold(path[:depth]) for depth in range(1, len(path)))


def test_hidden_names_need_a_literal_dot() -> None:
    assert not compile_pattern(0, "*.json").matches(".x.json")
    assert not compile_pattern(0, "?x.json").matches(".x.json")
    assert compile_pattern(0, ".*.json").matches(".x.json")
    assert not compile_pattern(0, "**/*.json").matches(".git/x.json")
    assert compile_pattern(0, "**/.git/*.json").matches("a/.git/x.json")
    assert compile_pattern(0, "a/**").matches("a/b/c.json")
    assert not compile_pattern(0, "a/**").matches("a")


def test_a_long_run_of_stars_does_not_backtrack_exponentially() -> None:
    # Answered at once (atomic groups, as in fnmatch); without them, hours.
    star = compile_pattern(0, "*a" * 40 + "b")
    assert not star.matches("a" * 200)


# -------------------------------------------------------------------------- the walk


def _files(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}\n")


def _refused(root: Path, patterns: list[str]) -> CorpusError:
    with pytest.raises(CorpusError) as caught:
        resolve(root, patterns)
    error = caught.value
    for shown in {str(root), os.path.realpath(root)}:
        assert shown not in str(error)
    return error


def test_each_file_once_by_its_corpus_relative_name_sorted(tmp_path: Path) -> None:
    _files(tmp_path, "b.jsonl", "a.jsonl", "2026/03/c.jsonl", "2026/03/d.csv", ".e.jsonl")
    patterns = ["a.jsonl", "*.jsonl", "**/*.jsonl", "**/*.jsonl", "**", "2026/*/c.*"]
    assert resolve(tmp_path, patterns) == [
        "2026/03/c.jsonl",
        "2026/03/d.csv",
        "a.jsonl",
        "b.jsonl",
    ]
    assert resolve(tmp_path, ["./2026//03/c.jsonl"]) == ["2026/03/c.jsonl"]


def test_a_pattern_matching_only_files_an_earlier_one_matched_still_matches(
    tmp_path: Path,
) -> None:
    _files(tmp_path, "a.jsonl")
    assert resolve(tmp_path, ["*", "a*", "**/a.*"]) == ["a.jsonl"]


@pytest.mark.parametrize(
    ("patterns", "position", "words"),
    [
        (["*.jsonl"] * (MAX_PATTERNS + 1), MAX_PATTERNS, "at most 20 patterns"),
        (["*.jsonl", "a" * 201], 1, "at most 200 characters"),
        (["**/x/**/*.jsonl"], 0, "at most one '**'"),
        (["**/**/**/**/*.jsonl"], 0, "at most one '**'"),
        (["/".join("d" * 9) + "/*.jsonl"], 0, "at most 8 directory levels"),
        (["*.jsonl", "../secrets"], 1, "without '..'"),
        (["a/../../x"], 0, "without '..'"),
        (["/etc/passwd"], 0, "relative to the corpus directory"),
        (["a\\b.jsonl"], 0, "backslash"),
        (["a\x00"], 0, "NUL"),
        (["x\udc80"], 0, "UTF-8"),
        (["./"], 0, "names no file"),
        (["*.jsonl", "*.csv"], 1, "no file in the corpus directory matches '*.csv'"),
        (["missing.jsonl"], 0, "no file 'missing.jsonl' in the corpus directory"),
        (["sub"], 0, "'sub' is a folder"),
    ],
)
def test_refused_patterns_name_the_limit_and_the_position(
    tmp_path: Path, patterns: list[str], position: int, words: str
) -> None:
    _files(tmp_path, "a.jsonl", "sub/b.jsonl")
    error = _refused(tmp_path, patterns)
    assert error.position == position and words in str(error), str(error)


def test_the_walk_stops_below_eight_directory_levels(tmp_path: Path) -> None:
    deep = "/".join(f"d{level}" for level in range(12))
    _files(tmp_path, "a.jsonl", "d0/y.jsonl", f"{deep}/x.jsonl")
    # The attack: many '**' patterns over a tree deeper than the limit.
    error = _refused(tmp_path, ["a.jsonl", *["**/*.jsonl"] * (MAX_PATTERNS - 1)])
    assert error.position == 1 and "more than 8 directory levels" in str(error)
    error = _refused(tmp_path, ["*.jsonl", "d0/d1/**"])
    assert error.position == 1 and "8 directory levels" in str(error)
    # Patterns that do not go down there do not meet the limit.
    assert resolve(tmp_path, ["*.jsonl", "d0/*.jsonl"]) == ["a.jsonl", "d0/y.jsonl"]


def test_a_file_eight_folders_deep_is_found(tmp_path: Path) -> None:
    eight = "/".join(f"d{level}" for level in range(MAX_DEPTH))
    _files(tmp_path, f"{eight}/x.jsonl")
    assert resolve(tmp_path, ["**/*.jsonl"]) == [f"{eight}/x.jsonl"]


def test_the_walk_looks_at_a_bounded_number_of_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(corpus, "MAX_ENTRIES", 30)
    _files(tmp_path, *(f"f{n:02}.txt" for n in range(20)), *(f"s/g{n:02}.jsonl" for n in range(20)))
    assert resolve(tmp_path, ["*.txt"]) == [f"f{n:02}.txt" for n in range(20)]
    error = _refused(tmp_path, ["*.txt", "**/*.jsonl"])
    assert error.position == 1 and "more than 30 entries" in str(error)  # it went into s/


def test_at_most_a_thousand_files(tmp_path: Path) -> None:
    for n in range(1001):
        (tmp_path / f"{n:04}.jsonl").touch()
    error = _refused(tmp_path, ["0*.jsonl", "1*.jsonl"])
    assert error.position == 1 and "more than 1,000 files" in str(error)
    assert len(resolve(tmp_path, ["0*.jsonl", "0*"])) == 1000


def test_links_out_of_the_corpus_directory_are_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "corpus", tmp_path / "outside"
    _files(root, "a.jsonl")
    _files(outside, "secret.jsonl", "dir/more.jsonl")
    (root / "secret.jsonl").symlink_to(outside / "secret.jsonl")
    (root / "dir").symlink_to(outside / "dir", target_is_directory=True)
    error = _refused(root, ["a.jsonl", "*.jsonl"])
    assert error.position == 1 and "'secret.jsonl' is a link to a file outside" in str(error)
    error = _refused(root, ["secret.jsonl"])
    assert "leads out of the corpus directory" in str(error)
    error = _refused(root, ["dir/more.jsonl"])
    assert "leads out of the corpus directory" in str(error)
    # A symlinked folder is not followed: its files are not there to match.
    error = _refused(root, ["dir/*.jsonl"])
    assert "no file in the corpus directory matches" in str(error)
    (root / "secret.jsonl").unlink()
    assert resolve(root, ["**/*.jsonl"]) == ["a.jsonl"]


def test_a_link_inside_is_the_file_it_leads_to_listed_once(tmp_path: Path) -> None:
    _files(tmp_path, "sub/a.jsonl")
    (tmp_path / "z.jsonl").symlink_to(tmp_path / "sub" / "a.jsonl")
    assert resolve(tmp_path, ["**/*.jsonl"]) == ["sub/a.jsonl"]
    assert resolve(tmp_path, ["z.jsonl"]) == ["z.jsonl"]


def test_only_regular_files_are_matched(tmp_path: Path) -> None:
    _files(tmp_path, "a.jsonl")
    os.mkfifo(tmp_path / "pipe.jsonl")
    assert resolve(tmp_path, ["*.jsonl"]) == ["a.jsonl"]
    assert "not a regular file" in str(_refused(tmp_path, ["pipe.jsonl"]))


def test_a_missing_corpus_directory_matches_nothing(tmp_path: Path) -> None:
    error = _refused(tmp_path / "none", ["*.jsonl"])
    assert "no file in the corpus directory matches" in str(error)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda root, out: (root / "a.jsonl").unlink(), "no file 'a.jsonl'"),
        (
            lambda root, out: (
                (root / "a.jsonl").unlink(),
                (root / "a.jsonl").symlink_to(out),
            ),
            "leads out of the corpus directory",
        ),
    ],
)
def test_a_name_is_checked_again_when_it_is_read(
    tmp_path: Path, change: Callable[[Path, Path], object], words: str
) -> None:
    root = tmp_path / "corpus"
    _files(root, "a.jsonl")
    _files(tmp_path, "secret.jsonl")
    [name] = resolve(root, ["*.jsonl"])
    assert locate(root, name) == os.path.realpath(root / "a.jsonl")
    change(root, tmp_path / "secret.jsonl")
    with pytest.raises(CorpusError, match=words):
        locate(root, name)
    for bad in ("/etc/passwd", "../secret.jsonl", ""):
        with pytest.raises(CorpusError):
            locate(root, bad)
