"""Every hook of ektp, grouped by the lifecycle stage that calls it.

Plugins implement these with the ``@ektp_core.hookimpl`` marker. Two kinds exist:

* **registration** hooks are called once when a deployment starts; a plugin adds named things to
  the registry it is given, and the profile later picks them by name;
* **lifecycle** hooks are called once per record or job (never per USB packet or byte).

An implementation must accept the arguments by the names given here; pluggy passes only the
arguments an implementation asks for, so a plugin may leave out the ones it does not need. Never
give an argument a default value in an implementation: pluggy would silently never pass it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from .config import Deployment
    from .events import Transition, ValidationProblem
    from .model import Enrolment, PrintJob
    from .printing import CardData, RenderedCard
    from .registry import Registry

hookspec = pluggy.HookspecMarker("ektp")

# --------------------------------------------------------------------------------------------------
# Registration: called once per deployment, before anything else. Each gets a registry object.
# --------------------------------------------------------------------------------------------------


@hookspec
def ektp_register_profiles(registry: Registry[Any]) -> None:
    """Add ready-made profiles: ``registry.add(name, path)`` with ``path`` a TOML file
    (a :class:`pathlib.Path` or an ``importlib.resources`` traversable).

    Called when a deployment is created with ``ektp init --profile NAME`` and by ``ektp profiles``.
    Every implementation is called; a name registered twice is an error naming both plugins.
    """


@hookspec
def ektp_register_printers(registry: Registry[Any]) -> None:
    """Add card-printer drivers: ``registry.add(name, factory)``.

    Called once when the deployment starts. The profile's devices section picks drivers by name;
    a registered driver is inactive until a profile names it.
    """


@hookspec
def ektp_register_scanners(registry: Registry[Any]) -> None:
    """Add biometric scanner drivers (fingerprint, iris, face, signature): ``registry.add(name, factory)``.

    Called once when the deployment starts; the profile picks drivers by name.
    """


@hookspec
def ektp_register_region_rules(registry: Registry[Any]) -> None:
    """Add region rules (which site records, which site prints): ``registry.add(name, rules_class)``.

    Called once when the deployment starts; the profile's ``[rules] name`` picks one. A rules class
    follows :class:`ektp_core.routing.RegionRules`: built with the profile and its settings, it
    checks the profile and routes each print-ready enrolment given a read-only
    :class:`ektp_core.routing.SiteState` (printers and blanks in stock).
    """


@hookspec
def ektp_register_verifiers(registry: Registry[Any]) -> None:
    """Add verifiers, the adapters to a central system (SIAK/ABIS): ``registry.add(name, factory)``.

    Called once when the deployment starts; the profile picks one by name.
    """


@hookspec
def ektp_register_matchers(registry: Registry[Any]) -> None:
    """Add biometric matchers (extract, verify 1:1, identify 1:N): ``registry.add(name, factory)``.

    Called once when the deployment starts; the profile picks one by name.
    """


@hookspec
def ektp_register_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``ektp`` command: ``cli.add_command(command)``.

    Called once when the ``ektp`` command starts (before any deployment is read, so the profile's
    allow and block lists do not apply to commands). A plugin that fails here is reported as a
    warning on standard error; the other commands still work.
    """


@hookspec
def ektp_register_blueprints(registry: Registry[Any]) -> None:
    """Add web blueprints (Flask objects; the core never imports Flask): ``registry.add(name, blueprint)``.

    Called once when the web UI starts.
    """


# --------------------------------------------------------------------------------------------------
# Recording: called once per enrolment.
# --------------------------------------------------------------------------------------------------


@hookspec
def ektp_validate_enrolment(enrolment: Enrolment, deployment: Deployment) -> list[ValidationProblem]:
    """Check a new enrolment before it is stored; return the problems found (an empty list if none).

    Called once per enrolment by the lifecycle service, before the BIO_CAPTURED row is written.
    Every implementation is called and all problems are collected; any problem refuses the
    enrolment and nothing is stored. The core's own NIK and eligibility checks are an
    implementation of this hook.

    Example::

        @hookimpl
        def ektp_validate_enrolment(enrolment):
            if enrolment.biodata.nama.startswith("TEST"):
                return [ValidationProblem("test names are not allowed here", field="nama")]
            return []
    """
    raise NotImplementedError


# --------------------------------------------------------------------------------------------------
# Printing: called once per print job.
# --------------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def ektp_render_card(card: CardData, job: PrintJob, deployment: Deployment) -> RenderedCard | None:
    """Lay out the card for a print job; return a :class:`~ektp_core.printing.RenderedCard`, or None
    to let the next plugin try.

    ``card`` holds the biodata, the decrypted photo and signature, the place and date of issue and
    the printer's canvas size. Called once per print job, after a blank is reserved and before
    bytes go to the printer. The first non-None result wins. The bundled layout renderer is
    registered ``trylast``, so a plugin that implements this hook replaces the default layout.
    """


# --------------------------------------------------------------------------------------------------
# Events: called after each committed state change.
# --------------------------------------------------------------------------------------------------


@hookspec
def ektp_after_transition(transition: Transition, deployment: Deployment) -> None:
    """Told about one state change of an enrolment, a print job or a blank, after it committed.

    Called once per transition, after the transaction (state change plus audit entry) has
    committed, so the change is real. For notifications, metrics, sync outboxes. Every
    implementation is called; an exception here is logged and does not undo the change.
    """
