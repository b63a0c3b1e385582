"""Platform operations: impersonation and break-glass."""
