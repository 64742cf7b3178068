"""How each page's commands run here: the state the page assumes, and what is substituted.

The mapping, page by page, of what cannot be used here verbatim:

* ``/srv/ektp/...``, ``/var/backups/ektp/``, ``/etc/ektp/`` become folders of the scratch folder;
  ``sudo -u ektp`` goes (the test's user is the service user) and ``/srv/ektp/venv/bin/ektp`` or
  ``.venv/bin/ektp`` is this checkout's ``ektp`` (every page: ``runner.COMMON_REPLACE``);
* a PostgreSQL URL becomes a fresh database: SQLite, or a new database on the server that
  ``EKTP_TEST_DATABASE_URL`` names (``tox -e pg``);
* the Dukcapil node's host name (behind its TLS proxy) becomes ``ektp serve`` on 127.0.0.1 at a free
  port, started by the page (the deployment guide's own unit) or its set-up; fixed ports (5000, the
  demo's 5000-5004, the tutorial's 8731) become free ones;
* the central system is ``ektp central-emulator`` on a free port, and the deployment's profile
  points its ``[verification] url`` there (as ``ektp demo`` does); its token is what the unit's
  ``EnvironmentFile`` would give;
* a join code shown as ``CODE`` or an example code is the one the page's ``join-code`` printed;
* ``python -m pip install -e .`` installs into a throw-away venv layered on this environment (see
  ``runner.layered_venv``), without build isolation when this environment can build the wheel, so
  no package index is needed and the environment running the tests is not changed;
* a password prompt gets a password on standard input.
"""

from __future__ import annotations

import re
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

from .runner import DocRunFailed, Http, Listening, Plan, Run, Said, Step, free_port, free_ports

ADMIN_PASSWORD = "sandi-admin-yang-kuat-1"
TYPED_TWICE = (("New password", ADMIN_PASSWORD), ("Repeat for confirmation", ADMIN_PASSWORD))
WALK = Step(lock="port 4800", timeout=600)


def _point_verification_at(run: Run, deployment: Path, url: str) -> None:
    """Point a deployment's profile at the test's central system, as ``ektp demo`` does for its own."""
    profile = deployment / "profile.toml"
    text, count = re.subn(r'(?m)^url = "http://127\.0\.0\.1:\d+/api/v1"$', f'url = "{url}"', profile.read_text("utf-8"))
    assert count == 1, f"{profile}: no [verification] url to point at the test's central system"
    profile.write_text(text, "utf-8")


def _central(run: Run) -> None:
    """The central system: ``ektp central-emulator`` on a free port, with a token."""
    port = free_port()
    run.vars["central_url"] = f"http://127.0.0.1:{port}/api/v1"
    run.vars["central_token"] = "docs-run-central-token-0123456789"
    run.start(
        "central system",
        f"ektp central-emulator --port {port} --data {run.root}/central --token {run.vars['central_token']}",
        Http("{central_url}/health"),
    )


def _dukcapil_node(run: Run, folder: str, admin: str) -> None:
    """A Dukcapil node of Kota Bengkulu with its first administrator, serving its API at a free port."""
    run.ektp("init", str(run.root / folder), "--profile", "kota-bengkulu")
    run.ektp(
        "account",
        "add",
        admin,
        "--role",
        "admin",
        "--password-env",
        "ADMIN_PW",
        "-d",
        str(run.root / folder),
        env={"ADMIN_PW": ADMIN_PASSWORD},
    )
    run.vars["dukcapil_port"] = str(free_port())
    run.start(
        "the Dukcapil node",
        f"ektp serve --port {run.vars['dukcapil_port']} -d {run.root / folder}",
        Http("http://127.0.0.1:{dukcapil_port}/api/v1/health"),
    )


# -- docs/deployment.md ------------------------------------------------------------------------------


def _deployment_setup(run: Run) -> None:
    run.vars["db_dukcapil"] = run.database("dukcapil")
    run.vars["db_restored"] = run.database("restored")
    run.vars["dukcapil_port"] = str(free_port())
    run.vars["passphrase"] = "frasa sandi cadangan yang panjang"
    (run.root / "var/backups/ektp").mkdir(parents=True)
    etc = run.root / "etc/ektp"
    etc.mkdir(parents=True)
    secret = etc / "backup-passphrase"
    secret.write_text(run.vars["passphrase"] + "\n", "utf-8")
    secret.chmod(0o600)
    _central(run)


def _verify_unit_before(run: Run) -> None:
    _point_verification_at(run, run.root / "srv/ektp/dukcapil", run.vars["central_url"])


def _office_accounts(run: Run) -> None:
    """'The office's accounts arrive through the sync (created at the Dukcapil node, bound to the
    site)': the site's administrator, made at the Dukcapil node as the web UI would."""
    run.ektp(
        "account",
        "add",
        "admin.kecamatan",
        "--role",
        "admin",
        "--site",
        "17.71.05",
        "--as",
        "admin.dukcapil",
        "--password-env",
        "ADMIN_PW",
        "-d",
        str(run.root / "srv/ektp/dukcapil"),
        env={"ADMIN_PW": ADMIN_PASSWORD},
    )


def _accounts_arrived(run: Run, output: str) -> None:
    listed = run.ektp("account", "list", "-d", str(run.root / "srv/ektp/node"))
    assert "admin.kecamatan" in listed, f"the site's account did not arrive through the sync:\n{listed}"


def _backup_made(run: Run, output: str) -> None:
    [made] = sorted((run.root / "var/backups/ektp").glob("dukcapil-*.ektpbak"))
    run.vars["backup_file"] = str(made)


def _restored(run: Run, output: str) -> None:
    assert "audit chain intact" in output, output
    listed = run.ektp("account", "list", "-d", str(run.root / "srv/ektp/dukcapil-restored"))
    assert "admin.dukcapil" in listed and "admin.kecamatan" in listed, listed


def _systemctl_stop(run: Run) -> None:
    for unit in ("ektp-dukcapil", "ektp-verify"):
        run.stop(unit)


def _systemctl_start(run: Run) -> None:
    for unit in ("ektp-dukcapil", "ektp-verify"):
        run.restart(unit)


def _rotated(run: Run, output: str) -> None:
    # The rotated site still talks to the Dukcapil node: a round of the sync loop goes through.
    run.ektp("sync", "run", "--once", "-d", str(run.root / "srv/ektp/node"))


DEPLOYMENT = Plan(
    state="A Dukcapil node and a kecamatan node on this machine, as the guide sets them up: the "
    "server's PostgreSQL database is a fresh database (SQLite unless EKTP_TEST_DATABASE_URL is "
    "set); a unit's ExecStart runs as a service where the unit is shown (systemctl then has "
    "nothing left to do) and is stopped with SIGTERM as systemd does; the site joins the node's "
    "own address (no TLS proxy); the central system is the emulator.",
    setup=_deployment_setup,
    database=True,
    replace=(
        ("'postgresql+psycopg://ektp@/ektp?host=/var/run/postgresql'", "'{db_dukcapil}'"),
        ("'postgresql+psycopg://ektp@/ektp_restored?host=/var/run/postgresql'", "'{db_restored}'"),
        ("/srv/ektp", "{root}/srv/ektp"),
        ("/var/backups/ektp", "{root}/var/backups/ektp"),
        ("/etc/ektp", "{root}/etc/ektp"),
        ("--port 5000", "--port {dukcapil_port}"),
        ("https://ektp.dukcapil.example.go.id/api/v1", "http://127.0.0.1:{dukcapil_port}/api/v1"),
        (" CODE ", " {code} "),
        ("EKTP_BACKUP_PASSPHRASE=...", "EKTP_BACKUP_PASSPHRASE='{passphrase}'"),
        ("dukcapil-2026-11-27.ektpbak", "{backup_file}"),
    ),
    steps={
        'sudo -u ektp /srv/ektp/venv/bin/ektp account add admin.dukcapil --role admin --full-name "Nama Admin" '
        "-d /srv/ektp/dukcapil": Step(tty=TYPED_TWICE),
        "/srv/ektp/venv/bin/ektp serve --host 127.0.0.1 --port 5000 --trusted-proxy 127.0.0.1 --quiet "
        "-d /srv/ektp/dukcapil": Step(
            service=Http("http://127.0.0.1:{dukcapil_port}/api/v1/health"),
            name="ektp-dukcapil",
            stop_signal=signal.SIGTERM,
        ),
        "/srv/ektp/venv/bin/ektp verify run --interval 30 -d /srv/ektp/dukcapil": Step(
            service=Said(r"sent \d+, verdicts \d+"),
            name="ektp-verify",
            stop_signal=signal.SIGTERM,
            env=(("EKTP_CENTRAL_TOKEN", "{central_token}"),),
            before=_verify_unit_before,
        ),
        "ektp sync join-code 17.71.05 --as admin.dukcapil -d /srv/ektp/dukcapil": Step(capture="code"),
        "/srv/ektp/venv/bin/ektp sync run --interval 30 -d /srv/ektp/node": Step(
            service=Said(r"pulled \d+ item"),
            name="ektp-sync",
            stop_signal=signal.SIGTERM,
            stop_when_ready=True,
            before=_office_accounts,
            after=_accounts_arrived,
        ),
        'EKTP_BACKUP_PASSPHRASE="$(cat /etc/ektp/backup-passphrase)" ektp backup '
        "/var/backups/ektp/dukcapil-$(date +%F).ektpbak -d /srv/ektp/dukcapil": Step(after=_backup_made),
        "EKTP_BACKUP_PASSPHRASE=... ektp restore dukcapil-2026-11-27.ektpbak /srv/ektp/dukcapil-restored "
        "--database-url 'postgresql+psycopg://ektp@/ektp_restored?host=/var/run/postgresql'": Step(after=_restored),
        "ektp sync rotate-key CODE --as admin.kecamatan -d /srv/ektp/node": Step(after=_rotated),
    },
    mirror={
        "sudo systemctl stop ektp-dukcapil ektp-verify": _systemctl_stop,
        "sudo systemctl start ektp-dukcapil ektp-verify": _systemctl_start,
    },
)


# -- docs/sync.md ----------------------------------------------------------------------------------


def _sync_setup(run: Run) -> None:
    _dukcapil_node(run, "srv/ektp", "admin")
    run.ektp("init", str(run.root / "site"), "--profile", "kota-bengkulu", "--site", "17.71.05")


SYNC = Plan(
    state="A Dukcapil node at /srv/ektp (with an administrator `admin`) serving its API at a free port, "
    "and a new site node for 17.71.05 (folder site); `dukcapil$` and `site$` are shells in those "
    "folders.",
    setup=_sync_setup,
    prompts={"dukcapil": "srv/ektp", "site": "site"},
    replace=(
        ("https://dukcapil.example/api/v1", "http://127.0.0.1:{dukcapil_port}/api/v1"),
        ("3FA2C1-09B7D4-77E0AA-1C5B2F", "{code}"),
        ("/srv/ektp", "{root}/srv/ektp"),
    ),
    steps={
        "ektp sync join-code 17.71.05 --as admin": Step(capture="code"),
        "ektp sync run": Step(service=Said(r"pulled \d+ item"), stop_when_ready=True),
    },
)


# -- docs/demo.md ------------------------------------------------------------------------------------


def _demo_ports(run: Run) -> None:
    if shutil.which("curl") is None:
        raise DocRunFailed("docs/demo.md's commands use curl, which is not installed here (apt-get install curl)")
    first = free_ports(5)
    run.vars["demo_port"] = str(first)
    run.vars.update({f"port_{n}": str(first + n) for n in range(5)})


DEMO = Plan(
    state="A checkout with ektp installed (this environment stands for .venv); the demo's five ports "
    "5000-5004 are five free ports (--port).",
    setup=_demo_ports,
    replace=(
        ("^ektp demo$", "ektp demo --port {demo_port}"),
        ("/home/you/ektp-demo", "{root}/ektp-demo"),
        *((f"http://127.0.0.1:500{n}", f"http://127.0.0.1:{{port_{n}}}") for n in range(5)),
    ),
    steps={".venv/bin/ektp demo": Step(service=Said(r"^ektp demo is ready"), timeout=600, output_block="Demo of ")},
)


# -- the walk: README.md, docs/quickstart.md, docs/plugins.md ----------------------------------------


def _says(*parts: str) -> Callable[[Run, str], None]:
    """A check that the output says each part (what a page's comment says the command shows)."""

    def check(run: Run, output: str) -> None:
        missing = [part for part in parts if part not in output]
        assert not missing, f"the output lacks {missing}:\n{output}"

    return check


def _ledger_balanced(run: Run, output: str) -> None:
    """'received = in stock + reserved + printed + spoiled'."""
    found = re.search(r"received (\d+) = in stock (\d+) \+ reserved (\d+) \+ printed (\d+) \+ spoiled (\d+)", output)
    assert found, output
    received, *parts = (int(n) for n in found.groups())
    assert received == sum(parts) and received > 0, output


def _proof_and_card(run: Run, output: str) -> None:
    """'the PDF proof and what the printer printed'."""
    assert re.search(r"(?m)^\S+\.pdf$", output) and re.search(r"(?m)^card-\d+\.png$", output), output


README = Plan(
    state="A checkout with ektp installed; the demo line is run by docs/demo.md.",
    steps={
        "ektp walk --dir ektp-walk --fresh": WALK,
        "ektp nik 1771054101900001": Step(after=_says("Kampung Melayu", "Kota Bengkulu", "PEREMPUAN", "1990-01-01")),
        "ektp devices -d ektp-walk": Step(after=_says("Evolis", "proof printer", "U.are.U 4000")),
        "ektp blanks count -d ektp-walk": Step(after=_ledger_balanced),
        "ls ektp-walk/proofs ektp-walk/emulated-evolis/cards": Step(after=_proof_and_card),
    },
)
QUICKSTART = Plan(
    state="A checkout with ektp installed (this environment stands for .venv); the demo line is run by docs/demo.md.",
    steps={".venv/bin/ektp walk --dir ektp-walk --fresh": WALK},
)
PLUGINS = Plan(
    state="An empty folder; the new-plugin sequence is the printer tutorial's, run there.",
    steps={"EKTP_TRACE_HOOKS=1 ektp walk --dir ektp-walk": WALK},
)


# -- the reference and small pages --------------------------------------------------------------------

#: The job id `ektp print-requeue`'s example shows; the run's own spoiled job stands for it.
SHOWN_SPOILED_JOB = "5f0c8e2a9b7d4c1e8f3a6b2d0c9e7a41"


def _a_spoiled_card(run: Run) -> None:
    """'The printer took the card and ruined it': an operator account, and a job of kantor's queue
    that ended SPOILED (a ribbon that ran out mid-card), made through the lifecycle as a print run
    would."""
    from ektp_core.config import find_deployment
    from ektp_core.lifecycle.service import LifecycleService
    from ektp_core.testing.samples import queue_print_ready

    root = run.root / "srv/ektp/kantor"
    run.ektp(
        "account", "add", "operator1", "--role", "operator", "--password-env", "PW", "-d", str(root),
        env={"PW": ADMIN_PASSWORD},
    )  # fmt: skip
    deployment = find_deployment(root)
    store = deployment.open_store()
    try:
        lc = LifecycleService(store, deployment.plugin_host().hook, deployment)
        job_id = queue_print_ready(lc, site_code=deployment.site_code, routing_reason="the office prints")
        lc.receive_blanks(deployment.site_code, ["BLK-000001"], actor="supervisor1", note="docs run")
        lc.reserve_blank(job_id, actor="operator1")
        lc.mark_sent(job_id, actor="operator1", printer="evolis-1")
        lc.mark_spoiled(job_id, actor="operator1", reason="evolis-1: the ribbon ended mid-card")
    finally:
        store.dispose()
    run.vars["spoiled_job"] = job_id


def _queued_again(run: Run, output: str) -> None:
    """'a new QUEUED job at the same site': the queue holds the new job, not the spoiled one."""
    import json

    queue = json.loads(run.ektp("print-queue", "--json", "-d", str(run.root / "srv/ektp/kantor")))
    assert [job["state"] for job in queue] == ["QUEUED"], queue
    assert queue[0]["id"] != run.vars["spoiled_job"] and queue[0]["routing_reason"] == "the office prints", queue


CLI = Plan(
    state="A shell in /srv/ektp (the output shown for `ektp init kantor` names /srv/ektp/kantor).",
    cwd="srv/ektp",
    replace=(("/srv/ektp", "{root}/srv/ektp"), (SHOWN_SPOILED_JOB, "{spoiled_job}")),
    steps={
        f"ektp print-requeue {SHOWN_SPOILED_JOB} --as operator1 -d kantor": Step(
            before=_a_spoiled_card, after=_queued_again
        ),
        "ektp keys status -d kantor": Step(
            example_output="added by a concurrent change: the output shown is a node with 1840 blobs and a retired "
            "key, and key ids differ on every run"
        ),
    },
)
NIK = Plan(state="Any folder.")


def _storage_setup(run: Run) -> None:
    run.vars["db"] = run.database("kantor")


def _password_hidden(run: Run, output: str) -> None:
    """'The password in the URL is never printed by ektp commands' (on PostgreSQL, the server's URL
    has one)."""
    from sqlalchemy.engine import make_url

    password = make_url(run.vars["db"]).password
    assert "database  " in output, output
    if password:
        assert str(password) not in output and ":***@" in output, output


STORAGE = Plan(
    state="A PostgreSQL server with an empty database: a fresh database on EKTP_TEST_DATABASE_URL's "
    "server, else SQLite.",
    setup=_storage_setup,
    database=True,
    replace=(('"postgresql+psycopg://ektp:SECRET@db.example/ektp"', '"{db}"'),),
    steps={
        'ektp init kantor --database-url "postgresql+psycopg://ektp:SECRET@db.example/ektp"': Step(
            after=_password_hidden
        )
    },
)


def _node_with_admin1(run: Run) -> None:
    run.ektp("init", str(run.root / "srv/ektp"), "--profile", "kota-bengkulu")
    run.ektp(
        "account",
        "add",
        "admin1",
        "--role",
        "admin",
        "--password-env",
        "ADMIN_PW",
        "-d",
        str(run.root / "srv/ektp"),
        env={"ADMIN_PW": ADMIN_PASSWORD},
    )


def _switched(run: Run, output: str) -> None:
    assert (run.root / "srv/ektp/profile.previous.toml").is_file(), output
    routed = run.ektp("sites", "-d", str(run.root / "srv/ektp"))
    assert "kecamatan-rollout" in routed, routed


def _switched_back(run: Run, output: str) -> None:
    """'To go back, switch to the kept file by its path': the semi-vertical rules are in force again."""
    routed = run.ektp("sites", "-d", str(run.root / "srv/ektp"))
    assert "semi-vertical" in routed and "kecamatan-rollout" not in routed, routed
    assert "kecamatan-rollout" in (run.root / "srv/ektp/profile.previous.toml").read_text("utf-8"), output


REGIONAL_PROFILES = Plan(
    state="Kota Bengkulu's Dukcapil node at /srv/ektp on the semi-vertical profile (kota-bengkulu), "
    "with an administrator admin1.",
    setup=_node_with_admin1,
    replace=(("/srv/ektp", "{root}/srv/ektp"),),
    steps={
        "ektp profile use kota-bengkulu-kecamatan --as admin1 -d /srv/ektp": Step(after=_switched),
        "ektp profile use /srv/ektp/profile.previous.toml --as admin1 -d /srv/ektp": Step(after=_switched_back),
        # The walk and the seeds start the central-system emulator on the profile's port, 4800.
        "ektp walk --dir jakpus --site 31.71.06.1001": Step(
            lock="port 4800", timeout=600, after=_says("Kelurahan Menteng (31.71.06.1001)", "CARD_ISSUED")
        ),
        "ektp seed -d jakpus --residents 5 --until SENT_FOR_CARD_PRINTING --pictures quick": Step(
            lock="port 4800", timeout=600, after=_says("5  SENT_FOR_CARD_PRINTING")
        ),
        "ektp seed -d jakpus --residents 2 --site 31.71.02 --until PRINT_READY_RECORD --seed 2 --pictures quick": Step(
            lock="port 4800", timeout=600, after=_says("2  PRINT_READY_RECORD", "8 enrolment(s)")
        ),
    },
)


SECURITY = Plan(
    state="A node at /srv/ektp with an administrator admin1.",
    setup=_node_with_admin1,
    replace=(("/srv/ektp", "{root}/srv/ektp"),),
    steps={
        "ektp keys rotate-data-key --as admin1 -d /srv/ektp": Step(
            example_output="added by a concurrent change: the output shown is a node with 1840 blobs, and key ids "
            "differ on every run"
        )
    },
)


def _web_ui_setup(run: Run) -> None:
    run.ektp("init", str(run.root / "srv/ektp/dukcapil"), "--profile", "kota-bengkulu")
    run.vars["port"] = str(free_port())


WEB_UI = Plan(
    state="The Dukcapil node's deployment at /srv/ektp/dukcapil; port 5000 is a free port.",
    setup=_web_ui_setup,
    replace=(("/srv/ektp", "{root}/srv/ektp"), ("--port 5000", "--port {port}")),
    steps={
        "ektp serve --host 127.0.0.1 --port 5000 --trusted-proxy 127.0.0.1 -d /srv/ektp/dukcapil": Step(
            service=Http("http://127.0.0.1:{port}/api/v1/health")
        )
    },
)


def _lists_every_command(run: Run, output: str) -> None:
    assert "docs/deployment.md:" in output and "NEITHER RUN NOR EXCUSED" not in output, output[-3000:]


TESTING = Plan(
    state="A checkout of the repository, whose tests/docs/docs_run the commands use (they only read it; a "
    "page's run goes to a temporary folder).",
    checkout=True,
    steps={
        "python -m docs_run": Step(after=_lists_every_command),
        "python -m docs_run docs/sync.md": Step(after=_says("== docs/sync.md", "service  ektp sync run")),
    },
)


# -- the tutorials -----------------------------------------------------------------------------------

TUTORIAL_TESTS = Step(timeout=600)


def _gateway_port(run: Run) -> None:
    """The tutorial's server on a free port instead of 8731, and the office's profile pointing there."""
    run.vars["gateway_port"] = str(free_port())
    profile = run.cwd / "office/profile.toml"
    text = profile.read_text("utf-8")
    assert "127.0.0.1:8731" in text, f"{profile} does not name 127.0.0.1:8731"
    profile.write_text(text.replace("127.0.0.1:8731", f"127.0.0.1:{run.vars['gateway_port']}"), "utf-8")


PRINTER_DRIVER = Plan(
    state="An empty folder, ektp installed.",
    venv=True,
    steps={"python -m pytest": TUTORIAL_TESTS},
)
REGION_RULES = Plan(
    state="An empty folder, ektp installed.",
    venv=True,
    steps={"python -m pytest": TUTORIAL_TESTS},
)
VERIFIER = Plan(
    state="An empty folder, ektp installed; the tutorial's server listens on a free port instead of 8731 "
    "(and the office's profile names that port).",
    venv=True,
    replace=(("--port 8731", "--port {gateway_port}"),),
    steps={
        "python -m pytest": TUTORIAL_TESTS,
        "ACME_GATEWAY_API_KEY=secret python -m ektp_acme_gateway.server --port 8731": Step(
            service=Listening("{gateway_port}"), before=_gateway_port
        ),
    },
)

PLANS: dict[str, Plan] = {
    "README.md": README,
    "docs/cli.md": CLI,
    "docs/demo.md": DEMO,
    "docs/deployment.md": DEPLOYMENT,
    "docs/nik.md": NIK,
    "docs/plugins.md": PLUGINS,
    "docs/quickstart.md": QUICKSTART,
    "docs/regional-profiles.md": REGIONAL_PROFILES,
    "docs/security.md": SECURITY,
    "docs/storage.md": STORAGE,
    "docs/sync.md": SYNC,
    "docs/testing.md": TESTING,
    "docs/web-ui.md": WEB_UI,
    "docs/tutorials/printer-driver.md": PRINTER_DRIVER,
    "docs/tutorials/region-rules.md": REGION_RULES,
    "docs/tutorials/verifier.md": VERIFIER,
}
