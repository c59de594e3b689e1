"""Sum last month's successful Stripe charges per currency.

Written the way an operator writes it on a laptop: requests, the key from
.env, a pagination loop. `gateway tool import` turns it into a tool.
"""

import os
from datetime import datetime, timezone

import requests

STRIPE_API_KEY = os.environ["STRIPE_API_KEY"]
BASE_URL = "https://api.stripe.com/v1"


def charge_totals(created_gte: int, created_lt: int, limit: int = 100) -> dict:
    headers = {"Authorization": f"Bearer {STRIPE_API_KEY}"}
    params = {"limit": limit, "created[gte]": created_gte, "created[lt]": created_lt}
    totals = {}
    count = 0
    while True:
        resp = requests.get(f"{BASE_URL}/charges", headers=headers, params=params, timeout=30)
        resp.raise_for_status()
        page = resp.json()
        for charge in page["data"]:
            if charge["status"] != "succeeded":
                continue
            count += 1
            cur = charge["currency"]
            totals[cur] = totals.get(cur, 0) + charge["amount"] - charge.get("amount_refunded", 0)
        if not page.get("has_more"):
            break
        params["starting_after"] = page["data"][-1]["id"]
    return {
        "charge_count": count,
        "net_by_currency": {cur: cents / 100 for cur, cents in sorted(totals.items())},
        "largest_currency": max(totals, key=totals.get) if totals else None,
    }


if __name__ == "__main__":
    now = datetime.now(timezone.utc)
    print(charge_totals(int(now.timestamp()) - 30 * 86400, int(now.timestamp())))
