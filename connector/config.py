"""Configuration: one TOML file, overridden by ``FOI_SYNC_*`` environment variables.

Secrets (client secret, certificate password) are never read from the TOML file: they come from the
environment or from a secret file named in the TOML, so a config file can be committed or shared.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from connector import tomlfile
from connector.errors import ConfigError
from connector.paths import REPO_ROOT

DEFAULT_CONFIG_NAME = "foi-sync.toml"
EXAMPLE_CONFIG = REPO_ROOT / "config.example.toml"

#: Relative paths of these keys (files foi-sync ships: mappings, rules, templates) are looked for next to the config
#: file first, then in the install folder. Every other relative path (state, rejects, reports, secrets, CA bundle)
#: is the config file's folder only.
SHIPPED_INPUTS = {"holiday_overrides", "rules", "triage_rules", "team_calendars", "target_mapping", "template_dir"}

#: Keys that hold secrets; finding one of these in a TOML file is a configuration error.
SECRET_KEYS = {"client_secret", "certificate_password"}

Nation = Literal["england", "wales", "scotland", "northern-ireland"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class DataverseSettings(_Section):
    """Where the CRM is and how to authenticate against it."""

    url: str = "http://127.0.0.1:8765"
    api_version: str = "v9.2"
    tenant_id: str = "sandbox"
    client_id: str = "foi-sync-sandbox"
    auth: Literal["client_secret", "certificate", "device_code"] = "client_secret"
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None
    certificate_path: Path | None = None
    certificate_password: SecretStr | None = None
    certificate_password_file: Path | None = None
    authority_host: str | None = None
    scope: str | None = None
    ca_bundle: Path | None = None
    timeout_seconds: float = Field(default=120.0, gt=0)
    retry_budget_seconds: float = Field(default=900.0, gt=0)
    max_workers: int = Field(default=0, ge=0, description="0 means: follow the server's x-ms-dop-hint")
    bulk_chunk_size: int = Field(default=200, ge=1, le=1000)
    requests_per_window: int = Field(
        default=6000, ge=1, description="service protection limit the client paces itself to (Dataverse: 6,000)"
    )
    request_window_seconds: float = Field(default=300.0, gt=0, description="its sliding window (Dataverse: 5 minutes)")

    @field_validator("url")
    @classmethod
    def _https_unless_loopback(cls, value: str) -> str:
        value = value.rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"'{value}' is not an http(s) URL; use e.g. https://yourorg.crm11.dynamics.com")
        if parts.scheme == "http" and not is_loopback(value):
            raise ValueError(
                f"'{value}' uses plain http; Dataverse must be reached over https "
                "(http is allowed only for the local sandbox on 127.0.0.1 or localhost)"
            )
        return value

    def resolved_client_secret(self) -> SecretStr | None:
        return self.client_secret or _read_secret_file(self.client_secret_file, "dataverse.client_secret_file")

    def resolved_certificate_password(self) -> SecretStr | None:
        return self.certificate_password or _read_secret_file(
            self.certificate_password_file, "dataverse.certificate_password_file"
        )


class CouncilSettings(_Section):
    """Who the letters and reports speak for."""

    name: str = "Example Borough Council"
    nation: Nation = "england"
    address: str = "Town Hall, High Street, Exampleton, EX1 1AA"
    foi_email: str = "foi@example.gov.uk"
    phone: str = "01234 567890"
    website: str = "https://www.example.gov.uk"
    logo_path: Path | None = None
    signature_name: str = "Information Governance Team"
    signature_title: str = "Information Governance Officer"


class DeadlineSettings(_Section):
    receipt_rule: Literal["arrival", "next-working-day"] = "arrival"
    holiday_overrides: Path = Path("mappings/holiday-overrides.toml")
    due_soon_working_days: int = Field(default=5, ge=0)


class IntakeSource(_Section):
    """One place requests come from; ``mapping`` names the source mapping file."""

    name: str
    kind: Literal["csv", "xlsx", "json-folder", "eml-folder", "sql"]
    path: str
    mapping: Path | None = None
    query: str | None = None


class IntakeSettings(_Section):
    sources: list[IntakeSource] = Field(default_factory=list)
    rules: Path = Path("mappings/routing-rules.toml")
    #: Triage rules (validity, business as usual, regime re-detection): docs/triage.md.
    triage_rules: Path = Path("mappings/triage-rules.toml")
    team_calendars: Path = Path("mappings/team-calendars.toml")
    repeat_window_days: int = Field(default=60, ge=1)
    rejects_dir: Path = Path("var/rejects")
    #: How many rejects reports to keep in rejects_dir (the newest); older ones are deleted. 0 keeps them all.
    rejects_keep: int = Field(default=50, ge=0)


class SyncSettings(_Section):
    target_mapping: Path = Path("mappings/target-incident.toml")
    state_path: Path = Path("var/foi-sync-state.sqlite")
    bypass_plugins: bool = False
    #: Reuse a passing live mapping check (and team/queue name lookups) for this many hours; 0 = check every run.
    metadata_check_hours: float = Field(default=24, ge=0)
    #: Give each new case an officer of its routed team (fewest open cases, not on leave: the team calendars'
    #: [[team.officer]]), pushed through the target mapping's assigned_officer field (README "Officer assignment").
    assign_officers: bool = False


class LetterSettings(_Section):
    send_mode: Literal["send", "draft"] = "draft"
    template_dir: Path | None = None
    from_queue: str | None = None
    copy_as_note: bool = False


ReportFormat = Literal["xlsx", "html", "csv"]
REPORT_FORMATS: tuple[ReportFormat, ...] = get_args(ReportFormat)


class ReportSettings(_Section):
    out_dir: Path = Path("var/reports")
    formats: list[ReportFormat] = Field(default_factory=lambda: list(REPORT_FORMATS))
    store_path: Path = Path("var/reporting.sqlite")
    #: Service standard for acknowledging a request (working days from receipt); not a statutory limit.
    acknowledge_within_working_days: int = Field(default=5, ge=0, le=20)


class LearnSettings(_Section):
    """The learned models (README "Why a case got its grade"): where they live and how often the job retrains."""

    #: Where the model files live; default: a "models" folder beside the sync state file (sync.state_path).
    model_dir: Path | None = None
    #: The scheduled job retrains both models from the CRM's history when the last training is this many days old;
    #: 0 = never (train only with `foi-sync model train`).
    retrain_days: int = Field(default=7, ge=0, le=366)
    #: Closed (or routed) cases needed before a model is trained at all.
    min_training_cases: int = Field(default=40, ge=10)
    #: Service areas with fewer routed cases than this are left to the routing rules.
    routing_min_per_class: int = Field(default=5, ge=2)
    #: Share of the most recent cases held back to judge each model against its baseline.
    held_back_fraction: float = Field(default=0.2, gt=0.05, lt=0.5)


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "text"


class Settings(BaseSettings):
    """The whole configuration. Relative paths are resolved against the config file's folder (mapping, rules and
    template files not found there: against the install folder, see SHIPPED_INPUTS)."""

    model_config = SettingsConfigDict(
        env_prefix="FOI_SYNC_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    dataverse: DataverseSettings = Field(default_factory=DataverseSettings)
    council: CouncilSettings = Field(default_factory=CouncilSettings)
    deadlines: DeadlineSettings = Field(default_factory=DeadlineSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    letters: LetterSettings = Field(default_factory=LetterSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    learn: LearnSettings = Field(default_factory=LearnSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    #: Folder that relative paths are resolved against (the config file's folder).
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over the TOML values passed as init kwargs.
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _resolve_paths(self) -> Settings:
        for section in (self.deadlines, self.intake, self.sync, self.report, self.letters, self.council, self.learn):
            for name, value in section:
                if isinstance(value, Path) and not value.is_absolute():
                    setattr(section, name, self._input_path(value) if name in SHIPPED_INPUTS else self.base_dir / value)
        if self.learn.model_dir is None:
            self.learn.model_dir = self.sync.state_path.parent / "models"
        for source in self.intake.sources:
            if source.mapping is not None and not source.mapping.is_absolute():
                source.mapping = self._input_path(source.mapping)
        dv = self.dataverse
        dv.client_secret_file = self._beside_config(dv.client_secret_file)
        dv.certificate_path = self._beside_config(dv.certificate_path)
        dv.certificate_password_file = self._beside_config(dv.certificate_password_file)
        dv.ca_bundle = self._beside_config(dv.ca_bundle)
        return self

    def _beside_config(self, path: Path | None) -> Path | None:
        """A relative secret, certificate or CA path: relative to the config file's folder."""
        return self.base_dir / path if path is not None and not path.is_absolute() else path

    def _input_path(self, path: Path) -> Path:
        """A relative mapping, rules or template path: the config file's folder if it is there, else the folder
        foi-sync is installed in (the shipped ``mappings/`` and ``templates/``), so a config moved to /etc/foi-sync
        still finds ``mappings/target-incident.toml``. Neither: the config's folder, which the error then names."""
        local = self.base_dir / path
        if local.exists():
            return local
        shipped = REPO_ROOT / path
        return shipped if shipped.exists() else local

    def resolve(self, path: Path | str) -> Path:
        path = Path(path)
        return path if path.is_absolute() else self.base_dir / path


def _read_secret_file(path: Path | None, key: str) -> SecretStr | None:
    if path is None:
        return None
    try:
        return SecretStr(path.read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise ConfigError(
            f"{key}: cannot read secret file {path} ({exc.strerror}); "
            "fix the path or set the secret in the environment instead"
        ) from exc


def find_config_file(explicit: Path | None) -> Path:
    """``--config`` if given, else ``./foi-sync.toml``, else the shipped example (which targets the sandbox)."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(
                f"config file {explicit} does not exist. Fix: pass an existing file to --config (a new one starts as "
                "a copy of config.example.toml)"
            )
        return explicit
    local = Path.cwd() / DEFAULT_CONFIG_NAME
    return local if local.is_file() else EXAMPLE_CONFIG


def _reject_secrets_in_file(data: dict[str, Any], path: Path, prefix: str = "") -> None:
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            _reject_secrets_in_file(value, path, dotted + ".")
        elif key in SECRET_KEYS:
            env = "FOI_SYNC_" + dotted.upper().replace(".", "__")
            raise ConfigError(
                f"{path}: key '{dotted}' holds a secret; secrets are never read from the config file. "
                f"Remove it and set the environment variable {env}, or name a file with '{key}_file'."
            )


def load_settings(config_path: Path | str | None = None, **overrides: Any) -> Settings:
    """Read and validate the configuration; raise :class:`ConfigError` with one actionable message."""
    path = find_config_file(None if config_path is None else Path(config_path))
    data, text = tomlfile.read_toml(
        path, what="the configuration", fix_path="pass a readable file to --config", error=ConfigError
    )
    _reject_secrets_in_file(data, path)
    data.update(overrides)
    data.setdefault("base_dir", path.parent.resolve())
    try:
        return Settings(**data)  # not model_validate: BaseSettings reads the environment in __init__
    except ValidationError as exc:
        raise ConfigError(tomlfile.describe_errors(exc, path, text, describe=_config_problem)) from None


def _config_problem(err: ErrorDetails) -> tuple[str, str]:
    """The shared (problem, fix), plus the environment variable that can set the key instead."""
    problem, fix = tomlfile.default_problem(err)
    if err["type"] == "extra_forbidden":
        fix = "check the spelling against config.example.toml or remove it"
    env = "FOI_SYNC_" + ".".join(str(p) for p in err["loc"]).upper().replace(".", "__")
    return problem, f"{fix} (or set {env})"


def describe_validation_error(exc: ValidationError, origin: str) -> str:
    """One line per problem, in the shared format (file, key, problem, fix). Input values are not echoed."""
    return tomlfile.describe_errors(exc, origin, describe=_config_problem)


def environment_has(name: str) -> bool:
    return bool(os.environ.get(name))
