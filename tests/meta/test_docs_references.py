"""The documents the code cites exist and say what is cited: every "semantics §N" and
"Appendix AN" of a source comment or docstring names a section of docs/semantics.md, and
docs/hooks.md documents every hook of `mocha.core.hookspecs`, whose docstrings say when it
runs."""

import inspect
import re
from pathlib import Path

from mocha.core import hookspecs

ROOT = Path(__file__).resolve().parents[2]
SEMANTICS = ROOT / "docs" / "semantics.md"
HOOKS = ROOT / "docs" / "hooks.md"
CITING = [ROOT / d for d in ("src", "tests", "examples", "benchmarks")]

# "semantics §6.8, §6.9", "semantics §3.14 and §6.2", "(semantics § 7)"
CITATION = re.compile(r"semantics((?:\s*(?:,|and)?\s*§\s?\d+(?:\.\d+)?)+)")
SECTION = re.compile(r"§\s?(\d+(?:\.\d+)?)")
APPENDIX = re.compile(r"Appendix (A\d+)")


def _sections() -> set[str]:
    text = SEMANTICS.read_text(encoding="utf-8")
    numbers = set(re.findall(r"^##+ (\d+(?:\.\d+)?)\.? ", text, flags=re.M))
    appendix = set(re.findall(r"^\| (A\d+) \|", text, flags=re.M))
    return numbers | appendix


def _citations() -> list[tuple[str, str]]:
    found = []
    for folder in CITING:
        for path in sorted(folder.rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            where = str(path.relative_to(ROOT))
            for match in CITATION.finditer(text):
                found.extend((where, number) for number in SECTION.findall(match.group(1)))
            found.extend((where, a) for a in APPENDIX.findall(text))
    return found


def test_the_semantics_reference_has_numbered_sections():
    sections = _sections()
    assert {"1", "2.11", "6.9", "8.1", "A13"} <= sections


def test_every_semantics_citation_names_an_existing_section():
    sections = _sections()
    citations = _citations()
    assert len(citations) > 50  # the code does cite it
    missing = sorted({f"{where}: §{n}" for where, n in citations if n not in sections})
    assert not missing, "citations of docs/semantics.md sections that do not exist:\n" + "\n".join(
        missing
    )


def _hooks() -> dict[str, object]:
    return {
        name: fn
        for name, fn in vars(hookspecs).items()
        if name.startswith("mocha_") and inspect.isfunction(fn)
    }


def test_every_hook_is_documented_in_docs_hooks_md():
    text = HOOKS.read_text(encoding="utf-8")
    headings = set(re.findall(r"^## `(mocha_\w+)`", text, flags=re.M))
    hooks = set(_hooks())
    assert hooks - headings == set(), (
        "hooks missing from docs/hooks.md (add a `## `name`` "
        "section saying when it runs and what `register` takes)"
    )
    assert headings - hooks == set(), "docs/hooks.md documents hooks that do not exist"


def test_every_hook_docstring_says_when_it_runs():
    vague = [
        name
        for name, fn in _hooks().items()
        if not re.search(r"\bRuns?\b|\bruns\b|\bcalled\b", fn.__doc__ or "")
    ]
    assert not vague, f"hook docstrings that do not say when the hook runs: {vague}"
