"""Run a page's commands for real, in the page's order, in a scratch folder.

Each command runs through ``bash -c`` exactly as shown, after the page's plan has substituted what
cannot be used here verbatim (a server path, a PostgreSQL URL, a host name; see ``plans.py``). On
``PATH`` first, ``ektp`` and ``python`` are this checkout's (or a throw-away venv's layered on this
environment, for a page that installs a plugin next to ektp). A command that runs until stopped
(``ektp serve``, a systemd unit, a trailing ``&``) is started, counted as run once it answers, and
stopped as a person or systemd would (SIGINT or SIGTERM to its process group), which it must survive
with exit 0. Where a console block shows output, the real output must contain those lines.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import select
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from portlock import port_lock

from .extract import ROOT, Shown, fenced_blocks

#: Substitutions on every page, before the page's own: the server's venv and the quickstart's
#: ``.venv`` are this environment, and commands shown as the service user run as the test's user.
COMMON_REPLACE: tuple[tuple[str, str], ...] = (
    ("sudo -u ektp ", ""),
    ("/srv/ektp/venv/bin/ektp", "ektp"),
    (".venv/bin/ektp", "ektp"),
)
COMMAND_TIMEOUT = 300
READY_TIMEOUT = 180
_RESET_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])"
)
#: Locks for what cannot be shared between pages run at the same time, nor with other processes of
#: this machine (``ektp walk`` starts the central-system emulator on the port its profile names,
#: 4800): a step's ``lock`` names one, held while it runs (tests/kits/portlock.py).
LOCKS: dict[str, int] = {"port 4800": 4800}


class DocRunFailed(AssertionError):
    """A shown command did not do what the page says."""


# -- how a long-running command shows it is up ------------------------------------------------------


@dataclass(frozen=True)
class Http:
    """Up once a GET of the URL (a format string of the run's vars) answers 200."""

    url: str

    def ready(self, run: Run, log: str) -> bool:
        try:
            with urllib.request.urlopen(run.format(self.url), timeout=2) as response:
                return bool(response.status == 200)
        except (OSError, http.client.HTTPException):  # HTTPException: a self-connected probe
            return False


@dataclass(frozen=True)
class Said:
    """Up once its output (standard output and error together) matches the pattern."""

    pattern: str

    def ready(self, run: Run, log: str) -> bool:
        return re.search(self.pattern, log, flags=re.MULTILINE) is not None


@dataclass(frozen=True)
class Listening:
    """Up once something accepts connections on 127.0.0.1 at the port (a format string)."""

    port: str

    def ready(self, run: Run, log: str) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", int(run.format(self.port))), timeout=1):
                return True
        except OSError:
            return False


Ready = Http | Said | Listening


@dataclass(frozen=True)
class Step:
    """How one shown command is run, where the default (run it, expect exit 0, compare the output
    the page shows) is not all. ``before``/``after`` do what the page says in prose happens around
    the command (an account made in the web UI, say) or check what the command did."""

    service: Ready | None = None  # runs until stopped; run once ready
    name: str = ""  # the service's name (a systemd unit's), for stop/restart
    stop_signal: int = signal.SIGINT  # Ctrl-C; SIGTERM for systemd units
    stop_when_ready: bool = False  # one round seen (a loop), then stopped
    stop_exit_codes: tuple[int, ...] = (0,)
    env: tuple[tuple[str, str], ...] = ()  # what its supervisor gives it (a unit's EnvironmentFile)
    stdin: str | None = None
    tty: tuple[tuple[str, str], ...] = ()  # on a terminal: (prompt, what is typed after it), in order
    exit_code: int = 0
    capture: str | None = None  # keep the last line of its standard output as {capture}
    lock: str | None = None  # one of LOCKS, held while it runs
    timeout: float = COMMAND_TIMEOUT
    example_output: str = ""  # why the output shown is an example this run cannot give
    output_block: str = ""  # its output is shown in the page's block starting with this line
    before: Callable[[Run], None] | None = None
    after: Callable[[Run, str], None] | None = None  # gets the command's output


@dataclass
class Service:
    """A long-running command started by a run."""

    name: str
    text: str
    cwd: Path
    env: dict[str, str]
    log: Path
    stop_signal: int
    stop_exit_codes: tuple[int, ...]
    ready: Ready
    process: subprocess.Popen[bytes] | None = None
    started_at: int = 0  # where its latest start's output begins in the log

    def output(self) -> str:
        """Its output since it was last started."""
        return self.log.read_text("utf-8", errors="replace")[self.started_at :] if self.log.exists() else ""


@dataclass
class Record:
    """What happened to one shown command."""

    shown: Shown
    ran: str  # the command as run ("" when excused)
    how: str  # "ran", "service", "cd", "excused: ...", "mirrored: ..."


# -- comparing shown output with real output -------------------------------------------------------

#: What differs on every run, so a shown example stands for any other: a key (32 bytes, base64url),
#: a join code, a compact UTC timestamp.
PLACEHOLDERS = (r"[A-Za-z0-9_-]{43}", r"[0-9A-F]{6}(?:-[0-9A-F]{6}){3}", r"\d{8}T\d{6}Z")
_PLACEHOLDER = re.compile("|".join(rf"(?<![\w-]){p}(?![\w-])" for p in PLACEHOLDERS))


def _line_pattern(expected: str) -> re.Pattern[str]:
    parts = []
    for literal in expected.rstrip().split("..."):
        pieces, last = [], 0
        for found in _PLACEHOLDER.finditer(literal):
            pieces.append(re.escape(literal[last : found.start()]))
            pieces.append(next(f"(?:{p})" for p in PLACEHOLDERS if re.fullmatch(p, found[0])))
            last = found.end()
        pieces.append(re.escape(literal[last:]))
        parts.append("".join(pieces))
    return re.compile(".*?".join(parts))


def missing_output(shown: tuple[str, ...], actual: str) -> str | None:
    """None when the real output contains the shown lines in order (other lines may come between);
    else the first shown line not found. A shown line ``...`` stands for any lines; ``...`` inside a
    line stands for any text; a key, join code or timestamp (``PLACEHOLDERS``) for any other.
    Trailing spaces do not count."""
    lines = [line.rstrip() for line in actual.splitlines()]
    position = 0
    for expected in shown:
        if not expected.strip() or expected.strip() == "...":
            continue
        pattern = _line_pattern(expected)
        while position < len(lines) and not pattern.fullmatch(lines[position]):
            position += 1
        if position == len(lines):
            return expected
        position += 1
    return None


# -- the scratch environment -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports."""
    for _ in range(200):
        first = free_port()
        if first + count > 65535:
            continue
        try:
            with ExitStack() as stack:
                for port in range(first, first + count):
                    s = stack.enter_context(socket.socket())
                    s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
    raise RuntimeError(f"no {count} consecutive free ports")


def can_build_without_isolation() -> bool:
    """True when this environment's setuptools can build an editable wheel (>= 64; below 70.1 only
    with ``wheel``), so ``pip install -e .`` needs no package index."""
    try:
        import setuptools
    except ImportError:
        return False
    version = tuple(int(part) for part in setuptools.__version__.split(".")[:2])
    if version < (64, 0):
        return False
    if version >= (70, 1):
        return True
    try:
        import wheel  # noqa: F401
    except ImportError:
        return False
    return True


def layered_venv(folder: Path) -> Path:
    """A throw-away venv that sees this environment's packages (ektp, pip, setuptools) through a
    ``.pth`` file, so ``pip install -e .`` in it puts a plugin next to ektp without touching this
    environment. Returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    python = folder / ("Scripts" if os.name == "nt" else "bin") / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    parents = [sysconfig.get_paths()["purelib"]]
    if sys.prefix != sys.base_prefix:  # this environment is a venv: the base interpreter's packages too
        parents.append(sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["purelib"])
    Path(purelib, "ektp-parent.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in parents), "utf-8"
    )
    return python


def _write_shims(folder: Path, python: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, line in (
        ("ektp", f'exec "{python}" -m ektp_core "$@"'),
        ("python", f'exec "{python}" "$@"'),
        ("python3", f'exec "{python}" "$@"'),
    ):
        path = folder / name
        path.write_text(f"#!/bin/sh\n{line}\n", "utf-8")
        path.chmod(0o755)


# -- one page's run --------------------------------------------------------------------------------


class Run:
    """The state of one page's run: its scratch folder, the current folder (``cd``), the vars the
    substitutions use, the services it started and the databases it made."""

    def __init__(self, page: str, root: Path, stack: ExitStack, *, venv: bool = False) -> None:
        self.page = page
        self.root = root
        self.stack = stack
        self.cwd = root
        self.vars: dict[str, str] = {"root": str(root)}
        self.services: dict[str, Service] = {}
        self.replace: tuple[tuple[str, str], ...] = COMMON_REPLACE
        python = Path(sys.executable)
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("EKTP_DEPLOYMENT", "EKTP_DATABASE_URL", "EKTP_TEST_DATABASE_URL", "PYTHONPATH")
        }
        if venv:
            python = layered_venv(root / ".docs-run-venv")
            if can_build_without_isolation():  # the build backend is here: no package index needed
                self.env["PIP_NO_BUILD_ISOLATION"] = "0"
                self.env["PIP_NO_INDEX"] = "1"
        self.python = python
        shims = root / ".docs-run-bin"
        _write_shims(shims, python)
        self.env["PATH"] = os.pathsep.join([str(shims), self.env.get("PATH", "")])
        self.env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.env["PYTHONUNBUFFERED"] = "1"
        stack.callback(self.stop_all)

    # vars and substitutions
    def format(self, text: str) -> str:
        try:
            return text.format_map(self.vars)
        except KeyError as missing:
            raise DocRunFailed(f"{self.page}: the substitution {text!r} needs {missing}, which no step set") from None

    def database(self, name: str) -> str:
        """A URL to a new empty database (SQLite here, a fresh PostgreSQL database when
        EKTP_TEST_DATABASE_URL is set), dropped at the end of the run."""
        from ektp_core.testing.databases import temporary_database

        folder = self.root / ".docs-run-db" / name
        folder.mkdir(parents=True)
        return self.stack.enter_context(temporary_database(folder))

    # running things
    def shell(
        self,
        text: str,
        *,
        cwd: Path | None = None,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = COMMAND_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        """``bash -c text`` in its own process group (killed as a whole on a timeout)."""
        process = subprocess.Popen(
            ["bash", "-c", text],
            cwd=cwd or self.cwd,
            env={**self.env, **(env or {})},
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = process.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            raise DocRunFailed(f"{self.page}: `{text}` did not finish within {timeout:g} s:\n{out}\n{err}") from None
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    def on_terminal(
        self,
        text: str,
        answers: tuple[tuple[str, str], ...],
        *,
        cwd: Path,
        env: dict[str, str] | None = None,
        timeout: float = COMMAND_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        """``bash -c text`` on a pseudo-terminal of its own (its controlling terminal, so a password
        prompt reads from it), typing each answer once its prompt has appeared. Standard output and
        error are both the terminal's output."""
        master, slave = os.openpty()
        try:
            process = subprocess.Popen(
                ["setsid", "--ctty", "bash", "-c", text],
                cwd=cwd,
                env={**self.env, **(env or {})},
                stdin=slave,
                stdout=slave,
                stderr=slave,
            )
        finally:
            os.close(slave)
        seen, typed, pending = b"", 0, list(answers)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if time.monotonic() > deadline:
                    os.killpg(process.pid, signal.SIGKILL)
                    raise DocRunFailed(
                        f"{self.page}: `{text}` did not finish within {timeout:g} s on its terminal; "
                        f"it said:\n{seen.decode(errors='replace')}"
                    )
                readable, _, _ = select.select([master], [], [], 0.2)
                if readable:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:  # EIO: every process holding the terminal has ended
                        chunk = b""
                    if not chunk:
                        break
                    seen += chunk
                if pending:
                    found = seen.find(pending[0][0].encode(), typed)
                    if found >= 0:
                        typed = found + len(pending[0][0])
                        os.write(master, (pending.pop(0)[1] + "\n").encode())
                elif not readable and process.poll() is not None:
                    break
            process.wait(timeout=60)
        finally:
            os.close(master)
        if pending:
            raise DocRunFailed(
                f"{self.page}: `{text}` never asked {pending[0][0]!r}; it said:\n{seen.decode(errors='replace')}"
            )
        return subprocess.CompletedProcess(process.args, process.returncode, seen.decode(errors="replace"), "")

    def ektp(
        self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> str:
        """Set-up: run ``ektp ARGS`` (this checkout's), which must succeed; its standard output."""
        import shlex

        done = self.shell(" ".join(shlex.quote(a) for a in ["ektp", *args]), stdin=stdin, env=env, cwd=cwd)
        if done.returncode != 0:
            raise DocRunFailed(
                f"{self.page}: set-up `ektp {' '.join(args)}` failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
        return done.stdout

    def start(
        self,
        name: str,
        text: str,
        ready: Ready,
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        stop_signal: int = signal.SIGINT,
        stop_exit_codes: tuple[int, ...] = (0,),
        timeout: float = READY_TIMEOUT,
    ) -> Service:
        """Start a long-running command and wait until it is ready."""
        if name in self.services and self.services[name].process is not None:
            raise DocRunFailed(f"{self.page}: {name} is already running")
        log = self.root / ".docs-run-logs" / (re.sub(r"[^\w.-]+", "-", name)[:80] + ".log")
        log.parent.mkdir(parents=True, exist_ok=True)
        service = Service(
            name, text, cwd or self.cwd, {**self.env, **(env or {})}, log, stop_signal, stop_exit_codes, ready
        )
        self.services[name] = service
        self._launch(service, timeout)
        return service

    def _launch(self, service: Service, timeout: float) -> None:
        service.started_at = len(service.log.read_text("utf-8", errors="replace")) if service.log.exists() else 0
        with open(service.log, "ab") as out:
            # SIGINT back to its default first: a child of a shell that ignores it would ignore it too.
            service.process = subprocess.Popen(
                [sys.executable, "-c", _RESET_SIGINT, "bash", "-c", service.text],
                cwd=service.cwd,
                env=service.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                code = service.process.returncode
                service.process = None
                raise DocRunFailed(
                    f"{self.page}: `{service.text}` stopped at start (exit {code}):\n{service.output()[-3000:]}"
                )
            if service.ready.ready(self, service.output()):
                return
            time.sleep(0.2)
        self.stop(service.name, check=False)
        raise DocRunFailed(
            f"{self.page}: `{service.text}` was not ready within {timeout:g} s ({service.ready}):\n"
            f"{service.output()[-3000:]}"
        )

    def restart(self, name: str) -> None:
        """Start a stopped service again, as ``systemctl start`` would."""
        self._launch(self.services[name], READY_TIMEOUT)

    def stop(self, name: str, *, check: bool = True) -> str:
        """Stop a service as Ctrl-C or systemd would; it must end with one of its exit codes within 60 s.
        Returns its output."""
        service = self.services[name]
        process = service.process
        if process is None:
            return service.output()
        service.process = None
        if process.poll() is None:
            os.killpg(process.pid, service.stop_signal)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                if check:
                    raise DocRunFailed(
                        f"{self.page}: `{service.text}` did not stop within 60 s of "
                        f"{signal.Signals(service.stop_signal).name}:\n"
                        f"{service.output()[-3000:]}"
                    ) from None
        else:  # ended by itself before being asked: still killed with its group's leftovers
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        if check and process.returncode not in service.stop_exit_codes:
            raise DocRunFailed(
                f"{self.page}: `{service.text}` ended with exit {process.returncode} when stopped "
                f"with {signal.Signals(service.stop_signal).name}:\n{service.output()[-3000:]}"
            )
        return service.output()

    def stop_all(self) -> None:
        for name in list(self.services):
            self.stop(name, check=False)

    # the shown commands
    def substitute(self, text: str) -> str:
        """The shown text with the page's substitutions made (their vars filled in). A substitution
        whose first part starts with ``^`` is a regular expression (for a whole command, say)."""
        for old, new in self.replace:
            if old.startswith("^"):
                filled = self.format(new)
                text = re.sub(old, lambda _: filled, text)  # noqa: B023 - used at once, in this iteration
            elif old in text:
                text = text.replace(old, self.format(new))
        return text

    def run_command(self, shown: Shown, step: Step, prompt_cwd: Path | None) -> Record:
        """Run one shown command as its step says."""
        if step.before is not None:
            step.before(self)
        text = self.substitute(shown.text)
        cwd = prompt_cwd or self.cwd
        cd = re.fullmatch(r"cd\s+(\S+)", text)
        if cd:
            target = (cwd / cd[1]).resolve()
            if not target.is_dir():
                raise DocRunFailed(f"{shown.page}:{shown.line}: `{shown.text}`: no folder {target}")
            self.cwd = target
            return Record(shown, text, "cd")
        env = {k: self.format(v) for k, v in step.env}
        with port_lock(LOCKS[step.lock]) if step.lock else contextlib.nullcontext():
            if step.service is not None or shown.background or shown.unit:
                if step.service is None:
                    raise DocRunFailed(
                        f"{shown.page}:{shown.line}: `{shown.text}` runs until stopped: its plan "
                        "must say how to tell it is up (Step(service=...))"
                    )
                name = step.name or shown.text
                service = self.start(
                    name,
                    text,
                    step.service,
                    cwd=cwd,
                    env=env,
                    stop_signal=step.stop_signal,
                    stop_exit_codes=step.stop_exit_codes,
                    timeout=step.timeout,
                )
                output = self.stop(name) if step.stop_when_ready else service.output()
                self._check(shown, text, output, step)
                if step.after is not None:
                    step.after(self, output)
                return Record(shown, text, "service")
            if step.tty:
                done = self.on_terminal(text, step.tty, cwd=cwd, env=env, timeout=step.timeout)
            else:
                done = self.shell(text, cwd=cwd, stdin=step.stdin, env=env, timeout=step.timeout)
        output = done.stdout + done.stderr
        if done.returncode != step.exit_code:
            raise DocRunFailed(
                f"{shown.page}:{shown.line}: `{shown.text}` (run as `{text}` in {cwd}) exited "
                f"{done.returncode}, not {step.exit_code}:\n{done.stdout[-3000:]}\n"
                f"{done.stderr[-3000:]}"
            )
        self._check(shown, text, output, step)
        if step.capture:
            lines = [line for line in done.stdout.splitlines() if line.strip()]
            if not lines:
                raise DocRunFailed(
                    f"{shown.page}:{shown.line}: `{shown.text}` printed nothing to keep as {step.capture}"
                )
            self.vars[step.capture] = lines[-1].strip()
        if step.after is not None:
            step.after(self, output)
        return Record(shown, text, "ran")

    def _check(self, shown: Shown, text: str, output: str, step: Step) -> None:
        shown_output = shown.output
        if step.output_block:
            blocks = [
                body
                for _, _, body in fenced_blocks((ROOT / shown.page).read_text("utf-8"))
                if body and body[0].startswith(step.output_block)
            ]
            if not blocks:
                raise DocRunFailed(f"{shown.page}: no block starting with {step.output_block!r} (its output)")
            shown_output = tuple(blocks[0])
        if not shown_output or step.example_output:
            return
        expected = tuple(self.substitute(line) for line in shown_output)
        missing = missing_output(expected, output)
        if missing is not None:
            raise DocRunFailed(
                f"{shown.page}:{shown.line}: `{shown.text}` (run as `{text}`) shows the line\n"
                f"    {missing}\nwhich its real output lacks:\n{output[-4000:]}"
            )


@dataclass(frozen=True)
class Plan:
    """How a page runs: where, from what state, with what substituted.

    ``state`` says in words what the page assumes came before and ``setup`` makes it; ``replace``
    lists (as shown, as run) substitutions, whose second part may use the run's vars (``{root}``, the
    scratch folder; whatever ``setup`` or a step's ``capture`` set). ``prompts`` gives the folder a
    prompt such as ``site$`` stands for. ``mirror`` does, in place of an excused command, what it
    would have done to the page's state (``systemctl stop`` stops the units' services). ``venv``: the
    page installs a plugin next to ektp, into a throw-away venv layered on this environment.
    """

    state: str
    cwd: str = "."
    replace: tuple[tuple[str, str], ...] = ()
    setup: Callable[[Run], None] | None = None
    steps: Mapping[str, Step] = field(default_factory=dict)
    mirror: Mapping[str, Callable[[Run], None]] = field(default_factory=dict)
    prompts: Mapping[str, str] = field(default_factory=dict)
    venv: bool = False
    database: bool = False
    checkout: bool = False  # the commands start in this checkout (and only read it), not the scratch folder


def run_page(
    page: str, plan: Plan, commands: list[Shown], excused: Collection[tuple[str, str]], root: Path
) -> list[Record]:
    """Run the page's commands in order (the excused ones left out, or mirrored); every service it
    started is stopped at the end and must stop cleanly."""
    records: list[Record] = []
    with ExitStack() as stack:
        run = Run(page, root, stack, venv=plan.venv)
        run.replace = (*COMMON_REPLACE, *plan.replace)
        run.cwd = ROOT if plan.checkout else root / plan.cwd
        run.cwd.mkdir(parents=True, exist_ok=True)
        if plan.setup is not None:
            plan.setup(run)
        for shown in commands:
            if shown.key in excused:
                mirror = plan.mirror.get(shown.text)
                if mirror is not None:
                    mirror(run)
                records.append(Record(shown, "", "mirrored" if mirror else "excused"))
                continue
            if shown.prompt and shown.prompt not in plan.prompts:
                raise DocRunFailed(f"{page}:{shown.line}: no folder for the prompt {shown.prompt}$ in the plan")
            prompt_cwd = root / plan.prompts[shown.prompt] if shown.prompt else None
            records.append(run.run_command(shown, plan.steps.get(shown.text, Step()), prompt_cwd))
        for name, service in list(run.services.items()):
            if service.process is not None:
                run.stop(name)
    return records
