"""The lifecycle: state tables, the service that moves records, the audit log, print routing."""
