"""How much a rule pack may hold: every bound on what a rule author writes.

A rule author is untrusted input to the engine: a draft edited through the API is compiled,
and its examples run, inside a service worker, and an approved pack is compiled again by
every worker at start. Each bound keeps compiling, validating and screening a pack bounded in
time and memory, whatever its files say. Each is far above what the shipped pack uses (in
brackets). Going past one is a ``limit_exceeded`` problem that names the limit, at the file,
line and column where it was passed (``docs/errors.md``).
"""

from __future__ import annotations

# A pack as a whole.
MAX_PACK_FILES = 1_000  # files in a pack [38]
MAX_PACK_BYTES = 4 * 1024 * 1024  # all files together, UTF-8 [95 KB]
MAX_RULES = 500  # rules in a pack [32]
MAX_PACK_CONDITION_CHARS = 100_000  # all `when:` conditions together [6 KB]
MAX_PATH_CHARS = 200  # a file's path in the pack [67]
MAX_PATH_PARTS = 4  # folders plus the file name [2]

# One YAML file.
MAX_FILE_BYTES = 256 * 1024  # [14 KB]
MAX_YAML_DEPTH = 24  # nested mappings and lists [6]
MAX_YAML_NODES = 50_000  # values, keys, lists and mappings [1,384]
MAX_YAML_TEXT_CHARS = 8_000  # one text value [499]
MAX_YAML_LIST_ITEMS = 2_000  # one list [67]

# One rule.
MAX_CONDITION_CHARS = 4_000  # a `when:` condition [430]
MAX_CONDITION_DEPTH = 32  # nested and/or/not, parentheses and arithmetic [5]
MAX_LIST_LITERAL_ITEMS = 500  # a [...] list written in a condition [9]
MAX_TEXT_LITERAL_CHARS = 200  # a "..." text in a condition or a pattern [40]
MAX_EXAMPLES = 25  # hit examples, and miss examples, of one rule [9]
MAX_EXAMPLE_ITEMS = 50  # goods items in one example manifest [3]
MAX_EXAMPLE_MANIFESTS = 50  # manifests in one correlation example's sequence [6]

# Explanations.
MAX_FORMAT_WIDTH = 64  # width or precision in a template placeholder, {x:>64.2f} [0]
MAX_EXPLANATION_CHARS = 2_000  # a rendered explanation; longer ones end in "…" [~400]
