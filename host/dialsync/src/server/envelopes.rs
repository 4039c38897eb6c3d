//! Unwraps a webhook body into the records it carries, whatever envelope the CRM used:
//! one JSON record, a JSON array, ServiceNow's `{"result": ...}`, Salesforce's
//! `{"records": [...]}`, Salesforce Change Data Capture events (bare or in the CometD
//! `{"data": {"payload": ...}}` envelope), or a Salesforce Outbound Message — the SOAP
//! `notifications` envelope with up to 100 `Notification`s, each with its own `Id`.
//!
//! It only unwraps; validation and mapping belong to the source's plugin. Errors name
//! the position in the body and what was expected.

use serde_json::{Map, Value};

/// Most notifications a Salesforce Outbound Message may carry.
pub const MAX_OUTBOUND_NOTIFICATIONS: usize = 100;

/// How the body was framed, which decides how the answer is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// JSON in, JSON out.
    Json,
    /// A Salesforce Outbound Message (SOAP); answered with a SOAP `Ack`.
    SalesforceOutbound,
}

/// One record found in a body.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundRecord {
    /// The record as the plugin will see it.
    pub value: Value,
    /// The sender's id for this record, when it has one (Salesforce Outbound Message
    /// notification `Id`): the dedup key for at-least-once senders.
    pub delivery_id: Option<String>,
}

/// The records a body carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Unwrapped {
    /// How the body was framed.
    pub kind: BodyKind,
    /// The records, in body order.
    pub records: Vec<InboundRecord>,
}

/// A body that could not be unwrapped (400).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed body: {0}")]
pub struct EnvelopeError(pub String);

/// Unwraps `body`; `content_type` (if any) decides between JSON and SOAP, otherwise the
/// first non-blank byte does (`<` means XML).
pub fn unwrap(body: &[u8], content_type: Option<&str>) -> Result<Unwrapped, EnvelopeError> {
    let looks_xml = match content_type {
        Some(ct) if ct.contains("xml") => true,
        Some(ct) if ct.contains("json") => false,
        _ => body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|&b| b == b'<'),
    };
    if looks_xml {
        return unwrap_outbound_message(body);
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| EnvelopeError(format!("not valid JSON: {e}")))?;
    let records = unwrap_json(value)?;
    if records.is_empty() {
        return Err(EnvelopeError("the body carries no records".into()));
    }
    Ok(Unwrapped {
        kind: BodyKind::Json,
        records: records
            .into_iter()
            .map(|value| InboundRecord {
                value,
                delivery_id: None,
            })
            .collect(),
    })
}

fn unwrap_json(value: Value) -> Result<Vec<Value>, EnvelopeError> {
    match value {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(obj) => Ok(unwrap_object(obj)),
                other => Err(EnvelopeError(format!(
                    "element [{i}] is {}, expected a JSON object",
                    type_name(&other)
                ))),
            })
            .collect(),
        Value::Object(mut obj) => {
            // ServiceNow Table API / scripted REST envelope.
            if obj.len() == 1
                && let Some(result) = obj.remove("result")
            {
                return unwrap_json(result);
            }
            // Salesforce query envelope.
            if let Some(Value::Array(_)) = obj.get("records")
                && obj.contains_key("totalSize")
            {
                return unwrap_json(obj.remove("records").unwrap_or_default());
            }
            Ok(vec![unwrap_object(obj)])
        }
        other => Err(EnvelopeError(format!(
            "the body is {}, expected a JSON object or array",
            type_name(&other)
        ))),
    }
}

/// A CometD CDC envelope `{"data": {"payload": {"ChangeEventHeader": ...}}, "channel": ...}`
/// becomes its payload; anything else stays as it is.
fn unwrap_object(mut obj: Map<String, Value>) -> Value {
    let is_cometd = obj
        .get("data")
        .and_then(|d| d.get("payload"))
        .and_then(|p| p.get("ChangeEventHeader"))
        .is_some();
    if is_cometd
        && let Some(Value::Object(mut data)) = obj.remove("data")
        && let Some(payload) = data.remove("payload")
    {
        return payload;
    }
    Value::Object(obj)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses a Salesforce Outbound Message. Each `Notification` becomes one record: the
/// `sObject`'s fields as strings (`xsi:nil` fields as `null`, `true`/`false` as
/// booleans), plus
/// `attributes.type` from `xsi:type` (e.g. `Contact`), as the REST API shapes records.
fn unwrap_outbound_message(body: &[u8]) -> Result<Unwrapped, EnvelopeError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| EnvelopeError(format!("the XML body is not UTF-8: {e}")))?;
    let doc = roxmltree::Document::parse(text)
        .map_err(|e| EnvelopeError(format!("not well-formed XML: {e}")))?;
    let notifications = doc
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "notifications")
        .ok_or_else(|| {
            EnvelopeError("no SOAP `notifications` element (Salesforce Outbound Message)".into())
        })?;
    let mut records = Vec::new();
    for (i, notification) in notifications
        .children()
        .filter(|n| n.is_element() && n.tag_name().name() == "Notification")
        .enumerate()
    {
        let id = child_text(notification, "Id")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| EnvelopeError(format!("Notification[{i}] has no `Id`")))?;
        let sobject = notification
            .children()
            .find(|n| n.is_element() && n.tag_name().name() == "sObject")
            .ok_or_else(|| {
                EnvelopeError(format!("Notification[{i}] (Id {id}) has no `sObject`"))
            })?;
        let mut fields = Map::new();
        if let Some(ty) = sobject
            .attributes()
            .find(|a| a.name() == "type")
            .map(|a| a.value())
        {
            let ty = ty.rsplit(':').next().unwrap_or(ty);
            fields.insert("attributes".into(), serde_json::json!({ "type": ty }));
        }
        for field in sobject.children().filter(|n| n.is_element()) {
            let nil = field
                .attributes()
                .any(|a| a.name() == "nil" && a.value() == "true");
            let text = field.text().unwrap_or("");
            let value = match (nil, text) {
                (true, _) => Value::Null,
                // xsd:boolean fields (DoNotCall, IsDeleted) as JSON booleans, as the
                // REST API gives them; the message carries no types, so this goes by value.
                (false, "true") => Value::Bool(true),
                (false, "false") => Value::Bool(false),
                (false, _) => Value::String(text.to_owned()),
            };
            fields.insert(field.tag_name().name().to_owned(), value);
        }
        records.push(InboundRecord {
            value: Value::Object(fields),
            delivery_id: Some(id),
        });
    }
    if records.is_empty() {
        return Err(EnvelopeError(
            "the Outbound Message carries no `Notification`".into(),
        ));
    }
    if records.len() > MAX_OUTBOUND_NOTIFICATIONS {
        return Err(EnvelopeError(format!(
            "the Outbound Message carries {} notifications; Salesforce sends at most {MAX_OUTBOUND_NOTIFICATIONS}",
            records.len()
        )));
    }
    Ok(Unwrapped {
        kind: BodyKind::SalesforceOutbound,
        records,
    })
}

fn child_text(node: roxmltree::Node<'_, '_>, name: &str) -> Option<String> {
    node.children()
        .find(|n| n.is_element() && n.tag_name().name() == name)
        .map(|n| n.text().unwrap_or("").trim().to_owned())
}

/// The SOAP answer Salesforce expects once every notification is durable.
pub const OUTBOUND_ACK: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">"#,
    r#"<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">"#,
    r#"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"#
);

/// A SOAP fault carrying `reason` (XML-escaped): Salesforce keeps the message and
/// retries it later.
pub fn outbound_fault(reason: &str) -> String {
    outbound_fault_with("soapenv:Server", reason)
}

/// A SOAP 1.1 fault with `faultcode` (`soapenv:Client` when the message itself was
/// refused, `soapenv:Server` when we failed) and `reason` (XML-escaped).
pub fn outbound_fault_with(faultcode: &str, reason: &str) -> String {
    let escaped = reason
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">"#,
            r#"<soapenv:Body><soapenv:Fault><faultcode>{}</faultcode>"#,
            r#"<faultstring>{}</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>"#
        ),
        faultcode, escaped
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(u: &Unwrapped) -> Vec<Value> {
        u.records.iter().map(|r| r.value.clone()).collect()
    }

    #[test]
    fn json_shapes() {
        let one = unwrap(br#"{"sys_id":"a"}"#, Some("application/json")).unwrap();
        assert_eq!(values(&one), vec![json!({"sys_id":"a"})]);
        let arr = unwrap(br#"[{"a":1},{"a":2}]"#, None).unwrap();
        assert_eq!(arr.records.len(), 2);
        let sn = unwrap(br#"{"result":[{"sys_id":"a"},{"sys_id":"b"}]}"#, None).unwrap();
        assert_eq!(
            values(&sn),
            vec![json!({"sys_id":"a"}), json!({"sys_id":"b"})]
        );
        let sn1 = unwrap(br#"{"result":{"sys_id":"a"}}"#, None).unwrap();
        assert_eq!(values(&sn1), vec![json!({"sys_id":"a"})]);
        let sf = unwrap(
            br#"{"totalSize":1,"done":true,"records":[{"Id":"003"}]}"#,
            None,
        )
        .unwrap();
        assert_eq!(values(&sf), vec![json!({"Id":"003"})]);
    }

    #[test]
    fn cdc_cometd_envelope_becomes_payload() {
        let body = json!([{
            "data": {"schema": "x", "payload": {"ChangeEventHeader": {"changeType": "UPDATE", "recordIds": ["003A"]}, "Phone": "1"}, "event": {"replayId": 7}},
            "channel": "/data/ContactChangeEvent"
        }]);
        let u = unwrap(body.to_string().as_bytes(), None).unwrap();
        assert_eq!(
            values(&u),
            vec![
                json!({"ChangeEventHeader": {"changeType": "UPDATE", "recordIds": ["003A"]}, "Phone": "1"})
            ]
        );
    }

    #[test]
    fn malformed_json_is_named() {
        assert!(
            unwrap(b"{not json", None)
                .unwrap_err()
                .0
                .contains("not valid JSON")
        );
        assert!(
            unwrap(b"[1]", None)
                .unwrap_err()
                .0
                .contains("element [0] is a number")
        );
        assert!(unwrap(b"[]", None).unwrap_err().0.contains("no records"));
        assert!(unwrap(b"\"x\"", None).unwrap_err().0.contains("a string"));
    }

    /// A Salesforce Outbound Message as the WSDL describes it.
    pub(crate) const SOAP: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>00D000000000001</OrganizationId>
   <ActionId>04k000000000001</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/60.0</EnterpriseUrl>
   <PartnerUrl>https://example.my.salesforce.com/services/Soap/u/60.0</PartnerUrl>
   <Notification>
    <Id>04l000000000001AAA</Id>
    <sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>003000000000001AAA</sf:Id>
     <sf:Phone>(415) 555-0100</sf:Phone>
     <sf:MobilePhone xsi:nil="true"/>
     <sf:DoNotCall>false</sf:DoNotCall>
    </sObject>
   </Notification>
   <Notification>
    <Id>04l000000000002AAA</Id>
    <sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>003000000000002AAA</sf:Id>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"#;

    #[test]
    fn outbound_message_notifications() {
        let u = unwrap(SOAP.as_bytes(), Some("text/xml; charset=utf-8")).unwrap();
        assert_eq!(u.kind, BodyKind::SalesforceOutbound);
        assert_eq!(u.records.len(), 2);
        assert_eq!(
            u.records[0].delivery_id.as_deref(),
            Some("04l000000000001AAA")
        );
        assert_eq!(
            u.records[0].value,
            json!({"attributes": {"type": "Contact"}, "Id": "003000000000001AAA", "Phone": "(415) 555-0100", "MobilePhone": null, "DoNotCall": false})
        );
        // Sniffed without a content type too.
        assert_eq!(unwrap(SOAP.as_bytes(), None).unwrap().records.len(), 2);
    }

    #[test]
    fn outbound_message_errors() {
        assert!(
            unwrap(b"<a><b></a>", None)
                .unwrap_err()
                .0
                .contains("not well-formed")
        );
        assert!(
            unwrap(b"<x/>", None)
                .unwrap_err()
                .0
                .contains("notifications")
        );
        let no_id = SOAP.replace("<Id>04l000000000002AAA</Id>", "");
        assert!(
            unwrap(no_id.as_bytes(), None)
                .unwrap_err()
                .0
                .contains("Notification[1] has no `Id`")
        );
    }

    #[test]
    fn fault_escapes() {
        assert!(outbound_fault("a<b&c").contains("a&lt;b&amp;c"));
    }
}
