"""Departments as API.md lists them, and the personal token exchange."""

from rest_framework import serializers

from orgs.models import Department


class DepartmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Department
        fields = ["code", "name", "kind"]
        read_only_fields = fields


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")


class CallerSerializer(serializers.Serializer):
    """Who the API sees: handy for a partner checking its key, or a person their token."""

    username = serializers.CharField()
    kind = serializers.ChoiceField(choices=["resident", "staff", "partner"])
    partner = serializers.CharField(allow_null=True, help_text="The partner app's slug, when a partner app calls.")
