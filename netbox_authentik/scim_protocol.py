"""SCIM 2.0 (RFC 7643/7644) as data: error bodies, attribute definitions, discovery documents and list pages.

No database writes here; provisioning.py applies what the SCIM modules parsed. Filters are in
scim_filters.py, PATCH operations in scim_patch.py.
"""

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
# Authentik sends one PATCH operation per member and splits them into requests of bulk.maxOperations
# (all in one request when it is 0); more per request are refused (413), so each request stays short.
MAX_PATCH_OPERATIONS = 1000
# The largest id a NetBox row (PostgreSQL bigint) can have.
MAX_ID = 2**63 - 1


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


def resource_id(value):
    """The row id a SCIM id names, or None when it names none: ASCII digits within PostgreSQL's bigint.

    Python's isdigit() also accepts '²' and other digits int() refuses or reads differently.
    """
    text = str(value)
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
        return None
    number = int(text)
    return number if number <= MAX_ID else None


def refuse_unstorable_text(data):
    """A 400 invalidValue when a string anywhere in a JSON body cannot be stored in PostgreSQL.

    PostgreSQL text refuses NUL characters, and UTF-8 has no lone surrogates (JSON's \\ud800 escapes).
    Walks the body without recursion: its depth is bounded only by the JSON parser.
    """
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            _check_storable(item)


def _check_storable(text):
    if '\x00' in text:
        raise bad_value('A string in the body contains a NUL character, which NetBox cannot store')
    try:
        text.encode('utf-8')
    except UnicodeEncodeError:
        raise bad_value('A string in the body contains a lone UTF-16 surrogate, which is not text') from None


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
    assumes that neither PATCH nor filters work, and it splits group PATCHes into requests of
    bulk.maxOperations operations.
    """
    return {
        'schemas': [SPC_SCHEMA],
        'documentationUri': 'https://github.com/netbox-authentik/netbox-authentik#provisioning-with-scim',
        'patch': {'supported': True},
        # Bulk is not offered; Authentik reads maxOperations as the most PATCH operations it sends at once.
        'bulk': {'supported': False, 'maxOperations': MAX_PATCH_OPERATIONS, 'maxPayloadSize': 0},
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
    # A start beyond every row is an empty page, not an OFFSET PostgreSQL cannot hold.
    return min(max(start, 1), MAX_ID), min(max(count, 0), MAX_COUNT)


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
