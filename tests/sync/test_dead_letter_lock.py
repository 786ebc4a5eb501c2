"""`dead-letters retry` and `discard` take the sync's run lock: checked with real processes on one state file.

A retry and a scheduled run must never interleave (both push the same records), and a retry refused because a run
holds the lock must say so with exit code 3 whether or not any letters are open (issue 19).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sync_helpers import INCIDENT_MAPPING
from sync_register import write_register

from connector.sync.state import StateStore

#: A second process that takes the run lock exactly as a sync does, says so, and keeps it until stdin closes.
HOLDER = (
    "import sys; from pathlib import Path; from connector.sync.lock import lock_for\n"
    "with lock_for(Path(sys.argv[1])):\n"
    "    print('held', flush=True)\n"
    "    sys.stdin.read()\n"
)


def _config(tmp_path: Path, sandbox: Any) -> Path:
    path = tmp_path / "foi-sync.toml"
    path.write_text(
        f'[dataverse]\nurl = "{sandbox.url}"\nauthority_host = "{sandbox.https_url}"\n'
        f'ca_bundle = "{sandbox.ca_bundle}"\n'
        f'[sync]\ntarget_mapping = "{INCIDENT_MAPPING}"\nstate_path = "{tmp_path / "state.sqlite"}"\n'
        f'[intake]\nrejects_dir = "{tmp_path / "rejects"}"\n'
        f'[report]\nstore_path = "{tmp_path / "reporting.sqlite"}"\nout_dir = "{tmp_path / "reports"}"\n',
        encoding="utf-8",
    )
    return path


def _foi_sync(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "state.sqlite")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.communicate("", timeout=30)


def _open_letter(state_path: Path, register: Path, source_mapping: Path, reference: str) -> int:
    """An open dead letter for the register row ``reference``, keyed as the incident mapping keys it (its
    key-safe reference: '/' becomes '-')."""
    origin = {
        "kind": "migrate",
        "source": str(register.resolve()),
        "source_mapping": str(source_mapping.resolve()),
        "reference": reference,
    }
    with StateStore(state_path) as state:
        return state.add_dead_letter("incident", reference.replace("/", "-"), origin, "0x80040237", "failed on purpose")


def test_retry_and_discard_are_refused_while_another_process_holds_the_lock(
    sandbox: Any, sandbox_settings: Any, tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    config = _config(tmp_path, sandbox)
    # With nothing open, the answer is the same refusal (not "retried 0" with exit 0).
    res = _foi_sync(config, "dead-letters", "retry")
    assert res.returncode == 3, (res.stdout, res.stderr[-1500:])
    assert "another foi-sync run holds the lock" in res.stderr and f"by process {holder.pid}" in res.stderr
    assert "retried" not in res.stdout and "Traceback" not in res.stderr

    register, source_mapping = write_register(tmp_path / "src", 3)
    letter = _open_letter(tmp_path / "state.sqlite", register, source_mapping, "FOI/2023/00001")
    res = _foi_sync(config, "dead-letters", "retry")
    assert res.returncode == 3 and f"by process {holder.pid}" in res.stderr, res.stderr[-1500:]
    res = _foi_sync(config, "dead-letters", "discard", str(letter))
    assert res.returncode == 3 and f"by process {holder.pid}" in res.stderr, res.stderr[-1500:]
    with StateStore(tmp_path / "state.sqlite") as state:
        (dl,) = state.dead_letters("open")
    assert dl.id == letter and dl.attempts == 1  # neither command touched it
    assert sandbox.rows("incident") == []

    holder.communicate("", timeout=30)  # the other run ends and releases the lock
    res = _foi_sync(config, "dead-letters", "discard", str(letter))
    assert res.returncode == 0 and "discarded 1 dead letter(s)" in res.stdout, res.stderr[-1500:]


def test_a_sync_is_refused_while_a_retry_runs(
    sandbox: Any, sandbox_settings: Any, provisioned: Any, tmp_path: Path
) -> None:
    config = _config(tmp_path, sandbox)
    register, source_mapping = write_register(tmp_path / "src", 3)
    letter = _open_letter(tmp_path / "state.sqlite", register, source_mapping, "FOI/2023/00002")
    lock_file = tmp_path / "state.sqlite.lock"
    # The retry's first write to the CRM is held for a while, so the retry is mid-run when the sync starts.
    sandbox.faults.spec.slow_seconds = 20.0
    sandbox.faults.schedule("slow", method="PATCH", count=1)
    sandbox.faults.schedule("slow", method="POST", path_contains="incidents", count=1)
    retry = subprocess.Popen(
        [sys.executable, "-m", "connector", "--config", str(config), "dead-letters", "retry"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(600):  # until the retry process has the lock (its pid is written into the lock file)
            if lock_file.exists() and lock_file.read_text().strip() == str(retry.pid):
                break
            assert retry.poll() is None, retry.communicate()
            time.sleep(0.1)
        else:
            pytest.fail("the retry never took the run lock")
        res = _foi_sync(config, "sync")
        assert retry.poll() is None, "the retry finished before the sync was tried; the check proved nothing"
        assert res.returncode == 3, (res.stdout, res.stderr[-1500:])
        assert f"by process {retry.pid}" in res.stderr and "Traceback" not in res.stderr
        out, err = retry.communicate(timeout=300)
    finally:
        if retry.poll() is None:
            retry.kill()
            retry.wait()
    assert retry.returncode == 0, (out, err[-1500:])
    assert "retried 1: 1 resolved, 0 still failing" in out
    with StateStore(tmp_path / "state.sqlite") as state:
        assert state.dead_letters("open") == [] and [d.id for d in state.dead_letters(None)] == [letter]
    assert [r["foi_reference"] for r in sandbox.rows("incident")] == ["FOI-2023-00002"]


def test_pull_is_refused_while_another_process_holds_the_lock(
    sandbox: Any, sandbox_settings: Any, tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    """`pull` writes the reporting store the scheduled job also writes: it waits its turn the same way (exit 3)."""
    config = _config(tmp_path, sandbox)
    res = _foi_sync(config, "pull")
    assert res.returncode == 3, (res.stdout, res.stderr[-1500:])
    assert f"by process {holder.pid}" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "reporting.sqlite").exists()  # nothing was written
    holder.communicate("", timeout=30)
    res = _foi_sync(config, "pull")
    assert res.returncode != 3 and "Traceback" not in res.stderr, res.stderr[-1500:]
