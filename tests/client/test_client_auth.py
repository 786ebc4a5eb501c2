"""MSAL authentication against the sandbox's own token endpoints: secret, certificate (PEM, PFX), device code,
token reuse, proactive refresh, a token expiring mid-run, and clear failures."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from connector.config import DataverseSettings
from connector.dataverse import DataverseClient
from connector.dataverse.auth import authority_for, scope_for
from connector.dataverse.errors import AuthenticationFailed


def test_secret_auth_reuses_the_token(dv_client: Any) -> None:
    me = dv_client.whoami()
    assert set(me) == {"UserId", "BusinessUnitId", "OrganizationId"}
    for _ in range(5):
        dv_client.whoami()
    assert dv_client.tokens.acquired == 1
    assert dv_client.stats.snapshot()["token_refreshes"] == 0


def test_short_lived_tokens_are_renewed_before_they_expire(make_sandbox: Any, client_for: Any) -> None:
    sb = make_sandbox(token_lifetime_seconds=2)
    client = client_for(sb)
    deadline = time.monotonic() + 2.6
    while time.monotonic() < deadline:
        client.whoami()
        time.sleep(0.2)
    assert client.tokens.acquired >= 2
    assert client.stats.snapshot()["token_refreshes"] == 0  # renewed ahead of expiry: never a 401


def test_token_expiring_mid_run_is_refreshed_and_the_run_continues(make_sandbox: Any, client_for: Any) -> None:
    sb = make_sandbox(profile="realistic")
    client = client_for(sb, max_workers=2, bulk_chunk_size=100)
    client.whoami()
    timers = [threading.Timer(t, sb.expire_tokens) for t in (0.4, 0.9)]
    for t in timers:
        t.start()
    items = [({"accountnumber": f"T-{i:05d}"}, {"name": f"Token run {i}"}) for i in range(2000)]
    result = client.upsert_multiple("accounts", "account", items)
    for t in timers:
        t.join()
    assert result.failed == [] and result.succeeded == 2000
    assert len([r for r in sb.rows("account") if str(r.get("accountnumber", "")).startswith("T-")]) == 2000
    stats = client.stats.snapshot()
    assert stats["token_refreshes"] >= 1
    assert client.tokens.acquired >= 2


class _ExpiredTokens:
    """A token source handing out real sandbox tokens that are already expired."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.invalidated = 0

    def token(self) -> str:
        return self.sandbox.issue_token(lifetime=-10)

    def invalidate(self, used: str | None = None) -> None:
        self.invalidated += 1


def test_a_second_401_is_a_clear_authentication_error(sandbox: Any, sandbox_settings: Any) -> None:
    tokens = _ExpiredTokens(sandbox)
    with (
        DataverseClient.from_settings(sandbox_settings, tokens=tokens) as client,
        pytest.raises(AuthenticationFailed, match="ExpiredAuthTicket") as info,
    ):
        client.whoami()
    assert tokens.invalidated == 1  # refreshed once, then gave up
    assert info.value.status == 401


def test_wrong_secret_names_the_fix_without_the_secret(
    sandbox: Any, sandbox_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOI_SYNC_DATAVERSE__CLIENT_SECRET", "not-the-secret")
    from connector.config import load_settings

    settings = load_settings(None, dataverse=sandbox_settings.dataverse.model_dump(exclude={"client_secret"})).dataverse
    with DataverseClient.from_settings(settings) as client, pytest.raises(AuthenticationFailed) as info:
        client.whoami()
    text = str(info.value)
    assert "AADSTS7000215" in text and "client secret" in text
    assert "not-the-secret" not in text


def _certificate(tmp_path: Path, password: bytes) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "foi-sync test app")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    pem = tmp_path / "app.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    pfx = tmp_path / "app.pfx"
    pfx.write_bytes(
        pkcs12.serialize_key_and_certificates(b"app", key, cert, None, serialization.BestAvailableEncryption(password))
    )
    return pem, pfx


@pytest.mark.parametrize("kind", ["pem", "pfx"])
def test_certificate_auth_with_password_from_the_environment(
    kind: str, sandbox: Any, settings_for: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pem, pfx = _certificate(tmp_path, b"cert-pass-123")
    monkeypatch.setenv("FOI_SYNC_DATAVERSE__CERTIFICATE_PASSWORD", "cert-pass-123")
    settings = settings_for(sandbox, auth="certificate", certificate_path=str(pem if kind == "pem" else pfx))
    with DataverseClient.from_settings(settings) as client:
        assert client.whoami()["UserId"]
        assert client.tokens.acquired == 1


def test_device_code_flow_prints_the_prompt(
    sandbox: Any, settings_for: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(sandbox, auth="device_code")
    with DataverseClient.from_settings(settings) as client:
        assert client.whoami()["UserId"]
    assert "no sign-in needed" in capsys.readouterr().out


def test_authority_and_scope_follow_the_environment_url() -> None:
    commercial = DataverseSettings(url="https://contoso.crm11.dynamics.com", tenant_id="t1")
    assert authority_for(commercial) == "https://login.microsoftonline.com/t1"
    assert scope_for(commercial) == "https://contoso.crm11.dynamics.com/.default"
    gcc_high = DataverseSettings(url="https://contoso.crm.microsoftdynamics.us", tenant_id="t1")
    assert authority_for(gcc_high) == "https://login.microsoftonline.us/t1"
    china = DataverseSettings(url="https://contoso.crm.dynamics.cn", tenant_id="t1")
    assert authority_for(china) == "https://login.chinacloudapi.cn/t1"
    override = DataverseSettings(
        url="https://contoso.crm11.dynamics.com",
        tenant_id="t1",
        authority_host="https://login.example.gov/",
        scope="https://contoso.api.crm11.dynamics.com/.default",
    )
    assert authority_for(override) == "https://login.example.gov/t1"
    assert scope_for(override) == "https://contoso.api.crm11.dynamics.com/.default"


def test_wrong_certificate_password_is_a_clear_error(
    sandbox: Any, settings_for: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, pfx = _certificate(tmp_path, b"right-password")
    monkeypatch.setenv("FOI_SYNC_DATAVERSE__CERTIFICATE_PASSWORD", "wrong-password")
    settings = settings_for(sandbox, auth="certificate", certificate_path=str(pfx))
    with pytest.raises(AuthenticationFailed, match="certificate") as info:
        DataverseClient.from_settings(settings).whoami()
    assert "wrong-password" not in str(info.value)
