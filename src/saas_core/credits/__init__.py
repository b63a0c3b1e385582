"""The double-entry journal behind each tenant's credit ledger."""
