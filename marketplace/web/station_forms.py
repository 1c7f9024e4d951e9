"""Forms of the station desk: listing for a villager, ordering for a villager, recording cash."""
from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto
from wtforms import BooleanField, HiddenField, SelectField, StringField
from wtforms.validators import InputRequired, Length, Optional, Regexp, ValidationError

from marketplace.web.forms import ListingForm, OneTimeTokenField, YuanField

CONTACT_PHONE = Regexp(r"^[0-9+\-() ]{5,20}$", message=_l("5 to 20 digits; spaces, +, - and brackets are allowed."))
FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
MAX_LINES = 20  # products on one assisted order
MAX_UNITS_PER_LINE = 9999


def _villager_id(value):
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1  # not a registered villager: the service says so beside the field


class VillagerFields:
    """Who the partner acts for: a registered villager of the station, or a new one (name, a
    phone if any, and their consent)."""

    villager_id = SelectField(_l("Villager"), coerce=_villager_id, validate_choice=False)
    villager_name = StringField(_l("Name of a new villager"), validators=[
        Optional(), Length(1, 60, _l("At most 60 characters."))])
    villager_phone = StringField(_l("Their phone, if they have one"), validators=[Optional(), CONTACT_PHONE])
    consent = BooleanField(_l("The villager agrees that the station lists, sells and buys for them in their name."))

    def villager_choices(self, villagers) -> None:
        self.villager_id.choices = [("", _l("A new villager (type the name below)"))] + [
            (villager.user_id, villager.name + (f" · {villager.contact_phone}" if villager.contact_phone else ""))
            for villager in villagers]

    def validate_villager_name(self, field):
        if self.villager_id.data is None and not (field.data or "").strip():
            raise ValidationError(_l("Type the villager's name, or choose a registered villager."))

    def villager_choice(self) -> dict:
        """What stations.villagers.VillagerChoice takes."""
        return {"villager_id": self.villager_id.data, "name": (self.villager_name.data or "").strip() or None,
                "contact_phone": (self.villager_phone.data or "").strip() or None}


class VillagerListingForm(VillagerFields, ListingForm):
    """The listing form of the seller pages, for a villager: from the station's village, no photos."""

    def __init__(self, *args, villagers=(), **kwargs):
        super().__init__(*args, **kwargs)
        del self["origin_village_id"]  # always the station's village
        del self["photos"]
        self.villager_choices(villagers)

    def validate_consent(self, field):
        if not field.data:
            raise ValidationError(_l("Tick this once the villager has agreed."))

    def listing_fields(self) -> dict:
        """What flows.station_desk.list_for_villager takes besides the villager (the origin is the station's)."""
        return {"title": self.title.data.strip(), "category": self.category.data, "unit": self.unit.data,
                "net_weight_grams": self.net_weight_grams.data, "price_fen": self.price.data,
                "stock_units": self.stock_units.data or 0, "harvest_date": self.harvest_date.data,
                "description": (self.description.data or "").strip()}


class AssistedOrderForm(VillagerFields, FlaskForm):
    """An order for a villager: quantities typed beside the catalog's products (``qty-<id>``)."""

    form_token = OneTimeTokenField()
    q = HiddenField()

    def __init__(self, formdata=_Auto, *, villagers=(), **kwargs):
        super().__init__(formdata, **kwargs)
        self.villager_choices(villagers)
        typed = request.form if formdata is _Auto and request.method == "POST" else formdata
        # product id -> what was typed beside it, shown back as typed
        self.typed_quantities: dict[int, str] = {}
        for name, value in (typed.items() if typed not in (None, _Auto) else ()):
            if name.startswith("qty-") and name[4:].isdigit() and value.strip():
                self.typed_quantities[int(name[4:])] = value.strip()
        self.line_errors: dict[int, str] = {}
        self.lines_error: str | None = None
        self.lines: list[dict] = []

    def validate_consent(self, field):
        if self.villager_id.data is None and not field.data:
            raise ValidationError(_l("Tick this once the new villager has agreed."))

    def validate(self, extra_validators=None) -> bool:
        fields_ok = super().validate(extra_validators)
        return self._read_lines() and fields_ok

    def _read_lines(self) -> bool:
        """Whole numbers from 0 beside each product; at least one product above 0."""
        for product_id, typed in sorted(self.typed_quantities.items()):
            typed = typed.translate(FULL_WIDTH_DIGITS)
            if not typed.isdigit() or not 0 <= int(typed) <= MAX_UNITS_PER_LINE:
                self.line_errors[product_id] = _l("A whole number from 0 to %(max)d.", max=MAX_UNITS_PER_LINE)
            elif int(typed) > 0:
                self.lines.append({"product_id": product_id, "quantity": int(typed)})
        if not self.line_errors and not self.lines:
            self.lines_error = _l("Type how many of at least one product the villager wants.")
        elif len(self.lines) > MAX_LINES:
            self.lines_error = _l("At most %(max)d products on one order.", max=MAX_LINES)
        return not self.line_errors and self.lines_error is None


class CashForm(FlaskForm):
    form_token = OneTimeTokenField()
    amount = YuanField(_l("Cash received (yuan)"), validators=[InputRequired(_l("Type the cash you received, in yuan."))])


class MoveForm(FlaskForm):
    """The button of a parcel move: only the CSRF token."""
