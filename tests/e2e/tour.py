"""Every page of the web UI with data on it, at both node kinds of a small regency, as each role that
may open it: the tour the accessibility, keyboard and layout tests walk (tests/e2e/test_e2e_a11y.py).

:func:`stock` fills a regency through the browser as an office's day would: the kecamatan desk records
a resident (the hook ``at_step`` sees each recording page as it stands), her card is printed at the
Dukcapil office, a second resident (the central emulator
set to find every candidate doubtful, ``Regency(adjudicate=True)``) waits for adjudication, and a third recording
is left at its first step. :func:`pages` then lists every (node, account, path) to visit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from ektp_core.domain.model import Role

from .e2ekit import ServedNode, add_accounts, login
from .flows import RESIDENT, fill_biodata, record_resident, wait_until
from .regency import Regency

#: Recorded after RESIDENT, against a central system that puts every candidate in the grey zone.
TWIN = {**RESIDENT, "nik": "1771055708950002", "nama": "SITI AMINA"}
#: A recording left after its biodata: the capture steps' pages before any capture.
PENDING = {**RESIDENT, "nik": "1771055708950003", "nama": "RINA MARLINA"}
#: The kecamatan's admin (the regency gives the kecamatan only an operator and a supervisor).
KECAMATAN_ADMIN = "adm.kampung-melayu"
#: Until a record has crossed both loops (sync and verification every second, on a busy machine).
TRAVEL = 90.0


@attrs.frozen
class Stocked:
    """What :func:`stock` made: the regency and the ids of its records."""

    regency: Regency
    resident: str
    twin: str
    pending: str
    run_url: str


@attrs.frozen
class Visit:
    """A page to open: at which node, as whom (None: logged out), and the HTTP status it answers."""

    name: str
    node: ServedNode
    account: str | None
    path: str
    status: int = 200

    @property
    def url(self) -> str:
        return f"{self.node.url}{self.path}"


class Sessions:
    """One logged-in page per (node, account), kept for the whole module: a node allows ten logins a
    minute from one address ([web] login_attempts_per_minute), and a login costs a second anyway."""

    def __init__(self, open_page: Callable[[], Any]) -> None:
        self.open_page = open_page
        self.pages: dict[tuple[str, str | None], Any] = {}

    def page(self, node: ServedNode, account: str | None) -> Any:
        """The page of ``account`` (None: logged out) at ``node``, logged in on first use."""
        key = (node.url, account)
        if key not in self.pages:
            page = self.open_page()
            if account:
                login(page, node.url, account)
            self.pages[key] = page
        return self.pages[key]


def stock(
    regency: Regency, sessions: Sessions, at_step: Callable[[Any, str], None] = lambda page, name: None
) -> Stocked:
    """Fill the regency through its pages (see the module's docstring); ``at_step(page, name)`` is
    called on each recording page of the first resident, filled and before it is left."""
    add_accounts(regency.kecamatan.deployment, ((KECAMATAN_ADMIN, Role.ADMIN),))
    desk_url, office_url = regency.kecamatan.url, regency.office.url
    desk = sessions.page(regency.kecamatan, "op.kampung-melayu")
    resident = record_resident(desk, desk_url, shot=at_step)
    office = sessions.page(regency.office, "op1")

    def queued() -> bool:
        office.goto(f"{office_url}/print")
        return bool(office.locator(f"#queue tr:has-text('{RESIDENT['nik']}')").count() == 1)

    wait_until(queued, timeout=TRAVEL, message="the resident's card never reached the office's print queue")
    with office.expect_navigation():
        office.locator(f"#queue tr:has-text('{RESIDENT['nik']}') button[name=job]").click()
    run_url = office.url
    office.wait_for_selector("#run[data-done=true]", timeout=60_000)
    # Recorded once the resident is in the central gallery (print-ready), so it is compared with her.
    twin = record_resident(desk, desk_url, TWIN)
    desk.goto(f"{desk_url}/record/new")
    fill_biodata(desk, PENDING)
    with desk.expect_navigation():
        desk.click("#save-biodata")
    pending = desk.url.split("/record/", 1)[1].split("/", 1)[0]
    supervisor = sessions.page(regency.office, "spv1")

    def adjudicating() -> bool:
        supervisor.goto(f"{office_url}/adjudication")
        return bool(supervisor.locator(f"#queue tr[data-enrolment='{twin}']").count() == 1)

    wait_until(adjudicating, timeout=TRAVEL, message="the twin never waited for adjudication at the office")
    return Stocked(regency, resident, twin, pending, run_url.removeprefix(office_url))


#: The operator, supervisor and admin of each node.
OFFICE_ROLES = ("op1", "spv1", "adm1")
KECAMATAN_ROLES = ("op.kampung-melayu", "spv.kampung-melayu", KECAMATAN_ADMIN)


def pages(s: Stocked) -> list[Visit]:
    """Every page of both nodes, as every role that can open it, with a 403 for one that cannot."""
    office, desk = s.regency.office, s.regency.kecamatan
    nik = RESIDENT["nik"]
    visits: list[Visit] = [
        Visit("login", office, None, "/login"),
        Visit("login (kecamatan)", desk, None, "/login"),
        Visit("404", office, "op1", "/no-such-page", 404),
        Visit("404 (kecamatan)", desk, "op.kampung-melayu", "/no-such-page", 404),
        Visit("403", office, "op1", "/admin", 403),
        Visit("403 (kecamatan)", desk, "op.kampung-melayu", "/adjudication", 403),
    ]
    for node, roles in ((office, OFFICE_ROLES), (desk, KECAMATAN_ROLES)):
        where = "office" if node is office else "kecamatan"
        operator, supervisor, admin = roles
        for account in roles:
            visits.append(Visit(f"dashboard {where} {account}", node, account, "/dashboard"))
        for account in (operator, supervisor):
            visits += [
                Visit(f"enrolments {where} {account}", node, account, f"/enrolments?q={nik}"),
                Visit(f"enrolment {where} {account}", node, account, f"/enrolments/{s.resident}"),
                # Kampung Melayu records only (semi-vertical): its queue and blanks pages say so (404).
                Visit(f"print queue {where} {account}", node, account, "/print", 200 if node is office else 404),
                Visit(f"blanks {where} {account}", node, account, "/blanks", 200 if node is office else 404),
                Visit(f"handover {where} {account}", node, account, f"/handover?nik={nik}"),
                Visit(f"record {where} {account}", node, account, "/record"),
                Visit(f"where is my card {where} {account}", node, account, f"/cards?nik={nik}"),
            ]
        visits += [
            Visit(f"admin {where}", node, admin, "/admin"),
            Visit(f"accounts {where}", node, admin, "/admin/accounts"),
            Visit(f"audit {where}", node, admin, "/admin/audit"),
            Visit(f"devices {where}", node, admin, "/admin/devices"),
            Visit(f"locked {where} {admin}", node, admin, "/admin/locked"),
            Visit(f"locked {where} {supervisor}", node, supervisor, "/admin/locked"),
        ]
    visits += [
        Visit("print run op1", office, "op1", s.run_url),
        Visit("print run spv1", office, "spv1", s.run_url),
        Visit("adjudication", office, "spv1", "/adjudication"),
        Visit("adjudication case", office, "spv1", f"/adjudication/{s.twin}"),
        Visit("403 (admin)", office, "adm1", "/print", 403),
    ]
    for node, account in ((office, "op1"), (office, "spv1"), (desk, KECAMATAN_ROLES[0]), (desk, KECAMATAN_ROLES[1])):
        visits.append(Visit(f"biodata {account}", node, account, "/record/new"))
    for account in KECAMATAN_ROLES[:2]:
        # The replacement page (the resident's card is printed, not handed over: the page says there
        # is nothing to replace yet), the correction form and the pending recording's page (with the
        # supervisor's cancel form).
        visits += [
            Visit(f"replacement {account}", desk, account, "/replace"),
            Visit(f"replacement no card {account}", desk, account, f"/replace?nik={nik}", 404),
            Visit(f"correct {account}", desk, account, f"/enrolments/{s.pending}/correct"),
            Visit(f"pending enrolment {account}", desk, account, f"/enrolments/{s.pending}"),
        ]
        for step in ("face", "finger", "iris", "signature", "summary"):
            path = f"/record/{s.pending}/summary" if step == "summary" else f"/record/{s.pending}/step/{step}"
            visits.append(Visit(f"record {step} (nothing taken) {account}", desk, account, path))
    return visits


@attrs.frozen
class Scene:
    """A page left in a state worth checking: ``act(page, base_url)`` brings it there, from the node's
    ``start`` path, as ``account``; ``expect`` is a selector the state shows (the error, the flash)."""

    name: str
    node: ServedNode
    account: str | None
    start: str
    act: Callable[[Any], None]
    expect: str


def _submit(page: Any, form: str) -> None:
    """Submit a form past the browser's own checks (the server's answer is the page under test)."""
    page.evaluate("(f) => { document.querySelector(f).noValidate = true; }", form)
    with page.expect_navigation():
        page.locator(f"{form} button[type=submit]").first.click()


def _wrong_password(page: Any) -> None:
    page.fill("#username", "op1")
    page.fill("#password", "not-the-password")
    _submit(page, "form.stack")


def _bad_biodata(page: Any) -> None:
    page.fill("#f-nik", "1771")
    page.fill("#f-nama", "")
    _submit(page, "#biodata-form")


def _bad_serials(page: Any) -> None:
    page.fill("#serials", "not a serial")
    _submit(page, "#receive-form")


def _received(page: Any) -> None:
    page.fill("#serials", "E2E-1771-0101..E2E-1771-0102")
    _submit(page, "#receive-form")


def _unknown_nik(page: Any) -> None:
    page.fill("#nik", "1771050101900009")
    _submit(page, "#nik-form")


def _passwords_differ(page: Any) -> None:
    page.evaluate("document.querySelector('#new-account').open = true")
    page.fill("#username", "op2")
    page.fill("#full_name", "Operator Dua")
    page.fill("#password", "a-long-password-1")
    page.fill("#password_again", "a-long-password-2")
    _submit(page, "#new-account form")


def scenes(s: Stocked) -> list[Scene]:
    """Pages with a form error or a flash message open, at both node kinds."""
    office, desk = s.regency.office, s.regency.kecamatan
    return [
        Scene("login: wrong password", office, None, "/login", _wrong_password, "#login-error"),
        Scene("biodata: errors", desk, "op.kampung-melayu", "/record/new", _bad_biodata, "[aria-invalid=true]"),
        Scene("blanks: refused serials", office, "spv1", "/blanks", _bad_serials, ".flash.error"),
        Scene("blanks: received", office, "spv1", "/blanks", _received, ".flash.ok"),
        Scene("handover: unknown NIK", office, "op1", "/handover", _unknown_nik, "#nik-problem"),
        Scene("accounts: passwords differ", office, "adm1", "/admin/accounts", _passwords_differ, ".flash.error"),
    ]


def main_pages(s: Stocked) -> list[Visit]:
    """The pages operators spend their day on, one visit each (the layout and focus tests' set)."""
    office, desk = s.regency.office, s.regency.kecamatan
    nik = RESIDENT["nik"]
    op, spv, adm = OFFICE_ROLES
    desk_op = KECAMATAN_ROLES[0]
    return [
        Visit("login", office, None, "/login"),
        Visit("dashboard (office)", office, spv, "/dashboard"),
        Visit("dashboard (kecamatan)", desk, desk_op, "/dashboard"),
        Visit("record", desk, desk_op, "/record"),
        Visit("biodata", desk, desk_op, "/record/new"),
        Visit("fingers", desk, desk_op, f"/record/{s.pending}/step/finger"),
        Visit("summary", desk, desk_op, f"/record/{s.pending}/summary"),
        Visit("enrolments", office, op, f"/enrolments?q={nik}"),
        Visit("enrolment", office, op, f"/enrolments/{s.resident}"),
        Visit("print queue", office, op, "/print"),
        Visit("print run", office, op, s.run_url),
        Visit("blanks", office, spv, "/blanks"),
        Visit("handover", office, op, f"/handover?nik={nik}"),
        Visit("replacement", desk, desk_op, "/replace"),
        Visit("where is my card", office, op, f"/cards?nik={nik}"),
        Visit("correct", desk, desk_op, f"/enrolments/{s.pending}/correct"),
        Visit("adjudication", office, spv, "/adjudication"),
        Visit("adjudication case", office, spv, f"/adjudication/{s.twin}"),
        Visit("admin", office, adm, "/admin"),
        Visit("accounts", office, adm, "/admin/accounts"),
        Visit("audit", office, adm, "/admin/audit"),
        Visit("devices", office, adm, "/admin/devices"),
    ]
