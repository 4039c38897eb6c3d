"""The dialsync plugin SDK for Python (componentize-py).

A plugin maps one CRM's records to Genesys Cloud contact changes. It is a
WebAssembly component implementing the ``mapper`` world of
``wit/v0.1.0/plugin.wit``, built with ``componentize-py``. With this module an
author writes plain Python, exactly like the Rust SDK (``plugins/sdk``):

1. write a mapper class with ``describe(host)`` returning a :class:`PluginInfo`
   and ``map_record(host, record)`` returning an outcome (:func:`change`,
   :func:`skip` or :func:`reject`), using the :class:`Host` for configuration,
   logging and phone normalisation;
2. export it once: ``WitWorld = dialsync_sdk.export(MyMapper)``.

The helpers follow the same rules as the Rust SDK, byte for byte:
:func:`external_id` (stable keys), :class:`ChangeBuilder` (every field error of
a record, phones through the host), :class:`FieldError`, JSON pointers and the
timestamp formats of :mod:`time` in the Rust SDK.
"""

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Tuple

import wit_world
from componentize_py_types import Err
from wit_world.imports import host as _wit_host
from wit_world.imports import types as _wit

# ---------------------------------------------------------------- outcomes

UPSERT = "upsert"
DO_NOT_CALL = "do-not-call"
REMOVE = "remove"
_OPERATIONS = {
    UPSERT: _wit.Operation.UPSERT,
    DO_NOT_CALL: _wit.Operation.DO_NOT_CALL,
    REMOVE: _wit.Operation.REMOVE,
}

#: Longest value a contact-list column may hold, in characters.
MAX_COLUMN_CHARS = 512


class FieldError(Exception):
    """One problem with one field of an input record, at a JSON pointer.

    Codes: ``missing``, ``invalid-phone``, ``invalid-date``, ``invalid-value``,
    ``invalid-type``, ``invalid-id``, ``too-long``. Raise it from helpers and
    collect it with :meth:`ChangeBuilder.check`.
    """

    def __init__(self, field: str, code: str, message: str):
        super().__init__(message)
        self.field = field
        self.code = code
        self.message = message

    @staticmethod
    def missing(field: str, what: str) -> "FieldError":
        """``missing``: a required field is absent, null or empty."""
        return FieldError(field, "missing", f"{field} is required: {what}")


@dataclass
class Phone:
    """One phone column's value, normalised to E.164 by the host."""

    column: str
    number: str


@dataclass
class PluginInfo:
    """What the plugin is and what it needs (the WIT ``plugin-info``)."""

    name: str
    version: str
    source_kind: str
    input_schema: str
    config_schema: str
    columns: List[str]
    phone_columns: List[str]
    actions: list = field(default_factory=list)


def change(
    external_id: str,
    source_id: str,
    source_updated_at: str,
    operation: str,
    columns: List[Tuple[str, str]],
    phones: List[Phone],
    callable: Optional[bool],
    partial: bool = False,
):
    """The record maps to one contact change."""
    return _wit.MapOutcome_Change(
        _contact_change(
            external_id, source_id, source_updated_at, operation, columns, phones, callable, partial
        )
    )


def _contact_change(
    external_id, source_id, source_updated_at, operation, columns, phones, callable, partial
):
    return _wit.ContactChange(
        external_id=external_id,
        source_id=source_id,
        source_updated_at=source_updated_at,
        operation=_OPERATIONS[operation],
        partial=partial,
        columns=list(columns),
        phones=[_wit.Phone(column=p.column, number=p.number) for p in phones],
        callable=callable,
    )


def skip(reason: str):
    """The record is well-formed but carries nothing to sync."""
    return _wit.MapOutcome_Skip(reason)


def reject(errors: List[FieldError]):
    """The record is malformed: every problem found, one per field."""
    return _wit.MapOutcome_Reject(
        [_wit.FieldError(field=e.field, code=e.code, message=e.message) for e in errors]
    )


# -------------------------------------------------------------------- host


class PhoneError(Exception):
    """Why the host could not normalise a phone number."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


TRACE, DEBUG, INFO, WARN, ERROR = "trace", "debug", "info", "warn", "error"


class Host:
    """What the host offers a plugin: config, logging, phone normalisation."""

    def log(self, level: str, message: str) -> None:
        """Write to the host's log (``TRACE`` .. ``ERROR``)."""
        _wit_host.log(_wit_host.LogLevel[level.upper()], message)

    def config(self, key: str) -> Optional[str]:
        """The admin's value for top-level config key ``key``: strings as they
        are, other JSON values as JSON text; ``None`` when unset."""
        return _wit_host.config(key)

    def normalize_phone(self, raw: str, region: Optional[str]) -> str:
        """E.164 for a free-text number; raises :class:`PhoneError`."""
        try:
            return _wit_host.normalize_phone(raw, region)
        except Err as e:
            raise PhoneError(e.value.code, e.value.message) from None


# ---------------------------------------------------------------- builder


class ChangeBuilder:
    """Collects the columns, phones and every field error of one change."""

    def __init__(self, host: Host, region: Optional[str]):
        self.host = host
        self.region = region
        self.columns: List[Tuple[str, str]] = []
        self.phones: List[Phone] = []
        self.errors: List[FieldError] = []

    def error(self, error: FieldError) -> None:
        """Record a problem found by the plugin itself."""
        self.errors.append(error)

    def check(self, thunk: Callable[[], Any]) -> Any:
        """Run ``thunk``; a :class:`FieldError` it raises is recorded and
        ``None`` returned."""
        try:
            return thunk()
        except FieldError as e:
            self.errors.append(e)
            return None

    def column(self, name: str, pointer: str, value: Optional[str]) -> None:
        """Set data column ``name``; ``None`` sets it to ``""``. Longer than
        :data:`MAX_COLUMN_CHARS` is ``too-long``."""
        value = _rust_trim(value or "")
        if len(value) > MAX_COLUMN_CHARS:
            self.errors.append(
                FieldError(
                    pointer,
                    "too-long",
                    f"{pointer} is {len(value)} characters; column {name} holds at most {MAX_COLUMN_CHARS}",
                )
            )
        else:
            self.columns.append((name, value))

    def phone(self, column: str, pointer: str, raw: Optional[str]) -> None:
        """Normalise the phone at ``pointer`` through the host; blank adds
        nothing, an unusable number is ``invalid-phone``."""
        if raw is None or _rust_trim(raw) == "":
            return
        try:
            self.phones.append(Phone(column, self.host.normalize_phone(raw, self.region)))
        except PhoneError as e:
            self.errors.append(
                FieldError(pointer, "invalid-phone", f"{pointer}: {e.message} ({e.code})")
            )

    def finish(self):
        """``(columns, phones)``, or raises :class:`RecordRejected` with every error."""
        if self.errors:
            raise RecordRejected(self.errors)
        return self.columns, self.phones


class RecordRejected(Exception):
    """Every field error of a record (from :meth:`ChangeBuilder.finish`)."""

    def __init__(self, errors: List[FieldError]):
        super().__init__(f"{len(errors)} field errors")
        self.errors = errors


def region_code(value: Optional[str]) -> Optional[str]:
    """A region code from a record field, if it looks like ISO 3166-1 alpha-2."""
    if value is None:
        return None
    v = _rust_trim(value)
    if len(v) == 2 and v.isascii() and v.isalpha():
        return v.upper()
    return None


# ----------------------------------------------------------- externalId


class ExternalIdError(Exception):
    """Why an externalId could not be built from a key."""


_MAX_LEN = 64
_HASH_HEX = 16


def external_id(prefix: str, parts: List[str]) -> str:
    """The stable externalId for key ``parts`` under ``prefix`` — identical to
    the Rust SDK's ``external_id`` (clean ``<prefix>_<key>`` or hashed
    ``<readable>__<16 hex>``)."""
    if not prefix or len(prefix.encode()) > 16 or not all(_alnum(c) for c in prefix):
        raise ExternalIdError(
            f"externalId prefix {_debug(prefix)} must be 1 to 16 ASCII letters or digits"
        )
    if not parts:
        raise ExternalIdError("an externalId needs at least one key part")
    for index, p in enumerate(parts):
        if _rust_trim(p) == "":
            raise ExternalIdError(f"externalId key part {index} is empty")
    clean = len(parts) == 1 and all(_alnum(c) or c == "_" for c in parts[0]) and "__" not in parts[0]
    joined = prefix + "_" + "_".join(parts)
    if clean and len(joined.encode()) <= _MAX_LEN:
        return joined
    readable = _sanitize(joined)[: _MAX_LEN - 2 - _HASH_HEX].rstrip("_")
    return f"{readable}__{_key_hash(prefix, parts)}"


def _alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


def _sanitize(s: str) -> str:
    out = []
    for c in s:
        c = c if _alnum(c) else "_"
        if not (c == "_" and out and out[-1] == "_"):
            out.append(c)
    return "".join(out)


def _key_hash(prefix: str, parts: List[str]) -> str:
    h = hashlib.sha256()
    for piece in [prefix, *parts]:
        data = piece.encode()
        h.update(f"{len(data)}:".encode())
        h.update(data)
    return h.hexdigest()[:_HASH_HEX]


# ------------------------------------------------------------------ json

_MISSING = object()


def to_pointer(path: str) -> str:
    """``/a/b`` stays; a plain field name becomes the pointer to that key."""
    if path == "" or path.startswith("/"):
        return path
    return "/" + path.replace("~", "~0").replace("/", "~1")


def get(record: Any, path: str, default: Any = None) -> Any:
    """The value at ``path`` (pointer or plain name), or ``default`` when absent."""
    pointer = to_pointer(path)
    if pointer == "":
        return record
    value = record
    for token in pointer[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict):
            if token not in value:
                return default
            value = value[token]
        elif isinstance(value, list):
            if not token.isdigit() or (len(token) > 1 and token[0] == "0"):
                return default
            i = int(token)
            if i >= len(value):
                return default
            value = value[i]
        else:
            return default
    return value


def has(record: Any, path: str) -> bool:
    """Whether ``path`` exists in the record (even when ``null``)."""
    return get(record, path, _MISSING) is not _MISSING


def type_name(v: Any) -> str:
    """``null``, ``boolean``, ``number``, ``string``, ``array`` or ``object``."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def to_json(v: Any) -> str:
    """Compact JSON text, as serde_json writes it."""
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def _rust_trim(s: str) -> str:
    # Rust's str::trim strips Unicode White_Space, as Python's str.strip() does
    # (minus a few separators Python also strips); close enough for CRM text.
    return s.strip()


def _debug(s: str) -> str:
    """A string quoted the way Rust's ``{:?}`` quotes it."""
    out = ['"']
    for c in s:
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif c == "\0":
            out.append("\\0")
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{{{ord(c):x}}}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


# ------------------------------------------------------------------ time


class TimeError(Exception):
    """Why a timestamp could not be read (message quotes input and format)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _terr(input: str, expected: str, why: str) -> TimeError:
    return TimeError(f"{_debug(input)} is not a valid {expected} timestamp: {why}")


#: Every accepted ``updated_at_format`` spelling.
TIMESTAMP_FORMATS = [
    "rfc3339",
    "epoch_ms",
    "epoch_s",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d",
]


def check_timestamp_format(name: str) -> str:
    """``name`` if it is a supported format, else raises ``ValueError``."""
    if name not in TIMESTAMP_FORMATS:
        raise ValueError(
            f"unsupported timestamp format {_debug(name)}; expected one of {', '.join(TIMESTAMP_FORMATS)}"
        )
    return name


def parse_timestamp(fmt: str, value: Any) -> str:
    """Read a JSON value in format ``fmt`` and return RFC 3339 UTC."""
    if fmt in ("epoch_ms", "epoch_s"):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, float) or not (-(2**63) <= value < 2**63):
                raise _terr(to_json(value), fmt, "expected a whole number")
            return _parse_epoch(fmt, value, str(value))
        if isinstance(value, str):
            t = _rust_trim(value)
            body = t[1:] if t[:1] in "+-" else t
            if not body or not body.isascii() or not body.isdigit():
                raise _terr(value, fmt, "expected a whole number")
            return _parse_epoch(fmt, int(t), value)
    if isinstance(value, str):
        if fmt == "rfc3339":
            return rfc3339_to_utc(value)
        if fmt == "%Y-%m-%d %H:%M:%S":
            return _parse(value, "YYYY-MM-DD HH:MM:SS", " ", False, False)
        if fmt == "%Y-%m-%dT%H:%M:%S":
            return _parse(value, fmt, "T", False, False)
        return _date_utc(value)
    raise _terr(to_json(value), fmt, f"expected a string, got {type_name(value)}")


def rfc3339_to_utc(s: str) -> str:
    """Any RFC 3339 date-time (``T``, ``t`` or space; ``Z`` or an offset) → UTC ``Z``."""
    return _parse(s, "RFC 3339", "Tt ", True, True)


def _parse_epoch(fmt: str, n: int, input: str) -> str:
    ms = n * 1000 if fmt == "epoch_s" else n
    if not (-(2**63) <= ms < 2**63):
        raise _terr(input, fmt, "outside years 1..=9999")
    try:
        return _format_unix_ms(ms)
    except ValueError:
        raise _terr(input, fmt, "outside years 1..=9999") from None


def _digits(b: bytes, at: int, n: int) -> Optional[int]:
    part = b[at : at + n]
    if len(part) != n or not all(48 <= c <= 57 for c in part):
        return None
    return int(part)


def _parse_date(b: bytes):
    if len(b) < 8 or b[4:5] != b"-" or b[7:8] != b"-":
        return None
    y, mo, d = _digits(b, 0, 4), _digits(b, 5, 2), _digits(b, 8, 2)
    if y is None or mo is None or d is None:
        return None
    return y, mo, d


def _check_date(y: int, mo: int, d: int) -> Optional[str]:
    if y < 1:
        return "year must be 1..=9999"
    if not 1 <= mo <= 12:
        return "month must be 01..=12"
    if d < 1 or d > _days_in_month(y, mo):
        return "day is outside the month"
    return None


def _date_utc(s: str) -> str:
    b = s.encode()
    date = _parse_date(b)
    if date is None:
        raise _terr(s, "YYYY-MM-DD", "expected YYYY-MM-DD")
    if len(b) != 10:
        raise _terr(s, "YYYY-MM-DD", "unexpected text after the date")
    why = _check_date(*date)
    if why:
        raise _terr(s, "YYYY-MM-DD", why)
    return _format_unix_ms(_days_from_civil(*date) * 86_400_000)


def _parse(s: str, expected: str, separators: str, fraction: bool, zone: bool) -> str:
    b = s.encode()
    shape = _terr(s, expected, "wrong shape")
    date = _parse_date(b)
    if date is None:
        raise shape
    if len(b) <= 16 or chr(b[10]) not in separators or b[13:14] != b":" or b[16:17] != b":":
        raise shape
    h, mi, sec = _digits(b, 11, 2), _digits(b, 14, 2), _digits(b, 17, 2)
    if h is None or mi is None or sec is None:
        raise shape
    why = _check_date(*date)
    if why:
        raise _terr(s, expected, why)
    if h > 23 or mi > 59 or sec > 59:
        raise _terr(s, expected, "time of day out of range")
    at = 19
    millis = 0
    if b[at : at + 1] == b".":
        if not fraction:
            raise _terr(s, expected, "fractional seconds are not expected")
        start = at = at + 1
        while at < len(b) and 48 <= b[at] <= 57:
            at += 1
        if at == start:
            raise _terr(s, expected, "no digits after '.'")
        kept = min(at - start, 3)
        millis = _digits(b, start, kept) * 10 ** (3 - kept)
    offset_min = 0
    if zone:
        c = b[at : at + 1]
        if c in (b"Z", b"z"):
            at += 1
        elif c in (b"+", b"-"):
            oh = _digits(b, at + 1, 2)
            if oh is None:
                raise shape
            colon = 1 if b[at + 3 : at + 4] == b":" else 0
            om = _digits(b, at + 3 + colon, 2)
            if om is None:
                raise shape
            if oh > 23 or om > 59:
                raise _terr(s, expected, "zone offset out of range")
            at += 5 + colon
            offset_min = -(oh * 60 + om) if c == b"-" else oh * 60 + om
        else:
            raise _terr(s, expected, "missing zone (Z or +HH:MM)")
    if at != len(b):
        raise _terr(s, expected, "unexpected text at the end")
    unix_s = _days_from_civil(*date) * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60
    try:
        return _format_unix_ms(unix_s * 1000 + millis)
    except ValueError as e:
        raise _terr(s, expected, str(e)) from None


def _days_in_month(y: int, m: int) -> int:
    if m == 2:
        return 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28
    return 30 if m in (4, 6, 9, 11) else 31


def _days_from_civil(y: int, m: int, d: int) -> int:
    # Howard Hinnant's algorithm, as in the Rust SDK.
    y = y - 1 if m <= 2 else y
    era = y // 400
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def _civil_from_days(z: int):
    z += 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if m <= 2 else 0), m, d


def _format_unix_ms(ms: int) -> str:
    days, rest = divmod(ms, 86_400_000)
    y, m, d = _civil_from_days(days)
    if not 1 <= y <= 9999:
        raise ValueError("outside years 1..=9999")
    secs, millis = divmod(rest, 1000)
    h, mi, s = secs // 3600, secs // 60 % 60, secs % 60
    if millis == 0:
        return f"{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"
    return f"{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{millis:03}Z"


# ------------------------------------------------------------ build files


def build_file(name: str) -> str:
    """The text of file ``name`` from a directory on the build's Python path
    (``componentize-py -p DIR``). Call it at module level: componentize-py runs
    module-level code at build time and snapshots the result, so the text is
    baked into the component (there is no filesystem at run time)."""
    import os
    import sys

    for directory in sys.path:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                return f.read()
    raise FileNotFoundError(f"{name} is not in any -p directory of the build: {sys.path}")


class ActionFailed(Exception):
    """A failed data action: ``code`` (``bad-input``, ``not-found``,
    ``unavailable`` or your own) and a message."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# ---------------------------------------------------------------- export


def _rust_json_error(text: str) -> str:
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        return f"{e.msg} at line {e.lineno} column {e.colno}"
    return "not JSON"


def export(mapper: Any) -> type:
    """The ``WitWorld`` class componentize-py exports, delegating to ``mapper``
    (an object or class with ``describe(host)`` and ``map_record(host, record)``,
    optionally ``action(host, name, input)``). Use it as
    ``WitWorld = dialsync_sdk.export(MyMapper)`` in the app module."""
    host = Host()

    def map_one(text: str):
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            return reject(
                [FieldError("", "invalid-type", f"the record is not valid JSON: {_rust_json_error(text)}")]
            )
        if not isinstance(record, dict):
            return reject(
                [FieldError("", "invalid-type", f"a record must be a JSON object, got {type_name(record)}")]
            )
        try:
            return mapper.map_record(host, record)
        except RecordRejected as e:
            return reject(e.errors)

    class WitWorld(wit_world.WitWorld):
        def describe(self):
            info = mapper.describe(host)
            return _wit.PluginInfo(
                name=info.name,
                version=info.version,
                source_kind=info.source_kind,
                input_schema=info.input_schema,
                config_schema=info.config_schema,
                columns=list(info.columns),
                phone_columns=list(info.phone_columns),
                actions=[
                    _wit.ActionInfo(
                        name=a["name"],
                        description=a["description"],
                        input_schema=a["input_schema"],
                        output_schema=a["output_schema"],
                    )
                    for a in info.actions
                ],
            )

        def map(self, records):
            return [map_one(text) for text in records]

        def action(self, name, input):
            run = getattr(mapper, "action", None)
            if run is None:
                raise Err(
                    _wit.ActionError(
                        code="unknown-action",
                        message=f"this plugin offers no data action named {_debug(name)}",
                    )
                )
            try:
                data = json.loads(input)
            except json.JSONDecodeError as e:
                raise Err(
                    _wit.ActionError(
                        code="bad-input",
                        message=f"action {_debug(name)}: input is not valid JSON: {e.msg}",
                    )
                ) from None
            try:
                return to_json(run(host, name, data))
            except ActionFailed as e:
                raise Err(_wit.ActionError(code=e.code, message=e.message)) from None

    return WitWorld
