from tests.conftest import post


def test_home_renders(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b'<html lang="en" dir="ltr">' in response.data


def test_sign_in_page_then_bad_password(client, make_user):
    user = make_user()
    response = post(client, "/sign-in", {"email": user.email, "password": "wrong one here!"})
    assert response.status_code == 200
    assert b"The email or the password is not right." in response.data
