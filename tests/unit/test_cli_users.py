"""flask users create-admin: creates a working administrator, refuses bad or duplicate input;
flask users set-password: a new password that ends the old sign-ins."""
import pytest

from marketplace.accounts.models import User
from marketplace.extensions import db
from tests.builders import PASSWORD


@pytest.fixture
def create_admin(app, monkeypatch):
    """Run `flask users create-admin` with the given options."""
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    runner = app.test_cli_runner()

    def run(*options: str):
        return runner.invoke(args=["users", "create-admin", *options])

    return run


def _user_count() -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(User))


def test_created_admin_can_log_in_and_administer(client, create_admin):
    result = create_admin("--phone", "13800138000", "--password", "long-enough-pw")
    assert result.exit_code == 0, result.output
    assert "13800138000" in result.output

    login = client.post("/api/v1/auth/login", json={"identifier": "13800138000", "password": "long-enough-pw"})
    assert login.status_code == 200, login.json
    assert login.json["user"]["roles"] == ["admin"]
    users = client.get("/api/v1/users", headers={"Authorization": f"Bearer {login.json['token']}"})
    assert users.status_code == 200


def test_duplicate_phone_fails_with_a_clear_message(create_admin, build):
    build.user(phone="13800138000")
    result = create_admin("--phone", "13800138000", "--password", "long-enough-pw")
    assert result.exit_code != 0
    assert "already exists" in result.output and "phone_taken" in result.output
    assert _user_count() == 1


@pytest.mark.parametrize("phone", ["12345", "23800138000", "1380013800a"])
def test_bad_phone_fails_without_creating_anyone(create_admin, phone):
    result = create_admin("--phone", phone, "--password", "long-enough-pw")
    assert result.exit_code != 0
    assert "11-digit mainland mobile number" in result.output
    assert _user_count() == 0


def test_short_password_fails_without_creating_anyone(create_admin):
    result = create_admin("--phone", "13800138000", "--password", "short")
    assert result.exit_code != 0
    assert "8 to 128 characters" in result.output
    assert _user_count() == 0


def test_set_password_lets_the_new_password_in_and_ends_the_old_token(app, client, build):
    user = build.user("buyer")
    old_token = build.token(user)

    result = app.test_cli_runner().invoke(args=["users", "set-password", user.phone, "--password", "a-new-long-pw-5"])

    assert result.exit_code == 0, result.output
    assert client.post("/api/v1/auth/login", json={"identifier": user.phone, "password": PASSWORD}).status_code == 401
    assert client.post("/api/v1/auth/login", json={"identifier": user.phone, "password": "a-new-long-pw-5"}).status_code == 200
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {old_token}"}).status_code == 401


def test_set_password_of_nobody_fails_with_a_clear_message(app):
    result = app.test_cli_runner().invoke(args=["users", "set-password", "13800138000", "--password", "a-new-long-pw-5"])
    assert result.exit_code != 0
    assert "user_not_found" in result.output


def test_a_common_password_fails_without_creating_anyone(create_admin):
    result = create_admin("--phone", "13800138000", "--password", "12345678")
    assert result.exit_code != 0
    assert "password_too_common" in result.output
    assert _user_count() == 0


@pytest.mark.parametrize("password, code", [("password", "password_too_common"), ("13912345678", "password_is_phone")])
def test_set_password_refuses_a_weak_password_and_keeps_the_old_one(app, client, build, password, code):
    user = build.user("buyer", phone="13912345678")

    result = app.test_cli_runner().invoke(args=["users", "set-password", user.phone, "--password", password])

    assert result.exit_code != 0
    assert code in result.output
    assert client.post("/api/v1/auth/login", json={"identifier": user.phone, "password": PASSWORD}).status_code == 200
