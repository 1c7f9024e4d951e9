"""Forms of the claim pages: opening a claim (reason, what happened, the amount in yuan, photos),
the seller's offer and contest, the claimant's escalation, the administrators' decision; labels
and messages in the reader's language. Every form carries a one-time token: sending it twice acts
once."""
import re
import unicodedata

from flask_babel import lazy_gettext as _l
from wtforms import MultipleFileField, RadioField, SelectChoice, TextAreaField
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from marketplace.claims import services as claims
from marketplace.web.forms import OneTimeTokenField, PageForm, YuanField, photos_at_most, required_text

MAX_CLAIM_PHOTOS = 4  # claims.services.MAX_PHOTOS_PER_SIDE
NOTE_MAX = 1000  # the API's ClaimIn / ContestIn / DecisionIn
REASON_LABELS = {claims.ClaimReason.DAMAGED: _l("Damaged"), claims.ClaimReason.ROTTEN: _l("Rotten"),
                 claims.ClaimReason.SHORT_WEIGHT: _l("Short weight"),
                 claims.ClaimReason.WRONG_ITEM: _l("Not what I ordered"),
                 claims.ClaimReason.NOT_RECEIVED: _l("Never arrived")}
STATUS_LABELS = {claims.ClaimStatus.OPEN: _l("Waiting for the seller's answer"),
                 claims.ClaimStatus.OFFERED: _l("The seller offers less"),
                 claims.ClaimStatus.ESCALATED: _l("With the platform's staff"),
                 claims.ClaimStatus.ACCEPTED: _l("Accepted: money on its way back"),
                 claims.ClaimStatus.REFUNDED: _l("Refunded"),
                 claims.ClaimStatus.CLOSED: _l("Closed without refund")}
ZERO_YUAN = re.compile(r"¥?\s*0+(\.0{0,2})?\s*元?")


class AmountField(YuanField):
    """An amount of money in yuan, converted to fen exactly (the price field's rule)."""

    refusal = _l("Type the amount in yuan with at most two decimals, for example 12.5")


class GrantField(AmountField):
    """An amount that may also be nothing at all: 0 yuan."""

    def process_formdata(self, valuelist):
        typed = unicodedata.normalize("NFKC", valuelist[0] if valuelist else "").strip().replace("。", ".")
        if ZERO_YUAN.fullmatch(typed):
            self.raw_data, self.data = valuelist, 0
            return
        super().process_formdata(valuelist)


class _PhotoForm(PageForm):
    def photo_contents(self) -> list[bytes]:
        return [photo.read() for photo in self.photos.data or [] if photo and photo.filename]


class OpenClaimForm(_PhotoForm):
    form_token = OneTimeTokenField()
    reason = RadioField(_l("What went wrong"), validate_choice=False,
                        choices=[SelectChoice(reason.value, label) for reason, label in REASON_LABELS.items()],
                        validators=[InputRequired(_l("Pick what went wrong."))])
    description = TextAreaField(_l("Tell the seller what happened"),
                                validators=required_text(2, NOTE_MAX, _l("Say in a few words what happened.")))
    amount = AmountField(_l("Money back you ask for (yuan)"), validators=[InputRequired(_l("Type the amount in yuan."))])
    photos = MultipleFileField(_l("Photos (up to 4)"), validators=[photos_at_most(MAX_CLAIM_PHOTOS)],
                               render_kw={"accept": "image/*", "capture": "environment"})

    def validate_reason(self, field):
        if field.data not in REASON_LABELS:
            raise ValidationError(_l("Pick one of the choices."))


class ClaimButtonForm(PageForm):
    """A button that settles money (accept the claim, accept the offer): its tokens only."""

    form_token = OneTimeTokenField()


class OfferForm(PageForm):
    form_token = OneTimeTokenField()
    amount = AmountField(_l("What you offer to give back (yuan)"),
                         validators=[InputRequired(_l("Type the amount in yuan."))])
    note = TextAreaField(_l("A word for the buyer"), validators=[
        Optional(), Length(max=NOTE_MAX, message=_l("At most %(max)d characters.", max=NOTE_MAX))])


class ContestForm(_PhotoForm):
    form_token = OneTimeTokenField()
    note = TextAreaField(_l("Why you disagree"), validators=required_text(2, NOTE_MAX, _l("Say why you disagree.")))
    photos = MultipleFileField(_l("Your photos (up to 4)"), validators=[photos_at_most(MAX_CLAIM_PHOTOS)],
                               render_kw={"accept": "image/*", "capture": "environment"})


class PhotosForm(_PhotoForm):
    """More photos for a claim still under way (the claimant's or the seller's)."""

    form_token = OneTimeTokenField()
    photos = MultipleFileField(_l("More photos"), validators=[photos_at_most(MAX_CLAIM_PHOTOS)],
                               render_kw={"accept": "image/*", "capture": "environment"})

    def validate_photos(self, field):
        if not self.photo_contents_chosen():
            raise ValidationError(_l("Choose at least one photo."))

    def photo_contents_chosen(self) -> bool:
        return any(photo and photo.filename for photo in self.photos.data or [])


class EscalateForm(PageForm):
    form_token = OneTimeTokenField()
    note = TextAreaField(_l("Why the offer is not enough"), validators=[
        Optional(), Length(max=NOTE_MAX, message=_l("At most %(max)d characters.", max=NOTE_MAX))])


class DecisionForm(PageForm):
    form_token = OneTimeTokenField()
    amount = GrantField(_l("Money back granted (yuan, 0 for none)"),
                        validators=[InputRequired(_l("Type the amount in yuan."))])
    reason = TextAreaField(_l("Reason, for the buyer and the seller"),
                           validators=required_text(2, NOTE_MAX, _l("Give a reason.")))
