"""File and image columns: upload (single PATCH or chunked), download (whole or by Range) and delete.

Learn "Use file column data": `PATCH table(id)/filecolumn` with `x-ms-file-name` uploads in one request (204);
`x-ms-transfer-mode: chunked` starts a session (200, `Location` with a `sessiontoken`, `x-ms-chunk-size`), each
`PATCH` of the Location with `Content-Range` answers 206 until the last chunk (204); `GET .../filecolumn/$value`
downloads (`x-ms-file-name`, `x-ms-file-size`; a `Range` header answers 206); `DELETE .../filecolumn` removes it.
Learn "Use image column data": `PUT table(id)/imagecolumn` with the bytes sets an image; `GET .../$value`
(`?size=full`) returns it. File bytes live in the store beside the rows, so they are transactional too.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass, field

from connector.sandbox.batch import Response
from connector.sandbox.errors import DvError
from connector.sandbox.records import Records, now_iso
from connector.sandbox.schema import IMAGE, Attribute, Table

CHUNK = 4 * 1024 * 1024
FILES = "__files__"


@dataclass
class _Session:
    table: str
    rid: str
    column: str
    name: str
    parts: list[bytes] = field(default_factory=list)
    received: int = 0


class FileColumns:
    def __init__(self, records: Records) -> None:
        self.records = records
        self.sessions: dict[str, _Session] = {}

    def handle(
        self,
        method: str,
        table: Table,
        rid: str,
        attr: Attribute,
        rest: list[str],
        params: dict[str, str],
        headers: dict[str, str],
        body: bytes,
    ) -> Response:
        col = attr.logical
        if method == "GET" and rest[1:] == ["$value"]:
            return self._download(table, rid, attr, headers)
        if method == "GET" and len(rest) == 1 and ("size" in params or "range" in headers):
            return self._download_json(table, rid, attr, headers)
        if method == "DELETE" and len(rest) == 1:
            self._store(table, rid, col, None, None)
            return Response(204)
        if method in ("PATCH", "PUT") and len(rest) == 1:
            if "sessiontoken" in params:
                return self._chunk(params["sessiontoken"], headers, body)
            name = headers.get("x-ms-file-name") or params.get("x-ms-file-name") or f"{col}.bin"
            if headers.get("x-ms-transfer-mode", "").lower() == "chunked":
                token = uuid.uuid4().hex
                self.sessions[token] = _Session(table.logical, rid, col, name)
                location = f"{self.records.api_base}{table.entity_set}({rid})/{col}?sessiontoken={token}"
                return Response(200, [("Location", location), ("x-ms-chunk-size", str(CHUNK))])
            self._store(table, rid, col, name, body)
            return Response(204)
        raise DvError(405, "", f"{method} is not supported on the file column '{col}'.")

    def _chunk(self, token: str, headers: dict[str, str], body: bytes) -> Response:
        session = self.sessions.get(token)
        if session is None:
            raise DvError(400, "0x80090001", "The upload session token is not valid or has expired.")
        m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", headers.get("content-range", ""))
        if not m:
            raise DvError(400, "0x80090001", "Each chunk needs a Content-Range: bytes start-end/total header.")
        start, end, total = (int(x) for x in m.groups())
        if start != session.received or end - start + 1 != len(body):
            raise DvError(400, "0x80090001", f"Expected the chunk starting at byte {session.received}.")
        session.parts.append(body)
        session.received += len(body)
        if session.received < total:
            return Response(206)
        del self.sessions[token]
        table = self.records.tables[session.table]
        self._store(table, session.rid, session.column, session.name, b"".join(session.parts))
        return Response(204)

    def _store(self, table: Table, rid: str, col: str, name: str | None, data: bytes | None) -> None:
        store = self.records.store
        with store.transaction():
            rec = store.get(table.logical, rid)
            if rec is None:
                raise DvError(404, "0x80040217", f"{table.logical} With Id = {rid} Does Not Exist")
            attr = table.attributes[col]
            fid = f"{table.logical}|{rid}|{col}"
            if store.get(FILES, fid) is not None:
                store.delete(FILES, fid)
            if data is None:
                rec[col] = None
                rec[f"{col}_name"] = None
            else:
                store.insert(FILES, fid, {"name": name, "b64": base64.b64encode(data).decode()}, {})
                if attr.type == IMAGE:
                    rec[col] = base64.b64encode(data).decode()
                else:
                    rec[col] = str(uuid.uuid5(uuid.NAMESPACE_URL, fid + str(store.version)))
                    rec[f"{col}_name"] = name
            rec["modifiedon"] = now_iso()
            store.replace(table.logical, rid, rec, None)

    def _download_json(self, table: Table, rid: str, attr: Attribute, headers: dict[str, str]) -> Response:
        """`GET table(id)/filecolumn?size=full` (with a Range): the bytes as base64 in a JSON `value`.

        Only clients' code shows this form (dynamics-web-api's downloadFile reads `value` as base64 when the
        answer carries Content-Disposition, and x-ms-file-name / x-ms-file-size); Learn documents `/$value`.
        """
        raw = self._download(table, rid, attr, headers)
        hdrs = dict(raw.headers)
        name = hdrs["x-ms-file-name"]
        body = json.dumps(
            {
                "@odata.context": f"{self.records.api_base}$metadata#{table.entity_set}({rid})/{attr.logical}",
                "value": base64.b64encode(raw.body).decode(),
            }
        ).encode()
        out = [
            ("Content-Type", "application/json; odata.metadata=minimal"),
            ("Content-Disposition", f'attachment; filename="{name}"'),
            ("x-ms-file-name", name),
            ("x-ms-file-size", hdrs["x-ms-file-size"]),
        ]
        if "Content-Range" in hdrs:
            out.append(("Content-Range", hdrs["Content-Range"]))
        return Response(raw.status, out, body)

    def _download(self, table: Table, rid: str, attr: Attribute, headers: dict[str, str]) -> Response:
        store = self.records.store
        rec = store.get(table.logical, rid)
        if rec is None:
            raise DvError(404, "0x80040217", f"{table.logical} With Id = {rid} Does Not Exist")
        saved = store.get(FILES, f"{table.logical}|{rid}|{attr.logical}")
        if saved is None and attr.type == IMAGE and rec.get(attr.logical):
            saved = {"name": f"{attr.logical}.png", "b64": rec[attr.logical]}
        if saved is None:
            raise DvError(404, "0x80060891", f"No file is attached to the column '{attr.logical}' of this record.")
        data = base64.b64decode(saved["b64"])
        common = [
            ("Content-Type", "application/octet-stream"),
            ("x-ms-file-name", str(saved["name"])),
            ("x-ms-file-size", str(len(data))),
        ]
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", headers.get("range", ""))
        if m:
            start = int(m.group(1))
            end = min(int(m.group(2)) if m.group(2) else len(data) - 1, len(data) - 1)
            part = data[start : end + 1]
            return Response(206, [*common, ("Content-Range", f"bytes {start}-{end}/{len(data)}")], part)
        return Response(200, common, data)
