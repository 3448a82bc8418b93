def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.data == b"ok"


def test_start_page_needs_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_ae_signs_in_and_sees_start_page(make_user, login_as):
    user = make_user("ae", name="Alex Becker")
    c = login_as(user)
    response = c.get("/")
    assert response.status_code == 200
    assert b"Hello, Alex" in response.data
