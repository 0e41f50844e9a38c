//! A pipe being written by `sluice import`: what was understood, what needs filling in, and
//! what has no equivalent, rendered as commented pipe YAML.

use std::fmt::Write;

/// A value the user must supply: an environment variable with a note and an example.
#[derive(Clone, Debug)]
pub(super) struct Placeholder {
    pub var: String,
    pub note: String,
    pub example: String,
}

/// A source or target setting: a literal, or a placeholder.
#[derive(Clone, Debug)]
pub(super) enum Value {
    Text(String),
    Env(Placeholder),
}

impl Value {
    fn yaml(&self) -> String {
        match self {
            Value::Text(s) => quoted(s),
            Value::Env(p) => quoted(&format!("${{env:{}}}", p.var)),
        }
    }
}

#[derive(Clone, Debug)]
pub(super) enum Source {
    Sqs {
        queue_url: Value,
        region: Option<String>,
    },
    ActiveMq {
        url: Value,
        username: Option<Value>,
        password: Option<Value>,
        queues: Vec<Value>,
    },
    RabbitMq {
        url: Value,
        vhost: Option<String>,
        queues: Vec<Value>,
    },
}

#[derive(Clone, Debug)]
pub(super) enum Target {
    /// A function: where it runs self-hosted is a placeholder; the AWS name is kept in a
    /// comment and in the `lambda` alternative.
    Function {
        url: Value,
        aws_name: String,
    },
    Sqs {
        queue_url: Value,
        group_id: Option<String>,
    },
    Http {
        url: Value,
    },
}

/// One pipe, as `import` understood it.
#[derive(Clone, Debug)]
pub(super) struct Draft {
    pub name: String,
    /// Where it came from (the first comment line).
    pub origin: String,
    pub enabled: bool,
    pub source: Source,
    pub filters: Vec<String>,
    pub enrichment: Option<Value>,
    pub target: Target,
    pub input_template: Option<String>,
    pub batch_size: Option<u64>,
    pub window_secs: Option<u64>,
    pub concurrency: Option<u64>,
    pub report_batch_item_failures: bool,
    pub dead_letter: Option<Value>,
    pub log_level: Option<String>,
    pub include_payload: bool,
    /// What was not carried over, and why (never silently dropped).
    pub notes: Vec<String>,
}

impl Draft {
    pub(super) fn new(name: String, origin: String, source: Source, target: Target) -> Self {
        Draft {
            name,
            origin,
            enabled: true,
            source,
            filters: Vec::new(),
            enrichment: None,
            target,
            input_template: None,
            batch_size: None,
            window_secs: None,
            concurrency: None,
            report_batch_item_failures: false,
            dead_letter: None,
            log_level: None,
            include_payload: false,
            notes: Vec::new(),
        }
    }

    /// Every placeholder, in the order they appear.
    fn placeholders(&self) -> Vec<&Placeholder> {
        let mut all: Vec<&Value> = Vec::new();
        match &self.source {
            Source::Sqs { queue_url, .. } => all.push(queue_url),
            Source::ActiveMq {
                url,
                username,
                password,
                queues,
            } => {
                all.push(url);
                all.extend(username.iter().chain(password));
                all.extend(queues);
            }
            Source::RabbitMq { url, queues, .. } => {
                all.push(url);
                all.extend(queues);
            }
        }
        all.extend(&self.enrichment);
        match &self.target {
            Target::Function { url, .. } | Target::Http { url } => all.push(url),
            Target::Sqs { queue_url, .. } => all.push(queue_url),
        }
        all.extend(&self.dead_letter);
        let mut out: Vec<&Placeholder> = Vec::new();
        for v in all {
            if let Value::Env(p) = v
                && !out.iter().any(|o| o.var == p.var)
            {
                out.push(p);
            }
        }
        out
    }

    /// The pipe as commented YAML.
    pub(super) fn render(&self) -> String {
        let mut y = String::new();
        let _ = writeln!(y, "# {}", self.origin);
        let holes = self.placeholders();
        if !holes.is_empty() {
            let _ = writeln!(
                y,
                "# Fill in before running (no self-hosted equivalent was in the input):"
            );
            for p in &holes {
                let _ = writeln!(y, "#   {}: {}", p.var, p.note);
                let _ = writeln!(y, "#   export {}={}", p.var, shell_quoted(&p.example));
            }
        }
        let _ = writeln!(y, "name: {}", self.name);
        if !self.enabled {
            let _ = writeln!(y, "enabled: false");
        }
        y.push_str("source:\n");
        match &self.source {
            Source::Sqs { queue_url, region } => {
                let _ = writeln!(y, "  sqs:\n    queue_url: {}", queue_url.yaml());
                if let Some(r) = region {
                    let _ = writeln!(y, "    region: {r}");
                }
            }
            Source::ActiveMq {
                url,
                username,
                password,
                queues,
            } => {
                let _ = writeln!(y, "  activemq:\n    url: {}", url.yaml());
                if let Some(u) = username {
                    let _ = writeln!(y, "    username: {}", u.yaml());
                }
                if let Some(p) = password {
                    let _ = writeln!(y, "    password: {}", p.yaml());
                }
                let _ = writeln!(y, "    queues: [{}]", list(queues));
            }
            Source::RabbitMq { url, vhost, queues } => {
                let _ = writeln!(y, "  rabbitmq:\n    url: {}", url.yaml());
                if let Some(v) = vhost {
                    let _ = writeln!(y, "    vhost: {}", quoted(v));
                }
                let _ = writeln!(y, "    queues: [{}]", list(queues));
            }
        }
        if !self.filters.is_empty() {
            y.push_str("filter:                  # FilterCriteria patterns, verbatim\n");
            for f in &self.filters {
                let _ = writeln!(y, "  - {}", quoted(f));
            }
        }
        if let Some(e) = &self.enrichment {
            let _ = writeln!(y, "enrichment:\n  http:\n    url: {}", e.yaml());
        }
        y.push_str("target:\n");
        match &self.target {
            Target::Function { url, aws_name } => {
                let _ = writeln!(
                    y,
                    "  http:                   # the function {aws_name}, where it runs now"
                );
                let _ = writeln!(y, "    url: {}", url.yaml());
                self.write_template(&mut y);
                let _ = writeln!(y, "  # or keep calling it on AWS Lambda:");
                let _ = writeln!(y, "  # lambda: {{function_name: {}}}", quoted(aws_name));
                let _ = writeln!(
                    y,
                    "  # or serve it the Lambda Runtime API (unchanged handler code):"
                );
                let _ = writeln!(y, "  # runtime_api: {{listen: 0.0.0.0:9001}}");
            }
            Target::Sqs {
                queue_url,
                group_id,
            } => {
                let _ = writeln!(y, "  sqs:\n    queue_url: {}", queue_url.yaml());
                if let Some(g) = group_id {
                    let _ = writeln!(y, "    message_group_id: {}", quoted(g));
                }
                self.write_template(&mut y);
            }
            Target::Http { url } => {
                let _ = writeln!(y, "  http:\n    url: {}", url.yaml());
                self.write_template(&mut y);
            }
        }
        if self.batch_size.is_some() || self.window_secs.is_some() {
            y.push_str("batch:\n");
            if let Some(n) = self.batch_size {
                let _ = writeln!(y, "  size: {n}");
            }
            if let Some(w) = self.window_secs {
                let _ = writeln!(y, "  window: {w}s");
            }
        }
        if let Some(c) = self.concurrency {
            let _ = writeln!(
                y,
                "concurrency: {c}             # ScalingConfig.MaximumConcurrency"
            );
        }
        if self.report_batch_item_failures {
            y.push_str("report_batch_item_failures: true\n");
        }
        if let Some(d) = &self.dead_letter {
            let _ = writeln!(y, "dead_letter:\n  sqs:\n    queue_url: {}", d.yaml());
        }
        if self.log_level.is_some() || self.include_payload {
            y.push_str("log:\n");
            if let Some(l) = &self.log_level {
                let _ = writeln!(y, "  level: {l}");
            }
            if self.include_payload {
                y.push_str("  include_payload: true\n");
            }
        }
        if !self.notes.is_empty() {
            y.push_str("# Not carried over:\n");
            for n in &self.notes {
                let _ = writeln!(y, "#   {n}");
            }
        }
        y
    }

    fn write_template(&self, y: &mut String) {
        if let Some(t) = &self.input_template {
            let _ = writeln!(y, "    input_template: {}", quoted(t));
        }
    }
}

/// A YAML double-quoted scalar (JSON string escapes are valid YAML ones).
pub(super) fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn list(values: &[Value]) -> String {
    values
        .iter()
        .map(Value::yaml)
        .collect::<Vec<_>>()
        .join(", ")
}

fn shell_quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `[a-z0-9][a-z0-9-]{0,62}` from any name.
pub(super) fn pipe_name(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut out: String = out.trim_end_matches('-').chars().take(63).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        "imported".into()
    } else {
        out
    }
}

/// An environment variable name from a pipe name and a role: `SLUICE_ORDERS_BROKER_URL`.
pub(super) fn env_var(pipe: &str, role: &str) -> String {
    format!(
        "SLUICE_{}_{role}",
        pipe.to_ascii_uppercase().replace('-', "_")
    )
}
