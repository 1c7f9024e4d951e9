"""The error codes of payments, refunds, Stripe and the sellers' settlement, as clients see them."""
import enum


class PaymentErrorCode(enum.StrEnum):
    # Paying a checkout
    CHECKOUT_NOT_PAYABLE = "checkout_not_payable"
    PAID_AT_STATION = "paid_at_station"
    NOT_CASH_CHECKOUT = "not_cash_checkout"
    PAYMENT_NOT_FOUND = "payment_not_found"
    CARD_DECLINED = "card_declined"
    METHOD_NOT_AVAILABLE = "method_not_available"
    CASH_AMOUNT_MISMATCH = "cash_amount_mismatch"
    # Refunds
    REFUND_NOT_FOUND = "refund_not_found"
    REFUND_REJECTED = "refund_rejected"
    REFUND_NOT_ALLOWED = "refund_not_allowed"
    ORDER_NOT_PAID = "order_not_paid"
    UNKNOWN_ORDER_LINE = "unknown_order_line"
    DUPLICATE_ORDER_LINE = "duplicate_order_line"
    REFUND_EXCEEDS_UNITS = "refund_exceeds_units"
    REFUND_EXCEEDS_PAID = "refund_exceeds_paid"
    NOTHING_TO_REFUND = "nothing_to_refund"
    NOT_CASH_REFUND = "not_cash_refund"
    REFUND_ALREADY_SETTLED = "refund_already_settled"
    # Sellers' settlement ledger
    NOT_YOUR_LEDGER = "not_your_ledger"
    PAYOUT_EXCEEDS_BALANCE = "payout_exceeds_balance"
    # Stripe (payments.gateway)
    PAYMENT_PROVIDER_UNAVAILABLE = "payment_provider_unavailable"
    PAYMENT_PROVIDER_ERROR = "payment_provider_error"
    PAYMENTS_NOT_CONFIGURED = "payments_not_configured"
    INVALID_WEBHOOK = "invalid_webhook"
    MISSING_SIGNATURE = "missing_signature"
    INVALID_SIGNATURE = "invalid_signature"
    INVALID_PAYLOAD = "invalid_payload"
