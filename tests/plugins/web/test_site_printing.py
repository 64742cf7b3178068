"""What a site that prints shows and one that does not (issue 14, defect 10): the print queue and the
blanks only where cards are printed, and the low-stock warning against the site's own threshold, its
text and its comparison agreeing ("< N" shown only below N)."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from ektp_plugins.web.settings import LOW_STOCK, WebSettings
from ektp_plugins.web.ui.app import node
from ektp_plugins.web.ui.i18n import Catalogues
from flask import Flask
from markupsafe import escape

from ektp_core.config import load_profile
from ektp_core.errors import ConfigError
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.node_init import profile_text

TEXTS = Catalogues()
SITE = "17.71"


def _low(n: int) -> str:
    """The warning as the page's HTML carries it ("<" escaped)."""
    return str(escape(TEXTS.text("id", "dash.low_stock", n=n)))


def _pages(b) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {path: b.get(path).get_data(as_text=True) for path in ("/dashboard?scope=site", "/print", "/blanks")}


@pytest.mark.ektp_profile("kota-bengkulu", site="17.71.05")
def test_a_kecamatan_that_does_not_print_has_no_queue_blanks_or_stock_warning(browser) -> None:  # type: ignore[no-untyped-def]
    """Semi-vertical Kota Bengkulu: Kampung Melayu records only. Before, its menu offered the print
    queue and the blanks, and its dashboard warned "Stok menipis" for ever (0 blanks < 50)."""
    b = browser("op1")
    dashboard = b.get("/dashboard").get_data(as_text=True)
    assert 'href="/print"' not in dashboard and 'href="/blanks"' not in dashboard
    assert "data-low-stock" not in dashboard and 'id="blank-stock"' not in dashboard
    assert TEXTS.text("id", "nav.record") in dashboard  # it still records
    for path in ("/print", "/blanks", "/blanks/report.csv"):
        answer = b.get(path)
        assert answer.status_code == 404, path
        assert TEXTS.text("id", "errors.not_printing") in answer.get_data(as_text=True)


def test_the_warning_shows_only_below_the_threshold(browser, ektp_service: LifecycleService, web_app: Flask) -> None:  # type: ignore[no-untyped-def]
    """The Dukcapil office with a delivery of 50: one card spoiled (49 left) is not "low" under the
    default; a site's own threshold is used and named; at exactly N nothing shows, at N - 1 it does."""
    serials = [f"BLK-{n:06d}" for n in range(1, 51)]
    ektp_service.receive_blanks(SITE, serials, actor="spv1")
    ektp_service.spoil_blank(serials[0], actor="op1", reason="tergores")
    b = browser("op1")
    for path, page in _pages(b).items():
        assert "Stok menipis" not in page, path

    with web_app.app_context():
        n = node()
        n.settings = attrs.evolve(n.settings, low_stock_sites={SITE: 49})
    for path, page in _pages(b).items():
        assert "Stok menipis" not in page, path  # 49 is not below 49
    with web_app.app_context():
        n.settings = attrs.evolve(n.settings, low_stock_sites={SITE: 50})
    for path, page in _pages(b).items():
        assert _low(50) in page, path  # 49 < 50: the text names the threshold compared with


def test_the_thresholds_are_read_from_the_profile(tmp_path: Path) -> None:
    """``[web] low_stock`` (default :data:`LOW_STOCK`) and ``[web] low_stock_sites`` per site."""
    text, _source = profile_text("minimal")
    assert WebSettings.from_profile(load_profile(_write(tmp_path, text))).low_stock_at(SITE) == LOW_STOCK == 20
    chosen = WebSettings.from_profile(
        load_profile(_write(tmp_path, text + '\n[web]\nlow_stock = 10\nlow_stock_sites = { "17.71" = 100 }\n'))
    )
    assert chosen.low_stock_at(SITE) == 100 and chosen.low_stock_at("17.71.05") == 10
    for bad in ('{ "17.71" = -1 }', '{ "17.71" = "banyak" }', '{ "17.71" = true }'):
        with pytest.raises(ConfigError, match="low_stock_sites"):
            load_profile(_write(tmp_path, text + f"\n[web]\nlow_stock_sites = {bad}\n"))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.toml"
    path.write_text(text, "utf-8")
    return path
