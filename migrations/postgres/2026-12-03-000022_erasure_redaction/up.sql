-- Erasure (UK GDPR) clears the free text written about a person: the reasons in their
-- bookings' history and the notes in their attendance history. Both tables stay append-only
-- for everything else: the one change the triggers allow is replacing that text with the
-- marker '[erased]' once the booking's person is erased, every other column unchanged.
CREATE OR REPLACE FUNCTION booking_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.id = OLD.id AND NEW.booking_id = OLD.booking_id AND NEW.at = OLD.at
       AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
       AND NEW.from_status IS NOT DISTINCT FROM OLD.from_status
       AND NEW.to_status = OLD.to_status
       AND NEW.note IS NOT DISTINCT FROM OLD.note
       AND NEW.reason = '[erased]'
       AND EXISTS (SELECT 1 FROM bookings b JOIN people p ON p.id = b.person_id
                   WHERE b.id = OLD.booking_id AND p.erased_at IS NOT NULL) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'booking_history is append-only';
END;
$$;

CREATE OR REPLACE FUNCTION attendance_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.id = OLD.id AND NEW.booking_id = OLD.booking_id
       AND NEW.session_id = OLD.session_id AND NEW.at = OLD.at
       AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
       AND NEW.from_status IS NOT DISTINCT FROM OLD.from_status
       AND NEW.to_status = OLD.to_status AND NEW.source = OLD.source
       AND NEW.admin_override = OLD.admin_override
       AND NEW.note = '[erased]'
       AND EXISTS (SELECT 1 FROM bookings b JOIN people p ON p.id = b.person_id
                   WHERE b.id = OLD.booking_id AND p.erased_at IS NOT NULL) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'attendance_history is append-only';
END;
$$;
