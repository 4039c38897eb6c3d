// Drives the dialsync emulator with the official Genesys Cloud JavaScript SDK
// (purecloud-platform-client-v2 262.0.0), unchanged. Usage:
//   NODE_PATH=<dir with node_modules> node scenario.js BASE_URL CLIENT_ID CLIENT_SECRET
// The same steps as scenario.py (see there). The JS SDK has no automatic 429 retry, so the
// scenario does what a JS caller has to: on a 429 it reads Retry-After, waits, and retries.
// Extended responses (the SDK's `setReturnExtendedResponses(true)`) give every answer and
// error as {status, headers, body}; `ok()` takes the body of a success.
// Prints one JSON summary line; exits non-zero on any unexpected behaviour.
'use strict';
const assert = require('assert');
const http = require('http');
const platformClient = require('purecloud-platform-client-v2');

const [base, clientId, secret] = process.argv.slice(2, 5);
const USER = '00000000-0000-4000-8000-a9e470000000';
const SKILLS = ['00000000-0000-4000-8000-5b1110000000', '00000000-0000-4000-8000-5b1110000001'];
const LANGS = ['00000000-0000-4000-8000-1a9900000000', '00000000-0000-4000-8000-1a9900000001'];

function control(config) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}/_emulator/config`, { method: 'PUT', headers: { 'Content-Type': 'application/json' } },
      (res) => { res.resume(); res.statusCode === 200 ? resolve() : reject(new Error(`control: ${res.statusCode}`)); });
    req.on('error', reject);
    req.end(JSON.stringify(config));
  });
}

async function expectError(status, code, fn) {
  try {
    await fn();
  } catch (e) {
    assert.strictEqual(e.status, status, JSON.stringify(e.body));
    assert.strictEqual(e.body.code, code, JSON.stringify(e.body));
    assert.strictEqual(e.body.status, status, JSON.stringify(e.body));
    return e;
  }
  throw new Error(`expected HTTP ${status} ${code}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ok = async (call) => (await call).body;

async function main() {
  const url = new URL(base);
  const client = platformClient.ApiClient.instance;
  client.setGateway({ host: url.hostname, port: Number(url.port), protocol: url.protocol.replace(':', '') });
  await client.loginClientCredentialsGrant(clientId, secret);
  client.setReturnExtendedResponses(true);
  const outbound = new platformClient.OutboundApi();
  const users = new platformClient.UsersApi();
  const routing = new platformClient.RoutingApi();
  const integrations = new platformClient.IntegrationsApi();

  // --- contact lists and contacts
  const created = await ok(outbound.postOutboundContactlists({
    name: 'JS list', columnNames: ['externalId', 'firstName', 'phone'],
    phoneColumns: [{ columnName: 'phone', type: 'cell' }],
  }));
  assert.ok(created.id && created.version === 1, JSON.stringify(created));
  const listing = await ok(outbound.getOutboundContactlists({ pageSize: 25, name: 'JS list' }));
  assert.deepStrictEqual(listing.entities.map((l) => l.id), [created.id]);

  const added = await ok(outbound.postOutboundContactlistContacts(created.id, [{
    id: 'js-1', contactListId: created.id, data: { externalId: 'J1', firstName: 'Js', phone: '+14155550123' },
  }], { priority: true }));
  assert.deepStrictEqual(added.map((a) => a.id), ['js-1']);
  const got = await ok(outbound.getOutboundContactlistContact(created.id, 'js-1'));
  assert.strictEqual(got.data.firstName, 'Js');
  got.data.firstName = 'JavaScript';
  const put = await ok(outbound.putOutboundContactlistContact(created.id, 'js-1', got));
  assert.strictEqual(put.data.firstName, 'JavaScript');
  const bad = await expectError(400, 'invalid.property', () => outbound.postOutboundContactlistContacts(created.id, [
    { contactListId: created.id, data: { externalId: 'J2', Nope: 'x' } }]));
  assert.ok(bad.body.message.includes('Nope'), bad.body.message);
  await ok(outbound.deleteOutboundContactlistContact(created.id, 'js-1'));
  await expectError(404, 'not.found', () => outbound.getOutboundContactlistContact(created.id, 'js-1'));

  // --- DNC
  const dnc = await ok(outbound.postOutboundDnclists({ name: 'JS DNC', dncSourceType: 'rds' }));
  await ok(outbound.postOutboundDnclistPhonenumbers(dnc.id, ['+14155550123', '+14155550124']));
  await ok(outbound.patchOutboundDnclistPhonenumbers(dnc.id, { action: 'Remove', phoneNumbers: ['+14155550124'] }));

  // --- users: PATCH with the current version, a stale one (409), and employerInfo
  const user = await ok(users.getUser(USER));
  const patched = await ok(users.patchUser(USER, {
    version: user.version, title: 'Senior Agent', employerInfo: { employeeId: 'E-200', employeeType: 'Full-time' },
  }));
  assert.strictEqual(patched.version, user.version + 1);
  assert.strictEqual(patched.title, 'Senior Agent');
  const conflict = await expectError(409, 'general.conflict', () => users.patchUser(USER, { version: user.version, department: 'Sales' }));
  assert.strictEqual(conflict.body.entityId, USER);

  // --- routing skills and languages: replace, add, remove
  const replaced = await ok(users.putUserRoutingskillsBulk(USER, [{ id: SKILLS[0], proficiency: 3 }, { id: SKILLS[1], proficiency: 1 }]));
  assert.deepStrictEqual(replaced.entities.map((s) => s.id).sort(), SKILLS);
  await ok(users.deleteUserRoutingskill(USER, SKILLS[1]));
  assert.deepStrictEqual((await ok(users.getUserRoutingskills(USER))).entities.map((s) => s.id), [SKILLS[0]]);
  await ok(users.patchUserRoutinglanguagesBulk(USER, [{ id: LANGS[0], proficiency: 4 }, { id: LANGS[1], proficiency: 2 }]));
  await ok(users.deleteUserRoutinglanguage(USER, LANGS[1]));
  const langs = (await ok(users.getUserRoutinglanguages(USER))).entities;
  assert.deepStrictEqual(langs.map((l) => [l.id, l.proficiency]), [[LANGS[0], 4]]);
  await expectError(404, 'not.found', () => users.deleteUserRoutinglanguage(USER, LANGS[1]));

  // --- a Web Services Data Actions integration and a data action on it
  const integration = await ok(integrations.postIntegrations({
    body: { name: 'JS web services', integrationType: { id: 'custom-rest-actions' } },
  }));
  const action = await ok(integrations.postIntegrationsActions({
    name: 'JS request count', category: 'sdk', integrationId: integration.id, secure: false,
    contract: {
      input: { inputSchema: { $schema: 'http://json-schema.org/draft-04/schema#', type: 'object', properties: { label: { type: 'string' } } } },
      output: { successSchema: { $schema: 'http://json-schema.org/draft-04/schema#', type: 'object', properties: { total: { type: 'integer' }, label: { type: 'string' } } } },
    },
    config: {
      timeoutSeconds: 10,
      request: { requestUrlTemplate: `${base}/_emulator/stats`, requestType: 'GET', headers: { Accept: 'application/json' } },
      response: { translationMap: { total: '$.total' }, successTemplate: '{"total": ${total}, "label": "$esc.jsonString(${input.label})"}' },
    },
  }));
  const result = await ok(integrations.postIntegrationsActionExecute(action.id, { label: 'from "js"' }));
  assert.strictEqual(result.label, 'from "js"');
  assert.ok(result.total > 0, JSON.stringify(result));

  // --- 429 bursts WITH Retry-After: wait as told and retry.
  await control({ burst_429_rate: 0.5 });
  let okWithRetry = 0;
  let retried429 = 0;
  for (let i = 0; i < 6; i++) {
    for (let attempt = 1; ; attempt++) {
      try {
        await ok(routing.getRoutingSkills({ pageSize: 25 }));
        okWithRetry++;
        break;
      } catch (e) {
        assert.strictEqual(e.status, 429, JSON.stringify(e.body));
        assert.strictEqual(e.body.code, 'too.many.requests.retry.after');
        const wait = Number(e.headers['retry-after']);
        assert.ok(wait >= 1, `Retry-After: ${e.headers['retry-after']}`);
        assert.ok(attempt < 30, 'a 429 burst did not end');
        retried429++;
        await sleep(wait * 1000);
      }
    }
  }
  // Over the limit WITHOUT Retry-After.
  await control({ burst_429_rate: 0.0, rate_limit_per_minute: 1, retry_after_header: false });
  let raised429 = 0;
  for (let i = 0; i < 5; i++) {
    const e = await expectError(429, 'too.many.requests.retry.after', () => routing.getRoutingSkills({ pageSize: 25 }));
    assert.strictEqual(e.headers['retry-after'], undefined);
    raised429++;
  }
  console.log(JSON.stringify({ listId: created.id, dncListId: dnc.id, actionId: action.id, okWithRetry, retried429, raised429 }));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : JSON.stringify(e));
  process.exit(1);
});
