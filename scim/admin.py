"""Directory sync in Django admin.

Support staff's admin runs on the public host, in the public schema, where the tenant-schema SCIM
tables do not exist, so no SCIM model is registered here (provisioning's Membership isn't either).
What support needs is in the public schema already: every SCIM change is an AuditEvent whose actor
is "scim:<token name>" (Audit events, filter by actor), and each tenant's users with their state
("Suspended by the directory", "Removed by the directory") are on the tenant's admin page.
"""
