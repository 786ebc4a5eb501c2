"""The Dataverse Web API client: the connector's only way to talk to Dynamics 365."""

from connector.dataverse.batch import BatchRequest, BatchResponse, ChangeSet
from connector.dataverse.bulk import BulkFailure, BulkResult, Settlement
from connector.dataverse.client import DataverseClient
from connector.dataverse.metadata import ColumnMetadata, KeyMetadata, TableMetadata
from connector.dataverse.query import Change

__all__ = [
    "BatchRequest",
    "BatchResponse",
    "BulkFailure",
    "BulkResult",
    "Change",
    "ChangeSet",
    "ColumnMetadata",
    "DataverseClient",
    "KeyMetadata",
    "Settlement",
    "TableMetadata",
]
