"""Periodic work: expire unpaid orders, advance settled orders, forget old idempotency keys."""
