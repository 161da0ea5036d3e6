"""No input ends in a 500 (issue 9): arbitrary text, sizes and shapes at the New User form and the
Team Members forms. Each answers a page with errors (or a redirect for a genuine success) and a
refused input writes nothing."""
from __future__ import annotations

from django_tenants.utils import schema_context
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioning.models import AccessLevel, Membership
from support.models import NewUserRequest
from tenants.models import AuditEvent
from tests.conftest import client_for, login_as
from tests.provisioning.factories import member_create

_FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])
_TEXT = st.one_of(st.text(max_size=300), st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
                  st.sampled_from(["", " ", "\x00", "a@acme.example", "x" * 5000, "ı@acme.example"]))
_FORM = st.fixed_dictionaries({
    "email": _TEXT, "first_name": _TEXT, "last_name": _TEXT,
    "access_level": st.one_of(_TEXT, st.sampled_from([level.value for level in AccessLevel])),
    "properties": st.lists(st.one_of(st.integers(-2**63, 2**63).map(str), _TEXT), max_size=4),
})


def _writes() -> tuple[int, ...]:
    with schema_context("acme"):
        memberships = Membership.objects.count()
        levels = tuple(Membership.objects.order_by("pk").values_list("access_level", flat=True))
    return memberships, hash(levels), NewUserRequest.objects.count(), AuditEvent.objects.count()


def _post(client, path: str, form: dict):
    return client.post(path, form)


def _assert_clean(response, before) -> None:
    assert response.status_code < 500, response.content[:300]
    assert b"Traceback" not in response.content
    if response.status_code != 302:
        assert _writes() == before


@_FUZZ
@given(form=_FORM)
def test_arbitrary_new_user_forms_never_answer_5xx(acme, form):
    client = login_as(client_for("acme.localhost"), member_create(access_level=AccessLevel.PROPERTY_MANAGER))
    before = _writes()
    _assert_clean(_post(client, "/properties/harbour-view/manage/", form), before)


@_FUZZ
@given(form=_FORM, membership_id=st.integers(0, 2**40))
def test_arbitrary_team_member_forms_never_answer_5xx(acme, form, membership_id):
    admin = member_create(access_level=AccessLevel.CLIENT_ADMINISTRATOR, properties=())
    client = login_as(client_for("acme.localhost"), admin)
    before = _writes()
    _assert_clean(_post(client, "/team/", form), before)
    with schema_context("acme"):
        other = Membership.objects.exclude(user=admin).values_list("pk", flat=True).first()
    for target in {membership_id, other or 1}:
        before = _writes()
        _assert_clean(_post(client, f"/team/{target}/", form), before)
