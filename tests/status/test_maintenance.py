"""The maintenance form takes and shows times in the window's own time zone, not UTC."""

from datetime import UTC, datetime

from endpoints.status.forms import MaintenanceForm
from endpoints.status.models import MaintenanceWindow


def plan(client, **fields):
    data = {"name": "patch", "starts_at": "2030-03-01T02:00", "ends_at": "2030-03-01T03:30"}
    return client.post("/maintenance/", {**data, **fields})


def test_times_are_read_and_shown_in_the_windows_time_zone(db, client_for, admin):
    client = client_for(admin)
    response = plan(
        client, timezone="Asia/Shanghai", recurrence="WEEKLY", repeat_until="2030-06-01T00:00"
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    window = MaintenanceWindow.objects.get()
    # 02:00 in Shanghai (UTC+8) is 18:00 UTC the day before.
    assert window.starts_at == datetime(2030, 2, 28, 18, 0, tzinfo=UTC)
    assert window.ends_at == datetime(2030, 2, 28, 19, 30, tzinfo=UTC)
    assert window.repeat_until == datetime(2030, 5, 31, 16, 0, tzinfo=UTC)
    html = client.get("/maintenance/").content.decode()
    assert "2030-03-01 02:00 – 2030-03-01 03:30 Asia/Shanghai" in html
    assert "until 2030-06-01" in html
    # Editing it shows what was typed, in its zone.
    form = MaintenanceForm(instance=window)
    assert form["starts_at"].value() == datetime(2030, 3, 1, 2, 0)
    assert 'value="2030-03-01T02:00"' in str(form["starts_at"])


def test_utc_and_summer_time_follow_the_zone(db, client_for, admin):
    client = client_for(admin)
    assert plan(client, timezone="UTC").status_code == 302
    assert (
        plan(
            client,
            name="berlin",
            timezone="Europe/Berlin",
            starts_at="2030-07-01T02:00",
            ends_at="2030-07-01T03:00",
        ).status_code
        == 302
    )
    starts = dict(MaintenanceWindow.objects.values_list("name", "starts_at"))
    assert starts["patch"] == datetime(2030, 3, 1, 2, 0, tzinfo=UTC)
    assert starts["berlin"] == datetime(2030, 7, 1, 0, 0, tzinfo=UTC)  # CEST, UTC+2


def test_a_time_the_zone_skips_or_an_unknown_zone_is_an_error_not_a_guess(db, client_for, admin):
    client = client_for(admin)
    # 29 March 2026, 02:30 does not exist in Berlin (clocks jump from 02:00 to 03:00).
    response = plan(
        client, timezone="Europe/Berlin", starts_at="2026-03-29T02:30", ends_at="2026-03-29T04:00"
    )
    assert response.status_code == 422
    assert "Europe/Berlin" in response.content.decode()
    for name in ("Mars/Olympus", "Asia"):  # "Asia" is a directory of zones, not one
        response = plan(client, timezone=name)
        assert (
            response.status_code == 422 and "is not a time zone name" in response.content.decode()
        )
    assert not MaintenanceWindow.objects.exists()
