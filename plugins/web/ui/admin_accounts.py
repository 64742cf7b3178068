"""Accounts and roles (part of the administration blueprint).

Accounts are made at the Dukcapil node and reach their site through the feed, so creating and
changing them happens there; a site node lists its own accounts read-only, except that a lockout can
be lifted where it happened (failed logins are counted per node). An administrator cannot disable or
demote their own account: the node would be left without anyone to undo it. A supervisor may lift
the lockout of this site's operators and supervisors (``/admin/locked``): they see who is at the desk.
"""

from __future__ import annotations

from typing import Any

from ektp_plugins.web.ui import access
from ektp_plugins.web.ui.admin import bp
from ektp_plugins.web.ui.app import _, current_user, node, say
from flask import flash, redirect, render_template, request, url_for

from ektp_core.domain.model import Operator, Role
from ektp_core.errors import Conflict, EktpError, InvalidValue, NotFound
from ektp_core.keys import crypto

#: The fewest characters a new password may have (the core refuses fewer than 8).
MIN_PASSWORD = 10
#: Passwords every guesser tries first (lower case, compared without spaces and punctuation).
_OBVIOUS = frozenset(
    {
        "password",
        "passw0rd",
        "katasandi",
        "rahasia",
        "rahasia123",
        "qwertyuiop",
        "1234567890",
        "0987654321",
        "asdfghjkl",
        "dukcapil",
        "dukcapil123",
        "ektp",
        "ektp1234",
        "admin",
        "admin123",
        "administrator",
        "indonesia",
        "bismillah",
        "selamatpagi",
        "superuser",
    }
)


def password_problem(password: str, username: str) -> str | None:
    """The catalogue key of what is wrong with a new password, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD:
        return "adm.pw_short"
    plain = "".join(ch for ch in password.lower() if ch.isalnum())
    if plain in _OBVIOUS or len(set(password)) < 4:
        return "adm.pw_obvious"
    if username and username.lower() in password.lower():
        return "adm.pw_username"
    kinds = sum(
        (any(c.isalpha() for c in password), any(c.isdigit() for c in password), any(not c.isalnum() for c in password))
    )
    if kinds < 2:
        return "adm.pw_kinds"
    return None


def _me() -> str:
    user = current_user()
    assert user is not None  # the guard let only a logged-in administrator through
    return user.username


def _render(form: dict[str, str] | None = None, error: str | None = None, status: int = 200) -> Any:
    n = node()
    wanted = request.args.get("site", "") if n.is_dukcapil else n.site.code
    listed = n.accounts.accounts(wanted or None)
    sites = {s.code: s for s in n.deployment.profile.sites}
    body = render_template(
        "admin/accounts.html",
        accounts=listed,
        sites=sites,
        roles=list(Role),
        site=wanted,
        form=form or {},
        error=error,
        me=_me(),
        editable=n.is_dukcapil,
        min_password=MIN_PASSWORD,
    )
    return body, status


@bp.get("/admin/accounts")
@access.allow(access.ADMINS)
def accounts() -> Any:
    """Every account (the Dukcapil node: of the regency, ``?site=`` for one site) with its locked state."""
    return _render()


@bp.post("/admin/accounts/new")
@access.allow(access.ADMINS, dukcapil_only=True)
def create_account() -> Any:
    """Create an account bound to a site, with a role and an initial password."""
    n = node()
    form = {k: request.form.get(k, "").strip() for k in ("username", "full_name", "role", "site_code")}
    form["username"] = form["username"].lower()
    password, again = request.form.get("password", ""), request.form.get("password_again", "")
    sites = {s.code for s in n.deployment.profile.sites}
    problem = None
    if not all(form.values()):
        problem = "adm.missing"
    elif form["role"] not in {r.value for r in Role}:
        problem = "adm.bad_role"
    elif form["site_code"] not in sites:
        problem = "adm.bad_site"
    elif password != again:
        problem = "adm.pw_mismatch"
    else:
        problem = password_problem(password, form["username"])
    if problem is not None:
        return _render(form, _(problem), 400)
    try:
        operator = Operator(
            username=form["username"],
            full_name=form["full_name"],
            role=form["role"],
            site_code=form["site_code"],
            password_hash=crypto.hash_password(password),
        )
    except InvalidValue as exc:
        key = "adm.bad_username" if exc.field == "username" else "adm.bad_name"
        return _render(form, _(key), 400)
    try:
        n.lifecycle.add_operator(operator, actor=_me())
    except Conflict:
        return _render(form, _("adm.taken", username=operator.username), 409)
    flash(_("adm.created", username=operator.username), "ok")
    return redirect(url_for("admin.accounts"))


def _change(username: str, **change: Any) -> Any:
    try:
        node().accounts.change(username, actor=_me(), **change)
    except NotFound:
        flash(_("adm.unknown", username=username), "error")
        return redirect(url_for("admin.accounts"))
    except EktpError as exc:
        flash(_("adm.refused", error=say(exc)), "error")
        return redirect(url_for("admin.accounts"))
    return None


@bp.post("/admin/accounts/<username>/role")
@access.allow(access.ADMINS, dukcapil_only=True)
def change_role(username: str) -> Any:
    """A new role; the account's open sessions end (it logs in again with the new rights)."""
    role = request.form.get("role", "")
    if role not in {r.value for r in Role}:
        flash(_("adm.bad_role"), "error")
        return redirect(url_for("admin.accounts"))
    if username == _me():
        flash(_("adm.not_self"), "error")
        return redirect(url_for("admin.accounts"))
    failed = _change(username, role=role)
    if failed is not None:
        return failed
    flash(_("adm.role_changed", username=username, role=_("role." + role)), "ok")
    return redirect(url_for("admin.accounts"))


@bp.post("/admin/accounts/<username>/password")
@access.allow(access.ADMINS, dukcapil_only=True)
def reset_password(username: str) -> Any:
    """A new password set by the administrator (told to its owner in person); sessions end."""
    password, again = request.form.get("password", ""), request.form.get("password_again", "")
    problem = "adm.pw_mismatch" if password != again else password_problem(password, username)
    if problem is not None:
        flash(_("adm.pw_for", username=username, problem=_(problem)), "error")
        return redirect(url_for("admin.accounts"))
    failed = _change(username, password=password)
    if failed is not None:
        return failed
    flash(_("adm.password_reset", username=username), "ok")
    return redirect(url_for("admin.accounts"))


@bp.post("/admin/accounts/<username>/active")
@access.allow(access.ADMINS, dukcapil_only=True)
def set_active(username: str) -> Any:
    """Disable (its sessions end at once) or enable an account."""
    active = request.form.get("active") == "1"
    if username == _me() and not active:
        flash(_("adm.not_self"), "error")
        return redirect(url_for("admin.accounts"))
    failed = _change(username, active=active)
    if failed is not None:
        return failed
    flash(_("adm.enabled" if active else "adm.disabled", username=username), "ok")
    return redirect(url_for("admin.accounts"))


def _locked_here() -> list[tuple[Operator, Any]]:
    """The locked accounts a supervisor of this node may unlock: this site's operators and supervisors."""
    n = node()
    return [
        (op, until) for op, until in n.accounts.accounts(n.site.code) if until is not None and op.role is not Role.ADMIN
    ]


@bp.get("/admin/locked")
@access.allow(access.SUPERVISORS | access.ADMINS)
def locked() -> Any:
    """The locked accounts of this site, for a supervisor who checked who is at the desk."""
    return render_template("admin/locked.html", accounts=_locked_here())


@bp.post("/admin/accounts/<username>/unlock")
@access.allow(access.SUPERVISORS | access.ADMINS)
def unlock(username: str) -> Any:
    """Lift a lockout before it runs out (at the node where it happened). An administrator may unlock
    any account; a supervisor only this site's operators and supervisors."""
    user = current_user()
    assert user is not None
    back = url_for("admin.accounts") if user.role is Role.ADMIN else url_for("admin.locked")
    if user.role is not Role.ADMIN and username not in {op.username for op, _until in _locked_here()}:
        flash(_("adm.not_locked", username=username), "info")
        return redirect(back)
    if node().accounts.unlock(username, actor=user.username):
        flash(_("adm.unlocked", username=username), "ok")
    else:
        flash(_("adm.not_locked", username=username), "info")
    return redirect(back)
