"""Weekly buckets of Stripe charges: which week a charge falls in, and the
totals per week. Pure Python, tested on its own and used by the tool."""

from datetime import date, datetime, timedelta, timezone


def week_starts(first: date, stop: date) -> list[date]:
    """First day of each week bucket in [first, stop): `first` itself, then
    every Monday after it. The first and last buckets may be short."""
    starts = [first]
    monday = first + timedelta(days=(7 - first.weekday()) % 7 or 7)
    while monday < stop:
        starts.append(monday)
        monday += timedelta(days=7)
    return starts


def bucket_of(created: int, starts: list[date], stop: date) -> int:
    """Index of the bucket a Unix timestamp falls in (UTC days), or -1 outside."""
    day = datetime.fromtimestamp(created, tz=timezone.utc).date()
    if day < starts[0] or day >= stop:
        return -1
    index = 0
    for i, start in enumerate(starts):
        if start <= day:
            index = i
    return index


def bucket_end(i: int, starts: list[date], stop: date) -> date:
    """Day after the last day of bucket `i` (exclusive)."""
    return starts[i + 1] if i + 1 < len(starts) else stop
