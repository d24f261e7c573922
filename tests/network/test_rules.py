"""The rules are pure: once `rule_context` has loaded what they need, they run without a query."""

from endpoints.network import rules, services
from endpoints.network.models import Endpoint
from portal.workspaces.models import CatalogModel


def test_the_rules_run_without_touching_the_database(
    workspace_a, make_vpc, make_endpoint, django_assert_num_queries
):
    home, other = make_vpc("vpc-rules001"), make_vpc("vpc-rules002")
    home.connected_vpcs.add(other)
    endpoint = make_endpoint(
        kind="privatelink_custom",
        url="https://vpc-cn-beijing.dashscope.aliyuncs.com",
        vpc=other,
        endpoint_vpc=home,
        workspace=workspace_a,
        check_model=CatalogModel.objects.get(name="qwen-max"),
    )
    endpoint = Endpoint.objects.get(pk=endpoint.pk)  # nothing cached on the instance
    ctx = services.rule_context(endpoint)
    with django_assert_num_queries(0):
        checks = rules.checklist(ctx)
    by_id = {c.id: c for c in checks}
    assert by_id["connected"].state == rules.PASS  # the CEN connection, loaded beforehand
    assert by_id["check-model"].state == rules.WARN  # team A is not granted qwen-max
    assert by_id["private-dns"].state == rules.WARN  # no Private DNS record in vpc-rules002
