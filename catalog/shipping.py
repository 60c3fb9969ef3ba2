"""Dispatch and delivery dates: cut-off times, handling days, rest days and holidays.

Pure functions over plain values, so that the rules can be tested without a database.

Rules: an order placed on a working day before the warehouse's cut-off starts handling
that day; otherwise on the next working day. It ships after `handling_days` further
working days (0 = the same day). Working days exclude the warehouse's rest weekdays and
public holidays. Couriers deliver every day, so transit days are calendar days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import AbstractSet

MAX_SCAN_DAYS = 60


@dataclass(frozen=True)
class WarehouseRules:
    """What decides when a warehouse ships."""

    warehouse_id: str
    cutoff: time
    handling_days: int
    rest_weekdays: frozenset[int]  # 0 = Monday

    @classmethod
    def from_row(cls, row: dict) -> "WarehouseRules":
        return cls(row["warehouse_id"], parse_cutoff(row["cutoff"]), int(row["handling_days"]),
                   parse_rest_weekdays(row.get("rest_weekdays") or ""))


def parse_cutoff(value: str) -> time:
    """Parse a local "HH:MM" cut-off; raise ValueError saying what is wrong."""
    try:
        hh, mm = str(value).strip().split(":")
        if len(hh) not in (1, 2) or len(mm) != 2:
            raise ValueError
        return time(int(hh), int(mm))
    except ValueError:
        raise ValueError(
            f"cut-off must be a local time HH:MM (00:00-23:59), got {value!r}") from None


def parse_rest_weekdays(value: str) -> frozenset[int]:
    """Parse "5,6" (0 = Monday) into weekday numbers; raise ValueError when malformed."""
    days = set()
    for part in str(value).replace(" ", "").split(","):
        if part == "":
            continue
        if not part.isdigit() or not 0 <= int(part) <= 6:
            raise ValueError(f"rest_weekdays must list weekday numbers 0-6, got {value!r}")
        days.add(int(part))
    return frozenset(days)


def is_working_day(day: date, rules: WarehouseRules, holidays: AbstractSet[date]) -> bool:
    return day.weekday() not in rules.rest_weekdays and day not in holidays


def next_working_day(day: date, rules: WarehouseRules, holidays: AbstractSet[date]) -> date:
    """The first working day strictly after `day`."""
    for _ in range(MAX_SCAN_DAYS):
        day += timedelta(days=1)
        if is_working_day(day, rules, holidays):
            return day
    raise ValueError(f"warehouse {rules.warehouse_id} has no working day within "
                     f"{MAX_SCAN_DAYS} days of {day}")


def ship_date_for(order_time: datetime, rules: WarehouseRules,
                  holidays: AbstractSet[date]) -> date:
    """The day an order placed at `order_time` (shop-local) leaves this warehouse."""
    day = order_time.date()
    if not (is_working_day(day, rules, holidays) and order_time.time() < rules.cutoff):
        day = next_working_day(day, rules, holidays)
    for _ in range(rules.handling_days):
        day = next_working_day(day, rules, holidays)
    return day


def delivery_window(ship_date: date, transit_min: int, transit_max: int) -> tuple[date, date]:
    """Earliest and latest delivery day for a parcel leaving on `ship_date`."""
    return ship_date + timedelta(days=transit_min), ship_date + timedelta(days=transit_max)
