"""Serializers of a link and of a group mapping rule.

Only a link's named fields leave NetBox: extra_data, and the tokens in it, never does.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from netbox.api.fields import SerializedPKRelatedField
from netbox.api.serializers import NetBoxModelSerializer, ValidatedModelSerializer
from rest_framework import exceptions, serializers
from social_django.models import UserSocialAuth
from users.api.serializers import GroupSerializer, UserSerializer
from users.models import Group

from .. import linking
from ..models import RULE_GRANTS_NOTHING, GroupMapping, rule_authority_problem, rule_grants_nothing

__all__ = ('AssociationSerializer', 'GroupMappingSerializer')


class AssociationSerializer(ValidatedModelSerializer):
    """A NetBox user's link to an Authentik identity; the groups and sign-in time come from the last sign-in."""

    # social_django's model is not a plugin model: NetBox cannot derive these view names itself.
    url = serializers.HyperlinkedIdentityField(view_name='plugins-api:netbox_authentik-api:association-detail')
    display_url = serializers.HyperlinkedIdentityField(view_name='plugins:netbox_authentik:association')
    user = UserSerializer(nested=True)
    provider = serializers.CharField(default=linking.PROVIDER, max_length=linking.provider_max_length())
    groups = serializers.SerializerMethodField(read_only=True)
    groups_synced_at = serializers.SerializerMethodField(read_only=True)
    last_sign_in = serializers.SerializerMethodField(read_only=True)
    allow_second_identity = serializers.BooleanField(
        write_only=True,
        required=False,
        default=False,
        help_text='Link even though the user is already linked to another identity of this provider.',
    )

    class Meta:
        model = UserSocialAuth
        fields = (
            'id',
            'url',
            'display_url',
            'display',
            'user',
            'provider',
            'uid',
            'groups',
            'groups_synced_at',
            'last_sign_in',
            'created',
            'modified',
            'allow_second_identity',
        )
        brief_fields = ('id', 'url', 'display', 'user', 'provider', 'uid')

    @extend_schema_field(OpenApiTypes.STR)
    def get_display(self, obj):
        return f'{obj.user} ({obj.provider})'

    @extend_schema_field(serializers.ListField(child=serializers.CharField(), allow_null=True))
    def get_groups(self, obj):
        return linking.synced_groups(obj)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_groups_synced_at(self, obj):
        return _isoformat(linking.groups_synced_at(obj))

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_last_sign_in(self, obj):
        return _isoformat(linking.last_sign_in(obj))

    def validate(self, data):
        if self.nested:
            return super().validate(data)
        allow_second_identity = data.pop('allow_second_identity', False)
        # The link as stored: NetBox's validate() puts the submitted values on the instance.
        stored = self.instance
        if stored is not None:
            stored = UserSocialAuth(pk=stored.pk, user_id=stored.user_id, provider=stored.provider, uid=stored.uid)
        user = data.get('user', getattr(self.instance, 'user', None))
        provider = data.get('provider', getattr(self.instance, 'provider', None))
        uid = data.get('uid', getattr(self.instance, 'uid', None))
        request = self.context.get('request')
        problems = linking.link_problems(
            getattr(request, 'user', None),
            user,
            provider,
            uid,
            link=stored,
            allow_second_identity=allow_second_identity,
        )
        if '__all__' in problems:
            raise exceptions.PermissionDenied(problems['__all__'])
        if problems:
            raise serializers.ValidationError(problems)
        if self.instance is None:
            data.update(linking.link_key(provider))
        return super().validate(data)


def _isoformat(value):
    return value.isoformat() if value is not None else None


class GroupMappingSerializer(NetBoxModelSerializer):
    """A group mapping rule: netbox_groups is a list of group ids on write, the groups themselves on read."""

    netbox_groups = SerializedPKRelatedField(
        queryset=Group.objects.all(), serializer=GroupSerializer, nested=True, required=False, many=True
    )

    class Meta:
        model = GroupMapping
        fields = (
            'id',
            'url',
            'display_url',
            'display',
            'authentik_group',
            'netbox_groups',
            'superuser',
            'description',
            'enabled',
            'tags',
            'custom_fields',
            'created',
            'last_updated',
        )
        brief_fields = ('id', 'url', 'display', 'authentik_group', 'superuser', 'enabled', 'description')

    def validate(self, data):
        if self.nested:
            return super().validate(data)
        # A partial update keeps the stored values of what it leaves out.
        superuser = data.get('superuser', getattr(self.instance, 'superuser', False))
        if 'netbox_groups' in data:
            netbox_groups = data['netbox_groups']
        else:
            netbox_groups = list(self.instance.netbox_groups.all()) if self.instance is not None else []
        request = self.context.get('request')
        if problem := rule_authority_problem(getattr(request, 'user', None), superuser, netbox_groups):
            raise exceptions.PermissionDenied(problem)
        data = super().validate(data)  # the model's own checks (the glob) first: they name the field at fault
        if rule_grants_nothing(superuser, netbox_groups):
            raise serializers.ValidationError({'non_field_errors': [str(RULE_GRANTS_NOTHING)]})
        return data
