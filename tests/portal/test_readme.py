"""The README's configuration table lists exactly the environment variables the settings read."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def settings_variables() -> set[str]:
    source = (REPO / "portal" / "settings.py").read_text()
    return set(re.findall(r"env(?:\.\w+)?\(\s*\"([A-Z][A-Z0-9_]+)\"", source))


def readme_variables() -> set[str]:
    text = (REPO / "README.md").read_text()
    table = text[text.index("| variable | default | meaning |"):]
    table = table[:table.index("\n\n")]
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", table, flags=re.M))


def test_every_variable_the_settings_read_is_in_the_readme_table_and_no_other():
    assert settings_variables() - readme_variables() == set(), "read by settings, missing from README"
    assert readme_variables() - settings_variables() == set(), "in README, never read by settings"
