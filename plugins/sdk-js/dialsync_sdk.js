// The dialsync plugin SDK for JavaScript (@bytecodealliance/componentize-js).
//
// A plugin maps one CRM's records to Genesys Cloud contact changes. It is a
// WebAssembly component implementing the `mapper` world of
// wit/v0.1.0/plugin.wit. With this module an author writes plain JavaScript,
// exactly like the Rust SDK (plugins/sdk):
//
// 1. write a mapper object with `describe(host)` returning plugin info and
//    `mapRecord(host, record)` returning an outcome (`change`, `skip` or
//    `reject`), using the host for configuration, logging and phones;
// 2. export it once: `export const { describe, map, action } = exportPlugin(myMapper);`
//
// The helpers follow the same rules as the Rust SDK, byte for byte:
// `externalId` (stable keys), `ChangeBuilder` (every field error of a record,
// phones through the host), `FieldError`, JSON pointers and the timestamp
// formats of the Rust SDK's `time` module.
//
// componentize-js builds one ES module, so `build.mjs` joins this file, the
// plugin and its data files into one source before componentizing.

import * as witHost from "dialsync:plugin/host@0.1.0";

// ------------------------------------------------------------------ outcomes

export const UPSERT = "upsert";
export const DO_NOT_CALL = "do-not-call";
export const REMOVE = "remove";

/** Longest value a contact-list column may hold, in characters. */
export const MAX_COLUMN_CHARS = 512;

/** One problem with one field of an input record, at a JSON pointer. */
export class FieldError extends Error {
  constructor(field, code, message) {
    super(message);
    this.field = field;
    this.code = code;
  }
  /** `missing`: a required field is absent, null or empty. */
  static missing(field, what) {
    return new FieldError(field, "missing", `${field} is required: ${what}`);
  }
}

/** Every field error of a record (thrown by `ChangeBuilder.finish`). */
export class RecordRejected extends Error {
  constructor(errors) {
    super(`${errors.length} field errors`);
    this.errors = errors;
  }
}

/** A failed data action, with a code (`bad-input`, `not-found`, ...). */
export class ActionFailed extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** The record maps to one contact change. */
export function change({ externalId, sourceId, sourceUpdatedAt, operation, columns, phones, callable, partial = false }) {
  return {
    tag: "change",
    val: {
      externalId,
      sourceId,
      sourceUpdatedAt,
      operation,
      partial,
      columns: columns.map(([k, v]) => [k, v]),
      phones: phones.map(({ column, number }) => ({ column, number })),
      callable: callable === null ? undefined : callable,
    },
  };
}

/** The record is well-formed but carries nothing to sync. */
export function skip(reason) {
  return { tag: "skip", val: reason };
}

/** The record is malformed: every problem found, one per field. */
export function reject(errors) {
  return { tag: "reject", val: errors.map((e) => ({ field: e.field, code: e.code, message: e.message })) };
}

// ---------------------------------------------------------------------- host

/** Why the host could not normalise a phone number. */
export class PhoneError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** What the host offers a plugin: config, logging, phone normalisation. */
export const host = {
  /** Write to the host's log: `trace`, `debug`, `info`, `warn` or `error`. */
  log(level, message) {
    witHost.log(level, message);
  },
  /** The admin's value for a top-level config key: strings as they are, other
   * JSON values as JSON text; `undefined` when unset. */
  config(key) {
    const v = witHost.config(key);
    return v === null ? undefined : v;
  },
  /** E.164 for a free-text number; throws `PhoneError`. */
  normalizePhone(raw, region) {
    try {
      return witHost.normalizePhone(raw, region ?? undefined);
    } catch (e) {
      const p = e && e.payload !== undefined ? e.payload : e;
      throw new PhoneError(p.code, p.message);
    }
  },
};

// ------------------------------------------------------------------- builder

/** Collects the columns, phones and every field error of one change. */
export class ChangeBuilder {
  constructor(host, region) {
    this.host = host;
    this.region = region ?? undefined;
    this.columns = [];
    this.phones = [];
    this.errors = [];
  }
  /** Record a problem found by the plugin itself. */
  error(e) {
    this.errors.push(e);
  }
  /** Run `thunk`; a `FieldError` it throws is recorded and `undefined` returned. */
  check(thunk) {
    try {
      return thunk();
    } catch (e) {
      if (e instanceof FieldError) {
        this.errors.push(e);
        return undefined;
      }
      throw e;
    }
  }
  /** Set data column `name`; null sets it to "". Too long is `too-long`. */
  column(name, pointer, value) {
    const v = rustTrim(value ?? "");
    const chars = [...v].length;
    if (chars > MAX_COLUMN_CHARS) {
      this.errors.push(new FieldError(pointer, "too-long", `${pointer} is ${chars} characters; column ${name} holds at most ${MAX_COLUMN_CHARS}`));
    } else {
      this.columns.push([name, v]);
    }
  }
  /** Normalise the phone at `pointer` through the host; blank adds nothing. */
  phone(column, pointer, raw) {
    if (raw === null || raw === undefined || rustTrim(raw) === "") return;
    try {
      this.phones.push({ column, number: this.host.normalizePhone(raw, this.region) });
    } catch (e) {
      if (!(e instanceof PhoneError)) throw e;
      this.errors.push(new FieldError(pointer, "invalid-phone", `${pointer}: ${e.message} (${e.code})`));
    }
  }
  /** `[columns, phones]`, or throws `RecordRejected` with every error. */
  finish() {
    if (this.errors.length > 0) throw new RecordRejected(this.errors);
    return [this.columns, this.phones];
  }
}

/** A region code from a record field, if it looks like ISO 3166-1 alpha-2. */
export function regionCode(value) {
  if (value === null || value === undefined) return undefined;
  const v = rustTrim(value);
  return /^[A-Za-z]{2}$/.test(v) ? v.toUpperCase() : undefined;
}

// ---------------------------------------------------------------- externalId

const MAX_LEN = 64;
const HASH_HEX = 16;
const utf8 = (s) => new TextEncoder().encode(s);

/** Why an externalId could not be built. */
export class ExternalIdError extends Error {}

/** The stable externalId for key `parts` under `prefix`, identical to the Rust
 * SDK's `external_id`: clean `<prefix>_<key>` or hashed `<readable>__<16 hex>`. */
export function externalId(prefix, parts) {
  if (!/^[A-Za-z0-9]{1,16}$/.test(prefix)) {
    throw new ExternalIdError(`externalId prefix ${rustDebug(prefix)} must be 1 to 16 ASCII letters or digits`);
  }
  if (parts.length === 0) throw new ExternalIdError("an externalId needs at least one key part");
  const empty = parts.findIndex((p) => rustTrim(p) === "");
  if (empty >= 0) throw new ExternalIdError(`externalId key part ${empty} is empty`);
  const clean = parts.length === 1 && /^[A-Za-z0-9_]*$/.test(parts[0]) && !parts[0].includes("__");
  const joined = `${prefix}_${parts.join("_")}`;
  if (clean && joined.length <= MAX_LEN) return joined;
  const readable = sanitize(joined).slice(0, MAX_LEN - 2 - HASH_HEX).replace(/_+$/, "");
  return `${readable}__${keyHash(prefix, parts)}`;
}

function sanitize(s) {
  let out = "";
  for (const ch of s) {
    const c = /^[A-Za-z0-9]$/.test(ch) ? ch : "_";
    if (!(c === "_" && out.endsWith("_"))) out += c;
  }
  return out;
}

function keyHash(prefix, parts) {
  const chunks = [];
  for (const piece of [prefix, ...parts]) {
    const bytes = utf8(piece);
    chunks.push(utf8(`${bytes.length}:`), bytes);
  }
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const data = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    data.set(c, at);
    at += c.length;
  }
  return sha256Hex(data).slice(0, HASH_HEX);
}

// SHA-256 (FIPS 180-4). Hand-written: the JS runtime's only digest
// (crypto.subtle) is asynchronous, and component exports are synchronous.
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

export function sha256Hex(bytes) {
  const bitLen = bytes.length * 8;
  const padded = new Uint8Array(((bytes.length + 9 + 63) >> 6) << 6);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bitLen / 0x100000000));
  view.setUint32(padded.length - 4, bitLen >>> 0);
  const h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const w = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) >>> 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) >>> 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) >>> 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  return [...h].map((x) => x.toString(16).padStart(8, "0")).join("");
}

// ---------------------------------------------------------------------- json

/** `/a/b` stays; a plain field name becomes the pointer to that key. */
export function toPointer(path) {
  if (path === "" || path.startsWith("/")) return path;
  return "/" + path.replaceAll("~", "~0").replaceAll("/", "~1");
}

const MISSING = Symbol("missing");

/** The value at `path` (pointer or plain name), or `fallback` when absent. */
export function get(record, path, fallback = undefined) {
  const pointer = toPointer(path);
  if (pointer === "") return record;
  let value = record;
  for (let token of pointer.slice(1).split("/")) {
    token = token.replaceAll("~1", "/").replaceAll("~0", "~");
    if (Array.isArray(value)) {
      if (!/^(0|[1-9][0-9]*)$/.test(token) || Number(token) >= value.length) return fallback;
      value = value[Number(token)];
    } else if (value !== null && typeof value === "object") {
      if (!Object.prototype.hasOwnProperty.call(value, token)) return fallback;
      value = value[token];
    } else {
      return fallback;
    }
  }
  return value;
}

/** Whether `path` exists in the record (even when null). */
export function has(record, path) {
  return get(record, path, MISSING) !== MISSING;
}

/** `null`, `boolean`, `number`, `string`, `array` or `object`. */
export function typeName(v) {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v === "object" ? "object" : typeof v;
}

/** Compact JSON text. Numbers are written as serde_json writes them for the
 * values CRMs send (integers; decimals in plain notation). */
export function toJson(v) {
  return JSON.stringify(v);
}

/** Rust's `str::trim` (Unicode White_Space). */
export function rustTrim(s) {
  return s.replace(/^[\s\u0085]+|[\s\u0085]+$/gu, "");
}

/** A string quoted the way Rust's `{:?}` quotes it. */
export function rustDebug(s) {
  let out = '"';
  for (const c of s) {
    const n = c.codePointAt(0);
    if (c === '"') out += '\\"';
    else if (c === "\\") out += "\\\\";
    else if (c === "\n") out += "\\n";
    else if (c === "\r") out += "\\r";
    else if (c === "\t") out += "\\t";
    else if (c === "\0") out += "\\0";
    else if (n < 0x20 || n === 0x7f) out += `\\u{${n.toString(16)}}`;
    else out += c;
  }
  return out + '"';
}

// ---------------------------------------------------------------------- time

/** Why a timestamp could not be read. */
export class TimeError extends Error {}

const terr = (input, expected, why) => new TimeError(`${rustDebug(input)} is not a valid ${expected} timestamp: ${why}`);

/** Every accepted `updated_at_format` spelling. */
export const TIMESTAMP_FORMATS = ["rfc3339", "epoch_ms", "epoch_s", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"];

/** `name` if it is a supported format, else throws an Error. */
export function checkTimestampFormat(name) {
  if (!TIMESTAMP_FORMATS.includes(name)) {
    throw new Error(`unsupported timestamp format ${rustDebug(name)}; expected one of ${TIMESTAMP_FORMATS.join(", ")}`);
  }
  return name;
}

/** Read a JSON value in format `fmt` and return RFC 3339 UTC. */
export function parseTimestamp(fmt, value) {
  if (fmt === "epoch_ms" || fmt === "epoch_s") {
    if (typeof value === "number") {
      if (!Number.isSafeInteger(value)) throw terr(toJson(value), fmt, "expected a whole number");
      return parseEpoch(fmt, BigInt(value), String(value));
    }
    if (typeof value === "string") {
      const t = rustTrim(value);
      if (!/^[+-]?[0-9]+$/.test(t)) throw terr(value, fmt, "expected a whole number");
      const n = BigInt(t);
      if (n < -(2n ** 63n) || n >= 2n ** 63n) throw terr(value, fmt, "expected a whole number");
      return parseEpoch(fmt, n, value);
    }
  }
  if (typeof value === "string") {
    if (fmt === "rfc3339") return rfc3339ToUtc(value);
    if (fmt === "%Y-%m-%d %H:%M:%S") return parse(value, "YYYY-MM-DD HH:MM:SS", " ", false, false);
    if (fmt === "%Y-%m-%dT%H:%M:%S") return parse(value, fmt, "T", false, false);
    return dateUtc(value);
  }
  throw terr(toJson(value), fmt, `expected a string, got ${typeName(value)}`);
}

/** Any RFC 3339 date-time (`T`, `t` or space; `Z` or an offset) → UTC `Z`. */
export function rfc3339ToUtc(s) {
  return parse(s, "RFC 3339", "Tt ", true, true);
}

function parseEpoch(fmt, n, input) {
  const ms = fmt === "epoch_s" ? n * 1000n : n;
  const out = ms >= -(2n ** 63n) && ms < 2n ** 63n ? formatUnixMs(Number(ms)) : null;
  if (out === null) throw terr(input, fmt, "outside years 1..=9999");
  return out;
}

function digits(s, at, n) {
  const part = s.slice(at, at + n);
  return part.length === n && /^[0-9]+$/.test(part) ? Number(part) : null;
}

function parseDate(s) {
  if (s[4] !== "-" || s[7] !== "-") return null;
  const [y, mo, d] = [digits(s, 0, 4), digits(s, 5, 2), digits(s, 8, 2)];
  return y === null || mo === null || d === null ? null : [y, mo, d];
}

function checkDate(y, mo, d) {
  if (y < 1) return "year must be 1..=9999";
  if (mo < 1 || mo > 12) return "month must be 01..=12";
  if (d < 1 || d > daysInMonth(y, mo)) return "day is outside the month";
  return null;
}

function dateUtc(s) {
  const date = parseDate(s);
  if (date === null) throw terr(s, "YYYY-MM-DD", "expected YYYY-MM-DD");
  if (utf8(s).length !== 10) throw terr(s, "YYYY-MM-DD", "unexpected text after the date");
  const why = checkDate(...date);
  if (why) throw terr(s, "YYYY-MM-DD", why);
  return formatUnixMs(daysFromCivil(...date) * 86_400_000);
}

function parse(s, expected, separators, fraction, zone) {
  // Positions are byte offsets in Rust; non-ASCII before position 19 is a
  // wrong shape either way, and later positions only matter as "more text".
  const shape = () => terr(s, expected, "wrong shape");
  const date = parseDate(s);
  if (date === null) throw shape();
  if (s.length <= 10 || !separators.includes(s[10]) || s[13] !== ":" || s[16] !== ":") throw shape();
  const [h, mi, sec] = [digits(s, 11, 2), digits(s, 14, 2), digits(s, 17, 2)];
  if (h === null || mi === null || sec === null) throw shape();
  const why = checkDate(...date);
  if (why) throw terr(s, expected, why);
  if (h > 23 || mi > 59 || sec > 59) throw terr(s, expected, "time of day out of range");
  let at = 19;
  let millis = 0;
  if (s[at] === ".") {
    if (!fraction) throw terr(s, expected, "fractional seconds are not expected");
    const start = (at += 1);
    while (at < s.length && s[at] >= "0" && s[at] <= "9") at += 1;
    if (at === start) throw terr(s, expected, "no digits after '.'");
    const kept = Math.min(at - start, 3);
    millis = digits(s, start, kept) * 10 ** (3 - kept);
  }
  let offsetMin = 0;
  if (zone) {
    const c = s[at];
    if (c === "Z" || c === "z") {
      at += 1;
    } else if (c === "+" || c === "-") {
      const oh = digits(s, at + 1, 2);
      if (oh === null) throw shape();
      const colon = s[at + 3] === ":" ? 1 : 0;
      const om = digits(s, at + 3 + colon, 2);
      if (om === null) throw shape();
      if (oh > 23 || om > 59) throw terr(s, expected, "zone offset out of range");
      at += 5 + colon;
      offsetMin = c === "-" ? -(oh * 60 + om) : oh * 60 + om;
    } else {
      throw terr(s, expected, "missing zone (Z or +HH:MM)");
    }
  }
  if (at !== s.length) throw terr(s, expected, "unexpected text at the end");
  const unixS = daysFromCivil(...date) * 86_400 + h * 3600 + mi * 60 + sec - offsetMin * 60;
  const out = formatUnixMs(unixS * 1000 + millis);
  if (out === null) throw terr(s, expected, "outside years 1..=9999");
  return out;
}

function daysInMonth(y, m) {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(m) ? 30 : 31;
}

const div = (a, b) => Math.floor(a / b);

// Howard Hinnant's algorithms, as in the Rust SDK.
function daysFromCivil(y, m, d) {
  y = m <= 2 ? y - 1 : y;
  const era = div(y, 400);
  const yoe = y - era * 400;
  const mp = (m + 9) % 12;
  const doy = div(153 * mp + 2, 5) + d - 1;
  const doe = yoe * 365 + div(yoe, 4) - div(yoe, 100) + doy;
  return era * 146_097 + doe - 719_468;
}

function civilFromDays(z) {
  z += 719_468;
  const era = div(z, 146_097);
  const doe = z - era * 146_097;
  const yoe = div(doe - div(doe, 1460) + div(doe, 36_524) - div(doe, 146_096), 365);
  const doy = doe - (365 * yoe + div(yoe, 4) - div(yoe, 100));
  const mp = div(5 * doy + 2, 153);
  const d = doy - div(153 * mp + 2, 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

function formatUnixMs(ms) {
  const days = div(ms, 86_400_000);
  const rest = ms - days * 86_400_000;
  const [y, m, d] = civilFromDays(days);
  if (y < 1 || y > 9999) return null;
  const secs = div(rest, 1000);
  const millis = rest % 1000;
  const p = (n, w = 2) => String(n).padStart(w, "0");
  const base = `${p(y, 4)}-${p(m)}-${p(d)}T${p(div(secs, 3600))}:${p(div(secs, 60) % 60)}:${p(secs % 60)}`;
  return millis === 0 ? `${base}Z` : `${base}.${p(millis, 3)}Z`;
}

// -------------------------------------------------------------------- export

/** The three component exports (`describe`, `map`, `action`) delegating to
 * `mapper` ({describe(host), mapRecord(host, record), optional action(host,
 * name, input)}). Use it as
 * `export const { describe, map, action } = exportPlugin(myMapper);`. */
export function exportPlugin(mapper) {
  const mapOne = (text) => {
    let record;
    try {
      record = JSON.parse(text);
    } catch (e) {
      return reject([new FieldError("", "invalid-type", `the record is not valid JSON: ${e.message}`)]);
    }
    if (typeName(record) !== "object") {
      return reject([new FieldError("", "invalid-type", `a record must be a JSON object, got ${typeName(record)}`)]);
    }
    try {
      return mapper.mapRecord(host, record);
    } catch (e) {
      if (e instanceof RecordRejected) return reject(e.errors);
      throw e;
    }
  };
  return {
    describe() {
      const info = mapper.describe(host);
      return {
        name: info.name,
        version: info.version,
        sourceKind: info.sourceKind,
        inputSchema: info.inputSchema,
        configSchema: info.configSchema,
        columns: [...info.columns],
        phoneColumns: [...info.phoneColumns],
        actions: (info.actions ?? []).map((a) => ({ ...a })),
      };
    },
    map(records) {
      return records.map(mapOne);
    },
    action(name, input) {
      if (!mapper.action) {
        throw { code: "unknown-action", message: `this plugin offers no data action named ${rustDebug(name)}` };
      }
      let data;
      try {
        data = JSON.parse(input);
      } catch (e) {
        throw { code: "bad-input", message: `action ${rustDebug(name)}: input is not valid JSON: ${e.message}` };
      }
      try {
        return toJson(mapper.action(host, name, data));
      } catch (e) {
        if (e instanceof ActionFailed) throw { code: e.code, message: e.message };
        throw e;
      }
    },
  };
}
