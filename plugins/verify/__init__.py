"""Verification plugins: the adapter to a central system, its emulator, and the biometric matcher.

Registers:

* the verifier ``http`` (:mod:`.http`): a client for the central-system API v1 (docs/central-api.md);
* the matcher ``nbis-bozorth3`` (:mod:`.dedup`): NIST NBIS Bozorth3 with a per-finger candidate index
  for 1:N search (needs the ``biometrics`` extra);
* the command ``ektp central-emulator`` (:mod:`.central`): a central system to develop and test against;
* the command ``ektp adjudication show`` (:mod:`.sheet`): fingers of a suspected duplicate side by side.

Heavy modules (NBIS, numpy, Flask apps) are imported only when they are used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from ektp_plugins.verify.http import HttpVerifier

from ektp_core import hookimpl
from ektp_core.registry import Registry


def _nbis_matcher(options: Mapping[str, Any]) -> Any:
    try:
        from ektp_plugins.verify.dedup import NbisMatcher
    except ImportError as exc:
        raise ValueError(
            f"the nbis-bozorth3 matcher needs the biometrics extra (pip install 'ektp[biometrics]'): {exc}"
        ) from None
    return NbisMatcher(options)


@hookimpl
def ektp_register_verifiers(registry: Registry[Any]) -> None:
    """The ``http`` verifier."""
    registry.add("http", HttpVerifier)


@hookimpl
def ektp_register_matchers(registry: Registry[Any]) -> None:
    """The ``nbis-bozorth3`` matcher."""
    registry.add("nbis-bozorth3", _nbis_matcher)


@hookimpl
def ektp_register_commands(cli: click.Group) -> None:
    """``ektp central-emulator`` and ``ektp adjudication show`` (the side-by-side sheet)."""
    from ektp_plugins.verify.central import ektp_register_commands as register_central
    from ektp_plugins.verify.sheet import adjudication_show

    from ektp_core.cli.verification import adjudication_group

    register_central(cli)
    adjudication_group.add_command(adjudication_show)
