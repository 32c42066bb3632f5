//! `contracts check`: every change between two catalogs, per service, message and direction.

use contracts_core::contract::{ServiceContract, Subscription};
use serde::Serialize;

use crate::catalog::{Catalog, events_by_name, methods_by_name};
use crate::compat::{Change, Reader, compare};

/// One change found between the baseline and the current schemas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `service`, `service.method` or `service.event`.
    pub item: String,
    /// `request`, `reply`, `error`, `event`, or `contract` for whole items.
    pub message: String,
    /// Who reads that message.
    pub reader: Option<Reader>,
    /// The change itself.
    #[serde(flatten)]
    pub change: Change,
}

fn whole(item: String, what: &str, breaking: bool) -> Finding {
    Finding {
        item,
        message: "contract".into(),
        reader: None,
        change: Change {
            at: "/".into(),
            what: what.into(),
            breaking,
        },
    }
}

fn messages(
    findings: &mut Vec<Finding>,
    item: &str,
    message: &str,
    reader: Reader,
    old: &serde_json::Value,
    new: &serde_json::Value,
) {
    findings.extend(compare(old, new, reader).into_iter().map(|change| Finding {
        item: item.to_owned(),
        message: message.to_owned(),
        reader: Some(reader),
        change,
    }));
}

/// Every change from `old` to `new`, breaking ones first.
pub fn check(old: &Catalog, new: &Catalog) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (name, old_service) in &old.services {
        match new.services.get(name) {
            None => findings.push(whole(name.clone(), "service removed", true)),
            Some(new_service) => service(&mut findings, old_service, new_service),
        }
    }
    for name in new
        .services
        .keys()
        .filter(|n| !old.services.contains_key(*n))
    {
        findings.push(whole(name.clone(), "service added", false));
    }
    findings.sort_by_key(|f| !f.change.breaking);
    findings
}

/// Every change to one service, in named steps.
fn service(findings: &mut Vec<Finding>, old: &ServiceContract, new: &ServiceContract) {
    methods(findings, old, new);
    events(findings, old, new);
    calls(findings, old, new);
    subscriptions(findings, old, new);
}

/// Removed methods break; for the others, the parameter list and every message.
fn methods(findings: &mut Vec<Finding>, old: &ServiceContract, new: &ServiceContract) {
    let svc = &old.name;
    for old_method in methods_by_name(old) {
        let name = &old_method.name;
        let item = format!("{svc}.{name}");
        let Some(new_method) = new.method(name) else {
            findings.push(whole(item, "method removed", true));
            continue;
        };
        if let Some(finding) = parameters(&item, &old_method.params, &new_method.params) {
            findings.push(finding);
        }
        messages(
            findings,
            &item,
            "request",
            Reader::Server,
            &old_method.request.schema,
            &new_method.request.schema,
        );
        messages(
            findings,
            &item,
            "reply",
            Reader::Clients,
            &old_method.reply.schema,
            &new_method.reply.schema,
        );
        match (&old_method.error, &new_method.error) {
            (Some(o), Some(n)) => messages(
                findings,
                &item,
                "error",
                Reader::Clients,
                &o.message.schema,
                &n.message.schema,
            ),
            (None, Some(_)) => findings.push(whole(item.clone(), "now declares an error", true)),
            (Some(_), None) => {
                findings.push(whole(item.clone(), "no longer declares an error", false))
            }
            (None, None) => {}
        }
    }
    for added in methods_by_name(new).filter(|m| old.method(&m.name).is_none()) {
        findings.push(whole(
            format!("{svc}.{}", added.name),
            "method added",
            false,
        ));
    }
}

/// A changed parameter list. Nameko callers pass arguments by position too, so a reordering
/// rebinds them and breaks; a removed or added parameter shows in the request schema.
fn parameters(item: &str, old: &[String], new: &[String]) -> Option<Finding> {
    if old == new {
        return None;
    }
    let reordered = old.iter().zip(new).any(|(o, n)| o != n);
    let what = format!("parameters changed from {old:?} to {new:?}");
    Some(Finding {
        item: item.to_owned(),
        message: "request".into(),
        reader: Some(Reader::Server),
        change: Change {
            at: "/".into(),
            what: if reordered {
                format!("{what}: positional callers bind differently")
            } else {
                what
            },
            breaking: reordered,
        },
    })
}

/// Removed events break; kept ones compare their payloads (read by subscribers).
fn events(findings: &mut Vec<Finding>, old: &ServiceContract, new: &ServiceContract) {
    let svc = &old.name;
    for old_event in events_by_name(old) {
        let item = format!("{svc}.{}", old_event.name);
        match new.event(&old_event.name) {
            None => findings.push(whole(item, "event removed", true)),
            Some(new_event) => messages(
                findings,
                &item,
                "event",
                Reader::Clients,
                &old_event.payload.schema,
                &new_event.payload.schema,
            ),
        }
    }
    for added in events_by_name(new).filter(|e| old.event(&e.name).is_none()) {
        findings.push(whole(format!("{svc}.{}", added.name), "event added", false));
    }
}

/// Changes to whom the service calls: listed, breaking nobody.
fn calls(findings: &mut Vec<Finding>, old: &ServiceContract, new: &ServiceContract) {
    let svc = &old.name;
    for callee in old.calls.iter().filter(|c| !new.calls.contains(c)) {
        findings.push(whole(
            svc.clone(),
            &format!("no longer calls {callee}"),
            false,
        ));
    }
    for callee in new.calls.iter().filter(|c| !old.calls.contains(c)) {
        findings.push(whole(svc.clone(), &format!("now calls {callee}"), false));
    }
}

/// Changes to what the service handles: listed, breaking nobody. (A handled event's payload
/// is its publisher's, compared there.)
fn subscriptions(findings: &mut Vec<Finding>, old: &ServiceContract, new: &ServiceContract) {
    let svc = &old.name;
    let key = |sub: &Subscription| (sub.source.clone(), sub.event.clone(), sub.method.clone());
    let handles = |service: &ServiceContract, sub: &Subscription| {
        service.subscriptions.iter().any(|s| key(s) == key(sub))
    };
    for sub in old.subscriptions.iter().filter(|sub| !handles(new, sub)) {
        let item = format!("{svc}.{}", sub.method);
        findings.push(whole(
            item,
            &format!("no longer handles {}.{}", sub.source, sub.event),
            false,
        ));
    }
    for sub in new.subscriptions.iter().filter(|sub| !handles(old, sub)) {
        let item = format!("{svc}.{}", sub.method);
        findings.push(whole(
            item,
            &format!("now handles {}.{}", sub.source, sub.event),
            false,
        ));
    }
}
