"""SCIM 2.0 service provider at /plugins/authentik/scim/v2/: the HTTP edge Authentik's SCIM provider pushes to.

Authentication is NetBox's own TokenAuthentication (v1 and v2 tokens; expiry, enabled flag, allowed IPs
and inactive users enforced by NetBox), so nothing about tokens is re-implemented here. The token's user
must be a superuser or hold PROVISION_PERMISSION; read-only tokens may only read. Each request is one
transaction: a request that fails changes nothing.
"""

import logging

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.utils.decorators import method_decorator
from netbox.api.authentication import TokenAuthentication
from rest_framework import exceptions, parsers, renderers
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView
from users.models import Token

from ..logsafe import safe
from ..models import PROVISION_PERMISSION, holds_without_constraints
from . import activity as scim_activity
from . import provisioning
from .filters import filter_q
from .parsing import parse_group, parse_user
from .patch import apply_patch, patch_operations
from .protocol import (
    CONTENT_TYPE,
    GROUP_NAMES,
    USER_NAMES,
    ScimError,
    list_response,
    page_bounds,
    refuse_unstorable_text,
    resource_type_documents,
    schema_documents,
    select_attributes,
    service_provider_config,
)

logger = logging.getLogger('netbox_authentik.scim')  # the name admins configure (README: Logging)
# Methods of a single resource (/Users/{id}, /Groups/{id}); anything else there is a 405.
RESOURCE_METHODS = ['get', 'put', 'patch', 'delete', 'head']


class BoundedJSONParser(parsers.JSONParser):
    """DRF's JSON parser; JSON nested deeper than Python's recursion limit is a parse error, not a crash."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError('JSON nested too deeply') from None


class ScimJSONParser(BoundedJSONParser):
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


def scim_error(exc):
    """The SCIM error an exception stands for, or None for an unexpected failure."""
    if isinstance(exc, ScimError):
        return exc
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        return ScimError(401, str(exc.detail))
    if isinstance(exc, exceptions.PermissionDenied):
        return ScimError(403, str(exc.detail))
    if isinstance(exc, exceptions.ParseError):
        return ScimError(400, f'Not valid JSON: {exc.detail}', 'invalidSyntax')
    if isinstance(exc, RequestDataTooBig):
        return ScimError(413, 'The body is larger than NetBox accepts (DATA_UPLOAD_MAX_MEMORY_SIZE)')
    if isinstance(exc, exceptions.APIException):
        return ScimError(exc.status_code, str(exc.detail))
    return None


@method_decorator(login_not_required, name='dispatch')
class ScimView(APIView):
    """The base of every SCIM endpoint: token authentication, SCIM JSON in and out, SCIM error bodies."""

    authentication_classes = [ScimTokenAuthentication]
    permission_classes = [MayProvision]
    parser_classes = [ScimJSONParser, BoundedJSONParser]
    renderer_classes = [ScimJSONRenderer, renderers.JSONRenderer]
    # Not part of NetBox's REST API: kept out of its OpenAPI schema (RFC 7643 describes it).
    schema = None

    def dispatch(self, request, *args, **kwargs):
        with transaction.atomic():
            return super().dispatch(request, *args, **kwargs)

    def perform_content_negotiation(self, request, force=False):
        # Authentik sends Accept: application/scim+json; anything else still gets SCIM JSON.
        return super().perform_content_negotiation(request, force=True)

    def check_permissions(self, request):
        # Any request with a valid token counts as Authentik reaching NetBox, even one refused 403 next.
        if isinstance(request.auth, Token):
            scim_activity.record_request(request.auth.pk, request.user.pk)
        super().check_permissions(request)

    def handle_exception(self, exc):
        transaction.set_rollback(True)
        error = scim_error(exc)
        if error is None:
            # Authentik retries anything but 404 and 409: a SCIM error body at least says what happened.
            logger.exception('SCIM request %s %s failed', self.request.method, safe(self.request.path))
            error = ScimError(500, f'NetBox could not carry out the request: {type(exc).__name__}')
        else:
            self.log_refusal(error)
        response = scim_response(error.body(), status=error.status)
        if error.status == 401:
            response['WWW-Authenticate'] = ScimTokenAuthentication().authenticate_header(self.request)
        # A 405's Allow header, like every answer's, comes from DRF's finalize_response.
        return response

    def log_refusal(self, error):
        """Say in NetBox's log what Authentik's UI never shows: which request was refused and why."""
        method, path = self.request.method, self.request.path
        if error.status == 404:
            # Part of the protocol: Authentik re-creates what NetBox no longer has.
            logger.info('SCIM %s %s: 404 %s', method, safe(path), safe(error.detail))
            return
        logger.warning('SCIM refused %s %s: %s %s', method, safe(path), error.status, safe(error.detail))
        scim_activity.record_refusal(method, path, error.status, error.detail)

    def base_url(self):
        return self.request.build_absolute_uri(self.request.path.split('/scim/v2/')[0] + '/scim/v2/')

    def body(self):
        data = self.request.data
        if not isinstance(data, dict):
            raise ScimError(400, 'The body must be a JSON object', 'invalidSyntax')
        refuse_unstorable_text(data)
        return data

    def page(self, queryset, columns, render):
        query = self.request.query_params
        if query.get('filter'):
            queryset = queryset.filter(filter_q(query['filter'], columns)).distinct()
        start, count = page_bounds(query)
        total = queryset.count()
        items = list(queryset[start - 1 : start - 1 + count]) if count and start <= total else []
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
        if created:  # a new user is in no Authentik group yet
            return self.render(user, status=201, link=link, groups=[])
        return self.render(user, status=201)

    def render(self, user, status=200, link=None, groups=None):
        """The user as a SCIM User; without its link, as read back from the database."""
        if link is None:
            user = provisioning.scim_users().get(pk=user.pk)
            link = provisioning.user_link(user)
        resource = provisioning.user_resource(user, self.base_url(), link, groups)
        return scim_response(select_attributes(resource, self.request.query_params), status)


class UserView(UsersView):
    http_method_names = RESOURCE_METHODS

    def user(self, pk):
        return provisioning.get_or_404(provisioning.scim_users(), pk, 'User')

    def get(self, request, pk):
        return self.render(self.user(pk))

    def put(self, request, pk):
        fields = parse_user(self.body())
        user, link = provisioning.replace_user(self.user(pk), fields, request.user)
        return self.render(user, link=link)

    def patch(self, request, pk):
        user = self.user(pk)
        operations = patch_operations(self.body())
        current = provisioning.user_resource(user, self.base_url())
        current.pop('groups')
        current.pop('meta')
        patched = apply_patch(current, operations, USER_NAMES, multi_valued={'emails'})
        fields = parse_user(patched)
        user, link = provisioning.replace_user(user, fields, request.user)
        return self.render(user, link=link)

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
        group = provisioning.create_group(display_name, external_id, members, request.user)
        return self.render(group, status=201)

    def render(self, group, status=200):
        group = provisioning.scim_groups().get(pk=group.pk)
        resource = provisioning.group_resource(group, self.base_url())
        return scim_response(select_attributes(resource, self.request.query_params), status)


class GroupView(GroupsView):
    http_method_names = RESOURCE_METHODS

    def group(self, pk):
        return provisioning.get_or_404(provisioning.scim_groups(), pk, 'Group')

    def get(self, request, pk):
        return self.render(self.group(pk))

    def put(self, request, pk):
        display_name, external_id, members = parse_group(self.body())
        group = self.group(pk)
        # A PUT replaces the group: Authentik leaves `members` out when the group has none it synced.
        members = members if members is not None else []
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
