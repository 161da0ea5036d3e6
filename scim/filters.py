"""A strict parser for the SCIM filters Entra sends: `attr eq "value"` joined by `and` (RFC 7644 §3.4.2.2).

Entra's provisioning service filters only with `eq` and `and`; any other operator is refused with
400 invalidFilter rather than guessed at. (scim2-filter-parser 0.7 parses the full grammar but
turns it into raw SQL for a single table, and Portico's attributes span several models and a JSON
document, so a small parser that yields Django Q objects fits better.)
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Q

from scim.errors import invalid_filter

_TOKEN = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([A-Za-z0-9_:.$\-]+(?:\[[^\]]*\])?(?:\.[A-Za-z0-9_$]+)?)|(\S))')


@dataclass(frozen=True)
class Comparison:
    path: str  # lower-cased attribute path, without a value filter: 'emails[type eq "work"].value' -> 'emails.value'
    value: object


def filter_parse(text: str) -> list[Comparison]:
    """The comparisons of `a eq v [and b eq w ...]`, or ScimError(400, invalidFilter)."""
    tokens: list[tuple[str, object]] = []
    for match in _TOKEN.finditer(text or ""):
        quoted, word, other = match.groups()
        if other is not None:
            raise invalid_filter(f"Unexpected {other!r} in the filter; Portico supports `attribute eq \"value\"` "
                                 "joined by `and`.")
        if quoted is not None:
            tokens.append(("value", re.sub(r"\\(.)", r"\1", quoted)))
        else:
            tokens.append(("word", word))
    comparisons: list[Comparison] = []
    position = 0
    while True:
        if position + 3 > len(tokens):
            raise invalid_filter("The filter is incomplete: expected `attribute eq \"value\"`.")
        (kind_a, attr), (kind_op, op), (kind_v, value) = tokens[position:position + 3]
        if kind_a != "word" or kind_op != "word" or str(op).lower() != "eq":
            raise invalid_filter(f"Only the `eq` operator is supported, not {op!r}.")
        if kind_v == "word":
            literal = {"true": True, "false": False, "null": None}.get(str(value).lower(), value)
            if literal is value and not re.fullmatch(r"-?\d+(\.\d+)?", str(value)):
                raise invalid_filter(f"{value!r} is not a SCIM value: quote strings.")
            value = literal
        comparisons.append(Comparison(path=_path_key(str(attr)), value=value))
        position += 3
        if position == len(tokens):
            return comparisons
        kind, word = tokens[position]
        if kind != "word" or str(word).lower() != "and":
            raise invalid_filter(f"Only `and` may join comparisons, not {word!r}.")
        position += 1


def _path_key(attr: str) -> str:
    attr = re.sub(r"\[[^\]]*\]", "", attr)
    if ":" in attr:  # a schema URN prefix: urn:...:User:userName -> userName
        attr = attr.rsplit(":", 1)[1]
    return attr.lower()


def uuid_or_none(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


Lookup = Callable[[object], Q]


def filter_q(text: str, lookups: dict[str, Lookup]) -> Q:
    """The Django Q object of a filter over attributes named in `lookups` (lower-cased paths)."""
    q = Q()
    for comparison in filter_parse(text):
        lookup = lookups.get(comparison.path)
        if lookup is None:
            raise invalid_filter(f"Filtering by {comparison.path!r} is not supported.")
        q &= lookup(comparison.value)
    return q
