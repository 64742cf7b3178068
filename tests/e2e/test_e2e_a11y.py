"""Accessibility and layout of every page, in Chromium, at both node kinds of one regency filled through
its pages (tests/e2e/tour.py): WCAG 2.2 AA by axe-core with zero violations, as each role that may
open a page, with form errors and flash messages open too; the keyboard alone (a visible focus on
every stop of the Tab order, forms completed without the mouse); and the layout at the offices'
screen sizes (no sideways scrolling, the top menu on one line)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from language import english_words

from ektp_core.services.node_init import profile_text

from .axecheck import axe_path, find_axe, report, violations
from .e2ekit import VIEWPORT, ServedNode, add_accounts, login, text
from .flows import RESIDENT
from .keys import choose, focused, tab_to, walk
from .regency import Regency
from .tour import TWIN, Sessions, Stocked, main_pages, pages, scenes, stock

#: The desk screens of the offices: the smallest laptops, the common desk monitor, a full-HD monitor.
SCREENS = ((1280, 720), (1366, 768), (1920, 1080))
#: The page's width against the window's, the distinct heights of the top menu's items (one line: one),
#: and the cards wider than their box (content cut off or scrolled sideways, the low-stock badge once).
_LAYOUT = """() => ({
  scroll: document.documentElement.scrollWidth, window: window.innerWidth,
  menuLines: new Set([...document.querySelectorAll("nav.menu a")].map((a) => a.offsetTop)).size,
  cut: [...document.querySelectorAll(".card")].filter((c) => c.scrollWidth > c.clientWidth + 1)
        .map((c) => (c.querySelector("h1, h2") || c).textContent.trim().slice(0, 40)),
})"""


@pytest.fixture(scope="module")
def axe() -> Path:
    return axe_path()


@pytest.fixture(scope="module")
def contexts(chromium: Any) -> Iterator[Callable[..., Any]]:
    """``open_page(account=None, node=None, viewport=VIEWPORT)``: a page in a fresh context, logged in.

    The contexts bypass the pages' CSP (script-src 'self'): axe-core is injected as an inline script.
    """
    made: list[Any] = []

    def open_page(viewport: dict[str, int] = VIEWPORT) -> Any:
        context = chromium.new_context(viewport=viewport, locale="id-ID", bypass_csp=True)
        # Longer than the desk's SBI capture timeout (regency.SBI_TIMEOUT_MS): a page waits for a capture.
        context.set_default_timeout(45_000)
        made.append(context)
        return context.new_page()

    yield open_page
    for context in made:
        context.close()


@pytest.fixture(scope="module")
def recording_pages() -> dict[str, list[dict[str, Any]]]:
    """The axe violations found on each recording page while the first resident was recorded (none
    checked without axe-core: the test that reads them then skips, or fails under CI)."""
    return {}


@pytest.fixture(scope="module")
def sessions(contexts: Callable[..., Any]) -> Sessions:
    """The module's logged-in pages, one per (node, account)."""
    return Sessions(contexts)


@pytest.fixture(scope="module")
def stocked(
    tmp_path_factory: pytest.TempPathFactory,
    sessions: Sessions,
    recording_pages: dict[str, list[dict[str, Any]]],
) -> Iterator[Stocked]:
    """One regency for the module, filled through its pages; the recording pages are checked on the way
    (the keyboard and layout tests need no axe-core, so its absence does not stop the regency)."""
    axe = find_axe()

    def check(page: Any, name: str) -> None:
        if axe is not None:
            recording_pages[name] = violations(page, axe)

    regency = Regency(tmp_path_factory.mktemp("a11y") / "regency", adjudicate=True).start()
    try:
        yield stock(regency, sessions, check)
    finally:
        regency.stop()


def test_every_page_has_no_wcag_violation(stocked: Stocked, sessions: Sessions, axe: Path) -> None:
    """Guards WCAG 2.2 AA on every page, for every role that opens it, at both node kinds."""
    failures: list[str] = []
    for visit in pages(stocked):
        page = sessions.page(visit.node, visit.account)
        response = page.goto(visit.url)
        assert response is not None and response.status == visit.status, (visit.name, response and response.status)
        found = violations(page, axe)
        if found:
            failures.append(report(f"{visit.name} ({visit.path})", found))
    assert not failures, "\n".join(failures)


def test_pages_with_a_form_error_or_a_flash_have_no_wcag_violation(
    stocked: Stocked, sessions: Sessions, axe: Path
) -> None:
    """Guards WCAG 2.2 AA on the pages as they answer a form: errors shown by fields, flash messages."""
    failures: list[str] = []
    for scene in scenes(stocked):
        page = sessions.page(scene.node, scene.account)
        page.goto(f"{scene.node.url}{scene.start}")
        scene.act(page)
        assert page.locator(scene.expect).count() > 0, (scene.name, page.inner_text("main"))
        found = violations(page, axe)
        if found:
            failures.append(report(scene.name, found))
    assert not failures, "\n".join(failures)


@pytest.fixture(scope="module")
def print_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedNode]:
    """A Dukcapil office that prints and does not record (the minimal profile with records = false):
    the only node that shows the "not recording" page."""
    profile, _source = profile_text("minimal")
    profile, count = re.subn(r"(?m)^records = true$", "records = false", profile)
    assert count == 1, "the minimal profile's records = true moved"
    root = tmp_path_factory.mktemp("print-only")
    (root / "print-only.toml").write_text(profile, "utf-8")
    served = ServedNode(root / "node", profile=str(root / "print-only.toml"))
    add_accounts(served.deployment)
    try:
        yield served.start()
    finally:
        served.stop()


def test_the_not_recording_page_has_no_wcag_violation(
    print_only: ServedNode, contexts: Callable[..., Any], axe: Path
) -> None:
    """Guards WCAG 2.2 AA on the page a desk sees at an office that does not record."""
    page = contexts()
    login(page, print_only.url, "op1")
    for path in ("/record", "/record/new"):
        response = page.goto(f"{print_only.url}{path}")
        assert response is not None and response.status == 409, (path, response and response.status)
        assert page.locator("#not-recording").count() == 1
        found = violations(page, axe)
        assert not found, report(f"not recording ({path})", found)


def test_the_recording_pages_have_no_wcag_violation(
    stocked: Stocked, recording_pages: dict[str, list[dict[str, Any]]], axe: Path
) -> None:
    """Guards WCAG 2.2 AA on each recording step as the desk saw it, filled (biodata to summary)."""
    steps = {"record-biodata", "record-face", "record-finger", "record-iris", "record-signature", "record-summary"}
    assert set(recording_pages) == steps, recording_pages.keys()
    failures = [report(name, found) for name, found in recording_pages.items() if found]
    assert not failures, "\n".join(failures)


def test_the_languages_are_marked_and_the_devices_states_are_indonesian(stocked: Stocked, sessions: Sessions) -> None:
    """Guards WCAG 3.1.2 (language of parts), which axe cannot see: the language list's "English" is
    marked lang=en; and the devices' states, which the drivers word in English (READY...), are said
    in Indonesian ("siap"), so the page needs no English part."""
    page = sessions.page(stocked.regency.office, "spv1")
    page.goto(f"{stocked.regency.office.url}/dashboard")
    badges = page.locator("#devices .badge")
    badges.first.wait_for()
    assert badges.count() >= 1
    states = badges.evaluate_all("els => els.map((e) => [e.dataset.state, e.textContent])")
    assert all(label == text("term." + state.upper()) for state, label in states), states
    assert page.get_attribute("html", "lang") == "id"
    assert page.get_attribute("#language option[value=en]", "lang") == "en"
    assert page.get_attribute("#language option[value=id]", "lang") == "id"


#: The page's words, without what is not a sentence of the UI: parts marked as another language,
#: scripts, codes and serials, and what the operator typed (a textarea's text).
_WORDS_JS = """() => {
  const clone = document.body.cloneNode(true);
  const skipped = '[lang]:not([lang="id"]), script, style, noscript, template, textarea, code, .mono, option';
  clone.querySelectorAll(skipped).forEach((e) => e.remove());
  return clone.textContent;
}"""


def _english(words: str) -> list[str]:
    """Each English word with the words around it, to find it on the page; and any message that
    reached the page as its stored JSON instead of its text."""
    text = " ".join(words.split())
    raw = [text[max(0, m.start() - 30) : m.end() + 60] for m in re.finditer(r'\{"code":', text)]
    return raw + [
        text[max(0, m.start() - 30) : m.end() + 30]
        for word in sorted(set(english_words(text)))
        for m in [re.search(rf"\b{word}\b", text)]
        if m
    ]


def test_every_page_in_indonesian_has_no_english_word(stocked: Stocked, sessions: Sessions) -> None:
    """Guards "Indonesian from end to end": every page, for every role, at both node kinds, with a
    resident recorded, verified, printed and handed over (reasons, history, verdicts, print results,
    device states on it), and every page answering a form, shows no English word outside proper names
    and codes (tests/kits/language.py says which words)."""
    failures: list[str] = []
    for visit in pages(stocked):
        page = sessions.page(visit.node, visit.account)
        page.goto(visit.url)
        if visit.path.startswith("/dashboard"):
            page.locator("#devices .badge").first.wait_for()
        found = _english(page.evaluate(_WORDS_JS))
        if found:
            failures.append(f"{visit.name} ({visit.path}) as {visit.account}: {found}")
    for scene in scenes(stocked):
        page = sessions.page(scene.node, scene.account)
        page.goto(f"{scene.node.url}{scene.start}")
        scene.act(page)
        found = _english(page.evaluate(_WORDS_JS))
        if found:
            failures.append(f"{scene.name}: {found}")
    assert not failures, "\n".join(failures)


def test_tab_reaches_every_element_of_each_main_page_with_a_visible_focus(stocked: Stocked, sessions: Sessions) -> None:
    """Guards the keyboard focus: Tab from the top of each main page reaches every focusable element,
    never loses the focus nor gets stuck, and each stop shows a ring (outline or shadow) of 3:1 or
    more against what is behind it (the old light-blue outline was 2:1 on the page)."""
    failures = []
    for visit in main_pages(stocked):
        page = sessions.page(visit.node, visit.account)
        page.goto(visit.url)
        seen, problems = walk(page)
        assert seen, f"{visit.name}: Tab focused nothing"
        failures += [f"{visit.name} ({visit.path}): {problem}" for problem in problems]
    assert not failures, "\n".join(failures)


def test_the_layout_holds_at_the_offices_screen_sizes(
    stocked: Stocked, sessions: Sessions, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Guards the layout at 1280x720, 1366x768 and 1920x1080 on each main page: no sideways scroll
    (/admin/audit was 1,698 px wide), the top menu on one line (it wrapped at 1366 px), and no card
    cutting its content (the dashboards' "Stok menipis (< 50)" badge). Screenshots go to pytest's
    temporary folder, for a person to look at when this fails."""
    shots = tmp_path_factory.mktemp("layout")
    failures = []
    try:
        for width, height in SCREENS:
            for visit in main_pages(stocked):
                page = sessions.page(visit.node, visit.account)
                page.set_viewport_size({"width": width, "height": height})
                page.goto(visit.url)
                found = page.evaluate(_LAYOUT)
                name = f"{width}x{height}-{visit.name.replace(' ', '-').replace('(', '').replace(')', '')}"
                page.screenshot(path=str(shots / f"{name}.png"))
                if found["scroll"] > found["window"]:
                    failures.append(f"{name}: {found['scroll']} px wide in a {found['window']} px window")
                if found["menuLines"] > 1:
                    failures.append(f"{name}: the top menu takes {found['menuLines']} lines")
                if found["cut"]:
                    failures.append(f"{name}: cards wider than their box: {found['cut']}")
    finally:
        for page in sessions.pages.values():
            page.set_viewport_size(VIEWPORT)
    assert not failures, "\n".join(failures) + f"\n(screenshots in {shots})"


#: A resident typed by the keyboard alone (another NIK of Kampung Melayu: a woman born 17-08-1995).
TYPED = {**RESIDENT, "nik": "1771055708950004", "nama": "DEWI LESTARI"}
_SELECTS = {"f-jenis_kelamin", "f-golongan_darah", "f-agama", "f-status_perkawinan", "f-pekerjaan"}


def _keyboard_login(page: Any, base_url: str, username: str) -> None:
    """Log in with the keys alone: the username field has the focus when the page opens."""
    from webkit import PASSWORD

    page.goto(f"{base_url}/login")
    assert (focused(page) or {}).get("id") == "username"
    page.keyboard.type(username)
    tab_to(page, lambda el: el["id"] == "password")
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/dashboard"), page.url


def _follow(page: Any, href: str) -> None:
    """Tab to the link to ``href`` and press Enter on it."""
    tab_to(page, lambda el: el["tag"] == "a" and el["href"] == href)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_the_keyboard_alone_logs_in_and_records_a_residents_biodata(
    stocked: Stocked, contexts: Callable[..., Any]
) -> None:
    """Guards the biodata form for the keyboard alone: log in, open the recording from the menu, type
    every field (Tab between them, arrow keys in the lists, digits in the date) and save with Enter."""
    desk = stocked.regency.kecamatan
    page = contexts()
    _keyboard_login(page, desk.url, "op.kampung-melayu")
    _follow(page, "/record")
    assert (focused(page) or {}).get("id") == "new-recording"  # the page's first action has the focus
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert (focused(page) or {}).get("id") == "f-nik"
    page.keyboard.type(TYPED["nik"])
    wanted = {f"f-{field}": value for field, value in TYPED.items()}
    now = focused(page)
    while now is None or now["id"] != "save-biodata":
        page.keyboard.press("Tab")
        now = focused(page)
        assert now is not None, "the focus left the form before its save button"
        field = now["id"]
        if field in _SELECTS:
            choose(page, wanted[field])
        elif field == "f-tanggal_lahir":
            _type_date(page, TYPED["tanggal_lahir"])
            now = focused(page)
        elif field in wanted and now["value"] != wanted[field]:
            page.keyboard.press("ControlOrMeta+a")
            page.keyboard.type(wanted[field])
    # The NIK's live check has filled the region fields meanwhile (kecamatan and up).
    assert page.input_value("#f-kecamatan") and page.input_value("#f-provinsi")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/step/" in page.url, (page.url, page.inner_text("main"))
    enrolment_id = page.url.split("/record/", 1)[1].split("/", 1)[0]
    stored = stocked.regency.read(desk, lambda lc: lc.get(enrolment_id).biodata)
    assert (stored.nik.value, stored.nama, stored.tanggal_lahir.strftime("%d-%m-%Y")) == (
        TYPED["nik"],
        TYPED["nama"],
        TYPED["tanggal_lahir"],
    )
    chosen = (stored.agama, stored.pekerjaan, stored.kelurahan)
    assert chosen == (TYPED["agama"], TYPED["pekerjaan"], TYPED["kelurahan"])


def _type_date(page: Any, typed: str) -> None:
    """Type a date into the focused birth-date field as the desk writes it, dd-mm-yyyy (a text field
    with that pattern, not the browser's date picker, whose order follows the browser's locale)."""
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(typed)
    assert page.input_value("#f-tanggal_lahir") == typed


def test_the_keyboard_alone_confirms_an_adjudication(stocked: Stocked, contexts: Callable[..., Any]) -> None:
    """Guards a confirmation form for the keyboard alone: a supervisor opens the waiting case from the
    menu, picks the decision with Space, types the note, sends with Enter and confirms (the question
    the form asks first is answered as a keyboard user would: Enter on its OK). Runs last: it closes
    the case the other tests look at."""
    office = stocked.regency.office
    page = contexts()
    _keyboard_login(page, office.url, "spv1")
    _follow(page, "/adjudication")
    _follow(page, f"/adjudication/{stocked.twin}")
    radio = tab_to(page, lambda el: el["name"] == "decision")
    assert radio["value"] == "unique"
    page.keyboard.press("Space")
    tab_to(page, lambda el: el["id"] == "note")
    page.keyboard.type("Sidik jari berbeda: orang lain.")
    tab_to(page, lambda el: el["tag"] == "button" and el["text"] == text("adj.submit"))
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert asked, "the decision was sent without its confirmation question"
    assert page.url.endswith("/adjudication"), page.url
    assert page.locator(".flash.ok").count() == 1, page.inner_text("main")
    assert page.locator(f"#queue tr[data-enrolment='{stocked.twin}']").count() == 0
    state = stocked.regency.read(office, lambda lc: lc.get(stocked.twin).state.value)
    assert state != "ADJUDICATE_RECORD", f"{TWIN['nama']} still waits for adjudication"
