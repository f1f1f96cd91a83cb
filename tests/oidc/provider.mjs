// A real OpenID Connect provider for cpd-hub's tests: the certified `oidc-provider` package
// (major version 8 or 9), on 127.0.0.1 at a free port, with its development login and
// consent pages.
//
//   node tests/oidc/provider.mjs
//
// Settings come from the environment:
//   OIDC_PROVIDER_MODULE  path to oidc-provider's lib/index.js (installed by scripts/test)
//   OIDC_CLIENTS          JSON list of {client_id, client_secret, redirect_uris}
//   OIDC_ACCOUNTS         JSON object: login name -> claims ({email, email_verified, name})
// Once listening it prints one line of JSON, {"issuer": "http://127.0.0.1:PORT"}, and runs
// until its standard input closes (the test that started it ends) or it is killed.
//
// At the development login page any password is accepted: the login name picks the account.
// ID tokens are signed (RS256) with the throwaway key tests/oidc/test-key-a.pem, published
// as the provider's only key until a test rotates it (see below); tests/oidc/test-key-b.pem
// stands for a key that is not it.
//
// TEST-ONLY CONTROL, which no real provider has: `POST /__test/next-id-token` with a body
// naming a mode makes the provider spoil the `id_token` of the NEXT token response (one
// only) before it leaves, as an attacker or a broken provider might, so that cpd-hub's
// refusal can be tested end to end. Modes:
//   expired    re-signed with the provider's key, `iat` and `exp` an hour in the past
//   signature  signed with test-key-b but under the provider's key id
//   audience   re-signed with the provider's key, `aud` another client's id
//   issuer     re-signed with the provider's key, `iss` another issuer
//   nonce      re-signed with the provider's key, `nonce` not the one cpd-hub sent
//   unsigned   `alg` "none" and no signature
//   unknown-kid  signed with test-key-b under a key id the provider never published
// It answers 204, or 400 for an unknown mode.
//
// TEST-ONLY CONTROL: `POST /__test/rotate-key` rotates the provider's signing key, as
// Microsoft and Google do: a new RSA key with a new key id is made, published first in the
// provider's JWKS (`/jwks`, beside the keys published before), and from then on every ID token
// it issues is signed with it (the token answer is re-signed on its way out: oidc-provider
// takes its keys once, at construction). It answers 200 with {"kid": the new key id}.
//
// TEST-ONLY CONTROL: `GET /__test/jwks-requests` answers {"count": N}, the number of JWKS
// documents served so far, so a test can see how often a client read the keys.
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';

const { default: Provider } = await import(process.env.OIDC_PROVIDER_MODULE);
const clients = JSON.parse(process.env.OIDC_CLIENTS || '[]');
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS || '{}');

const pem = (name) => fs.readFileSync(new URL(name, import.meta.url), 'utf8');
const keyA = crypto.createPrivateKey(pem('test-key-a.pem'));
const keyB = crypto.createPrivateKey(pem('test-key-b.pem'));
const KID = 'cpd-hub-test-key-a';

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: c.redirect_uris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  jwks: { keys: [{ ...keyA.export({ format: 'jwk' }), kid: KID, use: 'sig', alg: 'RS256' }] },
  async findAccount(ctx, id) {
    const claims = accounts[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  // Claims of the requested scopes go into the ID token itself (not only userinfo), as
  // Microsoft and Google do.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['cpd-hub-tests-only'] },
});
// Quiet: the tests read stdout for the issuer line only.
provider.on('server_error', (ctx, err) => console.error('provider error:', err));

// The test-only control (see the header): the mode for the next token response, if any.
let spoilNext = null;
// The test-only key rotation (see the header): the keys made by `/__test/rotate-key`, newest
// first, each {kid, key, jwk}; ID tokens are signed with the first, when there is one.
const rotated = [];
let jwksServed = 0;

const b64 = (data) => Buffer.from(data).toString('base64url');
const sign = (header, claims, key) => {
  const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(claims))}`;
  return `${input}.${crypto.sign('sha256', Buffer.from(input), key).toString('base64url')}`;
};
const spoilers = {
  expired: (h, c) => {
    const ago = Math.floor(Date.now() / 1000) - 3600;
    return sign(h, { ...c, iat: ago - 300, auth_time: ago - 300, exp: ago }, keyA);
  },
  signature: (h, c) => sign(h, c, keyB),
  audience: (h, c) => sign(h, { ...c, aud: 'another-app', azp: undefined }, keyA),
  issuer: (h, c) => sign(h, { ...c, iss: 'http://127.0.0.1:9/another-issuer' }, keyA),
  nonce: (h, c) => sign(h, { ...c, nonce: 'not-the-nonce-that-was-sent' }, keyA),
  unsigned: (h, c) => `${b64(JSON.stringify({ ...h, alg: 'none' }))}.${b64(JSON.stringify(c))}.`,
  'unknown-kid': (h, c) => sign({ ...h, kid: 'cpd-hub-test-never-published' }, c, keyB),
};

provider.use(async (ctx, next) => {
  await next();
  if (ctx.method === 'GET' && ctx.path === '/jwks' && ctx.status === 200) {
    jwksServed += 1;
    if (rotated.length > 0) {
      ctx.body = { keys: [...rotated.map((r) => r.jwk), ...ctx.body.keys] };
    }
    return;
  }
  if (ctx.method !== 'POST' || ctx.path !== '/token') return;
  if (!spoilNext && rotated.length === 0) return;
  const body = ctx.body;
  if (ctx.status !== 200 || !body || typeof body.id_token !== 'string') return;
  let [header, claims] = body.id_token.split('.').slice(0, 2)
    .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')));
  let idToken = body.id_token;
  if (rotated.length > 0) {
    header = { ...header, kid: rotated[0].kid };
    idToken = sign(header, claims, rotated[0].key);
  }
  if (spoilNext) {
    idToken = spoilers[spoilNext](header, claims);
    spoilNext = null;
  }
  ctx.body = { ...body, id_token: idToken };
});

const rotateKey = () => {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = `cpd-hub-test-rotated-${rotated.length + 1}`;
  const { kty, n, e } = privateKey.export({ format: 'jwk' });
  rotated.unshift({ kid, key: privateKey, jwk: { kty, n, e, kid, use: 'sig', alg: 'RS256' } });
  return kid;
};

const handle = provider.callback();
server.on('request', (req, res) => {
  if (req.url === '/__test/rotate-key' && req.method === 'POST') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kid: rotateKey() }));
    return;
  }
  if (req.url === '/__test/jwks-requests' && req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ count: jwksServed }));
    return;
  }
  if (req.url !== '/__test/next-id-token') {
    handle(req, res);
    return;
  }
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => {
    const mode = body.trim();
    if (req.method !== 'POST' || !Object.hasOwn(spoilers, mode)) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`POST one of: ${Object.keys(spoilers).join(', ')}\n`);
      return;
    }
    spoilNext = mode;
    res.writeHead(204);
    res.end();
  });
});

process.stdout.write(JSON.stringify({ issuer }) + '\n');
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
