//! The logical schema, kept by hand so it uses only SQL types both backends share
//! (`Text`, `Integer`, `BigInt`, `Bool`, `Timestamp` holding UTC, `Double`, `Date`).
//! Each migration folder (`migrations/sqlite`, `migrations/postgres`) creates this same shape.

diesel::table! {
    clusters (id) {
        id -> Text,
        name -> Text,
        description -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    schools (id) {
        id -> Text,
        urn -> BigInt,
        name -> Text,
        phase -> Text,
        school_type -> Text,
        cluster_id -> Nullable<Text>,
        local_authority -> Text,
        postcode -> Text,
        is_open -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    staff_groups (id) {
        id -> Text,
        key -> Text,
        name -> Text,
        position -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    priorities (id) {
        id -> Text,
        key -> Text,
        name -> Text,
        description -> Text,
        position -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    providers (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        email -> Nullable<Text>,
        website -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    people (id) {
        id -> Text,
        name -> Text,
        email -> Text,
        school_id -> Nullable<Text>,
        staff_group_id -> Nullable<Text>,
        erased_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    person_roles (person_id, role) {
        person_id -> Text,
        role -> Text,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        person_id -> Text,
        name -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        at -> Timestamp,
        actor_id -> Nullable<Text>,
        action -> Text,
        subject_type -> Text,
        subject_id -> Nullable<Text>,
        detail -> Text,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        kind -> Text,
        recipient_email -> Text,
        recipient_person_id -> Nullable<Text>,
        subject_id -> Nullable<Text>,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        message_id -> Text,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(schools -> clusters (cluster_id));
diesel::joinable!(people -> schools (school_id));
diesel::joinable!(people -> staff_groups (staff_group_id));
diesel::joinable!(person_roles -> people (person_id));
diesel::joinable!(api_tokens -> people (person_id));

diesel::allow_tables_to_appear_in_same_query!(
    clusters,
    schools,
    staff_groups,
    priorities,
    providers,
    people,
    person_roles,
    api_tokens,
    audit_log,
    outbox,
    magic_links,
    web_sessions,
);

diesel::table! {
    magic_links (id) {
        id -> Text,
        person_id -> Nullable<Text>,
        email_hash -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        requested_ip -> Text,
    }
}

diesel::table! {
    web_sessions (id) {
        id -> Text,
        person_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(magic_links -> people (person_id));
diesel::joinable!(web_sessions -> people (person_id));
