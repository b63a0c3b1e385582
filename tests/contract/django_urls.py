"""Root URLconf of the Django test project: saas-core mounted the documented way."""

from django.urls import include, path

urlpatterns = [path("api/v1/", include("saas_core_django.urls"))]
