"""Open a page in headless Chromium and read back each chart's container after Vega ran.

The HTML pages mark a chart's `<div id="chart-NAME">` with `data-rendered="true"` (and
`data-points`) once Vega has drawn it. Chromium comes from Debian's package, which .ci/run
installs: under CI a missing browser is a failure, on a developer machine a skip.

`chart(tag)` parses a container's SVG (as Vega drew it) so that a test can read what a reader
sees: bar rectangles, axis tick labels and titles, legend entries and their colours, line strokes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=15000",
]


def chart_containers(html: str, tmp_path: Path) -> dict[str, str]:
    """chart name -> the rendered `<div ...>...` of its container, as Chromium's DOM holds it."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        assert not os.environ.get("CI"), "CI must install Debian's chromium (see .ci/run)"
        pytest.skip("chromium is not installed (apt-get install chromium)")
    page = tmp_path / "page.html"
    page.write_text(html)
    profile = f"--user-data-dir={tmp_path / 'chromium-profile'}"
    dom = subprocess.run(
        [browser, *FLAGS, profile, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    out = {}
    for tag in dom.split("<div")[1:]:
        head = tag.split(">")[0]
        if 'id="chart-' in head:
            out[head.split('id="chart-')[1].split('"')[0]] = tag
    return out


def rendered(tag: str) -> bool:
    head = tag.split(">")[0]
    return 'data-rendered="true"' in head and "<svg" in tag


def points(tag: str) -> int:
    head = tag.split(">")[0]
    return int(head.split('data-points="')[1].split('"')[0]) if 'data-points="' in head else 0


# --- reading a drawn chart ---------------------------------------------------------------------------


@dataclass
class Node:
    """One element of a chart's SVG: its tag, attributes, children and its own text."""

    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def walk(self) -> Iterator[Node]:
        yield self
        for c in self.children:
            yield from c.walk()

    def find(self, pred: Callable[[Node], bool]) -> list[Node]:
        return [n for n in self.walk() if pred(n)]

    def has_class(self, name: str) -> bool:
        return name in self.attrs.get("class", "").split()

    def texts(self) -> list[str]:
        """The visible `<text>` strings below this node (Vega hides an overlapping label with opacity 0)."""
        return [n.text for n in self.find(lambda n: n.tag == "text") if n.attrs.get("opacity") != "0"]


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.root = Node("root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        while len(self.stack) > 1:
            if self.stack.pop().tag == tag:
                break

    def handle_data(self, data: str) -> None:
        self.stack[-1].text += data


@dataclass
class Bar:
    x: float
    width: float
    fill: str


class Chart:
    """A drawn chart read back from its container (`chart_containers(...)[name]`)."""

    def __init__(self, tag: str) -> None:
        tree = _Tree()
        tree.feed("<div" + tag)
        self.root = tree.root

    def _role(self, description: str) -> list[Node]:
        return self.root.find(lambda n: n.attrs.get("aria-roledescription") == description)

    @property
    def plot_width(self) -> float:
        """Width of the plot area (the root frame's background rectangle)."""
        frame = self.root.find(lambda n: n.has_class("role-frame") and n.has_class("root"))[0]
        background = frame.find(lambda n: n.tag == "path" and n.has_class("background"))[0]
        return float(re.match(r"M[-\d.e]+,[-\d.e]+h([-\d.e]+)", background.attrs["d"]).group(1))  # type: ignore[union-attr]

    def bars(self) -> list[Bar]:
        out = []
        for n in self._role("bar"):
            m = re.match(r"M([-\d.e]+),[-\d.e]+h([-\d.e]+)", n.attrs["d"])
            assert m, n.attrs["d"]
            out.append(Bar(float(m.group(1)), float(m.group(2)), n.attrs.get("fill", "")))
        return out

    def _axis(self, axis: str) -> Node:
        found = [n for n in self._role("axis") if n.attrs.get("aria-label", "").startswith(f"{axis}-axis")]
        assert len(found) == 1, f"{len(found)} {axis} axes"
        return found[0]

    def axis_labels(self, axis: str) -> list[str]:
        """The visible tick labels of the X or Y axis."""
        labels = self._axis(axis).find(lambda n: n.has_class("role-axis-label"))
        return [t for g in labels for t in g.texts()]

    def axis_title(self, axis: str) -> str:
        return " ".join(
            t for g in self._axis(axis).find(lambda n: n.has_class("role-axis-title")) for t in g.texts()
        )

    def title(self) -> str:
        return " ".join(t for n in self._role("title") for t in n.texts())

    def subtitle(self) -> str:
        return " ".join(t for n in self._role("subtitle") for t in n.texts())

    def legend(self) -> dict[str, str]:
        """label -> colour of each legend entry, in legend order."""
        out: dict[str, str] = {}
        for legend in self._role("legend"):
            symbols = [
                p
                for g in legend.find(lambda n: n.has_class("role-legend-symbol"))
                for p in g.find(lambda n: n.tag == "path")
            ]
            labels = [t for g in legend.find(lambda n: n.has_class("role-legend-label")) for t in g.texts()]
            assert len(symbols) == len(labels), (len(symbols), labels)
            for p, label in zip(symbols, labels, strict=True):
                out[label] = (p.attrs.get("fill") or p.attrs.get("stroke") or "").lower()
        return out

    def line_strokes(self) -> list[str]:
        """The stroke colour of each drawn line (one per series)."""
        return [n.attrs.get("stroke", "").lower() for n in self._role("line mark")]
