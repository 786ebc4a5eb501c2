"""A second scheduled run with nothing changed costs only the pull's delta reads (issue 10, benchmark 2).

Every run here uses a fresh ``DataverseClient`` (empty metadata cache), as the next scheduled run in a new process
would, and the requests are counted from the sandbox's own request log, not the connector's counters.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sync_helpers import make_case

from connector.sync.job import run_sync
from connector.sync.mapping import load_target_mapping
from connector.sync.state import StateStore

WRITES = {"POST", "PATCH", "PUT", "DELETE"}


@pytest.fixture
def fresh_client(sync_settings: Any, provisioned: Any) -> Iterator[Any]:
    """A factory of new clients (cold metadata cache, new token), closed at the end."""
    from connector.dataverse import DataverseClient

    made: list[Any] = []

    def make() -> Any:
        client = DataverseClient.from_settings(sync_settings.dataverse)
        made.append(client)
        return client

    yield make
    for c in made:
        c.close()


def _cases() -> list[Any]:
    # Case 7 names a team the tenant lacks (on_missing = "skip"): its miss is remembered too.
    return [make_case(i) for i in range(6)] + [make_case(7, assigned_team="No Such Team")]


def _run(sandbox: Any, settings: Any, client: Any) -> tuple[Any, list[tuple[str, str, int]]]:
    sandbox.app.request_log.clear()
    report = run_sync(settings, client=client, cases=_cases())
    return report, list(sandbox.app.request_log)


def _api(log: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    return [r for r in log if "oauth" not in r[1].lower() and "token" not in r[1].lower()]


def _metadata_reads(log: list[tuple[str, str, int]]) -> int:
    return sum(1 for _m, path, _s in log if "EntityDefinitions" in path)


def test_unchanged_second_run_makes_no_write_and_only_the_pull_deltas(
    sandbox: Any, sync_settings: Any, fresh_client: Any
) -> None:
    sandbox.app.log_requests = True
    first, log1 = _run(sandbox, sync_settings, fresh_client())
    assert first.exit_code == 0, first.errors
    assert first.counts["created"] == 7 and first.counts.get("mapping_check_cached") == 0
    assert first.counts.get("letters_created", 0) >= 6  # acknowledgements
    assert _metadata_reads(log1) > 0 and any(m in WRITES for m, _p, _s in log1)

    second, log2 = _run(sandbox, sync_settings, fresh_client())
    assert second.exit_code == 0, second.errors
    assert second.counts.get("planned_skip") == 7
    assert second.counts.get("mapping_check_cached") == 1
    assert second.counts.get("letters_known", 0) == first.counts["letters_created"]
    assert second.counts.get("lookups_live") == 0  # team names came from the state, not the CRM
    api = _api(log2)
    assert [r for r in api if r[0] in WRITES] == [], api
    assert all(m == "GET" and s == 200 for m, _p, s in api), api
    # Issue 10's target: at most 2 requests. They are the pull's two delta reads (cases and letters); the pull reads
    # team names only when a delta brings a changed row.
    assert sorted(p for _m, p, _s in api) == ["emails", "incidents"], api
    assert _metadata_reads(log2) == 0
    assert second.write_requests == 0
    # one acknowledgement per case, ever: still exactly one email per case in the CRM
    assert len(sandbox.rows("email")) == first.counts["letters_created"]


def test_expired_cache_checks_live_again(sandbox: Any, sync_settings: Any, fresh_client: Any) -> None:
    sandbox.app.log_requests = True
    run_sync(sync_settings, client=fresh_client(), cases=_cases())
    sync_settings.sync.metadata_check_hours = 0  # 0 = always check live
    report, log = _run(sandbox, sync_settings, fresh_client())
    assert report.exit_code == 0, report.errors
    assert report.counts.get("mapping_check_cached") == 0
    assert _metadata_reads(log) > 0
    assert not [r for r in log if r[0] in WRITES]


def test_changed_mapping_fingerprint_forces_a_live_check(
    sandbox: Any, sync_settings: Any, fresh_client: Any, tmp_path: Any
) -> None:
    sandbox.app.log_requests = True
    run_sync(sync_settings, client=fresh_client(), cases=_cases())
    again, log = _run(sandbox, sync_settings, fresh_client())
    assert again.counts.get("mapping_check_cached") == 1 and _metadata_reads(log) == 0
    # An operator edits the mapping (here a reminder's wording): a new fingerprint, so the cache does not apply.
    before = load_target_mapping(sync_settings.sync.target_mapping)
    edited = tmp_path / "target-incident.toml"
    text = sync_settings.sync.target_mapping.read_text(encoding="utf-8")
    edited.write_text(text.replace("due in 5 working days", "due in five working days"), encoding="utf-8")
    assert load_target_mapping(edited).fingerprint != before.fingerprint
    sync_settings.sync.target_mapping = edited
    report, log = _run(sandbox, sync_settings, fresh_client())
    assert report.exit_code == 0, report.errors
    assert report.counts.get("mapping_check_cached") == 0 and _metadata_reads(log) > 0
    with StateStore(sync_settings.sync.state_path) as state:
        env = str(sync_settings.dataverse.url).rstrip("/").casefold()
        assert state.passing_check(env, load_target_mapping(edited).fingerprint, 24) is not None
    third, log3 = _run(sandbox, sync_settings, fresh_client())
    assert third.counts.get("mapping_check_cached") == 1 and _metadata_reads(log3) == 0


def test_metadata_shaped_push_error_drops_the_cached_check(sandbox: Any, sync_settings: Any, provisioned: Any) -> None:
    from datetime import timedelta

    from sync_helpers import NOW

    from connector.errors import MappingError

    run_sync(sync_settings, client=provisioned, cases=_cases())
    mapping = load_target_mapping(sync_settings.sync.target_mapping)
    env = str(sync_settings.dataverse.url).rstrip("/").casefold()
    with StateStore(sync_settings.sync.state_path) as state:
        assert state.passing_check(env, mapping.fingerprint, 24) is not None
    # An administrator deletes a column the mapping writes, after the check was cached (the sandbox has no Web API
    # for deleting a column, so it is removed from its schema directly). The cached check cannot see it; the
    # write that uses the column fails with "property does not exist", which must drop the cached check.
    sandbox.app.records.tables["incident"].attributes.pop("foi_duedate")
    moved = [make_case(0, received_at=NOW - timedelta(days=10)), *_cases()[1:]]
    report = run_sync(sync_settings, client=provisioned, cases=moved)
    assert report.counts.get("mapping_check_cached") == 1
    assert report.counts.get("dead_letters") == 1 and report.exit_code == 1
    with StateStore(sync_settings.sync.state_path) as state:
        assert state.passing_check(env, mapping.fingerprint, 24) is None
    # The next run checks live and stops before writing anything, naming the missing column.
    with pytest.raises(MappingError, match="foi_duedate"):
        run_sync(sync_settings, client=provisioned, cases=moved)


def test_metadata_shaped_errors_are_recognised() -> None:
    from connector.sync.check import metadata_shaped

    assert metadata_shaped("0x80060888", "The property 'foi_nope' does not exist on type 'incident'.")
    assert metadata_shaped("", "An undeclared property 'foi_x' which only has property annotations in the payload")
    assert not metadata_shaped("0x80040237", "A record with matching key values already exists.")
    assert not metadata_shaped("0x80040265", "The case is closed and cannot be updated.")


def test_dry_run_uses_the_cache_but_never_writes_it(sandbox: Any, sync_settings: Any, fresh_client: Any) -> None:
    run_sync(sync_settings, client=fresh_client(), cases=_cases())
    env = str(sync_settings.dataverse.url).rstrip("/").casefold()
    fingerprint = load_target_mapping(sync_settings.sync.target_mapping).fingerprint
    preview = run_sync(sync_settings, client=fresh_client(), cases=_cases(), dry_run=True)
    assert preview.counts.get("mapping_check_cached") == 1
    with StateStore(sync_settings.sync.state_path) as state:
        state.invalidate_checks()
    preview = run_sync(sync_settings, client=fresh_client(), cases=_cases(), dry_run=True)
    assert preview.counts.get("mapping_check_cached") == 0
    with StateStore(sync_settings.sync.state_path) as state:
        assert state.passing_check(env, fingerprint, 24) is None


def test_unreachable_crm_still_exits_4_when_the_check_is_cached(
    sandbox: Any, sync_settings: Any, fresh_client: Any
) -> None:
    """No WhoAmI "ping" any more: with a cached check the first real request (the token, then the pull) fails."""
    from connector.errors import CrmUnavailable

    run_sync(sync_settings, client=fresh_client(), cases=_cases())
    sync_settings.dataverse.retry_budget_seconds = 1
    sync_settings.dataverse.timeout_seconds = 2
    sandbox.faults.schedule("drop", count=10_000)  # every connection is dropped, token endpoint included
    with pytest.raises(CrmUnavailable) as err:
        run_sync(sync_settings, client=fresh_client(), cases=_cases())
    assert err.value.exit_code == 4
    with StateStore(sync_settings.sync.state_path) as state:
        assert "failed" in [r["status"] for r in state.runs(5)]


def test_deleting_a_letter_in_the_crm_still_rearms_it(sandbox: Any, sync_settings: Any, provisioned: Any) -> None:
    first = run_sync(sync_settings, client=provisioned, cases=_cases())
    created = first.counts["letters_created"]
    emails = sandbox.rows("email")
    assert len(emails) == created
    provisioned.delete("emails", emails[0]["activityid"])  # an officer asks for a fresh copy
    # The pull runs before the letters, so the same run sees the deletion and creates the letter again.
    seen = run_sync(sync_settings, client=provisioned, cases=_cases())
    assert seen.counts.get("letters_rearmed", 0) >= 1
    assert seen.counts.get("letters_created") == 1 and seen.write_requests >= 1
    assert len(sandbox.rows("email")) == created
    quiet = run_sync(sync_settings, client=provisioned, cases=_cases())
    assert quiet.counts.get("letters_created", 0) == 0 and quiet.write_requests == 0
