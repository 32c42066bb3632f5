//! A recording's files: the samples [`crate::record`] writes, and [`crate::infer`] and
//! [`crate::conform`] read back, one line at a time.
//!
//! A recording is a folder per service holding JSON lines: `<method>.rpc.jsonl`, one
//! [`Call`] a line, and `<event>.event.jsonl`, one [`Event`] a line.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One recorded call: the request as its caller sent it, and the reply when one was seen.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// Positional arguments, kept as such: which parameter each binds to is the contract's
    /// business, not the recording's.
    #[serde(default, deserialize_with = "null_as_default")]
    pub args: Vec<Value>,
    /// Keyword arguments.
    #[serde(default, deserialize_with = "null_as_default")]
    pub kwargs: Map<String, Value>,
    /// Whether the reply was seen (a call still waiting when the recording ended was not).
    #[serde(default)]
    pub replied: bool,
    /// The reply's `result` (null when it failed or was not seen).
    #[serde(default)]
    pub result: Value,
    /// The reply's Nameko error dict (`exc_type`, `exc_path`, `value`, ...), when it failed.
    #[serde(default)]
    pub error: Option<Map<String, Value>>,
}

/// One recorded event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The message body.
    pub payload: Value,
}

/// A line of a recording.
#[derive(Clone, Copy, Debug)]
pub enum Sample<'a> {
    /// A line of `<service>/<method>.rpc.jsonl`.
    Call {
        /// The service.
        service: &'a str,
        /// The method.
        method: &'a str,
        /// The call.
        call: &'a Call,
    },
    /// A line of `<service>/<event>.event.jsonl`.
    Event {
        /// The service that published it.
        service: &'a str,
        /// The event type.
        event: &'a str,
        /// Its body.
        payload: &'a Value,
    },
}

/// What reading a recording found besides its samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Read {
    /// Samples read.
    pub samples: u64,
    /// Lines that were not a sample (not JSON, or not the format), skipped.
    pub unreadable: u64,
}

/// Why a recording could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A folder or file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No sample file was found.
    #[error("no samples in {0} (expected <service>/<method>.rpc.jsonl or <event>.event.jsonl)")]
    Empty(PathBuf),
}

/// The file a call of `method` is recorded in.
pub fn call_file(method: &str) -> String {
    format!("{method}.rpc.jsonl")
}

/// The file an event of type `event` is recorded in.
pub fn event_file(event: &str) -> String {
    format!("{event}.event.jsonl")
}

/// Hand every sample under `dir` to `visit`, services and files in name order, lines in
/// file order; only one line is held at a time.
pub fn read(dir: &Path, mut visit: impl FnMut(Sample<'_>)) -> Result<Read, ReadError> {
    let mut read = Read::default();
    let mut files_seen = false;
    for folder in entries(dir)?.into_iter().filter(|p| p.is_dir()) {
        let service = file_name(&folder);
        for file in entries(&folder)? {
            let name = file_name(&file);
            let (item, is_event) = if let Some(m) = name.strip_suffix(".rpc.jsonl") {
                (m, false)
            } else if let Some(e) = name.strip_suffix(".event.jsonl") {
                (e, true)
            } else {
                continue;
            };
            files_seen = true;
            let failed = |source| ReadError::Io {
                path: file.clone(),
                source,
            };
            let reader = BufReader::new(File::open(&file).map_err(failed)?);
            for line in reader.lines() {
                let line = line.map_err(failed)?;
                if line.trim().is_empty() {
                    continue;
                }
                let visited = if is_event {
                    serde_json::from_str::<Event>(&line).map(|e| {
                        visit(Sample::Event {
                            service: &service,
                            event: item,
                            payload: &e.payload,
                        });
                    })
                } else {
                    serde_json::from_str::<Call>(&line).map(|call| {
                        visit(Sample::Call {
                            service: &service,
                            method: item,
                            call: &call,
                        });
                    })
                };
                match visited {
                    Ok(()) => read.samples += 1,
                    Err(_) => read.unreadable += 1,
                }
            }
        }
    }
    if files_seen {
        Ok(read)
    } else {
        Err(ReadError::Empty(dir.to_owned()))
    }
}

/// A folder's entries in name order, so that a recording reads the same on every machine.
fn entries(dir: &Path) -> Result<Vec<PathBuf>, ReadError> {
    let failed = |source| ReadError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut paths = std::fs::read_dir(dir)
        .map_err(failed)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(failed)?;
    paths.sort();
    Ok(paths)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `null` read as the type's default: the recorder writes a missing `args` or `kwargs` as
/// null.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_calls_and_events_and_counts_what_is_no_sample() {
        let dir = std::env::temp_dir().join(format!("recording-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("svc")).unwrap();
        std::fs::write(
            dir.join("svc").join(call_file("m")),
            "{\"args\": [1], \"kwargs\": null, \"replied\": true, \"result\": 2, \"error\": null}\nnot json\n\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("svc").join(event_file("e")),
            "{\"payload\": {\"a\": 1}}\n{\"no\": 1}\n",
        )
        .unwrap();
        std::fs::write(dir.join("svc").join("notes.txt"), "ignored").unwrap();
        let mut seen = Vec::new();
        let read = read(&dir, |sample| {
            seen.push(match sample {
                Sample::Call {
                    service,
                    method,
                    call,
                } => format!("{service}.{method} {:?} {}", call.args, call.result),
                Sample::Event {
                    service,
                    event,
                    payload,
                } => format!("{service}.{event} {payload}"),
            })
        })
        .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(seen, ["svc.e {\"a\":1}", "svc.m [Number(1)] 2"]);
        assert_eq!(
            read,
            Read {
                samples: 2,
                unreadable: 2
            }
        );
    }
}
