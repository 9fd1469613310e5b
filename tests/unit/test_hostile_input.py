"""Hostile input against every portal route: a malformed or hostile request gets a friendly 4xx page,
never a 500 or a traceback, never a session, and never has its input reflected unescaped.

Most requests are built the way a WSGI server (waitress) hands them over: the raw bytes of the path,
query string and headers decoded as latin-1 into the environ. That bypasses the checks of werkzeug's
test client, so what is tested is what really reaches the app.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from kiosk import probes
from kiosk.web.app import MAX_REQUEST_BYTES
from tests.conftest import KIT_IP, PHONE_IP, PHONE_MAC, PortalKit
from tests.unit.test_portal_probes import PORTAL, PROBES, accept

CONNECTED_IP, CONNECTED_MAC = "10.42.0.77", "5a:00:00:00:00:77"
STRANGER_IP = "10.42.0.99"
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD")
KIT_PATHS = ("/", "/accept", "/welcome", "/info", "/api/captive", "/static/portal.css")
PROBE_URLS = tuple(url for url, _status, _body in PROBES)
ODD_PATHS = (
    "//", "/accept/", "/welcome/x", "/api/captive/", "/api/", "/api/nothing", "/static/", "/static/..",
    "/static/../kiosk.db", "/static/%2e%2e/app.py", "/static/portal.css/..", "/static/portal.css\x00.txt",
    "/static/" + "a" * 5000, "/healthz", "/generate_204", "/hotspot-detect.html", "/\x00", "/%", "/%zz",
    "/é", "/\u202e", "/" + "é" * 3000,
)
ODD_VALUES = (
    "", " ", "xx", "FR", "fr-FR", "fr ", " ar", "fr\x00", "\x00", "fr;q=1", "../fr", "fr/../../etc",
    "<script>", "\"'><", "%00", "%", "العربية", "uk\u202e", "😀", "e" * 10_000, "None", "null", "[]", "{}",
)
ODD_HOSTS = (
    "", " ", ":", ":80", "[", "]", "[]", "[::1]", "[::1]:80", "[::1", "::1", "[fe80::1%eth0]:8080",
    f"{KIT_IP}:", f"{KIT_IP}:99999", f"{KIT_IP}:-1", f"{KIT_IP}:abc", f"{KIT_IP} {KIT_IP}", f"{KIT_IP},evil.example",
    f"{KIT_IP}@evil.example", f"evil.example@{KIT_IP}", f"{KIT_IP}/x", f"{KIT_IP}\x00", "localhost.", "LOCALHOST",
    "xn--caf-dma.example", "café.example", "مثال.example", "\x00", "a" * 5000, "<script>",
)
ODD_HEADER_VALUES = (
    "", "*", ";;;,,,", "ar;q=1e400", "fr;q=nan", "en;q=-1", "uk;q=0.9;q=1", "x" * 10_000, "\x00", "😀",
    "=; =; a=\x01", "session=" + "A" * 4000, f"{CONNECTED_IP}", f"{CONNECTED_IP}, {PHONE_IP}", "unknown",
    "for=\"[::1]\";proto=https", "bytes=0-0,-1", "bytes=99999999-", "Thu, 01 Jan 1970 00:00:00 GMT", "garbage-date",
)
HEADER_NAMES = (
    "Accept-Language", "Accept", "Cookie", "User-Agent", "Referer", "Origin", "X-Forwarded-For", "X-Real-IP",
    "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "If-Modified-Since", "If-None-Match", "Range",
    "Authorization", "Transfer-Encoding", "Expect", "Accept-Encoding",
)
CONTENT_TYPES = (
    "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=latin-9",
    "multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=x",
    "multipart/form-data; boundary=\"\"", "multipart/form-data; boundary=" + "b" * 200,
    "multipart/form-data; boundary=é", "multipart/form-data; boundary=\"a\\\"b\"", "multipart/mixed; boundary=x",
    "application/json", "text/plain", "application/octet-stream", "", ";", "text/html; charset=\x00", "é/é",
)


def _no_newline(raw: bytes) -> bytes:
    return raw.replace(b"\r", b"").replace(b"\n", b"")


def _wsgi(value: str | bytes) -> str:
    """What a WSGI server puts in the environ: the request's raw bytes decoded as latin-1."""
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return raw.decode("latin-1")


def _variant_of_probe_host(host: str, upper: bool, port: str, dot: bool) -> str:
    return (host.upper() if upper else host) + ("." if dot else "") + port


# -- strategies -------------------------------------------------------------------------------------------

utf8 = st.characters(codec="utf-8")  # what a phone can encode: no lone surrogates
any_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=200)
any_bytes = st.binary(max_size=200).map(_no_newline)
odd_value = st.one_of(st.sampled_from(ODD_VALUES), any_text)
kit_hosts = st.sampled_from((KIT_IP, f"{KIT_IP}:80", f"{KIT_IP}:8080", f"{KIT_IP}.", "localhost", "127.0.0.1:80"))
probe_hosts = st.builds(_variant_of_probe_host, st.sampled_from(sorted(probes.PROBE_HOSTS)), st.booleans(),
                        st.sampled_from(("", ":80", ":443", ":0", ":x")), st.booleans())
hosts = st.one_of(kit_hosts, probe_hosts, st.sampled_from(ODD_HOSTS), any_text, any_bytes)
paths = st.one_of(
    st.sampled_from(KIT_PATHS),
    st.sampled_from(sorted({path for probe in probes.PROBES for path in probe.answers if path != "*"})),
    st.sampled_from(ODD_PATHS),
    any_text.map(lambda text: "/" + text),
    any_bytes.map(lambda raw: b"/" + raw),
)
probe_paths = st.sampled_from(PROBE_URLS).map(lambda url: "/" + url.removeprefix("http://").split("/", 1)[1])
# Where a request lands: the kit's own pages, odd paths on the kit, OS probes, or anything at all.
targets = st.one_of(
    st.tuples(kit_hosts, st.sampled_from(KIT_PATHS)),
    st.tuples(kit_hosts, paths),
    st.tuples(probe_hosts, st.one_of(probe_paths, paths)),
    st.tuples(hosts, paths),
)
query_keys = st.one_of(st.sampled_from(("lang", "lang", "csrf_token", "accept", "next", "url", "")), any_text)
query_pair = st.tuples(query_keys, odd_value).map(lambda kv: f"{quote(kv[0], safe='')}={quote(kv[1], safe='')}")
raw_query_part = st.one_of(
    st.sampled_from(("%", "%zz", "%e9", "%c3", "lang", "lang=", "=fr", "&&", ";", "lang=%", "lang=fr%00", "a=%%%")),
    any_text.map(_wsgi),  # a sloppy client sending unencoded UTF-8
)
query_strings = st.lists(st.one_of(query_pair, raw_query_part), max_size=6).map("&".join)
header_values = st.one_of(st.sampled_from(ODD_HEADER_VALUES), any_text.map(_wsgi), any_bytes.map(_wsgi))
header_names = st.one_of(st.sampled_from(HEADER_NAMES), st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True))
headers = st.dictionaries(header_names, header_values, max_size=6)
content_types = st.one_of(st.sampled_from(CONTENT_TYPES), any_text.map(_wsgi))


@st.composite
def raw_bodies(draw: st.DrawFn) -> bytes:
    """Bodies a confused or hostile client sends: broken multipart, broken percent-escapes, plain noise."""
    boundary = draw(st.sampled_from((b"x", b"", b"b" * 200, b"\xc3\xa9", b"--")))
    part = draw(st.sampled_from((
        b'Content-Disposition: form-data; name="csrf_token"\r\n\r\n' + b"1.2",
        b'Content-Disposition: form-data; name="accept"\r\n\r\nyes',
        b"Content-Disposition: form-data; name=\"lang\r\n\r\nfr",
        b"Content-Disposition: form-data\r\n\r\nno name",
        b'Content-Disposition: form-data; name="f"; filename="../../etc/passwd"\r\n'
        b"Content-Type: text/plain\r\n\r\n\x00\xff",
        b"no headers at all",
        b"",
    )))
    closing = draw(st.sampled_from((b"--" + boundary + b"--\r\n", b"--" + boundary, b"", b"--y--\r\n")))
    return draw(st.one_of(
        st.just(b"--" + boundary + b"\r\n" + part + b"\r\n" + closing),
        st.sampled_from((
            b"csrf_token=%zz&accept=yes%&lang=%e9%", b"%", b"&&&==&", b"accept=yes&accept=yes",
            b"csrf_token=" + b"f" * 5000 + b".x&accept=yes", b"lang=\xff\xfe&accept=\x00yes",
            b"a=1&" * 1500, b'{"csrf_token": "x", "accept": "yes"}',
        )),
        st.binary(max_size=2000),
    ))


@dataclass(frozen=True)
class Token:
    """A csrf_token as a hostile client might send it; resolved against the kit when sent."""

    kind: str  # absent, garbage, forged (fresh timestamp, made-up signature), stranger, mine
    text: str = ""


tokens = st.one_of(
    st.just(Token("absent")),
    st.builds(Token, st.just("garbage"), st.one_of(st.sampled_from(ODD_VALUES), st.text(utf8, max_size=120))),
    st.builds(Token, st.just("forged"), st.text(utf8, max_size=60)),
    st.just(Token("stranger")),
    st.just(Token("mine")),
)
form_values = st.one_of(st.sampled_from(("yes", "YES", "Yes", "yes ", " yes", "on", "1", "true", "no", "")),
                        odd_value)
form_names = st.one_of(st.sampled_from(("csrf_token", "accept", "lang", "")), st.text(utf8, max_size=40))


# -- the kit under attack ----------------------------------------------------------------------------------

class Scene:
    """The kit under attack: a captive phone, a connected phone, and the tokens the landing page gave."""

    def __init__(self, kit: PortalKit, captive: FlaskClient, connected: FlaskClient, valid_tokens: dict[str, str],
                 stranger_token: str) -> None:
        self.kit = kit
        self.captive = captive  # a phone that has not accepted the charter
        self.connected = connected  # a phone with an open session
        self.valid_tokens = valid_tokens  # phone IP -> a token the landing page gave it
        self.stranger_token = stranger_token  # a valid token, for another phone's address

    def __repr__(self) -> str:  # keeps hypothesis' falsifying examples short
        return "Scene(captive phone, connected phone)"

    def phone(self, connected: bool) -> FlaskClient:
        return self.connected if connected else self.captive

    def sessions(self) -> list[tuple[str | None, str | None]]:
        return [(s.ip, s.mac) for s in self.kit.apps.kit.access.open_sessions()]


def _token_from(client: FlaskClient) -> str:
    page = client.get(PORTAL).data
    found = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1).decode()


@pytest.fixture
def scene(portal_kit) -> Scene:
    """One kit per test, shared by its examples: a hostile request must not change it anyway."""
    kit = portal_kit()
    connected = kit.phone(ip=CONNECTED_IP, mac=CONNECTED_MAC)
    connected_token = _token_from(connected)  # taken before accepting: the page has no form afterwards
    assert accept(connected).status_code == 303
    captive = kit.phone(ip=PHONE_IP, mac=PHONE_MAC)
    stranger = kit.phone(ip=STRANGER_IP, mac=None)
    valid = {PHONE_IP: _token_from(captive), CONNECTED_IP: connected_token}
    built = Scene(kit, captive, connected, valid, _token_from(stranger))
    assert built.sessions() == [(CONNECTED_IP, CONNECTED_MAC)]
    return built


def fuzz(examples: int):
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def send(client: FlaskClient, method: str, host: str | bytes, path: str | bytes, query: str = "",
         header_map: dict[str, str] | None = None, body: bytes | None = None,
         content_type: str | None = None) -> TestResponse:
    """One request as waitress would hand it to the app (environ values are latin-1 strings)."""
    environ = {"HTTP_HOST": _wsgi(host), "PATH_INFO": _wsgi(path), "QUERY_STRING": query}
    for name, value in (header_map or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    return client.open("/", method=method, data=body, environ_overrides=environ)


def assert_friendly(response: TestResponse, method: str = "GET") -> None:
    """What a person (or the phone's captive sheet) would see: an answer, never a crash or a traceback."""
    body = response.get_data()
    assert response.status_code < 500, (response.status_code, body[:2000])
    assert b"Traceback" not in body, body[:2000]
    assert b'File "/' not in body, body[:2000]
    content_type = response.headers.get("Content-Type", "")
    if response.status_code >= 400 and method != "HEAD":
        if content_type.startswith("text/html"):
            assert b"<html" in body, body[:2000]
        elif content_type.startswith("application/json"):
            assert json.loads(body)["status"] == response.status_code
    if response.status_code == 302:  # the captive redirect: a cached one would trap the phone later
        assert "no-store" in response.headers.get("Cache-Control", ""), response.headers


# -- properties --------------------------------------------------------------------------------------------

@fuzz(150)
@given(connected=st.booleans(), method=st.sampled_from(METHODS), target=targets, query=query_strings,
       header_map=headers, body=st.one_of(st.none(), raw_bodies()), content_type=st.one_of(st.none(), content_types))
def test_any_request_to_any_route_gets_an_answer_never_a_crash(scene, connected, method, target, query,
                                                                header_map, body, content_type):
    """Whatever a phone sends, wherever, it gets a page or a redirect, and nobody gets online by accident."""
    host, path = target
    response = send(scene.phone(connected), method, host, path, query, header_map, body, content_type)
    assert_friendly(response, method)
    assert scene.sessions() == [(CONNECTED_IP, CONNECTED_MAC)]


@fuzz(150)
@given(connected=st.booleans(), token=tokens, accepts=st.lists(form_values, max_size=2),
       lang=st.one_of(st.none(), odd_value), extras=st.lists(st.tuples(form_names, odd_value), max_size=5),
       multipart=st.booleans(), header_map=st.dictionaries(st.sampled_from(HEADER_NAMES), header_values, max_size=3))
def test_a_forged_or_garbled_accept_form_is_refused_and_grants_nothing(scene, connected, token, accepts, lang, extras,
                                                                        multipart, header_map):
    """Only the form the landing page served, with the box ticked, opens the internet; anything else is a
    friendly "this page is out of date" and no session."""
    client = scene.phone(connected)
    ip = CONNECTED_IP if connected else PHONE_IP
    pairs: list[tuple[str, str]] = []
    if token.kind == "garbage":
        pairs.append(("csrf_token", token.text))
    elif token.kind == "forged":
        pairs.append(("csrf_token", f"{int(scene.kit.clock()):x}.{token.text}"))
    elif token.kind == "stranger":
        pairs.append(("csrf_token", scene.stranger_token))
    elif token.kind == "mine":
        pairs.append(("csrf_token", scene.valid_tokens[ip]))
    pairs += [("accept", value) for value in accepts]
    if lang is not None:
        pairs.append(("lang", lang))
    pairs += extras
    form = MultiDict(pairs)
    assume(not (form.get("csrf_token") == scene.valid_tokens[ip] and form.get("accept") == "yes"))
    response = client.open(PORTAL + "accept", method="POST", data=form, headers=header_map,
                           content_type="multipart/form-data" if multipart else None)
    assert_friendly(response, "POST")
    assert 400 <= response.status_code < 500
    assert scene.sessions() == [(CONNECTED_IP, CONNECTED_MAC)]


@fuzz(100)
@given(connected=st.booleans(), host=st.sampled_from((KIT_IP, f"{KIT_IP}:80", "localhost")),
       body=raw_bodies(), content_type=st.one_of(st.none(), content_types), query=query_strings)
def test_broken_encodings_posted_to_accept_get_a_4xx_page(scene, connected, host, body, content_type, query):
    """Broken multipart, invalid percent-escapes or noise: the phone sees a friendly 4xx page."""
    response = send(scene.phone(connected), "POST", host, "/accept", query, body=body, content_type=content_type)
    assert_friendly(response, "POST")
    assert 400 <= response.status_code < 500
    assert scene.sessions() == [(CONNECTED_IP, CONNECTED_MAC)]


@fuzz(60)
@given(connected=st.booleans(), seed=st.binary(min_size=1, max_size=64),
       size=st.integers(min_value=MAX_REQUEST_BYTES + 1, max_value=4 * MAX_REQUEST_BYTES),
       content_type=st.one_of(st.none(), content_types),
       valid_prefix=st.booleans())
def test_bodies_over_64_kib_are_refused_with_413(scene, connected, seed, size, content_type, valid_prefix):
    """A huge post is refused before it is read: "what you sent is too large", in a friendly page."""
    ip = CONNECTED_IP if connected else PHONE_IP
    prefix = f"csrf_token={scene.valid_tokens[ip]}&accept=yes&x=".encode() if valid_prefix else b""
    body = (prefix + seed * (size // len(seed) + 1))[:size]
    response = send(scene.phone(connected), "POST", KIT_IP, "/accept", body=body, content_type=content_type)
    assert response.status_code == 413
    assert_friendly(response, "POST")
    assert scene.sessions() == [(CONNECTED_IP, CONNECTED_MAC)]


@fuzz(100)
@given(connected=st.booleans(), url=st.sampled_from(PROBE_URLS), method=st.sampled_from(METHODS),
       upper=st.booleans(), port=st.sampled_from(("", ":80", ":8080")), dot=st.booleans(),
       query=query_strings, header_map=headers)
def test_probe_answers_and_captive_redirects_are_never_cached(scene, connected, url, method, upper, port, dot,
                                                               query, header_map):
    """A cached probe answer would show a stale "connected" or "captive" state: every one is no-store."""
    host, path = url.removeprefix("http://").split("/", 1)
    response = send(scene.phone(connected), method, _variant_of_probe_host(host, upper, port, dot), "/" + path,
                    query, header_map)
    assert_friendly(response, method)
    assert response.status_code in (200, 204, 302)
    assert "no-store" in response.headers.get("Cache-Control", ""), response.headers


marker_token = st.text(alphabet=string.ascii_letters + string.digits, max_size=12).map(lambda text: f"qzx{text}xzq")


@fuzz(100)
@given(connected=st.booleans(), method=st.sampled_from(("GET", "POST", "HEAD", "PUT")),
       path=st.sampled_from((*KIT_PATHS, "/no-such-page", *ODD_PATHS[:6])),
       host=st.sampled_from((KIT_IP, f"{KIT_IP}:80", "localhost")), token=marker_token,
       shape=st.sampled_from(('<script>{}</script>', '"><img src=x onerror={}>', "'><svg/onload={}>",
                              "</title><{}>", "{{{{7*7}}}}<{}>")))
def test_reflected_input_is_never_echoed_unescaped(scene, connected, method, path, host, token, shape):
    """A link with a script in it cannot make the portal run that script in a participant's browser."""
    payload = shape.format(token)
    wsgi_payload = _wsgi(payload)
    query = "&".join(f"{key}={quote(payload, safe='')}" for key in ("lang", "next", "url", "csrf_token"))
    header_map = {name: wsgi_payload for name in ("Accept-Language", "User-Agent", "Referer", "Cookie",
                                                    "X-Forwarded-Host", "X-Forwarded-For")}
    body = f"lang={quote(payload)}&accept={quote(payload)}&csrf_token={quote(payload)}".encode()
    client = scene.phone(connected)
    for response in (
        send(client, method, host, path, query, header_map, body, "application/x-www-form-urlencoded"),
        send(client, method, payload, path, query, header_map),  # the payload as Host
        send(client, method, host, path + payload, query),  # the payload in the path
    ):
        assert_friendly(response, method)
        page = response.get_data()
        assert payload.encode() not in page
        assert token.encode() not in page  # not even escaped: unknown values are ignored, not echoed
        if b"<html lang=" in page and b"Redirecting" not in page:
            assert re.search(rb'<html lang="(fr|en|ar|uk|es)" dir="(ltr|rtl)">', page), page[:300]


@fuzz(60)
@given(name=st.sampled_from(("X-Forwarded-For", "X-Real-IP", "Forwarded", "Client-IP", "True-Client-IP",
                             "X-Client-IP", "CF-Connecting-IP")),
       value=st.sampled_from((CONNECTED_IP, f"{CONNECTED_IP}, {PHONE_IP}", f"{PHONE_IP}, {CONNECTED_IP}",
                              f"for={CONNECTED_IP}", f"for=\"{CONNECTED_IP}:80\"", f" {CONNECTED_IP} ")),
       url=st.sampled_from(PROBE_URLS))
def test_forwarded_headers_cannot_borrow_another_phones_session(scene, name, value, url):
    """A captive phone claiming to be a connected one in a header stays captive."""
    response = scene.captive.get(url, headers={name: value})
    assert response.status_code == 302
    assert json.loads(scene.captive.get(PORTAL + "api/captive", headers={name: value}).data)["captive"] is True


def test_a_forged_token_with_non_ascii_signature_is_refused_not_a_crash(scene):
    """Regression for a 500: a fresh-looking timestamp with a non-ASCII signature used to crash
    hmac.compare_digest (it refuses non-ASCII str) instead of being refused as an out-of-date form."""
    token = f"{int(scene.kit.clock()):x}.é"
    response = scene.captive.post(PORTAL + "accept", data={"csrf_token": token, "accept": "yes", "lang": "fr"})
    assert_friendly(response, "POST")
    assert response.status_code == 400
    assert scene.sessions() == [(CONNECTED_IP, CONNECTED_MAC)]
