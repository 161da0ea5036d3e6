"""Dates read the same everywhere: DATETIME_FORMAT already ends with the time zone's name."""
from __future__ import annotations

import re
from pathlib import Path

from portal.formats.en import formats

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def test_datetime_format_names_its_time_zone():
    assert formats.DATETIME_FORMAT.endswith(" e")


def test_no_template_adds_a_second_time_zone_after_datetime_format():
    doubled = [f"{path.relative_to(TEMPLATES)}:{n}" for path in TEMPLATES.rglob("*.*")
               for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
               if re.search(r'DATETIME_FORMAT"\s*}}\s*UTC', line)]
    assert doubled == []
