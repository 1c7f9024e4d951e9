"""Registering, logging in and out, and the token lifecycle."""
from datetime import timedelta

import pytest

from marketplace.accounts.models import ApiToken, User
from marketplace.common.time import utcnow
from marketplace.extensions import db
from tests.builders import PASSWORD


def test_registered_buyer_can_log_in_and_read_me(client):
    created = client.post("/api/v1/auth/register", json={"phone": "13912345678", "display_name": "李四", "password": "s3cret-pass"})
    assert created.status_code == 201, created.json
    assert created.json["roles"] == ["buyer"]
    assert "password" not in created.json and "password_hash" not in created.json

    login = client.post("/api/v1/auth/login", json={"identifier": "13912345678", "password": "s3cret-pass"})
    assert login.status_code == 200
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {login.json['token']}"})
    assert me.status_code == 200
    assert me.json["phone"] == "13912345678"


def test_tokens_are_stored_only_as_digests(client, build):
    user = build.user()
    token = build.token(user)
    stored = db.session.scalars(db.select(ApiToken.token_digest)).all()
    assert token not in stored
    assert all(len(digest) == 64 for digest in stored)


def test_logout_revokes_the_token(client, build):
    headers = {"Authorization": f"Bearer {build.token(build.user())}"}
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    after = client.get("/api/v1/me", headers=headers)
    assert after.status_code == 401
    assert after.json["error"]["code"] == "invalid_token"


def test_expired_token_is_refused_with_its_own_code(client, build):
    user = build.user()
    headers = {"Authorization": f"Bearer {build.token(user)}"}
    token = db.session.scalars(db.select(ApiToken).where(ApiToken.user_id == user.id)).one()
    token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "token_expired"


# Registration


def _register(client, **fields):
    body = {"display_name": "王芳", "password": "s3cret-pass"} | fields
    return client.post("/api/v1/auth/register", json=body)


def _user_count() -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(User))


def _log_in(client, identifier, password="s3cret-pass"):
    return client.post("/api/v1/auth/login", json={"identifier": identifier, "password": password})


@pytest.mark.parametrize("phone", ["1391234567", "139123456789", "12912345678", "+8613912345678", "139-1234-5678"])
def test_registration_rejects_a_phone_that_is_not_a_mainland_mobile_number(client, phone):
    response = _register(client, phone=phone)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert "phone" in response.json["error"]["details"]["json"]
    assert _user_count() == 0


@pytest.mark.parametrize("password", ["12345678", "password", "aaaaaaaa", "PassWord", "  password  ", "qwertyuiop",
                                      "ｐａｓｓｗｏｒｄ", "88888888", "woaini1314", "Z" * 20])
def test_registration_refuses_a_common_password_and_creates_nothing(client, password):
    response = _register(client, phone="13912345678", password=password)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "password_too_common"
    assert "guessed" in response.json["error"]["message"]
    assert "password" in response.json["error"]["details"]
    assert _user_count() == 0


@pytest.mark.parametrize("password", ["13912345678", "139 1234 5678", "139-1234-5678", "+86 139 1234 5678",
                                      "008613912345678", "１３９１２３４５６７８"])
def test_registration_refuses_the_phone_number_as_password_and_creates_nothing(client, password):
    response = _register(client, phone="13912345678", password=password)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "password_is_phone"
    assert "password" in response.json["error"]["details"]
    assert _user_count() == 0


def test_a_password_that_only_contains_a_common_one_is_accepted(client):
    assert _register(client, phone="13912345678", password="password-of-wang-fang").status_code == 201
    assert _register(client, phone="13912345679", password="13912345678").status_code == 201  # not its own number


def test_registration_needs_a_phone_or_an_email(client):
    response = _register(client)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert _user_count() == 0


def test_registration_with_email_only_is_accepted(client):
    response = _register(client, email="farmer@example.com")
    assert response.status_code == 201, response.json
    assert response.json["email"] == "farmer@example.com"
    assert response.json["phone"] is None


def test_registering_a_taken_phone_is_a_conflict(client, build):
    build.user(phone="13912345678")
    response = _register(client, phone="13912345678")
    assert response.status_code == 409
    assert response.json["error"]["code"] == "phone_taken"
    assert _user_count() == 1


def test_registering_a_taken_email_in_other_case_is_a_conflict(client):
    assert _register(client, email="Mei.Li@Example.com").status_code == 201
    response = _register(client, email="mei.li@EXAMPLE.COM")
    assert response.status_code == 409
    assert response.json["error"]["code"] == "email_taken"
    assert _user_count() == 1


def test_seller_registration_needs_a_county(client):
    response = _register(client, phone="13912345678", roles=["seller"])
    assert response.status_code == 422
    assert response.json["error"]["code"] == "county_required"
    assert _user_count() == 0


def test_seller_registration_with_an_unknown_county_is_not_found(client, build):
    build.county("652927")
    response = _register(client, phone="13912345678", roles=["seller"], county_adcode="652999")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "county_not_found"
    assert _user_count() == 0


def test_seller_registration_with_a_registry_county_is_accepted(client, build):
    build.county("652927")
    response = _register(client, phone="13912345678", roles=["seller"], county_adcode="652927")
    assert response.status_code == 201, response.json
    assert response.json["roles"] == ["seller"]
    assert response.json["county_adcode"] == "652927"


@pytest.mark.parametrize("role", ["partner", "admin", "official"])
def test_partner_admin_and_official_roles_cannot_be_self_registered(client, build, role):
    build.county("652927")
    response = _register(client, phone="13912345678", roles=[role], county_adcode="652927")
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert "roles" in response.json["error"]["details"]["json"]
    assert _user_count() == 0


def test_password_is_stored_as_an_argon2_hash(client):
    assert _register(client, phone="13912345678").status_code == 201
    user = db.session.scalars(db.select(User).where(User.phone == "13912345678")).one()
    assert user.password_hash.startswith("$argon2id$")
    assert "s3cret-pass" not in user.password_hash


# Logging in


def test_user_can_log_in_by_phone(client, build):
    user = build.user(phone="13912345678")
    response = client.post("/api/v1/auth/login", json={"identifier": "13912345678", "password": PASSWORD})
    assert response.status_code == 200
    assert response.json["token_type"] == "Bearer"
    assert response.json["user"]["id"] == user.id


def test_user_can_log_in_by_email_in_any_case(client):
    assert _register(client, email="Mei.Li@Example.com").status_code == 201
    response = _log_in(client, "MEI.LI@example.com")
    assert response.status_code == 200, response.json
    assert response.json["user"]["email"] == "mei.li@example.com"


def test_wrong_password_and_unknown_user_are_indistinguishable(client, build):
    build.user(phone="13912345678")
    wrong_password = _log_in(client, "13912345678", "not-the-password")
    unknown_user = _log_in(client, "13900000000", "not-the-password")
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert wrong_password.json == unknown_user.json
    assert wrong_password.json["error"]["code"] == "invalid_credentials"
    assert db.session.scalar(db.select(db.func.count()).select_from(ApiToken)) == 0


# Administration


def _patch_user(client, user_id, headers, **fields):
    return client.patch(f"/api/v1/users/{user_id}", json=fields, headers=headers)


def test_disabled_account_cannot_log_in(client, build):
    user = build.user(phone="13912345678")
    assert _patch_user(client, user.id, build.headers("admin"), is_active=False).status_code == 200
    response = client.post("/api/v1/auth/login", json={"identifier": "13912345678", "password": PASSWORD})
    assert response.status_code == 403
    assert response.json["error"]["code"] == "account_disabled"


def test_disabling_an_account_stops_its_existing_tokens(client, build):
    user = build.user()
    user_headers = {"Authorization": f"Bearer {build.token(user)}"}
    assert client.get("/api/v1/me", headers=user_headers).status_code == 200
    assert _patch_user(client, user.id, build.headers("admin"), is_active=False).status_code == 200
    response = client.get("/api/v1/me", headers=user_headers)
    assert response.status_code in (401, 403)
    assert response.json["error"]["code"] in ("invalid_token", "account_disabled")


def test_admin_grants_the_partner_role_with_a_county(client, build):
    user = build.user()
    build.county("652927")
    response = _patch_user(client, user.id, build.headers("admin"), roles=["buyer", "partner"], county_adcode="652927")
    assert response.status_code == 200, response.json
    assert response.json["roles"] == ["buyer", "partner"]
    assert response.json["county_adcode"] == "652927"


def test_granting_the_partner_role_needs_a_county(client, build):
    user = build.user()
    response = _patch_user(client, user.id, build.headers("admin"), roles=["buyer", "partner"])
    assert response.status_code == 422
    assert response.json["error"]["code"] == "county_required"
    db.session.expire_all()
    assert db.session.get(User, user.id).roles == ["buyer"]


def test_admin_cannot_remove_own_admin_role(client, build):
    admin = build.user("admin")
    headers = {"Authorization": f"Bearer {build.token(admin)}"}
    response = _patch_user(client, admin.id, headers, roles=["buyer"])
    assert response.status_code == 409
    assert response.json["error"]["code"] == "cannot_demote_self"
    db.session.expire_all()
    assert db.session.get(User, admin.id).roles == ["admin"]
