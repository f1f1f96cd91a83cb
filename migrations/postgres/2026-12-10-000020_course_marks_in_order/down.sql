CREATE OR REPLACE FUNCTION course_responses_counted() RETURNS trigger AS $$
BEGIN
    UPDATE evaluation_responses r
       SET counted = NEW.status = 'published'
                     AND NOT EXISTS (SELECT 1 FROM bookings b
                                      WHERE b.id = r.booking_id AND b.status = 'declined')
     WHERE r.course_id = NEW.id;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION course_responses_year() RETURNS trigger AS $$
BEGIN
    UPDATE evaluation_responses SET course_year = academic_year_of(NEW.first_session_start)
     WHERE course_id = NEW.id;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
