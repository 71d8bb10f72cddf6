// Signing keys for the three Authentik signing modes.
//
// rs256: Authentik's built-in self-signed certificate is RSA, so RS256.
// es256: an EC P-256 certificate gives ES256.
// hs256: no signing key selected (Authentik's out-of-the-box choice): the
//        id_token is signed HS256 with the client secret and there is no
//        public key at all.

import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export const MODES = {
  rs256: { alg: 'RS256', kty: 'RSA' },
  es256: { alg: 'ES256', kty: 'EC', crv: 'P-256' },
  hs256: { alg: 'HS256' },
};

function generate(mode) {
  const spec = MODES[mode];
  const { privateKey } = spec.kty === 'RSA'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : generateKeyPairSync('ec', { namedCurve: spec.crv });
  const jwk = privateKey.export({ format: 'jwk' });
  // A kid is always present, as with Authentik. Derive it from the public
  // part so it stays the same when the key is loaded again from a file.
  const pub = spec.kty === 'RSA' ? `${jwk.e}.${jwk.n}` : `${jwk.crv}.${jwk.x}.${jwk.y}`;
  jwk.kid = createHash('sha256').update(pub).digest('hex').slice(0, 32);
  jwk.use = 'sig';
  jwk.alg = spec.alg;
  return jwk;
}

function matches(jwk, mode) {
  const spec = MODES[mode];
  return jwk && jwk.kty === spec.kty && (!spec.crv || jwk.crv === spec.crv)
    && typeof jwk.d === 'string' && (!jwk.alg || jwk.alg === spec.alg);
}

// Returns the private JWKS to hand to oidc-provider. With keysFile, a key for
// the mode is read from that file (a JSON Web Key Set of private keys); if
// the file lacks one, a key is generated and written there so the next start
// reuses it.
export function loadOrGenerateJwks(mode, keysFile) {
  if (!MODES[mode]) {
    throw new Error(`unknown mode ${mode}`);
  }
  if (mode === 'hs256') {
    return { keys: [] };
  }
  let stored = { keys: [] };
  if (keysFile && existsSync(keysFile)) {
    stored = JSON.parse(readFileSync(keysFile, 'utf8'));
    if (!stored || !Array.isArray(stored.keys)) {
      throw new Error(`${keysFile}: expected a JSON Web Key Set ({"keys": [...]})`);
    }
    const found = stored.keys.find((jwk) => matches(jwk, mode));
    if (found) {
      const key = { ...found, use: 'sig', alg: MODES[mode].alg };
      if (!key.kid) {
        throw new Error(`${keysFile}: the ${mode} key has no kid`);
      }
      return { keys: [key] };
    }
  }
  const key = generate(mode);
  if (keysFile) {
    stored.keys.push(key);
    writeFileSync(keysFile, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
  }
  return { keys: [key] };
}
