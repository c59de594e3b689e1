"""Count open Zendesk tickets by priority, following `next_page` links."""

import os
from collections import Counter

import requests

SUBDOMAIN_URL = "https://acme.zendesk.com"


def ticket_backlog(status, max_pages=10):
    token = os.environ.get("ZENDESK_API_TOKEN")
    url = f"{SUBDOMAIN_URL}/api/v2/tickets.json"
    params = {"per_page": 100}
    by_priority = Counter()
    oldest = None
    pages = 0
    while url and pages < max_pages:
        resp = requests.get(url, params=params, headers={"Authorization": "Bearer " + token})
        resp.raise_for_status()
        data = resp.json()
        for t in data["tickets"]:
            if t["status"] != status:
                continue
            by_priority[t["priority"] or "none"] += 1
            if oldest is None or t["created_at"] < oldest:
                oldest = t["created_at"]
        url = data.get("next_page")
        params = None
        pages += 1
    return {"open": sum(by_priority.values()), "by_priority": dict(by_priority), "oldest": oldest, "pages": pages}


def main():
    print(ticket_backlog("open"))


if __name__ == "__main__":
    main()
