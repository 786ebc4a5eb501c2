"""Model files: JSON with explicit, versioned metadata, never pickle.

A model file holds plain numbers and words (vocabulary, weights, categories) beside what a person needs to judge it:
when it was trained, on how many closed cases, its error on the held-back cases next to the baseline's, and whether
it is usable (with the reason when it is not). Loading one runs no code from the file, so a model file copied from
anywhere can at worst be refused, never execute anything; a file of another format version is refused with the fix
(``foi-sync model train``).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connector.errors import ConfigError

FORMAT = "foi-sync-model"
#: Bump when the params layout changes; older files are then refused and retrained.
FORMAT_VERSION = 1

ModelKind = Literal["time_to_respond", "routing"]
FILE_NAMES: dict[str, str] = {"time_to_respond": "time-to-respond.json", "routing": "routing.json"}


class ModelMeta(BaseModel):
    """What a person needs to know about a model before trusting it (printed by ``foi-sync model show``)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["foi-sync-model"] = "foi-sync-model"
    format_version: int = FORMAT_VERSION
    kind: ModelKind
    trained_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    #: Closed (time) or routed (routing) cases the evaluation trained on, and the held-back cases it was judged on.
    trained_on: int
    held_back: int
    #: How the held-back cases were chosen.
    split: str
    #: time: mae_model, mae_baseline (working days); routing: accuracy_rules, accuracy_with_model.
    metrics: dict[str, float]
    usable: bool
    reason: str
    #: The final model is refitted on every case (trained_on + held_back) once the evaluation passed.
    fitted_on: int
    library: str


class ModelFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    meta: ModelMeta
    params: dict[str, Any]


def model_path(model_dir: Path, kind: str) -> Path:
    return Path(model_dir) / FILE_NAMES[kind]


def save_model(model_dir: Path, model: ModelFile) -> Path:
    """Write atomically (a crash leaves the old file), readable by the service account only."""
    path = model_path(model_dir, model.meta.kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(model.model_dump(mode="json"), fh, separators=(",", ":"))
    os.replace(tmp, path)
    return path


def load_model(model_dir: Path, kind: str) -> ModelFile | None:
    """The model file of this kind, or None when there is none. A damaged or foreign file is a ConfigError."""
    path = model_path(model_dir, kind)
    if not path.is_file():
        return None
    fix = "run `foi-sync model train` to replace it, or delete it"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable model file ({type(exc).__name__}); {fix}") from None
    meta = data.get("meta") if isinstance(data, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a foi-sync model file (no meta.format = {FORMAT!r}); {fix}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ConfigError(
            f"{path}: model format version {meta.get('format_version')} is not {FORMAT_VERSION}, the one this "
            f"release reads; {fix}"
        )
    try:
        model = ModelFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}; {fix}") from None
    if model.meta.kind != kind:
        raise ConfigError(f"{path}: holds a {model.meta.kind} model, not {kind}; {fix}")
    return model
