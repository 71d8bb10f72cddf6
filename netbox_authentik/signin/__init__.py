"""The OpenID Connect sign-in: Authentik's provider (endpoint, discovery and JWKS), token verification, claims,
nonces, the refusals at sign-in, the login button and the login page's messages.

May use only the layers below it (tests/tools/layout.py): settings, logsafe, guide.
"""
