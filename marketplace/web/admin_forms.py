"""Forms of the administration pages: rejecting a listing, excluding and restoring a sale, recording
a station's remittance, changing a user's roles; labels and messages in the reader's language."""
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, SelectChoice, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from marketplace.accounts.services import Role
from marketplace.common.schemas import ID_MAX
from marketplace.web.forms import OneTimeTokenField, PageForm, WholeNumberField, YuanField, not_blank, required_text

ROLE_LABELS = {Role.BUYER: _l("Buyer"), Role.SELLER: _l("Seller"), Role.PARTNER: _l("Station partner"),
               Role.ADMIN: _l("Administrator"), Role.OFFICIAL: _l("Commerce bureau official")}
ADCODE = Regexp(r"^[0-9]{6}$", message=_l("A 6-digit code, for example 652927."))


def _reason(low: int, high: int) -> list:
    """A reason someone will read later: as long as the API's (RejectionIn, ExclusionIn, InclusionIn)."""
    return required_text(low, high, _l("Give a reason."))


class ApproveForm(PageForm):
    """The approve button of a listing waiting for review (its CSRF token only)."""


class RejectForm(PageForm):
    reason = TextAreaField(_l("Reason for the seller"), validators=_reason(2, 500))


class ExcludeForm(PageForm):
    order_id = WholeNumberField(_l("Order number"), validators=[
        InputRequired(_l("Type the order number.")), NumberRange(1, ID_MAX, _l("There is no such order."))])
    flag = HiddenField()  # the anomaly that led to it, when excluded from the list of flags
    reason = TextAreaField(_l("Why it leaves the official figures"), validators=_reason(2, 300))


class RestoreForm(PageForm):
    reason = TextAreaField(_l("Why it goes back into the official figures"), validators=_reason(2, 300))


class AmountField(YuanField):
    refusal = _l("Type the amount in yuan with at most two decimals, for example 12.5")


class RemittanceForm(PageForm):
    form_token = OneTimeTokenField()  # a second send of the same form records nothing more
    amount = AmountField(_l("Cash handed over (yuan)"), validators=[InputRequired(_l("Type the amount in yuan."))])
    reference = StringField(_l("Receipt or transfer reference"), validators=[
        InputRequired(_l("Type the reference.")), not_blank(_l("Type the reference.")),
        Length(1, 100, _l("At most %(max)d characters.", max=100))])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=300, message=_l("At most %(max)d characters.",
                                                                                       max=300))])


class RolesForm(PageForm):
    """What the API's PATCH /users/<id> changes: roles, county, an official's report scope, active."""

    roles = SelectMultipleField(_l("Roles"), choices=[SelectChoice(role.value, label) for role, label in ROLE_LABELS.items()],
                                widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
                                validate_choice=False, validators=[InputRequired(_l("Tick at least one role."))])
    county_adcode = StringField(_l("County code (sellers and partners)"), validators=[Optional(), ADCODE])
    report_scope = StringField(_l("Report scope of an official (province or county code)"),
                               validators=[Optional(), ADCODE])
    is_active = BooleanField(_l("The account may sign in"))

    def validate_roles(self, field):
        known = {role.value for role in ROLE_LABELS}
        if any(value not in known for value in field.data or []):
            raise ValidationError(_l("Pick among the roles offered."))

    def changes(self) -> dict:
        """What accounts.update_user takes."""
        return {"roles": list(self.roles.data), "county_adcode": (self.county_adcode.data or "").strip() or None,
                "report_scope": (self.report_scope.data or "").strip() or None, "is_active": bool(self.is_active.data)}
