"""Checkout and order endpoints."""
from flask.views import MethodView

from marketplace.accounts.auth import current_caller, current_user, requires
from marketplace.common.metrics import Channel, checkout_placed, counting_checkout
from marketplace.extensions import Blueprint
from marketplace.orders import addresses, cart, services
from marketplace.orders import checkout as checkout_service
from marketplace.orders.schemas import (
    CartOut,
    CartQuantityIn,
    CheckoutIn,
    CheckoutOut,
    IdempotencyHeader,
    NoteIn,
    OrderListArgs,
    OrderOut,
    OrderPageOut,
    SavedAddressIn,
    SavedAddressOut,
    ShipIn,
)

bp = Blueprint("orders", __name__, url_prefix="/api/v1", description="Checkout and the order lifecycle")


@bp.route("/checkouts")
class Checkouts(MethodView):
    @requires("buyer", "partner")
    @bp.arguments(IdempotencyHeader(), location="headers")
    @bp.arguments(CheckoutIn())
    @bp.response(201, CheckoutOut)
    @bp.alt_response(200, schema=CheckoutOut, description="A retry with the same Idempotency-Key and body")
    def post(self, headers, fields):
        """Place a checkout: one order per seller, stock taken now, payment due before expires_at"""
        with counting_checkout(Channel.API):
            checkout, created = checkout_service.place_checkout(
                current_caller().user_id, idempotency_key=headers["idempotency_key"], **fields
            )
        checkout_placed(Channel.API, created=created)
        return checkout, 201 if created else 200


@bp.route("/checkouts/<id:checkout_id>")
class CheckoutDetail(MethodView):
    @requires("buyer", "partner", "admin")
    @bp.response(200, CheckoutOut)
    def get(self, checkout_id):
        """One of my checkouts with its orders"""
        return services.get_checkout(checkout_id, current_user())


@bp.route("/orders")
class Orders(MethodView):
    @requires()
    @bp.arguments(OrderListArgs(), location="query")
    @bp.response(200, OrderPageOut)
    def get(self, args):
        """Orders I bought, sold or must ship, those for my station, or all (administrators)"""
        return services.list_orders(current_user(), **args)


@bp.route("/orders/<id:order_id>")
class OrderDetail(MethodView):
    @requires()
    @bp.response(200, OrderOut)
    def get(self, order_id):
        """One order, with its lines and its history"""
        return services.get_order(order_id, current_user())


@bp.route("/orders/<id:order_id>/ship")
class ShipOrder(MethodView):
    @requires("seller", "admin")
    @bp.arguments(ShipIn())
    @bp.response(200, OrderOut)
    def post(self, fields, order_id):
        """Ship a paid order with carrier and tracking number (its seller)"""
        return services.move_order(order_id, "ship", current_user(), **fields)


def _move(action: str, summary: str, roles: tuple[str, ...]):
    """A POST /orders/<id>/<action> endpoint with an optional note."""

    class Move(MethodView):
        @requires(*roles)
        @bp.arguments(NoteIn())
        @bp.response(200, OrderOut)
        def post(self, fields, order_id):
            return services.move_order(order_id, action, current_user(), note=fields["note"])

    Move.post.__doc__ = summary
    Move.__name__ = "Order" + action.title().replace("_", "")
    bp.route(f"/orders/<id:order_id>/{action.replace('_', '-')}", endpoint=f"order_{action}")(Move)


_move("arrive", "The parcel arrived at the station (its partner)", ("partner", "admin"))
_move("hand_over", "The parcel was handed over at the station (its partner)", ("partner", "admin"))
_move("confirm_receipt", "Confirm an address delivery was received (the buyer)", ("buyer", "partner", "admin"))
_move("complete", "Close a delivered order before its after-sale window ends (administrators)", ("admin",))


def _my_cart():
    user_id = current_caller().user_id
    return cart.price_cart(cart.saved_cart(user_id), user_id)


@bp.route("/me/cart")
class MyCart(MethodView):
    @requires("buyer")
    @bp.response(200, CartOut)
    def get(self):
        """My saved cart, priced as a checkout would price it now (lines that cannot be bought say why)"""
        return _my_cart()


@bp.route("/me/cart/lines/<id:product_id>")
class MyCartLine(MethodView):
    @requires("buyer")
    @bp.arguments(CartQuantityIn())
    @bp.response(200, CartOut)
    def put(self, fields, product_id):
        """Set how many units of a product are in my cart (0 removes it)"""
        cart.set_cart_quantity(current_caller().user_id, product_id, fields["quantity"])
        return _my_cart()

    @requires("buyer")
    @bp.response(204)
    def delete(self, product_id):
        """Take a product out of my cart"""
        cart.remove_from_cart(current_caller().user_id, [product_id])


@bp.route("/me/addresses")
class MyAddresses(MethodView):
    @requires("buyer")
    @bp.response(200, SavedAddressOut(many=True))
    def get(self):
        """My delivery addresses, last used first (each checkout to an address saves its address)"""
        return addresses.list_addresses(current_caller().user_id)

    @requires("buyer")
    @bp.arguments(SavedAddressIn())
    @bp.response(201, SavedAddressOut)
    def post(self, fields):
        """Save a delivery address (the same address again moves to the front)"""
        return addresses.save_address(current_caller().user_id, recipient_name=fields["recipient"],
                                      recipient_phone=fields["phone"], county_adcode=fields["county_adcode"],
                                      detail=fields["detail"])


@bp.route("/me/addresses/<id:address_id>")
class MyAddress(MethodView):
    @requires("buyer")
    @bp.response(204)
    def delete(self, address_id):
        """Delete one of my saved addresses"""
        addresses.delete_address(current_caller().user_id, address_id)
