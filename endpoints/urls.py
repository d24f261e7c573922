from django.urls import path

from .views import costs, network, probes, workspaces

urlpatterns = [
    # workspaces, keys, model permissions
    path("workspaces/", workspaces.workspace_list, name="workspace-list"),
    path("workspaces/new/", workspaces.workspace_create, name="workspace-create"),
    path("workspaces/scope-options/", workspaces.scope_options, name="workspace-scope-options"),
    path("workspaces/<slug:slug>/", workspaces.workspace_detail, name="workspace-detail"),
    path("workspaces/<slug:slug>/edit/", workspaces.workspace_edit, name="workspace-edit"),
    path("workspaces/<slug:slug>/delete/", workspaces.workspace_delete, name="workspace-delete"),
    path("workspaces/<slug:slug>/keys/", workspaces.key_add, name="workspace-key-add"),
    path(
        "workspaces/<slug:slug>/keys/<int:pk>/revoke/",
        workspaces.key_revoke,
        name="workspace-key-revoke",
    ),
    path(
        "workspaces/<slug:slug>/models/<str:model_name>/toggle/",
        workspaces.model_toggle,
        name="workspace-model-toggle",
    ),
    path("workspaces/<slug:slug>/members/", workspaces.member_add, name="workspace-member-add"),
    path(
        "workspaces/<slug:slug>/members/<int:pk>/remove/",
        workspaces.member_remove,
        name="workspace-member-remove",
    ),
    # VPCs
    path("vpcs/", network.vpc_list, name="vpc-list"),
    path("vpcs/new/", network.vpc_create, name="vpc-create"),
    path("vpcs/<int:pk>/", network.vpc_detail, name="vpc-detail"),
    path("vpcs/<int:pk>/edit/", network.vpc_edit, name="vpc-edit"),
    path("vpcs/<int:pk>/delete/", network.vpc_delete, name="vpc-delete"),
    # endpoints
    path("endpoints/", network.endpoint_list, name="endpoint-list"),
    path("endpoints/new/", network.endpoint_create, name="endpoint-create"),
    path("endpoints/form/", network.endpoint_form_for_kind, name="endpoint-form-for-kind"),
    path("endpoints/validate/", network.endpoint_validate_field, name="endpoint-validate"),
    path("endpoints/parse-url/", network.endpoint_parse_url, name="endpoint-parse-url"),
    path("endpoints/<int:pk>/", network.endpoint_detail, name="endpoint-detail"),
    path("endpoints/<int:pk>/edit/", network.endpoint_edit, name="endpoint-edit"),
    path("endpoints/<int:pk>/delete/", network.endpoint_delete, name="endpoint-delete"),
    path("endpoints/<int:pk>/probe/", probes.probe_endpoint, name="endpoint-probe"),
    # probes and costs
    path("probes/", probes.probe_board, name="probe-board"),
    path("probes/all/", probes.probe_all, name="probe-all"),
    path("probes/runs/<uuid:run_id>/", probes.probe_run, name="probe-run"),
    path("costs/", costs.cost_view, name="cost-split"),
]
