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
        claim_token -> Nullable<Text>,
    }
}

diesel::table! {
    courses (id) {
        id -> Text,
        title -> Text,
        summary -> Text,
        summary_html -> Text,
        search_text -> Text,
        provider_id -> Text,
        cluster_id -> Nullable<Text>,
        format -> Text,
        capacity -> Integer,
        per_school_cap -> Nullable<Integer>,
        per_school_cap_until -> Nullable<Timestamp>,
        price_pence -> Integer,
        booking_opens -> Nullable<Timestamp>,
        booking_closes -> Nullable<Timestamp>,
        cancellation_deadline -> Nullable<Timestamp>,
        requires_approval -> Bool,
        completion_min_sessions -> Nullable<Integer>,
        status -> Text,
        cancel_reason -> Nullable<Text>,
        revision -> Integer,
        version -> Integer,
        confirmed_count -> Integer,
        waitlist_count -> Integer,
        sessions_count -> Integer,
        first_session_start -> Nullable<Timestamp>,
        last_session_end -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        published_at -> Nullable<Timestamp>,
        cancelled_at -> Nullable<Timestamp>,
        last_register_recorded_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    course_sessions (id) {
        id -> Text,
        course_id -> Text,
        start_at -> Timestamp,
        end_at -> Timestamp,
        venue_name -> Nullable<Text>,
        venue_address -> Nullable<Text>,
        venue_postcode -> Nullable<Text>,
        online_url -> Nullable<Text>,
        note -> Nullable<Text>,
        position -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        check_in_code -> Nullable<Text>,
        register_recorded_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    course_leads (course_id, person_id) {
        course_id -> Text,
        person_id -> Text,
    }
}

diesel::table! {
    course_priorities (course_id, priority_id) {
        course_id -> Text,
        priority_id -> Text,
    }
}

diesel::table! {
    course_staff_groups (course_id, staff_group_id) {
        course_id -> Text,
        staff_group_id -> Text,
    }
}

diesel::table! {
    course_phases (course_id, phase) {
        course_id -> Text,
        phase -> Text,
    }
}

diesel::table! {
    calendar_generation (id) {
        id -> Integer,
        n -> BigInt,
    }
}

diesel::table! {
    reference_generation (id) {
        id -> Integer,
        n -> BigInt,
    }
}

diesel::table! {
    calendar_feeds (id) {
        id -> Text,
        person_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    bookings (id) {
        id -> Text,
        course_id -> Text,
        person_id -> Text,
        school_id -> Nullable<Text>,
        staff_group_id -> Nullable<Text>,
        status -> Text,
        requested_at -> Timestamp,
        confirmed_at -> Nullable<Timestamp>,
        cancelled_at -> Nullable<Timestamp>,
        late_cancellation -> Bool,
        cancel_reason -> Nullable<Text>,
        decline_reason -> Nullable<Text>,
        admin_override -> Bool,
        walk_in -> Bool,
        price_pence -> Integer,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    booking_history (id) {
        id -> Text,
        booking_id -> Text,
        at -> Timestamp,
        actor_id -> Nullable<Text>,
        from_status -> Nullable<Text>,
        to_status -> Text,
        reason -> Nullable<Text>,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    idempotency_keys (caller_id, key) {
        caller_id -> Text,
        key -> Text,
        request_hash -> Text,
        state -> Text,
        response_status -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        created_at -> Timestamp,
        claim -> Nullable<Text>,
    }
}

diesel::joinable!(schools -> clusters (cluster_id));
diesel::joinable!(people -> schools (school_id));
diesel::joinable!(people -> staff_groups (staff_group_id));
diesel::joinable!(person_roles -> people (person_id));
diesel::joinable!(api_tokens -> people (person_id));

diesel::joinable!(courses -> providers (provider_id));
diesel::joinable!(courses -> clusters (cluster_id));
diesel::joinable!(course_sessions -> courses (course_id));
diesel::joinable!(course_leads -> courses (course_id));
diesel::joinable!(course_leads -> people (person_id));
diesel::joinable!(course_priorities -> courses (course_id));
diesel::joinable!(course_priorities -> priorities (priority_id));
diesel::joinable!(course_staff_groups -> courses (course_id));
diesel::joinable!(course_staff_groups -> staff_groups (staff_group_id));
diesel::joinable!(course_phases -> courses (course_id));
diesel::joinable!(calendar_feeds -> people (person_id));

diesel::joinable!(bookings -> courses (course_id));
diesel::joinable!(bookings -> people (person_id));
diesel::joinable!(bookings -> schools (school_id));
diesel::joinable!(bookings -> staff_groups (staff_group_id));
diesel::joinable!(booking_history -> bookings (booking_id));

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
    courses,
    course_sessions,
    course_leads,
    course_priorities,
    course_staff_groups,
    course_phases,
    calendar_feeds,
    bookings,
    booking_history,
    idempotency_keys,
    calendar_generation,
    reference_generation,
    magic_links,
    web_sessions,
    attendance,
    attendance_history,
    evaluation_forms,
    evaluation_questions,
    course_evaluation_forms,
    evaluation_invitations,
    evaluation_tokens,
    evaluation_responses,
    evaluation_answers,
    evaluation_due,
    course_reminder_due,
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

diesel::table! {
    attendance (booking_id, session_id) {
        booking_id -> Text,
        session_id -> Text,
        course_id -> Text,
        status -> Text,
        note -> Nullable<Text>,
        source -> Text,
        recorded_by -> Nullable<Text>,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    attendance_history (id) {
        id -> Text,
        booking_id -> Text,
        session_id -> Text,
        at -> Timestamp,
        actor_id -> Nullable<Text>,
        from_status -> Nullable<Text>,
        to_status -> Text,
        note -> Nullable<Text>,
        source -> Text,
        admin_override -> Bool,
    }
}

diesel::table! {
    evaluation_forms (id) {
        id -> Text,
        family_id -> Text,
        kind -> Text,
        name -> Text,
        description -> Text,
        version -> Integer,
        is_default -> Bool,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    evaluation_questions (id) {
        id -> Text,
        form_id -> Text,
        position -> Integer,
        key -> Text,
        kind -> Text,
        prompt -> Text,
        help -> Nullable<Text>,
        required -> Bool,
        guskey_level -> Integer,
        low_label -> Nullable<Text>,
        high_label -> Nullable<Text>,
        options -> Nullable<Text>,
        metric -> Nullable<Text>,
    }
}

diesel::table! {
    course_evaluation_forms (course_id, kind) {
        course_id -> Text,
        kind -> Text,
        family_id -> Text,
    }
}

diesel::table! {
    evaluation_invitations (id) {
        id -> Text,
        course_id -> Text,
        booking_id -> Text,
        form_id -> Text,
        kind -> Text,
        created_at -> Timestamp,
        send_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        reminders_sent -> Integer,
        last_reminded_at -> Nullable<Timestamp>,
        answered_at -> Nullable<Timestamp>,
        next_reminder_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    evaluation_due (course_id) {
        course_id -> Text,
        due_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    course_reminder_due (booking_id) {
        booking_id -> Text,
        starts_at -> Timestamp,
    }
}

diesel::table! {
    evaluation_tokens (token_hash) {
        token_hash -> Text,
        invitation_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    evaluation_responses (id) {
        id -> Text,
        invitation_id -> Text,
        course_id -> Text,
        booking_id -> Text,
        form_id -> Text,
        kind -> Text,
        school_id -> Nullable<Text>,
        cluster_id -> Nullable<Text>,
        staff_group_id -> Nullable<Text>,
        submitted_at -> Timestamp,
        satisfaction -> Nullable<Integer>,
        impact -> Nullable<Integer>,
        confidence_before -> Nullable<Double>,
        confidence_after -> Nullable<Double>,
        consent_follow_up -> Nullable<Bool>,
        confidence_shift -> Integer,
        confidence_pairs -> Integer,
        guskey1_answers -> Integer,
        guskey2_answers -> Integer,
        guskey3_answers -> Integer,
        guskey4_answers -> Integer,
        guskey5_answers -> Integer,
        course_year -> Nullable<Integer>,
        counted -> Bool,
    }
}

diesel::table! {
    evaluation_answers (response_id, question_id) {
        response_id -> Text,
        question_id -> Text,
        guskey_level -> Integer,
        rating -> Nullable<Integer>,
        before_rating -> Nullable<Integer>,
        after_rating -> Nullable<Integer>,
        choices -> Nullable<Text>,
        text -> Nullable<Text>,
    }
}

diesel::joinable!(attendance -> bookings (booking_id));
diesel::joinable!(attendance -> course_sessions (session_id));
diesel::joinable!(attendance -> courses (course_id));
diesel::joinable!(attendance_history -> bookings (booking_id));
diesel::joinable!(evaluation_questions -> evaluation_forms (form_id));
diesel::joinable!(evaluation_invitations -> bookings (booking_id));
diesel::joinable!(evaluation_invitations -> evaluation_forms (form_id));
diesel::joinable!(evaluation_tokens -> evaluation_invitations (invitation_id));
diesel::joinable!(evaluation_responses -> evaluation_invitations (invitation_id));
diesel::joinable!(evaluation_responses -> bookings (booking_id));
diesel::joinable!(evaluation_answers -> evaluation_responses (response_id));
diesel::joinable!(evaluation_answers -> evaluation_questions (question_id));

diesel::table! {
    digests_sent (term_key) {
        term_key -> Text,
        sent_at -> Timestamp,
        recipients -> Integer,
    }
}

diesel::table! {
    oidc_flows (id) {
        id -> Text,
        state_hash -> Text,
        provider -> Text,
        nonce -> Text,
        pkce_verifier -> Text,
        next -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}
