"""Ratios to the floor, targets (PASS/MISS, never an assertion), the table, JSON and plot."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

# Which floor rate each workload is compared with: writes with inserts, reads with selects.
FLOOR_OF = {
    "create": "floor-insert",
    "transaction": "floor-insert",
    "read": "floor-select",
    "search-patient-plans": "floor-select",
    "search-delta": "floor-select",
    "search-condition": "floor-select",
    "search-patient": "floor-select",
}
TYPICAL_SEARCHES = ("search-patient-plans", "search-delta")
MIXED_WRITE_SHARE = 0.3
MIXED_TARGET_SECONDS = 300
RSS_TARGET_RESOURCES = 1_000_000


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


def add_ratios(workloads: dict[str, Any]) -> None:
    for name, result in workloads.items():
        base = floor_rate(workloads, name)
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


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, judged on this run's own numbers."""
    w = results["workloads"]
    out = []
    create = w.get("create", {}).get("ratio_to_floor")
    out.append(
        _target(
            "create throughput",
            ">= 35% of floor insert",
            f"{create:.0%}" if create is not None else "-",
            None if create is None else create >= 0.35,
        )
    )
    read = w.get("read", {})
    ratio = read.get("ratio_to_floor")
    out.append(
        _target(
            "read by id throughput",
            ">= 60% of floor select",
            f"{ratio:.0%}" if ratio is not None else "-",
            None if ratio is None else ratio >= 0.60,
        )
    )
    p95 = read.get("p95_ms")
    conc = read.get("concurrency")
    out.append(
        _target(
            f"read by id p95 (concurrency {conc})",
            "<= 10 ms",
            f"{p95} ms" if p95 is not None else "-",
            None if p95 is None else p95 <= 10.0 and conc == 16,
        )
    )
    tx = w.get("transaction", {}).get("resources_per_s")
    out.append(
        _target(
            "transaction ingest",
            ">= 1000 resources/s",
            f"{tx:.0f} resources/s" if tx is not None else "-",
            None if tx is None else tx >= 1000,
        )
    )
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
    series = results.get("series", [])
    million = [p for p in series if p["size"] >= 1_000_000]
    for name in TYPICAL_SEARCHES:
        at_1m = million[-1]["workloads"].get(name) if million else None
        out.append(
            _target(
                f"{name} p95 at 1M",
                "<= 20 ms",
                f"{at_1m['p95_ms']} ms" if at_1m else "not run at 1M",
                None if not at_1m else at_1m["p95_ms"] <= 20.0,
            )
        )
        first = series[0]["workloads"].get(name) if series else None
        last = series[-1]["workloads"].get(name) if len(series) > 1 else None
        if first and last and first["p95_ms"]:
            growth = last["p95_ms"] / first["p95_ms"]
            sizes = f"{series[-1]['size']:,} vs {series[0]['size']:,}"
            out.append(
                _target(
                    f"{name} p95 growth",
                    "1M <= 1.5x 10k",
                    f"{growth:.2f}x ({sizes})",
                    growth <= 1.5 if million else None,
                )
            )
        else:
            out.append(_target(f"{name} p95 growth", "1M <= 1.5x 10k", "-", None))
    return out


def table(results: dict[str, Any]) -> str:
    lines = [
        f"{'workload':<22}{'conc':>5}{'req/s':>9}{'res/s':>9}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'p99 ms':>9}{'errors':>8}{'floor x':>9}{'cpu ms/req':>11}{'RSS MiB':>13}",
    ]
    for name, r in results["workloads"].items():
        ratio = r.get("ratio_to_floor")
        rss = "/".join(str(round(v["rss_kib"] / 1024)) for v in r.get("server", {}).values())
        lines.append(
            f"{name:<22}{r['concurrency']:>5}{r['requests_per_s']:>9.1f}"
            f"{r['resources_per_s']:>9.1f}{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}"
            f"{r['p99_ms']:>9.2f}{r['errors']:>8}"
            f"{(f'{ratio:.2f}' if ratio is not None else '-'):>9}"
            f"{r.get('cpu_ms_per_request', 0):>11.2f}{rss:>13}"
        )
    if any(p["workloads"] for p in results.get("series", [])):
        lines += ["", "search latency against data size (p50 / p95 ms; delta pull plans/s)"]
        names = sorted({n for p in results["series"] for n in p["workloads"]})
        lines.append(f"{'resources':>12}  " + "".join(f"{n:>24}" for n in names))
        for point in results["series"]:
            cells = []
            for n in names:
                r = point["workloads"].get(n)
                if r is None:
                    cells.append(f"{'-':>24}")
                elif n == "delta-pull":
                    cells.append(f"{r['plans_per_s']:>14.0f} ({r['plans']} pl)")
                else:
                    cells.append(f"{r['p50_ms']:>11.2f} / {r['p95_ms']:>8.2f}")
            lines.append(f"{point['resources']:>12,}  " + "".join(cells))
    lines += ["", "targets (this run's own numbers; no assertion)"]
    for t in results["targets"]:
        lines.append(
            f"  {t['status']:<8} {t['target']:<38} wanted {t['wanted']:<24} "
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
    names = [n for n in workloads if n != "delta-pull"]
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
