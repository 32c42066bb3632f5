//! `contracts docs`, part two: one self-contained HTML page (no network, no scripts from
//! elsewhere): a topology diagram as inline SVG, then every service with its methods, events
//! and subscriptions, each schema as a table of fields with the raw JSON beside it.
//!
//! The page is a template (`page.html`, rendered by minijinja with HTML escaping on for every
//! value) fed a view of the catalog; `diagram.rs` computes the diagram's geometry and
//! `fields.rs` turns schemas into field tables.

mod diagram;
mod fields;

use contracts_core::contract::ServiceContract;
use contracts_core::wire::topology;
use minijinja::{AutoEscape, Environment};
use serde::Serialize;
use serde_json::Value;

use crate::catalog::{Catalog, events_by_name, methods_by_name};

const TEMPLATE: &str = include_str!("page.html");

#[derive(Serialize)]
struct Page<'a> {
    title: &'a str,
    rpc_exchange: &'a str,
    diagram: diagram::Diagram,
    services: Vec<ServiceView<'a>>,
}

#[derive(Serialize)]
struct ServiceView<'a> {
    name: &'a str,
    doc: &'a str,
    calls: &'a [String],
    called_by: Vec<&'a str>,
    rpc_queue: String,
    methods: Vec<MethodView<'a>>,
    events_exchange: String,
    events: Vec<EventView<'a>>,
    subscriptions: Vec<SubscriptionView<'a>>,
}

/// An event the service handles: whose, and by which method.
#[derive(Serialize)]
struct SubscriptionView<'a> {
    source: &'a str,
    event: &'a str,
    method: &'a str,
}

#[derive(Serialize)]
struct MethodView<'a> {
    name: &'a str,
    params: &'a [String],
    doc: &'a str,
    messages: Vec<MessageView>,
}

#[derive(Serialize)]
struct EventView<'a> {
    name: &'a str,
    doc: &'a str,
    handlers: Vec<String>,
    payload: MessageView,
}

/// A message schema: its field table (`None` when it is not an object), a one-line summary,
/// and the raw JSON.
#[derive(Serialize)]
struct MessageView {
    label: &'static str,
    fields: Option<Vec<fields::Field>>,
    summary: String,
    json: String,
}

impl MessageView {
    fn of(label: &'static str, schema: &Value) -> Self {
        Self {
            label,
            fields: fields::fields(schema, schema),
            summary: fields::summary(schema, schema),
            json: serde_json::to_string_pretty(schema).expect("JSON values encode"),
        }
    }
}

/// The whole page.
pub fn page(catalog: &Catalog, title: &str) -> String {
    let page = Page {
        title,
        rpc_exchange: topology::RPC_EXCHANGE,
        diagram: diagram::diagram(catalog),
        services: catalog
            .services
            .values()
            .map(|s| service_view(catalog, s))
            .collect(),
    };
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_trim_blocks(true);
    env.add_template("page.html", TEMPLATE)
        .expect("the page template parses");
    env.get_template("page.html")
        .and_then(|t| t.render(&page))
        .expect("the page template renders every catalog")
}

fn service_view<'a>(catalog: &'a Catalog, s: &'a ServiceContract) -> ServiceView<'a> {
    let name = s.name.as_str();
    ServiceView {
        name,
        doc: s.doc.as_deref().unwrap_or_default(),
        calls: &s.calls,
        called_by: catalog
            .services
            .values()
            .filter(|other| other.calls.iter().any(|c| c == name))
            .map(|other| other.name.as_str())
            .collect(),
        rpc_queue: topology::rpc_queue_name(name),
        methods: methods_by_name(s)
            .map(|m| MethodView {
                name: &m.name,
                params: &m.params,
                doc: m.doc.as_deref().unwrap_or_default(),
                messages: [
                    Some(MessageView::of("request (kwargs)", &m.request.schema)),
                    Some(MessageView::of("reply", &m.reply.schema)),
                    m.error
                        .as_ref()
                        .map(|e| MessageView::of("declared error", &e.message.schema)),
                ]
                .into_iter()
                .flatten()
                .collect(),
            })
            .collect(),
        events_exchange: topology::events_exchange_name(name),
        events: events_by_name(s)
            .map(|e| EventView {
                name: &e.name,
                doc: e.doc.as_deref().unwrap_or_default(),
                handlers: handlers_of(catalog, name, &e.name),
                payload: MessageView::of("payload", &e.payload.schema),
            })
            .collect(),
        subscriptions: s
            .subscriptions
            .iter()
            .map(|sub| SubscriptionView {
                source: &sub.source,
                event: &sub.event,
                method: &sub.method,
            })
            .collect(),
    }
}

/// `service.method` of every handler of `source`'s `event` in the catalog.
fn handlers_of(catalog: &Catalog, source: &str, event: &str) -> Vec<String> {
    catalog
        .services
        .values()
        .flat_map(|other| {
            other
                .subscriptions
                .iter()
                .filter(|sub| sub.source == source && sub.event == event)
                .map(|sub| format!("{}.{}", other.name, sub.method))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts_core::contract::manifest::FILE_NAME;

    #[test]
    fn every_value_is_escaped() {
        let dir = std::env::temp_dir().join(format!("catalog-page-{}", std::process::id()));
        let service = dir.join("svc");
        std::fs::create_dir_all(&service).unwrap();
        let manifest = serde_json::json!({
            "name": "svc", "doc": "<script>alert(1)</script> & co", "rpc": null,
            "events_exchange": "svc.events", "methods": [], "events": []
        });
        std::fs::write(service.join(FILE_NAME), manifest.to_string()).unwrap();
        let catalog = Catalog::load(&dir).unwrap();
        let html = page(&catalog, "<b>title</b>");
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; co"),
            "{html}"
        );
        assert!(html.contains("<title>&lt;b&gt;title&lt;&#x2f;b&gt;</title>"));
        // The page's own markup and script stay as written.
        assert!(html.contains("<script>addEventListener('load'"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
