"""Payments: Stripe PaymentIntents and webhooks, refunds, cash at stations, seller settlement."""
