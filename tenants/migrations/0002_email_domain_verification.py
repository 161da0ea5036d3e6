"""Email domains start unverified; the ones that exist were added by operators, so they stay verified."""

import secrets

import django.db.models.functions.text
import tenants.models
from django.db import migrations, models


def existing_domains_verified(apps, schema_editor):
    """Every domain so far was set by an operator (CLI or admin): keep it routing, each with a token of its own."""
    from django.utils import timezone

    EmailDomain = apps.get_model("tenants", "EmailDomain")
    now = timezone.now()
    for row in EmailDomain.objects.all():
        row.verified_at = now
        row.verified_method = "existing"
        row.verification_token = secrets.token_urlsafe(24)
        row.save(update_fields=["verified_at", "verified_method", "verification_token"])


class Migration(migrations.Migration):

    dependencies = [
        ('tenants', '0001_initial'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='emaildomain',
            name='email_domain_unique_ci',
        ),
        migrations.AddField(
            model_name='emaildomain',
            name='check_result',
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.AddField(
            model_name='emaildomain',
            name='checked_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='emaildomain',
            name='verification_token',
            field=models.CharField(default=tenants.models.email_domain_token_new, max_length=64),
        ),
        migrations.AddField(
            model_name='emaildomain',
            name='verified_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='emaildomain',
            name='verified_method',
            field=models.CharField(blank=True, choices=[('dns', 'DNS TXT record'), ('support', 'Support staff'), ('operator', 'Operator (command line)'), ('existing', 'Existing before verification (set by operators)')], max_length=16),
        ),
        migrations.RunPython(existing_domains_verified, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='emaildomain',
            constraint=models.UniqueConstraint(django.db.models.functions.text.Lower('domain'), condition=models.Q(('verified_at__isnull', False)), name='email_domain_verified_unique_ci'),
        ),
        migrations.AddConstraint(
            model_name='emaildomain',
            constraint=models.UniqueConstraint(models.F('tenant'), django.db.models.functions.text.Lower('domain'), name='email_domain_tenant_unique_ci'),
        ),
    ]
