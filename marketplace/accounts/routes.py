"""Account endpoints: register, log in/out, me, and user administration."""
from flask.views import MethodView

from marketplace.accounts import services
from marketplace.accounts.auth import current_caller, current_user, requires
from marketplace.accounts.schemas import LoginIn, RegisterIn, TokenOut, UserListArgs, UserOut, UserPageOut, UserUpdateIn
from marketplace.extensions import Blueprint, login_attempts, registrations

bp = Blueprint("accounts", __name__, url_prefix="/api/v1", description="Accounts, roles and tokens")


@bp.route("/auth/register")
class Register(MethodView):
    decorators = [registrations]  # shared with the pages' sign-up form

    @bp.arguments(RegisterIn())
    @bp.response(201, UserOut)
    def post(self, fields):
        """Create a buyer or seller account (rate-limited per client address, together with the sign-up page)"""
        return services.register_user(**fields)


@bp.route("/auth/login")
class Login(MethodView):
    decorators = [login_attempts]  # shared with the pages' login form

    @bp.arguments(LoginIn())
    @bp.response(200, TokenOut)
    def post(self, fields):
        """Exchange phone/email and password for a bearer token (rate-limited per client address, together with the login page)"""
        plain, token = services.log_in(fields["identifier"], fields["password"])
        return {"token": plain, "token_type": "Bearer", "expires_at": token.expires_at, "user": token.user}


@bp.route("/auth/logout")
class Logout(MethodView):
    @requires()
    @bp.response(204)
    def post(self):
        """Revoke the bearer token used for this request"""
        services.log_out(current_caller().token_id)


@bp.route("/me")
class Me(MethodView):
    @requires()
    @bp.response(200, UserOut)
    def get(self):
        """The account behind the bearer token"""
        return current_user()


@bp.route("/users")
class Users(MethodView):
    @requires("admin")
    @bp.arguments(UserListArgs(), location="query")
    @bp.response(200, UserPageOut)
    def get(self, args):
        """List accounts (administrators)"""
        return services.list_users(**args)


@bp.route("/users/<id:user_id>")
class UserDetail(MethodView):
    @requires("admin")
    @bp.response(200, UserOut)
    def get(self, user_id):
        """One account (administrators)"""
        return services.get_user(user_id)

    @requires("admin")
    @bp.arguments(UserUpdateIn())
    @bp.response(200, UserOut)
    def patch(self, fields, user_id):
        """Grant roles, set the county or an official's report scope (province or county), or (de)activate an account (administrators)"""
        return services.update_user(user_id, acting_user_id=current_user().id, **fields)
