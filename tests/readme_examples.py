"""The README's examples, run as a user runs them, against the output the README shows.

A fenced block whose first line is `$ tierlens ...` holds a command and what it printed; `$ echo $?`
shows the exit code of the command before it. A shown line `...` (or a line ending in `...`)
marks a trimmed block: its other lines must still appear in the output, in order (a line ending
in `...` as a prefix). An untrimmed block must equal the output, except for durations and the
names of quarantine files. Lines of
`sh` blocks that start with `tierlens` (a user's files in their arguments) must end with an exit
code and a message, never a traceback. `python` blocks run as they are.

Everything runs in `cwd`, where a user of the README has `examples/`, `policies/` and
`sample_logs/`; the `tierlens ingest` examples run first and make `tierlens-data` there.

Regenerate the README's output after a change (untrimmed blocks are rewritten, trimmed ones
that no longer match are listed):

    python -m tests.readme_examples --write
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
USER_FILES = ("examples", "policies", "sample_logs")
_DURATION = re.compile(r"\(\d+(\.\d+)?s\)")
_QUARANTINE_FILE = re.compile(r"\d{8}T\d{6}-[0-9a-f]{6}\.jsonl")


@dataclass(frozen=True)
class Example:
    """One `$ command` of a README block and the lines shown after it (README lines first..end)."""

    command: str
    shown: tuple[str, ...]
    first: int
    end: int

    @property
    def trimmed(self) -> bool:
        return any(line.rstrip().endswith("...") for line in self.shown)

    def differences(self, output: str) -> list[str]:
        """What the shown lines say that `output` does not (empty: they agree)."""
        actual = [_normal(x) for x in output.rstrip("\n").split("\n")] if output.strip() else []
        shown = [_normal(x) for x in self.shown]
        if not self.trimmed:
            return (
                []
                if shown == actual
                else [f"shown {len(shown)} lines, printed {len(actual)}: {_first_change(shown, actual)}"]
            )
        at = 0
        for line in (x for x in shown if x.strip() != "..."):
            prefix = line.rstrip()[:-3] if line.rstrip().endswith("...") else None
            while at < len(actual) and not (
                actual[at].startswith(prefix) if prefix is not None else actual[at] == line
            ):
                at += 1
            if at == len(actual):
                return [f"not printed (in this order): {line!r}"]
            at += 1
        return []


def _normal(line: str) -> str:
    return _QUARANTINE_FILE.sub("STAMP.jsonl", _DURATION.sub("(Ns)", line.rstrip()))


def _first_change(shown: list[str], actual: list[str]) -> str:
    for i, (a, b) in enumerate(zip(shown, actual, strict=False)):
        if a != b:
            return f"line {i + 1}: shown {a!r}, printed {b!r}"
    return "one is longer"


def blocks(text: str) -> list[tuple[str, int, list[str]]]:
    """(info string, index of the first line, lines) of each fenced block."""
    out, lines, at = [], text.split("\n"), 0
    while at < len(lines):
        if lines[at].startswith("```"):
            info, start = lines[at][3:].strip(), at + 1
            at = start
            while not lines[at].startswith("```"):
                at += 1
            out.append((info, start, lines[start:at]))
        at += 1
    return out


def examples(text: str) -> list[Example]:
    """Every `$ ` command of the README with the output shown under it."""
    found = []
    for _, start, body in blocks(text):
        if not body or not body[0].startswith("$ "):
            continue
        starts = [i for i, line in enumerate(body) if line.startswith("$ ")] + [len(body)]
        for i, j in itertools.pairwise(starts):
            found.append(Example(body[i][2:], tuple(body[i + 1 : j]), start + i + 1, start + j))
    return found


def shell_lines(text: str) -> list[str]:
    """The `tierlens ...` lines of `sh` blocks, without their trailing comments."""
    return [
        line.split("  #")[0].strip()
        for info, _, body in blocks(text)
        if info == "sh"
        for line in body
        if line.startswith("tierlens ")
    ]


def python_blocks(text: str) -> list[str]:
    return ["\n".join(body) for info, _, body in blocks(text) if info == "python"]


def user_directory(where: Path) -> Path:
    """A directory holding the files the README's examples name, and no source checkout."""
    for name in USER_FILES:
        shutil.copytree(ROOT / name, where / name)
    return where


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TIERLENS_")}


def run(bindir: Path, cwd: Path, command: str) -> subprocess.CompletedProcess[str]:
    """One example as a shell would run it, with the `tierlens` and `python` of `bindir`; its
    stdout then stderr (what a terminal shows: no progress line outside a terminal)."""
    argv = shlex.split(command)
    argv[0] = str(bindir / argv[0]) if argv[0] in ("tierlens", "python") else argv[0]
    done = subprocess.run(
        argv, cwd=cwd, env=environment(), capture_output=True, text=True, check=False, timeout=600
    )
    return subprocess.CompletedProcess(argv, done.returncode, done.stdout + done.stderr, done.stderr)


def outputs(bindir: Path, cwd: Path, found: list[Example]) -> dict[Example, str]:
    """Each example's stdout (for `echo $?`, the exit code before it); ingests run first."""
    printed: dict[Example, str] = {}
    last = 0
    order = sorted(found, key=lambda e: not e.command.startswith("tierlens ingest"))
    for e in order:
        if e.command == "echo $?":
            printed[e] = str(last)
            continue
        done = run(bindir, cwd, e.command)
        printed[e], last = done.stdout, done.returncode
    return printed


def write(text: str, printed: dict[Example, str]) -> tuple[str, list[str]]:
    """The README with each untrimmed block's output replaced; the trimmed ones that differ."""
    lines = text.split("\n")
    stale = []
    for e in sorted(printed, key=lambda e: e.first, reverse=True):
        if e.trimmed:
            stale += [f"{e.command}: {d}" for d in e.differences(printed[e])]
        elif e.differences(printed[e]):
            lines[e.first : e.end] = printed[e].rstrip("\n").split("\n")
    return "\n".join(lines), stale


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--write", action="store_true", help="rewrite README.md's untrimmed outputs")
    parser.add_argument("--bin", type=Path, default=Path(sys.executable).parent, help="where tierlens is")
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        printed = outputs(args.bin, user_directory(Path(tmp)), examples(text))
    new, stale = write(text, printed)
    if args.write and new != text:
        README.write_text(new, encoding="utf-8")
        print("rewrote README.md")
    for s in stale:
        print(f"trimmed block to update by hand: {s}")
    return 1 if stale or (new != text and not args.write) else 0


if __name__ == "__main__":
    sys.exit(main())
