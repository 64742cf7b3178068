#!/usr/bin/env python
"""1:N fingerprint deduplication with the ``nbis-bozorth3`` matcher against brute-force Bozorth3, in the same run.

Galleries of synthetic residents (ten fingers each, minutiae-level synthesis: ``synthetic.finger_minutiae``) of
1,000, 10,000 and 100,000 residents are built once and cached. Against each, the benchmark times ``identify`` on all
ten fingers per enrolment and measures accuracy with ``ektp_core.devices.matchers.decide``: planted repeat
enrolments (new impressions of a gallery resident's fingers, some with fingers missing) must come out DUPLICATE with
the right resident; residents never enrolled must not. The baseline is brute-force Bozorth3 (every finger of every
resident) on the 1,000 gallery. A small image-based check (synthetic images through mindtct) runs the same decisions
on templates from the real extraction pipeline, and compares the Bozorth3 score distributions of both pipelines.

Targets (issue): 100,000 gallery in at most 5 s per enrolment; >= 99% of planted duplicates caught; <= 0.1% of
unique residents called duplicates. Run ``python benchmarks/bench_dedup.py --help``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ektp_plugins.scanners import nbis
from ektp_plugins.simulators import synthetic
from ektp_plugins.simulators.synthetic import _minutiae
from ektp_plugins.verify.dedup import NbisMatcher
from ektp_plugins.verify.dedup import features as dedup_features

from ektp_core.devices.matchers import Candidate, Decision, MatchThresholds, decide
from ektp_core.domain.model import FINGER_POSITIONS

#: Bump when the generator or the stored gallery changes in a way its constants do not show.
CACHE_VERSION = 1
#: Resident ``i`` of every gallery is synthetic seed ``GALLERY_BASE + i`` (so the galleries nest).
GALLERY_BASE = 10_000_000
#: Residents never enrolled (unique probes) come from here on.
UNIQUE_BASE = 20_000_000
#: The image-based check uses residents of its own.
IMAGE_BASE = 30_000_000
CHUNK = 1000


def log(message: str) -> None:
    """A progress line on standard error."""
    print(message, file=sys.stderr, flush=True)


def cache_key() -> str:
    """What the cached galleries depend on: the generator's and the features' constants."""
    names = (
        "MASTER_COUNT",
        "MIN_SPACING",
        "CONTACT",
        "DISTORTION",
        "DROPOUT",
        "SPURIOUS",
        "BORDER",
        "JITTER_PX",
        "JITTER_DEG",
        "TYPE_FLIP",
    )
    parts = [
        CACHE_VERSION,
        [getattr(_minutiae, n) for n in names],
        [dedup_features.D_MIN, dedup_features.D_MAX, dedup_features.D_BINS, dedup_features.A_BINS],
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:12]


def resident_fingers(seed: int, impression: int = 0) -> dict[str, bytes]:
    """A resident's ten ISO/IEC 19794-2 templates."""
    return {p: synthetic.finger_minutiae(seed, p, impression).iso_bytes() for p in FINGER_POSITIONS}


def _background() -> None:
    """Pool initializer: building is background work on a shared machine (once per process: nice adds up)."""
    os.nice(5)


def _build_chunk(args: tuple[int, str]) -> str:
    start, path = args
    matcher = NbisMatcher()
    matcher.add_many((f"r{GALLERY_BASE + i}", resident_fingers(GALLERY_BASE + i)) for i in range(start, start + CHUNK))
    tmp = f"{path}.{os.getpid()}.tmp"
    matcher.save(tmp)
    os.replace(tmp, path)
    return path


def gallery_files(size: int, cache: Path, processes: int) -> list[Path]:
    """The cache files of the first ``size`` residents, building the missing ones (in ``processes`` processes)."""
    folder = cache / f"gallery-{cache_key()}"
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / f"chunk-{start:07d}.npz" for start in range(0, size, CHUNK)]
    missing = [(int(f.stem.split("-")[1]), str(f)) for f in files if not f.exists()]
    if missing:
        log(f"building {len(missing) * CHUNK} residents into {folder} ({processes} processes)")
        begun = time.perf_counter()
        with multiprocessing.get_context("spawn").Pool(processes, _background) as pool:
            for done, _ in enumerate(pool.imap_unordered(_build_chunk, missing), 1):
                elapsed = time.perf_counter() - begun
                eta = elapsed / done * (len(missing) - done)
                total = len(missing) * CHUNK
                log(f"  {done * CHUNK:>7} / {total} residents, {elapsed:6.0f} s, about {eta:5.0f} s left")
    return files


def duplicate_probes(size: int, count: int, rng: np.random.Generator) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Planted repeat enrolments: a new impression of a gallery resident; every fifth lacks one to four fingers."""
    chosen = rng.choice(size, size=min(count, size), replace=False)
    for n, i in enumerate(chosen.tolist()):
        seed = GALLERY_BASE + i
        fingers = resident_fingers(seed, impression=int(rng.integers(1, 6)))
        if n % 5 == 4:
            for position in rng.choice(FINGER_POSITIONS, size=int(rng.integers(1, 5)), replace=False).tolist():
                del fingers[position]
        yield f"r{seed}", fingers


def unique_probes(count: int, offset: int) -> Iterator[dict[str, bytes]]:
    """Residents that no gallery holds."""
    for i in range(count):
        yield resident_fingers(UNIQUE_BASE + offset + i, impression=1)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), or NaN for no values."""
    return float(np.percentile(values, q)) if len(values) else float("nan")


def matcher_options(args: argparse.Namespace) -> dict[str, Any]:
    """The matcher options the command line sets."""
    options: dict[str, Any] = {"workers": args.threads}
    if args.fuse_fingers is not None:
        options["fuse_fingers"] = args.fuse_fingers
    return options


def run_size(size: int, args: argparse.Namespace, thresholds: MatchThresholds) -> dict[str, Any]:
    """Build (or load) one gallery, then time and score the probes against it."""
    files = gallery_files(size, args.cache, args.build_processes)
    matcher = NbisMatcher(matcher_options(args))
    begun = time.perf_counter()
    matcher.load(*files)
    load_seconds = time.perf_counter() - begun
    log(f"gallery {size}: {len(matcher)} residents loaded in {load_seconds:.1f} s")
    rng = np.random.default_rng(size)
    times: list[float] = []
    dup_true: list[float] = []
    dup_other: list[float] = []
    dup_decisions: dict[Decision, int] = dict.fromkeys(Decision, 0)
    caught = rank1 = 0
    # Warm-up (lazily computed index terms, page faults): not timed.
    for _, fingers in duplicate_probes(size, 2, np.random.default_rng(2**32 - 1)):
        matcher.identify(fingers)
    for n, (subject, fingers) in enumerate(duplicate_probes(size, args.probes, rng), 1):
        t = time.perf_counter()
        candidates = matcher.identify(fingers, limit=10)
        times.append(time.perf_counter() - t)
        decision, support = decide(candidates, thresholds)
        dup_decisions[decision] += 1
        caught += decision is Decision.DUPLICATE and any(c.subject == subject for c in support)
        rank1 += bool(candidates) and candidates[0].subject == subject
        dup_true.append(next((c.score for c in candidates if c.subject == subject), 0.0))
        dup_other.append(max((c.score for c in candidates if c.subject != subject), default=0.0))
        if n % 50 == 0:
            log(f"  {n} duplicate probes, {statistics.mean(times):.2f} s per enrolment")
    uniq_top: list[float] = []
    uniq_decisions: dict[Decision, int] = dict.fromkeys(Decision, 0)
    for n, fingers in enumerate(unique_probes(args.uniques, offset=0), 1):
        t = time.perf_counter()
        candidates = matcher.identify(fingers, limit=10)
        times.append(time.perf_counter() - t)
        uniq_decisions[decide(candidates, thresholds)[0]] += 1
        uniq_top.append(candidates[0].score if candidates else 0.0)
        if n % 50 == 0:
            log(f"  {n} unique probes, {statistics.mean(times):.2f} s per enrolment")
    dups, uniques = max(args.probes and len(dup_true), 1), max(len(uniq_top), 1)
    return {
        "size": size,
        "load_seconds": load_seconds,
        "enrolments_timed": len(times),
        "mean_seconds": statistics.mean(times),
        "p95_seconds": percentile(times, 95),
        "max_seconds": max(times),
        "duplicate_probes": len(dup_true),
        "caught_pct": 100 * caught / dups,
        "rank1_pct": 100 * rank1 / dups,
        "duplicates_grey_pct": 100 * dup_decisions[Decision.GREY_ZONE] / dups,
        "unique_probes": len(uniq_top),
        "false_duplicate_pct": 100 * uniq_decisions[Decision.DUPLICATE] / uniques,
        "unique_grey_pct": 100 * uniq_decisions[Decision.GREY_ZONE] / uniques,
        "scores": {"duplicate_true": dup_true, "duplicate_best_other": dup_other, "unique_best": uniq_top},
    }


def fused(scores: Sequence[float], k: int) -> float:
    """The matcher's fusion rule: the mean of the k highest finger scores."""
    top = sorted(scores, reverse=True)[: max(1, min(k, len(scores)))]
    return sum(top) / len(top)


def brute_force(args: argparse.Namespace, thresholds: MatchThresholds) -> dict[str, Any]:
    """Bozorth3 on every finger of every resident of the 1,000 gallery (records pre-loaded: its best case)."""
    size = 1000
    extractor = nbis._extractor(500, False)
    log(f"baseline: loading {size} residents for brute-force Bozorth3")
    gallery = [
        (
            f"r{GALLERY_BASE + i}",
            {
                p: extractor.load_iso_19794_2_2005(nbis.Template.from_iso(t)._nbis_bytes())
                for p, t in resident_fingers(GALLERY_BASE + i).items()
            },
        )
        for i in range(size)
    ]
    rng = np.random.default_rng(size)  # the same first probes as the indexed run on this gallery
    times: list[float] = []
    caught = 0
    probes = list(duplicate_probes(size, args.baseline_probes, rng))
    for subject, fingers in probes:
        t = time.perf_counter()
        loaded = {
            p: extractor.load_iso_19794_2_2005(nbis.Template.from_iso(b)._nbis_bytes()) for p, b in fingers.items()
        }
        candidates = []
        for gid, gfingers in gallery:
            scores = {p: float(loaded[p].compare(gfingers[p])) for p in loaded if p in gfingers}
            candidates.append(Candidate(gid, fused(list(scores.values()), 2), scores))
        candidates.sort(key=lambda c: -c.score)
        times.append(time.perf_counter() - t)
        decision, support = decide(candidates[:10], thresholds)
        caught += decision is Decision.DUPLICATE and any(c.subject == subject for c in support)
        log(f"  baseline probe {len(times)}: {times[-1]:.2f} s")
    return {
        "size": size,
        "probes": len(times),
        "mean_seconds": statistics.mean(times),
        "p95_seconds": percentile(times, 95),
        "caught_pct": 100 * caught / max(len(times), 1),
    }


def _image_template(job: tuple[int, str, int]) -> bytes:
    seed, position, impression = job
    return nbis.extract(synthetic.finger(seed, position, impression)).iso_bytes()


def _save_blobs(path: Path, keys: list[str], blobs: list[bytes]) -> None:
    tmp = path.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        keys=np.array(keys, dtype=np.str_),
        lengths=np.array([len(b) for b in blobs], dtype=np.int64),
        blob=np.frombuffer(b"".join(blobs), dtype=np.uint8),
    )
    os.replace(tmp, path)


def _load_blobs(path: Path) -> dict[str, bytes]:
    with np.load(path, allow_pickle=False) as data:
        blob, ends = data["blob"].tobytes(), np.cumsum(data["lengths"]).tolist()
        starts = [0, *ends[:-1]]
        return {str(k): blob[s:e] for k, s, e in zip(data["keys"], starts, ends, strict=True)}


def score_summary(values: Sequence[float]) -> str:
    """p5 / median / p95 / max of a list of scores."""
    if not values:
        return "-"
    return (
        f"p5 {percentile(values, 5):.0f}, median {percentile(values, 50):.0f}, p95 {percentile(values, 95):.0f}, "
        f"max {max(values):.0f} (n={len(values)})"
    )


def image_check(args: argparse.Namespace, thresholds: MatchThresholds) -> dict[str, Any]:
    """Residents from synthetic images through mindtct: decisions, and per-finger Bozorth3 scores of both pipelines."""
    n = args.image_residents
    half = n // 2
    jobs = [(IMAGE_BASE + i, p, 0) for i in range(n) for p in FINGER_POSITIONS]  # the gallery
    jobs += [(IMAGE_BASE + i, p, 1) for i in range(half) for p in FINGER_POSITIONS]  # planted re-enrolments
    jobs += [(IMAGE_BASE + 1000 + i, p, 1) for i in range(half) for p in FINGER_POSITIONS]  # never enrolled
    path = args.cache / f"images-{CACHE_VERSION}.npz"
    have = _load_blobs(path) if path.exists() else {}
    todo = [j for j in jobs if repr(j) not in have]
    if todo:
        log(f"image check: {len(todo)} synthetic finger images through mindtct ({args.build_processes} processes)")
        with multiprocessing.get_context("spawn").Pool(args.build_processes, _background) as pool:
            made = pool.imap(_image_template, todo, chunksize=4)
            for done, (job, blob) in enumerate(zip(todo, made, strict=True), 1):
                have[repr(job)] = blob
                if done % 100 == 0:
                    log(f"  {done} / {len(todo)} images")
        _save_blobs(path, list(have), list(have.values()))

    def fingers(seed: int, impression: int) -> dict[str, bytes]:
        return {
            p: have[repr((seed, p, impression))]
            for p in FINGER_POSITIONS
            if nbis.Template.from_iso(have[repr((seed, p, impression))]).minutiae
        }

    matcher = NbisMatcher(matcher_options(args))
    matcher.add_many((f"r{IMAGE_BASE + i}", fingers(IMAGE_BASE + i, 0)) for i in range(n))
    caught = false_dup = grey_dup = grey_uniq = 0
    for i in range(half):
        decision, support = decide(matcher.identify(fingers(IMAGE_BASE + i, 1)), thresholds)
        caught += decision is Decision.DUPLICATE and any(c.subject == f"r{IMAGE_BASE + i}" for c in support)
        grey_dup += decision is Decision.GREY_ZONE
        decision, _ = decide(matcher.identify(fingers(IMAGE_BASE + 1000 + i, 1)), thresholds)
        false_dup += decision is Decision.DUPLICATE
        grey_uniq += decision is Decision.GREY_ZONE
    # Per-finger Bozorth3 scores, the same residents through both pipelines.
    pipelines: dict[str, dict[str, list[float]]] = {}
    for name, template in (
        ("image (mindtct)", lambda s, p, k: nbis.Template.from_iso(have[repr((s, p, k))])),
        ("minutiae-level", lambda s, p, k: synthetic.finger_minutiae(s, p, k)),
    ):
        genuine = [
            nbis.match(template(IMAGE_BASE + i, p, 0), template(IMAGE_BASE + i, p, 1))
            for i in range(half)
            for p in FINGER_POSITIONS
        ]
        impostor = [
            nbis.match(template(IMAGE_BASE + i, p, 0), template(IMAGE_BASE + 1000 + i, p, 1))
            for i in range(half)
            for p in FINGER_POSITIONS
        ]
        counts = [len(template(IMAGE_BASE + i, p, 0).minutiae) for i in range(n) for p in FINGER_POSITIONS]
        pipelines[name] = {"genuine": genuine, "impostor": impostor, "minutiae": counts}
    return {
        "residents": n,
        "duplicate_probes": half,
        "unique_probes": half,
        "caught_pct": 100 * caught / max(half, 1),
        "duplicates_grey_pct": 100 * grey_dup / max(half, 1),
        "false_duplicate_pct": 100 * false_dup / max(half, 1),
        "unique_grey_pct": 100 * grey_uniq / max(half, 1),
        "pipelines": pipelines,
    }


def calibration(results: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Caught and false-duplicate shares if the duplicate threshold were each of a range of values."""
    rows = []
    for threshold in range(20, 65, 5):
        row: dict[str, float] = {"threshold": threshold}
        for r in results:
            s = r["scores"]
            row[f"caught_{r['size']}"] = 100 * float(np.mean(np.array(s["duplicate_true"]) >= threshold))
            row[f"false_{r['size']}"] = 100 * float(np.mean(np.array(s["unique_best"]) >= threshold))
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="gallery sizes (default 1000,10000,100000)")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "ektp-bench" / "dedup",
        help="where built galleries are kept (default ~/.cache/ektp-bench/dedup)",
    )
    parser.add_argument("--probes", type=int, default=200, help="planted duplicate enrolments per size (default 200)")
    parser.add_argument("--uniques", type=int, default=200, help="unique enrolments per size (default 200)")
    parser.add_argument(
        "--baseline-probes",
        type=int,
        default=10,
        help="enrolments for brute force on the 1,000 gallery (default 10; 0 skips it)",
    )
    parser.add_argument(
        "--image-residents", type=int, default=40, help="residents of the image-based check (default 40; 0 skips it)"
    )
    parser.add_argument("--build-processes", type=int, default=2, help="processes building galleries (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="the matcher's workers option (default 1)")
    parser.add_argument(
        "--fuse-fingers",
        type=int,
        default=None,
        help="the matcher's fuse_fingers option (default: the matcher's default)",
    )
    parser.add_argument("--duplicate", type=float, default=40.0, help="duplicate threshold (default 40)")
    parser.add_argument("--adjudicate", type=float, default=25.0, help="adjudicate threshold (default 25)")
    parser.add_argument("--build-only", action="store_true", help="build the cached galleries and stop")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--strict", action="store_true", help="exit status 1 when a target is missed")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    thresholds = MatchThresholds(duplicate=args.duplicate, adjudicate=args.adjudicate)
    if args.build_only:
        for size in sizes:
            gallery_files(size, args.cache, args.build_processes)
        return 0
    # Time every gallery build first (a cached gallery's build time is the time it took to make it now: 0).
    build_seconds = {}
    for size in sorted(sizes):
        begun = time.perf_counter()
        gallery_files(size, args.cache, args.build_processes)
        build_seconds[size] = time.perf_counter() - begun
    results = []
    for size in sizes:
        result = run_size(size, args, thresholds)
        result["build_seconds"] = build_seconds[size]
        results.append(result)
    baseline = brute_force(args, thresholds) if args.baseline_probes and 1000 in sizes else None
    images = image_check(args, thresholds) if args.image_residents >= 2 else None
    report = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "thresholds": {"duplicate": thresholds.duplicate, "adjudicate": thresholds.adjudicate},
        "options": {
            k: getattr(NbisMatcher(matcher_options(args)), k)
            for k in (
                "candidates_per_finger",
                "candidates_fused",
                "fuse_fingers",
                "promote_score",
                "promote_top",
                "workers",
            )
        },
        "results": results,
        "baseline": baseline,
        "image_check": images,
        "calibration": calibration(results),
    }
    one_k = next((r for r in results if r["size"] == 1000), None)
    if baseline and one_k:
        baseline["ratio_to_indexed_1000"] = baseline["mean_seconds"] / one_k["mean_seconds"]
        baseline["extrapolated_100000_seconds"] = baseline["mean_seconds"] * 100
    missed = [r["size"] for r in results if r["size"] >= 100000 and r["mean_seconds"] > 5.0]
    missed += [r["size"] for r in results if r["caught_pct"] < 99.0 or r["false_duplicate_pct"] > 0.1]
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return 1 if args.strict and missed else 0


def print_table(report: dict[str, Any]) -> None:
    """The human-readable report."""
    t = report["thresholds"]
    print(
        f"Deduplication, nbis-bozorth3 ({report['machine']['cpus']} CPUs, Python {report['machine']['python']}); "
        f"thresholds duplicate {t['duplicate']:g}, adjudicate {t['adjudicate']:g}; options {report['options']}"
    )
    print()
    print(
        f"{'gallery':>8} {'build s':>8} {'mean s':>7} {'p95 s':>6} {'max s':>6} {'caught %':>9} {'rank-1 %':>9} "
        f"{'dup grey %':>10} {'false dup %':>11} {'uniq grey %':>11}  probes (dup/unique)"
    )
    for r in report["results"]:
        print(
            f"{r['size']:>8} {r['build_seconds']:>8.0f} {r['mean_seconds']:>7.3f} {r['p95_seconds']:>6.3f} "
            f"{r['max_seconds']:>6.3f} {r['caught_pct']:>9.2f} {r['rank1_pct']:>9.2f} "
            f"{r['duplicates_grey_pct']:>10.2f} {r['false_duplicate_pct']:>11.2f} {r['unique_grey_pct']:>11.2f}  "
            f"{r['duplicate_probes']}/{r['unique_probes']}"
        )
    b = report["baseline"]
    if b:
        print()
        print(
            f"Baseline, brute-force Bozorth3 on the {b['size']} gallery ({b['probes']} enrolments): "
            f"mean {b['mean_seconds']:.2f} s, p95 {b['p95_seconds']:.2f} s per enrolment, "
            f"caught {b['caught_pct']:.0f}%"
        )
        if "ratio_to_indexed_1000" in b:
            print(
                f"  brute force / indexed on 1,000: {b['ratio_to_indexed_1000']:.1f}x; brute force on 100,000 "
                f"would take about {b['extrapolated_100000_seconds']:.0f} s per enrolment (x100, extrapolated)"
            )
    print()
    print(
        "Fused scores: "
        + "; ".join(
            f"{r['size']}: true resident of duplicates {score_summary(r['scores']['duplicate_true'])}, "
            f"best of uniques {score_summary(r['scores']['unique_best'])}"
            for r in report["results"]
        )
    )
    print()
    print("If the duplicate threshold were ... (caught % / false duplicate %, per gallery size)")
    for row in report["calibration"]:
        cells = "  ".join(
            f"{r['size']}: {row['caught_' + str(r['size'])]:6.2f} / {row['false_' + str(r['size'])]:5.2f}"
            for r in report["results"]
        )
        print(f"  {row['threshold']:>4.0f}  {cells}")
    images = report["image_check"]
    if images:
        print()
        print(
            f"Image-based check ({images['residents']} residents from synthetic images through mindtct, "
            f"{images['duplicate_probes']} planted re-enrolments, {images['unique_probes']} unique): caught "
            f"{images['caught_pct']:.1f}%, duplicates in grey zone {images['duplicates_grey_pct']:.1f}%, false "
            f"duplicates {images['false_duplicate_pct']:.1f}%, uniques in grey zone {images['unique_grey_pct']:.1f}%"
        )
        for name, d in images["pipelines"].items():
            print(
                f"  {name:>16}: genuine {score_summary(d['genuine'])}; impostor {score_summary(d['impostor'])}; "
                f"minutiae per finger median {statistics.median(d['minutiae']):.0f}"
            )


if __name__ == "__main__":
    sys.exit(main())
