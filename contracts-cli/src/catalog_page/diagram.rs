//! The topology diagram's geometry: a box per service listing its RPC methods, events and
//! handled events, laid out in a grid; an arrow per subscription from the publisher to the
//! handler, and a dashed arrow per declared call. The template draws it as SVG.

use std::collections::BTreeMap;

use serde::Serialize;

use contracts_core::contract::ServiceContract;

use crate::catalog::{Catalog, events_by_name, methods_by_name};

const COLUMNS: usize = 3;
const BOX_WIDTH: usize = 290;
const GAP_X: usize = 170;
const GAP_Y: usize = 90;
const MARGIN_X: usize = 20;
const MARGIN_TOP: usize = 50;
const LINE_HEIGHT: usize = 18;

/// Everything the template needs to draw the diagram.
#[derive(Debug, Serialize)]
pub(super) struct Diagram {
    width: usize,
    height: usize,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
}

/// A service's box.
#[derive(Debug, Serialize)]
struct Node {
    name: String,
    x: usize,
    y: usize,
    width: usize,
    height: usize,
    lines: Vec<Line>,
}

/// One line of text in a box: `rpc m()`, `event e`, `handles s.e`.
#[derive(Debug, Serialize)]
struct Line {
    y: usize,
    class: &'static str,
    text: String,
}

/// An arrow, with a label above (the event, or `calls`) and one below (the handler).
#[derive(Debug, Serialize)]
struct Edge {
    class: &'static str,
    marker: &'static str,
    path: String,
    label_x: usize,
    above_y: usize,
    below_y: usize,
    above: String,
    below: String,
}

/// Where a box sits: its centre and its top edge and height.
#[derive(Clone, Copy)]
struct Placed {
    center_x: usize,
    center_y: usize,
    top: usize,
    height: usize,
}

/// Lay out `catalog`'s services and the arrows between them.
pub(super) fn diagram(catalog: &Catalog) -> Diagram {
    let heights: Vec<usize> = catalog.services.values().map(box_height).collect();
    let row_heights: Vec<usize> = heights
        .chunks(COLUMNS)
        .map(|row| row.iter().copied().max().unwrap_or(0))
        .collect();
    let rows = row_heights.len();
    let mut placed = BTreeMap::new();
    let nodes = catalog
        .services
        .values()
        .enumerate()
        .map(|(i, service)| {
            let (x, y) = grid_position(i, &row_heights);
            let height = heights[i];
            placed.insert(
                service.name.as_str(),
                Placed {
                    center_x: x + BOX_WIDTH / 2,
                    center_y: y + height / 2,
                    top: y,
                    height,
                },
            );
            Node {
                name: service.name.clone(),
                x,
                y,
                width: BOX_WIDTH,
                height,
                lines: box_lines(service, y),
            }
        })
        .collect();
    let edges = connections(catalog)
        .into_iter()
        .filter_map(|c| {
            let (from, to) = (placed.get(c.from)?, placed.get(c.to)?);
            Some(route(c, *from, *to))
        })
        .collect();
    Diagram {
        width: 2 * MARGIN_X + COLUMNS * BOX_WIDTH + (COLUMNS - 1) * GAP_X,
        height: MARGIN_TOP
            + 20
            + row_heights.iter().sum::<usize>()
            + rows.saturating_sub(1) * GAP_Y,
        nodes,
        edges,
    }
}

fn box_height(service: &ServiceContract) -> usize {
    let lines = service.methods.len() + service.events.len() + service.subscriptions.len();
    50 + LINE_HEIGHT * lines.max(1)
}

/// The top-left corner of the `index`th box: rows as tall as their tallest box.
fn grid_position(index: usize, row_heights: &[usize]) -> (usize, usize) {
    let (row, column) = (index / COLUMNS, index % COLUMNS);
    let y = MARGIN_TOP + row_heights[..row].iter().sum::<usize>() + row * GAP_Y;
    (MARGIN_X + column * (BOX_WIDTH + GAP_X), y)
}

fn box_lines(service: &ServiceContract, top: usize) -> Vec<Line> {
    let methods = methods_by_name(service).map(|m| ("rpc", format!("rpc {}()", m.name)));
    let events = events_by_name(service).map(|e| ("evt", format!("event {}", e.name)));
    let handled = service
        .subscriptions
        .iter()
        .map(|s| ("evt", format!("handles {}.{}", s.source, s.event)));
    methods
        .chain(events)
        .chain(handled)
        .enumerate()
        .map(|(i, (class, text))| Line {
            y: top + 46 + i * LINE_HEIGHT,
            class,
            text,
        })
        .collect()
}

/// An arrow to draw, before it is routed.
struct Connection<'a> {
    from: &'a str,
    to: &'a str,
    above: String,
    below: String,
    call: bool,
}

/// Declared calls (caller to callee) and subscriptions (publisher to handler).
fn connections(catalog: &Catalog) -> Vec<Connection<'_>> {
    let mut out = Vec::new();
    for (name, service) in &catalog.services {
        out.extend(service.calls.iter().map(|callee| Connection {
            from: name,
            to: callee,
            above: "calls".into(),
            below: String::new(),
            call: true,
        }));
        out.extend(service.subscriptions.iter().map(|sub| Connection {
            from: &sub.source,
            to: name,
            above: sub.event.clone(),
            below: format!("→ {}", sub.method),
            call: false,
        }));
    }
    out
}

/// The arrow's path: neighbours in a row side to side; further apart in a row, an arc over
/// the boxes between; across rows, bottom to top (or top to bottom).
fn route(c: Connection<'_>, from: Placed, to: Placed) -> Edge {
    let same_row = from.top == to.top;
    let (path, label_x, label_y) =
        if same_row && from.center_x.abs_diff(to.center_x) > BOX_WIDTH + GAP_X {
            let peak = from.top.saturating_sub(24).max(4);
            let (sx, ex, y) = (from.center_x, to.center_x, from.top);
            (
                format!("M {sx} {y} C {sx} {peak}, {ex} {peak}, {ex} {y}"),
                (sx + ex) / 2,
                peak + 8,
            )
        } else {
            let (sx, sy, ex, ey) = if same_row {
                let half = BOX_WIDTH / 2;
                if to.center_x > from.center_x {
                    (
                        from.center_x + half,
                        from.center_y,
                        to.center_x - half,
                        to.center_y,
                    )
                } else {
                    (
                        from.center_x - half,
                        from.center_y,
                        to.center_x + half,
                        to.center_y,
                    )
                }
            } else if to.top > from.top {
                (from.center_x, from.top + from.height, to.center_x, to.top)
            } else {
                (from.center_x, from.top, to.center_x, to.top + to.height)
            };
            (
                format!("M {sx} {sy} L {ex} {ey}"),
                (sx + ex) / 2,
                (sy + ey) / 2,
            )
        };
    Edge {
        class: if c.call { "call" } else { "edge" },
        marker: if c.call { "call-arrow" } else { "arrow" },
        path,
        label_x,
        above_y: label_y - 8,
        below_y: label_y + 18,
        above: c.above,
        below: c.below,
    }
}
