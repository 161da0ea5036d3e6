"""The SCIM 2.0 service provider of a tenant host: https://<tenant host>/scim/v2/ (RFC 7643/7644).

Views stay thin: authenticate the bearer token, cap size and rate, parse JSON, call one service or
selector, answer `application/scim+json`. Every refusal is an RFC 7644 error body with `scimType`
where one applies; nothing here answers a 500 for bad input.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from scim import selectors, services
from scim.discovery import resource_types, schemas, service_provider_config
from scim.errors import ScimError, not_found
from scim.limits import scim_rate_limit_hit
from scim.types import ScimRequest

logger = logging.getLogger("portico.scim")
CONTENT_TYPE = "application/scim+json"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"


def scim_response(body: dict | None, status: int = 200, *, location: str = "") -> HttpResponse:
    response = HttpResponse(json.dumps(body) if body is not None else b"", status=status,
                            content_type=CONTENT_TYPE if body is not None else None)
    if location:
        response["Location"] = location
    return response


def error_response(exc: ScimError, base_url: str = "") -> HttpResponse:
    body: dict[str, Any] = {"schemas": [ERROR_URN], "status": str(exc.status), "detail": exc.detail}
    if exc.scim_type:
        body["scimType"] = exc.scim_type
    response = scim_response(body, exc.status, location=f"{base_url}{exc.location.removeprefix('/scim/v2')}"
                             if exc.location else "")
    if exc.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="Portico SCIM"'
    if exc.retry_after is not None:
        response["Retry-After"] = str(exc.retry_after)
    return response


def base_url_of(request: HttpRequest) -> str:
    return request.build_absolute_uri("/scim/v2").rstrip("/")


ScimView = Callable[..., HttpResponse]


def scim_endpoint(methods: tuple[str, ...]) -> Callable[[ScimView], ScimView]:
    """Token, host, size, rate and method checks around a SCIM view; ScimError becomes its response."""

    def decorate(view: ScimView) -> ScimView:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            base = base_url_of(request)
            try:
                tenant = getattr(request, "tenant", None)
                if tenant is None or tenant.is_public:
                    raise not_found("Not found.")
                header = request.META.get("HTTP_AUTHORIZATION", "")
                scheme, _, secret = header.partition(" ")
                if scheme.lower() != "bearer" or not secret.strip():
                    raise ScimError(401, "Send the Secret Token as `Authorization: Bearer <token>`.")
                token = selectors.scim_token_for(tenant=tenant, secret=secret.strip())
                if token is None:
                    raise ScimError(401, "The Secret Token is not valid for this Tenant URL (unknown or revoked).")
                wait = scim_rate_limit_hit(schema_name=tenant.schema_name, token_key=token.token_sha256)
                if wait is not None:
                    raise ScimError(429, "Too many requests for this token; try again later.", retry_after=wait)
                try:
                    length = int(request.META.get("CONTENT_LENGTH") or 0)
                except ValueError:
                    length = settings.PORTICO_SCIM_MAX_BODY_BYTES + 1
                if length > settings.PORTICO_SCIM_MAX_BODY_BYTES:
                    raise ScimError(413, f"The request is larger than {settings.PORTICO_SCIM_MAX_BODY_BYTES} bytes.")
                if request.method not in methods:
                    raise ScimError(405, f"{request.method} is not supported here.")
                services.scim_token_touch(token=token)
                cast(ScimRequest, request).scim_actor = token.actor  # read by the views as ScimRequest
                return view(request, *args, base=base, **kwargs)
            except ScimError as exc:
                if exc.status >= 400 and exc.status != 404:
                    logger.info("SCIM %s %s refused: %s %s", request.method, request.path, exc.status, exc.detail)
                return error_response(exc, base)

        return wrapper

    return decorate


def _body(request: HttpRequest) -> Any:
    try:
        return json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ScimError(400, "The body is not valid JSON.", scim_type="invalidSyntax") from exc


def _trim(resource: dict, request: HttpRequest) -> dict:
    """`attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5); id, schemas and meta always stay."""
    keep = {"id", "schemas", "meta"}
    wanted = [a.strip() for a in (request.GET.get("attributes") or "").split(",") if a.strip()]
    excluded = [a.strip() for a in (request.GET.get("excludedAttributes") or "").split(",") if a.strip()]
    if wanted:
        names = {a.split(".")[0].rsplit(":", 1)[-1].lower() for a in wanted}
        return {k: v for k, v in resource.items() if k in keep or k.lower() in names}
    names = {a.rsplit(":", 1)[-1].lower() for a in excluded}
    return {k: v for k, v in resource.items() if k in keep or k.lower() not in names}


def _listed(request: HttpRequest, rows: Any, represent: Callable[[Any], dict]) -> HttpResponse:
    start, count = selectors.page_params(start_index=request.GET.get("startIndex"), count=request.GET.get("count"))
    total = rows.count()
    page = list(rows[start - 1:start - 1 + count]) if count else []
    return scim_response(selectors.list_response(resources=[_trim(represent(r), request) for r in page],
                                                 total=total, start=start))


@dataclass(frozen=True)
class _Kind:
    """What differs between Users and Groups; everything else is one code path."""

    get: Callable[..., Any]
    represent: Callable[[Any, str], dict]
    create: Callable[..., Any]
    replace: Callable[..., Any]
    patch: Callable[..., Any]
    delete: Callable[..., Any]
    listing: Callable[..., Any]
    # Entra reads only the status of a group PATCH; 204 keeps large groups cheap (RFC 7644 §3.5.2).
    patch_status: int = 200


USERS = _Kind(
    get=selectors.scim_user_get, represent=lambda r, b: selectors.scim_user_representation(scim_user=r, base_url=b),
    create=services.scim_user_create, replace=services.scim_user_replace, patch=services.scim_user_patch,
    delete=services.scim_user_delete, listing=selectors.scim_users)
GROUPS = _Kind(
    get=selectors.scim_group_get, represent=lambda r, b: selectors.scim_group_representation(group=r, base_url=b),
    create=services.scim_group_create, replace=services.scim_group_replace, patch=services.scim_group_patch,
    delete=services.scim_group_delete, listing=selectors.scim_groups, patch_status=204)


def _resource_body(request: HttpRequest, kind: _Kind, row: Any, base: str, status: int = 200) -> HttpResponse:
    body = _trim(kind.represent(kind.get(scim_id=str(row.scim_id)), base), request)
    return scim_response(body, status, location=body["meta"]["location"] if status == 201 else "")


def _collection(request: ScimRequest, kind: _Kind, base: str) -> HttpResponse:
    if request.method == "POST":
        created = kind.create(tenant=request.tenant, data=_body(request), actor=request.scim_actor)
        return _resource_body(request, kind, created, base, 201)
    rows = kind.listing(filter_text=request.GET.get("filter"))
    return _listed(request, rows, lambda r: kind.represent(r, base))


def _resource(request: ScimRequest, kind: _Kind, scim_id: str, base: str) -> HttpResponse:
    tenant, actor = request.tenant, request.scim_actor
    if request.method == "GET":
        row = kind.get(scim_id=scim_id)
        if row is None:
            raise not_found(f"{scim_id} not found.")
        return _resource_body(request, kind, row, base)
    if request.method == "DELETE":
        kind.delete(tenant=tenant, scim_id=scim_id, actor=actor)
        return scim_response(None, 204)
    body = _body(request)
    if request.method == "PUT":
        return _resource_body(request, kind, kind.replace(tenant=tenant, scim_id=scim_id, data=body, actor=actor), base)
    operations = body.get("Operations") if isinstance(body, dict) else None
    row = kind.patch(tenant=tenant, scim_id=scim_id, operations=operations, actor=actor)
    return scim_response(None, 204) if kind.patch_status == 204 else _resource_body(request, kind, row, base)


@scim_endpoint(("GET", "POST"))
def users(request: ScimRequest, *, base: str) -> HttpResponse:
    return _collection(request, USERS, base)


@scim_endpoint(("GET", "PUT", "PATCH", "DELETE"))
def user(request: ScimRequest, scim_id: str, *, base: str) -> HttpResponse:
    return _resource(request, USERS, scim_id, base)


@scim_endpoint(("GET", "POST"))
def groups(request: ScimRequest, *, base: str) -> HttpResponse:
    return _collection(request, GROUPS, base)


@scim_endpoint(("GET", "PUT", "PATCH", "DELETE"))
def group(request: ScimRequest, scim_id: str, *, base: str) -> HttpResponse:
    return _resource(request, GROUPS, scim_id, base)


@scim_endpoint(("GET",))
def service_provider_config_view(request: HttpRequest, *, base: str) -> HttpResponse:
    return scim_response(service_provider_config(base_url=base))


@scim_endpoint(("GET",))
def schemas_view(request: HttpRequest, schema_id: str = "", *, base: str) -> HttpResponse:
    return _discovery(schemas(base_url=base), schema_id)


@scim_endpoint(("GET",))
def resource_types_view(request: HttpRequest, type_id: str = "", *, base: str) -> HttpResponse:
    return _discovery(resource_types(base_url=base), type_id)


def _discovery(items: list[dict], item_id: str) -> HttpResponse:
    if item_id:
        found = next((i for i in items if i["id"] == item_id), None)
        if found is None:
            raise not_found(f"{item_id} not found.")
        return scim_response(found)
    return scim_response(selectors.list_response(resources=items, total=len(items), start=1))


@csrf_exempt
def unknown(request: HttpRequest, rest: str = "") -> HttpResponse:
    return error_response(not_found("No such SCIM endpoint."))
