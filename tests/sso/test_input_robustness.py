"""No input ends in a 500 (issue 9): arbitrary bytes, encodings and sizes at metadata import (file
upload and URL text) and at central discovery's email field. Each answers a clean page (200 with
errors, a redirect for a real success, or a 4xx) and a refused input writes nothing."""
from __future__ import annotations

import os

from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioning.models import AccessLevel
from sso.models import IdentityProvider, IdpCertificate
from tenants.models import AuditEvent
from tests.conftest import client_for, login_as
from tests.provisioning.factories import member_create

_FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])
SETTINGS = "/sso/settings/"

# Bytes an upload may carry: anything, and near-XML in the encodings people save files in.
_DOCUMENTS = st.one_of(
    st.binary(max_size=4096),
    st.text(max_size=1024).map(lambda t: f"<EntityDescriptor>{t}</EntityDescriptor>".encode()),
    st.sampled_from(["utf-16", "utf-32", "latin-1", "utf-8-sig", "cp1252"]).flatmap(
        lambda enc: st.text(max_size=256).map(
            lambda t, enc=enc: f"<?xml version='1.0'?><md:EntityDescriptor xmlns:md='urn:oasis:names:tc:SAML:2.0:"
                               f"metadata' entityID='{t}'/>".encode(enc, errors="replace"))),
)


def _idp_state(tenant) -> tuple:
    idp = IdentityProvider.objects.filter(tenant=tenant).values_list("entity_id", "version").first()
    return idp, IdpCertificate.objects.filter(idp__tenant=tenant).count(), AuditEvent.objects.count()


def _admin(acme):
    return login_as(client_for("acme.localhost"), member_create(access_level=AccessLevel.CLIENT_ADMINISTRATOR,
                                                                properties=()))


def _clean(response) -> None:
    assert response.status_code < 500, response.content[:300]
    assert b"Traceback" not in response.content


# Names the test client can send at all: SimpleUploadedFile itself refuses a name whose base name is
# empty, "." or ".." (SuspiciousFileOperation, client side, before any request is made).
_FILE_NAMES = st.text(max_size=80).filter(lambda n: os.path.basename(n or "x.xml") not in ("", ".", ".."))


@_FUZZ
@given(document=_DOCUMENTS, name=_FILE_NAMES)
def test_arbitrary_metadata_uploads_never_answer_5xx_and_change_nothing(acme, document, name):
    client = _admin(acme)
    before = _idp_state(acme)
    response = client.post(SETTINGS, {"action": "upload",
                                      "upload-metadata_file": SimpleUploadedFile(name or "x.xml", document)})
    _clean(response)
    assert response.status_code != 302
    assert _idp_state(acme)[:2] == before[:2]


# Never a fetchable http(s) URL: the point is the text, not the network.
_URL_TEXT = st.text(max_size=600).filter(lambda t: "://" not in t)


@_FUZZ
@given(url=_URL_TEXT)
def test_arbitrary_metadata_url_text_never_answers_5xx_and_changes_nothing(acme, url):
    client = _admin(acme)
    before = _idp_state(acme)
    response = client.post(SETTINGS, {"action": "url", "url-metadata_url": url})
    _clean(response)
    assert response.status_code != 302
    assert _idp_state(acme)[:2] == before[:2]


@_FUZZ
@given(email=st.one_of(st.text(max_size=400), st.binary(max_size=300).map(lambda b: b.decode("latin-1"))),
       next_path=st.text(max_size=200))
def test_arbitrary_discovery_input_never_answers_5xx_and_writes_nothing(db, email, next_path):
    client = client_for("localhost")
    before = AuditEvent.objects.count()
    for path in ("/", "/login/"):
        response = client.post(path, {"email": email, "next": next_path})
        _clean(response)
    assert AuditEvent.objects.count() == before
