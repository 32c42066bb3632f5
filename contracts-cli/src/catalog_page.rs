//! `contracts docs`, part two: one self-contained HTML page (no network, no scripts from
//! elsewhere): a topology diagram as inline SVG, then every service with its methods, events
//! and subscriptions, each schema as a table of fields with the raw JSON beside it.

use contracts_core::topology;
use std::fmt::Write;

use serde_json::Value;

use crate::catalog::Catalog;

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) if r.starts_with('#') => root.pointer(&r[1..]).unwrap_or(schema),
        _ => schema,
    }
}

/// A short description of a schema's type: `string`, `integer ≥ 1`, `UserData`, `one of …`.
fn summary(root: &Value, schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().unwrap_or(r).to_owned();
    }
    let schema = resolve(root, schema);
    let mut out = match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => String::new(),
    };
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        out = format!(
            "one of {}",
            values
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(value) = schema.get("const") {
        out = format!("= {value}");
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            out = format!(
                "one of: {}",
                branches
                    .iter()
                    .map(|b| summary(root, b))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
    }
    if let Some(items) = schema.get("items") {
        out = format!("array of {}", summary(root, items));
    }
    let bounds = [
        ("minimum", "≥"),
        ("maximum", "≤"),
        ("minLength", "length ≥"),
        ("maxLength", "length ≤"),
        ("pattern", "matches"),
        ("format", "format"),
    ];
    for (key, label) in bounds {
        if let Some(v) = schema.get(key) {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            let _ = write!(out, ", {label} {v}");
        }
    }
    if out.is_empty() { "any".into() } else { out }
}

/// A table of an object schema's fields, nested one level for referenced objects.
fn fields(root: &Value, schema: &Value, depth: usize, html: &mut String) {
    let schema = resolve(root, schema);
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        let _ = write!(
            html,
            "<p class=\"type\">{}</p>",
            esc(&summary(root, schema))
        );
        return;
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    html.push_str("<table><tr><th>field</th><th>type</th><th></th><th>description</th></tr>");
    for (name, prop) in props {
        let target = resolve(root, prop);
        let description = prop
            .get("description")
            .or_else(|| target.get("description"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}",
            esc(name),
            esc(&summary(root, prop)),
            if required.contains(&name.as_str()) {
                "required"
            } else {
                "optional"
            },
            esc(description)
        );
        if depth < 2 && target.get("properties").is_some() {
            fields(root, target, depth + 1, html);
        }
        html.push_str("</td></tr>");
    }
    html.push_str("</table>");
}

fn schema_block(label: &str, schema: &Value, html: &mut String) {
    let _ = write!(html, "<div class=\"message\"><h5>{}</h5>", esc(label));
    fields(schema, schema, 0, html);
    let _ = write!(
        html,
        "<details><summary>JSON Schema</summary><pre>{}</pre></details></div>",
        esc(&serde_json::to_string_pretty(schema).expect("JSON encodes"))
    );
}

/// The topology: a box per service listing its RPC methods, an arrow per subscription
/// from the publisher to the handler, labelled with the event.
fn diagram(catalog: &Catalog) -> String {
    const COLS: usize = 3;
    const W: usize = 290;
    const GAP_X: usize = 170;
    const GAP_Y: usize = 90;
    let names: Vec<&String> = catalog.services.keys().collect();
    let height_of = |name: &str| {
        let s = &catalog.services[name];
        50 + 18 * (s.methods.len() + s.events.len() + s.subscriptions.len()).max(1)
    };
    let rows = names.len().div_ceil(COLS);
    let row_heights: Vec<usize> = (0..rows)
        .map(|r| {
            names
                .iter()
                .skip(r * COLS)
                .take(COLS)
                .map(|n| height_of(n))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let position = |i: usize| {
        let (r, c) = (i / COLS, i % COLS);
        let y = 50 + row_heights[..r].iter().sum::<usize>() + r * GAP_Y;
        (20 + c * (W + GAP_X), y)
    };
    let width = 40 + COLS * W + (COLS - 1) * GAP_X;
    let height = 70 + row_heights.iter().sum::<usize>() + rows.saturating_sub(1) * GAP_Y;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"100%\" \
         role=\"img\" aria-label=\"service topology\"><defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" \
         refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\">\
         <path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#b5651d\"/></marker>\
         <marker id=\"call-arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" \
         markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#2a6f97\"/>\
         </marker></defs>"
    );
    let mut centers = std::collections::BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let s = &catalog.services[name.as_str()];
        let (x, y) = position(i);
        let h = height_of(name);
        centers.insert(name.as_str(), (x + W / 2, y + h / 2, y, h));
        let _ = write!(
            svg,
            "<g class=\"node\" data-service=\"{n}\"><rect x=\"{x}\" y=\"{y}\" width=\"{W}\" height=\"{h}\" rx=\"8\"/>\
             <text x=\"{tx}\" y=\"{ty}\" class=\"title\">{n}</text>",
            n = esc(name),
            tx = x + 12,
            ty = y + 24
        );
        let mut line = y + 46;
        for method in s.methods.keys() {
            let _ = write!(
                svg,
                "<text x=\"{}\" y=\"{line}\" class=\"rpc\">rpc {}()</text>",
                x + 12,
                esc(method)
            );
            line += 18;
        }
        for event in s.events.keys() {
            let _ = write!(
                svg,
                "<text x=\"{}\" y=\"{line}\" class=\"evt\">event {}</text>",
                x + 12,
                esc(event)
            );
            line += 18;
        }
        for sub in &s.subscriptions {
            let _ = write!(
                svg,
                "<text x=\"{}\" y=\"{line}\" class=\"evt\">handles {}.{}</text>",
                x + 12,
                esc(&sub.source),
                esc(&sub.event)
            );
            line += 18;
        }
        svg.push_str("</g>");
    }
    let mut edges: Vec<(&str, &str, String, String, &str)> = Vec::new();
    for (name, s) in &catalog.services {
        for callee in &s.calls {
            edges.push((name, callee, "calls".into(), String::new(), "call"));
        }
        for sub in &s.subscriptions {
            edges.push((
                &sub.source,
                name,
                sub.event.clone(),
                format!("→ {}", sub.method),
                "edge",
            ));
        }
    }
    for (from, to, above_text, below_text, class) in edges {
        {
            let (Some(&(x1, y1, top1, h1)), Some(&(x2, y2, top2, h2))) =
                (centers.get(from), centers.get(to))
            else {
                continue;
            };
            let far = top1 == top2 && x1.abs_diff(x2) > W + GAP_X;
            // Neighbours in a row: side to side. Further apart in a row: an arc over the boxes
            // between. Across rows: bottom to top (or top to bottom).
            let (d, lx, ly) = if far {
                let (sx, ex) = (x1, x2);
                let peak = top1.saturating_sub(24).max(4);
                (
                    format!("M {sx} {top1} C {sx} {peak}, {ex} {peak}, {ex} {top1}"),
                    (sx + ex) / 2,
                    peak + 8,
                )
            } else {
                let (sx, sy, ex, ey) = if top1 == top2 {
                    let dir: isize = if x2 > x1 { 1 } else { -1 };
                    (
                        (x1 as isize + dir * (W as isize / 2)) as usize,
                        y1,
                        (x2 as isize - dir * (W as isize / 2)) as usize,
                        y2,
                    )
                } else if top2 > top1 {
                    (x1, top1 + h1, x2, top2)
                } else {
                    (x1, top1, x2, top2 + h2)
                };
                (
                    format!("M {sx} {sy} L {ex} {ey}"),
                    (sx + ex) / 2,
                    (sy + ey) / 2,
                )
            };
            let marker = if class == "call" {
                "call-arrow"
            } else {
                "arrow"
            };
            // Events: the event above the arrow, the handling method below it.
            let _ = write!(
                svg,
                "<g class=\"{class}\"><path d=\"{d}\" marker-end=\"url(#{marker})\"/>\
                 <text x=\"{lx}\" y=\"{above}\" class=\"label\" text-anchor=\"middle\">{a}</text>\
                 <text x=\"{lx}\" y=\"{below}\" class=\"label\" text-anchor=\"middle\">{b}</text></g>",
                above = ly - 8,
                below = ly + 18,
                a = esc(&above_text),
                b = esc(&below_text)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #ddd;padding-bottom:.2rem;margin-top:2.2rem}
.service{margin-bottom:2rem}.method,.event{border-left:4px solid #2a6f97;padding:.2rem 0 .2rem .9rem;margin:1rem 0}
.event{border-color:#b5651d}h4{margin:.2rem 0;font-family:ui-monospace,monospace}h5{margin:.6rem 0 .2rem;color:#555}
table{border-collapse:collapse;margin:.3rem 0;font-size:14px}td,th{border:1px solid #ddd;padding:.25rem .5rem;vertical-align:top;text-align:left}
th{background:#f4f4f4}pre{background:#f7f7f7;padding:.6rem;overflow:auto;font-size:12px}code{font-family:ui-monospace,monospace}
svg rect{fill:#eef5fa;stroke:#2a6f97;stroke-width:1.5}svg .title{font:bold 15px ui-monospace,monospace;fill:#123}
svg .rpc{font:13px ui-monospace,monospace;fill:#2a6f97}svg .evt{font:13px ui-monospace,monospace;fill:#b5651d}
svg .edge path{fill:none;stroke:#b5651d;stroke-width:1.6}svg .edge .label{font:12px ui-monospace,monospace;fill:#b5651d}
svg .call path{fill:none;stroke:#2a6f97;stroke-width:1.6;stroke-dasharray:6 4}svg .call .label{font:12px ui-monospace,monospace;fill:#2a6f97}
.muted{color:#777}";

/// The whole page.
pub fn page(catalog: &Catalog, title: &str) -> String {
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>{STYLE}</style></head><body><h1>{t}</h1><p class=\"muted\">{n} services, generated \
         by <code>contracts docs</code> from <code>schemas/</code>. RPC on the <code>nameko-rpc</code> \
         exchange (routing key <code>service.method</code>); events on <code>&lt;service&gt;.events</code> \
         (routing key = event type).</p><section id=\"topology\"><h2>Topology</h2>{svg}</section>",
        t = esc(title),
        n = catalog.services.len(),
        svg = diagram(catalog)
    );
    for (name, s) in &catalog.services {
        let _ = write!(
            html,
            "<section class=\"service\" id=\"service-{n}\"><h2>{n}</h2><p>{d}</p>",
            n = esc(name),
            d = esc(&s.doc)
        );
        let called_by: Vec<&str> = catalog
            .services
            .values()
            .filter(|other| other.calls.contains(name))
            .map(|other| other.name.as_str())
            .collect();
        let links = |names: &mut dyn Iterator<Item = &str>| {
            names
                .map(|n| format!("<a href=\"#service-{0}\">{0}</a>", esc(n)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !s.calls.is_empty() {
            let _ = write!(
                html,
                "<p>Calls: {}</p>",
                links(&mut s.calls.iter().map(String::as_str))
            );
        }
        if !called_by.is_empty() {
            let _ = write!(
                html,
                "<p>Called by: {}</p>",
                links(&mut called_by.into_iter())
            );
        }
        if !s.methods.is_empty() {
            let _ = write!(
                html,
                "<h3>RPC methods <span class=\"muted\">(queue {})</span></h3>",
                esc(&s
                    .manifest
                    .rpc
                    .as_ref()
                    .map_or_else(|| topology::rpc_queue_name(name), |r| r.queue.clone()))
            );
        }
        for (method, m) in &s.methods {
            let _ = write!(
                html,
                "<div class=\"method\"><h4>{}({})</h4><p>{}</p>",
                esc(method),
                esc(&m.params.join(", ")),
                esc(&m.doc)
            );
            schema_block("request (kwargs)", &m.request, &mut html);
            schema_block("reply", &m.reply, &mut html);
            if let Some(error) = &m.error {
                schema_block("declared error", error, &mut html);
            }
            html.push_str("</div>");
        }
        if !s.events.is_empty() {
            let _ = write!(
                html,
                "<h3>Events <span class=\"muted\">(exchange {})</span></h3>",
                esc(&s.manifest.events_exchange)
            );
        }
        for (event, payload) in &s.events {
            let handlers: Vec<String> = catalog
                .services
                .values()
                .flat_map(|other| {
                    other
                        .subscriptions
                        .iter()
                        .filter(|sub| sub.source == *name && sub.event == *event)
                        .map(|sub| format!("{}.{}", other.name, sub.method))
                })
                .collect();
            let _ = write!(
                html,
                "<div class=\"event\"><h4>{}</h4><p>{}</p><p>Handled by: {}</p>",
                esc(event),
                esc(s.event_docs.get(event).map_or("", String::as_str)),
                if handlers.is_empty() {
                    "<span class=\"muted\">nobody in this catalog</span>".to_owned()
                } else {
                    handlers
                        .iter()
                        .map(|h| format!("<code>{}</code>", esc(h)))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
            schema_block("payload", payload, &mut html);
            html.push_str("</div>");
        }
        if !s.subscriptions.is_empty() {
            html.push_str("<h3>Handles</h3><ul>");
            for sub in &s.subscriptions {
                let _ = write!(
                    html,
                    "<li><code>{}</code> ← <a href=\"#service-{}\">{}</a>.<code>{}</code></li>",
                    esc(&sub.method),
                    esc(&sub.source),
                    esc(&sub.source),
                    esc(&sub.event)
                );
            }
            html.push_str("</ul>");
        }
        html.push_str("</section>");
    }
    // A render check for CI: how many service boxes the browser actually laid out.
    html.push_str(
        "<script>addEventListener('load',()=>{document.body.dataset.renderedNodes=\
         [...document.querySelectorAll('#topology .node')].filter(n=>n.getBBox().width>0).length;});</script>\
         </body></html>\n",
    );
    html
}
