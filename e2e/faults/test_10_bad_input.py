"""Scenario 10: bad input at volume. Malformed form bodies, JWTs (as bearer
tokens, client assertions, jwt-bearer grants and tokens to introspect),
SAML documents (to the assertion consumer service and the saml2-bearer
grant, an entity-expansion bomb among them) and sign-in forms, sent as fast
as a few threads can over both processes; no dependency fails.

Rules: no 5xx (nothing is down, so not even a 503), no dropped connection
(a panic would end one), both processes still the same processes and
serving, memory (RSS) and descriptors bounded. The schema fuzzing of both
APIs (e2e/tests/test_schema_fuzz.py) covers valid-shaped requests; this is
the garbage beside it."""

from __future__ import annotations

import base64
import datetime
import json
import os
import random
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from envapi import EnvApi
from figures import compute, record
from load import Sample

#: Seconds of malformed traffic (the long form's outage setting does not apply).
DURATION_S = float(os.environ.get("TOLLGATE_FAULTS_BAD_INPUT_S", "15"))
THREADS = 6
#: The most RSS (MB) and descriptors a process may gain over the scenario.
RSS_GROWTH_MB = 64
FD_GROWTH = 50

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SAML2_BEARER = "urn:ietf:params:oauth:grant-type:saml2-bearer"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
BOMB = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
        + ']><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&i;</samlp:Response>')


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def bad_jwt(rng: random.Random) -> str:
    """A token that looks more or less like a JWT and is not a valid one."""
    header = rng.choice([
        b'{"alg":"none","typ":"JWT"}', b'{"alg":"HS256"}', b'{"alg":"ES256","kid":"' + b"k" * 300 + b'"}',
        b'{"alg":"RS256","jku":"http://169.254.169.254/"}', b"not json", b"{" * 500, b'{"alg":["ES256"]}',
    ])
    claims = rng.choice([
        b'{"sub":"x","exp":99999999999}', b'{"exp":"soon"}', b"[]", b'{"iss":' + b"1" * 400 + b"}",
        json.dumps({"iss": "attacker", "aud": ["a"] * 50, "nested": [[[[]]]] * 20}).encode(),
    ])
    parts = [_b64(header), _b64(claims), _b64(rng.randbytes(rng.choice([0, 16, 64, 300])))]
    shape = rng.randrange(5)
    if shape == 0:
        return ".".join(parts)
    if shape == 1:
        return ".".join(parts[:2])
    if shape == 2:
        return ".".join(parts + parts)
    if shape == 3:
        return "%%%." + parts[1] + ".\u00e9\u0000"
    return _b64(rng.randbytes(rng.randrange(1, 2000)))


def bad_saml(rng: random.Random) -> str:
    doc = rng.choice([
        BOMB, "<samlp:Response", "<a>" * 2000, rng.randbytes(500).decode("latin-1"),
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x"><Assertion/></samlp:Response>',
    ])
    encoded = base64.b64encode(doc.encode("utf-8", "surrogatepass")).decode()
    return rng.choice([encoded, encoded[: len(encoded) // 2], "!!not base64!!", encoded + "===="])


def bad_form(rng: random.Random) -> bytes:
    return rng.choice([
        rng.randbytes(rng.randrange(1, 4000)),
        b"grant_type=password&" * 500,
        b"grant_type=%zz&username=%&password=%e9",
        b"&&&===&&&",
        b"grant_type=client_credentials&scope=" + b"a" * 70_000,
        b"grant_type=password&username=" + "\u0000\ud7ff".encode("utf-8", "surrogatepass") + b"&password=x",
    ])


def idp_metadata() -> str:
    """An identity provider's metadata with a throwaway signing certificate:
    enough for a contact center's assertion consumer service to parse, and
    refuse, what it is sent."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "faults idp")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    der = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    return (
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.faults.invalid/">'
        '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f'<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{der}'
        '</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>'
        '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
        'Location="https://idp.faults.invalid/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>')


@pytest.fixture(scope="module")
def assertions(dep) -> tuple[str, tuple[str, str]]:
    """Where assertions are parsed: a contact center signing in with SAML
    that accepts unsolicited answers (without a provider its assertion
    consumer service answers 404 before parsing), known to both processes,
    and a client allowed the jwt-bearer and saml2-bearer grants (others are
    refused before the assertion is read)."""
    srv = dep.servers[0]
    api = EnvApi(srv.base_url, auth=srv.ops)
    cc = api.create_contact_center_ok(srv.environment_id, domains=[f"badsaml{secrets.token_hex(4)}"], auth="saml")["id"]
    r = api.call("PUT", f"/contact-centers/{cc}/saml", {"idpMetadata": idp_metadata(), "allowIdpInitiated": True})
    assert r.status_code == 200, r.text
    secret = secrets.token_hex(16)
    client = srv.create_client(client_secret=secret, authorizedGrantTypes=[JWT_BEARER, SAML2_BEARER])
    deadline = time.monotonic() + 10
    for s in dep.servers:
        while requests.get(f"{s.base_url}/auth/v3/sso/saml/{cc}/metadata", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, f"{s.base_url} does not know the SAML contact center"
            time.sleep(0.1)
    return cc, (client["client_id"], secret)


class Blaster:
    """Sends one kind of malformed request after another to both processes."""

    def __init__(self, dep, assertions, seed: int):
        self.dep, self.rng = dep, random.Random(seed)
        self.client = dep.tenant.client
        self.cc, self.grant_client = assertions

    def one(self) -> Sample:
        target = self.rng.randrange(len(self.dep.servers))
        base = self.dep.servers[target].base_url
        op, method, path, kw = self.rng.choice(self.kinds())(base)
        start = time.monotonic()
        try:
            r = requests.request(method, base + path, timeout=10, allow_redirects=False, **kw)
            status, retry, detail = r.status_code, r.headers.get("Retry-After"), r.text[:200]
        except requests.exceptions.Timeout:
            status, retry, detail = "timeout", None, ""
        except requests.exceptions.ConnectionError as e:
            status, retry, detail = "conn", None, str(e)[:200]
        ok = isinstance(status, int) and status < 500
        return Sample(start, time.monotonic(), op, target, status, retry, ok, detail)

    def kinds(self):
        rng, client, cc, grant_client = self.rng, self.client, self.cc, self.grant_client
        token, form = "/auth/v3/oauth/token", {"Content-Type": "application/x-www-form-urlencoded"}
        return [
            lambda b: ("form", "POST", token, {"data": bad_form(rng), "headers": form, "auth": client}),
            lambda b: ("form unauthenticated", "POST", token, {"data": bad_form(rng), "headers": form}),
            lambda b: ("bearer", "GET", "/auth/v3/openid/userinfo",
                       {"headers": {"Authorization": "Bearer " + bad_jwt(rng)}}),
            lambda b: ("introspect", "POST", "/auth/v3/oauth/introspect",
                       {"data": {"token": bad_jwt(rng)}, "auth": client}),
            lambda b: ("client assertion", "POST", token,
                       {"data": {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
                                 "client_assertion": bad_jwt(rng), "client_id": client[0]}}),
            lambda b: ("jwt-bearer", "POST", token,
                       {"data": {"grant_type": JWT_BEARER, "assertion": bad_jwt(rng)}, "auth": grant_client}),
            lambda b: ("saml2-bearer", "POST", token,
                       {"data": {"grant_type": SAML2_BEARER, "assertion": bad_saml(rng)}, "auth": grant_client}),
            # No RelayState or a URL: an unsolicited answer, parsed; anything
            # else names no flight and is refused before parsing.
            lambda b: ("saml acs", "POST", f"/auth/v3/sso/saml/{cc}/acs",
                       {"data": {"SAMLResponse": bad_saml(rng),
                                 "RelayState": rng.choice(["", "https://app.example/after", bad_jwt(rng)])}}),
            lambda b: ("sign-in form", "POST", "/auth/v3/sign-in",
                       {"data": bad_form(rng), "headers": form}),
        ]


def _resources(dep) -> list[tuple[float, int]]:
    return [(round(dep.rss_mb(i), 1), dep.fds(i)) for i in range(len(dep.servers))]


@pytest.fixture(scope="module")
def outcome(dep, assertions):
    pids = tuple(s.proc.pid for s in dep.servers)
    before = _resources(dep)
    deadline = time.monotonic() + DURATION_S

    def worker(n: int) -> list[Sample]:
        blaster, samples = Blaster(dep, assertions, seed=n), []
        while time.monotonic() < deadline:
            samples.append(blaster.one())
        return samples

    with ThreadPoolExecutor(THREADS) as pool:
        samples = [s for batch in pool.map(worker, range(THREADS)) for s in batch]
    after = _resources(dep)
    figures = compute("bad input at volume", samples)
    figures.extra.update({
        "requests/s": round(len(samples) / DURATION_S, 1),
        "answers by status": dict(sorted(_count(str(s.status) for s in samples).items())),
        "answers by kind": dict(sorted(_count(s.op for s in samples).items())),
        "RSS MB, fds (before)": before, "RSS MB, fds (after)": after,
    })
    figures.durable = "not checked (no fault)"
    record(figures)
    return {"samples": samples, "before": before, "after": after, "pids": pids}


def _count(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def test_no_server_error_and_no_dropped_connection(outcome):
    bad = [f"{s.op} on #{s.target}: {s.status} {s.detail}" for s in outcome["samples"] if not s.ok]
    assert not bad, bad[:10]


def test_every_kind_was_sent(outcome):
    kinds = {s.op for s in outcome["samples"]}
    assert len(kinds) == 9 and len(outcome["samples"]) > 100, sorted(kinds)


def test_saml_documents_reach_the_parsers(outcome):
    # Otherwise the SAML kinds prove nothing: both refused documents as SAML,
    # not only as bad base64 or for want of a provider.
    acs = [s for s in outcome["samples"] if s.op == "saml acs"]
    assert any(s.status == 403 for s in acs), _count(str(s.status) for s in acs)
    bearer = [s for s in outcome["samples"] if s.op == "saml2-bearer"]
    assert any("not one SAML 2.0 Assertion" in s.detail for s in bearer), {s.detail[:80] for s in bearer}
    jwts = [s for s in outcome["samples"] if s.op == "jwt-bearer"]
    assert not any("unauthorized_client" in s.detail for s in jwts), {s.detail[:80] for s in jwts}


def test_the_processes_survive_and_serve(outcome, dep):
    assert tuple(s.proc.pid for s in dep.servers) == outcome["pids"]
    for s in dep.servers:
        r = requests.post(s.token_url, data={"grant_type": "client_credentials"}, auth=dep.tenant.client, timeout=10)
        assert r.status_code == 200, r.text


def test_memory_and_descriptors_stay_bounded(outcome):
    for i, ((rss0, fd0), (rss, fd)) in enumerate(zip(outcome["before"], outcome["after"])):
        assert rss - rss0 <= RSS_GROWTH_MB, f"process {i} RSS {rss0} -> {rss} MB"
        assert fd - fd0 <= FD_GROWTH, f"process {i} descriptors {fd0} -> {fd}"
