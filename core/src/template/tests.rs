use super::*;
use crate::event::EventShape;
use crate::record::{DeliveryId, Record};
use bytes::Bytes;
use serde_json::{Value, json};

const SQS: EventShape = EventShape {
    event_source: "aws:sqs",
    list_key: "Records",
    records_carry_source: true,
    grouped: false,
    body_key: "body",
};
const MQ: EventShape = EventShape {
    event_source: "aws:mq",
    list_key: "messages",
    records_carry_source: false,
    grouped: false,
    body_key: "data",
};

fn context() -> TemplateContext {
    TemplateContext {
        pipe_name: "example".into(),
        pipe_arn: "arn:sluice:pipes:::pipe/example".into(),
        source_arn: "arn:aws:sqs:us-east-1:123456789012:orders".into(),
        enrichment_arn: String::new(),
        target_arn: "http://fn/".into(),
    }
}

/// An SQS-shaped record whose body is `body`.
fn sqs(body: &str) -> Record {
    let event = json!({"messageId": "m-1", "body": body, "attributes": {"SenderId": "AIDA123"}});
    Record::new(
        DeliveryId { epoch: 1, seq: 1 },
        Bytes::from(event.to_string()),
        Bytes::from(body.to_owned()),
    )
}

fn render(template: &str, record: &Record) -> String {
    let stage = TemplateStage::new(Template::compile(template).unwrap(), context(), SQS);
    let out = stage.apply(std::slice::from_ref(record), false);
    String::from_utf8(out[0].body.to_vec()).unwrap()
}

fn json_of(template: &str, record: &Record) -> Value {
    serde_json::from_str(&render(template, record)).unwrap()
}

#[test]
fn the_aws_documentation_examples() {
    let r = sqs(r#"{"key": "v", "Records": [0, 1, 2, {"x": 3}]}"#);
    assert_eq!(render("Hello, sender", &r), "Hello, sender");
    assert_eq!(render("<$.attributes.SenderId>", &r), "AIDA123");
    assert_eq!(
        render("Hello, <$.attributes.SenderId>", &r),
        "Hello, AIDA123"
    );
    assert_eq!(
        json_of(
            r#"{"key1": "value1", "key2": "value2", "key3": "value3"}"#,
            &r
        ),
        json!({"key1": "value1", "key2": "value2", "key3": "value3"})
    );
    assert_eq!(
        json_of(
            r#"{"key1": "value1", "key2": <$.body.key>, "d": <$.body.Records[3]>}"#,
            &r
        ),
        json!({"key1": "value1", "key2": "v", "d": {"x": 3}})
    );
    let out = json_of(
        r#"{"instance": <$.attributes.SenderId>, "pipeArn": <aws.pipes.pipe-arn>,
            "pipeName": <aws.pipes.pipe-name>, "originalEvent": <aws.pipes.event.json>}"#,
        &r,
    );
    assert_eq!(out["pipeName"], "example");
    assert_eq!(out["pipeArn"], "arn:sluice:pipes:::pipe/example");
    assert_eq!(out["originalEvent"]["body"]["Records"][3]["x"], 3);
}

#[test]
fn strings_and_values_are_placed_as_aws_documents() {
    let r = sqs(r#"{"s": "a \"q\"", "n": 7, "o": {"b": [1]}, "t": true}"#);
    assert_eq!(
        json_of(
            r#"{"s": <$.body.s>, "in": "s=<$.body.s> n=<$.body.n> o=<$.body.o>", "n": <$.body.n>,
                "o": <$.body.o>, "t": [9, <$.body.t>], "none": <$.body.none>, "e": "<$.body.none>"}"#,
            &r
        ),
        json!({"s": "a \"q\"", "in": "s=a \"q\" n=7 o={\"b\":[1]}", "n": 7, "o": {"b": [1]},
               "t": [9, true], "none": null, "e": ""})
    );
    // Text: strings as they are, other values as JSON, nothing for a missing path.
    assert_eq!(
        render("s=<$.body.s> o=<$.body.o> none=<$.body.none>.", &r),
        "s=a \"q\" o={\"b\":[1]} none=."
    );
    // Whitespace outside strings is dropped; inside strings kept.
    assert_eq!(render("{ \"a b\" :\n  [ 1 , 2 ] }", &r), r#"{"a b":[1,2]}"#);
}

#[test]
fn the_event_variables() {
    let r = sqs(r#"{"k": 1}"#);
    let out = json_of(
        r#"{"raw": <aws.pipes.event>, "json": <aws.pipes.event.json>, "text": "<aws.pipes.event>",
            "src": <aws.pipes.source-arn>, "t": <aws.pipes.event.ingestion-time>}"#,
        &r,
    );
    assert_eq!(out["raw"]["body"], r#"{"k": 1}"#);
    assert_eq!(out["json"]["body"], json!({"k": 1}));
    assert_eq!(
        serde_json::from_str::<Value>(out["text"].as_str().unwrap()).unwrap(),
        out["raw"]
    );
    assert_eq!(out["src"], "arn:aws:sqs:us-east-1:123456789012:orders");
    let t = out["t"].as_str().unwrap();
    assert!(
        t.len() == 24 && t.ends_with('Z') && t.as_bytes()[10] == b'T',
        "{t}"
    );
}

#[test]
fn a_body_that_is_not_json_keeps_its_value() {
    let r = sqs("plain <text>");
    assert_eq!(
        json_of(r#"{"b": <$.body>}"#, &r),
        json!({"b": "plain <text>"})
    );
    // Base64 data (ActiveMQ, RabbitMQ): decoded when JSON, else left as base64.
    let stage = TemplateStage::new(
        Template::compile(r#"{"d": <$.data>}"#).unwrap(),
        context(),
        MQ,
    );
    let mq = |body: &str, b64: &str| {
        Record::new(
            DeliveryId { epoch: 1, seq: 1 },
            Bytes::from(json!({"data": b64}).to_string()),
            Bytes::from(body.to_owned()),
        )
    };
    let out = stage.apply(&[mq(r#"{"x":1}"#, "eyJ4IjoxfQ=="), mq("hi", "aGk=")], false);
    assert_eq!(&out[0].body[..], br#"{"d":{"x":1}}"#);
    assert_eq!(&out[1].body[..], br#"{"d":"aGk="}"#);
}

#[test]
fn enriched_records_are_read_as_the_enrichment_returned_them() {
    let mut r = sqs("ignored");
    r.event = Bytes::from_static(br#"{"body": "{\"k\":1}", "extra": 2}"#);
    r.body = r.event.clone();
    let stage = TemplateStage::new(
        Template::compile(r#"{"b": <$.body>, "e": <$.extra>}"#).unwrap(),
        context(),
        SQS,
    );
    let out = stage.apply(&[r], true);
    assert_eq!(&out[0].body[..], br#"{"b":"{\"k\":1}","e":2}"#);
}

#[test]
fn the_record_keeps_its_identity_and_the_target_gets_valid_json() {
    let r = sqs("x");
    let stage = TemplateStage::new(
        Template::compile("id <$.messageId>").unwrap(),
        context(),
        SQS,
    );
    let out = stage.apply(std::slice::from_ref(&r), false);
    assert_eq!(out[0].id, r.id);
    assert_eq!(&out[0].body[..], b"id m-1");
    assert_eq!(&out[0].event[..], br#""id m-1""#);
    assert_eq!(out[0].meta.content_type.as_deref(), Some("text/plain"));
}

#[test]
fn a_less_than_sign_that_starts_no_placeholder_is_text() {
    let r = sqs("x");
    assert_eq!(render("a < b <$.messageId>", &r), "a < b m-1");
    assert_eq!(render(r#"{"a": "1 < 2"}"#, &r), r#"{"a":"1 < 2"}"#);
}

#[test]
fn invalid_templates_are_refused_with_a_location() {
    let cases: &[(&str, &str, usize, usize)] = &[
        ("{\n  \"a\": <$.x\n}", "not closed", 2, 8),
        ("{\"a\": <aws.pipes.nope>}", "unknown variable", 1, 7),
        ("{\"a\": <$..x>}", "expected a name", 1, 7),
        (
            "{\"a\": \"<aws.pipes.event.json>\"}",
            "only stand as a JSON value",
            1,
            8,
        ),
        (
            "text <aws.pipes.event.json>",
            "only stand as a JSON value",
            1,
            6,
        ),
        (
            "{\n  \"key1\": \"value1\"\n  \"key2\": <$.body.key>\n}",
            "not valid JSON",
            3,
            3,
        ),
        ("{\"a\": 1,}", "not valid JSON", 1, 9),
        ("[<$.a> <$.b>]", "not valid JSON", 1, 8),
    ];
    for (text, message, line, column) in cases {
        let e = Template::compile(text).expect_err(text);
        assert!(e.message.contains(message), "{text}: {e}");
        assert_eq!((e.line, e.column), (*line, *column), "{text}: {e}");
    }
}

#[test]
fn no_record_makes_rendering_panic() {
    let stage = TemplateStage::new(
        Template::compile(r#"{"a": <$.body.x[3]>, "b": "<$.*>", "c": <aws.pipes.event.json>}"#)
            .unwrap(),
        context(),
        SQS,
    );
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..2000 {
        let len = rng.usize(0..40);
        let bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        let mut r = sqs("");
        r.event = Bytes::from(bytes.clone());
        r.body = Bytes::from(bytes);
        let out = stage.apply(&[r], rng.bool());
        assert!(serde_json::from_slice::<Value>(&out[0].body).is_ok());
    }
}
