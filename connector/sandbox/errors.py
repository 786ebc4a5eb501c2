"""Errors the sandbox answers with: HTTP status plus Dataverse's ``{"error":{"code","message"}}`` body.

Codes and messages follow Microsoft's documentation (see docs/sandbox.md for sources and the cases where the
documentation is silent and the sandbox had to choose).
"""

from __future__ import annotations


class DvError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


PAYLOAD_HELP = "https://go.microsoft.com/fwlink/?linkid=2195293"


def payload_error(table: str, inner: str) -> DvError:
    """The shape Dataverse uses for OData payload problems (wrong property, wrong type)."""
    return DvError(
        400,
        "0x80048d19",
        f"Error identified in Payload provided by the user for Entity :'{table}', For more information on this "
        f"error please follow this help link {PAYLOAD_HELP}  ----> InnerException : "
        f"Microsoft.OData.ODataException: {inner}",
    )


def not_found_segment(segment: str) -> DvError:
    return DvError(404, "0x8006088a", f"Resource not found for the segment '{segment}'.")


def record_not_found(table: str, rid: str) -> DvError:
    return DvError(404, "0x80040217", f"{table} With Id = {rid} Does Not Exist")


def key_not_found(table: str) -> DvError:
    return DvError(404, "0x80040217", f"A record with the specified key values does not exist in {table} entity")


def unknown_property(table: str, prop: str) -> DvError:
    return DvError(400, "0x0", f"Could not find a property named '{prop}' on type 'Microsoft.Dynamics.CRM.{table}'.")


def validation(message: str, code: str = "0x80044331") -> DvError:
    return DvError(400, code, "A validation error occurred.  " + message)
