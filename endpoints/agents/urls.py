from django.urls import path

from . import views

urlpatterns = [
    path("vpcs/<int:pk>/agents/", views.vpc_agents, name="vpc-agents"),
    path("vpcs/<int:pk>/agents/add/", views.agent_add, name="vpc-agent-add"),
    path(
        "vpcs/<int:pk>/agents/<int:agent_id>/revoke/", views.agent_revoke, name="vpc-agent-revoke"
    ),
]
