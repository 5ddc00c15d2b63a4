"""GeoReport v2 under /open311/v2/: every resource ends in .json or .xml, the format it answers in."""

from django.urls import path, register_converter

from open311 import views


class FormatConverter:
    regex = "json|xml"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


register_converter(FormatConverter, "open311_format")

app_name = "open311"

urlpatterns = [
    path("discovery.<open311_format:format>", views.DiscoveryView.as_view(), name="discovery"),
    path("services.<open311_format:format>", views.ServiceListView.as_view(), name="services"),
    path(
        "services/<str:service_code>.<open311_format:format>",
        views.ServiceDefinitionView.as_view(),
        name="service-definition",
    ),
    path("requests.<open311_format:format>", views.RequestsView.as_view(), name="requests"),
    path(
        "requests/<str:service_request_id>.<open311_format:format>",
        views.RequestDetailView.as_view(),
        name="request-detail",
    ),
    path("tokens/<str:token>.<open311_format:format>", views.TokenView.as_view(), name="token"),
]
