"""Forms of the people's pages (WTForms through Flask-WTF): labels and messages in the reader's
language, what was typed shown back beside each message."""
import re
from datetime import date

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional, Regexp, StopValidation, ValidationError

from marketplace.catalog.images import MAX_UPLOAD_BYTES
from marketplace.catalog.taxonomy import (
    CATEGORY_LABELS,
    EARLIEST_HARVEST_DATE,
    MAX_IMAGES,
    PRICE_FEN_MAX,
    STOCK_UNITS_MAX,
    UNIT_GRAMS,
    Unit,
    latest_harvest_date,
)
from marketplace.common.money import yuan_to_fen
from marketplace.common.schemas import unstorable_text
from marketplace.web.services import new_form_token

UNIT_LABELS = {Unit.JIN: _l("jin (500 g)"), Unit.KG: _l("kg"), Unit.BOX: _l("box"), Unit.BAG: _l("bag"),
               Unit.PIECE: _l("piece")}
FORM_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")  # what new_form_token draws, within the column
DESCRIPTION_MAX = 500  # short enough to be kept in the session across an expired sign-in


class PageForm(FlaskForm):
    """A form of the people's pages: text no database can store (NUL, lone surrogates) is refused
    beside its field instead of failing on the way in."""

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            if field.raw_data and unstorable_text(list(field.raw_data)):
                field.errors = [*field.errors, _l("This contains characters that cannot be saved; type it again.")]
                valid = False
        return valid


class YuanField(StringField):
    """A price typed in yuan; ``data`` is integer fen (None when empty or not a price), and the
    page shows back exactly what was typed."""

    refusal = _l("Type the price in yuan with at most two decimals, for example 12.5")

    def process_formdata(self, valuelist):
        self.raw_data = valuelist
        typed = valuelist[0] if valuelist else ""
        self.data = None
        if typed.strip():
            try:
                self.data = yuan_to_fen(typed)
            except ValueError:
                raise ValueError(self.refusal) from None
            if self.data > PRICE_FEN_MAX:
                raise ValueError(_l("At most %(yuan)s yuan.", yuan=f"{PRICE_FEN_MAX // 100:,}"))

    def process_data(self, value):
        self.data = value

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else f"{self.data // 100}.{self.data % 100:02d}"


class _ParsedText:
    """A field whose typed text ``parse`` turns into ``data`` (None when empty); what it cannot
    parse gets ``refusal`` beside the field, in the reader's language."""

    refusal = ""

    def parse(self, typed: str):
        raise NotImplementedError

    def process_formdata(self, valuelist):
        self.raw_data = valuelist
        typed = (valuelist[0] if valuelist else "").strip()
        self.data = None
        if typed:
            try:
                self.data = self.parse(typed)
            except ValueError:
                raise ValueError(self.refusal) from None


class WholeNumberField(_ParsedText, IntegerField):
    """A count (stock, grams) with its own message when what was typed is not a whole number."""

    refusal = _l("Type a whole number, for example 20")

    def parse(self, typed: str) -> int:
        return int(typed)


class OneTimeTokenField(HiddenField):
    """A token drawn when the form is shown; the first send claims it (services.claim_form_token).
    A sent token this site could not have drawn (empty, too long, odd characters) is replaced by a
    fresh one: that send acts alone."""

    def process_data(self, value):
        self.data = value or new_form_token()

    def process_formdata(self, valuelist):
        if valuelist and FORM_TOKEN_PATTERN.fullmatch(valuelist[0]):
            self.data = valuelist[0]
        else:
            self.data = new_form_token()


class DayField(_ParsedText, DateField):
    """A date from the browser's date picker (ISO), with the message in the reader's language."""

    refusal = _l("Pick a date, for example 2026-09-20.")

    def parse(self, typed: str) -> date:
        return date.fromisoformat(typed)


def _known_choice(form, field):
    if field.data not in [choice.value for choice in field.choices]:
        raise ValidationError(_l("Pick one of the choices."))


def _not_future_beyond_a_year(form, field):
    if field.data and not EARLIEST_HARVEST_DATE <= field.data <= latest_harvest_date():
        raise ValidationError(_l("Pick a date between 2000 and a year from today."))


def not_blank(message):
    """Spaces alone are no answer (the API's NOT_BLANK)."""

    def check(form, field):
        if field.data is not None and not field.data.strip():
            raise StopValidation(message)

    return check


def required_text(low: int, high: int, missing) -> list:
    """A text someone must write, of ``low`` to ``high`` characters, as long as the API's."""
    return [InputRequired(missing), not_blank(missing),
            Length(low, high, _l("Between %(min)d and %(max)d characters.", min=low, max=high))]


def photos_at_most(count: int):
    """A photos field's check: at most `count` photos, none above the upload limit."""

    def check(form, field):
        chosen = [photo for photo in field.data or [] if photo and photo.filename]
        if len(chosen) > count:
            raise ValidationError(_l("At most %(n)d photos.", n=count))
        for photo in chosen:
            photo.stream.seek(0, 2)
            size = photo.stream.tell()
            photo.stream.seek(0)
            if size > MAX_UPLOAD_BYTES:
                raise ValidationError(_l("This photo is %(mb).1f MB; each photo may be at most %(max)d MB.",
                                         mb=size / 1048576, max=MAX_UPLOAD_BYTES // 1048576))

    return check


def _village_id(value):
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return -1  # not a choice: _known_choice says so


class ListingForm(PageForm):
    """A new listing, or a draft being finished."""

    form_token = OneTimeTokenField()
    version = HiddenField()  # of the draft being finished: a stale page cannot overwrite a newer save
    title = StringField(_l("What are you selling?"), validators=[
        InputRequired(_l("Give the product a name.")), Length(2, 120, _l("Between 2 and 120 characters."))])
    category = RadioField(_l("Kind of product"), validate_choice=False,
                          validators=[InputRequired(_l("Pick a kind.")), _known_choice])
    unit = RadioField(_l("Sold by the"), choices=[SelectChoice(unit.value, label) for unit, label in UNIT_LABELS.items()],
                      validate_choice=False, validators=[InputRequired(_l("Pick how it is sold.")), _known_choice])
    net_weight_grams = WholeNumberField(_l("Weight of one box or bag (grams)"), validators=[
        Optional(), NumberRange(1, 1_000_000, _l("Between 1 and 1,000,000 grams."))])
    price = YuanField(_l("Price of one unit (yuan)"), validators=[InputRequired(_l("Type the price in yuan."))])
    stock_units = WholeNumberField(_l("How many units you have"), default=0)
    origin_village_id = SelectField(_l("Village it comes from"), coerce=_village_id, validate_choice=False)
    harvest_date = DayField(_l("Harvest date"), validators=[Optional(), _not_future_beyond_a_year])
    description = TextAreaField(_l("A few words for the buyer"), validators=[
        Optional(), Length(max=DESCRIPTION_MAX, message=_l("At most %(max)d characters.", max=DESCRIPTION_MAX))])
    photos = MultipleFileField(_l("Photos"), validators=[photos_at_most(MAX_IMAGES)],
                               render_kw={"accept": "image/*", "capture": "environment"})

    def __init__(self, *args, villages=(), **kwargs):
        super().__init__(*args, **kwargs)
        english = str(get_locale()) == "en"
        self.category.choices = [SelectChoice(code.value, en if english else zh)
                                 for code, (zh, en) in CATEGORY_LABELS.items()]
        self.origin_village_id.choices = [SelectChoice("", _l("Not given"))] + [
            SelectChoice(village.id, village.name) for village in villages]
        self.harvest_date.render_kw = {"max": latest_harvest_date().isoformat()}

    def validate_origin_village_id(self, field):
        if field.data is not None and field.data not in [choice.value for choice in field.choices]:
            raise ValidationError(_l("Pick one of the choices."))

    def validate_stock_units(self, field):
        if field.data is not None and field.data < 0:
            raise ValidationError(_l("Stock cannot be negative."))
        if field.data is not None and field.data > STOCK_UNITS_MAX:
            raise ValidationError(_l("At most %(max)s units.", max=f"{STOCK_UNITS_MAX:,}"))

    def validate_net_weight_grams(self, field):
        needs_weight = self.unit.data in (Unit.BOX, Unit.BAG)
        if needs_weight and field.data is None:
            raise ValidationError(_l("Say how many grams one box or bag holds."))
        fixed = UNIT_GRAMS.get(self.unit.data)
        if fixed and field.data not in (None, fixed):
            raise ValidationError(_l("One %(unit)s is always %(grams)d g; leave this empty.",
                                     unit=UNIT_LABELS[Unit(self.unit.data)], grams=fixed))

    def listing_fields(self) -> dict:
        """What catalog.create_product / update_product take."""
        return {"title": self.title.data.strip(), "category": self.category.data, "unit": self.unit.data,
                "net_weight_grams": self.net_weight_grams.data, "price_fen": self.price.data,
                "stock_units": self.stock_units.data or 0, "origin_village_id": self.origin_village_id.data,
                "harvest_date": self.harvest_date.data, "description": (self.description.data or "").strip()}

    def photo_contents(self) -> list[bytes]:
        return [photo.read() for photo in self.photos.data or [] if photo and photo.filename]


class PriceForm(PageForm):
    version = HiddenField()
    price = YuanField(_l("New price of one unit (yuan)"), validators=[InputRequired(_l("Type the price in yuan."))])


class ShipForm(PageForm):
    carrier = StringField(_l("Carrier"), validators=[
        InputRequired(_l("Say which carrier takes the parcel.")), Length(1, 40, _l("At most 40 characters."))])
    tracking_number = StringField(_l("Tracking number"), validators=[
        InputRequired(_l("Type the tracking number.")),
        Regexp(r"^[A-Za-z0-9-]{4,40}$", message=_l("4 to 40 letters, digits or dashes, as printed on the label."))])
