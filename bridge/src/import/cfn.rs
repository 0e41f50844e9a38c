//! CloudFormation and SAM templates (JSON or YAML, short-form intrinsics such as `!GetAtt`
//! read as their long form) → the resources `import` converts.

use super::aws::{from_esm, from_pipe};
use super::draft::Draft;
use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde_json::{Map, Value as Json, json};

/// A template's text as JSON: JSON as is, YAML with its tags turned into intrinsic functions.
pub(super) fn parse(text: &str) -> Result<Json, String> {
    if let Ok(v) = serde_json::from_str(text) {
        return Ok(v);
    }
    let docs = MarkedYaml::load_from_str(text).map_err(|e| {
        format!(
            "{}:{}: neither JSON nor YAML: {}",
            e.marker().line(),
            e.marker().col() + 1,
            e.info()
        )
    })?;
    docs.first()
        .map(to_json)
        .ok_or_else(|| "the file is empty".into())
}

fn scalar(s: &Scalar<'_>) -> Json {
    match s {
        Scalar::Null => Json::Null,
        Scalar::Boolean(b) => Json::Bool(*b),
        Scalar::Integer(i) => json!(i),
        Scalar::FloatingPoint(f) => json!(f.into_inner()),
        Scalar::String(s) => Json::String(s.to_string()),
    }
}

/// `!Ref X` → `{"Ref": X}`, `!GetAtt A.B` → `{"Fn::GetAtt": [A, B]}`, `!Sub ...` →
/// `{"Fn::Sub": ...}`, and so on for every `!NAME`.
fn intrinsic(name: &str, inner: Json) -> Json {
    match name {
        "Ref" | "Condition" => json!({ name: inner }),
        "GetAtt" => match inner {
            Json::String(s) => {
                let (a, b) = s.split_once('.').unwrap_or((&s, ""));
                json!({"Fn::GetAtt": [a, b]})
            }
            other => json!({"Fn::GetAtt": other}),
        },
        _ => json!({ format!("Fn::{name}"): inner }),
    }
}

fn to_json(y: &MarkedYaml<'_>) -> Json {
    match &y.data {
        YamlData::Value(s) => scalar(s),
        YamlData::Representation(s, _, tag) => {
            let v = Json::String(s.to_string());
            match tag {
                Some(t) if t.handle == "!" => intrinsic(&t.suffix, v),
                _ => v,
            }
        }
        YamlData::Sequence(items) => Json::Array(items.iter().map(to_json).collect()),
        YamlData::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match to_json(k) {
                    Json::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(key, to_json(v));
            }
            Json::Object(out)
        }
        YamlData::Tagged(tag, inner) if tag.handle == "!" => intrinsic(&tag.suffix, to_json(inner)),
        YamlData::Tagged(_, inner) => to_json(inner),
        YamlData::Alias(_) | YamlData::BadValue => Json::Null,
    }
}

/// Every resource `import` converts, in the template's order of logical ids (sorted).
pub(super) fn drafts(file: &str, template: &Map<String, Json>) -> Vec<Result<Draft, String>> {
    let Some(resources) = template.get("Resources").and_then(Json::as_object) else {
        return vec![Err(format!("{file}: a template without Resources"))];
    };
    let mut out = Vec::new();
    for (id, r) in resources {
        let kind = r.get("Type").and_then(Json::as_str).unwrap_or_default();
        let props = r
            .get("Properties")
            .and_then(Json::as_object)
            .cloned()
            .unwrap_or_default();
        let origin = format!("imported from {file}: Resources.{id} ({kind})");
        match kind {
            "AWS::Lambda::EventSourceMapping" => {
                out.push(from_esm(&props, origin).map_err(|e| format!("{file}: {id}: {e}")))
            }
            "AWS::Pipes::Pipe" => {
                let mut props = props;
                if let Some(target) = props.get_mut("Target") {
                    name_function(target, resources);
                }
                out.push(from_pipe(&props, origin, id).map_err(|e| format!("{file}: {id}: {e}")))
            }
            "AWS::Serverless::Function" => out.extend(sam_events(file, id, &props)),
            _ => {}
        }
    }
    if out.is_empty() {
        out.push(Err(format!(
            "{file}: no AWS::Lambda::EventSourceMapping, AWS::Pipes::Pipe or SAM function with SQS or MQ events"
        )));
    }
    out
}

/// A reference to a function defined in the same template (`!GetAtt Fn.Arn`, `!Ref Fn`) stands
/// for that function: it becomes its name, so the pipe's target is a function.
fn name_function(value: &mut Json, resources: &Map<String, Json>) {
    let Some(m) = value.as_object() else {
        return;
    };
    let id = match (m.get("Ref"), m.get("Fn::GetAtt")) {
        (Some(Json::String(r)), _) => r.clone(),
        (_, Some(Json::Array(a))) => match a.first() {
            Some(Json::String(r)) => r.clone(),
            _ => return,
        },
        _ => return,
    };
    let kind = resources
        .get(&id)
        .and_then(|r| r.get("Type"))
        .and_then(Json::as_str);
    if matches!(
        kind,
        Some("AWS::Lambda::Function" | "AWS::Serverless::Function")
    ) {
        let name = resources[&id]
            .get("Properties")
            .and_then(|p| p.get("FunctionName"))
            .and_then(Json::as_str)
            .unwrap_or(&id)
            .to_owned();
        *value = Json::String(format!("arn:aws:lambda:REGION:ACCOUNT:function:{name}"));
    }
}

/// A SAM function's `Events` of type `SQS` and `MQ`, read as event source mappings.
fn sam_events(file: &str, id: &str, props: &Map<String, Json>) -> Vec<Result<Draft, String>> {
    let function = props
        .get("FunctionName")
        .cloned()
        .unwrap_or_else(|| json!({"Ref": id}));
    let Some(events) = props.get("Events").and_then(Json::as_object) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (event, e) in events {
        let kind = e.get("Type").and_then(Json::as_str).unwrap_or_default();
        let mut p = e
            .get("Properties")
            .and_then(Json::as_object)
            .cloned()
            .unwrap_or_default();
        let arn_key = match kind {
            "SQS" => "Queue",
            "MQ" => "Broker",
            _ => continue,
        };
        if let Some(a) = p.remove(arn_key) {
            p.insert("EventSourceArn".into(), a);
        }
        p.insert("FunctionName".into(), function.clone());
        let origin =
            format!("imported from {file}: Resources.{id}.Events.{event} (SAM {kind} event)");
        out.push(from_esm(&p, origin).map_err(|e| format!("{file}: {id}.{event}: {e}")));
    }
    out
}
