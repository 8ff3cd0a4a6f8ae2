//! The generator of `openapi.json` (the `openapi` feature, on in tests).
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref,
    RefOr, Required, ResponseBuilder, ResponsesBuilder, Schema, ServerBuilder,
};

use crate::api::registry::{self, Components, Operation, Param};
use crate::api::V1_PREFIX;

/// utoipa's name for an HTTP method.
fn http_method(m: &axum::http::Method) -> HttpMethod {
    match *m {
        axum::http::Method::POST => HttpMethod::Post,
        axum::http::Method::PUT => HttpMethod::Put,
        axum::http::Method::PATCH => HttpMethod::Patch,
        axum::http::Method::DELETE => HttpMethod::Delete,
        axum::http::Method::OPTIONS => HttpMethod::Options,
        _ => HttpMethod::Get,
    }
}

/// Status codes every operation may answer besides 200, with what they mean here.
const ERRORS: &[(&str, &str)] = &[
    (
        "400",
        "Bad request: malformed JSON, wrong types, missing or invalid fields (all listed).",
    ),
    ("401", "Missing or unknown API key."),
    (
        "404",
        "Unknown user, payout, destination or other resource.",
    ),
    ("408", "The request body did not arrive in time."),
    (
        "409",
        "A request with the same Idempotency-Key is still running.",
    ),
    ("413", "The body is larger than the limit."),
    (
        "422",
        "The Idempotency-Key was used for a different request, or the tenant already holds the most objects of this kind it may (reset it or use another API key).",
    ),
    ("429", "Injected by the rate_limited scenario."),
    ("500", "Injected by a scenario (or a sandbox bug)."),
    ("503", "Injected by the server_error scenario."),
    ("504", "Injected by a scenario."),
];

fn schema_ref(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

fn schema(s: registry::Schema, c: &mut Components) -> RefOr<Schema> {
    match s {
        registry::Schema::One(f) => f(c),
        registry::Schema::Many(f) => ArrayBuilder::new().items(f(c)).into(),
        registry::Schema::Either(a, b) => OneOfBuilder::new().item(a(c)).item(b(c)).into(),
        registry::Schema::Strings => ArrayBuilder::new()
            .items(ObjectBuilder::new().schema_type(SchemaType::Type(Type::String)))
            .into(),
        registry::Schema::Object => ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Object))
            .into(),
    }
}

fn kind_schema(kind: Param) -> ObjectBuilder {
    let t = match kind {
        Param::Str => Type::String,
        Param::Int => Type::Integer,
        Param::Num => Type::Number,
        Param::Bool => Type::Boolean,
    };
    ObjectBuilder::new().schema_type(SchemaType::Type(t))
}

/// Each status in `list` as an answer in MassPay's error shape.
fn error_responses(mut responses: ResponsesBuilder, list: &[(&str, &str)]) -> ResponsesBuilder {
    for (code, what) in list {
        responses = responses.response(
            *code,
            ResponseBuilder::new().description(*what).content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(schema_ref("Error")))
                    .build(),
            ),
        );
    }
    responses
}

/// Each `{name}` of a route template as a required string path parameter.
fn path_parameters(mut b: OperationBuilder, template: &str) -> OperationBuilder {
    for seg in template.split('/') {
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            b = b.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(kind_schema(Param::Str))),
            );
        }
    }
    b
}

fn operation(
    op: &Operation,
    path: &str,
    version: &str,
    c: &mut Components,
) -> utoipa::openapi::path::Operation {
    let ok = if version == "v1" {
        op.ok_v1.unwrap_or(op.ok)
    } else {
        op.ok
    };
    let mut responses = ResponsesBuilder::new().response(
        "200",
        ResponseBuilder::new().description("Success.").content(
            "application/json",
            ContentBuilder::new().schema(Some(schema(ok, c))).build(),
        ),
    );
    responses = error_responses(responses, ERRORS);
    let op_id = if version == "v1" {
        format!("{}V1", op.id)
    } else {
        op.id.to_string()
    };
    let mut b = OperationBuilder::new()
        .operation_id(Some(op_id))
        .summary(Some(op.summary))
        .tag(if version == "v1" {
            "API 1.0.0"
        } else {
            "API 0.1.4"
        })
        .responses(responses.build());
    b = path_parameters(b, path);
    for &(name, kind, required) in op.query {
        b = b.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(if required {
                    Required::True
                } else {
                    Required::False
                })
                .schema(Some(kind_schema(kind))),
        );
    }
    if op.mutates() {
        b = b.parameter(
            ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some("Replays the first answer for a retried request."))
                .schema(Some(
                    kind_schema(Param::Str)
                        .min_length(Some(1))
                        .max_length(Some(255))
                        .pattern(Some("^[!-~]+$")),
                )),
        );
    }
    if let Some(body) = op.body {
        b = b.request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(schema(body, c))).build(),
                )
                .build(),
        ));
    }
    b.build()
}

/// An admin call's entry (tag "Sandbox admin"): JSON in and out, shapes in the README.
fn admin_operation(op: &crate::admin::doc::AdminOperation) -> utoipa::openapi::path::Operation {
    let any = || ObjectBuilder::new().schema_type(SchemaType::AnyValue);
    let ok = if op.ok == 204 {
        ResponseBuilder::new().description("Done.")
    } else {
        ResponseBuilder::new().description("Success.").content(
            "application/json",
            ContentBuilder::new().schema(Some(any())).build(),
        )
    };
    let mut responses = ResponsesBuilder::new().response(op.ok.to_string(), ok);
    responses = error_responses(responses, ADMIN_ERRORS);
    let mut b = OperationBuilder::new()
        .operation_id(Some(op.id))
        .summary(Some(op.summary))
        .tag("Sandbox admin")
        .responses(responses.build());
    b = path_parameters(b, op.path);
    for name in op.query {
        b = b.parameter(
            ParameterBuilder::new()
                .name(*name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .schema(Some(kind_schema(Param::Str))),
        );
    }
    if op.body {
        b = b.request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(any())).build(),
                )
                .build(),
        ));
    }
    b.build()
}

/// What an admin call may answer besides its success.
const ADMIN_ERRORS: &[(&str, &str)] = &[
    (
        "400",
        "Bad request: the body or a parameter is wrong (named).",
    ),
    ("401", "Missing or unknown API key."),
    ("404", "Unknown delivery or other resource."),
    (
        "408",
        "A long poll (wait=) reached its deadline; the answer lists what was seen.",
    ),
    (
        "409",
        "Expectations not met (verify), with verdicts and near misses.",
    ),
    (
        "422",
        "A per-tenant limit (snapshots) is reached, or there is no --state-file to save to.",
    ),
    ("413", "The body is larger than the limit."),
    (
        "429",
        "Too many long polls (wait=) already wait in this sandbox; retry (Retry-After: 1).",
    ),
];

fn build() -> OpenApi {
    let mut c = Components::new();
    let mut paths = PathsBuilder::new();
    for op in crate::admin::doc::OPERATIONS {
        paths = paths.path(
            op.path,
            PathItem::new(http_method(&op.method), admin_operation(op)),
        );
    }
    for op in registry::operations() {
        for (version, prefix, path) in [("v0", "/v0.1.4", op.v0), ("v1", V1_PREFIX, op.v1)] {
            if let Some(path) = path {
                let method = http_method(&op.method);
                paths = paths.path(
                    format!("{prefix}{path}"),
                    PathItem::new(method, operation(op, path, version, &mut c)),
                );
            }
        }
    }
    registry::one::<crate::error::ErrorBody>(&mut c);
    let mut components = ComponentsBuilder::new();
    for (name, schema) in c {
        components = components.schema(name, schema);
    }
    let components = components
        .security_scheme(
            "AUTHORIZER_NAME",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "Your API key, as `Bearer KEY` or the raw key. Every distinct key is its own sandbox.",
            ))),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("MassPay payout API (masspay-sandbox)")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The MassPay payout API as masspay-sandbox serves it: API 0.1.4 under /v0.1.4 \
                     (also served, identically, under /v0.1.0, /v0.1.1, /v0.1.2 and /v0.1.3) and API 1.0.0 \
                     under /v1.0.0; the sandbox's own admin calls (/_sandbox, tag \"Sandbox admin\", \
                     shapes in the README) act on the caller's tenant.",
                ))
                .build(),
        )
        .servers(Some(vec![ServerBuilder::new().url("/").build()]))
        .paths(paths.build())
        .components(Some(components))
        .security(Some(vec![SecurityRequirement::new("AUTHORIZER_NAME", Vec::<String>::new())]))
        .build()
}

/// The document as `openapi.json` holds it (compact, as it has always been served).
pub fn document() -> String {
    build().to_json().expect("the document is JSON")
}

#[cfg(test)]
mod tests {
    /// The committed `openapi.json`, which every build serves, is this build's document.
    /// `UPDATE_OPENAPI=1 cargo test --lib openapi` writes it after a change to the registry or to
    /// a schema's type.
    #[test]
    fn the_committed_document_is_the_generated_one() {
        let generated = super::document();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/api/openapi.json");
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        // The file on disk (what `json()` serves once built): an update passes at once.
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            generated == committed,
            "src/api/openapi.json is out of date: run `UPDATE_OPENAPI=1 cargo test --lib openapi` \
             and commit it"
        );
    }
}
