"""Small-cell suppression of one quarter (docs/quality-data.md), as a table.

(n, a, b) = completed plans, followed within 30 days, within 90 days; None is masked.
Whatever is published, no count a caller can compute from it (n, a, b, b - a, n - a,
n - b) is 1-4.
"""

from __future__ import annotations

import itertools

import pytest

from app.access.quality_data import OutcomeCounts, PublishedCounts, Quarter, suppress

CASES = [
    # everything safe
    ((12, 0, 0), (12, 0, 0)),
    ((20, 5, 10), (20, 5, 10)),
    ((5, 5, 5), (5, 5, 5)),  # all of them: 0 left over, shown (zero is not small)
    ((0, 0, 0), (0, 0, 0)),
    # primary: a small total hides the quarter
    ((4, 0, 0), (None, None, None)),
    ((1, 1, 1), (None, None, None)),
    # primary: a small 30-day count; 90 days stays when its remainders are safe
    ((12, 3, 6), (12, None, 6)),
    # complementary: 31-90 days (b - a = 2) would be small, so 90 days goes
    ((20, 10, 12), (20, 10, None)),
    # complementary: n - b = 3 would show 3 plans without a hospital plan
    ((20, 10, 17), (20, 10, None)),
    # n - a = 2: 30 days goes; 90 days too (n - b = 0 is safe, b - a unknown)
    ((12, 10, 12), (12, None, 12)),
    # nothing but the total is safe
    ((10, 3, 7), (10, None, None)),
    ((10, 2, 8), (10, None, None)),
]


@pytest.mark.parametrize(("true", "published"), CASES)
def test_suppression_table(
    true: tuple[int, int, int], published: tuple[int | None, int | None, int | None]
) -> None:
    assert suppress(OutcomeCounts(*true)) == PublishedCounts(*published)


def _revealed(p: PublishedCounts) -> list[int]:
    n, a, b = p.completed, p.within_30, p.within_90
    shown = [x for x in (n, a, b) if x is not None]
    if n is not None and a is not None:
        shown.append(n - a)
    if n is not None and b is not None:
        shown.append(n - b)
    if a is not None and b is not None:
        shown.append(b - a)
    return shown


def test_no_published_or_derivable_count_is_small() -> None:
    """Every (n, a, b) with a <= b <= n up to 25: nothing derivable is 1-4."""
    for n, a, b in itertools.product(range(26), repeat=3):
        if a <= b <= n:
            published = suppress(OutcomeCounts(n, a, b))
            assert all(x == 0 or x >= 5 for x in _revealed(published)), (n, a, b, published)


def test_quarters() -> None:
    q = Quarter.parse("2025-Q4")
    assert q == Quarter(2025, 4)
    assert str(q.next()) == "2026-Q1"
    assert q.last_day.isoformat() == "2025-12-31"
    assert [str(x) for x in Quarter(2025, 3).through(Quarter(2026, 1))] == [
        "2025-Q3",
        "2025-Q4",
        "2026-Q1",
    ]
    assert Quarter.parse("2025-Q0") is None
    assert Quarter.parse("25-Q1") is None
