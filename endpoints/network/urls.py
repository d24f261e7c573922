from django.urls import path

from . import views

urlpatterns = [
    path("vpcs/", views.vpc_list, name="vpc-list"),
    path("vpcs/new/", views.vpc_create, name="vpc-create"),
    path("vpcs/<int:pk>/", views.vpc_detail, name="vpc-detail"),
    path("vpcs/<int:pk>/edit/", views.vpc_edit, name="vpc-edit"),
    path("vpcs/<int:pk>/delete/", views.vpc_delete, name="vpc-delete"),
    path("endpoints/", views.endpoint_list, name="endpoint-list"),
    path("endpoints/new/", views.endpoint_create, name="endpoint-create"),
    path("endpoints/form/", views.endpoint_form_for_kind, name="endpoint-form-for-kind"),
    path("endpoints/validate/", views.endpoint_validate_field, name="endpoint-validate"),
    path("endpoints/parse-url/", views.endpoint_parse_url, name="endpoint-parse-url"),
    path("endpoints/<int:pk>/edit/", views.endpoint_edit, name="endpoint-edit"),
    path("endpoints/<int:pk>/delete/", views.endpoint_delete, name="endpoint-delete"),
]
