// A third-party relying party on panva's openid-client, for the e2e tests.
// Each call is one step of an authorization code flow with a pushed
// authorization request (RFC 9126) and PKCE; JSON on stdout.
//
//   node relying-party.mjs push ISSUER CLIENT_ID SECRET REDIRECT_URI [dpop]
//     -> {"url", "verifier", "state", "nonce", "dpop_key"}: the URL for the
//        browser; with `dpop`, a fresh ES256 key (a private JWK) proves
//        possession at the PAR endpoint (RFC 9449), binding the code to it
//   node relying-party.mjs redeem ISSUER CLIENT_ID SECRET CALLBACK_URL VERIFIER STATE NONCE [DPOP_KEY]
//     -> {"access_token", "token_type", "claims", "userinfo"}: openid-client
//        checked the callback's state and iss (RFC 9207), the ID token's
//        signature, nonce and times, and read userinfo with the token (and,
//        with the key, DPoP proofs at the token and userinfo endpoints)
import * as oidc from 'openid-client';

const [step, issuer, clientId, secret, ...rest] = process.argv.slice(2);
// The tests' servers listen on plain-HTTP loopback.
const config = await oidc.discovery(new URL(issuer), clientId, secret, oidc.ClientSecretBasic(secret), {
  execute: [oidc.allowInsecureRequests],
});

const ES256 = { name: 'ECDSA', namedCurve: 'P-256' };

// The key pair of a private JWK handed from one step to the next.
async function importKeyPair(privateJwk) {
  const { d, key_ops: _ops, ...publicJwk } = privateJwk;
  return {
    privateKey: await crypto.subtle.importKey('jwk', privateJwk, ES256, false, ['sign']),
    publicKey: await crypto.subtle.importKey('jwk', publicJwk, ES256, true, ['verify']),
  };
}

if (step === 'push') {
  const [redirectUri, mode] = rest;
  let DPoP;
  let dpopKey = null;
  if (mode === 'dpop') {
    const pair = await oidc.randomDPoPKeyPair('ES256', { extractable: true });
    dpopKey = await crypto.subtle.exportKey('jwk', pair.privateKey);
    DPoP = oidc.getDPoPHandle(config, pair);
  }
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = await oidc.buildAuthorizationUrlWithPAR(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  }, { DPoP });
  console.log(JSON.stringify({ url: url.href, verifier, state, nonce, dpop_key: dpopKey }));
} else if (step === 'redeem') {
  const [callback, verifier, state, nonce, dpopKey] = rest;
  const DPoP = dpopKey ? oidc.getDPoPHandle(config, await importKeyPair(JSON.parse(dpopKey))) : undefined;
  const tokens = await oidc.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  }, undefined, { DPoP });
  const claims = tokens.claims();
  const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub, { DPoP });
  console.log(JSON.stringify({ access_token: tokens.access_token, token_type: tokens.token_type, claims, userinfo }));
} else {
  console.error(`unknown step ${step}`);
  process.exit(2);
}
