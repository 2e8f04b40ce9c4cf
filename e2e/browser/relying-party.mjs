// A third-party relying party on panva's openid-client, for the e2e tests.
// Each call is one step of an authorization code flow with a pushed
// authorization request (RFC 9126) and PKCE; JSON on stdout.
//
//   node relying-party.mjs push ISSUER CLIENT_ID SECRET REDIRECT_URI
//     -> {"url", "verifier", "state", "nonce"}: the URL for the browser
//   node relying-party.mjs redeem ISSUER CLIENT_ID SECRET CALLBACK_URL VERIFIER STATE NONCE
//     -> {"access_token", "claims"}: openid-client checked the callback's
//        state and iss (RFC 9207), the ID token's signature, nonce and times
import * as oidc from 'openid-client';

const [step, issuer, clientId, secret, ...rest] = process.argv.slice(2);
// The tests' servers listen on plain-HTTP loopback.
const config = await oidc.discovery(new URL(issuer), clientId, secret, oidc.ClientSecretBasic(secret), {
  execute: [oidc.allowInsecureRequests],
});

if (step === 'push') {
  const [redirectUri] = rest;
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
  });
  console.log(JSON.stringify({ url: url.href, verifier, state, nonce }));
} else if (step === 'redeem') {
  const [callback, verifier, state, nonce] = rest;
  const tokens = await oidc.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  console.log(JSON.stringify({ access_token: tokens.access_token, claims: tokens.claims() }));
} else {
  console.error(`unknown step ${step}`);
  process.exit(2);
}
