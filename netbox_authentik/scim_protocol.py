"""SCIM 2.0 (RFC 7643/7644) as data: error bodies, discovery documents, filters, PATCH and list pages.

No database writes here; provisioning.py applies what this module parsed. Filters are parsed by
scim2-filter-parser (the parser django-scim2 uses, without django-scim2's settings, middleware and
auth, which would fight NetBox's): this module turns its syntax tree into Django Q objects, for the
attributes each resource type maps onto columns.
"""

import copy

from django.db.models import Q
from scim2_filter_parser import ast
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser, SCIMParserError

CONTENT_TYPE = 'application/scim+json'
USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User'
GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group'
ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error'
LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse'
PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp'
SPC_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'
RESOURCE_TYPE_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ResourceType'
SCHEMA_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Schema'
DEFAULT_COUNT = 100
MAX_COUNT = 1000


class ScimError(Exception):
    """A SCIM error response: HTTP status, optional scimType and a detail a person can act on."""

    def __init__(self, status, detail, scim_type=None):
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type

    def body(self):
        body = {'schemas': [ERROR_SCHEMA], 'status': str(self.status), 'detail': self.detail}
        if self.scim_type:
            body['scimType'] = self.scim_type
        return body


def bad_value(detail):
    return ScimError(400, detail, 'invalidValue')


def bad_syntax(detail):
    return ScimError(400, detail, 'invalidSyntax')


# -- schemas: the attributes this service provider keeps ---------------------------------------------------


def _attribute(
    name,
    type_='string',
    multi=False,
    required=False,
    mutability='readWrite',
    uniqueness='none',
    case_exact=False,
    sub=None,
    description='',
):
    attribute = {
        'name': name,
        'type': type_,
        'multiValued': multi,
        'description': description or name,
        'required': required,
        'caseExact': case_exact,
        'mutability': mutability,
        'returned': 'default',
        'uniqueness': uniqueness,
    }
    if sub is not None:
        attribute['subAttributes'] = sub
    if type_ == 'reference':
        attribute['referenceTypes'] = ['User']
    return attribute


USER_ATTRIBUTES = [
    _attribute('userName', required=True, uniqueness='server', description='The NetBox username.'),
    _attribute(
        'name',
        'complex',
        sub=[
            _attribute('formatted', description='Read from givenName and familyName.'),
            _attribute('familyName', description='The NetBox last name.'),
            _attribute('givenName', description='The NetBox first name.'),
        ],
    ),
    _attribute('displayName'),
    _attribute('active', 'boolean', description='False makes the NetBox user inactive: sessions end, tokens stop.'),
    _attribute(
        'emails',
        'complex',
        multi=True,
        sub=[
            _attribute('value', description='The NetBox email address (the primary one, else the first).'),
            _attribute('type'),
            _attribute('primary', 'boolean'),
        ],
    ),
    _attribute(
        'groups',
        'complex',
        multi=True,
        mutability='readOnly',
        sub=[
            _attribute('value', mutability='readOnly'),
            _attribute('display', mutability='readOnly'),
        ],
    ),
]
GROUP_ATTRIBUTES = [
    _attribute('displayName', required=True, description='The Authentik group name.'),
    _attribute(
        'members',
        'complex',
        multi=True,
        sub=[
            _attribute('value', mutability='immutable', description='The id of a SCIM user.'),
            _attribute('display', mutability='readOnly'),
            _attribute('$ref', 'reference', mutability='readOnly'),
        ],
    ),
]
# Attributes every resource has (RFC 7643 section 3.1); not part of the schemas' attribute lists.
COMMON_ATTRIBUTES = ('id', 'externalId', 'meta', 'schemas')


def _names(attributes):
    return {attribute['name'].lower(): attribute['name'] for attribute in attributes}


USER_NAMES = _names(USER_ATTRIBUTES) | {'id': 'id', 'externalid': 'externalId', 'meta': 'meta', 'schemas': 'schemas'}
GROUP_NAMES = _names(GROUP_ATTRIBUTES) | {'id': 'id', 'externalid': 'externalId', 'meta': 'meta', 'schemas': 'schemas'}


def schema_documents(base_url):
    """GET /Schemas: the User and Group schemas as this service provider keeps them."""
    return [
        _schema_document(base_url, USER_SCHEMA, 'User', 'A NetBox user', USER_ATTRIBUTES),
        _schema_document(
            base_url, GROUP_SCHEMA, 'Group', 'An Authentik group, mapped onto NetBox groups', GROUP_ATTRIBUTES
        ),
    ]


def _schema_document(base_url, schema_id, name, description, attributes):
    return {
        'schemas': [SCHEMA_SCHEMA],
        'id': schema_id,
        'name': name,
        'description': description,
        'attributes': attributes,
        'meta': {'resourceType': 'Schema', 'location': f'{base_url}Schemas/{schema_id}'},
    }


def resource_type_documents(base_url):
    """GET /ResourceTypes."""
    return [
        {
            'schemas': [RESOURCE_TYPE_SCHEMA],
            'id': name,
            'name': name,
            'endpoint': f'/{name}s',
            'description': description,
            'schema': schema,
            'schemaExtensions': [],
            'meta': {'resourceType': 'ResourceType', 'location': f'{base_url}ResourceTypes/{name}'},
        }
        for name, schema, description in (
            ('User', USER_SCHEMA, 'NetBox users'),
            ('Group', GROUP_SCHEMA, 'Authentik groups'),
        )
    ]


def service_provider_config(base_url):
    """GET /ServiceProviderConfig.

    Authentik reads it first and caches it for an hour; without bulk.maxOperations it silently
    assumes that neither PATCH nor filters work.
    """
    return {
        'schemas': [SPC_SCHEMA],
        'documentationUri': 'https://github.com/netbox-authentik/netbox-authentik#provisioning-with-scim',
        'patch': {'supported': True},
        'bulk': {'supported': False, 'maxOperations': 0, 'maxPayloadSize': 0},
        'filter': {'supported': True, 'maxResults': MAX_COUNT},
        'changePassword': {'supported': False},
        'sort': {'supported': False},
        'etag': {'supported': False},
        'authenticationSchemes': [
            {
                'type': 'oauthbearertoken',
                'name': 'NetBox API token',
                'primary': True,
                'description': 'Authorization: Bearer nbt_<key>.<token>, a NetBox API token of a user allowed to '
                'provision (superuser, or the provision action on Authentik group).',
            }
        ],
        'meta': {'resourceType': 'ServiceProviderConfig', 'location': f'{base_url}ServiceProviderConfig'},
    }


# -- list pages ---------------------------------------------------------------------------------------


def page_bounds(query):
    """Return (startIndex, count) from the query string, clamped as RFC 7644 section 3.4.2.4 says."""
    try:
        start = int(query.get('startIndex', 1))
        count = int(query.get('count', DEFAULT_COUNT))
    except ValueError:
        raise bad_value('startIndex and count must be integers') from None
    return max(start, 1), min(max(count, 0), MAX_COUNT)


def select_attributes(resource, query):
    """Apply ?attributes= or ?excludedAttributes= (top-level names, RFC 7644 3.4.2.5); id and schemas stay."""
    wanted = {name.strip().lower() for name in query.get('attributes', '').split(',') if name.strip()}
    unwanted = {name.strip().lower() for name in query.get('excludedAttributes', '').split(',') if name.strip()}
    always = {'id', 'schemas'}
    if wanted:
        return {
            key: value
            for key, value in resource.items()
            if key.lower() in always or key.lower() in wanted or any(w.startswith(key.lower() + '.') for w in wanted)
        }
    return {key: value for key, value in resource.items() if key.lower() in always or key.lower() not in unwanted}


def list_response(resources, total, start):
    return {
        'schemas': [LIST_SCHEMA],
        'totalResults': total,
        'itemsPerPage': len(resources),
        'startIndex': start,
        'Resources': resources,
    }


# -- filters ------------------------------------------------------------------------------------------


def filter_q(text, columns):
    """Turn a SCIM filter into a Q object over `columns` ({lower-case attribute path: (column, kind)}).

    kind is 'text', 'ci' (case-insensitive text, as userName is), 'bool' or 'id'. Only the
    attributes in `columns` can be filtered on; anything else is a 400 invalidFilter.
    """
    try:
        tree = SCIMParser().parse(SCIMLexer().tokenize(text))
    except (SCIMParserError, ValueError, IndexError, TypeError) as error:
        raise ScimError(400, f'Not a valid SCIM filter: {error}', 'invalidFilter') from None
    if tree is None:
        raise ScimError(400, 'Not a valid SCIM filter: it is empty', 'invalidFilter')
    return _node_q(tree, columns, prefix='')


def _node_q(node, columns, prefix):
    if isinstance(node, ast.Filter):
        inner_prefix = prefix
        if node.namespace is not None:
            inner_prefix = _path_name(node.namespace) + '.'
        q = _node_q(node.expr, columns, inner_prefix)
        return ~q if node.negated else q
    if isinstance(node, ast.LogExpr):
        left, right = _node_q(node.expr1, columns, prefix), _node_q(node.expr2, columns, prefix)
        return left & right if node.op.lower() == 'and' else left | right
    if isinstance(node, ast.AttrExpr):
        return _comparison_q(node, columns, prefix)
    raise ScimError(400, 'This filter is not supported', 'invalidFilter')


def _path_name(attr_path):
    if not isinstance(attr_path.attr_name, str):
        raise ScimError(400, 'Nested filters are not supported', 'invalidFilter')
    name = attr_path.attr_name
    if attr_path.sub_attr is not None:
        name += '.' + attr_path.sub_attr.value
    return name


LOOKUPS = {'eq': 'exact', 'co': 'contains', 'sw': 'startswith', 'ew': 'endswith'}


def _comparison_q(node, columns, prefix):
    path = (prefix + _path_name(node.attr_path)).lower()
    if path not in columns:
        known = ', '.join(sorted(columns))
        raise ScimError(
            400, f"Cannot filter on '{prefix}{_path_name(node.attr_path)}'; filterable: {known}", 'invalidFilter'
        )
    column, kind = columns[path]
    operator = node.value.lower()
    if operator == 'pr':
        return (
            ~Q(**{f'{column}__isnull': True}) & ~Q(**{column: ''})
            if kind in ('text', 'ci')
            else ~Q(**{f'{column}__isnull': True})
        )
    value = node.comp_value.value if node.comp_value is not None else None
    if kind == 'bool':
        if operator not in ('eq', 'ne') or str(value).lower() not in ('true', 'false'):
            raise ScimError(400, f"'{path}' takes eq or ne with true or false", 'invalidFilter')
        q = Q(**{column: str(value).lower() == 'true'})
        return ~q if operator == 'ne' else q
    if kind == 'id':
        if operator not in ('eq', 'ne'):
            raise ScimError(400, f"'{path}' takes eq or ne", 'invalidFilter')
        q = Q(**{column: int(value)}) if str(value).isdigit() else Q(pk__in=[])
        return ~q if operator == 'ne' else q
    if operator == 'ne':
        return ~Q(**{f'{column}__iexact' if kind == 'ci' else column: value})
    if operator not in LOOKUPS:
        raise ScimError(400, f"Operator '{operator}' is not supported on '{path}'", 'invalidFilter')
    lookup = LOOKUPS[operator]
    if kind == 'ci':
        lookup = 'i' + lookup
    return Q(**{f'{column}__{lookup}': value})


# -- PATCH --------------------------------------------------------------------------------------------


def patch_operations(body):
    """Return the Operations of a PatchOp body, as (op, path, value), checked for shape.

    Authentik's group rename sends no top-level `schemas`: absent is accepted, a wrong one is not.
    """
    if not isinstance(body, dict):
        raise bad_syntax('A PATCH body must be a JSON object')
    schemas = body.get('schemas')
    if schemas is not None and (not isinstance(schemas, list) or PATCH_SCHEMA not in schemas):
        raise bad_syntax(f"schemas must be ['{PATCH_SCHEMA}']")
    operations = body.get('Operations')
    if not isinstance(operations, list) or not operations:
        raise bad_syntax('Operations must be a non-empty list')
    parsed = []
    for operation in operations:
        if not isinstance(operation, dict):
            raise bad_syntax('Each operation must be a JSON object')
        op = str(operation.get('op', '')).lower()
        if op not in ('add', 'remove', 'replace'):
            raise bad_syntax(f'op must be add, remove or replace, not {operation.get("op")!r}')
        path = operation.get('path')
        if path is not None and (not isinstance(path, str) or not path.strip()):
            raise ScimError(400, 'path must be a non-empty string', 'invalidPath')
        if 'value' not in operation and op != 'remove':
            raise bad_value(f'A {op} operation needs a value')
        if path is None and op == 'remove':
            raise ScimError(400, 'A remove operation needs a path', 'noTarget')
        if path is None and not isinstance(operation.get('value'), dict):
            raise bad_value(f'A {op} operation without path needs an object as value')
        parsed.append((op, path, operation.get('value')))
    return parsed


def apply_patch(resource, operations, names, multi_valued):
    """Apply PATCH operations to a resource's writable attributes (a dict); return the new dict.

    names: {lower-case attribute: attribute name}; multi_valued: the names of list attributes, whose
    items are matched by `value` (members, emails). Attribute names compare case-insensitively.
    """
    resource = copy.deepcopy(resource)
    for op, path, value in operations:
        if path is None:
            for key, item in value.items():
                _apply_one(resource, op, _attribute_name(key, names), None, item, multi_valued)
            continue
        attribute, sub, item_filter = _parse_path(path, names)
        _apply_one(resource, op, attribute, sub, value, multi_valued, item_filter)
    return resource


def _attribute_name(key, names):
    if not isinstance(key, str) or key.lower() not in names:
        raise ScimError(400, f"Unknown attribute '{key}'", 'invalidPath')
    return names[key.lower()]


def _parse_path(path, names):
    """'members', 'name.givenName' or 'members[value eq "42"]' -> (attribute, sub-attribute, item value)."""
    item_filter = None
    if '[' in path:
        try:
            node = SCIMParser().parse(SCIMLexer().tokenize(path))
            while isinstance(node, ast.Filter) and node.namespace is None and not node.negated:
                node = node.expr
            attr_path, inner = node.namespace, node.expr
            while isinstance(inner, ast.Filter) and inner.namespace is None and not inner.negated:
                inner = inner.expr
            if not (
                isinstance(inner, ast.AttrExpr)
                and inner.value.lower() == 'eq'
                and _path_name(inner.attr_path).lower() == 'value'
            ):
                raise ValueError('only [value eq "…"] is supported')
            item_filter = inner.comp_value.value
            name = _path_name(attr_path)
        except (SCIMParserError, ValueError, IndexError, TypeError, AttributeError, ScimError) as error:
            raise ScimError(400, f"Not a supported path '{path}': {error}", 'invalidPath') from None
    else:
        name = path
    attribute, _dot, sub = name.partition('.')
    if attribute.lower().startswith('urn:'):
        raise ScimError(400, f"Unknown path '{path}'", 'invalidPath')
    return _attribute_name(attribute, names), sub or None, item_filter


def _apply_one(resource, op, attribute, sub, value, multi_valued, item_filter=None):
    if attribute in ('id', 'meta', 'schemas', 'groups'):
        if op != 'remove' and attribute == 'id' and value == resource.get('id'):
            return  # Authentik's rename repeats the id
        if attribute == 'schemas':
            return
        raise ScimError(400, f"'{attribute}' cannot be changed", 'mutability')
    if attribute in multi_valued:
        _apply_multi(resource, op, attribute, value, item_filter)
    elif sub is not None:
        current = resource.get(attribute) or {}
        if not isinstance(current, dict):
            raise ScimError(400, f"'{attribute}' has no sub-attributes", 'invalidPath')
        current = dict(current)
        if op == 'remove':
            current.pop(sub, None)
        else:
            current[sub] = value
        resource[attribute] = current
    elif op == 'remove':
        resource.pop(attribute, None)
    elif isinstance(value, dict) and isinstance(resource.get(attribute), dict) and op == 'add':
        resource[attribute] = {**resource[attribute], **value}
    else:
        resource[attribute] = value


def _apply_multi(resource, op, attribute, value, item_filter):
    current = list(resource.get(attribute) or [])
    if op == 'remove':
        if item_filter is not None:
            wanted = {str(item_filter)}
        elif value is None:
            resource[attribute] = []
            return
        else:
            wanted = {str(item.get('value')) for item in _items(attribute, value)}
        resource[attribute] = [item for item in current if str(item.get('value')) not in wanted]
        return
    if item_filter is not None:
        raise ScimError(400, f'A filter in the path of {op} is not supported', 'invalidPath')
    items = _items(attribute, value)
    if op == 'replace':
        resource[attribute] = items
        return
    known = {str(item.get('value')) for item in current}
    resource[attribute] = current + [item for item in items if str(item.get('value')) not in known]


def _items(attribute, value):
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, dict) and 'value' in item for item in value):
        raise bad_value(f"'{attribute}' takes a list of objects with a 'value'")
    return value
