"""Tenant pages: portal home, Waiting Room, a property's Manage page (New User form), Team Members.

Anonymous visitors are sent to settings.LOGIN_URL; WaitingRoomMiddleware keeps members who are
not active out of everything but the Waiting Room, and each view checks the access level too.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from provisioning.errors import ProvisioningError
from provisioning.forms import MemberAccessForm, NewUserForm, TeamMemberForm
from provisioning.models import AccessLevel, Membership
from provisioning.selectors import (
    TENANT_GRANTABLE_LEVELS,
    access_ask_last,
    access_levels_grantable_by,
    level_sees_all_properties,
    member_access_history,
    member_can_manage_team,
    member_can_request_users,
    membership_of,
    properties_visible_to,
    property_manageable_by,
    property_members,
    team_member_get,
    team_members,
    team_members_filtered,
    waiting_member_get,
    waiting_room_members,
)
from provisioning.services import (
    member_access_change,
    member_add,
    member_add_check,
    member_invite_resend,
    member_remove,
)
from support.selectors import new_user_request_latest_for, new_user_requests_from_property
from support.services import (
    new_user_request_check,
    new_user_request_create,
    new_user_request_withdraw,
    waiting_room_access_ask,
)
from tenants.types import MemberRequest

TEAM_PAGE_SIZE = 25


def _page(request: MemberRequest, template: str, context: dict, *, status: int = 200) -> HttpResponse:
    membership = context.get("membership") or membership_of(user=request.user)
    level = AccessLevel.parse(membership.access_level) if membership and membership.access_level else None
    return render(request, template, {
        "membership": membership,
        "access_level": level,
        "can_manage_team": member_can_manage_team(user=request.user),
        **context,
    }, status=status)


def active_member_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in, and let past the Waiting Room (the middleware redirects; this backs it up)."""

    @wraps(view)
    @login_required
    def wrapper(request: MemberRequest, *args, **kwargs) -> HttpResponse:
        membership = membership_of(user=request.user)
        if membership is None or membership.state != Membership.State.ACTIVE or not request.user.is_active:
            return redirect("waiting_room")
        return view(request, *args, **kwargs)

    return wrapper


@require_http_methods(["GET", "HEAD"])
@active_member_required
def home(request: MemberRequest) -> HttpResponse:
    membership = membership_of(user=request.user)
    properties = properties_visible_to(user=request.user)
    return _page(request, "provisioning/home.html", {
        "membership": membership,
        "properties": properties,
        "sees_all": membership is not None and level_sees_all_properties(membership.access_level),
        "can_manage": member_can_request_users(user=request.user),
        "waiting_members": waiting_room_members(viewer=request.user),
    })


@require_http_methods(["GET", "HEAD"])
@login_required
def waiting_room(request: MemberRequest) -> HttpResponse:
    membership = membership_of(user=request.user)
    if request.user.is_active and membership is not None and membership.state == Membership.State.ACTIVE:
        return redirect("home")
    disabled = not request.user.is_active or (membership is not None and membership.state == Membership.State.DISABLED)
    return _page(request, "provisioning/waiting_room.html", {
        "membership": membership,
        "disabled": disabled,
        "new_user_request": new_user_request_latest_for(tenant=request.tenant, email=request.user.email),
        "asked": access_ask_last(tenant=request.tenant, email=request.user.email),
    })


@require_http_methods(["POST"])
@login_required
def waiting_room_ask(request: MemberRequest) -> HttpResponse:
    try:
        notified = waiting_room_access_ask(tenant=request.tenant, user=request.user)
    except ProvisioningError as exc:
        messages.warning(request, exc.message)
    else:
        messages.success(request, f"We e-mailed {len(notified)} {'person' if len(notified) == 1 else 'people'} "
                                  f"at {request.tenant.name} who can give you access. You'll get an e-mail "
                                  "when you have access.")
    return redirect("waiting_room")


@require_http_methods(["GET", "HEAD"])
@active_member_required
def waiting_member_request(request: MemberRequest, membership_id: int) -> HttpResponse:
    """One click from a Waiting Room list or e-mail: the New User form of the viewer's first
    property, pre-filled for this person."""
    if not member_can_request_users(user=request.user):
        raise PermissionDenied("Only Property Managers and Client Administrators file New User requests.")
    prop = properties_visible_to(user=request.user).first()
    if prop is None:
        messages.warning(request, "You need access to a property before you can ask for access for someone.")
        return redirect("home")
    if waiting_member_get(membership_id=membership_id) is None:
        messages.info(request, "That person is no longer in the Waiting Room.")
        return redirect("home")
    return redirect(f"{reverse('property_manage', args=[prop.code])}?waiting={membership_id}#new-user-heading")


@require_http_methods(["GET", "HEAD"])
@active_member_required
def property_detail(request: MemberRequest, code: str) -> HttpResponse:
    """A property as anyone with access sees it: who works there and whom to ask about access
    (a Technician's card leads here rather than nowhere)."""
    prop = properties_visible_to(user=request.user).filter(code=code).first()
    if prop is None:
        raise Http404("No such property, or not one of yours.")
    members = list(property_members(prop=prop))
    return _page(request, "provisioning/property.html", {
        "property": prop, "members": members,
        "managers": [m for m in members if m.access_level == AccessLevel.PROPERTY_MANAGER],
        "can_manage": member_can_request_users(user=request.user),
    })


@require_http_methods(["GET", "HEAD", "POST"])
@active_member_required
def property_manage(request: MemberRequest, code: str) -> HttpResponse:
    if not member_can_request_users(user=request.user):
        raise PermissionDenied("Only Property Managers and Client Administrators manage properties.")
    prop = property_manageable_by(user=request.user, code=code)
    if prop is None:
        raise Http404("No such property, or not yours to manage.")
    initial: dict[str, object] = {"properties": [prop.pk]}
    waiting = waiting_member_get(membership_id=int(request.GET["waiting"])) if request.GET.get(
        "waiting", "").isdigit() else None
    if waiting is not None:
        initial.update(email=waiting.user.email, first_name=waiting.user.first_name, last_name=waiting.user.last_name)
    form = NewUserForm(
        request.POST or None,
        levels=access_levels_grantable_by(user=request.user),
        properties=properties_visible_to(user=request.user),
        initial=initial,
    )
    if request.method == "POST" and not form.is_valid():
        _report_service_problems(form, lambda data: new_user_request_check(
            tenant=request.tenant, requester=request.user, **data))
    elif request.method == "POST":
        try:
            row = new_user_request_create(
                tenant=request.tenant, requester=request.user, from_property=prop, **form.cleaned_data,
            )
        except ProvisioningError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"Your request for {row.email} was sent to Portico support. "
                                      "You'll get an e-mail when it has been decided.")
            return redirect("property_manage", code=prop.code)
    return _page(request, "provisioning/manage.html", {
        "property": prop,
        "form": form,
        "members": property_members(prop=prop),
        "requests": new_user_requests_from_property(tenant=request.tenant, prop=prop)[:25],
        "waiting_members": waiting_room_members(viewer=request.user),
        "prefilled_for": waiting,
    }, status=400 if form.is_bound and form.errors else 200)


@require_http_methods(["GET", "HEAD"])
@active_member_required
def manage_account(request: MemberRequest) -> HttpResponse:
    """Manage Account: where the set-up guides send a Client Administrator (Team Members, Single Sign-on)."""
    _team_admin_required(request)
    return _page(request, "provisioning/manage_account.html", {
        "waiting_members": waiting_room_members(viewer=request.user),
        "member_count": team_members().filter(state=Membership.State.ACTIVE).count(),
    })


@require_http_methods(["POST"])
@active_member_required
def new_user_request_withdraw_view(request: MemberRequest, request_id: int) -> HttpResponse:
    back = request.POST.get("next", "")
    try:
        row = new_user_request_withdraw(tenant=request.tenant, request_id=request_id, actor=request.user)
    except ProvisioningError as exc:
        messages.warning(request, exc.message)
    else:
        messages.success(request, f"You withdrew the request for {row.email}. Nobody's access changed.")
    # Only back to one of our own pages.
    return redirect(back if back.startswith("/properties/") else "home")


def _report_service_problems(form: NewUserForm, check: Callable[[dict], object]) -> None:
    """The form found problems; add the service's problems with the values it did accept, so one
    submit reports everything (a field the form refused is passed as None: not checked twice)."""
    data = {name: form.cleaned_data.get(name) for name in ("email", "first_name", "last_name", "access_level",
                                                             "properties")}
    data = {name: (None if name in form.errors else value) for name, value in data.items()}
    try:
        check(data)
    except ProvisioningError as exc:
        form.add_service_error(exc)


def _team_admin_required(request: MemberRequest) -> None:
    if not member_can_manage_team(user=request.user):
        raise PermissionDenied("Only Client Administrators manage team members.")


def _team_member_or_404(request: MemberRequest, membership_id: int) -> Membership:
    _team_admin_required(request)
    member = team_member_get(membership_id=membership_id)
    if member is None:
        raise Http404("No such team member.")
    return member


@require_http_methods(["GET", "HEAD", "POST"])
@active_member_required
def team(request: MemberRequest) -> HttpResponse:
    _team_admin_required(request)
    form = TeamMemberForm(
        request.POST or None,
        levels=access_levels_grantable_by(user=request.user),
        properties=properties_visible_to(user=request.user),
        auto_id="add_%s",
    )
    if request.method == "POST" and not form.is_valid():
        _report_service_problems(form, lambda data: member_add_check(
            tenant=request.tenant, actor=request.user,
            **{k: v for k, v in data.items() if k in ("email", "access_level", "properties")}))
    elif request.method == "POST":
        try:
            result = member_add(tenant=request.tenant, actor=request.user, notify=True, **form.cleaned_data)
        except ProvisioningError as exc:
            form.add_service_error(exc)
        else:
            email = result.membership.user.email
            if result.changed:
                messages.success(request, f"{email} can now sign in with single sign-on. We've e-mailed them.")
            else:
                messages.info(request, f"{email} already had exactly this access; nothing changed.")
            return redirect("team")
    search, level, state = (request.GET.get("q", "").strip()[:100], request.GET.get("level", ""),
                            request.GET.get("state", ""))
    page = Paginator(team_members_filtered(search=search, access_level=level, state=state), TEAM_PAGE_SIZE
                     ).get_page(request.GET.get("page"))
    return _page(request, "provisioning/team.html", {
        "form": form,
        "members": page.object_list,
        "page": page,
        "q": search, "level": level, "state": state,
        "levels": TENANT_GRANTABLE_LEVELS, "states": Membership.State.choices,
        "filtered": bool(search or level or state),
    }, status=400 if form.is_bound and form.errors else 200)


@require_http_methods(["POST"])
@active_member_required
def team_member_resend(request: MemberRequest, membership_id: int) -> HttpResponse:
    member = _team_member_or_404(request, membership_id)
    try:
        member_invite_resend(tenant=request.tenant, membership=member, actor=request.user)
    except ProvisioningError as exc:
        messages.warning(request, exc.message)
    else:
        messages.success(request, f"We e-mailed {member.user.email} the sign-in link again.")
    return redirect("team_member", membership_id=member.pk)


@require_http_methods(["GET", "HEAD", "POST"])
@active_member_required
def team_member(request: MemberRequest, membership_id: int) -> HttpResponse:
    member = _team_member_or_404(request, membership_id)
    form = MemberAccessForm(
        request.POST or None,
        levels=access_levels_grantable_by(user=request.user),
        properties=properties_visible_to(user=request.user),
        initial={"access_level": member.access_level, "properties": [p.pk for p in member.properties.all()]},
    )
    if request.method == "POST" and form.is_valid():
        try:
            result = member_access_change(tenant=request.tenant, membership=member, actor=request.user,
                                          **form.cleaned_data)
        except ProvisioningError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"Access of {member.user.email} updated." if result.changed
                             else f"{member.user.email} already had exactly this access; nothing changed.")
            return redirect("team")
    return _page(request, "provisioning/team_member.html", {
        "member": member, "form": form,
        "history": member_access_history(tenant=request.tenant, membership=member)},
                 status=400 if form.is_bound and form.errors else 200)


@require_http_methods(["GET", "HEAD", "POST"])
@active_member_required
def team_member_remove(request: MemberRequest, membership_id: int) -> HttpResponse:
    member = _team_member_or_404(request, membership_id)
    error = ""
    if request.method == "POST":
        try:
            member_remove(tenant=request.tenant, membership=member, actor=request.user)
        except ProvisioningError as exc:
            error = exc.message
        else:
            messages.success(request, f"{member.user.email} no longer has access.")
            return redirect("team")
    return _page(request, "provisioning/team_member_remove.html", {"member": member, "error": error,
                                                                        "error_list": [error] if error else []},
                 status=400 if error else 200)
