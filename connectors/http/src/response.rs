//! What a function's 2xx answer means with `report_batch_item_failures: true`.

use serde_json::Value;
use sluice_core::record::Record;
use sluice_core::sink::SinkOutcome;

/// Parse a 2xx body into the outcome; `Err` fails the whole batch, with the reason.
pub fn batch_item_failures(body: &[u8], batch: &[Record]) -> Result<SinkOutcome, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(SinkOutcome::Delivered);
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("function response is not JSON: {e}"))?;
    let list = match &value {
        Value::Null => return Ok(SinkOutcome::Delivered),
        Value::Object(map) => match map.get("batchItemFailures") {
            None | Some(Value::Null) => return Ok(SinkOutcome::Delivered),
            Some(Value::Array(list)) => list,
            Some(_) => return Err("batchItemFailures is not a list".into()),
        },
        _ => return Err("function response is not a JSON object".into()),
    };
    // Positions by identifier, built once: a list may name every record of a large batch.
    let mut by_id: std::collections::HashMap<std::borrow::Cow<'_, str>, Vec<usize>> =
        std::collections::HashMap::with_capacity(batch.len());
    for (i, r) in batch.iter().enumerate() {
        let id = match r.item_id() {
            Some(own) => std::borrow::Cow::Borrowed(own),
            None => std::borrow::Cow::Owned(i.to_string()),
        };
        by_id.entry(id).or_default().push(i);
    }
    let mut is_failed = vec![false; batch.len()];
    for item in list {
        let id = match item.get("itemIdentifier") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(_)) => return Err("empty itemIdentifier".into()),
            Some(Value::Null) | None => {
                return Err("batchItemFailures entry without an itemIdentifier".into());
            }
            Some(_) => return Err("itemIdentifier is not a string".into()),
        };
        let positions = by_id
            .get(id.as_str())
            .ok_or_else(|| format!("itemIdentifier {id:?} is not in the batch"))?;
        for &i in positions {
            is_failed[i] = true;
        }
    }
    let failed: Vec<usize> = (0..batch.len()).filter(|&i| is_failed[i]).collect();
    Ok(if failed.is_empty() {
        SinkOutcome::Delivered
    } else {
        SinkOutcome::Partial { failed }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::testkit::record;

    fn batch() -> Vec<Record> {
        let mut b: Vec<Record> = (0..5).map(record).collect();
        b[4].meta.message_id = None; // named by position: "4"
        b
    }

    fn outcome(body: &str) -> Result<SinkOutcome, String> {
        batch_item_failures(body.as_bytes(), &batch())
    }

    #[test]
    fn full_success_forms() {
        for body in [
            "",
            "  ",
            "null",
            "{}",
            r#"{"batchItemFailures":[]}"#,
            r#"{"batchItemFailures":null}"#,
        ] {
            assert_eq!(outcome(body), Ok(SinkOutcome::Delivered), "{body:?}");
        }
    }

    #[test]
    fn only_named_records_fail() {
        let got =
            outcome(r#"{"batchItemFailures":[{"itemIdentifier":"3"},{"itemIdentifier":"1"}]}"#);
        assert_eq!(got, Ok(SinkOutcome::Partial { failed: vec![1, 3] }));
        // The record without a messageId is named by position, string or number.
        assert_eq!(
            outcome(r#"{"batchItemFailures":[{"itemIdentifier":4}]}"#),
            Ok(SinkOutcome::Partial { failed: vec![4] })
        );
        assert_eq!(
            outcome(r#"{"batchItemFailures":[{"itemIdentifier":"4"},{"itemIdentifier":"4"}]}"#),
            Ok(SinkOutcome::Partial { failed: vec![4] })
        );
    }

    #[test]
    fn whole_batch_failures() {
        for body in [
            "not json",
            r#"{"batchItemFailures":[{"itemIdentifier":"99"}]}"#,
            r#"{"batchItemFailures":[{"itemIdentifier":""}]}"#,
            r#"{"batchItemFailures":[{"itemIdentifier":null}]}"#,
            r#"{"batchItemFailures":[{"itemId":"1"}]}"#,
            r#"{"batchItemFailures":"1"}"#,
            r#"[1,2]"#,
            r#""ok""#,
        ] {
            assert!(outcome(body).is_err(), "{body:?}");
        }
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use sluice_core::testkit::record;

    /// Whatever a function answers, the outcome is `Ok` or `Err`, never a panic.
    #[test]
    fn no_answer_makes_the_parser_panic() {
        let batch: Vec<Record> = (0..5).map(record).collect();
        let seeds: [&[u8]; 6] = [
            br#"{"batchItemFailures":[{"itemIdentifier":"3"},{"itemIdentifier":1}]}"#,
            br#"{"batchItemFailures":null}"#,
            br#"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"#,
            br#"{"batchItemFailures":[{"itemIdentifier":1e999999}]}"#,
            b"\xff\xfe\x00{\"a\":",
            br#"{"batchItemFailures":[{"itemIdentifier":"\ud800"}]}"#,
        ];
        let mut rng = fastrand::Rng::with_seed(5);
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(batch_item_failures(deep.as_bytes(), &batch).is_err());
        for _ in 0..50_000 {
            let mut body = seeds[rng.usize(..seeds.len())].to_vec();
            for _ in 0..rng.usize(0..4) {
                if body.is_empty() {
                    break;
                }
                let i = rng.usize(..body.len());
                match rng.u8(0..3) {
                    0 => body[i] = rng.u8(..),
                    1 => {
                        body.remove(i);
                    }
                    _ => body.insert(i, rng.u8(..)),
                }
            }
            let _ = batch_item_failures(&body, &batch);
        }
    }
}
