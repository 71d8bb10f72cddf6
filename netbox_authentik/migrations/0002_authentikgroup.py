# Authentik groups pushed by Authentik's SCIM provider, and the permission to provision.

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ('netbox_authentik', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AuthentikGroup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ('external_id', models.CharField(blank=True, max_length=255, null=True, unique=True)),
                ('display_name', models.CharField(max_length=255)),
                ('created', models.DateTimeField(auto_now_add=True)),
                ('last_updated', models.DateTimeField(auto_now=True)),
                (
                    'members',
                    models.ManyToManyField(blank=True, related_name='authentik_groups', to=settings.AUTH_USER_MODEL),
                ),
            ],
            options={
                'verbose_name': 'Authentik group',
                'verbose_name_plural': 'Authentik groups',
                'ordering': ('display_name', 'pk'),
                'permissions': [('provision_authentikgroup', 'Provision users and groups through SCIM')],
            },
        ),
    ]
