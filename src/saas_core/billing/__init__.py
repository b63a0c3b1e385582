"""Plans, prices, customers, subscriptions, invoices, payments and provider webhooks."""
