"""stripe_revenue_chart: net card revenue by week as a bar chart, with the
weekly figures as JSON.

Pages through Stripe's `GET /v1/charges` like stripe_revenue, sums successful
charges per week (Monday to Sunday, UTC) in one currency and draws the weeks
as a PNG (or SVG) bar chart in pure Python (chart.py): no numpy, no
matplotlib, nothing the sandbox lacks.
"""

import logging
import re
from datetime import date, datetime, timezone
from typing import Iterator, Literal, Optional, TypedDict

from gateway_tool import Image, InvalidInput, Result, UpstreamError, config, http, tool

import chart
import weeks

log = logging.getLogger(__name__)

PAGE_SIZE = 100
MAX_PAGES = 10
# A quarter and a bit: a chart of more weeks is unreadable.
MAX_DAYS = 190
ZERO_DECIMAL = {
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga",
    "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
}
THREE_DECIMAL = {"bhd", "jod", "kwd", "omr", "tnd"}
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class Period(TypedDict):
    """The charted window, in UTC.

    Attributes:
        start: First day counted (ISO date, inclusive).
        end: First day NOT counted (ISO date, exclusive).
        days: Number of days in the window.
    """

    start: str
    end: str
    days: int


class Week(TypedDict):
    """One bar of the chart: successful charges created in the week.

    Attributes:
        start: First day of the week in the period (a Monday, or the period's start).
        end: Day after the week's last day in the period (exclusive).
        days: Days of the week inside the period (7 except at the edges).
        count: Successful (paid) charges in the week, in the charted currency.
        gross: Sum of those charges, in major units (dollars, euros).
        refunded: Refunded so far on those charges, in major units.
        net: gross minus refunded, in major units: the bar's height.
    """

    start: str
    end: str
    days: int
    count: int
    gross: float
    refunded: float
    net: float


class Totals(TypedDict):
    """The whole period in the charted currency.

    Attributes:
        count: Successful charges.
        gross: Sum charged, major units.
        refunded: Refunded so far, major units.
        net: gross minus refunded, major units. Fees and disputes are not deducted.
    """

    count: int
    gross: float
    refunded: float
    net: float


class ChartInfo(TypedDict):
    """The picture returned beside this JSON.

    Attributes:
        mime_type: "image/png" or "image/svg+xml".
        width: Width in pixels.
        height: Height in pixels.
        bars: Number of bars (weeks).
    """

    mime_type: str
    width: int
    height: int
    bars: int


class RevenueChart(TypedDict):
    """Net card revenue per week in one currency; the chart is an image block.

    Attributes:
        period: The window that was charted.
        currency: The lower-case ISO currency charted, e.g. "usd".
        weeks: One entry per bar, oldest first.
        total: The period's totals in that currency.
        other_currencies: Currencies with charges in the period that are not
            charted (amounts in different currencies are never added up).
        chart: What the image shows.
    """

    period: Period
    currency: str
    weeks: list[Week]
    total: Totals
    other_currencies: list[str]
    chart: ChartInfo


def _decimals(currency: str) -> int:
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def _major(minor: int, decimals: int) -> float:
    return minor / 10**decimals if decimals else float(minor)


def _parse_day(name: str, value: str) -> date:
    try:
        if not ISO_DAY.fullmatch(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO date like 2026-10-01, got {value!r}") from None


def _unix(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())


def _charge_pages(base: str, gte: int, lt: int) -> Iterator[list[dict]]:
    params = {"limit": str(PAGE_SIZE), "created[gte]": str(gte), "created[lt]": str(lt)}
    for _ in range(MAX_PAGES):
        resp = http.get(f"{base}/v1/charges", params=params)
        if resp.status in (401, 403):
            raise UpstreamError(f"Stripe refused the API key (HTTP {resp.status})")
        if not resp.ok:
            raise UpstreamError(f"Stripe answered HTTP {resp.status} to the charges list")
        page = resp.json()
        data = page.get("data")
        if page.get("object") != "list" or not isinstance(data, list):
            raise UpstreamError("Stripe's charges list was not a list object")
        yield data
        if not page.get("has_more") or not data:
            return
        params["starting_after"] = data[-1]["id"]
    raise InvalidInput(
        f"more than {MAX_PAGES * PAGE_SIZE} charges in the period; ask for a shorter period"
    )


@tool
def stripe_revenue_chart(
    start: str,
    end: str,
    currency: Optional[str] = None,
    format: Literal["png", "svg"] = "png",
) -> Result[RevenueChart]:
    """Net card revenue from Stripe per week, drawn as a bar chart (an image)
    with the weekly figures as JSON.

    Weeks run Monday to Sunday in UTC; the first and last bars cover only the
    days inside [start, end). One currency is charted: the one asked for, or
    else the one with the most successful charges; the others are listed in
    other_currencies, never added in. Net is gross minus refunds so far;
    Stripe fees and disputes are not deducted.

    Args:
        start: First day to chart, ISO date (e.g. "2026-10-01"), UTC, inclusive.
        end: Day after the last day to chart, ISO date (e.g. "2026-11-01"), UTC,
            exclusive. At most 190 days after start.
        currency: The three-letter ISO currency to chart, e.g. "usd".
        format: "png" (default; every client shows it) or "svg" (smaller, scalable).
    """
    first = _parse_day("start", start)
    stop = _parse_day("end", end)
    if first >= stop:
        raise InvalidInput(f"start ({start}) must be before end ({end}); end is exclusive")
    days = (stop - first).days
    if days > MAX_DAYS:
        raise InvalidInput(f"the period is {days} days; at most {MAX_DAYS} per chart")
    if currency is not None:
        currency = currency.strip().lower()
        if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
            raise InvalidInput(
                f"currency must be a three-letter ISO code such as 'usd', got {currency!r}"
            )
    if format not in ("png", "svg"):
        raise InvalidInput(f"format must be 'png' or 'svg', got {format!r}")

    starts = weeks.week_starts(first, stop)
    base = config.require("api_base").rstrip("/")
    # Per currency: per week [count, gross, refunded] in minor units.
    per: dict[str, list[list[int]]] = {}
    for ch in (ch for page in _charge_pages(base, _unix(first), _unix(stop)) for ch in page):
        if ch.get("status") != "succeeded" or not ch.get("paid"):
            continue
        i = weeks.bucket_of(int(ch.get("created", 0)), starts, stop)
        if i < 0:
            continue
        cur = str(ch.get("currency", "")).lower()
        row = per.setdefault(cur, [[0, 0, 0] for _ in starts])[i]
        row[0] += 1
        row[1] += int(ch["amount"])
        row[2] += int(ch.get("amount_refunded") or 0)

    if currency is None:
        ranked = sorted(per, key=lambda c: (-sum(w[0] for w in per[c]), c))
        currency = ranked[0] if ranked else "usd"
    rows = per.get(currency, [[0, 0, 0] for _ in starts])
    d = _decimals(currency)
    out_weeks: list[Week] = []
    for i, (count, gross, refunded) in enumerate(rows):
        week_end = weeks.bucket_end(i, starts, stop)
        out_weeks.append({
            "start": starts[i].isoformat(),
            "end": week_end.isoformat(),
            "days": (week_end - starts[i]).days,
            "count": count,
            "gross": _major(gross, d),
            "refunded": _major(refunded, d),
            "net": _major(gross - refunded, d),
        })
    gross = sum(r[1] for r in rows)
    refunded = sum(r[2] for r in rows)

    title = f"Net revenue by week, {currency.upper()}, {first.isoformat()} to {stop.isoformat()}"
    labels = [w["start"][5:] for w in out_weeks]
    values = [w["net"] for w in out_weeks]
    layout = chart.Layout(labels, values)
    if format == "svg":
        image = Image.svg(chart.bar_chart_svg(title, labels, values))
    else:
        image = Image.png(chart.bar_chart_png(title.upper(), labels, values))
    log.info("%d weeks charted in %s", len(out_weeks), currency)
    summary: RevenueChart = {
        "period": {"start": first.isoformat(), "end": stop.isoformat(), "days": days},
        "currency": currency,
        "weeks": out_weeks,
        "total": {
            "count": sum(r[0] for r in rows),
            "gross": _major(gross, d),
            "refunded": _major(refunded, d),
            "net": _major(gross - refunded, d),
        },
        "other_currencies": sorted(c for c in per if c != currency),
        "chart": {
            "mime_type": image.mime_type,
            "width": layout.width,
            "height": layout.height,
            "bars": len(out_weeks),
        },
    }
    return Result(summary, image)
