"""Tokens from outside that NetBox cannot read are refused cleanly: a 400 from the back-channel endpoint, a
sign-in refusal for an id_token, never a 500. With an id_token decryption key set, so that JWE is read too."""

import base64
import json
import logging

import pytest
from cryptography.hazmat.primitives import serialization
from django.test import Client
from social_django.utils import load_strategy

from netbox_authentik.backends import AuthentikOIDCAuth
from netbox_authentik.signin.errors import TokenError, describe
from tests.fake_authentik import (
    NETBOX_SSO_FAILED,
    authentik_claims,
    begin_sign_in,
    complete_sign_in,
    encrypt_id_token,
    login_page_messages,
    logout_token_claims,
    private_pem,
    rejection_logged,
    rsa_private_key,
    sign_in,
)
from tests.test_backchannel_logout import assert_refused, post_logout_token

pytestmark = pytest.mark.django_db

ALICE_SUB = authentik_claims('alice')['sub']
DECRYPTION_KEY = rsa_private_key()


@pytest.fixture(autouse=True)
def decryption_key(settings):
    """NetBox holds the private key of Authentik's "Encryption Key", so 5-part tokens are decrypted."""
    settings.PLUGINS_CONFIG = {'netbox_authentik': {'id_token_decryption_key': private_pem(DECRYPTION_KEY)}}


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b'=').decode()


def segment(header):
    """A header segment: a document as JSON, or bytes as they are."""
    return b64(header if isinstance(header, bytes) else json.dumps(header).encode())


def nested(depth):
    return {'alg': nested(depth - 1)} if depth else 'RS256'


JWE = {'alg': 'RSA-OAEP-256', 'enc': 'A256CBC-HS512'}
HEADERS = {
    'alg_list': {**JWE, 'alg': []},
    'alg_object': {**JWE, 'alg': {}},
    'alg_number': {**JWE, 'alg': 256},
    'alg_null': {**JWE, 'alg': None},
    'alg_true': {**JWE, 'alg': True},
    'alg_missing': {'enc': 'A256CBC-HS512'},
    'alg_unknown': {**JWE, 'alg': 'RSA1_5-ish'},
    'alg_dir': {**JWE, 'alg': 'dir'},
    'enc_list': {**JWE, 'enc': []},
    'enc_object': {**JWE, 'enc': {'x': 1}},
    'enc_missing': {'alg': 'RSA-OAEP-256'},
    'kid_list': {**JWE, 'kid': []},
    'kid_number': {**JWE, 'kid': 7},
    'kid_object': {**JWE, 'kid': {'a': 'b'}},
    'zip_def': {**JWE, 'zip': 'DEF'},
    'zip_list': {**JWE, 'zip': []},
    'typ_list': {**JWE, 'typ': []},
    'typ_object': {**JWE, 'typ': {}},
    'cty_number': {**JWE, 'cty': 1},
    'crit_unknown': {**JWE, 'crit': ['exp']},
    'crit_string': {**JWE, 'crit': 'exp'},
    'header_array': [],
    'header_string': 'RS256',
    'header_number': 1,
    'header_null': None,
    'not_json': b'{"alg": ',
    'not_utf8': b'\xff\xfe\xfd',
    'empty': b'',
    'huge': {**JWE, 'pad': 'a' * 20_000},
    'nested_objects': nested(900),
    'nested_arrays': b'[' * 20_000 + b']' * 20_000,
    'signing_alg_list': {'alg': [], 'typ': 'JWT'},
    'signing_kid_list': {'alg': 'RS256', 'kid': []},
}
RAW_SEGMENTS = {'not_base64': '!!!!', 'spaces': 'eyJ hbGciOiJ SUzI1NiJ9', 'non_ascii': 'éé'}


def jws(header_segment):
    return f'{header_segment}.{segment(logout_token_claims(sub=ALICE_SUB))}.{b64(b"signature")}'


def jwe(header_segment):
    return f'{header_segment}.{b64(bytes(256))}.{b64(bytes(16))}.{b64(bytes(48))}.{b64(bytes(32))}'


SEGMENTS = {**{name: segment(header) for name, header in HEADERS.items()}, **RAW_SEGMENTS}
TOKENS = {
    f'{shape.__name__}_{name}': shape(header_segment)
    for name, header_segment in SEGMENTS.items()
    for shape in (jws, jwe)
}


@pytest.mark.parametrize('token', TOKENS.values(), ids=TOKENS.keys())
def test_backchannel_endpoint_refuses_a_malformed_header_with_400(authentik, token):
    assert_refused(post_logout_token(token))


@pytest.mark.parametrize('token', TOKENS.values(), ids=TOKENS.keys())
def test_id_token_with_a_malformed_header_is_a_token_error(authentik, token, caplog):
    backend = AuthentikOIDCAuth(load_strategy())

    with pytest.raises(TokenError):
        backend.decode_and_validate_id_token(token, 'access-token')
    assert token not in caplog.text


def test_jwe_with_a_list_as_alg_is_a_sign_in_refusal_on_the_login_page(client, authentik, caplog):
    query = begin_sign_in(client)
    authentik.register_token(jwe(segment({**JWE, 'alg': []})))

    response = complete_sign_in(client, query['state'])

    assert NETBOX_SSO_FAILED in login_page_messages(client, response)
    assert 'failed unexpectedly' not in caplog.text


# -- encryption that NetBox refuses to undo ------------------------------------------------------------


def compressed_jwe(plaintext, public_key):
    """A JWE with `zip: DEF`, built by hand: python-jose 3.4+ can still produce them."""
    from jose import jwe as jose_jwe

    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return jose_jwe.encrypt(
        plaintext, pem, algorithm='RSA-OAEP-256', encryption='A256CBC-HS512', zip='DEF', cty='JWT'
    ).decode()


def test_compressed_jwe_is_refused_before_decryption(authentik, caplog):
    caplog.set_level(logging.ERROR)
    bomb = compressed_jwe(b'0' * 5_000_000, DECRYPTION_KEY.public_key())
    assert len(bomb) < 16 * 1024  # five megabytes inflated from a few kilobytes

    assert 'could not be decrypted' in assert_refused(post_logout_token(bomb))
    assert 'compressed (zip header)' in caplog.text


def test_compressed_but_otherwise_valid_logout_token_is_refused(authentik, client):
    sign_in(client, authentik, 'alice', sid='sid-alice')
    token = compressed_jwe(authentik.sign(logout_token_claims(sub=ALICE_SUB)).encode(), DECRYPTION_KEY.public_key())

    assert 'could not be decrypted' in assert_refused(post_logout_token(token))
    assert client.get('/').status_code == 200


def test_oversized_jwe_is_refused_before_decryption(authentik, caplog):
    token = encrypt_id_token('x' * 20_000, DECRYPTION_KEY.public_key())

    assert 'longer than' in assert_refused(post_logout_token(token))


def test_oversized_jwe_id_token_is_refused_before_decryption(authentik, caplog):
    backend = AuthentikOIDCAuth(load_strategy())
    token = encrypt_id_token(
        authentik.sign(authentik_claims('alice', padding='x' * 20_000)), DECRYPTION_KEY.public_key()
    )

    with pytest.raises(TokenError) as refused:
        backend.decode_and_validate_id_token(token, 'access-token')
    assert 'id_token could not be decrypted' in describe(refused.value)
    assert 'longer than 16384 characters' in caplog.text


def test_encrypted_logout_token_is_accepted(authentik, client):
    sign_in(client, authentik, 'alice', sid='sid-alice')
    token = encrypt_id_token(authentik.sign(logout_token_claims(sub=ALICE_SUB)), DECRYPTION_KEY.public_key())

    assert post_logout_token(token).status_code == 200
    assert client.get('/').status_code == 302


def test_logout_token_encrypted_for_another_key_is_refused(authentik, client):
    sign_in(client, authentik, 'alice', sid='sid-alice')
    token = encrypt_id_token(authentik.sign(logout_token_claims(sub=ALICE_SUB)), rsa_private_key().public_key())

    assert 'could not be decrypted' in assert_refused(post_logout_token(token))
    assert client.get('/').status_code == 200


def test_id_token_encrypted_for_another_key_is_refused(authentik, caplog):
    client = Client()
    query = begin_sign_in(client)
    id_token = authentik.sign(authentik_claims('alice', nonce=query['nonce']))
    authentik.register_token(encrypt_id_token(id_token, rsa_private_key().public_key()))

    response = complete_sign_in(client, query['state'])

    assert NETBOX_SSO_FAILED in login_page_messages(client, response)
    assert client.get('/').status_code == 302
    assert rejection_logged([record.getMessage() for record in caplog.records], 'id_token could not be decrypted')
