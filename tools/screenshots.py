"""Regenerate the operator guide's screenshots from a live regency.

    python tools/screenshots.py [--out plugins/web/ui/guide/screenshots] [--lang id]

The guide and its screenshots are package data of the web plugin (plugins/web/ui/guide/), which the
node serves at /panduan and docs/panduan-operator.md includes.

It brings up the same small Kota Bengkulu as the browser end-to-end tests (tests/e2e/regency.py: the
Dukcapil node, the Kampung Melayu kecamatan node, the central-system and SBI emulators, the sync and
verification loops), records one made-up resident through the browser, verifies, prints and hands
over her card, and saves each main page as the operators see it on a 1366x768 desk screen. All data
is synthetic. It drives Debian's Chromium (``$EKTP_CHROMIUM`` or /usr/bin/chromium) with Playwright,
never Playwright's own browsers. Each PNG is reduced to a 256-colour palette to stay small.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The end-to-end tests' helpers (tests/e2e) and the kits they share with other tests (tests/kits, on
# pytest's pythonpath).
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "kits")]

#: Where the guide's screenshots live (package data of the web plugin: the node serves them).
SCREENSHOTS = ROOT / "plugins" / "web" / "ui" / "guide" / "screenshots"
#: Every screenshot the guide embeds, in the order of an office's day (file name without ".png").
PAGES = (
    "login",
    "dashboard",
    "record-biodata",
    "record-face",
    "record-finger",
    "record-iris",
    "record-signature",
    "record-summary",
    "enrolment",
    "print-queue",
    "print-run",
    "blanks",
    "handover",
    "adjudication",
    "admin",
)
#: The largest PNG kept in the repository.
MAX_BYTES = 250_000


def save_png(raw: bytes, path: Path) -> int:
    """Write a screenshot as a palette PNG (a UI has few colours; photos dither acceptably); its size."""
    from PIL import Image

    image = Image.open(io.BytesIO(raw)).convert("RGB")
    small = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    small.save(buffer, "PNG", optimize=True)
    data = buffer.getvalue()
    path.write_bytes(data)
    return len(data)


def take(out: Path, lang: str, echo: Callable[[str], object] = print) -> list[Path]:
    """Bring up the regency, walk the pages and save the screenshots into ``out``; the files written."""
    from e2e.e2ekit import LAUNCH_ARGS, VIEWPORT, find_chromium, login
    from e2e.flows import RESIDENT, record_resident, wait_until
    from e2e.regency import Regency
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("no Chromium: install it (apt-get install chromium) or set EKTP_CHROMIUM")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def shot(page: Any, name: str) -> None:
        assert name in PAGES, name
        path = out / f"{name}.png"
        # Scrolled to the top: the guide shows what the operator sees first.
        page.evaluate("window.scrollTo(0, 0)")
        size = save_png(page.screenshot(full_page=False), path)
        written.append(path)
        echo(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} ({size // 1024} KB)")

    with tempfile.TemporaryDirectory(prefix="ektp-screenshots-") as tmp, sync_playwright() as playwright:
        echo("Starting the regency (two nodes, emulators, loops)...")
        regency = Regency(Path(tmp)).start()
        browser = playwright.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS)
        try:
            locale = {"id": "id-ID", "en": "en-GB"}[lang]

            def page_of(url: str, username: str | None) -> Any:
                page = browser.new_context(viewport=VIEWPORT, locale=locale).new_page()
                page.set_default_timeout(30_000)
                if username:
                    login(page, url, username)
                return page

            office_url, desk_url = regency.office.url, regency.kecamatan.url
            first = page_of(office_url, None)
            first.goto(f"{office_url}/login")
            shot(first, "login")

            desk = page_of(desk_url, "op.kampung-melayu")
            enrolment_id = record_resident(desk, desk_url, shot=shot)

            office = page_of(office_url, "op1")
            detail = f"{office_url}/enrolments/{enrolment_id}"

            def queued() -> bool:
                office.goto(f"{office_url}/print")
                return office.locator(f"#queue tr:has-text('{RESIDENT['nik']}')").count() == 1

            wait_until(queued, timeout=120, message="the card never reached the office's print queue")
            shot(office, "print-queue")
            with office.expect_navigation():
                office.locator(f"#queue tr:has-text('{RESIDENT['nik']}') button[name=job]").click()
            office.wait_for_selector("#run[data-done=true]", timeout=60_000)
            office.reload()
            shot(office, "print-run")
            office.goto(detail)
            shot(office, "enrolment")
            office.goto(f"{office_url}/blanks")
            shot(office, "blanks")
            office.goto(f"{office_url}/handover?nik={RESIDENT['nik']}")
            shot(office, "handover")
            office.goto(f"{office_url}/dashboard")
            office.wait_for_timeout(1500)  # the device status arrives by a fetch after the page
            shot(office, "dashboard")

            supervisor = page_of(office_url, "spv1")
            supervisor.goto(f"{office_url}/adjudication")
            shot(supervisor, "adjudication")
            admin = page_of(office_url, "adm1")
            admin.goto(f"{office_url}/admin")
            shot(admin, "admin")
        finally:
            browser.close()
            regency.stop()
    missing = [name for name in PAGES if out / f"{name}.png" not in written]
    if missing:
        raise SystemExit(f"not taken: {', '.join(missing)}")
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--out`` (default plugins/web/ui/guide/screenshots) and ``--lang`` (id or en)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=SCREENSHOTS)
    parser.add_argument("--lang", choices=("id", "en"), default="id")
    args = parser.parse_args(argv)
    written = take(args.out, args.lang)
    too_big = [p for p in written if p.stat().st_size > MAX_BYTES]
    if too_big:
        print(f"larger than {MAX_BYTES // 1000} KB: {', '.join(p.name for p in too_big)}", file=sys.stderr)
        return 1
    print(f"{len(written)} screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
