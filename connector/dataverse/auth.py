"""Access tokens for Dataverse through MSAL: client secret, certificate (PEM or PFX) or device code.

Tokens are reused until shortly before they expire; :meth:`TokenProvider.invalidate` drops them (after a 401) so
the next call fetches a fresh one instead of MSAL's cached copy.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msal
import requests

from connector.config import DataverseSettings
from connector.dataverse.errors import AuthenticationFailed, SignInRefused, SignInUnreachable
from connector.dataverse.transport import VerifyingSession
from connector.errors import ConfigError
from connector.logs import get_logger

log = get_logger(__name__)

#: Authority hosts per cloud, chosen from the Dataverse URL; override with dataverse.authority_host.
_AUTHORITY_BY_SUFFIX = {
    ".crm.microsoftdynamics.us": "https://login.microsoftonline.us",  # GCC High
    ".crm.appsplatform.us": "https://login.microsoftonline.us",  # DoD
    ".crm.dynamics.cn": "https://login.chinacloudapi.cn",
}
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"


def authority_for(settings: DataverseSettings) -> str:
    host = settings.authority_host
    if not host:
        netloc = urlsplit(settings.url).hostname or ""
        host = next((v for k, v in _AUTHORITY_BY_SUFFIX.items() if netloc.endswith(k)), DEFAULT_AUTHORITY_HOST)
    return f"{host.rstrip('/')}/{settings.tenant_id}"


def scope_for(settings: DataverseSettings) -> str:
    return settings.scope or f"{settings.url.rstrip('/')}/.default"


def _certificate_credential(settings: DataverseSettings) -> dict[str, Any]:
    path = settings.certificate_path
    if path is None or not Path(path).exists():
        raise ConfigError(
            f"dataverse.certificate_path: file '{path}' not found; point it at the PEM or PFX of the app registration"
        )
    password = settings.resolved_certificate_password()
    pw = password.get_secret_value() if password else None
    if str(path).lower().endswith((".pfx", ".p12")):
        cred: dict[str, Any] = {"private_key_pfx_path": str(path)}
        if pw:
            cred["passphrase"] = pw
        return cred
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    pem = Path(path).read_bytes()
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise ConfigError(
            f"dataverse.certificate_path: '{path}' holds no PEM certificate; the file needs the certificate and its "
            "private key (openssl pkcs12 -in file.pfx -out file.pem -nodes)"
        ) from None
    cred = {"private_key": pem.decode(), "thumbprint": cert.fingerprint(hashes.SHA1()).hex()}  # noqa: S303
    if pw:
        cred["passphrase"] = pw
    return cred


def _unreachable(authority: str, exc: requests.RequestException) -> SignInUnreachable:
    """No answer from the token endpoint: a network problem, not a refused credential (so never "HTTP 401")."""
    what = "the TLS certificate was not trusted" if isinstance(exc, requests.exceptions.SSLError) else "no answer"
    return SignInUnreachable(
        f"could not reach the sign-in authority {authority} ({what}: {type(exc).__name__}). Fix: check "
        "dataverse.authority_host and dataverse.tenant_id, the network, firewall and proxy (HTTPS_PROXY), and "
        "dataverse.ca_bundle"
    )


class TokenProvider:
    def __init__(self, settings: DataverseSettings, http: requests.Session | None = None) -> None:
        self.settings = settings
        self.scope = scope_for(settings)
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self.acquired = 0
        session = http or VerifyingSession(str(settings.ca_bundle) if settings.ca_bundle else None)
        authority = authority_for(settings)
        common = {
            "authority": authority,
            "http_client": session,
            "timeout": settings.timeout_seconds,
            # Only Microsoft's own hosts are in MSAL's instance list; sovereign clouds and the sandbox are not.
            "instance_discovery": authority.startswith(DEFAULT_AUTHORITY_HOST),
        }
        try:
            self._app: msal.ClientApplication = self._make_app(settings, common)
        except requests.RequestException as exc:
            raise _unreachable(authority, exc) from None
        except ValueError as exc:
            what = "certificate or its password" if settings.auth == "certificate" else "authority"
            raise AuthenticationFailed(
                f"MSAL could not use the configured {what} ({type(exc).__name__}); check dataverse.certificate_path, "
                "FOI_SYNC_DATAVERSE__CERTIFICATE_PASSWORD and dataverse.authority_host"
            ) from None

    @staticmethod
    def _make_app(settings: DataverseSettings, common: dict[str, Any]) -> msal.ClientApplication:
        if settings.auth == "device_code":
            return msal.PublicClientApplication(settings.client_id, **common)
        else:
            if settings.auth == "certificate":
                credential: str | dict[str, Any] = _certificate_credential(settings)
            else:
                secret = settings.resolved_client_secret()
                if secret is None:
                    raise ConfigError(
                        "dataverse.client_secret: no client secret; set FOI_SYNC_DATAVERSE__CLIENT_SECRET or "
                        "dataverse.client_secret_file (never put the secret in the TOML file)"
                    )
                credential = secret.get_secret_value()
            return msal.ConfidentialClientApplication(settings.client_id, client_credential=credential, **common)

    def token(self) -> str:
        """A valid access token, reused until shortly before it expires (10% of its lifetime, at most 5 min)."""
        with self._lock:
            if self._token and time.time() < self._refresh_at:
                return self._token
            return self._acquire()

    def invalidate(self, used: str | None = None) -> None:
        """Forget cached tokens (ours and MSAL's) so the next call asks the token endpoint. With ``used``, only if
        that is still the current token (several workers hitting 401 together refresh once)."""
        with self._lock:
            if used is not None and used != self._token:
                return
            self._token = None
            self._refresh_at = 0.0
            cache = self._app.token_cache
            for at in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(at)

    def _acquire(self) -> str:
        scopes = [self.scope]
        if self.settings.auth == "device_code":
            accounts = self._app.get_accounts()
            result = self._app.acquire_token_silent(scopes, account=accounts[0]) if accounts else None
            if not result:
                flow = self._app.initiate_device_flow(scopes=scopes)
                if "user_code" not in flow:
                    raise AuthenticationFailed(f"device code flow could not start: {flow.get('error_description')}")
                print(flow["message"], flush=True)
                result = self._app.acquire_token_by_device_flow(flow)
        else:
            try:
                result = self._app.acquire_token_for_client(scopes=scopes)
            except requests.RequestException as exc:
                raise _unreachable(authority_for(self.settings), exc) from None
        if "access_token" not in result:
            desc = str(result.get("error_description") or result.get("error") or "no token returned").split("\n")[0]
            raise SignInRefused(
                f"could not get a token for {self.scope} from {authority_for(self.settings)}: {desc.rstrip('.')}. Fix: "
                "check dataverse.tenant_id, dataverse.client_id and the client secret or certificate"
            )
        self.acquired += 1
        self._token = result["access_token"]
        lifetime = float(result.get("expires_in") or 300)
        self._refresh_at = time.time() + lifetime - min(300.0, lifetime * 0.1)
        log.debug(
            "access token acquired",
            extra={"source": result.get("token_source"), "expires_in": result.get("expires_in")},
        )
        return self._token
