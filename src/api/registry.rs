//! The operation registry: every MassPay operation the sandbox serves, declared once, next to its
//! handler (`OPERATIONS` in each resource module: `account.rs`, `user.rs`, `payout.rs`, …).
//!
//! An [`Operation`] names its SDK operation id, method, the paths it has under API 0.1.x and
//! API 1.0.0, its handler, and its request and answer schemas. Everything else is derived from
//! this one list: the axum routes ([`routes`], each knowing the operation it calls, which is
//! what the journal notes and scenario rules match), the ids scenario files may name
//! ([`resolve_name`]), and `/openapi.json` (`openapi.rs`).
//!
//! Why not utoipa-axum's `OpenApiRouter` with `#[utoipa::path]`: one handler here serves an
//! operation at six prefixes (`/v0.1.0`…`/v0.1.4`, `/v1.0.0`) with two path shapes (1.0.0 moved most
//! resources under `/payout`, and renamed `autopay` to `autopayout`), while `#[utoipa::path]` takes
//! one literal path per handler; the document must list each version once with unique operation
//! ids and a per-version answer schema; and `OpenApiRouter::nest` rewrites every request's URI, a
//! cost per request the routes avoid by carrying their full paths. A plain table does all of it,
//! and the schemas are still utoipa's, derived from the structs the handlers use.

use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter};
use axum::Router;
#[cfg(feature = "openapi")]
use utoipa::openapi::{RefOr, Schema as OaSchema};
#[cfg(feature = "openapi")]
use utoipa::ToSchema;

use super::{AppState, V0_PREFIXES, V1_PREFIX};

/// The collected component schemas of `/openapi.json` (name, schema).
#[cfg(feature = "openapi")]
pub type Components = Vec<(String, RefOr<OaSchema>)>;
/// A schema, or a reference to one, in `/openapi.json`.
#[cfg(feature = "openapi")]
pub type SchemaRef = RefOr<OaSchema>;

/// Without the `openapi` feature (every build but the tests': the document is the committed
/// `openapi.json`, see `openapi.rs`) the schemas are not built, and utoipa is not compiled.
#[cfg(not(feature = "openapi"))]
pub type Components = ();
#[cfg(not(feature = "openapi"))]
pub type SchemaRef = ();

/// Registers `T` (and the schemas it refers to) and answers a reference to it.
#[cfg(feature = "openapi")]
pub fn one<T: ToSchema>(c: &mut Components) -> SchemaRef {
    let name = T::name().into_owned();
    if !c.iter().any(|(n, _)| *n == name) {
        c.push((name.clone(), T::schema()));
        T::schemas(c);
    }
    RefOr::Ref(utoipa::openapi::Ref::from_schema_name(name))
}

/// Without the `openapi` feature: nothing to register.
#[cfg(not(feature = "openapi"))]
pub fn one<T>(_: &mut Components) -> SchemaRef {}

/// A schema of a request body or an answer.
#[derive(Clone, Copy)]
pub enum Schema {
    One(fn(&mut Components) -> SchemaRef),
    Many(fn(&mut Components) -> SchemaRef),
    /// One of two (1.0.0's initiate answers a commit when `auto_commit` is set).
    Either(
        fn(&mut Components) -> SchemaRef,
        fn(&mut Components) -> SchemaRef,
    ),
    /// An array of strings.
    Strings,
    /// A free-form JSON object.
    Object,
}

/// The type of a query parameter, as `/openapi.json` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    Str,
    Int,
    Num,
    Bool,
}

/// A query parameter: name, type, required.
pub type Query = (&'static str, Param, bool);

/// The catalog queries' parameters (`/country/{code}`, `cheapest`, `best`, alternatives).
pub const CATALOG_QUERY: &[Query] = &[
    ("amount", Param::Str, false),
    ("source_currency", Param::Str, false),
    ("limit", Param::Str, false),
    ("wallet_token", Param::Str, false),
    ("user_token", Param::Str, false),
    ("include_payer_logos", Param::Bool, false),
    ("payer_name", Param::Str, false),
    ("destination_currency", Param::Str, false),
];

/// The history queries' parameters.
pub const HISTORY_QUERY: &[Query] = &[
    ("number_of_records", Param::Int, false),
    ("start_date", Param::Str, false),
    ("end_date", Param::Str, false),
    ("page", Param::Int, false),
    ("type", Param::Str, false),
    ("wallet_token", Param::Str, false),
    ("show_all_clients", Param::Bool, false),
];

/// One MassPay operation.
pub struct Operation {
    /// The operation id: the 0.1.4 SDKs' name, `/openapi.json`'s id for the 0.1.4 path (the
    /// 1.0.0 path's id is this with a `V1` suffix), and what scenario rules name.
    pub id: &'static str,
    /// Other names scenario files may use for it: the 1.0.0 SDKs' id where they renamed it, or
    /// the operation this one is an alias of (`/best` is `/cheapest` under the seed's name).
    pub aliases: &'static [&'static str],
    pub method: Method,
    /// Its path under each 0.1.x prefix, if 0.1.x has it.
    pub v0: Option<&'static str>,
    /// Its path under `/v1.0.0`, if 1.0.0 has it.
    pub v1: Option<&'static str>,
    /// The handler, for a method filter: `|m| on(m, handler)`.
    pub handler: fn(MethodFilter) -> MethodRouter<AppState>,
    pub body: Option<Schema>,
    /// The 200 answer…
    pub ok: Schema,
    /// …and 1.0.0's, where it differs.
    pub ok_v1: Option<Schema>,
    pub query: &'static [Query],
    pub summary: &'static str,
}

impl Operation {
    /// Every full path it is served at (with version prefix): the 0.1.x aliases, then 1.0.0.
    pub fn full_paths(&self) -> impl Iterator<Item = String> + '_ {
        let v0 = self
            .v0
            .into_iter()
            .flat_map(|p| V0_PREFIXES.iter().map(move |prefix| [prefix, p].concat()));
        v0.chain(self.v1.map(|p| [V1_PREFIX, p].concat()))
    }

    /// Whether it changes state (and so takes an Idempotency-Key).
    pub fn mutates(&self) -> bool {
        !matches!(self.method, Method::GET | Method::OPTIONS | Method::DELETE)
    }
}

/// Every operation, resource by resource.
pub fn operations() -> impl Iterator<Item = &'static Operation> {
    [
        super::account::OPERATIONS,
        super::user::OPERATIONS,
        super::history::OPERATIONS,
        super::catalog::OPERATIONS,
        super::attribute::OPERATIONS,
        super::payout::OPERATIONS,
        super::load::OPERATIONS,
        super::wallet::OPERATIONS,
        super::spendback::OPERATIONS,
        super::tax::OPERATIONS,
        super::subaccount::OPERATIONS,
    ]
    .into_iter()
    .flatten()
}

/// The router of every operation at every path it is served at, each route wrapped in the layer
/// `layer` makes for its operation: the layer knows which operation a request calls (what the
/// journal notes and scenario rules match) without a lookup per request. Routes carry their full
/// path (no `nest`): nesting rewrites every request's URI, a measurable cost per request. Static
/// segments (`/payout/user`, …) win over `{user_token}` whatever the order (axum's matcher).
pub fn routes<L>(layer: impl Fn(&'static Operation) -> L) -> Router<AppState>
where
    L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
    L::Service: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    <L::Service as tower::Service<axum::extract::Request>>::Future: Send + 'static,
{
    let mut router = Router::new();
    for op in operations() {
        let filter = MethodFilter::try_from(op.method.clone())
            .unwrap_or_else(|_| panic!("{}: no method filter for {}", op.id, op.method));
        for path in op.full_paths() {
            router = router.route(&path, (op.handler)(filter).route_layer(layer(op)));
        }
    }
    router
}

/// The operations a name in a scenario file means: its id, an alias, or `/openapi.json`'s
/// `…V1` id (one simulation serves both versions, so that is the same operation). Empty when the
/// name is unknown.
pub fn resolve_name(name: &str) -> Vec<&'static str> {
    let base = name.strip_suffix("V1").unwrap_or(name);
    operations()
        .filter(|op| op.id == name || op.id == base || op.aliases.contains(&name))
        .map(|op| op.id)
        .collect()
}
