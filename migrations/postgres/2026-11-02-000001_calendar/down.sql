DROP TABLE calendar_feeds;
DROP TABLE course_phases;
DROP TABLE course_staff_groups;
DROP TABLE course_priorities;
DROP TABLE course_leads;
DROP TABLE course_sessions;
DROP TABLE courses;
