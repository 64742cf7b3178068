"""The keyboard alone, in the browser: moving the focus with Tab, and what the focused element shows.

Each helper presses real keys (Playwright's keyboard) and reads the page only to decide which key to
press next, as a person looks at the screen."""

from __future__ import annotations

from typing import Any

#: What the focused element is: its id, tag, type, value, whether a focus indicator is drawn (an
#: outline of 2 px or more, or a box-shadow), the outline's contrast with what is behind the element
#: (WCAG 1.4.11 asks 3:1 of a focus indicator), and whether the element is on screen.
_FOCUSED = r"""() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  // A stable key per element (two identical buttons are still two stops of the Tab order).
  if (!el.dataset.tabKey) { window.tabKeys = (window.tabKeys || 0) + 1; el.dataset.tabKey = String(window.tabKeys); }
  const style = getComputedStyle(el);
  const outlined = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
  const ring = outlined || style.boxShadow !== "none";
  // The outline is drawn outside the element: its contrast is against what is behind the element.
  const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
  let behind = el.parentElement, back = [255, 255, 255];
  while (behind) {
    const c = rgb(getComputedStyle(behind).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] === 1)) { back = c.slice(0, 3); break; }
    behind = behind.parentElement;
  }
  const lum = (c) => { const [r, g, b] = c.slice(0, 3).map((v) => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const [hi, lo] = [lum(rgb(style.outlineColor)), lum(back)].sort((a, b) => b - a);
  const contrast = outlined ? (hi + 0.05) / (lo + 0.05) : null;
  const box = el.getBoundingClientRect();
  return { key: el.dataset.tabKey, id: el.id, tag: el.tagName.toLowerCase(), type: el.type || "", value: el.value ?? "",
           name: el.getAttribute("name") || "", text: (el.innerText || el.value || "").trim().slice(0, 60),
           href: el.getAttribute("href") || "", ring: ring, contrast: contrast,
           outline: style.outlineStyle + " " + style.outlineWidth,
           shown: box.width > 0 && box.height > 0, path: el.outerHTML.slice(0, 120) };
}"""
#: Everything Tab should reach: visible, enabled, not taken out of the order, not folded in a closed
#: <details>, and one radio button of a group (the checked one, else the first).
_TABBABLE = """(unseen) => [...document.querySelectorAll(
  'a[href], button, input:not([type=hidden]), select, textarea, [tabindex], summary')].filter((el) =>
  !el.disabled && el.tabIndex >= 0 && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden"
  && !el.closest("details:not([open]) > :not(summary)")
  && !(el.type === "radio" && !el.checked && (el.form || document).querySelector(
       `input[type=radio][name="${el.name}"]:checked`))
  && !(el.type === "radio" && !el.checked && el !== (el.form || document).querySelector(
       `input[type=radio][name="${el.name}"]`))
  && !(unseen && el.dataset.tabKey)
).map((el) => el.outerHTML.slice(0, 120))"""


_TO_TOP = """() => {
  window.scrollTo(0, 0);
  const start = document.createElement("span");
  start.tabIndex = -1;
  document.body.prepend(start);
  start.focus();
  start.remove();
}"""
#: Inputs whose parts Tab visits one by one.
_SEGMENTED = ("date", "time", "datetime-local", "month", "week")


def focused(page: Any) -> dict[str, Any] | None:
    """The focused element's description, or None when the focus is on nothing (the body)."""
    found: dict[str, Any] | None = page.evaluate(_FOCUSED)
    return found


def tabbable(page: Any) -> int:
    """How many elements of the page Tab should reach."""
    return len(page.evaluate(_TABBABLE, False))


def tab_to(page: Any, wanted: Any, *, limit: int = 80, back: bool = False) -> dict[str, Any]:
    """Press Tab (Shift+Tab with ``back``) until ``wanted(focused)`` holds; the focused element."""
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        now = focused(page)
        if now is not None and wanted(now):
            return now
    raise AssertionError(f"{limit} presses of Tab never reached the element wanted on {page.url}")


def choose(page: Any, value: str) -> None:
    """On a focused closed <select>, press the arrow keys until ``value`` is chosen."""
    now = focused(page)
    assert now is not None and now["tag"] == "select", now
    for key in ("Home", *["ArrowDown"] * 60):
        if now is not None and now["value"] == value:
            return
        page.keyboard.press(key)
        now = focused(page)
    raise AssertionError(f"the arrow keys never chose {value!r} in #{now and now['id']}")


def walk(page: Any, limit: int = 250) -> tuple[list[dict[str, Any]], list[str]]:
    """Tab from the top of the page through every element, then Shift+Tab back; the elements focused
    in order, and the problems found: focus lost (on nothing) before the end, stuck on one element, no
    indicator or a faint one, an element never reached, or a way back that differs from the way out."""
    # Start before the first element whatever has the focus (autofocus): Tab goes on from where a
    # focused element was, even once it has been removed. And start after the browser's autofocus,
    # which runs at a rendering step after the load.
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    page.evaluate(_TO_TOP)
    seen: list[dict[str, Any]] = []
    problems: list[str] = []
    total = tabbable(page)
    stays = 0
    for _ in range(min(limit, 3 * total + 2)):
        page.keyboard.press("Tab")
        now = focused(page)
        if now is None:
            break  # past the last element: the browser's own controls
        if seen and now["key"] == seen[-1]["key"]:
            stays += 1
            # A date field takes four presses (day, month, year, its calendar button); more is a trap.
            if stays > (3 if now["type"] in _SEGMENTED else 0):
                problems.append(f"focus stuck on {now['path']}")
                break
            continue
        stays = 0
        if not now["ring"]:
            problems.append(f"no focus indicator on {now['path']} (outline {now['outline']})")
        elif now["contrast"] is not None and now["contrast"] < 3:
            problems.append(f"focus ring of contrast {now['contrast']:.2f} (under 3:1) on {now['path']}")
        if not now["shown"]:
            problems.append(f"focus on an element not shown: {now['path']}")
        if seen and now["key"] == seen[0]["key"]:
            break  # wrapped round to the first element
        seen.append(now)
    if len({s["key"] for s in seen}) < total:
        missed = page.evaluate(_TABBABLE, True)
        problems.append(f"Tab reached {len(seen)} of the page's {total} focusable elements, not: {missed[:4]}")
    if seen and not problems:
        problems += _walk_back(page, seen)
    return seen, problems


def _stop(element: dict[str, Any]) -> str:
    """One stop of the Tab order: an element, or a radio group (entered on its first or last button)."""
    return f"radio:{element['name']}" if element["type"] == "radio" else str(element["key"])


def _walk_back(page: Any, seen: list[dict[str, Any]]) -> list[str]:
    """From the last element, Shift+Tab must visit the same stops in reverse, up to the first."""
    page.evaluate("(key) => document.querySelector(`[data-tab-key='${key}']`).focus()", seen[-1]["key"])
    wanted = [_stop(s) for s in reversed(seen)]
    wanted = [stop for i, stop in enumerate(wanted) if i == 0 or stop != wanted[i - 1]]
    back = [wanted[0]]
    for _ in range(4 * len(seen) + 2):
        page.keyboard.press("Shift+Tab")
        now = focused(page)
        if now is None or _stop(now) == wanted[0] or len(back) == len(wanted):
            break
        if _stop(now) != back[-1]:  # a date field's parts are one stop
            back.append(_stop(now))
    if back != wanted:
        return [f"Shift+Tab from the last element went {len(back)} stops back, not the {len(wanted)} Tab went"]
    return []
