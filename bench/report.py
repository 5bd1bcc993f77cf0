"""Ratios to the floor, targets (PASS/MISS, never an assertion), the table, JSON and plot."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bench.load import SUBJECT_TIERS

SUBJECTS = tuple(f"search-subject-{tier}" for tier in SUBJECT_TIERS)
# Which floor rate each workload is compared with: writes with inserts, reads with selects.
FLOOR_OF = {
    "create": "floor-insert",
    "transaction": "floor-insert",
    "read": "floor-select",
    **dict.fromkeys(SUBJECTS, "floor-select"),
    "search-patient-plans": "floor-select",
    "search-delta": "floor-select",
    "search-condition": "floor-select",
    "search-patient": "floor-select",
}
MIXED_WRITE_SHARE = 0.3
MIXED_TARGET_SECONDS = 300
RSS_TARGET_RESOURCES = 1_000_000
# Issue #14, part 6: server+DB CPU ms per request, throughput ratios to the floor.
CPU_TARGETS = (("read", 1.5), ("create", 6.0), *((name, 3.0) for name in SUBJECTS))
RATIO_TARGETS = (("read", 0.70), ("create", 0.40))
SUBJECT_RATIO = 0.50
FLAT = 1.3  # subject search at 1,000 plans against 10; the searches at 1M against 10k
TRANSACTION_RESOURCES_S = 1000
CLI_LOAD_RESOURCES_S = 2000
P95_AT_1M = (
    ("search-patient-plans", "CPR chain search", 20.0),
    ("search-delta", "delta page", 50.0),
)
BALANCE = 0.25  # each worker's CPU within this share of the mean
BALANCE_MIN_CPU_S = 1.0  # below this the workers' CPU is too few clock ticks to judge
BALANCE_CONCURRENCY = 16
GENERATOR_CPU_S_PER_S = 0.25
NO_BALANCE = ("floor-insert", "floor-select", "cli-load", "delta-pull")


def floor_rate(workloads: dict[str, Any], name: str) -> float | None:
    """The floor's rate for `name`: transactions compare resources/s with inserts/s; the
    mixed workload compares with the 70/30 blend of selects and inserts (harmonic mean)."""
    if name == "mixed":
        select, insert = (
            workloads.get(n, {}).get("requests_per_s") for n in ("floor-select", "floor-insert")
        )
        if not select or not insert:
            return None
        return float(1 / ((1 - MIXED_WRITE_SHARE) / select + MIXED_WRITE_SHARE / insert))
    floor = FLOOR_OF.get(name)
    rate = workloads.get(floor or "", {}).get("requests_per_s")
    return float(rate) if rate else None


def balance(cpu: list[float]) -> float | None:
    """The largest deviation of one worker's CPU from the workers' mean, as a share of
    the mean (None for one worker or no CPU)."""
    if len(cpu) < 2 or sum(cpu) <= 0:
        return None
    mean = sum(cpu) / len(cpu)
    return round(max(abs(c - mean) for c in cpu) / mean, 3)


def add_ratios(phases: dict[str, Any], floors: dict[str, Any] | None = None) -> None:
    """`ratio_to_floor` of every phase, against the floor phases in `floors` (default: the
    same dict; the stale search phases compare with the run's floor workloads)."""
    for name, result in phases.items():
        base = floor_rate(phases if floors is None else floors, name)
        rate = result["resources_per_s"] if name == "transaction" else result["requests_per_s"]
        result["ratio_to_floor"] = round(rate / base, 3) if base else None


def rss_growth(preloads: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Service RSS growth over the run's ingest: the preloads served by the same worker
    processes, in order, up to the data resources stored at the end of the last one.
    The summed worker RSS once a tenth of that was loaded (warm-up: imports, caches,
    pools, the high-water marks of the workloads run at the first size) against the
    highest sample after it."""
    loads = [p for p in preloads if len(p.get("memory", [])) >= 3]
    if not loads:
        return None
    workers = set(loads[-1]["memory"][-1]["rss_kib"])
    served = [p for p in loads if set(p["memory"][-1]["rss_kib"]) == workers]
    stored = served[-1]["target"]
    warm_at = stored / 10
    after = [
        sum(s["rss_kib"].values())
        for p in served
        for s in p["memory"]
        if s["resources"] >= warm_at and set(s["rss_kib"]) == workers
    ]
    if len(after) < 2 or not after[0]:
        return None
    return {
        "resources": stored,
        "preloaded": sum(p["resources_added"] for p in served),
        "warm_mib": after[0] / 1024,
        "max_mib": max(after) / 1024,
        "growth": max(after) / after[0] - 1,
    }


def _target(name: str, wanted: str, measured: str, ok: bool | None) -> dict[str, Any]:
    status = "NOT RUN" if ok is None else ("PASS" if ok else "MISS")
    return {"target": name, "wanted": wanted, "measured": measured, "status": status}


def _threshold(
    label: str, value: float | None, limit: float, show: str, *, at_least: bool = False
) -> dict[str, Any]:
    """`value` against `limit` (at most, or `at_least`); `show` formats both."""
    ok = None if value is None else (value >= limit if at_least else value <= limit)
    measured = "-" if value is None else show.format(value)
    return _target(label, f"{'>=' if at_least else '<='} {show.format(limit)}", measured, ok)


def _cpu_targets(phases: dict[str, Any], state: str) -> list[dict[str, Any]]:
    """Server+DB CPU per request of read, create and the subject searches, and flatness."""
    out = []
    for name, limit in CPU_TARGETS:
        if state != "analyzed" and not name.startswith("search-"):
            continue
        ms = phases.get(name, {}).get("server_db_cpu_ms_per_request")
        out.append(_threshold(f"{name} server+DB CPU ({state})", ms, limit, "{:.2f} ms/request"))
    low, high = (
        phases.get(n, {}).get("server_db_cpu_ms_per_request") for n in (SUBJECTS[0], SUBJECTS[-1])
    )
    out.append(
        _target(
            f"subject search flat ({state})",
            f"{SUBJECT_TIERS[-1]:,} plans <= {FLAT}x {SUBJECT_TIERS[0]}",
            f"{high / low:.2f}x ({high:.2f} / {low:.2f} ms)" if low and high else "-",
            None if not low or not high else high <= FLAT * low,
        )
    )
    return out


def _ratio_targets(w: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, wanted in RATIO_TARGETS:
        ratio = w.get(name, {}).get("ratio_to_floor")
        out.append(_threshold(f"{name} throughput / floor", ratio, wanted, "{:.0%}", at_least=True))
    ratios = [w.get(n, {}).get("ratio_to_floor") for n in SUBJECTS]
    known = [r for r in ratios if r is not None]
    out.append(
        _target(
            "subject search throughput / floor",
            f">= {SUBJECT_RATIO:.0%} at {', '.join(map(str, SUBJECT_TIERS))} plans",
            " / ".join(f"{r:.0%}" if r is not None else "-" for r in ratios),
            None if len(known) < len(ratios) else min(known) >= SUBJECT_RATIO,
        )
    )
    return out


def _rate_target(w: dict[str, Any], name: str, label: str, wanted: int) -> dict[str, Any]:
    rate = w.get(name, {}).get("resources_per_s")
    return _threshold(label, rate, wanted, "{:,.0f} resources/s", at_least=True)


def _series_targets(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """p95 at 1M stored resources and its growth from the first point (10k)."""
    out = []
    million = [p for p in series if p["size"] >= 1_000_000]
    for name, label, limit in P95_AT_1M:
        at_1m = million[-1]["workloads"].get(name) if million else None
        out.append(
            _target(
                f"{label} p95 at 1M",
                f"<= {limit:.0f} ms",
                f"{at_1m['p95_ms']} ms" if at_1m else "not run at 1M",
                None if not at_1m else at_1m["p95_ms"] <= limit,
            )
        )
        first = series[0]["workloads"].get(name) if series else None
        last = series[-1]["workloads"].get(name) if len(series) > 1 else None
        if first and last and first["p95_ms"]:
            growth = last["p95_ms"] / first["p95_ms"]
            sizes = f"{series[-1]['size']:,} vs {series[0]['size']:,}"
            measured = f"{growth:.2f}x ({sizes})"
            ok = growth <= FLAT if million else None
        else:
            measured, ok = "-", None
        out.append(_target(f"{label} p95 growth", f"1M <= {FLAT}x 10k", measured, ok))
    return out


def _balance_target(w: dict[str, Any]) -> dict[str, Any]:
    judged = {
        name: r["balance"]
        for name, r in w.items()
        if name not in NO_BALANCE
        and r.get("balance") is not None
        and r.get("concurrency", 0) >= BALANCE_CONCURRENCY
        and r.get("server_cpu_s", 0) >= BALANCE_MIN_CPU_S
    }
    wanted = f"within +-{BALANCE:.0%} of the mean"
    return _worst("worker balance", wanted, judged, BALANCE, "worst {0:.0%} ({1}, {2} phases)")


def _generator_target(w: dict[str, Any]) -> dict[str, Any]:
    floors = {
        name: rate
        for name in ("floor-insert", "floor-select")
        if (rate := w.get(name, {}).get("generator", {}).get("cpu_s_per_s")) is not None
    }
    label, wanted = "generator CPU at the floor's rate", f"<= {GENERATOR_CPU_S_PER_S} CPU s/s"
    return _worst(label, wanted, floors, GENERATOR_CPU_S_PER_S, "{0:.3f} CPU s/s ({1})")


def _worst(
    label: str, wanted: str, values: dict[str, float], limit: float, show: str
) -> dict[str, Any]:
    """The highest of `values` (by phase) at most `limit`; `show` gets value, phase, count."""
    if not values:
        return _target(label, wanted, "-", None)
    worst = max(values, key=values.__getitem__)
    measured = show.format(values[worst], worst, len(values))
    return _target(label, wanted, measured, values[worst] <= limit)


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue #14's targets (part 6), judged on this run's own numbers."""
    w = results["workloads"]
    out = _cpu_targets(w, "analyzed")
    if results.get("stale"):
        out += _cpu_targets(results["stale"], "stale")
    out += _ratio_targets(w)
    out.append(
        _rate_target(w, "transaction", "transaction ingest (50 entries)", TRANSACTION_RESOURCES_S)
    )
    out.append(_rate_target(w, "cli-load", "esp-careplans load ingest", CLI_LOAD_RESOURCES_S))
    out += _series_targets(results.get("series", []))
    out.append(_balance_target(w))
    mixed = w.get("mixed", {})
    errors, seconds = mixed.get("errors"), mixed.get("duration_s") or 0
    out.append(
        _target(
            "mixed workload errors",
            f"0 over >= {MIXED_TARGET_SECONDS} s",
            f"{errors} over {seconds:.0f} s" if errors is not None else "-",
            None if errors is None or seconds < MIXED_TARGET_SECONDS else errors == 0,
        )
    )
    growth = rss_growth(results.get("preload", []))
    out.append(
        _target(
            "steady RSS during ingest",
            f"growth < 10% after warm-up, ingest of >= {RSS_TARGET_RESOURCES:,}",
            f"{growth['growth']:.1%} up to {growth['resources']:,} stored resources "
            f"({growth['warm_mib']:.0f} -> {growth['max_mib']:.0f} MiB)"
            if growth
            else "-",
            None
            if not growth or growth["resources"] < RSS_TARGET_RESOURCES
            else growth["growth"] < 0.10,
        )
    )
    out.append(_generator_target(w))
    return out


def _row(name: str, r: dict[str, Any]) -> str:
    ratio = r.get("ratio_to_floor")
    per = r.get("server_db_cpu_ms_per_request")
    bal = r.get("balance")
    generator = r.get("generator", {}).get("cpu_s_per_s")
    return (
        f"{name:<22}{r['concurrency']:>5}{r['requests_per_s']:>9.1f}"
        f"{r['resources_per_s']:>9.1f}{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}"
        f"{r['p99_ms']:>9.2f}{r['errors']:>8}"
        f"{(f'{ratio:.2f}' if ratio is not None else '-'):>9}"
        f"{r.get('cpu_ms_per_request', 0):>9.2f}"
        f"{(f'{per:.2f}' if per is not None else '-'):>9}"
        f"{(f'{bal:.0%}' if bal is not None else '-'):>7}"
        f"{(f'{generator:.3f}' if generator is not None else '-'):>8}"
    )


HEADER = (
    f"{'workload':<22}{'conc':>5}{'req/s':>9}{'res/s':>9}{'p50 ms':>9}{'p95 ms':>9}"
    f"{'p99 ms':>9}{'errors':>8}{'floor x':>9}{'srv ms':>9}{'+db ms':>9}{'bal':>7}{'gen':>8}"
)
LEGEND = (
    "srv ms: the workers' CPU per request; +db ms: server+DB CPU per request (PostgreSQL's "
    "backends included); bal: largest deviation of a worker's CPU from the mean; gen: the "
    "load generator's CPU s per s"
)


def table(results: dict[str, Any]) -> str:
    lines = [HEADER]
    lines += [_row(name, r) for name, r in results["workloads"].items()]
    if results.get("stale"):
        lines += ["", "search phases straight after the bulk writes, no ANALYZE (stale statistics)"]
        lines += [_row(name, r) for name, r in results["stale"].items()]
    lines += ["", LEGEND]
    if any(p["workloads"] for p in results.get("series", [])):
        lines += [
            "",
            "search latency against data size (p50 / p95 ms, after ANALYZE | stale; "
            "delta pull plans/s)",
        ]
        names = sorted({n for p in results["series"] for n in p["workloads"]})
        lines.append(f"{'resources':>12}  " + "".join(f"{n:>36}" for n in names))
        for point in results["series"]:
            cells = []
            for n in names:
                r = point["workloads"].get(n)
                old = point.get("stale", {}).get(n)
                if r is None:
                    cells.append(f"{'-':>36}")
                elif n == "delta-pull":
                    cells.append(f"{r['plans_per_s']:>26.0f} ({r['plans']} pl)")
                else:
                    cell = f"{r['p50_ms']:.1f} / {r['p95_ms']:.1f}"
                    if old:
                        cell += f" | {old['p50_ms']:.1f} / {old['p95_ms']:.1f}"
                    cells.append(f"{cell:>36}")
            lines.append(f"{point['resources']:>12,}  " + "".join(cells))
    lines += ["", "targets (issue #14, this run's own numbers; no assertion)"]
    for t in results["targets"]:
        lines.append(
            f"  {t['status']:<8} {t['target']:<44} wanted {t['wanted']:<34} "
            f"measured {t['measured']}"
        )
    return "\n".join(lines)


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", "utf-8")
    os.replace(tmp, path)


def plot(results: dict[str, Any], path: Path) -> None:
    """Throughput and p95 per workload; search latency against data size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = results["workloads"]
    names = [n for n in workloads if n not in ("delta-pull", "cli-load")]
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.5))
    rates = [
        workloads[n]["resources_per_s" if n == "transaction" else "requests_per_s"] for n in names
    ]
    colours = ["#888888" if n.startswith("floor") else "#1f77b4" for n in names]
    axes[0].bar(names, rates, color=colours)
    axes[0].set_title("Throughput (requests/s; transaction: resources/s; grey: floor)")
    axes[1].bar(names, [workloads[n]["p95_ms"] for n in names], color=colours)
    axes[1].set_yscale("log")
    axes[1].set_title("p95 latency (ms, log scale)")
    for ax in axes[:2]:
        ax.tick_params(axis="x", labelrotation=60)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    series = results.get("series", [])
    for name in sorted({n for p in series for n in p["workloads"] if n != "delta-pull"}):
        points = [(p["resources"], p["workloads"][name]) for p in series if name in p["workloads"]]
        xs = [x for x, _ in points]
        axes[2].plot(xs, [r["p95_ms"] for _, r in points], marker="o", label=f"{name} p95")
        axes[2].plot(
            xs, [r["p50_ms"] for _, r in points], marker=".", linestyle=":", label=f"{name} p50"
        )
    if series:
        axes[2].set_xscale("log")
        axes[2].legend(fontsize=7)
    axes[2].set_title("Search latency (ms) against stored resources")
    axes[2].set_xlabel("resources")
    config = results["config"]
    fig.suptitle(
        f"esp-careplans bench {results['started'][:19]}  workers={config['workers']} "
        f"concurrency={config['concurrency']} duration={config['duration']}s "
        f"({results['machine']['nproc']} cores)"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
