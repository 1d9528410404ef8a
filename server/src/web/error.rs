//! The one mapping from domain errors to HTTP, the JSON body, path and
//! query extractors that report bad input in the same `{"error", "field"}`
//! shape, and the fallbacks that keep every other error under `/api` and
//! `/fn` in that shape too (unknown paths, methods not allowed, rejections
//! of axum's own extractors).
//!
//! What stays outside: a request head hyper cannot parse (a URI over 64 KiB,
//! a head over its buffer) is answered by hyper before any of this runs, with
//! a bare status; `limits` refuses long URIs and big heads well before that,
//! in this shape.

use app::model::{ApiError, ErrorBody};
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;

#[derive(Debug)]
pub struct HttpError(pub ApiError);

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.0.body())).into_response()
    }
}

/// An error in the one shape with a status [`ApiError`] has no variant for
/// (405, 408, 413, 414, 429, 431: the protocol's, not the domain's).
pub fn error_response(status: StatusCode, field: Option<&str>, message: impl Into<String>) -> Response {
    (status, Json(ErrorBody { error: message.into(), field: field.map(str::to_owned) })).into_response()
}

/// Whether a path is the API's or the server functions': every error there
/// is JSON. The site's own paths answer browsers in text.
pub fn is_api(path: &str) -> bool {
    let path = path.trim_start_matches('/');
    ["api", "fn"]
        .iter()
        .any(|root| path.strip_prefix(root).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
}

/// `Json<T>` whose rejections are ours.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            // The body's size and arrival are bounded before any handler
            // (`limits`); what is left is its content.
            Err(JsonRejection::MissingJsonContentType(_)) => Err(error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Some("content-type"),
                "send the body as JSON, with Content-Type: application/json",
            )),
            Err(rejection) => Err(HttpError(ApiError::bad_request("body", rejection.body_text())).into_response()),
        }
    }
}

/// `Query<T>` whose rejections are ours and name the parameter
/// (`?days=abc` names `days`).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer).map(Self).map_err(|e| {
            let field = e.path().to_string();
            let field = if field == "." { "query" } else { field.as_str() };
            HttpError(ApiError::bad_request(field, format!("{field}: {}", e.inner())))
        })
    }
}

/// `Path<T>` whose rejections are ours and name the segment
/// (`/api/rules/%FF` names `name`).
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                let field = match e.kind() {
                    ErrorKind::InvalidUtf8InPathParam { key } => {
                        return Err(HttpError(ApiError::bad_request(key, format!("{key}: not UTF-8 once decoded"))));
                    }
                    ErrorKind::ParseErrorAtKey { key, .. } | ErrorKind::DeserializeError { key, .. } => key.as_str(),
                    _ => "path",
                };
                Err(HttpError(ApiError::bad_request(field, e.kind().to_string())))
            }
            Err(other) => Err(HttpError(ApiError::Internal(other.body_text()))),
        }
    }
}

/// A route exists but not with this method (axum adds the `Allow` header).
pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let message = format!("{method} is not allowed on {}; the Allow header lists what is", uri.path());
    error_response(StatusCode::METHOD_NOT_ALLOWED, Some("method"), message)
}

/// Error bodies this long or longer are not quoted back.
const MAX_QUOTED: usize = 4 * 1024;

/// The field a protocol-level status is about.
fn field_of(status: StatusCode) -> Option<&'static str> {
    match status {
        StatusCode::METHOD_NOT_ALLOWED => Some("method"),
        StatusCode::REQUEST_TIMEOUT | StatusCode::PAYLOAD_TOO_LARGE => Some("body"),
        StatusCode::URI_TOO_LONG => Some("uri"),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => Some("headers"),
        _ => None,
    }
}

/// The safety net under `/api` and `/fn`: an error answered in text or with
/// no body at all (a rejection of axum's or Leptos' own, a status set by a
/// layer) is rewritten into the one shape, its text kept as the message.
/// JSON errors pass untouched, including the server functions' own
/// encoding, which the dashboard decodes.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let api = is_api(request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !api || !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, MAX_QUOTED).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let message = match text.is_empty() {
        true => status.canonical_reason().unwrap_or("error").to_lowercase(),
        false => text,
    };
    let mut rewritten = error_response(status, field_of(status), message);
    for (name, value) in &parts.headers {
        if ![header::CONTENT_TYPE, header::CONTENT_LENGTH, header::CONTENT_ENCODING].contains(name) {
            rewritten.headers_mut().append(name.clone(), value.clone());
        }
    }
    rewritten.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    rewritten
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_and_server_function_paths_are_told_apart_from_the_sites() {
        for path in ["/api", "/api/", "/api/status", "/fn/outlet_command", "/fn", "api/x"] {
            assert!(is_api(path), "{path}");
        }
        for path in ["/", "/apiary", "/function", "/pkg/api/x.js", "/favicon.svg"] {
            assert!(!is_api(path), "{path}");
        }
    }
}
