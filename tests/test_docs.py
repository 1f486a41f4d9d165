"""The README stays a few screens for users, and every page it leads to can be found: each relative link
of the README and of docs/ names a file that exists, and a heading there when it names one."""
import re
from pathlib import Path

import pytest
from helpers import DOCS

ROOT = DOCS.parent
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading's anchor; a repeated one gets -1, -2, ... as on GitHub."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # a comment in a code block is no heading
    found = set()
    for line in text.splitlines():
        if line.startswith("#"):
            base = anchor = slug(line.lstrip("#"))
            n = 0
            while anchor in found:
                n += 1
                anchor = f"{base}-{n}"
            found.add(anchor)
    return found


def links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target)]


def test_the_readme_is_at_most_300_lines_and_starts_with_its_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 300
    first_screen = "\n".join(lines[:40])
    assert "pip install . && vqcodec encode samples/" in first_screen
    assert "<!-- test-command -->" in first_screen


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        found = (page.parent / path).resolve() if path else page
        if not found.exists():
            broken.append(target)
        elif anchor and found.suffix == ".md" and anchor not in anchors(found):
            broken.append(target)
    assert not broken, broken


def test_every_docs_page_is_reachable_from_the_readme():
    readme = set(links(ROOT / "README.md"))
    assert {p.name for p in DOCS.glob("*.md")} <= {Path(t.partition("#")[0]).name for t in readme}


def test_the_link_check_sees_a_broken_link(tmp_path):
    (tmp_path / "a.md").write_text("# Top\n\nSee [b](b.md), [top](#top) and [gone](#gone).\n\n## Top\n")
    assert links(tmp_path / "a.md") == ["b.md", "#top", "#gone"]
    assert anchors(tmp_path / "a.md") == {"top", "top-1"}
    assert slug("`vqcodec bench --rd`") == "vqcodec-bench---rd"
