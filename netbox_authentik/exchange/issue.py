"""Who gets a NetBox API token for a verified Authentik token, and the token itself.

The NetBox user linked to the token's `sub` (provider authentik), active, in required_groups as at sign-in,
with the sign-in's group mapping applied when the token carries `groups`, and not a superuser unless
api_token_superusers allows it. Everything happens in one transaction: a refusal leaves no token, no
replay record, no group change and no user behind.
"""

import datetime
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from social_django.models import UserSocialAuth

from netbox_authentik import linking
from netbox_authentik import settings as plugin_settings
from netbox_authentik.errors import AuthentikError
from netbox_authentik.group_sync import apply_authentik_groups
from netbox_authentik.groups import clean_groups_claim, meets_required_groups
from netbox_authentik.logsafe import safe
from netbox_authentik.models import ExchangedToken
from netbox_authentik.settings import BACKEND_NAME

from .verify import ExchangeRefused, invalid_grant, subject_digest

logger = logging.getLogger(__name__)

# The Authentik scope that makes an exchanged token write-enabled (api_token_write='scope').
WRITE_SCOPE = 'netbox:write'
EXCHANGE_MESSAGE = 'Groups and superuser status synced from Authentik at an API token exchange'


def access_denied(description):
    return ExchangeRefused('access_denied', description, status=403)


@dataclass(frozen=True)
class IssuedToken:
    """A NetBox API token just issued: what goes into `Authorization: <token_type> <access_token>`."""

    access_token: str
    token_type: str
    expires_in: int
    write_enabled: bool
    user: object


def issue_api_token(backend, subject_token, claims, requested_lifetime=None):
    """Return a new NetBox API token for the user of these verified claims; raise ExchangeRefused otherwise."""
    digest = subject_digest(subject_token)
    now = timezone.now()
    leeway = backend.setting('JWT_LEEWAY', backend.JWT_LEEWAY)
    subject_expires = datetime.datetime.fromtimestamp(claims['exp'], datetime.UTC)
    expires = min(subject_expires, now + datetime.timedelta(seconds=plugin_settings.get('api_token_lifetime')))
    if requested_lifetime is not None:
        expires = min(expires, now + datetime.timedelta(seconds=requested_lifetime))
    if expires <= now:
        raise invalid_grant('subject_token has expired')
    groups_claim = clean_groups_claim(claims.get('groups'))
    if not meets_required_groups(groups_claim.names, plugin_settings.get('required_groups')):
        raise access_denied('Your Authentik account is in none of the groups NetBox requires (required_groups).')
    with transaction.atomic():
        if ExchangedToken.objects.filter(subject_digest=digest).exists():
            raise invalid_grant('subject_token was already exchanged')
        user = _user_for(backend, claims)
        if groups_claim.names is not None:
            _sync_groups(user, claims['sub'], groups_claim.names)
        if user.is_superuser and not plugin_settings.get('api_token_superusers'):
            raise access_denied(
                'NetBox issues no API tokens to superusers in exchange for Authentik tokens (api_token_superusers).'
            )
        write_enabled = _write_enabled(claims)
        token, access_token, token_type = _create_token(user, claims, expires, write_enabled)
        try:
            with transaction.atomic():
                ExchangedToken.objects.create(
                    token=token,
                    user=user,
                    subject_digest=digest,
                    subject_expires=subject_expires + datetime.timedelta(seconds=leeway),
                    expires=expires,
                    client_id=_client_of(claims)[:255],
                    sid=(claims.get('sid') or '')[:255],
                )
        except IntegrityError as error:
            # Two workers exchanging the same token at once: the unique digest lets one of them through.
            raise invalid_grant('subject_token was already exchanged') from error
    logger.info(
        "Issued a NetBox API token to '%s' for Authentik client %s, %s, expiring %s",
        safe(user),
        safe(_client_of(claims)),
        'write-enabled' if write_enabled else 'read-only',
        expires.isoformat(timespec='seconds'),
    )
    return IssuedToken(access_token, token_type, int((expires - now).total_seconds()), write_enabled, user)


def _client_of(claims):
    audience = claims.get('azp') or claims.get('aud')
    return audience if isinstance(audience, str) else ' '.join(str(item) for item in audience or ())


def _user_for(backend, claims):
    """The active NetBox user linked to the token's sub; an unknown sub is refused or, by setting, created."""
    link = linking.existing_link(BACKEND_NAME, claims['sub'])
    if link is None:
        if not plugin_settings.get('api_token_create_users'):
            logger.warning(
                'No NetBox user is linked to Authentik identity %s. Link one: `netbox authentik_link --user '
                '<username> --uid %s`, provision it through SCIM, or let it sign in once.',
                safe(claims['sub']),
                safe(claims['sub']),
            )
            raise access_denied(
                'No NetBox user is linked to this Authentik identity. Ask your NetBox administrator to link it '
                'or provision it through SCIM, or sign in to NetBox once through Authentik.'
            )
        user = _create_by_first_sign_in(backend, claims)
    else:
        user = link.user
    if not user.is_active:
        raise access_denied('Your NetBox account is deactivated.')
    return user


def _create_by_first_sign_in(backend, claims):
    """Create the user as a first sign-in would: the backend's own pipeline (collision refused, groups mapped)."""
    backend.id_token = dict(claims)
    try:
        user = backend.strategy.authenticate(backend=backend, response=dict(claims))
    except AuthentikError as error:
        raise access_denied(str(error)) from error
    if user is None:
        raise access_denied('NetBox could not create a user for this Authentik identity.')
    return user


def _sync_groups(user, sub, authentik_groups):
    """The sign-in's group mapping (rules in NetBox included, change-logged), and the link's record of it."""
    apply_authentik_groups(user, authentik_groups, message=EXCHANGE_MESSAGE)
    user.refresh_from_db(fields=['is_superuser'])
    link = UserSocialAuth.objects.filter(provider=BACKEND_NAME, uid=sub).first()
    if link is not None:
        link.extra_data = {
            **(link.extra_data or {}),
            'groups': list(authentik_groups),
            'groups_synced_at': timezone.now().isoformat(timespec='seconds'),
        }
        link.save(update_fields=['extra_data'])


def _write_enabled(claims):
    mode = plugin_settings.get('api_token_write')
    if mode == 'always':
        return True
    if mode == 'never':
        return False
    return WRITE_SCOPE in (claims.get('scope') or '').split()


def _create_token(user, claims, expires, write_enabled):
    """A NetBox token: v2 (nbt_…) when API_TOKEN_PEPPERS is set, else v1. Returns (token, value, type)."""
    from users.constants import TOKEN_PREFIX
    from users.models import Token

    version = 2 if getattr(settings, 'API_TOKEN_PEPPERS', None) else 1
    issued_at = datetime.datetime.fromtimestamp(claims['iat'], datetime.UTC).isoformat(timespec='seconds')
    token = Token(
        version=version,
        user=user,
        expires=expires,
        write_enabled=write_enabled,
        description=f'Authentik token exchange: client {_client_of(claims)}, Authentik token issued {issued_at}'[:200],
    )
    token.save()
    if version == 2:
        return token, f'{TOKEN_PREFIX}{token.key}.{token.token}', 'Bearer'
    return token, token.token, 'Token'


# -- ending and cleaning up ------------------------------------------------------------------------------


def delete_session_tokens(sub=None, sid=None):
    """Delete the API tokens exchanged under the Authentik session(s) a back-channel logout ended; return how many.

    With a sid: the tokens exchanged with that sid. With only a sub: every token of that person that was
    exchanged under some Authentik session (tokens of client credentials carry no sid and stay).
    """
    from users.models import Token

    exchanges = ExchangedToken.objects.filter(token__isnull=False)
    if sid:
        exchanges = exchanges.filter(sid=sid)
    elif sub:
        linked = UserSocialAuth.objects.filter(provider=BACKEND_NAME, uid=sub).values('user_id')
        exchanges = exchanges.filter(user_id__in=linked).exclude(sid='')
    else:
        return 0
    deleted, _by_model = Token.objects.filter(pk__in=exchanges.values('token_id')).delete()
    return deleted


def expired_tokens(now=None):
    """The exchanged NetBox tokens past the expiry they were issued with (even if edited since)."""
    from users.models import Token

    return Token.objects.filter(authentik_exchange__expires__lte=now or timezone.now())


def expired_exchanges(now=None):
    """Replay records no Authentik token can need any more: its token gone and the Authentik token expired."""
    now = now or timezone.now()
    return ExchangedToken.objects.filter(subject_expires__lte=now, expires__lte=now)
