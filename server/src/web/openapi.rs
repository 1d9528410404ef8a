//! The JSON API's routes and its OpenAPI 3.1 description, built from one
//! list so they cannot drift: [`api_routes`] adds every `/api` route through
//! utoipa-axum, each handler's `#[utoipa::path]` says its parameters, body,
//! answers and errors, and the wire types' schemas come from their
//! `ToSchema` derives (in `app` only with the `ssr` feature, so the WASM
//! build carries none of it). `GET /api/openapi.json` serves the result.
//!
//! Owns: the route list of `/api`, who may call each route (`gate`, as
//! everywhere), what every answer has in common (the error shape and the
//! statuses the layers in front of every route can answer, added here in
//! [`Common`] rather than on every handler), and the security schemes.
//! Does not own: the site's pages, forms and sign-in (`web::router`).
//! The one thing to know: a new endpoint is a `#[utoipa::path]` on its
//! handler and one line in [`api_routes`]; a route added to `web::router`
//! any other way is caught by the drift test (`tests/openapi.rs`), which
//! names it.

use super::api::StatusBody;
use super::{alarms, api, auth, device, gate, history, pdus, reports, rules, AppState};
use app::access::Role;
use app::model::ErrorBody;
use axum::extract::State;
use axum::Json;
use std::sync::OnceLock;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr, Response, ResponseBuilder};
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

/// The name of the bearer-token scheme in the description.
pub const BEARER: &str = "token";
/// The name of the session-cookie scheme in the description.
pub const SESSION: &str = "session";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "pdu-bridge",
        description = "The JSON API of pdu-bridge: CyberPower ATS PDUs over SNMP. Values are SI units; a \
            reading the PDU does not provide is null, never 0. Every error is `{\"error\", \"field\"?}`. \
            Each operation's `x-role` is the least role that may call it (viewer < operator < admin).",
        license(name = "MIT OR Apache-2.0"),
    ),
    components(schemas(ErrorBody, StatusBody)),
    security(("token" = []), ("session" = [])),
)]
struct Description;

/// `methods` behind the gate of `role`, its operations marked with the role.
fn gated(role: Role, (schemas, mut paths, methods): UtoipaMethodRouter<AppState>) -> UtoipaMethodRouter<AppState> {
    for item in paths.paths.values_mut() {
        for operation in operations(item) {
            let mut extensions = operation.extensions.take().unwrap_or_default();
            extensions.merge(utoipa::openapi::extensions::ExtensionsBuilder::new().add("x-role", role.label()).build());
            operation.extensions = Some(extensions);
        }
    }
    (schemas, paths, gate(role, methods))
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch, &mut item.head]
        .into_iter()
        .filter_map(Option::as_mut)
}

/// Every route under `/api`, with the role it needs: the router serves
/// exactly these, and the description lists exactly these. Add an endpoint
/// here (its handler carries `#[utoipa::path]`).
pub fn api_routes() -> OpenApiRouter<AppState> {
    use Role::{Admin, Operator, Viewer};
    OpenApiRouter::with_openapi(Description::openapi())
        // Public: the health probe (states and reasons, no readings).
        .routes(routes!(api::health))
        // Everyone signed in (or anonymous viewers, when that is on).
        .routes(gated(Viewer, routes!(openapi_json)))
        .routes(gated(Viewer, routes!(auth::me)))
        .routes(gated(Viewer, routes!(auth::sessions, auth::end_all_sessions)))
        .routes(gated(Viewer, routes!(auth::end_session)))
        .routes(gated(Viewer, routes!(api::status)))
        .routes(gated(Viewer, routes!(rules::events)))
        .routes(gated(Viewer, routes!(history::series)))
        .routes(gated(Viewer, routes!(reports::energy)))
        .routes(gated(Viewer, routes!(reports::daily)))
        .routes(gated(Viewer, routes!(reports::list)))
        .routes(gated(Viewer, routes!(reports::one)))
        .routes(gated(Viewer, routes!(api::stream)))
        // Operators: outlets and rules.
        .routes(gated(Operator, routes!(api::outlet_command)))
        .routes(gated(Operator, routes!(device::all_outlets)))
        .routes(gated(Operator, routes!(device::rename_outlet)))
        .routes(gated(Viewer, routes!(device::outlet_names)))
        .routes(gated(Viewer, routes!(device::settings)))
        .routes(gated(Admin, routes!(device::change_settings)))
        .routes(gated(Admin, routes!(device::device_text)))
        .routes(gated(Viewer, routes!(alarms::list)))
        .routes(gated(Operator, routes!(alarms::acknowledge)))
        .routes(gated(Admin, routes!(alarms::test)))
        .routes(gated(Viewer, routes!(rules::list)))
        .routes(gated(Operator, routes!(rules::create, rules::replace)))
        .routes(gated(Operator, routes!(rules::update, rules::delete)))
        .routes(gated(Operator, routes!(rules::enable)))
        .routes(gated(Operator, routes!(rules::disable)))
        // Admins: people and tokens, and what everyone did. A user may
        // change their own password (the service layer checks).
        .routes(gated(Admin, routes!(auth::users, auth::add_user)))
        .routes(gated(Viewer, routes!(auth::update_user)))
        .routes(gated(Admin, routes!(auth::remove_user)))
        .routes(gated(Admin, routes!(auth::tokens, auth::create_token)))
        .routes(gated(Admin, routes!(auth::revoke_token)))
        .routes(gated(Admin, routes!(auth::audit)))
        // The fleet: anyone who may look sees it (without secrets); admins change it.
        .routes(gated(Viewer, routes!(pdus::list)))
        .routes(gated(Admin, routes!(pdus::add)))
        .routes(gated(Admin, routes!(pdus::discover)))
        .routes(gated(Viewer, routes!(pdus::one)))
        .routes(gated(Admin, routes!(pdus::update, pdus::remove)))
}

/// The description, built once from [`api_routes`].
pub fn document() -> &'static Document {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document = api_routes().into_openapi();
        // After the routes: `#[openapi(modifiers)]` would run before any path is in.
        utoipa::Modify::modify(&Common, &mut document);
        document
    })
}

/// This description. Signed in (viewer) like the rest of the API: it
/// carries nothing secret, but the bridge shows strangers only the login
/// page, its static files and the health probe.
#[utoipa::path(get, path = "/api/openapi.json", tag = "bridge",
    responses((status = 200, description = "this OpenAPI 3.1 description", body = Object)))]
pub async fn openapi_json(State(state): State<AppState>) -> Json<Document> {
    let mut document = document().clone();
    // The cookie's name has the port in it (`pdu_session_8080`).
    if let Some(components) = document.components.as_mut() {
        components.add_security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                state.cookie_name.clone(),
                "the session cookie set by `POST /auth/login`".to_owned(),
            ))),
        );
    }
    Json(document)
}

/// What every operation has in common: the security schemes, and the
/// answers of the layers in front of every route (the guard, the limits,
/// the sign-in check), all in the one error shape.
struct Common;

impl utoipa::Modify for Common {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("an API token: `pdu-bridge token create NAME --role ROLE`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                super::auth::COOKIE,
                "the session cookie set by `POST /auth/login` (its name ends in the bridge's port)",
            ))),
        );
        let error = |description: &str| -> RefOr<Response> {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
                    )
                    .build(),
            )
        };
        for item in document.paths.paths.values_mut() {
            for operation in operations(item) {
                let public = operation.security.as_ref().is_some_and(|s| s.iter().all(is_empty));
                let with_body = operation.request_body.is_some();
                let responses = &mut operation.responses.responses;
                let mut add = |status: &str, description: &str| {
                    responses.entry(status.to_owned()).or_insert_with(|| error(description));
                };
                add(
                    "401",
                    if public {
                        "a bearer token was sent that is not valid"
                    } else {
                        "not signed in, or the session or token is no longer valid"
                    },
                );
                add(
                    "403",
                    if public {
                        "a host name the bridge does not answer to"
                    } else {
                        "the role is not enough, another site's page, or a host name the bridge does not answer to"
                    },
                );
                add("414", "the URI is too long");
                add("429", "too many requests at once from this address; see Retry-After");
                add("431", "the request's headers are too large");
                if with_body {
                    add("408", "the body did not arrive in time");
                    add("413", "the body is larger than 16 KiB");
                    add("415", "the body is not sent as application/json");
                }
            }
        }
    }
}

fn is_empty(requirement: &SecurityRequirement) -> bool {
    requirement == &SecurityRequirement::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_security_requirement_names_a_scheme_the_description_defines() {
        let document = serde_json::to_value(document()).unwrap();
        let schemes = document["components"]["securitySchemes"].as_object().unwrap();
        let mut names: Vec<&str> = schemes.keys().map(String::as_str).collect();
        names.sort();
        assert_eq!(names, [SESSION, BEARER]);
        for requirement in document["security"].as_array().unwrap() {
            for name in requirement.as_object().unwrap().keys() {
                assert!(schemes.contains_key(name), "{name} is not a security scheme");
            }
        }
    }

    #[test]
    fn the_live_stream_is_documented_at_the_path_the_browser_opens() {
        assert!(document().paths.paths.contains_key(app::wire::STREAM_PATH), "{}", app::wire::STREAM_PATH);
    }
}
