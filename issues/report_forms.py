"""The report form of /report/: it checks the shape of what was typed; issues.workflow.issue_submit checks the rules.

Who fills it decides its fields: a resident signed in reports their own; a visitor not signed in gives a phone (name
optional), as the API asks of them; grid workers, grid leaders and building leaders say whether they report for a
resident (then the resident's name and phone) or what they found on their own patrol.
"""

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.pages import PageForm
from grids.models import Area
from issues.arguments import PHONE
from issues.models import Category, Issue, Kind
from issues.photos import MAX_PHOTOS_PER_ISSUE
from issues.workflow import DESCRIPTION_MAX, DESCRIPTION_MIN
from orgs.models import Role
from orgs.scoping import scope_for_user

# The roles that report for residents or from patrol on this form (DESIGN.md "Who uses it").
REPORTING_STAFF_ROLES = {Role.GRID_WORKER, Role.GRID_LEADER, Role.BUILDING_LEADER}
C = Issue.Channel


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Up to six files; their content is checked by issues.photos.photos_clean in the view, once, before submit."""

    widget = MultipleFileInput

    def clean(self, data, initial=None):
        files = [f for f in (data or []) if f]
        if len(files) > MAX_PHOTOS_PER_ISSUE:
            raise forms.ValidationError(gettext("Send at most %(n)s photos.") % {"n": MAX_PHOTOS_PER_ISSUE})
        return files


def category_choices() -> list:
    """Return the active categories grouped by their top category, each with the department that handles it."""

    def label(category: Category) -> str:
        return f"{category.name} · {category.department.name}" if category.department else category.name

    categories = list(Category.objects.filter(is_active=True).select_related("department").order_by("code"))
    children: dict[int, list[Category]] = {}
    for category in categories:
        if category.parent_id:
            children.setdefault(category.parent_id, []).append(category)
    groups = []
    for top in (c for c in categories if not c.parent_id):
        options = [(top.code, label(top))] + [(c.code, label(c)) for c in children.get(top.pk, [])]
        groups.append((top.name, options))
    return [("", gettext("Not sure (staff will choose)")), *groups]


def grid_choices() -> list:
    """Return the grids grouped by community (the option values are the grid codes)."""
    grids = Area.objects.filter(level=Area.Level.GRID).select_related("parent").order_by("parent__code", "code")
    groups: dict[str, tuple[str, list]] = {}
    for grid in grids:
        community = grid.parent
        groups.setdefault(community.code, (community.name, []))[1].append((grid.code, grid.name))
    return [("", gettext("Choose a grid")), *groups.values()]


def building_choices() -> list:
    """Return the buildings grouped by their grid, the optgroup naming community and grid (values: building codes)."""
    buildings = (
        Area.objects.filter(level=Area.Level.BUILDING).select_related("parent__parent").order_by("parent__code", "code")
    )
    groups: dict[str, tuple[str, list]] = {}
    for building in buildings:
        grid = building.parent
        label = f"{grid.parent.name} · {grid.name}"
        groups.setdefault(grid.code, (label, []))[1].append((building.code, building.name))
    return [("", gettext("No particular building")), *groups.values()]


def reports_for_others(user) -> bool:
    """Return whether `user` reports on this form for residents or from patrol (a grid or building role)."""
    if not (user and user.is_authenticated):
        return False
    return any(role in REPORTING_STAFF_ROLES for role, _path in scope_for_user(user).node_roles)


class ReportForm(PageForm):
    """What a report says, and where: a point (lat/lng, "use my location") or a grid, and an optional building."""

    workflow_fields = {
        "reporter_name": "name",
        "reporter_phone": "phone",
        "location": "lat",
        "lng": "lng",
        "channel": "channel",
    }

    channel = forms.ChoiceField(
        label=_("Reporting"),
        choices=[(C.ON_BEHALF, _("For a resident")), (C.PATROL, _("From my own patrol"))],
        widget=forms.RadioSelect,
        initial=C.ON_BEHALF,
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=Kind.choices, initial=Kind.COMPLAINT)
    category = forms.ChoiceField(label=_("Category"), required=False)
    description = forms.CharField(
        label=_("Description"),
        min_length=DESCRIPTION_MIN,
        max_length=DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("What is wrong, and since when."),
    )
    photos = PhotosField(
        label=_("Photos"),
        required=False,
        help_text=_("Up to 6 photos (JPEG, PNG or WebP, 10 MB each)."),
        widget=MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )
    urgent = forms.BooleanField(label=_("Urgent"), required=False)
    lat = forms.FloatField(
        label=_("Latitude"),
        required=False,
        min_value=-90,
        max_value=90,
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
    lng = forms.FloatField(
        label=_("Longitude"),
        required=False,
        min_value=-180,
        max_value=180,
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
    grid = forms.ChoiceField(label=_("Grid"), required=False)
    building = forms.ChoiceField(label=_("Building"), required=False)
    address = forms.CharField(label=_("Address"), required=False, max_length=300)
    name = forms.CharField(label=_("Name"), required=False, max_length=60)
    phone = forms.CharField(
        label=_("Phone"),
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
    )
    photo_token = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.anonymous = not (user and user.is_authenticated)
        self.for_others = reports_for_others(user)
        self.fields["category"].choices = category_choices()
        self.fields["grid"].choices = grid_choices()
        self.fields["building"].choices = building_choices()
        if not self.for_others:
            del self.fields["channel"]
        if not (self.anonymous or self.for_others):
            del self.fields["name"], self.fields["phone"]
        elif self.anonymous:
            self.fields["phone"].help_text = _("Staff call this number back; you follow the report with it.")
        else:
            self.fields["name"].help_text = _("For a resident: their name and phone.")

    def clean_phone(self):
        phone = self.cleaned_data.get("phone", "").strip()
        if phone and not PHONE.match(phone):
            raise forms.ValidationError(gettext("Enter a phone number: digits, spaces or dashes."))
        return phone

    def clean(self):
        cleaned = super().clean()
        lat, lng = cleaned.get("lat"), cleaned.get("lng")
        if (lat is None) != (lng is None) and not self.has_error("lat") and not self.has_error("lng"):
            self.add_error("lat" if lat is None else "lng", gettext("Give both latitude and longitude."))
        placed = (lat is not None and lng is not None) or cleaned.get("grid") or cleaned.get("building")
        if not placed and not (self.has_error("lat") or self.has_error("lng")):
            self.add_error("grid", gettext("Use your location, or choose a grid."))
        building, grid = cleaned.get("building"), cleaned.get("grid")
        if building and grid and not Area.objects.filter(code=building, parent__code=grid).exists():
            self.add_error("building", gettext("This building is not in the grid chosen."))
        on_behalf = cleaned.get("channel") == C.ON_BEHALF
        if (self.anonymous or on_behalf) and not cleaned.get("phone") and not self.has_error("phone"):
            message = gettext("Give the resident's phone.") if on_behalf else gettext("Give your phone number.")
            self.add_error("phone", message)
        if on_behalf and not cleaned.get("name"):
            self.add_error("name", gettext("Give the resident's name."))
        return cleaned

    def submit_kwargs(self) -> dict:
        """Return issues.workflow.issue_submit's arguments (without actor and photos)."""
        data = self.cleaned_data
        channel = data.get("channel") or None
        patrol = channel == C.PATROL
        return {
            "kind": data["kind"],
            "category": data.get("category") or None,
            "description": data["description"],
            "urgent": data.get("urgent", False),
            "lat": data.get("lat"),
            "lng": data.get("lng"),
            "grid": data.get("grid") or None,
            "building": data.get("building") or None,
            "address": data.get("address", ""),
            "reporter_name": "" if patrol else data.get("name", ""),
            "reporter_phone": "" if patrol else data.get("phone", ""),
            "channel": channel,
        }
