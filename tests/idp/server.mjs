#!/usr/bin/env node
// An Authentik-shaped OpenID provider for netbox-authentik's end-to-end tests
// and local demo, built on panva's OpenID-Certified oidc-provider.
//
//   node tests/idp/server.mjs --port 9000 [--host 127.0.0.1] [--mode rs256|es256|hs256]
//        [--slug netbox] [--client-id netbox] [--client-secret SECRET]
//        [--redirect-uri URI ...] [--post-logout-redirect-uri URI ...]
//        [--backchannel-logout-uri URI] [--users-file FILE] [--keys-file FILE]
//
// Prints `READY http://HOST:PORT/application/o/SLUG/` (the issuer) on stdout
// once it accepts connections. --port 0 picks a free port. See README.md.

import { realpathSync } from 'node:fs';
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { Front } from './lib/front.mjs';
import { MachineTokens } from './lib/machine.mjs';
import { MODES } from './lib/keys.mjs';
import { createProvider } from './lib/provider.mjs';
import { BUILTIN_USERS, UserDirectory } from './lib/users.mjs';

export const DEFAULTS = {
  host: '127.0.0.1',
  port: '9000',
  mode: 'rs256',
  slug: 'netbox',
  clientId: 'netbox',
  clientSecret: 'netbox-authentik-test-secret-0123456789abcdef',
  // NetBox's social-auth callback for a backend named "authentik" on
  // runserver's default address.
  redirectUris: [
    'http://127.0.0.1:8000/oauth/complete/authentik/',
    'http://localhost:8000/oauth/complete/authentik/',
  ],
  postLogoutRedirectUris: [
    'http://127.0.0.1:8000/',
    'http://localhost:8000/',
  ],
};

const USAGE = `usage: node server.mjs [--port ${DEFAULTS.port}] [--host ${DEFAULTS.host}] \
[--mode rs256|es256|hs256] [--slug ${DEFAULTS.slug}] [--client-id ${DEFAULTS.clientId}] \
[--client-secret SECRET] [--redirect-uri URI ...] [--post-logout-redirect-uri URI ...] \
[--backchannel-logout-uri URI] [--users-file FILE] [--keys-file FILE]`;

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      port: { type: 'string', default: DEFAULTS.port },
      host: { type: 'string', default: DEFAULTS.host },
      mode: { type: 'string', default: DEFAULTS.mode },
      slug: { type: 'string', default: DEFAULTS.slug },
      'client-id': { type: 'string', default: DEFAULTS.clientId },
      'client-secret': { type: 'string', default: DEFAULTS.clientSecret },
      'redirect-uri': { type: 'string', multiple: true },
      'post-logout-redirect-uri': { type: 'string', multiple: true },
      'backchannel-logout-uri': { type: 'string' },
      'users-file': { type: 'string' },
      'keys-file': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--port must be 0..65535, got ${values.port}`);
  }
  if (!MODES[values.mode]) {
    throw new Error(`--mode must be one of ${Object.keys(MODES).join(', ')}`);
  }
  if (!/^[a-z0-9_-]+$/.test(values.slug)) {
    throw new Error('--slug may contain only a-z, 0-9, "-" and "_"');
  }
  return {
    host: values.host,
    port,
    mode: values.mode,
    slug: values.slug,
    clientId: values['client-id'],
    clientSecret: values['client-secret'],
    redirectUris: values['redirect-uri'] ?? DEFAULTS.redirectUris,
    postLogoutRedirectUris: values['post-logout-redirect-uri'] ?? DEFAULTS.postLogoutRedirectUris,
    backchannelLogoutUri: values['backchannel-logout-uri'],
    usersFile: values['users-file'],
    keysFile: values['keys-file'],
  };
}

function urlHost(host) {
  return host.includes(':') ? `[${host}]` : host;
}

// Starts the identity provider; resolves once it listens. Returns
// { server, issuer, port, close }.
export async function startIdp(options) {
  const users = options.usersFile
    ? UserDirectory.fromFile(options.usersFile)
    : new UserDirectory(BUILTIN_USERS);

  let front;
  const server = http.createServer((req, res) => {
    if (!front) {
      res.statusCode = 503;
      res.end();
      return;
    }
    front.handle(req, res);
  });

  // Bind only to the given host. Listening first lets --port 0 work: the
  // issuer (which contains the port) is only known afterwards.
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  const { port, address } = server.address();
  const issuer = `http://${urlHost(options.host)}:${port}/application/o/${options.slug}/`;

  const { provider, paths, jwks } = createProvider({ ...options, issuer }, users);
  const machine = new MachineTokens({
    issuer,
    origin: new URL(issuer).origin,
    paths,
    mode: options.mode,
    jwks,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    users,
  });
  // Where the front layer reaches itself for its own sub-requests (see
  // Front.endSession): the address actually bound, or loopback for a wildcard.
  let connectHost = address;
  if (connectHost === '0.0.0.0') connectHost = '127.0.0.1';
  if (connectHost === '::') connectHost = '::1';
  front = new Front({
    provider, paths, mode: options.mode, users, clientId: options.clientId, connectHost, port, machine,
  });

  const close = () => new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  return {
    server, issuer, port, close,
  };
}

async function main() {
  let options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`${err.message}\n${USAGE}`);
    process.exit(2);
  }

  // Installed before start-up so that a signal arriving early also ends the
  // process cleanly (exit status 0).
  let idp;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    if (idp) await idp.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  idp = await startIdp(options);
  if (stopping) {
    await idp.close();
    return;
  }
  process.stdout.write(`READY ${idp.issuer}\n`);
}

// Run when executed directly, not when imported.
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
