"""The route contract: routes as data, problem details, OpenAPI, idempotency."""
