"""The benchmark report's judgement of the targets (pure; no timings)."""

from __future__ import annotations

from typing import Any

from bench.report import balance, rss_growth, targets


def _preload(
    target: int, added: int, samples: list[tuple[int, int]], pids: tuple[str, ...]
) -> dict[str, Any]:
    memory = [
        {"resources": n, "rss_kib": {pid: kib // len(pids) for pid in pids}} for n, kib in samples
    ]
    return {"target": target, "resources_added": added, "memory": memory}


def test_rss_is_judged_over_every_preload_of_the_same_workers() -> None:
    workers = ("11", "12")
    preloads: list[dict[str, Any]] = [
        # before warm-up (the first tenth): growth here does not count
        _preload(10_000, 10_000, [(0, 200_000), (5_000, 260_000), (9_000, 400_000)], workers),
        _preload(
            100_000, 90_000, [(10_000, 500_000), (60_000, 500_000), (99_000, 510_000)], workers
        ),
        _preload(
            1_000_000,
            900_000,
            [(100_000, 520_000), (500_000, 530_000), (999_000, 540_000)],
            workers,
        ),
    ]
    growth = rss_growth(preloads)
    assert growth is not None
    assert growth["resources"] == 1_000_000 and growth["preloaded"] == 1_000_000
    assert growth["warm_mib"] == 520_000 / 1024 and growth["max_mib"] == 540_000 / 1024


def test_rss_of_other_worker_processes_is_not_chained() -> None:
    earlier = _preload(100_000, 100_000, [(0, 1), (50_000, 1), (99_000, 1)], ("1", "2"))
    later = _preload(
        200_000, 100_000, [(100_000, 600_000), (150_000, 600_000), (199_000, 660_000)], ("3", "4")
    )
    growth = rss_growth([earlier, later])
    assert growth is not None
    assert growth["preloaded"] == 100_000
    assert round(growth["growth"], 3) == 0.1


def _phase(**values: Any) -> dict[str, Any]:
    return {"concurrency": 16, "server_cpu_s": 10.0, **values}


def _status(results: dict[str, Any], name: str) -> tuple[str, str]:
    [found] = [t for t in targets(results) if t["target"] == name]
    return found["status"], found["measured"]


def test_balance_is_the_largest_deviation_from_the_workers_mean() -> None:
    assert balance([10.0, 10.0]) == 0.0
    assert balance([12.5, 7.5]) == 0.25
    assert balance([22.4, 0.04]) == 0.996
    assert balance([3.0]) is None and balance([0.0, 0.0]) is None


def test_worker_balance_is_judged_on_the_worst_phase_under_16_connections() -> None:
    workloads = {
        "read": _phase(balance=0.1),
        "create": _phase(balance=0.3),
        "floor-select": _phase(balance=0.9),  # the floor is not the service
        "search-delta": _phase(balance=0.8, concurrency=4),  # fewer connections
        "mixed": _phase(balance=0.9, server_cpu_s=0.2),  # too few clock ticks
    }
    assert _status({"workloads": workloads}, "worker balance") == (
        "MISS",
        "worst 30% (create, 2 phases)",
    )
    workloads["create"]["balance"] = 0.25
    assert _status({"workloads": workloads}, "worker balance")[0] == "PASS"
    assert _status({"workloads": {}}, "worker balance")[0] == "NOT RUN"


def test_cpu_per_request_targets_and_flatness_of_the_subject_search() -> None:
    per = {"read": 1.5, "create": 6.1}
    per |= {"search-subject-10": 2.0, "search-subject-100": 2.5, "search-subject-1000": 2.7}
    workloads = {n: _phase(server_db_cpu_ms_per_request=ms) for n, ms in per.items()}
    results = {"workloads": workloads}
    assert _status(results, "read server+DB CPU (analyzed)")[0] == "PASS"
    assert _status(results, "create server+DB CPU (analyzed)")[0] == "MISS"
    assert _status(results, "search-subject-1000 server+DB CPU (analyzed)")[0] == "PASS"
    assert _status(results, "subject search flat (analyzed)") == ("MISS", "1.35x (2.70 / 2.00 ms)")
    workloads["search-subject-1000"]["server_db_cpu_ms_per_request"] = 2.6
    assert _status(results, "subject search flat (analyzed)")[0] == "PASS"
    stale = {n: _phase(server_db_cpu_ms_per_request=180.0) for n in per if "subject" in n}
    assert _status({**results, "stale": stale}, "search-subject-10 server+DB CPU (stale)")[0] == (
        "MISS"
    )


def test_the_generator_is_judged_at_the_floors_rate() -> None:
    def floor(cpu: float) -> dict[str, Any]:
        return _phase(generator={"cpu_s_per_s": cpu})

    results = {"workloads": {"floor-insert": floor(0.1), "floor-select": floor(0.26)}}
    assert _status(results, "generator CPU at the floor's rate") == (
        "MISS",
        "0.260 CPU s/s (floor-select)",
    )
    results["workloads"]["floor-select"] = floor(0.25)
    assert _status(results, "generator CPU at the floor's rate")[0] == "PASS"
