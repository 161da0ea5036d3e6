"""Forms report every problem at once, in an error summary at the top linking to each field."""
from __future__ import annotations

import re

import pytest


def _summary(html: str) -> str:
    match = re.search(r'<div class="error-summary".*?</div>', html, re.S)
    assert match, "no error summary"
    return match.group(0)


def test_the_new_user_form_reports_a_foreign_address_and_a_missing_property_together(acme, acme_pm, as_member):
    response = as_member(acme_pm).post("/properties/harbour-view/manage/", {
        "email": "someone@gmail.com", "first_name": "Sam", "last_name": "Smith", "access_level": "technician"})
    assert response.status_code == 400
    summary = _summary(response.content.decode())
    assert "There is a problem" in summary and "data-error-summary" in summary
    assert 'href="#id_email"' in summary and "is not an address of Acme" in summary
    assert 'href="#id_properties_0"' in summary and "Choose at least one property" in summary


def test_the_new_user_form_reports_missing_names_with_the_service_problems(acme, acme_pm, as_member):
    response = as_member(acme_pm).post("/properties/harbour-view/manage/", {
        "email": "someone@gmail.com", "access_level": "technician"})
    summary = _summary(response.content.decode())
    assert 'href="#id_first_name"' in summary and 'href="#id_last_name"' in summary
    assert "is not an address of Acme" in summary and "Choose at least one property" in summary


def test_add_team_member_reports_everything_at_once(acme, acme_ca, as_member):
    response = as_member(acme_ca).post("/team/", {"email": "x@gmail.com", "first_name": "X", "last_name": "Y",
                                                  "access_level": "property-manager"})
    summary = _summary(response.content.decode())
    assert 'href="#add_email"' in summary and 'href="#add_properties_0"' in summary


def test_change_access_and_remove_show_the_summary_too(acme, acme_ca, acme_pm, as_member):
    client = as_member(acme_ca)
    response = client.post(f"/team/{acme_pm.membership.pk}/", {"access_level": "technician"})
    assert 'href="#id_properties_0"' in _summary(response.content.decode())
    response = client.post(f"/team/{acme_ca.membership.pk}/remove/")
    assert "You can&#x27;t remove your own access" in _summary(response.content.decode())


@pytest.mark.parametrize("path", ["/", "/properties/harbour-view/manage/", "/team/", "/sso/settings/"])
def test_pages_load_the_one_static_script_and_have_no_inline_script(acme, acme_ca, as_member, path):
    html = as_member(acme_ca).get(path).content.decode()
    assert "portico/portico.js" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)


def test_the_sign_in_email_form_shows_the_summary(public_client):
    response = public_client.post("/", {"email": "not an address"})
    html = response.content.decode()
    assert "There is a problem" in html and 'href="#id_email"' in html
