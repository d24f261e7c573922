"""The audit log page, and audit entries for changes made in the Django admin."""

import pytest

from portal.audit.models import AuditEntry
from portal.workspaces.models import CatalogModel


def test_the_audit_page_filters(client_for, admin, workspace_a):
    client = client_for(admin)
    client.post("/workspaces/team-a/models/qwen-max/toggle/")
    client.post("/workspaces/team-a/models/qwen-flash/toggle/")
    client.post("/workspaces/team-a/models/qwen-max/toggle/")
    html = client.get("/audit/?action=revoke").content.decode()
    assert "Team A: qwen-max" in html and "qwen-flash" not in html
    html = client.get(f"/audit/?actor={admin.username}&q=flash").content.decode()
    assert "qwen-flash" in html and "qwen-max" not in html


def test_changes_in_the_django_admin_are_audited_too(client_for, admin, make_vpc):
    vpc = make_vpc("vpc-admin001")
    response = client_for(admin).post(f"/admin/network/vpc/{vpc.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="delete", target_type="VPC")
    assert entry.source == "admin" and entry.changes["before"]["vpc_id"] == "vpc-admin001"


@pytest.mark.parametrize("query", ["since=garbage", "until=2026-02-30", "since=2026-11-22T00:00"])
def test_bad_audit_dates_are_ignored_with_a_note(client_for, admin, query):
    response = client_for(admin).get(f"/audit/?{query}")
    assert response.status_code == 200
    assert "is not a date" in response.content.decode()


def test_the_audit_trail_and_probe_records_are_read_only_in_the_admin(
    client_for, admin, workspace_a
):
    client = client_for(admin)
    client.post("/workspaces/team-a/models/qwen-max/toggle/")
    entry = AuditEntry.objects.get()
    assert (
        client.post(f"/admin/audit/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
    assert client.get("/admin/probes/proberesult/add/").status_code == 403


def test_an_admin_change_to_many_to_many_fields_is_recorded_after_they_are_saved(client_for, admin):
    model = CatalogModel.objects.get(name="qwen-turbo")
    data = {
        "name": model.name,
        "family": model.family,
        "active": "on",
        "description": "",
        "regions": ["cn-beijing"],  # was Beijing and four international regions
    }
    response = client_for(admin).post(f"/admin/workspaces/catalogmodel/{model.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = AuditEntry.objects.get(target_type="catalog model", source="admin")
    assert entry.changes["after"]["regions"] == ["China (Beijing) (cn-beijing)"]
    assert len(entry.changes["before"]["regions"]) > 1


def test_a_vpc_connection_changed_in_the_admin_is_audited_with_the_new_connection(
    client_for, admin, make_vpc
):
    a, b = (
        make_vpc("vpc-admina01", cidr="10.1.0.0/16"),
        make_vpc("vpc-adminb01", cidr="10.2.0.0/16"),
    )
    data = {
        "vpc_id": a.vpc_id,
        "name": a.name,
        "region": a.region_id,
        "cidr": a.cidr,
        "resolver": a.resolver,
        "host_overrides": "{}",
        "connected_vpcs": [b.pk],
        "probed_by": "central",
    }
    response = client_for(admin).post(f"/admin/network/vpc/{a.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = AuditEntry.objects.get(target_type="VPC", source="admin", action="update")
    assert entry.changes["after"]["connected_vpcs"] == [str(b)]
    assert entry.changes["before"]["connected_vpcs"] == []
    # The admin refuses overlapping CIDR blocks, like the portal's own form.
    c = make_vpc("vpc-adminc01", cidr="10.1.128.0/17")
    response = client_for(admin).post(
        f"/admin/network/vpc/{a.pk}/change/", {**data, "connected_vpcs": [c.pk]}
    )
    assert response.status_code == 200 and "overlap" in response.content.decode()
