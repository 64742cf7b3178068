"""Every hook of ektp, grouped by the lifecycle stage that calls it.

Plugins implement these with the ``@ektp_core.hookimpl`` marker. Two kinds exist:

* **registration** hooks (``ektp_register_*``) are called once when a plugin host first needs
  what they register; a plugin adds named things to the registry (or command group) it is given,
  and the profile later picks them by name;
* **lifecycle** hooks are called once per record or job (never per USB packet or byte).

An implementation must accept the arguments by the names given here; pluggy passes only the
arguments an implementation asks for, so a plugin may leave out the ones it does not need. Never
give an argument a default value in an implementation: pluggy would silently never pass it.

Each hook's docstring has the same sections, from which docs/hooks.md is generated (and which a
test checks): ``Called:`` (when and by what), ``Args:`` (every argument of the signature, nothing
else), ``Returns:``, ``Results:`` (how the results of several plugins combine) and ``Example:`` (a
complete plugin module implementing the hook; the tests register and call every example).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from ektp_core.config import Deployment
    from ektp_core.devices.printers import CardData, RenderedCard
    from ektp_core.domain.model import Enrolment, PrintJob
    from ektp_core.events import Transition, ValidationProblem
    from ektp_core.registry import Registry

hookspec = pluggy.HookspecMarker("ektp")

# --------------------------------------------------------------------------------------------------
# Registration: called once per plugin host, when it first builds the registry. Each gets a registry.
# --------------------------------------------------------------------------------------------------


@hookspec
def ektp_register_profiles(registry: Registry[Any]) -> None:
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
        from importlib import resources

        from ektp_core import hookimpl


        @hookimpl
        def ektp_register_profiles(registry):
            registry.add(
                "kota-contoh-kecamatan",
                resources.files(__package__).joinpath("profiles", "kecamatan.toml"),
                description="Kota Contoh: recording and printing at every kecamatan",
            )
    """


@hookspec
def ektp_register_printers(registry: Registry[Any]) -> None:
    """Add card-printer drivers, which the profile's ``[[devices.printers]]`` pick by name.

    Called:
        When a plugin host first builds its ``printers`` registry, that is the first time a
        printer the profile declares is built: ``ektp print``, ``ektp walk``, and the web UI's
        printing pages and dashboard.

    Args:
        registry: the ``printers`` :class:`~ektp_core.registry.Registry`. Add each driver with
            ``registry.add(name, factory, description="...")``. The core calls
            ``factory(name=..., options=...)`` with the ``[[devices.printers]]`` entry's ``name``
            and its ``options`` table (relative ``folder`` and ``emulator_state`` paths made
            absolute inside the deployment folder); it builds, but does not open, a
            :class:`~ektp_core.devices.printers.CardPrinter`, and raises ``ValueError`` for options it
            does not accept.

    Returns:
        Nothing: what counts is what the implementation adds to ``registry``.

    Results:
        Every implementation is called, one plugin at a time. A driver does nothing until a
        ``[[devices.printers]]`` entry names it.

    Example:
        from ektp_core import hookimpl
        from ektp_plugins.printers.proof import ProofPrinter


        def proof_cr80(name, options):
            # The proof printer on the CR80 canvas (1011 x 638) unless the profile asks otherwise.
            return ProofPrinter(name, {"canvas": "cr80", **options})


        @hookimpl
        def ektp_register_printers(registry):
            registry.add("proof-cr80", proof_cr80, description="proof cards at the CR80 size")
    """


@hookspec
def ektp_register_scanners(registry: Registry[Any]) -> None:
    """Add biometric scanner drivers (fingerprint, iris, face, signature), picked by name.

    Called:
        When a plugin host first builds its ``scanners`` registry, that is the first time a
        scanner the profile declares in ``[[devices.scanners]]`` is built: ``ektp handover``,
        ``ektp walk``, and the web UI's recording pages and dashboard.

    Args:
        registry: the ``scanners`` :class:`~ektp_core.registry.Registry`. Add each driver with
            ``registry.add(name, factory, description="...")``; the core calls
            ``factory(name=..., options=...)`` as for printers, and gets back an unopened
            :class:`~ektp_core.devices.scanners.BiometricScanner`.

    Returns:
        Nothing: what counts is what the implementation adds to ``registry``.

    Results:
        Every implementation is called, one plugin at a time; the profile's
        ``[[devices.scanners]]`` entries pick drivers by name.

    Example:
        from ektp_core import hookimpl
        from ektp_plugins.scanners.uareu import make_scanner


        def training_reader(name, options):
            # The U.are.U 4000B driver on its built-in emulator: the training room has no readers.
            return make_scanner(name, {**options, "emulator": True})


        @hookimpl
        def ektp_register_scanners(registry):
            registry.add("uareu-training", training_reader, description="emulated U.are.U 4000B")
    """


@hookspec
def ektp_register_region_rules(registry: Registry[Any]) -> None:
    """Add region rules: which site records, which site prints each card.

    Called:
        When a plugin host first builds its ``region_rules`` registry, that is when a deployment
        loads its rules (:func:`ektp_core.lifecycle.routing.load_rules`): ``ektp route``, ``ektp sites``,
        ``ektp profile use``, ``ektp walk``, and routing the print-ready enrolments after
        ``ektp verify sync`` or in the web UI.

    Args:
        registry: the ``region_rules`` :class:`~ektp_core.registry.Registry`. Add each rules
            class with ``registry.add(name, rules_class)``. The class follows
            :class:`ektp_core.devices.region_rules.RegionRules`: it is built as ``rules_class(profile,
            settings)``, where ``settings`` holds the keys of ``[rules]`` other than ``name``
            (raise ``ValueError`` for settings it does not accept); ``check()`` lists the
            problems with the profile, each naming the site; ``route(enrolment, sites)`` and
            ``prints_at(site, sites)`` return an :class:`ektp_core.devices.region_rules.Routing` (the site
            that prints, the reason shown to operators, optionally the weekday). ``sites`` is a
            read-only :class:`ektp_core.devices.region_rules.SiteState` (``has_printer(code)``,
            ``blanks_in_stock(code)``), so rules stay pure functions of the profile, the
            enrolment and that state.

    Returns:
        Nothing: what counts is what the implementation adds to ``registry``.

    Results:
        Every implementation is called, one plugin at a time; the profile's ``[rules] name`` picks
        one. The bundled rules (``dukcapil-only``, ``semi-vertical``, ``kecamatan-rollout``,
        ``kelurahan-rollout``) are registered this way by the ``regions`` plugin.

    Example:
        from ektp_core import hookimpl
        from ektp_core.domain.model import SiteKind
        from ektp_core.devices.region_rules import Routing


        class PrintAtKecamatan:
            # Print at the resident's kecamatan when it can, else at the Dukcapil office.

            name = "print-at-kecamatan"

            def __init__(self, profile, settings):
                if settings:
                    raise ValueError(f"{self.name} takes no settings, got {sorted(settings)}")
                self.profile = profile
                self.office = next(s for s in profile.sites if s.kind is SiteKind.DUKCAPIL)

            def check(self):
                if self.office.prints:
                    return []
                return [f"site {self.office.code} ({self.office.name}) must print"]

            def prints_at(self, site, sites):
                office = self.office
                if site.prints and sites.has_printer(site.code) and sites.blanks_in_stock(site.code):
                    return Routing(site.code, f"printed where it was recorded, {site.name}")
                return Routing(office.code, f"{site.name} cannot print now: printed at {office.name}")

            def route(self, enrolment, sites):
                district = enrolment.biodata.nik.district_code
                for site in self.profile.sites:
                    if site.region_code == district:
                        return self.prints_at(site, sites)
                return Routing(self.office.code, f"no site for kecamatan {district}: printed at "
                                                 f"{self.office.name}")


        @hookimpl
        def ektp_register_region_rules(registry):
            registry.add(PrintAtKecamatan.name, PrintAtKecamatan)
    """


@hookspec
def ektp_register_verifiers(registry: Registry[Any]) -> None:
    """Add verifiers, the adapters to a central system (SIAK/ABIS), picked by name.

    Called:
        When a plugin host first builds its ``verifiers`` registry: the ``ektp verify`` and
        ``ektp adjudication`` commands, ``ektp handover``, ``ektp walk``, and the web UI's
        recording, handover and central-system pages.

    Args:
        registry: the ``verifiers`` :class:`~ektp_core.registry.Registry`. Add each adapter with
            ``registry.add(name, factory)``. The core calls ``factory(options)`` with the
            profile's ``[verification]`` keys other than ``verifier``, ``required`` and
            ``matcher``; it raises ``ValueError`` for a bad option and returns an
            :class:`ektp_core.devices.verifiers.Verifier`.

    Returns:
        Nothing: what counts is what the implementation adds to ``registry``.

    Results:
        Every implementation is called, one plugin at a time; the profile's ``[verification]
        verifier`` picks one (default ``http``, the bundled client for the central-system API).

    Example:
        from ektp_core import hookimpl
        from ektp_plugins.verify.http import HttpVerifier

        GATEWAY = {
            "url": "https://siak-gateway.prov.example.go.id/api/v1",
            "token_env": "EKTP_GATEWAY_TOKEN",
        }


        def provincial_gateway(options):
            # The central-system API client, aimed at the province's gateway unless the profile
            # says otherwise.
            return HttpVerifier({**GATEWAY, **options})


        @hookimpl
        def ektp_register_verifiers(registry):
            registry.add("provincial-gateway", provincial_gateway,
                         description="the province's SIAK gateway")
    """


@hookspec
def ektp_register_matchers(registry: Registry[Any]) -> None:
    """Add biometric matchers (extract, verify 1:1, identify 1:N), picked by name.

    Called:
        When a plugin host first builds its ``matchers`` registry: the handover check (``ektp
        handover``, the web UI's handover page) and the central-system emulator, which builds the
        matcher its ``--config`` names.

    Args:
        registry: the ``matchers`` :class:`~ektp_core.registry.Registry`. Add each matcher with
            ``registry.add(name, factory)``. The core calls ``factory(options)`` with the
            ``[verification.matcher]`` keys other than ``name`` and the ``*_score`` thresholds;
            it returns an :class:`ektp_core.devices.matchers.Matcher`. Thresholds are applied by the core
            (:func:`ektp_core.devices.matchers.decide`), never by the matcher.

    Returns:
        Nothing: what counts is what the implementation adds to ``registry``.

    Results:
        Every implementation is called, one plugin at a time; the profile's
        ``[verification.matcher] name`` picks one (default ``nbis-bozorth3``).

    Example:
        from ektp_core import hookimpl
        from ektp_plugins.verify.dedup.matcher import NbisMatcher


        def bozorth3_server(options):
            # Bozorth3 on the Dukcapil server: four threads unless the profile says otherwise.
            return NbisMatcher({"workers": 4, **options})


        @hookimpl
        def ektp_register_matchers(registry):
            registry.add("bozorth3-server", bozorth3_server, description="NBIS Bozorth3, 4 threads")
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
        from pathlib import Path

        import click

        from ektp_core import hookimpl
        from ektp_core.config import find_deployment


        @click.command("site-info", help="Show the site this node serves and what it does there.")
        @click.option("--deployment", "-d", "deployment_dir", default=None,
                      type=click.Path(file_okay=False, path_type=Path),
                      help="Deployment folder (default: $EKTP_DEPLOYMENT, else the current folder).")
        def site_info(deployment_dir):
            site = find_deployment(deployment_dir).site
            click.echo(f"{site.code} {site.name} ({site.kind}): "
                       f"records={site.records} prints={site.prints}")


        @hookimpl
        def ektp_register_commands(cli):
            cli.add_command(site_info)
    """


@hookspec
def ektp_register_blueprints(registry: Registry[Any]) -> None:
    """Add web pages: Flask blueprints that the web UI serves after its own pages.

    Called:
        When a plugin host first builds its ``blueprints`` registry: once, when the web UI's app
        is created (``ektp serve``, which ``ektp demo`` also starts for each of its nodes).

    Args:
        registry: the ``blueprints`` :class:`~ektp_core.registry.Registry`. Add each Flask
            blueprint with ``registry.add(name, blueprint)``; the core never imports Flask, the
            web plugin registers every blueprint in the node's app. Each view must be decorated
            with ``ektp_plugins.web.ui.access.allow(roles)`` (or ``public``): the app checks the
            login, the role and the CSRF token before the view runs, and refuses a view without a
            rule.

    Returns:
        Nothing: what counts is what the implementation adds to ``registry``.

    Results:
        Every implementation is called, one plugin at a time.

    Example:
        from flask import Blueprint, render_template_string

        from ektp_core import hookimpl
        from ektp_plugins.web.ui import access

        helpdesk = Blueprint("helpdesk", __name__, url_prefix="/bantuan")

        CONTACTS = [
            ("Dukcapil helpdesk", "0736-21000"),
            ("Blank-card stock (province)", "0736-22000"),
        ]
        PAGE = ("<h1>Bantuan</h1><ul>{% for who, phone in contacts %}"
                "<li>{{ who }}: {{ phone }}</li>{% endfor %}</ul>")


        @helpdesk.get("/")
        @access.allow(access.EVERYONE)  # every view says who may use it, or it is refused
        def contacts():
            return render_template_string(PAGE, contacts=CONTACTS)


        @hookimpl
        def ektp_register_blueprints(registry):
            registry.add("helpdesk", helpdesk, description="who to call when something goes wrong")
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
        from ektp_core import hookimpl
        from ektp_core.events import ValidationProblem


        @hookimpl
        def ektp_validate_enrolment(enrolment, deployment):
            problems = []
            if enrolment.biodata.nama.upper().startswith("LATIHAN"):
                problems.append(ValidationProblem("training records (LATIHAN ...) are never stored",
                                                  field="nama"))
            if deployment is not None:
                code = enrolment.site_code
                site = next((s for s in deployment.profile.sites if s.code == code), None)
                if site is None or not site.records:
                    problems.append(ValidationProblem(f"site {code} does not record residents"))
            return problems
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
        import io

        import attrs
        from PIL import Image, ImageDraw, ImageFont

        from ektp_core import hookimpl
        from ektp_plugins.printers.layout import render_card


        @hookimpl(tryfirst=True)
        def ektp_render_card(card, deployment):
            # Training offices (profile name "latihan-...") print SPECIMEN across every card.
            if deployment is None or not deployment.profile.name.startswith("latihan-"):
                return None  # a real office: the next renderer (finally the default layout) draws it
            rendered = render_card(card)
            size = (rendered.width, rendered.height)
            where, stamp = (size[0] // 10, size[1] // 3), ImageFont.load_default(size=size[1] // 6)
            k = Image.frombytes("L", size, rendered.k)  # the black resin panel
            ImageDraw.Draw(k).text(where, "SPECIMEN", fill=255, font=stamp)
            preview = Image.open(io.BytesIO(rendered.preview_png)).convert("RGB")
            ImageDraw.Draw(preview).text(where, "SPECIMEN", fill=(0, 0, 0), font=stamp)
            png = io.BytesIO()
            preview.save(png, format="PNG")
            return attrs.evolve(rendered, k=k.tobytes(), preview_png=png.getvalue())
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
        import json
        import logging

        from ektp_core import hookimpl

        log = logging.getLogger(__name__)


        @hookimpl
        def ektp_after_transition(transition, deployment):
            # Print jobs that need a supervisor go to a file the office's dashboard screen watches.
            if deployment is None or transition.kind != "print_job":
                return
            if transition.to_state != "UNKNOWN":
                return
            job = transition.subject_id
            alert = {"job": job, "reason": transition.reason, "at": transition.at.isoformat()}
            try:
                with open(deployment.root / "supervisor-alerts.jsonl", "a", encoding="utf-8") as out:
                    print(json.dumps(alert), file=out)
            except OSError:
                log.exception("could not write the supervisor alert for print job %s", job)
    """
