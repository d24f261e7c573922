from django.urls import path

from . import views

urlpatterns = [
    path("workspaces/", views.workspace_list, name="workspace-list"),
    path("workspaces/new/", views.workspace_create, name="workspace-create"),
    path("workspaces/scope-options/", views.scope_options, name="workspace-scope-options"),
    path("workspaces/<slug:slug>/", views.workspace_detail, name="workspace-detail"),
    path("workspaces/<slug:slug>/edit/", views.workspace_edit, name="workspace-edit"),
    path("workspaces/<slug:slug>/delete/", views.workspace_delete, name="workspace-delete"),
    path("workspaces/<slug:slug>/keys/", views.key_add, name="workspace-key-add"),
    path(
        "workspaces/<slug:slug>/keys/<int:pk>/revoke/",
        views.key_revoke,
        name="workspace-key-revoke",
    ),
    path(
        "workspaces/<slug:slug>/models/<str:model_name>/toggle/",
        views.model_toggle,
        name="workspace-model-toggle",
    ),
    path("workspaces/<slug:slug>/members/", views.member_add, name="workspace-member-add"),
    path(
        "workspaces/<slug:slug>/members/<int:pk>/remove/",
        views.member_remove,
        name="workspace-member-remove",
    ),
]
