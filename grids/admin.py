"""Django admin for the territory: find nodes by code or name, add nodes with the path grids.services computes.

A node's code, level and parent are fixed once it exists (its path and every descendant's path follow from them),
so the admin only edits the descriptive fields of an existing node.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from grids.models import Area
from grids.services import area_path_for, area_validate


class AreaAdminForm(forms.ModelForm):
    class Meta:
        model = Area
        fields = ("code", "name", "level", "parent", "households", "boundary", "lat", "lng", "address", "extra")

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None and not self.errors:
            try:
                area_validate(code=cleaned.get("code", ""), level=cleaned.get("level"), parent=cleaned.get("parent"))
            except ValidationError as e:
                raise ValidationError(e.message_dict) from e
        return cleaned


@admin.register(Area)
class AreaAdmin(admin.ModelAdmin):
    form = AreaAdminForm
    list_display = ("code", "name", "level", "parent", "households", "updated_at")
    list_filter = ("level",)
    list_select_related = ("parent",)
    # Codes are searched by prefix ("360702091" finds the street and everything under it), names anywhere.
    search_fields = ("^code", "name")
    autocomplete_fields = ("parent",)
    show_full_result_count = False  # the count of 10,000s of buildings costs a query per page for nothing
    fieldsets = (
        (None, {"fields": ("code", "name", "level", "parent", "path")}),
        (_("Grid"), {"fields": ("households", "boundary")}),
        (_("Building"), {"fields": ("lat", "lng", "address")}),
        (_("Source"), {"classes": ("collapse",), "fields": ("extra", "updated_at")}),
    )

    def get_readonly_fields(self, request, obj=None):
        fixed = ("code", "level", "parent") if obj is not None else ()
        return (*fixed, "path", "updated_at")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.path = area_path_for(code=obj.code, parent=obj.parent)
        super().save_model(request, obj, form, change)
