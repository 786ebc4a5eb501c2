"""Configuration: TOML + environment, secrets only from env or secret files, errors a person can act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import load_settings
from connector.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "foi-sync.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_loads_and_points_at_the_sandbox() -> None:
    settings = load_settings(None)
    assert settings.dataverse.url.startswith("http://127.0.0.1")
    assert settings.deadlines.receipt_rule == "arrival"


def test_environment_overrides_nested_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[council]\nname = "Anytown Council"\n')
    monkeypatch.setenv("FOI_SYNC_COUNCIL__NAME", "Othertown Council")
    monkeypatch.setenv("FOI_SYNC_DATAVERSE__CLIENT_SECRET", "s3cret-value")
    settings = load_settings(path)
    assert settings.council.name == "Othertown Council"
    assert settings.dataverse.resolved_client_secret().get_secret_value() == "s3cret-value"
    assert "s3cret-value" not in repr(settings) and "s3cret-value" not in str(settings.model_dump())


def test_secret_in_toml_is_refused_with_the_env_var_to_use(tmp_path: Path) -> None:
    path = write(tmp_path, '[dataverse]\nclient_secret = "oops"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert "FOI_SYNC_DATAVERSE__CLIENT_SECRET" in str(err.value)
    assert "oops" not in str(err.value)


def test_secret_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FOI_SYNC_DATAVERSE__CLIENT_SECRET", raising=False)  # the environment would win over the file
    secret = tmp_path / "secret.txt"
    secret.write_text("from-file\n")
    path = write(tmp_path, '[dataverse]\nclient_secret_file = "secret.txt"\n')
    assert load_settings(path).dataverse.resolved_client_secret().get_secret_value() == "from-file"


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[dataverse]\nurl = "http://crm.example.org"\n', "'dataverse.url'"),
        ('[dataverse]\nurll = "https://x.crm11.dynamics.com"\n', "unknown key"),
        ('[deadlines]\nreceipt_rule = "sometimes"\n', "'deadlines.receipt_rule'"),
        ("[council\n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_key_and_the_fix(tmp_path: Path, toml: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, toml))
    assert expected in str(err.value)


def test_https_required_except_loopback(tmp_path: Path) -> None:
    ok = load_settings(write(tmp_path, '[dataverse]\nurl = "http://localhost:9999/"\n'))
    assert ok.dataverse.url == "http://localhost:9999"
    with pytest.raises(ConfigError, match="https"):
        load_settings(write(tmp_path, '[dataverse]\nurl = "http://10.0.0.5"\n'))


def test_cli_exits_2_on_bad_config(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = write(tmp_path, '[dataverse]\nurl = "ftp://nope"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "connector", "--config", str(path), "doctor"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2, proc.stderr
    # doctor reports each check as a line on stdout; the config problem is one of them.
    assert "dataverse.url" in proc.stdout + proc.stderr


def test_relative_paths_of_a_config_moved_to_etc(tmp_path: Path) -> None:
    """A config in /etc/foi-sync keeps finding the shipped mappings; its own copy wins; data paths stay beside it."""
    from connector.config import load_settings
    from connector.paths import REPO_ROOT

    etc = tmp_path / "etc" / "foi-sync"
    etc.mkdir(parents=True)
    config = etc / "foi-sync.toml"
    config.write_text(
        '[sync]\ntarget_mapping = "mappings/target-incident.toml"\nstate_path = "var/state.sqlite"\n'
        '[intake]\nrules = "mappings/routing-rules.toml"\n',
        encoding="utf-8",
    )
    s = load_settings(config)
    assert s.sync.target_mapping == REPO_ROOT / "mappings" / "target-incident.toml"
    assert s.intake.rules == REPO_ROOT / "mappings" / "routing-rules.toml"
    assert s.sync.state_path == etc / "var" / "state.sqlite"
    (etc / "mappings").mkdir()
    (etc / "mappings" / "routing-rules.toml").write_text("# the council's own\n", encoding="utf-8")
    assert load_settings(config).intake.rules == etc / "mappings" / "routing-rules.toml"
