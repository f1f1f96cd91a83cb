// A real OpenID Connect provider for cpd-hub's tests: the certified `oidc-provider` package,
// on 127.0.0.1 at a free port, with its development login and consent pages.
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
import http from 'node:http';

const { default: Provider } = await import(process.env.OIDC_PROVIDER_MODULE);
const clients = JSON.parse(process.env.OIDC_CLIENTS || '[]');
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS || '{}');

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
server.on('request', provider.callback());

process.stdout.write(JSON.stringify({ issuer }) + '\n');
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
