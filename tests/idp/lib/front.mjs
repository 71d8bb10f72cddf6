// The thin HTTP layer in front of oidc-provider.
//
// It does the Authentik things oidc-provider has no option for, and nothing
// protocol-related of its own:
//   - path cleaning: a doubled slash is a 301 to the clean path (Authentik's
//     Go front router does this);
//   - an allow-list of Authentik-shaped paths, everything else 404;
//   - discovery under the application slug (oidc-provider serves it at
//     /.well-known/openid-configuration relative to where it is mounted);
//   - JWKS `{}` when there is no signing key (hs256 mode);
//   - RP-initiated logout without a confirmation click;
//   - the login interaction (username + password, checked against the users);
//   - implicit consent;
//   - Authentik-shaped JWT access tokens for client credentials and the
//     device code flow, and their introspection (lib/machine.mjs);
//   - test hooks under /_test/.

import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

import { ACR } from './provider.mjs';
import {
  devicePage, errorPage, loginPage, notFoundPage,
} from './pages.mjs';

export const COUNTED_ENDPOINTS = ['discovery', 'jwks', 'authorize', 'token', 'userinfo', 'end_session'];

// Marks the front layer's own sub-requests to itself (see endSession).
const INTERNAL_HEADER = 'x-test-idp-internal';

const BODY_LIMIT = 64 * 1024;

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > BODY_LIMIT) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res, status, body, headers = {}) {
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) {
    res.setHeader(name, value);
  }
  if (!res.hasHeader('cache-control')) {
    res.setHeader('cache-control', 'no-store');
  }
  res.end(body);
}

// Authentik answers a wrong client ID or secret at the token endpoint with
// 400 invalid_client; oidc-provider sends 401 (RFC 6749 allows both).
function answerClientErrorsWith400(res) {
  const writeHead = res.writeHead.bind(res);
  res.writeHead = (status, ...rest) => writeHead(status === 401 ? 400 : status, ...rest);
}

function sendJson(res, status, value) {
  send(res, status, JSON.stringify(value), { 'content-type': 'application/json' });
}

function sendHtml(res, status, html) {
  send(res, status, html, { 'content-type': 'text/html; charset=utf-8' });
}

// Applies a response's Set-Cookie headers to a Cookie request header, so a
// follow-up sub-request carries what a browser would carry.
function mergeCookies(cookieHeader, setCookies) {
  const jar = new Map();
  for (const part of (cookieHeader || '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) {
      jar.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
    }
  }
  for (const line of setCookies) {
    const [pair, ...attributes] = line.split(';');
    const i = pair.indexOf('=');
    const name = pair.slice(0, i).trim();
    const value = pair.slice(i + 1).trim();
    const expired = attributes.some((a) => /^\s*expires=.*1970/i.test(a))
      || attributes.some((a) => /^\s*max-age=0\s*$/i.test(a));
    if (expired || !value) {
      jar.delete(name);
    } else {
      jar.set(name, value);
    }
  }
  return [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
}

export class Front {
  constructor({
    provider, paths, mode, users, clientId, connectHost, port, machine,
  }) {
    this.provider = provider;
    this.machine = machine;
    this.providerCallback = provider.callback();
    this.paths = paths;
    this.mode = mode;
    this.users = users;
    this.clientId = clientId;
    this.connectHost = connectHost;
    this.port = port;
    this.internalToken = randomBytes(16).toString('hex');
    this.stats = Object.fromEntries(COUNTED_ENDPOINTS.map((name) => [name, 0]));
    this.delays = Object.fromEntries(COUNTED_ENDPOINTS.map((name) => [name, 0]));
    this.resumePath = new RegExp(`^${paths.authorization}[^/]+$`);
    this.interactionPath = /^\/interaction\/([A-Za-z0-9_-]+)\/$/;
  }

  async handle(req, res) {
    try {
      await this.route(req, res);
    } catch (err) {
      console.error(err);
      if (!res.headersSent) {
        sendHtml(res, 500, errorPage({ error: 'server_error' }));
      } else {
        res.destroy();
      }
    }
  }

  async count(name) {
    this.stats[name] += 1;
    if (this.delays[name] > 0) {
      await sleep(this.delays[name]);
    }
  }

  forward(req, res, providerPath) {
    if (providerPath !== undefined) {
      req.url = providerPath;
    }
    return this.providerCallback(req, res);
  }

  async route(req, res) {
    const q = req.url.indexOf('?');
    const path = q === -1 ? req.url : req.url.slice(0, q);
    const search = q === -1 ? '' : req.url.slice(q);

    // Authentik's front router cleans paths: any run of slashes becomes one,
    // answered with a permanent redirect that keeps the query string.
    if (path.includes('//')) {
      send(res, 301, '', { location: `${path.replace(/\/{2,}/g, '/')}${search}` });
      return;
    }

    const internal = req.headers[INTERNAL_HEADER] === this.internalToken;
    delete req.headers[INTERNAL_HEADER];

    const { paths } = this;
    switch (path) {
      case '/_test/stats':
        this.testStats(req, res);
        return;
      case '/_test/reset':
        this.testReset(req, res);
        return;
      case '/_test/delay':
        this.testDelay(req, res, new URLSearchParams(search));
        return;
      case '/-/health/live/':
      case '/-/health/ready/':
        send(res, 200, '');
        return;
      case paths.discovery:
        if (internal) {
          // oidc-provider serves discovery at /.well-known/openid-configuration
          // below its mount point; we run it unmounted, so rewrite the path.
          // The endpoint URLs it advertises come from `routes` (provider.mjs).
          await this.forward(req, res, `/.well-known/openid-configuration${search}`);
          return;
        }
        await this.count('discovery');
        await this.discovery(req, res, search);
        return;
      case paths.jwks:
        await this.count('jwks');
        if (this.mode === 'hs256') {
          // Authentik with no signing key answers an empty JSON object, not
          // {"keys": []}.
          send(res, 200, '{}', { 'content-type': 'application/json' });
          return;
        }
        await this.forward(req, res);
        return;
      case paths.authorization:
        await this.count('authorize');
        await this.forward(req, res);
        return;
      case paths.token:
        await this.count('token');
        answerClientErrorsWith400(res);
        await this.machineOr(req, res, (form) => this.machine.token(form, req.headers.authorization));
        return;
      case paths.device_authorization:
        await this.machineOr(req, res, (form) => this.machine.deviceAuthorization(form), false);
        return;
      case paths.device_verification:
        await this.deviceVerification(req, res, new URLSearchParams(search));
        return;
      case paths.userinfo:
        await this.count('userinfo');
        await this.forward(req, res);
        return;
      case paths.revocation:
        await this.machineOr(req, res, (form) => this.machine.revoke(form, req.headers.authorization));
        return;
      case paths.introspection:
        await this.machineOr(req, res, (form) => this.machine.introspect(form, req.headers.authorization));
        return;
      case paths.end_session:
        if (internal) {
          await this.forward(req, res);
          return;
        }
        await this.count('end_session');
        await this.endSession(req, res, search);
        return;
      case `${paths.end_session}confirm`:
      case `${paths.end_session}success`:
        await this.forward(req, res);
        return;
      default:
    }

    if (this.resumePath.test(path)) {
      // oidc-provider's "resume" route: the authorization request continuing
      // after an interaction. Not counted as a new authorize request.
      await this.forward(req, res);
      return;
    }

    const interaction = this.interactionPath.exec(path);
    if (interaction) {
      await this.interaction(req, res, interaction[1]);
      return;
    }

    sendHtml(res, 404, notFoundPage());
  }

  // ---- tokens for machines and terminals (lib/machine.mjs) -----------------

  // Answers a POST from lib/machine.mjs when it handles it; otherwise hands
  // the request, its body already read, on to oidc-provider (which then
  // reads req.body), or answers 404 when `fallback` is false.
  async machineOr(req, res, handle, fallback = true) {
    if (req.method !== 'POST') {
      if (fallback) {
        await this.forward(req, res);
      } else {
        send(res, 405, '', { allow: 'POST' });
      }
      return;
    }
    const body = await readBody(req);
    const answer = handle(new URLSearchParams(body));
    if (answer) {
      sendJson(res, answer.status, answer.body);
      return;
    }
    if (!fallback) {
      sendHtml(res, 404, notFoundPage());
      return;
    }
    req.body = body;
    await this.forward(req, res);
  }

  async discovery(req, res, search) {
    const answer = await this.subRequest(req, 'GET', `${this.paths.discovery}${search}`);
    if (answer.status !== 200) {
      this.relay(res, answer, []);
      return;
    }
    sendJson(res, 200, this.machine.discoveryFields(JSON.parse(answer.body)));
  }

  async deviceVerification(req, res, query) {
    const action = this.paths.device_verification;
    if (req.method === 'GET' || req.method === 'HEAD') {
      sendHtml(res, 200, devicePage({ action, code: query.get('code') ?? '' }));
      return;
    }
    if (req.method !== 'POST') {
      send(res, 405, '', { allow: 'GET, POST' });
      return;
    }
    const form = new URLSearchParams(await readBody(req));
    const code = (form.get('code') ?? '').trim();
    const username = form.get('username') ?? '';
    const error = this.machine.approveDevice(code, username, form.get('password') ?? '');
    sendHtml(res, 200, devicePage({
      action, code, username, error, done: !error,
    }));
  }

  // ---- login interaction and implicit consent ------------------------------

  async interaction(req, res, uid) {
    let details;
    try {
      details = await this.provider.interactionDetails(req, res);
    } catch (err) {
      sendHtml(res, err.status || 400, errorPage({
        error: err.message, error_description: err.error_description,
      }));
      return;
    }
    if (details.uid !== uid) {
      sendHtml(res, 400, errorPage({ error: 'invalid_request', error_description: 'interaction mismatch' }));
      return;
    }

    const { prompt } = details;
    if (prompt.name === 'consent') {
      await this.implicitConsent(req, res, details);
      return;
    }
    if (prompt.name !== 'login') {
      sendHtml(res, 400, errorPage({ error: 'invalid_request', error_description: `unsupported prompt ${prompt.name}` }));
      return;
    }

    const action = `/interaction/${uid}/`;
    const client = await this.provider.Client.find(details.params.client_id);
    const clientName = client?.clientName || details.params.client_id;

    if (req.method === 'GET' || req.method === 'HEAD') {
      sendHtml(res, 200, loginPage({ action, clientName }));
      return;
    }
    if (req.method !== 'POST') {
      send(res, 405, '', { allow: 'GET, POST' });
      return;
    }

    const form = new URLSearchParams(await readBody(req));
    const username = form.get('username') ?? '';
    const user = this.users.authenticate(username, form.get('password') ?? '');
    if (!user) {
      // A wrong password re-renders the form with an error, no redirect.
      sendHtml(res, 200, loginPage({
        action, clientName, username, error: 'Invalid username or password',
      }));
      return;
    }

    await this.provider.interactionFinished(req, res, {
      login: {
        accountId: user.sub,
        acr: ACR,
        amr: ['pwd'],
        remember: true,
      },
    }, { mergeWithLastSubmission: false });
  }

  // Authentik's default flow uses implicit consent: whatever the client asked
  // for is granted without a consent screen. This resolves oidc-provider's
  // consent prompt by granting every missing scope and claim.
  async implicitConsent(req, res, details) {
    const { prompt: { details: missing }, params, session } = details;
    const { grantId } = details;
    const grant = grantId
      ? await this.provider.Grant.find(grantId)
      : new this.provider.Grant({ accountId: session.accountId, clientId: params.client_id });

    if (missing.missingOIDCScope) {
      grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    }
    if (missing.missingOIDCClaims) {
      grant.addOIDCClaims(missing.missingOIDCClaims);
    }
    if (missing.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const savedId = await grant.save();
    // A grant that already existed is updated in place; a new one is named.
    const consent = grantId ? {} : { grantId: savedId };
    await this.provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
  }

  // ---- RP-initiated logout ------------------------------------------------

  // Authentik ends the session in its invalidation flow (with a User Logout
  // stage) and sends the browser on, with no "do you want to log out?" click.
  // oidc-provider always asks for that confirmation (an xsrf-protected form
  // POST). So the front layer performs both steps server-side against
  // oidc-provider's own endpoints and relays the final answer: the 303 to the
  // post_logout_redirect_uri (with state), or to the "logged out" page, or the
  // 400 for an unregistered post_logout_redirect_uri. Session destruction,
  // grant revocation and back-channel logout tokens are oidc-provider's work.
  async endSession(req, res, search) {
    let params;
    if (req.method === 'GET') {
      params = new URLSearchParams(search);
    } else if (req.method === 'POST') {
      params = new URLSearchParams(await readBody(req));
    } else {
      send(res, 405, '', { allow: 'GET, POST' });
      return;
    }

    // Authentik quirk: end-session lives under the application's slug, so
    // the application is known even when the RP sends neither id_token_hint
    // nor client_id. Naming the client lets oidc-provider check
    // post_logout_redirect_uri against the registered list (400 if absent)
    // instead of silently dropping it.
    if (!params.has('client_id') && !params.has('id_token_hint')) {
      params.set('client_id', this.clientId);
    }

    const first = await this.subRequest(req, 'GET', `${this.paths.end_session}?${params}`, req.headers.cookie);
    const xsrf = first.status === 200 && /name="xsrf" value="([^"]+)"/.exec(first.body);
    if (!xsrf) {
      // An error page (e.g. 400 post_logout_redirect_uri not registered).
      this.relay(res, first, []);
      return;
    }

    const cookies = mergeCookies(req.headers.cookie, first.setCookie);
    const second = await this.subRequest(
      req,
      'POST',
      `${this.paths.end_session}confirm`,
      cookies,
      new URLSearchParams({ xsrf: xsrf[1], logout: 'yes' }).toString(),
    );
    this.relay(res, second, first.setCookie);
  }

  subRequest(req, method, path, cookie, body) {
    return new Promise((resolve, reject) => {
      const headers = {
        host: req.headers.host,
        [INTERNAL_HEADER]: this.internalToken,
      };
      if (cookie) {
        headers.cookie = cookie;
      }
      if (req.headers['user-agent']) {
        headers['user-agent'] = req.headers['user-agent'];
      }
      if (body !== undefined) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        headers['content-length'] = Buffer.byteLength(body);
      }
      const sub = http.request({
        host: this.connectHost, port: this.port, method, path, headers,
      }, (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => resolve({
          status: response.statusCode,
          headers: response.headers,
          setCookie: response.headers['set-cookie'] || [],
          body: Buffer.concat(chunks).toString('utf8'),
        }));
        response.on('error', reject);
      });
      sub.on('error', reject);
      sub.end(body);
    });
  }

  relay(res, response, earlierSetCookie) {
    const headers = {};
    for (const name of ['content-type', 'location', 'cache-control', 'pragma']) {
      if (response.headers[name] !== undefined) {
        headers[name] = response.headers[name];
      }
    }
    // Cookies from the first step first, so the second step's (which clear
    // the session) win in the browser.
    const setCookie = [...earlierSetCookie, ...response.setCookie];
    if (setCookie.length) {
      headers['set-cookie'] = setCookie;
    }
    send(res, response.status, response.body, headers);
  }

  // ---- test hooks ---------------------------------------------------------

  testStats(req, res) {
    if (req.method !== 'GET') {
      send(res, 405, '', { allow: 'GET' });
      return;
    }
    sendJson(res, 200, this.stats);
  }

  testReset(req, res) {
    if (req.method !== 'POST') {
      send(res, 405, '', { allow: 'POST' });
      return;
    }
    for (const name of COUNTED_ENDPOINTS) {
      this.stats[name] = 0;
    }
    sendJson(res, 200, this.stats);
  }

  testDelay(req, res, query) {
    if (req.method !== 'POST') {
      send(res, 405, '', { allow: 'POST' });
      return;
    }
    const endpoint = query.get('endpoint');
    const ms = Number(query.get('ms') ?? '0');
    if (!COUNTED_ENDPOINTS.includes(endpoint) || !Number.isInteger(ms) || ms < 0 || ms > 600000) {
      sendJson(res, 400, {
        error: `endpoint must be one of ${COUNTED_ENDPOINTS.join(', ')}; ms an integer 0..600000`,
      });
      return;
    }
    this.delays[endpoint] = ms;
    sendJson(res, 200, this.delays);
  }
}
