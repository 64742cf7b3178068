"""Every hook of the core, grouped by the stage that calls it.

Plugins implement these with the ``@ektp_core.hookimpl`` marker. Three kinds exist:

* **start-up** hooks are called when a plugin host starts or first needs what they declare: a
  plugin adds hookspecs of its own (the web plugin's are in ``ektp_plugins.web.hookspecs``),
  declares the profile tables it reads, or names its message catalogues;
* **registration** hooks (``ektp_register_*``) are called once when a plugin host first needs
  what they register; a plugin adds named things to the registry (or command group) it is given,
  and the profile later picks them by name. Each registry is typed by the :class:`RegistryKind`
  declared here beside its hook (``host.registry(PRINTERS)`` is a ``Registry[PrinterFactory]``);
* **lifecycle** hooks are called once per record or job (never per USB packet or byte).

An implementation must accept the arguments by the names given here; pluggy passes only the
arguments an implementation asks for, so a plugin may leave out the ones it does not need. Never
give an argument a default value in an implementation: pluggy would silently never pass it.

Every hook is called through pluggy, so hookwrappers and ``EKTP_TRACE_HOOKS=1`` see every call.
Where one plugin's failure must not stop the others (registration hooks, ``ektp_after_transition``),
the core calls the implementations one plugin at a time (:meth:`ektp_core.plugins.HookRelay.each_plugin`).

Each hook's docstring has the same sections, from which docs/hooks.md is generated (and which a
test checks): ``Called:`` (when and by what), ``Args:`` (every argument of the signature, nothing
else), ``Returns:``, ``Results:`` (how the results of several plugins combine) and ``Example:`` (the
path of a complete plugin module implementing the hook, under docs/hooks/examples/; the tests
register and call every example).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

from ektp_core.registry import RegistryKind

if TYPE_CHECKING:
    from pathlib import Path

    import click

    from ektp_core.config import Deployment
    from ektp_core.config.profile import ProfileSource
    from ektp_core.config.schema import ProfileTables
    from ektp_core.devices.matchers import MatcherFactory
    from ektp_core.devices.printers import CardData, PrinterFactory, RenderedCard
    from ektp_core.devices.region_rules import RegionRulesFactory
    from ektp_core.devices.scanners import ScannerFactory
    from ektp_core.devices.verifiers import VerifierFactory
    from ektp_core.domain.model import Enrolment, PrintJob
    from ektp_core.events import Transition, ValidationProblem
    from ektp_core.registry import Registry

hookspec = pluggy.HookspecMarker("ektp")

#: The core's registries: what each registration hook fills, and what one entry is called.
PROFILES: RegistryKind[ProfileSource] = RegistryKind("profiles", "ektp_register_profiles", "profile")
PRINTERS: RegistryKind[PrinterFactory] = RegistryKind("printers", "ektp_register_printers", "printer")
SCANNERS: RegistryKind[ScannerFactory] = RegistryKind("scanners", "ektp_register_scanners", "scanner")
REGION_RULES: RegistryKind[RegionRulesFactory] = RegistryKind(
    "region_rules", "ektp_register_region_rules", "region rule"
)
VERIFIERS: RegistryKind[VerifierFactory] = RegistryKind("verifiers", "ektp_register_verifiers", "verifier")
MATCHERS: RegistryKind[MatcherFactory] = RegistryKind("matchers", "ektp_register_matchers", "matcher")

# --------------------------------------------------------------------------------------------------
# Start-up: called when a plugin host starts, or first needs what plugins declare.
# --------------------------------------------------------------------------------------------------


@hookspec(historic=True)
def ektp_add_hookspecs(plugin_manager: pluggy.PluginManager) -> None:
    """Add hookspecs of the plugin's own, which other plugins then implement.

    Called:
        Once per plugin host, as it starts, for the plugins registered by then; a plugin registered
        later is called as it registers (the hook is historic). A plugin that owns a domain adds
        the hooks of that domain this way, so the core's spec stays free of it: the web plugin adds
        ``ektp_register_blueprints`` and ``ektp_register_menu_entries``
        (``ektp_plugins.web.hookspecs``).

    Args:
        plugin_manager: the host's :class:`pluggy.PluginManager`. Call
            ``plugin_manager.add_hookspecs(module)`` with a module of functions marked with a
            ``pluggy.HookspecMarker("ektp")``; their names start with ``ektp_``.

    Returns:
        Nothing: what counts is the hookspecs the implementation adds.

    Results:
        Every implementation is called. One that raises makes its plugin fail to load (reported by
        ``ektp plugins``); the others load. Another plugin's implementations of the new hooks may
        be registered before the hookspecs are added: pluggy checks them against the specs then.

    Example:
        docs/hooks/examples/ektp_add_hookspecs.py
    """


@hookspec
def ektp_declare_profile_tables(tables: ProfileTables) -> None:
    """Declare the profile tables the plugin reads: their keys, types, defaults and descriptions.

    Called:
        When a plugin host is first asked for its profile tables
        (:meth:`ektp_core.plugins.PluginHost.profile_tables`), one plugin at a time. A profile is
        checked as it loads (``ektp init``, ``ektp profile use``, any command with
        ``--deployment``): against the core's own tables first, which the core declares through
        this hook too, in its essential plugin (asked once per process); when the profile has a
        table or key the core does not declare, a plugin host with the profile's ``[plugins]``
        lists asks every loaded plugin.

    Args:
        tables: the host's :class:`~ektp_core.config.schema.ProfileTables`. Add each top-level
            table with ``tables.add(table)``, where ``table`` is a
            :class:`~ektp_core.config.schema.Table` of
            :class:`~ektp_core.config.schema.Setting` objects. Read the values later with
            ``table.read(profile)``: the same checks, and the same errors (the file, the key, what
            was expected), as the host's.

    Returns:
        Nothing: what counts is what the implementation adds to ``tables``.

    Results:
        Every implementation is called, one plugin at a time. A table two plugins declare must be
        ``shared`` by both, and no key may be declared twice; either mistake is a ``PluginError``
        naming both plugins. A profile table or key that no loaded plugin declares is refused when
        the profile loads, naming the file and the key.

    Example:
        docs/hooks/examples/ektp_declare_profile_tables.py
    """


@hookspec
def ektp_declare_message_catalogues(folders: list[Path]) -> None:
    """Name the folders of the plugin's message catalogues, so its message codes render in every
    interface and language like the core's.

    Called:
        When a plugin host has loaded its plugins (and again for a plugin registered later), one plugin
        at a time. The folders join the process's catalogues (:mod:`ektp_core.messages`): the web UI
        renders the plugin's :class:`~ektp_core.messages.Message` codes in Indonesian and English,
        the CLI and ``str(message)`` in English.

    Args:
        folders: the list to append the plugin's folders to (usually one, beside its code), each
            holding ``<language>.json`` files: a JSON object per language with ``"_language"`` (the
            language's own name) and a text per code, with ``{name}`` placeholders (``{day:day}``,
            ``{on:date}``... see :mod:`ektp_core.messages`). Name the codes after the plugin
            (``hubs.closed``) so they never clash with the core's.

    Returns:
        Nothing: what counts is what the implementation appends to ``folders``.

    Results:
        Every implementation is called; the folders are read in plugin order, a later folder's text
        for a code replacing an earlier one's. An implementation that raises, or a folder with a file
        that is not a catalogue, makes its plugin fail (reported by ``ektp plugins``).

    Example:
        docs/hooks/examples/ektp_declare_message_catalogues.py
    """


# --------------------------------------------------------------------------------------------------
# Registration: called once per plugin host, when it first builds the registry. Each gets a registry.
# --------------------------------------------------------------------------------------------------


@hookspec
def ektp_register_profiles(registry: Registry[ProfileSource]) -> None:
    """Add ready-made profiles, which a deployment is created from by name.

    Called:
        When a plugin host first builds its ``profiles`` registry: ``ektp profiles``, ``ektp init
        --profile NAME`` and ``ektp profile use NAME`` (when ``NAME`` is not the path of a
        ``.toml`` file), ``ektp walk`` and ``ektp demo`` when they create their folders, and the
        ``ektp_deployment`` test fixture.

    Args:
        registry: the ``profiles`` :class:`~ektp_core.registry.Registry`. Add each profile with
            ``registry.add(name, path, description="...")``, where ``path`` is a
            :class:`pathlib.Path` or an ``importlib.resources`` traversable pointing at a TOML
            file (anything with ``read_text(encoding)``).

    Returns:
        Nothing: what counts is what the implementation adds to ``registry``.

    Results:
        Every implementation is called, one plugin at a time. A profile name registered twice is
        an error naming both plugins. The bundled ``profiles`` plugin registers the ready profiles
        (``minimal`` and the regional ones) this way.

    Example:
        docs/hooks/examples/ektp_register_profiles.py
    """


@hookspec
def ektp_register_printers(registry: Registry[PrinterFactory]) -> None:
    """Add card-printer drivers, which the profile's ``[[devices.printers]]`` pick by name.

    Called:
        When a plugin host first builds its ``printers`` registry, that is the first time a
        printer the profile declares is built: ``ektp print``, ``ektp walk``, and the web UI's
        printing pages and dashboard.

    Args:
        registry: the ``printers`` :class:`~ektp_core.registry.Registry`. Add each driver with
            ``registry.add(name, factory, description="...")``. The factory (a
            :class:`~ektp_core.devices.printers.PrinterFactory`, often the driver's class) is
            called with the keyword arguments it names among ``name`` (the
            ``[[devices.printers]]`` entry's), ``options`` (its table; relative ``folder`` and
            ``emulator_state`` paths made absolute inside the deployment folder) and ``profile``;
            it builds, but does not open, a :class:`~ektp_core.devices.printers.CardPrinter`, and
            raises ``ValueError`` for options it does not accept (docs/devices.md).

    Returns:
        Nothing: what counts is what the implementation adds to ``registry``.

    Results:
        Every implementation is called, one plugin at a time. A driver does nothing until a
        ``[[devices.printers]]`` entry names it.

    Example:
        docs/hooks/examples/ektp_register_printers.py
    """


@hookspec
def ektp_register_scanners(registry: Registry[ScannerFactory]) -> None:
    """Add biometric scanner drivers (fingerprint, iris, face, signature), picked by name.

    Called:
        When a plugin host first builds its ``scanners`` registry, that is the first time a
        scanner the profile declares in ``[[devices.scanners]]`` is built: ``ektp handover``,
        ``ektp walk``, and the web UI's recording pages and dashboard.

    Args:
        registry: the ``scanners`` :class:`~ektp_core.registry.Registry`. Add each driver with
            ``registry.add(name, factory, description="...")``; the factory (a
            :class:`~ektp_core.devices.scanners.ScannerFactory`) is called as a printer's is and
            builds an unopened :class:`~ektp_core.devices.scanners.BiometricScanner`.

    Returns:
        Nothing: what counts is what the implementation adds to ``registry``.

    Results:
        Every implementation is called, one plugin at a time; the profile's
        ``[[devices.scanners]]`` entries pick drivers by name.

    Example:
        docs/hooks/examples/ektp_register_scanners.py
    """


@hookspec
def ektp_register_region_rules(registry: Registry[RegionRulesFactory]) -> None:
    """Add region rules: which site records, which site prints each card.

    Called:
        When a plugin host first builds its ``region_rules`` registry, that is when a deployment
        loads its rules (:func:`ektp_core.lifecycle.routing.load_rules`): ``ektp route``, ``ektp
        sites``, ``ektp profile use``, ``ektp walk``, and routing the print-ready enrolments after
        ``ektp verify sync`` or in the web UI.

    Args:
        registry: the ``region_rules`` :class:`~ektp_core.registry.Registry`. Add each rules
            class with ``registry.add(name, rules_class)``. The class is a
            :class:`~ektp_core.devices.region_rules.RegionRulesFactory`: it is built with the
            keyword arguments it names among ``profile``, ``options`` (the keys of ``[rules]``
            other than ``name``: the rules' settings; raise ``ValueError`` for one it does not
            accept) and ``name``. The rules follow
            :class:`~ektp_core.devices.region_rules.RegionRules`: ``check()`` lists the problems
            with the profile, each naming the site; ``route(enrolment, sites)`` and
            ``prints_at(site, sites)`` return a :class:`~ektp_core.devices.region_rules.Routing`
            (the site that prints, the reason shown to operators, optionally the weekday).
            ``sites`` is a read-only :class:`~ektp_core.devices.region_rules.SiteState`
            (``has_printer(code)``, ``blanks_in_stock(code)``), so rules stay pure functions of the
            profile, the enrolment and that state.

    Returns:
        Nothing: what counts is what the implementation adds to ``registry``.

    Results:
        Every implementation is called, one plugin at a time; the profile's ``[rules] name`` picks
        one. The bundled rules (``dukcapil-only``, ``semi-vertical``, ``kecamatan-rollout``,
        ``kelurahan-rollout``) are registered this way by the ``regions`` plugin.

    Example:
        docs/hooks/examples/ektp_register_region_rules.py
    """


@hookspec
def ektp_register_verifiers(registry: Registry[VerifierFactory]) -> None:
    """Add verifiers, the adapters to a central system (SIAK/ABIS), picked by name.

    Called:
        When a plugin host first builds its ``verifiers`` registry: the ``ektp verify`` and
        ``ektp adjudication`` commands, ``ektp handover``, ``ektp walk``, and the web UI's
        recording, handover and central-system pages.

    Args:
        registry: the ``verifiers`` :class:`~ektp_core.registry.Registry`. Add each adapter with
            ``registry.add(name, factory)``. The factory (a
            :class:`~ektp_core.devices.verifiers.VerifierFactory`) is called with the keyword
            arguments it names among ``options`` (the profile's ``[verification]`` keys other than
            ``verifier``, ``required`` and ``matcher``), ``name`` and ``profile``; it raises
            ``ValueError`` for a bad option and returns a
            :class:`~ektp_core.devices.verifiers.Verifier`.

    Returns:
        Nothing: what counts is what the implementation adds to ``registry``.

    Results:
        Every implementation is called, one plugin at a time; the profile's ``[verification]
        verifier`` picks one (default ``http``, the bundled client for the central-system API).

    Example:
        docs/hooks/examples/ektp_register_verifiers.py
    """


@hookspec
def ektp_register_matchers(registry: Registry[MatcherFactory]) -> None:
    """Add biometric matchers (extract, verify 1:1, identify 1:N), picked by name.

    Called:
        When a plugin host first builds its ``matchers`` registry: the handover check (``ektp
        handover``, the web UI's handover page) and the central-system emulator, which builds the
        matcher its ``--config`` names.

    Args:
        registry: the ``matchers`` :class:`~ektp_core.registry.Registry`. Add each matcher with
            ``registry.add(name, factory)``. The factory (a
            :class:`~ektp_core.devices.matchers.MatcherFactory`) is called with the keyword
            arguments it names among ``options`` (the ``[verification.matcher]`` keys other than
            ``name`` and the ``*_score`` thresholds), ``name`` and ``profile``; it returns a
            :class:`~ektp_core.devices.matchers.Matcher`. Thresholds are applied by the core
            (:func:`ektp_core.devices.matchers.decide`), never by the matcher.

    Returns:
        Nothing: what counts is what the implementation adds to ``registry``.

    Results:
        Every implementation is called, one plugin at a time; the profile's
        ``[verification.matcher] name`` picks one (default ``nbis-bozorth3``).

    Example:
        docs/hooks/examples/ektp_register_matchers.py
    """


@hookspec
def ektp_register_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``ektp`` command.

    Called:
        Once per run of the ``ektp`` command, the first time it lists its sub-commands (for
        ``--help``), meets a sub-command name that is not built in, or enters a built-in command
        group (plugins may add sub-commands to one: the ``verify`` plugin adds ``ektp
        adjudication show``). It runs before any deployment is read, so every installed plugin is
        asked: a profile's allow and block lists do not apply to commands.

    Args:
        cli: the top-level :class:`click.Group` of the ``ektp`` command. Add commands with
            ``cli.add_command(command)``, or to a built-in group through its object, for example
            ``ektp_core.cli.verification.adjudication_group.add_command(command)``.

    Returns:
        Nothing: what counts is what the implementation adds to ``cli``.

    Results:
        Every implementation is called, one plugin at a time. One that raises is reported as a
        warning on standard error naming the plugin; the other commands keep working.

    Example:
        docs/hooks/examples/ektp_register_commands.py
    """


# --------------------------------------------------------------------------------------------------
# Recording: called once per enrolment.
# --------------------------------------------------------------------------------------------------


@hookspec
def ektp_validate_enrolment(enrolment: Enrolment, deployment: Deployment) -> list[ValidationProblem]:
    """Check a new enrolment before it is stored.

    Called:
        Once per new enrolment by :meth:`ektp_core.lifecycle.service.LifecycleService.record`, before
        anything is written: at the site that records it, and again at the Dukcapil node when the
        site's packet arrives (a refused packet gets a refusal receipt naming the problems).

    Args:
        enrolment: the :class:`~ektp_core.domain.model.Enrolment` about to be stored (state
            ``BIO_CAPTURED``, with its ``biodata`` and the ``site_code`` that recorded it).
        deployment: the :class:`~ektp_core.config.Deployment` the lifecycle service runs for, or
            None when the service was built without one (some tests do).

    Returns:
        A list of :class:`~ektp_core.events.ValidationProblem` (``message``, optional ``field``);
        an empty list when all is well.

    Results:
        Every implementation is called and all problems are collected. Any problem refuses the
        enrolment: ``record()`` raises :class:`~ektp_core.errors.ValidationFailed` listing every
        message (prefixed with its field), and nothing is stored. The core's own checks (the NIK
        agrees with the sex and birth date, the resident is eligible) are an implementation of
        this hook in the essential plugin.

    Example:
        docs/hooks/examples/ektp_validate_enrolment.py
    """
    raise NotImplementedError


# --------------------------------------------------------------------------------------------------
# Printing: called once per print job.
# --------------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def ektp_render_card(card: CardData, job: PrintJob, deployment: Deployment) -> RenderedCard | None:
    """Lay out the card of a print job.

    Called:
        Once per print job by :class:`ektp_core.services.printing.PrintService`, after a blank is
        reserved for it and before bytes go to the printer (a failure gives the blank back); also
        each time the web UI shows a job's card preview, with no blank reserved.

    Args:
        card: the :class:`~ektp_core.devices.printers.CardData`: the biodata, the decrypted photo and
            signature (encoded images), the place and date of issue, the printer's ``canvas``
            (``(1016, 648)`` for Evolis) and ``dpi``, and whether to render the ``back``.
        job: the :class:`~ektp_core.domain.model.PrintJob` (its ``blank_serial`` says which blank; None
            in a preview).
        deployment: the :class:`~ektp_core.config.Deployment` the print service runs for, or None
            when the service was built without one.

    Returns:
        A :class:`~ektp_core.devices.printers.RenderedCard` (the colour image and the K and overlay panels
        as raw planes, plus a preview PNG), or None to let the next plugin try.

    Results:
        ``firstresult``: the first non-None result wins and the remaining implementations are not
        called. When every one returns None, or one returns something else than a ``RenderedCard``,
        the print job is refused. The bundled layout (plugin ``card-layout``) is registered
        ``trylast``, so a plugin that returns a card replaces it.

    Example:
        docs/hooks/examples/ektp_render_card.py
    """


# --------------------------------------------------------------------------------------------------
# Events: called after each committed state change.
# --------------------------------------------------------------------------------------------------


@hookspec
def ektp_after_transition(transition: Transition, deployment: Deployment) -> None:
    """Hear about one state change of an enrolment, a print job or a blank, after it committed.

    Called:
        Once per state change by the lifecycle service, after the transaction that made it (state
        change plus audit entry) has committed, so the change is real. When one call changes
        several records (``mark_printed`` moves the job, the blank and the enrolment), each change
        is reported on its own. Deliveries of blanks, site updates and new accounts are audited
        but are not transitions. For notifications, metrics, sync outboxes.

    Args:
        transition: the :class:`~ektp_core.events.Transition`: ``kind`` (``"enrolment"``,
            ``"print_job"`` or ``"blank"``), ``subject_id``, ``from_state`` (None when the record
            was created by this change), ``to_state``, ``actor``, ``at``, ``reason``,
            ``audit_seq`` (the audit entry written with it) and ``detail``.
        deployment: the :class:`~ektp_core.config.Deployment` the lifecycle service runs for, or
            None when the service was built without one.

    Returns:
        Nothing; a returned value is ignored.

    Results:
        Every implementation is called, each on its own: an exception is logged with the plugin's
        name and the transition, does not undo the change, and does not stop the other
        implementations.

    Example:
        docs/hooks/examples/ektp_after_transition.py
    """
