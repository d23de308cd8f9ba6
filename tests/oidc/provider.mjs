// A real OpenID provider (panva's oidc-provider) for Confer's tests, on 127.0.0.1 only.
//
// Configured entirely by the harness, as JSON in the environment variable
// OIDC_PROVIDER_CONFIG (or in a file named by the first argument):
//
//   {
//     "port": 0,                          // 0: the OS picks one
//     "clients": [{ "client_id": "confer", "client_secret": "...",
//                   "redirect_uris": ["http://127.0.0.1:9/callback"],
//                   "token_endpoint_auth_method": "client_secret_basic" }],
//     "accounts": [{ "login": "ann", "password": "ann-pass",
//                    "claims": { "sub": "ann", "name": "Ann Example",
//                                "email": "ann@example.org", "groups": ["moderators"] } }],
//     "jwks": { "keys": [ <private JWK with "kid"> ] },   // optional: a key made at start if absent
//     "idTokenTtl": 3600,                 // seconds
//     "claimsInIdToken": true             // false: profile/email/groups only from userinfo
//   }
//
// Once listening it prints one line on stdout: {"issuer":"http://127.0.0.1:PORT"}.
// It exits when its standard input closes, so it never outlives the test that started it.
//
// `node provider.mjs --new-key KID` only prints a new RSA signing key, as
// {"jwk": <private JWK>, "pkcs1": <PEM>}, for the harness to pass in "jwks" and to sign
// tokens of its own with.
//
// Logging in: GET /interaction/:uid renders a form (inputs `login` and `password`, a
// submit button `#sign-in`); POST checks the password against the configured accounts.
// Consent is granted without asking: the one client is first-party.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes, timingSafeEqual, createHash } from 'node:crypto';

if (process.argv[2] === '--new-key') {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: process.argv[3] ?? 'key-1', use: 'sig', alg: 'RS256' };
  process.stdout.write(`${JSON.stringify({ jwk, pkcs1: privateKey.export({ type: 'pkcs1', format: 'pem' }) })}\n`);
  process.exit(0);
}

const { default: Provider } = await import('oidc-provider');
const config = JSON.parse(process.argv[2] ? readFileSync(process.argv[2], 'utf8') : process.env.OIDC_PROVIDER_CONFIG);
const accounts = new Map((config.accounts ?? []).map((a) => [a.login, a]));
const bySubject = new Map((config.accounts ?? []).map((a) => [a.claims.sub, a]));

function signingKeys() {
  if (config.jwks) return config.jwks;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'generated', use: 'sig', alg: 'RS256' }] };
}

function sameSecret(a, b) {
  const digest = (s) => createHash('sha256').update(String(s)).digest();
  return timingSafeEqual(digest(a), digest(b));
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(res, uid, { login = '', error } = {}) {
  res.statusCode = error ? 401 : 200;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sign in</title></head>
<body>
  <h1>Sign in</h1>
  ${error ? `<p id="error">${escape(error)}</p>` : ''}
  <form method="post" action="/interaction/${escape(uid)}" autocomplete="off">
    <label>Login <input name="login" value="${escape(login)}" autofocus></label>
    <label>Password <input name="password" type="password"></label>
    <button id="sign-in" type="submit">Sign in</button>
  </form>
</body></html>`);
}

async function formBody(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 64 * 1024) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

const ttl = config.idTokenTtl ?? 3600;
const configuration = {
  clients: config.clients.map((c) => ({ response_types: ['code'], grant_types: ['authorization_code'], ...c })),
  jwks: signingKeys(),
  scopes: ['openid', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  conformIdTokenClaims: config.claimsInIdToken === false,
  pkce: { methods: ['S256'], required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const account = bySubject.get(sub);
    if (!account) return undefined;
    return { accountId: sub, claims: async () => ({ ...account.claims, sub }) };
  },
  cookies: {
    keys: [randomBytes(32).toString('hex')],
    // Plain http on loopback: browsers drop SameSite=None cookies that are not Secure.
    long: { sameSite: 'lax' },
    short: { sameSite: 'lax' },
  },
  ttl: {
    IdToken: ttl,
    AccessToken: 600,
    AuthorizationCode: 60,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
};

async function interaction(provider, req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  const { prompt, params, session, grantId } = details;

  if (prompt.name === 'login') {
    if (req.method === 'GET') return loginPage(res, uid);
    if (req.method !== 'POST') throw new Error('method not allowed');
    const form = await formBody(req);
    const login = form.get('login') ?? '';
    const account = accounts.get(login);
    // Compare against something even for unknown logins, so both take the same time.
    const ok = sameSecret(form.get('password') ?? '', account ? account.password : randomBytes(16)) && account;
    if (!ok) return loginPage(res, uid, { login, error: 'Wrong login or password.' });
    return provider.interactionFinished(req, res, { login: { accountId: account.claims.sub } }, { mergeWithLastSubmission: false });
  }

  if (prompt.name === 'consent') {
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
  }

  throw new Error(`prompt ${prompt.name} is not handled`);
}

const server = createServer();
server.listen(config.port ?? 0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, configuration);
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  const handle = provider.callback();
  server.on('request', (req, res) => {
    const match = /^\/interaction\/([\w-]+)$/.exec(new URL(req.url, issuer).pathname);
    if (!match) return handle(req, res);
    interaction(provider, req, res, match[1]).catch((err) => {
      console.error(`interaction ${match[1]}: ${err.message}`);
      if (!res.headersSent) {
        res.statusCode = 400;
        res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      }
      res.end(`interaction failed: ${err.message}\n`);
    });
  });
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

// The harness holds our stdin open; when it goes away, so do we.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
