"""The territory as API.md shows it: nodes by code, and where a point lies."""

from rest_framework import serializers

from grids.models import Area


class AreaSerializer(serializers.ModelSerializer):
    """A node: `{code, name, level, parent, path}`; `parent` is the parent's code, `path` the codes joined by '/'."""

    parent = serializers.CharField(source="parent.code", default=None, allow_null=True, read_only=True)

    class Meta:
        model = Area
        fields = ["code", "name", "level", "parent", "path"]
        read_only_fields = fields


class AreaRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class AreaListQuerySerializer(serializers.Serializer):
    parent = serializers.CharField(required=False, help_text="A node's code: list its children (none: districts).")


class LocateQuerySerializer(serializers.Serializer):
    lat = serializers.FloatField(min_value=-90, max_value=90)
    lng = serializers.FloatField(min_value=-180, max_value=180)


class LocationSerializer(serializers.Serializer):
    """Where a point lies: the covering grid and its community, street and district."""

    grid = AreaRefSerializer()
    community = AreaRefSerializer()
    street = AreaRefSerializer()
    district = AreaRefSerializer()
