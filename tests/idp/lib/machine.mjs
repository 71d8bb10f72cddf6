// Tokens for machines and terminals, as Authentik 2025.12 issues them.
//
// oidc-provider's access tokens are opaque (or JWTs with a jti and a
// resource audience); Authentik's are JWTs signed like the id_token with
// exactly these claims and no jti: iss, sub, aud (the client id, a string),
// exp, iat, auth_time, acr, email, email_verified, name, given_name,
// preferred_username, nickname, groups (profile scope), azp, uid, scope.
// This module issues such tokens for the grants Authentik offers machines
// and people at a terminal, and answers introspection and revocation for
// them; every other token request goes on to oidc-provider.
//
//   - client_credentials (and password, which Authentik treats the same):
//     client_id, username, password = the account's app password; or
//     client_secret = base64("username:app password").
//   - the device code flow: POST /application/o/device/ (client_id, scope),
//     the person enters the 9-digit code and signs in at /device, the client
//     polls the token endpoint with the device_code grant.
//   - introspection with HTTP Basic (or client_secret_post) client
//     credentials: the claims plus active and client_id.

import { Buffer } from 'node:buffer';
import {
  createHash, createHmac, createPrivateKey, randomBytes, randomInt, sign as signBytes,
} from 'node:crypto';

import { ACR } from './provider.mjs';
import { userClaims } from './users.mjs';

export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const MACHINE_GRANTS = ['client_credentials', 'password', DEVICE_GRANT];
// Scopes a token may carry: Authentik's default mappings, plus a custom one
// the plugin reads (netbox:write makes an exchanged NetBox token writable).
const KNOWN_SCOPES = ['openid', 'profile', 'email', 'offline_access', 'netbox:write'];
const ACCESS_TOKEN_SECONDS = 60 * 60;
const DEVICE_CODE_SECONDS = 10 * 60;
// Authentik asks clients to poll every 5 seconds; 1 keeps the tests quick.
export const DEVICE_POLL_INTERVAL = 1;

function base64url(value) {
  return Buffer.from(value).toString('base64url');
}

function oauthError(error, description, status = 400) {
  return { status, body: { error, error_description: description } };
}

export class MachineTokens {
  constructor({
    issuer, origin, paths, mode, jwks, clientId, clientSecret, users,
  }) {
    this.issuer = issuer;
    this.origin = origin;
    this.paths = paths;
    this.clientId = clientId;
    this.clientSecret = clientSecret;
    this.users = users;
    const [jwk] = jwks.keys;
    this.alg = mode === 'hs256' ? 'HS256' : jwk.alg;
    this.kid = jwk?.kid;
    this.key = mode === 'hs256' ? null : createPrivateKey({ key: jwk, format: 'jwk' });
    this.issued = new Map(); // access token -> { claims, revoked }
    this.devices = new Map(); // device_code -> { userCode, scope, expiresAt, user }
  }

  // ---- signing ----------------------------------------------------------

  sign(claims) {
    const header = { alg: this.alg, typ: 'JWT' };
    if (this.kid && this.alg !== 'HS256') {
      header.kid = this.kid;
    }
    const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    let signature;
    if (this.alg === 'HS256') {
      signature = createHmac('sha256', this.clientSecret).update(input).digest();
    } else if (this.alg.startsWith('ES')) {
      signature = signBytes('sha256', Buffer.from(input), { key: this.key, dsaEncoding: 'ieee-p1363' });
    } else {
      signature = signBytes('sha256', Buffer.from(input), this.key);
    }
    return `${input}.${signature.toString('base64url')}`;
  }

  // The access token's and id_token's claims for a user and granted scopes.
  claimsFor(user, scopes) {
    const now = Math.floor(Date.now() / 1000);
    const all = userClaims(user);
    const claims = {
      iss: this.issuer,
      sub: user.sub,
      aud: this.clientId,
      exp: now + ACCESS_TOKEN_SECONDS,
      iat: now,
      auth_time: now,
      acr: ACR,
    };
    if (scopes.includes('email')) {
      Object.assign(claims, { email: all.email, email_verified: all.email_verified });
    }
    if (scopes.includes('profile')) {
      for (const name of ['name', 'given_name', 'preferred_username', 'nickname', 'groups']) {
        if (Object.hasOwn(all, name)) {
          claims[name] = all[name];
        }
      }
    }
    return claims;
  }

  issueTokens(user, requestedScope) {
    const scopes = String(requestedScope || 'openid').split(/\s+/).filter((scope) => KNOWN_SCOPES.includes(scope));
    const scope = scopes.join(' ');
    const idClaims = this.claimsFor(user, scopes);
    const accessClaims = {
      ...idClaims,
      azp: this.clientId,
      uid: createHash('sha256').update(`uid:${user.username}`).digest('hex'),
      scope,
    };
    const accessToken = this.sign(accessClaims);
    this.issued.set(accessToken, { claims: accessClaims, revoked: false });
    return {
      status: 200,
      body: {
        access_token: accessToken,
        token_type: 'Bearer',
        scope,
        expires_in: ACCESS_TOKEN_SECONDS,
        id_token: this.sign(idClaims),
      },
    };
  }

  // ---- the token endpoint -------------------------------------------------

  // Returns { status, body } for a grant this module handles, or null.
  token(form, authorization) {
    const grantType = form.get('grant_type');
    if (!MACHINE_GRANTS.includes(grantType)) {
      return null;
    }
    const client = this.clientOf(form, authorization);
    if (client.id !== this.clientId) {
      return oauthError('invalid_client', 'Client ID Error');
    }
    if (grantType === DEVICE_GRANT) {
      return this.deviceToken(form);
    }
    let username = form.get('username');
    let password = form.get('password');
    if (!username && client.secret) {
      // Authentik also reads client_secret as base64("username:app password").
      const decoded = Buffer.from(client.secret, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) {
        username = decoded.slice(0, colon);
        password = decoded.slice(colon + 1);
      }
    }
    const user = this.users.authenticateAppPassword(username, password);
    if (!user) {
      return oauthError('invalid_grant', 'invalid username or app password');
    }
    return this.issueTokens(user, form.get('scope'));
  }

  clientOf(form, authorization) {
    if (authorization?.startsWith('Basic ')) {
      const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) {
        return {
          id: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)),
        };
      }
    }
    return { id: form.get('client_id'), secret: form.get('client_secret') };
  }

  // ---- the device code flow ---------------------------------------------

  deviceAuthorization(form) {
    if (form.get('client_id') !== this.clientId) {
      return oauthError('invalid_client', 'Client ID Error');
    }
    const deviceCode = randomBytes(32).toString('base64url');
    const userCode = String(randomInt(0, 1e9)).padStart(9, '0');
    this.devices.set(deviceCode, {
      userCode, scope: form.get('scope') || 'openid', expiresAt: Date.now() + DEVICE_CODE_SECONDS * 1000, user: null,
    });
    const verification = `${this.origin}${this.paths.device_verification}`;
    return {
      status: 200,
      body: {
        device_code: deviceCode,
        verification_uri: verification,
        verification_uri_complete: `${verification}?code=${userCode}`,
        user_code: userCode,
        expires_in: DEVICE_CODE_SECONDS,
        interval: DEVICE_POLL_INTERVAL,
      },
    };
  }

  // The person at /device: the code shown at the terminal, then their password.
  approveDevice(userCode, username, password) {
    const entry = [...this.devices.values()].find((device) => device.userCode === userCode);
    if (!entry || entry.expiresAt < Date.now() || entry.user) {
      return 'Unknown or expired code';
    }
    const user = this.users.authenticate(username, password);
    if (!user) {
      return 'Invalid username or password';
    }
    entry.user = user;
    return null;
  }

  deviceToken(form) {
    const deviceCode = form.get('device_code');
    const entry = this.devices.get(deviceCode);
    if (!entry) {
      return oauthError('invalid_grant', 'unknown device_code');
    }
    if (entry.expiresAt < Date.now()) {
      this.devices.delete(deviceCode);
      return oauthError('expired_token', 'the device code has expired');
    }
    if (!entry.user) {
      return oauthError('authorization_pending', 'the person has not signed in yet');
    }
    this.devices.delete(deviceCode);
    return this.issueTokens(entry.user, entry.scope);
  }

  // ---- introspection and revocation ---------------------------------------

  // Returns { status, body } for a token this module issued, or null.
  introspect(form, authorization) {
    const token = form.get('token');
    if (!this.issued.has(token)) {
      return null;
    }
    const client = this.clientOf(form, authorization);
    if (client.id !== this.clientId || client.secret !== this.clientSecret) {
      return oauthError('invalid_client', 'Client ID Error', 401);
    }
    const { claims, revoked } = this.issued.get(token);
    if (revoked || claims.exp < Date.now() / 1000) {
      return { status: 200, body: { active: false } };
    }
    return { status: 200, body: { ...claims, active: true, client_id: this.clientId } };
  }

  revoke(form, authorization) {
    const entry = this.issued.get(form.get('token'));
    if (!entry) {
      return null;
    }
    const client = this.clientOf(form, authorization);
    if (client.id !== this.clientId || client.secret !== this.clientSecret) {
      return oauthError('invalid_client', 'Client ID Error', 401);
    }
    entry.revoked = true;
    return { status: 200, body: {} };
  }

  // What discovery adds for these grants (oidc-provider computes its own list).
  discoveryFields(document) {
    return {
      ...document,
      device_authorization_endpoint: `${this.origin}${this.paths.device_authorization}`,
      grant_types_supported: [...new Set([...(document.grant_types_supported || []), ...MACHINE_GRANTS])],
    };
  }
}
