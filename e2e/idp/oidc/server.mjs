// A real OpenID provider for the e2e suite: panva's oidc-provider with its
// development login page (any password), seeded users and one client for
// Tollgate (client_secret_basic, PKCE required). Configured by environment:
//   OIDC_PORT, OIDC_REDIRECT_URI, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET,
//   OIDC_KEYS_FILE  private JWKs, newest first; created when missing, and
//                   OIDC_ROTATE=1 puts a new signing key first (the old one
//                   stays published), as a provider rotating its keys does.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};
const port = Number(env('OIDC_PORT'));
const issuer = `http://127.0.0.1:${port}`;

function newKey() {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'ES256', use: 'sig' };
}
const keysFile = env('OIDC_KEYS_FILE');
let keys = existsSync(keysFile) ? JSON.parse(readFileSync(keysFile, 'utf8')) : [];
if (keys.length === 0 || process.env.OIDC_ROTATE === '1') keys = [newKey(), ...keys];
writeFileSync(keysFile, JSON.stringify(keys));

// Seeded users; any other login signs in as itself without names or groups.
const users = {
  'oidc-alice': { given_name: 'Alice', family_name: 'Oidc', email: 'alice@oidc.example', groups: ['agents', 'supervisors'] },
  'oidc-bob': { given_name: 'Bob', family_name: 'Oidc', email: 'bob@oidc.example', groups: ['agents'] },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: env('OIDC_CLIENT_ID'),
    client_secret: env('OIDC_CLIENT_SECRET'),
    redirect_uris: [env('OIDC_REDIRECT_URI')],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys },
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'given_name', 'family_name', 'groups'],
    email: ['email', 'email_verified'],
  },
  // Profile claims in the ID token too (not only at userinfo).
  conformIdTokenClaims: false,
  cookies: { keys: [randomUUID()] },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const seeded = users[id] ?? {};
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, email_verified: true, ...seeded };
      },
    };
  },
  // Tollgate is a first-party client: no consent page.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile email');
    await grant.save();
    return grant;
  },
});
provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ${issuer} key ${keys[0].kid}`);
});
