"""hubspot_pipeline: open deals by stage for a HubSpot deal pipeline.

One GET for the pipeline's stages (labels, order, win probabilities) and the
deal search (a read-only POST, 100 deals a page) for its open deals; returns a
stage-by-stage summary of ~1.5 KB instead of ~430 bytes per deal.
"""

import logging
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Optional, TypedDict

from gateway_tool import InvalidInput, UpstreamError, config, http, tool

log = logging.getLogger(__name__)

# HubSpot's largest search page.
PAGE_SIZE = 100
# 20 pages = 2,000 open deals ≈ 0.9 MB of upstream JSON; tool.toml's
# `requests` and `upstream_bytes` limits are sized for this. Raise all three together.
MAX_PAGES = 20
# Pipeline ids are "default" or numeric; owner ids are numeric.
PIPELINE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
OWNER_ID = re.compile(r"[0-9]{1,20}")
CENT = Decimal("0.01")
PROPERTIES = [
    "dealname", "amount", "dealstage", "pipeline", "closedate", "hubspot_owner_id", "createdate",
]
CURRENCY_NOTE = (
    "Deal amounts as entered in HubSpot, in the portal's company currency; "
    "deals without an amount count as 0."
)


class Stage(TypedDict):
    """One open stage of the pipeline.

    Attributes:
        stage_id: HubSpot's internal stage id (the deal's `dealstage` value).
        label: The stage name as shown in HubSpot.
        probability: The stage's win probability, 0 to 1, as configured in the pipeline.
        open_deal_count: Open deals currently in the stage.
        total_amount: Sum of those deals' amounts (deals without an amount count as 0).
        weighted_amount: total_amount × probability: the stage's expected revenue.
        deals_without_amount: Deals in the stage whose amount is empty.
    """

    stage_id: str
    label: str
    probability: float
    open_deal_count: int
    total_amount: float
    weighted_amount: float
    deals_without_amount: int


class Totals(TypedDict):
    """The whole pipeline's open deals.

    Attributes:
        open_deal_count: Open deals in the pipeline (all stages).
        total_amount: Sum of their amounts, unweighted.
        weighted_amount: Sum of the stages' weighted amounts: the pipeline's expected revenue.
        deals_without_amount: Open deals with no amount; they count as 0 above.
        deals_in_unknown_stages: Open deals whose stage is not an open stage of this
            pipeline (archived or closed after the deal entered it); counted in
            open_deal_count and total_amount, not in any stage or the weighted amount.
    """

    open_deal_count: int
    total_amount: float
    weighted_amount: float
    deals_without_amount: int
    deals_in_unknown_stages: int


class PipelineSummary(TypedDict):
    """Open deals of a HubSpot deal pipeline, stage by stage.

    Attributes:
        pipeline_id: The pipeline's id ("default" for the account's first pipeline).
        pipeline: The pipeline's name as shown in HubSpot.
        owner_id: The deal owner the summary is limited to; null for all owners.
        stages: The pipeline's open stages in display order (closed-won and
            closed-lost stages are left out: they hold no open deals).
        totals: Sums over all stages.
        currency_note: How to read the amounts.
    """

    pipeline_id: str
    pipeline: str
    owner_id: Optional[str]
    stages: list[Stage]
    totals: Totals
    currency_note: str


def _amount(value: object) -> Optional[Decimal]:
    """HubSpot number properties are strings ("12500", "9800.50"); empty means unset."""
    if value is None or str(value).strip() == "":
        return None
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        msg = f"HubSpot returned a deal amount that is not a number: {value!r}"
        raise UpstreamError(msg) from None


def _money(value: Decimal) -> float:
    return float(value.quantize(CENT, ROUND_HALF_UP))


def _pipeline(base: str, pipeline: str) -> dict:
    resp = http.get(f"{base}/crm/v3/pipelines/deals/{pipeline}")
    if resp.status == 404:
        raise InvalidInput(f"there is no deal pipeline with id {pipeline!r}")
    if resp.status in (401, 403):
        raise UpstreamError(f"HubSpot refused the access token (HTTP {resp.status})")
    if not resp.ok:
        raise UpstreamError(f"HubSpot answered HTTP {resp.status} for pipeline {pipeline!r}")
    return resp.json()


def _open_deals(base: str, pipeline: str, owner_id: Optional[str]) -> list[dict]:
    """Every open deal of the pipeline (optionally one owner's), following paging.next.after."""
    filters = [
        {"propertyName": "pipeline", "operator": "EQ", "value": pipeline},
        {"propertyName": "hs_is_closed", "operator": "EQ", "value": "false"},
    ]
    if owner_id is not None:
        filters.append({"propertyName": "hubspot_owner_id", "operator": "EQ", "value": owner_id})
    body: dict = {
        "filterGroups": [{"filters": filters}],
        "properties": PROPERTIES,
        "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
        "limit": PAGE_SIZE,
    }
    deals: list[dict] = []
    for _ in range(MAX_PAGES):
        # A POST that only reads: HubSpot's search takes its query as a JSON body.
        resp = http.request("POST", f"{base}/crm/v3/objects/deals/search", body=body)
        if resp.status in (401, 403):
            raise UpstreamError(f"HubSpot refused the access token (HTTP {resp.status})")
        if not resp.ok:
            raise UpstreamError(f"HubSpot answered HTTP {resp.status} to the deal search")
        page = resp.json()
        deals.extend(page.get("results") or [])
        after = ((page.get("paging") or {}).get("next") or {}).get("after")
        if not after or not page.get("results"):
            return deals
        body["after"] = after
    raise InvalidInput(
        f"more than {MAX_PAGES * PAGE_SIZE} open deals; narrow the request with owner_id"
    )


@tool
def hubspot_pipeline(pipeline: str = "default", owner_id: Optional[str] = None) -> PipelineSummary:
    """Open deals in a HubSpot deal pipeline, stage by stage: how many, their
    total amount, and the amount weighted by each stage's win probability.

    Only open deals count (not closed won or closed lost). Stages come in the
    pipeline's display order with HubSpot's labels. The weighted amount is the
    forecast: amount × the stage's configured probability.

    Args:
        pipeline: Pipeline id; "default" is the account's first deal pipeline.
        owner_id: Only deals owned by this HubSpot owner (numeric owner id).
    """
    if not PIPELINE_ID.fullmatch(pipeline):
        raise InvalidInput(
            f"pipeline must be a HubSpot pipeline id such as 'default', got {pipeline!r}"
        )
    if owner_id is not None and not OWNER_ID.fullmatch(owner_id):
        raise InvalidInput(f"owner_id must be a numeric HubSpot owner id, got {owner_id!r}")
    base = config.require("api_base").rstrip("/")

    meta = _pipeline(base, pipeline)
    stages: dict[str, dict] = {}
    for s in sorted(meta.get("stages") or [], key=lambda s: s.get("displayOrder", 0)):
        md = s.get("metadata") or {}
        if str(md.get("isClosed", "false")).lower() == "true" or s.get("archived"):
            continue
        stages[s["id"]] = {
            "stage_id": s["id"],
            "label": s.get("label", s["id"]),
            "probability": Decimal(str(md.get("probability") or "0")),
            "open_deal_count": 0,
            "total_amount": Decimal(0),
            "deals_without_amount": 0,
        }

    deals = _open_deals(base, pipeline, owner_id)
    unknown = without = 0
    unknown_amount = Decimal(0)
    for d in deals:
        props = d.get("properties") or {}
        amount = _amount(props.get("amount"))
        without += amount is None
        st = stages.get(props.get("dealstage"))
        if st is None:
            unknown += 1
            unknown_amount += amount or 0
            log.warning("deal %s is in stage %r, not an open stage of %s",
                        d.get("id"), props.get("dealstage"), pipeline)
            continue
        st["open_deal_count"] += 1
        st["total_amount"] += amount or 0
        st["deals_without_amount"] += amount is None
    log.info("%d open deals in %s, %d without amount", len(deals), pipeline, without)

    out: list[Stage] = []
    total = unknown_amount
    weighted = Decimal(0)
    for st in stages.values():
        # Rounded per stage, and the totals add the rounded figures, so the
        # stages always sum to the totals an agent reads.
        w = (st["total_amount"] * st["probability"]).quantize(CENT, ROUND_HALF_UP)
        total += st["total_amount"]
        weighted += w
        out.append({
            "stage_id": st["stage_id"],
            "label": st["label"],
            "probability": float(st["probability"]),
            "open_deal_count": st["open_deal_count"],
            "total_amount": _money(st["total_amount"]),
            "weighted_amount": _money(w),
            "deals_without_amount": st["deals_without_amount"],
        })
    return {
        "pipeline_id": meta.get("id", pipeline),
        "pipeline": meta.get("label", pipeline),
        "owner_id": owner_id,
        "stages": out,
        "totals": {
            "open_deal_count": len(deals),
            "total_amount": _money(total),
            "weighted_amount": _money(weighted),
            "deals_without_amount": without,
            "deals_in_unknown_stages": unknown,
        },
        "currency_note": CURRENCY_NOTE,
    }
