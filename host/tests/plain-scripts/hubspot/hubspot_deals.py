"""Open HubSpot deals in a pipeline stage, biggest first.

An operator's script: a requests.Session with a Bearer token from the
environment and the CRM search endpoint.
"""

import os

import requests

HUBSPOT_TOKEN = os.getenv("HUBSPOT_ACCESS_TOKEN")


def get_session():
    s = requests.Session()
    s.headers.update({
        "Authorization": f"Bearer {HUBSPOT_TOKEN}",
        "Content-Type": "application/json",
    })
    return s


def search_deals(stage: str, min_amount: float = 0.0, limit: int = 50) -> dict:
    """Deals in a stage with at least a given amount.

    Args:
        stage: HubSpot deal stage id, e.g. "appointmentscheduled".
        min_amount: Smallest amount to include.
        limit: Page size for the search.
    """
    body = {
        "filterGroups": [{"filters": [
            {"propertyName": "dealstage", "operator": "EQ", "value": stage},
            {"propertyName": "amount", "operator": "GTE", "value": str(min_amount)},
        ]}],
        "properties": ["dealname", "amount", "closedate"],
        "limit": limit,
    }
    with get_session() as s:
        r = s.post("https://api.hubapi.com/crm/v3/objects/deals/search", json=body)
        if r.status_code == 401:
            raise RuntimeError("HubSpot token rejected")
        r.raise_for_status()
        results = r.json()["results"]
    deals = [
        {
            "id": d["id"],
            "name": d["properties"]["dealname"],
            "amount": float(d["properties"]["amount"] or 0),
            "close_date": d["properties"].get("closedate"),
        }
        for d in results
    ]
    deals.sort(key=lambda d: d["amount"], reverse=True)
    return {"total": sum(d["amount"] for d in deals), "deals": deals}


if __name__ == "__main__":
    print(search_deals("appointmentscheduled", 1000))
