"""``ektp new-plugin``: generate a stand-alone plugin distribution that works and is tested as generated.

Each kind (:data:`KINDS`) is a tree of template files in ``ektp_core/scaffold_templates/<kind>/``
plus the files every kind shares in ``scaffold_templates/common/``. A template is ordinary text in
which ``{{key}}`` placeholders stand for the plugin's names (:class:`Names`); path segments named
``package`` become the Python package, and the ``.tmpl`` suffix (which keeps the templates out of
ruff, mypy and pytest in the ektp repository) is dropped.

For ``NAME`` ``acme-printer`` the distribution is ``ektp-acme-printer``, the package
``ektp_acme_printer`` and the entry point ``acme-printer = "ektp_acme_printer"`` in the ``ektp``
group; the driver (or rules, scanner, verifier) and an example profile are registered under the
same name.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from collections.abc import Iterator
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path

import attrs

from ektp_core import __version__
from ektp_core.errors import EktpError
from ektp_core.plugins import ENTRY_POINT_GROUP

#: The kinds of plugin ``ektp new-plugin`` generates, with what each one brings.
KINDS = {
    "printer": "a card-printer driver for a documented line protocol, with an emulator the tests print to",
    "scanner": "a biometric scanner driver that takes the images a capture station drops into a folder",
    "region": "region rules (which site prints each card) with a setting read from the profile",
    "verifier": "a client for a central system's small HTTP API, tested against a server on 127.0.0.1",
}

#: The registry each kind fills, and the hook that fills it.
REGISTRY = {"printer": "printers", "scanner": "scanners", "region": "region_rules", "verifier": "verifiers"}
HOOK = {
    "printer": "ektp_register_printers",
    "scanner": "ektp_register_scanners",
    "region": "ektp_register_region_rules",
    "verifier": "ektp_register_verifiers",
}

#: A plugin name: lower-case words of letters and digits joined by single hyphens, starting with a letter.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
NAME_MAX = 32
TEMPLATE_SUFFIX = ".tmpl"
#: The path segment that becomes the package's name.
PACKAGE_SEGMENT = "package"
#: Words that end a plugin name and would repeat in class names (``AcmePrinterPrinter``).
_KIND_WORDS = frozenset({"printer", "scanner", "region", "rules", "verifier", "plugin"})
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


class ScaffoldError(EktpError):
    """``ektp new-plugin`` refused its arguments; nothing was written."""


@attrs.frozen
class Names:
    """Every name the generated distribution uses, derived from the plugin's name."""

    #: The plugin's name: the entry point, and the name it registers its driver/rules/verifier under.
    name: str
    kind: str

    @property
    def distribution(self) -> str:
        """``ektp-acme-printer``."""
        return f"ektp-{self.name}"

    @property
    def package(self) -> str:
        """``ektp_acme_printer``."""
        return "ektp_" + self.name.replace("-", "_")

    @property
    def class_prefix(self) -> str:
        """The start of class names: ``acme-printer`` gives ``Acme`` (for ``AcmePrinter``, ``AcmeEmulator``),
        ``kota-contoh`` gives ``KotaContoh`` (``KotaContohRules``): a trailing word naming the kind goes."""
        parts = self.name.split("-")
        if len(parts) > 1 and parts[-1] in _KIND_WORDS:
            parts = parts[:-1]
        return "".join(part[:1].upper() + part[1:] for part in parts)

    @property
    def title(self) -> str:
        """``Acme Printer``, for people."""
        return " ".join(part[:1].upper() + part[1:] for part in self.name.split("-"))

    def values(self) -> dict[str, str]:
        """The placeholders a template may use."""
        return {
            "name": self.name,
            "kind": self.kind,
            "kind_description": KINDS[self.kind],
            "distribution": self.distribution,
            "package": self.package,
            "class_prefix": self.class_prefix,
            "title": self.title,
            "env_prefix": self.name.upper().replace("-", "_"),
            "registry": REGISTRY[self.kind],
            "hook": HOOK[self.kind],
            "ektp_version": __version__,
            "ektp_requirement": f"ektp>={'.'.join(__version__.split('.')[:2])}",
        }


def check_kind(kind: str) -> str:
    """The kind, or a :class:`ScaffoldError` listing the kinds."""
    if kind not in KINDS:
        raise ScaffoldError(f"unknown kind {kind!r}: choose one of {', '.join(KINDS)}")
    return kind


def check_name(name: str) -> str:
    """The plugin's name, or a :class:`ScaffoldError` saying what is wrong with it.

    Refused: anything but lower-case letters, digits and single inner hyphens; a leading ``ektp-``
    (the distribution gets it anyway); a name an installed plugin already uses; a name whose package
    already exists (``core`` would give ``ektp_core``).
    """
    if not name:
        raise ScaffoldError("the plugin needs a NAME, for example acme-printer")
    if len(name) > NAME_MAX:
        raise ScaffoldError(f"the name {name!r} is longer than {NAME_MAX} characters")
    if not NAME_PATTERN.match(name):
        raise ScaffoldError(
            f"the name {name!r} is not usable: use lower-case letters and digits, words joined by "
            "single hyphens, starting with a letter (for example acme-printer)"
        )
    if name == "ektp" or name.startswith("ektp-"):
        suggestion = name.removeprefix("ektp-") if name != "ektp" else "acme-printer"
        raise ScaffoldError(
            f"leave 'ektp' out of the name: {name!r} would give the distribution ektp-{name}; try {suggestion!r}"
        )
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            owner = ep.dist.name if ep.dist else "an installed distribution"
            raise ScaffoldError(
                f"the plugin name {name!r} is already used by {owner} ({ep.value}); choose another name"
            )
    package = Names(name, "printer").package
    if importlib.util.find_spec(package) is not None:
        raise ScaffoldError(f"a Python package named {package} already exists here; choose another name")
    return name


def default_directory(name: str) -> Path:
    """Where the distribution goes without ``--dir``: ``./ektp-NAME``."""
    return Path(f"ektp-{name}")


def _check_target(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise ScaffoldError(f"{directory} exists and is not a folder; nothing was written")
    if directory.is_dir() and any(directory.iterdir()):
        raise ScaffoldError(
            f"{directory} exists and is not empty; give a new or empty folder with --dir (nothing was written)"
        )


def render(text: str, values: dict[str, str], *, source: str = "template") -> str:
    """``text`` with every ``{{key}}`` replaced; an unknown key is an error naming the template."""

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise ScaffoldError(f"{source}: unknown placeholder {{{{{key}}}}}")
        return values[key]

    return _PLACEHOLDER.sub(replace, text)


def _walk(folder: Traversable, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Traversable]]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        if entry.is_dir():
            yield from _walk(entry, (*prefix, entry.name))
        elif entry.name.endswith(TEMPLATE_SUFFIX):
            yield (*prefix, entry.name.removesuffix(TEMPLATE_SUFFIX)), entry


def templates(kind: str) -> dict[tuple[str, ...], Traversable]:
    """The template files of a kind (the shared ones first, the kind's own replacing them), by output path."""
    root = resources.files("ektp_plugins.devkit").joinpath("templates")
    files: dict[tuple[str, ...], Traversable] = {}
    for part in ("common", check_kind(kind)):
        files.update(dict(_walk(root.joinpath(part))))
    return files


def planned_files(names: Names) -> dict[Path, str]:
    """Every file of the distribution (relative path -> text) for ``names``."""
    values = names.values()
    out: dict[Path, str] = {}
    for parts, template in templates(names.kind).items():
        path = Path(*(names.package if p == PACKAGE_SEGMENT else render(p, values) for p in parts))
        out[path] = render(template.read_text("utf-8"), values, source="/".join(parts))
    return out


@attrs.frozen
class Generated:
    """What :func:`new_plugin` wrote."""

    names: Names
    directory: Path
    files: tuple[Path, ...]


def new_plugin(kind: str, name: str, directory: Path | None = None) -> Generated:
    """Write the distribution of a ``kind`` plugin called ``name`` into ``directory`` (default
    ``./ektp-NAME``), which must not exist or be empty. All or nothing: on an error, what was
    written is removed again."""
    kind = check_kind(kind)
    names = Names(check_name(name), kind)
    target = Path(directory) if directory is not None else default_directory(name)
    _check_target(target)
    files = planned_files(names)
    created = not target.exists()
    try:
        target.mkdir(parents=True, exist_ok=True)
        for relative, text in files.items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, "utf-8")
    except OSError as exc:
        if created:
            shutil.rmtree(target, ignore_errors=True)
        else:
            for child in target.iterdir():
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
        raise ScaffoldError(f"cannot write {target}: {exc.strerror or exc}; nothing was kept") from None
    return Generated(names, target, tuple(sorted(files)))
