"""The operator guide served by the node (`/panduan`): for every role, offline (nothing it references
is outside the node), its screenshots served too, and every desk page's "Bantuan" link pointing at a
section that exists in it. Before this, the guide lived only in docs/, which a node installed from
the wheel does not have, and no page linked to it."""

from __future__ import annotations

import html.parser
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from ektp_plugins.web.ui import operator_guide
from ektp_plugins.web.ui.guide_render import GUIDE_FILE, SCREENSHOTS, GuideError, load_guide, render_guide
from flask import Flask
from webkit import Browser

from ektp_core.lifecycle.service import LifecycleService
from ektp_core.testing import make_enrolment
from ektp_core.testing.samples import queue_print_ready

Make = Callable[[str | None], Browser]


class _Refs(html.parser.HTMLParser):
    """Every URL a page refers to (src, href, action...), and every element id."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.ids: set[str] = set()
        self.help: list[tuple[str, str]] = []
        self._in_help: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("src", "href", "action", "srcset", "poster", "data"):
            if found.get(name):
                self.urls.append(str(found[name]))
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if found.get("id") == "help-link":
            self._in_help = str(found["href"])

    def handle_data(self, data: str) -> None:
        if self._in_help is not None and data.strip():
            self.help.append((self._in_help, data.strip()))
            self._in_help = None


def _refs(page: str) -> _Refs:
    parser = _Refs()
    parser.feed(page)
    return parser


def _guide_ids(b: Browser) -> set[str]:
    response = b.get("/panduan")
    assert response.status_code == 200
    return _refs(response.get_data(as_text=True)).ids


@pytest.mark.parametrize("username", ["op1", "spv1", "adm1"])
def test_the_guide_renders_for_every_role_in_the_uis_layout(browser: Make, username: str) -> None:
    b = browser(username)
    response = b.get("/panduan")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<nav class="menu"' in page  # the UI's layout (base.html), with this account's menu
    assert '<article class="guide card" lang="id">' in page and "<h1>Panduan operator</h1>" in page
    refs = _refs(page)
    assert {"dasbor", "perekaman", "antrean-cetak", "penyerahan", "bila-terjadi-masalah"} <= refs.ids
    assert "<table>" in page  # the troubleshooting table


def test_the_guide_needs_a_login(browser: Make) -> None:
    response = browser(None).get("/panduan")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert browser(None).get("/panduan/screenshots/login.png").status_code == 302


def test_the_guide_references_nothing_outside_the_node_and_its_images_load(browser: Make) -> None:
    b = browser("op1")
    page = b.get("/panduan").get_data(as_text=True)
    refs = _refs(page)
    outside = [url for url in refs.urls if not (url.startswith("/") or url.startswith("#")) or url.startswith("//")]
    assert not outside, f"the guide page refers outside the node: {outside}"
    images = [url for url in refs.urls if url.startswith("/panduan/screenshots/")]
    expected = sorted(p.name for p in SCREENSHOTS.glob("*.png"))
    assert sorted(url.rsplit("/", 1)[1] for url in images) == expected  # each screenshot, embedded once
    for url in images:
        response = b.get(url)
        assert response.status_code == 200 and response.mimetype == "image/png", url
        assert response.get_data()[:8] == b"\x89PNG\r\n\x1a\n", url
    # Only the guide's PNGs: nothing else of the package, nothing outside the folder.
    for name in ("../panduan-operator.md", "..%2Fpanduan-operator.md", "panduan-operator.md", "nope.png"):
        assert b.get(f"/panduan/screenshots/{name}").status_code == 404, name


def test_an_english_page_links_the_same_indonesian_guide_and_says_so(browser: Make) -> None:
    b = browser("op1")
    b.post("/language", {"language": "en", "next": "/dashboard"})
    page = b.get("/dashboard").get_data(as_text=True)
    assert _refs(page).help == [("/panduan#dasbor", "Help (Indonesian)")]
    assert 'hreflang="id"' in page
    guide = b.get("/panduan").get_data(as_text=True)
    assert "<title>Operator guide (in Indonesian)" in guide and "<h1>Panduan operator</h1>" in guide


def _desk_pages(ektp_service: LifecycleService, b: Browser) -> dict[str, str]:
    """Every desk page that can be reached on the minimal profile, with the data it needs."""
    enrolment = ektp_service.record(make_enrolment())
    job = ektp_service.jobs_by_id(queue_print_ready(ektp_service, seed=3, routing_reason="the office prints"))
    ektp_service.receive_blanks("17.71", ["BLK-000001"], actor="spv1")
    b.get("/print")
    started = b.post("/print/run", {"printer": "evolis-1", "job": job.id})
    assert started.status_code == 302, started.get_data(as_text=True)
    run = str(started.headers["Location"])
    deadline = time.monotonic() + 60
    while not b.get(run + "/status").get_json()["done"] and time.monotonic() < deadline:
        time.sleep(0.05)
    return {
        "/dashboard": "dasbor",
        "/record": "perekaman",
        "/record/new": "biodata",
        f"/record/{enrolment.id}/step/face": "pas-foto",
        f"/record/{enrolment.id}/step/finger": "sidik-jari",
        f"/record/{enrolment.id}/step/iris": "iris-mata",
        f"/record/{enrolment.id}/step/signature": "tanda-tangan",
        f"/record/{enrolment.id}/summary": "ringkasan",
        "/enrolments": "data-rekam",
        f"/enrolments/{job.enrolment_id}": "data-rekam",
        "/print": "antrean-cetak",
        run: "mencetak",
        "/blanks": "blangko",
        "/handover": "penyerahan",
    }


def test_every_desk_page_links_its_own_section_of_the_guide(browser: Make, ektp_service: LifecycleService) -> None:
    b = browser("spv1")
    ids = _guide_ids(b)
    pages = _desk_pages(ektp_service, b)
    pages.update({"/adjudication": "adjudikasi", "/admin/locked": "masuk-dan-keluar"})
    admin = browser("adm1")
    admin_pages = {
        "/dashboard": "dasbor",
        "/admin": "administrasi",
        "/admin/accounts": "administrasi",
        "/admin/devices": "administrasi",
        "/admin/audit": "administrasi",
    }
    for who, wanted in ((b, pages), (admin, admin_pages)):
        for path, section in wanted.items():
            response = who.get(path)
            # The adjudication queue asks the central system, which no test runs here: 503, same page.
            assert response.status_code in ((200, 503) if path == "/adjudication" else (200,)), path
            found = _refs(response.get_data(as_text=True)).help
            assert found == [(f"/panduan#{section}", "Bantuan")], (path, found)
            assert section in ids, (path, section)


def test_pages_without_a_section_show_no_link(browser: Make) -> None:
    assert 'id="help-link"' not in browser(None).get("/login").get_data(as_text=True)
    assert 'id="help-link"' not in browser("op1").get("/panduan").get_data(as_text=True)


def test_every_ui_page_of_the_app_has_a_section(web_app: Flask) -> None:
    """A new page of the UI gets its help link or is named here as not a desk page (a redirect, an
    image, JSON, a CSV or the login), so no page is forgotten."""
    not_pages = {
        "static",
        "auth.login",
        "auth.favicon",
        "dashboard.home",
        "dashboard.devices",
        "record.resume",
        "record.nik_check",
        "record.image",
        "record.preview",
        "enrolments.image",
        "handover.photo",
        "adjudication.photo",
        "adjudication.finger",
        "printing.preview",
        "printing.status",
        "printing.report",
        "guide.page",
        "guide.screenshot",
    }
    ids = set(load_guide(lambda name: name).anchors)
    for rule in web_app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.rule.startswith("/api/") or rule.endpoint in not_pages:
            continue
        arguments = {name: "face" for name in rule.arguments}
        section = operator_guide.section_of(rule.endpoint, arguments)
        assert section in ids, f"{rule.endpoint} ({rule.rule}) has no section of the guide: {section}"


def test_the_renderer_keeps_the_guide_offline_and_its_anchors_sound() -> None:
    """A bad edit of the guide fails here, not at a desk."""

    def url(name: str) -> str:
        return f"/img/{name}"

    good = render_guide("# T\n\n(satu)=\n## Satu\n\n![a](screenshots/a.png) [ke satu](#satu)\n", url)
    assert good.anchors == ("satu",) and good.images == ("a.png",) and good.title == "T"
    assert '<h2 id="satu">Satu</h2>' in good.html and '<img src="/img/a.png" alt="a" />' in good.html
    assert "<h1>" not in good.html  # the page shows the title itself
    bad = {
        "# T\n\n![a](https://example.com/a.png)\n": "only its own screenshots",
        "# T\n\n![a](screenshots/../../x.png)\n": "only its own screenshots",
        "# T\n\n[x](https://example.com)\n": "links only to its own sections",
        "# T\n\n(Satu)=\n## Satu\n": "lower-case words",
        "# T\n\n(satu)=\n## A\n\n(satu)=\n## B\n": "used twice",
        "# T\n\n(satu)=\nText.\n": "not followed by a heading",
        "## No title\n": "no first-level heading",
    }
    for source, said in bad.items():
        with pytest.raises(GuideError, match=said):
            render_guide(source, url)
    raw = render_guide("# T\n\n<script>alert(1)</script>\n", url)
    assert "<script>" not in raw.html  # raw HTML is escaped, never passed through


def test_the_packaged_guide_is_the_documentations_page() -> None:
    """docs/panduan-operator.md includes the packaged file: one source for the site and the node."""
    docs_page = Path(__file__).resolve().parents[3] / "docs" / "panduan-operator.md"
    assert GUIDE_FILE.is_file()
    text = docs_page.read_text("utf-8")
    assert "{include} ../plugins/web/ui/guide/panduan-operator.md" in text and ":relative-images:" in text
