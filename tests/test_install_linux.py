"""scripts/install-linux.sh into a throwaway root: files, owners and modes, the units, idempotence, uninstall, and the
installed job syncing against the sandbox as the unprivileged service account.

Nothing is stubbed: with ``--root`` the script enables the timer with ``systemctl --root`` (which works without a
running systemd), and the service account is an existing unprivileged one (``nobody``) so that the test creates no
account on this machine. The root lives in /tmp (not pytest's owner-only folder) so that account can reach it.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
USER = "nobody"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1500),
    pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="the installer runs as root"),
    pytest.mark.skipif(
        not (shutil.which("systemctl") and shutil.which("runuser")), reason="needs systemctl and runuser (Debian)"
    ),
]


@pytest.fixture
def root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="foi-sync-root-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FOI_SYNC_", "REQUESTS_CA", "VIRTUAL_ENV"))}
    clean["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
    clean.update(env or {})
    return subprocess.run(args, capture_output=True, text=True, env=clean, timeout=1200, check=False)


def owner(path: Path) -> tuple[str, str, int]:
    st = path.stat()
    return pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name, stat.S_IMODE(st.st_mode)


def string_values(data: Any) -> Iterator[tuple[str, str]]:
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, str):
                yield key, value
            else:
                yield from string_values(value)
    elif isinstance(data, list):
        for item in data:
            yield from string_values(item)


def test_install_linux_into_a_throwaway_root(root: Path, sandbox: Any) -> None:
    group = grp.getgrgid(pwd.getpwnam(USER).pw_gid).gr_name
    installer = [
        "bash",
        str(REPO / "scripts" / "install-linux.sh"),
        "--root",
        str(root),
        "--user",
        USER,
        "--url",
        sandbox.url,
        "--tenant-id",
        "sandbox",
        "--client-id",
        sandbox.client_id,
        "--authority-host",
        sandbox.https_url,
        "--ca-bundle",
        str(sandbox.ca_bundle),
    ]
    secret_env = {"FOI_SYNC_DATAVERSE__CLIENT_SECRET": sandbox.client_secret}
    done = run(installer, secret_env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    out = done.stdout
    # doctor ran as the service account: it signed in, and says the fresh tenant still needs the FOI columns.
    assert "ok   token: access token acquired" in out and "ok   permissions (WhoAmI)" in out, out
    assert "FAIL mapping" in out and "doctor exited 2" in out, out

    opt, etc = root / "opt" / "foi-sync", root / "etc" / "foi-sync"
    config, secret = etc / "foi-sync.toml", etc / "client-secret"
    assert (opt / ".venv" / "bin" / "foi-sync").is_file()
    assert (opt / "mappings" / "target-incident.toml").is_file() and not (opt / "tests").exists()
    assert owner(etc) == ("root", group, 0o750)
    assert owner(config) == ("root", group, 0o640)
    assert owner(secret) == (USER, group, 0o400)
    assert secret.read_text(encoding="utf-8").strip() == sandbox.client_secret
    assert owner(opt / "var") == (USER, group, 0o700)
    text = config.read_text(encoding="utf-8")
    assert sandbox.client_secret not in text
    settings = tomllib.loads(text)
    paths = {k: v for k, v in string_values(settings) if k.endswith(("_path", "_dir", "_file", "mapping", "rules"))}
    paths |= {k: v for k, v in string_values(settings) if k in ("holiday_overrides", "team_calendars", "ca_bundle")}
    assert len(paths) >= 10, paths
    assert all(Path(v).is_absolute() for v in paths.values()), paths
    assert all(v.startswith((str(opt), str(etc))) for v in paths.values()), paths

    units = root / "etc" / "systemd" / "system"
    service = (units / "foi-sync.service").read_text(encoding="utf-8")
    assert f"ExecStart={opt}/.venv/bin/foi-sync --config {config} --log-format json sync" in service
    assert f"User={USER}\n" in service and f"Group={group}\n" in service
    assert f"ReadWritePaths={opt}/var" in service and f"WorkingDirectory={opt}\n" in service
    # enabled: systemctl --root links the timer as the installed system will see it
    assert os.readlink(units / "timers.target.wants" / "foi-sync.timer") == "/etc/systemd/system/foi-sync.timer"

    # Idempotent: a second run keeps the (possibly edited) config and changes nothing else that matters.
    config.write_text(text + "# edited by the council\n", encoding="utf-8")
    again = run(installer, secret_env)
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    assert config.read_text(encoding="utf-8").endswith("# edited by the council\n")
    assert owner(secret) == (USER, group, 0o400) and owner(config) == ("root", group, 0o640)

    # The CRM admin provisions the schema, IT adds the register to the config, and the job runs as the service does.
    foi = [str(opt / ".venv" / "bin" / "foi-sync"), "--config", str(config)]
    as_service = ["runuser", "-u", USER, "--"]
    provision = run([*as_service, *foi, "mapping", "provision"])
    assert provision.returncode == 0, provision.stdout + provision.stderr
    with config.open("a", encoding="utf-8") as f:
        f.write(
            f'\n[[intake.sources]]\nname = "sample-register"\nkind = "csv"\npath = "{opt}/samples/sample-register.csv"\n'
            f'mapping = "{opt}/mappings/source-sample-register.toml"\n'
        )
    job = run([*as_service, *foi, "--log-format", "json", "sync"])
    assert job.returncode == 0, job.stderr[-4000:]
    lines = [json.loads(line) for line in job.stderr.splitlines() if line.strip()]
    finished = lines[-1]
    assert finished["msg"] == "run finished" and finished["exit_code"] == 0
    assert finished["counts"]["created"] > 250
    state = opt / "var" / "foi-sync-state.sqlite"
    assert owner(state)[0] == USER and owner(state)[2] & 0o077 == 0
    assert (opt / "var" / "reports").is_dir()

    # Uninstall keeps config, secret and data; --purge removes them.
    gone = run(["bash", str(REPO / "scripts" / "install-linux.sh"), "--root", str(root), "--user", USER, "--uninstall"])
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert not (units / "foi-sync.service").exists()
    assert not os.path.lexists(units / "timers.target.wants" / "foi-sync.timer")
    assert not (opt / ".venv").exists() and config.exists() and secret.exists() and state.exists()
    purge = run(
        [
            "bash",
            str(REPO / "scripts" / "install-linux.sh"),
            "--root",
            str(root),
            "--user",
            USER,
            "--uninstall",
            "--purge",
        ]
    )
    assert purge.returncode == 0, purge.stdout + purge.stderr
    assert not opt.exists() and not etc.exists()
