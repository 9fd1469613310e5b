"""The mediators' dashboard through Flask's test client, on a real store: every route needs a login but /login,
wrong passwords are refused and rate-limited, every form needs its CSRF token, the Host is checked, and the
field work (outing, activity records, lists) does what the mediator asked."""

from __future__ import annotations

import html
import re
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.test import TestResponse

from kiosk import create_app
from kiosk.runtime import Adapters
from kiosk.services.auth import verify_password, write_password_file
from kiosk.web.app import Apps
from tests.conftest import FixedUplink, ManualClock, make_settings

BASE = "http://127.0.0.1:8081"
PASSWORD = "correct horse battery"  # noqa: S105 - the test kit's own password
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')

GET_ROUTES = ["/", "/outing", "/activity", "/activity?kind=individuel", "/appointments", "/tablets", "/questionnaire",
              "/sessions", "/reports", "/reports/week/2026-W38", "/reports/month/2026-09",
              "/reports/month/2026-09/activities.csv",
              "/reports/month/2026-09/activities.xlsx", "/reports/month/2026-09?print=1", "/clock", "/privacy",
              "/slots", "/slots/day"]
POST_ROUTES = ["/logout", "/outing/start", "/outing/end", "/activity", "/activity/1/delete", "/appointments/1/done",
               "/tablets/tab-1/lend", "/tablets/tab-1/return", "/tablets/tab-1/wipe", "/sessions/1/revoke",
               "/clock/phone", "/clock/network", "/privacy/purge", "/slots", "/slots/1/delete", "/slots/1/done",
               "/slots/import"]


@dataclass
class Dashboard:
    apps: Apps
    clock: ManualClock
    tmp: Path

    def __post_init__(self) -> None:
        self.client = self.apps.dashboard.test_client()

    @property
    def context(self):
        return self.apps.dashboard.extensions["kiosk.dashboard"]

    def get(self, path: str, **options) -> TestResponse:
        return self.client.get(BASE + path, **options)

    def post(self, path: str, data: dict | None = None, token: bool = True, **options) -> TestResponse:
        data = dict(data or {})
        if token and "csrf_token" not in data:
            data["csrf_token"] = self.token()
        return self.client.post(BASE + path, data=data, **options)

    def token(self) -> str:
        page = self.get("/login" if not self.logged_in() else "/clock")
        return TOKEN.search(page.get_data(as_text=True)).group(1)

    def logged_in(self) -> bool:
        return self.get("/privacy").status_code == 200

    def login(self, password: str = PASSWORD) -> TestResponse:
        return self.post("/login", {"password": password})

    def text(self, path: str) -> str:
        response = self.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return response.get_data(as_text=True)

    def visible(self, path: str) -> str:
        """The page's text with HTML entities decoded (an apostrophe is sent as &#39;)."""
        return html.unescape(self.text(path))

    def start_outing(self, **changes) -> TestResponse:
        values = {"place": "Place du marché", "commune": "Clamecy", "insee_code": "58079", "place_kind": "market",
                  "mediators": "Awa, Jules"}
        values.update(changes)
        return self.post("/outing/start", values)


def build(tmp_path: Path, clock: ManualClock | None = None, password: bool = True, **changes) -> Dashboard:
    clock = clock or ManualClock()
    if password:
        write_password_file(tmp_path / "dashboard.password", PASSWORD)
    settings = make_settings(tmp_path, dashboard__password_file=str(tmp_path / "dashboard.password"), **changes)
    return Dashboard(create_app(settings, Adapters(uplink=FixedUplink(), clock=clock)), clock, tmp_path)


@pytest.fixture
def dash(tmp_path: Path) -> Dashboard:
    return build(tmp_path)


@pytest.fixture
def mediator(dash: Dashboard) -> Dashboard:
    assert dash.login().status_code == 303
    return dash


# --- access ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", GET_ROUTES)
def test_every_page_sends_a_logged_out_visitor_to_the_login_page(dash, path):
    response = dash.get(path)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?next=")
    assert "Se connecter" in dash.text("/login") or "Log in" in dash.text("/login")


@pytest.mark.parametrize("path", POST_ROUTES)
def test_every_form_sends_a_logged_out_visitor_to_the_login_page(dash, path):
    response = dash.post(path, {"place": "x"})
    assert response.status_code == 303 and response.headers["Location"].startswith("/login")


def test_the_right_password_opens_a_session_with_a_strict_http_only_cookie(dash):
    response = dash.login()
    assert response.status_code == 303 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert "triporteur_dashboard=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert dash.get("/").status_code == 200


def test_login_returns_to_the_page_asked_but_never_elsewhere(dash):
    token = dash.token()
    assert dash.post("/login", {"password": PASSWORD, "next": "/tablets", "csrf_token": token}
                     ).headers["Location"] == "/tablets"
    dash.post("/logout")
    token = dash.token()
    assert dash.post("/login", {"password": PASSWORD, "next": "//evil.example/x", "csrf_token": token}
                     ).headers["Location"] == "/"


def _login_from(dash: Dashboard, address: str, password: str = PASSWORD) -> TestResponse:
    elsewhere = {"REMOTE_ADDR": address}
    page = dash.client.get(BASE + "/login", environ_base=elsewhere).get_data(as_text=True)
    return dash.client.post(BASE + "/login", data={"password": password, "csrf_token": TOKEN.search(page)[1]},
                            environ_base=elsewhere)


def test_wrong_passwords_are_refused_then_rate_limited_even_across_a_restart(dash, tmp_path):
    for _ in range(5):
        response = dash.login("wrong password")
        assert response.status_code == 401
        assert "Mot de passe incorrect" in response.get_data(as_text=True)
    blocked = dash.login()  # even the right one, from this address, for a while
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert "Trop de mots de passe incorrects" in blocked.get_data(as_text=True)
    assert _login_from(dash, "10.42.1.30").status_code == 303  # another address has its own budget

    restarted = build(tmp_path, clock=dash.clock)  # a power cut: the guesser's budget is not handed back
    assert restarted.login().status_code == 429
    dash.clock.advance(901)
    assert restarted.login().status_code == 303


def test_a_guesser_on_many_addresses_never_locks_out_a_mediator_who_typed_nothing_wrong(dash):
    for host in range(10, 20):  # 50 wrong passwords, 5 from each of 10 addresses: the kit's whole budget
        for _ in range(5):
            assert _login_from(dash, f"10.42.1.{host}", "guess").status_code == 401
    assert _login_from(dash, "10.42.1.60", "guess").status_code == 401  # one try for a new address...
    assert _login_from(dash, "10.42.1.60").status_code == 429  # ...then it waits with the kit
    assert _login_from(dash, "10.42.1.99").status_code == 303  # the mediator's phone is let in


def test_login_without_a_password_file_says_how_to_set_one(tmp_path):
    dash = build(tmp_path, password=False)
    page = dash.text("/login")
    assert "kiosk dashboard set-password" in page and 'type="password"' not in page
    token = dash.context.csrf.issue("dashboard", "anon:127.0.0.1")
    assert dash.post("/login", {"password": "anything at all", "csrf_token": token}).status_code == 503


def test_sessions_expire_after_session_minutes(tmp_path):
    dash = build(tmp_path, dashboard__session_minutes=30)
    dash.login()
    dash.clock.advance(29 * 60)
    assert dash.get("/").status_code == 200
    dash.clock.advance(2 * 60)
    assert dash.get("/").status_code == 303


def test_a_new_password_ends_the_sessions_opened_with_the_old_one(mediator):
    write_password_file(mediator.tmp / "dashboard.password", "another long password")
    assert mediator.get("/").status_code == 303
    assert mediator.login("another long password").status_code == 303


def test_logout_ends_the_session(mediator):
    assert mediator.post("/logout").status_code == 303
    assert mediator.get("/").status_code == 303


@pytest.mark.parametrize("path", ["/login", *POST_ROUTES])
def test_a_form_without_its_csrf_token_is_refused_with_400(mediator, path):
    response = mediator.post(path, {"password": PASSWORD, "place": "x"}, token=False)
    assert response.status_code == 400
    forged = mediator.post(path, {"password": PASSWORD, "csrf_token": "0.forged"}, token=False)
    assert forged.status_code == 400


def test_a_token_from_another_session_is_refused(dash):
    dash.login()
    token = dash.token()
    other = build(dash.tmp / "other")
    other.login()
    assert other.post("/privacy/purge", {"csrf_token": token}, token=False).status_code == 400


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8081", "127.0.0.1.evil.example", "", "localhost"])
def test_requests_for_another_host_are_refused(dash, host):
    response = dash.client.get("/login", headers={"Host": host}) if host else dash.client.get(
        "/login", environ_overrides={"HTTP_HOST": ""})
    assert response.status_code == 400


def test_allowed_hosts_are_answered(tmp_path):
    dash = build(tmp_path, dashboard__allowed_hosts=["tableau.home.arpa"])
    assert dash.client.get("http://tableau.home.arpa:8081/login").status_code == 200


def test_pages_carry_a_strict_content_security_policy(mediator):
    response = mediator.get("/clock")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'nonce-" in policy and "frame-ancestors 'none'" in policy
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    assert f'<script nonce="{nonce}">' in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    for path in ("/", "/outing", "/activity?kind=individuel", "/reports/month/2026-09"):
        assert "<script" not in mediator.text(path), "only the clock page has a script"


@pytest.mark.parametrize("path", GET_ROUTES)
def test_every_page_answers_a_logged_in_mediator(mediator, path):
    assert mediator.get(path).status_code == 200


def test_unknown_pages_and_periods_are_404_not_500(mediator):
    for path in ("/nothing", "/reports/week/2026-W99", "/reports/year/2026", "/reports/month/2026-13",
                 "/reports/outing/99", "/reports/outing/abc", "/activity?kind=party"):
        assert mediator.get(path).status_code == 404, path


def test_the_health_check_answers_without_login(dash):
    response = dash.get("/healthz")
    assert response.status_code == 200 and response.json["status"] == "ok"


# --- the outing -----------------------------------------------------------------------------------------

def test_start_and_end_an_outing(mediator):
    assert mediator.start_outing().status_code == 303
    page = mediator.text("/")
    assert "Place du marché" in page and "Clamecy (58079)" in page
    outing = mediator.context.outings.current()
    assert outing.mediators == "Awa, Jules" and outing.place_kind == "market"
    assert mediator.start_outing(place="Ailleurs").status_code == 303  # a second one is refused with a note
    assert "déjà" in mediator.text("/outing")
    ended = mediator.post("/outing/end", {"outing": str(outing.id)})
    assert ended.headers["Location"] == f"/reports/outing/{outing.id}"
    assert mediator.context.outings.current() is None
    assert "Place du marché" in mediator.text("/outing")  # offered again as "same place as before"


@pytest.mark.parametrize("field, value", [("insee_code", "5807"), ("insee_code", "58 079"), ("place", ""),
                                          ("commune", "x" * 81), ("mediators", "y" * 121)])
def test_an_outing_with_a_wrong_field_is_shown_again(mediator, field, value):
    response = mediator.start_outing(**{field: value})
    assert response.status_code == 422
    assert mediator.context.outings.current() is None


def test_corsican_insee_codes_are_accepted(mediator):
    assert mediator.start_outing(commune="Ajaccio", insee_code="2a004").status_code == 303
    assert mediator.context.outings.current().insee_code == "2A004"


def test_an_impossible_kind_of_place_is_400(mediator):
    assert mediator.start_outing(place_kind="moon").status_code == 400


def test_hostile_text_is_escaped_everywhere_it_is_shown(mediator):
    mediator.start_outing(place="<script>alert(1)</script>", commune='"><img src=x>', mediators="<b>x</b>")
    for path in ("/", "/outing", "/reports"):
        page = mediator.text(path)
        assert "<script>alert" not in page and '"><img' not in page and "<b>x</b>" not in page
        assert "&lt;script&gt;" in page


# --- activity records ------------------------------------------------------------------------------------

def record(dash: Dashboard, **values) -> TestResponse:
    data = {"kind": "individuel", "duration": "30", "themes": ["email"]}
    data.update(values)
    return dash.post("/activity", data)


def test_an_activity_is_recorded_in_three_posts_worth_of_taps(mediator):
    mediator.start_outing()
    kinds = mediator.text("/activity")
    assert 'href="/activity?kind=individuel"' in kinds and "kind=demarche" not in kinds
    form = mediator.text("/activity?kind=individuel")
    assert 'value="30" checked' in form  # the kind's usual duration is already chosen
    saved = mediator.post("/activity", {"kind": "individuel", "duration": "45", "procedure_themes": ["logement"],
                                        "themes": ["aide_aux_demarches_administratives"]})
    assert saved.status_code == 303
    [made] = mediator.context.activity.recent(mediator.context.outings.current().id)
    assert made.entry.procedure_themes == ("logement",) and made.entry.duration_min == 45
    assert made.outing_id == mediator.context.outings.current().id


def test_a_procedure_alone_is_refused_in_plain_words(mediator):
    response = mediator.post("/activity", {"kind": "individuel", "duration": "30", "procedure_themes": ["logement"]})
    assert response.status_code == 422
    assert "Une démarche va avec le thème « Aide aux démarches administratives »" in html.unescape(
        response.get_data(as_text=True))
    assert mediator.context.activity.recent(None) == []


def test_the_former_procedure_kind_is_gone(mediator):
    assert mediator.get("/activity?kind=demarche").status_code == 404


def test_a_record_needs_a_theme(mediator):
    response = mediator.post("/activity", {"kind": "individuel", "duration": "30"})
    assert response.status_code == 422
    assert mediator.context.activity.recent(None) == []


@pytest.mark.parametrize("values", [{"kind": "party"}, {"duration": "31"}, {"themes": ["astrology"]},
                                    {"autonomy": "total"}, {"age_band": "7"}, {"referral": "moon"},
                                    {"procedure_themes": ["x"]}])
def test_values_no_form_can_send_are_refused(mediator, values):
    assert record(mediator, **values).status_code == 400


def test_a_collective_workshop_counts_its_participants(mediator):
    saved = record(mediator, kind="collectif", duration="90", participants="7", workshop_title="Premiers pas")
    assert saved.status_code == 303
    [made] = mediator.context.activity.recent(None)
    assert made.entry.participants == 7 and made.entry.workshop_title == "Premiers pas"
    assert record(mediator, kind="collectif", duration="90", participants="0").status_code == 422


def test_a_mistaken_record_can_be_undone_the_same_day(mediator):
    record(mediator)
    [made] = mediator.context.activity.recent(None)
    assert f'/activity/{made.id}/delete' in mediator.text(f"/activity?saved={made.id}")
    assert mediator.post(f"/activity/{made.id}/delete").status_code == 303
    assert mediator.context.activity.recent(None) == []
    record(mediator)
    [later] = mediator.context.activity.recent(None)
    mediator.clock.advance(2 * 86400)
    mediator.post(f"/activity/{later.id}/delete")
    assert mediator.context.activity.recent(None) != []


def test_an_origin_revealing_theme_is_never_listed_per_record(mediator):
    record(mediator, themes=["aide_aux_demarches_administratives"], procedure_themes=["etrangers_europe", "logement"])
    page = mediator.text("/activity")
    assert "Logement" in page and "étrangers" not in page.lower()


# --- lists ------------------------------------------------------------------------------------------------

def test_appointment_requests_are_listed_and_marked(mediator):
    from kiosk.services.survey.appointments import Request

    mediator.start_outing()
    service = mediator.apps.kit.survey.appointments
    first = service.request(Request("Fatou", "06 12 34 56 78", "", "morning"), "fr").id
    service.request(Request("<b>Ana</b>", "ana@example.org", "", "any"), "es")
    page = mediator.text("/appointments")
    assert "Fatou" in page and "06 12 34 56 78" in page and "&lt;b&gt;Ana&lt;/b&gt;" in page
    assert mediator.post(f"/appointments/{first}/done").status_code == 303
    assert mediator.post(f"/appointments/{first}/lost").status_code == 404
    with mediator.apps.kit.store.read() as db:
        rows = db.execute("SELECT status, outing_id FROM appointment_follow_up ORDER BY id").fetchall()
    outing = mediator.context.outings.current().id
    assert [tuple(row) for row in rows] == [("done", outing), ("pending", outing)]
    assert mediator.post("/appointments/999/done").status_code == 303


def test_participants_sessions_are_listed_and_revoked(mediator):
    access = mediator.apps.kit.access
    session = access.grant("10.42.0.23", "5a:11:22:33:44:55", "fr")
    page = mediator.text("/sessions")
    assert "10.42.0.23" in page and "5a:11:22:33:44:55" in page
    assert mediator.post(f"/sessions/{session.id}/revoke").status_code == 303
    assert access.open_sessions() == []
    assert mediator.post(f"/sessions/{session.id}/revoke").status_code == 303
    assert "déjà terminée" in mediator.text("/sessions")


def test_tablet_actions_that_cannot_be_done_say_why(mediator):
    from provisioning.inventory import Inventory

    Inventory(mediator.apps.kit.store, mediator.clock).enroll("tab-1", "android", "android-user", {},
                                                              address="127.0.0.1:5555")
    page = mediator.text("/tablets")
    assert "tab-1" in page and 'http-equiv="refresh" content="2"' in page  # a wipe is pending: fast refresh
    assert mediator.post("/tablets/tab-1/lend").status_code == 303
    assert "only a ready tablet is lent" in mediator.text("/tablets")
    assert mediator.post("/tablets/nothing/wipe").status_code == 303
    assert mediator.post("/tablets/tab-1/dance").status_code == 404


def test_internet_sessions_visits_requests_and_loans_belong_to_the_open_outing(mediator):
    from kiosk.services.survey.appointments import Request
    from provisioning.inventory import Inventory

    kit = mediator.apps.kit
    mediator.start_outing()
    outing = mediator.context.outings.current().id
    kit.access.grant("10.42.0.23", "5a:11:22:33:44:55", "fr")
    kit.survey.appointments.request(Request("Fatou", "0612345678", "", "any"), "fr")
    visit = kit.survey.visits.start(kit.survey.library.default, "fr", "n-2")
    inventory = Inventory(kit.store, mediator.clock)
    inventory.enroll("tab-9", "android", "android-user", {}, address="127.0.0.1:5555")
    inventory.transition("tab-9", "ready", "verified clean")
    inventory.transition("tab-9", "lent", "lent")
    with kit.store.read() as db:
        assert db.execute("SELECT outing_id FROM access_sessions").fetchone()[0] == outing
        assert db.execute("SELECT outing_id FROM appointment_follow_up").fetchone()[0] == outing
        assert db.execute("SELECT outing_id FROM survey_visits WHERE id = ?", (visit.id,)).fetchone()[0] == outing
        assert db.execute("SELECT outing_id, returned_at FROM tablet_loans").fetchone()[:] == (outing, None)
    inventory.transition("tab-9", "wiping", "returned")
    with kit.store.read() as db:
        assert db.execute("SELECT returned_at FROM tablet_loans").fetchone()[0] is not None


# --- data protection ---------------------------------------------------------------------------------------

def test_purge_now_clears_what_outlived_its_retention(mediator):
    record(mediator, age_band="soixante_dix_plus", gender="feminin")
    mediator.apps.kit.access.grant("10.42.0.23", "5a:11:22:33:44:55", "fr")
    mediator.apps.kit.access.revoke(ip="10.42.0.23")
    assert "Purger maintenant" in mediator.text("/privacy")
    mediator.clock.advance(400 * 86400)
    mediator.login()
    assert mediator.post("/privacy/purge").status_code == 303
    [made] = mediator.context.activity.recent(None)
    assert made.entry.age_band is None and made.entry.gender is None and made.entry.themes == ("email",)
    with mediator.apps.kit.store.read() as db:
        assert db.execute("SELECT count(*) FROM access_sessions").fetchone()[0] == 0


# --- the command line ----------------------------------------------------------------------------------------

def test_set_password_from_stdin_writes_a_private_scrypt_hash(tmp_path):
    config = tmp_path / "kit.toml"
    target = tmp_path / "secrets" / "dashboard.password"
    config.write_text(f'[dashboard]\npassword_file = "{target}"\n[store]\npath = "{tmp_path / "kiosk.db"}"\n')
    done = subprocess.run([sys.executable, "-m", "kiosk", "--config", str(config), "dashboard", "set-password",
                           "--stdin"], input="un mot de passe long\n", capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    line = target.read_text()
    assert re.fullmatch(r"scrypt\$16384\$8\$1\$[0-9a-f]{32}\$[0-9a-f]{64}\n", line)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert verify_password("un mot de passe long", line) and not verify_password("un autre", line)
    short = subprocess.run([sys.executable, "-m", "kiosk", "--config", str(config), "dashboard", "set-password",
                            "--stdin"], input="court\n", capture_output=True, text=True, timeout=60, check=False)
    assert short.returncode == 2 and "at least 8" in short.stderr
    assert target.read_text() == line


ODD_VALUES = ("", " ", "x" * 5000, "<script>alert(1)</script>", "\x00", "é" * 300, "😀", "1e400", "-1", "../../etc",
              "None", "[]", "%00", "\u202e")


@pytest.mark.parametrize("path", [*POST_ROUTES[1:], "/activity/abc/delete", "/appointments/1/x", "/tablets/%00/lend"])
def test_hostile_form_values_never_cause_a_500(mediator, path):
    fields = ("place", "commune", "insee_code", "place_kind", "mediators", "outing", "kind", "duration", "themes",
              "procedure_themes", "participants", "material", "autonomy", "referral", "workshop_title", "gender",
              "age_band", "social_status", "phone_ms", "phone_local", "accept_partial", "next")
    token = mediator.token()
    for value in ODD_VALUES:
        response = mediator.post(path, {"csrf_token": token, **{field: value for field in fields}})
        assert response.status_code < 500, (path, value)
        body = response.get_data(as_text=True)
        assert "<script>alert(1)</script>" not in body and "Traceback" not in body


@pytest.mark.parametrize("path", ["/login?next=" + "x" * 3000, "/activity?kind=%00", "/outing?from=99999999999999",
                                  "/reports/outing/" + "9" * 30, "/reports/week/%3Cscript%3E", "/activity?saved=<b>"])
def test_hostile_query_strings_never_cause_a_500(mediator, path):
    assert mediator.get(path).status_code < 500


def test_the_purge_command_runs_every_retention_rule(tmp_path):
    config = tmp_path / "kit.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "kiosk.db"}"\n')
    done = subprocess.run([sys.executable, "-m", "kiosk", "--config", str(config), "dashboard", "purge"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    for kind in ("sessions", "visits", "appointments", "profiles", "wipe_events"):
        assert f"{kind}: 0" in done.stdout
