"""Sign-in works however Authentik signs its id_tokens: RSA key, EC key, or no key (HS256 with the client secret)."""

import jwt
import pytest

from tests.tools.idp import USERS

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize('mode', ['hs256', 'es256', 'rs256'])
def test_sign_in_with_id_token_signed(mode, provider_slot, netbox, sign_in, netbox_db):
    provider = provider_slot.ensure(mode)
    provider.reset_stats()

    sign_in(netbox.url, 'alice')

    assert provider.stats()['token'] == 1
    [(_provider, _uid, extra_data)] = netbox_db.user('alice')['links']
    # The id_token kept for logout is the one from this sign-in: signed the way this provider signs.
    assert jwt.get_unverified_header(extra_data['id_token'])['alg'] == mode.upper()
    assert extra_data['groups'] == USERS['alice'][1]
