"""Values of XML Schema types as SAML documents carry them, read one way for the whole app."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_DATETIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")


def xs_datetime(value: str) -> datetime:
    """An xs:dateTime (SAML core §1.3.3) as an aware UTC datetime.

    No zone means UTC, as SAML says. Raises ValueError whose message completes "The <what> <value> …",
    so each caller turns it into its own refusal.
    """
    match = _DATETIME.match(value.strip())
    if not match:
        raise ValueError("is not a valid date and time")
    base, fraction, zone = match.groups()
    try:
        moment = datetime.fromisoformat(base + ("." + (fraction + "000000")[:6] if fraction else ""))
    except ValueError:
        raise ValueError("is not a valid date and time") from None
    if zone in (None, "Z"):
        return moment.replace(tzinfo=timezone.utc)
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    if hours * 60 + minutes > 14 * 60 or minutes > 59:  # XML Schema: zones run from -14:00 to +14:00
        raise ValueError("has a time zone out of range")
    offset = timedelta(hours=hours, minutes=minutes) * (1 if zone[0] == "+" else -1)
    try:
        return moment.replace(tzinfo=timezone(offset)).astimezone(timezone.utc)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by its zone
        raise ValueError("is outside the calendar") from None
