DROP INDEX audit_log_subject;
DROP INDEX audit_log_actor;
DROP INDEX audit_log_action;
DROP TABLE web_sessions;
DROP TABLE magic_links;
