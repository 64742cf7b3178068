"""Building a device from what the profile says: one factory convention for every kind.

Printers, scanners, verifiers, matchers and region rules are registered as **factories**: a class or a
function that the core calls when the profile picks it by name. The core calls a factory with
keyword arguments, and gives it only those it names among:

* ``name``: the device's name in the profile (a ``[[devices.printers]]`` or ``[[devices.scanners]]``
  entry's ``name``; for a verifier, a matcher or region rules, the registered name the profile picked);
* ``options``: its table of options from the profile, as a new ``dict`` (``[[devices.*]]`` ``options``,
  the other keys of ``[verification]``, of ``[verification.matcher]`` or of ``[rules]``);
* ``profile``: the deployment's :class:`~ektp_core.config.Profile`, or None when the device is built
  outside a deployment (the central-system emulator builds its matcher from its own settings file).

That is how pluggy passes hook arguments, so a factory asks for what it needs: ``def make(options)``,
``class AcmePrinter: def __init__(self, name, options)``, ``class MyRules: def __init__(self, profile,
options)``. A factory taking ``**kwargs`` gets all three; a parameter with a default that is not one of
the three is left to its default. A factory raises ``ValueError`` (or ``TypeError``, ``KeyError``) for
options it does not accept; :func:`build` turns that into a :class:`~ektp_core.errors.ConfigError`
naming the profile file and the key, the same for every kind.

Older releases called verifiers and matchers as ``factory(options)`` and region rules as
``cls(profile, settings)``, positionally. A factory that still needs those calls (a parameter named
``settings``, say) keeps working until ektp 0.3, with a ``DeprecationWarning`` saying what to rename.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from ektp_core.errors import ConfigError, PluginError

if TYPE_CHECKING:
    from ektp_core.config import Profile

T = TypeVar("T")

#: The arguments a factory may name, in the order the documentation gives them.
ARGUMENTS = ("name", "options", "profile")
#: The release in which the positional calls of older releases stop working.
LEGACY_UNTIL = "0.3"


@attrs.frozen
class FactoryKind:
    """One kind of factory: how errors name it, and how older releases called it."""

    #: ``printer driver``, ``verifier``, ``region rules``: in messages.
    label: str
    #: What the profile calls the factory's options (``settings`` for region rules).
    options_word: str = "options"
    #: The positional call of releases before 0.2, or empty when it was already by keyword.
    legacy: tuple[str, ...] = ()


PRINTER = FactoryKind("printer driver")
SCANNER = FactoryKind("scanner driver")
VERIFIER = FactoryKind("verifier", legacy=("options",))
MATCHER = FactoryKind("matcher", legacy=("options",))
REGION_RULES = FactoryKind("region rules", options_word="settings", legacy=("profile", "options"))


@attrs.frozen
class Plan:
    """How to call one factory: the arguments it names, or the legacy positional call."""

    keywords: tuple[str, ...]
    legacy: bool = False
    #: The parameters that made it a legacy call (for the warning).
    unknown: tuple[str, ...] = ()


def plan(factory: Callable[..., Any], kind: FactoryKind, *, driver: str, plugin: str) -> Plan:
    """Which arguments ``factory`` asks for; a :class:`~ektp_core.errors.PluginError` when it asks for
    something the core does not pass and no older convention explains it."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a callable without a signature (a builtin): give it everything
        return Plan(ARGUMENTS)
    named: list[str] = []
    unknown: list[str] = []
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return Plan(ARGUMENTS)
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if parameter.name in ARGUMENTS and parameter.kind is not inspect.Parameter.POSITIONAL_ONLY:
            named.append(parameter.name)
        elif parameter.default is inspect.Parameter.empty:
            unknown.append(parameter.name)
    if not unknown:
        return Plan(tuple(named))
    if kind.legacy:
        try:
            signature.bind(*kind.legacy)
        except TypeError:
            pass
        else:
            return Plan((), legacy=True, unknown=tuple(unknown))
    raise PluginError(
        f"the {kind.label} {driver} of plugin {plugin} cannot be built: its factory "
        f"{getattr(factory, '__qualname__', factory)!r} needs {', '.join(map(repr, unknown))}; a factory "
        f"is called with keyword arguments and may ask for {', '.join(ARGUMENTS)} (docs/devices.md)"
    )


def build(
    factory: Callable[..., T],
    kind: FactoryKind,
    *,
    driver: str,
    plugin: str,
    name: str,
    options: Mapping[str, Any],
    profile: Profile | None,
    source: str,
    key: str,
) -> T:
    """Call ``factory`` by the convention above and return what it built.

    ``driver`` is the registered name the profile picked and ``plugin`` the plugin that registered
    it; ``source`` and ``key`` say where the options come from (``devices.printers[0].options``), for
    the :class:`~ektp_core.errors.ConfigError` raised when the factory refuses them.
    """
    how = plan(factory, kind, driver=driver, plugin=plugin)
    values: dict[str, Any] = {"name": name, "options": dict(options), "profile": profile}
    if how.legacy:
        warnings.warn(
            f"the {kind.label} {driver} of plugin {plugin} is built the old way, "
            f"{getattr(factory, '__qualname__', 'factory')}({', '.join(kind.legacy)}), because it needs "
            f"{', '.join(map(repr, how.unknown))}: name its parameters among {', '.join(ARGUMENTS)} "
            f"(they are passed by keyword); the old call goes in ektp {LEGACY_UNTIL}",
            DeprecationWarning,
            stacklevel=3,
        )
    try:
        if how.legacy:
            return factory(*(values[argument] for argument in kind.legacy))
        return factory(**{argument: values[argument] for argument in how.keywords})
    except (TypeError, ValueError, KeyError) as exc:
        reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise ConfigError(source, key, f"{kind.options_word} that {driver} accepts ({reason})") from None


__all__ = ["ARGUMENTS", "LEGACY_UNTIL", "FactoryKind", "build"]
