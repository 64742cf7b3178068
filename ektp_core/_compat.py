"""The public modules' old paths (before the restructure of 0.2), kept for one minor release.

``import ektp_core.printing`` still works and gives :mod:`ektp_core.devices.printers`, with a
``DeprecationWarning`` naming the new path (docs/stability.md: a public name changes only after a
release in which the old form works and warns). CHANGELOG.md lists every move.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

#: Old public module path -> where it lives now.
MOVED = {
    "ektp_core.model": "ektp_core.domain.model",
    "ektp_core.printing": "ektp_core.devices.printers",
    "ektp_core.scanning": "ektp_core.devices.scanners",
    "ektp_core.routing": "ektp_core.devices.region_rules",
    "ektp_core.verifying": "ektp_core.devices.verifiers",
    "ektp_core.matching": "ektp_core.devices.matchers",
    "ektp_core.driver_options": "ektp_core.devices.options",
}
REMOVED_IN = "0.3"


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an import of an old path with the module at its new path (one module object, two names)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        return importlib.util.spec_from_loader(fullname, self) if fullname in MOVED else None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = MOVED[spec.name]
        warnings.warn(
            f"{spec.name} is now {new}; the old path goes in ektp {REMOVED_IN}", DeprecationWarning, stacklevel=2
        )
        return importlib.import_module(new)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module at the new path is already imported."""


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(MovedModules())
