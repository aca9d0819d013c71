"""The documentation's links hold: every relative link names a file of the repository, and every
``#anchor`` a heading (or an explicit anchor) of the page it points to. And the README stays a
front page (what it is, the two commands, how it works, the envelope, where to go next): the
reference lives in ``docs/``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README_MAX_LINES = 250
LINK = re.compile(
    r"(?<!!)\[(?:[^\]\\]|\\.)*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]]*\]\(([^)\s]+)\)"
)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
EXPLICIT_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")


def markdown_files() -> list[Path]:
    done = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:  # not a git work tree
        return sorted(p for p in REPO.rglob("*.md") if ".venv" not in p.parts)
    return sorted(REPO / line for line in done.stdout.splitlines() if (REPO / line).is_file())


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__", "", heading).strip().lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading: its text
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    found: set[str] = set(EXPLICIT_ANCHOR.findall(text))
    seen: dict[str, int] = {}
    for heading in HEADING.findall(text):
        base = slug(heading)
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)  # inline code is not a link
    return [a or b for a, b in LINK.findall(text)]


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not checked offline
            continue
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        shown = page.relative_to(REPO) if page.is_relative_to(REPO) else page.name
        where = f"{shown}: ({target})"
        if not destination.exists():
            broken.append(f"{where}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{where}: no heading #{anchor}")
    return broken


def test_every_relative_link_and_anchor_resolves() -> None:
    pages = markdown_files()
    assert REPO / "README.md" in pages
    assert [b for page in pages for b in broken_links(page)] == []


def test_the_readme_is_a_front_page() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= README_MAX_LINES
    # the reference it used to hold is one link away
    for page in ("operating", "local-stack", "configuration", "terraform", "publishers"):
        assert f"(docs/{page}.md" in readme, page


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        (
            "Where is my request? (`bridge status`, `bridge queues`)",
            "where-is-my-request-bridge-status-bridge-queues",
        ),
        (
            "`POST /enqueue` (the `enqueue_http` entry point)",
            "post-enqueue-the-enqueue_http-entry-point",
        ),
        ("Ack or retry?", "ack-or-retry"),
        ("What Cloud Tasks' answers become", "what-cloud-tasks-answers-become"),
        ("Señora Núñez's case", "señora-núñezs-case"),
    ],
)
def test_anchors_are_githubs(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    page = tmp_path / "x.md"
    (tmp_path / "there.md").write_text("## Its part\n")
    page.write_text(
        "# Top\n\n[ok](#top) [gone](#nope) [file](missing.md) `[code](missing.md)`\n"
        "[there](there.md#its-part) [not there](there.md#other) [web](https://example.com/x)\n"
        "```\n[fenced](missing.md)\n```\n"
    )
    assert broken_links(page) == [
        "x.md: (#nope): no heading #nope",
        "x.md: (missing.md): no such file",
        "x.md: (there.md#other): no heading #other",
    ]
