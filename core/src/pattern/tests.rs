//! The pattern language, case by case, with the AWS documentation as the oracle: the
//! EventBridge "content filtering" and "arrays" pages, the Lambda "event filtering" page, and
//! event-ruler's README for the corners the pages leave out.

use super::*;
use crate::testkit::{BARE_SHAPE, GROUPED_SHAPE};

fn check(pattern: &str, event: &str) -> bool {
    test_event_pattern(pattern, event).unwrap_or_else(|e| panic!("{pattern}: {e}"))
}

fn yes(pattern: &str, events: &[&str]) {
    for e in events {
        assert!(check(pattern, e), "{pattern} should match {e}");
    }
}

fn no(pattern: &str, events: &[&str]) {
    for e in events {
        assert!(!check(pattern, e), "{pattern} should not match {e}");
    }
}

fn invalid(pattern: &str, fragment: &str) {
    match Pattern::parse(pattern) {
        Ok(_) => panic!("{pattern} should be refused"),
        Err(e) => assert!(
            e.message.contains(fragment),
            "{pattern}: `{}` lacks `{fragment}`",
            e.message
        ),
    }
}

const EC2: &str = r#"{
  "version": "0", "id": "ddddd4-aaaa-7777-4444-345dd43cc333",
  "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
  "account": "012345679012", "time": "2017-10-02T16:24:49Z", "region": "us-east-1",
  "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
  "detail": {"c-count": 5, "d-count": 3, "x-limit": 301.8, "source-ip": "10.0.0.33",
             "instance-id": "i-000000aaaaaa00000", "state": "running"}
}"#;

#[test]
fn exact_values_and_lists() {
    yes(r#"{"source": ["aws.ec2"]}"#, &[EC2]);
    yes(r#"{"source": ["aws.ec2", "aws.fargate"]}"#, &[EC2]);
    yes(
        r#"{"detail-type": ["EC2 Instance State-change Notification"],
            "detail": {"state": ["initializing", "running"]}}"#,
        &[EC2],
    );
    no(r#"{"source": ["aws.s3"]}"#, &[EC2]);
    no(
        r#"{"detail": {"state": ["running"]}, "source": ["aws.s3"]}"#,
        &[EC2],
    );
    // Case matters, and a value is not a substring.
    no(r#"{"source": ["AWS.EC2"]}"#, &[EC2]);
    no(r#"{"source": ["aws"]}"#, &[EC2]);
    // The nesting must be the event's.
    no(r#"{"state": ["running"]}"#, &[EC2]);
    no(r#"{"detail": {"missing": ["x"]}}"#, &[EC2]);
}

#[test]
fn arrays_in_events_match_any_element() {
    yes(
        r#"{"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000", "x"]}"#,
        &[EC2],
    );
    yes(
        r#"{"a": ["x"]}"#,
        &[r#"{"a": ["w", "x"]}"#, r#"{"a": [["x"]]}"#],
    );
    no(r#"{"a": ["x"]}"#, &[r#"{"a": []}"#, r#"{"a": ["w"]}"#]);
    // Objects in arrays: keys are found through the array.
    let employees = r#"{"employees": [
        {"firstName": "John", "lastName": "Doe"},
        {"firstName": "Anna", "lastName": "Smith"},
        {"firstName": "Peter", "lastName": "Jones"}]}"#;
    yes(r#"{"employees": {"firstName": ["Anna"]}}"#, &[employees]);
    yes(
        r#"{"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}}"#,
        &[employees],
    );
    // Two keys from different elements of one array do not match together.
    no(
        r#"{"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}"#,
        &[employees],
    );
}

#[test]
fn numbers_strings_booleans_and_null() {
    yes(
        r#"{"n": [5]}"#,
        &[
            r#"{"n": 5}"#,
            r#"{"n": 5.0}"#,
            r#"{"n": 5e0}"#,
            r#"{"n": [1, 5]}"#,
        ],
    );
    no(r#"{"n": [5]}"#, &[r#"{"n": "5"}"#, r#"{"n": 6}"#]);
    no(r#"{"n": ["5"]}"#, &[r#"{"n": 5}"#]);
    // Too many digits for a double: matched by its text only.
    yes(
        r#"{"acct": [123456789012345678]}"#,
        &[r#"{"acct": 123456789012345678}"#],
    );
    no(
        r#"{"acct": [123456789012345678]}"#,
        &[r#"{"acct": 123456789012345680}"#],
    );
    yes(r#"{"b": [true]}"#, &[r#"{"b": true}"#]);
    no(r#"{"b": [true]}"#, &[r#"{"b": "true"}"#, r#"{"b": false}"#]);
    // null matches null, not a missing key; "" matches only "".
    yes(r#"{"x": [null]}"#, &[r#"{"x": null}"#]);
    no(
        r#"{"x": [null]}"#,
        &[r#"{"y": 1}"#, r#"{"x": ""}"#, r#"{"x": "null"}"#],
    );
    yes(r#"{"x": [""]}"#, &[r#"{"x": ""}"#]);
    no(
        r#"{"x": [""]}"#,
        &[r#"{"x": null}"#, r#"{"y": ""}"#, r#"{"x": " "}"#],
    );
}

#[test]
fn prefix_suffix_and_ignore_case() {
    yes(r#"{"time": [{"prefix": "2017-10-02"}]}"#, &[EC2]);
    no(r#"{"time": [{"prefix": "2017-10-03"}]}"#, &[EC2]);
    yes(r#"{"n": [{"prefix": "1"}]}"#, &[r#"{"n": "12"}"#]);
    no(r#"{"n": [{"prefix": "1"}]}"#, &[r#"{"n": 12}"#]);
    yes(
        r#"{"x": [{"prefix": ""}]}"#,
        &[r#"{"x": ""}"#, r#"{"x": "a"}"#],
    );
    no(r#"{"x": [{"prefix": ""}]}"#, &[r#"{"x": null}"#]);
    yes(
        r#"{"FileName": [{"suffix": ".png"}]}"#,
        &[r#"{"FileName": "a.png"}"#],
    );
    no(
        r#"{"FileName": [{"suffix": ".png"}]}"#,
        &[r#"{"FileName": "a.PNG"}"#],
    );
    yes(
        r#"{"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}"#,
        &[r#"{"FileName": "a.PNG"}"#, r#"{"FileName": "b.png"}"#],
    );
    yes(
        r#"{"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}"#,
        &[
            r#"{"service": "eventbridge"}"#,
            r#"{"service": "EVENTBRIDGE"}"#,
        ],
    );
    yes(r#"{"source": [{"equals-ignore-case": "AWS.EC2"}]}"#, &[EC2]);
    no(r#"{"source": [{"equals-ignore-case": "AWS.EC"}]}"#, &[EC2]);
}

#[test]
fn anything_but() {
    no(
        r#"{"detail": {"state": [{"anything-but": "running"}]}}"#,
        &[EC2],
    );
    yes(
        r#"{"detail": {"state": [{"anything-but": "initializing"}]}}"#,
        &[EC2],
    );
    yes(
        r#"{"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}"#,
        &[EC2],
    );
    no(
        r#"{"detail": {"x-limit": [{"anything-but": [100, 200, 301.8]}]}}"#,
        &[EC2],
    );
    yes(
        r#"{"detail": {"x-limit": [{"anything-but": 123}]}}"#,
        &[EC2],
    );
    no(r#"{"x": [{"anything-but": 3}]}"#, &[r#"{"x": 3.0}"#]);
    // Any other value, of any type, but not a missing key.
    yes(
        r#"{"x": [{"anything-but": "a"}]}"#,
        &[
            r#"{"x": 1}"#,
            r#"{"x": null}"#,
            r#"{"x": true}"#,
            r#"{"x": ["a", "b"]}"#,
        ],
    );
    no(
        r#"{"x": [{"anything-but": "a"}]}"#,
        &[r#"{"y": "b"}"#, r#"{"x": ["a"]}"#],
    );
    yes(r#"{"x": [{"anything-but": [1]}]}"#, &[r#"{"x": "1"}"#]);
    no(
        r#"{"state": [{"anything-but": {"prefix": "init"}}]}"#,
        &[r#"{"state": "initializing"}"#],
    );
    yes(
        r#"{"state": [{"anything-but": {"prefix": "init"}}]}"#,
        &[r#"{"state": "running"}"#],
    );
    no(
        r#"{"id": [{"anything-but": {"suffix": ["1234", "6789"]}}]}"#,
        &[r#"{"id": "i-6789"}"#],
    );
    no(
        r#"{"state": [{"anything-but": {"equals-ignore-case": ["Stopped", "OverLoaded"]}}]}"#,
        &[r#"{"state": "STOPPED"}"#],
    );
    yes(
        r#"{"state": [{"anything-but": {"equals-ignore-case": "Stopped"}}]}"#,
        &[r#"{"state": "running"}"#],
    );
    no(
        r#"{"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}"#,
        &[r#"{"FilePath": "/usr/lib/x.so"}"#],
    );
    yes(
        r#"{"FilePath": [{"anything-but": {"wildcard": ["*/lib/*", "*/bin/*.jar"]}}]}"#,
        &[r#"{"FilePath": "/usr/share/x"}"#],
    );
}

#[test]
fn numeric() {
    yes(
        r#"{"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}],
                       "d-count": [{"numeric": ["<", 10]}],
                       "x-limit": [{"numeric": ["=", 3.018e2]}]}}"#,
        &[EC2],
    );
    no(
        r#"{"detail": {"c-count": [{"numeric": [">", 5]}]}}"#,
        &[EC2],
    );
    yes(
        r#"{"detail": {"c-count": [{"numeric": [">=", 5]}]}}"#,
        &[EC2],
    );
    yes(
        r#"{"n": [{"numeric": ["=", 5]}]}"#,
        &[r#"{"n": 5.0}"#, r#"{"n": 5}"#],
    );
    no(
        r#"{"n": [{"numeric": [">", 0]}]}"#,
        &[r#"{"n": "5"}"#, r#"{"n": null}"#],
    );
    // Lambda's examples: RecordNumber > 9999.
    let p = r#"{"body": {"RecordNumber": [{"numeric": [">", 9999]}]}}"#;
    no(p, &[r#"{"body": {"RecordNumber": 1234}}"#]);
    yes(p, &[r#"{"body": {"RecordNumber": 10000}}"#]);
    yes(
        r#"{"n": [{"numeric": [">", -1e300, "<", 1e300]}]}"#,
        &[r#"{"n": -12.5}"#, r#"{"n": 1e299}"#],
    );
    // A number no double holds is never in a range.
    no(
        r#"{"n": [{"numeric": [">", 0]}]}"#,
        &[r#"{"n": 123456789012345678}"#],
    );
}

#[test]
fn ip_addresses() {
    yes(
        r#"{"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}"#,
        &[EC2],
    );
    no(
        r#"{"detail": {"source-ip": [{"cidr": "10.0.1.0/24"}]}}"#,
        &[EC2],
    );
    yes(
        r#"{"ip": [{"cidr": "2001:db8::/32"}]}"#,
        &[r#"{"ip": "2001:db8::1"}"#, r#"{"ip": "2001:DB8:0:0::ff"}"#],
    );
    no(
        r#"{"ip": [{"cidr": "2001:db8::/32"}]}"#,
        &[r#"{"ip": "10.0.0.1"}"#],
    );
    no(
        r#"{"ip": [{"cidr": "10.0.0.0/8"}]}"#,
        &[r#"{"ip": "not an ip"}"#, r#"{"ip": 10}"#],
    );
    // An address in a value list matches the address however it is written.
    yes(
        r#"{"ip": ["10.0.0.1"]}"#,
        &[r#"{"ip": "10.0.0.1"}"#, r#"{"ip": "10.0.0.01"}"#],
    );
    yes(r#"{"ip": ["::1"]}"#, &[r#"{"ip": "0:0:0:0:0:0:0:1"}"#]);
}

#[test]
fn exists() {
    yes(r#"{"detail": {"c-count": [{"exists": true}]}}"#, &[EC2]);
    no(r#"{"detail": {"c-count": [{"exists": false}]}}"#, &[EC2]);
    yes(r#"{"detail": {"e-count": [{"exists": false}]}}"#, &[EC2]);
    // Leaves only: an object, an empty array or object is not there; null is.
    let p_true = r#"{"c": [{"exists": true}]}"#;
    let p_false = r#"{"c": [{"exists": false}]}"#;
    for (event, there) in [
        (r#"{"c": {"c1": 100}}"#, false),
        (r#"{"c": []}"#, false),
        (r#"{"c": {}}"#, false),
        (r#"{"c": null}"#, true),
        (r#"{"c": ""}"#, true),
        (r#"{"c": [1]}"#, true),
        (r#"{"d": 1}"#, false),
    ] {
        assert_eq!(check(p_true, event), there, "{p_true} / {event}");
        assert_eq!(check(p_false, event), !there, "{p_false} / {event}");
    }
    // exists: false beside a key matched in an array element looks at that element only.
    let ev = r#"{"d": [{"a": 1}, {"b": 5}]}"#;
    yes(r#"{"d": {"a": [1], "b": [{"exists": false}]}}"#, &[ev]);
    no(r#"{"d": {"a": [1], "b": [{"exists": true}]}}"#, &[ev]);
}

#[test]
fn wildcards() {
    yes(
        r#"{"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}"#,
        &[r#"{"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/default"}"#],
    );
    no(
        r#"{"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}"#,
        &[r#"{"EventBusArn": "arn:aws:events:us-west-2:123456789012:event-bus/default"}"#],
    );
    yes(
        r#"{"k": [{"wildcard": "*"}]}"#,
        &[r#"{"k": ""}"#, r#"{"k": "abc"}"#],
    );
    no(r#"{"k": [{"wildcard": "*"}]}"#, &[r#"{"k": 1}"#]);
    yes(r#"{"k": [{"wildcard": "a\\*b"}]}"#, &[r#"{"k": "a*b"}"#]);
    no(r#"{"k": [{"wildcard": "a\\*b"}]}"#, &[r#"{"k": "axb"}"#]);
}

#[test]
fn or_at_any_level() {
    let p = r#"{"source": ["aws.cloudwatch"],
                "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]},
                        {"namespace": ["AWS/EC2", "AWS/ES"]}]}"#;
    yes(
        p,
        &[
            r#"{"source": "aws.cloudwatch", "metricName": "ReadLatency"}"#,
            r#"{"source": "aws.cloudwatch", "namespace": "AWS/ES"}"#,
        ],
    );
    no(
        p,
        &[
            r#"{"source": "aws.cloudwatch", "metricName": "Other"}"#,
            r#"{"source": "aws.ec2", "namespace": "AWS/ES"}"#,
        ],
    );
    let nested = r#"{"detail": {"$or": [{"c-count": [{"numeric": [">", 10]}]},
                                        {"$or": [{"state": ["running"]}, {"d-count": [7]}]}]}}"#;
    yes(nested, &[EC2]);
    // "$or" as an ordinary field name when it is not an OR (event-ruler's compatibility).
    yes(r#"{"$or": {"a": ["b"]}}"#, &[r#"{"$or": {"a": "b"}}"#]);
    yes(
        r#"{"$or": [{"numeric": [">", 1]}, {"prefix": "ab"}]}"#,
        &[r#"{"$or": "abc"}"#],
    );
}

#[test]
fn dotted_names_are_paths() {
    yes(r#"{"a.b": [1]}"#, &[r#"{"a": {"b": 1}}"#]);
    yes(r#"{"a": {"b": [1]}}"#, &[r#"{"a.b": 1}"#]);
    // A dotted member name at any depth, in part or whole.
    let abc = r#"{"a": {"b": {"c": [1]}}}"#;
    yes(
        abc,
        &[
            r#"{"a": {"b.c": 1}}"#,
            r#"{"a.b": {"c": 1}}"#,
            r#"{"a.b.c": 1}"#,
        ],
    );
    no(
        abc,
        &[r#"{"a": {"b.d": 1}}"#, r#"{"a.b": 1}"#, r#"{"a.bc": 1}"#],
    );
}

/// Patterns compiled together share the fields they read: one reading a path as a leaf and
/// another reading inside it both see an event where it is both (an array of a number and an
/// object), and each sees only its own rules.
#[test]
fn patterns_compiled_together_keep_their_own_answers() {
    let set = PatternSet::new(&[
        Pattern::parse(r#"{"a": [1]}"#).unwrap(),
        Pattern::parse(r#"{"a": {"b": [2]}}"#).unwrap(),
        Pattern::parse(r#"{"a": {"b": [3]}, "c": [{"exists": false}]}"#).unwrap(),
    ]);
    let mut flat = FlatEvent::new();
    let answers = |flat: &mut FlatEvent, event: &str| -> Vec<bool> {
        set.load(flat, event.as_bytes()).unwrap();
        (0..set.len()).map(|i| set.matches(i, flat)).collect()
    };
    assert_eq!(
        answers(&mut flat, r#"{"a": [1, {"b": 2}]}"#),
        [true, true, false]
    );
    assert_eq!(
        answers(&mut flat, r#"{"a": {"b": 3}}"#),
        [false, false, true]
    );
    assert_eq!(
        answers(&mut flat, r#"{"a": {"b": 3}, "c": 0}"#),
        [false, false, false]
    );
    assert_eq!(
        answers(&mut flat, r#"{"x": {"a": 1}}"#),
        [false, false, false]
    );
}

#[test]
fn invalid_patterns_say_what_and_where() {
    for (pattern, fragment) in [
        ("[]", "Filter is not an object"),
        ("{}", "Empty objects are not allowed"),
        (r#"{"a": {}}"#, "Empty objects are not allowed"),
        (r#"{"a": "b"}"#, "\"a\" must be an object or an array"),
        (r#"{"a": []}"#, "Empty arrays are not allowed"),
        (r#"{"a": [["b"]]}"#, "Match value must be"),
        (r#"{"a": [{}]}"#, "Match expression name not found"),
        (
            r#"{"a": [{"regex": "x"}]}"#,
            "Unrecognized match type regex",
        ),
        (
            r#"{"a": [{"prefix": 1}]}"#,
            "prefix match pattern must be a string",
        ),
        (
            r#"{"a": [{"prefix": "x", "suffix": "y"}]}"#,
            "Only one key allowed",
        ),
        (
            r#"{"a": [{"prefix": {"x": "y"}}]}"#,
            "Unsupported prefix pattern: x",
        ),
        (
            r#"{"a": [{"suffix": {"equals-ignore-case": 3}}]}"#,
            "must be a string",
        ),
        (
            r#"{"a": [{"equals-ignore-case": ["x"]}]}"#,
            "must be a string",
        ),
        (r#"{"a": [{"exists": "true"}]}"#, "either true or false"),
        (r#"{"a": [{"numeric": 5}]}"#, "must be an array"),
        (
            r#"{"a": [{"numeric": []}]}"#,
            "Invalid member in numeric match",
        ),
        (
            r#"{"a": [{"numeric": [5, ">"]}]}"#,
            "Invalid member in numeric match: 5",
        ),
        (
            r#"{"a": [{"numeric": ["!=", 5]}]}"#,
            "Unrecognized numeric range operator",
        ),
        (
            r#"{"a": [{"numeric": [">", "5"]}]}"#,
            "Value of > must be numeric",
        ),
        (
            r#"{"a": [{"numeric": ["<", 5, ">", 1]}]}"#,
            "Too many elements",
        ),
        (
            r#"{"a": [{"numeric": [">", 1, ">", 2]}]}"#,
            "Bad numeric range operator",
        ),
        (
            r#"{"a": [{"numeric": [">", 10, "<", 5]}]}"#,
            "Bottom must be less than top",
        ),
        (
            r#"{"a": [{"numeric": [">=", 5, "<=", 5]}]}"#,
            "Bottom must be less than top",
        ),
        (
            r#"{"a": [{"numeric": [">", 1e400]}]}"#,
            "Cannot compare number",
        ),
        (
            r#"{"a": [{"numeric": ["=", 123456789012345678]}]}"#,
            "Cannot compare number",
        ),
        (
            r#"{"a": [{"anything-but": null}]}"#,
            "must be an array or single",
        ),
        (r#"{"a": [{"anything-but": [true]}]}"#, "not supported"),
        (r#"{"a": [{"anything-but": ["x", 1]}]}"#, "mixed type"),
        (r#"{"a": [{"anything-but": []}]}"#, "mixed type"),
        (
            r#"{"a": [{"anything-but": {"exactly": "x"}}]}"#,
            "Unsupported anything-but",
        ),
        (
            r#"{"a": [{"anything-but": {"prefix": ""}}]}"#,
            "Null prefix/suffix",
        ),
        (
            r#"{"a": [{"anything-but": {"prefix": 5}}]}"#,
            "must be a string",
        ),
        (
            r#"{"a": [{"anything-but": {"wildcard": "a**"}}]}"#,
            "Consecutive wildcard",
        ),
        (
            r#"{"a": [{"wildcard": "a**b"}]}"#,
            "Consecutive wildcard characters",
        ),
        (
            r#"{"a": [{"wildcard": "a\\b"}]}"#,
            "Invalid escape character",
        ),
        (r#"{"a": [{"cidr": "10.0.0.0"}]}"#, "one '/' required"),
        (
            r#"{"a": [{"cidr": "10.0.0.256/24"}]}"#,
            "Invalid IP address",
        ),
        (
            r#"{"a": [{"cidr": "10.0.0.0/33"}]}"#,
            "mask bits must be < 32",
        ),
        (r#"{"a": [{"cidr": "x/8"}]}"#, "Nonstandard IP address"),
        (r#"{"$or": [{"a": ["b"]}]}"#, "at least 2 Objects"),
        (
            r#"{"$or": [{"a": ["b"]}, "c"]}"#,
            "Only JSON object is allowed",
        ),
        (
            r#"{"$or": [{"prefix": ["b"]}, {"a": ["c"]}]}"#,
            "reserved fieldName",
        ),
        (r#"{"a": ["b"],}"#, "unexpected `}`"),
    ] {
        invalid(pattern, fragment);
    }
    let e = Pattern::parse("{\n  \"a\": [{\"numeric\": [\">\", \"x\"]}]\n}").unwrap_err();
    assert_eq!((e.line, e.column), (2, 27), "{e}");
}

#[test]
fn records_are_matched_with_their_decoded_body() {
    use crate::record::{DeliveryId, Record};
    let id = DeliveryId { epoch: 0, seq: 0 };
    let bare = |body: &str| {
        let event = serde_json::json!({"messageId": "m1", "body": body, "attributes": {"ApproximateReceiveCount": "1"}});
        Record::new(
            id,
            event.to_string().into_bytes().into(),
            body.as_bytes().to_vec().into(),
        )
    };
    let filter = |p: &str| Filter::new(vec![Pattern::parse(p).unwrap()], &BARE_SHAPE);
    let mut scratch = FlatEvent::new();
    // Lambda's example: RequestCode BBBB only.
    let f = filter(r#"{"body": {"RequestCode": ["BBBB"]}}"#);
    assert!(f.accepts(
        &bare(r#"{"RecordNumber": 1234, "RequestCode": "BBBB"}"#),
        &mut scratch
    ));
    assert!(!f.accepts(
        &bare(r#"{"RecordNumber": 1234, "RequestCode": "AAAA"}"#),
        &mut scratch
    ));
    // A body that is not JSON never matches a pattern that looks into it...
    assert!(!f.accepts(&bare("RequestCode BBBB"), &mut scratch));
    // ... even when it starts as JSON: what was read of it is dropped when its end is not.
    let broken = r#"{"RecordNumber": 1, "RequestCode": "BBBB", oops"#;
    assert!(!f.accepts(&bare(broken), &mut scratch));
    assert!(
        filter(&format!(r#"{{"body": [{}]}}"#, serde_json::json!(broken)))
            .accepts(&bare(broken), &mut scratch)
    );
    // ... but matches as a plain string, and patterns on other keys see it as any record.
    assert!(filter(r#"{"body": ["hello"]}"#).accepts(&bare("hello"), &mut scratch));
    assert!(!filter(r#"{"body": ["hello"]}"#).accepts(&bare(r#"{"a": 1}"#), &mut scratch));
    let meta = filter(r#"{"attributes": {"ApproximateReceiveCount": ["1"]}}"#);
    assert!(meta.accepts(&bare("not json {"), &mut scratch));
    assert!(meta.accepts(&bare(r#"{"a": 1}"#), &mut scratch));
    // A `data` shape: `data` holds base64 in the event, the decoded body for filters.
    let mq = Record::new(
        id,
        br#"{"messageID":"x","data":"eyJ0eXBlIjoib3JkZXIifQ=="}"#
            .to_vec()
            .into(),
        br#"{"type":"order"}"#.to_vec().into(),
    );
    let f = Filter::new(
        vec![Pattern::parse(r#"{"data": {"type": ["order"]}}"#).unwrap()],
        &GROUPED_SHAPE,
    );
    assert!(f.accepts(&mq, &mut scratch));
}

#[test]
fn matching_reuses_its_buffers() {
    use crate::record::{DeliveryId, Record};
    let body = r#"{"type": "order", "total": 250, "items": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}], "note": "x\u00e9"}"#;
    let event =
        serde_json::json!({"messageId": "m", "body": body, "attributes": {"SentTimestamp": "1"}});
    let record = Record::new(
        DeliveryId { epoch: 0, seq: 0 },
        event.to_string().into_bytes().into(),
        body.as_bytes().to_vec().into(),
    );
    let filter = Filter::new(
        vec![
            Pattern::parse(
                r#"{"body": {"items": {"sku": ["B"], "qty": [{"numeric": ["<", 2]}]}}}"#,
            )
            .unwrap(),
            Pattern::parse(
                r#"{"body": {"type": [{"prefix": "ord"}], "missing": [{"exists": false}]}}"#,
            )
            .unwrap(),
        ],
        &BARE_SHAPE,
    );
    let mut flat = FlatEvent::new();
    assert!(filter.accepts(&record, &mut flat));
    let warm = flat.capacities();
    for _ in 0..100 {
        assert!(filter.accepts(&record, &mut flat));
    }
    assert_eq!(flat.capacities(), warm);
}
