"""A client's calendar feed, linked from the client's page for its AE and managers."""
import re

from tests.conftest import T0, freeze_now


def _link(response) -> str | None:
    found = re.search(r'id="client-feed-https" value="http://localhost([^"]+)"',
                      response.get_data(as_text=True))
    return found.group(1) if found else None


def test_owner_gets_a_working_client_feed_and_others_do_not(
        client, make_user, make_client, make_booking, login_as, monkeypatch):
    freeze_now(monkeypatch, T0)
    owner, other = make_user("ae"), make_user("ae")
    manager = make_user("manager")
    nordbank = make_client(owner=owner, name="Nordbank AG")
    elsewhere = make_client(owner=owner, name="Hanse Creative")
    make_booking(nordbank, title="Roadmap review")
    make_booking(elsewhere, title="Brand workshop")

    path = _link(login_as(owner).get(f"/clients/{nordbank.id}"))
    assert path and path.startswith("/feeds/") and "-c" in path
    body = client.get(path).get_data(as_text=True)
    assert "Roadmap review" in body and "Brand workshop" not in body
    assert "METHOD:" not in body and "ATTENDEE" not in body

    assert _link(login_as(other).get(f"/clients/{nordbank.id}")) is None
    assert _link(login_as(manager).get(f"/clients/{nordbank.id}")) is not None

    # Rotating the owner's secret stops the client link as well.
    login_as(owner).post("/profile/feed/rotate")
    assert client.get(path).status_code == 404
