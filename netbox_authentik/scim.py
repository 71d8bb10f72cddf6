"""SCIM 2.0 service provider at /plugins/authentik/scim/v2/: the HTTP edge Authentik's SCIM provider pushes to.

Authentication is NetBox's own TokenAuthentication (v1 and v2 tokens; expiry, enabled flag, allowed IPs
and inactive users enforced by NetBox), so nothing about tokens is re-implemented here. The token's user
must be a superuser or hold PROVISION_PERMISSION; read-only tokens may only read. Each request is one
transaction: a request that fails changes nothing.
"""

import logging

from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.utils.decorators import method_decorator
from netbox.api.authentication import TokenAuthentication
from rest_framework import exceptions, parsers, renderers
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView
from users.models import Token

from . import provisioning
from .models import PROVISION_PERMISSION, holds_without_constraints
from .scim_filters import filter_q
from .scim_parsing import parse_group, parse_user
from .scim_patch import apply_patch, patch_operations
from .scim_protocol import (
    CONTENT_TYPE,
    GROUP_NAMES,
    USER_NAMES,
    ScimError,
    list_response,
    page_bounds,
    resource_type_documents,
    schema_documents,
    select_attributes,
    service_provider_config,
)

logger = logging.getLogger(__name__)


class ScimJSONParser(parsers.JSONParser):
    media_type = CONTENT_TYPE


class ScimJSONRenderer(renderers.JSONRenderer):
    media_type = CONTENT_TYPE
    format = 'scim'


class ScimTokenAuthentication(TokenAuthentication):
    """NetBox's token authentication, answering 401 (not 403) with a Bearer challenge when it is missing."""

    def authenticate_header(self, request):
        return 'Bearer realm="NetBox SCIM"'


CONSTRAINED_PROVISION = (
    f'The permission that lets this token provision ({PROVISION_PERMISSION}) has constraints, which SCIM cannot '
    'apply: provisioning may change any user and group. Grant the provision action without constraints.'
)


class MayProvision(BasePermission):
    """A token (never a session) whose user may provision; a read-only token only reads."""

    message = (
        'The token must belong to a superuser or to a user with the provision action on Authentik '
        f'groups ({PROVISION_PERMISSION}), and be write-enabled for changes.'
    )

    def has_permission(self, request, view):
        if not isinstance(request.auth, Token):
            raise exceptions.NotAuthenticated('An API token is required: Authorization: Bearer nbt_<key>.<token>')
        if request.method not in SAFE_METHODS and not request.auth.write_enabled:
            return False
        user = request.user
        if not (user.is_active and (user.is_superuser or user.has_perm(PROVISION_PERMISSION))):
            return False
        # Provisioning acts on any user and group Authentik pushes: a constraint could not be honoured, so a
        # permission limited by one is refused rather than silently read as unlimited.
        if not holds_without_constraints(user, PROVISION_PERMISSION):
            raise exceptions.PermissionDenied(CONSTRAINED_PROVISION)
        return True


def scim_response(body, status=200):
    return Response(body, status=status, content_type=CONTENT_TYPE)


@method_decorator(login_not_required, name='dispatch')
class ScimView(APIView):
    """The base of every SCIM endpoint: token authentication, SCIM JSON in and out, SCIM error bodies."""

    authentication_classes = [ScimTokenAuthentication]
    permission_classes = [MayProvision]
    parser_classes = [ScimJSONParser, parsers.JSONParser]
    renderer_classes = [ScimJSONRenderer, renderers.JSONRenderer]
    # Not part of NetBox's REST API: kept out of its OpenAPI schema (RFC 7643 describes it).
    schema = None

    def dispatch(self, request, *args, **kwargs):
        with transaction.atomic():
            return super().dispatch(request, *args, **kwargs)

    def perform_content_negotiation(self, request, force=False):
        # Authentik sends Accept: application/scim+json; anything else still gets SCIM JSON.
        return super().perform_content_negotiation(request, force=True)

    def handle_exception(self, exc):
        transaction.set_rollback(True)
        if isinstance(exc, ScimError):
            return scim_response(exc.body(), status=exc.status)
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            response = scim_response(ScimError(401, str(exc.detail)).body(), status=401)
            response['WWW-Authenticate'] = ScimTokenAuthentication().authenticate_header(self.request)
            return response
        if isinstance(exc, exceptions.PermissionDenied):
            return scim_response(ScimError(403, str(exc.detail)).body(), status=403)
        if isinstance(exc, exceptions.ParseError):
            return scim_response(ScimError(400, f'Not valid JSON: {exc.detail}', 'invalidSyntax').body(), 400)
        if isinstance(exc, exceptions.APIException):
            return scim_response(ScimError(exc.status_code, str(exc.detail)).body(), status=exc.status_code)
        # Authentik retries anything but 404 and 409: a SCIM error body at least says what happened.
        logger.exception('SCIM request %s %s failed', self.request.method, self.request.path)
        return scim_response(
            ScimError(500, f'NetBox could not carry out the request: {type(exc).__name__}').body(), status=500
        )

    def base_url(self):
        return self.request.build_absolute_uri(self.request.path.split('/scim/v2/')[0] + '/scim/v2/')

    def body(self):
        data = self.request.data
        if not isinstance(data, dict):
            raise ScimError(400, 'The body must be a JSON object', 'invalidSyntax')
        return data

    def page(self, queryset, columns, render):
        query = self.request.query_params
        if query.get('filter'):
            queryset = queryset.filter(filter_q(query['filter'], columns)).distinct()
        start, count = page_bounds(query)
        total = queryset.count()
        items = list(queryset[start - 1 : start - 1 + count]) if count else []
        resources = [select_attributes(render(item), query) for item in items]
        return scim_response(list_response(resources, total, start))


class ServiceProviderConfigView(ScimView):
    def get(self, request):
        return scim_response(service_provider_config(self.base_url()))


class ResourceTypesView(ScimView):
    def get(self, request, name=None):
        documents = resource_type_documents(self.base_url())
        if name is None:
            return scim_response(list_response(documents, len(documents), 1))
        return scim_response(_one(documents, name, 'ResourceType'))


class SchemasView(ScimView):
    def get(self, request, name=None):
        documents = schema_documents(self.base_url())
        if name is None:
            return scim_response(list_response(documents, len(documents), 1))
        return scim_response(_one(documents, name, 'Schema'))


def _one(documents, name, kind):
    for document in documents:
        if document['id'] == name:
            return document
    raise ScimError(404, f'{kind} {name} not found')


class UsersView(ScimView):
    def get(self, request):
        return self.page(
            provisioning.scim_users(),
            provisioning.USER_FILTERS,
            lambda user: provisioning.user_resource(user, self.base_url()),
        )

    def post(self, request):
        fields = parse_user(self.body())
        user, link, created = provisioning.create_user(fields, request.user)
        return self.render(user, status=201)

    def render(self, user, status=200):
        user = provisioning.scim_users().get(pk=user.pk)
        resource = provisioning.user_resource(user, self.base_url(), provisioning.user_link(user))
        return scim_response(select_attributes(resource, self.request.query_params), status)


class UserView(UsersView):
    def user(self, pk):
        return provisioning.get_or_404(provisioning.scim_users(), pk, 'User')

    def get(self, request, pk):
        return self.render(self.user(pk))

    def put(self, request, pk):
        fields = parse_user(self.body())
        return self.render(provisioning.replace_user(self.user(pk), fields, request.user))

    def patch(self, request, pk):
        user = self.user(pk)
        operations = patch_operations(self.body())
        current = provisioning.user_resource(user, self.base_url())
        current.pop('groups')
        current.pop('meta')
        patched = apply_patch(current, operations, USER_NAMES, multi_valued={'emails'})
        fields = parse_user(patched)
        return self.render(provisioning.replace_user(user, fields, request.user))

    def delete(self, request, pk):
        provisioning.deactivate_or_delete_user(self.user(pk), request.user)
        return Response(status=204)


class GroupsView(ScimView):
    def get(self, request):
        return self.page(
            provisioning.scim_groups(),
            provisioning.GROUP_FILTERS,
            lambda group: provisioning.group_resource(group, self.base_url()),
        )

    def post(self, request):
        display_name, external_id, members = parse_group(self.body())
        group, created = provisioning.create_group(display_name, external_id, members, request.user)
        return self.render(group, status=201)

    def render(self, group, status=200):
        group = provisioning.scim_groups().get(pk=group.pk)
        resource = provisioning.group_resource(group, self.base_url())
        return scim_response(select_attributes(resource, self.request.query_params), status)


class GroupView(GroupsView):
    def group(self, pk):
        return provisioning.get_or_404(provisioning.scim_groups(), pk, 'Group')

    def get(self, request, pk):
        return self.render(self.group(pk))

    def put(self, request, pk):
        display_name, external_id, members = parse_group(self.body())
        group = self.group(pk)
        return self.render(provisioning.set_group(group, display_name, external_id, members, request.user))

    def patch(self, request, pk):
        group = self.group(pk)
        operations = patch_operations(self.body())
        current = provisioning.group_resource(group, self.base_url())
        current.pop('meta')
        patched = apply_patch(current, operations, GROUP_NAMES, multi_valued={'members'})
        display_name, external_id, members = parse_group(patched)
        provisioning.set_group(group, display_name, external_id, members, request.user)
        # Authentik reads the group again after a PATCH; answering with it saves nothing but is what RFC 7644 allows.
        return self.render(group)

    def delete(self, request, pk):
        provisioning.delete_group(self.group(pk), request.user)
        return Response(status=204)


class NotFoundView(ScimView):
    """Any other path under scim/v2/: a SCIM 404, after the same authentication."""

    def get(self, request, rest):
        raise ScimError(404, f'No SCIM endpoint {rest}')

    post = put = patch = delete = get
