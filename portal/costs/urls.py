from django.urls import path

from . import views

urlpatterns = [path("costs/", views.cost_view, name="cost-split")]
