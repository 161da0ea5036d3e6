"""The audit log's vocabulary: every action code written by `audit_record`, in words.

A test reads every `action="..."` in the code base and checks this table is complete, so a new
action code cannot reach an admin's screen as an internal code.
"""
from __future__ import annotations

AUDIT_ACTION_PHRASES: dict[str, str] = {
    "tenant.create": "Tenant created",
    "tenant.update": "Tenant details changed",
    "tenant.hosts_add": "Host names added",
    "tenant.hosts_update": "Host names changed",
    "tenant.host_primary_set": "Primary host name changed",
    "tenant.email_domains_add": "Email domains added",
    "tenant.email_domain_remove": "Email domain removed",
    "tenant.email_domain_verify": "Email domain verified",
    "tenant.email_domain_claim_remove": "Email domain claim removed: another organisation verified the domain",
    "property.create": "Property created",
    "sso.idp_configure": "Identity provider connected or changed",
    "sso.idp_options": "Single sign-on options changed",
    "sso.logout_idp": "Signed out by the identity provider (single logout)",
    "sso.logout_refused": "Single-logout message refused",
    "sso.draft_save": "Draft identity provider connection saved",
    "sso.draft_discard": "Draft identity provider connection discarded",
    "sso.idp_activate": "Draft identity provider connection activated",
    "sso.idp_rollback": "Identity provider connection rolled back",
    "sso.sp_key_create": "Portico's signing key for this organisation created",
    "sso.sp_key_rotate": "Portico's signing key for this organisation rotated",
    "user.jit_create": "Signed in for the first time (placed in the Waiting Room)",
    "member.activate_from_idp_group": "Let in by an identity-provider group",
    "member.add": "Team member added",
    "member.access_change": "Access changed",
    "member.remove": "Access removed",
    "member.invite_resend": "Invitation e-mailed again",
    "setup_link.create": "Set-up link sent",
    "setup_link.redeem": "Set-up link used",
    "waiting_room.access_ask": "Asked for access from the Waiting Room",
    "new_user_request.create": "New User request sent",
    "new_user_request.withdraw": "New User request withdrawn",
    "new_user_request.approve": "New User request approved",
    "new_user_request.reject": "New User request rejected",
    "new_user_request.undo": "Approval undone",
    "outbound_email.resend": "E-mail sent again",
    "tenant.hosts_remove": "Host names removed",
    "tenant.status_set": "Tenant status changed",
    "member.bind": "Sign-in identity bound to the team member",
    "member.unbind": "Sign-in identity unbound by Portico support",
    # Support staff's own accounts (no tenant: never in a tenant's audit log).
    "staff.totp_enrol": "Support staff authenticator enrolled",
    "staff.totp_reset": "Support staff authenticator reset",
    "sign_in.refused": "Sign-in refused",
    "scim.token_create": "SCIM token created",
    "scim.token_revoke": "SCIM token revoked",
    "scim.user_create": "User created by SCIM provisioning",
    "scim.user_replace": "User replaced by SCIM provisioning",
    "scim.user_patch": "User changed by SCIM provisioning",
    "scim.user_suspend": "User suspended by SCIM provisioning",
    "scim.user_restore": "User restored by SCIM provisioning",
    "scim.user_delete": "User deleted by SCIM provisioning",
    "scim.group_create": "Group created by SCIM provisioning",
    "scim.group_replace": "Group replaced by SCIM provisioning",
    "scim.group_patch": "Group changed by SCIM provisioning",
    "scim.group_delete": "Group deleted by SCIM provisioning",
    "scim.access_from_groups": "Access level set from SCIM groups",
}

# How the tenant admins' audit log groups actions for its filter.
AUDIT_ACTION_GROUPS: dict[str, tuple[str, ...]] = {
    "sso": ("sso.", "tenant.", "sign_in."),
    "access": ("member.", "user.", "setup_link.", "property.", "waiting_room.", "scim."),
    "requests": ("new_user_request.",),
}


def audit_action_phrase(action: str) -> str:
    """The words for an action code; an unknown one (an old row) is shown as it is."""
    return AUDIT_ACTION_PHRASES.get(action, action)
