"""Bulk writes: UpsertMultiple/CreateMultiple/UpdateMultiple, bad-record isolation, adaptive chunks and workers."""

from __future__ import annotations

from typing import Any

from connector.dataverse.bulk import AdaptiveGate, ChunkSizer
from connector.sandbox.limits import LimitOptions


def _rows(sb: Any, table: str, prefix: str, col: str = "accountnumber") -> list[dict[str, Any]]:
    return [r for r in sb.rows(table) if str(r.get(col) or "").startswith(prefix)]


def test_upsert_multiple_creates_then_updates(sandbox: Any, dv_client: Any) -> None:
    items = [({"accountnumber": f"U-{i:04d}"}, {"name": f"First {i}"}) for i in range(1500)]
    result = dv_client.upsert_multiple("accounts", "account", items)
    assert (result.succeeded, result.failed) == (1500, [])
    first_requests = result.requests
    items = [
        ({"accountnumber": f"U-{i:04d}"}, {"name": f"Second {i}", "accountnumber": "ignored"}) for i in range(1500)
    ]
    result = dv_client.upsert_multiple("accounts", "account", items)
    assert result.succeeded == 1500
    rows = _rows(sandbox, "account", "U-")
    assert len(rows) == 1500 and all(r["name"].startswith("Second") for r in rows)
    assert dv_client.stats.snapshot()["records_written"] == 3000
    # Chunks grow from the configured 200 (slow start) and the size learned is kept for the next call.
    assert dv_client._sizers[("UpsertMultiple", "accounts")].size > 200
    assert first_requests < 1500 / 100 and result.requests <= first_requests


def test_one_bad_record_is_isolated_and_every_good_one_lands(sandbox: Any, dv_client: Any) -> None:
    items: list[tuple[Any, dict[str, Any]]] = [
        ({"accountnumber": f"B-{i:04d}"}, {"name": f"Good {i}"}) for i in range(400)
    ]
    items[137] = ({"accountnumber": "B-0137"}, {"name": "x" * 200})  # longer than name's 160
    items[301] = ({"accountnumber": "B-0301"}, {"name": "ok", "prioritycode": 99})  # not a valid choice
    items[5] = ({"accountnumber": "FOI/2024/0005"}, {"name": "unsafe key"})  # cannot be addressed
    sandbox.reset_stats()
    result = dv_client.upsert_multiple("accounts", "account", items)
    assert result.succeeded == 397
    assert [(f.index, f.key) for f in result.failed] == [
        (5, {"accountnumber": "FOI/2024/0005"}),
        (137, {"accountnumber": "B-0137"}),
        (301, {"accountnumber": "B-0301"}),
    ]
    assert result.failed[0].code == "key-unsafe" and "key_safe" in result.failed[0].message
    assert result.failed[1].code == "0x80044331" and result.failed[1].status == 400
    assert "maximum allowed length" in result.failed[1].message
    assert result.failed[2].status == 400
    assert result.isolated_chunks >= 1
    assert len(_rows(sandbox, "account", "B-")) == 397
    assert not _rows(sandbox, "account", "FOI/")
    assert sandbox.stats().get("POST $batch", 0) >= 1  # isolated with $batch continue-on-error


def test_create_multiple_isolates_bad_records_and_returns_ids(sandbox: Any, dv_client: Any) -> None:
    records = [{"name": f"Create {i}", "accountnumber": f"C-{i:04d}"} for i in range(250)]
    records[42]["accountnumber"] = "C-0041"  # duplicate alternate key value
    result = dv_client.create_multiple("accounts", "account", records)
    assert result.succeeded == 249
    assert [f.index for f in result.failed] == [42]
    assert result.failed[0].status in (400, 412)
    rows = _rows(sandbox, "account", "C-")
    assert len(rows) == 249
    assert result.ids[42] is None
    assert {i for i in result.ids if i} == {r["accountid"] for r in rows}


def test_update_multiple_and_missing_ids(sandbox: Any, dv_client: Any) -> None:
    created = dv_client.create_multiple("accounts", "account", [{"name": f"Upd {i}"} for i in range(20)])
    records = [{"accountid": rid, "telephone1": f"0100 {n}"} for n, rid in enumerate(created.ids)]
    records.append({"telephone1": "no id"})
    result = dv_client.update_multiple("accounts", "account", records)
    assert result.succeeded == 20
    assert [(f.index, f.code) for f in result.failed] == [(20, "no-id")]
    phones = {r["accountid"]: r.get("telephone1") for r in sandbox.rows("account")}
    assert all(phones[rid] == f"0100 {n}" for n, rid in enumerate(created.ids))


def test_repeated_keys_apply_in_order(sandbox: Any, dv_client: Any) -> None:
    items = [({"accountnumber": "D-1"}, {"name": "first"}), ({"accountnumber": "d-1"}, {"name": "second"})]
    result = dv_client.upsert_multiple("accounts", "account", items)
    assert result.succeeded == 2
    assert [r["name"] for r in _rows(sandbox, "account", "D-")] == ["second"]


def test_workers_follow_the_dop_hint(make_sandbox: Any, client_for: Any) -> None:
    sb = make_sandbox(limits=LimitOptions(dop_hint=3))
    client = client_for(sb)
    client.whoami()
    assert client.gate.maximum == 3
    pinned = client_for(sb, max_workers=7)
    pinned.whoami()
    assert pinned.gate.maximum == 7


def test_adaptive_gate_and_chunk_sizer() -> None:
    gate = AdaptiveGate(8)
    gate.throttled()
    assert gate.limit == 4
    gate.throttled()  # same burst: not cut twice
    assert gate.limit == 4
    for _ in range(4):
        gate.success()
    assert gate.limit == 5
    sizer = ChunkSizer(100, target_seconds=10)
    assert not sizer.measured
    # 100 records in 4 s: 25 per second, so 125 would take half the target (5 s); growth is at least x2 -> 200
    sizer.grow_or_shrink(100, 4.0)
    assert (sizer.size, sizer.measured) == (200, True)
    # 200 in 0.5 s: 2,000 would take 5 s, but a step is at most x5 -> 1,000 (also the documented maximum)
    sizer.grow_or_shrink(200, 0.5)
    assert sizer.size == 1000
    sizer.grow_or_shrink(1000, 12.0)  # slower than the target: halved
    assert sizer.size == 500
    sizer.grow_or_shrink(300, 0.1)  # not a full chunk: says nothing about a bigger one
    assert sizer.size == 500
    sizer = ChunkSizer(200, target_seconds=10)
    sizer.grow_or_shrink(200, 1.0)  # 200 in 1 s: 1,000 would take 5 s -> x5
    assert sizer.size == 1000


def test_a_batch_that_fits_in_one_chunk_is_one_request_and_a_learned_size_carries_to_the_next_client(
    sandbox: Any, client_for: Any
) -> None:
    """A daily job's few hundred records go as one request once a migration has learned a chunk that size; a fresh
    client slow-starts from ``bulk_chunk_size`` (200) and needs several. Sizes are bounded to 1..1,000. (The
    scheduled job's client spends the fewest requests: ``fewest_requests``.)"""
    records = [({"accountnumber": f"L-{i:04d}"}, {"name": f"Learned {i}"}) for i in range(300)]
    assert client_for(sandbox).upsert_multiple("accounts", "account", records).requests > 1  # slow start at 200

    migration = client_for(sandbox)
    many = [({"accountnumber": f"M-{i:04d}"}, {"name": f"Migrated {i}"}) for i in range(3000)]
    assert migration.upsert_multiple("accounts", "account", many).succeeded == 3000
    learned = migration.chunk_sizes()
    assert learned["UpsertMultiple accounts"] >= 400  # grew past the configured 200

    later = client_for(sandbox)
    later.fewest_requests = True
    later.start_chunk_sizes({**learned, "CreateMultiple accounts": 5000})
    assert later.chunk_sizes()["CreateMultiple accounts"] == 1000  # never above the documented maximum
    result = later.upsert_multiple("accounts", "account", [(k, {"name": "Again"}) for k, _ in records])
    assert (result.succeeded, result.requests) == (300, 1)
    assert len(_rows(sandbox, "account", "L-")) == 300
    # UpdateMultiple was never sent to accounts: it starts from the size the table learned under UpsertMultiple.
    ids = {r["accountnumber"]: r["accountid"] for r in _rows(sandbox, "account", "L-")}
    edits = [{"accountid": ids[k["accountnumber"]], "name": "Edited"} for k, _ in records]
    fresh = client_for(sandbox)
    fresh.fewest_requests = True
    assert fresh.update_multiple("accounts", "account", edits).requests > 1  # a fresh client: 200
    result = later.update_multiple("accounts", "account", edits)
    assert (result.succeeded, result.requests) == (300, 1)
    assert {r["name"] for r in _rows(sandbox, "account", "L-")} == {"Edited"}


def test_a_record_bound_to_another_new_record_waits_for_it_alone(sandbox: Any, dv_client: Any) -> None:
    """Children come first in the input and are bound by key to parents later in the same call: each child is
    sent only once its parent has landed, while the others keep going, and every binding holds."""
    children = [
        (
            {"accountnumber": f"K-{i:04d}"},
            {"name": f"Child {i}", "parentaccountid@odata.bind": f"/accounts(accountnumber='P-{i % 10:02d}')"},
        )
        for i in range(400)
    ]
    parents = [({"accountnumber": f"P-{j:02d}"}, {"name": f"Parent {j}"}) for j in range(10)]
    items = children + parents
    after = {i: [400 + i % 10] for i in range(400)}
    result = dv_client.upsert_multiple("accounts", "account", items, after=after)
    assert (result.succeeded, result.failed) == (410, [])
    by_number = {r["accountnumber"]: r for r in sandbox.rows("account") if r.get("accountnumber")}
    for i in range(400):
        parent = by_number[f"P-{i % 10:02d}"]
        assert by_number[f"K-{i:04d}"]["_parentaccountid_value"] == parent["accountid"]


def _alongside(client: Any, parents: list[Any], children: list[Any], needs: dict[int, list[int]]) -> tuple[Any, Any]:
    """Parents and children as two calls at once, as the push runs requesters and cases: the children's call starts
    once the parents' last chunk is handed out, each child waiting on ``needs`` (its parents' positions).
    -> (the parents' result, the children's result)."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Event

    from connector.dataverse import Settlement

    settlement, drained = Settlement(), Event()

    def parent_call() -> Any:
        try:
            return client.upsert_multiple(
                "accounts",
                "account",
                parents,
                on_settled=lambda ok, failed: settlement.add(ok, [f.index for f in failed]),
                on_drained=drained.set,
            )
        finally:
            settlement.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(parent_call)
        assert drained.wait(30)  # handed out before its last chunk settled, so the children can start
        second = client.upsert_multiple("accounts", "account", children, waits=(settlement, needs))
        return first.result(), second


def test_records_wait_on_a_second_call_running_alongside_and_skip_a_failed_parent(sandbox: Any, dv_client: Any) -> None:
    """Two calls at once, as the push runs requesters and cases: each child waits only for its own parent in the
    other call, none is sent bound to a parent that is not there yet, and a child whose parent failed is reported
    unsent (dependency_failed) instead of being sent to fail on its binding."""
    from connector.dataverse.bulk import DEPENDENCY_FAILED

    parents = [({"accountnumber": f"Q-{j:03d}"}, {"name": f"Parent {j}"}) for j in range(300)]
    parents[7] = ({"accountnumber": "Q-007"}, {"name": "x" * 200})  # longer than name's 160: refused
    children = [
        (
            {"accountnumber": f"R-{i:04d}"},
            {"name": f"Child {i}", "parentaccountid@odata.bind": f"/accounts(accountnumber='Q-{i % 300:03d}')"},
        )
        for i in range(900)
    ]
    parent_result, second = _alongside(dv_client, parents, children, {i: [i % 300] for i in range(900)})
    assert parent_result.succeeded == 299 and [f.index for f in parent_result.failed] == [7]
    unsent = sorted(f.index for f in second.failed)
    assert unsent == [7, 307, 607]  # the three children of the refused parent, from i % 300 == 7
    assert {f.code for f in second.failed} == {DEPENDENCY_FAILED}
    by_number = {r["accountnumber"]: r for r in sandbox.rows("account") if r.get("accountnumber")}
    assert not {"R-0007", "R-0307", "R-0607", "Q-007"} & set(by_number)
    for i in range(900):
        if i % 300 != 7:
            parent = by_number[f"Q-{i % 300:03d}"]
            assert by_number[f"R-{i:04d}"]["_parentaccountid_value"] == parent["accountid"]


def test_a_small_call_on_a_new_table_times_one_chunk_then_sends_the_rest_in_one(sandbox: Any, client_for: Any) -> None:
    """The scheduled job's client (``fewest_requests``), 1,100 notes on a message and table never timed: the first
    chunk (bulk_chunk_size, 200) goes alone, its time shows a chunk of 1,000 is well inside the target, so the
    other 900 go as one request: 2 in all. A migration's client starts its four workers at 200 at once and shares
    the rest out so they finish together: more requests, every slot busy."""
    daily = client_for(sandbox)
    daily.fewest_requests = True
    notes = [{"subject": f"Note {i}", "notetext": "A small daily batch."} for i in range(1100)]
    result = daily.create_multiple("annotations", "annotation", notes)
    assert (result.succeeded, result.failed, result.requests) == (1100, [], 2)
    assert len([r for r in sandbox.rows("annotation") if str(r.get("subject", "")).startswith("Note ")]) == 1100
    migration = client_for(sandbox)
    result = migration.create_multiple("annotations", "annotation", notes)
    assert result.succeeded == 1100 and result.requests >= 4


def test_a_waiting_chunk_is_sent_whole_not_in_parts(sandbox: Any, client_for: Any) -> None:
    """A daily job's 300 new cases, half of them bound to requesters the other call is still writing: the chunk
    waits for them and goes as one request, not the ready half now and the rest in a second request."""
    client = client_for(sandbox)
    client.fewest_requests = True  # the scheduled job's
    client.start_chunk_sizes({"UpsertMultiple accounts": 1000})  # as after a migration
    parents = [({"accountnumber": f"W-{j:03d}"}, {"name": f"Parent {j}"}) for j in range(300)]
    children = [
        (
            {"accountnumber": f"V-{i:03d}"},
            {"name": f"Child {i}", **({"parentaccountid@odata.bind": f"/accounts(accountnumber='W-{i:03d}')"})}
            if i < 150
            else {"name": f"Child {i}"},
        )
        for i in range(300)
    ]
    first, second = _alongside(client, parents, children, {i: [i] for i in range(150)})
    assert first.requests == 1
    assert (second.succeeded, second.failed, second.requests) == (300, [], 1)


def test_the_scheduled_jobs_client_sends_full_chunks_to_the_last(sandbox: Any, client_for: Any) -> None:
    """2,500 records at a learned 1,000 a chunk: the scheduled job's client sends 3 requests (1,000, 1,000, 500), the
    fewest there can be; a migration's client shares the last 1,500 between its 4 workers to finish together."""
    records = [({"accountnumber": f"F-{i:04d}"}, {"name": f"Full {i}"}) for i in range(2500)]
    daily = client_for(sandbox)
    daily.fewest_requests = True
    daily.start_chunk_sizes({"UpsertMultiple accounts": 1000})
    result = daily.upsert_multiple("accounts", "account", records)
    assert (result.succeeded, result.failed, result.requests) == (2500, [], 3)
    migration = client_for(sandbox)
    migration.start_chunk_sizes({"UpsertMultiple accounts": 1000})
    result = migration.upsert_multiple("accounts", "account", records)
    assert result.succeeded == 2500 and result.requests > 3
