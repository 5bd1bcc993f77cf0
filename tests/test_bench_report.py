"""The benchmark report's judgement of the steady-RSS target (pure; no timings)."""

from __future__ import annotations

from typing import Any

from bench.report import rss_growth


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
