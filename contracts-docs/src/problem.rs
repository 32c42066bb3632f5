//! Why the HTTP gateway answers without a reply: each kind of problem with the status it is
//! answered with and what it means. The gateway answers with these and the OpenAPI writer
//! documents them, so the two cannot disagree.

/// A kind of problem: the `type` of the gateway's error body `{"error": {"type", "message"}}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Problem {
    /// No route, service or method of that name here.
    NotFound,
    /// A route answered to `POST` only.
    MethodNotAllowed,
    /// A body that is not `application/json`.
    UnsupportedMediaType,
    /// A body larger than the gateway accepts.
    TooLarge,
    /// A body that could not be read.
    BadBody,
    /// A body that is not JSON.
    BadJson,
    /// The service refused the request as malformed or not matching the method's signature.
    BadRequest,
    /// The service has no such method.
    MethodNotFound,
    /// The service's reply breaks the contract.
    InvalidReply,
    /// The service raised an error it does not declare.
    RemoteError,
    /// No reply within the gateway's deadline.
    Timeout,
    /// No instance serves the service.
    UnknownService,
    /// The broker is unreachable or refuses to take the request.
    Unavailable,
    /// The service's answer is not a Nameko reply.
    ProtocolError,
}

impl Problem {
    /// Every kind, in the order the documents list them.
    pub const ALL: [Problem; 14] = [
        Problem::NotFound,
        Problem::MethodNotAllowed,
        Problem::UnsupportedMediaType,
        Problem::TooLarge,
        Problem::BadBody,
        Problem::BadJson,
        Problem::BadRequest,
        Problem::MethodNotFound,
        Problem::InvalidReply,
        Problem::RemoteError,
        Problem::Timeout,
        Problem::UnknownService,
        Problem::Unavailable,
        Problem::ProtocolError,
    ];

    /// The `type` the error body names.
    pub fn name(self) -> &'static str {
        match self {
            Problem::NotFound => "not_found",
            Problem::MethodNotAllowed => "method_not_allowed",
            Problem::UnsupportedMediaType => "unsupported_media_type",
            Problem::TooLarge => "too_large",
            Problem::BadBody => "bad_body",
            Problem::BadJson => "bad_json",
            Problem::BadRequest => "bad_request",
            Problem::MethodNotFound => "method_not_found",
            Problem::InvalidReply => "invalid_reply",
            Problem::RemoteError => "remote_error",
            Problem::Timeout => "timeout",
            Problem::UnknownService => "unknown_service",
            Problem::Unavailable => "unavailable",
            Problem::ProtocolError => "protocol_error",
        }
    }

    /// The HTTP status it is answered with.
    pub fn status(self) -> u16 {
        match self {
            Problem::NotFound | Problem::MethodNotFound => 404,
            Problem::MethodNotAllowed => 405,
            Problem::UnsupportedMediaType => 415,
            Problem::TooLarge => 413,
            Problem::BadBody | Problem::BadJson | Problem::BadRequest => 400,
            Problem::InvalidReply | Problem::RemoteError | Problem::ProtocolError => 502,
            Problem::Timeout => 504,
            Problem::UnknownService | Problem::Unavailable => 503,
        }
    }

    /// What it means, for the documents.
    pub fn description(self) -> &'static str {
        match self {
            Problem::NotFound => "No such service or method here.",
            Problem::MethodNotAllowed => "The route is answered to POST only.",
            Problem::UnsupportedMediaType => "The body is not application/json.",
            Problem::TooLarge => "The body is larger than the gateway accepts.",
            Problem::BadBody => "The body could not be read.",
            Problem::BadJson => "The body is not JSON.",
            Problem::BadRequest => "The service refused the arguments as malformed.",
            Problem::MethodNotFound => "The service has no such method.",
            Problem::InvalidReply => "The service's reply breaks the contract.",
            Problem::RemoteError => "The service raised an error it does not declare.",
            Problem::Timeout => "No reply within the gateway's deadline.",
            Problem::UnknownService => "No instance serves the service.",
            Problem::Unavailable => "The broker is unreachable.",
            Problem::ProtocolError => "The service's answer is not a Nameko reply.",
        }
    }

    /// The kinds answered with `status`, in [`Problem::ALL`]'s order.
    pub fn with_status(status: u16) -> impl Iterator<Item = Problem> {
        Self::ALL.into_iter().filter(move |p| p.status() == status)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed_once_with_an_error_status() {
        let mut names: Vec<_> = Problem::ALL.iter().map(|p| p.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Problem::ALL.len());
        assert!(
            Problem::ALL
                .iter()
                .all(|p| (400..600).contains(&p.status()))
        );
    }
}
