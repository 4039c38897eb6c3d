// dialsync mapping plugin for a custom CRM, in JavaScript: the same
// configurable mapping as the Rust plugin in plugins/custom-crm (same
// configuration keys, defaults, field errors and outcomes), built with
// @bytecodealliance/componentize-js by `node build.mjs`.

import * as sdk from "./dialsync_sdk.js";
import { FieldError, get, has, toPointer, typeName, rustDebug, toJson } from "./dialsync_sdk.js";
import INPUT_SCHEMA from "../../schemas/custom-crm-record.schema.json";
import CONFIG_SCHEMA from "../custom-crm/config.schema.json";

class ConfigError extends Error {}

const asciiLower = (s) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

/** "When `field` equals one of `equals`": the do-not-call and deleted rules. */
class Rule {
  constructor(field, equals) {
    this.field = field;
    this.equals = equals;
  }
  /** Strings compare trimmed and case-insensitively, and a string matches a
   * number or boolean with the same text; an absent field never matches. */
  matches(record) {
    if (!has(record, this.field)) return false;
    const value = get(record, this.field);
    return this.equals.some((want) => {
      if (typeName(want) === typeName(value) && toJson(want) === toJson(value)) return true;
      if (typeof value === "string" && typeof want === "string") {
        return asciiLower(sdk.rustTrim(value)) === asciiLower(sdk.rustTrim(want));
      }
      if (typeof value === "string" || typeof want === "string") {
        const [text, other] = typeof value === "string" ? [value, want] : [want, value];
        return asciiLower(sdk.rustTrim(text)) === asciiLower(toJson(other));
      }
      return false;
    });
  }
}

function defaults() {
  return {
    keyFields: ["id"],
    updatedAtField: "updated_at",
    updatedAtFormat: "rfc3339",
    columns: [["firstName", "first_name"], ["lastName", "last_name"], ["email", "email"]],
    phoneFields: [["phone", "phone"], ["mobile", "mobile"]],
    defaultRegion: undefined,
    regionField: "country",
    doNotCall: new Rule("do_not_call", [true, "true", "yes", "1"]),
    deleted: new Rule("deleted", [true, "true"]),
  };
}

function structured(host, key) {
  const text = host.config(key);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new ConfigError(`${key}: expected a JSON value, got ${rustDebug(text)}`);
  }
}

function paths(value, key) {
  if (!Array.isArray(value) || value.length === 0) throw new ConfigError(`${key}: expected a non-empty list of field paths`);
  value.forEach((item, i) => {
    if (typeof item !== "string" || item === "") throw new ConfigError(`${key}[${i}]: expected a field path, got ${toJson(item)}`);
  });
  return value;
}

function columnMap(value, key) {
  if (typeName(value) !== "object") throw new ConfigError(`${key}: expected an object of column name → field path`);
  return Object.entries(value).map(([column, path]) => {
    if (column === "" || [...column].length > 128 || column === "externalId") {
      throw new ConfigError(`${key}: ${rustDebug(column)} is not a usable column name (1..=128 chars, not the reserved externalId)`);
    }
    if (typeof path !== "string" || path === "") throw new ConfigError(`${key}.${column}: expected a field path, got ${toJson(path)}`);
    return [column, path];
  });
}

function rule(value, key) {
  const field = value?.field;
  const equals = value?.equals;
  if (typeof field === "string" && field !== "" && Array.isArray(equals) && equals.length > 0) return new Rule(field, equals);
  throw new ConfigError(`${key}: expected {"field": <path>, "equals": [<values>...]}, got ${toJson(value)}`);
}

/** The configuration from the host; absent keys keep their defaults. */
function loadConfig(host) {
  const c = defaults();
  let v;
  if ((v = structured(host, "key_fields")) !== undefined) c.keyFields = paths(v, "key_fields");
  if ((v = host.config("updated_at_field")) !== undefined) c.updatedAtField = v;
  if ((v = host.config("updated_at_format")) !== undefined) {
    try {
      c.updatedAtFormat = sdk.checkTimestampFormat(v);
    } catch (e) {
      throw new ConfigError(`updated_at_format: ${e.message}`);
    }
  }
  if ((v = structured(host, "columns")) !== undefined) c.columns = columnMap(v, "columns");
  if ((v = structured(host, "phone_fields")) !== undefined) c.phoneFields = columnMap(v, "phone_fields");
  c.defaultRegion = host.config("default_region");
  if ((v = host.config("region_field")) !== undefined) c.regionField = v;
  if ((v = structured(host, "do_not_call")) !== undefined) c.doNotCall = rule(v, "do_not_call");
  if ((v = structured(host, "deleted")) !== undefined) c.deleted = rule(v, "deleted");
  if (c.phoneFields.length === 0) throw new ConfigError("phone_fields: at least one phone column is needed");
  const both = c.phoneFields.find(([p]) => c.columns.some(([col]) => col === p));
  if (both) throw new ConfigError(`column ${rustDebug(both[0])} is in both columns and phone_fields`);
  return c;
}

/** The value at `path`, or a `missing` error when the record lacks it. */
function present(record, path) {
  if (!has(record, path)) {
    throw FieldError.missing(toPointer(path), "the plugin configuration maps this field, but the record lacks it");
  }
  return get(record, path);
}

function requiredValue(record, path) {
  const v = get(record, path, null);
  if (v === null) throw FieldError.missing(toPointer(path), "a value");
  if (typeof v === "string" && sdk.rustTrim(v) === "") throw FieldError.missing(toPointer(path), "a non-empty value");
  return v;
}

function required(record, path) {
  requiredValue(record, path);
  const text = scalar(record, path);
  if (text === undefined) throw FieldError.missing(toPointer(path), "a value");
  return text;
}

/** Strings as they are, numbers and booleans written out, absent/null → undefined. */
function scalar(record, path) {
  const v = get(record, path, null);
  if (v === null) return undefined;
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return toJson(v);
  const p = toPointer(path);
  throw new FieldError(p, "invalid-type", `${p} must be a string, number or boolean, got ${typeName(v)}`);
}

/** A phone field: a string or null (numbers lose the leading + and zeros). */
function phoneText(record, path) {
  const v = get(record, path, null);
  if (v === null || typeof v === "string") return v;
  const p = toPointer(path);
  throw new FieldError(p, "invalid-type", `${p} must be a phone number string, got ${typeName(v)}`);
}

const customCrm = {
  describe(host) {
    let config;
    try {
      config = loadConfig(host);
    } catch (e) {
      host.log("error", `invalid configuration: ${e.message}`);
      config = defaults();
    }
    const all = [...config.columns, ...config.phoneFields].map(([name]) => name);
    return {
      name: "custom-crm-js",
      version: "0.1.0",
      sourceKind: "custom",
      inputSchema: INPUT_SCHEMA,
      configSchema: CONFIG_SCHEMA,
      columns: ["externalId", ...all],
      phoneColumns: config.phoneFields.map(([name]) => name),
    };
  },

  mapRecord(host, record) {
    let config;
    try {
      config = loadConfig(host);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      return sdk.reject([new FieldError("", "invalid-config", `plugin configuration ${e.message}`)]);
    }
    let region;
    try {
      region = sdk.regionCode(scalar(record, config.regionField));
    } catch {
      region = undefined;
    }
    const b = new sdk.ChangeBuilder(host, region ?? config.defaultRegion);
    const key = config.keyFields.map((p) => b.check(() => required(record, p)));
    const updatedAt = b.check(() => {
      const value = requiredValue(record, config.updatedAtField);
      try {
        return sdk.parseTimestamp(config.updatedAtFormat, value);
      } catch (e) {
        if (!(e instanceof sdk.TimeError)) throw e;
        throw new FieldError(toPointer(config.updatedAtField), "invalid-date", e.message);
      }
    });
    for (const [column, path] of config.columns) {
      b.check(() => {
        present(record, path);
        b.column(column, toPointer(path), scalar(record, path));
      });
    }
    for (const [column, path] of config.phoneFields) {
      b.check(() => {
        present(record, path);
        b.phone(column, toPointer(path), phoneText(record, path));
      });
    }
    const [columns, phones] = b.finish();
    let externalId;
    try {
      externalId = sdk.externalId("crm", key);
    } catch (e) {
      return sdk.reject([new FieldError(toPointer(config.keyFields[0]), "invalid-id", e.message)]);
    }
    let operation;
    if (config.deleted.matches(record)) operation = sdk.REMOVE;
    else if (config.doNotCall.matches(record)) operation = sdk.DO_NOT_CALL;
    // Also with no phone at all: the host clears the phone columns and makes the
    // contact uncallable (the numbers were cleared in the CRM).
    else operation = sdk.UPSERT;
    return sdk.change({
      externalId,
      sourceId: key.join("/"),
      sourceUpdatedAt: updatedAt,
      operation,
      columns,
      phones,
      callable: operation === sdk.REMOVE ? null : operation === sdk.UPSERT,
    });
  },
};

export const { describe, map, action } = sdk.exportPlugin(customCrm);
