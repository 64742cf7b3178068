"""The profile tables the core reads, declared like any plugin's (:mod:`ektp_core.config.schema`).

The essential plugin (:mod:`ektp_core.builtin`) declares them through ``ektp_declare_profile_tables``;
their owners read them through these declarations: the profile parser (``[profile]``,
``[sites_from_regions]``, ``[[sites]]``, ``[plugins]``, ``[lifecycle]``), the devices
(``[devices]``), routing (``[rules]``), the services (``[printing]``, ``[capture]``,
``[verification]``, the account limits of ``[web]``). docs/profiles.md describes every key; a test
keeps it complete.
"""

from __future__ import annotations

from typing import Any

from ektp_core.config.schema import REQUIRED, Setting, Table
from ektp_core.domain.model import FINGER_POSITIONS, Modality, SiteKind

_FLAG = "true or false"

# --------------------------------------------------------------------------------------------------
# The profile itself: read by the parser before any plugin loads
# --------------------------------------------------------------------------------------------------

PROFILE = Table(
    key="profile",
    description="The profile's name and its regency.",
    required=True,
    settings=(
        Setting(key="name", types=str, expected="a profile name", default=REQUIRED, description="The short name."),
        Setting(key="title", types=str, expected="a title", shown_default="`name`", description="A title for people."),
        Setting(
            key="region",
            types=str,
            expected='a Kemendagri regency code such as "17.71"',
            default=REQUIRED,
            description="The Kemendagri code of the regency or city (`PP.KK`).",
        ),
        Setting(
            key="dukcapil_code",
            types=str,
            expected="the Dukcapil office's site code",
            shown_default="the `region` code",
            description="The site code of the Dukcapil office.",
        ),
    ),
)


def _generated(kind: str, records: bool, prints: bool, *extra: Setting) -> Table:
    return Table(
        key=kind,
        description=f"Generate the {kind} sites.",
        settings=(
            Setting(key="records", types=bool, expected=_FLAG, default=records, description="Sites record."),
            Setting(key="prints", types=bool, expected=_FLAG, default=prints, description="Sites print."),
            *extra,
        ),
    )


SITES_FROM_REGIONS = Table(
    key="sites_from_regions",
    description="Sites generated from the Kemendagri region list; each sub-table present turns on one kind.",
    tables=(
        _generated(
            "dukcapil",
            True,
            True,
            Setting(
                key="name",
                types=str,
                expected="the Dukcapil office's name",
                shown_default='"Disdukcapil <regency name>"',
                description="The office's name.",
            ),
        ),
        _generated("kecamatan", True, False),
        _generated("kelurahan", True, False),
    ),
)

SITES = Table(
    key="sites",
    description="One table per office that runs a node or records residents.",
    array=True,
    settings=(
        Setting(key="code", types=str, expected="a site code", default=REQUIRED, description="The site's code."),
        Setting(
            key="name",
            types=str,
            expected="a site name",
            shown_default="required (a generated site's name when overriding)",
            description="The office's name.",
        ),
        Setting(
            key="kind",
            types=str,
            expected=f"one of {[k.value for k in SiteKind]}",
            shown_default="required (a generated site's kind when overriding)",
            description="dukcapil, kecamatan, kelurahan or mobile.",
        ),
        Setting(key="records", types=bool, expected=_FLAG, shown_default="`true`", description="Residents record."),
        Setting(key="prints", types=bool, expected=_FLAG, shown_default="`false`", description="Cards are printed."),
        Setting(
            key="region_code",
            types=str,
            expected="a Kemendagri code",
            description="The Kemendagri code of the area the site serves.",
        ),
    ),
)


def _strings(key: str, description: str) -> Setting:
    return Setting(key=key, types=list, items=str, expected="a list of strings", default=(), description=description)


PLUGINS = Table(
    key="plugins",
    description="Which installed plugins this deployment may load.",
    settings=(
        _strings("allow", "When not empty, only these entry-point plugins load."),
        _strings("block", "These never load."),
        _strings("required", "These must load."),
        Setting(key="fatal_errors", types=bool, expected=_FLAG, default=False, description="Any failure stops."),
    ),
)


def _two_fingers(value: list[Any]) -> bool:
    return len(value) == 2 and value[0] != value[1] and all(f in FINGER_POSITIONS for f in value)


LIFECYCLE = Table(
    key="lifecycle",
    description="Rules of recording that a regency may need to tune.",
    settings=(
        Setting(
            key="eligibility_age",
            types=int,
            expected="a number of years from 10 to 25",
            default=17,
            check=lambda age: 10 <= age <= 25,
            description="The age from which a resident who never married may hold a KTP-el.",
        ),
        Setting(
            key="chip_fingers",
            types=list,
            items=str,
            expected=f"two different fingers of {list(FINGER_POSITIONS)}",
            default=("right_thumb", "right_index"),
            check=_two_fingers,
            description="The two fingerprints written to the card's chip.",
        ),
        Setting(
            key="cancelled_biometrics_days",
            types=int,
            expected="a number of days from 0 to 3650",
            default=30,
            check=lambda days: 0 <= days <= 3650,
            description=(
                "How long the biometrics of a cancelled recording are kept before they are destroyed "
                "(`ektp enrolment purge`). Not an official rule: set your regency's."
            ),
        ),
        Setting(
            key="replacement_records_biometrics",
            types=bool,
            expected=_FLAG,
            default=False,
            description=(
                "Record the biometrics again for every replacement card. By default a replacement reuses "
                "the earlier record's, once the applicant's finger matched them at the desk."
            ),
        ),
    ),
)

# --------------------------------------------------------------------------------------------------
# Tables read when the deployment works: rules, devices, printing, capture, verification, accounts
# --------------------------------------------------------------------------------------------------

RULES = Table(
    key="rules",
    description="The region rules: which site prints each card.",
    extra="settings of the rules, which the rules check when they are built",
    settings=(
        Setting(
            key="name",
            types=str,
            expected="the name of the region rules (see `ektp plugins`)",
            shown_default="required to route print jobs",
            description="The name of region rules a plugin registered (`ektp_register_region_rules`).",
        ),
    ),
)


def _non_empty(value: str) -> bool:
    return bool(value)


def _device(kind: str, registry: str) -> Table:
    text = "a non-empty string"
    return Table(
        key=kind,
        description=f"One table per {kind[:-1]}.",
        array=True,
        settings=(
            Setting(key="name", types=str, expected=text, default=REQUIRED, check=_non_empty, description="Its name."),
            Setting(
                key="driver",
                types=str,
                expected=text,
                default=REQUIRED,
                check=_non_empty,
                description=f"A name in the {registry} registry.",
            ),
            Setting(
                key="site",
                types=str,
                expected=text,
                default=REQUIRED,
                check=_non_empty,
                description="The code of the site where it stands.",
            ),
            Setting(key="options", types=dict, expected="a table", default={}, description="The driver's own options."),
        ),
    )


DEVICES = Table(
    key="devices",
    description="The printers and scanners at each site.",
    tables=(_device("printers", "printers"), _device("scanners", "scanners")),
)

PRINTING = Table(
    key="printing",
    description="Printing options.",
    settings=(
        Setting(key="back", types=bool, expected=_FLAG, default=False, description="Also print the card's back."),
    ),
)

#: Defaults when a profile says nothing: minimum quality (0-100) and attempts per modality.
DEFAULT_MIN_QUALITY = {Modality.FINGER: 40, Modality.IRIS: 50, Modality.FACE: 50, Modality.SIGNATURE: 0}
DEFAULT_RETRIES = 3


def _modality(modality: Modality) -> Table:
    return Table(
        key=modality.value,
        description=f"The quality rule of {modality.value} captures.",
        settings=(
            Setting(
                key="min_quality",
                types=int,
                expected="a whole number 0-100",
                default=DEFAULT_MIN_QUALITY[modality],
                check=lambda value: 0 <= value <= 100,
                description="A sample scoring below this is refused.",
            ),
            Setting(
                key="retries",
                types=int,
                expected="a whole number 1-10",
                default=DEFAULT_RETRIES,
                check=lambda value: 1 <= value <= 10,
                description="Attempts before an exception must be recorded instead.",
            ),
        ),
    )


CAPTURE = Table(
    key="capture",
    description="Quality thresholds and retries per biometric modality.",
    tables=tuple(_modality(m) for m in Modality),
)


def _score(key: str, default: float, description: str) -> Setting:
    return Setting(
        key=key,
        types=(int, float),
        expected="a number >= 0",
        default=default,
        check=lambda value: value >= 0,
        description=description,
    )


#: The matcher a profile gets when it names none.
DEFAULT_MATCHER = "nbis-bozorth3"

MATCHER = Table(
    key="matcher",
    description="The biometric matcher and its thresholds.",
    extra="options of the matcher",
    settings=(
        Setting(
            key="name",
            types=str,
            expected="a matcher name",
            default=DEFAULT_MATCHER,
            check=_non_empty,
            description="The matcher plugin (`ektp_register_matchers`).",
        ),
        _score("duplicate_score", 40.0, "A 1:N score at or above this is the same person."),
        _score("adjudicate_score", 25.0, "At or above this (below duplicate_score) a supervisor decides."),
        _score("handover_score", 40.0, "The 1:1 score a live finger needs at card handover."),
    ),
)

VERIFICATION = Table(
    key="verification",
    description="The central-system adapter, the matcher and its thresholds.",
    extra="options of the verifier",
    settings=(
        Setting(
            key="verifier",
            types=str,
            expected="a verifier name",
            default="http",
            check=_non_empty,
            description="The verifier plugin (`ektp_register_verifiers`).",
        ),
        Setting(
            key="required",
            types=list,
            expected=f"a list of modalities from {[m.value for m in Modality]}",
            default=tuple(m.value for m in Modality),
            check=lambda value: all(m in {x.value for x in Modality} for m in value),
            description="Modalities captured (or excepted) before an enrolment is sent.",
        ),
    ),
    tables=(MATCHER,),
)


def _positive(key: str, default: float, description: str) -> Setting:
    return Setting(
        key=key,
        types=(int, float),
        expected="a positive number",
        default=default,
        check=lambda value: value > 0,
        description=description,
    )


#: The core's part of ``[web]``: the accounts' limits, which the core enforces at every node (the web
#: plugin declares the UI's own keys in the same table).
WEB_ACCOUNTS = Table(
    key="web",
    description="The accounts' limits at every node, and the web UI's settings.",
    shared=True,
    settings=(
        _positive("lockout_failures", 5, "Wrong passwords in a row that lock the account at this node."),
        _positive("lockout_minutes", 15, "How long the lock lasts."),
        _positive("session_idle_minutes", 30, "Idle limit of a web session."),
        _positive("session_max_hours", 10, "Absolute limit of a web session."),
    ),
)

SYNC = Table(
    key="sync",
    description="Reserved for sync settings: accepted, not read yet.",
    extra="reserved: not read yet",
)

PAPERS = Table(
    key="papers",
    description="The papers a resident takes home (bukti perekaman, tanda terima, Suket).",
    settings=(
        Setting(
            key="suket_validity_months",
            types=int,
            expected="a whole number of months from 1 to 60",
            default=6,
            check=lambda value: 1 <= value <= 60,
            description="How long a Surat Keterangan pengganti KTP-el stands in for the card, in calendar months.",
        ),
    ),
)

#: Every table the core declares, in the order docs/profiles.md describes them.
TABLES = (
    PROFILE,
    SITES_FROM_REGIONS,
    SITES,
    PLUGINS,
    LIFECYCLE,
    RULES,
    DEVICES,
    PRINTING,
    CAPTURE,
    VERIFICATION,
    WEB_ACCOUNTS,
    SYNC,
    PAPERS,
)
