// The oidc-provider configuration that makes panva's OpenID-Certified
// provider look like one Authentik OAuth2/OpenID provider (one application).
//
// Everything protocol-related (authorization codes, tokens, id_token
// signing, sessions, RP-initiated and back-channel logout) is oidc-provider's
// own code. This file only configures it; front.mjs adds the few Authentik
// behaviours oidc-provider has no option for.

import { randomBytes } from 'node:crypto';

import Provider, { errors } from 'oidc-provider';

import { loadOrGenerateJwks, MODES } from './keys.mjs';
import {
  errorPage, loggedOutPage, logoutConfirmPage,
} from './pages.mjs';
import { userClaims } from './users.mjs';

// Authentik's only acr value.
export const ACR = 'goauthentik.io/providers/oauth2/default';

// Authentik's URL layout. The authorize, token, userinfo, revoke and
// introspect endpoints are shared by all applications; discovery, JWKS and
// end-session live under the application slug. Every path ends in "/".
export function authentikPaths(slug) {
  const app = `/application/o/${slug}/`;
  return {
    issuerPath: app,
    discovery: `${app}.well-known/openid-configuration`,
    authorization: '/application/o/authorize/',
    token: '/application/o/token/',
    userinfo: '/application/o/userinfo/',
    revocation: '/application/o/revoke/',
    introspection: '/application/o/introspect/',
    jwks: `${app}jwks/`,
    end_session: `${app}end-session/`,
    // Tokens for machines and terminals (lib/machine.mjs).
    device_authorization: '/application/o/device/',
    device_verification: '/device',
  };
}

export function createProvider(options, users) {
  const {
    issuer, slug, mode, clientId, clientSecret, redirectUris, postLogoutRedirectUris,
    backchannelLogoutUri, keysFile,
  } = options;
  const { alg } = MODES[mode];
  const paths = authentikPaths(slug);

  const client = {
    client_id: clientId,
    client_secret: clientSecret,
    client_name: 'NetBox',
    redirect_uris: redirectUris,
    post_logout_redirect_uris: postLogoutRedirectUris,
    response_types: ['code'],
    // refresh_token is allowed so that offline_access can yield one.
    grant_types: ['authorization_code', 'refresh_token'],
    // oidc-provider accepts client_secret_basic and client_secret_post for a
    // client registered with either one (oidc-provider's client authentication code).
    token_endpoint_auth_method: 'client_secret_basic',
    // In hs256 mode this makes oidc-provider sign with the client secret.
    id_token_signed_response_alg: alg,
    // Authentik always puts auth_time into the id_token; oidc-provider does
    // only when asked (max_age, prompt=login, or this client setting).
    require_auth_time: true,
  };
  if (backchannelLogoutUri) {
    client.backchannel_logout_uri = backchannelLogoutUri;
    client.backchannel_logout_session_required = true;
  }

  const configuration = {
    clients: [client],
    jwks: loadOrGenerateJwks(mode, keysFile),

    // Exactly the two client authentication methods Authentik offers; this
    // is also what discovery advertises.
    clientAuthMethods: ['client_secret_post', 'client_secret_basic'],
    clientDefaults: {
      grant_types: ['authorization_code'],
      id_token_signed_response_alg: alg,
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    // Discovery advertises exactly one id_token algorithm, as Authentik does.
    // For RS256/ES256 oidc-provider intersects this with the loaded key; for
    // HS256 it needs no key at all.
    enabledJWA: {
      idTokenSigningAlgValues: [alg],
    },

    // Authentik's default scope mappings.
    claims: {
      // Authentik's id_token always carries acr and amr. oidc-provider adds
      // them only when requested, unless a scope names them: listing them
      // under "openid" does that. They are not account claims, so userinfo
      // still has just sub for this scope.
      openid: ['sub', 'acr', 'amr'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'preferred_username', 'nickname', 'groups'],
      acr: null,
      amr: null,
      auth_time: null,
      sid: null,
      iss: null,
    },
    scopes: ['openid', 'email', 'profile', 'offline_access'],
    acrValues: [ACR],
    // Authentik puts the scope claims into the id_token too ("include claims
    // in id_token" is on by default); oidc-provider does that only when this
    // is false.
    conformIdTokenClaims: false,

    async findAccount(ctx, sub) {
      const user = users.findBySub(sub);
      if (!user) {
        return undefined;
      }
      return {
        accountId: user.sub,
        async claims() {
          return userClaims(user);
        },
      };
    },

    features: {
      // Never the development views: they accept any password. Our own
      // login interaction lives in front.mjs.
      devInteractions: { enabled: false },
      // Enabled by default in oidc-provider 9 but not offered by Authentik.
      pushedAuthorizationRequests: { enabled: false },
      dPoP: { enabled: false },
      userinfo: { enabled: true },
      revocation: {
        enabled: true,
        async allowedPolicy(ctx, authenticatedClient, token) {
          if (token.clientId !== authenticatedClient.clientId) {
            throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
          }
          return true;
        },
      },
      introspection: {
        enabled: true,
        async allowedPolicy() {
          return true;
        },
      },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.type = 'html';
          ctx.body = logoutConfirmPage(form);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = loggedOutPage();
        },
      },
    },

    // PKCE is optional for this confidential client (oidc-provider's own
    // default too, written out so the policy is visible here). oidc-provider
    // implements S256 only; "plain" is refused.
    pkce: {
      required: () => false,
    },

    interactions: {
      url(ctx, interaction) {
        return `/interaction/${interaction.uid}/`;
      },
    },

    // Authentik's default lifetimes: access code 1 minute, access token 1
    // hour. The rest are set explicitly to silence oidc-provider's notices.
    ttl: {
      AuthorizationCode: 60,
      AccessToken: 60 * 60,
      IdToken: 60 * 60,
      RefreshToken: 30 * 24 * 60 * 60,
      Interaction: 60 * 60,
      Session: 14 * 24 * 60 * 60,
      Grant: 14 * 24 * 60 * 60,
    },

    cookies: {
      keys: [randomBytes(32).toString('hex')],
    },

    routes: {
      authorization: paths.authorization,
      token: paths.token,
      userinfo: paths.userinfo,
      revocation: paths.revocation,
      introspection: paths.introspection,
      jwks: paths.jwks,
      end_session: paths.end_session,
    },

    clientBasedCORS() {
      return false;
    },

    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = errorPage(out);
    },

    // oidc-provider's default fetch refuses loopback and private addresses
    // (SSRF protection). A test IdP must reach the NetBox under test on
    // 127.0.0.1 for back-channel logout, so drop that dispatcher.
    fetch(url, fetchOptions) {
      const { dispatcher, ...rest } = fetchOptions;
      return globalThis.fetch(url, rest);
    },
  };

  const provider = new Provider(issuer, configuration);
  return { provider, paths, jwks: configuration.jwks };
}
