"""The realistic profile's ceiling is an upper bound: a client that tries to beat it, with each write method, cannot.

Each test sends one request shape from more threads than the server has slots (well under the 52 concurrent
requests Dataverse admits [LIMITS]) and checks two independent measures against the ceiling the sandbox states for
that shape, `slots x 1000 x k / (latency + write_ms x k)` records/s for k records per request:
- records that landed (counted by reading them back) per second of wall time, from the first send to the last
  answer, with 5% margin;
- the sandbox's own charge accounting: every record that landed was charged, and the charged service time never
  exceeds what the slots can deliver in that wall time.
If any record went uncharged (nested deep-insert rows, `$batch` parts billed as bulk records), the first measure
exceeds the ceiling several times over, so these tests fail.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from sandbox_support import Api

from connector.sandbox.limits import Profile
from connector.sandbox.server import SandboxOptions, SandboxServer

THREADS = 12  # more than the 4 slots, fewer than the 52 concurrent requests the service admits
CRLF = "\r\n"
PROFILE = Profile.named("realistic")


@pytest.fixture
def realistic() -> Any:
    with SandboxServer(SandboxOptions(port=0, profile="realistic")) as sb:
        yield sb


def _info(sb: Any) -> dict[str, Any]:
    return requests.get(sb.url + "/_sandbox", timeout=30).json()


def _hammer(sb: Any, send: Callable[[Api, int, int], None], requests_per_thread: int) -> float:
    """Run ``send(api, thread, i)`` from THREADS threads at once; -> wall seconds from first send to last answer."""
    token = sb.issue_token()
    apis = [Api(sb.api_url, token) for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS + 1)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        barrier.wait()
        try:
            for i in range(requests_per_thread):
                send(apis[t], t, i)
        except BaseException as exc:  # reported below, so a failing request fails the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    barrier.wait()
    started = time.perf_counter()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - started
    assert not errors, errors[0]
    return elapsed


def _check(sb: Any, landed: int, elapsed: float, records_per_request: float, before: dict[str, float]) -> None:
    ceiling = PROFILE.ceiling_for(records_per_request)
    rate = landed / elapsed
    assert rate <= ceiling * 1.05, f"{rate:.0f} records/s beat the stated ceiling of {ceiling:.0f}"
    charged = _info(sb)["charged"]
    writes = charged["writes"] - before.get("writes", 0)
    cost = charged["cost_ms"] - before.get("cost_ms", 0)
    assert writes >= landed, f"{landed} records landed but only {writes} were charged"
    slots_ms = PROFILE.slots * elapsed * 1000.0
    assert cost <= slots_ms * 1.05, f"charged {cost:.0f} ms of service time in {slots_ms:.0f} slot-ms"


def _count(sb: Any, table: str, **match: Any) -> int:
    return sum(1 for r in sb.rows(table) if all(r.get(k) == v for k, v in match.items()))


def test_single_post_cannot_beat_the_single_request_ceiling(realistic: Any) -> None:
    tag = uuid.uuid4().hex[:8]

    def send(api: Api, t: int, i: int) -> None:
        r = api.post("contacts", json={"lastname": f"p{t}-{i}", "firstname": tag})
        assert r.status_code == 204, r.text

    before = _info(realistic)["charged"]
    elapsed = _hammer(realistic, send, 8)
    _check(realistic, _count(realistic, "contact", firstname=tag), elapsed, 1, before)


def _seed_contacts(sb: Any, n: int) -> list[str]:
    """n contacts by CreateMultiple from 4 threads (one per slot), so seeding does not dominate the test."""
    token = sb.issue_token()
    ids = [str(uuid.uuid4()) for _ in range(n)]

    def seed(start: int) -> None:
        targets = [
            {"@odata.type": "Microsoft.Dynamics.CRM.contact", "contactid": rid, "lastname": "seed"}
            for rid in ids[start : start + 300]
        ]
        r = Api(sb.api_url, token).post("contacts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": targets})
        assert r.status_code == 200, r.text

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(seed, range(0, n, 300)))
    return ids


def test_single_patch_cannot_beat_the_single_request_ceiling(realistic: Any) -> None:
    per_thread = 8
    ids = _seed_contacts(realistic, THREADS * per_thread)

    def send(api: Api, t: int, i: int) -> None:
        r = api.patch(f"contacts({ids[t * per_thread + i]})", json={"lastname": "patched"})
        assert r.status_code == 204, r.text

    before = _info(realistic)["charged"]
    elapsed = _hammer(realistic, send, per_thread)
    _check(realistic, _count(realistic, "contact", lastname="patched"), elapsed, 1, before)


def test_deep_insert_is_charged_for_every_nested_record(realistic: Any) -> None:
    # CREATE "Create related table rows in one operation": an account with three tasks is four records.
    tag = uuid.uuid4().hex[:8]

    def send(api: Api, t: int, i: int) -> None:
        body = {"name": tag, "Account_Tasks": [{"subject": f"{tag}-{t}-{i}-{n}"} for n in range(3)]}
        r = api.post("accounts", json=body)
        assert r.status_code == 204, r.text

    before = _info(realistic)["charged"]
    elapsed = _hammer(realistic, send, 6)
    landed = _count(realistic, "account", name=tag)
    landed += sum(1 for r in realistic.rows("task") if str(r.get("subject", "")).startswith(tag))
    assert landed == THREADS * 6 * 4
    _check(realistic, landed, elapsed, 4, before)


def test_batch_parts_are_charged_as_single_requests(realistic: Any) -> None:
    # BATCH: up to 1,000 requests in one $batch; each part is the single request it is, so a batch of POSTs
    # cannot go faster than the single-request ceiling (plus the envelope's own cost).
    tag = uuid.uuid4().hex[:8]
    parts = 40

    def send(api: Api, t: int, i: int) -> None:
        b = f"batch_{t}_{i}"
        body = ""
        for n in range(parts):
            payload = json.dumps({"lastname": f"b{t}-{i}-{n}", "firstname": tag})
            body += (
                f"--{b}{CRLF}Content-Type: application/http{CRLF}Content-Transfer-Encoding: binary{CRLF}{CRLF}"
                f"POST /api/data/v9.2/contacts HTTP/1.1{CRLF}Content-Type: application/json; type=entry{CRLF}{CRLF}"
                f"{payload}{CRLF}"
            )
        body += f"--{b}--{CRLF}"
        r = api.post("$batch", data=body.encode(), headers={"Content-Type": f'multipart/mixed; boundary="{b}"'})
        assert r.status_code == 200, r.text

    before = _info(realistic)["charged"]
    elapsed = _hammer(realistic, send, 1)
    landed = _count(realistic, "contact", firstname=tag)
    assert landed == THREADS * parts
    _check(realistic, landed, elapsed, 1, before)


@pytest.mark.parametrize("action", ["CreateMultiple", "UpsertMultiple", "UpdateMultiple"])
def test_bulk_messages_cannot_beat_the_bulk_ceiling(realistic: Any, action: str) -> None:
    chunk, per_thread = 100, 2
    ids = (
        _seed_contacts(realistic, THREADS * per_thread * chunk)
        if action == "UpdateMultiple"
        else [str(uuid.uuid4()) for _ in range(THREADS * per_thread * chunk)]
    )
    tag = uuid.uuid4().hex[:8]

    def send(api: Api, t: int, i: int) -> None:
        start = (t * per_thread + i) * chunk
        targets = [
            {"@odata.type": "Microsoft.Dynamics.CRM.contact", "contactid": rid, "lastname": tag}
            for rid in ids[start : start + chunk]
        ]
        r = api.post(f"contacts/Microsoft.Dynamics.CRM.{action}", json={"Targets": targets})
        assert r.status_code in (200, 204), r.text

    before = _info(realistic)["charged"]
    elapsed = _hammer(realistic, send, per_thread)
    landed = _count(realistic, "contact", lastname=tag)
    assert landed == THREADS * per_thread * chunk
    _check(realistic, landed, elapsed, chunk, before)


def test_reads_are_charged_by_rows_scanned(realistic: Any) -> None:
    _seed_contacts(realistic, 600)
    api = Api(realistic.api_url, realistic.issue_token())
    before = _info(realistic)["charged"]
    r = api.get("contacts?$select=lastname&$top=5")
    assert r.status_code == 200 and len(r.json()["value"]) == 5
    after = _info(realistic)["charged"]
    assert 5 <= after["reads"] - before["reads"] < 600  # a $top read stops early
    r = api.get("contacts?$select=lastname")
    assert r.status_code == 200 and len(r.json()["value"]) == 600
    final = _info(realistic)["charged"]
    assert final["reads"] - after["reads"] >= 600  # every row returned was charged
