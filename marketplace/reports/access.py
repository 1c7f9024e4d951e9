"""Who may read which counties' reports: administrators all of them, officials their report scope.

An official's scope (one province or one county, granted by an administrator) bounds every
report they ask for: a report without a province or county covers the whole scope, one naming a
province or county inside it is narrowed to it, and one naming anything outside it is refused
with ``out_of_scope``, so that no figure of another county reaches them, CSV exports included.
"""
from marketplace.accounts import services as accounts
from marketplace.accounts.services import Role, User
from marketplace.errors import Forbidden
from marketplace.geo import services as geo
from marketplace.reports.errors import ReportErrorCode
from marketplace.reports.queries import Scope


class NoReportScope(Forbidden):
    code = ReportErrorCode.NO_REPORT_SCOPE

    def __init__(self):
        super().__init__("No report scope has been granted to this official account yet; "
                         "ask an administrator for a province or county.")


class OutOfScope(Forbidden):
    code = ReportErrorCode.OUT_OF_SCOPE

    def __init__(self, asked: str, granted: str):
        super().__init__(f"{asked} is outside this account's report scope ({granted}).",
                         details={"asked": asked, "report_scope": granted})


def scope_for(user: User, *, province: str | None = None, county: str | None = None) -> Scope:
    """The counties a report for ``user`` covers: what was asked for, within what they may read."""
    if user.has_role(Role.ADMIN):
        return Scope(province_adcode=province, county_adcode=county)
    granted = accounts.report_scope_of(user)
    if granted is None:
        raise NoReportScope()
    if granted.county_adcode:
        own_province = geo.get_county(granted.county_adcode).province_adcode
        if county is not None and county != granted.county_adcode:
            raise OutOfScope(f"County {county}", f"county {granted.county_adcode}")
        if province is not None and province != own_province:
            raise OutOfScope(f"Province {province}", f"county {granted.county_adcode}")
        return Scope(county_adcode=granted.county_adcode)
    if province is not None and province != granted.province_adcode:
        raise OutOfScope(f"Province {province}", f"province {granted.province_adcode}")
    if county is not None and geo.get_county(county).province_adcode != granted.province_adcode:
        raise OutOfScope(f"County {county}", f"province {granted.province_adcode}")
    return Scope(province_adcode=granted.province_adcode, county_adcode=county)


def county_for(user: User, county: str) -> str:
    """A county whose own report (its top products) ``user`` asks for, if they may read it."""
    return scope_for(user, county=county).county_adcode
