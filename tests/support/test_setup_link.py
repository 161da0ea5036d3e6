"""Set-up links: support staff send a new tenant's first Client Administrator a one-time way in,
to reach the SSO settings page before any identity provider is connected."""
from __future__ import annotations

import hashlib
import re
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone
from django_tenants.utils import schema_context

from outbox.models import OutboundEmail
from provisioning.errors import NotAllowed, ProvisioningError, SetupLinkExpired, SetupLinkRefused, SetupLinkUsed
from provisioning.models import AccessLevel, Membership
from support.models import SetupLink
from support.services import setup_link_create, setup_link_redeem
from tenants.models import AuditEvent, EmailDomain
from tests.conftest import client_for, login_as
from tests.provisioning.factories import member_create, membership_find, unique_email

TOKEN_URL = re.compile(r"^http://acme\.localhost:8000/setup/(?P<token>[A-Za-z0-9_-]{40,})/$")


def _staff(**extra):
    name = f"staff-{uuid.uuid4().hex[:8]}"
    return get_user_model().objects.create_user(username=name, email=f"{name}@portico.example", is_staff=True,
                                                **extra)


def _token(url: str) -> str:
    match = TOKEN_URL.match(url)
    assert match, url
    return match["token"]


def test_a_link_is_created_for_the_tenants_host_and_redeemed_once(acme):
    staff = _staff()
    email = unique_email("first.admin")
    link, url = setup_link_create(tenant=acme, email=email.upper(), actor=staff)
    token = _token(url)

    assert link.email == email and link.created_by == staff and link.used_at is None
    assert link.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(SetupLink.objects.filter(pk=link.pk).values().get())  # only the hash is kept
    hours = (link.expires_at - link.created).total_seconds() / 3600
    assert 71.9 < hours <= 72
    created = AuditEvent.objects.get(action="setup_link.create", target=email)
    assert created.actor == f"support:{staff.email}" and created.data["setup_link_id"] == link.pk
    queued = OutboundEmail.objects.get(kind="setup_link", to=[email])
    # Stored without the live link (sealed until sending: test_the_unsent_setup_email_holds_no_usable_link…)
    assert token not in queued.body_text and token not in queued.body_html and queued.sealed
    assert queued.subject == "Set up single sign-on for Acme Property Management on Portico"

    user = setup_link_redeem(tenant=acme, token=token)
    assert user.username == email and user.is_active
    membership = membership_find(email)
    assert membership.state == Membership.State.ACTIVE
    assert membership.access_level == AccessLevel.CLIENT_ADMINISTRATOR
    link.refresh_from_db()
    assert link.used_at is not None
    redeemed = AuditEvent.objects.get(action="setup_link.redeem", target=email)
    assert redeemed.actor == f"setup-link:{email}" and redeemed.data["user_created"] is True
    assert AuditEvent.objects.filter(action="member.add", target=email).exists()

    with pytest.raises(SetupLinkUsed, match="used already"):
        setup_link_redeem(tenant=acme, token=token)


def test_a_used_link_is_refused_on_its_page_with_what_to_do(acme):
    _, url = setup_link_create(tenant=acme, email=unique_email("used"), actor=_staff())
    client = client_for("acme.localhost")
    assert client.post(f"/setup/{_token(url)}/").status_code == 302
    again = client_for("acme.localhost")
    for response in (again.get(f"/setup/{_token(url)}/"), again.post(f"/setup/{_token(url)}/")):
        assert response.status_code == 410
        html = response.content.decode()
        assert "This set-up link can't be used" in html and "used already" in html
        assert "ask Portico support" in html
    assert "_auth_user_id" not in again.session


def test_an_expired_link_is_refused_and_changes_nothing(acme):
    email = unique_email("late")
    link, url = setup_link_create(tenant=acme, email=email, actor=_staff())
    SetupLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    with pytest.raises(SetupLinkExpired, match="expired"):
        setup_link_redeem(tenant=acme, token=_token(url))
    response = client_for("acme.localhost").post(f"/setup/{_token(url)}/")
    assert response.status_code == 410
    assert "expired" in response.content.decode() and "Ask Portico support" in response.content.decode()
    assert membership_find(email) is None
    link.refresh_from_db()
    assert link.used_at is None


def test_another_tenants_host_does_not_know_the_link(acme, globex):
    email = unique_email("hostbound")
    _, url = setup_link_create(tenant=acme, email=email, actor=_staff())
    token = _token(url)

    with pytest.raises(SetupLinkRefused, match="isn't valid for Globex Residential"):
        setup_link_redeem(tenant=globex, token=token)
    on_globex = client_for("globex.localhost")
    assert on_globex.get(f"/setup/{token}/").status_code == 404
    assert on_globex.post(f"/setup/{token}/").status_code == 404
    assert membership_find(email, tenant="globex") is None
    # Still good where it belongs.
    assert setup_link_redeem(tenant=acme, token=token).username == email


def test_an_unknown_or_mangled_token_is_refused(acme):
    with pytest.raises(SetupLinkRefused):
        setup_link_redeem(tenant=acme, token="not-a-real-token")
    response = client_for("acme.localhost").get("/setup/not-a-real-token/")
    assert response.status_code == 404 and "Ask Portico support" in response.content.decode()


def test_an_address_outside_the_tenants_email_domains_is_refused(acme):
    with pytest.raises(ProvisioningError, match=r"Use an address ending in @acme\.example") as refused:
        setup_link_create(tenant=acme, email="someone@globex.example", actor=_staff())
    assert refused.value.field == "email"
    assert not SetupLink.objects.filter(email="someone@globex.example").exists()


def test_a_tenant_without_email_domains_takes_any_address(acme):
    EmailDomain.objects.filter(tenant=acme).delete()  # rolled back with the test
    link, _ = setup_link_create(tenant=acme, email="it@outsourced.example", actor=_staff())
    assert link.email == "it@outsourced.example"


def test_only_support_staff_send_links(acme):
    tenant_user = member_create(access_level=AccessLevel.CLIENT_ADMINISTRATOR, properties=())
    with pytest.raises(NotAllowed):
        setup_link_create(tenant=acme, email=unique_email("x"), actor=tenant_user)


def test_a_new_link_for_the_same_address_cancels_the_earlier_one(acme):
    email = unique_email("twice")
    _, first = setup_link_create(tenant=acme, email=email, actor=_staff())
    _, second = setup_link_create(tenant=acme, email=email, actor=_staff())
    with pytest.raises(SetupLinkExpired):
        setup_link_redeem(tenant=acme, token=_token(first))
    assert setup_link_redeem(tenant=acme, token=_token(second)).username == email


def test_the_admin_form_creates_the_link_and_queues_the_email(
        acme, support_client, support_user, django_capture_on_commit_callbacks, eager_tasks):
    tenant_page = support_client.get(f"/admin/tenants/tenant/{acme.pk}/change/").content.decode()
    send_url = f"/admin/support/setuplink/send/{acme.pk}/"
    assert f'href="{send_url}"' in tenant_page and "Send set-up link" in tenant_page
    form = support_client.get(send_url)
    assert form.status_code == 200 and "@acme.example" in form.content.decode()

    refused = support_client.post(send_url, {"email": "x@globex.example"})
    assert "not an address of Acme Property Management" in refused.content.decode()
    assert not SetupLink.objects.filter(email="x@globex.example").exists()

    email = unique_email("from.admin")
    with django_capture_on_commit_callbacks(execute=True):
        response = support_client.post(send_url, {"email": email})
    html = response.content.decode()
    assert response.status_code == 200 and "The e-mail with the link is on its way" in html
    url = re.search(r'value="(http://acme\.localhost:8000/setup/[^"]+/)"', html).group(1)
    link = SetupLink.objects.get(email=email)
    assert link.created_by == support_user and link.token_sha256 == hashlib.sha256(_token(url).encode()).hexdigest()
    [sent] = [m for m in mail.outbox if m.to == [email]]
    assert sent.subject == "Set up single sign-on for Acme Property Management on Portico"
    assert url in sent.body
    assert OutboundEmail.objects.get(kind="setup_link", to=[email]).sent_at is not None

    listing = support_client.get("/admin/support/setuplink/").content.decode()
    assert email in listing and "Not used yet" in listing and _token(url) not in listing


def test_the_redeemed_person_lands_on_sso_settings_as_an_active_client_administrator(acme):
    email = unique_email("lands")
    _, url = setup_link_create(tenant=acme, email=email, actor=_staff())
    path = f"/setup/{_token(url)}/"
    client = client_for("acme.localhost")

    page = client.get(path, follow=True)
    html = page.content.decode()
    assert page.status_code == 200 and page.redirect_chain == [("/setup/", 302)]
    assert "Set up single sign-on for Acme Property Management" in html and email in html
    assert 'name="csrfmiddlewaretoken"' in html and ">Continue</button>" in html
    assert _token(url) not in html and 'action="/setup/"' in html
    assert client.get("/setup/").status_code == 200  # looking does not use it up

    response = client.post("/setup/")
    assert response.status_code == 302 and response["Location"] == "/sso/settings/"
    settings_page = client.get("/sso/settings/")
    assert settings_page.status_code == 200
    assert "Welcome: you are a Client Administrator of Acme Property Management" in settings_page.content.decode()
    with schema_context("acme"):
        user = get_user_model().objects.get(username=email)
        assert client.session["_auth_user_id"] == str(user.pk)
        membership = Membership.objects.get(user=user)
        assert membership.state == Membership.State.ACTIVE
        assert membership.access_level == AccessLevel.CLIENT_ADMINISTRATOR


def test_someone_in_the_waiting_room_can_use_their_link(acme):
    waiting = member_create(access_level="", properties=(), state=Membership.State.WAITING_ROOM,
                            origin=Membership.Origin.JUST_IN_TIME)
    _, url = setup_link_create(tenant=acme, email=waiting.email, actor=_staff())
    client = login_as(client_for("acme.localhost"), waiting)
    assert client.get("/").status_code == 302  # the Waiting Room, until the link is used
    assert client.get(f"/setup/{_token(url)}/", follow=True).status_code == 200
    assert client.post("/setup/")["Location"] == "/sso/settings/"
    assert client.get("/sso/settings/").status_code == 200
    assert membership_find(waiting.email).state == Membership.State.ACTIVE


@pytest.mark.worker
def test_the_set_up_email_reaches_the_person_through_the_worker(committed_db, celery_worker, smtp_sink):
    from tenants.models import Tenant

    acme = Tenant.objects.get(slug="acme")
    email = unique_email("worker")
    _, url = setup_link_create(tenant=acme, email=email, actor=_staff())
    [message] = smtp_sink.wait_for(email)
    assert message["Subject"] == "Set up single sign-on for Acme Property Management on Portico"
    assert url in message.get_body(("plain",)).get_content()
    assert f'href="{url}"' in message.get_body(("html",)).get_content()
    # Once delivered, the outbox in Django admin no longer holds a usable link.
    from outbox.models import OutboundEmail
    from tests.worker_tasks import schema_probe

    assert schema_probe.apply_async(headers={"_schema_name": "public"}).get(timeout=30)  # the send has finished
    stored = OutboundEmail.objects.get(kind="setup_link", to=[email])
    assert stored.sent_at is not None and url not in stored.body_text + stored.body_html
    client = client_for("acme.localhost")
    assert client.post(f"/setup/{_token(url)}/")["Location"] == "/sso/settings/"


def test_the_setup_link_command_prints_a_working_link_and_refuses_bad_input(acme, capsys):
    from django.core.management import CommandError, call_command

    call_command("setup_link", "acme", "--email", "first.admin@acme.example")
    url = capsys.readouterr().out.strip().splitlines()[-1]
    assert url.startswith("http://acme.localhost:8000/setup/")
    assert client_for("acme.localhost").post(f"/setup/{_token(url)}/")["Location"] == "/sso/settings/"
    with pytest.raises(CommandError, match="No tenant"):
        call_command("setup_link", "nope", "--email", "x@acme.example")
    with pytest.raises(CommandError):
        call_command("setup_link", "acme", "--email", "x@elsewhere.example")


# --- the live token stays out of sight (issue 9) ------------------------------------------------------

def test_the_unsent_setup_email_holds_no_usable_link_and_the_sent_one_does(
        acme, support_client, django_capture_on_commit_callbacks):
    from outbox.services import outbound_email_send

    email = unique_email("sealed")
    with django_capture_on_commit_callbacks(execute=False):
        _, url = setup_link_create(tenant=acme, email=email, actor=_staff())
    row = OutboundEmail.objects.get(kind="setup_link", to__contains=[email])
    token = _token(url)
    assert token not in row.body_text and token not in row.body_html and token not in row.sealed
    assert "filled in when the e-mail is sent" in row.body_text
    detail = support_client.get(f"/admin/outbox/outboundemail/{row.pk}/change/").content.decode()
    assert token not in detail and row.sealed not in detail
    assert outbound_email_send(outbound_email_id=row.pk) == "sent"
    [message] = mail.outbox
    assert url in message.body and url in message.alternatives[0][0]
    row.refresh_from_db()
    assert row.sealed == "" and token not in row.body_text


def test_opening_the_link_moves_the_token_out_of_the_url(acme):
    _, url = setup_link_create(tenant=acme, email=unique_email("exchange"), actor=_staff())
    client = client_for("acme.localhost")
    response = client.get(f"/setup/{_token(url)}/")
    assert response.status_code == 302 and response["Location"] == "/setup/"
    page = client.get("/setup/").content.decode()
    assert _token(url) not in page
    assert client.post("/setup/")["Location"] == "/sso/settings/"
    assert "portico_setup_link" not in client.session


def test_the_token_free_page_without_a_link_in_the_session_is_refused(acme):
    response = client_for("acme.localhost").get("/setup/")
    assert response.status_code == 404 and "open it again" in response.content.decode()
    assert client_for("acme.localhost").post("/setup/").status_code == 404
