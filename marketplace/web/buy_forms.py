"""Forms of the buyers' pages: sign-up, the cart's quantities, the checkout's delivery and
payment, the card page. Labels and messages in the reader's language."""
from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf.form import _Auto
from wtforms import HiddenField, PasswordField, RadioField, SelectChoice, SelectField, StringField
from wtforms.validators import InputRequired, Length, Regexp, ValidationError

from marketplace.accounts.errors import AccountErrorCode
from marketplace.common.schemas import ID_MAX, MAINLAND_MOBILE
from marketplace.web.forms import OneTimeTokenField, PageForm
from marketplace.web.station_forms import FULL_WIDTH_DIGITS

MAX_QUANTITY = 10_000  # orders.cart.MAX_QUANTITY: the API's checkout takes no more per line
PASSWORD_MIN, PASSWORD_MAX = 8, 128  # the API's password rule (accounts.schemas)
MOBILE = Regexp(MAINLAND_MOBILE, message=_l("An 11-digit mainland mobile number, for example 13800138000."))
NOT_BLANK = Regexp(r"\s*\S", message=_l("This cannot be only spaces."))
PAYMENT_METHOD_LABELS = {"card": _l("Bank card"), "alipay": _l("Alipay"), "wechat_pay": _l("WeChat Pay")}
CARD_TOKEN_PATTERN = r"tok_[A-Za-z0-9_]{1,250}"


def whole_number(typed: str | None, low: int, high: int) -> int | None:
    """What was typed as a whole number from ``low`` to ``high`` (full-width digits too), else None."""
    typed = (typed or "").strip().translate(FULL_WIDTH_DIGITS)
    if not typed.isdigit() or len(typed) > 12:
        return None
    number = int(typed)
    return number if low <= number <= high else None


class SignupForm(PageForm):
    phone = StringField(_l("Mobile phone number"), validators=[InputRequired(_l("Type your mobile number.")), MOBILE],
                        render_kw={"inputmode": "tel", "autocomplete": "tel"})
    display_name = StringField(_l("Your name, as sellers will see it"), validators=[
        InputRequired(_l("Type a name.")), NOT_BLANK, Length(1, 60, _l("At most 60 characters."))],
        render_kw={"autocomplete": "name"})
    password = PasswordField(_l("Password"), validators=[
        InputRequired(_l("Choose a password.")),
        Length(PASSWORD_MIN, PASSWORD_MAX, _l("Between %(low)d and %(high)d characters.", low=PASSWORD_MIN,
                                              high=PASSWORD_MAX))],
        render_kw={"autocomplete": "new-password"})


# What registering refuses, shown beside the field it is about.
SIGNUP_REFUSALS = {
    AccountErrorCode.PHONE_TAKEN: ("phone", _l("An account with this number exists already. Log in instead.")),
    AccountErrorCode.PASSWORD_TOO_COMMON: ("password", _l("This password is too common or too simple: anyone could "
                                                          "guess it. Choose another.")),
    AccountErrorCode.PASSWORD_IS_PHONE: ("password", _l("Your phone number cannot be your password. Choose another.")),
}


class AddToCartForm(PageForm):
    """The product page's button: a product and how many."""

    product_id = HiddenField()
    quantity = StringField(_l("How many"), default="1", render_kw={"inputmode": "numeric"})

    def validate_product_id(self, field):
        self.product = whole_number(field.data, 1, ID_MAX)
        if self.product is None:
            raise ValidationError(_l("There is no such product."))

    def validate_quantity(self, field):
        self.units = whole_number(field.data, 1, MAX_QUANTITY)
        if self.units is None:
            raise ValidationError(_l("A whole number from 1 to %(max)s.", max=f"{MAX_QUANTITY:,}"))


class CartForm(PageForm):
    """The cart: a quantity typed beside each line (``qty-<product id>``), the update button, and a
    remove button per line (``remove=<product id>``). 0 removes the line."""

    def __init__(self, formdata=_Auto, **kwargs):
        super().__init__(formdata, **kwargs)
        typed = request.form if formdata is _Auto and request.method == "POST" else {}
        self.typed_quantities: dict[int, str] = {}
        self.line_errors: dict[int, str] = {}
        self.unknown_lines = False  # a line name no product can have (beyond the id column, not a number)
        for name, value in typed.items():
            if name.startswith("qty-"):
                product_id = whole_number(name[4:], 1, ID_MAX)
                if product_id is None:
                    self.unknown_lines = True
                else:
                    self.typed_quantities[product_id] = value
        self.remove = whole_number(typed.get("remove"), 1, ID_MAX) if "remove" in typed else None
        self.quantities: dict[int, int] = {}

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.remove is not None:
            return valid
        for product_id, typed in self.typed_quantities.items():
            quantity = whole_number(typed, 0, MAX_QUANTITY)
            if quantity is None:
                self.line_errors[product_id] = _l("A whole number from 0 to %(max)s (0 removes it).",
                                                  max=f"{MAX_QUANTITY:,}")
            else:
                self.quantities[product_id] = quantity
        return valid and not self.line_errors


def _optional_choice(value):
    return value or None


class CheckoutForm(PageForm):
    """Where the parcels go (an address, typed or saved, or a service station) and how to pay.

    The county is chosen without script: pick the province and press "show", then the
    prefecture, then the county; stations are listed for the chosen county."""

    form_token = OneTimeTokenField()
    cart_seen = HiddenField()  # the lines the buyer saw priced: a cart changed since is shown again, not ordered
    delivery = RadioField(_l("Delivery"), choices=[SelectChoice("address", _l("To an address")),
                                                   SelectChoice("station", _l("Pick up at a service station"))],
                          default="address", validate_choice=False)
    saved_address = RadioField(_l("Deliver to"), coerce=str, validate_choice=False)
    recipient = StringField(_l("Recipient"), render_kw={"autocomplete": "name"})
    phone = StringField(_l("Recipient's mobile number"), render_kw={"inputmode": "tel", "autocomplete": "tel"})
    province = SelectField(_l("Province"), coerce=_optional_choice, validate_choice=False)
    prefecture = SelectField(_l("City or prefecture"), coerce=_optional_choice, validate_choice=False)
    county = SelectField(_l("County"), coerce=_optional_choice, validate_choice=False)
    detail = StringField(_l("Street, building, door"), render_kw={"autocomplete": "street-address"})
    station_id = RadioField(_l("Service station"), coerce=_optional_choice, validate_choice=False)
    payment_method = RadioField(_l("Payment"), default="card", validate_choice=False,
                                choices=[SelectChoice(method, label) for method, label in PAYMENT_METHOD_LABELS.items()])

    def new_address(self) -> bool:
        return self.delivery.data == "address" and not self.saved_address.data

    def validate_delivery(self, field):
        if field.data not in ("address", "station"):
            raise ValidationError(_l("Pick one of the choices."))

    def validate_payment_method(self, field):
        if field.data not in PAYMENT_METHOD_LABELS:
            raise ValidationError(_l("Pick one of the choices."))

    def validate_saved_address(self, field):
        if self.delivery.data == "address" and field.data and field.data not in [choice.value for choice in field.choices]:
            raise ValidationError(_l("Pick one of the choices."))

    def validate_recipient(self, field):
        if self.new_address():
            _required_text(field, 1, 60, _l("Type who receives the parcel."))

    def validate_phone(self, field):
        if self.new_address():
            if not (field.data or "").strip():
                raise ValidationError(_l("Type the recipient's mobile number."))
            MOBILE(self, field)

    def validate_detail(self, field):
        if self.new_address():
            _required_text(field, 2, 200, _l("Type the street, building and door."))

    def validate_county(self, field):
        if self.new_address() or self.delivery.data == "station":
            if not field.data:
                raise ValidationError(_l("Pick the county (choose the province and city first)."))
            if field.data not in [choice.value for choice in field.choices]:
                raise ValidationError(_l("This county is not in the registry; pick one from the list."))

    def validate_station_id(self, field):
        if self.delivery.data != "station":
            return
        if not field.data:
            raise ValidationError(_l("Pick a service station (choose its county first)."))
        if field.data not in [choice.value for choice in field.choices]:
            raise ValidationError(_l("This station is closed or not in the chosen county; pick one from the list."))


def _required_text(field, low: int, high: int, missing) -> None:
    typed = (field.data or "").strip()
    if not typed:
        raise ValidationError(missing)
    if not low <= len(typed) <= high:
        raise ValidationError(_l("Between %(low)d and %(high)d characters.", low=low, high=high))


class PayForm(PageForm):
    """The card page's form: the Stripe.js token of the card (the card itself never reaches this
    server) and a one-time token so that sending twice pays once."""

    form_token = OneTimeTokenField()
    card_token = HiddenField(validators=[Regexp(CARD_TOKEN_PATTERN, message=_l("Type the card details again."))])


class ButtonForm(PageForm):
    """A button that acts (cancel, confirm receipt, order again): only the CSRF token."""

