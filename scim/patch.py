"""PATCH (RFC 7644 §3.5.2) of a SCIM document, in both dialects Entra speaks.

Without `?aadOptscim062020` on the Tenant URL Entra capitalises op names ("Replace", "Add",
"Remove"), sends booleans as strings ("False") and removes group members with a value list; with it,
it follows the RFC more closely (lower-case ops, real booleans, `members[value eq "..."]` paths,
path-less ops whose value maps attribute paths to values). Both arrive here and mean the same.
Paths may carry a value filter on a multi-valued attribute: `emails[type eq "work"].value`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from scim.errors import invalid_path, invalid_value

_PATH = re.compile(r'^(?:(?P<urn>urn:[^\[\]]+):)?(?P<attr>[A-Za-z][A-Za-z0-9_$-]*)'
                   r'(?:\[(?P<fattr>[A-Za-z][A-Za-z0-9_.]*)\s+eq\s+(?P<fval>"(?:[^"\\]|\\.)*"|true|false)\])?'
                   r'(?:\.(?P<sub>[A-Za-z][A-Za-z0-9_$-]*))?$', re.IGNORECASE)
BOOLEAN_ATTRIBUTES = {"active", "primary"}
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@dataclass(frozen=True)
class Path:
    urn: str
    attr: str
    filter_attr: str
    filter_value: object
    sub: str


def path_parse(text: str, *, core_urn: str) -> Path:
    text = (text or "").strip()
    # A path naming the extension schema whole ("urn:...:User:manager") or its attribute.
    match = _PATH.match(text)
    if not match:
        raise invalid_path(f"Portico can't apply the attribute path {text!r}.")
    urn = match["urn"] or ""
    attr, sub = match["attr"], match["sub"] or ""
    if urn.lower() == core_urn.lower():
        urn = ""
    if not urn and "." in text and not match["fattr"] and sub and attr.lower().startswith("urn"):
        raise invalid_path(f"Portico can't apply the attribute path {text!r}.")
    fval: object = None
    if match["fattr"]:
        raw = match["fval"]
        fval = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw.lower() == "true"
    return Path(urn=urn, attr=attr, filter_attr=(match["fattr"] or ""), filter_value=fval, sub=sub)


def coerce(attr: str, value: object) -> object:
    """Entra's string booleans ("True"/"False") as booleans, for boolean attributes."""
    if attr.lower() in BOOLEAN_ATTRIBUTES and isinstance(value, str):
        if value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise invalid_value(f"{attr} must be true or false, not {value!r}.")
    if isinstance(value, dict):
        return {k: coerce(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [coerce(attr, v) for v in value]
    return value


def _key(container: dict, name: str) -> str:
    """The key of `name` in `container`, matched case-insensitively (SCIM attribute names are)."""
    for key in container:
        if key.lower() == name.lower():
            return key
    return name


def _matches(item: object, path: Path) -> bool:
    if not isinstance(item, dict):
        return False
    value = item.get(_key(item, path.filter_attr))
    if isinstance(path.filter_value, str) and isinstance(value, str):
        return value.lower() == path.filter_value.lower()
    return value == path.filter_value


def operation_apply(doc: dict, *, op: str, path_text: str | None, value: object, core_urn: str) -> None:
    """Apply one PATCH operation to `doc` in place (op names any case)."""
    op = (op or "").strip().lower()
    if op not in ("add", "replace", "remove"):
        raise invalid_value(f"Unknown PATCH op {op!r}: use add, replace or remove.")
    if not path_text:
        if op == "remove":
            raise ScimNoTarget()
        if not isinstance(value, dict):
            raise invalid_value("A PATCH operation without a path needs an object value.")
        for key, item in value.items():
            if key.lower().startswith("urn:") and isinstance(item, dict) and key.lower() != core_urn.lower():
                extension = doc.setdefault(key, {})
                for sub_key, sub_item in item.items():
                    _apply_path(extension, op, path_parse(sub_key, core_urn=key), sub_item)
            else:
                _apply_path(doc, op, path_parse(key, core_urn=core_urn), item)
        return
    _apply_path(doc, op, path_parse(path_text, core_urn=core_urn), value)


class ScimNoTarget(Exception):
    """RFC 7644: remove without a path is `400 noTarget`."""


def _apply_path(doc: dict, op: str, path: Path, value: object) -> None:
    target = doc
    if path.urn:
        target = doc.setdefault(_key(doc, path.urn), {})
    attr = _key(target, path.attr)
    value = coerce(path.sub or path.attr, value)
    if path.filter_attr:
        items = target.get(attr)
        items = items if isinstance(items, list) else []
        matching = [item for item in items if _matches(item, path)]
        if op == "remove":
            kept = [item for item in items if item not in matching] if not path.sub else items
            if path.sub:
                for item in matching:
                    item.pop(_key(item, path.sub), None)
            target[attr] = kept
            return
        if not matching:  # add/replace of a sub-attribute of an item not there yet: create it
            item = {path.filter_attr: path.filter_value}
            items.append(item)
            matching = [item]
        for item in matching:
            if path.sub:
                item[_key(item, path.sub)] = value
            elif isinstance(value, dict):
                item.update(value)
        target[attr] = items
        return
    if path.sub:
        parent = target.get(attr)
        if not isinstance(parent, dict):
            parent = {}
        if op == "remove":
            parent.pop(_key(parent, path.sub), None)
        else:
            parent[_key(parent, path.sub)] = value
        target[attr] = parent
        return
    if op == "remove":
        if isinstance(value, list) and isinstance(target.get(attr), list):
            # Entra before aadOptscim062020: {"op": "Remove", "path": "members", "value": [{"value": id}]}
            drop = {str(v.get("value")) for v in value if isinstance(v, dict)}
            target[attr] = [item for item in target[attr] if str((item or {}).get("value")) not in drop]
        else:
            target.pop(attr, None)
        return
    if op == "add" and isinstance(value, list) and isinstance(target.get(attr), list):
        existing = target[attr]
        target[attr] = existing + [v for v in value if v not in existing]
        return
    if op == "add" and isinstance(value, dict) and isinstance(target.get(attr), dict):
        target[attr].update(value)
        return
    target[attr] = value
