from django.urls import path

from . import views

urlpatterns = [
    path("alerts/", views.channel_list, name="channel-list"),
    path("alerts/<int:pk>/", views.channel_detail, name="channel-detail"),
    path("alerts/<int:pk>/test/", views.channel_test, name="channel-test"),
    path("alerts/<int:pk>/delete/", views.channel_delete, name="channel-delete"),
]
