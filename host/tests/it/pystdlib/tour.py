import collections
import datetime

from gateway_tool import tool


@tool
def tour(city: str) -> dict:
    """Exercises the standard library inside the sandbox.

    Args:
        city: An IANA time-zone name.
    """
    import base64
    import calendar
    import csv
    import dataclasses
    import decimal
    import difflib
    import email.utils
    import enum
    import fractions
    import functools
    import hashlib
    import html
    import io
    import ipaddress
    import itertools
    import json
    import random
    import re
    import statistics
    import string
    import textwrap
    import typing
    import urllib.parse
    import uuid
    import xml.etree.ElementTree as ET
    import zoneinfo

    out = {}
    # Lazy imports inside the standard library itself.
    out["strptime"] = datetime.datetime.strptime("2026-10-01", "%Y-%m-%d").isoformat()
    out["most_common"] = collections.Counter("abracadabra").most_common(2)
    paris = datetime.datetime(2026, 7, 1, 12, tzinfo=zoneinfo.ZoneInfo(city))
    out["utcoffset_h"] = paris.utcoffset().total_seconds() / 3600
    out["json"] = json.loads(json.dumps({"a": [1, 2]}))
    out["re"] = re.findall(r"\d+", "a1b22c333")
    out["decimal"] = str(decimal.Decimal("0.1") + decimal.Decimal("0.2"))
    out["median"] = statistics.median([3, 1, 4, 1, 5])
    buf = io.StringIO()
    csv.writer(buf).writerow(["x", "y,z"])
    out["csv"] = buf.getvalue().strip()
    out["urlencode"] = urllib.parse.urlencode({"q": "a b", "n": 1})
    out["b64"] = base64.b64encode(b"gateway").decode()
    out["sha256"] = hashlib.sha256(b"abc").hexdigest()[:16]
    out["dedent"] = textwrap.dedent("  a\n  b")
    out["ratio"] = round(difflib.SequenceMatcher(None, "abcd", "abce").ratio(), 2)

    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    out["dataclass"] = dataclasses.asdict(Point(1, 2))
    out["enum"] = enum.Enum("Colour", "RED GREEN").GREEN.value
    out["typing"] = typing.get_origin(typing.List[int]) is list
    out["chain"] = list(itertools.chain([1], [2, 3]))
    out["reduce"] = functools.reduce(lambda a, b: a * b, [1, 2, 3, 4])
    out["uuid_version"] = uuid.uuid4().version
    out["random_in_range"] = 1 <= random.randint(1, 6) <= 6
    out["ascii"] = string.ascii_lowercase[:5]
    out["leap"] = calendar.isleap(2028)
    out["fraction"] = str(fractions.Fraction(3, 4) + fractions.Fraction(1, 4))
    out["private"] = ipaddress.ip_address("10.1.2.3").is_private
    out["email_date"] = email.utils.parsedate_to_datetime("Tue, 01 Dec 2026 10:00:00 +0000").year
    out["html"] = html.escape("<a&b>")
    out["xml"] = ET.fromstring("<r><i>1</i><i>2</i></r>").findall("i")[1].text
    return out
