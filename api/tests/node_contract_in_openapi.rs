//! The api's OpenAPI document describes the media nodes' contract as the nodes read
//! it: every path of `confer_vocabulary::node_api::paths`, and the contract's own
//! schemas (required fields required, a meeting's lobby present even when null).

use confer_vocabulary::node_api::paths;
use serde_json::Value;

fn document() -> Value {
    serde_json::to_value(confer_api::http::openapi()).expect("the document as JSON")
}

#[test]
fn every_path_of_the_node_contract_is_documented_with_its_method() {
    let doc = document();
    for (path, method) in [
        (paths::SETTINGS, "get"),
        (paths::ROOM_MEETING, "get"),
        (paths::ROOM_MEETING_PASSWORD, "post"),
        (paths::SESSIONS, "post"),
        (paths::OIDC_SESSIONS, "post"),
        (paths::OIDC_CALLBACK, "post"),
        (paths::ROOM_FACTS, "post"),
        (paths::CERTIFICATES, "get"),
        (paths::TENANT_JWKS, "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "OpenAPI lacks {method} {path}");
    }
}

#[test]
fn the_contracts_schemas_are_the_documents_and_keep_their_fields_required() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let required = |name: &str| -> Vec<String> {
        schemas[name]["required"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has required fields: {}", schemas[name]))
            .iter()
            .filter_map(|f| f.as_str().map(str::to_owned))
            .collect()
    };
    let node_settings = required("NodeSettings");
    for field in ["auth", "guests_allowed", "max_participants", "lobby"] {
        assert!(node_settings.contains(&field.to_owned()), "NodeSettings requires {field}: {node_settings:?}");
    }
    let meeting = required("RoomMeeting");
    for field in ["has_password", "moderators", "lobby"] {
        assert!(meeting.contains(&field.to_owned()), "RoomMeeting requires {field}: {meeting:?}");
    }
    for name in ["ErrorBody", "Session", "PasswordLogin", "RoomFact", "TenantCertificates", "PasswordVerdict"] {
        assert!(schemas[name].is_object(), "OpenAPI lacks the schema {name}");
    }
    let settings = serde_json::to_string(&schemas["SettingsView"]).expect("JSON");
    assert!(settings.contains("#/components/schemas/NodeSettings"), "SettingsView carries NodeSettings: {settings}");
}
