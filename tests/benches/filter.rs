//! `scripts/bench.sh --filter`: Sluice's matcher beside `quamina` (the Rust port of Tim
//! Bray's matcher, a dev-dependency of this benchmark only) on the same events and rules.
//!
//! The events are generated in the shape of event-ruler's citylots2 benchmark data (GeoJSON
//! features of San Francisco lots: `properties` strings, a `geometry` whose `coordinates` are
//! arrays of `{x, y, z}` objects and a `firstCoordinates` object), from a fixed seed, so every
//! run sees the same events. The rule groups are those of event-ruler's `Benchmarks.java`
//! (exact, wildcard, prefix, suffix, equals-ignore-case, numeric, anything-but, complex
//! arrays), five rules each, run one group at a time and then all 40 at once.
//!
//! For each group it counts the matches of every rule with both matchers and stops if any
//! count differs, then prints events per second for each (one core, each matcher given the
//! raw JSON bytes of every event: flattening is part of the work, as in a pipe).

use sluice_core::pattern::{FlatEvent, Pattern, PatternSet};
use std::hint::black_box;
use std::time::Instant;

/// A small deterministic generator (xorshift64*), so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const STREETS: &[&str] = &[
    "MASON",
    "FULTON",
    "JEFFERSON",
    "BEACH",
    "HYDE",
    "CHESTNUT",
    "ACTON",
    "BLAKE",
    "DRUMM",
    "FUNSTON",
    "RHODE ISLAND",
    "LAKE",
    "MARKET",
    "MISSION",
    "SHOTWELL",
    "CHICAGO",
    "VALLEJO",
    "BROADWAY",
    "GEARY",
    "POLK",
    "LARKIN",
    "TARAVAL",
    "IRVING",
    "JUDAH",
    "NORIEGA",
    "KEARNY",
    "STOCKTON",
    "POWELL",
    "HAIGHT",
    "DIVISADERO",
    "FOLSOM",
    "HARRISON",
    "BRYANT",
    "CLIPPER",
    "PARKING",
    "WELLINGTON",
    "SACRAMENTO",
    "WASHINGTON",
    "CLAY",
    "BUSH",
];
const ST_TYPES: &[&str] = &["ST", "ST", "ST", "ST", "AVE", "AVE", "BLVD", "WAY", "TER"];
const RARE_X: f64 = -122.42916360922355;
const RARE_Y: f64 = 37.729900216217324;

/// One citylots2-shaped event.
fn event(r: &mut Rng) -> String {
    let lot = match r.below(1000) {
        0 => "1430022".to_owned(),
        1..=3 => "2607117".to_owned(),
        4 => "2607218".to_owned(),
        5..=12 => "3745012".to_owned(),
        13 => "VACSTWIL".to_owned(),
        _ => format!("{:07}", r.below(10_000_000)),
    };
    let street = STREETS[r.below(STREETS.len() as u64) as usize];
    let st_type = if r.below(20) == 0 {
        "null".to_owned()
    } else {
        format!("\"{}\"", ST_TYPES[r.below(ST_TYPES.len() as u64) as usize])
    };
    let from = if r.below(50) == 0 {
        "441".to_owned()
    } else {
        r.below(3000).to_string()
    };
    let multi = r.below(100) == 0;
    let points = 4 + r.below(9) as usize;
    let (x0, y0) = if r.below(500) == 0 {
        (RARE_X, RARE_Y)
    } else {
        (-122.52 + r.unit() * 0.17, 37.70 + r.unit() * 0.13)
    };
    let mut coordinates = String::new();
    for i in 0..points {
        let (x, y) = if i == 0 {
            (x0, y0)
        } else {
            (x0 + (r.unit() - 0.5) * 0.001, y0 + (r.unit() - 0.5) * 0.001)
        };
        if i > 0 {
            coordinates.push(',');
        }
        coordinates.push_str(&format!("{{\"x\":{x},\"y\":{y},\"z\":0}}"));
    }
    format!(
        concat!(
            "{{\"type\":\"Feature\",\"properties\":{{\"MAPBLKLOT\":\"{lot}\",\"BLKLOT\":\"{lot}\",",
            "\"BLOCK_NUM\":\"{block}\",\"LOT_NUM\":\"{num}\",\"FROM_ST\":\"{from}\",\"TO_ST\":\"{to}\",",
            "\"STREET\":\"{street}\",\"ST_TYPE\":{st_type},\"ODD_EVEN\":\"{odd}\"}},",
            "\"geometry\":{{\"type\":\"{kind}\",\"coordinates\":[[{coordinates}]],",
            "\"firstCoordinates\":{{\"x\":{x0},\"y\":{y0},\"z\":0}}}}}}"
        ),
        lot = lot,
        block = &lot[..4.min(lot.len())],
        num = &lot[4.min(lot.len())..],
        from = from,
        to = from.parse::<u64>().map_or(0, |f| f + 10),
        street = street,
        st_type = st_type,
        odd = if r.below(2) == 0 { "E" } else { "O" },
        kind = if multi { "MultiPolygon" } else { "Polygon" },
        coordinates = coordinates,
        x0 = x0,
        y0 = y0,
    )
}

/// The same event with `geometry` before `properties`: a matcher that stops reading once it
/// has every field its rules name (quamina does) then reads the whole event for the groups
/// on `properties` too, as Sluice always does (it must know the whole event is JSON).
fn geometry_first(event: &str) -> String {
    let properties = event
        .find("\"properties\":")
        .expect("generated events have properties");
    let geometry = event
        .find(",\"geometry\":")
        .expect("and a geometry after them");
    format!(
        "{}{},{}}}",
        &event[..properties],
        &event[geometry + 1..event.len() - 1],
        &event[properties..geometry]
    )
}

/// A rule on one field under `properties` (or another top-level object).
fn on(object: &str, field: &str, matcher: &str) -> String {
    format!(r#"{{"{object}": {{"{field}": [{matcher}]}}}}"#)
}

/// event-ruler's rule groups, each five rules.
fn groups() -> Vec<(&'static str, Vec<String>)> {
    let p = |field: &str, m: &str| on("properties", field, m);
    // One rule per value, each `{"OP": "VALUE"}` on a field under `properties`.
    let op = |field: &str, op: &str, values: &[&str]| -> Vec<String> {
        values
            .iter()
            .map(|v| p(field, &format!(r#"{{"{op}": "{v}"}}"#)))
            .collect()
    };
    vec![
        (
            "exact",
            ["1430022", "2607117", "2607218", "3745012", "VACSTWIL"]
                .iter()
                .map(|v| p("MAPBLKLOT", &format!("\"{v}\"")))
                .collect(),
        ),
        (
            "wildcard",
            op(
                "MAPBLKLOT",
                "wildcard",
                &["143*", "2*0*1*7", "*218", "3*5*2", "VA*IL"],
            ),
        ),
        (
            "prefix",
            op("STREET", "prefix", &["AC", "BL", "DR", "FU", "RH"]),
        ),
        (
            "suffix",
            op("STREET", "suffix", &["ON", "KE", "MM", "ING", "GO"]),
        ),
        (
            "equals-ignore-case",
            [
                ("STREET", "jefferson"),
                ("STREET", "bEaCh"),
                ("STREET", "HyDe"),
                ("STREET", "CHESTNUT"),
                ("ST_TYPE", "st"),
            ]
            .iter()
            .map(|(f, v)| p(f, &format!(r#"{{"equals-ignore-case": "{v}"}}"#)))
            .collect(),
        ),
        (
            "numeric",
            coordinate_rules(
                "firstCoordinates",
                r#""z": [{"numeric": ["=", 0]}]"#.to_owned(),
            ),
        ),
        (
            "anything-but",
            vec![
                p("STREET", r#"{"anything-but": ["FULTON"]}"#),
                p("STREET", r#"{"anything-but": ["MASON"]}"#),
                p("ST_TYPE", r#"{"anything-but": ["ST"]}"#),
                r#"{"geometry": {"type": [{"anything-but": ["Polygon"]}]}}"#.to_owned(),
                p("FROM_ST", r#"{"anything-but": ["441"]}"#),
            ],
        ),
        (
            "complex arrays",
            coordinate_rules(
                "coordinates",
                format!(r#""y": [{{"numeric": ["=", {RARE_Y}]}}]"#),
            ),
        ),
    ]
}

/// One matcher over every event, counting the matches of each rule.
trait Matcher {
    fn pass(&mut self, events: &[String], counts: &mut [usize]);
}

/// event-ruler's numeric and complex-array groups: the same five rules on `geometry.INNER`
/// (`firstCoordinates`, one object; `coordinates`, arrays of objects), the second one on a
/// MultiPolygon's `second` field.
fn coordinate_rules(inner: &str, second: String) -> Vec<String> {
    let x = |typ: &str, m: &str| format!(r#"{{"geometry": {{{typ}"{inner}": {{"x": [{m}]}}}}}}"#);
    vec![
        x(
            r#""type": ["Polygon"], "#,
            &format!(r#"{{"numeric": ["=", {RARE_X}]}}"#),
        ),
        format!(r#"{{"geometry": {{"type": ["MultiPolygon"], "{inner}": {{{second}}}}}}}"#),
        x("", r#"{"numeric": ["<", -122.41600944012424]}"#),
        x("", r#"{"numeric": [">", -122.41600944012424]}"#),
        x(
            "",
            r#"{"numeric": [">", -122.46471267081272, "<", -122.4063085128395]}"#,
        ),
    ]
}

/// Sluice: the rules compiled together, each event flattened (only the fields some rule reads)
/// and every rule tried.
struct Sluice {
    set: PatternSet,
    flat: FlatEvent,
}

impl Sluice {
    fn new(rules: &[String]) -> Self {
        let patterns: Vec<Pattern> = rules
            .iter()
            .map(|r| Pattern::parse(r).expect("sluice parses the rule"))
            .collect();
        Sluice {
            set: PatternSet::new(&patterns),
            flat: FlatEvent::new(),
        }
    }
}

impl Matcher for Sluice {
    fn pass(&mut self, events: &[String], counts: &mut [usize]) {
        for e in events {
            self.set
                .load(&mut self.flat, black_box(e).as_bytes())
                .expect("valid event");
            for (i, count) in counts.iter_mut().enumerate() {
                if self.set.matches(i, &mut self.flat) {
                    *count += 1;
                }
            }
        }
    }
}

/// quamina: one machine holding every rule; it reports which match.
struct Quamina(quamina::Quamina<usize>);

impl Quamina {
    fn new(rules: &[String]) -> Self {
        let mut q = quamina::Quamina::<usize>::new();
        for (i, r) in rules.iter().enumerate() {
            q.add_pattern(i, r).expect("quamina parses the rule");
        }
        Quamina(q)
    }
}

impl Matcher for Quamina {
    fn pass(&mut self, events: &[String], counts: &mut [usize]) {
        for e in events {
            for i in self
                .0
                .matches_for_event(black_box(e).as_bytes())
                .expect("valid event")
            {
                counts[i] += 1;
            }
        }
    }
}

/// One matcher's match counts (of one pass) and its best seconds per pass.
type Result = (Vec<usize>, f64);

/// Passes over the events with the two matchers taking turns, so that both see the same
/// machine load: a warm-up pass each, then the best of `PASSES`.
fn race(a: &mut dyn Matcher, b: &mut dyn Matcher, rules: usize, events: &[String]) -> [Result; 2] {
    const PASSES: usize = 3;
    let mut out = [(vec![0; rules], f64::MAX), (vec![0; rules], f64::MAX)];
    let turn = |m: &mut dyn Matcher, (counts, best): &mut Result, pass: usize| {
        let mut c = vec![0; rules];
        let started = Instant::now();
        m.pass(events, &mut c);
        if pass > 0 {
            *best = best.min(started.elapsed().as_secs_f64());
        }
        *counts = c;
    };
    for pass in 0..=PASSES {
        let [sa, sb] = &mut out;
        turn(a, sa, pass);
        turn(b, sb, pass);
    }
    out
}

fn main() {
    let n: usize = std::env::args()
        .skip_while(|a| a != "--events")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let mut rng = Rng(0x5eed_c17e_1075);
    let mut events: Vec<String> = (0..n).map(|_| event(&mut rng)).collect();
    let reordered = std::env::args().any(|a| a == "--geometry-first");
    if reordered {
        events = events.iter().map(|e| geometry_first(e)).collect();
    }
    let bytes: usize = events.iter().map(String::len).sum();
    println!(
        "filter benchmark: {n} citylots2-shaped events ({} bytes on average{}), one core, the two matchers taking turns, best of 3 passes each",
        bytes / n,
        if reordered {
            ", geometry before properties"
        } else {
            ""
        }
    );
    // `--only NAME` runs one group (for profiling).
    let only: Option<String> = std::env::args().skip_while(|a| a != "--only").nth(1);
    let mut groups = groups();
    if let Some(only) = &only {
        groups.retain(|(name, _)| name == only);
    }
    let all: Vec<String> = groups.iter().flat_map(|(_, r)| r.clone()).collect();
    let mut ratios = Vec::new();
    for (name, rules) in groups
        .iter()
        .map(|(n, r)| (*n, r))
        .chain(only.is_none().then_some(("all 40", &all)))
    {
        let [(s_counts, s_secs), (q_counts, q_secs)] = race(
            &mut Sluice::new(rules),
            &mut Quamina::new(rules),
            rules.len(),
            &events,
        );
        assert_eq!(
            s_counts, q_counts,
            "{name}: the matchers disagree (sluice, quamina)"
        );
        let (s_eps, q_eps) = (n as f64 / s_secs, n as f64 / q_secs);
        ratios.push(s_eps / q_eps);
        println!(
            "{name:<20} sluice {s_eps:>10.0} events/s   quamina {q_eps:>10.0} events/s   sluice/quamina {:>5.2}   matches per rule {s_counts:?}",
            s_eps / q_eps
        );
    }
    let lowest = ratios.iter().copied().fold(f64::MAX, f64::min);
    println!("lowest sluice/quamina ratio over the groups: {lowest:.2}");
}
