"""The error codes of claims, as clients see them."""
import enum


class ClaimErrorCode(enum.StrEnum):
    CLAIM_NOT_FOUND = "claim_not_found"
    ORDER_LINE_NOT_FOUND = "order_line_not_found"
    NOT_CLAIMANT = "not_claimant"
    NOT_YOUR_CLAIM = "not_your_claim"
    LINE_NOT_DELIVERED = "line_not_delivered"
    NOT_RECEIVED_TOO_EARLY = "not_received_too_early"
    CLAIM_WINDOW_CLOSED = "claim_window_closed"
    CLAIM_ALREADY_OPEN = "claim_already_open"
    CLAIM_EXCEEDS_REFUNDABLE = "claim_exceeds_refundable"
    NOT_ENOUGH_LEFT_TO_REFUND = "not_enough_left_to_refund"
    ILLEGAL_CLAIM_MOVE = "illegal_claim_move"
    OFFER_NOT_SMALLER = "offer_not_smaller"
    DECISION_EXCEEDS_MAXIMUM = "decision_exceeds_maximum"
    TOO_MANY_CLAIM_PHOTOS = "too_many_claim_photos"
