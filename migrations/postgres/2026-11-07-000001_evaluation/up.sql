-- Evaluation on Guskey's five levels: versioned form templates, invitations with their
-- single-use tokens, and answers kept against the booking (for aggregation by school,
-- cluster, staff group and course) but never shown with who gave them. Times are naive UTC.

-- One row per version of a form. Editing a form that has been answered makes a new version
-- with the same family_id; answers keep the version they answered.
CREATE TABLE evaluation_forms (
    id          TEXT PRIMARY KEY NOT NULL,
    family_id   TEXT NOT NULL,
    -- post_course | follow_up
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    version     INTEGER NOT NULL,
    -- The family courses use when they choose none (one per kind).
    is_default  BOOLEAN NOT NULL DEFAULT FALSE,
    created_by  TEXT REFERENCES people(id),
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (family_id, version)
);
CREATE INDEX evaluation_forms_kind ON evaluation_forms(kind, is_default);

CREATE TABLE evaluation_questions (
    id           TEXT PRIMARY KEY NOT NULL,
    form_id      TEXT NOT NULL REFERENCES evaluation_forms(id),
    position     INTEGER NOT NULL,
    -- Stable within a family across versions, e.g. `overall`.
    key          TEXT NOT NULL,
    -- rating | single_choice | multiple_choice | free_text | retrospective
    kind         TEXT NOT NULL,
    prompt       TEXT NOT NULL,
    help         TEXT,
    required     BOOLEAN NOT NULL DEFAULT FALSE,
    -- 1 reactions, 2 learning, 3 organisational support, 4 use of new knowledge and skills,
    -- 5 pupil outcomes.
    guskey_level INTEGER NOT NULL,
    low_label    TEXT,
    high_label   TEXT,
    -- JSON array of {"value", "label"} for choice questions.
    options      TEXT,
    -- What the reports read from this question, if anything: satisfaction (overall rating),
    -- impact (used in practice), confidence (retrospective pair), consent (follow-up consent).
    metric       TEXT,
    UNIQUE (form_id, key)
);
CREATE INDEX evaluation_questions_form ON evaluation_questions(form_id, position);

-- A course's choice of form family per kind; without a row the default applies.
CREATE TABLE course_evaluation_forms (
    course_id TEXT NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    kind      TEXT NOT NULL,
    family_id TEXT NOT NULL,
    PRIMARY KEY (course_id, kind)
);

-- One invitation per booking and kind of form: nobody is invited twice.
CREATE TABLE evaluation_invitations (
    id              TEXT PRIMARY KEY NOT NULL,
    course_id       TEXT NOT NULL REFERENCES courses(id),
    booking_id      TEXT NOT NULL REFERENCES bookings(id),
    form_id         TEXT NOT NULL REFERENCES evaluation_forms(id),
    kind            TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    -- When the invitation is due to be emailed (follow-ups are scheduled weeks ahead).
    send_at         TIMESTAMP NOT NULL,
    sent_at         TIMESTAMP,
    reminders_sent  INTEGER NOT NULL DEFAULT 0,
    last_reminded_at TIMESTAMP,
    answered_at     TIMESTAMP,
    UNIQUE (booking_id, kind)
);
CREATE INDEX evaluation_invitations_course ON evaluation_invitations(course_id, kind);
CREATE INDEX evaluation_invitations_due ON evaluation_invitations(sent_at, send_at);
CREATE INDEX evaluation_invitations_open ON evaluation_invitations(answered_at, sent_at);

-- Tokens for an invitation's link, stored as SHA-256 hex. A reminder may carry a fresh token;
-- every token of an invitation stops working once it is answered.
CREATE TABLE evaluation_tokens (
    token_hash    TEXT PRIMARY KEY NOT NULL,
    invitation_id TEXT NOT NULL REFERENCES evaluation_invitations(id),
    created_at    TIMESTAMP NOT NULL,
    expires_at    TIMESTAMP NOT NULL
);
CREATE INDEX evaluation_tokens_invitation ON evaluation_tokens(invitation_id);

-- One response per invitation. School, cluster and staff group are snapshotted from the
-- booking so erasing a person changes no report. The headline figures are kept on the row
-- so reports need not read every answer.
CREATE TABLE evaluation_responses (
    id                TEXT PRIMARY KEY NOT NULL,
    invitation_id     TEXT NOT NULL UNIQUE REFERENCES evaluation_invitations(id),
    course_id         TEXT NOT NULL REFERENCES courses(id),
    booking_id        TEXT NOT NULL REFERENCES bookings(id),
    form_id           TEXT NOT NULL REFERENCES evaluation_forms(id),
    kind              TEXT NOT NULL,
    school_id         TEXT REFERENCES schools(id),
    cluster_id        TEXT REFERENCES clusters(id),
    staff_group_id    TEXT REFERENCES staff_groups(id),
    submitted_at      TIMESTAMP NOT NULL,
    -- The answer to the question with metric `satisfaction` (post-course overall, 1-5).
    satisfaction      INTEGER,
    -- The answer to the question with metric `impact` (follow-up "used in practice", 1-5).
    impact            INTEGER,
    -- Means over the response's retrospective (metric `confidence`) pairs.
    confidence_before DOUBLE PRECISION,
    confidence_after  DOUBLE PRECISION,
    consent_follow_up BOOLEAN
);
CREATE INDEX evaluation_responses_course ON evaluation_responses(course_id, kind);
CREATE INDEX evaluation_responses_school ON evaluation_responses(school_id, kind);

CREATE TABLE evaluation_answers (
    response_id   TEXT NOT NULL REFERENCES evaluation_responses(id),
    question_id   TEXT NOT NULL REFERENCES evaluation_questions(id),
    guskey_level  INTEGER NOT NULL,
    rating        INTEGER,
    before_rating INTEGER,
    after_rating  INTEGER,
    -- JSON array of chosen option values (one for single choice).
    choices       TEXT,
    -- Free text; cleared when the person is erased.
    text          TEXT,
    PRIMARY KEY (response_id, question_id)
);
CREATE INDEX evaluation_answers_question ON evaluation_answers(question_id);
