"""Authentication (OAuth via the real MSAL library), TLS, service protection limits, fault injection, persistence.

Sources (learn.microsoft.com/power-apps/developer/data-platform/...): OAUTH authenticate-oauth; MSAL
python/api/msal/msal.application.confidentialclientapplication; COMPOSE webapi/compose-http-requests-handle-errors
(401 reasons); LIMITS api-limits; PARALLEL send-parallel-requests (x-ms-dop-hint).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import msal
import pytest
import requests
from sandbox_support import Api, error_of

from connector.sandbox.limits import LimitOptions
from connector.sandbox.server import SandboxOptions, SandboxServer

TIMEOUT = 30


def _msal_app(sb: Any, secret: str) -> msal.ConfidentialClientApplication:
    # The sandbox authority is not a Microsoft host, so MSAL's instance discovery (a call to
    # login.microsoftonline.com) is switched off; tenant discovery then reads the sandbox's openid-configuration.
    return msal.ConfidentialClientApplication(
        sb.client_id, client_credential=secret, authority=sb.authority, instance_discovery=False
    )


def test_msal_client_credentials_against_the_sandbox_authority(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # MSAL: ConfidentialClientApplication(client_id, client_credential=<secret>, authority=...) then
    # acquire_token_for_client(scopes=["<environment URL>/.default"]) [OAUTH], over the sandbox's own TLS address.
    # requests lets REQUESTS_CA_BUNDLE override a session's verify, so the CA is trusted through the environment.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox.ca_bundle))
    assert sandbox.authority.startswith("https://127.0.0.1:")
    result = _msal_app(sandbox, sandbox.client_secret).acquire_token_for_client(scopes=[f"{sandbox.url}/.default"])
    assert result.get("token_type") == "Bearer", result
    assert result["expires_in"] > 0
    r = requests.get(
        timeout=TIMEOUT, url=sandbox.api_url + "WhoAmI", headers={"Authorization": f"Bearer {result['access_token']}"}
    )
    assert r.status_code == 200
    # wrong secret: AADSTS7000215 invalid_client; the Web API is never reached
    bad = _msal_app(sandbox, "not-the-secret").acquire_token_for_client(scopes=[f"{sandbox.url}/.default"])
    assert bad["error"] == "invalid_client" and "AADSTS7000215" in bad["error_description"]
    # a scope for some other resource is refused (AADSTS500011)
    other = _msal_app(sandbox, sandbox.client_secret).acquire_token_for_client(
        scopes=["https://org.crm11.dynamics.com/.default"]
    )
    assert other["error"] == "invalid_resource"


def test_every_call_needs_a_valid_bearer_token(sandbox: Any) -> None:
    # OAUTH/COMPOSE: no token -> 401 with a bearer challenge; expired or wrong-audience token -> 401.
    url = sandbox.api_url + "WhoAmI"
    r = requests.get(timeout=TIMEOUT, url=url)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert f"authorization_uri={sandbox.authority}/oauth2/authorize" in r.headers["WWW-Authenticate"]
    expired = sandbox.issue_token(lifetime=-1)
    r = requests.get(timeout=TIMEOUT, url=url, headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and "expired" in r.headers["WWW-Authenticate"].lower()
    wrong_aud = sandbox.issue_token(audience="https://contoso.crm11.dynamics.com")
    r = requests.get(timeout=TIMEOUT, url=url, headers={"Authorization": f"Bearer {wrong_aud}"})
    assert r.status_code == 401 and "audience" in r.headers["WWW-Authenticate"]
    good = sandbox.issue_token()
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    assert requests.get(timeout=TIMEOUT, url=url, headers={"Authorization": f"Bearer {tampered}"}).status_code == 401
    assert requests.get(timeout=TIMEOUT, url=url, headers={"Authorization": f"Bearer {good}"}).status_code == 200
    # the https listener accepts a token for the https origin as well
    https_token = sandbox.issue_token(audience=sandbox.https_url)
    r = requests.get(
        timeout=TIMEOUT,
        url=sandbox.https_url + "/api/data/v9.2/WhoAmI",
        headers={"Authorization": f"Bearer {https_token}"},
        verify=str(sandbox.ca_bundle),
    )
    assert r.status_code == 200


def test_token_expires_mid_run() -> None:
    # OAUTH: access tokens expire; lifetime is configurable so a run meets an expiry.
    # (2 s, not 1: the first call must land inside the lifetime even on a loaded CI machine.)
    with SandboxServer(SandboxOptions(port=0, token_lifetime_seconds=2.0)) as sb:
        api = Api(sb.api_url, sb.issue_token())
        assert api.get("WhoAmI").status_code == 200
        time.sleep(2.2)
        assert api.get("WhoAmI").status_code == 401
        api2 = Api(sb.api_url, sb.issue_token(lifetime=60))
        assert api2.get("WhoAmI").status_code == 200
        sb.expire_tokens()  # or every token issued so far, on demand
        assert api2.get("WhoAmI").status_code == 401
        assert Api(sb.api_url, sb.issue_token()).get("WhoAmI").status_code == 200


def test_tls_environment_url(monkeypatch: pytest.MonkeyPatch) -> None:
    # --tls: the environment URL is https with a throwaway CA for 127.0.0.1 and localhost; plain http stays up.
    with SandboxServer(SandboxOptions(port=0, tls=True)) as sb:
        assert sb.url.startswith("https://127.0.0.1:") and sb.api_url.startswith(sb.url)
        token = sb.issue_token()
        r = requests.get(
            timeout=TIMEOUT,
            url=sb.api_url + "WhoAmI",
            headers={"Authorization": f"Bearer {token}"},
            verify=str(sb.ca_bundle),
        )
        assert r.status_code == 200
        localhost = sb.api_url.replace("127.0.0.1", "localhost")
        assert requests.get(
            timeout=TIMEOUT,
            url=localhost + "WhoAmI",
            headers={"Authorization": f"Bearer {token}"},
            verify=str(sb.ca_bundle),
        ).ok
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(
                timeout=TIMEOUT, url=sb.api_url + "WhoAmI", verify=True
            )  # default trust store does not know the throwaway CA
        r = requests.get(
            timeout=TIMEOUT,
            url=sb.http_url + "/api/data/v9.2/WhoAmI",
            headers={"Authorization": f"Bearer {sb.issue_token(sb.http_url)}"},
        )
        assert r.status_code == 200
        created = requests.post(
            timeout=TIMEOUT,
            url=sb.api_url + "accounts",
            json={"name": "TLS"},
            headers={"Authorization": f"Bearer {token}"},
            verify=str(sb.ca_bundle),
        )
        assert created.headers["OData-EntityId"].startswith(sb.url + "/api/data/v9.2/accounts(")


def test_the_sandbox_refuses_non_loopback_hosts() -> None:
    with pytest.raises(ValueError, match="loopback"):
        SandboxServer(SandboxOptions(host="0.0.0.0", port=0))  # noqa: S104


def _limited(**kw: Any) -> SandboxServer:
    return SandboxServer(SandboxOptions(port=0, limits=LimitOptions(**kw)))


def test_request_count_limit_429() -> None:
    # LIMITS: -2147015902 / 0x80072322 "Number of requests exceeded the limit of 6000 over time window of 300 seconds."
    with _limited(requests=5, window_seconds=2) as sb:
        api = Api(sb.api_url, sb.issue_token())
        for _ in range(5):
            r = api.get("WhoAmI")
            assert r.status_code == 200
        assert r.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] == "0"
        r = api.get("WhoAmI")
        assert r.status_code == 429
        assert error_of(r) == (
            "0x80072322",
            "Number of requests exceeded the limit of 5 over time window of 2 seconds.",
        )
        assert 1 <= int(r.headers["Retry-After"]) <= 2
        assert int(r.headers["x-ms-dop-hint"]) >= 1
        time.sleep(int(r.headers["Retry-After"]))
        assert api.get("WhoAmI").status_code == 200  # the window slid on


def test_execution_time_limit_429() -> None:
    # LIMITS: -2147015903 / 0x80072321 "Combined execution time of incoming requests exceeded limit of 1,200,000
    # milliseconds over time window of 300 seconds. Decrease number of concurrent requests or reduce the duration of
    # requests and try again later."
    with SandboxServer(
        SandboxOptions(port=0, limits=LimitOptions(execution_ms=100, window_seconds=2), faults="slow_seconds=0.15")
    ) as sb:
        api = Api(sb.api_url, sb.issue_token())
        sb.faults.schedule("slow", path_contains="WhoAmI")
        assert api.get("WhoAmI").status_code == 200
        r = api.get("WhoAmI")
        assert r.status_code == 429
        code, message = error_of(r)
        assert code == "0x80072321"
        assert message == (
            "Combined execution time of incoming requests exceeded limit of 100 milliseconds over time window of 2 "
            "seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later."
        )
        assert int(r.headers["Retry-After"]) >= 1


def test_concurrent_request_limit_429() -> None:
    # LIMITS/PARALLEL: -2147015898 / 0x80072326 "Number of concurrent requests exceeded the limit of 52."
    # The slow request holds its slot 2 s; the second comes 0.5 s after it started (margins for a loaded CI machine).
    with SandboxServer(SandboxOptions(port=0, limits=LimitOptions(concurrent=1), faults="slow_seconds=2")) as sb:
        token = sb.issue_token()
        sb.faults.schedule("slow", path_contains="accounts")
        slow = threading.Thread(target=lambda: Api(sb.api_url, token).get("accounts?$select=name"))
        slow.start()
        time.sleep(0.5)
        r = Api(sb.api_url, token).get("WhoAmI")
        slow.join()
        assert r.status_code == 429
        assert error_of(r) == ("0x80072326", "Number of concurrent requests exceeded the limit of 1.")
        assert r.headers["Retry-After"].isdigit()


def test_fault_injection_spec() -> None:
    # --faults: seeded shares of 5xx answers, dropped connections, slow answers and 429 bursts.
    with SandboxServer(SandboxOptions(port=0, faults="5xx=0.3,drop=0.1,burst=0.0,after=0,seed=7")) as sb:
        token = sb.issue_token()
        statuses: list[int | str] = []
        for _ in range(60):
            try:
                statuses.append(
                    requests.get(
                        timeout=TIMEOUT, url=sb.api_url + "WhoAmI", headers={"Authorization": f"Bearer {token}"}
                    ).status_code
                )
            except requests.exceptions.ConnectionError:
                statuses.append("dropped")
        assert statuses.count(200) > 20
        assert any(s in (502, 503, 504) for s in statuses)
        assert "dropped" in statuses
        assert sb.faults.injected["5xx"] == sum(1 for s in statuses if s in (502, 503, 504))
    # scheduled faults are exact: a 5xx *after* the write committed (the duplicate-making case), and a 429 burst
    with SandboxServer(SandboxOptions(port=0, faults="burst_seconds=1")) as sb:
        api = Api(sb.api_url, sb.issue_token())
        sb.faults.schedule("5xx", method="POST", after=True, status=503)
        r = api.post("accounts", json={"name": "Committed anyway"})
        assert r.status_code == 503 and error_of(r)
        assert [row["name"] for row in sb.rows("account")] == ["Committed anyway"]
        sb.faults.schedule("burst")
        r = api.get("WhoAmI")
        assert r.status_code == 429 and error_of(r)[0] == "0x80072322" and r.headers["Retry-After"] == "1"
    with pytest.raises(ValueError, match="unknown fault"):
        SandboxServer(SandboxOptions(port=0, faults="explode=1"))


def test_file_backed_db_survives_restart(tmp_path: Path) -> None:
    # --db PATH: records, custom schema and change-tracking versions persist across restarts.
    db = tmp_path / "crm.sqlite"
    with SandboxServer(SandboxOptions(port=0, db_path=db)) as sb:
        api = Api(sb.api_url, sb.issue_token())
        aid = api.create("accounts", {"name": "Persistent", "accountnumber": "P-1"})
        r = api.post(
            "EntityDefinitions(LogicalName='account')/Attributes",
            json={
                "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata",
                "SchemaName": "foi_Reference",
                "MaxLength": 20,
                "DisplayName": {"LocalizedLabels": [{"Label": "Reference", "LanguageCode": 1033}]},
            },
        )
        assert r.status_code == 204, r.text
        api.patch(f"accounts({aid})", json={"foi_reference": "FOI-1"})
        delta = api.get("accounts?$select=name", headers={"Prefer": "odata.track-changes"}).json()["@odata.deltaLink"]
        ca = sb.ca_bundle.read_bytes()
        user = api.get("WhoAmI").json()["UserId"]
    with SandboxServer(SandboxOptions(port=0, db_path=db)) as sb:
        api = Api(sb.api_url, sb.issue_token())
        row = api.get("accounts(accountnumber='P-1')?$select=name,foi_reference").json()
        assert row["accountid"] == aid and row["foi_reference"] == "FOI-1"
        assert sb.ca_bundle.read_bytes() == ca  # the CA is reused, so a trusted bundle stays valid
        assert api.get("WhoAmI").json()["UserId"] == user
        assert len(sb.rows("team")) == 10  # seeds are not duplicated
        api.patch(f"accounts({aid})", json={"name": "Changed after restart"})
        delta_link = delta.replace(delta.split("/api/")[0], sb.url)
        changed = api.get(delta_link).json()["value"]
        assert [c["accountid"] for c in changed] == [aid]


def test_realistic_profile_states_a_ceiling_and_costs_time() -> None:
    with SandboxServer(SandboxOptions(port=0, profile="realistic")) as sb:
        ceiling = sb.ceiling()
        assert ceiling["CreateMultiple"] > ceiling["single"] > 0
        api = Api(sb.api_url, sb.issue_token())
        t = time.perf_counter()
        api.get("WhoAmI")
        assert time.perf_counter() - t >= 0.01  # per-request latency
        info = requests.get(timeout=TIMEOUT, url=sb.url + "/_sandbox").json()
        assert info["profile"] == "realistic" and info["ceiling_records_per_second"] == ceiling
    with SandboxServer(SandboxOptions(port=0)) as sb:
        assert sb.ceiling() == {}
