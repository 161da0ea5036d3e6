"""Dependencies run one way: portal (wiring) → features (sso, provisioning, support) → outbox → tenants.

Read from the source with ast, so an import hidden inside a function counts as much as one at the top.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FEATURES = ("sso", "provisioning", "support")

# (importing package, packages it must never import, why)
FORBIDDEN = [
    ("tenants", (*FEATURES, "outbox", "portal", "testidp"), "tenancy knows nothing of the features"),
    ("outbox", (*FEATURES, "portal", "testidp"), "every feature sends through the outbox, not the other way"),
    ("support", ("portal", "testidp"), "a feature app never imports the project package"),
    ("sso", ("portal", "testidp"), "a feature app never imports the project package"),
    ("provisioning", ("portal", "sso", "testidp"), "provisioning works from attributes, not from SAML"),
]


def imported_packages(package: str) -> dict[str, set[str]]:
    """{module file: top-level packages it imports}, migrations left out (Django writes those)."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(REPO))] = names
    return found


@pytest.mark.parametrize(("package", "forbidden", "why"), FORBIDDEN, ids=[row[0] for row in FORBIDDEN])
def test_apps_import_only_downhill(package: str, forbidden: tuple[str, ...], why: str) -> None:
    offenders = {
        module: sorted(names & set(forbidden))
        for module, names in imported_packages(package).items()
        if names & set(forbidden)
    }
    assert not offenders, f"{why}: {offenders}"


def test_the_scan_sees_imports_inside_functions() -> None:
    # sso.services imports the outbox inside a function; the scan must see it.
    assert "outbox" in imported_packages("sso")["sso/services.py"]


def test_the_test_idp_borrows_only_the_hardened_xml_parser_from_the_product() -> None:
    # testidp stands in for an outside IdP and runs without Django; it shares sso.xmlsafe (lxml only)
    # so that one parser refuses DTDs everywhere, and nothing else of the product.
    product = {"portal", "tenants", "sso", "provisioning", "support", "outbox", "scim"}
    borrowed: set[str] = set()
    for path in sorted((REPO / "testidp").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in product:
                borrowed.add(node.module)
            elif isinstance(node, ast.Import):
                borrowed.update(a.name for a in node.names if a.name.split(".")[0] in product)
    assert borrowed == {"sso.xmlsafe"}
