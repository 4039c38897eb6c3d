"""Drives the dialsync emulator with the official Genesys Cloud Python SDK
(PureCloudPlatformClientV2), unchanged. Usage: sdk_compat.py BASE_URL CLIENT_ID CLIENT_SECRET.
Prints one JSON summary line; exits non-zero on any unexpected behaviour."""
import json
import sys
import urllib.request

import PureCloudPlatformClientV2 as pc
from PureCloudPlatformClientV2.rest import ApiException

base, client_id, secret = sys.argv[1:4]


def control(config):
    req = urllib.request.Request(base + "/_emulator/config", data=json.dumps(config).encode(), method="PUT",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 200, r.status


def expect_error(status, code, fn):
    try:
        fn()
    except ApiException as e:
        assert e.status == status, (e.status, e.body)
        body = json.loads(e.body)
        assert body["code"] == code, body
        assert body["status"] == status, body
        return body
    raise AssertionError(f"expected HTTP {status} {code}")


pc.configuration.host = base
api_client = pc.api_client.ApiClient().get_client_credentials_token(client_id, secret)
outbound = pc.OutboundApi(api_client)
routing = pc.RoutingApi(api_client)

lst = pc.ContactList()
lst.name = "SDK list"
lst.column_names = ["externalId", "firstName", "phone"]
col = pc.ContactPhoneNumberColumn()
col.column_name = "phone"
col.type = "cell"
lst.phone_columns = [col]
created = outbound.post_outbound_contactlists(lst)
assert created.id and created.version == 1, created

c = pc.WritableDialerContact()
c.id = "py-1"
c.contact_list_id = created.id
c.data = {"externalId": "P1", "firstName": "Py", "phone": "+14155550123"}
added = outbound.post_outbound_contactlist_contacts(created.id, [c], priority=True)
assert [a.id for a in added] == ["py-1"], added

got = outbound.get_outbound_contactlist_contact(created.id, "py-1")
assert got.data["firstName"] == "Py", got
got.data["firstName"] = "Python"
put = outbound.put_outbound_contactlist_contact(created.id, "py-1", got)
assert put.data["firstName"] == "Python", put

bad = pc.WritableDialerContact()
bad.contact_list_id = created.id
bad.data = {"externalId": "P2", "Nope": "x"}
err = expect_error(400, "invalid.property", lambda: outbound.post_outbound_contactlist_contacts(created.id, [bad]))
assert "Nope" in err["message"], err

outbound.delete_outbound_contactlist_contact(created.id, "py-1")
expect_error(404, "not.found", lambda: outbound.get_outbound_contactlist_contact(created.id, "py-1"))

# 429 bursts WITH Retry-After: urllib3 inside the SDK sleeps and retries, so calls succeed.
control({"burst_429_rate": 0.5})
ok_with_retry = 0
for _ in range(6):
    routing.get_routing_skills(page_size=25)
    ok_with_retry += 1

# Over the limit WITHOUT Retry-After: the SDK raises the 429 to the caller.
control({"burst_429_rate": 0.0, "rate_limit_per_minute": 1, "retry_after_header": False})
raised_429 = 0
for _ in range(5):
    expect_error(429, "too.many.requests.retry.after", lambda: routing.get_routing_skills(page_size=25))
    raised_429 += 1

print(json.dumps({"listId": created.id, "okWithRetry": ok_with_retry, "raised429": raised_429}))
