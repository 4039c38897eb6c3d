"""dialsync mapping plugin for a custom CRM, in Python: the same configurable
mapping as the Rust plugin in ``plugins/custom-crm`` (same configuration keys,
defaults, field errors and outcomes), built with componentize-py.

Build (from this directory; see ``build.sh``)::

    componentize-py -d ../../wit/v0.1.0 -w mapper componentize \\
        -p . -p ../sdk-py -p ../../schemas -p ../custom-crm app -o custom-crm-py.wasm
"""

import json

import dialsync_sdk as sdk
from dialsync_sdk import FieldError, get, has, to_pointer, type_name

# Baked in at build time (componentize-py snapshots module state).
INPUT_SCHEMA = sdk.build_file("custom-crm-record.schema.json")
CONFIG_SCHEMA = sdk.build_file("config.schema.json")


class ConfigError(Exception):
    """A configuration problem, naming the key."""


class Rule:
    """"When ``field`` equals one of ``equals``": the do-not-call and deleted rules."""

    def __init__(self, field, equals):
        self.field = field
        self.equals = equals

    def matches(self, record):
        """Strings compare trimmed and case-insensitively, and a string matches
        a number or boolean with the same text; an absent field never matches."""
        if not has(record, self.field):
            return False
        value = get(record, self.field)
        for want in self.equals:
            if type(want) is type(value) and want == value:
                return True
            if isinstance(value, str) and isinstance(want, str):
                if _ascii_lower(value.strip()) == _ascii_lower(want.strip()):
                    return True
            elif isinstance(value, str) or isinstance(want, str):
                text, other = (value, want) if isinstance(value, str) else (want, value)
                if _ascii_lower(text.strip()) == _ascii_lower(sdk.to_json(other)):
                    return True
        return False


def _ascii_lower(s):
    return "".join(c.lower() if c.isascii() else c for c in s)


class Config:
    """Which record fields mean what; every key optional (the Rust plugin's defaults)."""

    def __init__(self):
        self.key_fields = ["id"]
        self.updated_at_field = "updated_at"
        self.updated_at_format = "rfc3339"
        self.columns = [("firstName", "first_name"), ("lastName", "last_name"), ("email", "email")]
        self.phone_fields = [("phone", "phone"), ("mobile", "mobile")]
        self.default_region = None
        self.region_field = "country"
        self.do_not_call = Rule("do_not_call", [True, "true", "yes", "1"])
        self.deleted = Rule("deleted", [True, "true"])

    @staticmethod
    def load(host):
        c = Config()
        v = _structured(host, "key_fields")
        if v is not None:
            c.key_fields = _paths(v, "key_fields")
        field = host.config("updated_at_field")
        if field is not None:
            c.updated_at_field = field
        fmt = host.config("updated_at_format")
        if fmt is not None:
            try:
                c.updated_at_format = sdk.check_timestamp_format(fmt)
            except ValueError as e:
                raise ConfigError(f"updated_at_format: {e}") from None
        v = _structured(host, "columns")
        if v is not None:
            c.columns = _column_map(v, "columns")
        v = _structured(host, "phone_fields")
        if v is not None:
            c.phone_fields = _column_map(v, "phone_fields")
        c.default_region = host.config("default_region")
        field = host.config("region_field")
        if field is not None:
            c.region_field = field
        v = _structured(host, "do_not_call")
        if v is not None:
            c.do_not_call = _rule(v, "do_not_call")
        v = _structured(host, "deleted")
        if v is not None:
            c.deleted = _rule(v, "deleted")
        if not c.phone_fields:
            raise ConfigError("phone_fields: at least one phone column is needed")
        columns = {name for name, _ in c.columns}
        for name, _ in c.phone_fields:
            if name in columns:
                raise ConfigError(f"column {sdk._debug(name)} is in both columns and phone_fields")
        return c

    def column_names(self):
        return [name for name, _ in self.columns + self.phone_fields]


def _structured(host, key):
    text = host.config(key)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise ConfigError(f"{key}: expected a JSON value, got {sdk._debug(text)}") from None


def _paths(value, key):
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{key}: expected a non-empty list of field paths")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise ConfigError(f"{key}[{i}]: expected a field path, got {sdk.to_json(item)}")
    return value


def _column_map(value, key):
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected an object of column name → field path")
    out = []
    for column, path in value.items():
        if not column or len(column) > 128 or column == "externalId":
            raise ConfigError(
                f"{key}: {sdk._debug(column)} is not a usable column name (1..=128 chars, not the reserved externalId)"
            )
        if not isinstance(path, str) or not path:
            raise ConfigError(f"{key}.{column}: expected a field path, got {sdk.to_json(path)}")
        out.append((column, path))
    return out


def _rule(value, key):
    field = value.get("field") if isinstance(value, dict) else None
    equals = value.get("equals") if isinstance(value, dict) else None
    if isinstance(field, str) and field and isinstance(equals, list) and equals:
        return Rule(field, equals)
    raise ConfigError(
        f'{key}: expected {{"field": <path>, "equals": [<values>...]}}, got {sdk.to_json(value)}'
    )


# ---------------------------------------------------------------- mapping


def present(record, path):
    """The value at ``path``, or a ``missing`` error when the record lacks it."""
    if not has(record, path):
        raise FieldError.missing(
            to_pointer(path), "the plugin configuration maps this field, but the record lacks it"
        )
    return get(record, path)


def required_value(record, path):
    v = get(record, path)
    if v is None:
        raise FieldError.missing(to_pointer(path), "a value")
    if isinstance(v, str) and v.strip() == "":
        raise FieldError.missing(to_pointer(path), "a non-empty value")
    return v


def required(record, path):
    required_value(record, path)
    text = scalar(record, path)
    if text is None:
        raise FieldError.missing(to_pointer(path), "a value")
    return text


def scalar(record, path):
    """Strings as they are, numbers and booleans written out, absent/null → None."""
    v = get(record, path)
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, (bool, int, float)):
        return sdk.to_json(v)
    p = to_pointer(path)
    raise FieldError(p, "invalid-type", f"{p} must be a string, number or boolean, got {type_name(v)}")


def phone_text(record, path):
    """A phone field: a string or null (numbers lose the leading + and zeros)."""
    v = get(record, path)
    if v is None or isinstance(v, str):
        return v
    p = to_pointer(path)
    raise FieldError(p, "invalid-type", f"{p} must be a phone number string, got {type_name(v)}")


class CustomCrm:
    @staticmethod
    def describe(host):
        try:
            config = Config.load(host)
        except ConfigError as e:
            host.log(sdk.ERROR, f"invalid configuration: {e}")
            config = Config()
        return sdk.PluginInfo(
            name="custom-crm-py",
            version="0.1.0",
            source_kind="custom",
            input_schema=INPUT_SCHEMA,
            config_schema=CONFIG_SCHEMA,
            columns=["externalId", *config.column_names()],
            phone_columns=[name for name, _ in config.phone_fields],
        )

    @staticmethod
    def map_record(host, record):
        try:
            config = Config.load(host)
        except ConfigError as e:
            return sdk.reject([FieldError("", "invalid-config", f"plugin configuration {e}")])
        region = None
        try:
            region = sdk.region_code(scalar(record, config.region_field))
        except FieldError:
            pass
        b = sdk.ChangeBuilder(host, region or config.default_region)

        key = [b.check(lambda p=p: required(record, p)) for p in config.key_fields]

        def updated_at():
            value = required_value(record, config.updated_at_field)
            try:
                return sdk.parse_timestamp(config.updated_at_format, value)
            except sdk.TimeError as e:
                raise FieldError(to_pointer(config.updated_at_field), "invalid-date", e.message) from None

        updated = b.check(updated_at)
        for column, path in config.columns:
            try:
                present(record, path)
                b.column(column, to_pointer(path), scalar(record, path))
            except FieldError as e:
                b.error(e)
        for column, path in config.phone_fields:
            try:
                present(record, path)
                b.phone(column, to_pointer(path), phone_text(record, path))
            except FieldError as e:
                b.error(e)

        columns, phones = b.finish()
        parts = key
        try:
            eid = sdk.external_id("crm", parts)
        except sdk.ExternalIdError as e:
            return sdk.reject([FieldError(to_pointer(config.key_fields[0]), "invalid-id", str(e))])

        if config.deleted.matches(record):
            operation = sdk.REMOVE
        elif config.do_not_call.matches(record):
            operation = sdk.DO_NOT_CALL
        else:
            # Also with no phone at all: the host clears the phone columns and makes
            # the contact uncallable (the numbers were cleared in the CRM).
            operation = sdk.UPSERT
        return sdk.change(
            external_id=eid,
            source_id="/".join(parts),
            source_updated_at=updated,
            operation=operation,
            columns=columns,
            phones=phones,
            callable=None if operation == sdk.REMOVE else operation == sdk.UPSERT,
        )


WitWorld = sdk.export(CustomCrm)
