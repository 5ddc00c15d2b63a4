"""Sign-up pages for residents: `/signup/` asks for the phone and sends a code, `/signup/verify/` creates the account.

Views parse, call accounts.services and redirect (POST-redirect-GET); a refusal lands beside its field
(config.pages.form_refuse). The phone being proved is kept in the session between the two steps.
"""

from http import HTTPStatus

from django.contrib.auth import login
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.forms import PhoneForm, SignupForm
from accounts.services import phone_code_send, resident_signup
from config.client_ip import client_ip
from config.errors import WorkflowError
from config.pages import form_refuse
from issues.personal_data import mask_phone
from issues.views import landing_url_for

SIGNUP_PHONE = "signup_phone"
BACKEND = "django.contrib.auth.backends.ModelBackend"


def client_address(request) -> str | None:
    """Return the caller's address by the one trusted-proxy rule (config.client_ip), as the throttles count it."""
    return client_ip(request) or None


@require_http_methods(["GET", "POST"])
def signup_phone(request):
    """Step 1: send a one-time code to the phone typed in."""
    if request.user.is_authenticated:
        return redirect(landing_url_for(request.user))
    form = PhoneForm(request.POST or None)
    status = HTTPStatus.OK
    if request.method == "POST":
        status = HTTPStatus.BAD_REQUEST
        if form.is_valid():
            try:
                verification = phone_code_send(phone=form.cleaned_data["phone"], address=client_address(request))
            except WorkflowError as error:
                form_refuse(form, error)
                status = error.status
            else:
                request.session[SIGNUP_PHONE] = verification.phone
                return redirect(reverse("signup-verify"))
    return render(request, "accounts/signup_phone.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
def signup_verify(request):
    """Step 2: check the code, create the account, sign it in and land on its issues."""
    if request.user.is_authenticated:
        return redirect(landing_url_for(request.user))
    phone = request.session.get(SIGNUP_PHONE)
    if not phone:
        return redirect(reverse("signup"))
    form = SignupForm(request.POST or None)
    status = HTTPStatus.OK
    if request.method == "POST":
        status = HTTPStatus.BAD_REQUEST
        if form.is_valid():
            data = form.cleaned_data
            try:
                user = resident_signup(
                    phone=phone, code=data["code"], username=data["username"], password=data["password1"]
                )
            except WorkflowError as error:
                form_refuse(form, error)
            else:
                request.session.pop(SIGNUP_PHONE, None)
                login(request, user, backend=BACKEND)
                return redirect(reverse("my-issues"))
    context = {"form": form, "phone_masked": mask_phone(phone), "phone": phone}
    return render(request, "accounts/signup_verify.html", context, status=status)
