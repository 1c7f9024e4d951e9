"""The order lifecycle: which moves exist and who may make them.

    pending_payment --pay--> paid --ship--> shipped --arrive--> at_station --hand_over--> delivered --complete--> completed
          |                   |                |                                             ^
    expire / cancel        cancel              +------ confirm_receipt (address delivery) ---+

A payment that arrives after an order expired pays it late (expired --pay_late--> paid) if its
stock can be taken again; otherwise the payment is refunded. Station deliveries are received
when the partner hands the parcel over; address deliveries when the buyer confirms receipt (or
automatically some days after shipping). Delivered orders complete automatically after the
after-sale window. States only move forward along these edges; every move is recorded as an
OrderEvent.
"""
import enum


class OrderStatus(enum.StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    SHIPPED = "shipped"
    AT_STATION = "at_station"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Actor(enum.StrEnum):
    """Who may make a move: the order's buyer (or the partner who placed it), its seller, the
    partner of its delivery station, an administrator, or the system (payments, jobs)."""

    BUYER = "buyer"
    SELLER = "seller"
    STATION_PARTNER = "station_partner"
    ADMIN = "admin"
    SYSTEM = "system"


S = OrderStatus
# action -> (allowed from-states, to-state, actors)
MOVES: dict[str, tuple[frozenset[OrderStatus], OrderStatus, frozenset[Actor]]] = {
    "pay": (frozenset({S.PENDING_PAYMENT}), S.PAID, frozenset({Actor.SYSTEM})),
    # A payment that arrives after the deadline, when the stock could be taken again.
    "pay_late": (frozenset({S.EXPIRED}), S.PAID, frozenset({Actor.SYSTEM})),
    "expire": (frozenset({S.PENDING_PAYMENT}), S.EXPIRED, frozenset({Actor.SYSTEM})),
    "cancel": (frozenset({S.PENDING_PAYMENT, S.PAID}), S.CANCELLED, frozenset({Actor.BUYER, Actor.ADMIN, Actor.SYSTEM})),
    "ship": (frozenset({S.PAID}), S.SHIPPED, frozenset({Actor.SELLER, Actor.ADMIN})),
    "arrive": (frozenset({S.SHIPPED}), S.AT_STATION, frozenset({Actor.STATION_PARTNER, Actor.ADMIN})),
    "hand_over": (frozenset({S.AT_STATION}), S.DELIVERED, frozenset({Actor.STATION_PARTNER, Actor.ADMIN})),
    "confirm_receipt": (frozenset({S.SHIPPED}), S.DELIVERED, frozenset({Actor.BUYER, Actor.ADMIN, Actor.SYSTEM})),
    "complete": (frozenset({S.DELIVERED}), S.COMPLETED, frozenset({Actor.ADMIN, Actor.SYSTEM})),
}
# How a refused move reads: "An order that is shipped cannot be <word>."
ACTION_WORDS = {
    "pay": "paid", "pay_late": "paid after its deadline", "expire": "expired", "cancel": "cancelled", "ship": "shipped", "arrive": "marked as arrived",
    "hand_over": "handed over", "confirm_receipt": "confirmed as received", "complete": "completed",
}
STATION_ONLY = frozenset({"arrive", "hand_over"})
ADDRESS_ONLY = frozenset({"confirm_receipt"})

# States whose stock is still held by the order (given back on cancel/expire).
HOLDS_STOCK = frozenset({S.PENDING_PAYMENT, S.PAID})
