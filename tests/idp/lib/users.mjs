// Users of the test identity provider and the claims Authentik would release
// for them.
//
// The built-in users cover the group shapes the plugin must cope with:
// several groups, an empty list, no `groups` claim at all, and a very long
// list. Their passwords are fixed and documented in README.md.

import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

const MANY_GROUPS = Array.from({ length: 500 }, (_, i) => `group-${String(i).padStart(3, '0')}`);

export const BUILTIN_USERS = [
  {
    username: 'akadmin',
    password: 'akadmin-pass',
    name: 'Ada Admin',
    email: 'akadmin@example.com',
    groups: ['netbox-admins', 'network-engineers'],
  },
  {
    username: 'alice',
    password: 'alice-pass',
    name: 'Alice Example',
    groups: ['netbox-users', 'network-engineers'],
  },
  { username: 'nogroups', password: 'nogroups-pass', name: 'No Groups', groups: [] },
  // No `groups` key at all: models a removed or custom scope mapping.
  { username: 'noclaim', password: 'noclaim-pass', name: 'No Claim' },
  { username: 'many', password: 'many-pass', name: 'Many Groups', groups: MANY_GROUPS },
  // An Authentik service account: no email, signs in only with its app password (client credentials).
  {
    username: 'svc-automation',
    password: 'svc-automation-unused-login-password',
    appPassword: 'svc-automation-app-password-0123456789',
    name: 'svc-automation',
    email: '',
    groups: ['netbox-automation'],
  },
];

// Authentik's default subject mode, `hashed_user_id`, is a sha256 hex digest
// of a per-user id: 64 lowercase hex characters that say nothing about the
// user. We derive it from the username so it is stable across restarts.
export function hashedUserId(username) {
  return createHash('sha256').update(`netbox-authentik-test-idp:${username}`).digest('hex');
}

function sha256(value) {
  return createHash('sha256').update(String(value), 'utf8').digest();
}

function normalise(raw, index) {
  if (raw === null || typeof raw !== 'object') {
    throw new Error(`users[${index}] must be an object`);
  }
  const { username, password } = raw;
  if (typeof username !== 'string' || !username) {
    throw new Error(`users[${index}].username must be a non-empty string`);
  }
  if (typeof password !== 'string' || !password) {
    throw new Error(`users[${index}].password must be a non-empty string`);
  }
  const user = {
    username,
    passwordDigest: sha256(password),
    name: typeof raw.name === 'string' ? raw.name : username,
    email: typeof raw.email === 'string' ? raw.email : `${username}@example.com`,
    sub: hashedUserId(username),
  };
  // `groups` is passed through as given (a list, or even a single string, as
  // a custom Authentik scope mapping can produce); if the key is absent the
  // claim is absent too.
  if (Object.hasOwn(raw, 'groups') && raw.groups !== undefined) {
    user.groups = raw.groups;
  }
  // An app password (Authentik: Directory > Tokens and App passwords), for client credentials.
  if (typeof raw.appPassword === 'string' && raw.appPassword) {
    user.appPasswordDigest = sha256(raw.appPassword);
  }
  return user;
}

export class UserDirectory {
  constructor(rawUsers) {
    this.byUsername = new Map();
    this.bySub = new Map();
    rawUsers.forEach((raw, i) => {
      const user = normalise(raw, i);
      if (this.byUsername.has(user.username)) {
        throw new Error(`duplicate username ${user.username}`);
      }
      this.byUsername.set(user.username, user);
      this.bySub.set(user.sub, user);
    });
  }

  static fromFile(path) {
    const parsed = JSON.parse(readFileSync(path, 'utf8'));
    if (!Array.isArray(parsed)) {
      throw new Error(`${path}: expected a JSON list of users`);
    }
    return new UserDirectory(parsed);
  }

  // Returns the user when username and password match, otherwise undefined.
  // Unknown users and wrong passwords are indistinguishable to the caller.
  authenticate(username, password) {
    const user = this.byUsername.get(String(username ?? ''));
    const offered = sha256(password ?? '');
    const expected = user ? user.passwordDigest : sha256('\u0000no-such-user');
    const ok = timingSafeEqual(offered, expected);
    return user && ok ? user : undefined;
  }

  // The same, for an app password (client credentials); a user without one never matches.
  authenticateAppPassword(username, appPassword) {
    const user = this.byUsername.get(String(username ?? ''));
    const offered = sha256(appPassword ?? '');
    const expected = user?.appPasswordDigest ?? sha256('\u0000no-app-password');
    const ok = timingSafeEqual(offered, expected);
    return user?.appPasswordDigest && ok ? user : undefined;
  }

  findBySub(sub) {
    return this.bySub.get(sub);
  }
}

// The claims Authentik's default scope mappings release. oidc-provider masks
// them by the granted scopes (see `claims` in provider.mjs), so this returns
// everything the user has.
export function userClaims(user) {
  const claims = {
    sub: user.sub,
    // scope "email"
    email: user.email,
    // Authentik 2025.10+ defaults email_verified to false.
    email_verified: false,
    // scope "profile"
    name: user.name,
    // Authentik quirk: given_name carries the full name, and there is no
    // family_name at all.
    given_name: user.name,
    preferred_username: user.username,
    nickname: user.username,
  };
  if (Object.hasOwn(user, 'groups')) {
    claims.groups = user.groups;
  }
  return claims;
}
