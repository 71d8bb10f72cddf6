// Self-test of the Authentik-shaped test identity provider.
//
// Starts server.mjs as a child process (--port 0) in each signing mode and
// talks to it over real HTTP with a small cookie jar, the way a browser and
// a relying party would. Run with `npm test` in tests/idp, or
// `node --test tests/idp/` from the repository root.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  mkdtempSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  after, before, describe, test,
} from 'node:test';

import * as jose from 'jose';

const SERVER = fileURLToPath(new URL('./server.mjs', import.meta.url));
const CLIENT_ID = 'netbox';
const SECRET = 'selftest-client-secret-0123456789abcdefghijkl';
// Nothing listens on these; the test only reads the redirects.
const REDIRECT_URI = 'http://127.0.0.1:8000/oauth/complete/authentik/';
const POST_LOGOUT_URI = 'http://127.0.0.1:8000/logged-out/';
const ALG = { rs256: 'RS256', es256: 'ES256', hs256: 'HS256' };
const SCOPE = 'openid email profile';

// ---- process handling -------------------------------------------------------

async function startIdp(extraArgs = []) {
  const started = performance.now();
  const proc = spawn(process.execPath, [
    SERVER, '--port', '0', '--client-id', CLIENT_ID, '--client-secret', SECRET,
    '--redirect-uri', REDIRECT_URI, '--post-logout-redirect-uri', POST_LOGOUT_URI,
    ...extraArgs,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (chunk) => { stderr += chunk; });
  proc.stdout.setEncoding('utf8');

  const issuer = await new Promise((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`no READY line within 20 s; stderr: ${stderr}`)), 20000);
    proc.stdout.on('data', (chunk) => {
      stdout += chunk;
      const match = /^READY (\S+)$/m.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}; stderr: ${stderr}`));
    });
  });
  const startupMs = performance.now() - started;
  const { origin } = new URL(issuer);
  const discovery = await (await fetch(`${issuer}.well-known/openid-configuration`)).json();
  return {
    proc,
    issuer,
    origin,
    discovery,
    startupMs,
    stderr: () => stderr,
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      const [code] = await once(proc, 'exit');
      return code;
    },
  };
}

// ---- a browser, roughly ---------------------------------------------------------

class CookieJar {
  constructor() {
    this.cookies = new Map();
  }

  store(url, response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const i = pair.indexOf('=');
      const name = pair.slice(0, i);
      const value = pair.slice(i + 1);
      let path = new URL(url).pathname.replace(/\/[^/]*$/, '') || '/';
      let expired = !value;
      for (const attr of attrs) {
        const [k, v = ''] = attr.split('=');
        if (k.toLowerCase() === 'path') path = v;
        if (k.toLowerCase() === 'expires' && Date.parse(v) <= Date.now()) expired = true;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
      }
      const key = `${name}|${path}`;
      if (expired) this.cookies.delete(key);
      else this.cookies.set(key, { name, value, path });
    }
  }

  header(url) {
    const { pathname } = new URL(url);
    return [...this.cookies.values()]
      .filter(({ path }) => pathname === path || pathname.startsWith(path.endsWith('/') ? path : `${path}/`))
      .map(({ name, value }) => `${name}=${value}`)
      .join('; ');
  }

  has(name) {
    return [...this.cookies.values()].some((c) => c.name === name);
  }
}

async function request(jar, url, init = {}) {
  const headers = new Headers(init.headers);
  const cookie = jar.header(url);
  if (cookie) headers.set('cookie', cookie);
  const response = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.store(url, response);
  return response;
}

// Follows redirects while they stay on the IdP. Returns the last response,
// its URL, and `location` when the IdP sent the browser elsewhere.
async function browse(idp, jar, url, init) {
  let current = url;
  let response = await request(jar, current, init);
  for (let hops = 0; hops < 20; hops += 1) {
    if (![301, 302, 303, 307, 308].includes(response.status)) {
      return { response, url: current, body: await response.text() };
    }
    const next = new URL(response.headers.get('location'), current).href;
    if (new URL(next).origin !== idp.origin) {
      return { response, url: current, location: next };
    }
    current = next;
    response = await request(jar, current);
  }
  throw new Error('too many redirects');
}

function postForm(fields) {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  };
}

function authorizeUrl(idp, params) {
  const url = new URL(idp.discovery.authorization_endpoint);
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined) url.searchParams.set(k, v);
  }
  return url.href;
}

// Runs the authorization request up to the redirect back to the client,
// signing in with the form if the IdP asks. Returns the code and what went
// into the request.
async function signIn(idp, jar, username, password, { scope = SCOPE, pkce = false, prompt } = {}) {
  const state = randomBytes(8).toString('hex');
  const nonce = randomBytes(8).toString('hex');
  const verifier = pkce ? randomBytes(32).toString('base64url') : undefined;
  const url = authorizeUrl(idp, {
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope,
    state,
    nonce,
    prompt,
    code_challenge: pkce ? createHash('sha256').update(verifier).digest('base64url') : undefined,
    code_challenge_method: pkce ? 'S256' : undefined,
  });
  let result = await browse(idp, jar, url);
  let showedForm = false;
  if (!result.location) {
    assert.equal(result.response.status, 200, result.body);
    assertLoginForm(result.body);
    showedForm = true;
    result = await browse(idp, jar, result.url, postForm({ username, password }));
  }
  assert.ok(result.location, `expected a redirect to the client, got ${result.response.status}: ${result.body}`);
  const back = new URL(result.location);
  assert.equal(`${back.origin}${back.pathname}`, REDIRECT_URI);
  assert.equal(back.searchParams.get('state'), state);
  assert.equal(back.searchParams.get('iss'), idp.issuer);
  const code = back.searchParams.get('code');
  assert.ok(code, `no code in ${result.location}`);
  return {
    code, nonce, verifier, showedForm,
  };
}

function assertLoginForm(html) {
  assert.match(html, /<input[^>]*id="username"[^>]*name="username"/);
  assert.match(html, /<input[^>]*id="password"[^>]*name="password"[^>]*type="password"/);
  assert.match(html, /<button[^>]*>Log in<\/button>/);
}

async function exchange(idp, code, { auth = 'post', verifier } = {}) {
  const body = new URLSearchParams({
    grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI,
  });
  if (verifier) body.set('code_verifier', verifier);
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (auth === 'post') {
    body.set('client_id', CLIENT_ID);
    body.set('client_secret', SECRET);
  } else {
    const basic = `${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(SECRET)}`;
    headers.authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
  }
  const response = await fetch(idp.discovery.token_endpoint, { method: 'POST', headers, body });
  const json = await response.json();
  assert.equal(response.status, 200, JSON.stringify(json));
  return json;
}

async function verifyIdToken(idp, mode, idToken) {
  const key = mode === 'hs256'
    ? new TextEncoder().encode(SECRET)
    : jose.createRemoteJWKSet(new URL(idp.discovery.jwks_uri));
  const { payload, protectedHeader } = await jose.jwtVerify(idToken, key, {
    issuer: idp.issuer, audience: CLIENT_ID, algorithms: [ALG[mode]],
  });
  assert.equal(protectedHeader.alg, ALG[mode]);
  if (mode !== 'hs256') assert.ok(protectedHeader.kid, 'id_token header has a kid');
  return payload;
}

async function userinfo(idp, accessToken) {
  const response = await fetch(idp.discovery.userinfo_endpoint, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  assert.equal(response.status, 200);
  return response.json();
}

async function fullFlow(idp, mode, username, options = {}) {
  const jar = options.jar ?? new CookieJar();
  const { code, nonce, verifier } = await signIn(idp, jar, username, `${username}-pass`, options);
  const tokens = await exchange(idp, code, { auth: options.auth, verifier });
  const claims = await verifyIdToken(idp, mode, tokens.id_token);
  assert.equal(claims.nonce, nonce);
  const info = await userinfo(idp, tokens.access_token);
  return {
    jar, tokens, claims, info,
  };
}

function sub(username) {
  return createHash('sha256').update(`netbox-authentik-test-idp:${username}`).digest('hex');
}

function assertProfile(claims, { username, name, email }) {
  assert.match(claims.sub, /^[0-9a-f]{64}$/);
  assert.equal(claims.sub, sub(username));
  assert.equal(claims.email, email);
  assert.equal(claims.email_verified, false);
  assert.equal(claims.name, name);
  assert.equal(claims.given_name, claims.name, 'given_name carries the full name');
  assert.ok(!('family_name' in claims), 'no family_name');
  assert.equal(claims.preferred_username, username);
  assert.equal(claims.nickname, username);
}


// ---- tokens for machines and terminals ------------------------------------------

const SERVICE_ACCOUNT = 'svc-automation';
const APP_PASSWORD = 'svc-automation-app-password-0123456789';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
// Exactly the claims of an Authentik 2025.12 access token (profile and email scopes); no jti.
const ACCESS_TOKEN_CLAIMS = [
  'iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'acr', 'email', 'email_verified', 'name', 'given_name',
  'preferred_username', 'nickname', 'groups', 'azp', 'uid', 'scope',
].sort();

async function tokenRequest(idp, fields, headers = {}) {
  const response = await fetch(idp.discovery.token_endpoint, {
    method: 'POST', headers, body: new URLSearchParams(fields),
  });
  return { status: response.status, json: await response.json() };
}

async function verifyAccessToken(idp, mode, accessToken) {
  const key = mode === 'hs256'
    ? new TextEncoder().encode(SECRET)
    : jose.createRemoteJWKSet(new URL(idp.discovery.jwks_uri));
  const { payload, protectedHeader } = await jose.jwtVerify(accessToken, key, {
    issuer: idp.issuer, audience: CLIENT_ID, algorithms: [ALG[mode]],
  });
  assert.equal(protectedHeader.typ, 'JWT');
  return payload;
}

// The person at the device page: the code from the terminal, then a password.
async function approveDevice(idp, userCode, username, password) {
  const page = await fetch(`${idp.origin}/device?code=${userCode}`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), new RegExp(`id="code"[^>]*value="${userCode}"`));
  const answer = await fetch(`${idp.origin}/device`, postForm({ code: userCode, username, password }));
  return answer.text();
}

// ---- the tests ----------------------------------------------------------------

for (const mode of ['rs256', 'es256', 'hs256']) {
  describe(`${mode} mode`, () => {
    let idp;
    before(async () => {
      idp = await startIdp(['--mode', mode]);
    });
    after(async () => {
      const code = await idp.stop();
      assert.equal(code, 0, 'exits cleanly on SIGTERM');
    });

    test('client credentials: an Authentik-shaped JWT access token for a service account', async () => {
      const { status, json } = await tokenRequest(idp, {
        grant_type: 'client_credentials', client_id: CLIENT_ID, username: SERVICE_ACCOUNT, password: APP_PASSWORD, scope: SCOPE,
      });
      assert.equal(status, 200, JSON.stringify(json));
      assert.equal(json.token_type, 'Bearer');
      assert.equal(json.expires_in, 3600);
      const claims = await verifyAccessToken(idp, mode, json.access_token);
      assert.deepEqual(Object.keys(claims).sort(), ACCESS_TOKEN_CLAIMS);
      assert.equal(claims.aud, CLIENT_ID);
      assert.equal(claims.azp, CLIENT_ID);
      assert.equal(claims.sub, sub(SERVICE_ACCOUNT));
      assert.equal(claims.email, '');
      assert.deepEqual(claims.groups, ['netbox-automation']);
      assert.equal(claims.acr, 'goauthentik.io/providers/oauth2/default');
      const idClaims = await verifyIdToken(idp, mode, json.id_token);
      assert.ok(!('azp' in idClaims) && !('uid' in idClaims) && !('scope' in idClaims));
    });

    test('starts quickly and prints the issuer', (t) => {
      t.diagnostic(`${mode}: start-up to READY took ${Math.round(idp.startupMs)} ms`);
      assert.match(idp.issuer, /^http:\/\/127\.0\.0\.1:\d+\/application\/o\/netbox\/$/);
    });

    test('discovery is Authentik-shaped', () => {
      const d = idp.discovery;
      const base = idp.origin;
      assert.equal(d.issuer, idp.issuer);
      assert.equal(d.authorization_endpoint, `${base}/application/o/authorize/`);
      assert.equal(d.token_endpoint, `${base}/application/o/token/`);
      assert.equal(d.userinfo_endpoint, `${base}/application/o/userinfo/`);
      assert.equal(d.revocation_endpoint, `${base}/application/o/revoke/`);
      assert.equal(d.introspection_endpoint, `${base}/application/o/introspect/`);
      assert.equal(d.jwks_uri, `${base}/application/o/netbox/jwks/`);
      assert.equal(d.end_session_endpoint, `${base}/application/o/netbox/end-session/`);
      assert.deepEqual(d.id_token_signing_alg_values_supported, [ALG[mode]]);
      assert.deepEqual(d.token_endpoint_auth_methods_supported, ['client_secret_post', 'client_secret_basic']);
      assert.ok(d.code_challenge_methods_supported.includes('S256'));
      assert.equal(d.backchannel_logout_supported, true);
      for (const claim of ['sub', 'email', 'email_verified', 'name', 'given_name', 'preferred_username', 'nickname', 'groups']) {
        assert.ok(d.claims_supported.includes(claim), claim);
      }
      assert.ok(!d.claims_supported.includes('family_name'));
      // Nothing oidc-provider would otherwise add that Authentik lacks.
      assert.equal(d.pushed_authorization_request_endpoint, undefined);
      assert.equal(d.dpop_signing_alg_values_supported, undefined);
    });

    test('a doubled slash is a 301 to the clean path, unknown paths 404', async () => {
      const r = await fetch(`${idp.origin}/application/o/netbox//.well-known/openid-configuration?x=1&y=a//b`, { redirect: 'manual' });
      assert.equal(r.status, 301);
      assert.equal(r.headers.get('location'), '/application/o/netbox/.well-known/openid-configuration?x=1&y=a//b');
      const r2 = await fetch(`${idp.origin}//application/o/token/`, { redirect: 'manual' });
      assert.equal(r2.status, 301);
      assert.equal(r2.headers.get('location'), '/application/o/token/');
      for (const path of ['/nope', '/.well-known/openid-configuration', '/application/o/other/.well-known/openid-configuration', '/interaction/x']) {
        assert.equal((await fetch(`${idp.origin}${path}`, { redirect: 'manual' })).status, 404, path);
      }
    });

    test('JWKS', async () => {
      const r = await fetch(idp.discovery.jwks_uri);
      assert.equal(r.status, 200);
      const text = await r.text();
      if (mode === 'hs256') {
        // No signing key: an empty JSON object, no "keys" member.
        assert.equal(text, '{}');
        return;
      }
      const { keys } = JSON.parse(text);
      assert.equal(keys.length, 1);
      const [key] = keys;
      assert.ok(key.kid);
      assert.equal(key.alg, ALG[mode]);
      assert.equal(key.d, undefined, 'no private parts');
      if (mode === 'rs256') assert.equal(key.kty, 'RSA');
      else assert.deepEqual([key.kty, key.crv], ['EC', 'P-256']);
    });

    test('a wrong password is rejected on the form; the right one then works', async () => {
      const jar = new CookieJar();
      const start = await browse(idp, jar, authorizeUrl(idp, {
        client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, response_type: 'code', scope: SCOPE,
      }));
      assertLoginForm(start.body);
      for (const [username, password] of [['akadmin', 'wrong'], ['akadmin', ''], ['nobody', 'akadmin-pass'], ['alice', 'akadmin-pass']]) {
        const bad = await request(jar, start.url, postForm({ username, password }));
        assert.equal(bad.status, 200);
        assert.equal(bad.headers.get('location'), null);
        const html = await bad.text();
        assert.match(html, /Invalid username or password/);
        assertLoginForm(html);
      }
      const good = await browse(idp, jar, start.url, postForm({ username: 'akadmin', password: 'akadmin-pass' }));
      assert.ok(good.location?.startsWith(REDIRECT_URI), good.location);
    });

    test('akadmin: code flow with client_secret_post and PKCE S256', async () => {
      const { tokens, claims, info } = await fullFlow(idp, mode, 'akadmin', { auth: 'post', pkce: true });
      assert.equal(tokens.token_type, 'Bearer');
      assert.equal(tokens.expires_in, 3600);
      assert.equal(tokens.refresh_token, undefined, 'no refresh_token without offline_access');
      assert.equal(tokens.scope, SCOPE);
      for (const c of [claims, info]) {
        assertProfile(c, { username: 'akadmin', name: 'Ada Admin', email: 'akadmin@example.com' });
        assert.deepEqual(c.groups, ['netbox-admins', 'network-engineers']);
      }
      assert.equal(claims.iss, idp.issuer);
      assert.equal(claims.aud, CLIENT_ID);
      assert.ok(Number.isInteger(claims.auth_time) && claims.exp && claims.iat);
      assert.equal(claims.acr, 'goauthentik.io/providers/oauth2/default');
      assert.deepEqual(claims.amr, ['pwd']);
      // oidc-provider puts sid into the id_token only for a client with
      // back-channel logout (see the extras below).
      assert.equal(claims.sid, undefined);
      assert.equal(info.acr, undefined, 'userinfo has no acr');
    });

    test('alice: code flow with client_secret_basic and no PKCE', async () => {
      const { claims, info } = await fullFlow(idp, mode, 'alice', { auth: 'basic' });
      for (const c of [claims, info]) {
        assertProfile(c, { username: 'alice', name: 'Alice Example', email: 'alice@example.com' });
        assert.deepEqual(c.groups, ['netbox-users', 'network-engineers']);
      }
    });

    test('PKCE with a wrong verifier is refused', async () => {
      const jar = new CookieJar();
      const { code } = await signIn(idp, jar, 'alice', 'alice-pass', { pkce: true });
      const r = await fetch(idp.discovery.token_endpoint, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, client_id: CLIENT_ID, client_secret: SECRET, code_verifier: 'x'.repeat(43),
        }),
      });
      assert.equal(r.status, 400);
      assert.equal((await r.json()).error, 'invalid_grant');
    });

    test('a wrong client secret is refused', async () => {
      const { code } = await signIn(idp, new CookieJar(), 'alice', 'alice-pass');
      const r = await fetch(idp.discovery.token_endpoint, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, client_id: CLIENT_ID, client_secret: 'wrong',
        }),
      });
      assert.equal(r.status, 400); // as Authentik answers, not oidc-provider's 401
      assert.equal((await r.json()).error, 'invalid_client');
    });

    test('group shapes: empty list, no claim at all, 500 groups', async () => {
      const none = await fullFlow(idp, mode, 'nogroups');
      assert.deepEqual(none.claims.groups, []);
      assert.deepEqual(none.info.groups, []);

      const absent = await fullFlow(idp, mode, 'noclaim');
      assert.ok(!('groups' in absent.claims), 'no groups key in the id_token');
      assert.ok(!('groups' in absent.info), 'no groups key in userinfo');
      assertProfile(absent.claims, { username: 'noclaim', name: 'No Claim', email: 'noclaim@example.com' });

      const many = await fullFlow(idp, mode, 'many');
      for (const c of [many.claims, many.info]) {
        assert.equal(c.groups.length, 500);
        assert.equal(c.groups[0], 'group-000');
        assert.equal(c.groups[499], 'group-499');
      }
    });

    test('scopes limit the claims', async () => {
      const { claims, info } = await fullFlow(idp, mode, 'akadmin', { scope: 'openid' });
      for (const c of [claims, info]) {
        assert.equal(c.sub, sub('akadmin'));
        assert.equal(c.email, undefined);
        assert.equal(c.groups, undefined);
      }
      const emailOnly = await fullFlow(idp, mode, 'akadmin', { scope: 'openid email' });
      assert.equal(emailOnly.claims.email, 'akadmin@example.com');
      assert.equal(emailOnly.claims.name, undefined);
    });

    test('a second authorize in the same session is silent (implicit consent, SSO)', async () => {
      const first = await fullFlow(idp, mode, 'alice');
      const again = await signIn(idp, first.jar, 'alice', 'alice-pass');
      assert.equal(again.showedForm, false);
    });

    test('end-session ends the session and redirects to a registered URI', async () => {
      const { jar, tokens } = await fullFlow(idp, mode, 'akadmin');
      const url = new URL(idp.discovery.end_session_endpoint);
      url.searchParams.set('id_token_hint', tokens.id_token);
      url.searchParams.set('post_logout_redirect_uri', POST_LOGOUT_URI);
      url.searchParams.set('state', 'bye-123');
      const r = await request(jar, url.href);
      assert.equal(r.status, 303, await r.text());
      assert.equal(r.headers.get('location'), `${POST_LOGOUT_URI}?state=bye-123`);
      assert.ok(!jar.has('_session'), 'session cookie cleared');
      // The next sign-in asks for credentials again.
      const next = await signIn(idp, jar, 'akadmin', 'akadmin-pass');
      assert.equal(next.showedForm, true);
    });

    test('end-session with only client_id (no id_token_hint) works too', async () => {
      const { jar } = await fullFlow(idp, mode, 'alice');
      const url = new URL(idp.discovery.end_session_endpoint);
      url.searchParams.set('client_id', CLIENT_ID);
      url.searchParams.set('post_logout_redirect_uri', POST_LOGOUT_URI);
      const r = await request(jar, url.href);
      assert.equal(r.status, 303);
      assert.equal(r.headers.get('location'), POST_LOGOUT_URI);
      assert.equal((await signIn(idp, jar, 'alice', 'alice-pass')).showedForm, true);
    });

    test('end-session with an unregistered post_logout_redirect_uri is a 400', async () => {
      const { jar, tokens } = await fullFlow(idp, mode, 'alice');
      for (const params of [
        { id_token_hint: tokens.id_token, post_logout_redirect_uri: 'http://127.0.0.1:8000/elsewhere/' },
        // No hint and no client_id: the slug still names the application.
        { post_logout_redirect_uri: 'https://evil.example/' },
      ]) {
        const url = new URL(idp.discovery.end_session_endpoint);
        for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
        const r = await request(jar, url.href);
        assert.equal(r.status, 400);
        assert.equal(r.headers.get('location'), null);
        assert.match(await r.text(), /post_logout_redirect_uri not registered/);
      }
      // A refused logout does not end the session.
      assert.equal((await signIn(idp, jar, 'alice', 'alice-pass')).showedForm, false);
    });

    test('end-session without post_logout_redirect_uri shows a logged-out page', async () => {
      const { jar, tokens } = await fullFlow(idp, mode, 'alice');
      const url = new URL(idp.discovery.end_session_endpoint);
      url.searchParams.set('id_token_hint', tokens.id_token);
      const page = await browse(idp, jar, url.href);
      assert.equal(page.response.status, 200);
      assert.match(page.body, /You have been logged out/);
      assert.equal((await signIn(idp, jar, 'alice', 'alice-pass')).showedForm, true);
    });

    test('end-session by POST', async () => {
      const { jar, tokens } = await fullFlow(idp, mode, 'alice');
      const r = await request(jar, idp.discovery.end_session_endpoint, postForm({
        id_token_hint: tokens.id_token, post_logout_redirect_uri: POST_LOGOUT_URI, state: 's',
      }));
      assert.equal(r.status, 303);
      assert.equal(r.headers.get('location'), `${POST_LOGOUT_URI}?state=s`);
      assert.equal((await signIn(idp, jar, 'alice', 'alice-pass')).showedForm, true);
    });
  });
}

describe('tokens for machines and terminals (rs256)', () => {
  let idp;
  before(async () => {
    idp = await startIdp();
  });
  after(async () => {
    assert.equal(await idp.stop(), 0);
  });

  test('discovery advertises the device endpoint and the grants', () => {
    assert.equal(idp.discovery.device_authorization_endpoint, `${idp.origin}/application/o/device/`);
    for (const grant of ['client_credentials', 'password', DEVICE_GRANT]) {
      assert.ok(idp.discovery.grant_types_supported.includes(grant), grant);
    }
  });

  test('client_secret as base64 username:app password, and grant_type password, are the same grant', async () => {
    const secret = Buffer.from(`${SERVICE_ACCOUNT}:${APP_PASSWORD}`).toString('base64');
    let r = await tokenRequest(idp, { grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: secret });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    r = await tokenRequest(idp, {
      grant_type: 'password', client_id: CLIENT_ID, username: SERVICE_ACCOUNT, password: APP_PASSWORD,
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
  });

  test('a wrong app password, a login password or another client is refused', async () => {
    const base = { grant_type: 'client_credentials', client_id: CLIENT_ID, username: SERVICE_ACCOUNT };
    assert.equal((await tokenRequest(idp, { ...base, password: 'wrong' })).json.error, 'invalid_grant');
    // A person's login password is no app password.
    const r = await tokenRequest(idp, { ...base, username: 'alice', password: 'alice-pass' });
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'invalid_grant');
    const other = await tokenRequest(idp, { ...base, client_id: 'other', password: APP_PASSWORD });
    assert.equal(other.json.error, 'invalid_client');
  });

  test('the device code flow: pending, approved at /device, then tokens once', async () => {
    const start = await fetch(idp.discovery.device_authorization_endpoint, {
      method: 'POST', body: new URLSearchParams({ client_id: CLIENT_ID, scope: `${SCOPE} netbox:write` }),
    });
    const device = await start.json();
    assert.match(device.user_code, /^\d{9}$/);
    assert.equal(device.verification_uri, `${idp.origin}/device`);
    assert.equal(device.verification_uri_complete, `${idp.origin}/device?code=${device.user_code}`);
    const poll = { grant_type: DEVICE_GRANT, client_id: CLIENT_ID, device_code: device.device_code };
    assert.equal((await tokenRequest(idp, poll)).json.error, 'authorization_pending');
    assert.match(await approveDevice(idp, device.user_code, 'alice', 'wrong'), /Invalid username or password/);
    assert.match(await approveDevice(idp, device.user_code, 'alice', 'alice-pass'), /id="device-done"/);
    const { status, json } = await tokenRequest(idp, poll);
    assert.equal(status, 200, JSON.stringify(json));
    const claims = await verifyAccessToken(idp, 'rs256', json.access_token);
    assert.equal(claims.sub, sub('alice'));
    assert.equal(claims.scope, `${SCOPE} netbox:write`);
    assert.ok(!('jti' in claims));
    assert.equal((await tokenRequest(idp, poll)).json.error, 'invalid_grant');
  });

  test('introspection with HTTP Basic, revocation makes it inactive', async () => {
    const { json } = await tokenRequest(idp, {
      grant_type: 'client_credentials', client_id: CLIENT_ID, username: SERVICE_ACCOUNT, password: APP_PASSWORD, scope: SCOPE,
    });
    const basic = `Basic ${Buffer.from(`${CLIENT_ID}:${SECRET}`).toString('base64')}`;
    const introspect = () => fetch(idp.discovery.introspection_endpoint, {
      method: 'POST', headers: { authorization: basic }, body: new URLSearchParams({ token: json.access_token }),
    });
    let r = await introspect();
    const answer = await r.json();
    assert.equal(answer.active, true);
    assert.equal(answer.client_id, CLIENT_ID);
    assert.equal(answer.sub, sub(SERVICE_ACCOUNT));
    r = await fetch(idp.discovery.introspection_endpoint, {
      method: 'POST', body: new URLSearchParams({ token: json.access_token }),
    });
    assert.equal(r.status, 401);
    r = await fetch(idp.discovery.revocation_endpoint, {
      method: 'POST', headers: { authorization: basic }, body: new URLSearchParams({ token: json.access_token }),
    });
    assert.equal(r.status, 200);
    assert.equal((await (await introspect()).json()).active, false);
  });
});

describe('extras (rs256)', () => {
  let idp;
  let receiver;
  const logoutTokens = [];
  let workdir;

  before(async () => {
    // A back-channel logout receiver, as the plugin would offer.
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => { body += chunk; });
      req.on('end', () => {
        logoutTokens.push({ path: req.url, params: new URLSearchParams(body), type: req.headers['content-type'] });
        res.statusCode = 200;
        res.end();
      });
    });
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    const backchannel = `http://127.0.0.1:${receiver.address().port}/oauth/backchannel-logout/`;
    idp = await startIdp(['--backchannel-logout-uri', backchannel]);
    workdir = mkdtempSync(join(tmpdir(), 'idp-selftest-'));
  });

  after(async () => {
    assert.equal(await idp.stop(), 0);
    receiver.close();
    rmSync(workdir, { recursive: true, force: true });
  });

  test('back-channel logout posts a valid logout_token', async () => {
    const { jar, tokens, claims } = await fullFlow(idp, 'rs256', 'akadmin');
    const url = new URL(idp.discovery.end_session_endpoint);
    url.searchParams.set('id_token_hint', tokens.id_token);
    url.searchParams.set('post_logout_redirect_uri', POST_LOGOUT_URI);
    const r = await request(jar, url.href);
    assert.equal(r.status, 303);
    assert.equal(logoutTokens.length, 1);
    const [{ path, params, type }] = logoutTokens;
    assert.equal(path, '/oauth/backchannel-logout/');
    assert.match(type, /application\/x-www-form-urlencoded/);
    const { payload, protectedHeader } = await jose.jwtVerify(
      params.get('logout_token'),
      jose.createRemoteJWKSet(new URL(idp.discovery.jwks_uri)),
      { issuer: idp.issuer, audience: CLIENT_ID, typ: 'logout+jwt' },
    );
    assert.equal(protectedHeader.alg, 'RS256');
    assert.equal(payload.sub, claims.sub);
    assert.match(claims.sid, /\S+/, 'id_token has sid when back-channel logout is on');
    assert.equal(payload.sid, claims.sid);
    assert.ok(payload.events['http://schemas.openid.net/event/backchannel-logout']);
    assert.equal(payload.nonce, undefined);
  });

  test('refresh token only with offline_access (and prompt=consent)', async () => {
    const without = await fullFlow(idp, 'rs256', 'alice', { scope: `${SCOPE} offline_access` });
    assert.equal(without.tokens.refresh_token, undefined, 'oidc-provider drops offline_access without prompt=consent');
    const { tokens } = await fullFlow(idp, 'rs256', 'alice', { scope: `${SCOPE} offline_access`, prompt: 'consent' });
    assert.ok(tokens.refresh_token);
    const r = await fetch(idp.discovery.token_endpoint, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: CLIENT_ID, client_secret: SECRET,
      }),
    });
    assert.equal(r.status, 200);
    const refreshed = await r.json();
    assert.ok(refreshed.access_token);
    const claims = await verifyIdToken(idp, 'rs256', refreshed.id_token);
    assert.deepEqual(claims.groups, ['netbox-users', 'network-engineers']);
  });

  test('revocation and introspection', async () => {
    const { tokens } = await fullFlow(idp, 'rs256', 'alice');
    const auth = { client_id: CLIENT_ID, client_secret: SECRET };
    let r = await fetch(idp.discovery.introspection_endpoint, {
      method: 'POST', body: new URLSearchParams({ token: tokens.access_token, ...auth }),
    });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).active, true);
    r = await fetch(idp.discovery.revocation_endpoint, {
      method: 'POST', body: new URLSearchParams({ token: tokens.access_token, ...auth }),
    });
    assert.equal(r.status, 200);
    r = await fetch(idp.discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(r.status, 401);
  });

  test('test hooks: stats, reset, delay', async () => {
    const stats = async () => (await fetch(`${idp.origin}/_test/stats`)).json();
    assert.equal((await fetch(`${idp.origin}/_test/reset`, { method: 'POST' })).status, 200);
    assert.deepEqual(await stats(), {
      discovery: 0, jwks: 0, authorize: 0, token: 0, userinfo: 0, end_session: 0,
    });
    await fetch(`${idp.issuer}.well-known/openid-configuration`);
    await fetch(idp.discovery.jwks_uri);
    const { jar } = await fullFlow(idp, 'rs256', 'alice');
    await request(jar, `${idp.discovery.end_session_endpoint}?client_id=${CLIENT_ID}`);
    assert.deepEqual(await stats(), {
      // fullFlow verifies with jose, which fetches JWKS once more.
      discovery: 1, jwks: 2, authorize: 1, token: 1, userinfo: 1, end_session: 1,
    });

    let r = await fetch(`${idp.origin}/_test/delay?endpoint=token&ms=400`, { method: 'POST' });
    assert.equal(r.status, 200);
    let t0 = performance.now();
    await fetch(idp.discovery.token_endpoint, { method: 'POST', body: new URLSearchParams({ grant_type: 'authorization_code' }) });
    assert.ok(performance.now() - t0 >= 380, 'token answer was delayed');
    r = await fetch(`${idp.origin}/_test/delay?endpoint=token&ms=0`, { method: 'POST' });
    assert.equal(r.status, 200);
    t0 = performance.now();
    await fetch(idp.discovery.token_endpoint, { method: 'POST', body: new URLSearchParams({ grant_type: 'authorization_code' }) });
    assert.ok(performance.now() - t0 < 380, 'delay cleared');
    r = await fetch(`${idp.origin}/_test/delay?endpoint=bogus&ms=1`, { method: 'POST' });
    assert.equal(r.status, 400);
  });

  test('--keys-file keeps the signing key across restarts', async () => {
    const file = join(workdir, 'keys.json');
    const kids = [];
    for (const round of [1, 2]) {
      const run = await startIdp(['--keys-file', file, '--mode', 'es256']);
      try {
        const { keys } = await (await fetch(run.discovery.jwks_uri)).json();
        kids.push(keys[0].kid);
        const { tokens } = await fullFlow(run, 'es256', 'alice');
        assert.ok(tokens.id_token, `round ${round}`);
      } finally {
        assert.equal(await run.stop(), 0);
      }
    }
    assert.equal(kids[0], kids[1]);
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });

  test('--users-file replaces the built-in users', async () => {
    const file = join(workdir, 'users.json');
    writeFileSync(file, JSON.stringify([
      {
        username: 'carol', password: 'carol-secret', name: 'Carol Custom', groups: 'single-string-group',
      },
    ]));
    const custom = await startIdp(['--users-file', file, '--mode', 'es256', '--slug', 'nb-test']);
    try {
      assert.match(custom.issuer, /\/application\/o\/nb-test\/$/);
      const jar = new CookieJar();
      const { code } = await signIn(custom, jar, 'carol', 'carol-secret');
      const tokens = await exchange(custom, code);
      const claims = await verifyIdToken(custom, 'es256', tokens.id_token);
      assert.equal(claims.groups, 'single-string-group');
      assert.equal(claims.email, 'carol@example.com');
      // akadmin is not there any more.
      const jar2 = new CookieJar();
      const start = await browse(custom, jar2, authorizeUrl(custom, {
        client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, response_type: 'code', scope: SCOPE,
      }));
      const bad = await request(jar2, start.url, postForm({ username: 'akadmin', password: 'akadmin-pass' }));
      assert.equal(bad.status, 200);
      assert.match(await bad.text(), /Invalid username or password/);
      // A login POST without the interaction cookie is refused outright.
      const stray = await request(new CookieJar(), start.url, postForm({ username: 'carol', password: 'carol-secret' }));
      assert.equal(stray.status, 400);
    } finally {
      assert.equal(await custom.stop(), 0);
    }
  });
});
