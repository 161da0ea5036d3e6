"""djangosaml2 backend for tenant users, extended through its documented hooks.

It authenticates only what Portico's ACS verified first (`request.portico_acs`): the identity comes
from the element Portico's own signature check covered, never from a second parse.
"""
from __future__ import annotations

from typing import Any

from djangosaml2.backends import Saml2Backend

from provisioning.services import user_provision_from_assertion


class TenantSaml2Backend(Saml2Backend):
    def authenticate(self, request, session_info=None, attribute_mapping=None, create_unknown_user=True,
                     assertion_info=None, **kwargs):
        # Only through Portico's ACS on a tenant host; password or other callers get nothing here.
        if request is None or getattr(request, "portico_acs", None) is None:
            return None
        self._request = request
        return super().authenticate(request, session_info=session_info, attribute_mapping=attribute_mapping,
                                    create_unknown_user=create_unknown_user, assertion_info=assertion_info, **kwargs)

    def clean_attributes(self, attributes: dict, idp_entityid: str, **kwargs: Any) -> dict:
        identity = self._request.portico_acs.identity
        return {"username": [identity.email], "email": [identity.email]}

    def is_authorized(self, attributes: dict, attribute_mapping: dict, idp_entityid: str, assertion_info: dict,
                      **kwargs: Any) -> bool:
        acs = self._request.portico_acs
        # pysaml2's view of the issuer and assertion must be the one Portico verified.
        return (idp_entityid == acs.verified.issuer
                and (assertion_info or {}).get("assertion_id") in (None, acs.verified.assertion_id))

    def get_or_create_user(self, user_lookup_key, user_lookup_value, create_unknown_user, idp_entityid,
                           assertion_info=None, attributes=None, attribute_mapping=None, request=None):
        request = request or self._request
        identity = request.portico_acs.identity
        user = user_provision_from_assertion(
            tenant=request.tenant, email=identity.email, first_name=identity.first_name,
            last_name=identity.last_name, idp_subject=request.portico_acs.verified.name_id,
            access_level=identity.access_level,
            idp_entity_id=request.portico_acs.verified.issuer, idp_object_id=identity.object_id,
        )
        return user, False

    def _update_user(self, user, attributes: dict, attribute_mapping: dict, force_save: bool = False):
        return user  # provisioning owns the user's fields
