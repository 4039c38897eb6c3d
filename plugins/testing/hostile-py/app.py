"""A deliberately misbehaving Python plugin, used only by the plugin runtime's
tests to prove a Python guest is contained like a Rust one. Each record is
``{"mode": "...", "id": "..."}``:

- ``ok``: a valid upsert with externalId ``py_<id>``;
- ``loop``: spins forever;
- ``grow``: allocates until memory runs out (a memory bomb);
- ``raise``: raises an uncaught exception (a trap).

Built by the test with ``componentize-py -d wit/v0.1.0 -w mapper componentize
-p plugins/testing/hostile-py -p plugins/sdk-py app``.
"""

import dialsync_sdk as sdk

SCHEMA = '{"type": "object", "required": ["mode"], "properties": {"mode": {"type": "string"}, "id": {"type": "string"}}}'


class Hostile:
    @staticmethod
    def describe(host):
        return sdk.PluginInfo(
            name="hostile-py",
            version="0.1.0",
            source_kind="custom",
            input_schema=SCHEMA,
            config_schema='{"type": "object"}',
            columns=["externalId", "name"],
            phone_columns=[],
        )

    @staticmethod
    def map_record(host, record):
        mode = record["mode"]
        if mode == "loop":
            n = 0
            while True:
                n += 1
        if mode == "grow":
            hoard = []
            while True:
                hoard.append(bytearray(1 << 20))
        if mode == "raise":
            raise RuntimeError("hostile plugin raised on purpose")
        return sdk.change(
            external_id="py_" + record["id"],
            source_id=record["id"],
            source_updated_at="2026-01-02T03:04:05Z",
            operation=sdk.UPSERT,
            columns=[("name", record["id"])],
            phones=[],
            callable=None,
        )


WitWorld = sdk.export(Hostile)
