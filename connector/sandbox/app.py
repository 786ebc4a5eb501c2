"""The sandbox application: routes a Web API request to records, queries, metadata, batch and actions.

Transport-free (method, path, headers, body in; Response out), so the HTTP server, $batch parts and tests all go
through the same code.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from connector.sandbox import csdl, duplicates, messages
from connector.sandbox import errors as E
from connector.sandbox import relationships as n2n
from connector.sandbox.actions import VERSION, Messages
from connector.sandbox.auth import AuthError, TokenService
from connector.sandbox.batch import Response, error_response, parse_batch, run_batch
from connector.sandbox.customapi import CustomApis
from connector.sandbox.errors import DvError
from connector.sandbox.faults import Faults, FaultSpec
from connector.sandbox.files import FileColumns
from connector.sandbox.limits import Charge, Limiter, LimitOptions, Profile
from connector.sandbox.metadata_api import MetadataApi
from connector.sandbox.query import (
    CollectionReader,
    Prefer,
    context_columns,
    parse_expand,
    parse_params,
    parse_prefer,
    parse_select,
    split_top_level,
)
from connector.sandbox.records import GUID_RE, Records, annotation_wanted, etag, split_paren
from connector.sandbox.schema import FILE, IMAGE, Table, build_navigation, seed_tables, table_from_json
from connector.sandbox.search import Search
from connector.sandbox.store import Store

log = logging.getLogger(__name__)

API_VERSIONS = ("v9.0", "v9.1", "v9.2")
# As the service writes it (Learn "Compose HTTP requests and handle errors": response Content-Type); clients such as
# dynamics-web-api look for odata.streaming before parsing.
JSON_TYPE = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"
BULK = ("CreateMultiple", "UpdateMultiple", "UpsertMultiple")
SEARCH_VERSIONS = ("v1.0", "v2.0")
SEARCH_MESSAGES = {"searchquery": "query", "searchsuggest": "suggest", "searchautocomplete": "autocomplete"}
FILE_MESSAGES = {
    "InitializeFileBlocksUpload": "initialize_upload",
    "UploadBlock": "upload_block",
    "CommitFileBlocksUpload": "commit_upload",
    "InitializeFileBlocksDownload": "initialize_download",
    "DownloadBlock": "download_block",
    "DeleteFile": "delete_file",
}
OPTION_MESSAGES = ("InsertOptionValue", "UpdateOptionValue", "DeleteOptionValue", "OrderOption")


class DropConnection(Exception):
    """Close the socket without answering (fault injection)."""


@dataclass
class AppOptions:
    db_path: Path | None = None
    client_id: str = "foi-sync-sandbox"
    client_secret: str = "sandbox-secret"
    token_lifetime_seconds: float = 3600.0
    change_token_expiry_seconds: float | None = 7 * 24 * 3600.0
    limits: LimitOptions = field(default_factory=LimitOptions)
    profile: str = "fast"
    faults: str | None = None


class SandboxApp:
    def __init__(self, options: AppOptions) -> None:
        self.options = options
        self.store = Store(options.db_path)
        tables = seed_tables()
        n2n_defs: dict[str, n2n.ManyToMany] = {}
        other_saved: list[dict[str, Any]] = []
        for saved in self.store.custom_tables():
            if saved.get("kind") == "n2n":
                n2n_defs = n2n.load(saved)
                continue
            if saved.get("kind") in ("optionsets", "cascade"):
                other_saved.append(saved)
                continue
            t = table_from_json(saved)
            tables[t.logical] = t
        build_navigation(tables)
        n2n.add_navigation(tables, n2n_defs)
        self.base_ref = ["http://127.0.0.1/api/data/v9.2/"]
        self.records = Records(tables, self.store, self.base_ref)
        self.records.n2n = n2n_defs
        self.ct_min_version = [0]
        self.reader = CollectionReader(self.records, options.change_token_expiry_seconds, self.ct_min_version)
        self.metadata = MetadataApi(self.records)
        for saved in other_saved:
            if saved["kind"] == "optionsets":
                self.metadata.option_sets.load(saved)
            else:
                self.metadata.cascades[saved["name"]] = saved["value"]
        self.files = FileColumns(self.records)
        self.messages = Messages(self.records, self.files)
        self.custom_apis = CustomApis(self.records)
        self.pending_operations: dict[str, Any] = {}  # background operations not yet run (run when first polled)
        self.searcher = Search(self.records, lambda t, text: self.reader._compile(t, text, {}, None).predicate)
        self.profile = Profile.named(options.profile)
        self.limiter = Limiter(options.limits)
        self.faults = Faults(FaultSpec.parse(options.faults))
        self.slots = threading.BoundedSemaphore(self.profile.slots) if self.profile.slots else None
        self.stats: Counter[str] = Counter()
        # What the cost model charged (requests executed, records written, rows read, ms) since start.
        self.charged: dict[str, float] = dict.fromkeys(("requests", "writes", "reads", "cost_ms", "executed_ms"), 0.0)
        self._stats_lock = threading.Lock()
        self.org_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "foi-sync-sandbox/org"))
        self.bu_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "foi-sync-sandbox/bu"))
        self.app_user_id = self._seed_people()
        self.tokens = TokenService(
            options.client_id, options.client_secret, options.token_lifetime_seconds, self.app_user_id
        )
        self.request_log: list[tuple[str, str, int]] = []
        self.authority_root: str | None = None  # https origin of the token endpoints, set by the server
        self.log_requests = False

    # ------------------------------------------------------------------ seed records
    def _seed_people(self) -> str:
        """The application user the connector runs as, plus a team and queue an FOI service would have."""
        app_user = str(uuid.uuid5(uuid.NAMESPACE_URL, "foi-sync-sandbox/appuser/" + self.options.client_id))
        if self.store.get("systemuser", app_user):
            return app_user
        t = self.records.tables
        with self.store.transaction():
            self.records.create(
                t["systemuser"],
                {
                    "firstname": "# foi-sync",
                    "lastname": "(application user)",
                    "domainname": "foi-sync@sandbox",
                    "applicationid": str(uuid.uuid5(uuid.NAMESPACE_URL, self.options.client_id)),
                },
                app_user,
                rid=app_user,
            )
            officer = str(uuid.uuid5(uuid.NAMESPACE_URL, "foi-sync-sandbox/officer"))
            self.records.create(
                t["systemuser"],
                {
                    "firstname": "Information",
                    "lastname": "Governance Officer",
                    "domainname": "igofficer@sandbox",
                    "internalemailaddress": "foi@council.example",
                },
                app_user,
                rid=officer,
            )
            # Officers of the Waste Services team in mappings/team-calendars.toml, so `foi-sync demo` shows officer
            # assignment (a tenant has its own users; the tests create theirs through the Web API).
            for first, last in (("Priya", "Shah"), ("Tom", "Okafor"), ("Grace", "Lin")):
                self.records.create(
                    t["systemuser"],
                    {
                        "firstname": first,
                        "lastname": last,
                        "domainname": f"{first.lower()}.{last.lower()}@sandbox",
                        "internalemailaddress": f"{first.lower()}.{last.lower()}@council.example",
                    },
                    app_user,
                    rid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"foi-sync-sandbox/officer/{first}-{last}")),
                )
            for name in (
                "Information Governance",
                "Adult Social Care",
                "Children's Services",
                "Planning",
                "Highways",
                "Environmental Health",
                "Housing",
                "Finance",
                "Legal",
                "Waste and Recycling",
            ):
                self.records.create(t["team"], {"name": name, "teamtype": 0}, app_user)
            self.records.create(
                t["queue"],
                {"name": "FOI Requests", "emailaddress": "foi@council.example", "queueviewtype": 0},
                app_user,
            )
        return app_user

    def set_base(self, url: str) -> None:
        self.base_ref[0] = url.rstrip("/") + "/api/data/v9.2/"
        self.tokens.audiences.add(_origin(url))

    def add_origin(self, url: str) -> None:
        self.tokens.audiences.add(_origin(url))

    def count(self, key: str) -> None:
        with self._stats_lock:
            self.stats[key] += 1

    # ------------------------------------------------------------------ entry point
    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes, origin: str) -> Response:
        path, _, query = raw_path.partition("?")
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 2 and parts[1] in ("v2.0", "oauth2"):
            return self._oauth(method, parts, body, origin)
        if parts[:1] == ["_sandbox"]:
            return _json(200, self.info())
        search_api = len(parts) == 4 and parts[:2] == ["api", "search"] and parts[2] in SEARCH_VERSIONS
        monitor = len(parts) == 3 and parts[0] == "api" and parts[1].lower() == "backgroundoperation"
        if (
            not search_api
            and not monitor
            and (len(parts) < 3 or parts[0] != "api" or parts[1] != "data" or parts[2] not in API_VERSIONS)
        ):
            return _json(
                404,
                {
                    "error": {
                        "code": "",
                        "message": f"No HTTP resource was found that matches the request URI '{path}'.",
                    }
                },
            )
        request_id = str(uuid.uuid4())
        try:
            claims = self.tokens.validate(headers.get("authorization"))
        except AuthError as exc:
            tenant_hint = origin
            # Like Dataverse's challenge: authorization_uri names the token authority (the https listener),
            # resource_id the environment URL.
            authority = self.authority_root or tenant_hint
            return Response(
                401,
                [
                    (
                        "WWW-Authenticate",
                        f'Bearer error=invalid_token, error_description="{exc.description}", '
                        f"authorization_uri={authority}/sandbox/oauth2/authorize, resource_id={tenant_hint}/",
                    ),
                    ("REQ_ID", request_id),
                    ("x-ms-service-request-id", request_id),
                ],
                b"",
            )
        user = claims.oid
        api_path = "/".join(parts[3:])
        decision = self.faults.decide(method, api_path)
        if decision.kind == "burst":
            self.limiter.burst(user, self.faults.spec.burst_seconds)
        elif decision.kind in ("5xx", "drop") and not decision.after:
            self.count(f"fault:{decision.kind}")
            if decision.kind == "drop":
                raise DropConnection
            return _fault_response(decision.status, request_id)
        try:
            rl_headers = self.limiter.enter(user)
        except DvError as err:
            resp = error_response(err)
            resp.headers += [("REQ_ID", request_id), ("x-ms-dop-hint", str(self.options.limits.dop_hint))]
            self.count("429")
            return resp
        if self.slots:
            self.slots.acquire()
        # Cost is charged from the moment a server slot is held: time spent queueing for a slot is not work, so
        # it must not shorten the modelled service time (else the stated ceiling would be exceeded). Up to the
        # concurrency limit (52) requests may be in flight; only `slots` of them execute at once.
        served = time.perf_counter()
        try:
            if decision.kind == "slow":
                # A slow answer is server time: it holds a concurrency slot and counts toward execution time.
                time.sleep(self.faults.spec.slow_seconds)
            try:
                # One request at a time touches the store: a reader never sees another request's uncommitted
                # change set or bulk call (Dataverse reads committed data). Modelled latency and slow faults
                # happen outside the lock, so concurrency limits and the realistic profile still see parallelism.
                with self.store.lock:
                    # Every URL written into the answer (context, nextLink, OData-EntityId) names the listener and
                    # API version this request came in on, as the service does.
                    self.base_ref[0] = f"{origin}/api/data/{'v9.2' if search_api or monitor else parts[2]}/"
                    self.store.meter.reset()
                    try:
                        if monitor:
                            resp = self._background(method, parts[2], user)
                        elif search_api:
                            resp = self._search(method, parts[2][1:], parts[3], body)
                        else:
                            resp, _, _ = self.dispatch(
                                method, api_path, query, headers, body, self._caller(user, headers)
                            )
                    finally:
                        # Every record the request made the service execute (nested ones and $batch parts too),
                        # whether or not it then failed and rolled back.
                        charge = self.store.meter.charge()
            except DvError as err:
                resp = error_response(err)
            except json.JSONDecodeError as exc:
                resp = error_response(E.payload_error("", f"The request body is not valid JSON: {exc.msg}."))
            except Exception:  # a sandbox bug must look like a server error, not a dropped connection
                log.exception("sandbox failed on %s %s", method, _kind(api_path))
                resp = error_response(DvError(500, "0x80040216", "An unexpected error occurred."))
            cost = self.profile.cost_ms(charge)
            remaining = cost / 1000.0 - (time.perf_counter() - served)
            if remaining > 0:
                time.sleep(remaining)
        finally:
            if self.slots:
                self.slots.release()
            executed_ms = (time.perf_counter() - served) * 1000.0
            self.limiter.leave(user, executed_ms)
            self._account(charge, executed_ms)
        self.count(f"{method} {_kind(api_path)}")
        self.count("requests")
        if self.log_requests:
            self.request_log.append((method, api_path, resp.status))
        if decision.kind in ("5xx", "drop") and decision.after:
            self.count(f"fault:{decision.kind}:after")
            if decision.kind == "drop":
                raise DropConnection
            return _fault_response(decision.status, request_id)
        resp.headers += [
            ("OData-Version", "4.0"),
            ("REQ_ID", request_id),
            ("x-ms-service-request-id", request_id),
            ("x-ms-dop-hint", str(self.options.limits.dop_hint)),
            *rl_headers.items(),
        ]
        return resp

    def _search(self, method: str, version: str, op: str, body: bytes) -> Response:
        """Dataverse search: POST /api/search/v1.0|v2.0/query|suggest|autocomplete (see search.py)."""
        if method != "POST" or op not in ("query", "suggest", "autocomplete"):
            raise DvError(404, "", f"No search operation '{op}' for {method}.")
        payload = json.loads(body or b"{}")
        return _json(200, getattr(self.searcher, op)(payload, version), plain=True)

    def _custom_api(
        self, api: dict[str, Any], method: str, segment: str, query: str, body: bytes, pref: Prefer, user: str
    ) -> tuple[Response, int, int]:
        """Call a custom API defined as rows (see customapi.py); `Prefer: respond-async` queues it instead."""
        if method == "GET":
            params = parse_params(query)
            inner = segment[segment.index("(") + 1 : segment.rindex(")")] if "(" in segment else ""
            args = {
                part.partition("=")[0].strip(): _function_argument(segment, part.partition("=")[0].strip(), params)
                for part in split_top_level(inner)
                if "=" in part
            }
        else:
            args = json.loads(body or b"{}")
        if pref.respond_async:
            # Learn "Background operations": 202, Location of the status monitor, the row id, Preference-Applied.
            op_id = self.custom_apis.queue(api, args, user, self.pending_operations)
            root = self.records.api_base.split("/api/data/")[0]
            return (
                Response(
                    202,
                    [
                        ("Location", f"{root}/api/backgroundoperation/{op_id}"),
                        ("x-ms-dyn-backgroundoperationid", op_id),
                        ("Preference-Applied", "respond-async"),
                    ],
                ),
                1,
                0,
            )
        out = self.custom_apis.call(api, method, args)
        if out is None:
            return Response(204), 0, 0
        ctx = self.records.api_base + f"$metadata#Microsoft.Dynamics.CRM.{api['uniquename']}Response"
        return _json(200, {"@odata.context": ctx, **out}), 0, 0

    def _background(self, method: str, op_id: str, user: str) -> Response:
        """The status monitor resource, /api/backgroundoperation/<id>: GET the status, DELETE to cancel."""
        rid = op_id.strip("{}").lower()
        if method == "GET":
            with self.store.transaction():
                return _json(200, self.custom_apis.status(rid, user, self.pending_operations), plain=True)
        if method == "DELETE":
            with self.store.transaction():
                return _json(200, self.custom_apis.cancel(rid, user, self.pending_operations), plain=True)
        raise DvError(405, "", "The status monitor resource supports only GET and DELETE.")

    def _caller(self, user: str, headers: dict[str, str]) -> str:
        """Learn "Impersonate another user using the Web API": MSCRMCallerID (systemuserid) or CallerObjectId
        (the Entra object id, azureactivedirectoryobjectid) makes the request run as that user; service protection
        limits stay with the caller who signed in."""
        caller_id = headers.get("mscrmcallerid")
        if caller_id:
            rid = caller_id.strip().strip("{}").lower()
            if not GUID_RE.match(rid) or self.store.get("systemuser", rid) is None:
                raise E.record_not_found("systemuser", caller_id)
            return rid
        object_id = headers.get("callerobjectid")
        if object_id:
            oid = object_id.strip().lower()
            for _, r in self.store.scan_eq("systemuser", "azureactivedirectoryobjectid", oid):
                if r.get("azureactivedirectoryobjectid") == oid:
                    return str(r["systemuserid"])
            raise DvError(404, "0x80040217", f"No systemuser has azureactivedirectoryobjectid {object_id}.")
        return user

    def _account(self, charge: Charge, executed_ms: float) -> None:
        with self._stats_lock:
            self.charged["requests"] += charge.requests
            self.charged["writes"] += charge.writes
            self.charged["reads"] += charge.reads
            self.charged["cost_ms"] += self.profile.cost_ms(charge)
            self.charged["executed_ms"] += executed_ms

    def info(self) -> dict[str, Any]:
        with self._stats_lock:
            stats = dict(self.stats)
            charged = dict(self.charged)
        return {
            "profile": self.profile.name,
            "ceiling_records_per_second": self.profile.ceiling(limits=self.options.limits),
            "charged": charged,
            "limits": self.options.limits.__dict__,
            "stats": stats,
            "faults_injected": dict(self.faults.injected),
            "throttled": self.limiter.throttled,
        }

    # ------------------------------------------------------------------ OAuth
    def _oauth(self, method: str, parts: list[str], body: bytes, origin: str) -> Response:
        tenant = parts[0]
        rest = "/".join(parts[1:])
        if rest == "v2.0/.well-known/openid-configuration" and method == "GET":
            return _json(200, self.tokens.openid_configuration(origin, tenant), plain=True)
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        if rest == "oauth2/v2.0/token" and method == "POST":
            status, payload = self.tokens.token_endpoint(form)
            return _json(status, payload, plain=True)
        if rest == "oauth2/v2.0/devicecode" and method == "POST":
            return _json(200, self.tokens.device_code(origin, form), plain=True)
        return _json(404, {"error": "not_found", "error_description": f"No endpoint at /{'/'.join(parts)}"}, plain=True)

    # ------------------------------------------------------------------ Web API
    def dispatch(
        self, method: str, api_path: str, query: str, headers: dict[str, str], body: bytes, user: str
    ) -> tuple[Response, int, int]:
        """-> (response, records written, records read) for the cost model."""
        segs = _segments(api_path)
        pref = parse_prefer([v for k, v in headers.items() if k == "prefer" or k.startswith("prefer#")])
        if not segs:
            sets = [
                {"name": t.entity_set, "kind": "EntitySet", "url": t.entity_set} for t in self.records.tables.values()
            ]
            return _json(200, {"@odata.context": self.records.api_base + "$metadata", "value": sets}), 0, 0
        head = segs[0]
        if head == "$metadata":
            wanted = parse_params(query).get("annotations") == "true" or annotation_wanted(pref.annotations, "*")
            ops, types = self.custom_apis.declarations()
            doc = csdl.render(self.records.tables, annotations=wanted, extra_operations=ops, extra_types=types)
            return Response(200, [("Content-Type", "application/xml")], doc.encode()), 0, 0
        if head == "$batch":
            if method != "POST":
                raise DvError(405, "", "Only POST is allowed on $batch.")
            items = parse_batch(body, headers.get("content-type", ""))
            status, out, ctype = run_batch(
                items,
                lambda m, u, h, b: self._batch_part(m, u, h, b, user),
                self.store.transaction,
                pref.continue_on_error,
            )
            n = sum(len(i) if isinstance(i, list) else 1 for i in items)
            extra = [("Preference-Applied", "odata.continue-on-error")] if pref.continue_on_error else []
            return Response(status, [("Content-Type", ctype), *extra], out), n, 0
        if head == "CloseIncident":
            if method != "POST":
                raise DvError(
                    404,
                    "",
                    f"No HTTP resource was found that matches the request URI '{self.records.api_base}CloseIncident'.",
                )
            return self._close_incident(json.loads(body or b"{}"), user), 2, 0
        if head == "BulkDelete" and method == "POST":
            _, deleted = messages.bulk_delete(self.records, json.loads(body or b"{}"))
            with self.store.transaction():
                job_id = self._finished_job("Bulk delete", 13, user)  # 13: Bulk Delete (asyncoperation type)
            ctx = self.records.api_base + "$metadata#Microsoft.Dynamics.CRM.BulkDeleteResponse"
            return _json(200, {"@odata.context": ctx, "JobId": job_id}), deleted, 0
        if head.startswith("RetrieveTotalRecordCount(") and method == "GET":
            names = _function_argument(head, "EntityNames", parse_params(query))
            if not isinstance(names, list):
                raise DvError(400, "0x80060888", "RetrieveTotalRecordCount needs EntityNames, a list of table names.")
            ctx = self.records.api_base + "$metadata#Microsoft.Dynamics.CRM.RetrieveTotalRecordCountResponse"
            counts = messages.total_record_count(self.records, [str(n) for n in names])
            return _json(200, {"@odata.context": ctx, "EntityRecordCountCollection": counts}), 0, 1
        if head in ("WhoAmI", "WhoAmI()"):
            if method != "GET":
                raise DvError(
                    404, "", f"No HTTP resource was found that matches the request URI '{self.records.api_base}WhoAmI'."
                )
            return (
                _json(
                    200,
                    {
                        "@odata.context": self.records.api_base + "$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                        "BusinessUnitId": self.bu_id,
                        "UserId": user,
                        "OrganizationId": self.org_id,
                    },
                ),
                0,
                1,
            )
        name, key = split_paren(head)
        if name in ("EntityDefinitions", "RelationshipDefinitions", "GlobalOptionSetDefinitions"):
            if method == "GET":
                return _json(200, self.metadata.get(segs, query)), 0, 1
            if method == "POST":
                with self.store.transaction():
                    entity_id = self.metadata.post(segs, json.loads(body or b"{}"))
                return Response(204, [("OData-EntityId", entity_id)]), 1, 0
            if method == "DELETE":
                with self.store.transaction():
                    self.metadata.delete(segs)
                return Response(204), 1, 0
            if method == "PUT":
                with self.store.transaction():
                    self.metadata.put(segs, json.loads(body or b"{}"))
                return Response(204), 1, 0
            raise DvError(405, "", f"{method} is not supported on metadata in the sandbox.")
        if head == "UnpublishDuplicateRule" and method == "POST":
            # Learn UnpublishDuplicateRule action: unbound, DuplicateRuleId; no return value.
            rule_id = str(json.loads(body or b"{}").get("DuplicateRuleId") or "").lower()
            with self.store.transaction():
                self.records.update(
                    self.records.tables["duplicaterule"], rule_id, {"statecode": 0, "statuscode": 0}, user
                )
            return Response(204), 1, 0
        if head in SEARCH_MESSAGES and method == "POST":
            # Learn "Dataverse Search query" (Web API tab): the messages answer like the 2.0 endpoint.
            answer = getattr(self.searcher, SEARCH_MESSAGES[head])(json.loads(body or b"{}"), "2.0")
            ctx = self.records.api_base + f"$metadata#Microsoft.Dynamics.CRM.{head}Response"
            return _json(200, {"@odata.context": ctx, **answer}), 0, 1
        if head in FILE_MESSAGES and method == "POST":
            # Learn "Use file column data": the Dataverse messages for files in blocks.
            payload = json.loads(body or b"{}")
            answer = getattr(self.messages, FILE_MESSAGES[head])(payload)
            if answer is None:
                return Response(204), 1, 0
            ctx = self.records.api_base + f"$metadata#Microsoft.Dynamics.CRM.{head}Response"
            return _json(200, {"@odata.context": ctx, **answer}), 1, 0
        if head == "Merge" and method == "POST":
            self.messages.merge(json.loads(body or b"{}"), user)
            return Response(204), 2, 0
        if head in ("WinOpportunity", "LoseOpportunity") and method == "POST":
            self.messages.close_opportunity(head == "WinOpportunity", json.loads(body or b"{}"), user)
            return Response(204), 1, 0
        if head in ("RetrieveVersion", "RetrieveVersion()") and method == "GET":
            ctx = self.records.api_base + "$metadata#Microsoft.Dynamics.CRM.RetrieveVersionResponse"
            return _json(200, {"@odata.context": ctx, "Version": VERSION}), 0, 0
        if head in OPTION_MESSAGES and method == "POST":
            # Learn "Create and update choices using the Web API": the option value actions.
            with self.store.transaction():
                answer = self.metadata.option_message(head, json.loads(body or b"{}"))
            if not answer:
                return Response(204), 1, 0
            ctx = self.records.api_base + f"$metadata#Microsoft.Dynamics.CRM.{head}Response"
            return _json(200, {"@odata.context": ctx, **answer}), 1, 0
        if head == "CreateEntities" and method == "POST":
            # Only the SDK's code shows this message (powerplatform-dataverse-client 1.1.0 creates tables with it).
            with self.store.transaction():
                ids = self.metadata.create_entities(json.loads(body or b"{}"))
            ctx = self.records.api_base + "$metadata#Microsoft.Dynamics.CRM.CreateEntitiesResponse"
            return _json(200, {"@odata.context": ctx, "EntityIds": ids}), len(ids), 0
        if head.startswith("RetrieveMetadataChanges(") and method == "GET":
            query_arg = _function_argument(head, "Query", parse_params(query))
            changes = self.metadata.retrieve_metadata_changes(query_arg if isinstance(query_arg, dict) else {})
            ctx = self.records.api_base + "$metadata#Microsoft.Dynamics.CRM.RetrieveMetadataChangesResponse"
            return _json(200, {"@odata.context": ctx, **changes}), 0, 1
        if not self.records.has_set(name):
            api = self.custom_apis.find(name, 0)
            if api is not None:
                return self._custom_api(api, method, head, query, body, pref, user)
        table = self.records.by_set(name)
        if key is None:
            return self._collection(method, table, segs, query, pref, headers, body, user)
        return self._record(method, table, key, segs[1:], query, pref, headers, body, user)

    def _batch_part(self, method: str, url: str, headers: dict[str, str], body: bytes, user: str) -> Response:
        path = url
        if "/api/data/" in path:
            path = path.split("/api/data/", 1)[1].split("/", 1)[1]
        path = path.lstrip("/")
        api_path, _, query = path.partition("?")
        if api_path.startswith("$batch"):
            raise DvError(400, "0x80048d19", "A batch request cannot contain another batch request.")  # [BATCH]
        self.store.meter.part()  # each part is charged as the single request it is
        resp, _, _ = self.dispatch(method, unquote_path(api_path), query, headers, body, user)
        return resp

    # ------------------------------------------------------------------ collections
    def _collection(
        self,
        method: str,
        table: Table,
        segs: list[str],
        query: str,
        pref: Prefer,
        headers: dict[str, str],
        body: bytes,
        user: str,
    ) -> tuple[Response, int, int]:
        params = parse_params(query)
        if len(segs) == 2 and segs[1] == "$count" and method == "GET":
            if "$deltatoken" in params:
                # CT: GET accounts/$count?$deltatoken=... -> the number of changes since the token.
                since = self.reader._check_token(params["$deltatoken"])
                n = len(self.store.changed_since(table.logical, since)) + len(
                    self.store.deleted_since(table.logical, since)
                )
                return Response(200, [("Content-Type", "text/plain")], str(n).encode()), 0, 1
            n = min(self.store.count(table.logical), 5000)
            return Response(200, [("Content-Type", "text/plain")], str(n).encode()), 0, 1
        if len(segs) == 2 and segs[1].startswith("Microsoft.Dynamics.CRM."):
            action = segs[1].split(".")[-1]
            if action in BULK and method == "POST":
                return self._bulk(action, table, json.loads(body or b"{}"), user)
            api = self.custom_apis.find(action.split("(")[0], 2, table.logical)
            if api is not None:
                return self._custom_api(api, method, action, query, body, pref, user)
            raise E.not_found_segment(segs[1])
        if len(segs) > 1:
            raise E.not_found_segment(segs[1])
        if method == "GET":
            url_path = "/" + self.records.api_base.split("/", 3)[3] + table.entity_set
            result, applied = self.reader.read(table, params, pref, url_path, user)
            hdrs = [("Content-Type", JSON_TYPE)] + [("Preference-Applied", a) for a in applied]
            return Response(200, hdrs, _dumps(result)), 0, len(result.get("value", []))
        if method == "POST":
            payload = _object(body, table)
            if pref.return_representation:  # a bad $select/$expand fails the request before anything is written
                parse_select(self.records, table, params.get("$select"))
                parse_expand(self.records, table, params.get("$expand"))
            with self.store.transaction():
                rid, rec = self.records.create(table, payload, user)
                if _detect_duplicates(headers):
                    duplicates.check(self.records, table, rec)
            return self._created(table, rid, rec, pref, params), 1, 0
        raise DvError(405, "", f"The HTTP method '{method}' is not allowed on the collection '{table.entity_set}'.")

    def _created(self, table: Table, rid: str, rec: dict[str, Any], pref: Prefer, params: dict[str, str]) -> Response:
        entity_id = f"{self.records.api_base}{table.entity_set}({rid})"
        if pref.return_representation:
            # CREATE: "Create with data returned" honours $select and $expand.
            select = parse_select(self.records, table, params.get("$select"))
            expand = parse_expand(self.records, table, params.get("$expand"))
            out = self.records.represent(table, rec, select, pref.annotations, expand)
            # Learn "Create a table row using the Web API": with $expand the context lists the selection
            # (`accounts(name,primarycontactid(fullname),Account_Tasks(subject))/$entity`); with $select alone it is
            # `accounts/$entity`.
            cols = context_columns(select, expand) if expand else ""
            out = {"@odata.context": f"{self.records.api_base}$metadata#{table.entity_set}{cols}/$entity", **out}
            return Response(
                201,
                [
                    ("Content-Type", JSON_TYPE),
                    ("Preference-Applied", "return=representation"),
                    ("ETag", out["@odata.etag"]),
                    ("Location", entity_id),
                ],
                _dumps(out),
            )
        return Response(204, [("OData-EntityId", entity_id)])

    def _bulk(self, action: str, table: Table, body: dict[str, Any], user: str) -> tuple[Response, int, int]:
        targets = body.get("Targets")
        if not isinstance(targets, list) or not targets:
            raise DvError(400, "0x80040203", f"{action} requires a non-empty 'Targets' collection.")
        expected = f"Microsoft.Dynamics.CRM.{table.logical}"
        for i, item in enumerate(targets):
            if not isinstance(item, dict) or str(item.get("@odata.type", "")).lstrip("#") != expected:
                raise DvError(
                    400,
                    "0x80048d19",
                    f'Targets[{i}]: every item needs "@odata.type": "{expected}" and all items must be of that table.',
                )
        ids: list[str] = []
        with self.store.transaction():
            if action == "CreateMultiple":
                for item in targets:
                    rid, _ = self.records.create(table, item, user)
                    ids.append(rid)
                return (
                    _json(
                        200,
                        {
                            "@odata.context": self.records.api_base
                            + "$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse",
                            "Ids": ids,
                        },
                    ),
                    len(targets),
                    0,
                )
            if action == "UpdateMultiple":
                seen: set[str] = set()
                for item in targets:
                    primary = item.get(table.primary_id)
                    if not isinstance(primary, str) or not GUID_RE.match(primary):
                        raise DvError(
                            400,
                            "0x80040203",
                            f"UpdateMultiple items must carry the primary key '{table.primary_id}' (alternate keys are not supported).",
                        )
                    primary = primary.lower()
                    if primary in seen:
                        continue  # documented: only the first of duplicate targets is applied
                    seen.add(primary)
                    self.records.update(table, primary, item, user)
                return Response(204), len(targets), 0
            seen_keys: set[str] = set()
            for item in targets:
                odata_id = item.get("@odata.id")
                upsert_id: str | None
                alt: dict[str, Any] | None = None
                if odata_id:
                    # @odata.id is a URL: its key segment is percent-decoded like a request path's (records.resolve_url).
                    ttable, key_text = split_paren(unquote(str(odata_id).split("/")[-1]))
                    if ttable != table.entity_set or key_text is None:
                        raise DvError(400, "0x80048d19", f"'{odata_id}' does not address a {table.logical} record.")
                    upsert_id, alt = self.records.resolve_key(table, key_text)
                    sig = key_text
                else:
                    upsert_id = item.get(table.primary_id)
                    sig = str(upsert_id)
                    if upsert_id is None:
                        raise DvError(400, "0x80040203", "UpsertMultiple items need '@odata.id' or the primary key.")
                if sig in seen_keys:
                    raise DvError(400, "0x80040237", f"Duplicate key in Targets: {sig}.")
                seen_keys.add(sig)
                self._upsert(table, upsert_id, alt, item, user)
            return Response(204), len(targets), 0

    def _upsert(
        self, table: Table, rid: str | None, alt: dict[str, Any] | None, item: dict[str, Any], user: str
    ) -> tuple[str, bool]:
        """Dataverse's upsert: update when found (key columns stripped), else create with the key values."""
        existing = self.store.get(table.logical, rid) if rid else None
        if existing is not None:
            self.records.update(table, rid or "", item, user, strip_keys=alt, existing=existing)
            return rid or "", False
        new_id, _ = self.records.create(table, item, user, rid=rid if alt is None else None, key_values=alt)
        return new_id, True

    # ------------------------------------------------------------------ single records
    def _record(
        self,
        method: str,
        table: Table,
        key: str,
        rest: list[str],
        query: str,
        pref: Prefer,
        headers: dict[str, str],
        body: bytes,
        user: str,
    ) -> tuple[Response, int, int]:
        params = parse_params(query)
        rid, alt = self.records.resolve_key(table, key)
        existing = self.store.get(table.logical, rid) if rid else None
        if rest:
            return self._record_sub(method, table, rid, existing, rest, params, pref, headers, body, user)
        if method == "GET":
            if existing is None:
                raise E.key_not_found(table.logical) if alt else E.record_not_found(table.logical, str(rid))
            select = parse_select(self.records, table, params.get("$select"))
            expand = parse_expand(self.records, table, params.get("$expand"))
            tag = etag(existing["versionnumber"])
            inm = headers.get("if-none-match")
            if inm and inm != "null" and inm == tag and not expand and not pref.annotations:
                return Response(304, [("ETag", tag)]), 0, 1
            out = self.records.represent(table, existing, select, pref.annotations, expand)
            cols = context_columns(select, expand)
            out = {"@odata.context": f"{self.records.api_base}$metadata#{table.entity_set}{cols}/$entity", **out}
            hdrs = [("Content-Type", JSON_TYPE), ("ETag", tag)]
            if pref.annotations:
                hdrs.append(("Preference-Applied", f'odata.include-annotations="{pref.annotations}"'))
            return Response(200, hdrs, _dumps(out)), 0, 1
        if method == "PATCH":
            payload = _object(body, table)
            if pref.return_representation:  # a bad $select fails the request before anything is written
                parse_select(self.records, table, params.get("$select"))
            if_match, if_none = headers.get("if-match"), headers.get("if-none-match")
            with self.store.transaction():
                if if_none == "*" and existing is not None:
                    # Doc example shows code ""; 0x80040237 is Dataverse's DuplicateRecord, the 412 reason [COMPOSE].
                    raise DvError(412, "0x80040237", "A record with matching key values already exists.")
                if if_match:
                    if existing is None:
                        if alt:
                            raise E.key_not_found(table.logical)
                        raise E.record_not_found(table.logical, str(rid))
                    if if_match != "*" and if_match != etag(existing["versionnumber"]):
                        raise DvError(
                            412,
                            "0x80060882",
                            "The version of the existing record doesn't match the RowVersion property provided.",
                        )
                new_id, created = self._upsert(table, rid, alt, payload, user)
                rec = self.store.get(table.logical, new_id) or {}
                if _detect_duplicates(headers):
                    duplicates.check(self.records, table, rec)
            # Upsert by alternate key answers with the key form the request used, not the GUID (only the SDK's
            # code and the service show this: clients such as dynamics-web-api parse either form).
            entity_id = f"{self.records.api_base}{table.entity_set}({key if alt else new_id})"
            if pref.return_representation:
                select = parse_select(self.records, table, params.get("$select"))
                out = self.records.represent(table, rec, select, pref.annotations)
                cols = context_columns(select)
                out = {"@odata.context": f"{self.records.api_base}$metadata#{table.entity_set}{cols}/$entity", **out}
                return (
                    Response(
                        201 if created else 200,
                        [
                            ("Content-Type", JSON_TYPE),
                            ("Preference-Applied", "return=representation"),
                            ("ETag", out["@odata.etag"]),
                            ("OData-EntityId", entity_id),
                        ],
                        _dumps(out),
                    ),
                    1,
                    0,
                )
            return Response(204, [("OData-EntityId", entity_id)]), 1, 0
        if method == "DELETE":
            if existing is None:
                raise E.key_not_found(table.logical) if alt else E.record_not_found(table.logical, str(rid))
            if_match = headers.get("if-match")
            if if_match and if_match != "*" and if_match != etag(existing["versionnumber"]):
                raise DvError(
                    412,
                    "0x80060882",
                    "The version of the existing record doesn't match the RowVersion property provided.",
                )
            with self.store.transaction():
                self.records.delete(table, existing[table.primary_id])
            return Response(204), 1, 0
        raise DvError(405, "", f"The HTTP method '{method}' is not allowed on a record.")

    def _record_sub(
        self,
        method: str,
        table: Table,
        rid: str | None,
        existing: dict[str, Any] | None,
        rest: list[str],
        params: dict[str, str],
        pref: Prefer,
        headers: dict[str, str],
        body: bytes,
        user: str,
    ) -> tuple[Response, int, int]:
        if existing is None or rid is None:
            raise E.record_not_found(table.logical, str(rid))
        rid = existing[table.primary_id]
        seg = rest[0]
        if seg.startswith("Microsoft.Dynamics.CRM.RetrievePrincipalAccess(") and method == "GET":
            return self._principal_access(table, seg, params), 0, 1
        if seg == "Microsoft.Dynamics.CRM.QualifyLead" and table.logical == "lead" and method == "POST":
            created = self.messages.qualify_lead(rid, json.loads(body or b"{}"), user)
            ctx = self.records.api_base + "$metadata#Collection(Microsoft.Dynamics.CRM.crmbaseentity)"
            return _json(200, {"@odata.context": ctx, "value": created}), len(created) + 1, 0
        if seg == "Microsoft.Dynamics.CRM.PublishDuplicateRule" and table.logical == "duplicaterule":
            if method != "POST":
                raise E.not_found_segment(seg)
            return self._publish_rule(rid, user), 1, 0
        if seg.startswith("Microsoft.Dynamics.CRM."):
            action = seg[len("Microsoft.Dynamics.CRM.") :]
            if action == "SendEmail" and table.logical == "email" and method == "POST":
                return self._send_email(table, existing, json.loads(body or b"{}"), user), 1, 0
            api = self.custom_apis.find(action.split("(")[0], 1, table.logical)
            if api is not None:
                return self._custom_api(
                    api, method, action, "&".join(f"{k}={v}" for k, v in params.items()), body, pref, user
                )
            raise E.not_found_segment(seg)
        nav_name, child_key = split_paren(seg)
        nav = table.navs.get(nav_name)
        if nav is not None and nav.kind == "n2n":
            return self._n2n_sub(method, table, rid, nav_name, child_key, rest, params, pref, body)
        if nav is not None:
            is_ref = len(rest) > 1 and rest[1] == "$ref"
            with self.store.transaction():
                if nav.kind == "single":
                    if is_ref and method == "PUT":
                        target_url = json.loads(body).get("@odata.id", "")
                        self.records.parse_body(table, {f"{nav_name}@odata.bind": target_url})
                        self.records.update(table, rid, {f"{nav_name}@odata.bind": target_url}, user)
                        return Response(204), 1, 0
                    if is_ref and method == "DELETE":
                        self.records.update(table, rid, {f"{nav_name}@odata.bind": None}, user)
                        return Response(204), 1, 0
                    if method == "GET":
                        child_id = existing.get(f"_{nav.attribute}_value")
                        child = self.store.get(nav.target, child_id) if child_id else None
                        if child is None:
                            return Response(204), 0, 1
                        out = self.records.represent(self.records.tables[nav.target], child, None, pref.annotations)
                        return _json(200, out), 0, 1
                else:
                    child_table = self.records.tables[nav.target]
                    col = f"_{nav.attribute}_value"
                    if is_ref and method == "POST":
                        self.records.associate_collection(table, rid, nav_name, json.loads(body).get("@odata.id", ""))
                        return Response(204), 1, 0
                    if is_ref and method == "DELETE" and child_key:
                        cid, _ = self.records.resolve_key(child_table, child_key)
                        self.records.update(child_table, str(cid), {}, user)
                        rec = self.store.get(child_table.logical, str(cid))
                        if rec is None or rec.get(col) != rid:
                            raise E.record_not_found(child_table.logical, str(cid))
                        rec.pop(col, None)
                        rec.pop("__lt_" + nav.attribute, None)
                        self.store.replace(
                            child_table.logical, str(cid), rec, self.records.key_values(child_table, rec)
                        )
                        return Response(204), 1, 0
                    if method == "PUT" and child_table.logical == "activityparty":
                        # Documented special case: replace an activity's parties in one PUT.
                        for _, r in list(self.store.scan_eq("activityparty", col, rid)):
                            if r.get(col) == rid:
                                self.store.delete("activityparty", r["activitypartyid"])
                        for item in json.loads(body).get("value", []):
                            self.records._child_with_parent(child_table, nav.attribute, table, rid, item, user)
                        return Response(204), 1, 0
                    if method == "GET":
                        select = parse_select(self.records, child_table, params.get("$select"))
                        rows = [
                            self.records.represent(child_table, r, select, pref.annotations)
                            for _, r in self.store.scan_eq(child_table.logical, col, rid)
                            if r.get(col) == rid
                        ]
                        return (
                            _json(
                                200,
                                {
                                    "@odata.context": f"{self.records.api_base}$metadata#{child_table.entity_set}",
                                    "value": rows,
                                },
                            ),
                            0,
                            len(rows),
                        )
            raise DvError(405, "", f"{method} is not supported on '{nav_name}'.")
        attr = table.attributes.get(seg)
        if attr is not None and attr.type in (FILE, IMAGE):
            resp = self.files.handle(method, table, rid, attr, rest, params, headers, body)
            return resp, (1 if method != "GET" else 0), (1 if method == "GET" else 0)
        # A single property: GET, PUT {"value": ...}, DELETE (clears it).
        if not self.records.column_known(table, seg):
            raise E.unknown_property(table.logical, seg)
        if method == "GET" and rest[1:] == ["$value"]:
            # Retrieve a single property's raw value: GET accounts(<id>)/name/$value -> text/plain.
            value = existing.get(seg)
            if value is None:
                return Response(204), 0, 1
            text = json.dumps(value) if isinstance(value, bool) else str(value)
            return Response(200, [("Content-Type", "text/plain; charset=utf-8")], text.encode()), 0, 1
        if method == "GET":
            return (
                _json(
                    200,
                    {
                        "@odata.context": f"{self.records.api_base}$metadata#{table.entity_set}({rid})/{seg}",
                        "value": existing.get(seg),
                    },
                ),
                0,
                1,
            )
        if method in ("PUT", "DELETE"):
            value = json.loads(body).get("value") if method == "PUT" else None
            with self.store.transaction():
                self.records.update(table, rid, {seg: value}, user)
            return Response(204), 1, 0
        raise DvError(405, "", f"{method} is not supported on a property.")

    def _n2n_sub(
        self,
        method: str,
        table: Table,
        rid: str,
        nav_name: str,
        child_key: str | None,
        rest: list[str],
        params: dict[str, str],
        pref: Prefer,
        body: bytes,
    ) -> tuple[Response, int, int]:
        """A many-to-many navigation property: read, associate ($ref POST), disassociate ($ref DELETE)."""
        nav = table.navs[nav_name]
        rel = self.records.n2n[nav.attribute]
        other = self.records.tables[nav.target]
        is_ref = rest[1:] == ["$ref"]
        if method == "POST" and is_ref:
            with self.store.transaction():
                self.records.associate_collection(table, rid, nav_name, json.loads(body or b"{}").get("@odata.id", ""))
            return Response(204), 1, 0
        if method == "DELETE" and is_ref:
            other_id: str | None = None
            if child_key is not None:
                found, _ = self.records.resolve_key(other, child_key)
                other_id = str(found) if found else None
            elif "$id" in params:
                _, other_id = self.records.resolve_url(params["$id"])
            if other_id is None:
                raise DvError(400, "0x80060888", "Disassociate needs the related row: nav(id)/$ref or $ref?$id=.")
            with self.store.transaction():
                if not n2n.disassociate(self.store, rel, table.logical, rid, str(other_id)):
                    raise E.record_not_found(other.logical, str(other_id))
            return Response(204), 1, 0
        if method == "GET" and not is_ref:
            select = parse_select(self.records, other, params.get("$select"))
            ids = n2n.related_ids(self.store, rel, table.logical, rid)
            rows = [r for r in (self.store.get(other.logical, i) for i in ids) if r]
            value = [self.records.represent(other, r, select, pref.annotations) for r in rows]
            ctx = f"{self.records.api_base}$metadata#{other.entity_set}{context_columns(select)}"
            return _json(200, {"@odata.context": ctx, "value": value}), 0, len(value)
        raise DvError(405, "", f"{method} is not supported on '{nav_name}'.")

    def _principal_access(self, table: Table, seg: str, params: dict[str, str]) -> Response:
        """Learn RetrievePrincipalAccess function: the principal's rights on a record. The sandbox has no security
        roles (one user with every privilege, docs/sandbox.md), so every right is granted on a record that exists."""
        if table.logical not in ("systemuser", "team"):
            raise E.not_found_segment(seg)
        target = _function_argument(seg, "Target", params)
        url = target.get("@odata.id") if isinstance(target, dict) else None
        if not isinstance(url, str):
            raise DvError(400, "0x80060888", 'RetrievePrincipalAccess needs Target={"@odata.id":"<set>(<id>)"}.')
        self.records.resolve_url(url)  # 404 when the record does not exist
        rights = "ReadAccess, WriteAccess, AppendAccess, AppendToAccess, CreateAccess, DeleteAccess, ShareAccess, AssignAccess"
        ctx = self.records.api_base + "$metadata#Microsoft.Dynamics.CRM.RetrievePrincipalAccessResponse"
        return _json(200, {"@odata.context": ctx, "AccessRights": rights})

    def _publish_rule(self, rid: str, user: str) -> Response:
        """Learn PublishDuplicateRule action (bound to duplicaterule, returns the asyncoperation that publishes it).
        The sandbox publishes at once; the job row it answers is already Completed / Succeeded."""
        with self.store.transaction():
            self.records.update(self.records.tables["duplicaterule"], rid, {"statecode": 1, "statuscode": 2}, user)
            job_id = self._finished_job("Publish duplicate rule", 33, user)  # 33: Duplicate detection rule publish
            job = self.store.get("asyncoperation", job_id) or {}
        out = self.records.represent(self.records.tables["asyncoperation"], job, None, None)
        ctx = self.records.api_base + "$metadata#asyncoperations/$entity"
        return _json(200, {"@odata.context": ctx, **out})

    def _finished_job(self, name: str, operation_type: int, user: str) -> str:
        """A system job row (asyncoperation) for work the sandbox did at once: Completed, Succeeded."""
        job_id, _ = self.records.create(
            self.records.tables["asyncoperation"],
            {"name": name, "operationtype": operation_type, "statecode": 3, "statuscode": 30, "completedon": _now()},
            user,
        )
        return job_id

    def _close_incident(self, body: dict[str, Any], user: str) -> Response:
        """CloseIncident {"IncidentResolution": {..."incidentid@odata.bind": "/incidents(id)"}, "Status": 5} -> 204.

        The documented way to resolve a case: it creates the incidentresolution activity and moves the case to
        Resolved with the given status reason.
        """
        resolution = body.get("IncidentResolution")
        status = body.get("Status")
        if not isinstance(resolution, dict) or not isinstance(status, int):
            raise DvError(
                400, "0x80040203", "CloseIncident needs IncidentResolution (an object) and Status (an integer)."
            )
        incident_t = self.records.tables["incident"]
        st = incident_t.attributes["statuscode"]
        if (st.status_state or {}).get(status) != 1:
            raise E.validation(
                f"The value {status} of 'statuscode' on record of type 'incident' is outside the valid range for "
                "state Resolved.",
                "0x8004431a",
            )
        bind = resolution.get("incidentid@odata.bind")
        if not isinstance(bind, str):
            raise DvError(400, "0x80040203", 'IncidentResolution needs "incidentid@odata.bind".')
        _, incident_id = self.records.resolve_url(bind)
        incident = self.store.get("incident", incident_id) or {}
        if incident.get("statecode") != 0:
            raise DvError(400, "0x80040203", "The case is not active, so it cannot be resolved.")
        item = {k: v for k, v in resolution.items() if k != "@odata.type"}
        with self.store.transaction():
            res_t = self.records.tables["incidentresolution"]
            rid, _ = self.records.create(res_t, item, user)
            self.records.update(res_t, rid, {"statecode": 1, "statuscode": 2}, user)
            self.records.update(incident_t, incident_id, {"statecode": 1, "statuscode": status}, user, allow_state=True)
        return Response(204)

    def _send_email(self, table: Table, email: dict[str, Any], body: dict[str, Any], user: str) -> Response:
        if email.get("statecode") != 0 or email.get("statuscode") != 1:
            raise DvError(400, "0x8004360d", "Only an email in Draft status can be sent.")
        rid = email["activityid"]
        recipients = [
            r
            for _, r in self.store.scan_eq("activityparty", "_activityid_value", rid)
            if r.get("_activityid_value") == rid and r.get("participationtypemask") == 2
        ]
        if not recipients:
            raise DvError(400, "0x8004360d", "The email must have at least one recipient before it can be sent.")
        with self.store.transaction():
            self.records.update(table, rid, {"statecode": 1, "statuscode": 3, "actualend": _now()}, user)
        return _json(
            200,
            {
                "@odata.context": self.records.api_base + "$metadata#Microsoft.Dynamics.CRM.SendEmailResponse",
                "Subject": email.get("subject") or "",
            },
        )


# ---------------------------------------------------------------------------------------------------- helpers


def _detect_duplicates(headers: dict[str, str]) -> bool:
    """Learn "Detect duplicate data using the Web API": `MSCRM.SuppressDuplicateDetection: false` asks for it."""
    return headers.get("mscrm.suppressduplicatedetection", "").strip().lower() == "false"


def _origin(url: str) -> str:
    from connector.sandbox.auth import _origin as origin

    return origin(url)


def _now() -> str:
    from connector.sandbox.records import now_iso

    return now_iso()


def _kind(api_path: str) -> str:
    head = api_path.split("/")[0].split("(")[0]
    if "Microsoft.Dynamics.CRM." in api_path:
        return head + ":" + api_path.rsplit(".", 1)[-1]
    return head + ("(key)" if "(" in api_path.split("/")[0] else "")


def _function_argument(segment: str, name: str, params: dict[str, str]) -> Any:
    """`Fn(Name=@p1)?@p1=<json>` or `Fn(Name=<json>)` -> the argument's value (OData JSON literal syntax)."""
    inner = segment[segment.index("(") + 1 : segment.rindex(")")]
    for part in split_top_level(inner):
        key, _, raw = part.partition("=")
        if key.strip() != name:
            continue
        raw = raw.strip()
        if raw.startswith("@"):
            raw = params.get(raw, "")
        try:
            return json.loads(raw.replace("'", '"')) if raw.startswith(("[", "'")) else json.loads(raw)
        except json.JSONDecodeError:
            raise DvError(400, "0x80060888", f"The value of parameter '{name}' is not valid JSON.") from None
    return None


def _segments(api_path: str) -> list[str]:
    """Split on '/' outside quoted key values; percent-decoding happens per key value, later."""
    segs, buf, quoted = [], "", False
    for ch in api_path:
        if ch == "'":
            quoted = not quoted
        if ch == "/" and not quoted:
            if buf:
                segs.append(buf)
            buf = ""
        else:
            buf += ch
    if buf:
        segs.append(buf)
    # Each segment is percent-decoded once, here, so an encoded quote (%27) in a key segment works like a plain one;
    # an encoded '/' (%2F) stays inside its segment because splitting happened first.
    return [unquote(s) for s in segs]


def unquote_path(path: str) -> str:
    return path


def _object(body: bytes, table: Table) -> dict[str, Any]:
    try:
        payload = json.loads(body or b"{}")
    except json.JSONDecodeError as exc:
        raise E.payload_error(table.entity_set, f"The request body is not valid JSON: {exc.msg}.") from None
    if not isinstance(payload, dict):
        raise E.payload_error(table.entity_set, "The request body must be a JSON object.")
    return payload


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _json(status: int, obj: Any, plain: bool = False) -> Response:
    return Response(status, [("Content-Type", "application/json" if plain else JSON_TYPE)], _dumps(obj))


def _fault_response(status: int, request_id: str) -> Response:
    body = {
        "error": {
            "code": "0x80040216" if status == 500 else "",
            "message": "The service is temporarily unavailable (injected fault).",
        }
    }
    return Response(status, [("Content-Type", JSON_TYPE), ("REQ_ID", request_id)], _dumps(body))
