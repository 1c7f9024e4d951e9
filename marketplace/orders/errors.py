"""The error codes of checkouts and orders, as clients see them."""
import enum


class OrderErrorCode(enum.StrEnum):
    CHECKOUT_NOT_FOUND = "checkout_not_found"
    ORDER_NOT_FOUND = "order_not_found"
    CART_REJECTED = "cart_rejected"
    INVALID_QUANTITY = "invalid_quantity"
    CART_FULL = "cart_full"
    ADDRESS_NOT_FOUND = "address_not_found"
    DUPLICATE_PRODUCT = "duplicate_product"
    CART_TOTAL_TOO_LARGE = "cart_total_too_large"
    UNKNOWN_COUNTY = "unknown_county"
    STATION_UNAVAILABLE = "station_unavailable"
    CASH_NEEDS_STATION = "cash_needs_station"
    OUT_OF_STOCK = "out_of_stock"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    ILLEGAL_TRANSITION = "illegal_transition"
    NOT_YOUR_MOVE = "not_your_move"
