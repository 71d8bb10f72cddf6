"""SCIM User and Group bodies checked and read into what NetBox stores; a ScimError (400) when one is bad.

No database writes here (provisioning.py applies the result); reading field limits from NetBox's models.
"""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from social_django.models import UserSocialAuth

from .linking import uid_max_length
from .models import AUTHENTIK_GROUP_MAX_LENGTH
from .scim_protocol import GROUP_SCHEMA, USER_NAMES, USER_SCHEMA, ScimError, bad_syntax, bad_value

# Attributes a client may send and this service provider ignores (read-only, or kept by NetBox).
IGNORED_USER_ATTRIBUTES = {'id', 'meta', 'schemas', 'groups', 'password'}


@dataclass(frozen=True)
class UserFields:
    """What a SCIM User body asks of a NetBox user."""

    username: str
    first_name: str
    last_name: str
    email: str
    active: bool
    external_id: str


def _check_schemas(body, schema):
    if not isinstance(body, dict):
        raise bad_syntax('The body must be a JSON object')
    schemas = body.get('schemas')
    if not isinstance(schemas, list) or schema not in schemas:
        raise bad_syntax(f"schemas must contain '{schema}'")
    extensions = [urn for urn in schemas if urn != schema]
    if extensions:
        raise ScimError(400, f'Schema extensions are not supported: {", ".join(map(str, extensions))}', 'invalidValue')


def _text(body, key, max_length, required=False):
    value = body.get(key)
    if value is None:
        if required:
            raise bad_value(f"'{key}' is required")
        return ''
    if not isinstance(value, str):
        raise bad_value(f"'{key}' must be a string")
    if len(value) > max_length:
        raise bad_value(f"'{key}' is longer than NetBox allows ({max_length} characters)")
    return value


def _boolean(value, key):
    # Some SCIM clients send booleans as strings ("True"): accepted, as RFC 7643's JSON booleans are meant.
    if isinstance(value, str) and value.lower() in ('true', 'false'):
        return value.lower() == 'true'
    if not isinstance(value, bool):
        raise bad_value(f"'{key}' must be true or false")
    return value


def parse_user(body):
    """Check a POST/PUT User body and return its UserFields; a ScimError (400) when it is bad."""
    _check_schemas(body, USER_SCHEMA)
    unknown = sorted(key for key in body if str(key).lower() not in USER_NAMES and key not in IGNORED_USER_ATTRIBUTES)
    if unknown:
        raise ScimError(400, f'Unknown attribute(s): {", ".join(map(str, unknown))}', 'invalidSyntax')
    body = {USER_NAMES.get(str(key).lower(), key): value for key, value in body.items()}
    field = get_user_model()._meta.get_field
    username = _text(body, 'userName', field('username').max_length, required=True).strip()
    # The same clean-up a sign-in's username gets (social-core's CLEAN_USERNAMES).
    cleaned = UserSocialAuth.clean_username(username)
    if not cleaned:
        raise bad_value("'userName' has no character NetBox allows in a username")
    name = body.get('name') or {}
    if not isinstance(name, dict):
        raise bad_value("'name' must be an object")
    name = {str(key).lower(): value for key, value in name.items()}
    # Authentik sends familyName ' ' for a one-word name: surrounding blanks are never part of a name.
    first_name = _text(name, 'givenname', field('first_name').max_length).strip()
    last_name = _text(name, 'familyname', field('last_name').max_length).strip()
    emails = body.get('emails') or []
    if not isinstance(emails, list) or not all(isinstance(item, dict) for item in emails):
        raise bad_value("'emails' must be a list of objects")
    primary = [item for item in emails if item.get('primary') is True] or emails
    email = _text(primary[0], 'value', field('email').max_length) if primary else ''
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise bad_value(f"'{email}' is not an email address NetBox accepts") from None
    active = _boolean(body.get('active', True), 'active')
    # The Authentik identity (its uid, the OIDC `sub`): a SCIM user is a NetBox user linked to one.
    external_id = body.get('externalId')
    if not isinstance(external_id, str) or not external_id.strip():
        raise bad_value("'externalId' is required: the Authentik user's uid (the sub it signs in with)")
    if len(external_id) > uid_max_length():
        raise bad_value(f"'externalId' is longer than NetBox allows ({uid_max_length()} characters)")
    return UserFields(cleaned, first_name, last_name, email, active, external_id)


def parse_group(body):
    """Check a POST/PUT Group body: return (displayName, externalId, member ids or None when absent)."""
    _check_schemas(body, GROUP_SCHEMA)
    known = {'displayname', 'externalid', 'members', 'id', 'meta', 'schemas'}
    unknown = sorted(str(key) for key in body if str(key).lower() not in known)
    if unknown:
        raise ScimError(400, f'Unknown attribute(s): {", ".join(unknown)}', 'invalidSyntax')
    body = {str(key).lower(): value for key, value in body.items()}
    display_name = _text(
        {'displayName': body.get('displayname')}, 'displayName', AUTHENTIK_GROUP_MAX_LENGTH, required=True
    )
    if not display_name.strip():
        raise bad_value("'displayName' must not be empty")
    external_id = body.get('externalid')
    if external_id is not None and (not isinstance(external_id, str) or len(external_id) > 255):
        raise bad_value("'externalId' must be a string of at most 255 characters")
    members = body.get('members')
    if members is not None:
        if not isinstance(members, list) or not all(isinstance(item, dict) and 'value' in item for item in members):
            raise bad_value("'members' must be a list of objects with a 'value'")
        members = [str(item['value']) for item in members]
    return display_name, external_id or None, members
