"""The rule files are self-contained: each reads only common.smk's globals and other rules'
outputs (``rules.<name>.output``), never a global defined in a peer rule file."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "workflow" / "rules"
COMMON = "common.smk"
_DEFINITION = re.compile(r"^([A-Z][A-Z0-9_]*)\s*=", re.MULTILINE)
_NAME = re.compile(r"\b([A-Z][A-Z0-9_]+)\b")


def definitions(text: str) -> set[str]:
    """The upper-case globals a rule file assigns at its top level."""
    return set(_DEFINITION.findall(text))


def used_names(text: str) -> set[str]:
    """Upper-case names a rule file's code mentions (comments and strings dropped)."""
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    code = re.sub(r'"[^"\n]*"', '""', code)
    return set(_NAME.findall(code))


def sideways(files: dict[str, str]) -> list[str]:
    """``file uses NAME from other`` for every global a peer defines."""
    owners = {name: f for f, text in files.items() if f != COMMON for name in definitions(text)}
    return sorted(
        f"{f} uses {name} from {owners[name]}"
        for f, text in files.items()
        for name in used_names(text) - definitions(text)
        if name in owners and owners[name] != f
    )


def test_rule_files_share_only_common_globals() -> None:
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(RULES.glob("*.smk"))}
    assert COMMON in files
    assert sideways(files) == []


def test_a_sideways_global_is_found() -> None:
    files = {
        COMMON: "RESULTS = config['results']\n",
        "a.smk": "A_TARGETS = [RESULTS]\n",
        "b.smk": "rule b:\n    input: A_TARGETS  # reads a.smk's global\n",
    }
    assert sideways(files) == ["b.smk uses A_TARGETS from a.smk"]
