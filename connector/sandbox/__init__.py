"""A local Dataverse Web API on loopback, backed by SQLite. The connector never imports this package."""
