"""The sign-up pages, included at the site's root by config/urls.py."""

from django.urls import path

from accounts import views

urlpatterns = [
    path("signup/", views.signup_phone, name="signup"),
    path("signup/verify/", views.signup_verify, name="signup-verify"),
]
