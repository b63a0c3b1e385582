"""Payment provider implementations (Stripe, Polar, Dodo Payments, manual)."""
