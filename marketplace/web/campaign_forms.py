"""Forms of the campaign pages (administrators' campaigns and listings, sellers' proposals), and the
campaigns' refusals in the reader's language; times are typed and shown in Beijing time."""
import enum
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateTimeLocalField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, StopValidation

from marketplace.campaigns.errors import CampaignErrorCode
from marketplace.catalog.errors import CatalogErrorCode
from marketplace.common.schemas import ID_MAX
from marketplace.common.time import BUSINESS_TZ
from marketplace.web.forms import PageForm, WholeNumberField, YuanField, not_blank

MINUTE = "%Y-%m-%dT%H:%M"
MAX_PER_BUYER = 10_000  # as the API's (campaigns.schemas.MAX_PER_BUYER)
STOCK_MAX = 1_000_000


def _name(label) -> StringField:
    return StringField(label, validators=[InputRequired(_l("Type a name.")), not_blank(_l("Type a name.")),
                                          Length(1, 60, _l("At most %(max)d characters.", max=60))])


class BeijingTimeField(DateTimeLocalField):
    """A moment typed as date and time in Beijing time; ``data`` is timezone-aware."""

    def __init__(self, label, **kwargs):
        super().__init__(label, format=MINUTE, **kwargs)

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(_l("Type a date and time, for example 2026-11-11 20:00.")) from None
        if self.data is not None:
            self.data = self.data.replace(tzinfo=BUSINESS_TZ)

    def process_data(self, value):
        self.data = value.astimezone(BUSINESS_TZ) if isinstance(value, datetime) else value

    def _value(self):
        if self.raw_data:
            return " ".join(self.raw_data)
        return self.data.astimezone(BUSINESS_TZ).strftime(MINUTE) if self.data else ""


class CampaignForm(PageForm):
    name_zh = _name(_l("Name in Chinese"))
    name_en = _name(_l("Name in English"))
    starts_at = BeijingTimeField(_l("Opens (Beijing time)"), validators=[InputRequired(_l("Type when it opens."))])
    ends_at = BeijingTimeField(_l("Ends (Beijing time)"), validators=[InputRequired(_l("Type when it ends."))])
    poverty_counties_only = BooleanField(_l("Only listings from national poverty counties"))

    def fields(self, *, with_flag: bool = True) -> dict:
        """What campaigns.create_campaign (and update_campaign) take."""
        fields = {"name_zh": self.name_zh.data.strip(), "name_en": self.name_en.data.strip(),
                  "starts_at": self.starts_at.data, "ends_at": self.ends_at.data}
        if with_flag:
            fields["poverty_counties_only"] = bool(self.poverty_counties_only.data)
        return fields


class ItemTermsForm(PageForm):
    """A listing's terms in a campaign: its price, the units it may sell, the limit per buyer."""

    campaign_price = YuanField(_l("Campaign price (yuan)"), validators=[InputRequired(_l("Type the campaign price."))])
    stock_cap = WholeNumberField(_l("Units for the campaign"), validators=[
        InputRequired(_l("Type how many units.")), NumberRange(1, STOCK_MAX, _l("From 1 to %(max)s.", max="1,000,000"))])
    per_buyer_limit = WholeNumberField(_l("At most per buyer"), validators=[
        InputRequired(_l("Type the limit per buyer.")), NumberRange(1, MAX_PER_BUYER, _l("From 1 to %(max)s.", max="10,000"))])

    def validate_campaign_price(self, field):
        if field.data is not None and field.data < 1:
            raise StopValidation(_l("The campaign price must be more than 0."))

    def terms(self) -> dict:
        return {"campaign_price_fen": self.campaign_price.data, "stock_cap": self.stock_cap.data,
                "per_buyer_limit": self.per_buyer_limit.data}


class AddItemForm(ItemTermsForm):
    product_id = WholeNumberField(_l("Listing number"), validators=[
        InputRequired(_l("Type the listing number.")), NumberRange(1, ID_MAX, _l("There is no such listing."))])


class ProposalForm(ItemTermsForm):
    """A seller proposes one of their listings for a campaign still to come."""

    campaign_id = SelectField(_l("Campaign"), coerce=int, validate_choice=True)
    product_id = SelectField(_l("Your listing"), coerce=int, validate_choice=True)


class ItemRejectForm(PageForm):
    reason = TextAreaField(_l("Reason for the seller"), validators=[
        InputRequired(_l("Give a reason.")), Length(2, 300, _l("Between %(min)d and %(max)d characters.", min=2, max=300))])


class ButtonOnlyForm(PageForm):
    """A button that acts (its CSRF token only)."""


# Which field a refusal belongs beside.
ERROR_FIELDS = {CampaignErrorCode.CAMPAIGN_WINDOW_INVALID: "ends_at",
                CampaignErrorCode.CAMPAIGN_PRICE_NOT_BELOW_LISTING: "campaign_price",
                CampaignErrorCode.STOCK_CAP_ABOVE_STOCK: "stock_cap",
                CampaignErrorCode.STOCK_CAP_BELOW_SOLD: "stock_cap",
                CampaignErrorCode.LISTING_IN_OTHER_CAMPAIGN: "product_id",
                CampaignErrorCode.LISTING_NOT_FOR_SALE: "product_id",
                CampaignErrorCode.NOT_LISTING_OWNER: "product_id",
                CampaignErrorCode.NOT_POVERTY_COUNTY: "product_id",
                CatalogErrorCode.PRODUCT_NOT_FOUND: "product_id"}


def campaign_messages() -> dict[enum.StrEnum, str]:
    """The campaigns' refusals in the reader's language (the services speak English)."""
    return {
        CampaignErrorCode.CAMPAIGN_NOT_FOUND: _("There is no such campaign."),
        CampaignErrorCode.CAMPAIGN_ITEM_NOT_FOUND: _("There is no such listing in a campaign."),
        CampaignErrorCode.CAMPAIGN_WINDOW_INVALID: _("The campaign must end after it opens."),
        CampaignErrorCode.CAMPAIGN_ALREADY_STARTED: _("The campaign has opened (or has listings): this can no longer change."),
        CampaignErrorCode.CAMPAIGN_CLOSED: _("The campaign is cancelled or over."),
        CampaignErrorCode.CAMPAIGN_PRICE_NOT_BELOW_LISTING: _("The campaign price must be below the listing's own price."),
        CampaignErrorCode.STOCK_CAP_ABOVE_STOCK: _("More units than the listing has in stock."),
        CampaignErrorCode.STOCK_CAP_BELOW_SOLD: _("Fewer units than the campaign has already sold."),
        CampaignErrorCode.LISTING_IN_OTHER_CAMPAIGN: _("This listing is already in a campaign at that time."),
        CampaignErrorCode.LISTING_NOT_FOR_SALE: _("This listing is not on sale."),
        CampaignErrorCode.NOT_LISTING_OWNER: _("This is not your listing."),
        CampaignErrorCode.NOT_POVERTY_COUNTY: _("This campaign takes listings from national poverty counties only."),
        CampaignErrorCode.ITEM_NOT_PENDING: _("This proposal was already decided or withdrawn."),
        CatalogErrorCode.PRODUCT_NOT_FOUND: _("There is no such listing."),
    }


def show_refusal(form, error) -> None:
    """A campaign's refusal beside its field when the form has it, else above the form."""
    message = campaign_messages().get(error.code, _("This could not be done (%(code)s).", code=error.code))
    field = ERROR_FIELDS.get(error.code)
    if field and field in form:
        form[field].errors = [*form[field].errors, message]
    else:
        form.form_errors.append(message)
