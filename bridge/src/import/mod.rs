//! `sluice import FILE...`: AWS definitions → pipe YAML on stdout.
//!
//! Reads Lambda event source mappings (the JSON of `aws lambda get-event-source-mapping` or
//! `list-event-source-mappings`, or `create-`/`update-`'s answer), EventBridge Pipes (the JSON
//! of `aws pipes describe-pipe`), and CloudFormation / SAM templates in JSON or YAML
//! (`AWS::Lambda::EventSourceMapping`, `AWS::Pipes::Pipe`, SAM `Events` of type `SQS` and `MQ`).
//!
//! Carried over: the source queue (an SQS ARN becomes its queue URL; Amazon MQ queues by name),
//! batch size and window, `ScalingConfig.MaximumConcurrency`, `FilterCriteria` patterns verbatim,
//! `FunctionResponseTypes`, enabled/desired state, an SQS on-failure destination or dead-letter
//! queue, Pipes' target `InputTemplate` and log level. What has no self-hosted equivalent (a
//! broker ARN, a Secrets Manager secret, a function, a CloudFormation reference) becomes a
//! `${env:...}` placeholder, listed at the top of the pipe with what to put there and an example;
//! every other input key is listed under "Not carried over" with the reason. Nothing is dropped
//! without a word. An input Sluice cannot read (a Kinesis or DocumentDB mapping, say) is an error
//! on stderr and exit 1; the others are still printed.

mod aws;
mod cfn;
mod draft;

use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

/// Run `sluice import`.
pub(crate) fn run(files: &[PathBuf]) -> ExitCode {
    let mut drafts = Vec::new();
    let mut failed = false;
    for file in files {
        let shown = file.display().to_string();
        for d in read(file, &shown) {
            match d {
                Ok(d) => drafts.push(d),
                Err(e) => {
                    eprintln!("{e}");
                    failed = true;
                }
            }
        }
    }
    let mut names = BTreeSet::new();
    let mut out = String::new();
    for mut d in drafts {
        let base = d.name.clone();
        let mut n = 2;
        while !names.insert(d.name.clone()) {
            d.name = format!("{}-{n}", &base[..base.len().min(60)]);
            n += 1;
        }
        if !out.is_empty() {
            out.push_str("---\n");
        }
        out.push_str(&d.render());
    }
    print!("{out}");
    if failed || out.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn read(file: &PathBuf, shown: &str) -> Vec<Result<draft::Draft, String>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return vec![Err(format!("{shown}: cannot read: {e}"))],
    };
    let doc = match cfn::parse(&text) {
        Ok(v) => v,
        Err(e) => return vec![Err(format!("{shown}:{e}"))],
    };
    let Some(obj) = doc.as_object() else {
        return vec![Err(format!("{shown}: expected a JSON or YAML object"))];
    };
    if let Some(list) = obj.get("EventSourceMappings").and_then(Json::as_array) {
        return list
            .iter()
            .enumerate()
            .map(|(i, m)| match m.as_object() {
                Some(m) => aws::from_esm(
                    m,
                    format!("imported from {shown}: EventSourceMappings[{i}]"),
                )
                .map_err(|e| format!("{shown}: EventSourceMappings[{i}]: {e}")),
                None => Err(format!(
                    "{shown}: EventSourceMappings[{i}] is not an object"
                )),
            })
            .collect();
    }
    if obj.contains_key("EventSourceArn") {
        return vec![
            aws::from_esm(
                obj,
                format!("imported from {shown} (a Lambda event source mapping)"),
            )
            .map_err(|e| format!("{shown}: {e}")),
        ];
    }
    if obj.contains_key("Source") && obj.contains_key("Target") {
        return vec![
            aws::from_pipe(
                obj,
                format!("imported from {shown} (an EventBridge pipe)"),
                "imported",
            )
            .map_err(|e| format!("{shown}: {e}")),
        ];
    }
    if obj.contains_key("Resources") {
        return cfn::drafts(shown, obj);
    }
    vec![Err(format!(
        "{shown}: not an event source mapping, a pipe, or a CloudFormation/SAM template"
    ))]
}
