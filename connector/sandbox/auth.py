"""The sandbox's own token service: the OAuth 2.0 endpoints MSAL's client-credentials and device-code flows use.

Tokens are HS256 JWTs signed with a per-sandbox secret; the Web API checks signature, audience and expiry and
answers 401 with a bearer challenge, as Dataverse does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class TokenClaims:
    aud: str
    oid: str
    appid: str
    exp: float


class AuthError(Exception):
    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def _origin(url: str) -> str:
    parts = urlsplit(url.rstrip("/"))
    host = parts.hostname or ""
    if host == "localhost":
        host = "127.0.0.1"
    return f"{host}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


class TokenService:
    def __init__(self, client_id: str, client_secret: str, lifetime_seconds: float, user_id: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.lifetime_seconds = lifetime_seconds
        self.user_id = user_id
        self._key = secrets.token_bytes(32)
        self._generation = 0  # bumped by expire_all(); tokens of an older generation are expired
        self.audiences: set[str] = set()  # origins of the sandbox's own listeners
        self._device_codes: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, audience: str | None = None, lifetime: float | None = None) -> str:
        aud = audience or ("http://" + next(iter(self.audiences), ""))  # audiences holds host:port origins
        now = time.time()
        payload = {
            "aud": aud,
            "iss": "https://sandbox.foi-sync.local/",
            "iat": int(now),
            "nbf": int(now),
            "exp": now + (self.lifetime_seconds if lifetime is None else lifetime),
            "oid": self.user_id,
            "appid": self.client_id,
            "tid": "sandbox",
            "jti": uuid.uuid4().hex,
            "sandbox_gen": self._generation,
        }
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(payload).encode())
        sig = _b64(hmac.new(self._key, f"{header}.{body}".encode(), hashlib.sha256).digest())
        return f"{header}.{body}.{sig}"

    def expire_all(self) -> None:
        """Every token issued so far is treated as expired (a test makes a token expire mid-run)."""
        with self._lock:
            self._generation += 1

    def validate(self, authorization: str | None) -> TokenClaims:
        if not authorization or not authorization.startswith("Bearer ") or not authorization[7:].strip():
            raise AuthError("Bearer token is missing")
        token = authorization[7:].strip()
        try:
            header, body, sig = token.split(".")
            expected = _b64(hmac.new(self._key, f"{header}.{body}".encode(), hashlib.sha256).digest())
            if not hmac.compare_digest(expected, sig):
                raise AuthError("Error during token validation! Signature is invalid")
            claims: dict[str, Any] = json.loads(_unb64(body))
        except (ValueError, json.JSONDecodeError):
            raise AuthError("Error during token validation! Malformed token") from None
        if _origin(claims.get("aud", "")) not in self.audiences:
            raise AuthError("Error during token validation! The audience is invalid")
        if claims["exp"] <= time.time() or claims.get("sandbox_gen") != self._generation:
            raise AuthError("ExpiredAuthTicket: the access token has expired")
        return TokenClaims(claims["aud"], claims["oid"], claims["appid"], claims["exp"])

    # ------------------------------------------------------------------ OAuth endpoints
    def openid_configuration(self, issuer_base: str, tenant: str) -> dict[str, Any]:
        root = f"{issuer_base}/{tenant}"
        return {
            "issuer": f"{root}/v2.0",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_types_supported": ["code", "token"],
            "scopes_supported": ["openid", "profile", "offline_access"],
            "tenant_region_scope": "EU",
        }

    def token_endpoint(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant = form.get("grant_type")
        scope = form.get("scope", "")
        resource = next((s for s in scope.split() if s.endswith("/.default")), "")
        audience = resource[: -len("/.default")].rstrip("/")
        if grant == "client_credentials":
            if form.get("client_id") != self.client_id:
                return 400, _oauth_error("unauthorized_client", "AADSTS700016: Application not found in the directory.")
            assertion = form.get("client_assertion")
            if assertion is None and form.get("client_secret") != self.client_secret:
                return 401, _oauth_error("invalid_client", "AADSTS7000215: Invalid client secret provided.")
        elif grant in ("device_code", "urn:ietf:params:oauth:grant-type:device_code"):
            code = form.get("device_code", "")
            with self._lock:
                if code not in self._device_codes:
                    return 400, _oauth_error("expired_token", "AADSTS70019: Verification code expired.")
                # The sandbox approves a device code on the first poll: nobody is there to type it in.
                self._device_codes.pop(code)
            if not resource and self.audiences:
                # RFC 8628: the token poll carries no scope (MSAL sent it to the devicecode endpoint).
                audience = "http://" + sorted(self.audiences)[0]
        else:
            return 400, _oauth_error("unsupported_grant_type", f"AADSTS70003: grant type '{grant}' not supported.")
        if _origin(audience) not in self.audiences:
            return 400, _oauth_error(
                "invalid_resource", f"AADSTS500011: The resource principal named {audience} was not found."
            )
        token = self.issue(audience)
        return 200, {
            "token_type": "Bearer",
            "expires_in": int(self.lifetime_seconds),
            "ext_expires_in": int(self.lifetime_seconds),
            "access_token": token,
        }

    def device_code(self, issuer_base: str, form: dict[str, str]) -> dict[str, Any]:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._device_codes[code] = time.time()
        return {
            "device_code": code,
            "user_code": secrets.token_hex(4).upper(),
            "verification_uri": f"{issuer_base}/devicelogin",
            "expires_in": 900,
            "interval": 1,
            "message": "Sandbox: no sign-in needed; the code is approved automatically.",
        }


def _oauth_error(code: str, description: str) -> dict[str, Any]:
    return {
        "error": code,
        "error_description": description,
        "error_codes": [],
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
    }
