"""A workspace page: what each role sees of it."""


def test_ops_do_not_see_spend_on_workspace_pages(client_for, ops, admin, workspace_a):
    assert "Spent this month" not in client_for(ops).get("/workspaces/team-a/").content.decode()
    assert "Monthly budget" not in client_for(ops).get("/workspaces/").content.decode()
    assert "Spent this month" in client_for(admin).get("/workspaces/team-a/").content.decode()


def test_a_member_who_is_not_a_lead_does_not_see_the_workspace(make_user, workspace_a, api_client):
    user = make_user("mo-member", "lead")
    workspace_a.memberships.create(user=user, is_lead=False)
    assert api_client(user).get("/api/v1/workspaces").json() == []
