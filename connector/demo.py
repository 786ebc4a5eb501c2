"""``foi-sync demo``: the whole job once on the bundled sandbox, so a newcomer sees every stage run.

The sandbox is started by the CLI command (``connector/cli/demo_cmd.py``, one of the two places allowed to import it)
and handed in here. Everything after that goes through the same code path the scheduled job uses against Dynamics 365:
the demo only points the settings at the sandbox's URL, authority and throwaway CA.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rich.console import Console
from rich.table import Table

from connector import odata, tomlfile
from connector.config import Settings, load_settings

if TYPE_CHECKING:  # imported inside the functions that use them, so `foi-sync --help` stays fast
    from connector.dataverse import DataverseClient
    from connector.sync.job import RunReport
    from connector.sync.mapping import TargetMapping


class Sandbox(Protocol):
    """What the demo uses of the local sandbox (``connector.sandbox.server.SandboxServer``, started by the CLI): a
    Protocol, because the connector never imports the sandbox (docs/architecture.md)."""

    url: str
    https_url: str
    ca_bundle: Path

    @property
    def api_url(self) -> str: ...

    @property
    def client_id(self) -> str: ...

    @property
    def client_secret(self) -> str: ...

    def __enter__(self) -> object: ...

    def __exit__(self, *exc: object) -> None: ...


#: Environment variable the connector reads the client secret from (never from the TOML file).
SECRET_ENV = "FOI_SYNC_DATAVERSE__CLIENT_SECRET"  # noqa: S105 (a variable name, not a secret)


def demo_settings(sandbox: Sandbox, workdir: Path, config_path: Path | None) -> Settings:
    """The shipped configuration, pointed at a running sandbox, with every output under ``workdir``."""
    os.environ[SECRET_ENV] = sandbox.client_secret  # the sandbox's published test secret, as in production: env only
    base = load_settings(config_path)
    return load_settings(
        config_path,
        dataverse={
            "url": sandbox.url,
            "tenant_id": "sandbox",
            "client_id": sandbox.client_id,
            "authority_host": sandbox.https_url,
            "ca_bundle": str(sandbox.ca_bundle),
        },
        sync={
            "target_mapping": str(base.sync.target_mapping),
            "state_path": str(workdir / "foi-sync-state.sqlite"),
            "bypass_plugins": False,
        },
        intake={
            **base.intake.model_dump(mode="json"),
            "rejects_dir": str(workdir / "rejects"),
        },
        letters={**base.letters.model_dump(mode="json", exclude_none=True), "send_mode": "send"},
        report={
            "out_dir": str(workdir / "reports"),
            "formats": list(base.report.formats),
            "store_path": str(workdir / "reporting.sqlite"),
        },
    )


def prepare_workdir(workdir: Path) -> Path:
    """The demo starts from nothing each time, so what it shows is what this run did."""
    workdir = workdir.resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    return workdir


def run_demo(
    sandbox: Sandbox, workdir: Path, keep_running: bool = False, config_path: Path | None = None
) -> dict[str, Any]:
    """Provision the FOI schema on a running sandbox, run the scheduled job twice, and show what landed."""
    from connector.dataverse import DataverseClient
    from connector.sync.job import run_sync
    from connector.sync.mapping import load_target_mapping
    from connector.sync.provision import provision_schema

    console = Console(stderr=False)
    started = time.perf_counter()
    with sandbox:
        console.print(f"[bold]1. Sandbox[/] Dataverse Web API on {sandbox.api_url} (SQLite under {workdir})")
        settings = demo_settings(sandbox, workdir, config_path)
        client = DataverseClient.from_settings(settings.dataverse)
        try:
            who = client.whoami()
            console.print(f"   authenticated through MSAL as application user {who['UserId']}")
            mapping = load_target_mapping(settings.sync.target_mapping)
            provisioned = provision_schema(client, mapping)
            console.print(f"[bold]2. Schema[/] {_describe(provisioned)} on table '{mapping.table}'")
            teams = seed_teams(client, settings)
            console.print(f"   {teams} teams created, as a council's CRM already has them (cases are routed to them)")
            console.print("[bold]3. Scheduled job[/] intake -> plan -> push -> letters -> pull -> report")
            report = run_sync(settings, client=client)
            console.print("[bold]4. Second run[/] nothing changed in the source, so nothing should be written")
            before = dict(client.stats.snapshot())
            second = run_sync(settings, client=client)
            summary = _summarise(client, mapping, settings, report, second, before)
            summary["letters"] = write_letter_previews(settings, workdir / "letters")
        finally:
            client.close()
        _print_summary(console, summary, workdir, time.perf_counter() - started)
        if keep_running:
            console.print(
                f"\nSandbox still running at {sandbox.url} (client id {sandbox.client_id}, secret in "
                f"{SECRET_ENV}); press Ctrl+C to stop."
            )
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    return summary


def seed_teams(client: DataverseClient, settings: Settings) -> int:
    """Create the teams the routing rules name, so the owner lookups resolve as they would in a real tenant."""
    path = settings.resolve(settings.intake.rules)
    rules = tomlfile.read_toml(path, what="the routing rules", fix_path="set intake.rules")[0] if path.is_file() else {}
    names = sorted({r["team"] for r in rules.get("rule", []) if isinstance(r, dict) and r.get("team")})
    created = 0
    for name in names:
        if not client.count("teams", filter=odata.eq("name", name)):
            client.create("teams", {"name": name, "teamtype": 0})
            created += 1
    return created


def write_letter_previews(settings: Settings, out_dir: Path, limit: int = 3) -> list[str]:
    """Render the letters due on a few open cases to files, as ``foi-sync letters preview`` would."""
    from connector.intake import run_intake
    from connector.letters import letters_due, render_letter
    from connector.letters.files import preview_path

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    open_cases = [c for c in run_intake(settings).cases if not c.is_closed]
    for case in open_cases[:limit]:
        for letter in letters_due(case):
            rendered = render_letter(letter, case, settings)
            html_path = preview_path(out_dir, case.reference, letter.value, "html")
            html_path.write_text(rendered.html, encoding="utf-8")
            preview_path(out_dir, case.reference, letter.value, "txt").write_text(rendered.text, encoding="utf-8")
            written.append(html_path.name)
    return written


def _describe(provisioned: dict[str, list[str]]) -> str:
    made = [f"{len(v)} {k}" for k, v in provisioned.items() if v]
    return "created " + ", ".join(made) if made else "schema already in place"


def _summarise(
    client: DataverseClient,
    mapping: TargetMapping,
    settings: Settings,
    first: RunReport,
    second: RunReport,
    before: dict[str, Any],
) -> dict[str, Any]:
    """Counts read back from the CRM itself, plus one case compared field by field with its source."""
    from connector.intake import run_intake

    crm_cases = client.count(mapping.entity_set)
    crm_contacts = client.count("contacts")
    crm_emails = client.count("emails")
    intake = run_intake(settings)
    sample = next((c for c in intake.cases if c.requester.email), intake.cases[0]) if intake.cases else None
    round_trip = None
    if sample is not None:
        key = mapping.alternate_key_values(sample)
        row = client.retrieve(mapping.entity_set, key, select=mapping.pull_columns)
        pulled = mapping.from_crm(row)
        sent = mapping.case_fields(sample)
        diffs = sorted(k for k, v in sent.items() if k in pulled and pulled[k] != v)
        round_trip = {"reference": sample.reference, "fields": len(sent), "differences": diffs}
    reports_dir = settings.report.out_dir
    return {
        "source_valid": len(intake.cases),
        "source_rejected": len(intake.rejects),
        "crm_cases": crm_cases,
        "crm_contacts": crm_contacts,
        "crm_emails": crm_emails,
        "first_run": _as_dict(first),
        "second_run": _as_dict(second),
        "round_trip": round_trip,
        "reports": sorted(str(p.relative_to(reports_dir)) for p in reports_dir.rglob("*") if p.is_file())
        if reports_dir.exists()
        else [],
    }


def _as_dict(report: RunReport) -> dict[str, Any]:
    return report.model_dump(mode="json")


def _print_summary(console: Console, s: dict[str, Any], workdir: Path, seconds: float) -> None:
    table = Table(title="foi-sync demo: what the CRM holds now", show_header=True, header_style="bold")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row(
        "requests read from register, web forms, mailbox (valid / rejected)",
        f"{s['source_valid']} / {s['source_rejected']}",
    )
    table.add_row("FOI cases in the CRM", str(s["crm_cases"]))
    table.add_row("requester contacts in the CRM", str(s["crm_contacts"]))
    table.add_row("letters (email activities) in the CRM", str(s["crm_emails"]))
    second = s["second_run"]
    writes = second.get("write_requests", second.get("writes", "?"))
    table.add_row("write requests on the second, unchanged run", str(writes))
    rt = s["round_trip"]
    if rt:
        verdict = "equal" if not rt["differences"] else "DIFFERS in " + ", ".join(rt["differences"])
        table.add_row(f"case {rt['reference']} read back from the CRM", f"{verdict} ({rt['fields']} fields)")
    console.print(table)
    console.print(f"Everything the run wrote is under {workdir}:")
    for letter in s.get("letters", []):
        console.print(f"  letters/{letter}   (preview of a letter pushed to the CRM)")
    top = sorted({name.split("/")[0] for name in s["reports"]})
    for name in top:
        inside = sum(1 for n in s["reports"] if n.startswith(name + "/"))
        console.print(f"  reports/{name}" + (f"/   ({inside} CSV files for Power BI)" if inside else ""))
    console.print("  rejects/   (one line per source row that could not become a case, with the reason)")
    console.print(f"Done in {seconds:.1f} s.")
