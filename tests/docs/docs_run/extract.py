"""The commands the documentation tells a person to type, in page order.

A command is one part of a line of a fenced ``sh``/``bash``/``shell``/``console`` block (a line
``a && b`` holds two), or the ``ExecStart=`` of a systemd unit in an ``ini`` block. In a ``console``
block, commands follow a prompt (``$ ``, or ``site$ `` for "at the site"), and the lines after one
up to the next prompt are the output the page shows for it. Usage synopses (``text`` blocks) and
code are not commands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs"
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[^\s`]*)")
_PROMPT = re.compile(r"^(?P<who>[\w.-]*)\$(?: +(?P<command>.*)|$)")


@dataclass(frozen=True)
class Shown:
    """One command as a page shows it."""

    page: str  # the page, relative to the repository: "docs/sync.md", "README.md"
    line: int  # the line of the page it starts on
    text: str  # the command: no prompt, no trailing comment, no trailing " &"
    prompt: str = ""  # who types it: "" for "$ " or a plain block, "site" for "site$ "
    output: tuple[str, ...] = ()  # the output a console block shows after it (for the chain's last part)
    background: bool = False  # shown with a trailing " &"
    unit: bool = False  # the ExecStart= of a systemd unit

    @property
    def key(self) -> tuple[str, str]:
        """(page, text): how plans and excuses name the command."""
        return (self.page, self.text)


def doc_pages() -> list[Path]:
    """The pages whose commands are checked: the docs site's pages, the tutorials and the README."""
    return [*sorted(DOCS.glob("*.md")), *sorted((DOCS / "tutorials").glob("*.md")), ROOT / "README.md"]


def page_name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def fenced_blocks(text: str) -> list[tuple[int, str, list[str]]]:
    """Every fenced block of a Markdown page: (line of its first body line, language, body lines
    without the fence's indentation). Nested fences of other lengths stay inside their block."""
    lines = text.splitlines()
    blocks, index = [], 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, fence, lang = len(opening["indent"]), opening["fence"], opening["lang"]
        closing = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        body, index = [], index + 1
        start = index + 1
        while index < len(lines) and not closing.match(lines[index]):
            raw = lines[index]
            body.append(raw[indent:] if not raw[:indent].strip() else raw.lstrip())
            index += 1
        blocks.append((start, lang, body))
        index += 1
    return blocks


def _outside_quotes(text: str) -> list[tuple[int, str]]:
    """(index, character) of the characters of a shell line that are outside quotes."""
    found, quote, escaped = [], "", False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        else:
            found.append((index, char))
    return found


def strip_comment(line: str) -> str:
    """The line without a trailing shell comment (`` # ...`` outside quotes)."""
    for index, char in _outside_quotes(line):
        if char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip()
    return line.rstrip()


def split_chain(line: str) -> list[tuple[str, bool]]:
    """The commands of a shell line: split at ``&&``, ``||``, ``;`` and a trailing ``&`` outside
    quotes; each with whether it runs in the background."""
    free = dict(_outside_quotes(line))
    parts, start, index = [], 0, 0
    while index < len(line):
        pair = line[index : index + 2]
        if index in free and pair in ("&&", "||"):
            parts.append((line[start:index].strip(), False))
            start = index = index + 2
            continue
        if index in free and line[index] == ";":
            parts.append((line[start:index].strip(), False))
            start = index = index + 1
            continue
        if index in free and line[index] == "&" and line[index + 1 :].strip() == "":
            parts.append((line[start:index].strip(), True))
            start = index = len(line)
            continue
        index += 1
    if line[start:].strip():
        parts.append((line[start:].strip(), False))
    return [(part, background) for part, background in parts if part]


def _joined(body: list[str], first_line: int) -> list[tuple[int, str]]:
    """Body lines with backslash continuations joined: (page line, text)."""
    joined: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for offset, raw in enumerate(body):
        pending = (first_line + offset, raw) if pending is None else (pending[0], pending[1] + " " + raw.strip())
        if pending[1].rstrip().endswith("\\"):
            pending = (pending[0], pending[1].rstrip()[:-1].rstrip())
            continue
        joined.append(pending)
        pending = None
    if pending is not None:
        joined.append(pending)
    return joined


def _commands_of(
    page: str, line: int, text: str, prompt: str, output: tuple[str, ...] = (), *, unit: bool = False
) -> list[Shown]:
    parts = split_chain(strip_comment(text))
    return [
        Shown(page, line, part, prompt, output if n == len(parts) - 1 else (), background, unit)
        for n, (part, background) in enumerate(parts)
    ]


def shown_commands(path: Path) -> list[Shown]:
    """The commands one page shows, in order."""
    page = page_name(path)
    found: list[Shown] = []
    for first_line, lang, body in fenced_blocks(path.read_text("utf-8")):
        lines = _joined(body, first_line)
        if lang == "ini":
            for line, text in lines:
                if text.startswith("ExecStart="):
                    found += _commands_of(page, line, text.removeprefix("ExecStart="), "", unit=True)
        elif lang == "console":
            index = 0
            while index < len(lines):
                line, text = lines[index]
                prompt = _PROMPT.match(text)
                index += 1
                if not prompt or not prompt["command"]:
                    continue
                output: list[str] = []
                while index < len(lines) and not _PROMPT.match(lines[index][1]):
                    output.append(lines[index][1].rstrip())
                    index += 1
                while output and not output[-1]:
                    output.pop()
                found += _commands_of(page, line, prompt["command"], prompt["who"], tuple(output))
        elif lang in SHELL_LANGUAGES:
            for line, text in lines:
                if strip_comment(text).strip():
                    found += _commands_of(page, line, text.strip(), "")
    return found


def all_shown() -> list[Shown]:
    """Every command of every page."""
    return [shown for path in doc_pages() for shown in shown_commands(path)]
