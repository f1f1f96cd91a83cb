//! The permission rules, in one place. Handlers describe what they are about to do as an
//! [`Action`] and call [`require`]; nothing else in cpd-hub looks at roles.

use crate::domain::booking::BookingScope;
use crate::domain::caller::Caller;
use crate::domain::course::{CourseScope, CourseStatus};
use crate::domain::roles::Role;
use crate::error::AppError;
use crate::reports::metrics::ReportScope;

/// Something a caller wants to do.
#[derive(Debug)]
pub enum Action<'a> {
    /// Read clusters, schools, staff groups, priorities, providers.
    ReadReference,
    /// Create or change reference data, import schools.
    WriteReference,
    /// List people (the list is then narrowed by [`person_scope`]).
    ListPeople,
    /// See one person's record.
    ReadPerson {
        /// The person.
        person_id: &'a str,
        /// Their school.
        school_id: Option<&'a str>,
    },
    /// Create a person in a school (or in none).
    CreatePerson {
        /// The school the new person belongs to.
        school_id: Option<&'a str>,
    },
    /// Change a person's record (name, email, school, staff group).
    EditPerson {
        /// The person.
        person_id: &'a str,
        /// Their school.
        school_id: Option<&'a str>,
    },
    /// Give or take away roles.
    AssignRoles,
    /// Move a person from one school to another (or into or out of a school). Admin only:
    /// a school lead who could move people, themselves included, into another school would
    /// gain that school's records.
    ChangeSchool,
    /// Erase a person (UK GDPR).
    ErasePerson,
    /// Use the admin's people pages (`/admin/people`): find anyone, add, change, export and
    /// erase them. Admin only; school leads manage their own school's people through the API.
    ManagePeople,
    /// Read the audit log.
    ReadAudit,
    /// Export everything held about a person (UK GDPR subject access).
    ExportPerson {
        /// The person.
        person_id: &'a str,
        /// Their school.
        school_id: Option<&'a str>,
    },
    /// Book a place for a person (oneself, or a member of one's own school as its lead).
    Book {
        /// Who gets the place.
        person_id: &'a str,
        /// Their school.
        school_id: Option<&'a str>,
    },
    /// Book past the rules (a closed, full or past course; walk-ins): invariant 11.
    OverrideBooking,
    /// See one booking.
    ReadBooking {
        /// The person booked.
        person_id: &'a str,
        /// Their school when they booked.
        school_id: Option<&'a str>,
        /// The course's leads.
        course_lead_ids: &'a [String],
    },
    /// Cancel a booking.
    CancelBooking {
        /// The person booked.
        person_id: &'a str,
        /// Their school when they booked.
        school_id: Option<&'a str>,
    },
    /// Approve or decline a booking.
    DecideBooking {
        /// The school of the person booked.
        school_id: Option<&'a str>,
    },
    /// List the requests waiting for one's approval.
    ListPendingApprovals,
    /// See one course: a published one is for anyone, signed in or not; a draft or cancelled
    /// one only for admins and the course's leads.
    ReadCourse {
        /// The course's status.
        status: &'a str,
        /// The course's leads.
        lead_ids: &'a [String],
    },
    /// Create, change, publish or cancel courses and their sessions.
    WriteCourse,
    /// Create, rotate or revoke one's own personal calendar feed.
    ManageOwnCalendarFeed,
    /// See the email outbox and retry failed messages.
    ManageOutbox,
    /// Read the operational metrics (`/metrics`) without the scraper token.
    ReadMetrics,
    /// Read the engagement and impact reports of the whole alliance (CPD Working Group,
    /// Networking Group).
    ReadAllianceReports,
    /// Read one school's own engagement report, next to the alliance average.
    ReadSchoolReport {
        /// The school.
        school_id: Option<&'a str>,
    },
    /// See or take a session's register, read its history, add walk-ins: the course's leads
    /// and admins (everyone else gets 404, the CPD group included).
    TakeRegister {
        /// The course's leads.
        lead_ids: &'a [String],
    },
    /// Check oneself in to a session with its code (the booking is checked by the store).
    CheckIn,
    /// See a person's CPD record (courses, attendance, hours, completion): themselves, their
    /// school's lead, admins.
    ReadCpdRecord {
        /// The person.
        person_id: &'a str,
        /// Their school.
        school_id: Option<&'a str>,
    },
    /// Create and change evaluation forms, and choose a course's forms.
    ManageEvaluationForms,
    /// Read a course's evaluation summary (its leads, the CPD group, admins).
    ReadEvaluationSummary {
        /// The course's leads.
        lead_ids: &'a [String],
    },
    /// Read the free-text answers in evaluation summaries (the CPD group and admins; not
    /// course leads, who might recognise a colleague's words).
    ReadEvaluationText,
}

/// Which people a caller may list.
#[derive(Debug, PartialEq, Eq)]
pub enum PersonScope {
    /// Everyone.
    All,
    /// The people of one school.
    School(String),
    /// Only themselves.
    Own(String),
}

/// Whether `caller` may do `action`.
pub fn allows(caller: &Caller, action: &Action<'_>) -> bool {
    if caller.is_admin() {
        return true;
    }
    let own_school_lead = |school_id: Option<&str>| {
        caller.has(Role::SchoolLead)
            && school_id.is_some()
            && school_id == caller.school_id.as_deref()
    };
    match action {
        Action::ReadReference | Action::ListPeople => true,
        Action::WriteReference
        | Action::AssignRoles
        | Action::ChangeSchool
        | Action::ErasePerson
        | Action::ManagePeople
        | Action::ManageOutbox
        | Action::ReadMetrics
        | Action::ReadAudit => false,
        // The CPD Working Group reads everyone's record, as it reads every report.
        Action::ReadPerson {
            person_id,
            school_id,
        } => {
            *person_id == caller.person_id
                || own_school_lead(*school_id)
                || caller.has(Role::CpdGroup)
        }
        Action::CreatePerson { school_id } => own_school_lead(*school_id),
        Action::EditPerson {
            person_id,
            school_id,
        }
        | Action::ExportPerson {
            person_id,
            school_id,
        } => *person_id == caller.person_id || own_school_lead(*school_id),
        Action::Book {
            person_id,
            school_id,
        }
        | Action::CancelBooking {
            person_id,
            school_id,
        } => *person_id == caller.person_id || own_school_lead(*school_id),
        Action::OverrideBooking => false,
        Action::ReadBooking {
            person_id,
            school_id,
            course_lead_ids,
        } => {
            *person_id == caller.person_id
                || own_school_lead(*school_id)
                || course_lead_ids.contains(&caller.person_id)
                || caller.has(Role::CpdGroup)
        }
        Action::DecideBooking { school_id } => own_school_lead(*school_id),
        Action::ListPendingApprovals => caller.has(Role::SchoolLead) && caller.school_id.is_some(),
        Action::ReadCourse { status, lead_ids } => {
            *status == CourseStatus::Published.as_str() || lead_ids.contains(&caller.person_id)
        }
        Action::WriteCourse => false,
        Action::ManageOwnCalendarFeed => true,
        Action::ReadAllianceReports => caller.has(Role::CpdGroup),
        Action::ReadSchoolReport { school_id } => own_school_lead(*school_id),
        Action::TakeRegister { lead_ids } => lead_ids.contains(&caller.person_id),
        Action::CheckIn => true,
        Action::ReadCpdRecord {
            person_id,
            school_id,
        } => *person_id == caller.person_id || own_school_lead(*school_id),
        Action::ManageEvaluationForms => false,
        Action::ReadEvaluationSummary { lead_ids } => {
            lead_ids.contains(&caller.person_id) || caller.has(Role::CpdGroup)
        }
        Action::ReadEvaluationText => caller.has(Role::CpdGroup),
    }
}

/// Whether someone who is not signed in may do `action`: only read what is public.
pub fn allows_anonymous(action: &Action<'_>) -> bool {
    match action {
        Action::ReadCourse { status, .. } => *status == CourseStatus::Published.as_str(),
        _ => false,
    }
}

/// For endpoints anyone may use: allows the action for this caller (or for someone not signed
/// in), or answers 404 so the existence of what they may not see is not revealed.
pub fn require_visible_to(caller: Option<&Caller>, action: Action<'_>) -> Result<(), AppError> {
    let allowed = match caller {
        Some(c) => allows(c, &action),
        None => allows_anonymous(&action),
    };
    if allowed {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

/// Which courses a caller may see in the calendar list and feeds: admins all of them, others
/// published courses and the ones they lead, people not signed in published courses only.
pub fn course_scope(caller: Option<&Caller>) -> CourseScope {
    match caller {
        Some(c) if c.is_admin() => CourseScope::All,
        Some(c) => CourseScope::PublishedOrLedBy(c.person_id.clone()),
        None => CourseScope::Published,
    }
}

/// Allows the action or answers 403 (the caller may know the thing exists).
pub fn require(caller: &Caller, action: Action<'_>) -> Result<(), AppError> {
    if allows(caller, &action) {
        Ok(())
    } else {
        Err(AppError::Forbidden(describe(&action)))
    }
}

/// Allows the action or answers 404, for records whose existence the caller may not learn.
pub fn require_visible(caller: &Caller, action: Action<'_>) -> Result<(), AppError> {
    if allows(caller, &action) {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

/// Which people a caller may list.
pub fn person_scope(caller: &Caller) -> PersonScope {
    if caller.is_admin() || caller.has(Role::CpdGroup) {
        PersonScope::All
    } else if caller.has(Role::SchoolLead) {
        match &caller.school_id {
            Some(s) => PersonScope::School(s.clone()),
            None => PersonScope::Own(caller.person_id.clone()),
        }
    } else {
        PersonScope::Own(caller.person_id.clone())
    }
}

/// Which bookings a caller may list: everything for cpd_group and admins; otherwise their
/// own, their school's (school lead) and those on the courses they lead.
pub fn booking_scope(caller: &Caller) -> BookingScope {
    if caller.is_admin() || caller.has(Role::CpdGroup) {
        BookingScope::All
    } else {
        BookingScope::Limited {
            person_id: caller.person_id.clone(),
            school_id: if caller.has(Role::SchoolLead) {
                caller.school_id.clone()
            } else {
                None
            },
            course_lead_id: Some(caller.person_id.clone()),
        }
    }
}

/// Whose engagement figures a caller may read: the alliance's (cpd_group, admin) or their
/// own school's (a school lead); 403 for anyone else.
pub fn engagement_scope(caller: &Caller) -> Result<ReportScope, AppError> {
    if allows(caller, &Action::ReadAllianceReports) {
        return Ok(ReportScope::All);
    }
    require(
        caller,
        Action::ReadSchoolReport {
            school_id: caller.school_id.as_deref(),
        },
    )?;
    Ok(ReportScope::School(
        caller.school_id.clone().unwrap_or_default(),
    ))
}

/// Whose pending requests a caller sees in their approvals list: every school's for an
/// admin (`None`), their own school's for a school lead; 403 for anyone else.
pub fn pending_scope(caller: &Caller) -> Result<Option<String>, AppError> {
    if caller.is_admin() {
        return Ok(None);
    }
    require(caller, Action::ListPendingApprovals)?;
    Ok(caller.school_id.clone())
}

fn describe(action: &Action<'_>) -> String {
    match action {
        Action::WriteReference => "Only an admin may change reference data.".into(),
        Action::AssignRoles => "Only an admin may give or take away roles.".into(),
        Action::ErasePerson => "Only an admin may erase a person.".into(),
        Action::ManagePeople => "Only an admin may manage people here.".into(),
        Action::ReadAudit => "Only an admin may read the audit log.".into(),
        Action::ChangeSchool => "Only an admin may move a person to another school.".into(),
        Action::EditPerson { .. } => {
            "Only the person, their school's lead or an admin may change this record.".into()
        }
        Action::ManageOutbox => "Only an admin may see or retry queued email.".into(),
        Action::ReadMetrics => {
            "Only an admin, or a scraper with the metrics token, may read the metrics.".into()
        }
        Action::CreatePerson { .. } => {
            "Only an admin, or a school lead for their own school, may add people.".into()
        }
        Action::Book { .. } => {
            "Only the person, their school lead or an admin may book a place for them.".into()
        }
        Action::OverrideBooking => {
            "Only an admin may book past the rules; a course's lead adds walk-ins from its register.".into()
        }
        Action::CancelBooking { .. } => {
            "Only the person, their school lead or an admin may cancel this booking.".into()
        }
        Action::DecideBooking { .. } => {
            "Only the school lead of the person's school, or an admin, may approve or decline."
                .into()
        }
        Action::ListPendingApprovals => {
            "Only school leads and admins have requests to approve.".into()
        }
        Action::WriteCourse => "Only an admin may create or change courses.".into(),
        Action::ReadAllianceReports => {
            "Only the CPD group and admins may read the alliance's reports.".into()
        }
        Action::ReadSchoolReport { .. } => {
            "Only the CPD group, admins and school leads (for their own school) may read \
             engagement reports."
                .into()
        }
        Action::TakeRegister { .. } => {
            "Only the course's leads and admins may see or take its registers.".into()
        }
        Action::ManageEvaluationForms => {
            "Only an admin may create or change evaluation forms.".into()
        }
        _ => "You may not do this.".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(roles: &[Role], school: Option<&str>) -> Caller {
        Caller {
            person_id: "me".into(),
            school_id: school.map(str::to_string),
            roles: roles.to_vec(),
        }
    }

    #[test]
    fn reference_writes_need_admin() {
        assert!(!allows(
            &caller(&[Role::Staff], None),
            &Action::WriteReference
        ));
        assert!(!allows(
            &caller(&[Role::CpdGroup], None),
            &Action::WriteReference
        ));
        assert!(allows(
            &caller(&[Role::Admin], None),
            &Action::WriteReference
        ));
        assert!(allows(
            &caller(&[Role::Staff], None),
            &Action::ReadReference
        ));
    }

    #[test]
    fn school_leads_reach_their_own_school_only() {
        let lead = caller(&[Role::SchoolLead], Some("s1"));
        let other = Action::ReadPerson {
            person_id: "x",
            school_id: Some("s2"),
        };
        let own = Action::ReadPerson {
            person_id: "x",
            school_id: Some("s1"),
        };
        assert!(allows(&lead, &own));
        assert!(!allows(&lead, &other));
        assert!(allows(
            &lead,
            &Action::CreatePerson {
                school_id: Some("s1")
            }
        ));
        assert!(!allows(&lead, &Action::CreatePerson { school_id: None }));
        assert_eq!(person_scope(&lead), PersonScope::School("s1".into()));
    }

    #[test]
    fn staff_see_themselves() {
        let me = caller(&[Role::Staff], Some("s1"));
        assert!(allows(
            &me,
            &Action::ReadPerson {
                person_id: "me",
                school_id: Some("s1")
            }
        ));
        assert!(!allows(
            &me,
            &Action::ReadPerson {
                person_id: "you",
                school_id: Some("s1")
            }
        ));
        assert_eq!(person_scope(&me), PersonScope::Own("me".into()));
        assert!(!allows(&me, &Action::ChangeSchool));
        assert!(!allows(&me, &Action::AssignRoles));
    }

    #[test]
    fn cpd_group_reads_everyone_but_edits_no_one() {
        let group = caller(&[Role::Staff, Role::CpdGroup], Some("s1"));
        let someone = |school| Action::ReadPerson {
            person_id: "x",
            school_id: school,
        };
        assert!(allows(&group, &someone(Some("s2"))));
        assert!(allows(&group, &someone(None)));
        assert!(!allows(
            &group,
            &Action::EditPerson {
                person_id: "x",
                school_id: Some("s2")
            }
        ));
        assert_eq!(person_scope(&group), PersonScope::All);
    }

    #[test]
    fn only_admins_move_people_between_schools() {
        let lead = caller(&[Role::SchoolLead], Some("s1"));
        assert!(!allows(&lead, &Action::ChangeSchool));
        assert!(allows(&caller(&[Role::Admin], None), &Action::ChangeSchool));
    }

    #[test]
    fn exports_reach_self_own_school_lead_and_admin() {
        let export = |person_id, school_id| Action::ExportPerson {
            person_id,
            school_id,
        };
        let me = caller(&[Role::Staff], Some("s1"));
        assert!(allows(&me, &export("me", Some("s1"))));
        assert!(!allows(&me, &export("you", Some("s1"))));
        let lead = caller(&[Role::SchoolLead], Some("s1"));
        assert!(allows(&lead, &export("you", Some("s1"))));
        assert!(!allows(&lead, &export("you", Some("s2"))));
        assert!(!allows(&lead, &export("you", None)));
        assert!(!allows(
            &caller(&[Role::CpdGroup], None),
            &export("you", None)
        ));
        assert!(allows(&caller(&[Role::Admin], None), &export("you", None)));
    }

    #[test]
    fn only_admins_read_the_audit_log() {
        for role in [
            Role::Staff,
            Role::SchoolLead,
            Role::CourseLead,
            Role::CpdGroup,
        ] {
            assert!(!allows(&caller(&[role], Some("s1")), &Action::ReadAudit));
        }
        assert!(allows(&caller(&[Role::Admin], None), &Action::ReadAudit));
    }

    #[test]
    fn only_admins_use_the_people_pages() {
        // A school lead may add and change their own school's people through the API, but the
        // admin's pages reach everyone, so they are for admins only.
        for role in [
            Role::Staff,
            Role::SchoolLead,
            Role::CourseLead,
            Role::CpdGroup,
        ] {
            assert!(!allows(&caller(&[role], Some("s1")), &Action::ManagePeople));
        }
        assert!(allows(&caller(&[Role::Admin], None), &Action::ManagePeople));
    }

    #[test]
    fn bookings_by_self_lead_and_admin() {
        let me = caller(&[Role::Staff], Some("s1"));
        let lead = caller(&[Role::SchoolLead], Some("s1"));
        let admin = caller(&[Role::Admin], None);
        let mine = Action::Book {
            person_id: "me",
            school_id: Some("s1"),
        };
        let colleague = Action::Book {
            person_id: "you",
            school_id: Some("s1"),
        };
        let elsewhere = Action::Book {
            person_id: "you",
            school_id: Some("s2"),
        };
        assert!(allows(&me, &mine));
        assert!(!allows(&me, &colleague));
        assert!(allows(&lead, &colleague));
        assert!(!allows(&lead, &elsewhere));
        assert!(allows(&admin, &elsewhere));
        assert!(!allows(&lead, &Action::OverrideBooking));
        assert!(allows(&admin, &Action::OverrideBooking));
        assert!(allows(
            &lead,
            &Action::DecideBooking {
                school_id: Some("s1")
            }
        ));
        assert!(!allows(
            &lead,
            &Action::DecideBooking {
                school_id: Some("s2")
            }
        ));
        assert!(!allows(
            &me,
            &Action::DecideBooking {
                school_id: Some("s1")
            }
        ));
        let leads = vec!["cl".to_string()];
        let read = Action::ReadBooking {
            person_id: "you",
            school_id: Some("s2"),
            course_lead_ids: &leads,
        };
        let mut course_lead = caller(&[Role::CourseLead], None);
        course_lead.person_id = "cl".into();
        assert!(allows(&course_lead, &read));
        assert!(!allows(&me, &read));
        assert!(allows(&caller(&[Role::CpdGroup], None), &read));
        assert_eq!(booking_scope(&admin), BookingScope::All);
        assert_eq!(
            booking_scope(&lead),
            BookingScope::Limited {
                person_id: "me".into(),
                school_id: Some("s1".into()),
                course_lead_id: Some("me".into()),
            }
        );
        assert_eq!(
            booking_scope(&me),
            BookingScope::Limited {
                person_id: "me".into(),
                school_id: None,
                course_lead_id: Some("me".into()),
            }
        );
        assert_eq!(pending_scope(&lead).unwrap(), Some("s1".into()));
        assert_eq!(pending_scope(&admin).unwrap(), None);
        assert!(pending_scope(&me).is_err());
    }

    #[test]
    fn evaluation_summaries_for_leads_cpd_group_and_admins_text_not_for_leads() {
        let leads = vec!["lead".to_string()];
        let read = Action::ReadEvaluationSummary { lead_ids: &leads };
        let mut lead = caller(&[Role::CourseLead], None);
        lead.person_id = "lead".into();
        assert!(allows(&lead, &read));
        assert!(!allows(&lead, &Action::ReadEvaluationText));
        assert!(!allows(&caller(&[Role::CourseLead], None), &read));
        assert!(!allows(&caller(&[Role::SchoolLead], Some("s1")), &read));
        let group = caller(&[Role::CpdGroup], None);
        assert!(allows(&group, &read) && allows(&group, &Action::ReadEvaluationText));
        let admin = caller(&[Role::Admin], None);
        assert!(allows(&admin, &read) && allows(&admin, &Action::ManageEvaluationForms));
        assert!(!allows(&group, &Action::ManageEvaluationForms));
    }

    #[test]
    fn courses_published_for_all_drafts_for_leads_and_admins() {
        let leads = vec!["lead".to_string()];
        let draft = Action::ReadCourse {
            status: "draft",
            lead_ids: &leads,
        };
        let published = Action::ReadCourse {
            status: "published",
            lead_ids: &leads,
        };
        let mut lead = caller(&[Role::Staff], None);
        lead.person_id = "lead".into();
        assert!(allows(&lead, &draft));
        assert!(!allows(
            &caller(&[Role::Staff, Role::CourseLead], None),
            &draft
        ));
        assert!(allows(&caller(&[Role::Admin], None), &draft));
        assert!(allows(&caller(&[Role::Staff], None), &published));
        assert!(allows_anonymous(&published));
        assert!(!allows_anonymous(&draft));
        assert!(!allows(&lead, &Action::WriteCourse));
        assert!(matches!(
            require_visible_to(
                None,
                Action::ReadCourse {
                    status: "cancelled",
                    lead_ids: &leads
                }
            ),
            Err(AppError::NotFound)
        ));
        assert_eq!(course_scope(None), CourseScope::Published);
        assert_eq!(
            course_scope(Some(&caller(&[Role::Admin], None))),
            CourseScope::All
        );
        assert_eq!(
            course_scope(Some(&lead)),
            CourseScope::PublishedOrLedBy("lead".into())
        );
    }

    #[test]
    fn reports_for_the_cpd_group_admins_and_own_school_leads() {
        let group = caller(&[Role::CpdGroup], Some("s1"));
        let admin = caller(&[Role::Admin], None);
        let lead = caller(&[Role::SchoolLead], Some("s1"));
        let homeless_lead = caller(&[Role::SchoolLead], None);
        let staff = caller(&[Role::Staff], Some("s1"));
        let course_lead = caller(&[Role::CourseLead], Some("s1"));
        assert_eq!(engagement_scope(&group).unwrap(), ReportScope::All);
        assert_eq!(engagement_scope(&admin).unwrap(), ReportScope::All);
        assert_eq!(
            engagement_scope(&lead).unwrap(),
            ReportScope::School("s1".into())
        );
        for c in [&homeless_lead, &staff, &course_lead] {
            assert!(matches!(engagement_scope(c), Err(AppError::Forbidden(_))));
        }
        assert!(allows(&group, &Action::ReadAllianceReports));
        assert!(allows(&admin, &Action::ReadAllianceReports));
        assert!(!allows(&lead, &Action::ReadAllianceReports));
        assert!(!allows(&course_lead, &Action::ReadAllianceReports));
    }

    #[test]
    fn registers_for_the_course_leads_and_admins_only() {
        let leads = vec!["lead".to_string()];
        let take = Action::TakeRegister { lead_ids: &leads };
        let mut lead = caller(&[Role::Staff], None);
        lead.person_id = "lead".into();
        assert!(allows(&lead, &take));
        for roles in [
            vec![Role::Staff],
            vec![Role::CourseLead],
            vec![Role::SchoolLead],
            vec![Role::CpdGroup],
        ] {
            assert!(!allows(&caller(&roles, Some("s1")), &take));
        }
        assert!(allows(&caller(&[Role::Admin], None), &take));
        assert!(allows(&caller(&[Role::Staff], None), &Action::CheckIn));
    }

    #[test]
    fn cpd_records_for_self_own_school_lead_and_admin() {
        let record = |person_id, school_id| Action::ReadCpdRecord {
            person_id,
            school_id,
        };
        assert!(allows(&caller(&[Role::Staff], None), &record("me", None)));
        assert!(!allows(
            &caller(&[Role::Staff], Some("s1")),
            &record("you", Some("s1"))
        ));
        let lead = caller(&[Role::SchoolLead], Some("s1"));
        assert!(allows(&lead, &record("you", Some("s1"))));
        assert!(!allows(&lead, &record("you", Some("s2"))));
        assert!(!allows(
            &caller(&[Role::CpdGroup], None),
            &record("you", Some("s1"))
        ));
        assert!(allows(&caller(&[Role::Admin], None), &record("you", None)));
    }
}
