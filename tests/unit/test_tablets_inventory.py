"""The inventory, the audit log, the events and the progress lines, on a real SQLite store."""

from __future__ import annotations

import io
import json
import sqlite3
import threading

import paramiko
import pytest

from kiosk.store import Store
from provisioning.audit import Jobs
from provisioning.drivers.ssh import load_or_create_kit_key, public_line, split_address
from provisioning.errors import ProvisionError, UsageError
from provisioning.events import EventBus, events_since, purge_events
from provisioning.inventory import Inventory, PinnedKey, check_name
from provisioning.progress import Progress
from provisioning.wipe import Backoff
from tests.conftest import ManualClock


@pytest.fixture
def store(tmp_path) -> Store:
    store = Store(tmp_path / "kiosk.db")
    store.upgrade()
    return store


def test_the_migration_creates_the_tablet_tables(store):
    with store.read() as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"tablets", "tablet_host_keys", "wipe_jobs", "wipe_events"} <= tables
    with pytest.raises(sqlite3.IntegrityError), sqlite3.connect(store.path) as db:
        db.execute("INSERT INTO tablets (name, kind, address, strategy, status, status_at, enrolled_at)"
                   " VALUES ('x', 'android', 'a', 'android-user', 'borrowed', 0, 0)")


def test_enrollment_and_statuses(store):
    clock = ManualClock()
    inventory = Inventory(store, clock)
    device = inventory.enroll("tab-1", "android", "android-user", {"max_users": 4}, address="10.42.0.30:5555")
    assert (device.status, device.reason, device.where) == ("wiping", "enrolled: first wipe pending",
                                                            "10.42.0.30:5555")
    clock.advance(60)
    device = inventory.transition("tab-1", "ready", "verified clean", ("wiping",), last_wipe="clean")
    assert (device.status, device.last_wipe, device.status_at) == ("ready", "clean", clock.now)
    with pytest.raises(ProvisionError, match="tab-1 is ready, not wiping"):
        inventory.transition("tab-1", "ready", "again", ("wiping",))
    with pytest.raises(ProvisionError, match="no tablet named 'nope'"):
        inventory.get("nope")
    usb = inventory.enroll("tab-2", "android", "android-partial", {}, serial="R52N80ABCDE")
    assert usb.where == "usb:R52N80ABCDE"
    assert [d.name for d in inventory.all()] == ["tab-1", "tab-2"]
    assert [d.name for d in inventory.with_status("wiping")] == ["tab-2"]


def test_only_one_of_two_simultaneous_lends_wins(store):
    inventory = Inventory(store)
    inventory.enroll("tab-1", "linux", "linux-skeleton", {}, address="h:22")
    inventory.transition("tab-1", "ready", "verified clean")
    outcomes: list[str] = []

    def lend() -> None:
        try:
            inventory.transition("tab-1", "lent", "lent", ("ready",))
            outcomes.append("lent")
        except ProvisionError:
            outcomes.append("refused")

    threads = [threading.Thread(target=lend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["lent"] + ["refused"] * 7


def test_names_are_checked():
    assert check_name("tab-01.b_2") == "tab-01.b_2"
    for bad in ("", "-x", "a b", "x" * 33, "../etc", "é"):
        with pytest.raises(UsageError):
            check_name(bad)


def test_host_keys_are_pinned_and_replaced(store):
    inventory = Inventory(store)
    inventory.enroll("p", "linux", "linux-skeleton", {}, address="h:22")
    assert inventory.host_key("p") is None
    inventory.pin_host_key("p", PinnedKey("ssh-ed25519", "AAAA", "SHA256:one"))
    inventory.pin_host_key("p", PinnedKey("ssh-ed25519", "BBBB", "SHA256:two"))
    assert inventory.host_key("p").fingerprint == "SHA256:two"


def test_jobs_are_resumed_until_closed(store):
    Inventory(store).enroll("p", "linux", "linux-skeleton", {}, address="h:22")
    jobs = Jobs(store)
    job, resumed = jobs.open("p", "linux-skeleton")
    assert not resumed
    again, resumed = jobs.open("p", "linux-skeleton")  # after a power cut
    assert resumed and again.id == job.id
    jobs.count_attempt(job.id)
    closed = jobs.close(job.id, "clean", "verified clean")
    assert (closed.result, closed.attempts) == ("clean", 1) and closed.ended_at is not None
    new, resumed = jobs.open("p", "linux-skeleton")
    assert not resumed and new.id != job.id
    assert [j.id for j in jobs.history("p")] == [new.id, job.id]


def test_events_reach_subscribers_and_the_store(store):
    clock = ManualClock()
    bus = EventBus(store, clock)
    seen = []
    bus.subscribe(seen.append)
    bus.subscribe(lambda event: 1 / 0)  # a broken display never stops a wipe
    bus.publish("p", 1, "queued")
    bus.publish("p", 1, "running", "ending the guest's processes")
    assert [e.state for e in seen] == ["queued", "running"]
    assert bus.flush()
    first, second = events_since(store)
    assert [(e.state, e.detail) for e in events_since(store, first.id)] == [("running",
                                                                             "ending the guest's processes")]
    assert second.id > first.id
    with pytest.raises(ValueError):
        bus.publish("p", 1, "borrowed")
    clock.advance(31 * 86400)
    bus.publish("p", 2, "queued")
    bus.flush()
    assert purge_events(store, clock()) == 2
    assert [e.job for e in events_since(store)] == [2]


def test_progress_lines_in_a_file_and_on_a_terminal(store):
    bus = EventBus(None)
    plain = io.StringIO()
    bus.subscribe(Progress(plain, tty=False))
    bus.publish("tab-1", 1, "queued")
    bus.publish("tab-1", 1, "running", "restoring the guest's home")
    lines = plain.getvalue().splitlines()
    assert lines[0].startswith("tab-1          queued")
    assert lines[1].endswith("restoring the guest's home")

    terminal = io.StringIO()
    bus = EventBus(None)
    bus.subscribe(Progress(terminal, tty=True))
    for name in ("tab-1", "tab-2"):
        bus.publish(name, 1, "queued")
    bus.publish("tab-1", 1, "ready", "verified clean")
    screen = terminal.getvalue()
    assert "\x1b[2F" in screen  # redrawn in place: one line per tablet
    assert screen.rstrip().splitlines()[-1].startswith("\x1b[2Ktab-2")


def test_backoff_grows_with_jitter_and_a_cap():
    backoff = Backoff(base=0.5, cap=4)
    for attempt, top in ((1, 0.5), (2, 1.0), (3, 2.0), (6, 4.0)):
        delays = [backoff.delay(attempt) for _ in range(50)]
        assert all(top / 2 <= delay <= top for delay in delays)
        assert len(set(delays)) > 1


def test_the_kits_key_is_made_once_private(tmp_path):
    path = tmp_path / "var" / "tablets_ed25519"
    key = load_or_create_kit_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert isinstance(key, paramiko.Ed25519Key)
    assert load_or_create_kit_key(path).get_base64() == key.get_base64()
    assert (tmp_path / "var" / "tablets_ed25519.pub").read_text().strip() == public_line(key)


def test_addresses():
    assert split_address("10.42.0.30") == ("10.42.0.30", 22)
    assert split_address("laptop.local:2222") == ("laptop.local", 2222)
    assert split_address("[2001:db8::5]:2200") == ("2001:db8::5", 2200)


def test_list_json_has_no_details(store, tmp_path):
    """`tablets list --json` is for the dashboard: statuses and reasons, not skeleton manifests."""
    from provisioning.cli import main

    config = tmp_path / "kit.toml"
    config.write_text(f'[store]\npath = "{store.path}"\n')
    Inventory(store).enroll("p", "linux", "linux-skeleton", {"manifest": {"a": 1}}, address="h:22")
    output = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(output):
        assert main(["--config", str(config), "tablets", "list", "--json"]) == 0
    [row] = json.loads(output.getvalue())
    assert row["status"] == "wiping" and "manifest" not in json.dumps(row)


def test_a_wipe_request_with_a_lent_tablet_is_refused_whole(store, tmp_path):
    from kiosk.settings import defaults
    from provisioning.tablets import Tablets

    tablets = Tablets(defaults().replace(store__path=str(store.path)), store)
    for name, status in (("a", "ready"), ("b", "lent")):
        tablets.inventory.enroll(name, "android", "android-user", {}, address=f"{name}:5555")
        tablets.inventory.transition(name, status, status)
    with pytest.raises(ProvisionError, match="b is lent"):
        tablets.wipe(["a", "b"])
    assert tablets.inventory.get("a").status == "ready"  # not left half-queued
    assert tablets.jobs.history() == [] and events_since(store) == []


def test_events_as_json_lines_for_the_dashboard(store, tmp_path):
    import contextlib

    from provisioning.cli import main

    config = tmp_path / "kit.toml"
    config.write_text(f'[store]\npath = "{store.path}"\n')
    bus = EventBus(store)
    bus.publish("tab-1", 7, "queued")
    bus.publish("tab-1", 7, "verifying")
    bus.flush()
    first = events_since(store)[0]
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert main(["--config", str(config), "tablets", "events", "--after", str(first.id)]) == 0
    [line] = output.getvalue().splitlines()
    assert json.loads(line) | {"at": 0} == {"id": first.id + 1, "tablet": "tab-1", "job": 7, "state": "verifying",
                                           "at": 0, "detail": ""}


def test_many_threads_publishing_share_few_commits(store):
    """Twenty wipes' progress must not cost one synchronous commit per line."""
    bus = EventBus(store)
    commits = []
    original = store.write

    def counting_write():
        commits.append(1)
        return original()

    store.write = counting_write
    threads = [threading.Thread(target=lambda n=n: [bus.publish(f"t{n}", n, "running", str(i)) for i in range(20)])
               for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert bus.flush()
    assert len(events_since(store, 0, 1000)) == 400
    assert len(commits) < 400
