"""The audit log of a tenant's Client Administrators (Manage Account → Audit log), and its CSV."""
from __future__ import annotations

import csv

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from sso.selectors import AUDIT_LOG_KINDS, tenant_audit_log
from sso.settings_views import client_administrator_required
from tenants.types import MemberRequest

PAGE_SIZE = 50
CSV_LIMIT = 50_000


def _filters(request: MemberRequest) -> tuple[str, str]:
    kind = request.GET.get("kind", "")
    return (kind if kind in AUDIT_LOG_KINDS else ""), request.GET.get("q", "").strip()[:254]


@require_GET
@client_administrator_required
def audit_log(request: MemberRequest) -> HttpResponse:
    kind, search = _filters(request)
    page_number = request.GET.get("page", "1")
    page_index = int(page_number) if page_number.isdigit() and int(page_number) > 0 else 1
    entries, total = tenant_audit_log(tenant=request.tenant, kind=kind, search=search, limit=page_index * PAGE_SIZE)
    # The selector returns the newest page_index*PAGE_SIZE; the paginator counts with the real total.
    paginator = Paginator(range(total), PAGE_SIZE)
    page = paginator.get_page(page_index)
    start = (page.number - 1) * PAGE_SIZE
    return render(request, "sso/audit_log.html", {
        "entries": entries[start:start + PAGE_SIZE], "page": page, "total": total,
        "kind": kind, "q": search, "kinds": AUDIT_LOG_KINDS,
    })


@require_GET
@client_administrator_required
def audit_log_csv(request: MemberRequest) -> HttpResponse:
    kind, search = _filters(request)
    entries, _ = tenant_audit_log(tenant=request.tenant, kind=kind, search=search, limit=CSV_LIMIT)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="audit-log-{request.tenant.slug}-{stamp}.csv"'
    writer = csv.writer(response)
    writer.writerow(["time (UTC)", "kind", "what", "who", "person", "detail", "reference"])
    for e in entries:
        writer.writerow([e.when.strftime("%Y-%m-%d %H:%M:%S"), AUDIT_LOG_KINDS[e.kind], e.what,
                         _cell(e.who), _cell(e.person), _cell(e.detail), e.reference])
    return response


def _cell(value: str) -> str:
    # A cell starting with = + - @ is a formula to a spreadsheet: e-mail addresses and names come
    # from IdPs and forms, so neutralise them (OWASP CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
