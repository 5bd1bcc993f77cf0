"""Age rules: CPR century, birthdays (29 February), and the date in Copenhagen."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from app.access.age import age_on, birth_date_from_cpr, is_under, today_in_copenhagen, turns

# MedCom test persons (shared reference medcom-test-families.json): CPR -> birthDate.
MEDCOM_PERSONS = [
    ("0211223989", date(1922, 11, 2)),  # Åge Berggren: digit 3
    ("2311143995", date(1914, 11, 23)),  # Cæsar Østergård: digit 3
    ("2911829996", date(1982, 11, 29)),  # Kirsten Berggren: digit 9, YY 82 > 36
    ("0505059996", date(2005, 5, 5)),  # Pia Berggren: digit 9, YY 05 <= 36
    ("1306249995", date(2024, 6, 13)),  # Dreng Levendefødt 2024: digit 9
    ("3103979995", date(1997, 3, 31)),  # Anders Jensen
]


@pytest.mark.parametrize(("cpr", "birth"), MEDCOM_PERSONS)
def test_medcom_test_persons(cpr: str, birth: date) -> None:
    assert birth_date_from_cpr(cpr) == birth


@pytest.mark.parametrize(
    ("cpr", "birth"),
    [
        # digit 0-3: 1900-1999 whatever YY
        ("0101000000", date(1900, 1, 1)),
        ("0101993999", date(1999, 1, 1)),
        # digit 4 and 9: YY <= 36 -> 2000s, else 1900s
        ("0101364000", date(2036, 1, 1)),
        ("0101374000", date(1937, 1, 1)),
        ("0101369000", date(2036, 1, 1)),
        ("0101379000", date(1937, 1, 1)),
        # digit 5-8: YY <= 57 -> 2000s, else 1858-1899
        ("0101575000", date(2057, 1, 1)),
        ("0101585000", date(1858, 1, 1)),
        ("0101998000", date(1899, 1, 1)),
        ("0101006000", date(2000, 1, 1)),
    ],
)
def test_century_rule(cpr: str, birth: date) -> None:
    assert birth_date_from_cpr(cpr) == birth


@pytest.mark.parametrize(
    "cpr",
    [
        "",
        "123456789",
        "12345678901",
        "0101-001234",
        "010100123a",
        "3202001234",
        "2902011234",
        "0013001234",
        " 010100123",
    ],
)
def test_invalid_cpr_is_refused(cpr: str) -> None:
    with pytest.raises(ValueError):
        birth_date_from_cpr(cpr)


def test_29_february_cpr_in_a_leap_year() -> None:
    assert birth_date_from_cpr("2902041234") == date(1904, 2, 29)
    assert birth_date_from_cpr("2902044234") == date(2004, 2, 29)


def test_one_day_before_the_15th_birthday_is_under_15() -> None:
    birth = date(2010, 5, 5)
    day_before = date(2025, 5, 4)  # 14 years and 364 days
    assert age_on(birth, day_before) == 14
    assert is_under(birth, 15, day_before)


def test_on_the_15th_birthday_is_not_under_15() -> None:
    birth = date(2010, 5, 5)
    assert age_on(birth, date(2025, 5, 5)) == 15
    assert not is_under(birth, 15, date(2025, 5, 5))


@pytest.mark.parametrize(
    ("years", "birthday"),
    [
        (1, date(2005, 3, 1)),  # common year: 1 March
        (4, date(2008, 2, 29)),  # leap year: 29 February
        (15, date(2019, 3, 1)),
        (16, date(2020, 2, 29)),
        (18, date(2022, 3, 1)),
    ],
)
def test_born_29_february_turns_on_1_march_in_common_years(years: int, birthday: date) -> None:
    birth = date(2004, 2, 29)
    assert turns(birth, years) == birthday
    assert is_under(birth, years, birthday - timedelta(days=1))
    assert not is_under(birth, years, birthday)
    assert age_on(birth, birthday) == years
    assert age_on(birth, birthday - timedelta(days=1)) == years - 1


def test_born_29_february_on_28_february_of_a_common_year_is_still_younger() -> None:
    assert age_on(date(2004, 2, 29), date(2019, 2, 28)) == 14
    assert is_under(date(2004, 2, 29), 15, date(2019, 2, 28))


def test_born_28_february_or_1_march_is_unaffected() -> None:
    assert turns(date(2003, 2, 28), 15) == date(2018, 2, 28)
    assert turns(date(2003, 3, 1), 16) == date(2019, 3, 1)


def test_age_before_birth_is_an_error() -> None:
    with pytest.raises(ValueError):
        age_on(date(2020, 1, 2), date(2020, 1, 1))


def test_half_past_eleven_utc_before_the_birthday_is_the_birthday_in_copenhagen() -> None:
    # 4 May 23:30 UTC is 5 May 01:30 in Copenhagen (CEST, UTC+2)
    now = datetime(2025, 5, 4, 23, 30, tzinfo=UTC)
    assert now.date() == date(2025, 5, 4)
    today = today_in_copenhagen(now)
    assert today == date(2025, 5, 5)
    assert not is_under(date(2010, 5, 5), 15, today)


def test_copenhagen_midnight_in_winter_time() -> None:
    # CET is UTC+1: 22:59 UTC is still the same day, 23:00 UTC is the next.
    assert today_in_copenhagen(datetime(2025, 1, 14, 22, 59, tzinfo=UTC)) == date(2025, 1, 14)
    assert today_in_copenhagen(datetime(2025, 1, 14, 23, 0, tzinfo=UTC)) == date(2025, 1, 15)


def test_copenhagen_date_from_another_timezone() -> None:
    new_york = timezone(timedelta(hours=-5))
    assert today_in_copenhagen(datetime(2025, 1, 14, 18, 30, tzinfo=new_york)) == date(2025, 1, 15)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        today_in_copenhagen(datetime(2025, 1, 1, 12, 0))


def test_default_now_is_today_in_copenhagen() -> None:
    assert abs((today_in_copenhagen() - datetime.now(UTC).date()).days) <= 1
