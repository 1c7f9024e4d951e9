"""The jobs worker (procrastinate): expiring unpaid orders, advancing settled orders, forgetting old
keys and tokens, reconciliation with Stripe, sales rollups and the stored reports."""
