"""Age from a CPR number and birthdays, as Danish law counts them.

Sources: CPR-kontoret, "Personnummeret i CPR" (the 7th digit gives the century);
a person born 29 February turns a year older on 1 March in common years
(the usual Danish reading of the age-majority rules, e.g. sundhedsloven §17).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

COPENHAGEN = ZoneInfo("Europe/Copenhagen")

_CPR = re.compile(r"[0-9]{10}")


def birth_date_from_cpr(cpr: str) -> date:
    """Birth date from a 10-digit CPR number (CPR century rule on digit 7 and YY)."""
    if not isinstance(cpr, str) or not _CPR.fullmatch(cpr):
        raise ValueError("a CPR number is exactly 10 digits")
    day, month, yy, digit7 = int(cpr[0:2]), int(cpr[2:4]), int(cpr[4:6]), int(cpr[6])
    if digit7 <= 3:
        century = 1900
    elif digit7 in (4, 9):
        century = 2000 if yy <= 36 else 1900
    else:  # 5-8
        century = 2000 if yy <= 57 else 1800
    try:
        return date(century + yy, month, day)
    except ValueError as exc:
        raise ValueError("the CPR number does not start with a valid date (DDMMYY)") from exc


def turns(birth: date, years: int) -> date:
    """The date someone born on `birth` turns `years` old (29 February -> 1 March)."""
    if years < 0:
        raise ValueError("years must be >= 0")
    year = birth.year + years
    try:
        return birth.replace(year=year)
    except ValueError:  # 29 February in a common year
        return date(year, 3, 1)


def age_on(birth: date, today: date) -> int:
    """Completed years of age on `today`."""
    if today < birth:
        raise ValueError("today is before the birth date")
    years = today.year - birth.year
    return years if turns(birth, years) <= today else years - 1


def is_under(birth: date, years: int, today: date) -> bool:
    """True until the day the person turns `years`; on that day they are no longer under."""
    return today < turns(birth, years)


def today_in_copenhagen(now: datetime | None = None) -> date:
    """The calendar date in Denmark (Europe/Copenhagen) at `now` (default: the current time)."""
    if now is None:
        now = datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(COPENHAGEN).date()
