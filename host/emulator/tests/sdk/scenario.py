"""Drives the dialsync emulator with the official Genesys Cloud Python SDK
(PureCloudPlatformClientV2 269.0.0), unchanged. Usage: scenario.py BASE_URL CLIENT_ID CLIENT_SECRET.

The scenario: client-credentials token; contact lists (create, list); contacts add/get/update/
delete (and a 400 for an unknown column); a DNC list (create, add numbers, remove one);
users PATCH with the current version, a stale version (409) and employerInfo; routing skills
and languages (replace, add, remove); a Web Services Data Actions integration and a data action
(create, execute); 429s with Retry-After (the SDK's urllib3 retries them) and without (raised).
Prints one JSON summary line; exits non-zero on any unexpected behaviour. Its sibling
scenario.js runs the same steps with the JavaScript SDK."""
import json
import sys
import urllib.request

import PureCloudPlatformClientV2 as pc
from PureCloudPlatformClientV2.rest import ApiException

base, client_id, secret = sys.argv[1:4]
USER = "00000000-0000-4000-8000-a9e470000000"   # sample org: first agent
SKILLS = ["00000000-0000-4000-8000-5b1110000000", "00000000-0000-4000-8000-5b1110000001"]
LANGS = ["00000000-0000-4000-8000-1a9900000000", "00000000-0000-4000-8000-1a9900000001"]


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
users = pc.UsersApi(api_client)
integrations = pc.IntegrationsApi(api_client)

# --- contact lists and contacts
lst = pc.ContactList()
lst.name = "SDK list"
lst.column_names = ["externalId", "firstName", "phone"]
col = pc.ContactPhoneNumberColumn()
col.column_name = "phone"
col.type = "cell"
lst.phone_columns = [col]
created = outbound.post_outbound_contactlists(lst)
assert created.id and created.version == 1, created
listing = outbound.get_outbound_contactlists(page_size=25, name="SDK list")
assert [l.id for l in listing.entities] == [created.id], listing

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

# --- DNC
dnc_req = pc.DncListCreate()
dnc_req.name = "SDK DNC"
dnc_req.dnc_source_type = "rds"
dnc = outbound.post_outbound_dnclists(dnc_req)
outbound.post_outbound_dnclist_phonenumbers(dnc.id, ["+14155550123", "+14155550124"])
patch = pc.DncPatchPhoneNumbersRequest()
patch.action = "Remove"
patch.phone_numbers = ["+14155550124"]
outbound.patch_outbound_dnclist_phonenumbers(dnc.id, patch)

# --- users: PATCH with the current version, a stale one (409), and employerInfo
user = users.get_user(USER)
upd = pc.UpdateUser()
upd.version = user.version
upd.title = "Senior Agent"
info = pc.EmployerInfo()
info.employee_id = "E-100"
info.employee_type = "Full-time"
upd.employer_info = info
patched = users.patch_user(USER, upd)
assert patched.version == user.version + 1 and patched.title == "Senior Agent", patched
stale = pc.UpdateUser()
stale.version = user.version
stale.department = "Sales"
conflict = expect_error(409, "general.conflict", lambda: users.patch_user(USER, stale))
assert conflict["entityId"] == USER, conflict

# --- routing skills and languages: replace, add, remove
def skill(i, p):
    s = pc.UserRoutingSkillPost()
    s.id, s.proficiency = SKILLS[i], p
    return s


def lang(i, p):
    l = pc.UserRoutingLanguagePost()
    l.id, l.proficiency = LANGS[i], p
    return l


replaced = users.put_user_routingskills_bulk(USER, [skill(0, 3.0), skill(1, 1.0)])
assert sorted(s.id for s in replaced.entities) == SKILLS, replaced
users.delete_user_routingskill(USER, SKILLS[1])
assert [s.id for s in users.get_user_routingskills(USER).entities] == [SKILLS[0]]
users.patch_user_routinglanguages_bulk(USER, [lang(0, 4.0), lang(1, 2.0)])
users.delete_user_routinglanguage(USER, LANGS[1])
langs = users.get_user_routinglanguages(USER).entities
assert [(l.id, l.proficiency) for l in langs] == [(LANGS[0], 4.0)], langs
expect_error(404, "not.found", lambda: users.delete_user_routinglanguage(USER, LANGS[1]))

# --- a Web Services Data Actions integration and a data action on it
ireq = pc.CreateIntegrationRequest()
ireq.name = "SDK web services"
itype = pc.IntegrationType()
itype.id = "custom-rest-actions"
ireq.integration_type = itype
integration = integrations.post_integrations(body=ireq)
action_in = pc.PostActionInput()
action_in.name = "SDK request count"
action_in.category = "sdk"
action_in.integration_id = integration.id
action_in.secure = False
contract = pc.ActionContractInput()
contract.input = pc.PostInputContract()
contract.input.input_schema = pc.JsonSchemaDocument()
contract.input.input_schema.schema = "http://json-schema.org/draft-04/schema#"
contract.input.input_schema.type = "object"
contract.input.input_schema.properties = {"label": {"type": "string"}}
contract.output = pc.PostOutputContract()
contract.output.success_schema = pc.JsonSchemaDocument()
contract.output.success_schema.schema = "http://json-schema.org/draft-04/schema#"
contract.output.success_schema.type = "object"
contract.output.success_schema.properties = {"total": {"type": "integer"}, "label": {"type": "string"}}
action_in.contract = contract
cfg = pc.ActionConfig()
cfg.timeout_seconds = 10
cfg.request = pc.RequestConfig()
cfg.request.request_url_template = base + "/_emulator/stats"
cfg.request.request_type = "GET"
cfg.request.headers = {"Accept": "application/json"}
cfg.response = pc.ResponseConfig()
cfg.response.translation_map = {"total": "$.total"}
cfg.response.success_template = '{"total": ${total}, "label": "$esc.jsonString(${input.label})"}'
action_in.config = cfg
action = integrations.post_integrations_actions(action_in)
result = integrations.post_integrations_action_execute(action.id, {"label": "from \"python\""})
assert result["label"] == 'from "python"' and result["total"] > 0, result

# --- 429 bursts WITH Retry-After: urllib3 inside the SDK sleeps and retries, so calls succeed.
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

print(json.dumps({"listId": created.id, "dncListId": dnc.id, "actionId": action.id,
                  "okWithRetry": ok_with_retry, "raised429": raised_429}))
