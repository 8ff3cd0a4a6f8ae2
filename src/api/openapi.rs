//! `GET /openapi.json`: the OpenAPI document of the served MassPay API, generated from the code —
//! the schemas are derived (utoipa) from the very structs the handlers parse and answer with, the
//! paths come from one table per operation for `/v0.1.4` and `/v1.0.0` (the other 0.1.x prefixes
//! are aliases of `/v0.1.4`). Every status code the server can send is listed.

use std::sync::OnceLock;

use axum::response::{IntoResponse, Response};
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

use super::models::*;

/// What an operation answers with on success.
#[derive(Clone, Copy)]
enum Ok200 {
    One(&'static str),
    Array(&'static str),
    Strings,
    /// One of two schemas (1.0.0's initiate with `auto_commit`).
    Either(&'static str, &'static str),
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Num,
    Bool,
}

/// A query parameter: name, type, required.
type Q = (&'static str, Kind, bool);

struct Op {
    id: &'static str,
    method: HttpMethod,
    /// Path under `/v0.1.4`, if 0.1.x serves it.
    v0: Option<&'static str>,
    /// Path under `/v1.0.0`, if 1.0.0 serves it.
    v1: Option<&'static str>,
    /// Request body schema (`[]` suffix: an array of it).
    body: Option<&'static str>,
    ok: Ok200,
    /// 1.0.0's answer when it differs.
    ok_v1: Option<Ok200>,
    query: &'static [Q],
    summary: &'static str,
}

const CATALOG_QUERY: &[Q] = &[
    ("amount", Kind::Str, false),
    ("source_currency", Kind::Str, false),
    ("limit", Kind::Str, false),
    ("wallet_token", Kind::Str, false),
    ("user_token", Kind::Str, false),
    ("include_payer_logos", Kind::Bool, false),
    ("payer_name", Kind::Str, false),
    ("destination_currency", Kind::Str, false),
];

const HISTORY_QUERY: &[Q] = &[
    ("number_of_records", Kind::Int, false),
    ("start_date", Kind::Str, false),
    ("end_date", Kind::Str, false),
    ("page", Kind::Int, false),
    ("type", Kind::Str, false),
    ("wallet_token", Kind::Str, false),
    ("show_all_clients", Kind::Bool, false),
];

use HttpMethod::{Delete, Get, Options, Patch, Post, Put};
use Ok200::{Array, Either, One, Strings};

const OPS: &[Op] = &[
    Op {
        id: "getAccountBalance",
        method: Get,
        v0: Some("/account/balance"),
        v1: Some("/payout/account/balance"),
        body: None,
        ok: Array("AvailableBalanceTxnResp"),
        ok_v1: None,
        query: &[],
        summary: "Available balances of the client's funding accounts",
    },
    Op {
        id: "getAccountStatement",
        method: Get,
        v0: Some("/account/statement"),
        v1: Some("/payout/account/statement"),
        body: None,
        ok: One("FileContent"),
        ok_v1: None,
        query: &[
            ("start_date", Kind::Str, true),
            ("ending_date", Kind::Str, true),
        ],
        summary: "Ledger statement (PDF, base64) for at most 31 days",
    },
    Op {
        id: "createUser",
        method: Post,
        v0: Some("/user"),
        v1: Some("/payout/user"),
        body: Some("UserBody"),
        ok: One("StoredUser"),
        ok_v1: None,
        query: &[],
        summary: "Create a payee user",
    },
    Op {
        id: "userLookup",
        method: Get,
        v0: Some("/user/lookup"),
        v1: Some("/payout/user/lookup"),
        body: None,
        ok: One("FoundUser"),
        ok_v1: None,
        query: &[
            ("email", Kind::Str, false),
            ("first_name", Kind::Str, false),
            ("internal_user_id", Kind::Str, false),
        ],
        summary: "Find a user by internal id, or e-mail and first name",
    },
    Op {
        id: "getAllUsersHistory",
        method: Get,
        v0: None,
        v1: Some("/payout/user/history"),
        body: None,
        ok: Array("TxnHistoryResp"),
        ok_v1: None,
        query: HISTORY_QUERY,
        summary: "Every user's transactions",
    },
    Op {
        id: "getUserByToken",
        method: Get,
        v0: Some("/user/{user_token}"),
        v1: Some("/payout/user/{user_token}"),
        body: None,
        ok: One("StoredUser"),
        ok_v1: None,
        query: &[],
        summary: "A user",
    },
    Op {
        id: "updateUser",
        method: Put,
        v0: Some("/user/{user_token}"),
        v1: Some("/payout/user/{user_token}"),
        body: Some("UserBody"),
        ok: One("StoredUser"),
        ok_v1: None,
        query: &[],
        summary: "Replace a user's profile",
    },
    Op {
        id: "getUserHistory",
        method: Get,
        v0: Some("/user/{user_token}/history"),
        v1: Some("/payout/user/{user_token}/history"),
        body: None,
        ok: Array("TxnHistoryResp"),
        ok_v1: None,
        query: HISTORY_QUERY,
        summary: "A user's payouts, loads and spend-backs",
    },
    Op {
        id: "getCountryList",
        method: Get,
        v0: Some("/country/list"),
        v1: Some("/payout/country/list"),
        body: None,
        ok: Array("CountryResp"),
        ok_v1: None,
        query: &[],
        summary: "Countries served",
    },
    Op {
        id: "getCountryServices",
        method: Get,
        v0: Some("/country/{country_code}"),
        v1: Some("/payout/country/{country_code}"),
        body: None,
        ok: One("CompaniesResp"),
        ok_v1: None,
        query: CATALOG_QUERY,
        summary: "Companies, services and payers of a country",
    },
    Op {
        id: "getCheapestCountryServices",
        method: Get,
        v0: Some("/country/{country_code}/cheapest"),
        v1: Some("/payout/country/{country_code}/cheapest"),
        body: None,
        ok: One("CompaniesResp"),
        ok_v1: None,
        query: CATALOG_QUERY,
        summary: "The cheapest payer per delivery type and currency",
    },
    Op {
        id: "getBestCountryServices",
        method: Get,
        v0: Some("/country/{country_code}/best"),
        v1: Some("/payout/country/{country_code}/best"),
        body: None,
        ok: One("CompaniesResp"),
        ok_v1: None,
        query: CATALOG_QUERY,
        summary: "The guide's name for cheapest",
    },
    Op {
        id: "getDestinationTokenAlternatives",
        method: Get,
        v0: Some("/service/{destination_token}/alternatives"),
        v1: Some("/payout/service/{destination_token}/alternatives"),
        body: None,
        ok: One("ServiceResp"),
        ok_v1: None,
        query: &[("include_payer_logos", Kind::Bool, false)],
        summary: "Other payers of the same country and delivery type",
    },
    Op {
        id: "getDestinationToken",
        method: Get,
        v0: None,
        v1: Some("/payout/service/{destination_token}"),
        body: None,
        ok: One("ServiceResp"),
        ok_v1: None,
        query: &[("include_payer_logos", Kind::Bool, false)],
        summary: "One destination",
    },
    Op {
        id: "getUserAgreement",
        method: Get,
        v0: Some("/user-agreements"),
        v1: Some("/payout/user-agreements"),
        body: None,
        ok: One("Agreement"),
        ok_v1: None,
        query: &[("id", Kind::Int, true)],
        summary: "A user agreement (PDF, base64)",
    },
    Op {
        id: "getUserAgreementsNames",
        method: Options,
        v0: Some("/user-agreements"),
        v1: Some("/payout/user-agreements"),
        body: None,
        ok: Array("AgreementName"),
        ok_v1: None,
        query: &[],
        summary: "The user agreements",
    },
    Op {
        id: "getAllAttrs",
        method: Get,
        v0: None,
        v1: Some("/payout/attribute/{user_token}"),
        body: None,
        ok: Array("AllAttributesResp"),
        ok_v1: None,
        query: &[],
        summary: "Every stored attribute set of a user",
    },
    Op {
        id: "getAttrs",
        method: Get,
        v0: Some("/attribute/{user_token}/{destination_token}/{currency}"),
        v1: Some("/payout/attribute/{user_token}/{destination_token}/{currency}"),
        body: None,
        ok: Array("AttrsRequirement"),
        ok_v1: None,
        query: &[],
        summary: "The attributes a destination requires, with stored values",
    },
    Op {
        id: "storeAttrs",
        method: Post,
        v0: Some("/attribute/{user_token}/{destination_token}/{currency}"),
        v1: Some("/payout/attribute/{user_token}/{destination_token}/{currency}"),
        body: Some("AttrTxnBody"),
        ok: One("AttrSetToken"),
        ok_v1: None,
        query: &[],
        summary: "Store attribute values (whole-string regex match)",
    },
    Op {
        id: "findAttributesVelocity",
        method: Post,
        v0: Some("/attribute/{user_token}/velocity"),
        v1: Some("/payout/attribute/{user_token}/velocity"),
        body: Some("VelocityItem[]"),
        ok: Array("VelocityMatch"),
        ok_v1: Some(Strings),
        query: &[],
        summary: "Other users sharing an attribute value",
    },
    Op {
        id: "initiatePayout",
        method: Post,
        v0: Some("/payout/{user_token}"),
        v1: Some("/payout/{user_token}"),
        body: Some("PayoutTxnBody"),
        ok: One("PayoutTxnResp"),
        ok_v1: Some(Either("PayoutTxnResp", "PayoutTxnCommitResp")),
        query: &[("limit", Kind::Num, false)],
        summary: "Quote a payout (PENDING), or NSF/DUPLICATE",
    },
    Op {
        id: "getUserPayoutsByToken",
        method: Get,
        v0: Some("/payout/{user_token}"),
        v1: Some("/payout/{user_token}"),
        body: None,
        ok: Array("PayoutTxnResp"),
        ok_v1: None,
        query: &[("include_payer_logos", Kind::Bool, false)],
        summary: "A user's payouts",
    },
    Op {
        id: "getTaxInterviewLink",
        method: Get,
        v0: None,
        v1: Some("/payout/{user_token}/tax"),
        body: None,
        ok: One("InterviewLink"),
        ok_v1: None,
        query: &[("return_url", Kind::Str, false)],
        summary: "W-8/W-9 interview link",
    },
    Op {
        id: "commitPayoutTxn",
        method: Put,
        v0: Some("/payout/{user_token}/{payout_token}"),
        v1: Some("/payout/{user_token}/{payout_token}"),
        body: None,
        ok: One("PayoutTxnCommitResp"),
        ok_v1: None,
        query: &[],
        summary: "Commit a payout",
    },
    Op {
        id: "getPayoutStatus",
        method: Get,
        v0: Some("/payout/{user_token}/{payout_token}"),
        v1: Some("/payout/{user_token}/{payout_token}"),
        body: None,
        ok: One("PayoutTxnResp"),
        ok_v1: None,
        query: &[
            ("force_status_update", Kind::Bool, false),
            ("include_payer_logo", Kind::Bool, false),
        ],
        summary: "A payout's status",
    },
    Op {
        id: "getTransactionConfirmationDetails",
        method: Patch,
        v0: Some("/payout/{user_token}/{payout_token}"),
        v1: Some("/payout/{user_token}/{payout_token}"),
        body: None,
        ok: One("FileContent"),
        ok_v1: None,
        query: &[],
        summary: "A payout's confirmation (PDF, base64)",
    },
    Op {
        id: "loadUser",
        method: Post,
        v0: Some("/load/{user_token}"),
        v1: Some("/payout/load/{user_token}"),
        body: Some("LoadTxnBody"),
        ok: One("LoadTxnResp"),
        ok_v1: None,
        query: &[],
        summary: "Credit a user's wallet from a funding account",
    },
    Op {
        id: "getUserLoadsByToken",
        method: Get,
        v0: Some("/load/{user_token}"),
        v1: Some("/payout/load/{user_token}"),
        body: None,
        ok: Array("Loads"),
        ok_v1: None,
        query: &[],
        summary: "A user's loads",
    },
    Op {
        id: "resendLoadNotification",
        method: Put,
        v0: Some("/load/{user_token}"),
        v1: Some("/payout/load/{user_token}"),
        body: None,
        ok: One("NotificationResult"),
        ok_v1: None,
        query: &[("load_token", Kind::Str, true)],
        summary: "Resend a load notification",
    },
    Op {
        id: "cancelUserLoad",
        method: Delete,
        v0: Some("/load/{user_token}"),
        v1: Some("/payout/load/{user_token}"),
        body: None,
        ok: One("LoadTxnResp"),
        ok_v1: None,
        query: &[("load_token", Kind::Str, true)],
        summary: "Reverse a load (or cancel a scheduled one)",
    },
    Op {
        id: "getWallet",
        method: Get,
        v0: Some("/wallet/{user_token}"),
        v1: Some("/payout/wallet/{user_token}"),
        body: None,
        ok: Array("WalletTxnResp"),
        ok_v1: None,
        query: &[],
        summary: "A user's wallets",
    },
    Op {
        id: "resendBalanceNotification",
        method: Put,
        v0: Some("/wallet/{user_token}"),
        v1: Some("/payout/wallet/{user_token}"),
        body: None,
        ok: One("NotificationResult"),
        ok_v1: None,
        query: &[("wallet_token", Kind::Str, false)],
        summary: "Resend a balance notification",
    },
    Op {
        id: "getAutopayRules",
        method: Get,
        v0: Some("/wallet/{user_token}/{wallet_token}/autopay"),
        v1: Some("/payout/wallet/{user_token}/{wallet_token}/autopayout"),
        body: None,
        ok: Array("AutopayResp"),
        ok_v1: None,
        query: &[],
        summary: "A wallet's autopay rules",
    },
    Op {
        id: "createAutopayRule",
        method: Post,
        v0: Some("/wallet/{user_token}/{wallet_token}/autopay"),
        v1: Some("/payout/wallet/{user_token}/{wallet_token}/autopayout"),
        body: Some("AutopayRuleBody"),
        ok: One("AutopayResp"),
        ok_v1: None,
        query: &[],
        summary: "Add an autopay rule",
    },
    Op {
        id: "deleteAutopayRule",
        method: Delete,
        v0: Some("/wallet/{user_token}/{wallet_token}/autopay"),
        v1: Some("/payout/wallet/{user_token}/{wallet_token}/autopayout"),
        body: None,
        ok: One("NotificationResult"),
        ok_v1: None,
        query: &[("token", Kind::Str, true)],
        summary: "Delete an autopay rule",
    },
    Op {
        id: "getWalletCardInfo",
        method: Get,
        v0: Some("/wallet/{user_token}/{wallet_token}/card"),
        v1: Some("/payout/wallet/{user_token}/{wallet_token}/card"),
        body: None,
        ok: One("CardInfo"),
        ok_v1: None,
        query: &[],
        summary: "The MassPay card of a card wallet",
    },
    Op {
        id: "updateWalletCardInfo",
        method: Put,
        v0: Some("/wallet/{user_token}/{wallet_token}/card"),
        v1: Some("/payout/wallet/{user_token}/{wallet_token}/card"),
        body: None,
        ok: One("CardInfo"),
        ok_v1: None,
        query: &[("pin", Kind::Str, false), ("status", Kind::Str, false)],
        summary: "Change a card's PIN or status",
    },
    Op {
        id: "initiateSpendback",
        method: Post,
        v0: Some("/spendback/{user_token}"),
        v1: Some("/payout/spendback/{user_token}"),
        body: Some("SpendBackTxnBody"),
        ok: One("SpendBackTxnResp"),
        ok_v1: None,
        query: &[],
        summary: "Move money from a user's wallet back to the client",
    },
    Op {
        id: "getUserSpendbacksByToken",
        method: Get,
        v0: Some("/spendback/{user_token}"),
        v1: Some("/payout/spendback/{user_token}"),
        body: None,
        ok: Array("SpendBacks"),
        ok_v1: None,
        query: &[],
        summary: "A user's spend-backs",
    },
    Op {
        id: "getUserUserTokenKycAu10tix",
        method: Get,
        v0: Some("/user/{user_token}/kyc/au10tix"),
        v1: Some("/payout/user/{user_token}/kyc/au10tix"),
        body: None,
        ok: One("SessionLink"),
        ok_v1: None,
        query: &[],
        summary: "Start an Au10tix session",
    },
    Op {
        id: "getUserUserTokenKycVeriff",
        method: Get,
        v0: Some("/user/{user_token}/kyc/veriff"),
        v1: Some("/payout/user/{user_token}/kyc/veriff"),
        body: None,
        ok: One("SessionLink"),
        ok_v1: None,
        query: &[],
        summary: "Start a Veriff session",
    },
    Op {
        id: "uploadIdPhotos",
        method: Post,
        v0: Some("/user/{user_token}/kyc/id"),
        v1: Some("/payout/user/{user_token}/kyc/id"),
        body: Some("IdUpload[]"),
        ok: One("UploadResult"),
        ok_v1: None,
        query: &[],
        summary: "Upload ID images (base64 PNG/JPEG)",
    },
    Op {
        id: "getUserUserTokenKycAttempts",
        method: Get,
        v0: None,
        v1: Some("/payout/user/{user_token}/kyc/id"),
        body: None,
        ok: Array("KycSessionResp"),
        ok_v1: None,
        query: &[],
        summary: "A user's KYC sessions",
    },
    Op {
        id: "getTaxUsers",
        method: Get,
        v0: Some("/tax"),
        v1: Some("/payout/tax"),
        body: None,
        ok: Array("TaxYearUserResp"),
        ok_v1: None,
        query: &[
            ("amount_threshold", Kind::Num, false),
            ("tax_year", Kind::Int, false),
        ],
        summary: "Users' totals for a tax year",
    },
    Op {
        id: "createSubaccount",
        method: Post,
        v0: None,
        v1: Some("/subaccount"),
        body: Some("object"),
        ok: One("SubaccountResp"),
        ok_v1: None,
        query: &[],
        summary: "Create a sub-account (a new API key)",
    },
    Op {
        id: "addSubaccountUbo",
        method: Post,
        v0: None,
        v1: Some("/subaccount/{subaccount_token}/ubo"),
        body: Some("object"),
        ok: One("UboResp"),
        ok_v1: None,
        query: &[],
        summary: "Add a beneficial owner",
    },
    Op {
        id: "uploadSubaccountUboId",
        method: Post,
        v0: None,
        v1: Some("/subaccount/{subaccount_token}/ubo/{ubo_token}/id"),
        body: Some("IdUpload[]"),
        ok: One("Uploaded"),
        ok_v1: None,
        query: &[],
        summary: "Upload a beneficial owner's ID images",
    },
];

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

fn ok_schema(ok: Ok200) -> RefOr<Schema> {
    match ok {
        One(n) => schema_ref(n),
        Array(n) => ArrayBuilder::new().items(schema_ref(n)).into(),
        Strings => ArrayBuilder::new()
            .items(ObjectBuilder::new().schema_type(SchemaType::Type(Type::String)))
            .into(),
        Either(a, b) => OneOfBuilder::new()
            .item(schema_ref(a))
            .item(schema_ref(b))
            .into(),
    }
}

fn body_schema(name: &str) -> RefOr<Schema> {
    match name.strip_suffix("[]") {
        Some(item) => ArrayBuilder::new().items(schema_ref(item)).into(),
        None if name == "object" => ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Object))
            .into(),
        None => schema_ref(name),
    }
}

fn kind_schema(kind: Kind) -> ObjectBuilder {
    let t = match kind {
        Kind::Str => Type::String,
        Kind::Int => Type::Integer,
        Kind::Num => Type::Number,
        Kind::Bool => Type::Boolean,
    };
    ObjectBuilder::new().schema_type(SchemaType::Type(t))
}

fn operation(op: &Op, path: &str, version: &str) -> utoipa::openapi::path::Operation {
    let ok = if version == "v1" {
        op.ok_v1.unwrap_or(op.ok)
    } else {
        op.ok
    };
    let mut responses = ResponsesBuilder::new().response(
        "200",
        ResponseBuilder::new().description("Success.").content(
            "application/json",
            ContentBuilder::new().schema(Some(ok_schema(ok))).build(),
        ),
    );
    for (code, what) in ERRORS {
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
    for seg in path.split('/') {
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            b = b.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(kind_schema(Kind::Str))),
            );
        }
    }
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
    if !matches!(op.method, Get | Options | Delete) {
        b = b.parameter(
            ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some("Replays the first answer for a retried request."))
                .schema(Some(
                    kind_schema(Kind::Str)
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
                    ContentBuilder::new()
                        .schema(Some(body_schema(body)))
                        .build(),
                )
                .build(),
        ));
    }
    b.build()
}

fn build() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for op in OPS {
        for (version, prefix, path) in [("v0", "/v0.1.4", op.v0), ("v1", "/v1.0.0", op.v1)] {
            if let Some(path) = path {
                let full = format!("{prefix}{path}");
                paths = paths.path(
                    full.clone(),
                    PathItem::new(op.method.clone(), operation(op, path, version)),
                );
            }
        }
    }
    let components = ComponentsBuilder::new()
        .schema_from::<crate::domain::money::Amount>()
        .schema_from::<crate::error::ErrorBody>()
        .schema_from::<crate::error::ErrorDetail>()
        .schema_from::<AvailableBalanceTxnResp>()
        .schema_from::<StoredUser>()
        .schema_from::<FoundUser>()
        .schema_from::<PayoutTxnResp>()
        .schema_from::<PayoutTxnCommitResp>()
        .schema_from::<AttrsRequirement>()
        .schema_from::<AttrSetToken>()
        .schema_from::<CountryResp>()
        .schema_from::<CompaniesResp>()
        .schema_from::<CompanyResp>()
        .schema_from::<ServiceResp>()
        .schema_from::<ServicePayerResp>()
        .schema_from::<PayerExchangeRate>()
        .schema_from::<FileContent>()
        .schema_from::<TxnHistoryResp>()
        .schema_from::<super::catalog::Agreement>()
        .schema_from::<super::catalog::AgreementName>()
        .schema_from::<super::attribute::VelocityMatch>()
        .schema_from::<super::attribute::AllAttributesResp>()
        .schema_from::<super::load::LoadTxnResp>()
        .schema_from::<super::load::Loads>()
        .schema_from::<super::load::NotificationResult>()
        .schema_from::<super::wallet::WalletTxnResp>()
        .schema_from::<super::wallet::AutopayResp>()
        .schema_from::<super::wallet::CardInfo>()
        .schema_from::<super::wallet::CardNumber>()
        .schema_from::<super::spendback::SpendBackTxnResp>()
        .schema_from::<super::spendback::SpendBacks>()
        .schema_from::<super::user::SessionLink>()
        .schema_from::<super::user::UploadResult>()
        .schema_from::<super::user::KycSessionResp>()
        .schema_from::<super::tax::TaxYearUserResp>()
        .schema_from::<super::tax::PostalCode>()
        .schema_from::<super::tax::InterviewLink>()
        .schema_from::<super::subaccount::SubaccountResp>()
        .schema_from::<super::subaccount::UboResp>()
        .schema_from::<super::subaccount::Uploaded>()
        .schema_from::<crate::domain::user::UserBody>()
        .schema_from::<crate::domain::attribute::AttrTxnBody>()
        .schema_from::<crate::domain::attribute::AttrValueBody>()
        .schema_from::<crate::domain::payout::PayoutTxnBody>()
        .schema_from::<crate::domain::wallet::LoadTxnBody>()
        .schema_from::<crate::domain::wallet::SpendBackTxnBody>()
        .schema_from::<crate::domain::wallet::AutopayRuleBody>()
        .schema_from::<super::attribute::VelocityItem>()
        .schema_from::<super::user::IdUpload>()
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
                     under /v1.0.0. Admin calls (/_sandbox) are described in the README.",
                ))
                .build(),
        )
        .servers(Some(vec![ServerBuilder::new().url("/").build()]))
        .paths(paths.build())
        .components(Some(components))
        .security(Some(vec![SecurityRequirement::new("AUTHORIZER_NAME", Vec::<String>::new())]))
        .build()
}

/// The document, built once on first request (start-up stays fast).
pub fn json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| build().to_json().unwrap_or_else(|_| "{}".into()))
}

pub async fn serve() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        json(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn operation_ids_are_unique_and_refs_resolve() {
        let doc: serde_json::Value = serde_json::from_str(super::json()).unwrap();
        let mut ids = std::collections::HashSet::new();
        for (_, item) in doc["paths"].as_object().unwrap() {
            for (_, op) in item.as_object().unwrap() {
                if let Some(id) = op.get("operationId") {
                    assert!(
                        ids.insert(id.as_str().unwrap().to_string()),
                        "duplicate {id}"
                    );
                }
            }
        }
        let text = super::json();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part.chars().take_while(|c| *c != '"').collect();
            assert!(schemas.contains_key(&name), "missing schema {name}");
        }
    }
}
