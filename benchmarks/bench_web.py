#!/usr/bin/env python
"""The operators' web UI under load: 20 simulated operators browsing and recording against a Dukcapil node
served by ``ektp serve`` (waitress), with the latency of each main page set against a trivial route
measured in the same run, under the same load.

Setup (untimed):

* a **Dukcapil node** (profile ``kota-bengkulu``, site ``17.71``, so the regency has nine kecamatan, a
  mobile unit and the office) in a temp dir, on SQLite (``--database-url``: a schema in a PostgreSQL
  database instead);
* **seeded as two weeks of work**: ``--enrolments`` residents (default 20,000) recorded at the office, the
  kecamatan and the mobile unit in office hours on the working days of the last 14 days, each with a full
  set of capture rows (ten fingers with templates, two irises, a face, a signature; small stand-in images,
  since no measured page reads an image) and taken through the lifecycle as far as its timeline reaches
  by now: sent to the central system hours (sometimes days) after recording, received, a verdict (mostly
  print-ready; some adjudication, duplicates and failures), queued for printing at the office (routed by
  the profile's rules, with each kecamatan's print day), printed on that day (or a week later when the
  day ran short), handed over a few days later. Every step is a real :class:`LifecycleService` call
  (``record``, ``transition``, ``queue_print``, ``reserve_blank``, ``mark_sent``, ``mark_printed``) with
  the clock set to the step's time, in time order, so the audit chain, the dashboard's per-day figures
  and the print queue look like an office's. Blanks are received at the office in two deliveries. The
  seeding store runs with ``synchronous=OFF`` (durability is not being measured and setup would
  otherwise wait on an fsync per step); the served node opens its own store with ektp's settings;
* **accounts**: ``--users`` operators (default 20) and a supervisor at the office, passwords hashed at
  the default scrypt cost (login is not timed, but it is the real login);
* the node is served by ``ektp serve --quiet --threads 8`` in its own process; the run starts when
  ``/api/v1/health`` answers.

Timed: each operator is a thread with its own keep-alive HTTP connection (``http.client``, from its own
loopback address, as operators sit at their own PCs), cookie and CSRF token. It logs in through the real
login form (untimed), then for ``--seconds`` (default 60) picks an action, waits a think time
(``--think``, default 0.2 to 1.0 s, uniform) and times the request from sending it to the last byte of
the answer:

* the dashboard (the regency's view at the Dukcapil node); the enrolment search by NIK prefix and by part
  of a name; an enrolment's detail page; the print queue; the blanks page; the record start page;
* **recording**: the biodata form POST that creates an enrolment (the form's real fields and CSRF
  token, a fresh valid NIK each time), answered by a redirect;
* the **trivial route** ``GET /api/v1/health`` (the baseline), picked by the same loop, so it waits for
  the same threads, the same GIL and the same database as the pages.

A page the app does not have at run time (its endpoint is not in the URL map) is skipped and named in
the report. Any answer that is not 2xx or 3xx is an error, reported with its page and status; a run with
errors does not pass.

Targets: every main page's p95 under 150 ms, and no page's p95 above 5 x the trivial route's p95.
Run ``python benchmarks/bench_web.py --help``; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import heapq
import http.client
import io
import json
import math
import os
import platform
import random
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa

from ektp_core.config import Deployment
from ektp_core.devices.region_rules import WEEKDAYS
from ektp_core.domain import regions
from ektp_core.domain.model import FINGER_POSITIONS, Capture, Enrolment, EnrolmentState, Modality, Operator, Role
from ektp_core.keys import crypto
from ektp_core.lifecycle.routing import load_rules, site_snapshot
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.node_init import create_deployment
from ektp_core.store.tables import enrolments
from ektp_core.testing.samples import make_enrolment, valid_nik

TARGET_P95_MS = 150.0
TARGET_RATIO = 5.0
PROFILE = "kota-bengkulu"
DUKCAPIL = "17.71"
PASSWORD = "bench-kata-sandi-2026"
HEALTH = "/api/v1/health"
DAYS = 14
E = EnrolmentState

#: The main pages an operator opens: label -> (endpoint, its URL values). Missing endpoints are skipped.
PAGES: dict[str, tuple[str, dict[str, Any]]] = {
    "dashboard": ("dashboard.index", {}),
    "search by NIK prefix": ("enrolments.index", {}),
    "search by name": ("enrolments.index", {}),
    "enrolment detail": ("enrolments.detail", {"enrolment_id": "x"}),
    "print queue": ("printing.queue", {}),
    "blanks": ("printing.blanks", {}),
    "record start": ("record.start", {}),
    "record form": ("record.new", {}),
}
#: How often each action is picked (the trivial route as often as a busy page, so its p95 is as solid).
MIX = {
    "dashboard": 2,
    "search by NIK prefix": 2,
    "search by name": 2,
    "enrolment detail": 3,
    "print queue": 1,
    "blanks": 1,
    "record": 1,
    "health": 3,
}
RECORD = "record (biodata POST)"
TRIVIAL = "health (trivial route)"

FIRST_NAMES = (
    "SITI",
    "NUR",
    "DEWI",
    "SRI",
    "RINA",
    "AYU",
    "PUTRI",
    "INDAH",
    "FITRI",
    "WULAN",
    "AHMAD",
    "MUHAMMAD",
    "BUDI",
    "AGUS",
    "RUDI",
    "HENDRA",
    "JOKO",
    "DEDI",
    "ANDI",
    "RIZKY",
    "YUSUF",
    "IMAM",
    "ARIF",
    "BAMBANG",
)
FAMILY_NAMES = (
    "AMINAH",
    "SANTOSO",
    "RAHMAWATI",
    "HIDAYAT",
    "SAPUTRA",
    "LESTARI",
    "PRATAMA",
    "WAHYUNI",
    "SETIAWAN",
    "KURNIAWAN",
    "HASANAH",
    "SUSANTI",
    "SYAHPUTRA",
    "MARLINA",
    "FAUZI",
    "NOVITASARI",
    "HARAHAP",
    "SIREGAR",
    "ZULKARNAIN",
    "EFENDI",
)


def log(message: str) -> None:
    """A progress line on stderr (stdout carries the report)."""
    print(f"[bench_web {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- PostgreSQL scratch schema ------------------------------------------------------------------------------


@contextlib.contextmanager
def database_url(root: Path, server_url: str | None) -> Iterator[str]:
    """SQLite in the temp dir, or a fresh schema in the PostgreSQL database ``server_url`` (dropped after)."""
    if server_url is None:
        yield f"sqlite:///{root / 'dukcapil.sqlite3'}"
        return
    schema = f"ektp_bench_web_{os.getpid()}"
    engine = sa.create_engine(server_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = sa.engine.make_url(server_url)
        options = url.query.get("options")
        extra = f"-csearch_path={schema}"
        merged = f"{options} {extra}" if isinstance(options, str) and options else extra
        yield url.update_query_dict({"options": merged}).render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


# -- seeding: two weeks of an office's work -------------------------------------------------------------------


def stand_in_captures() -> Callable[[str], tuple[list[Capture], dict[str, bytes]]]:
    """A full set of capture rows (ten fingers with templates, two irises, a face, a signature) over small
    stand-in images: the pages measured read capture rows, never the images (storing real ones would take
    about 1.2 MB an enrolment)."""
    from ektp_plugins.simulators.images import sample_photo, sample_signature
    from PIL import Image

    def png(size: tuple[int, int], grey: int) -> bytes:
        out = io.BytesIO()
        Image.new("L", size, grey).save(out, format="PNG")
        return out.getvalue()

    images = {"face": sample_photo(1, size=(90, 120)), "signature": sample_signature(1, size=(240, 90))}
    captures: list[Capture] = []
    for k, position in enumerate(FINGER_POSITIONS):
        images[position], images[position + "-t"] = png((96, 72), 100 + k), bytes(range(40 + k))
        captures.append(
            Capture(
                modality=Modality.FINGER,
                position=position,
                device="uareu-4000b",
                quality=70,
                blob_ref=position,
                template_ref=position + "-t",
            )
        )
    for side in ("left", "right"):
        images["iris-" + side] = png((64, 48), 60)
        captures.append(
            Capture(modality=Modality.IRIS, position=side, device="iris-cam", quality=80, blob_ref="iris-" + side)
        )
    captures.append(Capture(modality=Modality.FACE, position="face", device="webcam", quality=90, blob_ref="face"))
    captures.append(
        Capture(modality=Modality.SIGNATURE, position="signature", device="pad", quality=100, blob_ref="signature")
    )

    def of(enrolment_id: str) -> tuple[list[Capture], dict[str, bytes]]:
        # Blob references are unique across the database: each enrolment's carry its id.
        own = [
            attrs.evolve(
                c,
                blob_ref=f"{enrolment_id}-{c.blob_ref}",
                template_ref=f"{enrolment_id}-{c.template_ref}" if c.template_ref else None,
            )
            for c in captures
        ]
        return own, {f"{enrolment_id}-{ref}": data for ref, data in images.items()}

    return of


class Clock:
    """The seeding service's clock: set to each step's time before the step runs."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@attrs.define
class Plan:
    """One resident's enrolment and the timed steps its timeline holds (only those before now are run)."""

    enrolment: Enrolment
    steps: list[tuple[dt.datetime, str, Any]]


def resident_nik(
    rng: random.Random, district: str, used: set[str], *, serial_from: int = 1
) -> tuple[str, dt.date, str]:
    """A fresh valid NIK of an adult born in ``district``: (NIK, birth date, sex)."""
    while True:
        birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(365 * 57))
        sex = rng.choice("LP")
        for serial in range(serial_from, 10_000):
            nik = valid_nik(district=district, birth_date=birth, sex=sex, serial=serial)
            if nik not in used:
                used.add(nik)
                return nik, birth, sex


def resident_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(FAMILY_NAMES)}"


@functools.cache
def _district(code: str) -> tuple[str, tuple[str, ...]]:
    """A kecamatan's name and its kelurahan, from the region list (so the NIK and the address agree)."""
    name = next(r.name for r in regions.children(DUKCAPIL) if r.code == code)
    return name.upper(), tuple(r.name.upper() for r in regions.children(code))


def biodata_values(rng: random.Random, district: str, nik: str, birth: dt.date, sex: str, name: str) -> dict[str, Any]:
    """The biodata of a resident of ``district``, as the form sends it."""
    kec_name, kelurahan = _district(district)
    return {
        "nik": nik,
        "nama": name,
        "tempat_lahir": "BENGKULU",
        "tanggal_lahir": birth,
        "jenis_kelamin": sex,
        "golongan_darah": rng.choice(("A", "B", "AB", "O", "O+", "A+")),
        "alamat": f"JL. MERDEKA NO. {rng.randrange(1, 200)}",
        "rt": f"{rng.randrange(1, 20):03d}",
        "rw": f"{rng.randrange(1, 10):03d}",
        "kelurahan": rng.choice(kelurahan),
        "kecamatan": kec_name,
        "kabupaten_kota": "KOTA BENGKULU",
        "provinsi": "BENGKULU",
        "agama": rng.choice(("ISLAM", "ISLAM", "ISLAM", "KRISTEN", "KATOLIK", "BUDDHA")),
        "status_perkawinan": rng.choice(("KAWIN", "BELUM KAWIN")),
        "pekerjaan": rng.choice(("WIRASWASTA", "PELAJAR/MAHASISWA", "KARYAWAN SWASTA", "PETANI/PEKEBUN")),
    }


def _office_time(rng: random.Random, day: dt.date) -> dt.datetime:
    local = dt.datetime.combine(day, dt.time(8), tzinfo=dt.datetime.now().astimezone().tzinfo)
    return (local + dt.timedelta(seconds=rng.randrange(7 * 3600))).astimezone(dt.UTC)


def _next_print_day(rng: random.Random, after: dt.datetime, weekday: str | None) -> dt.datetime:
    day = after.astimezone().date() + dt.timedelta(days=1)
    if weekday is not None:
        while WEEKDAYS[day.weekday()] != weekday:
            day += dt.timedelta(days=1)
    if rng.random() < 0.15:  # the day's blanks or hours ran out: next week
        day += dt.timedelta(days=7)
    return _office_time(rng, day)


def plan(
    rng: random.Random,
    n: int,
    sites: list[str],
    districts: list[str],
    operators: list[str],
    print_days: dict[str, str],
    now: dt.datetime,
    used: set[str],
) -> Plan:
    """The ``n``-th resident: where and when recorded, and what happened since."""
    today = now.astimezone().date()
    site = sites[n % len(sites)]
    district = site if site in districts else rng.choice(districts)
    nik, birth, sex = resident_nik(rng, district, used)
    values = biodata_values(rng, district, nik, birth, sex, resident_name(rng))
    enrolment = make_enrolment(site_code=site, operator=rng.choice(operators), **values)
    # Offices record on working days, in office hours, and never in the future.
    while True:
        day = today - dt.timedelta(days=rng.randrange(DAYS))
        recorded = _office_time(rng, day)
        if day.weekday() < 5 and recorded <= now:
            break
    t = recorded
    steps: list[tuple[dt.datetime, str, Any]] = [(t, "record", None)]
    # The site syncs and the node sends it on: mostly the same day, days later when a kecamatan is offline.
    t += dt.timedelta(hours=rng.expovariate(1 / 8) + (rng.expovariate(1 / 72) if rng.random() < 0.15 else 0))
    steps.append((t, "move", E.SENT_FOR_ENROLLMENT))
    t += dt.timedelta(minutes=rng.expovariate(1 / 60))
    steps.append((t, "move", E.RECEIVED_AT_CENTRAL))
    t += dt.timedelta(hours=rng.expovariate(1 / 8))
    verdict = rng.random()
    if verdict < 0.005:
        steps.append((t, "move", E.ENROLL_FAILURE_AT_CENTRAL))
        return Plan(enrolment, steps)
    if verdict < 0.015:
        steps.append((t, "move", E.DUPLICATE_RECORD))
        return Plan(enrolment, steps)
    if verdict < 0.035:
        steps.append((t, "move", E.ADJUDICATE_RECORD))
        t += dt.timedelta(days=rng.expovariate(1 / 2))
        if rng.random() < 0.2:
            steps.append((t, "move", E.DUPLICATE_RECORD))
            return Plan(enrolment, steps)
    steps.append((t, "move", E.PRINT_READY_RECORD))
    t += dt.timedelta(minutes=1)
    steps.append((t, "queue", None))
    t = _next_print_day(rng, t, print_days.get(district))
    steps.append((t, "print", None))
    t += dt.timedelta(days=rng.expovariate(1 / 3), hours=rng.uniform(0, 4))
    steps.append((t, "issue", None))
    return Plan(enrolment, steps)


def seed(
    deployment: Deployment, count: int, users: int, *, rng: random.Random, progress: Callable[[str], None]
) -> dict[str, Any]:
    """Accounts and two weeks of enrolments, print jobs and blanks; returns what the operators need."""
    store = deployment.open_store()
    if store.dialect == "sqlite":
        # Setup is not what is measured: no fsync per step (the served node opens its own store, with FULL).
        sa.event.listen(store.engine, "connect", lambda c, _r: c.execute("PRAGMA synchronous=OFF"))
    clock = Clock()
    host = deployment.plugin_host()
    lc = LifecycleService(store, host.hook, deployment, clock=clock)
    operators = [f"op{i:02d}" for i in range(1, users + 1)]
    for username, role in [(u, Role.OPERATOR) for u in operators] + [("spv01", Role.SUPERVISOR)]:
        lc.add_operator(
            Operator(
                username=username,
                full_name=username.upper(),
                role=role,
                site_code=DUKCAPIL,
                password_hash=crypto.hash_password(PASSWORD),
            ),
            actor="bench",
        )
    profile = deployment.profile
    sites = [s.code for s in profile.sites if s.records]
    districts = [r.code for r in regions.children(DUKCAPIL)]
    rules = load_rules(profile, host)
    print_days = {k: v for k, v in (getattr(rules, "print_days", None) or {}).items()}
    now = dt.datetime.now(dt.UTC)
    used: set[str] = set()
    plans = [plan(rng, n, sites, districts, operators, print_days, now, used) for n in range(count)]
    events = [(when, n, k) for n, p in enumerate(plans) for k, (when, _what, _arg) in enumerate(p.steps) if when <= now]
    heapq.heapify(events)
    prints = sum(1 for _w, n, k in events if plans[n].steps[k][1] == "print")
    # Two deliveries of blanks: one before the fortnight, one in the middle; some left in stock at the end.
    stock = prints + max(50, count // 20)
    first = stock * 2 // 3
    clock.now = now - dt.timedelta(days=DAYS + 1)
    lc.receive_blanks(DUKCAPIL, [f"BLK{n:09d}" for n in range(first)], actor="spv01", note="delivery 1")
    second_at = now - dt.timedelta(days=DAYS // 2)
    second_done = False
    snapshot = site_snapshot(profile, None)
    jobs: dict[int, str] = {}
    captures_of = stand_in_captures()
    started, done = time.perf_counter(), 0
    while events:
        when, n, k = heapq.heappop(events)
        if not second_done and when >= second_at:
            clock.now = second_at
            lc.receive_blanks(DUKCAPIL, [f"BLK{n:09d}" for n in range(first, stock)], actor="spv01", note="delivery 2")
            second_done = True
        clock.now = when
        p = plans[n]
        what, arg = p.steps[k][1], p.steps[k][2]
        eid = p.enrolment.id
        if what == "record":
            lc.record(p.enrolment, *captures_of(eid))
        elif what == "move":
            # A verdict after adjudication is the supervisor's; the others are the central system's.
            actor = "spv01" if p.steps[k - 1][2] is E.ADJUDICATE_RECORD else "siak-central"
            lc.transition(eid, arg, actor=actor)
        elif what == "queue":
            routing = rules.route(p.enrolment, snapshot)
            jobs[n] = lc.queue_print(
                eid,
                site_code=routing.site_code,
                actor="sync",
                routing_reason=routing.reason,
                print_day=routing.print_day,
            ).id
        elif what == "print":
            lc.reserve_blank(jobs[n], actor=p.enrolment.operator)
            lc.mark_sent(jobs[n], actor=p.enrolment.operator, printer="evolis-dukcapil")
            lc.mark_printed(jobs[n], actor=p.enrolment.operator)
        elif what == "issue":
            lc.transition(eid, E.CARD_ISSUED, actor=p.enrolment.operator, reason="handed over")
        done += 1
        if done % 5000 == 0:
            progress(f"seeding: {done} steps done ({done / (time.perf_counter() - started):.0f} steps/s)")
    if not second_done:
        clock.now = now
        lc.receive_blanks(DUKCAPIL, [f"BLK{n:09d}" for n in range(first, stock)], actor="spv01", note="delivery 2")
    with store.read() as conn:
        by_state = {
            str(s): int(c)
            for s, c in conn.execute(sa.select(enrolments.c.state, sa.func.count()).group_by(enrolments.c.state))
        }
    store.dispose()
    return {
        "enrolment_ids": [p.enrolment.id for p in plans],
        "districts": districts,
        "operators": operators,
        "by_state": by_state,
        "steps": done,
        "seed_s": time.perf_counter() - started,
        "used_niks": used,
    }


# -- the pages that exist --------------------------------------------------------------------------------------


def resolve_pages(deployment: Deployment) -> tuple[dict[str, str], list[str], dict[str, Any]]:
    """The path of each main page that exists in the app (label -> path), the labels skipped, and the
    recording form (its path and fields) when the app has one."""
    from ektp_plugins.web.ui import create_app
    from flask import url_for

    store = deployment.open_store()
    try:
        lc = LifecycleService(store, deployment.plugin_host().hook, deployment)
        app = create_app(lc, deployment.plugin_host())
        found, skipped = {}, []
        with app.test_request_context():
            for label, (endpoint, values) in PAGES.items():
                if endpoint in app.view_functions:
                    found[label] = url_for(endpoint, **values)
                else:
                    skipped.append(label)
            record = record_form(app)
    finally:
        store.dispose()
    return found, skipped, record


def record_form(app: Any) -> dict[str, Any]:
    """Where the biodata form is posted (``record.create``), if the app has the recording pages."""
    from flask import url_for

    if "record.create" not in app.view_functions:
        return {}
    return {"path": url_for("record.create"), "endpoint": "record.create"}


# -- the simulated operators ---------------------------------------------------------------------------------

_CSRF = re.compile(rb'name="csrf_token" value="([^"]+)"')
_DRAFT = re.compile(rb'name="draft" value="([0-9a-f]{32})"')


@attrs.define
class Sample:
    label: str
    ms: float
    status: int


class Desk:
    """One operator at their own PC: a keep-alive connection, a cookie, a CSRF token."""

    def __init__(self, index: int, port: int, username: str, rng: random.Random) -> None:
        self.index = index
        self.port = port
        self.username = username
        self.rng = rng
        self.cookie = ""
        self.csrf = ""
        # Every operator from its own loopback address, as from their own PC (the login limit is per address).
        self.source = f"127.0.0.{index + 2}"
        self.conn = self._connect()
        self.samples: list[Sample] = []
        self.errors: list[tuple[str, int | str]] = []
        self.recorded = 0

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60, source_address=(self.source, 0))

    def request(self, method: str, path: str, body: dict[str, str] | None = None) -> tuple[int, bytes, str, float]:
        """One request; (status, body, Location, milliseconds from sending to the answer's last byte)."""
        headers = {"Cookie": self.cookie} if self.cookie else {}
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            try:
                t0 = time.perf_counter()
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                payload = response.read()
                ms = (time.perf_counter() - t0) * 1000
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = self._connect()
                if attempt == 2:
                    raise
        for value in response.headers.get_all("Set-Cookie") or ():
            self.cookie = value.split(";", 1)[0]
        return response.status, payload, response.headers.get("Location", ""), ms

    def login(self) -> None:
        """The real login form (untimed): its CSRF token, the POST, then the page with the session's token."""
        status, page, _loc, _ms = self.request("GET", "/login")
        found = _CSRF.search(page)
        if status != 200 or not found:
            raise RuntimeError(f"{self.username}: the login page answered {status}")
        status, _page, _loc, _ms = self.request(
            "POST", "/login", {"username": self.username, "password": PASSWORD, "csrf_token": found.group(1).decode()}
        )
        if status != 302:
            raise RuntimeError(f"{self.username}: login answered {status}")
        status, page, _loc, _ms = self.request("GET", "/dashboard")
        found = _CSRF.search(page)
        if status != 200 or not found:
            raise RuntimeError(f"{self.username}: no CSRF token after login (dashboard answered {status})")
        self.csrf = found.group(1).decode()

    def timed(self, label: str, method: str, path: str, body: dict[str, str] | None = None) -> tuple[int, bytes]:
        """A timed request: its sample, and an error unless the answer is 2xx or 3xx; (status, body)."""
        try:
            status, payload, _location, ms = self.request(method, path, body)
        except (http.client.HTTPException, OSError) as exc:
            self.errors.append((label, type(exc).__name__))
            return 0, b""
        self.samples.append(Sample(label, ms, status))
        if not 200 <= status < 400:
            self.errors.append((label, status))
        return status, payload


class Workload:
    """What the operators pick from, and how a recording's form is filled."""

    def __init__(
        self, pages: dict[str, str], record: dict[str, Any], seeded: dict[str, Any], think: tuple[float, float]
    ) -> None:
        self.pages = pages
        self.record = record
        self.ids = seeded["enrolment_ids"]
        self.districts = seeded["districts"]
        self.think = think
        self.used: set[str] = set(seeded["used_niks"])
        self.lock = threading.Lock()
        self.actions = [a for a in MIX if a == "health" or a in pages or (a == "record" and record)]
        self.weights = [MIX[a] for a in self.actions]

    def fresh_nik(self, rng: random.Random, district: str) -> tuple[str, dt.date, str]:
        with self.lock:  # one set shared by the operators: no two record the same resident
            return resident_nik(rng, district, self.used, serial_from=5000)

    def step(self, op: Desk) -> None:
        """One action of one operator."""
        rng = op.rng
        action = rng.choices(self.actions, self.weights)[0]
        if action == "health":
            op.timed(TRIVIAL, "GET", HEALTH)
        elif action == "search by NIK prefix":
            district = rng.choice(self.districts).replace(".", "")
            prefix = district + f"{rng.choice((rng.randrange(1, 32), rng.randrange(41, 72))):02d}"
            op.timed(action, "GET", f"{self.pages[action]}?q={prefix}")
        elif action == "search by name":
            op.timed(action, "GET", f"{self.pages[action]}?q={urllib.parse.quote(rng.choice(FAMILY_NAMES).title())}")
        elif action == "enrolment detail":
            path = self.pages[action].rsplit("/", 1)[0] + "/" + rng.choice(self.ids)
            op.timed(action, "GET", path)
        elif action == "record":
            self.record_one(op)
        else:
            op.timed(action, "GET", self.pages[action])

    def record_one(self, op: Desk) -> None:
        """A recording: the start page, the biodata form (its draft id), the operator types, the form is sent."""
        rng = op.rng
        if "record start" in self.pages:
            op.timed("record start", "GET", self.pages["record start"])
            time.sleep(rng.uniform(*self.think))
        draft = uuid.uuid4().hex
        if "record form" in self.pages:
            _status, page = op.timed("record form", "GET", self.pages["record form"])
            found = _DRAFT.search(page)
            if found:
                draft = found.group(1).decode()
            time.sleep(rng.uniform(*self.think))
        district = rng.choice(self.districts)
        nik, birth, sex = self.fresh_nik(rng, district)
        values = biodata_values(rng, district, nik, birth, sex, resident_name(rng))
        form = {k: (v.isoformat() if isinstance(v, dt.date) else str(v)) for k, v in values.items()}
        form.update(csrf_token=op.csrf, draft=draft, no_kk="")
        status, _page = op.timed(RECORD, "POST", self.record["path"], form)
        if 300 <= status < 400:
            op.recorded += 1


def run_operators(
    port: int, usernames: list[str], workload: Workload, seconds: float, seed_value: int
) -> tuple[list[Desk], float]:
    """Log everyone in, then let them work for ``seconds``; returns the operators and the measured wall time."""
    ops = [Desk(i, port, name, random.Random(seed_value * 1000 + i)) for i, name in enumerate(usernames)]
    for op in ops:
        op.login()
    log(f"{len(ops)} operators logged in; working for {seconds:.0f} s")
    start = threading.Barrier(len(ops) + 1)
    stop_at = [0.0]

    def work(op: Desk) -> None:
        start.wait()
        # Operators do not all start in the same instant.
        time.sleep(op.rng.uniform(*workload.think))
        while time.monotonic() < stop_at[0]:
            workload.step(op)
            time.sleep(op.rng.uniform(*workload.think))

    threads = [threading.Thread(target=work, args=(op,), name=op.username, daemon=True) for op in ops]
    for t in threads:
        t.start()
    stop_at[0] = time.monotonic() + seconds
    began = time.monotonic()
    start.wait()
    for t in threads:
        t.join()
    wall = time.monotonic() - began
    for op in ops:
        op.conn.close()
    return ops, wall


# -- serving ------------------------------------------------------------------------------------------------


def wait_for(url: str, proc: subprocess.Popen[bytes], logfile: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not start:\n{logfile.read_text()}")


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far; None where /proc is not there."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def served(deployment: Deployment, port: int, threads: int, logfile: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``ektp serve`` in its own process, stopped (SIGTERM) on the way out."""
    env = {k: v for k, v in os.environ.items() if k != "EKTP_DATABASE_URL"}
    with open(logfile, "ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ektp_core",
                "serve",
                "--quiet",
                "--port",
                str(port),
                "--threads",
                str(threads),
                "-d",
                str(deployment.root),
            ],
            stdout=out,
            stderr=out,
            env={**env, "PYTHONUNBUFFERED": "1"},
        )
    try:
        wait_for(f"http://127.0.0.1:{port}{HEALTH}", proc, logfile)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


# -- figures ------------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def figures(ops: list[Desk], skipped: list[str]) -> dict[str, Any]:
    by_label: dict[str, list[float]] = {}
    for op in ops:
        for s in op.samples:
            by_label.setdefault(s.label, []).append(s.ms)
    trivial = by_label.get(TRIVIAL, [])
    trivial_p95 = percentile(trivial, 95) if trivial else float("nan")
    pages: dict[str, dict[str, Any]] = {}
    order = [*PAGES, RECORD, TRIVIAL]
    for label in sorted(by_label, key=lambda x: order.index(x) if x in order else len(order)):
        ms = by_label[label]
        p95 = percentile(ms, 95)
        main = label != TRIVIAL
        ratio = p95 / trivial_p95 if trivial else float("nan")
        pages[label] = {
            "count": len(ms),
            "p50_ms": percentile(ms, 50),
            "p95_ms": p95,
            "max_ms": max(ms),
            "ratio_to_trivial_p95": ratio,
            "p95_met": (p95 < TARGET_P95_MS) if main else None,
            "ratio_met": (ratio <= TARGET_RATIO) if main else None,
        }
    errors: dict[str, int] = {}
    for op in ops:
        for label, status in op.errors:
            key = f"{label}: {status}"
            errors[key] = errors.get(key, 0) + 1
    main_pages = [v for k, v in pages.items() if k != TRIVIAL]
    return {
        "pages": pages,
        "trivial_p95_ms": trivial_p95,
        "errors": errors,
        "error_count": sum(errors.values()),
        "skipped": skipped,
        "recorded": sum(op.recorded for op in ops),
        "p95_target_met": bool(main_pages) and all(v["p95_met"] for v in main_pages),
        "ratio_target_met": bool(main_pages) and bool(trivial) and all(v["ratio_met"] for v in main_pages),
    }


def load_average() -> list[float] | None:
    """The machine's 1, 5 and 15 minute load averages (other work on the shared cores shows here)."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def machine(dialect: str) -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "database": dialect,
        "load_average": load_average(),
    }


def render(report: dict[str, Any]) -> str:
    f = report["figures"]
    lines = [
        f"ektp web UI benchmark: {report['users']} operators for {report['seconds']:.0f} s against a Dukcapil "
        f"node ({report['enrolments']} enrolments seeded), ektp serve (waitress, {report['threads']} threads)",
        "",
        f"  {'page':28s}{'count':>7}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'p95/trivial':>13}  targets",
    ]
    for label, v in f["pages"].items():
        if label == TRIVIAL:
            verdict = "(baseline)"
        else:
            verdict = (
                f"p95<{TARGET_P95_MS:.0f} {'met' if v['p95_met'] else 'MISSED'}, "
                f"ratio<={TARGET_RATIO:.0f} {'met' if v['ratio_met'] else 'MISSED'}"
            )
        lines.append(
            f"  {label:28s}{v['count']:>7}{v['p50_ms']:>9.1f}{v['p95_ms']:>9.1f}{v['max_ms']:>9.1f}"
            f"{v['ratio_to_trivial_p95']:>13.2f}  {verdict}"
        )
    total = sum(v["count"] for v in f["pages"].values())
    lines += [
        "",
        f"  requests: {total} in {report['wall_s']:.1f} s ({total / report['wall_s']:.1f}/s); "
        f"enrolments recorded through the form: {f['recorded']}",
    ]
    if f["skipped"]:
        lines.append(f"  SKIPPED (not in the app's URL map at run time): {', '.join(f['skipped'])}")
    if f["left_out"]:
        lines.append(f"  LEFT OUT by --leave-out: {', '.join(f['left_out'])} (such a run does not pass)")
    if not report["recording"]:
        lines.append("  SKIPPED: recording (the app has no biodata form POST endpoint yet)")
    if f["errors"]:
        lines.append(f"  ERRORS ({f['error_count']}): " + ", ".join(f"{k} x{n}" for k, n in f["errors"].items()))
    else:
        lines.append("  errors: none (every answer 2xx or 3xx)")
    if report["machine"].get("server_cpu_s") is not None:
        cpu = report["machine"]["server_cpu_s"]
        share = 100 * cpu / report["wall_s"]
        lines.append(
            f"  server process CPU: {cpu:.1f} s in {report['wall_s']:.1f} s ({share:.0f} % "
            f"of one core; one Python process is held to about one core by the GIL), "
            f"{1000 * cpu / max(1, total):.1f} ms per request"
        )
    lines += [
        "",
        f"  main pages' p95 < {TARGET_P95_MS:.0f} ms: {'met' if f['p95_target_met'] else 'MISSED'}; "
        f"every page's p95 <= {TARGET_RATIO:.0f} x trivial p95 ({f['trivial_p95_ms']:.1f} ms): "
        f"{'met' if f['ratio_target_met'] else 'MISSED'}; "
        f"{'PASS' if report['passed'] else 'FAIL'}",
    ]
    seeded = report["seeded"]
    lines.append(
        f"  seeded: {seeded['steps']} lifecycle steps in {seeded['seed_s']:.0f} s; by state: "
        + ", ".join(f"{k} {v}" for k, v in sorted(seeded["by_state"].items(), key=lambda kv: -kv[1]))
    )
    m = report["machine"]
    lines.append(
        f"\nmachine: {m['platform']}, {m['cpus']} CPUs (client and server share them), Python {m['python']}, "
        f"SQLite {m['sqlite']}, database {m['database']}, load average before the run {m['load_average']}, "
        f"after {m.get('load_average_after')}; "
        f"elapsed {report['elapsed_s']:.0f} s"
    )
    return "\n".join(lines)


# -- main ---------------------------------------------------------------------------------------------------


def think_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(x) for x in text.split("-", 1))
    except ValueError:
        raise argparse.ArgumentTypeError("expected LOW-HIGH seconds, for example 0.2-1.0") from None
    if not 0 <= low <= high:
        raise argparse.ArgumentTypeError("expected 0 <= LOW <= HIGH")
    return low, high


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--enrolments", type=int, default=20_000, help="enrolments seeded (default 20000)")
    parser.add_argument("--users", type=int, default=20, help="simulated operators (default 20)")
    parser.add_argument("--seconds", type=float, default=60, help="how long they work (default 60)")
    parser.add_argument(
        "--think",
        type=think_range,
        default=(0.2, 1.0),
        help="think time between requests, LOW-HIGH seconds, uniform (default 0.2-1.0)",
    )
    parser.add_argument("--threads", type=int, default=8, help="ektp serve --threads (default 8)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the data and the operators (default 1)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL database to run on instead of SQLite; the benchmark works in a schema "
        "ektp_bench_web_<pid> that it creates and drops (needs CREATE on the database)",
    )
    parser.add_argument("--dir", type=Path, default=None, help="parent folder of the temp dir")
    parser.add_argument(
        "--leave-out",
        default="",
        metavar="PAGES",
        help="main pages to leave out of the mix, by label, comma-separated (to see the others "
        "without one slow page; such a run does not pass)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed or a request failed")
    args = parser.parse_args(argv)
    if args.enrolments < 1 or args.users < 1 or args.seconds <= 0:
        parser.error("--enrolments and --users must be at least 1, --seconds above 0")
    if args.users > 250:
        parser.error("--users: at most 250 (one loopback address each)")
    left_out = [x.strip() for x in args.leave_out.split(",") if x.strip()]
    if unknown := [x for x in left_out if x not in PAGES]:
        parser.error(f"--leave-out: unknown page {unknown[0]!r} (pages: {', '.join(PAGES)})")
    if args.database_url and args.database_url.startswith("sqlite"):
        parser.error("--database-url is for PostgreSQL; the SQLite database is created in the temp dir")
    started = time.perf_counter()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="ektp-bench-web-", dir=args.dir) as tmp:
        root = Path(tmp)
        with database_url(root, args.database_url) as url:
            deployment = create_deployment(root / "dukcapil", profile=PROFILE, site_code=DUKCAPIL, database_url=url)
            log(f"seeding {args.enrolments} enrolments over {DAYS} days and {args.users + 1} accounts")
            seeded = seed(deployment, args.enrolments, args.users, rng=rng, progress=log)
            log(f"seeded in {seeded['seed_s']:.0f} s: {seeded['by_state']}")
            pages, skipped, record = resolve_pages(deployment)
            if skipped:
                log(f"pages not in the app, skipped: {', '.join(skipped)}")
            for label in left_out:
                pages.pop(label, None)
            if not record:
                log("the app has no recording form POST yet: recording is left out of this run")
            info = machine(sa.engine.make_url(url).get_backend_name())
            port = free_port()
            with served(deployment, port, args.threads, root / "serve.log") as server:
                workload = Workload(pages, record, seeded, args.think)
                cpu_before = cpu_seconds(server.pid)
                ops, wall = run_operators(port, seeded["operators"], workload, args.seconds, args.seed)
                cpu_after = cpu_seconds(server.pid)
                info["load_average_after"] = load_average()
                # One Python process: with the GIL it can use about one core, however many threads it has.
                info["server_cpu_s"] = (
                    (cpu_after - cpu_before) if cpu_before is not None and cpu_after is not None else None
                )
    f = figures(ops, skipped)
    f["left_out"] = left_out
    passed = (
        f["p95_target_met"]
        and f["ratio_target_met"]
        and f["error_count"] == 0
        and not skipped
        and not left_out
        and bool(record)
    )
    seeded.pop("enrolment_ids")
    seeded.pop("used_niks")
    report = {
        "enrolments": args.enrolments,
        "users": args.users,
        "seconds": args.seconds,
        "think_s": args.think,
        "threads": args.threads,
        "wall_s": wall,
        "figures": f,
        "recording": bool(record),
        "targets": {"p95_ms": TARGET_P95_MS, "ratio": TARGET_RATIO},
        "passed": passed,
        "seeded": {k: v for k, v in seeded.items() if k not in ("districts", "operators")},
        "machine": info,
        "elapsed_s": time.perf_counter() - started,
    }
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 1 if args.strict and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
