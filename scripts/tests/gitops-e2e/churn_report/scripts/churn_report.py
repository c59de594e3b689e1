from gateway_tool import InvalidInput, config, http, tool


@tool
def churn_report(month: str) -> dict:
    """Subscriptions cancelled in one month and the monthly revenue they took with them.

    Args:
        month: The month, as "YYYY-MM" (UTC), e.g. "2026-10".
    """
    if len(month) != 7 or month[4] != "-" or not (month[:4] + month[5:]).isdigit():
        raise InvalidInput("month must look like 2026-10")
    resp = http.get(f"{config.require('api_base')}/v1/subscriptions", params={"status": "canceled"})
    resp.raise_for_status()
    cancelled = [s for s in resp.json()["data"] if s["canceled_at"].startswith(month)]
    return {
        "month": month,
        "cancelled": len(cancelled),
        "lost_mrr": round(sum(s["plan"]["amount"] for s in cancelled) / 100, 2),
    }
