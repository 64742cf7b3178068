"""The hook reference, generated from the hookspecs: Markdown for the repository, rich for Sphinx.

The hooks are declared in :data:`SPEC_MODULES` (the core's, and the web plugin's own). Each hook's
docstring has the sections :data:`SECTIONS`; ``Example:`` names a complete plugin module under
``docs/hooks/examples/``. From them:

* :func:`render_markdown_table` and :func:`render_markdown_hooks` write the reference as Markdown,
  which ``python tools/references.py`` puts between the ``generated`` markers of docs/hooks.md
  (readable on its own in the repository; a test regenerates and compares);
* as a Sphinx extension, this module replaces each generated block of a page with its directive
  (:func:`directive_for`), which renders the same entries richly:

  ``.. ektp-hook-table::``
      A summary table: every hook with its kind, how results combine and the bundled plugins that
      implement it.

  ``.. ektp-hooks:: registration`` (``start-up``, ``lifecycle`` or ``all``; ``:module:`` picks the
  spec module, the core's by default)
      One section per hook of that kind, in the order of its module: the signature with its types,
      ``firstresult`` / historic / deprecation, the bundled plugins implementing it, and the
      docstring's sections.

Each hook's section has the id and the label of the hook's name, so ``hooks.md#ektp_render_card``
links and ``:ref:`ektp_render_card``` work. A hook that no directive of the project renders, a
docstring missing a section, or an argument not described under ``Args:`` is a build warning (an
error under ``-W``), so the reference cannot drift from the hookspecs.

The parsing and rendering functions are plain Python (no Sphinx needed) so the tests can use them.
"""

from __future__ import annotations

import importlib
import inspect
import re
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

#: The sections every hook docstring has, in this order.
SECTIONS = ("Called", "Args", "Returns", "Results", "Example")
#: The pluggy project name: hookspecs carry their options in ``<project>_spec``.
PROJECT = "ektp"
DEFAULT_MODULE = "ektp_core.hookspecs"
#: Every module of hookspecs the reference covers: the core's, then the web plugin's own.
SPEC_MODULES = ("ektp_core.hookspecs", "ektp_plugins.web.hookspecs")
KINDS = ("start-up", "registration", "lifecycle")
#: Start-up hooks: called when a plugin host starts or first checks a profile.
STARTUP_PREFIXES = (f"{PROJECT}_add_", f"{PROJECT}_declare_")
#: The repository, which the ``Example:`` paths are relative to.
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = "docs/hooks/examples"

_SECTION_LINE = re.compile(r"^([A-Z][A-Za-z ]*):\s*$")
_ARG_LINE = re.compile(r"^(\w+):\s*(.*)$")


class HookDocError(ValueError):
    """A hook docstring that does not follow the structure the reference is generated from."""


@dataclass(frozen=True)
class HookDoc:
    """A hookspec docstring split into its parts (each dedented, without trailing blank lines)."""

    summary: str
    #: Paragraphs between the summary and the first section (often empty).
    description: str
    #: Section name -> text, for every name in :data:`SECTIONS`.
    sections: dict[str, str]
    #: Argument name -> description, in the order of ``Args:``.
    args: dict[str, str]

    @property
    def example_path(self) -> str:
        """The ``Example:`` section: the path (from the repository's root) of a complete plugin module."""
        return self.sections["Example"].strip()

    @property
    def example(self) -> str:
        """The source of the example module."""
        return (ROOT / self.example_path).read_text("utf-8")


@dataclass(frozen=True)
class HookEntry:
    """Everything the reference shows about one hook."""

    name: str
    #: ``(name, annotation)`` for each argument, as written in hookspecs.py.
    params: tuple[tuple[str, str], ...]
    returns: str
    firstresult: bool
    historic: bool
    #: The deprecation warning pluggy gives implementations (``warn_on_impl``), if any.
    deprecated: str | None
    doc: HookDoc
    #: Where the hookspec is defined (for warnings): file and line of the ``def``.
    source: str
    line: int
    #: Bundled plugins implementing the hook (filled by :func:`collect_hooks` when asked).
    implemented_by: tuple[str, ...] = field(default=())
    #: The module that declares it.
    module: str = DEFAULT_MODULE

    @property
    def kind(self) -> str:
        """``registration`` for ``ektp_register_*`` hooks, ``start-up`` for ``ektp_add_*`` and
        ``ektp_declare_*``, else ``lifecycle``."""
        if self.name.startswith(f"{PROJECT}_register_"):
            return "registration"
        return "start-up" if self.name.startswith(STARTUP_PREFIXES) else "lifecycle"

    @property
    def signature(self) -> str:
        """``name(arg: Type, ...) -> Return``."""
        args = ", ".join(f"{n}: {a}" if a else n for n, a in self.params)
        return f"{self.name}({args}) -> {self.returns}" if self.returns else f"{self.name}({args})"

    @property
    def results(self) -> str:
        """How the results of several implementations combine, in a few words."""
        if self.firstresult:
            return "the first non-None result wins"
        if self.kind != "lifecycle":
            return "every implementation is called"
        if self.returns in ("None", ""):
            return "every implementation is called; results ignored"
        return "every implementation is called; results collected in a list"


# --------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------


def _strip_blank(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def parse_docstring(doc: str | None, *, hook: str = "hook") -> HookDoc:
    """Split a hookspec docstring into summary, description, sections and arguments.

    Sections are lines ``Name:`` at the docstring's left margin followed by lines indented
    further; they must be exactly :data:`SECTIONS`, in that order. ``Args:`` holds one
    ``name: description`` entry per argument, continued on further-indented lines.
    """
    if not doc or not doc.strip():
        raise HookDocError(f"{hook}: no docstring")
    lines = inspect.cleandoc(doc).splitlines()
    head: list[str] = []
    sections: dict[str, list[str]] = {}
    current: list[str] = head
    for number, line in enumerate(lines, start=1):
        match = _SECTION_LINE.match(line)
        if match:
            name = match.group(1)
            if name not in SECTIONS:
                raise HookDocError(
                    f"{hook}: unknown section {name!r} on docstring line {number} "
                    f"(the sections are {', '.join(SECTIONS)})"
                )
            if name in sections:
                raise HookDocError(f"{hook}: section {name!r} appears twice")
            current = sections[name] = []
        elif current is not head and line.strip() and not line.startswith(" "):
            raise HookDocError(f"{hook}: docstring line {number} is not indented under its section: {line!r}")
        else:
            current.append(line)
    missing = [s for s in SECTIONS if s not in sections]
    if missing:
        raise HookDocError(f"{hook}: the docstring has no {', '.join(s + ':' for s in missing)} section")
    if list(sections) != list(SECTIONS):
        raise HookDocError(
            f"{hook}: the sections must come in the order {', '.join(SECTIONS)}; found {', '.join(sections)}"
        )
    texts = {}
    for name, body in sections.items():
        text = textwrap.dedent("\n".join(_strip_blank(body)))
        if not text.strip():
            raise HookDocError(f"{hook}: the {name}: section is empty")
        texts[name] = text
    example = texts["Example"].strip()
    if "\n" in example or not re.fullmatch(rf"{EXAMPLES}/{PROJECT}_\w+\.py", example):
        raise HookDocError(
            f"{hook}: the Example: section is the path of the example module, {EXAMPLES}/<hook>.py, "
            f"not {example.splitlines()[0]!r}"
        )
    head = _strip_blank(head)
    paragraphs = "\n".join(head).split("\n\n", 1)
    summary = " ".join(paragraphs[0].split())
    description = paragraphs[1].strip("\n") if len(paragraphs) > 1 else ""
    return HookDoc(summary, description, texts, _parse_args(texts["Args"], hook))


def _parse_args(text: str, hook: str) -> dict[str, str]:
    args: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line and not line.startswith(" "):
            match = _ARG_LINE.match(line)
            if not match:
                raise HookDocError(f"{hook}: Args: entries are 'name: description', not {line!r}")
            if match.group(1) in args:
                raise HookDocError(f"{hook}: argument {match.group(1)!r} is described twice under Args:")
            current = args[match.group(1)] = [match.group(2)]
        elif current is None:
            raise HookDocError(f"{hook}: Args: must start with 'name: description'")
        else:
            current.append(line.strip())
    return {name: " ".join(" ".join(parts).split()) for name, parts in args.items()}


def check_hook(entry: HookEntry) -> list[str]:
    """Problems with one hook's documentation: ``Args:`` must describe exactly its arguments."""
    declared = [n for n, _a in entry.params]
    described = list(entry.doc.args)
    problems = []
    missing = [n for n in declared if n not in described]
    extra = [n for n in described if n not in declared]
    if missing:
        problems.append(f"{entry.name}: Args: does not describe {', '.join(missing)}")
    if extra:
        problems.append(f"{entry.name}: Args: describes {', '.join(extra)}, which the hook does not take")
    if not missing and not extra and described != declared:
        problems.append(f"{entry.name}: Args: should follow the signature's order ({', '.join(declared)})")
    expected = f"{EXAMPLES}/{entry.name}.py"
    if entry.doc.example_path != expected:
        problems.append(f"{entry.name}: Example: should be {expected}, not {entry.doc.example_path}")
    elif not (ROOT / expected).is_file():
        problems.append(f"{entry.name}: Example: {expected} does not exist")
    return problems


# --------------------------------------------------------------------------------------------------
# Collecting
# --------------------------------------------------------------------------------------------------


def hookspec_functions(module: ModuleType) -> list[Callable[..., Any]]:
    """The hookspecs of a module, in the order they are defined."""
    marker = f"{PROJECT}_spec"
    return [
        obj
        for name, obj in vars(module).items()
        if inspect.isfunction(obj) and name.startswith(f"{PROJECT}_") and hasattr(obj, marker)
    ]


def bundled_implementations() -> dict[str, tuple[str, ...]]:
    """Hook name -> the plugins shipped with ektp (the essential one and the ``ektp`` distribution's
    entry points) that implement it. Third-party plugins installed next to ektp are left out."""
    from ektp_core.plugins import PluginHost

    host = PluginHost()
    found: dict[str, list[str]] = {}
    for info in host.plugins():
        if info.status != "loaded" or not (info.source == "essential" or info.distribution == PROJECT):
            continue
        for hook in info.hooks:
            found.setdefault(hook, []).append(info.name)
    return {hook: tuple(names) for hook, names in found.items()}


def bundled_failures() -> dict[str, str]:
    """Bundled plugins that failed to load (the reference would otherwise silently omit them)."""
    from ektp_core.plugins import PluginHost

    return {
        i.name: i.error or i.status
        for i in PluginHost().plugins(include_inactive=True)
        if i.distribution == PROJECT and i.status == "failed"
    }


def collect_hooks(
    module: ModuleType | str = DEFAULT_MODULE, *, implementations: dict[str, tuple[str, ...]] | None = None
) -> list[HookEntry]:
    """Every hook of ``module`` with its parsed docstring; raises :class:`HookDocError` on a bad one."""
    if isinstance(module, str):
        module = importlib.import_module(module)
    entries = []
    for func in hookspec_functions(module):
        name = func.__name__
        opts = getattr(func, f"{PROJECT}_spec")
        signature = inspect.signature(func)
        params = tuple((p.name, _annotation(p.annotation)) for p in signature.parameters.values())
        lines, line = inspect.getsourcelines(func)
        deprecated = opts.get("warn_on_impl")
        entries.append(
            HookEntry(
                name=name,
                params=params,
                returns=_annotation(signature.return_annotation),
                firstresult=bool(opts.get("firstresult")),
                historic=bool(opts.get("historic")),
                deprecated=str(deprecated) if deprecated is not None else None,
                doc=parse_docstring(func.__doc__, hook=name),
                source=inspect.getsourcefile(func) or "",
                line=line + next((i for i, text in enumerate(lines) if text.lstrip().startswith("def ")), 0),
                implemented_by=(implementations or {}).get(name, ()),
                module=module.__name__,
            )
        )
    return entries


def collect_all(*, implementations: dict[str, tuple[str, ...]] | None = None) -> list[HookEntry]:
    """Every hook of every module in :data:`SPEC_MODULES`, in order."""
    return [entry for module in SPEC_MODULES for entry in collect_hooks(module, implementations=implementations)]


def _annotation(value: Any) -> str:
    if value is inspect.Parameter.empty:
        return ""
    return value if isinstance(value, str) else inspect.formatannotation(value)


# --------------------------------------------------------------------------------------------------
# Rendering (reStructuredText)
# --------------------------------------------------------------------------------------------------


def _indent(text: str, prefix: str) -> list[str]:
    return [prefix + line if line.strip() else "" for line in text.splitlines()]


def _field(name: str, text: str) -> list[str]:
    first, *rest = text.splitlines() or [""]
    return [f":{name}: {first}", *_indent("\n".join(rest), "   ")]


def render_hook(entry: HookEntry, module: str = DEFAULT_MODULE) -> list[str]:
    """The reStructuredText of one hook's entry (everything under its section title)."""
    doc = entry.doc
    # The section title is the hook's entry in the page's contents; the signature need not be one too.
    out = [f".. py:function:: {entry.signature}", f"   :module: {module}", "   :no-contents-entry:", ""]
    body: list[str] = [doc.summary, ""]
    if doc.description:
        body += [doc.description, ""]
    kind = entry.kind + " hook"
    from_registry = _registry_kind(entry.name)
    if from_registry:
        kind += f"; fills the ``{from_registry}`` registry"
    body += _field("Declared in", f"``{entry.module}``")
    body += _field("Kind", kind)
    body += _field(
        "First result only", f"yes (``firstresult``): {entry.results}" if entry.firstresult else f"no: {entry.results}"
    )
    body += _field(
        "Historic", "yes: a plugin registered late is also called with every earlier call" if entry.historic else "no"
    )
    if entry.deprecated:
        body += _field("Deprecated", entry.deprecated)
    implementers = ", ".join(f"``{n}``" for n in entry.implemented_by) or "none"
    body += _field("Bundled implementations", implementers)
    body += ["", ".. rubric:: Called", "", doc.sections["Called"], ""]
    for name, annotation in entry.params:
        body += _field(f"param {name}", doc.args[name])
        if annotation:
            body += _field(f"type {name}", annotation)
    body += _field("returns", doc.sections["Returns"])
    if entry.returns:
        body += _field("rtype", entry.returns)
    body += ["", ".. rubric:: Results", "", doc.sections["Results"], ""]
    body += [".. rubric:: Example", "", f"``{doc.example_path}``:", "", ".. code-block:: python", ""]
    body += _indent(doc.example, "   ")
    out += _indent("\n".join(body), "   ")
    return [*out, ""]


def render_table(entries: Iterable[HookEntry]) -> list[str]:
    """A ``list-table`` with one row per hook, linking to its entry."""
    out = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 30 20 30 20",
        "",
        "   * - Hook",
        "     - Kind",
        "     - Results",
        "     - Bundled implementations",
    ]
    for entry in entries:
        implementers = ", ".join(f"``{n}``" for n in entry.implemented_by) or "none"
        results = f"``firstresult``: {entry.results}" if entry.firstresult else entry.results
        out += [
            f"   * - :ref:`{entry.name} <{entry.name}>`",
            f"     - {entry.kind}",
            f"     - {results}",
            f"     - {implementers}",
        ]
    return [*out, ""]


def registry_kinds() -> dict[str, str]:
    """Registration hook -> the name of the registry it fills, from the
    :class:`~ektp_core.registry.RegistryKind` objects the spec modules declare."""
    from ektp_core.registry import RegistryKind

    found = {}
    for module in SPEC_MODULES:
        for value in vars(importlib.import_module(module)).values():
            if isinstance(value, RegistryKind):
                found[value.hook] = value.name
    return found


def _registry_kind(hook: str) -> str | None:
    return registry_kinds().get(hook)


# --------------------------------------------------------------------------------------------------
# Rendering (Markdown, for the repository)
# --------------------------------------------------------------------------------------------------

_ROLE = re.compile(r":(?:py:)?\w+:`(~?)([^`<]+?)(?:\s*<([^>]+)>)?`")


def markdown_text(text: str) -> str:
    """A docstring's reStructuredText inline markup as Markdown: roles and double backquotes become
    code spans (``:class:`~a.b.C``` shows ``C``, as Sphinx does)."""

    def role(match: re.Match[str]) -> str:
        tilde, target, explicit = match.groups()
        shown = target.strip() if explicit else target.rsplit(".", 1)[-1] if tilde else target
        return f"`{shown}`"

    return _ROLE.sub(role, text).replace("``", "`")


def _paragraphs(text: str) -> str:
    # Docstring paragraphs keep their line breaks; Markdown joins them as one paragraph.
    return "\n".join(line.strip() for line in markdown_text(text).splitlines())


def render_markdown_table(entries: Iterable[HookEntry]) -> list[str]:
    """A Markdown table with one row per hook, linking to its entry."""
    out = ["| Hook | Declared in | Kind | Results | Bundled implementations |", "|---|---|---|---|---|"]
    for entry in entries:
        implementers = ", ".join(f"`{n}`" for n in entry.implemented_by) or "none"
        results = f"`firstresult`: {entry.results}" if entry.firstresult else entry.results
        out.append(
            f"| [`{entry.name}`](#{entry.name}) | `{entry.module}` | {entry.kind} | {results} | {implementers} |"
        )
    return out


def render_markdown_hook(entry: HookEntry, level: int = 3) -> list[str]:
    """One hook's entry as Markdown: a heading (the anchor is the hook's name), the signature, what
    kind of hook it is, and the docstring's sections with the example module."""
    doc = entry.doc
    kind = entry.kind + " hook"
    if _registry_kind(entry.name):
        kind += f"; fills the `{_registry_kind(entry.name)}` registry"
    first = f"yes (`firstresult`): {entry.results}" if entry.firstresult else f"no: {entry.results}"
    historic = "yes: a plugin registered late is also called with every earlier call" if entry.historic else "no"
    out = [f"{'#' * level} `{entry.name}`", "", "```python", entry.signature, "```", "", _paragraphs(doc.summary), ""]
    if doc.description:
        out += [_paragraphs(doc.description), ""]
    out += [
        f"- **Declared in:** `{entry.module}`",
        f"- **Kind:** {kind}",
        f"- **First result only:** {first}",
        f"- **Historic:** {historic}",
    ]
    if entry.deprecated:
        out.append(f"- **Deprecated:** {markdown_text(entry.deprecated)}")
    out.append(f"- **Bundled implementations:** {', '.join(f'`{n}`' for n in entry.implemented_by) or 'none'}")
    out += ["", f"**Called.** {_paragraphs(doc.sections['Called'])}", "", "**Arguments.**", ""]
    annotations = dict(entry.params)
    for name, text in doc.args.items():
        annotation = f" (`{annotations[name]}`)" if annotations.get(name) else ""
        out.append(f"- `{name}`{annotation}: {markdown_text(text)}")
    out += [
        "",
        f"**Returns.** {_paragraphs(doc.sections['Returns'])}",
        "",
        f"**Results.** {_paragraphs(doc.sections['Results'])}",
        "",
        f"**Example** ([`{doc.example_path}`]({Path(doc.example_path).relative_to('docs').as_posix()})):",
        "",
        "```python",
        *doc.example.rstrip("\n").splitlines(),
        "```",
        "",
    ]
    return out


def render_markdown_hooks(entries: Iterable[HookEntry], level: int = 3) -> list[str]:
    """Every entry of ``entries``, one after the other."""
    out: list[str] = []
    for entry in entries:
        out += render_markdown_hook(entry, level)
    return out


#: A generated block of a Markdown page: ``<!-- generated: WHAT -->`` ... ``<!-- end generated -->``,
#: where WHAT is ``ektp-hook-table`` or ``ektp-hooks KIND MODULE``.
GENERATED = re.compile(
    r"^<!-- generated: (?P<what>[^>]*?) \(python tools/references.py\) -->\n(?P<body>.*?)^<!-- end generated -->$",
    flags=re.MULTILINE | re.DOTALL,
)


def marker(what: str) -> str:
    """The opening marker of a generated block."""
    return f"<!-- generated: {what} (python tools/references.py) -->"


def render_block(what: str, entries: list[HookEntry]) -> list[str]:
    """The Markdown of one generated block of docs/hooks.md."""
    words = what.split()
    if words == ["ektp-hook-table"]:
        return render_markdown_table(entries)
    if len(words) == 3 and words[0] == "ektp-hooks":
        kind, module = words[1], words[2]
        return render_markdown_hooks(e for e in select(entries, kind) if e.module == module)
    raise ValueError(f"unknown generated block {what!r}: use 'ektp-hook-table' or 'ektp-hooks KIND MODULE'")


def regenerate(text: str, entries: list[HookEntry]) -> str:
    """``text`` (a Markdown page) with every generated block rendered afresh."""
    return GENERATED.sub(
        lambda m: "\n".join([marker(m["what"]), *render_block(m["what"], entries), "<!-- end generated -->"]), text
    )


def directive_for(what: str) -> str:
    """The Sphinx directive that renders a generated block richly (in an ``{eval-rst}`` fence)."""
    words = what.split()
    if words[0] == "ektp-hook-table":
        return "```{eval-rst}\n.. ektp-hook-table::\n```\n"
    return f"```{{eval-rst}}\n.. ektp-hooks:: {words[1]}\n   :module: {words[2]}\n```\n"


def select(entries: list[HookEntry], which: str) -> list[HookEntry]:
    """The entries of one kind (``registration``, ``lifecycle``) or ``all``."""
    if which == "all":
        return entries
    if which not in KINDS:
        raise ValueError(f"unknown hook kind {which!r}: use {', '.join(KINDS)} or all")
    return [e for e in entries if e.kind == which]


# --------------------------------------------------------------------------------------------------
# Sphinx
# --------------------------------------------------------------------------------------------------


def setup(app: Any) -> dict[str, Any]:
    """Register the directives and the check that every hook is rendered somewhere."""
    from docutils import nodes
    from docutils.parsers.rst import directives
    from docutils.statemachine import StringList
    from sphinx.util import logging
    from sphinx.util.docutils import SphinxDirective

    logger = logging.getLogger(__name__)
    cache: dict[str, list[HookEntry]] = {}

    def entries_for(directive: SphinxDirective, module: str) -> list[HookEntry] | None:
        if module not in cache:
            try:
                failures = bundled_failures()
                for plugin, error in sorted(failures.items()):
                    logger.warning(
                        "bundled plugin %s failed to load (%s): the hook reference would omit it",
                        plugin,
                        error,
                        location=directive.get_location(),
                    )
                implementations = bundled_implementations()
                if module == "all":
                    cache[module] = collect_all(implementations=implementations)
                else:
                    cache[module] = collect_hooks(module, implementations=implementations)
            except (HookDocError, ImportError) as exc:
                logger.warning("hook reference: %s", exc, location=directive.get_location())
                return None
            for entry in cache[module]:
                for problem in check_hook(entry):
                    logger.warning("hook reference: %s", problem, location=(entry.source, entry.line))
        return cache[module]

    def parse(directive: SphinxDirective, lines: list[str], source: str, line: int, parent: Any) -> None:
        directive.state.nested_parse(StringList(lines, source=source, items=[(source, line)] * len(lines)), 0, parent)

    class HookTable(SphinxDirective):
        """``.. ektp-hook-table::``: one row per hook (of every spec module, or of ``:module:``)."""

        has_content = False
        option_spec: ClassVar[dict[str, Callable[[str], Any]]] = {"module": directives.unchanged}

        def run(self) -> list[Any]:
            module = self.options.get("module", "all")
            entries = entries_for(self, module)
            if entries is None:
                return []
            for path in {entry.source for entry in entries} | {__file__}:
                self.env.note_dependency(path)
            container = nodes.container(classes=["ektp-hook-table"])
            parse(self, render_table(entries), *self.get_source_info(), container)
            return container.children

    class Hooks(SphinxDirective):
        """``.. ektp-hooks:: [registration|lifecycle|all]``: one section per hook."""

        has_content = False
        optional_arguments = 1
        option_spec: ClassVar[dict[str, Callable[[str], Any]]] = {"module": directives.unchanged}

        def run(self) -> list[Any]:
            module = self.options.get("module", DEFAULT_MODULE)
            which = self.arguments[0] if self.arguments else "all"
            entries = entries_for(self, module)
            if entries is None:
                return []
            try:
                chosen = select(entries, which)
            except ValueError as exc:
                logger.warning("hook reference: %s", exc, location=self.get_location())
                return []
            # Rebuild this page when the hookspecs (or this extension) change, even in an incremental build.
            for path in {entry.source for entry in chosen} | {__file__}:
                self.env.note_dependency(path)
            rendered = self.env.ektp_hooks_rendered  # type: ignore[attr-defined]
            result = []
            for entry in chosen:
                section = nodes.section(ids=[entry.name], names=[entry.name])
                section += nodes.title("", "", nodes.literal(entry.name, entry.name))
                parse(self, render_hook(entry, module), entry.source, entry.line, section)
                # An explicit target, so the std domain makes a label of it: hooks.md#name and :ref:`name`.
                self.state.document.note_explicit_target(section, section)
                rendered.setdefault(entry.name, set()).add(self.env.docname)
                result.append(section)
            self.env.ektp_hooks_modules.add(module)  # type: ignore[attr-defined]
            return result

    def init_env(app: Any, env: Any, docnames: Any) -> None:
        if not hasattr(env, "ektp_hooks_rendered"):
            env.ektp_hooks_rendered = {}
            env.ektp_hooks_modules = set()

    def purge(app: Any, env: Any, docname: str) -> None:
        for docs in getattr(env, "ektp_hooks_rendered", {}).values():
            docs.discard(docname)

    def merge(app: Any, env: Any, docnames: Any, other: Any) -> None:
        for name, docs in getattr(other, "ektp_hooks_rendered", {}).items():
            env.ektp_hooks_rendered.setdefault(name, set()).update(docs)
        env.ektp_hooks_modules.update(getattr(other, "ektp_hooks_modules", set()))

    def check(app: Any, env: Any) -> None:
        rendered = {name: docs for name, docs in getattr(env, "ektp_hooks_rendered", {}).items() if docs}
        for module in sorted(getattr(env, "ektp_hooks_modules", set())):
            for func in hookspec_functions(importlib.import_module(module)):
                where = rendered.get(func.__name__, set())
                if not where:
                    logger.warning(
                        "hook reference: %s is not rendered by any ektp-hooks directive",
                        func.__name__,
                        location=(inspect.getsourcefile(func), None),
                    )
                elif len(where) > 1:
                    logger.warning(
                        "hook reference: %s is rendered in several documents: %s",
                        func.__name__,
                        ", ".join(sorted(where)),
                    )

    def substitute(app: Any, docname: str, source: list[str]) -> None:
        # The Markdown in the repository is for reading there; the site renders the same hooks richly.
        source[0] = GENERATED.sub(lambda m: directive_for(m["what"]), source[0])

    app.connect("source-read", substitute)
    app.add_directive("ektp-hooks", Hooks)
    app.add_directive("ektp-hook-table", HookTable)
    app.connect("env-before-read-docs", init_env)
    app.connect("env-purge-doc", purge)
    app.connect("env-merge-info", merge)
    app.connect("env-check-consistency", check)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}


__all__ = [
    "SECTIONS",
    "HookDoc",
    "HookDocError",
    "HookEntry",
    "bundled_implementations",
    "check_hook",
    "collect_all",
    "collect_hooks",
    "directive_for",
    "markdown_text",
    "parse_docstring",
    "regenerate",
    "render_hook",
    "render_markdown_hook",
    "render_markdown_table",
    "render_table",
    "select",
    "setup",
]
