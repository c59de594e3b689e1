"""stripe_revenue: gross, refunded and net card revenue for a period, per currency.

Pages through Stripe's `GET /v1/charges` for the period (100 charges a page,
newest first) and returns a few hundred bytes of totals instead of ~3.7 KB per
charge.
"""

import logging
import re
from datetime import date, datetime, timezone
from typing import Iterator, Optional, TypedDict

from gateway_tool import InvalidInput, UpstreamError, config, http, tool

log = logging.getLogger(__name__)

# Stripe's largest page.
PAGE_SIZE = 100
# 10 pages = 1,000 charges ≈ 3.7 MB of upstream JSON; tool.toml's `requests`
# and `upstream_bytes` limits are sized for this. Raise all three together.
MAX_PAGES = 10
# A year (leap years included): longer ranges are several calls' work.
MAX_DAYS = 366

# Currencies whose amounts Stripe gives in whole units or in thousandths
# (https://docs.stripe.com/currencies#zero-decimal); every other currency
# uses hundredths.
ZERO_DECIMAL = {
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga",
    "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
}
THREE_DECIMAL = {"bhd", "jod", "kwd", "omr", "tnd"}
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class Period(TypedDict):
    """The reporting window, in UTC.

    Attributes:
        start: First day counted (ISO date, from UTC midnight, inclusive).
        end: First day NOT counted (ISO date, UTC midnight, exclusive).
        days: Number of days in the window.
    """

    start: str
    end: str
    days: int


class CurrencyRevenue(TypedDict):
    """Revenue in one currency. Amounts are never converted between currencies.

    Attributes:
        count: Successful (paid) charges in this currency.
        gross: Sum of those charges' amounts, in major units (dollars, euros, pounds).
        refunded: Sum refunded so far on those charges, in major units.
        net: gross minus refunded, in major units. Stripe fees and disputes are not deducted.
        gross_minor: gross in the currency's minor unit (cents), exactly as Stripe counts.
        refunded_minor: refunded in the minor unit.
        net_minor: net in the minor unit.
        decimals: Digits after the decimal point: major = minor / 10**decimals
            (2 for usd, eur, gbp).
    """

    count: int
    gross: float
    refunded: float
    net: float
    gross_minor: int
    refunded_minor: int
    net_minor: int
    decimals: int


class Revenue(TypedDict):
    """Card revenue for a period, from Stripe charges.

    Attributes:
        period: The window that was counted.
        currency: The one currency the top-level amounts are in; null when the
            period has charges in several currencies (read by_currency) or none.
        gross: Total charged on successful charges, in major units of `currency`;
            null when several currencies are present, because amounts in
            different currencies are never added up.
        refunded: Total refunded so far on those charges, major units; null as for gross.
        net: gross minus refunded, major units; null as for gross. Not the
            payout: fees and disputes are not deducted.
        charge_count: Successful (paid) charges in the period, all currencies counted.
        refund_count: Successful charges with any refund (full or partial) so far.
        failed_count: Charge attempts that failed (declined or blocked); not revenue.
        by_currency: Revenue per lower-case ISO currency code, e.g. "usd", most charges first.
    """

    period: Period
    currency: Optional[str]
    gross: Optional[float]
    refunded: Optional[float]
    net: Optional[float]
    charge_count: int
    refund_count: int
    failed_count: int
    by_currency: dict[str, CurrencyRevenue]


def _decimals(currency: str) -> int:
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def _major(minor: int, decimals: int) -> float:
    # int / power of ten is correctly rounded, so 123456 / 100 prints 1234.56.
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
    """Pages of charges created in [gte, lt), following `starting_after` while `has_more`."""
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
def stripe_revenue(start: str, end: str, currency: Optional[str] = None) -> Revenue:
    """Card revenue from Stripe for a period: gross, refunded and net amounts per
    currency, with counts of successful, refunded and failed charges.

    Counts charges created in [start, end) (UTC days) whose status is
    "succeeded" and that are paid. Amounts in different currencies are never
    added together: the top-level gross/refunded/net are filled only when one
    currency is present (or asked for); otherwise read by_currency. Net is
    gross minus refunds; Stripe fees and disputes are not deducted, so it is
    not the payout amount.

    Args:
        start: First day to count, ISO date (e.g. "2026-10-01"), UTC, inclusive.
        end: Day after the last day to count, ISO date (e.g. "2026-11-01"), UTC,
            exclusive. At most 366 days after start.
        currency: Only count charges in this currency, a three-letter ISO code such as "usd".
    """
    first = _parse_day("start", start)
    stop = _parse_day("end", end)
    if first >= stop:
        raise InvalidInput(f"start ({start}) must be before end ({end}); end is exclusive")
    days = (stop - first).days
    if days > MAX_DAYS:
        raise InvalidInput(f"the period is {days} days; at most {MAX_DAYS} per call")
    if currency is not None:
        currency = currency.strip().lower()
        if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
            raise InvalidInput(
                f"currency must be a three-letter ISO code such as 'usd', got {currency!r}"
            )

    gte, lt = _unix(first), _unix(stop)
    base = config.require("api_base").rstrip("/")

    by_currency: dict[str, dict[str, int]] = {}
    fetched = outside = charge_count = refund_count = failed_count = 0
    # Totals are kept page by page: a page is dropped before the next is fetched.
    for ch in (ch for page in _charge_pages(base, gte, lt) for ch in page):
        fetched += 1
        cur = str(ch.get("currency", "")).lower()
        if currency is not None and cur != currency:
            continue
        if not gte <= ch.get("created", gte) < lt:
            outside += 1  # Stripe filters by `created`; never count a stray one
            continue
        status = ch.get("status")
        if status == "failed":
            failed_count += 1
            continue
        if status != "succeeded" or not ch.get("paid"):
            continue  # pending: neither revenue nor a failure yet
        refunded = int(ch.get("amount_refunded") or 0)
        t = by_currency.setdefault(cur, {"count": 0, "gross": 0, "refunded": 0})
        t["count"] += 1
        t["gross"] += int(ch["amount"])
        t["refunded"] += refunded
        charge_count += 1
        refund_count += refunded > 0
    if outside:
        log.warning("%d charges outside the requested period were skipped", outside)
    log.info("%d charges fetched, %d counted, %d failed", fetched, charge_count, failed_count)

    out: dict[str, CurrencyRevenue] = {}
    for cur in sorted(by_currency, key=lambda c: (-by_currency[c]["count"], c)):
        t = by_currency[cur]
        d = _decimals(cur)
        net = t["gross"] - t["refunded"]
        out[cur] = {
            "count": t["count"],
            "gross": _major(t["gross"], d),
            "refunded": _major(t["refunded"], d),
            "net": _major(net, d),
            "gross_minor": t["gross"],
            "refunded_minor": t["refunded"],
            "net_minor": net,
            "decimals": d,
        }

    # One currency (asked for, or the only one seen): top-level amounts in it.
    # None seen: zero revenue. Several: null, never a cross-currency sum.
    single = currency if currency is not None else (next(iter(out)) if len(out) == 1 else None)
    if single is not None and single in out:
        top: tuple = (out[single]["gross"], out[single]["refunded"], out[single]["net"])
    elif single is not None or not out:
        top = (0.0, 0.0, 0.0)
    else:
        top = (None, None, None)
    return {
        "period": {"start": first.isoformat(), "end": stop.isoformat(), "days": days},
        "currency": single,
        "gross": top[0],
        "refunded": top[1],
        "net": top[2],
        "charge_count": charge_count,
        "refund_count": refund_count,
        "failed_count": failed_count,
        "by_currency": out,
    }
