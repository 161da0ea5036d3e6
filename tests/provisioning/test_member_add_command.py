"""`manage.py member_add`: pre-provisioning from the command line."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context

from provisioning.models import AccessLevel, Membership
from tenants.models import AuditEvent
from tests.provisioning.factories import membership_find


def test_member_add_pre_provisions_an_active_member_with_level_and_properties(acme, capsys):
    call_command("member_add", "acme", "--email", "  Ada.Lovelace@ACME.example ", "--first-name", "Ada",
                 "--last-name", "Lovelace", "--access-level", "property-manager", "--property", "harbour-view",
                 "--property", "Elm Court")
    membership = membership_find("ada.lovelace@acme.example")
    assert membership.state == Membership.State.ACTIVE
    assert membership.access_level == AccessLevel.PROPERTY_MANAGER
    assert membership.origin == Membership.Origin.PRE_PROVISIONED
    assert membership.user.first_name == "Ada" and membership.user.last_name == "Lovelace"
    assert not membership.user.has_usable_password()
    assert membership.property_codes == {"harbour-view", "elm-court"}
    assert "Added ada.lovelace@acme.example to tenant acme as Property Manager" in capsys.readouterr().out
    assert AuditEvent.objects.filter(action="member.add", target="ada.lovelace@acme.example", actor="cli").exists()


def test_member_add_accepts_the_access_level_by_name(acme):
    call_command("member_add", "acme", "--email", "cal@acme.example", "--access-level", "Client Administrator")
    assert membership_find("cal@acme.example").access_level == AccessLevel.CLIENT_ADMINISTRATOR


def test_member_add_twice_is_idempotent(acme, capsys):
    args = ["member_add", "acme", "--email", "ida@acme.example", "--access-level", "technician",
            "--property", "harbour-view"]
    call_command(*args)
    call_command(*args)
    with schema_context("acme"):
        assert get_user_model().objects.filter(username="ida@acme.example").count() == 1
        assert Membership.objects.filter(user__username="ida@acme.example").count() == 1
    assert "No change: ida@acme.example already has Technician access" in capsys.readouterr().out
    assert AuditEvent.objects.filter(action="member.add", target="ida@acme.example").count() == 1


def test_member_add_again_with_other_access_updates_it(acme):
    call_command("member_add", "acme", "--email", "ulf@acme.example", "--access-level", "technician",
                 "--property", "harbour-view")
    call_command("member_add", "acme", "--email", "ULF@acme.example", "--access-level", "property-manager",
                 "--property", "elm-court")
    membership = membership_find("ulf@acme.example")
    assert membership.access_level == AccessLevel.PROPERTY_MANAGER
    assert membership.property_codes == {"elm-court"}


def test_member_add_lets_a_waiting_room_user_in(acme):
    from provisioning.services import user_provision_from_assertion

    with schema_context("acme"):
        user_provision_from_assertion(tenant=acme, email="wes@acme.example", first_name="Wes", last_name="W")
    assert membership_find("wes@acme.example").state == Membership.State.WAITING_ROOM
    call_command("member_add", "acme", "--email", "wes@acme.example", "--access-level", "technician",
                 "--property", "harbour-view")
    assert membership_find("wes@acme.example").state == Membership.State.ACTIVE


def test_member_add_rejects_an_unknown_access_level_and_creates_nobody(acme):
    with pytest.raises(CommandError, match=r"Unknown access level 'janitor'\. Choose one of: technician"):
        call_command("member_add", "acme", "--email", "jan@acme.example", "--access-level", "janitor")
    assert membership_find("jan@acme.example") is None


def test_member_add_rejects_unknown_properties_naming_them_and_the_known_ones(acme):
    with pytest.raises(CommandError, match=r"Unknown property 'Nowhere Towers' in tenant acme\. "
                                           r"Known properties: elm-court \(Elm Court\), harbour-view"):
        call_command("member_add", "acme", "--email", "nel@acme.example", "--access-level", "technician",
                     "--property", "harbour-view", "--property", "Nowhere Towers")
    assert membership_find("nel@acme.example") is None


def test_member_add_does_not_see_another_tenants_properties(acme, globex):
    with pytest.raises(CommandError, match="Unknown property 'globex-tower' in tenant acme"):
        call_command("member_add", "acme", "--email", "x@acme.example", "--access-level", "technician",
                     "--property", "globex-tower")


def test_member_add_needs_a_property_below_client_administrator(acme):
    with pytest.raises(CommandError, match="Give at least one --property for Technician access"):
        call_command("member_add", "acme", "--email", "np@acme.example", "--access-level", "technician")


def test_member_add_rejects_an_unknown_tenant_and_a_bad_email(acme):
    with pytest.raises(CommandError, match="No tenant 'nope'"):
        call_command("member_add", "nope", "--email", "a@acme.example", "--access-level", "technician")
    with pytest.raises(CommandError, match="not a valid e-mail address"):
        call_command("member_add", "acme", "--email", "not-an-email", "--access-level", "client-administrator")
