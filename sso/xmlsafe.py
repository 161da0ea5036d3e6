"""Parsing untrusted XML (IdP metadata, SAML responses) with no DTD of any kind.

No DTD is legitimate in SAML, so any DOCTYPE or ENTITY is refused before parsing
(the only defence that does not depend on parser flags: XXE, billion laughs,
parameter-entity tricks; pysaml2 CVE-2016-10149), the parser is hardened anyway,
and the parsed tree is checked again. Each caller turns a refusal into its own error.
"""
from __future__ import annotations

import re
from typing import Final, Literal

from lxml import etree

_DOCTYPE: Final = re.compile(r"<!\s*DOCTYPE", re.IGNORECASE)
_ENTITY: Final = re.compile(r"<!\s*ENTITY", re.IGNORECASE)
_DOCTYPE_BYTES: Final = re.compile(rb"<!\s*DOCTYPE", re.IGNORECASE)
_ENTITY_BYTES: Final = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)


def dtd_declaration(document: str | bytes) -> Literal["DOCTYPE", "ENTITY"] | None:
    """Which DTD declaration `document` contains, DOCTYPE first, or None.

    Bytes are scanned as bytes, so they must be in an ASCII-compatible encoding:
    UTF-16 would hide "<!DOCTYPE" behind NUL bytes.
    """
    if isinstance(document, bytes):
        doctype, entity = bool(_DOCTYPE_BYTES.search(document)), bool(_ENTITY_BYTES.search(document))
    else:
        doctype, entity = bool(_DOCTYPE.search(document)), bool(_ENTITY.search(document))
    if doctype:
        return "DOCTYPE"
    if entity:
        return "ENTITY"
    return None


def hardened_parser(*, keep_comments: bool, remove_blank_text: bool = False) -> etree.XMLParser:
    """A new parser that never resolves entities, loads a DTD or touches the network.

    A new one per call: lxml parsers are not meant to be shared across threads.
    `keep_comments` keeps comments and processing instructions in the tree; `remove_blank_text`
    drops whitespace between elements (for pretty-printing, never before a signature check).
    The encoding is forced to UTF-8 so that lxml parses exactly the characters the
    caller scanned with `dtd_declaration`, whatever the XML declaration claims.
    """
    return etree.XMLParser(
        encoding="utf-8",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        huge_tree=False,
        remove_comments=not keep_comments,
        remove_pis=not keep_comments,
        remove_blank_text=remove_blank_text,
    )


def has_dtd(root: etree._Element) -> bool:
    """Whether the parsed document carries a DTD: the check after the scan, should the scan miss one."""
    docinfo = root.getroottree().docinfo
    return bool(docinfo.doctype) or docinfo.internalDTD is not None or docinfo.externalDTD is not None
