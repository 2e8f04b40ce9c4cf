// node oidc-provider configured like Tollgate's `dev` demo, for bench/run.sh.
//
//   PEER_PORT=8096 PEER_WORKERS=1 node server.js
//
// - one confidential client (client_secret_basic) allowed client_credentials,
//   password (registered below, oidc-provider has no built-in one),
//   authorization_code (redirect URI PEER_REDIRECT_URI) and refresh_token;
//   refresh tokens rotate on every use;
// - a sign-in page at the interaction URL (GET: a form, POST: checks the
//   user's password, signs in and grants the client `openid api` at once, so
//   later authorization requests of that browser session answer with a code
//   without any page: the consent is pre-granted);
// - access tokens are ES256-signed JWTs for the default resource
//   (resource indicators are the only way oidc-provider issues JWT access
//   tokens for client credentials);
// - a second resource, PEER_OPAQUE_RESOURCE, issues opaque (stored) tokens:
//   oidc-provider refuses to introspect structured (JWT) tokens, so the
//   introspection scenario asks for `resource=<opaque>` once and
//   introspects that token;
// - storage is an unbounded in-process Map (the bundled memory adapter is an
//   LRU of 1000 entries, which would evict live refresh tokens under load).
//
// PEER_WORKERS=N>1 forks N node:cluster workers sharing the port and the
// signing key. Storage is per worker, so only stateless scenarios
// (client credentials with JWT access tokens) are meaningful in that mode.

import cluster from 'node:cluster';
import { generateKeyPairSync, randomUUID, timingSafeEqual } from 'node:crypto';

import Provider, { errors } from 'oidc-provider';

const PORT = Number(process.env.PEER_PORT || 8096);
const HOST = process.env.PEER_HOST || '127.0.0.1';
const WORKERS = Number(process.env.PEER_WORKERS || 1);
const CLIENT_ID = process.env.PEER_CLIENT_ID || 'demo-client';
const CLIENT_SECRET = process.env.PEER_CLIENT_SECRET || 'demo-secret';
const DOMAIN = process.env.PEER_DOMAIN || 'demo';
const USERNAME = process.env.PEER_USERNAME || 'demo';
const PASSWORD = process.env.PEER_PASSWORD || 'demo-password';
const ISSUER = `http://${HOST}:${PORT}`;
const JWT_RESOURCE = process.env.PEER_JWT_RESOURCE || 'urn:tollgate:bench:api';
const OPAQUE_RESOURCE = process.env.PEER_OPAQUE_RESOURCE || 'urn:tollgate:bench:opaque';
const SCOPE = 'api';
const REDIRECT_URI = process.env.PEER_REDIRECT_URI || `${ISSUER}/callback`;

function newSigningJwk() {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'ES256', use: 'sig',
  };
}

// Unbounded in-process storage with expiry, the moral equivalent of
// Tollgate's in-process store.
const stores = new Map();
const grantMembers = new Map();
class MapAdapter {
  constructor(name) {
    this.name = name;
    if (!stores.has(name)) stores.set(name, new Map());
    this.store = stores.get(name);
  }

  async upsert(id, payload, expiresIn) {
    const exp = expiresIn ? Date.now() + expiresIn * 1000 : Infinity;
    this.store.set(id, { payload, exp });
    if (payload.grantId) {
      let members = grantMembers.get(payload.grantId);
      if (!members) grantMembers.set(payload.grantId, (members = []));
      members.push([this.name, id]);
    }
  }

  async find(id) {
    const entry = this.store.get(id);
    if (!entry) return undefined;
    if (entry.exp <= Date.now()) {
      this.store.delete(id);
      return undefined;
    }
    return entry.payload;
  }

  async findByUid(uid) {
    for (const [id, { payload }] of this.store) if (payload.uid === uid) return this.find(id);
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const [id, { payload }] of this.store) {
      if (payload.userCode === userCode) return this.find(id);
    }
    return undefined;
  }

  async consume(id) {
    const entry = this.store.get(id);
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    this.store.delete(id);
  }

  async revokeByGrantId(grantId) {
    for (const [name, id] of grantMembers.get(grantId) || []) stores.get(name)?.delete(id);
    grantMembers.delete(grantId);
  }
}

function resourceServer(resource) {
  if (resource === JWT_RESOURCE) {
    return {
      scope: SCOPE,
      audience: JWT_RESOURCE,
      accessTokenTTL: 3600,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: 'ES256' } },
    };
  }
  if (resource === OPAQUE_RESOURCE) {
    return {
      scope: SCOPE, audience: OPAQUE_RESOURCE, accessTokenTTL: 3600, accessTokenFormat: 'opaque',
    };
  }
  throw new errors.InvalidTarget();
}

function same(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && timingSafeEqual(x, y);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

function start() {
  const jwk = process.env.PEER_JWK ? JSON.parse(process.env.PEER_JWK) : newSigningJwk();
  const accountId = `${DOMAIN}\\${USERNAME}`.toLowerCase();

  const provider = new Provider(ISSUER, {
    adapter: MapAdapter,
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials', 'password', 'authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [REDIRECT_URI],
      scope: `openid ${SCOPE}`,
      id_token_signed_response_alg: 'ES256',
    }],
    jwks: { keys: [jwk] },
    cookies: { keys: [process.env.PEER_COOKIE_KEY || randomUUID()] },
    scopes: ['openid', 'offline_access', SCOPE],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // Any authenticated (confidential) client may introspect.
        allowedPolicy: async (ctx, client) => client.clientAuthMethod !== 'none',
      },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (ctx, client, oneOf) => (oneOf ? oneOf[0] : JWT_RESOURCE),
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, resource) => resourceServer(resource),
      },
    },
    rotateRefreshToken: true,
    ttl: {
      AccessToken: 3600,
      ClientCredentials: 3600,
      RefreshToken: 8 * 3600,
      Grant: 8 * 3600,
      IdToken: 3600,
      Session: 8 * 3600,
      Interaction: 600,
    },
    findAccount: async (ctx, sub) => (sub === accountId
      ? { accountId: sub, claims: async () => ({ sub }) }
      : undefined),
  });
  provider.proxy = false;

  // Resource-owner password grant: `username=demo\user`, like Tollgate's.
  provider.registerGrantType('password', async (ctx) => {
    const { client, params } = ctx.oidc;
    if (!params.username || !params.password) {
      throw new errors.InvalidRequest('username and password are required');
    }
    if (!same(params.username.toLowerCase(), accountId) || !same(params.password, PASSWORD)) {
      throw new errors.InvalidGrant('invalid username or password');
    }
    const rs = new provider.ResourceServer(JWT_RESOURCE, resourceServer(JWT_RESOURCE));
    const grant = new provider.Grant({ clientId: client.clientId, accountId });
    grant.addOIDCScope('offline_access');
    grant.addResourceScope(JWT_RESOURCE, SCOPE);
    const grantId = await grant.save();

    const at = new provider.AccessToken({
      accountId, client, grantId, gty: 'password', scope: SCOPE,
    });
    at.resourceServer = rs;
    const accessToken = await at.save();

    const rt = new provider.RefreshToken({
      accountId,
      client,
      grantId,
      gty: 'password',
      scope: `offline_access ${SCOPE}`,
      resource: JWT_RESOURCE,
      iiat: Math.floor(Date.now() / 1000),
      rotations: 0,
    });
    const refreshToken = await rt.save();

    ctx.body = {
      access_token: accessToken,
      expires_in: at.expiration,
      token_type: at.tokenType,
      refresh_token: refreshToken,
      scope: SCOPE,
    };
  }, ['username', 'password', 'scope']);

  provider.use(async (ctx, next) => {
    if (!ctx.path.startsWith('/interaction/')) return next();
    if (ctx.method === 'GET') {
      ctx.type = 'html';
      ctx.body = `<form method="post" action="${ctx.path}"><input name="username">
        <input name="password" type="password"><button>Sign in</button></form>`;
      return undefined;
    }
    const form = new URLSearchParams(await readBody(ctx.req));
    const username = form.get('username') || '';
    if (!same(username.toLowerCase(), accountId) || !same(form.get('password') || '', PASSWORD)) {
      ctx.status = 401;
      ctx.body = 'invalid username or password';
      return undefined;
    }
    const { params } = await provider.interactionDetails(ctx.req, ctx.res);
    const grant = new provider.Grant({ clientId: params.client_id, accountId });
    // `api` is also one of the provider's scopes, so it counts as an OIDC one.
    grant.addOIDCScope(`openid ${SCOPE}`);
    grant.addResourceScope(JWT_RESOURCE, SCOPE);
    const grantId = await grant.save();
    return provider.interactionFinished(ctx.req, ctx.res, {
      login: { accountId }, consent: { grantId },
    }, { mergeWithLastSubmission: false });
  });

  provider.on('server_error', (ctx, err) => console.error('server_error', err));

  provider.listen(PORT, HOST, () => {
    console.log(`peer ${process.pid} listening on ${ISSUER}`);
  });
}

if (cluster.isPrimary && WORKERS > 1) {
  // One key for all workers, so every worker signs with the same kid.
  process.env.PEER_JWK = JSON.stringify(newSigningJwk());
  process.env.PEER_COOKIE_KEY = randomUUID();
  for (let i = 0; i < WORKERS; i += 1) cluster.fork();
  let stopping = false;
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) {
      console.error(`worker ${worker.process.pid} exited (${signal || code})`);
      process.exitCode = 1;
    }
    if (Object.keys(cluster.workers).length === 0) process.exit();
  });
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      stopping = true;
      for (const w of Object.values(cluster.workers)) w.process.kill(sig);
    });
  }
} else {
  start();
}
